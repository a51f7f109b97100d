/*
 * workspace.h — the workspace type (SPEC §2): fields, statuses, JSON shapes.
 *
 * DESIGN NOTES
 *  1. A workspace is a node of the org tree. parent_id NULL (has_parent false) is a root.
 *  2. Statuses: provisioning, online, offline, degraded, failed, paused, hibernated,
 *     removed. `removed` is a terminal tombstone: only DELETE sets it, and nothing moves a
 *     workspace out of it (the store enforces this under its write lock).
 *  3. Strings are heap-owned by the struct; co_workspace_clear() frees them. Optional
 *     strings are NULL when absent; optional integers carry a has_ flag.
 *  4. co_ws_parse_create/patch read a jansson object: unknown fields are ignored, wrong
 *     types are CO_EINVAL with the field named (SPEC §1).
 */
#ifndef COLONY_CORE_WORKSPACE_H
#define COLONY_CORE_WORKSPACE_H

#include "buf.h"
#include "clock.h"
#include "id.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
	CO_WS_PROVISIONING,
	CO_WS_ONLINE,
	CO_WS_OFFLINE,
	CO_WS_DEGRADED,
	CO_WS_FAILED,
	CO_WS_PAUSED,
	CO_WS_HIBERNATED,
	CO_WS_REMOVED,
	CO_WS_STATUS_COUNT
} co_ws_status;

#define CO_TIER_MAX 1000000
#define CO_MAX_TASKS_MAX 1000000

typedef struct {
	co_id id;
	bool has_parent;
	co_id parent_id;
	char *name;
	char *role;    /* NULL if unset */
	char *runtime; /* NULL if unset */
	char *url;     /* NULL if unset */
	bool has_tier;
	int64_t tier;
	bool has_max_tasks;
	int64_t max_concurrent_tasks;
	co_ws_status status;
	co_usec_t created_at;
	co_usec_t updated_at;
	co_usec_t removed_at; /* 0 unless removed */
} co_workspace;

/* Which fields a PATCH names (bits of co_ws_patch.fields). */
enum {
	CO_WSF_NAME = 1 << 0,
	CO_WSF_ROLE = 1 << 1,
	CO_WSF_PARENT = 1 << 2,
	CO_WSF_RUNTIME = 1 << 3,
	CO_WSF_TIER = 1 << 4,
	CO_WSF_URL = 1 << 5,
	CO_WSF_MAX_TASKS = 1 << 6,
	CO_WSF_STATUS = 1 << 7,
};

typedef struct {
	unsigned fields; /* CO_WSF_* bits: which members of v are to be written */
	co_workspace v;  /* the new values; NULL/has_ false means "set to null" */
} co_ws_patch;

typedef struct {
	co_workspace *items;
	size_t n;
} co_ws_list;

typedef struct {
	bool by_parent;      /* filter on parent */
	bool parent_is_null; /* with by_parent: roots only */
	co_id parent_id;
	bool by_status;
	co_ws_status status;
	bool include_removed;
	bool has_after;
	co_id after; /* page: ids strictly greater than this */
	int limit;
} co_ws_filter;

const char *co_ws_status_name(co_ws_status s);
/* Returns CO_OK with *out set, or CO_EINVAL naming the allowed values. */
int co_ws_status_parse(const char *s, co_ws_status *out);

void co_workspace_clear(co_workspace *w);
void co_ws_patch_clear(co_ws_patch *p);
void co_ws_list_clear(co_ws_list *l);

/* Reads a create body {name, role?, parent_id?, runtime?, tier?, url?,
 * max_concurrent_tasks?, status?} into *out (id and times left zero). On error *out
 * is cleared and CO_EINVAL returned with the field named. */
int co_ws_parse_create(json_t *body, co_workspace *out);

/* Reads a PATCH body into *out. An empty patch is valid (a no-op). `status: removed`
 * is refused: removal is DELETE's job. */
int co_ws_parse_patch(json_t *body, co_ws_patch *out);

/* Applies the fields a patch names to w (strings copied; w keeps owning its own). The
 * parent is copied too; checking that the move is allowed is the store's job. Returns
 * CO_OK or CO_ENOMEM (w is then partly updated and must just be cleared). */
int co_ws_apply_patch(co_workspace *w, const co_ws_patch *p);

/* Appends the workspace as a JSON object. */
void co_ws_to_json(const co_workspace *w, co_buf *b);

#endif
