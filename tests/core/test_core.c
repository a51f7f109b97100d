/*
 * test_core.c — cmocka unit tests of src/core, the layer that knows no HTTP and no SQL.
 *
 * What is tested, one group per module:
 *   err       — co_err_set / co_err_msg / co_err_name.
 *   clock     — RFC 3339 formatting (epoch, known instants, before 1970, range limits,
 *               always six fractional digits) and parsing (round trips over years
 *               1..9999, offsets, lowercase t/z, 0–9 fractional digits, calendar and
 *               syntax rejections), and the test override of co_clock_now_us.
 *   id        — UUIDv7 shape, version/variant, uniqueness, time-ordered prefix,
 *               co_id_valid rejections, co_id_parse lowercasing.
 *   buf       — appends, printf growth, JSON string escaping, take, JSON times.
 *   validate  — UTF-8, names, keys, urls, JSON nesting depth, integers, booleans.
 *   workspace — create/patch body parsing (types, ranges, nulls, failure cleanup),
 *               JSON rendering read back with jansson, status names.
 *   memory    — put body parsing (key, value, if_match_version, ttl_seconds) and JSON
 *               rendering read back with jansson.
 *
 * Expected clock strings were computed independently with `date -u -d @SECONDS`.
 * Run under ASan/LSan, failed parses also prove that nothing they allocated leaks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../src/core/buf.h"
#include "../../src/core/clock.h"
#include "../../src/core/err.h"
#include "../../src/core/id.h"
#include "../../src/core/memory.h"
#include "../../src/core/validate.h"
#include "../../src/core/workspace.h"

/* ---- helpers -------------------------------------------------------------------- */

#define SEC 1000000LL /* µs per second */

/* First and last µs that co_rfc3339_format accepts: 0001-01-01T00:00:00Z and
 * 9999-12-31T23:59:59.999999Z (`date -u -d @-62135596800`, `date -u -d @253402300799`). */
#define MIN_US (-62135596800LL * SEC)
#define MAX_US (253402300799LL * SEC + 999999)

/* xorshift64*: a fixed-seed generator so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* Parses JSON text for a test body; fails the test if the text is not JSON. */
static json_t *J(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
	if (!j)
		fail_msg("bad test JSON '%s': %s", text, e.text);
	return j;
}

static void expect_format(co_usec_t us, const char *want)
{
	char out[CO_RFC3339_LEN + 1];
	memset(out, 'x', sizeof out);
	assert_int_equal(co_rfc3339_format(us, out), CO_OK);
	assert_string_equal(out, want);
}

static void expect_parse(const char *s, co_usec_t want)
{
	co_usec_t got = 0;
	int rc = co_rfc3339_parse(s, &got);
	if (rc != CO_OK)
		fail_msg("co_rfc3339_parse(\"%s\") = %d (%s), want OK", s, rc, co_err_msg());
	if (got != want)
		fail_msg("co_rfc3339_parse(\"%s\") = %lld, want %lld", s, (long long)got,
			 (long long)want);
}

static void expect_parse_fails(const char *s)
{
	co_usec_t got = 0;
	int rc = co_rfc3339_parse(s, &got);
	if (rc != CO_EINVAL)
		fail_msg("co_rfc3339_parse(\"%s\") = %d (-> %lld), want CO_EINVAL", s, rc,
			 (long long)got);
}

/* co_buf_json_str of s[0..n) must produce exactly `want`. */
static void expect_json_str(const char *s, size_t n, const char *want)
{
	co_buf b;
	co_buf_init(&b);
	co_buf_json_str(&b, s, n);
	assert_true(co_buf_ok(&b));
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);
	assert_int_equal(b.data[b.len], 0);
	co_buf_free(&b);
}

/* Renders with co_ws_to_json and parses the text back with jansson. */
static json_t *ws_json(const co_workspace *w)
{
	co_buf b;
	co_buf_init(&b);
	co_ws_to_json(w, &b);
	assert_true(co_buf_ok(&b));
	json_error_t e;
	json_t *j = json_loadb(b.data, b.len, 0, &e);
	if (!j)
		fail_msg("co_ws_to_json gave invalid JSON (%s): %s", e.text, b.data);
	co_buf_free(&b);
	assert_true(json_is_object(j));
	return j;
}

static json_t *mem_json(const co_mem_entry *e)
{
	co_buf b;
	co_buf_init(&b);
	co_mem_to_json(e, &b);
	assert_true(co_buf_ok(&b));
	json_error_t err;
	json_t *j = json_loadb(b.data, b.len, 0, &err);
	if (!j)
		fail_msg("co_mem_to_json gave invalid JSON (%s): %s", err.text, b.data);
	co_buf_free(&b);
	assert_true(json_is_object(j));
	return j;
}

static const char *jstr(json_t *obj, const char *field)
{
	json_t *v = json_object_get(obj, field);
	if (!json_is_string(v))
		fail_msg("field %s is not a string", field);
	return json_string_value(v);
}

static bool is_all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		if (c[i])
			return false;
	return true;
}

/* ---- err ------------------------------------------------------------------------ */

static void test_err_set_and_msg(void **state)
{
	(void)state;
	assert_int_equal(co_err_set(CO_ECONFLICT, "version %d is stale", 7), CO_ECONFLICT);
	assert_string_equal(co_err_msg(), "version 7 is stale");
	assert_int_equal(co_err_set(CO_OK, "%s", ""), CO_OK);
	assert_string_equal(co_err_msg(), "");

	/* One line of at most CO_ERR_MSG_MAX - 1 bytes: longer messages are truncated. */
	char longmsg[CO_ERR_MSG_MAX * 2];
	memset(longmsg, 'm', sizeof longmsg - 1);
	longmsg[sizeof longmsg - 1] = 0;
	assert_int_equal(co_err_set(CO_EINVAL, "%s", longmsg), CO_EINVAL);
	assert_int_equal(strlen(co_err_msg()), CO_ERR_MSG_MAX - 1);
	assert_memory_equal(co_err_msg(), longmsg, CO_ERR_MSG_MAX - 1);
}

static void test_err_names(void **state)
{
	(void)state;
	assert_string_equal(co_err_name(CO_OK), "ok");
	assert_string_equal(co_err_name(CO_ENOTFOUND), "not_found");
	assert_string_equal(co_err_name(CO_EEXISTS), "exists");
	assert_string_equal(co_err_name(CO_ECONFLICT), "conflict");
	assert_string_equal(co_err_name(CO_EINVAL), "invalid");
	assert_string_equal(co_err_name(CO_EUNAVAIL), "unavailable");
	assert_string_equal(co_err_name(CO_ENOMEM), "out_of_memory");
	assert_string_equal(co_err_name(CO_EINTERNAL), "internal");
	assert_string_equal(co_err_name(-99), "internal");
	assert_string_equal(co_err_name(5), "internal");
}

/* ---- clock: format -------------------------------------------------------------- */

static void test_clock_format_epoch(void **state)
{
	(void)state;
	expect_format(0, "1970-01-01T00:00:00.000000Z");
	expect_format(1, "1970-01-01T00:00:00.000001Z");
	expect_format(SEC, "1970-01-01T00:00:01.000000Z");
}

static void test_clock_format_known_instants(void **state)
{
	(void)state;
	/* date -u -d @1795537096 → Tue Nov 24 16:18:16 UTC 2026 */
	expect_format(1795537096123456LL, "2026-11-24T16:18:16.123456Z");
	/* date -u -d @1000000000 → 2001-09-09T01:46:40 */
	expect_format(1000000000LL * SEC, "2001-09-09T01:46:40.000000Z");
	/* date -u -d @951782400 → 2000-02-29T00:00:00 (a leap day of a /400 year) */
	expect_format(951782400LL * SEC + 999999, "2000-02-29T00:00:00.999999Z");
	/* date -u -d @1709164800 → 2024-02-29T00:00:00 */
	expect_format(1709164800LL * SEC, "2024-02-29T00:00:00.000000Z");
}

static void test_clock_format_before_1970(void **state)
{
	(void)state;
	expect_format(-1, "1969-12-31T23:59:59.999999Z");
	expect_format(-SEC, "1969-12-31T23:59:59.000000Z");
	expect_format(-SEC - 1, "1969-12-31T23:59:58.999999Z");
	/* date -u -d @-14182940 → 1969-07-20T20:17:40 */
	expect_format(-14182940LL * SEC, "1969-07-20T20:17:40.000000Z");
	expect_format(-14182940LL * SEC - 1, "1969-07-20T20:17:39.999999Z");
	/* date -u -d 1600-02-29T12:00:00Z +%s → -11670955200 */
	expect_format(-11670955200LL * SEC + 500000, "1600-02-29T12:00:00.500000Z");
	/* date -u -d 1900-03-01T00:00:00Z +%s → -2203891200 */
	expect_format(-2203891200LL * SEC, "1900-03-01T00:00:00.000000Z");
}

static void test_clock_format_range(void **state)
{
	(void)state;
	char out[CO_RFC3339_LEN + 1];
	expect_format(MIN_US, "0001-01-01T00:00:00.000000Z");
	expect_format(MAX_US, "9999-12-31T23:59:59.999999Z");
	assert_int_equal(co_rfc3339_format(MIN_US - 1, out), CO_EINVAL);
	assert_int_equal(co_rfc3339_format(MAX_US + 1, out), CO_EINVAL);
	assert_int_equal(co_rfc3339_format(INT64_MIN, out), CO_EINVAL);
	assert_int_equal(co_rfc3339_format(INT64_MAX, out), CO_EINVAL);
}

/* Every output has the fixed 27-byte shape with six fractional digits. */
static void test_clock_format_shape(void **state)
{
	(void)state;
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
	for (int i = 0; i < 5000; i++) {
		co_usec_t us = MIN_US + (co_usec_t)(rng_next() % (uint64_t)(MAX_US - MIN_US + 1));
		if (i < 3)
			us = i == 0 ? 0 : i == 1 ? MIN_US : MAX_US;
		char out[CO_RFC3339_LEN + 1];
		assert_int_equal(co_rfc3339_format(us, out), CO_OK);
		assert_int_equal(strlen(out), CO_RFC3339_LEN);
		for (int k = 0; k < CO_RFC3339_LEN; k++) {
			if (shape[k] == 'd')
				assert_true(out[k] >= '0' && out[k] <= '9');
			else
				assert_int_equal(out[k], shape[k]);
		}
	}
}

