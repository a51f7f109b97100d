/*
 * workspaces.c — /workspaces handlers (SPEC §2): create, list, get, patch, delete.
 *
 * Each handler validates its input completely before calling the store, so bad input
 * changes nothing; store outcomes map to HTTP in reply_ws_conflict() and
 * co_reply_store_error().
 */
#include "../core/err.h"
#include "../core/validate.h"
#include "api.h"

#include <string.h>

static void reply_ws(co_http_req *r, unsigned status, const co_workspace *w)
{
	co_buf b;
	co_buf_init(&b);
	co_ws_to_json(w, &b);
	co_reply_json(r, status, &b);
}

/* Answers a failed create/patch/delete: 409 with the conflict's code and details. */
static void reply_ws_conflict(co_http_req *r, int rc, const co_conflict *c)
{
	co_buf extra;
	co_buf_init(&extra);
	switch (c->kind) {
	case CO_CONFLICT_NAME_TAKEN:
		co_buf_puts(&extra, "\"existing_id\":");
		co_buf_json_cstr(&extra, c->existing_id.s[0] ? c->existing_id.s : NULL);
		co_reply_error(r, 409, "name_taken", extra.data, "%s", co_err_msg());
		break;
	case CO_CONFLICT_CYCLE: co_reply_error(r, 409, "cycle", NULL, "%s", co_err_msg()); break;
	case CO_CONFLICT_REMOVED:
		co_reply_error(r, 409, "workspace_removed", NULL, "%s", co_err_msg());
		break;
	case CO_CONFLICT_CONFIRM:
		co_buf_puts(&extra, "\"children\":[");
		for (size_t i = 0; i < c->children.n; i++) {
			if (i)
				co_buf_putc(&extra, ',');
			co_buf_puts(&extra, "{\"id\":");
			co_buf_json_cstr(&extra, c->children.items[i].id.s);
			co_buf_puts(&extra, ",\"name\":");
			co_buf_json_cstr(&extra, c->children.items[i].name);
			co_buf_putc(&extra, '}');
		}
		co_buf_putc(&extra, ']');
		co_reply_error(r, 409, "confirmation_required", extra.data, "%s", co_err_msg());
		break;
	default: co_reply_store_error(r, rc);
	}
	co_buf_free(&extra);
}

void api_ws_create(co_http_req *r)
{
	json_t *body = co_req_json_or_reply(r);
	if (!body)
		return;
	co_workspace in, out = {0};
	if (co_ws_parse_create(body, &in)) {
		co_reply_error(r, 400, "invalid", NULL, "%s", co_err_msg());
		return;
	}
	co_conflict conflict = {0};
	int rc = CO_STORE_CALL(co_req_store(r), ws_create, &in, &out, &conflict);
	if (rc == CO_OK)
		reply_ws(r, 201, &out);
	else
		reply_ws_conflict(r, rc, &conflict);
	co_workspace_clear(&in);
	co_workspace_clear(&out);
	co_conflict_clear(&conflict);
}

void api_ws_get(co_http_req *r)
{
	co_id id;
	if (!co_req_id_or_reply(r, 0, &id))
		return;
	co_workspace w = {0};
	int rc = CO_STORE_CALL(co_req_store(r), ws_get, &id, &w);
	if (rc == CO_OK)
		reply_ws(r, 200, &w);
	else
		co_reply_store_error(r, rc);
	co_workspace_clear(&w);
}

/* GET /workspaces?parent_id=<uuid>|null&status=&include_removed=&limit=&after=<id> */
void api_ws_list(co_http_req *r)
{
	co_ws_filter f = {0};
	if (!co_req_limit_or_reply(r, &f.limit))
		return;
	const char *parent = co_req_query(r, "parent_id");
	if (parent) {
		f.by_parent = true;
		if (!strcmp(parent, "null") || !*parent)
			f.parent_is_null = true;
		else if (co_id_parse(parent, &f.parent_id)) {
			co_reply_error(r, 400, "invalid_id", NULL, "parent_id '%.64s' is not a UUID or null",
				       parent);
			return;
		}
	}
	const char *status = co_req_query(r, "status");
	if (status) {
		if (co_ws_status_parse(status, &f.status)) {
			co_reply_error(r, 400, "invalid", NULL, "%s", co_err_msg());
			return;
		}
		f.by_status = true;
	}
	if (co_parse_bool(co_req_query(r, "include_removed"), false, &f.include_removed)) {
		co_reply_error(r, 400, "invalid", NULL, "include_removed: %s", co_err_msg());
		return;
	}
	const char *after = co_req_query(r, "after");
	if (after) {
		if (co_id_parse(after, &f.after)) {
			co_reply_error(r, 400, "invalid_id", NULL, "after '%.64s' is not a UUID", after);
			return;
		}
		f.has_after = true;
	}
	co_ws_list list = {0};
	int rc = CO_STORE_CALL(co_req_store(r), ws_list, &f, &list);
	if (rc) {
		co_reply_store_error(r, rc);
		co_ws_list_clear(&list);
		return;
	}
	CO_REPLY_LIST(r, list.items, list.n, co_ws_to_json);
	co_ws_list_clear(&list);
}

void api_ws_patch(co_http_req *r)
{
	co_id id;
	if (!co_req_id_or_reply(r, 0, &id))
		return;
	json_t *body = co_req_json_or_reply(r);
	if (!body)
		return;
	co_ws_patch p;
	if (co_ws_parse_patch(body, &p)) {
		co_reply_error(r, 400, "invalid", NULL, "%s", co_err_msg());
		return;
	}
	co_workspace out = {0};
	co_conflict conflict = {0};
	int rc = CO_STORE_CALL(co_req_store(r), ws_patch, &id, &p, &out, &conflict);
	if (rc == CO_OK)
		reply_ws(r, 200, &out);
	else
		reply_ws_conflict(r, rc, &conflict);
	co_ws_patch_clear(&p);
	co_workspace_clear(&out);
	co_conflict_clear(&conflict);
}

/* DELETE /workspaces/:id[?confirm=true][&purge=true] */
void api_ws_delete(co_http_req *r)
{
	co_id id;
	if (!co_req_id_or_reply(r, 0, &id))
		return;
	co_ws_delete_opts o;
	if (co_parse_bool(co_req_query(r, "confirm"), false, &o.confirm) ||
	    co_parse_bool(co_req_query(r, "purge"), false, &o.purge)) {
		co_reply_error(r, 400, "invalid", NULL, "%s", co_err_msg());
		return;
	}
	co_id_list ids = {0};
	co_conflict conflict = {0};
	int rc = CO_STORE_CALL(co_req_store(r), ws_delete, &id, &o, &ids, &conflict);
	if (rc == CO_OK) {
		co_buf b;
		co_buf_init(&b);
		co_buf_puts(&b, "{\"id\":");
		co_buf_json_cstr(&b, id.s);
		co_buf_puts(&b, o.purge ? ",\"status\":\"purged\",\"purged\":["
					: ",\"status\":\"removed\",\"removed\":[");
		for (size_t i = 0; i < ids.n; i++) {
			if (i)
				co_buf_putc(&b, ',');
			co_buf_json_cstr(&b, ids.ids[i].s);
		}
		co_buf_puts(&b, "]}");
		co_reply_json(r, 200, &b);
	} else {
		reply_ws_conflict(r, rc, &conflict);
	}
	co_id_list_clear(&ids);
	co_conflict_clear(&conflict);
}
