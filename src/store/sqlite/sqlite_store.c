/*
 * sqlite_store.c — the SQLite backend: one database file, WAL, group commit.
 *
 * DESIGN NOTES
 *  1. Connections. One writer connection, owned by the writer thread and used by nobody
 *     else; a pool of reader connections (PRAGMA query_only) that any thread borrows for
 *     one call. Under WAL readers never wait for the writer and see the last commit.
 *  2. Group commit. Every mutation is an `sq_op`: a function run against the writer
 *     connection. Callers queue ops and sleep on their own semaphore. The writer takes
 *     whatever is queued (at most max_batch), runs it as ONE transaction begun
 *     IMMEDIATE — each op inside its own SAVEPOINT, so a failing op rolls back alone —
 *     and commits once. Under load the queue fills while the previous batch runs, so
 *     commits carry many writes; with one writer alone, an op commits on its own.
 *  2a. Pipelined durability. The writer connection runs synchronous=NORMAL: COMMIT
 *     writes the WAL frames but does not fsync them. A syncer thread fdatasync()s the
 *     WAL file and only then wakes the batch's callers, while the writer already runs
 *     the next batch — so the fsync (≈1 ms here) is off the writer's critical path.
 *     Rule: a caller is woken with CO_OK only after an fdatasync that began after the
 *     COMMIT containing its op returned. (Checkpoints sync the WAL before copying it,
 *     so a checkpoint never loses a frame the syncer has not reached.) Consequence: a
 *     reader may see a committed write up to one fsync before its writer is answered;
 *     only a power loss in that window could take it back, never a process crash.
 *  3. Atomicity. An op runs under the database write lock (IMMEDIATE), so its reads and
 *     writes are one atomic step against every other op of this process and of any
 *     other process on the file. Unique names are still enforced by the partial unique
 *     index (the loser sees SQLITE_CONSTRAINT_UNIQUE, answered CO_EEXISTS), not by the
 *     look-up that follows to name the holder.
 *  4. Invariant: a caller is told CO_OK only after the COMMIT that contains its op has
 *     returned SQLITE_OK and the WAL has been synced after it (2a). If BEGIN or COMMIT fails, or SQLite aborts the transaction
 *     mid-batch, every op of the batch is told CO_EUNAVAIL and nothing of it persists.
 *  5. Errors are translated to core codes in sq_fail() only.
 *  8. Read snapshots. Starting a read transaction costs SQLite two fcntl() calls (the
 *     WAL read lock), as much as the request's network I/O. So a reader connection keeps
 *     its read transaction between calls while (a) no commit has happened in this process
 *     since it began (commit_seq, bumped right after each COMMIT and so before any caller
 *     is answered: read-your-writes holds) and (b) it is under READ_SNAPSHOT_MAX_US old,
 *     which bounds how late another process's commits on the same file are seen. The
 *     writer ends idle stale snapshots every SWEEP_EVERY_US so the WAL can be reset.
 *  7. Executor (exec_batched). A whole request handler may run as a batch member: it
 *     runs on the writer thread, and the store write calls it makes there run inline
 *     (each in its own nested SAVEPOINT) in the batch transaction. Its `done` is called
 *     after COMMIT, with the commit's result. This saves the HTTP layer a thread hop and
 *     a sleeping thread per write.
 *  6. Times are integer µs (core/clock.h); a memory row with expires_at <= now is absent.
 */
#include "sqlite_store.h"

#include <stdatomic.h>
#include "../../core/err.h"
#include "migrate.h"
#include "sqlite_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------ */
/* Statements                                                                           */
/* ------------------------------------------------------------------------------------ */

#define WS_COLS                                                                              \
	"id, parent_id, name, role, runtime, tier, url, max_concurrent_tasks, status, "      \
	"created_at, updated_at, removed_at"
#define SUBTREE(p)                                                                           \
	"WITH RECURSIVE sub(id) AS (SELECT " p " UNION "                                     \
	"SELECT w.id FROM workspaces w JOIN sub ON w.parent_id = sub.id) "

enum {
	ST_BEGIN,
	ST_BEGIN_READ,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_SAVEPOINT_INNER,
	ST_RELEASE_INNER,
	ST_ROLLBACK_TO_INNER,
	ST_HEALTH,
	ST_WS_STATUS,
	ST_WS_INSERT,
	ST_WS_FIND_LIVE,
	ST_WS_SELECT,
	ST_WS_UPDATE,
	ST_WS_IS_ANCESTOR,
	ST_WS_LIVE_CHILDREN,
	ST_WS_SUBTREE_REMOVE,
	ST_WS_SUBTREE_PURGE,
	ST_WS_SUBTREE_DISABLE_SCHEDULES,
	ST_WS_SUBTREE_REVOKE_TOKENS,
	ST_WS_LIST,
	ST_MEM_GET,
	ST_MEM_LIST,
	ST_MEM_UPSERT,
	ST_MEM_CREATE,
	ST_MEM_CAS,
	ST_MEM_LIVE_VERSION,
	ST_MEM_DELETE,
	ST_COUNT
};

