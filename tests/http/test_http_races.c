/*
 * test_http_races.c — concurrency claims proven against a real colonyd: real threads,
 * each with its own keep-alive connection, started together at a barrier, then counted.
 *
 *  - 32 creates of one (parent, name): exactly one 201, 31 × 409 naming the winner,
 *    one row. The same for roots (parent null).
 *  - 16 threads re-parent nodes of one tree at random: afterwards no cycle exists.
 *  - 32 clients × 200 read-modify-write increments of one counter (retry on 409): the
 *    counter ends at exactly 6400.
 *  - 64 create-only writers of one key: exactly one 200, 63 × 409, never a 5xx.
 *  - LWW and CAS writers on one key: every successful write got a distinct version, and
 *    the versions are exactly 1..N.
 *  - 16 claimers drain 200 inbox messages (max 5 per claim): every message is claimed
 *    exactly once, and every fenced ack succeeds.
 *  - 16 creates of one schedule name: one 201; then 16 concurrent "run now": run_count,
 *    history and inbox all count 16 (no lost increment).
 *
 * With COLONY_TEST_REPLICAS=2 the races run against two colonyd processes on one database
 * (client i talks to replica i % 2): this is the replica suite (ctest http_replicas_pg).
 * The SIGTERM test always uses a server of its own.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static th_server servers[2];
static int nservers = 1;

/* The server client number i talks to. */
static const th_server *srv_for(int i) { return &servers[i % nservers]; }

static int group_setup(void **state)
{
	(void)state;
	const char *r = getenv("COLONY_TEST_REPLICAS");
	nservers = r && atoi(r) == 2 ? 2 : 1;
	th_server_start(&servers[0], NULL);
	if (nservers == 2)
		th_server_start_replica(&servers[1], &servers[0]);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	int bad = 0;
	for (int i = nservers - 1; i >= 0; i--)
		bad |= th_server_stop(&servers[i]) != 0;
	return bad ? -1 : 0;
}

/* ---- 32 creates of one name -------------------------------------------------------- */

#define CREATORS 32

struct create_race {
	const char *parent; /* NULL: roots */
	const char *name;
	long status[CREATORS];
	char id[CREATORS][37];       /* 201: the new id; 409: existing_id */
	char code[CREATORS][32];
};

static void create_one(int i, void *arg)
{
	struct create_race *cr = arg;
	th_client *c = th_client_new(srv_for(i));
	th_resp r = cr->parent ? th_reqf(c, "POST", "/workspaces", "{\"name\":\"%s\",\"parent_id\":\"%s\"}",
					 cr->name, cr->parent)
			       : th_reqf(c, "POST", "/workspaces", "{\"name\":\"%s\"}", cr->name);
	cr->status[i] = r.status;
	const char *id = th_str(&r, r.status == 201 ? "id" : "existing_id");
	snprintf(cr->id[i], 37, "%s", id ? id : "");
	const char *code = th_str(&r, "code");
	snprintf(cr->code[i], 32, "%s", code ? code : "");
	th_resp_free(&r);
	th_client_free(c);
}

static void check_create_race(const char *parent, const char *name)
{
	struct create_race cr = {.parent = parent, .name = name};
	th_race(CREATORS, create_one, &cr);
	int created = 0, taken = 0, winner = -1;
	for (int i = 0; i < CREATORS; i++) {
		if (cr.status[i] == 201) {
			created++;
			winner = i;
		} else if (cr.status[i] == 409) {
			assert_string_equal(cr.code[i], "name_taken");
			taken++;
		} else {
			fail_msg("creator %d got %ld", i, cr.status[i]);
		}
	}
	assert_int_equal(created, 1);
	assert_int_equal(taken, CREATORS - 1);
	for (int i = 0; i < CREATORS; i++)
		assert_string_equal(cr.id[i], cr.id[winner]); /* every 409 names the winner */
	/* exactly one live row of that name under that parent */
	th_client *c = th_client_new(srv_for(0));
	char path[160];
	snprintf(path, sizeof path, "/workspaces?parent_id=%s&limit=1000", parent ? parent : "null");
	th_resp r = th_req(c, "GET", path, NULL, NULL);
	int rows = 0;
	for (size_t i = 0; i < json_array_size(r.json); i++)
		if (!strcmp(json_string_value(json_object_get(json_array_get(r.json, i), "name")), name))
			rows++;
	assert_int_equal(rows, 1);
	th_resp_free(&r);
	th_client_free(c);
}

