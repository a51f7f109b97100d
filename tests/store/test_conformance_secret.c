/*
 * test_conformance_secret.c — the storage contract (src/store/store.h secret_*) for
 * secrets (SPEC §10; core/secret.h), run against a backend, with the sealing of
 * core/secret.c on top as the API uses it.
 *
 * Usage: test_store_secret [--postgres | URL]. Without an argument it runs against a fresh
 * SQLite file in a temp directory; --postgres makes a fresh database on the test server
 * named by COLONY_TEST_PG (exit 77, "skipped", if unset). Every backend passes this file.
 * Tests call the store interface directly, use real threads for the concurrency claim
 * (results in per-thread slots, asserts after join), fix the clock with
 * co_clock_set_override(), and reach into the database itself (sqlite3 on the file,
 * libpq on the URL) for what the interface cannot show or break. All tests share one
 * store, so each makes its own workspaces and names its global secrets apart.
 *
 *  - put: created, then replaced (created_at kept, updated_at = now), the answer's fields;
 *    global and workspace secrets of one name are two rows;
 *  - lists: global, the workspace's own, merged (the workspace's wins on a name, `global`
 *    telling whose), with and without the sealed bytes, paged by name (after, limit),
 *    bytewise; absent workspace CO_ENOTFOUND, a removed one's secrets stay readable;
 *  - delete: global and own; absent name or workspace CO_ENOTFOUND; a removed workspace's
 *    writes CO_ECONFLICT (put: conflict REMOVED);
 *  - audit (store.h note 6): a put or delete with an entry current appends exactly one
 *    record; failed writes append none; the chain stays valid;
 *  - at rest: the value is not in the database in plaintext (the raw column; for SQLite
 *    the bytes of the database and WAL files too);
 *  - moved ciphertext: row A's sealed bytes copied into row B by SQL do not open as B (A
 *    still does), nor a global row's bytes in a workspace row, nor one workspace's in
 *    another's;
 *  - purging a workspace deletes its secrets (removing keeps them);
 *  - 8 threads put one new name at once: every put succeeds, exactly one is `created`,
 *    one row remains, holding one of the values written.
 */
#include "../../src/core/err.h"
#include "../../src/store/store.h"
#include "store_kit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEC 1000000LL
#define T0 1893456000000000LL /* 2030-01-01T00:00:00Z */

/* ---- the database itself --------------------------------------------------------------- */

/* Runs sql with text parameters p1, p2 (NULL: not given) on a connection of its own. If
 * out is not NULL, copies the first column of the first row (bytes as stored; a bytea in
 * binary form) into out[0..cap) and sets *out_len (0 and false when there is no row).
 * Returns true if the statement succeeded (and, with out, gave a row). */
