/* schedule.c — schedule parsing, next-run rules and JSON shapes; see schedule.h. */
#include "schedule.h"
#include "cron.h"
#include "err.h"
#include "tz.h"
#include "validate.h"

#include <stdlib.h>
#include <string.h>

const char *co_sched_source_name(co_sched_source s)
{
	return s == CO_SCHED_TEMPLATE ? "template" : "runtime";
}

int co_sched_source_parse(const char *s, co_sched_source *out)
{
	if (s && !strcmp(s, "template"))
		*out = CO_SCHED_TEMPLATE;
	else if (s && !strcmp(s, "runtime"))
		*out = CO_SCHED_RUNTIME;
	else
		return co_err_set(CO_EINVAL, "source must be template or runtime");
	return CO_OK;
}

void co_schedule_clear(co_schedule *s)
{
	free(s->name);
	free(s->cron_expr);
	free(s->timezone);
	free(s->prompt);
	free(s->last_status);
	free(s->last_error);
	memset(s, 0, sizeof *s);
}

void co_sched_list_clear(co_sched_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		co_schedule_clear(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

void co_sched_patch_clear(co_sched_patch *p)
{
	co_schedule_clear(&p->v);
	p->fields = 0;
}

void co_sched_run_clear(co_sched_run *r)
{
	free(r->status);
	free(r->error);
	memset(r, 0, sizeof *r);
}

void co_sched_run_list_clear(co_sched_run_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		co_sched_run_clear(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

void co_sched_fired_clear(co_sched_fired *f)
{
	co_sched_run_clear(&f->run);
	free(f->schedule_name);
	free(f->prompt);
	free(f->url);
	memset(f, 0, sizeof *f);
}

/* A string member: absent → *present false; otherwise it must be a string. */
static int get_string(json_t *body, const char *field, bool required, bool *present,
		      const char **out)
{
	json_t *v = json_object_get(body, field);
	*present = v != NULL && !json_is_null(v);
	*out = NULL;
	if (!*present)
		return required ? co_err_set(CO_EINVAL, "%s is required", field) : CO_OK;
	if (!json_is_string(v))
		return co_err_set(CO_EINVAL, "%s must be a string", field);
	*out = json_string_value(v);
	return CO_OK;
}

static int check_cron(const char *expr, const char **code)
{
	co_cron c;
	if (strlen(expr) > CO_CRON_EXPR_MAX) {
		*code = "invalid_cron";
		return co_err_set(CO_EINVAL, "cron_expr is longer than %d bytes", CO_CRON_EXPR_MAX);
	}
	int rc = co_cron_parse(expr, &c);
	if (rc)
		*code = "invalid_cron";
	return rc;
}

static int check_tz(const char *name, const char **code)
{
	if (!co_tz_get(name)) {
		*code = "invalid_timezone";
		return CO_EINVAL;
	}
	return CO_OK;
}

static int check_prompt(const char *p)
{
	size_t n = strlen(p);
	if (n > CO_PROMPT_MAX)
		return co_err_set(CO_EINVAL, "prompt is longer than %d bytes", CO_PROMPT_MAX);
	if (!co_utf8_valid(p, n))
		return co_err_set(CO_EINVAL, "prompt must be valid UTF-8");
	return CO_OK;
}

static int dup_into(char **dst, const char *src)
{
	char *d = strdup(src);
	if (!d)
		return co_err_set(CO_ENOMEM, "out of memory");
	free(*dst);
	*dst = d;
	return CO_OK;
}

/* Reads and validates the fields common to create and PATCH into v, with bits in *fields. */
static int parse_fields(json_t *body, bool create, co_schedule *v, unsigned *fields,
			const char **code)
{
	*code = "invalid";
	*fields = 0;
	if (!json_is_object(body))
		return co_err_set(CO_EINVAL, "body must be a JSON object");
	bool has;
	const char *s;
	int rc;
	if ((rc = get_string(body, "name", create, &has, &s)))
		return rc;
	if (has) {
		if ((rc = co_validate_name("name", s)) || (rc = dup_into(&v->name, s)))
			return rc;
		*fields |= CO_SCHF_NAME;
	}
	if ((rc = get_string(body, "cron_expr", create, &has, &s)))
		return rc;
	if (has) {
		if ((rc = check_cron(s, code)) || (rc = dup_into(&v->cron_expr, s)))
			return rc;
		*fields |= CO_SCHF_CRON;
	}
	if ((rc = get_string(body, "timezone", false, &has, &s)))
		return rc;
	if (has) {
		if ((rc = check_tz(s, code)) || (rc = dup_into(&v->timezone, s)))
			return rc;
		*fields |= CO_SCHF_TZ;
	}
	if ((rc = get_string(body, "prompt", create, &has, &s)))
		return rc;
	if (has) {
		if ((rc = check_prompt(s)) || (rc = dup_into(&v->prompt, s)))
			return rc;
		*fields |= CO_SCHF_PROMPT;
	}
	json_t *en = json_object_get(body, "enabled");
	v->enabled = true;
	if (en && !json_is_null(en)) {
		if (!json_is_boolean(en))
			return co_err_set(CO_EINVAL, "enabled must be true or false");
		v->enabled = json_is_true(en);
		*fields |= CO_SCHF_ENABLED;
	}
	return CO_OK;
}

int co_sched_parse_create(json_t *body, co_schedule *out, const char **code)
{
	memset(out, 0, sizeof *out);
	unsigned fields;
	int rc = parse_fields(body, true, out, &fields, code);
	if (rc == CO_OK && !(fields & CO_SCHF_TZ))
		rc = dup_into(&out->timezone, "UTC");
	out->source = CO_SCHED_RUNTIME;
	if (rc)
		co_schedule_clear(out);
	return rc;
}

int co_sched_parse_patch(json_t *body, co_sched_patch *out, const char **code)
{
	memset(out, 0, sizeof *out);
	int rc = parse_fields(body, false, &out->v, &out->fields, code);
	if (rc)
		co_sched_patch_clear(out);
	return rc;
}

int co_sched_next(const co_schedule *s, co_usec_t after, co_usec_t *next)
{
	co_cron c;
	int rc = co_cron_parse(s->cron_expr, &c);
	if (rc)
		return rc;
	const co_tz *z = co_tz_get(s->timezone);
	if (!z)
		return CO_EINVAL;
	rc = co_cron_next(&c, z, after, next);
	if (rc == CO_ENOTFOUND)
		co_err_set(CO_ENOTFOUND, "cron_expr \"%s\" does not fire again", s->cron_expr);
	return rc;
}

int co_sched_init_next(co_schedule *s, co_usec_t now)
{
	s->next_run_at = 0;
	if (!s->enabled)
		return CO_OK;
	int rc = co_sched_next(s, now, &s->next_run_at);
	return rc == CO_ENOTFOUND ? co_err_set(CO_EINVAL, "%s", co_err_msg()) : rc;
}

int co_sched_apply_patch(co_schedule *s, const co_sched_patch *p, co_usec_t now)
{
	const co_schedule *v = &p->v;
	int rc = CO_OK;
	bool was_enabled = s->enabled;
	/* Timing changes when a value differs, not when a field is merely named: a client
	 * PATCHing the whole object must not drop a slot that is due but not yet fired. */
	bool timing_changed = ((p->fields & CO_SCHF_CRON) && strcmp(s->cron_expr, v->cron_expr)) ||
			      ((p->fields & CO_SCHF_TZ) && strcmp(s->timezone, v->timezone));
	if ((p->fields & CO_SCHF_NAME) && (rc = dup_into(&s->name, v->name)))
		return rc;
	if ((p->fields & CO_SCHF_CRON) && (rc = dup_into(&s->cron_expr, v->cron_expr)))
		return rc;
	if ((p->fields & CO_SCHF_TZ) && (rc = dup_into(&s->timezone, v->timezone)))
		return rc;
	if ((p->fields & CO_SCHF_PROMPT) && (rc = dup_into(&s->prompt, v->prompt)))
		return rc;
	if (p->fields & CO_SCHF_ENABLED)
		s->enabled = v->enabled;
	if (!s->enabled)
		s->next_run_at = 0;
	else if (timing_changed || !was_enabled || s->next_run_at == 0)
		return co_sched_init_next(s, now);
	return CO_OK;
}

void co_sched_to_json(const co_schedule *s, co_buf *b)
{
	co_buf_puts(b, "{\"id\":");
	co_buf_json_cstr(b, s->id.s);
	co_buf_puts(b, ",\"workspace_id\":");
	co_buf_json_cstr(b, s->workspace_id.s);
	co_buf_puts(b, ",\"name\":");
	co_buf_json_cstr(b, s->name);
	co_buf_puts(b, ",\"cron_expr\":");
	co_buf_json_cstr(b, s->cron_expr);
	co_buf_puts(b, ",\"timezone\":");
	co_buf_json_cstr(b, s->timezone);
	co_buf_puts(b, ",\"prompt\":");
	co_buf_json_cstr(b, s->prompt);
	co_buf_puts(b, s->enabled ? ",\"enabled\":true" : ",\"enabled\":false");
	co_buf_puts(b, ",\"source\":");
	co_buf_json_cstr(b, co_sched_source_name(s->source));
	co_buf_json_key(b, "next_run_at", false);
	co_buf_json_time(b, s->next_run_at, true);
	co_buf_json_key(b, "last_run_at", false);
	co_buf_json_time(b, s->last_run_at, true);
	co_buf_puts(b, ",\"run_count\":");
	co_buf_i64(b, s->run_count);
	co_buf_puts(b, ",\"last_status\":");
	co_buf_json_cstr(b, s->last_status);
	co_buf_puts(b, ",\"last_error\":");
	co_buf_json_cstr(b, s->last_error);
	co_buf_puts(b, ",\"consecutive_empty_runs\":");
	co_buf_i64(b, s->consecutive_empty_runs);
	co_buf_puts(b, ",\"last_run_id\":");
	co_buf_json_cstr(b, s->has_last_run ? s->last_run_id.s : NULL);
	co_buf_json_key(b, "created_at", false);
	co_buf_json_time(b, s->created_at, false);
	co_buf_json_key(b, "updated_at", false);
	co_buf_json_time(b, s->updated_at, false);
	co_buf_putc(b, '}');
}

void co_sched_run_to_json(const co_sched_run *r, co_buf *b)
{
	co_buf_puts(b, "{\"id\":");
	co_buf_json_cstr(b, r->id.s);
	co_buf_puts(b, ",\"schedule_id\":");
	co_buf_json_cstr(b, r->schedule_id.s);
	co_buf_puts(b, ",\"workspace_id\":");
	co_buf_json_cstr(b, r->workspace_id.s);
	co_buf_puts(b, r->manual ? ",\"trigger\":\"manual\"" : ",\"trigger\":\"cron\"");
	co_buf_json_key(b, "slot_at", false);
	co_buf_json_time(b, r->slot_at, false);
	co_buf_json_key(b, "fired_at", false);
	co_buf_json_time(b, r->fired_at, false);
	co_buf_puts(b, ",\"message_id\":");
	co_buf_json_cstr(b, r->message_id.s);
	co_buf_puts(b, ",\"status\":");
	co_buf_json_cstr(b, r->status);
	co_buf_puts(b, ",\"error\":");
	co_buf_json_cstr(b, r->error);
	co_buf_json_key(b, "finished_at", false);
	co_buf_json_time(b, r->finished_at, true);
	co_buf_putc(b, '}');
}