/* ---- clock: parse --------------------------------------------------------------- */

/* format → parse gives back the same µs, and the text sorts as the numbers do. */
static void test_clock_parse_roundtrip(void **state)
{
	(void)state;
	char prev[CO_RFC3339_LEN + 1] = "";
	co_usec_t prev_us = 0;
	for (int i = 0; i < 20000; i++) {
		co_usec_t us = MIN_US + (co_usec_t)(rng_next() % (uint64_t)(MAX_US - MIN_US + 1));
		char out[CO_RFC3339_LEN + 1];
		assert_int_equal(co_rfc3339_format(us, out), CO_OK);
		expect_parse(out, us);
		if (i > 0) {
			int c = strcmp(prev, out);
			if ((prev_us < us && c >= 0) || (prev_us > us && c <= 0) ||
			    (prev_us == us && c != 0))
				fail_msg("sort order: %lld '%s' vs %lld '%s'", (long long)prev_us, prev,
					 (long long)us, out);
		}
		memcpy(prev, out, sizeof prev);
		prev_us = us;
	}
	static const co_usec_t fixed[] = {0, 1, -1, MIN_US, MAX_US, 1795537096123456LL};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
		char out[CO_RFC3339_LEN + 1];
		assert_int_equal(co_rfc3339_format(fixed[i], out), CO_OK);
		expect_parse(out, fixed[i]);
	}
}

static void test_clock_parse_offsets(void **state)
{
	(void)state;
	/* 16:18:16+02:00 is 14:18:16Z: date -u -d 2026-11-24T14:18:16Z +%s → 1795529896 */
	expect_parse("2026-11-24T16:18:16+02:00", 1795529896LL * SEC);
	/* 16:18:16-05:30 is 21:48:16Z: date -u -d 2026-11-24T21:48:16Z +%s → 1795556896 */
	expect_parse("2026-11-24T16:18:16-05:30", 1795556896LL * SEC);
	expect_parse("2026-11-24T16:18:16.123456+00:00", 1795537096123456LL);
	expect_parse("2026-11-24T16:18:16.123456-00:00", 1795537096123456LL);
	/* An offset can cross a day, month and year boundary. */
	expect_parse("2026-01-01T01:00:00+02:00", (1767225600LL - 3600) * SEC);
	expect_parse("2025-12-31T23:00:00-01:00", 1767225600LL * SEC);
	expect_parse("2026-11-24T16:18:16+23:59", (1795537096LL - 23 * 3600 - 59 * 60) * SEC);
}

static void test_clock_parse_lowercase(void **state)
{
	(void)state;
	expect_parse("2026-11-24t16:18:16.123456z", 1795537096123456LL);
	expect_parse("2026-11-24t16:18:16Z", 1795537096LL * SEC);
	expect_parse("2026-11-24T16:18:16z", 1795537096LL * SEC);
}

static void test_clock_parse_fraction_digits(void **state)
{
	(void)state;
	static const co_usec_t want[10] = {0,      100000, 120000, 123000, 123400,
					   123450, 123456, 123456, 123456, 123456};
	for (int k = 0; k <= 9; k++) {
		char s[64];
		if (k == 0)
			snprintf(s, sizeof s, "2026-11-24T16:18:16Z");
		else
			snprintf(s, sizeof s, "2026-11-24T16:18:16.%.*sZ", k, "123456789");
		expect_parse(s, 1795537096LL * SEC + want[k]);
	}
	/* Truncation, not rounding. */
	expect_parse("2026-11-24T16:18:16.999999999Z", 1795537096LL * SEC + 999999);
	expect_parse("1969-12-31T23:59:59.5Z", -500000);
	expect_parse("1969-12-31T23:59:59.9999999Z", -1);
}

static void test_clock_parse_calendar(void **state)
{
	(void)state;
	expect_parse("2024-02-29T00:00:00Z", 1709164800LL * SEC);
	expect_parse("2000-02-29T00:00:00Z", 951782400LL * SEC);
	expect_parse("1600-02-29T12:00:00Z", -11670955200LL * SEC);
	expect_parse("1900-03-01T00:00:00Z", -2203891200LL * SEC);
	expect_parse("0001-01-01T00:00:00Z", MIN_US);
	expect_parse("9999-12-31T23:59:59.999999Z", MAX_US);
	expect_parse("2026-12-31T23:59:59Z", (1767225600LL + 365 * 86400 - 1) * SEC);

	expect_parse_fails("2026-02-30T00:00:00Z");
	expect_parse_fails("2023-02-29T00:00:00Z");
	expect_parse_fails("1900-02-29T00:00:00Z");
	expect_parse_fails("2026-04-31T00:00:00Z");
	expect_parse_fails("2026-13-01T00:00:00Z");
	expect_parse_fails("2026-00-01T00:00:00Z");
	expect_parse_fails("2026-01-00T00:00:00Z");
	expect_parse_fails("2026-01-32T00:00:00Z");
	expect_parse_fails("2026-01-01T24:00:00Z");
	expect_parse_fails("2026-01-01T00:60:00Z");
	expect_parse_fails("2026-01-01T00:00:61Z");
}

static void test_clock_parse_syntax_rejects(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"2026",
		"2026-11-24",
		"2026-11-24T16:18:16",        /* no Z or offset */
		"2026-11-24T16:18:16.123456", /* no Z or offset */
		"2026-11-24T16:18Z",          /* no seconds */
		"2026-11-24T16:18:16.Z",      /* empty fraction */
		"2026-11-24T16:18:16.+02:00", /* empty fraction */
		"2026-11-24T16:18:16Zjunk",
		"2026-11-24T16:18:16Z ",
		"2026-11-24T16:18:16+02:00x",
		"2026-11-24T16:18:16+0200",
		"2026-11-24T16:18:16+02",
		"2026-11-24T16:18:16+24:00",
		"2026-11-24T16:18:16+02:60",
		"2026-11-24X16:18:16Z",
		"2026/11/24T16:18:16Z",
		"26-11-24T16:18:16Z",
		"2026-1-24T16:18:16Z",
		"x026-11-24T16:18:16Z",
		" 2026-11-24T16:18:16Z",
		"2026-11-24T16:18:16.12a456Z",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_parse_fails(bad[i]);
}

static void test_clock_override(void **state)
{
	(void)state;
	co_clock_set_override(1795537096123456LL);
	assert_true(co_clock_now_us() == 1795537096123456LL);
	assert_true(co_clock_now_us() == 1795537096123456LL);
	co_clock_set_override(-5);
	assert_true(co_clock_now_us() == -5);
	co_clock_set_override(0);
	co_usec_t now = co_clock_now_us();
	co_usec_t sys = (co_usec_t)time(NULL) * SEC;
	assert_true(now > sys - 5 * SEC && now < sys + 5 * SEC);

	co_usec_t m1 = co_clock_mono_us(), m2 = co_clock_mono_us();
	assert_true(m1 > 0 && m2 >= m1);
}

/* ---- id ------------------------------------------------------------------------- */

static void check_id_shape(const char *s)
{
	assert_int_equal(strlen(s), CO_ID_LEN);
	assert_true(co_id_valid(s));
	for (int i = 0; i < CO_ID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			assert_int_equal(s[i], '-');
		else
			assert_non_null(strchr("0123456789abcdef", s[i]));
	}
	assert_int_equal(s[14], '7');
	assert_non_null(strchr("89ab", s[19]));
}

static void test_id_new_shape(void **state)
{
	(void)state;
	co_id id;
	assert_int_equal(co_id_new(&id), CO_OK);
	check_id_shape(id.s);
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(((const co_id *)a)->s, ((const co_id *)b)->s);
}

static void test_id_new_distinct(void **state)
{
	(void)state;
	enum { N = 1000 };
	co_id *ids = calloc(N, sizeof *ids);
	assert_non_null(ids);
	for (int i = 0; i < N; i++) {
		assert_int_equal(co_id_new(&ids[i]), CO_OK);
		check_id_shape(ids[i].s);
	}
	qsort(ids, N, sizeof *ids, cmp_id);
	for (int i = 1; i < N; i++)
		if (strcmp(ids[i - 1].s, ids[i].s) == 0)
			fail_msg("duplicate id %s", ids[i].s);
	free(ids);
}

static uint64_t hex_val(const char *s, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++) {
		char c = s[i];
		v = v * 16 + (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
	}
	return v;
}

/* Ids made in sequence sort by time: the 13-character prefix (48-bit Unix ms) never
 * decreases, and neither does the 18-character one (ms, version, 12 sub-ms bits). The
 * prefix is the current wall-clock millisecond. */
static void test_id_time_ordered(void **state)
{
	(void)state;
	co_clock_set_override(0);
	co_id prev, cur;
	uint64_t before = (uint64_t)(co_clock_now_us() / 1000);
	assert_int_equal(co_id_new(&prev), CO_OK);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(co_id_new(&cur), CO_OK);
		if (strncmp(prev.s, cur.s, 13) > 0 || strncmp(prev.s, cur.s, 18) > 0)
			fail_msg("id %s made after %s sorts before it", cur.s, prev.s);
		prev = cur;
	}
	uint64_t after = (uint64_t)(co_clock_now_us() / 1000);
	uint64_t ms = hex_val(cur.s, 8) << 16 | hex_val(cur.s + 9, 4);
	assert_true(ms >= before && ms <= after);
}

