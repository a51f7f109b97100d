/*
 * test_http_memory.c — SPEC §3 over HTTP against a real colonyd: the seed's eleven
 * handler cases, TTL (expired = absent everywhere), ETag / If-Match / If-None-Match,
 * paging and prefix, conditional delete, and bad input (4xx, nothing written).
 */
#include "harness.h"

#include <libpq-fe.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static th_server srv;
static th_client *cl;
static char ws[37];
static char mem[128]; /* "/workspaces/<ws>/memory" */

static int group_setup(void **state)
{
	(void)state;
	th_server_start(&srv, NULL);
	cl = th_client_new(&srv);
	th_create_ws(cl, "memory-tests", NULL, ws);
	snprintf(mem, sizeof mem, "/workspaces/%s/memory", ws);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	th_client_free(cl);
	return th_server_stop(&srv) == 0 ? 0 : -1;
}

static th_resp get_key(const char *key)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", mem, key);
	return th_req(cl, "GET", path, NULL, NULL);
}

static th_resp put(const char *body) { return th_req(cl, "POST", mem, body, NULL); }

static void expect(th_resp r, long status, const char *code)
{
	if (r.status != status)
		fail_msg("expected %ld, got %ld: %s", status, r.status, r.body);
	if (code)
		assert_string_equal(th_str(&r, "code"), code);
	if (status >= 400)
		assert_non_null(th_str(&r, "error"));
	th_resp_free(&r);
}

static long long version_of(const char *key)
{
	th_resp r = get_key(key);
	long long v = r.status == 200 ? th_int(&r, "version") : -1;
	th_resp_free(&r);
	return v;
}

