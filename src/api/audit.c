/*
 * audit.c — GET /audit and GET /audit/verify (SPEC §7): the tamper-evident audit log.
 *
 * GET /audit?actor=&action=&target=<prefix>&since=&until=<RFC 3339>&after=<seq>&limit=
 * answers {records:[…], chain_valid}: the matching records in seq order (page with
 * after = the last seq seen), and whether the WHOLE chain verifies — not only the page —
 * so a client reading any page learns that some row was edited. That walk reads every
 * record (store.h audit_verify), so this GET costs O(records).
 * GET /audit/verify answers {valid, records, first_broken: null | {seq, id, reason}}.
 * Both are reads: they append nothing.
 */
#include "../core/err.h"
#include "../core/validate.h"
#include "api.h"

#include <stdlib.h>
#include <string.h>

/* A ?name= time in RFC 3339 into *out (0 when absent: unbounded). Replies 400 and
 * returns false on a bad one. */
static bool time_query_or_reply(co_http_req *r, const char *name, co_usec_t *out)
{
	bool until = !strcmp(name, "until");
	const char *s = co_req_query(r, name);
	*out = 0;
	if (!s)
		return true;
	if (co_rfc3339_parse(s, out)) {
		co_reply_error(r, 400, "invalid", NULL,
			       "%s must be an RFC 3339 time like 2026-11-23T16:38:16.123456Z", name);
		return false;
	}
	if (*out == 0 && until) /* 0 would mean unbounded; no record is that old */
		*out = 1;
	return true;
}

/* A ?name= string filter: absent is NULL; present must be non-empty. */
static bool str_query_or_reply(co_http_req *r, const char *name, const char **out)
{
	*out = co_req_query(r, name);
	if (*out && !**out) {
		co_reply_error(r, 400, "invalid", NULL, "%s must not be empty", name);
		return false;
	}
	return true;
}

static void verify_to_json(const co_audit_verify *v, co_buf *b)
{
	co_buf_puts(b, "{\"valid\":");
	co_buf_puts(b, v->valid ? "true" : "false");
	co_buf_puts(b, ",\"records\":");
	co_buf_i64(b, v->records);
	co_buf_puts(b, ",\"first_broken\":");
	if (!v->has_broken) {
		co_buf_puts(b, "null}");
		return;
	}
	co_buf_puts(b, "{\"seq\":");
	co_buf_i64(b, v->broken_seq);
	co_buf_puts(b, ",\"id\":");
	co_buf_json_cstr(b, v->broken_id.s);
	co_buf_puts(b, ",\"reason\":");
	co_buf_json_cstr(b, v->reason);
	co_buf_puts(b, "}}");
}

void api_audit_list(co_http_req *r)
{
	co_audit_filter f = {0};
	if (!co_req_limit_or_reply(r, &f.limit) || !str_query_or_reply(r, "actor", &f.actor) ||
	    !str_query_or_reply(r, "action", &f.action) ||
	    !str_query_or_reply(r, "target", &f.target_prefix) ||
	    !time_query_or_reply(r, "since", &f.since) || !time_query_or_reply(r, "until", &f.until))
		return;
	const char *after = co_req_query(r, "after");
	if (after && co_parse_i64(after, 0, INT64_MAX, &f.after)) {
		co_reply_error(r, 400, "invalid", NULL, "after must be a record's seq: %s", co_err_msg());
		return;
	}
	co_store *s = co_req_store(r);
	co_audit_list list = {0};
	co_audit_verify v;
	int rc = CO_STORE_CALL(s, audit_list, &f, &list);
	if (rc == CO_OK)
		rc = CO_STORE_CALL(s, audit_verify, &v);
	if (rc) {
		co_reply_store_error(r, rc);
		co_audit_list_clear(&list);
		return;
	}
	co_buf b;
	co_buf_init(&b);
	co_buf_puts(&b, "{\"records\":[");
	for (size_t i = 0; i < list.n; i++) {
		if (i)
			co_buf_putc(&b, ',');
		co_audit_record_to_json(&list.items[i], &b);
	}
	co_buf_puts(&b, "],\"chain_valid\":");
	co_buf_puts(&b, v.valid ? "true" : "false");
	co_buf_putc(&b, '}');
	co_audit_list_clear(&list);
	co_reply_json(r, 200, &b);
}

void api_audit_verify(co_http_req *r)
{
	co_audit_verify v;
	int rc = CO_STORE_CALL(co_req_store(r), audit_verify, &v);
	if (rc) {
		co_reply_store_error(r, rc);
		return;
	}
	co_buf b;
	co_buf_init(&b);
	verify_to_json(&v, &b);
	co_reply_json(r, 200, &b);
}
