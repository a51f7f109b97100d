/*
 * test_http_inbox.c — SPEC §6 inbox over HTTP against a real colonyd (--no-scheduler):
 *  - enqueue / list / get: the message shape, any JSON body but null, priority and
 *    max_attempts bounds, ?status= filter, paging, bad input (4xx, nothing written);
 *  - idempotency_key: a repeat answers 200 with the first message; 16 threads with one
 *    key → one 201, 15 × 200, one id, one message;
 *  - claim: priority desc then oldest first, attempts and lease_expires_at, defaults with
 *    no body, bounds; 16 threads claiming 200 messages 5 at a time → each exactly once;
 *    8 claimers for one message → one gets it;
 *  - leases: an expired lease makes the message claimable again (attempts 2: the crashed
 *    claimer); after max_attempts it is dead-lettered ("dead", ?status=dead), not lost;
 *  - ack: completed / failed with a result, the same ack repeated is a no-op 200, and every
 *    409 (not_claimed, already_acked, dead_lettered, stale_claim with attempt fencing);
 *  - ack races: 16 threads acking one message with both statuses → one status wins, its
 *    repeats are 200, the others 409 already_acked;
 *  - a schedule's outcome through the ack: empty results count consecutive_empty_runs
 *    ("empty", third → "stale"), a non-empty one resets to 0 ("ok"), failed → "failed";
 *    20 concurrent empty acks count 20; acking the message of a deleted schedule is fine.
 */
#include "harness.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

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
#define SEC_US 1000000LL

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

static void inbox_path(char *out, size_t n, const char *w, const char *suffix)
{
	snprintf(out, n, "/workspaces/%s/inbox%s", w, suffix ? suffix : "");
}

static void msg_path(char *out, size_t n, const char *w, const char *mid, const char *suffix)
{
	snprintf(out, n, "/workspaces/%s/inbox/%s%s", w, mid, suffix ? suffix : "");
}

/* Every field of the contract's message JSON, with the right type. */
static void check_msg_shape(json_t *m)
{
	assert_true(json_is_object(m));
	th_assert_uuid7(th_jstr(m, "id"));
	th_assert_uuid7(th_jstr(m, "workspace_id"));
	assert_non_null(json_object_get(m, "body"));
	assert_false(th_jnull(m, "body"));
	assert_true(json_is_integer(json_object_get(m, "priority")));
	const char *st = th_jstr(m, "status");
	assert_non_null(st);
	if (strcmp(st, "queued") && strcmp(st, "claimed") && strcmp(st, "completed") && strcmp(st, "failed") &&
	    strcmp(st, "dead"))
		fail_msg("status %s is not one of the contract's", st);
	assert_true(json_is_integer(json_object_get(m, "attempts")));
	assert_true(json_is_integer(json_object_get(m, "max_attempts")));
	if (!strcmp(st, "claimed"))
		th_jtime(m, "lease_expires_at");
	else if (!strcmp(st, "queued"))
		assert_true(th_jnull(m, "lease_expires_at"));
	else
		assert_non_null(json_object_get(m, "lease_expires_at"));
	const char *src = th_jstr(m, "source");
	assert_non_null(src);
	assert_non_null(json_object_get(m, "idempotency_key"));
	assert_non_null(json_object_get(m, "schedule_id"));
	assert_non_null(json_object_get(m, "run_id"));
	assert_non_null(json_object_get(m, "result"));
	th_jtime(m, "created_at");
	if (!strcmp(st, "completed") || !strcmp(st, "failed"))
		th_jtime(m, "acked_at");
	else
		assert_true(th_jnull(m, "acked_at"));
}

/* Enqueues body (a JSON text); asserts want (201 or 200); returns the message. */
static json_t *enqueue_c(th_client *c, const char *w, const char *body, long want)
{
	char path[128];
	inbox_path(path, sizeof path, w, NULL);
	th_resp r = th_req(c, "POST", path, body, NULL);
	if (r.status != want || !json_is_object(r.json))
		fail_msg("enqueue %s: expected %ld, got %ld %s", body, want, r.status, r.body);
	check_msg_shape(r.json);
	json_t *j = json_incref(r.json);
	th_resp_free(&r);
	return j;
}

static json_t *enqueue(const char *w, const char *body) { return enqueue_c(cl, w, body, 201); }

/* Claims with body (NULL: no body); asserts 200 and an array; returns it. */
static json_t *claim_c(th_client *c, const char *w, const char *body)
{
	char path[128];
	inbox_path(path, sizeof path, w, "/claim");
	th_resp r = th_req(c, "POST", path, body, NULL);
	if (r.status != 200 || !json_is_array(r.json))
		fail_msg("claim %s: %ld %s", body ? body : "(no body)", r.status, r.body);
	json_t *j = json_incref(r.json);
	th_resp_free(&r);
	return j;
}

static json_t *claim(const char *w, const char *body) { return claim_c(cl, w, body); }

static th_resp ack(const char *w, const char *mid, const char *body)
{
	char path[200];
	msg_path(path, sizeof path, w, mid, "/ack");
	return th_req(cl, "POST", path, body, NULL);
}

static json_t *ack_ok(const char *w, const char *mid, const char *body)
{
	th_resp r = ack(w, mid, body);
	if (r.status != 200 || !json_is_object(r.json))
		fail_msg("ack %s: %ld %s", body, r.status, r.body);
	check_msg_shape(r.json);
	json_t *j = json_incref(r.json);
	th_resp_free(&r);
	return j;
}

static json_t *get_msg(const char *w, const char *mid)
{
	char path[200];
	msg_path(path, sizeof path, w, mid, NULL);
	json_t *m = th_get_ok(cl, path);
	check_msg_shape(m);
	return m;
}

static json_t *list_inbox(const char *w, const char *query)
{
	char path[200];
	snprintf(path, sizeof path, "/workspaces/%s/inbox?limit=1000%s%s", w, query ? "&" : "", query ? query : "");
	json_t *l = th_get_ok(cl, path);
	assert_true(json_is_array(l));
	return l;
}

static bool body_is(json_t *m, const char *json_text)
{
	json_t *want = json_loads(json_text, JSON_DECODE_ANY, NULL);
	bool eq = want && json_equal(json_object_get(m, "body"), want);
	json_decref(want);
	return eq;
}

/* ---- enqueue, get, list -------------------------------------------------------------- */

