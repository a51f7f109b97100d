/*
 * test_http_budget.c — SPEC §7 usage and rolling budgets over HTTP against a real colonyd
 * (--no-scheduler), its clock moved by the test (--test-clock-file, rewritten atomically):
 *  - shape: GET /workspaces/:id/budget → {window_days:7, seconds_used, input_tokens,
 *    output_tokens, cost_usd, limits:{…set ones only}, exceeded}; seconds and dollars are
 *    exact decimals that are always JSON reals (0.0, 1.5, 0.3 after three adds of 0.1);
 *    POST …/usage → 201 echoing the event as recorded;
 *  - validation: NaN, Infinity, 1e999 are not JSON (400 invalid_json); negative, too
 *    large, 1e300, float or string tokens, strings, null, {}, [] → 400 invalid naming the
 *    field; after all of them the budget is byte-for-byte what it was;
 *  - 32 clients POSTing usage at once → the totals are the exact sums of the 201s;
 *  - PATCH …/budget {limits:{…}}: set, keep the unnamed, null clears, bad bodies 400;
 *    concurrent PATCHes of different limits all survive;
 *  - the inbox past the budget: 402 budget_exceeded (a repeated idempotency key still
 *    answers 200 with its first message, nothing new is enqueued); when the clock moves
 *    past the window, 201 again;
 *  - 404 for an absent workspace, 400 for a malformed id, 409 workspace_removed for writes
 *    to a removed workspace (its budget still reads 200);
 *  - no 5xx in the server's request log, and a clean exit (sanitizers included).
 */
#include "harness.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ABSENT_ID "01890000-0000-7000-8000-000000000000" /* well-formed, never made */
#define SEC_US 1000000LL
#define DAY_US (86400 * SEC_US)
#define WINDOW_US (7 * DAY_US)
#define T0 1893924000000000LL /* 2030-01-07T00:00:00Z */

static th_server srv;
static th_client *cl;
static char clock_dir[64];
static char clock_path[128];
static const char *sargs[4];

/* ---- the test clock ------------------------------------------------------------------- */

/* Sets colonyd's "now" through the clock file: a temp file renamed over it. */
static void set_clock(long long us)
{
	char tmp[160];
	snprintf(tmp, sizeof tmp, "%s.tmp", clock_path);
	FILE *f = fopen(tmp, "w");
	bool ok = f && fprintf(f, "%lld\n", us) > 0;
	if (f)
		ok &= fclose(f) == 0;
	if (!ok || rename(tmp, clock_path) != 0)
		fail_msg("cannot write the clock file %s: %s", clock_path, strerror(errno));
}

