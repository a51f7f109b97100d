/*
 * server.c — libmicrohttpd glue: request state, routing, worker pool, logging.
 * See http.h for the design notes and the request lifecycle.
 *
 * DESIGN NOTES (hostile clients; all checked against libmicrohttpd 0.9.75 with real clients,
 * see tests/http/test_http_limits.c)
 *  H1. Body limit. A Content-Length over the route's limit is answered 413 on the first
 *      access-handler call, before a body byte is read; MHD then closes the connection
 *      after the reply (it sets read_closed). A chunked body is counted as it arrives, and
 *      the call that crosses the limit ends it: MHD 0.9.75 refuses MHD_queue_response()
 *      while body data is pending (it returns MHD_NO and nothing is sent), so the 413
 *      would otherwise only go out after the whole body had been read. Instead
 *      send_reply_now() writes the 413 (the same JSON, plus Connection: close) straight to
 *      the socket and the handler returns MHD_NO, which makes MHD close the connection at
 *      once ("Application reported internal error" in its log). This is safe because
 *      MHD writes nothing on a connection while it is still reading its request (and the
 *      server has no TLS: with MHD's TLS this raw write would have to go). Closing a
 *      socket with unread data sends a RST; on Linux a client still reads the 413 that
 *      arrived before it, but its next send() fails (EPIPE/ECONNRESET).
 *  H2. Header and URL size. MHD keeps the request line and headers in a per-connection
 *      memory pool and answers a request that overflows it itself, in HTML: 414 (request
 *      line) or 431 (headers), "Request too big". So the pool is sized above our limits
 *      (pool_size()) and our check decides: on_uri sees the request target
 *      (> max_url_bytes: JSON 414 uri_too_long), req_start the size of request line and
 *      headers (MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE; > max_header_bytes: JSON 431
 *      headers_too_large); both replies close the connection. MHD spends ~64 bytes of
 *      the pool per header besides the header's own bytes, so a pool of
 *      3 × max_header_bytes + 16 KiB (64 KiB at the defaults) holds any request up to the
 *      limit whose header lines average 32 bytes or more, with room left for the reply's
 *      headers. Not more: after a connection's first request MHD clears its whole pool
 *      (MHD_pool_reset), so the pool is resident memory for every kept-alive connection
 *      (64 KiB × up to 4096 connections at the defaults).
 *      What MHD still answers itself, unchangeable in 0.9.75: a request line or header
 *      block larger than the pool (HTML 414/431), hundreds of tiny headers within the
 *      byte limit (HTML 431), a malformed request line or header line (HTML 400), an
 *      unknown HTTP version (HTML 505), a request line without a version (the connection
 *      is closed without an answer).
 *  H3. Timeouts. --idle-timeout is MHD_OPTION_CONNECTION_TIMEOUT: a connection with no
 *      traffic that long is closed. That cannot stop a slow-loris client, whose every
 *      byte resets MHD's idle timer, and 0.9.75 has no header or body deadline, so we
 *      keep one: every connection is tracked (MHD_OPTION_NOTIFY_CONNECTION, a conn_track
 *      in the connection's socket context) with a deadline by which its current request
 *      must have been received whole:
 *        accept                      deadline = now + request_timeout
 *        reply sent (keep-alive)     deadline = now + max(request_timeout, idle_timeout)
 *        request line in (on_uri)    deadline = min(deadline, now + request_timeout)
 *        request received (dispatch) deadline = none (we are answering it)
 *      So the first request must arrive within --request-timeout of the accept; on a
 *      kept-alive connection an idle client still gets its --idle-timeout (not cut
 *      earlier by the request timeout), and once a request line is in, the rest must
 *      follow within --request-timeout. A reaper thread wakes every REAP_TICK_US and
 *      shutdown(fd, SHUT_RDWR)s every connection past its deadline: MHD's event loop then
 *      reads end-of-file and closes the connection the usual way (the request, if one was
 *      begun, completes as aborted). No thread waits on a slow client at any time: MHD
 *      reads sockets from its epoll loops and a request reaches a worker only whole.
 *      A suspended connection (a request on a worker) has no deadline, so is never cut.
 *      Race freedom: the reaper never touches an MHD_Connection; it calls shutdown() on
 *      a tracked fd only while holding cmu, and a conn_track is unlinked under cmu in
 *      the CLOSED notification. MHD notifies CLOSED before it close()s the socket on
 *      every path: MHD_cleanup_connections (normal close and daemon stop) and the
 *      failed-accept cleanup both call the callback first (read in MHD's source, the
 *      same order in versions before and after 0.9.75), and against the installed
 *      0.9.75 fcntl(fd) in the callback found the fd open for 4000 of 4000 connections
 *      closed every way (reply, client FIN mid-request, client RST). So while a
 *      conn_track is linked, its fd is open and is this connection's socket: the number
 *      cannot have been reused. A shutdown() racing MHD's own close of the same
 *      connection only hurries what MHD is already doing.
 *      Not covered: a client that reads its reply very slowly is only bounded by the
 *      idle timeout (each byte it takes counts as activity for MHD).
 */
#include "http.h"
#include "ratelimit.h"
#include "../core/audit.h"
#include "../core/auth.h"
#include "../core/err.h"
#include "../core/id.h"
#include "../core/validate.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <malloc.h>
#include <microhttpd.h>
#include <sodium.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SEGMENTS 12
#define MAX_REPLY_HEADERS 4
/* How often the reaper looks for connections past their deadline (note H3). */
#define REAP_TICK_US (200 * 1000LL)

/* A connection as the reaper sees it (note H3): linked in co_server.conns from MHD's
 * STARTED notification to its CLOSED one. fd and deadline are guarded by co_server.cmu. */
typedef struct conn_track {
	struct conn_track *prev, *next;
	int fd;
	co_usec_t deadline; /* its request must be in by then (monotonic µs); 0: no deadline */
	bool cut;           /* the reaper has shut it down: never armed again */
} conn_track;

typedef struct {
	const co_route *route;
	int nseg;
	const char *seg[MAX_SEGMENTS];
	size_t seglen[MAX_SEGMENTS];
} compiled_route;

enum req_state { REQ_RECEIVING, REQ_QUEUED, REQ_REPLIED };

/* The gate's first part's outcome (gate_early). */
enum gate { GATE_PASS, GATE_REPLIED, GATE_STORE };

struct co_http_req {
	co_server *srv;
	struct MHD_Connection *conn;
	conn_track *track; /* the connection's deadline (note H3); NULL if untracked */
	enum req_state state;
	bool started; /* the access handler has seen this request */
	const co_route *route; /* matched when the headers arrive (req_start) */
	bool route_mismatch;   /* the path exists for other methods (see allow) */
	bool bad_path;         /* the path has a malformed escape */
	co_buf allow;          /* with route_mismatch: the methods the path has */
	const char *method;
	char *path;    /* the raw (still percent-encoded) path, for routing and the log */
	char *decoded; /* decoded path segments, NUL-separated; params point into it */
	const char *params[CO_ROUTE_MAX_PARAMS];
	char *body;
	size_t body_len, body_cap;
	bool too_large;
	bool uri_too_long;   /* the request target is over max_url_bytes (note H2) */
	size_t header_bytes; /* request line and headers, as MHD counted them */
	size_t max_body; /* this route's body limit (note 2) */
	json_t *json;
	/* the reply */
	unsigned status;
	char *resp;
	size_t resp_len;
	char *hdr_name[MAX_REPLY_HEADERS], *hdr_value[MAX_REPLY_HEADERS];
	int nhdr;
	char request_id[65];
	char actor[80]; /* who the audit log names (http.h note 5): "admin:" + 64 fits */
	co_principal principal; /* who is calling, once the gate has let the request in */
	bool auth_pending;      /* the gate's store part still has to run (on the worker) */
	bool gate_ran;          /* gate_early ran when the headers came (a body follows) … */
	enum gate gate;         /* … with this outcome */
	char token_prefix[CO_TOKEN_PREFIX_LEN + 1];  /* the presented workspace token's … */
	char token_hash[CO_TOKEN_HASH_HEX + 1];      /* … prefix and hash, for gate_token */
	char *audit_detail; /* a mutation route's audit detail (its body's digest), or NULL */
	co_usec_t t_start;
	co_http_req *next_queued;
	co_store_task task; /* when the store's executor runs this request */
};

