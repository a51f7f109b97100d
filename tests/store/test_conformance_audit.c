/*
 * test_conformance_audit.c — the storage contract of the audit log (store.h note 6,
 * audit_list, audit_verify; core/audit.h; SPEC §7), run against a backend.
 *
 * Usage: test_store_audit [--postgres | URL]. Without an argument it runs against a fresh
 * SQLite file in a temp directory; --postgres makes a fresh database on the test server
 * named by COLONY_TEST_PG (exit 77, "skipped", if unset). Every backend passes this file.
 * Tests call the store interface directly, making an audit entry current with
 * co_audit_set() as the HTTP layer does. All tests share one store and one chain, so each
 * counts from the chain's head when it starts. Tampering is done on the database itself
 * (sqlite3 on the file, libpq on the URL), and each tampering test puts the row back and
 * checks the chain is valid again, so the tests stay independent.
 *
 *  - successful writes with a current entry append one record each, with the entry's
 *    fields, seq contiguous, linked by prev_hash, the chain valid;
 *  - failed writes (404, 409, name taken, version mismatch) and writes with no current
 *    entry append nothing; a dry-run import appends nothing, the real one exactly one;
 *    an idempotent repeat (OK) is recorded;
 *  - an append that fails (a trigger refusing the INSERT) fails the write and rolls it
 *    back: never a mutation without its record;
 *  - the SQLite executor (exec_batched: store calls inline on the writer thread, the
 *    entry current there) appends for successful calls only;
 *  - 16 threads writing at once (some writes failing): records == successes, per actor
 *    too, seq contiguous, chain valid;
 *  - filters (actor, action, target prefix, since/until) and paging (after, limit);
 *  - tampering: an edited actor, an edited hash column, a deleted middle row are each
 *    reported at the right seq and id.
 */
#include "../../src/core/err.h"
#include "../../src/store/store.h"
#include "store_kit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <semaphore.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEC 1000000LL
#define MINUTE (60 * SEC)
#define T0 1893456000000000LL /* 2030-01-01T00:00:00Z */

/* ---- entries ------------------------------------------------------------------------- */

/* An entry as the HTTP layer makes one: its detail from co_audit_detail. */
typedef struct {
	co_audit_entry e;
	char actor[64], action[64], target[200];
	char *detail;
} entry;

static void entry_init(entry *en, const char *actor, const char *action, const char *target,
		       const char *body)
{
	memset(en, 0, sizeof *en);
	snprintf(en->actor, sizeof en->actor, "%s", actor);
	snprintf(en->action, sizeof en->action, "%s", action);
	snprintf(en->target, sizeof en->target, "%s", target);
	en->detail = co_audit_detail("POST", target, body, body ? strlen(body) : 0);
	en->e = (co_audit_entry){en->actor, en->action, en->target, en->detail};
}

static void entry_free(entry *en)
{
	free(en->detail);
	en->detail = NULL;
}

/* ---- the chain ----------------------------------------------------------------------- */

/* The chain must verify; returns its length (the head's seq). */
static int64_t head_at(int line)
{
	co_audit_verify v;
	int rc = CALL(audit_verify, &v);
	if (rc)
		fail_msg("line %d: audit_verify: %d %s", line, rc, co_err_msg());
	if (!v.valid)
		fail_msg("line %d: chain broken at seq %lld (%s): %s", line, (long long)v.broken_seq,
			 v.broken_id.s, v.reason);
	return v.records;
}
#define head() head_at(__LINE__)

static void verify(co_audit_verify *v)
{
	int rc = CALL(audit_verify, v);
	if (rc)
		fail_msg("audit_verify: %d %s", rc, co_err_msg());
}

/* Every record matching f (paged through with f->after, `page` at a time). */
static void list_all(co_audit_filter f, int page, co_audit_list *out)
{
	memset(out, 0, sizeof *out);
	f.limit = page;
	for (;;) {
		co_audit_list l = {0};
		int rc = CALL(audit_list, &f, &l);
		if (rc)
			fail_msg("audit_list: %d %s", rc, co_err_msg());
		assert_true(l.n <= (size_t)page);
		if (l.n) {
			co_audit_record *grown = realloc(out->items, (out->n + l.n) * sizeof *grown);
			assert_non_null(grown);
			out->items = grown;
			memcpy(out->items + out->n, l.items, l.n * sizeof *l.items);
			out->n += l.n;
			f.after = l.items[l.n - 1].seq;
		}
		free(l.items); /* the records' strings moved to out */
		if (l.n < (size_t)page)
			return;
	}
}

