/* store_kit.c — the shared set-up of the store conformance programs; see store_kit.h. */
#include "store_kit.h"
#include "../../src/core/err.h"
#include "../pgtmp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char url[512];
bool is_sqlite;
co_store *st;
static char tmpdir[256];

int store_kit_args(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--postgres")) {
		int rc = pgtmp_create(url, sizeof url);
		if (rc == 1) {
			fprintf(stderr, "COLONY_TEST_PG is not set: skipping the PostgreSQL run\n");
			return PGTMP_SKIP;
		}
		if (rc)
			return 1;
	} else if (argc > 1) {
		snprintf(url, sizeof url, "%s", argv[1]);
	}
	return -1;
}

int store_kit_setup(void **state)
{
	(void)state;
	if (!url[0]) {
		snprintf(tmpdir, sizeof tmpdir, "/tmp/colony-store-XXXXXX");
		if (!mkdtemp(tmpdir))
			return -1;
		snprintf(url, sizeof url, "%s/store.db", tmpdir);
		is_sqlite = true;
	}
	if (co_store_open(url, NULL, &st)) {
		fprintf(stderr, "open %s: %s\n", url, co_err_msg());
		return -1;
	}
	return 0;
}

int store_kit_teardown(void **state)
{
	(void)state;
	co_store_close(st);
	if (tmpdir[0]) {
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}
