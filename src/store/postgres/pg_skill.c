/*
 * pg_skill.c — skill versions on the PostgreSQL backend (store.h, SPEC §7, core/skill.h).
 *
 * DESIGN NOTES
 *  1. Numbering without luck. PostgreSQL does not serialise writers, and under READ
 *     COMMITTED two transactions reading MAX(seq) at once would both see the same value
 *     (seed 003). So the number is not read, it is taken: one row per skill in `skills`
 *     holds latest_seq, and an append runs
 *         INSERT INTO skills … VALUES (…, 1, …) ON CONFLICT (workspace_id, name)
 *         DO UPDATE SET latest_seq = skills.latest_seq + 1 … RETURNING latest_seq
 *     which locks that row until the transaction ends. A concurrent append of the same
 *     skill — on any replica — blocks on the row lock, and once the first commits,
 *     PostgreSQL applies its update to the newest row version (EvalPlanQual), so it gets
 *     the next number; if the first rolled back, the second sees the old value. Two
 *     appends of a new skill: the second's INSERT waits for the first's uncommitted row,
 *     then takes the DO UPDATE path. No two get one number, and a rolled-back append
 *     gives its number back with its row: no gap.
 *  2. The version is inserted in the same transaction, after the workspace was checked
 *     live under FOR SHARE (pg_check_ws_writable): a concurrent removal or purge waits
 *     for the append, or the append sees it and fails (404 / 409 removed).
 *  3. The primary key (workspace_id, skill, seq) refuses a duplicate: if the counter ever
 *     slipped (a hand-edited row), the append fails loudly as an internal error instead of
 *     writing a second version with one number.
 *  4. Every statement's result is checked and translated by pg_fail; a serialization
 *     failure or deadlock retries the whole transaction (pg_in_tx), which fills *out only
 *     at its end.
 *  5. Reads are autocommit statements on a pooled connection. A version list or get that
 *     finds nothing asks one more query why (no workspace, no skill, no such version).
 */
#include "../../core/err.h"
#include "pg_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERSION_COLS "skill, seq, body, created_at"

static pg_sql Q_TAKE_SEQ = {
	.sql = "INSERT INTO skills (workspace_id, name, latest_seq, created_at, updated_at) VALUES "
	       "($1::uuid, $2, 1, $3::bigint, $3::bigint) ON CONFLICT (workspace_id, name) DO UPDATE "
	       "SET latest_seq = skills.latest_seq + 1, updated_at = excluded.updated_at "
	       "RETURNING latest_seq",
	.nparams = 3};
static pg_sql Q_VERSION_INSERT = {
	.sql = "INSERT INTO skill_versions (workspace_id, skill, seq, body, created_at) "
	       "VALUES ($1::uuid, $2, $3::bigint, $4, $5::bigint)",
	.nparams = 5};
static pg_sql Q_GET = {
	.sql = "SELECT " VERSION_COLS " FROM skill_versions WHERE workspace_id = $1::uuid "
	       "AND skill = $2 AND seq = $3::bigint",
	.nparams = 3};
static pg_sql Q_VERSIONS = {
	.sql = "SELECT " VERSION_COLS " FROM skill_versions WHERE workspace_id = $1::uuid "
	       "AND skill = $2 AND seq < $3::bigint ORDER BY seq DESC LIMIT $4::int",
	.nparams = 4};
/* Why nothing was found: no row = no workspace; NULL = no such skill; else its latest. */
static pg_sql Q_WHY = {.sql = "SELECT s.latest_seq FROM workspaces w LEFT JOIN skills s ON "
			      "s.workspace_id = w.id AND s.name = $2 WHERE w.id = $1::uuid",
		       .nparams = 2};
static pg_sql Q_LIST = {
	.sql = "SELECT name, latest_seq, updated_at FROM skills WHERE workspace_id = $1::uuid "
	       "AND ($2::text IS NULL OR name > $2) ORDER BY name LIMIT $3::int",
	.nparams = 3};
static pg_sql Q_WS_EXISTS = {.sql = "SELECT 1 FROM workspaces WHERE id = $1::uuid", .nparams = 1};

static int read_version(PGresult *r, int row, void *item)
{
	co_skill_version *v = item;
	memset(v, 0, sizeof *v);
	v->skill = pg_dup(pg_val(r, row, 0));
	v->seq = pg_ival(r, row, 1);
	v->body_json = pg_dup(pg_val(r, row, 2));
	v->created_at = pg_ival(r, row, 3);
	if (!v->skill || !v->body_json) {
		co_skill_version_clear(v);
		return co_err_set(CO_ENOMEM, "out of memory reading a skill version");
	}
	return CO_OK;
}

static int read_skill(PGresult *r, int row, void *item)
{
	co_skill *s = item;
	memset(s, 0, sizeof *s);
	s->name = pg_dup(pg_val(r, row, 0));
	s->latest_seq = pg_ival(r, row, 1);
	s->updated_at = pg_ival(r, row, 2);
	if (!s->name)
		return co_err_set(CO_ENOMEM, "out of memory reading a skill");
	return CO_OK;
}

/* Sets the CO_ENOTFOUND message for a read of skill `name` (version seq, or 0 for the
 * skill as a whole) that found nothing, after asking why (note 5). Returns CO_ENOTFOUND,
 * CO_OK when the skill exists and only the page was empty (seq 0), or a storage error. */
