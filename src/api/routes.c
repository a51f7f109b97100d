/* routes.c — the route table. Each route names who may call it (A_*, below).
 * Writes are CO_ROUTE_BLOCKING: they wait for a commit, and name their audit action
 * (core/audit.h): every successful write appends an audit record.
 * CO_ROUTE_JSON_BODY: the body is parsed before the handler is queued. CO_ROUTE_WORKER:
 * a write with an outside effect after its commit (POST …/run hands a webhook on), or one
 * too big for the writer thread to parse (an org template). CO_ROUTE_LARGE_BODY: the body
 * may be up to --max-import-body. */
#include "api.h"

#define B CO_ROUTE_BLOCKING
#define J CO_ROUTE_JSON_BODY
#define W CO_ROUTE_WORKER
#define L CO_ROUTE_LARGE_BODY
#define S CO_ROUTE_SECRET_BODY /* the body carries a secret: no digest in the audit detail */
/* Who may call (http.h note 5): admin only, anyone, or a token whose workspace T stands
 * in this relation to :id — own (T), related (T, sibling, ancestor, descendant), subtree
 * (T or below), below (strictly below: a manager acting on its reports) — or any token,
 * the handler deciding. */
#define A_ADMIN CO_ACCESS_ADMIN
#define A_PUBLIC CO_ACCESS_PUBLIC
#define A_OWN CO_ACCESS_OWN
#define A_RELATED CO_ACCESS_RELATED
#define A_SUBTREE CO_ACCESS_SUBTREE
#define A_BELOW CO_ACCESS_BELOW
#define A_ANY_TOKEN CO_ACCESS_ANY_TOKEN

const co_route co_api_routes[] = {
	{"GET", "/health", api_health, 0, NULL, A_PUBLIC},

	{"POST", "/workspaces", api_ws_create, B | J, "workspace.create", A_ANY_TOKEN},
	{"GET", "/workspaces", api_ws_list, 0, NULL, A_ANY_TOKEN},
	{"GET", "/workspaces/:id", api_ws_get, 0, NULL, A_RELATED},
	{"PATCH", "/workspaces/:id", api_ws_patch, B | J, "workspace.update", A_SUBTREE},
	{"DELETE", "/workspaces/:id", api_ws_delete, B, "workspace.delete", A_BELOW},

	{"GET", "/workspaces/:id/memory", api_mem_list, 0, NULL, A_OWN},
	{"POST", "/workspaces/:id/memory", api_mem_put, B | J, "memory.put", A_OWN},
	{"GET", "/workspaces/:id/memory/:key", api_mem_get, 0, NULL, A_OWN},
	{"DELETE", "/workspaces/:id/memory/:key", api_mem_delete, B, "memory.delete", A_OWN},

	{"GET", "/workspaces/:id/schedules", api_sched_list, 0, NULL, A_OWN},
	{"POST", "/workspaces/:id/schedules", api_sched_create, B | J, "schedule.create", A_OWN},
	{"GET", "/workspaces/:id/schedules/:sid", api_sched_get, 0, NULL, A_OWN},
	{"PATCH", "/workspaces/:id/schedules/:sid", api_sched_patch, B | J, "schedule.update", A_OWN},
	{"DELETE", "/workspaces/:id/schedules/:sid", api_sched_delete, B, "schedule.delete", A_OWN},
	{"POST", "/workspaces/:id/schedules/:sid/run", api_sched_run, B | W, "schedule.run", A_OWN},
	{"GET", "/workspaces/:id/schedules/:sid/history", api_sched_history, 0, NULL, A_OWN},

	{"GET", "/workspaces/:id/inbox", api_inbox_list, 0, NULL, A_OWN},
	{"POST", "/workspaces/:id/inbox", api_inbox_enqueue, B | J, "inbox.enqueue", A_RELATED},
	{"POST", "/workspaces/:id/inbox/claim", api_inbox_claim, B, "inbox.claim", A_OWN},
	{"GET", "/workspaces/:id/inbox/:mid", api_inbox_get, 0, NULL, A_OWN},
	{"POST", "/workspaces/:id/inbox/:mid/ack", api_inbox_ack, B | J, "inbox.ack", A_OWN},

	{"POST", "/org/import", api_org_import, B | W | L, "org.import", A_ADMIN},

	{"POST", "/workspaces/:id/skills/:name/versions", api_skill_append, B | J, "skill.append", A_OWN},
	{"GET", "/workspaces/:id/skills", api_skill_list, 0, NULL, A_OWN},
	{"GET", "/workspaces/:id/skills/:name/versions", api_skill_versions, 0, NULL, A_OWN},
	{"GET", "/workspaces/:id/skills/:name/versions/:seq", api_skill_get, 0, NULL, A_OWN},

	{"POST", "/workspaces/:id/usage", api_usage_add, B | J, "usage.add", A_OWN},
	{"GET", "/workspaces/:id/budget", api_budget_get, 0, NULL, A_SUBTREE},
	{"PATCH", "/workspaces/:id/budget", api_budget_patch, B | J, "budget.update", A_BELOW},

	{"GET", "/audit", api_audit_list, W, NULL, A_ADMIN},
	{"GET", "/audit/verify", api_audit_verify, W, NULL, A_ADMIN},

	{"POST", "/workspaces/:id/tokens", api_token_create, B, "token.create", A_ADMIN},
	{"GET", "/workspaces/:id/tokens", api_token_list, 0, NULL, A_SUBTREE},
	{"DELETE", "/workspaces/:id/tokens/:tid", api_token_revoke, B, "token.revoke", A_SUBTREE},

	{"POST", "/settings/secrets", api_secret_put_global, B | J | S, "secret.put", A_ADMIN},
	{"GET", "/settings/secrets", api_secret_list_global, 0, NULL, A_ADMIN},
	{"DELETE", "/settings/secrets/:name", api_secret_delete_global, B, "secret.delete", A_ADMIN},
	{"POST", "/workspaces/:id/secrets", api_secret_put, B | J | S, "secret.put", A_OWN},
	{"GET", "/workspaces/:id/secrets", api_secret_list, 0, NULL, A_OWN},
	{"GET", "/workspaces/:id/secrets/:name", api_secret_get, 0, NULL, A_OWN},
	{"DELETE", "/workspaces/:id/secrets/:name", api_secret_delete, B, "secret.delete", A_OWN},
	{"GET", "/workspaces/:id/secret-values", api_secret_values, 0, NULL, A_OWN},

	{NULL, NULL, NULL, 0, NULL, 0},
};