struct co_server {
	struct MHD_Daemon *mhd;
	co_store *store;
	bool request_log;
	compiled_route *routes;
	int nroutes;
	atomic_int active; /* requests begun and not yet completed */
	/* worker pool */
	pthread_t *workers;
	int nworkers;
	pthread_mutex_t qmu;
	pthread_cond_t qcv;
	co_http_req *qhead, *qtail;
	bool qstopping;
	atomic_bool draining; /* stopping: every reply closes its connection */
	atomic_int tasks;     /* requests handed to the store's executor, not yet done */
	/* auth (http.h note 5) */
	bool auth_off;
	char admin_hash[CO_TOKEN_HASH_HEX + 1];
	co_ratelimit *ratelimit; /* NULL: no per-token limit */
	/* hostile clients (notes H1-H3) */
	co_usec_t request_timeout_us, idle_timeout_us;
	size_t max_header_bytes, max_url_bytes;
	pthread_mutex_t cmu; /* guards conns and every conn_track's fields */
	pthread_cond_t ccv;  /* wakes the reaper to stop */
	conn_track *conns;
	bool reaper_running, reaper_stop;
	pthread_t reaper;
};

/* ------------------------------------------------------------------------------------ */
/* Routing                                                                              */
/* ------------------------------------------------------------------------------------ */

static int split(const char *path, const char **seg, size_t *len)
{
	int n = 0;
	if (*path != '/')
		return -1;
	const char *p = path + 1;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t l = slash ? (size_t)(slash - p) : strlen(p);
		if (n == MAX_SEGMENTS)
			return -1;
		seg[n] = p;
		len[n++] = l;
		if (!slash)
			return n;
		p = slash + 1;
	}
}

