/*
 * secrets.c — /settings/secrets and /workspaces/:id/secrets handlers (SPEC §10;
 * core/secret.h): global secrets, a workspace's overrides, and the merged values a
 * workspace's own token reads.
 *
 * Who may call each route is the gate's (routes.c: global settings admin-only, the rest
 * the workspace's own token or the admin); nothing here checks it again.
 *
 * DESIGN NOTES
 *  1. A value never leaves this file except in the answer of GET …/secrets/:name and
 *     GET …/secret-values. Writes answer the secret without its value; lists show names
 *     and times only; error messages name the field or the secret, never quote the value
 *     (a too-long or non-string value is described by its size or type). The write
 *     routes are CO_ROUTE_SECRET_BODY, so the audit detail carries no digest of the body,
 *     and the request log holds no body at all.
 *  2. The value is sealed here, before the store is called (the store keeps only sealed
 *     bytes), and opened here after a read, for the row's own place (scope, name). A
 *     row that does not open — altered bytes, bytes copied from another row, another key
 *     — is a 500 "secret_unreadable" naming the secret: the database was changed behind
 *     the server's back, which no client input can cause. The opened copies are wiped
 *     once written into the answer (the answer and the request body are the HTTP
 *     layer's buffers, freed unwiped).
 *  3. POST answers 201 when the secret was created, 200 when it replaced one; the
 *     replaced secret keeps its created_at. {"key": …} is accepted for "name" (SPEC §10);
 *     both given and different is 400. Names follow the memory-key rule.
 *  4. Merged reads: a workspace's own secret wins over the global one of that name, and
 *     each item's "scope" says whose it is. GET …/secrets/:name reads one name of the
 *     merged list with one store call, asking for the first name after key_before(name)
 *     (see there); absent both ways is 404.
 *  5. Absent workspace 404. A removed workspace's secrets stay readable (as its skills
 *     are); writing or deleting them is 409 workspace_removed, as every other
 *     write to a removed workspace.
 */
#include "../core/err.h"
#include "../core/validate.h"
#include "api.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- input ----------------------------------------------------------------------------- */

/* The :name path parameter i, checked with the key rule; replies 400 and returns NULL if
 * it breaks it. */
static const char *name_param_or_reply(co_http_req *r, int i)
{
	const char *name = co_req_param(r, i);
	if (co_validate_key(name)) {
		co_reply_error(r, 400, "invalid_name", NULL, "secret name: %s", co_err_msg());
		return NULL;
	}
	return name;
}

/* Reads {name (or key), value} from the body (note 3). Replies 400 and returns false if
 * it is malformed; never quotes the value (note 1). The strings belong to the request. */
static bool put_body_or_reply(co_http_req *r, const char **name, const char **value, size_t *len)
{
	json_t *body = co_req_json_or_reply(r);
	if (!body)
		return false;
	if (!json_is_object(body)) {
		co_reply_error(r, 400, "invalid", NULL, "the body must be a JSON object {name, value}");
		return false;
	}
	json_t *jn = json_object_get(body, "name"), *jk = json_object_get(body, "key");
	if (jn && jk && !json_equal(jn, jk)) {
		co_reply_error(r, 400, "invalid", NULL, "give name or key (its synonym), not both");
		return false;
	}
	json_t *n = jn ? jn : jk;
	if (!n || !json_is_string(n)) {
		co_reply_error(r, 400, "invalid", NULL, "name is required and must be a string");
		return false;
	}
	if (co_validate_key(json_string_value(n))) {
		co_reply_error(r, 400, "invalid_name", NULL, "secret name: %s", co_err_msg());
		return false;
	}
	json_t *v = json_object_get(body, "value");
	if (!v || !json_is_string(v)) {
		co_reply_error(r, 400, "invalid", NULL, "value is required and must be a string");
		return false;
	}
	size_t vlen = json_string_length(v);
	const char *vs = json_string_value(v);
	if (vlen > CO_SECRET_VALUE_MAX) {
		co_reply_error(r, 400, "invalid", NULL, "value is %zu bytes; the limit is %d", vlen,
			       CO_SECRET_VALUE_MAX);
		return false;
	}
	if (strlen(vs) != vlen || !co_utf8_valid(vs, vlen)) {
		co_reply_error(r, 400, "invalid", NULL, "value must be UTF-8 text without NUL");
		return false;
	}
	*name = json_string_value(n);
	*value = vs;
	*len = vlen;
	return true;
}

/* Reads ?limit= and ?after=<name> into f; replies 400 and returns false if malformed. */
static bool page_or_reply(co_http_req *r, co_secret_filter *f)
{
	if (!co_req_limit_or_reply(r, &f->limit))
		return false;
	f->after = co_req_query(r, "after");
	if (f->after && co_validate_key(f->after)) {
		co_reply_error(r, 400, "invalid", NULL, "after: %s", co_err_msg());
		return false;
	}
	return true;
}

/* ---- answers ---------------------------------------------------------------------------- */

/* A list item's JSON: never a value (note 1). */
static void secret_json(const co_secret *s, co_buf *b)
{
	co_secret_to_json(s, NULL, b);
}

