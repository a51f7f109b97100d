/*
 * benchkit.c — the helpers colonyd's load benchmarks (bench/bench_memory.c,
 * bench/bench_inbox.c) share, one copy for both (declared in benchkit.h): monotonic time
 * and sleeps, allocation that exits on failure, a per-thread PRNG, a log-linear latency
 * histogram, a tiny JSON member scanner, our own keep-alive HTTP/1.1 client and the
 * colonyd process a benchmark starts for itself. What a benchmark measures and checks is
 * described in each program's header; this file holds only the shared mechanics.
 *
 * DESIGN NOTES
 *  1. The client is our own minimal HTTP/1.1 client on blocking POSIX sockets (no
 *     libcurl). A benchmark gives each client thread one keep-alive TCP connection (a
 *     conn) to its URL (TCP_NODELAY, a 15 s send/receive timeout so a stalled server
 *     shows up as an error, not a hang).
 *     A request is written whole; the reply is read until the CRLF CRLF that ends the
 *     headers, the status line and Content-Length / Connection / Transfer-Encoding are
 *     parsed, and exactly Content-Length body bytes are read (partial reads are
 *     normal). 1xx interim replies are skipped; a reply without Content-Length is read
 *     to EOF; chunked replies are refused (colonyd never sends them). "Connection:
 *     close" (or HTTP/1.0 without keep-alive) closes the socket after the reply and the
 *     next request reconnects. No pipelining: one request in flight per connection;
 *     bytes the server sends beyond a reply are an error.
 *     If a reused connection is found closed before any reply byte arrives, a GET is
 *     re-sent once on a new connection (the usual keep-alive race); a POST (or any
 *     other method) is never re-sent, because it may have been applied — the caller
 *     counts it as an error.
 *     Every request carries "Authorization: Bearer <bench_token()>" (SPEC §10): the
 *     admin token the bench gives the colonyd it starts, or $COLONY_TOKEN for --url.
 *  2. Reply bodies are parsed with a tiny top-level JSON member scanner (it skips nested
 *     values and strings properly, so a "version" inside a value is never mistaken for
 *     the entry's version); it is cheaper than building a jansson tree per request,
 *     which matters because the client shares the machine with the server.
 *  3. Latency samples go to a per-thread log-linear histogram in nanoseconds (128 exact
 *     1 ns buckets, then 128 sub-buckets per power of two: bucket midpoints are within
 *     0.4% of any value in them; 2^41 ns ≈ 36 min and beyond land in the top bucket),
 *     merged by the caller after the run. Quantiles use the nearest-rank definition.
 *  4. The server we start gets a fresh temp directory ($TMPDIR, else /tmp), listens on
 *     127.0.0.1:0 and reports its port through --port-file; its database is a fresh
 *     SQLite file in the directory unless the caller names one. It runs in its own
 *     process group (a terminal ^C reaches only the bench, which then stops it
 *     properly) with PR_SET_PDEATHSIG so it dies with us even if we are killed. Its
 *     stdout/stderr go to a log file in the temp directory; any line of it that is not
 *     an info line is copied to our stderr at the end (all of it when something went
 *     wrong). It is stopped with SIGTERM and must exit 0 within 20 s (else SIGKILL and
 *     failure). If it exits on its own, server_alive() reports it once; what to do then
 *     is the caller's business.
 */
#include "benchkit.h"

#include "../src/core/validate.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define IO_TIMEOUT_S 15             /* per send/recv/connect on a client socket */
#define MAX_HEADER_BYTES (64 << 10) /* a reply whose headers exceed this is an error */
#define MAX_BODY_BYTES (64 << 20)   /* likewise for a body */
#define SERVER_START_TIMEOUT_MS 15000
#define SERVER_STOP_TIMEOUT_MS 20000
#define SERVER_MAX_EXTRA_ARGS 32
/* ------------------------------------------------------------------------------------ */
/* Small utilities                                                                      */
/* ------------------------------------------------------------------------------------ */

/* Monotonic time in nanoseconds. */
uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleeps ms milliseconds (restarting after signals). */
void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/* Makes *buf hold at least `need` bytes (growing by doubling). Exits on out-of-memory:
 * a benchmark that cannot allocate a few KiB has nothing useful left to measure. */