static int compile_routes(co_server *srv, const co_route *table)
{
	int n = 0;
	while (table[n].method)
		n++;
	srv->routes = calloc((size_t)n, sizeof *srv->routes);
	if (!srv->routes)
		return co_err_set(CO_ENOMEM, "out of memory");
	for (int i = 0; i < n; i++) {
		compiled_route *cr = &srv->routes[i];
		cr->route = &table[i];
		cr->nseg = split(table[i].pattern, cr->seg, cr->seglen);
		if (cr->nseg < 0)
			return co_err_set(CO_EINVAL, "bad route pattern %s", table[i].pattern);
	}
	srv->nroutes = n;
	return CO_OK;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes each raw path segment (RFC 3986 §2.1) into r->decoded, so a "%2F" stays
 * inside its segment instead of splitting it. Returns the segment count, or -1 if the path
 * is malformed: a bad escape or an escaped NUL (which would silently cut a key short);
 * -2 if no route can match it (not absolute, or more than MAX_SEGMENTS segments). */
static int decode_segments(co_http_req *r, const char **seg, size_t *len)
{
	const char *raw[MAX_SEGMENTS];
	size_t rawlen[MAX_SEGMENTS];
	int n = split(r->path, raw, rawlen);
	if (n < 0)
		return -2; /* not "/…" or too many segments: no route can match */
	r->decoded = malloc(strlen(r->path) + 1);
	if (!r->decoded)
		return -1;
	char *out = r->decoded;
	for (int k = 0; k < n; k++) {
		seg[k] = out;
		for (size_t i = 0; i < rawlen[k]; i++) {
			char c = raw[k][i];
			if (c == '%') {
				if (i + 2 >= rawlen[k]) /* needs two hex digits */
					return -1;
				int h = hexval(raw[k][i + 1]), l = hexval(raw[k][i + 2]);
				if (h < 0 || l < 0 || (h == 0 && l == 0))
					return -1;
				c = (char)(h * 16 + l);
				i += 2;
			}
			*out++ = c;
		}
		len[k] = (size_t)(out - seg[k]);
		*out++ = 0;
	}
	return n;
}

/* Finds the route for method+path. Returns the route (captures in r->params), or NULL
 * with *method_mismatch set when the path exists under other methods (listed in allow),
 * or with *bad_path set when the path cannot be decoded. */
static const co_route *route_match(co_http_req *r, bool *method_mismatch, bool *bad_path,
				   co_buf *allow)
{
	const char *seg[MAX_SEGMENTS];
	size_t len[MAX_SEGMENTS];
	*method_mismatch = false;
	*bad_path = false;
	int n = decode_segments(r, seg, len);
	if (n < 0) {
		*bad_path = n == -1;
		return NULL;
	}
	for (int i = 0; i < r->srv->nroutes; i++) {
		const compiled_route *cr = &r->srv->routes[i];
		if (cr->nseg != n)
			continue;
		bool ok = true;
		for (int k = 0; k < n && ok; k++) {
			if (cr->seg[k][0] == ':')
				ok = true; /* even empty: the handler's validator answers 400 */
			else
				ok = cr->seglen[k] == len[k] && !memcmp(cr->seg[k], seg[k], len[k]);
		}
		if (!ok)
			continue;
		if (strcmp(cr->route->method, r->method) != 0) {
			if (*method_mismatch)
				co_buf_puts(allow, ", ");
			co_buf_puts(allow, cr->route->method);
			*method_mismatch = true;
			continue;
		}
		int np = 0;
		for (int k = 0; k < n; k++)
			if (cr->seg[k][0] == ':' && np < CO_ROUTE_MAX_PARAMS)
				r->params[np++] = seg[k]; /* NUL-terminated in r->decoded */
		return cr->route;
	}
	return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* The reply funnel                                                                     */
/* ------------------------------------------------------------------------------------ */

static void set_reply(co_http_req *r, unsigned status, char *data, size_t len)
{
	free(r->resp);
	r->status = status;
	r->resp = data;
	r->resp_len = len;
}

void co_reply_json(co_http_req *r, unsigned status, co_buf *b)
{
	size_t len = 0;
	char *data = co_buf_take(b, &len);
	if (!data) {
		co_reply_error(r, 500, "out_of_memory", NULL, "out of memory building the reply");
		return;
	}
	set_reply(r, status, data, len);
}

void co_reply_empty(co_http_req *r, unsigned status)
{
	char *data = strdup("");
	if (!data) {
		co_reply_error(r, 500, "out_of_memory", NULL, "out of memory building the reply");
		return;
	}
	set_reply(r, status, data, 0);
}

bool co_req_has_body(co_http_req *r) { return r->body_len > 0; }

void co_reply_header(co_http_req *r, const char *name, const char *value)
{
	if (r->nhdr == MAX_REPLY_HEADERS)
		return;
	r->hdr_name[r->nhdr] = strdup(name);
	r->hdr_value[r->nhdr] = strdup(value);
	r->nhdr++;
}

void co_reply_error(co_http_req *r, unsigned status, const char *code, const char *extra,
		    const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	co_buf b;
	co_buf_init(&b);
	co_buf_puts(&b, "{\"error\":");
	co_buf_json_cstr(&b, msg);
	co_buf_puts(&b, ",\"code\":");
	co_buf_json_cstr(&b, code);
	if (extra && *extra) {
		co_buf_putc(&b, ',');
		co_buf_puts(&b, extra);
	}
	co_buf_putc(&b, '}');
	size_t len = 0;
	char *data = co_buf_take(&b, &len);
	if (!data) { /* never allocate to report out-of-memory twice */
		static const char oom[] = "{\"error\":\"out of memory\",\"code\":\"out_of_memory\"}";
		data = strdup(oom);
		len = data ? sizeof oom - 1 : 0;
		status = 500;
	}
	set_reply(r, status, data, len);
}

static void reply_401(co_http_req *r, const char *code, const char *msg)
{
	co_reply_error(r, 401, code, NULL, "%s", msg);
	co_reply_header(r, "WWW-Authenticate", "Bearer");
}

void co_reply_store_error(co_http_req *r, int rc)
{
	switch (rc) {
	case CO_ENOTFOUND: co_reply_error(r, 404, "not_found", NULL, "%s", co_err_msg()); break;
	case CO_EINVAL: co_reply_error(r, 400, "invalid", NULL, "%s", co_err_msg()); break;
	case CO_EUNAVAIL:
		co_reply_error(r, 503, "storage_unavailable", NULL, "%s", co_err_msg());
		co_reply_header(r, "Retry-After", "1");
		break;
	case CO_EEXISTS: co_reply_error(r, 409, "exists", NULL, "%s", co_err_msg()); break;
	case CO_ECONFLICT: co_reply_error(r, 409, "conflict", NULL, "%s", co_err_msg()); break;
	case CO_ENOMEM: co_reply_error(r, 500, "out_of_memory", NULL, "out of memory"); break;
	case CO_EREVOKED:
		reply_401(r, "invalid_token", "the token was revoked (or its workspace removed) "
			  "before this write could commit; nothing was written");
		break;
	default: co_reply_error(r, 500, "internal", NULL, "internal error: %s", co_err_msg());
	}
}

/* ------------------------------------------------------------------------------------ */
/* Request accessors                                                                    */
/* ------------------------------------------------------------------------------------ */

co_store *co_req_store(co_http_req *r) { return r->srv->store; }

const co_principal *co_req_principal(co_http_req *r) { return &r->principal; }

const char *co_req_param(co_http_req *r, int i)
{
	return i >= 0 && i < CO_ROUTE_MAX_PARAMS ? r->params[i] : NULL;
}

const char *co_req_query(co_http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *co_req_header(co_http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

json_t *co_req_json_or_reply(co_http_req *r)
{
	return co_req_json_depth_or_reply(r, CO_JSON_DEPTH_MAX);
}

const char *co_req_body(co_http_req *r, size_t *len)
{
	*len = r->body_len;
	return r->body ? r->body : "";
}

json_t *co_req_json_depth_or_reply(co_http_req *r, int max_depth)
{
	if (r->json)
		return r->json;
	const char *ct = co_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (ct && strncasecmp(ct, "application/json", 16) != 0) {
		co_reply_error(r, 415, "unsupported_media_type", NULL,
			       "Content-Type must be application/json, not %.64s", ct);
		return NULL;
	}
	if (r->body_len == 0) {
		co_reply_error(r, 400, "invalid_json", NULL, "a JSON body is required");
		return NULL;
	}
	if (!co_json_depth_ok(r->body, r->body_len, max_depth)) {
		co_reply_error(r, 400, "invalid_json", NULL, "JSON nests deeper than %d levels",
			       max_depth);
		return NULL;
	}
	json_error_t err;
	r->json = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &err);
	if (!r->json) {
		/* jansson's text quotes the bytes near the error: never those of a secret. */
		bool secret = r->route && (r->route->flags & CO_ROUTE_SECRET_BODY);
		co_reply_error(r, 400, "invalid_json", NULL, "malformed JSON at line %d column %d%s%s",
			       err.line, err.column, secret ? "" : ": ", secret ? "" : err.text);
		return NULL;
	}
	return r->json;
}

bool co_req_limit_or_reply(co_http_req *r, int *limit)
{
	const char *s = co_req_query(r, "limit");
	int64_t v = CO_LIST_DEFAULT;
	if (s && co_parse_i64(s, 1, CO_LIST_MAX, &v)) {
		co_reply_error(r, 400, "invalid", NULL, "limit: %s", co_err_msg());
		return false;
	}
	*limit = (int)v;
	return true;
}

bool co_req_page_or_reply(co_http_req *r, co_page *p)
{
	memset(p, 0, sizeof *p);
	if (!co_req_limit_or_reply(r, &p->limit))
		return false;
	const char *after = co_req_query(r, "after");
	if (after) {
		if (co_id_parse(after, &p->after)) {
			co_reply_error(r, 400, "invalid", NULL, "after must be an id");
			return false;
		}
		p->has_after = true;
	}
	return true;
}

bool co_req_id_or_reply(co_http_req *r, int param, co_id *out)
{
	const char *s = co_req_param(r, param);
	if (co_id_parse(s ? s : "", out)) {
		co_reply_error(r, 400, "invalid_id", NULL, "'%.64s' is not a valid UUID", s ? s : "");
		return false;
	}
	return true;
}

/* ------------------------------------------------------------------------------------ */
/* The gate: authentication and the hierarchy rule (http.h note 5)                      */
/* ------------------------------------------------------------------------------------ */

/* Last-used times are written at most this often per token: a write per request would
 * make every read a write. */
#define TOKEN_TOUCH_EVERY_US (60 * 1000000LL)

/* 1..64 characters of [A-Za-z0-9._-] and those of `extra`. */
static bool sane_token(const char *s, const char *extra)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (n >= 64 || !(isalnum((unsigned char)s[n]) || s[n] == '-' || s[n] == '_' ||
				 s[n] == '.' || strchr(extra, s[n])))
			return false;
	return n > 0;
}

/* The actor the audit log names: `who`, with ":<X-Colony-Actor>" when the caller may
 * name itself (the admin) and gave a sane name. */
static void set_actor(co_http_req *r, const char *who, bool may_name_self)
{
	const char *name = co_req_header(r, "X-Colony-Actor");
	bool named = may_name_self && name && sane_token(name, "@:");
	if (!who)
		snprintf(r->actor, sizeof r->actor, "%s", named ? name : "anonymous");
	else if (named)
		snprintf(r->actor, sizeof r->actor, "%s:%s", who, name);
	else
		snprintf(r->actor, sizeof r->actor, "%s", who);
}

/* "Authorization: Bearer <token>" → the token, or NULL. */
static const char *bearer_token(co_http_req *r)
{
	const char *h = co_req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return *h ? h : NULL;
}

/* Does the caller reach workspace x under `access`? CO_OK with *ok, or a storage error.
 * An absent x is not reached (403, never 404: a token learns nothing of other trees). */
static int reach(co_http_req *r, const co_id *x, co_access access, bool *ok)
{
	const co_principal *p = &r->principal;
	*ok = false;
	if (p->admin || access == CO_ACCESS_PUBLIC || access == CO_ACCESS_ANY_TOKEN) {
		*ok = true;
		return CO_OK;
	}
	if (access == CO_ACCESS_ADMIN)
		return CO_OK;
	bool self = !strcmp(x->s, p->workspace_id.s);
	if (self || access == CO_ACCESS_OWN) {
		*ok = self && access != CO_ACCESS_BELOW;
		return CO_OK;
	}
	co_store *s = r->srv->store;
	co_id_list lx = {0}, lt = {0};
	bool removed;
	int rc = CO_STORE_CALL(s, ws_lineage, x, &lx, &removed);
	if (rc == CO_OK && access == CO_ACCESS_RELATED)
		rc = CO_STORE_CALL(s, ws_lineage, &p->workspace_id, &lt, &removed);
	if (rc == CO_OK) {
		/* For SUBTREE and BELOW only "is T above x" matters: T alone as its lineage. */
		co_ws_relation rel = access == CO_ACCESS_RELATED
					     ? co_ws_relate(lx.ids, lx.n, lt.ids, lt.n)
					     : co_ws_relate(lx.ids, lx.n, &p->workspace_id, 1);
		*ok = access == CO_ACCESS_RELATED ? rel != CO_REL_NONE : rel == CO_REL_DESCENDANT;
	}
	co_id_list_clear(&lx);
	co_id_list_clear(&lt);
	return rc == CO_ENOTFOUND ? CO_OK : rc;
}

static const char *access_rule(co_access a)
{
	switch (a) {
	case CO_ACCESS_OWN: return "its own workspace only";
	case CO_ACCESS_RELATED: return "its own workspace, its siblings, ancestors and descendants";
	case CO_ACCESS_SUBTREE: return "its own workspace and its descendants";
	case CO_ACCESS_BELOW: return "its descendants only";
	default: return "nothing here (admin only)";
	}
}

bool co_req_reach_or_reply(co_http_req *r, const co_id *ws, co_access access)
{
	bool ok;
	int rc = reach(r, ws, access, &ok);
	if (rc) {
		co_reply_store_error(r, rc);
		return false;
	}
	if (!ok)
		co_reply_error(r, 403, "forbidden", NULL,
			       "this token may not reach workspace %s: here it reaches %s", ws->s,
			       access_rule(access));
	return ok;
}

/* A token's last_used_at, written without anyone waiting for it. */
typedef struct {
	co_store_task task;
	co_store *store;
	co_id token_id;
	co_usec_t at;
} touch_task;

static void touch_run(co_store_task *t)
{
	touch_task *tt = t->ctx;
	(void)CO_STORE_CALL(tt->store, token_touch, &tt->token_id, tt->at); /* best effort */
}

static void touch_done(co_store_task *t, int rc)
{
	(void)rc;
	free(t->ctx);
}

/* Notes a token's use (at most every TOKEN_TOUCH_EVERY_US). With a write executor
 * (SQLite) it is handed over and not waited for: the gate runs on an event thread,
 * which must not wait for a commit. Else (PostgreSQL, on a worker) one quick update. */
static void touch_token(co_server *srv, const co_id *id, co_usec_t at)
{
	co_store *s = srv->store;
	if (!s->ops->exec_batched) {
		(void)CO_STORE_CALL(s, token_touch, id, at);
		return;
	}
	touch_task *tt = calloc(1, sizeof *tt);
	if (!tt)
		return;
	*tt = (touch_task){.task = {.run = touch_run, .done = touch_done, .ctx = tt},
			   .store = s, .token_id = *id, .at = at};
	if (s->ops->exec_batched(s, &tt->task) != CO_OK)
		free(tt); /* closing: done will not be called */
}

/* Is "host[:port]" (or "[v6]:port") a loopback name: localhost, 127.x.y.z or [::1]? */
static bool loopback_hostport(const char *h)
{
	char host[256];
	size_t n;
	if (*h == '[') {
		n = strcspn(h + 1, "]");
		if (h[1 + n] != ']' || n >= sizeof host)
			return false;
		memcpy(host, h + 1, n);
		host[n] = 0;
		return !strcmp(host, "::1");
	}
	n = strcspn(h, ":");
	if (n >= sizeof host)
		return false;
	memcpy(host, h, n);
	host[n] = 0;
	if (!strcasecmp(host, "localhost"))
		return true;
	struct in_addr a;
	return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* --dev serves loopback only, without auth, so a web page the developer opens must not
 * drive it: a Host that is not a loopback name (DNS rebinding) or an Origin that is not
 * a loopback page (a cross-site form post) is refused. */
static bool dev_request_local(co_http_req *r)
{
	const char *host = co_req_header(r, MHD_HTTP_HEADER_HOST);
	const char *origin = co_req_header(r, "Origin");
	if (host && !loopback_hostport(host))
		return false;
	if (!origin)
		return true;
	const char *p = strstr(origin, "://");
	return p && loopback_hostport(p + 3);
}

/* The gate's first part, without storage (event thread): --dev, public routes, a
 * missing token (401), the admin token. GATE_STORE: a workspace-shaped token that only
 * the store can judge (gate_token). */
static enum gate gate_early(co_http_req *r)
{
	co_server *srv = r->srv;
	if (srv->auth_off) {
		if (!dev_request_local(r)) {
			co_reply_error(r, 403, "not_local", NULL,
				       "--dev answers only requests for a loopback Host from no page or "
				       "a loopback page (Origin)");
			return GATE_REPLIED;
		}
		r->principal.admin = true;
		set_actor(r, NULL, true);
		return GATE_PASS;
	}
	const char *tok = bearer_token(r);
	if (r->route->access == CO_ACCESS_PUBLIC && !tok) {
		set_actor(r, NULL, false);
		return GATE_PASS;
	}
	if (!tok) {
		reply_401(r, "unauthorized",
			  "this endpoint needs a token: send Authorization: Bearer <token>");
		return GATE_REPLIED;
	}
	co_token_hash_hex(tok, r->token_hash);
	if (co_token_hash_equal(r->token_hash, srv->admin_hash)) {
		r->principal.admin = true;
		set_actor(r, "admin", true);
		return GATE_PASS;
	}
	if (!co_token_parse(tok, r->token_prefix)) {
		reply_401(r, "invalid_token", "the token is not valid");
		return GATE_REPLIED;
	}
	return GATE_STORE;
}

/* The gate's second part: looks the token up, rate limits it, checks the route's rule,
 * and notes its use. Runs where reads may block. false: replied (401/403/429/400/503). */
static bool gate_token(co_http_req *r)
{
	co_server *srv = r->srv;
	co_token t = {0};
	int rc = CO_STORE_CALL(srv->store, token_lookup, r->token_prefix, &t);
	if (rc == CO_OK && !co_token_hash_equal(t.hash_hex, r->token_hash))
		rc = CO_ENOTFOUND;
	if (rc == CO_ENOTFOUND) {
		reply_401(r, "invalid_token",
			  "the token is not valid: unknown, revoked, or its workspace was removed");
		return false;
	}
	if (rc) {
		co_reply_store_error(r, rc);
		return false;
	}
	r->principal = (co_principal){.admin = false, .token_id = t.id, .workspace_id = t.workspace_id};
	char who[8 + CO_ID_LEN];
	snprintf(who, sizeof who, "token:%s", t.id.s);
	set_actor(r, who, false);
	int retry_after;
	if (srv->ratelimit &&
	    !co_ratelimit_take(srv->ratelimit, t.id.s, co_clock_mono_us(), &retry_after)) {
		char ra[16];
		snprintf(ra, sizeof ra, "%d", retry_after);
		co_reply_error(r, 429, "rate_limited", NULL,
			       "this token is over its request rate; retry in %d s", retry_after);
		co_reply_header(r, "Retry-After", ra);
		return false;
	}
	co_access access = r->route->access;
	if (access == CO_ACCESS_ADMIN) {
		co_reply_error(r, 403, "admin_only", NULL, "this endpoint needs the admin token");
		return false;
	}
	if (access != CO_ACCESS_PUBLIC && access != CO_ACCESS_ANY_TOKEN) {
		co_id ws; /* the rule is about the route's first capture, :id */
		if (!co_req_id_or_reply(r, 0, &ws) || !co_req_reach_or_reply(r, &ws, access))
			return false;
	}
	co_usec_t now = co_clock_now_us();
	if (now - t.last_used_at >= TOKEN_TOUCH_EVERY_US)
		touch_token(srv, &t.id, now);
	return true;
}

/* ------------------------------------------------------------------------------------ */
/* Worker pool                                                                          */
/* ------------------------------------------------------------------------------------ */

/* Runs the route's handler. A mutation route's store writes are audited: its entry
 * (detail made by dispatch, on the event thread) is current for this thread while the
 * handler runs (core/audit.h note 1). */
static void run_handler(co_http_req *r)
{
	if (r->auth_pending) { /* the gate's store part, deferred off the event thread */
		r->auth_pending = false;
		if (!gate_token(r) ||
		    ((r->route->flags & CO_ROUTE_JSON_BODY) && !co_req_json_or_reply(r)))
			return; /* replied */
	}
	co_audit_entry entry = {.actor = r->actor,
				.token_id = r->principal.admin || !r->principal.token_id.s[0]
						    ? NULL
						    : r->principal.token_id.s,
				.action = r->route->audit,
				.target = r->path,
				.detail_json = r->audit_detail};
	if (r->audit_detail)
		co_audit_set(&entry);
	r->route->fn(r);
	co_audit_set(NULL);
	if (!r->resp)
		co_reply_error(r, 500, "internal", NULL, "handler set no reply");
}

static void *worker_main(void *arg)
{
	co_server *srv = arg;
	for (;;) {
		pthread_mutex_lock(&srv->qmu);
		while (!srv->qhead && !srv->qstopping)
			pthread_cond_wait(&srv->qcv, &srv->qmu);
		co_http_req *r = srv->qhead;
		if (!r) {
			pthread_mutex_unlock(&srv->qmu);
			return NULL;
		}
		srv->qhead = r->next_queued;
		if (!srv->qhead)
			srv->qtail = NULL;
		pthread_mutex_unlock(&srv->qmu);
		run_handler(r);
		r->state = REQ_REPLIED;
		MHD_resume_connection(r->conn);
	}
}

static void task_run(co_store_task *t) { run_handler(t->ctx); }

/* The executor's transaction ended: a reply made before a failed commit is replaced. */
static void task_done(co_store_task *t, int rc)
{
	co_http_req *r = t->ctx;
	if (rc != CO_OK) {
		/* The batch did not commit: whatever the handler answered (a 200, or a 409
		 * decided against writes now rolled back) no longer holds. */
		for (int i = 0; i < r->nhdr; i++) {
			free(r->hdr_name[i]);
			free(r->hdr_value[i]);
		}
		r->nhdr = 0;
		co_reply_store_error(r, CO_EUNAVAIL);
	}
	r->state = REQ_REPLIED;
	co_server *srv = r->srv;
	MHD_resume_connection(r->conn);
	atomic_fetch_sub(&srv->tasks, 1); /* after the resume: see server_free */
}

/* Suspends the connection and hands r to the store's executor if it has one (the handler
 * then runs in a shared commit on the writer thread), else queues it for a worker.
 * False if neither accepts work any more (stopping). */
static bool queue_blocking(co_http_req *r)
{
	co_server *srv = r->srv;
	co_store *store = srv->store;
	if (store->ops->exec_batched && (r->route->flags & CO_ROUTE_BLOCKING) &&
	    !(r->route->flags & CO_ROUTE_WORKER) && !r->auth_pending) {
		/* Counted under qmu, against qstopping: once server_free has set qstopping,
		 * no task can start, so its wait for tasks == 0 is final. */
		pthread_mutex_lock(&srv->qmu);
		if (srv->qstopping) {
			pthread_mutex_unlock(&srv->qmu);
			return false;
		}
		atomic_fetch_add(&srv->tasks, 1);
		pthread_mutex_unlock(&srv->qmu);
		r->task = (co_store_task){.run = task_run, .done = task_done, .ctx = r};
		r->state = REQ_QUEUED;
		MHD_suspend_connection(r->conn); /* before the task can possibly resume it */
		if (store->ops->exec_batched(store, &r->task) != CO_OK) {
			/* closing: answer 503 through the resume path like any task */
			co_reply_error(r, 503, "shutting_down", NULL, "the server is shutting down");
			r->state = REQ_REPLIED;
			MHD_resume_connection(r->conn);
			atomic_fetch_sub(&srv->tasks, 1);
		}
		return true;
	}
	pthread_mutex_lock(&srv->qmu);
	if (srv->qstopping) {
		pthread_mutex_unlock(&srv->qmu);
		return false;
	}
	r->state = REQ_QUEUED;
	MHD_suspend_connection(r->conn); /* before any worker can see r and resume it */
	r->next_queued = NULL;
	if (srv->qtail)
		srv->qtail->next_queued = r;
	else
		srv->qhead = r;
	srv->qtail = r;
	pthread_cond_signal(&srv->qcv);
	pthread_mutex_unlock(&srv->qmu);
	return true;
}

/* ------------------------------------------------------------------------------------ */
/* Connection deadlines and the reaper (note H3)                                        */
/* ------------------------------------------------------------------------------------ */

enum deadline_event {
	DL_REPLIED,      /* a reply has been sent; the connection waits for the next request */
	DL_REQUEST_LINE, /* a request line is in: the rest follows within request_timeout */
	DL_RECEIVED,     /* the request is in whole: no deadline while it is answered */
};

static void deadline_on(co_server *srv, conn_track *t, enum deadline_event ev)
{
	if (!t)
		return;
	co_usec_t now = co_clock_mono_us();
	co_usec_t req = now + srv->request_timeout_us;
	pthread_mutex_lock(&srv->cmu);
	if (!t->cut) {
		switch (ev) {
		case DL_REPLIED:
			t->deadline = srv->idle_timeout_us > srv->request_timeout_us
					      ? now + srv->idle_timeout_us
					      : req;
			break;
		case DL_REQUEST_LINE:
			if (!t->deadline || t->deadline > req)
				t->deadline = req;
			break;
		case DL_RECEIVED: t->deadline = 0; break;
		}
	}
	pthread_mutex_unlock(&srv->cmu);
}

/* MHD_OPTION_NOTIFY_CONNECTION: tracks a connection from its accept to MHD's CLOSED
 * notification, which MHD 0.9.75 gives before it closes the socket (note H3). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	co_server *srv = cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		conn_track *t = ci ? calloc(1, sizeof *t) : NULL;
		*socket_context = t;
		if (!t)
			return; /* untracked: only MHD's idle timeout applies to it */
		t->fd = ci->connect_fd;
		t->deadline = co_clock_mono_us() + srv->request_timeout_us;
		pthread_mutex_lock(&srv->cmu);
		t->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = t;
		srv->conns = t;
		pthread_mutex_unlock(&srv->cmu);
		return;
	}
	conn_track *t = *socket_context;
	if (!t)
		return;
	*socket_context = NULL;
	pthread_mutex_lock(&srv->cmu); /* after this, the reaper cannot see t or its fd */
	if (t->prev)
		t->prev->next = t->next;
	else
		srv->conns = t->next;
	if (t->next)
		t->next->prev = t->prev;
	pthread_mutex_unlock(&srv->cmu);
	free(t);
}

static void *reaper_main(void *arg)
{
	co_server *srv = arg;
	pthread_mutex_lock(&srv->cmu);
	while (!srv->reaper_stop) {
		co_usec_t now = co_clock_mono_us();
		for (conn_track *t = srv->conns; t; t = t->next) {
			if (!t->deadline || now < t->deadline)
				continue;
			/* t is linked and cmu is held: MHD has not closed t->fd yet (note H3).
			 * MHD's event loop sees end-of-file and closes the connection. */
			(void)shutdown(t->fd, SHUT_RDWR);
			t->deadline = 0;
			t->cut = true;
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)(REAP_TICK_US * 1000);
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&srv->ccv, &srv->cmu, &ts);
	}
	pthread_mutex_unlock(&srv->cmu);
	return NULL;
}

