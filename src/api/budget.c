/*
 * budget.c — /workspaces/:id/usage and /workspaces/:id/budget handlers (SPEC §7,
 * core/budget.h).
 *
 *   POST  /workspaces/:id/usage   {seconds?, input_tokens?, output_tokens?, cost_usd?}
 *         → 201 {workspace_id, seconds, input_tokens, output_tokens, cost_usd}: the event
 *           as recorded (seconds and cost_usd rounded to micro-units).
 *   GET   /workspaces/:id/budget  → 200 the budget (co_budget_to_json), also of a removed
 *           workspace (its usage is history, as its memory stays readable).
 *   PATCH /workspaces/:id/budget  {limits:{seconds?, input_tokens?, output_tokens?,
 *           cost_usd?}} (null clears one) → 200 the budget after the change.
 *
 * The body is validated whole before the store is called (400 invalid naming the field:
 * nothing is written); NaN and infinities are not JSON, so the body parser already
 * answers them 400 invalid_json. A removed workspace refuses writes with 409
 * workspace_removed; an absent one is 404. Amounts of seconds and dollars are written as
 * exact decimals of their micro-units (core/budget.c note 3).
 */
#include "../core/err.h"
#include "api.h"

#include <stdio.h>

/* n micro-units as an exact decimal with 1..6 fraction digits (core/budget.c note 3). */
static void put_micro(co_buf *b, int64_t n)
{
	char tmp[40];
	int len = snprintf(tmp, sizeof tmp, "%lld.%06lld", (long long)(n / 1000000),
			   (long long)(n % 1000000));
	while (len > 2 && tmp[len - 1] == '0' && tmp[len - 2] != '.')
		len--;
	co_buf_append(b, tmp, (size_t)len);
}

static void reply_budget(co_http_req *r, const co_budget *bud)
{
	co_buf b;
	co_buf_init(&b);
	co_budget_to_json(bud, &b);
	co_reply_json(r, 200, &b);
}

static void reply_write_error(co_http_req *r, int rc, const co_conflict *c)
{
	if (rc == CO_ECONFLICT && c->kind == CO_CONFLICT_REMOVED)
		co_reply_error(r, 409, "workspace_removed", NULL, "%s", co_err_msg());
	else
		co_reply_store_error(r, rc);
}

void api_usage_add(co_http_req *r)
{
	co_id ws;
	if (!co_req_id_or_reply(r, 0, &ws))
		return;
	json_t *body = co_req_json_or_reply(r);
	if (!body)
		return;
	co_usage u;
	if (co_usage_parse(body, &u)) {
		co_reply_error(r, 400, "invalid", NULL, "%s", co_err_msg());
		return;
	}
	co_conflict conflict = {0};
	int rc = CO_STORE_CALL(co_req_store(r), usage_add, &ws, &u, &conflict);
	if (rc == CO_OK) {
		co_buf b;
		co_buf_init(&b);
		co_buf_puts(&b, "{\"workspace_id\":");
		co_buf_json_cstr(&b, ws.s);
		co_buf_json_key(&b, "seconds", false);
		put_micro(&b, u.seconds_us);
		co_buf_json_key(&b, "input_tokens", false);
		co_buf_i64(&b, u.input_tokens);
		co_buf_json_key(&b, "output_tokens", false);
		co_buf_i64(&b, u.output_tokens);
		co_buf_json_key(&b, "cost_usd", false);
		put_micro(&b, u.cost_micro_usd);
		co_buf_putc(&b, '}');
		co_reply_json(r, 201, &b);
	} else {
		reply_write_error(r, rc, &conflict);
	}
	co_conflict_clear(&conflict);
}

void api_budget_get(co_http_req *r)
{
	co_id ws;
	if (!co_req_id_or_reply(r, 0, &ws))
		return;
	co_budget bud;
	int rc = CO_STORE_CALL(co_req_store(r), budget_get, &ws, &bud);
	if (rc == CO_OK)
		reply_budget(r, &bud);
	else
		co_reply_store_error(r, rc);
}

void api_budget_patch(co_http_req *r)
{
	co_id ws;
	if (!co_req_id_or_reply(r, 0, &ws))
		return;
	json_t *body = co_req_json_or_reply(r);
	if (!body)
		return;
	co_budget_patch p;
	if (co_budget_parse_patch(body, &p)) {
		co_reply_error(r, 400, "invalid", NULL, "%s", co_err_msg());
		return;
	}
	co_budget bud;
	co_conflict conflict = {0};
	int rc = CO_STORE_CALL(co_req_store(r), budget_patch, &ws, &p, &bud, &conflict);
	if (rc == CO_OK)
		reply_budget(r, &bud);
	else
		reply_write_error(r, rc, &conflict);
	co_conflict_clear(&conflict);
}
