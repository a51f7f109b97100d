/*
 * pgtmp.h — fresh PostgreSQL databases for tests.
 *
 * The test run (scripts/test.sh) starts a throwaway server and exports its admin URL as
 * COLONY_TEST_PG ("postgresql://postgres@127.0.0.1:PORT/postgres"). Each test process
 * makes its own database there, so tests can run in parallel and count rows.
 */
#ifndef COLONY_TEST_PGTMP_H
#define COLONY_TEST_PGTMP_H

#include <stddef.h>

#define PGTMP_SKIP 77 /* exit code ctest treats as "skipped" (SKIP_RETURN_CODE) */

/* Creates a new empty database and writes its URL into out. Returns 0, or -1 with a
 * message on stderr. If COLONY_TEST_PG is unset, returns 1 (no server: skip). */
int pgtmp_create(char *out, size_t cap);

#endif
