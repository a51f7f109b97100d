/*
 * test_secret.c — cmocka unit tests of src/core/secret.c: sealing secrets at rest
 * (secret.h notes 1, 2), the key's text forms, and the JSON form.
 *
 *  - no key set (the first test, before any co_secret_set_key): seal and open fail;
 *  - key parsing: 64 hex digits (either case), base64 of 32 bytes in the four libsodium
 *    variants; wrong lengths, bad digits, empty: CO_EINVAL; a fresh key parses back;
 *  - round trips for global and workspace secrets, UTF-8 names, an empty value and a
 *    value of CO_SECRET_VALUE_MAX bytes; the layout (version 1, nonce, tag) and a fresh
 *    nonce per seal;
 *  - what must not open: another workspace, another name, global sealed opened as a
 *    workspace secret and back, every single flipped bit, every truncation, an appended
 *    byte, another version byte, another key (and the right key again opens);
 *  - co_secret_to_json with and without a value, read back with jansson.
 * Under ASan/LSan the failed opens also prove nothing they allocated leaks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/core/buf.h"
#include "../../src/core/err.h"
#include "../../src/core/id.h"
#include "../../src/core/secret.h"

#define OVERHEAD (1 + 24 + 16) /* version, nonce, tag */

static const char *const WS_A = "01890a5d-ac96-774b-bcce-b302099a8057";
static const char *const WS_B = "01890a5d-ac96-774b-bcce-b302099a8058";

static co_id id_of(const char *s)
{
	co_id id;
	assert_int_equal(co_id_parse(s, &id), CO_OK);
	return id;
}

static void set_key_byte(unsigned char b)
{
	unsigned char k[CO_SECRET_KEY_LEN];
	memset(k, b, sizeof k);
	assert_int_equal(co_secret_set_key(k), CO_OK);
}

/* Seals value for (scope, name), asserting success and the layout. */
static unsigned char *seal_ok(const co_id *scope, const char *name, const char *value, size_t len,
			      size_t *sealed_len)
{
	unsigned char *sealed = NULL;
	int rc = co_secret_seal(scope, name, value, len, &sealed, sealed_len);
	if (rc)
		fail_msg("seal: %d %s", rc, co_err_msg());
	assert_non_null(sealed);
	assert_int_equal(*sealed_len, len + OVERHEAD);
	assert_int_equal(sealed[0], 1);
	return sealed;
}

/* Opens and asserts it gives back exactly value[0..len). */
static void open_ok(const co_id *scope, const char *name, const unsigned char *sealed, size_t n,
		    const char *value, size_t len)
{
	char *got = NULL;
	size_t got_len = 99;
	int rc = co_secret_open(scope, name, sealed, n, &got, &got_len);
	if (rc)
		fail_msg("open %s: %d %s", name, rc, co_err_msg());
	assert_int_equal(got_len, len);
	assert_memory_equal(got, value, len);
	assert_int_equal(got[len], 0);
	free(got);
}

/* Asserts the open fails as CO_EINVAL with no value. */
static void open_fails(const co_id *scope, const char *name, const unsigned char *sealed, size_t n)
{
	char *got = (char *)"sentinel";
	size_t got_len = 99;
	assert_int_equal(co_secret_open(scope, name, sealed, n, &got, &got_len), CO_EINVAL);
	assert_null(got);
	assert_int_equal(got_len, 0);
}

/* ---- no key --------------------------------------------------------------------------- */

static void test_no_key_set(void **state)
{
	(void)state;
	unsigned char *sealed = (unsigned char *)"x";
	size_t n = 5;
	assert_int_equal(co_secret_seal(NULL, "n", "v", 1, &sealed, &n), CO_EINTERNAL);
	assert_null(sealed);
	assert_int_equal(n, 0);
	assert_non_null(strstr(co_err_msg(), "key"));
	unsigned char fake[OVERHEAD + 1] = {1};
	char *v = NULL;
	size_t vl = 0;
	assert_int_equal(co_secret_open(NULL, "n", fake, sizeof fake, &v, &vl), CO_EINTERNAL);
	assert_null(v);
}

/* ---- keys ----------------------------------------------------------------------------- */

