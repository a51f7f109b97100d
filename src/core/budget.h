/*
 * budget.h — usage and rolling budgets of a workspace (SPEC §7).
 *
 * DESIGN NOTES
 *  1. Usage is a stream of events (seconds, input/output tokens, cost), each one INSERTed
 *     as its own row: concurrent adds never read-modify-write a total, so every accepted
 *     add is counted. The budget is the sum of the events of the rolling window: those with
 *     at > now − CO_BUDGET_WINDOW_US. An event exactly 7 days old is out.
 *  2. Exact sums: seconds are kept as integer microseconds and cost as integer micro-USD
 *     (1e-6 $), rounded to nearest at parse — but a non-zero amount below half a unit
 *     counts as one unit, so tiny events cannot slip under a limit; tokens are integers. So the total is exactly
 *     the sum of the adds, whatever their order. JSON shows seconds and cost_usd as numbers
 *     (µs / 1e6).
 *  3. Validation happens before any storage is touched: every given field must be a JSON
 *     number (tokens: integers), finite, ≥ 0 and ≤ its cap below; at least one field must
 *     be given. (JSON cannot spell NaN or Infinity; jansson refuses them, and 1e999
 *     overflows to an error too; the finite checks are for any other path that builds a
 *     co_usage.) SQLite would store a NaN as NULL, so nothing unchecked may reach it.
 *  4. Limits are optional per field; a workspace is exceeded when any set limit is reached
 *     (used ≥ limit): a limit is what may be spent, and once spent no more work is taken.
 *     Exceeded workspaces refuse new inbox messages with 402 budget_exceeded.
 *  5. Old events are pruned (events at ≤ now − window) in the same transaction as an add.
 */
#ifndef COLONY_CORE_BUDGET_H
#define COLONY_CORE_BUDGET_H

#include "buf.h"
#include "clock.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define CO_BUDGET_WINDOW_DAYS 7
#define CO_BUDGET_WINDOW_US ((co_usec_t)CO_BUDGET_WINDOW_DAYS * 86400 * 1000000)
#define CO_USAGE_SECONDS_MAX 31536000.0     /* one year per event */
#define CO_USAGE_TOKENS_MAX 1000000000000LL /* 1e12 per event */
#define CO_USAGE_COST_MAX 1000000000.0      /* $1e9 per event */

/* An amount of usage: one event, or a window's total. */
typedef struct {
	int64_t seconds_us;
	int64_t input_tokens;
	int64_t output_tokens;
	int64_t cost_micro_usd;
} co_usage;

/* Which limits are set (bits of co_budget_limits.set). */
enum {
	CO_LIMIT_SECONDS = 1 << 0,
	CO_LIMIT_INPUT_TOKENS = 1 << 1,
	CO_LIMIT_OUTPUT_TOKENS = 1 << 2,
	CO_LIMIT_COST = 1 << 3,
};

typedef struct {
	unsigned set;   /* CO_LIMIT_* bits: the limits in force */
	co_usage limit; /* their values (same units as co_usage) */
} co_budget_limits;

/* A PATCH of limits: `fields` names the limits to write; among them those in v.set get
 * v.limit's value, the others are cleared (JSON null). */
typedef struct {
	unsigned fields;
	co_budget_limits v;
} co_budget_patch;

typedef struct {
	co_usage used;           /* the window's total */
	co_budget_limits limits;
	bool exceeded;           /* note 4 */
} co_budget;

/* The amounts of a co_usage by index, for code that treats them alike (a backend's
 * columns): 0 seconds_us, 1 input_tokens, 2 output_tokens, 3 cost_micro_usd. */
#define CO_USAGE_FIELDS 4
int64_t *co_usage_field(co_usage *u, int i);
int64_t co_usage_get(const co_usage *u, int i);
/* The CO_LIMIT_* bit of amount i. */
unsigned co_limit_bit(int i);

/* For a refusal (the inbox's 402): sets the message naming the first limit b has reached,
 * with its used and limit figures, and returns CO_ECONFLICT. */
int co_budget_exceeded_error(const char *ws_id, const co_budget *b);

/* Reads {seconds?, input_tokens?, output_tokens?, cost_usd?} (note 3). */
int co_usage_parse(json_t *body, co_usage *out);

/* Reads {limits: {seconds?, input_tokens?, output_tokens?, cost_usd?}} where each is a
 * number (same rules as usage) or null (clears it). */
int co_budget_parse_patch(json_t *body, co_budget_patch *out);

/* Applies a patch to limits. */
void co_budget_apply_patch(co_budget_limits *l, const co_budget_patch *p);

/* Note 4: is any set limit reached by used? */
bool co_budget_exceeded(const co_usage *used, const co_budget_limits *l);

/* {window_days, seconds_used, input_tokens, output_tokens, cost_usd,
 *  limits:{seconds?, input_tokens?, output_tokens?, cost_usd?}, exceeded} */
void co_budget_to_json(const co_budget *b, co_buf *out);

#endif