void ensure_cap(char **buf, size_t *cap, size_t need)
{
	if (*cap >= need)
		return;
	size_t c = *cap ? *cap : 1024;
	while (c < need)
		c *= 2;
	char *p = realloc(*buf, c);
	if (!p) {
		fprintf(stderr, "bench: out of memory\n");
		exit(1);
	}
	*buf = p;
	*cap = c;
}

/* calloc that exits on failure (see ensure_cap). */
void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p) {
		fprintf(stderr, "bench: out of memory\n");
		exit(1);
	}
	return p;
}

/* realloc that exits on failure (see ensure_cap). */
void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) {
		fprintf(stderr, "bench: out of memory\n");
		exit(1);
	}
	return q;
}

/* xorshift64* — a per-thread PRNG; the state must be non-zero. */
uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform-enough integer in [0, n) for n < 2^32 (multiply-shift, no modulo). */
unsigned rng_below(uint64_t *s, unsigned n)
{
	return (unsigned)(((rng_next(s) >> 32) * (uint64_t)n) >> 32);
}

/* A well-mixed non-zero seed from x (splitmix64 finaliser). */
uint64_t seed_mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	x ^= x >> 31;
	return x ? x : 1;
}

/* Blocks SIGINT/SIGTERM in the calling thread and every thread it creates later (the
 * caller takes them with wait_signal) and ignores SIGPIPE. */
void block_signals(void)
{
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Waits up to `ms` for SIGINT/SIGTERM (blocked in every thread). True if one came. */
bool wait_signal(long ms)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	int sig = sigtimedwait(&set, NULL, &ts);
	if (sig > 0) {
		fprintf(stderr, "bench: %s: stopping early\n", strsignal(sig));
		return true;
	}
	return false;
}

/* ------------------------------------------------------------------------------------ */
/* Latency histogram (log-linear, nanoseconds)                                          */
/* ------------------------------------------------------------------------------------ */

/* The bucket holding v ns. */
size_t h_index(uint64_t v)
{
	if (v < H_SUB)
		return (size_t)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* v in [2^e, 2^(e+1)) */
	if (e > H_MAX_EXP)
		return H_BUCKETS - 1;
	return H_SUB + (size_t)(e - H_SUB_BITS) * H_SUB + (size_t)((v >> (e - H_SUB_BITS)) - H_SUB);
}

/* The value (ns) a bucket stands for: its midpoint, or the value itself when exact. */
double h_value(size_t i)
{
	if (i < H_SUB)
		return (double)i;
	size_t j = i - H_SUB;
	unsigned shift = (unsigned)(j / H_SUB);
	uint64_t mant = (uint64_t)(j % H_SUB) + H_SUB;
	double lo = (double)(mant << shift), width = (double)(1ULL << shift);
	return lo + (width - 1) / 2;
}

/* The number of samples in a histogram. */
uint64_t h_total(const uint64_t *h)
{
	uint64_t total = 0;
	for (size_t i = 0; i < H_BUCKETS; i++)
		total += h[i];
	return total;
}

/* The q-quantile (0 < q ≤ 1) of a merged histogram of `total` samples, in µs; 0 when
 * empty. Uses the nearest-rank definition: the smallest value with ≥ q·total below. */
double h_quantile_us(const uint64_t *h, uint64_t total, double q)
{
	if (total == 0)
		return 0;
	uint64_t rank = (uint64_t)ceil(q * (double)total);
	if (rank < 1)
		rank = 1;
	uint64_t cum = 0;
	for (size_t i = 0; i < H_BUCKETS; i++) {
		cum += h[i];
		if (cum >= rank)
			return h_value(i) / 1000.0;
	}
	return h_value(H_BUCKETS - 1) / 1000.0;
}

/* ------------------------------------------------------------------------------------ */
/* Minimal JSON reading: top-level members of an object, by string search              */
/* ------------------------------------------------------------------------------------ */

const char *j_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* p points at '"': returns just past the closing quote, or NULL if unterminated. */
const char *j_string_end(const char *p)
{
	for (p++; *p; p++) {
		if (*p == '\\') {
			if (!*++p)
				return NULL;
		} else if (*p == '"') {
			return p + 1;
		}
	}
	return NULL;
}

