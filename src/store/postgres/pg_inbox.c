/*
 * pg_inbox.c — the inbox on the PostgreSQL backend (store.h, SPEC §6, core/inbox.h).
 *
 * DESIGN NOTES
 *  1. A claim is one transaction: dead-letter the workspace's messages whose last lease
 *     ended, then UPDATE the first claimable rows picked by a sub-select FOR UPDATE SKIP
 *     LOCKED. A row another claimer holds is skipped, not waited for; a row it claimed
 *     and committed meanwhile is re-checked by PostgreSQL against the WHERE (its lease is
 *     now live) and left out. So no message goes to two claimers, on any replica.
 *  2. An idempotent enqueue is INSERT … ON CONFLICT (workspace_id, idempotency_key) DO
 *     NOTHING and, if nothing was inserted, a look-up of the first message, in one
 *     transaction. A key already used answers its first message whatever the budget, so
 *     it is looked up first; otherwise an exceeded budget (budget.h note 4, read in the
 *     same transaction, after the workspace row is locked FOR SHARE) refuses the new
 *     message with CO_CONFLICT_BUDGET. If a concurrent enqueue of the same key commits
 *     between the look-up and the insert, the insert does nothing and the look-up after
 *     it answers that message.
 *  3. An ack locks the message FOR UPDATE, decides in C (core/inbox.h note 3) and updates
 *     it, reporting a schedule's run outcome in the same transaction.
 */
#include "../../core/err.h"
#include "pg_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG_COLS                                                                             \
	"id, workspace_id, body, priority, idempotency_key, source, schedule_id, run_id, "   \
	"status, attempts, max_attempts, lease_expires_at, result, created_at, updated_at, " \
	"acked_at"
#define MSG_COLS_M                                                                           \
	"m.id, m.workspace_id, m.body, m.priority, m.idempotency_key, m.source, "            \
	"m.schedule_id, m.run_id, m.status, m.attempts, m.max_attempts, m.lease_expires_at, " \
	"m.result, m.created_at, m.updated_at, m.acked_at"

static pg_sql Q_INSERT = {
	.sql = "INSERT INTO inbox (id, workspace_id, body, priority, idempotency_key, source, "
	       "schedule_id, run_id, status, attempts, max_attempts, created_at, updated_at) "
	       "VALUES ($1::uuid, $2::uuid, $3, $4::bigint, $5, $6, $7::uuid, $8::uuid, 'queued', 0, "
	       "$9::bigint, $10::bigint, $10::bigint) ON CONFLICT (workspace_id, idempotency_key) "
	       "WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING " MSG_COLS,
	.nparams = 10};
static pg_sql Q_BY_KEY = {.sql = "SELECT " MSG_COLS " FROM inbox WHERE workspace_id = $1::uuid AND "
				 "idempotency_key = $2",
			  .nparams = 2};
static pg_sql Q_SELECT = {.sql = "SELECT " MSG_COLS " FROM inbox WHERE id = $1::uuid AND "
				 "workspace_id = $2::uuid",
			  .nparams = 2};
static pg_sql Q_SELECT_FOR_UPDATE = {.sql = "SELECT " MSG_COLS " FROM inbox WHERE id = $1::uuid AND "
					    "workspace_id = $2::uuid FOR UPDATE",
				     .nparams = 2};
static pg_sql Q_WS_EXISTS = {.sql = "SELECT 1 FROM workspaces WHERE id = $1::uuid", .nparams = 1};
static pg_sql Q_LIST = {.sql = "SELECT " MSG_COLS " FROM inbox WHERE workspace_id = $1::uuid AND "
			       "($2::text IS NULL OR status = $2) AND ($3::uuid IS NULL OR id > $3::uuid) "
			       "ORDER BY id LIMIT $4::int",
			.nparams = 4};
