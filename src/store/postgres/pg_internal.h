/*
 * pg_internal.h — what the PostgreSQL backend's files share: the pool, statements, the
 * transaction runner and the error map. pg_store.c owns the pool and the workspace and
 * memory operations; pg_sched.c and pg_inbox.c add schedules and the inbox on the same
 * machinery (see pg_store.c DESIGN NOTES).
 */
#ifndef COLONY_STORE_PG_INTERNAL_H
#define COLONY_STORE_PG_INTERNAL_H

#include "../store.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define PG_STMT_MAX 128 /* prepared statements per connection */
#define PG_ERETRY (-100) /* internal: retry the transaction */

typedef struct {
	PGconn *conn;
	uint64_t prepared[PG_STMT_MAX / 64]; /* bit i: statement slot i is prepared here */
	bool broken;                         /* reset before next use */
} pg_conn;

typedef struct pg_store {
	co_store base;
	char *conninfo;
	pg_conn *conns;
	int nconns;
	int *free_conns;
	int nfree;
	pthread_mutex_t mu;
	pthread_cond_t cv;
} pg_store;

/* A statement of another file of the backend: `static pg_sql Q = {.sql = "…", .nparams = N};`
 * Parameters are passed as text; cast them in the SQL ($1::uuid, $2::bigint). */
typedef struct {
	const char *sql;
	int nparams;
	_Atomic int slot; /* 0: not yet assigned */
} pg_sql;

/* Translates a failed result (or a dead connection) into a core code. The one place. */
int pg_fail(pg_conn *c, PGresult *res, const char *what);
/* Runs q with text parameters (NULL = SQL NULL). On CO_OK *out is the result (PQclear it). */
int pg_run(pg_conn *c, pg_sql *q, const char *const *params, PGresult **out);
/* pg_run() for statements whose rows are not needed. */
int pg_run0(pg_conn *c, pg_sql *q, const char *const *params);
/* Runs fn(c, arg) in a READ COMMITTED transaction on a pooled connection, retrying it whole
 * on a serialization failure or deadlock. fn must be safe to run again. */
int pg_in_tx(pg_store *s, int (*fn)(pg_conn *, void *), void *arg);
/* A pooled connection for one call outside pg_in_tx (autocommit), and its return. */
pg_conn *pg_conn_get(pg_store *s);
void pg_conn_put(pg_store *s, pg_conn *c);
/* A single autocommit statement has no transaction to retry: PG_ERETRY becomes 503. */
int pg_no_retry(int rc);

char *pg_val(PGresult *r, int row, int col); /* NULL for NULL */
int64_t pg_ival(PGresult *r, int row, int col);
char *pg_dup(const char *v);
void pg_id(PGresult *r, int row, int col, co_id *out);
/* Reads every row of r into a new array *items of `size`-byte elements with
 * read(r, row, item); *n counts those read (the caller's clear function frees them). */
int pg_collect(PGresult *r, void **items, size_t *n, size_t size,
	       int (*read)(PGresult *r, int row, void *item));
/* Formats v as decimal text into buf (24 bytes) and returns buf. */
const char *pg_i64(char buf[24], int64_t v);

/* In a transaction: takes the tree's advisory lock (DESIGN NOTE 2 of pg_store.c), shared
 * by creates and org imports, exclusive by moves and deletes. */
int pg_tree_lock(pg_conn *c, bool exclusive);
/* In a transaction: locks workspace ws's row FOR SHARE and checks it is live
 * (CO_ENOTFOUND, or CO_ECONFLICT/REMOVED). A concurrent removal waits for us. */
int pg_check_ws_writable(pg_conn *c, const co_id *ws, co_conflict *conflict);

/* pg_sched.c */
/* The columns of a schedule row, in the order pg_sched_read() reads them. */
#define PG_SCHED_COLS                                                                        \
	"id, workspace_id, name, cron_expr, timezone, prompt, enabled, source, next_run_at, " \
	"last_run_at, run_count, last_status, last_error, consecutive_empty_runs, "          \
	"last_run_id, created_at, updated_at"
/* Reads row `row` of r (PG_SCHED_COLS first) into the co_schedule *item. */
int pg_sched_read(PGresult *r, int row, void *item);
int pg_sched_create(co_store *s, const co_schedule *in, co_schedule *out, co_conflict *conflict);
int pg_sched_get(co_store *s, const co_id *ws, const co_id *sid, co_schedule *out);
int pg_sched_list(co_store *s, const co_id *ws, const co_page *p, co_sched_list *out);
int pg_sched_patch(co_store *s, const co_id *ws, const co_id *sid, const co_sched_patch *p,
		   co_schedule *out, co_conflict *conflict);
