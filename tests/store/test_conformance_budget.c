/*
 * test_conformance_budget.c — the storage contract (src/store/store.h usage_add,
 * budget_get, budget_patch, and inbox_enqueue's budget rule) for usage and rolling
 * budgets (SPEC §7, core/budget.h), run against a backend.
 *
 * Usage: test_store_budget [--postgres | URL]. Without an argument it runs against a
 * fresh SQLite file in a temp directory; --postgres makes a fresh database on the test
 * server named by COLONY_TEST_PG (exit 77, "skipped", if unset). Every backend passes
 * this file. Tests call the store interface directly (no HTTP), use real threads for the
 * concurrency claims (per-thread slots in the threads, asserts only after join), and move
 * the clock with co_clock_set_override() instead of sleeping: every test pins it. Rows
 * are counted in the database itself (sqlite3 on the file, libpq on PostgreSQL) to show
 * what pruning and purging leave. All tests share one store, so each names its own
 * workspaces.
 *
 * The first test checks the core half the stores rely on (parsing, rounding to
 * micro-units, the exceeded rule, the JSON number format); the rest are the store's.
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

#define SEC 1000000LL
#define MINUTE (60 * SEC)
#define HOUR (3600 * SEC)
#define DAY (24 * HOUR)
#define WINDOW CO_BUDGET_WINDOW_US
#define T0 1893456000000000LL /* 2030-01-01T00:00:00Z */

/* ---- helpers ------------------------------------------------------------------------ */

static co_usage usage(int64_t s_us, int64_t in, int64_t out, int64_t cost)
{
	return (co_usage){.seconds_us = s_us, .input_tokens = in, .output_tokens = out,
			  .cost_micro_usd = cost};
}

static void add(const co_id *ws, co_usage u)
{
	co_conflict c = {0};
	int rc = CALL(usage_add, ws, &u, &c);
	if (rc)
		fail_msg("usage_add %s: %d %s", ws->s, rc, co_err_msg());
	co_conflict_clear(&c);
}

static co_budget get(const co_id *ws)
{
	co_budget b;
	int rc = CALL(budget_get, ws, &b);
	if (rc)
		fail_msg("budget_get %s: %d %s", ws->s, rc, co_err_msg());
	return b;
}

static void expect_used(const co_budget *b, int64_t s_us, int64_t in, int64_t out, int64_t cost)
{
	if (b->used.seconds_us != s_us || b->used.input_tokens != in || b->used.output_tokens != out ||
	    b->used.cost_micro_usd != cost)
		fail_msg("used {%lld, %lld, %lld, %lld}, expected {%lld, %lld, %lld, %lld}",
			 (long long)b->used.seconds_us, (long long)b->used.input_tokens,
			 (long long)b->used.output_tokens, (long long)b->used.cost_micro_usd,
			 (long long)s_us, (long long)in, (long long)out, (long long)cost);
}

/* A patch of `fields`; those in `set` take the values of lim, the others are cleared. */
static co_budget_patch mk_patch(unsigned fields, unsigned set, co_usage lim)
{
	co_budget_patch p = {.fields = fields};
	p.v.set = set;
	p.v.limit = lim;
	return p;
}

static co_budget patch(const co_id *ws, co_budget_patch p)
{
	co_budget b;
	co_conflict c = {0};
	int rc = CALL(budget_patch, ws, &p, &b, &c);
	if (rc)
		fail_msg("budget_patch %s: %d %s", ws->s, rc, co_err_msg());
	co_conflict_clear(&c);
	return b;
}

static const char *const tables[] = {"usage_events", "budget_limits"};

static long long events_in_db(const co_id *ws) { return kit_rows_of(tables[0], ws); }

static int enqueue(const co_id *ws, const char *key, co_inbox_msg *out, bool *created,
		   co_conflict *c)
{
	co_inbox_msg in = {0};
	in.body_json = (char *)"\"work\"";
	in.idempotency_key = (char *)key;
	in.max_attempts = 5;
	in.source = CO_INBOX_SRC_API;
	in.status = CO_INBOX_QUEUED;
	return CALL(inbox_enqueue, ws, &in, out, created, c); /* `in` owns nothing */
}

static size_t inbox_count(const co_id *ws)
{
	co_inbox_filter f = {.limit = 1000};
	co_inbox_list l = {0};
	assert_int_equal(CALL(inbox_list, ws, &f, &l), CO_OK);
	size_t n = l.n;
	co_inbox_list_clear(&l);
	return n;
}

/* ---- 0. the core half: parse, round, exceed, JSON ------------------------------------ */

static int parse_usage_text(const char *text, co_usage *u)
{
	json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
	if (!j)
		fail_msg("test JSON %s does not parse", text);
	int rc = co_usage_parse(j, u);
	json_decref(j);
	return rc;
}

static void expect_usage_refused(const char *text, const char *field)
{
	co_usage u;
	if (parse_usage_text(text, &u) != CO_EINVAL)
		fail_msg("%s was accepted", text);
	if (field && !strstr(co_err_msg(), field))
		fail_msg("%s: message \"%s\" does not name %s", text, co_err_msg(), field);
}