static bool db_run(const char *sql, const char *p1, const char *p2, unsigned char *out, size_t cap,
		   size_t *out_len)
{
	bool ok = false;
	if (out_len)
		*out_len = 0;
	if (is_sqlite) {
		sqlite3 *db;
		assert_int_equal(sqlite3_open_v2(url, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
		sqlite3_busy_timeout(db, 10000);
		sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
		sqlite3_stmt *q;
		if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK) {
			if (p1)
				sqlite3_bind_text(q, 1, p1, -1, SQLITE_STATIC);
			if (p2)
				sqlite3_bind_text(q, 2, p2, -1, SQLITE_STATIC);
			int rc = sqlite3_step(q);
			if (out && rc == SQLITE_ROW) {
				size_t n = (size_t)sqlite3_column_bytes(q, 0);
				assert_true(n <= cap);
				memcpy(out, sqlite3_column_blob(q, 0), n);
				*out_len = n;
				ok = true;
			} else {
				ok = !out && (rc == SQLITE_DONE || rc == SQLITE_ROW);
			}
			sqlite3_finalize(q);
		}
		sqlite3_close(db);
	} else {
		PGconn *c = PQconnectdb(url);
		assert_int_equal(PQstatus(c), CONNECTION_OK);
		const char *p[] = {p1, p2};
		PGresult *r = PQexecParams(c, sql, p2 ? 2 : p1 ? 1 : 0, NULL, p, NULL, NULL, 1);
		ExecStatusType s = PQresultStatus(r);
		if (out && s == PGRES_TUPLES_OK && PQntuples(r) > 0) {
			size_t n = (size_t)PQgetlength(r, 0, 0);
			assert_true(n <= cap);
			memcpy(out, PQgetvalue(r, 0, 0), n);
			*out_len = n;
			ok = true;
		} else {
			ok = !out && (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK);
		}
		PQclear(r);
		PQfinish(c);
	}
	return ok;
}

/* The SQL of this backend: SQLite numbers parameters ?1, PostgreSQL $1. */
#define SQL(lite, pg) (is_sqlite ? (lite) : (pg))

/* ---- helpers --------------------------------------------------------------------------- */

static void set_test_key(void)
{
	unsigned char k[CO_SECRET_KEY_LEN];
	for (int i = 0; i < CO_SECRET_KEY_LEN; i++)
		k[i] = (unsigned char)(0xa0 + i);
	assert_int_equal(co_secret_set_key(k), CO_OK);
}

/* Puts value under (ws or global, name) as the API does (sealed for its place). Returns
 * the rc; *created and *out as the store says (out may be NULL). */
static int put(const co_id *ws, const char *name, const char *value, bool *created, co_secret *out,
	       co_conflict_kind *kind)
{
	co_secret in = {.global = ws == NULL, .name = (char *)name};
	if (ws)
		in.workspace_id = *ws;
	int rc = co_secret_seal(ws, name, value, strlen(value), &in.sealed, &in.sealed_len);
	if (rc)
		return rc;
	co_secret o = {0};
	co_conflict c = {0};
	bool cr = false;
	rc = CALL(secret_put, &in, &o, &cr, &c);
	if (created)
		*created = cr;
	if (kind)
		*kind = c.kind;
	if (out)
		*out = o;
	else
		co_secret_clear(&o);
	co_conflict_clear(&c);
	free(in.sealed);
	return rc;
}

/* put, asserting success; returns `created`. */
static bool put_ok(const co_id *ws, const char *name, const char *value)
{
	bool created;
	int rc = put(ws, name, value, &created, NULL, NULL);
	if (rc)
		fail_msg("put %s: %d %s", name, rc, co_err_msg());
	return created;
}

/* The list per f (asserting success). */
static void list_ok(const co_secret_filter *f, co_secret_list *out)
{
	memset(out, 0, sizeof *out);
	int rc = CALL(secret_list, f, out);
	if (rc)
		fail_msg("secret_list: %d %s", rc, co_err_msg());
}

/* Opens item s for its own place: CO_OK with *value (free it) or the open's error. */
static int open_item(const co_secret *s, char **value)
{
	size_t len;
	assert_non_null(s->sealed);
	return co_secret_open(s->global ? NULL : &s->workspace_id, s->name, s->sealed, s->sealed_len,
			      value, &len);
}

/* The merged (or own) list of ws, or the global list (ws NULL), with values, of the names
 * that begin with prefix (other tests' global secrets are skipped); asserts they are
 * `names` (n of them) in that order, each item's scope is global iff globals[i], and each
 * opens to values[i]. */
static void expect_list(const co_id *ws, bool merged, const char *prefix, size_t n,
			const char *const *names, const bool *globals, const char *const *values)
{
	co_secret_filter f = {.global = ws == NULL, .merged = merged, .with_sealed = true,
			      .after = prefix, .limit = 1000};
	if (ws)
		f.workspace_id = *ws;
	co_secret_list l;
	list_ok(&f, &l);
	size_t k = 0;
	for (size_t i = 0; i < l.n; i++) {
		if (strncmp(l.items[i].name, prefix, strlen(prefix)))
			continue;
		if (k == n)
			fail_msg("more than %zu secrets: %s", n, l.items[i].name);
		assert_string_equal(l.items[i].name, names[k]);
		assert_int_equal(l.items[i].global, globals[k]);
		if (!globals[k])
			assert_string_equal(l.items[i].workspace_id.s, ws->s);
		char *v = NULL;
		int rc = open_item(&l.items[i], &v);
		if (rc)
			fail_msg("open %s: %d %s", names[k], rc, co_err_msg());
		assert_string_equal(v, values[k]);
		free(v);
		k++;
	}
	assert_int_equal(k, n);
	co_secret_list_clear(&l);
}

/* ---- put, replace, lists ----------------------------------------------------------------- */

static void test_put_replace_lists(void **state)
{
	(void)state;
	co_id ws = kit_mk_root("sec-put");
	co_clock_set_override(T0);
	co_secret out = {0};
	bool created = false;
	assert_int_equal(put(NULL, "put.API_KEY", "global-v1", &created, &out, NULL), CO_OK);
	assert_true(created);
	assert_true(out.global);
	assert_string_equal(out.name, "put.API_KEY");
	assert_null(out.sealed);
	assert_int_equal(out.created_at, T0);
	assert_int_equal(out.updated_at, T0);
	co_secret_clear(&out);

	/* replaced: created_at kept, updated_at now */
	co_clock_set_override(T0 + 5 * SEC);
	assert_int_equal(put(NULL, "put.API_KEY", "global-v2", &created, &out, NULL), CO_OK);
	assert_false(created);
	assert_int_equal(out.created_at, T0);
	assert_int_equal(out.updated_at, T0 + 5 * SEC);
	co_secret_clear(&out);

	/* the workspace's own of the same name is another row */
	co_clock_set_override(T0 + 7 * SEC);
	assert_int_equal(put(&ws, "put.API_KEY", "ws-v1", &created, &out, NULL), CO_OK);
	assert_true(created);
	assert_false(out.global);
	assert_string_equal(out.workspace_id.s, ws.s);
	assert_int_equal(out.created_at, T0 + 7 * SEC);
	co_secret_clear(&out);
	assert_true(put_ok(&ws, "put.OWN_ONLY", "own"));
	assert_true(put_ok(NULL, "put.GLOBAL_ONLY", "glob"));
	assert_false(put_ok(&ws, "put.OWN_ONLY", "own-2"));
	assert_int_equal(kit_rows_of("secrets", &ws), 2);

	/* the times as stored */
	co_secret_filter f = {.global = true, .after = "put.", .limit = 10};
	co_secret_list l;
	list_ok(&f, &l);
	assert_true(l.n >= 2);
	assert_string_equal(l.items[0].name, "put.API_KEY");
	assert_int_equal(l.items[0].created_at, T0);
	assert_int_equal(l.items[0].updated_at, T0 + 5 * SEC);
	assert_null(l.items[0].sealed); /* not asked for */
	assert_int_equal(l.items[0].sealed_len, 0);
	co_secret_list_clear(&l);

	/* own; merged (the workspace's wins); without sealed bytes unless asked */
	expect_list(&ws, false, "put.", 2, (const char *[]){"put.API_KEY", "put.OWN_ONLY"},
		    (const bool[]){false, false}, (const char *[]){"ws-v1", "own-2"});
	co_id other = kit_mk_root("sec-put-other"); /* no overrides: sees the globals */
	f = (co_secret_filter){.workspace_id = other, .merged = true, .after = "put.", .limit = 10};
	list_ok(&f, &l);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.items[0].name, "put.API_KEY");
	assert_true(l.items[0].global);
	assert_string_equal(l.items[1].name, "put.GLOBAL_ONLY");
	assert_null(l.items[0].sealed);
	co_secret_list_clear(&l);
	f = (co_secret_filter){.workspace_id = ws, .merged = true, .with_sealed = true,
			       .after = "put.", .limit = 10};
	list_ok(&f, &l);
	assert_int_equal(l.n, 3);
	const char *names[] = {"put.API_KEY", "put.GLOBAL_ONLY", "put.OWN_ONLY"};
	const bool globals[] = {false, true, false};
	const char *values[] = {"ws-v1", "glob", "own-2"};
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(l.items[i].name, names[i]);
		assert_int_equal(l.items[i].global, globals[i]);
		char *v = NULL;
		assert_int_equal(open_item(&l.items[i], &v), CO_OK);
		assert_string_equal(v, values[i]);
		free(v);
	}
	assert_int_equal(l.items[0].created_at, T0 + 7 * SEC);
	co_secret_list_clear(&l);
	/* a workspace without secrets: own list empty, not an error */
	f = (co_secret_filter){.workspace_id = other, .limit = 10};
	list_ok(&f, &l);
	assert_int_equal(l.n, 0);
	co_secret_list_clear(&l);
}

