/*
 * fuzz_body.c — libFuzzer harness: the JSON (and YAML) request bodies of every route that
 * takes one, sent to the real server running in this process (fuzz_kit.h).
 *
 * Input: byte 0 picks the route (low 4 bits, table below) and how it is called (high
 * bits); the rest of the input is the body, sent as is with Content-Length.
 *   0x10  the caller is the fixture workspace W's token (FZ_WS_TOKEN), else the admin;
 *   0x20  :id is the child C (below W) instead of W; /org/import: graft with
 *         ?parent_id=R;
 *   0x40  a variant: /org/import ?dry_run=true, memory If-None-Match: *, workspaces
 *         and schedules X-Colony-Actor;
 *   0x80  no Content-Type header (the server then takes the body as JSON).
 * Oracle: fz_check (fuzz_kit.h note 5), ASan/UBSan in the server's threads, and a round
 * trip for what was written: after a 2xx, the answer (and a GET of what was written)
 * carries exactly the values the body sent — a workspace's fields, a memory value, a
 * schedule's fields, a message body, a skill version's body, a workspace secret's value.
 * There is one client and a write answers after its commit, so the read sees the write.
 */
#include "fuzz_kit.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	const char *method;
	const char *target; /* %I: W or C (flag 0x20); %W: W; %S schedule; %M message */
	const char *content_type;
} body_route;

static const body_route routes[16] = {
	{"POST", "/workspaces", "application/json"},
	{"PATCH", "/workspaces/%I", "application/json"},
	{"POST", "/workspaces/%I/memory", "application/json"},
	{"POST", "/workspaces/%I/schedules", "application/json"},
	{"PATCH", "/workspaces/%W/schedules/%S", "application/json"},
	{"POST", "/workspaces/%I/inbox", "application/json"},
	{"POST", "/workspaces/%I/inbox/claim", "application/json"},
	{"POST", "/workspaces/%W/inbox/%M/ack", "application/json"},
	{"POST", "/org/import", "application/json"},
	{"POST", "/org/import", "application/yaml"},
	{"POST", "/workspaces/%I/skills/fuzz-skill/versions", "application/json"},
	{"POST", "/workspaces/%I/usage", "application/json"},
	{"PATCH", "/workspaces/%I/budget", "application/json"},
	{"POST", "/workspaces/%I/tokens", "application/json"},
	{"POST", "/settings/secrets", "application/json"},
	{"POST", "/workspaces/%I/secrets", "application/json"},
};

