/*
 * pg_sched.c — schedules and their runs on the PostgreSQL backend (store.h, SPEC §5).
 *
 * DESIGN NOTES
 *  1. Firing a cron slot is one conditional UPDATE (next_run_at, cron_expr, timezone,
 *     enabled, live workspace) in a transaction with the run row and the inbox message.
 *     Under READ COMMITTED a second replica's UPDATE of the same row waits for the first
 *     to commit, then re-checks its WHERE on the new row: next_run_at has moved on, so it
 *     matches nothing and that replica does not fire. The unique index on cron runs'
 *     (schedule_id, slot_at) backs it up.
 *  2. PATCH reads the row FOR UPDATE, applies the patch in core, and writes back only the
 *     PATCH columns and next_run_at; firing and outcomes write only the run columns (and
 *     next_run_at by compare-and-set). Neither overwrites the other from a stale read.
 *  3. A name clash (unique (workspace_id, name)) on create is ON CONFLICT DO NOTHING and a
 *     look-up in the same transaction; on PATCH it aborts the transaction, and the holder
 *     is looked up afterwards.
 */
#include "../../core/err.h"
#include "pg_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHED_COLS PG_SCHED_COLS
#define RUN_COLS                                                                             \
	"id, schedule_id, workspace_id, kind, slot_at, fired_at, message_id, status, error, " \
	"finished_at"
#define SLOT_FIRED(slot)                                                                     \
	"EXISTS (SELECT 1 FROM schedule_runs r WHERE r.schedule_id = schedules.id AND "      \
	"r.kind = 'cron' AND r.slot_at = " slot "::bigint)"
#define WS_LIVE "EXISTS (SELECT 1 FROM workspaces w WHERE w.id = schedules.workspace_id AND w.status <> 'removed')"

static pg_sql Q_INSERT = {
	.sql = "INSERT INTO schedules (id, workspace_id, name, cron_expr, timezone, prompt, "
	       "enabled, source, next_run_at, created_at, updated_at) VALUES ($1::uuid, $2::uuid, "
	       "$3, $4, $5, $6, $7::smallint, $8, $9::bigint, $10::bigint, $10::bigint) "
	       "ON CONFLICT (workspace_id, name) DO NOTHING RETURNING " SCHED_COLS,
	.nparams = 10};
static pg_sql Q_FIND_NAME = {.sql = "SELECT id FROM schedules WHERE workspace_id = $1::uuid AND name = $2",
			     .nparams = 2};
static pg_sql Q_SELECT = {.sql = "SELECT " SCHED_COLS " FROM schedules WHERE id = $1::uuid AND "
				 "workspace_id = $2::uuid",
			  .nparams = 2};
static pg_sql Q_SELECT_FOR_UPDATE = {.sql = "SELECT " SCHED_COLS " FROM schedules WHERE id = $1::uuid "
					    "AND workspace_id = $2::uuid FOR UPDATE",
				     .nparams = 2};
static pg_sql Q_LIST = {.sql = "SELECT " SCHED_COLS " FROM schedules WHERE workspace_id = $1::uuid "
			       "AND ($2::uuid IS NULL OR id > $2::uuid) ORDER BY id LIMIT $3::int",
			.nparams = 3};
static pg_sql Q_WS_EXISTS = {.sql = "SELECT 1 FROM workspaces WHERE id = $1::uuid", .nparams = 1};
static pg_sql Q_UPDATE = {.sql = "UPDATE schedules SET name = $3, cron_expr = $4, timezone = $5, "
				 "prompt = $6, enabled = $7::smallint, next_run_at = $8::bigint, "
				 "updated_at = $9::bigint WHERE id = $1::uuid AND workspace_id = "
				 "$2::uuid RETURNING " SCHED_COLS,
			  .nparams = 9};
static pg_sql Q_DELETE = {.sql = "DELETE FROM schedules WHERE id = $1::uuid AND workspace_id = $2::uuid "
				 "RETURNING id",
			  .nparams = 2};
static pg_sql Q_EXISTS = {.sql = "SELECT 1 FROM schedules WHERE id = $1::uuid AND workspace_id = $2::uuid",
			  .nparams = 2};
static pg_sql Q_HISTORY = {.sql = "SELECT " RUN_COLS " FROM schedule_runs WHERE schedule_id = $1::uuid "
				  "AND ($2::uuid IS NULL OR id < $2::uuid) ORDER BY id DESC LIMIT $3::int",
			   .nparams = 3};
