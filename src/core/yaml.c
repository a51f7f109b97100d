/*
 * yaml.c — YAML text to a jansson tree with libyaml's event parser; see yaml.h.
 *
 * The input is hostile (a request body), so:
 *  - no recursion: open collections are kept on an explicit stack that never grows past
 *    max_depth (the parser is refused as soon as a collection would open deeper);
 *  - every container is attached to its parent (or made the root) the moment it opens,
 *    so on any error one json_decref(root) frees the whole partial tree, and the stack
 *    holds only borrowed pointers plus each mapping's pending key;
 *  - libyaml is told the input is UTF-8 (its BOM sniffing would otherwise accept UTF-16)
 *    and validates every byte; scalars are checked again for NUL (a "\0" escape), which a
 *    JSON body cannot carry either;
 *  - every event is deleted on every path, the parser once at the end.
 */
#include "yaml.h"
#include "err.h"
#include "validate.h"

#include <yaml.h>

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAG_PREFIX "tag:yaml.org,2002:"

/* An open collection: its node (borrowed: the root owns it) and, for a mapping, the key
 * read and waiting for its value (owned). */
typedef struct {
	json_t *node;
	char *key;
} frame;

typedef struct {
	const char *buf;
	size_t len;
	int max_depth;
	size_t max_values, values; /* values placed in the tree so far, and their limit */
	frame *st; /* st[0..depth) */
	int depth;
	int cap;
	json_t *root;
	int docs;
} ctx;

/* Sets "YAML line L column C: <message>" (m is 0-based, as libyaml counts). */
__attribute__((format(printf, 2, 3))) static int fail_at(yaml_mark_t m, const char *fmt, ...)
{
	char msg[CO_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return co_err_set(CO_EINVAL, "YAML line %zu column %zu: %s", m.line + 1, m.column + 1, msg);
}

/* The 0-based line and column (in characters) of byte `off` of the input, for errors the
 * reader reports by offset only. Counts \n, \r\n and \r as line breaks. */
static yaml_mark_t mark_of_offset(const ctx *c, size_t off)
{
	yaml_mark_t m = {0};
	if (off > c->len)
		off = c->len;
	for (size_t i = 0; i < off; i++) {
		unsigned char ch = (unsigned char)c->buf[i];
		if (ch == '\n' || (ch == '\r' && (i + 1 >= c->len || c->buf[i + 1] != '\n'))) {
			m.line++;
			m.column = 0;
		} else if ((ch & 0xc0) != 0x80) {
			m.column++;
		}
	}
	m.index = off;
	return m;
}

/* Turns libyaml's own error into CO_EINVAL (or CO_ENOMEM) with a position. */
static int parser_error(const ctx *c, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "malformed YAML";
	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return co_err_set(CO_ENOMEM, "out of memory parsing YAML");
	case YAML_READER_ERROR: {
		/* Encoding and control-character errors: libyaml gives a byte offset. */
		yaml_mark_t m = mark_of_offset(c, p->problem_offset);
		const char *what = strstr(problem, "control") ? "" : "text is not valid UTF-8: ";
		if (p->problem_value != -1)
			return fail_at(m, "%s%s (#%X)", what, problem, (unsigned)p->problem_value);
		return fail_at(m, "%s%s", what, problem);
	}
	default:
		if (p->context)
			return fail_at(p->problem_mark, "%s %s", problem, p->context);
		return fail_at(p->problem_mark, "%s", problem);
	}
}

/* A tag as the user would write it, printed as "%s%s" of tag_pfx() and tag_rest():
 * "!!binary" for tag:yaml.org,2002:binary, any other tag as it is. */
static const char *tag_pfx(const char *tag)
{
	return strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) ? "" : "!!";
}

static const char *tag_rest(const char *tag)
{
	return *tag_pfx(tag) ? tag + strlen(TAG_PREFIX) : tag;
}

/* ---- scalars: the YAML 1.2 core schema ------------------------------------------------ */

