/*
 * test_http_scheduler.c — SPEC §5 the scheduler inside colonyd, driven by a test clock
 * (--test-clock-file, rewritten atomically by the test; --scheduler-interval-ms 20):
 *  (a) exactly once with two colonyd on one database: 20 workspaces × 10 "* * * * *"
 *      schedules, the clock advanced minute by minute five times → every schedule has
 *      run_count 5, five cron runs with five distinct slots, and each workspace's inbox
 *      exactly 50 messages matching those runs (no duplicate (schedule, slot));
 *  (b) missed slots fire once: a 10-minute jump fires each due schedule once (no burst),
 *      next_run_at is the first slot after the new now; disabled schedules and removed
 *      workspaces do not fire; re-enabling computes from now;
 *  (c) PATCHes racing the scheduler are not lost: 8 threads PATCH name/prompt of 16
 *      schedules while the clock advances 10 minutes; afterwards each shows its last
 *      PATCH and a run_count counting every slot;
 *  (d) restart: stop, move the clock, start again → the missed slots fire once;
 *  (e) the test clock drives API times and lease expiry too;
 *  (f) a cron firing POSTs the prompt to the workspace url (an in-test receiver): the
 *      documented body with the slot, then last_status "delivered";
 *  (g) DST: a local time that occurs twice (Europe/Berlin, last Sunday of October) fires
 *      once.
 * Runs against SQLite and PostgreSQL (COLONY_TEST_BACKEND=postgres).
 */
#include "harness.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
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

#define SEC_US 1000000LL
#define MIN_US (60 * SEC_US)

static char clock_dir[64];
static char clock_path[128];
static const char *sargs[6];