/* Seed cases 1–2: list and get show the version. */
static void test_seed_list_and_get_shape(void **state)
{
	(void)state;
	expect(put("{\"key\":\"shape\",\"value\":{\"a\":[1,2,{\"b\":null}]}}"), 200, NULL);
	th_resp r = get_key("shape");
	assert_int_equal(r.status, 200);
	assert_string_equal(th_str(&r, "key"), "shape");
	assert_int_equal(th_int(&r, "version"), 1);
	assert_string_equal(r.etag, "\"1\"");
	assert_non_null(th_str(&r, "updated_at"));
	assert_null(json_object_get(r.json, "expires_at"));
	json_t *want = json_loads("{\"a\":[1,2,{\"b\":null}]}", 0, NULL);
	assert_true(json_equal(json_object_get(r.json, "value"), want));
	json_decref(want);
	th_resp_free(&r);
	r = th_req(cl, "GET", mem, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_true(json_is_array(r.json));
	int found = 0;
	for (size_t i = 0; i < json_array_size(r.json); i++) {
		json_t *e = json_array_get(r.json, i);
		if (!strcmp(json_string_value(json_object_get(e, "key")), "shape")) {
			found = 1;
			assert_int_equal(json_integer_value(json_object_get(e, "version")), 1);
		}
	}
	assert_true(found);
	th_resp_free(&r);
}

/* Seed case 3: no version = last-write-wins upsert, version increments. */
static void test_seed_upsert_increments(void **state)
{
	(void)state;
	th_resp r = put("{\"key\":\"lww\",\"value\":1}");
	assert_int_equal(r.status, 200);
	assert_string_equal(th_str(&r, "status"), "ok");
	assert_int_equal(th_int(&r, "version"), 1);
	th_resp_free(&r);
	r = put("{\"key\":\"lww\",\"value\":2}");
	assert_int_equal(th_int(&r, "version"), 2);
	th_resp_free(&r);
	r = put("{\"key\":\"lww\",\"value\":null}"); /* null is a value */
	assert_int_equal(r.status, 200);
	assert_int_equal(th_int(&r, "version"), 3);
	th_resp_free(&r);
	r = get_key("lww");
	assert_true(json_is_null(json_object_get(r.json, "value")));
	th_resp_free(&r);
}

/* Seed cases 4–5: CAS match increments; mismatch is 409 with both versions. */
static void test_seed_cas_match_and_mismatch(void **state)
{
	(void)state;
	expect(put("{\"key\":\"cas\",\"value\":\"a\"}"), 200, NULL);
	th_resp r = put("{\"key\":\"cas\",\"value\":\"b\",\"if_match_version\":1}");
	assert_int_equal(r.status, 200);
	assert_int_equal(th_int(&r, "version"), 2);
	th_resp_free(&r);
	r = put("{\"key\":\"cas\",\"value\":\"c\",\"if_match_version\":1}");
	assert_int_equal(r.status, 409);
	assert_string_equal(th_str(&r, "code"), "version_mismatch");
	assert_int_equal(th_int(&r, "expected_version"), 1);
	assert_int_equal(th_int(&r, "current_version"), 2);
	th_resp_free(&r);
	r = get_key("cas");
	assert_string_equal(json_string_value(json_object_get(r.json, "value")), "b");
	th_resp_free(&r);
}

/* Seed cases 6–7: create-only on absent succeeds; CAS on absent is 409 with null. */
static void test_seed_create_only_and_cas_on_absent(void **state)
{
	(void)state;
	th_resp r = put("{\"key\":\"fresh\",\"value\":0,\"if_match_version\":0}");
	assert_int_equal(r.status, 200);
	assert_int_equal(th_int(&r, "version"), 1);
	th_resp_free(&r);
	r = put("{\"key\":\"fresh\",\"value\":9,\"if_match_version\":0}");
	assert_int_equal(r.status, 409);
	assert_int_equal(th_int(&r, "current_version"), 1);
	th_resp_free(&r);
	r = put("{\"key\":\"never\",\"value\":1,\"if_match_version\":5}");
	assert_int_equal(r.status, 409);
	assert_string_equal(th_str(&r, "code"), "version_mismatch");
	assert_int_equal(th_int(&r, "expected_version"), 5);
	assert_true(json_is_null(json_object_get(r.json, "current_version")));
	th_resp_free(&r);
	expect(get_key("never"), 404, "not_found");
}

/* Seed cases 8–9 and the rest of the bad inputs: 4xx, nothing written. */
static void test_seed_bad_inputs_change_nothing(void **state)
{
	(void)state;
	expect(put("{\"key\":\"guard\",\"value\":\"orig\"}"), 200, NULL);
	char long_key[300];
	memset(long_key, 'k', 257);
	long_key[257] = 0;
	char body_long[512];
	snprintf(body_long, sizeof body_long, "{\"key\":\"%s\",\"value\":1}", long_key);
	const char *bad[] = {
		"{\"value\":1}",                                        /* missing key */
		"{\"key\":",                                            /* malformed JSON */
		"{\"key\":\"guard\"}",                                  /* value missing */
		"{\"key\":7,\"value\":1}",                              /* key not a string */
		"{\"key\":\"\",\"value\":1}",                           /* empty key */
		body_long,                                              /* key too long */
		"{\"key\":\"a/b\",\"value\":1}",                        /* '/' */
		"{\"key\":\"a\\u0001b\",\"value\":1}",                  /* control character */
		"{\"key\":\"a\\nb\",\"value\":1}",
		"{\"key\":\"guard\",\"value\":1,\"if_match_version\":-1}",
		"{\"key\":\"guard\",\"value\":1,\"if_match_version\":\"1\"}",
		"{\"key\":\"guard\",\"value\":1,\"if_match_version\":1.5}",
		"{\"key\":\"guard\",\"value\":1,\"ttl_seconds\":0}",
		"{\"key\":\"guard\",\"value\":1,\"ttl_seconds\":-5}",
		"{\"key\":\"guard\",\"value\":1,\"ttl_seconds\":\"10\"}",
		"[\"key\",\"guard\"]",
		"",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		th_resp r = put(bad[i]);
		if (r.status != 400)
			fail_msg("case %zu (%s): got %ld %s", i, bad[i], r.status, r.body);
		assert_non_null(th_str(&r, "error"));
		assert_non_null(th_str(&r, "code"));
		th_resp_free(&r);
	}
	th_resp r = get_key("guard");
	assert_int_equal(th_int(&r, "version"), 1);
	assert_string_equal(json_string_value(json_object_get(r.json, "value")), "orig");
	th_resp_free(&r);
	expect(get_key("a%2Fb"), 400, "invalid_key"); /* %2F stays inside the key segment */
	expect(get_key("a%C2%85b"), 400, "invalid_key"); /* C1 control U+0085 */
	expect(put("{\"key\":\"\\u0085x\",\"value\":1}"), 400, NULL);
	char k257[600];
	snprintf(k257, sizeof k257, "%s/%s", mem, long_key);
	expect(th_req(cl, "GET", k257, NULL, NULL), 400, "invalid_key");
	expect(th_req(cl, "GET", "/workspaces/nope/memory/x", NULL, NULL), 400, "invalid_id");
	expect(th_req(cl, "POST", "/workspaces/nope/memory", "{\"key\":\"k\",\"value\":1}", NULL), 400,
	       "invalid_id");
	/* absent workspace: 404, not 500, and not created */
	expect(th_req(cl, "POST", "/workspaces/01a20b18-0000-7000-8000-000000000000/memory",
		      "{\"key\":\"k\",\"value\":1}", NULL),
	       404, "not_found");
	expect(th_req(cl, "GET", "/workspaces/01a20b18-0000-7000-8000-000000000000/memory", NULL, NULL),
	       404, "not_found");
}

/* Seed cases 10–11, and conditional delete. */
static void test_seed_delete_and_conditional_delete(void **state)
{
	(void)state;
	char path[256];
	expect(put("{\"key\":\"del\",\"value\":1}"), 200, NULL);
	snprintf(path, sizeof path, "%s/del", mem);
	expect(th_req(cl, "DELETE", path, NULL, NULL), 200, NULL);
	expect(get_key("del"), 404, "not_found");
	expect(th_req(cl, "DELETE", path, NULL, NULL), 404, "not_found");

	expect(put("{\"key\":\"cdel\",\"value\":1}"), 200, NULL);
	expect(put("{\"key\":\"cdel\",\"value\":2}"), 200, NULL);
	snprintf(path, sizeof path, "%s/cdel?if_match_version=1", mem);
	th_resp r = th_req(cl, "DELETE", path, NULL, NULL);
	assert_int_equal(r.status, 409);
	assert_string_equal(th_str(&r, "code"), "version_mismatch");
	assert_int_equal(th_int(&r, "current_version"), 2);
	th_resp_free(&r);
	assert_int_equal(version_of("cdel"), 2);
	snprintf(path, sizeof path, "%s/cdel?if_match_version=abc", mem);
	expect(th_req(cl, "DELETE", path, NULL, NULL), 400, NULL);
	snprintf(path, sizeof path, "%s/cdel?if_match_version=2", mem);
	expect(th_req(cl, "DELETE", path, NULL, NULL), 200, NULL);
	expect(get_key("cdel"), 404, NULL);
	snprintf(path, sizeof path, "%s/cdel?if_match_version=2", mem);
	expect(th_req(cl, "DELETE", path, NULL, NULL), 404, NULL);
	/* after a delete the key starts again at version 1 */
	th_resp c = put("{\"key\":\"cdel\",\"value\":3,\"if_match_version\":0}");
	assert_int_equal(th_int(&c, "version"), 1);
	th_resp_free(&c);
}

static void test_header_forms(void **state)
{
	(void)state;
	const char *inm[] = {"If-None-Match: *", NULL};
	th_resp r = th_req(cl, "POST", mem, "{\"key\":\"hdr\",\"value\":1}", inm);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.etag, "\"1\"");
	th_resp_free(&r);
	r = th_req(cl, "POST", mem, "{\"key\":\"hdr\",\"value\":1}", inm);
	assert_int_equal(r.status, 412);
	assert_string_equal(th_str(&r, "code"), "precondition_failed");
	assert_int_equal(th_int(&r, "current_version"), 1);
	th_resp_free(&r);
	const char *im_ok[] = {"If-Match: \"1\"", NULL};
	r = th_req(cl, "POST", mem, "{\"key\":\"hdr\",\"value\":2}", im_ok);
	assert_int_equal(r.status, 200);
	assert_int_equal(th_int(&r, "version"), 2);
	assert_string_equal(r.etag, "\"2\"");
	th_resp_free(&r);
	r = th_req(cl, "POST", mem, "{\"key\":\"hdr\",\"value\":3}", im_ok);
	assert_int_equal(r.status, 412);
	assert_int_equal(th_int(&r, "expected_version"), 1);
	assert_int_equal(th_int(&r, "current_version"), 2);
	th_resp_free(&r);
	const char *im_bad[] = {"If-Match: \"abc\"", NULL};
	expect(th_req(cl, "POST", mem, "{\"key\":\"hdr\",\"value\":3}", im_bad), 400, NULL);
	const char *inm_bad[] = {"If-None-Match: \"3\"", NULL};
	expect(th_req(cl, "POST", mem, "{\"key\":\"hdr\",\"value\":3}", inm_bad), 400, NULL);
	/* header and body precondition together: ambiguous */
	expect(th_req(cl, "POST", mem, "{\"key\":\"hdr\",\"value\":3,\"if_match_version\":2}", im_ok), 400,
	       NULL);
	assert_int_equal(version_of("hdr"), 2);
	/* If-Match on DELETE */
	char path[256];
	snprintf(path, sizeof path, "%s/hdr", mem);
	r = th_req(cl, "DELETE", path, NULL, im_ok);
	assert_int_equal(r.status, 412);
	th_resp_free(&r);
	const char *im2[] = {"If-Match: \"2\"", NULL};
	expect(th_req(cl, "DELETE", path, NULL, im2), 200, NULL);
}