static void test_create_race_child(void **state)
{
	(void)state;
	th_client *c = th_client_new(srv_for(0));
	char parent[37];
	th_create_ws(c, "race-parent", NULL, parent);
	th_client_free(c);
	check_create_race(parent, "Dev Lead");
}

static void test_create_race_root(void **state)
{
	(void)state;
	check_create_race(NULL, "race-root-org");
}

/* ---- concurrent re-parenting never makes a cycle ------------------------------------ */

#define TREE_NODES 12
#define MOVERS 16
#define MOVES_PER_THREAD 100

struct reparent {
	char ids[TREE_NODES][37];
	atomic_int ok, cycles, other;
};

static void move_randomly(int t, void *arg)
{
	struct reparent *rp = arg;
	th_client *c = th_client_new(srv_for(t));
	unsigned seed = 0x9e3779b9u * (unsigned)(t + 1);
	for (int k = 0; k < MOVES_PER_THREAD; k++) {
		seed = seed * 1103515245u + 12345u;
		int a = (int)((seed >> 8) % TREE_NODES);
		seed = seed * 1103515245u + 12345u;
		int b = (int)((seed >> 8) % TREE_NODES);
		char path[128];
		snprintf(path, sizeof path, "/workspaces/%s", rp->ids[a]);
		th_resp r = th_reqf(c, "PATCH", path, "{\"parent_id\":\"%s\"}", rp->ids[b]);
		if (r.status == 200)
			atomic_fetch_add(&rp->ok, 1);
		else if (r.status == 409 && !strcmp(th_str(&r, "code"), "cycle"))
			atomic_fetch_add(&rp->cycles, 1);
		else if (r.status == 409 && !strcmp(th_str(&r, "code"), "name_taken"))
			; /* impossible here: names are distinct */
		else
			atomic_fetch_add(&rp->other, 1);
		th_resp_free(&r);
	}
	th_client_free(c);
}

static void test_concurrent_reparent_no_cycle(void **state)
{
	(void)state;
	static struct reparent rp;
	th_client *c = th_client_new(srv_for(0));
	char root[37];
	th_create_ws(c, "reparent-root", NULL, root);
	/* a chain-ish tree: node i under node i/2, node 0 under root */
	for (int i = 0; i < TREE_NODES; i++) {
		char name[16];
		snprintf(name, sizeof name, "n%d", i);
		th_create_ws(c, name, i == 0 ? root : rp.ids[i / 2], rp.ids[i]);
	}
	th_race(MOVERS, move_randomly, &rp);
	assert_int_equal(atomic_load(&rp.other), 0);
	assert_true(atomic_load(&rp.ok) > 0);
	assert_true(atomic_load(&rp.cycles) > 0); /* the race did try to make cycles */

	/* Walk every node up to a root: must end within TREE_NODES + 1 steps. */
	char parent[TREE_NODES][37];
	for (int i = 0; i < TREE_NODES; i++) {
		char path[128];
		snprintf(path, sizeof path, "/workspaces/%s", rp.ids[i]);
		th_resp r = th_req(c, "GET", path, NULL, NULL);
		assert_int_equal(r.status, 200);
		const char *p = th_str(&r, "parent_id");
		snprintf(parent[i], 37, "%s", p ? p : "");
		th_resp_free(&r);
	}
	for (int i = 0; i < TREE_NODES; i++) {
		int cur = i, steps = 0;
		while (cur >= 0 && steps <= TREE_NODES + 1) {
			int next = -1;
			for (int j = 0; j < TREE_NODES; j++)
				if (!strcmp(parent[cur], rp.ids[j]))
					next = j;
			cur = next;
			steps++;
		}
		if (cur >= 0)
			fail_msg("node %d is on a cycle", i);
	}
	th_client_free(c);
}

/* ---- memory: read-modify-write increments lose nothing ------------------------------ */

#define RMW_CLIENTS 32
#define RMW_INCREMENTS 200

struct rmw {
	char ws[37];
	atomic_int successes, conflicts, errors, bad_versions;
};

