/*
 * bench_org.c — benchmark of POST /org/import (SPEC §4) with a large org template.
 *
 * It generates ONE realistic org template of exactly --nodes nodes (default 10,000 =
 * CO_ORG_MAX_NODES): 10 departments × 10 teams × ~99 agents, every node with one schedule
 * (a cron such as "0 9 * * 1-5", a timezone such as "Europe/Berlin", a ~100-byte prompt)
 * and one initial memory (a small JSON object), as compact JSON text ({"template":{…}}),
 * or with --yaml as the same document in block YAML (Content-Type: application/yaml). It
 * starts colonyd itself — a fresh SQLite file per phase, or with --db URL a fresh
 * PostgreSQL database per phase (design note 4) — and measures the wall time of single
 * HTTP requests, from the first byte sent to the last byte of the answer read:
 *
 *   transfer   the same body POSTed as text/plain: colonyd reads all of it and answers 415
 *              (the body's upload, the hop to a worker and the reply; no parsing).
 *   doc        the same template but with an invalid cron in its FIRST node: 400 naming
 *              that node, after the body was parsed (JSON or YAML) into a tree; doc −
 *              transfer is the document parse.
 *   parse      the same with the invalid cron in its LAST node: 400 after the document
 *              was parsed and every node validated into a plan; the store is never
 *              called. parse − doc is the validation of N nodes.
 *   dry_run    ?dry_run=true into the empty database: what a dry run costs as colonyd
 *              implements it (the store runs the whole import, then rolls it back) plus
 *              the full answer; nothing is kept.
 *   first      the first import into the empty database.
 *   reimport   the same template again: a no-op.
 *   same       on a fresh empty database, --clients (default 4) threads POST the same
 *              template at once: the wall time until all answered, and each one's time.
 *   distinct   on a fresh empty database, --clients threads POST different orgs at once
 *              (the org name and the top-level names differ): wall time and each one's.
 *
 * Each figure runs --runs times (default 3); the summary gives the median and the best.
 * Per run: phase A (fresh db: transfer, doc, parse, dry_run, first, reimport), phase B
 * (fresh db: same), phase C (fresh db: distinct).
 *
 * Output: on stdout the exact command line, the template's shape and body size, and one
 * summary line per figure; per-run details and every failed check on stderr.
 *
 * DESIGN NOTES
 *  1. Client. benchkit's http_request() always labels a body application/json and gives a
 *     socket 15 s, so the import POSTs go through a one-shot client here: one connection
 *     per request (connected BEFORE the clock starts, so the timed part is the request),
 *     "Connection: close", the whole body written, the reply read by Content-Length, 600 s
 *     timeouts. The same path serves JSON, YAML and the text/plain transfer figure, so the
 *     figures are comparable. Verification GETs use benchkit's keep-alive client.
 *  2. Concurrency. The client threads connect, then wait on a condition variable; main
 *     notes the time and releases them together. Wall = release → the last answer's last
 *     byte; each client's own time runs from its first byte sent.
 *  3. Checks (any failure: a line "bench: CHECK FAILED …" on stderr and exit status 1;
 *     the remaining figures still run). Answers are read with benchkit's JSON member
 *     scanner: {org, dry_run, created, reused, workspaces:[{id, created, …}],
 *     schedules:{created, updated, unchanged, kept_runtime}, memories:{created, kept}}
 *     (core/org.h).
 *       dry_run   200, dry_run true, created N, reused 0, schedules.created N, memories.
 *                 created N, N entries all with id null; the database still has 0
 *                 workspaces afterwards.
 *       first     201, created N, reused 0, schedules {N,0,0,0}, memories {N,0}, N
 *                 entries all created:true with distinct valid ids.
 *       reimport  200, created 0, reused N, schedules {0,0,N,0}, memories {0,N}, the
 *                 same ids in the same order as first. Then GET /workspaces (paged) lists
 *                 exactly N live workspaces, and three nodes (first, middle, last) each
 *                 have one schedule with source "template" and their memory key.
 *       same      every answer 200/201 (201 iff it created something), N entries, the
 *                 SAME ids in every answer (none null, all distinct), created + reused =
 *                 N each, and over all answers the sums of created, schedules.created and
 *                 memories.created are N each; the database lists exactly N workspaces.
 *       distinct  every answer 201 with created N, schedules.created N, memories.created
 *                 N; all clients × N ids distinct; the database lists clients × N.
 *       transfer  415.
 *       doc/parse 400, code "invalid_cron", path = the bad node's path.
 *  4. Databases. SQLite: each phase starts a new colonyd on a fresh file in a mkdtemp
 *     directory (benchkit.c, note 4). PostgreSQL (--db URL): the URL is used as an admin
 *     connection: for each phase `psql` runs CREATE DATABASE colony_bench_org_<pid>_<k>
 *     on it, colonyd is started on that database (the URL with its database name
 *     replaced; for a "key=value" string, " dbname=…" is appended), and after the phase
 *     colonyd is stopped and the database dropped (DROP DATABASE … WITH (FORCE)). This
 *     needs psql (--psql PATH) and CREATEDB. With --same-db every phase uses the --db
 *     database itself: org and top-level names then carry a per-phase tag (so each phase
 *     builds a new tree), the database is not empty, and the workspace-count checks
 *     compare the live count before and after (other writers to it would spoil them).
 *  5. colonyd is started with --no-scheduler (the template's schedules must not fire
 *     during a run: they would add writes to the figures) and --max-import-body of at
 *     least twice the body (≥ 32 MiB).
 *  6. SIGINT/SIGTERM are blocked and checked between requests (an import in flight is
 *     finished first); the bench then stops its colonyd, drops its databases and exits 1.
 *  7. Exit status: 0 when every check passed and every colonyd stopped cleanly; 1
 *     otherwise; 2 for a usage error.
 */
#include "benchkit.h"

#include "../src/core/err.h"
#include "../src/core/id.h"
#include "../src/core/org.h"
#include "../src/core/validate.h"

#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef COLONYD
#define COLONYD "build/colonyd"
#endif

#define ID_SZ (CO_ID_LEN + 1)
#define IMPORT_TIMEOUT_S 600 /* per send/recv of an import request */
#define LIST_PAGE 1000       /* colonyd's ?limit= maximum */
#define MAX_CLIENTS 32
#define MAX_RUNS 100
#define ORG_NAME "Acme"

/* ------------------------------------------------------------------------------------ */
/* Small utilities                                                                      */
/* ------------------------------------------------------------------------------------ */

/* A growable text buffer (exits on out-of-memory, like benchkit). */
typedef struct {
	char *p;
	size_t len, cap;
} sbuf;

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf *s, const char *fmt, ...)
{
	for (;;) {
		size_t room = s->cap - s->len;
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(s->p ? s->p + s->len : NULL, s->p ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			fprintf(stderr, "bench: vsnprintf failed\n");
			exit(1);
		}
		if (s->p && (size_t)n < room) {
			s->len += (size_t)n;
			return;
		}
		ensure_cap(&s->p, &s->cap, s->len + (size_t)n + 1);
	}
}

static void sb_puts(sbuf *s, const char *str)
{
	size_t n = strlen(str);
	ensure_cap(&s->p, &s->cap, s->len + n + 1);
	memcpy(s->p + s->len, str, n + 1);
	s->len += n;
}

static double ms_of(uint64_t ns)
{
	return (double)ns / 1e6;
}

static int dbl_cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

/* Median (mean of the middle two for an even count) and minimum of v[0..n). */
static void med_best(const double *v, int n, double *med, double *best)
{
	double *s = xcalloc((size_t)n, sizeof *s);
	memcpy(s, v, (size_t)n * sizeof *s);
	qsort(s, (size_t)n, sizeof *s, dbl_cmp);
	*med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	*best = s[0];
	free(s);
}

