/*
 * test_conformance_sched.c — the storage contract (src/store/store.h) for schedules and
 * the inbox, run against a backend.
 *
 * Usage: test_store_sched [--postgres | URL]. Without an argument it runs against a fresh
 * SQLite file in a temp directory; --postgres makes a fresh database on the test server
 * named by COLONY_TEST_PG (exit 77, "skipped", if unset). Every backend passes this file.
 * Tests call the store interface directly (no HTTP), use real threads for the concurrency
 * claims (atomics in the threads, asserts only after join), and move the clock with
 * co_clock_set_override() instead of sleeping.
 */
#include "../../src/core/err.h"
#include "../../src/store/store.h"
#include "store_kit.h"
#include "../pgtmp.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#define SEC 1000000LL
#define T0 1893456000000000LL /* 2030-01-01T00:00:00Z, a Tuesday */

/* Rows of schedule_runs of schedule sid, read from the database itself (what the API can
 * no longer show once the schedule is gone). */
static long long runs_in_db(const co_id *sid)
{
	long long n = -1;
	if (is_sqlite) {
		sqlite3 *db;
		assert_int_equal(sqlite3_open_v2(url, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
		sqlite3_stmt *q;
		const char *sql = "SELECT COUNT(*) FROM schedule_runs WHERE schedule_id = ?1";
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
		sqlite3_bind_text(q, 1, sid->s, -1, SQLITE_STATIC);
		if (sqlite3_step(q) == SQLITE_ROW)
			n = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
		sqlite3_close(db);
	} else {
		PGconn *c = PQconnectdb(url);
		assert_int_equal(PQstatus(c), CONNECTION_OK);
		const char *p[] = {sid->s};
		const char *sql = "SELECT COUNT(*) FROM schedule_runs WHERE schedule_id = $1::uuid";
		PGresult *r = PQexecParams(c, sql, 1, NULL, p, NULL, NULL, 0);
		if (PQresultStatus(r) == PGRES_TUPLES_OK)
			n = atoll(PQgetvalue(r, 0, 0));
		PQclear(r);
		PQfinish(c);
	}
	return n;
}

/* ---- schedule helpers ---------------------------------------------------------------- */

/* Creates a schedule as the API does: next_run_at from the (overridden) now. */
static int sched_create(const co_id *ws, const char *name, const char *cron, const char *prompt,
			bool enabled, co_schedule *out, co_conflict *c)
{
	co_schedule in = {0};
	in.workspace_id = *ws;
	in.name = (char *)name;
	in.cron_expr = (char *)cron;
	in.timezone = (char *)"UTC";
	in.prompt = (char *)prompt;
	in.enabled = enabled;
	in.source = CO_SCHED_RUNTIME;
	assert_int_equal(co_sched_init_next(&in, co_clock_now_us()), CO_OK);
	return CALL(sched_create, &in, out, c); /* `in` owns nothing: not cleared */
}

static co_id mk_sched(const co_id *ws, const char *name, const char *cron, const char *prompt)
{
	co_schedule out = {0};
	co_conflict c = {0};
	int rc = sched_create(ws, name, cron, prompt, true, &out, &c);
	if (rc)
		fail_msg("create schedule %s: %d %s", name, rc, co_err_msg());
	co_id id = out.id;
	co_schedule_clear(&out);
	co_conflict_clear(&c);
	return id;
}

/* The scheduler's fire of the row it read: its slot, expression and zone, and the slot
 * after it. */
static int fire_cron(const co_schedule *row, co_usec_t now, co_sched_fired *out, co_conflict *c)
{
	co_usec_t next = 0;
	assert_int_equal(co_sched_next(row, row->next_run_at, &next), CO_OK);
	co_sched_fire f = {.schedule_id = row->id,
			   .slot = row->next_run_at,
			   .cron_expr = row->cron_expr,
			   .timezone = row->timezone,
			   .next_run_at = next,
			   .now = now};
	return CALL(sched_fire, &f, out, c);
}

static int fire_manual(const co_id *ws, const co_id *sid, co_usec_t now, co_sched_fired *out,
		       co_conflict *c)
{
	co_sched_fire f = {.schedule_id = *sid, .workspace_id = *ws, .manual = true, .now = now};
	return CALL(sched_fire, &f, out, c);
}

/* Fires manually, asserting success; returns the run. */
static co_sched_run fire_manual_ok(const co_id *ws, const co_id *sid, co_usec_t now)
{
	co_sched_fired out = {0};
	co_conflict c = {0};
	int rc = fire_manual(ws, sid, now, &out, &c);
	if (rc)
		fail_msg("manual fire: %d %s", rc, co_err_msg());
	co_sched_run run = out.run;
	run.status = NULL;
	run.error = NULL;
	co_sched_fired_clear(&out);
	co_conflict_clear(&c);
	return run;
}

static size_t history_n(const co_id *ws, const co_id *sid)
{
	co_page p = {.limit = 1000};
	co_sched_run_list l = {0};
	assert_int_equal(CALL(sched_history, ws, sid, &p, &l), CO_OK);
	size_t n = l.n;
	co_sched_run_list_clear(&l);
	return n;
}

static size_t inbox_n(const co_id *ws)
{
	co_inbox_filter f = {.limit = 1000};
	co_inbox_list l = {0};
	assert_int_equal(CALL(inbox_list, ws, &f, &l), CO_OK);
	size_t n = l.n;
	co_inbox_list_clear(&l);
	return n;
}

/* Is sid among the schedules due at `now`? Checks the whole answer against the contract:
 * each item enabled with next_run_at in (0, now], oldest slot first. */
static bool due_has(co_usec_t now, const co_id *sid)
{
	co_sched_list l = {0};
	assert_int_equal(CALL(sched_due, now, 10000, &l), CO_OK);
	bool found = false;
	for (size_t i = 0; i < l.n; i++) {
		const co_schedule *s = &l.items[i];
		if (!s->enabled || s->next_run_at == 0 || s->next_run_at > now)
			fail_msg("sched_due(%lld) returned %s: enabled %d next_run_at %lld",
				 (long long)now, s->name, s->enabled, (long long)s->next_run_at);
		if (i > 0 && s->next_run_at < l.items[i - 1].next_run_at)
			fail_msg("sched_due is not oldest slot first at %zu", i);
		if (!strcmp(s->id.s, sid->s))
			found = true;
	}
	co_sched_list_clear(&l);
	return found;
}

/* ---- 1. CRUD --------------------------------------------------------------------------- */

static void test_sched_crud(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id ws = kit_mk_root("sc-crud"), ws2 = kit_mk_root("sc-crud-2");
	co_schedule s = {0};
	co_conflict c = {0};
	assert_int_equal(sched_create(&ws, "a", "*/5 * * * *", "hello", true, &s, &c), CO_OK);
	co_id a = s.id;
	assert_string_equal(s.workspace_id.s, ws.s);
	assert_string_equal(s.name, "a");
	assert_string_equal(s.cron_expr, "*/5 * * * *");
	assert_string_equal(s.timezone, "UTC");
	assert_string_equal(s.prompt, "hello");
	assert_true(s.enabled);
	assert_int_equal(s.source, CO_SCHED_RUNTIME);
	assert_int_equal(s.next_run_at, 1893456300000000LL); /* 00:05 */
	assert_int_equal(s.last_run_at, 0);
	assert_int_equal(s.run_count, 0);
	assert_null(s.last_status);
	assert_null(s.last_error);
	assert_int_equal(s.consecutive_empty_runs, 0);
	assert_false(s.has_last_run);
	assert_int_equal(s.created_at, T0);
	assert_int_equal(s.updated_at, T0);
	co_schedule_clear(&s);

	kit_get_sched(&ws, &a, &s);
	assert_string_equal(s.id.s, a.s);
	assert_string_equal(s.name, "a");
	assert_string_equal(s.prompt, "hello");
	assert_int_equal(s.next_run_at, 1893456300000000LL);
	assert_int_equal(s.source, CO_SCHED_RUNTIME);
	co_schedule_clear(&s);

	/* created disabled: no slot */
	assert_int_equal(sched_create(&ws2, "off", "*/5 * * * *", "p", false, &s, &c), CO_OK);
	assert_false(s.enabled);
	assert_int_equal(s.next_run_at, 0);
	co_id off = s.id;
	co_schedule_clear(&s);
	kit_get_sched(&ws2, &off, &s);
	assert_false(s.enabled);
	assert_int_equal(s.next_run_at, 0);
	co_schedule_clear(&s);
	assert_int_equal(CALL(sched_delete, &ws2, &off), CO_OK);

	/* not ws2's; not anyone's */
	assert_int_equal(CALL(sched_get, &ws2, &a, &s), CO_ENOTFOUND);
	co_schedule_clear(&s);
	co_id nobody = kit_absent_id();
	assert_int_equal(CALL(sched_get, &ws, &nobody, &s), CO_ENOTFOUND);
	co_schedule_clear(&s);

	/* list pages by id */
	co_id b = mk_sched(&ws, "b", "*/5 * * * *", "p");
	co_id cc = mk_sched(&ws, "c", "*/5 * * * *", "p");
	assert_true(strcmp(a.s, b.s) < 0 && strcmp(b.s, cc.s) < 0);
	co_page pg = {.limit = 2};
	co_sched_list l = {0};
	assert_int_equal(CALL(sched_list, &ws, &pg, &l), CO_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.items[0].id.s, a.s);
	assert_string_equal(l.items[1].id.s, b.s);
	co_sched_list_clear(&l);
	pg.has_after = true;
	pg.after = b;
	assert_int_equal(CALL(sched_list, &ws, &pg, &l), CO_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].id.s, cc.s);
	assert_string_equal(l.items[0].name, "c");
	co_sched_list_clear(&l);
	pg.after = cc;
	assert_int_equal(CALL(sched_list, &ws, &pg, &l), CO_OK);
	assert_int_equal(l.n, 0);
	co_sched_list_clear(&l);
	co_page all = {.limit = 100};
	assert_int_equal(CALL(sched_list, &ws2, &all, &l), CO_OK);
	assert_int_equal(l.n, 0);
	co_sched_list_clear(&l);
	assert_int_equal(CALL(sched_list, &nobody, &all, &l), CO_ENOTFOUND);
	co_sched_list_clear(&l);

	/* rename: next_run_at stays */
	co_clock_set_override(T0 + 100 * SEC);
	co_sched_patch p = {.fields = CO_SCHF_NAME};
	p.v.name = "a2";
	assert_int_equal(CALL(sched_patch, &ws, &a, &p, &s, &c), CO_OK);
	assert_string_equal(s.name, "a2");
	assert_string_equal(s.cron_expr, "*/5 * * * *");
	assert_int_equal(s.next_run_at, 1893456300000000LL);
	assert_int_equal(s.updated_at, T0 + 100 * SEC);
	assert_int_equal(s.created_at, T0);
	co_schedule_clear(&s);

	/* a new expression: next_run_at from the (overridden) now */
	p = (co_sched_patch){.fields = CO_SCHF_CRON};
	p.v.cron_expr = "0 * * * *";
	assert_int_equal(CALL(sched_patch, &ws, &a, &p, &s, &c), CO_OK);
	assert_string_equal(s.cron_expr, "0 * * * *");
	assert_string_equal(s.name, "a2");
	assert_int_equal(s.next_run_at, 1893459600000000LL); /* 01:00 */
	co_schedule_clear(&s);
	kit_get_sched(&ws, &a, &s);
	assert_string_equal(s.cron_expr, "0 * * * *");
	assert_int_equal(s.next_run_at, 1893459600000000LL);
	co_schedule_clear(&s);

	/* disable: no next slot */
	p = (co_sched_patch){.fields = CO_SCHF_ENABLED};
	p.v.enabled = false;
	assert_int_equal(CALL(sched_patch, &ws, &a, &p, &s, &c), CO_OK);
	assert_false(s.enabled);
	assert_int_equal(s.next_run_at, 0);
	co_schedule_clear(&s);
	kit_get_sched(&ws, &a, &s);
	assert_false(s.enabled);
	assert_int_equal(s.next_run_at, 0);
	co_schedule_clear(&s);

	/* enable at 01:06:40: the next slot from now (02:00), no burst of missed ones */
	co_clock_set_override(T0 + 4000 * SEC);
	p.v.enabled = true;
	assert_int_equal(CALL(sched_patch, &ws, &a, &p, &s, &c), CO_OK);
	assert_true(s.enabled);
	assert_int_equal(s.next_run_at, 1893463200000000LL);
	co_schedule_clear(&s);

	/* rename onto a taken name */
	p = (co_sched_patch){.fields = CO_SCHF_NAME};
	p.v.name = "b";
	assert_int_equal(CALL(sched_patch, &ws, &a, &p, &s, &c), CO_EEXISTS);
	assert_int_equal(c.kind, CO_CONFLICT_NAME_TAKEN);
	assert_string_equal(c.existing_id.s, b.s);
	co_conflict_clear(&c);
	co_schedule_clear(&s);
	kit_get_sched(&ws, &a, &s);
	assert_string_equal(s.name, "a2");
	co_schedule_clear(&s);

	/* duplicate name in one workspace; the same name in another is fine */
	assert_int_equal(sched_create(&ws, "b", "*/5 * * * *", "x", true, &s, &c), CO_EEXISTS);
	assert_int_equal(c.kind, CO_CONFLICT_NAME_TAKEN);
	assert_string_equal(c.existing_id.s, b.s);
	co_conflict_clear(&c);
	co_schedule_clear(&s);
	assert_int_equal(sched_create(&ws2, "b", "*/5 * * * *", "x", true, &s, &c), CO_OK);
	assert_string_equal(s.workspace_id.s, ws2.s);
	assert_string_not_equal(s.id.s, b.s);
	co_schedule_clear(&s);
	co_conflict_clear(&c);

	/* delete */
	assert_int_equal(CALL(sched_delete, &ws2, &a), CO_ENOTFOUND); /* not ws2's */
	assert_int_equal(CALL(sched_delete, &ws, &a), CO_OK);
	assert_int_equal(CALL(sched_get, &ws, &a, &s), CO_ENOTFOUND);
	co_schedule_clear(&s);
	assert_int_equal(CALL(sched_delete, &ws, &a), CO_ENOTFOUND);
	p = (co_sched_patch){.fields = CO_SCHF_NAME};
	p.v.name = "zz";
	assert_int_equal(CALL(sched_patch, &ws, &a, &p, &s, &c), CO_ENOTFOUND);
	co_schedule_clear(&s);
	co_conflict_clear(&c);
	/* its name is free again */
	assert_int_equal(sched_create(&ws, "a2", "*/5 * * * *", "x", true, &s, &c), CO_OK);
	co_schedule_clear(&s);
	co_conflict_clear(&c);

	/* a removed workspace: create and patch are REMOVED conflicts */
	co_id ws3 = kit_mk_root("sc-crud-3");
	co_id d = mk_sched(&ws3, "d", "*/5 * * * *", "p");
	kit_rm_ws(&ws3);
	assert_int_equal(sched_create(&ws3, "e", "*/5 * * * *", "p", true, &s, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_REMOVED);
	co_conflict_clear(&c);
	co_schedule_clear(&s);
	p = (co_sched_patch){.fields = CO_SCHF_PROMPT};
	p.v.prompt = "q";
	assert_int_equal(CALL(sched_patch, &ws3, &d, &p, &s, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_REMOVED);
	co_conflict_clear(&c);
	co_schedule_clear(&s);

	/* an absent workspace */
	assert_int_equal(sched_create(&nobody, "f", "*/5 * * * *", "p", true, &s, &c), CO_ENOTFOUND);
	co_conflict_clear(&c);
	co_schedule_clear(&s);
}

/* ---- 16 threads create one schedule name --------------------------------------------- */

#define N_RACE 16

struct targ {
	void *shared;
	int i;
};

static void run_threads(int n, void *(*fn)(void *), void *shared, pthread_barrier_t *go)
{
	pthread_t tid[N_RACE];
	struct targ args[N_RACE];
	assert_true(n <= N_RACE);
	pthread_barrier_init(go, NULL, (unsigned)n);
	for (int i = 0; i < n; i++) {
		args[i] = (struct targ){shared, i};
		assert_int_equal(pthread_create(&tid[i], NULL, fn, &args[i]), 0);
	}
	for (int i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	pthread_barrier_destroy(go);
}

struct sched_create_race {
	pthread_barrier_t go;
	co_id ws;
	int rc[N_RACE];
	co_conflict_kind kind[N_RACE];
	co_id id[N_RACE];
};

static void *sched_create_thread(void *p)
{
	struct targ *t = p;
	struct sched_create_race *r = t->shared;
	co_schedule in = {.workspace_id = r->ws,
			  .name = "same-name",
			  .cron_expr = "*/5 * * * *",
			  .timezone = "UTC",
			  .prompt = "p",
			  .enabled = true,
			  .source = CO_SCHED_RUNTIME,
			  .next_run_at = T0 + 300 * SEC};
	co_schedule out = {0};
	co_conflict c = {0};
	pthread_barrier_wait(&r->go);
	r->rc[t->i] = CALL(sched_create, &in, &out, &c);
	r->kind[t->i] = c.kind;
	r->id[t->i] = r->rc[t->i] == CO_OK ? out.id : c.existing_id;
	co_schedule_clear(&out);
	co_conflict_clear(&c);
	return NULL;
}

static void test_sched_create_race_one_winner(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	static struct sched_create_race r;
	r.ws = kit_mk_root("sc-race");
	run_threads(N_RACE, sched_create_thread, &r, &r.go);
	int ok = 0, exists = 0, w = -1;
	for (int i = 0; i < N_RACE; i++) {
		if (r.rc[i] == CO_OK) {
			ok++;
			w = i;
		} else if (r.rc[i] == CO_EEXISTS && r.kind[i] == CO_CONFLICT_NAME_TAKEN) {
			exists++;
		} else {
			fail_msg("thread %d: rc %d kind %d", i, r.rc[i], r.kind[i]);
		}
	}
	assert_int_equal(ok, 1);
	assert_int_equal(exists, N_RACE - 1);
	for (int i = 0; i < N_RACE; i++)
		assert_string_equal(r.id[i].s, r.id[w].s);
	co_page pg = {.limit = 100};
	co_sched_list l = {0};
	assert_int_equal(CALL(sched_list, &r.ws, &pg, &l), CO_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].id.s, r.id[w].s);
	co_sched_list_clear(&l);
}

/* ---- 2. firing ------------------------------------------------------------------------- */

static void test_sched_due(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id ws = kit_mk_root("due");
	co_id s5 = mk_sched(&ws, "five", "*/5 * * * *", "p");  /* 00:05 */
	co_id s10 = mk_sched(&ws, "ten", "*/10 * * * *", "p"); /* 00:10 */
	/* disabled, but with a slot written: never due */
	co_schedule in = {.workspace_id = ws,
			  .name = "off",
			  .cron_expr = "*/5 * * * *",
			  .timezone = "UTC",
			  .prompt = "p",
			  .enabled = false,
			  .source = CO_SCHED_RUNTIME,
			  .next_run_at = T0 + 300 * SEC};
	co_schedule out = {0};
	co_conflict c = {0};
	assert_int_equal(CALL(sched_create, &in, &out, &c), CO_OK);
	co_id off = out.id;
	co_schedule_clear(&out);
	/* one of a workspace that then goes */
	co_id gone = kit_mk_root("due-gone");
	co_id sg = mk_sched(&gone, "g", "*/5 * * * *", "p");
	/* disabled by PATCH */
	co_id sp = mk_sched(&ws, "patched-off", "*/5 * * * *", "p");
	co_sched_patch p = {.fields = CO_SCHF_ENABLED};
	p.v.enabled = false;
	assert_int_equal(CALL(sched_patch, &ws, &sp, &p, &out, &c), CO_OK);
	co_schedule_clear(&out);

	assert_true(due_has(T0 + 300 * SEC, &sg));
	kit_rm_ws(&gone);

	assert_false(due_has(T0 + 300 * SEC - 1, &s5));
	assert_true(due_has(T0 + 300 * SEC, &s5));
	assert_false(due_has(T0 + 300 * SEC, &s10));
	assert_true(due_has(T0 + 600 * SEC, &s10));
	assert_true(due_has(T0 + 600 * SEC, &s5));
	assert_false(due_has(T0 + 86400 * SEC, &off));
	assert_false(due_has(T0 + 86400 * SEC, &sg));
	assert_false(due_has(T0 + 86400 * SEC, &sp));

	/* order: five's slot (00:05) before ten's (00:10) */
	co_sched_list l = {0};
	assert_int_equal(CALL(sched_due, T0 + 600 * SEC, 10000, &l), CO_OK);
	int i5 = -1, i10 = -1;
	for (size_t i = 0; i < l.n; i++) {
		if (!strcmp(l.items[i].id.s, s5.s))
			i5 = (int)i;
		if (!strcmp(l.items[i].id.s, s10.s))
			i10 = (int)i;
	}
	assert_true(i5 >= 0 && i10 > i5);
	assert_int_equal(l.items[i5].next_run_at, 1893456300000000LL);
	assert_int_equal(l.items[i10].next_run_at, 1893456600000000LL);
	co_sched_list_clear(&l);
	/* the limit is kept */
	assert_int_equal(CALL(sched_due, T0 + 600 * SEC, 1, &l), CO_OK);
	assert_int_equal(l.n, 1);
	co_sched_list_clear(&l);
}

static void test_sched_fire_cron(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id ws = kit_mk_root("fire"), other = kit_mk_root("fire-other");
	co_id sid = mk_sched(&ws, "report", "*/5 * * * *", "run the report");
	co_schedule row = {0};
	kit_get_sched(&ws, &sid, &row);
	assert_int_equal(row.next_run_at, 1893456300000000LL);

	co_usec_t now1 = T0 + 302 * SEC;
	co_clock_set_override(now1);
	co_sched_fired fired = {0};
	co_conflict c = {0};
	assert_int_equal(fire_cron(&row, now1, &fired, &c), CO_OK);
	co_sched_run run1 = fired.run;
	assert_false(fired.run.manual);
	assert_int_equal(fired.run.slot_at, 1893456300000000LL);
	assert_int_equal(fired.run.fired_at, now1);
	assert_string_equal(fired.run.schedule_id.s, sid.s);
	assert_string_equal(fired.run.workspace_id.s, ws.s);
	assert_true(co_id_valid(fired.run.id.s));
	assert_true(co_id_valid(fired.run.message_id.s));
	assert_string_equal(fired.run.status, "fired");
	assert_string_equal(fired.prompt, "run the report");
	assert_string_equal(fired.schedule_name, "report");
	assert_null(fired.url);
	co_sched_fired_clear(&fired);

	co_schedule s = {0};
	kit_get_sched(&ws, &sid, &s);
	assert_int_equal(s.run_count, 1);
	assert_string_equal(s.last_status, "fired");
	assert_null(s.last_error);
	assert_int_equal(s.last_run_at, now1);
	assert_int_equal(s.next_run_at, 1893456600000000LL); /* 00:10 */
	assert_true(s.has_last_run);
	assert_string_equal(s.last_run_id.s, run1.id.s);
	assert_string_equal(s.prompt, "run the report");
	assert_true(s.enabled);
	co_schedule_clear(&s);

	/* the same fire again: refused, nothing changed */
	assert_int_equal(fire_cron(&row, now1 + SEC, &fired, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_STATE);
	co_conflict_clear(&c);
	co_sched_fired_clear(&fired);
	kit_get_sched(&ws, &sid, &s);
	assert_int_equal(s.run_count, 1);
	assert_int_equal(s.last_run_at, now1);
	assert_int_equal(s.next_run_at, 1893456600000000LL);
	assert_string_equal(s.last_run_id.s, run1.id.s);
	co_schedule_clear(&s);
	assert_int_equal(history_n(&ws, &sid), 1);
	assert_int_equal(inbox_n(&ws), 1);
	co_schedule_clear(&row);

	/* the message */
	co_inbox_filter f = {.limit = 100};
	co_inbox_list l = {0};
	assert_int_equal(CALL(inbox_list, &ws, &f, &l), CO_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].id.s, run1.message_id.s);
	assert_string_equal(l.items[0].workspace_id.s, ws.s);
	assert_int_equal(l.items[0].source, CO_INBOX_SRC_SCHEDULE);
	assert_string_equal(l.items[0].body_json, "\"run the report\"");
	assert_true(l.items[0].has_schedule);
	assert_string_equal(l.items[0].schedule_id.s, sid.s);
	assert_string_equal(l.items[0].run_id.s, run1.id.s);
	assert_int_equal(l.items[0].status, CO_INBOX_QUEUED);
	assert_int_equal(l.items[0].attempts, 0);
	assert_true(l.items[0].max_attempts >= 1);
	co_inbox_list_clear(&l);

	/* the next slot */
	kit_get_sched(&ws, &sid, &row);
	co_usec_t now2 = T0 + 601 * SEC;
	co_clock_set_override(now2);
	assert_int_equal(fire_cron(&row, now2, &fired, &c), CO_OK);
	co_sched_run run2 = fired.run;
	assert_int_equal(fired.run.slot_at, 1893456600000000LL);
	run2.status = NULL;
	co_sched_fired_clear(&fired);
	co_schedule_clear(&row);
	kit_get_sched(&ws, &sid, &s);
	assert_int_equal(s.run_count, 2);
	assert_int_equal(s.next_run_at, 1893456900000000LL); /* 00:15 */
	assert_string_equal(s.last_run_id.s, run2.id.s);
	co_schedule_clear(&s);

	/* history: newest first, and pages older than `after` */
	co_page pg = {.limit = 100};
	co_sched_run_list h = {0};
	assert_int_equal(CALL(sched_history, &ws, &sid, &pg, &h), CO_OK);
	assert_int_equal(h.n, 2);
	assert_string_equal(h.items[0].id.s, run2.id.s);
	assert_string_equal(h.items[1].id.s, run1.id.s);
	assert_false(h.items[1].manual);
	assert_int_equal(h.items[1].slot_at, 1893456300000000LL);
	assert_int_equal(h.items[1].fired_at, now1);
	assert_string_equal(h.items[1].message_id.s, run1.message_id.s);
	assert_string_equal(h.items[1].schedule_id.s, sid.s);
	assert_string_equal(h.items[1].workspace_id.s, ws.s);
	assert_string_equal(h.items[1].status, "fired");
	assert_null(h.items[1].error);
	assert_int_equal(h.items[1].finished_at, 0);
	co_sched_run_list_clear(&h);
	pg.limit = 1;
	assert_int_equal(CALL(sched_history, &ws, &sid, &pg, &h), CO_OK);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.items[0].id.s, run2.id.s);
	co_sched_run_list_clear(&h);
	pg.has_after = true;
	pg.after = run2.id;
	pg.limit = 100;
	assert_int_equal(CALL(sched_history, &ws, &sid, &pg, &h), CO_OK);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.items[0].id.s, run1.id.s);
	co_sched_run_list_clear(&h);
	pg.has_after = false;
	assert_int_equal(CALL(sched_history, &other, &sid, &pg, &h), CO_ENOTFOUND);
	co_sched_run_list_clear(&h);

	/* one message per successful fire */
	assert_int_equal(CALL(inbox_list, &ws, &f, &l), CO_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.items[0].run_id.s, run1.id.s);
	assert_string_equal(l.items[1].run_id.s, run2.id.s);
	assert_string_equal(l.items[1].id.s, run2.message_id.s);
	assert_int_equal(l.items[1].source, CO_INBOX_SRC_SCHEDULE);
	co_inbox_list_clear(&l);

	/* manual on an enabled schedule: next_run_at stays */
	co_usec_t now3 = T0 + 700 * SEC;
	co_clock_set_override(now3);
	assert_int_equal(fire_manual(&ws, &sid, now3, &fired, &c), CO_OK);
	assert_true(fired.run.manual);
	assert_int_equal(fired.run.slot_at, now3);
	assert_int_equal(fired.run.fired_at, now3);
	assert_string_equal(fired.prompt, "run the report");
	co_sched_run run3 = fired.run;
	run3.status = NULL;
	co_sched_fired_clear(&fired);
	kit_get_sched(&ws, &sid, &s);
	assert_int_equal(s.run_count, 3);
	assert_int_equal(s.next_run_at, 1893456900000000LL);
	assert_int_equal(s.last_run_at, now3);
	assert_string_equal(s.last_status, "fired");
	assert_string_equal(s.last_run_id.s, run3.id.s);
	co_schedule_clear(&s);

	/* manual on a disabled schedule works and leaves it disabled, without a slot */
	co_sched_patch p = {.fields = CO_SCHF_ENABLED};
	p.v.enabled = false;
	assert_int_equal(CALL(sched_patch, &ws, &sid, &p, &s, &c), CO_OK);
	co_schedule_clear(&s);
	co_usec_t now4 = T0 + 800 * SEC;
	assert_int_equal(fire_manual(&ws, &sid, now4, &fired, &c), CO_OK);
	assert_true(fired.run.manual);
	co_sched_fired_clear(&fired);
	kit_get_sched(&ws, &sid, &s);
	assert_false(s.enabled);
	assert_int_equal(s.next_run_at, 0);
	assert_int_equal(s.run_count, 4);
	assert_int_equal(s.last_run_at, now4);
	co_schedule_clear(&s);
	assert_int_equal(history_n(&ws, &sid), 4);
	assert_int_equal(inbox_n(&ws), 4);
	assert_int_equal(CALL(sched_history, &ws, &sid, &pg, &h), CO_OK);
	assert_true(h.items[0].manual);
	assert_int_equal(h.items[0].slot_at, now4);
	co_sched_run_list_clear(&h);

	/* manual with the wrong workspace, or of an absent schedule */
	assert_int_equal(fire_manual(&other, &sid, now4, &fired, &c), CO_ENOTFOUND);
	co_sched_fired_clear(&fired);
	co_conflict_clear(&c);
	co_id nobody = kit_absent_id();
	assert_int_equal(fire_manual(&ws, &nobody, now4, &fired, &c), CO_ENOTFOUND);
	co_sched_fired_clear(&fired);
	co_conflict_clear(&c);
	kit_get_sched(&ws, &sid, &s);
	assert_int_equal(s.run_count, 4);
	co_schedule_clear(&s);
	assert_int_equal(inbox_n(&ws), 4);
	assert_int_equal(inbox_n(&other), 0);

	/* delete: the schedule and its history go, its messages stay */
	assert_int_equal(runs_in_db(&sid), 4);
	assert_int_equal(CALL(sched_delete, &ws, &sid), CO_OK);
	assert_int_equal(runs_in_db(&sid), 0);
	assert_int_equal(CALL(sched_history, &ws, &sid, &pg, &h), CO_ENOTFOUND);
	co_sched_run_list_clear(&h);
	assert_int_equal(inbox_n(&ws), 4);
}

static void test_sched_fire_removed_workspace(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id ws = kit_mk_root("fire-removed");
	co_id sid = mk_sched(&ws, "r", "*/5 * * * *", "p");
	co_schedule row = {0};
	kit_get_sched(&ws, &sid, &row);
	kit_rm_ws(&ws);
	co_sched_fired fired = {0};
	co_conflict c = {0};
	/* cron: the compare-and-set requires a live workspace */
	assert_int_equal(fire_cron(&row, T0 + 300 * SEC, &fired, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_STATE);
	co_conflict_clear(&c);
	co_sched_fired_clear(&fired);
	co_schedule_clear(&row);
	/* manual: REMOVED */
	assert_int_equal(fire_manual(&ws, &sid, T0 + 300 * SEC, &fired, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_REMOVED);
	co_conflict_clear(&c);
	co_sched_fired_clear(&fired);
	co_schedule s = {0};
	kit_get_sched(&ws, &sid, &s);
	assert_int_equal(s.run_count, 0);
	assert_null(s.last_status);
	co_schedule_clear(&s);
	assert_int_equal(history_n(&ws, &sid), 0);
}

/* 16 schedulers fire one slot at once. */
struct fire_race {
	pthread_barrier_t go;
	co_schedule row;
	co_usec_t next;
	int rc[N_RACE];
	co_conflict_kind kind[N_RACE];
};

static void *fire_thread(void *p)
{
	struct targ *t = p;
	struct fire_race *r = t->shared;
	co_sched_fire f = {.schedule_id = r->row.id,
			   .slot = r->row.next_run_at,
			   .cron_expr = r->row.cron_expr,
			   .timezone = r->row.timezone,
			   .next_run_at = r->next,
			   .now = T0 + 300 * SEC + t->i};
	co_sched_fired out = {0};
	co_conflict c = {0};
	pthread_barrier_wait(&r->go);
	r->rc[t->i] = CALL(sched_fire, &f, &out, &c);
	r->kind[t->i] = c.kind;
	co_sched_fired_clear(&out);
	co_conflict_clear(&c);
	return NULL;
}

static void test_sched_fire_race_one_winner(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	static struct fire_race r;
	co_id ws = kit_mk_root("fire-race");
	co_id sid = mk_sched(&ws, "race", "*/5 * * * *", "go");
	kit_get_sched(&ws, &sid, &r.row);
	assert_int_equal(co_sched_next(&r.row, r.row.next_run_at, &r.next), CO_OK);
	run_threads(N_RACE, fire_thread, &r, &r.go);
	co_schedule_clear(&r.row);
	int ok = 0, state_conflicts = 0;
	for (int i = 0; i < N_RACE; i++) {
		if (r.rc[i] == CO_OK)
			ok++;
		else if (r.rc[i] == CO_ECONFLICT && r.kind[i] == CO_CONFLICT_STATE)
			state_conflicts++;
		else
			fail_msg("thread %d: rc %d kind %d", i, r.rc[i], r.kind[i]);
	}
	assert_int_equal(ok, 1);
	assert_int_equal(state_conflicts, N_RACE - 1);
	co_schedule s = {0};
	kit_get_sched(&ws, &sid, &s);
	assert_int_equal(s.run_count, 1);
	assert_int_equal(s.next_run_at, 1893456600000000LL);
	co_schedule_clear(&s);
	assert_int_equal(history_n(&ws, &sid), 1);
	assert_int_equal(inbox_n(&ws), 1);
}

/* 8 threads PATCH the prompt while 8 fire the schedule by hand, at once: no fire and no
 * PATCH is lost (the split of columns, note 3 of schedule.h). */
#define PF_ROUNDS 10

struct patch_fire_race {
	pthread_barrier_t go;
	co_id ws, sid;
	atomic_int fired, patched, errors;
};

static void *patch_fire_thread(void *p)
{
	struct targ *t = p;
	struct patch_fire_race *r = t->shared;
	pthread_barrier_wait(&r->go);
	for (int k = 0; k < PF_ROUNDS; k++) {
		int rc;
		if (t->i % 2) {
			co_sched_fire f = {.schedule_id = r->sid,
					   .workspace_id = r->ws,
					   .manual = true,
					   .now = T0 + SEC};
			co_sched_fired out = {0};
			co_conflict c = {0};
			rc = CALL(sched_fire, &f, &out, &c);
			co_sched_fired_clear(&out);
			co_conflict_clear(&c);
			if (rc == CO_OK)
				atomic_fetch_add(&r->fired, 1);
		} else {
			char prompt[32];
			snprintf(prompt, sizeof prompt, "prompt-%d-%d", t->i, k);
			co_sched_patch pa = {.fields = CO_SCHF_PROMPT};
			pa.v.prompt = prompt;
			co_schedule out = {0};
			co_conflict c = {0};
			rc = CALL(sched_patch, &r->ws, &r->sid, &pa, &out, &c);
			co_schedule_clear(&out);
			co_conflict_clear(&c);
			if (rc == CO_OK)
				atomic_fetch_add(&r->patched, 1);
		}
		if (rc != CO_OK)
			atomic_fetch_add(&r->errors, 1);
	}
	return NULL;
}

static void test_sched_patch_fire_race_loses_nothing(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	static struct patch_fire_race r;
	r.ws = kit_mk_root("patch-fire-race");
	r.sid = mk_sched(&r.ws, "pf", "*/5 * * * *", "prompt-start");
	run_threads(N_RACE, patch_fire_thread, &r, &r.go);
	assert_int_equal(atomic_load(&r.errors), 0);
	assert_int_equal(atomic_load(&r.fired), N_RACE / 2 * PF_ROUNDS);
	assert_int_equal(atomic_load(&r.patched), N_RACE / 2 * PF_ROUNDS);
	co_schedule s = {0};
	kit_get_sched(&r.ws, &r.sid, &s);
	assert_int_equal(s.run_count, N_RACE / 2 * PF_ROUNDS);
	/* one of the PATCHes' prompts ("prompt-<even thread>-<round>"), not the original */
	int th = -1, k = -1;
	if (sscanf(s.prompt, "prompt-%d-%d", &th, &k) != 2 || th % 2 || k < 0 || k >= PF_ROUNDS)
		fail_msg("prompt after the race: \"%s\"", s.prompt);
	assert_int_equal(s.next_run_at, 1893456300000000LL);
	assert_true(s.enabled);
	co_schedule_clear(&s);
	assert_int_equal(history_n(&r.ws, &r.sid), N_RACE / 2 * PF_ROUNDS);
	assert_int_equal(inbox_n(&r.ws), N_RACE / 2 * PF_ROUNDS);
}

/* The scheduler read the row; a PATCH changed it; then the fire. */
static void test_sched_fire_after_patch(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id ws = kit_mk_root("fire-patch");
	co_sched_fired fired = {0};
	co_conflict c = {0};
	co_schedule s = {0}, row = {0};

	/* a new expression: the fire of the old slot is refused */
	co_id a = mk_sched(&ws, "cron-changed", "*/5 * * * *", "p");
	kit_get_sched(&ws, &a, &row);
	co_clock_set_override(T0 + 10 * SEC);
	co_sched_patch p = {.fields = CO_SCHF_CRON};
	p.v.cron_expr = "*/10 * * * *";
	assert_int_equal(CALL(sched_patch, &ws, &a, &p, &s, &c), CO_OK);
	assert_int_equal(s.next_run_at, 1893456600000000LL);
	co_schedule_clear(&s);
	assert_int_equal(fire_cron(&row, T0 + 300 * SEC, &fired, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_STATE);
	co_conflict_clear(&c);
	co_sched_fired_clear(&fired);
	co_schedule_clear(&row);
	kit_get_sched(&ws, &a, &s);
	assert_int_equal(s.run_count, 0);
	assert_int_equal(s.next_run_at, 1893456600000000LL);
	assert_string_equal(s.cron_expr, "*/10 * * * *");
	co_schedule_clear(&s);
	assert_int_equal(history_n(&ws, &a), 0);

	/* an expression that keeps the slot (every 5 minutes, written another way): the
	 * compare-and-set still sees that the expression changed */
	co_id a2 = mk_sched(&ws, "cron-respelled", "*/5 * * * *", "p");
	kit_get_sched(&ws, &a2, &row);
	p.v.cron_expr = "0-59/5 * * * *";
	assert_int_equal(CALL(sched_patch, &ws, &a2, &p, &s, &c), CO_OK);
	assert_int_equal(s.next_run_at, row.next_run_at);
	co_schedule_clear(&s);
	assert_int_equal(fire_cron(&row, T0 + 300 * SEC, &fired, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_STATE);
	co_conflict_clear(&c);
	co_sched_fired_clear(&fired);
	co_schedule_clear(&row);

	/* a new zone that keeps the slot (London is on UTC in January): refused too */
	co_id a3 = mk_sched(&ws, "tz-changed", "*/5 * * * *", "p");
	kit_get_sched(&ws, &a3, &row);
	p = (co_sched_patch){.fields = CO_SCHF_TZ};
	p.v.timezone = "Europe/London";
	assert_int_equal(CALL(sched_patch, &ws, &a3, &p, &s, &c), CO_OK);
	assert_string_equal(s.timezone, "Europe/London");
	assert_int_equal(s.next_run_at, row.next_run_at);
	co_schedule_clear(&s);
	assert_int_equal(fire_cron(&row, T0 + 300 * SEC, &fired, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_STATE);
	co_conflict_clear(&c);
	co_sched_fired_clear(&fired);
	co_schedule_clear(&row);
	kit_get_sched(&ws, &a3, &s);
	assert_int_equal(s.run_count, 0);
	co_schedule_clear(&s);

	/* disabled after the read: refused */
	co_id b = mk_sched(&ws, "disabled", "*/5 * * * *", "p");
	kit_get_sched(&ws, &b, &row);
	p = (co_sched_patch){.fields = CO_SCHF_ENABLED};
	p.v.enabled = false;
	assert_int_equal(CALL(sched_patch, &ws, &b, &p, &s, &c), CO_OK);
	co_schedule_clear(&s);
	assert_int_equal(fire_cron(&row, T0 + 300 * SEC, &fired, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_STATE);
	co_conflict_clear(&c);
	co_sched_fired_clear(&fired);
	co_schedule_clear(&row);
	kit_get_sched(&ws, &b, &s);
	assert_int_equal(s.run_count, 0);
	assert_false(s.enabled);
	assert_int_equal(s.next_run_at, 0);
	co_schedule_clear(&s);

	/* a new prompt after the read: the fire goes ahead, carries the new prompt, and
	 * leaves it in place */
	co_id d = mk_sched(&ws, "prompt-changed", "*/5 * * * *", "old prompt");
	kit_get_sched(&ws, &d, &row);
	p = (co_sched_patch){.fields = CO_SCHF_PROMPT};
	p.v.prompt = "new prompt";
	assert_int_equal(CALL(sched_patch, &ws, &d, &p, &s, &c), CO_OK);
	co_schedule_clear(&s);
	assert_string_equal(row.prompt, "old prompt");
	assert_int_equal(fire_cron(&row, T0 + 300 * SEC, &fired, &c), CO_OK);
	assert_string_equal(fired.prompt, "new prompt");
	co_id mid = fired.run.message_id;
	co_sched_fired_clear(&fired);
	co_schedule_clear(&row);
	kit_get_sched(&ws, &d, &s);
	assert_string_equal(s.prompt, "new prompt");
	assert_int_equal(s.run_count, 1);
	assert_int_equal(s.next_run_at, 1893456600000000LL);
	assert_int_equal(s.updated_at, T0 + 10 * SEC);
	co_schedule_clear(&s);
	co_inbox_msg m = {0};
	assert_int_equal(CALL(inbox_get, &ws, &mid, &m), CO_OK);
	assert_string_equal(m.body_json, "\"new prompt\"");
	co_inbox_msg_clear(&m);

	/* a rename after the read: the fire goes ahead and the name stays */
	co_id e = mk_sched(&ws, "renamed", "*/5 * * * *", "p");
	kit_get_sched(&ws, &e, &row);
	p = (co_sched_patch){.fields = CO_SCHF_NAME};
	p.v.name = "renamed-2";
	assert_int_equal(CALL(sched_patch, &ws, &e, &p, &s, &c), CO_OK);
	co_schedule_clear(&s);
	assert_int_equal(fire_cron(&row, T0 + 300 * SEC, &fired, &c), CO_OK);
	assert_string_equal(fired.schedule_name, "renamed-2");
	co_sched_fired_clear(&fired);
	co_schedule_clear(&row);
	kit_get_sched(&ws, &e, &s);
	assert_string_equal(s.name, "renamed-2");
	assert_int_equal(s.run_count, 1);
	co_schedule_clear(&s);

	/* a fire with no next slot stores none: never due again */
	co_id g = mk_sched(&ws, "last-slot", "*/5 * * * *", "p");
	kit_get_sched(&ws, &g, &row);
	co_sched_fire f = {.schedule_id = g,
			   .slot = row.next_run_at,
			   .cron_expr = row.cron_expr,
			   .timezone = row.timezone,
			   .next_run_at = 0,
			   .now = T0 + 300 * SEC};
	assert_int_equal(CALL(sched_fire, &f, &fired, &c), CO_OK);
	co_sched_fired_clear(&fired);
	co_schedule_clear(&row);
	kit_get_sched(&ws, &g, &s);
	assert_int_equal(s.next_run_at, 0);
	assert_int_equal(s.run_count, 1);
	assert_true(s.enabled);
	co_schedule_clear(&s);
	assert_false(due_has(INT64_MAX / 2, &g));
}

/* ---- 3. sched_mark --------------------------------------------------------------------- */

/* Review findings: a PATCH naming unchanged timing fields keeps a due slot; a slot that
 * already fired, set back by a PATCH on a clock behind the fire's, is skipped without
 * wedging the schedule; removing a workspace disables its schedules (SPEC §2). */
static void test_sched_regressions_from_review(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id ws = kit_mk_root("regressions");
	co_id sid = mk_sched(&ws, "every5", "*/5 * * * *", "p");
	co_usec_t slot = T0 + 300 * SEC;

	/* 1. due, not yet fired; a whole-object PATCH with the same expression and zone */
	co_clock_set_override(slot + SEC / 3);
	json_t *body = json_pack("{s:s, s:s, s:s}", "cron_expr", "*/5 * * * *", "timezone", "UTC",
				 "prompt", "p2");
	co_sched_patch p;
	const char *code;
	assert_int_equal(co_sched_parse_patch(body, &p, &code), CO_OK);
	json_decref(body);
	co_schedule out = {0};
	co_conflict c = {0};
	assert_int_equal(CALL(sched_patch, &ws, &sid, &p, &out, &c), CO_OK);
	assert_int_equal(out.next_run_at, slot); /* the due slot is kept */
	co_sched_patch_clear(&p);
	co_schedule row = {0};
	kit_get_sched(&ws, &sid, &row);
	co_sched_fired fired = {0};
	assert_int_equal(fire_cron(&row, slot + SEC, &fired, &c), CO_OK);
	co_sched_fired_clear(&fired);
	co_schedule_clear(&row);
	co_schedule_clear(&out);

	/* 2. a clock behind the fire's sets next_run_at back to the fired slot */
	co_clock_set_override(slot - 60 * SEC);
	body = json_pack("{s:b}", "enabled", 0);
	assert_int_equal(co_sched_parse_patch(body, &p, &code), CO_OK);
	json_decref(body);
	assert_int_equal(CALL(sched_patch, &ws, &sid, &p, &out, &c), CO_OK);
	co_sched_patch_clear(&p);
	co_schedule_clear(&out);
	body = json_pack("{s:b}", "enabled", 1);
	assert_int_equal(co_sched_parse_patch(body, &p, &code), CO_OK);
	json_decref(body);
	assert_int_equal(CALL(sched_patch, &ws, &sid, &p, &out, &c), CO_OK);
	assert_int_equal(out.next_run_at, slot); /* back on the slot that fired */
	co_sched_patch_clear(&p);
	co_schedule_clear(&out);
	kit_get_sched(&ws, &sid, &row);
	co_conflict_clear(&c);
	assert_int_equal(fire_cron(&row, slot + 2 * SEC, &fired, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_STATE);
	co_sched_fired_clear(&fired);
	co_schedule_clear(&row);
	kit_get_sched(&ws, &sid, &row);
	assert_int_equal(row.next_run_at, slot + 300 * SEC); /* moved past it: not wedged */
	assert_int_equal(row.run_count, 1);                  /* and not fired twice */
	assert_int_equal(runs_in_db(&sid), 1);
	co_conflict_clear(&c);
	assert_int_equal(fire_cron(&row, slot + 301 * SEC, &fired, &c), CO_OK); /* next slot fires */
	co_sched_fired_clear(&fired);
	co_schedule_clear(&row);

	/* 3. DELETE of the workspace disables its schedules in the same transaction */
	kit_rm_ws(&ws);
	kit_get_sched(&ws, &sid, &row);
	assert_false(row.enabled);
	assert_int_equal(row.next_run_at, 0);
	co_schedule_clear(&row);
	co_conflict_clear(&c);
}

static void test_sched_mark(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id ws = kit_mk_root("mark");
	co_id sid = mk_sched(&ws, "m", "*/5 * * * *", "p");
	co_schedule s = {0};

	co_sched_run r1 = fire_manual_ok(&ws, &sid, T0 + SEC);
	assert_int_equal(CALL(sched_mark, &r1.id, "delivered", NULL), CO_OK);
	kit_get_sched(&ws, &sid, &s);
	assert_string_equal(s.last_status, "delivered");
	assert_null(s.last_error);
	co_schedule_clear(&s);
	co_page pg = {.limit = 10};
	co_sched_run_list h = {0};
	assert_int_equal(CALL(sched_history, &ws, &sid, &pg, &h), CO_OK);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.items[0].status, "delivered");
	co_sched_run_list_clear(&h);

	/* an older run's outcome does not touch the schedule */
	co_sched_run r2 = fire_manual_ok(&ws, &sid, T0 + 2 * SEC);
	co_sched_run r3 = fire_manual_ok(&ws, &sid, T0 + 3 * SEC);
	assert_int_equal(CALL(sched_mark, &r2.id, "error", "connection refused"), CO_OK);
	kit_get_sched(&ws, &sid, &s);
	assert_string_equal(s.last_status, "fired");
	assert_null(s.last_error);
	assert_string_equal(s.last_run_id.s, r3.id.s);
	co_schedule_clear(&s);
	assert_int_equal(CALL(sched_history, &ws, &sid, &pg, &h), CO_OK);
	assert_int_equal(h.n, 3);
	assert_string_equal(h.items[0].id.s, r3.id.s);
	assert_string_equal(h.items[0].status, "fired");
	assert_string_equal(h.items[1].id.s, r2.id.s);
	assert_string_equal(h.items[1].status, "error");
	assert_string_equal(h.items[1].error, "connection refused");
	co_sched_run_list_clear(&h);

	/* the last run's error does */
	assert_int_equal(CALL(sched_mark, &r3.id, "error", "HTTP 500"), CO_OK);
	kit_get_sched(&ws, &sid, &s);
	assert_string_equal(s.last_status, "error");
	assert_string_equal(s.last_error, "HTTP 500");
	co_schedule_clear(&s);

	/* the inbox ack's outcome came first: a late delivery mark does not replace it */
	co_id mws = kit_mk_root("mark-after-ack");
	co_id msid = mk_sched(&mws, "m2", "*/5 * * * *", "p");
	co_sched_run r4 = fire_manual_ok(&mws, &msid, T0 + 4 * SEC);
	co_inbox_list l = {0};
	co_inbox_claim cl = {.max = 1, .lease_seconds = 60};
	co_conflict c = {0};
	assert_int_equal(CALL(inbox_claim, &mws, &cl, &l, &c), CO_OK);
	assert_int_equal(l.n, 1);
	co_inbox_list_clear(&l);
	co_inbox_ack a = {.completed = true, .result_json = "{\"r\":1}"};
	co_inbox_msg m = {0};
	assert_int_equal(CALL(inbox_ack, &mws, &r4.message_id, &a, &m, &c), CO_OK);
	co_inbox_msg_clear(&m);
	assert_int_equal(CALL(sched_mark, &r4.id, "delivered", NULL), CO_OK);
	kit_get_sched(&mws, &msid, &s);
	assert_string_equal(s.last_status, "ok");
	co_schedule_clear(&s);
	assert_int_equal(CALL(sched_history, &mws, &msid, &pg, &h), CO_OK);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.items[0].status, "ok");
	co_sched_run_list_clear(&h);
}

/* ---- 4. inbox -------------------------------------------------------------------------- */

static int enqueue(const co_id *ws, const char *body, int64_t prio, const char *key,
		   int64_t max_attempts, co_inbox_msg *out, bool *created, co_conflict *c)
{
	co_inbox_msg in = {0};
	in.body_json = (char *)body;
	in.priority = prio;
	in.idempotency_key = (char *)key;
	in.max_attempts = max_attempts;
	in.source = CO_INBOX_SRC_API;
	in.status = CO_INBOX_QUEUED;
	return CALL(inbox_enqueue, ws, &in, out, created, c); /* `in` owns nothing */
}

static co_id enq(const co_id *ws, const char *body, int64_t prio, int64_t max_attempts)
{
	co_inbox_msg out = {0};
	bool created = false;
	co_conflict c = {0};
	int rc = enqueue(ws, body, prio, NULL, max_attempts, &out, &created, &c);
	if (rc || !created)
		fail_msg("enqueue %s: %d created %d %s", body, rc, created, co_err_msg());
	co_id id = out.id;
	co_inbox_msg_clear(&out);
	co_conflict_clear(&c);
	return id;
}

static int claim(const co_id *ws, int max, int64_t lease_seconds, co_inbox_list *out)
{
	co_inbox_claim cl = {.max = max, .lease_seconds = lease_seconds};
	co_conflict c = {0};
	int rc = CALL(inbox_claim, ws, &cl, out, &c);
	co_conflict_clear(&c);
	return rc;
}

static int ack(const co_id *ws, const co_id *mid, bool completed, const char *result, bool has_attempt,
	       int64_t attempt, co_inbox_msg *out, co_conflict *c)
{
	co_inbox_ack a = {.completed = completed,
			  .result_json = result,
			  .error_text = completed ? NULL : result,
			  .has_attempt = has_attempt,
			  .attempt = attempt};
	return CALL(inbox_ack, ws, mid, &a, out, c);
}

/* The claimed messages' bodies, in order, are exactly `bodies` (n of them). */
static void expect_bodies(const co_inbox_list *l, size_t n, const char *const *bodies)
{
	char got[512] = "";
	for (size_t i = 0; i < l->n; i++) {
		size_t len = strlen(got);
		snprintf(got + len, sizeof got - len, "%s%s(%s, attempt %lld)", i ? " " : "",
			 l->items[i].body_json, co_inbox_status_name(l->items[i].status),
			 (long long)l->items[i].attempts);
	}
	if (l->n != n)
		fail_msg("claimed %zu messages, expected %zu: %s", l->n, n, got);
	for (size_t i = 0; i < n; i++)
		if (strcmp(l->items[i].body_json, bodies[i]))
			fail_msg("claim order: got %s, expected %s at %zu", got, bodies[i], i);
}

static void test_inbox_enqueue_idempotent(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id ws = kit_mk_root("inbox-enq"), ws2 = kit_mk_root("inbox-enq-2");
	co_inbox_msg m = {0};
	bool created = false;
	co_conflict c = {0};
	assert_int_equal(enqueue(&ws, "{\"task\":1}", 7, NULL, 3, &m, &created, &c), CO_OK);
	assert_true(created);
	assert_true(co_id_valid(m.id.s));
	assert_string_equal(m.workspace_id.s, ws.s);
	assert_string_equal(m.body_json, "{\"task\":1}");
	assert_int_equal(m.priority, 7);
	assert_null(m.idempotency_key);
	assert_int_equal(m.source, CO_INBOX_SRC_API);
	assert_false(m.has_schedule);
	assert_int_equal(m.status, CO_INBOX_QUEUED);
	assert_int_equal(m.attempts, 0);
	assert_int_equal(m.max_attempts, 3);
	assert_int_equal(m.lease_expires_at, 0);
	assert_null(m.result_json);
	assert_int_equal(m.created_at, T0);
	assert_int_equal(m.acked_at, 0);
	co_id plain = m.id;
	co_inbox_msg_clear(&m);
	assert_int_equal(CALL(inbox_get, &ws, &plain, &m), CO_OK);
	assert_string_equal(m.body_json, "{\"task\":1}");
	co_inbox_msg_clear(&m);
	assert_int_equal(CALL(inbox_get, &ws2, &plain, &m), CO_ENOTFOUND);
	co_inbox_msg_clear(&m);

	/* with a key: once; again answers the first */
	assert_int_equal(enqueue(&ws, "\"first\"", 0, "key-1", 5, &m, &created, &c), CO_OK);
	assert_true(created);
	assert_string_equal(m.idempotency_key, "key-1");
	co_id first = m.id;
	co_inbox_msg_clear(&m);
	created = true;
	assert_int_equal(enqueue(&ws, "\"second\"", 9, "key-1", 5, &m, &created, &c), CO_OK);
	assert_false(created);
	assert_string_equal(m.id.s, first.s);
	assert_string_equal(m.body_json, "\"first\"");
	assert_int_equal(m.priority, 0);
	co_inbox_msg_clear(&m);
	/* the key is the workspace's */
	assert_int_equal(enqueue(&ws2, "\"other\"", 0, "key-1", 5, &m, &created, &c), CO_OK);
	assert_true(created);
	assert_string_not_equal(m.id.s, first.s);
	co_inbox_msg_clear(&m);
	assert_int_equal(inbox_n(&ws), 2);
	assert_int_equal(inbox_n(&ws2), 1);

	/* list: by status, paged by id */
	co_inbox_filter f = {.has_status = true, .status = CO_INBOX_QUEUED, .limit = 1};
	co_inbox_list l = {0};
	assert_int_equal(CALL(inbox_list, &ws, &f, &l), CO_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].id.s, plain.s);
	co_inbox_list_clear(&l);
	f.has_after = true;
	f.after = plain;
	assert_int_equal(CALL(inbox_list, &ws, &f, &l), CO_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].id.s, first.s);
	co_inbox_list_clear(&l);
	f = (co_inbox_filter){.has_status = true, .status = CO_INBOX_CLAIMED, .limit = 100};
	assert_int_equal(CALL(inbox_list, &ws, &f, &l), CO_OK);
	assert_int_equal(l.n, 0);
	co_inbox_list_clear(&l);

	/* absent and removed workspaces */
	co_id nobody = kit_absent_id();
	assert_int_equal(enqueue(&nobody, "1", 0, NULL, 5, &m, &created, &c), CO_ENOTFOUND);
	co_inbox_msg_clear(&m);
	co_conflict_clear(&c);
	f = (co_inbox_filter){.limit = 100};
	assert_int_equal(CALL(inbox_list, &nobody, &f, &l), CO_ENOTFOUND);
	co_inbox_list_clear(&l);
	co_id gone = kit_mk_root("inbox-enq-gone");
	kit_rm_ws(&gone);
	assert_int_equal(enqueue(&gone, "1", 0, NULL, 5, &m, &created, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_REMOVED);
	co_inbox_msg_clear(&m);
	co_conflict_clear(&c);
}

struct enq_race {
	pthread_barrier_t go;
	co_id ws;
	int rc[N_RACE];
	bool created[N_RACE];
	co_id id[N_RACE];
};

static void *enq_thread(void *p)
{
	struct targ *t = p;
	struct enq_race *r = t->shared;
	char body[16];
	snprintf(body, sizeof body, "%d", t->i);
	co_inbox_msg in = {.body_json = body,
			   .idempotency_key = "same-key",
			   .max_attempts = 5,
			   .source = CO_INBOX_SRC_API,
			   .status = CO_INBOX_QUEUED};
	co_inbox_msg out = {0};
	co_conflict c = {0};
	pthread_barrier_wait(&r->go);
	r->rc[t->i] = CALL(inbox_enqueue, &r->ws, &in, &out, &r->created[t->i], &c);
	r->id[t->i] = out.id;
	co_inbox_msg_clear(&out);
	co_conflict_clear(&c);
	return NULL;
}

static void test_inbox_idempotent_race(void **state)
{
	(void)state;
	static struct enq_race r;
	r.ws = kit_mk_root("inbox-enq-race");
	run_threads(N_RACE, enq_thread, &r, &r.go);
	int created = 0, w = -1;
	for (int i = 0; i < N_RACE; i++) {
		if (r.rc[i] != CO_OK)
			fail_msg("thread %d: rc %d", i, r.rc[i]);
		if (r.created[i]) {
			created++;
			w = i;
		}
	}
	assert_int_equal(created, 1);
	for (int i = 0; i < N_RACE; i++)
		assert_string_equal(r.id[i].s, r.id[w].s);
	assert_int_equal(inbox_n(&r.ws), 1);
}

static void test_inbox_claim_order_and_lease(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id ws = kit_mk_root("inbox-claim");
	const char *bodies[] = {"1", "2", "3", "4", "5"};
	const int64_t prios[] = {0, 5, 0, 5, 1};
	co_id ids[5];
	for (int i = 0; i < 5; i++)
		ids[i] = enq(&ws, bodies[i], prios[i], 5);
	for (int i = 1; i < 5; i++)
		assert_true(strcmp(ids[i - 1].s, ids[i].s) < 0);

	co_inbox_list l = {0};
	assert_int_equal(claim(&ws, 3, 60, &l), CO_OK);
	expect_bodies(&l, 3, (const char *[]){"2", "4", "5"});
	for (size_t i = 0; i < l.n; i++) {
		assert_int_equal(l.items[i].status, CO_INBOX_CLAIMED);
		assert_int_equal(l.items[i].attempts, 1);
		assert_int_equal(l.items[i].lease_expires_at, T0 + 60 * SEC);
	}
	co_inbox_list_clear(&l);
	assert_int_equal(claim(&ws, 10, 60, &l), CO_OK);
	expect_bodies(&l, 2, (const char *[]){"1", "3"});
	co_inbox_list_clear(&l);
	assert_int_equal(claim(&ws, 10, 60, &l), CO_OK);
	expect_bodies(&l, 0, NULL);
	co_inbox_list_clear(&l);

	co_inbox_msg m = {0};
	assert_int_equal(CALL(inbox_get, &ws, &ids[1], &m), CO_OK);
	assert_int_equal(m.status, CO_INBOX_CLAIMED);
	assert_int_equal(m.attempts, 1);
	assert_int_equal(m.lease_expires_at, T0 + 60 * SEC);
	co_inbox_msg_clear(&m);

	/* 1 µs before the leases end: still held */
	co_clock_set_override(T0 + 60 * SEC - 1);
	assert_int_equal(claim(&ws, 10, 60, &l), CO_OK);
	expect_bodies(&l, 0, NULL);
	co_inbox_list_clear(&l);
	/* at their end: claimable again, in claim order, on attempt 2 */
	co_clock_set_override(T0 + 60 * SEC);
	assert_int_equal(claim(&ws, 10, 30, &l), CO_OK);
	expect_bodies(&l, 5, (const char *[]){"2", "4", "5", "1", "3"});
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(l.items[i].attempts, 2);
		assert_int_equal(l.items[i].status, CO_INBOX_CLAIMED);
		assert_int_equal(l.items[i].lease_expires_at, T0 + 90 * SEC);
	}
	co_inbox_list_clear(&l);
}

static void test_inbox_dead_letter(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id ws = kit_mk_root("inbox-dead");
	co_id once = enq(&ws, "\"once\"", 0, 1);
	co_id twice = enq(&ws, "\"twice\"", 0, 2);
	co_inbox_list l = {0};
	assert_int_equal(claim(&ws, 10, 10, &l), CO_OK);
	assert_int_equal(l.n, 2);
	co_inbox_list_clear(&l);

	co_clock_set_override(T0 + 10 * SEC);
	assert_int_equal(claim(&ws, 10, 10, &l), CO_OK);
	assert_int_equal(l.n, 1); /* only the one with an attempt left */
	assert_string_equal(l.items[0].id.s, twice.s);
	assert_int_equal(l.items[0].attempts, 2);
	co_inbox_list_clear(&l);
	co_inbox_msg m = {0};
	assert_int_equal(CALL(inbox_get, &ws, &once, &m), CO_OK);
	assert_int_equal(m.status, CO_INBOX_DEAD);
	assert_int_equal(m.attempts, 1);
	co_inbox_msg_clear(&m);

	co_clock_set_override(T0 + 20 * SEC);
	assert_int_equal(claim(&ws, 10, 10, &l), CO_OK);
	assert_int_equal(l.n, 0);
	co_inbox_list_clear(&l);
	assert_int_equal(CALL(inbox_get, &ws, &twice, &m), CO_OK);
	assert_int_equal(m.status, CO_INBOX_DEAD);
	assert_int_equal(m.attempts, 2);
	co_inbox_msg_clear(&m);

	/* kept and listable; an ack is refused */
	co_inbox_filter f = {.has_status = true, .status = CO_INBOX_DEAD, .limit = 10};
	assert_int_equal(CALL(inbox_list, &ws, &f, &l), CO_OK);
	assert_int_equal(l.n, 2);
	co_inbox_list_clear(&l);
	co_conflict c = {0};
	assert_int_equal(ack(&ws, &once, true, NULL, false, 0, &m, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_STATE);
	assert_string_equal(c.status, "dead");
	co_conflict_clear(&c);
	co_inbox_msg_clear(&m);
}

/* 8 claimers drain 200 messages: each exactly once. */
#define N_CLAIMERS 8
#define N_MSGS 200

struct claim_race {
	pthread_barrier_t go;
	co_id ws;
	co_id got[N_CLAIMERS][N_MSGS];
	int n[N_CLAIMERS];
	atomic_int errors;
	atomic_int overflow;
};

static void *claim_thread(void *p)
{
	struct targ *t = p;
	struct claim_race *r = t->shared;
	pthread_barrier_wait(&r->go);
	for (;;) {
		co_inbox_list l = {0};
		co_inbox_claim cl = {.max = 5, .lease_seconds = 300};
		co_conflict c = {0};
		int rc = CALL(inbox_claim, &r->ws, &cl, &l, &c);
		co_conflict_clear(&c);
		if (rc != CO_OK) {
			atomic_fetch_add(&r->errors, 1);
			co_inbox_list_clear(&l);
			break;
		}
		size_t n = l.n;
		for (size_t i = 0; i < n; i++) {
			if (r->n[t->i] < N_MSGS)
				r->got[t->i][r->n[t->i]++] = l.items[i].id;
			else
				atomic_fetch_add(&r->overflow, 1);
		}
		co_inbox_list_clear(&l);
		if (n == 0)
			break;
	}
	return NULL;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(((const co_id *)a)->s, ((const co_id *)b)->s);
}

static void test_inbox_claim_race_each_once(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	static struct claim_race r;
	r.ws = kit_mk_root("inbox-claim-race");
	static co_id sent[N_MSGS];
	for (int i = 0; i < N_MSGS; i++)
		sent[i] = enq(&r.ws, "\"job\"", i % 3, 5);
	run_threads(N_CLAIMERS, claim_thread, &r, &r.go);
	assert_int_equal(atomic_load(&r.errors), 0);
	assert_int_equal(atomic_load(&r.overflow), 0);
	static co_id all[N_CLAIMERS * N_MSGS];
	size_t n = 0;
	for (int t = 0; t < N_CLAIMERS; t++)
		for (int i = 0; i < r.n[t]; i++)
			all[n++] = r.got[t][i];
	qsort(all, n, sizeof *all, cmp_id);
	for (size_t i = 1; i < n; i++)
		if (!strcmp(all[i].s, all[i - 1].s))
			fail_msg("message %s was claimed twice", all[i].s);
	assert_int_equal(n, N_MSGS);
	qsort(sent, N_MSGS, sizeof *sent, cmp_id);
	for (size_t i = 0; i < N_MSGS; i++)
		assert_string_equal(all[i].s, sent[i].s);
	co_inbox_list l = {0};
	assert_int_equal(claim(&r.ws, 100, 300, &l), CO_OK);
	assert_int_equal(l.n, 0);
	co_inbox_list_clear(&l);
	co_inbox_filter f = {.has_status = true, .status = CO_INBOX_CLAIMED, .limit = 1000};
	assert_int_equal(CALL(inbox_list, &r.ws, &f, &l), CO_OK);
	assert_int_equal(l.n, N_MSGS);
	for (size_t i = 0; i < l.n; i++)
		assert_int_equal(l.items[i].attempts, 1);
	co_inbox_list_clear(&l);
}

static void test_inbox_ack(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id ws = kit_mk_root("inbox-ack"), ws2 = kit_mk_root("inbox-ack-2");
	co_id a = enq(&ws, "\"a\"", 0, 5);
	co_inbox_list l = {0};
	assert_int_equal(claim(&ws, 1, 60, &l), CO_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].id.s, a.s);
	co_inbox_list_clear(&l);

	co_inbox_msg m = {0};
	co_conflict c = {0};
	co_clock_set_override(T0 + 5 * SEC);
	assert_int_equal(ack(&ws, &a, true, "{\"a\":1}", true, 1, &m, &c), CO_OK);
	assert_string_equal(m.id.s, a.s);
	assert_int_equal(m.status, CO_INBOX_COMPLETED);
	assert_string_equal(m.result_json, "{\"a\":1}");
	assert_int_equal(m.acked_at, T0 + 5 * SEC);
	assert_int_equal(m.lease_expires_at, 0);
	assert_int_equal(m.attempts, 1);
	co_inbox_msg_clear(&m);
	assert_int_equal(CALL(inbox_get, &ws, &a, &m), CO_OK);
	assert_int_equal(m.status, CO_INBOX_COMPLETED);
	assert_string_equal(m.result_json, "{\"a\":1}");
	co_inbox_msg_clear(&m);

	/* the same ack again: the message, unchanged */
	co_clock_set_override(T0 + 9 * SEC);
	assert_int_equal(ack(&ws, &a, true, "{\"a\":2}", false, 0, &m, &c), CO_OK);
	assert_int_equal(m.status, CO_INBOX_COMPLETED);
	assert_string_equal(m.result_json, "{\"a\":1}");
	assert_int_equal(m.acked_at, T0 + 5 * SEC);
	co_inbox_msg_clear(&m);
	/* the opposite ack */
	assert_int_equal(ack(&ws, &a, false, "\"no\"", false, 0, &m, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_STATE);
	assert_string_equal(c.status, "completed");
	co_conflict_clear(&c);
	co_inbox_msg_clear(&m);
	assert_int_equal(CALL(inbox_get, &ws, &a, &m), CO_OK);
	assert_int_equal(m.status, CO_INBOX_COMPLETED);
	assert_string_equal(m.result_json, "{\"a\":1}");
	co_inbox_msg_clear(&m);

	/* a queued message */
	co_id q = enq(&ws, "\"q\"", 0, 5);
	assert_int_equal(ack(&ws, &q, true, NULL, false, 0, &m, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_STATE);
	assert_string_equal(c.status, "queued");
	co_conflict_clear(&c);
	co_inbox_msg_clear(&m);
	assert_int_equal(CALL(inbox_get, &ws, &q, &m), CO_OK);
	assert_int_equal(m.status, CO_INBOX_QUEUED);
	co_inbox_msg_clear(&m);

	/* a stale claimer: its lease ended and the message was claimed again */
	co_clock_set_override(T0 + 100 * SEC);
	assert_int_equal(claim(&ws, 1, 10, &l), CO_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].id.s, q.s);
	co_inbox_list_clear(&l);
	co_clock_set_override(T0 + 110 * SEC);
	assert_int_equal(claim(&ws, 1, 10, &l), CO_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].attempts, 2);
	co_inbox_list_clear(&l);
	assert_int_equal(ack(&ws, &q, true, "1", true, 1, &m, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_STALE);
	assert_string_equal(c.status, "claimed");
	assert_int_equal(c.attempts, 2);
	co_conflict_clear(&c);
	co_inbox_msg_clear(&m);
	assert_int_equal(CALL(inbox_get, &ws, &q, &m), CO_OK);
	assert_int_equal(m.status, CO_INBOX_CLAIMED);
	assert_null(m.result_json);
	co_inbox_msg_clear(&m);
	/* the current claimer's failed ack */
	assert_int_equal(ack(&ws, &q, false, "\"boom\"", true, 2, &m, &c), CO_OK);
	assert_int_equal(m.status, CO_INBOX_FAILED);
	assert_string_equal(m.result_json, "\"boom\"");
	co_inbox_msg_clear(&m);
	assert_int_equal(ack(&ws, &q, true, NULL, false, 0, &m, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_STATE);
	assert_string_equal(c.status, "failed");
	co_conflict_clear(&c);
	co_inbox_msg_clear(&m);

	/* absent, or another workspace's */
	co_id nobody = kit_absent_id();
	assert_int_equal(ack(&ws, &nobody, true, NULL, false, 0, &m, &c), CO_ENOTFOUND);
	co_conflict_clear(&c);
	co_inbox_msg_clear(&m);
	assert_int_equal(ack(&ws2, &a, true, "{\"a\":1}", false, 0, &m, &c), CO_ENOTFOUND);
	co_conflict_clear(&c);
	co_inbox_msg_clear(&m);
}

/* ---- 5. a schedule's outcome through the ack ---------------------------------------- */

/* Fires sid manually, claims its message, acks it; returns the run id. */
static co_id fire_claim_ack(const co_id *ws, const co_id *sid, co_usec_t now, bool completed,
			    const char *result)
{
	co_clock_set_override(now);
	co_sched_run run = fire_manual_ok(ws, sid, now);
	co_inbox_list l = {0};
	assert_int_equal(claim(ws, 10, 60, &l), CO_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].id.s, run.message_id.s);
	assert_true(l.items[0].has_schedule);
	assert_string_equal(l.items[0].run_id.s, run.id.s);
	co_inbox_list_clear(&l);
	co_inbox_msg m = {0};
	co_conflict c = {0};
	int rc = ack(ws, &run.message_id, completed, result, true, 1, &m, &c);
	if (rc)
		fail_msg("ack: %d %s", rc, co_err_msg());
	assert_int_equal(m.status, completed ? CO_INBOX_COMPLETED : CO_INBOX_FAILED);
	co_inbox_msg_clear(&m);
	co_conflict_clear(&c);
	return run.id;
}

static void expect_outcome(const co_id *ws, const co_id *sid, int64_t empties, const char *status,
			   bool has_error)
{
	co_schedule s = {0};
	kit_get_sched(ws, sid, &s);
	assert_int_equal(s.consecutive_empty_runs, empties);
	assert_string_equal(s.last_status, status);
	if (has_error)
		assert_non_null(s.last_error);
	else
		assert_null(s.last_error);
	co_schedule_clear(&s);
}

static void expect_run(const co_id *ws, const co_id *sid, const co_id *run, const char *status,
		       co_usec_t finished_at)
{
	co_page pg = {.limit = 100};
	co_sched_run_list h = {0};
	assert_int_equal(CALL(sched_history, ws, sid, &pg, &h), CO_OK);
	bool found = false;
	for (size_t i = 0; i < h.n; i++) {
		if (strcmp(h.items[i].id.s, run->s))
			continue;
		found = true;
		if (strcmp(h.items[i].status, status))
			fail_msg("run %s: status \"%s\", expected \"%s\"", run->s, h.items[i].status,
				 status);
		assert_int_equal(h.items[i].finished_at, finished_at);
	}
	assert_true(found);
	co_sched_run_list_clear(&h);
}

/* 16 claimers' acks of one schedule message race: half completed (empty), half failed.
 * One outcome wins; the repeats of it are answered OK; the others are STATE conflicts;
 * the schedule hears of it once. */
struct ack_race {
	pthread_barrier_t go;
	co_id ws, mid;
	int rc[N_RACE];
	co_conflict_kind kind[N_RACE];
	co_inbox_status status[N_RACE];
};

static void *ack_thread(void *p)
{
	struct targ *t = p;
	struct ack_race *r = t->shared;
	co_inbox_ack a = {.completed = t->i % 2 == 0,
			  .result_json = t->i % 2 == 0 ? "null" : "\"x\"",
			  .has_attempt = true,
			  .attempt = 1};
	co_inbox_msg out = {0};
	co_conflict c = {0};
	pthread_barrier_wait(&r->go);
	r->rc[t->i] = CALL(inbox_ack, &r->ws, &r->mid, &a, &out, &c);
	r->kind[t->i] = c.kind;
	r->status[t->i] = out.status;
	co_inbox_msg_clear(&out);
	co_conflict_clear(&c);
	return NULL;
}

static void test_sched_ack_race_reports_once(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	static struct ack_race r;
	r.ws = kit_mk_root("ack-race");
	co_id sid = mk_sched(&r.ws, "ar", "*/5 * * * *", "p");
	co_sched_run run = fire_manual_ok(&r.ws, &sid, T0 + SEC);
	r.mid = run.message_id;
	co_inbox_list l = {0};
	assert_int_equal(claim(&r.ws, 1, 60, &l), CO_OK);
	assert_int_equal(l.n, 1);
	co_inbox_list_clear(&l);
	run_threads(N_RACE, ack_thread, &r, &r.go);

	co_inbox_msg m = {0};
	assert_int_equal(CALL(inbox_get, &r.ws, &r.mid, &m), CO_OK);
	bool completed = m.status == CO_INBOX_COMPLETED;
	assert_true(completed || m.status == CO_INBOX_FAILED);
	co_inbox_msg_clear(&m);
	for (int i = 0; i < N_RACE; i++) {
		bool mine = (i % 2 == 0) == completed;
		if (mine && r.rc[i] != CO_OK)
			fail_msg("thread %d (the winning outcome): rc %d", i, r.rc[i]);
		if (!mine && !(r.rc[i] == CO_ECONFLICT && r.kind[i] == CO_CONFLICT_STATE))
			fail_msg("thread %d (the losing outcome): rc %d kind %d", i, r.rc[i], r.kind[i]);
	}
	co_schedule s = {0};
	kit_get_sched(&r.ws, &sid, &s);
	assert_string_equal(s.last_status, completed ? "empty" : "failed");
	assert_int_equal(s.consecutive_empty_runs, completed ? 1 : 0);
	co_schedule_clear(&s);
}

/* A schedule's message that is dead-lettered reports its run as failed. */
static void test_sched_dead_letter_reports_failed(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id ws = kit_mk_root("dead-run");
	co_id sid = mk_sched(&ws, "dies", "0 0 1 1 *", "never acked");
	co_sched_run run = fire_manual_ok(&ws, &sid, T0);
	co_usec_t now = T0;
	for (int i = 0; i < CO_INBOX_ATTEMPTS_DEFAULT; i++) {
		co_inbox_list l = {0};
		assert_int_equal(claim(&ws, 1, 1, &l), CO_OK);
		assert_int_equal(l.n, 1);
		co_inbox_list_clear(&l);
		now += 2 * SEC; /* the claimer crashed: its lease ends */
		co_clock_set_override(now);
	}
	co_inbox_list l = {0};
	assert_int_equal(claim(&ws, 1, 1, &l), CO_OK);
	assert_int_equal(l.n, 0);
	co_inbox_list_clear(&l);
	co_schedule row = {0};
	kit_get_sched(&ws, &sid, &row);
	assert_string_equal(row.last_status, "failed");
	assert_string_equal(row.last_error, "dead-lettered after 5 attempts");
	co_schedule_clear(&row);
	co_sched_run_list h = {0};
	co_page pg = {.limit = 10};
	assert_int_equal(CALL(sched_history, &ws, &sid, &pg, &h), CO_OK);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.items[0].id.s, run.id.s);
	assert_string_equal(h.items[0].status, "failed");
	co_sched_run_list_clear(&h);
}

static void test_sched_outcome_through_ack(void **state)
{
	(void)state;
	co_clock_set_override(T0);
	co_id ws = kit_mk_root("outcome");
	co_id sid = mk_sched(&ws, "o", "*/5 * * * *", "summarise");

	co_id r1 = fire_claim_ack(&ws, &sid, T0 + 10 * SEC, true, NULL);
	expect_outcome(&ws, &sid, 1, "empty", false);
	expect_run(&ws, &sid, &r1, "empty", T0 + 10 * SEC);

	/* repeating that ack reports nothing a second time */
	co_page pg = {.limit = 1};
	co_sched_run_list h = {0};
	assert_int_equal(CALL(sched_history, &ws, &sid, &pg, &h), CO_OK);
	co_id m1 = h.items[0].message_id;
	co_sched_run_list_clear(&h);
	co_inbox_msg m = {0};
	co_conflict c = {0};
	assert_int_equal(ack(&ws, &m1, true, NULL, false, 0, &m, &c), CO_OK);
	co_inbox_msg_clear(&m);
	expect_outcome(&ws, &sid, 1, "empty", false);

	co_id r2 = fire_claim_ack(&ws, &sid, T0 + 20 * SEC, true, "null");
	expect_outcome(&ws, &sid, 2, "empty", false);
	expect_run(&ws, &sid, &r2, "empty", T0 + 20 * SEC);

	co_id r3 = fire_claim_ack(&ws, &sid, T0 + 30 * SEC, true, "\"\"");
	expect_outcome(&ws, &sid, 3, "stale", false);
	/* the run's own outcome: its result was empty */
	expect_run(&ws, &sid, &r3, "empty", T0 + 30 * SEC);

	co_id r4 = fire_claim_ack(&ws, &sid, T0 + 40 * SEC, true, "{\"done\":true}");
	expect_outcome(&ws, &sid, 0, "ok", false);
	expect_run(&ws, &sid, &r4, "ok", T0 + 40 * SEC);

	co_id r5 = fire_claim_ack(&ws, &sid, T0 + 50 * SEC, false, "\"boom\"");
	expect_outcome(&ws, &sid, 0, "failed", true);
	expect_run(&ws, &sid, &r5, "failed", T0 + 50 * SEC);
	co_schedule s = {0};
	kit_get_sched(&ws, &sid, &s);
	assert_non_null(strstr(s.last_error, "boom"));
	assert_int_equal(s.run_count, 5);
	assert_string_equal(s.last_run_id.s, r5.s);
	co_schedule_clear(&s);

	/* an ok clears the error */
	fire_claim_ack(&ws, &sid, T0 + 60 * SEC, true, "[1]");
	expect_outcome(&ws, &sid, 0, "ok", false);
}

int main(int argc, char **argv)
{
	int rc = store_kit_args(argc, argv);
	if (rc >= 0)
		return rc;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_sched_crud, kit_reset_clock),
		cmocka_unit_test_teardown(test_sched_create_race_one_winner, kit_reset_clock),
		cmocka_unit_test_teardown(test_sched_due, kit_reset_clock),
		cmocka_unit_test_teardown(test_sched_fire_cron, kit_reset_clock),
		cmocka_unit_test_teardown(test_sched_fire_removed_workspace, kit_reset_clock),
		cmocka_unit_test_teardown(test_sched_fire_race_one_winner, kit_reset_clock),
		cmocka_unit_test_teardown(test_sched_patch_fire_race_loses_nothing, kit_reset_clock),
		cmocka_unit_test_teardown(test_sched_fire_after_patch, kit_reset_clock),
		cmocka_unit_test_teardown(test_sched_regressions_from_review, kit_reset_clock),
		cmocka_unit_test_teardown(test_sched_dead_letter_reports_failed, kit_reset_clock),
		cmocka_unit_test_teardown(test_sched_mark, kit_reset_clock),
		cmocka_unit_test_teardown(test_inbox_enqueue_idempotent, kit_reset_clock),
		cmocka_unit_test_teardown(test_inbox_idempotent_race, kit_reset_clock),
		cmocka_unit_test_teardown(test_inbox_claim_order_and_lease, kit_reset_clock),
		cmocka_unit_test_teardown(test_inbox_dead_letter, kit_reset_clock),
		cmocka_unit_test_teardown(test_inbox_claim_race_each_once, kit_reset_clock),
		cmocka_unit_test_teardown(test_inbox_ack, kit_reset_clock),
		cmocka_unit_test_teardown(test_sched_outcome_through_ack, kit_reset_clock),
		cmocka_unit_test_teardown(test_sched_ack_race_reports_once, kit_reset_clock),
	};
	return cmocka_run_group_tests(tests, store_kit_setup, store_kit_teardown);
}
