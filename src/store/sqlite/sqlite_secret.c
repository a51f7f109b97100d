/*
 * sqlite_secret.c — secrets on the SQLite backend (store.h "secrets", SPEC §10,
 * core/secret.h). The store never sees a value: it keeps the sealed bytes it is given
 * and hands them back; sealing and opening are the caller's (core/secret.c).
 *
 * DESIGN NOTES
 *  1. Rows (migration 009): one per (scope, name), scope being the workspace id or '' for
 *     a global secret; workspace_id repeats the id (NULL when global) so that purging a
 *     workspace deletes its secrets through ON DELETE CASCADE.
 *  2. A put is ONE write op (sq_write), under the database write lock: the workspace is
 *     checked live, then INSERT … ON CONFLICT DO NOTHING RETURNING created_at; a row back
 *     means created, none means the name is held, and UPDATE … RETURNING created_at
 *     replaces the sealed bytes and updated_at, keeping created_at. Nothing can come
 *     between the two statements, so of N concurrent puts of a new name exactly one is
 *     told `created`. The audit record (store.h note 6) joins the op's savepoint.
 *  3. A delete of a workspace's override needs the workspace live (as every write):
 *     absent is CO_ENOTFOUND, removed is CO_ECONFLICT (the store.h signature carries no
 *     co_conflict; the caller reads CO_ECONFLICT as "removed", the only conflict here).
 *     A name that is not there is CO_ENOTFOUND.
 *  4. One list statement serves the three lists of co_secret_filter: the rows of scope ?1
 *     and, when merging (?5), the global rows whose name the workspace does not hold,
 *     ordered by name (BINARY: bytewise) after ?2, at most ?3. ?4 says whether the
 *     sealed column is read at all (lists that only show names never load the bytes).
 *  5. Reads run on a reader connection. A workspace list first checks the workspace
 *     exists (CO_ENOTFOUND), so a merged list of an absent workspace never shows the
 *     global secrets as if they were its own; a removed workspace's secrets stay
 *     readable.
 */
#include "../../core/err.h"
#include "sqlite_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Both put statements take ?1 scope, ?2 workspace_id, ?3 name, ?4 sealed, ?5 now. */
static sq_sql Q_INSERT = {
	.sql = "INSERT INTO secrets (scope, workspace_id, name, sealed, created_at, updated_at) "
	       "VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (scope, name) DO NOTHING "
	       "RETURNING created_at"};
static sq_sql Q_REPLACE = {.sql = "UPDATE secrets SET sealed = ?4, updated_at = ?5 WHERE "
				  "scope = ?1 AND workspace_id IS ?2 AND name = ?3 "
				  "RETURNING created_at"};
static sq_sql Q_DELETE = {.sql = "DELETE FROM secrets WHERE scope = ?1 AND name = ?2"};
#define LIST_COLS "scope, name, CASE WHEN ?4 THEN sealed END, created_at, updated_at"
static sq_sql Q_LIST = {
	.sql = "SELECT " LIST_COLS " FROM secrets WHERE scope = ?1 AND name > ?2 "
	       "UNION ALL SELECT " LIST_COLS " FROM secrets AS g WHERE ?5 AND g.scope = '' AND "
	       "g.name > ?2 AND NOT EXISTS (SELECT 1 FROM secrets AS o WHERE o.scope = ?1 AND "
	       "o.name = g.name) ORDER BY name LIMIT ?3"};

/* The scope column's value for a secret (note 1). */
static const char *scope_of(bool global, const co_id *ws)
{
	return global ? "" : ws->s;
}

static int read_secret(sqlite3_stmt *st, void *item)
{
	co_secret *s = item;
	memset(s, 0, sizeof *s);
	const char *scope = (const char *)sqlite3_column_text(st, 0);
	s->global = !scope || !*scope;
	if (!s->global)
		snprintf(s->workspace_id.s, sizeof s->workspace_id.s, "%s", scope);
	s->name = sq_col_strdup(st, 1);
	if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
		const void *p = sqlite3_column_blob(st, 2);
		size_t n = (size_t)sqlite3_column_bytes(st, 2);
		if ((s->sealed = malloc(n ? n : 1))) {
			if (n)
				memcpy(s->sealed, p, n);
			s->sealed_len = n;
		}
	}
	s->created_at = sqlite3_column_int64(st, 3);
	s->updated_at = sqlite3_column_int64(st, 4);
	if (!s->name || (sqlite3_column_type(st, 2) != SQLITE_NULL && !s->sealed)) {
		co_secret_clear(s);
		return co_err_set(CO_ENOMEM, "out of memory reading a secret");
	}
	return CO_OK;
}

