/*
 * sqlite_auth.c — workspace tokens and workspace lineage on the SQLite backend (store.h
 * "tokens and the hierarchy", SPEC §10, core/auth.h).
 *
 * DESIGN NOTES
 *  1. Creating a token is ONE write op (sq_write): under the database write lock the
 *     workspace is checked live and the row inserted. A removal of that workspace is a
 *     write op too, so it runs wholly before (the create is refused: removed) or wholly
 *     after (its subtree update revokes the new token, sqlite_store.c). The prefix is
 *     unique over every token ever made, live or revoked: the UNIQUE index decides
 *     (SQLITE_CONSTRAINT_UNIQUE is CO_EEXISTS, the caller mints again), never a look-up.
 *  2. Revoking is one UPDATE … WHERE id AND workspace_id AND revoked_at IS NULL RETURNING:
 *     under the write lock exactly one of any number of concurrent revokes gets the row;
 *     the others find nothing (CO_ENOTFOUND), as does another workspace's token.
 *  3. Touching (last_used_at) only moves the time forward, in the WHERE clause, and is
 *     never audited: the caller's current audit entry is set aside for the call, so
 *     sq_write carries none to the writer (nor appends one inline on the writer thread).
 *  4. token_lookup and ws_lineage are reads on a reader connection. The lookup joins the
 *     workspace, so a token of a removed workspace is not found even before (or without)
 *     its revocation. The lineage is one recursive query walking parent_id up to the
 *     root, each row with its depth so the order is [id, parent, …, root]; it is bounded
 *     (LINEAGE_MAX) and must end at a root, so a cycle written by hand into the table is
 *     an internal error, never an endless query or a truncated lineage.
 *  5. Tokens are listed by id (UUIDv7: creation order), live ones only, hash left empty,
 *     by one query from the workspace LEFT JOIN its tokens: no row means no workspace, a
 *     single row of NULLs a workspace with no token on that page (page_end).
 */
#include "../../core/err.h"
#include "sqlite_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINEAGE_MAX 100000 /* levels; far beyond any real tree (note 4) */
#define TOKEN_COLS                                                                           \
	"t.id, t.workspace_id, t.prefix, t.hash, t.created_at, t.last_used_at, t.revoked_at"

static sq_sql Q_INSERT = {.sql = "INSERT INTO workspace_tokens (id, workspace_id, prefix, hash, "
				 "created_at) VALUES (?1, ?2, ?3, ?4, ?5)"};
/* Note 5: no row, no workspace; a single row of NULLs, no token on the page. */
static sq_sql Q_LIST = {.sql = "SELECT " TOKEN_COLS " FROM workspaces w LEFT JOIN "
			       "workspace_tokens t ON t.workspace_id = w.id AND t.revoked_at IS NULL "
			       "AND t.id > ?2 WHERE w.id = ?1 ORDER BY t.id LIMIT ?3"};
static sq_sql Q_REVOKE = {.sql = "UPDATE workspace_tokens SET revoked_at = ?3 WHERE id = ?2 AND "
				 "workspace_id = ?1 AND revoked_at IS NULL RETURNING id"};
static sq_sql Q_LOOKUP = {.sql = "SELECT " TOKEN_COLS " FROM workspace_tokens t JOIN workspaces w "
				 "ON w.id = t.workspace_id WHERE t.prefix = ?1 AND t.revoked_at IS "
				 "NULL AND w.status <> 'removed'"};
static sq_sql Q_TOUCH = {.sql = "UPDATE workspace_tokens SET last_used_at = ?2 WHERE id = ?1 AND "
				"(last_used_at IS NULL OR last_used_at < ?2)"};
static sq_sql Q_LINEAGE = {
	.sql = "WITH RECURSIVE up(id, parent_id, status, depth) AS (SELECT id, parent_id, status, 0 "
	       "FROM workspaces WHERE id = ?1 UNION ALL SELECT w.id, w.parent_id, w.status, "
	       "up.depth + 1 FROM workspaces w JOIN up ON w.id = up.parent_id WHERE up.depth < ?2) "
	       "SELECT id, parent_id, status FROM up ORDER BY depth"};

