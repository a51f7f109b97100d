/* tokens.c — workspace tokens (SPEC §10). PLACEHOLDER: being written. */
#include "api.h"

void api_token_create(co_http_req *r) { co_reply_error(r, 501, "not_implemented", NULL, "soon"); }
void api_token_list(co_http_req *r) { co_reply_error(r, 501, "not_implemented", NULL, "soon"); }
void api_token_revoke(co_http_req *r) { co_reply_error(r, 501, "not_implemented", NULL, "soon"); }
