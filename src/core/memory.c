/* memory.c — memory entry JSON shapes; see memory.h. */
#include "memory.h"
#include "err.h"
#include "validate.h"

#include <stdlib.h>
#include <string.h>

void co_mem_entry_clear(co_mem_entry *e)
{
	free(e->key);
	free(e->value_json);
	memset(e, 0, sizeof *e);
}

void co_mem_list_clear(co_mem_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		co_mem_entry_clear(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

int co_mem_parse_put(json_t *body, co_mem_put *put, char **value_out)
{
	memset(put, 0, sizeof *put);
	*value_out = NULL;
	if (!json_is_object(body))
		return co_err_set(CO_EINVAL, "body must be a JSON object");
	json_t *key = json_object_get(body, "key");
	if (!key)
		return co_err_set(CO_EINVAL, "key is required");
	if (!json_is_string(key))
		return co_err_set(CO_EINVAL, "key must be a string");
	int rc = co_validate_key(json_string_value(key));
	if (rc)
		return rc;
	put->key = json_string_value(key);

	json_t *value = json_object_get(body, "value");
	if (!value)
		return co_err_set(CO_EINVAL, "value is required (null is a value)");

	put->if_match_version = CO_MEM_ANY;
	json_t *imv = json_object_get(body, "if_match_version");
	if (imv && !json_is_null(imv)) {
		if (!json_is_integer(imv))
			return co_err_set(CO_EINVAL, "if_match_version must be an integer");
		if (json_integer_value(imv) < 0)
			return co_err_set(CO_EINVAL, "if_match_version must be 0 or more");
		put->if_match_version = json_integer_value(imv);
	}
	json_t *ttl = json_object_get(body, "ttl_seconds");
	if (ttl && !json_is_null(ttl)) {
		if (!json_is_integer(ttl))
			return co_err_set(CO_EINVAL, "ttl_seconds must be an integer");
		json_int_t t = json_integer_value(ttl);
		if (t <= 0 || t > CO_TTL_MAX_SECONDS)
			return co_err_set(CO_EINVAL, "ttl_seconds must be between 1 and %lld",
					  (long long)CO_TTL_MAX_SECONDS);
		put->ttl_seconds = t;
	}
	*value_out = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!*value_out)
		return co_err_set(CO_ENOMEM, "out of memory encoding value");
	if (strlen(*value_out) > CO_MEM_VALUE_MAX) {
		free(*value_out);
		*value_out = NULL;
		return co_err_set(CO_EINVAL, "value is larger than %d bytes as compact JSON",
				  CO_MEM_VALUE_MAX);
	}
	put->value_json = *value_out;
	return CO_OK;
}

/* Encodes code point cp as UTF-8 at out; returns its length. */
static size_t utf8_put(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

bool co_mem_prefix_upper(const char *prefix, char *out)
{
	size_t n = strlen(prefix);
	memcpy(out, prefix, n + 1);
	while (n > 0) {
		/* find the start of the last code point */
		size_t start = n - 1;
		while (start > 0 && ((unsigned char)out[start] & 0xc0) == 0x80)
			start--;
		const unsigned char *p = (const unsigned char *)out + start;
		uint32_t cp;
		size_t len = n - start;
		if (len == 1)
			cp = p[0];
		else if (len == 2)
			cp = (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
		else if (len == 3)
			cp = (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
		else
			cp = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
			     (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
		cp++;
		if (cp == 0xd800)
			cp = 0xe000; /* skip the surrogates */
		if (cp <= 0x10ffff) {
			size_t w = utf8_put(cp, out + start);
			out[start + w] = 0;
			return true;
		}
		n = start; /* U+10FFFF: drop it and bump the one before */
		out[n] = 0;
	}
	return false;
}

int co_mem_version_conflict(int64_t expected, int64_t current)
{
	if (expected == 0)
		return co_err_set(CO_ECONFLICT, "key already exists (version %lld)", (long long)current);
	if (current == 0)
		return co_err_set(CO_ECONFLICT, "expected version %lld but the key does not exist",
				  (long long)expected);
	return co_err_set(CO_ECONFLICT, "expected version %lld but the current version is %lld",
			  (long long)expected, (long long)current);
}

void co_mem_to_json(const co_mem_entry *e, co_buf *b)
{
	co_buf_puts(b, "{\"key\":");
	co_buf_json_cstr(b, e->key);
	co_buf_puts(b, ",\"value\":");
	co_buf_puts(b, e->value_json ? e->value_json : "null");
	co_buf_puts(b, ",\"version\":");
	co_buf_i64(b, e->version);
	if (e->expires_at) {
		co_buf_puts(b, ",\"expires_at\":");
		co_buf_json_time(b, e->expires_at, true);
	}
	co_buf_puts(b, ",\"updated_at\":");
	co_buf_json_time(b, e->updated_at, false);
	co_buf_putc(b, '}');
}