/* Reads a row of TOKEN_COLS; with_hash false leaves hash_hex empty (lists never show it). */
static void read_token_row(sqlite3_stmt *st, co_token *t, bool with_hash)
{
	memset(t, 0, sizeof *t);
	sq_col_id(st, 0, &t->id);
	sq_col_id(st, 1, &t->workspace_id);
	const unsigned char *prefix = sqlite3_column_text(st, 2);
	snprintf(t->prefix, sizeof t->prefix, "%s", prefix ? (const char *)prefix : "");
	const unsigned char *hash = with_hash ? sqlite3_column_text(st, 3) : NULL;
	snprintf(t->hash_hex, sizeof t->hash_hex, "%s", hash ? (const char *)hash : "");
	t->created_at = sqlite3_column_int64(st, 4);
	t->last_used_at = sqlite3_column_int64(st, 5); /* NULL reads as 0: never used */
	t->revoked_at = sqlite3_column_int64(st, 6);
}

static int read_listed_token(sqlite3_stmt *st, void *item)
{
	read_token_row(st, item, false);
	return CO_OK;
}

/* After Q_LIST: no row, no workspace; a single row of NULLs, no token on the page. */
static int page_end(co_token_list *out, const co_id *ws)
{
	if (out->n == 0)
		return co_err_set(CO_ENOTFOUND, "workspace %s not found", ws->s);
	if (!out->items[0].id.s[0])
		out->n = 0;
	return CO_OK;
}

struct create_args {
	const co_id *ws;
	const co_token *in;
	co_token *out;
	co_conflict *conflict;
};

static int op_create(sq_conn *c, void *arg)
{
	struct create_args *a = arg;
	int rc = sq_check_ws_writable(c, a->ws, a->conflict);
	if (rc)
		return rc;
	co_token t;
	if ((rc = co_token_new_row(a->ws, a->in, &t)))
		return rc;
	sqlite3_stmt *st = sq_prep(c, &Q_INSERT);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, t.id.s);
	sq_bind_text(st, 2, t.workspace_id.s);
	sq_bind_text(st, 3, t.prefix);
	sq_bind_text(st, 4, t.hash_hex);
	sqlite3_bind_int64(st, 5, t.created_at);
	rc = sqlite3_step(st);
	sq_done(st);
	if (rc == SQLITE_CONSTRAINT_UNIQUE) /* note 1 */
		return co_err_set(CO_EEXISTS, "token prefix %s is taken", t.prefix);
	if (rc != SQLITE_DONE)
		return sq_fail(c, rc, "storing a token");
	*a->out = t;
	return CO_OK;
}

int sq_token_create(co_store *s, const co_id *ws, const co_token *in, co_token *out,
		    co_conflict *conflict)
{
	struct create_args a = {ws, in, out, conflict};
	return sq_write((sq_store *)s, op_create, &a);
}

int sq_token_list(co_store *base, const co_id *ws, const co_page *p, co_token_list *out)
{
	sq_store *s = (sq_store *)base;
	sq_conn *c = sq_reader_get(s);
	int rc = CO_EINTERNAL;
	sqlite3_stmt *st = sq_prep(c, &Q_LIST);
	if (st) {
		sq_bind_text(st, 1, ws->s);
		sq_bind_text(st, 2, p->has_after ? p->after.s : "");
		sqlite3_bind_int(st, 3, p->limit);
		rc = sq_collect(c, st, (void **)&out->items, &out->n, sizeof *out->items,
				read_listed_token, "listing tokens");
		sq_done(st);
	}
	if (rc == CO_OK)
		rc = page_end(out, ws);
	sq_reader_put(s, c);
	return rc;
}

struct revoke_args {
	const co_id *ws;
	const co_id *tid;
};

static int op_revoke(sq_conn *c, void *arg)
{
	struct revoke_args *a = arg;
	sqlite3_stmt *st = sq_prep(c, &Q_REVOKE);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, a->ws->s);
	sq_bind_text(st, 2, a->tid->s);
	sqlite3_bind_int64(st, 3, co_clock_now_us());
	int rc = sqlite3_step(st);
	bool revoked = rc == SQLITE_ROW;
	if (revoked)
		rc = sqlite3_step(st);
	sq_done(st);
	if (rc != SQLITE_DONE)
		return sq_fail(c, rc, "revoking a token");
	if (!revoked) /* note 2 */
		return co_err_set(CO_ENOTFOUND, "token %s of workspace %s not found (or already revoked)",
				  a->tid->s, a->ws->s);
	return CO_OK;
}