/* 2030-01-07T10:00:30Z, a Monday */
static long long t0_us(void)
{
	struct tm tm = {.tm_year = 2030 - 1900, .tm_mon = 0, .tm_mday = 7, .tm_hour = 10, .tm_min = 0, .tm_sec = 30};
	return (long long)timegm(&tm) * SEC_US;
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(clock_dir, sizeof clock_dir, "/tmp/colony-clock-XXXXXX");
	if (!mkdtemp(clock_dir))
		return -1;
	snprintf(clock_path, sizeof clock_path, "%s/now", clock_dir);
	sargs[0] = "--test-clock-file";
	sargs[1] = clock_path;
	sargs[2] = "--scheduler-interval-ms";
	sargs[3] = "20";
	sargs[4] = NULL;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	char tmp[160];
	snprintf(tmp, sizeof tmp, "%s.tmp", clock_path);
	unlink(tmp);
	unlink(clock_path);
	rmdir(clock_dir);
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

/* Sets the process-wide "now" of every colonyd using the clock file: temp file + rename.
 * Safe on any thread (no asserts): returns false on failure. */
static bool set_clock_nofail(long long us)
{
	char tmp[160];
	snprintf(tmp, sizeof tmp, "%s.tmp", clock_path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return false;
	bool ok = fprintf(f, "%lld\n", us) > 0;
	ok &= fclose(f) == 0;
	return ok && rename(tmp, clock_path) == 0;
}

static void set_clock(long long us)
{
	if (!set_clock_nofail(us))
		fail_msg("cannot write the clock file %s: %s", clock_path, strerror(errno));
}

static void fmt_ts(long long us, char out[64])
{
	time_t s = (time_t)(us / SEC_US);
	struct tm tm;
	gmtime_r(&s, &tm);
	snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, us % SEC_US);
}

static void assert_time_eq(json_t *o, const char *k, long long want)
{
	long long got = th_jtime(o, k);
	if (got != want) {
		char w[64];
		fmt_ts(want, w);
		fail_msg("%s is %s, expected %s (schedule %s)", k, json_string_value(json_object_get(o, k)), w,
			 json_string_value(json_object_get(o, "name")));
	}
}

/* Creates a schedule; asserts 201; copies its id into out (37 bytes) if out. */
static json_t *mk_sched(th_client *c, const char *w, const char *name, const char *cron, const char *prompt,
			bool enabled)
{
	char path[128];
	snprintf(path, sizeof path, "/workspaces/%s/schedules", w);
	json_t *o = json_pack("{s:s,s:s,s:s,s:b}", "name", name, "cron_expr", cron, "prompt", prompt, "enabled",
			      enabled);
	char *body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	th_resp r = th_req(c, "POST", path, body, NULL);
	free(body);
	if (r.status != 201)
		fail_msg("creating schedule %s: %ld %s", name, r.status, r.body);
	json_t *j = json_incref(r.json);
	th_resp_free(&r);
	return j;
}

static json_t *get_sched(th_client *c, const char *w, const char *sid)
{
	char path[1024];
	snprintf(path, sizeof path, "/workspaces/%s/schedules/%s", w, sid);
	return th_get_ok(c, path);
}

static json_t *history(th_client *c, const char *w, const char *sid)
{
	char path[200];
	snprintf(path, sizeof path, "/workspaces/%s/schedules/%s/history?limit=1000", w, sid);
	json_t *h = th_get_ok(c, path);
	assert_true(json_is_array(h));
	return h;
}

/* Polls one schedule until run_count == want (fails on timeout or overshoot). */
static json_t *await_runs(th_client *c, const char *w, const char *sid, long long want, int timeout_ms)
{
	json_t *s = NULL;
	for (int waited = 0;; waited += 10) {
		json_decref(s);
		s = get_sched(c, w, sid);
		long long rc = th_jint(s, "run_count");
		if (rc > want)
			fail_msg("schedule %s fired %lld times, expected %lld", th_jstr(s, "name"), rc, want);
		if (rc == want)
			return s;
		if (waited >= timeout_ms)
			fail_msg("schedule %s: run_count %lld after %d ms, expected %lld", th_jstr(s, "name"), rc, timeout_ms,
				 want);
		th_sleep_ms(10);
	}
}

/* Polls the schedule lists of nws workspaces until all `expect` schedules in them have
 * run_count == want. No asserts (usable on worker threads). Returns 0; 1 on timeout; 2 if a
 * run_count went above want (a duplicate fire); 3 on an HTTP error. */
static int await_all(th_client *const *cs, int ncs, char (*wss)[37], int nws, int expect, long long want,
		     int timeout_ms)
{
	for (int waited = 0, poll = 0;; waited += 20, poll++) {
		int done = 0;
		for (int i = 0; i < nws; i++) {
			char path[1024];
			snprintf(path, sizeof path, "/workspaces/%s/schedules?limit=1000", wss[i]);
			th_resp r = th_req(cs[(poll + i) % ncs], "GET", path, NULL, NULL);
			if (r.status != 200 || !json_is_array(r.json)) {
				fprintf(stderr, "GET %s: %ld %s\n", path, r.status, r.body);
				th_resp_free(&r);
				return 3;
			}
			for (size_t k = 0; k < json_array_size(r.json); k++) {
				long long rc = th_jint(json_array_get(r.json, k), "run_count");
				if (rc > want) {
					fprintf(stderr, "schedule %s run_count %lld > %lld\n",
						th_jstr(json_array_get(r.json, k), "id"), rc, want);
					th_resp_free(&r);
					return 2;
				}
				done += rc == want;
			}
			th_resp_free(&r);
		}
		if (done == expect)
			return 0;
		if (waited >= timeout_ms) {
			fprintf(stderr, "after %d ms: %d of %d schedules at run_count %lld\n", waited, done, expect, want);
			return 1;
		}
		th_sleep_ms(20);
	}
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* ---- (a) exactly once with two colonyd on one database ---------------------------------- */

#define A_WS 20
#define A_PER 10
#define A_STEPS 5

static void test_two_replicas_fire_each_slot_once(void **state)
{
	(void)state;
	static char wss[A_WS][37];
	static char sids[A_WS][A_PER][37];
	const long long t0 = t0_us();
	set_clock(t0);
	th_server a, b;
	th_server_start(&a, sargs);
	th_server_start_replica_args(&b, &a, sargs);
	th_client *cs[2] = {th_client_new(&a), th_client_new(&b)};

	for (int i = 0; i < A_WS; i++) {
		char name[32];
		snprintf(name, sizeof name, "org-%d", i);
		th_create_ws(cs[i % 2], name, NULL, wss[i]);
		for (int k = 0; k < A_PER; k++) {
			char sname[32], prompt[64];
			snprintf(sname, sizeof sname, "every-minute-%d", k);
			snprintf(prompt, sizeof prompt, "ws %d schedule %d", i, k);
			json_t *s = mk_sched(cs[(i + k) % 2], wss[i], sname, "* * * * *", prompt, true);
			snprintf(sids[i][k], 37, "%s", th_jstr(s, "id"));
			assert_time_eq(s, "created_at", t0);          /* the test clock is "now" */
			assert_time_eq(s, "next_run_at", t0 + 30 * SEC_US); /* 10:01:00 */
			assert_int_equal(th_jint(s, "run_count"), 0);
			json_decref(s);
		}
	}
	th_sleep_ms(100); /* several ticks at 10:00:30: nothing is due */
	assert_int_equal(await_all(cs, 2, wss, A_WS, A_WS * A_PER, 0, 0), 0);

	for (int k = 1; k <= A_STEPS; k++) {
		set_clock(t0 + k * MIN_US); /* 10:0k:30: the slot 10:0k:00 is due */
		int rc = await_all(cs, 2, wss, A_WS, A_WS * A_PER, k, 20000);
		if (rc)
			fail_msg("step %d: %s", k, rc == 1 ? "timeout" : rc == 2 ? "a slot fired twice" : "HTTP error");
	}
	th_sleep_ms(200); /* ten more ticks on each replica: still nothing more */
	assert_int_equal(await_all(cs, 2, wss, A_WS, A_WS * A_PER, A_STEPS, 0), 0);

	/* every schedule: five cron runs, five distinct slots 10:01..10:05, next 10:06 */
	for (int i = 0; i < A_WS; i++) {
		char *pairs_hist[A_PER * A_STEPS], *pairs_inbox[A_PER * A_STEPS];
		int nh = 0;
		for (int k = 0; k < A_PER; k++) {
			json_t *s = get_sched(cs[k % 2], wss[i], sids[i][k]);
			assert_int_equal(th_jint(s, "run_count"), A_STEPS);
			assert_string_equal(th_jstr(s, "last_status"), "fired");
			assert_time_eq(s, "next_run_at", t0 + (A_STEPS * 60 + 30) * SEC_US);
			assert_time_eq(s, "last_run_at", t0 + A_STEPS * MIN_US);
			json_t *h = history(cs[(k + 1) % 2], wss[i], sids[i][k]);
			if (json_array_size(h) != A_STEPS)
				fail_msg("ws %d schedule %d: %zu runs in history", i, k, json_array_size(h));
			for (size_t r = 0; r < A_STEPS; r++) {
				json_t *run = json_array_get(h, r);
				assert_string_equal(th_jstr(run, "trigger"), "cron");
				assert_string_equal(th_jstr(run, "schedule_id"), sids[i][k]);
				/* newest first: slot 10:05, 10:04, … 10:01 — distinct, each once */
				assert_time_eq(run, "slot_at", t0 + (long long)(A_STEPS - r) * MIN_US - 30 * SEC_US);
				assert_true(th_jtime(run, "fired_at") >= th_jtime(run, "slot_at"));
				if (asprintf(&pairs_hist[nh++], "%s|%s|%s", sids[i][k], th_jstr(run, "id"),
					     th_jstr(run, "message_id")) < 0)
					fail_msg("asprintf");
			}
			assert_string_equal(th_jstr(json_array_get(h, 0), "id"), th_jstr(s, "last_run_id"));
			json_decref(h);
			json_decref(s);
		}
		/* the inbox: exactly one message per run */
		char path[1024];
		snprintf(path, sizeof path, "/workspaces/%s/inbox?limit=1000", wss[i]);
		json_t *l = th_get_ok(cs[i % 2], path);
		if (json_array_size(l) != A_PER * A_STEPS)
			fail_msg("ws %d: %zu inbox messages, expected %d", i, json_array_size(l), A_PER * A_STEPS);
		for (size_t m = 0; m < json_array_size(l); m++) {
			json_t *msg = json_array_get(l, m);
			assert_string_equal(th_jstr(msg, "source"), "schedule");
			assert_true(json_is_string(json_object_get(msg, "body")));
			if (asprintf(&pairs_inbox[m], "%s|%s|%s", th_jstr(msg, "schedule_id"), th_jstr(msg, "run_id"),
				     th_jstr(msg, "id")) < 0)
				fail_msg("asprintf");
		}
		json_decref(l);
		qsort(pairs_hist, (size_t)nh, sizeof(char *), cmp_str);
		qsort(pairs_inbox, (size_t)nh, sizeof(char *), cmp_str);
		for (int m = 0; m < nh; m++) {
			if (strcmp(pairs_hist[m], pairs_inbox[m]))
				fail_msg("ws %d: history and inbox differ: %s vs %s", i, pairs_hist[m], pairs_inbox[m]);
			if (m > 0 && !strcmp(pairs_hist[m], pairs_hist[m - 1]))
				fail_msg("ws %d: a run twice: %s", i, pairs_hist[m]);
		}
		for (int m = 0; m < nh; m++) {
			free(pairs_hist[m]);
			free(pairs_inbox[m]);
		}
	}
	th_client_free(cs[0]);
	th_client_free(cs[1]);
	assert_int_equal(th_server_stop(&b), 0);
	assert_int_equal(th_server_stop(&a), 0);
}

/* ---- (b) missed slots fire once ------------------------------------------------------------ */

static void test_missed_slots_fire_once(void **state)
{
	(void)state;
	const long long t0 = t0_us();
	set_clock(t0);
	th_server s;
	th_server_start(&s, sargs);
	th_client *c = th_client_new(&s);
	char w[37], orphan_ws[37];
	th_create_ws(c, "missed-slots", NULL, w);
	char minutely[4][37], five[37], hourly[37], off[37], orphan[37];
	for (int i = 0; i < 4; i++) {
		char name[16];
		snprintf(name, sizeof name, "m%d", i);
		json_t *j = mk_sched(c, w, name, "* * * * *", "minutely", true);
		snprintf(minutely[i], 37, "%s", th_jstr(j, "id"));
		json_decref(j);
	}
	json_t *j = mk_sched(c, w, "five", "*/5 * * * *", "five", true);
	snprintf(five, 37, "%s", th_jstr(j, "id"));
	assert_time_eq(j, "next_run_at", t0 + 270 * SEC_US); /* 10:05 */
	json_decref(j);
	j = mk_sched(c, w, "hourly", "0 * * * *", "hourly", true);
	snprintf(hourly, 37, "%s", th_jstr(j, "id"));
	json_decref(j);
	j = mk_sched(c, w, "off", "* * * * *", "off", false);
	snprintf(off, 37, "%s", th_jstr(j, "id"));
	json_decref(j);
	th_create_ws(c, "removed-before-its-slot", NULL, orphan_ws);
	j = mk_sched(c, orphan_ws, "orphan", "* * * * *", "orphan", true);
	snprintf(orphan, 37, "%s", th_jstr(j, "id"));
	json_decref(j);
	char path[200];
	snprintf(path, sizeof path, "/workspaces/%s", orphan_ws);
	th_resp r = th_req(c, "DELETE", path, NULL, NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);

	/* one ordinary minute */
	set_clock(t0 + MIN_US);
	for (int i = 0; i < 4; i++)
		json_decref(await_runs(c, w, minutely[i], 1, 10000));

	/* a 10-minute jump: 10:01:30 → 10:11:30 */
	const long long now = t0 + 11 * MIN_US;
	set_clock(now);
	for (int i = 0; i < 4; i++)
		json_decref(await_runs(c, w, minutely[i], 2, 10000));
	json_decref(await_runs(c, w, five, 1, 10000));
	th_sleep_ms(400); /* twenty more ticks: no burst follows */
	for (int i = 0; i < 4; i++) {
		j = get_sched(c, w, minutely[i]);
		assert_int_equal(th_jint(j, "run_count"), 2);
		assert_time_eq(j, "next_run_at", now + 30 * SEC_US); /* 10:12 */
		assert_time_eq(j, "last_run_at", now);
		json_decref(j);
		json_t *h = history(c, w, minutely[i]);
		assert_int_equal(json_array_size(h), 2);
		long long slot = th_jtime(json_array_get(h, 0), "slot_at");
		assert_int_equal(slot % MIN_US, 0);
		assert_true(slot >= t0 + 90 * SEC_US && slot <= now - 30 * SEC_US); /* one of 10:02..10:11 */
		assert_time_eq(json_array_get(h, 1), "slot_at", t0 + 30 * SEC_US);
		json_decref(h);
	}
	j = get_sched(c, w, five);
	assert_int_equal(th_jint(j, "run_count"), 1);
	assert_time_eq(j, "next_run_at", t0 + 870 * SEC_US); /* 10:15 */
	json_decref(j);
	j = get_sched(c, w, hourly);
	assert_int_equal(th_jint(j, "run_count"), 0);
	assert_time_eq(j, "next_run_at", t0 + 3570 * SEC_US); /* 11:00 */
	json_decref(j);
	j = get_sched(c, w, off);
	assert_int_equal(th_jint(j, "run_count"), 0);
	assert_true(th_jnull(j, "next_run_at"));
	json_decref(j);
	/* a removed workspace's schedule never fired (if it is shown at all) */
	snprintf(path, sizeof path, "/workspaces/%s/schedules/%s", orphan_ws, orphan);
	r = th_req(c, "GET", path, NULL, NULL);
	if (r.status == 200)
		assert_int_equal(th_int(&r, "run_count"), 0);
	else
		assert_int_equal(r.status, 404);
	th_resp_free(&r);
	snprintf(path, sizeof path, "/workspaces/%s/inbox", orphan_ws);
	r = th_req(c, "GET", path, NULL, NULL);
	if (r.status == 200)
		assert_int_equal(json_array_size(r.json), 0);
	th_resp_free(&r);

	/* re-enabling computes from now: the next slot is 10:12, nothing missed fires */
	snprintf(path, sizeof path, "/workspaces/%s/schedules/%s", w, off);
	r = th_req(c, "PATCH", path, "{\"enabled\":true}", NULL);
	assert_int_equal(r.status, 200);
	assert_time_eq(r.json, "next_run_at", now + 30 * SEC_US);
	th_resp_free(&r);
	th_sleep_ms(200);
	j = get_sched(c, w, off);
	assert_int_equal(th_jint(j, "run_count"), 0);
	json_decref(j);

	/* the next minute: everything minutely fires once more, the re-enabled one too */
	set_clock(now + MIN_US);
	for (int i = 0; i < 4; i++)
		json_decref(await_runs(c, w, minutely[i], 3, 10000));
	json_decref(await_runs(c, w, off, 1, 10000));
	snprintf(path, sizeof path, "/workspaces/%s/inbox?limit=1000", w);
	json_t *l = th_get_ok(c, path);
	assert_int_equal(json_array_size(l), 4 * 3 + 1 + 1);
	json_decref(l);
	th_client_free(c);
	assert_int_equal(th_server_stop(&s), 0);
}

/* ---- (c) PATCHes racing the scheduler are not lost ------------------------------------------ */

#define C_SCHEDS 16
#define C_PATCHERS 8
#define C_STEPS 10

struct patch_race {
	th_server *srv;
	char ws[1][37];
	char sids[C_SCHEDS][37];
	long long t0;
	atomic_int done;
	atomic_int errors, patches, clock_fail;
	char last_prompt[C_SCHEDS][64];
	char last_name[C_SCHEDS][64];
};

static void patch_race_worker(int t, void *arg)
{
	struct patch_race *pr = arg;
	th_client *c = th_client_new(pr->srv);
	if (t == C_PATCHERS) { /* the clock: one minute at a time, once the last one has fired */
		for (int k = 1; k <= C_STEPS; k++) {
			th_sleep_ms(30);
			if (!set_clock_nofail(pr->t0 + k * MIN_US)) {
				atomic_fetch_add(&pr->clock_fail, 1);
				break;
			}
			int rc = await_all(&c, 1, pr->ws, 1, C_SCHEDS, k, 20000);
			if (rc) {
				fprintf(stderr, "clock step %d: await_all = %d\n", k, rc);
				atomic_fetch_add(&pr->clock_fail, 1);
				break;
			}
		}
		atomic_store(&pr->done, 1);
		th_client_free(c);
		return;
	}
	for (int seq = 0; !atomic_load(&pr->done); seq++) {
		for (int j = 2 * t; j < 2 * t + 2; j++) {
			char path[200], prompt[64], name[64], body[200];
			snprintf(path, sizeof path, "/workspaces/%s/schedules/%s", pr->ws[0], pr->sids[j]);
			snprintf(prompt, sizeof prompt, "prompt %d.%d by %d", j, seq, t);
			snprintf(name, sizeof name, "sched-%d-v%d", j, seq);
			switch (seq % 3) {
			case 0:
				snprintf(body, sizeof body, "{\"prompt\":\"%s\"}", prompt);
				break;
			case 1:
				snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
				break;
			default:
				snprintf(body, sizeof body, "{\"name\":\"%s\",\"prompt\":\"%s\"}", name, prompt);
			}
			th_resp r = th_req(c, "PATCH", path, body, NULL);
			if (r.status == 200) {
				atomic_fetch_add(&pr->patches, 1);
				if (seq % 3 != 1)
					snprintf(pr->last_prompt[j], 64, "%s", prompt);
				if (seq % 3 != 0)
					snprintf(pr->last_name[j], 64, "%s", name);
			} else {
				fprintf(stderr, "PATCH %s: %ld %s\n", body, r.status, r.body);
				atomic_fetch_add(&pr->errors, 1);
			}
			th_resp_free(&r);
		}
	}
	th_client_free(c);
}

static void test_patch_during_runs_not_lost(void **state)
{
	(void)state;
	static struct patch_race pr;
	static th_server s;
	memset(&pr, 0, sizeof pr);
	pr.t0 = t0_us();
	set_clock(pr.t0);
	th_server_start(&s, sargs);
	pr.srv = &s;
	th_client *c = th_client_new(&s);
	th_create_ws(c, "patch-race", NULL, pr.ws[0]);
	for (int j = 0; j < C_SCHEDS; j++) {
		char name[32];
		snprintf(name, sizeof name, "sched-%d", j);
		json_t *sc = mk_sched(c, pr.ws[0], name, "* * * * *", "initial", true);
		snprintf(pr.sids[j], 37, "%s", th_jstr(sc, "id"));
		snprintf(pr.last_prompt[j], 64, "initial");
		snprintf(pr.last_name[j], 64, "%s", name);
		json_decref(sc);
	}
	th_race(C_PATCHERS + 1, patch_race_worker, &pr);
	assert_int_equal(atomic_load(&pr.errors), 0);
	assert_int_equal(atomic_load(&pr.clock_fail), 0);
	fprintf(stderr, "patch race: %d PATCHes during %d slots\n", atomic_load(&pr.patches), C_STEPS);
	assert_true(atomic_load(&pr.patches) >= C_SCHEDS * 3); /* the PATCHes did overlap the runs */
	th_sleep_ms(200);
	for (int j = 0; j < C_SCHEDS; j++) {
		json_t *sc = get_sched(c, pr.ws[0], pr.sids[j]);
		if (strcmp(th_jstr(sc, "prompt"), pr.last_prompt[j]) || strcmp(th_jstr(sc, "name"), pr.last_name[j]))
			fail_msg("schedule %d lost a PATCH: prompt \"%s\" name \"%s\", expected \"%s\" \"%s\"", j,
				 th_jstr(sc, "prompt"), th_jstr(sc, "name"), pr.last_prompt[j], pr.last_name[j]);
		assert_int_equal(th_jint(sc, "run_count"), C_STEPS);
		assert_true(json_is_true(json_object_get(sc, "enabled")));
		assert_string_equal(th_jstr(sc, "cron_expr"), "* * * * *");
		assert_time_eq(sc, "next_run_at", pr.t0 + (C_STEPS * 60 + 30) * SEC_US);
		json_t *h = history(c, pr.ws[0], pr.sids[j]);
		assert_int_equal(json_array_size(h), C_STEPS);
		for (size_t r = 0; r < C_STEPS; r++)
			assert_time_eq(json_array_get(h, r), "slot_at",
				       pr.t0 + (long long)(C_STEPS - r) * MIN_US - 30 * SEC_US);
		json_decref(h);
		json_decref(sc);
	}
	th_client_free(c);
	assert_int_equal(th_server_stop(&s), 0);
}

/* ---- (d) restart with the clock moved ------------------------------------------------------- */

static void test_restart_fires_missed_once(void **state)
{
	(void)state;
	const long long t0 = t0_us();
	set_clock(t0);
	static th_server s;
	th_server_start(&s, sargs);
	th_client *c = th_client_new(&s);
	char w[37], minute[37], ten[37], hourly[37];
	th_create_ws(c, "restart", NULL, w);
	json_t *j = mk_sched(c, w, "minute", "* * * * *", "m", true);
	snprintf(minute, 37, "%s", th_jstr(j, "id"));
	json_decref(j);
	j = mk_sched(c, w, "ten", "*/10 * * * *", "t", true);
	snprintf(ten, 37, "%s", th_jstr(j, "id"));
	json_decref(j);
	j = mk_sched(c, w, "hourly", "@hourly", "h", true);
	snprintf(hourly, 37, "%s", th_jstr(j, "id"));
	json_decref(j);
	set_clock(t0 + MIN_US); /* 10:01:30 */
	json_decref(await_runs(c, w, minute, 1, 10000));
	th_client_free(c);
	assert_int_equal(th_server_stop_keep(&s), 0);

	/* down for four minutes */
	set_clock(t0 + 5 * MIN_US); /* 10:05:30 */
	th_server_restart(&s);
	c = th_client_new(&s); /* a new port */
	json_decref(await_runs(c, w, minute, 2, 10000));
	th_sleep_ms(400);
	j = get_sched(c, w, minute);
	assert_int_equal(th_jint(j, "run_count"), 2);
	assert_time_eq(j, "next_run_at", t0 + 330 * SEC_US); /* 10:06 */
	json_decref(j);
	j = get_sched(c, w, ten);
	assert_int_equal(th_jint(j, "run_count"), 0);
	assert_time_eq(j, "next_run_at", t0 + 570 * SEC_US); /* 10:10 */
	json_decref(j);
	j = get_sched(c, w, hourly);
	assert_int_equal(th_jint(j, "run_count"), 0);
	json_decref(j);
	json_t *h = history(c, w, minute);
	assert_int_equal(json_array_size(h), 2);
	json_decref(h);

	set_clock(t0 + 10 * MIN_US); /* 10:10:30 */
	json_decref(await_runs(c, w, minute, 3, 10000));
	json_decref(await_runs(c, w, ten, 1, 10000));
	th_sleep_ms(200);
	j = get_sched(c, w, ten);
	assert_int_equal(th_jint(j, "run_count"), 1);
	assert_time_eq(j, "next_run_at", t0 + 1170 * SEC_US); /* 10:20 */
	json_decref(j);
	th_client_free(c);
	assert_int_equal(th_server_stop(&s), 0);
}

/* ---- (e) the test clock drives API times and leases ----------------------------------------- */

static void test_clock_drives_leases(void **state)
{
	(void)state;
	const long long t0 = t0_us();
	set_clock(t0);
	th_server s;
	th_server_start(&s, sargs);
	th_client *c = th_client_new(&s);
	char w[37], path[160];
	th_create_ws(c, "leases-by-clock", NULL, w);
	snprintf(path, sizeof path, "/workspaces/%s/inbox", w);
	th_resp r = th_req(c, "POST", path, "{\"body\":\"t\"}", NULL);
	assert_int_equal(r.status, 201);
	assert_time_eq(r.json, "created_at", t0);
	char mid[37];
	snprintf(mid, sizeof mid, "%s", th_str(&r, "id"));
	th_resp_free(&r);
	snprintf(path, sizeof path, "/workspaces/%s/inbox/claim", w);
	r = th_req(c, "POST", path, "{\"lease_seconds\":3600}", NULL);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(r.json), 1);
	assert_time_eq(json_array_get(r.json, 0), "lease_expires_at", t0 + 3600 * SEC_US);
	th_resp_free(&r);
	/* 59 minutes later: still leased */
	set_clock(t0 + 59 * MIN_US);
	r = th_req(c, "POST", path, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(r.json), 0);
	th_resp_free(&r);
	/* an hour and a second later: claimable again, attempts 2, without any real wait */
	set_clock(t0 + 3601 * SEC_US);
	r = th_req(c, "POST", path, "{\"lease_seconds\":60}", NULL);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(r.json), 1);
	assert_string_equal(th_jstr(json_array_get(r.json, 0), "id"), mid);
	assert_int_equal(th_jint(json_array_get(r.json, 0), "attempts"), 2);
	assert_time_eq(json_array_get(r.json, 0), "lease_expires_at", t0 + 3661 * SEC_US);
	th_resp_free(&r);
	snprintf(path, sizeof path, "/workspaces/%s/inbox/%s/ack", w, mid);
	r = th_req(c, "POST", path, "{\"status\":\"completed\",\"attempt\":2}", NULL);
	assert_int_equal(r.status, 200);
	assert_time_eq(r.json, "acked_at", t0 + 3601 * SEC_US);
	th_resp_free(&r);
	th_client_free(c);
	assert_int_equal(th_server_stop(&s), 0);
}

