/*
 * test_http_org.c — SPEC §4 org import (POST /org/import) over HTTP against a real colonyd
 * (--no-scheduler, so next_run_at only moves when the import moves it):
 *  - the issue's race: 8 concurrent imports of one 200-node template (every node with a
 *    schedule and an initial memory) → 200/201 each, 200 workspaces, schedules and memories
 *    created in all, one tree (no duplicate under any parent, roots included), and every
 *    answer lists the same ids in the same order;
 *  - re-import after editing: a changed cron is updated (new next_run_at), a runtime
 *    schedule of a template schedule's name is left exactly as it was (kept_runtime), a
 *    schedule dropped from the template stays, a changed memory value is never
 *    overwritten, a new child lands under the existing parent, reused ids are kept; 201,
 *    then an identical import is 200 with nothing created and every schedule unchanged;
 *  - a template whose 150th node (pre-order) is bad — empty name, a name with "\n", no
 *    name, a bad cron, an unknown zone, a duplicate sibling, … — is 400 with the code and
 *    the node's path, and writes nothing (not even the schedules of existing nodes);
 *  - the YAML and JSON forms of one template make the same tree, field by field, and the
 *    YAML form imported where the JSON one was reuses everything;
 *  - dry_run: the counts a real import gives, ids null for would-be-created nodes,
 *    nothing written (fresh tree and existing tree);
 *  - grafting with parent_id in the query or the body; differing → 400; absent or removed
 *    → 404; malformed → 400;
 *  - limits: depth 32 / 33, 10,000 / 10,001 nodes, a 2 MB template (while POST /workspaces
 *    refuses 2 MB with 413), --max-import-body, 415, invalid_json, invalid_yaml (aliases
 *    too), templates of the wrong shape — all 4xx, never a 5xx, nothing written;
 *  - defaults: runtime, tier, role, url, max_concurrent_tasks and timezone fill in only
 *    what a node or schedule leaves unset;
 *  - a removed node is replaced by a new workspace (and so are its descendants) while its
 *    siblings are reused.
 * Every server this file starts is stopped with exit status 0 and a request log without
 * a 5xx.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const no_sched_args[] = {"--no-scheduler", NULL};
static const char *const small_import_args[] = {"--no-scheduler", "--max-import-body", "65536", NULL};

static th_server srv;
static th_client *cl;

#define ABSENT_ID "01890000-0000-7000-8000-000000000000" /* well-formed, never made */
#define SEC_US 1000000LL
#define HOUR_US (3600 * SEC_US)
#define DAY_US (24 * HOUR_US)

/* Lines of the server's request log answering 5xx: a client's input never causes one. */
static int count_5xx(const th_server *s)
{
	char path[300];
	snprintf(path, sizeof path, "%s/colonyd.log", s->dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char line[8192];
	int n = 0;
	while (fgets(line, sizeof line, f))
		if (strstr(line, "\"status\":5")) {
			fprintf(stderr, "5xx in the request log: %s", line);
			n++;
		}
	fclose(f);
	return n;
}

/* Stops a server this file started: no 5xx answered, clean exit (no sanitizer report). */
static void stop_clean(th_server *s)
{
	assert_int_equal(count_5xx(s), 0);
	assert_int_equal(th_server_stop(s), 0);
}

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
	int bad = count_5xx(&srv) != 0;
	return th_server_stop(&srv) == 0 && !bad ? 0 : -1;
}

/* ---- templates ---------------------------------------------------------------------- */

static char *strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *strf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		fail_msg("out of memory");
	return s;
}

static json_t *tmpl_new(const char *org) { return json_pack("{s:s, s:[]}", "name", org, "workspaces"); }

/* Appends item (stolen) to the array o[key], made if absent; returns item. */
static json_t *append(json_t *o, const char *key, json_t *item)
{
	json_t *a = json_object_get(o, key);
	if (!a) {
		a = json_array();
		json_object_set_new(o, key, a);
	}
	json_array_append_new(a, item);
	return item;
}

/* A node named `name` under `parent`: a template (its workspaces) or a node (children). */
static json_t *add_node(json_t *parent, const char *name)
{
	const char *key = json_object_get(parent, "workspaces") ? "workspaces" : "children";
	return append(parent, key, json_pack("{s:s}", "name", name));
}

static json_t *add_sched(json_t *node, const char *name, const char *cron, const char *tz,
			 const char *prompt)
{
	json_t *s = json_pack("{s:s, s:s, s:s}", "name", name, "cron_expr", cron, "prompt", prompt);
	if (tz)
		json_object_set_new(s, "timezone", json_string(tz));
	return append(node, "schedules", s);
}

static void add_mem(json_t *node, const char *key, json_t *value)
{
	append(node, "initial_memories", json_pack("{s:s, s:o}", "key", key, "value", value));
}

/* The body {"template": t, "parent_id": parent} (t is not stolen); parent NULL: none. */
static char *body_of(json_t *t, const char *parent)
{
	json_t *b = json_pack("{s:O}", "template", t);
	if (parent)
		json_object_set_new(b, "parent_id", json_string(parent));
	char *s = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	return s;
}

/* An org of depts × teams × agents (+ the depts and teams themselves); with `full`, every
 * node has one schedule and one initial memory. */
static json_t *gen_org(const char *org, const char *prefix, int depts, int teams, int agents, bool full)
{
	json_t *t = tmpl_new(org);
	int seq = 0;
	char name[96];
	for (int d = 1; d <= depts; d++) {
		snprintf(name, sizeof name, "%sDept %d", prefix, d);
		json_t *dn = add_node(t, name);
		for (int k = 1; k <= teams; k++) {
			snprintf(name, sizeof name, "Team %d.%d", d, k);
			json_t *tn = add_node(dn, name);
			for (int a = 1; a <= agents; a++) {
				snprintf(name, sizeof name, "Agent %d.%d.%d", d, k, a);
				json_t *an = add_node(tn, name);
				if (full) {
					char cron[32];
					snprintf(cron, sizeof cron, "%d 9 * * 1-5", seq % 60);
					add_sched(an, "standup", cron, NULL, "Post your status");
					add_mem(an, "charter", json_pack("{s:i, s:s}", "seq", seq, "kind", "agent"));
				}
				seq++;
			}
			if (full) {
				add_sched(tn, "standup", "0 8 * * 1-5", NULL, "Team standup");
				add_mem(tn, "charter", json_pack("{s:i, s:s}", "seq", seq, "kind", "team"));
			}
			seq++;
		}
		if (full) {
			add_sched(dn, "review", "0 17 * * 5", "Europe/Berlin", "Weekly review");
			add_mem(dn, "charter", json_pack("{s:i, s:s}", "seq", seq, "kind", "dept"));
		}
		seq++;
	}
	return t;
}

/* A template's nodes in pre-order, with the paths the server must name them by. */
typedef struct {
	json_t *node; /* borrowed from the template */
	char *path;
	int parent; /* index; -1 for a top-level node */
} flat_node;

typedef struct {
	flat_node *v;
	size_t n, cap;
} flat;

static void flatten(flat *f, json_t *arr, const char *prefix, int parent)
{
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *nd = json_array_get(arr, i);
		if (f->n == f->cap) {
			f->cap = f->cap ? 2 * f->cap : 256;
			f->v = realloc(f->v, f->cap * sizeof *f->v);
			assert_non_null(f->v);
		}
		const char *name = json_string_value(json_object_get(nd, "name"));
		int me = (int)f->n++;
		f->v[me].node = nd;
		f->v[me].parent = parent;
		f->v[me].path = name && *name ? strf("%s/%s", prefix, name) : strf("%s/[%zu]", prefix, i);
		flatten(f, json_object_get(nd, "children"), f->v[me].path, me);
	}
}

static flat flat_of(json_t *t)
{
	flat f = {0};
	flatten(&f, json_object_get(t, "workspaces"), json_string_value(json_object_get(t, "name")), -1);
	return f;
}

static void flat_free(flat *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->v[i].path);
	free(f->v);
	memset(f, 0, sizeof *f);
}

/* ---- the answer ----------------------------------------------------------------------- */

static long long cnt(json_t *a, const char *obj, const char *k)
{
	json_t *o = obj ? json_object_get(a, obj) : a;
	json_t *v = json_object_get(o, k);
	if (!json_is_integer(v))
		fail_msg("answer field %s%s%s is not an integer", obj ? obj : "", obj ? "." : "", k);
	return json_integer_value(v);
}

static json_t *ans_ws(json_t *a, size_t i) { return json_array_get(json_object_get(a, "workspaces"), i); }
static const char *ans_id(json_t *a, size_t i) { return th_jstr(ans_ws(a, i), "id"); }

/* The whole shape of an answer for a template of n nodes, and its internal consistency. */
static void check_answer(json_t *a, size_t n, bool dry_run)
{
	assert_true(json_is_object(a));
	assert_non_null(th_jstr(a, "org"));
	json_t *dr = json_object_get(a, "dry_run");
	assert_true(json_is_boolean(dr));
	assert_int_equal(json_is_true(dr), dry_run);
	json_t *ws = json_object_get(a, "workspaces");
	assert_true(json_is_array(ws));
	assert_int_equal(json_array_size(ws), n);
	long long created = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *w = json_array_get(ws, i);
		assert_non_null(th_jstr(w, "name"));
		assert_non_null(th_jstr(w, "path"));
		json_t *c = json_object_get(w, "created");
		assert_true(json_is_boolean(c));
		created += json_is_true(c);
		assert_non_null(json_object_get(w, "parent_id"));
		assert_non_null(json_object_get(w, "id"));
		if (dry_run && json_is_true(c))
			assert_true(th_jnull(w, "id"));
		else
			th_assert_uuid7(th_jstr(w, "id"));
		json_t *p = json_object_get(w, "parent_id");
		if (!json_is_null(p))
			th_assert_uuid7(json_string_value(p));
	}
	assert_int_equal(cnt(a, NULL, "created"), created);
	assert_int_equal(cnt(a, NULL, "reused"), (long long)n - created);
	assert_true(cnt(a, "schedules", "created") >= 0);
	assert_true(cnt(a, "schedules", "updated") >= 0);
	assert_true(cnt(a, "schedules", "unchanged") >= 0);
	assert_true(cnt(a, "schedules", "kept_runtime") >= 0);
	assert_true(cnt(a, "memories", "created") >= 0);
	assert_true(cnt(a, "memories", "kept") >= 0);
}

/* 201 if anything was created (workspace, schedule or memory), else 200; always 200 dry. */
static long status_for(json_t *a, bool dry_run)
{
	if (dry_run)
		return 200;
	return cnt(a, NULL, "created") + cnt(a, "schedules", "created") + cnt(a, "memories", "created") > 0
		       ? 201
		       : 200;
}

/* The answer names the template's nodes in pre-order, by name and path, and each node's
 * parent_id is its parent node's id (top-level: `graft`, NULL for roots). */
