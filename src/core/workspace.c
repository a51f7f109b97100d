/* workspace.c — workspace statuses, JSON parsing and rendering; see workspace.h. */
#include "workspace.h"
#include "err.h"
#include "validate.h"

#include <stdlib.h>
#include <string.h>

static const char *const status_names[CO_WS_STATUS_COUNT] = {
	"provisioning", "online", "offline", "degraded", "failed", "paused", "hibernated", "removed",
};

const char *co_ws_status_name(co_ws_status s)
{
	return (unsigned)s < CO_WS_STATUS_COUNT ? status_names[s] : "unknown";
}

int co_ws_status_parse(const char *s, co_ws_status *out)
{
	for (int i = 0; s && i < CO_WS_STATUS_COUNT; i++)
		if (!strcmp(s, status_names[i])) {
			*out = (co_ws_status)i;
			return CO_OK;
		}
	return co_err_set(CO_EINVAL,
			  "status must be one of provisioning, online, offline, degraded, "
			  "failed, paused, hibernated, removed");
}

void co_workspace_clear(co_workspace *w)
{
	free(w->name);
	free(w->role);
	free(w->runtime);
	free(w->url);
	memset(w, 0, sizeof *w);
}

void co_ws_patch_clear(co_ws_patch *p)
{
	co_workspace_clear(&p->v);
	p->fields = 0;
}

