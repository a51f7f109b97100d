/*
 * bench_inbox.c — load benchmark for colonyd's inbox (SPEC §6) and its scheduler (§5).
 *
 * Like bench_memory, it starts a colonyd of its own — a fresh SQLite file in a mkdtemp
 * directory (or, with --db URL, a PostgreSQL database), port 0 read back through
 * --port-file — or targets running ones (--url, repeatable, each value possibly a
 * comma-separated list of replicas sharing one database). It runs up to three workloads,
 * always in this order, and prints ONE JSON line per workload on stdout (workload,
 * clients, replicas, duration_s, ok, ok_per_s, errors, p50_ms, p99_ms, verified and a few
 * workload-specific members); details go to stderr.
 *
 *   enqueue    --clients threads POST /workspaces/:id/inbox {"body":{…}} for --duration
 *              seconds. Default: all into one workspace (the contended case,
 *              --shared-workspace); --per-client-workspaces gives each client its own.
 *              ok = 201 replies carrying an id.
 *   claim_ack  --messages messages are enqueued into one fresh workspace first (not
 *              timed). Then each client loops POST …/inbox/claim {"max":--batch,
 *              "lease_seconds":300} and POST …/inbox/:mid/ack {"status":"completed",
 *              "attempt":A} for every message claimed (A = its "attempts"), until a claim
 *              comes back empty (the inbox is drained: nothing is enqueued during the
 *              run, so it stays so) or the duration ends (a batch already claimed is
 *              still acked). ok = acks answered 200 with status "completed".
 *   fire       scheduler throughput. --schedules schedules "* * * * *" are created
 *              round-robin over 20 fresh workspaces (not timed) while the server's clock
 *              reads 2030-01-07T10:00:30Z, so every one's next_run_at is 10:01:00. The
 *              clock is then moved to 10:01:30 and the time until every schedule shows
 *              run_count 1 is measured; fires_per_s = schedules / that time.
 *
 * DESIGN NOTES
 *  The HTTP client, the JSON member scanner, the latency histogram and the colonyd we
 *  start are shared with bench_memory: their design notes are in benchkit.c (client:
 *  note 1, JSON: note 2, histogram: note 3, server: note 4).
 *  1. Client. One keep-alive connection per client thread to its URL (client i uses URL
 *     i % n). A GET whose reused connection turns out to be closed before any reply byte
 *     is re-sent once on a new one; a POST never is (it may have been applied): it
 *     counts as an error and as "in doubt". Connections are closed at the end of every
 *     phase, so none idles into colonyd's 60 s connection timeout between phases. Setup
 *     and verification go to the first URL only (replicas share one database; that
 *     keeps replica read staleness out of the checks).
 *  2. JSON replies are read with benchkit's top-level member scanner (a "run_count"
 *     inside a body is never mistaken for the schedule's); list pages are walked with a
 *     small array iterator on top of it.
 *  3. Timing. All client threads are released together; duration_s runs from the
 *     release to the moment the last thread finished (its in-flight request after the
 *     deadline, or the inbox running dry), ok_per_s = ok / duration_s. p50_ms/p99_ms:
 *     latency of every single HTTP request of the timed phase (claims and acks alike),
 *     from a per-thread histogram (benchkit.c, note 3), merged after the run.
 *     fire is different: it is the server that works, so duration_s is the time from
 *     the clock jump to the poll reply that showed the last schedule fired, and
 *     p50_ms/p99_ms are over the schedules' "time until first seen fired" (the resolution
 *     is the poll cycle: one GET …/schedules?limit=1000 per workspace not yet complete,
 *     then 20 ms of sleep).
 *  4. Verification ("verified" in the JSON line; exit status 1 if false).
 *       enqueue    afterwards each workspace's inbox is listed (paged by id) and must hold
 *                  at least the 201s it got and at most that plus the POSTs in doubt.
 *       claim_ack  every claimed id is recorded; afterwards duplicates (one id handed
 *                  out twice) must be 0, every claimed id must be one we enqueued
 *                  ("unknown" 0) and, if the inbox was drained, every enqueued id must
 *                  have been claimed ("unclaimed" 0).
 *       fire       every created schedule must report next_run_at = the slot; after the
 *                  last one is seen fired we wait 200 ms, list again, and every schedule
 *                  must show run_count exactly 1 (the clock stands still, so a second
 *                  run would be a double fire).
 *     A workload also fails if any request got an error or an unexpected status.
 *  5. The clock for fire. When we start colonyd it gets --test-clock-file F (F in the
 *     temp directory, absent until fire, so enqueue and claim_ack run on the real clock)
 *     and --scheduler-interval-ms 10, whichever workloads run, so that the server's
 *     configuration is the same for all of them. F is written as µs since the epoch
 *     through a temp file and rename(), so colonyd never reads half a number. Against
 *     --url servers we cannot move their clock: fire then uses the real one. It picks
 *     the first minute boundary T at least 10 s + 2 ms per schedule away, creates the
 *     schedules with cron "M H * * *" (UTC) for T, so that no second slot falls within a
 *     day, checks that each got next_run_at = T (creation must finish before T), sleeps
 *     until T on our clock and times from there; the server's --scheduler-interval-ms
 *     (1000 by default) then adds up to one interval, and the two hosts' clocks are
 *     assumed to agree. The JSON line says "clock":"test" or "real".
 *     On a database that outlives the run (--db, --url) fire's workspaces are tombstoned
 *     afterwards (DELETE …?confirm=true), so their schedules never fire again — a later
 *     run at the test clock's 2030 would otherwise fire them too. Schedules other runs or
 *     users left on such a database that are due at the test time fire with ours and
 *     slow the measurement (a fresh SQLite file has none).
 *  6. The server we start (benchkit.c, note 4; with the extra arguments of note 5) must
 *     exit 0 within 20 s of SIGTERM. If it dies during the run, the remaining workloads
 *     are skipped.
 *  7. SIGINT/SIGTERM are blocked in every thread and taken by main (sigtimedwait): they
 *     stop the current phase early, skip the rest and still clean up.
 *  8. Exit status: 0 when every workload verified with 0 errors and our server (if any)
 *     stopped cleanly; 1 otherwise; 2 for a usage error.
 */
