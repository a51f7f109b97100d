/*
 * test_conformance.c — the storage contract (src/store/store.h), run against a backend.
 *
 * Usage: test_store [--postgres | URL]. Without an argument it runs against a fresh
 * SQLite file in a temp directory; --postgres makes a fresh database on the test server
 * named by COLONY_TEST_PG (exit 77, "skipped", if unset). Every backend passes this file. Tests call the store interface
 * directly (no HTTP), use real threads for the concurrency claims, and move the clock
 * with co_clock_set_override() instead of sleeping.
 *
 * SQLite-only tests at the end cover migrations (down/up, a newer schema refused).
 */
#include "../../src/core/err.h"
#include "../../src/store/sqlite/migrate.h"
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


static void test_ws_create_get_unique(void **state)
{
	(void)state;
	co_id root = kit_mk_ws("conf-root", NULL);
	co_workspace w = {0};
	assert_int_equal(CALL(ws_get, &root, &w), CO_OK);
	assert_string_equal(w.name, "conf-root");
	assert_false(w.has_parent);
	assert_int_equal(w.status, CO_WS_PROVISIONING);
	assert_true(w.created_at > 0 && w.created_at == w.updated_at);
	co_workspace_clear(&w);

	co_workspace in = {.name = "conf-root"}, out = {0};
	co_conflict c = {0};
	assert_int_equal(CALL(ws_create, &in, &out, &c), CO_EEXISTS);
	assert_int_equal(c.kind, CO_CONFLICT_NAME_TAKEN);
	assert_string_equal(c.existing_id.s, root.s);
	co_conflict_clear(&c);

	co_id absent;
	co_id_new(&absent);
	assert_int_equal(CALL(ws_get, &absent, &w), CO_ENOTFOUND);
	in.has_parent = true;
	in.parent_id = absent;
	in.name = "child";
	assert_int_equal(CALL(ws_create, &in, &out, &c), CO_ENOTFOUND);
	co_conflict_clear(&c);
}

