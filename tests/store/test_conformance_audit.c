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
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
	char token_id[64]; /* token_entry: the token the entry names */
} entry;

static void entry_init(entry *en, const char *actor, const char *action, const char *target,
		       const char *body)
{
	memset(en, 0, sizeof *en);
	snprintf(en->actor, sizeof en->actor, "%s", actor);
	snprintf(en->action, sizeof en->action, "%s", action);
	snprintf(en->target, sizeof en->target, "%s", target);
	en->detail = co_audit_detail("POST", target, body, body ? strlen(body) : 0);
	en->e = (co_audit_entry){.actor = en->actor, .action = en->action, .target = en->target,
				 .detail_json = en->detail};
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

/* ---- 6. a token's write (audit.h note 5) -------------------------------------------- */

/* A new token of ws (made with no entry current); its id. */
static co_id mk_token(const co_id *ws)
{
	char pt[CO_TOKEN_LEN + 1];
	co_token in = {0}, out = {0};
	co_token_mint(pt, in.prefix, in.hash_hex);
	co_conflict c = {0};
	int rc = CALL(token_create, ws, &in, &out, &c);
	co_conflict_clear(&c);
	if (rc)
		fail_msg("token for %s: %d %s", ws->s, rc, co_err_msg());
	return out.id;
}

/* Is token tid of ws live (listed)? */
static bool token_live(const co_id *ws, const co_id *tid)
{
	co_page pg = {.limit = 1000};
	co_token_list l = {0};
	assert_int_equal(CALL(token_list, ws, &pg, &l), CO_OK);
	bool found = false;
	for (size_t i = 0; i < l.n; i++)
		found |= !strcmp(l.items[i].id.s, tid->s);
	co_token_list_clear(&l);
	return found;
}

/* An entry as the HTTP layer makes one for a request with workspace token tid. */
static void token_entry(entry *en, const char *tid, const char *action, const char *target)
{
	char actor[80];
	snprintf(actor, sizeof actor, "token:%s", tid);
	entry_init(en, actor, action, target, "{}");
	snprintf(en->token_id, sizeof en->token_id, "%s", tid);
	en->e.token_id = en->token_id;
}

/* What one pass of tw_run writes to: workspace b, and what it deletes there. */
typedef struct {
	co_id b, del_sched, del_child, b_token;
} tw_fix;

#define TW_OPS 12
static const char *const tw_names[TW_OPS] = {
	"mem_put",      "mem_delete", "inbox_enqueue", "sched_create", "sched_delete", "skill_append",
	"usage_add",    "ws_patch",   "ws_create",     "ws_delete",    "token_create", "token_revoke"};

/* Runs each kind of write once against f->b under the current entry; rc[i] is the
 * result of write i. Each would fail (or say so) if an earlier pass had left its effect:
 * create-only put, a fresh idempotency key, a new schedule name, skill seq 1, … */
static void tw_run(const tw_fix *f, int rc[TW_OPS])
{
	co_conflict c = {0};
	rc[0] = mem_put(&f->b, "tw-k", "1", 0);
	rc[1] = CALL(mem_delete, &f->b, "tw-del", CO_MEM_ANY, &c);
	co_conflict_clear(&c);
	bool created = false;
	rc[2] = enqueue(&f->b, "tw-idem", &created);
	if (rc[2] == CO_OK && !created)
		rc[2] = CO_EEXISTS;
	rc[3] = sched_create(&f->b, "tw-s", NULL);
	rc[4] = CALL(sched_delete, &f->b, &f->del_sched);
	co_skill_version v = {0};
	rc[5] = CALL(skill_append, &f->b, "tw-skill", "{\"a\":1}", &v, &c);
	if (rc[5] == CO_OK && v.seq != 1)
		rc[5] = CO_EEXISTS;
	co_skill_version_clear(&v);
	co_conflict_clear(&c);
	co_usage u = {.seconds_us = 1000000};
	rc[6] = CALL(usage_add, &f->b, &u, &c);
	co_conflict_clear(&c);
	co_ws_patch p = {.fields = CO_WSF_ROLE, .v = {.role = "tw-role"}};
	co_workspace w = {0};
	rc[7] = CALL(ws_patch, &f->b, &p, &w, &c);
	co_workspace_clear(&w);
	co_conflict_clear(&c);
	co_workspace in = {.name = "tw-child", .has_parent = true, .parent_id = f->b};
	rc[8] = CALL(ws_create, &in, &w, &c);
	co_workspace_clear(&w);
	co_conflict_clear(&c);
	co_ws_delete_opts o = {.confirm = true};
	co_id_list ids = {0};
	rc[9] = CALL(ws_delete, &f->del_child, &o, &ids, &c);
	co_id_list_clear(&ids);
	co_conflict_clear(&c);
	char pt[CO_TOKEN_LEN + 1];
	co_token tin = {0}, tout = {0};
	co_token_mint(pt, tin.prefix, tin.hash_hex);
	rc[10] = CALL(token_create, &f->b, &tin, &tout, &c);
	co_conflict_clear(&c);
	rc[11] = CALL(token_revoke, &f->b, &f->b_token);
}

/* What tw_run may change, read back: row counts of b in the database itself, b's role,
 * whether the child to delete is removed, whether b's token is live. */
typedef struct {
	long long rows[6];
	bool role_set, child_removed, token_live;
} tw_state;

static const char *const tw_tables[6] = {"memory",         "inbox",        "schedules",
					 "skill_versions", "usage_events", "workspace_tokens"};

static tw_state tw_read(const tw_fix *f)
{
	tw_state t = {0};
	for (int i = 0; i < 6; i++)
		t.rows[i] = kit_rows_of(tw_tables[i], &f->b);
	co_workspace w = {0};
	assert_int_equal(CALL(ws_get, &f->b, &w), CO_OK);
	t.role_set = w.role != NULL;
	co_workspace_clear(&w);
	assert_int_equal(CALL(ws_get, &f->del_child, &w), CO_OK);
	t.child_removed = w.status == CO_WS_REMOVED;
	co_workspace_clear(&w);
	t.token_live = token_live(&f->b, &f->b_token);
	return t;
}

/* A revoked token, a token of a removed workspace, ids that are no token: each of a
 * dozen kinds of write fails CO_EREVOKED and leaves nothing, not even a record; then the
 * same writes with a live token all succeed, one record each. */
static void test_token_write_checked(void **state)
{
	(void)state;
	co_id org = kit_mk_root("au-tok");
	co_id a = kit_mk_child(&org, "a"), gone = kit_mk_child(&org, "gone");
	tw_fix f = {.b = kit_mk_child(&org, "b")};
	co_id live = mk_token(&a), revoked = mk_token(&a), of_gone = mk_token(&gone);
	assert_int_equal(CALL(token_revoke, &a, &revoked), CO_OK);
	kit_rm_ws(&gone); /* revokes of_gone too; the row stays */
	assert_int_equal(mem_put(&f.b, "tw-del", "1", CO_MEM_ANY), CO_OK);
	assert_int_equal(sched_create(&f.b, "tw-del-s", &f.del_sched), CO_OK);
	f.del_child = kit_mk_child(&f.b, "tw-del-child");
	f.b_token = mk_token(&f.b);
	tw_state before = tw_read(&f);
	int64_t h0 = head();

	co_id absent = kit_absent_id();
	char upper[CO_ID_LEN + 1];
	for (int i = 0; i <= CO_ID_LEN; i++)
		upper[i] = (char)(revoked.s[i] >= 'a' && revoked.s[i] <= 'f' ? revoked.s[i] - 32
								      : revoked.s[i]);
	const char *bad[] = {revoked.s, of_gone.s, upper, absent.s, "not-a-token-id", "",
			     "'; DROP TABLE workspace_tokens; --"};
	for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
		entry en;
		token_entry(&en, bad[k], "tw.write", "/tw");
		int rc[TW_OPS];
		co_audit_set(&en.e);
		tw_run(&f, rc);
		co_audit_set(NULL);
		entry_free(&en);
		for (int i = 0; i < TW_OPS; i++)
			if (rc[i] != CO_EREVOKED)
				fail_msg("token '%s': %s answered %d, not CO_EREVOKED", bad[k], tw_names[i],
					 rc[i]);
	}
	assert_int_equal(head(), h0);
	tw_state after = tw_read(&f);
	assert_memory_equal(after.rows, before.rows, sizeof before.rows);
	assert_false(after.role_set);
	assert_false(after.child_removed);
	assert_true(after.token_live);

	entry en;
	token_entry(&en, live.s, "tw.write", "/tw");
	int rc[TW_OPS];
	co_audit_set(&en.e);
	tw_run(&f, rc);
	co_audit_set(NULL);
	for (int i = 0; i < TW_OPS; i++)
		if (rc[i] != CO_OK)
			fail_msg("live token: %s answered %d (%s)", tw_names[i], rc[i], co_err_msg());
	assert_int_equal(head(), h0 + TW_OPS);
	co_audit_list l;
	records_after(h0, &l);
	assert_int_equal(l.n, TW_OPS);
	for (size_t i = 0; i < l.n; i++)
		expect_record(&l.items[i], h0 + 1 + (int64_t)i, &en);
	co_audit_list_clear(&l);
	entry_free(&en);
	after = tw_read(&f);
	const long long want[6] = {1, 1, 1, 1, 1, 2}; /* tw-k for tw-del, tw-s for tw-del-s */
	assert_memory_equal(after.rows, want, sizeof want);
	assert_true(after.role_set);
	assert_true(after.child_removed);
	assert_false(after.token_live);
}

