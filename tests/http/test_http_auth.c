/*
 * test_http_auth.c — SPEC §10 (auth) and §6 (the hierarchy rule) over HTTP against a real
 * colonyd; run on SQLite (http_auth) and PostgreSQL (http_auth_pg):
 *  1. every route: the table below names each (method, pattern) colonyd serves and is
 *     checked against co_api_routes both ways, so a new route without an auth test fails
 *     here. For each route: no token (or not a Bearer one) → 401 "unauthorized" with
 *     WWW-Authenticate (GET /health: 200); a malformed, unknown, wrong-secret or almost-
 *     admin token → 401 "invalid_token"; a token of another root's tree → 403 (admin-only
 *     routes "admin_only"; the handler's rule for the any-token routes); a revoked token
 *     and a token of a removed workspace → 401; the admin token never 401/403; a token on
 *     its own workspace passes own/related/subtree routes, not "below" ones. The gate
 *     answers before the body is looked at (401/403, not 400/415), and a request without
 *     a token is refused on its headers, before its body is taken in. A removed
 *     workspace's tokens are dead on the very next request (delete, delete of an
 *     ancestor, purge), and a new workspace of the same name does not revive them;
 *  2. the hierarchy rule on R → {A → {A1 → A1a, A2}, B → B1}, and root Z: a token of A
 *     reaches A, its sibling B, its ancestor R and its descendants (related routes), not
 *     Z, not its sibling's child B1, and roots are not siblings; subtree/below routes
 *     (delete, budget limits) act on A's descendants only (minting tokens is the
 *     admin's alone); workspace
 *     create, list and move follow workspaces.c's rules; admin-only routes are 403 "admin_only"; an absent
 *     workspace is 403 for a token (it learns nothing), 404 for the admin; a move
 *     changes what a token reaches at once;
 *  3. tokens: the plaintext is in the 201 only; the list shows {id, workspace_id, prefix,
 *     created_at, last_used_at} and never the token, its secret part or its hash;
 *     last_used_at is set by use; revoke → 204, dead at once, twice → 404, another
 *     workspace's → 404; 8 threads use a token while a ninth revokes it: no request sent
 *     after the revoke's 204 came back succeeds; 8 threads write with a token while a
 *     ninth revokes it (or removes its workspace, the writes going to a sibling's inbox):
 *     in the audit log no record of the token follows the revoke's (removal's), and the
 *     token's records are exactly its successful writes (audit.h note 5);
 *  4. rate limit (--rate-limit 5 --rate-burst 5): the 6th quick request of a token is 429
 *     "rate_limited" with Retry-After ≥ 1 and writes nothing; the admin is not limited;
 *     each token has its own bucket; after Retry-After seconds it passes again;
 *  5. the admin token: --admin-token-file makes a 0600 file whose path (not value) is
 *     logged, which works and survives a restart; a 0644 or invalid file, or a bad
 *     COLONY_ADMIN_TOKEN, refuses to start; COLONY_ADMIN_TOKEN works and is not logged;
 *     --dev refuses a non-loopback --listen with a message, and on loopback needs no token;
 *  6. the audit actor of a write with a workspace token is "token:<id>", whatever
 *     X-Colony-Actor says.
 * Every server this file starts is stopped with exit status 0.
 */
#include "harness.h"

#include "../../src/api/api.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#define ABSENT_ID "01890000-0000-7000-8000-000000000000" /* well-formed, never made */

/* The main server: no scheduler, no rate limit (the race below is not about 429). */
static const char *const main_args[] = {"--no-scheduler", "--rate-limit", "0", NULL};

static th_server srv;
static th_client *cl;

static int group_setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	th_server_start(&srv, main_args);
	cl = th_client_new(&srv);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	th_client_free(cl);
	return th_server_stop(&srv) == 0 ? 0 : -1;
}

/* ---- a request that also returns the auth headers ------------------------------------- */

typedef struct {
	th_resp r;
	char www_auth[128]; /* WWW-Authenticate, "" if none */
	char retry_after[32];
	char cache_control[64];
} hresp;

/* Copies the value of header `name` from the raw header block into out ("" if absent). */
static void header_value(const char *block, const char *name, char *out, size_t cap)
{
	out[0] = 0;
	size_t n = strlen(name);
	for (const char *l = block; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncasecmp(l, name, n) || l[n] != ':')
			continue;
		const char *v = l + n + 1;
		v += strspn(v, " \t");
		snprintf(out, cap, "%.*s", (int)strcspn(v, "\r\n"), v);
		return;
	}
}

static CURL *hcurl; /* main thread only */

/* method path on server s with "Authorization: <auth>" (NULL: none) and extra header
 * `extra` (NULL: none). A body is sent as JSON. Body and headers are collected by curl's
 * own writer into memory streams. */