/* Returns the end of the JSON value starting at p, or NULL if it is cut short. Only
 * strings and bracket nesting are checked: this finds values, it does not validate. */
const char *j_value_end(const char *p)
{
	if (*p == '"')
		return j_string_end(p);
	if (*p == '{' || *p == '[') {
		int depth = 0;
		while (*p) {
			if (*p == '"') {
				if (!(p = j_string_end(p)))
					return NULL;
				continue;
			}
			if (*p == '{' || *p == '[')
				depth++;
			else if ((*p == '}' || *p == ']') && --depth == 0)
				return p + 1;
			p++;
		}
		return NULL;
	}
	const char *s = p;
	while (*p && !strchr(",}] \t\r\n", *p))
		p++;
	return p > s ? p : NULL;
}

/* Finds the member `name` (a plain name needing no escapes) of the JSON object at obj.
 * Nested objects are skipped, so only top-level members match. On success *val points
 * at the member's value text, *len is its length, and true is returned. The text at obj
 * must be NUL-terminated somewhere at or after the object's end. */
bool j_member(const char *obj, const char *name, const char **val, size_t *len)
{
	size_t nlen = strlen(name);
	const char *p = j_ws(obj);
	if (*p != '{')
		return false;
	p = j_ws(p + 1);
	if (*p == '}')
		return false;
	for (;;) {
		if (*p != '"')
			return false;
		const char *kend = j_string_end(p);
		if (!kend)
			return false;
		bool match = (size_t)(kend - p) == nlen + 2 && !memcmp(p + 1, name, nlen);
		p = j_ws(kend);
		if (*p != ':')
			return false;
		p = j_ws(p + 1);
		const char *vend = j_value_end(p);
		if (!vend)
			return false;
		if (match) {
			*val = p;
			*len = (size_t)(vend - p);
			return true;
		}
		p = j_ws(vend);
		if (*p != ',')
			return false;
		p = j_ws(p + 1);
	}
}

/* Reads member `name` of obj as a JSON integer (no fraction or exponent). */
bool j_int(const char *obj, const char *name, int64_t *out)
{
	const char *v;
	size_t n;
	char tmp[32];
	if (!j_member(obj, name, &v, &n) || n == 0 || n >= sizeof tmp)
		return false;
	memcpy(tmp, v, n);
	tmp[n] = 0;
	return co_parse_i64(tmp, INT64_MIN, INT64_MAX, out) == 0;
}

/* True if member `name` of obj is exactly the JSON string "want" (want needs no escapes). */
bool j_str_is(const char *obj, const char *name, const char *want)
{
	const char *v;
	size_t n, wl = strlen(want);
	return j_member(obj, name, &v, &n) && n == wl + 2 && v[0] == '"' && !memcmp(v + 1, want, wl);
}

/* ------------------------------------------------------------------------------------ */
/* The HTTP/1.1 client                                                                  */
/* ------------------------------------------------------------------------------------ */

void conn_init(conn *c, const target *t)
{
	memset(c, 0, sizeof *c);
	c->t = t;
	c->fd = -1;
}

void conn_close(conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->in_len = c->consumed = 0;
	c->served = 0;
}

void conn_free(conn *c)
{
	conn_close(c);
	free(c->in);
	free(c->out);
	free(c->body);
	memset(c, 0, sizeof *c);
	c->fd = -1;
}

__attribute__((format(printf, 2, 3))) static int conn_fail(conn *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
	return -1;
}

/* Opens a new socket to the target. Returns 0, or -1 with c->err set. */
static int conn_open(conn *c)
{
	conn_close(c);
	int fd = socket(c->t->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return conn_fail(c, "socket: %s", strerror(errno));
	int one = 1;
	struct timeval tv = {IO_TIMEOUT_S, 0};
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
		int e = errno;
		close(fd);
		return conn_fail(c, "setsockopt: %s", strerror(e));
	}
	int rc;
	while ((rc = connect(fd, (const struct sockaddr *)&c->t->addr, c->t->addrlen)) != 0 &&
	       errno == EINTR) {
	}
	if (rc != 0) {
		int e = errno;
		close(fd);
		return conn_fail(c, "connect %s: %s", c->t->host,
				 e == EINPROGRESS || e == EAGAIN ? "timed out" : strerror(e));
	}
	c->fd = fd;
	c->connects++;
	return 0;
}

