/*
 * test_http_secrets.c — SPEC §10 secrets over HTTP against a real colonyd
 * (--no-scheduler); run on SQLite (http_secrets) and PostgreSQL (http_secrets_pg):
 *  - POST /settings/secrets and POST /workspaces/:id/secrets {name, value} ("key" for
 *    "name") → 201 created, 200 replaced (created_at kept), the answer without a value;
 *  - GET /settings/secrets and GET /workspaces/:id/secrets: names, scopes and times only,
 *    the workspace's list merged (its own wins on a name), paged by name;
 *  - GET /workspaces/:id/secrets/:name → the merged value; every name among close
 *    neighbours (one byte or one character apart, multi-byte last characters, the
 *    longest name) reads as itself; 404 when neither the workspace nor global has it;
 *  - GET /workspaces/:id/secret-values → the merged list with values, paged;
 *  - DELETE the global secret or the workspace's override → 204, again 404;
 *  - bad input 400 writing nothing (name missing, not a string, breaking the key rule;
 *    value missing, not a string, one byte over CO_SECRET_VALUE_MAX; name and key that
 *    differ), and no error answer quotes the value;
 *  - absent workspace 404 on every route, removed workspace 409 workspace_removed for
 *    writes while its secrets stay readable;
 *  - every successful write audited once, its detail withholding the body;
 *  - a workspace's own token reads its merged values (its override winning) and writes
 *    its own; a sibling's token, the parent's routes and the global settings answer 403;
 *  - "a secret never appears in any API list, log line or audit record": distinctive
 *    values, then every list (both secret lists, /audit, the workspace list and gets,
 *    memory), colonyd's log file, and the database (SQLite file and WAL bytes; every row
 *    of every PostgreSQL table, as text) — the value appears nowhere;
 *  - a sealed value that does not open (colonyd restarted with another key, and on
 *    PostgreSQL a row's bytes swapped by SQL) → 500 secret_unreadable naming the secret,
 *    never its value; the right key reads it again.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VALUE_MAX 65536 /* CO_SECRET_VALUE_MAX */
#define KEY_MAX 256     /* CO_KEY_MAX */
#define ABSENT_ID "01890000-0000-7000-8000-000000000000" /* well-formed, never made */

static const char *const no_sched_args[] = {"--no-scheduler", NULL};

static th_server srv;
static th_client *cl;

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

static bool on_postgres(void)
{
	const char *b = getenv("COLONY_TEST_BACKEND");
	return b && !strcmp(b, "postgres");
}

/* ---- helpers ------------------------------------------------------------------------- */

/* Percent-encodes every byte of s but the unreserved ones, for a path segment. */
static void pct(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t k = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && k + 4 < cap; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '_' || *p == '.' || *p == '~') {
			out[k++] = (char)*p;
		} else {
			out[k++] = '%';
			out[k++] = hex[*p >> 4];
			out[k++] = hex[*p & 15];
		}
	}
	out[k] = 0;
}

/* "/settings/secrets" (ws NULL) or "/workspaces/<ws>/secrets", then "/<name>" (encoded)
 * if name is given. */
static void secrets_path(char *out, size_t cap, const char *ws, const char *name)
{
	char enc[KEY_MAX * 3 + 8] = "";
	if (name)
		pct(name, enc, sizeof enc);
	if (ws)
		snprintf(out, cap, "/workspaces/%s/secrets%s%s", ws, name ? "/" : "", enc);
	else
		snprintf(out, cap, "/settings/secrets%s%s", name ? "/" : "", enc);
}

/* POST {name_field: name, "value": value} with client c to ws's secrets (NULL: global). */
static th_resp post_secret_c(th_client *c, const char *ws, const char *name_field,
			     const char *name, const char *value)
{
	char path[200];
	secrets_path(path, sizeof path, ws, NULL);
	return th_send_json(c, "POST", path, json_pack("{s:s, s:s}", name_field, name, "value", value));
}

/* POSTs as the admin and asserts `status` (201 or 200) with the secret's shape: name,
 * scope, times, and no value. */
static void put_expect(const char *ws, const char *name, const char *value, long status)
{
	th_resp r = post_secret_c(cl, ws, "name", name, value);
	if (r.status != status || !json_is_object(r.json))
		fail_msg("POST %s: expected %ld, got %ld %s", name, status, r.status, r.body);
	assert_string_equal(th_str(&r, "name"), name);
	assert_string_equal(th_str(&r, "scope"), ws ? "workspace" : "global");
	th_jtime(r.json, "created_at");
	th_jtime(r.json, "updated_at");
	assert_null(json_object_get(r.json, "value"));
	if (strlen(value) >= 8) /* short ones could match by chance */
		assert_null(strstr(r.body, value));
	th_resp_free(&r);
}

/* GET the merged value of name in ws with client c; asserts 200 and returns the item. */
static json_t *get_value_c(th_client *c, const char *ws, const char *name)
{
	char path[1000];
	secrets_path(path, sizeof path, ws, name);
	return th_get_ok(c, path);
}

/* Asserts GET …/secrets/:name is 200 with that value and scope. */
static void expect_value_c(th_client *c, const char *ws, const char *name, const char *value,
			   const char *scope)
{
	json_t *j = get_value_c(c, ws, name);
	assert_string_equal(th_jstr(j, "name"), name);
	assert_string_equal(th_jstr(j, "scope"), scope);
	if (!th_jstr(j, "value") || strcmp(th_jstr(j, "value"), value))
		fail_msg("%s: expected value %.40s, got %.40s", name, value,
			 th_jstr(j, "value") ? th_jstr(j, "value") : "(none)");
	th_jtime(j, "created_at");
	th_jtime(j, "updated_at");
	json_decref(j);
}
#define expect_val(ws, name, value, scope) expect_value_c(cl, ws, name, value, scope)

