/* routes.c — the route table. Writes are CO_ROUTE_BLOCKING: they wait for a commit.
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
	{"GET", "/health", api_health, 0},

	{"POST", "/workspaces", api_ws_create, B | J},
	{"GET", "/workspaces", api_ws_list, 0},
	{"GET", "/workspaces/:id", api_ws_get, 0},
	{"PATCH", "/workspaces/:id", api_ws_patch, B | J},
	{"DELETE", "/workspaces/:id", api_ws_delete, B},

	{"GET", "/workspaces/:id/memory", api_mem_list, 0},
	{"POST", "/workspaces/:id/memory", api_mem_put, B | J},
	{"GET", "/workspaces/:id/memory/:key", api_mem_get, 0},
	{"DELETE", "/workspaces/:id/memory/:key", api_mem_delete, B},

	{"GET", "/workspaces/:id/schedules", api_sched_list, 0},
	{"POST", "/workspaces/:id/schedules", api_sched_create, B | J},
	{"GET", "/workspaces/:id/schedules/:sid", api_sched_get, 0},
	{"PATCH", "/workspaces/:id/schedules/:sid", api_sched_patch, B | J},
	{"DELETE", "/workspaces/:id/schedules/:sid", api_sched_delete, B},
	{"POST", "/workspaces/:id/schedules/:sid/run", api_sched_run, B | W},
	{"GET", "/workspaces/:id/schedules/:sid/history", api_sched_history, 0},

	{"GET", "/workspaces/:id/inbox", api_inbox_list, 0},
	{"POST", "/workspaces/:id/inbox", api_inbox_enqueue, B | J},
	{"POST", "/workspaces/:id/inbox/claim", api_inbox_claim, B},
	{"GET", "/workspaces/:id/inbox/:mid", api_inbox_get, 0},
	{"POST", "/workspaces/:id/inbox/:mid/ack", api_inbox_ack, B | J},

	{"POST", "/org/import", api_org_import, B | W | L},

	{NULL, NULL, NULL, 0},
};
