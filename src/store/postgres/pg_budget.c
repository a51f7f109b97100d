/*
 * pg_budget.c — usage events and rolling budgets on the PostgreSQL backend (store.h,
 * SPEC §7, core/budget.h).
 *
 * DESIGN NOTES
 *  1. An add is one INSERT of its own usage_events row, never an update of a total: no
 *     add reads a figure to write it back, so there is no read-modify-write to race (seed
 *     003) and every committed add on any replica counts, exactly once (a retried attempt
 *     was rolled back whole). The workspace row is locked FOR SHARE first
 *     (pg_check_ws_writable), so a concurrent removal waits and no add lands in a removed
 *     workspace. In the same transaction the workspace's events that left the window
 *     (at <= now − CO_BUDGET_WINDOW_US) are deleted (budget.h note 5). Two adds pruning
 *     the same old rows: the second waits for the first's row locks, then finds them
 *     gone and skips them (READ COMMITTED); a deadlock between them is retried whole by
 *     pg_in_tx (the event's id is made per attempt).
 *  2. The budget is ONE statement (the workspace row, its limits, the window's sums), so
 *     it reads one snapshot. SUM(bigint) is numeric in PostgreSQL and cannot overflow; it
 *     is clamped to INT64_MAX before the cast (a saturated total is past any limit).
 *  3. A PATCH makes sure the limits row exists (INSERT … ON CONFLICT DO NOTHING: a
 *     concurrent first PATCH's insert is waited for, then nothing is done), locks it with
 *     SELECT … FOR UPDATE, applies co_budget_apply_patch() in C and writes it back. A
 *     second PATCH waits on the row lock and, READ COMMITTED, then reads the row as the
 *     first committed it: PATCHes of different limits on any replicas all survive.
 *  4. pg_budget_exceeded() runs the budget statement inside the caller's transaction
 *     (the inbox enqueue, after its workspace row is locked FOR SHARE).
 *  5. Purging a workspace removes its rows by ON DELETE CASCADE.
 */
#include "../../core/err.h"
#include "pg_internal.h"

#include <stdio.h>
#include <string.h>

#define SUM_CLAMPED(col) "LEAST(COALESCE(SUM(" col "), 0), 9223372036854775807)::bigint"

/* Columns: 0 the workspace's id; 1..4 its limits (NULL: none); 5..8 the window's sums of
 * seconds_us, input_tokens, output_tokens, cost_micro_usd. */
static pg_sql Q_BUDGET = {
	.sql = "SELECT w.id, l.seconds_us, l.input_tokens, l.output_tokens, l.cost_micro_usd, u.* "
	       "FROM workspaces w LEFT JOIN budget_limits l ON l.workspace_id = w.id CROSS JOIN "
	       "(SELECT " SUM_CLAMPED("seconds_us") ", " SUM_CLAMPED("input_tokens") ", "
	       SUM_CLAMPED("output_tokens") ", " SUM_CLAMPED("cost_micro_usd")
	       " FROM usage_events WHERE workspace_id = $1::uuid AND at > $2::bigint) u "
	       "WHERE w.id = $1::uuid",
	.nparams = 2};
static pg_sql Q_INSERT = {.sql = "INSERT INTO usage_events (workspace_id, at, id, seconds_us, "
				 "input_tokens, output_tokens, cost_micro_usd) VALUES ($1::uuid, "
				 "$2::bigint, $3::uuid, $4::bigint, $5::bigint, $6::bigint, "
				 "$7::bigint)",
			  .nparams = 7};
static pg_sql Q_PRUNE = {.sql = "DELETE FROM usage_events WHERE workspace_id = $1::uuid AND "
				"at <= $2::bigint",
			 .nparams = 2};
static pg_sql Q_LIMITS_ENSURE = {.sql = "INSERT INTO budget_limits (workspace_id, updated_at) "
					"VALUES ($1::uuid, $2::bigint) ON CONFLICT (workspace_id) "
					"DO NOTHING",
				 .nparams = 2};
static pg_sql Q_LIMITS_LOCK = {.sql = "SELECT seconds_us, input_tokens, output_tokens, "
				      "cost_micro_usd FROM budget_limits WHERE workspace_id = "
				      "$1::uuid FOR UPDATE",
			       .nparams = 1};
static pg_sql Q_LIMITS_PUT = {.sql = "UPDATE budget_limits SET seconds_us = $2::bigint, "
				     "input_tokens = $3::bigint, output_tokens = $4::bigint, "
				     "cost_micro_usd = $5::bigint, updated_at = $6::bigint WHERE "
				     "workspace_id = $1::uuid",
			      .nparams = 6};

/* Reads limits from columns first..first+3 of row 0 of r (NULL: not set). */
static void read_limits(PGresult *r, int first, co_budget_limits *l)
{
	memset(l, 0, sizeof *l);
	for (int i = 0; i < 4; i++)
		if (pg_val(r, 0, first + i)) {
			l->set |= co_limit_bit(i);
			*co_usage_field(&l->limit, i) = pg_ival(r, 0, first + i);
		}
}

