/* store.c — backend selection and the interface's shared helpers; see store.h. */
#include "store.h"
#include "../core/err.h"
#include "postgres/pg_store.h"
#include "sqlite/sqlite_store.h"

#include <stdio.h>
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

int co_inbox_ack_decide(const co_inbox_msg *m, const co_inbox_ack *ack, co_conflict *conflict)
{
	if (m->status == (ack->completed ? CO_INBOX_COMPLETED : CO_INBOX_FAILED))
		return 1;
	if (m->status == CO_INBOX_CLAIMED && (!ack->has_attempt || ack->attempt == m->attempts))
		return CO_OK;
	snprintf(conflict->status, sizeof conflict->status, "%s", co_inbox_status_name(m->status));
	conflict->attempts = m->attempts;
	if (m->status == CO_INBOX_CLAIMED) {
		conflict->kind = CO_CONFLICT_STALE;
		return co_err_set(CO_ECONFLICT,
				  "the ack names attempt %lld but the message is on attempt %lld: "
				  "its lease ended and it was claimed again",
				  (long long)ack->attempt, (long long)m->attempts);
	}
	conflict->kind = CO_CONFLICT_STATE;
	if (m->status == CO_INBOX_QUEUED)
		return co_err_set(CO_ECONFLICT, "the message is not claimed: claim it before acking");
	if (m->status == CO_INBOX_DEAD)
		return co_err_set(CO_ECONFLICT, "the message was dead-lettered after %lld attempts",
				  (long long)m->attempts);
	return co_err_set(CO_ECONFLICT, "the message was already acked as %s",
			  co_inbox_status_name(m->status));
}
