/*
 * skill.c — skill versions in the core: the name rule, the POST body, the JSON shapes
 * (see skill.h).
 *
 * DESIGN NOTES
 *  1. A skill name is checked by the very rule of memory keys (co_validate_key), so the
 *     two can never drift apart; only the message is re-worded to name the skill name.
 *  2. Bodies are kept as the compact JSON text jansson writes (as memory values are), and
 *     copied into responses as they are, without re-parsing (buf.h note 1).
 */
#include "skill.h"
#include "err.h"
#include "validate.h"

#include <stdlib.h>
#include <string.h>

void co_skill_version_clear(co_skill_version *v)
{
	free(v->skill);
	free(v->body_json);
	memset(v, 0, sizeof *v);
}

void co_skill_version_list_clear(co_skill_version_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		co_skill_version_clear(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

void co_skill_clear(co_skill *s)
{
	free(s->name);
	memset(s, 0, sizeof *s);
}

void co_skill_list_clear(co_skill_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		co_skill_clear(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

/* Note 1: the memory-key rule; "key must not …" becomes "skill name must not …". */
int co_skill_validate_name(const char *name)
{
	if (!name)
		return co_err_set(CO_EINVAL, "skill name is required");
	if (co_validate_key(name) == CO_OK)
		return CO_OK;
	const char *why = co_err_msg();
	if (!strncmp(why, "key ", 4))
		why += 4;
	return co_err_set(CO_EINVAL, "skill name %s", why);
}

int co_skill_parse_version(json_t *req, char **body_json_out)
{
	*body_json_out = NULL;
	if (!json_is_object(req))
		return co_err_set(CO_EINVAL, "the request must be a JSON object {\"body\": …}");
	json_t *body = json_object_get(req, "body");
	if (!body)
		return co_err_set(CO_EINVAL, "body is required: the version's content (any JSON but null)");
	if (json_is_null(body))
		return co_err_set(CO_EINVAL, "body must not be null");
	if (!(*body_json_out = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY)))
		return co_err_set(CO_ENOMEM, "out of memory encoding body");
	return CO_OK;
}

void co_skill_version_to_json(const co_skill_version *v, co_buf *b)
{
	co_buf_puts(b, "{\"skill\":");
	co_buf_json_cstr(b, v->skill);
	co_buf_puts(b, ",\"seq\":");
	co_buf_i64(b, v->seq);
	co_buf_puts(b, ",\"body\":");
	co_buf_puts(b, v->body_json ? v->body_json : "null");
	co_buf_puts(b, ",\"created_at\":");
	co_buf_json_time(b, v->created_at, false);
	co_buf_putc(b, '}');
}

void co_skill_to_json(const co_skill *s, co_buf *b)
{
	co_buf_puts(b, "{\"name\":");
	co_buf_json_cstr(b, s->name);
	co_buf_puts(b, ",\"latest_seq\":");
	co_buf_i64(b, s->latest_seq);
	co_buf_puts(b, ",\"updated_at\":");
	co_buf_json_time(b, s->updated_at, false);
	co_buf_putc(b, '}');
}
