/*
 * pg_secret.c — secrets on the PostgreSQL backend (store.h "secrets", SPEC §10,
 * core/secret.h). The store never sees a value: it keeps the sealed bytes it is given
 * and hands them back; sealing and opening are the caller's (core/secret.c).
 *
 * DESIGN NOTES
 *  1. Rows (migration 009): one per (scope, name), scope being the workspace id as text or
 *     '' for a global secret; workspace_id repeats the id (NULL when global) so that
 *     purging a workspace deletes its secrets through ON DELETE CASCADE. Names are
 *     COLLATE "C": bytewise order, as on SQLite.
 *  2. A put is one transaction (pg_in_tx): the workspace is checked live under FOR SHARE
 *     (pg_check_ws_writable: a concurrent removal or purge waits for the put, or the put
 *     sees it and fails), then
 *         INSERT … ON CONFLICT (scope, name) DO NOTHING RETURNING created_at
 *     A row back means created. None means the name is held — by a committed row, or by a
 *     concurrent insert the statement waited for until it committed — and
 *         UPDATE … RETURNING created_at
 *     replaces it (a new statement: under READ COMMITTED it sees that commit), keeping
 *     created_at. If the holder was deleted in between, the UPDATE finds nothing and the
 *     transaction is run again (PG_ERETRY). So of N concurrent puts of a new name exactly
 *     one is told `created`, and none fails. The audit record joins the transaction.
 *  3. A delete of a workspace's override needs the workspace live (as every write):
 *     absent is CO_ENOTFOUND, removed is CO_ECONFLICT (the store.h signature carries no
 *     co_conflict; the caller reads CO_ECONFLICT as "removed", the only conflict here).
 *     A name that is not there is CO_ENOTFOUND.
 *  4. Parameters travel as text (pg_run): sealed bytes are sent as bytea hex ('\x…') and
 *     read back with PQunescapeBytea, whatever the server's bytea_output.
 *  5. One list statement serves the three lists of co_secret_filter, as on SQLite
 *     (sqlite_secret.c note 4). Reads are autocommit statements on a pooled connection; a
 *     workspace list first checks the workspace exists (CO_ENOTFOUND), so a merged list
 *     of an absent workspace never shows the global secrets as its own. A removed
 *     workspace's secrets stay readable.
 */
#include "../../core/err.h"
#include "pg_internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Both put statements take $1 scope, $2 workspace_id, $3 name, $4 sealed, $5 now. */
static pg_sql Q_INSERT = {
	.sql = "INSERT INTO secrets (scope, workspace_id, name, sealed, created_at, updated_at) "
	       "VALUES ($1, $2::uuid, $3, $4::bytea, $5::bigint, $5::bigint) "
	       "ON CONFLICT (scope, name) DO NOTHING RETURNING created_at",
	.nparams = 5};
static pg_sql Q_REPLACE = {
	.sql = "UPDATE secrets SET sealed = $4::bytea, updated_at = $5::bigint WHERE scope = $1 "
	       "AND workspace_id IS NOT DISTINCT FROM $2::uuid AND name = $3 RETURNING created_at",
	.nparams = 5};
static pg_sql Q_DELETE = {.sql = "DELETE FROM secrets WHERE scope = $1 AND name = $2 RETURNING 1",
			  .nparams = 2};
#define LIST_COLS "scope, name, CASE WHEN $4::boolean THEN sealed END, created_at, updated_at"
static pg_sql Q_LIST = {
	.sql = "SELECT " LIST_COLS " FROM secrets WHERE scope = $1 AND ($2::text IS NULL OR "
	       "name > $2) UNION ALL SELECT " LIST_COLS " FROM secrets AS g WHERE $5::boolean AND "
	       "g.scope = '' AND ($2::text IS NULL OR g.name > $2) AND NOT EXISTS (SELECT 1 FROM "
	       "secrets AS o WHERE o.scope = $1 AND o.name = g.name) ORDER BY name LIMIT $3::int",
	.nparams = 5};
static pg_sql Q_WS_EXISTS = {.sql = "SELECT 1 FROM workspaces WHERE id = $1::uuid", .nparams = 1};

/* The scope column's value for a secret (note 1). */
static const char *scope_of(bool global, const co_id *ws)
{
	return global ? "" : ws->s;
}

/* The bytea hex input form of b[0..n) ("\x…"), malloc'd; NULL when out of memory. */
static char *bytea_hex(const unsigned char *b, size_t n)
{
	char *t = malloc(2 * n + 3);
	if (!t)
		return NULL;
	t[0] = '\\';
	t[1] = 'x';
	sodium_bin2hex(t + 2, 2 * n + 1, b, n);
	return t;
}