static void test_id_valid_rejects(void **state)
{
	(void)state;
	assert_true(co_id_valid("01234567-89ab-7cde-8f01-23456789abcd"));
	assert_true(co_id_valid("01234567-89AB-7CDE-8F01-23456789ABCD")); /* either case */
	assert_true(co_id_valid("00000000-0000-0000-0000-000000000000"));

	assert_false(co_id_valid(NULL));
	assert_false(co_id_valid(""));
	assert_false(co_id_valid("01234567-89ab-7cde-8f01-23456789abc"));   /* 35 */
	assert_false(co_id_valid("01234567-89ab-7cde-8f01-23456789abcde")); /* 37 */
	assert_false(co_id_valid("01234567-89ab-7cde-8f01-23456789abcg"));  /* bad hex */
	assert_false(co_id_valid("0123456z-89ab-7cde-8f01-23456789abcd"));  /* bad hex */
	assert_false(co_id_valid("0123456789ab7cde8f0123456789abcd"));      /* no dashes */
	assert_false(co_id_valid("012345678-9ab-7cde-8f01-23456789abcd"));  /* dash moved */
	assert_false(co_id_valid("01234567-89ab-7cde-8f0123-456789abcd"));  /* dash moved */
	assert_false(co_id_valid("01234567089ab-7cde-8f01-23456789abcd"));  /* dash → hex */
	assert_false(co_id_valid("01234567-89ab-7cde-8f01-23456789abc "));
	assert_false(co_id_valid("{1234567-89ab-7cde-8f01-23456789abcd"));
	assert_false(co_id_valid("-1234567-89ab-7cde-8f01-23456789abcd"));
}

static void test_id_parse(void **state)
{
	(void)state;
	co_id id;
	assert_int_equal(co_id_parse("0189ABCD-EF01-7ABC-9DEF-0123456789AB", &id), CO_OK);
	assert_string_equal(id.s, "0189abcd-ef01-7abc-9def-0123456789ab");
	assert_int_equal(co_id_parse("0189abcd-ef01-7abc-9def-0123456789ab", &id), CO_OK);
	assert_string_equal(id.s, "0189abcd-ef01-7abc-9def-0123456789ab");
	assert_int_equal(co_id_parse("not-a-uuid", &id), CO_EINVAL);
	assert_int_equal(co_id_parse(NULL, &id), CO_EINVAL);

	co_id made, back;
	assert_int_equal(co_id_new(&made), CO_OK);
	assert_int_equal(co_id_parse(made.s, &back), CO_OK);
	assert_string_equal(made.s, back.s);
}

/* ---- buf ------------------------------------------------------------------------ */

static void test_buf_append(void **state)
{
	(void)state;
	co_buf b;
	co_buf_init(&b);
	assert_int_equal(b.len, 0);
	assert_true(co_buf_ok(&b));
	co_buf_puts(&b, "hello");
	co_buf_putc(&b, ',');
	co_buf_append(&b, " world\0!", 8); /* embedded NUL is kept */
	assert_int_equal(b.len, 14);
	assert_memory_equal(b.data, "hello, world\0!", 15);
	co_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	co_buf_i64(&b, INT64_MIN);
	co_buf_putc(&b, ' ');
	co_buf_i64(&b, INT64_MAX);
	co_buf_putc(&b, ' ');
	co_buf_i64(&b, 0);
	assert_string_equal(b.data, "-9223372036854775808 9223372036854775807 0");
	assert_int_equal(b.len, strlen(b.data));
	assert_true(co_buf_ok(&b));
	co_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
}

static void test_buf_printf_growth(void **state)
{
	(void)state;
	co_buf b;
	co_buf_init(&b);
	char big[1000];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = 0;
	co_buf_printf(&b, "<%s>", big); /* one write well past the first 256-byte block */
	assert_int_equal(b.len, 1001);
	assert_int_equal(b.data[0], '<');
	assert_int_equal(b.data[1000], '>');
	assert_int_equal(b.data[1001], 0);
	assert_true(b.cap > b.len);

	/* Many small writes across several growths keep every byte. */
	co_buf_reset(&b);
	for (int i = 0; i < 500; i++)
		co_buf_printf(&b, "%03d,", i);
	assert_int_equal(b.len, 2000);
	for (int i = 0; i < 500; i++) {
		char want[5];
		snprintf(want, sizeof want, "%03d,", i);
		assert_memory_equal(b.data + 4 * i, want, 4);
	}
	assert_int_equal(b.data[2000], 0);
	co_buf_printf(&b, "%s", "");
	assert_int_equal(b.len, 2000);
	assert_true(co_buf_ok(&b));
	co_buf_free(&b);
}

static void test_buf_json_str_escapes(void **state)
{
	(void)state;
	expect_json_str("", 0, "\"\"");
	expect_json_str("plain", 5, "\"plain\"");
	expect_json_str("a\"b", 3, "\"a\\\"b\"");
	expect_json_str("a\\b", 3, "\"a\\\\b\"");
	expect_json_str("\n\r\t", 3, "\"\\n\\r\\t\"");
	expect_json_str("x\x01y\x1f", 4, "\"x\\u0001y\\u001f\"");
	expect_json_str("\b\f", 2, "\"\\u0008\\u000c\"");
	expect_json_str("a\0b", 3, "\"a\\u0000b\"");
	expect_json_str("\x7f", 1, "\"\x7f\""); /* DEL needs no escape in JSON */
	expect_json_str("\"\\\"", 3, "\"\\\"\\\\\\\"\"");
	expect_json_str("end\n", 4, "\"end\\n\"");
	/* Only the first n bytes are written. */
	expect_json_str("abcdef", 3, "\"abc\"");

	/* Every control byte comes out as JSON that decodes back to the same string. */
	char all[32];
	for (int i = 0; i < 32; i++)
		all[i] = (char)(i + 1 == 32 ? '"' : i + 1);
	co_buf b;
	co_buf_init(&b);
	co_buf_json_str(&b, all, sizeof all);
	json_error_t e;
	json_t *j = json_loadb(b.data, b.len, JSON_DECODE_ANY, &e);
	assert_non_null(j);
	assert_int_equal(json_string_length(j), sizeof all);
	assert_memory_equal(json_string_value(j), all, sizeof all);
	json_decref(j);
	co_buf_free(&b);
}

static void test_buf_json_str_utf8(void **state)
{
	(void)state;
	const char *s = "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80 \xe6\x97\xa5\xe6\x9c\xac";
	char want[128];
	snprintf(want, sizeof want, "\"%s\"", s);
	expect_json_str(s, strlen(s), want);

	co_buf b;
	co_buf_init(&b);
	co_buf_json_cstr(&b, s);
	json_error_t e;
	json_t *j = json_loadb(b.data, b.len, JSON_DECODE_ANY, &e);
	assert_non_null(j);
	assert_string_equal(json_string_value(j), s);
	json_decref(j);
	co_buf_free(&b);
}

static void test_buf_json_cstr_and_key(void **state)
{
	(void)state;
	co_buf b;
	co_buf_init(&b);
	co_buf_json_cstr(&b, NULL);
	assert_string_equal(b.data, "null");
	co_buf_reset(&b);
	co_buf_json_cstr(&b, "");
	assert_string_equal(b.data, "\"\"");
	co_buf_reset(&b);
	co_buf_putc(&b, '{');
	co_buf_json_key(&b, "a", true);
	co_buf_i64(&b, 1);
	co_buf_json_key(&b, "b\"", false);
	co_buf_json_cstr(&b, NULL);
	co_buf_putc(&b, '}');
	assert_string_equal(b.data, "{\"a\":1,\"b\\\"\":null}");
	co_buf_free(&b);
}

static void test_buf_take(void **state)
{
	(void)state;
	co_buf b;
	co_buf_init(&b);
	co_buf_puts(&b, "payload");
	size_t n = 0;
	char *d = co_buf_take(&b, &n);
	assert_non_null(d);
	assert_int_equal(n, 7);
	assert_string_equal(d, "payload");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	/* The buffer is reusable and independent of the taken data. */
	co_buf_puts(&b, "next");
	assert_string_equal(b.data, "next");
	assert_string_equal(d, "payload");
	free(d);
	co_buf_free(&b);

	/* An empty buffer gives "" (not NULL); the length pointer may be NULL. */
	co_buf_init(&b);
	d = co_buf_take(&b, &n);
	assert_non_null(d);
	assert_int_equal(n, 0);
	assert_string_equal(d, "");
	free(d);
	d = co_buf_take(&b, NULL);
	assert_non_null(d);
	assert_string_equal(d, "");
	free(d);
	co_buf_free(&b);
}

static void test_buf_json_time(void **state)
{
	(void)state;
	co_buf b;
	co_buf_init(&b);
	co_buf_json_time(&b, 0, true);
	assert_string_equal(b.data, "null");
	co_buf_reset(&b);
	co_buf_json_time(&b, 0, false);
	assert_string_equal(b.data, "\"1970-01-01T00:00:00.000000Z\"");
	co_buf_reset(&b);
	co_buf_json_time(&b, 1795537096123456LL, true);
	assert_string_equal(b.data, "\"2026-11-24T16:18:16.123456Z\"");
	co_buf_reset(&b);
	co_buf_json_time(&b, -1, true);
	assert_string_equal(b.data, "\"1969-12-31T23:59:59.999999Z\"");
	co_buf_reset(&b);
	co_buf_json_time(&b, MAX_US + 1, false); /* unformattable → null */
	assert_string_equal(b.data, "null");
	co_buf_free(&b);
}

/* ---- validate ------------------------------------------------------------------- */

#define UTF8_OK(lit) assert_true(co_utf8_valid(lit, sizeof(lit) - 1))
#define UTF8_BAD(lit) assert_false(co_utf8_valid(lit, sizeof(lit) - 1))

static void test_utf8_accepts(void **state)
{
	(void)state;
	assert_true(co_utf8_valid("", 0));
	UTF8_OK("plain ASCII ~\x7f");
	UTF8_OK("a\0b");                    /* NUL is a valid code point */
	UTF8_OK("\xc2\x80");                /* U+0080, smallest 2-byte */
	UTF8_OK("\xc3\xa9");                /* é */
	UTF8_OK("\xdf\xbf");                /* U+07FF */
	UTF8_OK("\xe0\xa0\x80");            /* U+0800, smallest 3-byte */
	UTF8_OK("\xe2\x9c\x93");            /* ✓ */
	UTF8_OK("\xed\x9f\xbf");            /* U+D7FF, just below the surrogates */
	UTF8_OK("\xee\x80\x80");            /* U+E000, just above them */
	UTF8_OK("\xef\xbf\xbf");            /* U+FFFF */
	UTF8_OK("\xf0\x90\x80\x80");        /* U+10000, smallest 4-byte */
	UTF8_OK("\xf0\x9f\x98\x80");        /* 😀 */
	UTF8_OK("\xf4\x8f\xbf\xbf");        /* U+10FFFF, the largest */
	UTF8_OK("x\xc3\xa9y\xe2\x9c\x93z"); /* mixed */
	/* Only n bytes are read: a bad byte beyond n does not matter. */
	assert_true(co_utf8_valid("ab\xff", 2));
}