static void rmw_worker(int t, void *arg)
{
	struct rmw *m = arg;
	th_client *c = th_client_new(srv_for(t));
	char get_path[128], post_path[128];
	snprintf(get_path, sizeof get_path, "/workspaces/%s/memory/counter", m->ws);
	snprintf(post_path, sizeof post_path, "/workspaces/%s/memory", m->ws);
	for (int done = 0; done < RMW_INCREMENTS;) {
		th_resp g = th_req(c, "GET", get_path, NULL, NULL);
		if (g.status != 200) {
			atomic_fetch_add(&m->errors, 1);
			th_resp_free(&g);
			break;
		}
		long long value = json_integer_value(json_object_get(g.json, "value"));
		long long version = th_int(&g, "version");
		th_resp_free(&g);
		th_resp p = th_reqf(c, "POST", post_path,
				    "{\"key\":\"counter\",\"value\":%lld,\"if_match_version\":%lld}",
				    value + 1, version);
		/* No cmocka asserts off the main thread: count, and assert after joining. */
		if (p.status == 200) {
			if (th_int(&p, "version") != version + 1)
				atomic_fetch_add(&m->bad_versions, 1);
			atomic_fetch_add(&m->successes, 1);
			done++;
		} else if (p.status == 409) {
			if (th_int(&p, "expected_version") != version)
				atomic_fetch_add(&m->bad_versions, 1);
			atomic_fetch_add(&m->conflicts, 1);
		} else {
			atomic_fetch_add(&m->errors, 1);
			th_resp_free(&p);
			break;
		}
		th_resp_free(&p);
	}
	th_client_free(c);
}

static void test_rmw_counter_loses_nothing(void **state)
{
	(void)state;
	static struct rmw m;
	th_client *c = th_client_new(srv_for(0));
	th_create_ws(c, "rmw", NULL, m.ws);
	char path[128];
	snprintf(path, sizeof path, "/workspaces/%s/memory", m.ws);
	th_resp r = th_req(c, "POST", path, "{\"key\":\"counter\",\"value\":0,\"if_match_version\":0}", NULL);
	assert_int_equal(r.status, 200);
	th_resp_free(&r);
	th_race(RMW_CLIENTS, rmw_worker, &m);
	assert_int_equal(atomic_load(&m.errors), 0);
	assert_int_equal(atomic_load(&m.bad_versions), 0);
	assert_int_equal(atomic_load(&m.successes), RMW_CLIENTS * RMW_INCREMENTS);
	snprintf(path, sizeof path, "/workspaces/%s/memory/counter", m.ws);
	r = th_req(c, "GET", path, NULL, NULL);
	assert_int_equal(json_integer_value(json_object_get(r.json, "value")), RMW_CLIENTS * RMW_INCREMENTS);
	assert_int_equal(th_int(&r, "version"), RMW_CLIENTS * RMW_INCREMENTS + 1);
	fprintf(stderr, "rmw: %d increments, %d conflicts retried\n", atomic_load(&m.successes),
		atomic_load(&m.conflicts));
	th_resp_free(&r);
	th_client_free(c);
}

/* ---- memory: 64 create-only writers, one winner ------------------------------------- */

#define SEEDERS 64

struct seed_race {
	char ws[37];
	long status[SEEDERS];
	long long current[SEEDERS]; /* 409: current_version */
	char code[SEEDERS][32];
};

static void seed_one(int i, void *arg)
{
	struct seed_race *s = arg;
	th_client *c = th_client_new(srv_for(i));
	char path[128];
	snprintf(path, sizeof path, "/workspaces/%s/memory", s->ws);
	th_resp r = th_reqf(c, "POST", path, "{\"key\":\"shared\",\"value\":{\"by\":%d},\"if_match_version\":0}", i);
	s->status[i] = r.status;
	s->current[i] = th_int(&r, "current_version");
	snprintf(s->code[i], sizeof s->code[i], "%s", th_str(&r, "code") ? th_str(&r, "code") : "");
	th_resp_free(&r);
	th_client_free(c);
}

