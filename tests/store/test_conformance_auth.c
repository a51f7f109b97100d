/*
 * test_conformance_auth.c — the storage contract (src/store/store.h "tokens and the
 * hierarchy") for workspace tokens and lineages (SPEC §10, §2; core/auth.h), run against a
 * backend.
 *
 * Usage: test_store_auth [--postgres | URL]. Without an argument it runs against a fresh
 * SQLite file in a temp directory; --postgres makes a fresh database on the test server
 * named by COLONY_TEST_PG (exit 77, "skipped", if unset). Every backend passes this file.
 * Tests call the store interface directly (no HTTP), use real threads for the concurrency
 * claims (per-thread slots in the threads, asserts only after join), fix the clock with
 * co_clock_set_override() and read the database itself (its own connection) for what the
 * interface does not show: the stored columns, revoked_at. All tests share one store, so
 * each one makes its own workspaces.
 *
 *  - create / list / lookup / revoke round trip; absent workspaces and tokens; another
 *    workspace's token; list excludes revoked tokens and pages by id;
 *  - only the hash is stored: no column of the row holds the plaintext or its secret;
 *  - removing a workspace (or an ancestor) revokes its tokens in the same transaction
 *    (revoked_at = the removal's time; an earlier revocation keeps its time), lookup joins
 *    the workspace (a removed workspace's token is not found even with revoked_at NULL);
 *    a removed workspace gets no token; purge deletes the rows (CASCADE);
 *  - a prefix is unique over every token ever made, revoked ones included: CO_EEXISTS;
 *  - touch only moves last_used_at forward and is never audited, even with an audit entry
 *    current; create and revoke append exactly one record each, failures none;
 *  - lineage [id, parent, …, root], 4 levels, removed flag, absent; a cycle written by
 *    hand is an error, not an endless query;
 *  - races: 8 threads revoke one token (exactly one wins); token creates racing the
 *    workspace's removal, 50 rounds: no live token is ever left on a removed workspace.
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

/* ---- the database itself ---------------------------------------------------------------- */

/* Runs sql on a connection of its own; calls row(ctx, ncols, values) for each row it
 * returns (a NULL value is NULL). Returns true if it succeeded. */