/* Route numbers with a round trip (check_written). */
enum { R_WS_CREATE = 0, R_WS_PATCH = 1, R_MEM = 2, R_SCHED = 3, R_SCHED_PATCH = 4, R_INBOX = 5,
       R_SKILL = 10, R_SECRET = 15 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Expands the route's target with the fixture ids. */
static void expand(const char *tmpl, bool child, char *out, size_t cap)
{
	size_t n = 0;
	for (const char *p = tmpl; *p && n + 64 < cap; p++) {
		const char *v = NULL;
		if (*p == '%' && p[1]) {
			switch (*++p) {
			case 'I': v = child ? fz_fx.child : fz_fx.ws; break;
			case 'W': v = fz_fx.ws; break;
			case 'S': v = fz_fx.sched; break;
			case 'M': v = fz_fx.msg; break;
			default: v = "";
			}
			n += (size_t)snprintf(out + n, cap - n, "%s", v);
		} else {
			out[n++] = *p;
		}
	}
	out[n] = 0;
}

static const fz_req *cur_q;
static const fz_resp *cur_r;

/* Do sent[field] and got[field] agree? An absent sent field agrees with anything; a sent
 * null agrees with null or absent, or with anything where null means "not given" (the
 * schedule API: DESIGN.md, schedules). */
static bool agrees(json_t *sent, json_t *got, const char *field, bool null_is_absent)
{
	json_t *a = json_object_get(sent, field), *b = json_object_get(got, field);
	if (!a || (null_is_absent && json_is_null(a)))
		return true;
	if (json_is_null(a))
		return !b || json_is_null(b);
	return b && json_equal(a, b);
}

static void must_agree(json_t *sent, json_t *got, const char *const *fields, const char *where)
{
	bool null_is_absent = strstr(where, "schedule") != NULL;
	for (const char *const *f = fields; *f; f++)
		if (!agrees(sent, got, *f, null_is_absent)) {
			char *a = json_dumps(json_object_get(sent, *f), JSON_ENCODE_ANY);
			char *b = json_dumps(json_object_get(got, *f), JSON_ENCODE_ANY);
			fz_fail(cur_q, cur_r, "round trip: %s has %s = %s, the body sent %s", where, *f,
				b ? b : "(absent)", a ? a : "?");
		}
}

/* GET target as the admin; it must answer 200 with a JSON object. */
static json_t *get_ok(const char *target)
{
	int status;
	json_t *j = fz_get(target, &status);
	if (status != 200 || !json_is_object(j))
		fz_fail(cur_q, cur_r, "round trip: GET %s answered %d after the write", target, status);
	return j;
}

/* The round trip (file comment) of a 2xx answer `ans` (status) to body `sent` on route
 * `route`; id is the route's :id. */
static void check_written(int route, int status, const char *id, json_t *sent, json_t *ans)
{
	static const char *const ws_fields[] = {"name", "role", "runtime", "tier", "url",
						"max_concurrent_tasks", "status", "parent_id", NULL};
	static const char *const sched_fields[] = {"name", "cron_expr", "timezone", "prompt",
						   "enabled", NULL};
	char t[1024], esc[800];
	json_t *got = NULL;
	const char *s;
	switch (route) {
	case R_WS_CREATE:
	case R_WS_PATCH:
		must_agree(sent, ans, ws_fields, "the answer");
		if ((s = json_string_value(json_object_get(ans, "id")))) {
			snprintf(t, sizeof t, "/workspaces/%s", s);
			must_agree(sent, got = get_ok(t), ws_fields, "GET /workspaces/:id");
		}
		break;
	case R_MEM: {
		static const char *const mem_fields[] = {"key", "value", NULL};
		s = json_string_value(json_object_get(sent, "key"));
		json_t *ttl = json_object_get(sent, "ttl_seconds");
		if (!s || (json_is_integer(ttl) && json_integer_value(ttl) < 600))
			break; /* a short TTL may end before the GET on a loaded machine */
		fz_escape(s, esc, sizeof esc);
		snprintf(t, sizeof t, "/workspaces/%s/memory/%s", id, esc);
		got = get_ok(t);
		must_agree(sent, got, mem_fields, "GET …/memory/:key");
		if (!json_equal(json_object_get(got, "version"), json_object_get(ans, "version")))
			fz_fail(cur_q, cur_r, "round trip: GET …/memory/:key has another version");
		break;
	}
	case R_SCHED:
	case R_SCHED_PATCH:
		must_agree(sent, ans, sched_fields, "the schedule answered");
		if ((s = json_string_value(json_object_get(ans, "id")))) {
			snprintf(t, sizeof t, "/workspaces/%s/schedules/%s", id, s);
			must_agree(sent, got = get_ok(t), sched_fields, "GET …/schedules/:sid");
		}
		break;
	case R_INBOX: {
		static const char *const msg_fields[] = {"body", "priority", "max_attempts", NULL};
		if (status != 201 || !(s = json_string_value(json_object_get(ans, "id"))))
			break; /* 200: a repeated idempotency key answers the first message */
		must_agree(sent, ans, msg_fields, "the answer");
		snprintf(t, sizeof t, "/workspaces/%s/inbox/%s", id, s);
		must_agree(sent, got = get_ok(t), msg_fields, "GET …/inbox/:mid");
		break;
	}
	case R_SKILL: {
		static const char *const skill_fields[] = {"body", NULL};
		must_agree(sent, ans, skill_fields, "the answer");
		json_t *seq = json_object_get(ans, "seq");
		if (!json_is_integer(seq))
			fz_fail(cur_q, cur_r, "round trip: a skill version without an integer seq");
		snprintf(t, sizeof t, "/workspaces/%s/skills/" FZ_SKILL "/versions/%lld", id,
			 (long long)json_integer_value(seq));
		must_agree(sent, got = get_ok(t), skill_fields, "GET …/versions/:seq");
		break;
	}
	case R_SECRET: {
		static const char *const secret_fields[] = {"value", NULL};
		s = json_string_value(json_object_get(sent, "name"));
		if (!s)
			s = json_string_value(json_object_get(sent, "key"));
		if (!s)
			break;
		fz_escape(s, esc, sizeof esc);
		snprintf(t, sizeof t, "/workspaces/%s/secrets/%s", id, esc);
		must_agree(sent, got = get_ok(t), secret_fields, "GET …/secrets/:name");
		break;
	}
	default:
		break;
	}
	json_decref(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	fz_tick_input();
	unsigned sel = data[0];
	const body_route *rt = &routes[sel & 15];
	bool as_token = sel & 0x10, child = sel & 0x20, variant = sel & 0x40, no_ct = sel & 0x80;
	bool import = !strcmp(rt->target, "/org/import");

	char target[512];
	expand(rt->target, child && !import, target, sizeof target);
	if (import) {
		const char *sep = "?";
		size_t n = strlen(target);
		if (variant) {
			n += (size_t)snprintf(target + n, sizeof target - n, "%sdry_run=true", sep);
			sep = "&";
		}
		if (child)
			snprintf(target + n, sizeof target - n, "%sparent_id=%s", sep, fz_fx.root);
	}

	const char *hdr[4];
	int nh = 0;
	char ct[64];
	if (!no_ct) {
		snprintf(ct, sizeof ct, "Content-Type: %s", rt->content_type);
		hdr[nh++] = ct;
	}
	if (variant && strstr(target, "/memory"))
		hdr[nh++] = "If-None-Match: *";
	else if (variant && !import)
		hdr[nh++] = "X-Colony-Actor: fuzz@body";
	fz_req q = {.method = rt->method, .target = target, .headers = hdr,
		    .body = (const char *)data + 1, .body_len = size - 1,
		    .who = as_token ? FZ_WS_TOKEN : FZ_ADMIN};
	hdr[nh] = NULL;

	fz_resp r;
	fz_send(&q, &r);
	fz_check(&q, &r);
	if (r.status >= 200 && r.status < 300 && r.status != 204) {
		json_t *sent = json_loadb(q.body, q.body_len, 0, NULL);
		json_t *ans = json_loadb(r.body, r.body_len, 0, NULL);
		/* The route's :id: the segment after "/workspaces/", if the target has one. */
		char id[64] = "";
		static const char ws_prefix[] = "/workspaces/";
		if (!strncmp(target, ws_prefix, sizeof ws_prefix - 1)) {
			const char *p = target + sizeof ws_prefix - 1;
			snprintf(id, sizeof id, "%.*s", (int)strcspn(p, "/?"), p);
		}
		cur_q = &q;
		cur_r = &r;
		if (json_is_object(sent) && json_is_object(ans))
			check_written(sel & 15, r.status, id, sent, ans);
		json_decref(sent);
		json_decref(ans);
	}
	bool used_up = r.status >= 200 && r.status < 300 &&
		       (!strcmp(rt->method, "PATCH") || strstr(target, "/ack") || import);
	fz_resp_free(&r);
	fz_fixtures_check(used_up);
	return 0;
}
