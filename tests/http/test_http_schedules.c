/*
 * test_http_schedules.c — SPEC §5 schedules over HTTP against a real colonyd (started with
 * --no-scheduler, except the webhook tests, which run the scheduler every 50 ms):
 *  - create / get / list (id order, paging) / patch / delete, the full schedule shape,
 *    source "runtime", UUIDv7 ids and RFC 3339 µs times;
 *  - every error: invalid_cron (the message names the field), invalid_timezone, invalid
 *    (missing fields, wrong JSON types), not_found, malformed ids (400), workspace_removed,
 *    name_taken with existing_id (same name in another workspace is fine) — and a bad
 *    request changes nothing (the list is byte-for-byte the same afterwards);
 *  - next_run_at: zones (Europe/Berlin weekdays at 08:00Z/07:00Z), macros, steps, PATCH of
 *    cron_expr / timezone recomputing it, disable → null, enable → from now;
 *  - manual runs: 202 run, run_count, last_run_at, last_run_id, an inbox message whose body
 *    is the prompt, history newest first;
 *  - races: 16 creates of one name → one 201 and 15 × 409 naming the winner; 16 renames to
 *    one name → one 200 and 15 × 409;
 *  - webhooks: an in-test HTTP receiver; 200 → "delivered" with the documented body, 500 /
 *    closed port / no answer (timeout) → "error" with last_error.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
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

static const char *const no_sched_args[] = {"--no-scheduler", NULL};
static const char *const hook_args[] = {"--scheduler-interval-ms", "50", "--webhook-timeout-ms",
					"1000", NULL};

static th_server srv;
static th_client *cl;
static char ws[37]; /* the main workspace */

#define ABSENT_ID "01890000-0000-7000-8000-000000000000" /* well-formed, never made */

static int group_setup(void **state)
{
	(void)state;
	th_server_start(&srv, no_sched_args);
	cl = th_client_new(&srv);
	th_create_ws(cl, "schedule-tests", NULL, ws);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	th_client_free(cl);
	return th_server_stop(&srv) == 0 ? 0 : -1;
}

/* ---- helpers ------------------------------------------------------------------------ */

static void scheds_path(char *out, size_t n, const char *w) { snprintf(out, n, "/workspaces/%s/schedules", w); }

static void sched_path(char *out, size_t n, const char *w, const char *sid, const char *suffix)
{
	snprintf(out, n, "/workspaces/%s/schedules/%s%s", w, sid, suffix ? suffix : "");
}

/* A create body; tz NULL = omitted, enabled < 0 = omitted. */
static json_t *sched_body(const char *name, const char *cron, const char *tz, const char *prompt, int enabled)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "cron_expr", json_string(cron));
	if (tz)
		json_object_set_new(o, "timezone", json_string(tz));
	json_object_set_new(o, "prompt", json_string(prompt));
	if (enabled >= 0)
		json_object_set_new(o, "enabled", json_boolean(enabled));
	return o;
}

/* Creates a schedule, asserts 201, returns the schedule (json_decref it). */
static json_t *mk_sched_c(th_client *c, const char *w, const char *name, const char *cron, const char *tz,
			  const char *prompt, int enabled)
{
	char path[128];
	scheds_path(path, sizeof path, w);
	th_resp r = th_send_json(c, "POST", path, sched_body(name, cron, tz, prompt, enabled));
	if (r.status != 201 || !json_is_object(r.json))
		fail_msg("creating schedule %s (%s): %ld %s", name, cron, r.status, r.body);
	json_t *j = json_incref(r.json);
	th_resp_free(&r);
	return j;
}

static json_t *mk_sched(const char *w, const char *name, const char *cron, const char *tz, const char *prompt,
			int enabled)
{
	return mk_sched_c(cl, w, name, cron, tz, prompt, enabled);
}

static json_t *get_sched(th_client *c, const char *w, const char *sid)
{
	char path[160];
	sched_path(path, sizeof path, w, sid, NULL);
	return th_get_ok(c, path);
}

static json_t *list_scheds(const char *w)
{
	char path[160];
	snprintf(path, sizeof path, "/workspaces/%s/schedules?limit=1000", w);
	return th_get_ok(cl, path);
}

/* Every field of the contract's schedule JSON, with the right type. */
static void check_sched_shape(json_t *s)
{
	assert_true(json_is_object(s));
	th_assert_uuid7(th_jstr(s, "id"));
	th_assert_uuid7(th_jstr(s, "workspace_id"));
	assert_non_null(th_jstr(s, "name"));
	assert_non_null(th_jstr(s, "cron_expr"));
	assert_non_null(th_jstr(s, "timezone"));
	assert_non_null(th_jstr(s, "prompt"));
	assert_true(json_is_boolean(json_object_get(s, "enabled")));
	assert_non_null(th_jstr(s, "source"));
	if (!th_jnull(s, "next_run_at"))
		th_jtime(s, "next_run_at");
	if (!th_jnull(s, "last_run_at"))
		th_jtime(s, "last_run_at");
	assert_true(json_is_integer(json_object_get(s, "run_count")));
	json_t *ls = json_object_get(s, "last_status");
	assert_true(json_is_null(ls) || json_is_string(ls));
	if (json_is_string(ls)) {
		const char *v = json_string_value(ls);
		const char *ok[] = {"fired", "delivered", "error", "ok", "empty", "stale", "failed"};
		bool found = false;
		for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
			found |= !strcmp(v, ok[i]);
		if (!found)
			fail_msg("last_status %s is not one of the contract's", v);
	}
	json_t *le = json_object_get(s, "last_error");
	assert_true(json_is_null(le) || json_is_string(le));
	assert_true(json_is_integer(json_object_get(s, "consecutive_empty_runs")));
	json_t *lr = json_object_get(s, "last_run_id");
	assert_true(json_is_null(lr) || json_is_string(lr));
	th_jtime(s, "created_at");
	th_jtime(s, "updated_at");
}

static int weekday_of(long long us) /* 0 = Sunday */
{
	long long days = us / 1000000LL / 86400;
	return (int)((days + 4) % 7);
}

static long long utc_us(int y, int mo, int d, int h, int mi, int sec)
{
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec};
	return (long long)timegm(&tm) * 1000000LL;
}

#define MIN_US 60000000LL
#define SEC_US 1000000LL

/* ---- create, get, list -------------------------------------------------------------- */

static void test_create_shape_get_and_list(void **state)
{
	(void)state;
	long long before = th_now_us();
	char path[160];
	scheds_path(path, sizeof path, ws);
	/* unknown fields are ignored (SPEC §1), read-only ones are not taken from the client */
	th_resp cr = th_req(cl, "POST", path,
			    "{\"name\":\"every-five\",\"cron_expr\":\"*/5 * * * *\",\"prompt\":\"check the build\","
			    "\"colour\":\"blue\",\"run_count\":7,\"source\":\"template\",\"id\":\"" ABSENT_ID "\"}",
			    NULL);
	long long after = th_now_us();
	if (cr.status != 201 && cr.status != 400)
		fail_msg("create with extra fields: %ld %s", cr.status, cr.body);
	if (cr.status == 400) { /* refusing "source" is fine too: then create without the extras */
		th_resp_free(&cr);
		cr = th_req(cl, "POST", path,
			    "{\"name\":\"every-five\",\"cron_expr\":\"*/5 * * * *\",\"prompt\":\"check the build\","
			    "\"colour\":\"blue\"}",
			    NULL);
		after = th_now_us();
		assert_int_equal(cr.status, 201);
	}
	json_t *s = json_incref(cr.json);
	th_resp_free(&cr);
	assert_null(json_object_get(s, "colour"));
	assert_string_not_equal(th_jstr(s, "id"), ABSENT_ID);
	check_sched_shape(s);
	assert_string_equal(th_jstr(s, "workspace_id"), ws);
	assert_string_equal(th_jstr(s, "name"), "every-five");
	assert_string_equal(th_jstr(s, "cron_expr"), "*/5 * * * *");
	assert_string_equal(th_jstr(s, "timezone"), "UTC");
	assert_string_equal(th_jstr(s, "prompt"), "check the build");
	assert_true(json_is_true(json_object_get(s, "enabled")));
	assert_string_equal(th_jstr(s, "source"), "runtime");
	assert_true(th_jnull(s, "last_run_at"));
	assert_int_equal(th_jint(s, "run_count"), 0);
	assert_true(th_jnull(s, "last_status"));
	assert_true(th_jnull(s, "last_error"));
	assert_int_equal(th_jint(s, "consecutive_empty_runs"), 0);
	assert_true(th_jnull(s, "last_run_id"));
	long long next = th_jtime(s, "next_run_at");
	assert_int_equal(next % MIN_US, 0);               /* on a minute */
	assert_int_equal((next / MIN_US) % 5, 0);         /* a multiple of 5 */
	assert_true(next > before - SEC_US);
	assert_true(next <= after + 5 * MIN_US);
	long long created = th_jtime(s, "created_at");
	assert_true(created >= before - 2 * SEC_US && created <= after + 2 * SEC_US);

	/* GET shows the same schedule */
	json_t *g = get_sched(cl, ws, th_jstr(s, "id"));
	if (!json_equal(g, s)) {
		char *a = json_dumps(s, JSON_COMPACT), *b = json_dumps(g, JSON_COMPACT);
		fail_msg("GET differs from the 201:\n%s\n%s", a, b);
	}
	json_decref(g);

	/* the list holds it, in id order */
	json_t *l = list_scheds(ws);
	assert_true(json_is_array(l));
	int found = 0;
	for (size_t i = 0; i < json_array_size(l); i++) {
		json_t *e = json_array_get(l, i);
		check_sched_shape(e);
		if (!strcmp(th_jstr(e, "id"), th_jstr(s, "id"))) {
			found++;
			assert_true(json_equal(e, s));
		}
		if (i > 0)
			assert_true(strcmp(th_jstr(json_array_get(l, i - 1), "id"), th_jstr(e, "id")) < 0);
	}
	assert_int_equal(found, 1);
	json_decref(l);
	json_decref(s);
}

