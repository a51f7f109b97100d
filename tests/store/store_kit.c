/* store_kit.c — the shared set-up of the store conformance programs; see store_kit.h. */
#include "store_kit.h"
#include "../../src/core/err.h"
#include "../pgtmp.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char url[512];
bool is_sqlite;
co_store *st;
static char tmpdir[256];

int store_kit_args(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--postgres")) {
		int rc = pgtmp_create(url, sizeof url);
		if (rc == 1) {
			fprintf(stderr, "COLONY_TEST_PG is not set: skipping the PostgreSQL run\n");
			return PGTMP_SKIP;
		}
		if (rc)
			return 1;
	} else if (argc > 1) {
		snprintf(url, sizeof url, "%s", argv[1]);
	}
	return -1;
}

int store_kit_setup(void **state)
{
	(void)state;
	if (!url[0]) {
		snprintf(tmpdir, sizeof tmpdir, "/tmp/colony-store-XXXXXX");
		if (!mkdtemp(tmpdir))
			return -1;
		snprintf(url, sizeof url, "%s/store.db", tmpdir);
		is_sqlite = true;
	}
	if (co_store_open(url, NULL, &st)) {
		fprintf(stderr, "open %s: %s\n", url, co_err_msg());
		return -1;
	}
	return 0;
}

int store_kit_teardown(void **state)
{
	(void)state;
	co_store_close(st);
	if (tmpdir[0]) {
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

int kit_reset_clock(void **state)
{
	(void)state;
	co_clock_set_override(0);
	return 0;
}

co_id kit_mk_ws(const char *name, const co_id *parent)
{
	co_workspace in = {0}, out = {0};
	in.name = (char *)name;
	if (parent) {
		in.has_parent = true;
		in.parent_id = *parent;
	}
	co_conflict c = {0};
	int rc = CALL(ws_create, &in, &out, &c);
	if (rc)
		fail_msg("create %s: %d %s", name, rc, co_err_msg());
	co_id id = out.id;
	co_workspace_clear(&out);
	co_conflict_clear(&c);
	return id;
}

co_id kit_mk_root(const char *name) { return kit_mk_ws(name, NULL); }

co_id kit_mk_child(const co_id *parent, const char *name) { return kit_mk_ws(name, parent); }

void kit_rm_ws(const co_id *ws)
{
	co_ws_delete_opts o = {.confirm = true};
	co_id_list ids = {0};
	co_conflict c = {0};
	assert_int_equal(CALL(ws_delete, ws, &o, &ids, &c), CO_OK);
	co_id_list_clear(&ids);
	co_conflict_clear(&c);
}

co_id kit_absent_id(void)
{
	co_id id;
	assert_int_equal(co_id_new(&id), CO_OK);
	return id;
}

void kit_get_sched(const co_id *ws, const co_id *sid, co_schedule *out)
{
	int rc = CALL(sched_get, ws, sid, out);
	if (rc)
		fail_msg("get schedule %s: %d %s", sid->s, rc, co_err_msg());
}

long long kit_rows_of(const char *table, const co_id *ws)
{
	char sql[160];
	long long n = -1;
	if (is_sqlite) {
		snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE workspace_id = ?1", table);
		sqlite3 *db;
		assert_int_equal(sqlite3_open_v2(url, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
		sqlite3_stmt *q;
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
		sqlite3_bind_text(q, 1, ws->s, -1, SQLITE_STATIC);
		if (sqlite3_step(q) == SQLITE_ROW)
			n = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
		sqlite3_close(db);
	} else {
		snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE workspace_id = $1::uuid", table);
		PGconn *c = PQconnectdb(url);
		assert_int_equal(PQstatus(c), CONNECTION_OK);
		const char *p[] = {ws->s};
		PGresult *r = PQexecParams(c, sql, 1, NULL, p, NULL, NULL, 0);
		if (PQresultStatus(r) == PGRES_TUPLES_OK)
			n = atoll(PQgetvalue(r, 0, 0));
		PQclear(r);
		PQfinish(c);
	}
	if (n < 0)
		fail_msg("cannot count %s", table);
	return n;
}
