/*
 * skills.c — /workspaces/:id/skills handlers (SPEC §7; core/skill.h): append a numbered
 * version of a skill, list a workspace's skills, list and read a skill's versions.
 *
 * Every input — the workspace id, the skill name (the memory-key rule), the body (any
 * JSON but null), seq and the paging arguments — is validated before the store is called,
 * so bad input is a 400 and writes nothing. An append answers 201 with the version it
 * made ({skill, seq, body, created_at}); the store numbers it (no gap, no duplicate).
 * Versions are listed newest first, paged with ?before=<seq> (strictly older; ?after= is
 * accepted as its synonym, SPEC §1's "the last item's key"); skills by name with ?after=.
 * A removed workspace's skills stay readable; appending to it is 409 workspace_removed.
 */
#include "../core/err.h"
#include "../core/validate.h"
#include "api.h"

#include <stdint.h>
#include <stdlib.h>

/* The :name path parameter (param 1); replies 400 and returns NULL if it breaks the
 * skill-name rule (skill.h note 2), empty included. */
static const char *skill_name_or_reply(co_http_req *r)
{
	const char *name = co_req_param(r, 1);
	if (co_skill_validate_name(name)) {
		co_reply_error(r, 400, "invalid_name", NULL, "%s", co_err_msg());
		return NULL;
	}
	return name;
}

static void reply_version(co_http_req *r, unsigned status, const co_skill_version *v)
{
	co_buf b;
	co_buf_init(&b);
	co_skill_version_to_json(v, &b);
	co_reply_json(r, status, &b);
}

/* POST /workspaces/:id/skills/:name/versions {body} → 201 with the new version. */
void api_skill_append(co_http_req *r)
{
	co_id ws;
	if (!co_req_id_or_reply(r, 0, &ws))
		return;
	const char *name = skill_name_or_reply(r);
	if (!name)
		return;
	json_t *req = co_req_json_or_reply(r);
	if (!req)
		return;
	char *body = NULL;
	if (co_skill_parse_version(req, &body)) {
		co_reply_error(r, 400, "invalid", NULL, "%s", co_err_msg());
		free(body);
		return;
	}
	co_skill_version v = {0};
	co_conflict conflict = {0};
	int rc = CO_STORE_CALL(co_req_store(r), skill_append, &ws, name, body, &v, &conflict);
	if (rc == CO_OK)
		reply_version(r, 201, &v);
	else if (conflict.kind == CO_CONFLICT_REMOVED)
		co_reply_error(r, 409, "workspace_removed", NULL, "%s", co_err_msg());
	else
		co_reply_store_error(r, rc);
	co_skill_version_clear(&v);
	co_conflict_clear(&conflict);
	free(body);
}

/* GET /workspaces/:id/skills?limit=&after=<name> — a bare array ordered by name. */
void api_skill_list(co_http_req *r)
{
	co_id ws;
	if (!co_req_id_or_reply(r, 0, &ws))
		return;
	co_skill_filter f = {0};
	if (!co_req_limit_or_reply(r, &f.limit))
		return;
	f.after = co_req_query(r, "after");
	if (f.after && co_skill_validate_name(f.after)) {
		co_reply_error(r, 400, "invalid", NULL, "after: %s", co_err_msg());
		return;
	}
	co_skill_list list = {0};
	int rc = CO_STORE_CALL(co_req_store(r), skill_list, &ws, &f, &list);
	if (rc == CO_OK) {
		CO_REPLY_LIST(r, list.items, list.n, co_skill_to_json);
	} else {
		co_reply_store_error(r, rc);
	}
	co_skill_list_clear(&list);
}

/* Reads ?limit= and ?before=<seq> (or its synonym ?after=<seq>) into p; replies 400 and
 * returns false if malformed. */
static bool version_page_or_reply(co_http_req *r, co_skill_page *p)
{
	p->before = 0;
	if (!co_req_limit_or_reply(r, &p->limit))
		return false;
	const char *before = co_req_query(r, "before");
	const char *after = co_req_query(r, "after");
	if (before && after) {
		co_reply_error(r, 400, "invalid", NULL, "give before or after, not both");
		return false;
	}
	const char *s = before ? before : after;
	if (s && co_parse_i64(s, 1, INT64_MAX, &p->before)) {
		co_reply_error(r, 400, "invalid", NULL, "%s must be a seq (an integer of 1 or more)",
			       before ? "before" : "after");
		return false;
	}
	return true;
}

/* GET /workspaces/:id/skills/:name/versions?limit=&before=<seq> — newest first. A skill
 * with no versions (or an absent workspace) is 404; an empty page of one is []. */
void api_skill_versions(co_http_req *r)
{
	co_id ws;
	if (!co_req_id_or_reply(r, 0, &ws))
		return;
	const char *name = skill_name_or_reply(r);
	co_skill_page p;
	if (!name || !version_page_or_reply(r, &p))
		return;
	co_skill_version_list list = {0};
	int rc = CO_STORE_CALL(co_req_store(r), skill_versions, &ws, name, &p, &list);
	if (rc == CO_OK) {
		CO_REPLY_LIST(r, list.items, list.n, co_skill_version_to_json);
	} else {
		co_reply_store_error(r, rc);
	}
	co_skill_version_list_clear(&list);
}

/* GET /workspaces/:id/skills/:name/versions/:seq */
void api_skill_get(co_http_req *r)
{
	co_id ws;
	if (!co_req_id_or_reply(r, 0, &ws))
		return;
	const char *name = skill_name_or_reply(r);
	if (!name)
		return;
	const char *seq_s = co_req_param(r, 2);
	int64_t seq;
	if (co_parse_i64(seq_s ? seq_s : "", 1, INT64_MAX, &seq)) {
		co_reply_error(r, 400, "invalid", NULL, "seq must be an integer of 1 or more, not '%.32s'",
			       seq_s ? seq_s : "");
		return;
	}
	co_skill_version v = {0};
	int rc = CO_STORE_CALL(co_req_store(r), skill_get, &ws, name, seq, &v);
	if (rc == CO_OK)
		reply_version(r, 200, &v);
	else
		co_reply_store_error(r, rc);
	co_skill_version_clear(&v);
}