/* Writes all n bytes. Returns 0, or -1 with c->err (and c->stale on reset/EPIPE). */
static int send_all(conn *c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			c->stale = errno == EPIPE || errno == ECONNRESET;
			return conn_fail(c, "send: %s",
					 errno == EAGAIN || errno == EWOULDBLOCK ? "timed out"
										  : strerror(errno));
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Receives more bytes into c->in. Returns the count (> 0), 0 on EOF, -1 on error with
 * c->err set (and c->stale when the peer reset the connection). */
static ssize_t recv_more(conn *c)
{
	ensure_cap(&c->in, &c->in_cap, c->in_len + 4096);
	for (;;) {
		ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
		if (n >= 0) {
			c->in_len += (size_t)n;
			return n;
		}
		if (errno == EINTR)
			continue;
		c->stale = errno == ECONNRESET;
		return conn_fail(c, "recv: %s",
				 errno == EAGAIN || errno == EWOULDBLOCK ? "timed out (stall)"
									  : strerror(errno));
	}
}

/* Case-insensitive: does the comma-separated header value v[0..n) hold `token`? */
static bool header_has_token(const char *v, size_t n, const char *token)
{
	size_t tl = strlen(token);
	const char *end = v + n;
	while (v < end) {
		while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
			v++;
		const char *s = v;
		while (v < end && *v != ',')
			v++;
		const char *e = v;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - s) == tl && !strncasecmp(s, token, tl))
			return true;
	}
	return false;
}

/* Reads one complete reply (skipping 1xx interim replies) from the connected socket.
 * Returns 0 with *r filled, or -1 with c->err set; c->stale says the connection was
 * found closed before any byte of a reply arrived. Closes the socket after the reply
 * when the server asked for it. */