static pg_sql Q_DEAD_LETTER = {.sql = "UPDATE inbox SET status = 'dead', updated_at = $2::bigint "
				      "WHERE workspace_id = $1::uuid AND status = 'claimed' AND "
				      "lease_expires_at <= $2::bigint AND attempts >= max_attempts "
				      "RETURNING schedule_id, run_id, attempts",
			       .nparams = 2};
static pg_sql Q_CLAIM = {
	.sql = "UPDATE inbox m SET status = 'claimed', attempts = m.attempts + 1, "
	       "lease_expires_at = $3::bigint, updated_at = $2::bigint FROM (SELECT id FROM inbox "
	       "WHERE workspace_id = $1::uuid AND status IN ('queued', 'claimed') AND "
	       "(status = 'queued' OR lease_expires_at <= $2::bigint) ORDER BY priority DESC, id "
	       "LIMIT $4::int "
	       "FOR UPDATE SKIP LOCKED) pick WHERE m.id = pick.id RETURNING " MSG_COLS_M,
	.nparams = 4};
static pg_sql Q_ACK = {.sql = "UPDATE inbox SET status = $3, result = $4, acked_at = $5::bigint, "
			      "updated_at = $5::bigint, lease_expires_at = NULL WHERE id = $1::uuid "
			      "AND workspace_id = $2::uuid RETURNING " MSG_COLS,
		       .nparams = 5};

static int read_msg(PGresult *r, int row, void *item)
{
	co_inbox_msg *m = item;
	memset(m, 0, sizeof *m);
	pg_id(r, row, 0, &m->id);
	pg_id(r, row, 1, &m->workspace_id);
	m->body_json = pg_dup(pg_val(r, row, 2));
	m->priority = pg_ival(r, row, 3);
	m->idempotency_key = pg_dup(pg_val(r, row, 4));
	co_inbox_source_parse(pg_val(r, row, 5), &m->source);
	if ((m->has_schedule = pg_val(r, row, 6) != NULL)) {
		pg_id(r, row, 6, &m->schedule_id);
		pg_id(r, row, 7, &m->run_id);
	}
	co_inbox_status_parse(pg_val(r, row, 8), &m->status);
	m->attempts = pg_ival(r, row, 9);
	m->max_attempts = pg_ival(r, row, 10);
	m->lease_expires_at = pg_ival(r, row, 11);
	m->result_json = pg_dup(pg_val(r, row, 12));
	m->created_at = pg_ival(r, row, 13);
	m->updated_at = pg_ival(r, row, 14);
	m->acked_at = pg_ival(r, row, 15);
	if (!m->body_json) {
		co_inbox_msg_clear(m);
		return co_err_set(CO_ENOMEM, "out of memory reading a message");
	}
	return CO_OK;
}

static int collect(PGresult *r, co_inbox_list *out)
{
	co_inbox_list_clear(out);
	return pg_collect(r, (void **)&out->items, &out->n, sizeof *out->items, read_msg);
}

/* One message by q with parameters (a, b). CO_ENOTFOUND if none. */
static int select_one(pg_conn *c, pg_sql *q, const char *a, const char *b, co_inbox_msg *out)
{
	const char *p[] = {a, b};
	PGresult *r;
	int rc = pg_run(c, q, p, &r);
	if (rc)
		return rc;
	co_inbox_msg_clear(out);
	rc = PQntuples(r) ? read_msg(r, 0, out) : co_err_set(CO_ENOTFOUND, "message not found");
	PQclear(r);
	return rc;
}

/* Inserts m; *inserted false if its idempotency key was taken (nothing inserted). */
static int insert(pg_conn *c, const co_inbox_msg *m, co_inbox_msg *out, bool *inserted)
{
	char prio[24], max[24], now[24];
	const char *p[] = {m->id.s, m->workspace_id.s, m->body_json, pg_i64(prio, m->priority),
			   m->idempotency_key, co_inbox_source_name(m->source),
			   m->has_schedule ? m->schedule_id.s : NULL, m->has_schedule ? m->run_id.s : NULL,
			   pg_i64(max, m->max_attempts), pg_i64(now, m->created_at)};
	PGresult *r;
	int rc = pg_run(c, &Q_INSERT, p, &r);
	if (rc)
		return rc;
	*inserted = PQntuples(r) > 0;
	if (*inserted && out) {
		co_inbox_msg_clear(out);
		rc = read_msg(r, 0, out);
	}
	PQclear(r);
	return rc;
}