static void test_next_run_examples(void **state)
{
	(void)state;
	char w[37];
	th_create_ws(cl, "next-run-examples", NULL, w);
	long long before = th_now_us();

	json_t *s = mk_sched(w, "berlin-weekdays", "0 9 * * MON-FRI", "Europe/Berlin", "standup", -1);
	assert_string_equal(th_jstr(s, "timezone"), "Europe/Berlin");
	long long next = th_jtime(s, "next_run_at");
	long long tod = (next / SEC_US) % 86400;
	if (tod != 8 * 3600 && tod != 7 * 3600)
		fail_msg("Berlin 09:00 is not 08:00Z or 07:00Z: %s", th_jstr(s, "next_run_at"));
	int wd = weekday_of(next);
	assert_true(wd >= 1 && wd <= 5);
	assert_true(next > before && next <= before + 4 * 86400 * SEC_US);
	json_decref(s);

	s = mk_sched(w, "hourly", "@hourly", NULL, "tick", -1);
	next = th_jtime(s, "next_run_at");
	assert_int_equal(next % (60 * MIN_US), 0);
	assert_true(next > before && next <= th_now_us() + 60 * MIN_US);
	json_decref(s);

	s = mk_sched(w, "daily", "@daily", NULL, "tick", -1);
	next = th_jtime(s, "next_run_at");
	assert_int_equal(next % (86400 * SEC_US), 0);
	assert_true(next > before && next <= th_now_us() + 86400 * SEC_US);
	json_decref(s);

	/* New York midnight on New Year's day: 05:00Z (EST) */
	s = mk_sched(w, "ny-new-year", "0 0 1 1 *", "America/New_York", "happy new year", -1);
	next = th_jtime(s, "next_run_at");
	time_t secs = (time_t)(before / SEC_US);
	struct tm tm;
	gmtime_r(&secs, &tm);
	long long want = utc_us(tm.tm_year + 1900, 1, 1, 5, 0, 0);
	if (want <= before)
		want = utc_us(tm.tm_year + 1901, 1, 1, 5, 0, 0);
	if (next != want)
		fail_msg("0 0 1 1 * in America/New_York: got %s", th_jstr(s, "next_run_at"));
	json_decref(s);

	/* created disabled: no next run */
	s = mk_sched(w, "off", "* * * * *", NULL, "never", 0);
	assert_true(json_is_false(json_object_get(s, "enabled")));
	assert_true(th_jnull(s, "next_run_at"));
	json_decref(s);
}

/* ---- bad input: 4xx with the right code, and nothing written ------------------------ */

struct bad_case {
	const char *body;
	long status;
	const char *code;
	const char *mentions; /* the error sentence contains this (NULL: no check) */
};