static void test_key_parse(void **state)
{
	(void)state;
	unsigned char want[CO_SECRET_KEY_LEN], got[CO_SECRET_KEY_LEN];
	for (int i = 0; i < CO_SECRET_KEY_LEN; i++)
		want[i] = (unsigned char)(i * 37 + 250); /* bytes that make '+' '/' in base64 */
	char hex[2 * CO_SECRET_KEY_LEN + 1], b64[64];
	sodium_bin2hex(hex, sizeof hex, want, sizeof want);
	assert_int_equal(co_secret_key_parse(hex, got), CO_OK);
	assert_memory_equal(got, want, sizeof want);
	for (char *p = hex; *p; p++) /* upper case too */
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	memset(got, 0, sizeof got);
	assert_int_equal(co_secret_key_parse(hex, got), CO_OK);
	assert_memory_equal(got, want, sizeof want);

	const int variants[] = {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_URLSAFE,
				sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
				sodium_base64_VARIANT_URLSAFE_NO_PADDING};
	for (size_t v = 0; v < 4; v++) {
		sodium_bin2base64(b64, sizeof b64, want, sizeof want, variants[v]);
		memset(got, 0, sizeof got);
		if (co_secret_key_parse(b64, got))
			fail_msg("base64 variant %zu '%s': %s", v, b64, co_err_msg());
		assert_memory_equal(got, want, sizeof want);
	}

	/* bad: wrong lengths, bad digits, other sizes in base64, empty, junk around */
	char bad_hex[2 * CO_SECRET_KEY_LEN + 2];
	sodium_bin2hex(bad_hex, sizeof bad_hex, want, sizeof want);
	bad_hex[63] = 0; /* 63 digits */
	assert_int_equal(co_secret_key_parse(bad_hex, got), CO_EINVAL);
	sodium_bin2hex(bad_hex, sizeof bad_hex, want, sizeof want);
	strcat(bad_hex, "0"); /* 65 digits */
	assert_int_equal(co_secret_key_parse(bad_hex, got), CO_EINVAL);
	sodium_bin2hex(bad_hex, sizeof bad_hex, want, sizeof want);
	bad_hex[10] = 'g';
	assert_int_equal(co_secret_key_parse(bad_hex, got), CO_EINVAL);
	sodium_bin2base64(b64, sizeof b64, want, 31, sodium_base64_VARIANT_ORIGINAL);
	assert_int_equal(co_secret_key_parse(b64, got), CO_EINVAL);
	unsigned char longer[33] = {0};
	sodium_bin2base64(b64, sizeof b64, longer, sizeof longer, sodium_base64_VARIANT_ORIGINAL);
	assert_int_equal(co_secret_key_parse(b64, got), CO_EINVAL);
	sodium_bin2base64(b64, sizeof b64, want, sizeof want, sodium_base64_VARIANT_ORIGINAL);
	char spaced[80];
	snprintf(spaced, sizeof spaced, " %s", b64);
	assert_int_equal(co_secret_key_parse(spaced, got), CO_EINVAL);
	assert_int_equal(co_secret_key_parse("", got), CO_EINVAL);
	assert_int_equal(co_secret_key_parse("not a key at all", got), CO_EINVAL);
	assert_non_null(strstr(co_err_msg(), "64 hex digits"));
}

static void test_key_fresh(void **state)
{
	(void)state;
	char a[2 * CO_SECRET_KEY_LEN + 1], b[2 * CO_SECRET_KEY_LEN + 1];
	co_secret_key_fresh_hex(a);
	co_secret_key_fresh_hex(b);
	assert_int_equal(strlen(a), 64);
	assert_string_not_equal(a, b);
	unsigned char k[CO_SECRET_KEY_LEN];
	assert_int_equal(co_secret_key_parse(a, k), CO_OK);
}

/* ---- round trips ---------------------------------------------------------------------- */