int pg_inbox_insert(pg_conn *c, const co_inbox_msg *m)
{
	bool inserted;
	return insert(c, m, NULL, &inserted);
}

struct enqueue_args {
	const co_id *ws;
	const co_inbox_msg *in;
	co_inbox_msg *out;
	bool *created;
	co_conflict *conflict;
};

static int tx_enqueue(pg_conn *c, void *arg)
{
	struct enqueue_args *a = arg;
	int rc = pg_check_ws_writable(c, a->ws, a->conflict);
	if (rc)
		return rc;
	*a->created = false;
	if (a->in->idempotency_key) {
		rc = select_one(c, &Q_BY_KEY, a->ws->s, a->in->idempotency_key, a->out);
		if (rc != CO_ENOTFOUND)
			return rc; /* CO_OK: the first message with this key */
	}
	co_usec_t now = co_clock_now_us();
	bool exceeded;
	if ((rc = pg_budget_exceeded(c, a->ws, now, &exceeded)))
		return rc;
	if (exceeded) {
		a->conflict->kind = CO_CONFLICT_BUDGET;
		return co_err_set(CO_ECONFLICT, "%s", co_err_msg()); /* names the limit */
	}
	co_inbox_msg m = *a->in;
	m.workspace_id = *a->ws;
	m.created_at = now;
	if ((rc = co_id_new(&m.id)) || (rc = insert(c, &m, a->out, a->created)))
		return rc;
	if (!*a->created) /* the key was used: the first message with it */
		rc = select_one(c, &Q_BY_KEY, a->ws->s, m.idempotency_key, a->out);
	return rc;
}

int pg_inbox_enqueue(co_store *s, const co_id *ws, const co_inbox_msg *in, co_inbox_msg *out,
		     bool *created, co_conflict *conflict)
{
	struct enqueue_args a = {ws, in, out, created, conflict};
	return pg_in_tx((pg_store *)s, tx_enqueue, &a);
}

int pg_inbox_get(co_store *base, const co_id *ws, const co_id *mid, co_inbox_msg *out)
{
	pg_store *s = (pg_store *)base;
	pg_conn *c = pg_conn_get(s);
	int rc = select_one(c, &Q_SELECT, mid->s, ws->s, out);
	pg_conn_put(s, c);
	return pg_no_retry(rc);
}

int pg_inbox_list(co_store *base, const co_id *ws, const co_inbox_filter *f, co_inbox_list *out)
{
	pg_store *s = (pg_store *)base;
	pg_conn *c = pg_conn_get(s);
	const char *w[] = {ws->s};
	PGresult *r;
	int rc = pg_run(c, &Q_WS_EXISTS, w, &r);
	if (rc == CO_OK) {
		if (PQntuples(r) == 0)
			rc = co_err_set(CO_ENOTFOUND, "workspace %s not found", ws->s);
		PQclear(r);
	}
	char lim[24];
	const char *p[] = {ws->s, f->has_status ? co_inbox_status_name(f->status) : NULL,
			   f->has_after ? f->after.s : NULL, pg_i64(lim, f->limit)};
	if (rc == CO_OK && (rc = pg_run(c, &Q_LIST, p, &r)) == CO_OK) {
		rc = collect(r, out);
		PQclear(r);
	}
	pg_conn_put(s, c);
	return pg_no_retry(rc);
}

struct claim_args {
	const co_id *ws;
	const co_inbox_claim *claim;
	co_inbox_list *out;
	co_conflict *conflict;
};

