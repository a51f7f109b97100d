/*
 * colonyd.c — the colony server: flags, storage, HTTP, signals.
 *
 * Start-up order: parse flags → load (or make) the admin token and the secrets key →
 * open the store (migrates) → start the scheduler → start
 * HTTP → wait for SIGTERM/SIGINT → graceful stop (stop claiming schedule slots, stop
 * accepting, finish in-flight requests, end webhook delivery, close the store). Signals are blocked in every thread and taken by sigwait() in main, so no
 * handler runs in a random thread. `--verify-audit` instead opens the store, checks the
 * audit log's hash chain, prints the outcome and exits (0 valid, 1 broken, 2 unreadable).
 */
#include "api/api.h"
#include "core/auth.h"
#include "core/err.h"
#include "core/secret.h"
#include "core/tz.h"
#include "core/validate.h"
#include "sched/scheduler.h"
#include "store/store.h"

#include <curl/curl.h>
#include <sodium.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COLONY_VERSION "0.1.0"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: colonyd [options]\n"
		"\n"
		"  --listen HOST:PORT   address to serve on (default 127.0.0.1:8080; port 0 = any)\n"
		"  --db PATH|URL        SQLite database file (default ./colony.db), or PostgreSQL:\n"
		"                       postgres://user@host:port/db or \"host=… dbname=…\"\n"
		"  --pg-pool N          PostgreSQL connections (default 16)\n"
		"  --threads N          HTTP event threads (default: number of cores)\n"
		"  --workers N          threads running writes (default 64; bounds commit batches)\n"
		"  --max-body BYTES     request body limit (default 1048576)\n"
		"  --max-import-body BYTES  body limit of POST /org/import (default 33554432)\n"
		"  --port-file PATH     write the bound port to PATH once listening (for tests)\n"
		"  --no-request-log     do not write one JSON line per request to stderr\n"
		"  --scheduler-interval-ms N  how often due schedules are looked for (default 1000)\n"
		"  --no-scheduler       fire no schedules from this process (manual runs still work)\n"
		"  --webhook-timeout-ms N  limit of one webhook POST (default 10000)\n"
		"  --test-clock-file PATH  TESTS ONLY: \"now\" is the integer of microseconds since\n"
		"                       the epoch in PATH, when it exists (moves time for tests)\n"
		"  --dev                no auth: every caller is admin; only with a loopback --listen\n"
		"  --admin-token-file PATH  where the admin token is kept when COLONY_ADMIN_TOKEN is\n"
		"                       not set (default: beside the SQLite file, DB.admin-token;\n"
		"                       with PostgreSQL it must be named); made 0600 if absent\n"
		"  --secrets-key-file PATH  the secrets key when COLONY_SECRETS_KEY is not set\n"
		"                       (default DB.secrets-key; with PostgreSQL it must be named);\n"
		"                       made 0600 if absent\n"
		"  --rate-limit N       requests per second per workspace token (default 100; 0 = off)\n"
		"  --rate-burst N       requests a token may make at once (default 2 x --rate-limit)\n"
		"  --request-timeout S  a request's headers and body must arrive within S seconds\n"
		"                       (default 30); slower clients are cut off\n"
		"  --idle-timeout S     close keep-alive connections idle for S seconds (default 60)\n"
		"  --max-header-bytes N request line and headers (default 16384; larger: 431)\n"
		"  --max-url-bytes N    request target (default 8192; longer: 414)\n"
		"  --verify-audit       do not serve: open the --db store, verify the audit log's\n"
		"                       hash chain and exit 0 (\"audit chain valid: N records\"),\n"
		"                       1 (\"audit chain broken at seq S (id …): reason\") or 2 (the\n"
		"                       store could not be read)\n"
		"  --version            print the version and exit\n"
		"  --help               print this help and exit\n");
}

/* --verify-audit: walks the audit chain of the store at db (SPEC §7, core/audit.h note 3)
 * and prints the outcome. Returns the exit status: 0 valid, 1 broken, 2 unreadable. */
static int verify_audit(const char *db)
{
	/* A SQLite path must name an existing file: opening would create an empty database,
	 * whose (empty) chain is valid, and a mistyped path would pass. */
	if (!strstr(db, "://") && !strchr(db, '=') && access(db, F_OK) != 0) {
		fprintf(stderr, "colonyd: no database at %s\n", db);
		return 2;
	}
	co_store *store;
	if (co_store_open(db, NULL, &store)) {
		fprintf(stderr, "colonyd: %s\n", co_err_msg());
		return 2;
	}
	co_audit_verify v;
	int rc = CO_STORE_CALL(store, audit_verify, &v);
	if (rc)
		fprintf(stderr, "colonyd: verifying the audit log: %s\n", co_err_msg());
	co_store_close(store);
	co_tz_cache_free();
	if (rc)
		return 2;
	if (v.valid) {
		printf("audit chain valid: %lld records\n", (long long)v.records);
		return 0;
	}
	printf("audit chain broken at seq %lld (id %s): %s\n", (long long)v.broken_seq,
	       v.broken_id.s, v.reason);
	return 1;
}