/* The item of array a named name, or NULL. */
static json_t *item_named(json_t *a, const char *name)
{
	size_t i;
	json_t *it;
	json_array_foreach(a, i, it)
	{
		if (!strcmp(th_jstr(it, "name"), name))
			return it;
	}
	return NULL;
}

/* Asserts a names-only list: every item has name, scope, times, and no value. */
static void check_names_only(json_t *a)
{
	assert_true(json_is_array(a));
	size_t i;
	json_t *it;
	json_array_foreach(a, i, it)
	{
		assert_non_null(th_jstr(it, "name"));
		assert_non_null(th_jstr(it, "scope"));
		th_jtime(it, "created_at");
		th_jtime(it, "updated_at");
		assert_null(json_object_get(it, "value"));
		assert_int_equal(json_object_size(it), 4);
	}
}

/* GET path (a list), asserting 200 and an array. */
static json_t *get_array_c(th_client *c, const char *path)
{
	json_t *a = th_get_ok(c, path);
	assert_true(json_is_array(a));
	return a;
}
#define get_array(path) get_array_c(cl, path)

/* Mints a token of ws as the admin; copies the bearer token into tok (≥ 128 bytes). */
static void mint(const char *ws, char *tok)
{
	char path[120];
	snprintf(path, sizeof path, "/workspaces/%s/tokens", ws);
	th_resp r = th_req(cl, "POST", path, NULL, NULL);
	if (r.status != 201 || !th_str(&r, "auth_token"))
		fail_msg("minting a token of %s: %ld %s", ws, r.status, r.body);
	snprintf(tok, 128, "%s", th_str(&r, "auth_token"));
	th_resp_free(&r);
}

/* ---- global secrets ------------------------------------------------------------------ */

static void test_global_put_list_delete(void **state)
{
	(void)state;
	put_expect(NULL, "gl.OPENAI_API_KEY", "sk-global-1", 201);
	th_resp r = post_secret_c(cl, NULL, "name", "gl.OPENAI_API_KEY", "sk-global-2");
	assert_int_equal(r.status, 200); /* replaced */
	long long created = th_jtime(r.json, "created_at"), updated = th_jtime(r.json, "updated_at");
	assert_true(updated >= created);
	th_resp_free(&r);
	/* "key" for "name"; both given alike is fine */
	r = post_secret_c(cl, NULL, "key", "gl.BY_KEY", "by-key");
	assert_int_equal(r.status, 201);
	assert_string_equal(th_str(&r, "name"), "gl.BY_KEY");
	th_resp_free(&r);
	r = th_req(cl, "POST", "/settings/secrets",
		   "{\"name\":\"gl.BY_KEY\",\"key\":\"gl.BY_KEY\",\"value\":\"both\"}", NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);

	json_t *a = get_array("/settings/secrets");
	check_names_only(a);
	json_t *it = item_named(a, "gl.OPENAI_API_KEY");
	assert_non_null(it);
	assert_string_equal(th_jstr(it, "scope"), "global");
	assert_int_equal(th_jtime(it, "created_at"), created);
	assert_non_null(item_named(a, "gl.BY_KEY"));
	char *dump = json_dumps(a, 0);
	assert_null(strstr(dump, "sk-global"));
	free(dump);
	json_decref(a);

	/* a workspace with no overrides reads the global values */
	char ws[40];
	th_create_ws(cl, "sec-gl", NULL, ws);
	expect_val(ws, "gl.OPENAI_API_KEY", "sk-global-2", "global");
	expect_val(ws, "gl.BY_KEY", "both", "global");

	char path[200];
	secrets_path(path, sizeof path, NULL, "gl.BY_KEY");
	r = th_req(cl, "DELETE", path, NULL, NULL);
	assert_int_equal(r.status, 204);
	th_resp_free(&r);
	th_expect_error(th_req(cl, "DELETE", path, NULL, NULL), 404, "not_found");
	secrets_path(path, sizeof path, ws, "gl.BY_KEY");
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 404, "not_found");
}

/* ---- workspace overrides, merged reads ------------------------------------------------- */