#include "benchkit.h"

#include "../src/core/clock.h"
#include "../src/core/err.h"
#include "../src/core/id.h"
#include "../src/core/validate.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef COLONYD
#define COLONYD "build/colonyd"
#endif

#define MAX_CLIENTS 1024
#define LIST_PAGE 1000 /* colonyd's ?limit= maximum */
#define FIRE_WORKSPACES 20
#define FIRE_T0 "2030-01-07T10:00:30Z" /* the test clock before the jump */
#define POLL_MS 20
#define SETTLE_MS 200
#define ID_SZ (CO_ID_LEN + 1)

/* ------------------------------------------------------------------------------------ */
/* Utilities                                                                            */
/* ------------------------------------------------------------------------------------ */

static int64_t real_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A growable array of ids. */
typedef struct {
	char (*v)[ID_SZ];
	size_t n, cap;
} idvec;

static void idvec_push(idvec *a, const char *id)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 256;
		a->v = xrealloc(a->v, a->cap * sizeof *a->v);
	}
	memcpy(a->v[a->n++], id, ID_SZ);
}

static int id_cmp(const void *x, const void *y)
{
	return memcmp(x, y, CO_ID_LEN);
}

/* ------------------------------------------------------------------------------------ */
/* JSON reading beyond benchkit's member scanner (design note 2)                       */
/* ------------------------------------------------------------------------------------ */

/* Member `name` as an id (a UUID string) into out. */
static bool j_id(const char *obj, const char *name, char out[ID_SZ])
{
	const char *v;
	size_t vl;
	if (!j_member(obj, name, &v, &vl) || vl != CO_ID_LEN + 2 || v[0] != '"')
		return false;
	memcpy(out, v + 1, CO_ID_LEN);
	out[CO_ID_LEN] = 0;
	return co_id_valid(out);
}

/* Walks the elements of a JSON array. */
typedef struct {
	const char *p;
	bool first, bad;
} j_iter;

static void j_iter_init(j_iter *it, const char *body)
{
	it->p = j_ws(body);
	it->first = true;
	it->bad = *it->p != '[';
	if (!it->bad)
		it->p++;
}

/* The next element (its start in *el), or false at the end (it->bad if malformed). */
static bool j_next(j_iter *it, const char **el)
{
	if (it->bad)
		return false;
	const char *p = j_ws(it->p);
	if (it->first) {
		it->first = false;
		if (*p == ']')
			return false;
	} else if (*p == ',') {
		p = j_ws(p + 1);
	} else {
		it->bad = *p != ']';
		return false;
	}
	const char *e = j_value_end(p);
	if (!e) {
		it->bad = true;
		return false;
	}
	*el = p;
	it->p = e;
	return true;
}

/* ------------------------------------------------------------------------------------ */
/* HTTP helpers on benchkit's client (design note 1)                                    */
/* ------------------------------------------------------------------------------------ */

/* One request (body: NUL-terminated JSON, or NULL for none) through benchkit's client.
 * Returns 0 with *r filled (any status), or -1 on a transport failure (c->err says what;
 * the socket is closed). */
static int http(conn *c, const char *method, const char *path, const char *body, http_resp *r)
{
	return http_request(c, method, path, body, body ? strlen(body) : 0, r, NULL);
}

/* snprintf for error messages, where truncation is fine. */
__attribute__((format(printf, 3, 4))) static void fmt_err(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
}

/* Calls each(element) for every element of the list at `base` (GET base?limit=1000,
 * paged with &after=<last id>). Returns 0, or -1 with err filled. */
static int list_all(conn *c, const char *base, void (*each)(const char *el, void *arg), void *arg,
		    char *err, size_t errn)
{
	char path[256], after[ID_SZ] = "";
	for (;;) {
		snprintf(path, sizeof path, "%s?limit=%d%s%s", base, LIST_PAGE, after[0] ? "&after=" : "",
			 after);
		http_resp r;
		if (http(c, "GET", path, NULL, &r) != 0) {
			fmt_err(err, errn, "GET %s: %s", path, c->err);
			return -1;
		}
		if (r.status != 200) {
			fmt_err(err, errn, "GET %s → %d %.200s", path, r.status, r.body);
			return -1;
		}
		j_iter it;
		j_iter_init(&it, r.body);
		const char *el;
		int n = 0;
		while (j_next(&it, &el)) {
			if (!j_id(el, "id", after)) {
				fmt_err(err, errn, "GET %s: an element without an id", path);
				return -1;
			}
			each(el, arg);
			n++;
		}
		if (it.bad) {
			fmt_err(err, errn, "GET %s: not a JSON array: %.200s", path, r.body);
			return -1;
		}
		if (n < LIST_PAGE)
			return 0;
	}
}

/* ------------------------------------------------------------------------------------ */
/* The test clock of the server we start (design note 5)                               */
/* ------------------------------------------------------------------------------------ */