static void test_ws_patch_cycle_and_removed(void **state)
{
	(void)state;
	co_id a = kit_mk_ws("pc-a", NULL), b = kit_mk_ws("pc-b", &a), cc = kit_mk_ws("pc-c", &b);
	co_ws_patch p = {.fields = CO_WSF_PARENT};
	p.v.has_parent = true;
	p.v.parent_id = cc;
	co_workspace out = {0};
	co_conflict c = {0};
	assert_int_equal(CALL(ws_patch, &a, &p, &out, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_CYCLE);
	co_conflict_clear(&c);

	co_ws_delete_opts o = {.confirm = false};
	co_id_list ids = {0};
	assert_int_equal(CALL(ws_delete, &a, &o, &ids, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_CONFIRM);
	assert_int_equal(c.children.n, 1);
	assert_string_equal(c.children.items[0].id.s, b.s);
	co_conflict_clear(&c);
	o.confirm = true;
	assert_int_equal(CALL(ws_delete, &a, &o, &ids, &c), CO_OK);
	assert_int_equal(ids.n, 3);
	co_id_list_clear(&ids);

	/* removed is terminal, and a removed parent is "not found" */
	p.fields = CO_WSF_STATUS;
	p.v.status = CO_WS_ONLINE;
	assert_int_equal(CALL(ws_patch, &cc, &p, &out, &c), CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_REMOVED);
	co_conflict_clear(&c);
	co_workspace in = {.name = "under-removed", .has_parent = true, .parent_id = b};
	assert_int_equal(CALL(ws_create, &in, &out, &c), CO_ENOTFOUND);
	co_conflict_clear(&c);
	/* the name is free again */
	co_id a2 = kit_mk_ws("pc-a", NULL);
	assert_string_not_equal(a2.s, a.s);
}

static void test_ws_list_filters(void **state)
{
	(void)state;
	co_id root = kit_mk_ws("lf-root", NULL);
	for (int i = 0; i < 5; i++) {
		char name[8];
		snprintf(name, sizeof name, "k%d", i);
		kit_mk_ws(name, &root);
	}
	co_ws_filter f = {.by_parent = true, .parent_id = root, .limit = 2};
	co_ws_list l = {0};
	assert_int_equal(CALL(ws_list, &f, &l), CO_OK);
	assert_int_equal(l.n, 2);
	f.has_after = true;
	f.after = l.items[1].id;
	co_ws_list_clear(&l);
	f.limit = 100;
	assert_int_equal(CALL(ws_list, &f, &l), CO_OK);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.items[0].name, "k2");
	co_ws_list_clear(&l);
}

/* ---- 32 threads create one name through the store ---------------------------------- */

#define N_THREADS 32

struct create_race {
	pthread_barrier_t go;
	co_id parent;
	int rc[N_THREADS];
	co_id id[N_THREADS];
};

struct targ {
	void *shared;
	int i;
};

static void *create_thread(void *p)
{
	struct targ *t = p;
	struct create_race *cr = t->shared;
	co_workspace in = {.name = "same-name", .has_parent = true, .parent_id = cr->parent}, out = {0};
	co_conflict c = {0};
	pthread_barrier_wait(&cr->go);
	cr->rc[t->i] = CALL(ws_create, &in, &out, &c);
	cr->id[t->i] = cr->rc[t->i] == CO_OK ? out.id : c.existing_id;
	co_workspace_clear(&out);
	co_conflict_clear(&c);
	return NULL;
}

static void run_threads(void *(*fn)(void *), void *shared, pthread_barrier_t *go)
{
	pthread_t tid[N_THREADS];
	struct targ args[N_THREADS];
	pthread_barrier_init(go, NULL, N_THREADS);
	for (int i = 0; i < N_THREADS; i++) {
		args[i] = (struct targ){shared, i};
		pthread_create(&tid[i], NULL, fn, &args[i]);
	}
	for (int i = 0; i < N_THREADS; i++)
		pthread_join(tid[i], NULL);
	pthread_barrier_destroy(go);
}

static void test_concurrent_create_one_winner(void **state)
{
	(void)state;
	static struct create_race cr;
	cr.parent = kit_mk_ws("race-parent", NULL);
	run_threads(create_thread, &cr, &cr.go);
	int ok = 0, exists = 0, w = -1;
	for (int i = 0; i < N_THREADS; i++) {
		if (cr.rc[i] == CO_OK) {
			ok++;
			w = i;
		} else if (cr.rc[i] == CO_EEXISTS) {
			exists++;
		}
	}
	assert_int_equal(ok, 1);
	assert_int_equal(exists, N_THREADS - 1);
	for (int i = 0; i < N_THREADS; i++)
		assert_string_equal(cr.id[i].s, cr.id[w].s);
	co_ws_filter f = {.by_parent = true, .parent_id = cr.parent, .limit = 1000};
	co_ws_list l = {0};
	assert_int_equal(CALL(ws_list, &f, &l), CO_OK);
	assert_int_equal(l.n, 1);
	co_ws_list_clear(&l);
}

/* ---- memory ------------------------------------------------------------------------- */

static int64_t put(const co_id *ws, const char *key, const char *json, int64_t imv, int64_t ttl, int *rc,
		   co_conflict *c)
{
	co_mem_put p = {.key = key, .value_json = json, .if_match_version = imv, .ttl_seconds = ttl};
	int64_t v = -1;
	*rc = CALL(mem_put, ws, &p, &v, c);
	return v;
}

static void test_memory_versions_and_preconditions(void **state)
{
	(void)state;
	co_id ws = kit_mk_ws("mem-conf", NULL);
	co_conflict c = {0};
	int rc;
	assert_int_equal(put(&ws, "k", "1", CO_MEM_ANY, 0, &rc, &c), 1);
	assert_int_equal(put(&ws, "k", "2", CO_MEM_ANY, 0, &rc, &c), 2);
	assert_int_equal(put(&ws, "k", "3", 2, 0, &rc, &c), 3);
	put(&ws, "k", "4", 2, 0, &rc, &c);
	assert_int_equal(rc, CO_ECONFLICT);
	assert_int_equal(c.kind, CO_CONFLICT_VERSION);
	assert_int_equal(c.current_version, 3);
	co_conflict_clear(&c);
	put(&ws, "k", "4", 0, 0, &rc, &c);
	assert_int_equal(rc, CO_ECONFLICT);
	assert_int_equal(c.current_version, 3);
	co_conflict_clear(&c);
	put(&ws, "absent", "4", 7, 0, &rc, &c);
	assert_int_equal(rc, CO_ECONFLICT);
	assert_int_equal(c.current_version, 0);
	co_conflict_clear(&c);

	co_mem_entry e = {0};
	assert_int_equal(CALL(mem_get, &ws, "k", &e), CO_OK);
	assert_string_equal(e.value_json, "3");
	assert_int_equal(e.version, 3);
	co_mem_entry_clear(&e);
	assert_int_equal(CALL(mem_get, &ws, "absent", &e), CO_ENOTFOUND);

	assert_int_equal(CALL(mem_delete, &ws, "k", 2, &c), CO_ECONFLICT);
	assert_int_equal(c.current_version, 3);
	co_conflict_clear(&c);
	assert_int_equal(CALL(mem_delete, &ws, "k", 3, &c), CO_OK);
	assert_int_equal(CALL(mem_delete, &ws, "k", CO_MEM_ANY, &c), CO_ENOTFOUND);
	co_conflict_clear(&c);
	co_id absent;
	co_id_new(&absent);
	put(&absent, "k", "1", CO_MEM_ANY, 0, &rc, &c);
	assert_int_equal(rc, CO_ENOTFOUND);
	co_conflict_clear(&c);
}

static void test_memory_ttl_with_moved_clock(void **state)
{
	(void)state;
	co_id ws = kit_mk_ws("mem-ttl", NULL);
	co_conflict c = {0};
	int rc;
	co_usec_t t0 = co_clock_now_us();
	co_clock_set_override(t0);
	put(&ws, "t", "\"x\"", CO_MEM_ANY, 60, &rc, &c);
	assert_int_equal(rc, CO_OK);
	co_mem_entry e = {0};
	assert_int_equal(CALL(mem_get, &ws, "t", &e), CO_OK);
	assert_int_equal(e.expires_at, t0 + 60 * 1000000LL);
	co_mem_entry_clear(&e);
	co_clock_set_override(t0 + 60 * 1000000LL - 1); /* 1 µs before expiry: live */
	assert_int_equal(CALL(mem_get, &ws, "t", &e), CO_OK);
	co_mem_entry_clear(&e);
	co_clock_set_override(t0 + 60 * 1000000LL); /* at expiry: absent */
	assert_int_equal(CALL(mem_get, &ws, "t", &e), CO_ENOTFOUND);
	co_mem_filter f = {.limit = 100};
	co_mem_list l = {0};
	assert_int_equal(CALL(mem_list, &ws, &f, &l), CO_OK);
	assert_int_equal(l.n, 0);
	co_mem_list_clear(&l);
	put(&ws, "t", "1", 1, 0, &rc, &c);
	assert_int_equal(rc, CO_ECONFLICT);
	assert_int_equal(c.current_version, 0);
	co_conflict_clear(&c);
	assert_int_equal(put(&ws, "t", "1", 0, 0, &rc, &c), 1);
	assert_int_equal(rc, CO_OK);
	co_clock_set_override(0);
}

static void test_memory_list_prefix_paging(void **state)
{
	(void)state;
	co_id ws = kit_mk_ws("mem-list", NULL);
	const char *keys[] = {"p:1", "p:2", "p:3", "q", "p", "o"};
	co_conflict c = {0};
	int rc;
	for (int i = 0; i < 6; i++)
		put(&ws, keys[i], "0", CO_MEM_ANY, 0, &rc, &c);
	co_mem_filter f = {.prefix = "p:", .limit = 2};
	co_mem_list l = {0};
	assert_int_equal(CALL(mem_list, &ws, &f, &l), CO_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.items[0].key, "p:1");
	assert_string_equal(l.items[1].key, "p:2");
	co_mem_list_clear(&l);
	f.after = "p:2";
	assert_int_equal(CALL(mem_list, &ws, &f, &l), CO_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].key, "p:3");
	co_mem_list_clear(&l);
	co_mem_filter all = {.limit = 100};
	assert_int_equal(CALL(mem_list, &ws, &all, &l), CO_OK);
	assert_int_equal(l.n, 6);
	assert_string_equal(l.items[0].key, "o");
	assert_string_equal(l.items[5].key, "q");
	co_mem_list_clear(&l);
}