static int id_cmp(const void *x, const void *y)
{
	return memcmp(x, y, CO_ID_LEN);
}

/* Sorts ids[0..n) and counts adjacent duplicates. */
static size_t dup_ids(char (*ids)[ID_SZ], size_t n)
{
	qsort(ids, n, ID_SZ, id_cmp);
	size_t d = 0;
	for (size_t i = 1; i < n; i++)
		d += !memcmp(ids[i], ids[i - 1], CO_ID_LEN);
	return d;
}

/* "1234567" → "1,234,567" (for byte counts). */
static const char *grouped(size_t v, char out[32])
{
	char tmp[32];
	int n = snprintf(tmp, sizeof tmp, "%zu", v), o = 0;
	for (int i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = tmp[i];
	}
	out[o] = 0;
	return out;
}

/* ------------------------------------------------------------------------------------ */
/* The template                                                                         */
/* ------------------------------------------------------------------------------------ */

/* How N nodes are spread: D departments (top level), T teams (under departments,
 * round-robin), A agents (under teams, round-robin); D + T + A = N. */
typedef struct {
	int n, d, t, a;
} shape;

static shape shape_of(int n)
{
	shape s = {.n = n};
	s.d = n < 10 ? n : 10;
	int rest = n - s.d;
	s.t = rest < 10 * s.d ? rest : 10 * s.d;
	s.a = rest - s.t;
	return s;
}

static const char *const DEPTS[10] = {"Engineering", "Product",    "Sales",  "Marketing",
				      "Support",     "Finance",    "People", "Legal",
				      "Operations",  "Research"};
static const char *const TZS[10] = {"Europe/Berlin",    "America/New_York",    "Europe/London",
				    "Asia/Tokyo",       "America/Los_Angeles", "Australia/Sydney",
				    "Asia/Kolkata",     "America/Sao_Paulo",   "Europe/Paris",
				    "UTC"};
static const char *const CRONS[6] = {"0 9 * * 1-5", "30 8 * * 1-5", "0 17 * * 5",
				     "15 10 * * 1,3", "0 7 1 * *",   "45 13 * * 2-4"};
static const char *const ROLES[6] = {"engineer", "reviewer", "researcher",
				     "writer",   "analyst",  "tester"};
static const char *const SKILLS[8] = {"triage",   "code review", "testing",   "writing",
				      "research", "planning",    "analytics", "support"};

#define MEM_KEY "profile"

/* One node's fields (plain ASCII without quotes or backslashes: no escaping needed). */
typedef struct {
	char name[128];
	const char *role;
	int tier; /* 0: the template default */
	const char *sched, *cron, *tz;
	char prompt[256];
	const char *kind;
	char unit[128];
	int level;
	const char *skill1, *skill2;
	bool onboarded;
} node_spec;

/* Writes a node; if it has children, leaves its children list open (JSON) or starts it
 * (YAML). `ind` is the YAML indentation of the node's "- ". */
static void emit_node(sbuf *s, bool yaml, int ind, const node_spec *n, bool first,
		      bool has_children)
{
	if (!yaml) {
		sb_printf(s, "%s{\"name\":\"%s\",\"role\":\"%s\"", first ? "" : ",", n->name, n->role);
		if (n->tier)
			sb_printf(s, ",\"tier\":%d", n->tier);
		sb_printf(s,
			  ",\"schedules\":[{\"name\":\"%s\",\"cron_expr\":\"%s\",\"timezone\":\"%s\","
			  "\"prompt\":\"%s\"}]",
			  n->sched, n->cron, n->tz, n->prompt);
		sb_printf(s,
			  ",\"initial_memories\":[{\"key\":\"" MEM_KEY "\",\"value\":{\"kind\":\"%s\","
			  "\"unit\":\"%s\",\"level\":%d,\"skills\":[\"%s\",\"%s\"],\"onboarded\":%s}}]",
			  n->kind, n->unit, n->level, n->skill1, n->skill2,
			  n->onboarded ? "true" : "false");
		sb_puts(s, has_children ? ",\"children\":[" : "}");
		return;
	}
	int i2 = ind + 2, i4 = ind + 4, i6 = ind + 6, i8 = ind + 8, i10 = ind + 10;
	sb_printf(s, "%*s- name: \"%s\"\n%*srole: \"%s\"\n", ind, "", n->name, i2, "", n->role);
	if (n->tier)
		sb_printf(s, "%*stier: %d\n", i2, "", n->tier);
	sb_printf(s,
		  "%*sschedules:\n%*s- name: \"%s\"\n%*scron_expr: \"%s\"\n%*stimezone: \"%s\"\n"
		  "%*sprompt: \"%s\"\n",
		  i2, "", i4, "", n->sched, i6, "", n->cron, i6, "", n->tz, i6, "", n->prompt);
	sb_printf(s,
		  "%*sinitial_memories:\n%*s- key: \"" MEM_KEY "\"\n%*svalue:\n%*skind: \"%s\"\n"
		  "%*sunit: \"%s\"\n%*slevel: %d\n%*sskills:\n%*s- \"%s\"\n%*s- \"%s\"\n"
		  "%*sonboarded: %s\n",
		  i2, "", i4, "", i6, "", i8, "", n->kind, i8, "", n->unit, i8, "", n->level, i8, "",
		  i10, "", n->skill1, i10, "", n->skill2, i8, "", n->onboarded ? "true" : "false");
	if (has_children)
		sb_printf(s, "%*schildren:\n", i2, "");
}

static void emit_close(sbuf *s, bool yaml, bool has_children)
{
	if (!yaml && has_children)
		sb_puts(s, "]}");
}

static void set_prompt(node_spec *n, const char *what)
{
	snprintf(n->prompt, sizeof n->prompt,
		 "Review the open work of %s, summarise what changed since yesterday and post a "
		 "short %s note.",
		 n->name, what);
}

#define BAD_CRON "61 9 * * 1-5" /* minute 61: refused by validation */

/* The whole template for org `org` (its departments are named "<org> <Dept>", so two
 * orgs share no top-level name) into s. If bad_path is not NULL, node bad_at (in
 * pre-order: 0 is the first, n − 1 the last) gets the invalid cron BAD_CRON and its path
 * is written to bad_path. */
