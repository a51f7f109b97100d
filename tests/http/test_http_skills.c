/*
 * test_http_skills.c — SPEC §7 skill versions over HTTP against a real colonyd
 * (--no-scheduler); run on SQLite (http_skills) and PostgreSQL (http_skills_pg):
 *  - POST …/skills/:name/versions {body} → 201 {skill, seq, body, created_at}, seq 1, 2, 3 …
 *    per (workspace, skill); any JSON body but null; GET …/versions/:seq; GET …/versions
 *    newest first; GET …/skills by name with latest_seq and updated_at; percent-encoded
 *    and UTF-8 names;
 *  - paging: ?limit=, ?before=<seq> (and ?after=<seq>) newest first, ?after=<name>;
 *  - bad input is 400 and writes nothing: empty or invalid names, a body missing, null or
 *    not an object, seq not a positive integer, malformed ids and paging arguments;
 *  - 404 for an absent workspace, skill or version; 409 workspace_removed for an append to
 *    a removed workspace, whose skills stay readable;
 *  - every successful append is audited once (GET /audit?action=skill.append); refused
 *    ones append nothing;
 *  - 32 concurrent clients append to one skill → 32 × 201 with seqs exactly 1..32, each
 *    version holding its writer's body, and the list shows 32..1;
 *  - two colonyd on one database (th_server_start_replica), 16 clients each, one skill →
 *    seqs exactly 1..32, and both servers list the same 32..1.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const no_sched_args[] = {"--no-scheduler", NULL};

static th_server srv;
static th_client *cl;

#define ABSENT_ID "01890000-0000-7000-8000-000000000000" /* well-formed, never made */
#define RACERS 32

static int group_setup(void **state)
{
	(void)state;
	th_server_start(&srv, no_sched_args);
	cl = th_client_new(&srv);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	th_client_free(cl);
	return th_server_stop(&srv) == 0 ? 0 : -1;
}

/* ---- helpers ------------------------------------------------------------------------ */

/* "/workspaces/<w>/skills/<name>/versions<suffix>"; name is put in the path as given
 * (percent-encode it yourself). */
static void versions_path(char *out, size_t n, const char *w, const char *name, const char *suffix)
{
	snprintf(out, n, "/workspaces/%s/skills/%s/versions%s", w, name, suffix ? suffix : "");
}

/* Every field of the contract's version JSON, with the right type. */
static void check_version_shape(json_t *v)
{
	assert_true(json_is_object(v));
	assert_non_null(th_jstr(v, "skill"));
	assert_true(json_is_integer(json_object_get(v, "seq")));
	assert_true(th_jint(v, "seq") >= 1);
	assert_non_null(json_object_get(v, "body"));
	assert_false(th_jnull(v, "body"));
	th_jtime(v, "created_at");
}

/* POSTs a version (req is the whole request JSON text) with client c; asserts 201 and
 * returns the version. */
static json_t *append_c(th_client *c, const char *w, const char *name, const char *req)
{
	char path[600];
	versions_path(path, sizeof path, w, name, NULL);
	th_resp r = th_req(c, "POST", path, req, NULL);
	if (r.status != 201 || !json_is_object(r.json))
		fail_msg("append %s to %s: expected 201, got %ld %s", req, name, r.status, r.body);
	check_version_shape(r.json);
	json_t *j = json_incref(r.json);
	th_resp_free(&r);
	return j;
}

static long long append_seq(const char *w, const char *name, const char *req)
{
	json_t *v = append_c(cl, w, name, req);
	long long seq = th_jint(v, "seq");
	json_decref(v);
	return seq;
}

/* GET path with client c, asserting 200 and an array. */
static json_t *get_array(th_client *c, const char *path)
{
	json_t *a = th_get_ok(c, path);
	assert_true(json_is_array(a));
	return a;
}