struct cas_race {
	pthread_barrier_t go;
	co_id ws;
	atomic_int ok;
};

static void *cas_thread(void *p)
{
	struct targ *t = p;
	struct cas_race *cr = t->shared;
	pthread_barrier_wait(&cr->go);
	for (int done = 0; done < 50;) {
		co_mem_entry e = {0};
		if (CALL(mem_get, &cr->ws, "n", &e) != CO_OK)
			break;
		char val[32];
		snprintf(val, sizeof val, "%lld", atoll(e.value_json) + 1);
		co_mem_put p2 = {.key = "n", .value_json = val, .if_match_version = e.version};
		int64_t v;
		co_conflict c = {0};
		int rc = CALL(mem_put, &cr->ws, &p2, &v, &c);
		co_conflict_clear(&c);
		co_mem_entry_clear(&e);
		if (rc == CO_OK) {
			done++;
			atomic_fetch_add(&cr->ok, 1);
		} else if (rc != CO_ECONFLICT) {
			break;
		}
	}
	return NULL;
}

static void test_concurrent_cas_loses_nothing(void **state)
{
	(void)state;
	static struct cas_race cr;
	cr.ws = kit_mk_ws("cas-race", NULL);
	co_conflict c = {0};
	int rc;
	put(&cr.ws, "n", "0", 0, 0, &rc, &c);
	run_threads(cas_thread, &cr, &cr.go);
	assert_int_equal(atomic_load(&cr.ok), N_THREADS * 50);
	co_mem_entry e = {0};
	assert_int_equal(CALL(mem_get, &cr.ws, "n", &e), CO_OK);
	assert_int_equal(atoll(e.value_json), N_THREADS * 50);
	co_mem_entry_clear(&e);
}

