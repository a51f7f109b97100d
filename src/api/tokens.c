/*
 * tokens.c — /workspaces/:id/tokens handlers (SPEC §10; core/auth.h): mint a workspace
 * token, list a workspace's live tokens, revoke one.
 *
 * A new token is minted here (co_token_mint: random prefix and secret) and only its
 * prefix and hash are handed to the store; the plaintext is in the 201 answer and nowhere
 * else, ever. The prefix is unique over every token ever made: if the store finds it
 * taken (CO_EEXISTS, a 60-bit collision) a fresh one is minted, up to MINT_TRIES times;
 * the failed attempts write nothing and append no audit record (store.h note 6).
 * A removed workspace gets no token (409 workspace_removed, as every write to it);
 * listing shows {id, workspace_id, prefix, created_at, last_used_at}, never the hash.
 * Who may call is the gate's business (routes.c, http.h note 5): nothing is re-checked.
 */
#include "../core/err.h"
#include "api.h"

#include <string.h>

#define MINT_TRIES 5

/* POST /workspaces/:id/tokens (any body is ignored) → 201 {id, workspace_id, prefix,
 * auth_token, created_at}: auth_token is the plaintext, shown this once. */
void api_token_create(co_http_req *r)
{
	co_id ws;
	if (!co_req_id_or_reply(r, 0, &ws))
		return;
	char plaintext[CO_TOKEN_LEN + 1];
	co_token in = {0}, out = {0};
	co_conflict conflict = {0};
	int rc = CO_EEXISTS;
	for (int i = 0; i < MINT_TRIES && rc == CO_EEXISTS; i++) {
		co_token_mint(plaintext, in.prefix, in.hash_hex);
		rc = CO_STORE_CALL(co_req_store(r), token_create, &ws, &in, &out, &conflict);
	}
	if (rc == CO_OK) {
		co_buf b;
		co_buf_init(&b);
		co_buf_puts(&b, "{\"id\":");
		co_buf_json_cstr(&b, out.id.s);
		co_buf_puts(&b, ",\"workspace_id\":");
		co_buf_json_cstr(&b, out.workspace_id.s);
		co_buf_puts(&b, ",\"prefix\":");
		co_buf_json_cstr(&b, out.prefix);
		co_buf_puts(&b, ",\"auth_token\":");
		co_buf_json_cstr(&b, plaintext);
		co_buf_puts(&b, ",\"created_at\":");
		co_buf_json_time(&b, out.created_at, false);
		co_buf_putc(&b, '}');
		co_reply_json(r, 201, &b);
	} else if (conflict.kind == CO_CONFLICT_REMOVED) {
		co_reply_error(r, 409, "workspace_removed", NULL, "%s", co_err_msg());
	} else {
		co_reply_store_error(r, rc);
	}
	explicit_bzero(plaintext, sizeof plaintext);
	co_conflict_clear(&conflict);
}

/* GET /workspaces/:id/tokens?limit=&after=<token id> — a bare array of the live tokens
 * by id. */
void api_token_list(co_http_req *r)
{
	co_id ws;
	if (!co_req_id_or_reply(r, 0, &ws))
		return;
	co_page p;
	if (!co_req_page_or_reply(r, &p))
		return;
	co_token_list list = {0};
	int rc = CO_STORE_CALL(co_req_store(r), token_list, &ws, &p, &list);
	if (rc == CO_OK) {
		CO_REPLY_LIST(r, list.items, list.n, co_token_to_json);
	} else {
		co_reply_store_error(r, rc);
	}
	co_token_list_clear(&list);
}

/* DELETE /workspaces/:id/tokens/:tid → 204. Absent, another workspace's, or already
 * revoked: 404. */
void api_token_revoke(co_http_req *r)
{
	co_id ws, tid;
	if (!co_req_id_or_reply(r, 0, &ws) || !co_req_id_or_reply(r, 1, &tid))
		return;
	int rc = CO_STORE_CALL(co_req_store(r), token_revoke, &ws, &tid);
	if (rc == CO_OK)
		co_reply_empty(r, 204);
	else
		co_reply_store_error(r, rc);
}