static const char *const sql_text[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_BEGIN_READ] = "BEGIN",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT op",
	[ST_RELEASE] = "RELEASE op",
	[ST_ROLLBACK_TO] = "ROLLBACK TO op",
	[ST_SAVEPOINT_INNER] = "SAVEPOINT inner",
	[ST_RELEASE_INNER] = "RELEASE inner",
	[ST_ROLLBACK_TO_INNER] = "ROLLBACK TO inner",
	[ST_HEALTH] = "SELECT COUNT(*) FROM schema_migrations",
	[ST_WS_STATUS] = "SELECT status FROM workspaces WHERE id = ?1",
	[ST_WS_INSERT] = "INSERT INTO workspaces (id, parent_id, name, role, runtime, tier, url, "
			 "max_concurrent_tasks, status, created_at, updated_at) "
			 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
	[ST_WS_FIND_LIVE] = "SELECT id FROM workspaces WHERE COALESCE(parent_id, '') = "
			    "COALESCE(?1, '') AND name = ?2 AND status <> 'removed'",
	[ST_WS_SELECT] = "SELECT " WS_COLS " FROM workspaces WHERE id = ?1",
	[ST_WS_UPDATE] = "UPDATE workspaces SET parent_id = ?2, name = ?3, role = ?4, runtime = ?5, "
			 "tier = ?6, url = ?7, max_concurrent_tasks = ?8, status = ?9, "
			 "updated_at = ?10 WHERE id = ?1",
	/* Is ?2 the workspace ?1 or one of its ancestors? */
	[ST_WS_IS_ANCESTOR] = "WITH RECURSIVE up(id) AS (SELECT ?1 UNION SELECT w.parent_id FROM "
			      "workspaces w JOIN up ON w.id = up.id WHERE w.parent_id IS NOT NULL) "
			      "SELECT 1 FROM up WHERE id = ?2",
	[ST_WS_LIVE_CHILDREN] = "SELECT " WS_COLS " FROM workspaces WHERE parent_id = ?1 AND "
				"status <> 'removed' ORDER BY id",
	[ST_WS_SUBTREE_REMOVE] = SUBTREE("?1") "UPDATE workspaces SET status = 'removed', "
					       "removed_at = ?2, updated_at = ?2 WHERE id IN "
					       "(SELECT id FROM sub) AND status <> 'removed' RETURNING id",
	/* SPEC §2: removing workspaces disables their schedules, in the same transaction. */
	[ST_WS_SUBTREE_DISABLE_SCHEDULES] = SUBTREE("?1") "UPDATE schedules SET enabled = 0, "
							  "next_run_at = NULL, updated_at = ?2 WHERE "
							  "workspace_id IN (SELECT id FROM sub) AND enabled = 1",
	[ST_WS_SUBTREE_PURGE] = SUBTREE("?1") "DELETE FROM workspaces WHERE id IN (SELECT id FROM "
					      "sub) RETURNING id",
	/* SPEC §2: removing workspaces revokes their tokens, in the same transaction. (A purge
	 * deletes them with their workspaces: ON DELETE CASCADE.) */
	[ST_WS_SUBTREE_REVOKE_TOKENS] = SUBTREE("?1") "UPDATE workspace_tokens SET revoked_at = ?2 "
						      "WHERE workspace_id IN (SELECT id FROM sub) AND "
						      "revoked_at IS NULL",
	[ST_WS_LIST] = "SELECT " WS_COLS " FROM workspaces WHERE "
		       "(?1 = 0 OR (?2 IS NULL AND parent_id IS NULL) OR parent_id = ?2) "
		       "AND (?3 IS NULL OR status = ?3) "
		       "AND (?4 = 1 OR ?3 IS NOT NULL OR status <> 'removed') "
		       "AND id > ?5 ORDER BY id LIMIT ?6",
	/* One statement tells absent workspace (no row) from absent key (NULL version). */
	[ST_MEM_GET] = "SELECT w.status, m.value, m.version, m.expires_at, m.updated_at "
		       "FROM workspaces w LEFT JOIN memory m ON m.workspace_id = w.id AND "
		       "m.key = ?2 AND (m.expires_at IS NULL OR m.expires_at > ?3) WHERE w.id = ?1",
	[ST_MEM_LIST] = "SELECT key, value, version, expires_at, updated_at FROM memory "
			"WHERE workspace_id = ?1 AND key >= ?2 AND key < ?3 AND key > ?4 "
			"AND (expires_at IS NULL OR expires_at > ?5) ORDER BY key LIMIT ?6",
	/* Last-write-wins: an expired row counts as absent, so it restarts at version 1. */
	[ST_MEM_UPSERT] = "INSERT INTO memory (workspace_id, key, value, version, expires_at, "
			  "updated_at) VALUES (?1, ?2, ?3, 1, ?4, ?5) "
			  "ON CONFLICT (workspace_id, key) DO UPDATE SET value = excluded.value, "
			  "version = CASE WHEN memory.expires_at IS NOT NULL AND "
			  "memory.expires_at <= ?5 THEN 1 ELSE memory.version + 1 END, "
			  "expires_at = excluded.expires_at, updated_at = excluded.updated_at "
			  "RETURNING version",
	/* Create-only: writes only over an absent or expired row; no row back = taken. */
	[ST_MEM_CREATE] = "INSERT INTO memory (workspace_id, key, value, version, expires_at, "
			  "updated_at) VALUES (?1, ?2, ?3, 1, ?4, ?5) "
			  "ON CONFLICT (workspace_id, key) DO UPDATE SET value = excluded.value, "
			  "version = 1, expires_at = excluded.expires_at, "
			  "updated_at = excluded.updated_at WHERE memory.expires_at IS NOT NULL "
			  "AND memory.expires_at <= ?5 RETURNING version",
	[ST_MEM_CAS] = "UPDATE memory SET value = ?3, version = version + 1, expires_at = ?4, "
		       "updated_at = ?5 WHERE workspace_id = ?1 AND key = ?2 AND version = ?6 "
		       "AND (expires_at IS NULL OR expires_at > ?5) RETURNING version",
	[ST_MEM_LIVE_VERSION] = "SELECT version FROM memory WHERE workspace_id = ?1 AND key = ?2 "
				"AND (expires_at IS NULL OR expires_at > ?3)",
	[ST_MEM_DELETE] = "DELETE FROM memory WHERE workspace_id = ?1 AND key = ?2 AND "
			  "(expires_at IS NULL OR expires_at > ?3) AND (?4 < 0 OR version = ?4) "
			  "RETURNING version",
};

/* ------------------------------------------------------------------------------------ */
/* Connections and errors                                                               */
/* ------------------------------------------------------------------------------------ */

#define READ_SNAPSHOT_MAX_US 2000
#define SWEEP_EVERY_US 20000


/* Translates a SQLite result code into a core code and message. The one place. */
int sq_fail(sq_conn *c, int rc, const char *what)
{
	const char *msg = c && c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return co_err_set(CO_EUNAVAIL, "database is busy (%s): %s", what, msg);
	case SQLITE_NOMEM:
		return co_err_set(CO_ENOMEM, "out of memory (%s)", what);
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_PROTOCOL:
		return co_err_set(CO_EUNAVAIL, "storage unavailable (%s): %s", what, msg);
	case SQLITE_CONSTRAINT:
		return co_err_set(CO_ECONFLICT, "constraint failed (%s): %s", what, msg);
	default:
		return co_err_set(CO_EINTERNAL, "storage error (%s): %s", what, msg);
	}
}

/* The prepared statement `id` of c, reset and unbound, or NULL with the error set. */
static sqlite3_stmt *sq_stmt(sq_conn *c, int id)
{
	if (!c->st[id]) {
		int rc = sqlite3_prepare_v3(c->db, sql_text[id], -1, SQLITE_PREPARE_PERSISTENT,
					    &c->st[id], NULL);
		if (rc != SQLITE_OK) {
			sq_fail(c, rc, "preparing a statement");
			return NULL;
		}
	}
	return c->st[id];
}

_Static_assert(ST_COUNT < SQ_STMT_MAX, "raise SQ_STMT_MAX");
static int next_dyn_slot = ST_COUNT; /* guarded by dyn_slot_mu */
static pthread_mutex_t dyn_slot_mu = PTHREAD_MUTEX_INITIALIZER;

sqlite3_stmt *sq_prep(sq_conn *c, sq_sql *q)
{
	int slot = atomic_load(&q->slot);
	if (slot == 0) { /* first use in the process: assign once, never burn a number */
		pthread_mutex_lock(&dyn_slot_mu);
		if ((slot = atomic_load(&q->slot)) == 0)
			atomic_store(&q->slot, slot = next_dyn_slot++);
		pthread_mutex_unlock(&dyn_slot_mu);
	}
	if (slot >= SQ_STMT_MAX) {
		co_err_set(CO_EINTERNAL, "too many statements: raise SQ_STMT_MAX");
		return NULL;
	}
	if (!c->st[slot]) {
		int rc = sqlite3_prepare_v3(c->db, q->sql, -1, SQLITE_PREPARE_PERSISTENT,
					    &c->st[slot], NULL);
		if (rc != SQLITE_OK) {
			sq_fail(c, rc, "preparing a statement");
			return NULL;
		}
	}
	return c->st[slot];
}

int sq_collect(sq_conn *c, sqlite3_stmt *st, void **items, size_t *n, size_t size,
	       int (*read)(sqlite3_stmt *st, void *item), const char *what)
{
	size_t cap = *n;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			void *grown = realloc(*items, cap * size);
			if (!grown)
				return co_err_set(CO_ENOMEM, "out of memory (%s)", what);
			*items = grown;
		}
		if ((rc = read(st, (char *)*items + *n * size)))
			return rc;
		(*n)++;
	}
	return rc == SQLITE_DONE ? CO_OK : sq_fail(c, rc, what);
}

void sq_col_id(sqlite3_stmt *st, int i, co_id *out)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	snprintf(out->s, sizeof out->s, "%s", t ? (const char *)t : "");
}

