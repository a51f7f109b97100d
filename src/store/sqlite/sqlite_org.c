/*
 * sqlite_org.c — org import on the SQLite backend (store.h org_import, SPEC §4).
 *
 * DESIGN NOTES
 *  1. One op. The whole plan is applied by ONE sq_write() op: on the writer connection,
 *     under the database write lock (BEGIN IMMEDIATE), in its own savepoint of the batch
 *     (its own transaction when it is alone). Every read the import makes is part of the
 *     same atomic step as its writes, so two imports of one template — in this process
 *     or in another colonyd on the same file — run one after the other, and the later one
 *     finds the earlier one's rows and answers the same ids.
 *  2. The index decides. A node's workspace is INSERTed with ON CONFLICT on the partial
 *     unique index workspaces_parent_name_uniq: the target repeats the index's expression
 *     (COALESCE(parent_id, ''), name) and predicate (status <> 'removed') exactly, so
 *     SQLite applies DO NOTHING to that index only (a primary-key clash stays an error).
 *     One changed row: created. None: the live holder is read and reused. That read names
 *     the holder; it never decides whether to insert (no look-then-insert). A removed
 *     workspace is outside the index, so a tombstone never blocks its replacement.
 *  3. Schedules: INSERT … ON CONFLICT (workspace_id, name) DO NOTHING. When nothing was
 *     inserted, the row holding the name is read and co_org_sched_merge() decides: a
 *     runtime row is left as it is; a template row is updated in its template-owned
 *     columns only (cron_expr, timezone, prompt, enabled, next_run_at, updated_at), never
 *     the run fields, name or source, so nothing the scheduler writes is rewritten (the
 *     statement also requires source = 'template'). Memories use mem_put's create-only
 *     statement (if_match_version 0): written at version 1 over an absent or expired key,
 *     a live key is never touched. Nothing is ever deleted.
 *  4. Times. `now` is read once when the op starts: created_at/updated_at of every row the
 *     op writes, memory TTLs, and the `now` of the merge rule. New schedules take the
 *     next_run_at the plan computed unless that slot is no longer after `now`
 *     (co_org_sched_first_next).
 *  5. Dry run. The op does everything and then returns SQ_DRYRUN, a code of this file
 *     only. For the write path it is a failing op like any other: run_batch rolls back its
 *     savepoint (or, alone in its batch, the whole transaction) and sq_write_inline its
 *     inner savepoint; the wrapper turns it into CO_OK. `out` is the caller's memory,
 *     which no rollback touches, so it says what the import would have done (the id of a
 *     would-be-created node is one the rollback threw away).
 *  6. Errors: every step's result is checked and SQLite errors go through sq_fail(); any
 *     failure fails the op, so nothing of the import persists. The message names the
 *     node's path.
 *  7. Cost: per node one INSERT (plus one indexed SELECT when reused), per schedule one
 *     INSERT (plus one SELECT, and an UPDATE if changed), per memory one statement; all
 *     prepared once per connection (sq_prep).
 */
#include "../../core/err.h"
#include "sqlite_internal.h"

#include <stdio.h>

/* The op's "done, now roll it back" (note 5): no core code or SQLite code collides. */
#define SQ_DRYRUN (-101)

static sq_sql Q_WS_INSERT = {.sql = "INSERT INTO workspaces (id, parent_id, name, role, runtime, tier, "
			     "url, max_concurrent_tasks, status, created_at, updated_at) "
			     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10) "
			     "ON CONFLICT (COALESCE(parent_id, ''), name) WHERE status <> 'removed' "
			     "DO NOTHING"};
/* The live holder of (parent, name): served by the same partial index. */
static sq_sql Q_WS_LIVE = {.sql = "SELECT id FROM workspaces WHERE COALESCE(parent_id, '') = "
			   "COALESCE(?1, '') AND name = ?2 AND status <> 'removed'"};
static sq_sql Q_SCHED_INSERT = {.sql = "INSERT INTO schedules (id, workspace_id, name, cron_expr, "
				"timezone, prompt, enabled, source, next_run_at, created_at, "
				"updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'template', ?8, ?9, ?9) "
				"ON CONFLICT (workspace_id, name) DO NOTHING"};
static sq_sql Q_SCHED_UPDATE = {.sql = "UPDATE schedules SET cron_expr = ?2, timezone = ?3, prompt = ?4, "
				"enabled = ?5, next_run_at = ?6, updated_at = ?7 "
				"WHERE id = ?1 AND source = 'template'"};
/* mem_put's create-only statement (sqlite_store.c ST_MEM_CREATE) without RETURNING: one
 * changed row = written; none = a live key was there. */