static pg_sql Q_DUE = {.sql = "SELECT " SCHED_COLS " FROM schedules WHERE enabled = 1 AND "
			      "next_run_at IS NOT NULL AND next_run_at <= $1::bigint AND " WS_LIVE
			      " ORDER BY next_run_at LIMIT $2::int",
		       .nparams = 2};
static pg_sql Q_CLAIM_CRON = {
	.sql = "UPDATE schedules SET next_run_at = $2::bigint, last_run_at = $3::bigint, "
	       "run_count = run_count + 1, last_status = 'fired', last_error = NULL, "
	       "last_run_id = $4::uuid WHERE id = $1::uuid AND enabled = 1 AND "
	       "next_run_at = $5::bigint AND cron_expr = $6 AND timezone = $7 AND " WS_LIVE
	       " AND NOT " SLOT_FIRED("$5") " RETURNING workspace_id, name, prompt",
	.nparams = 7};
/* The slot fired already (next_run_at was set back to it, e.g. by a PATCH on a clock
 * behind the fire's): move past it without firing, so the schedule is not wedged. */
static pg_sql Q_SKIP_FIRED = {.sql = "UPDATE schedules SET next_run_at = $2::bigint WHERE id = $1::uuid "
				     "AND enabled = 1 AND next_run_at = $3::bigint AND cron_expr = $4 "
				     "AND timezone = $5 AND " SLOT_FIRED("$3"),
			      .nparams = 5};
static pg_sql Q_CLAIM_MANUAL = {
	.sql = "UPDATE schedules SET last_run_at = $3::bigint, run_count = run_count + 1, "
	       "last_status = 'fired', last_error = NULL, last_run_id = $4::uuid "
	       "WHERE id = $1::uuid AND workspace_id = $2::uuid RETURNING workspace_id, name, prompt",
	.nparams = 4};
static pg_sql Q_RUN_INSERT = {
	.sql = "INSERT INTO schedule_runs (id, schedule_id, workspace_id, kind, slot_at, fired_at, "
	       "message_id, status) VALUES ($1::uuid, $2::uuid, $3::uuid, $4, $5::bigint, "
	       "$6::bigint, $7::uuid, 'fired')",
	.nparams = 7};
static pg_sql Q_WS_URL = {.sql = "SELECT url FROM workspaces WHERE id = $1::uuid", .nparams = 1};
static pg_sql Q_MARK_RUN = {.sql = "UPDATE schedule_runs SET status = $2, error = $3 WHERE "
				   "id = $1::uuid AND status = 'fired' RETURNING schedule_id",
			    .nparams = 3};
static pg_sql Q_MARK_SCHED = {.sql = "UPDATE schedules SET last_status = $2, last_error = $3 WHERE "
				     "id = $1::uuid AND last_run_id = $4::uuid AND last_status = 'fired'",
			      .nparams = 4};
/* $2 completed, $3 empty (0/1); the right-hand sides read the row before the update. */
static pg_sql Q_REPORT_SCHED = {
	.sql = "UPDATE schedules SET "
	       "consecutive_empty_runs = CASE WHEN $2::int = 0 THEN consecutive_empty_runs "
	       "WHEN $3::int = 1 THEN consecutive_empty_runs + 1 ELSE 0 END, "
	       "last_status = CASE WHEN $2::int = 0 THEN 'failed' WHEN $3::int = 0 THEN 'ok' "
	       "WHEN consecutive_empty_runs + 1 >= $5::bigint THEN 'stale' ELSE 'empty' END, "
	       "last_error = CASE WHEN $2::int = 0 THEN $4::text ELSE NULL END WHERE id = $1::uuid",
	.nparams = 5};
static pg_sql Q_REPORT_RUN = {.sql = "UPDATE schedule_runs SET status = $2, error = $3, "
				     "finished_at = $4::bigint WHERE id = $1::uuid",
			      .nparams = 4};