/* Resets a statement after use so it holds no read snapshot or locks. */
void sq_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Runs a statement that returns no rows. */
static int exec_simple(sq_conn *c, int id, const char *what)
{
	sqlite3_stmt *st = sq_stmt(c, id);
	if (!st)
		return CO_EINTERNAL;
	int rc = sqlite3_step(st);
	sq_done(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? CO_OK : sq_fail(c, rc, what);
}

void sq_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

void sq_bind_opt_i64(sqlite3_stmt *st, int i, bool has, int64_t v)
{
	if (has)
		sqlite3_bind_int64(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

char *sq_col_strdup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? strdup((const char *)t) : NULL;
}

/* The writer's busy handler: another process (a second colonyd on the file) holds the
 * write lock. SQLite's own handler sleeps up to 100 ms between tries, so against a busy
 * second writer, which frees the lock only for microseconds between its commits, it
 * rarely catches the lock free and can starve past its timeout (503s). Polling every
 * 20–150 µs takes turns instead. Gives up after WRITER_BUSY_MAX_US: the batch answers 503. */
#define WRITER_BUSY_MAX_US 30000000LL

static int writer_busy(void *arg, int count)
{
	(void)arg;
	long sleep_us = count < 20 ? 20 : 150;
	if ((int64_t)count * 150 > WRITER_BUSY_MAX_US)
		return 0;
	struct timespec ts = {0, sleep_us * 1000};
	nanosleep(&ts, NULL);
	return 1;
}

static int conn_open(const char *path, bool reader, sq_conn *c)
{
	memset(c, 0, sizeof *c);
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (reader ? 0 : SQLITE_OPEN_CREATE);
	int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
	if (rc != SQLITE_OK) {
		rc = co_err_set(CO_EUNAVAIL, "cannot open database %s: %s", path,
				c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		sqlite3_close(c->db);
		c->db = NULL;
		return rc;
	}
	sqlite3_extended_result_codes(c->db, 1);
	const char *pragmas = reader ? "PRAGMA busy_timeout = 5000; PRAGMA query_only = 1;"
				     /* busy_timeout first: switching to WAL takes a lock that
				      * another colonyd starting on the same new file may hold */
				     : "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; "
				       "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;";
	char *msg = NULL;
	rc = sqlite3_exec(c->db, pragmas, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		rc = co_err_set(CO_EUNAVAIL, "configuring database %s: %s", path,
				msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		sqlite3_close(c->db);
		c->db = NULL;
		return rc;
	}
	if (!reader)
		sqlite3_busy_handler(c->db, writer_busy, NULL);
	return CO_OK;
}

static void conn_close(sq_conn *c)
{
	for (int i = 0; i < SQ_STMT_MAX; i++)
		sqlite3_finalize(c->st[i]);
	sqlite3_close(c->db);
	memset(c, 0, sizeof *c);
}

/* ------------------------------------------------------------------------------------ */
/* The store, its writer thread and its reader pool                                      */
/* ------------------------------------------------------------------------------------ */

typedef struct sq_op {
	int (*fn)(sq_conn *c, void *arg); /* runs on the writer connection, in a transaction */
	void *arg;
	int rc;
	char msg[CO_ERR_MSG_MAX]; /* the writer thread's error message, carried back */
	sem_t done;
	co_store_task *task; /* set for exec_batched ops: done via task->done, not sem */
	/* The caller's current audit entry (core/audit.h note 1), captured on its thread by
	 * sq_write: the writer appends its record in the op's savepoint. NULL: not audited. */
	const co_audit_entry *audit;
	struct sq_op *next;
} sq_op;

struct sq_store {
	co_store base; /* first: a co_store* is an sq_store* */
	co_store_opts opts;

	sq_conn wconn;
	pthread_t writer;
	bool writer_started;
	pthread_mutex_t qmu;
	pthread_cond_t qcv;
	sq_op *qhead, *qtail;
	bool stopping;

	sq_conn *readers;
	int nreaders;
	int *free_readers;
	int nfree;
	pthread_mutex_t rmu;
	pthread_cond_t rcv;

	/* syncer: committed ops waiting for the WAL fsync (DESIGN NOTE 2a) */
	pthread_t syncer;
	bool syncer_started;
	pthread_mutex_t smu;
	pthread_cond_t scv;
	sq_op *shead, *stail;
	bool sstopping;
	char *wal_path;
	int wal_fd; /* opened on first use (the WAL exists once something committed) */
	bool sync_failed; /* a WAL fsync failed: refuse writes (see sync_wal) */
	uint64_t st_syncs, st_sync_us;

	_Atomic uint64_t commit_seq; /* successful COMMITs so far (DESIGN NOTE 8) */
	co_usec_t last_sweep;        /* writer thread only */

	/* writer statistics (writer thread only; logged at close) */
	uint64_t st_batches, st_ops, st_run_us, st_commit_us, st_max_batch;
};

static void reader_end(sq_conn *c)
{
	if (c->in_txn && !sqlite3_get_autocommit(c->db))
		exec_simple(c, ST_COMMIT, "ending a read");
	c->in_txn = false;
}

sq_conn *sq_reader_get(sq_store *s)
{
	pthread_mutex_lock(&s->rmu);
	while (s->nfree == 0)
		pthread_cond_wait(&s->rcv, &s->rmu);
	sq_conn *c = &s->readers[s->free_readers[--s->nfree]];
	pthread_mutex_unlock(&s->rmu);
	uint64_t seq = atomic_load(&s->commit_seq);
	co_usec_t now = co_clock_mono_us();
	if (c->in_txn && (c->snap_seq != seq || now - c->snap_at > READ_SNAPSHOT_MAX_US))
		reader_end(c);
	if (!c->in_txn && exec_simple(c, ST_BEGIN_READ, "beginning a read") == CO_OK) {
		/* The snapshot is taken at the first read: it holds every commit counted in seq. */
		c->in_txn = true;
		c->snap_seq = seq;
		c->snap_at = now;
	}
	return c;
}

void sq_reader_put(sq_store *s, sq_conn *c)
{
	if (c->in_txn && sqlite3_get_autocommit(c->db))
		c->in_txn = false; /* an error ended it */
	pthread_mutex_lock(&s->rmu);
	s->free_readers[s->nfree++] = (int)(c - s->readers);
	pthread_cond_signal(&s->rcv);
	pthread_mutex_unlock(&s->rmu);
}

static void op_finish(sq_op *op, int rc)
{
	op->rc = rc;
	if (rc != CO_OK)
		snprintf(op->msg, sizeof op->msg, "%s", co_err_msg());
}

/* The batch did not commit: every op is told so, including those that had failed on
 * their own (their answer may rest on writes of the batch that are now rolled back). */
static void batch_fail_all(sq_op **ops, int n, int rc)
{
	for (int i = 0; i < n; i++)
		op_finish(ops[i], rc);
}

/* Runs one batch as one transaction; see DESIGN NOTES 2 and 4. */
static void run_batch(sq_store *s, sq_op **ops, int n)
{
	sq_conn *c = &s->wconn;
	int rc = exec_simple(c, ST_BEGIN, "beginning a write");
	if (rc) {
		for (int i = 0; i < n; i++)
			op_finish(ops[i], rc);
		return;
	}
	bool savepoints = n > 1, any_ok = false;
	for (int i = 0; i < n; i++) {
		sq_op *op = ops[i];
		/* A task needs no savepoint of its own: each store call it makes has one. */
		bool sp = savepoints && !op->task;
		if (sp && (rc = exec_simple(c, ST_SAVEPOINT, "savepoint"))) {
			op_finish(op, rc);
			continue;
		}
		co_err_set(CO_OK, "%s", "");
		int op_rc = op->fn(c, op->arg);
		/* Audited: the record joins the op's savepoint (or, alone in the batch, its
		 * transaction), so a failed append fails the op and rolls it back. */
		if (op_rc == CO_OK && op->audit)
			op_rc = sq_audit_append(c, op->audit);
		op_finish(op, op_rc);
		if (sqlite3_get_autocommit(c->db)) {
			/* SQLite rolled the whole transaction back: nothing of this batch holds. */
			rc = co_err_set(CO_EUNAVAIL, "the write transaction was aborted: %s",
					op->rc ? op->msg : "unknown cause");
			batch_fail_all(ops, n, rc);
			return;
		}
		if (sp) {
			if (op->rc)
				exec_simple(c, ST_ROLLBACK_TO, "rollback to savepoint");
			exec_simple(c, ST_RELEASE, "release savepoint");
		}
		any_ok |= op->rc == CO_OK;
	}
	if (!any_ok) {
		exec_simple(c, ST_ROLLBACK, "rollback");
		return;
	}
	co_usec_t t_commit = co_clock_mono_us();
	rc = exec_simple(c, ST_COMMIT, "commit");
	s->st_commit_us += (uint64_t)(co_clock_mono_us() - t_commit);
	if (rc == CO_OK)
		atomic_fetch_add(&s->commit_seq, 1); /* before any caller of it is answered */
	if (rc) {
		batch_fail_all(ops, n, rc);
		if (!sqlite3_get_autocommit(c->db))
			exec_simple(c, ST_ROLLBACK, "rollback");
	}
}

/* Ends the read transactions of idle readers whose snapshot is stale, so they do not
 * keep the WAL from being reset (DESIGN NOTE 8). Writer thread. */
static void reader_sweep(sq_store *s)
{
	co_usec_t now = co_clock_mono_us();
	if (now - s->last_sweep < SWEEP_EVERY_US)
		return;
	s->last_sweep = now;
	uint64_t seq = atomic_load(&s->commit_seq);
	pthread_mutex_lock(&s->rmu); /* idle readers stay ours while we hold the pool */
	for (int i = 0; i < s->nfree; i++) {
		sq_conn *c = &s->readers[s->free_readers[i]];
		if (c->in_txn && c->snap_seq != seq)
			reader_end(c);
	}
	pthread_mutex_unlock(&s->rmu);
}

/* The store whose writer thread this is (NULL on every other thread). */
static _Thread_local sq_store *tl_writer_of;

/* Wakes an op's caller. A task op is heap-allocated by sq_exec_batched and freed here. */
static void op_complete(sq_op *op)
{
	if (op->task) {
		co_store_task *t = op->task;
		int rc = op->rc;
		if (rc)
			co_err_set(rc, "%s", op->msg); /* sq_done() runs on this thread */
		free(op);
		t->done(t, rc);
	} else {
		sem_post(&op->done);
	}
}

/* After a batch: failed ops are answered now; committed ones wait for the WAL fsync.
 * An op must not be touched once handed over or answered: its caller may be gone. */
static void hand_to_syncer(sq_store *s, sq_op **ops, int n)
{
	sq_op *head = NULL, *tail = NULL;
	for (int i = 0; i < n; i++) {
		sq_op *op = ops[i];
		if (op->rc != CO_OK) {
			op_complete(op);
			continue;
		}
		op->next = NULL;
		if (tail)
			tail->next = op;
		else
			head = op;
		tail = op;
	}
	if (!head)
		return;
	pthread_mutex_lock(&s->smu);
	if (s->stail)
		s->stail->next = head;
	else
		s->shead = head;
	s->stail = tail;
	pthread_cond_signal(&s->scv);
	pthread_mutex_unlock(&s->smu);
}

/* fdatasync()s the WAL file. Any fd of the file flushes the same inode. The first time,
 * the directory is synced too, so the WAL file's own name survives a power loss. After a
 * failed fdatasync the kernel may have dropped the dirty pages, so a later sync proves
 * nothing: the store refuses writes from then on (sync_failed). Syncer thread only. */
static int sync_wal(sq_store *s)
{
	if (s->sync_failed)
		return co_err_set(CO_EUNAVAIL, "an earlier WAL fsync failed; restart colonyd");
	if (s->wal_fd < 0) {
		s->wal_fd = open(s->wal_path, O_RDONLY | O_CLOEXEC);
		if (s->wal_fd < 0)
			return co_err_set(CO_EUNAVAIL, "cannot open %s to sync it: %s", s->wal_path,
					  strerror(errno));
		char *dir = strdup(s->wal_path);
		char *slash = dir ? strrchr(dir, '/') : NULL;
		if (dir) {
			if (slash)
				slash[slash == dir ? 1 : 0] = 0;
			int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (dfd >= 0) {
				fsync(dfd);
				close(dfd);
			}
			free(dir);
		}
	}
	if (fdatasync(s->wal_fd) != 0) {
		s->sync_failed = true;
		return co_err_set(CO_EUNAVAIL, "fdatasync of the WAL failed: %s", strerror(errno));
	}
	return CO_OK;
}

static void *syncer_main(void *arg)
{
	sq_store *s = arg;
	for (;;) {
		pthread_mutex_lock(&s->smu);
		while (!s->shead && !s->sstopping)
			pthread_cond_wait(&s->scv, &s->smu);
		sq_op *list = s->shead;
		s->shead = s->stail = NULL;
		pthread_mutex_unlock(&s->smu);
		if (!list)
			break; /* stopping, and nothing left */
		/* Every op in `list` was committed before this fdatasync begins. */
		co_usec_t t0 = co_clock_mono_us();
		int rc = sync_wal(s);
		s->st_sync_us += (uint64_t)(co_clock_mono_us() - t0);
		s->st_syncs++;
		while (list) {
			sq_op *next = list->next;
			if (rc)
				op_finish(list, rc);
			op_complete(list);
			list = next;
		}
	}
	return NULL;
}

static void *writer_main(void *arg)
{
	sq_store *s = arg;
	tl_writer_of = s;
	int max = s->opts.max_batch;
	sq_op **batch = calloc((size_t)max, sizeof *batch);
	for (;;) {
		pthread_mutex_lock(&s->qmu);
		while (!s->qhead && !s->stopping)
			pthread_cond_wait(&s->qcv, &s->qmu);
		if (!s->qhead) {
			pthread_mutex_unlock(&s->qmu);
			break;
		}
		int n = 0;
		while (s->qhead && n < max && batch) {
			batch[n++] = s->qhead;
			s->qhead = s->qhead->next;
		}
		if (!s->qhead)
			s->qtail = NULL;
		pthread_mutex_unlock(&s->qmu);
		if (!batch) { /* cannot allocate: run ops one at a time */
			pthread_mutex_lock(&s->qmu);
			sq_op *op = s->qhead;
			s->qhead = op->next;
			if (!s->qhead)
				s->qtail = NULL;
			pthread_mutex_unlock(&s->qmu);
			run_batch(s, &op, 1);
			hand_to_syncer(s, &op, 1);
			continue;
		}
		co_usec_t t0 = co_clock_mono_us();
		run_batch(s, batch, n);
		s->st_run_us += (uint64_t)(co_clock_mono_us() - t0);
		s->st_batches++;
		s->st_ops += (uint64_t)n;
		if ((uint64_t)n > s->st_max_batch)
			s->st_max_batch = (uint64_t)n;
		hand_to_syncer(s, batch, n);
		reader_sweep(s);
	}
	free(batch);
	return NULL;
}

/* fn(arg) called on the writer thread itself (from a task): run it in a nested savepoint
 * of the current batch transaction. If the task made an audit entry current on this
 * thread (the HTTP layer does for a mutation), a successful fn appends its record in the
 * same savepoint; a failed append rolls fn back and is the call's result. */
static int sq_write_inline(sq_store *s, int (*fn)(sq_conn *, void *), void *arg)
{
	sq_conn *c = &s->wconn;
	if (sqlite3_get_autocommit(c->db)) /* the batch was aborted: never write outside it */
		return co_err_set(CO_EUNAVAIL, "the write transaction was aborted");
	int rc = exec_simple(c, ST_SAVEPOINT_INNER, "savepoint");
	if (rc)
		return rc;
	rc = fn(c, arg);
	const co_audit_entry *audit = co_audit_get();
	if (rc == CO_OK && audit && !sqlite3_get_autocommit(c->db))
		rc = sq_audit_append(c, audit);
	if (sqlite3_get_autocommit(c->db)) /* aborted: run_batch fails the whole batch */
		return rc ? rc : co_err_set(CO_EUNAVAIL, "the write transaction was aborted");
	if (rc) {
		char msg[CO_ERR_MSG_MAX];
		snprintf(msg, sizeof msg, "%s", co_err_msg());
		exec_simple(c, ST_ROLLBACK_TO_INNER, "rollback to savepoint");
		co_err_set(rc, "%s", msg);
	}
	exec_simple(c, ST_RELEASE_INNER, "release savepoint");
	return rc;
}

static void enqueue(sq_store *s, sq_op *op)
{
	if (s->qtail)
		s->qtail->next = op;
	else
		s->qhead = op;
	s->qtail = op;
	pthread_cond_signal(&s->qcv);
}

static int task_fn(sq_conn *c, void *arg)
{
	(void)c;
	co_store_task *t = arg;
	t->run(t);
	return CO_OK; /* the task's own store calls carry their results */
}

static int sq_exec_batched(co_store *base, co_store_task *t)
{
	sq_store *s = (sq_store *)base;
	sq_op *op = calloc(1, sizeof *op);
	if (!op)
		return co_err_set(CO_ENOMEM, "out of memory");
	op->fn = task_fn;
	op->arg = t;
	op->task = t;
	pthread_mutex_lock(&s->qmu);
	if (s->stopping) {
		pthread_mutex_unlock(&s->qmu);
		free(op);
		return co_err_set(CO_EUNAVAIL, "the store is closing");
	}
	enqueue(s, op);
	pthread_mutex_unlock(&s->qmu);
	return CO_OK;
}

/* Queues fn(arg) for the writer and waits for its result. The error message set by fn
 * on the writer thread is re-set on the calling thread. On the writer thread itself (a
 * task's store call) it runs inline instead. The caller's current audit entry goes with
 * the op (store.h note 6): the writer appends its record if fn succeeds. */
int sq_write(sq_store *s, int (*fn)(sq_conn *, void *), void *arg)
{
	if (tl_writer_of == s)
		return sq_write_inline(s, fn, arg);
	sq_op op = {.fn = fn, .arg = arg, .audit = co_audit_get()};
	if (sem_init(&op.done, 0, 0) != 0)
		return co_err_set(CO_EINTERNAL, "sem_init failed");
	pthread_mutex_lock(&s->qmu);
	if (s->stopping) {
		pthread_mutex_unlock(&s->qmu);
		sem_destroy(&op.done);
		return co_err_set(CO_EUNAVAIL, "the store is closing");
	}
	enqueue(s, &op);
	pthread_mutex_unlock(&s->qmu);
	while (sem_wait(&op.done) != 0 && errno == EINTR)
		;
	sem_destroy(&op.done);
	if (op.rc)
		co_err_set(op.rc, "%s", op.msg);
	return op.rc;
}

/* ------------------------------------------------------------------------------------ */
/* Workspaces                                                                           */
/* ------------------------------------------------------------------------------------ */

/* Reads a row of WS_COLS into *w (which it owns afterwards). */
static int read_ws(sqlite3_stmt *st, co_workspace *w)
{
	memset(w, 0, sizeof *w);
	snprintf(w->id.s, sizeof w->id.s, "%s", (const char *)sqlite3_column_text(st, 0));
	if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
		w->has_parent = true;
		snprintf(w->parent_id.s, sizeof w->parent_id.s, "%s",
			 (const char *)sqlite3_column_text(st, 1));
	}
	w->name = sq_col_strdup(st, 2);
	w->role = sq_col_strdup(st, 3);
	w->runtime = sq_col_strdup(st, 4);
	if ((w->has_tier = sqlite3_column_type(st, 5) != SQLITE_NULL))
		w->tier = sqlite3_column_int64(st, 5);
	w->url = sq_col_strdup(st, 6);
	if ((w->has_max_tasks = sqlite3_column_type(st, 7) != SQLITE_NULL))
		w->max_concurrent_tasks = sqlite3_column_int64(st, 7);
	co_ws_status_parse((const char *)sqlite3_column_text(st, 8), &w->status);
	w->created_at = sqlite3_column_int64(st, 9);
	w->updated_at = sqlite3_column_int64(st, 10);
	w->removed_at = sqlite3_column_int64(st, 11);
	if (!w->name) {
		co_workspace_clear(w);
		return co_err_set(CO_ENOMEM, "out of memory reading a workspace");
	}
	return CO_OK;
}

static int select_ws(sq_conn *c, const char *id, co_workspace *out)
{
	sqlite3_stmt *st = sq_stmt(c, ST_WS_SELECT);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = read_ws(st, out);
	else if (rc == SQLITE_DONE)
		rc = co_err_set(CO_ENOTFOUND, "workspace %s not found", id);
	else
		rc = sq_fail(c, rc, "reading a workspace");
	sq_done(st);
	return rc;
}

/* The status of workspace id: CO_OK with *status, or CO_ENOTFOUND. */
int sq_ws_status(sq_conn *c, const char *id, co_ws_status *status)
{
	sqlite3_stmt *st = sq_stmt(c, ST_WS_STATUS);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		co_ws_status_parse((const char *)sqlite3_column_text(st, 0), status);
		rc = CO_OK;
	} else if (rc == SQLITE_DONE) {
		rc = co_err_set(CO_ENOTFOUND, "workspace %s not found", id);
	} else {
		rc = sq_fail(c, rc, "reading a workspace status");
	}
	sq_done(st);
	return rc;
}

int sq_check_parent(sq_conn *c, const co_id *parent)
{
	co_ws_status status;
	int rc = sq_ws_status(c, parent->s, &status);
	if (rc == CO_ENOTFOUND)
		return co_err_set(CO_ENOTFOUND, "parent workspace %s not found", parent->s);
	if (rc == CO_OK && status == CO_WS_REMOVED)
		return co_err_set(CO_ENOTFOUND, "parent workspace %s is removed", parent->s);
	return rc;
}

/* After a unique violation: names the live holder of (parent, name). */
static int name_taken(sq_conn *c, const co_workspace *w, co_conflict *conflict)
{
	sqlite3_stmt *st = sq_stmt(c, ST_WS_FIND_LIVE);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, w->has_parent ? w->parent_id.s : NULL);
	sq_bind_text(st, 2, w->name);
	int rc = sqlite3_step(st);
	conflict->kind = CO_CONFLICT_NAME_TAKEN;
	if (rc == SQLITE_ROW)
		snprintf(conflict->existing_id.s, sizeof conflict->existing_id.s, "%s",
			 (const char *)sqlite3_column_text(st, 0));
	sq_done(st);
	return co_err_set(CO_EEXISTS, "a workspace named '%s' already exists under this parent",
			  w->name);
}

/* Binds the workspace's value columns (2..9) as ST_WS_INSERT/ST_WS_UPDATE number them. */
static void bind_ws_values(sqlite3_stmt *st, const co_workspace *w)
{
	sq_bind_text(st, 2, w->has_parent ? w->parent_id.s : NULL);
	sq_bind_text(st, 3, w->name);
	sq_bind_text(st, 4, w->role);
	sq_bind_text(st, 5, w->runtime);
	sq_bind_opt_i64(st, 6, w->has_tier, w->tier);
	sq_bind_text(st, 7, w->url);
	sq_bind_opt_i64(st, 8, w->has_max_tasks, w->max_concurrent_tasks);
	sq_bind_text(st, 9, co_ws_status_name(w->status));
}

struct ws_create_args {
	const co_workspace *in;
	co_workspace *out;
	co_conflict *conflict;
};

static int op_ws_create(sq_conn *c, void *arg)
{
	struct ws_create_args *a = arg;
	const co_workspace *in = a->in;
	int rc;
	if (in->has_parent && (rc = sq_check_parent(c, &in->parent_id)))
		return rc;
	co_id id;
	if ((rc = co_id_new(&id)))
		return rc;
	sqlite3_stmt *st = sq_stmt(c, ST_WS_INSERT);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, id.s);
	bind_ws_values(st, in);
	sqlite3_bind_int64(st, 10, co_clock_now_us());
	rc = sqlite3_step(st);
	sq_done(st);
	if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		return name_taken(c, in, a->conflict);
	if (rc != SQLITE_DONE)
		return sq_fail(c, rc, "creating a workspace");
	return select_ws(c, id.s, a->out);
}