static void test_create_only_one_winner(void **state)
{
	(void)state;
	static struct seed_race s;
	th_client *c = th_client_new(srv_for(0));
	th_create_ws(c, "seed-race", NULL, s.ws);
	th_race(SEEDERS, seed_one, &s);
	int ok = 0, conflict = 0, winner = -1;
	for (int i = 0; i < SEEDERS; i++) {
		if (s.status[i] == 200) {
			ok++;
			winner = i;
		} else if (s.status[i] == 409) {
			assert_string_equal(s.code[i], "version_mismatch");
			assert_int_equal(s.current[i], 1);
			conflict++;
		} else {
			fail_msg("seeder %d got %ld", i, s.status[i]);
		}
	}
	assert_int_equal(ok, 1);
	assert_int_equal(conflict, SEEDERS - 1);
	char path[128];
	snprintf(path, sizeof path, "/workspaces/%s/memory/shared", s.ws);
	th_resp r = th_req(c, "GET", path, NULL, NULL);
	assert_int_equal(th_int(&r, "version"), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r.json, "value"), "by")), winner);
	th_resp_free(&r);
	th_client_free(c);
}

/* ---- memory: LWW and CAS writers get distinct versions 1..N -------------------------- */

#define MIXED_WRITERS 24
#define MIXED_WRITES 40

struct mixed {
	char ws[37];
	long long versions[MIXED_WRITERS * MIXED_WRITES * 4];
	atomic_int n;
	atomic_int errors;
};

static void mixed_writer(int t, void *arg)
{
	struct mixed *m = arg;
	th_client *c = th_client_new(srv_for(t));
	char post[128], get[128];
	snprintf(post, sizeof post, "/workspaces/%s/memory", m->ws);
	snprintf(get, sizeof get, "/workspaces/%s/memory/mixed", m->ws);
	for (int k = 0; k < MIXED_WRITES; k++) {
		th_resp r;
		if (t % 2 == 0) { /* last-write-wins */
			r = th_reqf(c, "POST", post, "{\"key\":\"mixed\",\"value\":[%d,%d]}", t, k);
		} else { /* compare-and-set on what it last saw */
			th_resp g = th_req(c, "GET", get, NULL, NULL);
			long long v = g.status == 200 ? th_int(&g, "version") : 0;
			th_resp_free(&g);
			r = th_reqf(c, "POST", post, "{\"key\":\"mixed\",\"value\":[%d,%d],\"if_match_version\":%lld}",
				    t, k, v);
		}
		if (r.status == 200)
			m->versions[atomic_fetch_add(&m->n, 1)] = th_int(&r, "version");
		else if (r.status != 409)
			atomic_fetch_add(&m->errors, 1);
		th_resp_free(&r);
	}
	th_client_free(c);
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return (x > y) - (x < y);
}

static void test_lww_and_cas_versions_form_1_to_n(void **state)
{
	(void)state;
	static struct mixed m;
	th_client *c = th_client_new(srv_for(0));
	th_create_ws(c, "mixed", NULL, m.ws);
	th_race(MIXED_WRITERS, mixed_writer, &m);
	assert_int_equal(atomic_load(&m.errors), 0);
	int n = atomic_load(&m.n);
	assert_true(n >= MIXED_WRITERS / 2 * MIXED_WRITES); /* every LWW write succeeds */
	qsort(m.versions, (size_t)n, sizeof m.versions[0], cmp_ll);
	for (int i = 0; i < n; i++)
		if (m.versions[i] != i + 1)
			fail_msg("versions are not 1..%d: position %d holds %lld", n, i, m.versions[i]);
	char path[128];
	snprintf(path, sizeof path, "/workspaces/%s/memory/mixed", m.ws);
	th_resp r = th_req(c, "GET", path, NULL, NULL);
	assert_int_equal(th_int(&r, "version"), n);
	th_resp_free(&r);
	th_client_free(c);
}

/* ---- SIGTERM under write load: clean exit, and every acknowledged write persists ----- */

#define DRAIN_WRITERS 16
#define DRAIN_MAX_WRITES 4000

struct drain {
	th_server srv;
	char ws[37];
	unsigned char acked[DRAIN_WRITERS][DRAIN_MAX_WRITES]; /* 1: got a 200 */
	atomic_int acks, unexpected;
	int exit_status;
};

