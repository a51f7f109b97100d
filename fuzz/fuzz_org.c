/*
 * fuzz_org.c — libFuzzer harness: org templates as POST /org/import reads them (JSON or
 * YAML text → tree → co_org_parse → plan), and what the import does with a plan short
 * of storage (the schedule rules, the answer).
 *
 * Input: byte 0, bit 0 picks YAML (1) or JSON (0); the rest is the body. The text takes
 * the handler's path (src/api/org.c): YAML through co_yaml_to_json with the import's
 * limits; JSON through the value bound, the depth check and json_loadb with duplicate
 * keys refused.
 *
 * Oracle (besides ASan/UBSan and LeakSanitizer in the replay build):
 *  - a YAML refusal is CO_EINVAL with "YAML line L column C: …" (or CO_ENOMEM);
 *  - a YAML tree survives JSON: written as JSON text and read back the way the handler
 *    reads a JSON body (value bound, depth limit, no duplicate keys) it is accepted and
 *    json_equal to itself, so the two encodings have the same limits;
 *  - JSON text that jansson accepts and libyaml also accepts gives the same tree both
 *    ways (JSON is YAML 1.2; the core schema must type its scalars alike);
 *  - co_org_parse refuses with CO_EINVAL, one of the three codes, and an empty plan; or
 *    gives a plan whose nodes are in pre-order (parents first, depth = parent's + 1,
 *    at most 32 levels and 10,000 nodes), whose paths extend their parent's path, whose
 *    totals add up, whose schedules are template-owned with next_run_at = the first slot
 *    after `now` (0 when disabled), and whose memory values are JSON;
 *  - the same tree parsed again gives the same plan (field by field);
 *  - the schedule rule: a schedule merged with itself is UNCHANGED, a runtime one is
 *    KEPT_RUNTIME, merged with another of its node UPDATED exactly when a timing or
 *    prompt field differs, taking that one's fields and the next_run_at of schedule.h
 *    note 2 (a pending slot is kept unless the timing changed or it was disabled);
 *    co_org_sched_first_next an hour later is after that hour;
 *  - the answer (co_org_result_to_json), for an import and a dry run, is JSON naming
 *    every node.
 */
#include "../src/core/buf.h"
#include "../src/core/err.h"
#include "../src/core/id.h"
#include "../src/core/org.h"
#include "../src/core/schedule.h"
#include "../src/core/validate.h"
#include "../src/core/yaml.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW (1767600000LL * 1000000) /* 2026-01-05T08:00:00Z */
#define HOUR (3600LL * 1000000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *cur_data;
static size_t cur_size;