/* Writes the test clock file atomically (temp file + rename). */
static int write_clock(const char *path, int64_t us)
{
	char tmp[4300];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "%lld\n", (long long)us) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
		fprintf(stderr, "bench: cannot write the clock file %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Client threads and phases                                                            */
/* ------------------------------------------------------------------------------------ */

typedef struct bench bench;

typedef struct {
	bench *b;
	int id;
	pthread_t th;
	conn c; /* to this client's URL: timed requests */
	conn s; /* to the first URL: setup */
	uint64_t ok, errors, doubt, requests, reclaimed, end_ns;
	uint64_t *hist;
	bool drained;
	idvec ids;     /* claim_ack: enqueued in setup */
	idvec claimed; /* claim_ack: handed out during the run */
	char first_err[300];
} worker;

struct bench {
	target *tg;
	int n_tg;
	int clients;
	double duration;
	bool per_client_ws;
	int64_t messages, batch, schedules;
	bool test_clock, persistent;
	char clock[4200]; /* the test clock file of the server we start */
	worker *w;
	uint64_t *hist; /* merged */
	/* the current workload */
	char (*ws)[ID_SZ];
	int n_ws;
	char slot_txt[CO_RFC3339_LEN + 1]; /* fire: the expected next_run_at */
	char cron[32];
	/* the current phase */
	void (*fn)(worker *);
	bool timed;
	atomic_bool stop;
	atomic_int running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool go;
};

__attribute__((format(printf, 2, 3))) static void note(worker *w, const char *fmt, ...)
{
	if (w->first_err[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->first_err, sizeof w->first_err, fmt, ap);
	va_end(ap);
}

static bool stopping(bench *b)
{
	return atomic_load_explicit(&b->stop, memory_order_relaxed);
}

/* One request: timed in a timed phase. Returns the status, or -1 after a transport
 * failure (an error, in doubt, noted; then 1 ms of pause so a dead server is not spun
 * on). */
static int req(worker *w, conn *c, const char *method, const char *path, const char *body,
	       http_resp *r)
{
	uint64_t t0 = now_ns();
	int rc = http(c, method, path, body, r);
	uint64_t dt = now_ns() - t0;
	if (rc != 0) {
		w->errors++;
		w->doubt++;
		note(w, "%s %s: %s", method, path, c->err);
		sleep_ms(1);
		return -1;
	}
	if (w->b->timed) {
		w->requests++;
		w->hist[h_index(dt)]++;
	}
	return r->status;
}

static void bad(worker *w, const char *method, const char *path, const http_resp *r)
{
	w->errors++;
	note(w, "%s %s → %d %.200s", method, path, r->status, r->body);
}

static void *thread_main(void *arg)
{
	worker *w = arg;
	bench *b = w->b;
	pthread_mutex_lock(&b->mu);
	while (!b->go)
		pthread_cond_wait(&b->cv, &b->mu);
	pthread_mutex_unlock(&b->mu);
	if (!stopping(b))
		b->fn(w);
	w->end_ns = now_ns();
	conn_close(&w->c);
	conn_close(&w->s);
	atomic_fetch_sub(&b->running, 1);
	return NULL;
}

/* Runs fn on every client thread. Timed: released together, stopped after the duration;
 * *elapsed_s = release → last thread done. A signal stops it (*interrupted). Returns the
 * sum of the threads' errors, or UINT64_MAX if threads could not start. */
static uint64_t run_phase(bench *b, void (*fn)(worker *), bool timed, double *elapsed_s,
			  bool *interrupted)
{
	b->fn = fn;
	b->timed = timed;
	b->go = false;
	atomic_store(&b->stop, *interrupted);
	atomic_store(&b->running, b->clients);
	for (int i = 0; i < b->clients; i++) {
		worker *w = &b->w[i];
		w->ok = w->errors = w->doubt = w->requests = w->reclaimed = w->end_ns = 0;
		w->drained = false;
		w->first_err[0] = 0;
		memset(w->hist, 0, H_BUCKETS * sizeof *w->hist);
	}
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 << 10);
	int started = 0;
	bool failed = false;
	for (; started < b->clients; started++) {
		int e = pthread_create(&b->w[started].th, &attr, thread_main, &b->w[started]);
		if (e) {
			fprintf(stderr, "bench: cannot start client thread %d: %s\n", started, strerror(e));
			atomic_store(&b->stop, true);
			atomic_fetch_sub(&b->running, b->clients - started);
			failed = true;
			break;
		}
	}
	pthread_attr_destroy(&attr);
	pthread_mutex_lock(&b->mu);
	uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)(b->duration * 1e9);
	b->go = true;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
	while (atomic_load(&b->running) > 0) {
		uint64_t now = now_ns();
		long ms = 50;
		if (timed && !stopping(b)) {
			if (now >= deadline)
				atomic_store(&b->stop, true);
			else if (deadline - now < 50000000u)
				ms = (long)((deadline - now) / 1000000u) + 1;
		}
		if (wait_signal(ms)) {
			*interrupted = true;
			atomic_store(&b->stop, true);
		}
	}
	uint64_t last = t0, errors = 0;
	for (int i = 0; i < started; i++) {
		pthread_join(b->w[i].th, NULL);
		if (b->w[i].end_ns > last)
			last = b->w[i].end_ns;
		errors += b->w[i].errors;
	}
	if (elapsed_s)
		*elapsed_s = (double)(last - t0) / 1e9;
	return failed ? UINT64_MAX : errors;
}

/* Prints the first few errors the threads noted. */
static void show_errors(bench *b, const char *what)
{
	for (int i = 0, shown = 0; i < b->clients && shown < 3; i++)
		if (b->w[i].first_err[0]) {
			fprintf(stderr, "bench: %s: %s\n", what, b->w[i].first_err);
			shown++;
		}
}

