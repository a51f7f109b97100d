/*
 * pg_audit.c — the audit log on the PostgreSQL backend (store.h note 6, SPEC §7,
 * core/audit.h).
 *
 * DESIGN NOTES
 *  1. Append. pg_in_tx (pg_store.c) calls pg_audit_append after its fn returned CO_OK
 *     and before COMMIT, when the calling thread has a current entry; the autocommit
 *     write paths (memory put/delete, schedule delete) run inside pg_in_tx when an entry
 *     is current. So a mutation and its record commit together or not at all, and an
 *     append that fails rolls the mutation back.
 *  2. One chain across replicas. The append first takes pg_advisory_xact_lock(AUDIT_LOCK),
 *     held to the end of the transaction; then, in a LATER statement, reads the newest
 *     record. Under READ COMMITTED each statement takes a new snapshot, and the previous
 *     holder of the lock committed before releasing it (locks are released after the
 *     commit is visible), so the read sees the true head and seq = head + 1 is unique and
 *     gapless. The lock and the read go in one round trip (a two-statement simple query:
 *     each statement still gets its own snapshot); then the INSERT. The lock is the last
 *     one a writer takes, and its holder takes no other lock before COMMIT, so it cannot
 *     be part of a deadlock.
 *  2a. A token's write (audit.h note 5). When the entry names a token_id, the append
 *     first runs, before the audit lock, SELECT … FOR NO KEY UPDATE OF t: the token row,
 *     locked, if it is unrevoked and its workspace not removed. A revoke, and a removal
 *     (which revokes the subtree's tokens in its own transaction, pg_store.c), UPDATE
 *     that row: if the UPDATE came first, this statement waits for its transaction and
 *     re-checks the newest row version (READ COMMITTED), so it finds the token revoked;
 *     if this lock came first, the UPDATE waits for this transaction, so the write
 *     commits before the revoke can. No row: CO_EREVOKED, and pg_in_tx rolls the whole
 *     write back. An id that is not a UUID is CO_EREVOKED without a query.
 *       Why not FOR SHARE: a share locker does not queue behind a waiting updater (it
 *     joins the lockers already there), so a token's overlapping writes — queued on the
 *     audit lock, each holding its share — kept a revoke's UPDATE waiting for as long as
 *     they came (measured: over 25 s with 6 writers). An exclusive row lock queues in
 *     order, so the revoke waits for the writes already holding or queued before it,
 *     and the writes after it then find the token revoked. The cost is that one token's
 *     writes take the row in turn — from this statement to COMMIT, most of which they
 *     spend queued on the audit lock anyway.
 *       Lock order: every transaction takes its row locks (the token row last) before
 *     the audit lock, and the audit lock's holder takes no other lock before COMMIT. Taken
 *     after the audit lock, the token lock would deadlock with a revoke holding the row
 *     and waiting for the audit lock. (Two tokens of one workspace revoking each other at
 *     once each hold one row and want the other: PostgreSQL's deadlock detector aborts
 *     one, pg_in_tx retries it, and the retry finds its own token revoked.) One write is
 *     exempt: a token's revoke of itself (action token.revoke, its target ending in the
 *     token's id), which holds the row for its UPDATE, succeeded only because the token
 *     was live, and whose record is the revoke's own.
 *  3. Cost. Audited commits are serialised across every replica from the lock to the end
 *     of COMMIT (the read, the insert and the commit's WAL flush): the price of one chain
 *     in commit order. Unaudited writes (the scheduler, webhook outcomes) never take it.
 *  4. Verification reads the rows in seq order, VERIFY_PAGE at a time, inside one
 *     REPEATABLE READ READ ONLY transaction (one snapshot for the whole walk), checking
 *     each row from libpq's buffers without copying. A hash column that is not exactly 64
 *     characters is read as "", which matches nothing.
 *  5. Listing builds its WHERE from the filters given (PQexecParams, not prepared: 32
 *     combinations, not a hot path) so the planner can use the (actor|action|target, seq)
 *     indexes; the columns are COLLATE "C", so a target prefix is a bytewise range.
 */
#include "../../core/err.h"
#include "../../core/memory.h"
#include "../../core/validate.h"
#include "pg_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "colony" + 7 (migration 007): distinct from pg_store.c's TREE_LOCK (+1), MIGRATE_LOCK (+2). */
#define AUDIT_LOCK 0x636f6c6f6e790007LL
#define AUDIT_COLS "seq, id, at, actor, action, target, detail, prev_hash, hash"
#define VERIFY_PAGE 1000

static pg_sql Q_INSERT = {.sql = "INSERT INTO audit_log (" AUDIT_COLS ") VALUES ($1::bigint, "
			  "$2::uuid, $3::bigint, $4, $5, $6, $7, $8, $9)",
			  .nparams = 9};
