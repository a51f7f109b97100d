/*
 * pg_store.c — the PostgreSQL backend: a pool of libpq connections, prepared statements,
 * and the same contract as the SQLite backend (tests/store/test_conformance.c).
 *
 * DESIGN NOTES
 *  1. Pool. N connections (--pg-pool), each used by one thread at a time. Statements are
 *     prepared on a connection the first time it runs them (bit i of `prepared`). A
 *     connection that fails (class 08, admin shutdown, CONNECTION_BAD) is reset before
 *     its next use; the failing call answers CO_EUNAVAIL (503).
 *  2. Isolation is READ COMMITTED. Each decision that must be atomic is one statement or
 *     is guarded by a lock:
 *     - memory writes are single statements (INSERT … ON CONFLICT … RETURNING, UPDATE …
 *       WHERE version = $v RETURNING): PostgreSQL re-checks the WHERE on the newest row
 *       version after waiting for a concurrent writer, so no update is lost and a stale
 *       compare-and-set fails;
 *     - (parent, name) uniqueness is the partial unique index; creates use ON CONFLICT
 *       DO NOTHING and then name the holder;
 *     - the tree's shape: moves and deletes take a transaction-level advisory lock
 *       (TREE_LOCK) exclusively, creates take it shared. So a cycle check and the move it
 *       allows are one atomic step across every replica, and a subtree being removed
 *       cannot gain a live child meanwhile.
 *     A serialization failure or deadlock (40001, 40P01) retries the whole transaction.
 *  3. Errors are translated in pg_fail() only.
 *  4. Migrations run in one transaction each under pg_advisory_xact_lock(MIGRATE_LOCK):
 *     two replicas starting at once apply each step once.
 */
#include "pg_store.h"
#include "../../core/err.h"
#include "../migration.h"
#include "pg_internal.h"

#include <ctype.h>
#include <stdatomic.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const co_migration co_pg_migrations[];
extern const int co_pg_migrations_count;

#define TREE_LOCK 0x636f6c6f6e790001LL    /* "colony" + 1 */
#define MIGRATE_LOCK 0x636f6c6f6e790002LL /* "colony" + 2 */
#define MAX_RETRIES 20
#define NIL_UUID "00000000-0000-0000-0000-000000000000"

/* ------------------------------------------------------------------------------------ */
/* Statements                                                                           */
/* ------------------------------------------------------------------------------------ */

#define WS_COLS                                                                              \
	"id, parent_id, name, role, runtime, tier, url, max_concurrent_tasks, status, "      \
	"created_at, updated_at, removed_at"
#define WS_COLS_W                                                                            \
	"w.id, w.parent_id, w.name, w.role, w.runtime, w.tier, w.url, "                      \
	"w.max_concurrent_tasks, w.status, w.created_at, w.updated_at, w.removed_at"
#define SUBTREE                                                                              \
	"WITH RECURSIVE sub(id) AS (SELECT $1::uuid UNION "                                  \
	"SELECT w.id FROM workspaces w JOIN sub ON w.parent_id = sub.id) "
#define LIVE(t) "(" t ".expires_at IS NULL OR " t ".expires_at > $5)"

enum {
	ST_TREE_LOCK_SHARED,
	ST_TREE_LOCK,
	ST_WS_STATUS_SHARE,
	ST_WS_INSERT,
	ST_WS_FIND_LIVE,
	ST_WS_SELECT,
	ST_WS_SELECT_FOR_UPDATE,
	ST_WS_UPDATE,
	ST_WS_IS_ANCESTOR,
	ST_WS_LIVE_CHILDREN,
	ST_WS_SUBTREE_REMOVE,
	ST_WS_SUBTREE_PURGE,
	ST_WS_SUBTREE_DISABLE_SCHEDULES,
	ST_WS_SUBTREE_REVOKE_TOKENS,
	ST_WS_LIST,
	ST_WS_STATUS,
	ST_MEM_GET,
	ST_MEM_LIST,
	ST_MEM_UPSERT,
	ST_MEM_CREATE,
	ST_MEM_CAS,
	ST_MEM_DIAGNOSE,
	ST_MEM_DELETE,
	ST_HEALTH,
	ST_COUNT
};

