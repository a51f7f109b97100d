/*
 * migration.h — a numbered schema migration with its up and down SQL (SPEC §11).
 * Each backend embeds its own list, generated from <backend>/migrations/NNN_name.*.sql
 * by cmake/embed_migrations.cmake; both lists use the same numbers for the same change.
 */
#ifndef COLONY_STORE_MIGRATION_H
#define COLONY_STORE_MIGRATION_H

typedef struct {
	int version;
	const char *name;
	const char *up;
	const char *down;
} co_migration;

#endif