/* --test-clock-file: the file's integer (µs since the epoch) is "now"; 0 (real time) if
 * it is absent or unreadable. Read on every call: tests move it by rename(). */
static const char *test_clock_path;

static co_usec_t test_clock(void)
{
	int fd = open(test_clock_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	char buf[32];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	buf[strcspn(buf, " \r\n")] = 0;
	int64_t v;
	return co_parse_i64(buf, 1, INT64_MAX, &v) ? 0 : v;
}

static bool is_pg_url(const char *db) { return strstr(db, "://") || strchr(db, '='); }

/* The default path of a key file: beside a SQLite database. With PostgreSQL there is no
 * default: replicas on several machines must share one admin token and one secrets key,
 * and a key made up by each replica would make the others' secrets unreadable, so the
 * operator names them (environment or flag). CO_EINVAL then. */
static int default_key_path(const char *db, const char *suffix, const char *env,
			    const char *flag, char *out, size_t cap)
{
	if (is_pg_url(db))
		return co_err_set(CO_EINVAL,
				  "with PostgreSQL every replica must use the same %s: set %s, or "
				  "name a file with %s", suffix, env, flag);
	snprintf(out, cap, "%s.%s", db, suffix);
	return CO_OK;
}

/* The admin token's hash (auth.h note 4): from COLONY_ADMIN_TOKEN, else from the file
 * (made with a fresh token if absent, and its path said once). CO_OK or an error. */
static int load_admin_token(const char *db, const char *file, char *hash_hex)
{
	const char *env = getenv("COLONY_ADMIN_TOKEN");
	if (env && *env) {
		if (!co_admin_token_valid(env))
			return co_err_set(CO_EINVAL, "COLONY_ADMIN_TOKEN must be %d..%d printable "
					  "characters without spaces", CO_ADMIN_TOKEN_MIN,
					  CO_ADMIN_TOKEN_MAX);
		co_token_hash_hex(env, hash_hex);
		fprintf(stderr, "{\"level\":\"info\",\"msg\":\"admin token from "
				"COLONY_ADMIN_TOKEN\"}\n");
		return CO_OK;
	}
	char path[4096], fresh[CO_ADMIN_TOKEN_FRESH_LEN + 1], tok[CO_ADMIN_TOKEN_MAX + 2];
	if (file)
		snprintf(path, sizeof path, "%s", file);
	else if (default_key_path(db, "admin-token", "COLONY_ADMIN_TOKEN", "--admin-token-file",
				  path, sizeof path))
		return CO_EINVAL;
	co_admin_token_fresh(fresh);
	bool created;
	int rc = co_keyfile_load_or_create(path, fresh, tok, sizeof tok, &created);
	sodium_memzero(fresh, sizeof fresh);
	if (rc)
		return rc;
	if (!co_admin_token_valid(tok)) {
		sodium_memzero(tok, sizeof tok);
		return co_err_set(CO_EINVAL, "%s does not hold a valid admin token", path);
	}
	co_token_hash_hex(tok, hash_hex);
	sodium_memzero(tok, sizeof tok);
	co_buf b;
	co_buf_init(&b);
	co_buf_puts(&b, "{\"level\":\"info\",\"msg\":");
	co_buf_json_cstr(&b, created ? "admin token written (mode 0600)" : "admin token from file");
	co_buf_puts(&b, ",\"path\":");
	co_buf_json_cstr(&b, path);
	co_buf_puts(&b, "}\n");
	if (co_buf_ok(&b))
		fputs(b.data, stderr);
	co_buf_free(&b);
	return CO_OK;
}

/* The secrets key (secret.h note 1): COLONY_SECRETS_KEY, else the key file (made with a
 * fresh key if absent). CO_OK or an error. */
static int load_secrets_key(const char *db, const char *file)
{
	unsigned char key[CO_SECRET_KEY_LEN];
	const char *env = getenv("COLONY_SECRETS_KEY");
	int rc;
	if (env && *env) {
		rc = co_secret_key_parse(env, key);
		if (rc)
			return co_err_set(rc, "COLONY_SECRETS_KEY: %s", co_err_msg());
	} else {
		char path[4096], fresh[2 * CO_SECRET_KEY_LEN + 1], text[256];
		if (file)
			snprintf(path, sizeof path, "%s", file);
		else if (default_key_path(db, "secrets-key", "COLONY_SECRETS_KEY",
					  "--secrets-key-file", path, sizeof path))
			return CO_EINVAL;
		co_secret_key_fresh_hex(fresh);
		bool created;
		rc = co_keyfile_load_or_create(path, fresh, text, sizeof text, &created);
		sodium_memzero(fresh, sizeof fresh);
		if (rc == CO_OK && (rc = co_secret_key_parse(text, key)))
			rc = co_err_set(rc, "%s: %s", path, co_err_msg());
		sodium_memzero(text, sizeof text);
		if (rc)
			return rc;
	}
	rc = co_secret_set_key(key);
	sodium_memzero(key, sizeof key);
	return rc;
}

static int int_flag(const char *name, const char *v, int64_t min, int64_t max, int64_t *out)
{
	if (co_parse_i64(v, min, max, out)) {
		fprintf(stderr, "colonyd: %s: %s\n", name, co_err_msg());
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *listen = "127.0.0.1:8080", *db = "./colony.db", *port_file = NULL;
	int64_t threads = 0, workers = 64, max_body = (int64_t)co_limits_current.max_body, pg_pool = 16;
	int64_t sched_interval = 1000, webhook_timeout = 10000;
	int64_t max_import_body = (int64_t)co_limits_current.max_import_body;
	bool request_log = true, scheduler = true, verify = false, dev = false;
	const char *admin_token_file = NULL, *secrets_key_file = NULL;
	int64_t rate_limit = 100, rate_burst = 0, request_timeout = 30, idle_timeout = 60;
	int64_t max_header = 16384, max_url = 8192;
	static const struct option opts[] = {
		{"listen", required_argument, 0, 'l'},   {"db", required_argument, 0, 'd'},
		{"threads", required_argument, 0, 't'},  {"workers", required_argument, 0, 'w'},
		{"max-body", required_argument, 0, 'b'}, {"port-file", required_argument, 0, 'p'},
		{"no-request-log", no_argument, 0, 'q'}, {"version", no_argument, 0, 'V'},
		{"pg-pool", required_argument, 0, 'P'},
		{"scheduler-interval-ms", required_argument, 0, 'S'},
		{"no-scheduler", no_argument, 0, 'N'},
		{"webhook-timeout-ms", required_argument, 0, 'W'},
		{"test-clock-file", required_argument, 0, 'C'},
		{"max-import-body", required_argument, 0, 'I'},
		{"verify-audit", no_argument, 0, 'A'},
		{"dev", no_argument, 0, 'D'},
		{"admin-token-file", required_argument, 0, 'T'},
		{"secrets-key-file", required_argument, 0, 'K'},
		{"rate-limit", required_argument, 0, 'R'},
		{"rate-burst", required_argument, 0, 'U'},
		{"request-timeout", required_argument, 0, 'O'},
		{"idle-timeout", required_argument, 0, 'E'},
		{"max-header-bytes", required_argument, 0, 'H'},
		{"max-url-bytes", required_argument, 0, 'L'},
		{"help", no_argument, 0, 'h'},           {0, 0, 0, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen = optarg; break;
		case 'd': db = optarg; break;
		case 't':
			if (int_flag("--threads", optarg, 1, 256, &threads))
				return 2;
			break;
		case 'w':
			if (int_flag("--workers", optarg, 1, 4096, &workers))
				return 2;
			break;
		case 'b':
			if (int_flag("--max-body", optarg, 1024, 1LL << 30, &max_body))
				return 2;
			break;
		case 'I':
			if (int_flag("--max-import-body", optarg, 1024, 1LL << 30, &max_import_body))
				return 2;
			break;
		case 'p': port_file = optarg; break;
		case 'P':
			if (int_flag("--pg-pool", optarg, 1, 1000, &pg_pool))
				return 2;
			break;
		case 'q': request_log = false; break;
		case 'S':
			if (int_flag("--scheduler-interval-ms", optarg, 1, 3600000, &sched_interval))
				return 2;
			break;
		case 'N': scheduler = false; break;
		case 'W':
			if (int_flag("--webhook-timeout-ms", optarg, 1, 3600000, &webhook_timeout))
				return 2;
			break;
		case 'C': test_clock_path = optarg; break;
		case 'A': verify = true; break;
		case 'D': dev = true; break;
		case 'T': admin_token_file = optarg; break;
		case 'K': secrets_key_file = optarg; break;
		case 'R':
			if (int_flag("--rate-limit", optarg, 0, 1000000, &rate_limit))
				return 2;
			break;
		case 'U':
			if (int_flag("--rate-burst", optarg, 1, 10000000, &rate_burst))
				return 2;
			break;
		case 'O':
			if (int_flag("--request-timeout", optarg, 1, 3600, &request_timeout))
				return 2;
			break;
		case 'E':
			if (int_flag("--idle-timeout", optarg, 1, 86400, &idle_timeout))
				return 2;
			break;
		case 'H':
			if (int_flag("--max-header-bytes", optarg, 1024, 1 << 20, &max_header))
				return 2;
			break;
		case 'L':
			if (int_flag("--max-url-bytes", optarg, 256, 1 << 20, &max_url))
				return 2;
			break;
		case 'V': printf("colonyd %s\n", COLONY_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "colonyd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (verify)
		return verify_audit(db);
	co_limits_current.max_body = (size_t)max_body;
	co_limits_current.max_import_body = (size_t)max_import_body;
	if (test_clock_path)
		co_clock_set_source(test_clock);
	char admin_hash[CO_TOKEN_HASH_HEX + 1] = "";
	if (co_auth_init() || (!dev && load_admin_token(db, admin_token_file, admin_hash)) ||
	    load_secrets_key(db, secrets_key_file)) {
		fprintf(stderr, "colonyd: %s\n", co_err_msg());
		return 1;
	}
	/* Read once; not left in the environment for anything this process might start. */
	unsetenv("COLONY_ADMIN_TOKEN");
	unsetenv("COLONY_SECRETS_KEY");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) { /* before any thread */
		fprintf(stderr, "colonyd: curl_global_init failed\n");
		return 1;
	}

	/* Every thread created from here on inherits this mask; main takes the signals. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	co_store *store;
	co_store_opts store_opts = {.pg_pool = (int)pg_pool};
	if (co_store_open(db, &store_opts, &store)) {
		fprintf(stderr, "colonyd: %s\n", co_err_msg());
		return 1;
	}
	co_scheduler_config sched_cfg = {.store = store,
					 .tick = scheduler,
					 .interval_ms = (int)sched_interval,
					 .webhook_timeout_ms = (int)webhook_timeout};
	if (co_scheduler_start(&sched_cfg)) {
		fprintf(stderr, "colonyd: %s\n", co_err_msg());
		co_store_close(store);
		return 1;
	}
	co_server_config cfg = {
		.listen = listen,
		.event_threads = (int)threads,
		.workers = (int)workers,
		.port_file = port_file,
		.request_log = request_log,
		.routes = co_api_routes,
		.store = store,
		.auth_off = dev,
		.admin_hash_hex = admin_hash,
		.rate_limit = (int)rate_limit,
		.rate_burst = (int)rate_burst,
		.request_timeout_s = (int)request_timeout,
		.idle_timeout_s = (int)idle_timeout,
		.max_header_bytes = (size_t)max_header,
		.max_url_bytes = (size_t)max_url,
	};
	co_server *srv;
	if (co_server_start(&cfg, &srv)) {
		fprintf(stderr, "colonyd: %s\n", co_err_msg());
		co_scheduler_stop();
		co_store_close(store);
		return 1;
	}
	fprintf(stderr,
		"{\"level\":\"info\",\"msg\":\"colonyd %s listening\",\"listen\":\"%s\","
		"\"port\":%u,\"storage\":\"%s\",\"auth\":\"%s\"}\n",
		COLONY_VERSION, listen, co_server_port(srv), store->ops->name,
		dev ? "off (--dev)" : "on");

	int sig = 0;
	sigwait(&sigs, &sig);
	fprintf(stderr, "{\"level\":\"info\",\"msg\":\"signal %d: shutting down\"}\n", sig);
	co_scheduler_quiesce(); /* claim no more slots */
	co_server_stop(srv, 10000);
	co_scheduler_stop(); /* webhooks: the one in flight finishes, queued ones are marked */
	unsigned long long fired, lost;
	co_scheduler_stats(&fired, &lost);
	fprintf(stderr, "{\"level\":\"info\",\"msg\":\"scheduler\",\"fired\":%llu,\"lost_races\":%llu}\n",
		fired, lost);
	co_store_close(store);
	co_tz_cache_free();
	curl_global_cleanup();
	fprintf(stderr, "{\"level\":\"info\",\"msg\":\"stopped\"}\n");
	return 0;
}
