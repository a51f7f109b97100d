/*
 * store.h — the storage interface: one versioned table of operations that every backend
 * (SQLite today, PostgreSQL next) implements, and that the conformance suite tests.
 *
 * DESIGN NOTES
 *  1. A backend embeds `co_store` as its first member and points `ops` at its table.
 *     Callers use the co_store_* wrappers below, never the table directly.
 *  2. Return codes are those of core/err.h. Backends translate their own errors into them
 *     at one place each. Expected outcomes:
 *       CO_ENOTFOUND  the workspace (or key) is absent; the message says which;
 *       CO_EEXISTS    a unique name is taken: conflict->existing_id is the holder;
 *       CO_ECONFLICT  conflict->kind says why (cycle, removed, version, confirmation);
 *       CO_EUNAVAIL   storage busy or unreachable (answered 503).
 *  3. Every mutation is atomic: it happens whole or not at all, and is durable when the
 *     call returns CO_OK. Concurrent calls are serialisable per operation; in particular
 *     the unique (parent, name) rule, the cycle check and compare-and-set are decided
 *     under the database's own write lock, never by an unlocked look-then-write.
 *  4. Out-structs are the caller's; a backend fills them and the caller clears them with
 *     the core's *_clear functions, whatever the return code.
 *  5. Every method may be called from any thread at once.
 *  6. Audit (core/audit.h note 1): every successful write method called while the calling
 *     thread has a current co_audit_entry appends one audit record in the same
 *     transaction; a write that fails, or a dry run, appends nothing.
 */
#ifndef COLONY_STORE_H
#define COLONY_STORE_H

#include "../core/audit.h"
#include "../core/auth.h"
#include "../core/budget.h"
#include "../core/inbox.h"
#include "../core/memory.h"
#include "../core/org.h"
#include "../core/schedule.h"
#include "../core/secret.h"
#include "../core/skill.h"
#include "../core/workspace.h"

#include <stdbool.h>

#define CO_STORE_OPS_VERSION 5

typedef enum {
	CO_CONFLICT_NONE = 0,
	CO_CONFLICT_NAME_TAKEN,   /* with CO_EEXISTS; existing_id set */
	CO_CONFLICT_CYCLE,        /* re-parenting would make a cycle */
	CO_CONFLICT_REMOVED,      /* the workspace is a tombstone */
	CO_CONFLICT_CONFIRM,      /* delete with live children and no confirm; children set */
	CO_CONFLICT_VERSION,      /* memory precondition failed; current_version set */
	CO_CONFLICT_STATE,        /* the row's state forbids it (status, attempts set) */
	CO_CONFLICT_STALE,        /* an ack fenced by an attempt that is no longer current */
	CO_CONFLICT_BUDGET,       /* the workspace's budget is exceeded (402) */
} co_conflict_kind;

typedef struct {
	co_conflict_kind kind;
	co_id existing_id;
	int64_t current_version; /* 0: the key is absent */
	co_ws_list children;     /* CO_CONFLICT_CONFIRM: the live direct children */
	char status[16];         /* CO_CONFLICT_STATE/STALE: the message's status */
	int64_t attempts;        /* CO_CONFLICT_STALE: its current attempt */
} co_conflict;

/* A page of a list ordered by id: ids strictly greater than `after` (or, for newest-first
 * lists, strictly smaller), at most `limit`. */
typedef struct {
	bool has_after;
	co_id after;
	int limit;
} co_page;

void co_conflict_clear(co_conflict *c);

/* For backends, under the message's row lock: may `ack` apply to message m as it is now?
 * CO_OK: yes. 1: it is the same ack again (answer m unchanged). CO_ECONFLICT with conflict
 * set: not claimed, acked the other way, or dead (CO_CONFLICT_STATE), or claimed under
 * another attempt than the ack names (CO_CONFLICT_STALE). */
int co_inbox_ack_decide(const co_inbox_msg *m, const co_inbox_ack *ack, co_conflict *conflict);

typedef struct {
	bool confirm; /* allow removing a workspace that has live children */
	bool purge;   /* delete the rows for good instead of tombstoning */
} co_ws_delete_opts;