/* The records after seq `after` (all of them). */
static void records_after(int64_t after, co_audit_list *out)
{
	list_all((co_audit_filter){.after = after}, 1000, out);
}

static void expect_record(const co_audit_record *r, int64_t seq, const entry *en)
{
	assert_int_equal(r->seq, seq);
	assert_true(co_id_valid(r->id.s));
	assert_string_equal(r->actor, en->actor);
	assert_string_equal(r->action, en->action);
	assert_string_equal(r->target, en->target);
	assert_string_equal(r->detail_json, en->detail);
	assert_int_equal(strlen(r->hash), CO_AUDIT_HASH_HEX);
	char h[CO_AUDIT_HASH_HEX + 1];
	co_audit_hash(r, h);
	assert_string_equal(h, r->hash);
}

/* ---- the database itself ------------------------------------------------------------- */

/* Runs sql on the store's database through a connection of our own (not the store's). */
static void db_exec(const char *sql)
{
	if (is_sqlite) {
		sqlite3 *db;
		assert_int_equal(sqlite3_open_v2(url, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
		sqlite3_busy_timeout(db, 10000);
		char *msg = NULL;
		int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
		if (rc != SQLITE_OK) {
			char m[300];
			snprintf(m, sizeof m, "%s", msg ? msg : sqlite3_errstr(rc));
			sqlite3_free(msg);
			sqlite3_close(db);
			fail_msg("sqlite3 %s: %s", sql, m);
		}
		sqlite3_close(db);
		/* The store's readers keep a snapshot up to 2 ms while this process commits
		 * nothing (sqlite_store.c DESIGN NOTE 8): let it age out. */
		usleep(5000);
	} else {
		PGconn *c = PQconnectdb(url);
		assert_int_equal(PQstatus(c), CONNECTION_OK);
		PGresult *r = PQexec(c, sql);
		ExecStatusType status = PQresultStatus(r);
		if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
			char m[300];
			snprintf(m, sizeof m, "%s", PQresultErrorMessage(r));
			PQclear(r);
			PQfinish(c);
			fail_msg("libpq %s: %s", sql, m);
		}
		PQclear(r);
		PQfinish(c);
	}
}

static void db_execf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void db_execf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *sql = NULL;
	int n = vasprintf(&sql, fmt, ap);
	va_end(ap);
	assert_true(n > 0);
	db_exec(sql);
	free(sql);
}

/* Puts record r back as it was (after a tampering test deleted it). The strings hold no
 * single quote (the tests make them). */
static void db_reinsert(const co_audit_record *r)
{
	db_execf("INSERT INTO audit_log (seq, id, at, actor, action, target, detail, prev_hash, "
		 "hash) VALUES (%lld, '%s', %lld, '%s', '%s', '%s', '%s', '%s', '%s')",
		 (long long)r->seq, r->id.s, (long long)r->at, r->actor, r->action, r->target,
		 r->detail_json, r->prev_hash, r->hash);
}

/* Makes every INSERT into audit_log fail (on), or no longer (off). */
static void refuse_appends(bool on)
{
	if (is_sqlite) {
		db_exec(on ? "CREATE TRIGGER audit_refuse BEFORE INSERT ON audit_log BEGIN "
			     "SELECT RAISE(ABORT, 'audit refused by the test'); END"
			   : "DROP TRIGGER audit_refuse");
	} else {
		db_exec(on ? "CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS "
			     "$$BEGIN RAISE EXCEPTION 'audit refused by the test'; END$$; "
			     "CREATE TRIGGER audit_refuse BEFORE INSERT ON audit_log FOR EACH ROW "
			     "EXECUTE FUNCTION audit_refuse()"
			   : "DROP TRIGGER audit_refuse ON audit_log; DROP FUNCTION audit_refuse()");
	}
}

/* ---- writes -------------------------------------------------------------------------- */

static int mem_put(const co_id *ws, const char *key, const char *value, int64_t if_match)
{
	co_mem_put p = {.key = key, .value_json = value, .if_match_version = if_match};
	int64_t v = 0;
	co_conflict c = {0};
	int rc = CALL(mem_put, ws, &p, &v, &c);
	co_conflict_clear(&c);
	return rc;
}

static int mem_get_version(const co_id *ws, const char *key)
{
	co_mem_entry e = {0};
	int rc = CALL(mem_get, ws, key, &e);
	int64_t v = rc ? 0 : e.version;
	co_mem_entry_clear(&e);
	return (int)v;
}

