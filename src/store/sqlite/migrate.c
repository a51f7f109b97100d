/* migrate.c — apply embedded migrations to a SQLite database; see migrate.h. */
#include "migrate.h"
#include "../../core/clock.h"
#include "../../core/err.h"

#include <sqlite3.h>
#include <stdio.h>

static int exec(sqlite3 *db, const char *sql, const char *what)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		return CO_OK;
	int code = (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) ? CO_EUNAVAIL : CO_EINTERNAL;
	co_err_set(code, "%s: %s", what, msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	return code;
}

int co_sqlite_schema_version(sqlite3 *db, int *out)
{
	sqlite3_stmt *st;
	int rc = exec(db,
		      "CREATE TABLE IF NOT EXISTS schema_migrations ("
		      " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
		      "creating schema_migrations");
	if (rc)
		return rc;
	if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", -1,
			       &st, NULL) != SQLITE_OK)
		return co_err_set(CO_EINTERNAL, "reading schema version: %s", sqlite3_errmsg(db));
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return co_err_set(CO_EUNAVAIL, "reading schema version: %s", sqlite3_errstr(rc));
	return CO_OK;
}

/* One step up (from `cur` to cur+1) or down (cur to cur-1), inside the caller's txn. */
static int step(sqlite3 *db, int cur, int up)
{
	const co_migration *m = &co_sqlite_migrations[up ? cur : cur - 1];
	char what[96];
	snprintf(what, sizeof what, "migration %03d_%s %s", m->version, m->name, up ? "up" : "down");
	int rc = exec(db, up ? m->up : m->down, what);
	if (rc)
		return rc;
	sqlite3_stmt *st;
	const char *sql = up ? "INSERT INTO schema_migrations(version, name, applied_at) VALUES(?1, ?2, ?3)"
			     : "DELETE FROM schema_migrations WHERE version = ?1";
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return co_err_set(CO_EINTERNAL, "%s: %s", what, sqlite3_errmsg(db));
	sqlite3_bind_int(st, 1, m->version);
	if (up) {
		sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, co_clock_now_us());
	}
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return co_err_set(CO_EINTERNAL, "%s: recording it: %s", what, sqlite3_errstr(rc));
	return CO_OK;
}

int co_sqlite_migrate(sqlite3 *db, int target)
{
	int newest = co_sqlite_migrations_count;
	if (target < 0)
		target = newest;
	if (target > newest)
		return co_err_set(CO_EINVAL, "no migration %d (newest is %d)", target, newest);
	for (;;) {
		int rc = exec(db, "BEGIN IMMEDIATE", "beginning migration");
		if (rc)
			return rc;
		int cur;
		if ((rc = co_sqlite_schema_version(db, &cur)) == CO_OK && cur > newest)
			rc = co_err_set(CO_EINVAL,
					"database schema is version %d, newer than this colonyd "
					"(which knows up to %d); upgrade colonyd",
					cur, newest);
		if (rc == CO_OK && cur == target) {
			return exec(db, "COMMIT", "committing migration");
		}
		if (rc == CO_OK)
			rc = step(db, cur, cur < target);
		if (rc == CO_OK)
			rc = exec(db, "COMMIT", "committing migration");
		if (rc) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return rc;
		}
	}
}