static void gen_template_at(sbuf *s, bool yaml, const char *org, shape sh, int bad_at,
			    char *bad_path, size_t bad_n)
{
	int emitted = 0;
	if (!bad_path)
		bad_at = -1;
	if (!yaml)
		sb_printf(s,
			  "{\"template\":{\"name\":\"%s\",\"defaults\":{\"runtime\":\"claude-code\","
			  "\"tier\":3},\"workspaces\":[",
			  org);
	else
		sb_printf(s,
			  "template:\n  name: \"%s\"\n  defaults:\n    runtime: \"claude-code\"\n"
			  "    tier: 3\n  workspaces:\n",
			  org);
	int agent_no = 0;
	for (int d = 0; d < sh.d; d++) {
		int teams = sh.t / sh.d + (d < sh.t % sh.d);
		node_spec n = {.role = "department-lead", .tier = 1, .sched = "weekly-review",
			       .cron = "0 9 * * 1", .tz = TZS[d % 10], .kind = "department",
			       .level = 5, .skill1 = "planning", .skill2 = "hiring", .onboarded = true};
		snprintf(n.name, sizeof n.name, "%s %s", org, DEPTS[d % 10]);
		snprintf(n.unit, sizeof n.unit, "%s", DEPTS[d % 10]);
		set_prompt(&n, "department");
		if (emitted++ == bad_at) {
			n.cron = BAD_CRON;
			snprintf(bad_path, bad_n, "%s/%s", org, n.name);
		}
		emit_node(s, yaml, 4, &n, d == 0, teams > 0);
		for (int j = 0; j < teams; j++) {
			int g = d + j * sh.d; /* the team's global index */
			int agents = sh.t ? sh.a / sh.t + (g < sh.a % sh.t) : 0;
			node_spec tn = {.role = "team-lead", .tier = 2, .sched = "daily-planning",
					.cron = "30 8 * * 1-5", .tz = TZS[d % 10], .kind = "team",
					.level = 4, .skill1 = "planning", .skill2 = "code review",
					.onboarded = true};
			snprintf(tn.name, sizeof tn.name, "%s Team %02d", DEPTS[d % 10], j + 1);
			snprintf(tn.unit, sizeof tn.unit, "%s", tn.name);
			set_prompt(&tn, "team");
			if (emitted++ == bad_at) {
				tn.cron = BAD_CRON;
				snprintf(bad_path, bad_n, "%s/%s/%s", org, n.name, tn.name);
			}
			emit_node(s, yaml, 8, &tn, j == 0, agents > 0);
			for (int k = 0; k < agents; k++, agent_no++) {
				node_spec an = {.role = ROLES[agent_no % 6],
						.sched = "standup",
						.cron = CRONS[agent_no % 6],
						.tz = TZS[(d + k) % 10],
						.kind = "agent",
						.level = 1 + agent_no % 3,
						.skill1 = SKILLS[agent_no % 8],
						.skill2 = SKILLS[(agent_no + 3) % 8],
						.onboarded = agent_no % 5 != 0};
				snprintf(an.name, sizeof an.name, "agent-%03d", k + 1);
				snprintf(an.unit, sizeof an.unit, "%s", tn.name);
				set_prompt(&an, "status");
				if (emitted++ == bad_at) {
					an.cron = BAD_CRON;
					snprintf(bad_path, bad_n, "%s/%s/%s/%s", org, n.name, tn.name,
						 an.name);
				}
				emit_node(s, yaml, 12, &an, k == 0, false);
			}
			emit_close(s, yaml, agents > 0);
		}
		emit_close(s, yaml, teams > 0);
	}
	if (!yaml)
		sb_puts(s, "]}}");
}

static void gen_template(sbuf *s, bool yaml, const char *org, shape sh)
{
	gen_template_at(s, yaml, org, sh, -1, NULL, 0);
}

/* ------------------------------------------------------------------------------------ */
/* The one-shot import client (design note 1)                                           */
/* ------------------------------------------------------------------------------------ */

typedef struct {
	int status;
	char *raw; /* the whole reply; body points into it, NUL-terminated */
	size_t raw_cap, raw_len;
	const char *body;
	size_t body_len;
} oreply;