/* A token may revoke itself (that write is the revoke's own record); after it, the
 * token's writes fail, a revoke of another token included. */
static void test_token_revokes_itself(void **state)
{
	(void)state;
	co_id ws = kit_mk_root("au-tok-self");
	co_id t = mk_token(&ws), t2 = mk_token(&ws);
	int64_t h0 = head();
	char target[200];
	/* The path as a client may spell it: upper case. */
	snprintf(target, sizeof target, "/workspaces/%s/tokens/%s", ws.s, t.s);
	for (char *p = strrchr(target, '/'); *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 32);
	entry self, other;
	token_entry(&self, t.s, "token.revoke", target);
	co_audit_set(&self.e);
	assert_int_equal(CALL(token_revoke, &ws, &t), CO_OK);
	co_audit_set(NULL);
	assert_int_equal(head(), h0 + 1);
	assert_false(token_live(&ws, &t));
	snprintf(target, sizeof target, "/workspaces/%s/tokens/%s", ws.s, t2.s);
	token_entry(&other, t.s, "token.revoke", target);
	co_audit_set(&other.e);
	assert_int_equal(CALL(token_revoke, &ws, &t2), CO_EREVOKED);
	assert_int_equal(mem_put(&ws, "k", "1", CO_MEM_ANY), CO_EREVOKED);
	co_audit_set(&self.e);
	assert_int_equal(CALL(token_revoke, &ws, &t), CO_ENOTFOUND); /* already revoked */
	co_audit_set(NULL);
	assert_true(token_live(&ws, &t2));
	assert_int_equal(mem_get_version(&ws, "k"), 0);
	assert_int_equal(head(), h0 + 1);
	entry_free(&self);
	entry_free(&other);
}