/* ---- (f) a cron firing delivers the webhook ------------------------------------------------- */

struct hook {
	int fd;
	unsigned port;
	pthread_t tid;
	atomic_int stop;
	pthread_mutex_t mu;
	int nreq;
	char path[256], ctype[128];
	char *body;
};

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

/* Answers every request 200 and records the last one (Content-Length bodies). */
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
		static char buf[1 << 16];
		size_t len = 0;
		long hdr_end = -1, body_len = 0;
		while (len < sizeof buf - 1) {
			if (hdr_end >= 0 && (long)len - hdr_end >= body_len)
				break;
			ssize_t n = recv(c, buf + len, sizeof buf - 1 - len, 0);
			if (n <= 0)
				break;
			len += (size_t)n;
			buf[len] = 0;
			if (hdr_end < 0) {
				char *e = strstr(buf, "\r\n\r\n");
				if (!e)
					continue;
				hdr_end = e - buf + 4;
				char cl[32], ct[128];
				buf[hdr_end - 2] = 0;
				header_value(buf, "Content-Length", cl, sizeof cl);
				header_value(buf, "Content-Type", ct, sizeof ct);
				pthread_mutex_lock(&h->mu);
				sscanf(buf, "%*s %255s", h->path);
				snprintf(h->ctype, sizeof h->ctype, "%s", ct);
				pthread_mutex_unlock(&h->mu);
				buf[hdr_end - 2] = '\r';
				body_len = atol(cl);
			}
		}
		if (hdr_end >= 0) {
			pthread_mutex_lock(&h->mu);
			h->nreq++;
			free(h->body);
			h->body = strndup(buf + hdr_end, len - (size_t)hdr_end);
			pthread_mutex_unlock(&h->mu);
		}
		const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
		if (send(c, ok, strlen(ok), MSG_NOSIGNAL) < 0) { /* the sender gave up: fine */
		}
		shutdown(c, SHUT_RDWR);
		close(c);
	}
	return NULL;
}