static int sq_ws_create(co_store *s, const co_workspace *in, co_workspace *out, co_conflict *conflict)
{
	struct ws_create_args a = {in, out, conflict};
	return sq_write((sq_store *)s, op_ws_create, &a);
}

static int sq_ws_get(co_store *base, const co_id *id, co_workspace *out)
{
	sq_store *s = (sq_store *)base;
	sq_conn *c = sq_reader_get(s);
	int rc = select_ws(c, id->s, out);
	sq_reader_put(s, c);
	return rc;
}

/* Collects rows of WS_COLS from a stepped statement into a list. */
static int collect_ws(sq_conn *c, sqlite3_stmt *st, co_ws_list *out)
{
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (out->n == cap) {
			cap = cap ? cap * 2 : 16;
			co_workspace *items = realloc(out->items, cap * sizeof *items);
			if (!items)
				return co_err_set(CO_ENOMEM, "out of memory listing workspaces");
			out->items = items;
		}
		if ((rc = read_ws(st, &out->items[out->n])))
			return rc;
		out->n++;
	}
	return rc == SQLITE_DONE ? CO_OK : sq_fail(c, rc, "listing workspaces");
}

static int sq_ws_list(co_store *base, const co_ws_filter *f, co_ws_list *out)
{
	sq_store *s = (sq_store *)base;
	sq_conn *c = sq_reader_get(s);
	int rc = CO_EINTERNAL;
	sqlite3_stmt *st = sq_stmt(c, ST_WS_LIST);
	if (st) {
		sqlite3_bind_int(st, 1, f->by_parent);
		sq_bind_text(st, 2, f->by_parent && !f->parent_is_null ? f->parent_id.s : NULL);
		sq_bind_text(st, 3, f->by_status ? co_ws_status_name(f->status) : NULL);
		sqlite3_bind_int(st, 4, f->include_removed);
		sq_bind_text(st, 5, f->has_after ? f->after.s : "");
		sqlite3_bind_int(st, 6, f->limit);
		rc = collect_ws(c, st, out);
		sq_done(st);
	}
	sq_reader_put(s, c);
	return rc;
}

