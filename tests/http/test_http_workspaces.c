/*
 * test_http_workspaces.c — SPEC §2 over HTTP against a real colonyd: create, get, list,
 * patch, delete (tombstone, confirm, purge), cycles, and bad input (4xx with the SPEC §1
 * body, nothing written). Also /health, X-Request-Id, 404/405 routing.
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

static th_server srv;
static th_client *cl;

static int group_setup(void **state)
{
	(void)state;
	th_server_start(&srv, NULL);
	cl = th_client_new(&srv);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	th_client_free(cl);
	return th_server_stop(&srv) == 0 ? 0 : -1;
}

/* Number of workspace rows, removed ones included. */
static size_t count_all(void)
{
	th_resp r = th_req(cl, "GET", "/workspaces?include_removed=true&limit=1000", NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_true(json_is_array(r.json));
	size_t n = json_array_size(r.json);
	th_resp_free(&r);
	return n;
}

/* Asserts a SPEC §1 error body with the given status and code. */
static void assert_error(th_resp *r, long status, const char *code)
{
	if (r->status != status)
		fail_msg("expected %ld got %ld: %s", status, r->status, r->body);
	assert_non_null(th_str(r, "error"));
	assert_true(strlen(th_str(r, "error")) > 0);
	if (code)
		assert_string_equal(th_str(r, "code"), code);
}

static void test_health_and_request_id(void **state)
{
	(void)state;
	th_resp r = th_req(cl, "GET", "/health", NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(th_str(&r, "status"), "ok");
	assert_true(strlen(r.request_id) > 0);
	th_resp_free(&r);
	const char *h[] = {"X-Request-Id: test-abc-123", NULL};
	r = th_req(cl, "GET", "/health", NULL, h);
	assert_string_equal(r.request_id, "test-abc-123");
	th_resp_free(&r);
}

static void test_routing_errors(void **state)
{
	(void)state;
	th_resp r = th_req(cl, "GET", "/nope", NULL, NULL);
	assert_error(&r, 404, "no_route");
	th_resp_free(&r);
	r = th_req(cl, "PUT", "/workspaces", "{}", NULL);
	assert_error(&r, 405, "method_not_allowed");
	th_resp_free(&r);
}

static void test_create_get_list(void **state)
{
	(void)state;
	th_resp r = th_req(cl, "POST", "/workspaces",
			   "{\"name\":\"Acme\",\"role\":\"org\",\"runtime\":\"claude\",\"tier\":2,"
			   "\"url\":\"http://127.0.0.1:9/agent\",\"max_concurrent_tasks\":3,\"x\":1}",
			   NULL);
	assert_int_equal(r.status, 201);
	char root[37];
	snprintf(root, sizeof root, "%s", th_str(&r, "id"));
	assert_int_equal(strlen(root), 36);
	assert_string_equal(th_str(&r, "name"), "Acme");
	assert_string_equal(th_str(&r, "role"), "org");
	assert_int_equal(th_int(&r, "tier"), 2);
	assert_int_equal(th_int(&r, "max_concurrent_tasks"), 3);
	assert_string_equal(th_str(&r, "status"), "provisioning");
	assert_true(json_is_null(json_object_get(r.json, "parent_id")));
	/* RFC 3339 with six fractional digits */
	const char *ca = th_str(&r, "created_at");
	assert_int_equal(strlen(ca), 27);
	assert_int_equal(ca[19], '.');
	assert_int_equal(ca[26], 'Z');
	th_resp_free(&r);

	char child[37];
	th_create_ws(cl, "Engineering", root, child);
	char path[128];
	snprintf(path, sizeof path, "/workspaces/%s", child);
	r = th_req(cl, "GET", path, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(th_str(&r, "parent_id"), root);
	th_resp_free(&r);

	snprintf(path, sizeof path, "/workspaces?parent_id=%s", root);
	r = th_req(cl, "GET", path, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(r.json), 1);
	th_resp_free(&r);

	/* the same name under another parent is fine */
	char other[37];
	th_create_ws(cl, "Engineering", NULL, other);
}

static void test_list_paging_and_filters(void **state)
{
	(void)state;
	char root[37], ids[5][37];
	th_create_ws(cl, "paging-root", NULL, root);
	for (int i = 0; i < 5; i++) {
		char name[16];
		snprintf(name, sizeof name, "c%d", i);
		th_create_ws(cl, name, root, ids[i]);
	}
	char path[256], after[37] = "";
	int seen = 0;
	for (int page = 0; page < 4; page++) {
		snprintf(path, sizeof path, "/workspaces?parent_id=%s&limit=2%s%s", root,
			 after[0] ? "&after=" : "", after);
		th_resp r = th_req(cl, "GET", path, NULL, NULL);
		assert_int_equal(r.status, 200);
		size_t n = json_array_size(r.json);
		for (size_t i = 0; i < n; i++) {
			const char *id = json_string_value(json_object_get(json_array_get(r.json, i), "id"));
			assert_string_equal(id, ids[seen]); /* stable order: creation order */
			seen++;
			snprintf(after, sizeof after, "%s", id);
		}
		th_resp_free(&r);
		if (n < 2)
			break;
	}
	assert_int_equal(seen, 5);

	/* status filter, and removed ones hidden unless asked for */
	snprintf(path, sizeof path, "/workspaces/%s", ids[0]);
	th_resp r = th_req(cl, "PATCH", path, "{\"status\":\"online\"}", NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);
	snprintf(path, sizeof path, "/workspaces/%s", ids[1]);
	r = th_req(cl, "DELETE", path, NULL, NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);
	snprintf(path, sizeof path, "/workspaces?parent_id=%s&status=online", root);
	r = th_req(cl, "GET", path, NULL, NULL);
	assert_int_equal(json_array_size(r.json), 1);
	th_resp_free(&r);
	snprintf(path, sizeof path, "/workspaces?parent_id=%s", root);
	r = th_req(cl, "GET", path, NULL, NULL);
	assert_int_equal(json_array_size(r.json), 4);
	th_resp_free(&r);
	snprintf(path, sizeof path, "/workspaces?parent_id=%s&include_removed=true", root);
	r = th_req(cl, "GET", path, NULL, NULL);
	assert_int_equal(json_array_size(r.json), 5);
	th_resp_free(&r);
	r = th_req(cl, "GET", "/workspaces?parent_id=null", NULL, NULL);
	assert_int_equal(r.status, 200);
	for (size_t i = 0; i < json_array_size(r.json); i++)
		assert_true(json_is_null(json_object_get(json_array_get(r.json, i), "parent_id")));
	th_resp_free(&r);
}

static void test_name_taken_and_freed(void **state)
{
	(void)state;
	char a[37];
	th_create_ws(cl, "dup-root", NULL, a);
	th_resp r = th_req(cl, "POST", "/workspaces", "{\"name\":\"dup-root\"}", NULL);
	assert_error(&r, 409, "name_taken");
	assert_string_equal(th_str(&r, "existing_id"), a);
	th_resp_free(&r);
	/* removing frees the name */
	char path[128];
	snprintf(path, sizeof path, "/workspaces/%s", a);
	r = th_req(cl, "DELETE", path, NULL, NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);
	char b[37];
	th_create_ws(cl, "dup-root", NULL, b);
	assert_string_not_equal(a, b);
	/* rename onto a taken name is 409 too */
	char c[37];
	th_create_ws(cl, "dup-other", NULL, c);
	snprintf(path, sizeof path, "/workspaces/%s", c);
	r = th_req(cl, "PATCH", path, "{\"name\":\"dup-root\"}", NULL);
	assert_error(&r, 409, "name_taken");
	assert_string_equal(th_str(&r, "existing_id"), b);
	th_resp_free(&r);
}

static void test_patch_fields_and_reparent(void **state)
{
	(void)state;
	char r1[37], r2[37], w[37];
	th_create_ws(cl, "patch-r1", NULL, r1);
	th_create_ws(cl, "patch-r2", NULL, r2);
	th_create_ws(cl, "patch-w", r1, w);
	char path[128];
	snprintf(path, sizeof path, "/workspaces/%s", w);
	th_resp r = th_reqf(cl, "PATCH", path,
			    "{\"parent_id\":\"%s\",\"role\":\"dev\",\"status\":\"online\",\"tier\":null}", r2);
	assert_int_equal(r.status, 200);
	assert_string_equal(th_str(&r, "parent_id"), r2);
	assert_string_equal(th_str(&r, "role"), "dev");
	assert_string_equal(th_str(&r, "status"), "online");
	assert_string_equal(th_str(&r, "name"), "patch-w");
	th_resp_free(&r);
	/* make it a root */
	r = th_req(cl, "PATCH", path, "{\"parent_id\":null,\"role\":null}", NULL);
	assert_int_equal(r.status, 200);
	assert_true(json_is_null(json_object_get(r.json, "parent_id")));
	assert_true(json_is_null(json_object_get(r.json, "role")));
	th_resp_free(&r);
	/* an empty patch changes nothing and succeeds */
	r = th_req(cl, "PATCH", path, "{}", NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);
	/* absent workspace */
	r = th_req(cl, "PATCH", "/workspaces/01a20b18-8b58-7a0b-9ff1-713bdc1711cc", "{}", NULL);
	assert_error(&r, 404, "not_found");
	th_resp_free(&r);
}

static void test_cycle_rejected(void **state)
{
	(void)state;
	char a[37], b[37], c[37];
	th_create_ws(cl, "cyc-a", NULL, a);
	th_create_ws(cl, "cyc-b", a, b);
	th_create_ws(cl, "cyc-c", b, c);
	char path[128];
	snprintf(path, sizeof path, "/workspaces/%s", a);
	th_resp r = th_reqf(cl, "PATCH", path, "{\"parent_id\":\"%s\"}", c);
	assert_error(&r, 409, "cycle");
	th_resp_free(&r);
	r = th_reqf(cl, "PATCH", path, "{\"parent_id\":\"%s\"}", a); /* itself */
	assert_error(&r, 409, "cycle");
	th_resp_free(&r);
	r = th_req(cl, "GET", path, NULL, NULL);
	assert_true(json_is_null(json_object_get(r.json, "parent_id")));
	th_resp_free(&r);
}

static void test_absent_or_removed_parent_404(void **state)
{
	(void)state;
	size_t before = count_all();
	th_resp r = th_req(cl, "POST", "/workspaces",
			   "{\"name\":\"orphan\",\"parent_id\":\"01a20b18-0000-7000-8000-000000000000\"}",
			   NULL);
	assert_error(&r, 404, "not_found");
	th_resp_free(&r);
	char p[37];
	th_create_ws(cl, "soon-removed", NULL, p);
	char path[128];
	snprintf(path, sizeof path, "/workspaces/%s", p);
	r = th_req(cl, "DELETE", path, NULL, NULL);
	th_resp_free(&r);
	r = th_reqf(cl, "POST", "/workspaces", "{\"name\":\"x\",\"parent_id\":\"%s\"}", p);
	assert_error(&r, 404, "not_found");
	th_resp_free(&r);
	char q[37];
	th_create_ws(cl, "move-me", NULL, q);
	snprintf(path, sizeof path, "/workspaces/%s", q);
	r = th_reqf(cl, "PATCH", path, "{\"parent_id\":\"%s\"}", p);
	assert_error(&r, 404, "not_found");
	th_resp_free(&r);
	assert_int_equal(count_all(), before + 2);
}

static void test_delete_subtree_confirm_purge(void **state)
{
	(void)state;
	char root[37], c1[37], c2[37], g[37];
	th_create_ws(cl, "del-root", NULL, root);
	th_create_ws(cl, "del-c1", root, c1);
	th_create_ws(cl, "del-c2", root, c2);
	th_create_ws(cl, "del-g", c1, g);
	char path[160];
	snprintf(path, sizeof path, "/workspaces/%s", root);
	th_resp r = th_req(cl, "DELETE", path, NULL, NULL);
	assert_error(&r, 409, "confirmation_required");
	json_t *children = json_object_get(r.json, "children");
	assert_int_equal(json_array_size(children), 2);
	th_resp_free(&r);
	/* nothing was removed */
	snprintf(path, sizeof path, "/workspaces/%s", g);
	r = th_req(cl, "GET", path, NULL, NULL);
	assert_string_equal(th_str(&r, "status"), "provisioning");
	th_resp_free(&r);

	snprintf(path, sizeof path, "/workspaces/%s?confirm=true", root);
	r = th_req(cl, "DELETE", path, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "removed")), 4);
	th_resp_free(&r);
	const char *all[] = {root, c1, c2, g};
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof path, "/workspaces/%s", all[i]);
		r = th_req(cl, "GET", path, NULL, NULL);
		assert_int_equal(r.status, 200); /* a removed one is still shown */
		assert_string_equal(th_str(&r, "status"), "removed");
		assert_non_null(th_str(&r, "removed_at"));
		th_resp_free(&r);
	}
	/* removed is terminal */
	snprintf(path, sizeof path, "/workspaces/%s", g);
	r = th_req(cl, "PATCH", path, "{\"status\":\"online\"}", NULL);
	assert_error(&r, 409, "workspace_removed");
	th_resp_free(&r);
	r = th_req(cl, "GET", path, NULL, NULL);
	assert_string_equal(th_str(&r, "status"), "removed");
	th_resp_free(&r);
	/* deleting again is a no-op; purge deletes the rows */
	snprintf(path, sizeof path, "/workspaces/%s", root);
	r = th_req(cl, "DELETE", path, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "removed")), 0);
	th_resp_free(&r);
	snprintf(path, sizeof path, "/workspaces/%s?purge=true", root);
	r = th_req(cl, "DELETE", path, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "purged")), 4);
	th_resp_free(&r);
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof path, "/workspaces/%s", all[i]);
		r = th_req(cl, "GET", path, NULL, NULL);
		assert_int_equal(r.status, 404);
		th_resp_free(&r);
	}
}