/* Creates n root workspaces bench-inbox-<uuid> on the first URL into b->ws. */
static int create_workspaces(bench *b, conn *c, int n)
{
	free(b->ws);
	b->ws = xcalloc((size_t)n, sizeof *b->ws);
	b->n_ws = 0;
	for (int i = 0; i < n; i++) {
		co_id rnd;
		char body[128];
		http_resp r;
		if (co_id_new(&rnd) != CO_OK) {
			fprintf(stderr, "bench: cannot make a random workspace name\n");
			return -1;
		}
		snprintf(body, sizeof body, "{\"name\":\"bench-inbox-%s\"}", rnd.s);
		if (http(c, "POST", "/workspaces", body, &r) != 0) {
			fprintf(stderr, "bench: POST /workspaces: %s\n", c->err);
			return -1;
		}
		if (r.status != 201 || !j_id(r.body, "id", b->ws[i])) {
			fprintf(stderr, "bench: POST /workspaces → %d %.300s\n", r.status, r.body);
			return -1;
		}
		b->n_ws++;
	}
	return 0;
}

/* Totals of the last phase; merges the histograms into b->hist. */
static void totals(bench *b, uint64_t *ok, uint64_t *errors, uint64_t *doubt, uint64_t *requests)
{
	*ok = *errors = *doubt = *requests = 0;
	memset(b->hist, 0, H_BUCKETS * sizeof *b->hist);
	for (int i = 0; i < b->clients; i++) {
		worker *w = &b->w[i];
		*ok += w->ok;
		*errors += w->errors;
		*doubt += w->doubt;
		*requests += w->requests;
		for (size_t k = 0; k < H_BUCKETS; k++)
			b->hist[k] += w->hist[k];
	}
}

/* The members every workload's JSON line starts with (no closing brace). */
static void print_head(bench *b, const char *name, double dur, uint64_t ok, uint64_t errors)
{
	printf("{\"workload\":\"%s\",\"clients\":%d,\"replicas\":%d,\"duration_s\":%.3f,"
	       "\"ok\":%llu,\"ok_per_s\":%.1f,\"errors\":%llu,\"p50_ms\":%.3f,\"p99_ms\":%.3f",
	       name, b->clients, b->n_tg, dur, (unsigned long long)ok,
	       dur > 0 ? (double)ok / dur : 0.0, (unsigned long long)errors,
	       h_quantile_us(b->hist, h_total(b->hist), 0.50) / 1000.0,
	       h_quantile_us(b->hist, h_total(b->hist), 0.99) / 1000.0);
}

/* ------------------------------------------------------------------------------------ */
/* enqueue                                                                              */
/* ------------------------------------------------------------------------------------ */

static void enqueue_run(worker *w)
{
	bench *b = w->b;
	char path[128], body[128], id[ID_SZ];
	snprintf(path, sizeof path, "/workspaces/%s/inbox", b->ws[b->n_ws == 1 ? 0 : w->id]);
	for (unsigned long long seq = 0; !stopping(b); seq++) {
		snprintf(body, sizeof body, "{\"body\":{\"client\":%d,\"seq\":%llu}}", w->id, seq);
		http_resp r;
		int st = req(w, &w->c, "POST", path, body, &r);
		if (st == 201 && j_id(r.body, "id", id))
			w->ok++;
		else if (st > 0)
			bad(w, "POST", path, &r);
	}
}

static void count_one(const char *el, void *arg)
{
	(void)el;
	(*(int64_t *)arg)++;
}

static bool workload_enqueue(bench *b, conn *mc, bool *interrupted)
{
	int n_ws = b->per_client_ws ? b->clients : 1;
	if (create_workspaces(b, mc, n_ws) != 0)
		return false;
	fprintf(stderr, "bench: enqueue: %d client(s) into %s for %.1f s\n", b->clients,
		n_ws == 1 ? "one shared workspace" : "one workspace each", b->duration);
	double dur = 0;
	uint64_t rc = run_phase(b, enqueue_run, true, &dur, interrupted);
	uint64_t ok, errors, doubt, requests;
	totals(b, &ok, &errors, &doubt, &requests);
	show_errors(b, "enqueue");

	/* Verification: each inbox holds its 201s, plus at most the POSTs in doubt. */
	bool verified = rc != UINT64_MAX;
	int64_t listed = 0;
	char err[300];
	for (int i = 0; i < n_ws && verified; i++) {
		int64_t n = 0;
		uint64_t want = 0, maybe = 0;
		for (int k = 0; k < b->clients; k++)
			if (n_ws == 1 || k == i) {
				want += b->w[k].ok;
				maybe += b->w[k].doubt;
			}
		char base[128];
		snprintf(base, sizeof base, "/workspaces/%s/inbox", b->ws[i]);
		if (list_all(mc, base, count_one, &n, err, sizeof err) != 0) {
			fprintf(stderr, "bench: enqueue: verification: %s\n", err);
			verified = false;
		} else if ((uint64_t)n < want || (uint64_t)n > want + maybe) {
			fprintf(stderr, "bench: enqueue: workspace %s holds %lld messages; %llu POSTs were "
					"answered 201 and %llu are in doubt\n",
				b->ws[i], (long long)n, (unsigned long long)want, (unsigned long long)maybe);
			verified = false;
		}
		listed += n;
	}
	conn_close(mc);
	fprintf(stderr, "bench: enqueue: %llu requests, %llu created, %llu errors (%llu in doubt), "
			"%lld listed afterwards: %s\n",
		(unsigned long long)requests, (unsigned long long)ok, (unsigned long long)errors,
		(unsigned long long)doubt, (long long)listed, verified ? "verified" : "NOT verified");
	print_head(b, "enqueue", dur, ok, errors);
	printf(",\"workspaces\":%d,\"listed\":%lld,\"verified\":%s}\n", n_ws, (long long)listed,
	       verified ? "true" : "false");
	fflush(stdout);
	return verified && errors == 0;
}

/* ------------------------------------------------------------------------------------ */
/* claim_ack                                                                            */
/* ------------------------------------------------------------------------------------ */

