/*
 * fuzz_kit.h — what the HTTP harnesses (fuzz_body, fuzz_router) share: the real colonyd
 * server started in the fuzzing process, fixture rows with real ids, a keep-alive
 * loopback HTTP client, and the oracle every response must pass.
 *
 * DESIGN NOTES
 *  1. The server is assembled as colonyd.c assembles it: a SQLite store in a fresh
 *     mkdtemp directory, the secrets key (a fixed one), the scheduler (ticking every
 *     FZ_TICK_MS, so fires race the fuzzed requests), co_server_start on 127.0.0.1:0 with
 *     co_api_routes, auth on with FZ_ADMIN_TOKEN, request log off. It runs in the same
 *     process as the harness, so ASan/UBSan watch its threads too.
 *  2. Fixtures (made over HTTP, so they are what a client would see): a tree
 *     root R > workspace W > child C; W has a schedule S, a claimed inbox message M, a
 *     skill FZ_SKILL with one version, a memory key FZ_KEY, and — when the tokens API
 *     answers 201 — a workspace token of W. fz_fixtures_check() re-makes whatever a
 *     fuzzed request removed or used up (a deleted workspace, an acked message); every
 *     so often (and before each reset) it also checks that GET /audit/verify says the
 *     audit chain is valid.
 *  3. The store is reset (server stopped, store closed, directory removed, all started
 *     again) every FZ_RESET_EVERY inputs, so millions of inputs do not grow the
 *     database (and the audit chain that GET /audit/verify walks) without bound.
 *  4. Webhooks: a fuzzed workspace url must never reach a real host. Every curl
 *     request is sent through a proxy at 127.0.0.1:9 (nothing listens there: refused at
 *     once), set with the standard proxy variables before curl starts.
 *  5. The oracle (fz_check): a complete HTTP/1.1 response; a status below 500 (no
 *     exception: a 503 from storage contention has not been seen with one client on
 *     SQLite, and the tokens and secrets routes, placeholders answering 501 when the
 *     harnesses were written, are implemented); a body that is JSON without repeated keys
 *     (every answer goes through the reply funnel), an error body with string "error"
 *     and "code", except for 204 and HEAD; an X-Request-Id header. A breach prints the
 *     request and the response and abort()s, which libFuzzer reports as a crash with
 *     the input. FUZZ_VERBOSE=1 prints every request with its status and answer.
 */
#ifndef COLONY_FUZZ_KIT_H
#define COLONY_FUZZ_KIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FZ_ADMIN_TOKEN "colony-fuzz-admin-token-0123456789abcdef"
#define FZ_SKILL "fuzz-skill"
#define FZ_KEY "fuzz-key"
#define FZ_RESET_EVERY 20000 /* inputs between store resets (note 3) */
#define FZ_TICK_MS 200       /* scheduler interval */

/* The fixture ids (note 2), as 36-character strings. */
typedef struct {
	char root[40], ws[40], child[40]; /* R > W > C */
	char sched[40];                   /* a schedule of W */
	char msg[40];                     /* a message of W, claimed */
	char token_id[40];                /* W's token, "" if the tokens API is not there */
	char token[128];                  /* its plaintext */
	unsigned generation;              /* bumped each time fixtures are re-made */
} fz_fixtures;

extern fz_fixtures fz_fx;

/* A response as read off the socket. */
typedef struct {
	int status;          /* 0: no complete response */
	char *head;          /* status line and headers, NUL-terminated */
	char *body;          /* NUL-terminated (may also contain NULs) */
	size_t body_len;
	bool close;          /* the server said Connection: close (or closed) */
	const char *failure; /* why the response is incomplete (status 0) */
} fz_resp;

/* Who calls: the admin token; W's token (should the tokens API make none, a well-formed
 * token that no workspace has, which takes the gate's store path all the same); or no
 * Authorization header at all. */
typedef enum { FZ_ADMIN = 0, FZ_WS_TOKEN, FZ_NO_TOKEN } fz_caller;

/* One request to send: method, target (path and query, sent as is), optional extra
 * header lines ("Name: value", NULL-terminated list), optional body. */
typedef struct {
	const char *method;
	const char *target;
	const char *const *headers;
	const char *body; /* NULL: no body (no Content-Length) */
	size_t body_len;
	fz_caller who;
} fz_req;

/* Starts everything (note 1) once and makes the fixtures. Aborts on failure. Safe to
 * call again (does nothing). Registers fz_stop with atexit. */
void fz_start(void);
/* LLVMFuzzerInitialize of the HTTP harnesses (defined in fuzz_kit.c): fz_start(). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
/* Stops the server, the scheduler and the store and removes the directory. */
void fz_stop(void);
/* Counts an input; resets the store every FZ_RESET_EVERY inputs (note 3). */
void fz_tick_input(void);
/* Re-makes fixtures that are gone or used up (note 2). `force`: check every one now;
 * otherwise only every so often. */
void fz_fixtures_check(bool force);

/* Sends req on the kept-alive connection (reconnecting if the server closed it) and
 * reads the response into *out (free with fz_resp_free). */
void fz_send(const fz_req *req, fz_resp *out);
void fz_resp_free(fz_resp *r);

/* The oracle (note 5): aborts with the request and response printed if r breaks it. */
void fz_check(const fz_req *req, const fz_resp *r);

/* Reports a finding about q and its response r (why: printf format) and aborts. */
__attribute__((noreturn, format(printf, 3, 4))) void fz_fail(const fz_req *q, const fz_resp *r,
							     const char *fmt, ...);

/* GET target as the admin, through the oracle; the body as JSON (NULL unless *status is
 * 200 and the body parses). The caller decrefs. */
json_t *fz_get(const char *target, int *status);

/* Percent-escapes every byte of s but [A-Za-z0-9._~-] into out (cap bytes). */
void fz_escape(const char *s, char *out, size_t cap);

/* A JSON string member of the response body, copied into out (cap bytes); false if
 * absent. */
bool fz_resp_str(const fz_resp *r, const char *field, char *out, size_t cap);

#endif