static void test_enqueue_shape_get_list(void **state)
{
	(void)state;
	char w[37];
	th_create_ws(cl, "inbox-shape", NULL, w);
	long long before = th_now_us();
	json_t *m = enqueue(w, "{\"body\":{\"task\":\"review PR 7\",\"n\":[1,2.5,null,true]}}");
	long long after = th_now_us();
	assert_string_equal(th_jstr(m, "workspace_id"), w);
	assert_true(body_is(m, "{\"task\":\"review PR 7\",\"n\":[1,2.5,null,true]}"));
	assert_int_equal(th_jint(m, "priority"), 0);
	assert_string_equal(th_jstr(m, "status"), "queued");
	assert_int_equal(th_jint(m, "attempts"), 0);
	assert_int_equal(th_jint(m, "max_attempts"), 5);
	assert_true(th_jnull(m, "lease_expires_at"));
	assert_string_equal(th_jstr(m, "source"), "api");
	assert_true(th_jnull(m, "idempotency_key"));
	assert_true(th_jnull(m, "schedule_id"));
	assert_true(th_jnull(m, "run_id"));
	assert_true(th_jnull(m, "result"));
	assert_true(th_jnull(m, "acked_at"));
	long long created = th_jtime(m, "created_at");
	assert_true(created >= before - 2 * SEC_US && created <= after + 2 * SEC_US);

	json_t *g = get_msg(w, th_jstr(m, "id"));
	assert_true(json_equal(g, m));
	json_decref(g);

	/* any JSON but null is a body; priority and max_attempts at their bounds */
	const char *bodies[] = {"\"a string\"", "0", "-12.5", "false", "[]", "{}", "\"\"",
				"{\"deep\":[[[[{\"x\":\"\\u00e9\\n\"}]]]]}"};
	json_t *ms[8];
	for (int i = 0; i < 8; i++) {
		char body[200];
		snprintf(body, sizeof body, "{\"body\":%s,\"priority\":%d,\"max_attempts\":%d}", bodies[i],
			 i == 0 ? 1000000 : i == 1 ? -1000000 : i, i == 0 ? 1 : i == 1 ? 1000 : i + 1);
		ms[i] = enqueue(w, body);
		assert_true(body_is(ms[i], bodies[i]));
		assert_int_equal(th_jint(ms[i], "priority"), i == 0 ? 1000000 : i == 1 ? -1000000 : i);
		assert_int_equal(th_jint(ms[i], "max_attempts"), i == 0 ? 1 : i == 1 ? 1000 : i + 1);
	}

	/* the list: all nine, by id */
	json_t *l = list_inbox(w, NULL);
	assert_int_equal(json_array_size(l), 9);
	assert_string_equal(th_jstr(json_array_get(l, 0), "id"), th_jstr(m, "id"));
	for (size_t i = 0; i < 9; i++) {
		json_t *e = json_array_get(l, i);
		check_msg_shape(e);
		if (i > 0) {
			assert_true(strcmp(th_jstr(json_array_get(l, i - 1), "id"), th_jstr(e, "id")) < 0);
			assert_string_equal(th_jstr(e, "id"), th_jstr(ms[i - 1], "id"));
			assert_true(json_equal(e, ms[i - 1]));
		}
	}
	json_decref(l);

	/* another workspace's message is absent here; absent and malformed ids */
	char other[37], path[200];
	th_create_ws(cl, "inbox-shape-other", NULL, other);
	msg_path(path, sizeof path, other, th_jstr(m, "id"), NULL);
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 404, "not_found");
	msg_path(path, sizeof path, other, th_jstr(m, "id"), "/ack");
	th_expect_error(th_req(cl, "POST", path, "{\"status\":\"completed\"}", NULL), 404, "not_found");
	msg_path(path, sizeof path, w, ABSENT_ID, NULL);
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 404, "not_found");
	msg_path(path, sizeof path, w, "not-an-id", NULL);
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 400, NULL);
	msg_path(path, sizeof path, w, "not-an-id", "/ack");
	th_expect_error(th_req(cl, "POST", path, "{\"status\":\"completed\"}", NULL), 400, NULL);
	l = list_inbox(other, NULL);
	assert_int_equal(json_array_size(l), 0);
	json_decref(l);
	for (int i = 0; i < 8; i++)
		json_decref(ms[i]);
	json_decref(m);
}

static void test_enqueue_errors_change_nothing(void **state)
{
	(void)state;
	char w[37], path[128];
	th_create_ws(cl, "inbox-errors", NULL, w);
	json_decref(enqueue(w, "{\"body\":\"keep\"}"));
	json_t *before = list_inbox(w, NULL);
	inbox_path(path, sizeof path, w, NULL);
	const char *bad[] = {
		"{\"body\":null}",
		"{}",
		"{\"priority\":1}",
		"{\"body\":1,\"priority\":1000001}",
		"{\"body\":1,\"priority\":-1000001}",
		"{\"body\":1,\"priority\":\"high\"}",
		"{\"body\":1,\"priority\":1.5}",
		"{\"body\":1,\"priority\":true}",
		"{\"body\":1,\"max_attempts\":0}",
		"{\"body\":1,\"max_attempts\":1001}",
		"{\"body\":1,\"max_attempts\":\"5\"}",
		"{\"body\":1,\"max_attempts\":-1}",
		"{\"body\":1,\"idempotency_key\":5}",
		"{\"body\":1,\"idempotency_key\":[\"k\"]}",
		"[{\"body\":1}]",
		"\"body\"",
		"{\"body\":",
		"",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		th_resp r = th_req(cl, "POST", path, bad[i], NULL);
		if (r.status != 400)
			fail_msg("case %zu %s: expected 400, got %ld %s", i, bad[i], r.status, r.body);
		th_assert_error(&r, 400, NULL);
		th_resp_free(&r);
		json_t *after = list_inbox(w, NULL);
		if (!json_equal(before, after))
			fail_msg("case %zu %s changed the inbox", i, bad[i]);
		json_decref(after);
	}
	/* the list filter and paging parameters are checked */
	const char *bad_q[] = {"status=bogus", "limit=0", "limit=1001", "limit=x", "after=nope"};
	for (size_t i = 0; i < sizeof bad_q / sizeof bad_q[0]; i++) {
		char p[200];
		snprintf(p, sizeof p, "/workspaces/%s/inbox?%s", w, bad_q[i]);
		th_expect_error(th_req(cl, "GET", p, NULL, NULL), 400, NULL);
	}
	/* absent, malformed, removed workspaces */
	th_expect_error(th_req(cl, "POST", "/workspaces/" ABSENT_ID "/inbox", "{\"body\":1}", NULL), 404, "not_found");
	th_expect_error(th_req(cl, "GET", "/workspaces/" ABSENT_ID "/inbox", NULL, NULL), 404, "not_found");
	th_expect_error(th_req(cl, "POST", "/workspaces/" ABSENT_ID "/inbox/claim", NULL, NULL), 404, "not_found");
	th_expect_error(th_req(cl, "POST", "/workspaces/xyz/inbox", "{\"body\":1}", NULL), 400, NULL);
	th_expect_error(th_req(cl, "POST", "/workspaces/xyz/inbox/claim", NULL, NULL), 400, NULL);
	char gone[37], gpath[128];
	th_create_ws(cl, "inbox-removed", NULL, gone);
	snprintf(gpath, sizeof gpath, "/workspaces/%s", gone);
	th_resp r = th_req(cl, "DELETE", gpath, NULL, NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);
	inbox_path(gpath, sizeof gpath, gone, NULL);
	th_expect_error(th_req(cl, "POST", gpath, "{\"body\":1}", NULL), 409, "workspace_removed");
	json_decref(before);
}