struct ws_patch_args {
	const co_id *id;
	const co_ws_patch *p;
	co_workspace *out;
	co_conflict *conflict;
};

static int op_ws_patch(sq_conn *c, void *arg)
{
	struct ws_patch_args *a = arg;
	const co_ws_patch *p = a->p;
	co_workspace w;
	int rc = select_ws(c, a->id->s, &w);
	if (rc)
		return rc;
	if (w.status == CO_WS_REMOVED) {
		co_workspace_clear(&w);
		a->conflict->kind = CO_CONFLICT_REMOVED;
		return co_err_set(CO_ECONFLICT, "workspace %s is removed", a->id->s);
	}
	/* The patch's fields over the current row (the parent is checked below). */
	rc = co_ws_apply_patch(&w, p);
	if (rc == CO_OK && (p->fields & CO_WSF_PARENT)) {
		if (w.has_parent && (rc = sq_check_parent(c, &w.parent_id)) == CO_OK) {
			/* Under the write lock: is this workspace the new parent or above it? */
			sqlite3_stmt *st = sq_stmt(c, ST_WS_IS_ANCESTOR);
			if (!st) {
				rc = CO_EINTERNAL;
			} else {
				sq_bind_text(st, 1, w.parent_id.s);
				sq_bind_text(st, 2, w.id.s);
				int src = sqlite3_step(st);
				sq_done(st);
				if (src == SQLITE_ROW) {
					a->conflict->kind = CO_CONFLICT_CYCLE;
					rc = co_err_set(CO_ECONFLICT,
							"moving workspace %s under %s would make a cycle",
							w.id.s, w.parent_id.s);
				} else if (src != SQLITE_DONE) {
					rc = sq_fail(c, src, "checking for a cycle");
				}
			}
		}
	}
	if (rc == CO_OK) {
		sqlite3_stmt *st = sq_stmt(c, ST_WS_UPDATE);
		if (!st) {
			rc = CO_EINTERNAL;
		} else {
			sq_bind_text(st, 1, w.id.s);
			bind_ws_values(st, &w);
			sqlite3_bind_int64(st, 10, co_clock_now_us());
			int src = sqlite3_step(st);
			sq_done(st);
			if (src == SQLITE_CONSTRAINT_UNIQUE)
				rc = name_taken(c, &w, a->conflict);
			else if (src != SQLITE_DONE)
				rc = sq_fail(c, src, "updating a workspace");
			else
				rc = select_ws(c, w.id.s, a->out);
		}
	}
	co_workspace_clear(&w);
	return rc;
}