static void test_paging_bytewise(void **state)
{
	(void)state;
	co_id ws = kit_mk_root("sec-paging");
	/* globals p/a, p/c, p/e, p/é; the workspace's p/b, p/c, p/f, p/B */
	const char *g[] = {"pg.e", "pg.a", "pg.\xc3\xa9", "pg.c"};
	const char *o[] = {"pg.f", "pg.c", "pg.b", "pg.B"};
	for (size_t i = 0; i < 4; i++) {
		put_ok(NULL, g[i], "g");
		put_ok(&ws, o[i], "o");
	}
	/* bytewise: B < a < b < c < e < f < é */
	const char *merged[] = {"pg.B", "pg.a", "pg.b", "pg.c", "pg.e", "pg.f", "pg.\xc3\xa9"};
	const bool mglobal[] = {false, true, false, false, true, false, true};
	for (int limit = 1; limit <= 8; limit++) {
		char after[64] = "pg.";
		size_t seen = 0;
		for (;;) {
			co_secret_filter f = {.workspace_id = ws, .merged = true, .after = after,
					      .limit = limit};
			co_secret_list l;
			list_ok(&f, &l);
			assert_true(l.n <= (size_t)limit);
			for (size_t i = 0; i < l.n; i++) {
				if (strncmp(l.items[i].name, "pg.", 3))
					continue; /* another test's global */
				assert_true(seen < 7);
				assert_string_equal(l.items[i].name, merged[seen]);
				assert_int_equal(l.items[i].global, mglobal[seen]);
				seen++;
			}
			size_t n = l.n;
			if (n)
				snprintf(after, sizeof after, "%s", l.items[n - 1].name);
			co_secret_list_clear(&l);
			if (n < (size_t)limit || strncmp(after, "pg.", 3))
				break;
		}
		assert_int_equal(seen, 7);
	}
	/* own and global lists page the same way */
	co_secret_filter f = {.workspace_id = ws, .after = "pg.B", .limit = 2};
	co_secret_list l;
	list_ok(&f, &l);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.items[0].name, "pg.b");
	assert_string_equal(l.items[1].name, "pg.c");
	co_secret_list_clear(&l);
	f = (co_secret_filter){.global = true, .after = "pg.c", .limit = 5};
	list_ok(&f, &l);
	assert_true(l.n >= 2);
	assert_string_equal(l.items[0].name, "pg.e");
	assert_string_equal(l.items[1].name, "pg.\xc3\xa9");
	co_secret_list_clear(&l);
}

