/*
 * schedule.h — schedules (SPEC §5): fields, JSON shapes, and the rules for next_run_at.
 *
 * DESIGN NOTES
 *  1. A schedule belongs to one workspace; its name is unique within it. `source` says who
 *     owns it: "runtime" (made through the API) or "template" (made by org import, which
 *     may refresh only its own rows).
 *  2. next_run_at is the next slot to fire, an instant computed by the cron engine in the
 *     schedule's zone; 0 (null in JSON) while disabled. Changing cron_expr or timezone,
 *     or enabling a disabled schedule, recomputes it from `now`, so no burst of missed
 *     slots follows (co_sched_apply_patch).
 *  3. Run fields (last_run_at, run_count, last_status, last_error, consecutive_empty_runs,
 *     last_run_id) are written only by the scheduler's atomic statements, never by a
 *     PATCH; PATCH fields are never written by the scheduler (except next_run_at, which
 *     the scheduler advances only by compare-and-set). That split is what keeps a PATCH
 *     and a run from overwriting each other.
 *  4. last_status: "fired" (enqueued), then "delivered"/"error" (webhook outcome, if the
 *     workspace has a url), then from the inbox ack "ok" (non-empty result), "empty", "stale"
 *     (third consecutive empty result or more) or "failed".
 *  5. Strings are heap-owned by the struct; *_clear() frees them.
 */
#ifndef COLONY_CORE_SCHEDULE_H
#define COLONY_CORE_SCHEDULE_H

#include "buf.h"
#include "clock.h"
#include "id.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define CO_PROMPT_MAX (256 * 1024) /* bytes of a schedule's prompt */
#define CO_STALE_AFTER 3           /* consecutive empty results that make a schedule stale */

typedef enum { CO_SCHED_RUNTIME, CO_SCHED_TEMPLATE } co_sched_source;

typedef struct {
	co_id id;
	co_id workspace_id;
	char *name;
	char *cron_expr;
	char *timezone;
	char *prompt;
	bool enabled;
	co_sched_source source;
	co_usec_t next_run_at; /* 0: none (disabled) */
	co_usec_t last_run_at; /* 0: never */
	int64_t run_count;
	char *last_status; /* NULL: never run */
	char *last_error;  /* NULL: none */
	int64_t consecutive_empty_runs;
	bool has_last_run;
	co_id last_run_id;
	co_usec_t created_at;
	co_usec_t updated_at;
} co_schedule;

typedef struct {
	co_schedule *items;
	size_t n;
} co_sched_list;

enum {
	CO_SCHF_NAME = 1 << 0,
	CO_SCHF_CRON = 1 << 1,
	CO_SCHF_TZ = 1 << 2,
	CO_SCHF_PROMPT = 1 << 3,
	CO_SCHF_ENABLED = 1 << 4,
};

typedef struct {
	unsigned fields; /* CO_SCHF_* bits: which members of v are to be written */
	co_schedule v;
} co_sched_patch;

/* One firing of a schedule (its history). */
typedef struct {
	co_id id;
	co_id schedule_id;
	co_id workspace_id;
	bool manual;        /* POST …/run, else the cron slot */
	co_usec_t slot_at;  /* the slot fired (manual: the time of the request) */
	co_usec_t fired_at;
	co_id message_id;   /* the inbox message it enqueued */
	char *status;       /* "fired", "delivered"/"error", then "ok"/"empty"/"failed" (a run is
			     * never "stale": that is the schedule's state, note 4) */
	char *error;        /* NULL: none */
	co_usec_t finished_at; /* 0: no outcome yet */
} co_sched_run;

typedef struct {
	co_sched_run *items;
	size_t n;
} co_sched_run_list;

/* What the scheduler (or POST …/run) asks the store to fire. */
typedef struct {
	co_id schedule_id;
	co_id workspace_id;   /* manual: the workspace of the path (must own the schedule) */
	bool manual;
	/* cron only, compare-and-set: fire only if the row still has this slot, expression
	 * and zone, is enabled and its workspace is not removed. */
	co_usec_t slot;
	const char *cron_expr;
	const char *timezone;
	co_usec_t next_run_at; /* cron only: the slot after this one */
	co_usec_t now;
} co_sched_fire;

/* What a fire produced: the run, and what a webhook delivery needs. */
typedef struct {
	co_sched_run run;
	char *schedule_name;
	char *prompt;
	char *url; /* the workspace's url, NULL if none */
} co_sched_fired;

const char *co_sched_source_name(co_sched_source s);
int co_sched_source_parse(const char *s, co_sched_source *out);

void co_schedule_clear(co_schedule *s);
void co_sched_list_clear(co_sched_list *l);
void co_sched_patch_clear(co_sched_patch *p);
void co_sched_run_clear(co_sched_run *r);
void co_sched_run_list_clear(co_sched_run_list *l);
void co_sched_fired_clear(co_sched_fired *f);

/* Reads a create body {name, cron_expr, timezone?, prompt, enabled?} into *out
 * (source runtime; ids, times and next_run_at left zero). On error: CO_EINVAL with the
 * message, and *code is "invalid_cron", "invalid_timezone" or "invalid". */
int co_sched_parse_create(json_t *body, co_schedule *out, const char **code);

/* Reads a PATCH body {name?, cron_expr?, timezone?, prompt?, enabled?}; same errors. */
int co_sched_parse_patch(json_t *body, co_sched_patch *out, const char **code);

/* The first slot of s strictly after `after` (s->cron_expr in s->timezone). CO_EINVAL if
 * the expression or zone is not valid; CO_ENOTFOUND if it never fires again. */
int co_sched_next(const co_schedule *s, co_usec_t after, co_usec_t *next);

/* Applies a patch to s (strings copied) and sets next_run_at per note 2, with `now`.
 * Returns CO_OK, CO_EINVAL (the combination of expression and zone does not work) or
 * CO_ENOMEM (s must then just be cleared). */
int co_sched_apply_patch(co_schedule *s, const co_sched_patch *p, co_usec_t now);

/* Sets next_run_at of a new schedule from `now` (0 if disabled). */
int co_sched_init_next(co_schedule *s, co_usec_t now);

void co_sched_to_json(const co_schedule *s, co_buf *b);
void co_sched_run_to_json(const co_sched_run *r, co_buf *b);

#endif
