/* secrets.c — secrets (SPEC §10). PLACEHOLDER: being written. */
#include "api.h"

void api_secret_put_global(co_http_req *r) { co_reply_error(r, 501, "not_implemented", NULL, "soon"); }
void api_secret_list_global(co_http_req *r) { co_reply_error(r, 501, "not_implemented", NULL, "soon"); }
void api_secret_delete_global(co_http_req *r) { co_reply_error(r, 501, "not_implemented", NULL, "soon"); }
void api_secret_put(co_http_req *r) { co_reply_error(r, 501, "not_implemented", NULL, "soon"); }
void api_secret_list(co_http_req *r) { co_reply_error(r, 501, "not_implemented", NULL, "soon"); }
void api_secret_get(co_http_req *r) { co_reply_error(r, 501, "not_implemented", NULL, "soon"); }
void api_secret_delete(co_http_req *r) { co_reply_error(r, 501, "not_implemented", NULL, "soon"); }
void api_secret_values(co_http_req *r) { co_reply_error(r, 501, "not_implemented", NULL, "soon"); }
