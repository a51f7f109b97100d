/*
 * test_conformance_skill.c — the storage contract (src/store/store.h skill_*) for skill
 * versions (SPEC §7; core/skill.h), run against a backend.
 *
 * Usage: test_store_skill [--postgres | URL]. Without an argument it runs against a fresh
 * SQLite file in a temp directory; --postgres makes a fresh database on the test server
 * named by COLONY_TEST_PG (exit 77, "skipped", if unset). Every backend passes this file.
 * Tests call the store interface directly (no HTTP), use real threads for the concurrency
 * claims (per-thread slots in the threads, asserts only after join), and fix the clock
 * with co_clock_set_override() instead of sleeping. All tests share one store, so each
 * one makes its own workspaces.
 *
 *  - numbering 1, 2, 3 … per (workspace, skill); the version's shape; get; 404s;
 *  - versions newest first, paged with `before`; skills by name with latest_seq,
 *    updated_at, paged with `after`;
 *  - absent workspace (404) and removed workspace (409 removed; its skills stay readable);
 *  - races: 32 threads append to one skill while others append to a second skill and to
 *    the same name in another workspace → exactly 1..N each, every body under the seq
 *    its writer was told; 32 first appends of a new skill; appends racing a removal;
 *  - the schema: the unique (workspace, skill, seq) refuses a duplicate written by hand;
 *    purging a workspace deletes its skills;
 *  - errors propagate (seed 003): a failing insert (a trigger) or a missing table fails the
 *    call — never a version numbered 0, never a 404 for a storage error — and the counter
 *    rolls back with it, so the next append takes the next number (no gap).
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

/* ---- the database itself, for what the API cannot show or break ----------------------- */

