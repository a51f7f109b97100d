/*
 * sqlite_sched.c — schedules and their runs on the SQLite backend (store.h, SPEC §5).
 *
 * DESIGN NOTES
 *  1. Writes run through sq_write(): under the database write lock (BEGIN IMMEDIATE),
 *     so each is atomic against this process's other writes and against any other
 *     colonyd on the same file.
 *  2. Firing a cron slot is one conditional UPDATE — it matches only while the row still
 *     has the slot the scheduler read (next_run_at), the same expression and zone, is
 *     enabled and its workspace is live — followed, in the same transaction, by the run
 *     row and the inbox message. Two schedulers racing for one slot: the second's UPDATE
 *     matches nothing. The unique (schedule_id, slot_at) index of cron runs backs it up.
 *  3. The statements split the columns: PATCH writes name, cron_expr, timezone, prompt,
 *     enabled and next_run_at; firing and outcomes write only the run fields and
 *     (compare-and-set) next_run_at. Neither rewrites the other's columns from a stale
 *     read, so neither loses the other's update.
 */
#include "../../core/err.h"
#include "sqlite_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHED_COLS                                                                           \
	"id, workspace_id, name, cron_expr, timezone, prompt, enabled, source, next_run_at, " \
	"last_run_at, run_count, last_status, last_error, consecutive_empty_runs, "          \
	"last_run_id, created_at, updated_at"
#define RUN_COLS                                                                             \
	"id, schedule_id, workspace_id, kind, slot_at, fired_at, message_id, status, error, " \
	"finished_at"
#define SLOT_FIRED                                                                           \
	"EXISTS (SELECT 1 FROM schedule_runs r WHERE r.schedule_id = schedules.id AND "      \
	"r.kind = 'cron' AND r.slot_at = ?5)"
#define WS_LIVE(col) "EXISTS (SELECT 1 FROM workspaces w WHERE w.id = " col " AND w.status <> 'removed')"

static sq_sql Q_INSERT = {.sql = "INSERT INTO schedules (id, workspace_id, name, cron_expr, timezone, "
			  "prompt, enabled, source, next_run_at, created_at, updated_at) "
			  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)"};
static sq_sql Q_FIND_NAME = {.sql = "SELECT id FROM schedules WHERE workspace_id = ?1 AND name = ?2"};
static sq_sql Q_SELECT_NAME = {.sql = "SELECT " SCHED_COLS " FROM schedules WHERE workspace_id = ?1 AND name = ?2"};
static sq_sql Q_SELECT = {.sql = "SELECT " SCHED_COLS " FROM schedules WHERE id = ?1 AND workspace_id = ?2"};
static sq_sql Q_LIST = {.sql = "SELECT " SCHED_COLS " FROM schedules WHERE workspace_id = ?1 AND id > ?2 "
			"ORDER BY id LIMIT ?3"};
static sq_sql Q_UPDATE = {.sql = "UPDATE schedules SET name = ?3, cron_expr = ?4, timezone = ?5, "
			  "prompt = ?6, enabled = ?7, next_run_at = ?8, updated_at = ?9 "
			  "WHERE id = ?1 AND workspace_id = ?2"};
static sq_sql Q_DELETE = {.sql = "DELETE FROM schedules WHERE id = ?1 AND workspace_id = ?2"};
static sq_sql Q_EXISTS = {.sql = "SELECT 1 FROM schedules WHERE id = ?1 AND workspace_id = ?2"};
static sq_sql Q_HISTORY = {.sql = "SELECT " RUN_COLS " FROM schedule_runs WHERE schedule_id = ?1 AND "
			   "(?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3"};
static sq_sql Q_DUE = {.sql = "SELECT " SCHED_COLS " FROM schedules WHERE enabled = 1 AND "
		       "next_run_at IS NOT NULL AND next_run_at <= ?1 AND " WS_LIVE("schedules.workspace_id")
		       " ORDER BY next_run_at LIMIT ?2"};