static void test_utf8_rejects(void **state)
{
	(void)state;
	UTF8_BAD("\xc0\xaf");             /* overlong '/' */
	UTF8_BAD("\xc0\x80");             /* overlong NUL */
	UTF8_BAD("\xc1\xbf");             /* overlong U+007F */
	UTF8_BAD("\xe0\x80\xaf");         /* overlong 3-byte */
	UTF8_BAD("\xe0\x9f\xbf");         /* overlong U+07FF */
	UTF8_BAD("\xf0\x80\x80\xaf");     /* overlong 4-byte */
	UTF8_BAD("\xf0\x8f\xbf\xbf");     /* overlong U+FFFF */
	UTF8_BAD("\xed\xa0\x80");         /* U+D800, a surrogate */
	UTF8_BAD("\xed\xbf\xbf");         /* U+DFFF, a surrogate */
	UTF8_BAD("\xf4\x90\x80\x80");     /* U+110000 */
	UTF8_BAD("\xf5\x80\x80\x80");     /* lead byte beyond U+10FFFF */
	UTF8_BAD("\xf7\xbf\xbf\xbf");
	UTF8_BAD("\xf8\x88\x80\x80\x80"); /* 5-byte form */
	UTF8_BAD("\xfe");
	UTF8_BAD("\xff");
	UTF8_BAD("\xc3");             /* truncated 2-byte */
	UTF8_BAD("\xe2\x9c");         /* truncated 3-byte */
	UTF8_BAD("\xf0\x9f\x98");     /* truncated 4-byte */
	UTF8_BAD("ab\xe2\x9c");       /* truncated at the end */
	UTF8_BAD("\x80");             /* lone continuation */
	UTF8_BAD("a\xbf" "b");        /* lone continuation in the middle */
	UTF8_BAD("\xc3\x28");         /* continuation missing */
	UTF8_BAD("\xe2\x28\xa1");
	UTF8_BAD("\xf0\x9f\x28\x80");
	/* A valid sequence cut short by n. */
	assert_false(co_utf8_valid("\xf0\x9f\x98\x80", 3));
}

static void test_validate_name(void **state)
{
	(void)state;
	char s[300];
	assert_int_equal(co_validate_name("name", "alpha"), CO_OK);
	assert_int_equal(co_validate_name("name", "\xc3\xa9quipe \xf0\x9f\x98\x80"), CO_OK);
	assert_int_equal(co_validate_name("name", "tab\tis fine"), CO_OK);

	memset(s, 'n', 255);
	s[255] = 0;
	assert_int_equal(co_validate_name("name", s), CO_OK);
	s[255] = 'n';
	s[256] = 0;
	assert_int_equal(co_validate_name("name", s), CO_EINVAL);
	assert_non_null(strstr(co_err_msg(), "name"));

	assert_int_equal(co_validate_name("role", ""), CO_EINVAL);
	assert_non_null(strstr(co_err_msg(), "role"));
	assert_int_equal(co_validate_name("runtime", NULL), CO_EINVAL);
	assert_non_null(strstr(co_err_msg(), "runtime"));
	assert_int_equal(co_validate_name("name", "a\rb"), CO_EINVAL);
	assert_int_equal(co_validate_name("name", "a\nb"), CO_EINVAL);
	assert_int_equal(co_validate_name("name", "\n"), CO_EINVAL);
	assert_int_equal(co_validate_name("name", "bad \xc0\xaf"), CO_EINVAL);
	assert_int_equal(co_validate_name("name", "\xed\xa0\x80"), CO_EINVAL);
	assert_int_equal(co_validate_name("name", "cut \xe2\x9c"), CO_EINVAL);
}

static void test_validate_key(void **state)
{
	(void)state;
	char s[300];
	assert_int_equal(co_validate_key("config.model"), CO_OK);
	assert_int_equal(co_validate_key("k:1 with spaces & \xc3\xa9"), CO_OK);

	memset(s, 'k', 256);
	s[256] = 0;
	assert_int_equal(co_validate_key(s), CO_OK);
	s[256] = 'k';
	s[257] = 0;
	assert_int_equal(co_validate_key(s), CO_EINVAL);

	assert_int_equal(co_validate_key(NULL), CO_EINVAL);
	assert_int_equal(co_validate_key(""), CO_EINVAL);
	assert_int_equal(co_validate_key("a/b"), CO_EINVAL);
	assert_int_equal(co_validate_key("/"), CO_EINVAL);
	assert_int_equal(co_validate_key("a\x01" "b"), CO_EINVAL);
	assert_int_equal(co_validate_key("a\x7f" "b"), CO_EINVAL);
	assert_int_equal(co_validate_key("a\tb"), CO_EINVAL);
	assert_int_equal(co_validate_key("a\nb"), CO_EINVAL);
	assert_int_equal(co_validate_key("\x1f"), CO_EINVAL);
	assert_int_equal(co_validate_key("bad \xc0\xaf"), CO_EINVAL);
	assert_int_equal(co_validate_key("\xed\xa0\x80"), CO_EINVAL);
}

static void test_validate_url(void **state)
{
	(void)state;
	assert_int_equal(co_validate_url("http://example.com"), CO_OK);
	assert_int_equal(co_validate_url("https://example.com:8443/a/b?c=d#e"), CO_OK);
	assert_int_equal(co_validate_url("http://10.0.0.1:8080/"), CO_OK);
	assert_int_equal(co_validate_url("https://x"), CO_OK);

	assert_int_equal(co_validate_url("ftp://example.com"), CO_EINVAL);
	assert_int_equal(co_validate_url("example.com"), CO_EINVAL);
	assert_int_equal(co_validate_url(""), CO_EINVAL);
	assert_int_equal(co_validate_url("http:/example.com"), CO_EINVAL);
	assert_int_equal(co_validate_url("https:example.com"), CO_EINVAL);
	assert_int_equal(co_validate_url(" http://example.com"), CO_EINVAL);
	assert_int_equal(co_validate_url("http://exa mple.com"), CO_EINVAL);
	assert_int_equal(co_validate_url("http://example.com/ "), CO_EINVAL);
	assert_int_equal(co_validate_url("http://example.com/\t"), CO_EINVAL);
	assert_int_equal(co_validate_url("http://example.com/\x7f"), CO_EINVAL);
	assert_int_equal(co_validate_url("http://example.com/\n"), CO_EINVAL);
	assert_int_equal(co_validate_url("http://"), CO_EINVAL);
	assert_int_equal(co_validate_url("https://"), CO_EINVAL);
	assert_int_equal(co_validate_url("http:///path"), CO_EINVAL);
	assert_int_equal(co_validate_url("https:///path"), CO_EINVAL);
	assert_non_null(strstr(co_err_msg(), "url"));

	/* Length limit: CO_URL_MAX bytes are fine, one more is not. */
	char *u = malloc(CO_URL_MAX + 2);
	assert_non_null(u);
	memcpy(u, "http://h/", 9);
	memset(u + 9, 'p', CO_URL_MAX - 9);
	u[CO_URL_MAX] = 0;
	assert_int_equal(co_validate_url(u), CO_OK);
	u[CO_URL_MAX] = 'p';
	u[CO_URL_MAX + 1] = 0;
	assert_int_equal(co_validate_url(u), CO_EINVAL);
	free(u);
}

/* The authority right after "http://" or "https://" must contain a host: a URL whose
 * authority is empty (the next character ends it: '?', '#') or holds only a port or
 * userinfo has no host, just like "http:///path" which is already refused. */
static void test_validate_url_empty_host(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"http://?q=1",
		"https://#frag",
		"http://:8080/",
		"https://:443",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (co_validate_url(bad[i]) != CO_EINVAL)
			fail_msg("co_validate_url(\"%s\") accepted a url with no host", bad[i]);
}

static char *nested(int depth, char open, char close)
{
	char *s = malloc((size_t)depth * 2 + 1);
	assert_non_null(s);
	memset(s, open, (size_t)depth);
	memset(s + depth, close, (size_t)depth);
	s[depth * 2] = 0;
	return s;
}

static void test_json_depth(void **state)
{
	(void)state;
	char *a64 = nested(64, '[', ']'), *a65 = nested(65, '[', ']');
	assert_true(co_json_depth_ok(a64, strlen(a64), CO_JSON_DEPTH_MAX));
	assert_false(co_json_depth_ok(a65, strlen(a65), CO_JSON_DEPTH_MAX));
	/* Only the first n bytes are scanned. */
	assert_true(co_json_depth_ok(a65, 64, CO_JSON_DEPTH_MAX));
	free(a64);
	free(a65);

	/* Mixed objects and arrays count alike; siblings do not add up. */
	assert_true(co_json_depth_ok("{\"a\":[{\"b\":[]}]}", 17, 4));
	assert_false(co_json_depth_ok("{\"a\":[{\"b\":[]}]}", 17, 3));
	assert_true(co_json_depth_ok("[[],[],[],[]]", 13, 2));
	assert_true(co_json_depth_ok("42", 2, 0));
	assert_false(co_json_depth_ok("[]", 2, 0));

	/* Brackets inside strings do not count. */
	const char *in_str = "[\"[[[[{{{{\",\"]]]]\"]";
	assert_true(co_json_depth_ok(in_str, strlen(in_str), 1));
	/* An escaped quote does not end the string... */
	const char *esc_q = "[\"\\\"[[[[\"]";
	assert_true(co_json_depth_ok(esc_q, strlen(esc_q), 1));
	/* ...but an escaped backslash before a quote does, so what follows counts. */
	const char *esc_bs = "[\"\\\\\",[[]]]";
	assert_true(co_json_depth_ok(esc_bs, strlen(esc_bs), 3));
	assert_false(co_json_depth_ok(esc_bs, strlen(esc_bs), 2));
	/* Object keys are strings too. */
	const char *key = "{\"{[{[\":{}}";
	assert_true(co_json_depth_ok(key, strlen(key), 2));
	assert_false(co_json_depth_ok(key, strlen(key), 1));
}