static void test_list_filter_and_paging(void **state)
{
	(void)state;
	char w[37], path[256], ids[7][37];
	th_create_ws(cl, "inbox-paging", NULL, w);
	for (int i = 0; i < 7; i++) {
		char body[64];
		snprintf(body, sizeof body, "{\"body\":%d}", i);
		json_t *m = enqueue(w, body);
		snprintf(ids[i], 37, "%s", th_jstr(m, "id"));
		json_decref(m);
	}
	char after[37] = "";
	int seen = 0;
	for (int page = 0; page < 6; page++) {
		snprintf(path, sizeof path, "/workspaces/%s/inbox?limit=3%s%s", w, after[0] ? "&after=" : "", after);
		json_t *l = th_get_ok(cl, path);
		size_t n = json_array_size(l);
		assert_true(n <= 3);
		for (size_t i = 0; i < n; i++) {
			assert_true(seen < 7);
			assert_string_equal(th_jstr(json_array_get(l, i), "id"), ids[seen]);
			seen++;
			snprintf(after, sizeof after, "%s", ids[seen - 1]);
		}
		json_decref(l);
		if (n < 3)
			break;
	}
	assert_int_equal(seen, 7);
	/* claim two (oldest first: equal priority), ack one of them */
	json_t *c = claim(w, "{\"max\":2}");
	assert_int_equal(json_array_size(c), 2);
	assert_string_equal(th_jstr(json_array_get(c, 0), "id"), ids[0]);
	assert_string_equal(th_jstr(json_array_get(c, 1), "id"), ids[1]);
	json_decref(c);
	json_decref(ack_ok(w, ids[0], "{\"status\":\"completed\",\"result\":\"fine\"}"));
	struct {
		const char *q;
		size_t n;
	} f[] = {{"status=queued", 5}, {"status=claimed", 1}, {"status=completed", 1}, {"status=failed", 0},
		 {"status=dead", 0}};
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		json_t *l = list_inbox(w, f[i].q);
		if (json_array_size(l) != f[i].n)
			fail_msg("?%s: %zu messages, expected %zu", f[i].q, json_array_size(l), f[i].n);
		const char *want = strchr(f[i].q, '=') + 1;
		for (size_t k = 0; k < json_array_size(l); k++)
			assert_string_equal(th_jstr(json_array_get(l, k), "status"), want);
		json_decref(l);
	}
	json_t *l = list_inbox(w, "status=claimed");
	assert_string_equal(th_jstr(json_array_get(l, 0), "id"), ids[1]);
	json_decref(l);
}

/* ---- idempotency --------------------------------------------------------------------- */

static void test_idempotency_sequential(void **state)
{
	(void)state;
	char w[37], w2[37];
	th_create_ws(cl, "idem-seq", NULL, w);
	th_create_ws(cl, "idem-seq-2", NULL, w2);
	json_t *first = enqueue(w, "{\"body\":{\"v\":1},\"priority\":3,\"idempotency_key\":\"order-42\"}");
	assert_string_equal(th_jstr(first, "idempotency_key"), "order-42");
	json_t *again = enqueue_c(cl, w, "{\"body\":{\"v\":2},\"priority\":9,\"idempotency_key\":\"order-42\"}", 200);
	assert_string_equal(th_jstr(again, "id"), th_jstr(first, "id"));
	assert_true(body_is(again, "{\"v\":1}")); /* the first message, not the second body */
	assert_int_equal(th_jint(again, "priority"), 3);
	json_decref(again);
	/* another key, no key: new messages */
	json_t *other = enqueue(w, "{\"body\":{\"v\":3},\"idempotency_key\":\"order-43\"}");
	assert_string_not_equal(th_jstr(other, "id"), th_jstr(first, "id"));
	json_t *nokey1 = enqueue(w, "{\"body\":{\"v\":4}}");
	json_t *nokey2 = enqueue(w, "{\"body\":{\"v\":4}}");
	assert_string_not_equal(th_jstr(nokey1, "id"), th_jstr(nokey2, "id"));
	/* the same key in another workspace is another message */
	json_t *w2m = enqueue(w2, "{\"body\":{\"v\":5},\"idempotency_key\":\"order-42\"}");
	assert_string_not_equal(th_jstr(w2m, "id"), th_jstr(first, "id"));
	assert_string_equal(th_jstr(w2m, "workspace_id"), w2);
	json_t *l = list_inbox(w, NULL);
	assert_int_equal(json_array_size(l), 4);
	json_decref(l);
	/* still the first after it was claimed and acked */
	json_t *c = claim(w, "{\"max\":1}"); /* priority 3 comes first */
	assert_int_equal(json_array_size(c), 1);
	assert_string_equal(th_jstr(json_array_get(c, 0), "id"), th_jstr(first, "id"));
	json_decref(c);
	json_decref(ack_ok(w, th_jstr(first, "id"), "{\"status\":\"completed\"}"));
	again = enqueue_c(cl, w, "{\"body\":{\"v\":6},\"idempotency_key\":\"order-42\"}", 200);
	assert_string_equal(th_jstr(again, "id"), th_jstr(first, "id"));
	assert_string_equal(th_jstr(again, "status"), "completed");
	json_decref(again);
	l = list_inbox(w, NULL);
	assert_int_equal(json_array_size(l), 4);
	json_decref(l);
	json_decref(first);
	json_decref(other);
	json_decref(nokey1);
	json_decref(nokey2);
	json_decref(w2m);
}

#define RACERS 16

struct idem_race {
	char ws[37];
	long status[RACERS];
	char id[RACERS][37];
	int body_by[RACERS];
};

static void idem_one(int i, void *arg)
{
	struct idem_race *ir = arg;
	th_client *c = th_client_new(&srv);
	char path[128];
	inbox_path(path, sizeof path, ir->ws, NULL);
	th_resp r = th_reqf(c, "POST", path, "{\"body\":{\"by\":%d},\"idempotency_key\":\"race-key\"}", i);
	ir->status[i] = r.status;
	const char *id = th_str(&r, "id");
	snprintf(ir->id[i], 37, "%s", id ? id : "");
	ir->body_by[i] = (int)json_integer_value(json_object_get(json_object_get(r.json, "body"), "by"));
	th_resp_free(&r);
	th_client_free(c);
}

static void test_idempotency_race(void **state)
{
	(void)state;
	static struct idem_race ir;
	for (int round = 0; round < 3; round++) {
		memset(&ir, 0, sizeof ir);
		char name[32];
		snprintf(name, sizeof name, "idem-race-%d", round);
		th_create_ws(cl, name, NULL, ir.ws);
		th_race(RACERS, idem_one, &ir);
		int created = 0, repeated = 0, winner = -1;
		for (int i = 0; i < RACERS; i++) {
			if (ir.status[i] == 201) {
				created++;
				winner = i;
			} else if (ir.status[i] == 200) {
				repeated++;
			} else {
				fail_msg("round %d racer %d got %ld", round, i, ir.status[i]);
			}
		}
		assert_int_equal(created, 1);
		assert_int_equal(repeated, RACERS - 1);
		for (int i = 0; i < RACERS; i++) {
			assert_string_equal(ir.id[i], ir.id[winner]);
			assert_int_equal(ir.body_by[i], winner); /* everyone sees the winner's body */
		}
		json_t *l = list_inbox(ir.ws, NULL);
		assert_int_equal(json_array_size(l), 1);
		assert_string_equal(th_jstr(json_array_get(l, 0), "id"), ir.id[winner]);
		json_decref(l);
	}
}

/* ---- claim ----------------------------------------------------------------------------- */