static bool db_query(const char *sql, void (*row)(void *ctx, int n, const char *const *v), void *ctx)
{
	bool ok;
	const char *v[16];
	if (is_sqlite) {
		sqlite3 *db;
		assert_int_equal(sqlite3_open_v2(url, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
		sqlite3_busy_timeout(db, 10000);
		sqlite3_stmt *q;
		ok = sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK;
		int rc = SQLITE_DONE;
		while (ok && (rc = sqlite3_step(q)) == SQLITE_ROW) {
			int n = sqlite3_column_count(q);
			for (int i = 0; i < n && i < 16; i++)
				v[i] = (const char *)sqlite3_column_text(q, i);
			if (row)
				row(ctx, n < 16 ? n : 16, v);
		}
		ok = ok && rc == SQLITE_DONE;
		sqlite3_finalize(q);
		sqlite3_close(db);
	} else {
		PGconn *c = PQconnectdb(url);
		assert_int_equal(PQstatus(c), CONNECTION_OK);
		PGresult *r = PQexec(c, sql);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
		for (int k = 0; ok && row && k < PQntuples(r); k++) {
			int n = PQnfields(r) < 16 ? PQnfields(r) : 16;
			for (int i = 0; i < n; i++)
				v[i] = PQgetisnull(r, k, i) ? NULL : PQgetvalue(r, k, i);
			row(ctx, n, v);
		}
		PQclear(r);
		PQfinish(c);
	}
	if (is_sqlite)
		usleep(5000); /* the store's readers see another connection's commit within 2 ms */
	return ok;
}

static void first_int(void *ctx, int n, const char *const *v)
{
	long long *out = ctx;
	*out = n > 0 && v[0] ? atoll(v[0]) : -2; /* -2: NULL */
}

/* The first column of the first row of sql as an integer (-2 if NULL); fails the test if
 * the query fails or returns no row. */
static long long db_int(const char *sql)
{
	long long v = -1;
	if (!db_query(sql, first_int, &v) || v == -1)
		fail_msg("query failed or returned no row: %s", sql);
	return v;
}

/* A token's revoked_at as stored (-2: NULL). */
static long long stored_revoked_at(const co_id *tid)
{
	char sql[160];
	snprintf(sql, sizeof sql, "SELECT revoked_at FROM workspace_tokens WHERE id = '%s'", tid->s);
	return db_int(sql);
}

/* Live tokens of removed workspaces anywhere in the database: must always be 0. */
static long long live_tokens_of_removed(void)
{
	return db_int("SELECT COUNT(*) FROM workspace_tokens t JOIN workspaces w ON "
		      "w.id = t.workspace_id WHERE w.status = 'removed' AND t.revoked_at IS NULL");
}

/* ---- helpers ------------------------------------------------------------------------------ */

/* A freshly minted token (plaintext optional) for ws: the store's answer, checked. */
static co_token mk_token(const co_id *ws, char *plaintext)
{
	char pt[CO_TOKEN_LEN + 1];
	co_token in = {0}, out = {0};
	co_token_mint(pt, in.prefix, in.hash_hex);
	co_conflict c = {0};
	int rc = CALL(token_create, ws, &in, &out, &c);
	if (rc)
		fail_msg("token for %s: %d %s", ws->s, rc, co_err_msg());
	assert_true(co_id_valid(out.id.s));
	assert_string_equal(out.workspace_id.s, ws->s);
	assert_string_equal(out.prefix, in.prefix);
	assert_string_equal(out.hash_hex, in.hash_hex);
	assert_int_equal(out.last_used_at, 0);
	assert_int_equal(out.revoked_at, 0);
	co_conflict_clear(&c);
	if (plaintext)
		memcpy(plaintext, pt, sizeof pt);
	return out;
}

static int lookup(const char *prefix, co_token *out)
{
	memset(out, 0, sizeof *out);
	return CALL(token_lookup, prefix, out);
}

/* Every live token of ws (pages of `limit`, walked by `after`) into ids; returns n. */
static size_t list_all(const co_id *ws, int limit, co_id *ids, size_t cap)
{
	size_t n = 0;
	co_page p = {.limit = limit};
	for (;;) {
		co_token_list l = {0};
		int rc = CALL(token_list, ws, &p, &l);
		if (rc)
			fail_msg("list %s: %d %s", ws->s, rc, co_err_msg());
		assert_true(l.n <= (size_t)limit);
		for (size_t i = 0; i < l.n; i++) {
			assert_string_equal(l.items[i].workspace_id.s, ws->s);
			assert_string_equal(l.items[i].hash_hex, ""); /* never listed */
			assert_int_equal(l.items[i].revoked_at, 0);
			assert_true(n < cap);
			ids[n++] = l.items[i].id;
		}
		size_t got = l.n;
		if (got)
			p = (co_page){.has_after = true, .after = l.items[got - 1].id, .limit = limit};
		co_token_list_clear(&l);
		if (got < (size_t)limit)
			return n;
	}
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(((const co_id *)a)->s, ((const co_id *)b)->s);
}

/* Records of the audit chain whose actor is `actor`. */
static size_t audit_count(const char *actor)
{
	co_audit_filter f = {.actor = actor, .limit = 1000};
	co_audit_list l = {0};
	assert_int_equal(CALL(audit_list, &f, &l), CO_OK);
	size_t n = l.n;
	co_audit_list_clear(&l);
	return n;
}

/* cmocka teardown: no clock override, no current audit entry. */
static int reset(void **state)
{
	co_audit_set(NULL);
	return kit_reset_clock(state);
}

/* ---- round trip ---------------------------------------------------------------------------- */

static void test_round_trip(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id ws = kit_mk_root("au-round");
	co_id other = kit_mk_root("au-round-other");
	co_token t[3];
	for (int i = 0; i < 3; i++) {
		co_clock_set_override(T0 + i * SEC);
		t[i] = mk_token(&ws, NULL);
		assert_int_equal(t[i].created_at, T0 + i * SEC);
	}
	co_token ot = mk_token(&other, NULL);

	/* list: live tokens by id, every listed field */
	co_page p = {.limit = 100};
	co_token_list l = {0};
	assert_int_equal(CALL(token_list, &ws, &p, &l), CO_OK);
	assert_int_equal(l.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(l.items[i].id.s, t[i].id.s); /* UUIDv7: creation order */
		assert_string_equal(l.items[i].prefix, t[i].prefix);
		assert_string_equal(l.items[i].hash_hex, "");
		assert_int_equal(l.items[i].created_at, T0 + (co_usec_t)i * SEC);
		assert_int_equal(l.items[i].last_used_at, 0);
	}
	co_token_list_clear(&l);

	/* lookup: the row by prefix, hash included */
	co_token got;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(lookup(t[i].prefix, &got), CO_OK);
		assert_string_equal(got.id.s, t[i].id.s);
		assert_string_equal(got.workspace_id.s, ws.s);
		assert_string_equal(got.hash_hex, t[i].hash_hex);
		assert_int_equal(got.created_at, t[i].created_at);
	}
	assert_int_equal(lookup("col_AAAAAAAAAA", &got), CO_ENOTFOUND);

	/* revoke: from another workspace's id it is not found and stays live */
	assert_int_equal(CALL(token_revoke, &other, &t[1].id), CO_ENOTFOUND);
	assert_int_equal(CALL(token_revoke, &ws, &ot.id), CO_ENOTFOUND);
	assert_int_equal(lookup(t[1].prefix, &got), CO_OK);
	co_clock_set_override(T0 + 10 * SEC);
	assert_int_equal(CALL(token_revoke, &ws, &t[1].id), CO_OK);
	assert_int_equal(stored_revoked_at(&t[1].id), T0 + 10 * SEC);
	assert_int_equal(lookup(t[1].prefix, &got), CO_ENOTFOUND);
	assert_int_equal(CALL(token_revoke, &ws, &t[1].id), CO_ENOTFOUND); /* already */
	co_id nobody = kit_absent_id();
	assert_int_equal(CALL(token_revoke, &ws, &nobody), CO_ENOTFOUND);
	assert_int_equal(CALL(token_revoke, &nobody, &t[0].id), CO_ENOTFOUND);
	assert_int_equal(stored_revoked_at(&t[0].id), -2);
	assert_int_equal(stored_revoked_at(&ot.id), -2);

	co_id ids[8];
	assert_int_equal(list_all(&ws, 100, ids, 8), 2);
	assert_string_equal(ids[0].s, t[0].id.s);
	assert_string_equal(ids[1].s, t[2].id.s);
	assert_int_equal(lookup(t[0].prefix, &got), CO_OK);
	assert_int_equal(lookup(ot.prefix, &got), CO_OK);
	assert_int_equal(kit_rows_of("workspace_tokens", &ws), 3); /* the revoked row stays */

	/* absent workspace: create and list are not found; a workspace without tokens lists [] */
	co_token in = {0}, out = {0};
	char pt[CO_TOKEN_LEN + 1];
	co_token_mint(pt, in.prefix, in.hash_hex);
	co_conflict c = {0};
	assert_int_equal(CALL(token_create, &nobody, &in, &out, &c), CO_ENOTFOUND);
	co_conflict_clear(&c);
	assert_int_equal(lookup(in.prefix, &got), CO_ENOTFOUND);
	assert_int_equal(CALL(token_list, &nobody, &p, &l), CO_ENOTFOUND);
	co_token_list_clear(&l);
	co_id empty = kit_mk_root("au-round-empty");
	assert_int_equal(CALL(token_list, &empty, &p, &l), CO_OK);
	assert_int_equal(l.n, 0);
	co_token_list_clear(&l);
}

static void test_list_pages_by_id(void **state)
{
	(void)state;
	co_id ws = kit_mk_root("au-pages");
	co_id made[9];
	for (int i = 0; i < 9; i++)
		made[i] = mk_token(&ws, NULL).id;
	assert_int_equal(CALL(token_revoke, &ws, &made[0]), CO_OK);
	assert_int_equal(CALL(token_revoke, &ws, &made[4]), CO_OK);
	assert_int_equal(CALL(token_revoke, &ws, &made[8]), CO_OK);
	co_id live[6];
	size_t nl = 0;
	for (int i = 0; i < 9; i++)
		if (i % 4)
			live[nl++] = made[i];
	qsort(live, nl, sizeof live[0], cmp_id);
	for (int limit = 1; limit <= 7; limit++) {
		co_id ids[16];
		size_t n = list_all(&ws, limit, ids, 16);
		assert_int_equal(n, nl);
		for (size_t i = 0; i < n; i++)
			assert_string_equal(ids[i].s, live[i].s);
	}
	/* after: strictly greater, any well-formed id */
	co_page p = {.has_after = true, .after = live[2], .limit = 100};
	co_token_list l = {0};
	assert_int_equal(CALL(token_list, &ws, &p, &l), CO_OK);
	assert_int_equal(l.n, nl - 3);
	assert_string_equal(l.items[0].id.s, live[3].s);
	co_token_list_clear(&l);
	p.after = made[8]; /* revoked, and the newest */
	assert_int_equal(CALL(token_list, &ws, &p, &l), CO_OK);
	assert_int_equal(l.n, 0);
	co_token_list_clear(&l);
}

/* ---- what is stored --------------------------------------------------------------------- */

struct scan {
	const char *plaintext;
	const char *secret; /* the part after the prefix */
	int rows, leaks;
	char hash[CO_TOKEN_HASH_HEX + 1];
};

static void scan_row(void *ctx, int n, const char *const *v)
{
	struct scan *s = ctx;
	s->rows++;
	for (int i = 0; i < n; i++) {
		if (v[i] && (strstr(v[i], s->plaintext) || strstr(v[i], s->secret)))
			s->leaks++;
		if (v[i] && strlen(v[i]) == CO_TOKEN_HASH_HEX)
			snprintf(s->hash, sizeof s->hash, "%s", v[i]);
	}
}

static void test_only_the_hash_is_stored(void **state)
{
	(void)state;
	co_id ws = kit_mk_root("au-hash");
	char pt[CO_TOKEN_LEN + 1];
	co_token t = mk_token(&ws, pt);
	assert_int_equal(strlen(pt), CO_TOKEN_LEN);
	assert_memory_equal(pt, t.prefix, CO_TOKEN_PREFIX_LEN);
	char want[CO_TOKEN_HASH_HEX + 1];
	co_token_hash_hex(pt, want);
	assert_string_equal(t.hash_hex, want);

	char sql[200];
	snprintf(sql, sizeof sql, "SELECT * FROM workspace_tokens WHERE workspace_id = '%s'", ws.s);
	struct scan s = {.plaintext = pt, .secret = pt + CO_TOKEN_PREFIX_LEN + 1};
	assert_true(db_query(sql, scan_row, &s));
	assert_int_equal(s.rows, 1);
	assert_int_equal(s.leaks, 0);
	assert_string_equal(s.hash, want); /* BLAKE2b-256 of the whole token, lowercase hex */

	co_token got;
	assert_int_equal(lookup(t.prefix, &got), CO_OK);
	assert_true(co_token_hash_equal(got.hash_hex, want));
}

/* ---- removal, purge ------------------------------------------------------------------------ */

static void test_removal_revokes_subtree_tokens(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id a = kit_mk_root("au-rm");
	co_id b = kit_mk_child(&a, "au-rm-b");
	co_id c = kit_mk_child(&b, "au-rm-c");
	co_id sib = kit_mk_child(&a, "au-rm-sib");
	co_token ta = mk_token(&a, NULL), tb = mk_token(&b, NULL), tc = mk_token(&c, NULL);
	co_token tc2 = mk_token(&c, NULL), ts = mk_token(&sib, NULL);
	co_clock_set_override(T0 + 5 * SEC);
	assert_int_equal(CALL(token_revoke, &c, &tc2.id), CO_OK);

	co_clock_set_override(T0 + 60 * SEC);
	kit_rm_ws(&b); /* and c */
	co_token got;
	assert_int_equal(lookup(tb.prefix, &got), CO_ENOTFOUND);
	assert_int_equal(lookup(tc.prefix, &got), CO_ENOTFOUND);
	assert_int_equal(lookup(ta.prefix, &got), CO_OK);
	assert_int_equal(lookup(ts.prefix, &got), CO_OK);
	assert_int_equal(stored_revoked_at(&tb.id), T0 + 60 * SEC);
	assert_int_equal(stored_revoked_at(&tc.id), T0 + 60 * SEC);
	assert_int_equal(stored_revoked_at(&tc2.id), T0 + 5 * SEC); /* kept its own time */
	assert_int_equal(stored_revoked_at(&ta.id), -2);
	assert_int_equal(stored_revoked_at(&ts.id), -2);
	assert_int_equal(live_tokens_of_removed(), 0);

	/* a removed workspace gets no token, lists none, revokes none */
	co_token in = {0}, out = {0};
	char pt[CO_TOKEN_LEN + 1];
	co_token_mint(pt, in.prefix, in.hash_hex);
	const co_id *gone[] = {&b, &c};
	for (int k = 0; k < 2; k++) {
		co_conflict cf = {0};
		assert_int_equal(CALL(token_create, gone[k], &in, &out, &cf), CO_ECONFLICT);
		assert_int_equal(cf.kind, CO_CONFLICT_REMOVED);
		co_conflict_clear(&cf);
		co_page p = {.limit = 10};
		co_token_list l = {0};
		assert_int_equal(CALL(token_list, gone[k], &p, &l), CO_OK);
		assert_int_equal(l.n, 0);
		co_token_list_clear(&l);
	}
	assert_int_equal(CALL(token_revoke, &b, &tb.id), CO_ENOTFOUND);
	assert_int_equal(kit_rows_of("workspace_tokens", &b), 1);
	assert_int_equal(kit_rows_of("workspace_tokens", &c), 2);

	/* the lookup joins the workspace: even with revoked_at put back to NULL by hand, a
	 * removed workspace's token is not found */
	char sql[160];
	snprintf(sql, sizeof sql, "UPDATE workspace_tokens SET revoked_at = NULL WHERE id = '%s'",
		 tc.id.s);
	assert_true(db_query(sql, NULL, NULL));
	assert_int_equal(lookup(tc.prefix, &got), CO_ENOTFOUND);
	snprintf(sql, sizeof sql, "UPDATE workspace_tokens SET revoked_at = 1 WHERE id = '%s'", tc.id.s);
	assert_true(db_query(sql, NULL, NULL));

	/* removing the root revokes the rest; removing it again changes nothing */
	co_clock_set_override(T0 + 120 * SEC);
	kit_rm_ws(&a);
	assert_int_equal(stored_revoked_at(&ta.id), T0 + 120 * SEC);
	assert_int_equal(stored_revoked_at(&ts.id), T0 + 120 * SEC);
	assert_int_equal(stored_revoked_at(&tb.id), T0 + 60 * SEC);
	co_clock_set_override(T0 + 180 * SEC);
	kit_rm_ws(&a);
	assert_int_equal(stored_revoked_at(&ta.id), T0 + 120 * SEC);
	assert_int_equal(live_tokens_of_removed(), 0);
}

static void test_purge_deletes_token_rows(void **state)
{
	(void)state;
	co_id a = kit_mk_root("au-purge");
	co_id b = kit_mk_child(&a, "au-purge-b");
	co_token ta = mk_token(&a, NULL), tb = mk_token(&b, NULL);
	mk_token(&b, NULL);
	assert_int_equal(kit_rows_of("workspace_tokens", &b), 2);
	co_ws_delete_opts o = {.confirm = true, .purge = true};
	co_id_list ids = {0};
	co_conflict c = {0};
	assert_int_equal(CALL(ws_delete, &a, &o, &ids, &c), CO_OK);
	assert_int_equal(ids.n, 2);
	co_id_list_clear(&ids);
	co_conflict_clear(&c);
	assert_int_equal(kit_rows_of("workspace_tokens", &a), 0);
	assert_int_equal(kit_rows_of("workspace_tokens", &b), 0);
	co_token got;
	assert_int_equal(lookup(ta.prefix, &got), CO_ENOTFOUND);
	assert_int_equal(lookup(tb.prefix, &got), CO_ENOTFOUND);

	/* a tombstone purges too */
	co_id d = kit_mk_root("au-purge-d");
	mk_token(&d, NULL);
	kit_rm_ws(&d);
	assert_int_equal(kit_rows_of("workspace_tokens", &d), 1);
	o = (co_ws_delete_opts){.purge = true};
	assert_int_equal(CALL(ws_delete, &d, &o, &ids, &c), CO_OK);
	co_id_list_clear(&ids);
	co_conflict_clear(&c);
	assert_int_equal(kit_rows_of("workspace_tokens", &d), 0);
}

/* ---- prefixes ------------------------------------------------------------------------------ */

static void test_prefix_taken(void **state)
{
	(void)state;
	co_id ws = kit_mk_root("au-prefix");
	co_id other = kit_mk_root("au-prefix-other");
	co_token t = mk_token(&ws, NULL);
	co_token in = {0}, out = {0};
	char pt[CO_TOKEN_LEN + 1];
	co_token_mint(pt, in.prefix, in.hash_hex);
	memcpy(in.prefix, t.prefix, sizeof in.prefix); /* same prefix, another secret */
	const co_id *where[] = {&ws, &other};
	for (int round = 0; round < 2; round++) {
		for (int k = 0; k < 2; k++) {
			co_conflict c = {0};
			assert_int_equal(CALL(token_create, where[k], &in, &out, &c), CO_EEXISTS);
			co_conflict_clear(&c);
		}
		/* revoked, the prefix stays taken */
		if (round == 0)
			assert_int_equal(CALL(token_revoke, &ws, &t.id), CO_OK);
	}
	assert_int_equal(kit_rows_of("workspace_tokens", &ws), 1);
	assert_int_equal(kit_rows_of("workspace_tokens", &other), 0);
	/* and a fresh prefix goes in */
	mk_token(&other, NULL);
}

/* ---- touch and audit ----------------------------------------------------------------------- */

static void test_touch_forward_only_unaudited(void **state)
{
	(void)state;
	co_id ws = kit_mk_root("au-touch");
	co_token t = mk_token(&ws, NULL);
	/* an audit entry IS current: touching must still append nothing */
	co_audit_entry e = {.actor = "au-touch-actor", .action = "token.touch", .target = "/t",
			    .detail_json = "{}"};
	co_audit_set(&e);
	const co_usec_t at[] = {T0 + 10 * SEC, T0 + 5 * SEC, T0 + 10 * SEC, T0 + 20 * SEC, 1};
	const co_usec_t want[] = {T0 + 10 * SEC, T0 + 10 * SEC, T0 + 10 * SEC, T0 + 20 * SEC,
				  T0 + 20 * SEC};
	for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
		assert_int_equal(CALL(token_touch, &t.id, at[i]), CO_OK);
		assert_ptr_equal(co_audit_get(), &e); /* the caller's entry is left as it was */
		co_token got;
		assert_int_equal(lookup(t.prefix, &got), CO_OK);
		assert_int_equal(got.last_used_at, want[i]);
	}
	co_audit_set(NULL);
	assert_int_equal(audit_count("au-touch-actor"), 0);
	co_page p = {.limit = 10};
	co_token_list l = {0};
	assert_int_equal(CALL(token_list, &ws, &p, &l), CO_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].last_used_at, T0 + 20 * SEC);
	co_token_list_clear(&l);
}

