/*
 * sqlite_inbox.c — the inbox on the SQLite backend (store.h, SPEC §6, core/inbox.h).
 *
 * DESIGN NOTES
 *  1. A claim is one write: dead-letter the workspace's messages whose last lease ended,
 *     then one UPDATE … WHERE id IN (the first claimable ones) RETURNING the claimed rows,
 *     under the database write lock. Two claimers (threads or processes) therefore never
 *     get the same message: the second one's UPDATE sees the first one's lease.
 *  2. An idempotent enqueue looks the key up and inserts under the same write lock; the
 *     unique (workspace_id, idempotency_key) index backs it. A key already used answers
 *     its first message whatever the budget; otherwise an exceeded budget (budget.h
 *     note 4, read in the same transaction) refuses the new message: CO_CONFLICT_BUDGET.
 *  3. An ack reads the message and updates it in one write, and in the same transaction
 *     reports a schedule's run outcome (sqlite_sched.c).
 */
#include "../../core/err.h"
#include "sqlite_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG_COLS                                                                             \
	"id, workspace_id, body, priority, idempotency_key, source, schedule_id, run_id, "   \
	"status, attempts, max_attempts, lease_expires_at, result, created_at, updated_at, " \
	"acked_at"

static sq_sql Q_INSERT = {.sql = "INSERT INTO inbox (id, workspace_id, body, priority, idempotency_key, "
			  "source, schedule_id, run_id, status, attempts, max_attempts, created_at, "
			  "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued', 0, ?9, ?10, ?10)"};
static sq_sql Q_BY_KEY = {.sql = "SELECT " MSG_COLS " FROM inbox WHERE workspace_id = ?1 AND "
			  "idempotency_key = ?2"};
static sq_sql Q_SELECT = {.sql = "SELECT " MSG_COLS " FROM inbox WHERE id = ?1 AND workspace_id = ?2"};
static sq_sql Q_LIST = {.sql = "SELECT " MSG_COLS " FROM inbox WHERE workspace_id = ?1 AND "
			"(?2 IS NULL OR status = ?2) AND id > ?3 ORDER BY id LIMIT ?4"};
static sq_sql Q_DEAD_LETTER = {.sql = "UPDATE inbox SET status = 'dead', updated_at = ?2 WHERE "
			       "workspace_id = ?1 AND status = 'claimed' AND lease_expires_at <= ?2 "
			       "AND attempts >= max_attempts RETURNING schedule_id, run_id, attempts"};
/* `status IN (…)` repeats the inbox_open index's condition so SQLite walks that index in
 * claim order and stops at LIMIT (no scan of the workspace, no sort). */
static sq_sql Q_CLAIM = {.sql = "UPDATE inbox SET status = 'claimed', attempts = attempts + 1, "
			 "lease_expires_at = ?3, updated_at = ?2 WHERE id IN (SELECT id FROM inbox "
			 "WHERE workspace_id = ?1 AND status IN ('queued', 'claimed') AND "
			 "(status = 'queued' OR lease_expires_at <= ?2) ORDER BY priority DESC, id "
			 "LIMIT ?4) "
			 "RETURNING " MSG_COLS};
static sq_sql Q_ACK = {.sql = "UPDATE inbox SET status = ?3, result = ?4, acked_at = ?5, updated_at = ?5, "
		       "lease_expires_at = NULL WHERE id = ?1 AND workspace_id = ?2"};

static int read_msg(sqlite3_stmt *st, void *item)
{
	co_inbox_msg *m = item;
	memset(m, 0, sizeof *m);
	sq_col_id(st, 0, &m->id);
	sq_col_id(st, 1, &m->workspace_id);
	m->body_json = sq_col_strdup(st, 2);
	m->priority = sqlite3_column_int64(st, 3);
	m->idempotency_key = sq_col_strdup(st, 4);
	co_inbox_source_parse((const char *)sqlite3_column_text(st, 5), &m->source);
	if ((m->has_schedule = sqlite3_column_type(st, 6) != SQLITE_NULL)) {
		sq_col_id(st, 6, &m->schedule_id);
		sq_col_id(st, 7, &m->run_id);
	}
	co_inbox_status_parse((const char *)sqlite3_column_text(st, 8), &m->status);
	m->attempts = sqlite3_column_int64(st, 9);
	m->max_attempts = sqlite3_column_int64(st, 10);
	m->lease_expires_at = sqlite3_column_int64(st, 11);
	m->result_json = sq_col_strdup(st, 12);
	m->created_at = sqlite3_column_int64(st, 13);
	m->updated_at = sqlite3_column_int64(st, 14);
	m->acked_at = sqlite3_column_int64(st, 15);
	if (!m->body_json) {
		co_inbox_msg_clear(m);
		return co_err_set(CO_ENOMEM, "out of memory reading a message");
	}
	return CO_OK;
}