static void reply_list(co_http_req *r, int rc, const co_secret_list *l)
{
	if (rc == CO_OK)
		CO_REPLY_LIST(r, l->items, l->n, secret_json);
	else
		co_reply_store_error(r, rc);
}

/* Opens s for its own place (note 2). CO_OK with *value (wipe and free it with
 * drop_value), else it has replied 500 secret_unreadable (or out_of_memory). */
static int open_or_reply(co_http_req *r, const co_secret *s, char **value, size_t *len)
{
	int rc = co_secret_open(s->global ? NULL : &s->workspace_id, s->name, s->sealed,
				s->sealed_len, value, len);
	if (rc == CO_ENOMEM)
		co_reply_store_error(r, rc);
	else if (rc)
		co_reply_error(r, 500, "secret_unreadable", NULL,
			       "%s secret '%.200s' cannot be read: %s", s->global ? "global" : "workspace",
			       s->name, co_err_msg());
	return rc;
}

static void drop_value(char *value, size_t len)
{
	if (value)
		sodium_memzero(value, len);
	free(value);
}

/* Replies 409 workspace_removed for CO_ECONFLICT (the one conflict of a secret write:
 * note 5), else as co_reply_store_error. */
static void reply_write_error(co_http_req *r, int rc)
{
	if (rc == CO_ECONFLICT)
		co_reply_error(r, 409, "workspace_removed", NULL, "%s", co_err_msg());
	else
		co_reply_store_error(r, rc);
}

/* ---- writes ------------------------------------------------------------------------------ */

/* POST {name, value}: a global secret (ws NULL) or ws's own. 201 created, 200 replaced. */
static void put_secret(co_http_req *r, const co_id *ws)
{
	const char *name, *value;
	size_t len;
	if (!put_body_or_reply(r, &name, &value, &len))
		return;
	co_secret in = {.global = ws == NULL, .name = (char *)name};
	if (ws)
		in.workspace_id = *ws;
	int rc = co_secret_seal(ws, name, value, len, &in.sealed, &in.sealed_len);
	if (rc) {
		co_reply_store_error(r, rc);
		return;
	}
	co_secret out = {0};
	bool created = false;
	co_conflict conflict = {0};
	rc = CO_STORE_CALL(co_req_store(r), secret_put, &in, &out, &created, &conflict);
	if (rc == CO_OK) {
		co_buf b;
		co_buf_init(&b);
		co_secret_to_json(&out, NULL, &b);
		co_reply_json(r, created ? 201 : 200, &b);
	} else if (conflict.kind == CO_CONFLICT_REMOVED) {
		co_reply_error(r, 409, "workspace_removed", NULL, "%s", co_err_msg());
	} else {
		co_reply_store_error(r, rc);
	}
	free(in.sealed);
	co_secret_clear(&out);
	co_conflict_clear(&conflict);
}

/* DELETE: the global secret (ws NULL) or ws's own override; 204, or 404 if absent. */
static void delete_secret(co_http_req *r, const co_id *ws, const char *name)
{
	int rc = CO_STORE_CALL(co_req_store(r), secret_delete, ws == NULL, ws, name);
	if (rc == CO_OK)
		co_reply_empty(r, 204);
	else
		reply_write_error(r, rc);
}

void api_secret_put_global(co_http_req *r)
{
	put_secret(r, NULL);
}

void api_secret_put(co_http_req *r)
{
	co_id ws;
	if (co_req_id_or_reply(r, 0, &ws))
		put_secret(r, &ws);
}

void api_secret_delete_global(co_http_req *r)
{
	const char *name = name_param_or_reply(r, 0);
	if (name)
		delete_secret(r, NULL, name);
}

void api_secret_delete(co_http_req *r)
{
	co_id ws;
	if (!co_req_id_or_reply(r, 0, &ws))
		return;
	const char *name = name_param_or_reply(r, 1);
	if (name)
		delete_secret(r, &ws, name);
}

/* ---- reads ------------------------------------------------------------------------------- */

/* GET /settings/secrets?limit=&after= — the global secrets by name, without values. */
void api_secret_list_global(co_http_req *r)
{
	co_secret_filter f = {.global = true};
	if (!page_or_reply(r, &f))
		return;
	co_secret_list l = {0};
	int rc = CO_STORE_CALL(co_req_store(r), secret_list, &f, &l);
	reply_list(r, rc, &l);
	co_secret_list_clear(&l);
}

/* GET /workspaces/:id/secrets?limit=&after= — the merged names by name, each with its
 * scope, without values. */
void api_secret_list(co_http_req *r)
{
	co_secret_filter f = {.merged = true};
	if (!co_req_id_or_reply(r, 0, &f.workspace_id) || !page_or_reply(r, &f))
		return;
	co_secret_list l = {0};
	int rc = CO_STORE_CALL(co_req_store(r), secret_list, &f, &l);
	reply_list(r, rc, &l);
	co_secret_list_clear(&l);
}