static sq_sql Q_CLAIM_CRON = {.sql = "UPDATE schedules SET next_run_at = ?2, last_run_at = ?3, "
			      "run_count = run_count + 1, last_status = 'fired', last_error = NULL, "
			      "last_run_id = ?4 WHERE id = ?1 AND enabled = 1 AND next_run_at = ?5 "
			      "AND cron_expr = ?6 AND timezone = ?7 AND " WS_LIVE("schedules.workspace_id")
			      " AND NOT " SLOT_FIRED " RETURNING workspace_id, name, prompt"};
/* The slot fired already (next_run_at was set back to it, e.g. by a PATCH on a clock
 * behind the fire's): move past it without firing, so the schedule is not wedged. */
static sq_sql Q_SKIP_FIRED = {.sql = "UPDATE schedules SET next_run_at = ?2 WHERE id = ?1 AND "
				     "enabled = 1 AND next_run_at = ?5 AND cron_expr = ?6 AND "
				     "timezone = ?7 AND " SLOT_FIRED};
static sq_sql Q_CLAIM_MANUAL = {.sql = "UPDATE schedules SET last_run_at = ?3, run_count = run_count + 1, "
				"last_status = 'fired', last_error = NULL, last_run_id = ?4 "
				"WHERE id = ?1 AND workspace_id = ?2 RETURNING workspace_id, name, prompt"};
static sq_sql Q_RUN_INSERT = {.sql = "INSERT INTO schedule_runs (id, schedule_id, workspace_id, kind, "
			      "slot_at, fired_at, message_id, status) "
			      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'fired')"};
static sq_sql Q_WS_URL = {.sql = "SELECT url FROM workspaces WHERE id = ?1"};
static sq_sql Q_MARK_RUN = {.sql = "UPDATE schedule_runs SET status = ?2, error = ?3 WHERE id = ?1 AND "
			    "status = 'fired' RETURNING schedule_id"};
static sq_sql Q_MARK_SCHED = {.sql = "UPDATE schedules SET last_status = ?2, last_error = ?3 WHERE id = ?1 "
			      "AND last_run_id = ?4 AND last_status = 'fired'"};
/* An outcome from the inbox ack: one statement, so it cannot lose a concurrent one.
 * ?3 completed, ?4 empty; the right-hand sides read the row's values before the update. */
static sq_sql Q_REPORT_SCHED = {.sql =
	"UPDATE schedules SET "
	"consecutive_empty_runs = CASE WHEN ?3 = 0 THEN consecutive_empty_runs "
	"WHEN ?4 = 1 THEN consecutive_empty_runs + 1 ELSE 0 END, "
	"last_status = CASE WHEN ?3 = 0 THEN 'failed' WHEN ?4 = 0 THEN 'ok' "
	"WHEN consecutive_empty_runs + 1 >= ?6 THEN 'stale' ELSE 'empty' END, "
	"last_error = CASE WHEN ?3 = 0 THEN ?5 ELSE NULL END WHERE id = ?1"};
static sq_sql Q_REPORT_RUN = {.sql = "UPDATE schedule_runs SET status = ?2, error = ?3, finished_at = ?4 "
			      "WHERE id = ?1"};