static void test_create_errors_change_nothing(void **state)
{
	(void)state;
	char w[37], path[160];
	th_create_ws(cl, "create-errors", NULL, w);
	json_t *keep = mk_sched(w, "existing", "0 * * * *", NULL, "p", -1);
	scheds_path(path, sizeof path, w);
	json_t *before = list_scheds(w);
	assert_int_equal(json_array_size(before), 1);

	const struct bad_case cases[] = {
		/* cron: the message names the field */
		{"{\"name\":\"a\",\"cron_expr\":\"61 * * * *\",\"prompt\":\"p\"}", 400, "invalid_cron", "minute"},
		{"{\"name\":\"a\",\"cron_expr\":\"* 24 * * *\",\"prompt\":\"p\"}", 400, "invalid_cron", "hour"},
		{"{\"name\":\"a\",\"cron_expr\":\"* * 32 * *\",\"prompt\":\"p\"}", 400, "invalid_cron", "day"},
		{"{\"name\":\"a\",\"cron_expr\":\"* * * 13 *\",\"prompt\":\"p\"}", 400, "invalid_cron", "month"},
		{"{\"name\":\"a\",\"cron_expr\":\"* * * * 8\",\"prompt\":\"p\"}", 400, "invalid_cron", "week"},
		{"{\"name\":\"a\",\"cron_expr\":\"* * * * FUNDAY\",\"prompt\":\"p\"}", 400, "invalid_cron", "week"},
		{"{\"name\":\"a\",\"cron_expr\":\"*/0 * * * *\",\"prompt\":\"p\"}", 400, "invalid_cron", "minute"},
		{"{\"name\":\"a\",\"cron_expr\":\"5-1x * * * *\",\"prompt\":\"p\"}", 400, "invalid_cron", "minute"},
		{"{\"name\":\"a\",\"cron_expr\":\"* * * *\",\"prompt\":\"p\"}", 400, "invalid_cron", NULL},
		{"{\"name\":\"a\",\"cron_expr\":\"* * * * * *\",\"prompt\":\"p\"}", 400, "invalid_cron", NULL},
		{"{\"name\":\"a\",\"cron_expr\":\"every day\",\"prompt\":\"p\"}", 400, "invalid_cron", NULL},
		{"{\"name\":\"a\",\"cron_expr\":\"@fortnightly\",\"prompt\":\"p\"}", 400, "invalid_cron", NULL},
		{"{\"name\":\"a\",\"cron_expr\":\"0 0 30 2 *\",\"prompt\":\"p\"}", 400, "invalid_cron", NULL},
		/* zones */
		{"{\"name\":\"a\",\"cron_expr\":\"* * * * *\",\"timezone\":\"Mars/Olympus\",\"prompt\":\"p\"}", 400,
		 "invalid_timezone", "Mars/Olympus"},
		{"{\"name\":\"a\",\"cron_expr\":\"* * * * *\",\"timezone\":\"../etc/passwd\",\"prompt\":\"p\"}", 400,
		 "invalid_timezone", NULL},
		{"{\"name\":\"a\",\"cron_expr\":\"* * * * *\",\"timezone\":\"/etc/localtime\",\"prompt\":\"p\"}", 400,
		 "invalid_timezone", NULL},
		{"{\"name\":\"a\",\"cron_expr\":\"* * * * *\",\"timezone\":\"Europe/../../../etc/passwd\",\"prompt\":\"p\"}",
		 400, "invalid_timezone", NULL},
		{"{\"name\":\"a\",\"cron_expr\":\"* * * * *\",\"timezone\":\"\",\"prompt\":\"p\"}", 400, NULL, NULL},
		/* missing fields, wrong types */
		{"{\"cron_expr\":\"* * * * *\",\"prompt\":\"p\"}", 400, "invalid", "name"},
		{"{\"name\":\"a\",\"prompt\":\"p\"}", 400, "invalid", "cron_expr"},
		{"{\"name\":\"a\",\"cron_expr\":\"* * * * *\"}", 400, "invalid", "prompt"},
		{"{\"name\":123,\"cron_expr\":\"* * * * *\",\"prompt\":\"p\"}", 400, "invalid", "name"},
		{"{\"name\":\"a\",\"cron_expr\":5,\"prompt\":\"p\"}", 400, "invalid", "cron_expr"},
		{"{\"name\":\"a\",\"cron_expr\":\"* * * * *\",\"prompt\":[\"p\"]}", 400, "invalid", "prompt"},
		{"{\"name\":\"a\",\"cron_expr\":\"* * * * *\",\"prompt\":\"p\",\"enabled\":\"yes\"}", 400, "invalid",
		 "enabled"},
		{"{\"name\":\"a\",\"cron_expr\":\"* * * * *\",\"prompt\":\"p\",\"timezone\":5}", 400, "invalid",
		 "timezone"},
		{"{\"name\":null,\"cron_expr\":\"* * * * *\",\"prompt\":\"p\"}", 400, "invalid", "name"},
		{"{\"name\":\"\",\"cron_expr\":\"* * * * *\",\"prompt\":\"p\"}", 400, "invalid", "name"},
		{"{\"name\":\"a\\nb\",\"cron_expr\":\"* * * * *\",\"prompt\":\"p\"}", 400, "invalid", "name"},
		{"[1,2]", 400, NULL, NULL},
		{"\"just a string\"", 400, NULL, NULL},
		{"{\"name\":\"a\",", 400, NULL, NULL},
		/* the name clash */
		{"{\"name\":\"existing\",\"cron_expr\":\"* * * * *\",\"prompt\":\"p\"}", 409, "name_taken", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		th_resp r = th_req(cl, "POST", path, cases[i].body, NULL);
		if (r.status != cases[i].status)
			fail_msg("case %zu %s: expected %ld, got %ld %s", i, cases[i].body, cases[i].status, r.status,
				 r.body);
		th_assert_error(&r, cases[i].status, cases[i].code);
		if (cases[i].mentions && !strstr(th_str(&r, "error"), cases[i].mentions))
			fail_msg("case %zu %s: the message does not mention %s: %s", i, cases[i].body,
				 cases[i].mentions, r.body);
		if (cases[i].code && !strcmp(cases[i].code, "name_taken"))
			assert_string_equal(th_str(&r, "existing_id"), th_jstr(keep, "id"));
		th_resp_free(&r);
		json_t *after = list_scheds(w);
		if (!json_equal(before, after))
			fail_msg("case %zu %s changed the list", i, cases[i].body);
		json_decref(after);
	}

	/* a name of 256 bytes is too long; 255 is fine */
	char name[300];
	memset(name, 'n', 256);
	name[256] = 0;
	th_resp r = th_send_json(cl, "POST", path, sched_body(name, "* * * * *", NULL, "p", -1));
	th_assert_error(&r, 400, "invalid");
	th_resp_free(&r);
	json_t *after = list_scheds(w);
	assert_true(json_equal(before, after));
	json_decref(after);
	name[255] = 0;
	json_t *s = mk_sched(w, name, "* * * * *", NULL, "p", -1);
	assert_string_equal(th_jstr(s, "name"), name);
	json_decref(s);

	/* workspace: absent, malformed, removed */
	th_expect_error(th_req(cl, "POST", "/workspaces/" ABSENT_ID "/schedules",
			    "{\"name\":\"a\",\"cron_expr\":\"* * * * *\",\"prompt\":\"p\"}", NULL),
		     404, "not_found");
	th_expect_error(th_req(cl, "GET", "/workspaces/" ABSENT_ID "/schedules", NULL, NULL), 404, "not_found");
	th_expect_error(th_req(cl, "POST", "/workspaces/not-a-uuid/schedules",
			    "{\"name\":\"a\",\"cron_expr\":\"* * * * *\",\"prompt\":\"p\"}", NULL),
		     400, NULL);
	th_expect_error(th_req(cl, "GET", "/workspaces/not-a-uuid/schedules", NULL, NULL), 400, NULL);

	char gone[37], wpath[128];
	th_create_ws(cl, "to-be-removed", NULL, gone);
	snprintf(wpath, sizeof wpath, "/workspaces/%s", gone);
	r = th_req(cl, "DELETE", wpath, NULL, NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);
	scheds_path(path, sizeof path, gone);
	th_expect_error(th_req(cl, "POST", path, "{\"name\":\"a\",\"cron_expr\":\"* * * * *\",\"prompt\":\"p\"}", NULL),
		     409, "workspace_removed");
	json_t *gl = th_get_ok(cl, path); /* a removed workspace's list is still readable, and empty */
	assert_int_equal(json_array_size(gl), 0);
	json_decref(gl);
	json_decref(before);
	json_decref(keep);
}

/* SPEC §2: DELETE /workspaces/:id "disables their schedules" (if they are still shown). */
static void test_removed_workspace_disables_schedules(void **state)
{
	(void)state;
	char gone[37], wpath[128], path[200];
	th_create_ws(cl, "removed-with-schedules", NULL, gone);
	json_t *gs = mk_sched(gone, "before-removal", "* * * * *", NULL, "p", -1);
	snprintf(wpath, sizeof wpath, "/workspaces/%s", gone);
	th_resp r = th_req(cl, "DELETE", wpath, NULL, NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);
	sched_path(path, sizeof path, gone, th_jstr(gs, "id"), NULL);
	r = th_req(cl, "GET", path, NULL, NULL);
	json_decref(gs);
	if (r.status == 200) {
		bool disabled = json_is_false(json_object_get(r.json, "enabled")) && th_jnull(r.json, "next_run_at");
		char shown[1024];
		snprintf(shown, sizeof shown, "%s", r.body);
		th_resp_free(&r);
		if (!disabled)
			fail_msg("a removed workspace's schedule is still enabled: %s", shown);
	} else {
		th_assert_error(&r, 404, "not_found");
		th_resp_free(&r);
	}
}

static void test_same_name_other_workspace_is_fine(void **state)
{
	(void)state;
	char a[37], b[37], path[160];
	th_create_ws(cl, "names-a", NULL, a);
	th_create_ws(cl, "names-b", NULL, b);
	json_t *s1 = mk_sched(a, "daily report", "@daily", NULL, "report", -1);
	scheds_path(path, sizeof path, a);
	th_resp r = th_send_json(cl, "POST", path, sched_body("daily report", "@hourly", NULL, "other", -1));
	th_assert_error(&r, 409, "name_taken");
	assert_string_equal(th_str(&r, "existing_id"), th_jstr(s1, "id"));
	th_resp_free(&r);
	json_t *s2 = mk_sched(b, "daily report", "@hourly", NULL, "other", -1);
	assert_string_not_equal(th_jstr(s1, "id"), th_jstr(s2, "id"));
	assert_string_equal(th_jstr(s2, "workspace_id"), b);
	/* the first is unchanged */
	json_t *g = get_sched(cl, a, th_jstr(s1, "id"));
	assert_string_equal(th_jstr(g, "cron_expr"), "@daily");
	assert_string_equal(th_jstr(g, "prompt"), "report");
	json_decref(g);
	/* and each workspace lists only its own */
	json_t *l = list_scheds(b);
	assert_int_equal(json_array_size(l), 1);
	assert_string_equal(th_jstr(json_array_get(l, 0), "id"), th_jstr(s2, "id"));
	json_decref(l);
	json_decref(s1);
	json_decref(s2);
}

static void test_get_errors(void **state)
{
	(void)state;
	char a[37], b[37], path[200];
	th_create_ws(cl, "get-errors-a", NULL, a);
	th_create_ws(cl, "get-errors-b", NULL, b);
	json_t *s = mk_sched(a, "mine", "@daily", NULL, "p", -1);
	const char *sid = th_jstr(s, "id");
	/* another workspace's schedule is absent here, for every verb */
	sched_path(path, sizeof path, b, sid, NULL);
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 404, "not_found");
	th_expect_error(th_req(cl, "PATCH", path, "{\"prompt\":\"stolen\"}", NULL), 404, "not_found");
	th_expect_error(th_req(cl, "DELETE", path, NULL, NULL), 404, "not_found");
	sched_path(path, sizeof path, b, sid, "/run");
	th_expect_error(th_req(cl, "POST", path, NULL, NULL), 404, "not_found");
	sched_path(path, sizeof path, b, sid, "/history");
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 404, "not_found");
	/* absent */
	sched_path(path, sizeof path, a, ABSENT_ID, NULL);
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 404, "not_found");
	th_expect_error(th_req(cl, "PATCH", path, "{\"prompt\":\"x\"}", NULL), 404, "not_found");
	th_expect_error(th_req(cl, "DELETE", path, NULL, NULL), 404, "not_found");
	sched_path(path, sizeof path, a, ABSENT_ID, "/run");
	th_expect_error(th_req(cl, "POST", path, NULL, NULL), 404, "not_found");
	sched_path(path, sizeof path, a, ABSENT_ID, "/history");
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 404, "not_found");
	/* malformed: 400 */
	const char *bad[] = {"nope", "01890000-0000-7000-8000-00000000000", "01890000-0000-7000-8000-00000000000g",
			     "zz890000-0000-7000-8000-000000000000"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		sched_path(path, sizeof path, a, bad[i], NULL);
		th_expect_error(th_req(cl, "GET", path, NULL, NULL), 400, NULL);
		th_expect_error(th_req(cl, "PATCH", path, "{\"prompt\":\"x\"}", NULL), 400, NULL);
		th_expect_error(th_req(cl, "DELETE", path, NULL, NULL), 400, NULL);
		sched_path(path, sizeof path, a, bad[i], "/run");
		th_expect_error(th_req(cl, "POST", path, NULL, NULL), 400, NULL);
		sched_path(path, sizeof path, a, bad[i], "/history");
		th_expect_error(th_req(cl, "GET", path, NULL, NULL), 400, NULL);
	}
	/* the schedule is untouched */
	json_t *g = get_sched(cl, a, sid);
	assert_true(json_equal(g, s));
	json_decref(g);
	json_decref(s);
}

