/* harness.c — real colonyd + libcurl client for HTTP tests; see harness.h. */
#include "harness.h"

#include <ctype.h>
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

void th_sleep_ms(int ms)
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

	bool own_admin = false; /* the test chose the admin token's source itself */
	bool own_key = false;   /* … or the secrets key's */
	for (int i = 0; extra_args && extra_args[i]; i++) {
		if (!strcmp(extra_args[i], "--admin-token-file") || !strcmp(extra_args[i], "--dev"))
			own_admin = true;
		if (!strcmp(extra_args[i], "--secrets-key-file"))
			own_key = true;
	}
	pid_t pid = fork();
	if (pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* a crashed test takes its colonyd with it */
		if (own_admin)
			unsetenv("COLONY_ADMIN_TOKEN");
		else
			setenv("COLONY_ADMIN_TOKEN", TH_ADMIN_TOKEN, 1);
		if (own_key)
			unsetenv("COLONY_SECRETS_KEY");
		else /* one key for every colonyd of a test, replicas included, and no key file
		      * left in the working directory by a PostgreSQL run */
			setenv("COLONY_SECRETS_KEY", TH_SECRETS_KEY, 1);
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
		th_sleep_ms(10);
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
	char auth[600]; /* "Authorization: Bearer …", or "" for none */
};

th_client *th_client_new_token(const th_server *s, const char *token)
{
	pthread_once(&curl_once, curl_init_once);
	th_client *c = calloc(1, sizeof *c);
	MUST(c);
	c->curl = curl_easy_init();
	MUST(c->curl);
	snprintf(c->base, sizeof c->base, "%s", s->base);
	if (token)
		snprintf(c->auth, sizeof c->auth, "Authorization: Bearer %s", token);
	return c;
}

th_client *th_client_new(const th_server *s) { return th_client_new_token(s, TH_ADMIN_TOKEN); }

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
	bool has_ct = false, has_auth = false;
	for (int i = 0; headers && headers[i]; i++) {
		hl = curl_slist_append(hl, headers[i]);
		if (!strncasecmp(headers[i], "Content-Type:", 13))
			has_ct = true;
		if (!strncasecmp(headers[i], "Authorization:", 14))
			has_auth = true;
	}
	if (c->auth[0] && !has_auth)
		hl = curl_slist_append(hl, c->auth);
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

/* ---- helpers shared by the HTTP tests -------------------------------------------------- */

long long th_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

long long th_parse_ts(const char *s)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
	if (!s || strlen(s) != sizeof pat - 1)
		return -1;
	for (size_t i = 0; i < sizeof pat - 1; i++)
		if (pat[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != pat[i])
			return -1;
	struct tm tm = {0};
	int frac = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%6dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &frac) != 7)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (long long)timegm(&tm) * 1000000LL + frac;
}

long long th_jtime(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	long long t = th_parse_ts(s);
	if (t < 0)
		fail_msg("field %s is not an RFC 3339 µs UTC time: %s", k, s ? s : "(absent/not a string)");
	return t;
}

bool th_jnull(json_t *o, const char *k) { return json_is_null(json_object_get(o, k)); }
const char *th_jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }
long long th_jint(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }

void th_assert_uuid7(const char *s)
{
	assert_non_null(s);
	assert_int_equal(strlen(s), 36);
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			assert_int_equal(s[i], '-');
		else if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			fail_msg("id %s is not lowercase hex", s);
	}
	assert_int_equal(s[14], '7');
	assert_non_null(strchr("89ab", s[19]));
}

void th_assert_error(const th_resp *r, long status, const char *code)
{
	if (r->status != status)
		fail_msg("expected %ld (%s), got %ld: %s", status, code ? code : "", r->status, r->body);
	const char *e = th_str(r, "error");
	if (!e || !*e)
		fail_msg("error body has no sentence: %s", r->body);
	if (code && (!th_str(r, "code") || strcmp(th_str(r, "code"), code)))
		fail_msg("expected code %s, got: %s", code, r->body);
}

void th_expect_error(th_resp r, long status, const char *code)
{
	th_assert_error(&r, status, code);
	th_resp_free(&r);
}

json_t *th_get_ok(th_client *c, const char *path)
{
	th_resp r = th_req(c, "GET", path, NULL, NULL);
	if (r.status != 200 || !r.json)
		fail_msg("GET %s: %ld %s", path, r.status, r.body);
	json_t *j = json_incref(r.json);
	th_resp_free(&r);
	return j;
}

th_resp th_send_json(th_client *c, const char *method, const char *path, json_t *body)
{
	char *s = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	json_decref(body);
	th_resp r = th_req(c, method, path, s, NULL);
	free(s);
	return r;
}