static int sq_ws_patch(co_store *s, const co_id *id, const co_ws_patch *p, co_workspace *out,
		       co_conflict *conflict)
{
	struct ws_patch_args a = {id, p, out, conflict};
	return sq_write((sq_store *)s, op_ws_patch, &a);
}

struct ws_delete_args {
	const co_id *id;
	const co_ws_delete_opts *o;
	co_id_list *out;
	co_conflict *conflict;
};

static int collect_ids(sq_conn *c, sqlite3_stmt *st, co_id_list *out)
{
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (out->n == cap) {
			cap = cap ? cap * 2 : 16;
			co_id *ids = realloc(out->ids, cap * sizeof *ids);
			if (!ids)
				return co_err_set(CO_ENOMEM, "out of memory");
			out->ids = ids;
		}
		snprintf(out->ids[out->n++].s, sizeof(co_id), "%s",
			 (const char *)sqlite3_column_text(st, 0));
	}
	return rc == SQLITE_DONE ? CO_OK : sq_fail(c, rc, "removing workspaces");
}

/* Runs the SUBTREE(?1) statement `id` that marks the rows of workspace ws's subtree at
 * ?2 = now (schedules disabled, tokens revoked). */
static int subtree_update(sq_conn *c, int id, const co_id *ws, co_usec_t now, const char *what)
{
	sqlite3_stmt *st = sq_stmt(c, id);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, ws->s);
	sqlite3_bind_int64(st, 2, now);
	int rc = sqlite3_step(st);
	sq_done(st);
	return rc == SQLITE_DONE ? CO_OK : sq_fail(c, rc, what);
}

static int op_ws_delete(sq_conn *c, void *arg)
{
	struct ws_delete_args *a = arg;
	co_ws_status status;
	int rc = sq_ws_status(c, a->id->s, &status);
	if (rc)
		return rc;
	if (status != CO_WS_REMOVED && !a->o->confirm) {
		sqlite3_stmt *st = sq_stmt(c, ST_WS_LIVE_CHILDREN);
		if (!st)
			return CO_EINTERNAL;
		sq_bind_text(st, 1, a->id->s);
		rc = collect_ws(c, st, &a->conflict->children);
		sq_done(st);
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
	if (status == CO_WS_REMOVED && !a->o->purge)
		return CO_OK; /* already a tombstone: nothing to do */
	co_usec_t now = co_clock_now_us();
	if (!a->o->purge &&
	    (rc = subtree_update(c, ST_WS_SUBTREE_DISABLE_SCHEDULES, a->id, now, "disabling schedules")))
		return rc;
	sqlite3_stmt *st = sq_stmt(c, a->o->purge ? ST_WS_SUBTREE_PURGE : ST_WS_SUBTREE_REMOVE);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, a->id->s);
	if (!a->o->purge)
		sqlite3_bind_int64(st, 2, now);
	rc = collect_ids(c, st, a->out);
	sq_done(st);
	if (rc || a->o->purge)
		return rc;
	/* After the removal, as on PostgreSQL (pg_store.c, tx_ws_delete). */
	return subtree_update(c, ST_WS_SUBTREE_REVOKE_TOKENS, a->id, now, "revoking tokens");
}

