/*
 * test_cron.c — cmocka unit tests of src/core/tz.c and src/core/cron.c.
 *
 * What is tested:
 *   parse     — field sets of lists, ranges, steps, N/STEP, names in any case and in
 *               ranges, 7 = Sunday, MON-SUN, macros; "restricted" per cron.h note 2;
 *               many kinds of rejection, each checking the code and that the message
 *               names the field; *out untouched on failure.
 *   matching  — co_cron_matches, the day-of-month/day-of-week OR rule, leap days.
 *   DST       — Europe/Berlin, America/New_York, Australia/Lord_Howe (30-minute DST),
 *               Asia/Kathmandu (+05:45, and its 15-minute gap of 1986): gaps fire once at
 *               the transition, repeated wall times once at their first occurrence.
 *   tz        — name validation (no file opened for bad names), UTC without tzdata,
 *               co_tz_local_to_utc kinds, footer rules far in the future (2150) and the
 *               documented end of expansion (2200), and synthetic TZif files written to
 *               a temporary $TZDIR: J/zero-based/M rules, negative and 167-hour rule
 *               times, DST all year, std-only and empty footers, a v1-only file, and
 *               malformed files.
 *   threads   — 8 threads loading the same zone for the first time at once.
 *
 * Expected instants were computed independently with Python's zoneinfo (tzdata 2026f)
 * and by hand from the rules, never with this code. The synthetic footers were also
 * checked with glibc's own POSIX TZ handling (TZ='CCC-2DDD,59,300/-1:30' date -d @…):
 * Python 3.11's zoneinfo puts zero-based "n" days one day early (it adds n to the day
 * before January 1st, right only for 1-based "Jn"), and refuses rule times over 24h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/core/clock.h"
#include "../../src/core/cron.h"
#include "../../src/core/err.h"
#include "../../src/core/tz.h"

/* ---- helpers -------------------------------------------------------------------- */

#define SEC 1000000LL

/* Seconds since the epoch of an RFC 3339 literal. */
static int64_t secs(const char *rfc)
{
	co_usec_t us;
	assert_int_equal(co_rfc3339_parse(rfc, &us), CO_OK);
	return us / SEC;
}

/* "YYYY-MM-DDTHH:MM:SSZ" of µs (the fraction dropped when zero), in buf. */
static const char *fmt(co_usec_t us, char buf[CO_RFC3339_LEN + 1])
{
	assert_int_equal(co_rfc3339_format(us, buf), CO_OK);
	if (strcmp(buf + 19, ".000000Z") == 0)
		strcpy(buf + 19, "Z");
	return buf;
}

static const co_tz *zone(const char *name)
{
	const co_tz *z = co_tz_get(name);
	if (!z)
		fail_msg("co_tz_get(%s): %s", name, co_err_msg());
	return z;
}

static co_cron parse_ok(const char *expr)
{
	co_cron c;
	int rc = co_cron_parse(expr, &c);
	if (rc != CO_OK)
		fail_msg("co_cron_parse(\"%s\"): %s", expr, co_err_msg());
	return c;
}

/* Checks the chain of next fire instants of expr in zone from `start`: the NULL-ended
 * list of RFC 3339 literals. */
static void expect_chain(const char *expr, const char *zname, const char *start, ...)
{
	co_cron c = parse_ok(expr);
	const co_tz *z = zone(zname);
	co_usec_t t = secs(start) * SEC;
	va_list ap;
	va_start(ap, start);
	const char *want;
	while ((want = va_arg(ap, const char *)) != NULL) {
		char buf[CO_RFC3339_LEN + 1];
		int rc = co_cron_next(&c, z, t, &t);
		if (rc != CO_OK)
			fail_msg("\"%s\" in %s: co_cron_next failed: %s", expr, zname, co_err_msg());
		if (strcmp(fmt(t, buf), want) != 0)
			fail_msg("\"%s\" in %s from %s: expected %s, got %s", expr, zname, start,
				 want, buf);
	}
	va_end(ap);
}

/* Checks that expr is rejected with CO_EINVAL and a message containing `want`. */
static void expect_parse_error(const char *expr, const char *want)
{
	co_cron c;
	memset(&c, 0xA5, sizeof c);
	co_cron before = c;
	int rc = co_cron_parse(expr, &c);
	if (rc != CO_EINVAL)
		fail_msg("co_cron_parse(\"%s\") = %d, expected CO_EINVAL", expr, rc);
	if (!strstr(co_err_msg(), want))
		fail_msg("co_cron_parse(\"%s\"): message \"%s\" lacks \"%s\"", expr, co_err_msg(),
			 want);
	assert_memory_equal(&c, &before, sizeof c);
}

/* Field by field: the struct has padding, which memcmp would compare too. */
static bool cron_equal(const co_cron *a, const co_cron *b)
{
	return a->minutes == b->minutes && a->hours == b->hours && a->dom == b->dom &&
	       a->months == b->months && a->dow == b->dow &&
	       a->dom_restricted == b->dom_restricted && a->dow_restricted == b->dow_restricted;
}

static int teardown_cache(void **state)
{
	(void)state;
	co_tz_cache_free();
	return 0;
}

/* ---- parse ---------------------------------------------------------------------- */

static void test_parse_fields(void **state)
{
	(void)state;
	co_cron c = parse_ok("*/15 0-6/2,23 1,15,31 JAN-mar,Oct mon-FRI");
	assert_true(c.minutes == (1ULL << 0 | 1ULL << 15 | 1ULL << 30 | 1ULL << 45));
	assert_int_equal(c.hours, 1u << 0 | 1u << 2 | 1u << 4 | 1u << 6 | 1u << 23);
	assert_int_equal(c.dom, 1u << 1 | 1u << 15 | 1u << 31);
	assert_int_equal(c.months, 1u << 1 | 1u << 2 | 1u << 3 | 1u << 10);
	assert_int_equal(c.dow, 0x3e); /* MON..FRI */
	assert_true(c.dom_restricted);
	assert_true(c.dow_restricted);

	c = parse_ok("5/20 22/1 10/10 */5 *");
	assert_true(c.minutes == (1ULL << 5 | 1ULL << 25 | 1ULL << 45));
	assert_int_equal(c.hours, 1u << 22 | 1u << 23);
	assert_int_equal(c.dom, 1u << 10 | 1u << 20 | 1u << 30);
	assert_int_equal(c.months, 1u << 1 | 1u << 6 | 1u << 11);

	/* Blanks: tabs and runs of spaces, leading and trailing. */
	c = parse_ok(" \t0\t 12  *\t* *  ");
	assert_true(c.minutes == 1);
	assert_int_equal(c.hours, 1u << 12);

	/* A step larger than the span selects the start only (cron.h / cron.c note 3). */
	c = parse_ok("*/60 3/100 * * *");
	assert_true(c.minutes == 1);
	assert_int_equal(c.hours, 1u << 3);
	/* Leading zeros and duplicates. */
	c = parse_ok("05,5,005 * * * *");
	assert_true(c.minutes == 1ULL << 5);
}

