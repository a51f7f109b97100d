/*
 * sqlite_skill.c — skill versions on the SQLite backend (store.h, SPEC §7, core/skill.h).
 *
 * DESIGN NOTES
 *  1. Numbering (seed 003). An append is ONE write op (sq_write), so it runs inside the
 *     batch transaction begun IMMEDIATE, under the database write lock that every other
 *     op — of this process or of another colonyd on the same file — must take first. In
 *     it: the workspace is checked live, seq = COALESCE(MAX(seq), 0) + 1 is read from the
 *     skill's versions, the skill's row is upserted to that seq, and the version is
 *     inserted. Nothing can come between the read and the inserts, so seqs run 1, 2, 3 …
 *     with no gap (a failed op rolls back to its savepoint, counter included) and no
 *     duplicate.
 *  2. No error is swallowed: the MAX read must step to exactly one row, and a failed step
 *     fails the op (seed 003: a swallowed Scan error once left seq at 0). Every statement
 *     of the op is checked; any failure rolls the whole op back.
 *  3. Belt and braces: the primary key (workspace_id, skill, seq) refuses a duplicate, and
 *     the skills row is moved only from seq − 1 to seq (else no row comes back). Either
 *     tripping means the numbering is broken: it is reported as an internal error (500),
 *     never written.
 *  4. Reads run on a reader connection. A version list or a get that finds nothing asks
 *     one more query why (no workspace, no skill, no such version), so the common path is
 *     one indexed query. A removed workspace's skills stay readable.
 */
#include "../../core/err.h"
#include "sqlite_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define VERSION_COLS "skill, seq, body, created_at"

static sq_sql Q_NEXT_SEQ = {.sql = "SELECT COALESCE(MAX(seq), 0) + 1 FROM skill_versions "
				   "WHERE workspace_id = ?1 AND skill = ?2"};
/* New skill: latest_seq ?3 (= 1). Existing: moved from ?3 − 1 to ?3 only (note 3). */
static sq_sql Q_SKILL_UPSERT = {
	.sql = "INSERT INTO skills (workspace_id, name, latest_seq, created_at, updated_at) "
	       "VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (workspace_id, name) DO UPDATE SET "
	       "latest_seq = excluded.latest_seq, updated_at = excluded.updated_at "
	       "WHERE skills.latest_seq = excluded.latest_seq - 1 RETURNING latest_seq"};
static sq_sql Q_VERSION_INSERT = {.sql = "INSERT INTO skill_versions (workspace_id, skill, seq, "
					 "body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)"};
static sq_sql Q_GET = {.sql = "SELECT " VERSION_COLS " FROM skill_versions WHERE "
			      "workspace_id = ?1 AND skill = ?2 AND seq = ?3"};
static sq_sql Q_VERSIONS = {.sql = "SELECT " VERSION_COLS " FROM skill_versions WHERE "
				   "workspace_id = ?1 AND skill = ?2 AND seq < ?3 "
				   "ORDER BY seq DESC LIMIT ?4"};
/* Why nothing was found: no row = no workspace; NULL = no such skill; else its latest. */
static sq_sql Q_WHY = {.sql = "SELECT (SELECT latest_seq FROM skills WHERE workspace_id = ?1 "
			      "AND name = ?2) FROM workspaces WHERE id = ?1"};
static sq_sql Q_LIST = {.sql = "SELECT name, latest_seq, updated_at FROM skills WHERE "
			       "workspace_id = ?1 AND name > ?2 ORDER BY name LIMIT ?3"};

static int read_version(sqlite3_stmt *st, void *item)
{
	co_skill_version *v = item;
	memset(v, 0, sizeof *v);
	v->skill = sq_col_strdup(st, 0);
	v->seq = sqlite3_column_int64(st, 1);
	v->body_json = sq_col_strdup(st, 2);
	v->created_at = sqlite3_column_int64(st, 3);
	if (!v->skill || !v->body_json) {
		co_skill_version_clear(v);
		return co_err_set(CO_ENOMEM, "out of memory reading a skill version");
	}
	return CO_OK;
}