static bool is_null_word(const char *s, size_t n)
{
	return n == 0 || (n == 1 && s[0] == '~') || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

/* 1 true, 0 false, -1 neither. */
static int bool_word(const char *s)
{
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		return 1;
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return 0;
	return -1;
}

static int digit_val(char ch, int base)
{
	int d;
	if (ch >= '0' && ch <= '9')
		d = ch - '0';
	else if (ch >= 'a' && ch <= 'f')
		d = ch - 'a' + 10;
	else if (ch >= 'A' && ch <= 'F')
		d = ch - 'A' + 10;
	else
		return -1;
	return d < base ? d : -1;
}

enum { NOT_THIS = 0, PARSED = 1, OUT_OF_RANGE = -1 };

/* An integer of the core schema: [-+]?[0-9]+, 0o[0-7]+, 0x[0-9a-fA-F]+. Returns PARSED with
 * *out, OUT_OF_RANGE when it has the form but not int64's range, else NOT_THIS. */
static int parse_int(const char *s, size_t n, int64_t *out)
{
	int base = 10;
	bool neg = false;
	size_t i = 0;
	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
		base = s[1] == 'x' ? 16 : 8;
		i = 2;
	} else if (n > 1 && (s[0] == '-' || s[0] == '+')) {
		neg = s[0] == '-';
		i = 1;
	}
	if (i == n)
		return NOT_THIS;
	uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	uint64_t v = 0;
	bool over = false;
	for (; i < n; i++) {
		int d = digit_val(s[i], base);
		if (d < 0)
			return NOT_THIS;
		if (v > (limit - (uint64_t)d) / (uint64_t)base)
			over = true; /* keep scanning: a later non-digit makes it a string */
		else
			v = v * (uint64_t)base + (uint64_t)d;
	}
	if (over)
		return OUT_OF_RANGE;
	*out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
	return PARSED;
}

/* Is s one of .inf/.Inf/.INF (with optional sign) or .nan/.NaN/.NAN? */
static bool is_inf_nan(const char *s)
{
	const char *t = (s[0] == '-' || s[0] == '+') ? s + 1 : s;
	if (!strcmp(t, ".inf") || !strcmp(t, ".Inf") || !strcmp(t, ".INF"))
		return true;
	return !strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN");
}

static size_t span_digits(const char *s)
{
	size_t i = 0;
	while (s[i] >= '0' && s[i] <= '9')
		i++;
	return i;
}

/* A real of the core schema:
 *   [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
 * Returns PARSED with a finite *out, OUT_OF_RANGE for .inf/.nan or a value too large for
 * a double, else NOT_THIS. */
static int parse_float(const char *s, size_t n, double *out)
{
	if (is_inf_nan(s))
		return OUT_OF_RANGE;
	size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
	size_t intd = span_digits(s + i);
	i += intd;
	size_t fracd = 0;
	if (s[i] == '.') {
		i++;
		fracd = span_digits(s + i);
		i += fracd;
	}
	if (intd == 0 && fracd == 0)
		return NOT_THIS;
	if (s[i] == 'e' || s[i] == 'E') {
		i++;
		if (s[i] == '-' || s[i] == '+')
			i++;
		size_t expd = span_digits(s + i);
		if (expd == 0)
			return NOT_THIS;
		i += expd;
	}
	if (i != n)
		return NOT_THIS;
	/* The text is checked above, so strtod reads all of it (in the C locale: colony never
	 * calls setlocale, so the decimal point is ".") */
	double v = strtod(s, NULL);
	if (!isfinite(v))
		return OUT_OF_RANGE;
	*out = v; /* an underflow (ERANGE towards 0) is a finite, representable answer */
	return PARSED;
}

/* A scalar value as a new json_t, per yaml.h note 2; NULL after setting the error (a
 * jansson allocation failure is CO_ENOMEM, reported through *rc). */
