/*
 * org.c — org templates: a template read into an import plan, the template-schedule rule,
 * and the import's answer; see org.h.
 *
 * Parsing validates nothing itself that another module already validates: each node's
 * workspace, schedules and memories are rebuilt as the very bodies the workspace, schedule
 * and memory APIs take (only the known keys, defaults filled in) and handed to their
 * parsers, so a field means and is checked the same in a template as in its own API.
 * Defaults are checked once, up front, so a bad default is reported as itself and not as
 * an error of the first node that inherits it.
 *
 * The walk is a pre-order recursion over the JSON tree, bounded: a node deeper than
 * CO_ORG_MAX_DEPTH is refused before its children are looked at, so the C stack holds at
 * most CO_ORG_MAX_DEPTH + 1 frames whatever the input. Uniqueness (sibling names, schedule
 * names and memory keys within a node) uses a small open-addressing hash set per list, so a
 * 10,000-node template stays linear. Nodes are kept by index (the array is reallocated as
 * it grows); their strings are heap-owned and never move, so the sets borrow them.
 */
#include "org.h"
#include "err.h"
#include "memory.h"
#include "validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a set of names ------------------------------------------------------------------ */

#define NAMESET_INLINE 16

/* Names (borrowed) with the index each was added at. Sized once for the most entries it
 * will get; small sets live inline (no allocation). */
typedef struct {
	const char **keys;
	int *idx;
	size_t mask;
	const char *inline_keys[NAMESET_INLINE];
	int inline_idx[NAMESET_INLINE];
} nameset;

static int nameset_init(nameset *s, size_t n)
{
	size_t cap = NAMESET_INLINE;
	while (cap < 2 * n)
		cap <<= 1;
	s->mask = cap - 1;
	if (cap == NAMESET_INLINE) {
		memset(s->inline_keys, 0, sizeof s->inline_keys);
		s->keys = s->inline_keys;
		s->idx = s->inline_idx;
		return CO_OK;
	}
	s->keys = calloc(cap, sizeof *s->keys);
	s->idx = malloc(cap * sizeof *s->idx);
	if (!s->keys || !s->idx) {
		free(s->keys);
		free(s->idx);
		s->keys = NULL;
		s->idx = NULL;
		return co_err_set(CO_ENOMEM, "out of memory");
	}
	return CO_OK;
}

static void nameset_free(nameset *s)
{
	if (s->keys != s->inline_keys) {
		free(s->keys);
		free(s->idx);
	}
	s->keys = NULL;
	s->idx = NULL;
}

/* Adds `name` (which must outlive the set) with index i. Returns the index it was added
 * with before if it is already there (and adds nothing), else -1. The set must have room:
 * at most the n of nameset_init names are ever added. */
static int nameset_add(nameset *s, const char *name, int i)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const unsigned char *q = (const unsigned char *)name; *q; q++)
		h = (h ^ *q) * 16777619u;
	for (size_t k = h & s->mask;; k = (k + 1) & s->mask) {
		if (!s->keys[k]) {
			s->keys[k] = name;
			s->idx[k] = i;
			return -1;
		}
		if (!strcmp(s->keys[k], name))
			return s->idx[k];
	}
}

/* ---- parsing ------------------------------------------------------------------------- */

/* The workspace fields a node may set or inherit from `defaults`. */
static const char *const ws_fields[] = {"role", "runtime", "tier", "url", "max_concurrent_tasks"};
#define NWS_FIELDS (sizeof ws_fields / sizeof ws_fields[0])

typedef struct {
	co_org_plan *p;
	co_org_error *err;
	size_t cap;                /* of p->nodes */
	json_t *dflt[NWS_FIELDS];  /* defaults.<ws_fields[i]> (borrowed), NULL if unset */
	json_t *dflt_tz;           /* defaults.timezone (borrowed), NULL if unset */
	/* The bodies handed to the workspace, schedule and memory parsers, reused from item
	 * to item (owned; their members are borrowed from the template). */
	json_t *ws_body, *sched_body, *mem_body;
} parser;

