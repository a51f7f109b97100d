/*
 * sqlite_store.h — the embedded SQLite backend of store.h.
 */
#ifndef COLONY_STORE_SQLITE_H
#define COLONY_STORE_SQLITE_H

#include "../store.h"

/* Opens (creating if needed) the SQLite database at `path`, migrates it to the newest
 * schema, and starts its writer thread. *out is closed with co_store_close(). */
int co_sqlite_open(const char *path, const co_store_opts *opts, co_store **out);

#endif