/* Expired = absent for every purpose. Waits out a 1 s TTL (a wait, not a timing claim). */
static void test_ttl_expired_is_absent(void **state)
{
	(void)state;
	expect(put("{\"key\":\"ttl-a\",\"value\":1,\"ttl_seconds\":1}"), 200, NULL);
	expect(put("{\"key\":\"ttl-b\",\"value\":1,\"ttl_seconds\":1}"), 200, NULL);
	expect(put("{\"key\":\"ttl-c\",\"value\":1,\"ttl_seconds\":1}"), 200, NULL);
	expect(put("{\"key\":\"ttl-d\",\"value\":1,\"ttl_seconds\":1}"), 200, NULL);
	th_resp r = get_key("ttl-a");
	assert_int_equal(r.status, 200);
	assert_non_null(th_str(&r, "expires_at"));
	th_resp_free(&r);
	/* a write without ttl clears it */
	expect(put("{\"key\":\"ttl-d\",\"value\":2}"), 200, NULL);
	r = get_key("ttl-d");
	assert_null(json_object_get(r.json, "expires_at"));
	th_resp_free(&r);

	th_sleep_ms(1300);
	expect(get_key("ttl-a"), 404, "not_found");
	r = th_req(cl, "GET", mem, NULL, NULL);
	for (size_t i = 0; i < json_array_size(r.json); i++) {
		const char *k = json_string_value(json_object_get(json_array_get(r.json, i), "key"));
		assert_true(strcmp(k, "ttl-a") && strcmp(k, "ttl-b") && strcmp(k, "ttl-c"));
	}
	th_resp_free(&r);
	/* create-only creates it anew at version 1 */
	r = put("{\"key\":\"ttl-a\",\"value\":5,\"if_match_version\":0}");
	assert_int_equal(r.status, 200);
	assert_int_equal(th_int(&r, "version"), 1);
	th_resp_free(&r);
	/* CAS on an expired key: 409 with current_version null */
	r = put("{\"key\":\"ttl-b\",\"value\":5,\"if_match_version\":1}");
	assert_int_equal(r.status, 409);
	assert_true(json_is_null(json_object_get(r.json, "current_version")));
	th_resp_free(&r);
	/* LWW on an expired key starts at version 1 */
	r = put("{\"key\":\"ttl-c\",\"value\":5}");
	assert_int_equal(th_int(&r, "version"), 1);
	th_resp_free(&r);
	/* delete of an expired key is 404 */
	char path[256];
	snprintf(path, sizeof path, "%s/ttl-b", mem);
	expect(th_req(cl, "DELETE", path, NULL, NULL), 404, NULL);
	/* ttl-d lost its TTL and survives */
	assert_int_equal(version_of("ttl-d"), 2);
}