static void test_cron_fire_delivers_webhook(void **state)
{
	(void)state;
	static struct hook h;
	memset(&h, 0, sizeof h);
	pthread_mutex_init(&h.mu, NULL);
	h.fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(h.fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(h.fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(h.fd, 16), 0);
	socklen_t al = sizeof a;
	assert_int_equal(getsockname(h.fd, (struct sockaddr *)&a, &al), 0);
	h.port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&h.tid, NULL, hook_main, &h), 0);

	const long long t0 = t0_us();
	set_clock(t0);
	th_server s;
	th_server_start(&s, sargs);
	th_client *c = th_client_new(&s);
	char body[200], w[37];
	snprintf(body, sizeof body, "{\"name\":\"hooked-by-cron\",\"url\":\"http://127.0.0.1:%u/agent/wake\"}", h.port);
	th_resp r = th_req(c, "POST", "/workspaces", body, NULL);
	assert_int_equal(r.status, 201);
	snprintf(w, sizeof w, "%s", th_str(&r, "id"));
	th_resp_free(&r);
	json_t *sc = mk_sched(c, w, "quarter-hour", "*/15 * * * *", "look at the queue", true);
	char sid[37];
	snprintf(sid, sizeof sid, "%s", th_jstr(sc, "id"));
	assert_time_eq(sc, "next_run_at", t0 + 870 * SEC_US); /* 10:15 */
	json_decref(sc);
	th_sleep_ms(200);
	pthread_mutex_lock(&h.mu);
	assert_int_equal(h.nreq, 0); /* nothing due yet */
	pthread_mutex_unlock(&h.mu);

	set_clock(t0 + 15 * MIN_US); /* 10:15:30 */
	sc = await_runs(c, w, sid, 1, 10000);
	json_decref(sc);
	for (int waited = 0;; waited += 20) {
		sc = get_sched(c, w, sid);
		const char *st = th_jstr(sc, "last_status");
		if (st && strcmp(st, "fired"))
			break;
		if (waited > 10000)
			fail_msg("no webhook outcome after 10 s: %s", json_dumps(sc, JSON_COMPACT));
		json_decref(sc);
		th_sleep_ms(20);
	}
	if (strcmp(th_jstr(sc, "last_status"), "delivered"))
		fail_msg("expected delivered: %s", json_dumps(sc, JSON_COMPACT));
	json_t *hist = history(c, w, sid);
	assert_int_equal(json_array_size(hist), 1);
	json_t *run = json_array_get(hist, 0);
	assert_string_equal(th_jstr(run, "trigger"), "cron");
	assert_string_equal(th_jstr(run, "status"), "delivered");
	th_sleep_ms(200);
	pthread_mutex_lock(&h.mu);
	int nreq = h.nreq;
	char path[256], ctype[128];
	snprintf(path, sizeof path, "%s", h.path);
	snprintf(ctype, sizeof ctype, "%s", h.ctype);
	json_t *b = json_loads(h.body ? h.body : "", 0, NULL);
	pthread_mutex_unlock(&h.mu);
	assert_int_equal(nreq, 1);
	assert_string_equal(path, "/agent/wake");
	assert_int_equal(strncasecmp(ctype, "application/json", 16), 0);
	assert_true(json_is_object(b));
	assert_string_equal(th_jstr(b, "prompt"), "look at the queue");
	assert_string_equal(th_jstr(b, "schedule_id"), sid);
	assert_string_equal(th_jstr(b, "schedule_name"), "quarter-hour");
	assert_string_equal(th_jstr(b, "workspace_id"), w);
	assert_string_equal(th_jstr(b, "run_id"), th_jstr(run, "id"));
	assert_string_equal(th_jstr(b, "message_id"), th_jstr(run, "message_id"));
	assert_time_eq(b, "slot_at", t0 + 870 * SEC_US);
	assert_time_eq(b, "fired_at", t0 + 15 * MIN_US);
	json_decref(b);
	json_decref(hist);
	json_decref(sc);
	th_client_free(c);
	assert_int_equal(th_server_stop(&s), 0);
	atomic_store(&h.stop, 1);
	pthread_join(h.tid, NULL);
	close(h.fd);
	free(h.body);
	pthread_mutex_destroy(&h.mu);
}