static void test_claim_order_and_fields(void **state)
{
	(void)state;
	char w[37];
	th_create_ws(cl, "claim-order", NULL, w);
	const int prio[] = {0, 5, 0, 10, -3, 5, 1000000, -1000000};
	char ids[8][37];
	for (int i = 0; i < 8; i++) {
		char body[96];
		snprintf(body, sizeof body, "{\"body\":\"m%d\",\"priority\":%d}", i, prio[i]);
		json_t *m = enqueue(w, body);
		snprintf(ids[i], 37, "%s", th_jstr(m, "id"));
		json_decref(m);
	}
	/* no body: the defaults (one message, a 300 s lease) */
	long long before = th_now_us();
	json_t *c = claim(w, NULL);
	long long after = th_now_us();
	assert_int_equal(json_array_size(c), 1);
	json_t *m = json_array_get(c, 0);
	check_msg_shape(m);
	assert_string_equal(th_jstr(m, "id"), ids[6]);
	assert_string_equal(th_jstr(m, "status"), "claimed");
	assert_int_equal(th_jint(m, "attempts"), 1);
	long long lease = th_jtime(m, "lease_expires_at");
	assert_true(lease >= before + 300 * SEC_US - 1000 && lease <= after + 300 * SEC_US + 1000);
	json_decref(c);

	/* a given lease */
	before = th_now_us();
	c = claim(w, "{\"max\":1,\"lease_seconds\":60}");
	after = th_now_us();
	assert_int_equal(json_array_size(c), 1);
	m = json_array_get(c, 0);
	assert_string_equal(th_jstr(m, "id"), ids[3]);
	lease = th_jtime(m, "lease_expires_at");
	assert_true(lease >= before + 60 * SEC_US - 1000 && lease <= after + 60 * SEC_US + 1000);
	json_decref(c);

	/* the rest in one claim: priority desc, then oldest first */
	c = claim(w, "{\"max\":100}");
	const int order[] = {1, 5, 0, 2, 4, 7};
	assert_int_equal(json_array_size(c), 6);
	for (size_t i = 0; i < 6; i++) {
		m = json_array_get(c, i);
		check_msg_shape(m);
		if (strcmp(th_jstr(m, "id"), ids[order[i]]))
			fail_msg("claim position %zu: got %s (body %s), expected m%d", i, th_jstr(m, "id"), th_jstr(m, "body"),
				 order[i]);
		assert_string_equal(th_jstr(m, "status"), "claimed");
		assert_int_equal(th_jint(m, "attempts"), 1);
	}
	json_decref(c);
	/* nothing left: [] (with a body and without) */
	c = claim(w, "{\"max\":10}");
	assert_int_equal(json_array_size(c), 0);
	json_decref(c);
	c = claim(w, NULL);
	assert_int_equal(json_array_size(c), 0);
	json_decref(c);
	c = claim(w, "{}");
	assert_int_equal(json_array_size(c), 0);
	json_decref(c);
	/* GET shows the claim */
	m = get_msg(w, ids[0]);
	assert_string_equal(th_jstr(m, "status"), "claimed");
	assert_int_equal(th_jint(m, "attempts"), 1);
	json_decref(m);
	json_t *l = list_inbox(w, "status=claimed");
	assert_int_equal(json_array_size(l), 8);
	json_decref(l);

	/* an empty inbox claims [] too */
	char empty[37];
	th_create_ws(cl, "claim-empty", NULL, empty);
	c = claim(empty, NULL);
	assert_int_equal(json_array_size(c), 0);
	json_decref(c);
}

static void test_claim_errors(void **state)
{
	(void)state;
	char w[37], path[128];
	th_create_ws(cl, "claim-errors", NULL, w);
	json_t *m = enqueue(w, "{\"body\":1}");
	inbox_path(path, sizeof path, w, "/claim");
	const char *bad[] = {"{\"max\":0}",		"{\"max\":101}",	  "{\"max\":\"1\"}",
			     "{\"max\":1.5}",		"{\"lease_seconds\":0}", "{\"lease_seconds\":604801}",
			     "{\"lease_seconds\":\"60\"}", "{\"lease_seconds\":-5}", "[1]",
			     "{\"max\":"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		th_resp r = th_req(cl, "POST", path, bad[i], NULL);
		if (r.status != 400)
			fail_msg("claim %s: expected 400, got %ld %s", bad[i], r.status, r.body);
		th_assert_error(&r, 400, NULL);
		th_resp_free(&r);
	}
	/* nothing was claimed by the bad requests */
	json_t *g = get_msg(w, th_jstr(m, "id"));
	assert_string_equal(th_jstr(g, "status"), "queued");
	assert_int_equal(th_jint(g, "attempts"), 0);
	json_decref(g);
	/* the bounds themselves are fine */
	json_t *c = claim(w, "{\"max\":100,\"lease_seconds\":604800}");
	assert_int_equal(json_array_size(c), 1);
	json_decref(c);
	json_decref(m);
}

#define CLAIM_MSGS 200
#define CLAIMERS 16

struct claim_race {
	char ws[37];
	char got[CLAIM_MSGS * 2][37];
	atomic_int n, errors, too_many, bad_fields;
};

static void claim_worker(int t, void *arg)
{
	struct claim_race *cr = arg;
	th_client *c = th_client_new(&srv);
	char path[128];
	inbox_path(path, sizeof path, cr->ws, "/claim");
	for (int loops = 0; loops < CLAIM_MSGS; loops++) {
		th_resp r = th_req(c, "POST", path, "{\"max\":5,\"lease_seconds\":600}", NULL);
		if (r.status != 200 || !json_is_array(r.json)) {
			atomic_fetch_add(&cr->errors, 1);
			th_resp_free(&r);
			break;
		}
		size_t n = json_array_size(r.json);
		if (n > 5)
			atomic_fetch_add(&cr->too_many, 1);
		for (size_t i = 0; i < n; i++) {
			json_t *m = json_array_get(r.json, i);
			if (strcmp(th_jstr(m, "status") ? th_jstr(m, "status") : "", "claimed") || th_jint(m, "attempts") != 1)
				atomic_fetch_add(&cr->bad_fields, 1);
			int k = atomic_fetch_add(&cr->n, 1);
			if (k < CLAIM_MSGS * 2)
				snprintf(cr->got[k], 37, "%s", th_jstr(m, "id") ? th_jstr(m, "id") : "");
		}
		th_resp_free(&r);
		if (n == 0)
			break;
	}
	(void)t;
	th_client_free(c);
}