/* The member `field` of obj, or NULL when it is absent or null. */
static json_t *opt(json_t *obj, const char *field)
{
	json_t *v = json_object_get(obj, field);
	return v && !json_is_null(v) ? v : NULL;
}

/* Copies s into out[cap] whole if it fits, else cut at a character boundary with "…":
 * keeping its end (a path: the node is at the end) or its start (a name). */
static void clip(const char *s, char *out, size_t cap, bool keep_tail)
{
	size_t n = strlen(s);
	if (n < cap) {
		memcpy(out, s, n + 1);
		return;
	}
	size_t keep = cap - 4; /* "…" is 3 bytes, and the NUL */
	if (keep_tail) {
		const char *t = s + n - keep;
		while (((unsigned char)*t & 0xc0) == 0x80)
			t++;
		memcpy(out, "…", 3);
		memcpy(out + 3, t, strlen(t) + 1);
	} else {
		while (keep > 0 && ((unsigned char)s[keep] & 0xc0) == 0x80)
			keep--;
		memcpy(out, s, keep);
		memcpy(out + keep, "…", 4);
	}
}

/* Refuses the template itself (err->path NULL). code NULL: "invalid_template". */
__attribute__((format(printf, 3, 4))) static int tmpl_fail(parser *c, const char *code,
							 const char *fmt, ...)
{
	char msg[CO_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	c->err->code = code ? code : "invalid_template";
	return co_err_set(CO_EINVAL, "%s", msg);
}

/* Refuses node idx: err->path is its path, the message `node "<path>": <fmt…>`. The
 * arguments may include co_err_msg(): it is copied before the message is rewritten. */
__attribute__((format(printf, 4, 5))) static int node_fail(parser *c, int idx, const char *code,
							 const char *fmt, ...)
{
	char msg[CO_ERR_MSG_MAX], path[96];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	const char *full = c->p->nodes[idx].path;
	c->err->code = code ? code : "invalid_template";
	free(c->err->path);
	if (!(c->err->path = strdup(full)))
		return co_err_set(CO_ENOMEM, "out of memory");
	clip(full, path, sizeof path, true);
	return co_err_set(CO_EINVAL, "node \"%s\": %s", path, msg);
}

/* The string of member `field` if it is a string that is a valid name (is_key: a valid
 * memory key), else NULL. Overwrites the error message. */
static const char *usable(json_t *obj, const char *field, bool is_key)
{
	json_t *v = opt(obj, field);
	if (!v || !json_is_string(v))
		return NULL;
	const char *s = json_string_value(v);
	return (is_key ? co_validate_key(s) : co_validate_name(field, s)) == CO_OK ? s : NULL;
}

/* Refuses schedule (or memory) i of node idx, element e of its list:
 * `node "<path>": schedule "daily": <fmt…>`, or `schedule [i]` when it has no usable name.
 * The label is made only here, on failure; the arguments may include co_err_msg(). */
__attribute__((format(printf, 7, 8))) static int item_fail(parser *c, int idx, const char *code,
							 bool memory, json_t *e, size_t i,
							 const char *fmt, ...)
{
	char msg[CO_ERR_MSG_MAX], name[48];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	const char *what = memory ? "memory" : "schedule";
	const char *s = usable(e, memory ? "key" : "name", memory);
	if (!s)
		return node_fail(c, idx, code, "%s [%zu]: %s", what, i, msg);
	clip(s, name, sizeof name, false);
	return node_fail(c, idx, code, "%s \"%s\": %s", what, name, msg);
}

/* Sets body.field to v, or removes it when v is NULL. A body is reused from item to item,
 * so a member that stays present is replaced in place, without allocating. */
static int put(json_t *body, const char *field, json_t *v)
{
	if (!v) {
		json_object_del(body, field); /* -1 when it is not there: fine */
		return CO_OK;
	}
	return json_object_set_nocheck(body, field, v) ? co_err_set(CO_ENOMEM, "out of memory")
						       : CO_OK;
}

/* *b, made on first use. */
static int ensure_body(json_t **b)
{
	if (!*b && !(*b = json_object()))
		return co_err_set(CO_ENOMEM, "out of memory");
	return CO_OK;
}

/* A node's path: its parent's, "/" and its name, or "[i]" when it has no usable name
 * (org.h note 3). NULL when out of memory. */
static char *make_path(const char *parent, const char *name, size_t i)
{
	char idx[32];
	if (!name) {
		snprintf(idx, sizeof idx, "[%zu]", i);
		name = idx;
	}
	size_t pl = strlen(parent), nl = strlen(name);
	char *s = malloc(pl + nl + 2);
	if (!s)
		return NULL;
	memcpy(s, parent, pl);
	s[pl] = '/';
	memcpy(s + pl + 1, name, nl + 1);
	return s;
}

/* If message `msg` starts with `field`, "defaults.<msg>", else "defaults.<field>: <msg>". */
static int defaults_fail(parser *c, const char *code, const char *field, const char *msg)
{
	char m[CO_ERR_MSG_MAX];
	snprintf(m, sizeof m, "%s", msg);
	size_t fl = strlen(field);
	if (!strncmp(m, field, fl) && m[fl] == ' ')
		return tmpl_fail(c, code, "defaults.%s", m);
	return tmpl_fail(c, code, "defaults.%s: %s", field, m);
}

/* Reads and checks `defaults` (org.h note 2) with the workspace and schedule parsers. */
static int read_defaults(parser *c, json_t *tmpl)
{
	json_t *d = opt(tmpl, "defaults");
	if (!d)
		return CO_OK;
	if (!json_is_object(d))
		return tmpl_fail(c, NULL, "defaults must be an object");
	for (size_t i = 0; i < NWS_FIELDS; i++) {
		json_t *v = opt(d, ws_fields[i]);
		if (!v)
			continue;
		json_t *o = json_object();
		co_workspace w;
		if (!o || json_object_set_new_nocheck(o, "name", json_string("defaults")) ||
		    json_object_set_nocheck(o, ws_fields[i], v)) {
			json_decref(o);
			return co_err_set(CO_ENOMEM, "out of memory");
		}
		int rc = co_ws_parse_create(o, &w);
		json_decref(o);
		if (rc)
			return rc == CO_EINVAL ? defaults_fail(c, NULL, ws_fields[i], co_err_msg()) : rc;
		co_workspace_clear(&w);
		c->dflt[i] = v;
	}
	json_t *tz = opt(d, "timezone");
	if (tz) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:O}", "name", "defaults", "cron_expr",
				      "* * * * *", "prompt", "", "timezone", tz);
		if (!o)
			return co_err_set(CO_ENOMEM, "out of memory");
		co_schedule s;
		const char *code;
		int rc = co_sched_parse_create(o, &s, &code);
		json_decref(o);
		if (rc)
			return rc == CO_EINVAL ? defaults_fail(c, strcmp(code, "invalid") ? code : NULL,
							       "timezone", co_err_msg())
					       : rc;
		co_schedule_clear(&s);
		c->dflt_tz = tz;
	}
	return CO_OK;
}

