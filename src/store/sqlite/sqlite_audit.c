/*
 * sqlite_audit.c — the audit log on the SQLite backend (store.h note 6, SPEC §7,
 * core/audit.h).
 *
 * DESIGN NOTES
 *  1. Append. sqlite_store.c's write path (run_batch for queued ops, sq_write_inline for
 *     an executor task's calls) calls sq_audit_append right after a write op returned
 *     CO_OK and before its savepoint is released, on the writer connection. So the
 *     record is in the op's savepoint: the op and its record commit or roll back
 *     together, and an append that fails fails the op. Under the database write lock
 *     (BEGIN IMMEDIATE) nobody else appends — no thread of this process, no other
 *     process on the file — so the newest row read by Q_HEAD is the chain's head and
 *     seq = head + 1 leaves no gap. Two prepared statements, an index seek and an insert.
 *  1a. A token's write (audit.h note 5). When the entry names a token_id, the append first
 *     reads, on the same connection and so in the same transaction, whether that token
 *     is unrevoked and its workspace not removed (a primary-key seek and a join), and
 *     fails with CO_EREVOKED if not: the caller rolls the op's savepoint back, so nothing
 *     of the write persists. The write lock already orders it against every revoke and
 *     removal: one that committed earlier is seen, and so is one earlier in this very
 *     batch (the same connection reads the batch's own uncommitted writes); one that
 *     comes later runs after this op. An id that is not a UUID, or names no token, is
 *     CO_EREVOKED too. One write is exempt: the token's revoke of itself (its action
 *     token.revoke, its target ending in the token's id), which succeeded only because
 *     the token was live under the write lock, and whose record is the revoke's own.
 *  2. Verification walks the rows in seq order, VERIFY_PAGE at a time, on one reader
 *     connection and so in one read snapshot; each row is checked from SQLite's column
 *     buffers without copying its strings. A hash column that is not exactly 64
 *     characters is read as "" so that it can never match (a truncated copy could).
 *  3. Listing builds its WHERE from the filters given, so SQLite can use the index of
 *     the one that narrows (actor, action or target, each with seq); a target prefix is
 *     a range [prefix, its upper bound). The statement is prepared per call: there are
 *     32 combinations and GET /audit is not a hot path.
 */
#include "../../core/err.h"
#include "../../core/memory.h"
#include "../../core/validate.h"
#include "sqlite_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUDIT_COLS "seq, id, at, actor, action, target, detail, prev_hash, hash"
#define VERIFY_PAGE 1000

static sq_sql Q_HEAD = {.sql = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"};
static sq_sql Q_INSERT = {.sql = "INSERT INTO audit_log (" AUDIT_COLS ") "
			  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"};
static sq_sql Q_PAGE = {.sql = "SELECT " AUDIT_COLS " FROM audit_log WHERE seq > ?1 "
			"ORDER BY seq LIMIT ?2"};
static sq_sql Q_TOKEN_LIVE = {.sql = "SELECT 1 FROM workspace_tokens t JOIN workspaces w ON "
				     "w.id = t.workspace_id WHERE t.id = ?1 AND t.revoked_at IS "
				     "NULL AND w.status <> 'removed'"};

/* Note 1a: CO_OK if the token e->token_id is live, else CO_EREVOKED. */
static int check_token(sq_conn *c, const co_audit_entry *e)
{
	co_id tid;
	if (co_id_parse(e->token_id, &tid))
		return co_err_set(CO_EREVOKED, "the token of this write is not a token id");
	sqlite3_stmt *st = sq_prep(c, &Q_TOKEN_LIVE);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, tid.s);
	int rc = sqlite3_step(st);
	sq_done(st);
	if (rc == SQLITE_ROW)
		return CO_OK;
	if (rc != SQLITE_DONE)
		return sq_fail(c, rc, "checking the token of a write");
	return co_err_set(CO_EREVOKED, "token %s was revoked, or its workspace removed, before "
			  "this write could commit", tid.s);
}

int sq_audit_append(sq_conn *c, const co_audit_entry *e)
{
	int rc;
	if (e->token_id && !co_audit_is_own_revoke(e) && (rc = check_token(c, e)))
		return rc;
	sqlite3_stmt *st = sq_prep(c, &Q_HEAD);
	if (!st)
		return CO_EINTERNAL;
	int64_t prev_seq = 0;
	char prev_hash[CO_AUDIT_HASH_HEX + 1] = CO_AUDIT_GENESIS;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(st, 1);
		prev_seq = sqlite3_column_int64(st, 0);
		/* A head hash that is not 64 characters: co_audit_record_make refuses it, and
		 * the write fails rather than go unaudited. */
		snprintf(prev_hash, sizeof prev_hash, "%s", h && strlen(h) == CO_AUDIT_HASH_HEX ? h : "");
		rc = SQLITE_DONE;
	}
	sq_done(st);
	if (rc != SQLITE_DONE)
		return sq_fail(c, rc, "reading the audit log's head");
	co_audit_record r;
	if ((rc = co_audit_record_make(&r, e, prev_seq, prev_hash, co_clock_now_us())))
		return rc;
	if (!(st = sq_prep(c, &Q_INSERT))) {
		co_audit_record_clear(&r);
		return CO_EINTERNAL;
	}
	sqlite3_bind_int64(st, 1, r.seq);
	sq_bind_text(st, 2, r.id.s);
	sqlite3_bind_int64(st, 3, r.at);
	sq_bind_text(st, 4, r.actor);
	sq_bind_text(st, 5, r.action);
	sq_bind_text(st, 6, r.target);
	sq_bind_text(st, 7, r.detail_json);
	sq_bind_text(st, 8, r.prev_hash);
	sq_bind_text(st, 9, r.hash);
	rc = sqlite3_step(st);
	sq_done(st);
	co_audit_record_clear(&r);
	return rc == SQLITE_DONE ? CO_OK : sq_fail(c, rc, "appending an audit record");
}