static int cmp_id(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

static void test_claim_race_each_once(void **state)
{
	(void)state;
	static struct claim_race cr;
	static char want[CLAIM_MSGS][37];
	memset(&cr, 0, sizeof cr);
	th_create_ws(cl, "claim-race", NULL, cr.ws);
	for (int i = 0; i < CLAIM_MSGS; i++) {
		char body[64];
		snprintf(body, sizeof body, "{\"body\":%d,\"priority\":%d}", i, i % 7);
		json_t *m = enqueue(cr.ws, body);
		snprintf(want[i], 37, "%s", th_jstr(m, "id"));
		json_decref(m);
	}
	th_race(CLAIMERS, claim_worker, &cr);
	assert_int_equal(atomic_load(&cr.errors), 0);
	assert_int_equal(atomic_load(&cr.too_many), 0);
	assert_int_equal(atomic_load(&cr.bad_fields), 0);
	int n = atomic_load(&cr.n);
	if (n != CLAIM_MSGS)
		fail_msg("%d claims of %d messages", n, CLAIM_MSGS);
	qsort(cr.got, (size_t)n, sizeof cr.got[0], cmp_id);
	qsort(want, CLAIM_MSGS, sizeof want[0], cmp_id);
	for (int i = 0; i < CLAIM_MSGS; i++)
		if (strcmp(cr.got[i], want[i]))
			fail_msg("claimed set differs at %d: %s vs %s (a duplicate or a stranger)", i, cr.got[i], want[i]);
	json_t *l = list_inbox(cr.ws, "status=claimed");
	assert_int_equal(json_array_size(l), CLAIM_MSGS);
	json_decref(l);
	l = list_inbox(cr.ws, "status=queued");
	assert_int_equal(json_array_size(l), 0);
	json_decref(l);
}

#define DUEL_CLAIMERS 8
#define DUEL_ROUNDS 10

struct duel {
	char ws[37];
	char mid[37];
	atomic_int winners, errors, wrong;
};

static void duel_worker(int t, void *arg)
{
	struct duel *d = arg;
	th_client *c = th_client_new(&srv);
	char path[128];
	inbox_path(path, sizeof path, d->ws, "/claim");
	th_resp r = th_req(c, "POST", path, NULL, NULL);
	if (r.status != 200 || !json_is_array(r.json)) {
		atomic_fetch_add(&d->errors, 1);
	} else if (json_array_size(r.json) == 1) {
		atomic_fetch_add(&d->winners, 1);
		if (strcmp(th_jstr(json_array_get(r.json, 0), "id"), d->mid))
			atomic_fetch_add(&d->wrong, 1);
	} else if (json_array_size(r.json) != 0) {
		atomic_fetch_add(&d->wrong, 1);
	}
	th_resp_free(&r);
	(void)t;
	th_client_free(c);
}

static void test_claimers_duel_for_one_message(void **state)
{
	(void)state;
	static struct duel d;
	char ws_id[37];
	th_create_ws(cl, "claim-duel", NULL, ws_id);
	for (int round = 0; round < DUEL_ROUNDS; round++) {
		memset(&d, 0, sizeof d);
		snprintf(d.ws, sizeof d.ws, "%s", ws_id);
		char body[64];
		snprintf(body, sizeof body, "{\"body\":{\"round\":%d}}", round);
		json_t *m = enqueue(d.ws, body);
		snprintf(d.mid, sizeof d.mid, "%s", th_jstr(m, "id"));
		json_decref(m);
		th_race(DUEL_CLAIMERS, duel_worker, &d);
		assert_int_equal(atomic_load(&d.errors), 0);
		assert_int_equal(atomic_load(&d.wrong), 0);
		if (atomic_load(&d.winners) != 1)
			fail_msg("round %d: %d claimers got the one message", round, atomic_load(&d.winners));
		m = get_msg(d.ws, d.mid);
		assert_string_equal(th_jstr(m, "status"), "claimed");
		assert_int_equal(th_jint(m, "attempts"), 1);
		json_decref(m);
	}
}

/* ---- leases, dead letters -------------------------------------------------------------- */

static void test_lease_expiry_reclaim_and_fencing(void **state)
{
	(void)state;
	char w[37];
	th_create_ws(cl, "lease-expiry", NULL, w);
	json_t *m = enqueue(w, "{\"body\":\"crash-prone task\"}");
	char mid[37];
	snprintf(mid, sizeof mid, "%s", th_jstr(m, "id"));
	json_decref(m);
	json_t *c = claim(w, "{\"lease_seconds\":1}");
	assert_int_equal(json_array_size(c), 1);
	assert_string_equal(th_jstr(json_array_get(c, 0), "id"), mid);
	assert_int_equal(th_jint(json_array_get(c, 0), "attempts"), 1);
	long long lease1 = th_jtime(json_array_get(c, 0), "lease_expires_at");
	json_decref(c);
	/* invisible while leased */
	c = claim(w, "{\"max\":10}");
	assert_int_equal(json_array_size(c), 0);
	json_decref(c);
	/* the claimer "crashes"; the lease ends; another claimer gets it, attempts 2 */
	th_sleep_ms(1500);
	c = claim(w, "{\"max\":10,\"lease_seconds\":30}");
	assert_int_equal(json_array_size(c), 1);
	json_t *again = json_array_get(c, 0);
	assert_string_equal(th_jstr(again, "id"), mid);
	assert_string_equal(th_jstr(again, "status"), "claimed");
	assert_int_equal(th_jint(again, "attempts"), 2);
	assert_true(th_jtime(again, "lease_expires_at") > lease1 + 20 * SEC_US);
	assert_true(body_is(again, "\"crash-prone task\""));
	json_decref(c);
	/* the first claimer comes back and acks with its attempt number: refused */
	th_resp r = ack(w, mid, "{\"status\":\"completed\",\"result\":\"late\",\"attempt\":1}");
	th_assert_error(&r, 409, "stale_claim");
	assert_int_equal(th_int(&r, "attempts"), 2);
	th_resp_free(&r);
	r = ack(w, mid, "{\"status\":\"failed\",\"attempt\":3}");
	th_assert_error(&r, 409, "stale_claim");
	assert_int_equal(th_int(&r, "attempts"), 2);
	th_resp_free(&r);
	m = get_msg(w, mid);
	assert_string_equal(th_jstr(m, "status"), "claimed");
	assert_true(th_jnull(m, "result"));
	json_decref(m);
	/* the current holder's ack is accepted */
	m = ack_ok(w, mid, "{\"status\":\"completed\",\"result\":{\"done\":true},\"attempt\":2}");
	assert_string_equal(th_jstr(m, "status"), "completed");
	assert_int_equal(th_jint(m, "attempts"), 2);
	json_decref(m);
	c = claim(w, NULL);
	assert_int_equal(json_array_size(c), 0);
	json_decref(c);
}

static void test_dead_letter(void **state)
{
	(void)state;
	char w[37];
	th_create_ws(cl, "dead-letter", NULL, w);
	json_t *m = enqueue(w, "{\"body\":\"poison\",\"max_attempts\":2}");
	char mid[37];
	snprintf(mid, sizeof mid, "%s", th_jstr(m, "id"));
	assert_int_equal(th_jint(m, "max_attempts"), 2);
	json_decref(m);
	json_t *ok = enqueue(w, "{\"body\":\"healthy\",\"priority\":-1}");
	for (int attempt = 1; attempt <= 2; attempt++) {
		json_t *c = claim(w, "{\"lease_seconds\":1}");
		assert_int_equal(json_array_size(c), 1);
		assert_string_equal(th_jstr(json_array_get(c, 0), "id"), mid);
		assert_int_equal(th_jint(json_array_get(c, 0), "attempts"), attempt);
		json_decref(c);
		th_sleep_ms(1300);
	}
	/* both leases ended: the next claim dead-letters it and gives the healthy one instead */
	json_t *c = claim(w, "{\"max\":10}");
	assert_int_equal(json_array_size(c), 1);
	assert_string_equal(th_jstr(json_array_get(c, 0), "id"), th_jstr(ok, "id"));
	json_decref(c);
	c = claim(w, "{\"max\":10}");
	assert_int_equal(json_array_size(c), 0);
	json_decref(c);
	m = get_msg(w, mid);
	assert_string_equal(th_jstr(m, "status"), "dead");
	assert_int_equal(th_jint(m, "attempts"), 2);
	assert_true(body_is(m, "\"poison\"")); /* kept, not lost */
	json_decref(m);
	json_t *l = list_inbox(w, "status=dead");
	assert_int_equal(json_array_size(l), 1);
	assert_string_equal(th_jstr(json_array_get(l, 0), "id"), mid);
	json_decref(l);
	th_resp r = ack(w, mid, "{\"status\":\"completed\"}");
	th_assert_error(&r, 409, "dead_lettered");
	th_resp_free(&r);
	r = ack(w, mid, "{\"status\":\"failed\",\"attempt\":2}");
	th_assert_error(&r, 409, "dead_lettered");
	th_resp_free(&r);
	m = get_msg(w, mid);
	assert_string_equal(th_jstr(m, "status"), "dead");
	json_decref(m);

	/* max_attempts 1, dead after its single lease ends, while alone in the inbox */
	json_t *one = enqueue(w, "{\"body\":\"once\",\"max_attempts\":1}");
	c = claim(w, "{\"lease_seconds\":1}");
	assert_int_equal(json_array_size(c), 1);
	json_decref(c);
	th_sleep_ms(1300);
	c = claim(w, NULL);
	assert_int_equal(json_array_size(c), 0);
	json_decref(c);
	m = get_msg(w, th_jstr(one, "id"));
	assert_string_equal(th_jstr(m, "status"), "dead");
	assert_int_equal(th_jint(m, "attempts"), 1);
	json_decref(m);
	json_decref(one);
	json_decref(ok);
}

/* ---- ack --------------------------------------------------------------------------------- */

static void test_ack_paths(void **state)
{
	(void)state;
	char w[37];
	th_create_ws(cl, "ack-paths", NULL, w);
	json_t *a = enqueue(w, "{\"body\":\"a\",\"priority\":3}");
	json_t *b = enqueue(w, "{\"body\":\"b\",\"priority\":2}");
	json_t *q = enqueue(w, "{\"body\":\"q\",\"priority\":1}");
	const char *aid = th_jstr(a, "id"), *bid = th_jstr(b, "id"), *qid = th_jstr(q, "id");

	/* not claimed yet */
	th_resp r = ack(w, qid, "{\"status\":\"completed\"}");
	th_assert_error(&r, 409, "not_claimed");
	th_resp_free(&r);
	/* bad bodies */
	const char *bad[] = {"{\"status\":\"done\"}", "{}", "{\"status\":1}", "{\"status\":null}",
			     "{\"status\":\"completed\",\"attempt\":\"1\"}", "[]", "{\"status\":"};
	json_t *c = claim(w, "{\"max\":2}");
	assert_int_equal(json_array_size(c), 2);
	assert_string_equal(th_jstr(json_array_get(c, 0), "id"), aid);
	assert_string_equal(th_jstr(json_array_get(c, 1), "id"), bid);
	json_decref(c);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		r = ack(w, aid, bad[i]);
		if (r.status != 400)
			fail_msg("ack %s: expected 400, got %ld %s", bad[i], r.status, r.body);
		th_assert_error(&r, 400, NULL);
		th_resp_free(&r);
	}
	json_t *g = get_msg(w, aid);
	assert_string_equal(th_jstr(g, "status"), "claimed");
	json_decref(g);
	/* absent and malformed messages */
	r = ack(w, ABSENT_ID, "{\"status\":\"completed\"}");
	th_assert_error(&r, 404, "not_found");
	th_resp_free(&r);
	r = ack(w, "01890000", "{\"status\":\"completed\"}");
	th_assert_error(&r, 400, NULL);
	th_resp_free(&r);

	/* completed with a result */
	long long before = th_now_us();
	json_t *m = ack_ok(w, aid, "{\"status\":\"completed\",\"result\":{\"pr\":17,\"ok\":true}}");
	long long after = th_now_us();
	assert_string_equal(th_jstr(m, "status"), "completed");
	json_t *want = json_loads("{\"pr\":17,\"ok\":true}", 0, NULL);
	assert_true(json_equal(json_object_get(m, "result"), want));
	json_decref(want);
	long long acked = th_jtime(m, "acked_at");
	assert_true(acked >= before - 2 * SEC_US && acked <= after + 2 * SEC_US);
	assert_int_equal(th_jint(m, "attempts"), 1);
	/* the same ack again: 200, nothing changes */
	json_t *m2 = ack_ok(w, aid, "{\"status\":\"completed\",\"result\":{\"pr\":17,\"ok\":true}}");
	assert_true(json_equal(m, m2));
	json_decref(m2);
	g = get_msg(w, aid);
	assert_true(json_equal(g, m));
	json_decref(g);
	/* the other status: already_acked, and nothing changes */
	r = ack(w, aid, "{\"status\":\"failed\",\"result\":\"no\"}");
	th_assert_error(&r, 409, "already_acked");
	th_resp_free(&r);
	g = get_msg(w, aid);
	assert_true(json_equal(g, m));
	json_decref(g);
	json_decref(m);

	/* failed, with the attempt number (fencing that matches) */
	m = ack_ok(w, bid, "{\"status\":\"failed\",\"result\":\"tool crashed\",\"attempt\":1}");
	assert_string_equal(th_jstr(m, "status"), "failed");
	assert_string_equal(th_jstr(m, "result"), "tool crashed");
	th_jtime(m, "acked_at");
	json_decref(m);
	r = ack(w, bid, "{\"status\":\"completed\"}");
	th_assert_error(&r, 409, "already_acked");
	th_resp_free(&r);
	m = ack_ok(w, bid, "{\"status\":\"failed\",\"result\":\"tool crashed\"}");
	assert_string_equal(th_jstr(m, "status"), "failed");
	json_decref(m);

	/* stale_claim: an attempt number that is not the current one */
	c = claim(w, NULL);
	assert_int_equal(json_array_size(c), 1);
	assert_string_equal(th_jstr(json_array_get(c, 0), "id"), qid);
	json_decref(c);
	r = ack(w, qid, "{\"status\":\"completed\",\"attempt\":7}");
	th_assert_error(&r, 409, "stale_claim");
	assert_int_equal(th_int(&r, "attempts"), 1);
	th_resp_free(&r);
	r = ack(w, qid, "{\"status\":\"completed\",\"attempt\":0}"); /* no claim has number 0 */
	if (r.status == 400)
		th_assert_error(&r, 400, "invalid");
	else
		th_assert_error(&r, 409, "stale_claim");
	th_resp_free(&r);
	g = get_msg(w, qid);
	assert_string_equal(th_jstr(g, "status"), "claimed");
	json_decref(g);
	m = ack_ok(w, qid, "{\"status\":\"completed\",\"attempt\":1}");
	assert_string_equal(th_jstr(m, "status"), "completed");
	assert_true(th_jnull(m, "result"));
	json_decref(m);

	/* acked messages are never claimed again */
	c = claim(w, "{\"max\":100}");
	assert_int_equal(json_array_size(c), 0);
	json_decref(c);
	json_t *l = list_inbox(w, "status=completed");
	assert_int_equal(json_array_size(l), 2);
	json_decref(l);
	l = list_inbox(w, "status=failed");
	assert_int_equal(json_array_size(l), 1);
	json_decref(l);
	json_decref(a);
	json_decref(b);
	json_decref(q);
}