static void check_nodes(json_t *a, const flat *f, const char *graft)
{
	bool dry_run = json_is_true(json_object_get(a, "dry_run"));
	for (size_t i = 0; i < f->n; i++) {
		json_t *w = ans_ws(a, i);
		const char *path = th_jstr(w, "path");
		if (!path || strcmp(path, f->v[i].path))
			fail_msg("answer node %zu has path %s, expected %s", i, path ? path : "(none)", f->v[i].path);
		assert_string_equal(th_jstr(w, "name"), json_string_value(json_object_get(f->v[i].node, "name")));
		const char *want_parent = f->v[i].parent < 0 ? graft : ans_id(a, (size_t)f->v[i].parent);
		const char *parent = th_jstr(w, "parent_id");
		if (dry_run && f->v[i].parent >= 0 && !want_parent) {
			assert_true(th_jnull(w, "parent_id"));
			continue;
		}
		if (!want_parent)
			assert_true(th_jnull(w, "parent_id"));
		else if (!parent || strcmp(parent, want_parent))
			fail_msg("answer node %s has parent_id %s, expected %s", f->v[i].path, parent ? parent : "null",
				 want_parent);
	}
}

/* POST /org/import<query> with body (NULL: none) and Content-Type ctype (NULL: JSON). */
static th_resp post_import(th_client *c, const char *query, const char *body, const char *ctype)
{
	char path[256], h[160];
	snprintf(path, sizeof path, "/org/import%s", query ? query : "");
	snprintf(h, sizeof h, "Content-Type: %s", ctype ? ctype : "application/json");
	const char *hdr[] = {h, NULL};
	return th_req(c, "POST", path, body, hdr);
}

/* Imports body; asserts the status (201/200 by the rule, 200 dry) and the shape for n
 * nodes; returns the answer. */
static json_t *import_text_ok(th_client *c, const char *query, const char *body, const char *ctype, size_t n)
{
	bool dry_run = query && strstr(query, "dry_run=true");
	th_resp r = post_import(c, query, body, ctype);
	if ((r.status != 200 && r.status != 201) || !r.json)
		fail_msg("import%s: %ld %.2000s", query ? query : "", r.status, r.body);
	check_answer(r.json, n, dry_run);
	if (r.status != status_for(r.json, dry_run))
		fail_msg("import%s answered %ld for %.2000s", query ? query : "", r.status, r.body);
	json_t *a = json_incref(r.json);
	th_resp_free(&r);
	return a;
}

/* Imports template t (not stolen) grafted by a body parent_id (NULL: none); checks the
 * shape, and the nodes against the template (top-level parent: graft_expected). */
static json_t *import_ok(th_client *c, const char *query, json_t *t, const char *body_parent,
			 const char *graft_expected)
{
	flat f = flat_of(t);
	char *body = body_of(t, body_parent);
	json_t *a = import_text_ok(c, query, body, NULL, f.n);
	check_nodes(a, &f, graft_expected);
	free(body);
	flat_free(&f);
	return a;
}

/* Asserts a 400 (or other) template error naming `path` (NULL: the path is not checked,
 * but the field must be there). */
static void expect_template_error(th_resp r, long status, const char *code, const char *path)
{
	th_assert_error(&r, status, code);
	json_t *p = json_object_get(r.json, "path");
	if (!p)
		fail_msg("template error without a path field: %s", r.body);
	if (path && (!json_is_string(p) || strcmp(json_string_value(p), path)))
		fail_msg("expected path %s, got: %s", path, r.body);
	th_resp_free(&r);
}

/* ---- reading the tree back -------------------------------------------------------------- */

/* Every live child of parent (NULL: the roots), every page, in the server's order. */
static json_t *children_of(th_client *c, const char *parent)
{
	json_t *all = json_array();
	char after[37] = "";
	for (;;) {
		char path[256];
		snprintf(path, sizeof path, "/workspaces?parent_id=%s&limit=1000%s%s", parent ? parent : "null",
			 *after ? "&after=" : "", after);
		json_t *page = th_get_ok(c, path);
		size_t n = json_array_size(page);
		json_array_extend(all, page);
		if (n)
			snprintf(after, sizeof after, "%s", th_jstr(json_array_get(page, n - 1), "id"));
		json_decref(page);
		if (n < 1000)
			break;
	}
	return all;
}

/* Every workspace (removed ones too), every page. */
static json_t *all_workspaces(th_client *c)
{
	json_t *all = json_array();
	char after[37] = "";
	for (;;) {
		char path[256];
		snprintf(path, sizeof path, "/workspaces?include_removed=true&limit=1000%s%s", *after ? "&after=" : "",
			 after);
		json_t *page = th_get_ok(c, path);
		size_t n = json_array_size(page);
		json_array_extend(all, page);
		if (n)
			snprintf(after, sizeof after, "%s", th_jstr(json_array_get(page, n - 1), "id"));
		json_decref(page);
		if (n < 1000)
			break;
	}
	return all;
}

/* Appends every live workspace under parent (NULL: everything from the roots) to out,
 * depth first; fails if a parent has two live children of one name. Returns the count. */
static size_t walk(th_client *c, const char *parent, json_t *out)
{
	json_t *kids = children_of(c, parent);
	size_t n = json_array_size(kids), total = n;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (!strcmp(th_jstr(json_array_get(kids, i), "name"), th_jstr(json_array_get(kids, j), "name")))
				fail_msg("two live workspaces named %s under %s", th_jstr(json_array_get(kids, i), "name"),
					 parent ? parent : "the roots");
	for (size_t i = 0; i < n; i++) {
		json_t *w = json_array_get(kids, i);
		assert_string_not_equal(th_jstr(w, "status"), "removed");
		json_array_append(out, w);
		total += walk(c, th_jstr(w, "id"), out);
	}
	json_decref(kids);
	return total;
}

static json_t *find_id(json_t *arr, const char *id)
{
	for (size_t i = 0; i < json_array_size(arr); i++)
		if (!strcmp(th_jstr(json_array_get(arr, i), "id"), id))
			return json_array_get(arr, i);
	return NULL;
}

static json_t *get_ws(th_client *c, const char *id)
{
	char path[128];
	snprintf(path, sizeof path, "/workspaces/%s", id);
	return th_get_ok(c, path);
}

static json_t *sched_list(th_client *c, const char *ws)
{
	char path[128];
	snprintf(path, sizeof path, "/workspaces/%s/schedules?limit=1000", ws);
	return th_get_ok(c, path);
}

static json_t *mem_list(th_client *c, const char *ws)
{
	char path[128];
	snprintf(path, sizeof path, "/workspaces/%s/memory?limit=1000", ws);
	return th_get_ok(c, path);
}

static json_t *get_sched(th_client *c, const char *ws, const char *sid)
{
	char path[200];
	snprintf(path, sizeof path, "/workspaces/%s/schedules/%s", ws, sid);
	return th_get_ok(c, path);
}

static json_t *get_mem(th_client *c, const char *ws, const char *key)
{
	char path[400];
	snprintf(path, sizeof path, "/workspaces/%s/memory/%s", ws, key);
	return th_get_ok(c, path);
}

/* The schedule named `name` in a list (NULL if none). */
static json_t *sched_named(json_t *list, const char *name)
{
	for (size_t i = 0; i < json_array_size(list); i++)
		if (!strcmp(th_jstr(json_array_get(list, i), "name"), name))
			return json_array_get(list, i);
	return NULL;
}

/* Everything observable under parent: each live workspace with its schedules and memory. */
static json_t *subtree_state(th_client *c, const char *parent)
{
	json_t *ws = json_array();
	walk(c, parent, ws);
	json_t *out = json_array();
	for (size_t i = 0; i < json_array_size(ws); i++) {
		json_t *w = json_array_get(ws, i);
		const char *id = th_jstr(w, "id");
		json_array_append_new(out, json_pack("{s:O, s:o, s:o}", "ws", w, "schedules", sched_list(c, id),
						     "memory", mem_list(c, id)));
	}
	json_decref(ws);
	return out;
}

static void assert_json_equal(json_t *a, json_t *b, const char *what)
{
	if (!json_equal(a, b)) {
		char *x = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
		char *y = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
		fprintf(stderr, "%s differ:\n  before %.3000s\n  after  %.3000s\n", what, x, y);
		free(x);
		free(y);
		fail_msg("%s changed", what);
	}
}

/* A UTC time's minute of the day. */
static long long utc_minute_of_day(long long us) { return (us / (60 * SEC_US)) % (24 * 60); }

/* ---- 1. the issue's race: 8 concurrent imports of a 200-node template ------------------ */

#define RACE_IMPORTERS 8

struct import_race {
	const th_server *s;
	const char *body;
	long status[RACE_IMPORTERS];
	json_t *answer[RACE_IMPORTERS];
};

static void import_one(int i, void *arg)
{
	struct import_race *ir = arg;
	th_client *c = th_client_new(ir->s);
	th_resp r = post_import(c, NULL, ir->body, NULL);
	ir->status[i] = r.status;
	ir->answer[i] = r.json ? json_incref(r.json) : NULL;
	if (r.status != 200 && r.status != 201)
		fprintf(stderr, "importer %d: %ld %.500s\n", i, r.status, r.body);
	th_resp_free(&r);
	th_client_free(c);
}