/* Reads a row of SCHED_COLS into *s (which owns its strings afterwards). */
static int read_sched(sqlite3_stmt *st, void *item)
{
	co_schedule *s = item;
	memset(s, 0, sizeof *s);
	sq_col_id(st, 0, &s->id);
	sq_col_id(st, 1, &s->workspace_id);
	s->name = sq_col_strdup(st, 2);
	s->cron_expr = sq_col_strdup(st, 3);
	s->timezone = sq_col_strdup(st, 4);
	s->prompt = sq_col_strdup(st, 5);
	s->enabled = sqlite3_column_int(st, 6) != 0;
	co_sched_source_parse((const char *)sqlite3_column_text(st, 7), &s->source);
	s->next_run_at = sqlite3_column_int64(st, 8);
	s->last_run_at = sqlite3_column_int64(st, 9);
	s->run_count = sqlite3_column_int64(st, 10);
	s->last_status = sq_col_strdup(st, 11);
	s->last_error = sq_col_strdup(st, 12);
	s->consecutive_empty_runs = sqlite3_column_int64(st, 13);
	if ((s->has_last_run = sqlite3_column_type(st, 14) != SQLITE_NULL))
		sq_col_id(st, 14, &s->last_run_id);
	s->created_at = sqlite3_column_int64(st, 15);
	s->updated_at = sqlite3_column_int64(st, 16);
	if (!s->name || !s->cron_expr || !s->timezone || !s->prompt) {
		co_schedule_clear(s);
		return co_err_set(CO_ENOMEM, "out of memory reading a schedule");
	}
	return CO_OK;
}

static int read_run(sqlite3_stmt *st, void *item)
{
	co_sched_run *r = item;
	memset(r, 0, sizeof *r);
	sq_col_id(st, 0, &r->id);
	sq_col_id(st, 1, &r->schedule_id);
	sq_col_id(st, 2, &r->workspace_id);
	const char *kind = (const char *)sqlite3_column_text(st, 3);
	r->manual = kind && !strcmp(kind, "manual");
	r->slot_at = sqlite3_column_int64(st, 4);
	r->fired_at = sqlite3_column_int64(st, 5);
	sq_col_id(st, 6, &r->message_id);
	r->status = sq_col_strdup(st, 7);
	r->error = sq_col_strdup(st, 8);
	r->finished_at = sqlite3_column_int64(st, 9);
	if (!r->status) {
		co_sched_run_clear(r);
		return co_err_set(CO_ENOMEM, "out of memory reading a run");
	}
	return CO_OK;
}

/* The schedule sid of ws, read on c. */
static int select_sched(sq_conn *c, const co_id *ws, const co_id *sid, co_schedule *out)
{
	sqlite3_stmt *st = sq_prep(c, &Q_SELECT);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, sid->s);
	sq_bind_text(st, 2, ws->s);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = read_sched(st, out);
	else if (rc == SQLITE_DONE)
		rc = co_err_set(CO_ENOTFOUND, "schedule %s not found in workspace %s", sid->s, ws->s);
	else
		rc = sq_fail(c, rc, "reading a schedule");
	sq_done(st);
	return rc;
}

/* The schedule named `name` of ws, read on c (org import, sqlite_org.c). */
int sq_sched_select_name(sq_conn *c, const co_id *ws, const char *name, co_schedule *out)
{
	sqlite3_stmt *st = sq_prep(c, &Q_SELECT_NAME);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, ws->s);
	sq_bind_text(st, 2, name);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = read_sched(st, out);
	else if (rc == SQLITE_DONE)
		rc = co_err_set(CO_ENOTFOUND, "no schedule named '%s' in workspace %s", name, ws->s);
	else
		rc = sq_fail(c, rc, "reading a schedule");
	sq_done(st);
	return rc;
}

/* After a unique violation: names the schedule that holds (ws, name). */
static int name_taken(sq_conn *c, const co_id *ws, const char *name, co_conflict *conflict)
{
	sqlite3_stmt *st = sq_prep(c, &Q_FIND_NAME);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, ws->s);
	sq_bind_text(st, 2, name);
	if (sqlite3_step(st) == SQLITE_ROW)
		sq_col_id(st, 0, &conflict->existing_id);
	sq_done(st);
	conflict->kind = CO_CONFLICT_NAME_TAKEN;
	return co_err_set(CO_EEXISTS, "a schedule named '%s' already exists in this workspace", name);
}

/* ---- create ------------------------------------------------------------------------ */