/* A failing op sharing a commit with succeeding ones rolls back alone. */
struct mixed_batch {
	pthread_barrier_t go;
	co_id ws;
	int rc[N_THREADS];
};

static void *mixed_thread(void *p)
{
	struct targ *t = p;
	struct mixed_batch *mb = t->shared;
	char key[16];
	snprintf(key, sizeof key, "k%d", t->i);
	co_mem_put p2 = {.key = t->i % 2 ? "taken" : key, .value_json = "1", .if_match_version = 0};
	int64_t v;
	co_conflict c = {0};
	pthread_barrier_wait(&mb->go);
	mb->rc[t->i] = CALL(mem_put, &mb->ws, &p2, &v, &c);
	co_conflict_clear(&c);
	return NULL;
}

static void test_failed_op_in_batch_rolls_back_alone(void **state)
{
	(void)state;
	static struct mixed_batch mb;
	mb.ws = kit_mk_ws("batch", NULL);
	co_conflict c = {0};
	int rc;
	put(&mb.ws, "taken", "0", 0, 0, &rc, &c);
	run_threads(mixed_thread, &mb, &mb.go);
	for (int i = 0; i < N_THREADS; i++)
		assert_int_equal(mb.rc[i], i % 2 ? CO_ECONFLICT : CO_OK);
	co_mem_filter f = {.limit = 1000};
	co_mem_list l = {0};
	assert_int_equal(CALL(mem_list, &mb.ws, &f, &l), CO_OK);
	assert_int_equal(l.n, N_THREADS / 2 + 1);
	co_mem_list_clear(&l);
	co_mem_entry e = {0};
	assert_int_equal(CALL(mem_get, &mb.ws, "taken", &e), CO_OK);
	assert_int_equal(e.version, 1);
	co_mem_entry_clear(&e);
}

static void test_purge_deletes_memory(void **state)
{
	(void)state;
	co_id ws = kit_mk_ws("purge-mem", NULL);
	co_conflict c = {0};
	int rc;
	put(&ws, "k", "1", CO_MEM_ANY, 0, &rc, &c);
	co_ws_delete_opts o = {.purge = true};
	co_id_list ids = {0};
	assert_int_equal(CALL(ws_delete, &ws, &o, &ids, &c), CO_OK);
	co_id_list_clear(&ids);
	co_mem_entry e = {0};
	assert_int_equal(CALL(mem_get, &ws, "k", &e), CO_ENOTFOUND);
	co_workspace w = {0};
	assert_int_equal(CALL(ws_get, &ws, &w), CO_ENOTFOUND);
}

