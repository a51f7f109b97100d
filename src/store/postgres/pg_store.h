/*
 * pg_store.h — the PostgreSQL backend of store.h (libpq).
 */
#ifndef COLONY_STORE_PG_H
#define COLONY_STORE_PG_H

#include "../store.h"

/* true if `url` names a PostgreSQL database: postgres:// or postgresql:// URLs, or a
 * libpq keyword string ("host=… dbname=…"). */
bool co_pg_is_url(const char *url);

/* Connects a pool of opts->pg_pool connections (default 16) to `conninfo`, migrates the
 * schema (under an advisory lock, so replicas may start at once). *out is closed with
 * co_store_close(). */
int co_pg_open(const char *conninfo, const co_store_opts *opts, co_store **out);

#endif
