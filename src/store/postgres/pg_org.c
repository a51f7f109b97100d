/*
 * pg_org.c — org import on the PostgreSQL backend (store.h org_import, SPEC §4, core/org.h).
 *
 * DESIGN NOTES
 *  1. One transaction (pg_in_tx, READ COMMITTED) for the whole plan, safe to run again:
 *     each attempt resets the result and takes its own `now`. It takes the tree lock
 *     shared, as a create does, so no move or delete (which take it exclusively) runs
 *     meanwhile: a workspace found live stays live, under the same parent, until we
 *     commit. A graft's parent is read FOR SHARE and must be live (else CO_ENOTFOUND).
 *  2. Set-based, not row by row: two statements per tree level, up to three for all the
 *     schedules and one for all the memories, each over arrays passed as text parameters
 *     in array literal syntax (arr_* below) and unnested in SQL. A 10,000-node import is
 *     a handful of round trips, not tens of thousands. A huge plan is cut into chunks of
 *     about PG_ORG_CHUNK_BYTES of parameters, far below the 1 GB that PostgreSQL allows
 *     a value or a protocol message.
 *  3. Workspaces, level by level (a level needs its parents' ids): INSERT … SELECT FROM
 *     unnest … ON CONFLICT on the partial unique index DO NOTHING RETURNING id names the
 *     nodes created; one SELECT then names the live holders of the others (never a
 *     look-then-insert). A concurrent import's uncommitted row of the same (parent, name)
 *     makes our INSERT wait and, once that commits, do nothing; the SELECT, a later
 *     statement and so a later snapshot, sees the committed holder. A node neither
 *     inserted nor found (its holder went away, which the tree lock should rule out)
 *     retries the transaction. Holders are not row-locked: only a move or a delete could
 *     take one away and both wait for our tree lock; a concurrent rename commits as if
 *     after us.
 *  4. Lock order. Within a level (and within the schedules, and the memories) rows are
 *     written and locked in one canonical order, by (parent or workspace id, name or key)
 *     as bytes, not in plan order: two imports of one template then queue behind each
 *     other on their first common row instead of deadlocking, and so do two templates
 *     that share rows in a different order (a deadlock would cost deadlock_timeout, 1 s by
 *     default, before pg_in_tx retried it). What can still deadlock (a row shared at
 *     different levels: one import grafted where the other has its own tree) is retried
 *     by pg_in_tx.
 *  5. Schedules, all at once: INSERT … ON CONFLICT (workspace_id, name) DO NOTHING
 *     RETURNING id names the new ones (source template, next_run_at as planned unless that
 *     slot already passed: co_org_sched_first_next); the
 *     others are read FOR UPDATE (note 4), co_org_sched_merge() decides each in C
 *     under that lock, and one UPDATE … FROM unnest writes cron_expr, timezone, prompt,
 *     enabled, next_run_at and updated_at of those it changed — never run fields, name or
 *     source. A row that vanished in between (a concurrent DELETE) retries. Nothing is
 *     ever deleted.
 *  6. Memories, all at once, by the rule of a create-only memory write (ST_MEM_CREATE in
 *     pg_store.c): an absent or expired key gets the value at version 1, a live one is
 *     left alone. The statement's row count is the number created.
 *  7. Dry run: everything is done, then the attempt returns PG_DRYRUN, which pg_in_tx
 *     rolls back like any failure (it retries only PG_ERETRY); pg_org_import answers
 *     CO_OK with the result the attempt computed.
 */
#include "../../core/err.h"
#include "pg_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG_DRYRUN (-101) /* internal: a dry run finished; roll back and answer CO_OK */
#ifndef PG_ORG_CHUNK_BYTES
#define PG_ORG_CHUNK_BYTES ((size_t)32 << 20) /* parameters of one statement, about */
#endif
#define NIL "'00000000-0000-0000-0000-000000000000'::uuid"
#define NARR 9 /* array parameters of the widest statement */

/* ---- statements --------------------------------------------------------------------- */