/* True if the JSON value j encodes as compact text `text`. */
static bool json_is_text(json_t *j, const char *text)
{
	json_error_t e;
	json_t *want = json_loads(text, JSON_DECODE_ANY, &e);
	assert_non_null(want);
	bool eq = json_equal(j, want);
	json_decref(want);
	return eq;
}

/* Asserts the version list of a skill is exactly n..1 (newest first) through client c. */
static void expect_list_n_to_1(th_client *c, const char *w, const char *name, long long n)
{
	char path[600];
	versions_path(path, sizeof path, w, name, "?limit=1000");
	json_t *a = get_array(c, path);
	assert_int_equal(json_array_size(a), n);
	for (size_t i = 0; i < json_array_size(a); i++) {
		json_t *v = json_array_get(a, i);
		check_version_shape(v);
		assert_int_equal(th_jint(v, "seq"), n - (long long)i);
	}
	json_decref(a);
}

/* ---- append, get, list ------------------------------------------------------------- */

static void test_append_get_list(void **state)
{
	(void)state;
	char w[37], other[37], path[600];
	th_create_ws(cl, "skills-basic", NULL, w);
	th_create_ws(cl, "skills-basic-other", NULL, other);
	const char *bodies[] = {"{\"steps\":[\"build\",\"test\"],\"n\":1}", "\"a string\"", "42", "[1,{}]",
				"false", "{}"};
	long long t0 = th_now_us();
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		char req[128];
		snprintf(req, sizeof req, "{\"body\":%s,\"ignored\":true}", bodies[i]);
		json_t *v = append_c(cl, w, "deploy", req);
		assert_string_equal(th_jstr(v, "skill"), "deploy");
		assert_int_equal(th_jint(v, "seq"), (long long)i + 1);
		assert_true(json_is_text(json_object_get(v, "body"), bodies[i]));
		long long at = th_jtime(v, "created_at");
		assert_true(at >= t0 - 5000000 && at <= th_now_us() + 5000000);
		json_decref(v);
	}
	/* numbering is per (workspace, skill) */
	assert_int_equal(append_seq(w, "review", "{\"body\":1}"), 1);
	assert_int_equal(append_seq(other, "deploy", "{\"body\":1}"), 1);
	assert_int_equal(append_seq(w, "deploy", "{\"body\":\"seventh\"}"), 7);

	/* GET one version: as the append answered */
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		char suffix[32];
		snprintf(suffix, sizeof suffix, "/%zu", i + 1);
		versions_path(path, sizeof path, w, "deploy", suffix);
		json_t *v = th_get_ok(cl, path);
		check_version_shape(v);
		assert_string_equal(th_jstr(v, "skill"), "deploy");
		assert_int_equal(th_jint(v, "seq"), (long long)i + 1);
		assert_true(json_is_text(json_object_get(v, "body"), bodies[i]));
		json_decref(v);
	}
	/* the list: newest first, the same versions */
	expect_list_n_to_1(cl, w, "deploy", 7);
	versions_path(path, sizeof path, w, "deploy", NULL);
	json_t *a = get_array(cl, path);
	assert_true(json_is_text(json_object_get(json_array_get(a, 0), "body"), "\"seventh\""));
	assert_true(json_is_text(json_object_get(json_array_get(a, 6), "body"), bodies[0]));
	json_decref(a);

	/* names: percent-encoded in the path, UTF-8, case-sensitive */
	json_t *v = append_c(cl, w, "my%20skill%20%C3%A9", "{\"body\":1}");
	assert_string_equal(th_jstr(v, "skill"), "my skill \xc3\xa9");
	json_decref(v);
	assert_int_equal(append_seq(w, "Deploy", "{\"body\":1}"), 1);

	/* the skills of the workspace, by name */
	snprintf(path, sizeof path, "/workspaces/%s/skills", w);
	a = get_array(cl, path);
	const char *names[] = {"Deploy", "deploy", "my skill \xc3\xa9", "review"};
	const long long latest[] = {1, 7, 1, 1};
	assert_int_equal(json_array_size(a), 4);
	for (size_t i = 0; i < 4; i++) {
		json_t *s = json_array_get(a, i);
		assert_string_equal(th_jstr(s, "name"), names[i]);
		assert_int_equal(th_jint(s, "latest_seq"), latest[i]);
		th_jtime(s, "updated_at");
	}
	/* updated_at is the latest version's created_at */
	versions_path(path, sizeof path, w, "deploy", "/7");
	v = th_get_ok(cl, path);
	assert_int_equal(th_jtime(json_array_get(a, 1), "updated_at"), th_jtime(v, "created_at"));
	json_decref(v);
	json_decref(a);

	/* a workspace without skills: an empty list */
	char empty[37];
	th_create_ws(cl, "skills-none", NULL, empty);
	snprintf(path, sizeof path, "/workspaces/%s/skills", empty);
	a = get_array(cl, path);
	assert_int_equal(json_array_size(a), 0);
	json_decref(a);
}