static int read_skill(sqlite3_stmt *st, void *item)
{
	co_skill *s = item;
	memset(s, 0, sizeof *s);
	s->name = sq_col_strdup(st, 0);
	s->latest_seq = sqlite3_column_int64(st, 1);
	s->updated_at = sqlite3_column_int64(st, 2);
	if (!s->name)
		return co_err_set(CO_ENOMEM, "out of memory reading a skill");
	return CO_OK;
}

/* Sets the CO_ENOTFOUND message for a read of skill `name` (version seq, or 0 for the
 * skill as a whole) that found nothing, after asking why (note 4). Returns CO_ENOTFOUND,
 * CO_OK when the skill exists and only the page was empty (seq 0), or a storage error. */
static int why_not_found(sq_conn *c, const co_id *ws, const char *name, int64_t seq)
{
	sqlite3_stmt *st = sq_prep(c, &Q_WHY);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, ws->s);
	sq_bind_text(st, 2, name);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		rc = co_err_set(CO_ENOTFOUND, "workspace %s not found", ws->s);
	else if (rc != SQLITE_ROW)
		rc = sq_fail(c, rc, "reading a skill");
	else if (sqlite3_column_type(st, 0) == SQLITE_NULL)
		rc = co_err_set(CO_ENOTFOUND, "skill '%.64s' not found", name);
	else if (seq > 0)
		rc = co_err_set(CO_ENOTFOUND, "skill '%.64s' has no version %lld (latest is %lld)",
				name, (long long)seq, (long long)sqlite3_column_int64(st, 0));
	else
		rc = CO_OK;
	sq_done(st);
	return rc;
}

struct append_args {
	const co_id *ws;
	const char *name;
	const char *body_json;
	co_skill_version *out;
	co_conflict *conflict;
};

/* The next seq of the skill, read under the write lock (notes 1, 2). */
static int next_seq(sq_conn *c, const co_id *ws, const char *name, int64_t *seq)
{
	sqlite3_stmt *st = sq_prep(c, &Q_NEXT_SEQ);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, ws->s);
	sq_bind_text(st, 2, name);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*seq = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st); /* an aggregate: exactly one row */
	}
	sq_done(st);
	if (rc != SQLITE_DONE)
		return sq_fail(c, rc, "numbering a skill version");
	if (*seq < 1) /* cannot happen: COALESCE(…, 0) + 1 */
		return co_err_set(CO_EINTERNAL, "skill '%.64s': next seq read as %lld", name,
				  (long long)*seq);
	return CO_OK;
}

static int op_append(sq_conn *c, void *arg)
{
	struct append_args *a = arg;
	int rc = sq_check_ws_writable(c, a->ws, a->conflict);
	if (rc)
		return rc;
	int64_t seq = 0;
	if ((rc = next_seq(c, a->ws, a->name, &seq)))
		return rc;
	co_usec_t now = co_clock_now_us();

	sqlite3_stmt *st = sq_prep(c, &Q_SKILL_UPSERT);
	if (!st)
		return CO_EINTERNAL;
	sq_bind_text(st, 1, a->ws->s);
	sq_bind_text(st, 2, a->name);
	sqlite3_bind_int64(st, 3, seq);
	sqlite3_bind_int64(st, 4, now);
	rc = sqlite3_step(st);
	bool moved = rc == SQLITE_ROW;
	if (moved)
		rc = sqlite3_step(st);
	sq_done(st);
	if (rc != SQLITE_DONE)
		return sq_fail(c, rc, "recording a skill's latest version");
	if (!moved) /* note 3 */
		return co_err_set(CO_EINTERNAL, "skill '%.64s': its latest seq is out of step with its "
				  "versions (next is %lld)", a->name, (long long)seq);

	if (!(st = sq_prep(c, &Q_VERSION_INSERT)))
		return CO_EINTERNAL;
	sq_bind_text(st, 1, a->ws->s);
	sq_bind_text(st, 2, a->name);
	sqlite3_bind_int64(st, 3, seq);
	sq_bind_text(st, 4, a->body_json);
	sqlite3_bind_int64(st, 5, now);
	rc = sqlite3_step(st);
	sq_done(st);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) /* note 3 */
		return co_err_set(CO_EINTERNAL, "skill '%.64s': version %lld already exists", a->name,
				  (long long)seq);
	if (rc != SQLITE_DONE)
		return sq_fail(c, rc, "appending a skill version");

	co_skill_version_clear(a->out);
	a->out->skill = strdup(a->name);
	a->out->body_json = strdup(a->body_json);
	a->out->seq = seq;
	a->out->created_at = now;
	if (!a->out->skill || !a->out->body_json)
		return co_err_set(CO_ENOMEM, "out of memory");
	return CO_OK;
}

