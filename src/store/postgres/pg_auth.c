/*
 * pg_auth.c — workspace tokens and workspace lineage on the PostgreSQL backend (store.h
 * "tokens and the hierarchy", SPEC §10, core/auth.h).
 *
 * DESIGN NOTES
 *  1. Creating a token runs in one transaction (pg_in_tx, so its audit record commits
 *     with it): the workspace row is locked FOR SHARE and checked live
 *     (pg_check_ws_writable), then the token inserted. A concurrent removal's UPDATE of
 *     that row waits for the create to commit, and ws_delete revokes the subtree's tokens
 *     in a LATER statement of its transaction (pg_store.c), whose READ COMMITTED snapshot
 *     is taken after that wait and so sees the new token. The other way round, the
 *     create's FOR SHARE waits for the removal and then reads "removed": refused. Either
 *     way no live token is left on a removed workspace.
 *  2. The prefix is unique over every token ever made: the UNIQUE index decides (23505,
 *     CO_EEXISTS through pg_fail; the caller mints again), never a look-up first.
 *  3. Revoking is one UPDATE … WHERE id AND workspace_id AND revoked_at IS NULL RETURNING
 *     in pg_in_tx (audited). Concurrent revokes queue on the row lock and PostgreSQL
 *     re-checks the WHERE on the newest row version, so exactly one gets the row.
 *  4. Touching (last_used_at) is one autocommit statement outside pg_in_tx, so it never
 *     appends an audit record whatever entry is current; the WHERE clause only moves the
 *     time forward, so concurrent touches never take it back. A row locked by the
 *     token's own writes in flight (audit.h note 5) is skipped, not waited for: the
 *     touch is best effort and the gate must not queue behind them.
 *  5. token_lookup and ws_lineage are autocommit reads: each is one statement, so one
 *     snapshot. The lookup joins the workspace (a removed workspace's token is not
 *     found). The lineage walks parent_id up to the root with each row's depth, so the
 *     order is [id, parent, …, root]; it is bounded (LINEAGE_MAX) and must end at a root,
 *     so a cycle written by hand is an internal error, never an endless query.
 *  6. Tokens are listed by id (UUIDv7: creation order), live ones only, hash left empty,
 *     by one query from the workspace LEFT JOIN its tokens: no row means no workspace, a
 *     single row of NULLs a workspace with no token on that page.
 */
#include "../../core/err.h"
#include "pg_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINEAGE_MAX "100000" /* levels; far beyond any real tree (note 5) */
#define TOKEN_COLS "t.id, t.workspace_id, t.prefix, t.hash, t.created_at, t.last_used_at, t.revoked_at"

static pg_sql Q_INSERT = {.sql = "INSERT INTO workspace_tokens (id, workspace_id, prefix, hash, "
				 "created_at) VALUES ($1::uuid, $2::uuid, $3, $4, $5::bigint)",
			  .nparams = 5};
/* Note 6: no row, no workspace; a single row of NULLs, no token on the page. */
static pg_sql Q_LIST = {.sql = "SELECT " TOKEN_COLS " FROM workspaces w LEFT JOIN workspace_tokens "
			       "t ON t.workspace_id = w.id AND t.revoked_at IS NULL AND ($2::uuid IS "
			       "NULL OR t.id > $2::uuid) WHERE w.id = $1::uuid ORDER BY t.id "
			       "LIMIT $3::int",
			.nparams = 3};
static pg_sql Q_REVOKE = {.sql = "UPDATE workspace_tokens SET revoked_at = $3::bigint WHERE "
				 "id = $2::uuid AND workspace_id = $1::uuid AND revoked_at IS NULL "
				 "RETURNING id",
			  .nparams = 3};
static pg_sql Q_LOOKUP = {.sql = "SELECT " TOKEN_COLS " FROM workspace_tokens t JOIN workspaces w "
				 "ON w.id = t.workspace_id WHERE t.prefix = $1 AND t.revoked_at IS "
				 "NULL AND w.status <> 'removed'",
			  .nparams = 1};
static pg_sql Q_TOUCH = {.sql = "UPDATE workspace_tokens SET last_used_at = $2::bigint WHERE "
				"id = (SELECT id FROM workspace_tokens WHERE id = $1::uuid AND "
				"(last_used_at IS NULL OR last_used_at < $2::bigint) "
				"FOR NO KEY UPDATE SKIP LOCKED)",
			 .nparams = 2};
static pg_sql Q_LINEAGE = {
	.sql = "WITH RECURSIVE up(id, parent_id, status, depth) AS (SELECT id, parent_id, status, 0 "
	       "FROM workspaces WHERE id = $1::uuid UNION ALL SELECT w.id, w.parent_id, w.status, "
	       "up.depth + 1 FROM workspaces w JOIN up ON w.id = up.parent_id WHERE up.depth < "
	       LINEAGE_MAX ") SELECT id, parent_id, status FROM up ORDER BY depth",
	.nparams = 1};

/* Reads row `row` of TOKEN_COLS; with_hash false leaves hash_hex empty (lists never
 * show it). */
static void read_token_row(PGresult *r, int row, co_token *t, bool with_hash)
{
	memset(t, 0, sizeof *t);
	pg_id(r, row, 0, &t->id);
	pg_id(r, row, 1, &t->workspace_id);
	const char *prefix = pg_val(r, row, 2);
	snprintf(t->prefix, sizeof t->prefix, "%s", prefix ? prefix : "");
	const char *hash = with_hash ? pg_val(r, row, 3) : NULL;
	snprintf(t->hash_hex, sizeof t->hash_hex, "%s", hash ? hash : "");
	t->created_at = pg_ival(r, row, 4);
	t->last_used_at = pg_ival(r, row, 5); /* NULL reads as 0: never used */
	t->revoked_at = pg_ival(r, row, 6);
}

