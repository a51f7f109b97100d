/*
 * schedules.c — /workspaces/:id/schedules handlers (SPEC §5): CRUD, run now, history.
 *
 * Input is validated completely (the expression parses, the zone exists, the pair fires
 * at all) before the store is called, so bad input changes nothing. next_run_at of a new
 * schedule is computed here from now; a PATCH recomputes it inside the store's
 * transaction (core/schedule.h note 2). A manual run fires through the same store call as
 * the scheduler and hands the webhook to it (sched/scheduler.h).
 */
#include "../core/err.h"
#include "../core/validate.h"
#include "../sched/scheduler.h"
#include "api.h"

#include <string.h>

static void reply_sched(co_http_req *r, unsigned status, const co_schedule *s)
{
	co_buf b;
	co_buf_init(&b);
	co_sched_to_json(s, &b);
	co_reply_json(r, status, &b);
}

/* Answers a failed store call on a schedule. */
static void reply_sched_error(co_http_req *r, int rc, const co_conflict *c)
{
	if (c->kind == CO_CONFLICT_NAME_TAKEN) {
		co_buf extra;
		co_buf_init(&extra);
		co_buf_puts(&extra, "\"existing_id\":");
		co_buf_json_cstr(&extra, c->existing_id.s[0] ? c->existing_id.s : NULL);
		co_reply_error(r, 409, "name_taken", extra.data, "%s", co_err_msg());
		co_buf_free(&extra);
	} else if (c->kind == CO_CONFLICT_REMOVED) {
		co_reply_error(r, 409, "workspace_removed", NULL, "%s", co_err_msg());
	} else if (rc == CO_EINVAL) {
		co_reply_error(r, 400, "invalid_cron", NULL, "%s", co_err_msg());
	} else {
		co_reply_store_error(r, rc);
	}
}

/* Reads the :id and :sid path parameters; replies 400 if malformed. */
static bool ids_or_reply(co_http_req *r, co_id *ws, co_id *sid)
{
	return co_req_id_or_reply(r, 0, ws) && (!sid || co_req_id_or_reply(r, 1, sid));
}

void api_sched_create(co_http_req *r)
{
	co_id ws;
	if (!ids_or_reply(r, &ws, NULL))
		return;
	json_t *body = co_req_json_or_reply(r);
	if (!body)
		return;
	co_schedule in;
	const char *code;
	if (co_sched_parse_create(body, &in, &code)) {
		co_reply_error(r, 400, code, NULL, "%s", co_err_msg());
		return;
	}
	in.workspace_id = ws;
	if (co_sched_init_next(&in, co_clock_now_us())) {
		co_reply_error(r, 400, "invalid_cron", NULL, "%s", co_err_msg());
		co_schedule_clear(&in);
		return;
	}
	co_schedule out = {0};
	co_conflict conflict = {0};
	int rc = CO_STORE_CALL(co_req_store(r), sched_create, &in, &out, &conflict);
	if (rc == CO_OK)
		reply_sched(r, 201, &out);
	else
		reply_sched_error(r, rc, &conflict);
	co_schedule_clear(&in);
	co_schedule_clear(&out);
	co_conflict_clear(&conflict);
}

void api_sched_list(co_http_req *r)
{
	co_id ws;
	co_page p;
	if (!ids_or_reply(r, &ws, NULL) || !co_req_page_or_reply(r, &p))
		return;
	co_sched_list list = {0};
	int rc = CO_STORE_CALL(co_req_store(r), sched_list, &ws, &p, &list);
	if (rc == CO_OK) {
		CO_REPLY_LIST(r, list.items, list.n, co_sched_to_json);
	} else {
		co_reply_store_error(r, rc);
	}
	co_sched_list_clear(&list);
}

void api_sched_get(co_http_req *r)
{
	co_id ws, sid;
	if (!ids_or_reply(r, &ws, &sid))
		return;
	co_schedule s = {0};
	int rc = CO_STORE_CALL(co_req_store(r), sched_get, &ws, &sid, &s);
	if (rc == CO_OK)
		reply_sched(r, 200, &s);
	else
		co_reply_store_error(r, rc);
	co_schedule_clear(&s);
}

void api_sched_patch(co_http_req *r)
{
	co_id ws, sid;
	if (!ids_or_reply(r, &ws, &sid))
		return;
	json_t *body = co_req_json_or_reply(r);
	if (!body)
		return;
	co_sched_patch p;
	const char *code;
	if (co_sched_parse_patch(body, &p, &code)) {
		co_reply_error(r, 400, code, NULL, "%s", co_err_msg());
		return;
	}
	co_schedule out = {0};
	co_conflict conflict = {0};
	int rc = CO_STORE_CALL(co_req_store(r), sched_patch, &ws, &sid, &p, &out, &conflict);
	if (rc == CO_OK)
		reply_sched(r, 200, &out);
	else
		reply_sched_error(r, rc, &conflict);
	co_sched_patch_clear(&p);
	co_schedule_clear(&out);
	co_conflict_clear(&conflict);
}

void api_sched_delete(co_http_req *r)
{
	co_id ws, sid;
	if (!ids_or_reply(r, &ws, &sid))
		return;
	int rc = CO_STORE_CALL(co_req_store(r), sched_delete, &ws, &sid);
	if (rc == CO_OK)
		co_reply_empty(r, 204);
	else
		co_reply_store_error(r, rc);
}

/* POST …/run: fires now (even if disabled), answers 202 with the run. */
void api_sched_run(co_http_req *r)
{
	co_id ws, sid;
	if (!ids_or_reply(r, &ws, &sid))
		return;
	co_sched_fire f = {.schedule_id = sid, .workspace_id = ws, .manual = true,
			   .now = co_clock_now_us()};
	co_sched_fired fired = {0};
	co_conflict conflict = {0};
	int rc = CO_STORE_CALL(co_req_store(r), sched_fire, &f, &fired, &conflict);
	if (rc == CO_OK) {
		co_buf b;
		co_buf_init(&b);
		co_sched_run_to_json(&fired.run, &b);
		co_reply_json(r, 202, &b);
		co_scheduler_deliver(&fired); /* the webhook, if any, off this thread */
	} else {
		reply_sched_error(r, rc, &conflict);
	}
	co_sched_fired_clear(&fired);
	co_conflict_clear(&conflict);
}

void api_sched_history(co_http_req *r)
{
	co_id ws, sid;
	co_page p;
	if (!ids_or_reply(r, &ws, &sid) || !co_req_page_or_reply(r, &p))
		return;
	co_sched_run_list list = {0};
	int rc = CO_STORE_CALL(co_req_store(r), sched_history, &ws, &sid, &p, &list);
	if (rc == CO_OK) {
		CO_REPLY_LIST(r, list.items, list.n, co_sched_run_to_json);
	} else {
		co_reply_store_error(r, rc);
	}
	co_sched_run_list_clear(&list);
}