static int read_reply(conn *c, http_resp *r)
{
	bool got_any = false;
	for (;;) {
		/* 1. Headers: everything up to and including CRLF CRLF. */
		size_t hdr_end = 0, search = 0;
		for (;;) {
			if (c->in_len >= 4) {
				const char *p = memmem(c->in + search, c->in_len - search, "\r\n\r\n", 4);
				if (p) {
					hdr_end = (size_t)(p - c->in) + 4;
					break;
				}
				search = c->in_len - 3;
			}
			if (c->in_len > MAX_HEADER_BYTES)
				return conn_fail(c, "reply headers exceed %d bytes", MAX_HEADER_BYTES);
			ssize_t n = recv_more(c);
			if (n < 0) {
				c->stale = c->stale && !got_any;
				return -1;
			}
			if (n == 0) {
				c->stale = !got_any && c->in_len == 0;
				return conn_fail(c, "connection closed by the server %s",
						 c->in_len ? "inside a reply's headers" : "before a reply");
			}
			got_any = true;
		}
		got_any = true;

		/* 2. Status line: HTTP/1.x SSS[ reason]. */
		const char *h = c->in;
		if (hdr_end < 16 || memcmp(h, "HTTP/1.", 7) != 0 || h[7] < '0' || h[7] > '9' ||
		    h[8] != ' ' || h[9] < '1' || h[9] > '5' || h[10] < '0' || h[10] > '9' ||
		    h[11] < '0' || h[11] > '9' || (h[12] != ' ' && h[12] != '\r'))
			return conn_fail(c, "malformed status line '%.40s'", h);
		int status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
		bool keep_alive = h[7] >= '1'; /* HTTP/1.1 default; 1.0 needs keep-alive */

		/* 3. Header fields we care about. Lines end in CRLF; `end` is the blank line. */
		const char *end = c->in + hdr_end - 2;
		const char *line = memchr(h, '\n', hdr_end);
		line = line ? line + 1 : end;
		long long clen = -1;
		bool chunked = false;
		while (line < end) {
			const char *eol = memmem(line, (size_t)(end - line) + 2, "\r\n", 2);
			if (!eol)
				return conn_fail(c, "malformed reply header line");
			const char *colon = memchr(line, ':', (size_t)(eol - line));
			if (!colon)
				return conn_fail(c, "reply header line without ':': '%.40s'", line);
			size_t nlen = (size_t)(colon - line);
			const char *v = colon + 1, *ve = eol;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			size_t vlen = (size_t)(ve - v);
			if (nlen == 14 && !strncasecmp(line, "content-length", 14)) {
				long long n = 0;
				if (vlen == 0 || vlen > 18)
					return conn_fail(c, "bad Content-Length '%.*s'", (int)vlen, v);
				for (size_t i = 0; i < vlen; i++) {
					if (v[i] < '0' || v[i] > '9')
						return conn_fail(c, "bad Content-Length '%.*s'", (int)vlen, v);
					n = n * 10 + (v[i] - '0');
				}
				if (clen >= 0 && clen != n)
					return conn_fail(c, "conflicting Content-Length headers");
				clen = n;
			} else if (nlen == 10 && !strncasecmp(line, "connection", 10)) {
				if (header_has_token(v, vlen, "close"))
					keep_alive = false;
				else if (header_has_token(v, vlen, "keep-alive"))
					keep_alive = true;
			} else if (nlen == 17 && !strncasecmp(line, "transfer-encoding", 17)) {
				if (!(vlen == 8 && !strncasecmp(v, "identity", 8)))
					chunked = true;
			}
			line = eol + 2;
		}

		/* 4. Interim replies carry no body: drop them and read the real one. */
		if (status < 200) {
			memmove(c->in, c->in + hdr_end, c->in_len - hdr_end);
			c->in_len -= hdr_end;
			continue;
		}
		if (chunked)
			return conn_fail(c, "chunked reply (not supported by this client)");

		/* 5. Body framing: Content-Length, none for 204/304, else to EOF. */
		size_t blen;
		if (status == 204 || status == 304) {
			blen = 0;
		} else if (clen >= 0) {
			if (clen > MAX_BODY_BYTES)
				return conn_fail(c, "reply body of %lld bytes is too large", clen);
			blen = (size_t)clen;
			while (c->in_len - hdr_end < blen) {
				ssize_t n = recv_more(c);
				if (n <= 0) {
					c->stale = false;
					if (n == 0)
						conn_fail(c, "connection closed inside a reply body (%zu of %zu bytes)",
							  c->in_len - hdr_end, blen);
					return -1;
				}
			}
		} else {
			keep_alive = false;
			ssize_t n;
			while ((n = recv_more(c)) > 0) {
				if (c->in_len - hdr_end > MAX_BODY_BYTES)
					return conn_fail(c, "reply body too large");
			}
			if (n < 0) {
				c->stale = false;
				return -1;
			}
			blen = c->in_len - hdr_end;
		}

		/* 6. Hand out a NUL-terminated copy of the body. */
		ensure_cap(&c->body, &c->body_cap, blen + 1);
		memcpy(c->body, c->in + hdr_end, blen);
		c->body[blen] = 0;
		c->consumed = hdr_end + blen;
		c->served++;
		r->status = status;
		r->body = c->body;
		r->body_len = blen;
		if (!keep_alive)
			conn_close(c);
		return 0;
	}
}

/* Sends one request and reads its reply, connecting first if needed. body may be NULL
 * (no body); a body is sent as application/json. Returns 0 with *r filled (any HTTP
 * status), or -1 on a transport failure with c->err set and the socket closed. A GET on
 * a reused connection found closed before any reply byte is re-sent once on a new one.
 * *reconnected (if not NULL) is set when a new connection had to be opened. */
static char token_override[128];

const char *bench_token(void)
{
	if (token_override[0])
		return token_override;
	const char *t = getenv("COLONY_TOKEN");
	return t && *t ? t : "colony-bench-admin-token-0123456789abcdef";
}

void bench_set_token(const char *token)
{
	snprintf(token_override, sizeof token_override, "%s", token);
}

