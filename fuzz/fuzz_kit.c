/* fuzz_kit.c — the in-process server, fixtures, client and oracle; see fuzz_kit.h. */
#include "fuzz_kit.h"

#include "../src/api/api.h"
#include "../src/core/auth.h"
#include "../src/core/err.h"
#include "../src/core/secret.h"
#include "../src/core/tz.h"
#include "../src/sched/scheduler.h"
#include "../src/store/store.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_TIMEOUT_MS 30000 /* a response slower than this is a hang: a bug */
#define CHECK_EVERY 1000      /* inputs between unforced fixture checks */
/* A token of the right shape that no workspace has (fz_caller). */
#define UNKNOWN_TOKEN "col_AAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

fz_fixtures fz_fx;

static struct {
	bool started;
	co_store *store;
	co_server *srv;
	unsigned port;
	char dir[256];
	int fd; /* the kept-alive connection, -1 if none */
	unsigned long inputs;
	unsigned long since_check;
	unsigned long generation;
} K = {.fd = -1};

static __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "fuzz_kit: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

/* ---- the client ------------------------------------------------------------------- */

static void conn_close(void)
{
	if (K.fd >= 0)
		close(K.fd);
	K.fd = -1;
}

static void conn_open(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)K.port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
		die("connect to 127.0.0.1:%u: %s", K.port, strerror(errno));
	K.fd = fd;
}