int pg_sched_read(PGresult *r, int row, void *item)
{
	co_schedule *s = item;
	memset(s, 0, sizeof *s);
	pg_id(r, row, 0, &s->id);
	pg_id(r, row, 1, &s->workspace_id);
	s->name = pg_dup(pg_val(r, row, 2));
	s->cron_expr = pg_dup(pg_val(r, row, 3));
	s->timezone = pg_dup(pg_val(r, row, 4));
	s->prompt = pg_dup(pg_val(r, row, 5));
	s->enabled = pg_ival(r, row, 6) != 0;
	co_sched_source_parse(pg_val(r, row, 7), &s->source);
	s->next_run_at = pg_ival(r, row, 8);
	s->last_run_at = pg_ival(r, row, 9);
	s->run_count = pg_ival(r, row, 10);
	s->last_status = pg_dup(pg_val(r, row, 11));
	s->last_error = pg_dup(pg_val(r, row, 12));
	s->consecutive_empty_runs = pg_ival(r, row, 13);
	if ((s->has_last_run = pg_val(r, row, 14) != NULL))
		pg_id(r, row, 14, &s->last_run_id);
	s->created_at = pg_ival(r, row, 15);
	s->updated_at = pg_ival(r, row, 16);
	if (!s->name || !s->cron_expr || !s->timezone || !s->prompt) {
		co_schedule_clear(s);
		return co_err_set(CO_ENOMEM, "out of memory reading a schedule");
	}
	return CO_OK;
}

static int read_run(PGresult *r, int row, void *item)
{
	co_sched_run *run = item;
	memset(run, 0, sizeof *run);
	pg_id(r, row, 0, &run->id);
	pg_id(r, row, 1, &run->schedule_id);
	pg_id(r, row, 2, &run->workspace_id);
	run->manual = !strcmp(pg_val(r, row, 3), "manual");
	run->slot_at = pg_ival(r, row, 4);
	run->fired_at = pg_ival(r, row, 5);
	pg_id(r, row, 6, &run->message_id);
	run->status = pg_dup(pg_val(r, row, 7));
	run->error = pg_dup(pg_val(r, row, 8));
	run->finished_at = pg_ival(r, row, 9);
	if (!run->status) {
		co_sched_run_clear(run);
		return co_err_set(CO_ENOMEM, "out of memory reading a run");
	}
	return CO_OK;
}

static int collect_scheds(PGresult *r, co_sched_list *out)
{
	return pg_collect(r, (void **)&out->items, &out->n, sizeof *out->items, pg_sched_read);
}

static int not_found(const co_id *ws, const co_id *sid)
{
	return co_err_set(CO_ENOTFOUND, "schedule %s not found in workspace %s", sid->s, ws->s);
}

/* The schedule sid of ws by q (Q_SELECT or Q_SELECT_FOR_UPDATE). */
static int select_sched(pg_conn *c, pg_sql *q, const co_id *ws, const co_id *sid, co_schedule *out)
{
	const char *p[] = {sid->s, ws->s};
	PGresult *r;
	int rc = pg_run(c, q, p, &r);
	if (rc)
		return rc;
	rc = PQntuples(r) ? pg_sched_read(r, 0, out) : not_found(ws, sid);
	PQclear(r);
	return rc;
}

static int name_taken(pg_conn *c, const co_id *ws, const char *name, co_conflict *conflict)
{
	const char *p[] = {ws->s, name};
	PGresult *r;
	int rc = pg_run(c, &Q_FIND_NAME, p, &r);
	if (rc)
		return rc;
	if (PQntuples(r))
		pg_id(r, 0, 0, &conflict->existing_id);
	PQclear(r);
	conflict->kind = CO_CONFLICT_NAME_TAKEN;
	return co_err_set(CO_EEXISTS, "a schedule named '%s' already exists in this workspace", name);
}

/* ---- create ------------------------------------------------------------------------ */

struct create_args {
	const co_schedule *in;
	co_schedule *out;
	co_conflict *conflict;
};

static int tx_create(pg_conn *c, void *arg)
{
	struct create_args *a = arg;
	const co_schedule *in = a->in;
	int rc = pg_check_ws_writable(c, &in->workspace_id, a->conflict);
	if (rc)
		return rc;
	co_id id;
	if ((rc = co_id_new(&id)))
		return rc;
	char next[24], now[24];
	const char *p[] = {id.s, in->workspace_id.s, in->name, in->cron_expr, in->timezone, in->prompt,
			   in->enabled ? "1" : "0", co_sched_source_name(in->source),
			   in->next_run_at ? pg_i64(next, in->next_run_at) : NULL,
			   pg_i64(now, co_clock_now_us())};
	PGresult *r;
	if ((rc = pg_run(c, &Q_INSERT, p, &r)))
		return rc;
	co_schedule_clear(a->out); /* a retried transaction may have filled it */
	if (PQntuples(r) == 0)
		rc = name_taken(c, &in->workspace_id, in->name, a->conflict);
	else
		rc = pg_sched_read(r, 0, a->out);
	PQclear(r);
	return rc;
}