/* Every read after an acknowledged write sees it (readers may reuse snapshots). */
static void test_read_your_writes(void **state)
{
	(void)state;
	co_id ws = kit_mk_ws("ryw", NULL);
	co_conflict c = {0};
	for (int i = 1; i <= 2000; i++) {
		char val[16];
		snprintf(val, sizeof val, "%d", i);
		int rc;
		put(&ws, "k", val, CO_MEM_ANY, 0, &rc, &c);
		assert_int_equal(rc, CO_OK);
		co_mem_entry e = {0};
		assert_int_equal(CALL(mem_get, &ws, "k", &e), CO_OK);
		if (e.version != i)
			fail_msg("write %d acknowledged but a read then saw version %lld", i, (long long)e.version);
		co_mem_entry_clear(&e);
		co_mem_filter f = {.limit = 10};
		co_mem_list l = {0};
		assert_int_equal(CALL(mem_list, &ws, &f, &l), CO_OK);
		assert_int_equal(l.n, 1);
		assert_int_equal(l.items[0].version, i);
		co_mem_list_clear(&l);
	}
}

/* ---- PostgreSQL only: migrations from replicas starting at once; newer refused ------ */

extern const int co_pg_migrations_count;

struct pg_open_race {
	pthread_barrier_t go;
	const char *url;
	int rc[4];
	co_store *s[4];
};

static void *pg_open_thread(void *p)
{
	struct targ *t = p;
	struct pg_open_race *r = t->shared;
	pthread_barrier_wait(&r->go);
	co_store_opts o = {.pg_pool = 2};
	r->rc[t->i] = co_store_open(r->url, &o, &r->s[t->i]);
	return NULL;
}

static long long pg_scalar(const char *db_url, const char *sql)
{
	PGconn *c = PQconnectdb(db_url);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PGresult *r = PQexec(c, sql);
	ExecStatusType status = PQresultStatus(r);
	assert_true(status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK);
	long long v = status == PGRES_TUPLES_OK ? atoll(PQgetvalue(r, 0, 0)) : 0;
	PQclear(r);
	PQfinish(c);
	return v;
}

