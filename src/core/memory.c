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
	put->value_json = *value_out;
	return CO_OK;
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