static void test_override_merged(void **state)
{
	(void)state;
	char ws[40], other[40];
	th_create_ws(cl, "sec-merge", NULL, ws);
	th_create_ws(cl, "sec-merge-other", NULL, other);
	put_expect(NULL, "mg.DB_URL", "postgres://global", 201);
	put_expect(NULL, "mg.ONLY_GLOBAL", "only-global", 201);
	put_expect(ws, "mg.DB_URL", "postgres://override", 201);
	put_expect(ws, "mg.ONLY_OWN", "only-own", 201);
	put_expect(ws, "mg.ONLY_OWN", "only-own-2", 200);

	expect_val(ws, "mg.DB_URL", "postgres://override", "workspace");
	expect_val(ws, "mg.ONLY_GLOBAL", "only-global", "global");
	expect_val(ws, "mg.ONLY_OWN", "only-own-2", "workspace");
	expect_val(other, "mg.DB_URL", "postgres://global", "global");
	char path[300];
	secrets_path(path, sizeof path, other, "mg.ONLY_OWN");
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 404, "not_found");
	secrets_path(path, sizeof path, ws, "mg.NOWHERE");
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 404, "not_found");

	/* the workspace list: merged names with their scope, no values */
	snprintf(path, sizeof path, "/workspaces/%s/secrets?after=mg.", ws);
	json_t *a = get_array(path);
	check_names_only(a);
	const char *names[] = {"mg.DB_URL", "mg.ONLY_GLOBAL", "mg.ONLY_OWN"};
	const char *scopes[] = {"workspace", "global", "workspace"};
	size_t k = 0, i;
	json_t *it;
	json_array_foreach(a, i, it)
	{
		if (strncmp(th_jstr(it, "name"), "mg.", 3))
			continue;
		assert_true(k < 3);
		assert_string_equal(th_jstr(it, "name"), names[k]);
		assert_string_equal(th_jstr(it, "scope"), scopes[k]);
		k++;
	}
	assert_int_equal(k, 3);
	json_decref(a);

	/* the values list: the same with values */
	snprintf(path, sizeof path, "/workspaces/%s/secret-values?after=mg.", ws);
	a = get_array(path);
	const char *values[] = {"postgres://override", "only-global", "only-own-2"};
	k = 0;
	json_array_foreach(a, i, it)
	{
		if (strncmp(th_jstr(it, "name"), "mg.", 3))
			continue;
		assert_string_equal(th_jstr(it, "name"), names[k]);
		assert_string_equal(th_jstr(it, "scope"), scopes[k]);
		assert_string_equal(th_jstr(it, "value"), values[k]);
		k++;
	}
	assert_int_equal(k, 3);
	json_decref(a);

	/* deleting the override shows the global again; the global delete leaves the override */
	secrets_path(path, sizeof path, ws, "mg.DB_URL");
	th_resp r = th_req(cl, "DELETE", path, NULL, NULL);
	assert_int_equal(r.status, 204);
	th_resp_free(&r);
	th_expect_error(th_req(cl, "DELETE", path, NULL, NULL), 404, "not_found");
	expect_val(ws, "mg.DB_URL", "postgres://global", "global");
	put_expect(ws, "mg.DB_URL", "postgres://override-2", 201);
	secrets_path(path, sizeof path, NULL, "mg.DB_URL");
	r = th_req(cl, "DELETE", path, NULL, NULL);
	assert_int_equal(r.status, 204);
	th_resp_free(&r);
	expect_val(ws, "mg.DB_URL", "postgres://override-2", "workspace");
	secrets_path(path, sizeof path, other, "mg.DB_URL");
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 404, "not_found");
	/* the workspace's delete route never deletes a global secret */
	secrets_path(path, sizeof path, other, "mg.ONLY_GLOBAL");
	th_expect_error(th_req(cl, "DELETE", path, NULL, NULL), 404, "not_found");
	expect_val(other, "mg.ONLY_GLOBAL", "only-global", "global");
}

/* Names one byte or one character apart each read as themselves (the single-name read
 * asks the store for the first name after one just below it). */
static void test_get_among_neighbours(void **state)
{
	(void)state;
	char ws[40];
	th_create_ws(cl, "sec-neighbours", NULL, ws);
	char longest[KEY_MAX + 1], longest2[KEY_MAX + 1];
	memset(longest, 'n', KEY_MAX);
	longest[KEY_MAX] = 0;
	memcpy(longest2, longest, sizeof longest);
	longest2[KEY_MAX - 1] = 'o';
	const char *names[] = {
		"nb",   "nb ",  "nb!", "nb!!", "nc",  "nb\x7e", "nb\xc2\xa0", "nb\xc2\xa1",
		"nb\xc3\xa9", "nb\xc3\xaa", "nb\xee\x80\x80" /* U+E000 */,
		"nb\xed\x9f\xbf" /* U+D7FF */, "nb\xf0\x9f\x94\x91" /* U+1F511 */,
		"nb\xf4\x8f\xbf\xbf" /* U+10FFFF */, longest, longest2,
	};
	const size_t n = sizeof names / sizeof names[0];
	char value[64];
	for (size_t i = 0; i < n; i++) {
		snprintf(value, sizeof value, "neighbour-%zu", i);
		/* half of them global, half the workspace's */
		put_expect(i % 2 ? ws : NULL, names[i], value, 201);
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(value, sizeof value, "neighbour-%zu", i);
		expect_val(ws, names[i], value, i % 2 ? "workspace" : "global");
	}
	/* names between them that nobody holds */
	const char *absent[] = {"na", "nb\x20\x20", "nb\"", "nb\xc2\xa2", "nb\xee\x80\x81",
				"nb\xed\x9f\xbe", "nbb", "n", "nb\xf0\x9f\x94\x90"};
	char path[1000];
	for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++) {
		secrets_path(path, sizeof path, ws, absent[i]);
		th_resp r = th_req(cl, "GET", path, NULL, NULL);
		if (r.status != 404)
			fail_msg("GET %s: expected 404, got %ld %s", path, r.status, r.body);
		th_resp_free(&r);
	}
	secrets_path(path, sizeof path, ws, "nb\x1f" "a"); /* a control character */
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 400, "invalid_name");
}

/* ---- paging ---------------------------------------------------------------------------- */