/* The node's workspace: {name, role, runtime, tier, url, max_concurrent_tasks} from the
 * node, else from defaults, read by the workspace API's parser. */
static int node_workspace(parser *c, json_t *jn, co_workspace *ws)
{
	int rc = ensure_body(&c->ws_body);
	if (!rc)
		rc = put(c->ws_body, "name", opt(jn, "name"));
	for (size_t i = 0; i < NWS_FIELDS && !rc; i++) {
		json_t *v = opt(jn, ws_fields[i]);
		rc = put(c->ws_body, ws_fields[i], v ? v : c->dflt[i]);
	}
	return rc ? rc : co_ws_parse_create(c->ws_body, ws);
}

/* The list member `field` of a node: NULL and CO_OK when absent or null (empty); an error
 * naming the field when it is not an array. */
static int node_list(parser *c, int idx, json_t *jn, const char *field, json_t **out)
{
	*out = opt(jn, field);
	if (*out && !json_is_array(*out))
		return node_fail(c, idx, NULL, "%s must be an array", field);
	if (*out && json_array_size(*out) == 0)
		*out = NULL;
	return CO_OK;
}

static int node_schedules(parser *c, int idx, json_t *jn)
{
	json_t *a;
	int rc = node_list(c, idx, jn, "schedules", &a);
	if (rc || !a)
		return rc;
	size_t n = json_array_size(a);
	co_org_node *node = &c->p->nodes[idx]; /* stable: nodes are not added meanwhile */
	if (!(node->schedules = calloc(n, sizeof *node->schedules)))
		return co_err_set(CO_ENOMEM, "out of memory");
	nameset names;
	if ((rc = ensure_body(&c->sched_body)) || (rc = nameset_init(&names, n)))
		return rc;
	for (size_t i = 0; i < n && rc == CO_OK; i++) {
		json_t *e = json_array_get(a, i);
		if (!json_is_object(e)) {
			rc = node_fail(c, idx, NULL, "schedules[%zu] must be an object", i);
			break;
		}
		json_t *o = c->sched_body, *tz = opt(e, "timezone");
		if ((rc = put(o, "name", json_object_get(e, "name"))) ||
		    (rc = put(o, "cron_expr", json_object_get(e, "cron_expr"))) ||
		    (rc = put(o, "timezone", tz ? tz : c->dflt_tz)) ||
		    (rc = put(o, "prompt", json_object_get(e, "prompt"))) ||
		    (rc = put(o, "enabled", json_object_get(e, "enabled"))))
			break;
		co_schedule *s = &node->schedules[node->nschedules];
		const char *code;
		if ((rc = co_sched_parse_create(o, s, &code))) {
			if (rc == CO_EINVAL)
				rc = item_fail(c, idx, strcmp(code, "invalid") ? code : NULL, false, e,
					       i, "%s", co_err_msg());
			break;
		}
		node->nschedules++;
		s->source = CO_SCHED_TEMPLATE;
		if ((rc = co_sched_init_next(s, c->p->now))) {
			if (rc == CO_EINVAL)
				rc = item_fail(c, idx, "invalid_cron", false, e, i, "%s", co_err_msg());
			break;
		}
		int prev = nameset_add(&names, s->name, (int)i);
		if (prev >= 0)
			rc = item_fail(c, idx, NULL, false, e, i, "schedules[%d] has the same name",
				       prev);
	}
	nameset_free(&names);
	c->p->nschedules += node->nschedules;
	return rc;
}