struct create_args {
	const co_schedule *in;
	co_schedule *out;
	co_conflict *conflict;
};

static int op_create(sq_conn *c, void *arg)
{
	struct create_args *a = arg;
	const co_schedule *in = a->in;
	int rc = sq_check_ws_writable(c, &in->workspace_id, a->conflict);
	if (rc)
		return rc;
	co_id id;
	if ((rc = co_id_new(&id)))
		return rc;
	sqlite3_stmt *st = sq_prep(c, &Q_INSERT);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, id.s);
	sq_bind_text(st, 2, in->workspace_id.s);
	sq_bind_text(st, 3, in->name);
	sq_bind_text(st, 4, in->cron_expr);
	sq_bind_text(st, 5, in->timezone);
	sq_bind_text(st, 6, in->prompt);
	sqlite3_bind_int(st, 7, in->enabled);
	sq_bind_text(st, 8, co_sched_source_name(in->source));
	sq_bind_opt_i64(st, 9, in->next_run_at != 0, in->next_run_at);
	sqlite3_bind_int64(st, 10, co_clock_now_us());
	rc = sqlite3_step(st);
	sq_done(st);
	if (rc == SQLITE_CONSTRAINT_UNIQUE)
		return name_taken(c, &in->workspace_id, in->name, a->conflict);
	if (rc != SQLITE_DONE)
		return sq_fail(c, rc, "creating a schedule");
	return select_sched(c, &in->workspace_id, &id, a->out);
}

int sq_sched_create(co_store *s, const co_schedule *in, co_schedule *out, co_conflict *conflict)
{
	struct create_args a = {in, out, conflict};
	return sq_write((sq_store *)s, op_create, &a);
}

/* ---- reads ------------------------------------------------------------------------- */

int sq_sched_get(co_store *base, const co_id *ws, const co_id *sid, co_schedule *out)
{
	sq_store *s = (sq_store *)base;
	sq_conn *c = sq_reader_get(s);
	int rc = select_sched(c, ws, sid, out);
	sq_reader_put(s, c);
	return rc;
}

int sq_sched_list(co_store *base, const co_id *ws, const co_page *p, co_sched_list *out)
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
		sq_bind_text(st, 2, p->has_after ? p->after.s : "");
		sqlite3_bind_int(st, 3, p->limit);
		rc = sq_collect(c, st, (void **)&out->items, &out->n, sizeof *out->items, read_sched,
				"listing schedules");
		sq_done(st);
	}
	sq_reader_put(s, c);
	return rc;
}

int sq_sched_history(co_store *base, const co_id *ws, const co_id *sid, const co_page *p,
		     co_sched_run_list *out)
{
	sq_store *s = (sq_store *)base;
	sq_conn *c = sq_reader_get(s);
	int rc = CO_EINTERNAL;
	sqlite3_stmt *st = sq_prep(c, &Q_EXISTS);
	if (st) {
		sq_bind_text(st, 1, sid->s);
		sq_bind_text(st, 2, ws->s);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_ROW	 ? CO_OK
		     : rc == SQLITE_DONE ? co_err_set(CO_ENOTFOUND, "schedule %s not found in workspace %s",
						      sid->s, ws->s)
					 : sq_fail(c, rc, "reading a schedule");
		sq_done(st);
	}
	st = rc ? NULL : sq_prep(c, &Q_HISTORY);
	if (!rc && !st)
		rc = CO_EINTERNAL;
	if (st) {
		sq_bind_text(st, 1, sid->s);
		sq_bind_text(st, 2, p->has_after ? p->after.s : NULL);
		sqlite3_bind_int(st, 3, p->limit);
		rc = sq_collect(c, st, (void **)&out->items, &out->n, sizeof *out->items, read_run,
				"listing runs");
		sq_done(st);
	}
	sq_reader_put(s, c);
	return rc;
}

