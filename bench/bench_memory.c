/*
 * bench_memory.c — load benchmark for colonyd's versioned key/value memory (SPEC §3).
 *
 * It starts a colonyd of its own (fresh SQLite file in a mkdtemp directory, port 0) or
 * targets running ones (--url), creates one workspace, and runs up to five workloads,
 * in this order, each for --duration seconds with --clients concurrent client threads:
 *
 *   rmw_contended  1 key holding a JSON integer counter. Each client loops GET → POST
 *                  value+1 with if_match_version = the version read; a 409 retries from
 *                  the GET, a 200 is one successful increment.
 *   rmw_spread     the same over 10000 keys, each client picking keys at random.
 *   get            GETs of random keys among 10000 seeded keys.
 *   lww_post       last-write-wins POSTs (no precondition) of random keys among 10000.
 *   cas_post       compare-and-set POSTs with no GETs, over the same 10000 keys: client i
 *                  owns the keys k with k % clients == i (so no two clients write one
 *                  key), and POSTs them in turn with if_match_version = the version it
 *                  knows; each 200 must answer that version + 1, which becomes the
 *                  known version. Before the run (not timed) each owned key is created
 *                  with if_match_version:0, or, when that gets a 409 because an earlier
 *                  workload created it, read with a GET to learn its version. Clients
 *                  that own no key (clients > keys) sit the run out.
 *
 * Replicas. --url may be given several times and each value may be a comma-separated
 * list (--url http://127.0.0.1:8081,http://127.0.0.1:8082): the n URLs are colonyd
 * replicas sharing one database, and the load is spread over them. Client thread i
 * sends all its timed requests to URL i % n (its keep-alive connection, and every
 * reconnect, go there). Setup and verification — creating the workspace, seeding,
 * snapshots, cas_post's initial version reads, the final reads — all go to the first
 * URL: the replicas share one database, so they see the same data, and keeping those
 * steps on one server means a replica's bounded read staleness (see note 4) never
 * reaches them through a second server. With one URL (or the server we start) there
 * is a single target and everything uses the clients' own connections, as always.
 *
 * For each workload it prints ONE JSON line on stdout (with "replicas": n, 1 for one
 * server), details on stderr, and at the end one human summary line on stderr.
 *
 * DESIGN NOTES
 *  1. The client is our own minimal HTTP/1.1 client on blocking POSIX sockets (no
 *     libcurl). Each client thread owns one keep-alive TCP connection to its URL
 *     (TCP_NODELAY, a 15 s send/receive timeout so a stalled server shows up as an
 *     error, not a hang).
 *     A request is written whole; the reply is read until the CRLF CRLF that ends the
 *     headers, the status line and Content-Length / Connection / Transfer-Encoding are
 *     parsed, and exactly Content-Length body bytes are read (partial reads are
 *     normal). 1xx interim replies are skipped; a reply without Content-Length is read
 *     to EOF; chunked replies are refused (colonyd never sends them). "Connection:
 *     close" (or HTTP/1.0 without keep-alive) closes the socket after the reply and the
 *     next request reconnects. No pipelining: one request in flight per connection.
 *     If a reused connection is found closed before any reply byte arrives, a GET is
 *     re-sent once on a new connection (the usual keep-alive race); a POST is never
 *     re-sent, because it may have been applied — it counts as an error instead.
 *  2. Reply bodies are parsed with a tiny top-level JSON member scanner (it skips nested
 *     values and strings properly, so a "version" inside a value is never mistaken for
 *     the entry's version); it is cheaper than building a jansson tree per request,
 *     which matters because the client shares the machine with the server.
 *  3. What is measured. The clock starts when all client threads are released at once
 *     and stops when the last one has finished its in-flight request after the
 *     deadline; duration_s is that wall time and ok_per_s = ok / duration_s.
 *       ok         successful writes (rmw: increments that landed; lww_post, cas_post:
 *                  200s), or 200 reads for get;
 *       conflicts  409 version_mismatch replies (expected only for rmw; for cas_post,
 *                  whose keys are owned, one is a failed check);
 *       conflict_rate = conflicts / (ok + conflicts): the share of conditional writes
 *                  that lost their race;
 *       errors     anything else: other statuses (4xx, 5xx, 409 with another code),
 *                  transport failures (refused, reset, timeout, malformed reply),
 *                  unparseable bodies;
 *       p50/p99/p999_us  latency of each single HTTP request (GETs and POSTs alike,
 *                  send start → last body byte, including a reconnect if one was
 *                  needed), over every request that got a reply. Samples go to a
 *                  per-thread log-linear histogram (128 exact 1 ns buckets, then 128
 *                  sub-buckets per power of two: bucket midpoints are within 0.4% of
 *                  any value in them), merged after the run.
 *     Setup (seeding, snapshots, verification) uses the same threads but is not timed;
 *     with one target it uses their connections too, with several each thread whose
 *     run URL is not the first one uses a second connection, to the first URL, opened
 *     for each setup phase and closed at its end (so it never idles out on the server
 *     during a long run).
 *  4. Verification.
 *       rmw_*     every key is seeded with if_match_version:0 value 0 (a 409 there is
 *                 fine), then snapshotted (value, version). Each client adds its
 *                 increments to a per-key atomic counter. Afterwards every key must
 *                 read value = snapshot value + increments and version = snapshot
 *                 version + increments, and every 200 must have answered version =
 *                 the version read + 1.
 *       get       every 200 must carry the key asked for and the seeded value.
 *       lww_post  every key's version must have grown by exactly the number of 200s
 *                 the clients got for it, and a 409 must never happen.
 *       cas_post  every 200 must have answered the known version + 1 and no 409 may
 *                 happen; afterwards every key must read the version its owner knows
 *                 and, if the owner wrote it during the run, the last value it wrote.
 *                 A write whose outcome is unknown (transport failure or 5xx, already
 *                 an error) leaves its key in doubt: the owner stops writing it and
 *                 the check accepts the known version or one more.
 *     "verified" is false if any check failed or setup failed.
 *     Replicas. A replica may answer a read from a slightly old snapshot of the shared
 *     database (colonyd on SQLite reuses a reader snapshot for up to 2 ms as long as
 *     its own process commits nothing), so a read there can miss another replica's
 *     latest commit. The run tolerates that: rmw retries on the 409 a stale version
 *     earns, and cas_post never reads. The checks are not loosened for it: setup and
 *     verification go to the first URL only, after every earlier request has been
 *     answered, and a stale read there still counts as a mismatch (or, for get, a 404
 *     is an error). That remains possible only within the staleness bound of the last
 *     write: rmw verification right after the run, if the first URL's process still
 *     holds a snapshot from before another replica's final increment; get, if seeding
 *     took less time than that bound (a handful of keys).
 *  5. The server we start runs in its own process group (a terminal ^C reaches only
 *     the bench, which then stops it properly) with PR_SET_PDEATHSIG so it dies with
 *     us even if we are killed. Its stderr goes to a log file in the temp directory;
 *     any line of it that is not an info line is copied to our stderr at the end. It
 *     is stopped with SIGTERM and must exit 0 within 20 s (else SIGKILL and failure).
 *     If it exits on its own, that is a failure: it is reported after the workload
 *     in progress, and the remaining workloads are skipped.
 *  6. SIGINT/SIGTERM are blocked in every thread and taken by main with sigtimedwait:
 *     they end the current workload early, skip the rest, and still clean up.
 *  7. Exit status: 0 when every workload verified with 0 errors and the server (if
 *     ours) stopped cleanly; 1 otherwise; 2 for a usage error.
 */