static void test_create_revoke_audited_once(void **state)
{
	(void)state;
	co_id ws = kit_mk_root("au-audit");
	co_id gone = kit_mk_root("au-audit-gone");
	kit_rm_ws(&gone);
	co_token t0 = mk_token(&ws, NULL); /* no entry current: not audited */
	co_audit_entry e = {.actor = "au-audit-actor", .action = "token.create", .target = "/t",
			    .detail_json = "{}"};
	co_audit_set(&e);
	co_token t = mk_token(&ws, NULL);
	assert_int_equal(audit_count("au-audit-actor"), 1);

	/* failures append nothing: a taken prefix, a removed or absent workspace */
	co_token in = {0}, out = {0};
	char pt[CO_TOKEN_LEN + 1];
	co_token_mint(pt, in.prefix, in.hash_hex);
	co_id nobody = kit_absent_id();
	const co_id *where[] = {&gone, &nobody};
	for (int k = 0; k < 2; k++) {
		co_conflict c = {0};
		assert_int_not_equal(CALL(token_create, where[k], &in, &out, &c), CO_OK);
		co_conflict_clear(&c);
	}
	memcpy(in.prefix, t.prefix, sizeof in.prefix);
	co_conflict c = {0};
	assert_int_equal(CALL(token_create, &ws, &in, &out, &c), CO_EEXISTS);
	co_conflict_clear(&c);
	assert_int_equal(audit_count("au-audit-actor"), 1);

	e.action = "token.revoke";
	assert_int_equal(CALL(token_revoke, &ws, &t.id), CO_OK);
	assert_int_equal(audit_count("au-audit-actor"), 2);
	assert_int_equal(CALL(token_revoke, &ws, &t.id), CO_ENOTFOUND);
	assert_int_equal(CALL(token_revoke, &nobody, &t0.id), CO_ENOTFOUND);
	assert_int_equal(audit_count("au-audit-actor"), 2);
	co_audit_set(NULL);

	co_audit_filter f = {.actor = "au-audit-actor", .limit = 10};
	co_audit_list l = {0};
	assert_int_equal(CALL(audit_list, &f, &l), CO_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.items[0].action, "token.create");
	assert_string_equal(l.items[1].action, "token.revoke");
	co_audit_list_clear(&l);
	co_audit_verify v = {0};
	assert_int_equal(CALL(audit_verify, &v), CO_OK);
	assert_true(v.valid);
}