static int node_memories(parser *c, int idx, json_t *jn)
{
	json_t *a;
	int rc = node_list(c, idx, jn, "initial_memories", &a);
	if (rc || !a)
		return rc;
	size_t n = json_array_size(a);
	co_org_node *node = &c->p->nodes[idx];
	if (!(node->memories = calloc(n, sizeof *node->memories)))
		return co_err_set(CO_ENOMEM, "out of memory");
	nameset keys;
	if ((rc = ensure_body(&c->mem_body)) || (rc = nameset_init(&keys, n)))
		return rc;
	for (size_t i = 0; i < n && rc == CO_OK; i++) {
		json_t *e = json_array_get(a, i);
		if (!json_is_object(e)) {
			rc = node_fail(c, idx, NULL, "initial_memories[%zu] must be an object", i);
			break;
		}
		/* if_match_version is not copied: an import never overwrites, so it means nothing */
		json_t *o = c->mem_body;
		if ((rc = put(o, "key", json_object_get(e, "key"))) ||
		    (rc = put(o, "value", json_object_get(e, "value"))) ||
		    (rc = put(o, "ttl_seconds", json_object_get(e, "ttl_seconds"))))
			break;
		co_mem_put mp;
		char *value;
		rc = co_mem_parse_put(o, &mp, &value);
		co_org_memory *m = &node->memories[node->nmemories];
		if (rc == CO_OK && !(m->key = strdup(mp.key)))
			rc = co_err_set(CO_ENOMEM, "out of memory");
		if (rc) {
			free(value);
			if (rc == CO_EINVAL)
				rc = item_fail(c, idx, NULL, true, e, i, "%s", co_err_msg());
			break;
		}
		m->value_json = value;
		m->ttl_seconds = mp.ttl_seconds;
		node->nmemories++;
		if (!co_json_depth_ok(value, strlen(value), CO_JSON_DEPTH_MAX - 1)) {
			rc = item_fail(c, idx, NULL, true, e, i, "value nests deeper than %d levels",
				       CO_JSON_DEPTH_MAX - 1);
			break;
		}
		int prev = nameset_add(&keys, m->key, (int)i);
		if (prev >= 0)
			rc = item_fail(c, idx, NULL, true, e, i, "initial_memories[%d] has the same key",
				       prev);
	}
	nameset_free(&keys);
	c->p->nmemories += node->nmemories;
	return rc;
}