/* ---- a schedule's outcome through the ack ---------------------------------------------- */

struct outcome_step {
	const char *ack;     /* the ack body */
	long long empties;   /* consecutive_empty_runs afterwards */
	const char *status;  /* last_status afterwards */
};

static void test_schedule_outcome_through_ack(void **state)
{
	(void)state;
	char w[37], path[200];
	th_create_ws(cl, "schedule-outcome", NULL, w);
	snprintf(path, sizeof path, "/workspaces/%s/schedules", w);
	th_resp r = th_req(cl, "POST", path,
			   "{\"name\":\"idle loop\",\"cron_expr\":\"@daily\",\"prompt\":\"anything to do?\","
			   "\"enabled\":false}",
			   NULL);
	if (r.status != 201)
		fail_msg("creating the schedule: %ld %s", r.status, r.body);
	char sid[37];
	snprintf(sid, sizeof sid, "%s", th_str(&r, "id"));
	th_resp_free(&r);

	const struct outcome_step steps[] = {
		{"{\"status\":\"completed\"}", 1, "empty"},
		{"{\"status\":\"completed\",\"result\":null}", 2, "empty"},
		{"{\"status\":\"completed\",\"result\":\"  \"}", 3, "stale"},
		{"{\"status\":\"completed\",\"result\":[]}", 4, "stale"},
		{"{\"status\":\"completed\",\"result\":{}}", 5, "stale"},
		{"{\"status\":\"completed\",\"result\":\"\"}", 6, "stale"},
		{"{\"status\":\"completed\",\"result\":{\"summary\":\"merged 2 PRs\"}}", 0, "ok"},
		{"{\"status\":\"completed\",\"result\":\"\"}", 1, "empty"},
		{"{\"status\":\"completed\",\"result\":0}", 0, "ok"},
		{"{\"status\":\"completed\",\"result\":\"\\t\"}", 1, "empty"},
		{"{\"status\":\"completed\",\"result\":\"x\"}", 0, "ok"},
	};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		snprintf(path, sizeof path, "/workspaces/%s/schedules/%s/run", w, sid);
		r = th_req(cl, "POST", path, NULL, NULL);
		if (r.status != 202)
			fail_msg("run %zu: %ld %s", i, r.status, r.body);
		char mid[37], rid[37];
		snprintf(mid, sizeof mid, "%s", th_str(&r, "message_id"));
		snprintf(rid, sizeof rid, "%s", th_str(&r, "id"));
		th_resp_free(&r);
		json_t *c = claim(w, "{\"max\":5}");
		assert_int_equal(json_array_size(c), 1);
		json_t *m = json_array_get(c, 0);
		assert_string_equal(th_jstr(m, "id"), mid);
		assert_string_equal(th_jstr(m, "source"), "schedule");
		assert_string_equal(th_jstr(m, "schedule_id"), sid);
		assert_string_equal(th_jstr(m, "run_id"), rid);
		assert_true(body_is(m, "\"anything to do?\""));
		json_decref(c);
		json_decref(ack_ok(w, mid, steps[i].ack));
		snprintf(path, sizeof path, "/workspaces/%s/schedules/%s", w, sid);
		json_t *s = th_get_ok(cl, path);
		if (th_jint(s, "consecutive_empty_runs") != steps[i].empties || !th_jstr(s, "last_status") ||
		    strcmp(th_jstr(s, "last_status"), steps[i].status))
			fail_msg("after ack %zu %s: consecutive_empty_runs %lld last_status %s; expected %lld %s", i,
				 steps[i].ack, th_jint(s, "consecutive_empty_runs"),
				 th_jstr(s, "last_status") ? th_jstr(s, "last_status") : "null", steps[i].empties,
				 steps[i].status);
		assert_int_equal(th_jint(s, "run_count"), (long long)i + 1);
		assert_string_equal(th_jstr(s, "last_run_id"), rid);
		json_decref(s);
	}

	/* failed: last_status "failed" with last_error */
	snprintf(path, sizeof path, "/workspaces/%s/schedules/%s/run", w, sid);
	r = th_req(cl, "POST", path, NULL, NULL);
	assert_int_equal(r.status, 202);
	char mid[37];
	snprintf(mid, sizeof mid, "%s", th_str(&r, "message_id"));
	th_resp_free(&r);
	json_t *c = claim(w, NULL);
	assert_int_equal(json_array_size(c), 1);
	json_decref(c);
	json_decref(ack_ok(w, mid, "{\"status\":\"failed\",\"result\":\"the agent crashed\"}"));
	snprintf(path, sizeof path, "/workspaces/%s/schedules/%s", w, sid);
	json_t *s = th_get_ok(cl, path);
	assert_string_equal(th_jstr(s, "last_status"), "failed");
	if (!th_jstr(s, "last_error") || !*th_jstr(s, "last_error"))
		fail_msg("failed ack left no last_error: %s", json_dumps(s, JSON_COMPACT));
	json_decref(s);

	/* a repeated ack does not count twice */
	snprintf(path, sizeof path, "/workspaces/%s/schedules/%s/run", w, sid);
	r = th_req(cl, "POST", path, NULL, NULL);
	assert_int_equal(r.status, 202);
	snprintf(mid, sizeof mid, "%s", th_str(&r, "message_id"));
	th_resp_free(&r);
	c = claim(w, NULL);
	json_decref(c);
	json_decref(ack_ok(w, mid, "{\"status\":\"completed\"}"));
	json_decref(ack_ok(w, mid, "{\"status\":\"completed\"}"));
	json_decref(ack_ok(w, mid, "{\"status\":\"completed\"}"));
	snprintf(path, sizeof path, "/workspaces/%s/schedules/%s", w, sid);
	s = th_get_ok(cl, path);
	assert_string_equal(th_jstr(s, "last_status"), "empty");
	assert_int_equal(th_jint(s, "consecutive_empty_runs"), 1);
	json_decref(s);

	/* an empty ack of an API message touches no schedule */
	json_t *m = enqueue(w, "{\"body\":\"plain\"}");
	c = claim(w, NULL);
	json_decref(c);
	json_decref(ack_ok(w, th_jstr(m, "id"), "{\"status\":\"completed\"}"));
	s = th_get_ok(cl, path);
	assert_int_equal(th_jint(s, "consecutive_empty_runs"), 1);
	json_decref(s);
	json_decref(m);
}