static const struct {
	const char *sql;
	int nparams;
} stmts[ST_COUNT] = {
	[ST_TREE_LOCK_SHARED] = {"SELECT pg_advisory_xact_lock_shared($1::bigint)", 1},
	[ST_TREE_LOCK] = {"SELECT pg_advisory_xact_lock($1::bigint)", 1},
	[ST_WS_STATUS_SHARE] = {"SELECT status FROM workspaces WHERE id = $1::uuid FOR SHARE", 1},
	[ST_WS_INSERT] = {"INSERT INTO workspaces (id, parent_id, name, role, runtime, tier, url, "
			  "max_concurrent_tasks, status, created_at, updated_at) VALUES ($1::uuid, "
			  "$2::uuid, $3, $4, $5, $6::bigint, $7, $8::bigint, $9, $10::bigint, "
			  "$10::bigint) ON CONFLICT (COALESCE(parent_id, '" NIL_UUID "'::uuid), name) "
			  "WHERE status <> 'removed' DO NOTHING RETURNING " WS_COLS,
			  10},
	[ST_WS_FIND_LIVE] = {"SELECT id FROM workspaces WHERE COALESCE(parent_id, '" NIL_UUID
			     "'::uuid) = COALESCE($1::uuid, '" NIL_UUID "'::uuid) AND name = $2 "
			     "AND status <> 'removed'",
			     2},
	[ST_WS_SELECT] = {"SELECT " WS_COLS " FROM workspaces WHERE id = $1::uuid", 1},
	[ST_WS_SELECT_FOR_UPDATE] = {"SELECT " WS_COLS " FROM workspaces WHERE id = $1::uuid FOR UPDATE", 1},
	[ST_WS_UPDATE] = {"UPDATE workspaces SET parent_id = $2::uuid, name = $3, role = $4, "
			  "runtime = $5, tier = $6::bigint, url = $7, max_concurrent_tasks = "
			  "$8::bigint, status = $9, updated_at = $10::bigint WHERE id = $1::uuid "
			  "RETURNING " WS_COLS,
			  10},
	[ST_WS_IS_ANCESTOR] = {"WITH RECURSIVE up(id) AS (SELECT $1::uuid UNION SELECT w.parent_id "
			       "FROM workspaces w JOIN up ON w.id = up.id WHERE w.parent_id IS NOT "
			       "NULL) SELECT 1 FROM up WHERE id = $2::uuid",
			       2},
	[ST_WS_LIVE_CHILDREN] = {"SELECT " WS_COLS " FROM workspaces WHERE parent_id = $1::uuid AND "
				 "status <> 'removed' ORDER BY id",
				 1},
	[ST_WS_SUBTREE_REMOVE] = {SUBTREE "UPDATE workspaces SET status = 'removed', removed_at = "
					  "$2::bigint, updated_at = $2::bigint WHERE id IN (SELECT id "
					  "FROM sub) AND status <> 'removed' RETURNING id",
				  2},
	/* SPEC §2: removing workspaces disables their schedules, in the same transaction.
	 * The row locks also order it against a scheduler's compare-and-set fire. */
	[ST_WS_SUBTREE_DISABLE_SCHEDULES] = {SUBTREE "UPDATE schedules SET enabled = 0, next_run_at = "
						     "NULL, updated_at = $2::bigint WHERE workspace_id IN "
						     "(SELECT id FROM sub) AND enabled = 1",
					     2},
	[ST_WS_SUBTREE_PURGE] = {SUBTREE "DELETE FROM workspaces WHERE id IN (SELECT id FROM sub) "
					 "RETURNING id",
				 1},
	/* SPEC §2: removing workspaces revokes their tokens, in the same transaction, by a
	 * statement run AFTER the removal: its snapshot then holds every token whose create
	 * (FOR SHARE on its workspace) the removal waited for (pg_auth.c note 1). A purge
	 * deletes them with their workspaces (ON DELETE CASCADE). */
	[ST_WS_SUBTREE_REVOKE_TOKENS] = {SUBTREE "UPDATE workspace_tokens SET revoked_at = $2::bigint "
						 "WHERE workspace_id IN (SELECT id FROM sub) AND "
						 "revoked_at IS NULL",
					 2},
	[ST_WS_LIST] = {"SELECT " WS_COLS " FROM workspaces WHERE ($1::int = 0 OR ($2::uuid IS NULL "
			"AND parent_id IS NULL) OR parent_id = $2::uuid) AND ($3::text IS NULL OR "
			"status = $3::text) AND ($4::int = 1 OR $3::text IS NOT NULL OR status <> "
			"'removed') AND id > $5::uuid ORDER BY id LIMIT $6::int",
			6},
	[ST_WS_STATUS] = {"SELECT status FROM workspaces WHERE id = $1::uuid", 1},
	[ST_MEM_GET] = {"SELECT w.status, m.value, m.version, m.expires_at, m.updated_at FROM "
			"workspaces w LEFT JOIN memory m ON m.workspace_id = w.id AND m.key = $2 AND "
			"(m.expires_at IS NULL OR m.expires_at > $3::bigint) WHERE w.id = $1::uuid",
			3},
	[ST_MEM_LIST] = {"SELECT key, value, version, expires_at, updated_at FROM memory WHERE "
			 "workspace_id = $1::uuid AND key >= $2::text AND ($3::text IS NULL OR key < "
			 "$3::text) AND key > $4::text AND (expires_at IS NULL OR expires_at > "
			 "$5::bigint) ORDER BY key LIMIT $6::int",
			 6},
	/* The three writes each decide in one statement; the workspace must be live. */
	[ST_MEM_UPSERT] = {"INSERT INTO memory AS m (workspace_id, key, value, version, expires_at, "
			   "updated_at) SELECT w.id, $2, $3, 1, $4::bigint, $5::bigint FROM "
			   "workspaces w WHERE w.id = $1::uuid AND w.status <> 'removed' ON CONFLICT "
			   "(workspace_id, key) DO UPDATE SET value = excluded.value, version = CASE "
			   "WHEN m.expires_at IS NOT NULL AND m.expires_at <= $5::bigint THEN 1 ELSE "
			   "m.version + 1 END, expires_at = excluded.expires_at, updated_at = "
			   "excluded.updated_at RETURNING m.version",
			   5},
	[ST_MEM_CREATE] = {"INSERT INTO memory AS m (workspace_id, key, value, version, expires_at, "
			   "updated_at) SELECT w.id, $2, $3, 1, $4::bigint, $5::bigint FROM "
			   "workspaces w WHERE w.id = $1::uuid AND w.status <> 'removed' ON CONFLICT "
			   "(workspace_id, key) DO UPDATE SET value = excluded.value, version = 1, "
			   "expires_at = excluded.expires_at, updated_at = excluded.updated_at WHERE "
			   "m.expires_at IS NOT NULL AND m.expires_at <= $5::bigint RETURNING m.version",
			   5},
	[ST_MEM_CAS] = {"UPDATE memory m SET value = $3, version = m.version + 1, expires_at = "
			"$4::bigint, updated_at = $5::bigint FROM workspaces w WHERE w.id = "
			"m.workspace_id AND w.status <> 'removed' AND m.workspace_id = $1::uuid AND "
			"m.key = $2 AND m.version = $6::bigint AND (m.expires_at IS NULL OR "
			"m.expires_at > $5::bigint) RETURNING m.version",
			6},
	/* After a write changed nothing: why? (workspace absent/removed, or the version) */
	[ST_MEM_DIAGNOSE] = {"SELECT w.status, m.version FROM workspaces w LEFT JOIN memory m ON "
			     "m.workspace_id = w.id AND m.key = $2 AND (m.expires_at IS NULL OR "
			     "m.expires_at > $3::bigint) WHERE w.id = $1::uuid",
			     3},
	[ST_MEM_DELETE] = {"DELETE FROM memory m USING workspaces w WHERE w.id = m.workspace_id AND "
			   "w.status <> 'removed' AND m.workspace_id = $1::uuid AND m.key = $2 AND "
			   "(m.expires_at IS NULL OR m.expires_at > $3::bigint) AND ($4::bigint < 0 OR "
			   "m.version = $4::bigint) RETURNING m.version",
			   4},
	[ST_HEALTH] = {"SELECT 1", 0},
};

/* ------------------------------------------------------------------------------------ */
/* Connections and errors                                                               */
/* ------------------------------------------------------------------------------------ */