static void test_bad_input_changes_nothing(void **state)
{
	(void)state;
	char parent[37];
	th_create_ws(cl, "bad-input-parent", NULL, parent);
	size_t before = count_all();
	char long_name[400];
	memset(long_name, 'n', 300);
	long_name[300] = 0;
	char body_long[512];
	snprintf(body_long, sizeof body_long, "{\"name\":\"%s\"}", long_name);
	struct {
		const char *body;
		long status;
		const char *code;
	} cases[] = {
		{"{\"name\":", 400, "invalid_json"},
		{"not json", 400, "invalid_json"},
		{"[1,2]", 400, "invalid"},
		{"{}", 400, "invalid"},
		{"{\"name\":42}", 400, "invalid"},
		{"{\"name\":\"\"}", 400, "invalid"},
		{"{\"name\":\"a\\nb\"}", 400, "invalid"},
		{"{\"name\":\"a\\rb\"}", 400, "invalid"},
		{body_long, 400, "invalid"},
		{"{\"name\":\"ok\",\"parent_id\":\"not-a-uuid\"}", 400, "invalid"},
		{"{\"name\":\"ok\",\"parent_id\":7}", 400, "invalid"},
		{"{\"name\":\"ok\",\"tier\":\"high\"}", 400, "invalid"},
		{"{\"name\":\"ok\",\"tier\":-1}", 400, "invalid"},
		{"{\"name\":\"ok\",\"max_concurrent_tasks\":0}", 400, "invalid"},
		{"{\"name\":\"ok\",\"url\":\"ftp://x\"}", 400, "invalid"},
		{"{\"name\":\"ok\",\"status\":\"removed\"}", 400, "invalid"},
		{"{\"name\":\"ok\",\"status\":\"sleepy\"}", 400, "invalid"},
		{"{\"name\":\"ok\",\"name\":\"twice\"}", 400, "invalid_json"},
		{"{\"name\":\"\\u0000\"}", 400, "invalid_json"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		th_resp r = th_req(cl, "POST", "/workspaces", cases[i].body, NULL);
		if (r.status != cases[i].status)
			fail_msg("case %zu (%s): got %ld %s", i, cases[i].body, r.status, r.body);
		assert_error(&r, cases[i].status, cases[i].code);
		th_resp_free(&r);
	}
	/* deep nesting */
	char deep[200];
	int d = 0;
	d += snprintf(deep + d, sizeof deep - (size_t)d, "{\"name\":\"deep\",\"x\":");
	for (int i = 0; i < 70; i++)
		deep[d++] = '[';
	for (int i = 0; i < 70; i++)
		deep[d++] = ']';
	deep[d++] = '}';
	deep[d] = 0;
	th_resp r = th_req(cl, "POST", "/workspaces", deep, NULL);
	assert_error(&r, 400, "invalid_json");
	th_resp_free(&r);
	/* wrong content type */
	const char *xml[] = {"Content-Type: application/xml", NULL};
	r = th_req(cl, "POST", "/workspaces", "{\"name\":\"ct\"}", xml);
	assert_error(&r, 415, "unsupported_media_type");
	th_resp_free(&r);
	/* body over the limit (1 MiB) */
	size_t big = (1 << 20) + 100;
	char *huge = malloc(big + 1);
	assert_non_null(huge);
	memset(huge, ' ', big);
	memcpy(huge, "{\"name\":\"big\"", 13);
	huge[big - 1] = '}';
	huge[big] = 0;
	r = th_req(cl, "POST", "/workspaces", huge, NULL);
	assert_error(&r, 413, "body_too_large");
	th_resp_free(&r);
	free(huge);
	/* malformed ids in the path are 400, not 404 */
	r = th_req(cl, "GET", "/workspaces/not-a-uuid", NULL, NULL);
	assert_error(&r, 400, "invalid_id");
	th_resp_free(&r);
	r = th_req(cl, "PATCH", "/workspaces/1234", "{}", NULL);
	assert_error(&r, 400, "invalid_id");
	th_resp_free(&r);
	r = th_req(cl, "DELETE", "/workspaces/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", NULL, NULL);
	assert_error(&r, 400, "invalid_id");
	th_resp_free(&r);
	/* bad query values */
	r = th_req(cl, "GET", "/workspaces?limit=0", NULL, NULL);
	assert_error(&r, 400, "invalid");
	th_resp_free(&r);
	r = th_req(cl, "GET", "/workspaces?limit=1001", NULL, NULL);
	assert_error(&r, 400, "invalid");
	th_resp_free(&r);
	r = th_req(cl, "GET", "/workspaces?status=zombie", NULL, NULL);
	assert_error(&r, 400, "invalid");
	th_resp_free(&r);
	/* a bad patch changes nothing */
	char path[128];
	snprintf(path, sizeof path, "/workspaces/%s", parent);
	r = th_req(cl, "PATCH", path, "{\"role\":\"new\",\"tier\":\"x\"}", NULL);
	assert_error(&r, 400, "invalid");
	th_resp_free(&r);
	r = th_req(cl, "GET", path, NULL, NULL);
	assert_true(json_is_null(json_object_get(r.json, "role")));
	th_resp_free(&r);
	assert_int_equal(count_all(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_health_and_request_id),
		cmocka_unit_test(test_routing_errors),
		cmocka_unit_test(test_create_get_list),
		cmocka_unit_test(test_list_paging_and_filters),
		cmocka_unit_test(test_name_taken_and_freed),
		cmocka_unit_test(test_patch_fields_and_reparent),
		cmocka_unit_test(test_cycle_rejected),
		cmocka_unit_test(test_absent_or_removed_parent_404),
		cmocka_unit_test(test_delete_subtree_confirm_purge),
		cmocka_unit_test(test_bad_input_changes_nothing),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