static void test_list_paging(void **state)
{
	(void)state;
	char w[37], path[256], ids[7][37];
	th_create_ws(cl, "list-paging", NULL, w);
	for (int i = 0; i < 7; i++) {
		char name[16];
		snprintf(name, sizeof name, "s%d", i);
		json_t *s = mk_sched(w, name, "@daily", NULL, "p", -1);
		snprintf(ids[i], 37, "%s", th_jstr(s, "id"));
		json_decref(s);
	}
	char after[37] = "";
	int seen = 0;
	for (int page = 0; page < 6; page++) {
		snprintf(path, sizeof path, "/workspaces/%s/schedules?limit=3%s%s", w, after[0] ? "&after=" : "", after);
		json_t *l = th_get_ok(cl, path);
		size_t n = json_array_size(l);
		assert_true(n <= 3);
		for (size_t i = 0; i < n; i++) {
			const char *id = th_jstr(json_array_get(l, i), "id");
			assert_true(seen < 7);
			assert_string_equal(id, ids[seen]); /* creation = id order */
			seen++;
			snprintf(after, sizeof after, "%s", id);
		}
		json_decref(l);
		if (n < 3)
			break;
	}
	assert_int_equal(seen, 7);
	snprintf(path, sizeof path, "/workspaces/%s/schedules?limit=0", w);
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 400, NULL);
	snprintf(path, sizeof path, "/workspaces/%s/schedules?limit=1001", w);
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 400, NULL);
	snprintf(path, sizeof path, "/workspaces/%s/schedules?limit=abc", w);
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 400, NULL);
	snprintf(path, sizeof path, "/workspaces/%s/schedules?after=not-an-id", w);
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 400, NULL);
	snprintf(path, sizeof path, "/workspaces/%s/schedules?limit=1000", w);
	json_t *l = th_get_ok(cl, path);
	assert_int_equal(json_array_size(l), 7);
	json_decref(l);
}

/* ---- PATCH and DELETE ---------------------------------------------------------------- */

static th_resp patch(const char *w, const char *sid, const char *body)
{
	char path[512];
	sched_path(path, sizeof path, w, sid, NULL);
	return th_req(cl, "PATCH", path, body, NULL);
}

static json_t *patch_ok(const char *w, const char *sid, const char *body)
{
	th_resp r = patch(w, sid, body);
	if (r.status != 200 || !json_is_object(r.json))
		fail_msg("PATCH %s: %ld %s", body, r.status, r.body);
	check_sched_shape(r.json);
	json_t *j = json_incref(r.json);
	th_resp_free(&r);
	/* what PATCH answers is what GET shows */
	json_t *g = get_sched(cl, w, th_jstr(j, "id"));
	if (!json_equal(g, j)) {
		char *a = json_dumps(j, JSON_COMPACT), *b = json_dumps(g, JSON_COMPACT);
		fail_msg("PATCH answer and GET differ:\n%s\n%s", a, b);
	}
	json_decref(g);
	return j;
}

static void test_patch_rules(void **state)
{
	(void)state;
	char w[37];
	th_create_ws(cl, "patch-rules", NULL, w);
	json_t *s = mk_sched(w, "patchme", "*/5 * * * *", NULL, "v1", -1);
	json_t *other = mk_sched(w, "other", "@daily", NULL, "o", -1);
	char sid[37];
	snprintf(sid, sizeof sid, "%s", th_jstr(s, "id"));
	long long created = th_jtime(s, "created_at");

	/* prompt and name only: next_run_at stays */
	th_sleep_ms(5);
	json_t *p = patch_ok(w, sid, "{\"prompt\":\"v2 \\\"quoted\\\" \\u00fc\\nline\"}");
	assert_string_equal(th_jstr(p, "prompt"), "v2 \"quoted\" \xc3\xbc\nline");
	assert_string_equal(th_jstr(p, "next_run_at"), th_jstr(s, "next_run_at"));
	assert_string_equal(th_jstr(p, "cron_expr"), "*/5 * * * *");
	assert_string_equal(th_jstr(p, "created_at"), th_jstr(s, "created_at"));
	assert_true(th_jtime(p, "updated_at") > created);
	assert_string_equal(th_jstr(p, "source"), "runtime");
	json_decref(p);
	p = patch_ok(w, sid, "{\"name\":\"patched\"}");
	assert_string_equal(th_jstr(p, "name"), "patched");
	assert_string_equal(th_jstr(p, "next_run_at"), th_jstr(s, "next_run_at"));
	json_decref(p);
	/* its own name again is no clash; an empty patch changes nothing that matters */
	p = patch_ok(w, sid, "{\"name\":\"patched\"}");
	assert_string_equal(th_jstr(p, "name"), "patched");
	json_decref(p);
	p = patch_ok(w, sid, "{}");
	assert_string_equal(th_jstr(p, "name"), "patched");
	assert_string_equal(th_jstr(p, "prompt"), "v2 \"quoted\" \xc3\xbc\nline");
	json_decref(p);

	/* cron_expr recomputes next_run_at */
	long long before = th_now_us();
	p = patch_ok(w, sid, "{\"cron_expr\":\"0 0 1 1 *\"}");
	time_t secs = (time_t)(before / SEC_US);
	struct tm tm;
	gmtime_r(&secs, &tm);
	long long want = utc_us(tm.tm_year + 1901, 1, 1, 0, 0, 0);
	if (th_jtime(p, "next_run_at") != want)
		fail_msg("after PATCH cron_expr 0 0 1 1 *: next_run_at %s", th_jstr(p, "next_run_at"));
	json_decref(p);
	/* timezone recomputes it too: midnight in New York is 05:00Z in January */
	p = patch_ok(w, sid, "{\"timezone\":\"America/New_York\"}");
	assert_string_equal(th_jstr(p, "timezone"), "America/New_York");
	long long want_ny = utc_us(tm.tm_year + 1900, 1, 1, 5, 0, 0);
	if (want_ny <= before)
		want_ny = utc_us(tm.tm_year + 1901, 1, 1, 5, 0, 0);
	if (th_jtime(p, "next_run_at") != want_ny)
		fail_msg("after PATCH timezone: next_run_at %s", th_jstr(p, "next_run_at"));
	json_decref(p);
	/* both at once */
	before = th_now_us();
	p = patch_ok(w, sid, "{\"cron_expr\":\"* * * * *\",\"timezone\":\"Asia/Kolkata\"}");
	long long next = th_jtime(p, "next_run_at");
	assert_int_equal(next % MIN_US, 0);
	assert_true(next > before - SEC_US && next <= th_now_us() + MIN_US);
	json_decref(p);

	/* bad patches: 4xx, nothing changes */
	json_t *cur = get_sched(cl, w, sid);
	struct bad_case bad[] = {
		{"{\"cron_expr\":\"61 * * * *\"}", 400, "invalid_cron", "minute"},
		{"{\"cron_expr\":\"\"}", 400, NULL, NULL},
		{"{\"timezone\":\"Mars/Olympus\"}", 400, "invalid_timezone", NULL},
		{"{\"timezone\":\"../etc/passwd\"}", 400, "invalid_timezone", NULL},
		{"{\"cron_expr\":\"0 0 * * *\",\"timezone\":\"Nowhere/Special\"}", 400, "invalid_timezone", NULL},
		{"{\"name\":\"\"}", 400, "invalid", NULL},
		{"{\"name\":7}", 400, "invalid", NULL},
		{"{\"enabled\":1}", 400, "invalid", NULL},
		{"{\"cron_expr\":[]}", 400, "invalid", NULL},
		{"[]", 400, NULL, NULL},
		{"{\"prompt\":", 400, NULL, NULL},
		{"{\"name\":\"other\"}", 409, "name_taken", NULL},
		{"{\"name\":\"other\",\"prompt\":\"half\"}", 409, "name_taken", NULL},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		th_resp r = patch(w, sid, bad[i].body);
		if (r.status != bad[i].status)
			fail_msg("PATCH case %zu %s: expected %ld got %ld %s", i, bad[i].body, bad[i].status, r.status,
				 r.body);
		th_assert_error(&r, bad[i].status, bad[i].code);
		if (bad[i].mentions && !strstr(th_str(&r, "error"), bad[i].mentions))
			fail_msg("PATCH case %zu: message does not mention %s: %s", i, bad[i].mentions, r.body);
		if (bad[i].code && !strcmp(bad[i].code, "name_taken"))
			assert_string_equal(th_str(&r, "existing_id"), th_jstr(other, "id"));
		th_resp_free(&r);
		json_t *g = get_sched(cl, w, sid);
		if (!json_equal(g, cur))
			fail_msg("PATCH case %zu %s changed the schedule", i, bad[i].body);
		json_decref(g);
	}
	json_decref(cur);
	/* null for a string field: either refused (400) or ignored — never written */
	const char *nulls[] = {"{\"prompt\":null}", "{\"name\":null}", "{\"cron_expr\":null}", "{\"timezone\":null}"};
	for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++) {
		json_t *was = get_sched(cl, w, sid);
		th_resp r = patch(w, sid, nulls[i]);
		if (r.status != 200)
			th_assert_error(&r, 400, "invalid");
		th_resp_free(&r);
		json_t *now = get_sched(cl, w, sid);
		json_object_del(was, "updated_at");
		json_object_del(now, "updated_at");
		if (!json_equal(was, now))
			fail_msg("PATCH %s changed the schedule", nulls[i]);
		json_decref(was);
		json_decref(now);
	}

	/* disable: next_run_at null; enable: from now (in the future, never the past) */
	p = patch_ok(w, sid, "{\"enabled\":false}");
	assert_true(json_is_false(json_object_get(p, "enabled")));
	assert_true(th_jnull(p, "next_run_at"));
	json_decref(p);
	/* changing the cron of a disabled schedule keeps it disabled with no next run */
	p = patch_ok(w, sid, "{\"cron_expr\":\"*/2 * * * *\"}");
	assert_true(json_is_false(json_object_get(p, "enabled")));
	assert_true(th_jnull(p, "next_run_at"));
	json_decref(p);
	before = th_now_us();
	p = patch_ok(w, sid, "{\"enabled\":true}");
	long long after = th_now_us();
	assert_true(json_is_true(json_object_get(p, "enabled")));
	next = th_jtime(p, "next_run_at");
	assert_true(next > before);
	assert_true(next <= after + 2 * MIN_US);
	assert_int_equal((next / MIN_US) % 2, 0);
	assert_int_equal(next % MIN_US, 0);
	json_decref(p);
	/* enable twice: still a future slot */
	p = patch_ok(w, sid, "{\"enabled\":true}");
	assert_true(th_jtime(p, "next_run_at") > before);
	json_decref(p);
	/* run fields are not PATCHable (unknown/readonly fields are ignored, never written) */
	th_resp r = patch(w, sid, "{\"run_count\":99,\"last_status\":\"ok\",\"source\":\"template\"}");
	if (r.status == 200) {
		assert_int_equal(th_int(&r, "run_count"), 0);
		assert_true(th_jnull(r.json, "last_status"));
		assert_string_equal(th_str(&r, "source"), "runtime");
	} else {
		th_assert_error(&r, 400, NULL);
	}
	th_resp_free(&r);
	json_decref(other);
	json_decref(s);
}