/* Translates a failed result (or a dead connection) into a core code. The one place. */
int pg_fail(pg_conn *c, PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(c->conn);
	char clean[200];
	snprintf(clean, sizeof clean, "%s", msg && *msg ? msg : "no message");
	clean[strcspn(clean, "\n")] = 0;
	if (PQstatus(c->conn) != CONNECTION_OK || !state || !strncmp(state, "08", 2) ||
	    !strncmp(state, "57P", 3) || !strncmp(state, "53", 2)) {
		c->broken = true;
		return co_err_set(CO_EUNAVAIL, "database unavailable (%s): %s", what, clean);
	}
	if (!strcmp(state, "40001") || !strcmp(state, "40P01"))
		return co_err_set(PG_ERETRY, "retry (%s): %s", what, clean);
	if (!strcmp(state, "55P03") || !strcmp(state, "57014")) /* lock or statement timeout */
		return co_err_set(CO_EUNAVAIL, "database busy (%s): %s", what, clean);
	if (!strcmp(state, "23505"))
		return co_err_set(CO_EEXISTS, "already exists (%s)", what);
	if (!strcmp(state, "23503"))
		return co_err_set(CO_ENOTFOUND, "workspace not found (%s)", what);
	if (!strncmp(state, "22", 2))
		return co_err_set(CO_EINVAL, "invalid value (%s): %s", what, clean);
	return co_err_set(CO_EINTERNAL, "database error %s (%s): %s", state, what, clean);
}

static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message; /* "relation already exists, skipping" and the like */
}

static int conn_open(pg_store *s, pg_conn *c)
{
	memset(c->prepared, 0, sizeof c->prepared);
	c->broken = false;
	c->conn = PQconnectdb(s->conninfo);
	if (PQstatus(c->conn) != CONNECTION_OK) {
		char msg[200];
		snprintf(msg, sizeof msg, "%s", PQerrorMessage(c->conn));
		msg[strcspn(msg, "\n")] = 0;
		PQfinish(c->conn);
		c->conn = NULL;
		return co_err_set(CO_EUNAVAIL, "cannot connect to PostgreSQL: %s", msg);
	}
	PQsetNoticeProcessor(c->conn, ignore_notice, NULL);
	/* The design (DESIGN NOTE 2) assumes READ COMMITTED whatever the database's default:
	 * under REPEATABLE READ a move's cycle check would read a snapshot older than the
	 * tree lock it waited for. Keys and values are UTF-8. */
	const char *enc = PQparameterStatus(c->conn, "server_encoding");
	if (!enc || (strcmp(enc, "UTF8") && strcmp(enc, "SQL_ASCII"))) {
		PQfinish(c->conn);
		c->conn = NULL;
		return co_err_set(CO_EINVAL, "the PostgreSQL database must use UTF8 encoding (it uses %s)",
				  enc ? enc : "an unknown encoding");
	}
	PGresult *r = PQexec(c->conn, "SET default_transaction_isolation = 'read committed'; "
				      "SET client_encoding = 'UTF8'");
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (!ok) {
		PQfinish(c->conn);
		c->conn = NULL;
		return co_err_set(CO_EUNAVAIL, "cannot configure the PostgreSQL session");
	}
	return CO_OK;
}

pg_conn *pg_conn_get(pg_store *s)
{
	pthread_mutex_lock(&s->mu);
	while (s->nfree == 0)
		pthread_cond_wait(&s->cv, &s->mu);
	pg_conn *c = &s->conns[s->free_conns[--s->nfree]];
	pthread_mutex_unlock(&s->mu);
	if (c->broken || !c->conn || PQstatus(c->conn) != CONNECTION_OK) {
		if (c->conn)
			PQfinish(c->conn);
		c->conn = NULL;
		conn_open(s, c); /* on failure c->conn stays NULL: the call answers 503 */
	}
	return c;
}