/* The merged list asked for "the first name after key_before(name)" finds name itself if
 * either scope holds it (note 4). key_before(name) is name with its last character c
 * replaced by the character just below it (skipping surrogates), followed by U+10FFFF
 * written out CO_KEY_MAX / 4 times. UTF-8 orders bytewise as code points do, so a string
 * strictly between it and name would be name's prefix, that lower character, those
 * U+10FFFFs — the greatest character — and at least one more: more than CO_KEY_MAX bytes,
 * which no stored name is (names are checked with co_validate_key). The text stays valid
 * UTF-8 (PostgreSQL refuses anything else). Returns false if name has no character below
 * its last (it cannot: keys have no control characters). out holds CO_KEY_MAX * 2 + 8. */
#define KEY_BEFORE_CAP (CO_KEY_MAX * 2 + 8)
static bool key_before(const char *name, char out[KEY_BEFORE_CAP])
{
	size_t n = strlen(name);
	if (n == 0)
		return false;
	size_t i = n - 1; /* where the last character starts */
	while (i > 0 && ((unsigned char)name[i] & 0xc0) == 0x80)
		i--;
	const unsigned char *p = (const unsigned char *)name + i;
	uint32_t cp = p[0] < 0x80   ? p[0]
		      : p[0] < 0xe0 ? (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f)
		      : p[0] < 0xf0 ? (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 |
					  (p[2] & 0x3f)
				    : (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
					  (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
	if (cp <= 1)
		return false; /* U+0000 is no character a text column can hold */
	cp = cp == 0xe000 ? 0xd7ff : cp - 1;
	memcpy(out, name, i);
	size_t k = i;
	if (cp < 0x80) {
		out[k++] = (char)cp;
	} else if (cp < 0x800) {
		out[k++] = (char)(0xc0 | cp >> 6);
		out[k++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		out[k++] = (char)(0xe0 | cp >> 12);
		out[k++] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[k++] = (char)(0x80 | (cp & 0x3f));
	} else {
		out[k++] = (char)(0xf0 | cp >> 18);
		out[k++] = (char)(0x80 | (cp >> 12 & 0x3f));
		out[k++] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[k++] = (char)(0x80 | (cp & 0x3f));
	}
	for (int j = 0; j < CO_KEY_MAX / 4; j++, k += 4)
		memcpy(out + k, "\xf4\x8f\xbf\xbf", 4); /* U+10FFFF */
	out[k] = 0;
	return true;
}

/* GET /workspaces/:id/secrets/:name — the merged value {name, scope, value, created_at,
 * updated_at}: the workspace's own, else the global one; 404 if neither has it. */
void api_secret_get(co_http_req *r)
{
	co_secret_filter f = {.merged = true, .with_sealed = true, .limit = 1};
	if (!co_req_id_or_reply(r, 0, &f.workspace_id))
		return;
	const char *name = name_param_or_reply(r, 1);
	if (!name)
		return;
	char after[KEY_BEFORE_CAP];
	if (!key_before(name, after)) {
		co_reply_error(r, 404, "not_found", NULL, "secret '%.200s' not found", name);
		return;
	}
	f.after = after;
	co_secret_list l = {0};
	int rc = CO_STORE_CALL(co_req_store(r), secret_list, &f, &l);
	char *value = NULL;
	size_t len = 0;
	if (rc) {
		co_reply_store_error(r, rc);
	} else if (l.n == 0 || strcmp(l.items[0].name, name) != 0) {
		co_reply_error(r, 404, "not_found", NULL,
			       "secret '%.200s' not found in workspace %s or the global secrets", name,
			       f.workspace_id.s);
	} else if (open_or_reply(r, &l.items[0], &value, &len) == CO_OK) {
		co_buf b;
		co_buf_init(&b);
		co_secret_to_json(&l.items[0], value, &b);
		co_reply_json(r, 200, &b);
	}
	drop_value(value, len);
	co_secret_list_clear(&l);
}

/* GET /workspaces/:id/secret-values?limit=&after= — the merged list with values, by name.
 * One secret that does not open fails the whole page (500 secret_unreadable). */
void api_secret_values(co_http_req *r)
{
	co_secret_filter f = {.merged = true, .with_sealed = true};
	if (!co_req_id_or_reply(r, 0, &f.workspace_id) || !page_or_reply(r, &f))
		return;
	co_secret_list l = {0};
	int rc = CO_STORE_CALL(co_req_store(r), secret_list, &f, &l);
	if (rc) {
		co_reply_store_error(r, rc);
		co_secret_list_clear(&l);
		return;
	}
	co_buf b;
	co_buf_init(&b);
	co_buf_putc(&b, '[');
	for (size_t i = 0; i < l.n && rc == CO_OK; i++) {
		char *value = NULL;
		size_t len = 0;
		if ((rc = open_or_reply(r, &l.items[i], &value, &len)) == CO_OK) {
			if (i)
				co_buf_putc(&b, ',');
			co_secret_to_json(&l.items[i], value, &b);
		}
		drop_value(value, len);
	}
	co_buf_putc(&b, ']');
	if (rc == CO_OK)
		co_reply_json(r, 200, &b);
	else if (b.data)
		sodium_memzero(b.data, b.len); /* values opened before the failure */
	co_buf_free(&b);
	co_secret_list_clear(&l);
}
