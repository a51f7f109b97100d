/*
 * test_http_audit.c — SPEC §7 audit log over HTTP against a real colonyd (--no-scheduler):
 *  - every mutation route (workspace create/patch/delete, memory put/delete, schedule
 *    create/patch/delete/run, inbox enqueue/claim/ack, org import, skill append, usage
 *    add, budget patch, token create/revoke) appends exactly one record: its action, the
 *    actor, target = the path, detail = {method, path, request_sha256 = SHA-256 of the
 *    body sent (of "" without one)};
 *  - the actor is the caller (http.h note 5): "admin:<X-Colony-Actor>" with the admin
 *    token ("admin" without the header or when it is not a sane token of 1..64 characters,
 *    and a 64-character name is kept whole); "token:<token id>" with a workspace token,
 *    whatever X-Colony-Actor says; with --dev the X-Colony-Actor value, or "anonymous";
 *  - a secret write is audited without a digest of its body (detail.request_sha256 null,
 *    detail.body says it is withheld), and the value appears nowhere in the log;
 *  - requests that fail (400, 404, 409, 415, 402) and every GET append nothing, a dry-run
 *    import neither; an idempotent repeat of an enqueue (200) is a success: recorded;
 *  - GET /audit: filters actor, action, target (prefix), since/until, paging with after
 *    and limit; bad parameters are 400; chain_valid true;
 *  - 16 clients (half of them on a second colonyd on the same database) writing at once:
 *    records == successful writes, seq contiguous, chain valid;
 *  - tampering with one row in the database (sqlite3 on the file, libpq on the URL): GET
 *    /audit says chain_valid false, GET /audit/verify names that seq and id, and
 *    `colonyd --verify-audit --db <db>` exits 1 naming it (0 before the edit; 2 for a
 *    database file that does not exist, which it does not create).
 * Every server this file starts is stopped with exit status 0.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

static const char *const no_sched_args[] = {"--no-scheduler", NULL};

static th_server srv;
static th_client *cl;

static int group_setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
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

/* ---- helpers ------------------------------------------------------------------------- */

static bool is_postgres(void)
{
	const char *b = getenv("COLONY_TEST_BACKEND");
	return b && !strcmp(b, "postgres");
}