/* The SQLite executor: a revoke and then a write with that token in ONE transaction (the
 * write sees the revoke, uncommitted as it is) — and the other way round. */
struct rtw_ctx {
	co_store_task t;
	co_id ws, tid;
	entry *admin, *tok;
	bool write_first;
	int rc_revoke, rc_write, done_rc;
	sem_t done;
};

static void rtw_run(co_store_task *t)
{
	struct rtw_ctx *x = t->ctx;
	for (int step = 0; step < 2; step++) {
		if ((step == 0) == x->write_first) {
			co_audit_set(&x->tok->e);
			x->rc_write = mem_put(&x->ws, x->write_first ? "first" : "after", "1", CO_MEM_ANY);
		} else {
			co_audit_set(&x->admin->e);
			x->rc_revoke = CALL(token_revoke, &x->ws, &x->tid);
		}
	}
	co_audit_set(NULL);
}

static void rtw_done(co_store_task *t, int rc)
{
	struct rtw_ctx *x = t->ctx;
	x->done_rc = rc;
	sem_post(&x->done);
}

static void test_token_revoked_in_the_same_batch(void **state)
{
	(void)state;
	if (!st->ops->exec_batched) {
		fprintf(stderr, "(this backend has no executor: nothing to check)\n");
		return;
	}
	co_id ws = kit_mk_root("au-tok-batch");
	for (int write_first = 0; write_first < 2; write_first++) {
		co_id tid = mk_token(&ws);
		int64_t h0 = head();
		entry admin, tok;
		entry_init(&admin, "admin", "token.revoke", "/revoke", NULL);
		token_entry(&tok, tid.s, "memory.put", "/put");
		static struct rtw_ctx x;
		x = (struct rtw_ctx){.ws = ws, .tid = tid, .admin = &admin, .tok = &tok,
				     .write_first = write_first};
		x.t = (co_store_task){rtw_run, rtw_done, &x};
		sem_init(&x.done, 0, 0);
		assert_int_equal(st->ops->exec_batched(st, &x.t), CO_OK);
		sem_wait(&x.done);
		sem_destroy(&x.done);
		assert_int_equal(x.done_rc, CO_OK);
		assert_int_equal(x.rc_revoke, CO_OK);
		assert_false(token_live(&ws, &tid));
		co_audit_list l;
		records_after(h0, &l);
		if (write_first) {
			assert_int_equal(x.rc_write, CO_OK);
			assert_int_equal(mem_get_version(&ws, "first"), 1);
			assert_int_equal(l.n, 2);
			assert_string_equal(l.items[0].actor, tok.actor);
			assert_string_equal(l.items[1].actor, "admin");
		} else {
			assert_int_equal(x.rc_write, CO_EREVOKED);
			assert_int_equal(mem_get_version(&ws, "after"), 0);
			assert_int_equal(l.n, 1);
			assert_string_equal(l.items[0].actor, "admin");
		}
		co_audit_list_clear(&l);
		entry_free(&admin);
		entry_free(&tok);
	}
}