static void test_paging(void **state)
{
	(void)state;
	char ws[40];
	th_create_ws(cl, "sec-paging", NULL, ws);
	/* globals pa, pc, pe; the workspace's pb, pc, pd, pf */
	put_expect(NULL, "pp.a", "g-a", 201);
	put_expect(NULL, "pp.c", "g-c", 201);
	put_expect(NULL, "pp.e", "g-e", 201);
	put_expect(ws, "pp.b", "w-b", 201);
	put_expect(ws, "pp.c", "w-c", 201);
	put_expect(ws, "pp.d", "w-d", 201);
	put_expect(ws, "pp.f", "w-f", 201);
	const char *want[] = {"pp.a", "pp.b", "pp.c", "pp.d", "pp.e", "pp.f"};
	const char *wval[] = {"g-a", "w-b", "w-c", "w-d", "g-e", "w-f"};
	for (int values = 0; values < 2; values++) {
		char after[64] = "pp.";
		size_t seen = 0;
		for (;;) {
			char path[200];
			snprintf(path, sizeof path, "/workspaces/%s/%s?limit=2&after=%s", ws,
				 values ? "secret-values" : "secrets", after);
			json_t *a = get_array(path);
			assert_true(json_array_size(a) <= 2);
			size_t i, n = json_array_size(a);
			json_t *it;
			json_array_foreach(a, i, it)
			{
				const char *nm = th_jstr(it, "name");
				if (strncmp(nm, "pp.", 3))
					continue;
				assert_true(seen < 6);
				assert_string_equal(nm, want[seen]);
				if (values)
					assert_string_equal(th_jstr(it, "value"), wval[seen]);
				else
					assert_null(json_object_get(it, "value"));
				seen++;
			}
			if (n)
				snprintf(after, sizeof after, "%s", th_jstr(json_array_get(a, n - 1), "name"));
			json_decref(a);
			if (n < 2 || strncmp(after, "pp.", 3))
				break;
		}
		assert_int_equal(seen, 6);
	}
	json_t *a = get_array("/settings/secrets?limit=1&after=pp.c");
	assert_int_equal(json_array_size(a), 1);
	assert_string_equal(th_jstr(json_array_get(a, 0), "name"), "pp.e");
	json_decref(a);
	th_expect_error(th_req(cl, "GET", "/settings/secrets?limit=0", NULL, NULL), 400, "invalid");
	th_expect_error(th_req(cl, "GET", "/settings/secrets?limit=1001", NULL, NULL), 400, "invalid");
	char path[200];
	snprintf(path, sizeof path, "/workspaces/%s/secret-values?after=a%%2Fb", ws);
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 400, "invalid");
	snprintf(path, sizeof path, "/workspaces/%s/secrets?limit=x", ws);
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 400, "invalid");
}

/* ---- bad input -------------------------------------------------------------------------- */

#define CANARY "BAD-INPUT-CANARY-3e9f1"

/* Frees r, failing the test if its body quotes "CANARY" (freed first: no leak report). */
static void no_canary(th_resp *r)
{
	char body[400];
	snprintf(body, sizeof body, "%s", r->body);
	bool echoed = strstr(r->body, "CANARY") != NULL;
	th_resp_free(r);
	if (echoed)
		fail_msg("the error quotes the value: %s", body);
}

/* Asserts a 400 whose body does not quote CANARY, and frees it. */
static void expect_400_no_echo(th_resp r, const char *code)
{
	th_assert_error(&r, 400, code);
	no_canary(&r);
}

static void test_bad_input_400_no_echo(void **state)
{
	(void)state;
	char ws[40], path[200];
	th_create_ws(cl, "sec-bad", NULL, ws);
	const char *bodies[] = {
		"{\"value\":\"" CANARY "\"}",                          /* no name */
		"{\"name\":7,\"value\":\"" CANARY "\"}",               /* name not a string */
		"{\"name\":null,\"value\":\"" CANARY "\"}",
		"{\"name\":\"\",\"value\":\"" CANARY "\"}",            /* empty */
		"{\"name\":\"a/b\",\"value\":\"" CANARY "\"}",         /* '/' */
		"{\"name\":\"a\\nb\",\"value\":\"" CANARY "\"}",       /* a control character */
		"{\"name\":\"a\\u0085b\",\"value\":\"" CANARY "\"}",   /* a C1 control */
		"{\"name\":\"x\",\"key\":\"y\",\"value\":\"" CANARY "\"}", /* two names */
		"{\"name\":\"x\"}",                                    /* no value */
		"{\"name\":\"x\",\"value\":null}",
		"{\"name\":\"x\",\"value\":12345}",
		"{\"name\":\"x\",\"value\":[\"" CANARY "\"]}",
		"{\"name\":\"x\",\"value\":{\"v\":\"" CANARY "\"}}",
		"{\"name\":\"x\",\"value\":true}",
		"[\"x\",\"" CANARY "\"]",
	};
	for (int g = 0; g < 2; g++) {
		secrets_path(path, sizeof path, g ? ws : NULL, NULL);
		for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
			th_resp r = th_req(cl, "POST", path, bodies[i], NULL);
			if (r.status != 400)
				fail_msg("POST %s %s: expected 400, got %ld %s", path, bodies[i], r.status,
					 r.body);
			expect_400_no_echo(r, NULL);
		}
		/* a name of 257 bytes */
		char name[KEY_MAX + 2];
		memset(name, 'k', KEY_MAX + 1);
		name[KEY_MAX + 1] = 0;
		expect_400_no_echo(post_secret_c(cl, g ? ws : NULL, "name", name, CANARY), "invalid_name");
		/* a value one byte too long, and the longest one */
		char *big = malloc(VALUE_MAX + 2);
		assert_non_null(big);
		memset(big, 'v', VALUE_MAX + 1);
		memcpy(big, CANARY, strlen(CANARY));
		big[VALUE_MAX + 1] = 0;
		expect_400_no_echo(post_secret_c(cl, g ? ws : NULL, "name", "bad.big", big), "invalid");
		big[VALUE_MAX] = 0;
		put_expect(g ? ws : NULL, "bad.max", big, 201);
		expect_val(ws, "bad.max", big, g ? "workspace" : "global");
		free(big);
		/* the wrong content type */
		const char *const ct[] = {"Content-Type: text/plain", NULL};
		th_resp r = th_req(cl, "POST", path, "{\"name\":\"x\",\"value\":\"" CANARY "\"}", ct);
		th_assert_error(&r, 415, NULL);
		assert_null(strstr(r.body, "CANARY"));
		th_resp_free(&r);
	}
	/* nothing was written but the two bad.max */
	json_t *a = get_array("/settings/secrets");
	assert_null(item_named(a, "x"));
	assert_null(item_named(a, "bad.big"));
	json_decref(a);
	snprintf(path, sizeof path, "/workspaces/%s/secrets", ws);
	a = get_array(path);
	assert_non_null(item_named(a, "bad.max"));
	assert_null(item_named(a, "x"));
	assert_null(item_named(a, "bad.big"));
	json_decref(a);

	/* malformed ids and names in paths */
	th_expect_error(th_req(cl, "GET", "/workspaces/not-a-uuid/secrets", NULL, NULL), 400,
			"invalid_id");
	th_expect_error(th_req(cl, "GET", "/workspaces/not-a-uuid/secret-values", NULL, NULL), 400,
			"invalid_id");
	th_expect_error(th_reqf(cl, "POST", "/workspaces/not-a-uuid/secrets",
				"{\"name\":\"x\",\"value\":\"" CANARY "\"}"),
			400, "invalid_id");
	th_expect_error(th_req(cl, "GET", "/workspaces/not-a-uuid/secrets/x", NULL, NULL), 400,
			"invalid_id");
	snprintf(path, sizeof path, "/workspaces/%s/secrets/a%%0Ab", ws);
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 400, "invalid_name");
	th_expect_error(th_req(cl, "DELETE", path, NULL, NULL), 400, "invalid_name");
	th_expect_error(th_req(cl, "DELETE", "/settings/secrets/a%0Ab", NULL, NULL), 400,
			"invalid_name");
}