/* Fills *out with workspace ws's budget at `now` on c (note 2), in whatever transaction c
 * is in. CO_ENOTFOUND if the workspace is absent. */
static int read_budget(pg_conn *c, const co_id *ws, co_usec_t now, co_budget *out)
{
	memset(out, 0, sizeof *out);
	char since[24];
	const char *p[] = {ws->s, pg_i64(since, now - CO_BUDGET_WINDOW_US)};
	PGresult *r;
	int rc = pg_run(c, &Q_BUDGET, p, &r);
	if (rc)
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return co_err_set(CO_ENOTFOUND, "workspace %s not found", ws->s);
	}
	read_limits(r, 1, &out->limits);
	for (int i = 0; i < 4; i++)
		*co_usage_field(&out->used, i) = pg_ival(r, 0, 5 + i);
	out->exceeded = co_budget_exceeded(&out->used, &out->limits);
	PQclear(r);
	return CO_OK;
}

/* When *exceeded, this thread's error message (co_err_msg) names the limit reached and
 * its figures, for the caller's refusal; the return code is still CO_OK. */
int pg_budget_exceeded(pg_conn *c, const co_id *ws, co_usec_t now, bool *exceeded)
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

/* Note 1: the workspace row FOR SHARE, the event at now, then the workspace's pruning. */
static int tx_usage_add(pg_conn *c, void *arg)
{
	struct add_args *a = arg;
	int rc = pg_check_ws_writable(c, a->ws, a->conflict);
	if (rc)
		return rc;
	co_usec_t now = co_clock_now_us();
	co_id id;
	if ((rc = co_id_new(&id)))
		return rc;
	char at[24], cutoff[24], v[4][24];
	const char *p[7] = {a->ws->s, pg_i64(at, now), id.s};
	for (int i = 0; i < 4; i++)
		p[3 + i] = pg_i64(v[i], co_usage_get(a->u, i));
	if ((rc = pg_run0(c, &Q_INSERT, p)))
		return rc;
	const char *q[] = {a->ws->s, pg_i64(cutoff, now - CO_BUDGET_WINDOW_US)};
	return pg_run0(c, &Q_PRUNE, q);
}

int pg_usage_add(co_store *s, const co_id *ws, const co_usage *u, co_conflict *conflict)
{
	/* The parser validated u (integers cannot be NaN); a negative amount is still
	 * refused here, before any SQL (budget.h note 3). */
	for (int i = 0; i < 4; i++)
		if (co_usage_get(u, i) < 0)
			return co_err_set(CO_EINVAL, "usage amounts must be >= 0");
	struct add_args a = {ws, u, conflict};
	return pg_in_tx((pg_store *)s, tx_usage_add, &a);
}

/* One autocommit statement (note 2); a removed workspace's budget too. */
int pg_budget_get(co_store *base, const co_id *ws, co_budget *out)
{
	pg_store *s = (pg_store *)base;
	pg_conn *c = pg_conn_get(s);
	int rc = read_budget(c, ws, co_clock_now_us(), out);
	pg_conn_put(s, c);
	return pg_no_retry(rc);
}

struct patch_args {
	const co_id *ws;
	const co_budget_patch *p;
	co_budget *out;
	co_conflict *conflict;
};

/* Note 3: ensure the row, lock it, apply, write back; then the budget as it now is. */
static int tx_budget_patch(pg_conn *c, void *arg)
{
	struct patch_args *a = arg;
	int rc = pg_check_ws_writable(c, a->ws, a->conflict);
	if (rc)
		return rc;
	co_usec_t now = co_clock_now_us();
	char nows[24];
	const char *pe[] = {a->ws->s, pg_i64(nows, now)};
	if ((rc = pg_run0(c, &Q_LIMITS_ENSURE, pe)))
		return rc;
	PGresult *r;
	const char *pl[] = {a->ws->s};
	if ((rc = pg_run(c, &Q_LIMITS_LOCK, pl, &r)))
		return rc;
	co_budget_limits l = {0};
	if (PQntuples(r) > 0)
		read_limits(r, 0, &l);
	PQclear(r);
	co_budget_apply_patch(&l, a->p);
	char v[4][24];
	const char *pu[6] = {a->ws->s};
	for (int i = 0; i < 4; i++)
		pu[1 + i] = (l.set & co_limit_bit(i)) ? pg_i64(v[i], co_usage_get(&l.limit, i)) : NULL;
	pu[5] = nows;
	if ((rc = pg_run0(c, &Q_LIMITS_PUT, pu)))
		return rc;
	return read_budget(c, a->ws, now, a->out);
}

int pg_budget_patch(co_store *s, const co_id *ws, const co_budget_patch *p, co_budget *out,
		    co_conflict *conflict)
{
	struct patch_args a = {ws, p, out, conflict};
	return pg_in_tx((pg_store *)s, tx_budget_patch, &a);
}