static void expect_json(const co_budget *b, const char *want)
{
	co_buf out;
	co_buf_init(&out);
	co_budget_to_json(b, &out);
	assert_true(co_buf_ok(&out));
	if (strcmp(out.data, want))
		fail_msg("JSON\n  %s\nexpected\n  %s", out.data, want);
	co_buf_free(&out);
}

static void test_core_rules(void **state)
{
	(void)state;
	co_usage u;
	assert_int_equal(parse_usage_text("{\"seconds\":1.5,\"input_tokens\":100,\"output_tokens\":0,"
					  "\"cost_usd\":0.1,\"other\":\"ignored\"}",
					  &u),
			 CO_OK);
	assert_true(u.seconds_us == 1500000 && u.input_tokens == 100 && u.output_tokens == 0 &&
		    u.cost_micro_usd == 100000);
	assert_int_equal(parse_usage_text("{\"cost_usd\":0.29}", &u), CO_OK);
	assert_true(u.cost_micro_usd == 290000 && u.seconds_us == 0);
	assert_int_equal(parse_usage_text("{\"seconds\":31536000,\"cost_usd\":1000000000,"
					  "\"input_tokens\":1000000000000}",
					  &u),
			 CO_OK); /* the caps themselves are allowed */
	assert_true(u.seconds_us == 31536000LL * SEC && u.cost_micro_usd == 1000000000LL * SEC &&
		    u.input_tokens == 1000000000000LL);
	assert_int_equal(parse_usage_text("{\"cost_usd\":0.0000005}", &u), CO_OK); /* rounds up */
	assert_true(u.cost_micro_usd == 1);
	/* below half a unit: still one unit, never nothing (20 of them must reach a limit) */
	assert_int_equal(parse_usage_text("{\"cost_usd\":0.00000049,\"seconds\":1e-320}", &u), CO_OK);
	assert_true(u.cost_micro_usd == 1 && u.seconds_us == 1);
	assert_int_equal(parse_usage_text("{\"cost_usd\":0,\"seconds\":0.0}", &u), CO_OK);
	assert_true(u.cost_micro_usd == 0 && u.seconds_us == 0);

	expect_usage_refused("{}", "at least one");
	expect_usage_refused("{\"other\":1}", "at least one");
	expect_usage_refused("[]", NULL);
	expect_usage_refused("\"x\"", NULL);
	expect_usage_refused("{\"seconds\":-1}", "seconds");
	expect_usage_refused("{\"seconds\":-0.000001}", "seconds");
	expect_usage_refused("{\"seconds\":31536000.5}", "seconds");
	expect_usage_refused("{\"seconds\":1e300}", "seconds");
	expect_usage_refused("{\"seconds\":\"1\"}", "seconds");
	expect_usage_refused("{\"seconds\":null}", "seconds");
	expect_usage_refused("{\"seconds\":true}", "seconds");
	expect_usage_refused("{\"input_tokens\":1.5}", "input_tokens");
	expect_usage_refused("{\"input_tokens\":1.0}", "input_tokens");
	expect_usage_refused("{\"input_tokens\":1e3}", "input_tokens");
	expect_usage_refused("{\"output_tokens\":-1}", "output_tokens");
	expect_usage_refused("{\"output_tokens\":1000000000001}", "output_tokens");
	expect_usage_refused("{\"cost_usd\":1000000000.01}", "cost_usd");
	expect_usage_refused("{\"cost_usd\":1e300}", "cost_usd");
	expect_usage_refused("{\"cost_usd\":[1]}", "cost_usd");
	expect_usage_refused("{\"seconds\":1,\"cost_usd\":-5}", "cost_usd"); /* all or nothing */

	/* Patches: absent leaves, null clears, numbers set; same rules as usage. */
	json_t *j = json_loads("{\"limits\":{\"seconds\":3600,\"cost_usd\":null}}", 0, NULL);
	co_budget_patch p;
	assert_int_equal(co_budget_parse_patch(j, &p), CO_OK);
	json_decref(j);
	assert_int_equal(p.fields, CO_LIMIT_SECONDS | CO_LIMIT_COST);
	assert_int_equal(p.v.set, CO_LIMIT_SECONDS);
	assert_true(p.v.limit.seconds_us == 3600 * SEC);
	const char *bad[] = {"{}", "{\"limits\":null}", "{\"limits\":[]}", "{\"limits\":{}}",
			     "{\"limits\":{\"cost\":1}}", "{\"limits\":{\"seconds\":-1}}",
			     "{\"limits\":{\"input_tokens\":2.5}}", "{\"limits\":{\"cost_usd\":\"1\"}}",
			     "{\"limits\":{\"cost_usd\":1e300}}", "[]"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		j = json_loads(bad[i], 0, NULL);
		assert_non_null(j);
		if (co_budget_parse_patch(j, &p) != CO_EINVAL)
			fail_msg("patch %s was accepted", bad[i]);
		json_decref(j);
	}

	co_budget_limits l = {0};
	co_budget_apply_patch(&l, &(co_budget_patch){.fields = CO_LIMIT_COST | CO_LIMIT_SECONDS,
						    .v = {.set = CO_LIMIT_COST | CO_LIMIT_SECONDS,
							  .limit = usage(5, 0, 0, 7)}});
	co_budget_apply_patch(&l, &(co_budget_patch){.fields = CO_LIMIT_SECONDS | CO_LIMIT_INPUT_TOKENS,
						    .v = {.set = CO_LIMIT_INPUT_TOKENS,
							  .limit = usage(0, 9, 0, 0)}});
	assert_int_equal(l.set, CO_LIMIT_COST | CO_LIMIT_INPUT_TOKENS);
	assert_true(l.limit.cost_micro_usd == 7 && l.limit.input_tokens == 9 && l.limit.seconds_us == 0);

	/* Exceeded: any set limit reached, used >= limit. */
	co_usage used = usage(10, 10, 10, 10);
	assert_false(co_budget_exceeded(&used, &(co_budget_limits){0}));
	assert_false(co_budget_exceeded(&used, &(co_budget_limits){CO_LIMIT_COST, usage(0, 0, 0, 11)}));
	assert_true(co_budget_exceeded(&used, &(co_budget_limits){CO_LIMIT_COST, usage(0, 0, 0, 10)}));
	assert_true(co_budget_exceeded(&used, &(co_budget_limits){CO_LIMIT_COST | CO_LIMIT_OUTPUT_TOKENS,
								  usage(0, 0, 9, 100)}));
	assert_false(co_budget_exceeded(&used, &(co_budget_limits){CO_LIMIT_SECONDS, usage(11, 0, 0, 0)}));

	/* The JSON number format (core/budget.c note 3). */
	co_budget b = {.used = usage(1500000, 12, 0, 300000)};
	expect_json(&b, "{\"window_days\":7,\"seconds_used\":1.5,\"input_tokens\":12,\"output_tokens\":0,"
			"\"cost_usd\":0.3,\"limits\":{},\"exceeded\":false}");
	b = (co_budget){.used = usage(1, 0, 0, 2000000),
			.limits = {CO_LIMIT_SECONDS | CO_LIMIT_COST | CO_LIMIT_OUTPUT_TOKENS,
				   usage(0, 0, 5, 123456789012345)},
			.exceeded = true};
	expect_json(&b, "{\"window_days\":7,\"seconds_used\":0.000001,\"input_tokens\":0,"
			"\"output_tokens\":0,\"cost_usd\":2.0,\"limits\":{\"seconds\":0.0,"
			"\"output_tokens\":5,\"cost_usd\":123456789.012345},\"exceeded\":true}");
}