/* hex SHA-256 of s (NULL: of ""). */
static void sha256_hex(const char *s, char out[65])
{
	unsigned char d[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(d, (const unsigned char *)(s ? s : ""), s ? strlen(s) : 0);
	sodium_bin2hex(out, 65, d, sizeof d);
}

/* The chain's length; it must verify. */
static long long head_at(int line)
{
	json_t *v = th_get_ok(cl, "/audit/verify");
	if (!json_is_true(json_object_get(v, "valid")))
		fail_msg("line %d: the chain is not valid: %s", line,
			 json_dumps(v, JSON_COMPACT));
	assert_true(json_is_null(json_object_get(v, "first_broken")));
	long long n = th_jint(v, "records");
	json_decref(v);
	return n;
}
#define head() head_at(__LINE__)

/* GET /audit?<query>: the body (json_decref it); asserts chain_valid. */
static json_t *audit_get(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *audit_get(const char *fmt, ...)
{
	char q[512], path[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(q, sizeof q, fmt, ap);
	va_end(ap);
	snprintf(path, sizeof path, "/audit%s%s", q[0] ? "?" : "", q);
	json_t *b = th_get_ok(cl, path);
	assert_true(json_is_array(json_object_get(b, "records")));
	assert_true(json_is_true(json_object_get(b, "chain_valid")));
	return b;
}

static json_t *records_of(json_t *body) { return json_object_get(body, "records"); }

/* Sends a mutation with client c, X-Colony-Actor: actor (NULL: no header); asserts its
 * status (`want`; 0: any 2xx). Returns the response. */
static th_resp send_as_c(th_client *c, const char *actor, const char *method, const char *path,
			 const char *body, long want)
{
	char h[160];
	snprintf(h, sizeof h, "X-Colony-Actor: %s", actor ? actor : "");
	const char *hdrs[] = {h, NULL};
	th_resp r = th_req(c, method, path, body, actor ? hdrs : NULL);
	if (r.status == 404 && want != 404 && r.json && th_str(&r, "code") &&
	    !strcmp(th_str(&r, "code"), "no_route"))
		fail_msg("%s %s is not served (404: %s): has its route landed?", method, path, r.body);
	if (want ? r.status != want : (r.status < 200 || r.status > 299))
		fail_msg("%s %s: status %ld, wanted %ld: %s", method, path, r.status, want, r.body);
	return r;
}

/* The same with the admin client. */
static th_resp send_as(const char *actor, const char *method, const char *path, const char *body,
		       long want)
{
	return send_as_c(cl, actor, method, path, body, want);
}

/* The actor the log names for the admin token with X-Colony-Actor: actor (NULL: none). */
static const char *admin_actor(const char *actor, char *out, size_t cap)
{
	if (actor)
		snprintf(out, cap, "admin:%s", actor);
	else
		snprintf(out, cap, "admin");
	return out;
}

/* The one record a mutation appended after seq `before`: its fields must match. */
static void expect_one_at(int line, long long before, const char *action, const char *actor,
			  const char *method, const char *path, const char *body)
{
	json_t *b = audit_get("after=%lld", before);
	json_t *recs = records_of(b);
	if (json_array_size(recs) != 1)
		fail_msg("line %d: %s %s appended %zu records, not 1", line, method, path,
			 json_array_size(recs));
	json_t *r = json_array_get(recs, 0);
	assert_int_equal(th_jint(r, "seq"), before + 1);
	th_assert_uuid7(th_jstr(r, "id"));
	th_jtime(r, "at");
	if (strcmp(th_jstr(r, "action"), action))
		fail_msg("line %d: action %s, wanted %s", line, th_jstr(r, "action"), action);
	if (!th_jstr(r, "actor") || strcmp(th_jstr(r, "actor"), actor)) {
		char got[160];
		snprintf(got, sizeof got, "%s", th_jstr(r, "actor") ? th_jstr(r, "actor") : "(none)");
		json_decref(b); /* no leak report on top of the failure */
		fail_msg("line %d: actor \"%s\", wanted \"%s\"", line, got, actor);
	}
	assert_string_equal(th_jstr(r, "target"), path);
	json_t *d = json_object_get(r, "detail");
	assert_true(json_is_object(d));
	assert_int_equal(json_object_size(d), 3);
	assert_string_equal(th_jstr(d, "method"), method);
	assert_string_equal(th_jstr(d, "path"), path);
	char want[65];
	sha256_hex(body, want);
	assert_string_equal(th_jstr(d, "request_sha256"), want);
	assert_int_equal(strlen(th_jstr(r, "hash")), 64);
	assert_int_equal(strlen(th_jstr(r, "prev_hash")), 64);
	if (before == 0)
		assert_string_equal(th_jstr(r, "prev_hash"), GENESIS);
	json_decref(b);
}
#define expect_one(...) expect_one_at(__LINE__, __VA_ARGS__)

/* A mutation that must append exactly one record with these fields. */
static th_resp mut_at(int line, const char *actor, const char *method, const char *path,
		      const char *body, long want, const char *action)
{
	long long h = head_at(line);
	th_resp r = send_as(actor, method, path, body, want);
	char who[160];
	expect_one_at(line, h, action, admin_actor(actor, who, sizeof who), method, path, body);
	assert_int_equal(head_at(line), h + 1);
	return r;
}
#define mut(...) mut_at(__LINE__, __VA_ARGS__)

/* A request that must append nothing. */
static void none_at(int line, const char *method, const char *path, const char *body, long want)
{
	long long h = head_at(line);
	th_resp r = send_as("nobody", method, path, body, want);
	th_resp_free(&r);
	if (head_at(line) != h)
		fail_msg("line %d: %s %s (%ld) appended a record", line, method, path, want);
}
#define none(...) none_at(__LINE__, __VA_ARGS__)

static void mk_ws(const char *name, char *id)
{
	th_create_ws(cl, name, NULL, id); /* "admin": appends a record, tests count after */
}

/* ---- 1. every mutation route --------------------------------------------------------- */

static void test_every_mutation_route(void **state)
{
	(void)state;
	char p[256], p2[256], ws[40], sid[40], mid[40];
	th_resp r = mut("alice", "POST", "/workspaces", "{\"name\":\"aud-every\"}", 201,
			"workspace.create");
	snprintf(ws, sizeof ws, "%s", th_str(&r, "id"));
	th_resp_free(&r);

	snprintf(p, sizeof p, "/workspaces/%s", ws);
	r = mut(NULL, "PATCH", p, "{\"role\":\"lead\"}", 200, "workspace.update");
	th_resp_free(&r);

	snprintf(p, sizeof p, "/workspaces/%s/memory", ws);
	r = mut("agent-1", "POST", p, "{\"key\":\"k\",\"value\":{\"a\":1}}", 200, "memory.put");
	th_resp_free(&r);
	snprintf(p, sizeof p, "/workspaces/%s/memory/k", ws);
	r = mut("agent-1", "DELETE", p, NULL, 200, "memory.delete");
	th_resp_free(&r);

	snprintf(p, sizeof p, "/workspaces/%s/schedules", ws);
	r = mut("bob@example.com", "POST", p,
		"{\"name\":\"s\",\"cron_expr\":\"0 * * * *\",\"prompt\":\"go\"}", 201,
		"schedule.create");
	snprintf(sid, sizeof sid, "%s", th_str(&r, "id"));
	th_resp_free(&r);
	snprintf(p, sizeof p, "/workspaces/%s/schedules/%s", ws, sid);
	r = mut("bob@example.com", "PATCH", p, "{\"prompt\":\"go on\"}", 200, "schedule.update");
	th_resp_free(&r);
	snprintf(p2, sizeof p2, "/workspaces/%s/schedules/%s/run", ws, sid);
	r = mut("ops:cron", "POST", p2, NULL, 0, "schedule.run");
	th_resp_free(&r);
	r = mut("bob@example.com", "DELETE", p, NULL, 0, "schedule.delete");
	th_resp_free(&r);

	snprintf(p, sizeof p, "/workspaces/%s/inbox", ws);
	r = mut("agent-2", "POST", p, "{\"body\":{\"task\":\"x\"},\"priority\":100}", 201,
		"inbox.enqueue");
	th_resp_free(&r);
	snprintf(p, sizeof p, "/workspaces/%s/inbox/claim", ws);
	r = mut("agent-2", "POST", p, "{\"max\":1}", 200, "inbox.claim");
	assert_int_equal(json_array_size(r.json), 1);
	snprintf(mid, sizeof mid, "%s", th_jstr(json_array_get(r.json, 0), "id"));
	th_resp_free(&r);
	snprintf(p, sizeof p, "/workspaces/%s/inbox/%s/ack", ws, mid);
	r = mut("agent-2", "POST", p, "{\"status\":\"completed\",\"result\":\"done\"}", 200,
		"inbox.ack");
	th_resp_free(&r);

	const char *tpl = "{\"name\":\"AudOrg\",\"workspaces\":[{\"name\":\"aud-org-top\","
			  "\"children\":[{\"name\":\"a\"}]}]}";
	none("POST", "/org/import?dry_run=true", tpl, 0); /* a dry run changes nothing */
	r = mut("admin", "POST", "/org/import", tpl, 201, "org.import");
	th_resp_free(&r);

	snprintf(p, sizeof p, "/workspaces/%s/skills/summarise/versions", ws);
	r = mut("agent-3", "POST", p, "{\"body\":{\"steps\":[1,2]}}", 201, "skill.append");
	th_resp_free(&r);
	snprintf(p, sizeof p, "/workspaces/%s/usage", ws);
	r = mut("agent-3", "POST", p, "{\"seconds\":2.5,\"input_tokens\":10}", 201, "usage.add");
	th_resp_free(&r);
	snprintf(p, sizeof p, "/workspaces/%s/budget", ws);
	r = mut("admin", "PATCH", p, "{\"limits\":{\"seconds\":1000}}", 200, "budget.update");
	th_resp_free(&r);

	snprintf(p, sizeof p, "/workspaces/%s", ws);
	r = mut("alice", "DELETE", p, NULL, 200, "workspace.delete");
	th_resp_free(&r);
}

/* ---- 2. failures, reads, repeats ----------------------------------------------------- */

static void test_failures_and_reads_append_nothing(void **state)
{
	(void)state;
	char ws[40], p[256];
	mk_ws("aud-fail", ws);
	snprintf(p, sizeof p, "/workspaces/%s/memory", ws);
	th_resp r = send_as(NULL, "POST", p, "{\"key\":\"k\",\"value\":1}", 200);
	th_resp_free(&r);
	const char *absent = "01890000-0000-7000-8000-000000000000";

	none("POST", "/workspaces", "{\"name\":\"aud-fail\"}", 409);           /* name taken */
	none("POST", "/workspaces", "{\"name\":\"\"}", 400);                   /* invalid */
	none("POST", "/workspaces", "{\"name\":", 400);                        /* bad JSON */
	none("PATCH", "/workspaces/not-an-id", "{\"role\":\"r\"}", 400);      /* bad id */
	snprintf(p, sizeof p, "/workspaces/%s", absent);
	none("PATCH", p, "{\"role\":\"r\"}", 404);
	none("DELETE", p, NULL, 404);
	snprintf(p, sizeof p, "/workspaces/%s/memory", ws);
	none("POST", p, "{\"key\":\"k\",\"value\":2,\"if_match_version\":9}", 409);
	snprintf(p, sizeof p, "/workspaces/%s/memory/nope", ws);
	none("DELETE", p, NULL, 404);
	snprintf(p, sizeof p, "/workspaces/%s/memory", absent);
	none("POST", p, "{\"key\":\"k\",\"value\":1}", 404);
	snprintf(p, sizeof p, "/workspaces/%s/schedules", ws);
	none("POST", p, "{\"name\":\"s\",\"cron_expr\":\"not cron\",\"prompt\":\"x\"}", 400);
	snprintf(p, sizeof p, "/workspaces/%s/schedules/%s", ws, absent);
	none("DELETE", p, NULL, 404);
	snprintf(p, sizeof p, "/workspaces/%s/inbox/%s/ack", ws, absent);
	none("POST", p, "{\"status\":\"completed\"}", 404);
	none("POST", "/org/import", "{\"name\":\"X\",\"workspaces\":[{\"name\":\"\"}]}", 400);
	snprintf(p, sizeof p, "/workspaces/%s/usage", ws);
	none("POST", p, "{\"seconds\":-1}", 400);

	/* Over budget: the enqueue is refused (402) and appends nothing. */
	snprintf(p, sizeof p, "/workspaces/%s/budget", ws);
	r = send_as(NULL, "PATCH", p, "{\"limits\":{\"seconds\":1}}", 200);
	th_resp_free(&r);
	snprintf(p, sizeof p, "/workspaces/%s/usage", ws);
	r = send_as(NULL, "POST", p, "{\"seconds\":5}", 201);
	th_resp_free(&r);
	snprintf(p, sizeof p, "/workspaces/%s/inbox", ws);
	none("POST", p, "{\"body\":1}", 402);

	/* 415: refused before the handler */
	long long h = head();
	const char *ct[] = {"Content-Type: text/plain", NULL};
	r = th_req(cl, "POST", "/workspaces", "{\"name\":\"x\"}", ct);
	assert_int_equal(r.status, 415);
	th_resp_free(&r);
	assert_int_equal(head(), h);

	/* GETs */
	const char *gets[] = {"/health", "/workspaces", "/audit", "/audit/verify", NULL};
	for (int i = 0; gets[i]; i++)
		none("GET", gets[i], NULL, 200);
	snprintf(p, sizeof p, "/workspaces/%s/memory/k", ws);
	none("GET", p, NULL, 200);
	snprintf(p, sizeof p, "/workspaces/%s/budget", ws);
	none("GET", p, NULL, 200);
}

/* A request that answers 2xx is recorded, even when it changed nothing. */
static void test_idempotent_repeat_is_recorded(void **state)
{
	(void)state;
	char ws[40], p[256];
	mk_ws("aud-idem", ws);
	snprintf(p, sizeof p, "/workspaces/%s/inbox", ws);
	const char *body = "{\"body\":1,\"idempotency_key\":\"once\"}";
	th_resp r = mut("agent", "POST", p, body, 201, "inbox.enqueue");
	th_resp_free(&r);
	r = mut("agent", "POST", p, body, 200, "inbox.enqueue");
	th_resp_free(&r);
}

static void test_actor_header(void **state)
{
	(void)state;
	char ws[40], p[256];
	mk_ws("aud-actor", ws);
	snprintf(p, sizeof p, "/workspaces/%s/memory", ws);
	th_resp r = mut("svc.agent_7-x", "POST", p, "{\"key\":\"a\",\"value\":1}", 200, "memory.put");
	th_resp_free(&r);
	r = mut(NULL, "POST", p, "{\"key\":\"a\",\"value\":2}", 200, "memory.put");
	th_resp_free(&r);
	/* Not a sane token (a space; 65 characters): the admin, unnamed. */
	long long h = head();
	r = send_as("bad actor", "POST", p, "{\"key\":\"a\",\"value\":3}", 200);
	th_resp_free(&r);
	expect_one(h, "memory.put", "admin", "POST", p, "{\"key\":\"a\",\"value\":3}");
	char longname[80], want[100];
	memset(longname, 'x', 65);
	longname[65] = 0;
	h = head();
	r = send_as(longname, "POST", p, "{\"key\":\"a\",\"value\":4}", 200);
	th_resp_free(&r);
	expect_one(h, "memory.put", "admin", "POST", p, "{\"key\":\"a\",\"value\":4}");
	/* 64 characters is a sane name: named whole, not cut to fit a buffer. */
	longname[63] = 'y';
	longname[64] = 0;
	h = head();
	r = send_as(longname, "POST", p, "{\"key\":\"a\",\"value\":5}", 200);
	th_resp_free(&r);
	expect_one(h, "memory.put", admin_actor(longname, want, sizeof want), "POST", p,
		   "{\"key\":\"a\",\"value\":5}");
}

/* A workspace token is audited as "token:<its id>": X-Colony-Actor cannot rename it. Its
 * refused writes (403, 401) append nothing. */
static void test_token_actor(void **state)
{
	(void)state;
	char ws[40], other[40], p[256], tid[40], tok[128], want[64];
	mk_ws("aud-tok", ws);
	mk_ws("aud-tok-other", other);
	snprintf(p, sizeof p, "/workspaces/%s/tokens", ws);
	th_resp r = mut("minter", "POST", p, NULL, 201, "token.create");
	assert_non_null(th_str(&r, "id"));
	assert_non_null(th_str(&r, "auth_token"));
	snprintf(tid, sizeof tid, "%s", th_str(&r, "id"));
	snprintf(tok, sizeof tok, "%s", th_str(&r, "auth_token"));
	th_resp_free(&r);
	/* The plaintext is in the answer only, never in the log. */
	json_t *all = audit_get("limit=1000&target=%s", p);
	char *dump = json_dumps(all, JSON_COMPACT);
	assert_null(strstr(dump, tok));
	free(dump);
	json_decref(all);

	th_client *tc = th_client_new_token(&srv, tok);
	snprintf(want, sizeof want, "token:%s", tid);
	snprintf(p, sizeof p, "/workspaces/%s/memory", ws);
	const char *bodies[] = {"{\"key\":\"t\",\"value\":1}", "{\"key\":\"t\",\"value\":2}",
				"{\"key\":\"t\",\"value\":3}"};
	const char *actors[] = {"mallory", "admin", NULL};
	for (int i = 0; i < 3; i++) {
		long long h = head();
		r = send_as_c(tc, actors[i], "POST", p, bodies[i], 200);
		th_resp_free(&r);
		expect_one(h, "memory.put", want, "POST", p, bodies[i]);
	}
	/* Filterable by that actor. */
	json_t *b = audit_get("actor=%s", want);
	assert_int_equal(json_array_size(records_of(b)), 3);
	json_decref(b);

	/* Refused: another root's workspace (403) appends nothing. */
	long long h = head();
	snprintf(p, sizeof p, "/workspaces/%s/memory", other);
	r = send_as_c(tc, "mallory", "POST", p, "{\"key\":\"t\",\"value\":1}", 403);
	th_resp_free(&r);
	assert_int_equal(head(), h);

	/* Revoked (by the admin: one record), the token's writes are 401 and append nothing. */
	snprintf(p, sizeof p, "/workspaces/%s/tokens/%s", ws, tid);
	r = mut(NULL, "DELETE", p, NULL, 204, "token.revoke");
	th_resp_free(&r);
	h = head();
	snprintf(p, sizeof p, "/workspaces/%s/memory", ws);
	r = send_as_c(tc, "mallory", "POST", p, "{\"key\":\"t\",\"value\":9}", 401);
	th_resp_free(&r);
	assert_int_equal(head(), h);
	th_client_free(tc);
}

/* Secret writes are audited, without a digest of the body (a hash of a short secret could
 * be guessed), and the value is nowhere in the log. */
static void test_secret_writes_withhold_body(void **state)
{
	(void)state;
	char ws[40];
	mk_ws("aud-secret", ws);
	const char *value = "s3cret-value-aud-42";
	char body[128];
	snprintf(body, sizeof body, "{\"name\":\"API_KEY\",\"value\":\"%s\"}", value);
	char wsp[256], wsdel[256];
	snprintf(wsp, sizeof wsp, "/workspaces/%s/secrets", ws);
	snprintf(wsdel, sizeof wsdel, "/workspaces/%s/secrets/API_KEY", ws);
	const struct {
		const char *path;
		const char *method;
		const char *body;
		const char *action;
		bool withheld;
	} steps[] = {
		{"/settings/secrets", "POST", body, "secret.put", true},
		{wsp, "POST", body, "secret.put", true},
		{wsdel, "DELETE", NULL, "secret.delete", false},
		{"/settings/secrets/API_KEY", "DELETE", NULL, "secret.delete", false},
	};
	for (int i = 0; i < 4; i++) {
		long long h = head();
		th_resp r = send_as("ops", steps[i].method, steps[i].path, steps[i].body, 0);
		th_resp_free(&r);
		if (!steps[i].withheld) {
			expect_one(h, steps[i].action, "admin:ops", steps[i].method, steps[i].path,
				   steps[i].body);
			continue;
		}
		json_t *b = audit_get("after=%lld", h);
		json_t *recs = records_of(b);
		assert_int_equal(json_array_size(recs), 1);
		json_t *rec = json_array_get(recs, 0);
		assert_string_equal(th_jstr(rec, "action"), steps[i].action);
		assert_string_equal(th_jstr(rec, "actor"), "admin:ops");
		assert_string_equal(th_jstr(rec, "target"), steps[i].path);
		json_t *d = json_object_get(rec, "detail");
		assert_string_equal(th_jstr(d, "method"), "POST");
		assert_string_equal(th_jstr(d, "path"), steps[i].path);
		assert_true(th_jnull(d, "request_sha256"));
		assert_non_null(th_jstr(d, "body"));
		json_decref(b);
	}
	char digest[65];
	sha256_hex(body, digest);
	json_t *all = audit_get("limit=1000");
	char *dump = json_dumps(all, JSON_COMPACT);
	assert_null(strstr(dump, value));
	assert_null(strstr(dump, digest));
	free(dump);
	json_decref(all);
}

/* With --dev (no auth) the actor is the X-Colony-Actor value, or "anonymous". */
static void test_dev_actor(void **state)
{
	(void)state;
	static const char *const dev_args[] = {"--no-scheduler", "--dev", NULL};
	th_server dev;
	th_server_start(&dev, dev_args);
	th_client *dc = th_client_new_token(&dev, NULL);
	th_resp r = th_req(dc, "POST", "/workspaces", "{\"name\":\"aud-dev\"}", NULL);
	assert_int_equal(r.status, 201);
	th_resp_free(&r);
	const char *named[] = {"X-Colony-Actor: dev-agent", NULL};
	r = th_req(dc, "POST", "/workspaces", "{\"name\":\"aud-dev-2\"}", named);
	assert_int_equal(r.status, 201);
	th_resp_free(&r);
	const char *bad[] = {"X-Colony-Actor: not sane", NULL};
	r = th_req(dc, "POST", "/workspaces", "{\"name\":\"aud-dev-3\"}", bad);
	assert_int_equal(r.status, 201);
	th_resp_free(&r);
	r = th_req(dc, "GET", "/audit", NULL, NULL);
	assert_int_equal(r.status, 200);
	json_t *recs = json_object_get(r.json, "records");
	assert_int_equal(json_array_size(recs), 3);
	assert_string_equal(th_jstr(json_array_get(recs, 0), "actor"), "anonymous");
	assert_string_equal(th_jstr(json_array_get(recs, 1), "actor"), "dev-agent");
	assert_string_equal(th_jstr(json_array_get(recs, 2), "actor"), "anonymous");
	th_resp_free(&r);
	th_client_free(dc);
	assert_int_equal(th_server_stop(&dev), 0);
}

/* ---- 3. GET /audit ------------------------------------------------------------------- */

static void test_list_filters_and_paging(void **state)
{
	(void)state;
	char ws[40], p[256], wsp[256];
	mk_ws("aud-list", ws);
	long long h0 = head();
	snprintf(wsp, sizeof wsp, "/workspaces/%s", ws);
	snprintf(p, sizeof p, "/workspaces/%s/memory", ws);
	/* 12 records: l-alice puts memory (even), l-bob patches the workspace (odd). */
	for (int i = 0; i < 12; i++) {
		th_resp r;
		if (i % 2 == 0) {
			char body[64];
			snprintf(body, sizeof body, "{\"key\":\"k%d\",\"value\":%d}", i, i);
			r = send_as("l-alice", "POST", p, body, 200);
		} else {
			r = send_as("l-bob", "PATCH", wsp, "{\"role\":\"r\"}", 200);
		}
		th_resp_free(&r);
		th_sleep_ms(2); /* distinct times */
	}
	assert_int_equal(head(), h0 + 12);

	json_t *b = audit_get("actor=admin:l-alice");
	json_t *recs = records_of(b);
	assert_int_equal(json_array_size(recs), 6);
	for (size_t i = 0; i < 6; i++) {
		json_t *r = json_array_get(recs, i);
		assert_int_equal(th_jint(r, "seq"), h0 + 1 + 2 * (long long)i);
		assert_string_equal(th_jstr(r, "action"), "memory.put");
	}
	json_decref(b);

	b = audit_get("action=workspace.update&after=%lld", h0);
	assert_int_equal(json_array_size(records_of(b)), 6);
	assert_string_equal(th_jstr(json_array_get(records_of(b), 0), "actor"), "admin:l-bob");
	json_decref(b);

	b = audit_get("target=%s", wsp); /* a prefix: the workspace and its memory */
	assert_int_equal(json_array_size(records_of(b)), 12);
	json_decref(b);
	b = audit_get("target=%s", p);
	assert_int_equal(json_array_size(records_of(b)), 6);
	json_decref(b);
	b = audit_get("actor=admin:l-alice&action=workspace.update");
	assert_int_equal(json_array_size(records_of(b)), 0);
	json_decref(b);

	/* since (inclusive) / until (exclusive), with the records' own times */
	b = audit_get("after=%lld", h0);
	recs = records_of(b);
	char since[40], until[40];
	snprintf(since, sizeof since, "%s", th_jstr(json_array_get(recs, 3), "at"));
	snprintf(until, sizeof until, "%s", th_jstr(json_array_get(recs, 8), "at"));
	json_decref(b);
	b = audit_get("since=%s&until=%s", since, until);
	recs = records_of(b);
	assert_int_equal(json_array_size(recs), 5); /* records 4..8 */
	assert_int_equal(th_jint(json_array_get(recs, 0), "seq"), h0 + 4);
	json_decref(b);
	b = audit_get("since=%s&until=%s&actor=admin:l-bob", since, until);
	assert_int_equal(json_array_size(records_of(b)), 3); /* 4, 6, 8 */
	json_decref(b);
	b = audit_get("since=2999-01-01T00:00:00Z");
	assert_int_equal(json_array_size(records_of(b)), 0);
	json_decref(b);
	b = audit_get("since=2020-01-01T00:00:00%%2B02:00&after=%lld&limit=1", h0); /* +02:00 */
	assert_int_equal(json_array_size(records_of(b)), 1);
	json_decref(b);

	/* paging: after + limit */
	long long after = h0, seen = 0;
	for (;;) {
		b = audit_get("after=%lld&limit=5&target=%s", after, wsp);
		recs = records_of(b);
		size_t n = json_array_size(recs);
		for (size_t i = 0; i < n; i++) {
			long long seq = th_jint(json_array_get(recs, i), "seq");
			assert_true(seq > after);
			after = seq;
			seen++;
		}
		json_decref(b);
		if (n < 5)
			break;
	}
	assert_int_equal(seen, 12);
	assert_int_equal(after, h0 + 12);

	/* chain links as listed */
	b = audit_get("after=%lld", h0);
	recs = records_of(b);
	for (size_t i = 1; i < json_array_size(recs); i++)
		assert_string_equal(th_jstr(json_array_get(recs, i), "prev_hash"),
				    th_jstr(json_array_get(recs, i - 1), "hash"));
	json_decref(b);

	/* bad parameters */
	const char *bad[] = {"/audit?since=yesterday", "/audit?until=2026-13-01T00:00:00Z",
			     "/audit?after=-1", "/audit?after=x", "/audit?limit=0",
			     "/audit?limit=1001", "/audit?actor=", "/audit?target=%FF",
			     "/audit?actor=a%0Ab", "/audit?action=%C3", NULL};
	for (int i = 0; bad[i]; i++)
		th_expect_error(th_req(cl, "GET", bad[i], NULL, NULL), 400, NULL);
}

/* ---- 4. concurrency ------------------------------------------------------------------ */

#define NCLIENTS 16
#define PER_CLIENT 25

struct race {
	th_server *servers[2];
	char ws[40];
	atomic_int ok;
	atomic_int failed;
};

static void race_client(int i, void *arg)
{
	struct race *rc = arg;
	th_client *c = th_client_new(rc->servers[i % 2]);
	char p[256], h[64];
	snprintf(p, sizeof p, "/workspaces/%s/memory", rc->ws);
	snprintf(h, sizeof h, "X-Colony-Actor: racer-%d", i);
	const char *hdrs[] = {h, NULL};
	for (int j = 0; j < PER_CLIENT; j++) {
		char body[96];
		if (j % 5 == 4) /* fails: 409 */
			snprintf(body, sizeof body, "{\"key\":\"c%d\",\"value\":1,\"if_match_version\":99999}", i);
		else
			snprintf(body, sizeof body, "{\"key\":\"c%d-%d\",\"value\":%d}", i, j % 3, j);
		th_resp r = th_req(c, "POST", p, body, hdrs);
		if (r.status == 200)
			atomic_fetch_add(&rc->ok, 1);
		else if (r.status == 409)
			atomic_fetch_add(&rc->failed, 1);
		th_resp_free(&r);
	}
	th_client_free(c);
}

static void test_concurrent_clients(void **state)
{
	(void)state;
	static struct race rc;
	th_server replica;
	th_server_start_replica_args(&replica, &srv, no_sched_args);
	rc.servers[0] = &srv;
	rc.servers[1] = &replica;
	mk_ws("aud-race", rc.ws);
	long long h0 = head();
	th_race(NCLIENTS, race_client, &rc);
	assert_int_equal(atomic_load(&rc.ok) + atomic_load(&rc.failed), NCLIENTS * PER_CLIENT);
	assert_int_equal(atomic_load(&rc.failed), NCLIENTS * PER_CLIENT / 5);
	assert_int_equal(head(), h0 + atomic_load(&rc.ok));
	long long seq = h0, n = 0;
	for (;;) {
		json_t *b = audit_get("after=%lld&limit=1000", seq);
		json_t *recs = records_of(b);
		size_t k = json_array_size(recs);
		for (size_t i = 0; i < k; i++) {
			assert_int_equal(th_jint(json_array_get(recs, i), "seq"), seq + 1);
			seq++;
			n++;
		}
		json_decref(b);
		if (k < 1000)
			break;
	}
	assert_int_equal(n, atomic_load(&rc.ok));
	assert_int_equal(th_server_stop(&replica), 0);
}

/* ---- 5. tampering (last: it leaves the chain broken) --------------------------------- */

/* Runs `colonyd --verify-audit --db <db>`; returns its exit status, its output in out. */
static int run_verify_db(const char *db, char *out, size_t cap)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "'%s' --verify-audit --db '%s' 2>&1", COLONYD_PATH, db);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	size_t n = fread(out, 1, cap - 1, f);
	out[n] = 0;
	int st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run_verify(char *out, size_t cap)
{
	return run_verify_db(srv.db, out, cap);
}

static void db_exec(const char *sql)
{
	if (is_postgres()) {
		PGconn *c = PQconnectdb(srv.db);
		assert_int_equal(PQstatus(c), CONNECTION_OK);
		PGresult *r = PQexec(c, sql);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			fail_msg("%s: %s", sql, PQresultErrorMessage(r));
		PQclear(r);
		PQfinish(c);
	} else {
		char cmd[1024];
		snprintf(cmd, sizeof cmd, "sqlite3 -cmd '.timeout 10000' '%s' \"%s\"", srv.db, sql);
		if (system(cmd) != 0)
			fail_msg("%s failed", cmd);
		th_sleep_ms(10); /* colonyd's readers see another process's commit within 2 ms */
	}
}

static void test_tampering_detected(void **state)
{
	(void)state;
	char ws[40], p[256];
	mk_ws("aud-tamper", ws);
	snprintf(p, sizeof p, "/workspaces/%s/memory", ws);
	for (int i = 0; i < 5; i++) {
		th_resp r = send_as("t", "POST", p, "{\"key\":\"k\",\"value\":1}", 200);
		th_resp_free(&r);
	}
	long long n = head();
	char out[1024], want[128];
	/* A missing file is not an empty, valid chain: 2, and no file made. */
	char missing[400];
	snprintf(missing, sizeof missing, "%s/no-such.db", srv.dir);
	assert_int_equal(run_verify_db(missing, out, sizeof out), 2);
	assert_int_not_equal(access(missing, F_OK), 0);
	assert_int_equal(run_verify(out, sizeof out), 0);
	snprintf(want, sizeof want, "audit chain valid: %lld records", n);
	if (!strstr(out, want))
		fail_msg("colonyd --verify-audit said '%s', wanted '%s'", out, want);

	long long k = n - 3;
	json_t *b = audit_get("after=%lld&limit=1", k - 1);
	char id[40];
	snprintf(id, sizeof id, "%s", th_jstr(json_array_get(records_of(b), 0), "id"));
	json_decref(b);
	char sql[128];
	snprintf(sql, sizeof sql, "UPDATE audit_log SET actor = 'mallory' WHERE seq = %lld", k);
	db_exec(sql);

	b = th_get_ok(cl, "/audit?limit=1");
	assert_true(json_is_false(json_object_get(b, "chain_valid")));
	json_decref(b);
	b = th_get_ok(cl, "/audit/verify");
	assert_true(json_is_false(json_object_get(b, "valid")));
	json_t *fb = json_object_get(b, "first_broken");
	assert_true(json_is_object(fb));
	assert_int_equal(th_jint(fb, "seq"), k);
	assert_string_equal(th_jstr(fb, "id"), id);
	assert_true(strlen(th_jstr(fb, "reason")) > 0);
	json_decref(b);
	/* The edited row shows as edited. */
	b = th_get_ok(cl, "/audit?actor=mallory");
	assert_int_equal(json_array_size(records_of(b)), 1);
	json_decref(b);

	assert_int_equal(run_verify(out, sizeof out), 1);
	snprintf(want, sizeof want, "audit chain broken at seq %lld (id %s)", k, id);
	if (!strstr(out, want))
		fail_msg("colonyd --verify-audit said '%s', wanted '%s'", out, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_mutation_route),
		cmocka_unit_test(test_failures_and_reads_append_nothing),
		cmocka_unit_test(test_idempotent_repeat_is_recorded),
		cmocka_unit_test(test_actor_header),
		cmocka_unit_test(test_token_actor),
		cmocka_unit_test(test_secret_writes_withhold_body),
		cmocka_unit_test(test_dev_actor),
		cmocka_unit_test(test_list_filters_and_paging),
		cmocka_unit_test(test_concurrent_clients),
		cmocka_unit_test(test_tampering_detected),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
