/*
 * scheduler.h — the scheduler inside colonyd (SPEC §5): fires due schedule slots into
 * the inbox, and delivers webhooks.
 *
 * DESIGN NOTES
 *  1. One ticker thread. Every tick it asks the store for due schedules (enabled, live
 *     workspace, next_run_at <= now) and fires each through sched_fire(): one atomic
 *     conditional update that advances next_run_at to the first slot after NOW (so slots
 *     missed while down fire once, not in a burst), plus the run row and the inbox
 *     message, in one transaction. Another replica that read the same row loses the
 *     compare-and-set and does nothing: each slot fires once across all replicas.
 *  2. Webhooks never hold up firing: a fire whose workspace has a url is queued for a
 *     small pool of delivery threads (so one slow url does not hold up the others), which
 *     POST it with libcurl (timeout, http/https only, no
 *     redirects) and records the outcome with sched_mark(). A crash between the fire's
 *     commit and the POST loses the POST, never the inbox message: the inbox is the
 *     durable channel, the webhook a notification.
 *  3. Shutdown: co_scheduler_quiesce() stops ticking (no new claims) at once; after the
 *     HTTP server has drained, co_scheduler_stop() ends delivery: the POST in flight
 *     finishes (bounded by the timeout), queued ones are marked "error" (not delivered).
 *  4. One scheduler per process (a singleton), so a handler can hand a manual run's
 *     webhook to it with co_scheduler_deliver().
 */
#ifndef COLONY_SCHED_SCHEDULER_H
#define COLONY_SCHED_SCHEDULER_H

#include "../store/store.h"

#include <stdbool.h>

typedef struct {
	co_store *store;
	bool tick;              /* false: deliver webhooks only (colonyd --no-scheduler) */
	int interval_ms;        /* between ticks (default 1000) */
	int webhook_timeout_ms; /* whole POST (default 10000) */
} co_scheduler_config;

/* Starts the threads. CO_OK, or CO_EINTERNAL if a thread cannot start. */
int co_scheduler_start(const co_scheduler_config *cfg);

/* Stops claiming slots (joins the ticker). Safe to call twice or without a start. */
void co_scheduler_quiesce(void);

/* Quiesces, then ends delivery (note 3). Call before closing the store. */
void co_scheduler_stop(void);

/* Queues the webhook of a fire if its workspace has a url (copies what it needs). */
void co_scheduler_deliver(const co_sched_fired *f);

/* Slots fired and lost races so far (for logs and tests). */
void co_scheduler_stats(unsigned long long *fired, unsigned long long *lost);

#endif