static int why_not_found(pg_conn *c, const co_id *ws, const char *name, int64_t seq)
{
	const char *p[] = {ws->s, name};
	PGresult *r;
	int rc = pg_run(c, &Q_WHY, p, &r);
	if (rc)
		return rc;
	if (PQntuples(r) == 0)
		rc = co_err_set(CO_ENOTFOUND, "workspace %s not found", ws->s);
	else if (!pg_val(r, 0, 0))
		rc = co_err_set(CO_ENOTFOUND, "skill '%.64s' not found", name);
	else if (seq > 0)
		rc = co_err_set(CO_ENOTFOUND, "skill '%.64s' has no version %lld (latest is %lld)",
				name, (long long)seq, (long long)pg_ival(r, 0, 0));
	PQclear(r);
	return rc;
}

struct append_args {
	const co_id *ws;
	const char *name;
	const char *body_json;
	co_skill_version *out;
	co_conflict *conflict;
};

static int tx_append(pg_conn *c, void *arg)
{
	struct append_args *a = arg;
	int rc = pg_check_ws_writable(c, a->ws, a->conflict);
	if (rc)
		return rc;
	co_usec_t now = co_clock_now_us();
	char now_s[24], seq_s[24];
	const char *p[] = {a->ws->s, a->name, pg_i64(now_s, now)};
	PGresult *r;
	if ((rc = pg_run(c, &Q_TAKE_SEQ, p, &r)))
		return rc;
	int64_t seq = PQntuples(r) == 1 ? pg_ival(r, 0, 0) : 0;
	PQclear(r);
	if (seq < 1) /* cannot happen: the upsert returns its row */
		return co_err_set(CO_EINTERNAL, "skill '%.64s': numbering returned no seq", a->name);

	const char *v[] = {a->ws->s, a->name, pg_i64(seq_s, seq), a->body_json, now_s};
	rc = pg_run0(c, &Q_VERSION_INSERT, v);
	if (rc == CO_EEXISTS) /* note 3 */
		return co_err_set(CO_EINTERNAL, "skill '%.64s': version %lld already exists (its "
				  "latest seq is out of step with its versions)", a->name, (long long)seq);
	if (rc)
		return rc;

	co_skill_version_clear(a->out);
	a->out->skill = strdup(a->name);
	a->out->body_json = strdup(a->body_json);
	a->out->seq = seq;
	a->out->created_at = now;
	if (!a->out->skill || !a->out->body_json)
		return co_err_set(CO_ENOMEM, "out of memory");
	return CO_OK;
}

int pg_skill_append(co_store *s, const co_id *ws, const char *name, const char *body_json,
		    co_skill_version *out, co_conflict *conflict)
{
	struct append_args a = {ws, name, body_json, out, conflict};
	return pg_in_tx((pg_store *)s, tx_append, &a);
}

int pg_skill_get(co_store *base, const co_id *ws, const char *name, int64_t seq,
		 co_skill_version *out)
{
	pg_store *s = (pg_store *)base;
	pg_conn *c = pg_conn_get(s);
	char seq_s[24];
	const char *p[] = {ws->s, name, pg_i64(seq_s, seq)};
	PGresult *r;
	int rc = pg_run(c, &Q_GET, p, &r);
	if (rc == CO_OK) {
		bool found = PQntuples(r) > 0;
		if (found)
			rc = read_version(r, 0, out);
		PQclear(r);
		if (!found && (rc = why_not_found(c, ws, name, seq)) == CO_OK)
			rc = co_err_set(CO_ENOTFOUND, "skill version not found"); /* seq < 1 */
	}
	pg_conn_put(s, c);
	return pg_no_retry(rc);
}

int pg_skill_versions(co_store *base, const co_id *ws, const char *name, const co_skill_page *page,
		      co_skill_version_list *out)
{
	pg_store *s = (pg_store *)base;
	pg_conn *c = pg_conn_get(s);
	char before[24], lim[24];
	const char *p[] = {ws->s, name, pg_i64(before, page->before > 0 ? page->before : INT64_MAX),
			   pg_i64(lim, page->limit)};
	PGresult *r;
	int rc = pg_run(c, &Q_VERSIONS, p, &r);
	if (rc == CO_OK) {
		rc = pg_collect(r, (void **)&out->items, &out->n, sizeof *out->items, read_version);
		PQclear(r);
	}
	if (rc == CO_OK && out->n == 0) /* an empty page of a skill, or nothing there? */
		rc = why_not_found(c, ws, name, 0);
	pg_conn_put(s, c);
	return pg_no_retry(rc);
}

int pg_skill_list(co_store *base, const co_id *ws, const co_skill_filter *f, co_skill_list *out)
{
	pg_store *s = (pg_store *)base;
	pg_conn *c = pg_conn_get(s);
	char lim[24];
	const char *p[] = {ws->s, f->after, pg_i64(lim, f->limit)};
	PGresult *r;
	int rc = pg_run(c, &Q_LIST, p, &r);
	if (rc == CO_OK) {
		rc = pg_collect(r, (void **)&out->items, &out->n, sizeof *out->items, read_skill);
		PQclear(r);
	}
	if (rc == CO_OK && out->n == 0) { /* an empty list of a missing workspace would hide a typo */
		const char *w[] = {ws->s};
		if ((rc = pg_run(c, &Q_WS_EXISTS, w, &r)) == CO_OK) {
			if (PQntuples(r) == 0)
				rc = co_err_set(CO_ENOTFOUND, "workspace %s not found", ws->s);
			PQclear(r);
		}
	}
	pg_conn_put(s, c);
	return pg_no_retry(rc);
}