int pg_sched_delete(co_store *s, const co_id *ws, const co_id *sid);
int pg_sched_history(co_store *s, const co_id *ws, const co_id *sid, const co_page *p,
		     co_sched_run_list *out);
int pg_sched_due(co_store *s, co_usec_t now, int limit, co_sched_list *out);
int pg_sched_fire(co_store *s, const co_sched_fire *f, co_sched_fired *out, co_conflict *conflict);
int pg_sched_mark(co_store *s, const co_id *run_id, const char *status, const char *error);
/* In the caller's transaction: a run's outcome from an inbox ack (schedule.h note 4). */
int pg_sched_report(pg_conn *c, const co_id *schedule_id, const co_id *run_id, bool completed,
		    bool empty, const char *error, co_usec_t now);

/* pg_inbox.c */
int pg_inbox_insert(pg_conn *c, const co_inbox_msg *m);
int pg_inbox_enqueue(co_store *s, const co_id *ws, const co_inbox_msg *in, co_inbox_msg *out,
		     bool *created, co_conflict *conflict);
int pg_inbox_get(co_store *s, const co_id *ws, const co_id *mid, co_inbox_msg *out);
int pg_inbox_list(co_store *s, const co_id *ws, const co_inbox_filter *f, co_inbox_list *out);
int pg_inbox_claim(co_store *s, const co_id *ws, const co_inbox_claim *c, co_inbox_list *out,
		   co_conflict *conflict);
int pg_inbox_ack(co_store *s, const co_id *ws, const co_id *mid, const co_inbox_ack *a,
		 co_inbox_msg *out, co_conflict *conflict);

/* pg_skill.c */
int pg_skill_append(co_store *s, const co_id *ws, const char *name, const char *body_json,
		    co_skill_version *out, co_conflict *conflict);
int pg_skill_get(co_store *s, const co_id *ws, const char *name, int64_t seq, co_skill_version *out);
int pg_skill_versions(co_store *s, const co_id *ws, const char *name, const co_skill_page *p,
		      co_skill_version_list *out);
int pg_skill_list(co_store *s, const co_id *ws, const co_skill_filter *f, co_skill_list *out);

/* pg_budget.c */
int pg_usage_add(co_store *s, const co_id *ws, const co_usage *u, co_conflict *conflict);
int pg_budget_get(co_store *s, const co_id *ws, co_budget *out);
int pg_budget_patch(co_store *s, const co_id *ws, const co_budget_patch *p, co_budget *out,
		    co_conflict *conflict);
/* In the caller's transaction: is workspace ws's budget exceeded at now? (inbox enqueue) */
int pg_budget_exceeded(pg_conn *c, const co_id *ws, co_usec_t now, bool *exceeded);

/* pg_audit.c */
int pg_audit_list(co_store *s, const co_audit_filter *f, co_audit_list *out);
int pg_audit_verify(co_store *s, co_audit_verify *out);
/* In the caller's transaction: takes the audit lock and appends a record for entry e. */
int pg_audit_append(pg_conn *c, const co_audit_entry *e);

/* pg_org.c */
int pg_org_import(co_store *s, const co_org_plan *plan, bool dry_run, co_org_result *out);

/* pg_auth.c */
int pg_token_create(co_store *s, const co_id *ws, const co_token *in, co_token *out,
		    co_conflict *conflict);
int pg_token_list(co_store *s, const co_id *ws, const co_page *p, co_token_list *out);
int pg_token_revoke(co_store *s, const co_id *ws, const co_id *tid);
int pg_token_lookup(co_store *s, const char *prefix, co_token *out);
int pg_token_touch(co_store *s, const co_id *tid, co_usec_t at);
int pg_ws_lineage(co_store *s, const co_id *id, co_id_list *out, bool *removed);

/* pg_secret.c */
int pg_secret_put(co_store *s, const co_secret *in, co_secret *out, bool *created,
		  co_conflict *conflict);
int pg_secret_delete(co_store *s, bool global, const co_id *ws, const char *name);
int pg_secret_list(co_store *s, const co_secret_filter *f, co_secret_list *out);

#endif
