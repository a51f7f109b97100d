/*
 * fuzz_cron.c — libFuzzer harness: the cron parser (co_cron_parse) and next fire times
 * (co_cron_next) across time zones and DST transitions.
 *
 * Input: text. Line 1 is the expression (up to a NUL or newline). An optional line 2
 * names one more IANA zone to try; an optional line 3 gives one more start instant
 * (decimal seconds since the epoch, kept within years 1..9999).
 *
 * Oracle, for an expression that parses (besides ASan/UBSan):
 *  - round trip: the parsed sets written back as plain lists ("0,30 9 1-31 1-12 1-3")
 *    parse to the identical co_cron (when that text fits in 255 bytes);
 *  - in each zone (UTC, Europe/London, America/New_York, Australia/Lord_Howe, and line
 *    2's) from each start (quiet days, both sides of DST changes, before 1970, 2099,
 *    2150, and line 3's): co_cron_next succeeds (an accepted expression fires within 8
 *    years), and four successive fires are strictly increasing whole seconds, each
 *    after its start;
 *  - each fire is a matching wall-clock minute in the zone, or the end of a DST gap
 *    that swallowed a matching minute (cron.h note 4);
 *  - nothing is skipped: every matching wall minute from two hours before the start's
 *    wall time to two hours past the first fire's (at most two days on) first occurs at
 *    or before the start, or not before that fire.
 * An expression that does not parse must leave a message naming "cron".
 */
#include "../src/core/clock.h"
#include "../src/core/cron.h"
#include "../src/core/err.h"
#include "../src/core/tz.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USEC 1000000LL
#define SCAN_DAYS 2
#define YEAR1 (-62135596800LL)      /* 0001-01-01T00:00:00Z */
#define YEAR9999 (253402300799LL)   /* 9999-12-31T23:59:59Z */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const zones[] = {"UTC", "Europe/London", "America/New_York",
				    "Australia/Lord_Howe"};

/* Seconds since the epoch (UTC); some carry a fraction to test rounding. */
static const co_usec_t starts[] = {
	1767600000LL * USEC,          /* 2026-01-05T08:00Z, a quiet Monday */
	1772953170LL * USEC + 250000, /* 2026-03-08T06:59:30.25Z: New York springs forward */
	1774744200LL * USEC,          /* 2026-03-29T00:30Z: London springs forward */
	1775313910LL * USEC,          /* 2026-04-04T14:45:10Z: Lord Howe falls back 30 min */
	1791041340LL * USEC,          /* 2026-10-03T15:29Z: Lord Howe springs forward 30 min */
	1792889999LL * USEC + 999999, /* 2026-10-25T00:59:59.999999Z: London falls back */
	1793511000LL * USEC,          /* 2026-11-01T05:30Z: New York falls back */
	-18489600LL * USEC,           /* 1969-06-01T00:00Z */
	-2717654400LL * USEC,         /* 1883-11-18T16:00Z: New York leaves local mean time */
	4102444799LL * USEC,          /* 2099-12-31T23:59:59Z */
	5694580800LL * USEC + 500000, /* 2150-06-15T12:00:00.5Z */
};