/* Runs put statement q (Q_INSERT or Q_REPLACE) for in at now: *found says whether it
 * gave its one row, *created_at what it returned. CO_OK or the storage error. */
static int put_step(sq_conn *c, sq_sql *q, const co_secret *in, co_usec_t now, bool *found,
		    co_usec_t *created_at)
{
	sqlite3_stmt *st = sq_prep(c, q);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, scope_of(in->global, &in->workspace_id));
	sq_bind_text(st, 2, in->global ? NULL : in->workspace_id.s);
	sq_bind_text(st, 3, in->name);
	sqlite3_bind_blob(st, 4, in->sealed, (int)in->sealed_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	int rc = sqlite3_step(st);
	if ((*found = rc == SQLITE_ROW)) {
		*created_at = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
	}
	sq_done(st);
	return rc == SQLITE_DONE ? CO_OK : sq_fail(c, rc, "writing a secret");
}

struct put_args {
	const co_secret *in;
	co_secret *out;
	bool *created;
	co_conflict *conflict;
};

static int op_put(sq_conn *c, void *arg)
{
	struct put_args *a = arg;
	const co_secret *in = a->in;
	int rc;
	if (!in->global && (rc = sq_check_ws_writable(c, &in->workspace_id, a->conflict)))
		return rc;
	co_usec_t now = co_clock_now_us(), created_at = now;
	bool inserted = false, replaced = false;
	if ((rc = put_step(c, &Q_INSERT, in, now, &inserted, &created_at)))
		return rc;
	/* the name is held: replace it (note 2) */
	if (!inserted && (rc = put_step(c, &Q_REPLACE, in, now, &replaced, &created_at)))
		return rc;
	if (!inserted && !replaced) /* cannot happen under the write lock */
		return co_err_set(CO_EINTERNAL, "secret '%.64s': neither inserted nor replaced",
				  in->name);

	*a->created = inserted;
	return co_secret_put_answer(in, created_at, now, a->out);
}

int sq_secret_put(co_store *s, const co_secret *in, co_secret *out, bool *created,
		  co_conflict *conflict)
{
	*created = false;
	struct put_args a = {in, out, created, conflict};
	return sq_write((sq_store *)s, op_put, &a);
}

struct delete_args {
	bool global;
	const co_id *ws;
	const char *name;
};

static int op_delete(sq_conn *c, void *arg)
{
	struct delete_args *a = arg;
	co_conflict conflict = {0}; /* note 3: only its code goes back */
	int rc;
	if (!a->global && (rc = sq_check_ws_writable(c, a->ws, &conflict)))
		return rc;
	sqlite3_stmt *st = sq_prep(c, &Q_DELETE);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, scope_of(a->global, a->ws));
	sq_bind_text(st, 2, a->name);
	rc = sqlite3_step(st);
	sq_done(st);
	if (rc != SQLITE_DONE)
		return sq_fail(c, rc, "deleting a secret");
	if (sqlite3_changes(c->db) == 0)
		return co_err_set(CO_ENOTFOUND, "%s secret '%.64s' not found",
				  a->global ? "global" : "workspace", a->name);
	return CO_OK;
}

int sq_secret_delete(co_store *s, bool global, const co_id *ws, const char *name)
{
	struct delete_args a = {global, ws, name};
	return sq_write((sq_store *)s, op_delete, &a);
}

int sq_secret_list(co_store *base, const co_secret_filter *f, co_secret_list *out)
{
	sq_store *s = (sq_store *)base;
	sq_conn *c = sq_reader_get(s);
	int rc = CO_OK;
	co_ws_status status;
	if (!f->global) /* note 5 */
		rc = sq_ws_status(c, f->workspace_id.s, &status);
	sqlite3_stmt *st = rc ? NULL : sq_prep(c, &Q_LIST);
	if (st) {
		sq_bind_text(st, 1, scope_of(f->global, &f->workspace_id));
		sq_bind_text(st, 2, f->after ? f->after : "");
		sqlite3_bind_int(st, 3, f->limit);
		sqlite3_bind_int(st, 4, f->with_sealed);
		sqlite3_bind_int(st, 5, !f->global && f->merged);
		rc = sq_collect(c, st, (void **)&out->items, &out->n, sizeof *out->items, read_secret,
				"listing secrets");
		sq_done(st);
	} else if (!rc) {
		rc = CO_EINTERNAL;
	}
	sq_reader_put(s, c);
	return rc;
}