/* Setup: client i enqueues messages k ≡ i (mod clients) and records their ids. */
static void claim_setup(worker *w)
{
	bench *b = w->b;
	char path[128], body[96], id[ID_SZ];
	snprintf(path, sizeof path, "/workspaces/%s/inbox", b->ws[0]);
	w->ids.n = 0;
	for (int64_t k = w->id; k < b->messages && !stopping(b); k += b->clients) {
		snprintf(body, sizeof body, "{\"body\":{\"n\":%lld}}", (long long)k);
		http_resp r;
		int st = req(w, &w->s, "POST", path, body, &r);
		if (st == 201 && j_id(r.body, "id", id))
			idvec_push(&w->ids, id);
		else if (st > 0)
			bad(w, "POST", path, &r);
	}
}

static void claim_run(worker *w)
{
	bench *b = w->b;
	char claim_path[128], claim_body[96], ack_path[192], ack_body[96];
	snprintf(claim_path, sizeof claim_path, "/workspaces/%s/inbox/claim", b->ws[0]);
	snprintf(claim_body, sizeof claim_body, "{\"max\":%lld,\"lease_seconds\":300}",
		 (long long)b->batch);
	char(*got)[ID_SZ] = xcalloc((size_t)b->batch, ID_SZ);
	int64_t *att = xcalloc((size_t)b->batch, sizeof *att);
	w->claimed.n = 0;
	while (!stopping(b)) {
		http_resp r;
		int st = req(w, &w->c, "POST", claim_path, claim_body, &r);
		if (st != 200) {
			if (st > 0)
				bad(w, "POST", claim_path, &r);
			continue;
		}
		/* Copy the batch out: the reply buffer is reused by the acks. */
		j_iter it;
		j_iter_init(&it, r.body);
		const char *el;
		int64_t n = 0;
		bool ok = true;
		while (ok && n < b->batch && j_next(&it, &el)) {
			ok = j_id(el, "id", got[n]) && j_int(el, "attempts", &att[n]);
			if (ok)
				idvec_push(&w->claimed, got[n++]);
		}
		if (!ok || it.bad || (n == b->batch && j_next(&it, &el))) {
			w->errors++;
			note(w, "POST %s: unusable reply %.200s", claim_path, r.body);
			continue;
		}
		if (n == 0) {
			w->drained = true;
			break;
		}
		for (int64_t i = 0; i < n; i++) {
			if (att[i] != 1)
				w->reclaimed++;
			snprintf(ack_path, sizeof ack_path, "/workspaces/%s/inbox/%s/ack", b->ws[0], got[i]);
			snprintf(ack_body, sizeof ack_body, "{\"status\":\"completed\",\"attempt\":%lld}",
				 (long long)att[i]);
			st = req(w, &w->c, "POST", ack_path, ack_body, &r);
			if (st == 200 && j_str_is(r.body, "status", "completed"))
				w->ok++;
			else if (st > 0)
				bad(w, "POST", ack_path, &r);
		}
	}
	free(got);
	free(att);
}

static bool workload_claim_ack(bench *b, conn *mc, bool *interrupted)
{
	if (create_workspaces(b, mc, 1) != 0)
		return false;
	conn_close(mc);
	fprintf(stderr, "bench: claim_ack: enqueueing %lld messages (not timed)\n",
		(long long)b->messages);
	uint64_t t_setup = now_ns();
	if (run_phase(b, claim_setup, false, NULL, interrupted) != 0 || *interrupted) {
		show_errors(b, "claim_ack: setup");
		fprintf(stderr, "bench: claim_ack: setup failed\n");
		return false;
	}
	fprintf(stderr, "bench: claim_ack: enqueued in %.2f s; %d client(s) claim %lld at a time "
			"for at most %.1f s\n",
		(double)(now_ns() - t_setup) / 1e9, b->clients, (long long)b->batch, b->duration);
	double dur = 0;
	uint64_t rc = run_phase(b, claim_run, true, &dur, interrupted);
	uint64_t ok, errors, doubt, requests;
	totals(b, &ok, &errors, &doubt, &requests);
	show_errors(b, "claim_ack");

	/* Verification: no id handed out twice, none unknown, none left when drained. */
	size_t n_enq = 0, n_claimed = 0;
	bool drained = false;
	uint64_t reclaimed = 0;
	for (int i = 0; i < b->clients; i++) {
		n_enq += b->w[i].ids.n;
		n_claimed += b->w[i].claimed.n;
		drained = drained || b->w[i].drained;
		reclaimed += b->w[i].reclaimed;
	}
	char(*enq)[ID_SZ] = xcalloc(n_enq, ID_SZ), (*cl)[ID_SZ] = xcalloc(n_claimed, ID_SZ);
	size_t pe = 0, pc = 0;
	for (int i = 0; i < b->clients; i++) {
		if (b->w[i].ids.n)
			memcpy(enq + pe, b->w[i].ids.v, b->w[i].ids.n * ID_SZ);
		pe += b->w[i].ids.n;
		if (b->w[i].claimed.n)
			memcpy(cl + pc, b->w[i].claimed.v, b->w[i].claimed.n * ID_SZ);
		pc += b->w[i].claimed.n;
	}
	qsort(enq, n_enq, ID_SZ, id_cmp);
	qsort(cl, n_claimed, ID_SZ, id_cmp);
	uint64_t duplicates = 0, unknown = 0, distinct = 0;
	for (size_t i = 0; i < n_claimed; i++) {
		if (i > 0 && !id_cmp(cl[i], cl[i - 1])) {
			duplicates++;
			if (duplicates <= 3)
				fprintf(stderr, "bench: claim_ack: message %s was handed out twice\n", cl[i]);
			continue;
		}
		distinct++;
		if (!bsearch(cl[i], enq, n_enq, ID_SZ, id_cmp))
			unknown++;
	}
	uint64_t unclaimed = drained ? n_enq - (distinct - unknown) : 0;
	free(enq);
	free(cl);
	bool verified = rc != UINT64_MAX && duplicates == 0 && unknown == 0 && unclaimed == 0;
	fprintf(stderr, "bench: claim_ack: %llu requests; %zu claimed (%llu distinct, %llu "
			"duplicates, %llu unknown, %llu with attempts != 1), %llu acked, %llu errors; "
			"inbox %s%s: %s\n",
		(unsigned long long)requests, n_claimed, (unsigned long long)distinct,
		(unsigned long long)duplicates, (unsigned long long)unknown,
		(unsigned long long)reclaimed, (unsigned long long)ok, (unsigned long long)errors,
		drained ? "drained" : "not drained (the duration ended first)",
		unclaimed ? ", yet some enqueued messages were never claimed" : "",
		verified ? "verified" : "NOT verified");
	print_head(b, "claim_ack", dur, ok, errors);
	printf(",\"messages\":%zu,\"batch\":%lld,\"claimed\":%zu,\"duplicates\":%llu,\"unknown\":%llu,"
	       "\"unclaimed\":%llu,\"drained\":%s,\"verified\":%s}\n",
	       n_enq, (long long)b->batch, n_claimed, (unsigned long long)duplicates,
	       (unsigned long long)unknown, (unsigned long long)unclaimed, drained ? "true" : "false",
	       verified ? "true" : "false");
	fflush(stdout);
	for (int i = 0; i < b->clients; i++) {
		free(b->w[i].ids.v);
		free(b->w[i].claimed.v);
		memset(&b->w[i].ids, 0, sizeof b->w[i].ids);
		memset(&b->w[i].claimed, 0, sizeof b->w[i].claimed);
	}
	return verified && errors == 0;
}