static void drain_worker(int t, void *arg)
{
	struct drain *d = arg;
	if (t == DRAIN_WRITERS) { /* the last thread is the one that stops the server */
		struct timespec ts = {0, 400 * 1000000};
		nanosleep(&ts, NULL);
		d->exit_status = th_server_stop_keep(&d->srv);
		return;
	}
	th_client *c = th_client_new(&d->srv);
	char path[128];
	snprintf(path, sizeof path, "/workspaces/%s/memory", d->ws);
	for (int k = 0; k < DRAIN_MAX_WRITES; k++) {
		th_resp r = th_reqf(c, "POST", path, "{\"key\":\"t%d-%d\",\"value\":%d}", t, k, k);
		long status = r.status;
		th_resp_free(&r);
		if (status == 200) {
			d->acked[t][k] = 1;
			atomic_fetch_add(&d->acks, 1);
		} else if (status == 0 || status == 503) {
			break; /* the server is gone or going: what was acknowledged must persist */
		} else {
			atomic_fetch_add(&d->unexpected, 1);
			break;
		}
	}
	th_client_free(c);
}

/* ---- inbox: 16 claimers, 200 messages ------------------------------------------------ */

#define INBOX_MSGS 200
#define CLAIMERS 16

struct claim_race {
	char ws[37];
	char ids[INBOX_MSGS][37];
	_Atomic int claimed[INBOX_MSGS]; /* times each message was handed out */
	_Atomic int unknown, bad_status, acks_ok;
};

static void claim_loop(int i, void *arg)
{
	struct claim_race *cr = arg;
	th_client *c = th_client_new(srv_for(i));
	char path[160];
	snprintf(path, sizeof path, "/workspaces/%s/inbox/claim", cr->ws);
	for (;;) {
		th_resp r = th_req(c, "POST", path, "{\"max\":5,\"lease_seconds\":300}", NULL);
		if (r.status != 200 || !json_is_array(r.json)) {
			atomic_fetch_add(&cr->bad_status, 1);
			th_resp_free(&r);
			break;
		}
		size_t n = json_array_size(r.json);
		for (size_t k = 0; k < n; k++) {
			json_t *m = json_array_get(r.json, k);
			const char *id = json_string_value(json_object_get(m, "id"));
			int at = -1;
			for (int j = 0; id && j < INBOX_MSGS; j++)
				if (!strcmp(cr->ids[j], id))
					at = j;
			if (at < 0) {
				atomic_fetch_add(&cr->unknown, 1);
				continue;
			}
			atomic_fetch_add(&cr->claimed[at], 1);
			char ack[200];
			snprintf(ack, sizeof ack, "/workspaces/%s/inbox/%s/ack", cr->ws, id);
			th_resp a = th_reqf(c, "POST", ack, "{\"status\":\"completed\",\"attempt\":%lld}",
					    (long long)json_integer_value(json_object_get(m, "attempts")));
			if (a.status == 200)
				atomic_fetch_add(&cr->acks_ok, 1);
			th_resp_free(&a);
		}
		th_resp_free(&r);
		if (n == 0)
			break;
	}
	th_client_free(c);
}

static void test_inbox_claimers_each_message_once(void **state)
{
	(void)state;
	static struct claim_race cr;
	memset(&cr, 0, sizeof cr);
	th_client *c = th_client_new(srv_for(0));
	th_create_ws(c, "claim-race", NULL, cr.ws);
	char path[160];
	snprintf(path, sizeof path, "/workspaces/%s/inbox", cr.ws);
	for (int j = 0; j < INBOX_MSGS; j++) {
		th_resp r = th_reqf(c, "POST", path, "{\"body\":{\"n\":%d}}", j);
		assert_int_equal(r.status, 201);
		snprintf(cr.ids[j], 37, "%s", th_str(&r, "id"));
		th_resp_free(&r);
	}
	th_race(CLAIMERS, claim_loop, &cr);
	assert_int_equal(atomic_load(&cr.bad_status), 0);
	assert_int_equal(atomic_load(&cr.unknown), 0);
	for (int j = 0; j < INBOX_MSGS; j++)
		if (atomic_load(&cr.claimed[j]) != 1)
			fail_msg("message %d was claimed %d times", j, atomic_load(&cr.claimed[j]));
	assert_int_equal(atomic_load(&cr.acks_ok), INBOX_MSGS);
	snprintf(path, sizeof path, "/workspaces/%s/inbox?status=completed&limit=1000", cr.ws);
	th_resp r = th_req(c, "GET", path, NULL, NULL);
	assert_int_equal(json_array_size(r.json), INBOX_MSGS);
	th_resp_free(&r);
	th_client_free(c);
}

