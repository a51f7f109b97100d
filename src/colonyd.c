/*
 * colonyd.c — the colony server: flags, storage, HTTP, signals.
 *
 * Start-up order: parse flags → open the store (migrates) → start HTTP → wait for
 * SIGTERM/SIGINT → graceful stop (stop accepting, finish in-flight requests, close the
 * store). Signals are blocked in every thread and taken by sigwait() in main, so no
 * handler runs in a random thread.
 */
#include "api/api.h"
#include "core/err.h"
#include "core/validate.h"
#include "store/store.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		"  --port-file PATH     write the bound port to PATH once listening (for tests)\n"
		"  --no-request-log     do not write one JSON line per request to stderr\n"
		"  --version            print the version and exit\n"
		"  --help               print this help and exit\n");
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
	bool request_log = true;
	static const struct option opts[] = {
		{"listen", required_argument, 0, 'l'},   {"db", required_argument, 0, 'd'},
		{"threads", required_argument, 0, 't'},  {"workers", required_argument, 0, 'w'},
		{"max-body", required_argument, 0, 'b'}, {"port-file", required_argument, 0, 'p'},
		{"no-request-log", no_argument, 0, 'q'}, {"version", no_argument, 0, 'V'},
		{"pg-pool", required_argument, 0, 'P'},
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
		case 'p': port_file = optarg; break;
		case 'P':
			if (int_flag("--pg-pool", optarg, 1, 1000, &pg_pool))
				return 2;
			break;
		case 'q': request_log = false; break;
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
	co_limits_current.max_body = (size_t)max_body;

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
	co_server_config cfg = {
		.listen = listen,
		.event_threads = (int)threads,
		.workers = (int)workers,
		.port_file = port_file,
		.request_log = request_log,
		.routes = co_api_routes,
		.store = store,
	};
	co_server *srv;
	if (co_server_start(&cfg, &srv)) {
		fprintf(stderr, "colonyd: %s\n", co_err_msg());
		co_store_close(store);
		return 1;
	}
	fprintf(stderr,
		"{\"level\":\"info\",\"msg\":\"colonyd %s listening\",\"listen\":\"%s\","
		"\"port\":%u,\"storage\":\"%s\"}\n",
		COLONY_VERSION, listen, co_server_port(srv), store->ops->name);

	int sig = 0;
	sigwait(&sigs, &sig);
	fprintf(stderr, "{\"level\":\"info\",\"msg\":\"signal %d: shutting down\"}\n", sig);
	co_server_stop(srv, 10000);
	co_store_close(store);
	fprintf(stderr, "{\"level\":\"info\",\"msg\":\"stopped\"}\n");
	return 0;
}