static void test_concurrent_imports_make_one_tree(void **state)
{
	(void)state;
	th_server s; /* its own server: the template's departments are roots */
	th_server_start(&s, no_sched_args);
	json_t *t = gen_org("Acme", "", 4, 7, 6, true);
	flat f = flat_of(t);
	assert_int_equal(f.n, 200);
	char *body = body_of(t, NULL);
	static struct import_race ir;
	memset(&ir, 0, sizeof ir);
	ir.s = &s;
	ir.body = body;
	th_race(RACE_IMPORTERS, import_one, &ir);

	long long ws_created = 0, sched_created = 0, mem_created = 0;
	int creators = 0;
	for (int i = 0; i < RACE_IMPORTERS; i++) {
		if ((ir.status[i] != 200 && ir.status[i] != 201) || !ir.answer[i])
			fail_msg("importer %d got %ld", i, ir.status[i]);
		json_t *a = ir.answer[i];
		check_answer(a, 200, false);
		assert_int_equal(ir.status[i], status_for(a, false));
		check_nodes(a, &f, NULL);
		assert_string_equal(th_jstr(a, "org"), "Acme");
		ws_created += cnt(a, NULL, "created");
		sched_created += cnt(a, "schedules", "created");
		mem_created += cnt(a, "memories", "created");
		/* the schedules every importer did not create were already as the template says */
		assert_int_equal(cnt(a, "schedules", "created") + cnt(a, "schedules", "unchanged"), 200);
		assert_int_equal(cnt(a, "schedules", "updated"), 0);
		assert_int_equal(cnt(a, "schedules", "kept_runtime"), 0);
		assert_int_equal(cnt(a, "memories", "created") + cnt(a, "memories", "kept"), 200);
		creators += cnt(a, NULL, "created") > 0;
		for (size_t k = 0; k < 200; k++)
			if (strcmp(ans_id(a, k), ans_id(ir.answer[0], k)))
				fail_msg("importers 0 and %d answer different ids for %s: %s / %s", i, f.v[k].path,
					 ans_id(ir.answer[0], k), ans_id(a, k));
	}
	assert_int_equal(ws_created, 200);
	assert_int_equal(sched_created, 200);
	assert_int_equal(mem_created, 200);
	fprintf(stderr, "import race: %d of %d importers created workspaces\n", creators, RACE_IMPORTERS);

	/* the tree: 4 roots, 200 live workspaces, exactly the answered ids under the answered parents */
	th_client *c = th_client_new(&s);
	json_t *roots = children_of(c, NULL);
	assert_int_equal(json_array_size(roots), 4);
	json_decref(roots);
	json_t *all = json_array();
	assert_int_equal(walk(c, NULL, all), 200);
	json_t *a0 = ir.answer[0];
	for (size_t k = 0; k < 200; k++) {
		json_t *w = find_id(all, ans_id(a0, k));
		if (!w)
			fail_msg("answered id %s (%s) is not a live workspace of the tree", ans_id(a0, k), f.v[k].path);
		assert_string_equal(th_jstr(w, "name"), th_jstr(ans_ws(a0, k), "name"));
		if (f.v[k].parent < 0)
			assert_true(th_jnull(w, "parent_id"));
		else
			assert_string_equal(th_jstr(w, "parent_id"), ans_id(a0, (size_t)f.v[k].parent));
		assert_string_equal(th_jstr(w, "status"), "provisioning");
	}
	/* one template schedule and one initial memory (version 1) on every node */
	for (size_t k = 0; k < 200; k++) {
		const char *id = ans_id(a0, k);
		json_t *sl = sched_list(c, id);
		assert_int_equal(json_array_size(sl), 1);
		json_t *want = json_array_get(json_object_get(f.v[k].node, "schedules"), 0);
		json_t *got = json_array_get(sl, 0);
		assert_string_equal(th_jstr(got, "name"), th_jstr(want, "name"));
		assert_string_equal(th_jstr(got, "cron_expr"), th_jstr(want, "cron_expr"));
		assert_string_equal(th_jstr(got, "source"), "template");
		assert_string_equal(th_jstr(got, "timezone"), th_jstr(want, "timezone") ? th_jstr(want, "timezone") : "UTC");
		json_decref(sl);
		json_t *ml = mem_list(c, id);
		assert_int_equal(json_array_size(ml), 1);
		json_t *m = json_array_get(ml, 0);
		assert_string_equal(th_jstr(m, "key"), "charter");
		assert_int_equal(th_jint(m, "version"), 1);
		assert_json_equal(json_object_get(json_array_get(json_object_get(f.v[k].node, "initial_memories"), 0), "value"),
				  json_object_get(m, "value"), "initial memory");
		json_decref(ml);
	}
	json_decref(all);

	/* and once more, alone: a no-op */
	json_t *again = import_text_ok(c, NULL, body, NULL, 200);
	assert_int_equal(cnt(again, NULL, "created"), 0);
	assert_int_equal(cnt(again, "schedules", "unchanged"), 200);
	assert_int_equal(cnt(again, "memories", "kept"), 200);
	for (size_t k = 0; k < 200; k++)
		assert_string_equal(ans_id(again, k), ans_id(a0, k));
	json_decref(again);

	for (int i = 0; i < RACE_IMPORTERS; i++)
		json_decref(ir.answer[i]);
	th_client_free(c);
	free(body);
	flat_free(&f);
	json_decref(t);
	stop_clean(&s);
}

/* ---- 2. re-import after editing the template -------------------------------------------- */

/* Edit: A{s1, s2; k1} [A1{nightly}, A2], B. */
static json_t *edit_v1(void)
{
	json_t *t = tmpl_new("Edit");
	json_t *a = add_node(t, "A");
	json_object_set_new(a, "role", json_string("lead"));
	add_sched(a, "s1", "0 9 * * *", NULL, "morning");
	add_sched(a, "s2", "0 10 * * *", NULL, "later");
	add_mem(a, "k1", json_pack("{s:i}", "v", 1));
	json_t *a1 = add_node(a, "A1");
	add_sched(a1, "nightly", "0 0 * * *", NULL, "sleep");
	add_node(a, "A2");
	add_node(t, "B");
	return t;
}

/* v2: A's role changed (a reused workspace's fields are left alone), s1's cron changed,
 * s2 dropped, k1's value changed and k2 added, A1 also names "rt" (a runtime schedule's
 * name), A3 new under A, B gains s3. */
static json_t *edit_v2(void)
{
	json_t *t = tmpl_new("Edit");
	json_t *a = add_node(t, "A");
	json_object_set_new(a, "role", json_string("boss"));
	json_object_set_new(a, "tier", json_integer(9));
	add_sched(a, "s1", "30 9 * * *", NULL, "morning");
	add_mem(a, "k1", json_pack("{s:i}", "v", 2));
	add_mem(a, "k2", json_pack("[i,i]", 1, 2));
	json_t *a1 = add_node(a, "A1");
	add_sched(a1, "nightly", "0 0 * * *", NULL, "sleep");
	add_sched(a1, "rt", "0 1 * * *", NULL, "the template's version");
	add_node(a, "A2");
	add_node(a, "A3");
	json_t *b = add_node(t, "B");
	add_sched(b, "s3", "15 6 * * *", NULL, "early");
	return t;
}

static void test_reimport_after_edit(void **state)
{
	(void)state;
	char p[37], path[300];
	th_create_ws(cl, "edit-graft", NULL, p);
	json_t *t1 = edit_v1();
	char q[128];
	snprintf(q, sizeof q, "?parent_id=%s", p);
	json_t *a1 = import_ok(cl, q, t1, NULL, p);
	/* pre-order: A, A1, A2, B */
	assert_int_equal(cnt(a1, NULL, "created"), 4);
	assert_int_equal(cnt(a1, "schedules", "created"), 3);
	assert_int_equal(cnt(a1, "memories", "created"), 1);
	char A[37], A1[37], A2[37], B[37];
	snprintf(A, sizeof A, "%s", ans_id(a1, 0));
	snprintf(A1, sizeof A1, "%s", ans_id(a1, 1));
	snprintf(A2, sizeof A2, "%s", ans_id(a1, 2));
	snprintf(B, sizeof B, "%s", ans_id(a1, 3));

	json_t *sl = sched_list(cl, A);
	json_t *s1 = json_incref(sched_named(sl, "s1")), *s2 = json_incref(sched_named(sl, "s2"));
	json_decref(sl);
	assert_non_null(s1);
	assert_non_null(s2);
	assert_string_equal(th_jstr(s1, "source"), "template");
	long long s1_next = th_jtime(s1, "next_run_at");
	assert_int_equal(utc_minute_of_day(s1_next), 9 * 60);

	/* the memory is changed by an agent after the first import */
	snprintf(path, sizeof path, "/workspaces/%s/memory", A);
	th_resp r = th_req(cl, "POST", path, "{\"key\":\"k1\",\"value\":{\"v\":\"changed\"}}", NULL);
	assert_int_equal(r.status, 200);
	assert_int_equal(th_int(&r, "version"), 2);
	th_resp_free(&r);
	/* a runtime schedule on A1, named as the edited template will name one of its own */
	snprintf(path, sizeof path, "/workspaces/%s/schedules", A1);
	r = th_req(cl, "POST", path, "{\"name\":\"rt\",\"cron_expr\":\"*/10 * * * *\",\"prompt\":\"mine\"}", NULL);
	assert_int_equal(r.status, 201);
	assert_string_equal(th_str(&r, "source"), "runtime");
	char rt_id[37];
	snprintf(rt_id, sizeof rt_id, "%s", th_str(&r, "id"));
	th_resp_free(&r);
	json_t *rt_before = get_sched(cl, A1, rt_id);
	json_t *s2_before = get_sched(cl, A, th_jstr(s2, "id"));

	json_t *a_before = get_ws(cl, A);
	th_sleep_ms(5); /* updated_at would move if anything were rewritten */
	json_t *t2 = edit_v2();
	json_t *a2 = import_ok(cl, q, t2, NULL, p);
	/* pre-order: A, A1, A2, A3, B */
	assert_int_equal(cnt(a2, NULL, "created"), 1);
	assert_int_equal(cnt(a2, NULL, "reused"), 4);
	assert_int_equal(cnt(a2, "schedules", "created"), 1);
	assert_int_equal(cnt(a2, "schedules", "updated"), 1);
	assert_int_equal(cnt(a2, "schedules", "unchanged"), 1);
	assert_int_equal(cnt(a2, "schedules", "kept_runtime"), 1);
	assert_int_equal(cnt(a2, "memories", "created"), 1);
	assert_int_equal(cnt(a2, "memories", "kept"), 1);
	assert_string_equal(ans_id(a2, 0), A);
	assert_string_equal(ans_id(a2, 1), A1);
	assert_string_equal(ans_id(a2, 2), A2);
	assert_string_equal(ans_id(a2, 4), B);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(json_is_true(json_object_get(ans_ws(a2, i), "created")), i == 3);
	const char *A3 = ans_id(a2, 3);
	json_t *w = get_ws(cl, A);
	assert_json_equal(a_before, w, "a reused workspace");
	assert_string_equal(th_jstr(w, "role"), "lead");
	json_decref(w);
	json_decref(a_before);
	w = get_ws(cl, A3);
	assert_string_equal(th_jstr(w, "parent_id"), A); /* under the existing A */
	assert_string_equal(th_jstr(w, "name"), "A3");
	json_decref(w);
	json_t *kids = children_of(cl, A);
	assert_int_equal(json_array_size(kids), 3);
	json_decref(kids);

	/* s1: same row, new cron, new next_run_at */
	json_t *s1_after = get_sched(cl, A, th_jstr(s1, "id"));
	assert_string_equal(th_jstr(s1_after, "cron_expr"), "30 9 * * *");
	assert_string_equal(th_jstr(s1_after, "source"), "template");
	assert_string_equal(th_jstr(s1_after, "timezone"), "UTC");
	assert_string_equal(th_jstr(s1_after, "prompt"), "morning");
	long long s1_next2 = th_jtime(s1_after, "next_run_at");
	assert_true(s1_next2 != s1_next);
	assert_int_equal(utc_minute_of_day(s1_next2), 9 * 60 + 30);
	assert_true(s1_next2 > th_now_us() - 60 * SEC_US && s1_next2 <= th_now_us() + DAY_US);
	json_decref(s1_after);
	/* the runtime schedule and the dropped template schedule: exactly as they were */
	json_t *rt_after = get_sched(cl, A1, rt_id);
	assert_json_equal(rt_before, rt_after, "the runtime schedule");
	json_t *s2_after = get_sched(cl, A, th_jstr(s2, "id"));
	assert_json_equal(s2_before, s2_after, "the schedule dropped from the template");
	json_decref(rt_after);
	json_decref(s2_after);
	sl = sched_list(cl, A1);
	assert_int_equal(json_array_size(sl), 2); /* nightly and the runtime rt: no second rt */
	json_decref(sl);
	sl = sched_list(cl, B);
	assert_int_equal(json_array_size(sl), 1);
	assert_string_equal(th_jstr(json_array_get(sl, 0), "cron_expr"), "15 6 * * *");
	json_decref(sl);
	/* memory: the agent's value stays; the new key is there at version 1 */
	json_t *m = get_mem(cl, A, "k1");
	json_t *want = json_pack("{s:s}", "v", "changed");
	assert_json_equal(want, json_object_get(m, "value"), "k1's value");
	json_decref(want);
	assert_int_equal(th_jint(m, "version"), 2);
	json_decref(m);
	m = get_mem(cl, A, "k2");
	want = json_pack("[i,i]", 1, 2);
	assert_json_equal(want, json_object_get(m, "value"), "k2's value");
	json_decref(want);
	assert_int_equal(th_jint(m, "version"), 1);
	json_decref(m);

	/* the same again: nothing to do */
	json_t *before = subtree_state(cl, p);
	json_t *a3 = import_ok(cl, q, t2, NULL, p);
	assert_int_equal(cnt(a3, NULL, "created"), 0);
	assert_int_equal(cnt(a3, NULL, "reused"), 5);
	assert_int_equal(cnt(a3, "schedules", "created"), 0);
	assert_int_equal(cnt(a3, "schedules", "updated"), 0);
	assert_int_equal(cnt(a3, "schedules", "unchanged"), 3);
	assert_int_equal(cnt(a3, "schedules", "kept_runtime"), 1);
	assert_int_equal(cnt(a3, "memories", "created"), 0);
	assert_int_equal(cnt(a3, "memories", "kept"), 2);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(ans_id(a3, i), ans_id(a2, i));
	json_t *after = subtree_state(cl, p);
	assert_json_equal(before, after, "the tree after an identical re-import");
	/* only a new memory key: that is something created, so 201 with no workspace created */
	add_mem(json_array_get(json_object_get(t2, "workspaces"), 1), "k3", json_string("b"));
	json_t *a4 = import_ok(cl, q, t2, NULL, p);
	assert_int_equal(cnt(a4, NULL, "created"), 0);
	assert_int_equal(cnt(a4, "memories", "created"), 1);
	assert_int_equal(cnt(a4, "memories", "kept"), 2);
	json_decref(a4);
	m = get_mem(cl, B, "k3");
	assert_string_equal(th_jstr(m, "value"), "b");
	json_decref(m);

	json_decref(before);
	json_decref(after);
	json_decref(rt_before);
	json_decref(s2_before);
	json_decref(s1);
	json_decref(s2);
	json_decref(a1);
	json_decref(a2);
	json_decref(a3);
	json_decref(t1);
	json_decref(t2);
}

