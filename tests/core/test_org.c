/*
 * test_org.c — cmocka unit tests of org templates (src/core/org.c) and YAML input
 * (src/core/yaml.c).
 *
 * What is tested:
 *   yaml   — scalar typing by the YAML 1.2 core schema (null/bool/int/float/string, quoted
 *            vs plain, `yes` and cron expressions stay strings), the standard tags, block
 *            and flow styles giving the same tree, an empty document, input that is not
 *            NUL-terminated, and every refusal with its exact line and column (anchor,
 *            alias, tag, second document, duplicate key, complex key, depth, int overflow,
 *            .inf/.nan, bytes that are not UTF-8, control characters, NUL escapes).
 *   parse  — a YAML template and the same template in JSON give identical plans (every
 *            node, schedule and memory field compared), and that plan's values one by one
 *            (pre-order, parents, depths, paths, defaults, next_run_at in the schedule's
 *            zone); the wrapper {template, parent_id} vs the bare template; defaults and
 *            their errors; every refusal with its code, path and message; the limits at
 *            their edges (depth 32 / 33, 10,000 / 10,001 nodes) and the parse time of a
 *            10,000-node template.
 *   merge  — co_org_sched_merge: runtime rows kept, unchanged rows untouched, a prompt
 *            change keeps the pending slot, timing changes recompute from now, disabling
 *            and re-enabling.
 *   answer — co_org_result_to_json for an import and a dry run, read back with jansson.
 *
 * Expected instants were computed with `date -u -d …`. Run under ASan/LSan, the refusals
 * also prove that nothing a failed parse allocated leaks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/core/buf.h"
#include "../../src/core/clock.h"
#include "../../src/core/err.h"
#include "../../src/core/id.h"
#include "../../src/core/org.h"
#include "../../src/core/schedule.h"
#include "../../src/core/validate.h"
#include "../../src/core/yaml.h"

/* ---- helpers -------------------------------------------------------------------- */

#define SEC 1000000LL
/* 2026-01-05T08:00:00Z, a Monday (`date -u -d 2026-01-05T08:00:00Z +%s`). */
#define NOW (1767600000LL * SEC)

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
	if (!j)
		fail_msg("bad test JSON '%s': %s", text, e.text);
	return j;
}

/* YAML that must parse (max depth as the import uses it). */
static json_t *Y(const char *text)
{
	json_t *j = (json_t *)1;
	int rc = co_yaml_to_json(text, strlen(text), CO_ORG_JSON_DEPTH_MAX, CO_ORG_MAX_VALUES, &j);
	if (rc != CO_OK)
		fail_msg("co_yaml_to_json(%s) = %d: %s", text, rc, co_err_msg());
	assert_non_null(j);
	return j;
}

/* YAML that must be refused with a message starting "YAML line L column C: " and
 * containing `want`. */
static void yaml_refused_n(const char *text, size_t len, int max_depth, int line, int col,
			   const char *want)
{
	json_t *j = (json_t *)1;
	int rc = co_yaml_to_json(text, len, max_depth, CO_ORG_MAX_VALUES, &j);
	if (rc != CO_EINVAL)
		fail_msg("co_yaml_to_json(%s) = %d, want CO_EINVAL", text, rc);
	assert_null(j);
	char prefix[64];
	snprintf(prefix, sizeof prefix, "YAML line %d column %d: ", line, col);
	const char *msg = co_err_msg();
	if (strncmp(msg, prefix, strlen(prefix)) != 0 || !strstr(msg, want))
		fail_msg("co_yaml_to_json(%s): message '%s', want '%s…%s…'", text, msg, prefix, want);
}

static void yaml_refused(const char *text, int line, int col, const char *want)
{
	yaml_refused_n(text, strlen(text), CO_ORG_JSON_DEPTH_MAX, line, col, want);
}

/* The member `key` of object o, which must exist. */
static json_t *M(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		fail_msg("member '%s' is missing", key);
	return v;
}

static void expect_str(json_t *o, const char *key, const char *want)
{
	json_t *v = M(o, key);
	if (!json_is_string(v))
		fail_msg("member '%s' is not a string", key);
	assert_string_equal(json_string_value(v), want);
}

static void expect_int(json_t *o, const char *key, json_int_t want)
{
	json_t *v = M(o, key);
	if (!json_is_integer(v))
		fail_msg("member '%s' is not an integer", key);
	assert_int_equal(json_integer_value(v), want);
}

static void expect_real(json_t *o, const char *key, double want)
{
	json_t *v = M(o, key);
	if (!json_is_real(v))
		fail_msg("member '%s' is not a real", key);
	assert_true(json_real_value(v) == want);
}

static void expect_type(json_t *o, const char *key, json_type t)
{
	if (json_typeof(M(o, key)) != t)
		fail_msg("member '%s' has type %d, want %d", key, json_typeof(M(o, key)), t);
}

/* A template that must parse into *p (doc is consumed). */
static void plan_of(json_t *doc, co_org_plan *p)
{
	co_org_error err = {0};
	int rc = co_org_parse(doc, NOW, p, &err);
	if (rc != CO_OK)
		fail_msg("co_org_parse = %d (%s, path %s): %s", rc, err.code ? err.code : "-",
			 err.path ? err.path : "(null)", co_err_msg());
	assert_null(err.path);
	co_org_error_clear(&err);
	json_decref(doc);
}

static bool plan_is_clear(const co_org_plan *p)
{
	return p->n == 0 && !p->nodes && !p->org && !p->has_parent && p->nschedules == 0 &&
	       p->nmemories == 0 && p->max_depth == 0;
}

/* A template (doc is consumed) that must be refused with `code`, err->path `path` (NULL:
 * the template itself) and a message containing `want`. Returns nothing; the plan must
 * come back cleared. */
static void org_refused(json_t *doc, const char *code, const char *path, const char *want)
{
	co_org_plan p;
	memset(&p, 0x5a, sizeof p); /* garbage in: must come back cleared */
	co_org_error err = {0};
	int rc = co_org_parse(doc, NOW, &p, &err);
	json_decref(doc);
	if (rc != CO_EINVAL)
		fail_msg("co_org_parse = %d, want CO_EINVAL (want message '%s')", rc, want);
	assert_true(plan_is_clear(&p));
	assert_non_null(err.code);
	if (strcmp(err.code, code) != 0)
		fail_msg("code '%s', want '%s' (message '%s')", err.code, code, co_err_msg());
	if (path) {
		if (!err.path || strcmp(err.path, path) != 0)
			fail_msg("path '%s', want '%s' (message '%s')", err.path ? err.path : "(null)",
				 path, co_err_msg());
	} else if (err.path) {
		fail_msg("path '%s', want none (message '%s')", err.path, co_err_msg());
	}
	if (!strstr(co_err_msg(), want))
		fail_msg("message '%s' does not contain '%s'", co_err_msg(), want);
	assert_true(strlen(co_err_msg()) < CO_ERR_MSG_MAX);
	co_org_error_clear(&err);
	assert_null(err.path);
	assert_null(err.code);
	co_org_plan_clear(&p);
}

/* A template {name: "Acme", workspaces: [node]} around one node given as JSON text. */
static json_t *one_node(const char *node_json)
{
	json_t *doc = J("{\"name\": \"Acme\"}");
	json_t *ws = json_array();
	json_array_append_new(ws, J(node_json));
	json_object_set_new(doc, "workspaces", ws);
	return doc;
}