void co_ws_list_clear(co_ws_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		co_workspace_clear(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

/* Copies an optional string field. Absent: *present=false. null: *out=NULL.
 * A string is validated with `check` (a name rule or the url rule). */
static int opt_string(json_t *body, const char *field, bool *present, char **out, bool is_url)
{
	json_t *v = json_object_get(body, field);
	*present = v != NULL;
	*out = NULL;
	if (!v || json_is_null(v))
		return CO_OK;
	if (!json_is_string(v))
		return co_err_set(CO_EINVAL, "%s must be a string", field);
	const char *s = json_string_value(v);
	int rc = is_url ? co_validate_url(s) : co_validate_name(field, s);
	if (rc)
		return rc;
	*out = strdup(s);
	return *out ? CO_OK : co_err_set(CO_ENOMEM, "out of memory");
}

static int opt_int(json_t *body, const char *field, int64_t min, int64_t max, bool *present,
		   bool *has, int64_t *out)
{
	json_t *v = json_object_get(body, field);
	*present = v != NULL;
	*has = false;
	if (!v || json_is_null(v))
		return CO_OK;
	if (!json_is_integer(v))
		return co_err_set(CO_EINVAL, "%s must be an integer", field);
	json_int_t i = json_integer_value(v);
	if (i < min || i > max)
		return co_err_set(CO_EINVAL, "%s must be between %lld and %lld", field, (long long)min,
				  (long long)max);
	*has = true;
	*out = i;
	return CO_OK;
}

/* Reads the fields create and patch share. `fields` collects CO_WSF_* of those present. */
static int parse_common(json_t *body, co_workspace *w, unsigned *fields)
{
	if (!json_is_object(body))
		return co_err_set(CO_EINVAL, "body must be a JSON object");
	bool present;
	int rc;
	json_t *name = json_object_get(body, "name");
	if (name) {
		if (!json_is_string(name))
			return co_err_set(CO_EINVAL, "name must be a string");
		if ((rc = co_validate_name("name", json_string_value(name))))
			return rc;
		if (!(w->name = strdup(json_string_value(name))))
			return co_err_set(CO_ENOMEM, "out of memory");
		*fields |= CO_WSF_NAME;
	}
	if ((rc = opt_string(body, "role", &present, &w->role, false)))
		return rc;
	*fields |= present ? CO_WSF_ROLE : 0;
	if ((rc = opt_string(body, "runtime", &present, &w->runtime, false)))
		return rc;
	*fields |= present ? CO_WSF_RUNTIME : 0;
	if ((rc = opt_string(body, "url", &present, &w->url, true)))
		return rc;
	*fields |= present ? CO_WSF_URL : 0;
	if ((rc = opt_int(body, "tier", 0, CO_TIER_MAX, &present, &w->has_tier, &w->tier)))
		return rc;
	*fields |= present ? CO_WSF_TIER : 0;
	if ((rc = opt_int(body, "max_concurrent_tasks", 1, CO_MAX_TASKS_MAX, &present,
			  &w->has_max_tasks, &w->max_concurrent_tasks)))
		return rc;
	*fields |= present ? CO_WSF_MAX_TASKS : 0;

	json_t *parent = json_object_get(body, "parent_id");
	if (parent) {
		*fields |= CO_WSF_PARENT;
		if (!json_is_null(parent)) {
			if (!json_is_string(parent))
				return co_err_set(CO_EINVAL, "parent_id must be a UUID string or null");
			if (co_id_parse(json_string_value(parent), &w->parent_id))
				return co_err_set(CO_EINVAL, "parent_id is not a valid UUID");
			w->has_parent = true;
		}
	}
	json_t *status = json_object_get(body, "status");
	if (status && !json_is_null(status)) {
		if (!json_is_string(status))
			return co_err_set(CO_EINVAL, "status must be a string");
		if ((rc = co_ws_status_parse(json_string_value(status), &w->status)))
			return rc;
		if (w->status == CO_WS_REMOVED)
			return co_err_set(CO_EINVAL,
					  "status cannot be set to removed; use DELETE /workspaces/:id");
		*fields |= CO_WSF_STATUS;
	} else if (status) {
		return co_err_set(CO_EINVAL, "status must be a string");
	}
	return CO_OK;
}

int co_ws_parse_create(json_t *body, co_workspace *out)
{
	memset(out, 0, sizeof *out);
	unsigned fields = 0;
	int rc = parse_common(body, out, &fields);
	if (rc == CO_OK && !(fields & CO_WSF_NAME))
		rc = co_err_set(CO_EINVAL, "name is required");
	if (rc == CO_OK && !(fields & CO_WSF_STATUS))
		out->status = CO_WS_PROVISIONING;
	if (rc)
		co_workspace_clear(out);
	return rc;
}

int co_ws_parse_patch(json_t *body, co_ws_patch *out)
{
	memset(out, 0, sizeof *out);
	int rc = parse_common(body, &out->v, &out->fields);
	if (rc)
		co_ws_patch_clear(out);
	return rc;
}

/* Replaces *dst with a copy of src (NULL allowed). */
static int set_str(char **dst, const char *src)
{
	char *copy = src ? strdup(src) : NULL;
	if (src && !copy)
		return co_err_set(CO_ENOMEM, "out of memory");
	free(*dst);
	*dst = copy;
	return CO_OK;
}

int co_ws_apply_patch(co_workspace *w, const co_ws_patch *p)
{
	const co_workspace *v = &p->v;
	int rc = CO_OK;
	if (p->fields & CO_WSF_NAME)
		rc |= set_str(&w->name, v->name);
	if (p->fields & CO_WSF_ROLE)
		rc |= set_str(&w->role, v->role);
	if (p->fields & CO_WSF_RUNTIME)
		rc |= set_str(&w->runtime, v->runtime);
	if (p->fields & CO_WSF_URL)
		rc |= set_str(&w->url, v->url);
	if (p->fields & CO_WSF_TIER) {
		w->has_tier = v->has_tier;
		w->tier = v->tier;
	}
	if (p->fields & CO_WSF_MAX_TASKS) {
		w->has_max_tasks = v->has_max_tasks;
		w->max_concurrent_tasks = v->max_concurrent_tasks;
	}
	if (p->fields & CO_WSF_STATUS)
		w->status = v->status;
	if (p->fields & CO_WSF_PARENT) {
		w->has_parent = v->has_parent;
		w->parent_id = v->parent_id;
	}
	return rc ? CO_ENOMEM : CO_OK;
}

void co_ws_to_json(const co_workspace *w, co_buf *b)
{
	co_buf_putc(b, '{');
	co_buf_json_key(b, "id", true);
	co_buf_json_cstr(b, w->id.s);
	co_buf_json_key(b, "parent_id", false);
	co_buf_json_cstr(b, w->has_parent ? w->parent_id.s : NULL);
	co_buf_json_key(b, "name", false);
	co_buf_json_cstr(b, w->name);
	co_buf_json_key(b, "role", false);
	co_buf_json_cstr(b, w->role);
	co_buf_json_key(b, "runtime", false);
	co_buf_json_cstr(b, w->runtime);
	co_buf_json_key(b, "tier", false);
	if (w->has_tier)
		co_buf_i64(b, w->tier);
	else
		co_buf_puts(b, "null");
	co_buf_json_key(b, "url", false);
	co_buf_json_cstr(b, w->url);
	co_buf_json_key(b, "max_concurrent_tasks", false);
	if (w->has_max_tasks)
		co_buf_i64(b, w->max_concurrent_tasks);
	else
		co_buf_puts(b, "null");
	co_buf_json_key(b, "status", false);
	co_buf_json_cstr(b, co_ws_status_name(w->status));
	co_buf_json_key(b, "created_at", false);
	co_buf_json_time(b, w->created_at, false);
	co_buf_json_key(b, "updated_at", false);
	co_buf_json_time(b, w->updated_at, false);
	co_buf_json_key(b, "removed_at", false);
	co_buf_json_time(b, w->removed_at, true);
	co_buf_putc(b, '}');
}