void pg_conn_put(pg_store *s, pg_conn *c)
{
	if (c->conn && PQtransactionStatus(c->conn) != PQTRANS_IDLE)
		c->broken = true; /* never hand out a connection inside a transaction */
	pthread_mutex_lock(&s->mu);
	s->free_conns[s->nfree++] = (int)(c - s->conns);
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Runs the statement in cache slot `slot` (prepared on this connection on first use)
 * with text parameters (NULL = SQL NULL). On CO_OK *out is the result (PQclear it); on
 * failure the error is set and *out is NULL. */
static int run_slot(pg_conn *c, int slot, const char *sql, int nparams, const char *const *params,
		    PGresult **out)
{
	*out = NULL;
	if (!c->conn)
		return co_err_set(CO_EUNAVAIL, "no database connection");
	if (slot >= PG_STMT_MAX)
		return co_err_set(CO_EINTERNAL, "too many statements: raise PG_STMT_MAX");
	char name[16];
	snprintf(name, sizeof name, "s%d", slot);
	uint64_t bit = 1ULL << (slot % 64);
	if (!(c->prepared[slot / 64] & bit)) {
		PGresult *p = PQprepare(c->conn, name, sql, nparams, NULL);
		if (PQresultStatus(p) != PGRES_COMMAND_OK) {
			int rc = pg_fail(c, p, "preparing");
			PQclear(p);
			return rc;
		}
		PQclear(p);
		c->prepared[slot / 64] |= bit;
	}
	PGresult *res = PQexecPrepared(c->conn, name, nparams, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		int rc = pg_fail(c, res, "running a statement");
		PQclear(res);
		return rc;
	}
	*out = res;
	return CO_OK;
}

/* Runs this file's statement `id`; see run_slot. */
static int run(pg_conn *c, int id, const char *const *params, PGresult **out)
{
	return run_slot(c, id, stmts[id].sql, stmts[id].nparams, params, out);
}

_Static_assert(ST_COUNT < PG_STMT_MAX, "raise PG_STMT_MAX");
static int next_dyn_slot = ST_COUNT; /* guarded by dyn_slot_mu */
static pthread_mutex_t dyn_slot_mu = PTHREAD_MUTEX_INITIALIZER;

int pg_run(pg_conn *c, pg_sql *q, const char *const *params, PGresult **out)
{
	int slot = atomic_load(&q->slot);
	if (slot == 0) { /* first use in the process: assign once, never burn a number */
		pthread_mutex_lock(&dyn_slot_mu);
		if ((slot = atomic_load(&q->slot)) == 0)
			atomic_store(&q->slot, slot = next_dyn_slot++);
		pthread_mutex_unlock(&dyn_slot_mu);
	}
	return run_slot(c, slot, q->sql, q->nparams, params, out);
}

int pg_run0(pg_conn *c, pg_sql *q, const char *const *params)
{
	PGresult *res;
	int rc = pg_run(c, q, params, &res);
	PQclear(res);
	return rc;
}

/* A single statement outside pg_in_tx() has no transaction to retry: a serialization
 * failure or deadlock there is answered as "busy, try again" (503), never as a 500. */
int pg_no_retry(int rc)
{
	return rc == PG_ERETRY ? co_err_set(CO_EUNAVAIL, "%s", co_err_msg()) : rc;
}

/* run() for statements whose rows are not needed. */
static int run0(pg_conn *c, int id, const char *const *params)
{
	PGresult *res;
	int rc = run(c, id, params, &res);
	PQclear(res);
	return rc;
}

static int pg_simple(pg_conn *c, const char *sql)
{
	if (!c->conn)
		return co_err_set(CO_EUNAVAIL, "no database connection");
	PGresult *res = PQexec(c->conn, sql);
	int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? CO_OK : pg_fail(c, res, "transaction control");
	PQclear(res);
	return rc;
}

/* Runs fn(c, arg) in a transaction on a pooled connection, retrying it whole on a
 * serialization failure or deadlock. fn must leave its outputs only on CO_OK, or be
 * safe to run again. When the calling thread has a current audit entry (store.h note 6),
 * a successful fn is followed, before COMMIT and in the same transaction, by its audit
 * record (pg_audit.c): both commit or neither does; a failed append rolls fn back. */
int pg_in_tx(pg_store *s, int (*fn)(pg_conn *, void *), void *arg)
{
	pg_conn *c = pg_conn_get(s);
	const co_audit_entry *audit = co_audit_get();
	int rc = CO_OK;
	for (int attempt = 0; attempt < MAX_RETRIES; attempt++) {
		rc = pg_simple(c, "BEGIN ISOLATION LEVEL READ COMMITTED");
		if (rc == CO_OK)
			rc = fn(c, arg);
		if (rc == CO_OK && audit)
			rc = pg_audit_append(c, audit);
		if (rc == CO_OK)
			rc = pg_simple(c, "COMMIT");
		else if (c->conn && PQtransactionStatus(c->conn) != PQTRANS_IDLE) {
			char msg[CO_ERR_MSG_MAX];
			snprintf(msg, sizeof msg, "%s", co_err_msg());
			pg_simple(c, "ROLLBACK");
			co_err_set(rc, "%s", msg);
		}
		if (rc != PG_ERETRY)
			break;
	}
	if (rc == PG_ERETRY)
		rc = co_err_set(CO_EUNAVAIL, "gave up after %d serialization retries", MAX_RETRIES);
	pg_conn_put(s, c);
	return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Workspaces                                                                           */
/* ------------------------------------------------------------------------------------ */

char *pg_val(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

int64_t pg_ival(PGresult *r, int row, int col)
{
	const char *v = pg_val(r, row, col);
	return v ? strtoll(v, NULL, 10) : 0;
}

char *pg_dup(const char *v) { return v ? strdup(v) : NULL; }

void pg_id(PGresult *r, int row, int col, co_id *out)
{
	const char *v = pg_val(r, row, col);
	snprintf(out->s, sizeof out->s, "%s", v ? v : "");
}

int pg_collect(PGresult *r, void **items, size_t *n, size_t size,
	       int (*read)(PGresult *r, int row, void *item))
{
	int rows = PQntuples(r);
	if (rows == 0)
		return CO_OK;
	if (!(*items = calloc((size_t)rows, size)))
		return co_err_set(CO_ENOMEM, "out of memory");
	for (int i = 0; i < rows; i++) {
		int rc = read(r, i, (char *)*items + *n * size);
		if (rc)
			return rc;
		(*n)++;
	}
	return CO_OK;
}

const char *pg_i64(char buf[24], int64_t v)
{
	snprintf(buf, 24, "%lld", (long long)v);
	return buf;
}

int pg_check_ws_writable(pg_conn *c, const co_id *ws, co_conflict *conflict)
{
	const char *p[] = {ws->s};
	PGresult *r;
	int rc = run(c, ST_WS_STATUS_SHARE, p, &r);
	if (rc)
		return rc;
	if (PQntuples(r) == 0)
		rc = co_err_set(CO_ENOTFOUND, "workspace %s not found", ws->s);
	else if (!strcmp(pg_val(r, 0, 0), "removed")) {
		conflict->kind = CO_CONFLICT_REMOVED;
		rc = co_err_set(CO_ECONFLICT, "workspace %s is removed", ws->s);
	}
	PQclear(r);
	return rc;
}

static int read_ws(PGresult *r, int row, co_workspace *w)
{
	memset(w, 0, sizeof *w);
	snprintf(w->id.s, sizeof w->id.s, "%s", pg_val(r, row, 0));
	if (pg_val(r, row, 1)) {
		w->has_parent = true;
		snprintf(w->parent_id.s, sizeof w->parent_id.s, "%s", pg_val(r, row, 1));
	}
	w->name = pg_dup(pg_val(r, row, 2));
	w->role = pg_dup(pg_val(r, row, 3));
	w->runtime = pg_dup(pg_val(r, row, 4));
	if ((w->has_tier = pg_val(r, row, 5) != NULL))
		w->tier = pg_ival(r, row, 5);
	w->url = pg_dup(pg_val(r, row, 6));
	if ((w->has_max_tasks = pg_val(r, row, 7) != NULL))
		w->max_concurrent_tasks = pg_ival(r, row, 7);
	co_ws_status_parse(pg_val(r, row, 8), &w->status);
	w->created_at = pg_ival(r, row, 9);
	w->updated_at = pg_ival(r, row, 10);
	w->removed_at = pg_ival(r, row, 11);
	if (!w->name) {
		co_workspace_clear(w);
		return co_err_set(CO_ENOMEM, "out of memory reading a workspace");
	}
	return CO_OK;
}

static int select_ws(pg_conn *c, int id_stmt, const char *id, co_workspace *out)
{
	const char *p[] = {id};
	PGresult *r;
	int rc = run(c, id_stmt, p, &r);
	if (rc)
		return rc;
	if (PQntuples(r) == 0)
		rc = co_err_set(CO_ENOTFOUND, "workspace %s not found", id);
	else
		rc = read_ws(r, 0, out);
	PQclear(r);
	return rc;
}

static int collect_ws(PGresult *r, co_ws_list *out)
{
	int n = PQntuples(r);
	if (n == 0)
		return CO_OK;
	out->items = calloc((size_t)n, sizeof *out->items);
	if (!out->items)
		return co_err_set(CO_ENOMEM, "out of memory listing workspaces");
	for (int i = 0; i < n; i++) {
		int rc = read_ws(r, i, &out->items[i]);
		if (rc)
			return rc;
		out->n++;
	}
	return CO_OK;
}

int pg_tree_lock(pg_conn *c, bool exclusive)
{
	char key[24];
	snprintf(key, sizeof key, "%lld", (long long)TREE_LOCK);
	const char *p[] = {key};
	return run0(c, exclusive ? ST_TREE_LOCK : ST_TREE_LOCK_SHARED, p);
}

/* The parent must exist and be live; FOR SHARE keeps it so until we commit. */
static int check_parent(pg_conn *c, const co_id *parent)
{
	const char *p[] = {parent->s};
	PGresult *r;
	int rc = run(c, ST_WS_STATUS_SHARE, p, &r);
	if (rc)
		return rc;
	if (PQntuples(r) == 0)
		rc = co_err_set(CO_ENOTFOUND, "parent workspace %s not found", parent->s);
	else if (!strcmp(pg_val(r, 0, 0), "removed"))
		rc = co_err_set(CO_ENOTFOUND, "parent workspace %s is removed", parent->s);
	PQclear(r);
	return rc;
}

/* Names the live holder of (parent, name) in conflict; CO_EEXISTS, or PG_ERETRY if the
 * holder vanished in between (then the insert may succeed on a retry). */
static int name_taken(pg_conn *c, const co_workspace *w, co_conflict *conflict)
{
	const char *p[] = {w->has_parent ? w->parent_id.s : NULL, w->name};
	PGresult *r;
	int rc = run(c, ST_WS_FIND_LIVE, p, &r);
	if (rc)
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return co_err_set(PG_ERETRY, "the holder of the name went away; retrying");
	}
	conflict->kind = CO_CONFLICT_NAME_TAKEN;
	snprintf(conflict->existing_id.s, sizeof conflict->existing_id.s, "%s", pg_val(r, 0, 0));
	PQclear(r);
	return co_err_set(CO_EEXISTS, "a workspace named '%s' already exists under this parent",
			  w->name);
}

/* Fills params 2..10 of ST_WS_INSERT / ST_WS_UPDATE from w. num holds the text of the
 * integer columns. */
static void ws_params(const co_workspace *w, const char **p, char num[3][24], co_usec_t now)
{
	p[1] = w->has_parent ? w->parent_id.s : NULL;
	p[2] = w->name;
	p[3] = w->role;
	p[4] = w->runtime;
	snprintf(num[0], 24, "%lld", (long long)w->tier);
	p[5] = w->has_tier ? num[0] : NULL;
	p[6] = w->url;
	snprintf(num[1], 24, "%lld", (long long)w->max_concurrent_tasks);
	p[7] = w->has_max_tasks ? num[1] : NULL;
	p[8] = co_ws_status_name(w->status);
	snprintf(num[2], 24, "%lld", (long long)now);
	p[9] = num[2];
}

struct ws_create_args {
	const co_workspace *in;
	co_workspace *out;
	co_conflict *conflict;
};

static int tx_ws_create(pg_conn *c, void *arg)
{
	struct ws_create_args *a = arg;
	int rc = pg_tree_lock(c, false);
	if (rc == CO_OK && a->in->has_parent)
		rc = check_parent(c, &a->in->parent_id);
	if (rc)
		return rc;
	co_id id;
	if ((rc = co_id_new(&id)))
		return rc;
	const char *p[10];
	char num[3][24];
	p[0] = id.s;
	ws_params(a->in, p, num, co_clock_now_us());
	PGresult *r;
	if ((rc = run(c, ST_WS_INSERT, p, &r)))
		return rc;
	if (PQntuples(r) == 0)
		rc = name_taken(c, a->in, a->conflict);
	else
		rc = read_ws(r, 0, a->out);
	PQclear(r);
	return rc;
}

static int pg_ws_create(co_store *s, const co_workspace *in, co_workspace *out, co_conflict *conflict)
{
	struct ws_create_args a = {in, out, conflict};
	return pg_in_tx((pg_store *)s, tx_ws_create, &a);
}

static int pg_ws_get(co_store *base, const co_id *id, co_workspace *out)
{
	pg_store *s = (pg_store *)base;
	pg_conn *c = pg_conn_get(s);
	int rc = select_ws(c, ST_WS_SELECT, id->s, out);
	pg_conn_put(s, c);
	return pg_no_retry(rc);
}

static int pg_ws_list(co_store *base, const co_ws_filter *f, co_ws_list *out)
{
	pg_store *s = (pg_store *)base;
	char limit[16];
	snprintf(limit, sizeof limit, "%d", f->limit);
	const char *p[] = {
		f->by_parent ? "1" : "0",
		f->by_parent && !f->parent_is_null ? f->parent_id.s : NULL,
		f->by_status ? co_ws_status_name(f->status) : NULL,
		f->include_removed ? "1" : "0",
		f->has_after ? f->after.s : NIL_UUID,
		limit,
	};
	pg_conn *c = pg_conn_get(s);
	PGresult *r;
	int rc = run(c, ST_WS_LIST, p, &r);
	if (rc == CO_OK)
		rc = collect_ws(r, out);
	PQclear(r);
	pg_conn_put(s, c);
	return pg_no_retry(rc);
}

struct ws_patch_args {
	const co_id *id;
	const co_ws_patch *p;
	co_workspace *out;
	co_conflict *conflict;
	bool name_clash; /* the UPDATE hit the unique index: name the holder after rollback */
	co_workspace wanted;
};

static int tx_ws_patch(pg_conn *c, void *arg)
{
	struct ws_patch_args *a = arg;
	const co_ws_patch *p = a->p;
	bool moving = p->fields & CO_WSF_PARENT;
	int rc = pg_tree_lock(c, moving);
	if (rc)
		return rc;
	co_workspace w;
	if ((rc = select_ws(c, ST_WS_SELECT_FOR_UPDATE, a->id->s, &w)))
		return rc;
	if (w.status == CO_WS_REMOVED) {
		co_workspace_clear(&w);
		a->conflict->kind = CO_CONFLICT_REMOVED;
		return co_err_set(CO_ECONFLICT, "workspace %s is removed", a->id->s);
	}
	/* The patch's fields over the current row (the parent is checked below). */
	rc = co_ws_apply_patch(&w, p);
	if (rc == CO_OK && moving) {
		if (w.has_parent && (rc = check_parent(c, &w.parent_id)) == CO_OK) {
			/* under the exclusive tree lock: is w the new parent or above it? */
			const char *q[] = {w.parent_id.s, w.id.s};
			PGresult *r;
			if ((rc = run(c, ST_WS_IS_ANCESTOR, q, &r)) == CO_OK) {
				if (PQntuples(r) > 0) {
					a->conflict->kind = CO_CONFLICT_CYCLE;
					rc = co_err_set(CO_ECONFLICT,
							"moving workspace %s under %s would make a cycle",
							w.id.s, w.parent_id.s);
				}
				PQclear(r);
			}
		}
	}
	if (rc == CO_OK) {
		const char *q[10];
		char num[3][24];
		q[0] = w.id.s;
		ws_params(&w, q, num, co_clock_now_us());
		PGresult *r;
		rc = run(c, ST_WS_UPDATE, q, &r);
		if (rc == CO_OK) {
			rc = read_ws(r, 0, a->out);
			PQclear(r);
		} else if (rc == CO_EEXISTS) {
			a->name_clash = true; /* the transaction is aborted: look up after it */
			co_workspace_clear(&a->wanted);
			a->wanted = w;
			memset(&w, 0, sizeof w);
		}
	}
	co_workspace_clear(&w);
	return rc;
}

static int pg_ws_patch(co_store *base, const co_id *id, const co_ws_patch *p, co_workspace *out,
		       co_conflict *conflict)
{
	pg_store *s = (pg_store *)base;
	struct ws_patch_args a = {.id = id, .p = p, .out = out, .conflict = conflict};
	int rc = pg_in_tx(s, tx_ws_patch, &a);
	if (rc == CO_EEXISTS && a.name_clash) {
		pg_conn *c = pg_conn_get(s);
		rc = name_taken(c, &a.wanted, conflict);
		if (rc == PG_ERETRY)
			rc = co_err_set(CO_EUNAVAIL, "the name's holder changed concurrently; retry");
		pg_conn_put(s, c);
	}
	co_workspace_clear(&a.wanted);
	return rc;
}

struct ws_delete_args {
	const co_id *id;
	const co_ws_delete_opts *o;
	co_id_list *out;
	co_conflict *conflict;
};

static int tx_ws_delete(pg_conn *c, void *arg)
{
	struct ws_delete_args *a = arg;
	int rc = pg_tree_lock(c, true);
	if (rc)
		return rc;
	const char *p[] = {a->id->s, NULL};
	PGresult *r;
	if ((rc = run(c, ST_WS_STATUS, p, &r)))
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return co_err_set(CO_ENOTFOUND, "workspace %s not found", a->id->s);
	}
	bool removed = !strcmp(pg_val(r, 0, 0), "removed");
	PQclear(r);
	if (!removed && !a->o->confirm) {
		if ((rc = run(c, ST_WS_LIVE_CHILDREN, p, &r)))
			return rc;
		co_ws_list_clear(&a->conflict->children);
		rc = collect_ws(r, &a->conflict->children);
		PQclear(r);
		if (rc)
			return rc;
		if (a->conflict->children.n > 0) {
			a->conflict->kind = CO_CONFLICT_CONFIRM;
			return co_err_set(CO_ECONFLICT,
					  "workspace %s has %zu live children; repeat with "
					  "?confirm=true to remove them all",
					  a->id->s, a->conflict->children.n);
		}
	}
	if (removed && !a->o->purge)
		return CO_OK;
	char now[24];
	snprintf(now, sizeof now, "%lld", (long long)co_clock_now_us());
	p[1] = now;
	if (!a->o->purge) {
		if ((rc = run(c, ST_WS_SUBTREE_DISABLE_SCHEDULES, p, &r)))
			return rc;
		PQclear(r);
	}
	if ((rc = run(c, a->o->purge ? ST_WS_SUBTREE_PURGE : ST_WS_SUBTREE_REMOVE, p, &r)))
		return rc;
	int n = PQntuples(r);
	co_id_list_clear(a->out);
	if (n > 0 && !(a->out->ids = calloc((size_t)n, sizeof *a->out->ids))) {
		PQclear(r);
		return co_err_set(CO_ENOMEM, "out of memory");
	}
	for (int i = 0; i < n; i++)
		snprintf(a->out->ids[a->out->n++].s, sizeof(co_id), "%s", pg_val(r, i, 0));
	PQclear(r);
	return a->o->purge ? CO_OK : run0(c, ST_WS_SUBTREE_REVOKE_TOKENS, p);
}

static int pg_ws_delete(co_store *s, const co_id *id, const co_ws_delete_opts *o, co_id_list *out,
			co_conflict *conflict)
{
	struct ws_delete_args a = {id, o, out, conflict};
	return pg_in_tx((pg_store *)s, tx_ws_delete, &a);
}

/* ------------------------------------------------------------------------------------ */
/* Memory                                                                               */
/* ------------------------------------------------------------------------------------ */

static int pg_mem_get(co_store *base, const co_id *ws, const char *key, co_mem_entry *out)
{
	pg_store *s = (pg_store *)base;
	char now[24];
	snprintf(now, sizeof now, "%lld", (long long)co_clock_now_us());
	const char *p[] = {ws->s, key, now};
	pg_conn *c = pg_conn_get(s);
	PGresult *r;
	int rc = run(c, ST_MEM_GET, p, &r);
	if (rc == CO_OK) {
		if (PQntuples(r) == 0) {
			rc = co_err_set(CO_ENOTFOUND, "workspace %s not found", ws->s);
		} else if (!pg_val(r, 0, 2)) {
			rc = co_err_set(CO_ENOTFOUND, "key not found");
		} else {
			memset(out, 0, sizeof *out);
			out->key = strdup(key);
			out->value_json = pg_dup(pg_val(r, 0, 1));
			out->version = pg_ival(r, 0, 2);
			out->expires_at = pg_ival(r, 0, 3);
			out->updated_at = pg_ival(r, 0, 4);
			rc = out->key && out->value_json ? CO_OK : co_err_set(CO_ENOMEM, "out of memory");
		}
		PQclear(r);
	}
	pg_conn_put(s, c);
	return pg_no_retry(rc);
}

static int pg_mem_list(co_store *base, const co_id *ws, const co_mem_filter *f, co_mem_list *out)
{
	pg_store *s = (pg_store *)base;
	const char *prefix = f->prefix ? f->prefix : "";
	char *upper = malloc(strlen(prefix) + 5);
	if (!upper)
		return co_err_set(CO_ENOMEM, "out of memory");
	bool bounded = co_mem_prefix_upper(prefix, upper);
	char now[24], limit[16];
	snprintf(now, sizeof now, "%lld", (long long)co_clock_now_us());
	snprintf(limit, sizeof limit, "%d", f->limit);
	const char *p[] = {ws->s, prefix, bounded ? upper : NULL, f->after ? f->after : "", now, limit};
	pg_conn *c = pg_conn_get(s);
	PGresult *r = NULL;
	const char *q[] = {ws->s};
	int rc = run(c, ST_WS_STATUS, q, &r);
	if (rc == CO_OK && PQntuples(r) == 0)
		rc = co_err_set(CO_ENOTFOUND, "workspace %s not found", ws->s);
	PQclear(r);
	if (rc == CO_OK)
		rc = run(c, ST_MEM_LIST, p, &r);
	if (rc == CO_OK) {
		int n = PQntuples(r);
		if (n > 0 && !(out->items = calloc((size_t)n, sizeof *out->items)))
			rc = co_err_set(CO_ENOMEM, "out of memory");
		for (int i = 0; rc == CO_OK && i < n; i++) {
			co_mem_entry *e = &out->items[out->n++];
			e->key = pg_dup(pg_val(r, i, 0));
			e->value_json = pg_dup(pg_val(r, i, 1));
			e->version = pg_ival(r, i, 2);
			e->expires_at = pg_ival(r, i, 3);
			e->updated_at = pg_ival(r, i, 4);
			if (!e->key || !e->value_json)
				rc = co_err_set(CO_ENOMEM, "out of memory");
		}
		PQclear(r);
	}
	pg_conn_put(s, c);
	free(upper);
	return pg_no_retry(rc);
}

/* A write changed nothing: find out why and say it the way the contract does. */
static int diagnose(pg_conn *c, const co_id *ws, const char *key, const char *now, int64_t expected,
		    co_conflict *conflict)
{
	const char *p[] = {ws->s, key, now};
	PGresult *r;
	int rc = run(c, ST_MEM_DIAGNOSE, p, &r);
	if (rc)
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return co_err_set(CO_ENOTFOUND, "workspace %s not found", ws->s);
	}
	if (!strcmp(pg_val(r, 0, 0), "removed")) {
		PQclear(r);
		conflict->kind = CO_CONFLICT_REMOVED;
		return co_err_set(CO_ECONFLICT, "workspace %s is removed", ws->s);
	}
	int64_t cur = pg_ival(r, 0, 1);
	PQclear(r);
	conflict->kind = CO_CONFLICT_VERSION;
	conflict->current_version = cur;
	return co_mem_version_conflict(expected, cur);
}