int pg_sched_create(co_store *s, const co_schedule *in, co_schedule *out, co_conflict *conflict)
{
	struct create_args a = {in, out, conflict};
	return pg_in_tx((pg_store *)s, tx_create, &a);
}

/* ---- reads ------------------------------------------------------------------------- */

int pg_sched_get(co_store *base, const co_id *ws, const co_id *sid, co_schedule *out)
{
	pg_store *s = (pg_store *)base;
	pg_conn *c = pg_conn_get(s);
	int rc = select_sched(c, &Q_SELECT, ws, sid, out);
	pg_conn_put(s, c);
	return pg_no_retry(rc);
}

/* CO_OK if workspace ws exists (lists of an absent workspace are 404, not empty). */
static int ws_exists(pg_conn *c, const co_id *ws)
{
	const char *p[] = {ws->s};
	PGresult *r;
	int rc = pg_run(c, &Q_WS_EXISTS, p, &r);
	if (rc == CO_OK && PQntuples(r) == 0)
		rc = co_err_set(CO_ENOTFOUND, "workspace %s not found", ws->s);
	PQclear(r);
	return rc;
}

int pg_sched_list(co_store *base, const co_id *ws, const co_page *pg, co_sched_list *out)
{
	pg_store *s = (pg_store *)base;
	pg_conn *c = pg_conn_get(s);
	char lim[24];
	const char *p[] = {ws->s, pg->has_after ? pg->after.s : NULL, pg_i64(lim, pg->limit)};
	PGresult *r = NULL;
	int rc = ws_exists(c, ws);
	if (rc == CO_OK && (rc = pg_run(c, &Q_LIST, p, &r)) == CO_OK)
		rc = collect_scheds(r, out);
	PQclear(r);
	pg_conn_put(s, c);
	return pg_no_retry(rc);
}

int pg_sched_history(co_store *base, const co_id *ws, const co_id *sid, const co_page *pg,
		     co_sched_run_list *out)
{
	pg_store *s = (pg_store *)base;
	pg_conn *c = pg_conn_get(s);
	const char *q[] = {sid->s, ws->s};
	PGresult *r = NULL;
	int rc = pg_run(c, &Q_EXISTS, q, &r);
	if (rc == CO_OK && PQntuples(r) == 0)
		rc = not_found(ws, sid);
	PQclear(r);
	r = NULL;
	char lim[24];
	const char *p[] = {sid->s, pg->has_after ? pg->after.s : NULL, pg_i64(lim, pg->limit)};
	if (rc == CO_OK && (rc = pg_run(c, &Q_HISTORY, p, &r)) == CO_OK) {
		rc = pg_collect(r, (void **)&out->items, &out->n, sizeof *out->items, read_run);
	}
	PQclear(r);
	pg_conn_put(s, c);
	return pg_no_retry(rc);
}

int pg_sched_due(co_store *base, co_usec_t now, int limit, co_sched_list *out)
{
	pg_store *s = (pg_store *)base;
	pg_conn *c = pg_conn_get(s);
	char t[24], lim[24];
	const char *p[] = {pg_i64(t, now), pg_i64(lim, limit)};
	PGresult *r;
	int rc = pg_run(c, &Q_DUE, p, &r);
	if (rc == CO_OK) {
		rc = collect_scheds(r, out);
		PQclear(r);
	}
	pg_conn_put(s, c);
	return pg_no_retry(rc);
}

/* ---- patch, delete ----------------------------------------------------------------- */

struct patch_args {
	const co_id *ws, *sid;
	const co_sched_patch *p;
	co_schedule *out;
	co_conflict *conflict;
	char *clash_name; /* the UPDATE hit the unique index: name the holder after rollback */
};