static void test_delete(void **state)
{
	(void)state;
	char w[37], path[512];
	th_create_ws(cl, "delete-tests", NULL, w);
	json_t *s = mk_sched(w, "doomed", "@hourly", NULL, "p", -1);
	json_t *k = mk_sched(w, "kept", "@hourly", NULL, "p", -1);
	sched_path(path, sizeof path, w, th_jstr(s, "id"), NULL);
	th_resp r = th_req(cl, "DELETE", path, NULL, NULL);
	assert_int_equal(r.status, 204);
	assert_int_equal(r.len, 0);
	th_resp_free(&r);
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 404, "not_found");
	th_expect_error(th_req(cl, "DELETE", path, NULL, NULL), 404, "not_found");
	th_expect_error(th_req(cl, "PATCH", path, "{\"prompt\":\"x\"}", NULL), 404, "not_found");
	sched_path(path, sizeof path, w, th_jstr(s, "id"), "/run");
	th_expect_error(th_req(cl, "POST", path, NULL, NULL), 404, "not_found");
	json_t *l = list_scheds(w);
	assert_int_equal(json_array_size(l), 1);
	assert_string_equal(th_jstr(json_array_get(l, 0), "id"), th_jstr(k, "id"));
	json_decref(l);
	/* the name is free again, with a new id */
	json_t *again = mk_sched(w, "doomed", "@daily", NULL, "p2", -1);
	assert_string_not_equal(th_jstr(again, "id"), th_jstr(s, "id"));
	json_decref(again);
	json_decref(s);
	json_decref(k);
}

/* ---- manual runs, history ------------------------------------------------------------ */

static json_t *run_ok(th_client *c, const char *w, const char *sid, const char *body)
{
	char path[512];
	sched_path(path, sizeof path, w, sid, "/run");
	th_resp r = th_req(c, "POST", path, body, NULL);
	if (r.status != 202 || !json_is_object(r.json))
		fail_msg("POST run: %ld %s", r.status, r.body);
	json_t *j = json_incref(r.json);
	th_resp_free(&r);
	return j;
}

static void check_run_shape(json_t *run, const char *w, const char *sid, const char *trigger)
{
	th_assert_uuid7(th_jstr(run, "id"));
	assert_string_equal(th_jstr(run, "schedule_id"), sid);
	assert_string_equal(th_jstr(run, "workspace_id"), w);
	assert_string_equal(th_jstr(run, "trigger"), trigger);
	th_jtime(run, "slot_at");
	th_jtime(run, "fired_at");
	th_assert_uuid7(th_jstr(run, "message_id"));
	assert_non_null(th_jstr(run, "status"));
	assert_non_null(json_object_get(run, "error"));
	assert_non_null(json_object_get(run, "finished_at"));
}

static void test_manual_run_inbox_history(void **state)
{
	(void)state;
	char w[37], path[512];
	th_create_ws(cl, "manual-runs", NULL, w);
	const char *prompt = "Summarise today's PRs.\n\"Be brief\" \xc3\xa9\\";
	json_t *s = mk_sched(w, "summary", "0 9 * * *", "Europe/Berlin", prompt, 0); /* disabled */
	char sid[37];
	snprintf(sid, sizeof sid, "%s", th_jstr(s, "id"));

	long long before = th_now_us();
	json_t *run = run_ok(cl, w, sid, NULL); /* works even if disabled */
	long long after = th_now_us();
	check_run_shape(run, w, sid, "manual");
	assert_string_equal(th_jstr(run, "status"), "fired");
	assert_true(th_jnull(run, "error"));
	long long fired = th_jtime(run, "fired_at");
	assert_true(fired >= before - 2 * SEC_US && fired <= after + 2 * SEC_US);

	json_t *g = get_sched(cl, w, sid);
	check_sched_shape(g);
	assert_int_equal(th_jint(g, "run_count"), 1);
	assert_string_equal(th_jstr(g, "last_status"), "fired");
	assert_true(th_jnull(g, "last_error"));
	assert_string_equal(th_jstr(g, "last_run_id"), th_jstr(run, "id"));
	long long last = th_jtime(g, "last_run_at");
	assert_true(last >= before - 2 * SEC_US && last <= after + 2 * SEC_US);
	assert_true(json_is_false(json_object_get(g, "enabled")));
	assert_true(th_jnull(g, "next_run_at")); /* still disabled */
	assert_string_equal(th_jstr(g, "prompt"), prompt);
	json_decref(g);

	/* the inbox holds exactly one message: the prompt as a JSON string */
	snprintf(path, sizeof path, "/workspaces/%s/inbox", w);
	json_t *l = th_get_ok(cl, path);
	assert_int_equal(json_array_size(l), 1);
	json_t *m = json_array_get(l, 0);
	assert_string_equal(th_jstr(m, "id"), th_jstr(run, "message_id"));
	assert_true(json_is_string(json_object_get(m, "body")));
	assert_string_equal(th_jstr(m, "body"), prompt);
	assert_string_equal(th_jstr(m, "source"), "schedule");
	assert_string_equal(th_jstr(m, "schedule_id"), sid);
	assert_string_equal(th_jstr(m, "run_id"), th_jstr(run, "id"));
	assert_string_equal(th_jstr(m, "status"), "queued");
	assert_string_equal(th_jstr(m, "workspace_id"), w);
	json_decref(l);
	snprintf(path, sizeof path, "/workspaces/%s/inbox/%s", w, th_jstr(run, "message_id"));
	m = th_get_ok(cl, path);
	assert_string_equal(th_jstr(m, "body"), prompt);
	json_decref(m);

	/* two more runs (one with an empty JSON body): run_count 3, history newest first */
	json_t *run2 = run_ok(cl, w, sid, "{}");
	json_t *run3 = run_ok(cl, w, sid, NULL);
	assert_string_not_equal(th_jstr(run2, "id"), th_jstr(run3, "id"));
	assert_string_not_equal(th_jstr(run2, "message_id"), th_jstr(run3, "message_id"));
	g = get_sched(cl, w, sid);
	assert_int_equal(th_jint(g, "run_count"), 3);
	assert_string_equal(th_jstr(g, "last_run_id"), th_jstr(run3, "id"));
	json_decref(g);
	sched_path(path, sizeof path, w, sid, "/history");
	json_t *h = th_get_ok(cl, path);
	assert_true(json_is_array(h));
	assert_int_equal(json_array_size(h), 3);
	const char *want[3] = {th_jstr(run3, "id"), th_jstr(run2, "id"), th_jstr(run, "id")};
	for (size_t i = 0; i < 3; i++) {
		json_t *e = json_array_get(h, i);
		check_run_shape(e, w, sid, "manual");
		assert_string_equal(th_jstr(e, "id"), want[i]);
		if (i > 0)
			assert_true(th_jtime(json_array_get(h, i - 1), "fired_at") >= th_jtime(e, "fired_at"));
	}
	assert_string_equal(th_jstr(json_array_get(h, 2), "message_id"), th_jstr(run, "message_id"));
	json_decref(h);
	sched_path(path, sizeof path, w, sid, "/history?limit=2");
	h = th_get_ok(cl, path);
	assert_int_equal(json_array_size(h), 2);
	assert_string_equal(th_jstr(json_array_get(h, 0), "id"), th_jstr(run3, "id"));
	assert_string_equal(th_jstr(json_array_get(h, 1), "id"), th_jstr(run2, "id"));
	json_decref(h);
	/* the next page continues after the last id seen, in the same (newest first) order */
	char q[120];
	snprintf(q, sizeof q, "/history?limit=2&after=%s", th_jstr(run2, "id"));
	sched_path(path, sizeof path, w, sid, q);
	h = th_get_ok(cl, path);
	assert_int_equal(json_array_size(h), 1);
	assert_string_equal(th_jstr(json_array_get(h, 0), "id"), th_jstr(run, "id"));
	json_decref(h);
	sched_path(path, sizeof path, w, sid, "/history?limit=0");
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 400, NULL);
	snprintf(path, sizeof path, "/workspaces/%s/inbox", w);
	l = th_get_ok(cl, path);
	assert_int_equal(json_array_size(l), 3);
	json_decref(l);

	/* a schedule never run has an empty history */
	json_t *fresh = mk_sched(w, "fresh", "@daily", NULL, "p", -1);
	sched_path(path, sizeof path, w, th_jstr(fresh, "id"), "/history");
	h = th_get_ok(cl, path);
	assert_true(json_is_array(h));
	assert_int_equal(json_array_size(h), 0);
	json_decref(h);
	json_decref(fresh);

	/* a run on a removed workspace does not fire */
	char gone[37], gpath[128];
	th_create_ws(cl, "manual-removed", NULL, gone);
	json_t *gs = mk_sched(gone, "x", "@daily", NULL, "p", -1);
	snprintf(gpath, sizeof gpath, "/workspaces/%s", gone);
	th_resp r = th_req(cl, "DELETE", gpath, NULL, NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);
	sched_path(path, sizeof path, gone, th_jstr(gs, "id"), "/run");
	r = th_req(cl, "POST", path, NULL, NULL);
	if (r.status != 409 && r.status != 404)
		fail_msg("run on a removed workspace: %ld %s", r.status, r.body);
	th_assert_error(&r, r.status, r.status == 409 ? "workspace_removed" : "not_found");
	th_resp_free(&r);
	json_decref(gs);

	json_decref(run);
	json_decref(run2);
	json_decref(run3);
	json_decref(s);
}