/* Connects to t. Returns the socket, or -1 with err filled. */
static int os_connect(const target *t, char *err, size_t errn)
{
	int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errn, "socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct timeval tv = {IMPORT_TIMEOUT_S, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(fd, (const struct sockaddr *)&t->addr, t->addrlen) != 0) {
		snprintf(err, errn, "connect %.100s: %s", t->host, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int os_send(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads more of the reply; returns the bytes read, 0 at EOF, -1 on error. */
static ssize_t os_recv(int fd, oreply *r)
{
	ensure_cap(&r->raw, &r->raw_cap, r->raw_len + 65536 + 1);
	for (;;) {
		ssize_t n = recv(fd, r->raw + r->raw_len, r->raw_cap - r->raw_len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0)
			r->raw_len += (size_t)n;
		return n;
	}
}

/* Sends one request on the connected socket fd and reads the reply (which the server
 * ends by closing). Closes fd. Returns 0 with *r filled (any status), or -1 with err. */
static int os_request(int fd, const target *t, const char *method, const char *path,
		      const char *ctype, const char *body, size_t blen, oreply *r, char *err,
		      size_t errn)
{
	char head[1024];
	int hn = snprintf(head, sizeof head,
			  "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: colony-bench-org\r\n"
			  "Content-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			  method, path, t->host, ctype, blen);
	r->raw_len = 0;
	r->status = 0;
	r->body = NULL;
	r->body_len = 0;
	/* A failed send may still have a reply behind it (a 413 answered early): read on. */
	int send_errno = 0;
	if (os_send(fd, head, (size_t)hn) != 0 || os_send(fd, body, blen) != 0)
		send_errno = errno ? errno : EPIPE;
	size_t hdr_end = 0;
	const char *p;
	for (;;) {
		if (r->raw_len >= 4 && (p = memmem(r->raw, r->raw_len, "\r\n\r\n", 4))) {
			hdr_end = (size_t)(p - r->raw) + 4;
			int st;
			if (sscanf(r->raw, "HTTP/1.%*d %d", &st) != 1) {
				snprintf(err, errn, "malformed status line: %.60s", r->raw);
				close(fd);
				return -1;
			}
			if (st >= 200)
				break;
			memmove(r->raw, r->raw + hdr_end, r->raw_len - hdr_end); /* 1xx: skip */
			r->raw_len -= hdr_end;
			continue;
		}
		ssize_t n = os_recv(fd, r);
		if (n <= 0) {
			if (send_errno)
				snprintf(err, errn, "send: %s; no reply", strerror(send_errno));
			else
				snprintf(err, errn, "%s before the reply's headers",
					 n == 0 ? "connection closed" : strerror(errno));
			close(fd);
			return -1;
		}
	}
	r->raw[r->raw_len] = 0;
	sscanf(r->raw, "HTTP/1.%*d %d", &r->status);
	long long clen = -1;
	for (const char *line = strstr(r->raw, "\r\n") + 2; line < r->raw + hdr_end - 2;) {
		const char *eol = strstr(line, "\r\n");
		if (!strncasecmp(line, "content-length:", 15))
			clen = strtoll(line + 15, NULL, 10);
		line = eol + 2;
	}
	for (;;) {
		if (clen >= 0 && r->raw_len - hdr_end >= (size_t)clen)
			break;
		ssize_t n = os_recv(fd, r);
		if (n == 0 && clen < 0)
			break;
		if (n <= 0) {
			snprintf(err, errn, "%s inside the reply body (%zu of %lld bytes)",
				 n == 0 ? "connection closed" : strerror(errno), r->raw_len - hdr_end,
				 clen);
			close(fd);
			return -1;
		}
	}
	close(fd);
	r->body_len = clen >= 0 ? (size_t)clen : r->raw_len - hdr_end;
	r->raw[hdr_end + r->body_len] = 0;
	r->body = r->raw + hdr_end;
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Reading the answer                                                                   */
/* ------------------------------------------------------------------------------------ */

typedef struct {
	int status;
	size_t bytes;
	bool parsed;
	char why[160]; /* what could not be read, if !parsed */
	bool dry_run;
	int64_t created, reused, s_created, s_updated, s_unchanged, s_kept, m_created, m_kept;
	size_t n_ws, n_null, n_flag_created, n_bad_id;
	char (*ids)[ID_SZ]; /* per entry, in answer order; "" for id null */
	char first_path[256];
} answer;

static void answer_free(answer *a)
{
	free(a->ids);
	memset(a, 0, sizeof *a);
}

static bool sub_int(const char *obj, const char *member, const char *name, int64_t *out)
{
	const char *v;
	size_t n;
	return j_member(obj, member, &v, &n) && j_int(v, name, out);
}

/* Reads an import answer (status and body) into *a. */
static void answer_read(const oreply *r, answer *a)
{
	answer_free(a);
	a->status = r->status;
	a->bytes = r->body_len;
	const char *b = r->body, *v;
	size_t vl;
#define NEED(cond, what)                                                   \
	do {                                                               \
		if (!(cond)) {                                             \
			snprintf(a->why, sizeof a->why, "%s", what);       \
			return;                                            \
		}                                                          \
	} while (0)
	NEED(j_member(b, "dry_run", &v, &vl), "no dry_run member");
	a->dry_run = vl == 4 && !memcmp(v, "true", 4);
	NEED(j_int(b, "created", &a->created), "no created count");
	NEED(j_int(b, "reused", &a->reused), "no reused count");
	NEED(sub_int(b, "schedules", "created", &a->s_created), "no schedules.created");
	NEED(sub_int(b, "schedules", "updated", &a->s_updated), "no schedules.updated");
	NEED(sub_int(b, "schedules", "unchanged", &a->s_unchanged), "no schedules.unchanged");
	NEED(sub_int(b, "schedules", "kept_runtime", &a->s_kept), "no schedules.kept_runtime");
	NEED(sub_int(b, "memories", "created", &a->m_created), "no memories.created");
	NEED(sub_int(b, "memories", "kept", &a->m_kept), "no memories.kept");
	NEED(j_member(b, "workspaces", &v, &vl) && *v == '[', "no workspaces array");
	size_t cap = 0;
	const char *p = j_ws(v + 1);
	if (*p == ']')
		p = NULL;
	while (p) {
		const char *e = j_value_end(p);
		NEED(e && *p == '{', "a workspaces entry is not an object");
		if (a->n_ws == cap) {
			cap = cap ? cap * 2 : 1024;
			a->ids = xrealloc(a->ids, cap * sizeof *a->ids);
		}
		char *id = a->ids[a->n_ws];
		id[0] = 0;
		const char *iv, *fv;
		size_t il, fl;
		if (j_member(p, "id", &iv, &il) && il == 4 && !memcmp(iv, "null", 4)) {
			a->n_null++;
		} else if (j_member(p, "id", &iv, &il) && il == CO_ID_LEN + 2 && *iv == '"') {
			memcpy(id, iv + 1, CO_ID_LEN);
			id[CO_ID_LEN] = 0;
			if (!co_id_valid(id))
				a->n_bad_id++;
		} else {
			a->n_bad_id++;
		}
		if (j_member(p, "created", &fv, &fl) && fl == 4 && !memcmp(fv, "true", 4))
			a->n_flag_created++;
		if (a->n_ws == 0 && j_member(p, "path", &fv, &fl) && *fv == '"' && fl >= 2)
			snprintf(a->first_path, sizeof a->first_path, "%.*s", (int)(fl - 2), fv + 1);
		a->n_ws++;
		p = j_ws(e);
		if (*p == ',') {
			p = j_ws(p + 1);
		} else {
			NEED(*p == ']', "workspaces array malformed");
			p = NULL;
		}
	}
#undef NEED
	a->parsed = true;
}

/* ------------------------------------------------------------------------------------ */
/* The run                                                                              */
/* ------------------------------------------------------------------------------------ */

enum { F_TRANSFER, F_DOC, F_PARSE, F_DRY, F_FIRST, F_REIMPORT, F_SAME, F_DISTINCT, N_FIG };
static const char *const FIG_NAMES[N_FIG] = {"transfer", "doc",      "parse", "dry_run",
					     "first",    "reimport", "same",  "distinct"};

typedef struct {
	/* options */
	const char *colonyd, *db, *psql;
	bool same_db, yaml;
	int nodes, runs, clients;
	shape sh;
	/* the server of the current phase */
	server_proc srv;
	bool srv_up;
	target t;
	char dbname[64];  /* the fresh PostgreSQL database of the phase, or "" */
	char dburl[4300]; /* what colonyd gets for it */
	char max_body[32];
	int phase_seq;
	/* results */
	double fig[N_FIG][MAX_RUNS];
	int nfig[N_FIG];
	double client_ms[2][MAX_RUNS][MAX_CLIENTS]; /* same, distinct */
	size_t answer_bytes[N_FIG];
	int failures;
	bool server_failed, interrupted;
	bool start_failed; /* a colonyd or database could not be started: stop here */
	char last_fail[N_FIG][300];
} bench;

__attribute__((format(printf, 4, 5))) static bool check(bench *b, int fig, bool ok,
							const char *fmt, ...)
{
	if (ok)
		return true;
	char msg[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "bench: CHECK FAILED: %s: %s\n", FIG_NAMES[fig], msg);
	snprintf(b->last_fail[fig], sizeof b->last_fail[fig], "%s", msg);
	b->failures++;
	return false;
}

/* Checks an answer's counts against the expectation (−1: not checked). */
static bool check_counts(bench *b, int fig, const char *who, const answer *a, int want_status,
			 int64_t created, int64_t reused, int64_t sc, int64_t su, int64_t sn,
			 int64_t sk, int64_t mc, int64_t mk)
{
	if (!check(b, fig, want_status < 0 || a->status == want_status, "%s: status %d, want %d",
		   who, a->status, want_status))
		return false;
	if (!check(b, fig, a->parsed, "%s: answer %d unreadable (%s)", who, a->status, a->why))
		return false;
	bool ok = true;
	const struct {
		const char *name;
		int64_t got, want;
	} c[] = {{"created", a->created, created},
		 {"reused", a->reused, reused},
		 {"schedules.created", a->s_created, sc},
		 {"schedules.updated", a->s_updated, su},
		 {"schedules.unchanged", a->s_unchanged, sn},
		 {"schedules.kept_runtime", a->s_kept, sk},
		 {"memories.created", a->m_created, mc},
		 {"memories.kept", a->m_kept, mk}};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
		ok &= check(b, fig, c[i].want < 0 || c[i].got == c[i].want, "%s: %s %lld, want %lld",
			    who, c[i].name, (long long)c[i].got, (long long)c[i].want);
	ok &= check(b, fig, a->n_ws == (size_t)b->nodes, "%s: %zu workspaces entries, want %d",
		    who, a->n_ws, b->nodes);
	ok &= check(b, fig, a->n_bad_id == 0, "%s: %zu entries with an invalid id", who,
		    a->n_bad_id);
	return ok;
}

static bool stop_requested(bench *b)
{
	if (!b->interrupted && wait_signal(0))
		b->interrupted = true;
	return b->interrupted;
}

/* Runs psql on the admin URL with one SQL command. */
static int run_psql(const bench *b, const char *sql)
{
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "bench: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		execlp(b->psql, b->psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", b->db, "-c", sql,
		       (char *)NULL);
		fprintf(stderr, "bench: exec %s: %s\n", b->psql, strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench: psql failed on: %s\n", sql);
		return -1;
	}
	return 0;
}

/* The --db URL with its database name replaced by dbname (design note 4). */
static void url_with_db(const char *url, const char *dbname, char *out, size_t n)
{
	const char *scheme = strstr(url, "://");
	if (!scheme || (strncmp(url, "postgres://", 11) && strncmp(url, "postgresql://", 13))) {
		snprintf(out, n, "%s dbname=%s", url, dbname);
		return;
	}
	const char *auth = scheme + 3;
	const char *end = auth + strcspn(auth, "/?"); /* end of the authority */
	const char *query = end;
	if (*end == '/')
		query = end + 1 + strcspn(end + 1, "?");
	snprintf(out, n, "%.*s/%s%s", (int)(end - url), url, dbname, query);
}

/* Starts the phase's colonyd on a fresh database (design note 4). */
static int phase_begin(bench *b, const char *label)
{
	b->dbname[0] = 0;
	b->phase_seq++; /* names this phase's database, or its org names with --same-db */
	const char *db = NULL;
	if (b->db && b->same_db) {
		db = b->db;
	} else if (b->db) {
		snprintf(b->dbname, sizeof b->dbname, "colony_bench_org_%d_%d", (int)getpid(),
			 b->phase_seq);
		char sql[128];
		snprintf(sql, sizeof sql, "CREATE DATABASE %s", b->dbname);
		if (run_psql(b, sql) != 0) {
			fprintf(stderr, "bench: cannot create a fresh database (needs psql and "
					"CREATEDB on --db; or pass --same-db)\n");
			b->dbname[0] = 0;
			return -1;
		}
		url_with_db(b->db, b->dbname, b->dburl, sizeof b->dburl);
		db = b->dburl;
	}
	unsigned port;
	if (server_prepare(&b->srv, b->colonyd, "colony-bench-org") != 0)
		goto fail;
	const char *const extra[] = {"--no-scheduler", "--max-import-body", b->max_body, NULL};
	if (server_start(&b->srv, db, extra, &port) != 0)
		goto fail;
	b->srv_up = true;
	target_loopback(&b->t, port);
	fprintf(stderr, "bench: %s: colonyd pid %d on %s, %s%s\n", label, (int)b->srv.pid,
		b->t.host, !b->db ? "fresh SQLite file" : b->same_db ? "the --db database" : "fresh "
		"PostgreSQL database ", b->dbname);
	return 0;
fail:
	if (b->dbname[0]) {
		char sql[128];
		snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", b->dbname);
		run_psql(b, sql);
		b->dbname[0] = 0;
	}
	b->server_failed = true;
	b->start_failed = true;
	return -1;
}

static void phase_end(bench *b)
{
	if (b->srv_up) {
		if (server_stop(&b->srv) != 0) {
			fprintf(stderr, "bench: colonyd did not stop cleanly\n");
			b->server_failed = true;
		}
		b->srv_up = false;
	}
	if (b->dbname[0]) {
		char sql[128];
		snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", b->dbname);
		if (run_psql(b, sql) != 0)
			fprintf(stderr, "bench: could not drop database %s\n", b->dbname);
		b->dbname[0] = 0;
	}
}

/* The org name of a phase: a per-phase tag on a database that is not fresh. */
static void org_name(const bench *b, int k, char *out, size_t n)
{
	char tag[48] = "";
	if (b->same_db)
		snprintf(tag, sizeof tag, " p%d-%d", (int)getpid(), b->phase_seq);
	if (k < 0)
		snprintf(out, n, ORG_NAME "%s", tag);
	else
		snprintf(out, n, ORG_NAME " %d%s", k + 1, tag);
}

static const char *ctype_of(const bench *b)
{
	return b->yaml ? "application/yaml" : "application/json";
}

/* One timed request on a fresh connection: returns the ms, or -1 (message printed). */
static double timed_post(bench *b, const char *path, const char *ctype, const sbuf *body,
			 oreply *r)
{
	char err[256];
	int fd = os_connect(&b->t, err, sizeof err);
	if (fd < 0) {
		fprintf(stderr, "bench: POST %s: %s\n", path, err);
		return -1;
	}
	uint64_t t0 = now_ns();
	if (os_request(fd, &b->t, "POST", path, ctype, body->p, body->len, r, err, sizeof err)) {
		fprintf(stderr, "bench: POST %s: %s\n", path, err);
		return -1;
	}
	return ms_of(now_ns() - t0);
}

/* The live workspaces in the database (GET /workspaces paged), or -1. */
static int64_t count_workspaces(bench *b)
{
	conn c;
	conn_init(&c, &b->t);
	char path[128], after[ID_SZ] = "";
	int64_t total = 0;
	for (;;) {
		snprintf(path, sizeof path, "/workspaces?limit=%d%s%s", LIST_PAGE,
			 after[0] ? "&after=" : "", after);
		http_resp r;
		if (http_request(&c, "GET", path, NULL, 0, &r, NULL) != 0 || r.status != 200) {
			fprintf(stderr, "bench: GET %s failed: %s\n", path,
				c.err[0] ? c.err : "unexpected status");
			conn_free(&c);
			return -1;
		}
		int n = 0;
		const char *p = j_ws(r.body), *last = NULL;
		if (*p == '[')
			p = j_ws(p + 1);
		while (*p == '{') {
			const char *e = j_value_end(p);
			if (!e)
				break;
			last = p;
			n++;
			p = j_ws(e);
			if (*p == ',')
				p = j_ws(p + 1);
		}
		total += n;
		const char *iv;
		size_t il;
		if (n < LIST_PAGE || !last || !j_member(last, "id", &iv, &il) || il != CO_ID_LEN + 2)
			break;
		memcpy(after, iv + 1, CO_ID_LEN);
		after[CO_ID_LEN] = 0;
	}
	conn_free(&c);
	return total;
}

/* Spot check of one imported node: one template schedule and its memory key. */
static void spot_check(bench *b, const char *id)
{
	conn c;
	conn_init(&c, &b->t);
	char path[160];
	http_resp r;
	snprintf(path, sizeof path, "/workspaces/%s/schedules", id);
	if (check(b, F_REIMPORT, http_request(&c, "GET", path, NULL, 0, &r, NULL) == 0 &&
				      r.status == 200,
		  "GET %s failed", path)) {
		int n = 0;
		const char *p = j_ws(r.body);
		bool tmpl = true;
		if (*p == '[')
			p = j_ws(p + 1);
		while (*p == '{') {
			tmpl &= j_str_is(p, "source", "template");
			n++;
			const char *e = j_value_end(p);
			if (!e)
				break;
			p = j_ws(e);
			if (*p == ',')
				p = j_ws(p + 1);
		}
		check(b, F_REIMPORT, n == 1 && tmpl,
		      "workspace %s: %d schedules (want 1 with source \"template\")", id, n);
	}
	snprintf(path, sizeof path, "/workspaces/%s/memory/" MEM_KEY, id);
	check(b, F_REIMPORT, http_request(&c, "GET", path, NULL, 0, &r, NULL) == 0 && r.status == 200,
	      "GET %s: %d", path, r.status);
	conn_free(&c);
}

/* Phase A: transfer, doc, parse, dry_run, first, reimport on one fresh database. */
static void phase_single(bench *b, int run)
{
	char org[96];
	if (phase_begin(b, "phase A (transfer, doc, parse, dry_run, first, reimport)") != 0)
		return;
	org_name(b, -1, org, sizeof org);
	sbuf body = {0};
	gen_template(&body, b->yaml, org, b->sh);
	int64_t before = b->same_db ? count_workspaces(b) : 0;
	oreply r = {0};
	answer dry = {0}, first = {0}, re = {0};
	char who[32];
	snprintf(who, sizeof who, "run %d", run + 1);
	int N = b->nodes;
	double ms;

	/* transfer: the same bytes, refused as text/plain after being read whole */
	if ((ms = timed_post(b, "/org/import", "text/plain", &body, &r)) >= 0 &&
	    check(b, F_TRANSFER, r.status == 415, "%s: status %d, want 415: %.200s", who, r.status,
		  r.body)) {
		b->fig[F_TRANSFER][b->nfig[F_TRANSFER]++] = ms;
		fprintf(stderr, "bench: run %d transfer: %.1f ms (415)\n", run + 1, ms);
	} else if (ms < 0) {
		check(b, F_TRANSFER, false, "%s: request failed", who);
	}
	if (stop_requested(b))
		goto out;

	/* doc and parse: the same template with a bad cron in its first / last node: 400
	 * after the document was parsed, and after every node was validated too; the store
	 * is never called */
	for (int k = 0; k < 2; k++) {
		int fig = k ? F_PARSE : F_DOC;
		char bad_path[512] = "";
		sbuf bad = {0};
		gen_template_at(&bad, b->yaml, org, b->sh, k ? N - 1 : 0, bad_path, sizeof bad_path);
		ms = timed_post(b, "/org/import", ctype_of(b), &bad, &r);
		free(bad.p);
		if (!check(b, fig, ms >= 0, "%s: request failed", who))
			continue;
		const char *pv;
		size_t pl;
		bool path_ok = j_member(r.body, "path", &pv, &pl) && pl == strlen(bad_path) + 2 &&
			       !memcmp(pv + 1, bad_path, pl - 2);
		bool ok = check(b, fig, r.status == 400 && j_str_is(r.body, "code", "invalid_cron"),
				"%s: status %d, want 400 invalid_cron: %.200s", who, r.status, r.body);
		ok &= check(b, fig, path_ok, "%s: the error does not name path \"%s\": %.300s", who,
			    bad_path, r.body);
		if (ok)
			b->fig[fig][b->nfig[fig]++] = ms;
		fprintf(stderr, "bench: run %d %s: %.1f ms (%d)%s\n", run + 1, FIG_NAMES[fig], ms,
			r.status, ok ? "" : " NOT counted");
	}
	if (stop_requested(b))
		goto out;

	/* dry_run on the empty database */
	ms = timed_post(b, "/org/import?dry_run=true", ctype_of(b), &body, &r);
	if (check(b, F_DRY, ms >= 0, "%s: request failed", who)) {
		answer_read(&r, &dry);
		bool ok = check_counts(b, F_DRY, who, &dry, 200, N, 0, N, 0, 0, 0, N, 0);
		ok &= check(b, F_DRY, !dry.parsed || dry.dry_run, "%s: dry_run is not true", who);
		ok &= check(b, F_DRY, !dry.parsed || dry.n_null == (size_t)N,
			    "%s: %zu entries with id null, want %d", who, dry.n_null, N);
		int64_t after = count_workspaces(b);
		ok &= check(b, F_DRY, after == before, "%s: %lld workspaces after the dry run, want %lld",
			    who, (long long)after, (long long)before);
		if (ok)
			b->fig[F_DRY][b->nfig[F_DRY]++] = ms;
		b->answer_bytes[F_DRY] = dry.bytes;
		fprintf(stderr, "bench: run %d dry_run: %.1f ms (%d, answer %zu bytes)%s\n", run + 1, ms,
			dry.status, dry.bytes, ok ? "" : " NOT counted");
		if (!dry.parsed || dry.status / 100 != 2)
			fprintf(stderr, "bench:   answer: %.300s\n", r.body);
	}
	if (stop_requested(b))
		goto out;

	/* first import */
	ms = timed_post(b, "/org/import", ctype_of(b), &body, &r);
	if (!check(b, F_FIRST, ms >= 0, "%s: request failed", who))
		goto out;
	answer_read(&r, &first);
	bool ok = check_counts(b, F_FIRST, who, &first, 201, N, 0, N, 0, 0, 0, N, 0);
	if (first.parsed) {
		ok &= check(b, F_FIRST, !first.dry_run, "%s: dry_run true", who);
		ok &= check(b, F_FIRST, first.n_flag_created == (size_t)N,
			    "%s: %zu entries created:true, want %d", who, first.n_flag_created, N);
		ok &= check(b, F_FIRST, first.n_null == 0, "%s: %zu entries with id null", who,
			    first.n_null);
		char(*sorted)[ID_SZ] = xcalloc(first.n_ws, ID_SZ);
		memcpy(sorted, first.ids, first.n_ws * ID_SZ);
		size_t d = dup_ids(sorted, first.n_ws);
		free(sorted);
		ok &= check(b, F_FIRST, d == 0, "%s: %zu duplicate ids", who, d);
	}
	if (ok)
		b->fig[F_FIRST][b->nfig[F_FIRST]++] = ms;
	b->answer_bytes[F_FIRST] = first.bytes;
	fprintf(stderr, "bench: run %d first: %.1f ms (%d, answer %zu bytes, first path \"%s\")%s\n",
		run + 1, ms, first.status, first.bytes, first.first_path, ok ? "" : " NOT counted");
	if (!first.parsed || first.status / 100 != 2) {
		fprintf(stderr, "bench:   answer: %.300s\n", r.body);
		goto out;
	}
	if (stop_requested(b))
		goto out;

	/* re-import: a no-op */
	ms = timed_post(b, "/org/import", ctype_of(b), &body, &r);
	if (!check(b, F_REIMPORT, ms >= 0, "%s: request failed", who))
		goto out;
	answer_read(&r, &re);
	ok = check_counts(b, F_REIMPORT, who, &re, 200, 0, N, 0, 0, N, 0, 0, N);
	if (re.parsed) {
		ok &= check(b, F_REIMPORT, re.n_flag_created == 0, "%s: %zu entries created:true",
			    who, re.n_flag_created);
		size_t diff = 0;
		for (size_t i = 0; i < re.n_ws && i < first.n_ws; i++)
			diff += strcmp(re.ids[i], first.ids[i]) != 0;
		ok &= check(b, F_REIMPORT, diff == 0 && re.n_ws == first.n_ws,
			    "%s: %zu ids differ from the first import's", who, diff);
	}
	int64_t after = count_workspaces(b);
	ok &= check(b, F_REIMPORT, after - before == N,
		    "%s: the database lists %lld new workspaces, want %d", who,
		    (long long)(after - before), N);
	if (first.n_ws == (size_t)N) {
		spot_check(b, first.ids[0]);
		spot_check(b, first.ids[N / 2]);
		spot_check(b, first.ids[N - 1]);
	}
	if (ok)
		b->fig[F_REIMPORT][b->nfig[F_REIMPORT]++] = ms;
	b->answer_bytes[F_REIMPORT] = re.bytes;
	fprintf(stderr, "bench: run %d reimport: %.1f ms (%d, answer %zu bytes)%s\n", run + 1, ms,
		re.status, re.bytes, ok ? "" : " NOT counted");
	if (!re.parsed || re.status / 100 != 2)
		fprintf(stderr, "bench:   answer: %.300s\n", r.body);
out:
	answer_free(&dry);
	answer_free(&first);
	answer_free(&re);
	free(r.raw);
	free(body.p);
	phase_end(b);
}

/* ---- concurrent imports (design note 2) ----------------------------------------------- */

typedef struct {
	const bench *b;
	pthread_t th;
	const sbuf *body;
	int fd;
	uint64_t t_start, t_end;
	int rc;
	oreply r;
	char err[256];
} client;

typedef struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int ready;
	bool go;
} gate;

static gate g_gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false};

static void *client_main(void *arg)
{
	client *c = arg;
	c->fd = os_connect(&c->b->t, c->err, sizeof c->err);
	pthread_mutex_lock(&g_gate.mu);
	g_gate.ready++;
	pthread_cond_broadcast(&g_gate.cv);
	while (!g_gate.go)
		pthread_cond_wait(&g_gate.cv, &g_gate.mu);
	pthread_mutex_unlock(&g_gate.mu);
	c->t_start = now_ns();
	c->rc = c->fd < 0 ? -1
			  : os_request(c->fd, &c->b->t, "POST", "/org/import", ctype_of(c->b),
				       c->body->p, c->body->len, &c->r, c->err, sizeof c->err);
	c->t_end = now_ns();
	return NULL;
}

/* Phase B (distinct = false: every client the same template) or C (each its own org). */
static void phase_concurrent(bench *b, int run, bool distinct)
{
	int fig = distinct ? F_DISTINCT : F_SAME, K = b->clients, N = b->nodes;
	char label[96];
	snprintf(label, sizeof label, "phase %s (%d %s at once)", distinct ? "C" : "B", K,
		 distinct ? "different orgs" : "copies of one template");
	if (phase_begin(b, label) != 0)
		return;
	sbuf *bodies = xcalloc((size_t)K, sizeof *bodies);
	for (int i = 0; i < (distinct ? K : 1); i++) {
		char org[96];
		org_name(b, distinct ? i : -1, org, sizeof org);
		gen_template(&bodies[i], b->yaml, org, b->sh);
	}
	int64_t before = b->same_db ? count_workspaces(b) : 0;
	client *cl = xcalloc((size_t)K, sizeof *cl);
	answer *an = xcalloc((size_t)K, sizeof *an);
	g_gate.ready = 0;
	g_gate.go = false;
	int started = 0;
	for (int i = 0; i < K; i++) {
		cl[i].b = b;
		cl[i].body = &bodies[distinct ? i : 0];
		cl[i].fd = -1;
		if (pthread_create(&cl[i].th, NULL, client_main, &cl[i]) != 0) {
			fprintf(stderr, "bench: pthread_create failed\n");
			break;
		}
		started++;
	}
	pthread_mutex_lock(&g_gate.mu);
	while (g_gate.ready < started)
		pthread_cond_wait(&g_gate.cv, &g_gate.mu);
	uint64_t t0 = now_ns();
	g_gate.go = true;
	pthread_cond_broadcast(&g_gate.cv);
	pthread_mutex_unlock(&g_gate.mu);
	for (int i = 0; i < started; i++)
		pthread_join(cl[i].th, NULL);
	bool ok = started == K;
	uint64_t t_last = t0;
	char who[48];
	for (int i = 0; i < started; i++) {
		if (cl[i].t_end > t_last)
			t_last = cl[i].t_end;
		snprintf(who, sizeof who, "run %d client %d", run + 1, i + 1);
		if (!check(b, fig, cl[i].rc == 0, "%s: %s", who, cl[i].err)) {
			ok = false;
			continue;
		}
		answer_read(&cl[i].r, &an[i]);
		if (distinct) {
			ok &= check_counts(b, fig, who, &an[i], 201, N, 0, N, 0, 0, 0, N, 0);
		} else {
			ok &= check_counts(b, fig, who, &an[i], -1, -1, -1, -1, 0, -1, 0, -1, -1);
			if (an[i].parsed) {
				bool any = an[i].created || an[i].s_created || an[i].m_created;
				ok &= check(b, fig, an[i].status == (any ? 201 : 200),
					    "%s: status %d although it %s", who, an[i].status,
					    any ? "created something" : "created nothing");
				ok &= check(b, fig, an[i].created + an[i].reused == N,
					    "%s: created %lld + reused %lld != %d", who,
					    (long long)an[i].created, (long long)an[i].reused, N);
				ok &= check(b, fig, an[i].s_created + an[i].s_unchanged == N &&
							    an[i].m_created + an[i].m_kept == N,
					    "%s: schedules %lld+%lld, memories %lld+%lld, want %d each",
					    who, (long long)an[i].s_created,
					    (long long)an[i].s_unchanged, (long long)an[i].m_created,
					    (long long)an[i].m_kept, N);
			}
		}
		if (!an[i].parsed || an[i].status / 100 != 2)
			fprintf(stderr, "bench:   %s answer: %.300s\n", who, cl[i].r.body);
	}
	double wall = ms_of(t_last - t0);

	/* the ids: the same tree for everyone, or K disjoint trees */
	snprintf(who, sizeof who, "run %d", run + 1);
	if (ok) {
		if (!distinct) {
			int64_t sc = 0, ss = 0, sm = 0;
			size_t diff = 0, nulls = 0;
			for (int i = 0; i < K; i++) {
				sc += an[i].created;
				ss += an[i].s_created;
				sm += an[i].m_created;
				nulls += an[i].n_null;
				for (size_t j = 0; i && j < (size_t)N; j++)
					diff += strcmp(an[i].ids[j], an[0].ids[j]) != 0;
			}
			ok &= check(b, fig, diff == 0, "%s: %zu ids differ between the answers", who,
				    diff);
			ok &= check(b, fig, nulls == 0, "%s: %zu ids null", who, nulls);
			ok &= check(b, fig, sc == N && ss == N && sm == N,
				    "%s: sums over the answers: created %lld, schedules.created %lld, "
				    "memories.created %lld, want %d each",
				    who, (long long)sc, (long long)ss, (long long)sm, N);
			char(*s)[ID_SZ] = xcalloc((size_t)N, ID_SZ);
			memcpy(s, an[0].ids, (size_t)N * ID_SZ);
			size_t d = dup_ids(s, (size_t)N);
			free(s);
			ok &= check(b, fig, d == 0, "%s: %zu duplicate ids in one answer", who, d);
		} else {
			size_t total = (size_t)K * (size_t)N;
			char(*s)[ID_SZ] = xcalloc(total, ID_SZ);
			for (int i = 0; i < K; i++)
				memcpy(s[(size_t)i * (size_t)N], an[i].ids, (size_t)N * ID_SZ);
			size_t d = dup_ids(s, total);
			free(s);
			ok &= check(b, fig, d == 0, "%s: %zu ids shared between the orgs", who, d);
		}
	}
	int64_t after = count_workspaces(b);
	int64_t want = distinct ? (int64_t)K * N : N;
	ok &= check(b, fig, after - before == want,
		    "%s: the database lists %lld new workspaces, want %lld", who,
		    (long long)(after - before), (long long)want);

	char line[1024];
	int ll = snprintf(line, sizeof line, "bench: run %d %s: wall %.1f ms; clients:", run + 1,
			  FIG_NAMES[fig], wall);
	for (int i = 0; i < started && ll < (int)sizeof line - 64; i++) {
		double ms = cl[i].rc == 0 ? ms_of(cl[i].t_end - cl[i].t_start) : -1;
		b->client_ms[distinct][b->nfig[fig]][i] = ms;
		ll += snprintf(line + ll, sizeof line - (size_t)ll, " %.1f ms (%d, created %lld)", ms,
			       an[i].status, (long long)an[i].created);
	}
	fprintf(stderr, "%s%s\n", line, ok ? "" : " NOT counted");
	if (ok) {
		b->fig[fig][b->nfig[fig]++] = wall;
		b->answer_bytes[fig] = an[0].bytes;
	}
	for (int i = 0; i < K; i++) {
		answer_free(&an[i]);
		free(cl[i].r.raw);
		free(bodies[i].p);
	}
	free(an);
	free(cl);
	free(bodies);
	phase_end(b);
}

/* ------------------------------------------------------------------------------------ */
/* main                                                                                 */
/* ------------------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_org [options]\n"
		"\n"
		"Benchmark of POST /org/import with a generated org template: transfer (415),\n"
		"doc and parse (400 on the first / last node), dry run, first import, no-op\n"
		"re-import, N clients importing one template at once, N clients importing\n"
		"different orgs at once.\n"
		"Summary on stdout, details on stderr.\n"
		"\n"
		"  --nodes N        nodes in the template, 1..%d (default %d)\n"
		"  --runs R         repeat every figure R times, 1..%d (default 3)\n"
		"  --clients K      concurrent importers in the last two figures, 2..%d (default 4)\n"
		"  --yaml           send the template as YAML (application/yaml) instead of JSON\n"
		"  --colonyd PATH   colonyd to start (default %s)\n"
		"  --db URL         PostgreSQL: a fresh database per phase is created on URL's\n"
		"                   server with psql (default: a fresh SQLite file per phase)\n"
		"  --same-db        with --db: use URL's database itself for every phase\n"
		"  --psql PATH      psql to create/drop the fresh databases (default psql)\n"
		"  --print-template write the body that would be sent (JSON, or YAML with --yaml)\n"
		"                   to stdout and exit\n"
		"  --help           print this help and exit\n"
		"\n"
		"Exit status: 0 all checks passed; 1 failure; 2 usage error.\n",
		CO_ORG_MAX_NODES, CO_ORG_MAX_NODES, MAX_RUNS, MAX_CLIENTS, COLONYD);
}

static int int_opt(const char *name, const char *v, int64_t min, int64_t max, int *out)
{
	int64_t x;
	if (co_parse_i64(v, min, max, &x) != CO_OK) {
		fprintf(stderr, "bench: --%s: %s\n", name, co_err_msg());
		return -1;
	}
	*out = (int)x;
	return 0;
}

/* "median X ms, best Y ms (runs: a, b, c)" */
static void print_fig(const bench *b, int fig, const char *what, const char *extra)
{
	int n = b->nfig[fig];
	if (n == 0) {
		printf("%-9s %-52s no valid run%s%s\n", FIG_NAMES[fig], what,
		       b->last_fail[fig][0] ? ": " : "", b->last_fail[fig]);
		return;
	}
	double med, best;
	med_best(b->fig[fig], n, &med, &best);
	printf("%-9s %-52s median %9.1f ms  best %9.1f ms  (", FIG_NAMES[fig], what, med, best);
	for (int i = 0; i < n; i++)
		printf("%s%.1f", i ? ", " : "", b->fig[fig][i]);
	printf(")%s\n", extra ? extra : "");
}

int main(int argc, char **argv)
{
	static bench b;
	b.colonyd = COLONYD;
	b.psql = "psql";
	b.nodes = CO_ORG_MAX_NODES;
	b.runs = 3;
	b.clients = 4;
	bool print_only = false;
	static const struct option opts[] = {
		{"nodes", required_argument, 0, 'n'},   {"runs", required_argument, 0, 'r'},
		{"clients", required_argument, 0, 'k'}, {"yaml", no_argument, 0, 'y'},
		{"colonyd", required_argument, 0, 'c'}, {"db", required_argument, 0, 'D'},
		{"same-db", no_argument, 0, 'S'},       {"psql", required_argument, 0, 'P'},
		{"print-template", no_argument, 0, 'T'}, {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (int_opt("nodes", optarg, 1, CO_ORG_MAX_NODES, &b.nodes))
				return 2;
			break;
		case 'r':
			if (int_opt("runs", optarg, 1, MAX_RUNS, &b.runs))
				return 2;
			break;
		case 'k':
			if (int_opt("clients", optarg, 2, MAX_CLIENTS, &b.clients))
				return 2;
			break;
		case 'y': b.yaml = true; break;
		case 'c': b.colonyd = optarg; break;
		case 'D': b.db = optarg; break;
		case 'S': b.same_db = true; break;
		case 'P': b.psql = optarg; break;
		case 'T': print_only = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bench: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (b.same_db && !b.db) {
		fprintf(stderr, "bench: --same-db needs --db\n");
		return 2;
	}
	b.sh = shape_of(b.nodes);
	if (print_only) {
		sbuf t = {0};
		gen_template(&t, b.yaml, ORG_NAME, b.sh);
		fwrite(t.p, 1, t.len, stdout);
		free(t.p);
		return ferror(stdout) ? 1 : 0;
	}
	block_signals();

	/* The template, both forms, for the sizes (the bodies sent are generated per phase,
	 * with that phase's org name, outside the timing). */
	sbuf js = {0}, ys = {0};
	uint64_t tg = now_ns();
	gen_template(&js, false, ORG_NAME, b.sh);
	double gen_ms = ms_of(now_ns() - tg);
	gen_template(&ys, true, ORG_NAME, b.sh);
	size_t body_len = b.yaml ? ys.len : js.len;
	size_t max_body = body_len * 2 > (32u << 20) ? body_len * 2 : (32u << 20);
	snprintf(b.max_body, sizeof b.max_body, "%zu", max_body);

	printf("# command:");
	for (int i = 0; i < argc; i++)
		printf(" %s", argv[i]);
	char g1[32], g2[32];
	printf("\n# template: %d nodes (%d departments, %d teams, %d agents; depth %d), %d "
	       "schedules, %d initial memories\n",
	       b.nodes, b.sh.d, b.sh.t, b.sh.a, b.sh.a ? 3 : b.sh.t ? 2 : 1, b.nodes, b.nodes);
	printf("# body: JSON %s bytes, YAML %s bytes; sending %s (%s); JSON generated by the "
	       "client in %.1f ms\n",
	       grouped(js.len, g1), grouped(ys.len, g2), b.yaml ? "YAML" : "JSON", ctype_of(&b),
	       gen_ms);
	printf("# server: %s --no-scheduler --max-import-body %s; %s\n", b.colonyd, b.max_body,
	       !b.db ? "a fresh SQLite file per phase"
	       : b.same_db ? "PostgreSQL, the --db database for every phase (names tagged per phase)"
			   : "PostgreSQL, a fresh database per phase (created with psql on --db)");
	printf("# runs: %d; time = one HTTP request, first byte sent to last byte of the answer "
	       "read (connect excluded)\n",
	       b.runs);
	fflush(stdout);
	free(js.p);
	free(ys.p);

	for (int run = 0; run < b.runs && !b.interrupted && !b.start_failed; run++) {
		fprintf(stderr, "bench: ---- run %d of %d ----\n", run + 1, b.runs);
		phase_single(&b, run);
		if (stop_requested(&b) || b.start_failed)
			break;
		phase_concurrent(&b, run, false);
		if (stop_requested(&b) || b.start_failed)
			break;
		phase_concurrent(&b, run, true);
		stop_requested(&b);
	}

	char what[128], extra[600];
	int N = b.nodes, K = b.clients;
	char bs[32];
	grouped(body_len, bs);
	snprintf(what, sizeof what, "POST %s bytes as text/plain -> 415", bs);
	print_fig(&b, F_TRANSFER, what, NULL);
	print_fig(&b, F_DOC, "first node's cron invalid -> 400 (document parse)", NULL);
	print_fig(&b, F_PARSE, "last node's cron invalid -> 400 (parse+validate all)", NULL);
	snprintf(extra, sizeof extra, "  answer %zu bytes", b.answer_bytes[F_DRY]);
	const char *db_state = b.same_db ? "db not empty" : "empty db";
	snprintf(what, sizeof what, "?dry_run=true, %s (200; import + rollback)", db_state);
	print_fig(&b, F_DRY, what,
		  b.nfig[F_DRY] ? extra : NULL);
	snprintf(extra, sizeof extra, "  answer %zu bytes", b.answer_bytes[F_FIRST]);
	snprintf(what, sizeof what, "first import, %s (201, created %d)", db_state, N);
	print_fig(&b, F_FIRST, what, b.nfig[F_FIRST] ? extra : NULL);
	snprintf(what, sizeof what, "re-import no-op (200, created 0, unchanged %d)", N);
	print_fig(&b, F_REIMPORT, what, NULL);
	for (int d = 0; d < 2; d++) {
		int fig = d ? F_DISTINCT : F_SAME;
		snprintf(what, sizeof what, d ? "%d different orgs at once, wall (each created %d)"
					      : "%d copies at once, wall (one tree of %d)",
			 K, N);
		int ll = snprintf(extra, sizeof extra, "; per client, each run:");
		for (int r = 0; r < b.nfig[fig] && ll < (int)sizeof extra - 80; r++) {
			ll += snprintf(extra + ll, sizeof extra - (size_t)ll, " [");
			for (int i = 0; i < K; i++)
				ll += snprintf(extra + ll, sizeof extra - (size_t)ll, "%s%.0f",
					       i ? " " : "", b.client_ms[d][r][i]);
			ll += snprintf(extra + ll, sizeof extra - (size_t)ll, "]");
		}
		print_fig(&b, fig, what, b.nfig[fig] ? extra : NULL);
	}
	bool pass = b.failures == 0 && !b.server_failed && !b.interrupted;
	printf("# result: %s (%d failed check%s%s%s)\n", pass ? "PASS" : "FAIL", b.failures,
	       b.failures == 1 ? "" : "s", b.server_failed ? "; a colonyd failed" : "",
	       b.interrupted ? "; interrupted" : "");
	return pass ? 0 : 1;
}