static int collect(sq_conn *c, sqlite3_stmt *st, co_inbox_list *out, const char *what)
{
	return sq_collect(c, st, (void **)&out->items, &out->n, sizeof *out->items, read_msg, what);
}

/* One message by a query with (?1, ?2) bound to a, b. CO_ENOTFOUND if none. */
static int select_one(sq_conn *c, sq_sql *q, const char *a, const char *b, co_inbox_msg *out)
{
	sqlite3_stmt *st = sq_prep(c, q);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, a);
	sq_bind_text(st, 2, b);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = read_msg(st, out);
	else if (rc == SQLITE_DONE)
		rc = co_err_set(CO_ENOTFOUND, "message not found");
	else
		rc = sq_fail(c, rc, "reading a message");
	sq_done(st);
	return rc;
}

int sq_inbox_insert(sq_conn *c, const co_inbox_msg *m)
{
	sqlite3_stmt *st = sq_prep(c, &Q_INSERT);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, m->id.s);
	sq_bind_text(st, 2, m->workspace_id.s);
	sq_bind_text(st, 3, m->body_json);
	sqlite3_bind_int64(st, 4, m->priority);
	sq_bind_text(st, 5, m->idempotency_key);
	sq_bind_text(st, 6, co_inbox_source_name(m->source));
	sq_bind_text(st, 7, m->has_schedule ? m->schedule_id.s : NULL);
	sq_bind_text(st, 8, m->has_schedule ? m->run_id.s : NULL);
	sqlite3_bind_int64(st, 9, m->max_attempts);
	sqlite3_bind_int64(st, 10, m->created_at);
	int rc = sqlite3_step(st);
	sq_done(st);
	return rc == SQLITE_DONE ? CO_OK : sq_fail(c, rc, "enqueueing a message");
}

struct enqueue_args {
	const co_id *ws;
	const co_inbox_msg *in;
	co_inbox_msg *out;
	bool *created;
	co_conflict *conflict;
};

static int op_enqueue(sq_conn *c, void *arg)
{
	struct enqueue_args *a = arg;
	int rc = sq_check_ws_writable(c, a->ws, a->conflict);
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
	if ((rc = sq_budget_exceeded(c, a->ws, now, &exceeded)))
		return rc;
	if (exceeded) {
		a->conflict->kind = CO_CONFLICT_BUDGET;
		return co_err_set(CO_ECONFLICT, "%s", co_err_msg()); /* names the limit */
	}
	co_inbox_msg m = *a->in;
	m.workspace_id = *a->ws;
	m.created_at = now;
	if ((rc = co_id_new(&m.id)) || (rc = sq_inbox_insert(c, &m)))
		return rc;
	*a->created = true;
	return select_one(c, &Q_SELECT, m.id.s, a->ws->s, a->out);
}

int sq_inbox_enqueue(co_store *s, const co_id *ws, const co_inbox_msg *in, co_inbox_msg *out,
		     bool *created, co_conflict *conflict)
{
	struct enqueue_args a = {ws, in, out, created, conflict};
	return sq_write((sq_store *)s, op_enqueue, &a);
}

int sq_inbox_get(co_store *base, const co_id *ws, const co_id *mid, co_inbox_msg *out)
{
	sq_store *s = (sq_store *)base;
	sq_conn *c = sq_reader_get(s);
	int rc = select_one(c, &Q_SELECT, mid->s, ws->s, out);
	sq_reader_put(s, c);
	return rc;
}

int sq_inbox_list(co_store *base, const co_id *ws, const co_inbox_filter *f, co_inbox_list *out)
{
	sq_store *s = (sq_store *)base;
	sq_conn *c = sq_reader_get(s);
	co_ws_status status;
	int rc = sq_ws_status(c, ws->s, &status);
	sqlite3_stmt *st = rc ? NULL : sq_prep(c, &Q_LIST);
	if (!rc && !st)
		rc = CO_EINTERNAL;
	if (st) {
		sq_bind_text(st, 1, ws->s);
		sq_bind_text(st, 2, f->has_status ? co_inbox_status_name(f->status) : NULL);
		sq_bind_text(st, 3, f->has_after ? f->after.s : "");
		sqlite3_bind_int(st, 4, f->limit);
		rc = collect(c, st, out, "listing messages");
		sq_done(st);
	}
	sq_reader_put(s, c);
	return rc;
}

struct claim_args {
	const co_id *ws;
	const co_inbox_claim *claim;
	co_inbox_list *out;
	co_conflict *conflict;
};

