/*
 * cron_driver.c — runs co_cron_next for lines read from stdin, for tests/cron/oracle.py.
 *
 * Each input line is "EXPR<TAB>ZONE<TAB>START_US<TAB>N". For each, one output line:
 * the next N fire instants in µs since the epoch, space separated, each computed from
 * the previous one (the first from START_US); "NONE" in place of an instant when
 * co_cron_next reports CO_ENOTFOUND (and the chain stops there); or "ERR <message>" if
 * the expression or the zone is rejected, or the line is malformed.
 * The oracle feeds every case in one run and reads all the output at the end.
 */
#include "../../src/core/cron.h"
#include "../../src/core/err.h"
#include "../../src/core/tz.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Handles one line (without its newline), writing one output line. */
static void run_line(char *line)
{
	char *f[4];
	int nf = 0;
	for (char *s = line; nf < 4; nf++) {
		f[nf] = s;
		char *tab = strchr(s, '\t');
		if (!tab) {
			nf++;
			break;
		}
		*tab = '\0';
		s = tab + 1;
	}
	if (nf != 4) {
		printf("ERR malformed line: expected 4 tab-separated fields\n");
		return;
	}
	char *end;
	errno = 0;
	long long start = strtoll(f[2], &end, 10);
	if (errno || *end || end == f[2]) {
		printf("ERR malformed START_US\n");
		return;
	}
	long n = strtol(f[3], &end, 10);
	if (*end || end == f[3] || n < 0 || n > 100000) {
		printf("ERR malformed N\n");
		return;
	}
	co_cron c;
	if (co_cron_parse(f[0], &c) != CO_OK) {
		printf("ERR %s\n", co_err_msg());
		return;
	}
	const co_tz *z = co_tz_get(f[1]);
	if (!z) {
		printf("ERR %s\n", co_err_msg());
		return;
	}
	co_usec_t t = start;
	for (long i = 0; i < n; i++) {
		int rc = co_cron_next(&c, z, t, &t);
		if (rc == CO_ENOTFOUND) {
			printf("%sNONE", i ? " " : "");
			break;
		}
		if (rc != CO_OK) {
			printf("%sERR %s", i ? " " : "", co_err_msg());
			break;
		}
		printf("%s%" PRId64, i ? " " : "", (int64_t)t);
	}
	printf("\n");
}

int main(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		run_line(line);
	}
	free(line);
	co_tz_cache_free();
	return fflush(stdout) == 0 ? 0 : 1;
}