/* ---- ack races ------------------------------------------------------------------------ */

#define ACKERS 16

struct ack_race {
	char ws[37];
	char mid[37];
	char sid[37];
	char mids[ACKERS][37];
	long status[ACKERS];
	char got[ACKERS][32]; /* 200: the message's status; 409: the code */
};

static void ack_one(int i, void *arg)
{
	struct ack_race *ar = arg;
	th_client *c = th_client_new(&srv);
	char path[200];
	msg_path(path, sizeof path, ar->ws, ar->mid, "/ack");
	th_resp r = th_reqf(c, "POST", path, "{\"status\":\"%s\",\"result\":\"by %s\"}",
			    i % 2 ? "failed" : "completed", i % 2 ? "failed" : "completed");
	ar->status[i] = r.status;
	const char *v = th_str(&r, r.status == 200 ? "status" : "code");
	snprintf(ar->got[i], sizeof ar->got[i], "%s", v ? v : "");
	th_resp_free(&r);
	th_client_free(c);
}

static void test_ack_race_one_outcome(void **state)
{
	(void)state;
	static struct ack_race ar;
	char w[37];
	th_create_ws(cl, "ack-race", NULL, w);
	for (int round = 0; round < 5; round++) {
		memset(&ar, 0, sizeof ar);
		snprintf(ar.ws, sizeof ar.ws, "%s", w);
		json_t *m = enqueue(w, "{\"body\":\"contested\"}");
		snprintf(ar.mid, sizeof ar.mid, "%s", th_jstr(m, "id"));
		json_decref(m);
		json_t *c = claim(w, NULL);
		assert_int_equal(json_array_size(c), 1);
		json_decref(c);
		th_race(ACKERS, ack_one, &ar);
		m = get_msg(w, ar.mid);
		const char *final = th_jstr(m, "status");
		if (strcmp(final, "completed") && strcmp(final, "failed"))
			fail_msg("round %d: status %s after the acks", round, final);
		char want_result[32];
		snprintf(want_result, sizeof want_result, "by %s", final);
		assert_string_equal(th_jstr(m, "result"), want_result); /* the winner's result, whole */
		int ok = 0;
		for (int i = 0; i < ACKERS; i++) {
			const char *mine = i % 2 ? "failed" : "completed";
			if (!strcmp(mine, final)) {
				if (ar.status[i] != 200 || strcmp(ar.got[i], final))
					fail_msg("round %d acker %d (%s): %ld %s", round, i, mine, ar.status[i], ar.got[i]);
				ok++;
			} else if (ar.status[i] != 409 || strcmp(ar.got[i], "already_acked")) {
				fail_msg("round %d acker %d (%s, lost): %ld %s", round, i, mine, ar.status[i], ar.got[i]);
			}
		}
		assert_int_equal(ok, ACKERS / 2);
		json_decref(m);
	}
}