/* ---- delete, absent and removed workspaces -------------------------------------------------- */

static void test_delete_absent_removed(void **state)
{
	(void)state;
	co_id ws = kit_mk_root("sec-del");
	put_ok(NULL, "del.X", "global-x");
	put_ok(&ws, "del.X", "own-x");
	expect_list(&ws, true, "del.", 1, (const char *[]){"del.X"}, (const bool[]){false},
		    (const char *[]){"own-x"});
	/* deleting the override shows the global again */
	assert_int_equal(CALL(secret_delete, false, &ws, "del.X"), CO_OK);
	assert_int_equal(CALL(secret_delete, false, &ws, "del.X"), CO_ENOTFOUND);
	assert_int_equal(kit_rows_of("secrets", &ws), 0);
	co_secret_filter f = {.workspace_id = ws, .merged = true, .with_sealed = true,
			      .after = "del.", .limit = 1};
	co_secret_list l;
	list_ok(&f, &l);
	assert_int_equal(l.n, 1);
	assert_true(l.items[0].global);
	co_secret_list_clear(&l);
	/* a global delete is of the global row only */
	put_ok(&ws, "del.Y", "own-y");
	assert_int_equal(CALL(secret_delete, true, NULL, "del.Y"), CO_ENOTFOUND);
	assert_int_equal(CALL(secret_delete, true, NULL, "del.X"), CO_OK);
	assert_int_equal(CALL(secret_delete, true, NULL, "del.X"), CO_ENOTFOUND);
	expect_list(&ws, true, "del.", 1, (const char *[]){"del.Y"}, (const bool[]){false},
		    (const char *[]){"own-y"});

	/* absent workspace: every call CO_ENOTFOUND, merged lists included */
	co_id nobody = kit_absent_id();
	assert_int_equal(put(&nobody, "del.Z", "v", NULL, NULL, NULL), CO_ENOTFOUND);
	assert_int_equal(CALL(secret_delete, false, &nobody, "del.Z"), CO_ENOTFOUND);
	f = (co_secret_filter){.workspace_id = nobody, .merged = true, .limit = 10};
	assert_int_equal(CALL(secret_list, &f, &l), CO_ENOTFOUND);
	assert_int_equal(l.n, 0);
	co_secret_list_clear(&l);
	f.merged = false;
	assert_int_equal(CALL(secret_list, &f, &l), CO_ENOTFOUND);
	co_secret_list_clear(&l);

	/* removed workspace: writes refused, its secrets still readable */
	co_id child = kit_mk_child(&ws, "sec-del-child");
	put_ok(&child, "del.C", "child-c");
	kit_rm_ws(&ws);
	const co_id *gone[] = {&ws, &child};
	for (int k = 0; k < 2; k++) {
		co_conflict_kind kind = CO_CONFLICT_NONE;
		assert_int_equal(put(gone[k], "del.Y", "again", NULL, NULL, &kind), CO_ECONFLICT);
		assert_int_equal(kind, CO_CONFLICT_REMOVED);
		assert_int_equal(put(gone[k], "del.NEW", "new", NULL, NULL, &kind), CO_ECONFLICT);
		assert_int_equal(CALL(secret_delete, false, gone[k], "del.Y"), CO_ECONFLICT);
	}
	expect_list(&ws, false, "del.", 1, (const char *[]){"del.Y"}, (const bool[]){false},
		    (const char *[]){"own-y"});
	expect_list(&child, false, "del.", 1, (const char *[]){"del.C"}, (const bool[]){false},
		    (const char *[]){"child-c"});
	assert_int_equal(kit_rows_of("secrets", &ws), 1);
}

