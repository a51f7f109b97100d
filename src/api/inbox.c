/*
 * inbox.c — /workspaces/:id/inbox handlers (SPEC §6): enqueue, list, get, claim, ack.
 *
 * A repeated idempotency key answers 200 with the first message (201 when new). Refused
 * acks are 409 with a code per reason: not_claimed, already_acked, dead_lettered,
 * stale_claim (core/inbox.h note 3). A new message for a workspace whose budget is
 * exceeded (core/budget.h note 4) is 402 budget_exceeded; the error sentence names the
 * limit reached with its used and limit figures (a repeated key still answers 200).
 */
#include "../core/err.h"
#include "api.h"

#include <stdlib.h>
#include <string.h>

static void reply_msg(co_http_req *r, unsigned status, const co_inbox_msg *m)
{
	co_buf b;
	co_buf_init(&b);
	co_inbox_to_json(m, &b);
	co_reply_json(r, status, &b);
}

static void reply_list(co_http_req *r, const co_inbox_list *l)
{
	CO_REPLY_LIST(r, l->items, l->n, co_inbox_to_json);
}

static void reply_inbox_error(co_http_req *r, int rc, const co_conflict *c)
{
	char extra[96];
	switch (c->kind) {
	case CO_CONFLICT_REMOVED:
		co_reply_error(r, 409, "workspace_removed", NULL, "%s", co_err_msg());
		break;
	case CO_CONFLICT_BUDGET:
		co_reply_error(r, 402, "budget_exceeded", NULL, "%s", co_err_msg());
		break;
	case CO_CONFLICT_STALE:
		snprintf(extra, sizeof extra, "\"status\":\"%s\",\"attempts\":%lld", c->status,
			 (long long)c->attempts);
		co_reply_error(r, 409, "stale_claim", extra, "%s", co_err_msg());
		break;
	case CO_CONFLICT_STATE:
		snprintf(extra, sizeof extra, "\"status\":\"%s\",\"attempts\":%lld", c->status,
			 (long long)c->attempts);
		co_reply_error(r, 409,
			       !strcmp(c->status, "queued") ? "not_claimed"
			       : !strcmp(c->status, "dead") ? "dead_lettered"
							    : "already_acked",
			       extra, "%s", co_err_msg());
		break;
	default: co_reply_store_error(r, rc);
	}
}

void api_inbox_enqueue(co_http_req *r)
{
	co_id ws;
	if (!co_req_id_or_reply(r, 0, &ws))
		return;
	json_t *body = co_req_json_or_reply(r);
	if (!body)
		return;
	co_inbox_msg in;
	if (co_inbox_parse_enqueue(body, &in)) {
		co_reply_error(r, 400, "invalid", NULL, "%s", co_err_msg());
		return;
	}
	co_inbox_msg out = {0};
	co_conflict conflict = {0};
	bool created = false;
	int rc = CO_STORE_CALL(co_req_store(r), inbox_enqueue, &ws, &in, &out, &created, &conflict);
	if (rc == CO_OK)
		reply_msg(r, created ? 201 : 200, &out);
	else
		reply_inbox_error(r, rc, &conflict);
	co_inbox_msg_clear(&in);
	co_inbox_msg_clear(&out);
	co_conflict_clear(&conflict);
}

void api_inbox_list(co_http_req *r)
{
	co_id ws;
	if (!co_req_id_or_reply(r, 0, &ws))
		return;
	co_inbox_filter f = {0};
	if (!co_req_limit_or_reply(r, &f.limit))
		return;
	const char *status = co_req_query(r, "status");
	if (status) {
		if (co_inbox_status_parse(status, &f.status)) {
			co_reply_error(r, 400, "invalid", NULL, "%s", co_err_msg());
			return;
		}
		f.has_status = true;
	}
	const char *after = co_req_query(r, "after");
	if (after) {
		if (co_id_parse(after, &f.after)) {
			co_reply_error(r, 400, "invalid", NULL, "after must be an id");
			return;
		}
		f.has_after = true;
	}
	co_inbox_list list = {0};
	int rc = CO_STORE_CALL(co_req_store(r), inbox_list, &ws, &f, &list);
	if (rc == CO_OK)
		reply_list(r, &list);
	else
		co_reply_store_error(r, rc);
	co_inbox_list_clear(&list);
}

void api_inbox_get(co_http_req *r)
{
	co_id ws, mid;
	if (!co_req_id_or_reply(r, 0, &ws) || !co_req_id_or_reply(r, 1, &mid))
		return;
	co_inbox_msg m = {0};
	int rc = CO_STORE_CALL(co_req_store(r), inbox_get, &ws, &mid, &m);
	if (rc == CO_OK)
		reply_msg(r, 200, &m);
	else
		co_reply_store_error(r, rc);
	co_inbox_msg_clear(&m);
}

/* POST …/inbox/claim: the body is optional (no body: one message, default lease). */
void api_inbox_claim(co_http_req *r)
{
	co_id ws;
	if (!co_req_id_or_reply(r, 0, &ws))
		return;
	json_t *body = NULL;
	if (co_req_has_body(r) && !(body = co_req_json_or_reply(r)))
		return;
	co_inbox_claim c;
	if (co_inbox_parse_claim(body, &c)) {
		co_reply_error(r, 400, "invalid", NULL, "%s", co_err_msg());
		return;
	}
	co_inbox_list list = {0};
	co_conflict conflict = {0};
	int rc = CO_STORE_CALL(co_req_store(r), inbox_claim, &ws, &c, &list, &conflict);
	if (rc == CO_OK)
		reply_list(r, &list);
	else
		reply_inbox_error(r, rc, &conflict);
	co_inbox_list_clear(&list);
	co_conflict_clear(&conflict);
}

void api_inbox_ack(co_http_req *r)
{
	co_id ws, mid;
	if (!co_req_id_or_reply(r, 0, &ws) || !co_req_id_or_reply(r, 1, &mid))
		return;
	json_t *body = co_req_json_or_reply(r);
	if (!body)
		return;
	co_inbox_ack ack;
	char *result = NULL;
	if (co_inbox_parse_ack(body, &ack, &result)) {
		co_reply_error(r, 400, "invalid", NULL, "%s", co_err_msg());
		free(result);
		return;
	}
	co_inbox_msg m = {0};
	co_conflict conflict = {0};
	int rc = CO_STORE_CALL(co_req_store(r), inbox_ack, &ws, &mid, &ack, &m, &conflict);
	if (rc == CO_OK)
		reply_msg(r, 200, &m);
	else
		reply_inbox_error(r, rc, &conflict);
	co_inbox_msg_clear(&m);
	co_conflict_clear(&conflict);
	free(result);
}