static void ack_empty_one(int i, void *arg)
{
	struct ack_race *ar = arg;
	th_client *c = th_client_new(&srv);
	char path[200];
	msg_path(path, sizeof path, ar->ws, ar->mids[i], "/ack");
	th_resp r = th_req(c, "POST", path, i % 2 ? "{\"status\":\"completed\",\"result\":[]}" : "{\"status\":\"completed\"}",
			   NULL);
	ar->status[i] = r.status;
	th_resp_free(&r);
	th_client_free(c);
}

/* Outcomes reported at once are each counted: the count is one atomic statement. */
static void test_concurrent_empty_acks_all_count(void **state)
{
	(void)state;
	static struct ack_race ar;
	memset(&ar, 0, sizeof ar);
	th_create_ws(cl, "empty-ack-race", NULL, ar.ws);
	char path[200];
	snprintf(path, sizeof path, "/workspaces/%s/schedules", ar.ws);
	th_resp r = th_req(cl, "POST", path,
			   "{\"name\":\"busy\",\"cron_expr\":\"@daily\",\"prompt\":\"?\",\"enabled\":false}", NULL);
	assert_int_equal(r.status, 201);
	snprintf(ar.sid, sizeof ar.sid, "%s", th_str(&r, "id"));
	th_resp_free(&r);
	snprintf(path, sizeof path, "/workspaces/%s/schedules/%s/run", ar.ws, ar.sid);
	for (int i = 0; i < ACKERS; i++) {
		r = th_req(cl, "POST", path, NULL, NULL);
		assert_int_equal(r.status, 202);
		th_resp_free(&r);
	}
	json_t *c = claim(ar.ws, "{\"max\":100}");
	assert_int_equal(json_array_size(c), ACKERS);
	for (int i = 0; i < ACKERS; i++)
		snprintf(ar.mids[i], 37, "%s", th_jstr(json_array_get(c, (size_t)i), "id"));
	json_decref(c);
	th_race(ACKERS, ack_empty_one, &ar);
	for (int i = 0; i < ACKERS; i++)
		if (ar.status[i] != 200)
			fail_msg("acker %d: %ld", i, ar.status[i]);
	snprintf(path, sizeof path, "/workspaces/%s/schedules/%s", ar.ws, ar.sid);
	json_t *s = th_get_ok(cl, path);
	assert_int_equal(th_jint(s, "consecutive_empty_runs"), ACKERS);
	assert_string_equal(th_jstr(s, "last_status"), "stale");
	assert_int_equal(th_jint(s, "run_count"), ACKERS);
	json_decref(s);
}

/* The schedule went away while its message waited: the ack still works. */
static void test_ack_after_schedule_deleted(void **state)
{
	(void)state;
	char w[37], path[200], sid[37], mid[37];
	th_create_ws(cl, "orphan-message", NULL, w);
	snprintf(path, sizeof path, "/workspaces/%s/schedules", w);
	th_resp r = th_req(cl, "POST", path, "{\"name\":\"short-lived\",\"cron_expr\":\"@daily\",\"prompt\":\"bye\"}",
			   NULL);
	assert_int_equal(r.status, 201);
	snprintf(sid, sizeof sid, "%s", th_str(&r, "id"));
	th_resp_free(&r);
	snprintf(path, sizeof path, "/workspaces/%s/schedules/%s/run", w, sid);
	r = th_req(cl, "POST", path, NULL, NULL);
	assert_int_equal(r.status, 202);
	snprintf(mid, sizeof mid, "%s", th_str(&r, "message_id"));
	th_resp_free(&r);
	snprintf(path, sizeof path, "/workspaces/%s/schedules/%s", w, sid);
	r = th_req(cl, "DELETE", path, NULL, NULL);
	assert_int_equal(r.status, 204);
	th_resp_free(&r);
	json_t *m = get_msg(w, mid); /* the message outlives its schedule */
	assert_true(body_is(m, "\"bye\""));
	json_decref(m);
	json_t *c = claim(w, NULL);
	assert_int_equal(json_array_size(c), 1);
	assert_string_equal(th_jstr(json_array_get(c, 0), "id"), mid);
	json_decref(c);
	m = ack_ok(w, mid, "{\"status\":\"completed\",\"result\":\"done anyway\"}");
	assert_string_equal(th_jstr(m, "status"), "completed");
	json_decref(m);
	m = ack_ok(w, mid, "{\"status\":\"completed\",\"result\":\"done anyway\"}");
	json_decref(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enqueue_shape_get_list),
		cmocka_unit_test(test_enqueue_errors_change_nothing),
		cmocka_unit_test(test_list_filter_and_paging),
		cmocka_unit_test(test_idempotency_sequential),
		cmocka_unit_test(test_idempotency_race),
		cmocka_unit_test(test_claim_order_and_fields),
		cmocka_unit_test(test_claim_errors),
		cmocka_unit_test(test_claim_race_each_once),
		cmocka_unit_test(test_claimers_duel_for_one_message),
		cmocka_unit_test(test_lease_expiry_reclaim_and_fencing),
		cmocka_unit_test(test_dead_letter),
		cmocka_unit_test(test_ack_paths),
		cmocka_unit_test(test_schedule_outcome_through_ack),
		cmocka_unit_test(test_ack_race_one_outcome),
		cmocka_unit_test(test_concurrent_empty_acks_all_count),
		cmocka_unit_test(test_ack_after_schedule_deleted),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