static void test_parse_i64(void **state)
{
	(void)state;
	int64_t v = 0;
	assert_int_equal(co_parse_i64("0", 0, 10, &v), CO_OK);
	assert_true(v == 0);
	assert_int_equal(co_parse_i64("10", 0, 10, &v), CO_OK);
	assert_true(v == 10);
	assert_int_equal(co_parse_i64("-3", -3, 3, &v), CO_OK);
	assert_true(v == -3);
	assert_int_equal(co_parse_i64("007", 0, 10, &v), CO_OK);
	assert_true(v == 7);
	assert_int_equal(co_parse_i64("9223372036854775807", INT64_MIN, INT64_MAX, &v), CO_OK);
	assert_true(v == INT64_MAX);
	assert_int_equal(co_parse_i64("-9223372036854775808", INT64_MIN, INT64_MAX, &v), CO_OK);
	assert_true(v == INT64_MIN);

	v = 123;
	assert_int_equal(co_parse_i64("11", 0, 10, &v), CO_EINVAL);
	assert_int_equal(co_parse_i64("-4", -3, 3, &v), CO_EINVAL);
	assert_int_equal(co_parse_i64("-1", 0, 10, &v), CO_EINVAL);
	assert_int_equal(co_parse_i64("99999999999999999999", INT64_MIN, INT64_MAX, &v), CO_EINVAL);
	assert_int_equal(co_parse_i64("-99999999999999999999", INT64_MIN, INT64_MAX, &v),
			 CO_EINVAL);
	assert_int_equal(co_parse_i64("9223372036854775808", INT64_MIN, INT64_MAX, &v), CO_EINVAL);
	assert_true(v == 123); /* untouched on failure */

	/* Only [-]digits: no plus sign, spaces, junk, hex or empties. */
	static const char *const junk[] = {"", "+5", " 5", "5 ", "5x", "0x10", "-", "--5",
					   "-+5", "1.0", "1e3", "\t5", "5\n"};
	for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
		if (co_parse_i64(junk[i], INT64_MIN, INT64_MAX, &v) != CO_EINVAL)
			fail_msg("co_parse_i64(\"%s\") accepted", junk[i]);
	assert_int_equal(co_parse_i64(NULL, 0, 10, &v), CO_EINVAL);
	assert_true(v == 123);
}