#include "../src/core/err.h"
#include "../src/core/id.h"
#include "../src/core/validate.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define IO_TIMEOUT_S 15            /* per send/recv/connect on a client socket */
#define MAX_HEADER_BYTES (64 << 10) /* a reply whose headers exceed this is an error */
#define MAX_BODY_BYTES (64 << 20)   /* likewise for a body */
#define STATUS_SLOTS 600            /* status_count[0] = transport errors */
#define SERVER_START_TIMEOUT_MS 15000
#define SERVER_STOP_TIMEOUT_MS 20000
#define DEFAULT_KEYS 10000u
#define MAX_CLIENTS 4096
#define MAX_KEYS 10000000

/* ------------------------------------------------------------------------------------ */
/* Small utilities                                                                      */
/* ------------------------------------------------------------------------------------ */

/* Monotonic time in nanoseconds. */
static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleeps ms milliseconds (restarting after signals). */
static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/* Makes *buf hold at least `need` bytes (growing by doubling). Exits on out-of-memory:
 * a benchmark that cannot allocate a few KiB has nothing useful left to measure. */
static void ensure_cap(char **buf, size_t *cap, size_t need)
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
static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p) {
		fprintf(stderr, "bench: out of memory\n");
		exit(1);
	}
	return p;
}

/* xorshift64* — a per-thread PRNG; the state must be non-zero. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform-enough integer in [0, n) for n < 2^32 (multiply-shift, no modulo). */
static unsigned rng_below(uint64_t *s, unsigned n)
{
	return (unsigned)(((rng_next(s) >> 32) * (uint64_t)n) >> 32);
}

/* A well-mixed non-zero seed from x (splitmix64 finaliser). */
static uint64_t seed_mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	x ^= x >> 31;
	return x ? x : 1;
}

/* ------------------------------------------------------------------------------------ */
/* Latency histogram (log-linear, nanoseconds)                                          */
/* ------------------------------------------------------------------------------------ */

#define H_SUB_BITS 7
#define H_SUB (1u << H_SUB_BITS) /* values below this are exact; then 128 per octave */
#define H_MAX_EXP 40             /* 2^41 ns ≈ 36 min: anything longer lands in the top */
#define H_BUCKETS (H_SUB + (H_MAX_EXP - H_SUB_BITS + 1) * H_SUB)

/* The bucket holding v ns. */
static size_t h_index(uint64_t v)
{
	if (v < H_SUB)
		return (size_t)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* v in [2^e, 2^(e+1)) */
	if (e > H_MAX_EXP)
		return H_BUCKETS - 1;
	return H_SUB + (size_t)(e - H_SUB_BITS) * H_SUB + (size_t)((v >> (e - H_SUB_BITS)) - H_SUB);
}

/* The value (ns) a bucket stands for: its midpoint, or the value itself when exact. */
static double h_value(size_t i)
{
	if (i < H_SUB)
		return (double)i;
	size_t j = i - H_SUB;
	unsigned shift = (unsigned)(j / H_SUB);
	uint64_t mant = (uint64_t)(j % H_SUB) + H_SUB;
	double lo = (double)(mant << shift), width = (double)(1ULL << shift);
	return lo + (width - 1) / 2;
}

/* The q-quantile (0 < q ≤ 1) of a merged histogram of `total` samples, in µs; 0 when
 * empty. Uses the nearest-rank definition: the smallest value with ≥ q·total below. */
static double h_quantile_us(const uint64_t *h, uint64_t total, double q)
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

static const char *j_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* p points at '"': returns just past the closing quote, or NULL if unterminated. */
static const char *j_string_end(const char *p)
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
static const char *j_value_end(const char *p)
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
static bool j_member(const char *obj, const char *name, const char **val, size_t *len)
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
static bool j_int(const char *obj, const char *name, int64_t *out)
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
static bool j_str_is(const char *obj, const char *name, const char *want)
{
	const char *v;
	size_t n, wl = strlen(want);
	return j_member(obj, name, &v, &n) && n == wl + 2 && v[0] == '"' && !memcmp(v + 1, want, wl);
}

/* ------------------------------------------------------------------------------------ */
/* The HTTP/1.1 client                                                                  */
/* ------------------------------------------------------------------------------------ */

/* Where requests go: one resolved address and the Host header to send. */
typedef struct {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char host[300];
} target;

/* One keep-alive connection and its buffers. fd < 0 means not connected; the next
 * request connects. Not thread-safe: one thread uses a conn at a time. */
typedef struct {
	const target *t;
	int fd;
	unsigned served;   /* replies read on the current socket */
	uint64_t connects; /* successful connects, ever */
	char *in;          /* received bytes; in[0..consumed) is the last reply */
	size_t in_cap, in_len, consumed;
	char *out; /* the request being sent */
	size_t out_cap;
	char *body; /* the last reply body, NUL-terminated */
	size_t body_cap;
	bool stale;    /* the last failure was EOF/reset before any reply byte */
	char err[200]; /* what the last failure was */
} conn;

/* A reply. body points into the conn and stays valid until its next request. */
typedef struct {
	int status;
	const char *body;
	size_t body_len;
} http_resp;

static void conn_init(conn *c, const target *t)
{
	memset(c, 0, sizeof *c);
	c->t = t;
	c->fd = -1;
}

static void conn_close(conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->in_len = c->consumed = 0;
	c->served = 0;
}

static void conn_free(conn *c)
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
 * *reconnected is set when a new connection had to be opened. */
