/*
 * benchkit.h — the helpers colonyd's load benchmarks (bench_memory, bench_inbox) share:
 * time and allocation helpers, a PRNG, a log-linear latency histogram, a tiny JSON
 * member scanner, a keep-alive HTTP/1.1 client and the colonyd process we start.
 * Design notes and the exact semantics are in benchkit.c.
 */
#ifndef COLONY_BENCHKIT_H
#define COLONY_BENCHKIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* ---- Small utilities --------------------------------------------------------------- */

uint64_t now_ns(void);  /* monotonic clock, ns */
void sleep_ms(long ms); /* restarts after signals */

/* Allocation that exits with "bench: out of memory" on failure: a benchmark that cannot
 * allocate has nothing useful left to measure. */
void ensure_cap(char **buf, size_t *cap, size_t need); /* *buf holds ≥ need bytes */
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);

/* xorshift64* per-thread PRNG (state must be non-zero), a uniform value in [0, n) for
 * n < 2^32, and a well-mixed non-zero seed from any x. */
uint64_t rng_next(uint64_t *s);
unsigned rng_below(uint64_t *s, unsigned n);
uint64_t seed_mix(uint64_t x);

/* Blocks SIGINT/SIGTERM in this thread and the threads it creates later (call it in
 * main before any other thread exists) and ignores SIGPIPE. */
void block_signals(void);

/* Waits up to ms for SIGINT/SIGTERM (which the caller blocks in every thread). True if
 * one came (and says so on stderr). */
bool wait_signal(long ms);

/* ---- Latency histogram (log-linear, nanoseconds) ------------------------------------ */

#define H_SUB_BITS 7
#define H_SUB (1u << H_SUB_BITS) /* values below this are exact; then 128 per octave */
#define H_MAX_EXP 40             /* 2^41 ns ≈ 36 min: anything longer lands in the top */
#define H_BUCKETS (H_SUB + (H_MAX_EXP - H_SUB_BITS + 1) * H_SUB)

size_t h_index(uint64_t ns); /* the bucket holding a sample of ns nanoseconds */
double h_value(size_t i);    /* the value (ns) bucket i stands for */
uint64_t h_total(const uint64_t *h); /* the samples in a histogram */
/* The nearest-rank q-quantile (0 < q ≤ 1) of a histogram of `total` samples, in µs; 0
 * when empty. */
double h_quantile_us(const uint64_t *h, uint64_t total, double q);

/* ---- Minimal JSON reading: top-level members of an object --------------------------- */

const char *j_ws(const char *p);         /* skips JSON white space */
const char *j_string_end(const char *p); /* p at '"': just past the closing quote, or NULL */
const char *j_value_end(const char *p);  /* end of the value at p, or NULL if cut short */
/* Member `name` (needing no escapes) of the object at obj: its value text and length. */
bool j_member(const char *obj, const char *name, const char **val, size_t *len);
bool j_int(const char *obj, const char *name, int64_t *out); /* a JSON integer member */
bool j_str_is(const char *obj, const char *name, const char *want); /* == "want" */

/* ---- The HTTP/1.1 client ------------------------------------------------------------ */

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

void conn_init(conn *c, const target *t);
void conn_close(conn *c); /* closes the socket; the conn stays usable */
void conn_free(conn *c);  /* closes and frees the buffers */

/* The bearer token every request sends, and that a colonyd the bench starts is given as
 * its admin token: $COLONY_TOKEN if set, else a fixed bench token. */
const char *bench_token(void);
/* From now on every request sends `token` instead (call before client threads start). */
void bench_set_token(const char *token);

/* Sends one request and reads its reply, connecting first if needed. body may be NULL
 * (no body); a body is sent as application/json. Returns 0 with *r filled (any HTTP
 * status), or -1 on a transport failure with c->err set and the socket closed. A GET on
 * a reused connection found closed before any reply byte is re-sent once on a new one.
 * *reconnected (if not NULL) is set when a new connection had to be opened after the
 * conn's first. */
int http_request(conn *c, const char *method, const char *path, const char *body, size_t blen,
		 http_resp *r, bool *reconnected);

/* Parses "http://HOST:PORT[/]" (HOST may be [v6]) into *t. Returns 0 or -1 (message
 * printed). */
int parse_url(const char *url, target *t);

/* Adds the URLs of one --url value (one URL or a comma-separated list) to tg[0..*n),
 * resolving each. If desc is not NULL, appends the value to *desc (comma-separated).
 * Returns 0, or -1 with a message printed. */
int add_urls(const char *arg, target **tg, int *n, char **desc);

/* Fills *t for 127.0.0.1:port. */
void target_loopback(target *t, unsigned port);

/* ---- The colonyd we start ------------------------------------------------------------ */

typedef struct {
	const char *exe;
	pid_t pid;   /* 0: none */
	bool exited; /* reaped before we asked it to stop: status holds why */
	int status;
	double stop_ms; /* after a clean server_stop: SIGTERM → exit, in ms */
	char dir[4096]; /* its temp directory */
	char log[4200]; /* its stdout/stderr */
} server_proc;

/* Step 1: checks that exe is executable and creates the temp directory
 * $TMPDIR/<dir_prefix>-XXXXXX (s->dir), so the caller can name files in it for step 2.
 * Returns 0, or -1 (message printed, nothing left behind). */
int server_prepare(server_proc *s, const char *exe, const char *dir_prefix);

/* Step 2: starts s->exe on 127.0.0.1:0 with --db db_url (NULL: a fresh SQLite file in
 * s->dir), --port-file, --no-request-log and then extra_args (a NULL-terminated list, or
 * NULL), and waits for its port file. Returns 0 with s->pid and *port set, or -1
 * (message printed, the process and directory cleaned up). Call before any other thread
 * exists. */
int server_start(server_proc *s, const char *db_url, const char *const *extra_args,
		 unsigned *port);

/* True while the server runs. If it has exited on its own, reaps it, says so on stderr
 * (once) and returns false. */
bool server_alive(server_proc *s);

/* Stops it (SIGTERM, SIGKILL after a timeout), reaps it, shows its log (non-info lines,
 * or all on failure) and removes its directory. Returns 0 (and sets s->stop_ms) if it
 * was still running and then exited with code 0. */
int server_stop(server_proc *s);

/* Copies the server's log to stderr: every line when `all`, else the non-info ones.
 * Returns the lines copied. */
int server_dump_log(const server_proc *s, bool all);

#endif
