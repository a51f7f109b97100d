/* sqlite_secret.c — secrets (store.h "secrets"). PLACEHOLDER: being written. */
#include "sqlite_internal.h"
#include "../../core/err.h"

int sq_secret_put(co_store *s, const co_secret *in, co_secret *out, bool *created,
		  co_conflict *conflict)
{
	(void)s; (void)in; (void)out; (void)created; (void)conflict;
	return co_err_set(CO_EINTERNAL, "not implemented");
}
int sq_secret_delete(co_store *s, bool global, const co_id *ws, const char *name)
{
	(void)s; (void)global; (void)ws; (void)name;
	return co_err_set(CO_EINTERNAL, "not implemented");
}
int sq_secret_list(co_store *s, const co_secret_filter *f, co_secret_list *out)
{
	(void)s; (void)f; (void)out;
	return co_err_set(CO_EINTERNAL, "not implemented");
}