static int sq_ws_delete(co_store *s, const co_id *id, const co_ws_delete_opts *o, co_id_list *out,
			co_conflict *conflict)
{
	struct ws_delete_args a = {id, o, out, conflict};
	return sq_write((sq_store *)s, op_ws_delete, &a);
}

/* ------------------------------------------------------------------------------------ */
/* Memory                                                                               */
/* ------------------------------------------------------------------------------------ */

static int sq_mem_get(co_store *base, const co_id *ws, const char *key, co_mem_entry *out)
{
	sq_store *s = (sq_store *)base;
	sq_conn *c = sq_reader_get(s);
	int rc = CO_EINTERNAL;
	sqlite3_stmt *st = sq_stmt(c, ST_MEM_GET);
	if (st) {
		sq_bind_text(st, 1, ws->s);
		sq_bind_text(st, 2, key);
		sqlite3_bind_int64(st, 3, co_clock_now_us());
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE) {
			rc = co_err_set(CO_ENOTFOUND, "workspace %s not found", ws->s);
		} else if (rc != SQLITE_ROW) {
			rc = sq_fail(c, rc, "reading memory");
		} else if (sqlite3_column_type(st, 2) == SQLITE_NULL) {
			rc = co_err_set(CO_ENOTFOUND, "key not found");
		} else {
			memset(out, 0, sizeof *out);
			out->key = strdup(key);
			out->value_json = sq_col_strdup(st, 1);
			out->version = sqlite3_column_int64(st, 2);
			out->expires_at = sqlite3_column_int64(st, 3);
			out->updated_at = sqlite3_column_int64(st, 4);
			rc = out->key && out->value_json ? CO_OK : co_err_set(CO_ENOMEM, "out of memory");
		}
		sq_done(st);
	}
	sq_reader_put(s, c);
	return rc;
}

static int sq_mem_list(co_store *base, const co_id *ws, const co_mem_filter *f, co_mem_list *out)
{
	sq_store *s = (sq_store *)base;
	const char *prefix = f->prefix ? f->prefix : "";
	char *upper = malloc(strlen(prefix) + 5);
	if (!upper)
		return co_err_set(CO_ENOMEM, "out of memory");
	/* No bound (empty prefix): "\xff" sorts above every valid UTF-8 key, so the range
	 * stays one index scan. */
	if (!co_mem_prefix_upper(prefix, upper))
		strcpy(upper, "\xff");
	sq_conn *c = sq_reader_get(s);
	int rc = CO_EINTERNAL;
	/* The workspace must exist; an empty list of a missing workspace would hide a typo. */
	co_ws_status status;
	if ((rc = sq_ws_status(c, ws->s, &status)))
		goto out;
	sqlite3_stmt *st = sq_stmt(c, ST_MEM_LIST);
	if (!st) {
		rc = CO_EINTERNAL;
		goto out;
	}
	sq_bind_text(st, 1, ws->s);
	sq_bind_text(st, 2, prefix);
	sq_bind_text(st, 3, upper);
	sq_bind_text(st, 4, f->after ? f->after : "");
	sqlite3_bind_int64(st, 5, co_clock_now_us());
	sqlite3_bind_int(st, 6, f->limit);
	size_t cap = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (out->n == cap) {
			cap = cap ? cap * 2 : 16;
			co_mem_entry *items = realloc(out->items, cap * sizeof *items);
			if (!items) {
				rc = SQLITE_NOMEM;
				break;
			}
			out->items = items;
		}
		co_mem_entry *e = &out->items[out->n++];
		memset(e, 0, sizeof *e);
		e->key = sq_col_strdup(st, 0);
		e->value_json = sq_col_strdup(st, 1);
		e->version = sqlite3_column_int64(st, 2);
		e->expires_at = sqlite3_column_int64(st, 3);
		e->updated_at = sqlite3_column_int64(st, 4);
		if (!e->key || !e->value_json) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	rc = rc == SQLITE_DONE ? CO_OK : sq_fail(c, rc, "listing memory");
	sq_done(st);
out:
	sq_reader_put(s, c);
	free(upper);
	return rc;
}

/* Memory writes need a live workspace. */
int sq_check_ws_writable(sq_conn *c, const co_id *ws, co_conflict *conflict)
{
	co_ws_status status;
	int rc = sq_ws_status(c, ws->s, &status);
	if (rc == CO_OK && status == CO_WS_REMOVED) {
		conflict->kind = CO_CONFLICT_REMOVED;
		return co_err_set(CO_ECONFLICT, "workspace %s is removed", ws->s);
	}
	return rc;
}

/* After a failed precondition: the live version (0 if absent) for the 409 body. */
static int version_conflict(sq_conn *c, const co_id *ws, const char *key, co_usec_t now,
			    int64_t expected, co_conflict *conflict)
{
	sqlite3_stmt *st = sq_stmt(c, ST_MEM_LIVE_VERSION);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, ws->s);
	sq_bind_text(st, 2, key);
	sqlite3_bind_int64(st, 3, now);
	int rc = sqlite3_step(st);
	int64_t cur = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sq_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_fail(c, rc, "reading a memory version");
	conflict->kind = CO_CONFLICT_VERSION;
	conflict->current_version = cur;
	return co_mem_version_conflict(expected, cur);
}

struct mem_put_args {
	const co_id *ws;
	const co_mem_put *put;
	int64_t *version_out;
	co_conflict *conflict;
};

static int op_mem_put(sq_conn *c, void *arg)
{
	struct mem_put_args *a = arg;
	const co_mem_put *put = a->put;
	int rc = sq_check_ws_writable(c, a->ws, a->conflict);
	if (rc)
		return rc;
	co_usec_t now = co_clock_now_us();
	int id = put->if_match_version == CO_MEM_ANY ? ST_MEM_UPSERT
		 : put->if_match_version == 0        ? ST_MEM_CREATE
						     : ST_MEM_CAS;
	sqlite3_stmt *st = sq_stmt(c, id);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, a->ws->s);
	sq_bind_text(st, 2, put->key);
	sq_bind_text(st, 3, put->value_json);
	sq_bind_opt_i64(st, 4, put->ttl_seconds > 0, now + put->ttl_seconds * 1000000);
	sqlite3_bind_int64(st, 5, now);
	if (id == ST_MEM_CAS)
		sqlite3_bind_int64(st, 6, put->if_match_version);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*a->version_out = sqlite3_column_int64(st, 0);
		sq_done(st);
		return CO_OK;
	}
	sq_done(st);
	if (rc != SQLITE_DONE)
		return sq_fail(c, rc, "writing memory");
	return version_conflict(c, a->ws, put->key, now, put->if_match_version, a->conflict);
}

static int sq_mem_put(co_store *s, const co_id *ws, const co_mem_put *put, int64_t *version_out,
		      co_conflict *conflict)
{
	struct mem_put_args a = {ws, put, version_out, conflict};
	return sq_write((sq_store *)s, op_mem_put, &a);
}

struct mem_delete_args {
	const co_id *ws;
	const char *key;
	int64_t if_match_version;
	co_conflict *conflict;
};

static int op_mem_delete(sq_conn *c, void *arg)
{
	struct mem_delete_args *a = arg;
	int rc = sq_check_ws_writable(c, a->ws, a->conflict);
	if (rc)
		return rc;
	co_usec_t now = co_clock_now_us();
	sqlite3_stmt *st = sq_stmt(c, ST_MEM_DELETE);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, a->ws->s);
	sq_bind_text(st, 2, a->key);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, a->if_match_version);
	rc = sqlite3_step(st);
	sq_done(st);
	if (rc == SQLITE_ROW)
		return CO_OK;
	if (rc != SQLITE_DONE)
		return sq_fail(c, rc, "deleting memory");
	if (a->if_match_version == CO_MEM_ANY)
		return co_err_set(CO_ENOTFOUND, "key not found");
	rc = version_conflict(c, a->ws, a->key, now, a->if_match_version, a->conflict);
	if (a->conflict->current_version == 0) {
		a->conflict->kind = CO_CONFLICT_NONE;
		return co_err_set(CO_ENOTFOUND, "key not found");
	}
	return rc;
}