static void test_paging(void **state)
{
	(void)state;
	char w[37], path[600];
	th_create_ws(cl, "skills-paging", NULL, w);
	for (int i = 1; i <= 5; i++) {
		char req[32];
		snprintf(req, sizeof req, "{\"body\":%d}", i);
		append_seq(w, "p", req);
	}
	struct {
		const char *q;
		int n;
		long long first;
	} pages[] = {
		{"?limit=2", 2, 5}, {"?before=4&limit=2", 2, 3}, {"?after=2", 1, 1},
		{"?before=1", 0, 0}, {"", 5, 5}, {"?before=99", 5, 5},
	};
	for (size_t k = 0; k < sizeof pages / sizeof pages[0]; k++) {
		versions_path(path, sizeof path, w, "p", pages[k].q);
		json_t *a = get_array(cl, path);
		if ((int)json_array_size(a) != pages[k].n)
			fail_msg("%s: %zu versions, expected %d", pages[k].q, json_array_size(a), pages[k].n);
		for (size_t i = 0; i < json_array_size(a); i++) {
			json_t *v = json_array_get(a, i);
			long long seq = th_jint(v, "seq");
			assert_int_equal(seq, pages[k].first - (long long)i);
			assert_int_equal(json_integer_value(json_object_get(v, "body")), seq);
		}
		json_decref(a);
	}
	/* skills by name, paged with after */
	append_seq(w, "q", "{\"body\":1}");
	append_seq(w, "r", "{\"body\":1}");
	snprintf(path, sizeof path, "/workspaces/%s/skills?after=p&limit=1", w);
	json_t *a = get_array(cl, path);
	assert_int_equal(json_array_size(a), 1);
	assert_string_equal(th_jstr(json_array_get(a, 0), "name"), "q");
	json_decref(a);
	snprintf(path, sizeof path, "/workspaces/%s/skills?after=r", w);
	a = get_array(cl, path);
	assert_int_equal(json_array_size(a), 0);
	json_decref(a);
}

/* ---- bad input: 400, nothing written ------------------------------------------------- */

