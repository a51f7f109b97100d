/*
 * api.h — the route table: every endpoint colonyd serves, one handler each.
 * Handlers live one file per resource (workspaces.c, memory.c, schedules.c, inbox.c,
 * org.c, skills.c, budget.c, audit.c, tokens.c, secrets.c, health.c).
 */
#ifndef COLONY_API_H
#define COLONY_API_H

#include "../http/http.h"

extern const co_route co_api_routes[];

void api_health(co_http_req *r);

void api_ws_create(co_http_req *r);
void api_ws_list(co_http_req *r);
void api_ws_get(co_http_req *r);
void api_ws_patch(co_http_req *r);
void api_ws_delete(co_http_req *r);

void api_mem_list(co_http_req *r);
void api_mem_get(co_http_req *r);
void api_mem_put(co_http_req *r);
void api_mem_delete(co_http_req *r);

void api_sched_create(co_http_req *r);
void api_sched_list(co_http_req *r);
void api_sched_get(co_http_req *r);
void api_sched_patch(co_http_req *r);
void api_sched_delete(co_http_req *r);
void api_sched_run(co_http_req *r);
void api_sched_history(co_http_req *r);

void api_inbox_enqueue(co_http_req *r);
void api_inbox_list(co_http_req *r);
void api_inbox_get(co_http_req *r);
void api_inbox_claim(co_http_req *r);
void api_inbox_ack(co_http_req *r);

void api_org_import(co_http_req *r);

void api_skill_append(co_http_req *r);
void api_skill_list(co_http_req *r);
void api_skill_versions(co_http_req *r);
void api_skill_get(co_http_req *r);

void api_usage_add(co_http_req *r);
void api_budget_get(co_http_req *r);
void api_budget_patch(co_http_req *r);

void api_audit_list(co_http_req *r);
void api_audit_verify(co_http_req *r);

void api_token_create(co_http_req *r);
void api_token_list(co_http_req *r);
void api_token_revoke(co_http_req *r);

void api_secret_put_global(co_http_req *r);
void api_secret_list_global(co_http_req *r);
void api_secret_delete_global(co_http_req *r);
void api_secret_put(co_http_req *r);
void api_secret_list(co_http_req *r);
void api_secret_get(co_http_req *r);
void api_secret_delete(co_http_req *r);
void api_secret_values(co_http_req *r);

#endif