static __attribute__((noreturn, format(printf, 1, 2))) void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "\n==== FUZZ ORACLE (org): ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nlast error message: %s\ninput (%zu bytes): \"", co_err_msg(), cur_size);
	for (size_t i = 0; i < cur_size && i < 2048; i++) {
		unsigned char c = cur_data[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			fputc(c, stderr);
		else
			fprintf(stderr, "\\x%02x", c);
	}
	fprintf(stderr, "\"\n");
	abort();
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Field by field: two plans of the same tree must be the same plan. */
static void same_plan(const co_org_plan *a, const co_org_plan *b)
{
	if (a->n != b->n || !str_eq(a->org, b->org) || a->has_parent != b->has_parent ||
	    (a->has_parent && strcmp(a->parent_id.s, b->parent_id.s)) ||
	    a->nschedules != b->nschedules || a->nmemories != b->nmemories ||
	    a->max_depth != b->max_depth)
		fail("two parses of one tree differ in their totals");
	for (size_t i = 0; i < a->n; i++) {
		const co_org_node *x = &a->nodes[i], *y = &b->nodes[i];
		if (x->parent != y->parent || x->depth != y->depth || !str_eq(x->path, y->path) ||
		    !str_eq(x->ws.name, y->ws.name) || !str_eq(x->ws.role, y->ws.role) ||
		    !str_eq(x->ws.runtime, y->ws.runtime) || !str_eq(x->ws.url, y->ws.url) ||
		    x->ws.has_tier != y->ws.has_tier || x->ws.tier != y->ws.tier ||
		    x->ws.has_max_tasks != y->ws.has_max_tasks ||
		    x->ws.max_concurrent_tasks != y->ws.max_concurrent_tasks ||
		    x->nschedules != y->nschedules || x->nmemories != y->nmemories)
			fail("two parses of one tree differ at node %zu", i);
		for (size_t j = 0; j < x->nschedules; j++) {
			const co_schedule *s = &x->schedules[j], *t = &y->schedules[j];
			if (!str_eq(s->name, t->name) || !str_eq(s->cron_expr, t->cron_expr) ||
			    !str_eq(s->timezone, t->timezone) || !str_eq(s->prompt, t->prompt) ||
			    s->enabled != t->enabled || s->next_run_at != t->next_run_at)
				fail("two parses of one tree differ at node %zu schedule %zu", i, j);
		}
		for (size_t j = 0; j < x->nmemories; j++) {
			const co_org_memory *m = &x->memories[j], *n = &y->memories[j];
			if (!str_eq(m->key, n->key) || !str_eq(m->value_json, n->value_json) ||
			    m->ttl_seconds != n->ttl_seconds)
				fail("two parses of one tree differ at node %zu memory %zu", i, j);
		}
	}
}

static void check_plan(const co_org_plan *p)
{
	if (!p->org || co_validate_name("name", p->org))
		fail("a plan without a valid org name");
	if (p->n > CO_ORG_MAX_NODES)
		fail("a plan of %zu nodes", p->n);
	size_t ns = 0, nm = 0;
	int maxd = 0;
	for (size_t i = 0; i < p->n; i++) {
		const co_org_node *n = &p->nodes[i];
		if (n->parent >= (int)i || n->parent < -1)
			fail("node %zu: parent %d is not before it", i, n->parent);
		int want_depth = n->parent < 0 ? 1 : p->nodes[n->parent].depth + 1;
		if (n->depth != want_depth || n->depth > CO_ORG_MAX_DEPTH)
			fail("node %zu: depth %d, want %d", i, n->depth, want_depth);
		if (n->depth > maxd)
			maxd = n->depth;
		const char *pp = n->parent < 0 ? p->org : p->nodes[n->parent].path;
		size_t pl = strlen(pp);
		if (!n->path || strncmp(n->path, pp, pl) || n->path[pl] != '/' || !n->path[pl + 1])
			fail("node %zu: path \"%s\" does not extend \"%s\"", i, n->path ? n->path : "(null)",
			     pp);
		if (!n->ws.name || co_validate_name("name", n->ws.name) || n->ws.has_parent ||
		    n->ws.status != CO_WS_PROVISIONING)
			fail("node %zu: its workspace is not a valid new one", i);
		for (size_t j = 0; j < n->nschedules; j++) {
			const co_schedule *s = &n->schedules[j];
			if (s->source != CO_SCHED_TEMPLATE || !s->name || !s->cron_expr ||
			    !s->timezone || !s->prompt)
				fail("node %zu schedule %zu: incomplete", i, j);
			co_usec_t next = 0;
			if (s->enabled) {
				int rc = co_sched_next(s, p->now, &next);
				if (rc != CO_OK || next != s->next_run_at || next <= p->now)
					fail("node %zu schedule %zu: next_run_at %lld, want %lld (rc %d)", i,
					     j, (long long)s->next_run_at, (long long)next, rc);
			} else if (s->next_run_at != 0) {
				fail("node %zu schedule %zu: disabled with a next_run_at", i, j);
			}
		}
		for (size_t j = 0; j < n->nmemories; j++) {
			const co_org_memory *m = &n->memories[j];
			json_t *v = m->value_json ? json_loads(m->value_json, JSON_DECODE_ANY, NULL) : NULL;
			if (!m->key || !v || m->ttl_seconds < 0)
				fail("node %zu memory %zu: key or value is not valid", i, j);
			json_decref(v);
		}
		for (size_t k = i + 1; k < p->n; k++) /* siblings' names are unique */
			if (p->nodes[k].parent == n->parent && !strcmp(p->nodes[k].ws.name, n->ws.name))
				fail("nodes %zu and %zu: siblings with one name", i, k);
		ns += n->nschedules;
		nm += n->nmemories;
	}
	if (ns != p->nschedules || nm != p->nmemories || maxd != p->max_depth)
		fail("totals: %zu schedules (plan %zu), %zu memories (plan %zu), depth %d (plan %d)",
		     ns, p->nschedules, nm, p->nmemories, maxd, p->max_depth);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void copy_schedule(co_schedule *dst, const co_schedule *src)
{
	*dst = *src;
	dst->name = dup_or_null(src->name);
	dst->cron_expr = dup_or_null(src->cron_expr);
	dst->timezone = dup_or_null(src->timezone);
	dst->prompt = dup_or_null(src->prompt);
	dst->last_status = dup_or_null(src->last_status);
	dst->last_error = dup_or_null(src->last_error);
}

/* The store's use of the schedule rules (org.h), on the plan's own schedules. */
static void check_rules(const co_org_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		const co_org_node *n = &p->nodes[i];
		for (size_t j = 0; j < n->nschedules; j++) {
			const co_schedule *t = &n->schedules[j];
			co_schedule cur;
			co_org_sched_action a;
			copy_schedule(&cur, t);
			if (co_org_sched_merge(&cur, t, NOW + HOUR, &a) || a != CO_ORG_SCHED_UNCHANGED ||
			    cur.next_run_at != t->next_run_at)
				fail("node %zu schedule %zu merged with itself is not unchanged", i, j);
			co_schedule_clear(&cur);
			copy_schedule(&cur, t);
			cur.source = CO_SCHED_RUNTIME;
			if (co_org_sched_merge(&cur, t, NOW + HOUR, &a) || a != CO_ORG_SCHED_KEPT_RUNTIME)
				fail("node %zu schedule %zu: a runtime row is not kept", i, j);
			co_schedule_clear(&cur);
			if (j + 1 < n->nschedules) {
				const co_schedule *o = &n->schedules[j + 1];
				bool differs = strcmp(t->cron_expr, o->cron_expr) ||
					       strcmp(t->timezone, o->timezone) ||
					       strcmp(t->prompt, o->prompt) || t->enabled != o->enabled;
				copy_schedule(&cur, t);
				int rc = co_org_sched_merge(&cur, o, NOW + HOUR, &a);
				if (rc || a != (differs ? CO_ORG_SCHED_UPDATED : CO_ORG_SCHED_UNCHANGED))
					fail("node %zu schedules %zu/%zu: merge rc %d action %d", i, j, j + 1,
					     rc, (int)a);
				/* next_run_at (schedule.h note 2): 0 when disabled; recomputed from
				 * now when the timing changed or it was disabled; else the pending
				 * slot is kept, even one already due. */
				co_usec_t want = 0;
				bool timing = strcmp(t->cron_expr, o->cron_expr) ||
					      strcmp(t->timezone, o->timezone);
				if (o->enabled && (timing || !t->enabled || !t->next_run_at)) {
					if (co_sched_next(o, NOW + HOUR, &want) != CO_OK)
						fail("node %zu schedule %zu: no next slot", i, j + 1);
				} else if (o->enabled) {
					want = t->next_run_at;
				}
				if (differs && (strcmp(cur.cron_expr, o->cron_expr) ||
						strcmp(cur.timezone, o->timezone) ||
						strcmp(cur.prompt, o->prompt) || cur.enabled != o->enabled ||
						cur.next_run_at != want))
					fail("node %zu schedules %zu/%zu: the merged row is not the template's "
					     "(next_run_at %lld, want %lld)",
					     i, j, j + 1, (long long)cur.next_run_at, (long long)want);
				co_schedule_clear(&cur);
			}
			co_usec_t next;
			int rc = co_org_sched_first_next(t, NOW + HOUR, &next);
			if (rc || (t->enabled ? next <= NOW + HOUR : next != 0))
				fail("node %zu schedule %zu: first_next %lld (rc %d)", i, j,
				     (long long)next, rc);
		}
	}
}

/* The answer for an import and a dry run, with made-up ids. */
static void check_answer(const co_org_plan *p)
{
	co_org_result r = {0};
	if (co_org_result_reset(&r, p->n))
		fail("co_org_result_reset");
	for (size_t i = 0; i < p->n; i++) {
		co_id_new(&r.nodes[i].id);
		r.nodes[i].created = i % 3 != 1;
		if (r.nodes[i].created)
			r.ws_created++;
		else
			r.ws_reused++;
	}
	r.sched_created = (int64_t)p->nschedules;
	r.mem_created = (int64_t)p->nmemories;
	for (int dry = 0; dry < 2; dry++) {
		co_buf b;
		co_buf_init(&b);
		co_org_result_to_json(p, &r, dry, &b);
		if (!co_buf_ok(&b))
			fail("co_org_result_to_json ran out of memory");
		json_error_t e;
		json_t *j = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &e);
		json_t *ws = json_object_get(j, "workspaces");
		if (!j || json_array_size(ws) != p->n ||
		    !json_is_string(json_object_get(j, "org")) ||
		    strcmp(json_string_value(json_object_get(j, "org")), p->org))
			fail("the answer is not JSON naming every node: %s", j ? "" : e.text);
		for (size_t i = 0; i < p->n; i++) {
			json_t *w = json_array_get(ws, i);
			const char *path = json_string_value(json_object_get(w, "path"));
			if (!path || strcmp(path, p->nodes[i].path))
				fail("the answer's node %zu has path %s", i, path ? path : "(none)");
		}
		json_decref(j);
		co_buf_free(&b);
	}
	co_org_result_clear(&r);
}