/* Malformed JSON in a secret's body: the parser's message must not quote the text near
 * the error, which is the value. (jansson quotes a token of up to 20 bytes: short values,
 * the easiest to guess, are the ones at risk.) */
#define SHORT_CANARY "sk-CANARY9"
static void test_malformed_json_no_echo(void **state)
{
	(void)state;
	const char *bodies[] = {
		"{\"name\":\"x\",\"value\":\"" SHORT_CANARY,        /* cut short */
		"{\"name\":\"x\",\"value\":" SHORT_CANARY "}",      /* not quoted */
		"{\"name\":\"x\",\"value\":\"" SHORT_CANARY "\\u0000\"}",
		"{\"name\":\"x\",\"value\":\"" SHORT_CANARY "\xff\"}",
		"\"" SHORT_CANARY "\"", /* not an object */
	};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		th_resp r = th_req(cl, "POST", "/settings/secrets", bodies[i], NULL);
		th_assert_error(&r, 400, NULL);
		no_canary(&r);
	}
}

/* ---- absent and removed workspaces ------------------------------------------------------ */

static void test_absent_and_removed(void **state)
{
	(void)state;
	char path[200];
	const char *w = ABSENT_ID;
	th_expect_error(post_secret_c(cl, w, "name", "ab.X", "v"), 404, "not_found");
	secrets_path(path, sizeof path, w, NULL);
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 404, "not_found");
	secrets_path(path, sizeof path, w, "ab.X");
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 404, "not_found");
	th_expect_error(th_req(cl, "DELETE", path, NULL, NULL), 404, "not_found");
	snprintf(path, sizeof path, "/workspaces/%s/secret-values", w);
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 404, "not_found");
	/* even with global secrets around, an absent workspace has no merged view */
	put_expect(NULL, "ab.GLOBAL", "global-ab", 201);
	secrets_path(path, sizeof path, w, "ab.GLOBAL");
	th_expect_error(th_req(cl, "GET", path, NULL, NULL), 404, "not_found");

	char ws[40];
	th_create_ws(cl, "sec-removed", NULL, ws);
	put_expect(ws, "ab.OWN", "own-ab", 201);
	snprintf(path, sizeof path, "/workspaces/%s", ws);
	th_resp r = th_req(cl, "DELETE", path, NULL, NULL);
	assert_int_equal(r.status / 100, 2);
	th_resp_free(&r);
	th_expect_error(post_secret_c(cl, ws, "name", "ab.OWN", "again"), 409, "workspace_removed");
	th_expect_error(post_secret_c(cl, ws, "name", "ab.NEW", "new"), 409, "workspace_removed");
	secrets_path(path, sizeof path, ws, "ab.OWN");
	th_expect_error(th_req(cl, "DELETE", path, NULL, NULL), 409, "workspace_removed");
	/* still readable */
	expect_val(ws, "ab.OWN", "own-ab", "workspace");
	expect_val(ws, "ab.GLOBAL", "global-ab", "global");
}

/* ---- audit ------------------------------------------------------------------------------ */