static void test_parse_bool(void **state)
{
	(void)state;
	bool b = false;
	assert_int_equal(co_parse_bool("true", false, &b), CO_OK);
	assert_true(b);
	assert_int_equal(co_parse_bool("0", true, &b), CO_OK);
	assert_false(b);
	assert_int_equal(co_parse_bool("1", false, &b), CO_OK);
	assert_true(b);
	assert_int_equal(co_parse_bool("false", true, &b), CO_OK);
	assert_false(b);
	assert_int_equal(co_parse_bool(NULL, true, &b), CO_OK);
	assert_true(b);
	assert_int_equal(co_parse_bool(NULL, false, &b), CO_OK);
	assert_false(b);
	static const char *const bad[] = {"", "TRUE", "True", "yes", "no", "2", "true ", " 1", "01"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (co_parse_bool(bad[i], false, &b) != CO_EINVAL)
			fail_msg("co_parse_bool(\"%s\") accepted", bad[i]);
}

/* ---- workspace ------------------------------------------------------------------ */

static void test_ws_status_names(void **state)
{
	(void)state;
	for (int i = 0; i < CO_WS_STATUS_COUNT; i++) {
		const char *n = co_ws_status_name((co_ws_status)i);
		assert_non_null(n);
		assert_string_not_equal(n, "unknown");
		co_ws_status s = CO_WS_STATUS_COUNT;
		assert_int_equal(co_ws_status_parse(n, &s), CO_OK);
		assert_int_equal(s, i);
		for (int k = 0; k < i; k++)
			assert_string_not_equal(n, co_ws_status_name((co_ws_status)k));
	}
	assert_string_equal(co_ws_status_name(CO_WS_PROVISIONING), "provisioning");
	assert_string_equal(co_ws_status_name(CO_WS_HIBERNATED), "hibernated");
	assert_string_equal(co_ws_status_name(CO_WS_REMOVED), "removed");
	assert_string_equal(co_ws_status_name(CO_WS_STATUS_COUNT), "unknown");

	co_ws_status s;
	assert_int_equal(co_ws_status_parse("Online", &s), CO_EINVAL);
	assert_int_equal(co_ws_status_parse("", &s), CO_EINVAL);
	assert_int_equal(co_ws_status_parse("unknown", &s), CO_EINVAL);
	assert_int_equal(co_ws_status_parse(NULL, &s), CO_EINVAL);
}

static void test_ws_create_minimal(void **state)
{
	(void)state;
	json_t *body = J("{\"name\":\"alpha\"}");
	co_workspace w;
	assert_int_equal(co_ws_parse_create(body, &w), CO_OK);
	assert_string_equal(w.name, "alpha");
	assert_null(w.role);
	assert_null(w.runtime);
	assert_null(w.url);
	assert_false(w.has_parent);
	assert_false(w.has_tier);
	assert_false(w.has_max_tasks);
	assert_int_equal(w.status, CO_WS_PROVISIONING);
	assert_string_equal(w.id.s, "");
	assert_true(w.created_at == 0 && w.updated_at == 0 && w.removed_at == 0);
	co_workspace_clear(&w);
	assert_null(w.name);
	json_decref(body);
}

static void test_ws_create_all_fields(void **state)
{
	(void)state;
	json_t *body = J("{\"name\":\"\xc3\xa9quipe\",\"role\":\"planner\","
			 "\"parent_id\":\"0189ABCD-EF01-7ABC-9DEF-0123456789AB\","
			 "\"runtime\":\"claude\",\"tier\":3,\"url\":\"https://agent.example/x\","
			 "\"max_concurrent_tasks\":4,\"status\":\"online\"}");
	co_workspace w;
	assert_int_equal(co_ws_parse_create(body, &w), CO_OK);
	json_decref(body); /* the parsed workspace owns copies */
	assert_string_equal(w.name, "\xc3\xa9quipe");
	assert_string_equal(w.role, "planner");
	assert_true(w.has_parent);
	assert_string_equal(w.parent_id.s, "0189abcd-ef01-7abc-9def-0123456789ab");
	assert_string_equal(w.runtime, "claude");
	assert_true(w.has_tier);
	assert_true(w.tier == 3);
	assert_string_equal(w.url, "https://agent.example/x");
	assert_true(w.has_max_tasks);
	assert_true(w.max_concurrent_tasks == 4);
	assert_int_equal(w.status, CO_WS_ONLINE);
	co_workspace_clear(&w);
}

/* Range edges that are accepted, and nulls that mean "unset". */
static void test_ws_create_edges_and_nulls(void **state)
{
	(void)state;
	json_t *body = J("{\"name\":\"n\",\"tier\":0,\"max_concurrent_tasks\":1000000,"
			 "\"role\":null,\"runtime\":null,\"url\":null,\"parent_id\":null}");
	co_workspace w;
	assert_int_equal(co_ws_parse_create(body, &w), CO_OK);
	assert_true(w.has_tier && w.tier == 0);
	assert_true(w.has_max_tasks && w.max_concurrent_tasks == CO_MAX_TASKS_MAX);
	assert_null(w.role);
	assert_null(w.runtime);
	assert_null(w.url);
	assert_false(w.has_parent);
	co_workspace_clear(&w);
	json_decref(body);

	body = J("{\"name\":\"n\",\"tier\":1000000}");
	assert_int_equal(co_ws_parse_create(body, &w), CO_OK);
	assert_true(w.has_tier && w.tier == CO_TIER_MAX);
	co_workspace_clear(&w);
	json_decref(body);
}

/* Each bad body is CO_EINVAL, names the field, and leaves *out zeroed (anything already
 * copied — name is read first — is freed: ASan's leak check sees it otherwise). */
static void test_ws_create_wrong_types(void **state)
{
	(void)state;
	static const struct {
		const char *body, *field;
	} cases[] = {
		{"{\"name\":42}", "name"},
		{"{\"name\":null}", "name"},
		{"{\"name\":\"\"}", "name"},
		{"{\"name\":\"a\\nb\"}", "name"},
		{"{\"name\":[\"x\"]}", "name"},
		{"{\"name\":\"w\",\"parent_id\":42}", "parent_id"},
		{"{\"name\":\"w\",\"parent_id\":\"not-a-uuid\"}", "parent_id"},
		{"{\"name\":\"w\",\"parent_id\":\"\"}", "parent_id"},
		{"{\"name\":\"w\",\"parent_id\":\"0189abcdef017abc9def0123456789ab\"}", "parent_id"},
		{"{\"name\":\"w\",\"tier\":\"3\"}", "tier"},
		{"{\"name\":\"w\",\"tier\":-1}", "tier"},
		{"{\"name\":\"w\",\"tier\":1.5}", "tier"},
		{"{\"name\":\"w\",\"tier\":true}", "tier"},
		{"{\"name\":\"w\",\"tier\":1000001}", "tier"},
		{"{\"name\":\"w\",\"max_concurrent_tasks\":0}", "max_concurrent_tasks"},
		{"{\"name\":\"w\",\"max_concurrent_tasks\":-2}", "max_concurrent_tasks"},
		{"{\"name\":\"w\",\"max_concurrent_tasks\":1000001}", "max_concurrent_tasks"},
		{"{\"name\":\"w\",\"max_concurrent_tasks\":\"4\"}", "max_concurrent_tasks"},
		{"{\"name\":\"w\",\"url\":\"ftp://x\"}", "url"},
		{"{\"name\":\"w\",\"url\":42}", "url"},
		{"{\"name\":\"w\",\"url\":\"http://\"}", "url"},
		{"{\"name\":\"w\",\"role\":7}", "role"},
		{"{\"name\":\"w\",\"role\":\"\"}", "role"},
		{"{\"name\":\"w\",\"runtime\":\"a\\r\"}", "runtime"},
		{"{\"name\":\"w\",\"runtime\":{}}", "runtime"},
		{"{\"name\":\"w\",\"status\":1}", "status"},
		{"{\"name\":\"w\",\"status\":null}", "status"},
		{"{\"name\":\"w\",\"status\":\"bogus\"}", "status"},
		/* Fields parsed late fail after earlier strings were copied. */
		{"{\"name\":\"w\",\"role\":\"r\",\"runtime\":\"rt\",\"url\":\"http://u\","
		 "\"tier\":1,\"max_concurrent_tasks\":2,\"parent_id\":false}",
		 "parent_id"},
		{"{\"name\":\"w\",\"role\":\"r\",\"runtime\":\"rt\",\"url\":\"http://u\","
		 "\"parent_id\":\"0189abcd-ef01-7abc-9def-0123456789ab\",\"status\":\"gone\"}",
		 "status"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *body = J(cases[i].body);
		co_workspace w;
		memset(&w, 0xa5, sizeof w);
		int rc = co_ws_parse_create(body, &w);
		if (rc != CO_EINVAL)
			fail_msg("co_ws_parse_create(%s) = %d, want CO_EINVAL", cases[i].body, rc);
		if (!strstr(co_err_msg(), cases[i].field))
			fail_msg("error for %s does not name %s: %s", cases[i].body, cases[i].field,
				 co_err_msg());
		assert_true(is_all_zero(&w, sizeof w));
		json_decref(body);
	}
}

static void test_ws_create_missing_name(void **state)
{
	(void)state;
	co_workspace w;
	json_t *body = J("{}");
	assert_int_equal(co_ws_parse_create(body, &w), CO_EINVAL);
	assert_non_null(strstr(co_err_msg(), "name"));
	json_decref(body);

	/* Every other field parses (and is copied) before the missing name is noticed. */
	body = J("{\"role\":\"r\",\"runtime\":\"rt\",\"url\":\"http://u\",\"tier\":1}");
	assert_int_equal(co_ws_parse_create(body, &w), CO_EINVAL);
	assert_non_null(strstr(co_err_msg(), "name"));
	assert_null(w.role);
	assert_null(w.runtime);
	assert_null(w.url);
	assert_false(w.has_tier);
	json_decref(body);
}

static void test_ws_create_status(void **state)
{
	(void)state;
	co_workspace w;
	json_t *body = J("{\"name\":\"w\",\"status\":\"removed\"}");
	assert_int_equal(co_ws_parse_create(body, &w), CO_EINVAL);
	assert_non_null(strstr(co_err_msg(), "removed"));
	assert_null(w.name);
	json_decref(body);

	body = J("{\"name\":\"w\",\"status\":\"hibernated\"}");
	assert_int_equal(co_ws_parse_create(body, &w), CO_OK);
	assert_int_equal(w.status, CO_WS_HIBERNATED);
	co_workspace_clear(&w);
	json_decref(body);
}

static void test_ws_create_unknown_fields_ignored(void **state)
{
	(void)state;
	json_t *body = J("{\"name\":\"w\",\"id\":\"whatever\",\"created_at\":5,\"color\":[1,2],"
			 "\"removed_at\":\"x\",\"Name\":7}");
	co_workspace w;
	assert_int_equal(co_ws_parse_create(body, &w), CO_OK);
	assert_string_equal(w.name, "w");
	assert_string_equal(w.id.s, "");
	assert_true(w.created_at == 0 && w.removed_at == 0);
	co_workspace_clear(&w);
	json_decref(body);
}

static void test_ws_create_non_object(void **state)
{
	(void)state;
	static const char *const bodies[] = {"[]", "[{\"name\":\"w\"}]", "\"w\"", "42", "null",
					     "true"};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		json_t *body = J(bodies[i]);
		co_workspace w;
		assert_int_equal(co_ws_parse_create(body, &w), CO_EINVAL);
		assert_true(is_all_zero(&w, sizeof w));
		co_ws_patch p;
		assert_int_equal(co_ws_parse_patch(body, &p), CO_EINVAL);
		assert_int_equal(p.fields, 0);
		json_decref(body);
	}
	co_workspace w;
	assert_int_equal(co_ws_parse_create(NULL, &w), CO_EINVAL);
}

static void test_ws_patch_empty(void **state)
{
	(void)state;
	json_t *body = J("{}");
	co_ws_patch p;
	assert_int_equal(co_ws_parse_patch(body, &p), CO_OK);
	assert_int_equal(p.fields, 0);
	assert_null(p.v.name);
	co_ws_patch_clear(&p);
	json_decref(body);

	body = J("{\"unknown\":1}");
	assert_int_equal(co_ws_parse_patch(body, &p), CO_OK);
	assert_int_equal(p.fields, 0);
	co_ws_patch_clear(&p);
	json_decref(body);
}

static void test_ws_patch_nulls(void **state)
{
	(void)state;
	co_ws_patch p;
	json_t *body = J("{\"parent_id\":null}");
	assert_int_equal(co_ws_parse_patch(body, &p), CO_OK);
	assert_int_equal(p.fields, CO_WSF_PARENT);
	assert_false(p.v.has_parent);
	co_ws_patch_clear(&p);
	json_decref(body);

	body = J("{\"role\":null}");
	assert_int_equal(co_ws_parse_patch(body, &p), CO_OK);
	assert_int_equal(p.fields, CO_WSF_ROLE);
	assert_null(p.v.role);
	co_ws_patch_clear(&p);
	json_decref(body);

	body = J("{\"runtime\":null,\"url\":null,\"tier\":null,\"max_concurrent_tasks\":null}");
	assert_int_equal(co_ws_parse_patch(body, &p), CO_OK);
	assert_int_equal(p.fields, CO_WSF_RUNTIME | CO_WSF_URL | CO_WSF_TIER | CO_WSF_MAX_TASKS);
	assert_null(p.v.runtime);
	assert_null(p.v.url);
	assert_false(p.v.has_tier);
	assert_false(p.v.has_max_tasks);
	co_ws_patch_clear(&p);
	json_decref(body);
}

static void test_ws_patch_fields(void **state)
{
	(void)state;
	co_ws_patch p;
	json_t *body = J("{\"name\":\"new\",\"role\":\"r\",\"runtime\":\"rt\",\"tier\":2,"
			 "\"url\":\"http://h\",\"max_concurrent_tasks\":9,\"status\":\"paused\","
			 "\"parent_id\":\"0189abcd-ef01-7abc-9def-0123456789ab\"}");
	assert_int_equal(co_ws_parse_patch(body, &p), CO_OK);
	assert_int_equal(p.fields, CO_WSF_NAME | CO_WSF_ROLE | CO_WSF_PARENT | CO_WSF_RUNTIME |
					   CO_WSF_TIER | CO_WSF_URL | CO_WSF_MAX_TASKS |
					   CO_WSF_STATUS);
	assert_string_equal(p.v.name, "new");
	assert_string_equal(p.v.role, "r");
	assert_string_equal(p.v.runtime, "rt");
	assert_string_equal(p.v.url, "http://h");
	assert_true(p.v.has_tier && p.v.tier == 2);
	assert_true(p.v.has_max_tasks && p.v.max_concurrent_tasks == 9);
	assert_int_equal(p.v.status, CO_WS_PAUSED);
	assert_true(p.v.has_parent);
	assert_string_equal(p.v.parent_id.s, "0189abcd-ef01-7abc-9def-0123456789ab");
	co_ws_patch_clear(&p);
	assert_int_equal(p.fields, 0);
	assert_null(p.v.name);
	json_decref(body);

	body = J("{\"status\":\"degraded\"}");
	assert_int_equal(co_ws_parse_patch(body, &p), CO_OK);
	assert_int_equal(p.fields, CO_WSF_STATUS);
	assert_int_equal(p.v.status, CO_WS_DEGRADED);
	co_ws_patch_clear(&p);
	json_decref(body);
}

static void test_ws_patch_rejects(void **state)
{
	(void)state;
	static const char *const bodies[] = {
		"{\"status\":\"removed\"}",
		"{\"status\":null}",
		"{\"name\":null}",
		"{\"name\":\"ok\",\"tier\":\"x\"}",
		"{\"name\":\"ok\",\"role\":\"r\",\"max_concurrent_tasks\":0}",
		"{\"role\":\"r\",\"parent_id\":\"nope\"}",
		"{\"url\":\"https://\"}",
	};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		json_t *body = J(bodies[i]);
		co_ws_patch p;
		memset(&p, 0xa5, sizeof p);
		if (co_ws_parse_patch(body, &p) != CO_EINVAL)
			fail_msg("co_ws_parse_patch(%s) accepted", bodies[i]);
		assert_int_equal(p.fields, 0);
		assert_true(is_all_zero(&p.v, sizeof p.v));
		json_decref(body);
	}
}

static void test_ws_to_json_full(void **state)
{
	(void)state;
	char name[] = "say \"hi\"\\ \xc3\xa9", role[] = "planner", runtime[] = "rt",
	     url[] = "https://h/p?q=1";
	co_workspace w;
	memset(&w, 0, sizeof w);
	assert_int_equal(co_id_parse("0189abcd-ef01-7abc-9def-0123456789ab", &w.id), CO_OK);
	assert_int_equal(co_id_parse("0189abcd-ef01-7abc-9def-000000000001", &w.parent_id), CO_OK);
	w.has_parent = true;
	w.name = name;
	w.role = role;
	w.runtime = runtime;
	w.url = url;
	w.has_tier = true;
	w.tier = 0;
	w.has_max_tasks = true;
	w.max_concurrent_tasks = 1000000;
	w.status = CO_WS_REMOVED;
	w.created_at = 1795537096123456LL;
	w.updated_at = 1795537096123457LL;
	w.removed_at = -1;

	json_t *j = ws_json(&w);
	assert_int_equal(json_object_size(j), 12);
	assert_string_equal(jstr(j, "id"), "0189abcd-ef01-7abc-9def-0123456789ab");
	assert_string_equal(jstr(j, "parent_id"), "0189abcd-ef01-7abc-9def-000000000001");
	assert_string_equal(jstr(j, "name"), name);
	assert_string_equal(jstr(j, "role"), "planner");
	assert_string_equal(jstr(j, "runtime"), "rt");
	assert_string_equal(jstr(j, "url"), url);
	assert_true(json_is_integer(json_object_get(j, "tier")));
	assert_int_equal(json_integer_value(json_object_get(j, "tier")), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "max_concurrent_tasks")), 1000000);
	assert_string_equal(jstr(j, "status"), "removed");
	assert_string_equal(jstr(j, "created_at"), "2026-11-24T16:18:16.123456Z");
	assert_string_equal(jstr(j, "updated_at"), "2026-11-24T16:18:16.123457Z");
	assert_string_equal(jstr(j, "removed_at"), "1969-12-31T23:59:59.999999Z");
	json_decref(j);
}