/* ---- 1. adds and reads ---------------------------------------------------------------- */

static void test_add_and_get(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id ws = kit_mk_root("budget-basic");
	co_budget b = get(&ws);
	expect_used(&b, 0, 0, 0, 0);
	assert_int_equal(b.limits.set, 0);
	assert_false(b.exceeded);
	for (int i = 0; i < 3; i++)
		add(&ws, usage(1500000, 100, 50, 100000));
	add(&ws, usage(0, 0, 0, 1)); /* one micro-dollar */
	b = get(&ws);
	expect_used(&b, 4500000, 300, 150, 300001);
	assert_int_equal(b.limits.set, 0);
	assert_false(b.exceeded);

	/* The store refuses a negative amount itself, before any SQL: nothing is written. */
	co_usage neg = usage(-1, 0, 0, 0);
	co_conflict c = {0};
	assert_int_equal(CALL(usage_add, &ws, &neg, &c), CO_EINVAL);
	neg = usage(0, 0, 0, -5);
	assert_int_equal(CALL(usage_add, &ws, &neg, &c), CO_EINVAL);
	b = get(&ws);
	expect_used(&b, 4500000, 300, 150, 300001);
	assert_int_equal(events_in_db(&ws), 4);
	kit_rm_ws(&ws);
}

static void test_absent_and_removed(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id absent = kit_absent_id();
	co_usage u = usage(SEC, 1, 1, 1);
	co_conflict c = {0};
	co_budget b;
	co_budget_patch p = mk_patch(CO_LIMIT_COST, CO_LIMIT_COST, usage(0, 0, 0, 5));
	assert_int_equal(CALL(usage_add, &absent, &u, &c), CO_ENOTFOUND);
	assert_int_equal(CALL(budget_get, &absent, &b), CO_ENOTFOUND);
	assert_int_equal(CALL(budget_patch, &absent, &p, &b, &c), CO_ENOTFOUND);

	co_id ws = kit_mk_root("budget-removed");
	add(&ws, u);
	patch(&ws, p);
	kit_rm_ws(&ws);
	c = (co_conflict){0};
	assert_int_equal(CALL(usage_add, &ws, &u, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_REMOVED);
	c = (co_conflict){0};
	assert_int_equal(CALL(budget_patch, &ws, &p, &b, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_REMOVED);
	/* A removed workspace's budget is still readable, unchanged. */
	b = get(&ws);
	expect_used(&b, SEC, 1, 1, 1);
	assert_int_equal(b.limits.set, CO_LIMIT_COST);
	assert_int_equal(events_in_db(&ws), 1);
}

/* ---- 2. the rolling window -------------------------------------------------------------- */

static void test_window_edges(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id ws = kit_mk_root("budget-window");
	add(&ws, usage(SEC, 1, 0, 0));
	co_clock_set_override(T0 + HOUR);
	add(&ws, usage(2 * SEC, 0, 1, 0));

	co_clock_set_override(T0 + 6 * DAY + 23 * HOUR + 59 * MINUTE); /* 6d23h59m old: in */
	co_budget b = get(&ws);
	expect_used(&b, 3 * SEC, 1, 1, 0);
	co_clock_set_override(T0 + WINDOW - 1); /* 6d23h59m59.999999s old: in */
	b = get(&ws);
	expect_used(&b, 3 * SEC, 1, 1, 0);
	co_clock_set_override(T0 + WINDOW); /* exactly 7 days old: out */
	b = get(&ws);
	expect_used(&b, 2 * SEC, 0, 1, 0);
	co_clock_set_override(T0 + HOUR + WINDOW - 1);
	b = get(&ws);
	expect_used(&b, 2 * SEC, 0, 1, 0);
	co_clock_set_override(T0 + HOUR + WINDOW);
	b = get(&ws);
	expect_used(&b, 0, 0, 0, 0);
	kit_rm_ws(&ws);
}

static void test_pruning_in_the_add(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id p = kit_mk_root("budget-prune");
	co_id q = kit_mk_root("budget-prune-other");
	for (int i = 0; i < 5; i++)
		add(&p, usage(SEC, 1, 1, 1));
	add(&q, usage(SEC, 1, 1, 1));
	add(&q, usage(SEC, 1, 1, 1));
	assert_int_equal(events_in_db(&p), 5);

	/* A read never prunes; an add one µs too early prunes nothing. */
	co_clock_set_override(T0 + WINDOW - 1);
	add(&p, usage(0, 10, 0, 0));
	assert_int_equal(events_in_db(&p), 6);
	co_clock_set_override(T0 + WINDOW);
	co_budget b = get(&p);
	expect_used(&b, 0, 10, 0, 0);
	assert_int_equal(events_in_db(&p), 6);

	/* The add at T0 + 7d prunes the five events of T0 (at <= now − window) and only the
	 * workspace's own: q keeps its old rows until an add of its own. */
	add(&p, usage(0, 20, 0, 0));
	assert_int_equal(events_in_db(&p), 2);
	b = get(&p);
	expect_used(&b, 0, 30, 0, 0);
	assert_int_equal(events_in_db(&q), 2);

	/* An add that fails prunes nothing (one transaction). */
	kit_rm_ws(&q);
	co_usage u = usage(SEC, 0, 0, 0);
	co_conflict c = {0};
	assert_int_equal(CALL(usage_add, &q, &u, &c), CO_ECONFLICT);
	assert_int_equal(events_in_db(&q), 2);
	kit_rm_ws(&p);
}

/* Writes an event row straight into the database (amounts no API would accept in one
 * event), as another writer of the file or database would. */
static void insert_raw_event(const co_id *ws, co_usec_t at, int64_t tokens)
{
	co_id id = kit_absent_id();
	char sql[400];
	if (is_sqlite) {
		snprintf(sql, sizeof sql,
			 "INSERT INTO usage_events (workspace_id, at, id, seconds_us, input_tokens, "
			 "output_tokens, cost_micro_usd) VALUES ('%s', %lld, '%s', %lld, %lld, 0, %lld)",
			 ws->s, (long long)at, id.s, (long long)tokens, (long long)tokens,
			 (long long)tokens);
		sqlite3 *db;
		assert_int_equal(sqlite3_open(url, &db), SQLITE_OK);
		sqlite3_busy_timeout(db, 10000);
		char *err = NULL;
		if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
			fail_msg("raw insert: %s", err ? err : "?");
		sqlite3_close(db);
	} else {
		snprintf(sql, sizeof sql,
			 "INSERT INTO usage_events (workspace_id, at, id, seconds_us, input_tokens, "
			 "output_tokens, cost_micro_usd) VALUES ('%s', %lld, '%s', %lld, %lld, 0, %lld)",
			 ws->s, (long long)at, id.s, (long long)tokens, (long long)tokens,
			 (long long)tokens);
		PGconn *c = PQconnectdb(url);
		assert_int_equal(PQstatus(c), CONNECTION_OK);
		PGresult *r = PQexec(c, sql);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			fail_msg("raw insert: %s", PQerrorMessage(c));
		PQclear(r);
		PQfinish(c);
	}
}

/* Totals past INT64_MAX (millions of events at the caps, or rows written by hand) are
 * answered saturated at INT64_MAX, never a storage error (a 500). */
static void test_sums_saturate(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id ws = kit_mk_root("budget-saturate");
	for (int i = 0; i < 3; i++)
		insert_raw_event(&ws, T0, 4000000000000000000LL);
	add(&ws, usage(0, 0, 1, 0)); /* and a commit through the store, so readers see them */
	co_budget b = get(&ws);
	expect_used(&b, INT64_MAX, INT64_MAX, 1, INT64_MAX);
	assert_false(b.exceeded);
	b = patch(&ws, mk_patch(CO_LIMIT_INPUT_TOKENS, CO_LIMIT_INPUT_TOKENS,
				usage(0, CO_USAGE_TOKENS_MAX, 0, 0)));
	assert_true(b.exceeded);
	co_buf out;
	co_buf_init(&out);
	co_budget_to_json(&b, &out);
	assert_non_null(strstr(out.data, "\"seconds_used\":9223372036854.775807,"));
	co_buf_free(&out);
	kit_rm_ws(&ws);
}

/* ---- 3. limits ---------------------------------------------------------------------------- */

static void expect_limits(const co_budget *b, unsigned set, int64_t s_us, int64_t in, int64_t out,
			  int64_t cost)
{
	if (b->limits.set != set)
		fail_msg("limits set %#x, expected %#x", b->limits.set, set);
	const co_usage *l = &b->limits.limit;
	if (((set & CO_LIMIT_SECONDS) && l->seconds_us != s_us) ||
	    ((set & CO_LIMIT_INPUT_TOKENS) && l->input_tokens != in) ||
	    ((set & CO_LIMIT_OUTPUT_TOKENS) && l->output_tokens != out) ||
	    ((set & CO_LIMIT_COST) && l->cost_micro_usd != cost))
		fail_msg("limits {%lld, %lld, %lld, %lld}", (long long)l->seconds_us,
			 (long long)l->input_tokens, (long long)l->output_tokens,
			 (long long)l->cost_micro_usd);
}

static void test_limits_patch_and_clear(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id ws = kit_mk_root("budget-limits");
	add(&ws, usage(10 * SEC, 5, 6, 700));
	co_budget b = patch(&ws, mk_patch(CO_LIMIT_SECONDS | CO_LIMIT_COST, CO_LIMIT_SECONDS | CO_LIMIT_COST,
					  usage(3600 * SEC, 0, 0, 2 * SEC)));
	expect_limits(&b, CO_LIMIT_SECONDS | CO_LIMIT_COST, 3600 * SEC, 0, 0, 2 * SEC);
	expect_used(&b, 10 * SEC, 5, 6, 700); /* the answer is the whole budget */
	assert_false(b.exceeded);
	b = get(&ws);
	expect_limits(&b, CO_LIMIT_SECONDS | CO_LIMIT_COST, 3600 * SEC, 0, 0, 2 * SEC);

	/* Naming one limit leaves the others alone. */
	b = patch(&ws, mk_patch(CO_LIMIT_INPUT_TOKENS, CO_LIMIT_INPUT_TOKENS, usage(0, 1000, 0, 0)));
	expect_limits(&b, CO_LIMIT_SECONDS | CO_LIMIT_COST | CO_LIMIT_INPUT_TOKENS, 3600 * SEC, 1000, 0,
		      2 * SEC);
	/* A named limit not in v.set is cleared (JSON null). */
	b = patch(&ws, mk_patch(CO_LIMIT_SECONDS, 0, usage(0, 0, 0, 0)));
	expect_limits(&b, CO_LIMIT_COST | CO_LIMIT_INPUT_TOKENS, 0, 1000, 0, 2 * SEC);
	b = get(&ws);
	expect_limits(&b, CO_LIMIT_COST | CO_LIMIT_INPUT_TOKENS, 0, 1000, 0, 2 * SEC);
	/* Changing a value; clearing what is already clear is fine. */
	b = patch(&ws, mk_patch(CO_LIMIT_COST | CO_LIMIT_OUTPUT_TOKENS, CO_LIMIT_COST,
				usage(0, 0, 0, 3 * SEC)));
	expect_limits(&b, CO_LIMIT_COST | CO_LIMIT_INPUT_TOKENS, 0, 1000, 0, 3 * SEC);
	/* Clearing all of them. */
	b = patch(&ws, mk_patch(CO_LIMIT_SECONDS | CO_LIMIT_INPUT_TOKENS | CO_LIMIT_OUTPUT_TOKENS |
					CO_LIMIT_COST,
				0, usage(0, 0, 0, 0)));
	expect_limits(&b, 0, 0, 0, 0, 0);
	b = get(&ws);
	expect_limits(&b, 0, 0, 0, 0, 0);
	assert_false(b.exceeded);
	kit_rm_ws(&ws);
}

static void test_exceeded_at_limit(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id ws = kit_mk_root("budget-exceeded");
	patch(&ws, mk_patch(CO_LIMIT_COST, CO_LIMIT_COST, usage(0, 0, 0, SEC))); /* $1 */
	add(&ws, usage(0, 0, 0, 999999));
	assert_false(get(&ws).exceeded);
	add(&ws, usage(0, 0, 0, 1)); /* used == limit: reached */
	co_budget b = get(&ws);
	expect_used(&b, 0, 0, 0, SEC);
	assert_true(b.exceeded);
	/* Raising the limit lifts it; the patch's answer says so at once. */
	b = patch(&ws, mk_patch(CO_LIMIT_COST, CO_LIMIT_COST, usage(0, 0, 0, SEC + 1)));
	assert_false(b.exceeded);
	/* Any one set limit is enough. */
	b = patch(&ws, mk_patch(CO_LIMIT_OUTPUT_TOKENS, CO_LIMIT_OUTPUT_TOKENS, usage(0, 0, 3, 0)));
	assert_false(b.exceeded);
	add(&ws, usage(0, 0, 3, 0));
	assert_true(get(&ws).exceeded);
	b = patch(&ws, mk_patch(CO_LIMIT_OUTPUT_TOKENS, 0, usage(0, 0, 0, 0)));
	assert_false(b.exceeded);
	/* Seconds and input tokens too. */
	b = patch(&ws, mk_patch(CO_LIMIT_SECONDS, CO_LIMIT_SECONDS, usage(2 * SEC, 0, 0, 0)));
	assert_false(b.exceeded);
	add(&ws, usage(2 * SEC, 0, 0, 0));
	assert_true(get(&ws).exceeded);
	b = patch(&ws, mk_patch(CO_LIMIT_SECONDS | CO_LIMIT_INPUT_TOKENS, CO_LIMIT_INPUT_TOKENS,
				usage(0, 1, 0, 0)));
	assert_false(b.exceeded);
	add(&ws, usage(0, 1, 0, 0));
	assert_true(get(&ws).exceeded);
	/* Once the usage leaves the window, it is not exceeded any more. */
	co_clock_set_override(T0 + WINDOW);
	assert_false(get(&ws).exceeded);
	/* A limit of 0: nothing may be spent, so it is reached at once. */
	co_id z = kit_mk_root("budget-zero");
	b = patch(&z, mk_patch(CO_LIMIT_COST, CO_LIMIT_COST, usage(0, 0, 0, 0)));
	assert_true(b.exceeded);
	kit_rm_ws(&ws);
	kit_rm_ws(&z);
}

/* ---- 4. the inbox refuses new work past the budget --------------------------------------- */

static void test_inbox_refused_when_exceeded(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id ws = kit_mk_root("budget-inbox");
	co_inbox_msg first = {0}, m = {0};
	bool created = false;
	co_conflict c = {0};
	assert_int_equal(enqueue(&ws, "k1", &first, &created, &c), CO_OK);
	assert_true(created);
	patch(&ws, mk_patch(CO_LIMIT_COST, CO_LIMIT_COST, usage(0, 0, 0, SEC)));
	assert_int_equal(enqueue(&ws, NULL, &m, &created, &c), CO_OK); /* under the limit */
	co_inbox_msg_clear(&m);
	add(&ws, usage(0, 0, 0, SEC));
	assert_int_equal(inbox_count(&ws), 2);

	/* Exceeded: a new message is refused, with or without a key; nothing is enqueued. */
	c = (co_conflict){0};
	assert_int_equal(enqueue(&ws, NULL, &m, &created, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_BUDGET);
	assert_non_null(strstr(co_err_msg(), "cost_usd"));
	co_inbox_msg_clear(&m);
	c = (co_conflict){0};
	assert_int_equal(enqueue(&ws, "k2", &m, &created, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_BUDGET);
	co_inbox_msg_clear(&m);
	assert_int_equal(inbox_count(&ws), 2);

	/* A repeat of a key already used still answers the first message. */
	c = (co_conflict){0};
	created = true;
	assert_int_equal(enqueue(&ws, "k1", &m, &created, &c), CO_OK);
	assert_false(created);
	assert_string_equal(m.id.s, first.id.s);
	co_inbox_msg_clear(&m);
	assert_int_equal(inbox_count(&ws), 2);

	/* When the usage leaves the window, work is taken again. */
	co_clock_set_override(T0 + WINDOW);
	assert_int_equal(enqueue(&ws, "k2", &m, &created, &c), CO_OK);
	assert_true(created);
	co_inbox_msg_clear(&m);
	assert_int_equal(inbox_count(&ws), 3);

	/* Raising or clearing the limit lifts the refusal at once, too. */
	add(&ws, usage(0, 0, 0, 5 * SEC));
	c = (co_conflict){0};
	assert_int_equal(enqueue(&ws, NULL, &m, &created, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_BUDGET);
	co_inbox_msg_clear(&m);
	patch(&ws, mk_patch(CO_LIMIT_COST, 0, usage(0, 0, 0, 0)));
	assert_int_equal(enqueue(&ws, NULL, &m, &created, &c), CO_OK);
	co_inbox_msg_clear(&m);
	assert_int_equal(inbox_count(&ws), 4);
	co_inbox_msg_clear(&first);
	kit_rm_ws(&ws);
}

/* ---- 5. concurrency ------------------------------------------------------------------------ */

#define N_THREADS 32
#define ADDS_PER_THREAD 25

struct targ {
	void *shared;
	int i;
};

static void run_threads(int n, void *(*fn)(void *), void *shared, pthread_barrier_t *go)
{
	pthread_t tid[N_THREADS];
	struct targ args[N_THREADS];
	assert_true(n <= N_THREADS);
	pthread_barrier_init(go, NULL, (unsigned)n);
	for (int i = 0; i < n; i++) {
		args[i] = (struct targ){shared, i};
		assert_int_equal(pthread_create(&tid[i], NULL, fn, &args[i]), 0);
	}
	for (int i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	pthread_barrier_destroy(go);
}

/* The add of thread t, round k: distinct amounts, so a lost or doubled add shows. */
static co_usage race_usage(int t, int k)
{
	return usage((int64_t)t * 1000003 + k * 17 + 1, (int64_t)t * 101 + k, (int64_t)t * 7 + 3 * k,
		     (int64_t)t * 999983 + k * 31 + 7);
}

struct add_race {
	pthread_barrier_t go;
	co_id ws;
	int ok[N_THREADS];                /* adds answered CO_OK */
	co_usage accepted[N_THREADS];     /* their sum */
	int bad_rc[N_THREADS];
	char msg[N_THREADS][CO_ERR_MSG_MAX];
};

static void *add_thread(void *p)
{
	struct targ *t = p;
	struct add_race *r = t->shared;
	pthread_barrier_wait(&r->go);
	for (int k = 0; k < ADDS_PER_THREAD; k++) {
		co_usage u = race_usage(t->i, k);
		co_conflict c = {0};
		int rc = CALL(usage_add, &r->ws, &u, &c);
		if (rc == CO_OK) {
			r->ok[t->i]++;
			r->accepted[t->i].seconds_us += u.seconds_us;
			r->accepted[t->i].input_tokens += u.input_tokens;
			r->accepted[t->i].output_tokens += u.output_tokens;
			r->accepted[t->i].cost_micro_usd += u.cost_micro_usd;
		} else if (!r->bad_rc[t->i]) {
			r->bad_rc[t->i] = rc;
			snprintf(r->msg[t->i], sizeof r->msg[t->i], "%s", co_err_msg());
		}
	}
	return NULL;
}

static void test_concurrent_adds_all_count(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	static struct add_race r;
	memset(&r, 0, sizeof r);
	r.ws = kit_mk_root("budget-race-adds");
	run_threads(N_THREADS, add_thread, &r, &r.go);
	co_usage want = {0};
	int ok = 0;
	for (int i = 0; i < N_THREADS; i++) {
		if (r.bad_rc[i])
			fail_msg("thread %d: usage_add %d %s", i, r.bad_rc[i], r.msg[i]);
		ok += r.ok[i];
		want.seconds_us += r.accepted[i].seconds_us;
		want.input_tokens += r.accepted[i].input_tokens;
		want.output_tokens += r.accepted[i].output_tokens;
		want.cost_micro_usd += r.accepted[i].cost_micro_usd;
	}
	assert_int_equal(ok, N_THREADS * ADDS_PER_THREAD);
	co_budget b = get(&r.ws);
	expect_used(&b, want.seconds_us, want.input_tokens, want.output_tokens, want.cost_micro_usd);
	assert_int_equal(events_in_db(&r.ws), N_THREADS * ADDS_PER_THREAD);
	kit_rm_ws(&r.ws);
}

/* Adds racing while each one prunes: half the threads add "old" events first (clock T0),
 * then all add at T0 + 7d at once, every add pruning the old rows in its transaction. */
static void test_concurrent_adds_while_pruning(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	static struct add_race r;
	memset(&r, 0, sizeof r);
	r.ws = kit_mk_root("budget-race-prune");
	for (int i = 0; i < 40; i++)
		add(&r.ws, usage(SEC, 1, 1, 1));
	co_clock_set_override(T0 + WINDOW);
	run_threads(N_THREADS, add_thread, &r, &r.go);
	co_usage want = {0};
	for (int i = 0; i < N_THREADS; i++) {
		if (r.bad_rc[i])
			fail_msg("thread %d: usage_add %d %s", i, r.bad_rc[i], r.msg[i]);
		want.seconds_us += r.accepted[i].seconds_us;
		want.input_tokens += r.accepted[i].input_tokens;
		want.output_tokens += r.accepted[i].output_tokens;
		want.cost_micro_usd += r.accepted[i].cost_micro_usd;
	}
	co_budget b = get(&r.ws);
	expect_used(&b, want.seconds_us, want.input_tokens, want.output_tokens, want.cost_micro_usd);
	assert_int_equal(events_in_db(&r.ws), N_THREADS * ADDS_PER_THREAD);
	kit_rm_ws(&r.ws);
}

/* Thread t patches only limit t % 4 to the round's value for it; with all four cleared
 * before each round, every round must end with all four set. */
#define PATCH_ROUNDS 12

struct patch_race {
	pthread_barrier_t go;
	co_id ws;
	int round;
	int bad_rc[N_THREADS];
	char msg[N_THREADS][CO_ERR_MSG_MAX];
};

static const unsigned bits[4] = {CO_LIMIT_SECONDS, CO_LIMIT_INPUT_TOKENS, CO_LIMIT_OUTPUT_TOKENS,
				 CO_LIMIT_COST};

static int64_t round_value(int round, int field) { return (int64_t)round * 1000 + field + 1; }

static void *patch_thread(void *p)
{
	struct targ *t = p;
	struct patch_race *r = t->shared;
	int f = t->i % 4;
	int64_t v = round_value(r->round, f);
	co_budget_patch pt = mk_patch(bits[f], bits[f], usage(v, v, v, v));
	pthread_barrier_wait(&r->go);
	co_budget b;
	co_conflict c = {0};
	int rc = CALL(budget_patch, &r->ws, &pt, &b, &c);
	if (rc) {
		r->bad_rc[t->i] = rc;
		snprintf(r->msg[t->i], sizeof r->msg[t->i], "%s", co_err_msg());
	}
	return NULL;
}

static void test_concurrent_patches_all_survive(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	static struct patch_race r;
	memset(&r, 0, sizeof r);
	r.ws = kit_mk_root("budget-race-patch");
	const unsigned all = CO_LIMIT_SECONDS | CO_LIMIT_INPUT_TOKENS | CO_LIMIT_OUTPUT_TOKENS |
			     CO_LIMIT_COST;
	for (int round = 1; round <= PATCH_ROUNDS; round++) {
		patch(&r.ws, mk_patch(all, 0, usage(0, 0, 0, 0)));
		r.round = round;
		/* The first round also races the creation of the limits row. */
		run_threads(round == 1 ? 4 : N_THREADS, patch_thread, &r, &r.go);
		for (int i = 0; i < N_THREADS; i++)
			if (r.bad_rc[i])
				fail_msg("round %d thread %d: budget_patch %d %s", round, i, r.bad_rc[i],
					 r.msg[i]);
		co_budget b = get(&r.ws);
		expect_limits(&b, all, round_value(round, 0), round_value(round, 1), round_value(round, 2),
			      round_value(round, 3));
	}
	assert_int_equal(kit_rows_of(tables[1], &r.ws), 1);
	kit_rm_ws(&r.ws);
}

/* ---- 6. purge -------------------------------------------------------------------------------- */

static void test_purge_removes_rows(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id top = kit_mk_root("budget-purge");
	co_workspace in = {0}, out = {0};
	in.name = (char *)"child";
	in.has_parent = true;
	in.parent_id = top;
	co_conflict c = {0};
	assert_int_equal(CALL(ws_create, &in, &out, &c), CO_OK);
	co_id child = out.id;
	co_workspace_clear(&out);
	for (int i = 0; i < 3; i++) {
		add(&top, usage(SEC, 1, 1, 1));
		add(&child, usage(SEC, 1, 1, 1));
	}
	patch(&top, mk_patch(CO_LIMIT_COST, CO_LIMIT_COST, usage(0, 0, 0, 9)));
	patch(&child, mk_patch(CO_LIMIT_SECONDS, CO_LIMIT_SECONDS, usage(9, 0, 0, 0)));

	/* Tombstoning first (rows stay), then purging the subtree (rows go). */
	kit_rm_ws(&top);
	assert_int_equal(events_in_db(&child), 3);
	co_ws_delete_opts o = {.confirm = true, .purge = true};
	co_id_list ids = {0};
	int rc = CALL(ws_delete, &top, &o, &ids, &c);
	if (rc)
		fail_msg("purge: %d %s", rc, co_err_msg());
	assert_int_equal(ids.n, 2);
	co_id_list_clear(&ids);
	co_conflict_clear(&c);
	co_budget b;
	assert_int_equal(CALL(budget_get, &top, &b), CO_ENOTFOUND);
	assert_int_equal(CALL(budget_get, &child, &b), CO_ENOTFOUND);
	for (int t = 0; t < 2; t++) {
		assert_int_equal(kit_rows_of(tables[t], &top), 0);
		assert_int_equal(kit_rows_of(tables[t], &child), 0);
	}

	/* A live workspace purged at once. */
	co_id ws = kit_mk_root("budget-purge-live");
	add(&ws, usage(SEC, 1, 1, 1));
	patch(&ws, mk_patch(CO_LIMIT_COST, CO_LIMIT_COST, usage(0, 0, 0, 9)));
	assert_int_equal(CALL(ws_delete, &ws, &o, &ids, &c), CO_OK);
	co_id_list_clear(&ids);
	assert_int_equal(kit_rows_of(tables[0], &ws), 0);
	assert_int_equal(kit_rows_of(tables[1], &ws), 0);
}

int main(int argc, char **argv)
{
	int rc = store_kit_args(argc, argv);
	if (rc >= 0)
		return rc;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_core_rules, kit_reset_clock),
		cmocka_unit_test_teardown(test_add_and_get, kit_reset_clock),
		cmocka_unit_test_teardown(test_absent_and_removed, kit_reset_clock),
		cmocka_unit_test_teardown(test_window_edges, kit_reset_clock),
		cmocka_unit_test_teardown(test_pruning_in_the_add, kit_reset_clock),
		cmocka_unit_test_teardown(test_sums_saturate, kit_reset_clock),
		cmocka_unit_test_teardown(test_limits_patch_and_clear, kit_reset_clock),
		cmocka_unit_test_teardown(test_exceeded_at_limit, kit_reset_clock),
		cmocka_unit_test_teardown(test_inbox_refused_when_exceeded, kit_reset_clock),
		cmocka_unit_test_teardown(test_concurrent_adds_all_count, kit_reset_clock),
		cmocka_unit_test_teardown(test_concurrent_adds_while_pruning, kit_reset_clock),
		cmocka_unit_test_teardown(test_concurrent_patches_all_survive, kit_reset_clock),
		cmocka_unit_test_teardown(test_purge_removes_rows, kit_reset_clock),
	};
	return cmocka_run_group_tests(tests, store_kit_setup, store_kit_teardown);
}