static void reaper_end(co_server *srv)
{
	if (!srv->reaper_running)
		return;
	pthread_mutex_lock(&srv->cmu);
	srv->reaper_stop = true;
	pthread_cond_signal(&srv->ccv);
	pthread_mutex_unlock(&srv->cmu);
	pthread_join(srv->reaper, NULL);
	srv->reaper_running = false;
}

/* MHD's per-connection memory pool: above our header limit (note H2). */
static size_t pool_size(const co_server *srv)
{
	return 3 * srv->max_header_bytes + 16 * 1024;
}

/* ------------------------------------------------------------------------------------ */
/* MHD callbacks                                                                        */
/* ------------------------------------------------------------------------------------ */

/* Frees a reply buffer, zeroed first: a reply may carry a new token's plaintext or a
 * secret's value, which should not linger in freed heap memory. */
static void free_wiped(void *buf)
{
	if (buf)
		sodium_memzero(buf, malloc_usable_size(buf));
	free(buf);
}

static enum MHD_Result send_reply(co_http_req *r)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer_with_free_callback(r->resp_len, r->resp, free_wiped);
	if (!resp)
		return MHD_NO;
	r->resp = NULL; /* owned by the response now */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Request-Id", r->request_id);
	for (int i = 0; i < r->nhdr; i++)
		if (r->hdr_name[i] && r->hdr_value[i])
			MHD_add_response_header(resp, r->hdr_name[i], r->hdr_value[i]);
	if (atomic_load(&r->srv->draining)) /* shutting down: let keep-alive clients go */
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result ret = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	r->state = REQ_REPLIED;
	return ret;
}

