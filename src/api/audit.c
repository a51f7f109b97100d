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
 *
 * One walk at a time (verify_shared): requests that arrive while a walk runs wait and
 * share the next walk, which starts after they arrived (so it sees every edit made before
 * them). However many clients ask at once, at most one core is hashing.
 */
#include "../core/err.h"
#include "../core/validate.h"
#include "api.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t walk_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t walk_cv = PTHREAD_COND_INITIALIZER;
static bool walking;
static uint64_t walks_started, walks_done; /* walks are numbered 1, 2, … in start order */
static co_audit_verify last_walk;
static int last_rc;
static char last_msg[CO_ERR_MSG_MAX];

/* audit_verify, shared between concurrent callers (see the top of the file). */
static int verify_shared(co_store *s, co_audit_verify *out)
{
	pthread_mutex_lock(&walk_mu);
	uint64_t want = walks_started + 1; /* a walk that starts after this call began */
	while (walks_done < want) {
		if (walking) {
			pthread_cond_wait(&walk_cv, &walk_mu);
			continue;
		}
		walking = true;
		uint64_t mine = ++walks_started;
		pthread_mutex_unlock(&walk_mu);
		co_audit_verify v;
		memset(&v, 0, sizeof v);
		int rc = CO_STORE_CALL(s, audit_verify, &v);
		pthread_mutex_lock(&walk_mu);
		last_walk = v;
		last_rc = rc;
		snprintf(last_msg, sizeof last_msg, "%s", rc ? co_err_msg() : "");
		walks_done = mine;
		walking = false;
		pthread_cond_broadcast(&walk_cv);
	}
	*out = last_walk;
	int rc = last_rc;
	if (rc)
		co_err_set(rc, "%s", last_msg);
	pthread_mutex_unlock(&walk_mu);
	return rc;
}

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

/* A ?name= string filter: absent is NULL; present must be non-empty UTF-8 without
 * control characters (what an actor, action or path can be), alike on every backend. */
static bool str_query_or_reply(co_http_req *r, const char *name, const char **out)
{
	*out = co_req_query(r, name);
	if (!*out)
		return true;
	if (!**out) {
		co_reply_error(r, 400, "invalid", NULL, "%s must not be empty", name);
		return false;
	}
	size_t n = strlen(*out);
	bool ok = co_utf8_valid(*out, n);
	for (size_t i = 0; ok && i < n; i++)
		ok = (unsigned char)(*out)[i] >= 0x20 && (*out)[i] != 0x7f;
	if (!ok) {
		co_reply_error(r, 400, "invalid", NULL,
			       "%s must be UTF-8 text without control characters", name);
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
		rc = verify_shared(s, &v);
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
	int rc = verify_shared(co_req_store(r), &v);
	if (rc) {
		co_reply_store_error(r, rc);
		return;
	}
	co_buf b;
	co_buf_init(&b);
	verify_to_json(&v, &b);
	co_reply_json(r, 200, &b);
}