static int enqueue(const co_id *ws, const char *key, bool *created)
{
	co_inbox_msg in = {.body_json = "{\"task\":1}",
			   .idempotency_key = (char *)key,
			   .max_attempts = 5,
			   .source = CO_INBOX_SRC_API,
			   .status = CO_INBOX_QUEUED};
	co_inbox_msg out = {0};
	co_conflict c = {0};
	int rc = CALL(inbox_enqueue, ws, &in, &out, created, &c);
	co_inbox_msg_clear(&out);
	co_conflict_clear(&c);
	return rc;
}

static int sched_create(const co_id *ws, const char *name, co_id *sid)
{
	co_schedule in = {0}, out = {0};
	in.workspace_id = *ws;
	in.name = (char *)name;
	in.cron_expr = (char *)"0 * * * *";
	in.timezone = (char *)"UTC";
	in.prompt = (char *)"p";
	in.enabled = true;
	in.source = CO_SCHED_RUNTIME;
	assert_int_equal(co_sched_init_next(&in, co_clock_now_us()), CO_OK);
	co_conflict c = {0};
	int rc = CALL(sched_create, &in, &out, &c);
	if (sid)
		*sid = out.id;
	co_schedule_clear(&out);
	co_conflict_clear(&c);
	return rc;
}

static void parse_plan(const char *text, co_org_plan *plan)
{
	json_error_t je;
	json_t *doc = json_loads(text, 0, &je);
	assert_non_null(doc);
	co_org_error err = {0};
	int rc = co_org_parse(doc, co_clock_now_us(), plan, &err);
	co_org_error_clear(&err);
	json_decref(doc);
	assert_int_equal(rc, CO_OK);
}

/* ---- 1. what is recorded ------------------------------------------------------------- */

static void test_successful_writes_append(void **state)
{
	(void)state;
	int64_t h0 = head();
	entry e1, e2, e3, e4, e5;
	entry_init(&e1, "alice", "workspace.create", "/workspaces", "{\"name\":\"au-1\"}");
	co_audit_set(&e1.e);
	co_id ws = kit_mk_root("au-1");
	co_audit_set(NULL);

	char target[200];
	snprintf(target, sizeof target, "/workspaces/%s/memory", ws.s);
	entry_init(&e2, "bob", "memory.put", target, "{\"key\":\"k\",\"value\":1}");
	co_audit_set(&e2.e);
	assert_int_equal(mem_put(&ws, "k", "1", CO_MEM_ANY), CO_OK);
	co_audit_set(NULL);

	snprintf(target, sizeof target, "/workspaces/%s/schedules", ws.s);
	entry_init(&e3, "carol", "schedule.create", target, "{}");
	co_audit_set(&e3.e);
	co_id sid;
	assert_int_equal(sched_create(&ws, "s1", &sid), CO_OK);
	co_audit_set(NULL);

	snprintf(target, sizeof target, "/workspaces/%s/schedules/%s", ws.s, sid.s);
	entry_init(&e4, "carol", "schedule.delete", target, NULL);
	co_audit_set(&e4.e);
	assert_int_equal(CALL(sched_delete, &ws, &sid), CO_OK);
	co_audit_set(NULL);

	snprintf(target, sizeof target, "/workspaces/%s/memory/k", ws.s);
	entry_init(&e5, "anonymous", "memory.delete", target, NULL);
	co_audit_set(&e5.e);
	co_conflict c = {0};
	assert_int_equal(CALL(mem_delete, &ws, "k", CO_MEM_ANY, &c), CO_OK);
	co_audit_set(NULL);

	assert_int_equal(head(), h0 + 5);
	co_audit_list l;
	records_after(h0, &l);
	assert_int_equal(l.n, 5);
	const entry *want[] = {&e1, &e2, &e3, &e4, &e5};
	for (size_t i = 0; i < l.n; i++) {
		expect_record(&l.items[i], h0 + 1 + (int64_t)i, want[i]);
		if (i)
			assert_string_equal(l.items[i].prev_hash, l.items[i - 1].hash);
		if (i && strcmp(l.items[i].id.s, l.items[i - 1].id.s) <= 0)
			fail_msg("ids are not increasing");
	}
	if (h0 == 0)
		assert_string_equal(l.items[0].prev_hash, CO_AUDIT_GENESIS);
	co_audit_list_clear(&l);
	entry_free(&e1);
	entry_free(&e2);
	entry_free(&e3);
	entry_free(&e4);
	entry_free(&e5);
}