/* ---- audit -------------------------------------------------------------------------------- */

/* The chain's length, which must verify. */
static int64_t audit_head(void)
{
	co_audit_verify v;
	assert_int_equal(CALL(audit_verify, &v), CO_OK);
	if (!v.valid)
		fail_msg("chain broken at seq %lld: %s", (long long)v.broken_seq, v.reason);
	return v.records;
}

static void test_audit(void **state)
{
	(void)state;
	co_id ws = kit_mk_root("sec-audit");
	char target[160];
	snprintf(target, sizeof target, "/workspaces/%s/secrets", ws.s);
	char *detail = co_audit_detail_withheld("POST", target);
	co_audit_entry e = {"admin", "secret.put", target, detail, NULL};
	int64_t h0 = audit_head();

	co_audit_set(&e);
	put_ok(&ws, "au.K", "audit-value-1"); /* created */
	put_ok(&ws, "au.K", "audit-value-2"); /* replaced */
	put_ok(NULL, "au.G", "audit-value-3");
	co_id nobody = kit_absent_id();
	assert_int_equal(put(&nobody, "au.K", "audit-value-4", NULL, NULL, NULL), CO_ENOTFOUND);
	co_audit_set(NULL);
	assert_int_equal(audit_head(), h0 + 3);

	co_audit_entry d = {"admin", "secret.delete", target, detail, NULL};
	co_audit_set(&d);
	assert_int_equal(CALL(secret_delete, false, &ws, "au.K"), CO_OK);
	assert_int_equal(CALL(secret_delete, false, &ws, "au.K"), CO_ENOTFOUND);
	assert_int_equal(CALL(secret_delete, true, NULL, "au.G"), CO_OK);
	assert_int_equal(CALL(secret_delete, true, NULL, "au.none"), CO_ENOTFOUND);
	co_audit_set(NULL);
	assert_int_equal(audit_head(), h0 + 5);

	/* without a current entry: not audited */
	put_ok(&ws, "au.quiet", "quiet");
	assert_int_equal(CALL(secret_delete, false, &ws, "au.quiet"), CO_OK);
	assert_int_equal(audit_head(), h0 + 5);

	co_audit_filter af = {.after = h0, .limit = 10};
	co_audit_list al = {0};
	assert_int_equal(CALL(audit_list, &af, &al), CO_OK);
	assert_int_equal(al.n, 5);
	const char *actions[] = {"secret.put", "secret.put", "secret.put", "secret.delete",
				 "secret.delete"};
	for (size_t i = 0; i < al.n; i++) {
		assert_string_equal(al.items[i].action, actions[i]);
		assert_string_equal(al.items[i].detail_json, detail);
		assert_null(strstr(al.items[i].detail_json, "audit-value"));
	}
	co_audit_list_clear(&al);
	free(detail);
}