/* $1..$9: the new rows' columns, one array each; $10: now. Returns the ids inserted. */
static pg_sql Q_WS_INSERT = {
	.sql = "INSERT INTO workspaces (id, parent_id, name, role, runtime, tier, url, "
	       "max_concurrent_tasks, status, created_at, updated_at) SELECT u.id, u.pid, u.nm, "
	       "u.ro, u.rt, u.ti, u.ur, u.mc, u.st, $10::bigint, $10::bigint FROM unnest("
	       "$1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::bigint[], "
	       "$7::text[], $8::bigint[], $9::text[]) WITH ORDINALITY AS u(id, pid, nm, ro, rt, "
	       "ti, ur, mc, st, ord) ORDER BY u.ord ON CONFLICT (COALESCE(parent_id, " NIL "), "
	       "name) WHERE status <> 'removed' DO NOTHING RETURNING id",
	.nparams = 10};
/* $1 parents (NULL: root), $2 names. Returns (1-based position, id of the live holder). */
static pg_sql Q_WS_HOLDERS = {
	.sql = "SELECT u.ord, w.id FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS "
	       "u(pid, nm, ord) JOIN workspaces w ON COALESCE(w.parent_id, " NIL ") = "
	       "COALESCE(u.pid, " NIL ") AND w.name = u.nm WHERE w.status <> 'removed'",
	.nparams = 2};
/* $1..$8: the new rows' columns; $9: now. Returns the ids inserted. */
static pg_sql Q_SCHED_INSERT = {
	.sql = "INSERT INTO schedules (id, workspace_id, name, cron_expr, timezone, prompt, "
	       "enabled, source, next_run_at, created_at, updated_at) SELECT u.id, u.ws, u.nm, "
	       "u.ce, u.tz, u.pr, u.en, 'template', u.nx, $9::bigint, $9::bigint FROM unnest("
	       "$1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], "
	       "$7::smallint[], $8::bigint[]) WITH ORDINALITY AS u(id, ws, nm, ce, tz, pr, en, "
	       "nx, ord) ORDER BY u.ord ON CONFLICT (workspace_id, name) DO NOTHING RETURNING id",
	.nparams = 9};
/* $1 workspaces, $2 names. Returns the rows (PG_SCHED_COLS, then the 1-based position),
 * locked in the order given. */
static pg_sql Q_SCHED_LOCK = {
	.sql = "SELECT " PG_SCHED_COLS ", u.ord FROM unnest($1::uuid[], $2::text[]) WITH "
	       "ORDINALITY AS u(uw, un, ord) JOIN schedules s ON s.workspace_id = u.uw AND "
	       "s.name = u.un ORDER BY u.ord FOR UPDATE OF s",
	.nparams = 2};
#define SCHED_LOCK_ORD 17 /* the column after PG_SCHED_COLS */
/* $1 ids, $2..$6 the template's fields and next_run_at; $7: now. */
static pg_sql Q_SCHED_UPDATE = {
	.sql = "UPDATE schedules s SET cron_expr = u.ce, timezone = u.tz, prompt = u.pr, "
	       "enabled = u.en, next_run_at = u.nx, updated_at = $7::bigint FROM unnest("
	       "$1::uuid[], $2::text[], $3::text[], $4::text[], $5::smallint[], $6::bigint[]) AS "
	       "u(sid, ce, tz, pr, en, nx) WHERE s.id = u.sid",
	.nparams = 7};
/* $1 workspaces, $2 keys, $3 values, $4 expires_at (NULL: none); $5: now. The row count
 * is the number of keys created. */
static pg_sql Q_MEM_CREATE = {
	.sql = "INSERT INTO memory AS m (workspace_id, key, value, version, expires_at, "
	       "updated_at) SELECT u.ws, u.k, u.v, 1, u.ex, $5::bigint FROM unnest($1::uuid[], "
	       "$2::text[], $3::text[], $4::bigint[]) WITH ORDINALITY AS u(ws, k, v, ex, ord) "
	       "ORDER BY u.ord ON CONFLICT (workspace_id, key) DO UPDATE SET value = "
	       "excluded.value, version = 1, expires_at = excluded.expires_at, updated_at = "
	       "excluded.updated_at WHERE m.expires_at IS NOT NULL AND m.expires_at <= $5::bigint",
	.nparams = 5};