/* ---- lineage ------------------------------------------------------------------------------- */

/* Asserts the lineage of id is want[0..n) and its removed flag. */
static void expect_lineage(const co_id *id, const co_id *const *want, size_t n, bool removed)
{
	co_id_list l = {0};
	bool rm = !removed;
	int rc = CALL(ws_lineage, id, &l, &rm);
	if (rc)
		fail_msg("lineage of %s: %d %s", id->s, rc, co_err_msg());
	assert_int_equal(l.n, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(l.ids[i].s, want[i]->s);
	assert_int_equal(rm, removed);
	co_id_list_clear(&l);
}

static void test_lineage(void **state)
{
	(void)state;
	co_id r = kit_mk_root("au-lin");
	co_id a = kit_mk_child(&r, "au-lin-a");
	co_id b = kit_mk_child(&a, "au-lin-b");
	co_id c = kit_mk_child(&b, "au-lin-c");
	co_id d = kit_mk_child(&c, "au-lin-d");
	co_id a2 = kit_mk_child(&r, "au-lin-a2");
	expect_lineage(&r, (const co_id *[]){&r}, 1, false);
	expect_lineage(&a, (const co_id *[]){&a, &r}, 2, false);
	expect_lineage(&d, (const co_id *[]){&d, &c, &b, &a, &r}, 5, false);
	expect_lineage(&a2, (const co_id *[]){&a2, &r}, 2, false);

	co_id nobody = kit_absent_id();
	co_id_list l = {0};
	bool rm;
	assert_int_equal(CALL(ws_lineage, &nobody, &l, &rm), CO_ENOTFOUND);
	assert_int_equal(l.n, 0);
	co_id_list_clear(&l);

	/* removed ones stay in lineages; the flag is about id itself */
	kit_rm_ws(&c); /* and d */
	expect_lineage(&d, (const co_id *[]){&d, &c, &b, &a, &r}, 5, true);
	expect_lineage(&c, (const co_id *[]){&c, &b, &a, &r}, 4, true);
	expect_lineage(&b, (const co_id *[]){&b, &a, &r}, 3, false);

	/* a move shows at once */
	co_ws_patch p = {.fields = CO_WSF_PARENT};
	p.v.has_parent = true;
	p.v.parent_id = a2;
	co_workspace w = {0};
	co_conflict cf = {0};
	assert_int_equal(CALL(ws_patch, &b, &p, &w, &cf), CO_OK);
	co_workspace_clear(&w);
	co_conflict_clear(&cf);
	expect_lineage(&b, (const co_id *[]){&b, &a2, &r}, 3, false);
	expect_lineage(&d, (const co_id *[]){&d, &c, &b, &a2, &r}, 5, true);

	/* a cycle written by hand (the store never makes one): an error, not a hang */
	char sql[200];
	snprintf(sql, sizeof sql, "UPDATE workspaces SET parent_id = '%s' WHERE id = '%s'", d.s, r.s);
	assert_true(db_query(sql, NULL, NULL));
	int rc = CALL(ws_lineage, &b, &l, &rm);
	co_id_list_clear(&l);
	snprintf(sql, sizeof sql, "UPDATE workspaces SET parent_id = NULL WHERE id = '%s'", r.s);
	assert_true(db_query(sql, NULL, NULL));
	assert_int_not_equal(rc, CO_OK);
	assert_int_not_equal(rc, CO_ENOTFOUND);
	expect_lineage(&b, (const co_id *[]){&b, &a2, &r}, 3, false);
}

/* ---- races --------------------------------------------------------------------------------- */

#define N_REVOKERS 8
#define N_CREATORS 4
#define ROUNDS 50

struct race {
	pthread_barrier_t go;
	co_id ws, tid;
	int rc[N_REVOKERS + 1];
	co_conflict_kind kind[N_REVOKERS + 1];
	co_token made[N_CREATORS];
};

struct targ {
	struct race *r;
	int i;
};

static void run_threads(struct race *r, void *(*fn)(void *), int n)
{
	pthread_t tid[N_REVOKERS + 1];
	struct targ args[N_REVOKERS + 1];
	pthread_barrier_init(&r->go, NULL, (unsigned)n);
	for (int i = 0; i < n; i++) {
		args[i] = (struct targ){r, i};
		assert_int_equal(pthread_create(&tid[i], NULL, fn, &args[i]), 0);
	}
	for (int i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	pthread_barrier_destroy(&r->go);
}

/* No cmocka calls in threads: results go into the thread's own slots. */
static void *revoke_thread(void *p)
{
	struct targ *t = p;
	pthread_barrier_wait(&t->r->go);
	t->r->rc[t->i] = CALL(token_revoke, &t->r->ws, &t->r->tid);
	return NULL;
}

static void test_race_revoke_one_winner(void **state)
{
	(void)state;
	static struct race r;
	for (int round = 0; round < 5; round++) {
		memset(&r, 0, sizeof r);
		char name[32];
		snprintf(name, sizeof name, "au-race-revoke-%d", round);
		r.ws = kit_mk_root(name);
		r.tid = mk_token(&r.ws, NULL).id;
		run_threads(&r, revoke_thread, N_REVOKERS);
		int ok = 0;
		for (int i = 0; i < N_REVOKERS; i++) {
			if (r.rc[i] == CO_OK)
				ok++;
			else if (r.rc[i] != CO_ENOTFOUND)
				fail_msg("round %d thread %d: rc %d", round, i, r.rc[i]);
		}
		assert_int_equal(ok, 1);
		assert_true(stored_revoked_at(&r.tid) > 0);
	}
}

/* Threads 0..N_CREATORS-1 each create a token of r->ws; the last removes r->ws. */
static void *create_or_remove_thread(void *p)
{
	struct targ *t = p;
	struct race *r = t->r;
	pthread_barrier_wait(&r->go);
	if (t->i == N_CREATORS) {
		co_ws_delete_opts o = {.confirm = true};
		co_id_list ids = {0};
		co_conflict c = {0};
		r->rc[t->i] = CALL(ws_delete, &r->ws, &o, &ids, &c);
		co_id_list_clear(&ids);
		co_conflict_clear(&c);
		return NULL;
	}
	char pt[CO_TOKEN_LEN + 1];
	co_token in = {0};
	co_token_mint(pt, in.prefix, in.hash_hex);
	co_conflict c = {0};
	r->rc[t->i] = CALL(token_create, &r->ws, &in, &r->made[t->i], &c);
	r->kind[t->i] = c.kind;
	co_conflict_clear(&c);
	return NULL;
}

static void test_race_create_vs_removal(void **state)
{
	(void)state;
	static struct race r;
	int landed = 0, refused = 0;
	for (int round = 0; round < ROUNDS; round++) {
		memset(&r, 0, sizeof r);
		char name[32];
		snprintf(name, sizeof name, "au-race-rm-%d", round);
		r.ws = kit_mk_root(name);
		run_threads(&r, create_or_remove_thread, N_CREATORS + 1);
		assert_int_equal(r.rc[N_CREATORS], CO_OK); /* the removal */
		int here = 0;
		for (int i = 0; i < N_CREATORS; i++) {
			if (r.rc[i] == CO_OK) {
				here++;
				co_token got;
				assert_int_equal(lookup(r.made[i].prefix, &got), CO_ENOTFOUND);
				assert_true(stored_revoked_at(&r.made[i].id) > 0);
			} else if (r.rc[i] == CO_ECONFLICT && r.kind[i] == CO_CONFLICT_REMOVED) {
				refused++;
			} else {
				fail_msg("round %d creator %d: rc %d kind %d", round, i, r.rc[i], r.kind[i]);
			}
		}
		assert_int_equal(kit_rows_of("workspace_tokens", &r.ws), here); /* refused: no row */
		landed += here;
	}
	assert_int_equal(live_tokens_of_removed(), 0);
	print_message("create vs removal: %d tokens landed before the removal, %d refused\n",
		      landed, refused);
}

int main(int argc, char **argv)
{
	int rc = store_kit_args(argc, argv);
	if (rc >= 0)
		return rc;
	if (co_auth_init() != CO_OK)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_round_trip, reset),
		cmocka_unit_test_teardown(test_list_pages_by_id, reset),
		cmocka_unit_test_teardown(test_only_the_hash_is_stored, reset),
		cmocka_unit_test_teardown(test_removal_revokes_subtree_tokens, reset),
		cmocka_unit_test_teardown(test_purge_deletes_token_rows, reset),
		cmocka_unit_test_teardown(test_prefix_taken, reset),
		cmocka_unit_test_teardown(test_touch_forward_only_unaudited, reset),
		cmocka_unit_test_teardown(test_create_revoke_audited_once, reset),
		cmocka_unit_test_teardown(test_lineage, reset),
		cmocka_unit_test_teardown(test_race_revoke_one_winner, reset),
		cmocka_unit_test_teardown(test_race_create_vs_removal, reset),
	};
	return cmocka_run_group_tests(tests, store_kit_setup, store_kit_teardown);
}