static void test_list_prefix_and_paging(void **state)
{
	(void)state;
	char ws2[37], base[128];
	th_create_ws(cl, "memory-paging", NULL, ws2);
	snprintf(base, sizeof base, "/workspaces/%s/memory", ws2);
	const char *keys[] = {"a", "b:1", "b:2", "b:3", "b:10", "b;", "c", "\xc3\xa9t\xc3\xa9"};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		th_resp r = th_reqf(cl, "POST", base, "{\"key\":\"%s\",\"value\":%zu}", keys[i], i);
		assert_int_equal(r.status, 200);
		th_resp_free(&r);
	}
	/* all, in bytewise order */
	const char *order[] = {"a", "b:1", "b:10", "b:2", "b:3", "b;", "c", "\xc3\xa9t\xc3\xa9"};
	th_resp r = th_req(cl, "GET", base, NULL, NULL);
	assert_int_equal(json_array_size(r.json), 8);
	for (size_t i = 0; i < 8; i++)
		assert_string_equal(json_string_value(json_object_get(json_array_get(r.json, i), "key")),
				    order[i]);
	th_resp_free(&r);
	/* prefix */
	char path[256];
	snprintf(path, sizeof path, "%s?prefix=b:", base);
	r = th_req(cl, "GET", path, NULL, NULL);
	assert_int_equal(json_array_size(r.json), 4);
	th_resp_free(&r);
	/* pages of 3 with after= */
	char after[64] = "";
	size_t seen = 0;
	for (int page = 0; page < 5; page++) {
		snprintf(path, sizeof path, "%s?limit=3%s%s", base, after[0] ? "&after=" : "", after);
		r = th_req(cl, "GET", path, NULL, NULL);
		assert_int_equal(r.status, 200);
		size_t n = json_array_size(r.json);
		for (size_t i = 0; i < n; i++) {
			const char *k = json_string_value(json_object_get(json_array_get(r.json, i), "key"));
			assert_string_equal(k, order[seen++]);
			/* keep the key URL-safe for the next page: only ASCII keys are used as after */
			snprintf(after, sizeof after, "%s", k);
		}
		th_resp_free(&r);
		if (n < 3 || seen >= 6)
			break;
	}
	assert_true(seen >= 6);
	snprintf(path, sizeof path, "%s?limit=0", base);
	expect(th_req(cl, "GET", path, NULL, NULL), 400, NULL);
	snprintf(path, sizeof path, "%s?limit=1001", base);
	expect(th_req(cl, "GET", path, NULL, NULL), 400, NULL);
	snprintf(path, sizeof path, "%s?limit=abc", base);
	expect(th_req(cl, "GET", path, NULL, NULL), 400, NULL);
}