static __attribute__((noreturn)) void fail(const char *expr, const char *zone, co_usec_t from,
					   const char *why, long long a, long long b)
{
	fprintf(stderr, "\n==== FUZZ ORACLE (cron): %s\nexpression: \"%s\"\nzone: %s\nfrom: %lld us\n"
			"values: %lld, %lld\nerror message: %s\n",
		why, expr, zone, (long long)from, a, b, co_err_msg());
	abort();
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Does the wall-clock minute starting at local second L match? */
static bool wall_matches(const co_cron *c, int64_t L)
{
	int64_t days = floor_div(L, 86400), y;
	unsigned m, d;
	co_civil_from_days(days, &y, &m, &d);
	int64_t sod = L - days * 86400;
	unsigned dow = (unsigned)(((days + 4) % 7 + 7) % 7);
	return co_cron_matches(c, y, m, d, (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60), dow);
}

static bool same_cron(const co_cron *a, const co_cron *b)
{
	return a->minutes == b->minutes && a->hours == b->hours && a->dom == b->dom &&
	       a->months == b->months && a->dow == b->dow &&
	       a->dom_restricted == b->dom_restricted && a->dow_restricted == b->dow_restricted;
}

/* Writes the sets of c back as plain lists of numbers and ranges, field by field. */
static void unparse(const co_cron *c, char *out, size_t cap)
{
	const uint64_t sets[5] = {c->minutes, c->hours, c->dom, c->months, c->dow};
	const unsigned lo[5] = {0, 0, 1, 1, 0}, hi[5] = {59, 23, 31, 12, 6};
	size_t n = 0;
	for (int f = 0; f < 5; f++) {
		bool first = true;
		if (f)
			out[n++] = ' ';
		for (unsigned v = lo[f]; v <= hi[f]; v++) {
			if (!(sets[f] >> v & 1))
				continue;
			unsigned e = v;
			while (e < hi[f] && (sets[f] >> (e + 1) & 1))
				e++;
			if (e > v)
				n += (size_t)snprintf(out + n, cap - n, "%s%u-%u", first ? "" : ",", v, e);
			else
				n += (size_t)snprintf(out + n, cap - n, "%s%u", first ? "" : ",", v);
			first = false;
			v = e;
		}
		if (first) /* an empty set cannot come out of the parser */
			n += (size_t)snprintf(out + n, cap - n, "?");
	}
	out[n] = 0;
}

static void check_zone(const char *expr, const co_cron *c, const char *zname, co_usec_t from)
{
	const co_tz *z = co_tz_get(zname);
	if (!z)
		return; /* an unknown zone on line 2: nothing to check */
	co_usec_t prev = from, next = 0;
	for (int k = 0; k < 4; k++) {
		int rc = co_cron_next(c, z, prev, &next);
		if (rc != CO_OK)
			fail(expr, zname, prev, "co_cron_next found no fire time", rc, 0);
		if (next <= prev)
			fail(expr, zname, prev, "next fire is not after its start", next, prev);
		if (next % USEC)
			fail(expr, zname, prev, "next fire is not a whole second", next, 0);
		int64_t u = next / USEC;
		int64_t off = co_tz_offset_at(z, u), off_before = co_tz_offset_at(z, u - 1);
		int64_t wall = u + off;
		if (!(wall % 60 == 0 && wall_matches(c, wall))) {
			/* The end of a gap that swallowed a matching minute? The skipped wall
			 * times are [u + off_before, u + off). */
			bool gap_ok = false;
			if (off > off_before)
				for (int64_t L = floor_div(u + off_before + 59, 60) * 60; L < wall && !gap_ok;
				     L += 60)
					gap_ok = wall_matches(c, L);
			if (!gap_ok)
				fail(expr, zname, prev, "fire is neither a matching minute nor a gap's end",
				     next, wall);
		}
		if (k == 0) {
			/* Nothing skipped between from and the first fire (file comment). */
			int64_t after = floor_div(from, USEC);
			int64_t w0 = after + co_tz_offset_at(z, after);
			int64_t L = floor_div(w0 - 7200, 60) * 60;
			int64_t end = w0 + SCAN_DAYS * 86400;
			if (end > wall + 7200)
				end = wall + 7200;
			for (; L <= end; L += 60) {
				if (!wall_matches(c, L))
					continue;
				int64_t first = co_tz_local_to_utc(z, L, NULL);
				if (first > after && first < u)
					fail(expr, zname, from, "a matching minute was skipped", L, first);
			}
		}
		prev = next;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[1024];
	size_t n = size < sizeof buf - 1 ? size : sizeof buf - 1;
	memcpy(buf, data, n);
	buf[n] = 0;
	/* Line 1: the expression; line 2: a zone; line 3: a start. */
	char *zone = NULL, *start = NULL;
	char *nl = strchr(buf, '\n');
	if (nl) {
		*nl = 0;
		zone = nl + 1;
		if ((nl = strchr(zone, '\n'))) {
			*nl = 0;
			start = nl + 1;
			if ((nl = strchr(start, '\n')))
				*nl = 0;
		}
	}
	const char *expr = buf;

	co_cron c;
	co_err_set(CO_OK, "%s", "");
	int rc = co_cron_parse(expr, &c);
	if (rc != CO_OK) {
		if (rc != CO_EINVAL || strncmp(co_err_msg(), "cron", 4) != 0)
			fail(expr, "-", 0, "a refusal that is not CO_EINVAL with a cron message", rc, 0);
		return 0;
	}
	co_cron again;
	if (co_cron_parse(expr, &again) != CO_OK || !same_cron(&c, &again))
		fail(expr, "-", 0, "parsing twice differs", 0, 0);

	char plain[1024];
	unparse(&c, plain, sizeof plain);
	co_cron back;
	if (strlen(plain) <= CO_CRON_EXPR_MAX &&
	    (co_cron_parse(plain, &back) != CO_OK || !same_cron(&c, &back)))
		fail(plain, "-", 0, "the sets written back do not parse to the same expression", 0, 0);

	for (size_t zi = 0; zi < sizeof zones / sizeof zones[0]; zi++)
		for (size_t si = 0; si < sizeof starts / sizeof starts[0]; si++)
			check_zone(expr, &c, zones[zi], starts[si]);
	co_usec_t extra = 0;
	bool has_extra = false;
	if (start && *start) {
		char *end;
		long long v = strtoll(start, &end, 10);
		if (end != start) {
			if (v < YEAR1)
				v = YEAR1;
			if (v > YEAR9999)
				v = YEAR9999;
			extra = (co_usec_t)v * USEC;
			has_extra = true;
		}
	}
	if (zone && *zone) {
		check_zone(expr, &c, zone, starts[0]);
		if (has_extra)
			check_zone(expr, &c, zone, extra);
	}
	if (has_extra)
		for (size_t zi = 0; zi < sizeof zones / sizeof zones[0]; zi++)
			check_zone(expr, &c, zones[zi], extra);
	return 0;
}
