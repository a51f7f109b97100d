/*
 * org.c — POST /org/import (SPEC §4): build an organisation from a template.
 *
 * The body is read (JSON, or YAML by Content-Type) and the whole template validated into a
 * plan (core/org.h) on a worker thread, never on the store's writer: a 10,000-node template
 * takes milliseconds to parse and must not hold up other writes. Only then does the store
 * apply the plan, in one transaction. A bad template is a 400 naming the node's path and
 * writes nothing; a missing or removed graft parent is a 404.
 *
 * Cost bounds: a body may be large (--max-import-body), so its values are counted on the
 * text before a tree is built (CO_ORG_MAX_VALUES), and at most IMPORTS_AT_ONCE imports
 * are parsed and applied at a time (the others wait their turn): a few hostile bodies
 * cannot take the machine's memory or every worker thread's CPU.
 */
#include "../core/err.h"
#include "../core/org.h"
#include "../core/validate.h"
#include "../core/yaml.h"
#include "api.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>

#define IMPORTS_AT_ONCE 2

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_in;

static void gate_enter(void)
{
	pthread_mutex_lock(&gate_mu);
	while (gate_in >= IMPORTS_AT_ONCE)
		pthread_cond_wait(&gate_cv, &gate_mu);
	gate_in++;
	pthread_mutex_unlock(&gate_mu);
}

static void gate_leave(void)
{
	pthread_mutex_lock(&gate_mu);
	gate_in--;
	pthread_cond_signal(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

/* Does the Content-Type's media type (before any ';' parameters) equal `type`? */
static bool media_is(const char *ct, const char *type)
{
	size_t n = strlen(type);
	if (strncasecmp(ct, type, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == 0 || *ct == ';';
}

static bool is_yaml(const char *ct)
{
	return media_is(ct, "application/yaml") || media_is(ct, "application/x-yaml") ||
	       media_is(ct, "text/yaml") || media_is(ct, "text/x-yaml");
}

/* The body as a JSON tree (a new reference), or NULL after replying 400/415. */
static json_t *template_doc_or_reply(co_http_req *r)
{
	const char *ct = co_req_header(r, "Content-Type");
	if (ct && is_yaml(ct)) {
		size_t len;
		const char *body = co_req_body(r, &len);
		json_t *doc;
		if (co_yaml_to_json(body, len, CO_ORG_JSON_DEPTH_MAX, CO_ORG_MAX_VALUES, &doc)) {
			co_reply_error(r, 400, "invalid_yaml", NULL, "%s", co_err_msg());
			return NULL;
		}
		return doc;
	}
	if (ct && !media_is(ct, "application/json")) {
		co_reply_error(r, 415, "unsupported_media_type", NULL,
			       "Content-Type must be application/json or application/yaml, not %.64s",
			       ct);
		return NULL;
	}
	size_t len;
	const char *body = co_req_body(r, &len);
	if (co_json_values_bound(body, len) > CO_ORG_MAX_VALUES) {
		co_reply_error(r, 400, "invalid_template", NULL,
			       "the template has more than %d JSON values", CO_ORG_MAX_VALUES);
		return NULL;
	}
	json_t *doc = co_req_json_depth_or_reply(r, CO_ORG_JSON_DEPTH_MAX);
	return doc ? json_incref(doc) : NULL;
}

/* ?parent_id= grafts the template; it must agree with a parent_id in the body. */
static bool graft_or_reply(co_http_req *r, co_org_plan *plan)
{
	const char *s = co_req_query(r, "parent_id");
	if (!s)
		return true;
	co_id id;
	if (co_id_parse(s, &id)) {
		co_reply_error(r, 400, "invalid_id", NULL, "parent_id '%.64s' is not a valid UUID", s);
		return false;
	}
	if (plan->has_parent && strcmp(plan->parent_id.s, id.s) != 0) {
		co_reply_error(r, 400, "invalid", NULL,
			       "parent_id in the query (%s) and in the body (%s) differ", id.s,
			       plan->parent_id.s);
		return false;
	}
	plan->has_parent = true;
	plan->parent_id = id;
	return true;
}

static void reply_template_error(co_http_req *r, const co_org_error *e)
{
	co_buf extra;
	co_buf_init(&extra);
	co_buf_puts(&extra, "\"path\":");
	co_buf_json_cstr(&extra, e->path);
	co_reply_error(r, 400, e->code ? e->code : "invalid_template",
		       co_buf_ok(&extra) ? extra.data : NULL, "%s", co_err_msg());
	co_buf_free(&extra);
}

static void import(co_http_req *r);

void api_org_import(co_http_req *r)
{
	gate_enter();
	import(r);
	gate_leave();
}

static void import(co_http_req *r)
{
	bool dry_run;
	if (co_parse_bool(co_req_query(r, "dry_run"), false, &dry_run)) {
		co_reply_error(r, 400, "invalid", NULL, "dry_run: %s", co_err_msg());
		return;
	}
	json_t *doc = template_doc_or_reply(r);
	if (!doc)
		return;
	co_org_plan plan;
	co_org_error err = {0};
	int rc = co_org_parse(doc, co_clock_now_us(), &plan, &err);
	json_decref(doc);
	if (rc) {
		if (rc == CO_EINVAL)
			reply_template_error(r, &err);
		else
			co_reply_store_error(r, rc);
		co_org_error_clear(&err);
		return;
	}
	co_org_error_clear(&err);
	if (!graft_or_reply(r, &plan)) {
		co_org_plan_clear(&plan);
		return;
	}
	co_org_result res = {0};
	rc = CO_STORE_CALL(co_req_store(r), org_import, &plan, dry_run, &res);
	if (rc == CO_OK) {
		co_buf b;
		co_buf_init(&b);
		co_org_result_to_json(&plan, &res, dry_run, &b);
		co_reply_json(r, !dry_run && co_org_result_created_any(&res) ? 201 : 200, &b);
	} else {
		co_reply_store_error(r, rc);
	}
	co_org_result_clear(&res);
	co_org_plan_clear(&plan);
}
