/*
 * store_kit.h — what every store conformance program shares: the store under test, opened
 * once per group on a fresh SQLite file (or the backend named on the command line), and
 * the argument handling of `test_store* [--postgres | URL]`.
 */
#ifndef COLONY_TEST_STORE_KIT_H
#define COLONY_TEST_STORE_KIT_H

#include "../../src/store/store.h"

#include <stdbool.h>

extern char url[512];  /* the store's URL or SQLite path */
extern bool is_sqlite; /* the default run on a fresh SQLite file */
extern co_store *st;   /* the store under test, open between setup and teardown */

#define CALL(m, ...) CO_STORE_CALL(st, m, __VA_ARGS__)

/* Reads the arguments: --postgres makes a fresh database on the test server named by
 * COLONY_TEST_PG; any other argument is a store URL. Returns -1 to go on, else the exit
 * status (PGTMP_SKIP when COLONY_TEST_PG is unset, 1 on failure). */
int store_kit_args(int argc, char **argv);

/* cmocka group setup and teardown: open the store (a fresh SQLite file in a temporary
 * directory unless an argument named one); close it and remove the directory. */
int store_kit_setup(void **state);
int store_kit_teardown(void **state);

/* ---- helpers the conformance programs share (they fail the current test on error) ---- */

/* cmocka teardown: clears any clock override (co_clock_set_override) a test left. */
int kit_reset_clock(void **state);
/* A fresh workspace named `name` under parent (NULL: a root); returns its id. Fails the
 * test if the store refuses. */
co_id kit_mk_ws(const char *name, const co_id *parent);
/* kit_mk_ws(name, NULL). */
co_id kit_mk_root(const char *name);
/* kit_mk_ws(name, parent). */
co_id kit_mk_child(const co_id *parent, const char *name);
/* Removes workspace ws and its subtree (confirm). */
void kit_rm_ws(const co_id *ws);
/* A well-formed id that names nothing. */
co_id kit_absent_id(void);
/* COUNT(*) of `table` rows of workspace ws (column workspace_id), read in the database
 * itself (its own connection), not through the store. Fails the test if it cannot. */
long long kit_rows_of(const char *table, const co_id *ws);
/* The schedule sid of workspace ws, which must exist. */
void kit_get_sched(const co_id *ws, const co_id *sid, co_schedule *out);

#endif