static int tx_patch(pg_conn *c, void *arg)
{
	struct patch_args *a = arg;
	int rc = pg_check_ws_writable(c, a->ws, a->conflict);
	if (rc)
		return rc;
	co_schedule cur;
	if ((rc = select_sched(c, &Q_SELECT_FOR_UPDATE, a->ws, a->sid, &cur)))
		return rc;
	co_usec_t t = co_clock_now_us();
	if ((rc = co_sched_apply_patch(&cur, a->p, t)) == CO_OK) {
		char next[24], now[24];
		const char *p[] = {a->sid->s, a->ws->s, cur.name, cur.cron_expr, cur.timezone, cur.prompt,
				   cur.enabled ? "1" : "0",
				   cur.next_run_at ? pg_i64(next, cur.next_run_at) : NULL, pg_i64(now, t)};
		PGresult *r;
		rc = pg_run(c, &Q_UPDATE, p, &r);
		if (rc == CO_OK) {
			co_schedule_clear(a->out);
			rc = PQntuples(r) ? pg_sched_read(r, 0, a->out) : not_found(a->ws, a->sid);
			PQclear(r);
		} else if (rc == CO_EEXISTS) {
			free(a->clash_name);
			a->clash_name = cur.name;
			cur.name = NULL;
		}
	}
	co_schedule_clear(&cur);
	return rc;
}

int pg_sched_patch(co_store *base, const co_id *ws, const co_id *sid, const co_sched_patch *p,
		   co_schedule *out, co_conflict *conflict)
{
	pg_store *s = (pg_store *)base;
	struct patch_args a = {ws, sid, p, out, conflict, NULL};
	int rc = pg_in_tx(s, tx_patch, &a);
	if (rc == CO_EEXISTS && a.clash_name) {
		pg_conn *c = pg_conn_get(s);
		rc = pg_no_retry(name_taken(c, ws, a.clash_name, conflict));
		pg_conn_put(s, c);
	}
	free(a.clash_name);
	return rc;
}

struct delete_args {
	const co_id *ws, *sid;
};

static int delete_on(pg_conn *c, void *arg)
{
	struct delete_args *a = arg;
	const char *p[] = {a->sid->s, a->ws->s};
	PGresult *r;
	int rc = pg_run(c, &Q_DELETE, p, &r); /* the runs go with it (ON DELETE CASCADE) */
	if (rc == CO_OK) {
		if (PQntuples(r) == 0)
			rc = not_found(a->ws, a->sid);
		PQclear(r);
	}
	return rc;
}

/* One autocommit statement; inside pg_in_tx when the calling thread has a current audit
 * entry, so that its audit record commits with it (pg_audit.c note 1). */
int pg_sched_delete(co_store *base, const co_id *ws, const co_id *sid)
{
	pg_store *s = (pg_store *)base;
	struct delete_args a = {ws, sid};
	if (co_audit_get())
		return pg_in_tx(s, delete_on, &a);
	pg_conn *c = pg_conn_get(s);
	int rc = delete_on(c, &a);
	pg_conn_put(s, c);
	return pg_no_retry(rc);
}

/* ---- firing and outcomes ----------------------------------------------------------- */

struct fire_args {
	const co_sched_fire *f;
	co_sched_fired *out;
	co_conflict *conflict;
	bool lost; /* the compare-and-set matched nothing (committed: a skip may have moved) */
};