/* The workspace's skills list and every version of skill "keep", as one JSON text. */
static char *snapshot(const char *w)
{
	char path[600];
	snprintf(path, sizeof path, "/workspaces/%s/skills?limit=1000", w);
	json_t *s = th_get_ok(cl, path);
	versions_path(path, sizeof path, w, "keep", "?limit=1000");
	json_t *v = th_get_ok(cl, path);
	json_t *both = json_pack("{s:o,s:o}", "skills", s, "keep", v);
	char *text = json_dumps(both, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(both);
	return text;
}

static void test_bad_input_400_writes_nothing(void **state)
{
	(void)state;
	char w[37], path[600];
	th_create_ws(cl, "skills-bad", NULL, w);
	append_seq(w, "keep", "{\"body\":\"keep\"}");
	char *before = snapshot(w);

	/* names: empty, '/', controls, too long, not UTF-8 */
	char long_name[300];
	memset(long_name, 'n', 257);
	long_name[257] = 0;
	const char *bad_names[] = {"", "a%2Fb", "%2F", "a%01b", "tab%09", "del%7F", "c1%C2%85",
				   long_name, "%FF", "%C3", "%ED%A0%80"};
	for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
		versions_path(path, sizeof path, w, bad_names[i], NULL);
		th_resp r = th_req(cl, "POST", path, "{\"body\":1}", NULL);
		if (r.status != 400)
			fail_msg("name '%s': expected 400, got %ld %s", bad_names[i], r.status, r.body);
		th_assert_error(&r, 400, "invalid_name");
		th_resp_free(&r);
		th_expect_error(th_req(cl, "GET", path, NULL, NULL), 400, "invalid_name");
		versions_path(path, sizeof path, w, bad_names[i], "/1");
		th_expect_error(th_req(cl, "GET", path, NULL, NULL), 400, "invalid_name");
	}
	/* a name of exactly 256 bytes is fine (and is written: counted below) */
	long_name[256] = 0;
	assert_int_equal(append_seq(w, long_name, "{\"body\":1}"), 1);
	char *with_long = snapshot(w);

	/* bodies: missing, null, not an object, not JSON */
	versions_path(path, sizeof path, w, "keep", NULL);
	const char *bad_bodies[] = {"{\"body\":null}", "{}", "{\"Body\":1}", "[{\"body\":1}]", "\"body\"",
				    "null", "1", "{\"body\":", "{\"body\":1,\"body\":2}", ""};
	for (size_t i = 0; i < sizeof bad_bodies / sizeof bad_bodies[0]; i++) {
		th_resp r = th_req(cl, "POST", path, bad_bodies[i], NULL);
		if (r.status != 400)
			fail_msg("body %s: expected 400, got %ld %s", bad_bodies[i], r.status, r.body);
		th_assert_error(&r, 400, NULL);
		th_resp_free(&r);
	}
	th_expect_error(th_req(cl, "POST", path, NULL, NULL), 400, NULL);

	/* seq: not a positive integer */
	const char *bad_seqs[] = {"0", "-1", "abc", "1.5", "1e3", "%201", "+1", "1x",
				  "99999999999999999999", ""};
	for (size_t i = 0; i < sizeof bad_seqs / sizeof bad_seqs[0]; i++) {
		char suffix[64];
		snprintf(suffix, sizeof suffix, "/%s", bad_seqs[i]);
		versions_path(path, sizeof path, w, "keep", suffix);
		th_resp r = th_req(cl, "GET", path, NULL, NULL);
		if (r.status != 400)
			fail_msg("seq '%s': expected 400, got %ld %s", bad_seqs[i], r.status, r.body);
		th_assert_error(&r, 400, NULL);
		th_resp_free(&r);
	}
	/* paging arguments */
	const char *bad_q[] = {"?limit=0", "?limit=1001", "?limit=x", "?before=0", "?before=-3",
			       "?before=x", "?after=0", "?before=2&after=3"};
	for (size_t i = 0; i < sizeof bad_q / sizeof bad_q[0]; i++) {
		versions_path(path, sizeof path, w, "keep", bad_q[i]);
		th_expect_error(th_req(cl, "GET", path, NULL, NULL), 400, NULL);
	}
	const char *bad_list_q[] = {"?limit=0", "?limit=abc", "?after=a%2Fb", "?after=", "?after=%01"};
	for (size_t i = 0; i < sizeof bad_list_q / sizeof bad_list_q[0]; i++) {
		snprintf(path, sizeof path, "/workspaces/%s/skills%s", w, bad_list_q[i]);
		th_expect_error(th_req(cl, "GET", path, NULL, NULL), 400, NULL);
	}
	/* malformed workspace ids: 400, not 404 */
	const char *bad_ids[] = {"xyz", "01890000-0000-7000-8000-00000000000", "%20"};
	for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
		versions_path(path, sizeof path, bad_ids[i], "keep", NULL);
		th_expect_error(th_req(cl, "POST", path, "{\"body\":1}", NULL), 400, "invalid_id");
		th_expect_error(th_req(cl, "GET", path, NULL, NULL), 400, "invalid_id");
		versions_path(path, sizeof path, bad_ids[i], "keep", "/1");
		th_expect_error(th_req(cl, "GET", path, NULL, NULL), 400, "invalid_id");
		snprintf(path, sizeof path, "/workspaces/%s/skills", bad_ids[i]);
		th_expect_error(th_req(cl, "GET", path, NULL, NULL), 400, "invalid_id");
	}
	/* a wrong content type */
	versions_path(path, sizeof path, w, "keep", NULL);
	const char *const text_plain[] = {"Content-Type: text/plain", NULL};
	th_resp r = th_req(cl, "POST", path, "{\"body\":1}", text_plain);
	assert_int_equal(r.status, 415);
	th_resp_free(&r);

	char *after = snapshot(w);
	assert_string_equal(after, with_long);
	assert_string_not_equal(before, with_long);
	free(before);
	free(with_long);
	free(after);
	assert_int_equal(append_seq(w, "keep", "{\"body\":\"next\"}"), 2); /* no number was used */
}