/* ---- races ---------------------------------------------------------------------------- */

#define RACERS 16

struct name_race {
	char ws[37];
	char ids[RACERS][37]; /* rename race: each thread's schedule */
	long status[RACERS];
	char got_id[RACERS][37]; /* 201/200: id; 409: existing_id */
	char code[RACERS][32];
};

static void record(struct name_race *nr, int i, th_resp *r, const char *ok_id_field)
{
	nr->status[i] = r->status;
	const char *id = th_str(r, (r->status == 200 || r->status == 201) ? ok_id_field : "existing_id");
	snprintf(nr->got_id[i], 37, "%s", id ? id : "");
	const char *code = th_str(r, "code");
	snprintf(nr->code[i], 32, "%s", code ? code : "");
}

static void create_same_name(int i, void *arg)
{
	struct name_race *nr = arg;
	th_client *c = th_client_new(&srv);
	char path[128];
	scheds_path(path, sizeof path, nr->ws);
	th_resp r = th_reqf(c, "POST", path, "{\"name\":\"contested\",\"cron_expr\":\"@daily\",\"prompt\":\"by %d\"}", i);
	record(nr, i, &r, "id");
	th_resp_free(&r);
	th_client_free(c);
}

static void rename_to_same(int i, void *arg)
{
	struct name_race *nr = arg;
	th_client *c = th_client_new(&srv);
	char path[512];
	sched_path(path, sizeof path, nr->ws, nr->ids[i], NULL);
	th_resp r = th_req(c, "PATCH", path, "{\"name\":\"renamed-target\"}", NULL);
	record(nr, i, &r, "id");
	th_resp_free(&r);
	th_client_free(c);
}

/* One winner with status ok_status; the rest 409 name_taken naming the winner. Returns it. */
static int check_one_winner(struct name_race *nr, long ok_status)
{
	int winner = -1, won = 0, taken = 0;
	for (int i = 0; i < RACERS; i++) {
		if (nr->status[i] == ok_status) {
			won++;
			winner = i;
		} else if (nr->status[i] == 409 && !strcmp(nr->code[i], "name_taken")) {
			taken++;
		} else {
			fail_msg("racer %d got %ld %s", i, nr->status[i], nr->code[i]);
		}
	}
	assert_int_equal(won, 1);
	assert_int_equal(taken, RACERS - 1);
	for (int i = 0; i < RACERS; i++)
		assert_string_equal(nr->got_id[i], nr->got_id[winner]);
	return winner;
}

static int count_named(json_t *l, const char *name)
{
	int n = 0;
	for (size_t i = 0; i < json_array_size(l); i++)
		n += !strcmp(th_jstr(json_array_get(l, i), "name"), name);
	return n;
}

static void test_create_name_race(void **state)
{
	(void)state;
	static struct name_race nr;
	memset(&nr, 0, sizeof nr);
	th_create_ws(cl, "name-race", NULL, nr.ws);
	th_race(RACERS, create_same_name, &nr);
	int winner = check_one_winner(&nr, 201);
	json_t *l = list_scheds(nr.ws);
	assert_int_equal(json_array_size(l), 1);
	assert_int_equal(count_named(l, "contested"), 1);
	json_t *s = json_array_get(l, 0);
	assert_string_equal(th_jstr(s, "id"), nr.got_id[winner]);
	char want[32];
	snprintf(want, sizeof want, "by %d", winner);
	assert_string_equal(th_jstr(s, "prompt"), want); /* the winner's body, whole */
	json_decref(l);
}

static void test_rename_name_race(void **state)
{
	(void)state;
	static struct name_race nr;
	memset(&nr, 0, sizeof nr);
	th_create_ws(cl, "rename-race", NULL, nr.ws);
	for (int i = 0; i < RACERS; i++) {
		char name[16];
		snprintf(name, sizeof name, "r%d", i);
		json_t *s = mk_sched(nr.ws, name, "@daily", NULL, "p", -1);
		snprintf(nr.ids[i], 37, "%s", th_jstr(s, "id"));
		json_decref(s);
	}
	th_race(RACERS, rename_to_same, &nr);
	int winner = check_one_winner(&nr, 200);
	assert_string_equal(nr.got_id[winner], nr.ids[winner]);
	json_t *l = list_scheds(nr.ws);
	assert_int_equal(json_array_size(l), RACERS);
	assert_int_equal(count_named(l, "renamed-target"), 1);
	for (int i = 0; i < RACERS; i++) {
		json_t *s = json_array_get(l, (size_t)i);
		assert_string_equal(th_jstr(s, "id"), nr.ids[i]);
		if (i == winner) {
			assert_string_equal(th_jstr(s, "name"), "renamed-target");
		} else {
			char name[16];
			snprintf(name, sizeof name, "r%d", i);
			assert_string_equal(th_jstr(s, "name"), name); /* losers keep their names */
		}
	}
	json_decref(l);
}

/* ---- webhooks: an HTTP receiver inside the test -------------------------------------- */

struct hook {
	int fd;
	unsigned port;
	int answer; /* the status to answer; 0: never answer (hold the connection ~3 s) */
	pthread_t tid;
	atomic_int stop;
	pthread_mutex_t mu;
	int nreq;
	char method[16], path[256], ctype[128];
	char *body; /* the last request's body (decoded), NUL-terminated */
};