/* Runs a memory write: as one autocommit statement, or — when the calling thread has a
 * current audit entry — inside pg_in_tx, so that its audit record commits with it
 * (pg_audit.c note 1). Either way one statement decides (DESIGN NOTE 2). */
static int mem_write(pg_store *s, int (*fn)(pg_conn *, void *), void *arg)
{
	if (co_audit_get())
		return pg_in_tx(s, fn, arg);
	pg_conn *c = pg_conn_get(s);
	int rc = fn(c, arg);
	pg_conn_put(s, c);
	return pg_no_retry(rc);
}

struct mem_put_args {
	const co_id *ws;
	const co_mem_put *put;
	int64_t *version_out;
	co_conflict *conflict;
};

static int mem_put_on(pg_conn *c, void *arg)
{
	struct mem_put_args *a = arg;
	const co_mem_put *put = a->put;
	co_usec_t t = co_clock_now_us();
	char now[24], exp[24], ver[24];
	snprintf(now, sizeof now, "%lld", (long long)t);
	snprintf(exp, sizeof exp, "%lld", (long long)(t + put->ttl_seconds * 1000000));
	snprintf(ver, sizeof ver, "%lld", (long long)put->if_match_version);
	const char *p[] = {a->ws->s, put->key, put->value_json, put->ttl_seconds > 0 ? exp : NULL,
			   now, ver};
	int id = put->if_match_version == CO_MEM_ANY ? ST_MEM_UPSERT
		 : put->if_match_version == 0        ? ST_MEM_CREATE
						     : ST_MEM_CAS;
	PGresult *r;
	int rc = run(c, id, p, &r); /* one statement decides */
	if (rc == CO_OK) {
		if (PQntuples(r) > 0)
			*a->version_out = pg_ival(r, 0, 0);
		else
			rc = diagnose(c, a->ws, put->key, now, put->if_match_version, a->conflict);
		PQclear(r);
	}
	return rc;
}