/* ------------------------------------------------------------------------------------ */
/* fire                                                                                 */
/* ------------------------------------------------------------------------------------ */

/* Setup: client i creates schedules j ≡ i (mod clients), schedule j in workspace
 * j % n_ws; each must answer next_run_at = the slot. */
static void fire_setup(worker *w)
{
	bench *b = w->b;
	char path[128], body[256];
	for (int64_t j = w->id; j < b->schedules && !stopping(b); j += b->clients) {
		snprintf(path, sizeof path, "/workspaces/%s/schedules", b->ws[j % b->n_ws]);
		snprintf(body, sizeof body,
			 "{\"name\":\"fire-%07lld\",\"cron_expr\":\"%s\",\"prompt\":\"bench fire %lld\"}",
			 (long long)j, b->cron, (long long)j);
		http_resp r;
		int st = req(w, &w->s, "POST", path, body, &r);
		if (st == 201 && j_str_is(r.body, "next_run_at", b->slot_txt))
			w->ok++;
		else if (st > 0)
			bad(w, "POST", path, &r);
	}
}

typedef struct {
	int64_t n, fired, once;
} sched_count;

static void count_sched(const char *el, void *arg)
{
	sched_count *c = arg;
	int64_t runs = -1;
	c->n++;
	if (j_int(el, "run_count", &runs)) {
		c->fired += runs >= 1;
		c->once += runs == 1;
	}
}