/* ---- 3. a bad 150th node: 400 naming it, nothing written ------------------------------- */

enum bad_kind { BAD_EMPTY_NAME, BAD_NEWLINE_NAME, BAD_NO_NAME, BAD_NAME_TYPE, BAD_CRON, BAD_TZ, BAD_DUP_SIBLING,
		BAD_URL, BAD_MEM_KEY, BAD_TIER_TYPE, BAD_KINDS };

static void test_bad_node_150_writes_nothing(void **state)
{
	(void)state;
	char p[37], q[128];
	th_create_ws(cl, "bad-node-graft", NULL, p);
	snprintf(q, sizeof q, "?parent_id=%s", p);
	/* Dept 1 exists already, bare: a failed import must not give it schedules or memory */
	json_t *pre = tmpl_new("Bad");
	add_node(pre, "Dept 1");
	json_t *pa = import_ok(cl, q, pre, NULL, p);
	char dept1[37];
	snprintf(dept1, sizeof dept1, "%s", ans_id(pa, 0));
	json_decref(pa);
	json_decref(pre);

	for (int kind = 0; kind < BAD_KINDS; kind++) {
		json_t *t = gen_org("Bad", "", 4, 7, 6, true);
		flat f = flat_of(t);
		assert_int_equal(f.n, 200);
		json_t *n150 = f.v[149].node;
		assert_string_equal(f.v[149].path, "Bad/Dept 3/Team 3.7/Agent 3.7.6");
		const char *code = "invalid_template";
		const char *path = "Bad/Dept 3/Team 3.7/Agent 3.7.6";
		const char *alt_path = NULL;
		switch ((enum bad_kind)kind) {
		case BAD_EMPTY_NAME:
			json_object_set_new(n150, "name", json_string(""));
			path = "Bad/Dept 3/Team 3.7/[5]";
			break;
		case BAD_NEWLINE_NAME:
			json_object_set_new(n150, "name", json_string("Agent\n3.7.6"));
			path = "Bad/Dept 3/Team 3.7/[5]";
			break;
		case BAD_NO_NAME:
			json_object_del(n150, "name");
			path = "Bad/Dept 3/Team 3.7/[5]";
			break;
		case BAD_NAME_TYPE:
			json_object_set_new(n150, "name", json_integer(6));
			path = "Bad/Dept 3/Team 3.7/[5]";
			break;
		case BAD_CRON:
			json_object_set_new(json_array_get(json_object_get(n150, "schedules"), 0), "cron_expr",
					    json_string("61 9 * * *"));
			code = "invalid_cron";
			break;
		case BAD_TZ:
			json_object_set_new(json_array_get(json_object_get(n150, "schedules"), 0), "timezone",
					    json_string("Mars/Olympus_Mons"));
			code = "invalid_timezone";
			break;
		case BAD_DUP_SIBLING:
			/* a usable name, taken by the sibling before it: either form names the node */
			json_object_set_new(n150, "name", json_string("Agent 3.7.5"));
			path = "Bad/Dept 3/Team 3.7/Agent 3.7.5";
			alt_path = "Bad/Dept 3/Team 3.7/[5]";
			break;
		case BAD_URL:
			json_object_set_new(n150, "url", json_string("ftp://not-http.example"));
			break;
		case BAD_MEM_KEY:
			json_object_set_new(json_array_get(json_object_get(n150, "initial_memories"), 0), "key",
					    json_string("a/b"));
			break;
		case BAD_TIER_TYPE:
			json_object_set_new(n150, "tier", json_string("high"));
			break;
		case BAD_KINDS:
			break;
		}
		json_t *ws_before = all_workspaces(cl);
		char *body = body_of(t, NULL);
		th_resp r = post_import(cl, q, body, NULL);
		if (alt_path && r.status == 400 && th_str(&r, "path") && !strcmp(th_str(&r, "path"), alt_path))
			path = alt_path;
		expect_template_error(r, 400, code, path);
		/* dry_run validates just the same */
		char qd[160];
		snprintf(qd, sizeof qd, "%s&dry_run=true", q);
		r = post_import(cl, qd, body, NULL);
		th_assert_error(&r, 400, code);
		th_resp_free(&r);
		json_t *ws_after = all_workspaces(cl);
		assert_json_equal(ws_before, ws_after, "GET /workspaces after a failed import");
		json_t *sl = sched_list(cl, dept1);
		assert_int_equal(json_array_size(sl), 0);
		json_decref(sl);
		json_t *ml = mem_list(cl, dept1);
		assert_int_equal(json_array_size(ml), 0);
		json_decref(ml);
		json_decref(ws_before);
		json_decref(ws_after);
		free(body);
		flat_free(&f);
		json_decref(t);
	}

	/* the template itself was fine: unbroken, it imports (Dept 1 reused) */
	json_t *t = gen_org("Bad", "", 4, 7, 6, true);
	json_t *a = import_ok(cl, q, t, NULL, p);
	assert_int_equal(cnt(a, NULL, "created"), 199);
	assert_int_equal(cnt(a, NULL, "reused"), 1);
	assert_string_equal(ans_id(a, 0), dept1);
	assert_int_equal(cnt(a, "schedules", "created"), 200);
	assert_int_equal(cnt(a, "memories", "created"), 200);
	json_decref(a);
	json_decref(t);
}

/* ---- 4. YAML and JSON forms of one template ------------------------------------------- */

static const char poly_json[] =
	"{\"template\":{\"name\":\"Polyglot\","
	"\"defaults\":{\"runtime\":\"claude-code\",\"tier\":2,\"timezone\":\"Europe/Paris\"},"
	"\"workspaces\":["
	"{\"name\":\"Research\",\"role\":\"Lead researcher\",\"url\":\"https://research.example/hook\","
	"\"schedules\":["
	"{\"name\":\"poll\",\"cron_expr\":\"*/5 * * * *\",\"prompt\":\"Check the queue\"},"
	"{\"name\":\"weekly\",\"cron_expr\":\"0 9 * * 1-5\",\"timezone\":\"UTC\",\"prompt\":\"Line one\\nLine two\","
	"\"enabled\":false}],"
	"\"initial_memories\":["
	"{\"key\":\"config\",\"value\":{\"depth\":3,\"tags\":[\"a\",\"b\"],\"nested\":{\"x\":null,\"y\":true}}},"
	"{\"key\":\"ratio\",\"value\":0.25},"
	"{\"key\":\"count\",\"value\":42},"
	"{\"key\":\"list\",\"value\":[1,\"two\",3.5,false]},"
	"{\"key\":\"title\",\"value\":\"Dr. \\\"Q\\\"\"}],"
	"\"children\":["
	"{\"name\":\"Analyst\",\"tier\":5,\"runtime\":\"codex\","
	"\"children\":[{\"name\":\"Intern: night shift\",\"initial_memories\":[{\"key\":\"empty\",\"value\":null}]}]},"
	"{\"name\":\"Scout\",\"role\":\"scout\"}]},"
	"{\"name\":\"Ops\",\"schedules\":[{\"name\":\"daily\",\"cron_expr\":\"@daily\",\"prompt\":\"report\"}]}]}}";

static const char poly_yaml[] =
	"# the same template, as YAML\n"
	"name: Polyglot\n"
	"defaults:\n"
	"  runtime: claude-code\n"
	"  tier: 2\n"
	"  timezone: Europe/Paris\n"
	"workspaces:\n"
	"  - name: Research\n"
	"    role: Lead researcher\n"
	"    url: https://research.example/hook\n"
	"    schedules:\n"
	"      - name: poll\n"
	"        cron_expr: \"*/5 * * * *\"\n"
	"        prompt: Check the queue\n"
	"      - name: weekly\n"
	"        cron_expr: 0 9 * * 1-5\n"
	"        timezone: UTC\n"
	"        prompt: |-\n"
	"          Line one\n"
	"          Line two\n"
	"        enabled: false\n"
	"    initial_memories:\n"
	"      - key: config\n"
	"        value:\n"
	"          depth: 3\n"
	"          tags: [a, b]\n"
	"          nested: {x: null, \"y\": true}\n"
	"      - {key: ratio, value: 0.25}\n"
	"      - key: count\n"
	"        value: 42\n"
	"      - key: list\n"
	"        value: [1, \"two\", 3.5, false]\n"
	"      - key: title\n"
	"        value: 'Dr. \"Q\"'\n"
	"    children:\n"
	"      - name: Analyst\n"
	"        tier: 5\n"
	"        runtime: codex\n"
	"        children:\n"
	"          - name: \"Intern: night shift\"\n"
	"            initial_memories:\n"
	"              - key: empty\n"
	"                value: ~\n"
	"      - name: Scout\n"
	"        role: scout\n"
	"  - name: Ops\n"
	"    schedules:\n"
	"      - name: daily\n"
	"        cron_expr: '@daily'\n"
	"        prompt: report\n";