static json_t *scalar_value(const yaml_event_t *ev, int *rc)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	const char *tag = (const char *)ev->data.scalar.tag;
	yaml_mark_t m = ev->start_mark;
	json_t *v = NULL;
	int64_t i;
	double d;
	int r;

	*rc = CO_EINVAL;
	if (!tag && ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		tag = TAG_PREFIX "str"; /* quoted and block scalars are strings */
	if (!tag) {
		if (n && !strchr("~nNtTfF0123456789+-.", s[0]))
			v = json_stringn(s, n); /* cannot be anything else: skip the tests */
		else if (is_null_word(s, n))
			v = json_null();
		else if ((r = bool_word(s)) >= 0)
			v = json_boolean(r);
		else if ((r = parse_int(s, n, &i)) == PARSED)
			v = json_integer(i);
		else if (r == OUT_OF_RANGE)
			goto int_range;
		else if ((r = parse_float(s, n, &d)) == PARSED)
			v = json_real(d);
		else if (r == OUT_OF_RANGE)
			goto float_range;
		else
			v = json_stringn(s, n);
	} else if (!strcmp(tag, TAG_PREFIX "str")) {
		v = json_stringn(s, n);
	} else if (!strcmp(tag, TAG_PREFIX "null")) {
		if (!is_null_word(s, n)) {
			fail_at(m, "!!null value \"%.32s\" is not null", s);
			return NULL;
		}
		v = json_null();
	} else if (!strcmp(tag, TAG_PREFIX "bool")) {
		if ((r = bool_word(s)) < 0) {
			fail_at(m, "!!bool value \"%.32s\" is not true or false", s);
			return NULL;
		}
		v = json_boolean(r);
	} else if (!strcmp(tag, TAG_PREFIX "int")) {
		if ((r = parse_int(s, n, &i)) == OUT_OF_RANGE)
			goto int_range;
		if (r != PARSED) {
			fail_at(m, "!!int value \"%.32s\" is not an integer", s);
			return NULL;
		}
		v = json_integer(i);
	} else if (!strcmp(tag, TAG_PREFIX "float")) {
		if ((r = parse_float(s, n, &d)) == OUT_OF_RANGE)
			goto float_range;
		if (r != PARSED) {
			fail_at(m, "!!float value \"%.32s\" is not a number", s);
			return NULL;
		}
		v = json_real(d);
	} else {
		fail_at(m, "tag %s%.64s is not allowed on a scalar", tag_pfx(tag), tag_rest(tag));
		return NULL;
	}
	if (!v) {
		*rc = co_err_set(CO_ENOMEM, "out of memory");
		return NULL;
	}
	*rc = CO_OK;
	return v;
int_range:
	fail_at(m, "integer %.32s%s is outside the 64-bit range", s, n > 32 ? "…" : "");
	return NULL;
float_range:
	fail_at(m, "number %.32s is not finite (JSON has no infinities or NaN)", s);
	return NULL;
}

/* ---- the tree ------------------------------------------------------------------------- */

/* Puts a new value where the parser is: the root, the next array element, or the value of
 * the pending key. Takes the reference of v whatever happens. */
static int place(ctx *c, json_t *v)
{
	if (++c->values > c->max_values) {
		json_decref(v);
		return co_err_set(CO_EINVAL, "YAML: more than %zu values", c->max_values);
	}
	if (c->depth == 0) {
		c->root = v;
		return CO_OK;
	}
	frame *f = &c->st[c->depth - 1];
	int r;
	if (json_is_array(f->node)) {
		r = json_array_append_new(f->node, v);
	} else {
		r = json_object_set_new(f->node, f->key, v);
		free(f->key);
		f->key = NULL;
	}
	return r ? co_err_set(CO_ENOMEM, "out of memory") : CO_OK;
}

/* Is the parser at a mapping's key (rather than a value)? */
static bool at_key(const ctx *c)
{
	return c->depth > 0 && json_is_object(c->st[c->depth - 1].node) && !c->st[c->depth - 1].key;
}

static int on_scalar(ctx *c, const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	if (ev->data.scalar.anchor)
		return fail_at(ev->start_mark, "anchors (&%.32s) are not allowed",
			       (const char *)ev->data.scalar.anchor);
	if (memchr(s, 0, n))
		return fail_at(ev->start_mark, "strings must not contain a NUL character (\\0)");
	if (!co_utf8_valid(s, n)) /* libyaml checks this; a second look costs little */
		return fail_at(ev->start_mark, "text is not valid UTF-8");
	if (at_key(c)) {
		/* A key is its text as written: JSON keys are strings. */
		const char *tag = (const char *)ev->data.scalar.tag;
		frame *f = &c->st[c->depth - 1];
		if (tag && strcmp(tag, TAG_PREFIX "str"))
			return fail_at(ev->start_mark, "mapping keys must be strings, not %s%.64s",
				       tag_pfx(tag), tag_rest(tag));
		if (json_object_get(f->node, s))
			return fail_at(ev->start_mark, "duplicate key \"%.64s\"", s);
		if (!(f->key = strdup(s)))
			return co_err_set(CO_ENOMEM, "out of memory");
		return CO_OK;
	}
	int rc;
	json_t *v = scalar_value(ev, &rc);
	return v ? place(c, v) : rc;
}

