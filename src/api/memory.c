/*
 * memory.c — /workspaces/:id/memory handlers (SPEC §3): versioned key/value memory.
 *
 * Preconditions come from the body (if_match_version: 409 on failure) or, for HTTP-native
 * clients, from headers (If-Match: "V", If-None-Match: * — 412 on failure). Giving both
 * a header and the body field is 400: one request, one precondition.
 */
#include "../core/err.h"
#include "../core/validate.h"
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_etag(co_http_req *r, int64_t version)
{
	char etag[32];
	snprintf(etag, sizeof etag, "\"%lld\"", (long long)version);
	co_reply_header(r, "ETag", etag);
}

/* 409 version_mismatch, or 412 precondition_failed when the precondition came from a
 * header. current_version 0 is answered as null (the key is absent). */
static void reply_version_conflict(co_http_req *r, bool from_header, int64_t expected,
				   int64_t current)
{
	char extra[128];
	if (current > 0)
		snprintf(extra, sizeof extra, "\"expected_version\":%lld,\"current_version\":%lld",
			 (long long)expected, (long long)current);
	else
		snprintf(extra, sizeof extra, "\"expected_version\":%lld,\"current_version\":null",
			 (long long)expected);
	if (from_header)
		co_reply_error(r, 412, "precondition_failed", extra, "%s", co_err_msg());
	else
		co_reply_error(r, 409, "version_mismatch", extra, "%s", co_err_msg());
}

/* Reads If-Match / If-None-Match into *version (CO_MEM_ANY when neither). Replies 400
 * and returns false if a header is malformed. *from_header says one was given. */
static bool header_precondition_or_reply(co_http_req *r, int64_t *version, bool *from_header)
{
	const char *im = co_req_header(r, "If-Match");
	const char *inm = co_req_header(r, "If-None-Match");
	*version = CO_MEM_ANY;
	*from_header = false;
	if (im && inm) {
		co_reply_error(r, 400, "invalid", NULL, "give If-Match or If-None-Match, not both");
		return false;
	}
	if (inm) {
		if (strcmp(inm, "*") != 0) {
			co_reply_error(r, 400, "invalid", NULL, "If-None-Match supports only *");
			return false;
		}
		*version = 0;
		*from_header = true;
	} else if (im) {
		/* RFC 9110 §13.1.1: an entity-tag is quoted; accept a bare number too. */
		char tag[32];
		size_t n = strlen(im);
		if (n >= 2 && im[0] == '"' && im[n - 1] == '"' && n - 2 < sizeof tag) {
			memcpy(tag, im + 1, n - 2);
			tag[n - 2] = 0;
		} else if (n < sizeof tag) {
			memcpy(tag, im, n + 1);
		} else {
			tag[0] = 0;
		}
		int64_t v;
		if (co_parse_i64(tag, 1, INT64_MAX, &v)) {
			co_reply_error(r, 400, "invalid", NULL,
				       "If-Match must be a version entity-tag like \"3\"");
			return false;
		}
		*version = v;
		*from_header = true;
	}
	return true;
}

/* Validates the :key path parameter; replies 400 if it breaks the key rules. */
static const char *key_or_reply(co_http_req *r)
{
	const char *key = co_req_param(r, 1);
	if (co_validate_key(key)) {
		co_reply_error(r, 400, "invalid_key", NULL, "%s", co_err_msg());
		return NULL;
	}
	return key;
}

void api_mem_get(co_http_req *r)
{
	co_id ws;
	if (!co_req_id_or_reply(r, 0, &ws))
		return;
	const char *key = key_or_reply(r);
	if (!key)
		return;
	co_mem_entry e = {0};
	int rc = CO_STORE_CALL(co_req_store(r), mem_get, &ws, key, &e);
	if (rc == CO_OK) {
		co_buf b;
		co_buf_init(&b);
		co_mem_to_json(&e, &b);
		co_reply_json(r, 200, &b);
		set_etag(r, e.version);
	} else {
		co_reply_store_error(r, rc);
	}
	co_mem_entry_clear(&e);
}

