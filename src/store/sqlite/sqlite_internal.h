/*
 * sqlite_internal.h — what the SQLite backend's files share: connections, the statement
 * cache, the write path and the error map. sqlite_store.c owns the store, its threads and
 * the workspace and memory operations; sqlite_sched.c and sqlite_inbox.c add schedules
 * and the inbox on the same machinery (see sqlite_store.c DESIGN NOTES).
 */
#ifndef COLONY_STORE_SQLITE_INTERNAL_H
#define COLONY_STORE_SQLITE_INTERNAL_H

#include "../store.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define SQ_STMT_MAX 160 /* prepared statements per connection, fixed and dynamic */

typedef struct {
	sqlite3 *db;
	sqlite3_stmt *st[SQ_STMT_MAX]; /* prepared on first use, kept for the connection's life */
	bool in_txn;                   /* readers: a read transaction is open (DESIGN NOTE 8) */
	uint64_t snap_seq;             /* commit_seq when it began */
	co_usec_t snap_at;             /* monotonic µs when it began */
} sq_conn;

typedef struct sq_store sq_store;

/* A statement of another file of the backend: `static sq_sql Q = {"SELECT …"};`. Its
 * cache slot is assigned on first use, the same on every connection. */
typedef struct {
	const char *sql;
	_Atomic int slot; /* 0: not yet assigned */
} sq_sql;

/* Translates a SQLite result code into a core code and message. The one place. */
int sq_fail(sq_conn *c, int rc, const char *what);
/* The prepared statement (reset and unbound), or NULL with the error set. */
sqlite3_stmt *sq_prep(sq_conn *c, sq_sql *q);
/* Resets a statement after use so it holds no read snapshot or locks. */
void sq_done(sqlite3_stmt *st);
void sq_bind_text(sqlite3_stmt *st, int i, const char *s); /* NULL binds NULL */
void sq_bind_opt_i64(sqlite3_stmt *st, int i, bool has, int64_t v);
char *sq_col_strdup(sqlite3_stmt *st, int i); /* NULL for NULL */
/* Steps st to its end, appending each row to the array *items (of *n elements of `size`
 * bytes, grown with realloc) with read(st, item). On failure the rows read so far stay
 * in *items for the caller's clear function. */
int sq_collect(sq_conn *c, sqlite3_stmt *st, void **items, size_t *n, size_t size,
	       int (*read)(sqlite3_stmt *st, void *item), const char *what);
/* Copies column i (text) into an id. */
void sq_col_id(sqlite3_stmt *st, int i, co_id *out);

/* Runs fn(c, arg) on the writer connection inside a write transaction (group commit)
 * and returns its result once durable; see sqlite_store.c DESIGN NOTES 2–4, 7. */
int sq_write(sq_store *s, int (*fn)(sq_conn *, void *), void *arg);
/* A reader connection for one call, and its return. */
sq_conn *sq_reader_get(sq_store *s);
void sq_reader_put(sq_store *s, sq_conn *c);

/* The status of workspace id: CO_OK with *status, or CO_ENOTFOUND. */
int sq_ws_status(sq_conn *c, const char *id, co_ws_status *status);
/* A parent for a new or moved workspace (or an import's graft) must exist and not be
 * removed: CO_ENOTFOUND saying which, else CO_OK. */
int sq_check_parent(sq_conn *c, const co_id *parent);
/* Writes need a live workspace: CO_ENOTFOUND, or CO_ECONFLICT/REMOVED. */
int sq_check_ws_writable(sq_conn *c, const co_id *ws, co_conflict *conflict);

/* sqlite_sched.c */
int sq_sched_create(co_store *s, const co_schedule *in, co_schedule *out, co_conflict *conflict);
int sq_sched_get(co_store *s, const co_id *ws, const co_id *sid, co_schedule *out);
int sq_sched_list(co_store *s, const co_id *ws, const co_page *p, co_sched_list *out);
int sq_sched_patch(co_store *s, const co_id *ws, const co_id *sid, const co_sched_patch *p,
		   co_schedule *out, co_conflict *conflict);
int sq_sched_delete(co_store *s, const co_id *ws, const co_id *sid);
int sq_sched_history(co_store *s, const co_id *ws, const co_id *sid, const co_page *p,
		     co_sched_run_list *out);
