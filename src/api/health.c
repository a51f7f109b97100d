/* health.c — GET /health: 200 when storage answers, 503 when it does not (SPEC §12). */
#include "../core/err.h"
#include "api.h"

void api_health(co_http_req *r)
{
	co_store *s = co_req_store(r);
	int rc = s->ops->health(s);
	if (rc) {
		co_reply_error(r, 503, "storage_unavailable", NULL, "storage is unreachable: %s",
			       co_err_msg());
		return;
	}
	co_buf b;
	co_buf_init(&b);
	co_buf_puts(&b, "{\"status\":\"ok\",\"storage\":");
	co_buf_json_cstr(&b, s->ops->name);
	co_buf_putc(&b, '}');
	co_reply_json(r, 200, &b);
}