static void test_pg_migrations_concurrent_and_newer_refused(void **state)
{
	(void)state;
	if (is_sqlite)
		skip();
	char fresh[512];
	assert_int_equal(pgtmp_create(fresh, sizeof fresh), 0);
	static struct pg_open_race r;
	r.url = fresh;
	pthread_t tid[4];
	struct targ args[4];
	pthread_barrier_init(&r.go, NULL, 4);
	for (int i = 0; i < 4; i++) {
		args[i] = (struct targ){&r, i};
		pthread_create(&tid[i], NULL, pg_open_thread, &args[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(tid[i], NULL);
	pthread_barrier_destroy(&r.go);
	for (int i = 0; i < 4; i++) {
		if (r.rc[i])
			fail_msg("replica %d failed to start: %s", i, co_err_msg());
		co_store_close(r.s[i]);
	}
	/* each step applied and recorded exactly once */
	assert_int_equal(pg_scalar(fresh, "SELECT COUNT(*) FROM schema_migrations"), co_pg_migrations_count);
	assert_int_equal(pg_scalar(fresh, "SELECT MAX(version) FROM schema_migrations"), co_pg_migrations_count);
	/* a newer schema is refused */
	pg_scalar(fresh, "INSERT INTO schema_migrations VALUES (999, 'future', 0)");
	co_store *s2 = NULL;
	assert_int_equal(co_store_open(fresh, NULL, &s2), CO_EINVAL);
	assert_non_null(strstr(co_err_msg(), "newer than this colonyd"));
	assert_null(s2);
	pg_scalar(fresh, "DELETE FROM schema_migrations WHERE version = 999");
	assert_int_equal(co_store_open(fresh, NULL, &s2), CO_OK);
	co_store_close(s2);
}

/* A database whose default isolation is SERIALIZABLE still gets the READ COMMITTED
 * design: concurrent upserts of one key all succeed (no leaked serialization failure). */
struct iso_race {
	pthread_barrier_t go;
	co_store *s;
	co_id ws;
	atomic_int ok, failed;
};

static void *iso_thread(void *p)
{
	struct targ *t = p;
	struct iso_race *r = t->shared;
	pthread_barrier_wait(&r->go);
	for (int k = 0; k < 20; k++) {
		co_mem_put put = {.key = "hot", .value_json = "1", .if_match_version = CO_MEM_ANY};
		int64_t v;
		co_conflict c = {0};
		int rc = CO_STORE_CALL(r->s, mem_put, &r->ws, &put, &v, &c);
		co_conflict_clear(&c);
		atomic_fetch_add(rc == CO_OK ? &r->ok : &r->failed, 1);
	}
	return NULL;
}

static void test_pg_serializable_default_still_read_committed(void **state)
{
	(void)state;
	if (is_sqlite)
		skip();
	char fresh[512];
	assert_int_equal(pgtmp_create(fresh, sizeof fresh), 0);
	const char *dbname = strrchr(fresh, '/') + 1;
	char sql[256];
	snprintf(sql, sizeof sql, "ALTER DATABASE %s SET default_transaction_isolation = 'serializable'",
		 dbname);
	pg_scalar(fresh, sql);
	static struct iso_race r;
	co_store_opts o = {.pg_pool = 8};
	assert_int_equal(co_store_open(fresh, &o, &r.s), CO_OK);
	co_workspace in = {.name = "iso"}, out = {0};
	co_conflict c = {0};
	assert_int_equal(CO_STORE_CALL(r.s, ws_create, &in, &out, &c), CO_OK);
	r.ws = out.id;
	co_workspace_clear(&out);
	run_threads(iso_thread, &r, &r.go);
	assert_int_equal(atomic_load(&r.failed), 0);
	co_mem_entry e = {0};
	assert_int_equal(CO_STORE_CALL(r.s, mem_get, &r.ws, "hot", &e), CO_OK);
	assert_int_equal(e.version, N_THREADS * 20);
	co_mem_entry_clear(&e);
	co_store_close(r.s);
}

/* ---- SQLite only: migrations and durability across reopen -------------------------- */

static void test_sqlite_reopen_and_migrations(void **state)
{
	(void)state;
	if (!is_sqlite)
		skip();
	co_id ws = kit_mk_ws("survives-reopen", NULL);
	co_store_close(st);
	assert_int_equal(co_store_open(url, NULL, &st), CO_OK);
	co_workspace w = {0};
	assert_int_equal(CALL(ws_get, &ws, &w), CO_OK);
	co_workspace_clear(&w);
	co_store_close(st);
	st = NULL;

	sqlite3 *db;
	assert_int_equal(sqlite3_open(url, &db), SQLITE_OK);
	int v;
	assert_int_equal(co_sqlite_schema_version(db, &v), CO_OK);
	assert_int_equal(v, co_sqlite_migrations_count);
	/* down to nothing, and up again: each step recorded */
	assert_int_equal(co_sqlite_migrate(db, 0), CO_OK);
	assert_int_equal(co_sqlite_schema_version(db, &v), CO_OK);
	assert_int_equal(v, 0);
	assert_int_not_equal(sqlite3_exec(db, "SELECT 1 FROM workspaces", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(co_sqlite_migrate(db, -1), CO_OK);
	assert_int_equal(co_sqlite_migrate(db, -1), CO_OK); /* re-running is a no-op */
	assert_int_equal(co_sqlite_schema_version(db, &v), CO_OK);
	assert_int_equal(v, co_sqlite_migrations_count);
	/* a database newer than the binary is refused */
	assert_int_equal(sqlite3_exec(db, "INSERT INTO schema_migrations VALUES (999, 'future', 0)", NULL,
				      NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(co_store_open(url, NULL, &st), CO_EINVAL);
	assert_non_null(strstr(co_err_msg(), "newer than this colonyd"));
	assert_null(st);
	assert_int_equal(sqlite3_open(url, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DELETE FROM schema_migrations WHERE version = 999", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(co_store_open(url, NULL, &st), CO_OK);
}

int main(int argc, char **argv)
{
	int rc = store_kit_args(argc, argv);
	if (rc >= 0)
		return rc;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ws_create_get_unique),
		cmocka_unit_test(test_ws_patch_cycle_and_removed),
		cmocka_unit_test(test_ws_list_filters),
		cmocka_unit_test(test_concurrent_create_one_winner),
		cmocka_unit_test(test_memory_versions_and_preconditions),
		cmocka_unit_test(test_memory_ttl_with_moved_clock),
		cmocka_unit_test(test_memory_list_prefix_paging),
		cmocka_unit_test(test_concurrent_cas_loses_nothing),
		cmocka_unit_test(test_failed_op_in_batch_rolls_back_alone),
		cmocka_unit_test(test_purge_deletes_memory),
		cmocka_unit_test(test_read_your_writes),
		cmocka_unit_test(test_sqlite_reopen_and_migrations),
		cmocka_unit_test(test_pg_migrations_concurrent_and_newer_refused),
		cmocka_unit_test(test_pg_serializable_default_still_read_committed),
	};
	return cmocka_run_group_tests(tests, store_kit_setup, store_kit_teardown);
}