static sq_sql Q_MEM_CREATE = {.sql = "INSERT INTO memory (workspace_id, key, value, version, expires_at, "
			      "updated_at) VALUES (?1, ?2, ?3, 1, ?4, ?5) "
			      "ON CONFLICT (workspace_id, key) DO UPDATE SET value = excluded.value, "
			      "version = 1, expires_at = excluded.expires_at, "
			      "updated_at = excluded.updated_at WHERE memory.expires_at IS NOT NULL "
			      "AND memory.expires_at <= ?5"};

struct import_args {
	const co_org_plan *plan;
	bool dry_run;
	co_org_result *out;
};

/* What one run of the op shares between its steps. */
typedef struct {
	sq_conn *c;
	co_usec_t now; /* note 4 */
	co_org_result *out;
	sqlite3_stmt *ws_insert, *ws_live, *sched_insert, *sched_update, *mem_create;
} import_ctx;

/* Steps a statement that returns no rows, then resets it. CO_OK with *changed (rows it
 * inserted or updated), or the error through sq_fail. */
static int step_done(import_ctx *x, sqlite3_stmt *st, int *changed, const char *what)
{
	int src = sqlite3_step(st);
	int rc = CO_OK;
	if (src == SQLITE_DONE)
		*changed = sqlite3_changes(x->c->db);
	else
		rc = sq_fail(x->c, src, what); /* before the reset, which may change the message */
	sq_done(st);
	return rc;
}

/* The workspace of `node` under `parent` (NULL: a root): inserted if no live workspace
 * holds (parent, name), else that one. Sets *res and counts it. */
static int place_workspace(import_ctx *x, const co_org_node *node, const char *parent,
			   co_org_node_result *res)
{
	const co_workspace *w = &node->ws;
	co_id id;
	int rc = co_id_new(&id);
	if (rc)
		return rc;
	sqlite3_stmt *st = x->ws_insert;
	sq_bind_text(st, 1, id.s);
	sq_bind_text(st, 2, parent);
	sq_bind_text(st, 3, w->name);
	sq_bind_text(st, 4, w->role);
	sq_bind_text(st, 5, w->runtime);
	sq_bind_opt_i64(st, 6, w->has_tier, w->tier);
	sq_bind_text(st, 7, w->url);
	sq_bind_opt_i64(st, 8, w->has_max_tasks, w->max_concurrent_tasks);
	sq_bind_text(st, 9, co_ws_status_name(w->status));
	sqlite3_bind_int64(st, 10, x->now);
	int changed = 0;
	if ((rc = step_done(x, st, &changed, "creating a workspace")))
		return rc;
	if (changed == 1) {
		res->id = id;
		res->created = true;
		x->out->ws_created++;
		return CO_OK;
	}
	/* The index refused it: a live workspace holds (parent, name). Name it. */
	st = x->ws_live;
	sq_bind_text(st, 1, parent);
	sq_bind_text(st, 2, w->name);
	int src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		sq_col_id(st, 0, &res->id);
		res->created = false;
		x->out->ws_reused++;
		rc = CO_OK;
	} else if (src == SQLITE_DONE) {
		rc = co_err_set(CO_EINTERNAL, "workspace '%s' was neither inserted nor found", w->name);
	} else {
		rc = sq_fail(x->c, src, "reading a workspace");
	}
	sq_done(st);
	return rc;
}

/* Template schedule t in workspace ws: inserted if ws has no schedule of its name, else
 * the existing row is merged (note 3). Counts what happened. */
static int place_schedule(import_ctx *x, const co_id *ws, const co_schedule *t)
{
	co_id id;
	int rc = co_id_new(&id);
	if (rc)
		return rc;
	sqlite3_stmt *st = x->sched_insert;
	sq_bind_text(st, 1, id.s);
	sq_bind_text(st, 2, ws->s);
	sq_bind_text(st, 3, t->name);
	sq_bind_text(st, 4, t->cron_expr);
	sq_bind_text(st, 5, t->timezone);
	sq_bind_text(st, 6, t->prompt);
	sqlite3_bind_int(st, 7, t->enabled);
	co_usec_t next;
	if ((rc = co_org_sched_first_next(t, x->now, &next)))
		return rc;
	sq_bind_opt_i64(st, 8, next != 0, next);
	sqlite3_bind_int64(st, 9, x->now);
	int changed = 0;
	if ((rc = step_done(x, st, &changed, "creating a schedule")))
		return rc;
	if (changed == 1) {
		x->out->sched_created++;
		return CO_OK;
	}
	co_schedule cur;
	if ((rc = sq_sched_select_name(x->c, ws, t->name, &cur))) {
		if (rc == CO_ENOTFOUND) /* the index refused the insert, so it must be there */
			rc = co_err_set(CO_EINTERNAL, "schedule '%s' was neither inserted nor found",
					t->name);
		return rc;
	}
	co_org_sched_action action;
	rc = co_org_sched_merge(&cur, t, x->now, &action);
	if (rc == CO_OK) {
		switch (action) {
		case CO_ORG_SCHED_KEPT_RUNTIME:
			x->out->sched_kept_runtime++;
			break;
		case CO_ORG_SCHED_UNCHANGED:
			x->out->sched_unchanged++;
			break;
		case CO_ORG_SCHED_UPDATED:
			st = x->sched_update;
			sq_bind_text(st, 1, cur.id.s);
			sq_bind_text(st, 2, cur.cron_expr);
			sq_bind_text(st, 3, cur.timezone);
			sq_bind_text(st, 4, cur.prompt);
			sqlite3_bind_int(st, 5, cur.enabled);
			sq_bind_opt_i64(st, 6, cur.next_run_at != 0, cur.next_run_at);
			sqlite3_bind_int64(st, 7, x->now);
			if ((rc = step_done(x, st, &changed, "updating a schedule")) == CO_OK) {
				if (changed == 1)
					x->out->sched_updated++;
				else
					rc = co_err_set(CO_EINTERNAL, "template schedule '%s' vanished",
							t->name);
			}
			break;
		}
	}
	co_schedule_clear(&cur);
	return rc;
}

