/* inbox.c — inbox message parsing and JSON shapes; see inbox.h. */
#include "inbox.h"
#include "err.h"
#include "validate.h"

#include <stdlib.h>
#include <string.h>

static const char *const status_names[CO_INBOX_STATUS_COUNT] = {
	"queued", "claimed", "completed", "failed", "dead",
};
static const char *const source_names[] = {"api", "schedule", "delegation"};

const char *co_inbox_status_name(co_inbox_status s)
{
	return (unsigned)s < CO_INBOX_STATUS_COUNT ? status_names[s] : "unknown";
}

int co_inbox_status_parse(const char *s, co_inbox_status *out)
{
	for (int i = 0; s && i < CO_INBOX_STATUS_COUNT; i++)
		if (!strcmp(s, status_names[i])) {
			*out = (co_inbox_status)i;
			return CO_OK;
		}
	return co_err_set(CO_EINVAL, "status must be one of queued, claimed, completed, failed, dead");
}

const char *co_inbox_source_name(co_inbox_source s)
{
	return (unsigned)s <= CO_INBOX_SRC_DELEGATION ? source_names[s] : "unknown";
}

int co_inbox_source_parse(const char *s, co_inbox_source *out)
{
	for (int i = 0; s && i <= CO_INBOX_SRC_DELEGATION; i++)
		if (!strcmp(s, source_names[i])) {
			*out = (co_inbox_source)i;
			return CO_OK;
		}
	return co_err_set(CO_EINVAL, "unknown message source");
}

void co_inbox_msg_clear(co_inbox_msg *m)
{
	free(m->body_json);
	free(m->idempotency_key);
	free(m->result_json);
	memset(m, 0, sizeof *m);
}