/* ---- at rest -------------------------------------------------------------------------------- */

/* Does the file at path hold the bytes needle? (false if there is no file) */
static bool file_holds(const char *path, const char *needle)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	size_t cap = 1 << 20, n = 0, got;
	char *buf = malloc(cap);
	assert_non_null(buf);
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			buf = realloc(buf, cap *= 2);
			assert_non_null(buf);
		}
	}
	fclose(f);
	bool found = memmem(buf, n, needle, strlen(needle)) != NULL;
	free(buf);
	return found;
}

static void test_not_in_plaintext(void **state)
{
	(void)state;
	co_id ws = kit_mk_root("sec-rest");
	const char *gv = "PLAINTEXT-CANARY-global-7f3a9c", *wv = "PLAINTEXT-CANARY-own-51d2e8";
	put_ok(NULL, "rest.G", gv);
	put_ok(&ws, "rest.W", wv);
	unsigned char raw[1024];
	size_t n;
	assert_true(db_run(SQL("SELECT sealed FROM secrets WHERE scope = '' AND name = ?1",
			       "SELECT sealed FROM secrets WHERE scope = '' AND name = $1"),
			   "rest.G", NULL, raw, sizeof raw, &n));
	assert_int_equal(n, strlen(gv) + 1 + 24 + 16);
	assert_null(memmem(raw, n, gv, strlen(gv)));
	assert_null(memmem(raw, n, "CANARY", 6));
	char *v = NULL;
	size_t vl;
	assert_int_equal(co_secret_open(NULL, "rest.G", raw, n, &v, &vl), CO_OK); /* that row */
	assert_string_equal(v, gv);
	free(v);
	assert_true(db_run(SQL("SELECT sealed FROM secrets WHERE scope = ?1 AND name = ?2",
			       "SELECT sealed FROM secrets WHERE scope = $1 AND name = $2"),
			   ws.s, "rest.W", raw, sizeof raw, &n));
	assert_null(memmem(raw, n, "CANARY", 6));
	/* in no row of the table */
	unsigned char cnt[64];
	assert_true(db_run(SQL("SELECT CAST(COUNT(*) AS TEXT) FROM secrets WHERE "
			       "instr(sealed, CAST('CANARY' AS BLOB)) > 0",
			       "SELECT COUNT(*)::text FROM secrets WHERE "
			       "position(convert_to('CANARY', 'UTF8') in sealed) > 0"),
			   NULL, NULL, cnt, sizeof cnt, &n));
	assert_int_equal(n, 1);
	assert_memory_equal(cnt, "0", 1);
	if (is_sqlite) { /* the database file and its WAL, byte for byte */
		char db[600], wal[600];
		snprintf(db, sizeof db, "%s", url);
		snprintf(wal, sizeof wal, "%s-wal", url);
		assert_false(file_holds(db, "CANARY"));
		assert_false(file_holds(wal, "CANARY"));
		/* the scan does see the rows: their names are there in clear */
		assert_true(file_holds(db, "rest.G") || file_holds(wal, "rest.G"));
	}
}

/* ---- moved ciphertext ----------------------------------------------------------------------- */