static void test_parse_day_of_week(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("0 0 * * 7").dow, 1u << 0);
	assert_int_equal(parse_ok("0 0 * * 0,7").dow, 1u << 0);
	assert_int_equal(parse_ok("0 0 * * 5-7").dow, 1u << 0 | 1u << 5 | 1u << 6);
	assert_int_equal(parse_ok("0 0 * * sat-sun").dow, 1u << 0 | 1u << 6);
	assert_int_equal(parse_ok("0 0 * * sun-tue").dow, 0x07);
	assert_int_equal(parse_ok("0 0 * * SUN").dow, 1u << 0);
	assert_int_equal(parse_ok("0 0 * * Sun-Sun").dow, 1u << 0);
	assert_int_equal(parse_ok("0 0 * * */2").dow, 1u << 0 | 1u << 2 | 1u << 4 | 1u << 6);
	/* N/STEP runs to the maximum 7, so 1/2 is MON,WED,FRI,SUN. */
	assert_int_equal(parse_ok("0 0 * * 1/2").dow, 1u << 0 | 1u << 1 | 1u << 3 | 1u << 5);
	assert_int_equal(parse_ok("0 0 * * tue/3").dow, 1u << 2 | 1u << 5);

	/* MON-SUN and 1-7 are every day: not restricted. */
	co_cron c = parse_ok("0 0 * * MON-SUN");
	assert_int_equal(c.dow, 0x7f);
	assert_false(c.dow_restricted);
	c = parse_ok("0 0 * * 1-7");
	assert_false(c.dow_restricted);
	c = parse_ok("0 0 * * 0-7");
	assert_false(c.dow_restricted);
}

static void test_parse_restricted(void **state)
{
	(void)state;
	co_cron c = parse_ok("* * * * *");
	assert_false(c.dom_restricted);
	assert_false(c.dow_restricted);
	assert_true(c.minutes == (1ULL << 60) - 1);
	assert_int_equal(c.hours, (1u << 24) - 1);
	assert_int_equal(c.months, 0x1ffe);
	c = parse_ok("* * */1 * */1");
	assert_false(c.dom_restricted);
	assert_false(c.dow_restricted);
	c = parse_ok("* * 1-31 * 0-6");
	assert_false(c.dom_restricted);
	assert_false(c.dow_restricted);
	c = parse_ok("* * */2 * *");
	assert_true(c.dom_restricted);
	assert_false(c.dow_restricted);
	c = parse_ok("* * 1-30 * 1-6");
	assert_true(c.dom_restricted);
	assert_true(c.dow_restricted);
}

static void test_parse_macros(void **state)
{
	(void)state;
	static const char *pairs[][2] = {
		{ "@yearly", "0 0 1 1 *" },   { "@annually", "0 0 1 1 *" },
		{ "@monthly", "0 0 1 * *" },  { "@weekly", "0 0 * * 0" },
		{ "@daily", "0 0 * * *" },    { "@midnight", "0 0 * * *" },
		{ "@hourly", "0 * * * *" },   { "  @DAILY\t", "0 0 * * *" },
		{ "@Weekly", "0 0 * * sun" },
	};
	for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		co_cron a = parse_ok(pairs[i][0]), b = parse_ok(pairs[i][1]);
		if (!cron_equal(&a, &b))
			fail_msg("%s differs from %s", pairs[i][0], pairs[i][1]);
	}
	expect_chain("@weekly", "UTC", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z",
		     "2026-01-11T00:00:00Z", NULL);
	expect_chain("@yearly", "Asia/Kathmandu", "2026-06-01T00:00:00Z",
		     "2026-12-31T18:15:00Z", "2027-12-31T18:15:00Z", NULL);
}