int sq_sched_due(co_store *base, co_usec_t now, int limit, co_sched_list *out)
{
	sq_store *s = (sq_store *)base;
	sq_conn *c = sq_reader_get(s);
	int rc = CO_EINTERNAL;
	sqlite3_stmt *st = sq_prep(c, &Q_DUE);
	if (st) {
		sqlite3_bind_int64(st, 1, now);
		sqlite3_bind_int(st, 2, limit);
		rc = sq_collect(c, st, (void **)&out->items, &out->n, sizeof *out->items, read_sched,
				"finding due schedules");
		sq_done(st);
	}
	sq_reader_put(s, c);
	return rc;
}

/* ---- patch, delete ----------------------------------------------------------------- */

struct patch_args {
	const co_id *ws, *sid;
	const co_sched_patch *p;
	co_schedule *out;
	co_conflict *conflict;
};

static int op_patch(sq_conn *c, void *arg)
{
	struct patch_args *a = arg;
	int rc = sq_check_ws_writable(c, a->ws, a->conflict);
	if (rc)
		return rc;
	co_schedule cur;
	if ((rc = select_sched(c, a->ws, a->sid, &cur)))
		return rc;
	co_usec_t now = co_clock_now_us();
	if ((rc = co_sched_apply_patch(&cur, a->p, now))) {
		co_schedule_clear(&cur);
		return rc;
	}
	sqlite3_stmt *st = sq_prep(c, &Q_UPDATE);
	if (!st) {
		co_schedule_clear(&cur);
		return CO_EINTERNAL;
	}
	sq_bind_text(st, 1, a->sid->s);
	sq_bind_text(st, 2, a->ws->s);
	sq_bind_text(st, 3, cur.name);
	sq_bind_text(st, 4, cur.cron_expr);
	sq_bind_text(st, 5, cur.timezone);
	sq_bind_text(st, 6, cur.prompt);
	sqlite3_bind_int(st, 7, cur.enabled);
	sq_bind_opt_i64(st, 8, cur.next_run_at != 0, cur.next_run_at);
	sqlite3_bind_int64(st, 9, now);
	rc = sqlite3_step(st);
	sq_done(st);
	if (rc == SQLITE_CONSTRAINT_UNIQUE)
		rc = name_taken(c, a->ws, cur.name, a->conflict);
	else if (rc != SQLITE_DONE)
		rc = sq_fail(c, rc, "updating a schedule");
	else
		rc = select_sched(c, a->ws, a->sid, a->out);
	co_schedule_clear(&cur);
	return rc;
}

int sq_sched_patch(co_store *s, const co_id *ws, const co_id *sid, const co_sched_patch *p,
		   co_schedule *out, co_conflict *conflict)
{
	struct patch_args a = {ws, sid, p, out, conflict};
	return sq_write((sq_store *)s, op_patch, &a);
}

struct delete_args {
	const co_id *ws, *sid;
};

static int op_delete(sq_conn *c, void *arg)
{
	struct delete_args *a = arg;
	sqlite3_stmt *st = sq_prep(c, &Q_DELETE);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, a->sid->s);
	sq_bind_text(st, 2, a->ws->s);
	int rc = sqlite3_step(st);
	sq_done(st);
	if (rc != SQLITE_DONE)
		return sq_fail(c, rc, "deleting a schedule");
	if (sqlite3_changes(c->db) == 0)
		return co_err_set(CO_ENOTFOUND, "schedule %s not found in workspace %s", a->sid->s,
				  a->ws->s);
	return CO_OK;
}

int sq_sched_delete(co_store *s, const co_id *ws, const co_id *sid)
{
	struct delete_args a = {ws, sid};
	return sq_write((sq_store *)s, op_delete, &a);
}

/* ---- firing and outcomes ----------------------------------------------------------- */

struct fire_args {
	const co_sched_fire *f;
	co_sched_fired *out;
	co_conflict *conflict;
	bool lost; /* the compare-and-set matched nothing (committed: a skip may have moved) */
};