static int tx_claim(pg_conn *c, void *arg)
{
	struct claim_args *a = arg;
	int rc = pg_check_ws_writable(c, a->ws, a->conflict);
	if (rc)
		return rc;
	co_usec_t t = co_clock_now_us();
	char now[24], lease[24], max[24];
	const char *d[] = {a->ws->s, pg_i64(now, t)};
	PGresult *r;
	if ((rc = pg_run(c, &Q_DEAD_LETTER, d, &r)))
		return rc;
	/* A schedule's dead message is its run's outcome: failed. */
	for (int i = 0; rc == CO_OK && i < PQntuples(r); i++) {
		if (!pg_val(r, i, 0))
			continue;
		co_id sid, run;
		pg_id(r, i, 0, &sid);
		pg_id(r, i, 1, &run);
		char why[64];
		snprintf(why, sizeof why, "dead-lettered after %lld attempts", (long long)pg_ival(r, i, 2));
		rc = pg_sched_report(c, &sid, &run, false, false, why, t);
	}
	PQclear(r);
	if (rc)
		return rc;
	const char *p[] = {a->ws->s, now, pg_i64(lease, t + a->claim->lease_seconds * 1000000),
			   pg_i64(max, a->claim->max)};
	if ((rc = pg_run(c, &Q_CLAIM, p, &r)))
		return rc;
	rc = collect(r, a->out);
	PQclear(r);
	if (rc == CO_OK)
		co_inbox_sort_claim_order(a->out); /* RETURNING has no order */
	return rc;
}

int pg_inbox_claim(co_store *s, const co_id *ws, const co_inbox_claim *c, co_inbox_list *out,
		   co_conflict *conflict)
{
	struct claim_args a = {ws, c, out, conflict};
	int rc = pg_in_tx((pg_store *)s, tx_claim, &a);
	if (rc)
		co_inbox_list_clear(out);
	return rc;
}

struct ack_args {
	const co_id *ws, *mid;
	const co_inbox_ack *ack;
	co_inbox_msg *out;
	co_conflict *conflict;
};

static int tx_ack(pg_conn *c, void *arg)
{
	struct ack_args *a = arg;
	co_inbox_msg m = {0};
	int rc = select_one(c, &Q_SELECT_FOR_UPDATE, a->mid->s, a->ws->s, &m);
	if (rc)
		return rc;
	co_inbox_status to = a->ack->completed ? CO_INBOX_COMPLETED : CO_INBOX_FAILED;
	if ((rc = co_inbox_ack_decide(&m, a->ack, a->conflict)) == 1) {
		co_inbox_msg_clear(a->out);
		*a->out = m; /* the same ack again: answer it, change nothing */
		return CO_OK;
	}
	if (rc) {
		co_inbox_msg_clear(&m);
		return rc;
	}
	co_usec_t t = co_clock_now_us();
	char now[24];
	const char *p[] = {a->mid->s, a->ws->s, co_inbox_status_name(to), a->ack->result_json,
			   pg_i64(now, t)};
	PGresult *r;
	rc = pg_run(c, &Q_ACK, p, &r);
	if (rc == CO_OK) {
		co_inbox_msg_clear(a->out);
		rc = PQntuples(r) ? read_msg(r, 0, a->out) : co_err_set(CO_ENOTFOUND, "message not found");
		PQclear(r);
	}
	if (rc == CO_OK && m.has_schedule)
		rc = pg_sched_report(c, &m.schedule_id, &m.run_id, a->ack->completed,
				     co_inbox_result_empty(a->ack->result_json),
				     a->ack->error_text, t);
	co_inbox_msg_clear(&m);
	return rc;
}

int pg_inbox_ack(co_store *s, const co_id *ws, const co_id *mid, const co_inbox_ack *ack,
		 co_inbox_msg *out, co_conflict *conflict)
{
	struct ack_args a = {ws, mid, ack, out, conflict};
	return pg_in_tx((pg_store *)s, tx_ack, &a);
}