static void test_failed_writes_append_nothing(void **state)
{
	(void)state;
	co_id ws = kit_mk_root("au-fail"); /* no entry: not recorded */
	assert_int_equal(mem_put(&ws, "k", "1", CO_MEM_ANY), CO_OK);
	int64_t h0 = head();
	entry e;
	entry_init(&e, "mallory", "memory.put", "/x", "{}");
	co_audit_set(&e.e);
	co_id absent = kit_absent_id();
	assert_int_equal(mem_put(&absent, "k", "1", CO_MEM_ANY), CO_ENOTFOUND);
	assert_int_equal(mem_put(&ws, "k", "2", 7), CO_ECONFLICT); /* version mismatch */
	assert_int_equal(mem_put(&ws, "k", "2", 0), CO_ECONFLICT); /* create-only, taken */
	co_conflict c = {0};
	assert_int_equal(CALL(mem_delete, &ws, "nope", CO_MEM_ANY, &c), CO_ENOTFOUND);
	co_conflict_clear(&c);
	co_workspace in = {.name = "au-fail"}, out = {0};
	assert_int_equal(CALL(ws_create, &in, &out, &c), CO_EEXISTS); /* name taken */
	co_workspace_clear(&out);
	co_conflict_clear(&c);
	assert_int_equal(sched_create(&absent, "s", NULL), CO_ENOTFOUND);
	co_id sid = kit_absent_id();
	assert_int_equal(CALL(sched_delete, &ws, &sid), CO_ENOTFOUND);
	co_audit_set(NULL);
	assert_int_equal(head(), h0);
	assert_int_equal(mem_get_version(&ws, "k"), 1);
	entry_free(&e);
}

static void test_no_entry_no_record(void **state)
{
	(void)state;
	int64_t h0 = head();
	co_audit_set(NULL);
	co_id ws = kit_mk_root("au-none");
	assert_int_equal(mem_put(&ws, "k", "1", CO_MEM_ANY), CO_OK);
	co_id sid;
	assert_int_equal(sched_create(&ws, "s", &sid), CO_OK);
	/* What the scheduler does (no entry on its thread): a fire and a webhook mark. */
	co_sched_fire f = {.schedule_id = sid, .workspace_id = ws, .manual = true,
			   .now = co_clock_now_us()};
	co_sched_fired fired = {0};
	co_conflict c = {0};
	assert_int_equal(CALL(sched_fire, &f, &fired, &c), CO_OK);
	assert_int_equal(CALL(sched_mark, &fired.run.id, "delivered", NULL), CO_OK);
	co_sched_fired_clear(&fired);
	kit_rm_ws(&ws);
	assert_int_equal(head(), h0);
}

static void test_dry_run_appends_nothing(void **state)
{
	(void)state;
	int64_t h0 = head();
	co_org_plan plan = {0};
	parse_plan("{\"name\":\"AuOrg\",\"workspaces\":[{\"name\":\"au-org-top\",\"children\":"
		   "[{\"name\":\"a\"},{\"name\":\"b\"}]}]}",
		   &plan);
	entry e;
	entry_init(&e, "admin", "org.import", "/org/import", "{}");
	co_audit_set(&e.e);
	co_org_result r = {0};
	assert_int_equal(CALL(org_import, &plan, true, &r), CO_OK);
	co_org_result_clear(&r);
	co_audit_set(NULL);
	assert_int_equal(head(), h0);
	co_audit_set(&e.e);
	assert_int_equal(CALL(org_import, &plan, false, &r), CO_OK);
	assert_int_equal(r.ws_created, 3);
	co_org_result_clear(&r);
	co_audit_set(NULL);
	assert_int_equal(head(), h0 + 1); /* one import, one record */
	co_org_plan_clear(&plan);
	entry_free(&e);
}

/* A write that answers CO_OK is recorded, even one that changed nothing. */
static void test_idempotent_repeat_recorded(void **state)
{
	(void)state;
	co_id ws = kit_mk_root("au-idem");
	int64_t h0 = head();
	entry e;
	entry_init(&e, "agent", "inbox.enqueue", "/workspaces/x/inbox", "{}");
	co_audit_set(&e.e);
	bool created;
	assert_int_equal(enqueue(&ws, "key-1", &created), CO_OK);
	assert_true(created);
	assert_int_equal(enqueue(&ws, "key-1", &created), CO_OK);
	assert_false(created);
	co_audit_set(NULL);
	assert_int_equal(head(), h0 + 2);
	entry_free(&e);
}