int sq_token_revoke(co_store *s, const co_id *ws, const co_id *tid)
{
	struct revoke_args a = {ws, tid};
	return sq_write((sq_store *)s, op_revoke, &a);
}

int sq_token_lookup(co_store *base, const char *prefix, co_token *out)
{
	sq_store *s = (sq_store *)base;
	sq_conn *c = sq_reader_get(s);
	int rc = CO_EINTERNAL;
	sqlite3_stmt *st = sq_prep(c, &Q_LOOKUP);
	if (st) {
		sq_bind_text(st, 1, prefix);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			read_token_row(st, out, true);
			rc = CO_OK;
		} else if (rc == SQLITE_DONE) {
			rc = co_err_set(CO_ENOTFOUND, "no live token has this prefix");
		} else {
			rc = sq_fail(c, rc, "looking a token up");
		}
		sq_done(st);
	}
	sq_reader_put(s, c);
	return rc;
}

struct touch_args {
	const co_id *tid;
	co_usec_t at;
};

static int op_touch(sq_conn *c, void *arg)
{
	struct touch_args *a = arg;
	sqlite3_stmt *st = sq_prep(c, &Q_TOUCH);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, a->tid->s);
	sqlite3_bind_int64(st, 2, a->at);
	int rc = sqlite3_step(st);
	sq_done(st);
	return rc == SQLITE_DONE ? CO_OK : sq_fail(c, rc, "noting a token's use");
}

int sq_token_touch(co_store *s, const co_id *tid, co_usec_t at)
{
	struct touch_args a = {tid, at};
	const co_audit_entry *audit = co_audit_get(); /* note 3: never audited */
	co_audit_set(NULL);
	int rc = sq_write((sq_store *)s, op_touch, &a);
	co_audit_set(audit);
	return rc;
}

/* Appends id to the list (grown by doubling). */
static int push_id(co_id_list *l, size_t *cap, const co_id *id)
{
	if (l->n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		co_id *ids = realloc(l->ids, *cap * sizeof *ids);
		if (!ids)
			return co_err_set(CO_ENOMEM, "out of memory reading a lineage");
		l->ids = ids;
	}
	l->ids[l->n++] = *id;
	return CO_OK;
}

int sq_ws_lineage(co_store *base, const co_id *id, co_id_list *out, bool *removed)
{
	sq_store *s = (sq_store *)base;
	co_id_list_clear(out);
	*removed = false;
	sq_conn *c = sq_reader_get(s);
	int rc = CO_EINTERNAL;
	sqlite3_stmt *st = sq_prep(c, &Q_LINEAGE);
	if (st) {
		sq_bind_text(st, 1, id->s);
		sqlite3_bind_int(st, 2, LINEAGE_MAX);
		size_t cap = 0;
		bool at_root = false;
		int src = SQLITE_DONE;
		rc = CO_OK;
		while (rc == CO_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
			co_id row;
			sq_col_id(st, 0, &row);
			if (out->n == 0) {
				const unsigned char *status = sqlite3_column_text(st, 2);
				*removed = status && !strcmp((const char *)status, "removed");
			}
			at_root = sqlite3_column_type(st, 1) == SQLITE_NULL;
			rc = push_id(out, &cap, &row);
		}
		if (rc == CO_OK && src != SQLITE_DONE)
			rc = sq_fail(c, src, "reading a lineage");
		else if (rc == CO_OK && out->n == 0)
			rc = co_err_set(CO_ENOTFOUND, "workspace %s not found", id->s);
		else if (rc == CO_OK && !at_root) /* note 4 */
			rc = co_err_set(CO_EINTERNAL, "the lineage of workspace %s does not reach a root "
					"within %d levels (a cycle?)", id->s, LINEAGE_MAX);
		sq_done(st);
	}
	sq_reader_put(s, c);
	return rc;
}