static bool workload_fire(bench *b, conn *mc, bool *interrupted)
{
	int n_ws = b->schedules < FIRE_WORKSPACES ? (int)b->schedules : FIRE_WORKSPACES;
	if (create_workspaces(b, mc, n_ws) != 0)
		return false;
	conn_close(mc);
	int64_t slot;
	if (b->test_clock) {
		int64_t t0;
		co_rfc3339_parse(FIRE_T0, &t0);
		slot = (t0 / 60000000 + 1) * 60000000;
		snprintf(b->cron, sizeof b->cron, "* * * * *");
		if (write_clock(b->clock, t0) != 0)
			return false;
	} else {
		int64_t margin = 10000000 + b->schedules * 2000;
		slot = ((real_us() + margin) / 60000000 + 1) * 60000000;
		snprintf(b->cron, sizeof b->cron, "%d %d * * *", (int)(slot / 60000000 % 60),
			 (int)(slot / 3600000000 % 24));
	}
	co_rfc3339_format(slot, b->slot_txt);
	fprintf(stderr, "bench: fire: creating %lld schedules \"%s\" over %d workspaces (not timed), "
			"slot %s on the %s clock\n",
		(long long)b->schedules, b->cron, n_ws, b->slot_txt, b->test_clock ? "test" : "real");
	uint64_t t_setup = now_ns();
	if (run_phase(b, fire_setup, false, NULL, interrupted) != 0 || *interrupted) {
		show_errors(b, "fire: setup");
		fprintf(stderr, "bench: fire: setup failed%s\n",
			b->test_clock ? "" : " (did creation overrun the slot? fewer --schedules)");
		return false;
	}
	fprintf(stderr, "bench: fire: created in %.2f s\n", (double)(now_ns() - t_setup) / 1e9);

	/* The jump (or, on the real clock, the wait for the slot). */
	uint64_t t0;
	if (b->test_clock) {
		if (write_clock(b->clock, slot + 30000000) != 0)
			return false;
		t0 = now_ns();
	} else {
		int64_t left;
		while ((left = slot - real_us()) > 0 && !*interrupted)
			if (wait_signal(left / 1000 > 200 ? 200 : left / 1000 + 1))
				*interrupted = true;
		int64_t late = real_us() - slot;
		t0 = now_ns() - (uint64_t)(late > 0 ? late : 0) * 1000u;
	}

	/* Poll until every workspace shows all its schedules fired. */
	int64_t *fired = xcalloc((size_t)n_ws, sizeof *fired);
	bool *done = xcalloc((size_t)n_ws, sizeof *done);
	int n_done = 0;
	uint64_t last = 0, polls = 0, poll_errors = 0;
	uint64_t timeout = (uint64_t)(30 + b->schedules / 100) * 1000000000u;
	char err[300];
	memset(b->hist, 0, H_BUCKETS * sizeof *b->hist);
	while (n_done < n_ws && !*interrupted) {
		for (int i = 0; i < n_ws; i++) {
			if (done[i])
				continue;
			char base[128];
			sched_count sc = {0};
			snprintf(base, sizeof base, "/workspaces/%s/schedules", b->ws[i]);
			polls++;
			if (list_all(mc, base, count_sched, &sc, err, sizeof err) != 0) {
				if (poll_errors++ < 3)
					fprintf(stderr, "bench: fire: poll: %s\n", err);
				continue;
			}
			uint64_t t = now_ns() - t0;
			if (sc.fired > fired[i])
				b->hist[h_index(t)] += (uint64_t)(sc.fired - fired[i]);
			fired[i] = sc.fired;
			int64_t expect = b->schedules / n_ws + (i < b->schedules % n_ws);
			if (sc.fired >= expect) {
				done[i] = true;
				n_done++;
				if (t > last)
					last = t;
			}
		}
		if (n_done == n_ws)
			break;
		if (now_ns() - t0 > timeout) {
			fprintf(stderr, "bench: fire: not every schedule fired within %.0f s\n",
				(double)timeout / 1e9);
			break;
		}
		if (wait_signal(POLL_MS))
			*interrupted = true;
	}
	double dur = (double)(n_done == n_ws ? last : now_ns() - t0) / 1e9;
	int64_t fired_total = 0;
	for (int i = 0; i < n_ws; i++)
		fired_total += fired[i];

	/* Exactly once: 200 ms later every schedule must show run_count 1. */
	sleep_ms(SETTLE_MS);
	sched_count all = {0};
	for (int i = 0; i < n_ws; i++) {
		char base[128];
		snprintf(base, sizeof base, "/workspaces/%s/schedules", b->ws[i]);
		if (list_all(mc, base, count_sched, &all, err, sizeof err) != 0) {
			fprintf(stderr, "bench: fire: final check: %s\n", err);
			poll_errors++;
		}
	}
	bool verified = all.n == b->schedules && all.once == b->schedules && n_done == n_ws;
	uint64_t errors = poll_errors + (uint64_t)(b->schedules - all.once);
	double per_s = dur > 0 ? (double)fired_total / dur : 0;
	fprintf(stderr, "bench: fire: %lld of %lld schedules fired in %.3f s (%.1f fires/s, %llu "
			"poll requests); afterwards %lld listed, %lld with run_count 1, %lld fired at "
			"all: %s\n",
		(long long)fired_total, (long long)b->schedules, dur, per_s, (unsigned long long)polls,
		(long long)all.n, (long long)all.once, (long long)all.fired,
		verified ? "verified" : "NOT verified");

	/* On a database that outlives us, stop these schedules for good (design note 5). */
	if (b->persistent) {
		for (int i = 0; i < n_ws; i++) {
			char path[128];
			http_resp r;
			snprintf(path, sizeof path, "/workspaces/%s?confirm=true", b->ws[i]);
			if (http(mc, "DELETE", path, NULL, &r) != 0 || r.status / 100 != 2)
				fprintf(stderr, "bench: fire: cleanup: DELETE %s failed\n", path);
		}
	}
	conn_close(mc);
	free(fired);
	free(done);
	print_head(b, "fire", dur, (uint64_t)all.once, errors);
	printf(",\"schedules\":%lld,\"workspaces\":%d,\"clock\":\"%s\",\"fires_per_s\":%.1f,"
	       "\"run_count_1\":%lld,\"verified\":%s}\n",
	       (long long)b->schedules, n_ws, b->test_clock ? "test" : "real", per_s,
	       (long long)all.once, verified ? "true" : "false");
	fflush(stdout);
	return verified && errors == 0;
}

/* ------------------------------------------------------------------------------------ */
/* main                                                                                 */
/* ------------------------------------------------------------------------------------ */

static const char *const WL_NAMES[] = {"enqueue", "claim_ack", "fire"};
#define N_WL 3

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_inbox [options]\n"
		"\n"
		"Load benchmark of colonyd's inbox and scheduler. One JSON line per workload on\n"
		"stdout; details on stderr.\n"
		"\n"
		"  --workload NAME   enqueue, claim_ack or fire; repeatable (default: all three,\n"
		"                    always run in that order)\n"
		"  --clients N       concurrent clients, one connection each (default 16)\n"
		"  --duration S      seconds for enqueue and claim_ack (default 10)\n"
		"  --colonyd PATH    colonyd to start (default %s)\n"
		"  --db URL          start it on this PostgreSQL database instead of a fresh SQLite file\n"
		"  --url URL[,URL]   target running colonyd replicas instead (repeatable); fire then\n"
		"                    waits for a real minute boundary\n"
		"  --shared-workspace       enqueue: all clients into one workspace (default)\n"
		"  --per-client-workspaces  enqueue: one workspace per client\n"
		"  --messages M      claim_ack: messages enqueued before the run (default 20000)\n"
		"  --batch K         claim_ack: max per claim, 1..100 (default 1)\n"
		"  --schedules S     fire: schedules (default 2000)\n"
		"  --help            print this help and exit\n"
		"\n"
		"Exit status: 0 all verified with no errors; 1 failure; 2 usage error.\n",
		COLONYD);
}

