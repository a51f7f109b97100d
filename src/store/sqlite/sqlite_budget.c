/*
 * sqlite_budget.c — usage events and rolling budgets on the SQLite backend (store.h,
 * SPEC §7, core/budget.h).
 *
 * DESIGN NOTES
 *  1. An add is one INSERT of its own usage_events row, never an update of a total: no
 *     add reads what another wrote, so concurrent adds (threads, or other colonyd on the
 *     file) cannot lose one another; each runs through sq_write() under the database
 *     write lock anyway. In the same transaction the workspace's events that left the
 *     window (at <= now − CO_BUDGET_WINDOW_US) are deleted (budget.h note 5): an add that
 *     fails prunes nothing, and pruning never removes an event the window still counts
 *     (those have at > now − window).
 *  2. The budget is ONE statement — the workspace row, its limits and the window's sums —
 *     so the three are read from one snapshot. SQLite's SUM() raises an error on integer
 *     overflow, which a hostile client could provoke (millions of events at the caps).
 *     So each amount is summed in two parts, x / 2^25 and x % 2^25: an amount is at most
 *     1e15 (the cost cap in micro-USD), so both parts are below 2^25 and neither sum can
 *     overflow before 2^38 (2.7e11) events in one window, tens of terabytes. They are
 *     recombined here saturating at INT64_MAX (a saturated total is past any limit).
 *     Sums are of integers: exact.
 *  3. A PATCH reads the limits row and writes it back with co_budget_apply_patch() inside
 *     one sq_write() op, i.e. under the database write lock: two PATCHes of different
 *     limits are serialised, the second reads the first's row, and neither is lost.
 *  4. sq_budget_exceeded() runs the same statement on the caller's connection inside
 *     the caller's write transaction (the inbox enqueue), so "exceeded" is decided
 *     atomically with the enqueue it refuses.
 *  5. Purging a workspace removes its rows by ON DELETE CASCADE (foreign keys are on).
 */
#include "../../core/err.h"
#include "sqlite_internal.h"

#include <stdio.h>
#include <string.h>

#define SPLIT 33554432LL /* 2^25: note 2 */
#define PART(col) "COALESCE(SUM(" col " / 33554432), 0), COALESCE(SUM(" col " % 33554432), 0)"

/* Columns: 0 the workspace's id; 1..4 its limits (NULL: none); 5..12 the window's sums as
 * (high, low) pairs of seconds_us, input_tokens, output_tokens, cost_micro_usd. */
static sq_sql Q_BUDGET = {
	.sql = "SELECT w.id, l.seconds_us, l.input_tokens, l.output_tokens, l.cost_micro_usd, u.* "
	       "FROM workspaces w LEFT JOIN budget_limits l ON l.workspace_id = w.id CROSS JOIN "
	       "(SELECT " PART("seconds_us") ", " PART("input_tokens") ", " PART("output_tokens")
	       ", " PART("cost_micro_usd") " FROM usage_events "
	       "WHERE workspace_id = ?1 AND at > ?2) u WHERE w.id = ?1"};
static sq_sql Q_INSERT = {.sql = "INSERT INTO usage_events (workspace_id, at, id, seconds_us, "
				 "input_tokens, output_tokens, cost_micro_usd) VALUES (?1, ?2, ?3, "
				 "?4, ?5, ?6, ?7)"};
static sq_sql Q_PRUNE = {.sql = "DELETE FROM usage_events WHERE workspace_id = ?1 AND at <= ?2"};
static sq_sql Q_LIMITS = {.sql = "SELECT seconds_us, input_tokens, output_tokens, cost_micro_usd "
				 "FROM budget_limits WHERE workspace_id = ?1"};
static sq_sql Q_LIMITS_PUT = {
	.sql = "INSERT INTO budget_limits (workspace_id, seconds_us, input_tokens, output_tokens, "
	       "cost_micro_usd, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT "
	       "(workspace_id) DO UPDATE SET seconds_us = excluded.seconds_us, input_tokens = "
	       "excluded.input_tokens, output_tokens = excluded.output_tokens, cost_micro_usd = "
	       "excluded.cost_micro_usd, updated_at = excluded.updated_at"};

/* Note 2: hi × 2^25 + lo, saturating at INT64_MAX (both parts are ≥ 0). */
static int64_t recombine(int64_t hi, int64_t lo)
{
	if (hi < 0 || lo < 0)
		return INT64_MAX; /* cannot happen: amounts are CHECKed ≥ 0 */
	if (hi > (INT64_MAX - lo) / SPLIT)
		return INT64_MAX;
	return hi * SPLIT + lo;
}

/* Reads limits from columns first..first+3 of st (NULL: not set). */
static void read_limits(sqlite3_stmt *st, int first, co_budget_limits *l)
{
	memset(l, 0, sizeof *l);
	for (int i = 0; i < 4; i++)
		if (sqlite3_column_type(st, first + i) != SQLITE_NULL) {
			l->set |= co_limit_bit(i);
			*co_usage_field(&l->limit, i) = sqlite3_column_int64(st, first + i);
		}
}

/* Fills *out with workspace ws's budget at `now` on connection c (note 2), in whatever
 * transaction c is in. CO_ENOTFOUND if the workspace is absent. */
