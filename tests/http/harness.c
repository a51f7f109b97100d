/* harness.c — real colonyd + libcurl client for HTTP tests; see harness.h. */
#include "harness.h"
#include "../pgtmp.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

/* For code that runs on worker threads, where cmocka's asserts must not be used. */
#define MUST(cond)                                                                           \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: MUST(%s) failed\n", __FILE__, __LINE__, #cond);   \
			abort();                                                             \
		}                                                                            \
	} while (0)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static void spawn(th_server *s, const char *const *extra_args);

void th_server_start(th_server *s, const char *const *extra_args)
{
	pthread_once(&curl_once, curl_init_once);
	memset(s, 0, sizeof *s);
	s->args = extra_args;
	snprintf(s->dir, sizeof s->dir, "/tmp/colony-test-XXXXXX");
	if (!mkdtemp(s->dir))
		fail_msg("mkdtemp: %s", strerror(errno));
	snprintf(s->db, sizeof s->db, "%s/colony.db", s->dir);
	const char *backend = getenv("COLONY_TEST_BACKEND");
	if (backend && !strcmp(backend, "postgres")) {
		int rc = pgtmp_create(s->db, sizeof s->db);
		if (rc == 1) {
			fprintf(stderr, "COLONY_TEST_PG is not set: skipping the PostgreSQL run\n");
			exit(PGTMP_SKIP);
		}
		if (rc)
			fail_msg("could not create a PostgreSQL test database");
	}
	spawn(s, extra_args);
}

void th_server_restart(th_server *s) { spawn(s, s->args); }

void th_server_start_replica(th_server *s, const th_server *first)
{
	th_server_start_replica_args(s, first, NULL);
}

void th_server_start_replica_args(th_server *s, const th_server *first,
				  const char *const *extra_args)
{
	memset(s, 0, sizeof *s);
	s->args = extra_args;
	snprintf(s->dir, sizeof s->dir, "/tmp/colony-test-XXXXXX");
	if (!mkdtemp(s->dir))
		fail_msg("mkdtemp: %s", strerror(errno));
	snprintf(s->db, sizeof s->db, "%s", first->db);
	spawn(s, extra_args);
}

static void spawn(th_server *s, const char *const *extra_args)
{
	char port_file[300], log_file[300];
	snprintf(port_file, sizeof port_file, "%s/port", s->dir);
	snprintf(log_file, sizeof log_file, "%s/colonyd.log", s->dir);
	unlink(port_file);

	const char *argv[32] = {COLONYD_PATH, "--listen", "127.0.0.1:0", "--db", s->db,
				"--port-file", port_file};
	int argc = 7;
	for (int i = 0; extra_args && extra_args[i] && argc < 31; i++)
		argv[argc++] = extra_args[i];
	argv[argc] = NULL;

	pid_t pid = fork();
	if (pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* a crashed test takes its colonyd with it */
		int fd = open(log_file, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			dup2(fd, STDOUT_FILENO);
			close(fd);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	s->pid = pid;
	for (int waited = 0; waited < 20000; waited += 10) {
		FILE *f = fopen(port_file, "r");
		if (f) {
			unsigned port = 0;
			int ok = fscanf(f, "%u", &port);
			fclose(f);
			if (ok == 1 && port) {
				s->port = port;
				snprintf(s->base, sizeof s->base, "http://127.0.0.1:%u", port);
				return;
			}
		}
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			s->pid = 0;
			fail_msg("colonyd exited at start (status %d); see %s", status, log_file);
		}
		sleep_ms(10);
	}
	fail_msg("colonyd did not start within 20 s; see %s", log_file);
}

static void print_log_tail(const th_server *s)
{
	char cmd[400];
	snprintf(cmd, sizeof cmd, "tail -n 60 %s/colonyd.log >&2", s->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "(could not show the log)\n");
}

static int stop(th_server *s, bool keep);

int th_server_stop(th_server *s) { return stop(s, false); }

int th_server_stop_keep(th_server *s) { return stop(s, true); }

static int stop(th_server *s, bool keep)
{
	if (!s->pid)
		return -1;
	kill(s->pid, SIGTERM);
	int status = 0;
	while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
		;
	s->pid = 0;
	int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	if (rc != 0) {
		fprintf(stderr, "colonyd exited with status %d (raw %d); log tail:\n", rc, status);
		print_log_tail(s);
	}
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
	if (rc == 0 && !keep && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", s->dir);
	return rc;
}

struct th_client {
	CURL *curl;
	char base[64];
};

th_client *th_client_new(const th_server *s)
{
	pthread_once(&curl_once, curl_init_once);
	th_client *c = calloc(1, sizeof *c);
	MUST(c);
	c->curl = curl_easy_init();
	MUST(c->curl);
	snprintf(c->base, sizeof c->base, "%s", s->base);
	return c;
}

void th_client_free(th_client *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	free(c);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	th_resp *r = arg;
	size_t add = size * n;
	char *b = realloc(r->body, r->len + add + 1);
	if (!b)
		return 0;
	memcpy(b + r->len, p, add);
	r->body = b;
	r->len += add;
	b[r->len] = 0;
	return add;
}

static void copy_header_value(const char *line, size_t n, size_t skip, char *out, size_t cap)
{
	size_t v = skip;
	while (v < n && (line[v] == ' ' || line[v] == '\t'))
		v++;
	size_t e = n;
	while (e > v && (line[e - 1] == '\r' || line[e - 1] == '\n'))
		e--;
	size_t len = e - v < cap - 1 ? e - v : cap - 1;
	memcpy(out, line + v, len);
	out[len] = 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	th_resp *r = arg;
	size_t len = size * n;
	if (len > 5 && !strncasecmp(p, "ETag:", 5))
		copy_header_value(p, len, 5, r->etag, sizeof r->etag);
	else if (len > 6 && !strncasecmp(p, "Allow:", 6))
		copy_header_value(p, len, 6, r->allow, sizeof r->allow);
	else if (len > 13 && !strncasecmp(p, "X-Request-Id:", 13))
		copy_header_value(p, len, 13, r->request_id, sizeof r->request_id);
	return len;
}

th_resp th_req(th_client *c, const char *method, const char *path, const char *body,
	       const char *const *headers)
{
	th_resp r = {0};
	char url[2048];
	snprintf(url, sizeof url, "%s%s", c->base, path);
	CURL *h = c->curl;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &r);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	struct curl_slist *hl = NULL;
	bool has_ct = false;
	for (int i = 0; headers && headers[i]; i++) {
		hl = curl_slist_append(hl, headers[i]);
		if (!strncasecmp(headers[i], "Content-Type:", 13))
			has_ct = true;
	}
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
		if (!has_ct)
			hl = curl_slist_append(hl, "Content-Type: application/json");
		hl = curl_slist_append(hl, "Expect:");
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	CURLcode rc = curl_easy_perform(h);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
		curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &r.new_connections);
	}
	curl_slist_free_all(hl);
	if (!r.body) {
		r.body = calloc(1, 1);
		MUST(r.body);
	}
	r.json = json_loadb(r.body, r.len, JSON_DECODE_ANY, NULL);
	return r;
}