typedef struct {
	char *p;
	size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const void *d, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			die("out of memory");
		b->cap = cap;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static bool send_all(const char *d, size_t n)
{
	while (n) {
		ssize_t w = send(K.fd, d, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		d += w;
		n -= (size_t)w;
	}
	return true;
}

/* Reads more bytes into b. 1: got some; 0: the peer closed; -1: an error; -2: nothing
 * within READ_TIMEOUT_MS. */
static int recv_more(sbuf *b)
{
	struct pollfd p = {.fd = K.fd, .events = POLLIN};
	int rc;
	do
		rc = poll(&p, 1, READ_TIMEOUT_MS);
	while (rc < 0 && errno == EINTR);
	if (rc == 0)
		return -2;
	if (rc < 0)
		return -1;
	char tmp[16384];
	ssize_t n;
	do
		n = recv(K.fd, tmp, sizeof tmp, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if (n == 0)
		return 0;
	sb_add(b, tmp, (size_t)n);
	return 1;
}

/* The value of header `name` in the head (case-insensitive), copied; "" if absent. */
static void head_value(const char *head, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	out[0] = 0;
	for (const char *l = strstr(head, "\r\n"); l; l = strstr(l + 2, "\r\n")) {
		const char *s = l + 2;
		if (!strncasecmp(s, name, nl) && s[nl] == ':') {
			s += nl + 1;
			while (*s == ' ' || *s == '\t')
				s++;
			size_t n = strcspn(s, "\r\n");
			if (n >= cap)
				n = cap - 1;
			memcpy(out, s, n);
			out[n] = 0;
			return;
		}
	}
}

/* Decodes a chunked body from raw[0..n). true with *body when complete. */
static bool dechunk(const char *raw, size_t n, sbuf *body, size_t *used)
{
	size_t i = 0;
	for (;;) {
		const char *eol = memmem(raw + i, n - i, "\r\n", 2);
		if (!eol)
			return false;
		unsigned long sz = strtoul(raw + i, NULL, 16);
		i = (size_t)(eol - raw) + 2;
		if (sz == 0) {
			const char *end = memmem(raw + i, n - i, "\r\n", 2); /* no trailers expected */
			if (!end)
				return false;
			*used = (size_t)(end - raw) + 2;
			return true;
		}
		if (n - i < sz + 2)
			return false;
		sb_add(body, raw + i, sz);
		i += sz + 2;
	}
}

/* One attempt: sends the bytes and reads one response. false (with out->failure) if the
 * connection failed before any response byte arrived on a reused connection (worth one
 * retry: the server may have closed it while idle). */
static bool attempt(const sbuf *req, bool head_only, bool reused, fz_resp *out)
{
	memset(out, 0, sizeof *out);
	if (!send_all(req->p, req->len)) {
		out->failure = "send failed";
		conn_close();
		return !reused;
	}
	sbuf in = {0};
	const char *eoh = NULL;
	int rc;
	while (!(eoh = in.p ? strstr(in.p, "\r\n\r\n") : NULL)) {
		rc = recv_more(&in);
		if (rc <= 0) {
			out->failure = rc == 0 ? "connection closed before the response head"
				       : rc == -2 ? "timeout waiting for the response head"
						  : "recv failed before the response head";
			bool retry = reused && in.len == 0 && rc != -2;
			free(in.p);
			conn_close();
			return !retry;
		}
	}
	size_t hlen = (size_t)(eoh - in.p) + 4;
	out->head = strndup(in.p, hlen);
	if (!out->head)
		die("out of memory");
	int status = 0;
	if (sscanf(in.p, "HTTP/1.%*1[01] %3d", &status) != 1 || status < 100 || status > 599) {
		out->failure = "malformed status line";
		free(in.p);
		conn_close();
		return true;
	}
	char cl[64], te[64], conn[64];
	head_value(out->head, "Content-Length", cl, sizeof cl);
	head_value(out->head, "Transfer-Encoding", te, sizeof te);
	head_value(out->head, "Connection", conn, sizeof conn);
	out->close = strcasestr(conn, "close") != NULL;
	sbuf body = {0};
	bool no_body = head_only || status == 204 || status == 304 || status < 200;
	if (no_body) {
		/* nothing */
	} else if (cl[0]) {
		size_t want = strtoull(cl, NULL, 10);
		while (in.len - hlen < want)
			if (recv_more(&in) <= 0)
				goto cut;
		sb_add(&body, in.p + hlen, want);
	} else if (strcasestr(te, "chunked")) {
		size_t used = 0;
		for (body.len = 0; !dechunk(in.p + hlen, in.len - hlen, &body, &used); body.len = 0)
			if (recv_more(&in) <= 0)
				goto cut;
	} else {
		while ((rc = recv_more(&in)) > 0)
			;
		sb_add(&body, in.p + hlen, in.len - hlen);
		out->close = true;
	}
	if (!body.p)
		sb_add(&body, "", 0);
	out->body = body.p;
	out->body_len = body.len;
	out->status = status;
	free(in.p);
	if (out->close)
		conn_close();
	return true;
cut:
	out->failure = "connection closed or timed out inside the body";
	free(in.p);
	free(body.p);
	conn_close();
	return true;
}

void fz_send(const fz_req *r, fz_resp *out)
{
	sbuf req = {0};
	sb_str(&req, r->method);
	sb_str(&req, " ");
	sb_str(&req, r->target);
	sb_str(&req, " HTTP/1.1\r\nHost: 127.0.0.1\r\n");
	if (r->who != FZ_NO_TOKEN) {
		sb_str(&req, "Authorization: Bearer ");
		sb_str(&req, r->who == FZ_ADMIN ? FZ_ADMIN_TOKEN
			     : fz_fx.token[0]   ? fz_fx.token
						: UNKNOWN_TOKEN);
		sb_str(&req, "\r\n");
	}
	for (const char *const *h = r->headers; h && *h; h++) {
		sb_str(&req, *h);
		sb_str(&req, "\r\n");
	}
	if (r->body) {
		char cl[64];
		snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", r->body_len);
		sb_str(&req, cl);
	}
	sb_str(&req, "\r\n");
	if (r->body)
		sb_add(&req, r->body, r->body_len);
	bool head_only = !strcmp(r->method, "HEAD");
	for (int tries = 0;; tries++) {
		bool reused = K.fd >= 0;
		if (!reused)
			conn_open();
		if (attempt(&req, head_only, reused && tries == 0, out))
			break;
		fz_resp_free(out);
	}
	free(req.p);
}

void fz_resp_free(fz_resp *r)
{
	free(r->head);
	free(r->body);
	memset(r, 0, sizeof *r);
}

bool fz_resp_str(const fz_resp *r, const char *field, char *out, size_t cap)
{
	out[0] = 0;
	json_t *j = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
	const char *s = json_string_value(json_object_get(j, field));
	bool ok = s && strlen(s) < cap;
	if (ok)
		strcpy(out, s);
	json_decref(j);
	return ok;
}

json_t *fz_get(const char *target, int *status)
{
	fz_req q = {.method = "GET", .target = target, .who = FZ_ADMIN};
	fz_resp r;
	fz_send(&q, &r);
	fz_check(&q, &r);
	*status = r.status;
	json_t *j = r.status == 200 ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
	fz_resp_free(&r);
	return j;
}

void fz_escape(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	for (; *s && n + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '~' || c == '-') {
			out[n++] = (char)c;
		} else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n] = 0;
}

/* ---- the oracle ------------------------------------------------------------------- */

static void print_bytes(const char *label, const char *s, size_t n)
{
	fprintf(stderr, "%s (%zu bytes): \"", label, n);
	for (size_t i = 0; i < n && i < 4096; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\\' || c == '"')
			fprintf(stderr, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			fputc(c, stderr);
		else
			fprintf(stderr, "\\x%02x", c);
	}
	fprintf(stderr, "%s\"\n", n > 4096 ? "…" : "");
}

static __attribute__((noreturn)) void breach(const fz_req *q, const fz_resp *r, const char *why)
{
	fz_fail(q, r, "%s", why);
}

void fz_fail(const fz_req *q, const fz_resp *r, const char *fmt, ...)
{
	char why[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n==== FUZZ ORACLE: %s\n", why);
	fprintf(stderr, "request: %s %s (%s)\n", q->method, q->target,
		q->who == FZ_NO_TOKEN ? "no token"
		: q->who == FZ_ADMIN  ? "admin token"
		: fz_fx.token[0]      ? "W's token"
				      : "an unknown workspace-shaped token");
	for (const char *const *h = q->headers; h && *h; h++)
		fprintf(stderr, "  %s\n", *h);
	if (q->body)
		print_bytes("request body", q->body, q->body_len);
	fprintf(stderr, "response status: %d%s%s\n", r->status, r->failure ? ", failure: " : "",
		r->failure ? r->failure : "");
	if (r->head)
		fprintf(stderr, "response head:\n%s", r->head);
	if (r->body)
		print_bytes("response body", r->body, r->body_len);
	fprintf(stderr, "fixtures: root %s ws %s child %s sched %s msg %s\n", fz_fx.root, fz_fx.ws,
		fz_fx.child, fz_fx.sched, fz_fx.msg);
	abort();
}

void fz_check(const fz_req *q, const fz_resp *r)
{
	static int verbose = -1;
	if (verbose < 0)
		verbose = getenv("FUZZ_VERBOSE") && *getenv("FUZZ_VERBOSE") == '1';
	if (verbose)
		fprintf(stderr, "fuzz: %d %s %.200s -> %.200s\n", r->status, q->method, q->target,
			r->body ? r->body : "");
	if (r->status == 0)
		breach(q, r, "no complete HTTP response");
	char rid[128];
	head_value(r->head, "X-Request-Id", rid, sizeof rid);
	bool head_only = !strcmp(q->method, "HEAD");
	json_t *j = NULL;
	if (!head_only && r->status != 204) {
		json_error_t e;
		j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &e);
		if (!j)
			breach(q, r, "the response body is not JSON (or repeats a key)");
		if (r->status >= 300) {
			if (!json_is_string(json_object_get(j, "error")) ||
			    !json_is_string(json_object_get(j, "code")))
				breach(q, r, "an error body without string members error and code");
		}
	} else if (r->status == 204 && r->body_len) {
		breach(q, r, "a 204 with a body");
	}
	if (r->status >= 500)
		breach(q, r, "status >= 500");
	if (!rid[0])
		breach(q, r, "no X-Request-Id header");
	json_decref(j);
}

/* ---- fixtures ---------------------------------------------------------------------- */

/* Sends an admin request, with a JSON body built by printf from fmt (NULL: no body), and
 * puts it through the oracle. */
static void admin_reqv(fz_resp *out, const char *method, const char *target, const char *fmt,
		       va_list ap)
{
	char body[2048];
	if (fmt)
		vsnprintf(body, sizeof body, fmt, ap);
	const char *hdr[] = {"Content-Type: application/json", NULL};
	fz_req q = {.method = method, .target = target, .who = FZ_ADMIN,
		    .headers = fmt ? hdr : NULL, .body = fmt ? body : NULL,
		    .body_len = fmt ? strlen(body) : 0};
	fz_send(&q, out);
	fz_check(&q, out);
}

static __attribute__((format(printf, 4, 5))) void admin_req(fz_resp *out, const char *method,
							    const char *target, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	admin_reqv(out, method, target, fmt, ap);
	va_end(ap);
}

/* An admin request that must answer `want`; the member `field` (if not NULL) of the
 * answer is copied to out. */
static __attribute__((format(printf, 6, 7))) void make(int want, const char *field, char *out,
						       const char *method, const char *target,
						       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fz_resp r;
	admin_reqv(&r, method, target, fmt, ap);
	va_end(ap);
	if (r.status != want)
		die("fixture %s %s: status %d, want %d: %.*s", method, target, r.status, want,
		    (int)r.body_len, r.body);
	if (field && !fz_resp_str(&r, field, out, 40))
		die("fixture %s %s: no %s in the answer", method, target, field);
	fz_resp_free(&r);
}

static void make_schedule(void)
{
	char t[128];
	snprintf(t, sizeof t, "/workspaces/%s/schedules", fz_fx.ws);
	make(201, "id", fz_fx.sched, "POST", t,
	     "{\"name\":\"fuzz-sched-%lu\",\"cron_expr\":\"*/5 * * * *\","
	     "\"timezone\":\"Europe/London\",\"prompt\":\"fuzz prompt\"}",
	     ++K.generation);
}

/* A message of W, claimed: enqueued then claimed (the claim may hand out another queued
 * message first; whichever it hands out is M). No message if the inbox refuses (a
 * fuzzed budget may block it): M stays as it was. */
static void make_message(void)
{
	char t[128];
	fz_resp r;
	snprintf(t, sizeof t, "/workspaces/%s/inbox", fz_fx.ws);
	admin_req(&r, "POST", t, "{\"body\":\"fuzz message\",\"max_attempts\":100}");
	fz_resp_free(&r);
	snprintf(t, sizeof t, "/workspaces/%s/inbox/claim", fz_fx.ws);
	admin_req(&r, "POST", t, "{\"max\":1,\"lease_seconds\":86400}");
	json_t *j = r.status == 200 ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
	const char *id = json_string_value(json_object_get(json_array_get(j, 0), "id"));
	if (id && strlen(id) < sizeof fz_fx.msg)
		strcpy(fz_fx.msg, id);
	json_decref(j);
	fz_resp_free(&r);
}

static void make_token(void)
{
	char t[128];
	fz_resp r;
	snprintf(t, sizeof t, "/workspaces/%s/tokens", fz_fx.ws);
	admin_req(&r, "POST", t, "{}");
	fz_fx.token[0] = fz_fx.token_id[0] = 0;
	if (r.status == 201) {
		json_t *j = json_loadb(r.body, r.body_len, 0, NULL);
		const char *tok = json_string_value(json_object_get(j, "auth_token"));
		const char *id = json_string_value(json_object_get(j, "id"));
		if (tok && id && strlen(tok) < sizeof fz_fx.token && strlen(id) < sizeof fz_fx.token_id) {
			strcpy(fz_fx.token, tok);
			strcpy(fz_fx.token_id, id);
		}
		json_decref(j);
	}
	fz_resp_free(&r);
}

/* The whole tree afresh: new names, so whatever the fuzzer left of the last one stays. */
static void make_fixtures(void)
{
	unsigned long g = ++K.generation;
	char t[128];
	make(201, "id", fz_fx.root, "POST", "/workspaces",
	     "{\"name\":\"fuzz-root-%lu\",\"role\":\"org\"}", g);
	make(201, "id", fz_fx.ws, "POST", "/workspaces",
	     "{\"name\":\"fuzz-ws\",\"parent_id\":\"%s\",\"runtime\":\"claude-code\",\"tier\":2}",
	     fz_fx.root);
	make(201, "id", fz_fx.child, "POST", "/workspaces",
	     "{\"name\":\"fuzz-child\",\"parent_id\":\"%s\"}", fz_fx.ws);
	make_schedule();
	snprintf(t, sizeof t, "/workspaces/%s/memory", fz_fx.ws);
	make(200, NULL, NULL, "POST", t, "{\"key\":\"" FZ_KEY "\",\"value\":{\"a\":[1,2,3]}}");
	snprintf(t, sizeof t, "/workspaces/%s/skills/" FZ_SKILL "/versions", fz_fx.ws);
	make(201, NULL, NULL, "POST", t, "{\"body\":{\"steps\":[\"plan\",\"do\"]}}");
	make_message();
	make_token();
	fz_fx.generation++;
}

/* GET target as admin: the status and, if 200, the string members f1 and f2 (either may
 * be NULL) in o1 and o2 ("" when absent). */
static int probe(const char *target, const char *f1, char *o1, const char *f2, char *o2)
{
	fz_resp r;
	admin_req(&r, "GET", target, NULL);
	int status = r.status;
	if (f1 && (status != 200 || !fz_resp_str(&r, f1, o1, 64)))
		o1[0] = 0;
	if (f2 && (status != 200 || !fz_resp_str(&r, f2, o2, 64)))
		o2[0] = 0;
	fz_resp_free(&r);
	return status;
}

/* The audit log's hash chain must verify whatever the inputs wrote (SPEC §7). */
static void check_audit(void)
{
	int status;
	json_t *j = fz_get("/audit/verify", &status);
	if (status != 200 || !json_is_true(json_object_get(j, "valid"))) {
		char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
		die("FUZZ ORACLE: GET /audit/verify: status %d, %s", status, text ? text : "(no body)");
	}
	json_decref(j);
}

void fz_fixtures_check(bool force)
{
	bool periodic = ++K.since_check >= CHECK_EVERY;
	if (!force && !periodic)
		return;
	if (periodic) {
		K.since_check = 0;
		check_audit();
	}
	char t[256], st[64], parent[64];
	/* The tree: each live, each under the one before. */
	const char *ids[3] = {fz_fx.root, fz_fx.ws, fz_fx.child};
	const char *parents[3] = {"", fz_fx.root, fz_fx.ws};
	for (int i = 0; i < 3; i++) {
		snprintf(t, sizeof t, "/workspaces/%s", ids[i]);
		if (probe(t, "status", st, "parent_id", parent) != 200 || !strcmp(st, "removed") ||
		    strcmp(parent, parents[i])) {
			make_fixtures();
			return;
		}
	}
	snprintf(t, sizeof t, "/workspaces/%s/schedules/%s", fz_fx.ws, fz_fx.sched);
	if (probe(t, NULL, NULL, NULL, NULL) != 200)
		make_schedule();
	snprintf(t, sizeof t, "/workspaces/%s/inbox/%s", fz_fx.ws, fz_fx.msg);
	if (probe(t, "status", st, NULL, NULL) != 200 || strcmp(st, "claimed"))
		make_message();
	if (fz_fx.token[0]) {
		snprintf(t, sizeof t, "/workspaces/%s", fz_fx.ws);
		fz_req q = {.method = "GET", .target = t, .who = FZ_WS_TOKEN};
		fz_resp r;
		fz_send(&q, &r);
		fz_check(&q, &r);
		int status = r.status;
		fz_resp_free(&r);
		if (status == 401)
			make_token();
	}
}

/* ---- start, stop, reset ------------------------------------------------------------- */

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char p[512];
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
			unlink(p);
		}
	closedir(d);
	rmdir(dir);
}

static void server_up(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(K.dir, sizeof K.dir, "%s/colony-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(K.dir))
		die("mkdtemp %s: %s", K.dir, strerror(errno));
	char db[300];
	snprintf(db, sizeof db, "%s/fuzz.db", K.dir);
	if (co_store_open(db, NULL, &K.store))
		die("co_store_open: %s", co_err_msg());
	co_scheduler_config sc = {.store = K.store, .tick = true, .interval_ms = FZ_TICK_MS,
				  .webhook_timeout_ms = 500};
	if (co_scheduler_start(&sc))
		die("co_scheduler_start: %s", co_err_msg());
	static char hash[CO_TOKEN_HASH_HEX + 1];
	co_token_hash_hex(FZ_ADMIN_TOKEN, hash);
	co_server_config cfg = {
		.listen = "127.0.0.1:0",
		.event_threads = 2,
		.workers = 8,
		.request_log = false,
		.routes = co_api_routes,
		.store = K.store,
		.admin_hash_hex = hash,
		/* High enough that the fuzzer is rarely refused, low enough that a burst of
		 * one token's requests reaches the limiter's refusal path now and then. */
		.rate_limit = 2000,
		.rate_burst = 4000,
	};
	if (co_server_start(&cfg, &K.srv))
		die("co_server_start: %s", co_err_msg());
	K.port = co_server_port(K.srv);
	make_fixtures();
}

static void server_down(void)
{
	conn_close();
	if (K.srv)
		co_server_stop(K.srv, 5000);
	K.srv = NULL;
	co_scheduler_stop();
	co_store_close(K.store);
	K.store = NULL;
	remove_dir(K.dir);
}

static void at_exit(void)
{
	fz_stop();
	co_tz_cache_free();
	curl_global_cleanup();
}

void fz_start(void)
{
	if (K.started)
		return;
	K.started = true;
	/* Webhooks (note 4): to a proxy that refuses at once, never to a real host. */
	static const char *const proxies[] = {"http_proxy", "https_proxy", "HTTPS_PROXY",
					       "all_proxy", "ALL_PROXY"};
	for (size_t i = 0; i < sizeof proxies / sizeof proxies[0]; i++)
		setenv(proxies[i], "http://127.0.0.1:9", 1);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	signal(SIGPIPE, SIG_IGN);
	if (co_auth_init())
		die("co_auth_init: %s", co_err_msg());
	unsigned char key[CO_SECRET_KEY_LEN];
	for (size_t i = 0; i < sizeof key; i++)
		key[i] = (unsigned char)(0xa5 ^ i);
	if (co_secret_set_key(key))
		die("co_secret_set_key: %s", co_err_msg());
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		die("curl_global_init failed");
	server_up();
	atexit(at_exit);
}

/* The HTTP harnesses' libFuzzer set-up: the server, once. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_start();
	return 0;
}

void fz_stop(void)
{
	if (!K.started || !K.store)
		return;
	server_down();
}

void fz_tick_input(void)
{
	if (++K.inputs % FZ_RESET_EVERY == 0) {
		check_audit();
		server_down();
		server_up();
	}
}