int sq_skill_append(co_store *s, const co_id *ws, const char *name, const char *body_json,
		    co_skill_version *out, co_conflict *conflict)
{
	struct append_args a = {ws, name, body_json, out, conflict};
	return sq_write((sq_store *)s, op_append, &a);
}

int sq_skill_get(co_store *base, const co_id *ws, const char *name, int64_t seq,
		 co_skill_version *out)
{
	sq_store *s = (sq_store *)base;
	sq_conn *c = sq_reader_get(s);
	int rc = CO_EINTERNAL;
	bool found = false;
	sqlite3_stmt *st = sq_prep(c, &Q_GET);
	if (st) {
		sq_bind_text(st, 1, ws->s);
		sq_bind_text(st, 2, name);
		sqlite3_bind_int64(st, 3, seq);
		rc = sqlite3_step(st);
		if ((found = rc == SQLITE_ROW))
			rc = read_version(st, out);
		else
			rc = rc == SQLITE_DONE ? CO_OK : sq_fail(c, rc, "reading a skill version");
		sq_done(st);
	}
	if (rc == CO_OK && !found && (rc = why_not_found(c, ws, name, seq)) == CO_OK)
		rc = co_err_set(CO_ENOTFOUND, "skill version not found"); /* seq < 1 */
	sq_reader_put(s, c);
	return rc;
}

int sq_skill_versions(co_store *base, const co_id *ws, const char *name, const co_skill_page *p,
		      co_skill_version_list *out)
{
	sq_store *s = (sq_store *)base;
	sq_conn *c = sq_reader_get(s);
	int rc = CO_EINTERNAL;
	sqlite3_stmt *st = sq_prep(c, &Q_VERSIONS);
	if (st) {
		sq_bind_text(st, 1, ws->s);
		sq_bind_text(st, 2, name);
		sqlite3_bind_int64(st, 3, p->before > 0 ? p->before : INT64_MAX);
		sqlite3_bind_int(st, 4, p->limit);
		rc = sq_collect(c, st, (void **)&out->items, &out->n, sizeof *out->items, read_version,
				"listing skill versions");
		sq_done(st);
	}
	if (rc == CO_OK && out->n == 0) /* an empty page of a skill, or nothing there? */
		rc = why_not_found(c, ws, name, 0);
	sq_reader_put(s, c);
	return rc;
}

int sq_skill_list(co_store *base, const co_id *ws, const co_skill_filter *f, co_skill_list *out)
{
	sq_store *s = (sq_store *)base;
	sq_conn *c = sq_reader_get(s);
	int rc = CO_EINTERNAL;
	sqlite3_stmt *st = sq_prep(c, &Q_LIST);
	if (st) {
		sq_bind_text(st, 1, ws->s);
		sq_bind_text(st, 2, f->after ? f->after : "");
		sqlite3_bind_int(st, 3, f->limit);
		rc = sq_collect(c, st, (void **)&out->items, &out->n, sizeof *out->items, read_skill,
				"listing skills");
		sq_done(st);
	}
	co_ws_status status;
	if (rc == CO_OK && out->n == 0) /* an empty list of a missing workspace would hide a typo */
		rc = sq_ws_status(c, ws->s, &status);
	sq_reader_put(s, c);
	return rc;
}
