/*
 * migrate.h — numbered schema migrations, embedded in the binary (SPEC §11).
 *
 * DESIGN NOTES
 *  1. Migration N has an up and a down script (src/store/sqlite/migrations/NNN_name.*.sql),
 *     compiled into co_sqlite_migrations[] by cmake/embed_migrations.cmake.
 *  2. Each step runs in its own IMMEDIATE transaction together with its schema_migrations
 *     row, and re-reads the current version inside that transaction, so two processes
 *     starting at once on one file apply each step exactly once.
 *  3. A database whose version is above the newest this binary knows is refused.
 */
#ifndef COLONY_STORE_SQLITE_MIGRATE_H
#define COLONY_STORE_SQLITE_MIGRATE_H

#include "../migration.h"

extern const co_migration co_sqlite_migrations[];
extern const int co_sqlite_migrations_count;

struct sqlite3;

/* Moves the schema to `target` (-1: the newest known), up or down, one transaction per
 * step. Returns CO_OK, CO_EINVAL if the database is newer than this binary or target is
 * out of range, or a storage error. */
int co_sqlite_migrate(struct sqlite3 *db, int target);

/* The database's schema version (0 for a new file). */
int co_sqlite_schema_version(struct sqlite3 *db, int *out);

#endif