/* Copies a hash column into out, or "" if it is not exactly 64 characters (note 2). */
static void col_hash(sqlite3_stmt *st, int i, char out[CO_AUDIT_HASH_HEX + 1])
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	if (t && strlen(t) == CO_AUDIT_HASH_HEX)
		memcpy(out, t, CO_AUDIT_HASH_HEX + 1);
	else
		out[0] = 0;
}

/* A view of the current row of an AUDIT_COLS statement: the strings are SQLite's, valid
 * until the statement steps again (note 2). */
static void view_row(sqlite3_stmt *st, co_audit_record *r)
{
	r->seq = sqlite3_column_int64(st, 0);
	sq_col_id(st, 1, &r->id);
	r->at = sqlite3_column_int64(st, 2);
	r->actor = (char *)sqlite3_column_text(st, 3);
	r->action = (char *)sqlite3_column_text(st, 4);
	r->target = (char *)sqlite3_column_text(st, 5);
	r->detail_json = (char *)sqlite3_column_text(st, 6);
	col_hash(st, 7, r->prev_hash);
	col_hash(st, 8, r->hash);
}

/* sq_collect's reader: the current row as an owned record. */
static int read_rec(sqlite3_stmt *st, void *item)
{
	co_audit_record *r = item, v;
	memset(&v, 0, sizeof v);
	view_row(st, &v);
	*r = v;
	r->actor = strdup(v.actor ? v.actor : "");
	r->action = strdup(v.action ? v.action : "");
	r->target = strdup(v.target ? v.target : "");
	r->detail_json = strdup(v.detail_json ? v.detail_json : "");
	if (!r->actor || !r->action || !r->target || !r->detail_json) {
		co_audit_record_clear(r);
		return co_err_set(CO_ENOMEM, "out of memory reading the audit log");
	}
	return CO_OK;
}

int sq_audit_list(co_store *base, const co_audit_filter *f, co_audit_list *out)
{
	sq_store *s = (sq_store *)base;
	char *upper = NULL;
	bool bounded = false;
	if (f->target_prefix && f->target_prefix[0]) {
		if (!(upper = malloc(strlen(f->target_prefix) + 5)))
			return co_err_set(CO_ENOMEM, "out of memory");
		bounded = co_mem_prefix_upper(f->target_prefix, upper);
	}
	/* Parameters keep their numbers whichever clauses are present. */
	char sql[512];
	snprintf(sql, sizeof sql,
		 "SELECT " AUDIT_COLS " FROM audit_log WHERE seq > ?1%s%s%s%s%s%s "
		 "ORDER BY seq LIMIT ?8",
		 f->actor ? " AND actor = ?2" : "", f->action ? " AND action = ?3" : "",
		 upper ? " AND target >= ?4" : "", bounded ? " AND target < ?5" : "",
		 f->since ? " AND at >= ?6" : "", f->until ? " AND at < ?7" : "");
	sq_conn *c = sq_reader_get(s);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		rc = sq_fail(c, rc, "preparing an audit query");
	} else {
		sqlite3_bind_int64(st, 1, f->after > 0 ? f->after : 0);
		if (f->actor)
			sq_bind_text(st, 2, f->actor);
		if (f->action)
			sq_bind_text(st, 3, f->action);
		if (upper)
			sq_bind_text(st, 4, f->target_prefix);
		if (bounded)
			sq_bind_text(st, 5, upper);
		if (f->since)
			sqlite3_bind_int64(st, 6, f->since);
		if (f->until)
			sqlite3_bind_int64(st, 7, f->until);
		sqlite3_bind_int(st, 8, f->limit > 0 ? f->limit : CO_LIST_DEFAULT);
		rc = sq_collect(c, st, (void **)&out->items, &out->n, sizeof *out->items, read_rec,
				"listing the audit log");
	}
	sqlite3_finalize(st);
	sq_reader_put(s, c);
	free(upper);
	return rc;
}

int sq_audit_verify(co_store *base, co_audit_verify *out)
{
	sq_store *s = (sq_store *)base;
	memset(out, 0, sizeof *out);
	out->valid = true;
	sq_conn *c = sq_reader_get(s);
	sqlite3_stmt *st = sq_prep(c, &Q_PAGE);
	int rc = st ? CO_OK : CO_EINTERNAL;
	co_audit_record prev = {0}, cur;
	bool have_prev = false, more = true;
	while (rc == CO_OK && more && out->valid) {
		sqlite3_bind_int64(st, 1, have_prev ? prev.seq : 0);
		sqlite3_bind_int(st, 2, VERIFY_PAGE);
		int n = 0, step;
		while ((step = sqlite3_step(st)) == SQLITE_ROW) {
			n++;
			memset(&cur, 0, sizeof cur);
			view_row(st, &cur);
			out->records++;
			if (co_audit_verify_step(have_prev ? &prev : NULL, &cur, out))
				break;
			/* Only seq and hash of the previous record are needed by the next step. */
			prev.seq = cur.seq;
			memcpy(prev.hash, cur.hash, sizeof prev.hash);
			have_prev = true;
		}
		if (step != SQLITE_ROW && step != SQLITE_DONE)
			rc = sq_fail(c, step, "reading the audit log");
		more = step == SQLITE_DONE && n == VERIFY_PAGE;
		sq_done(st);
	}
	sq_reader_put(s, c);
	return rc;
}
