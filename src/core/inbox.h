/*
 * inbox.h — a workspace's inbox (SPEC §6): messages, leases, acks, JSON shapes.
 *
 * DESIGN NOTES
 *  1. Life of a message: queued → claimed (under a lease; attempts + 1) → completed or
 *     failed (the ack). A claimed message whose lease has ended is claimable again; one
 *     whose lease ended after its max_attempts-th claim is dead-lettered ("dead") instead,
 *     kept and listable, never lost.
 *  2. Claim order: priority descending, then oldest first (id order).
 *  3. An ack names the outcome. `attempt` (optional) fences it: an ack carrying an attempt
 *     number other than the message's current one is a stale claimer's and is refused,
 *     so a claimer whose lease expired cannot complete a message someone else now holds.
 *     Repeating the same ack is answered with the message, unchanged (a client's retry).
 *  4. A message a schedule enqueued carries schedule_id and run_id; its completed ack
 *     reports the run's outcome back to the schedule (empty result or not; schedule.h).
 *  5. body and result are any JSON value, kept as compact JSON text.
 */
#ifndef COLONY_CORE_INBOX_H
#define COLONY_CORE_INBOX_H

#include "buf.h"
#include "clock.h"
#include "id.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define CO_INBOX_PRIORITY_MAX 1000000
#define CO_INBOX_ATTEMPTS_DEFAULT 5
#define CO_INBOX_ATTEMPTS_MAX 1000
#define CO_INBOX_CLAIM_MAX 100
#define CO_INBOX_LEASE_DEFAULT 300      /* seconds */
#define CO_INBOX_LEASE_MAX (7 * 86400)  /* seconds */

typedef enum {
	CO_INBOX_QUEUED,
	CO_INBOX_CLAIMED,
	CO_INBOX_COMPLETED,
	CO_INBOX_FAILED,
	CO_INBOX_DEAD,
	CO_INBOX_STATUS_COUNT
} co_inbox_status;

typedef enum { CO_INBOX_SRC_API, CO_INBOX_SRC_SCHEDULE, CO_INBOX_SRC_DELEGATION } co_inbox_source;

typedef struct {
	co_id id;
	co_id workspace_id;
	char *body_json;
	int64_t priority;
	char *idempotency_key; /* NULL: none */
	co_inbox_source source;
	bool has_schedule;
	co_id schedule_id;
	co_id run_id;
	co_inbox_status status;
	int64_t attempts;
	int64_t max_attempts;
	co_usec_t lease_expires_at; /* 0: not under a lease */
	char *result_json;          /* the ack's result; NULL: none */
	co_usec_t created_at;
	co_usec_t updated_at;
	co_usec_t acked_at; /* 0: not acked */
} co_inbox_msg;

typedef struct {
	co_inbox_msg *items;
	size_t n;
} co_inbox_list;

typedef struct {
	bool has_status;
	co_inbox_status status;
	bool has_after;
	co_id after; /* ids strictly greater */
	int limit;
} co_inbox_filter;

typedef struct {
	int max;               /* messages to claim, 1..CO_INBOX_CLAIM_MAX */
	int64_t lease_seconds; /* 1..CO_INBOX_LEASE_MAX */
} co_inbox_claim;

typedef struct {
	bool completed;       /* else failed */
	const char *result_json; /* borrowed; NULL: none */
	/* A failed ack's words for the schedule's last_error: the result itself when it is a
	 * JSON string, else its JSON text; NULL for a completed ack. Borrowed. */
	const char *error_text;
	bool has_attempt;
	int64_t attempt;
} co_inbox_ack;

const char *co_inbox_status_name(co_inbox_status s);
int co_inbox_status_parse(const char *s, co_inbox_status *out);
const char *co_inbox_source_name(co_inbox_source s);
int co_inbox_source_parse(const char *s, co_inbox_source *out);

void co_inbox_msg_clear(co_inbox_msg *m);
void co_inbox_list_clear(co_inbox_list *l);

/* Reads an enqueue body {body, priority?, idempotency_key?, max_attempts?} into *out
 * (source api, queued). CO_EINVAL naming the field. */
int co_inbox_parse_enqueue(json_t *body, co_inbox_msg *out);

/* Reads a claim body {max?, lease_seconds?}; body may be NULL (all defaults). */
int co_inbox_parse_claim(json_t *body, co_inbox_claim *out);

/* Reads an ack body {status: "completed"|"failed", result?, attempt?}. On success
 * *result_out is the compact JSON of result (free() it) or NULL, and ack->result_json
 * points at it. */
int co_inbox_parse_ack(json_t *body, co_inbox_ack *ack, char **result_out);

/* Is an ack's result "empty" for the stale-schedule count? Absent, null, "", a string of
 * blanks, [] and {} are. */
bool co_inbox_result_empty(const char *result_json);

/* Sorts messages in claim order: priority descending, then id (oldest first). */
void co_inbox_sort_claim_order(co_inbox_list *l);

void co_inbox_to_json(const co_inbox_msg *m, co_buf *b);

#endif