int http_request(conn *c, const char *method, const char *path, const char *body,
			size_t blen, http_resp *r, bool *reconnected)
{
	bool dummy;
	if (!reconnected)
		reconnected = &dummy;
	*reconnected = false;
	const char *token = bench_token();
	ensure_cap(&c->out, &c->out_cap,
		   strlen(path) + strlen(c->t->host) + strlen(token) + blen + 320);
	int n;
	if (body)
		n = snprintf(c->out, c->out_cap,
			     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: colony-bench\r\n"
			     "Authorization: Bearer %s\r\n"
			     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
			     method, path, c->t->host, token, blen);
	else
		n = snprintf(c->out, c->out_cap,
			     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: colony-bench\r\n"
			     "Authorization: Bearer %s\r\n\r\n",
			     method, path, c->t->host, token);
	if (n < 0 || (size_t)n + blen >= c->out_cap)
		return conn_fail(c, "request too large");
	if (body)
		memcpy(c->out + n, body, blen);
	size_t len = (size_t)n + blen;

	for (int attempt = 0;; attempt++) {
		if (c->fd >= 0) {
			if (c->in_len > c->consumed) { /* bytes nobody asked for: unsafe to reuse */
				conn_close(c);
				return conn_fail(c, "server sent %zu unsolicited bytes after a reply",
						 c->in_len - c->consumed);
			}
			c->in_len = c->consumed = 0;
		}
		if (c->fd < 0) {
			if (conn_open(c) != 0)
				return -1;
			if (c->connects > 1)
				*reconnected = true;
		}
		bool reused = c->served > 0;
		c->stale = false;
		if (send_all(c, c->out, len) == 0 && read_reply(c, r) == 0)
			return 0;
		bool retry = attempt == 0 && reused && c->stale && !strcmp(method, "GET");
		conn_close(c);
		if (!retry)
			return -1;
	}
}

/* Parses "http://HOST:PORT[/]" (HOST may be [v6]) into *t. Returns 0 or -1 (message
 * printed). */
int parse_url(const char *url, target *t)
{
	if (strncmp(url, "http://", 7) != 0) {
		fprintf(stderr, "bench: --url must start with http:// (got '%s')\n", url);
		return -1;
	}
	const char *p = url + 7, *hs, *he;
	if (*p == '[') {
		hs = p + 1;
		he = strchr(hs, ']');
		if (!he) {
			fprintf(stderr, "bench: --url: unterminated [ in '%s'\n", url);
			return -1;
		}
		p = he + 1;
	} else {
		hs = p;
		p += strcspn(p, ":/");
		he = p;
	}
	char host[256], port[16] = "80";
	if (he == hs || (size_t)(he - hs) >= sizeof host) {
		fprintf(stderr, "bench: --url: bad host in '%s'\n", url);
		return -1;
	}
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = 0;
	if (*p == ':') {
		size_t pl = strspn(p + 1, "0123456789");
		if (pl == 0 || pl >= sizeof port) {
			fprintf(stderr, "bench: --url: bad port in '%s'\n", url);
			return -1;
		}
		memcpy(port, p + 1, pl);
		port[pl] = 0;
		p += 1 + pl;
	}
	if (*p && strcmp(p, "/") != 0) {
		fprintf(stderr, "bench: --url takes no path (got '%s')\n", p);
		return -1;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "bench: --url: cannot resolve '%s': %s\n", host, gai_strerror(rc));
		return -1;
	}
	memset(t, 0, sizeof *t);
	memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
	t->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	snprintf(t->host, sizeof t->host, "%.*s", (int)(p - (url + 7)), url + 7);
	if (t->host[strlen(t->host) - 1] == '/')
		t->host[strlen(t->host) - 1] = 0;
	return 0;
}

/* Adds the URLs of one --url value (one URL or a comma-separated list) to tg[0..*n),
 * resolving each, and, when desc is not NULL, appends the value to *desc
 * (comma-separated, for a summary line). Returns 0, or -1 with a message printed. */