static void expect_message(const char *want)
{
	if (strcmp(co_err_msg(), want) != 0)
		fail_msg("message '%s', want '%s'", co_err_msg(), want);
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Every field of two plans must be the same (ids and times apart from next_run_at are
 * not set by parsing and must be zero in both). */
static void expect_same_plan(const co_org_plan *a, const co_org_plan *b)
{
	assert_string_equal(a->org, b->org);
	assert_int_equal(a->has_parent, b->has_parent);
	assert_string_equal(a->parent_id.s, b->parent_id.s);
	assert_int_equal(a->now, b->now);
	assert_int_equal(a->n, b->n);
	assert_int_equal(a->nschedules, b->nschedules);
	assert_int_equal(a->nmemories, b->nmemories);
	assert_int_equal(a->max_depth, b->max_depth);
	for (size_t i = 0; i < a->n; i++) {
		const co_org_node *x = &a->nodes[i], *y = &b->nodes[i];
		assert_int_equal(x->parent, y->parent);
		assert_int_equal(x->depth, y->depth);
		assert_string_equal(x->path, y->path);
		const co_workspace *u = &x->ws, *v = &y->ws;
		assert_string_equal(u->id.s, "");
		assert_string_equal(v->id.s, "");
		assert_string_equal(u->name, v->name);
		assert_true(str_eq(u->role, v->role));
		assert_true(str_eq(u->runtime, v->runtime));
		assert_true(str_eq(u->url, v->url));
		assert_int_equal(u->has_tier, v->has_tier);
		assert_int_equal(u->tier, v->tier);
		assert_int_equal(u->has_max_tasks, v->has_max_tasks);
		assert_int_equal(u->max_concurrent_tasks, v->max_concurrent_tasks);
		assert_int_equal(u->status, v->status);
		assert_int_equal(u->has_parent, v->has_parent);
		assert_int_equal(u->created_at, v->created_at);
		assert_int_equal(x->nschedules, y->nschedules);
		for (size_t j = 0; j < x->nschedules; j++) {
			const co_schedule *s = &x->schedules[j], *t = &y->schedules[j];
			assert_string_equal(s->name, t->name);
			assert_string_equal(s->cron_expr, t->cron_expr);
			assert_string_equal(s->timezone, t->timezone);
			assert_string_equal(s->prompt, t->prompt);
			assert_int_equal(s->enabled, t->enabled);
			assert_int_equal(s->source, t->source);
			assert_int_equal(s->next_run_at, t->next_run_at);
			assert_int_equal(s->run_count, t->run_count);
			assert_string_equal(s->id.s, t->id.s);
		}
		assert_int_equal(x->nmemories, y->nmemories);
		for (size_t j = 0; j < x->nmemories; j++) {
			assert_string_equal(x->memories[j].key, y->memories[j].key);
			assert_string_equal(x->memories[j].value_json, y->memories[j].value_json);
			assert_int_equal(x->memories[j].ttl_seconds, y->memories[j].ttl_seconds);
		}
	}
}

/* ---- yaml: scalars ------------------------------------------------------------------ */

static void test_yaml_scalar_typing(void **state)
{
	(void)state;
	json_t *j = Y("null_tilde: ~\n"
		      "null_word: null\n"
		      "null_cap: Null\n"
		      "null_upper: NULL\n"
		      "null_empty:\n"
		      "t1: true\n"
		      "t2: True\n"
		      "t3: TRUE\n"
		      "f1: false\n"
		      "f2: False\n"
		      "f3: FALSE\n"
		      "yes_word: yes\n"
		      "no_word: no\n"
		      "on_word: on\n"
		      "off_word: off\n"
		      "mixed_bool: tRUE\n"
		      "int: 42\n"
		      "neg: -17\n"
		      "plus: +7\n"
		      "zero: 0\n"
		      "neg_zero: -0\n"
		      "leading_zero: 017\n"
		      "hex: 0x1F\n"
		      "oct: 0o17\n"
		      "hex_bad: 0x1G\n"
		      "oct_bad: 0o8\n"
		      "neg_hex: -0x1\n"
		      "max: 9223372036854775807\n"
		      "min: -9223372036854775808\n"
		      "hex_max: 0x7fffffffffffffff\n"
		      "float: 1.5\n"
		      "exp: -2.5e3\n"
		      "exp_int: 1e3\n"
		      "dot: .5\n"
		      "trail: 5.\n"
		      "tiny: 1e-400\n"
		      "cron: 0 9 * * 1-5\n"
		      "clock: 12:30\n"
		      "date: 2026-01-05\n"
		      "version: 1.2.3\n"
		      "words: hello world\n"
		      "inf_word: inf\n"
		      "nan_word: nan\n");
	expect_type(j, "null_tilde", JSON_NULL);
	expect_type(j, "null_word", JSON_NULL);
	expect_type(j, "null_cap", JSON_NULL);
	expect_type(j, "null_upper", JSON_NULL);
	expect_type(j, "null_empty", JSON_NULL);
	expect_type(j, "t1", JSON_TRUE);
	expect_type(j, "t2", JSON_TRUE);
	expect_type(j, "t3", JSON_TRUE);
	expect_type(j, "f1", JSON_FALSE);
	expect_type(j, "f2", JSON_FALSE);
	expect_type(j, "f3", JSON_FALSE);
	expect_str(j, "yes_word", "yes");
	expect_str(j, "no_word", "no");
	expect_str(j, "on_word", "on");
	expect_str(j, "off_word", "off");
	expect_str(j, "mixed_bool", "tRUE");
	expect_int(j, "int", 42);
	expect_int(j, "neg", -17);
	expect_int(j, "plus", 7);
	expect_int(j, "zero", 0);
	expect_int(j, "neg_zero", 0);
	expect_int(j, "leading_zero", 17); /* 1.2: decimal, not 1.1's octal */
	expect_int(j, "hex", 31);
	expect_int(j, "oct", 15);
	expect_str(j, "hex_bad", "0x1G");
	expect_str(j, "oct_bad", "0o8");
	expect_str(j, "neg_hex", "-0x1");
	expect_int(j, "max", INT64_MAX);
	expect_int(j, "min", INT64_MIN);
	expect_int(j, "hex_max", INT64_MAX);
	expect_real(j, "float", 1.5);
	expect_real(j, "exp", -2500.0);
	expect_real(j, "exp_int", 1000.0);
	expect_real(j, "dot", 0.5);
	expect_real(j, "trail", 5.0);
	expect_real(j, "tiny", 0.0);
	expect_str(j, "cron", "0 9 * * 1-5");
	expect_str(j, "clock", "12:30");
	expect_str(j, "date", "2026-01-05");
	expect_str(j, "version", "1.2.3");
	expect_str(j, "words", "hello world");
	expect_str(j, "inf_word", "inf");
	expect_str(j, "nan_word", "nan");
	assert_int_equal(json_object_size(j), 43);
	json_decref(j);
}

static void test_yaml_quoted_and_block_scalars(void **state)
{
	(void)state;
	json_t *j = Y("q_true: \"true\"\n"
		      "q_int: '42'\n"
		      "q_null: \"null\"\n"
		      "q_tilde: '~'\n"
		      "q_empty: \"\"\n"
		      "q_float: \"1.5\"\n"
		      "q_inf: '.inf'\n"
		      "q_big: \"99999999999999999999\"\n"
		      "escapes: \"tab\\tnl\\nq\\\"u\\u00e9\"\n"
		      "single: 'it''s'\n"
		      "colon: \"a: b\"\n"
		      "unicode: Ünïcödé ✓\n"
		      "literal: |\n"
		      "  line 1\n"
		      "  line 2\n"
		      "folded: >\n"
		      "  a\n"
		      "  b\n"
		      "strip: |-\n"
		      "  x\n"
		      "block_int: |\n"
		      "  42\n");
	expect_str(j, "q_true", "true");
	expect_str(j, "q_int", "42");
	expect_str(j, "q_null", "null");
	expect_str(j, "q_tilde", "~");
	expect_str(j, "q_empty", "");
	expect_str(j, "q_float", "1.5");
	expect_str(j, "q_inf", ".inf");
	expect_str(j, "q_big", "99999999999999999999");
	expect_str(j, "escapes", "tab\tnl\nq\"u\xc3\xa9");
	expect_str(j, "single", "it's");
	expect_str(j, "colon", "a: b");
	expect_str(j, "unicode", "Ünïcödé ✓");
	expect_str(j, "literal", "line 1\nline 2\n");
	expect_str(j, "folded", "a b\n");
	expect_str(j, "strip", "x");
	expect_str(j, "block_int", "42\n");
	json_decref(j);
}

static void test_yaml_standard_tags(void **state)
{
	(void)state;
	json_t *j = Y("s: !!str 12\n"
		      "sb: !!str true\n"
		      "i: !!int \"12\"\n"
		      "ih: !!int '0x10'\n"
		      "f: !!float 1\n"
		      "f2: !!float \"2.5\"\n"
		      "b: !!bool \"false\"\n"
		      "n: !!null ''\n"
		      "m: !!map {a: 1}\n"
		      "q: !!seq [1]\n"
		      "!!str k: v\n");
	expect_str(j, "s", "12");
	expect_str(j, "sb", "true");
	expect_int(j, "i", 12);
	expect_int(j, "ih", 16);
	expect_real(j, "f", 1.0);
	expect_real(j, "f2", 2.5);
	expect_type(j, "b", JSON_FALSE);
	expect_type(j, "n", JSON_NULL);
	expect_int(M(j, "m"), "a", 1);
	assert_int_equal(json_array_size(M(j, "q")), 1);
	expect_str(j, "k", "v");
	json_decref(j);

	yaml_refused("a: !!int 1.5\n", 1, 4, "!!int value \"1.5\" is not an integer");
	yaml_refused("a: !!int x\n", 1, 4, "not an integer");
	yaml_refused("a: !!bool yes\n", 1, 4, "!!bool value \"yes\" is not true or false");
	yaml_refused("a: !!null x\n", 1, 4, "!!null value \"x\" is not null");
	yaml_refused("a: !!float abc\n", 1, 4, "!!float value \"abc\" is not a number");
	yaml_refused("a: !!float .nan\n", 1, 4, "not finite");
	yaml_refused("a: !!int \"99999999999999999999\"\n", 1, 4, "outside the 64-bit range");
	yaml_refused("a: !!binary aGk=\n", 1, 4, "tag !!binary is not allowed on a scalar");
	yaml_refused("a: !!timestamp 2026-01-05\n", 1, 4, "tag !!timestamp is not allowed");
	yaml_refused("!!seq {a: 1}\n", 1, 1, "tag !!seq is not allowed on a mapping");
	yaml_refused("a: !!map [1]\n", 1, 4, "tag !!map is not allowed on a sequence");
	yaml_refused("a: !!seq x\n", 1, 4, "tag !!seq is not allowed on a scalar");
	yaml_refused("!!int 1: a\n", 1, 1, "mapping keys must be strings, not !!int");
}

/* ---- yaml: structure ----------------------------------------------------------------- */

static void test_yaml_block_and_flow_agree(void **state)
{
	(void)state;
	json_t *block = Y("name: Acme\n"
			  "list:\n"
			  "  - 1\n"
			  "  - two\n"
			  "  - [3, 4]\n"
			  "  - k: v\n"
			  "    k2: [x]\n"
			  "empty_map: {}\n"
			  "empty_seq: []\n"
			  "nested:\n"
			  "  a:\n"
			  "    b:\n"
			  "      c: deep\n");
	json_t *flow = Y("{name: Acme, list: [1, two, [3, 4], {k: v, k2: [x]}], empty_map: {},\n"
			 " empty_seq: [], nested: {a: {b: {c: deep}}}}");
	json_t *want = J("{\"name\":\"Acme\",\"list\":[1,\"two\",[3,4],{\"k\":\"v\",\"k2\":[\"x\"]}],"
			 "\"empty_map\":{},\"empty_seq\":[],\"nested\":{\"a\":{\"b\":{\"c\":\"deep\"}}}}");
	assert_true(json_equal(block, want));
	assert_true(json_equal(flow, want));
	json_decref(block);
	json_decref(flow);
	json_decref(want);

	/* a top-level sequence, a top-level scalar, comments, an explicit document */
	json_t *seq = Y("# a comment\n- a\n- 1 # trailing\n");
	json_t *want_seq = J("[\"a\", 1]");
	assert_true(json_equal(seq, want_seq));
	json_decref(seq);
	json_decref(want_seq);
	json_t *scalar = Y("--- 5\n...\n");
	assert_true(json_is_integer(scalar) && json_integer_value(scalar) == 5);
	json_decref(scalar);
}

static void test_yaml_empty_document(void **state)
{
	(void)state;
	const char *empties[] = {"", "---\n", "# only a comment\n", "   \n\n", "---\n...\n"};
	for (size_t i = 0; i < sizeof empties / sizeof *empties; i++) {
		json_t *j = Y(empties[i]);
		if (!json_is_null(j))
			fail_msg("'%s' did not give null", empties[i]);
		json_decref(j);
	}
	json_t *j = (json_t *)1;
	assert_int_equal(co_yaml_to_json(NULL, 0, 8, 100, &j), CO_OK);
	assert_true(json_is_null(j));
	json_decref(j);
}

static void test_yaml_length_not_nul(void **state)
{
	(void)state;
	const char text[] = "a: 1\nb: 2\n"; /* only "a: 1" is given */
	json_t *j;
	assert_int_equal(co_yaml_to_json(text, 4, 8, 100, &j), CO_OK);
	json_t *want = J("{\"a\": 1}");
	assert_true(json_equal(j, want));
	json_decref(j);
	json_decref(want);
	/* a UTF-8 byte order mark is allowed */
	assert_int_equal(co_yaml_to_json("\xef\xbb\xbf" "a: x", 7, 8, 100, &j), CO_OK);
	expect_str(j, "a", "x");
	json_decref(j);
}

static void test_yaml_refusals(void **state)
{
	(void)state;
	yaml_refused("a: &x 1\n", 1, 4, "anchors (&x) are not allowed");
	yaml_refused("a: &x [1]\n", 1, 4, "anchors (&x) are not allowed");
	yaml_refused("&m {a: 1}\n", 1, 1, "anchors (&m) are not allowed");
	yaml_refused("a: 1\nb: *x\n", 2, 4, "aliases (*x) are not allowed");
	yaml_refused("a: !foo x\n", 1, 4, "tag !foo is not allowed on a scalar");
	yaml_refused("a: ! x\n", 1, 4, "tag ! is not allowed");
	yaml_refused("a: !foo [1]\n", 1, 4, "tag !foo is not allowed on a sequence");
	yaml_refused("a: 1\n---\nb: 2\n", 2, 1, "only one document is allowed");
	yaml_refused("--- 1\n--- 2\n", 2, 1, "only one document is allowed");
	yaml_refused("a: 1\nb: 2\na: 3\n", 3, 1, "duplicate key \"a\"");
	yaml_refused("{x: 1, x: 2}", 1, 8, "duplicate key \"x\"");
	yaml_refused("a:\n  b: 1\n  'b': 2\n", 3, 3, "duplicate key \"b\"");
	yaml_refused("? [a, b]\n: 1\n", 1, 3, "mapping keys must be scalars, not sequences");
	yaml_refused("? {a: 1}\n: 1\n", 1, 3, "mapping keys must be scalars, not mappings");
	yaml_refused("{[a]: 1}", 1, 2, "mapping keys must be scalars");
	yaml_refused("a: 9223372036854775808\n", 1, 4,
		     "integer 9223372036854775808 is outside the 64-bit range");
	yaml_refused("a: -9223372036854775809\n", 1, 4, "outside the 64-bit range");
	yaml_refused("a: 0x8000000000000000\n", 1, 4, "outside the 64-bit range");
	yaml_refused("a: 0o1000000000000000000000\n", 1, 4, "outside the 64-bit range");
	yaml_refused("a: [1, 99999999999999999999999999999999999999999]\n", 1, 8,
		     "outside the 64-bit range");
	yaml_refused("a: .inf\n", 1, 4, "number .inf is not finite");
	yaml_refused("a: -.Inf\n", 1, 4, "not finite");
	yaml_refused("a: +.INF\n", 1, 4, "not finite");
	yaml_refused("a: .nan\n", 1, 4, "not finite");
	yaml_refused("a: .NaN\n", 1, 4, "not finite");
	yaml_refused("a: 1e400\n", 1, 4, "not finite");
	yaml_refused("a: b\xff\n", 1, 5, "not valid UTF-8");
	/* libyaml points at the byte that breaks the sequence: '(' where a continuation
	 * byte should follow 0xC3 */
	yaml_refused("a: 1\nb: x\xc3\x28\n", 2, 6, "invalid trailing UTF-8 octet (#28)");
	yaml_refused("a: \xed\xa0\x80\n", 1, 4, "not valid UTF-8"); /* a surrogate */
	yaml_refused("a: \xc0\xaf\n", 1, 4, "not valid UTF-8");     /* overlong '/' */
	yaml_refused_n("\xff\xfe" "a\0:\0 \0001\0", 10, 8, 1, 1, "not valid UTF-8"); /* UTF-16 */
	yaml_refused("a: \x01\n", 1, 4, "control characters are not allowed");
	yaml_refused_n("a: 1\0", 5, 8, 1, 5, "control characters are not allowed");
	yaml_refused("a: \"x\\0y\"\n", 1, 4, "NUL");
	yaml_refused("a: \"\\ud800\"\n", 1, 7, "invalid Unicode character escape");
	yaml_refused("a: [1, 2\n", 2, 1, "did not find expected ',' or ']'");
	yaml_refused("a: b: c\n", 1, 5, "mapping values are not allowed");
	yaml_refused("a: 1\n b: 2\n", 2, 3, "mapping values are not allowed");
}

static void test_yaml_depth(void **state)
{
	(void)state;
	char buf[512];
	for (int max = 1; max <= 100; max += 33) {
		/* exactly max levels of flow sequences: accepted */
		int n = 0;
		for (int i = 0; i < max; i++)
			buf[n++] = '[';
		for (int i = 0; i < max; i++)
			buf[n++] = ']';
		json_t *j = NULL;
		assert_int_equal(co_yaml_to_json(buf, (size_t)n, max, CO_ORG_MAX_VALUES, &j), CO_OK);
		assert_true(json_is_array(j));
		json_decref(j);
		/* one more: refused where the extra level opens */
		n = 0;
		for (int i = 0; i <= max; i++)
			buf[n++] = '[';
		for (int i = 0; i <= max; i++)
			buf[n++] = ']';
		char want[64];
		snprintf(want, sizeof want, "nesting deeper than %d levels", max);
		yaml_refused_n(buf, (size_t)n, max, 1, max + 1, want);
	}
	/* block mappings count the same way */
	const char *three = "a:\n  b:\n    c: 1\n";
	json_t *j = NULL;
	/* the values cap: 3 values pass with a cap of 3, not with 2 */
	assert_int_equal(co_yaml_to_json("[1, 2]", 6, 8, 3, &j), CO_OK);
	json_decref(j);
	j = NULL;
	assert_int_equal(co_yaml_to_json("[1, 2]", 6, 8, 2, &j), CO_EINVAL);
	assert_null(j);
	assert_non_null(strstr(co_err_msg(), "more than 2 values"));
	assert_int_equal(co_yaml_to_json(three, strlen(three), 3, 100, &j), CO_OK);
	json_decref(j);
	yaml_refused_n(three, strlen(three), 2, 3, 5, "nesting deeper than 2 levels");
	/* depth 0 allows a scalar only */
	assert_int_equal(co_yaml_to_json("x", 1, 0, 100, &j), CO_OK);
	assert_true(json_is_string(j));
	assert_string_equal(json_string_value(j), "x");
	json_decref(j);
	yaml_refused_n("[]", 2, 0, 1, 1, "nesting deeper than 0 levels");
	/* a huge nesting is refused early, without recursion */
	size_t big = 200000;
	char *deep = malloc(big);
	memset(deep, '[', big);
	yaml_refused_n(deep, big, CO_ORG_JSON_DEPTH_MAX, 1, CO_ORG_JSON_DEPTH_MAX + 1,
		       "nesting deeper than");
	for (size_t i = 0; i < big; i += 2)
		memcpy(deep + i, "- ", 2); /* "- - - - …" block sequences */
	yaml_refused_n(deep, big, 64, 1, 2 * 64 + 1, "nesting deeper than 64 levels");
	free(deep);
}

/* ---- org: the template read into a plan ----------------------------------------------- */

static const char *yaml_template =
	"name: Acme\n"
	"defaults:\n"
	"  runtime: claude-code\n"
	"  tier: 2\n"
	"  timezone: Europe/Berlin\n"
	"workspaces:\n"
	"  - name: Engineering\n"
	"    role: lead\n"
	"    url: https://eng.example.com/hook\n"
	"    max_concurrent_tasks: 4\n"
	"    unknown_field: [ignored]\n"
	"    schedules:\n"
	"      - name: standup\n"
	"        cron_expr: 0 9 * * 1-5\n"
	"        prompt: Run the standup.\n"
	"      - name: weekly\n"
	"        cron_expr: \"@weekly\"\n"
	"        timezone: UTC\n"
	"        prompt: |\n"
	"          Write the weekly report.\n"
	"        enabled: false\n"
	"    initial_memories:\n"
	"      - key: conventions\n"
	"        value: {style: tabs, max_line: 100, tags: [c, \"17\"], ok: true, none: null}\n"
	"      - key: counter\n"
	"        value: 0\n"
	"        ttl_seconds: 3600\n"
	"    children:\n"
	"      - name: Dev Lead\n"
	"        runtime: codex\n"
	"        tier: 3\n"
	"        children:\n"
	"          - name: Dev 1\n"
	"          - name: Dev 2\n"
	"            role: reviewer\n"
	"            children:\n"
	"  - name: Ops\n"
	"    schedules:\n"
	"      - name: nightly\n"
	"        cron_expr: 30 2 * * *\n"
	"        timezone: America/New_York\n"
	"        prompt: \"Check: the backups\"\n";

static const char *json_template =
	"{\"name\": \"Acme\","
	" \"defaults\": {\"runtime\": \"claude-code\", \"tier\": 2, \"timezone\": \"Europe/Berlin\"},"
	" \"workspaces\": ["
	"  {\"name\": \"Engineering\", \"role\": \"lead\", \"url\": \"https://eng.example.com/hook\","
	"   \"max_concurrent_tasks\": 4, \"unknown_field\": [\"ignored\"],"
	"   \"schedules\": ["
	"    {\"name\": \"standup\", \"cron_expr\": \"0 9 * * 1-5\", \"prompt\": \"Run the standup.\"},"
	"    {\"name\": \"weekly\", \"cron_expr\": \"@weekly\", \"timezone\": \"UTC\","
	"     \"prompt\": \"Write the weekly report.\\n\", \"enabled\": false}],"
	"   \"initial_memories\": ["
	"    {\"key\": \"conventions\", \"value\": {\"style\": \"tabs\", \"max_line\": 100,"
	"     \"tags\": [\"c\", \"17\"], \"ok\": true, \"none\": null}},"
	"    {\"key\": \"counter\", \"value\": 0, \"ttl_seconds\": 3600}],"
	"   \"children\": ["
	"    {\"name\": \"Dev Lead\", \"runtime\": \"codex\", \"tier\": 3, \"children\": ["
	"      {\"name\": \"Dev 1\"},"
	"      {\"name\": \"Dev 2\", \"role\": \"reviewer\", \"children\": null}]}]},"
	"  {\"name\": \"Ops\", \"schedules\": ["
	"    {\"name\": \"nightly\", \"cron_expr\": \"30 2 * * *\", \"timezone\": \"America/New_York\","
	"     \"prompt\": \"Check: the backups\"}]}]}";

static void test_org_yaml_and_json_same_plan(void **state)
{
	(void)state;
	co_org_plan py, pj;
	plan_of(Y(yaml_template), &py);
	plan_of(J(json_template), &pj);
	expect_same_plan(&py, &pj);

	/* and the plan is what the template says */
	const co_org_plan *p = &pj;
	assert_string_equal(p->org, "Acme");
	assert_false(p->has_parent);
	assert_int_equal(p->now, NOW);
	assert_int_equal(p->n, 5);
	assert_int_equal(p->nschedules, 3);
	assert_int_equal(p->nmemories, 2);
	assert_int_equal(p->max_depth, 3);
	const char *paths[] = {"Acme/Engineering", "Acme/Engineering/Dev Lead",
			       "Acme/Engineering/Dev Lead/Dev 1", "Acme/Engineering/Dev Lead/Dev 2",
			       "Acme/Ops"};
	const int parents[] = {-1, 0, 1, 1, -1}, depths[] = {1, 2, 3, 3, 1};
	const char *names[] = {"Engineering", "Dev Lead", "Dev 1", "Dev 2", "Ops"};
	const char *runtimes[] = {"claude-code", "codex", "claude-code", "claude-code", "claude-code"};
	const char *roles[] = {"lead", NULL, NULL, "reviewer", NULL};
	const int64_t tiers[] = {2, 3, 2, 2, 2};
	for (int i = 0; i < 5; i++) {
		const co_org_node *n = &p->nodes[i];
		assert_string_equal(n->path, paths[i]);
		assert_int_equal(n->parent, parents[i]);
		assert_int_equal(n->depth, depths[i]);
		assert_string_equal(n->ws.name, names[i]);
		assert_string_equal(n->ws.runtime, runtimes[i]);
		assert_true(str_eq(n->ws.role, roles[i]));
		assert_true(n->ws.has_tier);
		assert_int_equal(n->ws.tier, tiers[i]);
		assert_int_equal(n->ws.status, CO_WS_PROVISIONING);
		assert_false(n->ws.has_parent);
		assert_int_equal(n->ws.has_max_tasks, i == 0);
		assert_true(str_eq(n->ws.url, i == 0 ? "https://eng.example.com/hook" : NULL));
	}
	assert_int_equal(p->nodes[0].ws.max_concurrent_tasks, 4);

	const co_org_node *eng = &p->nodes[0];
	assert_int_equal(eng->nschedules, 2);
	const co_schedule *s = &eng->schedules[0];
	assert_string_equal(s->name, "standup");
	assert_string_equal(s->cron_expr, "0 9 * * 1-5");
	assert_string_equal(s->timezone, "Europe/Berlin"); /* from defaults */
	assert_string_equal(s->prompt, "Run the standup.");
	assert_true(s->enabled);
	assert_int_equal(s->source, CO_SCHED_TEMPLATE);
	/* 09:00 in Berlin is 08:00Z, which is `now` itself: the next is Tuesday's
	 * (`date -u -d 2026-01-06T08:00:00Z +%s`) */
	assert_int_equal(s->next_run_at, 1767686400LL * SEC);
	s = &eng->schedules[1];
	assert_string_equal(s->name, "weekly");
	assert_string_equal(s->timezone, "UTC");
	assert_string_equal(s->prompt, "Write the weekly report.\n");
	assert_false(s->enabled);
	assert_int_equal(s->next_run_at, 0);
	assert_int_equal(s->source, CO_SCHED_TEMPLATE);
	assert_int_equal(eng->nmemories, 2);
	assert_string_equal(eng->memories[0].key, "conventions");
	assert_string_equal(eng->memories[0].value_json,
			    "{\"style\":\"tabs\",\"max_line\":100,\"tags\":[\"c\",\"17\"],\"ok\":true,"
			    "\"none\":null}");
	assert_int_equal(eng->memories[0].ttl_seconds, 0);
	assert_string_equal(eng->memories[1].key, "counter");
	assert_string_equal(eng->memories[1].value_json, "0");
	assert_int_equal(eng->memories[1].ttl_seconds, 3600);
	for (int i = 1; i < 4; i++) {
		assert_int_equal(p->nodes[i].nschedules, 0);
		assert_null(p->nodes[i].schedules);
		assert_int_equal(p->nodes[i].nmemories, 0);
	}
	const co_org_node *ops = &p->nodes[4];
	assert_int_equal(ops->nschedules, 1);
	assert_string_equal(ops->schedules[0].timezone, "America/New_York");
	/* 03:00 EST now; 02:30 EST on the 6th is 07:30Z */
	assert_int_equal(ops->schedules[0].next_run_at, (1767686400LL - 1800) * SEC);
	assert_string_equal(ops->schedules[0].prompt, "Check: the backups");

	co_org_plan_clear(&py);
	co_org_plan_clear(&pj);
	assert_true(plan_is_clear(&py));
	co_org_plan_clear(&py); /* clearing twice is harmless */
}

static void test_org_wrapper_and_parent(void **state)
{
	(void)state;
	const char *tmpl = "{\"name\": \"Acme\", \"workspaces\": [{\"name\": \"A\", \"children\": "
			   "[{\"name\": \"B\"}]}]}";
	co_org_plan bare, wrapped;
	plan_of(J(tmpl), &bare);
	json_t *w = json_object();
	json_object_set_new(w, "template", J(tmpl));
	plan_of(w, &wrapped);
	expect_same_plan(&bare, &wrapped);
	assert_false(wrapped.has_parent);
	co_org_plan_clear(&wrapped);

	/* parent_id: a UUID (either case), kept lowercased */
	w = json_pack("{s:o, s:s}", "template", J(tmpl), "parent_id",
		      "0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B");
	plan_of(w, &wrapped);
	assert_true(wrapped.has_parent);
	assert_string_equal(wrapped.parent_id.s, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
	assert_int_equal(wrapped.n, 2);
	assert_false(wrapped.nodes[0].ws.has_parent); /* the store sets the parent */
	co_org_plan_clear(&wrapped);

	/* parent_id null: no graft */
	w = json_pack("{s:o, s:n}", "template", J(tmpl), "parent_id");
	plan_of(w, &wrapped);
	assert_false(wrapped.has_parent);
	co_org_plan_clear(&wrapped);

	/* a bare template may carry parent_id at its top level too */
	w = J(tmpl);
	json_object_set_new(w, "parent_id", json_string("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"));
	plan_of(w, &wrapped);
	assert_true(wrapped.has_parent);
	assert_string_equal(wrapped.parent_id.s, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
	co_org_plan_clear(&wrapped);
	co_org_plan_clear(&bare);

	org_refused(json_pack("{s:o, s:s}", "template", J(tmpl), "parent_id", "nope"),
		    "invalid_template", NULL, "parent_id is not a valid UUID");
	org_refused(json_pack("{s:o, s:i}", "template", J(tmpl), "parent_id", 7),
		    "invalid_template", NULL, "parent_id must be a UUID string or null");
	org_refused(J("{\"template\": [1]}"), "invalid_template", NULL,
		    "template must be a JSON object");
	org_refused(J("{\"template\": {\"workspaces\": []}}"), "invalid_template", NULL,
		    "name is required");
	org_refused(J("[]"), "invalid_template", NULL, "the body must be a JSON object");
	org_refused(J("null"), "invalid_template", NULL, "the body must be a JSON object");
}

static void test_org_template_fields(void **state)
{
	(void)state;
	co_org_plan p;
	/* no workspaces at all (absent, null, empty): an empty plan */
	const char *empties[] = {"{\"name\": \"Acme\"}", "{\"name\": \"Acme\", \"workspaces\": null}",
				 "{\"name\": \"Acme\", \"workspaces\": [], \"defaults\": null}"};
	for (size_t i = 0; i < 3; i++) {
		plan_of(J(empties[i]), &p);
		assert_string_equal(p.org, "Acme");
		assert_int_equal(p.n, 0);
		assert_int_equal(p.max_depth, 0);
		co_org_plan_clear(&p);
	}
	org_refused(J("{\"workspaces\": []}"), "invalid_template", NULL, "name is required");
	org_refused(J("{\"name\": null}"), "invalid_template", NULL, "name is required");
	org_refused(J("{\"name\": 7}"), "invalid_template", NULL, "name must be a string");
	org_refused(J("{\"name\": \"\"}"), "invalid_template", NULL, "name must not be empty");
	org_refused(J("{\"name\": \"a\\nb\"}"), "invalid_template", NULL,
		    "name must not contain a line break");
	org_refused(J("{\"name\": \"Acme\", \"workspaces\": {}}"), "invalid_template", NULL,
		    "workspaces must be an array");
	org_refused(J("{\"name\": \"Acme\", \"workspaces\": \"x\"}"), "invalid_template", NULL,
		    "workspaces must be an array");
	org_refused(J("{\"name\": \"Acme\", \"defaults\": []}"), "invalid_template", NULL,
		    "defaults must be an object");
}

static void test_org_defaults(void **state)
{
	(void)state;
	co_org_plan p;
	plan_of(J("{\"name\": \"Acme\","
		  " \"defaults\": {\"role\": \"worker\", \"runtime\": \"rt\", \"tier\": 1,"
		  "  \"url\": \"http://d.example\", \"max_concurrent_tasks\": 2,"
		  "  \"timezone\": \"Asia/Tokyo\", \"name\": \"ignored\"},"
		  " \"workspaces\": ["
		  "  {\"name\": \"inherits\", \"schedules\": [{\"name\": \"s\", \"cron_expr\": \"0 0 * * *\","
		  "   \"prompt\": \"p\"}, {\"name\": \"t\", \"cron_expr\": \"0 0 * * *\","
		  "   \"prompt\": \"p\", \"timezone\": null}, {\"name\": \"u\","
		  "   \"cron_expr\": \"0 0 * * *\", \"prompt\": \"p\", \"timezone\": \"UTC\"}]},"
		  "  {\"name\": \"overrides\", \"role\": \"boss\", \"runtime\": \"other\", \"tier\": 0,"
		  "   \"url\": \"https://o.example\", \"max_concurrent_tasks\": 9},"
		  "  {\"name\": \"nulls\", \"role\": null, \"tier\": null}]}"),
		&p);
	assert_int_equal(p.n, 3);
	const co_workspace *w = &p.nodes[0].ws;
	assert_string_equal(w->name, "inherits");
	assert_string_equal(w->role, "worker");
	assert_string_equal(w->runtime, "rt");
	assert_string_equal(w->url, "http://d.example");
	assert_true(w->has_tier && w->tier == 1);
	assert_true(w->has_max_tasks && w->max_concurrent_tasks == 2);
	assert_string_equal(p.nodes[0].schedules[0].timezone, "Asia/Tokyo");
	assert_string_equal(p.nodes[0].schedules[1].timezone, "Asia/Tokyo");
	assert_string_equal(p.nodes[0].schedules[2].timezone, "UTC");
	/* midnight in Tokyo is 15:00Z: the next after 08:00Z is today's
	 * (`date -u -d 2026-01-05T15:00:00Z +%s` = 1767625200) */
	assert_int_equal(p.nodes[0].schedules[0].next_run_at, 1767625200LL * SEC);
	assert_int_equal(p.nodes[0].schedules[2].next_run_at, 1767657600LL * SEC);
	w = &p.nodes[1].ws;
	assert_string_equal(w->role, "boss");
	assert_string_equal(w->runtime, "other");
	assert_string_equal(w->url, "https://o.example");
	assert_true(w->has_tier && w->tier == 0);
	assert_true(w->has_max_tasks && w->max_concurrent_tasks == 9);
	/* a node's null is "not set": the default applies */
	w = &p.nodes[2].ws;
	assert_string_equal(w->role, "worker");
	assert_true(w->has_tier && w->tier == 1);
	co_org_plan_clear(&p);

	/* no defaults: no timezone means UTC, fields unset */
	plan_of(one_node("{\"name\": \"a\", \"schedules\": [{\"name\": \"s\", \"cron_expr\": "
			 "\"0 0 * * *\", \"prompt\": \"p\"}]}"),
		&p);
	assert_string_equal(p.nodes[0].schedules[0].timezone, "UTC");
	assert_null(p.nodes[0].ws.role);
	assert_null(p.nodes[0].ws.runtime);
	assert_false(p.nodes[0].ws.has_tier);
	co_org_plan_clear(&p);

	/* a bad default is reported as itself, once, even with no nodes */
	org_refused(J("{\"name\": \"Acme\", \"defaults\": {\"tier\": -1}}"), "invalid_template", NULL,
		    "defaults.tier must be between 0 and 1000000");
	expect_message("defaults.tier must be between 0 and 1000000");
	org_refused(J("{\"name\": \"Acme\", \"defaults\": {\"role\": 5}}"), "invalid_template", NULL,
		    "defaults.role must be a string");
	org_refused(J("{\"name\": \"Acme\", \"defaults\": {\"runtime\": \"\"}}"), "invalid_template",
		    NULL, "defaults.runtime must not be empty");
	org_refused(J("{\"name\": \"Acme\", \"defaults\": {\"url\": \"ftp://x\"}}"),
		    "invalid_template", NULL, "defaults.url must start with http:// or https://");
	org_refused(J("{\"name\": \"Acme\", \"defaults\": {\"max_concurrent_tasks\": 0},"
		      " \"workspaces\": [{\"name\": \"a\"}]}"),
		    "invalid_template", NULL, "defaults.max_concurrent_tasks must be between 1");
	org_refused(J("{\"name\": \"Acme\", \"defaults\": {\"timezone\": \"Mars/Olympus\"}}"),
		    "invalid_timezone", NULL, "defaults.timezone: unknown time zone");
	org_refused(J("{\"name\": \"Acme\", \"defaults\": {\"timezone\": 5}}"), "invalid_template",
		    NULL, "defaults.timezone must be a string");
}

static void test_org_node_errors(void **state)
{
	(void)state;
	/* names: a node without a usable name is named by its index */
	org_refused(J("{\"name\": \"Acme\", \"workspaces\": [{\"name\": \"ok\"}, {\"name\": \"\"}]}"),
		    "invalid_template", "Acme/[1]", "name must not be empty");
	expect_message("node \"Acme/[1]\": name must not be empty");
	org_refused(J("{\"name\": \"Acme\", \"workspaces\": [{\"name\": \"Eng\", \"children\": "
		      "[{\"role\": \"x\"}]}]}"),
		    "invalid_template", "Acme/Eng/[0]", "name is required");
	expect_message("node \"Acme/Eng/[0]\": name is required");
	org_refused(one_node("{\"name\": 5}"), "invalid_template", "Acme/[0]",
		    "name must be a string");
	org_refused(one_node("{\"name\": \"a\\rb\"}"), "invalid_template", "Acme/[0]",
		    "name must not contain a line break");
	char long_name[300];
	memset(long_name, 'x', 256);
	long_name[256] = 0;
	json_t *doc = one_node("{}");
	json_object_set_new(json_array_get(M(doc, "workspaces"), 0), "name", json_string(long_name));
	org_refused(doc, "invalid_template", "Acme/[0]", "name is 256 bytes; the limit is 255");
	org_refused(J("{\"name\": \"Acme\", \"workspaces\": [{\"name\": \"a\"}, 7]}"),
		    "invalid_template", "Acme/[1]", "a node must be a JSON object");

	/* workspace fields, validated as the workspace API does */
	org_refused(one_node("{\"name\": \"Eng\", \"tier\": 1000001}"), "invalid_template", "Acme/Eng",
		    "tier must be between 0 and 1000000");
	expect_message("node \"Acme/Eng\": tier must be between 0 and 1000000");
	org_refused(one_node("{\"name\": \"Eng\", \"tier\": \"2\"}"), "invalid_template", "Acme/Eng",
		    "tier must be an integer");
	org_refused(one_node("{\"name\": \"Eng\", \"role\": []}"), "invalid_template", "Acme/Eng",
		    "role must be a string");
	org_refused(one_node("{\"name\": \"Eng\", \"url\": \"http://\"}"), "invalid_template",
		    "Acme/Eng", "url has no host");
	org_refused(one_node("{\"name\": \"Eng\", \"max_concurrent_tasks\": 0}"), "invalid_template",
		    "Acme/Eng", "max_concurrent_tasks must be between 1");

	/* unknown fields, a status or a parent in a node are ignored */
	co_org_plan p;
	plan_of(one_node("{\"name\": \"Eng\", \"status\": \"removed\", \"parent_id\": 5, \"x\": 1}"),
		&p);
	assert_int_equal(p.nodes[0].ws.status, CO_WS_PROVISIONING);
	assert_false(p.nodes[0].ws.has_parent);
	co_org_plan_clear(&p);

	/* list fields must be arrays of objects */
	org_refused(one_node("{\"name\": \"Eng\", \"children\": {}}"), "invalid_template", "Acme/Eng",
		    "children must be an array");
	expect_message("node \"Acme/Eng\": children must be an array");
	org_refused(one_node("{\"name\": \"Eng\", \"schedules\": 5}"), "invalid_template", "Acme/Eng",
		    "schedules must be an array");
	org_refused(one_node("{\"name\": \"Eng\", \"initial_memories\": \"k\"}"), "invalid_template",
		    "Acme/Eng", "initial_memories must be an array");
	org_refused(one_node("{\"name\": \"Eng\", \"schedules\": [1]}"), "invalid_template",
		    "Acme/Eng", "schedules[0] must be an object");
	org_refused(one_node("{\"name\": \"Eng\", \"initial_memories\": [{\"key\": \"a\", "
			     "\"value\": 1}, []]}"),
		    "invalid_template", "Acme/Eng", "initial_memories[1] must be an object");
	org_refused(one_node("{\"name\": \"Eng\", \"children\": [\"x\"]}"), "invalid_template",
		    "Acme/Eng/[0]", "a node must be a JSON object");
}

static void test_org_sibling_names(void **state)
{
	(void)state;
	org_refused(J("{\"name\": \"Acme\", \"workspaces\": [{\"name\": \"A\"}, {\"name\": \"B\"},"
		      " {\"name\": \"A\"}]}"),
		    "invalid_template", "Acme/A", "sibling [0] has the same name");
	expect_message("node \"Acme/A\": sibling [0] has the same name");
	org_refused(J("{\"name\": \"Acme\", \"workspaces\": [{\"name\": \"T\", \"children\": ["
		      "{\"name\": \"x\"}, {\"name\": \"y\"}, {\"name\": \"z\"}, {\"name\": \"y\"}]}]}"),
		    "invalid_template", "Acme/T/y", "sibling [1] has the same name");
	/* the same name under different parents, and a child named as its parent, are fine */
	co_org_plan p;
	plan_of(J("{\"name\": \"Acme\", \"workspaces\": [{\"name\": \"A\", \"children\": "
		  "[{\"name\": \"A\"}]}, {\"name\": \"B\", \"children\": [{\"name\": \"A\"}]}]}"),
		&p);
	assert_int_equal(p.n, 4);
	assert_string_equal(p.nodes[1].path, "Acme/A/A");
	assert_string_equal(p.nodes[3].path, "Acme/B/A");
	assert_int_equal(p.nodes[3].parent, 2);
	co_org_plan_clear(&p);
	/* names differing only in case are different names */
	plan_of(J("{\"name\": \"Acme\", \"workspaces\": [{\"name\": \"a\"}, {\"name\": \"A\"}]}"), &p);
	assert_int_equal(p.n, 2);
	co_org_plan_clear(&p);
}

static void test_org_schedule_errors(void **state)
{
	(void)state;
	org_refused(one_node("{\"name\": \"Eng\", \"schedules\": [{\"name\": \"daily\","
			     " \"cron_expr\": \"61 * * * *\", \"prompt\": \"p\"}]}"),
		    "invalid_cron", "Acme/Eng", "node \"Acme/Eng\": schedule \"daily\": ");
	org_refused(one_node("{\"name\": \"Eng\", \"schedules\": [{\"name\": \"daily\","
			     " \"cron_expr\": \"0 9 * *\", \"prompt\": \"p\"}]}"),
		    "invalid_cron", "Acme/Eng", "schedule \"daily\": ");
	org_refused(one_node("{\"name\": \"Eng\", \"schedules\": [{\"name\": \"daily\","
			     " \"cron_expr\": \"0 0 30 2 *\", \"prompt\": \"p\"}]}"),
		    "invalid_cron", "Acme/Eng", "never fires");
	org_refused(one_node("{\"name\": \"Eng\", \"schedules\": [{\"name\": \"daily\","
			     " \"cron_expr\": \"0 9 * * *\", \"timezone\": \"Mars/Olympus\","
			     " \"prompt\": \"p\"}]}"),
		    "invalid_timezone", "Acme/Eng",
		    "node \"Acme/Eng\": schedule \"daily\": unknown time zone \"Mars/Olympus\"");
	org_refused(one_node("{\"name\": \"Eng\", \"schedules\": [{\"name\": \"daily\","
			     " \"cron_expr\": \"0 9 * * *\"}]}"),
		    "invalid_template", "Acme/Eng", "schedule \"daily\": prompt is required");
	expect_message("node \"Acme/Eng\": schedule \"daily\": prompt is required");
	org_refused(one_node("{\"name\": \"Eng\", \"schedules\": [{\"cron_expr\": \"0 9 * * *\","
			     " \"prompt\": \"p\"}]}"),
		    "invalid_template", "Acme/Eng", "schedule [0]: name is required");
	org_refused(one_node("{\"name\": \"Eng\", \"schedules\": [{\"name\": \"d\","
			     " \"cron_expr\": \"0 9 * * *\", \"prompt\": \"p\", \"enabled\": \"yes\"}]}"),
		    "invalid_template", "Acme/Eng", "schedule \"d\": enabled must be true or false");
	org_refused(one_node("{\"name\": \"Eng\", \"schedules\": ["
			     "{\"name\": \"d\", \"cron_expr\": \"0 9 * * *\", \"prompt\": \"p\"},"
			     "{\"name\": \"e\", \"cron_expr\": \"0 9 * * *\", \"prompt\": \"p\"},"
			     "{\"name\": \"d\", \"cron_expr\": \"0 8 * * *\", \"prompt\": \"q\"}]}"),
		    "invalid_template", "Acme/Eng", "schedule \"d\": schedules[0] has the same name");
	/* the timezone of defaults is validated with the cron it meets */
	org_refused(J("{\"name\": \"Acme\", \"defaults\": {\"timezone\": \"UTC\"}, \"workspaces\": "
		      "[{\"name\": \"a\", \"children\": [{\"name\": \"b\", \"schedules\": "
		      "[{\"name\": \"s\", \"cron_expr\": \"@every\", \"prompt\": \"p\"}]}]}]}"),
		    "invalid_cron", "Acme/a/b", "node \"Acme/a/b\": schedule \"s\": ");
}

static void test_org_memory_errors(void **state)
{
	(void)state;
	org_refused(one_node("{\"name\": \"Eng\", \"initial_memories\": [{\"key\": \"a/b\", "
			     "\"value\": 1}]}"),
		    "invalid_template", "Acme/Eng", "memory [0]: key must not contain '/'");
	org_refused(one_node("{\"name\": \"Eng\", \"initial_memories\": [{\"key\": \"k\"}]}"),
		    "invalid_template", "Acme/Eng", "memory \"k\": value is required");
	org_refused(one_node("{\"name\": \"Eng\", \"initial_memories\": [{\"value\": 1}]}"),
		    "invalid_template", "Acme/Eng", "memory [0]: key is required");
	org_refused(one_node("{\"name\": \"Eng\", \"initial_memories\": [{\"key\": \"k\", "
			     "\"value\": 1, \"ttl_seconds\": 0}]}"),
		    "invalid_template", "Acme/Eng", "memory \"k\": ttl_seconds must be between 1");
	org_refused(one_node("{\"name\": \"Eng\", \"initial_memories\": [{\"key\": \"k\", "
			     "\"value\": 1}, {\"key\": \"j\", \"value\": 2}, {\"key\": \"k\", "
			     "\"value\": 3}]}"),
		    "invalid_template", "Acme/Eng",
		    "memory \"k\": initial_memories[0] has the same key");

	/* null is a value; if_match_version is ignored, whatever it holds */
	co_org_plan p;
	plan_of(one_node("{\"name\": \"Eng\", \"initial_memories\": [{\"key\": \"k\", "
			 "\"value\": null, \"if_match_version\": \"junk\"}, {\"key\": \"s\", "
			 "\"value\": \"text\"}]}"),
		&p);
	assert_int_equal(p.nodes[0].nmemories, 2);
	assert_string_equal(p.nodes[0].memories[0].value_json, "null");
	assert_string_equal(p.nodes[0].memories[1].value_json, "\"text\"");
	co_org_plan_clear(&p);

	/* a value may nest CO_JSON_DEPTH_MAX - 1 deep, as through the memory API */
	for (int depth = CO_JSON_DEPTH_MAX - 1; depth <= CO_JSON_DEPTH_MAX; depth++) {
		json_t *v = json_integer(1);
		for (int i = 0; i < depth; i++) {
			json_t *a = json_array();
			json_array_append_new(a, v);
			v = a;
		}
		json_t *doc = one_node("{\"name\": \"Eng\"}");
		json_t *node = json_array_get(M(doc, "workspaces"), 0);
		json_object_set_new(node, "initial_memories",
				    json_pack("[{s:s, s:o}]", "key", "deep", "value", v));
		if (depth == CO_JSON_DEPTH_MAX - 1) {
			plan_of(doc, &p);
			assert_int_equal(p.nmemories, 1);
			co_org_plan_clear(&p);
		} else {
			org_refused(doc, "invalid_template", "Acme/Eng",
				    "memory \"deep\": value nests deeper than 63 levels");
		}
	}
}

/* A chain of `levels` nodes n1/n2/…, each the only child of the one before. */
static json_t *chain(int levels)
{
	json_t *node = NULL;
	for (int i = levels; i >= 1; i--) {
		char name[16];
		snprintf(name, sizeof name, "n%d", i);
		json_t *n = json_pack("{s:s}", "name", name);
		if (node)
			json_object_set_new(n, "children", json_pack("[o]", node));
		node = n;
	}
	return json_pack("{s:s, s:[o]}", "name", "Acme", "workspaces", node);
}

static void test_org_depth_limit(void **state)
{
	(void)state;
	co_org_plan p;
	plan_of(chain(CO_ORG_MAX_DEPTH), &p);
	assert_int_equal(p.n, CO_ORG_MAX_DEPTH);
	assert_int_equal(p.max_depth, CO_ORG_MAX_DEPTH);
	assert_int_equal(p.nodes[CO_ORG_MAX_DEPTH - 1].depth, CO_ORG_MAX_DEPTH);
	assert_int_equal(p.nodes[CO_ORG_MAX_DEPTH - 1].parent, CO_ORG_MAX_DEPTH - 2);
	char want[512] = "Acme";
	for (int i = 1; i <= CO_ORG_MAX_DEPTH; i++)
		snprintf(want + strlen(want), sizeof want - strlen(want), "/n%d", i);
	assert_string_equal(p.nodes[CO_ORG_MAX_DEPTH - 1].path, want);
	co_org_plan_clear(&p);

	snprintf(want + strlen(want), sizeof want - strlen(want), "/n%d", CO_ORG_MAX_DEPTH + 1);
	org_refused(chain(CO_ORG_MAX_DEPTH + 1), "invalid_template", want,
		    "is 33 levels deep; the limit is 32");
	/* far deeper: the same first offending node */
	org_refused(chain(100), "invalid_template", want, "is 33 levels deep");
}

/* {name: Acme, workspaces: [...]} with `tops` top-level nodes of `kids` children each;
 * with_extras: one schedule and one memory per node. */
static json_t *wide(int tops, int kids, bool with_extras)
{
	json_t *ws = json_array();
	for (int t = 0; t < tops; t++) {
		char name[32];
		snprintf(name, sizeof name, "t%d", t);
		json_t *top = json_pack("{s:s}", "name", name);
		if (with_extras) {
			json_object_set_new(top, "schedules",
					    json_pack("[{s:s, s:s, s:s}]", "name", "daily", "cron_expr",
						      "0 9 * * 1-5", "prompt", "Report."));
			json_object_set_new(top, "initial_memories",
					    json_pack("[{s:s, s:{s:i}}]", "key", "k", "value", "n", t));
		}
		if (kids) {
			json_t *ch = json_array();
			for (int k = 0; k < kids; k++) {
				snprintf(name, sizeof name, "k%d", k);
				json_t *kid = json_pack("{s:s}", "name", name);
				if (with_extras) {
					json_object_set_new(
						kid, "schedules",
						json_pack("[{s:s, s:s, s:s, s:s}]", "name", "hourly",
							  "cron_expr", "@hourly", "timezone",
							  "Europe/Berlin", "prompt", "Check."));
					json_object_set_new(kid, "initial_memories",
							    json_pack("[{s:s, s:i}]", "key", "role",
								      "value", k));
				}
				json_array_append_new(ch, kid);
			}
			json_object_set_new(top, "children", ch);
		}
		json_array_append_new(ws, top);
	}
	return json_pack("{s:s, s:o}", "name", "Acme", "workspaces", ws);
}

static void test_org_node_limit(void **state)
{
	(void)state;
	co_org_plan p;
	/* 100 teams of 99: 10,000 nodes, each with one schedule and one memory */
	json_t *doc = wide(100, 99, true);
	co_org_error err = {0};
	co_usec_t t0 = co_clock_mono_us();
	int rc = co_org_parse(doc, NOW, &p, &err);
	co_usec_t took = co_clock_mono_us() - t0;
	if (rc)
		fail_msg("%s", co_err_msg());
	print_message("      co_org_parse: 10,000 nodes, 10,000 schedules, 10,000 memories "
		      "in %.1f ms\n", (double)took / 1000.0);
	assert_true(took < 2 * SEC); /* a sanity bound that holds under sanitizers too */
	json_decref(doc);
	co_org_error_clear(&err);
	assert_int_equal(p.n, CO_ORG_MAX_NODES);
	assert_int_equal(p.nschedules, CO_ORG_MAX_NODES);
	assert_int_equal(p.nmemories, CO_ORG_MAX_NODES);
	assert_int_equal(p.max_depth, 2);
	/* pre-order: team t, then its 99 children */
	assert_string_equal(p.nodes[0].path, "Acme/t0");
	assert_string_equal(p.nodes[1].path, "Acme/t0/k0");
	assert_string_equal(p.nodes[100].path, "Acme/t1");
	assert_int_equal(p.nodes[150].parent, 100);
	assert_string_equal(p.nodes[9999].path, "Acme/t99/k98");
	assert_string_equal(p.nodes[9999].memories[0].value_json, "98");
	assert_int_equal(p.nodes[9999].schedules[0].source, CO_SCHED_TEMPLATE);
	co_org_plan_clear(&p);

	/* flat: 10,000 accepted, 10,001 refused at the last */
	plan_of(wide(CO_ORG_MAX_NODES, 0, false), &p);
	assert_int_equal(p.n, CO_ORG_MAX_NODES);
	assert_int_equal(p.max_depth, 1);
	co_org_plan_clear(&p);
	org_refused(wide(CO_ORG_MAX_NODES + 1, 0, false), "invalid_template", "Acme/t10000",
		    "the template has more than 10000 nodes");
	/* nested: the first node past the limit in pre-order (99 * 101 = 9999: t99 is node
	 * 10,000, its first child node 10,001) */
	org_refused(wide(100, 100, false), "invalid_template", "Acme/t99/k0",
		    "the template has more than 10000 nodes");
}

static void test_org_long_paths_in_messages(void **state)
{
	(void)state;
	char name[256];
	memset(name, 'N', 250);
	name[250] = 0;
	/* three 250-byte names, then a bad schedule */
	json_t *leaf = json_pack("{s:s, s:[{s:s, s:s, s:s}]}", "name", "leaf", "schedules", "name",
				 "s", "cron_expr", "bad", "prompt", "p");
	json_t *n3 = json_pack("{s:s, s:[o]}", "name", name, "children", leaf);
	json_t *n2 = json_pack("{s:s, s:[o]}", "name", name, "children", n3);
	json_t *n1 = json_pack("{s:s, s:[o]}", "name", name, "children", n2);
	json_t *doc = json_pack("{s:s, s:[o]}", "name", "Acme", "workspaces", n1);
	char want[1024];
	snprintf(want, sizeof want, "Acme/%s/%s/%s/leaf", name, name, name);
	org_refused(doc, "invalid_cron", want, "NNNN/leaf\": schedule \"s\": ");
	const char *msg = co_err_msg();
	assert_true(strlen(msg) < CO_ERR_MSG_MAX);
	assert_true(co_utf8_valid(msg, strlen(msg)));
	assert_true(!strncmp(msg, "node \"…N", strlen("node \"…N")));

	/* cut at a character boundary: multi-byte names */
	char wide_name[256] = "";
	for (int i = 0; i < 60; i++)
		strcat(wide_name, "é"); /* 120 bytes */
	json_t *bad = json_pack("{s:s, s:i}", "name", "x", "tier", -1);
	json_t *m2 = json_pack("{s:s, s:[o]}", "name", wide_name, "children", bad);
	doc = json_pack("{s:s, s:[o]}", "name", "Acme", "workspaces", m2);
	snprintf(want, sizeof want, "Acme/%s/x", wide_name);
	org_refused(doc, "invalid_template", want, "é/x\": tier must be between 0 and 1000000");
	msg = co_err_msg();
	assert_true(co_utf8_valid(msg, strlen(msg)));
	assert_true(!strncmp(msg, "node \"…é", strlen("node \"…é")));
}

/* ---- the template-schedule rule -------------------------------------------------------- */

static void mk_sched(co_schedule *s, const char *cron, const char *tz, const char *prompt,
		     bool enabled, co_sched_source src, co_usec_t now)
{
	json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:b}", "name", "daily", "cron_expr", cron,
			      "timezone", tz, "prompt", prompt, "enabled", enabled);
	const char *code;
	assert_int_equal(co_sched_parse_create(b, s, &code), CO_OK);
	json_decref(b);
	s->source = src;
	assert_int_equal(co_sched_init_next(s, now), CO_OK);
}

/* A new template row takes the planned slot while it is still ahead, else the next one. */
static void test_org_sched_first_next(void **state)
{
	(void)state;
	co_schedule t;
	co_usec_t next = -1;
	mk_sched(&t, "0 * * * *", "UTC", "Hourly.", true, CO_SCHED_TEMPLATE, NOW);
	const co_usec_t planned = t.next_run_at;
	assert_true(planned > NOW);
	assert_int_equal(co_org_sched_first_next(&t, NOW, &next), CO_OK);
	assert_int_equal(next, planned);
	/* the import waited past the planned slot: the first one after the store's now */
	assert_int_equal(co_org_sched_first_next(&t, planned, &next), CO_OK);
	assert_int_equal(next, planned + 3600 * SEC);
	assert_int_equal(co_org_sched_first_next(&t, planned + 90 * 60 * SEC, &next), CO_OK);
	assert_int_equal(next, planned + 2 * 3600 * SEC);
	co_schedule_clear(&t);
	/* disabled: no slot at all */
	mk_sched(&t, "0 * * * *", "UTC", "Hourly.", false, CO_SCHED_TEMPLATE, NOW);
	assert_int_equal(co_org_sched_first_next(&t, NOW + 7200 * SEC, &next), CO_OK);
	assert_int_equal(next, 0);
	co_schedule_clear(&t);
}

static void test_org_sched_merge(void **state)
{
	(void)state;
	const co_usec_t before = NOW - 7 * 86400 * SEC; /* when the rows were made */
	const co_usec_t sentinel = 1767650000LL * SEC;  /* a pending slot to keep */
	co_schedule cur, tmpl;
	co_org_sched_action act;
	mk_sched(&tmpl, "0 9 * * *", "UTC", "Report.", true, CO_SCHED_TEMPLATE, NOW);

	/* a runtime row of the name is kept as it is */
	mk_sched(&cur, "*/5 * * * *", "Asia/Tokyo", "mine", false, CO_SCHED_RUNTIME, before);
	act = -1;
	assert_int_equal(co_org_sched_merge(&cur, &tmpl, NOW, &act), CO_OK);
	assert_int_equal(act, CO_ORG_SCHED_KEPT_RUNTIME);
	assert_string_equal(cur.cron_expr, "*/5 * * * *");
	assert_string_equal(cur.timezone, "Asia/Tokyo");
	assert_string_equal(cur.prompt, "mine");
	assert_false(cur.enabled);
	co_schedule_clear(&cur);

	/* the same fields: unchanged, next_run_at untouched */
	mk_sched(&cur, "0 9 * * *", "UTC", "Report.", true, CO_SCHED_TEMPLATE, before);
	cur.next_run_at = sentinel;
	assert_int_equal(co_org_sched_merge(&cur, &tmpl, NOW, &act), CO_OK);
	assert_int_equal(act, CO_ORG_SCHED_UNCHANGED);
	assert_int_equal(cur.next_run_at, sentinel);

	/* only the prompt differs: updated, the pending slot kept */
	free(cur.prompt);
	cur.prompt = strdup("Old report.");
	assert_int_equal(co_org_sched_merge(&cur, &tmpl, NOW, &act), CO_OK);
	assert_int_equal(act, CO_ORG_SCHED_UPDATED);
	assert_string_equal(cur.prompt, "Report.");
	assert_int_equal(cur.next_run_at, sentinel);
	assert_int_equal(co_org_sched_merge(&cur, &tmpl, NOW, &act), CO_OK);
	assert_int_equal(act, CO_ORG_SCHED_UNCHANGED); /* and now it is as the template says */
	co_schedule_clear(&cur);

	/* the expression differs: recomputed from now (09:00Z today) */
	mk_sched(&cur, "0 7 * * *", "UTC", "Report.", true, CO_SCHED_TEMPLATE, before);
	cur.next_run_at = sentinel;
	assert_int_equal(co_org_sched_merge(&cur, &tmpl, NOW, &act), CO_OK);
	assert_int_equal(act, CO_ORG_SCHED_UPDATED);
	assert_string_equal(cur.cron_expr, "0 9 * * *");
	assert_int_equal(cur.next_run_at, 1767603600LL * SEC);
	co_schedule_clear(&cur);

	/* the zone differs: recomputed from now (09:00 Berlin is 08:00Z = now: tomorrow's) */
	co_schedule berlin;
	mk_sched(&berlin, "0 9 * * *", "Europe/Berlin", "Report.", true, CO_SCHED_TEMPLATE, NOW);
	mk_sched(&cur, "0 9 * * *", "UTC", "Report.", true, CO_SCHED_TEMPLATE, before);
	cur.next_run_at = sentinel;
	assert_int_equal(co_org_sched_merge(&cur, &berlin, NOW, &act), CO_OK);
	assert_int_equal(act, CO_ORG_SCHED_UPDATED);
	assert_string_equal(cur.timezone, "Europe/Berlin");
	assert_int_equal(cur.next_run_at, 1767686400LL * SEC);
	co_schedule_clear(&cur);
	co_schedule_clear(&berlin);

	/* the template disables it: next_run_at 0 */
	co_schedule off;
	mk_sched(&off, "0 9 * * *", "UTC", "Report.", false, CO_SCHED_TEMPLATE, NOW);
	mk_sched(&cur, "0 9 * * *", "UTC", "Report.", true, CO_SCHED_TEMPLATE, before);
	cur.next_run_at = sentinel;
	assert_int_equal(co_org_sched_merge(&cur, &off, NOW, &act), CO_OK);
	assert_int_equal(act, CO_ORG_SCHED_UPDATED);
	assert_false(cur.enabled);
	assert_int_equal(cur.next_run_at, 0);

	/* and enables it again: from now, no burst of missed slots */
	assert_int_equal(co_org_sched_merge(&cur, &tmpl, NOW, &act), CO_OK);
	assert_int_equal(act, CO_ORG_SCHED_UPDATED);
	assert_true(cur.enabled);
	assert_int_equal(cur.next_run_at, 1767603600LL * SEC);
	co_schedule_clear(&cur);
	co_schedule_clear(&off);
	co_schedule_clear(&tmpl);
}

/* ---- the answer ------------------------------------------------------------------------ */

static json_t *answer(const co_org_plan *p, const co_org_result *r, bool dry_run)
{
	co_buf b;
	co_buf_init(&b);
	co_org_result_to_json(p, r, dry_run, &b);
	assert_true(co_buf_ok(&b));
	json_error_t e;
	json_t *j = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &e);
	if (!j)
		fail_msg("co_org_result_to_json gave invalid JSON (%s): %s", e.text, b.data);
	co_buf_free(&b);
	assert_true(json_is_object(j));
	assert_int_equal(json_object_size(j), 7);
	return j;
}