/* Writes r's reply straight to the socket, with Connection: close, for the one case MHD
 * 0.9.75 cannot answer: a body still arriving (note H1). The caller then returns MHD_NO,
 * so MHD closes the connection. Runs on the connection's event thread, while MHD reads
 * the request and writes nothing. A reply the socket does not take whole is cut short. */
static void send_reply_now(co_http_req *r)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	const char *reason = MHD_get_reason_phrase_for(r->status);
	co_buf b;
	co_buf_init(&b);
	co_buf_printf(&b,
		      "HTTP/1.1 %u %s\r\nConnection: close\r\nContent-Type: application/json\r\n"
		      "X-Request-Id: %s\r\nContent-Length: %zu\r\n\r\n",
		      r->status, reason && *reason ? reason : "Error", r->request_id, r->resp_len);
	if (r->resp)
		co_buf_append(&b, r->resp, r->resp_len);
	if (ci && co_buf_ok(&b)) {
		ssize_t w = send(ci->connect_fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)w; /* the connection is closed next whatever happened */
	}
	co_buf_free(&b);
	r->state = REQ_REPLIED;
}

/* MHD decodes query arguments; an escaped NUL would cut a value short unseen. */
static enum MHD_Result find_nul(void *cls, enum MHD_ValueKind kind, const char *key,
				size_t key_size, const char *value, size_t value_size)
{
	(void)kind;
	bool *bad = cls;
	if ((key && strlen(key) != key_size) || (value && strlen(value) != value_size)) {
		*bad = true;
		return MHD_NO;
	}
	return MHD_YES;
}