/* Lines of the server's request log answering 5xx: a client's input never causes one. */
static int count_5xx(const th_server *s)
{
	char path[300];
	snprintf(path, sizeof path, "%s/colonyd.log", s->dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char line[8192];
	int n = 0;
	while (fgets(line, sizeof line, f))
		if (strstr(line, "\"status\":5")) {
			fprintf(stderr, "5xx in the request log: %s", line);
			n++;
		}
	fclose(f);
	return n;
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(clock_dir, sizeof clock_dir, "/tmp/colony-clock-XXXXXX");
	if (!mkdtemp(clock_dir))
		return -1;
	snprintf(clock_path, sizeof clock_path, "%s/now", clock_dir);
	sargs[0] = "--no-scheduler";
	sargs[1] = "--test-clock-file";
	sargs[2] = clock_path;
	sargs[3] = NULL;
	set_clock(T0);
	th_server_start(&srv, sargs);
	cl = th_client_new(&srv);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	th_client_free(cl);
	int bad = count_5xx(&srv);
	int rc = th_server_stop(&srv);
	char tmp[160];
	snprintf(tmp, sizeof tmp, "%s.tmp", clock_path);
	unlink(tmp);
	unlink(clock_path);
	rmdir(clock_dir);
	if (bad)
		fprintf(stderr, "%d answers were 5xx\n", bad);
	return bad == 0 && rc == 0 ? 0 : -1;
}

/* ---- helpers ---------------------------------------------------------------------------- */

static void path_of(char *out, size_t n, const char *w, const char *what)
{
	snprintf(out, n, "/workspaces/%s/%s", w, what);
}

/* The raw text of number member `field` in a JSON body: what the server wrote, before any
 * parser rounds it. Returns "" if absent. The first occurrence at any depth. */
static const char *raw_number(const char *body, const char *field, char out[64])
{
	char key[64];
	snprintf(key, sizeof key, "\"%s\":", field);
	const char *p = strstr(body, key);
	out[0] = 0;
	if (!p)
		return out;
	p += strlen(key);
	size_t n = strcspn(p, ",}");
	if (n >= 63)
		n = 63;
	memcpy(out, p, n);
	out[n] = 0;
	return out;
}

/* n micro-units in the contract's form: exact, 1..6 fraction digits. */
static const char *fmt_micro(long long n, char out[64])
{
	int len = snprintf(out, 64, "%lld.%06lld", n / SEC_US, n % SEC_US);
	while (len > 2 && out[len - 1] == '0' && out[len - 2] != '.')
		out[--len] = 0;
	return out;
}

/* GET the budget; asserts 200 and the shape; returns the response (free it). */
static th_resp get_budget_c(th_client *c, const char *w)
{
	char path[128];
	path_of(path, sizeof path, w, "budget");
	th_resp r = th_req(c, "GET", path, NULL, NULL);
	if (r.status != 200 || !json_is_object(r.json))
		fail_msg("GET %s: %ld %s", path, r.status, r.body);
	json_t *j = r.json;
	assert_true(json_is_integer(json_object_get(j, "window_days")));
	assert_int_equal(th_jint(j, "window_days"), 7);
	assert_true(json_is_real(json_object_get(j, "seconds_used")));
	assert_true(json_is_real(json_object_get(j, "cost_usd")));
	assert_true(json_is_integer(json_object_get(j, "input_tokens")));
	assert_true(json_is_integer(json_object_get(j, "output_tokens")));
	assert_true(json_is_object(json_object_get(j, "limits")));
	assert_true(json_is_boolean(json_object_get(j, "exceeded")));
	return r;
}

static th_resp get_budget(const char *w) { return get_budget_c(cl, w); }

/* Asserts the budget's used figures: seconds and cost in micro-units, compared as the
 * exact text the server wrote. */
static void expect_used(const char *w, long long s_us, long long in, long long out, long long cost)
{
	th_resp r = get_budget(w);
	char got[64], want[64];
	if (strcmp(raw_number(r.body, "seconds_used", got), fmt_micro(s_us, want)))
		fail_msg("seconds_used %s, expected %s: %s", got, want, r.body);
	if (strcmp(raw_number(r.body, "cost_usd", got), fmt_micro(cost, want)))
		fail_msg("cost_usd %s, expected %s: %s", got, want, r.body);
	if (th_jint(r.json, "input_tokens") != in || th_jint(r.json, "output_tokens") != out)
		fail_msg("tokens, expected %lld/%lld: %s", in, out, r.body);
	th_resp_free(&r);
}

static bool exceeded(const char *w)
{
	th_resp r = get_budget(w);
	bool e = json_is_true(json_object_get(r.json, "exceeded"));
	th_resp_free(&r);
	return e;
}

static th_resp post_usage_c(th_client *c, const char *w, const char *body)
{
	char path[128];
	path_of(path, sizeof path, w, "usage");
	return th_req(c, "POST", path, body, NULL);
}

static void add_ok(const char *w, const char *body)
{
	th_resp r = post_usage_c(cl, w, body);
	if (r.status != 201)
		fail_msg("POST usage %s: %ld %s", body, r.status, r.body);
	th_resp_free(&r);
}

static th_resp patch_budget(const char *w, const char *body)
{
	char path[128];
	path_of(path, sizeof path, w, "budget");
	return th_req(cl, "PATCH", path, body, NULL);
}

static th_resp patch_ok(const char *w, const char *body)
{
	th_resp r = patch_budget(w, body);
	if (r.status != 200 || !json_is_object(r.json))
		fail_msg("PATCH budget %s: %ld %s", body, r.status, r.body);
	return r;
}

static th_resp post_inbox(const char *w, const char *body)
{
	char path[128];
	path_of(path, sizeof path, w, "inbox");
	return th_req(cl, "POST", path, body, NULL);
}

static size_t inbox_size(const char *w)
{
	char path[128];
	path_of(path, sizeof path, w, "inbox");
	json_t *l = th_get_ok(cl, path);
	size_t n = json_array_size(l);
	json_decref(l);
	return n;
}

/* ---- shape and adds ------------------------------------------------------------------------ */

static void test_shape_and_exact_sums(void **state)
{
	(void)state;
	set_clock(T0);
	char w[40];
	th_create_ws(cl, "budget-shape", NULL, w);
	th_resp r = get_budget(w);
	assert_non_null(strstr(r.body, "\"seconds_used\":0.0"));
	assert_non_null(strstr(r.body, "\"cost_usd\":0.0"));
	assert_non_null(strstr(r.body, "\"limits\":{}"));
	assert_true(json_is_false(json_object_get(r.json, "exceeded")));
	th_resp_free(&r);

	for (int i = 0; i < 3; i++) {
		r = post_usage_c(cl, w, "{\"seconds\":1.5,\"input_tokens\":100,\"output_tokens\":50,"
					"\"cost_usd\":0.1}");
		if (r.status != 201)
			fail_msg("POST usage: %ld %s", r.status, r.body);
		assert_string_equal(th_jstr(r.json, "workspace_id"), w);
		assert_true(json_real_value(json_object_get(r.json, "seconds")) == 1.5);
		assert_int_equal(th_jint(r.json, "input_tokens"), 100);
		assert_int_equal(th_jint(r.json, "output_tokens"), 50);
		assert_true(json_real_value(json_object_get(r.json, "cost_usd")) == 0.1);
		th_resp_free(&r);
	}
	/* Three adds of 0.1 are 0.3, not 0.30000000000000004. */
	expect_used(w, 4500000, 300, 150, 300000);
	r = get_budget(w);
	assert_true(json_real_value(json_object_get(r.json, "cost_usd")) == 0.3);
	assert_true(json_real_value(json_object_get(r.json, "seconds_used")) == 4.5);
	th_resp_free(&r);

	/* Any one field is enough; amounts round to the nearest micro-unit, but a non-zero
	 * one never to nothing (tiny events must add up against a limit). */
	add_ok(w, "{\"cost_usd\":0.0000004}");
	add_ok(w, "{\"cost_usd\":0.0000006}");
	add_ok(w, "{\"cost_usd\":0.0000014}");
	add_ok(w, "{\"seconds\":2}");
	add_ok(w, "{\"output_tokens\":0}");
	expect_used(w, 6500000, 300, 150, 300003);
}

/* ---- validation ------------------------------------------------------------------------------ */

static void test_invalid_usage_changes_nothing(void **state)
{
	(void)state;
	set_clock(T0 + DAY_US);
	char w[40];
	th_create_ws(cl, "budget-invalid", NULL, w);
	add_ok(w, "{\"seconds\":10,\"input_tokens\":5,\"output_tokens\":6,\"cost_usd\":0.25}");
	th_resp before = get_budget(w);

	static const char *const not_json[] = {
		"{\"seconds\":NaN}",
		"{\"seconds\":nan}",
		"{\"cost_usd\":Infinity}",
		"{\"cost_usd\":-Infinity}",
		"{\"seconds\":1e999}",
		"{\"cost_usd\":-1e999}",
		"{\"input_tokens\":99999999999999999999999}",
		"{\"seconds\":}",
		"",
		"null", /* a bare scalar is not a JSON body here */
		"42",
		"\"seconds\"",
	};
	for (size_t i = 0; i < sizeof not_json / sizeof *not_json; i++) {
		th_resp r = post_usage_c(cl, w, not_json[i]);
		if (r.status != 400 || !th_str(&r, "code") || strcmp(th_str(&r, "code"), "invalid_json"))
			fail_msg("%s: expected 400 invalid_json, got %ld %s", not_json[i], r.status, r.body);
		th_resp_free(&r);
	}
	static const struct {
		const char *body, *field;
	} invalid[] = {
		{"{}", "at least one"},
		{"{\"unknown\":1}", "at least one"},
		{"[]", "object"},
		{"{\"seconds\":-1}", "seconds"},
		{"{\"seconds\":-0.5}", "seconds"},
		{"{\"seconds\":31536000.000001}", "seconds"},
		{"{\"seconds\":1e300}", "seconds"},
		{"{\"seconds\":\"1\"}", "seconds"},
		{"{\"seconds\":null}", "seconds"},
		{"{\"seconds\":false}", "seconds"},
		{"{\"seconds\":{\"v\":1}}", "seconds"},
		{"{\"input_tokens\":-1}", "input_tokens"},
		{"{\"input_tokens\":1.5}", "input_tokens"},
		{"{\"input_tokens\":2.0}", "input_tokens"},
		{"{\"input_tokens\":1e3}", "input_tokens"},
		{"{\"input_tokens\":1000000000001}", "input_tokens"},
		{"{\"input_tokens\":\"12\"}", "input_tokens"},
		{"{\"output_tokens\":9223372036854775807}", "output_tokens"},
		{"{\"output_tokens\":-9223372036854775807}", "output_tokens"},
		{"{\"cost_usd\":-0.01}", "cost_usd"},
		{"{\"cost_usd\":1000000000.5}", "cost_usd"},
		{"{\"cost_usd\":1e300}", "cost_usd"},
		{"{\"cost_usd\":\"0.1\"}", "cost_usd"},
		{"{\"cost_usd\":[0.1]}", "cost_usd"},
		{"{\"seconds\":1,\"input_tokens\":2,\"cost_usd\":-1}", "cost_usd"},
	};
	for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
		th_resp r = post_usage_c(cl, w, invalid[i].body);
		if (r.status != 400 || !th_str(&r, "code") || strcmp(th_str(&r, "code"), "invalid"))
			fail_msg("%s: expected 400 invalid, got %ld %s", invalid[i].body, r.status, r.body);
		if (!strstr(th_str(&r, "error"), invalid[i].field))
			fail_msg("%s: the error does not name %s: %s", invalid[i].body, invalid[i].field,
				 r.body);
		th_resp_free(&r);
	}
	/* A wrong content type is refused before the body is read. */
	static const char *const text_plain[] = {"Content-Type: text/plain", NULL};
	char path[128];
	path_of(path, sizeof path, w, "usage");
	th_expect_error(th_req(cl, "POST", path, "{\"seconds\":1}", text_plain), 415, NULL);

	th_resp after = get_budget(w);
	assert_string_equal(after.body, before.body);
	th_resp_free(&before);
	th_resp_free(&after);
	expect_used(w, 10 * SEC_US, 5, 6, 250000);
}