/* Threads write with a token's entry while another revokes the token (or removes its
 * workspace, the writes going to a sibling's inbox): once the revoke has returned no
 * write of the token succeeds, and no record of the token follows the revoke's. */
#define TR_ROUNDS 20
#define TR_WRITERS 6

static long long mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

struct tok_race {
	co_id target; /* where the writes go */
	entry *tok;
	bool inbox; /* enqueue into target (the removal variant), else memory puts */
	atomic_bool stop;
	atomic_llong killed_at; /* monotonic µs when the revoke (removal) returned */
	atomic_int ok, ok_after, refused, other;
	int other_rc;
	char other_msg[CO_ERR_MSG_MAX];
};

struct tr_writer {
	struct tok_race *r;
	int i;
};

static void *tr_write(void *p)
{
	struct tr_writer *w = p;
	struct tok_race *r = w->r;
	co_audit_set(&r->tok->e);
	for (int n = 0; !atomic_load(&r->stop); n++) {
		long long sent = mono_us();
		char key[48];
		int rc;
		if (r->inbox) {
			bool created;
			snprintf(key, sizeof key, "tr-%d-%d", w->i, n);
			rc = enqueue(&r->target, key, &created);
		} else {
			snprintf(key, sizeof key, "tr-%d", w->i);
			rc = mem_put(&r->target, key, "1", CO_MEM_ANY);
		}
		if (rc == CO_OK) {
			atomic_fetch_add(&r->ok, 1);
			if (sent > atomic_load(&r->killed_at))
				atomic_fetch_add(&r->ok_after, 1);
		} else if (rc == CO_EREVOKED) {
			atomic_fetch_add(&r->refused, 1);
		} else if (atomic_fetch_add(&r->other, 1) == 0) {
			r->other_rc = rc;
			snprintf(r->other_msg, sizeof r->other_msg, "%s", co_err_msg());
		}
	}
	co_audit_set(NULL);
	return NULL;
}

/* Waits (bounded) until *v reaches n. */
static void wait_for(atomic_int *v, int n)
{
	long long deadline = mono_us() + 10 * SEC;
	while (atomic_load(v) < n && mono_us() < deadline)
		usleep(200);
}