static void expect_ws(json_t *list, size_t i, const char *id, const char *name,
		      const char *parent, const char *path, bool created)
{
	json_t *w = json_array_get(list, i);
	assert_non_null(w);
	assert_int_equal(json_object_size(w), 5);
	if (id)
		expect_str(w, "id", id);
	else
		expect_type(w, "id", JSON_NULL);
	expect_str(w, "name", name);
	if (parent)
		expect_str(w, "parent_id", parent);
	else
		expect_type(w, "parent_id", JSON_NULL);
	expect_str(w, "path", path);
	expect_type(w, "created", created ? JSON_TRUE : JSON_FALSE);
}

#define ID_A "0190a1b2-c3d4-7e5f-8a9b-00000000000a"
#define ID_B "0190a1b2-c3d4-7e5f-8a9b-00000000000b"
#define ID_C "0190a1b2-c3d4-7e5f-8a9b-00000000000c"
#define ID_D "0190a1b2-c3d4-7e5f-8a9b-00000000000d"
#define ID_P "0190a1b2-c3d4-7e5f-8a9b-0000000000ff"

static void test_org_result_json(void **state)
{
	(void)state;
	co_org_plan p;
	/* A (reused) / B (created); C (created) / D (created) */
	plan_of(J("{\"name\": \"Acme \\\"Inc\\\"\", \"workspaces\": [{\"name\": \"A\", \"children\":"
		  " [{\"name\": \"B\"}]}, {\"name\": \"C\", \"children\": [{\"name\": \"D\"}]}]}"),
		&p);
	co_org_result r = {0};
	assert_int_equal(co_org_result_reset(&r, p.n), CO_OK);
	assert_int_equal(r.n, 4);
	const char *ids[] = {ID_A, ID_B, ID_C, ID_D};
	const bool created[] = {false, true, true, true};
	for (int i = 0; i < 4; i++) {
		assert_int_equal(co_id_parse(ids[i], &r.nodes[i].id), CO_OK);
		r.nodes[i].created = created[i];
	}
	r.ws_created = 3;
	r.ws_reused = 1;
	r.sched_created = 5;
	r.sched_updated = 4;
	r.sched_unchanged = 3;
	r.sched_kept_runtime = 2;
	r.mem_created = 7;
	r.mem_kept = 6;
	assert_true(co_org_result_created_any(&r));

	json_t *j = answer(&p, &r, false);
	expect_str(j, "org", "Acme \"Inc\"");
	expect_type(j, "dry_run", JSON_FALSE);
	expect_int(j, "created", 3);
	expect_int(j, "reused", 1);
	json_t *ws = M(j, "workspaces");
	assert_int_equal(json_array_size(ws), 4);
	expect_ws(ws, 0, ID_A, "A", NULL, "Acme \"Inc\"/A", false);
	expect_ws(ws, 1, ID_B, "B", ID_A, "Acme \"Inc\"/A/B", true);
	expect_ws(ws, 2, ID_C, "C", NULL, "Acme \"Inc\"/C", true);
	expect_ws(ws, 3, ID_D, "D", ID_C, "Acme \"Inc\"/C/D", true);
	json_t *s = M(j, "schedules");
	assert_int_equal(json_object_size(s), 4);
	expect_int(s, "created", 5);
	expect_int(s, "updated", 4);
	expect_int(s, "unchanged", 3);
	expect_int(s, "kept_runtime", 2);
	json_t *m = M(j, "memories");
	assert_int_equal(json_object_size(m), 2);
	expect_int(m, "created", 7);
	expect_int(m, "kept", 6);
	json_decref(j);

	/* a dry run: what would be created has no id, nor do its children's parents */
	j = answer(&p, &r, true);
	expect_type(j, "dry_run", JSON_TRUE);
	expect_int(j, "created", 3);
	ws = M(j, "workspaces");
	expect_ws(ws, 0, ID_A, "A", NULL, "Acme \"Inc\"/A", false);
	expect_ws(ws, 1, NULL, "B", ID_A, "Acme \"Inc\"/A/B", true);
	expect_ws(ws, 2, NULL, "C", NULL, "Acme \"Inc\"/C", true);
	expect_ws(ws, 3, NULL, "D", NULL, "Acme \"Inc\"/C/D", true);
	json_decref(j);

	/* grafted: top-level nodes show the graft parent, in a dry run too */
	p.has_parent = true;
	assert_int_equal(co_id_parse(ID_P, &p.parent_id), CO_OK);
	for (int dry = 0; dry <= 1; dry++) {
		j = answer(&p, &r, dry);
		ws = M(j, "workspaces");
		expect_ws(ws, 0, ID_A, "A", ID_P, "Acme \"Inc\"/A", false);
		expect_ws(ws, 2, dry ? NULL : ID_C, "C", ID_P, "Acme \"Inc\"/C", true);
		json_decref(j);
	}

	/* nothing created: a 200 */
	assert_int_equal(co_org_result_reset(&r, p.n), CO_OK);
	assert_int_equal(r.ws_created, 0);
	assert_false(r.nodes[1].created);
	r.ws_reused = 4;
	r.mem_kept = 1;
	assert_false(co_org_result_created_any(&r));
	r.mem_created = 1;
	assert_true(co_org_result_created_any(&r));
	co_org_result_clear(&r);
	assert_null(r.nodes);
	assert_int_equal(r.n, 0);

	/* an empty plan */
	co_org_plan_clear(&p);
	plan_of(J("{\"name\": \"Empty\"}"), &p);
	assert_int_equal(co_org_result_reset(&r, 0), CO_OK);
	j = answer(&p, &r, false);
	expect_str(j, "org", "Empty");
	assert_int_equal(json_array_size(M(j, "workspaces")), 0);
	json_decref(j);
	co_org_result_clear(&r);
	co_org_plan_clear(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_yaml_scalar_typing),
		cmocka_unit_test(test_yaml_quoted_and_block_scalars),
		cmocka_unit_test(test_yaml_standard_tags),
		cmocka_unit_test(test_yaml_block_and_flow_agree),
		cmocka_unit_test(test_yaml_empty_document),
		cmocka_unit_test(test_yaml_length_not_nul),
		cmocka_unit_test(test_yaml_refusals),
		cmocka_unit_test(test_yaml_depth),
		cmocka_unit_test(test_org_yaml_and_json_same_plan),
		cmocka_unit_test(test_org_wrapper_and_parent),
		cmocka_unit_test(test_org_template_fields),
		cmocka_unit_test(test_org_defaults),
		cmocka_unit_test(test_org_node_errors),
		cmocka_unit_test(test_org_sibling_names),
		cmocka_unit_test(test_org_schedule_errors),
		cmocka_unit_test(test_org_memory_errors),
		cmocka_unit_test(test_org_depth_limit),
		cmocka_unit_test(test_org_node_limit),
		cmocka_unit_test(test_org_long_paths_in_messages),
		cmocka_unit_test(test_org_sched_first_next),
		cmocka_unit_test(test_org_sched_merge),
		cmocka_unit_test(test_org_result_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