#define POLY_NODES 5 /* Research, Analyst, Intern: night shift, Scout, Ops */
#define POLY_SCHEDS 3
#define POLY_MEMS 6

static const char *const ws_fields[] = {"name", "role", "runtime", "tier", "url", "max_concurrent_tasks", "status"};
static const char *const sched_fields[] = {"name", "cron_expr", "timezone", "prompt", "enabled", "source"};

static void test_yaml_and_json_same_tree(void **state)
{
	(void)state;
	char pj[37], py[37], q[128];
	th_create_ws(cl, "poly-json", NULL, pj);
	th_create_ws(cl, "poly-yaml", NULL, py);
	snprintf(q, sizeof q, "?parent_id=%s", pj);
	json_t *aj = import_text_ok(cl, q, poly_json, NULL, POLY_NODES);
	snprintf(q, sizeof q, "?parent_id=%s", py);
	json_t *ay = import_text_ok(cl, q, poly_yaml, "application/yaml", POLY_NODES);
	static const char *const paths[POLY_NODES] = {"Polyglot/Research", "Polyglot/Research/Analyst",
						      "Polyglot/Research/Analyst/Intern: night shift",
						      "Polyglot/Research/Scout", "Polyglot/Ops"};
	static const int parent[POLY_NODES] = {-1, 0, 1, 0, -1};
	for (json_t *a = aj; a; a = a == aj ? ay : NULL) {
		assert_string_equal(th_jstr(a, "org"), "Polyglot");
		assert_int_equal(cnt(a, NULL, "created"), POLY_NODES);
		assert_int_equal(cnt(a, "schedules", "created"), POLY_SCHEDS);
		assert_int_equal(cnt(a, "memories", "created"), POLY_MEMS);
		for (size_t i = 0; i < POLY_NODES; i++) {
			assert_string_equal(th_jstr(ans_ws(a, i), "path"), paths[i]);
			const char *want_parent = parent[i] < 0 ? (a == aj ? pj : py) : ans_id(a, (size_t)parent[i]);
			assert_string_equal(th_jstr(ans_ws(a, i), "parent_id"), want_parent);
		}
	}
	/* node by node: workspace fields, schedules, memory */
	for (size_t i = 0; i < POLY_NODES; i++) {
		json_t *wj = get_ws(cl, ans_id(aj, i)), *wy = get_ws(cl, ans_id(ay, i));
		for (size_t k = 0; k < sizeof ws_fields / sizeof *ws_fields; k++)
			assert_json_equal(json_object_get(wj, ws_fields[k]), json_object_get(wy, ws_fields[k]), ws_fields[k]);
		json_decref(wj);
		json_decref(wy);
		json_t *sj = sched_list(cl, ans_id(aj, i)), *sy = sched_list(cl, ans_id(ay, i));
		assert_int_equal(json_array_size(sj), json_array_size(sy));
		for (size_t s = 0; s < json_array_size(sj); s++) {
			json_t *x = json_array_get(sj, s), *y = sched_named(sy, th_jstr(x, "name"));
			assert_non_null(y);
			for (size_t k = 0; k < sizeof sched_fields / sizeof *sched_fields; k++)
				assert_json_equal(json_object_get(x, sched_fields[k]), json_object_get(y, sched_fields[k]),
						  sched_fields[k]);
		}
		json_decref(sj);
		json_decref(sy);
		json_t *mj = mem_list(cl, ans_id(aj, i)), *my = mem_list(cl, ans_id(ay, i));
		assert_int_equal(json_array_size(mj), json_array_size(my));
		for (size_t k = 0; k < json_array_size(mj); k++) {
			json_t *x = json_array_get(mj, k), *y = json_array_get(my, k);
			assert_string_equal(th_jstr(x, "key"), th_jstr(y, "key"));
			assert_json_equal(json_object_get(x, "value"), json_object_get(y, "value"), th_jstr(x, "key"));
			assert_int_equal(th_jint(x, "version"), 1);
			assert_int_equal(th_jint(y, "version"), 1);
		}
		json_decref(mj);
		json_decref(my);
	}
	/* and the values themselves (the JSON side; the YAML side equals it) */
	json_t *w = get_ws(cl, ans_id(aj, 0));
	assert_string_equal(th_jstr(w, "role"), "Lead researcher");
	assert_string_equal(th_jstr(w, "runtime"), "claude-code");
	assert_int_equal(th_jint(w, "tier"), 2);
	assert_string_equal(th_jstr(w, "url"), "https://research.example/hook");
	json_decref(w);
	w = get_ws(cl, ans_id(aj, 1));
	assert_string_equal(th_jstr(w, "runtime"), "codex");
	assert_int_equal(th_jint(w, "tier"), 5);
	assert_true(th_jnull(w, "role"));
	json_decref(w);
	w = get_ws(cl, ans_id(aj, 2)); /* defaults, not the parent's fields */
	assert_string_equal(th_jstr(w, "runtime"), "claude-code");
	assert_int_equal(th_jint(w, "tier"), 2);
	json_decref(w);
	json_t *sl = sched_list(cl, ans_id(ay, 0));
	json_t *s = sched_named(sl, "poll");
	assert_string_equal(th_jstr(s, "cron_expr"), "*/5 * * * *");
	assert_string_equal(th_jstr(s, "timezone"), "Europe/Paris");
	assert_true(json_is_true(json_object_get(s, "enabled")));
	assert_string_equal(th_jstr(s, "source"), "template");
	long long next = th_jtime(s, "next_run_at");
	assert_int_equal(next % (5 * 60 * SEC_US), 0);
	s = sched_named(sl, "weekly");
	assert_string_equal(th_jstr(s, "cron_expr"), "0 9 * * 1-5");
	assert_string_equal(th_jstr(s, "timezone"), "UTC");
	assert_string_equal(th_jstr(s, "prompt"), "Line one\nLine two");
	assert_true(json_is_false(json_object_get(s, "enabled")));
	assert_true(th_jnull(s, "next_run_at"));
	json_decref(sl);
	sl = sched_list(cl, ans_id(ay, 4));
	assert_string_equal(th_jstr(sched_named(sl, "daily"), "cron_expr"), "@daily");
	json_decref(sl);
	json_t *m = get_mem(cl, ans_id(ay, 0), "config");
	json_t *want = json_loads("{\"depth\":3,\"tags\":[\"a\",\"b\"],\"nested\":{\"x\":null,\"y\":true}}", 0, NULL);
	assert_json_equal(want, json_object_get(m, "value"), "config");
	json_decref(want);
	json_decref(m);
	m = get_mem(cl, ans_id(ay, 0), "list");
	want = json_loads("[1,\"two\",3.5,false]", 0, NULL);
	assert_json_equal(want, json_object_get(m, "value"), "list");
	json_decref(want);
	json_decref(m);
	m = get_mem(cl, ans_id(ay, 0), "count");
	assert_true(json_is_integer(json_object_get(m, "value")));
	assert_int_equal(th_jint(m, "value"), 42);
	json_decref(m);
	m = get_mem(cl, ans_id(ay, 0), "title");
	assert_string_equal(th_jstr(m, "value"), "Dr. \"Q\"");
	json_decref(m);
	m = get_mem(cl, ans_id(ay, 2), "empty");
	assert_true(th_jnull(m, "value"));
	json_decref(m);

	/* the YAML form where the JSON form was imported: everything reused, nothing changed */
	json_t *before = subtree_state(cl, pj);
	snprintf(q, sizeof q, "?parent_id=%s", pj);
	json_t *again = import_text_ok(cl, q, poly_yaml, "text/yaml; charset=utf-8", POLY_NODES);
	assert_int_equal(cnt(again, NULL, "created"), 0);
	assert_int_equal(cnt(again, NULL, "reused"), POLY_NODES);
	assert_int_equal(cnt(again, "schedules", "created"), 0);
	assert_int_equal(cnt(again, "schedules", "updated"), 0);
	assert_int_equal(cnt(again, "schedules", "unchanged"), POLY_SCHEDS);
	assert_int_equal(cnt(again, "memories", "kept"), POLY_MEMS);
	for (size_t i = 0; i < POLY_NODES; i++)
		assert_string_equal(ans_id(again, i), ans_id(aj, i));
	json_t *after = subtree_state(cl, pj);
	assert_json_equal(before, after, "the JSON-made tree after the YAML import");
	/* and application/x-yaml too */
	json_t *again2 = import_text_ok(cl, q, poly_yaml, "application/x-yaml", POLY_NODES);
	assert_int_equal(cnt(again2, NULL, "created"), 0);
	json_decref(again2);

	json_decref(before);
	json_decref(after);
	json_decref(again);
	json_decref(aj);
	json_decref(ay);
}

/* ---- 5. dry_run ------------------------------------------------------------------------ */

static json_t *dry_template(bool edited)
{
	json_t *t = tmpl_new("Dry");
	json_t *a = add_node(t, "Alpha");
	add_sched(a, "tick", edited ? "0 12 * * *" : "0 11 * * *", NULL, "tick");
	add_mem(a, "seed", json_string("alpha"));
	json_t *a1 = add_node(a, "Alpha One");
	add_sched(a1, "tock", "0 4 * * *", NULL, "tock");
	add_mem(a1, "seed", json_integer(1));
	json_t *a11 = add_node(a1, "Alpha One One");
	add_mem(a11, "seed", json_true());
	add_node(t, "Beta");
	if (edited)
		add_sched(add_node(a1, "Alpha One Two"), "new", "0 5 * * *", NULL, "new");
	return t;
}