/* The value of header `name` in the header block hdr (NUL-terminated), or "" */
static void header_value(const char *hdr, const char *name, char *out, size_t cap)
{
	out[0] = 0;
	size_t nl = strlen(name);
	for (const char *p = strstr(hdr, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2;
		if (!strncasecmp(line, name, nl) && line[nl] == ':') {
			const char *v = line + nl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t n = strcspn(v, "\r\n");
			if (n >= cap)
				n = cap - 1;
			memcpy(out, v, n);
			out[n] = 0;
			return;
		}
	}
}

/* Decodes a chunked body in place; returns its length, or -1 if incomplete. */
static long dechunk(char *b, size_t n)
{
	size_t r = 0, w = 0;
	for (;;) {
		char *end;
		if (r >= n)
			return -1;
		unsigned long sz = strtoul(b + r, &end, 16);
		char *crlf = strstr(b + r, "\r\n");
		if (!crlf || (size_t)(crlf - b) >= n || end > crlf)
			return -1;
		r = (size_t)(crlf - b) + 2;
		if (sz == 0)
			return (long)w;
		if (r + sz + 2 > n)
			return -1;
		memmove(b + w, b + r, sz);
		w += sz;
		r += sz + 2;
	}
}

static void *hook_main(void *p)
{
	struct hook *h = p;
	while (!atomic_load(&h->stop)) {
		struct pollfd pfd = {h->fd, POLLIN, 0};
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		int c = accept(h->fd, NULL, NULL);
		if (c < 0)
			continue;
		struct timeval tv = {5, 0};
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		size_t cap = 1 << 16, len = 0;
		char *buf = malloc(cap);
		long hdr_end = -1, body_len = -1;
		bool chunked = false, sent_continue = false;
		char cl_s[32], te[64], expect[64];
		while (buf) {
			if (len + 1 >= cap) {
				char *nb = realloc(buf, cap * 2);
				if (!nb)
					break;
				buf = nb;
				cap *= 2;
			}
			if (hdr_end >= 0) {
				if (!chunked && (long)len - hdr_end >= body_len)
					break;
				if (chunked) {
					char *tmp = malloc(len - (size_t)hdr_end + 1);
					memcpy(tmp, buf + hdr_end, len - (size_t)hdr_end);
					tmp[len - (size_t)hdr_end] = 0;
					long dl = dechunk(tmp, len - (size_t)hdr_end);
					if (dl >= 0) {
						memcpy(buf + hdr_end, tmp, (size_t)dl);
						len = (size_t)hdr_end + (size_t)dl;
						free(tmp);
						break;
					}
					free(tmp);
				}
			}
			ssize_t n = recv(c, buf + len, cap - len - 1, 0);
			if (n <= 0)
				break;
			len += (size_t)n;
			buf[len] = 0;
			if (hdr_end < 0) {
				char *e = strstr(buf, "\r\n\r\n");
				if (!e)
					continue;
				hdr_end = e - buf + 4;
				char saved = buf[hdr_end - 2];
				buf[hdr_end - 2] = 0; /* the header block, ending with one CRLF */
				header_value(buf, "Content-Length", cl_s, sizeof cl_s);
				header_value(buf, "Transfer-Encoding", te, sizeof te);
				header_value(buf, "Expect", expect, sizeof expect);
				pthread_mutex_lock(&h->mu);
				sscanf(buf, "%15s %255s", h->method, h->path);
				header_value(buf, "Content-Type", h->ctype, sizeof h->ctype);
				pthread_mutex_unlock(&h->mu);
				buf[hdr_end - 2] = saved;
				chunked = strcasestr(te, "chunked") != NULL;
				body_len = cl_s[0] ? atol(cl_s) : 0;
				if (!strncasecmp(expect, "100-continue", 12) && !sent_continue) {
					const char *cont = "HTTP/1.1 100 Continue\r\n\r\n";
					if (send(c, cont, strlen(cont), MSG_NOSIGNAL) < 0)
						break;
					sent_continue = true;
				}
			}
		}
		if (buf && hdr_end >= 0) {
			pthread_mutex_lock(&h->mu);
			h->nreq++;
			free(h->body);
			size_t bl = len - (size_t)hdr_end;
			h->body = malloc(bl + 1);
			if (h->body) {
				memcpy(h->body, buf + hdr_end, bl);
				h->body[bl] = 0;
			}
			pthread_mutex_unlock(&h->mu);
		}
		free(buf);
		if (h->answer > 0) {
			char resp[200];
			int n = snprintf(resp, sizeof resp,
					 "HTTP/1.1 %d Status\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
					 "Connection: close\r\n\r\nok",
					 h->answer);
			if (send(c, resp, (size_t)n, MSG_NOSIGNAL) < 0) { /* the sender gave up: fine */
			}
		} else {
			for (int waited = 0; waited < 3000 && !atomic_load(&h->stop); waited += 50)
				th_sleep_ms(50);
		}
		shutdown(c, SHUT_RDWR);
		close(c);
	}
	return NULL;
}

static void hook_start(struct hook *h, int answer)
{
	memset(h, 0, sizeof *h);
	h->answer = answer;
	pthread_mutex_init(&h->mu, NULL);
	h->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(h->fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(h->fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(h->fd, 16), 0);
	socklen_t al = sizeof a;
	assert_int_equal(getsockname(h->fd, (struct sockaddr *)&a, &al), 0);
	h->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&h->tid, NULL, hook_main, h), 0);
}

static void hook_stop(struct hook *h)
{
	atomic_store(&h->stop, 1);
	pthread_join(h->tid, NULL);
	close(h->fd);
	free(h->body);
	h->body = NULL;
	pthread_mutex_destroy(&h->mu);
}

static int hook_count(struct hook *h)
{
	pthread_mutex_lock(&h->mu);
	int n = h->nreq;
	pthread_mutex_unlock(&h->mu);
	return n;
}

/* A port nothing listens on (bound, then closed). */
static unsigned closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t al = sizeof a;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void mk_ws_url(th_client *c, const char *name, const char *url, char *out)
{
	json_t *o = json_pack("{s:s,s:s}", "name", name, "url", url);
	th_resp r = th_send_json(c, "POST", "/workspaces", o);
	if (r.status != 201)
		fail_msg("creating workspace with url %s: %ld %s", url, r.status, r.body);
	assert_string_equal(th_str(&r, "url"), url);
	snprintf(out, 37, "%s", th_str(&r, "id"));
	th_resp_free(&r);
}

/* Polls the schedule until last_status is neither null nor "fired" (or timeout_ms). */
static json_t *await_outcome(th_client *c, const char *w, const char *sid, int timeout_ms)
{
	json_t *g = NULL;
	for (int waited = 0; waited <= timeout_ms; waited += 20) {
		json_decref(g);
		g = get_sched(c, w, sid);
		const char *st = th_jstr(g, "last_status");
		if (st && strcmp(st, "fired"))
			return g;
		th_sleep_ms(20);
	}
	return g;
}

/* One manual run of a new schedule in a workspace with this url; returns the schedule after
 * the outcome; *run_out gets the run. */
static json_t *run_with_url(th_client *c, const char *tag, const char *url, const char *prompt, json_t **run_out,
			    char *w_out)
{
	char w[37];
	mk_ws_url(c, tag, url, w);
	/* a slot that never comes during the test: only the manual run fires */
	json_t *s = mk_sched_c(c, w, tag, "0 0 29 2 *", NULL, prompt, 1);
	json_t *run = run_ok(c, w, th_jstr(s, "id"), NULL);
	assert_string_equal(th_jstr(run, "status"), "fired");
	json_t *g = await_outcome(c, w, th_jstr(s, "id"), 15000);
	json_decref(s);
	*run_out = run;
	snprintf(w_out, 37, "%s", w);
	return g;
}

static void test_webhook_delivered(void **state)
{
	(void)state;
	th_server hs;
	th_server_start(&hs, hook_args);
	th_client *c = th_client_new(&hs);
	static struct hook h;
	hook_start(&h, 200);
	char url[128], w[37], path[200];
	snprintf(url, sizeof url, "http://127.0.0.1:%u/hook", h.port);
	const char *prompt = "Deploy \"staging\"\nthen report \xe2\x9c\x93";
	json_t *run;
	json_t *g = run_with_url(c, "hooked", url, prompt, &run, w);
	if (!th_jstr(g, "last_status") || strcmp(th_jstr(g, "last_status"), "delivered"))
		fail_msg("expected delivered: %s", json_dumps(g, JSON_COMPACT));
	assert_true(th_jnull(g, "last_error"));
	assert_int_equal(th_jint(g, "run_count"), 1);
	th_sleep_ms(300); /* no second delivery follows */
	assert_int_equal(hook_count(&h), 1);
	pthread_mutex_lock(&h.mu);
	assert_string_equal(h.method, "POST");
	assert_string_equal(h.path, "/hook");
	if (strncasecmp(h.ctype, "application/json", 16) != 0)
		fail_msg("webhook Content-Type: %s", h.ctype);
	json_t *b = json_loads(h.body ? h.body : "", JSON_DECODE_ANY, NULL);
	if (!json_is_object(b))
		fail_msg("webhook body is not a JSON object: %s", h.body ? h.body : "(none)");
	pthread_mutex_unlock(&h.mu);
	assert_string_equal(th_jstr(b, "prompt"), prompt);
	assert_string_equal(th_jstr(b, "schedule_id"), th_jstr(g, "id"));
	assert_string_equal(th_jstr(b, "schedule_name"), "hooked");
	assert_string_equal(th_jstr(b, "workspace_id"), w);
	assert_string_equal(th_jstr(b, "run_id"), th_jstr(run, "id"));
	assert_string_equal(th_jstr(b, "message_id"), th_jstr(run, "message_id"));
	assert_int_equal(th_jtime(b, "slot_at"), th_jtime(run, "slot_at"));
	assert_int_equal(th_jtime(b, "fired_at"), th_jtime(run, "fired_at"));
	json_decref(b);
	/* the run in the history shows the outcome; the inbox message is there as well */
	sched_path(path, sizeof path, w, th_jstr(g, "id"), "/history");
	json_t *hist = th_get_ok(c, path);
	assert_int_equal(json_array_size(hist), 1);
	assert_string_equal(th_jstr(json_array_get(hist, 0), "id"), th_jstr(run, "id"));
	assert_string_equal(th_jstr(json_array_get(hist, 0), "status"), "delivered");
	json_decref(hist);
	snprintf(path, sizeof path, "/workspaces/%s/inbox/%s", w, th_jstr(run, "message_id"));
	json_t *m = th_get_ok(c, path);
	assert_string_equal(th_jstr(m, "body"), prompt);
	assert_string_equal(th_jstr(m, "source"), "schedule");
	json_decref(m);
	json_decref(run);
	json_decref(g);
	hook_stop(&h);
	th_client_free(c);
	assert_int_equal(th_server_stop(&hs), 0);
}

