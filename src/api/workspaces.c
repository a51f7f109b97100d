/*
 * workspaces.c — /workspaces handlers (SPEC §2): create, list, get, patch, delete.
 *
 * Each handler validates its input completely before calling the store, so bad input
 * changes nothing; store outcomes map to HTTP in reply_ws_conflict() and
 * co_reply_store_error().
 *
 * Who may (SPEC §10, §6; the gate checks :id, http.h note 5). A workspace token T:
 *  - creates workspaces only under T or T's descendants; a root needs the admin;
 *  - lists only the children of T, of T's parent (T's siblings) or of T's descendants,
 *    so it must pass ?parent_id= (a list of roots or of everything needs the admin);
 *  - moves (PATCH parent_id) a workspace of its subtree only under T or T's descendants,
 *    never to the top;
 *  - may not change its own `url` (where its schedules' webhooks go: a leaked token must
 *    not point them at an internal address); its managers and the admin may;
 *  - tombstones workspaces below T (the gate's rule) but never purges: ?purge=true
 *    destroys rows for good and needs the admin.
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

/* A token may put a workspace only under its own workspace or a descendant (module
 * comment); `what` names the refused act when there is no parent. Replies 403 if not. */
static bool parent_allowed_or_reply(co_http_req *r, bool has_parent, const co_id *parent,
				    const char *what)
{
	if (co_req_principal(r)->admin)
		return true;
	if (!has_parent) {
		co_reply_error(r, 403, "admin_only", NULL, "only the admin token may %s", what);
		return false;
	}
	return co_req_reach_or_reply(r, parent, CO_ACCESS_SUBTREE);
}

/* A token may list the children of P when P is its own workspace, its parent, or one of
 * its descendants (module comment). Replies 403 (or 503) if not. */
static bool list_allowed_or_reply(co_http_req *r, const co_ws_filter *f)
{
	const co_principal *p = co_req_principal(r);
	if (p->admin)
		return true;
	if (!f->by_parent || f->parent_is_null) {
		co_reply_error(r, 403, "admin_only", NULL,
			       "a workspace token lists the children of its own workspace, of its "
			       "parent or of its descendants: pass ?parent_id=");
		return false;
	}
	co_id_list lineage = {0};
	bool removed;
	int rc = CO_STORE_CALL(co_req_store(r), ws_lineage, &p->workspace_id, &lineage, &removed);
	bool siblings = rc == CO_OK && lineage.n > 1 && !strcmp(lineage.ids[1].s, f->parent_id.s);
	co_id_list_clear(&lineage);
	if (rc && rc != CO_ENOTFOUND) {
		co_reply_store_error(r, rc);
		return false;
	}
	return siblings || co_req_reach_or_reply(r, &f->parent_id, CO_ACCESS_SUBTREE);
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
	if (!parent_allowed_or_reply(r, in.has_parent, &in.parent_id, "create a root workspace")) {
		co_workspace_clear(&in);
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
	if (!list_allowed_or_reply(r, &f))
		return;
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
	if ((p.fields & CO_WSF_PARENT) &&
	    !parent_allowed_or_reply(r, p.v.has_parent, &p.v.parent_id, "move a workspace to the top")) {
		co_ws_patch_clear(&p);
		return;
	}
	const co_principal *who = co_req_principal(r);
	if ((p.fields & CO_WSF_URL) && !who->admin && !strcmp(who->workspace_id.s, id.s)) {
		co_reply_error(r, 403, "forbidden", NULL,
			       "a workspace token may not change its own url; its managers may");
		co_ws_patch_clear(&p);
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
	if (o.purge && !co_req_principal(r)->admin) {
		co_reply_error(r, 403, "admin_only", NULL,
			       "purging deletes for good and needs the admin token; a workspace "
			       "token may tombstone (without ?purge=true)");
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