/* ---- schedules: one name, then 16 concurrent runs ---------------------------------- */

#define SCHEDULERS 16

struct sched_race {
	char ws[37];
	char sid[37];
	long status[SCHEDULERS];
	char id[SCHEDULERS][37];
};

static void sched_create_one(int i, void *arg)
{
	struct sched_race *sr = arg;
	th_client *c = th_client_new(srv_for(i));
	char path[160];
	snprintf(path, sizeof path, "/workspaces/%s/schedules", sr->ws);
	th_resp r = th_req(c, "POST", path,
			   "{\"name\":\"nightly\",\"cron_expr\":\"0 0 1 1 *\",\"prompt\":\"review\"}", NULL);
	sr->status[i] = r.status;
	const char *id = th_str(&r, r.status == 201 ? "id" : "existing_id");
	snprintf(sr->id[i], 37, "%s", id ? id : "");
	th_resp_free(&r);
	th_client_free(c);
}

static void sched_run_one(int i, void *arg)
{
	struct sched_race *sr = arg;
	th_client *c = th_client_new(srv_for(i));
	char path[200];
	snprintf(path, sizeof path, "/workspaces/%s/schedules/%s/run", sr->ws, sr->sid);
	th_resp r = th_req(c, "POST", path, NULL, NULL);
	sr->status[i] = r.status;
	th_resp_free(&r);
	th_client_free(c);
}

static void test_schedule_name_race_and_runs_count(void **state)
{
	(void)state;
	static struct sched_race sr;
	memset(&sr, 0, sizeof sr);
	th_client *c = th_client_new(srv_for(0));
	th_create_ws(c, "sched-race", NULL, sr.ws);
	th_race(SCHEDULERS, sched_create_one, &sr);
	int created = 0, winner = -1;
	for (int i = 0; i < SCHEDULERS; i++) {
		if (sr.status[i] == 201) {
			created++;
			winner = i;
		} else if (sr.status[i] != 409) {
			fail_msg("creator %d got %ld", i, sr.status[i]);
		}
	}
	assert_int_equal(created, 1);
	for (int i = 0; i < SCHEDULERS; i++)
		assert_string_equal(sr.id[i], sr.id[winner]);
	snprintf(sr.sid, sizeof sr.sid, "%s", sr.id[winner]);

	th_race(SCHEDULERS, sched_run_one, &sr);
	for (int i = 0; i < SCHEDULERS; i++)
		assert_int_equal(sr.status[i], 202);
	char path[200];
	snprintf(path, sizeof path, "/workspaces/%s/schedules/%s", sr.ws, sr.sid);
	th_resp r = th_req(c, "GET", path, NULL, NULL);
	assert_int_equal(th_int(&r, "run_count"), SCHEDULERS);
	th_resp_free(&r);
	snprintf(path, sizeof path, "/workspaces/%s/schedules/%s/history?limit=1000", sr.ws, sr.sid);
	r = th_req(c, "GET", path, NULL, NULL);
	assert_int_equal(json_array_size(r.json), SCHEDULERS);
	th_resp_free(&r);
	snprintf(path, sizeof path, "/workspaces/%s/inbox?limit=1000", sr.ws);
	r = th_req(c, "GET", path, NULL, NULL);
	assert_int_equal(json_array_size(r.json), SCHEDULERS);
	th_resp_free(&r);
	th_client_free(c);
}

/* ---- org import: N concurrent imports of one template, one tree --------------------- */

/* 4 roots × 4 teams × 5 agents (+ the roots and teams) = 100 nodes, each with a schedule
 * and an initial memory. The roots' names are this test's own, so the tree can be walked
 * from them on the shared servers. */
#define ORG_IMPORTERS 8
#define ORG_DEPTS 4
#define ORG_TEAMS 4
#define ORG_AGENTS 5
#define ORG_NODES (ORG_DEPTS * (1 + ORG_TEAMS * (1 + ORG_AGENTS)))

struct org_race {
	char *body;
	long status[ORG_IMPORTERS];
	json_t *answer[ORG_IMPORTERS];
};