static void test_round_trip(void **state)
{
	(void)state;
	set_key_byte(0x11);
	co_id a = id_of(WS_A);
	struct {
		const co_id *scope;
		const char *name;
		const char *value;
	} cases[] = {
		{NULL, "OPENAI_API_KEY", "sk-live-0123456789"},
		{&a, "OPENAI_API_KEY", "sk-workspace-override"},
		{&a, "d\xc3\xa9j\xc3\xa0 \xe2\x9c\x93", "caf\xc3\xa9 \xf0\x9f\x94\x91 \"quoted\"\n"},
		{NULL, "empty", ""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len = strlen(cases[i].value), n;
		unsigned char *s = seal_ok(cases[i].scope, cases[i].name, cases[i].value, len, &n);
		open_ok(cases[i].scope, cases[i].name, s, n, cases[i].value, len);
		/* the plaintext is not in the sealed bytes */
		if (len >= 4)
			assert_null(memmem(s, n, cases[i].value, len));
		free(s);
	}

	/* the largest value */
	char *big = malloc(CO_SECRET_VALUE_MAX);
	assert_non_null(big);
	for (size_t i = 0; i < CO_SECRET_VALUE_MAX; i++)
		big[i] = (char)('a' + i % 26);
	size_t n;
	unsigned char *s = seal_ok(&a, "big", big, CO_SECRET_VALUE_MAX, &n);
	open_ok(&a, "big", s, n, big, CO_SECRET_VALUE_MAX);
	free(s);
	free(big);

	/* a fresh nonce each time: one value sealed twice gives two different sealings, and
	 * each opens */
	size_t n1, n2;
	unsigned char *s1 = seal_ok(NULL, "same", "same value", 10, &n1);
	unsigned char *s2 = seal_ok(NULL, "same", "same value", 10, &n2);
	assert_int_equal(n1, n2);
	assert_memory_not_equal(s1 + 1, s2 + 1, 24);
	assert_memory_not_equal(s1 + 25, s2 + 25, n1 - 25);
	open_ok(NULL, "same", s1, n1, "same value", 10);
	open_ok(NULL, "same", s2, n2, "same value", 10);
	free(s1);
	free(s2);
}

/* ---- what must not open --------------------------------------------------------------- */

static void test_wrong_place_fails(void **state)
{
	(void)state;
	set_key_byte(0x22);
	co_id a = id_of(WS_A), b = id_of(WS_B);
	const char *v = "the value";
	size_t n, ng;
	unsigned char *s = seal_ok(&a, "TOKEN", v, strlen(v), &n);
	unsigned char *g = seal_ok(NULL, "TOKEN", v, strlen(v), &ng);
	open_fails(&b, "TOKEN", s, n);    /* another workspace */
	open_fails(&a, "TOKEN2", s, n);   /* another name */
	open_fails(&a, "token", s, n);    /* names are exact */
	open_fails(&a, "TOKE", s, n);     /* a prefix */
	open_fails(NULL, "TOKEN", s, n);  /* a workspace's sealing read as global */
	open_fails(&a, "TOKEN", g, ng);   /* a global sealing read as a workspace's */
	open_ok(&a, "TOKEN", s, n, v, strlen(v));
	open_ok(NULL, "TOKEN", g, ng, v, strlen(v));
	free(s);
	free(g);
}

static void test_tampering_fails(void **state)
{
	(void)state;
	set_key_byte(0x33);
	co_id a = id_of(WS_A);
	const char *v = "tamper-me";
	size_t n;
	unsigned char *s = seal_ok(&a, "T", v, strlen(v), &n);
	unsigned char *t = malloc(n + 1);
	assert_non_null(t);
	/* every single flipped bit, version byte, nonce, ciphertext and tag alike */
	for (size_t i = 0; i < n; i++)
		for (int bit = 0; bit < 8; bit++) {
			memcpy(t, s, n);
			t[i] ^= (unsigned char)(1u << bit);
			open_fails(&a, "T", t, n);
		}
	/* every truncation, the empty one included */
	for (size_t len = 0; len < n; len++)
		open_fails(&a, "T", s, len);
	open_fails(&a, "T", NULL, 0);
	/* one byte more */
	memcpy(t, s, n);
	t[n] = 0;
	open_fails(&a, "T", t, n + 1);
	/* another version byte with the rest intact */
	memcpy(t, s, n);
	t[0] = 2;
	open_fails(&a, "T", t, n);
	open_ok(&a, "T", s, n, v, strlen(v));
	free(t);
	free(s);
}

static void test_wrong_key_fails(void **state)
{
	(void)state;
	set_key_byte(0x44);
	const char *v = "keyed";
	size_t n;
	unsigned char *s = seal_ok(NULL, "K", v, strlen(v), &n);
	set_key_byte(0x45);
	open_fails(NULL, "K", s, n);
	set_key_byte(0x44);
	open_ok(NULL, "K", s, n, v, strlen(v));
	free(s);
}

/* ---- JSON ----------------------------------------------------------------------------- */

static json_t *to_json(const co_secret *s, const char *value)
{
	co_buf b;
	co_buf_init(&b);
	co_secret_to_json(s, value, &b);
	assert_true(co_buf_ok(&b));
	json_error_t e;
	json_t *j = json_loads(b.data, 0, &e);
	if (!j)
		fail_msg("not JSON: %s (%s)", b.data, e.text);
	co_buf_free(&b);
	return j;
}

static void test_to_json(void **state)
{
	(void)state;
	co_secret s = {.global = true, .name = "API \"KEY\"", .created_at = 1000000,
		       .updated_at = 2500000};
	json_t *j = to_json(&s, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "name")), "API \"KEY\"");
	assert_string_equal(json_string_value(json_object_get(j, "scope")), "global");
	assert_string_equal(json_string_value(json_object_get(j, "created_at")),
			    "1970-01-01T00:00:01.000000Z");
	assert_string_equal(json_string_value(json_object_get(j, "updated_at")),
			    "1970-01-01T00:00:02.500000Z");
	assert_null(json_object_get(j, "value"));
	assert_int_equal(json_object_size(j), 4);
	json_decref(j);

	s.global = false;
	s.workspace_id = id_of(WS_A);
	j = to_json(&s, "v\xc3\xa9 \"q\" \\ \n");
	assert_string_equal(json_string_value(json_object_get(j, "scope")), "workspace");
	assert_string_equal(json_string_value(json_object_get(j, "value")), "v\xc3\xa9 \"q\" \\ \n");
	assert_int_equal(json_object_size(j), 5);
	json_decref(j);
	j = to_json(&s, "");
	assert_string_equal(json_string_value(json_object_get(j, "value")), "");
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_key_set), /* first: before any key is set */
		cmocka_unit_test(test_key_parse),
		cmocka_unit_test(test_key_fresh),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_wrong_place_fails),
		cmocka_unit_test(test_tampering_fails),
		cmocka_unit_test(test_wrong_key_fails),
		cmocka_unit_test(test_to_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