static int read_listed_token(PGresult *r, int row, void *item)
{
	read_token_row(r, row, item, false);
	return CO_OK;
}

struct create_args {
	const co_id *ws;
	const co_token *in;
	co_token *out;
	co_conflict *conflict;
};

static int tx_create(pg_conn *c, void *arg)
{
	struct create_args *a = arg;
	int rc = pg_check_ws_writable(c, a->ws, a->conflict);
	if (rc)
		return rc;
	co_token t;
	if ((rc = co_token_new_row(a->ws, a->in, &t)))
		return rc;
	char at[24];
	const char *p[] = {t.id.s, t.workspace_id.s, t.prefix, t.hash_hex, pg_i64(at, t.created_at)};
	rc = pg_run0(c, &Q_INSERT, p);
	if (rc == CO_EEXISTS) /* note 2 */
		return co_err_set(CO_EEXISTS, "token prefix %s is taken", t.prefix);
	if (rc)
		return rc;
	*a->out = t; /* only on success: a retried transaction starts over */
	return CO_OK;
}

int pg_token_create(co_store *s, const co_id *ws, const co_token *in, co_token *out,
		    co_conflict *conflict)
{
	struct create_args a = {ws, in, out, conflict};
	return pg_in_tx((pg_store *)s, tx_create, &a);
}

int pg_token_list(co_store *base, const co_id *ws, const co_page *pg, co_token_list *out)
{
	pg_store *s = (pg_store *)base;
	pg_conn *c = pg_conn_get(s);
	char lim[24];
	const char *p[] = {ws->s, pg->has_after ? pg->after.s : NULL, pg_i64(lim, pg->limit)};
	PGresult *r;
	int rc = pg_run(c, &Q_LIST, p, &r);
	if (rc == CO_OK) {
		if (PQntuples(r) == 0) /* note 6 */
			rc = co_err_set(CO_ENOTFOUND, "workspace %s not found", ws->s);
		else if (pg_val(r, 0, 0)) /* else a single row of NULLs: no token on the page */
			rc = pg_collect(r, (void **)&out->items, &out->n, sizeof *out->items,
					read_listed_token);
		PQclear(r);
	}
	pg_conn_put(s, c);
	return pg_no_retry(rc);
}

struct revoke_args {
	const co_id *ws;
	const co_id *tid;
};

static int tx_revoke(pg_conn *c, void *arg)
{
	struct revoke_args *a = arg;
	char now[24];
	const char *p[] = {a->ws->s, a->tid->s, pg_i64(now, co_clock_now_us())};
	PGresult *r;
	int rc = pg_run(c, &Q_REVOKE, p, &r);
	if (rc)
		return rc;
	bool revoked = PQntuples(r) > 0;
	PQclear(r);
	if (!revoked) /* note 3 */
		return co_err_set(CO_ENOTFOUND, "token %s of workspace %s not found (or already revoked)",
				  a->tid->s, a->ws->s);
	return CO_OK;
}

int pg_token_revoke(co_store *s, const co_id *ws, const co_id *tid)
{
	struct revoke_args a = {ws, tid};
	return pg_in_tx((pg_store *)s, tx_revoke, &a);
}

int pg_token_lookup(co_store *base, const char *prefix, co_token *out)
{
	pg_store *s = (pg_store *)base;
	pg_conn *c = pg_conn_get(s);
	const char *p[] = {prefix};
	PGresult *r;
	int rc = pg_run(c, &Q_LOOKUP, p, &r);
	if (rc == CO_OK) {
		if (PQntuples(r) > 0)
			read_token_row(r, 0, out, true);
		else
			rc = co_err_set(CO_ENOTFOUND, "no live token has this prefix");
		PQclear(r);
	}
	pg_conn_put(s, c);
	return pg_no_retry(rc);
}

int pg_token_touch(co_store *base, const co_id *tid, co_usec_t at)
{
	pg_store *s = (pg_store *)base;
	pg_conn *c = pg_conn_get(s); /* note 4: autocommit, outside pg_in_tx: never audited */
	char at_s[24];
	const char *p[] = {tid->s, pg_i64(at_s, at)};
	int rc = pg_run0(c, &Q_TOUCH, p);
	pg_conn_put(s, c);
	return pg_no_retry(rc);
}

int pg_ws_lineage(co_store *base, const co_id *id, co_id_list *out, bool *removed)
{
	pg_store *s = (pg_store *)base;
	co_id_list_clear(out);
	*removed = false;
	pg_conn *c = pg_conn_get(s);
	const char *p[] = {id->s};
	PGresult *r;
	int rc = pg_run(c, &Q_LINEAGE, p, &r);
	pg_conn_put(s, c);
	if (rc)
		return pg_no_retry(rc);
	int n = PQntuples(r);
	if (n == 0)
		rc = co_err_set(CO_ENOTFOUND, "workspace %s not found", id->s);
	else if (pg_val(r, n - 1, 1)) /* note 5 */
		rc = co_err_set(CO_EINTERNAL, "the lineage of workspace %s does not reach a root "
				"within " LINEAGE_MAX " levels (a cycle?)", id->s);
	else if (!(out->ids = calloc((size_t)n, sizeof *out->ids)))
		rc = co_err_set(CO_ENOMEM, "out of memory reading a lineage");
	else {
		for (int i = 0; i < n; i++)
			pg_id(r, i, 0, &out->ids[out->n++]);
		*removed = !strcmp(pg_val(r, 0, 2), "removed");
	}
	PQclear(r);
	return rc;
}