/* Memory m of workspace ws, created only where the key is absent or expired. */
static int place_memory(import_ctx *x, const co_id *ws, const co_org_memory *m)
{
	sqlite3_stmt *st = x->mem_create;
	sq_bind_text(st, 1, ws->s);
	sq_bind_text(st, 2, m->key);
	sq_bind_text(st, 3, m->value_json);
	sq_bind_opt_i64(st, 4, m->ttl_seconds > 0, x->now + m->ttl_seconds * 1000000);
	sqlite3_bind_int64(st, 5, x->now);
	int changed = 0;
	int rc = step_done(x, st, &changed, "creating memory");
	if (rc == CO_OK) {
		if (changed == 1)
			x->out->mem_created++;
		else
			x->out->mem_kept++;
	}
	return rc;
}

/* Node i of the plan: its workspace, then its schedules and memories. Its parent (an
 * earlier node, note 5 of org.h) has its result already. */
static int place_node(import_ctx *x, const co_org_plan *plan, size_t i)
{
	const co_org_node *node = &plan->nodes[i];
	const char *parent;
	if (node->parent == -1)
		parent = plan->has_parent ? plan->parent_id.s : NULL;
	else if (node->parent >= 0 && (size_t)node->parent < i)
		parent = x->out->nodes[node->parent].id.s;
	else
		return co_err_set(CO_EINTERNAL, "the plan is not in pre-order at node %zu", i);
	co_org_node_result *res = &x->out->nodes[i];
	int rc = place_workspace(x, node, parent, res);
	for (size_t k = 0; rc == CO_OK && k < node->nschedules; k++)
		rc = place_schedule(x, &res->id, &node->schedules[k]);
	for (size_t k = 0; rc == CO_OK && k < node->nmemories; k++)
		rc = place_memory(x, &res->id, &node->memories[k]);
	return rc;
}

/* The op (note 1): resets *out, checks the graft parent, places every node in order. */
static int op_import(sq_conn *c, void *arg)
{
	struct import_args *a = arg;
	const co_org_plan *plan = a->plan;
	int rc = co_org_result_reset(a->out, plan->n);
	if (rc)
		return rc;
	if (plan->has_parent && (rc = sq_check_parent(c, &plan->parent_id)))
		return rc;
	import_ctx x = {
		.c = c,
		.now = co_clock_now_us(),
		.out = a->out,
		.ws_insert = sq_prep(c, &Q_WS_INSERT),
		.ws_live = sq_prep(c, &Q_WS_LIVE),
		.sched_insert = sq_prep(c, &Q_SCHED_INSERT),
		.sched_update = sq_prep(c, &Q_SCHED_UPDATE),
		.mem_create = sq_prep(c, &Q_MEM_CREATE),
	};
	if (!x.ws_insert || !x.ws_live || !x.sched_insert || !x.sched_update || !x.mem_create)
		return CO_EINTERNAL; /* sq_prep set the message */
	for (size_t i = 0; i < plan->n; i++) {
		if ((rc = place_node(&x, plan, i))) {
			char msg[CO_ERR_MSG_MAX];
			snprintf(msg, sizeof msg, "%s", co_err_msg());
			const char *path = plan->nodes[i].path;
			return co_err_set(rc, "%s (importing %s)", msg, path ? path : "?");
		}
	}
	return a->dry_run ? SQ_DRYRUN : CO_OK;
}

int sq_org_import(co_store *s, const co_org_plan *plan, bool dry_run, co_org_result *out)
{
	struct import_args a = {plan, dry_run, out};
	int rc = sq_write((sq_store *)s, op_import, &a);
	if (rc == SQ_DRYRUN) /* done and rolled back (note 5) */
		return co_err_set(CO_OK, "%s", "");
	return rc;
}