/* The number of audit records of `action` whose target starts with target. */
static size_t audit_count(const char *action, const char *target)
{
	char path[300];
	snprintf(path, sizeof path, "/audit?limit=1000&action=%s&target=%s", action, target);
	json_t *j = th_get_ok(cl, path);
	json_t *recs = json_object_get(j, "records");
	assert_true(json_is_array(recs));
	size_t n = json_array_size(recs), i;
	json_t *it;
	json_array_foreach(recs, i, it)
	{
		json_t *detail = json_object_get(it, "detail");
		char *d = json_dumps(detail, JSON_ENCODE_ANY);
		assert_non_null(d);
		if (!strcmp(action, "secret.put")) /* the body is withheld, not even hashed */
			assert_non_null(strstr(d, "withheld"));
		free(d);
	}
	assert_true(json_is_true(json_object_get(j, "chain_valid")));
	json_decref(j);
	return n;
}

static void test_writes_audited(void **state)
{
	(void)state;
	char ws[40], target[200];
	th_create_ws(cl, "sec-audit", NULL, ws);
	snprintf(target, sizeof target, "/workspaces/%s/secrets", ws);
	put_expect(ws, "au.A", "audited-1", 201);
	put_expect(ws, "au.A", "audited-2", 200);
	put_expect(ws, "au.B", "audited-3", 201);
	th_expect_error(post_secret_c(cl, ws, "name", "a/b", "audited-4"), 400, "invalid_name");
	char path[200];
	secrets_path(path, sizeof path, ws, "au.B");
	th_resp r = th_req(cl, "DELETE", path, NULL, NULL);
	assert_int_equal(r.status, 204);
	th_resp_free(&r);
	th_expect_error(th_req(cl, "DELETE", path, NULL, NULL), 404, "not_found");
	assert_int_equal(audit_count("secret.put", target), 3);
	assert_int_equal(audit_count("secret.delete", target), 1);
	/* reads are not audited; global writes are */
	json_decref(get_value_c(cl, ws, "au.A"));
	assert_int_equal(audit_count("secret.put", target), 3);
	size_t g0 = audit_count("secret.put", "/settings/secrets");
	put_expect(NULL, "au.G", "audited-5", 201);
	assert_int_equal(audit_count("secret.put", "/settings/secrets"), g0 + 1);
}

/* ---- tokens ------------------------------------------------------------------------------- */

static void test_own_token_and_sibling(void **state)
{
	(void)state;
	char parent[40], a[40], b[40], path[200], ta[128], tb[128];
	th_create_ws(cl, "sec-tok-parent", NULL, parent);
	th_create_ws(cl, "sec-tok-a", parent, a);
	th_create_ws(cl, "sec-tok-b", parent, b);
	put_expect(NULL, "tk.SHARED", "tk-global", 201);
	put_expect(NULL, "tk.GLOBAL_ONLY", "tk-global-only", 201);
	put_expect(a, "tk.SHARED", "tk-a-override", 201);
	put_expect(b, "tk.SHARED", "tk-b-override", 201);
	mint(a, ta);
	mint(b, tb);
	th_client *ca = th_client_new_token(&srv, ta);
	th_client *cb = th_client_new_token(&srv, tb);

	/* A's token reads A's merged values, A's override winning */
	expect_value_c(ca, a, "tk.SHARED", "tk-a-override", "workspace");
	expect_value_c(ca, a, "tk.GLOBAL_ONLY", "tk-global-only", "global");
	expect_value_c(cb, b, "tk.SHARED", "tk-b-override", "workspace");
	snprintf(path, sizeof path, "/workspaces/%s/secret-values?after=tk.", a);
	json_t *v = get_array_c(ca, path);
	json_t *it = item_named(v, "tk.SHARED");
	assert_non_null(it);
	assert_string_equal(th_jstr(it, "value"), "tk-a-override");
	assert_string_equal(th_jstr(item_named(v, "tk.GLOBAL_ONLY"), "value"), "tk-global-only");
	json_decref(v);
	snprintf(path, sizeof path, "/workspaces/%s/secrets", a);
	v = get_array_c(ca, path);
	check_names_only(v);
	json_decref(v);
	/* and writes and deletes its own */
	th_resp r = post_secret_c(ca, a, "name", "tk.MINE", "tk-mine");
	assert_int_equal(r.status, 201);
	th_resp_free(&r);
	expect_value_c(ca, a, "tk.MINE", "tk-mine", "workspace");
	secrets_path(path, sizeof path, a, "tk.MINE");
	r = th_req(ca, "DELETE", path, NULL, NULL);
	assert_int_equal(r.status, 204);
	th_resp_free(&r);

	/* a sibling's token: 403 on every route of A; so are the parent's and the global ones */
	const char *others[] = {a, parent};
	for (int k = 0; k < 2; k++) {
		const char *w = others[k];
		secrets_path(path, sizeof path, w, NULL);
		th_expect_error(th_req(cb, "GET", path, NULL, NULL), 403, "forbidden");
		th_expect_error(post_secret_c(cb, w, "name", "tk.SHARED", "tk-hijack"), 403, "forbidden");
		secrets_path(path, sizeof path, w, "tk.SHARED");
		th_expect_error(th_req(cb, "GET", path, NULL, NULL), 403, "forbidden");
		th_expect_error(th_req(cb, "DELETE", path, NULL, NULL), 403, "forbidden");
		snprintf(path, sizeof path, "/workspaces/%s/secret-values", w);
		th_expect_error(th_req(cb, "GET", path, NULL, NULL), 403, "forbidden");
	}
	th_expect_error(th_req(cb, "GET", "/settings/secrets", NULL, NULL), 403, NULL);
	th_expect_error(post_secret_c(cb, NULL, "name", "tk.SHARED", "tk-hijack"), 403, NULL);
	th_expect_error(th_req(cb, "DELETE", "/settings/secrets/tk.SHARED", NULL, NULL), 403, NULL);
	/* nothing changed */
	expect_val(a, "tk.SHARED", "tk-a-override", "workspace");
	expect_val(parent, "tk.SHARED", "tk-global", "global");
	th_client_free(ca);
	th_client_free(cb);
}