/* Never a mutation without its record: an append that fails fails the write. */
static void test_failed_append_fails_the_write(void **state)
{
	(void)state;
	co_id ws = kit_mk_root("au-refuse");
	int64_t h0 = head();
	refuse_appends(true);
	entry e;
	entry_init(&e, "agent", "memory.put", "/m", "{}");
	co_audit_set(&e.e);
	int rc = mem_put(&ws, "k", "1", CO_MEM_ANY);
	co_id sid;
	int rc2 = sched_create(&ws, "s", &sid);
	co_audit_set(NULL);
	/* Without an entry nothing is appended, so the write goes through. */
	int rc3 = mem_put(&ws, "other", "1", CO_MEM_ANY);
	refuse_appends(false);
	assert_int_not_equal(rc, CO_OK);
	assert_int_not_equal(rc2, CO_OK);
	assert_int_equal(rc3, CO_OK);
	assert_int_equal(mem_get_version(&ws, "k"), 0);
	co_schedule s = {0};
	assert_int_equal(CALL(sched_get, &ws, &sid, &s), CO_ENOTFOUND);
	co_schedule_clear(&s);
	assert_int_equal(head(), h0);
	entry_free(&e);
}

/* ---- 2. the SQLite executor: inline calls on the writer thread ----------------------- */

#define NTASKS 24

struct task_ctx {
	co_store_task t;
	entry *e;
	co_id ws;
	int i;
	int rc;     /* the store call's result */
	int done_rc;
	sem_t *done;
};

static void task_run(co_store_task *t)
{
	struct task_ctx *x = t->ctx;
	char key[16];
	snprintf(key, sizeof key, "t%d", x->i);
	co_audit_set(&x->e->e); /* as run_handler does, on the writer thread */
	/* Every third one is a failing compare-and-set. */
	co_mem_put p = {.key = key, .value_json = "1", .if_match_version = x->i % 3 ? CO_MEM_ANY : 5};
	int64_t v;
	co_conflict c = {0};
	x->rc = CALL(mem_put, &x->ws, &p, &v, &c);
	co_conflict_clear(&c);
	co_audit_set(NULL);
}

static void task_done(co_store_task *t, int rc)
{
	struct task_ctx *x = t->ctx;
	x->done_rc = rc;
	sem_post(x->done);
}

static void test_executor_inline(void **state)
{
	(void)state;
	if (!st->ops->exec_batched) {
		fprintf(stderr, "(this backend has no executor: nothing to check)\n");
		return;
	}
	co_id ws = kit_mk_root("au-exec");
	int64_t h0 = head();
	entry e;
	entry_init(&e, "exec", "memory.put", "/e", "{}");
	sem_t done;
	sem_init(&done, 0, 0);
	static struct task_ctx x[NTASKS];
	for (int i = 0; i < NTASKS; i++) {
		x[i] = (struct task_ctx){.e = &e, .ws = ws, .i = i, .done = &done};
		x[i].t = (co_store_task){task_run, task_done, &x[i]};
		assert_int_equal(st->ops->exec_batched(st, &x[i].t), CO_OK);
	}
	for (int i = 0; i < NTASKS; i++)
		sem_wait(&done);
	sem_destroy(&done);
	int ok = 0;
	for (int i = 0; i < NTASKS; i++) {
		assert_int_equal(x[i].done_rc, CO_OK);
		assert_int_equal(x[i].rc, i % 3 ? CO_OK : CO_ECONFLICT);
		ok += x[i].rc == CO_OK;
	}
	assert_int_equal(head(), h0 + ok);
	/* The same with appends refused: every write fails and none persists. */
	refuse_appends(true);
	for (int i = 0; i < NTASKS; i++) {
		x[i] = (struct task_ctx){.e = &e, .ws = ws, .i = i + 1000, .done = &done};
		x[i].t = (co_store_task){task_run, task_done, &x[i]};
	}
	sem_init(&done, 0, 0);
	for (int i = 0; i < NTASKS; i++)
		assert_int_equal(st->ops->exec_batched(st, &x[i].t), CO_OK);
	for (int i = 0; i < NTASKS; i++)
		sem_wait(&done);
	sem_destroy(&done);
	refuse_appends(false);
	for (int i = 0; i < NTASKS; i++) {
		assert_int_not_equal(x[i].rc, CO_OK);
		char key[16];
		snprintf(key, sizeof key, "t%d", i + 1000);
		assert_int_equal(mem_get_version(&ws, key), 0);
	}
	assert_int_equal(head(), h0 + ok);
	entry_free(&e);
}