static pg_sql Q_PAGE = {.sql = "SELECT " AUDIT_COLS " FROM audit_log WHERE seq > $1::bigint "
			"ORDER BY seq LIMIT $2::int",
			.nparams = 2};

static pg_sql Q_TOKEN_LIVE = {.sql = "SELECT 1 FROM workspace_tokens t JOIN workspaces w ON "
				     "w.id = t.workspace_id WHERE t.id = $1::uuid AND t.revoked_at "
				     "IS NULL AND w.status <> 'removed' FOR NO KEY UPDATE OF t",
			      .nparams = 1};

/* Note 2a: locks the token row of e->token_id; CO_OK if it is live, else
 * CO_EREVOKED. */
static int lock_token(pg_conn *c, const co_audit_entry *e)
{
	co_id tid;
	if (co_id_parse(e->token_id, &tid))
		return co_err_set(CO_EREVOKED, "the token of this write is not a token id");
	const char *p[] = {tid.s};
	PGresult *r;
	int rc = pg_run(c, &Q_TOKEN_LIVE, p, &r);
	if (rc)
		return rc;
	bool live = PQntuples(r) > 0;
	PQclear(r);
	return live ? CO_OK
		    : co_err_set(CO_EREVOKED, "token %s was revoked, or its workspace removed, "
				 "before this write could commit", tid.s);
}

/* Runs a parameterless statement (or several) outside the statement cache; CO_OK with
 * *out the last result (PQclear it), which must have status `want`. */
static int exec_text(pg_conn *c, const char *sql, ExecStatusType want, const char *what,
		     PGresult **out)
{
	*out = NULL;
	if (!c->conn)
		return co_err_set(CO_EUNAVAIL, "no database connection");
	PGresult *r = PQexec(c->conn, sql);
	if (PQresultStatus(r) != want) {
		int rc = pg_fail(c, r, what);
		PQclear(r);
		return rc;
	}
	*out = r;
	return CO_OK;
}

int pg_audit_append(pg_conn *c, const co_audit_entry *e)
{
	int rc;
	if (e->token_id && !co_audit_is_own_revoke(e) && (rc = lock_token(c, e))) /* note 2a, first */
		return rc;
	/* Note 2: the lock, then (a later statement, a new snapshot) the head. */
	char sql[160];
	snprintf(sql, sizeof sql,
		 "SELECT pg_advisory_xact_lock(%lld); "
		 "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
		 (long long)AUDIT_LOCK);
	PGresult *r;
	if ((rc = exec_text(c, sql, PGRES_TUPLES_OK, "reading the audit log's head", &r)))
		return rc;
	int64_t prev_seq = 0;
	char prev_hash[CO_AUDIT_HASH_HEX + 1] = CO_AUDIT_GENESIS;
	if (PQntuples(r) > 0) {
		const char *h = pg_val(r, 0, 1);
		prev_seq = pg_ival(r, 0, 0);
		/* Not 64 characters: co_audit_record_make refuses it and the write fails
		 * rather than go unaudited. */
		snprintf(prev_hash, sizeof prev_hash, "%s", h && strlen(h) == CO_AUDIT_HASH_HEX ? h : "");
	}
	PQclear(r);
	co_audit_record rec;
	if ((rc = co_audit_record_make(&rec, e, prev_seq, prev_hash, co_clock_now_us())))
		return rc;
	char seq[24], at[24];
	const char *p[] = {pg_i64(seq, rec.seq), rec.id.s, pg_i64(at, rec.at), rec.actor, rec.action,
			   rec.target, rec.detail_json, rec.prev_hash, rec.hash};
	rc = pg_run0(c, &Q_INSERT, p);
	co_audit_record_clear(&rec);
	return rc;
}

/* Copies a hash column into out, or "" if it is not exactly 64 characters (note 4). */
static void col_hash(PGresult *r, int row, int col, char out[CO_AUDIT_HASH_HEX + 1])
{
	const char *t = pg_val(r, row, col);
	if (t && strlen(t) == CO_AUDIT_HASH_HEX)
		memcpy(out, t, CO_AUDIT_HASH_HEX + 1);
	else
		out[0] = 0;
}

/* A view of row `row` of an AUDIT_COLS result: the strings are libpq's (note 4). */
static void view_row(PGresult *r, int row, co_audit_record *rec)
{
	rec->seq = pg_ival(r, row, 0);
	pg_id(r, row, 1, &rec->id);
	rec->at = pg_ival(r, row, 2);
	rec->actor = pg_val(r, row, 3);
	rec->action = pg_val(r, row, 4);
	rec->target = pg_val(r, row, 5);
	rec->detail_json = pg_val(r, row, 6);
	col_hash(r, row, 7, rec->prev_hash);
	col_hash(r, row, 8, rec->hash);
}