/* ---- array literals ----------------------------------------------------------------- */
/* A one-dimensional array as PostgreSQL reads it from text: {"a","b\"c",NULL}. Every
 * element is quoted, so no content (commas, braces, spaces, the word NULL) is special
 * except " and \, which are escaped with \; an unquoted NULL is SQL NULL. Appends record
 * out-of-memory in the buffer, checked once by arr_close(). */

/* Starts an empty array in b. */
static void arr_open(co_buf *b)
{
	co_buf_reset(b);
	co_buf_putc(b, '{');
}

static void arr_sep(co_buf *b)
{
	if (b->len > 1)
		co_buf_putc(b, ',');
}

/* Appends the string s, or SQL NULL if s is NULL. */
static void arr_text(co_buf *b, const char *s)
{
	arr_sep(b);
	if (!s) {
		co_buf_puts(b, "NULL");
		return;
	}
	co_buf_putc(b, '"');
	for (;;) {
		size_t k = strcspn(s, "\"\\");
		co_buf_append(b, s, k);
		s += k;
		if (!*s)
			break;
		co_buf_putc(b, '\\');
		co_buf_putc(b, *s++);
	}
	co_buf_putc(b, '"');
}

/* Appends v, or SQL NULL if !present. */
static void arr_i64(co_buf *b, bool present, int64_t v)
{
	arr_sep(b);
	if (present)
		co_buf_i64(b, v);
	else
		co_buf_puts(b, "NULL");
}

/* Ends the array: its text, or NULL if an append ran out of memory. */
static const char *arr_close(co_buf *b)
{
	co_buf_putc(b, '}');
	return co_buf_ok(b) ? b->data : NULL;
}

/* ---- one attempt -------------------------------------------------------------------- */

/* A row to write: a workspace, schedule or memory of node `node`, sorted by (scope, name)
 * (note 4). */
typedef struct {
	const char *scope; /* the parent's id (NULL: a root), or the workspace's id */
	const char *name;  /* the workspace's or schedule's name, or the memory's key */
	size_t node;       /* index in plan->nodes */
	const void *item;  /* the co_schedule or co_org_memory (NULL for a workspace) */
} row_ref;

typedef struct {
	const char *id; /* gen[pos] */
	size_t pos;
} id_pos;

/* The working state of one attempt; everything is freed by imp_free(). */
typedef struct {
	pg_conn *c;
	const co_org_plan *plan;
	co_org_result *out;
	co_usec_t now;
	char now_s[24];
	co_buf arr[NARR]; /* the array parameters of the statement being built */
	size_t cap;       /* entries of gen, map, rest and done: max(nodes, schedules, memories) */
	co_id *gen;       /* ids made for a chunk's new rows */
	id_pos *map;      /* gen sorted by id, to find what RETURNING names */
	size_t *rest;     /* positions in the chunk (or list) of rows not inserted */
	bool *done;       /* per position: inserted or found */
	row_ref *ws;      /* every node, by depth, sorted within a depth (note 4) */
	row_ref *sched;   /* every template schedule (sorted once the workspaces are known) */
	size_t nsched;
	row_ref *mem;     /* every initial memory (likewise) */
	size_t nmem;
} imp;

static void imp_free(imp *im)
{
	for (int i = 0; i < NARR; i++)
		co_buf_free(&im->arr[i]);
	free(im->gen);
	free(im->map);
	free(im->rest);
	free(im->done);
	free(im->ws);
	free(im->sched);
	free(im->mem);
}

/* Checks the plan's shape (core/org.h note 5: pre-order, depth = parent's + 1), lists its
 * schedules and memories and allocates the working arrays. CO_EINVAL for a malformed plan,
 * CO_ENOMEM. */