static int parse_nodes(parser *c, json_t *a, int parent, int depth);

/* Reads node jn, the i-th of its siblings (whose names are in sibs), and its subtree. */
static int parse_node(parser *c, json_t *jn, int parent, int depth, size_t i, nameset *sibs)
{
	co_org_plan *p = c->p;
	const char *ppath = parent < 0 ? p->org : p->nodes[parent].path;
	const char *name = json_is_object(jn) ? usable(jn, "name", false) : NULL;
	if (p->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		co_org_node *nodes = realloc(p->nodes, cap * sizeof *nodes);
		if (!nodes)
			return co_err_set(CO_ENOMEM, "out of memory");
		p->nodes = nodes;
		c->cap = cap;
	}
	int idx = (int)p->n++;
	co_org_node *node = &p->nodes[idx];
	memset(node, 0, sizeof *node);
	node->parent = parent;
	node->depth = depth;
	if (!(node->path = make_path(ppath, name, i)))
		return co_err_set(CO_ENOMEM, "out of memory");
	if (depth > CO_ORG_MAX_DEPTH)
		return node_fail(c, idx, NULL, "it is %d levels deep; the limit is %d", depth,
				 CO_ORG_MAX_DEPTH);
	if (p->n > CO_ORG_MAX_NODES)
		return node_fail(c, idx, NULL, "the template has more than %d nodes",
				 CO_ORG_MAX_NODES);
	if (!json_is_object(jn))
		return node_fail(c, idx, NULL, "a node must be a JSON object");
	int rc = node_workspace(c, jn, &node->ws);
	if (rc)
		return rc == CO_EINVAL ? node_fail(c, idx, NULL, "%s", co_err_msg()) : rc;
	node->ws.status = CO_WS_PROVISIONING;
	node->ws.has_parent = false;
	int prev = nameset_add(sibs, node->ws.name, (int)i);
	if (prev >= 0)
		return node_fail(c, idx, NULL, "sibling [%d] has the same name", prev);
	if (depth > p->max_depth)
		p->max_depth = depth;
	if ((rc = node_schedules(c, idx, jn)) || (rc = node_memories(c, idx, jn)))
		return rc;
	json_t *kids;
	if ((rc = node_list(c, idx, jn, "children", &kids)) || !kids)
		return rc;
	return parse_nodes(c, kids, idx, depth + 1);
}

/* Reads the node list `a` (an array) whose parent is node `parent` (-1: the top level). */
static int parse_nodes(parser *c, json_t *a, int parent, int depth)
{
	size_t n = json_array_size(a);
	nameset sibs;
	int rc = nameset_init(&sibs, n);
	for (size_t i = 0; i < n && rc == CO_OK; i++)
		rc = parse_node(c, json_array_get(a, i), parent, depth, i, &sibs);
	nameset_free(&sibs);
	return rc;
}