static int on_open(ctx *c, const yaml_event_t *ev, bool is_map)
{
	const char *anchor = (const char *)(is_map ? ev->data.mapping_start.anchor
						   : ev->data.sequence_start.anchor);
	const char *tag = (const char *)(is_map ? ev->data.mapping_start.tag
						: ev->data.sequence_start.tag);
	if (anchor)
		return fail_at(ev->start_mark, "anchors (&%.32s) are not allowed", anchor);
	if (tag && strcmp(tag, is_map ? TAG_PREFIX "map" : TAG_PREFIX "seq"))
		return fail_at(ev->start_mark, "tag %s%.64s is not allowed on a %s", tag_pfx(tag),
			       tag_rest(tag), is_map ? "mapping" : "sequence");
	if (at_key(c))
		return fail_at(ev->start_mark, "mapping keys must be scalars, not %s",
			       is_map ? "mappings" : "sequences");
	if (c->depth >= c->max_depth)
		return fail_at(ev->start_mark, "nesting deeper than %d levels", c->max_depth);
	if (c->depth == c->cap) {
		int cap = c->cap ? 2 * c->cap : 16;
		if (cap > c->max_depth)
			cap = c->max_depth;
		frame *st = realloc(c->st, (size_t)cap * sizeof *st);
		if (!st)
			return co_err_set(CO_ENOMEM, "out of memory");
		c->st = st;
		c->cap = cap;
	}
	json_t *node = is_map ? json_object() : json_array();
	if (!node)
		return co_err_set(CO_ENOMEM, "out of memory");
	int rc = place(c, node); /* the parent (or root) now owns it */
	if (rc)
		return rc;
	c->st[c->depth++] = (frame){.node = node, .key = NULL};
	return CO_OK;
}

/* Handles one event; *done is set at the end of the stream. */
static int on_event(ctx *c, const yaml_event_t *ev, bool *done)
{
	switch (ev->type) {
	case YAML_STREAM_START_EVENT:
	case YAML_DOCUMENT_END_EVENT:
	case YAML_NO_EVENT:
		return CO_OK;
	case YAML_STREAM_END_EVENT:
		*done = true;
		return CO_OK;
	case YAML_DOCUMENT_START_EVENT:
		if (c->docs++)
			return fail_at(ev->start_mark, "only one document is allowed");
		return CO_OK;
	case YAML_ALIAS_EVENT:
		return fail_at(ev->start_mark, "aliases (*%.32s) are not allowed",
			       (const char *)ev->data.alias.anchor);
	case YAML_SCALAR_EVENT:
		return on_scalar(c, ev);
	case YAML_SEQUENCE_START_EVENT:
		return on_open(c, ev, false);
	case YAML_MAPPING_START_EVENT:
		return on_open(c, ev, true);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (c->depth > 0) { /* libyaml balances these; never underflow regardless */
			c->depth--;
			free(c->st[c->depth].key); /* NULL: a key always gets a value */
		}
		return CO_OK;
	}
	return fail_at(ev->start_mark, "unexpected YAML event");
}

int co_yaml_to_json(const char *buf, size_t len, int max_depth, size_t max_values, json_t **out)
{
	ctx c = {.buf = buf ? buf : "",
		 .len = buf ? len : 0,
		 .max_depth = max_depth,
		 .max_values = max_values};
	yaml_parser_t parser;
	int rc = CO_OK;
	bool done = false;

	*out = NULL;
	if (!yaml_parser_initialize(&parser))
		return co_err_set(CO_ENOMEM, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)c.buf, c.len);
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	while (!done && rc == CO_OK) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = parser_error(&c, &parser);
			break;
		}
		rc = on_event(&c, &ev, &done);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	for (int i = 0; i < c.depth; i++)
		free(c.st[i].key);
	free(c.st);
	if (rc) {
		json_decref(c.root);
		return rc;
	}
	*out = c.root ? c.root : json_null(); /* an empty stream is null */
	return CO_OK;
}