static void test_ws_to_json_root(void **state)
{
	(void)state;
	char name[] = "root";
	co_workspace w;
	memset(&w, 0, sizeof w);
	assert_int_equal(co_id_new(&w.id), CO_OK);
	w.name = name;
	w.status = CO_WS_ONLINE;
	w.created_at = w.updated_at = 1795537096000000LL;

	json_t *j = ws_json(&w);
	assert_int_equal(json_object_size(j), 12);
	assert_string_equal(jstr(j, "id"), w.id.s);
	assert_true(json_is_null(json_object_get(j, "parent_id")));
	assert_true(json_is_null(json_object_get(j, "role")));
	assert_true(json_is_null(json_object_get(j, "runtime")));
	assert_true(json_is_null(json_object_get(j, "url")));
	assert_true(json_is_null(json_object_get(j, "tier")));
	assert_true(json_is_null(json_object_get(j, "max_concurrent_tasks")));
	assert_true(json_is_null(json_object_get(j, "removed_at")));
	assert_string_equal(jstr(j, "status"), "online");
	assert_string_equal(jstr(j, "created_at"), "2026-11-24T16:18:16.000000Z");
	json_decref(j);
}

/* parse_create → to_json → parse_create keeps every writable field. */
static void test_ws_json_roundtrip(void **state)
{
	(void)state;
	json_t *body = J("{\"name\":\"a \\\"b\\\" \\u00e9\",\"role\":\"r\",\"runtime\":\"rt\","
			 "\"parent_id\":\"0189abcd-ef01-7abc-9def-0123456789ab\",\"tier\":5,"
			 "\"url\":\"http://x/y\",\"max_concurrent_tasks\":3,\"status\":\"failed\"}");
	co_workspace a, b;
	assert_int_equal(co_ws_parse_create(body, &a), CO_OK);
	json_t *j = ws_json(&a);
	assert_int_equal(co_ws_parse_create(j, &b), CO_OK);
	assert_string_equal(a.name, b.name);
	assert_string_equal(a.role, b.role);
	assert_string_equal(a.runtime, b.runtime);
	assert_string_equal(a.url, b.url);
	assert_true(b.has_parent);
	assert_string_equal(a.parent_id.s, b.parent_id.s);
	assert_true(b.has_tier && b.tier == 5);
	assert_true(b.has_max_tasks && b.max_concurrent_tasks == 3);
	assert_int_equal(b.status, CO_WS_FAILED);
	co_workspace_clear(&a);
	co_workspace_clear(&b);
	json_decref(j);
	json_decref(body);
}

/* ---- memory --------------------------------------------------------------------- */