static int imp_init(imp *im)
{
	const co_org_plan *pl = im->plan;
	size_t n = pl->n;
	int maxd = 0;
	for (size_t i = 0; i < n; i++) {
		const co_org_node *nd = &pl->nodes[i];
		int want = 1; /* a top-level node */
		if (nd->parent >= 0)
			want = (size_t)nd->parent < i ? pl->nodes[nd->parent].depth + 1 : -1;
		if (nd->depth != want || !nd->ws.name)
			return co_err_set(CO_EINVAL, "org import: malformed plan at node %zu", i);
		if (nd->depth > maxd)
			maxd = nd->depth;
		im->nsched += nd->nschedules;
		im->nmem += nd->nmemories;
	}
	im->cap = n;
	if (im->nsched > im->cap)
		im->cap = im->nsched;
	if (im->nmem > im->cap)
		im->cap = im->nmem;
	size_t cap = im->cap ? im->cap : 1;
	im->gen = calloc(cap, sizeof *im->gen);
	im->map = calloc(cap, sizeof *im->map);
	im->rest = calloc(cap, sizeof *im->rest);
	im->done = calloc(cap, sizeof *im->done);
	im->ws = calloc(n ? n : 1, sizeof *im->ws);
	im->sched = calloc(im->nsched ? im->nsched : 1, sizeof *im->sched);
	im->mem = calloc(im->nmem ? im->nmem : 1, sizeof *im->mem);
	if (!im->gen || !im->map || !im->rest || !im->done || !im->ws || !im->sched || !im->mem)
		return co_err_set(CO_ENOMEM, "out of memory");
	/* ws: a counting sort by depth; each level is sorted when its parents are known */
	size_t *start = calloc((size_t)maxd + 2, sizeof *start);
	if (!start)
		return co_err_set(CO_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		start[pl->nodes[i].depth + 1]++;
	for (int d = 1; d <= maxd; d++)
		start[d + 1] += start[d];
	for (size_t i = 0; i < n; i++) {
		const co_org_node *nd = &pl->nodes[i];
		im->ws[start[nd->depth]++] = (row_ref){NULL, nd->ws.name, i, NULL};
	}
	free(start);
	size_t s = 0, m = 0;
	for (size_t i = 0; i < n; i++) {
		const co_org_node *nd = &pl->nodes[i];
		for (size_t k = 0; k < nd->nschedules; k++) {
			const co_schedule *t = &nd->schedules[k];
			im->sched[s++] = (row_ref){NULL, t->name, i, t};
		}
		for (size_t k = 0; k < nd->nmemories; k++) {
			const co_org_memory *e = &nd->memories[k];
			im->mem[m++] = (row_ref){NULL, e->key, i, e};
		}
	}
	return CO_OK;
}

/* Closes arrays 0..k-1 into params p[0..k-1]. CO_ENOMEM if one ran out of memory. */
static int arr_params(imp *im, int k, const char **p)
{
	for (int i = 0; i < k; i++)
		if (!(p[i] = arr_close(&im->arr[i])))
			return co_err_set(CO_ENOMEM, "out of memory building an org import");
	return CO_OK;
}

static int cmp_id_pos(const void *a, const void *b)
{
	return strcmp(((const id_pos *)a)->id, ((const id_pos *)b)->id);
}

/* r's column 0 names ids among gen[0..k): sets done[pos] for each, clears the others.
 * CO_EINTERNAL if the database names an id it was not given. */
static int mark_returned(imp *im, PGresult *r, size_t k)
{
	for (size_t j = 0; j < k; j++) {
		im->map[j] = (id_pos){im->gen[j].s, j};
		im->done[j] = false;
	}
	qsort(im->map, k, sizeof *im->map, cmp_id_pos);
	int rows = PQntuples(r);
	for (int i = 0; i < rows; i++) {
		id_pos key = {pg_val(r, i, 0), 0}, *hit = NULL;
		if (key.id)
			hit = bsearch(&key, im->map, k, sizeof *im->map, cmp_id_pos);
		if (!hit)
			return co_err_set(CO_EINTERNAL, "org import: the database returned an id "
							"it was not given");
		im->done[hit->pos] = true;
	}
	return CO_OK;
}

/* The 0-based position named by the 1-based `ord` column of row i, checked against k. */
static int row_pos(PGresult *r, int i, int col, size_t k, size_t *pos)
{
	int64_t ord = pg_ival(r, i, col);
	if (ord < 1 || (uint64_t)ord > k)
		return co_err_set(CO_EINTERNAL, "org import: the database returned a bad position");
	*pos = (size_t)(ord - 1);
	return CO_OK;
}

/* The canonical order of rows (note 4): by scope (NULL first), then name, as bytes. */
static int cmp_row_ref(const void *x, const void *y)
{
	const row_ref *a = x, *b = y;
	int c = !a->scope ? (b->scope ? -1 : 0) : !b->scope ? 1 : strcmp(a->scope, b->scope);
	return c ? c : strcmp(a->name, b->name);
}

/* Sets the scope of rows[0..n) to their node's workspace id and sorts them. */
static void sort_by_workspace(imp *im, row_ref *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rows[i].scope = im->out->nodes[rows[i].node].id.s;
	qsort(rows, n, sizeof *rows, cmp_row_ref);
}

static size_t slen(const char *s) { return s ? strlen(s) : 0; }

/* Estimated parameter bytes (escapes may double a string) of a node, schedule, memory. */
static size_t ws_cost(const co_org_node *nd)
{
	const co_workspace *w = &nd->ws;
	return 2 * (slen(w->name) + slen(w->role) + slen(w->runtime) + slen(w->url)) + 256;
}

static size_t sched_cost(const row_ref *s)
{
	const co_schedule *t = s->item;
	return 2 * (slen(t->name) + slen(t->cron_expr) + slen(t->timezone) + slen(t->prompt)) + 192;
}

static size_t mem_cost(const row_ref *m)
{
	const co_org_memory *e = m->item;
	return 2 * (slen(e->key) + slen(e->value_json)) + 96;
}

/* ---- workspaces --------------------------------------------------------------------- */

/* The parent id text of node nd's workspace (NULL: a root); its parent node is done. */
static const char *parent_of(const imp *im, const co_org_node *nd)
{
	if (nd->parent >= 0)
		return im->out->nodes[nd->parent].id.s;
	return im->plan->has_parent ? im->plan->parent_id.s : NULL;
}

/* Creates or finds the workspaces of rows[0..k) (of one level, in order, scopes set) and
 * records them in out (note 3). PG_ERETRY if one is neither inserted nor found. */
static int ws_chunk(imp *im, const row_ref *rows, size_t k)
{
	const co_org_plan *pl = im->plan;
	co_org_result *out = im->out;
	int rc;
	for (int a = 0; a < 9; a++)
		arr_open(&im->arr[a]);
	for (size_t j = 0; j < k; j++) {
		const co_workspace *w = &pl->nodes[rows[j].node].ws;
		if ((rc = co_id_new(&im->gen[j])))
			return rc;
		arr_text(&im->arr[0], im->gen[j].s);
		arr_text(&im->arr[1], rows[j].scope);
		arr_text(&im->arr[2], w->name);
		arr_text(&im->arr[3], w->role);
		arr_text(&im->arr[4], w->runtime);
		arr_i64(&im->arr[5], w->has_tier, w->tier);
		arr_text(&im->arr[6], w->url);
		arr_i64(&im->arr[7], w->has_max_tasks, w->max_concurrent_tasks);
		arr_text(&im->arr[8], co_ws_status_name(w->status));
	}
	const char *p[10];
	if ((rc = arr_params(im, 9, p)))
		return rc;
	p[9] = im->now_s;
	PGresult *r;
	if ((rc = pg_run(im->c, &Q_WS_INSERT, p, &r)))
		return rc;
	rc = mark_returned(im, r, k);
	PQclear(r);
	if (rc)
		return rc;
	size_t nrest = 0;
	for (size_t j = 0; j < k; j++) {
		co_org_node_result *nr = &out->nodes[rows[j].node];
		if (im->done[j]) {
			nr->id = im->gen[j];
			nr->created = true;
			out->ws_created++;
		} else {
			im->rest[nrest++] = j;
		}
	}
	if (nrest == 0)
		return CO_OK;
	arr_open(&im->arr[0]);
	arr_open(&im->arr[1]);
	for (size_t q = 0; q < nrest; q++) {
		const row_ref *w = &rows[im->rest[q]];
		arr_text(&im->arr[0], w->scope);
		arr_text(&im->arr[1], w->name);
	}
	if ((rc = arr_params(im, 2, p)))
		return rc;
	if ((rc = pg_run(im->c, &Q_WS_HOLDERS, p, &r)))
		return rc;
	int found = PQntuples(r);
	for (int i = 0; rc == CO_OK && i < found; i++) {
		size_t q = 0;
		if ((rc = row_pos(r, i, 0, nrest, &q)))
			break;
		size_t j = im->rest[q];
		if (im->done[j]) {
			rc = co_err_set(CO_EINTERNAL, "org import: two live holders of a name");
			break;
		}
		im->done[j] = true;
		pg_id(r, i, 1, &out->nodes[rows[j].node].id);
		out->ws_reused++;
	}
	PQclear(r);
	if (rc == CO_OK && (size_t)found != nrest)
		rc = co_err_set(PG_ERETRY, "org import: a workspace's holder went away; retrying");
	return rc;
}

/* Every node's workspace, level by level, in chunks. */
static int ws_import(imp *im)
{
	const co_org_plan *pl = im->plan;
	size_t n = pl->n;
	row_ref *ws = im->ws;
	for (size_t lo = 0; lo < n;) {
		/* one level: ws[lo..end), its parents done */
		int depth = pl->nodes[ws[lo].node].depth;
		size_t end = lo;
		for (; end < n && pl->nodes[ws[end].node].depth == depth; end++)
			ws[end].scope = parent_of(im, &pl->nodes[ws[end].node]);
		qsort(ws + lo, end - lo, sizeof *ws, cmp_row_ref);
		while (lo < end) {
			size_t hi = lo + 1, bytes = ws_cost(&pl->nodes[ws[lo].node]);
			while (hi < end &&
			       (bytes += ws_cost(&pl->nodes[ws[hi].node])) <= PG_ORG_CHUNK_BYTES)
				hi++;
			int rc = ws_chunk(im, ws + lo, hi - lo);
			if (rc)
				return rc;
			lo = hi;
		}
	}
	return CO_OK;
}

/* ---- schedules ---------------------------------------------------------------------- */

/* Inserts the schedules sched[lo..lo+k) that do not exist yet; appends the positions of
 * the others to rest[*nrest…]. */
static int sched_insert_chunk(imp *im, size_t lo, size_t k, size_t *nrest)
{
	int rc;
	for (int a = 0; a < 8; a++)
		arr_open(&im->arr[a]);
	for (size_t j = 0; j < k; j++) {
		const row_ref *s = &im->sched[lo + j];
		const co_schedule *t = s->item;
		if ((rc = co_id_new(&im->gen[j])))
			return rc;
		arr_text(&im->arr[0], im->gen[j].s);
		arr_text(&im->arr[1], s->scope);
		arr_text(&im->arr[2], t->name);
		arr_text(&im->arr[3], t->cron_expr);
		arr_text(&im->arr[4], t->timezone);
		arr_text(&im->arr[5], t->prompt);
		arr_i64(&im->arr[6], true, t->enabled ? 1 : 0);
		co_usec_t next;
		if ((rc = co_org_sched_first_next(t, im->now, &next)))
			return rc;
		arr_i64(&im->arr[7], next != 0, next);
	}
	const char *p[9];
	if ((rc = arr_params(im, 8, p)))
		return rc;
	p[8] = im->now_s;
	PGresult *r;
	if ((rc = pg_run(im->c, &Q_SCHED_INSERT, p, &r)))
		return rc;
	rc = mark_returned(im, r, k);
	PQclear(r);
	if (rc)
		return rc;
	for (size_t j = 0; j < k; j++) {
		if (im->done[j])
			im->out->sched_created++;
		else
			im->rest[(*nrest)++] = lo + j;
	}
	return CO_OK;
}

/* The existing schedules sched[ids[0..k)]: locks them, merges each with its template
 * schedule (co_org_sched_merge) and writes back those it changed (note 5). PG_ERETRY if
 * one is gone. */
static int sched_merge_chunk(imp *im, const size_t *ids, size_t k)
{
	co_org_result *out = im->out;
	int rc;
	arr_open(&im->arr[0]);
	arr_open(&im->arr[1]);
	for (size_t j = 0; j < k; j++) {
		const row_ref *s = &im->sched[ids[j]];
		arr_text(&im->arr[0], s->scope);
		arr_text(&im->arr[1], s->name);
		im->done[j] = false;
	}
	const char *p[7];
	if ((rc = arr_params(im, 2, p)))
		return rc;
	PGresult *r;
	if ((rc = pg_run(im->c, &Q_SCHED_LOCK, p, &r)))
		return rc;
	/* the UPDATE's arrays: ids, cron_expr, timezone, prompt, enabled, next_run_at */
	for (int a = 2; a < 8; a++)
		arr_open(&im->arr[a]);
	size_t nupd = 0;
	int rows = PQntuples(r);
	for (int i = 0; rc == CO_OK && i < rows; i++) {
		size_t j = 0;
		if ((rc = row_pos(r, i, SCHED_LOCK_ORD, k, &j)))
			break;
		if (im->done[j]) {
			rc = co_err_set(CO_EINTERNAL, "org import: two schedules hold one name");
			break;
		}
		im->done[j] = true;
		co_schedule cur;
		if ((rc = pg_sched_read(r, i, &cur)))
			break;
		co_org_sched_action act;
		rc = co_org_sched_merge(&cur, im->sched[ids[j]].item, im->now, &act);
		if (rc == CO_OK) {
			switch (act) {
			case CO_ORG_SCHED_UNCHANGED:
				out->sched_unchanged++;
				break;
			case CO_ORG_SCHED_KEPT_RUNTIME:
				out->sched_kept_runtime++;
				break;
			case CO_ORG_SCHED_UPDATED:
				out->sched_updated++;
				nupd++;
				arr_text(&im->arr[2], cur.id.s);
				arr_text(&im->arr[3], cur.cron_expr);
				arr_text(&im->arr[4], cur.timezone);
				arr_text(&im->arr[5], cur.prompt);
				arr_i64(&im->arr[6], true, cur.enabled ? 1 : 0);
				arr_i64(&im->arr[7], cur.next_run_at != 0, cur.next_run_at);
				break;
			}
		}
		co_schedule_clear(&cur);
	}
	PQclear(r);
	if (rc)
		return rc;
	if ((size_t)rows != k)
		return co_err_set(PG_ERETRY, "org import: a schedule went away; retrying");
	if (nupd == 0)
		return CO_OK;
	for (int a = 2; a < 8; a++)
		if (!(p[a - 2] = arr_close(&im->arr[a])))
			return co_err_set(CO_ENOMEM, "out of memory building an org import");
	p[6] = im->now_s;
	if ((rc = pg_run(im->c, &Q_SCHED_UPDATE, p, &r)))
		return rc;
	int64_t n = strtoll(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	if (n != (int64_t)nupd)
		return co_err_set(CO_EINTERNAL, "org import: updated %lld schedules of %zu",
				  (long long)n, nupd);
	return CO_OK;
}

/* Every template schedule: inserted, or merged into the row of its name (note 5). */
static int sched_import(imp *im)
{
	size_t m = im->nsched, nrest = 0;
	sort_by_workspace(im, im->sched, m);
	for (size_t lo = 0; lo < m;) {
		size_t hi = lo + 1, bytes = sched_cost(&im->sched[lo]);
		while (hi < m && (bytes += sched_cost(&im->sched[hi])) <= PG_ORG_CHUNK_BYTES)
			hi++;
		int rc = sched_insert_chunk(im, lo, hi - lo, &nrest);
		if (rc)
			return rc;
		lo = hi;
	}
	/* rest[0..nrest) now lists the schedules that exist (indices into sched, in order) */
	for (size_t lo = 0; lo < nrest;) {
		size_t hi = lo + 1, bytes = sched_cost(&im->sched[im->rest[lo]]);
		while (hi < nrest &&
		       (bytes += sched_cost(&im->sched[im->rest[hi]])) <= PG_ORG_CHUNK_BYTES)
			hi++;
		int rc = sched_merge_chunk(im, im->rest + lo, hi - lo);
		if (rc)
			return rc;
		lo = hi;
	}
	return CO_OK;
}

/* ---- memories ----------------------------------------------------------------------- */

/* Every initial memory, created where its key is absent or expired (note 6). */
static int mem_import(imp *im)
{
	size_t m = im->nmem;
	int64_t created = 0;
	sort_by_workspace(im, im->mem, m);
	for (size_t lo = 0; lo < m;) {
		size_t hi = lo + 1, bytes = mem_cost(&im->mem[lo]);
		while (hi < m && (bytes += mem_cost(&im->mem[hi])) <= PG_ORG_CHUNK_BYTES)
			hi++;
		for (int a = 0; a < 4; a++)
			arr_open(&im->arr[a]);
		for (size_t j = lo; j < hi; j++) {
			const row_ref *ref = &im->mem[j];
			const co_org_memory *e = ref->item;
			int64_t ttl = e->ttl_seconds, exp = 0;
			if (ttl > 0 && ttl > (INT64_MAX - im->now) / 1000000)
				exp = INT64_MAX;
			else if (ttl > 0)
				exp = im->now + ttl * 1000000;
			arr_text(&im->arr[0], ref->scope);
			arr_text(&im->arr[1], e->key);
			arr_text(&im->arr[2], e->value_json);
			arr_i64(&im->arr[3], ttl > 0, exp);
		}
		const char *p[5];
		int rc = arr_params(im, 4, p);
		if (rc)
			return rc;
		p[4] = im->now_s;
		PGresult *r;
		if ((rc = pg_run(im->c, &Q_MEM_CREATE, p, &r)))
			return rc;
		created += strtoll(PQcmdTuples(r), NULL, 10);
		PQclear(r);
		lo = hi;
	}
	im->out->mem_created = created;
	im->out->mem_kept = (int64_t)m - created;
	return CO_OK;
}

/* ---- the transaction ---------------------------------------------------------------- */

struct import_args {
	const co_org_plan *plan;
	bool dry_run;
	co_org_result *out;
};

/* A graft's parent must exist and be live; FOR SHARE keeps it so until we commit. */
static int check_graft_parent(pg_conn *c, const co_id *parent)
{
	co_conflict cf;
	memset(&cf, 0, sizeof cf);
	int rc = pg_check_ws_writable(c, parent, &cf);
	co_conflict_clear(&cf);
	if (rc == CO_ENOTFOUND)
		return co_err_set(CO_ENOTFOUND, "parent workspace %s not found", parent->s);
	if (rc == CO_ECONFLICT)
		return co_err_set(CO_ENOTFOUND, "parent workspace %s is removed", parent->s);
	return rc;
}

/* One attempt (pg_in_tx's fn): the whole import; PG_DRYRUN instead of CO_OK in a dry run
 * so that pg_in_tx rolls it back. */
static int tx_import(pg_conn *c, void *arg)
{
	struct import_args *a = arg;
	int rc = co_org_result_reset(a->out, a->plan->n);
	if (rc)
		return rc;
	imp im;
	memset(&im, 0, sizeof im);
	im.c = c;
	im.plan = a->plan;
	im.out = a->out;
	im.now = co_clock_now_us();
	pg_i64(im.now_s, im.now);
	rc = imp_init(&im);
	if (rc == CO_OK)
		rc = pg_tree_lock(c, false);
	if (rc == CO_OK && a->plan->has_parent)
		rc = check_graft_parent(c, &a->plan->parent_id);
	if (rc == CO_OK)
		rc = ws_import(&im);
	if (rc == CO_OK)
		rc = sched_import(&im);
	if (rc == CO_OK)
		rc = mem_import(&im);
	imp_free(&im);
	if (rc == CO_OK && a->dry_run)
		rc = co_err_set(PG_DRYRUN, "dry run: rolled back");
	return rc;
}

int pg_org_import(co_store *s, const co_org_plan *plan, bool dry_run, co_org_result *out)
{
	struct import_args a = {plan, dry_run, out};
	int rc = pg_in_tx((pg_store *)s, tx_import, &a);
	if (rc == PG_DRYRUN && dry_run)
		rc = CO_OK;
	return rc;
}
