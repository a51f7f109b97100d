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
 * Auth. Requests carry the admin token (benchkit.c note 1), which the gate checks without
 * the store. With --as-workspace the bench mints a token of its workspace after setup
 * (as the admin) and every later request carries that one instead, so the figures
 * include the gate's token lookup (a read by prefix, a hash comparison, the rate limit
 * bucket; start colonyd with --rate-limit 0 or a high rate, as the server we start is).
 *
 * For each workload it prints ONE JSON line on stdout (with "replicas": n, 1 for one
 * server), details on stderr, and at the end one human summary line on stderr.
 *
 * DESIGN NOTES
 *  The HTTP client, the JSON scanner, the latency histogram and the colonyd we start are
 *  shared with bench_inbox: their design notes are in benchkit.c (client: note 1, JSON:
 *  note 2, histogram: note 3, server: note 4).
 *  1. Client. Each client thread owns one keep-alive connection to its URL; a GET found
 *     stale on a reused connection is re-sent once, a POST never is (it may have been
 *     applied): it counts as an error instead.
 *  2. Reply bodies are read with benchkit's top-level JSON member scanner.
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
 *                  per-thread histogram (benchkit.c, note 3), merged after the run.
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
 *  5. The server we start (benchkit.c, note 4) gets a fresh SQLite file. If it exits on
 *     its own, that is a failure: it is reported after the workload in progress, and
 *     the remaining workloads are skipped.
 *  6. SIGINT/SIGTERM are blocked in every thread and taken by main with sigtimedwait:
 *     they end the current workload early, skip the rest, and still clean up.
 *  7. Exit status: 0 when every workload verified with 0 errors and the server (if
 *     ours) stopped cleanly; 1 otherwise; 2 for a usage error.
 */
#include "benchkit.h"

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
#include <unistd.h>

#define STATUS_SLOTS 600            /* status_count[0] = transport errors */
#define DEFAULT_KEYS 10000u
#define MAX_CLIENTS 4096
#define MAX_KEYS 10000000

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
	bool as_workspace; /* --as-workspace: requests carry a token of ws */
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
/* --as-workspace: mints a token of b->ws (as the admin) and makes it the one every
 * later request sends. 0 or -1 (message printed). */
static int mint_token(bench *b, conn *c)
{
	char path[128];
	snprintf(path, sizeof path, "/workspaces/%s/tokens", b->ws);
	http_resp r;
	bool reconnected;
	const char *v;
	size_t vl;
	if (http_request(c, "POST", path, NULL, 0, &r, &reconnected) != 0 || r.status != 201 ||
	    !j_member(r.body, "auth_token", &v, &vl) || vl < 3 || vl > 120 || v[0] != '"') {
		fprintf(stderr, "bench: minting a workspace token failed: %s\n",
			c->err[0] ? c->err : "unexpected answer");
		return -1;
	}
	char tok[128];
	snprintf(tok, sizeof tok, "%.*s", (int)(vl - 2), v + 1);
	bench_set_token(tok);
	fprintf(stderr, "bench: requests now carry a token of workspace %s\n", b->ws);
	return 0;
}

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
				rc = b->as_workspace ? mint_token(b, &c) : 0;
			}
		}
	}
	conn_free(&c);
	return rc;
}

/* ------------------------------------------------------------------------------------ */
/* main                                                                                 */
/* ------------------------------------------------------------------------------------ */

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
		"  --as-workspace   after setup, send a token of the bench's workspace (minted\n"
		"                   as the admin) instead of the admin token\n"
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
		{"as-workspace", no_argument, 0, 'a'},
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
		case 'a': b.as_workspace = true; break;
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
	block_signals();

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
		/* a token's requests are not to be rate limited here: the bench measures */
		static const char *const no_limit[] = {"--rate-limit", "0", NULL};
		if (server_prepare(&srv, colonyd, "colony-bench") ||
		    server_start(&srv, NULL, no_limit, &port))
			return 1;
		b.tg = xcalloc(1, sizeof *b.tg);
		b.n_tg = 1;
		target_loopback(&b.tg[0], port);
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
	if (!url) {
		server_ok = server_stop(&srv) == 0;
		if (server_ok)
			fprintf(stderr, "bench: colonyd stopped cleanly in %.0f ms\n", srv.stop_ms);
	}
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