/* Body complete (or none): route and run, inline or on a worker. */
static enum MHD_Result dispatch(co_http_req *r)
{
	deadline_on(r->srv, r->track, DL_RECEIVED); /* in whole: no deadline (note H3) */
	if (r->uri_too_long || r->header_bytes > r->srv->max_header_bytes) {
		if (r->uri_too_long)
			co_reply_error(r, 414, "uri_too_long", NULL,
				       "the request target is longer than %zu bytes",
				       r->srv->max_url_bytes);
		else
			co_reply_error(r, 431, "headers_too_large", NULL,
				       "the request line and headers exceed %zu bytes",
				       r->srv->max_header_bytes);
		co_reply_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
		return send_reply(r);
	}
	if (r->too_large) {
		co_reply_error(r, 413, "body_too_large", NULL, "request body exceeds %zu bytes",
			       r->max_body);
		return send_reply(r);
	}
	bool bad_query = false;
	MHD_get_connection_values_n(r->conn, MHD_GET_ARGUMENT_KIND, find_nul, &bad_query);
	if (r->bad_path || bad_query) {
		r->route = NULL;
		co_reply_error(r, 400, "invalid_path", NULL,
			       "the %s has a malformed percent-escape or an escaped NUL byte",
			       r->bad_path ? "path" : "query string");
	} else if (!r->route && r->route_mismatch) {
		co_reply_error(r, 405, "method_not_allowed", NULL,
			       "this method is not allowed here; see the Allow header");
		if (co_buf_ok(&r->allow) && r->allow.data)
			co_reply_header(r, "Allow", r->allow.data);
	} else if (!r->route) {
		co_reply_error(r, 404, "no_route", NULL, "no such endpoint");
	}
	if (!r->route)
		return send_reply(r);
	/* Who is calling, before the body is looked at (http.h note 5). The store part of
	 * the gate runs here when reads are inline (SQLite), else first thing on the
	 * worker: never inside the store's executor, which runs no reads. */
	bool reads_inline = r->srv->store->ops->flags & CO_STORE_READS_INLINE;
	enum gate g = r->gate_ran ? r->gate : gate_early(r);
	if (g == GATE_REPLIED || (g == GATE_STORE && reads_inline && !gate_token(r)))
		return send_reply(r);
	r->auth_pending = g == GATE_STORE && !reads_inline;
	/* A bad body is answered here, and a good one is parsed here: on the event thread,
	 * not on the store's writer thread, which is the serial part of every write. */
	if (!r->auth_pending && (r->route->flags & CO_ROUTE_JSON_BODY) && !co_req_json_or_reply(r))
		return send_reply(r);
	/* So is the audit detail: hashing a body is no work for the writer thread. A body
	 * that carries a secret is not hashed at all. */
	if (r->route->audit &&
	    !(r->audit_detail = (r->route->flags & CO_ROUTE_SECRET_BODY)
					? co_audit_detail_withheld(r->method, r->path)
					: co_audit_detail(r->method, r->path, r->body, r->body_len))) {
		co_reply_error(r, 503, "out_of_memory", NULL, "out of memory");
		return send_reply(r);
	}
	/* Writes always leave the event thread; reads too when the store's reads block. */
	if ((r->route->flags & (CO_ROUTE_BLOCKING | CO_ROUTE_WORKER)) || !reads_inline) {
		if (queue_blocking(r))
			return MHD_YES;
		co_reply_error(r, 503, "shutting_down", NULL, "the server is shutting down");
		return send_reply(r);
	}
	run_handler(r);
	return send_reply(r);
}