/* ---- 3. concurrency ------------------------------------------------------------------ */

#define NTHREADS 16
#define PER_THREAD 80

struct racer {
	co_id ws;
	int i;
	int ok; /* successful writes */
	pthread_barrier_t *go;
};

static void *race_thread(void *p)
{
	struct racer *r = p;
	entry e;
	char actor[32], target[64];
	snprintf(actor, sizeof actor, "racer-%d", r->i);
	snprintf(target, sizeof target, "/race/%d", r->i);
	entry_init(&e, actor, "memory.put", target, "{}");
	co_audit_set(&e.e);
	pthread_barrier_wait(r->go);
	for (int j = 0; j < PER_THREAD; j++) {
		char key[32];
		snprintf(key, sizeof key, "r%d-%d", r->i, j % 7);
		/* Every fourth write is a compare-and-set that fails. */
		co_mem_put p2 = {.key = key, .value_json = "1",
				 .if_match_version = j % 4 == 3 ? 1000000 : CO_MEM_ANY};
		int64_t v;
		co_conflict c = {0};
		if (CO_STORE_CALL(st, mem_put, &r->ws, &p2, &v, &c) == CO_OK)
			r->ok++;
		co_conflict_clear(&c);
	}
	co_audit_set(NULL);
	entry_free(&e);
	return NULL;
}

static void test_concurrent_writers(void **state)
{
	(void)state;
	co_id ws = kit_mk_root("au-race");
	int64_t h0 = head();
	pthread_barrier_t go;
	pthread_barrier_init(&go, NULL, NTHREADS);
	struct racer r[NTHREADS];
	pthread_t th[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		r[i] = (struct racer){.ws = ws, .i = i, .go = &go};
		assert_int_equal(pthread_create(&th[i], NULL, race_thread, &r[i]), 0);
	}
	int ok = 0;
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		ok += r[i].ok;
	}
	pthread_barrier_destroy(&go);
	assert_int_equal(ok, NTHREADS * PER_THREAD * 3 / 4);
	assert_int_equal(head(), h0 + ok); /* contiguous (verify checks each step) and valid */
	co_audit_list l;
	records_after(h0, &l);
	assert_int_equal(l.n, (size_t)ok);
	for (size_t i = 0; i < l.n; i++)
		assert_int_equal(l.items[i].seq, h0 + 1 + (int64_t)i);
	co_audit_list_clear(&l);
	for (int i = 0; i < NTHREADS; i++) {
		char actor[32];
		snprintf(actor, sizeof actor, "racer-%d", i);
		list_all((co_audit_filter){.actor = actor}, 17, &l);
		assert_int_equal(l.n, (size_t)r[i].ok);
		co_audit_list_clear(&l);
	}
}

/* ---- 4. filters and paging ----------------------------------------------------------- */