static int sq_mem_delete(co_store *s, const co_id *ws, const char *key, int64_t if_match_version,
			 co_conflict *conflict)
{
	struct mem_delete_args a = {ws, key, if_match_version, conflict};
	return sq_write((sq_store *)s, op_mem_delete, &a);
}

/* ------------------------------------------------------------------------------------ */
/* Lifecycle                                                                            */
/* ------------------------------------------------------------------------------------ */

static int sq_health(co_store *base)
{
	sq_store *s = (sq_store *)base;
	sq_conn *c = sq_reader_get(s);
	int rc = exec_simple(c, ST_HEALTH, "health check");
	sq_reader_put(s, c);
	return rc;
}

static void sq_close(co_store *base)
{
	sq_store *s = (sq_store *)base;
	if (s->writer_started) {
		pthread_mutex_lock(&s->qmu);
		s->stopping = true;
		pthread_cond_broadcast(&s->qcv);
		pthread_mutex_unlock(&s->qmu);
		pthread_join(s->writer, NULL);
	}
	if (s->syncer_started) { /* after the writer: it answers the last batch */
		pthread_mutex_lock(&s->smu);
		s->sstopping = true;
		pthread_cond_broadcast(&s->scv);
		pthread_mutex_unlock(&s->smu);
		pthread_join(s->syncer, NULL);
	}
	if (s->writer_started) {
		if (s->st_batches)
			fprintf(stderr,
				"{\"level\":\"info\",\"msg\":\"sqlite writer stats\",\"batches\":%llu,"
				"\"ops\":%llu,\"ops_per_batch\":%.1f,\"max_batch\":%llu,"
				"\"batch_us_avg\":%.0f,\"commit_us_avg\":%.0f,\"syncs\":%llu,"
				"\"sync_us_avg\":%.0f}\n",
				(unsigned long long)s->st_batches, (unsigned long long)s->st_ops,
				(double)s->st_ops / (double)s->st_batches,
				(unsigned long long)s->st_max_batch,
				(double)s->st_run_us / (double)s->st_batches,
				(double)s->st_commit_us / (double)s->st_batches,
				(unsigned long long)s->st_syncs,
				s->st_syncs ? (double)s->st_sync_us / (double)s->st_syncs : 0.0);
	}
	for (int i = 0; i < s->nreaders; i++) {
		reader_end(&s->readers[i]);
		conn_close(&s->readers[i]);
	}
	/* Closing the last connection checkpoints the WAL and removes -wal/-shm. */
	conn_close(&s->wconn);
	if (s->wal_fd >= 0)
		close(s->wal_fd);
	free(s->wal_path);
	free(s->readers);
	free(s->free_readers);
	pthread_mutex_destroy(&s->smu);
	pthread_cond_destroy(&s->scv);
	pthread_mutex_destroy(&s->qmu);
	pthread_cond_destroy(&s->qcv);
	pthread_mutex_destroy(&s->rmu);
	pthread_cond_destroy(&s->rcv);
	free(s);
}

static const co_store_ops sq_ops = {
	.version = CO_STORE_OPS_VERSION,
	.name = "sqlite",
	.flags = CO_STORE_READS_INLINE,
	.close = sq_close,
	.health = sq_health,
	.ws_create = sq_ws_create,
	.ws_get = sq_ws_get,
	.ws_list = sq_ws_list,
	.ws_patch = sq_ws_patch,
	.ws_delete = sq_ws_delete,
	.mem_get = sq_mem_get,
	.mem_list = sq_mem_list,
	.mem_put = sq_mem_put,
	.mem_delete = sq_mem_delete,
	.sched_create = sq_sched_create,
	.sched_get = sq_sched_get,
	.sched_list = sq_sched_list,
	.sched_patch = sq_sched_patch,
	.sched_delete = sq_sched_delete,
	.sched_history = sq_sched_history,
	.sched_due = sq_sched_due,
	.sched_fire = sq_sched_fire,
	.sched_mark = sq_sched_mark,
	.inbox_enqueue = sq_inbox_enqueue,
	.inbox_get = sq_inbox_get,
	.inbox_list = sq_inbox_list,
	.inbox_claim = sq_inbox_claim,
	.inbox_ack = sq_inbox_ack,
	.org_import = sq_org_import,
	.skill_append = sq_skill_append,
	.skill_get = sq_skill_get,
	.skill_versions = sq_skill_versions,
	.skill_list = sq_skill_list,
	.usage_add = sq_usage_add,
	.budget_get = sq_budget_get,
	.budget_patch = sq_budget_patch,
	.audit_list = sq_audit_list,
	.audit_verify = sq_audit_verify,
	.token_create = sq_token_create,
	.token_list = sq_token_list,
	.token_revoke = sq_token_revoke,
	.token_lookup = sq_token_lookup,
	.token_touch = sq_token_touch,
	.ws_lineage = sq_ws_lineage,
	.secret_put = sq_secret_put,
	.secret_delete = sq_secret_delete,
	.secret_list = sq_secret_list,
	.exec_batched = sq_exec_batched,
};

int co_sqlite_open(const char *path, const co_store_opts *opts, co_store **out)
{
	*out = NULL;
	if (!sqlite3_threadsafe())
		return co_err_set(CO_EINTERNAL, "SQLite was built without thread support");
	sq_store *s = calloc(1, sizeof *s);
	if (!s)
		return co_err_set(CO_ENOMEM, "out of memory");
	s->base.ops = &sq_ops;
	s->opts = *opts;
	pthread_mutex_init(&s->qmu, NULL);
	pthread_cond_init(&s->qcv, NULL);
	pthread_mutex_init(&s->rmu, NULL);
	pthread_cond_init(&s->rcv, NULL);
	pthread_mutex_init(&s->smu, NULL);
	pthread_cond_init(&s->scv, NULL);
	s->wal_fd = -1;
	if (asprintf(&s->wal_path, "%s-wal", path) < 0) {
		s->wal_path = NULL;
		sq_close(&s->base);
		return co_err_set(CO_ENOMEM, "out of memory");
	}

	int rc = conn_open(path, false, &s->wconn);
	if (rc == CO_OK)
		rc = co_sqlite_migrate(s->wconn.db, -1);
	if (rc == CO_OK) {
		s->readers = calloc((size_t)opts->read_conns, sizeof *s->readers);
		s->free_readers = calloc((size_t)opts->read_conns, sizeof *s->free_readers);
		if (!s->readers || !s->free_readers)
			rc = co_err_set(CO_ENOMEM, "out of memory");
	}
	for (int i = 0; rc == CO_OK && i < opts->read_conns; i++) {
		rc = conn_open(path, true, &s->readers[i]);
		if (rc == CO_OK) {
			s->free_readers[s->nfree++] = i;
			s->nreaders++;
		}
	}
	if (rc == CO_OK) {
		if (pthread_create(&s->syncer, NULL, syncer_main, s) != 0)
			rc = co_err_set(CO_EINTERNAL, "cannot start the syncer thread");
		else
			s->syncer_started = true;
	}
	if (rc == CO_OK) {
		if (pthread_create(&s->writer, NULL, writer_main, s) != 0)
			rc = co_err_set(CO_EINTERNAL, "cannot start the writer thread");
		else
			s->writer_started = true;
	}
	if (rc) {
		char msg[CO_ERR_MSG_MAX];
		snprintf(msg, sizeof msg, "%s", co_err_msg());
		sq_close(&s->base);
		return co_err_set(rc, "%s", msg);
	}
	*out = &s->base;
	return CO_OK;
}
