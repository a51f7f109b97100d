/* store.c — backend selection and the interface's shared helpers; see store.h. */
#include "store.h"
#include "../core/err.h"
#include "postgres/pg_store.h"
#include "sqlite/sqlite_store.h"

#include <stdlib.h>
#include <string.h>

void co_conflict_clear(co_conflict *c)
{
	co_ws_list_clear(&c->children);
	memset(c, 0, sizeof *c);
}

void co_id_list_clear(co_id_list *l)
{
	free(l->ids);
	l->ids = NULL;
	l->n = 0;
}

int co_store_open(const char *url, const co_store_opts *opts, co_store **out)
{
	*out = NULL;
	co_store_opts o = {.read_conns = 8, .max_batch = 256};
	if (opts) {
		o = *opts;
		if (o.read_conns <= 0)
			o.read_conns = 8;
		if (o.max_batch <= 0)
			o.max_batch = 256;
	}
	if (co_pg_is_url(url))
		return co_pg_open(url, &o, out);
	return co_sqlite_open(url, &o, out);
}