/* ---- never leaked ------------------------------------------------------------------------- */

/* Does the file at path hold needle? (false if there is no file) */
static bool file_holds(const char *path, const char *needle)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	size_t cap = 1 << 20, n = 0, got;
	char *buf = malloc(cap);
	assert_non_null(buf);
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			buf = realloc(buf, cap *= 2);
			assert_non_null(buf);
		}
	}
	fclose(f);
	bool found = memmem(buf, n, needle, strlen(needle)) != NULL;
	free(buf);
	return found;
}

/* On PostgreSQL: how many rows of every table of the test database show needle or
 * needle_hex in their text form (a bytea shows as hex). */
static long pg_rows_holding(const char *needle, const char *needle_hex)
{
	PGconn *c = PQconnectdb(srv.db);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PGresult *t = PQexec(c, "SELECT quote_ident(table_name) FROM information_schema.tables "
				"WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'");
	assert_int_equal(PQresultStatus(t), PGRES_TUPLES_OK);
	assert_true(PQntuples(t) >= 9);
	long total = 0;
	for (int i = 0; i < PQntuples(t); i++) {
		char sql[300];
		snprintf(sql, sizeof sql,
			 "SELECT COUNT(*) FROM %s x WHERE strpos(x::text, $1) > 0 OR "
			 "strpos(lower(x::text), $2) > 0",
			 PQgetvalue(t, i, 0));
		const char *p[] = {needle, needle_hex};
		PGresult *r = PQexecParams(c, sql, 2, NULL, p, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			fail_msg("%s: %s", sql, PQerrorMessage(c));
		total += atol(PQgetvalue(r, 0, 0));
		PQclear(r);
	}
	PQclear(t);
	PQfinish(c);
	return total;
}

/* The value must not be in body (an API answer). */
static void expect_absent(const char *what, const char *body, const char *value)
{
	if (strstr(body, value))
		fail_msg("%s shows the secret value", what);
}

static void test_never_in_lists_logs_audit_or_db(void **state)
{
	(void)state;
	char ws[40], child[40], path[300];
	th_create_ws(cl, "sec-leak", NULL, ws);
	th_create_ws(cl, "sec-leak-child", ws, child);
	const char *gv = "LEAK-CANARY-global-c0ffee-91", *wv = "LEAK-CANARY-own-f00d-27";
	const char *cv = "LEAK-CANARY-\xc3\xa9t\xc3\xa9-child-73"; /* UTF-8 in the value */
	put_expect(NULL, "lk.TOKEN", gv, 201);
	put_expect(ws, "lk.TOKEN", wv, 201);
	put_expect(child, "lk.CHILD", cv, 201);
	put_expect(ws, "lk.TOKEN", wv, 200); /* replaced with the same */
	th_resp r = post_secret_c(cl, ws, "key", "lk.KEYED", wv);
	assert_int_equal(r.status, 201);
	expect_absent("a write's answer", r.body, wv);
	th_resp_free(&r);
	expect_val(ws, "lk.TOKEN", wv, "workspace"); /* it is there to be read */
	secrets_path(path, sizeof path, ws, "lk.KEYED");
	r = th_req(cl, "DELETE", path, NULL, NULL);
	assert_int_equal(r.status, 204);
	th_resp_free(&r);

	/* every list and read that is not a value read */
	char lists[][200] = {"/settings/secrets", "", "", "", "/audit?limit=1000", "/workspaces",
			     "", "", "", "/audit/verify"};
	snprintf(lists[1], sizeof lists[1], "/workspaces/%s/secrets", ws);
	snprintf(lists[2], sizeof lists[2], "/workspaces/%s/secrets", child);
	snprintf(lists[3], sizeof lists[3], "/workspaces/%s/secrets?after=lk.", ws);
	snprintf(lists[6], sizeof lists[6], "/workspaces/%s", ws);
	snprintf(lists[7], sizeof lists[7], "/workspaces/%s/memory", ws);
	snprintf(lists[8], sizeof lists[8], "/workspaces?parent_id=%s", ws);
	const char *values[] = {gv, wv, cv, "LEAK-CANARY"};
	for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
		r = th_req(cl, "GET", lists[i], NULL, NULL);
		if (r.status != 200)
			fail_msg("GET %s: %ld %s", lists[i], r.status, r.body);
		for (size_t k = 0; k < 4; k++)
			expect_absent(lists[i], r.body, values[k]);
		th_resp_free(&r);
	}

	/* colonyd's log: one line per request, never a value */
	char log[400];
	snprintf(log, sizeof log, "%s/colonyd.log", srv.dir);
	assert_true(file_holds(log, "/settings/secrets")); /* the right file, being written */
	for (size_t k = 0; k < 4; k++)
		if (file_holds(log, values[k]))
			fail_msg("colonyd.log holds a secret value");

	/* the database */
	if (on_postgres()) {
		char hex[128];
		for (size_t k = 0; k < 4; k++) {
			size_t n = strlen(values[k]);
			for (size_t i = 0; i < n; i++)
				snprintf(hex + 2 * i, 3, "%02x", (unsigned char)values[k][i]);
			assert_int_equal(pg_rows_holding(values[k], hex), 0);
		}
		assert_true(pg_rows_holding("lk.TOKEN", "lk.TOKEN") > 0); /* the scan sees rows */
	} else {
		char wal[320];
		snprintf(wal, sizeof wal, "%s-wal", srv.db);
		for (size_t k = 0; k < 4; k++) {
			assert_false(file_holds(srv.db, values[k]));
			assert_false(file_holds(wal, values[k]));
		}
		assert_true(file_holds(srv.db, "lk.CHILD") || file_holds(wal, "lk.CHILD"));
	}
}