/* ---- 404 and 409 ----------------------------------------------------------------------- */

static void test_not_found_and_removed(void **state)
{
	(void)state;
	char w[37], path[600];
	/* an absent workspace */
	versions_path(path, sizeof path, ABSENT_ID, "s", NULL);
	th_expect_error(th_req(cl, "POST", path, "{\"body\":1}", NULL), 404, "not_found");
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 404, "not_found");
	versions_path(path, sizeof path, ABSENT_ID, "s", "/1");
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 404, "not_found");
	th_expect_error(th_req(cl, "GET", "/workspaces/" ABSENT_ID "/skills", NULL, NULL), 404,
			"not_found");

	/* an absent skill, an absent version */
	th_create_ws(cl, "skills-404", NULL, w);
	versions_path(path, sizeof path, w, "nope", NULL);
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 404, "not_found");
	versions_path(path, sizeof path, w, "nope", "/1");
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 404, "not_found");
	append_seq(w, "s", "{\"body\":1}");
	versions_path(path, sizeof path, w, "s", "/2");
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 404, "not_found");
	versions_path(path, sizeof path, w, "s", "/9223372036854775807");
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 404, "not_found");

	/* a removed workspace: appends 409, reads still work */
	snprintf(path, sizeof path, "/workspaces/%s", w);
	th_resp r = th_req(cl, "DELETE", path, NULL, NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);
	versions_path(path, sizeof path, w, "s", NULL);
	th_expect_error(th_req(cl, "POST", path, "{\"body\":2}", NULL), 409, "workspace_removed");
	versions_path(path, sizeof path, w, "new", NULL);
	th_expect_error(th_req(cl, "POST", path, "{\"body\":2}", NULL), 409, "workspace_removed");
	expect_list_n_to_1(cl, w, "s", 1);
	snprintf(path, sizeof path, "/workspaces/%s/skills", w);
	json_t *a = get_array(cl, path);
	assert_int_equal(json_array_size(a), 1);
	json_decref(a);

	/* purged: gone */
	snprintf(path, sizeof path, "/workspaces/%s?purge=true", w);
	r = th_req(cl, "DELETE", path, NULL, NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);
	snprintf(path, sizeof path, "/workspaces/%s/skills", w);
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 404, "not_found");
}

/* ---- audit (store.h note 6) ------------------------------------------------------------ */