/* The handler's JSON path (api/org.c template_doc_or_reply); NULL where it replies 4xx. */
static json_t *json_doc(const char *body, size_t len)
{
	if (co_json_values_bound(body, len) > CO_ORG_MAX_VALUES || len == 0 ||
	    !co_json_depth_ok(body, len, CO_ORG_JSON_DEPTH_MAX))
		return NULL;
	json_error_t e;
	return json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
}

static json_t *yaml_doc(const char *body, size_t len, bool must_explain)
{
	json_t *doc = (json_t *)1;
	int rc = co_yaml_to_json(body, len, CO_ORG_JSON_DEPTH_MAX, CO_ORG_MAX_VALUES, &doc);
	if (rc == CO_OK) {
		if (!doc)
			fail("co_yaml_to_json: CO_OK without a tree");
		return doc;
	}
	if (doc)
		fail("co_yaml_to_json: refused (%d) but left a tree", rc);
	if (must_explain && rc != CO_ENOMEM &&
	    (rc != CO_EINVAL || strncmp(co_err_msg(), "YAML line ", 10)))
		fail("co_yaml_to_json: refusal %d without \"YAML line L column C\"", rc);
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	cur_data = data;
	cur_size = size;
	bool yaml = data[0] & 1;
	const char *body = (const char *)data + 1;
	size_t len = size - 1;

	json_t *doc;
	if (yaml) {
		doc = yaml_doc(body, len, true);
		if (!doc)
			return 0;
		/* The same template sent as JSON takes the handler's JSON path (its limits
		 * included) to the same tree. */
		char *text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
		json_t *back = NULL;
		if (text && (json_is_object(doc) || json_is_array(doc)))
			back = json_doc(text, strlen(text));
		else if (text) /* a scalar: the import refuses it either way */
			back = json_loads(text, JSON_DECODE_ANY, NULL);
		if (!back || !json_equal(doc, back))
			fail("the YAML tree sent as JSON is %s: %s", back ? "another tree" : "refused",
			     text ? text : "(no text)");
		free(text);
		json_decref(back);
	} else {
		doc = json_doc(body, len);
		if (!doc)
			return 0;
		json_t *as_yaml = yaml_doc(body, len, false);
		if (as_yaml && !json_equal(doc, as_yaml)) {
			char *a = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
			char *b = json_dumps(as_yaml, JSON_COMPACT | JSON_ENCODE_ANY);
			fail("JSON and YAML read one text differently: %s vs %s", a ? a : "?", b ? b : "?");
		}
		json_decref(as_yaml);
	}

	co_org_plan plan;
	co_org_error err = {0};
	int rc = co_org_parse(doc, NOW, &plan, &err);
	if (rc != CO_OK) {
		if (rc != CO_EINVAL && rc != CO_ENOMEM)
			fail("co_org_parse: %d", rc);
		if (rc == CO_EINVAL &&
		    (!err.code || (strcmp(err.code, "invalid_template") && strcmp(err.code, "invalid_cron") &&
				   strcmp(err.code, "invalid_timezone"))))
			fail("co_org_parse: refusal code %s", err.code ? err.code : "(null)");
		if (plan.n || plan.nodes || plan.org)
			fail("co_org_parse: a refusal left a plan");
		co_org_error_clear(&err);
		json_decref(doc);
		return 0;
	}
	co_org_error_clear(&err);
	check_plan(&plan);

	co_org_plan again;
	co_org_error err2 = {0};
	if (co_org_parse(doc, NOW, &again, &err2) != CO_OK)
		fail("a second parse of the same tree fails");
	same_plan(&plan, &again);
	co_org_plan_clear(&again);
	co_org_error_clear(&err2);

	check_rules(&plan);
	check_answer(&plan);
	co_org_plan_clear(&plan);
	json_decref(doc);
	return 0;
}