void co_inbox_list_clear(co_inbox_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		co_inbox_msg_clear(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

/* An optional integer member in [min, max]; absent or null leaves *out alone. */
static int opt_int(json_t *body, const char *field, int64_t min, int64_t max, bool *has,
		   int64_t *out)
{
	json_t *v = json_object_get(body, field);
	if (has)
		*has = false;
	if (!v || json_is_null(v))
		return CO_OK;
	if (!json_is_integer(v))
		return co_err_set(CO_EINVAL, "%s must be an integer", field);
	json_int_t i = json_integer_value(v);
	if (i < min || i > max)
		return co_err_set(CO_EINVAL, "%s must be between %lld and %lld", field,
				  (long long)min, (long long)max);
	*out = i;
	if (has)
		*has = true;
	return CO_OK;
}

int co_inbox_parse_enqueue(json_t *body, co_inbox_msg *out)
{
	memset(out, 0, sizeof *out);
	out->max_attempts = CO_INBOX_ATTEMPTS_DEFAULT;
	out->source = CO_INBOX_SRC_API;
	out->status = CO_INBOX_QUEUED;
	if (!json_is_object(body))
		return co_err_set(CO_EINVAL, "body must be a JSON object");
	json_t *b = json_object_get(body, "body");
	if (!b || json_is_null(b))
		return co_err_set(CO_EINVAL, "body is required: the message's content");
	int rc;
	if ((rc = opt_int(body, "priority", -CO_INBOX_PRIORITY_MAX, CO_INBOX_PRIORITY_MAX, NULL,
			  &out->priority)) ||
	    (rc = opt_int(body, "max_attempts", 1, CO_INBOX_ATTEMPTS_MAX, NULL, &out->max_attempts)))
		return rc;
	json_t *k = json_object_get(body, "idempotency_key");
	if (k && !json_is_null(k)) {
		if (!json_is_string(k))
			return co_err_set(CO_EINVAL, "idempotency_key must be a string");
		if ((rc = co_validate_name("idempotency_key", json_string_value(k))))
			return rc;
		if (!(out->idempotency_key = strdup(json_string_value(k))))
			return co_err_set(CO_ENOMEM, "out of memory");
	}
	if (!(out->body_json = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY))) {
		co_inbox_msg_clear(out);
		return co_err_set(CO_ENOMEM, "out of memory encoding body");
	}
	return CO_OK;
}

int co_inbox_parse_claim(json_t *body, co_inbox_claim *out)
{
	out->max = 1;
	out->lease_seconds = CO_INBOX_LEASE_DEFAULT;
	if (!body)
		return CO_OK;
	if (!json_is_object(body))
		return co_err_set(CO_EINVAL, "body must be a JSON object");
	int64_t max = 1;
	int rc = opt_int(body, "max", 1, CO_INBOX_CLAIM_MAX, NULL, &max);
	if (rc == CO_OK)
		rc = opt_int(body, "lease_seconds", 1, CO_INBOX_LEASE_MAX, NULL, &out->lease_seconds);
	out->max = (int)max;
	return rc;
}

int co_inbox_parse_ack(json_t *body, co_inbox_ack *ack, char **result_out)
{
	memset(ack, 0, sizeof *ack);
	*result_out = NULL;
	if (!json_is_object(body))
		return co_err_set(CO_EINVAL, "body must be a JSON object");
	json_t *st = json_object_get(body, "status");
	const char *s = json_string_value(st);
	if (!s || (strcmp(s, "completed") && strcmp(s, "failed")))
		return co_err_set(CO_EINVAL, "status is required: \"completed\" or \"failed\"");
	ack->completed = !strcmp(s, "completed");
	int rc = opt_int(body, "attempt", 1, INT64_MAX, &ack->has_attempt, &ack->attempt);
	if (rc)
		return rc;
	json_t *res = json_object_get(body, "result");
	if (res) {
		if (!(*result_out = json_dumps(res, JSON_COMPACT | JSON_ENCODE_ANY)))
			return co_err_set(CO_ENOMEM, "out of memory encoding result");
		ack->result_json = *result_out;
	}
	if (!ack->completed)
		ack->error_text = json_is_string(res) ? json_string_value(res) : ack->result_json;
	return CO_OK;
}

bool co_inbox_result_empty(const char *r)
{
	if (!r)
		return true;
	if (!strcmp(r, "null") || !strcmp(r, "[]") || !strcmp(r, "{}"))
		return true;
	size_t n = strlen(r);
	if (n < 2 || r[0] != '"')
		return false;
	/* a JSON string of blanks only (compact JSON writes them as themselves or \t \n \r) */
	for (size_t i = 1; i + 1 < n; i++) {
		if (r[i] == '\\' && i + 2 < n && strchr("tnr", r[i + 1])) {
			i++;
			continue;
		}
		if (r[i] != ' ')
			return false;
	}
	return true;
}

static int cmp_claim_order(const void *pa, const void *pb)
{
	const co_inbox_msg *a = pa, *b = pb;
	if (a->priority != b->priority)
		return a->priority > b->priority ? -1 : 1;
	return strcmp(a->id.s, b->id.s);
}

void co_inbox_sort_claim_order(co_inbox_list *l)
{
	if (l->n > 1)
		qsort(l->items, l->n, sizeof *l->items, cmp_claim_order);
}

void co_inbox_to_json(const co_inbox_msg *m, co_buf *b)
{
	co_buf_puts(b, "{\"id\":");
	co_buf_json_cstr(b, m->id.s);
	co_buf_puts(b, ",\"workspace_id\":");
	co_buf_json_cstr(b, m->workspace_id.s);
	co_buf_puts(b, ",\"body\":");
	co_buf_puts(b, m->body_json ? m->body_json : "null");
	co_buf_puts(b, ",\"priority\":");
	co_buf_i64(b, m->priority);
	co_buf_puts(b, ",\"status\":");
	co_buf_json_cstr(b, co_inbox_status_name(m->status));
	co_buf_puts(b, ",\"attempts\":");
	co_buf_i64(b, m->attempts);
	co_buf_puts(b, ",\"max_attempts\":");
	co_buf_i64(b, m->max_attempts);
	co_buf_json_key(b, "lease_expires_at", false);
	co_buf_json_time(b, m->status == CO_INBOX_CLAIMED ? m->lease_expires_at : 0, true);
	co_buf_puts(b, ",\"source\":");
	co_buf_json_cstr(b, co_inbox_source_name(m->source));
	co_buf_puts(b, ",\"idempotency_key\":");
	co_buf_json_cstr(b, m->idempotency_key);
	co_buf_puts(b, ",\"schedule_id\":");
	co_buf_json_cstr(b, m->has_schedule ? m->schedule_id.s : NULL);
	co_buf_puts(b, ",\"run_id\":");
	co_buf_json_cstr(b, m->has_schedule ? m->run_id.s : NULL);
	co_buf_puts(b, ",\"result\":");
	co_buf_puts(b, m->result_json ? m->result_json : "null");
	co_buf_json_key(b, "created_at", false);
	co_buf_json_time(b, m->created_at, false);
	co_buf_json_key(b, "acked_at", false);
	co_buf_json_time(b, m->acked_at, true);
	co_buf_putc(b, '}');
}