static void test_filters_and_paging(void **state)
{
	(void)state;
	co_id ws = kit_mk_root("au-filter");
	int64_t h0 = head();
	char mem_target[128], ws_target[128];
	snprintf(mem_target, sizeof mem_target, "/workspaces/%s/memory", ws.s);
	snprintf(ws_target, sizeof ws_target, "/workspaces/%s", ws.s);
	entry ea, eb;
	entry_init(&ea, "f-alice", "memory.put", mem_target, "{}");
	entry_init(&eb, "f-bob", "workspace.update", ws_target, "{}");
	/* 10 records a minute apart from T0: alice's memory puts at even minutes, bob's
	 * workspace patches at odd ones. */
	for (int i = 0; i < 10; i++) {
		co_clock_set_override(T0 + i * MINUTE);
		if (i % 2 == 0) {
			co_audit_set(&ea.e);
			assert_int_equal(mem_put(&ws, "k", "1", CO_MEM_ANY), CO_OK);
		} else {
			co_audit_set(&eb.e);
			co_ws_patch p = {.fields = CO_WSF_ROLE, .v = {.role = "r"}};
			co_workspace out = {0};
			co_conflict c = {0};
			assert_int_equal(CALL(ws_patch, &ws, &p, &out, &c), CO_OK);
			co_workspace_clear(&out);
			co_conflict_clear(&c);
		}
		co_audit_set(NULL);
	}
	co_clock_set_override(0);
	assert_int_equal(head(), h0 + 10);

	co_audit_list l;
	list_all((co_audit_filter){.actor = "f-alice"}, 2, &l);
	assert_int_equal(l.n, 5);
	for (size_t i = 0; i < l.n; i++) {
		assert_int_equal(l.items[i].seq, h0 + 1 + 2 * (int64_t)i);
		assert_int_equal(l.items[i].at, T0 + 2 * (int64_t)i * MINUTE);
		expect_record(&l.items[i], l.items[i].seq, &ea);
	}
	co_audit_list_clear(&l);

	list_all((co_audit_filter){.action = "workspace.update", .after = h0}, 100, &l);
	assert_int_equal(l.n, 5);
	assert_string_equal(l.items[0].actor, "f-bob");
	co_audit_list_clear(&l);

	/* target is a prefix: the workspace's path covers its memory too */
	list_all((co_audit_filter){.target_prefix = ws_target}, 3, &l);
	assert_int_equal(l.n, 10);
	co_audit_list_clear(&l);
	list_all((co_audit_filter){.target_prefix = mem_target}, 3, &l);
	assert_int_equal(l.n, 5);
	co_audit_list_clear(&l);
	list_all((co_audit_filter){.target_prefix = "/workspaces/nobody"}, 3, &l);
	assert_int_equal(l.n, 0);
	co_audit_list_clear(&l);

	/* since inclusive, until exclusive: minutes 3..6 */
	list_all((co_audit_filter){.since = T0 + 3 * MINUTE, .until = T0 + 7 * MINUTE}, 100, &l);
	assert_int_equal(l.n, 4);
	assert_int_equal(l.items[0].at, T0 + 3 * MINUTE);
	assert_int_equal(l.items[3].at, T0 + 6 * MINUTE);
	co_audit_list_clear(&l);
	list_all((co_audit_filter){.actor = "f-bob", .since = T0 + 3 * MINUTE,
				   .until = T0 + 7 * MINUTE},
		 100, &l);
	assert_int_equal(l.n, 2); /* minutes 3 and 5 */
	co_audit_list_clear(&l);

	/* paging: after + limit walk the same records in seq order */
	co_audit_filter f = {.after = h0, .limit = 4};
	int64_t seen = h0;
	for (int page = 0; page < 3; page++) {
		co_audit_list p = {0};
		assert_int_equal(CALL(audit_list, &f, &p), CO_OK);
		assert_int_equal(p.n, page < 2 ? 4 : 2);
		for (size_t i = 0; i < p.n; i++)
			assert_int_equal(p.items[i].seq, ++seen);
		f.after = p.items[p.n - 1].seq;
		co_audit_list_clear(&p);
	}
	assert_int_equal(seen, h0 + 10);
	entry_free(&ea);
	entry_free(&eb);
}

/* ---- 5. tampering -------------------------------------------------------------------- */

/* Appends n records (the chain must then have at least 3). */
static void append_some(int n)
{
	static int calls;
	char name[32];
	snprintf(name, sizeof name, "au-tamper-%d", ++calls);
	co_id ws = kit_mk_root(name);
	entry e;
	entry_init(&e, "tamper-setup", "memory.put", "/t", "{}");
	co_audit_set(&e.e);
	for (int i = 0; i < n; i++)
		assert_int_equal(mem_put(&ws, "k", "1", CO_MEM_ANY), CO_OK);
	co_audit_set(NULL);
	entry_free(&e);
}

static void get_record(int64_t seq, co_audit_record *out)
{
	co_audit_list l = {0};
	co_audit_filter f = {.after = seq - 1, .limit = 1};
	assert_int_equal(CALL(audit_list, &f, &l), CO_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].seq, seq);
	*out = l.items[0];
	free(l.items);
}

static void expect_broken(int64_t seq, const co_id *id, const char *reason_part)
{
	co_audit_verify v;
	verify(&v);
	assert_false(v.valid);
	assert_true(v.has_broken);
	assert_int_equal(v.broken_seq, seq);
	assert_string_equal(v.broken_id.s, id->s);
	if (!strstr(v.reason, reason_part))
		fail_msg("reason '%s' does not mention '%s'", v.reason, reason_part);
}