typedef struct {
	co_id *ids; /* the workspaces removed (or purged) by this call, the target first */
	size_t n;
} co_id_list;

void co_id_list_clear(co_id_list *l);

typedef struct co_store co_store;

/* A unit of work for a backend's write executor (exec_batched below). */
typedef struct co_store_task co_store_task;
struct co_store_task {
	/* Runs on the backend's writer thread inside a write transaction shared with other
	 * tasks. Store write methods called from it run inline in that transaction. It must
	 * not call read methods (they would not see its uncommitted writes). */
	void (*run)(co_store_task *t);
	/* Called once the transaction has ended: rc CO_OK if it committed (the task's
	 * writes are durable), else the failure (its writes did not persist). */
	void (*done)(co_store_task *t, int rc);
	void *ctx; /* the caller's */
};

enum {
	/* Reads are local and quick (SQLite): the HTTP layer may run them on its event
	 * threads. Without it (PostgreSQL: a network round trip) reads go to workers. */
	CO_STORE_READS_INLINE = 1 << 0,
};

typedef struct {
	int version; /* CO_STORE_OPS_VERSION */
	const char *name;
	unsigned flags; /* CO_STORE_* */

	/* Closes connections and threads and frees the store. */
	void (*close)(co_store *s);
	/* CO_OK if storage answers a trivial query. */
	int (*health)(co_store *s);

	/* Creates a workspace from `in` (name, parent, fields, status). The store assigns
	 * id and times and fills *out. Absent or removed parent: CO_ENOTFOUND. A live
	 * sibling with that name: CO_EEXISTS (conflict->existing_id). */
	int (*ws_create)(co_store *s, const co_workspace *in, co_workspace *out, co_conflict *conflict);
	/* Any workspace, removed ones included. */
	int (*ws_get)(co_store *s, const co_id *id, co_workspace *out);
	int (*ws_list)(co_store *s, const co_ws_filter *f, co_ws_list *out);
	/* Applies the named fields. Removed target: CO_ECONFLICT/REMOVED. New parent absent
	 * or removed: CO_ENOTFOUND. A cycle: CO_ECONFLICT/CYCLE. Name clash: CO_EEXISTS. */
	int (*ws_patch)(co_store *s, const co_id *id, const co_ws_patch *p, co_workspace *out,
			co_conflict *conflict);
	/* Tombstones (or purges) the workspace and all its descendants in one transaction.
	 * Live children and !confirm: CO_ECONFLICT/CONFIRM with conflict->children.
	 * Removing an already-removed workspace succeeds with out->n == 0. */
	int (*ws_delete)(co_store *s, const co_id *id, const co_ws_delete_opts *o, co_id_list *out,
			 co_conflict *conflict);

	/* A live entry. Absent workspace or key (or expired): CO_ENOTFOUND. */
	int (*mem_get)(co_store *s, const co_id *ws, const char *key, co_mem_entry *out);
	/* Live entries ordered by key (bytewise), after f->after, with f->prefix. */
	int (*mem_list)(co_store *s, const co_id *ws, const co_mem_filter *f, co_mem_list *out);
	/* Writes per put->if_match_version (see core/memory.h); *version_out is the new
	 * version. Failed precondition: CO_ECONFLICT/VERSION with current_version. Removed
	 * workspace: CO_ECONFLICT/REMOVED. Absent workspace: CO_ENOTFOUND. */
	int (*mem_put)(co_store *s, const co_id *ws, const co_mem_put *put, int64_t *version_out,
		       co_conflict *conflict);
	/* Deletes a live key; if_match_version CO_MEM_ANY or ≥ 1. Absent: CO_ENOTFOUND. */
	int (*mem_delete)(co_store *s, const co_id *ws, const char *key, int64_t if_match_version,
			  co_conflict *conflict);

	/* ---- schedules (SPEC §5; core/schedule.h) ---------------------------------------- */

	/* Creates a schedule of in->workspace_id from `in` (name, cron_expr, timezone, prompt,
	 * enabled, source, next_run_at). The store assigns id and times. Absent workspace:
	 * CO_ENOTFOUND; removed: CO_ECONFLICT/REMOVED; name taken in the workspace: CO_EEXISTS
	 * (existing_id). */
	int (*sched_create)(co_store *s, const co_schedule *in, co_schedule *out,
			    co_conflict *conflict);
	/* The schedule sid of workspace ws; CO_ENOTFOUND if either is absent or sid is not ws's. */
	int (*sched_get)(co_store *s, const co_id *ws, const co_id *sid, co_schedule *out);
	/* The workspace's schedules by id (CO_ENOTFOUND: no such workspace). */
	int (*sched_list)(co_store *s, const co_id *ws, const co_page *p, co_sched_list *out);
	/* Applies p with co_sched_apply_patch() to the current row, under the row's lock, and
	 * writes only the PATCH fields and next_run_at (schedule.h note 3). Errors as create,
	 * plus CO_EINVAL if the resulting expression/zone pair never fires. */
	int (*sched_patch)(co_store *s, const co_id *ws, const co_id *sid, const co_sched_patch *p,
			   co_schedule *out, co_conflict *conflict);
	/* Deletes the schedule and its history; its inbox messages stay. */
	int (*sched_delete)(co_store *s, const co_id *ws, const co_id *sid);
	/* Runs of the schedule, newest first (p->after: runs older than that one). */
	int (*sched_history)(co_store *s, const co_id *ws, const co_id *sid, const co_page *p,
			     co_sched_run_list *out);
	/* Enabled schedules of live workspaces with next_run_at <= now, oldest slot first. */
	int (*sched_due)(co_store *s, co_usec_t now, int limit, co_sched_list *out);
	/* Fires one slot in ONE transaction: the conditional update that claims the slot
	 * (cron: compare-and-set of next_run_at, cron_expr, timezone, enabled; it also marks
	 * the run fields), the history row and the inbox message. A cron fire whose
	 * compare-and-set fails (another scheduler fired it, or it was edited or disabled)
	 * is CO_ECONFLICT/STATE and changes nothing. Manual: CO_ENOTFOUND / REMOVED as get. */
	int (*sched_fire)(co_store *s, const co_sched_fire *f, co_sched_fired *out,
			  co_conflict *conflict);
	/* Records a webhook delivery's outcome ("delivered" or "error" + message) on the run,
	 * and on the schedule if that run is still its last and still "fired". */
	int (*sched_mark)(co_store *s, const co_id *run_id, const char *status, const char *error);

	/* ---- inbox (SPEC §6; core/inbox.h) ------------------------------------------------ */

	/* Enqueues in (body, priority, idempotency_key, max_attempts) into workspace ws.
	 * With a key the workspace already used: *created = false and *out is that message.
	 * Absent workspace: CO_ENOTFOUND; removed: CO_ECONFLICT/REMOVED; its budget exceeded
	 * (budget.h note 4, decided in the same transaction): CO_ECONFLICT/BUDGET. */
	int (*inbox_enqueue)(co_store *s, const co_id *ws, const co_inbox_msg *in, co_inbox_msg *out,
			     bool *created, co_conflict *conflict);
	int (*inbox_get)(co_store *s, const co_id *ws, const co_id *mid, co_inbox_msg *out);
	/* Messages by id, optionally of one status (CO_ENOTFOUND: no such workspace). */
	int (*inbox_list)(co_store *s, const co_id *ws, const co_inbox_filter *f, co_inbox_list *out);
	/* Atomically: dead-letters the workspace's messages whose lease ended on their last
	 * attempt, then claims up to c->max claimable messages (queued, or claimed with an
	 * ended lease) in claim order, each attempts + 1 under a lease of c->lease_seconds.
	 * No message is handed to two concurrent claimers. */
	int (*inbox_claim)(co_store *s, const co_id *ws, const co_inbox_claim *c, co_inbox_list *out,
			   co_conflict *conflict);
	/* Acks a claimed message (inbox.h note 3) and, in the same transaction, reports a
	 * schedule's run outcome. Not claimed / already acked otherwise / dead:
	 * CO_ECONFLICT/STATE; fenced by a stale attempt: CO_ECONFLICT/STALE. */
	int (*inbox_ack)(co_store *s, const co_id *ws, const co_id *mid, const co_inbox_ack *a,
			 co_inbox_msg *out, co_conflict *conflict);

	/* ---- org import (SPEC §4; core/org.h) --------------------------------------------- */

	/* Applies a validated plan in ONE transaction, all of it or nothing:
	 *  - walking plan->nodes in order, each node's workspace is (parent, name): the parent
	 *    is plan->parent_id (or none) for top-level nodes, else the parent node's result.
	 *    A live workspace there is reused (its id kept, its fields left alone); otherwise
	 *    (none, or only removed ones) a new one is made from node.ws. New rows are
	 *    inserted so that the partial unique index decides (INSERT … ON CONFLICT DO
	 *    NOTHING, then the holder is read), never by a look-then-insert;
	 *  - each template schedule is inserted (source template, next_run_at as planned) if
	 *    the workspace has no schedule of that name, else co_org_sched_merge() decides,
	 *    under the row's lock; nothing is ever deleted;
	 *  - each memory is created (version 1) only where the key is absent or expired;
	 *  - out (reset with co_org_result_reset at each attempt) gets every node's id and
	 *    created flag, and the counts.
	 * Times: new rows' created_at/updated_at and the `now` of co_org_sched_merge are the
	 * store's clock when the attempt starts; new schedules take plan's next_run_at unless
	 * it is no longer after that (co_org_sched_first_next).
	 * Concurrent imports of one template make one tree and all answer the same ids.
	 * plan->has_parent and that workspace absent or removed: CO_ENOTFOUND. A template
	 * schedule that no longer fires from now: CO_EINVAL. Storage: CO_EUNAVAIL.
	 * dry_run: everything is done and then rolled back; out says what would have
	 * happened (ids of would-be-created nodes are meaningless). */
	int (*org_import)(co_store *s, const co_org_plan *plan, bool dry_run, co_org_result *out);

	/* ---- skills (SPEC §7; core/skill.h) ----------------------------------------------- */

	/* Appends a version of skill `name` of workspace ws with the next seq (skill.h note 1)
	 * and fills *out. Absent workspace: CO_ENOTFOUND; removed: CO_ECONFLICT/REMOVED. */
	int (*skill_append)(co_store *s, const co_id *ws, const char *name, const char *body_json,
			    co_skill_version *out, co_conflict *conflict);
	/* Version seq of the skill. Absent workspace, skill or version: CO_ENOTFOUND. */
	int (*skill_get)(co_store *s, const co_id *ws, const char *name, int64_t seq,
			 co_skill_version *out);
	/* The skill's versions newest first (co_skill_page). Absent workspace or a skill with
	 * no versions: CO_ENOTFOUND. */
	int (*skill_versions)(co_store *s, const co_id *ws, const char *name, const co_skill_page *p,
			      co_skill_version_list *out);
	/* The workspace's skills by name with their latest seq (CO_ENOTFOUND: no workspace). */
	int (*skill_list)(co_store *s, const co_id *ws, const co_skill_filter *f, co_skill_list *out);

	/* ---- budgets (SPEC §7; core/budget.h) --------------------------------------------- */

	/* Records one usage event at now and, in the same transaction, prunes the workspace's
	 * events that left the window. Absent workspace: CO_ENOTFOUND; removed:
	 * CO_ECONFLICT/REMOVED. */
	int (*usage_add)(co_store *s, const co_id *ws, const co_usage *u, co_conflict *conflict);
	/* The window's totals at now, the limits, exceeded. CO_ENOTFOUND: no workspace. */
	int (*budget_get)(co_store *s, const co_id *ws, co_budget *out);
	/* Applies the patch to the workspace's limits (under its lock) and fills *out as
	 * budget_get. Absent: CO_ENOTFOUND; removed: CO_ECONFLICT/REMOVED. */
	int (*budget_patch)(co_store *s, const co_id *ws, const co_budget_patch *p, co_budget *out,
			    co_conflict *conflict);

	/* ---- audit (SPEC §7; core/audit.h) ------------------------------------------------ */

	/* Records matching f, in seq order. */
	int (*audit_list)(co_store *s, const co_audit_filter *f, co_audit_list *out);
	/* Walks the whole chain with co_audit_verify_step (audit.h note 3). CO_OK with *out
	 * filled whether or not it is valid; an error only if storage fails. */
	int (*audit_verify)(co_store *s, co_audit_verify *out);

	/* ---- tokens and the hierarchy (SPEC §10, §6; core/auth.h) ----------------------- */

	/* Stores a token of workspace ws from in->prefix and in->hash_hex; fills *out (id,
	 * workspace_id, prefix, hash_hex, created_at). Absent workspace: CO_ENOTFOUND;
	 * removed: CO_ECONFLICT/REMOVED; prefix taken (by any token, live or revoked):
	 * CO_EEXISTS (the caller mints again). */
	int (*token_create)(co_store *s, const co_id *ws, const co_token *in, co_token *out,
			    co_conflict *conflict);
	/* The workspace's unrevoked tokens by id (hash_hex left empty). CO_ENOTFOUND: no
	 * such workspace. */
	int (*token_list)(co_store *s, const co_id *ws, const co_page *p, co_token_list *out);
	/* Revokes token tid of ws (revoked_at = now). Absent, another workspace's, or already
	 * revoked: CO_ENOTFOUND. */
	int (*token_revoke)(co_store *s, const co_id *ws, const co_id *tid);
	/* The unrevoked token with this prefix whose workspace is not removed, hash_hex
	 * included: CO_OK, else CO_ENOTFOUND. A read. */
	int (*token_lookup)(co_store *s, const char *prefix, co_token *out);
	/* last_used_at = at where it is older (best effort; never audited). */
	int (*token_touch)(co_store *s, const co_id *tid, co_usec_t at);
	/* The workspace's lineage [id, parent, …, root] (removed workspaces included);
	 * *removed: is `id` itself removed. CO_ENOTFOUND if absent. A read. */
	int (*ws_lineage)(co_store *s, const co_id *id, co_id_list *out, bool *removed);

	/* ---- secrets (SPEC §10; core/secret.h) -------------------------------------------- */

	/* Creates or replaces the secret (in->global, in->workspace_id, in->name, in->sealed);
	 * fills *out without sealed; *created: it did not exist. Absent workspace:
	 * CO_ENOTFOUND; removed: CO_ECONFLICT/REMOVED. */
	int (*secret_put)(co_store *s, const co_secret *in, co_secret *out, bool *created,
			  co_conflict *conflict);
	/* Deletes the named secret (global, or ws's own). Absent: CO_ENOTFOUND. */
	int (*secret_delete)(co_store *s, bool global, const co_id *ws, const char *name);
	/* Secrets by name per f (core/secret.h). CO_ENOTFOUND: no such workspace. A read. */
	int (*secret_list)(co_store *s, const co_secret_filter *f, co_secret_list *out);

	/* Optional (NULL if the backend has none): queues t to run on the writer thread so
	 * that whole requests share one commit without a thread of their own waiting for it.
	 * Returns CO_OK (t->done will be called exactly once) or CO_EUNAVAIL (closing). */
	int (*exec_batched)(co_store *s, co_store_task *t);
} co_store_ops;

struct co_store {
	const co_store_ops *ops;
};

typedef struct {
	int read_conns;     /* SQLite: reader connections in the pool (default 8) */
	int max_batch;      /* SQLite: most writes grouped into one commit (default 256) */
	int pg_pool;          /* PostgreSQL: connections in the pool (default 16) */
} co_store_opts;

/* Opens the store named by `url`: a postgres:// or postgresql:// URL, or a libpq keyword
 * string ("host=… dbname=…"), selects PostgreSQL; anything else is a SQLite file path.
 * Migrates the schema.
 * A database newer than this binary: CO_EINVAL with a message saying so. */
int co_store_open(const char *url, const co_store_opts *opts, co_store **out);

static inline void co_store_close(co_store *s)
{
	if (s)
		s->ops->close(s);
}

#define CO_STORE_CALL(s, m, ...) ((s)->ops->m((s), __VA_ARGS__))

#endif