static void org_import_one(int i, void *arg)
{
	struct org_race *o = arg;
	th_client *c = th_client_new(srv_for(i));
	th_resp r = th_req(c, "POST", "/org/import", o->body, NULL);
	o->status[i] = r.status;
	o->answer[i] = r.json ? json_incref(r.json) : NULL;
	th_resp_free(&r);
	th_client_free(c);
}

static json_t *org_node(json_t *list, const char *name, int seq)
{
	json_t *n = json_pack("{s:s, s:[{s:s, s:s, s:s}], s:[{s:s, s:i}], s:[]}", "name", name, "schedules", "name",
			      "standup", "cron_expr", "0 9 * * 1-5", "prompt", "status?", "initial_memories", "key",
			      "charter", "value", seq, "children");
	json_array_append_new(list, n);
	return json_object_get(n, "children");
}

/* Appends every live workspace under parent to out (depth first); counts a second live
 * child of one name under one parent in *dups. */
static void org_walk(th_client *c, const char *parent, json_t *out, int *dups)
{
	char path[160];
	snprintf(path, sizeof path, "/workspaces?parent_id=%s&limit=1000", parent);
	json_t *kids = th_get_ok(c, path);
	for (size_t i = 0; i < json_array_size(kids); i++) {
		json_t *w = json_array_get(kids, i);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(json_string_value(json_object_get(w, "name")),
				    json_string_value(json_object_get(json_array_get(kids, j), "name"))))
				(*dups)++;
		json_array_append(out, w);
		org_walk(c, json_string_value(json_object_get(w, "id")), out, dups);
	}
	json_decref(kids);
}

static void test_org_import_race_one_tree(void **state)
{
	(void)state;
	static struct org_race o;
	memset(&o, 0, sizeof o);
	json_t *tops = json_array();
	int seq = 0;
	char name[64];
	for (int d = 0; d < ORG_DEPTS; d++) {
		snprintf(name, sizeof name, "org-race Dept %d", d);
		json_t *teams = org_node(tops, name, seq++);
		for (int t = 0; t < ORG_TEAMS; t++) {
			snprintf(name, sizeof name, "Team %d.%d", d, t);
			json_t *agents = org_node(teams, name, seq++);
			for (int a = 0; a < ORG_AGENTS; a++) {
				snprintf(name, sizeof name, "Agent %d.%d.%d", d, t, a);
				org_node(agents, name, seq++);
			}
		}
	}
	assert_int_equal(seq, ORG_NODES);
	json_t *body = json_pack("{s:{s:s, s:o}}", "template", "name", "RaceOrg", "workspaces", tops);
	o.body = json_dumps(body, JSON_COMPACT);
	json_decref(body);

	th_race(ORG_IMPORTERS, org_import_one, &o);
	long long created = 0, scheds = 0, mems = 0;
	for (int i = 0; i < ORG_IMPORTERS; i++) {
		json_t *a = o.answer[i];
		if ((o.status[i] != 200 && o.status[i] != 201) || !a)
			fail_msg("importer %d got %ld", i, o.status[i]);
		json_t *ws = json_object_get(a, "workspaces");
		assert_int_equal(json_array_size(ws), ORG_NODES);
		long long c = json_integer_value(json_object_get(a, "created"));
		long long sc = json_integer_value(json_object_get(json_object_get(a, "schedules"), "created"));
		long long mc = json_integer_value(json_object_get(json_object_get(a, "memories"), "created"));
		assert_int_equal(c + json_integer_value(json_object_get(a, "reused")), ORG_NODES);
		assert_int_equal(o.status[i], c + sc + mc > 0 ? 201 : 200);
		created += c;
		scheds += sc;
		mems += mc;
		for (size_t k = 0; k < ORG_NODES; k++) /* the same ids, in the same order */
			assert_string_equal(json_string_value(json_object_get(json_array_get(ws, k), "id")),
					    json_string_value(json_object_get(
						    json_array_get(json_object_get(o.answer[0], "workspaces"), k), "id")));
	}
	assert_int_equal(created, ORG_NODES);
	assert_int_equal(scheds, ORG_NODES);
	assert_int_equal(mems, ORG_NODES);

	/* one tree: one live root of each name, 100 live workspaces, exactly the answered ones */
	th_client *c = th_client_new(srv_for(1));
	json_t *roots = th_get_ok(c, "/workspaces?parent_id=null&limit=1000");
	json_t *all = json_array();
	int dups = 0, mine = 0;
	for (size_t i = 0; i < json_array_size(roots); i++) {
		json_t *w = json_array_get(roots, i);
		if (strncmp(json_string_value(json_object_get(w, "name")), "org-race Dept ", 14))
			continue;
		mine++;
		json_array_append(all, w);
		org_walk(c, json_string_value(json_object_get(w, "id")), all, &dups);
	}
	assert_int_equal(mine, ORG_DEPTS);
	assert_int_equal(dups, 0);
	assert_int_equal(json_array_size(all), ORG_NODES);
	json_t *ws0 = json_object_get(o.answer[0], "workspaces");
	for (size_t k = 0; k < ORG_NODES; k++) {
		const char *id = json_string_value(json_object_get(json_array_get(ws0, k), "id"));
		bool found = false;
		for (size_t j = 0; j < ORG_NODES && !found; j++)
			found = !strcmp(json_string_value(json_object_get(json_array_get(all, j), "id")), id);
		if (!found)
			fail_msg("answered id %s is not in the tree", id);
	}
	/* each node got its one schedule and its one memory, once */
	for (size_t k = 0; k < ORG_NODES; k += 7) {
		const char *id = json_string_value(json_object_get(json_array_get(ws0, k), "id"));
		char path[160];
		snprintf(path, sizeof path, "/workspaces/%s/schedules", id);
		json_t *l = th_get_ok(c, path);
		assert_int_equal(json_array_size(l), 1);
		json_decref(l);
		snprintf(path, sizeof path, "/workspaces/%s/memory", id);
		l = th_get_ok(c, path);
		assert_int_equal(json_array_size(l), 1);
		assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 0), "version")), 1);
		json_decref(l);
	}
	json_decref(roots);
	json_decref(all);
	for (int i = 0; i < ORG_IMPORTERS; i++)
		json_decref(o.answer[i]);
	free(o.body);
	th_client_free(c);
}