static int tx_fire(pg_conn *c, void *arg)
{
	struct fire_args *a = arg;
	const co_sched_fire *f = a->f;
	co_sched_fired *out = a->out;
	co_sched_fired_clear(out);
	a->lost = false; /* a retried transaction starts over */
	int rc;
	if (f->manual && (rc = pg_check_ws_writable(c, &f->workspace_id, a->conflict)))
		return rc;
	co_id run_id, msg_id;
	if ((rc = co_id_new(&run_id)) || (rc = co_id_new(&msg_id)))
		return rc;
	char next[24], now[24], slot[24];
	PGresult *r;
	if (f->manual) {
		const char *p[] = {f->schedule_id.s, f->workspace_id.s, pg_i64(now, f->now), run_id.s};
		rc = pg_run(c, &Q_CLAIM_MANUAL, p, &r);
	} else {
		const char *p[] = {f->schedule_id.s,
				   f->next_run_at ? pg_i64(next, f->next_run_at) : NULL, /* 0: none */
				   pg_i64(now, f->now),
				   run_id.s, pg_i64(slot, f->slot), f->cron_expr, f->timezone};
		rc = pg_run(c, &Q_CLAIM_CRON, p, &r);
	}
	if (rc)
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		if (f->manual)
			return not_found(&f->workspace_id, &f->schedule_id);
		const char *q[] = {f->schedule_id.s, f->next_run_at ? next : NULL, slot, f->cron_expr,
				   f->timezone};
		if ((rc = pg_run0(c, &Q_SKIP_FIRED, q)))
			return rc;
		a->lost = true;
		return CO_OK; /* commit the skip; the caller answers CO_ECONFLICT */
	}
	co_sched_run *run = &out->run;
	pg_id(r, 0, 0, &run->workspace_id);
	out->schedule_name = pg_dup(pg_val(r, 0, 1));
	out->prompt = pg_dup(pg_val(r, 0, 2));
	PQclear(r);
	run->id = run_id;
	run->schedule_id = f->schedule_id;
	run->manual = f->manual;
	run->slot_at = f->manual ? f->now : f->slot;
	run->fired_at = f->now;
	run->message_id = msg_id;
	run->status = strdup("fired");
	if (!out->schedule_name || !out->prompt || !run->status)
		return co_err_set(CO_ENOMEM, "out of memory");
	char slot_at[24];
	const char *q[] = {run->id.s, run->schedule_id.s, run->workspace_id.s,
			   run->manual ? "manual" : "cron", pg_i64(slot_at, run->slot_at), now,
			   run->message_id.s};
	if ((rc = pg_run0(c, &Q_RUN_INSERT, q)))
		return rc; /* 23505: CO_EEXISTS, the slot fired already */

	co_buf body;
	co_buf_init(&body);
	co_buf_json_cstr(&body, out->prompt);
	co_inbox_msg m = {
		.id = msg_id,
		.workspace_id = run->workspace_id,
		.body_json = body.data,
		.source = CO_INBOX_SRC_SCHEDULE,
		.has_schedule = true,
		.schedule_id = run->schedule_id,
		.run_id = run->id,
		.status = CO_INBOX_QUEUED,
		.max_attempts = CO_INBOX_ATTEMPTS_DEFAULT,
		.created_at = f->now,
	};
	rc = co_buf_ok(&body) ? pg_inbox_insert(c, &m) : co_err_set(CO_ENOMEM, "out of memory");
	co_buf_free(&body);
	if (rc)
		return rc;
	const char *u[] = {run->workspace_id.s};
	if ((rc = pg_run(c, &Q_WS_URL, u, &r)))
		return rc;
	if (PQntuples(r) && pg_val(r, 0, 0) && !(out->url = strdup(pg_val(r, 0, 0))))
		rc = co_err_set(CO_ENOMEM, "out of memory");
	PQclear(r);
	return rc;
}

int pg_sched_fire(co_store *s, const co_sched_fire *f, co_sched_fired *out, co_conflict *conflict)
{
	struct fire_args a = {f, out, conflict, false};
	int rc = pg_in_tx((pg_store *)s, tx_fire, &a);
	if (rc == CO_OK && a.lost)
		rc = CO_EEXISTS;
	if (rc == CO_EEXISTS) {
		conflict->kind = CO_CONFLICT_STATE;
		rc = co_err_set(CO_ECONFLICT, "slot already fired");
	}
	if (rc)
		co_sched_fired_clear(out);
	return rc;
}

struct mark_args {
	const co_id *run_id;
	const char *status, *error;
};

static int tx_mark(pg_conn *c, void *arg)
{
	struct mark_args *a = arg;
	const char *p[] = {a->run_id->s, a->status, a->error};
	PGresult *r;
	int rc = pg_run(c, &Q_MARK_RUN, p, &r);
	if (rc)
		return rc;
	if (PQntuples(r) == 0) { /* the outcome of the ack came first: it stands */
		PQclear(r);
		return CO_OK;
	}
	co_id sid;
	pg_id(r, 0, 0, &sid);
	PQclear(r);
	const char *q[] = {sid.s, a->status, a->error, a->run_id->s};
	return pg_run0(c, &Q_MARK_SCHED, q);
}

int pg_sched_mark(co_store *s, const co_id *run_id, const char *status, const char *error)
{
	struct mark_args a = {run_id, status, error};
	return pg_in_tx((pg_store *)s, tx_mark, &a);
}

int pg_sched_report(pg_conn *c, const co_id *schedule_id, const co_id *run_id, bool completed,
		    bool empty, const char *error, co_usec_t now)
{
	char stale[24], t[24];
	const char *p[] = {schedule_id->s, completed ? "1" : "0", empty ? "1" : "0", error,
			   pg_i64(stale, CO_STALE_AFTER)};
	int rc = pg_run0(c, &Q_REPORT_SCHED, p);
	if (rc)
		return rc;
	const char *q[] = {run_id->s, !completed ? "failed" : empty ? "empty" : "ok", error,
			   pg_i64(t, now)};
	return pg_run0(c, &Q_REPORT_RUN, q);
}