static int int_opt(const char *name, const char *v, int64_t min, int64_t max, int64_t *out)
{
	if (co_parse_i64(v, min, max, out) != CO_OK) {
		fprintf(stderr, "bench: --%s: %s\n", name, co_err_msg());
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static bench b; /* static: the early usage-error returns leave it reachable */
	const char *colonyd = COLONYD, *db = NULL;
	bool colonyd_given = false;
	unsigned selected = 0;
	int64_t clients = 16;
	b.duration = 10;
	b.messages = 20000;
	b.batch = 1;
	b.schedules = 2000;
	static const struct option opts[] = {
		{"workload", required_argument, 0, 'w'},
		{"clients", required_argument, 0, 'n'},
		{"duration", required_argument, 0, 'd'},
		{"colonyd", required_argument, 0, 'c'},
		{"db", required_argument, 0, 'D'},
		{"url", required_argument, 0, 'u'},
		{"shared-workspace", no_argument, 0, 'S'},
		{"per-client-workspaces", no_argument, 0, 'P'},
		{"messages", required_argument, 0, 'm'},
		{"batch", required_argument, 0, 'b'},
		{"schedules", required_argument, 0, 's'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'w': {
			int k = 0;
			while (k < N_WL && strcmp(optarg, WL_NAMES[k]) != 0)
				k++;
			if (k == N_WL) {
				fprintf(stderr, "bench: unknown workload '%s' (enqueue, claim_ack, fire)\n",
					optarg);
				return 2;
			}
			selected |= 1u << k;
			break;
		}
		case 'n':
			if (int_opt("clients", optarg, 1, MAX_CLIENTS, &clients))
				return 2;
			break;
		case 'd': {
			char *end;
			errno = 0;
			b.duration = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(b.duration > 0 && b.duration <= 86400)) {
				fprintf(stderr, "bench: --duration wants seconds in (0, 86400], got '%s'\n",
					optarg);
				return 2;
			}
			break;
		}
		case 'c':
			colonyd = optarg;
			colonyd_given = true;
			break;
		case 'D': db = optarg; break;
		case 'u':
			if (add_urls(optarg, &b.tg, &b.n_tg, NULL) != 0)
				return 2;
			break;
		case 'S': b.per_client_ws = false; break;
		case 'P': b.per_client_ws = true; break;
		case 'm':
			if (int_opt("messages", optarg, 1, 10000000, &b.messages))
				return 2;
			break;
		case 'b':
			if (int_opt("batch", optarg, 1, 100, &b.batch))
				return 2;
			break;
		case 's':
			if (int_opt("schedules", optarg, 1, 1000000, &b.schedules))
				return 2;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bench: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (b.n_tg && (colonyd_given || db)) {
		fprintf(stderr, "bench: --url targets running servers: it excludes --colonyd and --db\n");
		return 2;
	}
	if (!selected)
		selected = (1u << N_WL) - 1;

	block_signals();

	server_proc srv = {0};
	bool own = b.n_tg == 0;
	if (own) {
		unsigned port;
		if (server_prepare(&srv, colonyd, "colony-bench-inbox") != 0)
			return 1;
		snprintf(b.clock, sizeof b.clock, "%s/clock", srv.dir);
		const char *const extra[] = {"--test-clock-file", b.clock, "--scheduler-interval-ms",
					     "10", NULL};
		if (server_start(&srv, db, extra, &port) != 0)
			return 1;
		b.tg = xcalloc(1, sizeof *b.tg);
		b.n_tg = 1;
		target_loopback(&b.tg[0], port);
		fprintf(stderr, "bench: started %s (pid %d) on %s, %s, temp dir %s\n", colonyd,
			(int)srv.pid, b.tg[0].host, db ? "PostgreSQL database" : "fresh SQLite file",
			srv.dir);
	} else if (b.n_tg > 1) {
		fprintf(stderr, "bench: %d replicas: client i uses URL i %% %d; setup and checks use %s\n",
			b.n_tg, b.n_tg, b.tg[0].host);
	}
	b.clients = (int)clients;
	b.test_clock = own;
	b.persistent = !own || db != NULL;
	pthread_mutex_init(&b.mu, NULL);
	pthread_cond_init(&b.cv, NULL);
	b.hist = xcalloc(H_BUCKETS, sizeof *b.hist);
	b.w = xcalloc((size_t)b.clients, sizeof *b.w);
	for (int i = 0; i < b.clients; i++) {
		b.w[i].b = &b;
		b.w[i].id = i;
		b.w[i].hist = xcalloc(H_BUCKETS, sizeof *b.w[i].hist);
		conn_init(&b.w[i].c, &b.tg[i % b.n_tg]);
		conn_init(&b.w[i].s, &b.tg[0]);
	}
	conn mc;
	conn_init(&mc, &b.tg[0]);

	bool (*const run[N_WL])(bench *, conn *, bool *) = {workload_enqueue, workload_claim_ack,
							     workload_fire};
	bool all_ok = true, interrupted = false;
	int ran = 0;
	for (int k = 0; k < N_WL && !interrupted; k++) {
		if (!(selected & (1u << k)))
			continue;
		if (own && !server_alive(&srv)) {
			all_ok = false;
			break;
		}
		ran++;
		if (!run[k](&b, &mc, &interrupted)) {
			all_ok = false;
			fprintf(stderr, "bench: %s FAILED\n", WL_NAMES[k]);
		}
	}

	for (int i = 0; i < b.clients; i++) {
		conn_free(&b.w[i].c);
		conn_free(&b.w[i].s);
		free(b.w[i].hist);
		free(b.w[i].ids.v); /* claim_ack frees them, unless it failed early */
		free(b.w[i].claimed.v);
	}
	conn_free(&mc);
	free(b.w);
	free(b.hist);
	free(b.ws);
	bool server_ok = !own || server_stop(&srv) == 0;
	pthread_mutex_destroy(&b.mu);
	pthread_cond_destroy(&b.cv);
	bool pass = all_ok && server_ok && !interrupted;
	fprintf(stderr, "bench: %s — %d workload(s), %d client(s)%s%s\n", pass ? "PASS" : "FAIL", ran,
		b.clients, server_ok ? "" : "; the server did not stop cleanly",
		interrupted ? "; interrupted" : "");
	free(b.tg);
	return pass ? 0 : 1;
}