static int read_secret(PGresult *r, int row, void *item)
{
	co_secret *s = item;
	memset(s, 0, sizeof *s);
	const char *scope = pg_val(r, row, 0);
	s->global = !scope || !*scope;
	if (!s->global)
		snprintf(s->workspace_id.s, sizeof s->workspace_id.s, "%s", scope);
	s->name = pg_dup(pg_val(r, row, 1));
	const char *sealed = pg_val(r, row, 2);
	bool ok = s->name != NULL;
	if (sealed && ok) {
		size_t n = 0;
		unsigned char *b = PQunescapeBytea((const unsigned char *)sealed, &n);
		if ((ok = b && (s->sealed = malloc(n ? n : 1)))) {
			memcpy(s->sealed, b, n);
			s->sealed_len = n;
		}
		PQfreemem(b);
	}
	s->created_at = pg_ival(r, row, 3);
	s->updated_at = pg_ival(r, row, 4);
	if (!ok) {
		co_secret_clear(s);
		return co_err_set(CO_ENOMEM, "out of memory reading a secret");
	}
	return CO_OK;
}

/* Runs a statement that RETURNING created_at gives at most one row of: *found and
 * *created_at. CO_OK or the storage error. */
static int run_created_at(pg_conn *c, pg_sql *q, const char *const *p, bool *found,
			  co_usec_t *created_at)
{
	PGresult *r;
	int rc = pg_run(c, q, p, &r);
	if (rc)
		return rc;
	if ((*found = PQntuples(r) == 1))
		*created_at = pg_ival(r, 0, 0);
	PQclear(r);
	return CO_OK;
}

struct put_args {
	const co_secret *in;
	const char *sealed_hex;
	co_secret *out;
	bool *created;
	co_conflict *conflict;
};

static int tx_put(pg_conn *c, void *arg)
{
	struct put_args *a = arg;
	const co_secret *in = a->in;
	int rc;
	if (!in->global && (rc = pg_check_ws_writable(c, &in->workspace_id, a->conflict)))
		return rc;
	co_usec_t now = co_clock_now_us(), created_at = now;
	char now_s[24];
	bool inserted = false, replaced = false;
	const char *p[] = {scope_of(in->global, &in->workspace_id),
			   in->global ? NULL : in->workspace_id.s, in->name, a->sealed_hex,
			   pg_i64(now_s, now)};
	if ((rc = run_created_at(c, &Q_INSERT, p, &inserted, &created_at)))
		return rc;
	/* the name is held: replace it (note 2) */
	if (!inserted && (rc = run_created_at(c, &Q_REPLACE, p, &replaced, &created_at)))
		return rc;
	if (!inserted && !replaced)
		return co_err_set(PG_ERETRY, "secret '%.64s' was deleted while it was replaced",
				  in->name);

	*a->created = inserted;
	return co_secret_put_answer(in, created_at, now, a->out);
}

int pg_secret_put(co_store *s, const co_secret *in, co_secret *out, bool *created,
		  co_conflict *conflict)
{
	*created = false;
	char *hex = bytea_hex(in->sealed, in->sealed_len);
	if (!hex)
		return co_err_set(CO_ENOMEM, "out of memory");
	struct put_args a = {in, hex, out, created, conflict};
	int rc = pg_in_tx((pg_store *)s, tx_put, &a);
	free(hex);
	return rc;
}

struct delete_args {
	bool global;
	const co_id *ws;
	const char *name;
};

static int tx_delete(pg_conn *c, void *arg)
{
	struct delete_args *a = arg;
	co_conflict conflict = {0}; /* note 3: only its code goes back */
	int rc;
	if (!a->global && (rc = pg_check_ws_writable(c, a->ws, &conflict)))
		return rc;
	const char *p[] = {scope_of(a->global, a->ws), a->name};
	PGresult *r;
	if ((rc = pg_run(c, &Q_DELETE, p, &r)))
		return rc;
	if (PQntuples(r) == 0)
		rc = co_err_set(CO_ENOTFOUND, "%s secret '%.64s' not found",
				a->global ? "global" : "workspace", a->name);
	PQclear(r);
	return rc;
}

int pg_secret_delete(co_store *s, bool global, const co_id *ws, const char *name)
{
	struct delete_args a = {global, ws, name};
	return pg_in_tx((pg_store *)s, tx_delete, &a);
}

int pg_secret_list(co_store *base, const co_secret_filter *f, co_secret_list *out)
{
	pg_store *s = (pg_store *)base;
	pg_conn *c = pg_conn_get(s);
	PGresult *r;
	int rc = CO_OK;
	if (!f->global) { /* note 5 */
		const char *w[] = {f->workspace_id.s};
		if ((rc = pg_run(c, &Q_WS_EXISTS, w, &r)) == CO_OK) {
			if (PQntuples(r) == 0)
				rc = co_err_set(CO_ENOTFOUND, "workspace %s not found", f->workspace_id.s);
			PQclear(r);
		}
	}
	if (rc == CO_OK) {
		char lim[24];
		const char *p[] = {scope_of(f->global, &f->workspace_id), f->after, pg_i64(lim, f->limit),
				   f->with_sealed ? "true" : "false",
				   !f->global && f->merged ? "true" : "false"};
		if ((rc = pg_run(c, &Q_LIST, p, &r)) == CO_OK) {
			rc = pg_collect(r, (void **)&out->items, &out->n, sizeof *out->items, read_secret);
			PQclear(r);
		}
	}
	pg_conn_put(s, c);
	return pg_no_retry(rc);
}
