/* pg_auth.c — workspace tokens and workspace lineage (store.h "tokens and the hierarchy").
 * PLACEHOLDER: being written. */
#include "pg_internal.h"
#include "../../core/err.h"

int pg_token_create(co_store *s, const co_id *ws, const co_token *in, co_token *out,
		    co_conflict *conflict)
{
	(void)s; (void)ws; (void)in; (void)out; (void)conflict;
	return co_err_set(CO_EINTERNAL, "not implemented");
}
int pg_token_list(co_store *s, const co_id *ws, const co_page *p, co_token_list *out)
{
	(void)s; (void)ws; (void)p; (void)out;
	return co_err_set(CO_EINTERNAL, "not implemented");
}
int pg_token_revoke(co_store *s, const co_id *ws, const co_id *tid)
{
	(void)s; (void)ws; (void)tid;
	return co_err_set(CO_EINTERNAL, "not implemented");
}
int pg_token_lookup(co_store *s, const char *prefix, co_token *out)
{
	(void)s; (void)prefix; (void)out;
	return co_err_set(CO_EINTERNAL, "not implemented");
}
int pg_token_touch(co_store *s, const co_id *tid, co_usec_t at)
{
	(void)s; (void)tid; (void)at;
	return co_err_set(CO_EINTERNAL, "not implemented");
}
int pg_ws_lineage(co_store *s, const co_id *id, co_id_list *out, bool *removed)
{
	(void)s; (void)id; (void)out; (void)removed;
	return co_err_set(CO_EINTERNAL, "not implemented");
}