/* Binds a cron fire's slot, next slot, expression and zone as ?2 ?5 ?6 ?7. */
static void bind_cron_cas(sqlite3_stmt *st, const co_sched_fire *f)
{
	sq_bind_text(st, 1, f->schedule_id.s);
	sq_bind_opt_i64(st, 2, f->next_run_at != 0, f->next_run_at); /* 0: no next slot */
	sqlite3_bind_int64(st, 5, f->slot);
	sq_bind_text(st, 6, f->cron_expr);
	sq_bind_text(st, 7, f->timezone);
}

static int op_fire(sq_conn *c, void *arg)
{
	struct fire_args *a = arg;
	const co_sched_fire *f = a->f;
	co_sched_fired *out = a->out;
	int rc;
	if (f->manual && (rc = sq_check_ws_writable(c, &f->workspace_id, a->conflict)))
		return rc;
	co_id run_id, msg_id;
	if ((rc = co_id_new(&run_id)) || (rc = co_id_new(&msg_id)))
		return rc;
	sqlite3_stmt *st = sq_prep(c, f->manual ? &Q_CLAIM_MANUAL : &Q_CLAIM_CRON);
	if (!st)
		return CO_EINTERNAL;
	if (f->manual) {
		sq_bind_text(st, 1, f->schedule_id.s);
		sq_bind_text(st, 2, f->workspace_id.s);
	} else {
		bind_cron_cas(st, f);
	}
	sqlite3_bind_int64(st, 3, f->now);
	sq_bind_text(st, 4, run_id.s);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		co_sched_fired_clear(out);
		sq_col_id(st, 0, &out->run.workspace_id);
		out->schedule_name = sq_col_strdup(st, 1);
		out->prompt = sq_col_strdup(st, 2);
	}
	sq_done(st);
	if (rc == SQLITE_DONE) {
		if (f->manual)
			return co_err_set(CO_ENOTFOUND, "schedule %s not found in workspace %s",
					  f->schedule_id.s, f->workspace_id.s);
		if (!(st = sq_prep(c, &Q_SKIP_FIRED)))
			return CO_EINTERNAL;
		bind_cron_cas(st, f);
		rc = sqlite3_step(st);
		sq_done(st);
		if (rc != SQLITE_DONE)
			return sq_fail(c, rc, "skipping a fired slot");
		a->lost = true;
		return CO_OK; /* commit the skip; the caller answers CO_ECONFLICT */
	}
	if (rc != SQLITE_ROW)
		return sq_fail(c, rc, "claiming a schedule slot");
	if (!out->schedule_name || !out->prompt)
		return co_err_set(CO_ENOMEM, "out of memory");

	co_sched_run *run = &out->run;
	run->id = run_id;
	run->schedule_id = f->schedule_id;
	run->manual = f->manual;
	run->slot_at = f->manual ? f->now : f->slot;
	run->fired_at = f->now;
	run->message_id = msg_id;
	if (!(run->status = strdup("fired")))
		return co_err_set(CO_ENOMEM, "out of memory");
	if (!(st = sq_prep(c, &Q_RUN_INSERT)))
		return CO_EINTERNAL;
	sq_bind_text(st, 1, run->id.s);
	sq_bind_text(st, 2, run->schedule_id.s);
	sq_bind_text(st, 3, run->workspace_id.s);
	sq_bind_text(st, 4, run->manual ? "manual" : "cron");
	sqlite3_bind_int64(st, 5, run->slot_at);
	sqlite3_bind_int64(st, 6, run->fired_at);
	sq_bind_text(st, 7, run->message_id.s);
	rc = sqlite3_step(st);
	sq_done(st);
	if (rc == SQLITE_CONSTRAINT_UNIQUE) {
		a->conflict->kind = CO_CONFLICT_STATE;
		return co_err_set(CO_ECONFLICT, "slot already fired");
	}
	if (rc != SQLITE_DONE)
		return sq_fail(c, rc, "recording a run");

	/* the prompt, as a JSON string, is the message body */
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
	rc = co_buf_ok(&body) ? sq_inbox_insert(c, &m) : co_err_set(CO_ENOMEM, "out of memory");
	co_buf_free(&body);
	if (rc)
		return rc;

	if (!(st = sq_prep(c, &Q_WS_URL)))
		return CO_EINTERNAL;
	sq_bind_text(st, 1, run->workspace_id.s);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		out->url = sq_col_strdup(st, 0);
	sq_done(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? CO_OK : sq_fail(c, rc, "reading a url");
}