/* Copies the sealed bytes of (from_scope, from_name) into the row (to_scope, to_name). */
static void copy_sealed(const char *from_scope, const char *from_name, const char *to_scope,
			const char *to_name)
{
	char sql[400];
	snprintf(sql, sizeof sql,
		 "UPDATE secrets SET sealed = (SELECT sealed FROM secrets WHERE scope = '%s' AND "
		 "name = '%s') WHERE scope = '%s' AND name = '%s'",
		 from_scope, from_name, to_scope, to_name);
	assert_true(db_run(sql, NULL, NULL, NULL, 0, NULL));
	usleep(5000); /* SQLite readers see another connection's commit within 2 ms */
}

/* The named item of the merged list of ws (or the global list), which must exist. */
static void find_item(const co_id *ws, const char *name, co_secret_list *l, const co_secret **s)
{
	co_secret_filter f = {.global = ws == NULL, .merged = true, .with_sealed = true,
			      .limit = 1000};
	if (ws)
		f.workspace_id = *ws;
	list_ok(&f, l);
	*s = NULL;
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->items[i].name, name))
			*s = &l->items[i];
	if (!*s)
		fail_msg("%s not listed", name);
}

/* Asserts the item opens (to want) or fails to open (want NULL: CO_EINVAL). */
static void expect_open(const co_id *ws, const char *name, const char *want)
{
	co_secret_list l;
	const co_secret *s;
	find_item(ws, name, &l, &s);
	char *v = NULL;
	int rc = open_item(s, &v);
	if (want) {
		if (rc)
			fail_msg("%s does not open: %s", name, co_err_msg());
		assert_string_equal(v, want);
	} else {
		assert_int_equal(rc, CO_EINVAL);
		assert_null(v);
	}
	free(v);
	co_secret_list_clear(&l);
}

static void test_moved_ciphertext_fails(void **state)
{
	(void)state;
	co_id ws = kit_mk_root("sec-swap"), ws2 = kit_mk_root("sec-swap-2");
	put_ok(&ws, "swap.A", "value-of-A");
	put_ok(&ws, "swap.B", "value-of-B");
	put_ok(NULL, "swap.G", "value-of-G");
	put_ok(&ws, "swap.G", "ws-value-of-G");
	put_ok(&ws2, "swap.A", "ws2-value-of-A");
	expect_open(&ws, "swap.B", "value-of-B");

	/* A's bytes in B's row: B does not open, A still does */
	copy_sealed(ws.s, "swap.A", ws.s, "swap.B");
	expect_open(&ws, "swap.B", NULL);
	expect_open(&ws, "swap.A", "value-of-A");
	/* the global row's bytes in the workspace's row of the same name */
	copy_sealed("", "swap.G", ws.s, "swap.G");
	expect_open(&ws, "swap.G", NULL);
	expect_open(NULL, "swap.G", "value-of-G");
	/* one workspace's bytes in another's row of the same name */
	copy_sealed(ws.s, "swap.A", ws2.s, "swap.A");
	expect_open(&ws2, "swap.A", NULL);
	expect_open(&ws, "swap.A", "value-of-A");
	/* and a workspace's bytes in a global row */
	copy_sealed(ws.s, "swap.A", "", "swap.G");
	expect_open(NULL, "swap.G", NULL);
	/* a put mends a row */
	put_ok(&ws, "swap.B", "value-of-B-again");
	expect_open(&ws, "swap.B", "value-of-B-again");
}

/* ---- purge ------------------------------------------------------------------------------------ */

static void test_purge_deletes_secrets(void **state)
{
	(void)state;
	co_id ws = kit_mk_root("sec-purge");
	co_id child = kit_mk_child(&ws, "sec-purge-child");
	put_ok(&ws, "purge.A", "a");
	put_ok(&ws, "purge.B", "b");
	put_ok(&child, "purge.A", "c");
	put_ok(NULL, "purge.A", "global");
	kit_rm_ws(&ws); /* removing keeps them */
	assert_int_equal(kit_rows_of("secrets", &ws), 2);
	co_ws_delete_opts o = {.purge = true};
	co_id_list ids = {0};
	co_conflict c = {0};
	int rc = CALL(ws_delete, &ws, &o, &ids, &c);
	if (rc)
		fail_msg("purge: %d %s", rc, co_err_msg());
	co_id_list_clear(&ids);
	co_conflict_clear(&c);
	assert_int_equal(kit_rows_of("secrets", &ws), 0);
	assert_int_equal(kit_rows_of("secrets", &child), 0);
	expect_open(NULL, "purge.A", "global"); /* the global one of that name stays */
}