/* ---- concurrent adds -------------------------------------------------------------------------- */

#define ADDERS 32
#define ADDS_EACH 10

struct add_race {
	char ws[40];
	long status[ADDERS][ADDS_EACH];
	long long s_us[ADDERS], in[ADDERS], out[ADDERS], cost[ADDERS]; /* sums of the 201s */
};

static void add_one(int i, void *arg)
{
	struct add_race *r = arg;
	th_client *c = th_client_new(&srv);
	for (int k = 0; k < ADDS_EACH; k++) {
		/* seconds = (i+1) ms + k µs; cost 0.1 each time (a float sum would drift). */
		long long s_us = (i + 1) * 1000LL + k;
		long long in = i * 100 + k, out = i + 7 * k;
		char body[200];
		snprintf(body, sizeof body,
			 "{\"seconds\":%lld.%06lld,\"input_tokens\":%lld,\"output_tokens\":%lld,"
			 "\"cost_usd\":0.1}",
			 s_us / SEC_US, s_us % SEC_US, in, out);
		th_resp resp = post_usage_c(c, r->ws, body);
		r->status[i][k] = resp.status;
		if (resp.status == 201) {
			r->s_us[i] += s_us;
			r->in[i] += in;
			r->out[i] += out;
			r->cost[i] += 100000;
		}
		th_resp_free(&resp);
	}
	th_client_free(c);
}