int add_urls(const char *arg, target **tg, int *n, char **desc)
{
	if (desc) {
		size_t dl = *desc ? strlen(*desc) : 0, al = strlen(arg);
		char *d = xrealloc(*desc, dl + al + 2);
		if (dl)
			d[dl++] = ',';
		memcpy(d + dl, arg, al + 1);
		*desc = d;
	}
	for (const char *p = arg;;) {
		size_t len = strcspn(p, ",");
		if (len == 0) {
			fprintf(stderr, "bench: --url: empty URL in '%s'\n", arg);
			return -1;
		}
		char *one = strndup(p, len);
		if (!one) {
			fprintf(stderr, "bench: out of memory\n");
			exit(1);
		}
		*tg = xrealloc(*tg, ((size_t)*n + 1) * sizeof **tg);
		int rc = parse_url(one, &(*tg)[*n]);
		free(one);
		if (rc != 0)
			return -1;
		(*n)++;
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

/* Fills *t for 127.0.0.1:port (the server we started). */
void target_loopback(target *t, unsigned port)
{
	memset(t, 0, sizeof *t);
	struct sockaddr_in *sin = (struct sockaddr_in *)&t->addr;
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	t->addrlen = sizeof *sin;
	snprintf(t->host, sizeof t->host, "127.0.0.1:%u", port);
}

/* ------------------------------------------------------------------------------------ */
/* The server we start                                                                  */
/* ------------------------------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *where)
{
	(void)sb;
	(void)flag;
	(void)where;
	if (remove(path) != 0)
		fprintf(stderr, "bench: cannot remove %s: %s\n", path, strerror(errno));
	return 0;
}

/* Removes the server's temp directory and everything in it. */
static void server_rmdir(server_proc *s)
{
	if (s->dir[0])
		nftw(s->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	s->dir[0] = 0;
}

/* Copies colonyd's log to our stderr: every line when `all`, else only lines that are
 * not info lines (warnings from the server or libmicrohttpd). Returns the lines copied. */
int server_dump_log(const server_proc *s, bool all)
{
	FILE *f = fopen(s->log, "r");
	if (!f)
		return 0;
	char line[2048];
	int n = 0;
	while (fgets(line, sizeof line, f)) {
		if (!all && strstr(line, "\"level\":\"info\""))
			continue;
		fprintf(stderr, "colonyd: %s", line);
		n++;
	}
	fclose(f);
	return n;
}

/* Step 1 of starting a server: checks that exe is executable and creates its temp
 * directory $TMPDIR/<dir_prefix>-XXXXXX, so that the caller can name files in s->dir
 * among the arguments of step 2. Returns 0, or -1 (message printed, nothing left). */
int server_prepare(server_proc *s, const char *exe, const char *dir_prefix)
{
	memset(s, 0, sizeof *s);
	s->exe = exe;
	if (access(exe, X_OK) != 0) {
		fprintf(stderr, "bench: colonyd '%s' is not executable: %s (build it, or pass --colonyd/--url)\n",
			exe, strerror(errno));
		return -1;
	}
	const char *tmp = getenv("TMPDIR");
	snprintf(s->dir, sizeof s->dir, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", dir_prefix);
	if (!mkdtemp(s->dir)) {
		fprintf(stderr, "bench: mkdtemp %s: %s\n", s->dir, strerror(errno));
		s->dir[0] = 0;
		return -1;
	}
	snprintf(s->log, sizeof s->log, "%s/colonyd.log", s->dir);
	return 0;
}

/* Step 2: starts s->exe on 127.0.0.1:0 with --db db_url (NULL: a fresh SQLite file in
 * s->dir), its port file and log in s->dir, then the NULL-terminated extra_args (may be
 * NULL), and waits for the port file. Returns 0 with s->pid and *port set, or -1
 * (message printed, the process and directory cleaned up). Must be called before any
 * other thread exists. */
int server_start(server_proc *s, const char *db_url, const char *const *extra_args,
		 unsigned *port)
{
	const char *exe = s->exe;
	char db[4200], pf[4200];
	snprintf(db, sizeof db, "%s/colony.db", s->dir);
	snprintf(pf, sizeof pf, "%s/port", s->dir);
	char *argv[8 + SERVER_MAX_EXTRA_ARGS + 1] = {(char *)exe, "--listen", "127.0.0.1:0",
						      "--db", db_url ? (char *)db_url : db,
						      "--port-file", pf, "--no-request-log"};
	size_t argc = 8;
	for (size_t i = 0; extra_args && extra_args[i]; i++) {
		if (i == SERVER_MAX_EXTRA_ARGS) {
			fprintf(stderr, "bench: more than %d extra colonyd arguments\n",
				SERVER_MAX_EXTRA_ARGS);
			server_rmdir(s);
			return -1;
		}
		argv[argc++] = (char *)extra_args[i];
	}
	argv[argc] = NULL;
	int logfd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0) {
		fprintf(stderr, "bench: cannot create %s: %s\n", s->log, strerror(errno));
		server_rmdir(s);
		return -1;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "bench: fork: %s\n", strerror(errno));
		close(logfd);
		server_rmdir(s);
		return -1;
	}
	if (pid == 0) {
		setpgid(0, 0);                   /* a terminal ^C reaches only the bench */
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* and the server dies with us */
		if (getppid() != parent)
			_exit(127);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		setenv("COLONY_ADMIN_TOKEN", bench_token(), 1); /* note 1 */
		if (!getenv("COLONY_SECRETS_KEY")) /* PostgreSQL runs need a key named */
			setenv("COLONY_SECRETS_KEY",
			       "62656e63682d6b65792d30313233343536373839616263646566303132333435", 1);
		dup2(logfd, STDOUT_FILENO);
		dup2(logfd, STDERR_FILENO);
		execv(exe, argv);
		dprintf(STDERR_FILENO, "exec %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	close(logfd);
	s->pid = pid;

	for (int waited = 0; waited < SERVER_START_TIMEOUT_MS; waited += 10) {
		FILE *f = fopen(pf, "r");
		if (f) {
			unsigned p = 0;
			int ok = fscanf(f, "%u", &p);
			fclose(f);
			if (ok == 1 && p > 0 && p < 65536) {
				*port = p;
				return 0;
			}
		}
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			s->pid = 0;
			fprintf(stderr, "bench: colonyd exited during start-up (%s %d); its log:\n",
				WIFEXITED(st) ? "exit code" : "signal",
				WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			server_dump_log(s, true);
			server_rmdir(s);
			return -1;
		}
		sleep_ms(10);
	}
	fprintf(stderr, "bench: colonyd wrote no port file within %d ms; its log:\n",
		SERVER_START_TIMEOUT_MS);
	server_dump_log(s, true);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	s->pid = 0;
	server_rmdir(s);
	return -1;
}

/* True while the server we started is still running. If it has exited on its own, reaps
 * it, says so on stderr (once) and returns false. */
bool server_alive(server_proc *s)
{
	if (s->exited)
		return false;
	if (s->pid <= 0)
		return true;
	int st;
	if (waitpid(s->pid, &st, WNOHANG) != s->pid)
		return true;
	s->exited = true;
	s->status = st;
	s->pid = 0;
	if (WIFSIGNALED(st))
		fprintf(stderr, "bench: colonyd died of signal %d (%s) before the bench stopped it\n",
			WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		fprintf(stderr, "bench: colonyd exited with code %d before the bench stopped it\n",
			WEXITSTATUS(st));
	return false;
}

/* Stops the server with SIGTERM (SIGKILL after SERVER_STOP_TIMEOUT_MS), reaps it, shows
 * its non-info log lines and removes its directory. Returns 0 (s->stop_ms set) if it
 * was still running and then exited with code 0. */
int server_stop(server_proc *s)
{
	int rc = 0;
	if (!server_alive(s)) {
		rc = -1;
		server_dump_log(s, true);
	} else if (s->pid > 0) {
		uint64_t t0 = now_ns();
		kill(s->pid, SIGTERM);
		int st = 0;
		pid_t got = 0;
		for (int waited = 0; waited < SERVER_STOP_TIMEOUT_MS; waited += 5) {
			if ((got = waitpid(s->pid, &st, WNOHANG)) != 0)
				break;
			sleep_ms(5);
		}
		if (got == 0) {
			fprintf(stderr, "bench: colonyd did not stop within %d ms of SIGTERM: killing it\n",
				SERVER_STOP_TIMEOUT_MS);
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &st, 0);
			rc = -1;
		} else if (got < 0) {
			fprintf(stderr, "bench: waitpid: %s\n", strerror(errno));
			rc = -1;
		} else if (WIFSIGNALED(st)) {
			fprintf(stderr, "bench: colonyd died of signal %d (%s)\n", WTERMSIG(st),
				strsignal(WTERMSIG(st)));
			rc = -1;
		} else if (WEXITSTATUS(st) != 0) {
			fprintf(stderr, "bench: colonyd exited with code %d after SIGTERM\n",
				WEXITSTATUS(st));
			rc = -1;
		} else {
			s->stop_ms = (double)(now_ns() - t0) / 1e6;
		}
		s->pid = 0;
		server_dump_log(s, rc != 0);
	}
	server_rmdir(s);
	return rc;
}