/* ---- unreadable --------------------------------------------------------------------------- */

/* Swaps, on PostgreSQL, row B's sealed bytes for row A's (both of workspace ws). */
static void pg_copy_sealed(const char *db, const char *ws, const char *from, const char *to)
{
	PGconn *c = PQconnectdb(db);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	const char *p[] = {ws, from, to};
	PGresult *r = PQexecParams(c,
				   "UPDATE secrets SET sealed = (SELECT sealed FROM secrets WHERE "
				   "scope = $1 AND name = $2) WHERE scope = $1 AND name = $3",
				   3, NULL, p, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	assert_string_equal(PQcmdTuples(r), "1");
	PQclear(r);
	PQfinish(c);
}

/* Asserts a 500 secret_unreadable naming name and not quoting value, and frees it. */
static void expect_unreadable(th_resp r, const char *name, const char *value)
{
	th_assert_error(&r, 500, "secret_unreadable");
	assert_non_null(strstr(th_str(&r, "error"), name));
	expect_absent("secret_unreadable", r.body, value);
	th_resp_free(&r);
}

static void test_unreadable_is_500(void **state)
{
	(void)state;
	/* a server of its own, whose key file the test changes between restarts */
	static char dir[64], key_path[128];
	snprintf(dir, sizeof dir, "/tmp/colony-secret-keys-XXXXXX");
	if (!mkdtemp(dir))
		fail_msg("mkdtemp: %s", strerror(errno));
	snprintf(key_path, sizeof key_path, "%s/one.key", dir);
	static const char *args[] = {"--no-scheduler", "--secrets-key-file", key_path, NULL};
	th_server s2;
	th_server_start(&s2, args);
	th_client *c = th_client_new(&s2);
	char ws[40], path[200];
	th_create_ws(c, "sec-unreadable", NULL, ws);
	const char *va = "UNREADABLE-CANARY-a", *vb = "UNREADABLE-CANARY-b";
	th_resp r = post_secret_c(c, ws, "name", "ur.A", va);
	assert_int_equal(r.status, 201);
	th_resp_free(&r);
	r = post_secret_c(c, NULL, "name", "ur.B", vb);
	assert_int_equal(r.status, 201);
	th_resp_free(&r);
	expect_value_c(c, ws, "ur.A", va, "workspace");

	/* another key */
	th_client_free(c);
	assert_int_equal(th_server_stop_keep(&s2), 0);
	snprintf(key_path, sizeof key_path, "%s/two.key", dir);
	th_server_restart(&s2);
	c = th_client_new(&s2);
	secrets_path(path, sizeof path, ws, "ur.A");
	expect_unreadable(th_req(c, "GET", path, NULL, NULL), "ur.A", va);
	secrets_path(path, sizeof path, ws, "ur.B");
	expect_unreadable(th_req(c, "GET", path, NULL, NULL), "ur.B", vb);
	snprintf(path, sizeof path, "/workspaces/%s/secret-values", ws);
	r = th_req(c, "GET", path, NULL, NULL);
	th_assert_error(&r, 500, "secret_unreadable");
	expect_absent("secret-values", r.body, "UNREADABLE-CANARY");
	th_resp_free(&r);
	/* names still list */
	snprintf(path, sizeof path, "/workspaces/%s/secrets", ws);
	json_t *a = get_array_c(c, path);
	assert_non_null(item_named(a, "ur.A"));
	json_decref(a);

	/* the right key again */
	th_client_free(c);
	assert_int_equal(th_server_stop_keep(&s2), 0);
	snprintf(key_path, sizeof key_path, "%s/one.key", dir);
	th_server_restart(&s2);
	c = th_client_new(&s2);
	expect_value_c(c, ws, "ur.A", va, "workspace");
	expect_value_c(c, ws, "ur.B", vb, "global");

	/* on PostgreSQL, a row's bytes copied over another's by SQL */
	if (on_postgres()) {
		r = post_secret_c(c, ws, "name", "ur.C", "UNREADABLE-CANARY-c");
		assert_int_equal(r.status, 201);
		th_resp_free(&r);
		pg_copy_sealed(s2.db, ws, "ur.A", "ur.C");
		secrets_path(path, sizeof path, ws, "ur.C");
		expect_unreadable(th_req(c, "GET", path, NULL, NULL), "ur.C", "UNREADABLE-CANARY");
		expect_value_c(c, ws, "ur.A", va, "workspace");
	}
	char log[400];
	snprintf(log, sizeof log, "%s/colonyd.log", s2.dir);
	assert_false(file_holds(log, "UNREADABLE-CANARY"));
	th_client_free(c);
	assert_int_equal(th_server_stop(&s2), 0);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_global_put_list_delete),
		cmocka_unit_test(test_override_merged),
		cmocka_unit_test(test_get_among_neighbours),
		cmocka_unit_test(test_paging),
		cmocka_unit_test(test_bad_input_400_no_echo),
		cmocka_unit_test(test_absent_and_removed),
		cmocka_unit_test(test_writes_audited),
		cmocka_unit_test(test_never_in_lists_logs_audit_or_db),
		cmocka_unit_test(test_unreadable_is_500),
		cmocka_unit_test(test_own_token_and_sibling),
		cmocka_unit_test(test_malformed_json_no_echo),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