static int pg_mem_put(co_store *base, const co_id *ws, const co_mem_put *put, int64_t *version_out,
		      co_conflict *conflict)
{
	struct mem_put_args a = {ws, put, version_out, conflict};
	return mem_write((pg_store *)base, mem_put_on, &a);
}

struct mem_delete_args {
	const co_id *ws;
	const char *key;
	int64_t if_match_version;
	co_conflict *conflict;
};

static int mem_delete_on(pg_conn *c, void *arg)
{
	struct mem_delete_args *a = arg;
	char now[24], ver[24];
	snprintf(now, sizeof now, "%lld", (long long)co_clock_now_us());
	snprintf(ver, sizeof ver, "%lld", (long long)a->if_match_version);
	const char *p[] = {a->ws->s, a->key, now, ver};
	PGresult *r;
	int rc = run(c, ST_MEM_DELETE, p, &r);
	if (rc == CO_OK) {
		int n = PQntuples(r);
		PQclear(r);
		if (n == 0) {
			co_conflict *conflict = a->conflict;
			rc = diagnose(c, a->ws, a->key, now, a->if_match_version, conflict);
			if (conflict->kind == CO_CONFLICT_VERSION &&
			    (a->if_match_version == CO_MEM_ANY || conflict->current_version == 0)) {
				conflict->kind = CO_CONFLICT_NONE;
				rc = co_err_set(CO_ENOTFOUND, "key not found");
			}
		}
	}
	return rc;
}