int sq_sched_fire(co_store *s, const co_sched_fire *f, co_sched_fired *out, co_conflict *conflict)
{
	struct fire_args a = {f, out, conflict, false};
	int rc = sq_write((sq_store *)s, op_fire, &a);
	if (rc == CO_OK && a.lost) {
		conflict->kind = CO_CONFLICT_STATE;
		rc = co_err_set(CO_ECONFLICT, "slot already fired, or the schedule changed");
	}
	if (rc)
		co_sched_fired_clear(out);
	return rc;
}

struct mark_args {
	const co_id *run_id;
	const char *status, *error;
};

static int op_mark(sq_conn *c, void *arg)
{
	struct mark_args *a = arg;
	sqlite3_stmt *st = sq_prep(c, &Q_MARK_RUN);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, a->run_id->s);
	sq_bind_text(st, 2, a->status);
	sq_bind_text(st, 3, a->error);
	int rc = sqlite3_step(st);
	co_id sid = {{0}};
	if (rc == SQLITE_ROW)
		sq_col_id(st, 0, &sid);
	sq_done(st);
	if (rc == SQLITE_DONE)
		return CO_OK; /* the outcome of the ack came first: it stands */
	if (rc != SQLITE_ROW)
		return sq_fail(c, rc, "marking a run");
	if (!(st = sq_prep(c, &Q_MARK_SCHED)))
		return CO_EINTERNAL;
	sq_bind_text(st, 1, sid.s);
	sq_bind_text(st, 2, a->status);
	sq_bind_text(st, 3, a->error);
	sq_bind_text(st, 4, a->run_id->s);
	rc = sqlite3_step(st);
	sq_done(st);
	return rc == SQLITE_DONE ? CO_OK : sq_fail(c, rc, "marking a schedule");
}

int sq_sched_mark(co_store *s, const co_id *run_id, const char *status, const char *error)
{
	struct mark_args a = {run_id, status, error};
	return sq_write((sq_store *)s, op_mark, &a);
}

int sq_sched_report(sq_conn *c, const co_id *schedule_id, const co_id *run_id, bool completed,
		    bool empty, const char *error, co_usec_t now)
{
	sqlite3_stmt *st = sq_prep(c, &Q_REPORT_SCHED);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, schedule_id->s);
	sqlite3_bind_int(st, 3, completed);
	sqlite3_bind_int(st, 4, empty);
	sq_bind_text(st, 5, error);
	sqlite3_bind_int(st, 6, CO_STALE_AFTER);
	int rc = sqlite3_step(st);
	sq_done(st);
	if (rc != SQLITE_DONE)
		return sq_fail(c, rc, "reporting a run's outcome");
	if (!(st = sq_prep(c, &Q_REPORT_RUN)))
		return CO_EINTERNAL;
	sq_bind_text(st, 1, run_id->s);
	sq_bind_text(st, 2, !completed ? "failed" : empty ? "empty" : "ok");
	sq_bind_text(st, 3, error);
	sqlite3_bind_int64(st, 4, now);
	rc = sqlite3_step(st);
	sq_done(st);
	return rc == SQLITE_DONE ? CO_OK : sq_fail(c, rc, "reporting a run's outcome");
}
