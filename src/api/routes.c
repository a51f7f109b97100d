/* routes.c — the route table. Writes are CO_ROUTE_BLOCKING: they wait for a commit, and
 * name their audit action (core/audit.h): every successful write appends an audit record.
 * CO_ROUTE_JSON_BODY: the body is parsed before the handler is queued. CO_ROUTE_WORKER:
 * a write with an outside effect after its commit (POST …/run hands a webhook on), or one
 * too big for the writer thread to parse (an org template). CO_ROUTE_LARGE_BODY: the body
 * may be up to --max-import-body. */
#include "api.h"

#define B CO_ROUTE_BLOCKING
#define J CO_ROUTE_JSON_BODY
#define W CO_ROUTE_WORKER
#define L CO_ROUTE_LARGE_BODY

const co_route co_api_routes[] = {
	{"GET", "/health", api_health, 0, NULL},

	{"POST", "/workspaces", api_ws_create, B | J, "workspace.create"},
	{"GET", "/workspaces", api_ws_list, 0, NULL},
	{"GET", "/workspaces/:id", api_ws_get, 0, NULL},
	{"PATCH", "/workspaces/:id", api_ws_patch, B | J, "workspace.update"},
	{"DELETE", "/workspaces/:id", api_ws_delete, B, "workspace.delete"},

	{"GET", "/workspaces/:id/memory", api_mem_list, 0, NULL},
	{"POST", "/workspaces/:id/memory", api_mem_put, B | J, "memory.put"},
	{"GET", "/workspaces/:id/memory/:key", api_mem_get, 0, NULL},
	{"DELETE", "/workspaces/:id/memory/:key", api_mem_delete, B, "memory.delete"},

	{"GET", "/workspaces/:id/schedules", api_sched_list, 0, NULL},
	{"POST", "/workspaces/:id/schedules", api_sched_create, B | J, "schedule.create"},
	{"GET", "/workspaces/:id/schedules/:sid", api_sched_get, 0, NULL},
	{"PATCH", "/workspaces/:id/schedules/:sid", api_sched_patch, B | J, "schedule.update"},
	{"DELETE", "/workspaces/:id/schedules/:sid", api_sched_delete, B, "schedule.delete"},
	{"POST", "/workspaces/:id/schedules/:sid/run", api_sched_run, B | W, "schedule.run"},
	{"GET", "/workspaces/:id/schedules/:sid/history", api_sched_history, 0, NULL},

	{"GET", "/workspaces/:id/inbox", api_inbox_list, 0, NULL},
	{"POST", "/workspaces/:id/inbox", api_inbox_enqueue, B | J, "inbox.enqueue"},
	{"POST", "/workspaces/:id/inbox/claim", api_inbox_claim, B, "inbox.claim"},
	{"GET", "/workspaces/:id/inbox/:mid", api_inbox_get, 0, NULL},
	{"POST", "/workspaces/:id/inbox/:mid/ack", api_inbox_ack, B | J, "inbox.ack"},

	{"POST", "/org/import", api_org_import, B | W | L, "org.import"},

	{"POST", "/workspaces/:id/skills/:name/versions", api_skill_append, B | J, "skill.append"},
	{"GET", "/workspaces/:id/skills", api_skill_list, 0, NULL},
	{"GET", "/workspaces/:id/skills/:name/versions", api_skill_versions, 0, NULL},
	{"GET", "/workspaces/:id/skills/:name/versions/:seq", api_skill_get, 0, NULL},

	{"POST", "/workspaces/:id/usage", api_usage_add, B | J, "usage.add"},
	{"GET", "/workspaces/:id/budget", api_budget_get, 0, NULL},
	{"PATCH", "/workspaces/:id/budget", api_budget_patch, B | J, "budget.update"},

	{"GET", "/audit", api_audit_list, W, NULL},
	{"GET", "/audit/verify", api_audit_verify, W, NULL},

	{NULL, NULL, NULL, 0, NULL},
};