static void test_concurrent_adds_exact(void **state)
{
	(void)state;
	set_clock(T0 + 2 * DAY_US);
	static struct add_race r;
	memset(&r, 0, sizeof r);
	th_create_ws(cl, "budget-race", NULL, r.ws);
	th_race(ADDERS, add_one, &r);
	long long s_us = 0, in = 0, out = 0, cost = 0;
	for (int i = 0; i < ADDERS; i++) {
		for (int k = 0; k < ADDS_EACH; k++)
			if (r.status[i][k] != 201)
				fail_msg("adder %d add %d: %ld", i, k, r.status[i][k]);
		s_us += r.s_us[i];
		in += r.in[i];
		out += r.out[i];
		cost += r.cost[i];
	}
	assert_true(cost == ADDERS * ADDS_EACH * 100000LL);
	expect_used(r.ws, s_us, in, out, cost);
}

/* ---- limits ------------------------------------------------------------------------------------ */

static void expect_limits_text(const th_resp *r, const char *want)
{
	const char *p = strstr(r->body, "\"limits\":");
	if (!p || strncmp(p + 9, want, strlen(want)) || p[9 + strlen(want)] != ',')
		fail_msg("limits should be %s: %s", want, r->body);
}

static void test_patch_limits(void **state)
{
	(void)state;
	set_clock(T0 + 3 * DAY_US);
	char w[40];
	th_create_ws(cl, "budget-limits", NULL, w);
	add_ok(w, "{\"seconds\":30,\"cost_usd\":0.5}");
	th_resp r = patch_ok(w, "{\"limits\":{\"seconds\":3600,\"input_tokens\":1000}}");
	expect_limits_text(&r, "{\"seconds\":3600.0,\"input_tokens\":1000}");
	assert_non_null(strstr(r.body, "\"seconds_used\":30.0")); /* the whole budget */
	assert_true(json_is_false(json_object_get(r.json, "exceeded")));
	th_resp_free(&r);
	r = patch_ok(w, "{\"limits\":{\"seconds\":null,\"output_tokens\":5,\"cost_usd\":2.25}}");
	expect_limits_text(&r, "{\"input_tokens\":1000,\"output_tokens\":5,\"cost_usd\":2.25}");
	th_resp_free(&r);
	r = get_budget(w);
	expect_limits_text(&r, "{\"input_tokens\":1000,\"output_tokens\":5,\"cost_usd\":2.25}");
	th_resp_free(&r);

	th_resp before = get_budget(w);
	static const struct {
		const char *body, *code;
	} bad[] = {
		{"{}", "invalid"},
		{"{\"limits\":{}}", "invalid"},
		{"{\"limits\":{\"cost\":1}}", "invalid"},
		{"{\"limits\":null}", "invalid"},
		{"{\"limits\":[1]}", "invalid"},
		{"{\"limits\":{\"seconds\":-1}}", "invalid"},
		{"{\"limits\":{\"seconds\":1e300}}", "invalid"},
		{"{\"limits\":{\"input_tokens\":1.5}}", "invalid"},
		{"{\"limits\":{\"cost_usd\":\"1\"}}", "invalid"},
		{"{\"limits\":{\"input_tokens\":7,\"cost_usd\":-1}}", "invalid"}, /* all or nothing */
		{"[]", "invalid"},
		{"{\"limits\":{\"cost_usd\":NaN}}", "invalid_json"},
		{"{\"limits\":{\"seconds\":Infinity}}", "invalid_json"},
		{"{\"limits\":{\"seconds\":1e999}}", "invalid_json"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		th_resp e = patch_budget(w, bad[i].body);
		if (e.status != 400 || !th_str(&e, "code") || strcmp(th_str(&e, "code"), bad[i].code))
			fail_msg("PATCH %s: expected 400 %s, got %ld %s", bad[i].body, bad[i].code, e.status,
				 e.body);
		th_resp_free(&e);
	}
	th_resp after = get_budget(w);
	assert_string_equal(after.body, before.body);
	th_resp_free(&before);
	th_resp_free(&after);

	/* Clearing all of them. */
	r = patch_ok(w, "{\"limits\":{\"seconds\":null,\"input_tokens\":null,\"output_tokens\":null,"
			"\"cost_usd\":null}}");
	expect_limits_text(&r, "{}");
	th_resp_free(&r);
}

#define PATCHERS 16

struct patch_race {
	char ws[40];
	int round;
	long status[PATCHERS];
};

static const char *const limit_names[4] = {"seconds", "input_tokens", "output_tokens", "cost_usd"};

static void patch_one(int i, void *arg)
{
	struct patch_race *r = arg;
	th_client *c = th_client_new(&srv);
	char body[128], path[128];
	snprintf(body, sizeof body, "{\"limits\":{\"%s\":%d}}", limit_names[i % 4], r->round * 10 + i % 4);
	path_of(path, sizeof path, r->ws, "budget");
	th_resp resp = th_req(c, "PATCH", path, body, NULL);
	r->status[i] = resp.status;
	th_resp_free(&resp);
	th_client_free(c);
}

static void test_concurrent_patches_all_survive(void **state)
{
	(void)state;
	set_clock(T0 + 3 * DAY_US);
	static struct patch_race r;
	memset(&r, 0, sizeof r);
	th_create_ws(cl, "budget-patch-race", NULL, r.ws);
	for (r.round = 1; r.round <= 5; r.round++) {
		th_resp c = patch_ok(r.ws, "{\"limits\":{\"seconds\":null,\"input_tokens\":null,"
					   "\"output_tokens\":null,\"cost_usd\":null}}");
		th_resp_free(&c);
		th_race(PATCHERS, patch_one, &r);
		for (int i = 0; i < PATCHERS; i++)
			if (r.status[i] != 200)
				fail_msg("round %d patcher %d: %ld", r.round, i, r.status[i]);
		th_resp g = get_budget(r.ws);
		json_t *l = json_object_get(g.json, "limits");
		for (int f = 0; f < 4; f++) {
			json_t *v = json_object_get(l, limit_names[f]);
			if (!v || json_number_value(v) != r.round * 10 + f)
				fail_msg("round %d: limit %s lost: %s", r.round, limit_names[f], g.body);
		}
		th_resp_free(&g);
	}
}

/* ---- the inbox past the budget ---------------------------------------------------------------- */

static void test_inbox_402_until_the_window_passes(void **state)
{
	(void)state;
	long long t = T0 + 10 * DAY_US;
	set_clock(t);
	char w[40];
	th_create_ws(cl, "budget-inbox", NULL, w);
	th_resp r = patch_ok(w, "{\"limits\":{\"cost_usd\":1}}");
	expect_limits_text(&r, "{\"cost_usd\":1.0}");
	th_resp_free(&r);
	r = post_inbox(w, "{\"body\":\"first\",\"idempotency_key\":\"k1\"}");
	assert_int_equal(r.status, 201);
	char first[40];
	snprintf(first, sizeof first, "%s", th_str(&r, "id"));
	th_resp_free(&r);

	add_ok(w, "{\"cost_usd\":0.999999}");
	assert_false(exceeded(w));
	r = post_inbox(w, "{\"body\":\"second\"}");
	assert_int_equal(r.status, 201);
	th_resp_free(&r);
	set_clock(t + SEC_US);
	add_ok(w, "{\"cost_usd\":0.000001}"); /* used == limit: reached */
	assert_true(exceeded(w));

	r = post_inbox(w, "{\"body\":\"third\"}");
	th_assert_error(&r, 402, "budget_exceeded");
	assert_non_null(strstr(th_str(&r, "error"), "cost_usd"));
	th_resp_free(&r);
	th_expect_error(post_inbox(w, "{\"body\":\"third\",\"idempotency_key\":\"k2\"}"), 402,
			"budget_exceeded");
	/* The key already used still answers its first message. */
	r = post_inbox(w, "{\"body\":\"first again\",\"idempotency_key\":\"k1\"}");
	assert_int_equal(r.status, 200);
	assert_string_equal(th_str(&r, "id"), first);
	th_resp_free(&r);
	assert_int_equal(inbox_size(w), 2);

	/* 6d23h59m59s after the first add the window still holds both adds; once the first
	 * one (at t) is exactly 7 days old it is out, 0.000001 is left, and work is taken
	 * again; a second later the window is empty. */
	set_clock(t + WINDOW_US - SEC_US);
	assert_true(exceeded(w));
	th_expect_error(post_inbox(w, "{\"body\":\"third\"}"), 402, "budget_exceeded");
	set_clock(t + WINDOW_US - 1);
	assert_true(exceeded(w));
	set_clock(t + WINDOW_US);
	assert_false(exceeded(w));
	expect_used(w, 0, 0, 0, 1);
	r = post_inbox(w, "{\"body\":\"third\",\"idempotency_key\":\"k2\"}");
	assert_int_equal(r.status, 201);
	th_resp_free(&r);
	assert_int_equal(inbox_size(w), 3);
	set_clock(t + SEC_US + WINDOW_US);
	expect_used(w, 0, 0, 0, 0);

	/* Lifting the limit works at once too. */
	add_ok(w, "{\"cost_usd\":5}");
	th_expect_error(post_inbox(w, "{\"body\":\"fourth\"}"), 402, "budget_exceeded");
	r = patch_ok(w, "{\"limits\":{\"cost_usd\":null}}");
	th_resp_free(&r);
	r = post_inbox(w, "{\"body\":\"fourth\"}");
	assert_int_equal(r.status, 201);
	th_resp_free(&r);
}

/* ---- absent, malformed, removed ---------------------------------------------------------------- */

static void test_not_found_bad_ids_removed(void **state)
{
	(void)state;
	set_clock(T0 + 20 * DAY_US);
	th_expect_error(th_req(cl, "GET", "/workspaces/" ABSENT_ID "/budget", NULL, NULL), 404, "not_found");
	th_expect_error(th_req(cl, "POST", "/workspaces/" ABSENT_ID "/usage", "{\"seconds\":1}", NULL), 404,
			"not_found");
	th_expect_error(th_req(cl, "PATCH", "/workspaces/" ABSENT_ID "/budget",
			       "{\"limits\":{\"seconds\":1}}", NULL),
			404, "not_found");
	static const char *const bad_ids[] = {"not-a-uuid", "01890000-0000-7000-8000-00000000000",
					      "01890000-0000-7000-8000-00000000000g", "%20"};
	for (size_t i = 0; i < sizeof bad_ids / sizeof *bad_ids; i++) {
		char path[160];
		snprintf(path, sizeof path, "/workspaces/%s/budget", bad_ids[i]);
		th_expect_error(th_req(cl, "GET", path, NULL, NULL), 400, NULL);
		th_expect_error(th_req(cl, "PATCH", path, "{\"limits\":{\"seconds\":1}}", NULL), 400, NULL);
		snprintf(path, sizeof path, "/workspaces/%s/usage", bad_ids[i]);
		th_expect_error(th_req(cl, "POST", path, "{\"seconds\":1}", NULL), 400, NULL);
	}

	char w[40], path[128];
	th_create_ws(cl, "budget-removed", NULL, w);
	add_ok(w, "{\"seconds\":3,\"input_tokens\":4}");
	th_resp r = patch_ok(w, "{\"limits\":{\"input_tokens\":10}}");
	th_resp_free(&r);
	snprintf(path, sizeof path, "/workspaces/%s", w);
	r = th_req(cl, "DELETE", path, NULL, NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);
	th_expect_error(post_usage_c(cl, w, "{\"seconds\":1}"), 409, "workspace_removed");
	th_expect_error(patch_budget(w, "{\"limits\":{\"seconds\":1}}"), 409, "workspace_removed");
	th_expect_error(post_inbox(w, "{\"body\":1}"), 409, "workspace_removed");
	expect_used(w, 3 * SEC_US, 4, 0, 0); /* still readable */
	r = get_budget(w);
	expect_limits_text(&r, "{\"input_tokens\":10}");
	th_resp_free(&r);
	/* Purged: the budget is gone with the workspace. */
	snprintf(path, sizeof path, "/workspaces/%s?purge=true", w);
	r = th_req(cl, "DELETE", path, NULL, NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);
	path_of(path, sizeof path, w, "budget");
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 404, "not_found");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shape_and_exact_sums),
		cmocka_unit_test(test_invalid_usage_changes_nothing),
		cmocka_unit_test(test_concurrent_adds_exact),
		cmocka_unit_test(test_patch_limits),
		cmocka_unit_test(test_concurrent_patches_all_survive),
		cmocka_unit_test(test_inbox_402_until_the_window_passes),
		cmocka_unit_test(test_not_found_bad_ids_removed),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