static int parse_template(parser *c, json_t *doc)
{
	co_org_plan *p = c->p;
	if (!json_is_object(doc))
		return tmpl_fail(c, NULL, "the body must be a JSON object: an org template");
	json_t *tmpl = doc;
	json_t *wrapped = json_object_get(doc, "template");
	if (wrapped) {
		if (!json_is_object(wrapped))
			return tmpl_fail(c, NULL, "template must be a JSON object");
		tmpl = wrapped;
	}
	json_t *pid = opt(doc, "parent_id");
	if (pid) {
		if (!json_is_string(pid))
			return tmpl_fail(c, NULL, "parent_id must be a UUID string or null");
		if (co_id_parse(json_string_value(pid), &p->parent_id))
			return tmpl_fail(c, NULL, "parent_id is not a valid UUID");
		p->has_parent = true;
	}
	json_t *name = opt(tmpl, "name");
	if (name && !json_is_string(name))
		return tmpl_fail(c, NULL, "name must be a string");
	int rc = co_validate_name("name", name ? json_string_value(name) : NULL);
	if (rc)
		return tmpl_fail(c, NULL, "%s", co_err_msg());
	if (!(p->org = strdup(json_string_value(name))))
		return co_err_set(CO_ENOMEM, "out of memory");
	if ((rc = read_defaults(c, tmpl)))
		return rc;
	json_t *ws = opt(tmpl, "workspaces");
	if (!ws)
		return CO_OK;
	if (!json_is_array(ws))
		return tmpl_fail(c, NULL, "workspaces must be an array");
	return parse_nodes(c, ws, -1, 1);
}

int co_org_parse(json_t *doc, co_usec_t now, co_org_plan *out, co_org_error *err)
{
	memset(out, 0, sizeof *out);
	err->code = NULL;
	err->path = NULL;
	out->now = now;
	parser c = {.p = out, .err = err};
	int rc = parse_template(&c, doc);
	json_decref(c.ws_body);
	json_decref(c.sched_body);
	json_decref(c.mem_body);
	if (rc) {
		co_org_plan_clear(out);
		if (rc == CO_EINVAL && !err->code)
			err->code = "invalid_template";
	}
	return rc;
}

void co_org_plan_clear(co_org_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		co_org_node *n = &p->nodes[i];
		free(n->path);
		co_workspace_clear(&n->ws);
		for (size_t j = 0; j < n->nschedules; j++)
			co_schedule_clear(&n->schedules[j]);
		free(n->schedules);
		for (size_t j = 0; j < n->nmemories; j++) {
			free(n->memories[j].key);
			free(n->memories[j].value_json);
		}
		free(n->memories);
	}
	free(p->nodes);
	free(p->org);
	memset(p, 0, sizeof *p);
}

void co_org_error_clear(co_org_error *e)
{
	free(e->path);
	e->path = NULL;
	e->code = NULL;
}

/* ---- results ------------------------------------------------------------------------ */

int co_org_result_reset(co_org_result *r, size_t n)
{
	co_org_result_clear(r);
	if (n && !(r->nodes = calloc(n, sizeof *r->nodes)))
		return co_err_set(CO_ENOMEM, "out of memory");
	r->n = n;
	return CO_OK;
}

void co_org_result_clear(co_org_result *r)
{
	free(r->nodes);
	memset(r, 0, sizeof *r);
}

bool co_org_result_created_any(const co_org_result *r)
{
	return r->ws_created > 0 || r->sched_created > 0 || r->mem_created > 0;
}

/* ---- the template-schedule rule ------------------------------------------------------ */

int co_org_sched_first_next(const co_schedule *t, co_usec_t now, co_usec_t *next)
{
	*next = t->enabled ? t->next_run_at : 0;
	if (!t->enabled || t->next_run_at > now)
		return CO_OK;
	int rc = co_sched_next(t, now, next);
	return rc == CO_ENOTFOUND ? co_err_set(CO_EINVAL, "%s", co_err_msg()) : rc;
}

