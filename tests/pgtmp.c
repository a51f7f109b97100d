/* pgtmp.c — fresh PostgreSQL databases for tests; see pgtmp.h. */
#include "pgtmp.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int pgtmp_create(char *out, size_t cap)
{
	const char *admin = getenv("COLONY_TEST_PG");
	if (!admin || !*admin)
		return 1;
	PGconn *c = PQconnectdb(admin);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pgtmp: cannot connect to %s: %s", admin, PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char name[64], sql[128];
	snprintf(name, sizeof name, "colony_t_%d_%ld", (int)getpid(), (long)(ts.tv_nsec ^ ts.tv_sec));
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "pgtmp: %s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
	if (!ok)
		return -1;
	/* the admin URL ends in /postgres: swap the database name */
	const char *slash = strrchr(admin, '/');
	size_t base = slash ? (size_t)(slash - admin) : strlen(admin);
	snprintf(out, cap, "%.*s/%s", (int)base, admin, name);
	return 0;
}