/* ---- concurrency ---------------------------------------------------------------------------- */

#define RACERS 8

struct race {
	pthread_barrier_t go;
	const co_id *ws; /* NULL: a global name */
	const char *name;
	int rc[RACERS];
	bool created[RACERS];
};

struct targ {
	struct race *r;
	int i;
};

static void *put_thread(void *p)
{
	struct targ *t = p;
	char value[32];
	snprintf(value, sizeof value, "racer-%d", t->i);
	pthread_barrier_wait(&t->r->go);
	t->r->rc[t->i] = put(t->r->ws, t->r->name, value, &t->r->created[t->i], NULL, NULL);
	return NULL;
}

static void run_race(struct race *r)
{
	pthread_t tid[RACERS];
	struct targ args[RACERS];
	pthread_barrier_init(&r->go, NULL, RACERS);
	for (int i = 0; i < RACERS; i++) {
		args[i] = (struct targ){r, i};
		assert_int_equal(pthread_create(&tid[i], NULL, put_thread, &args[i]), 0);
	}
	for (int i = 0; i < RACERS; i++)
		pthread_join(tid[i], NULL);
	pthread_barrier_destroy(&r->go);
	int created = 0;
	for (int i = 0; i < RACERS; i++) {
		if (r->rc[i])
			fail_msg("racer %d: rc %d", i, r->rc[i]);
		created += r->created[i];
	}
	assert_int_equal(created, 1);
}

static void test_concurrent_puts_one_created(void **state)
{
	(void)state;
	co_id ws = kit_mk_root("sec-race");
	for (int round = 0; round < 3; round++) {
		char name[32];
		snprintf(name, sizeof name, "race.%d", round);
		struct race r = {.ws = &ws, .name = name};
		run_race(&r);
		struct race g = {.ws = NULL, .name = name};
		run_race(&g);
		/* exactly one row each, holding one of the values written */
		assert_int_equal(kit_rows_of("secrets", &ws), round + 1);
		unsigned char cnt[64];
		size_t n;
		assert_true(db_run(SQL("SELECT CAST(COUNT(*) AS TEXT) FROM secrets WHERE scope = '' "
				       "AND name = ?1",
				       "SELECT COUNT(*)::text FROM secrets WHERE scope = '' AND name = $1"),
				   name, NULL, cnt, sizeof cnt, &n));
		assert_int_equal(n, 1);
		assert_memory_equal(cnt, "1", 1);
		co_secret_list l;
		const co_secret *s;
		find_item(&ws, name, &l, &s);
		assert_false(s->global);
		char *v = NULL;
		assert_int_equal(open_item(s, &v), CO_OK);
		assert_memory_equal(v, "racer-", 6);
		free(v);
		co_secret_list_clear(&l);
	}
}

int main(int argc, char **argv)
{
	int rc = store_kit_args(argc, argv);
	if (rc >= 0)
		return rc;
	set_test_key();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_put_replace_lists, kit_reset_clock),
		cmocka_unit_test_teardown(test_paging_bytewise, kit_reset_clock),
		cmocka_unit_test_teardown(test_delete_absent_removed, kit_reset_clock),
		cmocka_unit_test_teardown(test_audit, kit_reset_clock),
		cmocka_unit_test_teardown(test_not_in_plaintext, kit_reset_clock),
		cmocka_unit_test_teardown(test_moved_ciphertext_fails, kit_reset_clock),
		cmocka_unit_test_teardown(test_purge_deletes_secrets, kit_reset_clock),
		cmocka_unit_test_teardown(test_concurrent_puts_one_created, kit_reset_clock),
	};
	return cmocka_run_group_tests(tests, store_kit_setup, store_kit_teardown);
}