static void test_removed_workspace_memory(void **state)
{
	(void)state;
	char w[37], path[128];
	th_create_ws(cl, "memory-removed", NULL, w);
	snprintf(path, sizeof path, "/workspaces/%s/memory", w);
	th_resp r = th_req(cl, "POST", path, "{\"key\":\"k\",\"value\":1}", NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);
	snprintf(path, sizeof path, "/workspaces/%s", w);
	expect(th_req(cl, "DELETE", path, NULL, NULL), 200, NULL);
	snprintf(path, sizeof path, "/workspaces/%s/memory", w);
	expect(th_req(cl, "POST", path, "{\"key\":\"k\",\"value\":2}", NULL), 409, "workspace_removed");
	snprintf(path, sizeof path, "/workspaces/%s/memory/k", w);
	r = th_req(cl, "GET", path, NULL, NULL); /* still readable */
	assert_int_equal(r.status, 200);
	assert_int_equal(th_int(&r, "version"), 1);
	th_resp_free(&r);
}

/* Review regression: an escaped NUL must not cut a key short (DELETE "a%00zzz" once
 * deleted "a"), in the path or in the query. */
static void test_escaped_nul_and_bad_escapes_rejected(void **state)
{
	(void)state;
	expect(put("{\"key\":\"a\",\"value\":1}"), 200, NULL);
	char path[256];
	snprintf(path, sizeof path, "%s/a%%00zzz", mem);
	expect(th_req(cl, "DELETE", path, NULL, NULL), 400, "invalid_path");
	snprintf(path, sizeof path, "%s/a%%G1", mem);
	expect(th_req(cl, "GET", path, NULL, NULL), 400, "invalid_path");
	snprintf(path, sizeof path, "%s/a%%4", mem);
	expect(th_req(cl, "GET", path, NULL, NULL), 400, "invalid_path");
	snprintf(path, sizeof path, "%s?prefix=a%%00b", mem);
	expect(th_req(cl, "GET", path, NULL, NULL), 400, "invalid_path");
	assert_int_equal(version_of("a"), 1); /* still there */
	snprintf(path, sizeof path, "%s/%%61", mem); /* an escaped ordinary byte is fine */
	th_resp r = th_req(cl, "GET", path, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(th_str(&r, "key"), "a");
	th_resp_free(&r);
	/* empty id or key segments reach the validators: 400, not 404 */
	expect(th_req(cl, "GET", "/workspaces//memory", NULL, NULL), 400, "invalid_id");
	snprintf(path, sizeof path, "%s/", mem);
	expect(th_req(cl, "GET", path, NULL, NULL), 400, "invalid_key");
	/* invalid UTF-8 echoed in an error still gives valid JSON */
	r = th_req(cl, "GET", "/workspaces/%FF", NULL, NULL);
	assert_int_equal(r.status, 400);
	assert_non_null(r.json);
	th_resp_free(&r);
}

/* Review regression: keep-alive holds for GETs and body-less DELETEs too. */
static void test_keep_alive_for_bodyless_requests(void **state)
{
	(void)state;
	th_resp r = th_req(cl, "GET", "/health", NULL, NULL);
	th_resp_free(&r);
	for (int i = 0; i < 5; i++) {
		r = th_req(cl, "GET", "/health", NULL, NULL);
		assert_int_equal(r.status, 200);
		assert_int_equal(r.new_connections, 0);
		th_resp_free(&r);
		r = th_req(cl, "GET", mem, NULL, NULL);
		assert_int_equal(r.new_connections, 0);
		th_resp_free(&r);
	}
	r = th_req(cl, "PUT", mem, "{}", NULL);
	assert_int_equal(r.status, 405);
	assert_non_null(strstr(r.allow, "GET"));
	assert_non_null(strstr(r.allow, "POST"));
	th_resp_free(&r);
}

/* PostgreSQL only: connection loss answers 503 (never 500), and the pool reconnects. */
static void test_pg_connection_loss_then_recovery(void **state)
{
	(void)state;
	if (strncmp(srv.db, "postgres", 8) != 0)
		skip();
	expect(put("{\"key\":\"survivor\",\"value\":1}"), 200, NULL);
	PGconn *pc = PQconnectdb(srv.db);
	assert_int_equal(PQstatus(pc), CONNECTION_OK);
	PGresult *r = PQexec(pc, "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
				 "WHERE datname = current_database() AND pid <> pg_backend_pid()");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_true(atoi(PQgetvalue(r, 0, 0)) > 0); /* colonyd's pool was connected */
	PQclear(r);
	PQfinish(pc);
	int unavailable = 0, ok = 0;
	for (int i = 0; i < 60 && ok < 20; i++) {
		th_resp g = get_key("survivor");
		if (g.status == 503) {
			unavailable++;
			assert_string_equal(th_str(&g, "code"), "storage_unavailable");
		} else if (g.status == 200) {
			ok++;
		} else {
			fail_msg("after connection loss: %ld %s", g.status, g.body);
		}
		th_resp_free(&g);
	}
	assert_int_equal(ok, 20); /* recovered */
	fprintf(stderr, "connection loss: %d requests answered 503 before recovery\n", unavailable);
	expect(put("{\"key\":\"survivor\",\"value\":2}"), 200, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_list_and_get_shape),
		cmocka_unit_test(test_seed_upsert_increments),
		cmocka_unit_test(test_seed_cas_match_and_mismatch),
		cmocka_unit_test(test_seed_create_only_and_cas_on_absent),
		cmocka_unit_test(test_seed_bad_inputs_change_nothing),
		cmocka_unit_test(test_seed_delete_and_conditional_delete),
		cmocka_unit_test(test_header_forms),
		cmocka_unit_test(test_ttl_expired_is_absent),
		cmocka_unit_test(test_list_prefix_and_paging),
		cmocka_unit_test(test_removed_workspace_memory),
		cmocka_unit_test(test_escaped_nul_and_bad_escapes_rejected),
		cmocka_unit_test(test_keep_alive_for_bodyless_requests),
		cmocka_unit_test(test_pg_connection_loss_then_recovery),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
