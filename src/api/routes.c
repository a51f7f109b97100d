/* routes.c — the route table. Writes are CO_ROUTE_BLOCKING: they wait for a commit.
 * CO_ROUTE_JSON_BODY: the body is parsed before the handler is queued. */
#include "api.h"

#define B CO_ROUTE_BLOCKING
#define J CO_ROUTE_JSON_BODY

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

	{NULL, NULL, NULL, 0},
};
