/*
 * harness.h — test kit for HTTP tests: a real colonyd on a loopback port, and a small
 * libcurl client.
 *
 * DESIGN NOTES
 *  1. th_server_start() runs build/colonyd (COLONYD_PATH) with a fresh SQLite file in a
 *     mkdtemp directory, port 0 and --port-file, its stderr (the request log) going to
 *     <dir>/colonyd.log. It waits for the port file.
 *  2. th_server_stop() sends SIGTERM and returns colonyd's exit status; tests assert it
 *     is 0, so a sanitizer report (leak, UB) in the server fails the test. On a non-zero
 *     status it prints the log's tail.
 *  3. A th_client is one keep-alive connection (a CURL easy handle); use one per thread.
 *     th_req() returns a th_resp the caller frees with th_resp_free().
 *  4. Auth (SPEC §10): colonyd runs with COLONY_ADMIN_TOKEN=TH_ADMIN_TOKEN (unless the
 *     extra arguments name --admin-token-file or --dev), and th_client_new() sends that
 *     admin token on every request. th_client_new_token() sends another token, or none.
 *     A request's own "Authorization:" header replaces the client's. Likewise
 *     COLONY_SECRETS_KEY=TH_SECRETS_KEY unless they name --secrets-key-file.
 */
#ifndef COLONY_TEST_HARNESS_H
#define COLONY_TEST_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct {
	pid_t pid;
	unsigned port;
	char dir[256];
	char db[300];      /* SQLite file, or a PostgreSQL URL (COLONY_TEST_BACKEND=postgres) */
	char base[64]; /* "http://127.0.0.1:PORT" */
	const char *const *args; /* extra colonyd arguments (caller-owned), reused on restart */
} th_server;

typedef struct {
	long status;     /* HTTP status, or 0 on a transport error */
	char *body;      /* NUL-terminated */
	size_t len;
	json_t *json;    /* parsed body, or NULL if not JSON */
	char etag[64];   /* ETag header, "" if none */
	char allow[64];  /* Allow header, "" if none */
	char request_id[80];
	long new_connections; /* connections curl opened for this request (0: reused) */
} th_resp;

typedef struct th_client th_client;

#define TH_ADMIN_TOKEN "colony-test-admin-token-0123456789abcdef"
#define TH_SECRETS_KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* Starts colonyd; extra_args (may be NULL) is a NULL-terminated argv tail. Aborts the
 * test on failure. */
void th_server_start(th_server *s, const char *const *extra_args);
/* Starts another colonyd on the database of `first` (a replica), in its own directory. */
void th_server_start_replica(th_server *s, const th_server *first);
/* The same, with its own extra arguments (NULL-terminated, caller-owned). */
void th_server_start_replica_args(th_server *s, const th_server *first,
				  const char *const *extra_args);
/* Stops it; returns its exit status (0 = clean), or -1 if it died by a signal. */
int th_server_stop(th_server *s);
/* Stops it but keeps its directory and database, for th_server_restart(). */
int th_server_stop_keep(th_server *s);
/* Starts colonyd again on the same directory and database. */
void th_server_restart(th_server *s);

th_client *th_client_new(const th_server *s);
/* A client that sends `token` as its bearer token (NULL: no Authorization header). */
th_client *th_client_new_token(const th_server *s, const char *token);
void th_client_free(th_client *c);

/* Sends a request. body may be NULL. headers is a NULL-terminated list of "Name: value"
 * lines (may be NULL). Content-Type: application/json is sent with a body unless a
 * Content-Type header is given. */
th_resp th_req(th_client *c, const char *method, const char *path, const char *body,
	       const char *const *headers);
/* printf-style body. */
th_resp th_reqf(th_client *c, const char *method, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void th_resp_free(th_resp *r);

/* Field helpers on r->json (NULL/0 when absent). */
const char *th_str(const th_resp *r, const char *field);
long long th_int(const th_resp *r, const char *field);

/* Creates a workspace {"name": name, "parent_id": parent or null}; returns its id in
 * out_id (37 bytes). Asserts 201. */
void th_create_ws(th_client *c, const char *name, const char *parent, char *out_id);

/* ---- helpers shared by the HTTP tests -------------------------------------------------- */

void th_sleep_ms(int ms);
/* Wall-clock µs since the epoch (the test's own clock, not colonyd's). */
long long th_now_us(void);
/* The contract's time form, strictly ("2026-11-23T16:38:16.123456Z") → µs; -1 if not. */
long long th_parse_ts(const char *s);
/* A time field of o that must be present and valid (fails the test otherwise). */
long long th_jtime(json_t *o, const char *k);
bool th_jnull(json_t *o, const char *k);
const char *th_jstr(json_t *o, const char *k);
long long th_jint(json_t *o, const char *k);
/* Asserts s is a lowercase UUIDv7 string. */
void th_assert_uuid7(const char *s);
/* Asserts a SPEC §1 error body with the given status and code (code NULL: any). */
void th_assert_error(const th_resp *r, long status, const char *code);
/* th_assert_error, then frees r. */
void th_expect_error(th_resp r, long status, const char *code);
/* GET path, asserting 200 with a JSON body; returns the body (json_decref it). */
json_t *th_get_ok(th_client *c, const char *path);
/* Sends body (stolen; NULL for none) as compact JSON. */
th_resp th_send_json(th_client *c, const char *method, const char *path, json_t *body);

/* Runs fn(i, arg) on n threads that start together (a barrier), and joins them. */
void th_race(int n, void (*fn)(int i, void *arg), void *arg);

#endif