static int read_budget(sq_conn *c, const co_id *ws, co_usec_t now, co_budget *out)
{
	memset(out, 0, sizeof *out);
	sqlite3_stmt *st = sq_prep(c, &Q_BUDGET);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, ws->s);
	sqlite3_bind_int64(st, 2, now - CO_BUDGET_WINDOW_US);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		read_limits(st, 1, &out->limits);
		for (int i = 0; i < 4; i++)
			*co_usage_field(&out->used, i) = recombine(sqlite3_column_int64(st, 5 + 2 * i),
								sqlite3_column_int64(st, 6 + 2 * i));
		out->exceeded = co_budget_exceeded(&out->used, &out->limits);
		rc = CO_OK;
	} else if (rc == SQLITE_DONE) {
		rc = co_err_set(CO_ENOTFOUND, "workspace %s not found", ws->s);
	} else {
		rc = sq_fail(c, rc, "reading a budget");
	}
	sq_done(st);
	return rc;
}

/* When *exceeded, this thread's error message (co_err_msg) names the limit reached and
 * its figures, for the caller's refusal; the return code is still CO_OK. */
int sq_budget_exceeded(sq_conn *c, const co_id *ws, co_usec_t now, bool *exceeded)
{
	co_budget b;
	int rc = read_budget(c, ws, now, &b);
	*exceeded = rc == CO_OK && b.exceeded;
	if (*exceeded)
		co_budget_exceeded_error(ws->s, &b);
	return rc;
}

struct add_args {
	const co_id *ws;
	const co_usage *u;
	co_conflict *conflict;
};

/* Note 1: the event at now, then the workspace's pruning, in the op's transaction. */
static int op_usage_add(sq_conn *c, void *arg)
{
	struct add_args *a = arg;
	int rc = sq_check_ws_writable(c, a->ws, a->conflict);
	if (rc)
		return rc;
	co_usec_t now = co_clock_now_us();
	co_id id;
	if ((rc = co_id_new(&id)))
		return rc;
	sqlite3_stmt *st = sq_prep(c, &Q_INSERT);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, a->ws->s);
	sqlite3_bind_int64(st, 2, now);
	sq_bind_text(st, 3, id.s);
	for (int i = 0; i < 4; i++)
		sqlite3_bind_int64(st, 4 + i, co_usage_get(a->u, i));
	rc = sqlite3_step(st);
	sq_done(st);
	if (rc != SQLITE_DONE)
		return sq_fail(c, rc, "recording usage");
	if (!(st = sq_prep(c, &Q_PRUNE)))
		return CO_EINTERNAL;
	sq_bind_text(st, 1, a->ws->s);
	sqlite3_bind_int64(st, 2, now - CO_BUDGET_WINDOW_US);
	rc = sqlite3_step(st);
	sq_done(st);
	return rc == SQLITE_DONE ? CO_OK : sq_fail(c, rc, "pruning old usage");
}

int sq_usage_add(co_store *s, const co_id *ws, const co_usage *u, co_conflict *conflict)
{
	/* The parser validated u; integers cannot be NaN, and the CHECKs refuse negatives,
	 * but a negative amount is refused here too, before any SQL (budget.h note 3). */
	for (int i = 0; i < 4; i++)
		if (co_usage_get(u, i) < 0)
			return co_err_set(CO_EINVAL, "usage amounts must be >= 0");
	struct add_args a = {ws, u, conflict};
	return sq_write((sq_store *)s, op_usage_add, &a);
}

/* One statement on a reader connection (note 2); a removed workspace's budget too. */
int sq_budget_get(co_store *base, const co_id *ws, co_budget *out)
{
	sq_store *s = (sq_store *)base;
	sq_conn *c = sq_reader_get(s);
	int rc = read_budget(c, ws, co_clock_now_us(), out);
	sq_reader_put(s, c);
	return rc;
}

struct patch_args {
	const co_id *ws;
	const co_budget_patch *p;
	co_budget *out;
	co_conflict *conflict;
};

/* Note 3: read, apply, write back, under the write lock; then the budget as it now is. */
static int op_budget_patch(sq_conn *c, void *arg)
{
	struct patch_args *a = arg;
	int rc = sq_check_ws_writable(c, a->ws, a->conflict);
	if (rc)
		return rc;
	co_usec_t now = co_clock_now_us();
	co_budget_limits l = {0};
	sqlite3_stmt *st = sq_prep(c, &Q_LIMITS);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, a->ws->s);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_limits(st, 0, &l);
	sq_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_fail(c, rc, "reading budget limits");
	co_budget_apply_patch(&l, a->p);
	if (!(st = sq_prep(c, &Q_LIMITS_PUT)))
		return CO_EINTERNAL;
	sq_bind_text(st, 1, a->ws->s);
	for (int i = 0; i < 4; i++)
		sq_bind_opt_i64(st, 2 + i, l.set & co_limit_bit(i), co_usage_get(&l.limit, i));
	sqlite3_bind_int64(st, 6, now);
	rc = sqlite3_step(st);
	sq_done(st);
	if (rc != SQLITE_DONE)
		return sq_fail(c, rc, "writing budget limits");
	return read_budget(c, a->ws, now, a->out);
}

int sq_budget_patch(co_store *s, const co_id *ws, const co_budget_patch *p, co_budget *out,
		    co_conflict *conflict)
{
	struct patch_args a = {ws, p, out, conflict};
	return sq_write((sq_store *)s, op_budget_patch, &a);
}