/* GET /workspaces/:id/memory?prefix=&limit=&after= — a bare array ordered by key. */
void api_mem_list(co_http_req *r)
{
	co_id ws;
	if (!co_req_id_or_reply(r, 0, &ws))
		return;
	co_mem_filter f = {0};
	if (!co_req_limit_or_reply(r, &f.limit))
		return;
	f.prefix = co_req_query(r, "prefix");
	f.after = co_req_query(r, "after");
	if (f.prefix && (strlen(f.prefix) > CO_KEY_MAX || !co_utf8_valid(f.prefix, strlen(f.prefix)))) {
		co_reply_error(r, 400, "invalid", NULL, "prefix must be valid UTF-8 of at most %d bytes",
			       CO_KEY_MAX);
		return;
	}
	if (f.after && co_validate_key(f.after)) {
		co_reply_error(r, 400, "invalid", NULL, "after: %s", co_err_msg());
		return;
	}
	co_mem_list list = {0};
	int rc = CO_STORE_CALL(co_req_store(r), mem_list, &ws, &f, &list);
	if (rc == CO_OK) {
		CO_REPLY_LIST(r, list.items, list.n, co_mem_to_json);
	} else {
		co_reply_store_error(r, rc);
	}
	co_mem_list_clear(&list);
}

void api_mem_put(co_http_req *r)
{
	co_id ws;
	if (!co_req_id_or_reply(r, 0, &ws))
		return;
	int64_t hdr_version;
	bool from_header;
	if (!header_precondition_or_reply(r, &hdr_version, &from_header))
		return;
	json_t *body = co_req_json_or_reply(r);
	if (!body)
		return;
	co_mem_put put;
	char *value = NULL;
	if (co_mem_parse_put(body, &put, &value)) {
		co_reply_error(r, 400, "invalid", NULL, "%s", co_err_msg());
		free(value);
		return;
	}
	if (from_header) {
		if (put.if_match_version != CO_MEM_ANY) {
			co_reply_error(r, 400, "invalid", NULL,
				       "give if_match_version or an If-Match/If-None-Match header, not both");
			free(value);
			return;
		}
		put.if_match_version = hdr_version;
	}
	int64_t version = 0;
	co_conflict conflict = {0};
	int rc = CO_STORE_CALL(co_req_store(r), mem_put, &ws, &put, &version, &conflict);
	if (rc == CO_OK) {
		co_buf b;
		co_buf_init(&b);
		co_buf_puts(&b, "{\"status\":\"ok\",\"key\":");
		co_buf_json_cstr(&b, put.key);
		co_buf_puts(&b, ",\"version\":");
		co_buf_i64(&b, version);
		co_buf_putc(&b, '}');
		co_reply_json(r, 200, &b);
		set_etag(r, version);
	} else if (conflict.kind == CO_CONFLICT_VERSION) {
		reply_version_conflict(r, from_header, put.if_match_version, conflict.current_version);
	} else if (conflict.kind == CO_CONFLICT_REMOVED) {
		co_reply_error(r, 409, "workspace_removed", NULL, "%s", co_err_msg());
	} else {
		co_reply_store_error(r, rc);
	}
	co_conflict_clear(&conflict);
	free(value);
}

/* DELETE /workspaces/:id/memory/:key[?if_match_version=V] (or If-Match: "V"). */
void api_mem_delete(co_http_req *r)
{
	co_id ws;
	if (!co_req_id_or_reply(r, 0, &ws))
		return;
	const char *key = key_or_reply(r);
	if (!key)
		return;
	int64_t version;
	bool from_header;
	if (!header_precondition_or_reply(r, &version, &from_header))
		return;
	if (from_header && version == 0) {
		co_reply_error(r, 400, "invalid", NULL, "If-None-Match makes no sense on DELETE");
		return;
	}
	const char *q = co_req_query(r, "if_match_version");
	if (q) {
		int64_t v;
		if (from_header || co_parse_i64(q, 1, INT64_MAX, &v)) {
			co_reply_error(r, 400, "invalid", NULL,
				       from_header ? "give if_match_version or If-Match, not both"
						   : "if_match_version must be an integer of 1 or more");
			return;
		}
		version = v;
	}
	co_conflict conflict = {0};
	int rc = CO_STORE_CALL(co_req_store(r), mem_delete, &ws, key, version, &conflict);
	if (rc == CO_OK) {
		co_buf b;
		co_buf_init(&b);
		co_buf_puts(&b, "{\"status\":\"ok\",\"key\":");
		co_buf_json_cstr(&b, key);
		co_buf_puts(&b, ",\"deleted\":true}");
		co_reply_json(r, 200, &b);
	} else if (conflict.kind == CO_CONFLICT_VERSION) {
		reply_version_conflict(r, from_header, version, conflict.current_version);
	} else if (conflict.kind == CO_CONFLICT_REMOVED) {
		co_reply_error(r, 409, "workspace_removed", NULL, "%s", co_err_msg());
	} else {
		co_reply_store_error(r, rc);
	}
	co_conflict_clear(&conflict);
}