int co_org_sched_merge(co_schedule *cur, const co_schedule *tmpl, co_usec_t now,
		       co_org_sched_action *action)
{
	if (cur->source != CO_SCHED_TEMPLATE) {
		*action = CO_ORG_SCHED_KEPT_RUNTIME;
		return CO_OK;
	}
	if (!strcmp(cur->cron_expr, tmpl->cron_expr) && !strcmp(cur->timezone, tmpl->timezone) &&
	    !strcmp(cur->prompt, tmpl->prompt) && cur->enabled == tmpl->enabled) {
		*action = CO_ORG_SCHED_UNCHANGED;
		return CO_OK;
	}
	co_sched_patch p = {
		.fields = CO_SCHF_CRON | CO_SCHF_TZ | CO_SCHF_PROMPT | CO_SCHF_ENABLED,
		.v = {.cron_expr = tmpl->cron_expr,
		      .timezone = tmpl->timezone,
		      .prompt = tmpl->prompt,
		      .enabled = tmpl->enabled},
	};
	*action = CO_ORG_SCHED_UPDATED;
	return co_sched_apply_patch(cur, &p, now); /* p.v borrows tmpl's strings: no clear */
}

/* ---- the answer ---------------------------------------------------------------------- */

/* The id to show for node i: none when the result has no entry for it, or when a dry run
 * would have created it (nothing was kept). */
static const char *shown_id(const co_org_result *r, size_t i, bool dry_run)
{
	if (i >= r->n || (dry_run && r->nodes[i].created) || !r->nodes[i].id.s[0])
		return NULL;
	return r->nodes[i].id.s;
}

void co_org_result_to_json(const co_org_plan *p, const co_org_result *r, bool dry_run,
			   co_buf *b)
{
	co_buf_putc(b, '{');
	co_buf_json_key(b, "org", true);
	co_buf_json_cstr(b, p->org);
	co_buf_json_key(b, "dry_run", false);
	co_buf_puts(b, dry_run ? "true" : "false");
	co_buf_json_key(b, "created", false);
	co_buf_i64(b, r->ws_created);
	co_buf_json_key(b, "reused", false);
	co_buf_i64(b, r->ws_reused);
	co_buf_json_key(b, "workspaces", false);
	co_buf_putc(b, '[');
	for (size_t i = 0; i < p->n; i++) {
		const co_org_node *n = &p->nodes[i];
		co_buf_puts(b, i ? ",{" : "{");
		co_buf_json_key(b, "id", true);
		co_buf_json_cstr(b, shown_id(r, i, dry_run));
		co_buf_json_key(b, "name", false);
		co_buf_json_cstr(b, n->ws.name);
		co_buf_json_key(b, "parent_id", false);
		if (n->parent < 0)
			co_buf_json_cstr(b, p->has_parent ? p->parent_id.s : NULL);
		else
			co_buf_json_cstr(b, shown_id(r, (size_t)n->parent, dry_run));
		co_buf_json_key(b, "path", false);
		co_buf_json_cstr(b, n->path);
		co_buf_json_key(b, "created", false);
		co_buf_puts(b, i < r->n && r->nodes[i].created ? "true}" : "false}");
	}
	co_buf_putc(b, ']');
	co_buf_json_key(b, "schedules", false);
	co_buf_putc(b, '{');
	co_buf_json_key(b, "created", true);
	co_buf_i64(b, r->sched_created);
	co_buf_json_key(b, "updated", false);
	co_buf_i64(b, r->sched_updated);
	co_buf_json_key(b, "unchanged", false);
	co_buf_i64(b, r->sched_unchanged);
	co_buf_json_key(b, "kept_runtime", false);
	co_buf_i64(b, r->sched_kept_runtime);
	co_buf_putc(b, '}');
	co_buf_json_key(b, "memories", false);
	co_buf_putc(b, '{');
	co_buf_json_key(b, "created", true);
	co_buf_i64(b, r->mem_created);
	co_buf_json_key(b, "kept", false);
	co_buf_i64(b, r->mem_kept);
	co_buf_puts(b, "}}");
}