th_resp th_reqf(th_client *c, const char *method, const char *path, const char *fmt, ...)
{
	char *body = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&body, fmt, ap);
	va_end(ap);
	MUST(n >= 0);
	th_resp r = th_req(c, method, path, body, NULL);
	free(body);
	return r;
}

void th_resp_free(th_resp *r)
{
	free(r->body);
	json_decref(r->json);
	memset(r, 0, sizeof *r);
}

const char *th_str(const th_resp *r, const char *field)
{
	return json_string_value(json_object_get(r->json, field));
}

long long th_int(const th_resp *r, const char *field)
{
	return json_integer_value(json_object_get(r->json, field));
}

void th_create_ws(th_client *c, const char *name, const char *parent, char *out_id)
{
	json_t *o = json_pack("{s:s}", "name", name);
	json_object_set_new(o, "parent_id", parent ? json_string(parent) : json_null());
	char *body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	th_resp r = th_req(c, "POST", "/workspaces", body, NULL);
	free(body);
	if (r.status != 201)
		fail_msg("creating workspace %s: %ld %s", name, r.status, r.body);
	snprintf(out_id, 37, "%s", th_str(&r, "id"));
	th_resp_free(&r);
}

struct race {
	pthread_barrier_t barrier;
	void (*fn)(int, void *);
	void *arg;
};

struct race_thread {
	struct race *race;
	int i;
};

static void *race_main(void *p)
{
	struct race_thread *t = p;
	pthread_barrier_wait(&t->race->barrier);
	t->race->fn(t->i, t->race->arg);
	return NULL;
}

void th_race(int n, void (*fn)(int i, void *arg), void *arg)
{
	struct race race = {.fn = fn, .arg = arg};
	pthread_barrier_init(&race.barrier, NULL, (unsigned)n);
	pthread_t *tids = calloc((size_t)n, sizeof *tids);
	struct race_thread *ts = calloc((size_t)n, sizeof *ts);
	assert_non_null(tids);
	assert_non_null(ts);
	for (int i = 0; i < n; i++) {
		ts[i] = (struct race_thread){&race, i};
		assert_int_equal(pthread_create(&tids[i], NULL, race_main, &ts[i]), 0);
	}
	for (int i = 0; i < n; i++)
		pthread_join(tids[i], NULL);
	pthread_barrier_destroy(&race.barrier);
	free(tids);
	free(ts);
}
