/*
 * org.h — org templates (SPEC §4): a template read into an import plan, the rule for
 * template-owned schedules, and the import's answer.
 *
 * DESIGN NOTES
 *  1. Two steps. co_org_parse() reads and validates the WHOLE template into a plan before
 *     any storage is touched, so a bad node anywhere fails the import with nothing written
 *     and the store never sees invalid input. The store then applies the plan in one
 *     transaction (store.h org_import).
 *  2. The template: {name, defaults?, workspaces:[node…]} where a node is {name, role?,
 *     runtime?, tier?, url?, max_concurrent_tasks?, schedules:[{name, cron_expr, timezone?,
 *     prompt, enabled?}], initial_memories:[{key, value, ttl_seconds?}], children:[node…]}.
 *     The body may be the template itself or {template:{…}, parent_id?}. `defaults` may
 *     set role, runtime, tier, url, max_concurrent_tasks (for every node that does not set
 *     them) and timezone (for every schedule that does not). Unknown fields are ignored;
 *     each known field is validated exactly as the workspace, schedule and memory APIs do.
 *  3. Paths. A node's path is the org name and the node names from the top, joined by "/":
 *     "Acme/Engineering/Dev Lead". Where a node has no usable name its place among its
 *     siblings stands in: "Acme/Engineering/[3]" (0-based). Errors name the path.
 *  4. Limits: at most CO_ORG_MAX_NODES nodes and CO_ORG_MAX_DEPTH levels (top-level nodes
 *     are level 1). Sibling names are unique (as the database requires of live siblings);
 *     schedule names and memory keys are unique within their node.
 *  5. The plan's nodes are in pre-order: a parent always comes before its children, so a
 *     store can walk the array once, or level by level (node.depth).
 *  6. Everything is heap-owned by the plan / result; the *_clear functions free it.
 */
#ifndef COLONY_CORE_ORG_H
#define COLONY_CORE_ORG_H

#include "buf.h"
#include "clock.h"
#include "id.h"
#include "schedule.h"
#include "workspace.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CO_ORG_MAX_NODES 10000
#define CO_ORG_MAX_DEPTH 32
/* Values (scalars and collections) an import body may hold, checked on the text before
 * any tree is built: a 10,000-node template with a schedule and a memory per node has
 * about 150,000; without a cap a 32 MiB body of empty objects ({},{},…) costs gigabytes. */
#define CO_ORG_MAX_VALUES 1000000
/* Nesting allowed in an import body: two levels per tree level, the wrapper, and memory
 * values (themselves held to CO_JSON_DEPTH_MAX - 1, as the memory API holds them). */
#define CO_ORG_JSON_DEPTH_MAX (2 * CO_ORG_MAX_DEPTH + 8 + 64)

typedef struct {
	char *key;
	char *value_json;    /* compact JSON text */
	int64_t ttl_seconds; /* 0: none */
} co_org_memory;

typedef struct {
	int parent; /* index in plan->nodes of the parent node; -1 for a top-level node */
	int depth;  /* 1 for top-level nodes */
	char *path; /* note 3 */
	/* The workspace to create if none is there: name and fields (defaults applied),
	 * status provisioning, has_parent false (the store sets the parent). */
	co_workspace ws;
	/* Template schedules: source template, next_run_at computed from plan->now. */
	co_schedule *schedules;
	size_t nschedules;
	co_org_memory *memories;
	size_t nmemories;
} co_org_node;

typedef struct {
	char *org;         /* the template's name */
	bool has_parent;   /* graft under parent_id (from the body; the caller may set it) */
	co_id parent_id;
	co_usec_t now;     /* the time the plan was made: next_run_at of new schedules */
	co_org_node *nodes; /* pre-order (note 5) */
	size_t n;
	size_t nschedules; /* totals over all nodes */
	size_t nmemories;
	int max_depth;
} co_org_plan;

/* Why a template was refused: the message is co_err_msg(). */
typedef struct {
	const char *code; /* "invalid_template", "invalid_cron" or "invalid_timezone" (static) */
	char *path;       /* the failing node's path (note 3), or NULL for the template itself */
} co_org_error;

/* What the import did for one node (parallel to plan->nodes). */
typedef struct {
	co_id id;     /* the workspace (new, or the live one reused) */
	bool created; /* a new workspace was made for this node */
} co_org_node_result;

typedef struct {
	co_org_node_result *nodes; /* plan->n entries */
	size_t n;
	int64_t ws_created, ws_reused;
	int64_t sched_created;      /* new template schedules */
	int64_t sched_updated;      /* template rows whose fields changed */
	int64_t sched_unchanged;    /* template rows already as the template says */
	int64_t sched_kept_runtime; /* runtime rows of a template schedule's name, left as is */
	int64_t mem_created;        /* keys that were absent (or expired) */
	int64_t mem_kept;           /* keys that were there: never overwritten */
} co_org_result;

typedef enum {
	CO_ORG_SCHED_UNCHANGED,
	CO_ORG_SCHED_UPDATED,
	CO_ORG_SCHED_KEPT_RUNTIME,
} co_org_sched_action;

/* Reads a template (or {template, parent_id?}) into *out, validating everything (notes
 * 2–4); `now` is plan->now. On CO_EINVAL, *err says why and where and *out is cleared;
 * clear err with co_org_error_clear either way. */
int co_org_parse(json_t *doc, co_usec_t now, co_org_plan *out, co_org_error *err);

void co_org_plan_clear(co_org_plan *p);
void co_org_error_clear(co_org_error *e);

/* (Re)starts a result for a plan of n nodes: zeroed counts and n zeroed node entries.
 * Backends call it at the start of every attempt of the transaction. */
int co_org_result_reset(co_org_result *r, size_t n);
void co_org_result_clear(co_org_result *r);

/* The rule for an existing schedule `cur` with the name of template schedule `tmpl` in
 * the same workspace (SPEC §4): a runtime row is kept as it is (KEPT_RUNTIME). A template
 * row takes the template's cron_expr, timezone, prompt and enabled: if any differs it is
 * UPDATED — cur is changed in place, next_run_at per schedule.h note 2 from `now` (so an
 * unchanged expression keeps its pending slot) — else UNCHANGED and cur is untouched.
 * Returns CO_OK, or CO_EINVAL / CO_ENOMEM (cur must then just be cleared). */
int co_org_sched_merge(co_schedule *cur, const co_schedule *tmpl, co_usec_t now,
		       co_org_sched_action *action);

/* The next_run_at a NEW template schedule t gets when the store inserts it at `now`: the
 * planned one (computed from plan->now), unless that slot is no longer in the future —
 * the import waited for a lock across it — then the first slot after now, so a row never
 * starts life with a slot that passed before it existed. 0 when disabled. CO_EINVAL if
 * the expression no longer fires. */
int co_org_sched_first_next(const co_schedule *t, co_usec_t now, co_usec_t *next);

/* Did the import create anything (a workspace, schedule or memory)? Decides 201 vs 200. */
bool co_org_result_created_any(const co_org_result *r);

/* Appends the answer: {org, dry_run, created, reused, workspaces:[{id, name, parent_id,
 * path, created}], schedules:{created, updated, unchanged, kept_runtime},
 * memories:{created, kept}}. In a dry run nothing was kept, so a node that would be
 * created shows id null (and its children parent_id null). */
void co_org_result_to_json(const co_org_plan *p, const co_org_result *r, bool dry_run,
			   co_buf *b);

#endif