static int pg_mem_delete(co_store *base, const co_id *ws, const char *key, int64_t if_match_version,
			 co_conflict *conflict)
{
	struct mem_delete_args a = {ws, key, if_match_version, conflict};
	return mem_write((pg_store *)base, mem_delete_on, &a);
}

/* ------------------------------------------------------------------------------------ */
/* Migrations and lifecycle                                                             */
/* ------------------------------------------------------------------------------------ */

static int migrate(pg_conn *c)
{
	int newest = co_pg_migrations_count;
	char lock[64];
	snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%lld)", (long long)MIGRATE_LOCK);
	for (;;) {
		int rc = pg_simple(c, "BEGIN");
		PGresult *r = NULL;
		if (rc == CO_OK) {
			r = PQexec(c->conn, lock);
			rc = PQresultStatus(r) == PGRES_TUPLES_OK ? CO_OK : pg_fail(c, r, "migration lock");
			PQclear(r);
		}
		if (rc == CO_OK)
			rc = pg_simple(c, "CREATE TABLE IF NOT EXISTS schema_migrations (version integer "
				       "PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)");
		int cur = 0;
		if (rc == CO_OK) {
			r = PQexec(c->conn, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
			if (PQresultStatus(r) == PGRES_TUPLES_OK)
				cur = atoi(PQgetvalue(r, 0, 0));
			else
				rc = pg_fail(c, r, "reading the schema version");
			PQclear(r);
		}
		if (rc == CO_OK && cur > newest)
			rc = co_err_set(CO_EINVAL,
					"database schema is version %d, newer than this colonyd "
					"(which knows up to %d); upgrade colonyd",
					cur, newest);
		if (rc == CO_OK && cur == newest)
			return pg_simple(c, "COMMIT");
		if (rc == CO_OK) {
			const co_migration *m = &co_pg_migrations[cur];
			r = PQexec(c->conn, m->up);
			rc = PQresultStatus(r) == PGRES_COMMAND_OK ? CO_OK : pg_fail(c, r, m->name);
			PQclear(r);
			if (rc == CO_OK) {
				char ins[256];
				snprintf(ins, sizeof ins,
					 "INSERT INTO schema_migrations VALUES (%d, '%s', %lld)",
					 m->version, m->name, (long long)co_clock_now_us());
				rc = pg_simple(c, ins);
			}
		}
		if (rc == CO_OK)
			rc = pg_simple(c, "COMMIT");
		if (rc) {
			char msg[CO_ERR_MSG_MAX];
			snprintf(msg, sizeof msg, "%s", co_err_msg());
			pg_simple(c, "ROLLBACK");
			return co_err_set(rc, "migrating PostgreSQL: %s", msg);
		}
	}
}