static int op_claim(sq_conn *c, void *arg)
{
	struct claim_args *a = arg;
	int rc = sq_check_ws_writable(c, a->ws, a->conflict);
	if (rc)
		return rc;
	co_usec_t now = co_clock_now_us();
	sqlite3_stmt *st = sq_prep(c, &Q_DEAD_LETTER);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, a->ws->s);
	sqlite3_bind_int64(st, 2, now);
	/* A schedule's dead message is its run's outcome: failed (collected first, reported
	 * after the statement is done). */
	struct dead {
		co_id schedule_id, run_id;
		int64_t attempts;
	} *dead = NULL;
	size_t ndead = 0, cap = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) == SQLITE_NULL)
			continue;
		if (ndead == cap) {
			struct dead *grown = realloc(dead, (cap = cap ? cap * 2 : 4) * sizeof *dead);
			if (!grown) {
				rc = SQLITE_NOMEM;
				break;
			}
			dead = grown;
		}
		sq_col_id(st, 0, &dead[ndead].schedule_id);
		sq_col_id(st, 1, &dead[ndead].run_id);
		dead[ndead++].attempts = sqlite3_column_int64(st, 2);
	}
	sq_done(st);
	rc = rc == SQLITE_DONE ? CO_OK : sq_fail(c, rc, "dead-lettering messages");
	for (size_t i = 0; rc == CO_OK && i < ndead; i++) {
		char why[64];
		snprintf(why, sizeof why, "dead-lettered after %lld attempts", (long long)dead[i].attempts);
		rc = sq_sched_report(c, &dead[i].schedule_id, &dead[i].run_id, false, false, why, now);
	}
	free(dead);
	if (rc)
		return rc;
	if (!(st = sq_prep(c, &Q_CLAIM)))
		return CO_EINTERNAL;
	sq_bind_text(st, 1, a->ws->s);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, now + a->claim->lease_seconds * 1000000);
	sqlite3_bind_int(st, 4, a->claim->max);
	co_inbox_list_clear(a->out);
	rc = collect(c, st, a->out, "claiming messages");
	sq_done(st);
	if (rc == CO_OK)
		co_inbox_sort_claim_order(a->out); /* RETURNING has no order */
	return rc;
}

int sq_inbox_claim(co_store *s, const co_id *ws, const co_inbox_claim *c, co_inbox_list *out,
		   co_conflict *conflict)
{
	struct claim_args a = {ws, c, out, conflict};
	int rc = sq_write((sq_store *)s, op_claim, &a);
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

static int op_ack(sq_conn *c, void *arg)
{
	struct ack_args *a = arg;
	co_inbox_msg m;
	int rc = select_one(c, &Q_SELECT, a->mid->s, a->ws->s, &m);
	if (rc)
		return rc;
	co_inbox_status to = a->ack->completed ? CO_INBOX_COMPLETED : CO_INBOX_FAILED;
	if ((rc = co_inbox_ack_decide(&m, a->ack, a->conflict)) == 1) {
		*a->out = m; /* the same ack again: answer it, change nothing */
		return CO_OK;
	}
	if (rc) {
		co_inbox_msg_clear(&m);
		return rc;
	}
	co_usec_t now = co_clock_now_us();
	sqlite3_stmt *st = sq_prep(c, &Q_ACK);
	if (!st) {
		co_inbox_msg_clear(&m);
		return CO_EINTERNAL;
	}
	sq_bind_text(st, 1, a->mid->s);
	sq_bind_text(st, 2, a->ws->s);
	sq_bind_text(st, 3, co_inbox_status_name(to));
	sq_bind_text(st, 4, a->ack->result_json);
	sqlite3_bind_int64(st, 5, now);
	rc = sqlite3_step(st);
	sq_done(st);
	rc = rc == SQLITE_DONE ? CO_OK : sq_fail(c, rc, "acking a message");
	if (rc == CO_OK && m.has_schedule)
		rc = sq_sched_report(c, &m.schedule_id, &m.run_id, a->ack->completed,
				     co_inbox_result_empty(a->ack->result_json),
				     a->ack->error_text, now);
	co_inbox_msg_clear(&m);
	return rc ? rc : select_one(c, &Q_SELECT, a->mid->s, a->ws->s, a->out);
}

int sq_inbox_ack(co_store *s, const co_id *ws, const co_id *mid, const co_inbox_ack *ack,
		 co_inbox_msg *out, co_conflict *conflict)
{
	struct ack_args a = {ws, mid, ack, out, conflict};
	return sq_write((sq_store *)s, op_ack, &a);
}