/* pg_collect's reader: row `row` as an owned record. */
static int read_rec(PGresult *r, int row, void *item)
{
	co_audit_record *rec = item, v;
	memset(&v, 0, sizeof v);
	view_row(r, row, &v);
	*rec = v;
	rec->actor = strdup(v.actor ? v.actor : "");
	rec->action = strdup(v.action ? v.action : "");
	rec->target = strdup(v.target ? v.target : "");
	rec->detail_json = strdup(v.detail_json ? v.detail_json : "");
	if (!rec->actor || !rec->action || !rec->target || !rec->detail_json) {
		co_audit_record_clear(rec);
		return co_err_set(CO_ENOMEM, "out of memory reading the audit log");
	}
	return CO_OK;
}

int pg_audit_list(co_store *base, const co_audit_filter *f, co_audit_list *out)
{
	pg_store *s = (pg_store *)base;
	char *upper = NULL;
	bool bounded = false;
	if (f->target_prefix && f->target_prefix[0]) {
		if (!(upper = malloc(strlen(f->target_prefix) + 5)))
			return co_err_set(CO_ENOMEM, "out of memory");
		bounded = co_mem_prefix_upper(f->target_prefix, upper);
	}
	/* Every parameter is always passed ($n keeps its number); unused ones are NULL, and
	 * a clause is written only for a filter that is given. */
	char sql[600];
	snprintf(sql, sizeof sql,
		 "SELECT " AUDIT_COLS " FROM audit_log WHERE seq > $1::bigint%s%s%s%s%s%s "
		 "ORDER BY seq LIMIT $8::int",
		 f->actor ? " AND actor = $2::text" : "", f->action ? " AND action = $3::text" : "",
		 upper ? " AND target >= $4::text" : "", bounded ? " AND target < $5::text" : "",
		 f->since ? " AND at >= $6::bigint" : "", f->until ? " AND at < $7::bigint" : "");
	char after[24], since[24], until[24], limit[24];
	const char *p[8] = {pg_i64(after, f->after > 0 ? f->after : 0),
			    f->actor,
			    f->action,
			    upper ? f->target_prefix : NULL,
			    bounded ? upper : NULL,
			    f->since ? pg_i64(since, f->since) : NULL,
			    f->until ? pg_i64(until, f->until) : NULL,
			    pg_i64(limit, f->limit > 0 ? f->limit : CO_LIST_DEFAULT)};
	/* Parameters not named in the text must still have a type: declare them all. */
	static const Oid types[8] = {20, 25, 25, 25, 25, 20, 20, 23}; /* int8, text, int4 */
	pg_conn *c = pg_conn_get(s);
	int rc = CO_OK;
	if (!c->conn) {
		rc = co_err_set(CO_EUNAVAIL, "no database connection");
	} else {
		PGresult *r = PQexecParams(c->conn, sql, 8, types, p, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			rc = pg_fail(c, r, "listing the audit log");
		else
			rc = pg_collect(r, (void **)&out->items, &out->n, sizeof *out->items, read_rec);
		PQclear(r);
	}
	pg_conn_put(s, c);
	free(upper);
	return pg_no_retry(rc);
}

/* The walk of note 4 on connection c, inside its read-only transaction. */
static int verify_on(pg_conn *c, co_audit_verify *out)
{
	co_audit_record prev = {0}, cur;
	bool have_prev = false;
	for (;;) {
		char after[24], lim[24];
		const char *p[] = {pg_i64(after, have_prev ? prev.seq : 0), pg_i64(lim, VERIFY_PAGE)};
		PGresult *r;
		int rc = pg_run(c, &Q_PAGE, p, &r);
		if (rc)
			return rc;
		int n = PQntuples(r);
		for (int i = 0; i < n; i++) {
			memset(&cur, 0, sizeof cur);
			view_row(r, i, &cur);
			out->records++;
			if (co_audit_verify_step(have_prev ? &prev : NULL, &cur, out)) {
				PQclear(r);
				return CO_OK; /* broken: out says where */
			}
			/* Only seq and hash of the previous record are needed by the next step. */
			prev.seq = cur.seq;
			memcpy(prev.hash, cur.hash, sizeof prev.hash);
			have_prev = true;
		}
		PQclear(r);
		if (n < VERIFY_PAGE)
			return CO_OK;
	}
}

int pg_audit_verify(co_store *base, co_audit_verify *out)
{
	pg_store *s = (pg_store *)base;
	memset(out, 0, sizeof *out);
	out->valid = true;
	pg_conn *c = pg_conn_get(s);
	PGresult *r;
	int rc = exec_text(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK,
			   "beginning a read", &r);
	PQclear(r);
	if (rc == CO_OK) {
		rc = verify_on(c, out);
		int end = exec_text(c, rc ? "ROLLBACK" : "COMMIT", PGRES_COMMAND_OK, "ending a read", &r);
		PQclear(r);
		if (rc == CO_OK)
			rc = end;
	}
	pg_conn_put(s, c);
	return pg_no_retry(rc);
}