/* The audit records of workspace w's skill appends. */
static size_t audited_appends(const char *w)
{
	char path[300];
	snprintf(path, sizeof path, "/audit?action=skill.append&target=/workspaces/%s/skills/&limit=1000",
		 w);
	json_t *a = th_get_ok(cl, path);
	json_t *recs = json_object_get(a, "records");
	assert_true(json_is_array(recs));
	assert_true(json_is_true(json_object_get(a, "chain_valid")));
	size_t n = json_array_size(recs);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(th_jstr(json_array_get(recs, i), "action"), "skill.append");
	json_decref(a);
	return n;
}

/* Every successful append is audited once, in its transaction; refused ones are not. */
static void test_appends_are_audited(void **state)
{
	(void)state;
	char w[37], path[600];
	th_create_ws(cl, "skills-audited", NULL, w);
	for (int i = 0; i < 3; i++)
		append_seq(w, "a", "{\"body\":1}");
	assert_int_equal(audited_appends(w), 3);
	versions_path(path, sizeof path, w, "a", NULL);
	th_expect_error(th_req(cl, "POST", path, "{\"body\":null}", NULL), 400, NULL);
	versions_path(path, sizeof path, w, "", NULL);
	th_expect_error(th_req(cl, "POST", path, "{\"body\":1}", NULL), 400, NULL);
	snprintf(path, sizeof path, "/workspaces/%s", w);
	th_resp r = th_req(cl, "DELETE", path, NULL, NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);
	versions_path(path, sizeof path, w, "a", NULL);
	th_expect_error(th_req(cl, "POST", path, "{\"body\":1}", NULL), 409, "workspace_removed");
	assert_int_equal(audited_appends(w), 3);
}

/* ---- races ------------------------------------------------------------------------------ */

struct append_race {
	char ws[37];
	const char *name;
	const th_server *servers[2];
	int nservers;
	long status[RACERS];
	long long seq[RACERS];
	char body[RACERS][64]; /* the answer's body, as JSON text */
	char error[RACERS][200]; /* a refusal's body */
};

static void append_one(int i, void *arg)
{
	struct append_race *ar = arg;
	th_client *c = th_client_new(ar->servers[i % ar->nservers]);
	char path[200], req[64];
	versions_path(path, sizeof path, ar->ws, ar->name, NULL);
	snprintf(req, sizeof req, "{\"body\":{\"client\":%d}}", i);
	th_resp r = th_req(c, "POST", path, req, NULL);
	ar->status[i] = r.status;
	if (r.status == 201 && json_is_object(r.json)) {
		json_t *seq = json_object_get(r.json, "seq");
		ar->seq[i] = json_is_integer(seq) ? json_integer_value(seq) : -1;
		char *b = json_dumps(json_object_get(r.json, "body"), JSON_COMPACT | JSON_ENCODE_ANY);
		snprintf(ar->body[i], sizeof ar->body[i], "%s", b ? b : "");
		free(b);
	} else {
		snprintf(ar->error[i], sizeof ar->error[i], "%s", r.body ? r.body : "");
	}
	th_resp_free(&r);
	th_client_free(c);
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return (x > y) - (x < y);
}

/* Runs RACERS appends of one skill across ar->servers and checks the contract: every one
 * 201, seqs exactly 1..RACERS, each version stored under its writer's seq with its body,
 * and every server lists RACERS..1. */