int sq_sched_due(co_store *s, co_usec_t now, int limit, co_sched_list *out);
int sq_sched_fire(co_store *s, const co_sched_fire *f, co_sched_fired *out, co_conflict *conflict);
int sq_sched_mark(co_store *s, const co_id *run_id, const char *status, const char *error);

/* The schedule named `name` of workspace ws, in the caller's transaction: CO_OK with *out
 * (the caller clears it), CO_ENOTFOUND if ws has none of that name. */
int sq_sched_select_name(sq_conn *c, const co_id *ws, const char *name, co_schedule *out);

/* Reports a schedule run's outcome (from an inbox ack) on the schedule and the run, in
 * the caller's transaction: one statement each (schedule.h note 4). */
int sq_sched_report(sq_conn *c, const co_id *schedule_id, const co_id *run_id, bool completed,
		    bool empty, const char *error, co_usec_t now);

/* sqlite_inbox.c */
/* Inserts a new queued message (id, workspace, body, priority, key, source, schedule and
 * run, max_attempts, created_at) in the caller's transaction. */
int sq_inbox_insert(sq_conn *c, const co_inbox_msg *m);
int sq_inbox_enqueue(co_store *s, const co_id *ws, const co_inbox_msg *in, co_inbox_msg *out,
		     bool *created, co_conflict *conflict);
int sq_inbox_get(co_store *s, const co_id *ws, const co_id *mid, co_inbox_msg *out);
int sq_inbox_list(co_store *s, const co_id *ws, const co_inbox_filter *f, co_inbox_list *out);
int sq_inbox_claim(co_store *s, const co_id *ws, const co_inbox_claim *c, co_inbox_list *out,
		   co_conflict *conflict);
int sq_inbox_ack(co_store *s, const co_id *ws, const co_id *mid, const co_inbox_ack *a,
		 co_inbox_msg *out, co_conflict *conflict);

/* sqlite_skill.c */
int sq_skill_append(co_store *s, const co_id *ws, const char *name, const char *body_json,
		    co_skill_version *out, co_conflict *conflict);
int sq_skill_get(co_store *s, const co_id *ws, const char *name, int64_t seq, co_skill_version *out);
int sq_skill_versions(co_store *s, const co_id *ws, const char *name, const co_skill_page *p,
		      co_skill_version_list *out);
int sq_skill_list(co_store *s, const co_id *ws, const co_skill_filter *f, co_skill_list *out);

/* sqlite_budget.c */
int sq_usage_add(co_store *s, const co_id *ws, const co_usage *u, co_conflict *conflict);
int sq_budget_get(co_store *s, const co_id *ws, co_budget *out);
int sq_budget_patch(co_store *s, const co_id *ws, const co_budget_patch *p, co_budget *out,
		    co_conflict *conflict);
/* In the caller's transaction: is workspace ws's budget exceeded at now? (inbox enqueue) */
int sq_budget_exceeded(sq_conn *c, const co_id *ws, co_usec_t now, bool *exceeded);

/* sqlite_audit.c */
int sq_audit_list(co_store *s, const co_audit_filter *f, co_audit_list *out);
int sq_audit_verify(co_store *s, co_audit_verify *out);
/* In the caller's (write) transaction: appends a record for entry e after the newest. */
int sq_audit_append(sq_conn *c, const co_audit_entry *e);

/* sqlite_org.c */
int sq_org_import(co_store *s, const co_org_plan *plan, bool dry_run, co_org_result *out);

/* sqlite_auth.c */
int sq_token_create(co_store *s, const co_id *ws, const co_token *in, co_token *out,
		    co_conflict *conflict);
int sq_token_list(co_store *s, const co_id *ws, const co_page *p, co_token_list *out);
int sq_token_revoke(co_store *s, const co_id *ws, const co_id *tid);
int sq_token_lookup(co_store *s, const char *prefix, co_token *out);
int sq_token_touch(co_store *s, const co_id *tid, co_usec_t at);
int sq_ws_lineage(co_store *s, const co_id *id, co_id_list *out, bool *removed);

/* sqlite_secret.c */
int sq_secret_put(co_store *s, const co_secret *in, co_secret *out, bool *created,
		  co_conflict *conflict);
int sq_secret_delete(co_store *s, bool global, const co_id *ws, const char *name);
int sq_secret_list(co_store *s, const co_secret_filter *f, co_secret_list *out);

#endif