static int http_request(conn *c, const char *method, const char *path, const char *body,
			size_t blen, http_resp *r, bool *reconnected)
{
	*reconnected = false;
	ensure_cap(&c->out, &c->out_cap, strlen(path) + strlen(c->t->host) + blen + 256);
	int n;
	if (body)
		n = snprintf(c->out, c->out_cap,
			     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: colony-bench\r\n"
			     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
			     method, path, c->t->host, blen);
	else
		n = snprintf(c->out, c->out_cap,
			     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: colony-bench\r\n\r\n", method,
			     path, c->t->host);
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
static int parse_url(const char *url, target *t)
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

/* ------------------------------------------------------------------------------------ */
/* The server we start                                                                  */
/* ------------------------------------------------------------------------------------ */

typedef struct {
	pid_t pid;   /* 0: none */
	bool exited; /* reaped before we asked it to stop: status holds why */
	int status;
	char dir[4096];
	char log[4200];
} server_proc;

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
static int server_dump_log(const server_proc *s, bool all)
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

/* Starts `exe` on 127.0.0.1:0 with a fresh database in a new temp directory and waits
 * for its port file. Returns 0 with s->pid and *port set, or -1 (message printed, the
 * process and directory cleaned up). Must be called before any other thread exists. */
static int server_start(const char *exe, server_proc *s, unsigned *port)
{
	memset(s, 0, sizeof *s);
	if (access(exe, X_OK) != 0) {
		fprintf(stderr, "bench: colonyd '%s' is not executable: %s (build it, or pass --colonyd/--url)\n",
			exe, strerror(errno));
		return -1;
	}
	const char *tmp = getenv("TMPDIR");
	snprintf(s->dir, sizeof s->dir, "%s/colony-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(s->dir)) {
		fprintf(stderr, "bench: mkdtemp %s: %s\n", s->dir, strerror(errno));
		s->dir[0] = 0;
		return -1;
	}
	char db[4200], pf[4200];
	snprintf(db, sizeof db, "%s/colony.db", s->dir);
	snprintf(pf, sizeof pf, "%s/port", s->dir);
	snprintf(s->log, sizeof s->log, "%s/colonyd.log", s->dir);
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
		dup2(logfd, STDOUT_FILENO);
		dup2(logfd, STDERR_FILENO);
		char *argv[] = {(char *)exe, "--listen", "127.0.0.1:0", "--db", db, "--port-file", pf,
				"--no-request-log", NULL};
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
static bool server_alive(server_proc *s)
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
 * its non-info log lines and removes its directory. Returns 0 if it was still running
 * and then exited with code 0. */
static int server_stop(server_proc *s)
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
			fprintf(stderr, "bench: colonyd stopped cleanly in %.0f ms\n",
				(double)(now_ns() - t0) / 1e6);
		}
		s->pid = 0;
		server_dump_log(s, rc != 0);
	}
	server_rmdir(s);
	return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Workloads and client threads                                                         */
/* ------------------------------------------------------------------------------------ */

typedef enum { WL_RMW, WL_GET, WL_LWW, WL_CAS } wl_kind;

typedef struct {
	const char *name;
	wl_kind kind;
	unsigned keys;      /* default key count */
	const char *prefix; /* key names are PREFIX-NNNNN */
} wl_def;

static const wl_def WORKLOADS[] = {
	{"rmw_contended", WL_RMW, 1, "hot"},
	{"rmw_spread", WL_RMW, DEFAULT_KEYS, "ctr"},
	{"get", WL_GET, DEFAULT_KEYS, "kv"},
	{"lww_post", WL_LWW, DEFAULT_KEYS, "kv"},
	{"cas_post", WL_CAS, DEFAULT_KEYS, "kv"}, /* kv keys: a full run finds them created */
};
#define N_WORKLOADS (sizeof WORKLOADS / sizeof WORKLOADS[0])

typedef enum { PH_SEED, PH_SNAPSHOT, PH_RUN, PH_VERIFY } phase;

typedef struct bench bench;

/* cas_post: what the owner of a key knows about it. */
typedef struct {
	int64_t ver;  /* the key's version as of this client's last reply about it */
	int64_t val;  /* the last value written during the run, when `written` */
	bool written; /* a 200 during the run stored val (and nothing changed it since) */
	bool doubt;   /* a write's outcome is unknown: no more writes, ver or ver+1 */
} cas_key;

/* One client thread's state. Stats are reset per workload; the connection persists. */
typedef struct {
	bench *b;
	int id;
	pthread_t th;
	uint64_t rng;
	uint64_t seq;
	conn c;  /* to this client's URL: every timed request */
	conn sc; /* to the first URL, for setup phases when c goes elsewhere (see setup_conn) */
	/* run stats */
	uint64_t ok, conflicts, errors, requests, verify_fail, reconnects, max_ns;
	uint64_t status_count[STATUS_SLOTS];
	uint64_t *hist; /* H_BUCKETS */
	/* setup (seed / snapshot / verify) outcome */
	uint64_t setup_errors, mismatches;
	/* cas_post: the keys this client owns, k = id + i * clients for own[i] */
	cas_key *own;
	unsigned n_own, n_doubt;
	char first_err[300];
	char first_bad[300];
} worker;

struct bench {
	target *tg; /* the URLs: tg[0] takes setup and verification; client i runs on tg[i % n_tg] */
	int n_tg;
	char ws[CO_ID_LEN + 1];
	char coll_path[128]; /* /workspaces/ID/memory */
	int clients;
	double duration_s;
	unsigned keys_override; /* 0: each workload's default */
	/* the current workload */
	const wl_def *w;
	unsigned keys;
	phase ph;
	_Atomic uint64_t *key_ok; /* successful writes per key, all clients */
	int64_t *base_val, *base_ver;
	atomic_bool stop;
	pthread_mutex_t gate_mu;
	pthread_cond_t gate_cv;
	bool gate_open;
	worker *workers;
};

static void key_name(char *out, size_t n, const wl_def *w, unsigned k)
{
	snprintf(out, n, "%s-%05u", w->prefix, k);
}