static hresp hreq_auth(const th_server *s, const char *auth, const char *method,
		       const char *path, const char *body, const char *extra)
{
	hresp h;
	memset(&h, 0, sizeof h);
	if (!hcurl)
		hcurl = curl_easy_init();
	assert_non_null(hcurl);
	char url[2048], ah[700], *hdrs = NULL;
	size_t hdrs_len = 0;
	FILE *bf = open_memstream(&h.r.body, &h.r.len), *hf = open_memstream(&hdrs, &hdrs_len);
	assert_non_null(bf);
	assert_non_null(hf);
	snprintf(url, sizeof url, "%s%s", s->base, path);
	curl_easy_reset(hcurl);
	curl_easy_setopt(hcurl, CURLOPT_URL, url);
	curl_easy_setopt(hcurl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(hcurl, CURLOPT_WRITEDATA, bf);
	curl_easy_setopt(hcurl, CURLOPT_HEADERDATA, hf);
	curl_easy_setopt(hcurl, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(hcurl, CURLOPT_NOSIGNAL, 1L);
	struct curl_slist *hl = NULL;
	if (auth) {
		snprintf(ah, sizeof ah, "Authorization: %s", auth);
		hl = curl_slist_append(hl, ah);
	}
	if (extra)
		hl = curl_slist_append(hl, extra);
	if (body) {
		curl_easy_setopt(hcurl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(hcurl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
		if (!extra || strncasecmp(extra, "Content-Type:", 13))
			hl = curl_slist_append(hl, "Content-Type: application/json");
		hl = curl_slist_append(hl, "Expect:");
	}
	curl_easy_setopt(hcurl, CURLOPT_HTTPHEADER, hl);
	if (curl_easy_perform(hcurl) == CURLE_OK)
		curl_easy_getinfo(hcurl, CURLINFO_RESPONSE_CODE, &h.r.status);
	curl_slist_free_all(hl);
	fclose(bf);
	fclose(hf);
	header_value(hdrs, "WWW-Authenticate", h.www_auth, sizeof h.www_auth);
	header_value(hdrs, "Retry-After", h.retry_after, sizeof h.retry_after);
	header_value(hdrs, "Cache-Control", h.cache_control, sizeof h.cache_control);
	free(hdrs);
	h.r.json = json_loadb(h.r.body, h.r.len, JSON_DECODE_ANY, NULL);
	return h;
}

/* The same with "Bearer <token>" (token NULL: no Authorization header). */
static hresp hreq(const th_server *s, const char *token, const char *method, const char *path,
		  const char *body)
{
	char auth[600];
	if (token)
		snprintf(auth, sizeof auth, "Bearer %s", token);
	return hreq_auth(s, token ? auth : NULL, method, path, body, NULL);
}

static void hresp_free(hresp *h) { th_resp_free(&h->r); }

/* A 401 with the SPEC §1 body, the given code (NULL: any) and a Bearer challenge. */
static void expect_401_at(int line, hresp *h, const char *code, const char *what)
{
	if (h->r.status != 401)
		fail_msg("line %d: %s: wanted 401 %s, got %ld: %s", line, what, code ? code : "",
			 h->r.status, h->r.body);
	th_assert_error(&h->r, 401, code);
	if (strncasecmp(h->www_auth, "Bearer", 6) != 0)
		fail_msg("line %d: %s: 401 without 'WWW-Authenticate: Bearer' (got '%s')", line, what,
			 h->www_auth);
	hresp_free(h);
}
#define expect_401(h, code, what) expect_401_at(__LINE__, h, code, what)

/* ---- helpers -------------------------------------------------------------------------- */

/* "/workspaces/<id><suffix>" */
static const char *wpath(char *out, size_t cap, const char *id, const char *suffix)
{
	snprintf(out, cap, "/workspaces/%s%s", id, suffix ? suffix : "");
	return out;
}

/* Mints a token of workspace ws with client c (the admin when c is NULL); asserts 201 and
 * the answer's shape. tok: CO_TOKEN_LEN + 1 bytes at least; tid: 37 bytes (may be NULL). */
static void mint_with(th_client *c, const char *ws, char *tok, char *tid)
{
	char p[128];
	th_resp r = th_req(c ? c : cl, "POST", wpath(p, sizeof p, ws, "/tokens"), NULL, NULL);
	if (r.status != 201)
		fail_msg("minting a token of %s: %ld %s", ws, r.status, r.body);
	th_assert_uuid7(th_str(&r, "id"));
	assert_string_equal(th_str(&r, "workspace_id"), ws);
	const char *t = th_str(&r, "auth_token"), *prefix = th_str(&r, "prefix");
	assert_non_null(t);
	assert_non_null(prefix);
	assert_int_equal(strlen(t), 58);
	assert_int_equal(strlen(prefix), 14);
	assert_memory_equal(t, "col_", 4);
	assert_memory_equal(t, prefix, 14);
	assert_int_equal(t[14], '_');
	th_jtime(r.json, "created_at");
	assert_null(json_object_get(r.json, "hash"));
	assert_null(json_object_get(r.json, "hash_hex"));
	snprintf(tok, 64, "%s", t);
	if (tid)
		snprintf(tid, 37, "%s", th_str(&r, "id"));
	th_resp_free(&r);
}
#define mint(ws, tok, tid) mint_with(NULL, ws, tok, tid)

/* Asserts the status of a request with a token, and for 403/401 the error code. */
static void expect_at(int line, const char *tok, const char *method, const char *path,
		      const char *body, long want, const char *code)
{
	hresp h = hreq(&srv, tok, method, path, body);
	if (h.r.status != want)
		fail_msg("line %d: %s %s: wanted %ld, got %ld: %s", line, method, path, want,
			 h.r.status, h.r.body);
	if (want >= 400)
		th_assert_error(&h.r, want, code);
	hresp_free(&h);
}
#define expect(...) expect_at(__LINE__, __VA_ARGS__)

/* Creates workspace name under parent (NULL: a root) as the admin. */
static void mk(const char *name, const char *parent, char *id) { th_create_ws(cl, name, parent, id); }

/* Revokes token tid of ws as the admin; asserts 204. */
static void revoke_tok(const char *ws, const char *tid)
{
	char p[200];
	snprintf(p, sizeof p, "/workspaces/%s/tokens/%s", ws, tid);
	th_resp r = th_req(cl, "DELETE", p, NULL, NULL);
	if (r.status != 204)
		fail_msg("revoking %s: %ld %s", p, r.status, r.body);
	th_resp_free(&r);
}

static long long mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* ---- 1. every route ------------------------------------------------------------------- */

/* Every route colonyd serves, with a body that its handler accepts (more or less: the
 * point is the gate). `alt_body`/`alt_path` (with one %s: the target workspace) are how a
 * token asks an any-token route about a workspace (the handler's rule). Keep in step with
 * src/api/routes.c: the first test fails when they differ. */
typedef struct {
	const char *method;
	const char *pattern;
	const char *body;
	const char *alt_path; /* A_ANY_TOKEN routes: the path naming a workspace */
	const char *alt_body; /* A_ANY_TOKEN routes: the body naming a workspace */
} route_case;

static const route_case cases[] = {
	{"GET", "/health", NULL, NULL, NULL},
	{"POST", "/workspaces", "{\"name\":\"auth-route-made\"}", NULL,
	 "{\"name\":\"auth-route-child\",\"parent_id\":\"%s\"}"},
	{"GET", "/workspaces", NULL, "/workspaces?parent_id=%s", NULL},
	{"GET", "/workspaces/:id", NULL, NULL, NULL},
	{"PATCH", "/workspaces/:id", "{\"role\":\"r\"}", NULL, NULL},
	{"DELETE", "/workspaces/:id", NULL, NULL, NULL},
	{"GET", "/workspaces/:id/memory", NULL, NULL, NULL},
	{"POST", "/workspaces/:id/memory", "{\"key\":\"k\",\"value\":1}", NULL, NULL},
	{"GET", "/workspaces/:id/memory/:key", NULL, NULL, NULL},
	{"DELETE", "/workspaces/:id/memory/:key", NULL, NULL, NULL},
	{"GET", "/workspaces/:id/schedules", NULL, NULL, NULL},
	{"POST", "/workspaces/:id/schedules",
	 "{\"name\":\"s\",\"cron_expr\":\"0 * * * *\",\"prompt\":\"p\"}", NULL, NULL},
	{"GET", "/workspaces/:id/schedules/:sid", NULL, NULL, NULL},
	{"PATCH", "/workspaces/:id/schedules/:sid", "{\"prompt\":\"q\"}", NULL, NULL},
	{"DELETE", "/workspaces/:id/schedules/:sid", NULL, NULL, NULL},
	{"POST", "/workspaces/:id/schedules/:sid/run", NULL, NULL, NULL},
	{"GET", "/workspaces/:id/schedules/:sid/history", NULL, NULL, NULL},
	{"GET", "/workspaces/:id/inbox", NULL, NULL, NULL},
	{"POST", "/workspaces/:id/inbox", "{\"body\":\"hi\"}", NULL, NULL},
	{"POST", "/workspaces/:id/inbox/claim", "{\"max\":1}", NULL, NULL},
	{"GET", "/workspaces/:id/inbox/:mid", NULL, NULL, NULL},
	{"POST", "/workspaces/:id/inbox/:mid/ack", "{\"status\":\"completed\"}", NULL, NULL},
	{"POST", "/org/import", "{\"name\":\"AuthOrg\",\"workspaces\":[{\"name\":\"auth-org-top\"}]}",
	 NULL, NULL},
	{"POST", "/workspaces/:id/skills/:name/versions", "{\"body\":{\"a\":1}}", NULL, NULL},
	{"GET", "/workspaces/:id/skills", NULL, NULL, NULL},
	{"GET", "/workspaces/:id/skills/:name/versions", NULL, NULL, NULL},
	{"GET", "/workspaces/:id/skills/:name/versions/:seq", NULL, NULL, NULL},
	{"POST", "/workspaces/:id/usage", "{\"seconds\":1}", NULL, NULL},
	{"GET", "/workspaces/:id/budget", NULL, NULL, NULL},
	{"PATCH", "/workspaces/:id/budget", "{\"limits\":{\"seconds\":100000}}", NULL, NULL},
	{"GET", "/audit", NULL, NULL, NULL},
	{"GET", "/audit/verify", NULL, NULL, NULL},
	{"POST", "/workspaces/:id/tokens", NULL, NULL, NULL},
	{"GET", "/workspaces/:id/tokens", NULL, NULL, NULL},
	{"DELETE", "/workspaces/:id/tokens/:tid", NULL, NULL, NULL},
	{"POST", "/settings/secrets", "{\"name\":\"n1\",\"value\":\"v\"}", NULL, NULL},
	{"GET", "/settings/secrets", NULL, NULL, NULL},
	{"DELETE", "/settings/secrets/:name", NULL, NULL, NULL},
	{"POST", "/workspaces/:id/secrets", "{\"name\":\"n1\",\"value\":\"v\"}", NULL, NULL},
	{"GET", "/workspaces/:id/secrets", NULL, NULL, NULL},
	{"GET", "/workspaces/:id/secrets/:name", NULL, NULL, NULL},
	{"DELETE", "/workspaces/:id/secrets/:name", NULL, NULL, NULL},
	{"GET", "/workspaces/:id/secret-values", NULL, NULL, NULL},
};
#define NCASES (sizeof cases / sizeof cases[0])

/* The served route of a case (fails the test if none). */
static const co_route *route_of(const route_case *c)
{
	for (const co_route *r = co_api_routes; r->method; r++)
		if (!strcmp(r->method, c->method) && !strcmp(r->pattern, c->pattern))
			return r;
	fail_msg("%s %s is in the auth table but not served", c->method, c->pattern);
	return NULL;
}

/* The pattern with its captures filled: :id → ws, other ids → an absent id, names and
 * keys → fixed ones. A capture this file does not know fails the test (a new route needs
 * a thought here). */
static void fill(const char *pattern, const char *ws, char *out, size_t cap)
{
	size_t n = 0;
	out[0] = 0;
	for (const char *p = pattern; *p;) {
		if (*p != ':') {
			if (n + 1 < cap)
				out[n++] = *p;
			out[n] = 0;
			p++;
			continue;
		}
		size_t len = strcspn(p, "/");
		const char *v = NULL;
		if (len == 3 && !strncmp(p, ":id", 3))
			v = ws;
		else if ((len == 4 && (!strncmp(p, ":sid", 4) || !strncmp(p, ":mid", 4) ||
				       !strncmp(p, ":tid", 4))))
			v = ABSENT_ID;
		else if (len == 4 && !strncmp(p, ":key", 4))
			v = "k";
		else if (len == 5 && !strncmp(p, ":name", 5))
			v = "n1";
		else if (len == 4 && !strncmp(p, ":seq", 4))
			v = "1";
		else
			fail_msg("pattern %s: capture %.*s unknown to the auth suite", pattern, (int)len, p);
		n += (size_t)snprintf(out + n, cap - n, "%s", v);
		p += len;
	}
}

static void test_route_table_covers_every_route(void **state)
{
	(void)state;
	size_t served = 0;
	int missing = 0;
	for (const co_route *r = co_api_routes; r->method; r++, served++) {
		bool found = false;
		for (size_t i = 0; i < NCASES; i++)
			found |= !strcmp(cases[i].method, r->method) && !strcmp(cases[i].pattern, r->pattern);
		if (!found) {
			fprintf(stderr, "route %s %s has no auth test: add it to cases[]\n", r->method,
				r->pattern);
			missing++;
		}
	}
	for (size_t i = 0; i < NCASES; i++) {
		route_of(&cases[i]); /* fails if not served */
		for (size_t j = 0; j < i; j++)
			if (!strcmp(cases[i].method, cases[j].method) &&
			    !strcmp(cases[i].pattern, cases[j].pattern))
				fail_msg("%s %s twice in cases[]", cases[i].method, cases[i].pattern);
		/* the any-token routes say how a token names its workspace */
		if (route_of(&cases[i])->access == CO_ACCESS_ANY_TOKEN &&
		    !cases[i].alt_body && !cases[i].alt_path)
			fail_msg("%s %s: an any-token route needs alt_path or alt_body", cases[i].method,
				 cases[i].pattern);
	}
	if (missing)
		fail_msg("%d served route(s) without an auth test", missing);
	assert_int_equal(served, NCASES);
}

/* A route's path and body as a token would send them to reach workspace ws. */
static void case_request(const route_case *c, const char *ws, bool alt, char *path, size_t pcap,
			 char *body, size_t bcap, const char **bodyp)
{
	if (alt && c->alt_path)
		snprintf(path, pcap, c->alt_path, ws);
	else
		fill(c->pattern, ws, path, pcap);
	*bodyp = c->body;
	if (alt && c->alt_body) {
		snprintf(body, bcap, c->alt_body, ws);
		*bodyp = body;
	}
}

static void test_every_route_gate(void **state)
{
	(void)state;
	char root[40], w[40], d[40], z[40];
	mk("auth-gate-root", NULL, root);
	mk("auth-gate-w", root, w);
	mk("auth-gate-dead", root, d);
	mk("auth-gate-z", NULL, z);
	char tw[64], tz[64], trev[64], td[64], trev_id[40];
	mint(w, tw, NULL);
	mint(z, tz, NULL);
	mint(w, trev, trev_id);
	mint(d, td, NULL);
	/* Both work before they die. */
	char p[256];
	expect(trev, "GET", wpath(p, sizeof p, w, NULL), NULL, 200, NULL);
	expect(td, "GET", wpath(p, sizeof p, d, NULL), NULL, 200, NULL);
	revoke_tok(w, trev_id);
	th_resp r = th_req(cl, "DELETE", wpath(p, sizeof p, d, NULL), NULL, NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);

	/* Shaped like a token, but unknown; and a real prefix with another secret. */
	char unknown[64], wrong_secret[64], almost_admin[128], admin_prefix[32];
	snprintf(unknown, sizeof unknown, "col_ZZZZZZZZZZ_%s",
		 "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ");
	snprintf(wrong_secret, sizeof wrong_secret, "%.15s%s", tw,
		 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	assert_int_equal(strlen(wrong_secret), 58);
	snprintf(almost_admin, sizeof almost_admin, "%sx", TH_ADMIN_TOKEN);
	snprintf(admin_prefix, sizeof admin_prefix, "%.20s", TH_ADMIN_TOKEN);

	for (size_t i = 0; i < NCASES; i++) {
		const route_case *c = &cases[i];
		const co_route *rt = route_of(c);
		bool public = rt->access == CO_ACCESS_PUBLIC;
		char path[512], altpath[512], body[512], altbody[512], what[600];
		const char *b, *ab;
		case_request(c, w, false, path, sizeof path, body, sizeof body, &b);
		case_request(c, w, true, altpath, sizeof altpath, altbody, sizeof altbody, &ab);
		snprintf(what, sizeof what, "%s %s", c->method, path);

		/* No token; a token that is not a Bearer one. */
		const char *no_auth[] = {NULL, "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", TH_ADMIN_TOKEN};
		for (size_t k = 0; k < sizeof no_auth / sizeof no_auth[0]; k++) {
			hresp h = hreq_auth(&srv, no_auth[k], c->method, path, b, NULL);
			if (public) {
				if (h.r.status != 200)
					fail_msg("%s with Authorization '%s': %ld %s", what,
						 no_auth[k] ? no_auth[k] : "(none)", h.r.status, h.r.body);
				hresp_free(&h);
			} else {
				expect_401(&h, "unauthorized", what);
			}
		}

		/* Bad tokens: 401 everywhere, /health included (a token sent is a token
		 * checked); dead ones are 401, not 403, even where they would be 403. */
		const char *bad[] = {"not-a-token", unknown, wrong_secret, almost_admin, admin_prefix,
				     trev, td};
		for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
			hresp h = hreq(&srv, bad[k], c->method, path, b);
			expect_401(&h, "invalid_token", what);
			h = hreq(&srv, bad[k], c->method, altpath, ab);
			expect_401(&h, "invalid_token", what);
		}

		/* A token of another root's tree. */
		hresp h = hreq(&srv, tz, c->method, path, b);
		switch (rt->access) {
		case CO_ACCESS_PUBLIC:
			assert_int_equal(h.r.status, 200);
			break;
		case CO_ACCESS_ADMIN:
			th_assert_error(&h.r, 403, "admin_only");
			break;
		case CO_ACCESS_ANY_TOKEN: /* without naming a workspace: the admin's business */
			if (h.r.status != 403)
				fail_msg("%s with another tree's token: %ld %s", what, h.r.status, h.r.body);
			th_assert_error(&h.r, 403, "admin_only");
			hresp_free(&h);
			h = hreq(&srv, tz, c->method, altpath, ab);
			if (h.r.status != 403)
				fail_msg("%s (%s) with another tree's token: %ld %s", what, altpath,
					 h.r.status, h.r.body);
			th_assert_error(&h.r, 403, "forbidden");
			break;
		default:
			if (h.r.status != 403)
				fail_msg("%s with another tree's token: %ld %s", what, h.r.status, h.r.body);
			th_assert_error(&h.r, 403, "forbidden");
		}
		hresp_free(&h);

		/* The token's own workspace. */
		h = hreq(&srv, tw, c->method, altpath, ab);
		switch (rt->access) {
		case CO_ACCESS_ADMIN: th_assert_error(&h.r, 403, "admin_only"); break;
		case CO_ACCESS_BELOW: th_assert_error(&h.r, 403, "forbidden"); break;
		default:
			if (h.r.status == 401 || h.r.status == 403 || h.r.status >= 500 || h.r.status == 0)
				fail_msg("%s with its own workspace's token: %ld %s", what, h.r.status,
					 h.r.body);
		}
		hresp_free(&h);
	}

	/* The admin reaches every route (on a workspace of its own; its delete goes last). */
	char adm[40];
	mk("auth-gate-admin", NULL, adm);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < NCASES; i++) {
			const route_case *c = &cases[i];
			bool del_ws = !strcmp(c->method, "DELETE") && !strcmp(c->pattern, "/workspaces/:id");
			if (del_ws != (pass == 1))
				continue;
			char path[512], body[512];
			const char *b;
			case_request(c, adm, false, path, sizeof path, body, sizeof body, &b);
			hresp h = hreq(&srv, TH_ADMIN_TOKEN, c->method, path, b);
			if (h.r.status == 401 || h.r.status == 403 || h.r.status >= 500 || h.r.status == 0)
				fail_msg("%s %s as the admin: %ld %s", c->method, path, h.r.status, h.r.body);
			hresp_free(&h);
		}
	/* "bearer" is as good as "Bearer" (RFC 7235: the scheme is case-insensitive). */
	hresp h = hreq_auth(&srv, "bearer " TH_ADMIN_TOKEN, "GET", "/audit/verify", NULL, NULL);
	assert_int_equal(h.r.status, 200);
	hresp_free(&h);
}

/* The gate answers before the body is parsed or the id is looked at. */
static void test_gate_before_body(void **state)
{
	(void)state;
	char root[40], w[40], z[40], tz[64], p[256];
	mk("auth-order-root", NULL, root);
	mk("auth-order-w", root, w);
	mk("auth-order-z", NULL, z);
	mint(z, tz, NULL);
	wpath(p, sizeof p, w, "/memory");
	const char *bad_json = "{\"key\":";
	hresp h = hreq(&srv, NULL, "POST", p, bad_json);
	expect_401(&h, "unauthorized", "bad JSON, no token");
	h = hreq(&srv, "nope", "POST", p, bad_json);
	expect_401(&h, "invalid_token", "bad JSON, bad token");
	expect(tz, "POST", p, bad_json, 403, "forbidden");
	h = hreq_auth(&srv, NULL, "POST", p, "{}", "Content-Type: text/plain");
	expect_401(&h, "unauthorized", "text/plain, no token");
	char auth[128];
	snprintf(auth, sizeof auth, "Bearer %s", tz);
	h = hreq_auth(&srv, auth, "POST", p, "{}", "Content-Type: text/plain");
	th_assert_error(&h.r, 403, "forbidden");
	hresp_free(&h);
	/* admin-only: a token is refused whatever the body */
	expect(tz, "POST", "/org/import", "not json", 403, "admin_only");
	h = hreq(&srv, NULL, "POST", "/org/import", "not json");
	expect_401(&h, "unauthorized", "import, no token");
	/* a malformed id: 401 without a token (who you are comes first) */
	h = hreq(&srv, NULL, "GET", "/workspaces/not-a-uuid/memory", NULL);
	expect_401(&h, "unauthorized", "malformed id, no token");
	/* an absent workspace: 403 for a token (nothing learnt), 404 for the admin */
	expect(tz, "GET", "/workspaces/" ABSENT_ID, NULL, 403, "forbidden");
	expect(tz, "GET", "/workspaces/" ABSENT_ID "/memory", NULL, 403, "forbidden");
	expect(TH_ADMIN_TOKEN, "GET", "/workspaces/" ABSENT_ID, NULL, 404, NULL);
}

/* A removed workspace's tokens are dead on the very next request. */
static void test_removed_workspace_token_dies_at_once(void **state)
{
	(void)state;
	char root[40], x[40], p[256], tx[64], q[256];
	mk("auth-rm-root", NULL, root);
	for (int round = 0; round < 3; round++) { /* again and again: no lucky timing */
		mk("auth-rm-x", root, x);
		mint(x, tx, NULL);
		wpath(p, sizeof p, x, "/memory");
		expect(tx, "POST", p, "{\"key\":\"a\",\"value\":1}", 200, NULL);
		th_resp r = th_req(cl, "DELETE", wpath(q, sizeof q, x, NULL), NULL, NULL);
		assert_int_equal(r.status, 200);
		th_resp_free(&r);
		hresp h = hreq(&srv, tx, "GET", p, NULL);
		expect_401(&h, "invalid_token", "the next request after the delete");
		h = hreq(&srv, tx, "GET", wpath(q, sizeof q, x, NULL), NULL);
		expect_401(&h, "invalid_token", "a removed workspace's token");
	}
	/* A new workspace of the removed one's name does not bring its token back. */
	char x2[40];
	mk("auth-rm-x", root, x2);
	expect(tx, "GET", wpath(q, sizeof q, x2, NULL), NULL, 401, "invalid_token");

	/* Removing an ancestor kills the descendants' tokens too, purged or not; a parent's
	 * token removing its child kills the child's token, not its own. */
	const struct {
		const char *name, *query;
		bool by_parent;
	} ways[] = {{"auth-rm-parent", "?confirm=true", false},
		    {"auth-rm-purge", "?confirm=true&purge=true", false},
		    {"auth-rm-boss", "", true}};
	for (size_t i = 0; i < sizeof ways / sizeof ways[0]; i++) {
		char par[40], kid[40], tpar[64], tkid[64], kname[80];
		snprintf(kname, sizeof kname, "%s-kid", ways[i].name);
		mk(ways[i].name, root, par);
		mk(kname, par, kid);
		mint(par, tpar, NULL);
		mint(kid, tkid, NULL);
		expect(tkid, "GET", wpath(q, sizeof q, kid, NULL), NULL, 200, NULL);
		snprintf(p, sizeof p, "/workspaces/%s%s", ways[i].by_parent ? kid : par, ways[i].query);
		expect(ways[i].by_parent ? tpar : TH_ADMIN_TOKEN, "DELETE", p, NULL, 200, NULL);
		expect(tkid, "GET", wpath(q, sizeof q, kid, NULL), NULL, 401, "invalid_token");
		if (ways[i].by_parent)
			expect(tpar, "GET", wpath(q, sizeof q, par, NULL), NULL, 200, NULL);
		else
			expect(tpar, "GET", wpath(q, sizeof q, par, NULL), NULL, 401, "invalid_token");
		/* no token is minted for a removed workspace */
		if (!strstr(ways[i].query, "purge"))
			expect(TH_ADMIN_TOKEN, "POST", wpath(q, sizeof q, kid, "/tokens"), NULL, 409,
			       "workspace_removed");
	}
}

/* A request without a token is refused on its headers: colonyd does not first take in a
 * body that only the admin may send (up to --max-import-body, 32 MiB, for /org/import),
 * which would let anyone make it buffer that much per connection. The client sends the
 * headers of a 16 MiB body and waits: the 401 must come without the body. */
static void test_no_token_refused_before_the_body(void **state)
{
	(void)state;
	const char *paths[] = {"/org/import", "/workspaces"};
	for (int i = 0; i < 2; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		assert_true(fd >= 0);
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port)};
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
		char req[512];
		int n = snprintf(req, sizeof req,
				 "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
				 "Content-Length: %d\r\n\r\n{\"name\":",
				 paths[i], i == 0 ? 16 << 20 : 1000000);
		assert_int_equal(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
		struct timeval tv = {3, 0};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		char buf[1024];
		ssize_t got = recv(fd, buf, sizeof buf - 1, 0);
		close(fd);
		buf[got > 0 ? got : 0] = 0;
		if (got <= 0 || strncmp(buf, "HTTP/1.1 401", 12) != 0)
			fail_msg("POST %s without a token, body not sent: wanted 401 on the headers, "
				 "got %s", paths[i], got > 0 ? buf : "nothing within 3 s");
	}
}

/* The rule is decided on the tree as it is now: a move changes what a token reaches, at
 * once (no cached lineage). */
static void test_reach_follows_a_move(void **state)
{
	(void)state;
	char r2[40], pp[40], q[40], c[40], tp[64], tc[64], p[256], body[128];
	mk("auth-mv-R", NULL, r2);
	mk("auth-mv-P", r2, pp);
	mk("auth-mv-Q", r2, q);
	mk("auth-mv-C", pp, c);
	mint(pp, tp, NULL);
	mint(c, tc, NULL);
	for (int round = 0; round < 2; round++) {
		expect(tp, "GET", wpath(p, sizeof p, c, NULL), NULL, 200, NULL);
		expect(tc, "GET", wpath(p, sizeof p, pp, NULL), NULL, 200, NULL);
		expect(tp, "PATCH", wpath(p, sizeof p, c, "/budget"), "{\"limits\":{\"seconds\":9}}", 200,
		       NULL);
		snprintf(body, sizeof body, "{\"parent_id\":\"%s\"}", q); /* C goes under Q */
		th_resp r = th_req(cl, "PATCH", wpath(p, sizeof p, c, NULL), body, NULL);
		assert_int_equal(r.status, 200);
		th_resp_free(&r);
		/* Now C is P's nephew: unrelated both ways. */
		expect(tp, "GET", wpath(p, sizeof p, c, NULL), NULL, 403, "forbidden");
		expect(tc, "GET", wpath(p, sizeof p, pp, NULL), NULL, 403, "forbidden");
		expect(tp, "PATCH", wpath(p, sizeof p, c, "/budget"), "{\"limits\":{\"seconds\":9}}", 403,
		       "forbidden");
		expect(tc, "GET", wpath(p, sizeof p, c, "/memory"), NULL, 200, NULL); /* its own */
		expect(tc, "GET", wpath(p, sizeof p, q, NULL), NULL, 200, NULL);      /* new parent */
		snprintf(body, sizeof body, "{\"parent_id\":\"%s\"}", pp); /* and back */
		r = th_req(cl, "PATCH", wpath(p, sizeof p, c, NULL), body, NULL);
		assert_int_equal(r.status, 200);
		th_resp_free(&r);
	}
}

/* ---- 2. the hierarchy rule ------------------------------------------------------------ */

typedef struct {
	char R[40], A[40], B[40], A1[40], A1a[40], A2[40], B1[40], Z[40];
	char tR[64], tA[64], tA1[64], tA1a[64], tZ[64];
} tree;

static tree T;

static void build_tree(void)
{
	if (T.R[0])
		return;
	mk("auth-h-R", NULL, T.R);
	mk("auth-h-A", T.R, T.A);
	mk("auth-h-B", T.R, T.B);
	mk("auth-h-A1", T.A, T.A1);
	mk("auth-h-A1a", T.A1, T.A1a);
	mk("auth-h-A2", T.A, T.A2);
	mk("auth-h-B1", T.B, T.B1);
	mk("auth-h-Z", NULL, T.Z);
	mint(T.R, T.tR, NULL);
	mint(T.A, T.tA, NULL);
	mint(T.A1, T.tA1, NULL);
	mint(T.A1a, T.tA1a, NULL);
	mint(T.Z, T.tZ, NULL);
}

static void test_hierarchy_related(void **state)
{
	(void)state;
	build_tree();
	char p[256];
	const char *yes[] = {T.A, T.B, T.R, T.A1, T.A1a, T.A2};
	const char *no[] = {T.Z, T.B1};
	for (size_t i = 0; i < 6; i++) {
		expect(T.tA, "GET", wpath(p, sizeof p, yes[i], NULL), NULL, 200, NULL);
		expect(T.tA, "POST", wpath(p, sizeof p, yes[i], "/inbox"), "{\"body\":\"from A\"}", 201,
		       NULL);
	}
	for (size_t i = 0; i < 2; i++) {
		expect(T.tA, "GET", wpath(p, sizeof p, no[i], NULL), NULL, 403, "forbidden");
		expect(T.tA, "POST", wpath(p, sizeof p, no[i], "/inbox"), "{\"body\":\"x\"}", 403,
		       "forbidden");
	}
	/* Roots are not siblings: each root is its own org. */
	expect(T.tR, "POST", wpath(p, sizeof p, T.Z, "/inbox"), "{\"body\":\"x\"}", 403, "forbidden");
	expect(T.tR, "GET", wpath(p, sizeof p, T.Z, NULL), NULL, 403, "forbidden");
	expect(T.tZ, "GET", wpath(p, sizeof p, T.R, NULL), NULL, 403, "forbidden");
	/* R reaches all its descendants. */
	expect(T.tR, "POST", wpath(p, sizeof p, T.A1a, "/inbox"), "{\"body\":\"x\"}", 201, NULL);
	expect(T.tR, "GET", wpath(p, sizeof p, T.B1, NULL), NULL, 200, NULL);
	/* A1a reaches all its ancestors, and its grandparent's other child A2 is not its
	 * sibling: no. A1's uncle B (its parent's sibling) is not related either. */
	expect(T.tA1a, "POST", wpath(p, sizeof p, T.R, "/inbox"), "{\"body\":\"up\"}", 201, NULL);
	expect(T.tA1a, "GET", wpath(p, sizeof p, T.A, NULL), NULL, 200, NULL);
	expect(T.tA1a, "GET", wpath(p, sizeof p, T.A2, NULL), NULL, 403, "forbidden");
	expect(T.tA1, "GET", wpath(p, sizeof p, T.A2, NULL), NULL, 200, NULL); /* sibling */
	expect(T.tA1, "GET", wpath(p, sizeof p, T.B, NULL), NULL, 403, "forbidden");
	expect(T.tA1, "POST", wpath(p, sizeof p, T.B1, "/inbox"), "{\"body\":\"x\"}", 403, "forbidden");
	/* Own-only routes: not even the parent's memory. */
	expect(T.tA, "GET", wpath(p, sizeof p, T.A, "/memory"), NULL, 200, NULL);
	expect(T.tA, "GET", wpath(p, sizeof p, T.A1, "/memory"), NULL, 403, "forbidden");
	expect(T.tA, "GET", wpath(p, sizeof p, T.R, "/memory"), NULL, 403, "forbidden");
	expect(T.tA, "POST", wpath(p, sizeof p, T.B, "/inbox/claim"), "{}", 403, "forbidden");
	/* The messages A sent are where they were sent: B's inbox holds one from A. */
	th_resp r = th_req(cl, "GET", wpath(p, sizeof p, T.B, "/inbox"), NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_true(json_array_size(r.json) >= 1);
	th_resp_free(&r);
}

static void test_hierarchy_subtree_and_below(void **state)
{
	(void)state;
	build_tree();
	char p[256], tok[64], tid[40];
	/* Mint: the admin only — a manager's token may not, even below itself. */
	const char *mint_at[] = {T.A, T.A1, T.A1a, T.B, T.R, T.B1, T.Z};
	for (size_t i = 0; i < sizeof mint_at / sizeof *mint_at; i++)
		expect(T.tA, "POST", wpath(p, sizeof p, mint_at[i], "/tokens"), NULL, 403, "admin_only");
	mint(T.A1, tok, tid);
	expect(tok, "GET", wpath(p, sizeof p, T.A1, "/memory"), NULL, 200, NULL);

	/* List tokens: own and descendants' (subtree), not the parent's or a sibling's. */
	expect(T.tA, "GET", wpath(p, sizeof p, T.A, "/tokens"), NULL, 200, NULL);
	expect(T.tA, "GET", wpath(p, sizeof p, T.A1, "/tokens"), NULL, 200, NULL);
	expect(T.tA, "GET", wpath(p, sizeof p, T.A1a, "/tokens"), NULL, 200, NULL);
	expect(T.tA, "GET", wpath(p, sizeof p, T.B, "/tokens"), NULL, 403, "forbidden");
	expect(T.tA, "GET", wpath(p, sizeof p, T.R, "/tokens"), NULL, 403, "forbidden");
	expect(T.tA1, "GET", wpath(p, sizeof p, T.A, "/tokens"), NULL, 403, "forbidden");

	/* Revoke: subtree. A1a may not revoke its parent's token; A may. */
	char rp[256];
	snprintf(rp, sizeof rp, "/workspaces/%s/tokens/%s", T.A1, tid);
	expect(T.tA1a, "DELETE", rp, NULL, 403, "forbidden");
	expect(T.tZ, "DELETE", rp, NULL, 403, "forbidden");
	expect(tok, "GET", wpath(p, sizeof p, T.A1, "/memory"), NULL, 200, NULL);
	expect(T.tA, "DELETE", rp, NULL, 204, NULL);
	expect(tok, "GET", wpath(p, sizeof p, T.A1, "/memory"), NULL, 401, "invalid_token");

	/* Budget limits: below only; reading the budget: subtree. */
	const char *lim = "{\"limits\":{\"cost_usd\":50}}";
	expect(T.tA, "PATCH", wpath(p, sizeof p, T.A1, "/budget"), lim, 200, NULL);
	expect(T.tA, "PATCH", wpath(p, sizeof p, T.A1a, "/budget"), lim, 200, NULL);
	expect(T.tA, "PATCH", wpath(p, sizeof p, T.A, "/budget"), lim, 403, "forbidden");
	expect(T.tA, "PATCH", wpath(p, sizeof p, T.B, "/budget"), lim, 403, "forbidden");
	expect(T.tA, "PATCH", wpath(p, sizeof p, T.R, "/budget"), lim, 403, "forbidden");
	expect(T.tA1, "PATCH", wpath(p, sizeof p, T.A1, "/budget"), lim, 403, "forbidden");
	expect(T.tA, "GET", wpath(p, sizeof p, T.A, "/budget"), NULL, 200, NULL);
	expect(T.tA, "GET", wpath(p, sizeof p, T.A1, "/budget"), NULL, 200, NULL);
	expect(T.tA, "GET", wpath(p, sizeof p, T.R, "/budget"), NULL, 403, "forbidden");
	expect(T.tA, "GET", wpath(p, sizeof p, T.B, "/budget"), NULL, 403, "forbidden");

	/* Patch a workspace: subtree. */
	expect(T.tA, "PATCH", wpath(p, sizeof p, T.A, NULL), "{\"role\":\"lead\"}", 200, NULL);
	expect(T.tA, "PATCH", wpath(p, sizeof p, T.A1, NULL), "{\"role\":\"dev\"}", 200, NULL);
	expect(T.tA, "PATCH", wpath(p, sizeof p, T.B, NULL), "{\"role\":\"x\"}", 403, "forbidden");
	expect(T.tA, "PATCH", wpath(p, sizeof p, T.R, NULL), "{\"role\":\"x\"}", 403, "forbidden");

	/* Delete a workspace: below only. A1 has a child: the gate lets it through to the
	 * handler (409), a leaf made by A goes (200). */
	const char *not_below[] = {T.A, T.B, T.R, T.B1, T.Z};
	for (size_t i = 0; i < 5; i++)
		expect(T.tA, "DELETE", wpath(p, sizeof p, not_below[i], NULL), NULL, 403, "forbidden");
	expect(T.tA, "DELETE", wpath(p, sizeof p, T.A1, NULL), NULL, 409, "confirmation_required");
	char leaf[40];
	mk("auth-h-leaf", T.A, leaf);
	expect(T.tA, "DELETE", wpath(p, sizeof p, leaf, NULL), NULL, 200, NULL);
	th_resp r = th_req(cl, "GET", wpath(p, sizeof p, leaf, NULL), NULL, NULL);
	assert_string_equal(th_str(&r, "status"), "removed");
	th_resp_free(&r);
	char mid[40], kid[40];
	mk("auth-h-mid", T.A, mid);
	mk("auth-h-mid-kid", mid, kid);
	expect(T.tA, "DELETE", wpath(p, sizeof p, mid, NULL), NULL, 409, "confirmation_required");
	expect(T.tA, "DELETE", wpath(p, sizeof p, mid, "?confirm=true"), NULL, 200, NULL);
	r = th_req(cl, "GET", wpath(p, sizeof p, kid, NULL), NULL, NULL);
	assert_string_equal(th_str(&r, "status"), "removed");
	th_resp_free(&r);
	/* …and with ?confirm=true the gate still says no above A's reports. */
	expect(T.tA, "DELETE", wpath(p, sizeof p, T.A, "?confirm=true"), NULL, 403, "forbidden");
	expect(T.tA, "DELETE", wpath(p, sizeof p, T.R, "?confirm=true&purge=true"), NULL, 403,
	       "forbidden");
	/* Nothing refused above changed anything: the tree is whole. */
	const char *all[] = {T.R, T.A, T.B, T.A1, T.A1a, T.A2, T.B1, T.Z};
	for (size_t i = 0; i < 8; i++) {
		r = th_req(cl, "GET", wpath(p, sizeof p, all[i], NULL), NULL, NULL);
		assert_int_equal(r.status, 200);
		assert_string_not_equal(th_str(&r, "status"), "removed");
		th_resp_free(&r);
	}
	r = th_req(cl, "GET", wpath(p, sizeof p, T.B, "/budget"), NULL, NULL);
	assert_true(json_object_get(json_object_get(r.json, "limits"), "cost_usd") == NULL ||
		    json_is_null(json_object_get(json_object_get(r.json, "limits"), "cost_usd")));
	th_resp_free(&r);
}

/* Does the JSON array of workspaces hold id? */
static bool lists(json_t *arr, const char *id)
{
	for (size_t i = 0; i < json_array_size(arr); i++)
		if (!strcmp(th_jstr(json_array_get(arr, i), "id"), id))
			return true;
	return false;
}

static void test_hierarchy_workspace_rules(void **state)
{
	(void)state;
	build_tree();
	char p[256], body[256];
	/* Create: under A or below; a root needs the admin. */
	snprintf(body, sizeof body, "{\"name\":\"auth-h-new1\",\"parent_id\":\"%s\"}", T.A);
	hresp h = hreq(&srv, T.tA, "POST", "/workspaces", body);
	assert_int_equal(h.r.status, 201);
	assert_string_equal(th_str(&h.r, "parent_id"), T.A);
	hresp_free(&h);
	snprintf(body, sizeof body, "{\"name\":\"auth-h-new2\",\"parent_id\":\"%s\"}", T.A1a);
	expect(T.tA, "POST", "/workspaces", body, 201, NULL);
	const char *elsewhere[] = {T.B, T.R, T.Z, T.B1, ABSENT_ID};
	for (size_t i = 0; i < 5; i++) {
		snprintf(body, sizeof body, "{\"name\":\"auth-h-no\",\"parent_id\":\"%s\"}", elsewhere[i]);
		expect(T.tA, "POST", "/workspaces", body, 403, "forbidden");
	}
	expect(T.tA, "POST", "/workspaces", "{\"name\":\"auth-h-root\"}", 403, "admin_only");
	expect(T.tA, "POST", "/workspaces", "{\"name\":\"auth-h-root\",\"parent_id\":null}", 403,
	       "admin_only");
	expect(T.tR, "POST", "/workspaces", "{\"name\":\"auth-h-root\"}", 403, "admin_only");
	/* (none of the refused ones exists) */
	json_t *roots = th_get_ok(cl, "/workspaces?parent_id=null&limit=1000");
	for (size_t i = 0; i < json_array_size(roots); i++)
		assert_string_not_equal(th_jstr(json_array_get(roots, i), "name"), "auth-h-root");
	json_decref(roots);

	/* List: children of A (own), of R (A's parent: A's siblings), of A1 (a descendant). */
	snprintf(p, sizeof p, "/workspaces?parent_id=%s", T.A);
	h = hreq(&srv, T.tA, "GET", p, NULL);
	assert_int_equal(h.r.status, 200);
	assert_true(lists(h.r.json, T.A1) && lists(h.r.json, T.A2));
	hresp_free(&h);
	snprintf(p, sizeof p, "/workspaces?parent_id=%s", T.R);
	h = hreq(&srv, T.tA, "GET", p, NULL);
	assert_int_equal(h.r.status, 200);
	assert_true(lists(h.r.json, T.A) && lists(h.r.json, T.B));
	hresp_free(&h);
	snprintf(p, sizeof p, "/workspaces?parent_id=%s", T.A1);
	h = hreq(&srv, T.tA, "GET", p, NULL);
	assert_int_equal(h.r.status, 200);
	assert_true(lists(h.r.json, T.A1a));
	hresp_free(&h);
	const char *no_list[] = {T.B, T.Z, T.B1, ABSENT_ID};
	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof p, "/workspaces?parent_id=%s", no_list[i]);
		expect(T.tA, "GET", p, NULL, 403, "forbidden");
	}
	expect(T.tA1, "GET", "/workspaces?parent_id=" , NULL, 403, "admin_only");
	expect(T.tA, "GET", "/workspaces?parent_id=null", NULL, 403, "admin_only");
	expect(T.tA, "GET", "/workspaces", NULL, 403, "admin_only");
	expect(T.tA, "GET", "/workspaces?include_removed=true", NULL, 403, "admin_only");
	expect(T.tR, "GET", "/workspaces?parent_id=null", NULL, 403, "admin_only"); /* roots */
	snprintf(p, sizeof p, "/workspaces?parent_id=%s", T.R);
	expect(T.tR, "GET", p, NULL, 200, NULL);

	/* Move: within A's subtree, under A or below; never to the top, never outside. */
	snprintf(body, sizeof body, "{\"parent_id\":\"%s\"}", T.A);
	h = hreq(&srv, T.tA, "PATCH", wpath(p, sizeof p, T.A1a, NULL), body);
	assert_int_equal(h.r.status, 200);
	assert_string_equal(th_str(&h.r, "parent_id"), T.A);
	hresp_free(&h);
	snprintf(body, sizeof body, "{\"parent_id\":\"%s\"}", T.A1);
	expect(T.tA, "PATCH", wpath(p, sizeof p, T.A1a, NULL), body, 200, NULL);
	snprintf(body, sizeof body, "{\"parent_id\":\"%s\"}", T.B);
	expect(T.tA, "PATCH", wpath(p, sizeof p, T.A1a, NULL), body, 403, "forbidden");
	snprintf(body, sizeof body, "{\"parent_id\":\"%s\"}", T.Z);
	expect(T.tA, "PATCH", wpath(p, sizeof p, T.A1, NULL), body, 403, "forbidden");
	expect(T.tA, "PATCH", wpath(p, sizeof p, T.A1a, NULL), "{\"parent_id\":null}", 403,
	       "admin_only");
	expect(T.tA, "PATCH", wpath(p, sizeof p, T.A, NULL), "{\"parent_id\":null}", 403,
	       "admin_only");
	snprintf(body, sizeof body, "{\"parent_id\":\"%s\"}", T.A);
	expect(T.tA, "PATCH", wpath(p, sizeof p, T.B, NULL), body, 403, "forbidden"); /* B not A's */
	snprintf(body, sizeof body, "{\"parent_id\":\"%s\"}", T.A1);
	expect(T.tA, "PATCH", wpath(p, sizeof p, T.A, NULL), body, 409, "cycle");
	/* The refused moves moved nothing. */
	const char *want_parent[][2] = {{T.A1a, T.A1}, {T.A1, T.A}, {T.A, T.R}, {T.B, T.R}};
	for (size_t i = 0; i < 4; i++) {
		json_t *w = th_get_ok(cl, wpath(p, sizeof p, want_parent[i][0], NULL));
		assert_string_equal(th_jstr(w, "parent_id"), want_parent[i][1]);
		json_decref(w);
	}
}

static void test_admin_only_routes(void **state)
{
	(void)state;
	build_tree();
	const char *tpl = "{\"name\":\"AuthX\",\"workspaces\":[{\"name\":\"auth-x\"}]}";
	char q[256];
	snprintf(q, sizeof q, "/org/import?parent_id=%s", T.A);
	const char *toks[] = {T.tA, T.tR};
	for (int i = 0; i < 2; i++) {
		expect(toks[i], "POST", "/org/import", tpl, 403, "admin_only");
		expect(toks[i], "POST", q, tpl, 403, "admin_only"); /* even under its own tree */
		expect(toks[i], "POST", "/org/import?dry_run=true", tpl, 403, "admin_only");
		expect(toks[i], "GET", "/audit", NULL, 403, "admin_only");
		expect(toks[i], "GET", "/audit/verify", NULL, 403, "admin_only");
		expect(toks[i], "GET", "/settings/secrets", NULL, 403, "admin_only");
		expect(toks[i], "POST", "/settings/secrets", "{\"name\":\"K\",\"value\":\"v\"}", 403,
		       "admin_only");
		expect(toks[i], "DELETE", "/settings/secrets/K", NULL, 403, "admin_only");
	}
	json_t *roots = th_get_ok(cl, "/workspaces?parent_id=null&limit=1000");
	for (size_t i = 0; i < json_array_size(roots); i++)
		assert_string_not_equal(th_jstr(json_array_get(roots, i), "name"), "auth-x");
	json_decref(roots);
}

/* ---- 3. tokens ------------------------------------------------------------------------ */

/* BLAKE2b-256 of s in lowercase hex (what the store keeps; auth.h note 1). */
static void blake_hex(const char *s, char out[65])
{
	unsigned char h[32];
	crypto_generichash(h, sizeof h, (const unsigned char *)s, strlen(s), NULL, 0);
	sodium_bin2hex(out, 65, h, sizeof h);
}

/* The list entry of token id in arr, or NULL. */
static json_t *entry_of(json_t *arr, const char *id)
{
	for (size_t i = 0; i < json_array_size(arr); i++)
		if (!strcmp(th_jstr(json_array_get(arr, i), "id"), id))
			return json_array_get(arr, i);
	return NULL;
}

static void test_tokens_lifecycle(void **state)
{
	(void)state;
	char root[40], w[40], other[40], p[256];
	mk("auth-tok-root", NULL, root);
	mk("auth-tok-w", root, w);
	mk("auth-tok-other", root, other);
	long long t0 = th_now_us();
	char t1[64], id1[40], t2[64], id2[40];
	mint(w, t1, id1);
	mint(w, t2, id2);
	assert_string_not_equal(t1, t2);
	assert_string_not_equal(id1, id2);
	assert_false(!memcmp(t1, t2, 14)); /* distinct prefixes */

	/* The list: both, each {id, workspace_id, prefix, created_at, last_used_at: null},
	 * and nowhere the token, its secret part or its hash. */
	th_resp r = th_req(cl, "GET", wpath(p, sizeof p, w, "/tokens"), NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_true(json_is_array(r.json));
	assert_int_equal(json_array_size(r.json), 2);
	const char *toks[] = {t1, t2}, *ids[] = {id1, id2};
	for (int i = 0; i < 2; i++) {
		json_t *e = entry_of(r.json, ids[i]);
		assert_non_null(e);
		const char *allowed[] = {"id", "workspace_id", "prefix", "created_at", "last_used_at"};
		const char *k;
		json_t *v;
		json_object_foreach(e, k, v)
		{
			bool ok = false;
			for (size_t j = 0; j < 5; j++)
				ok |= !strcmp(k, allowed[j]);
			if (!ok)
				fail_msg("token list entry has field '%s': %s", k, r.body);
		}
		assert_string_equal(th_jstr(e, "workspace_id"), w);
		char prefix[16];
		snprintf(prefix, sizeof prefix, "%.14s", toks[i]);
		assert_string_equal(th_jstr(e, "prefix"), prefix);
		long long c = th_jtime(e, "created_at");
		assert_true(c >= t0 - 5000000 && c <= th_now_us() + 5000000);
		assert_true(th_jnull(e, "last_used_at"));
		char hx[65];
		blake_hex(toks[i], hx);
		if (strstr(r.body, toks[i]) || strstr(r.body, toks[i] + 15) || strstr(r.body, hx))
			fail_msg("the token list shows a token, its secret or its hash: %s", r.body);
	}
	th_resp_free(&r);
	/* Nor does the workspace itself. */
	r = th_req(cl, "GET", wpath(p, sizeof p, w, NULL), NULL, NULL);
	assert_null(strstr(r.body, t1 + 15));
	th_resp_free(&r);

	/* Paging by id. */
	snprintf(p, sizeof p, "/workspaces/%s/tokens?limit=1", w);
	json_t *first = th_get_ok(cl, p);
	assert_int_equal(json_array_size(first), 1);
	snprintf(p, sizeof p, "/workspaces/%s/tokens?limit=1&after=%s", w,
		 th_jstr(json_array_get(first, 0), "id"));
	json_t *second = th_get_ok(cl, p);
	assert_int_equal(json_array_size(second), 1);
	assert_string_not_equal(th_jstr(json_array_get(first, 0), "id"),
				th_jstr(json_array_get(second, 0), "id"));
	json_decref(first);
	json_decref(second);

	/* Use sets last_used_at (t1 only). On SQLite the gate hands the update to the writer
	 * and does not wait for it (server.c touch_token): give it a moment. */
	long long before_use = th_now_us();
	expect(t1, "GET", wpath(p, sizeof p, w, "/memory"), NULL, 200, NULL);
	json_t *e1 = NULL, *e2 = NULL;
	for (int tries = 0;; tries++) {
		r = th_req(cl, "GET", wpath(p, sizeof p, w, "/tokens"), NULL, NULL);
		e1 = entry_of(r.json, id1);
		e2 = entry_of(r.json, id2);
		assert_non_null(e1);
		assert_non_null(e2);
		if (!th_jnull(e1, "last_used_at"))
			break;
		if (tries == 100)
			fail_msg("last_used_at still null 1 s after a use: %s", r.body);
		th_resp_free(&r);
		th_sleep_ms(10);
	}
	long long used = th_jtime(e1, "last_used_at");
	assert_true(used >= before_use - 5000000 && used <= th_now_us() + 5000000);
	assert_true(th_jnull(e2, "last_used_at"));
	th_resp_free(&r);
	/* A token may list its own workspace's tokens. */
	expect(t2, "GET", wpath(p, sizeof p, w, "/tokens"), NULL, 200, NULL);

	/* Revoke t1: 204, no body, dead at once; t2 lives on. */
	snprintf(p, sizeof p, "/workspaces/%s/tokens/%s", w, id1);
	r = th_req(cl, "DELETE", p, NULL, NULL);
	assert_int_equal(r.status, 204);
	assert_int_equal(r.len, 0);
	th_resp_free(&r);
	char mp[256];
	expect(t1, "GET", wpath(mp, sizeof mp, w, "/memory"), NULL, 401, "invalid_token");
	expect(t2, "GET", wpath(mp, sizeof mp, w, "/memory"), NULL, 200, NULL);
	/* Twice: 404. */
	th_expect_error(th_req(cl, "DELETE", p, NULL, NULL), 404, NULL);
	/* Listed no more. */
	r = th_req(cl, "GET", wpath(mp, sizeof mp, w, "/tokens"), NULL, NULL);
	assert_int_equal(json_array_size(r.json), 1);
	assert_non_null(entry_of(r.json, id2));
	th_resp_free(&r);
	/* Another workspace's token, an absent one, a malformed id: 404, 404, 400 — and t2
	 * still works. */
	snprintf(p, sizeof p, "/workspaces/%s/tokens/%s", other, id2);
	th_expect_error(th_req(cl, "DELETE", p, NULL, NULL), 404, NULL);
	snprintf(p, sizeof p, "/workspaces/%s/tokens/%s", w, ABSENT_ID);
	th_expect_error(th_req(cl, "DELETE", p, NULL, NULL), 404, NULL);
	snprintf(p, sizeof p, "/workspaces/%s/tokens/nope", w);
	th_expect_error(th_req(cl, "DELETE", p, NULL, NULL), 400, NULL);
	expect(t2, "GET", wpath(mp, sizeof mp, w, "/memory"), NULL, 200, NULL);
	/* A token can revoke itself (its own workspace is in its subtree); then it is dead. */
	snprintf(p, sizeof p, "/workspaces/%s/tokens/%s", w, id2);
	expect(t2, "DELETE", p, NULL, 204, NULL);
	expect(t2, "GET", wpath(mp, sizeof mp, w, "/memory"), NULL, 401, "invalid_token");
	/* Tokens for an absent workspace: 404, or a removed one: 409. */
	th_expect_error(th_req(cl, "POST", "/workspaces/" ABSENT_ID "/tokens", NULL, NULL), 404, NULL);
	th_expect_error(th_req(cl, "POST", "/workspaces/nope/tokens", NULL, NULL), 400, NULL);
}

/* 8 threads use a token while a ninth revokes it: no request sent after the revoke's 204
 * came back may succeed. Reads and writes both (they take different paths: inline reads,
 * queued writes). */
#define HAMMERS 8

struct revoke_race {
	const th_server *s;
	char ws[40], tok[64], tid[40];
	atomic_llong revoked_at; /* monotonic µs when the 204 came back; LLONG_MAX before */
	atomic_bool stop;
	atomic_int ok_before, ok_after_revoke, unauthorized, other;
	atomic_int revoke_status;
	char other_body[256];
};

static void revoke_race_fn(int i, void *arg)
{
	struct revoke_race *rr = arg;
	if (i == HAMMERS) { /* the revoker */
		th_sleep_ms(300);
		th_client *c = th_client_new(rr->s);
		char p[200];
		snprintf(p, sizeof p, "/workspaces/%s/tokens/%s", rr->ws, rr->tid);
		th_resp r = th_req(c, "DELETE", p, NULL, NULL);
		atomic_store(&rr->revoked_at, mono_us());
		atomic_store(&rr->revoke_status, (int)r.status);
		th_resp_free(&r);
		th_client_free(c);
		th_sleep_ms(400);
		atomic_store(&rr->stop, true);
		return;
	}
	th_client *c = th_client_new_token(rr->s, rr->tok);
	char p[200], body[96];
	for (int n = 0; !atomic_load(&rr->stop); n++) {
		long long sent = mono_us();
		th_resp r;
		if (i % 2) {
			snprintf(p, sizeof p, "/workspaces/%s/memory", rr->ws);
			snprintf(body, sizeof body, "{\"key\":\"race-%d\",\"value\":%d}", i, n);
			r = th_req(c, "POST", p, body, NULL);
		} else {
			snprintf(p, sizeof p, "/workspaces/%s", rr->ws);
			r = th_req(c, "GET", p, NULL, NULL);
		}
		if (r.status == 200) {
			if (sent > atomic_load(&rr->revoked_at))
				atomic_fetch_add(&rr->ok_after_revoke, 1);
			else
				atomic_fetch_add(&rr->ok_before, 1);
		} else if (r.status == 401) {
			atomic_fetch_add(&rr->unauthorized, 1);
		} else if (atomic_fetch_add(&rr->other, 1) == 0) {
			snprintf(rr->other_body, sizeof rr->other_body, "%ld %s", r.status, r.body);
		}
		th_resp_free(&r);
	}
	th_client_free(c);
}

static void test_revoke_race(void **state)
{
	(void)state;
	char root[40];
	mk("auth-race-root", NULL, root);
	for (int round = 0; round < 3; round++) {
		static struct revoke_race rr;
		memset(&rr, 0, sizeof rr);
		rr.s = &srv;
		atomic_store(&rr.revoked_at, LLONG_MAX);
		char name[64];
		snprintf(name, sizeof name, "auth-race-%d", round);
		mk(name, root, rr.ws);
		mint(rr.ws, rr.tok, rr.tid);
		th_race(HAMMERS + 1, revoke_race_fn, &rr);
		assert_int_equal(atomic_load(&rr.revoke_status), 204);
		if (atomic_load(&rr.other))
			fail_msg("%d answers neither 200 nor 401, the first: %s", atomic_load(&rr.other),
				 rr.other_body);
		if (atomic_load(&rr.ok_after_revoke))
			fail_msg("round %d: %d requests sent after the revoke returned 204 succeeded",
				 round, atomic_load(&rr.ok_after_revoke));
		assert_true(atomic_load(&rr.ok_before) > 0);
		assert_true(atomic_load(&rr.unauthorized) > 0);
		expect(rr.tok, "GET", "/workspaces/" ABSENT_ID, NULL, 401, "invalid_token");
	}
}

/* Writes in flight when their token dies (audit.h note 5): the gate passed them before a
 * revoke (or the removal of the token's workspace) committed, so each must commit before
 * it or be refused 401 — never commit after it. 8 threads POST with a token while a
 * ninth revokes it (memory writes to its own workspace), or removes its workspace (the
 * writes going to a sibling's inbox). Then the audit log, walked page by page: no record
 * of the token follows the revoke's (removal's), its records are exactly its successful
 * writes, and every write sent after the kill's answer came back was a 401. */
struct write_race {
	const th_server *s;
	const char *tok;
	char write_path[200]; /* POST here with the token */
	char kill_path[200];  /* DELETE this as the admin */
	bool inbox;
	atomic_llong killed_at; /* monotonic µs when the kill's answer came back */
	atomic_bool stop;
	atomic_int ok, ok_after, unauthorized, other, kill_status;
	atomic_int at_commit; /* 401s from the write's own check, not the gate (informative) */
	char other_body[256];
};

static void wait_count(atomic_int *v, int n, int ms)
{
	long long deadline = mono_us() + ms * 1000LL;
	while (atomic_load(v) < n && mono_us() < deadline)
		th_sleep_ms(1);
}

static void write_race_fn(int i, void *arg)
{
	struct write_race *wr = arg;
	if (i == HAMMERS) { /* the killer */
		th_client *c = th_client_new(wr->s);
		wait_count(&wr->ok, 10 + (int)(mono_us() % 20), 10000);
		th_resp r = th_req(c, "DELETE", wr->kill_path, NULL, NULL);
		atomic_store(&wr->killed_at, mono_us());
		atomic_store(&wr->kill_status, (int)r.status);
		th_resp_free(&r);
		th_client_free(c);
		wait_count(&wr->unauthorized, 4 * HAMMERS, 3000);
		atomic_store(&wr->stop, true);
		return;
	}
	th_client *c = th_client_new_token(wr->s, wr->tok);
	char body[96];
	for (int n = 0; !atomic_load(&wr->stop); n++) {
		long long sent = mono_us();
		if (wr->inbox)
			snprintf(body, sizeof body, "{\"body\":\"w%d-%d\"}", i, n);
		else
			snprintf(body, sizeof body, "{\"key\":\"wr-%d\",\"value\":%d}", i, n);
		th_resp r = th_req(c, "POST", wr->write_path, body, NULL);
		if (r.status == 200 || r.status == 201) {
			atomic_fetch_add(&wr->ok, 1);
			if (sent > atomic_load(&wr->killed_at))
				atomic_fetch_add(&wr->ok_after, 1);
		} else if (r.status == 401) {
			atomic_fetch_add(&wr->unauthorized, 1);
			if (strstr(r.body, "before this write could commit"))
				atomic_fetch_add(&wr->at_commit, 1);
		} else if (atomic_fetch_add(&wr->other, 1) == 0) {
			snprintf(wr->other_body, sizeof wr->other_body, "%ld %s", r.status, r.body);
		}
		th_resp_free(&r);
	}
	th_client_free(c);
}

/* The seq of the newest audit record (walking from *cursor, which it advances). */
static long long audit_head(long long *cursor)
{
	for (;;) {
		char q[64];
		snprintf(q, sizeof q, "/audit?limit=1000&after=%lld", *cursor);
		json_t *b = th_get_ok(cl, q);
		json_t *recs = json_object_get(b, "records");
		size_t n = json_array_size(recs);
		if (n)
			*cursor = th_jint(json_array_get(recs, n - 1), "seq");
		json_decref(b);
		if (n < 1000)
			return *cursor;
	}
}

static void write_race(bool removal)
{
	static long long cursor;
	char root[40], sibling[40];
	mk(removal ? "auth-wrace-tomb" : "auth-wrace-rev", NULL, root);
	mk("auth-wrace-sibling", root, sibling);
	int at_commit = 0;
	for (int round = 0; round < 5; round++) {
		static struct write_race wr;
		memset(&wr, 0, sizeof wr);
		wr.s = &srv;
		wr.inbox = removal;
		atomic_store(&wr.killed_at, LLONG_MAX);
		char name[64], ws[40], tok[64], tid[40];
		snprintf(name, sizeof name, "auth-wrace-%d", round);
		mk(name, root, ws);
		mint(ws, tok, tid);
		wr.tok = tok;
		wpath(wr.write_path, sizeof wr.write_path, removal ? sibling : ws,
		      removal ? "/inbox" : "/memory");
		if (removal)
			wpath(wr.kill_path, sizeof wr.kill_path, ws, NULL);
		else
			snprintf(wr.kill_path, sizeof wr.kill_path, "/workspaces/%s/tokens/%s", ws, tid);
		long long h0 = audit_head(&cursor);
		th_race(HAMMERS + 1, write_race_fn, &wr);
		int kill_status = atomic_load(&wr.kill_status);
		if (kill_status != (removal ? 200 : 204))
			fail_msg("round %d: DELETE %s answered %d", round, wr.kill_path, kill_status);
		if (atomic_load(&wr.other))
			fail_msg("round %d: %d answers neither success nor 401, the first: %s", round,
				 atomic_load(&wr.other), wr.other_body);
		if (atomic_load(&wr.ok_after))
			fail_msg("round %d: %d writes sent after the kill's answer succeeded", round,
				 atomic_load(&wr.ok_after));
		assert_true(atomic_load(&wr.ok) > 0);
		assert_true(atomic_load(&wr.unauthorized) > 0);
		/* The log from h0 on, page by page. */
		char actor[64];
		snprintf(actor, sizeof actor, "token:%s", tid);
		long long kill_seq = 0, last_of_token = 0, after = h0;
		int of_token = 0;
		for (;;) {
			char q[64];
			snprintf(q, sizeof q, "/audit?limit=1000&after=%lld", after);
			json_t *b = th_get_ok(cl, q);
			json_t *recs = json_object_get(b, "records");
			size_t n = json_array_size(recs);
			for (size_t k = 0; k < n; k++) {
				json_t *rec = json_array_get(recs, k);
				long long seq = th_jint(rec, "seq");
				const char *who = th_jstr(rec, "actor"), *what = th_jstr(rec, "action");
				if (!strcmp(what, removal ? "workspace.delete" : "token.revoke") &&
				    !strcmp(th_jstr(rec, "target"), wr.kill_path))
					kill_seq = seq;
				if (!strcmp(who, actor)) {
					of_token++;
					last_of_token = seq;
				}
				after = seq;
			}
			json_decref(b);
			if (n < 1000)
				break;
		}
		if (!kill_seq)
			fail_msg("round %d: no record of DELETE %s", round, wr.kill_path);
		if (last_of_token > kill_seq)
			fail_msg("round %d: a record of %s (seq %lld) follows the %s (seq %lld)", round,
				 actor, last_of_token, removal ? "removal" : "revoke", kill_seq);
		assert_int_equal(of_token, atomic_load(&wr.ok));
		at_commit += atomic_load(&wr.at_commit);
	}
	fprintf(stderr, "(%s: %d writes past the gate refused at commit over 5 rounds)\n",
		removal ? "removal" : "revoke", at_commit);
}

static void test_revoke_race_writes_in_flight(void **state)
{
	(void)state;
	write_race(false);
}

static void test_removal_race_writes_in_flight(void **state)
{
	(void)state;
	write_race(true);
}

/* ---- 4. rate limit -------------------------------------------------------------------- */

static void test_rate_limit(void **state)
{
	(void)state;
	static const char *const rl_args[] = {"--no-scheduler", "--rate-limit", "5", "--rate-burst",
					      "5", NULL};
	th_server rl;
	th_server_start(&rl, rl_args);
	th_client *adm = th_client_new(&rl);
	char w[40], t1[64], t2[64], p[256], mp[256];
	th_create_ws(adm, "auth-rl", NULL, w);
	/* mint on this server */
	for (int i = 0; i < 2; i++) {
		th_resp r = th_req(adm, "POST", wpath(p, sizeof p, w, "/tokens"), NULL, NULL);
		assert_int_equal(r.status, 201);
		snprintf(i ? t2 : t1, 64, "%s", th_str(&r, "auth_token"));
		th_resp_free(&r);
	}
	wpath(p, sizeof p, w, NULL);
	wpath(mp, sizeof mp, w, "/memory");

	/* The burst: 5 pass, then 429 with Retry-After and the code. */
	long long start = mono_us();
	long st[8];
	hresp limited;
	memset(&limited, 0, sizeof limited);
	for (int i = 0; i < 8; i++) {
		hresp h = hreq(&rl, t1, "GET", p, NULL);
		st[i] = h.r.status;
		if (h.r.status == 429 && !limited.r.body)
			limited = h;
		else
			hresp_free(&h);
	}
	long long took = mono_us() - start;
	for (int i = 0; i < 5; i++)
		if (st[i] != 200)
			fail_msg("request %d of the burst: %ld", i + 1, st[i]);
	if (took < 150000) { /* < 0.75 of a refill: none may pass */
		for (int i = 5; i < 8; i++)
			if (st[i] != 429)
				fail_msg("request %d (after a burst of 5 in %lld µs): %ld", i + 1, took, st[i]);
	}
	if (!limited.r.body)
		fail_msg("8 requests in %lld µs at 5/s, burst 5: none was 429", took);
	th_assert_error(&limited.r, 429, "rate_limited");
	int retry = atoi(limited.retry_after);
	if (retry < 1 || retry > 2)
		fail_msg("Retry-After '%s' (wanted 1..2 at 5 requests/s)", limited.retry_after);
	hresp_free(&limited);
	/* A limited write writes nothing. */
	hresp h = hreq(&rl, t1, "POST", mp, "{\"key\":\"limited\",\"value\":1}");
	th_assert_error(&h.r, 429, "rate_limited");
	hresp_free(&h);

	/* The admin is not limited. */
	for (int i = 0; i < 30; i++) {
		th_resp r = th_req(adm, "GET", p, NULL, NULL);
		assert_int_equal(r.status, 200);
		th_resp_free(&r);
	}
	/* Another token has its own bucket. */
	for (int i = 0; i < 5; i++) {
		h = hreq(&rl, t2, "GET", p, NULL);
		if (h.r.status != 200)
			fail_msg("t2's request %d: %ld %s", i + 1, h.r.status, h.r.body);
		hresp_free(&h);
	}
	/* After Retry-After seconds, t1 passes again. */
	th_sleep_ms(retry * 1000 + 50);
	h = hreq(&rl, t1, "GET", p, NULL);
	assert_int_equal(h.r.status, 200);
	hresp_free(&h);
	th_resp r = th_req(adm, "GET", wpath(p, sizeof p, w, "/memory/limited"), NULL, NULL);
	assert_int_equal(r.status, 404);
	th_resp_free(&r);
	th_client_free(adm);
	assert_int_equal(th_server_stop(&rl), 0);
}

/* ---- 5. the admin token --------------------------------------------------------------- */

/* Reads a whole small file into out ("" if it cannot). */
static void slurp(const char *path, char *out, size_t cap)
{
	out[0] = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	size_t n = fread(out, 1, cap - 1, f);
	out[n] = 0;
	fclose(f);
}

/* Runs colonyd with args (after argv[0]), COLONY_ADMIN_TOKEN = admin_env (NULL: unset),
 * output to log; it must exit by itself within 20 s. Returns its exit status (-1: by a
 * signal). */
static int run_colonyd(const char *const *args, const char *admin_env, const char *log)
{
	const char *argv[32] = {COLONYD_PATH};
	int argc = 1;
	for (int i = 0; args[i] && argc < 31; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (admin_env)
			setenv("COLONY_ADMIN_TOKEN", admin_env, 1);
		else
			unsetenv("COLONY_ADMIN_TOKEN");
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			dup2(fd, STDOUT_FILENO);
			close(fd);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	int status = 0;
	for (int waited = 0;; waited += 10) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (waited > 20000) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_msg("colonyd %s … did not exit (it should refuse to start)", args[0]);
		}
		th_sleep_ms(10);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_admin_token_file(void **state)
{
	(void)state;
	char dir[64] = "/tmp/colony-auth-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char file[128], log[512], text[1 << 16], tok[600], again[600];
	snprintf(file, sizeof file, "%s/admin", dir);
	const char *const args[] = {"--no-scheduler", "--admin-token-file", file, NULL};
	th_server s;
	th_server_start(&s, args);
	struct stat st;
	assert_int_equal(stat(file, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	if ((st.st_mode & 0777) != 0600)
		fail_msg("the admin token file has mode %o, not 600", st.st_mode & 0777);
	slurp(file, tok, sizeof tok);
	tok[strcspn(tok, " \r\n")] = 0;
	assert_true(strlen(tok) >= 16);
	snprintf(log, sizeof log, "%s/colonyd.log", s.dir);
	slurp(log, text, sizeof text);
	if (!strstr(text, file))
		fail_msg("the log does not name the admin token file %s:\n%s", file, text);
	if (strstr(text, tok))
		fail_msg("the log shows the admin token itself");
	/* It works; the harness's token (not in the environment now) does not. */
	th_client *c = th_client_new_token(&s, tok);
	th_resp r = th_req(c, "GET", "/audit/verify", NULL, NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);
	char w[40];
	th_create_ws(c, "auth-file-root", NULL, w); /* a root: the admin */
	th_client_free(c);
	th_client *h = th_client_new(&s);
	r = th_req(h, "GET", "/audit/verify", NULL, NULL);
	th_assert_error(&r, 401, "invalid_token");
	th_resp_free(&r);
	th_client_free(h);

	/* A restart keeps it. */
	assert_int_equal(th_server_stop_keep(&s), 0);
	th_server_restart(&s);
	slurp(file, again, sizeof again);
	again[strcspn(again, " \r\n")] = 0;
	assert_string_equal(again, tok);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	c = th_client_new_token(&s, tok);
	r = th_req(c, "GET", "/audit/verify", NULL, NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);
	th_client_free(c);
	slurp(log, text, sizeof text);
	assert_null(strstr(text, tok));
	assert_int_equal(th_server_stop(&s), 0);

	/* Readable by others: refused, and said why. */
	char db[128], out[128], msg[1 << 14];
	snprintf(db, sizeof db, "%s/refuse.db", dir);
	snprintf(out, sizeof out, "%s/refuse.log", dir);
	const char *const run[] = {"--listen", "127.0.0.1:0", "--db", db, "--no-scheduler",
				   "--admin-token-file", file, NULL};
	assert_int_equal(chmod(file, 0644), 0);
	int rc = run_colonyd(run, NULL, out);
	slurp(out, msg, sizeof msg);
	if (rc == 0 || rc == -1)
		fail_msg("colonyd with a 0644 admin token file: exit %d, wanted a refusal: %s", rc, msg);
	if (!strstr(msg, file))
		fail_msg("the refusal does not name the file: %s", msg);
	/* Not a valid token (too short): refused too. */
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fputs("short\n", f);
	fclose(f);
	assert_int_equal(chmod(file, 0600), 0);
	rc = run_colonyd(run, NULL, out);
	slurp(out, msg, sizeof msg);
	if (rc == 0 || rc == -1)
		fail_msg("colonyd with an invalid admin token file: exit %d: %s", rc, msg);
	/* A bad COLONY_ADMIN_TOKEN: refused, and the bad value not echoed. */
	const char *const run_env[] = {"--listen", "127.0.0.1:0", "--db", db, "--no-scheduler", NULL};
	rc = run_colonyd(run_env, "has a space in it, sadly", out);
	slurp(out, msg, sizeof msg);
	if (rc == 0 || rc == -1)
		fail_msg("colonyd with a bad COLONY_ADMIN_TOKEN: exit %d: %s", rc, msg);
	assert_true(strstr(msg, "COLONY_ADMIN_TOKEN") != NULL);
	assert_null(strstr(msg, "sadly"));
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_admin_token_from_env(void **state)
{
	(void)state;
	/* The main server has COLONY_ADMIN_TOKEN (the harness); it works, and is not logged. */
	th_resp r = th_req(cl, "GET", "/audit/verify", NULL, NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);
	char log[512], text[1 << 16];
	snprintf(log, sizeof log, "%s/colonyd.log", srv.dir);
	slurp(log, text, sizeof text);
	assert_true(strlen(text) > 0);
	if (strstr(text, TH_ADMIN_TOKEN))
		fail_msg("colonyd's log shows the admin token");
	/* No token file was made beside the database. */
	char beside[400];
	snprintf(beside, sizeof beside, "%s.admin-token", srv.db);
	assert_int_not_equal(access(beside, F_OK), 0);
}

static void test_dev_mode(void **state)
{
	(void)state;
	char dir[64] = "/tmp/colony-auth-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char db[128], out[128], msg[1 << 14];
	snprintf(db, sizeof db, "%s/dev.db", dir);
	snprintf(out, sizeof out, "%s/dev.log", dir);
	/* Not on loopback: refused, with a message saying why. */
	const char *const wide[] = {"--dev", "--listen", "0.0.0.0:0", "--db", db, "--no-scheduler",
				    NULL};
	int rc = run_colonyd(wide, NULL, out);
	slurp(out, msg, sizeof msg);
	if (rc == 0 || rc == -1)
		fail_msg("colonyd --dev --listen 0.0.0.0:0: exit %d, wanted a refusal: %s", rc, msg);
	if (!strstr(msg, "loopback"))
		fail_msg("the refusal does not say why (loopback): %s", msg);
	const char *const wide6[] = {"--dev", "--listen", "[::]:0", "--db", db, "--no-scheduler",
				     NULL};
	rc = run_colonyd(wide6, NULL, out);
	slurp(out, msg, sizeof msg);
	if (rc == 0 || rc == -1)
		fail_msg("colonyd --dev --listen [::]:0: exit %d, wanted a refusal: %s", rc, msg);
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);

	/* On loopback: no token needed, everything reachable. */
	static const char *const dev_args[] = {"--no-scheduler", "--dev", NULL};
	th_server d;
	th_server_start(&d, dev_args);
	th_client *c = th_client_new_token(&d, NULL);
	char w[40], p[256];
	th_create_ws(c, "auth-dev-root", NULL, w);
	const char *paths[] = {"/workspaces", "/audit", "/audit/verify", NULL};
	for (int i = 0; paths[i]; i++) {
		th_resp r = th_req(c, "GET", paths[i], NULL, NULL);
		if (r.status != 200)
			fail_msg("--dev: GET %s without a token: %ld %s", paths[i], r.status, r.body);
		th_resp_free(&r);
	}
	th_resp r = th_req(c, "POST", wpath(p, sizeof p, w, "/memory"), "{\"key\":\"k\",\"value\":1}",
			   NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);
	th_client_free(c);
	/* Whatever token is sent, auth is off. */
	c = th_client_new_token(&d, "not-a-token");
	r = th_req(c, "GET", wpath(p, sizeof p, w, "/memory/k"), NULL, NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);
	th_client_free(c);
	/* A web page must not drive it: a foreign Host (DNS rebinding) or Origin (a
	 * cross-site form post) is refused, and nothing is written. */
	const char *foreign[] = {"Host: evil.example:8080", "Origin: http://evil.example", NULL};
	for (int i = 0; foreign[i]; i++) {
		hresp h = hreq_auth(&d, NULL, "POST", wpath(p, sizeof p, w, "/tokens"), NULL,
				    foreign[i]);
		if (h.r.status != 403)
			fail_msg("--dev with '%s': %ld %s, wanted 403", foreign[i], h.r.status,
				 h.r.body);
		th_assert_error(&h.r, 403, "not_local");
		hresp_free(&h);
	}
	const char *local[] = {"Origin: http://localhost:3000", "Host: [::1]:8080",
			       "Host: localhost", NULL};
	for (int i = 0; local[i]; i++) {
		hresp h = hreq_auth(&d, NULL, "GET", wpath(p, sizeof p, w, "/tokens"), NULL, local[i]);
		if (h.r.status != 200)
			fail_msg("--dev with '%s': %ld %s, wanted 200", local[i], h.r.status, h.r.body);
		assert_int_equal(json_array_size(h.r.json), 0); /* the 403s minted nothing */
		hresp_free(&h);
	}
	assert_int_equal(th_server_stop(&d), 0);
}

/* With PostgreSQL no key is made up: replicas must share them. colonyd refuses to start
 * without COLONY_ADMIN_TOKEN / COLONY_SECRETS_KEY (or the file flags), naming what to
 * set. The keys are loaded before the store is opened, so no server is needed here. */
static void test_postgres_needs_named_keys(void **state)
{
	(void)state;
	char dir[64] = "/tmp/colony-auth-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char out[128], msg[1 << 14], cmd[200];
	snprintf(out, sizeof out, "%s/pg.log", dir);
	const char *const args[] = {"--db", "postgresql://nobody@127.0.0.1:1/none", "--listen",
				    "127.0.0.1:0", NULL};
	int rc = run_colonyd(args, NULL, out);
	slurp(out, msg, sizeof msg);
	if (rc == 0 || rc == -1 || !strstr(msg, "COLONY_ADMIN_TOKEN"))
		fail_msg("PostgreSQL without an admin token: exit %d, %s", rc, msg);
	rc = run_colonyd(args, TH_ADMIN_TOKEN, out); /* a token, but no secrets key */
	slurp(out, msg, sizeof msg);
	if (rc == 0 || rc == -1 || !strstr(msg, "COLONY_SECRETS_KEY"))
		fail_msg("PostgreSQL without a secrets key: exit %d, %s", rc, msg);
	setenv("COLONY_SECRETS_KEY", TH_SECRETS_KEY, 1); /* both: it gets as far as the store */
	rc = run_colonyd(args, TH_ADMIN_TOKEN, out);
	unsetenv("COLONY_SECRETS_KEY");
	slurp(out, msg, sizeof msg);
	if (rc == 0 || rc == -1 || strstr(msg, "must use the same"))
		fail_msg("PostgreSQL unreachable (keys given): exit %d, %s", rc, msg);
	assert_null(strstr(msg, "./colony.")); /* no key file made up in the working dir */
	assert_int_equal(access("colony.secrets-key", F_OK) == 0 &&
				 access("colony.admin-token", F_OK) == 0,
			 0);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* Changes that need more than the workspace's own token: purging (rows gone for good)
 * and pointing its own url (its webhooks) elsewhere. Replies are never cacheable. */
static void test_purge_url_and_no_store(void **state)
{
	(void)state;
	char r[37], a[37], a1[37], a2[37], ta[64], ta1[64], p[256];
	mk("auth-pu-root", NULL, r);
	mk("auth-pu-a", r, a);
	mk("auth-pu-a1", a, a1);
	mk("auth-pu-a2", a, a2);
	mint(a, ta, NULL);
	mint(a1, ta1, NULL);
	/* a manager tombstones a report, but may not purge one */
	expect(ta, "DELETE", wpath(p, sizeof p, a1, "?purge=true&confirm=true"), NULL, 403,
	       "admin_only");
	th_resp g = th_req(cl, "GET", wpath(p, sizeof p, a1, ""), NULL, NULL);
	assert_int_equal(g.status, 200);
	assert_string_not_equal(th_str(&g, "status"), "removed");
	th_resp_free(&g);
	expect(ta, "DELETE", wpath(p, sizeof p, a2, ""), NULL, 200, NULL);
	/* its own url: no; a report's url: yes (its manager's call) */
	const char *url = "{\"url\":\"http://169.254.169.254/latest\"}";
	expect(ta1, "PATCH", wpath(p, sizeof p, a1, ""), url, 403, "forbidden");
	g = th_req(cl, "GET", wpath(p, sizeof p, a1, ""), NULL, NULL);
	assert_true(th_jnull(g.json, "url") || !json_object_get(g.json, "url"));
	th_resp_free(&g);
	expect(ta1, "PATCH", wpath(p, sizeof p, a1, ""), "{\"status\":\"online\"}", 200, NULL);
	expect(ta, "PATCH", wpath(p, sizeof p, a1, ""), "{\"url\":\"https://a1.example/hook\"}",
	       200, NULL);
	/* the admin purges */
	th_resp d = th_req(cl, "DELETE", wpath(p, sizeof p, a1, "?purge=true&confirm=true"), NULL, NULL);
	assert_int_equal(d.status, 200);
	th_resp_free(&d);
	/* a token's plaintext is in one answer only, and no answer may be cached */
	hresp h = hreq_auth(&srv, "Bearer " TH_ADMIN_TOKEN, "POST", wpath(p, sizeof p, a, "/tokens"),
			    NULL, NULL);
	assert_int_equal(h.r.status, 201);
	assert_string_equal(h.cache_control, "no-store");
	hresp_free(&h);
	h = hreq(&srv, NULL, "GET", "/health", NULL);
	assert_string_equal(h.cache_control, "no-store");
	hresp_free(&h);
}

/* ---- 6. the audit actor --------------------------------------------------------------- */

static void test_audit_actor_is_the_token(void **state)
{
	(void)state;
	char root[40], w[40], tok[64], tid[40], p[256], want[64];
	mk("auth-actor-root", NULL, root);
	mk("auth-actor-w", root, w);
	mint(w, tok, tid);
	snprintf(want, sizeof want, "token:%s", tid);
	th_client *c = th_client_new_token(&srv, tok);
	const char *hdrs[] = {"X-Colony-Actor: admin", NULL};
	th_resp r = th_req(c, "POST", wpath(p, sizeof p, w, "/memory"), "{\"key\":\"who\",\"value\":1}",
			   hdrs);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);
	th_client_free(c);
	char q[512];
	snprintf(q, sizeof q, "/audit?action=memory.put&target=%s", p);
	json_t *b = th_get_ok(cl, q);
	json_t *recs = json_object_get(b, "records");
	assert_int_equal(json_array_size(recs), 1);
	assert_string_equal(th_jstr(json_array_get(recs, 0), "actor"), want);
	json_decref(b);
	/* The admin names itself with the header. */
	const char *named[] = {"X-Colony-Actor: ops-7", NULL};
	r = th_req(cl, "POST", p, "{\"key\":\"who\",\"value\":2}", named);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);
	b = th_get_ok(cl, q);
	recs = json_object_get(b, "records");
	assert_int_equal(json_array_size(recs), 2);
	assert_string_equal(th_jstr(json_array_get(recs, 1), "actor"), "admin:ops-7");
	json_decref(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_table_covers_every_route),
		cmocka_unit_test(test_every_route_gate),
		cmocka_unit_test(test_gate_before_body),
		cmocka_unit_test(test_removed_workspace_token_dies_at_once),
		cmocka_unit_test(test_no_token_refused_before_the_body),
		cmocka_unit_test(test_reach_follows_a_move),
		cmocka_unit_test(test_hierarchy_related),
		cmocka_unit_test(test_hierarchy_subtree_and_below),
		cmocka_unit_test(test_hierarchy_workspace_rules),
		cmocka_unit_test(test_admin_only_routes),
		cmocka_unit_test(test_tokens_lifecycle),
		cmocka_unit_test(test_revoke_race),
		cmocka_unit_test(test_revoke_race_writes_in_flight),
		cmocka_unit_test(test_removal_race_writes_in_flight),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_admin_token_file),
		cmocka_unit_test(test_admin_token_from_env),
		cmocka_unit_test(test_dev_mode),
		cmocka_unit_test(test_postgres_needs_named_keys),
		cmocka_unit_test(test_purge_url_and_no_store),
		cmocka_unit_test(test_audit_actor_is_the_token),
	};
	int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	if (hcurl)
		curl_easy_cleanup(hcurl);
	return rc;
}