/* MHD_OPTION_URI_LOG_CALLBACK: called with the raw URI before headers are parsed; what it
 * returns becomes *con_cls. Routing works on this raw path (see decode_segments). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	co_server *srv = cls;
	co_http_req *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->srv = srv;
	r->conn = conn;
	r->t_start = co_clock_mono_us();
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	r->track = ci ? ci->socket_context : NULL;
	deadline_on(srv, r->track, DL_REQUEST_LINE);
	size_t n = strlen(uri);
	r->uri_too_long = n > srv->max_url_bytes; /* answered 414 once the headers are in */
	r->path = r->uri_too_long ? strdup("") : strndup(uri, strcspn(uri, "?"));
	if (!r->path) {
		free(r);
		return NULL;
	}
	atomic_fetch_add(&srv->active, 1);
	return r;
}

/* First access-handler call: headers are known now. The route is matched here, before
 * any body byte is read, because the body limit depends on it (DESIGN NOTE 2). */
static void req_start(co_http_req *r, const char *method)
{
	r->started = true;
	r->method = method;
	co_buf_init(&r->allow);
	const union MHD_ConnectionInfo *hs =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	r->header_bytes = hs ? hs->header_size : 0;
	if (!r->uri_too_long) /* its path was not kept */
		r->route = route_match(r, &r->route_mismatch, &r->bad_path, &r->allow);
	r->max_body = r->route && (r->route->flags & CO_ROUTE_LARGE_BODY)
			      ? co_limits_current.max_import_body
			      : co_limits_current.max_body;
	const char *rid = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Request-Id");
	if (rid && sane_token(rid, "")) {
		snprintf(r->request_id, sizeof r->request_id, "%s", rid);
	} else {
		co_id id;
		co_id_new(&id);
		snprintf(r->request_id, sizeof r->request_id, "%s", id.s);
	}
	snprintf(r->actor, sizeof r->actor, "anonymous"); /* until the gate says who */
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload,
				 size_t *upload_size, void **con_cls)
{
	(void)version;
	(void)cls;
	(void)url; /* already decoded by MHD; we route on the raw path kept by on_uri */
	co_http_req *r = *con_cls;
	if (!r)
		return MHD_NO; /* on_uri could not allocate */
	if (!r->started) {
		req_start(r, method);
		if (r->uri_too_long || r->header_bytes > r->srv->max_header_bytes)
			return dispatch(r); /* 414/431 now; the connection closes (note H2) */
		const char *cl = co_req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
		unsigned long long declared = 0;
		if (cl) {
			char *end;
			declared = strtoull(cl, &end, 10);
			if (*end == 0 && declared > r->max_body) {
				r->too_large = true; /* answered now, before reading any byte */
				return dispatch(r);
			}
		}
		/* A caller the gate refuses without the store (no token: 401) is answered
		 * before its body is read, so an anonymous client cannot make us buffer
		 * one (http.h note 5). Only when a body comes: the early reply closes the
		 * connection, which a keep-alive GET need not suffer. */
		const char *te = co_req_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING);
		if (r->route && !r->bad_path && (declared > 0 || te)) {
			r->gate = gate_early(r);
			r->gate_ran = true;
			/* With local reads (SQLite) the token itself is judged now too. */
			if (r->gate == GATE_STORE &&
			    (r->srv->store->ops->flags & CO_STORE_READS_INLINE))
				r->gate = gate_token(r) ? GATE_PASS : GATE_REPLIED;
			if (r->gate == GATE_REPLIED) {
				deadline_on(r->srv, r->track, DL_RECEIVED);
				co_reply_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
				return send_reply(r);
			}
		}
		/* Reply on a later call, never this first one: MHD 0.9.75 closes the
		 * connection after a reply queued on the first call (no keep-alive). */
		return MHD_YES;
	}
	if (r->state == REQ_REPLIED)
		return r->resp ? send_reply(r) : MHD_YES; /* resumed from a worker */
	if (r->state == REQ_QUEUED)
		return MHD_YES;
	if (*upload_size) {
		size_t n = *upload_size;
		*upload_size = 0;
		if (r->body_len + n > r->max_body) {
			/* A chunked body over the limit: answered now, and the rest is not
			 * read; MHD closes the connection (note H1). */
			deadline_on(r->srv, r->track, DL_RECEIVED);
			r->too_large = true;
			co_reply_error(r, 413, "body_too_large", NULL,
				       "request body exceeds %zu bytes", r->max_body);
			send_reply_now(r);
			return MHD_NO;
		}
		if (r->body_len + n + 1 > r->body_cap) {
			size_t cap = r->body_cap ? r->body_cap : 1024;
			while (cap < r->body_len + n + 1)
				cap *= 2;
			char *b = realloc(r->body, cap);
			if (!b)
				return MHD_NO;
			r->body = b;
			r->body_cap = cap;
		}
		memcpy(r->body + r->body_len, upload, n);
		r->body_len += n;
		r->body[r->body_len] = 0;
		return MHD_YES;
	}
	return dispatch(r);
}

static void log_request(co_server *srv, co_http_req *r, enum MHD_RequestTerminationCode toe)
{
	char ts[CO_RFC3339_LEN + 1];
	co_rfc3339_format(co_clock_now_us(), ts);
	co_buf b;
	co_buf_init(&b);
	co_buf_puts(&b, "{\"ts\":\"");
	co_buf_puts(&b, ts);
	co_buf_puts(&b, "\",\"request_id\":");
	co_buf_json_cstr(&b, r->request_id);
	co_buf_puts(&b, ",\"method\":");
	co_buf_json_cstr(&b, r->method);
	co_buf_puts(&b, ",\"path\":");
	co_buf_json_cstr(&b, r->path);
	co_buf_puts(&b, ",\"route\":");
	co_buf_json_cstr(&b, r->route ? r->route->pattern : NULL);
	co_buf_printf(&b, ",\"status\":%u,\"duration_us\":%lld%s}\n", r->status,
		      (long long)(co_clock_mono_us() - r->t_start),
		      toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : ",\"aborted\":true");
	(void)srv;
	if (co_buf_ok(&b)) {
		ssize_t w = write(STDERR_FILENO, b.data, b.len); /* one write: lines never interleave */
		(void)w;
	}
	co_buf_free(&b);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)conn;
	co_server *srv = cls;
	co_http_req *r = *con_cls;
	if (!r)
		return;
	*con_cls = NULL;
	/* The reply is sent (or the connection is closing): a kept-alive connection now
	 * waits for its next request (note H3). */
	deadline_on(srv, r->track, DL_REPLIED);
	if (srv->request_log)
		log_request(srv, r, toe);
	json_decref(r->json);
	if (r->body && r->route && (r->route->flags & CO_ROUTE_SECRET_BODY))
		sodium_memzero(r->body, r->body_cap); /* it carried a secret's value */
	free(r->body);
	free(r->path);
	free(r->decoded);
	free(r->audit_detail);
	co_buf_free(&r->allow);
	free(r->resp);
	for (int i = 0; i < r->nhdr; i++) {
		free(r->hdr_name[i]);
		free(r->hdr_value[i]);
	}
	free(r);
	atomic_fetch_sub(&srv->active, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = 0;
	co_buf b;
	co_buf_init(&b);
	co_buf_puts(&b, "{\"level\":\"warn\",\"source\":\"libmicrohttpd\",\"msg\":");
	co_buf_json_cstr(&b, msg);
	co_buf_puts(&b, "}\n");
	if (co_buf_ok(&b)) {
		ssize_t w = write(STDERR_FILENO, b.data, b.len);
		(void)w;
	}
	co_buf_free(&b);
}

/* ------------------------------------------------------------------------------------ */
/* Start and stop                                                                       */
/* ------------------------------------------------------------------------------------ */