static void token_race(bool removal)
{
	co_id org = kit_mk_root(removal ? "au-tr-removal" : "au-tr-revoke");
	co_id sibling = kit_mk_child(&org, "sibling");
	long long kill_max_us = 0;
	for (int round = 0; round < TR_ROUNDS; round++) {
		char name[32];
		snprintf(name, sizeof name, "tr-%d", round);
		co_id ws = kit_mk_child(&org, name);
		co_id tid = mk_token(&ws);
		entry tok, kill;
		token_entry(&tok, tid.s, removal ? "inbox.enqueue" : "memory.put", "/tr");
		entry_init(&kill, "tr-admin", removal ? "workspace.delete" : "token.revoke", "/tr-kill",
			   NULL);
		static struct tok_race r;
		memset(&r, 0, sizeof r);
		r.target = removal ? sibling : ws;
		r.tok = &tok;
		r.inbox = removal;
		atomic_store(&r.killed_at, LLONG_MAX);
		int64_t h0 = head();
		pthread_t th[TR_WRITERS];
		struct tr_writer w[TR_WRITERS];
		for (int i = 0; i < TR_WRITERS; i++) {
			w[i] = (struct tr_writer){&r, i};
			assert_int_equal(pthread_create(&th[i], NULL, tr_write, &w[i]), 0);
		}
		wait_for(&r.ok, 5 + round % 7 * 5);
		co_audit_set(&kill.e);
		long long t0 = mono_us();
		int rc;
		if (removal) {
			co_ws_delete_opts o = {.confirm = true};
			co_id_list ids = {0};
			co_conflict c = {0};
			rc = CALL(ws_delete, &ws, &o, &ids, &c);
			co_id_list_clear(&ids);
			co_conflict_clear(&c);
		} else {
			rc = CALL(token_revoke, &ws, &tid);
		}
		long long t1 = mono_us();
		atomic_store(&r.killed_at, t1);
		co_audit_set(NULL);
		if (t1 - t0 > kill_max_us)
			kill_max_us = t1 - t0;
		wait_for(&r.refused, 50);
		atomic_store(&r.stop, true);
		for (int i = 0; i < TR_WRITERS; i++)
			pthread_join(th[i], NULL);
		assert_int_equal(rc, CO_OK);
		if (atomic_load(&r.other))
			fail_msg("round %d: %d writes failed otherwise, the first %d: %s", round,
				 atomic_load(&r.other), r.other_rc, r.other_msg);
		if (atomic_load(&r.ok_after))
			fail_msg("round %d: %d writes begun after the %s returned succeeded", round,
				 atomic_load(&r.ok_after), removal ? "removal" : "revoke");
		assert_true(atomic_load(&r.refused) >= 50);
		/* The chain: the kill's record, and every record of the token before it. */
		co_audit_list l;
		records_after(h0, &l);
		int64_t kill_seq = 0;
		int by_token = 0;
		for (size_t i = 0; i < l.n; i++)
			if (!strcmp(l.items[i].actor, "tr-admin"))
				kill_seq = l.items[i].seq;
		assert_true(kill_seq > 0);
		for (size_t i = 0; i < l.n; i++) {
			if (strcmp(l.items[i].actor, tok.actor))
				continue;
			by_token++;
			if (l.items[i].seq > kill_seq)
				fail_msg("round %d: record %lld of the token follows the %s (%lld)", round,
					 (long long)l.items[i].seq, kill.action, (long long)kill_seq);
		}
		assert_int_equal(by_token, atomic_load(&r.ok));
		co_audit_list_clear(&l);
		entry_free(&tok);
		entry_free(&kill);
	}
	fprintf(stderr, "(%s: the slowest of %d took %lld µs)\n", removal ? "removal" : "revoke",
		TR_ROUNDS, kill_max_us);
}

/* Teardown: a failed test may leave its entry current (and gone with its frame). */
static int token_teardown(void **state)
{
	co_audit_set(NULL);
	return kit_reset_clock(state);
}

static void test_token_race_revoke(void **state)
{
	(void)state;
	token_race(false);
}

static void test_token_race_removal(void **state)
{
	(void)state;
	token_race(true);
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
		cmocka_unit_test_teardown(test_token_write_checked, token_teardown),
		cmocka_unit_test_teardown(test_token_revokes_itself, token_teardown),
		cmocka_unit_test_teardown(test_token_revoked_in_the_same_batch, token_teardown),
		cmocka_unit_test_teardown(test_token_race_revoke, token_teardown),
		cmocka_unit_test_teardown(test_token_race_removal, token_teardown),
	};
	if (co_auth_init() != CO_OK)
		return 1;
	return cmocka_run_group_tests(tests, store_kit_setup, store_kit_teardown);
}
