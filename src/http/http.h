/*
 * http.h — colony's HTTP layer on libmicrohttpd: requests, routes, the reply funnel.
 *
 * DESIGN NOTES
 *  1. Threads. MHD runs an epoll event loop per core (MHD_OPTION_THREAD_POOL_SIZE) with
 *     keep-alive. A route flagged CO_ROUTE_BLOCKING (every write: it waits for a commit)
 *     is not run on an event thread: the connection is suspended, the request goes to a
 *     pool of worker threads, and the worker resumes the connection when the reply is
 *     ready. So event threads never wait on storage, and the writes of many clients can
 *     be in flight at once and share a commit (store DESIGN NOTE 2). Reads run inline.
 *  2. Bodies. The body limit is enforced from Content-Length before any byte is read
 *     (413 at once), and while reading a chunked body (413 the moment it is crossed,
 *     then the connection closes; server.c note H1). The route is matched as soon as
 *     the headers are in, so the limit can be the route's: max_body, or
 *     max_import_body for CO_ROUTE_LARGE_BODY routes. A caller without a token is
 *     refused (401) then too, before its body is read. Slow clients, URL and header
 *     sizes: server.c notes H2 and H3.
 *  3. One funnel. Every answer goes through co_reply_json() or co_reply_error(); errors
 *     are SPEC §1 JSON {"error", "code", …extra}. A handler sets exactly one reply.
 *  4. Every request gets a request id (the client's X-Request-Id if it is sane, else a
 *     new one), returned as X-Request-Id and written in the one JSON log line per request.
 *  5. Auth (SPEC §10, §6; core/auth.h). Every route says who may call it (co_access; the
 *     zero value is admin-only, so a route that forgets is closed). The gate runs after
 *     routing and before the body is parsed (a missing token even before the body is
 *     read): no or malformed token 401; the admin token
 *     (hash compared in constant time) reaches everything; a workspace token is looked
 *     up by prefix in the store (revoked, or its workspace removed: 401), checked against
 *     the route's rule on the hierarchy (403), and rate limited (429 + Retry-After). The
 *     store part runs where reads may block: on the event thread for SQLite, on the
 *     worker for PostgreSQL. The audit actor is the caller's identity: "admin" (or
 *     "admin:<X-Colony-Actor>"), "token:<token id>", or with --dev X-Colony-Actor.
 *
 * Request lifecycle (co_http_req.state):
 *     RECEIVING --body complete--> inline handler ------------------> REPLIED --> sent
 *               \--blocking route--> QUEUED (suspended) --worker--> REPLIED (resumed)
 */
#ifndef COLONY_HTTP_H
#define COLONY_HTTP_H

#include "../core/buf.h"
#include "../core/clock.h"
#include "../store/store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define CO_ROUTE_MAX_PARAMS 4

typedef struct co_http_req co_http_req;
typedef struct co_server co_server;
typedef void (*co_handler)(co_http_req *r);

enum {
	CO_ROUTE_BLOCKING = 1 << 0,  /* runs on a worker thread or the store's executor (writes) */
	CO_ROUTE_JSON_BODY = 1 << 1, /* body parsed (or refused 400/415) before the handler runs */
	/* A write with effects outside the store (a webhook): it runs on a worker thread,
	 * never inside the executor's shared transaction, so its store calls have committed
	 * when they return and the outside effect follows a durable write. */
	CO_ROUTE_WORKER = 1 << 2,
	/* The body may be up to co_limits.max_import_body (an org template), not max_body. */
	CO_ROUTE_LARGE_BODY = 1 << 3,
	/* The body carries a secret: its digest is left out of the audit detail (a hash of
	 * a short secret could be guessed). */
	CO_ROUTE_SECRET_BODY = 1 << 4,
};

/* Who may call a route (note 5). The route's first capture (:id) is the workspace the
 * rule is about; T below is the calling token's workspace. The admin reaches everything. */
typedef enum {
	CO_ACCESS_ADMIN = 0, /* the admin token only */
	CO_ACCESS_PUBLIC,    /* no token needed (GET /health) */
	CO_ACCESS_OWN,       /* :id is T */
	CO_ACCESS_RELATED,   /* :id is T, T's sibling, an ancestor or a descendant of T */
	CO_ACCESS_SUBTREE,   /* :id is T or a descendant of T */
	CO_ACCESS_BELOW,     /* :id is a strict descendant of T (T's reports, not T) */
	CO_ACCESS_ANY_TOKEN, /* any valid token; the handler decides (co_req_reach_or_reply) */
} co_access;

typedef struct {
	const char *method;  /* "GET", "POST", … */
	const char *pattern; /* "/workspaces/:id/memory/:key" — a ':' segment captures */
	co_handler fn;
	unsigned flags;
	/* A mutation's audit action ("memory.put"): its successful store writes append an
	 * audit record (core/audit.h). NULL for reads. */
	const char *audit;
	co_access access; /* note 5 */
} co_route;

/* Who is calling (note 5). */
typedef struct {
	bool admin;         /* the admin token, or --dev */
	co_id token_id;     /* a workspace token: its id … */
	co_id workspace_id; /* … and its workspace */
} co_principal;