/* Remembers the first problem this worker saw (later ones are only counted). */
__attribute__((format(printf, 3, 4))) static void note(char *slot, size_t n, const char *fmt, ...)
{
	if (slot[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(slot, n, fmt, ap);
	va_end(ap);
}

/* The connection a worker's requests use now: its own (to its URL) during PH_RUN or
 * when its URL is the first one; otherwise, in setup phases, the one to the first URL. */
static conn *setup_conn(worker *w)
{
	return w->b->ph == PH_RUN || w->c.t == &w->b->tg[0] ? &w->c : &w->sc;
}

/* One request from a worker: timed (during PH_RUN) and counted. Returns the HTTP status,
 * or -1 after a transport failure (counted as an error during PH_RUN, as a setup error
 * otherwise; noted; followed by a 1 ms pause so a dead server is not spun on). */
static int timed(worker *w, const char *method, const char *path, const char *body, size_t blen,
		 http_resp *r)
{
	bool running = w->b->ph == PH_RUN, reconnected;
	conn *c = setup_conn(w);
	uint64_t t0 = now_ns();
	int rc = http_request(c, method, path, body, blen, r, &reconnected);
	uint64_t dt = now_ns() - t0;
	if (reconnected && c == &w->c)
		w->reconnects++;
	if (rc != 0) {
		if (running) {
			w->errors++;
			w->status_count[0]++;
		} else {
			w->setup_errors++;
		}
		note(w->first_err, sizeof w->first_err, "%s %s: %s", method, path, c->err);
		sleep_ms(1);
		return -1;
	}
	if (running) {
		w->requests++;
		w->hist[h_index(dt)]++;
		if (dt > w->max_ns)
			w->max_ns = dt;
	}
	return r->status;
}

/* Counts an unexpected status as a run error (or setup error) and notes it. */
static void bad_status(worker *w, const char *method, const char *path, const http_resp *r)
{
	if (w->b->ph == PH_RUN) {
		w->errors++;
		w->status_count[r->status < STATUS_SLOTS ? r->status : STATUS_SLOTS - 1]++;
	} else {
		w->setup_errors++;
	}
	note(w->first_err, sizeof w->first_err, "%s %s → %d %.160s", method, path, r->status,
	     r->body);
}

/* Counts a reply that arrived but could not be used (run error, or setup error). */
static void bad_body(worker *w, const char *what, const http_resp *r)
{
	if (w->b->ph == PH_RUN) {
		w->errors++;
		w->status_count[STATUS_SLOTS - 1]++;
	} else {
		w->setup_errors++;
	}
	note(w->first_err, sizeof w->first_err, "%s: unusable reply %d %.160s", what, r->status,
	     r->body);
}

static bool is_version_mismatch(const http_resp *r)
{
	return r->status == 409 && j_str_is(r->body, "code", "version_mismatch");
}

static bool stopping(const bench *b)
{
	return atomic_load_explicit(&b->stop, memory_order_relaxed);
}

/* rmw_*: GET a random key, POST value+1 under if_match_version, retry on 409. */
static void run_rmw(worker *w)
{
	bench *b = w->b;
	char key[64], path[256], body[256];
	while (!stopping(b)) {
		unsigned k = b->keys == 1 ? 0 : rng_below(&w->rng, b->keys);
		key_name(key, sizeof key, b->w, k);
		snprintf(path, sizeof path, "%s/%s", b->coll_path, key);
		while (!stopping(b)) { /* until this increment lands or fails */
			http_resp r;
			int st = timed(w, "GET", path, NULL, 0, &r);
			if (st != 200) {
				if (st > 0)
					bad_status(w, "GET", path, &r);
				break;
			}
			int64_t val, ver;
			if (!j_int(r.body, "value", &val) || !j_int(r.body, "version", &ver)) {
				bad_body(w, "GET counter", &r);
				break;
			}
			int n = snprintf(body, sizeof body,
					 "{\"key\":\"%s\",\"value\":%lld,\"if_match_version\":%lld}", key,
					 (long long)val + 1, (long long)ver);
			st = timed(w, "POST", b->coll_path, body, (size_t)n, &r);
			if (st == 200) {
				w->ok++;
				atomic_fetch_add_explicit(&b->key_ok[k], 1, memory_order_relaxed);
				int64_t nv;
				if (!j_int(r.body, "version", &nv) || nv != ver + 1) {
					w->verify_fail++;
					note(w->first_bad, sizeof w->first_bad,
					     "%s: write under if_match_version %lld answered %.120s", key,
					     (long long)ver, r.body);
				}
				break;
			}
			if (is_version_mismatch(&r)) {
				w->conflicts++;
				continue;
			}
			if (st > 0)
				bad_status(w, "POST", b->coll_path, &r);
			break;
		}
	}
}

/* get: GET random seeded keys and check each 200 carries that key's seeded value. */
static void run_get(worker *w)
{
	bench *b = w->b;
	char key[64], path[256];
	while (!stopping(b)) {
		unsigned k = rng_below(&w->rng, b->keys);
		key_name(key, sizeof key, b->w, k);
		snprintf(path, sizeof path, "%s/%s", b->coll_path, key);
		http_resp r;
		int st = timed(w, "GET", path, NULL, 0, &r);
		if (st == 200) {
			w->ok++;
			const char *v;
			size_t vl;
			int64_t n;
			if (!j_str_is(r.body, "key", key) || !j_member(r.body, "value", &v, &vl) ||
			    !j_int(v, "n", &n) || n != (int64_t)k) {
				w->verify_fail++;
				note(w->first_bad, sizeof w->first_bad, "GET %s answered %.160s", key, r.body);
			}
		} else if (st == 409) {
			w->conflicts++;
		} else if (st > 0) {
			bad_status(w, "GET", path, &r);
		}
	}
}

/* lww_post: POST random keys with no precondition. */
static void run_lww(worker *w)
{
	bench *b = w->b;
	char key[64], body[256];
	while (!stopping(b)) {
		unsigned k = rng_below(&w->rng, b->keys);
		key_name(key, sizeof key, b->w, k);
		int n = snprintf(body, sizeof body,
				 "{\"key\":\"%s\",\"value\":{\"writer\":%d,\"seq\":%llu,\"tag\":\"lww\"}}",
				 key, w->id, (unsigned long long)++w->seq);
		http_resp r;
		int st = timed(w, "POST", b->coll_path, body, (size_t)n, &r);
		if (st == 200) {
			w->ok++;
			atomic_fetch_add_explicit(&b->key_ok[k], 1, memory_order_relaxed);
		} else if (st == 409) {
			w->conflicts++; /* never expected without a precondition */
			note(w->first_bad, sizeof w->first_bad, "LWW POST %s answered 409 %.160s", key,
			     r.body);
		} else if (st > 0) {
			bad_status(w, "POST", b->coll_path, &r);
		}
	}
}

/* cas_post: marks a key whose last write may or may not have been applied. */
static void cas_doubt(worker *w, cas_key *ck)
{
	if (!ck->doubt) {
		ck->doubt = true;
		w->n_doubt++;
	}
}

/* cas_post: POST this client's own keys in turn under if_match_version = the version
 * it knows (no GETs); each 200 must answer known + 1, which becomes the known version. */
static void run_cas(worker *w)
{
	bench *b = w->b;
	char key[64], body[256];
	if (w->n_own == 0)
		return;
	unsigned i = rng_below(&w->rng, w->n_own); /* start somewhere, then cycle */
	while (!stopping(b) && w->n_doubt < w->n_own) {
		i = i + 1 < w->n_own ? i + 1 : 0;
		cas_key *ck = &w->own[i];
		if (ck->doubt)
			continue;
		unsigned k = (unsigned)w->id + i * (unsigned)b->clients;
		key_name(key, sizeof key, b->w, k);
		int64_t val = (int64_t)++w->seq;
		int n = snprintf(body, sizeof body,
				 "{\"key\":\"%s\",\"value\":%lld,\"if_match_version\":%lld}", key,
				 (long long)val, (long long)ck->ver);
		http_resp r;
		int st = timed(w, "POST", b->coll_path, body, (size_t)n, &r);
		if (st == 200) {
			w->ok++;
			int64_t nv;
			bool got = j_int(r.body, "version", &nv);
			if (!got || nv != ck->ver + 1) {
				w->verify_fail++;
				note(w->first_bad, sizeof w->first_bad,
				     "%s: CAS write under if_match_version %lld answered %.120s", key,
				     (long long)ck->ver, r.body);
			}
			ck->ver = got ? nv : ck->ver + 1;
			ck->val = val;
			ck->written = true;
		} else if (st == 409 && is_version_mismatch(&r)) {
			/* The key is ours alone: this must not happen. Adopt the server's version
			 * so the run goes on; the conflict fails the check. */
			w->conflicts++;
			note(w->first_bad, sizeof w->first_bad,
			     "%s: CAS write under if_match_version %lld (owned key) answered 409 %.120s",
			     key, (long long)ck->ver, r.body);
			int64_t cur;
			if (j_int(r.body, "current_version", &cur))
				ck->ver = cur;
			else
				cas_doubt(w, ck);
			ck->written = false;
		} else {
			if (st > 0)
				bad_status(w, "POST", b->coll_path, &r);
			if (st < 0 || st >= 500) /* may have been applied */
				cas_doubt(w, ck);
		}
	}
}

/* cas_post setup (PH_SEED: create the key with if_match_version:0, or GET its version
 * if it exists) and verification (PH_VERIFY: version and last value as the owner knows
 * them) of key k, owned by this thread. */
static void cas_setup_key(worker *w, unsigned k)
{
	bench *b = w->b;
	cas_key *ck = &w->own[(k - (unsigned)w->id) / (unsigned)b->clients];
	char key[64], path[256], body[256];
	key_name(key, sizeof key, b->w, k);
	snprintf(path, sizeof path, "%s/%s", b->coll_path, key);
	http_resp r;
	int st;
	int64_t ver = -1, val = 0;
	if (b->ph == PH_SEED) {
		int n = snprintf(body, sizeof body, "{\"key\":\"%s\",\"value\":0,\"if_match_version\":0}",
				 key);
		st = timed(w, "POST", b->coll_path, body, (size_t)n, &r);
		if (st == 200) {
			if (!j_int(r.body, "version", &ver))
				bad_body(w, "CAS seed POST", &r);
		} else if (st == 409 && is_version_mismatch(&r)) { /* exists: read its version */
			st = timed(w, "GET", path, NULL, 0, &r);
			if (st == 200 && !j_int(r.body, "version", &ver))
				bad_body(w, "CAS seed GET", &r);
			else if (st > 0 && st != 200)
				bad_status(w, "GET", path, &r);
		} else if (st > 0) {
			bad_status(w, "POST", b->coll_path, &r);
		}
		ck->ver = ver;
		return;
	}
	if (b->ph != PH_VERIFY)
		return;
	st = timed(w, "GET", path, NULL, 0, &r);
	if (st < 0) {
		w->mismatches++;
		return;
	}
	bool ok = st == 200 && j_int(r.body, "version", &ver) &&
		  (ver == ck->ver || (ck->doubt && ver == ck->ver + 1));
	if (ok && ck->written && !ck->doubt)
		ok = j_int(r.body, "value", &val) && val == ck->val;
	if (!ok) {
		w->mismatches++;
		if (ck->written && !ck->doubt)
			note(w->first_bad, sizeof w->first_bad,
			     "%s: owner knows version %lld value %lld; read %d %.120s", key,
			     (long long)ck->ver, (long long)ck->val, st, r.body);
		else
			note(w->first_bad, sizeof w->first_bad, "%s: owner knows version %lld%s; read %d %.120s",
			     key, (long long)ck->ver, ck->doubt ? " (or one more)" : "", st, r.body);
	}
}

/* Setup and verification of key k (this thread handles k ≡ id mod clients). */
static void setup_key(worker *w, unsigned k)
{
	bench *b = w->b;
	if (b->w->kind == WL_CAS) {
		cas_setup_key(w, k);
		return;
	}
	char key[64], path[256], body[256];
	key_name(key, sizeof key, b->w, k);
	snprintf(path, sizeof path, "%s/%s", b->coll_path, key);
	http_resp r;
	int st;
	switch (b->ph) {
	case PH_SEED:
		if (b->w->kind == WL_RMW) {
			int n = snprintf(body, sizeof body,
					 "{\"key\":\"%s\",\"value\":0,\"if_match_version\":0}", key);
			st = timed(w, "POST", b->coll_path, body, (size_t)n, &r);
			if (st > 0 && st != 200 && !is_version_mismatch(&r))
				bad_status(w, "POST", b->coll_path, &r);
		} else {
			int n = snprintf(body, sizeof body,
					 "{\"key\":\"%s\",\"value\":{\"n\":%u,\"tag\":\"seed\"}}", key, k);
			st = timed(w, "POST", b->coll_path, body, (size_t)n, &r);
			if (st > 0 && st != 200)
				bad_status(w, "POST", b->coll_path, &r);
		}
		break;
	case PH_SNAPSHOT:
		st = timed(w, "GET", path, NULL, 0, &r);
		if (st == 200) {
			int64_t val = 0, ver;
			bool need_int = b->w->kind == WL_RMW;
			if (!j_int(r.body, "version", &ver) || (need_int && !j_int(r.body, "value", &val)))
				bad_body(w, "snapshot GET", &r);
			else {
				b->base_val[k] = val;
				b->base_ver[k] = ver;
			}
		} else if (st == 404 && b->w->kind == WL_LWW) {
			b->base_val[k] = b->base_ver[k] = 0;
		} else if (st > 0) {
			bad_status(w, "GET", path, &r);
		}
		break;
	case PH_VERIFY: {
		int64_t inc = (int64_t)atomic_load(&b->key_ok[k]);
		int64_t want_ver = b->base_ver[k] + inc, want_val = b->base_val[k] + inc;
		st = timed(w, "GET", path, NULL, 0, &r);
		if (st < 0) {
			w->mismatches++;
			break;
		}
		int64_t val = 0, ver = -1;
		bool ok;
		if (st == 404)
			ok = want_ver == 0;
		else if (b->w->kind == WL_RMW)
			ok = st == 200 && j_int(r.body, "value", &val) && j_int(r.body, "version", &ver) &&
			     val == want_val && ver == want_ver;
		else
			ok = st == 200 && j_int(r.body, "version", &ver) && ver == want_ver;
		if (!ok) {
			w->mismatches++;
			if (b->w->kind == WL_RMW)
				note(w->first_bad, sizeof w->first_bad,
				     "%s: %lld increments on value %lld v%lld should read value %lld "
				     "version %lld; read %d %.120s",
				     key, (long long)inc, (long long)b->base_val[k], (long long)b->base_ver[k],
				     (long long)want_val, (long long)want_ver, st, r.body);
			else
				note(w->first_bad, sizeof w->first_bad,
				     "%s: %lld writes on version %lld should read version %lld; read %d %.120s",
				     key, (long long)inc, (long long)b->base_ver[k], (long long)want_ver, st,
				     r.body);
		}
		break;
	}
	case PH_RUN: break;
	}
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	bench *b = w->b;
	if (b->ph != PH_RUN) {
		for (unsigned k = (unsigned)w->id; k < b->keys; k += (unsigned)b->clients)
			setup_key(w, k);
		conn_close(&w->sc); /* reopened by the next setup phase, if any (no-op if unused) */
		return NULL;
	}
	pthread_mutex_lock(&b->gate_mu);
	while (!b->gate_open)
		pthread_cond_wait(&b->gate_cv, &b->gate_mu);
	pthread_mutex_unlock(&b->gate_mu);
	switch (b->w->kind) {
	case WL_RMW: run_rmw(w); break;
	case WL_GET: run_get(w); break;
	case WL_LWW: run_lww(w); break;
	case WL_CAS: run_cas(w); break;
	}
	return NULL;
}

/* Waits up to `ms` for SIGINT/SIGTERM (blocked in every thread). True if one came. */
static bool wait_signal(long ms)
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

/* Runs phase `ph` on all client threads and joins them. For PH_RUN the threads are
 * released together, stopped after the duration (or a signal: *interrupted), and
 * *elapsed_s is release → last join. Returns 0, or -1 if threads could not start. */
static int run_phase(bench *b, phase ph, double *elapsed_s, bool *interrupted)
{
	b->ph = ph;
	atomic_store(&b->stop, false);
	b->gate_open = false;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 << 10);
	int started = 0, rc = 0;
	for (; started < b->clients; started++) {
		int e = pthread_create(&b->workers[started].th, &attr, worker_main, &b->workers[started]);
		if (e != 0) {
			fprintf(stderr, "bench: cannot start client thread %d: %s\n", started, strerror(e));
			atomic_store(&b->stop, true);
			rc = -1;
			break;
		}
	}
	pthread_attr_destroy(&attr);
	uint64_t t0 = now_ns();
	if (ph == PH_RUN) {
		pthread_mutex_lock(&b->gate_mu);
		b->gate_open = true;
		pthread_cond_broadcast(&b->gate_cv);
		pthread_mutex_unlock(&b->gate_mu);
		t0 = now_ns();
		uint64_t deadline = t0 + (uint64_t)(b->duration_s * 1e9);
		while (rc == 0) {
			uint64_t now = now_ns();
			if (now >= deadline)
				break;
			long left_ms = (long)((deadline - now + 999999) / 1000000);
			if (wait_signal(left_ms > 200 ? 200 : left_ms)) {
				*interrupted = true;
				break;
			}
		}
		atomic_store(&b->stop, true);
	}
	for (int i = 0; i < started; i++)
		pthread_join(b->workers[i].th, NULL);
	if (elapsed_s)
		*elapsed_s = (double)(now_ns() - t0) / 1e9;
	if (ph != PH_RUN && wait_signal(0))
		*interrupted = true;
	return rc;
}

/* Sums and prints the setup errors of a phase; returns their count. */
static uint64_t setup_report(bench *b, const char *what)
{
	uint64_t n = 0;
	int shown = 0;
	for (int i = 0; i < b->clients; i++) {
		worker *w = &b->workers[i];
		n += w->setup_errors;
		if (w->setup_errors && w->first_err[0] && shown++ < 3)
			fprintf(stderr, "bench: %s: %s: %s\n", b->w->name, what, w->first_err);
		w->setup_errors = 0;
		w->first_err[0] = 0;
	}
	if (n)
		fprintf(stderr, "bench: %s: %s failed for %llu request(s)\n", b->w->name, what,
			(unsigned long long)n);
	return n;
}

/* Frees the per-workload arrays (key counters, snapshots, cas_post owned keys). */
static void workload_free(bench *b)
{
	free(b->key_ok);
	free(b->base_val);
	free(b->base_ver);
	b->key_ok = NULL;
	b->base_val = b->base_ver = NULL;
	for (int i = 0; i < b->clients; i++) {
		free(b->workers[i].own);
		b->workers[i].own = NULL;
		b->workers[i].n_own = b->workers[i].n_doubt = 0;
	}
}

/* Runs one workload end to end and prints its JSON line. Returns true if it passed
 * (0 errors, verified). *fatal is set if threads could not be started. */
static bool run_workload(bench *b, const wl_def *def, bool *interrupted, bool *fatal)
{
	b->w = def;
	b->keys = b->keys_override ? b->keys_override : def->keys;
	b->key_ok = xcalloc(b->keys, sizeof *b->key_ok);
	for (unsigned k = 0; k < b->keys; k++)
		atomic_init(&b->key_ok[k], 0);
	b->base_val = xcalloc(b->keys, sizeof *b->base_val);
	b->base_ver = xcalloc(b->keys, sizeof *b->base_ver);
	for (int i = 0; i < b->clients; i++) {
		worker *w = &b->workers[i];
		w->ok = w->conflicts = w->errors = w->requests = w->verify_fail = 0;
		w->reconnects = w->max_ns = w->setup_errors = w->mismatches = 0;
		memset(w->status_count, 0, sizeof w->status_count);
		memset(w->hist, 0, H_BUCKETS * sizeof *w->hist);
		w->first_err[0] = w->first_bad[0] = 0;
		if (def->kind == WL_CAS) { /* keys id, id + clients, ... below b->keys */
			unsigned id = (unsigned)w->id, nc = (unsigned)b->clients;
			w->n_own = id < b->keys ? (b->keys - 1 - id) / nc + 1 : 0;
			w->n_doubt = 0;
			w->own = xcalloc(w->n_own, sizeof *w->own);
			for (unsigned j = 0; j < w->n_own; j++)
				w->own[j].ver = -1;
		}
	}

	uint64_t setup_errs = 0;
	double elapsed = 0;
	bool ran = false;
	if (def->kind != WL_LWW) {
		if (run_phase(b, PH_SEED, NULL, interrupted))
			goto fatal_out;
		setup_errs += setup_report(b, "seeding");
	}
	if (!setup_errs && !*interrupted && def->kind != WL_GET && def->kind != WL_CAS) {
		if (run_phase(b, PH_SNAPSHOT, NULL, interrupted))
			goto fatal_out;
		setup_errs += setup_report(b, "snapshot");
	}
	if (!setup_errs && !*interrupted) {
		for (int i = 0; i < b->clients; i++)
			b->workers[i].reconnects = 0;
		if (run_phase(b, PH_RUN, &elapsed, interrupted))
			goto fatal_out;
		ran = true;
	}

	/* Merge the run stats. */
	uint64_t ok = 0, conflicts = 0, errors = setup_errs, requests = 0, verify_fail = 0;
	uint64_t reconnects = 0, max_ns = 0, status_count[STATUS_SLOTS] = {0}, in_doubt = 0;
	uint64_t *hist = xcalloc(H_BUCKETS, sizeof *hist);
	for (int i = 0; i < b->clients; i++) {
		worker *w = &b->workers[i];
		ok += w->ok;
		conflicts += w->conflicts;
		errors += w->errors;
		requests += w->requests;
		verify_fail += w->verify_fail;
		reconnects += w->reconnects;
		in_doubt += w->n_doubt;
		if (w->max_ns > max_ns)
			max_ns = w->max_ns;
		for (size_t s = 0; s < STATUS_SLOTS; s++)
			status_count[s] += w->status_count[s];
		for (size_t j = 0; j < H_BUCKETS; j++)
			hist[j] += w->hist[j];
	}
	char errs_first[3][300];
	int n_errs_first = 0;
	for (int i = 0; i < b->clients && n_errs_first < 3; i++)
		if (b->workers[i].first_err[0])
			snprintf(errs_first[n_errs_first++], sizeof errs_first[0], "%s",
				 b->workers[i].first_err);
	char bad_first[3][300];
	int n_bad_first = 0;
	for (int i = 0; i < b->clients; i++) {
		worker *w = &b->workers[i];
		if (w->first_bad[0] && n_bad_first < 3)
			snprintf(bad_first[n_bad_first++], sizeof bad_first[0], "%s", w->first_bad);
		w->first_bad[0] = 0;
	}

	/* Verify (rmw, lww): every key against the counts. */
	uint64_t mismatches = 0, verify_errs = 0;
	bool verified = ran && setup_errs == 0 && verify_fail == 0;
	if (def->kind == WL_GET || def->kind == WL_LWW || def->kind == WL_CAS)
		verified = verified && conflicts == 0;
	if (ran && def->kind != WL_GET) {
		for (int i = 0; i < b->clients; i++)
			b->workers[i].first_err[0] = 0;
		bool dummy = false;
		if (run_phase(b, PH_VERIFY, NULL, &dummy)) {
			free(hist);
			goto fatal_out;
		}
		if (dummy)
			*interrupted = true;
		for (int i = 0; i < b->clients; i++) {
			worker *w = &b->workers[i];
			mismatches += w->mismatches;
			verify_errs += w->setup_errors;
			if (w->first_bad[0] && n_bad_first < 3)
				snprintf(bad_first[n_bad_first++], sizeof bad_first[0], "%s", w->first_bad);
			if (w->first_err[0] && n_errs_first < 3)
				snprintf(errs_first[n_errs_first++], sizeof errs_first[0], "verify: %.280s",
					 w->first_err);
		}
		if (mismatches || verify_errs)
			verified = false;
	}

	double p50 = h_quantile_us(hist, requests, 0.50);
	double p99 = h_quantile_us(hist, requests, 0.99);
	double p999 = h_quantile_us(hist, requests, 0.999);
	free(hist);
	double rate = ok + conflicts ? (double)conflicts / (double)(ok + conflicts) : 0.0;
	printf("{\"workload\":\"%s\",\"clients\":%d,\"replicas\":%d,\"keys\":%u,"
	       "\"duration_s\":%.2f,\"ok\":%llu,"
	       "\"ok_per_s\":%.1f,\"conflicts\":%llu,\"conflict_rate\":%.4f,\"errors\":%llu,"
	       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"verified\":%s}\n",
	       def->name, b->clients, b->n_tg, b->keys, elapsed, (unsigned long long)ok,
	       elapsed > 0 ? (double)ok / elapsed : 0.0, (unsigned long long)conflicts, rate,
	       (unsigned long long)errors, p50, p99, p999, verified ? "true" : "false");
	fflush(stdout);

	/* Details for people, on stderr. */
	fprintf(stderr,
		"bench: %-13s %llu requests (%.0f/s), %llu ok, %llu conflicts, %llu errors; "
		"latency p50 %.0f us, p99 %.0f us, p99.9 %.0f us, max %.0f us; reconnects %llu",
		def->name, (unsigned long long)requests, elapsed > 0 ? (double)requests / elapsed : 0.0,
		(unsigned long long)ok, (unsigned long long)conflicts, (unsigned long long)errors, p50,
		p99, p999, (double)max_ns / 1000.0, (unsigned long long)reconnects);
	if (def->kind != WL_GET && ran)
		fprintf(stderr, "; verified %u keys: %llu mismatched", b->keys,
			(unsigned long long)mismatches);
	if (in_doubt)
		fprintf(stderr, "; %llu key(s) left in doubt by failed writes",
			(unsigned long long)in_doubt);
	fprintf(stderr, "\n");
	if (errors > setup_errs) {
		fprintf(stderr, "bench: %-13s errors by kind:", def->name);
		if (status_count[0])
			fprintf(stderr, " transport=%llu", (unsigned long long)status_count[0]);
		for (size_t s = 1; s < STATUS_SLOTS - 1; s++)
			if (status_count[s])
				fprintf(stderr, " http_%zu=%llu", s, (unsigned long long)status_count[s]);
		if (status_count[STATUS_SLOTS - 1])
			fprintf(stderr, " unusable_reply=%llu",
				(unsigned long long)status_count[STATUS_SLOTS - 1]);
		fprintf(stderr, "\n");
	}
	for (int i = 0; i < n_errs_first; i++)
		fprintf(stderr, "bench: %-13s error: %s\n", def->name, errs_first[i]);
	for (int i = 0; i < n_bad_first; i++)
		fprintf(stderr, "bench: %-13s check failed: %s\n", def->name, bad_first[i]);

	workload_free(b);
	return verified && errors == 0;

fatal_out:
	*fatal = true;
	workload_free(b);
	return false;
}

/* Creates workspace bench-<uuid> (on the first URL) and stores its id in b->ws. Returns 0
 * or -1 (printed). */
static int create_workspace(bench *b)
{
	conn c;
	conn_init(&c, &b->tg[0]);
	co_id rnd;
	if (co_id_new(&rnd) != 0) {
		fprintf(stderr, "bench: cannot make a random workspace name\n");
		return -1;
	}
	char body[128];
	int n = snprintf(body, sizeof body, "{\"name\":\"bench-%s\"}", rnd.s);
	http_resp r;
	bool reconnected;
	int rc = -1;
	if (http_request(&c, "POST", "/workspaces", body, (size_t)n, &r, &reconnected) != 0) {
		fprintf(stderr, "bench: POST /workspaces to %s: %s\n", b->tg[0].host, c.err);
	} else if (r.status != 201) {
		fprintf(stderr, "bench: POST /workspaces answered %d: %.300s\n", r.status, r.body);
	} else {
		const char *v;
		size_t vl;
		if (!j_member(r.body, "id", &v, &vl) || vl != CO_ID_LEN + 2 || v[0] != '"') {
			fprintf(stderr, "bench: POST /workspaces: no id in %.300s\n", r.body);
		} else {
			memcpy(b->ws, v + 1, CO_ID_LEN);
			b->ws[CO_ID_LEN] = 0;
			if (!co_id_valid(b->ws)) {
				fprintf(stderr, "bench: POST /workspaces: bad id '%s'\n", b->ws);
			} else {
				snprintf(b->coll_path, sizeof b->coll_path, "/workspaces/%s/memory", b->ws);
				fprintf(stderr, "bench: workspace bench-%s id %s on %s\n", rnd.s, b->ws,
					b->tg[0].host);
				rc = 0;
			}
		}
	}
	conn_free(&c);
	return rc;
}

/* ------------------------------------------------------------------------------------ */
/* main                                                                                 */
/* ------------------------------------------------------------------------------------ */

/* Adds the URLs of one --url value (one URL or a comma-separated list) to tg[0..*n),
 * resolving each, and appends them to *desc (comma-separated, for the summary line).
 * Returns 0, or -1 with a message printed. */
static int add_urls(const char *arg, target **tg, int *n, char **desc)
{
	size_t dl = *desc ? strlen(*desc) : 0, al = strlen(arg);
	char *d = realloc(*desc, dl + al + 2);
	if (!d) {
		fprintf(stderr, "bench: out of memory\n");
		exit(1);
	}
	if (dl)
		d[dl++] = ',';
	memcpy(d + dl, arg, al + 1);
	*desc = d;
	for (const char *p = arg;;) {
		size_t len = strcspn(p, ",");
		if (len == 0) {
			fprintf(stderr, "bench: --url: empty URL in '%s'\n", arg);
			return -1;
		}
		char *one = strndup(p, len);
		target *t = realloc(*tg, ((size_t)*n + 1) * sizeof **tg);
		if (!one || !t) {
			fprintf(stderr, "bench: out of memory\n");
			exit(1);
		}
		*tg = t;
		int rc = parse_url(one, &t[*n]);
		free(one);
		if (rc != 0)
			return -1;
		(*n)++;
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_memory [options]\n"
		"\n"
		"Load benchmark of colonyd's /workspaces/:id/memory with a built-in keep-alive\n"
		"HTTP/1.1 client. One JSON line per workload on stdout; details on stderr.\n"
		"\n"
		"  --colonyd PATH   colonyd to start on a fresh temp db (default ./build/colonyd)\n"
		"  --url URL[,URL]  target running servers instead, e.g. http://127.0.0.1:8080;\n"
		"                   repeat it or give a comma-separated list to spread the load\n"
		"                   over colonyd replicas sharing one database: client i uses\n"
		"                   URL i %% n (reconnects too); setup and verification use the\n"
		"                   first URL\n"
		"  --clients C      concurrent clients, one connection each (default 64)\n"
		"  --duration S     seconds per workload (default 5)\n"
		"  --keys K         key count for every workload (default: 1 for rmw_contended,\n"
		"                   10000 for the others; cas_post splits them among the clients)\n"
		"  --workload NAME  run only NAME: rmw_contended, rmw_spread, get, lww_post,\n"
		"                   cas_post (default: all five, in that order)\n"
		"  --help           print this help and exit\n"
		"\n"
		"Exit status: 0 all verified with no errors; 1 failure; 2 usage error.\n");
}

int main(int argc, char **argv)
{
	const char *colonyd = "./build/colonyd", *only = NULL;
	/* Static, like b (whose b.tg holds the parsed URLs): the usage-error returns below
	 * leave both reachable; the normal exit frees them. */
	static char *url; /* every --url value, comma-joined; NULL: we start the server */
	static bench b;
	bool colonyd_given = false;
	int64_t clients = 64, keys = 0;
	double duration = 5.0;
	static const struct option opts[] = {
		{"colonyd", required_argument, 0, 'c'}, {"url", required_argument, 0, 'u'},
		{"clients", required_argument, 0, 'n'}, {"duration", required_argument, 0, 'd'},
		{"keys", required_argument, 0, 'k'},    {"workload", required_argument, 0, 'w'},
		{"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			colonyd = optarg;
			colonyd_given = true;
			break;
		case 'u':
			if (add_urls(optarg, &b.tg, &b.n_tg, &url))
				return 2;
			break;
		case 'n':
			if (co_parse_i64(optarg, 1, MAX_CLIENTS, &clients)) {
				fprintf(stderr, "bench: --clients: %s\n", co_err_msg());
				return 2;
			}
			break;
		case 'd': {
			char *end;
			errno = 0;
			duration = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(duration > 0 && duration <= 86400)) {
				fprintf(stderr, "bench: --duration wants seconds in (0, 86400], got '%s'\n",
					optarg);
				return 2;
			}
			break;
		}
		case 'k':
			if (co_parse_i64(optarg, 1, MAX_KEYS, &keys)) {
				fprintf(stderr, "bench: --keys: %s\n", co_err_msg());
				return 2;
			}
			break;
		case 'w': only = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bench: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (url && colonyd_given) {
		fprintf(stderr, "bench: give --colonyd or --url, not both\n");
		return 2;
	}
	if (only) {
		bool known = false;
		for (size_t i = 0; i < N_WORKLOADS; i++)
			known = known || !strcmp(only, WORKLOADS[i].name);
		if (!known) {
			fprintf(stderr, "bench: unknown workload '%s' (rmw_contended, rmw_spread, get, "
					"lww_post, cas_post)\n",
				only);
			return 2;
		}
	}

	/* Signals: taken only by main, with sigtimedwait (design note 6). */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	b.clients = (int)clients;
	b.duration_s = duration;
	b.keys_override = (unsigned)keys;
	pthread_mutex_init(&b.gate_mu, NULL);
	pthread_cond_init(&b.gate_cv, NULL);

	server_proc srv = {0};
	if (url) {
		if (b.n_tg > 1) {
			fprintf(stderr, "bench: %d replicas; client i uses URL i %% %d:", b.n_tg, b.n_tg);
			for (int i = 0; i < b.n_tg; i++)
				fprintf(stderr, " [%d] %s (%d client(s))", i, b.tg[i].host,
					b.clients / b.n_tg + (i < b.clients % b.n_tg));
			fprintf(stderr, "; setup and verification on %s\n", b.tg[0].host);
			if (b.clients < b.n_tg)
				fprintf(stderr, "bench: warning: %d client(s) for %d URLs: the last %d "
						"URL(s) get no load\n",
					b.clients, b.n_tg, b.n_tg - b.clients);
		}
	} else {
		unsigned port;
		if (server_start(colonyd, &srv, &port))
			return 1;
		b.tg = xcalloc(1, sizeof *b.tg);
		b.n_tg = 1;
		struct sockaddr_in *sin = (struct sockaddr_in *)&b.tg[0].addr;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		b.tg[0].addrlen = sizeof *sin;
		snprintf(b.tg[0].host, sizeof b.tg[0].host, "127.0.0.1:%u", port);
		fprintf(stderr, "bench: started %s (pid %d) on %s, db in %s\n", colonyd, (int)srv.pid,
			b.tg[0].host, srv.dir);
	}

	bool all_ok = true, interrupted = false, fatal = false;
	int ran = 0;
	if (create_workspace(&b) != 0) {
		all_ok = false;
	} else {
		b.workers = xcalloc((size_t)b.clients, sizeof *b.workers);
		uint64_t seed = now_ns() ^ ((uint64_t)getpid() << 32);
		for (int i = 0; i < b.clients; i++) {
			worker *w = &b.workers[i];
			w->b = &b;
			w->id = i;
			w->rng = seed_mix(seed + (uint64_t)i * 0x9E3779B97F4A7C15ULL);
			w->hist = xcalloc(H_BUCKETS, sizeof *w->hist);
			conn_init(&w->c, &b.tg[i % b.n_tg]);
			conn_init(&w->sc, &b.tg[0]);
		}
		for (size_t i = 0; i < N_WORKLOADS && !interrupted && !fatal; i++) {
			if (only && strcmp(only, WORKLOADS[i].name) != 0)
				continue;
			if (!run_workload(&b, &WORKLOADS[i], &interrupted, &fatal))
				all_ok = false;
			ran++;
			if (!url && !server_alive(&srv))
				break;
		}
		for (int i = 0; i < b.clients; i++) {
			conn_free(&b.workers[i].c);
			conn_free(&b.workers[i].sc);
			free(b.workers[i].hist);
		}
		free(b.workers);
	}

	bool server_ok = true;
	if (!url)
		server_ok = server_stop(&srv) == 0;
	pthread_mutex_destroy(&b.gate_mu);
	pthread_cond_destroy(&b.gate_cv);

	bool pass = all_ok && server_ok && !interrupted && !fatal;
	char replicas[32] = "";
	if (b.n_tg > 1)
		snprintf(replicas, sizeof replicas, "%d replicas: ", b.n_tg);
	fprintf(stderr, "bench: %s — %d workload(s), %d client(s), %.2f s each, against %s%s%s%s%s%s\n",
		pass ? "PASS" : "FAIL", ran, b.clients, duration, replicas,
		url ? url : "a fresh colonyd",
		all_ok ? "; all verified with 0 errors" : "; some workload had errors or failed checks",
		server_ok ? "" : "; the server did not stop cleanly", interrupted ? "; interrupted" : "",
		fatal ? "; could not start client threads" : "");
	free(url);
	free(b.tg);
	return pass ? 0 : 1;
}