static void test_dry_run(void **state)
{
	(void)state;
	char p[37], q[160];
	th_create_ws(cl, "dry-graft", NULL, p);
	json_t *t = dry_template(false);
	flat f = flat_of(t);

	snprintf(q, sizeof q, "?parent_id=%s&dry_run=true", p);
	json_t *before = all_workspaces(cl);
	json_t *d = import_ok(cl, q, t, NULL, p);
	assert_int_equal(cnt(d, NULL, "created"), 4);
	assert_int_equal(cnt(d, NULL, "reused"), 0);
	assert_int_equal(cnt(d, "schedules", "created"), 2);
	assert_int_equal(cnt(d, "memories", "created"), 3);
	for (size_t i = 0; i < f.n; i++) {
		assert_true(th_jnull(ans_ws(d, i), "id"));
		assert_true(json_is_true(json_object_get(ans_ws(d, i), "created")));
	}
	assert_string_equal(th_jstr(ans_ws(d, 0), "parent_id"), p); /* the graft parent is real */
	assert_true(th_jnull(ans_ws(d, 1), "parent_id"));
	json_t *after = all_workspaces(cl);
	assert_json_equal(before, after, "GET /workspaces after a dry run");
	json_decref(before);
	json_decref(after);

	/* the real import reports exactly what the dry run said */
	snprintf(q, sizeof q, "?parent_id=%s", p);
	json_t *a = import_ok(cl, q, t, NULL, p);
	static const char *const objs[] = {NULL, NULL, "schedules", "schedules", "schedules", "schedules", "memories",
					   "memories"};
	static const char *const keys[] = {"created", "reused", "created", "updated", "unchanged", "kept_runtime",
					   "created", "kept"};
	for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
		assert_int_equal(cnt(a, objs[k], keys[k]), cnt(d, objs[k], keys[k]));
	for (size_t i = 0; i < f.n; i++) {
		assert_string_equal(th_jstr(ans_ws(a, i), "path"), th_jstr(ans_ws(d, i), "path"));
		assert_true(json_is_true(json_object_get(ans_ws(a, i), "created")));
	}
	json_decref(d);

	/* on the existing tree: an edited template, dry — the counts, the real ids, nothing changed */
	json_t *state_before = subtree_state(cl, p);
	th_sleep_ms(5);
	json_t *t2 = dry_template(true);
	snprintf(q, sizeof q, "?parent_id=%s&dry_run=true", p);
	d = import_ok(cl, q, t2, NULL, p);
	/* pre-order: Alpha, Alpha One, Alpha One One, Alpha One Two (new), Beta */
	assert_int_equal(cnt(d, NULL, "created"), 1);
	assert_int_equal(cnt(d, NULL, "reused"), 4);
	assert_int_equal(cnt(d, "schedules", "created"), 1);
	assert_int_equal(cnt(d, "schedules", "updated"), 1);
	assert_int_equal(cnt(d, "schedules", "unchanged"), 1);
	assert_int_equal(cnt(d, "memories", "created"), 0);
	assert_int_equal(cnt(d, "memories", "kept"), 3);
	assert_string_equal(ans_id(d, 0), ans_id(a, 0));
	assert_string_equal(ans_id(d, 1), ans_id(a, 1));
	assert_string_equal(ans_id(d, 2), ans_id(a, 2));
	assert_true(th_jnull(ans_ws(d, 3), "id"));
	assert_string_equal(th_jstr(ans_ws(d, 3), "parent_id"), ans_id(a, 1));
	assert_string_equal(ans_id(d, 4), ans_id(a, 3));
	json_t *state_after = subtree_state(cl, p);
	assert_json_equal(state_before, state_after, "the tree after a dry run on it");
	json_decref(d);

	/* a dry run of what is already there: 200, nothing created */
	snprintf(q, sizeof q, "?parent_id=%s&dry_run=1", p);
	th_expect_error(post_import(cl, q, NULL, NULL), 400, "invalid_json");
	char *body = body_of(t, NULL);
	th_resp r = post_import(cl, q, body, NULL);
	assert_int_equal(r.status, 200);
	check_answer(r.json, f.n, true);
	assert_int_equal(cnt(r.json, NULL, "created"), 0);
	assert_int_equal(cnt(r.json, "schedules", "unchanged"), 2);
	th_resp_free(&r);
	free(body);
	/* dry_run=false is a real import; a bad dry_run value is 400 */
	snprintf(q, sizeof q, "?parent_id=%s&dry_run=maybe", p);
	body = body_of(t2, NULL);
	th_expect_error(post_import(cl, q, body, NULL), 400, NULL);
	json_t *state_after2 = subtree_state(cl, p);
	assert_json_equal(state_before, state_after2, "the tree after dry_run=maybe");
	free(body);

	json_decref(state_before);
	json_decref(state_after);
	json_decref(state_after2);
	json_decref(a);
	flat_free(&f);
	json_decref(t);
	json_decref(t2);
}

/* ---- 6. grafting with parent_id --------------------------------------------------------- */

static void test_graft_parent_id(void **state)
{
	(void)state;
	char p1[37], p2[37], p3[37], q[200];
	th_create_ws(cl, "graft-query", NULL, p1);
	th_create_ws(cl, "graft-body", NULL, p2);
	th_create_ws(cl, "graft-removed", NULL, p3);
	json_t *t = tmpl_new("Graft");
	add_node(add_node(t, "Top"), "Under");

	/* query */
	snprintf(q, sizeof q, "?parent_id=%s", p1);
	json_t *a = import_ok(cl, q, t, NULL, p1);
	assert_int_equal(cnt(a, NULL, "created"), 2);
	json_t *kids = children_of(cl, p1);
	assert_int_equal(json_array_size(kids), 1);
	assert_string_equal(th_jstr(json_array_get(kids, 0), "id"), ans_id(a, 0));
	json_decref(kids);
	/* body */
	json_t *b = import_ok(cl, NULL, t, p2, p2);
	assert_int_equal(cnt(b, NULL, "created"), 2);
	assert_string_not_equal(ans_id(b, 0), ans_id(a, 0));
	kids = children_of(cl, p2);
	assert_int_equal(json_array_size(kids), 1);
	assert_string_equal(th_jstr(json_array_get(kids, 0), "id"), ans_id(b, 0));
	json_decref(kids);
	/* both, agreeing */
	snprintf(q, sizeof q, "?parent_id=%s", p2);
	json_t *c = import_ok(cl, q, t, p2, p2);
	assert_int_equal(cnt(c, NULL, "created"), 0);
	assert_string_equal(ans_id(c, 0), ans_id(b, 0));
	assert_string_equal(ans_id(c, 1), ans_id(b, 1));
	json_decref(c);
	/* YAML with the wrapper and a parent_id */
	char *yaml = strf("parent_id: \"%s\"\ntemplate:\n  name: Graft\n  workspaces:\n    - name: Top\n"
			  "      children:\n        - name: Under\n        - name: Yamlist\n",
			  p2);
	c = import_text_ok(cl, NULL, yaml, "application/yaml", 3);
	assert_int_equal(cnt(c, NULL, "created"), 1);
	assert_string_equal(ans_id(c, 0), ans_id(b, 0));
	assert_string_equal(th_jstr(ans_ws(c, 2), "parent_id"), ans_id(b, 0));
	json_decref(c);
	free(yaml);

	/* a template that would create something, refused for its parent_id */
	json_t *t2 = tmpl_new("Graft");
	add_node(add_node(t2, "Top"), "Refused");
	add_node(t2, "Refused top");
	json_t *before = all_workspaces(cl);
	char *body = body_of(t2, p2);
	snprintf(q, sizeof q, "?parent_id=%s", p1);
	th_expect_error(post_import(cl, q, body, NULL), 400, NULL); /* query and body differ */
	free(body);
	body = body_of(t2, NULL);
	snprintf(q, sizeof q, "?parent_id=%s", ABSENT_ID);
	th_expect_error(post_import(cl, q, body, NULL), 404, "not_found");
	snprintf(q, sizeof q, "?parent_id=%s&dry_run=true", ABSENT_ID);
	th_expect_error(post_import(cl, q, body, NULL), 404, "not_found");
	th_expect_error(post_import(cl, "?parent_id=not-a-uuid", body, NULL), 400, "invalid_id");
	th_expect_error(post_import(cl, "?parent_id=", body, NULL), 400, NULL);
	free(body);
	body = body_of(t2, ABSENT_ID);
	th_expect_error(post_import(cl, NULL, body, NULL), 404, "not_found");
	free(body);
	body = body_of(t2, "01890000-0000-7000-8000-00000000000"); /* one digit short */
	th_expect_error(post_import(cl, NULL, body, NULL), 400, NULL);
	free(body);
	json_t *w = json_pack("{s:O, s:i}", "template", t2, "parent_id", 42);
	th_expect_error(th_send_json(cl, "POST", "/org/import", w), 400, NULL);
	/* a removed parent */
	snprintf(q, sizeof q, "/workspaces/%s", p3);
	th_resp r = th_req(cl, "DELETE", q, NULL, NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);
	json_t *mid = all_workspaces(cl);
	body = body_of(t2, NULL);
	snprintf(q, sizeof q, "?parent_id=%s", p3);
	th_expect_error(post_import(cl, q, body, NULL), 404, "not_found");
	free(body);
	body = body_of(t2, p3);
	th_expect_error(post_import(cl, NULL, body, NULL), 404, "not_found");
	free(body);
	json_t *after = all_workspaces(cl);
	assert_json_equal(mid, after, "GET /workspaces after refused grafts");
	/* before → mid differs only by p3's removal */
	assert_int_equal(json_array_size(before), json_array_size(mid));
	json_t *gone = find_id(after, p3);
	assert_string_equal(th_jstr(gone, "status"), "removed");
	json_t *none = children_of(cl, p3);
	assert_int_equal(json_array_size(none), 0);
	json_decref(none);

	json_decref(before);
	json_decref(mid);
	json_decref(after);
	json_decref(a);
	json_decref(b);
	json_decref(t);
	json_decref(t2);
}

/* ---- 7. limits and bad input ------------------------------------------------------------ */

static json_t *chain(int depth)
{
	json_t *t = tmpl_new("Deep");
	json_t *n = t;
	char name[16];
	for (int i = 1; i <= depth; i++) {
		snprintf(name, sizeof name, "L%d", i);
		n = add_node(n, name);
	}
	return t;
}

static void test_depth_limit(void **state)
{
	(void)state;
	char p32[37], p33[37], q[128];
	th_create_ws(cl, "depth-32", NULL, p32);
	th_create_ws(cl, "depth-33", NULL, p33);
	json_t *t = chain(33);
	char *body = body_of(t, NULL);
	char want[512] = "Deep";
	for (int i = 1; i <= 33; i++) {
		size_t len = strlen(want);
		snprintf(want + len, sizeof want - len, "/L%d", i);
	}
	snprintf(q, sizeof q, "?parent_id=%s", p33);
	expect_template_error(post_import(cl, q, body, NULL), 400, "invalid_template", want);
	json_t *kids = children_of(cl, p33);
	assert_int_equal(json_array_size(kids), 0);
	json_decref(kids);
	free(body);
	json_decref(t);

	t = chain(32);
	snprintf(q, sizeof q, "?parent_id=%s", p32);
	json_t *a = import_ok(cl, q, t, NULL, p32);
	assert_int_equal(cnt(a, NULL, "created"), 32);
	json_t *all = json_array();
	assert_int_equal(walk(cl, p32, all), 32);
	json_decref(all);
	json_decref(a);
	json_decref(t);
}

/* 100 teams × 99 agents = 10,000 nodes (+ extra top-level ones). */
static json_t *wide(int extra)
{
	json_t *t = tmpl_new("Wide");
	char name[16];
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof name, "t%d", i);
		json_t *n = add_node(t, name);
		json_t *kids = json_array();
		for (int k = 0; k < 99; k++) {
			snprintf(name, sizeof name, "a%d", k);
			json_array_append_new(kids, json_pack("{s:s}", "name", name));
		}
		json_object_set_new(n, "children", kids);
	}
	for (int i = 0; i < extra; i++) {
		snprintf(name, sizeof name, "x%d", i);
		add_node(t, name);
	}
	return t;
}