static int pg_health(co_store *base)
{
	pg_store *s = (pg_store *)base;
	pg_conn *c = pg_conn_get(s);
	int rc = run0(c, ST_HEALTH, NULL);
	pg_conn_put(s, c);
	return pg_no_retry(rc);
}

static void pg_close(co_store *base)
{
	pg_store *s = (pg_store *)base;
	for (int i = 0; i < s->nconns; i++)
		if (s->conns[i].conn)
			PQfinish(s->conns[i].conn);
	free(s->conns);
	free(s->free_conns);
	free(s->conninfo);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

static const co_store_ops pg_ops = {
	.version = CO_STORE_OPS_VERSION,
	.name = "postgres",
	.flags = 0, /* reads are network round trips: keep them off the event threads */
	.close = pg_close,
	.health = pg_health,
	.ws_create = pg_ws_create,
	.ws_get = pg_ws_get,
	.ws_list = pg_ws_list,
	.ws_patch = pg_ws_patch,
	.ws_delete = pg_ws_delete,
	.mem_get = pg_mem_get,
	.mem_list = pg_mem_list,
	.mem_put = pg_mem_put,
	.mem_delete = pg_mem_delete,
	.sched_create = pg_sched_create,
	.sched_get = pg_sched_get,
	.sched_list = pg_sched_list,
	.sched_patch = pg_sched_patch,
	.sched_delete = pg_sched_delete,
	.sched_history = pg_sched_history,
	.sched_due = pg_sched_due,
	.sched_fire = pg_sched_fire,
	.sched_mark = pg_sched_mark,
	.inbox_enqueue = pg_inbox_enqueue,
	.inbox_get = pg_inbox_get,
	.inbox_list = pg_inbox_list,
	.inbox_claim = pg_inbox_claim,
	.inbox_ack = pg_inbox_ack,
	.org_import = pg_org_import,
	.skill_append = pg_skill_append,
	.skill_get = pg_skill_get,
	.skill_versions = pg_skill_versions,
	.skill_list = pg_skill_list,
	.usage_add = pg_usage_add,
	.budget_get = pg_budget_get,
	.budget_patch = pg_budget_patch,
	.audit_list = pg_audit_list,
	.audit_verify = pg_audit_verify,
	.token_create = pg_token_create,
	.token_list = pg_token_list,
	.token_revoke = pg_token_revoke,
	.token_lookup = pg_token_lookup,
	.token_touch = pg_token_touch,
	.ws_lineage = pg_ws_lineage,
	.secret_put = pg_secret_put,
	.secret_delete = pg_secret_delete,
	.secret_list = pg_secret_list,
	.exec_batched = NULL, /* writes run on the HTTP worker pool */
};

bool co_pg_is_url(const char *url)
{
	if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13))
		return true;
	/* a keyword string: "key=value" first, e.g. "host=/tmp dbname=colony" */
	const char *p = url;
	while (isalnum((unsigned char)*p) || *p == '_')
		p++;
	while (*p == ' ')
		p++;
	return p != url && *p == '=';
}

int co_pg_open(const char *conninfo, const co_store_opts *opts, co_store **out)
{
	*out = NULL;
	pg_store *s = calloc(1, sizeof *s);
	if (!s)
		return co_err_set(CO_ENOMEM, "out of memory");
	s->base.ops = &pg_ops;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	int n = opts->pg_pool > 0 ? opts->pg_pool : 16;
	s->conninfo = strdup(conninfo);
	s->conns = calloc((size_t)n, sizeof *s->conns);
	s->free_conns = calloc((size_t)n, sizeof *s->free_conns);
	int rc = s->conninfo && s->conns && s->free_conns ? CO_OK : co_err_set(CO_ENOMEM, "out of memory");
	for (int i = 0; rc == CO_OK && i < n; i++) {
		rc = conn_open(s, &s->conns[i]);
		if (rc == CO_OK) {
			s->free_conns[s->nfree++] = i;
			s->nconns++;
		}
	}
	if (rc == CO_OK)
		rc = migrate(&s->conns[0]);
	if (rc) {
		char msg[CO_ERR_MSG_MAX];
		snprintf(msg, sizeof msg, "%s", co_err_msg());
		pg_close(&s->base);
		return co_err_set(rc, "%s", msg);
	}
	*out = &s->base;
	return CO_OK;
}