/* Parses "HOST:PORT" or "[V6]:PORT" into a socket address. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, bool *v6)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	if (!colon || colon == listen)
		return co_err_set(CO_EINVAL, "--listen wants HOST:PORT, got '%s'", listen);
	size_t hl = (size_t)(colon - listen);
	if (listen[0] == '[' && colon[-1] == ']') {
		listen++;
		hl -= 2;
	}
	if (hl >= sizeof host)
		return co_err_set(CO_EINVAL, "--listen host is too long");
	memcpy(host, listen, hl);
	host[hl] = 0;
	int64_t port;
	if (co_parse_i64(colon + 1, 0, 65535, &port))
		return co_err_set(CO_EINVAL, "--listen port must be 0..65535, got '%s'", colon + 1);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
	int rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0)
		return co_err_set(CO_EINVAL, "--listen host '%s': %s", host, gai_strerror(rc));
	memset(ss, 0, sizeof *ss);
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*v6 = res->ai_family == AF_INET6;
	freeaddrinfo(res);
	if (*v6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	return CO_OK;
}

/* Is the address a loopback one (127.0.0.0/8, ::1, or ::ffff:127.x.y.z)? */
static bool is_loopback(const struct sockaddr_storage *ss, bool v6)
{
	if (!v6)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	return IN6_IS_ADDR_LOOPBACK(a) ||
	       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

static void workers_stop(co_server *srv)
{
	pthread_mutex_lock(&srv->qmu);
	srv->qstopping = true;
	pthread_cond_broadcast(&srv->qcv);
	pthread_mutex_unlock(&srv->qmu);
	for (int i = 0; i < srv->nworkers; i++)
		pthread_join(srv->workers[i], NULL);
	srv->nworkers = 0;
}

static void server_free(co_server *srv)
{
	workers_stop(srv); /* sets qstopping: no new worker job or task from here on */
	/* Tasks still in the store's executor will resume their connections: MHD must
	 * outlive them. They finish within a commit, so this wait is short. */
	while (atomic_load(&srv->tasks) > 0) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	if (srv->mhd)
		MHD_stop_daemon(srv->mhd); /* every connection is CLOSED: conns is empty */
	reaper_end(srv);
	free(srv->workers);
	free(srv->routes);
	co_ratelimit_free(srv->ratelimit);
	pthread_mutex_destroy(&srv->qmu);
	pthread_cond_destroy(&srv->qcv);
	pthread_mutex_destroy(&srv->cmu);
	pthread_cond_destroy(&srv->ccv);
	free(srv);
}

int co_server_start(const co_server_config *cfg, co_server **out)
{
	*out = NULL;
	co_server *srv = calloc(1, sizeof *srv);
	if (!srv)
		return co_err_set(CO_ENOMEM, "out of memory");
	srv->store = cfg->store;
	srv->request_log = cfg->request_log;
	srv->auth_off = cfg->auth_off;
	snprintf(srv->admin_hash, sizeof srv->admin_hash, "%s",
		 cfg->admin_hash_hex ? cfg->admin_hash_hex : "");
	pthread_mutex_init(&srv->qmu, NULL);
	pthread_cond_init(&srv->qcv, NULL);
	/* hostile clients (notes H1-H3); 0 means the default */
	srv->request_timeout_us =
		(cfg->request_timeout_s > 0 ? cfg->request_timeout_s : 30) * 1000000LL;
	srv->idle_timeout_us = (cfg->idle_timeout_s > 0 ? cfg->idle_timeout_s : 60) * 1000000LL;
	srv->max_header_bytes = cfg->max_header_bytes ? cfg->max_header_bytes : 16384;
	srv->max_url_bytes = cfg->max_url_bytes ? cfg->max_url_bytes : 8192;
	pthread_mutex_init(&srv->cmu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the reaper's tick */
	pthread_cond_init(&srv->ccv, &ca);
	pthread_condattr_destroy(&ca);
	int rc = compile_routes(srv, cfg->routes);
	if (rc == CO_OK && !cfg->auth_off && strlen(srv->admin_hash) != CO_TOKEN_HASH_HEX)
		rc = co_err_set(CO_EINVAL, "no admin token hash: auth needs one (or --dev)");
	if (rc == CO_OK && cfg->rate_limit > 0 &&
	    !(srv->ratelimit = co_ratelimit_new(cfg->rate_limit, cfg->rate_burst > 0
								      ? cfg->rate_burst
								      : 2.0 * cfg->rate_limit)))
		rc = co_err_set(CO_ENOMEM, "out of memory");
	struct sockaddr_storage ss;
	bool v6 = false;
	if (rc == CO_OK)
		rc = parse_listen(cfg->listen, &ss, &v6);
	if (rc == CO_OK && cfg->auth_off && !is_loopback(&ss, v6))
		rc = co_err_set(CO_EINVAL,
				"--dev turns auth off, so it listens on loopback only, not on %s",
				cfg->listen);
	int nworkers = cfg->workers > 0 ? cfg->workers : 64;
	if (rc == CO_OK && !(srv->workers = calloc((size_t)nworkers, sizeof *srv->workers)))
		rc = co_err_set(CO_ENOMEM, "out of memory");
	for (int i = 0; rc == CO_OK && i < nworkers; i++) {
		if (pthread_create(&srv->workers[i], NULL, worker_main, srv) != 0)
			rc = co_err_set(CO_EINTERNAL, "cannot start worker threads");
		else
			srv->nworkers++;
	}
	if (rc == CO_OK) {
		if (pthread_create(&srv->reaper, NULL, reaper_main, srv) != 0)
			rc = co_err_set(CO_EINTERNAL, "cannot start the connection reaper");
		else
			srv->reaper_running = true;
	}
	if (rc) {
		server_free(srv);
		return rc;
	}
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned threads = cfg->event_threads > 0 ? (unsigned)cfg->event_threads
						  : (unsigned)(cores > 0 ? cores : 1);
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
			 (v6 ? MHD_USE_IPv6 : 0);
	srv->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, on_access, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(srv->idle_timeout_us / 1000000),
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool_size(srv),
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096, MHD_OPTION_END);
	if (!srv->mhd) {
		server_free(srv);
		return co_err_set(CO_EUNAVAIL, "cannot listen on %s (address in use or not local?)",
				  cfg->listen);
	}
	if (cfg->port_file) {
		char tmp[4096];
		snprintf(tmp, sizeof tmp, "%s.tmp", cfg->port_file);
		FILE *f = fopen(tmp, "w");
		if (!f || fprintf(f, "%u\n", co_server_port(srv)) < 0 || fclose(f) != 0 ||
		    rename(tmp, cfg->port_file) != 0) {
			server_free(srv);
			return co_err_set(CO_EINVAL, "cannot write --port-file %s", cfg->port_file);
		}
	}
	*out = srv;
	return CO_OK;
}

unsigned co_server_port(const co_server *srv)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
	return info ? info->port : 0;
}

void co_server_stop(co_server *srv, int grace_ms)
{
	if (!srv)
		return;
	/* Stop accepting; from now on every reply says Connection: close, so keep-alive
	 * clients finish the request they sent and go, and `active` drains to 0. Only then
	 * are the workers and MHD stopped, so no resumed reply is cut off unsent. */
	atomic_store(&srv->draining, true);
	MHD_socket lsock = MHD_quiesce_daemon(srv->mhd);
	if (lsock != MHD_INVALID_SOCKET)
		close(lsock);
	for (int waited = 0; atomic_load(&srv->active) > 0 && waited < grace_ms; waited += 5) {
		struct timespec ts = {0, 5 * 1000000};
		nanosleep(&ts, NULL);
	}
	server_free(srv); /* workers finish what is queued, then MHD closes connections */
}