static void test_node_limit(void **state)
{
	(void)state;
	char p[37], q[128];
	th_create_ws(cl, "wide", NULL, p);
	snprintf(q, sizeof q, "?parent_id=%s", p);
	json_t *t = wide(1);
	char *body = body_of(t, NULL);
	/* the path names the 10,001st node (pre-order) */
	expect_template_error(post_import(cl, q, body, NULL), 400, "invalid_template", "Wide/x0");
	json_t *kids = children_of(cl, p);
	assert_int_equal(json_array_size(kids), 0);
	json_decref(kids);
	free(body);
	json_decref(t);

	t = wide(0);
	body = body_of(t, NULL);
	long long t0 = th_now_us();
	json_t *a = import_text_ok(cl, q, body, NULL, 10000);
	fprintf(stderr, "10,000-node import: %lld ms\n", (th_now_us() - t0) / 1000);
	assert_int_equal(cnt(a, NULL, "created"), 10000);
	/* the tree: 100 under the graft, 99 under each */
	kids = children_of(cl, p);
	assert_int_equal(json_array_size(kids), 100);
	size_t total = 0;
	for (size_t i = 0; i < json_array_size(kids); i++) {
		json_t *sub = children_of(cl, th_jstr(json_array_get(kids, i), "id"));
		assert_int_equal(json_array_size(sub), 99);
		total += 1 + json_array_size(sub);
		json_decref(sub);
	}
	assert_int_equal(total, 10000);
	json_decref(kids);
	/* the answer: pre-order, so node 100 × k is team k */
	for (int k = 0; k < 100; k++) {
		char want[32];
		snprintf(want, sizeof want, "Wide/t%d", k);
		assert_string_equal(th_jstr(ans_ws(a, (size_t)k * 100), "path"), want);
	}
	json_decref(a);
	free(body);
	json_decref(t);
}

static void test_body_limits(void **state)
{
	(void)state;
	char p[37], q[128];
	th_create_ws(cl, "big-body", NULL, p);
	snprintf(q, sizeof q, "?parent_id=%s", p);
	/* a ~2 MB template: 8 prompts of 250,000 bytes */
	size_t plen = 250000;
	char *prompt = malloc(plen + 1);
	assert_non_null(prompt);
	for (size_t i = 0; i < plen; i++)
		prompt[i] = (char)('a' + i % 26);
	prompt[plen] = 0;
	json_t *t = tmpl_new("Big");
	json_t *n = add_node(t, "Verbose");
	for (int i = 0; i < 8; i++) {
		char name[16];
		snprintf(name, sizeof name, "p%d", i);
		add_sched(n, name, "0 3 * * *", NULL, prompt);
	}
	char *body = body_of(t, NULL);
	assert_true(strlen(body) > 2000000);
	json_t *a = import_text_ok(cl, q, body, NULL, 1);
	assert_int_equal(cnt(a, "schedules", "created"), 8);
	json_t *sl = sched_list(cl, ans_id(a, 0));
	assert_int_equal(json_array_size(sl), 8);
	assert_string_equal(th_jstr(json_array_get(sl, 0), "prompt"), prompt);
	json_decref(sl);
	json_decref(a);
	free(body);
	json_decref(t);
	/* while every other route keeps the 1 MiB limit */
	body = strf("{\"name\":\"too big\",\"role\":\"%s%s%s%s%s%s%s%s\"}", prompt, prompt, prompt, prompt, prompt,
		    prompt, prompt, prompt);
	th_expect_error(th_req(cl, "POST", "/workspaces", body, NULL), 413, "body_too_large");
	free(body);

	/* the default import limit is 32 MiB: a template padded to exactly that is read,
	 * one byte more is 413 (from Content-Length, before the body is read) */
	size_t lim = (size_t)32 << 20;
	char *pad = malloc(lim + 2);
	assert_non_null(pad);
	memset(pad, ' ', lim + 1);
	pad[lim + 1] = 0;
	char *tb = strf("{\"template\":{\"name\":\"Padded\",\"workspaces\":[{\"name\":\"p\"}]},\"parent_id\":\"%s\"}", p);
	memcpy(pad, tb, strlen(tb));
	free(tb);
	th_expect_error(post_import(cl, NULL, pad, NULL), 413, "body_too_large");
	json_t *none = children_of(cl, p);
	assert_int_equal(json_array_size(none), 1); /* only Verbose */
	json_decref(none);
	pad[lim] = 0;
	json_t *padded = import_text_ok(cl, NULL, pad, NULL, 1);
	assert_int_equal(cnt(padded, NULL, "created"), 1);
	json_decref(padded);
	free(pad);

	/* --max-import-body: over it 413 (nothing written), under it fine */
	th_server s;
	th_server_start(&s, small_import_args);
	th_client *c = th_client_new(&s);
	prompt[60000] = 0;
	t = tmpl_new("Limited");
	add_sched(add_node(t, "Small"), "p", "0 3 * * *", NULL, prompt);
	body = body_of(t, NULL);
	assert_true(strlen(body) < 65536);
	json_decref(import_text_ok(c, NULL, body, NULL, 1));
	free(body);
	json_decref(t);
	prompt[60000] = 'x';
	prompt[70000] = 0;
	t = tmpl_new("Limited");
	add_sched(add_node(t, "Too big"), "p", "0 3 * * *", NULL, prompt);
	body = body_of(t, NULL);
	assert_true(strlen(body) > 65536);
	th_expect_error(post_import(c, NULL, body, NULL), 413, "body_too_large");
	free(body);
	json_decref(t);
	json_t *roots = children_of(c, NULL);
	assert_int_equal(json_array_size(roots), 1);
	assert_string_equal(th_jstr(json_array_get(roots, 0), "name"), "Small");
	json_decref(roots);
	th_client_free(c);
	stop_clean(&s);
	free(prompt);
}

static void test_bad_input(void **state)
{
	(void)state;
	json_t *before = all_workspaces(cl);
	/* content types */
	th_expect_error(post_import(cl, NULL, "{\"name\":\"CT\",\"workspaces\":[{\"name\":\"x\"}]}", "text/plain"), 415,
			NULL);
	th_expect_error(post_import(cl, NULL, "<org name=\"CT\"/>", "application/xml"), 415, NULL);
	th_expect_error(post_import(cl, NULL, "name: CT\nworkspaces: [{name: x}]\n", "application/yamlish"), 415, NULL);
	/* unparsable bodies */
	th_expect_error(post_import(cl, NULL, "{\"template\":{\"name\":\"J\",", NULL), 400, "invalid_json");
	th_expect_error(post_import(cl, NULL, "", NULL), 400, "invalid_json");
	th_expect_error(post_import(cl, NULL, NULL, NULL), 400, "invalid_json");
	th_expect_error(post_import(cl, NULL, "{\"name\":\"J\",\"name\":\"K\",\"workspaces\":[]}", NULL), 400,
			"invalid_json"); /* duplicate keys, as every JSON body */
	th_expect_error(post_import(cl, NULL, "name: Y\nworkspaces: [{name: x}\n", "application/yaml"), 400,
			"invalid_yaml");
	th_expect_error(post_import(cl, NULL, "name: Y\n  workspaces:\n - name: x\n", "application/yaml"), 400,
			"invalid_yaml");
	th_expect_error(post_import(cl, NULL,
				    "base: &b {runtime: r}\nname: Y\ndefaults: *b\nworkspaces: [{name: x}]\n",
				    "application/yaml"),
			400, "invalid_yaml");
	th_expect_error(post_import(cl, NULL,
				    "name: Y\nworkspaces:\n  - &n {name: x}\n  - *n\n",
				    "application/x-yaml"),
			400, "invalid_yaml");
	th_expect_error(post_import(cl, NULL, "name: Y\nname: Z\nworkspaces: []\n", "application/yaml"), 400,
			"invalid_yaml");
	th_expect_error(post_import(cl, NULL, "name: Y\n---\nname: Z\n", "application/yaml"), 400, "invalid_yaml");
	th_expect_error(post_import(cl, NULL, "name: \"\xff\xfe\"\nworkspaces: []\n", "application/yaml"), 400,
			"invalid_yaml");
	/* well-formed, but not a template */
	expect_template_error(post_import(cl, NULL, "[1,2,3]", NULL), 400, "invalid_template", NULL);
	/* a bare JSON scalar: the server's JSON bodies are objects or arrays, so either code */
	th_resp r = post_import(cl, NULL, "\"Acme\"", NULL);
	th_assert_error(&r, 400, NULL);
	if (strcmp(th_str(&r, "code"), "invalid_json") && strcmp(th_str(&r, "code"), "invalid_template"))
		fail_msg("a bare JSON string: %s", r.body);
	th_resp_free(&r);
	expect_template_error(post_import(cl, NULL, "{\"template\":5}", NULL), 400, "invalid_template", NULL);
	expect_template_error(post_import(cl, NULL, "- just\n- a list\n", "application/yaml"), 400, "invalid_template",
			      NULL);
	expect_template_error(post_import(cl, NULL, "", "application/yaml"), 400, "invalid_template", NULL);
	expect_template_error(post_import(cl, NULL, "{\"workspaces\":[{\"name\":\"x\"}]}", NULL), 400, "invalid_template",
			      NULL); /* no org name */
	expect_template_error(post_import(cl, NULL, "{\"name\":\"\",\"workspaces\":[{\"name\":\"x\"}]}", NULL), 400,
			      "invalid_template", NULL);
	expect_template_error(post_import(cl, NULL, "{\"name\":\"Shape\",\"workspaces\":{\"name\":\"x\"}}", NULL), 400,
			      "invalid_template", NULL);
	expect_template_error(post_import(cl, NULL, "{\"name\":\"Shape\",\"workspaces\":[{\"name\":\"ok\"},7]}", NULL),
			      400, "invalid_template", "Shape/[1]");
	expect_template_error(
		post_import(cl, NULL, "{\"name\":\"Shape\",\"workspaces\":[{\"name\":\"ok\",\"children\":[[]]}]}", NULL), 400,
		"invalid_template", "Shape/ok/[0]");
	expect_template_error(
		post_import(cl, NULL, "{\"name\":\"Shape\",\"workspaces\":[{\"name\":\"ok\",\"children\":{}}]}", NULL), 400,
		"invalid_template", "Shape/ok");
	expect_template_error(
		post_import(cl, NULL, "{\"name\":\"Shape\",\"workspaces\":[{\"name\":\"ok\",\"schedules\":[\"x\"]}]}", NULL),
		400, "invalid_template", "Shape/ok");
	expect_template_error(
		post_import(cl, NULL,
			    "{\"name\":\"Shape\",\"workspaces\":[{\"name\":\"ok\",\"initial_memories\":[{\"key\":\"k\"}]}]}",
			    NULL),
		400, "invalid_template", "Shape/ok"); /* a memory needs a value (null is one) */
	expect_template_error(post_import(cl, NULL,
					  "{\"name\":\"Shape\",\"workspaces\":[{\"name\":\"ok\",\"schedules\":["
					  "{\"name\":\"s\",\"cron_expr\":\"@daily\",\"prompt\":\"p\"},"
					  "{\"name\":\"s\",\"cron_expr\":\"@hourly\",\"prompt\":\"q\"}]}]}",
					  NULL),
			      400, "invalid_template", "Shape/ok"); /* schedule names unique per node */
	expect_template_error(post_import(cl, NULL,
					  "{\"name\":\"Shape\",\"workspaces\":[{\"name\":\"ok\",\"initial_memories\":["
					  "{\"key\":\"k\",\"value\":1},{\"key\":\"k\",\"value\":2}]}]}",
					  NULL),
			      400, "invalid_template", "Shape/ok"); /* memory keys unique per node */
	expect_template_error(
		post_import(cl, NULL, "{\"name\":\"Shape\",\"defaults\":{\"timezone\":\"Nowhere/Town\"},\"workspaces\":[]}",
			    NULL),
		400, "invalid_timezone", NULL);
	expect_template_error(post_import(cl, NULL, "{\"name\":\"Shape\",\"defaults\":{\"tier\":\"x\"},\"workspaces\":[]}",
					  NULL),
			      400, "invalid_template", NULL);
	/* YAML: the same errors name the same paths */
	expect_template_error(post_import(cl, NULL,
					  "name: Shape\nworkspaces:\n  - name: ok\n    children:\n      - name: \"\"\n",
					  "application/yaml"),
			      400, "invalid_template", "Shape/ok/[0]");
	expect_template_error(post_import(cl, NULL,
					  "name: Shape\nworkspaces:\n  - name: ok\n    schedules:\n"
					  "      - {name: s, cron_expr: \"* * *\", prompt: p}\n",
					  "application/yaml"),
			      400, "invalid_cron", "Shape/ok");
	json_t *after = all_workspaces(cl);
	assert_json_equal(before, after, "GET /workspaces after refused imports");
	json_decref(before);
	json_decref(after);
}