/* Runs sql on a connection of its own. Returns true if it succeeded. */
static bool db_exec(const char *sql)
{
	bool ok;
	if (is_sqlite) {
		sqlite3 *db;
		assert_int_equal(sqlite3_open_v2(url, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
		sqlite3_busy_timeout(db, 10000);
		sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
		ok = sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
		sqlite3_close(db);
	} else {
		PGconn *c = PQconnectdb(url);
		assert_int_equal(PQstatus(c), CONNECTION_OK);
		PGresult *r = PQexec(c, sql);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
		PQclear(r);
		PQfinish(c);
	}
	return ok;
}

/* ---- helpers --------------------------------------------------------------------------- */

/* Appends body to skill `name` of ws, asserting success; returns the seq. */
static int64_t append_ok(const co_id *ws, const char *name, const char *body)
{
	co_skill_version v = {0};
	co_conflict c = {0};
	int rc = CALL(skill_append, ws, name, body, &v, &c);
	if (rc)
		fail_msg("append %s to %s: %d %s", body, name, rc, co_err_msg());
	assert_string_equal(v.skill, name);
	assert_string_equal(v.body_json, body);
	assert_int_equal(c.kind, CO_CONFLICT_NONE);
	int64_t seq = v.seq;
	co_skill_version_clear(&v);
	co_conflict_clear(&c);
	return seq;
}

/* Every version of the skill, newest first (asserting success). */
static void all_versions(const co_id *ws, const char *name, co_skill_version_list *out)
{
	co_skill_page p = {.before = 0, .limit = 1000};
	int rc = CALL(skill_versions, ws, name, &p, out);
	if (rc)
		fail_msg("versions of %s: %d %s", name, rc, co_err_msg());
}

/* The skill's latest_seq in skill_list (0 if it is not listed). */
static int64_t listed_latest(const co_id *ws, const char *name)
{
	co_skill_filter f = {.limit = 1000};
	co_skill_list l = {0};
	assert_int_equal(CALL(skill_list, ws, &f, &l), CO_OK);
	int64_t latest = 0;
	for (size_t i = 0; i < l.n; i++)
		if (!strcmp(l.items[i].name, name))
			latest = l.items[i].latest_seq;
	co_skill_list_clear(&l);
	return latest;
}

/* Asserts the versions of a skill are exactly seq n, n−1, …, 1 (newest first). */
static void expect_versions_n_to_1(const co_id *ws, const char *name, int64_t n)
{
	co_skill_version_list l = {0};
	all_versions(ws, name, &l);
	assert_int_equal(l.n, n);
	for (size_t i = 0; i < l.n; i++) {
		assert_int_equal(l.items[i].seq, n - (int64_t)i);
		assert_string_equal(l.items[i].skill, name);
	}
	co_skill_version_list_clear(&l);
	assert_int_equal(listed_latest(ws, name), n);
}

/* ---- numbering, shape, get ---------------------------------------------------------------- */

static void test_numbering_shape_get(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id ws = kit_mk_root("sk-numbering");
	co_id other = kit_mk_root("sk-numbering-other");
	char body[64];
	for (int i = 1; i <= 5; i++) {
		co_clock_set_override(T0 + i * SEC);
		snprintf(body, sizeof body, "{\"step\":%d,\"text\":\"v%d\"}", i, i);
		assert_int_equal(append_ok(&ws, "deploy", body), i);
	}
	/* another skill and the same name in another workspace each start at 1 */
	assert_int_equal(append_ok(&ws, "review", "\"plain string\""), 1);
	assert_int_equal(append_ok(&other, "deploy", "[1,2,3]"), 1);
	assert_int_equal(append_ok(&other, "deploy", "0"), 2);
	assert_int_equal(append_ok(&ws, "deploy", "false"), 6);

	/* the append's answer: every field */
	co_clock_set_override(T0 + 100 * SEC);
	co_skill_version v = {0};
	co_conflict c = {0};
	assert_int_equal(CALL(skill_append, &ws, "deploy", "{\"a\":{\"b\":[null]}}", &v, &c), CO_OK);
	assert_string_equal(v.skill, "deploy");
	assert_int_equal(v.seq, 7);
	assert_string_equal(v.body_json, "{\"a\":{\"b\":[null]}}");
	assert_int_equal(v.created_at, T0 + 100 * SEC);
	co_skill_version_clear(&v);
	co_conflict_clear(&c);

	/* get each, as written */
	for (int i = 1; i <= 5; i++) {
		snprintf(body, sizeof body, "{\"step\":%d,\"text\":\"v%d\"}", i, i);
		assert_int_equal(CALL(skill_get, &ws, "deploy", i, &v), CO_OK);
		assert_string_equal(v.skill, "deploy");
		assert_int_equal(v.seq, i);
		assert_string_equal(v.body_json, body);
		assert_int_equal(v.created_at, T0 + i * SEC);
		co_skill_version_clear(&v);
	}
	assert_int_equal(CALL(skill_get, &other, "deploy", 2, &v), CO_OK);
	assert_string_equal(v.body_json, "0");
	co_skill_version_clear(&v);

	/* absent: a version past the latest, a skill, a workspace */
	assert_int_equal(CALL(skill_get, &ws, "deploy", 8, &v), CO_ENOTFOUND);
	co_skill_version_clear(&v);
	assert_int_equal(CALL(skill_get, &other, "review", 1, &v), CO_ENOTFOUND);
	co_skill_version_clear(&v);
	co_id nobody = kit_absent_id();
	assert_int_equal(CALL(skill_get, &nobody, "deploy", 1, &v), CO_ENOTFOUND);
	co_skill_version_clear(&v);

	/* names are exact and bytewise: another case or a UTF-8 name is another skill */
	assert_int_equal(append_ok(&ws, "Deploy", "1"), 1);
	assert_int_equal(append_ok(&ws, "d\xc3\xa9ploy \xe2\x9c\x93", "1"), 1);
	assert_int_equal(append_ok(&ws, "d\xc3\xa9ploy \xe2\x9c\x93", "2"), 2);
	expect_versions_n_to_1(&ws, "deploy", 7);
	expect_versions_n_to_1(&ws, "d\xc3\xa9ploy \xe2\x9c\x93", 2);
	assert_int_equal(kit_rows_of("skill_versions", &ws), 7 + 1 + 1 + 2);
	assert_int_equal(kit_rows_of("skills", &ws), 4);
}

/* ---- lists and paging ---------------------------------------------------------------------- */

static void test_versions_newest_first_paged(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id ws = kit_mk_root("sk-paging");
	char body[32];
	for (int i = 1; i <= 7; i++) {
		snprintf(body, sizeof body, "%d", i * 10);
		append_ok(&ws, "p", body);
	}
	struct {
		int64_t before;
		int limit;
		int n;
		int64_t first;
	} pages[] = {
		{0, 3, 3, 7},   {5, 3, 3, 4}, {2, 3, 1, 1}, {1, 3, 0, 0},
		{0, 1000, 7, 7}, {8, 2, 2, 7}, {INT64_MAX, 1, 1, 7},
	};
	for (size_t k = 0; k < sizeof pages / sizeof pages[0]; k++) {
		co_skill_page p = {.before = pages[k].before, .limit = pages[k].limit};
		co_skill_version_list l = {0};
		assert_int_equal(CALL(skill_versions, &ws, "p", &p, &l), CO_OK);
		assert_int_equal(l.n, pages[k].n);
		for (size_t i = 0; i < l.n; i++) {
			assert_int_equal(l.items[i].seq, pages[k].first - (int64_t)i);
			snprintf(body, sizeof body, "%lld", (long long)l.items[i].seq * 10);
			assert_string_equal(l.items[i].body_json, body);
			assert_string_equal(l.items[i].skill, "p");
		}
		co_skill_version_list_clear(&l);
	}
	/* walking the pages by `before` = the last seq seen visits every version once */
	int64_t before = 0, expect = 7;
	for (;;) {
		co_skill_page p = {.before = before, .limit = 2};
		co_skill_version_list l = {0};
		assert_int_equal(CALL(skill_versions, &ws, "p", &p, &l), CO_OK);
		size_t n = l.n;
		for (size_t i = 0; i < n; i++)
			assert_int_equal(l.items[i].seq, expect--);
		if (n)
			before = l.items[n - 1].seq;
		co_skill_version_list_clear(&l);
		if (n == 0)
			break;
	}
	assert_int_equal(expect, 0);

	/* a skill with no versions, or of an absent workspace: not found (not an empty page) */
	co_skill_page p = {.limit = 10};
	co_skill_version_list l = {0};
	assert_int_equal(CALL(skill_versions, &ws, "nope", &p, &l), CO_ENOTFOUND);
	assert_int_equal(l.n, 0);
	co_skill_version_list_clear(&l);
	co_id nobody = kit_absent_id();
	assert_int_equal(CALL(skill_versions, &nobody, "p", &p, &l), CO_ENOTFOUND);
	co_skill_version_list_clear(&l);
}

static void test_skill_list(void **state)
{
	(void)state;
	co_id ws = kit_mk_root("sk-list");
	co_skill_filter f = {.limit = 100};
	co_skill_list l = {0};
	/* a workspace without skills: an empty list, not a 404 */
	assert_int_equal(CALL(skill_list, &ws, &f, &l), CO_OK);
	assert_int_equal(l.n, 0);
	co_skill_list_clear(&l);
	co_id nobody = kit_absent_id();
	assert_int_equal(CALL(skill_list, &nobody, &f, &l), CO_ENOTFOUND);
	co_skill_list_clear(&l);

	/* appended out of order, at distinct times */
	const char *names[] = {"b", "\xc3\xa9t\xc3\xa9", "a", "B", "c", "a"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		co_clock_set_override(T0 + (co_usec_t)i * SEC);
		append_ok(&ws, names[i], "{}");
	}
	/* bytewise: "B" < "a" < "b" < "c" < "été" */
	const char *order[] = {"B", "a", "b", "c", "\xc3\xa9t\xc3\xa9"};
	const int64_t latest[] = {1, 2, 1, 1, 1};
	const co_usec_t updated[] = {T0 + 3 * SEC, T0 + 5 * SEC, T0, T0 + 4 * SEC, T0 + SEC};
	assert_int_equal(CALL(skill_list, &ws, &f, &l), CO_OK);
	assert_int_equal(l.n, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(l.items[i].name, order[i]);
		assert_int_equal(l.items[i].latest_seq, latest[i]);
		assert_int_equal(l.items[i].updated_at, updated[i]);
	}
	co_skill_list_clear(&l);

	/* paging by name */
	f = (co_skill_filter){.after = "a", .limit = 2};
	assert_int_equal(CALL(skill_list, &ws, &f, &l), CO_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.items[0].name, "b");
	assert_string_equal(l.items[1].name, "c");
	co_skill_list_clear(&l);
	f = (co_skill_filter){.after = "\xc3\xa9t\xc3\xa9", .limit = 2};
	assert_int_equal(CALL(skill_list, &ws, &f, &l), CO_OK);
	assert_int_equal(l.n, 0);
	co_skill_list_clear(&l);
	f = (co_skill_filter){.after = "A", .limit = 1};
	assert_int_equal(CALL(skill_list, &ws, &f, &l), CO_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].name, "B");
	co_skill_list_clear(&l);
}

/* ---- absent and removed workspaces --------------------------------------------------------- */

static void test_absent_and_removed_workspace(void **state)
{
	(void)state;
	co_skill_version v = {0};
	co_conflict c = {0};
	co_id nobody = kit_absent_id();
	assert_int_equal(CALL(skill_append, &nobody, "s", "1", &v, &c), CO_ENOTFOUND);
	assert_int_equal(v.seq, 0);
	co_skill_version_clear(&v);
	co_conflict_clear(&c);

	co_id ws = kit_mk_root("sk-removed");
	co_id child;
	{
		co_workspace in = {0}, out = {0};
		in.name = "sk-removed-child";
		in.has_parent = true;
		in.parent_id = ws;
		co_conflict cc = {0};
		assert_int_equal(CALL(ws_create, &in, &out, &cc), CO_OK);
		child = out.id;
		co_workspace_clear(&out);
		co_conflict_clear(&cc);
	}
	append_ok(&ws, "s", "1");
	append_ok(&ws, "s", "2");
	append_ok(&child, "s", "1");
	kit_rm_ws(&ws); /* and its child */

	/* appends to a removed workspace (or a removed descendant) are refused, write nothing */
	const co_id *gone[] = {&ws, &child};
	for (int k = 0; k < 2; k++) {
		assert_int_equal(CALL(skill_append, gone[k], "s", "3", &v, &c), CO_ECONFLICT);
		assert_int_equal(c.kind, CO_CONFLICT_REMOVED);
		co_skill_version_clear(&v);
		co_conflict_clear(&c);
		assert_int_equal(CALL(skill_append, gone[k], "new", "3", &v, &c), CO_ECONFLICT);
		assert_int_equal(c.kind, CO_CONFLICT_REMOVED);
		co_skill_version_clear(&v);
		co_conflict_clear(&c);
	}
	assert_int_equal(kit_rows_of("skill_versions", &ws), 2);
	assert_int_equal(kit_rows_of("skills", &ws), 1);
	assert_int_equal(kit_rows_of("skill_versions", &child), 1);

	/* still readable */
	expect_versions_n_to_1(&ws, "s", 2);
	expect_versions_n_to_1(&child, "s", 1);
	assert_int_equal(CALL(skill_get, &ws, "s", 2, &v), CO_OK);
	assert_string_equal(v.body_json, "2");
	co_skill_version_clear(&v);
}

/* ---- races ----------------------------------------------------------------------------------- */

#define N_THREADS 32
#define ROUNDS 8

struct race {
	pthread_barrier_t go;
	co_id ws, ws2;
	const char *hot;
	int rounds;
	/* per thread and round: the seq each append was told (0: failed) and its rc */
	int64_t hot_seq[N_THREADS][ROUNDS];
	int64_t cold_seq[N_THREADS][ROUNDS];
	int64_t far_seq[N_THREADS][ROUNDS];
	int rc[N_THREADS][ROUNDS];
	co_conflict_kind kind[N_THREADS][ROUNDS];
	bool stop_on_removed; /* hot skill only; a thread stops at its first refusal */
};

struct targ {
	struct race *r;
	int i;
};

/* No cmocka calls in threads: results go into the thread's own slots. */
static int64_t try_append(const co_id *ws, const char *name, const char *body, int *rc,
			  co_conflict_kind *kind)
{
	co_skill_version v = {0};
	co_conflict c = {0};
	*rc = CALL(skill_append, ws, name, body, &v, &c);
	if (kind)
		*kind = c.kind;
	int64_t seq = *rc == CO_OK ? v.seq : 0;
	if (*rc == CO_OK && (!v.skill || strcmp(v.skill, name) || strcmp(v.body_json, body)))
		*rc = CO_EINTERNAL - 100; /* the answer does not describe what was written */
	co_skill_version_clear(&v);
	co_conflict_clear(&c);
	return seq;
}

/* Thread i appends `rounds` versions of the hot skill; odd threads also append to a cold
 * skill of the same workspace between them, every fourth thread to the hot name in
 * another workspace. Bodies name the writer: {"t":i,"k":round}. */
static void *append_thread(void *p)
{
	struct targ *t = p;
	struct race *r = t->r;
	char body[64];
	pthread_barrier_wait(&r->go);
	for (int k = 0; k < r->rounds; k++) {
		snprintf(body, sizeof body, "{\"t\":%d,\"k\":%d}", t->i, k);
		int rc2 = CO_OK;
		r->hot_seq[t->i][k] = try_append(&r->ws, r->hot, body, &r->rc[t->i][k], &r->kind[t->i][k]);
		if (r->stop_on_removed) { /* the removal race: the hot skill only */
			if (r->rc[t->i][k] != CO_OK)
				break;
			continue;
		}
		if (t->i % 2 == 1) {
			r->cold_seq[t->i][k] = try_append(&r->ws, "cold", body, &rc2, NULL);
			if (rc2 && !r->rc[t->i][k])
				r->rc[t->i][k] = rc2;
		}
		if (t->i % 4 == 0 && r->ws2.s[0]) {
			r->far_seq[t->i][k] = try_append(&r->ws2, r->hot, body, &rc2, NULL);
			if (rc2 && !r->rc[t->i][k])
				r->rc[t->i][k] = rc2;
		}
	}
	return NULL;
}

static void run_race(struct race *r, void *(*fn)(void *), int n)
{
	pthread_t tid[N_THREADS];
	struct targ args[N_THREADS];
	pthread_barrier_init(&r->go, NULL, (unsigned)n + 1);
	for (int i = 0; i < n; i++) {
		args[i] = (struct targ){r, i};
		assert_int_equal(pthread_create(&tid[i], NULL, fn, &args[i]), 0);
	}
	pthread_barrier_wait(&r->go);
	for (int i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	pthread_barrier_destroy(&r->go);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Collects the nonzero seqs of a [N_THREADS][ROUNDS] table, sorts them and asserts they
 * are exactly 1..n. Returns n. */
static int64_t expect_exactly_1_to_n(int64_t (*seqs)[ROUNDS], const char *what)
{
	int64_t all[N_THREADS * ROUNDS];
	size_t n = 0;
	for (int i = 0; i < N_THREADS; i++)
		for (int k = 0; k < ROUNDS; k++)
			if (seqs[i][k])
				all[n++] = seqs[i][k];
	qsort(all, n, sizeof all[0], cmp_i64);
	for (size_t j = 0; j < n; j++)
		if (all[j] != (int64_t)j + 1)
			fail_msg("%s: sorted seq #%zu is %lld, expected %zu (duplicate or gap)", what, j,
				 (long long)all[j], j + 1);
	return (int64_t)n;
}

/* Every version's body is the one whose writer was told that seq. */
static void expect_bodies_match(const co_id *ws, const char *name, int64_t (*seqs)[ROUNDS])
{
	co_skill_version_list l = {0};
	all_versions(ws, name, &l);
	char body[64];
	size_t checked = 0;
	for (int i = 0; i < N_THREADS; i++)
		for (int k = 0; k < ROUNDS; k++) {
			if (!seqs[i][k])
				continue;
			int64_t n = (int64_t)l.n;
			assert_true(seqs[i][k] >= 1 && seqs[i][k] <= n);
			const co_skill_version *v = &l.items[n - seqs[i][k]]; /* newest first */
			assert_int_equal(v->seq, seqs[i][k]);
			snprintf(body, sizeof body, "{\"t\":%d,\"k\":%d}", i, k);
			assert_string_equal(v->body_json, body);
			checked++;
		}
	assert_int_equal(checked, l.n);
	co_skill_version_list_clear(&l);
}

static void test_race_one_skill_exact_numbers(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	static struct race r;
	memset(&r, 0, sizeof r);
	r.ws = kit_mk_root("sk-race");
	r.ws2 = kit_mk_root("sk-race-far");
	r.hot = "hot";
	r.rounds = ROUNDS;
	/* the skills exist already: every append takes the update path */
	assert_int_equal(append_ok(&r.ws, "hot", "\"seed\""), 1);
	run_race(&r, append_thread, N_THREADS);
	for (int i = 0; i < N_THREADS; i++)
		for (int k = 0; k < ROUNDS; k++)
			if (r.rc[i][k])
				fail_msg("thread %d round %d: rc %d", i, k, r.rc[i][k]);
	/* hot: the seed's 1, then 2..257 */
	int64_t all[N_THREADS * ROUNDS];
	size_t n = 0;
	for (int i = 0; i < N_THREADS; i++)
		for (int k = 0; k < ROUNDS; k++)
			all[n++] = r.hot_seq[i][k];
	qsort(all, n, sizeof all[0], cmp_i64);
	for (size_t j = 0; j < n; j++)
		if (all[j] != (int64_t)j + 2)
			fail_msg("hot: sorted seq #%zu is %lld, expected %zu", j, (long long)all[j], j + 2);
	expect_versions_n_to_1(&r.ws, "hot", N_THREADS * ROUNDS + 1);

	assert_int_equal(expect_exactly_1_to_n(r.cold_seq, "cold"), N_THREADS / 2 * ROUNDS);
	expect_versions_n_to_1(&r.ws, "cold", N_THREADS / 2 * ROUNDS);
	expect_bodies_match(&r.ws, "cold", r.cold_seq);
	assert_int_equal(expect_exactly_1_to_n(r.far_seq, "far"), N_THREADS / 4 * ROUNDS);
	expect_versions_n_to_1(&r.ws2, "hot", N_THREADS / 4 * ROUNDS);
	expect_bodies_match(&r.ws2, "hot", r.far_seq);
	assert_int_equal(kit_rows_of("skill_versions", &r.ws),
			 N_THREADS * ROUNDS + 1 + N_THREADS / 2 * ROUNDS);
}

/* 32 first appends of a skill nobody has written yet: all race to create its row. */
static void test_race_new_skill(void **state)
{
	(void)state;
	static struct race r;
	memset(&r, 0, sizeof r);
	r.ws = kit_mk_root("sk-race-new");
	r.hot = "brand-new";
	r.rounds = 1;
	run_race(&r, append_thread, N_THREADS);
	for (int i = 0; i < N_THREADS; i++)
		if (r.rc[i][0])
			fail_msg("thread %d: rc %d", i, r.rc[i][0]);
	assert_int_equal(expect_exactly_1_to_n(r.hot_seq, "brand-new"), N_THREADS);
	expect_versions_n_to_1(&r.ws, "brand-new", N_THREADS);
	expect_bodies_match(&r.ws, "brand-new", r.hot_seq);
	assert_int_equal(expect_exactly_1_to_n(r.cold_seq, "cold"), N_THREADS / 2);
}

/* Appends racing the workspace's removal: each append either lands with the next number
 * or is refused as removed; what landed is exactly 1..k, and nothing lands after. */
static void *remove_thread(void *p)
{
	struct targ *t = p;
	pthread_barrier_wait(&t->r->go);
	co_ws_delete_opts o = {.confirm = true};
	co_id_list ids = {0};
	co_conflict c = {0};
	t->r->rc[t->i][0] = CALL(ws_delete, &t->r->ws, &o, &ids, &c);
	co_id_list_clear(&ids);
	co_conflict_clear(&c);
	return NULL;
}

static void *append_or_remove_thread(void *p)
{
	struct targ *t = p;
	return t->i == N_THREADS - 1 ? remove_thread(p) : append_thread(p);
}

static void test_race_with_removal(void **state)
{
	(void)state;
	static struct race r;
	memset(&r, 0, sizeof r);
	r.ws = kit_mk_root("sk-race-remove");
	r.hot = "h";
	r.rounds = ROUNDS;
	r.stop_on_removed = true;
	run_race(&r, append_or_remove_thread, N_THREADS);
	assert_int_equal(r.rc[N_THREADS - 1][0], CO_OK); /* the removal */
	r.hot_seq[N_THREADS - 1][0] = 0;
	for (int i = 0; i < N_THREADS - 1; i++)
		for (int k = 0; k < ROUNDS; k++) {
			if (r.rc[i][k] == CO_OK)
				continue;
			if (r.rc[i][k] != CO_ECONFLICT || r.kind[i][k] != CO_CONFLICT_REMOVED)
				fail_msg("thread %d round %d: rc %d kind %d", i, k, r.rc[i][k], r.kind[i][k]);
			break; /* it stopped there */
		}
	int64_t n = expect_exactly_1_to_n(r.hot_seq, "h");
	if (n > 0)
		expect_versions_n_to_1(&r.ws, "h", n);
	assert_int_equal(kit_rows_of("skill_versions", &r.ws), n);
	/* nothing can land now */
	co_skill_version v = {0};
	co_conflict c = {0};
	assert_int_equal(CALL(skill_append, &r.ws, "h", "1", &v, &c), CO_ECONFLICT);
	co_skill_version_clear(&v);
	co_conflict_clear(&c);
}

/* ---- the schema ------------------------------------------------------------------------------ */

static void test_unique_seq_refuses_duplicate(void **state)
{
	(void)state;
	co_id ws = kit_mk_root("sk-unique");
	append_ok(&ws, "u", "1");
	append_ok(&ws, "u", "2");
	char sql[256];
	snprintf(sql, sizeof sql,
		 "INSERT INTO skill_versions (workspace_id, skill, seq, body, created_at) "
		 "VALUES ('%s', 'u', 2, '\"dup\"', 1)",
		 ws.s);
	assert_false(db_exec(sql)); /* a second version 2: refused by the database */
	snprintf(sql, sizeof sql,
		 "INSERT INTO skill_versions (workspace_id, skill, seq, body, created_at) "
		 "VALUES ('%s', 'u', 0, '\"zero\"', 1)",
		 ws.s);
	assert_false(db_exec(sql)); /* seq 0: refused */
	snprintf(sql, sizeof sql,
		 "INSERT INTO skill_versions (workspace_id, skill, seq, body, created_at) "
		 "VALUES ('%s', 'orphan', 1, '1', 1)",
		 ws.s);
	assert_false(db_exec(sql)); /* a version of no skill: refused */
	expect_versions_n_to_1(&ws, "u", 2);

	/* if the counter were ever out of step (a hand-edited row), the append fails loudly —
	 * no duplicate, no silent renumbering — and the skill is left as it was */
	snprintf(sql, sizeof sql, "UPDATE skills SET latest_seq = 1 WHERE workspace_id = '%s'", ws.s);
	assert_true(db_exec(sql));
	co_skill_version v = {0};
	co_conflict c = {0};
	int rc = CALL(skill_append, &ws, "u", "\"slipped\"", &v, &c);
	assert_int_not_equal(rc, CO_OK);
	assert_int_not_equal(rc, CO_ENOTFOUND);
	co_skill_version_clear(&v);
	co_conflict_clear(&c);
	co_skill_version_list l = {0};
	all_versions(&ws, "u", &l);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.items[0].body_json, "2");
	co_skill_version_list_clear(&l);
	snprintf(sql, sizeof sql, "UPDATE skills SET latest_seq = 2 WHERE workspace_id = '%s'", ws.s);
	assert_true(db_exec(sql));
	assert_int_equal(append_ok(&ws, "u", "3"), 3);
}

static void test_purge_deletes_skills(void **state)
{
	(void)state;
	co_id ws = kit_mk_root("sk-purge");
	co_id child;
	{
		co_workspace in = {0}, out = {0};
		in.name = "sk-purge-child";
		in.has_parent = true;
		in.parent_id = ws;
		co_conflict cc = {0};
		assert_int_equal(CALL(ws_create, &in, &out, &cc), CO_OK);
		child = out.id;
		co_workspace_clear(&out);
		co_conflict_clear(&cc);
	}
	append_ok(&ws, "a", "1");
	append_ok(&ws, "a", "2");
	append_ok(&ws, "b", "1");
	append_ok(&child, "a", "1");
	/* purge a live subtree in one go */
	co_ws_delete_opts o = {.confirm = true, .purge = true};
	co_id_list ids = {0};
	co_conflict c = {0};
	int rc = CALL(ws_delete, &ws, &o, &ids, &c);
	if (rc)
		fail_msg("purge: %d %s", rc, co_err_msg());
	assert_int_equal(ids.n, 2);
	co_id_list_clear(&ids);
	co_conflict_clear(&c);
	assert_int_equal(kit_rows_of("skills", &ws), 0);
	assert_int_equal(kit_rows_of("skill_versions", &ws), 0);
	assert_int_equal(kit_rows_of("skills", &child), 0);
	assert_int_equal(kit_rows_of("skill_versions", &child), 0);
	co_skill_filter f = {.limit = 10};
	co_skill_list l = {0};
	assert_int_equal(CALL(skill_list, &ws, &f, &l), CO_ENOTFOUND);
	co_skill_list_clear(&l);

	/* and a removed one with skills purges too */
	co_id ws2 = kit_mk_root("sk-purge-2");
	append_ok(&ws2, "a", "1");
	kit_rm_ws(&ws2);
	o = (co_ws_delete_opts){.purge = true};
	assert_int_equal(CALL(ws_delete, &ws2, &o, &ids, &c), CO_OK);
	co_id_list_clear(&ids);
	co_conflict_clear(&c);
	assert_int_equal(kit_rows_of("skill_versions", &ws2), 0);
}

/* ---- errors propagate (seed 003) ------------------------------------------------------------ */

static void install_sabotage(void)
{
	bool ok;
	if (is_sqlite)
		ok = db_exec("CREATE TRIGGER skill_sabotage BEFORE INSERT ON skill_versions "
			     "WHEN NEW.skill = 'doomed' BEGIN SELECT RAISE(ABORT, 'sabotaged'); END");
	else
		ok = db_exec("CREATE FUNCTION skill_sabotage() RETURNS trigger LANGUAGE plpgsql AS "
			     "$$ BEGIN RAISE EXCEPTION 'sabotaged'; END $$; "
			     "CREATE TRIGGER skill_sabotage BEFORE INSERT ON skill_versions FOR EACH ROW "
			     "WHEN (NEW.skill = 'doomed') EXECUTE FUNCTION skill_sabotage()");
	assert_true(ok);
}

static void remove_sabotage(void)
{
	assert_true(db_exec(is_sqlite ? "DROP TRIGGER skill_sabotage"
				      : "DROP TRIGGER skill_sabotage ON skill_versions; "
					"DROP FUNCTION skill_sabotage()"));
}

static void test_errors_propagate(void **state)
{
	(void)state;
	co_id ws = kit_mk_root("sk-errors");
	assert_int_equal(append_ok(&ws, "doomed", "1"), 1);
	assert_int_equal(append_ok(&ws, "doomed", "2"), 2);

	/* a failing insert fails the append as a whole: the counter does not move */
	install_sabotage();
	for (int k = 0; k < 3; k++) {
		co_skill_version v = {0};
		co_conflict c = {0};
		int rc = CALL(skill_append, &ws, "doomed", "3", &v, &c);
		assert_int_not_equal(rc, CO_OK);
		assert_int_not_equal(rc, CO_ENOTFOUND);
		assert_int_equal(c.kind, CO_CONFLICT_NONE);
		co_skill_version_clear(&v);
		co_conflict_clear(&c);
	}
	assert_int_equal(append_ok(&ws, "spared", "1"), 1); /* other skills unaffected */
	assert_int_equal(listed_latest(&ws, "doomed"), 2);
	remove_sabotage();
	assert_int_equal(append_ok(&ws, "doomed", "3"), 3); /* no gap */

	/* the versions table gone: every call fails with a storage error — an append is
	 * never numbered 0 or 1, a read never says "not found" */
	assert_true(db_exec("ALTER TABLE skill_versions RENAME TO skill_versions_away"));
	usleep(5000); /* SQLite readers see another connection's commit within 2 ms */
	co_skill_version v = {0};
	co_conflict c = {0};
	int rc = CALL(skill_append, &ws, "doomed", "4", &v, &c);
	assert_int_not_equal(rc, CO_OK);
	assert_int_not_equal(rc, CO_ENOTFOUND);
	assert_int_equal(v.seq, 0);
	co_skill_version_clear(&v);
	co_conflict_clear(&c);
	rc = CALL(skill_append, &ws, "fresh", "1", &v, &c);
	assert_int_not_equal(rc, CO_OK);
	co_skill_version_clear(&v);
	co_conflict_clear(&c);
	rc = CALL(skill_get, &ws, "doomed", 1, &v);
	assert_int_not_equal(rc, CO_OK);
	assert_int_not_equal(rc, CO_ENOTFOUND);
	co_skill_version_clear(&v);
	co_skill_page p = {.limit = 10};
	co_skill_version_list l = {0};
	rc = CALL(skill_versions, &ws, "doomed", &p, &l);
	assert_int_not_equal(rc, CO_OK);
	assert_int_not_equal(rc, CO_ENOTFOUND);
	co_skill_version_list_clear(&l);
	assert_true(db_exec("ALTER TABLE skill_versions_away RENAME TO skill_versions"));
	usleep(5000);

	/* back: the failed appends left nothing behind */
	assert_int_equal(append_ok(&ws, "doomed", "4"), 4);
	assert_int_equal(append_ok(&ws, "fresh", "1"), 1);
	expect_versions_n_to_1(&ws, "doomed", 4);
}

int main(int argc, char **argv)
{
	int rc = store_kit_args(argc, argv);
	if (rc >= 0)
		return rc;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_numbering_shape_get, kit_reset_clock),
		cmocka_unit_test_teardown(test_versions_newest_first_paged, kit_reset_clock),
		cmocka_unit_test_teardown(test_skill_list, kit_reset_clock),
		cmocka_unit_test_teardown(test_absent_and_removed_workspace, kit_reset_clock),
		cmocka_unit_test_teardown(test_race_one_skill_exact_numbers, kit_reset_clock),
		cmocka_unit_test_teardown(test_race_new_skill, kit_reset_clock),
		cmocka_unit_test_teardown(test_race_with_removal, kit_reset_clock),
		cmocka_unit_test_teardown(test_unique_seq_refuses_duplicate, kit_reset_clock),
		cmocka_unit_test_teardown(test_purge_deletes_skills, kit_reset_clock),
		cmocka_unit_test_teardown(test_errors_propagate, kit_reset_clock),
	};
	return cmocka_run_group_tests(tests, store_kit_setup, store_kit_teardown);
}