static void test_parse_errors(void **state)
{
	(void)state;
	static const char *cases[][2] = {
		{ "", "cron: expression is empty" },
		{ " \t ", "cron: expression is empty" },
		{ "* * * *", "cron: expected 5 fields, got 4" },
		{ "* * * * * *", "cron: expected 5 fields, got 6" },
		{ "0 0 1 1 * 2026", "cron: expected 5 fields, got 6" },
		{ "60 * * * *", "cron minute: 60 is out of range 0-59" },
		{ "99999999999999999999 * * * *", "cron minute: 99999999999999999999 is out of range" },
		{ "* 24 * * *", "cron hour: 24 is out of range 0-23" },
		{ "* * 0 * *", "cron day-of-month: 0 is out of range 1-31" },
		{ "* * 32 * *", "cron day-of-month: 32 is out of range 1-31" },
		{ "* * * 0 *", "cron month: 0 is out of range 1-12" },
		{ "* * * 13 *", "cron month: 13 is out of range 1-12" },
		{ "* * * * 8", "cron day-of-week: 8 is out of range 0-7" },
		{ "5-1 * * * *", "cron minute: range \"5-1\" is reversed" },
		{ "* * * * fri-mon", "cron day-of-week: range \"fri-mon\" is reversed" },
		{ "* * * * 5-0", "cron day-of-week: range \"5-0\" is reversed" },
		{ "* * * * 7-1", "cron day-of-week: range \"7-1\" is reversed" },
		{ "* * * dec-jan *", "cron month: range \"dec-jan\" is reversed" },
		{ "*/0 * * * *", "cron minute: step 0 is out of range 1-9999" },
		{ "* 1-5/0 * * *", "cron hour: step 0 is out of range" },
		{ "* * * * mon/0", "cron day-of-week: step 0 is out of range" },
		{ "*/10000 * * * *", "cron minute: step 10000 is out of range" },
		{ "1/ * * * *", "cron minute: step must be a number" },
		{ "*/a * * * *", "cron minute: step must be a number" },
		{ "1,,2 * * * *", "cron minute: empty list item" },
		{ ",1 * * * *", "cron minute: empty list item" },
		{ "1, * * * *", "cron minute: empty list item" },
		{ "* * * 1, *", "cron month: empty list item" },
		{ "1-2-3 * * * *", "cron minute: unexpected '-' in \"1-2-3\"" },
		{ "*/2/3 * * * *", "cron minute: unexpected '/' in \"*/2/3\"" },
		{ "*-5 * * * *", "cron minute: unexpected '-' in \"*-5\"" },
		{ "5x * * * *", "cron minute: unexpected 'x' in \"5x\"" },
		{ "-1 * * * *", "cron minute: unexpected '-'" },
		{ "/5 * * * *", "cron minute: unexpected '/'" },
		{ "* * * jan- *", "cron month: missing value in \"jan-\"" },
		{ "* jan * * *", "cron hour: \"jan\" is not a number" },
		{ "* * * foo *", "cron month: unknown name \"foo\" (expected JAN-DEC)" },
		{ "* * * january *", "cron month: unknown name \"january\"" },
		{ "* * * * sunday", "cron day-of-week: unknown name \"sunday\" (expected SUN-SAT)" },
		{ "* * * * jan", "cron day-of-week: unknown name \"jan\"" },
		{ "* * * mon *", "cron month: unknown name \"mon\"" },
		{ "* * L * *", "cron day-of-month: L, W, # and ? are not supported" },
		{ "* * 15W * *", "cron day-of-month: L, W, # and ? are not supported" },
		{ "* * LW * *", "cron day-of-month: L, W, # and ? are not supported" },
		{ "* * * * 5L", "cron day-of-week: L, W, # and ? are not supported" },
		{ "* * * * 5#2", "cron day-of-week: L, W, # and ? are not supported" },
		{ "* * ? * *", "cron day-of-month: L, W, # and ? are not supported" },
		{ "* * * * *\n", "cron day-of-week: unexpected byte 0x0a" },
		{ "* * \x01 * *", "cron day-of-month: unexpected byte 0x01" },
		{ "H * * * *", "cron minute: unexpected 'H'" },
		{ "0 0 30 2 *", "cron: expression never fires (day 30 of FEB)" },
		{ "0 0 31 2 *", "cron: expression never fires (day 31 of FEB)" },
		{ "0 0 31 4,6,9,11 *", "cron: expression never fires (day 31 of APR)" },
		{ "0 0 30,31 feb *", "cron: expression never fires (day 30 of FEB)" },
		{ "@reboot", "cron: @reboot is not supported" },
		{ "@every", "cron: unknown macro \"@every\"" },
		{ "@", "cron: unknown macro \"@\"" },
		{ "@daily 5", "cron: a macro stands alone" },
		{ "@daily * * * *", "cron: a macro stands alone" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		expect_parse_error(cases[i][0], cases[i][1]);

	/* Length: 255 bytes is the limit. */
	char expr[300];
	memset(expr, ' ', sizeof expr);
	memcpy(expr, "* * * * *", 9);
	expr[CO_CRON_EXPR_MAX] = '\0';
	parse_ok(expr);
	expr[CO_CRON_EXPR_MAX] = ' ';
	expr[CO_CRON_EXPR_MAX + 1] = '\0';
	expect_parse_error(expr, "cron: expression is longer than 255 bytes");
}

/* ---- matching ------------------------------------------------------------------- */

static void test_matches(void **state)
{
	(void)state;
	co_cron c = parse_ok("30 9 13 * fri"); /* both restricted: the 13th OR a Friday */
	assert_true(co_cron_matches(&c, 2026, 1, 13, 9, 30, 2));  /* Tuesday the 13th */
	assert_true(co_cron_matches(&c, 2026, 1, 16, 9, 30, 5));  /* Friday the 16th */
	assert_false(co_cron_matches(&c, 2026, 1, 14, 9, 30, 3)); /* neither */
	assert_false(co_cron_matches(&c, 2026, 1, 13, 9, 31, 2)); /* wrong minute */
	assert_false(co_cron_matches(&c, 2026, 1, 13, 10, 30, 2));

	c = parse_ok("0 0 13 * *"); /* day-of-week unrestricted: the 13th only */
	assert_true(co_cron_matches(&c, 2026, 1, 13, 0, 0, 2));
	assert_false(co_cron_matches(&c, 2026, 1, 16, 0, 0, 5));
	c = parse_ok("0 0 * * fri"); /* day-of-month unrestricted: Fridays only */
	assert_false(co_cron_matches(&c, 2026, 1, 13, 0, 0, 2));
	assert_true(co_cron_matches(&c, 2026, 1, 16, 0, 0, 5));
	c = parse_ok("0 0 1-31 * 5"); /* 1-31 is every day: not restricted, so AND */
	assert_false(co_cron_matches(&c, 2026, 1, 13, 0, 0, 2));
	assert_true(co_cron_matches(&c, 2026, 1, 16, 0, 0, 5));
	c = parse_ok("0 0 * * 7");
	assert_true(co_cron_matches(&c, 2026, 1, 18, 0, 0, 0));
	assert_true(co_cron_matches(&c, 2026, 1, 18, 0, 0, 7));
	c = parse_ok("* * * jun *");
	assert_false(co_cron_matches(&c, 2026, 5, 1, 0, 0, 5));
	assert_true(co_cron_matches(&c, 2026, 6, 1, 0, 0, 1));
	/* Out-of-range arguments never match. */
	c = parse_ok("* * * * *");
	assert_false(co_cron_matches(&c, 2026, 13, 1, 0, 0, 0));
	assert_false(co_cron_matches(&c, 2026, 1, 0, 0, 0, 0));
	assert_false(co_cron_matches(&c, 2026, 1, 1, 24, 0, 0));
	assert_false(co_cron_matches(&c, 2026, 1, 1, 0, 60, 0));
	assert_false(co_cron_matches(&c, 2026, 1, 1, 0, 0, 8));
}

static void test_next_dom_dow_or(void **state)
{
	(void)state;
	/* 2026-01-01 is a Thursday. The 13th OR Fridays. */
	expect_chain("0 12 13 * 5", "UTC", "2026-01-01T00:00:00Z", "2026-01-02T12:00:00Z",
		     "2026-01-09T12:00:00Z", "2026-01-13T12:00:00Z", "2026-01-16T12:00:00Z",
		     NULL);
	/* Only Fridays that are the 13th would be AND: here it is OR, and November 31st
	 * never exists but every Saturday of November matches. */
	expect_chain("0 0 31 11 6", "UTC", "2026-01-01T00:00:00Z", "2026-11-07T00:00:00Z",
		     "2026-11-14T00:00:00Z", "2026-11-21T00:00:00Z", "2026-11-28T00:00:00Z",
		     "2027-11-06T00:00:00Z", NULL);
	/* Day-of-week alone: Mondays. */
	expect_chain("0 0 * * mon", "UTC", "2026-01-01T00:00:00Z", "2026-01-05T00:00:00Z",
		     "2026-01-12T00:00:00Z", NULL);
	/* A day-of-month step across the end of a short month: March 1st is not skipped
	 * (croniter 1.3.5 skips it, see tests/cron/oracle.py). */
	expect_chain("0 0 */6 * *", "UTC", "2022-02-26T14:08:00Z", "2022-03-01T00:00:00Z",
		     "2022-03-07T00:00:00Z", NULL);
}

static void test_next_calendar(void **state)
{
	(void)state;
	/* February 29th: leap years only, 2100 is not one (8 years from 2096 to 2104). */
	expect_chain("0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", "2028-02-29T00:00:00Z",
		     "2032-02-29T00:00:00Z", "2036-02-29T00:00:00Z", NULL);
	expect_chain("0 0 29 2 *", "UTC", "2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z",
		     NULL);
	expect_chain("0 0 29 2 *", "UTC", "1999-06-01T00:00:00Z", "2000-02-29T00:00:00Z",
		     NULL);
	/* The 31st: only months that have one. */
	expect_chain("0 0 31 * *", "UTC", "2026-01-31T00:00:00Z", "2026-03-31T00:00:00Z",
		     "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z",
		     NULL);
	/* Strictly after: a start exactly on a fire time, or a µs before it. */
	expect_chain("*/5 * * * *", "UTC", "2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z",
		     NULL);
	expect_chain("*/5 * * * *", "UTC", "2026-01-01T00:04:59.999999Z",
		     "2026-01-01T00:05:00Z", NULL);
	/* Year rollover and before 1970. */
	expect_chain("59 23 31 12 *", "UTC", "2026-12-31T23:59:00Z", "2027-12-31T23:59:00Z",
		     NULL);
	expect_chain("0 6 * * *", "UTC", "1969-12-31T12:00:00Z", "1970-01-01T06:00:00Z",
		     NULL);
}

static void test_next_not_found(void **state)
{
	(void)state;
	const co_tz *utc = zone("UTC");
	co_usec_t t = 12345;
	/* A hand-built expression with no month can never fire. */
	co_cron c = parse_ok("* * * * *");
	c.months = 0;
	assert_int_equal(co_cron_next(&c, utc, 0, &t), CO_ENOTFOUND);
	assert_int_equal(t, 12345);
	/* The end of the µs range: nothing representable, and no overflow (UBSan). */
	c = parse_ok("* * * * *");
	assert_int_equal(co_cron_next(&c, utc, INT64_MAX, &t), CO_ENOTFOUND);
	assert_int_equal(co_cron_next(&c, zone("Europe/Berlin"), INT64_MAX - 30 * SEC, &t),
			 CO_ENOTFOUND);
	/* The last whole minute that fits (INT64_MAX is 9223372036854.775807 s). */
	assert_int_equal(co_cron_next(&c, zone("Europe/Berlin"), INT64_MAX - 60 * SEC, &t),
			 CO_OK);
	assert_true(t == 9223372036800LL * SEC);
	/* The start of the range works: the next whole minute. */
	assert_int_equal(co_cron_next(&c, utc, INT64_MIN, &t), CO_OK);
	assert_true(t == -9223372036800LL * SEC);
}

/* ---- DST ------------------------------------------------------------------------ */

static void test_berlin_spring_forward(void **state)
{
	(void)state;
	/* 2026-03-29: 02:00 CET → 03:00 CEST at 01:00Z; 02:30 does not exist and fires
	 * once, at 03:00 CEST. */
	expect_chain("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z",
		     "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z", NULL);
	expect_chain("*/20 * * * *", "Europe/Berlin", "2026-03-29T00:30:00Z",
		     "2026-03-29T00:40:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:20:00Z",
		     "2026-03-29T01:40:00Z", NULL);
	/* Starting just before, at and just after the transition. */
	expect_chain("30 2 * * *", "Europe/Berlin", "2026-03-29T00:59:59.999999Z",
		     "2026-03-29T01:00:00Z", NULL);
	expect_chain("30 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z",
		     "2026-03-30T00:30:00Z", NULL);
	/* Every minute of the gap coalesces into one fire. */
	expect_chain("* 2 * * *", "Europe/Berlin", "2026-03-29T00:00:00Z",
		     "2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z", NULL);

	const co_tz *z = zone("Europe/Berlin");
	int kind = -1;
	assert_int_equal(co_tz_local_to_utc(z, secs("2026-03-29T02:30:00Z"), &kind),
			 secs("2026-03-29T01:00:00Z"));
	assert_int_equal(kind, CO_TZ_LOCAL_GAP);
	assert_int_equal(co_tz_local_to_utc(z, secs("2026-03-29T03:00:00Z"), &kind),
			 secs("2026-03-29T01:00:00Z"));
	assert_int_equal(kind, CO_TZ_LOCAL_UNIQUE);
	assert_int_equal(co_tz_local_to_utc(z, secs("2026-03-29T01:59:59Z"), &kind),
			 secs("2026-03-29T00:59:59Z"));
	assert_int_equal(kind, CO_TZ_LOCAL_UNIQUE);
	assert_int_equal(co_tz_offset_at(z, secs("2026-03-29T00:59:59Z")), 3600);
	assert_int_equal(co_tz_offset_at(z, secs("2026-03-29T01:00:00Z")), 7200);
}

static void test_berlin_fall_back(void **state)
{
	(void)state;
	/* 2026-10-25: 03:00 CEST → 02:00 CET at 01:00Z. 02:00 local fires once, at its
	 * first occurrence (00:00Z); the next hour is 03:00 CET = 02:00Z; never 01:00Z. */
	expect_chain("0 * * * *", "Europe/Berlin", "2026-10-24T22:30:00Z",
		     "2026-10-24T23:00:00Z", "2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z",
		     "2026-10-25T03:00:00Z", NULL);
	expect_chain("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z",
		     "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z", NULL);
	/* From inside the second pass of 02:xx (01:10Z is 02:10 CET): 02:20 and 02:40
	 * already fired in the first pass, so the next is 03:00 CET. */
	expect_chain("*/20 * * * *", "Europe/Berlin", "2026-10-25T01:10:00Z",
		     "2026-10-25T02:00:00Z", "2026-10-25T02:20:00Z", NULL);
	/* From inside the first pass, the rest of it. */
	expect_chain("*/20 * * * *", "Europe/Berlin", "2026-10-25T00:10:00Z",
		     "2026-10-25T00:20:00Z", "2026-10-25T00:40:00Z", "2026-10-25T02:00:00Z",
		     NULL);

	const co_tz *z = zone("Europe/Berlin");
	int kind = -1;
	assert_int_equal(co_tz_local_to_utc(z, secs("2026-10-25T02:30:00Z"), &kind),
			 secs("2026-10-25T00:30:00Z"));
	assert_int_equal(kind, CO_TZ_LOCAL_AMBIGUOUS);
	assert_int_equal(co_tz_local_to_utc(z, secs("2026-10-25T03:00:00Z"), &kind),
			 secs("2026-10-25T02:00:00Z"));
	assert_int_equal(kind, CO_TZ_LOCAL_UNIQUE);
	assert_int_equal(co_tz_local_to_utc(z, secs("2026-10-25T01:59:59Z"), NULL),
			 secs("2026-10-24T23:59:59Z"));
}

static void test_lord_howe(void **state)
{
	(void)state;
	/* Spring forward 2026-10-04 02:00 +10:30 → 02:30 +11:00 at 2026-10-03T15:30Z:
	 * 02:00 and 02:15 do not exist; with 02:30 they make one fire. */
	expect_chain("15 2 * * *", "Australia/Lord_Howe", "2026-10-03T00:00:00Z",
		     "2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z", NULL);
	expect_chain("*/15 * * * *", "Australia/Lord_Howe", "2026-10-03T15:00:00Z",
		     "2026-10-03T15:15:00Z", "2026-10-03T15:30:00Z", "2026-10-03T15:45:00Z",
		     NULL);
	/* Fall back 2026-04-05 02:00 +11:00 → 01:30 +10:30 at 2026-04-04T15:00Z: 01:30-01:59
	 * happen twice and fire at the first. */
	expect_chain("45 1 * * *", "Australia/Lord_Howe", "2026-04-04T00:00:00Z",
		     "2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z", NULL);
	expect_chain("*/15 * * * *", "Australia/Lord_Howe", "2026-04-04T14:20:00Z",
		     "2026-04-04T14:30:00Z", "2026-04-04T14:45:00Z", "2026-04-04T15:30:00Z",
		     "2026-04-04T15:45:00Z", NULL);

	const co_tz *z = zone("Australia/Lord_Howe");
	assert_int_equal(co_tz_offset_at(z, secs("2026-10-03T15:29:59Z")), 37800);
	assert_int_equal(co_tz_offset_at(z, secs("2026-10-03T15:30:00Z")), 39600);
	int kind = -1;
	assert_int_equal(co_tz_local_to_utc(z, secs("2026-10-04T02:15:00Z"), &kind),
			 secs("2026-10-03T15:30:00Z"));
	assert_int_equal(kind, CO_TZ_LOCAL_GAP);
	assert_int_equal(co_tz_local_to_utc(z, secs("2026-04-05T01:45:00Z"), &kind),
			 secs("2026-04-04T14:45:00Z"));
	assert_int_equal(kind, CO_TZ_LOCAL_AMBIGUOUS);
}

static void test_kathmandu(void **state)
{
	(void)state;
	expect_chain("0 9 * * *", "Asia/Kathmandu", "2026-01-01T00:00:00Z",
		     "2026-01-01T03:15:00Z", "2026-01-02T03:15:00Z", NULL);
	const co_tz *z = zone("Asia/Kathmandu");
	assert_int_equal(co_tz_offset_at(z, secs("2026-01-01T00:00:00Z")), 20700);
	assert_int_equal(co_tz_offset_at(z, secs("1985-06-01T00:00:00Z")), 19800);
	/* 1986-01-01 00:00 +05:30 → 00:15 +05:45 at 1985-12-31T18:30Z: 00:05 is in the gap. */
	expect_chain("5 0 * * *", "Asia/Kathmandu", "1985-12-31T00:00:00Z",
		     "1985-12-31T18:30:00Z", "1986-01-01T18:20:00Z", NULL);
}

static void test_new_york(void **state)
{
	(void)state;
	/* 2026-03-08 02:00 EST → 03:00 EDT at 07:00Z; 2026-11-01 02:00 EDT → 01:00 EST at
	 * 06:00Z. */
	expect_chain("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z",
		     "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z", NULL);
	expect_chain("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z",
		     "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z", NULL);
	expect_chain("0 0 * * *", "America/New_York", "2026-07-01T00:00:00Z",
		     "2026-07-01T04:00:00Z", NULL);
}

/* ---- tz ------------------------------------------------------------------------- */

static void test_tz_names(void **state)
{
	(void)state;
	static const char *bad[] = {
		"Foo/Bar", "../etc/passwd", "/etc/passwd", "Europe/../UTC", "./UTC", "Europe/.",
		"", "Europe//Berlin", "Europe/Berlin/", "Europe/Berlin\n", "Europe/Ber lin",
		"Europe\\Berlin", "Europe", "zone.tab", "tzdata.zi", "Utc",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		co_err_set(CO_OK, "%s", "");
		if (co_tz_get(bad[i]) != NULL)
			fail_msg("zone \"%s\" was accepted", bad[i]);
		assert_non_null(strstr(co_err_msg(), "time zone \""));
	}
	assert_null(co_tz_get("Foo/Bar"));
	assert_string_equal(co_err_msg(), "unknown time zone \"Foo/Bar\"");
	assert_null(co_tz_get("../etc/passwd"));
	assert_string_equal(co_err_msg(), "unknown time zone \"../etc/passwd\"");
	assert_null(co_tz_get("zone.tab"));
	assert_string_equal(co_err_msg(), "time zone \"zone.tab\": not a TZif file");
	char longname[300];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	assert_null(co_tz_get(longname));
	assert_true(strlen(co_err_msg()) < 120); /* the name is shortened in the message */

	/* The same pointer each time, and the name as given. */
	const co_tz *a = zone("Europe/Berlin"), *b = zone("Europe/Berlin");
	assert_ptr_equal(a, b);
	assert_string_equal(co_tz_name(a), "Europe/Berlin");
	/* Aliases load as their own names. */
	assert_string_equal(co_tz_name(zone("Etc/UTC")), "Etc/UTC");
	assert_int_equal(co_tz_offset_at(zone("Etc/GMT+5"), 0), -18000);
}

static void test_tz_utc_without_tzdata(void **state)
{
	(void)state;
	const char *old = getenv("TZDIR");
	char *saved = old ? strdup(old) : NULL;
	setenv("TZDIR", "/nonexistent/zoneinfo", 1);
	const co_tz *utc = co_tz_get("UTC");
	assert_non_null(utc);
	assert_string_equal(co_tz_name(utc), "UTC");
	assert_int_equal(co_tz_offset_at(utc, 1234567890), 0);
	int kind = -1;
	assert_int_equal(co_tz_local_to_utc(utc, 1234567890, &kind), 1234567890);
	assert_int_equal(kind, CO_TZ_LOCAL_UNIQUE);
	assert_null(co_tz_get("Asia/Tokyo")); /* not cached before: no file now */
	if (saved) {
		setenv("TZDIR", saved, 1);
		free(saved);
	} else {
		unsetenv("TZDIR");
	}
	expect_chain("0 0 * * *", "UTC", "2026-01-01T12:00:00Z", "2026-01-02T00:00:00Z", NULL);
}

static void test_tz_far_future(void **state)
{
	(void)state;
	/* After tzdata's table (2037) the footer rule gives the transitions. */
	const co_tz *z = zone("Europe/Berlin");
	assert_int_equal(co_tz_offset_at(z, secs("2150-01-01T00:00:00Z")), 3600);
	assert_int_equal(co_tz_offset_at(z, secs("2150-07-01T00:00:00Z")), 7200);
	assert_int_equal(co_tz_offset_at(z, secs("2150-03-29T00:59:59Z")), 3600);
	assert_int_equal(co_tz_offset_at(z, secs("2150-03-29T01:00:00Z")), 7200);
	assert_int_equal(co_tz_offset_at(z, secs("2150-10-25T00:59:59Z")), 7200);
	assert_int_equal(co_tz_offset_at(z, secs("2150-10-25T01:00:00Z")), 3600);
	expect_chain("30 2 * * *", "Europe/Berlin", "2150-03-28T12:00:00Z",
		     "2150-03-29T01:00:00Z", "2150-03-30T00:30:00Z", NULL);
	/* The last expanded transition is 2200-10-26T01:00Z; CET holds after it (tz.h). */
	assert_int_equal(co_tz_offset_at(z, secs("2200-10-26T00:59:59Z")), 7200);
	assert_int_equal(co_tz_offset_at(z, secs("2200-10-26T01:00:00Z")), 3600);
	assert_int_equal(co_tz_offset_at(z, secs("2250-07-01T00:00:00Z")), 3600);

	z = zone("Australia/Lord_Howe");
	assert_int_equal(co_tz_offset_at(z, secs("2150-01-15T00:00:00Z")), 39600);
	assert_int_equal(co_tz_offset_at(z, secs("2150-07-15T00:00:00Z")), 37800);
	assert_int_equal(co_tz_offset_at(z, secs("2150-10-03T15:29:59Z")), 37800);
	assert_int_equal(co_tz_offset_at(z, secs("2150-10-03T15:30:00Z")), 39600);
	assert_int_equal(co_tz_offset_at(zone("Asia/Kathmandu"), secs("2150-01-01T00:00:00Z")),
			 20700);
}

/* ---- synthetic TZif files ------------------------------------------------------- */

static char tzdir[64];

static void put32(FILE *f, uint32_t v)
{
	unsigned char b[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 8), (unsigned char)v };
	fwrite(b, 1, 4, f);
}

static void put64(FILE *f, int64_t v)
{
	put32(f, (uint32_t)((uint64_t)v >> 32));
	put32(f, (uint32_t)(uint64_t)v);
}

typedef struct {
	char version;           /* 0 (v1 only), '2', '3' */
	int ntrans;
	const int64_t *trans;
	const unsigned char *idx;
	int ntypes;
	const int32_t *utoff;
	const char *footer;     /* without the newlines */
	uint32_t leapcnt;       /* nonzero: leap records (zeros) are written */
	long truncate;          /* >0: cut the file to this many bytes */
	const char *raw;        /* instead of all the above: these bytes */
} tzif_spec;

/* Writes $tzdir/name per spec (RFC 8536 §3: header, v1 block, header, v2+ block,
 * footer). The v1 block of a v2+ file is minimal: one type, no transitions. */
static void write_tzif(const char *name, const tzif_spec *s)
{
	char path[256];
	snprintf(path, sizeof path, "%s/%s", tzdir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	if (s->raw) {
		fputs(s->raw, f);
		fclose(f);
		return;
	}
	static const char pad[15];
	for (int pass = s->version ? 0 : 1; pass < 2; pass++) {
		bool v1stub = s->version && pass == 0;
		unsigned tsize = s->version && pass == 1 ? 8 : 4;
		int nt = v1stub ? 0 : s->ntrans, ny = v1stub ? 1 : s->ntypes;
		uint32_t leap = v1stub ? 0 : s->leapcnt;
		fwrite("TZif", 1, 4, f);
		fputc(s->version, f);
		fwrite(pad, 1, 15, f);
		put32(f, 0);            /* isutcnt */
		put32(f, 0);            /* isstdcnt */
		put32(f, leap);         /* leapcnt */
		put32(f, (uint32_t)nt); /* timecnt */
		put32(f, (uint32_t)ny); /* typecnt */
		put32(f, 4);            /* charcnt: "ABC\0" */
		for (int i = 0; i < nt; i++) {
			if (tsize == 8)
				put64(f, s->trans[i]);
			else
				put32(f, (uint32_t)s->trans[i]);
		}
		for (int i = 0; i < nt; i++)
			fputc(s->idx[i], f);
		for (int i = 0; i < ny; i++) {
			put32(f, (uint32_t)(v1stub ? 0 : s->utoff[i]));
			fputc(0, f); /* isdst */
			fputc(0, f); /* desigidx */
		}
		fwrite("ABC", 1, 4, f);
		for (uint32_t i = 0; i < leap; i++) {
			if (tsize == 8)
				put64(f, 0);
			else
				put32(f, 0);
			put32(f, 0);
		}
	}
	if (s->version)
		fprintf(f, "\n%s\n", s->footer ? s->footer : "");
	fclose(f);
	if (s->truncate > 0)
		assert_int_equal(truncate(path, s->truncate), 0);
}

static char *saved_tzdir;

static int setup_tzdir(void **state)
{
	(void)state;
	strcpy(tzdir, "/tmp/colony-tz-XXXXXX");
	assert_non_null(mkdtemp(tzdir));
	const char *old = getenv("TZDIR");
	saved_tzdir = old ? strdup(old) : NULL;
	setenv("TZDIR", tzdir, 1);
	return 0;
}

static int teardown_tzdir(void **state)
{
	(void)state;
	co_tz_cache_free();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tzdir);
	if (system(cmd) != 0)
		return -1;
	if (saved_tzdir) {
		setenv("TZDIR", saved_tzdir, 1);
		free(saved_tzdir);
		saved_tzdir = NULL;
	} else {
		unsetenv("TZDIR");
	}
	return 0;
}

static void expect_offsets(const char *name, const char *const pairs[][2], size_t n)
{
	const co_tz *z = zone(name);
	for (size_t i = 0; i < n; i++) {
		int32_t want = atoi(pairs[i][1]), got = co_tz_offset_at(z, secs(pairs[i][0]));
		if (got != want)
			fail_msg("%s at %s: offset %d, expected %d", name, pairs[i][0], got, want);
	}
}

static void test_tzif_footers(void **state)
{
	(void)state;
	static const int32_t est[] = { -18000 }, plus1[] = { 3600 }, plus2[] = { 7200 };
	static const int32_t minus2[] = { -7200 };

	/* DST all year (RFC 8536 §3.3.1): starts Jan 1 00:00, ends Dec 31 25:00. */
	write_tzif("AllYear", &(tzif_spec){ .version = '3', .ntypes = 1, .utoff = est,
					    .footer = "EST5EDT,0/0,J365/25" });
	static const char *const all_year[][2] = {
		{ "2100-01-01T04:59:59Z", "-14400" }, { "2100-01-01T05:00:00Z", "-14400" },
		{ "2100-07-01T00:00:00Z", "-14400" }, { "2099-12-31T23:00:00Z", "-14400" },
	};
	expect_offsets("AllYear", all_year, 4);

	/* Jn never counts February 29th: J60 is March 1st in leap years too. J300 is
	 * October 27th, and /167 puts the end 6 days 23 hours later (November 2nd 23:00
	 * local, +2 → 21:00Z). */
	write_tzif("Julian", &(tzif_spec){ .version = '2', .ntypes = 1, .utoff = plus1,
					   .footer = "AAA-1BBB,J60,J300/167" });
	static const char *const julian[][2] = {
		{ "2096-03-01T00:59:59Z", "3600" }, { "2096-03-01T01:00:00Z", "7200" },
		{ "2096-11-02T20:59:59Z", "7200" }, { "2096-11-02T21:00:00Z", "3600" },
		{ "2097-03-01T01:00:00Z", "7200" }, { "2097-02-28T23:00:00Z", "3600" },
	};
	expect_offsets("Julian", julian, 6);

	/* Zero-based n counts February 29th: day 59 is Feb 29 in 2096, Mar 1 in 2097.
	 * The end, day 300 at -1:30, is the evening before (Oct 26 / Oct 27 22:30 +3). */
	write_tzif("ZeroBased", &(tzif_spec){ .version = '2', .ntypes = 1, .utoff = plus2,
					      .footer = "CCC-2DDD,59,300/-1:30" });
	static const char *const zero_based[][2] = {
		{ "2096-02-28T23:59:59Z", "7200" },  { "2096-02-29T00:00:00Z", "10800" },
		{ "2096-10-26T19:29:59Z", "10800" }, { "2096-10-26T19:30:00Z", "7200" },
		{ "2097-02-28T23:59:59Z", "7200" },  { "2097-03-01T00:00:00Z", "10800" },
		{ "2097-10-27T19:29:59Z", "10800" }, { "2097-10-27T19:30:00Z", "7200" },
	};
	expect_offsets("ZeroBased", zero_based, 8);

	/* Negative rule time, as America/Nuuk: last Sunday of March (2100-03-28) at
	 * -1:00 local -02 is 01:00Z; last Sunday of October (2100-10-31) 0:00 -01. */
	write_tzif("Negative", &(tzif_spec){ .version = '3', .ntypes = 1, .utoff = minus2,
					     .footer = "<-02>2<-01>,M3.5.0/-1,M10.5.0/0" });
	static const char *const negative[][2] = {
		{ "2100-03-28T00:59:59Z", "-7200" }, { "2100-03-28T01:00:00Z", "-3600" },
		{ "2100-10-31T00:59:59Z", "-3600" }, { "2100-10-31T01:00:00Z", "-7200" },
	};
	expect_offsets("Negative", negative, 4);

	/* A table whose last transition is followed by a std-only footer, and a table with
	 * an empty footer (the last type holds). */
	static const int64_t t1[] = { -1000000000 };
	static const unsigned char i1[] = { 1 };
	static const int32_t kat[] = { 19800, 20700 };
	write_tzif("StdOnly", &(tzif_spec){ .version = '2', .ntrans = 1, .trans = t1,
					    .idx = i1, .ntypes = 2, .utoff = kat,
					    .footer = "<+0545>-5:45" });
	static const char *const std_only[][2] = {
		{ "1938-04-24T22:13:19Z", "19800" }, { "1938-04-24T22:13:20Z", "20700" },
		{ "2150-01-01T00:00:00Z", "20700" },
	};
	expect_offsets("StdOnly", std_only, 3);
	static const int64_t t2[] = { 0 };
	static const int32_t one_two[] = { 3600, 7200 };
	write_tzif("Empty", &(tzif_spec){ .version = '2', .ntrans = 1, .trans = t2, .idx = i1,
					  .ntypes = 2, .utoff = one_two, .footer = "" });
	static const char *const empty[][2] = {
		{ "1969-12-31T23:59:59Z", "3600" }, { "1970-01-01T00:00:00Z", "7200" },
		{ "2150-01-01T00:00:00Z", "7200" },
	};
	expect_offsets("Empty", empty, 3);

	/* A version 1 file: the 32-bit block is all there is. */
	static const int64_t t3[] = { 1000000000 };
	static const int32_t zero_kat[] = { 0, 19800 };
	write_tzif("V1", &(tzif_spec){ .version = 0, .ntrans = 1, .trans = t3, .idx = i1,
				       .ntypes = 2, .utoff = zero_kat });
	static const char *const v1[][2] = {
		{ "2001-09-09T01:46:39Z", "0" }, { "2001-09-09T01:46:40Z", "19800" },
	};
	expect_offsets("V1", v1, 2);

	/* Zones in subdirectories, as IANA names are. */
	char sub[128];
	snprintf(sub, sizeof sub, "%s/Test", tzdir);
	assert_int_equal(mkdir(sub, 0700), 0);
	write_tzif("Test/Zone", &(tzif_spec){ .version = '2', .ntypes = 1, .utoff = plus1,
					      .footer = "<+01>-1" });
	assert_int_equal(co_tz_offset_at(zone("Test/Zone"), 0), 3600);
	expect_chain("0 12 * * *", "Test/Zone", "2026-01-01T00:00:00Z", "2026-01-01T11:00:00Z",
		     NULL);
}

static void test_tzif_malformed(void **state)
{
	(void)state;
	static const int32_t plus1[] = { 3600 }, huge[] = { 26 * 3600 };
	static const int64_t desc[] = { 100, 50 };
	static const unsigned char i00[] = { 0, 0 }, i5[] = { 5 };
	static const int64_t one[] = { 100 };
	static const struct {
		const char *name;
		tzif_spec spec;
		const char *want;
	} cases[] = {
		{ "BadMagic", { .raw = "TZiX2 not a zone file at all, but long enough to pass" },
		  "not a TZif file" },
		{ "Short", { .raw = "TZif2" }, "not a TZif file" },
		{ "EmptyFile", { .raw = "" }, "not a TZif file" },
		{ "Truncated", { .version = '2', .ntypes = 1, .utoff = plus1, .footer = "<+01>-1",
				 .truncate = 60 },
		  "truncated" },
		{ "NoFooter", { .version = '2', .ntypes = 1, .utoff = plus1, .footer = "",
				.truncate = 44 + 10 + 44 + 10 },
		  "missing TZ string footer" },
		{ "BadFooter", { .version = '2', .ntypes = 1, .utoff = plus1, .footer = "XYZ" },
		  "bad TZ string footer" },
		{ "BadRule", { .version = '2', .ntypes = 1, .utoff = plus1,
			       .footer = "CET-1CEST,M13.5.0,M10.5.0/3" },
		  "bad TZ string footer" },
		{ "BadTime", { .version = '2', .ntypes = 1, .utoff = plus1,
			       .footer = "CET-1CEST,M3.5.0/168,M10.5.0/3" },
		  "bad TZ string footer" },
		{ "Trailing", { .version = '2', .ntypes = 1, .utoff = plus1,
				.footer = "CET-1CEST,M3.5.0,M10.5.0/3,x" },
		  "bad TZ string footer" },
		{ "Leap", { .version = '2', .ntypes = 1, .utoff = plus1, .footer = "<+01>-1",
			    .leapcnt = 1 },
		  "leap-second zones are not supported" },
		{ "BigOffset", { .version = '2', .ntypes = 1, .utoff = huge, .footer = "" },
		  "UTC offset out of range" },
		{ "BadIndex", { .version = '2', .ntrans = 1, .trans = one, .idx = i5, .ntypes = 1,
				.utoff = plus1, .footer = "" },
		  "bad local time type index" },
		{ "Descending", { .version = '2', .ntrans = 2, .trans = desc, .idx = i00,
				  .ntypes = 1, .utoff = plus1, .footer = "" },
		  "transition times not ascending" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		write_tzif(cases[i].name, &cases[i].spec);
		co_err_set(CO_OK, "%s", "");
		if (co_tz_get(cases[i].name))
			fail_msg("malformed zone %s was accepted", cases[i].name);
		if (!strstr(co_err_msg(), cases[i].name) || !strstr(co_err_msg(), cases[i].want))
			fail_msg("zone %s: message \"%s\" lacks \"%s\"", cases[i].name,
				 co_err_msg(), cases[i].want);
	}
}

/* ---- threads -------------------------------------------------------------------- */

#define NTHREADS 8
#define NCHAIN 200

typedef struct {
	pthread_barrier_t *barrier;
	const co_tz *zone, *other;
	const char *other_name;
	int rc;
	co_usec_t fires[NCHAIN];
} thread_arg;

static void *thread_main(void *p)
{
	thread_arg *a = p;
	pthread_barrier_wait(a->barrier);
	a->zone = co_tz_get("America/New_York");
	a->other = co_tz_get(a->other_name);
	co_cron c;
	a->rc = co_cron_parse("*/7 1-3 * * *", &c);
	if (!a->zone || !a->other || a->rc != CO_OK) {
		a->rc = CO_EINTERNAL;
		return NULL;
	}
	co_usec_t t = 1772946000LL * SEC; /* 2026-03-08T05:00:00Z, 00:00 EST */
	for (int i = 0; i < NCHAIN && a->rc == CO_OK; i++) {
		a->rc = co_cron_next(&c, a->zone, t, &t);
		a->fires[i] = t;
	}
	return NULL;
}

static void test_threads_first_load(void **state)
{
	(void)state;
	static const char *others[] = { "Europe/Berlin", "Australia/Lord_Howe",
					"Asia/Kathmandu", "America/Sao_Paulo" };
	co_tz_cache_free(); /* so that every thread races for the first load */
	pthread_barrier_t barrier;
	assert_int_equal(pthread_barrier_init(&barrier, NULL, NTHREADS), 0);
	static thread_arg args[NTHREADS];
	pthread_t th[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		args[i] = (thread_arg){ .barrier = &barrier, .other_name = others[i % 4] };
		assert_int_equal(pthread_create(&th[i], NULL, thread_main, &args[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	pthread_barrier_destroy(&barrier);

	for (int i = 0; i < NTHREADS; i++) {
		assert_int_equal(args[i].rc, CO_OK);
		assert_ptr_equal(args[i].zone, args[0].zone);
		assert_ptr_equal(args[i].other, args[i % 4].other);
		assert_memory_equal(args[i].fires, args[0].fires, sizeof args[0].fires);
	}
	assert_ptr_equal(co_tz_get("America/New_York"), args[0].zone);
	/* 01:00 … 01:56 EST every 7 minutes, then 02:xx does not exist and coalesces with
	 * 03:00 EDT into 07:00Z, then 03:07 EDT. */
	char buf[CO_RFC3339_LEN + 1];
	assert_string_equal(fmt(args[0].fires[0], buf), "2026-03-08T06:00:00Z");
	assert_string_equal(fmt(args[0].fires[8], buf), "2026-03-08T06:56:00Z");
	assert_string_equal(fmt(args[0].fires[9], buf), "2026-03-08T07:00:00Z");
	assert_string_equal(fmt(args[0].fires[10], buf), "2026-03-08T07:07:00Z");
	assert_string_equal(fmt(args[0].fires[17], buf), "2026-03-08T07:56:00Z");
	assert_string_equal(fmt(args[0].fires[18], buf), "2026-03-09T05:00:00Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_parse_day_of_week),
		cmocka_unit_test(test_parse_restricted),
		cmocka_unit_test(test_parse_macros),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_matches),
		cmocka_unit_test(test_next_dom_dow_or),
		cmocka_unit_test(test_next_calendar),
		cmocka_unit_test(test_next_not_found),
		cmocka_unit_test(test_berlin_spring_forward),
		cmocka_unit_test(test_berlin_fall_back),
		cmocka_unit_test(test_lord_howe),
		cmocka_unit_test(test_kathmandu),
		cmocka_unit_test(test_new_york),
		cmocka_unit_test(test_tz_names),
		cmocka_unit_test(test_tz_utc_without_tzdata),
		cmocka_unit_test(test_tz_far_future),
		cmocka_unit_test_setup_teardown(test_tzif_footers, setup_tzdir, teardown_tzdir),
		cmocka_unit_test_setup_teardown(test_tzif_malformed, setup_tzdir, teardown_tzdir),
		cmocka_unit_test(test_threads_first_load),
	};
	return cmocka_run_group_tests(tests, NULL, teardown_cache);
}