/* ---- 8. defaults ------------------------------------------------------------------------ */

/* Cost bounds: a body of millions of tiny values is refused on its text, before a tree is
 * built (JSON and YAML); an initial memory larger than the memory API could ever write
 * back is refused; nothing is written either way. */
static void test_value_limits(void **state)
{
	(void)state;
	json_t *before = th_get_ok(cl, "/workspaces?limit=1000");
	/* 1,200,000 empty nodes in 2.4 MB */
	size_t n = 1200000, len = 0;
	char *body = malloc(40 + 3 * n);
	assert_non_null(body);
	len += (size_t)sprintf(body, "{\"name\":\"Flood\",\"workspaces\":[");
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(body + len, i ? ",{}" : "{}");
	len += (size_t)sprintf(body + len, "]}");
	th_resp r = post_import(cl, NULL, body, NULL);
	th_assert_error(&r, 400, "invalid_template");
	assert_non_null(strstr(th_str(&r, "error"), "more than"));
	th_resp_free(&r);
	/* the same as YAML flow: "workspaces: [{}, {}, …]" */
	len = (size_t)sprintf(body, "name: Flood\nworkspaces: [");
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(body + len, i ? ",{}" : "{}");
	len += (size_t)sprintf(body + len, "]\n");
	r = post_import(cl, NULL, body, "application/yaml");
	th_assert_error(&r, 400, "invalid_yaml");
	assert_non_null(strstr(th_str(&r, "error"), "more than"));
	th_resp_free(&r);
	free(body);
	/* an initial memory of 1,000,001 bytes as JSON */
	size_t vlen = 999999; /* + 2 quotes */
	char *v = malloc(vlen + 1);
	assert_non_null(v);
	memset(v, 'x', vlen);
	v[vlen] = 0;
	json_t *t = tmpl_new("BigMemory");
	json_t *node = add_node(t, "Holder");
	add_mem(node, "blob", json_string(v));
	char *text = body_of(t, NULL);
	r = post_import(cl, NULL, text, NULL);
	th_assert_error(&r, 400, "invalid_template");
	assert_string_equal(th_str(&r, "path"), "BigMemory/Holder");
	th_resp_free(&r);
	free(text);
	json_decref(t);
	free(v);
	json_t *after = th_get_ok(cl, "/workspaces?limit=1000");
	assert_true(json_equal(before, after));
	json_decref(before);
	json_decref(after);
}

static void test_defaults(void **state)
{
	(void)state;
	char p[37], q[128];
	th_create_ws(cl, "defaults-graft", NULL, p);
	snprintf(q, sizeof q, "?parent_id=%s", p);
	json_t *t = tmpl_new("Defaults");
	json_object_set_new(t, "defaults",
			    json_pack("{s:s, s:i, s:s, s:s, s:i, s:s}", "runtime", "claude-code", "tier", 3, "role", "agent",
				      "url", "https://hooks.example/agent", "max_concurrent_tasks", 4, "timezone",
				      "Asia/Tokyo"));
	json_t *plain = add_node(t, "Plain");
	add_sched(plain, "tokyo", "0 9 * * *", NULL, "in the default zone");
	add_sched(plain, "utc", "0 9 * * *", "UTC", "in its own zone");
	json_t *custom = add_node(t, "Custom");
	json_object_set_new(custom, "runtime", json_string("codex"));
	json_object_set_new(custom, "tier", json_integer(7));
	json_object_set_new(custom, "role", json_string("lead"));
	json_object_set_new(custom, "url", json_string("https://custom.example/x"));
	json_object_set_new(custom, "max_concurrent_tasks", json_integer(9));
	json_t *partial = add_node(custom, "Partial");
	json_object_set_new(partial, "runtime", json_string("gemini"));
	json_t *a = import_ok(cl, q, t, NULL, p);

	json_t *w = get_ws(cl, ans_id(a, 0));
	assert_string_equal(th_jstr(w, "runtime"), "claude-code");
	assert_int_equal(th_jint(w, "tier"), 3);
	assert_string_equal(th_jstr(w, "role"), "agent");
	assert_string_equal(th_jstr(w, "url"), "https://hooks.example/agent");
	assert_int_equal(th_jint(w, "max_concurrent_tasks"), 4);
	json_decref(w);
	w = get_ws(cl, ans_id(a, 1));
	assert_string_equal(th_jstr(w, "runtime"), "codex");
	assert_int_equal(th_jint(w, "tier"), 7);
	assert_string_equal(th_jstr(w, "role"), "lead");
	assert_string_equal(th_jstr(w, "url"), "https://custom.example/x");
	assert_int_equal(th_jint(w, "max_concurrent_tasks"), 9);
	json_decref(w);
	w = get_ws(cl, ans_id(a, 2)); /* its own runtime; the rest from defaults, not from Custom */
	assert_string_equal(th_jstr(w, "runtime"), "gemini");
	assert_int_equal(th_jint(w, "tier"), 3);
	assert_string_equal(th_jstr(w, "role"), "agent");
	assert_int_equal(th_jint(w, "max_concurrent_tasks"), 4);
	json_decref(w);
	json_t *sl = sched_list(cl, ans_id(a, 0));
	json_t *s = sched_named(sl, "tokyo");
	assert_string_equal(th_jstr(s, "timezone"), "Asia/Tokyo");
	assert_int_equal(utc_minute_of_day(th_jtime(s, "next_run_at")), 0); /* 09:00 JST = 00:00 UTC */
	s = sched_named(sl, "utc");
	assert_string_equal(th_jstr(s, "timezone"), "UTC");
	assert_int_equal(utc_minute_of_day(th_jtime(s, "next_run_at")), 9 * 60);
	json_decref(sl);
	json_decref(a);
	json_decref(t);

	/* no defaults: fields stay null, schedules are in UTC */
	t = tmpl_new("No defaults");
	add_sched(add_node(t, "Bare"), "s", "0 9 * * *", NULL, "p");
	a = import_ok(cl, q, t, NULL, p);
	w = get_ws(cl, ans_id(a, 0));
	assert_true(th_jnull(w, "runtime"));
	assert_true(th_jnull(w, "tier"));
	assert_true(th_jnull(w, "role"));
	assert_true(th_jnull(w, "url"));
	json_decref(w);
	sl = sched_list(cl, ans_id(a, 0));
	assert_string_equal(th_jstr(json_array_get(sl, 0), "timezone"), "UTC");
	json_decref(sl);
	json_decref(a);
	json_decref(t);
}

/* ---- 9. a removed node is replaced ---------------------------------------------------------- */

static void test_removed_node_replaced(void **state)
{
	(void)state;
	char p[37], q[128], path[128];
	th_create_ws(cl, "phoenix-graft", NULL, p);
	snprintf(q, sizeof q, "?parent_id=%s", p);
	json_t *t = tmpl_new("Phoenix");
	json_t *r0 = add_node(t, "R");
	json_t *x = add_node(r0, "X");
	add_sched(x, "x-daily", "0 2 * * *", NULL, "x");
	add_mem(x, "x-key", json_string("x"));
	add_node(add_node(x, "X1"), "X1a");
	add_node(r0, "Y");
	/* pre-order: R, X, X1, X1a, Y */
	json_t *a = import_ok(cl, q, t, NULL, p);
	assert_int_equal(cnt(a, NULL, "created"), 5);

	snprintf(path, sizeof path, "/workspaces/%s", ans_id(a, 1));
	th_expect_error(th_req(cl, "DELETE", path, NULL, NULL), 409, "confirmation_required");
	snprintf(path, sizeof path, "/workspaces/%s?confirm=true", ans_id(a, 1));
	th_resp r = th_req(cl, "DELETE", path, NULL, NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);

	json_t *b = import_ok(cl, q, t, NULL, p);
	assert_int_equal(cnt(b, NULL, "created"), 3);
	assert_int_equal(cnt(b, NULL, "reused"), 2);
	assert_int_equal(cnt(b, "schedules", "created"), 1);
	assert_int_equal(cnt(b, "memories", "created"), 1);
	static const bool created[5] = {false, true, true, true, false};
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(json_is_true(json_object_get(ans_ws(b, i), "created")), created[i]);
		if (created[i])
			assert_string_not_equal(ans_id(b, i), ans_id(a, i));
		else
			assert_string_equal(ans_id(b, i), ans_id(a, i));
	}
	json_t *old = get_ws(cl, ans_id(a, 1));
	assert_string_equal(th_jstr(old, "status"), "removed");
	json_decref(old);
	json_t *all = json_array();
	assert_int_equal(walk(cl, p, all), 5);
	for (size_t i = 0; i < 5; i++)
		assert_non_null(find_id(all, ans_id(b, i)));
	json_decref(all);
	json_t *sl = sched_list(cl, ans_id(b, 1));
	assert_int_equal(json_array_size(sl), 1);
	assert_true(json_is_true(json_object_get(json_array_get(sl, 0), "enabled")));
	json_decref(sl);
	json_t *m = get_mem(cl, ans_id(b, 1), "x-key");
	assert_int_equal(th_jint(m, "version"), 1);
	json_decref(m);

	json_t *c = import_ok(cl, q, t, NULL, p);
	assert_int_equal(cnt(c, NULL, "created"), 0);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(ans_id(c, i), ans_id(b, i));
	json_decref(c);
	json_decref(a);
	json_decref(b);
	json_decref(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_imports_make_one_tree),
		cmocka_unit_test(test_reimport_after_edit),
		cmocka_unit_test(test_bad_node_150_writes_nothing),
		cmocka_unit_test(test_yaml_and_json_same_tree),
		cmocka_unit_test(test_dry_run),
		cmocka_unit_test(test_graft_parent_id),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_node_limit),
		cmocka_unit_test(test_body_limits),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_value_limits),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_removed_node_replaced),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