static void expect_webhook_error(th_client *c, const char *tag, const char *url)
{
	char w[37];
	json_t *run;
	json_t *g = run_with_url(c, tag, url, "will not arrive", &run, w);
	if (!th_jstr(g, "last_status") || strcmp(th_jstr(g, "last_status"), "error"))
		fail_msg("%s: expected last_status error: %s", tag, json_dumps(g, JSON_COMPACT));
	const char *e = th_jstr(g, "last_error");
	if (!e || !*e)
		fail_msg("%s: last_error is empty: %s", tag, json_dumps(g, JSON_COMPACT));
	assert_int_equal(th_jint(g, "run_count"), 1);
	/* the message was enqueued anyway: nothing lost */
	char path[512];
	snprintf(path, sizeof path, "/workspaces/%s/inbox/%s", w, th_jstr(run, "message_id"));
	json_t *m = th_get_ok(c, path);
	assert_string_equal(th_jstr(m, "body"), "will not arrive");
	json_decref(m);
	json_decref(run);
	json_decref(g);
}

static void test_webhook_errors(void **state)
{
	(void)state;
	th_server hs;
	th_server_start(&hs, hook_args);
	th_client *c = th_client_new(&hs);
	static struct hook h500, hang;
	char url[128];

	hook_start(&h500, 500);
	snprintf(url, sizeof url, "http://127.0.0.1:%u/hook", h500.port);
	expect_webhook_error(c, "answers-500", url);
	assert_true(hook_count(&h500) >= 1);

	snprintf(url, sizeof url, "http://127.0.0.1:%u/hook", closed_port());
	expect_webhook_error(c, "closed-port", url);

	hook_start(&hang, 0); /* reads the request, never answers: --webhook-timeout-ms 1000 */
	snprintf(url, sizeof url, "http://127.0.0.1:%u/hook", hang.port);
	expect_webhook_error(c, "never-answers", url);
	assert_true(hook_count(&hang) >= 1);

	hook_stop(&h500);
	hook_stop(&hang);
	th_client_free(c);
	assert_int_equal(th_server_stop(&hs), 0);
}

/* A url that never answers does not hold up another workspace's webhook: when the fast
 * one shows "delivered", the slow one is still "fired" (in flight). With one delivery
 * thread the fast one would wait for the slow one's timeout, which ends in "error". */
static void test_slow_webhook_does_not_block_others(void **state)
{
	(void)state;
	static const char *const args[] = {"--no-scheduler", "--webhook-timeout-ms", "2500", NULL};
	th_server hs;
	th_server_start(&hs, args);
	th_client *c = th_client_new(&hs);
	static struct hook slow, fast;
	hook_start(&slow, 0); /* reads the request, never answers */
	hook_start(&fast, 200);
	char url[128], ws_slow[37], ws_fast[37];
	snprintf(url, sizeof url, "http://127.0.0.1:%u/slow", slow.port);
	mk_ws_url(c, "slow-hook", url, ws_slow);
	snprintf(url, sizeof url, "http://127.0.0.1:%u/fast", fast.port);
	mk_ws_url(c, "fast-hook", url, ws_fast);
	json_t *s1 = mk_sched_c(c, ws_slow, "slow", "0 0 29 2 *", NULL, "slow", 1);
	json_t *s2 = mk_sched_c(c, ws_fast, "fast", "0 0 29 2 *", NULL, "fast", 1);
	json_t *r1 = run_ok(c, ws_slow, th_jstr(s1, "id"), NULL);
	for (int waited = 0; hook_count(&slow) == 0 && waited < 5000; waited += 10)
		th_sleep_ms(10); /* the slow POST is in flight */
	assert_int_equal(hook_count(&slow), 1);
	json_t *r2 = run_ok(c, ws_fast, th_jstr(s2, "id"), NULL);
	json_t *g2 = await_outcome(c, ws_fast, th_jstr(s2, "id"), 15000);
	json_t *g1 = get_sched(c, ws_slow, th_jstr(s1, "id"));
	assert_string_equal(th_jstr(g2, "last_status"), "delivered");
	assert_string_equal(th_jstr(g1, "last_status"), "fired"); /* still in flight */
	json_decref(g1);
	g1 = await_outcome(c, ws_slow, th_jstr(s1, "id"), 15000);
	assert_string_equal(th_jstr(g1, "last_status"), "error"); /* then it times out */
	json_decref(g1);
	json_decref(g2);
	json_decref(r1);
	json_decref(r2);
	json_decref(s1);
	json_decref(s2);
	hook_stop(&slow);
	hook_stop(&fast);
	th_client_free(c);
	assert_int_equal(th_server_stop(&hs), 0);
}

/* SIGTERM while a webhook is in flight (the receiver never answers): colonyd still exits
 * cleanly and promptly, and after a restart the run is not left without an outcome. */
static void test_webhook_in_flight_at_shutdown(void **state)
{
	(void)state;
	static th_server hs;
	th_server_start(&hs, hook_args);
	th_client *c = th_client_new(&hs);
	static struct hook hang;
	hook_start(&hang, 0);
	char url[128], w[37];
	snprintf(url, sizeof url, "http://127.0.0.1:%u/slow", hang.port);
	mk_ws_url(c, "slow-agent", url, w);
	json_t *s = mk_sched_c(c, w, "slow", "0 0 29 2 *", NULL, "p", 1);
	json_t *run = run_ok(c, w, th_jstr(s, "id"), NULL);
	for (int waited = 0; hook_count(&hang) == 0; waited += 10) {
		if (waited > 5000)
			fail_msg("the webhook never arrived");
		th_sleep_ms(10);
	}
	th_client_free(c);
	long long t = th_now_us();
	assert_int_equal(th_server_stop_keep(&hs), 0);
	long long took = th_now_us() - t;
	fprintf(stderr, "shutdown with a webhook in flight took %lld ms\n", took / 1000);
	assert_true(took < 5 * SEC_US);
	th_server_restart(&hs);
	c = th_client_new(&hs);
	json_t *g = get_sched(c, w, th_jstr(s, "id"));
	const char *st = th_jstr(g, "last_status");
	fprintf(stderr, "after restart: last_status %s, last_error %s\n", st ? st : "null",
		th_jstr(g, "last_error") ? th_jstr(g, "last_error") : "null");
	assert_int_equal(th_jint(g, "run_count"), 1);
	if (!st || strcmp(st, "error"))
		fail_msg("a webhook cut short by shutdown left last_status %s (expected error): %s", st ? st : "null",
			 json_dumps(g, JSON_COMPACT));
	json_decref(g);
	json_decref(run);
	json_decref(s);
	th_client_free(c);
	hook_stop(&hang);
	assert_int_equal(th_server_stop(&hs), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_shape_get_and_list),
		cmocka_unit_test(test_next_run_examples),
		cmocka_unit_test(test_create_errors_change_nothing),
		cmocka_unit_test(test_removed_workspace_disables_schedules),
		cmocka_unit_test(test_same_name_other_workspace_is_fine),
		cmocka_unit_test(test_get_errors),
		cmocka_unit_test(test_list_paging),
		cmocka_unit_test(test_patch_rules),
		cmocka_unit_test(test_delete),
		cmocka_unit_test(test_manual_run_inbox_history),
		cmocka_unit_test(test_create_name_race),
		cmocka_unit_test(test_rename_name_race),
		cmocka_unit_test(test_webhook_delivered),
		cmocka_unit_test(test_webhook_errors),
		cmocka_unit_test(test_slow_webhook_does_not_block_others),
		cmocka_unit_test(test_webhook_in_flight_at_shutdown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