static void test_tamper_edited_actor(void **state)
{
	(void)state;
	append_some(5);
	int64_t n = head();
	int64_t k = n - 2; /* a middle row */
	co_audit_record r;
	get_record(k, &r);
	db_execf("UPDATE audit_log SET actor = 'mallory' WHERE seq = %lld", (long long)k);
	expect_broken(k, &r.id, "hash");
	db_execf("UPDATE audit_log SET actor = '%s' WHERE seq = %lld", r.actor, (long long)k);
	assert_int_equal(head(), n);
	/* the first record too */
	co_audit_record first;
	get_record(1, &first);
	db_exec("UPDATE audit_log SET detail = '{}' WHERE seq = 1");
	expect_broken(1, &first.id, "hash");
	db_execf("UPDATE audit_log SET detail = '%s' WHERE seq = 1", first.detail_json);
	assert_int_equal(head(), n);
	co_audit_record_clear(&first);
	co_audit_record_clear(&r);
}

static void test_tamper_edited_hash(void **state)
{
	(void)state;
	append_some(3);
	int64_t n = head();
	int64_t k = n - 1;
	co_audit_record r;
	get_record(k, &r);
	/* A well-formed hash, not this record's */
	db_execf("UPDATE audit_log SET hash = '%s' WHERE seq = %lld", CO_AUDIT_GENESIS, (long long)k);
	expect_broken(k, &r.id, "hash");
	/* One character more: a reader that truncated to 64 would miss it */
	db_execf("UPDATE audit_log SET hash = '%sa' WHERE seq = %lld", r.hash, (long long)k);
	expect_broken(k, &r.id, "hash");
	/* The newest record's hash edited */
	co_audit_record last;
	get_record(n, &last);
	db_execf("UPDATE audit_log SET hash = '%s' WHERE seq = %lld", r.hash, (long long)n);
	db_execf("UPDATE audit_log SET hash = '%s' WHERE seq = %lld", r.hash, (long long)k);
	expect_broken(n, &last.id, "hash");
	db_execf("UPDATE audit_log SET hash = '%s' WHERE seq = %lld", last.hash, (long long)n);
	assert_int_equal(head(), n);
	co_audit_record_clear(&last);
	co_audit_record_clear(&r);
}

static void test_tamper_deleted_row(void **state)
{
	(void)state;
	append_some(4);
	int64_t n = head();
	int64_t k = n - 2;
	co_audit_record gone, after;
	get_record(k, &gone);
	get_record(k + 1, &after);
	db_execf("DELETE FROM audit_log WHERE seq = %lld", (long long)k);
	expect_broken(k + 1, &after.id, "missing"); /* the seq after the gap */
	db_reinsert(&gone);
	assert_int_equal(head(), n);
	/* Deleting the newest row leaves a valid shorter chain (audit.h note 3). */
	co_audit_record last;
	get_record(n, &last);
	db_execf("DELETE FROM audit_log WHERE seq = %lld", (long long)n);
	assert_int_equal(head(), n - 1);
	db_reinsert(&last);
	assert_int_equal(head(), n);
	co_audit_record_clear(&last);
	co_audit_record_clear(&gone);
	co_audit_record_clear(&after);
}

/* After an edit is undone, appends still chain onto the head. */
static void test_appends_after_restore(void **state)
{
	(void)state;
	int64_t n = head();
	append_some(2);
	assert_int_equal(head(), n + 2);
}

int main(int argc, char **argv)
{
	int rc = store_kit_args(argc, argv);
	if (rc >= 0)
		return rc;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_successful_writes_append, kit_reset_clock),
		cmocka_unit_test_teardown(test_failed_writes_append_nothing, kit_reset_clock),
		cmocka_unit_test_teardown(test_no_entry_no_record, kit_reset_clock),
		cmocka_unit_test_teardown(test_dry_run_appends_nothing, kit_reset_clock),
		cmocka_unit_test_teardown(test_idempotent_repeat_recorded, kit_reset_clock),
		cmocka_unit_test_teardown(test_failed_append_fails_the_write, kit_reset_clock),
		cmocka_unit_test_teardown(test_executor_inline, kit_reset_clock),
		cmocka_unit_test_teardown(test_concurrent_writers, kit_reset_clock),
		cmocka_unit_test_teardown(test_filters_and_paging, kit_reset_clock),
		cmocka_unit_test_teardown(test_tamper_edited_actor, kit_reset_clock),
		cmocka_unit_test_teardown(test_tamper_edited_hash, kit_reset_clock),
		cmocka_unit_test_teardown(test_tamper_deleted_row, kit_reset_clock),
		cmocka_unit_test_teardown(test_appends_after_restore, kit_reset_clock),
	};
	return cmocka_run_group_tests(tests, store_kit_setup, store_kit_teardown);
}