static void test_sigterm_under_load_keeps_every_ack(void **state)
{
	(void)state;
	static struct drain d;
	th_server_start(&d.srv, NULL);
	th_client *c = th_client_new(&d.srv);
	th_create_ws(c, "drain", NULL, d.ws);
	th_client_free(c);
	th_race(DRAIN_WRITERS + 1, drain_worker, &d);
	assert_int_equal(d.exit_status, 0); /* clean exit, no sanitizer report */
	assert_int_equal(atomic_load(&d.unexpected), 0);
	assert_true(atomic_load(&d.acks) > 0);

	th_server_restart(&d.srv);
	c = th_client_new(&d.srv);
	int checked = 0;
	for (int t = 0; t < DRAIN_WRITERS; t++)
		for (int k = 0; k < DRAIN_MAX_WRITES; k++) {
			if (!d.acked[t][k])
				continue;
			char path[160];
			snprintf(path, sizeof path, "/workspaces/%s/memory/t%d-%d", d.ws, t, k);
			th_resp r = th_req(c, "GET", path, NULL, NULL);
			if (r.status != 200)
				fail_msg("acknowledged write t%d-%d is missing after restart (%ld)", t, k, r.status);
			assert_int_equal(json_integer_value(json_object_get(r.json, "value")), k);
			th_resp_free(&r);
			checked++;
		}
	fprintf(stderr, "drain: %d acknowledged writes, all present after restart\n", checked);
	th_client_free(c);
	assert_int_equal(th_server_stop(&d.srv), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_race_child),
		cmocka_unit_test(test_create_race_root),
		cmocka_unit_test(test_concurrent_reparent_no_cycle),
		cmocka_unit_test(test_rmw_counter_loses_nothing),
		cmocka_unit_test(test_create_only_one_winner),
		cmocka_unit_test(test_lww_and_cas_versions_form_1_to_n),
		cmocka_unit_test(test_inbox_claimers_each_message_once),
		cmocka_unit_test(test_schedule_name_race_and_runs_count),
		cmocka_unit_test(test_org_import_race_one_tree),
		cmocka_unit_test(test_sigterm_under_load_keeps_every_ack),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