static void run_append_race(struct append_race *ar)
{
	th_race(RACERS, append_one, ar);
	long long sorted[RACERS];
	for (int i = 0; i < RACERS; i++) {
		if (ar->status[i] != 201)
			fail_msg("client %d got %ld %s", i, ar->status[i], ar->error[i]);
		char want[64];
		snprintf(want, sizeof want, "{\"client\":%d}", i);
		assert_string_equal(ar->body[i], want);
		sorted[i] = ar->seq[i];
	}
	qsort(sorted, RACERS, sizeof sorted[0], cmp_ll);
	for (int i = 0; i < RACERS; i++)
		if (sorted[i] != i + 1)
			fail_msg("sorted seq #%d is %lld: a duplicate or a gap", i, sorted[i]);
	for (int s = 0; s < ar->nservers; s++) {
		th_client *c = th_client_new(ar->servers[s]);
		expect_list_n_to_1(c, ar->ws, ar->name, RACERS);
		char path[200];
		versions_path(path, sizeof path, ar->ws, ar->name, "?limit=1000");
		json_t *a = get_array(c, path);
		for (int i = 0; i < RACERS; i++) { /* client i's body is under the seq it was told */
			json_t *v = json_array_get(a, (size_t)(RACERS - ar->seq[i]));
			assert_int_equal(th_jint(v, "seq"), ar->seq[i]);
			assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "body"),
									    "client")),
					 i);
		}
		json_decref(a);
		snprintf(path, sizeof path, "/workspaces/%s/skills", ar->ws);
		a = get_array(c, path);
		assert_int_equal(json_array_size(a), 1);
		assert_string_equal(th_jstr(json_array_get(a, 0), "name"), ar->name);
		assert_int_equal(th_jint(json_array_get(a, 0), "latest_seq"), RACERS);
		json_decref(a);
		th_client_free(c);
	}
}

static void test_append_race_32_clients(void **state)
{
	(void)state;
	static struct append_race ar;
	for (int round = 0; round < 2; round++) { /* a new skill, then the same one again */
		memset(&ar, 0, sizeof ar);
		th_create_ws(cl, round ? "skills-race-again" : "skills-race", NULL, ar.ws);
		ar.name = "hot";
		ar.servers[0] = &srv;
		ar.nservers = 1;
		if (round) /* the skill exists before the race: every append takes the update path */
			assert_int_equal(append_seq(ar.ws, "hot", "{\"body\":\"seed\"}"), 1);
		if (round) {
			th_race(RACERS, append_one, &ar);
			long long sorted[RACERS];
			for (int i = 0; i < RACERS; i++) {
				assert_int_equal(ar.status[i], 201);
				sorted[i] = ar.seq[i];
			}
			qsort(sorted, RACERS, sizeof sorted[0], cmp_ll);
			for (int i = 0; i < RACERS; i++)
				assert_int_equal(sorted[i], i + 2);
			expect_list_n_to_1(cl, ar.ws, "hot", RACERS + 1);
		} else {
			run_append_race(&ar);
		}
	}
}

/* Two colonyd on one database (SQLite file or PostgreSQL), 16 clients each. */
static void test_append_race_two_servers(void **state)
{
	(void)state;
	static struct append_race ar;
	th_server replica;
	th_server_start_replica(&replica, &srv);
	memset(&ar, 0, sizeof ar);
	th_create_ws(cl, "skills-race-replicas", NULL, ar.ws);
	ar.name = "shared";
	ar.servers[0] = &srv;
	ar.servers[1] = &replica;
	ar.nservers = 2;
	run_append_race(&ar);
	/* and a second skill raced right after, now that both have warmed up */
	memset(ar.status, 0, sizeof ar.status);
	memset(ar.seq, 0, sizeof ar.seq);
	ar.name = "shared-2";
	th_race(RACERS, append_one, &ar);
	long long sorted[RACERS];
	for (int i = 0; i < RACERS; i++) {
		assert_int_equal(ar.status[i], 201);
		sorted[i] = ar.seq[i];
	}
	qsort(sorted, RACERS, sizeof sorted[0], cmp_ll);
	for (int i = 0; i < RACERS; i++)
		assert_int_equal(sorted[i], i + 1);
	th_client *c = th_client_new(&replica);
	expect_list_n_to_1(c, ar.ws, "shared-2", RACERS);
	th_client_free(c);
	assert_int_equal(th_server_stop(&replica), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_get_list),
		cmocka_unit_test(test_paging),
		cmocka_unit_test(test_bad_input_400_writes_nothing),
		cmocka_unit_test(test_not_found_and_removed),
		cmocka_unit_test(test_appends_are_audited),
		cmocka_unit_test(test_append_race_32_clients),
		cmocka_unit_test(test_append_race_two_servers),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