/* ---- (g) DST: a repeated local time fires once ---------------------------------------------- */

static void test_dst_repeated_hour_fires_once(void **state)
{
	(void)state;
	/* Europe/Berlin leaves CEST on 2030-10-27 at 03:00 local (01:00Z): 02:30 local happens
	 * at 00:30Z (CEST) and again at 01:30Z (CET). */
	struct tm tm = {.tm_year = 2030 - 1900, .tm_mon = 9, .tm_mday = 27, .tm_hour = 0, .tm_min = 0, .tm_sec = 0};
	const long long midnight = (long long)timegm(&tm) * SEC_US; /* 2030-10-27T00:00:00Z */
	set_clock(midnight);
	th_server s;
	th_server_start(&s, sargs);
	th_client *c = th_client_new(&s);
	char w[37], path[200];
	th_create_ws(c, "dst", NULL, w);
	snprintf(path, sizeof path, "/workspaces/%s/schedules", w);
	th_resp r = th_req(c, "POST", path,
			   "{\"name\":\"half-past-two\",\"cron_expr\":\"30 2 * * *\",\"timezone\":\"Europe/Berlin\","
			   "\"prompt\":\"p\"}",
			   NULL);
	assert_int_equal(r.status, 201);
	char sid[37];
	snprintf(sid, sizeof sid, "%s", th_str(&r, "id"));
	assert_time_eq(r.json, "next_run_at", midnight + 30 * MIN_US); /* the first 02:30, CEST */
	th_resp_free(&r);
	set_clock(midnight + 31 * MIN_US);
	json_t *sc = await_runs(c, w, sid, 1, 10000);
	/* next: 02:30 CET of the 28th (01:30Z), not the repeated 02:30 an hour later */
	assert_time_eq(sc, "next_run_at", midnight + (24 * 60 + 90) * MIN_US);
	json_decref(sc);
	set_clock(midnight + 91 * MIN_US); /* 01:31Z: past the second 02:30 */
	th_sleep_ms(300);
	sc = get_sched(c, w, sid);
	assert_int_equal(th_jint(sc, "run_count"), 1);
	json_decref(sc);
	set_clock(midnight + (24 * 60 + 91) * MIN_US);
	json_decref(await_runs(c, w, sid, 2, 10000));
	th_client_free(c);
	assert_int_equal(th_server_stop(&s), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_replicas_fire_each_slot_once),
		cmocka_unit_test(test_missed_slots_fire_once),
		cmocka_unit_test(test_patch_during_runs_not_lost),
		cmocka_unit_test(test_restart_fires_missed_once),
		cmocka_unit_test(test_clock_drives_leases),
		cmocka_unit_test(test_cron_fire_delivers_webhook),
		cmocka_unit_test(test_dst_repeated_hour_fires_once),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