static void test_mem_put_happy(void **state)
{
	(void)state;
	static const struct {
		const char *value, *compact;
	} cases[] = {
		{"{ \"a\" : [ 1 , 2, {\"b\" : null} ] }", "{\"a\":[1,2,{\"b\":null}]}"},
		{"[ ]", "[]"},
		{"[ \"x\", true, false ]", "[\"x\",true,false]"},
		{"\"text \\u00e9\"", "\"text \xc3\xa9\""},
		{"null", "null"},
		{"42", "42"},
		{"-7", "-7"},
		{"1.5", "1.5"},
		{"{}", "{}"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char text[256];
		snprintf(text, sizeof text, "{\"key\":\"k.%zu\",\"value\":%s}", i, cases[i].value);
		json_t *body = J(text);
		co_mem_put put;
		char *value = NULL;
		int rc = co_mem_parse_put(body, &put, &value);
		if (rc != CO_OK)
			fail_msg("co_mem_parse_put(%s) = %d: %s", text, rc, co_err_msg());
		assert_non_null(value);
		assert_ptr_equal(put.value_json, value);
		assert_string_equal(value, cases[i].compact);
		/* The key is borrowed from the body. */
		assert_ptr_equal(put.key, json_string_value(json_object_get(body, "key")));
		char want_key[16];
		snprintf(want_key, sizeof want_key, "k.%zu", i);
		assert_string_equal(put.key, want_key);
		assert_true(put.if_match_version == CO_MEM_ANY);
		assert_true(put.ttl_seconds == 0);
		/* The compact text decodes to the same value. */
		json_t *back = json_loads(value, JSON_DECODE_ANY, NULL);
		assert_non_null(back);
		assert_true(json_equal(back, json_object_get(body, "value")));
		json_decref(back);
		free(value);
		json_decref(body);
	}
}

/* Each bad body is CO_EINVAL naming the field, with *value_out NULL (nothing to free). */
static void test_mem_put_rejects(void **state)
{
	(void)state;
	static const struct {
		const char *body, *field;
	} cases[] = {
		{"{\"value\":1}", "key"},
		{"{\"key\":5,\"value\":1}", "key"},
		{"{\"key\":null,\"value\":1}", "key"},
		{"{\"key\":\"\",\"value\":1}", "key"},
		{"{\"key\":\"a/b\",\"value\":1}", "key"},
		{"{\"key\":\"a\\u0001b\",\"value\":1}", "key"},
		{"{\"key\":\"a\\tb\",\"value\":1}", "key"},
		{"{\"key\":\"k\"}", "value"},
		{"{\"key\":\"k\",\"Value\":1}", "value"},
		{"{\"key\":\"k\",\"value\":1,\"if_match_version\":-1}", "if_match_version"},
		{"{\"key\":\"k\",\"value\":1,\"if_match_version\":\"1\"}", "if_match_version"},
		{"{\"key\":\"k\",\"value\":1,\"if_match_version\":1.0}", "if_match_version"},
		{"{\"key\":\"k\",\"value\":1,\"if_match_version\":true}", "if_match_version"},
		{"{\"key\":\"k\",\"value\":1,\"ttl_seconds\":0}", "ttl_seconds"},
		{"{\"key\":\"k\",\"value\":1,\"ttl_seconds\":-5}", "ttl_seconds"},
		{"{\"key\":\"k\",\"value\":1,\"ttl_seconds\":\"10\"}", "ttl_seconds"},
		{"{\"key\":\"k\",\"value\":1,\"ttl_seconds\":2.5}", "ttl_seconds"},
		{"{\"key\":\"k\",\"value\":1,\"ttl_seconds\":3162240001}", "ttl_seconds"},
		{"{\"key\":\"k\",\"value\":1,\"ttl_seconds\":9223372036854775807}", "ttl_seconds"},
		{"[]", "object"},
		{"\"k\"", "object"},
		{"null", "object"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *body = J(cases[i].body);
		co_mem_put put;
		char *value = (char *)"sentinel";
		int rc = co_mem_parse_put(body, &put, &value);
		if (rc != CO_EINVAL)
			fail_msg("co_mem_parse_put(%s) = %d, want CO_EINVAL", cases[i].body, rc);
		if (!strstr(co_err_msg(), cases[i].field))
			fail_msg("error for %s does not name %s: %s", cases[i].body, cases[i].field,
				 co_err_msg());
		assert_null(value);
		json_decref(body);
	}

	/* A 257-byte key. */
	char key[258];
	memset(key, 'k', 257);
	key[257] = 0;
	json_t *body = json_pack("{s:s, s:i}", "key", key, "value", 1);
	assert_non_null(body);
	co_mem_put put;
	char *value = NULL;
	assert_int_equal(co_mem_parse_put(body, &put, &value), CO_EINVAL);
	assert_null(value);
	json_decref(body);

	/* A value of exactly CO_MEM_VALUE_MAX bytes as JSON ("…" included) is taken; one
	 * byte more is refused, whatever path the put came by (API or org import). */
	char *big = malloc(CO_MEM_VALUE_MAX);
	assert_non_null(big);
	memset(big, 'v', CO_MEM_VALUE_MAX - 2);
	big[CO_MEM_VALUE_MAX - 2] = 0;
	body = json_pack("{s:s, s:s}", "key", "k", "value", big);
	assert_int_equal(co_mem_parse_put(body, &put, &value), CO_OK);
	assert_int_equal(strlen(value), CO_MEM_VALUE_MAX);
	free(value);
	json_decref(body);
	big[CO_MEM_VALUE_MAX - 2] = 'v';
	big[CO_MEM_VALUE_MAX - 1] = 0;
	body = json_pack("{s:s, s:s}", "key", "k", "value", big);
	value = NULL;
	assert_int_equal(co_mem_parse_put(body, &put, &value), CO_EINVAL);
	assert_null(value);
	assert_non_null(strstr(co_err_msg(), "larger than"));
	json_decref(body);
	free(big);
}

static void test_mem_put_preconditions_and_ttl(void **state)
{
	(void)state;
	static const struct {
		const char *extra;
		int64_t version, ttl;
	} cases[] = {
		{"", CO_MEM_ANY, 0},
		{",\"if_match_version\":null", CO_MEM_ANY, 0},
		{",\"if_match_version\":0", 0, 0},
		{",\"if_match_version\":1", 1, 0},
		{",\"if_match_version\":9007199254740993", 9007199254740993LL, 0},
		{",\"ttl_seconds\":null", CO_MEM_ANY, 0},
		{",\"ttl_seconds\":1", CO_MEM_ANY, 1},
		{",\"ttl_seconds\":3162240000", CO_MEM_ANY, CO_TTL_MAX_SECONDS},
		{",\"ttl_seconds\":60,\"if_match_version\":0", 0, 60},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char text[256];
		snprintf(text, sizeof text, "{\"key\":\"k\",\"value\":null%s}", cases[i].extra);
		json_t *body = J(text);
		co_mem_put put;
		char *value = NULL;
		int rc = co_mem_parse_put(body, &put, &value);
		if (rc != CO_OK)
			fail_msg("co_mem_parse_put(%s) = %d: %s", text, rc, co_err_msg());
		assert_string_equal(value, "null");
		if (put.if_match_version != cases[i].version || put.ttl_seconds != cases[i].ttl)
			fail_msg("%s: if_match_version %lld ttl %lld", text,
				 (long long)put.if_match_version, (long long)put.ttl_seconds);
		free(value);
		json_decref(body);
	}
	assert_true(CO_TTL_MAX_SECONDS == 3162240000LL);
}

static void test_mem_to_json(void **state)
{
	(void)state;
	char key[] = "cfg \"q\"", value[] = "{\"a\":[1,2]}";
	co_mem_entry e = {.key = key, .value_json = value, .version = 3,
			  .updated_at = 1795537096123456LL};
	json_t *j = mem_json(&e);
	assert_int_equal(json_object_size(j), 4);
	assert_string_equal(jstr(j, "key"), key);
	json_t *want = J(value);
	assert_true(json_equal(json_object_get(j, "value"), want));
	json_decref(want);
	assert_int_equal(json_integer_value(json_object_get(j, "version")), 3);
	assert_null(json_object_get(j, "expires_at"));
	assert_string_equal(jstr(j, "updated_at"), "2026-11-24T16:18:16.123456Z");
	json_decref(j);

	e.expires_at = 1795537096123456LL + 60 * SEC;
	j = mem_json(&e);
	assert_int_equal(json_object_size(j), 5);
	assert_string_equal(jstr(j, "expires_at"), "2026-11-24T16:19:16.123456Z");
	json_decref(j);

	/* A NULL value_json renders as the JSON null value; scalar values are kept. */
	e.value_json = NULL;
	e.expires_at = 0;
	j = mem_json(&e);
	assert_non_null(json_object_get(j, "value"));
	assert_true(json_is_null(json_object_get(j, "value")));
	json_decref(j);
	char str[] = "\"s\"";
	e.value_json = str;
	j = mem_json(&e);
	assert_string_equal(jstr(j, "value"), "s");
	json_decref(j);
}

/* A parsed put rendered as an entry gives back the value that was sent. */
static void test_mem_put_to_json_roundtrip(void **state)
{
	(void)state;
	json_t *body = J("{\"key\":\"\xc3\xa9t\xc3\xa9\",\"value\":{\"deep\":[[1],{\"x\":\"\\n\"}]},"
			 "\"ttl_seconds\":30}");
	co_mem_put put;
	char *value = NULL;
	assert_int_equal(co_mem_parse_put(body, &put, &value), CO_OK);
	co_mem_entry e = {.key = strdup(put.key), .value_json = value, .version = 1,
			  .updated_at = 1795537096000000LL};
	e.expires_at = e.updated_at + put.ttl_seconds * SEC;
	json_t *j = mem_json(&e);
	assert_string_equal(jstr(j, "key"), "\xc3\xa9t\xc3\xa9");
	assert_true(json_equal(json_object_get(j, "value"), json_object_get(body, "value")));
	assert_string_equal(jstr(j, "expires_at"), "2026-11-24T16:18:46.000000Z");
	json_decref(j);
	co_mem_entry_clear(&e); /* frees key and value */
	assert_null(e.key);
	assert_null(e.value_json);
	json_decref(body);
}

/* ---- main ----------------------------------------------------------------------- */

/* ---- prefix upper bound and patch application (used by both backends) ---- */

static void test_mem_prefix_upper(void **state)
{
	(void)state;
	char out[32];
	assert_false(co_mem_prefix_upper("", out));
	assert_true(co_mem_prefix_upper("a", out));
	assert_string_equal(out, "b");
	assert_true(co_mem_prefix_upper("b:", out));
	assert_string_equal(out, "b;");
	assert_true(co_mem_prefix_upper("\xc3\xa9", out)); /* é → ê */
	assert_string_equal(out, "\xc3\xaa");
	assert_true(co_mem_prefix_upper("x\x7f", out)); /* U+007F → U+0080 (2 bytes) */
	assert_string_equal(out, "x\xc2\x80");
	assert_true(co_mem_prefix_upper("\xed\x9f\xbf", out)); /* U+D7FF → U+E000, no surrogate */
	assert_string_equal(out, "\xee\x80\x80");
	assert_true(co_mem_prefix_upper("a\xf4\x8f\xbf\xbf", out)); /* a U+10FFFF → b */
	assert_string_equal(out, "b");
	assert_false(co_mem_prefix_upper("\xf4\x8f\xbf\xbf", out));
	/* the bound is above every extension of the prefix and valid UTF-8 */
	assert_true(co_mem_prefix_upper("ab", out));
	assert_true(strcmp("ab\xf4\x8f\xbf\xbf", out) < 0);
	assert_true(co_utf8_valid(out, strlen(out)));
}

static void test_ws_apply_patch(void **state)
{
	(void)state;
	json_t *body = json_loads("{\"name\":\"n\",\"role\":\"r\",\"tier\":3}", 0, NULL);
	co_workspace w;
	assert_int_equal(co_ws_parse_create(body, &w), CO_OK);
	json_decref(body);
	body = json_loads("{\"role\":null,\"runtime\":\"rt\",\"tier\":null,"
			  "\"parent_id\":\"01a20b18-8b58-7a0b-9ff1-713bdc1711cc\",\"status\":\"online\"}",
			  0, NULL);
	co_ws_patch p;
	assert_int_equal(co_ws_parse_patch(body, &p), CO_OK);
	json_decref(body);
	assert_int_equal(co_ws_apply_patch(&w, &p), CO_OK);
	assert_string_equal(w.name, "n"); /* not named: kept */
	assert_null(w.role);              /* null: cleared */
	assert_string_equal(w.runtime, "rt");
	assert_false(w.has_tier);
	assert_true(w.has_parent);
	assert_string_equal(w.parent_id.s, "01a20b18-8b58-7a0b-9ff1-713bdc1711cc");
	assert_int_equal(w.status, CO_WS_ONLINE);
	co_ws_patch_clear(&p);
	co_workspace_clear(&w);
}

static void test_mem_version_conflict_messages(void **state)
{
	(void)state;
	assert_int_equal(co_mem_version_conflict(0, 4), CO_ECONFLICT);
	assert_non_null(strstr(co_err_msg(), "already exists"));
	assert_int_equal(co_mem_version_conflict(3, 0), CO_ECONFLICT);
	assert_non_null(strstr(co_err_msg(), "does not exist"));
	assert_int_equal(co_mem_version_conflict(3, 5), CO_ECONFLICT);
	assert_non_null(strstr(co_err_msg(), "current version is 5"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_set_and_msg),
		cmocka_unit_test(test_err_names),

		cmocka_unit_test(test_clock_format_epoch),
		cmocka_unit_test(test_clock_format_known_instants),
		cmocka_unit_test(test_clock_format_before_1970),
		cmocka_unit_test(test_clock_format_range),
		cmocka_unit_test(test_clock_format_shape),
		cmocka_unit_test(test_clock_parse_roundtrip),
		cmocka_unit_test(test_clock_parse_offsets),
		cmocka_unit_test(test_clock_parse_lowercase),
		cmocka_unit_test(test_clock_parse_fraction_digits),
		cmocka_unit_test(test_clock_parse_calendar),
		cmocka_unit_test(test_clock_parse_syntax_rejects),
		cmocka_unit_test(test_clock_override),

		cmocka_unit_test(test_id_new_shape),
		cmocka_unit_test(test_id_new_distinct),
		cmocka_unit_test(test_id_time_ordered),
		cmocka_unit_test(test_id_valid_rejects),
		cmocka_unit_test(test_id_parse),

		cmocka_unit_test(test_buf_append),
		cmocka_unit_test(test_buf_printf_growth),
		cmocka_unit_test(test_buf_json_str_escapes),
		cmocka_unit_test(test_buf_json_str_utf8),
		cmocka_unit_test(test_buf_json_cstr_and_key),
		cmocka_unit_test(test_buf_take),
		cmocka_unit_test(test_buf_json_time),

		cmocka_unit_test(test_utf8_accepts),
		cmocka_unit_test(test_utf8_rejects),
		cmocka_unit_test(test_validate_name),
		cmocka_unit_test(test_validate_key),
		cmocka_unit_test(test_validate_url),
		cmocka_unit_test(test_validate_url_empty_host),
		cmocka_unit_test(test_json_depth),
		cmocka_unit_test(test_parse_i64),
		cmocka_unit_test(test_parse_bool),

		cmocka_unit_test(test_ws_status_names),
		cmocka_unit_test(test_ws_create_minimal),
		cmocka_unit_test(test_ws_create_all_fields),
		cmocka_unit_test(test_ws_create_edges_and_nulls),
		cmocka_unit_test(test_ws_create_wrong_types),
		cmocka_unit_test(test_ws_create_missing_name),
		cmocka_unit_test(test_ws_create_status),
		cmocka_unit_test(test_ws_create_unknown_fields_ignored),
		cmocka_unit_test(test_ws_create_non_object),
		cmocka_unit_test(test_ws_patch_empty),
		cmocka_unit_test(test_ws_patch_nulls),
		cmocka_unit_test(test_ws_patch_fields),
		cmocka_unit_test(test_ws_patch_rejects),
		cmocka_unit_test(test_ws_to_json_full),
		cmocka_unit_test(test_ws_to_json_root),
		cmocka_unit_test(test_ws_json_roundtrip),

		cmocka_unit_test(test_mem_put_happy),
		cmocka_unit_test(test_mem_put_rejects),
		cmocka_unit_test(test_mem_put_preconditions_and_ttl),
		cmocka_unit_test(test_mem_to_json),
		cmocka_unit_test(test_mem_put_to_json_roundtrip),
		cmocka_unit_test(test_mem_prefix_upper),
		cmocka_unit_test(test_ws_apply_patch),
		cmocka_unit_test(test_mem_version_conflict_messages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