typedef struct {
	const char *listen;      /* "HOST:PORT" */
	int event_threads;       /* MHD event loops; 0 = number of cores */
	int workers;             /* worker threads for blocking routes */
	const char *port_file;   /* if set, the bound port is written here once listening */
	bool request_log;        /* one JSON line per request on stderr */
	const co_route *routes;  /* table, ended by an entry with method NULL */
	co_store *store;
	/* auth (note 5) */
	bool auth_off;              /* --dev: no token needed; every caller is admin */
	const char *admin_hash_hex; /* co_token_hash_hex of the admin token (required unless
				     * auth_off) */
	int rate_limit;             /* requests per second per workspace token; 0 = none */
	int rate_burst;             /* bucket size (default 2 × rate_limit) */
	/* hostile clients */
	int request_timeout_s;      /* a request's headers and body must arrive within this
				     * (default 30); the connection is closed otherwise */
	int idle_timeout_s;         /* an idle keep-alive connection is closed (default 60) */
	size_t max_header_bytes;    /* request line + headers (default 16384): 431 */
	size_t max_url_bytes;       /* request target (default 8192): 414 */
} co_server_config;

/* Starts serving. *out is stopped with co_server_stop(). Returns CO_OK or CO_EINVAL /
 * CO_EUNAVAIL with a message (bad address, port taken). */
int co_server_start(const co_server_config *cfg, co_server **out);

/* The port actually bound (useful with port 0). */
unsigned co_server_port(const co_server *srv);

/* Graceful stop: stops accepting, lets in-flight requests finish (up to `grace_ms`),
 * then closes connections, stops the workers and frees the server. */
void co_server_stop(co_server *srv, int grace_ms);

/* ---- for handlers ------------------------------------------------------------------- */

co_store *co_req_store(co_http_req *r);
/* The caller (set by the gate before any handler runs). */
const co_principal *co_req_principal(co_http_req *r);
/* May the caller reach workspace ws under `access` (OWN, RELATED, SUBTREE, BELOW;
 * ADMIN: only the admin)? The admin always may. If not, replies 403 (503 if storage
 * fails) and returns false. Reads the store (the lineages of ws and of the token's
 * workspace). */
bool co_req_reach_or_reply(co_http_req *r, const co_id *ws, co_access access);
/* The i-th ':' capture of the route pattern (percent-decoded), or NULL. */
const char *co_req_param(co_http_req *r, int i);
/* A query argument, or NULL. */
const char *co_req_query(co_http_req *r, const char *name);
/* A request header, or NULL. */
const char *co_req_header(co_http_req *r, const char *name);

/* Parses the body as JSON (depth ≤ 64, no duplicate keys). On failure it has already
 * replied 400/415 and returns NULL. The tree belongs to the request. */
json_t *co_req_json_or_reply(co_http_req *r);
/* The same with another nesting limit (an org template nests deeper than other bodies). */
json_t *co_req_json_depth_or_reply(co_http_req *r, int max_depth);
/* The raw body (never NULL; "" when none) and its length. It belongs to the request. */
const char *co_req_body(co_http_req *r, size_t *len);

/* Replies `status` with the JSON in b (taken; b is left empty). */
void co_reply_json(co_http_req *r, unsigned status, co_buf *b);
/* Replies 200 with the JSON array of items[0..n), each written by to_json(&items[i], buf)
 * (a typed *_to_json of the core). A macro so that to_json keeps its own item type. */
#define CO_REPLY_LIST(r, items, n, to_json)                                                  \
	do {                                                                                 \
		co_buf list_b_;                                                              \
		co_buf_init(&list_b_);                                                       \
		co_buf_putc(&list_b_, '[');                                                  \
		for (size_t list_i_ = 0; list_i_ < (n); list_i_++) {                         \
			if (list_i_)                                                         \
				co_buf_putc(&list_b_, ',');                                  \
			to_json(&(items)[list_i_], &list_b_);                                \
		}                                                                            \
		co_buf_putc(&list_b_, ']');                                                  \
		co_reply_json((r), 200, &list_b_);                                           \
	} while (0)

/* Replies `status` (204) with no body. */
void co_reply_empty(co_http_req *r, unsigned status);
/* Did the request carry a body? (For routes whose body is optional.) */
bool co_req_has_body(co_http_req *r);
/* Adds a response header (copied). At most a few per reply. */
void co_reply_header(co_http_req *r, const char *name, const char *value);

/* Replies a SPEC §1 error: {"error": <message>, "code": <code>, <extra>} where extra is
 * NULL or raw JSON members without braces (e.g. "\"existing_id\":\"…\""). */
void co_reply_error(co_http_req *r, unsigned status, const char *code, const char *extra,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Replies for a store result code that the handler does not treat specially:
 * CO_ENOTFOUND 404, CO_EINVAL 400, CO_EUNAVAIL 503, others 500; message from co_err_msg(). */
void co_reply_store_error(co_http_req *r, int rc);

/* Reads ?limit= (default CO_LIST_DEFAULT, 1..CO_LIST_MAX). Replies 400 and returns false
 * on a bad value. */
bool co_req_limit_or_reply(co_http_req *r, int *limit);

/* Reads ?limit= (as co_req_limit_or_reply) and ?after=<id> into *p (a list by id).
 * Replies 400 and returns false if either is malformed. */
bool co_req_page_or_reply(co_http_req *r, co_page *p);

/* Parses a UUID path parameter. Replies 400 and returns false if malformed. */
bool co_req_id_or_reply(co_http_req *r, int param, co_id *out);

#endif
