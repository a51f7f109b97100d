/*
 * test_auth.c — unit tests of core/auth.{h,c}: token shape and hashing, the hierarchy
 * relation, and key files (the admin token's and the secrets key's), whose refusals are
 * what stops a planted or exposed key.
 */
#include "../../src/core/auth.h"
#include "../../src/core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/colony-auth-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int group_setup(void **state)
{
	(void)state;
	return co_auth_init();
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void test_token_shape_and_hash(void **state)
{
	(void)state;
	char tok[CO_TOKEN_LEN + 1], prefix[CO_TOKEN_PREFIX_LEN + 1], hash[CO_TOKEN_HASH_HEX + 1];
	char tok2[CO_TOKEN_LEN + 1], prefix2[CO_TOKEN_PREFIX_LEN + 1], hash2[CO_TOKEN_HASH_HEX + 1];
	assert_int_equal(co_token_mint(tok, prefix, hash), CO_OK);
	assert_int_equal(co_token_mint(tok2, prefix2, hash2), CO_OK);
	assert_int_equal(strlen(tok), CO_TOKEN_LEN);
	assert_string_not_equal(tok, tok2);
	assert_string_not_equal(prefix, prefix2);
	char parsed[CO_TOKEN_PREFIX_LEN + 1];
	assert_true(co_token_parse(tok, parsed));
	assert_string_equal(parsed, prefix);
	/* the stored hash is of the whole token, and no part of the token is in it */
	char again[CO_TOKEN_HASH_HEX + 1];
	co_token_hash_hex(tok, again);
	assert_string_equal(again, hash);
	assert_true(co_token_hash_equal(hash, again));
	assert_false(co_token_hash_equal(hash, hash2));
	assert_false(co_token_hash_equal(hash, "abc"));
	assert_null(strstr(hash, tok + CO_TOKEN_PREFIX_LEN + 1));
	/* a changed character anywhere makes another hash */
	tok[CO_TOKEN_LEN - 1] = tok[CO_TOKEN_LEN - 1] == 'A' ? 'B' : 'A';
	co_token_hash_hex(tok, again);
	assert_false(co_token_hash_equal(hash, again));
	/* shapes that are not tokens */
	assert_false(co_token_parse("", parsed));
	assert_false(co_token_parse("col_short", parsed));
	char bad[CO_TOKEN_LEN + 1];
	memcpy(bad, tok2, sizeof bad);
	bad[20] = '!';
	assert_false(co_token_parse(bad, parsed));
	memcpy(bad, tok2, sizeof bad);
	bad[CO_TOKEN_PREFIX_LEN] = 'x';
	assert_false(co_token_parse(bad, parsed));
	assert_true(co_admin_token_valid("0123456789abcdef"));
	assert_false(co_admin_token_valid("0123456789abcde"));   /* 15 */
	assert_false(co_admin_token_valid("0123456789 abcdef")); /* space */
	char fresh[CO_ADMIN_TOKEN_FRESH_LEN + 1];
	co_admin_token_fresh(fresh);
	assert_true(co_admin_token_valid(fresh));
	assert_int_equal(strlen(fresh), CO_ADMIN_TOKEN_FRESH_LEN);
}

static co_id id_of(char c)
{
	co_id id;
	snprintf(id.s, sizeof id.s, "%c0000000-0000-7000-8000-000000000000", c);
	return id;
}

static void test_relations(void **state)
{
	(void)state;
	/* R → A, B; A → A1; Z another root */
	co_id R = id_of('1'), A = id_of('2'), B = id_of('3'), A1 = id_of('4'), Z = id_of('5');
	co_id lin_R[] = {R}, lin_A[] = {A, R}, lin_B[] = {B, R}, lin_A1[] = {A1, A, R}, lin_Z[] = {Z};
	assert_int_equal(co_ws_relate(lin_A, 2, lin_A, 2), CO_REL_SELF);
	assert_int_equal(co_ws_relate(lin_B, 2, lin_A, 2), CO_REL_SIBLING);
	assert_int_equal(co_ws_relate(lin_R, 1, lin_A, 2), CO_REL_ANCESTOR);
	assert_int_equal(co_ws_relate(lin_A1, 3, lin_A, 2), CO_REL_DESCENDANT);
	assert_int_equal(co_ws_relate(lin_A1, 3, lin_B, 2), CO_REL_NONE);  /* a nephew */
	assert_int_equal(co_ws_relate(lin_Z, 1, lin_R, 1), CO_REL_NONE);   /* roots: no siblings */
	assert_int_equal(co_ws_relate(lin_A1, 3, lin_R, 1), CO_REL_DESCENDANT);
	assert_int_equal(co_ws_relate(lin_A, 0, lin_A, 2), CO_REL_NONE);
}

static void test_keyfile_made_once_0600(void **state)
{
	(void)state;
	char p[128], out[128];
	path_of(p, sizeof p, "admin-token");
	bool created;
	assert_int_equal(co_keyfile_load_or_create(p, "first-token-0123456789", out, sizeof out,
						   &created), CO_OK);
	assert_true(created);
	assert_string_equal(out, "first-token-0123456789");
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* a second start reads it, and does not replace it */
	assert_int_equal(co_keyfile_load_or_create(p, "second-token-0123456789", out, sizeof out,
						   &created), CO_OK);
	assert_false(created);
	assert_string_equal(out, "first-token-0123456789");
}

static void test_keyfile_refusals(void **state)
{
	(void)state;
	char p[128], out[128], other[128];
	bool created;
	/* readable by others */
	path_of(p, sizeof p, "open");
	write_file(p, "token-readable-by-all", 0644);
	assert_int_equal(co_keyfile_load_or_create(p, "x", out, sizeof out, &created), CO_EINVAL);
	assert_non_null(strstr(co_err_msg(), "group or others"));
	/* a symlink to a good file */
	path_of(other, sizeof other, "good");
	write_file(other, "good-token-0123456789", 0600);
	path_of(p, sizeof p, "link");
	assert_int_equal(symlink(other, p), 0);
	assert_int_equal(co_keyfile_load_or_create(p, "x", out, sizeof out, &created), CO_EINVAL);
	/* a hard link to it */
	path_of(p, sizeof p, "hard");
	assert_int_equal(link(other, p), 0);
	assert_int_equal(co_keyfile_load_or_create(p, "x", out, sizeof out, &created), CO_EINVAL);
	assert_non_null(strstr(co_err_msg(), "link"));
	/* a FIFO does not hang the start */
	path_of(p, sizeof p, "fifo");
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(co_keyfile_load_or_create(p, "x", out, sizeof out, &created), CO_EINVAL);
	/* a directory */
	path_of(p, sizeof p, "adir");
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(co_keyfile_load_or_create(p, "x", out, sizeof out, &created), CO_EINVAL);
}

static void test_keyfile_length_edges(void **state)
{
	(void)state;
	char p[128], out[18];
	bool created;
	/* exactly cap - 1 bytes, the last a newline: fits (the newline is stripped; the
	 * admin token file holds CO_ADMIN_TOKEN_MAX characters and a newline this way) */
	path_of(p, sizeof p, "fits");
	write_file(p, "0123456789abcdef\n", 0600);
	assert_int_equal(co_keyfile_load_or_create(p, "x", out, sizeof out, &created), CO_OK);
	assert_string_equal(out, "0123456789abcdef");
	/* one more byte of content: too long */
	path_of(p, sizeof p, "long");
	write_file(p, "0123456789abcdefgh", 0600);
	assert_int_equal(co_keyfile_load_or_create(p, "x", out, sizeof out, &created), CO_EINVAL);
	assert_non_null(strstr(co_err_msg(), "too long"));
}

static void test_keyfile_stale_temp_does_not_block(void **state)
{
	(void)state;
	char p[128], stale[160], out[128];
	bool created;
	path_of(p, sizeof p, "key");
	/* what a crash between create and link could leave, under any name beside it */
	snprintf(stale, sizeof stale, "%s.tmp.%ld", p, (long)getpid());
	write_file(stale, "half", 0600);
	assert_int_equal(co_keyfile_load_or_create(p, "fresh-key-0123456789", out, sizeof out,
						   &created), CO_OK);
	assert_true(created);
	assert_string_equal(out, "fresh-key-0123456789");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_shape_and_hash),
		cmocka_unit_test(test_relations),
		cmocka_unit_test_setup_teardown(test_keyfile_made_once_0600, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyfile_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyfile_length_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyfile_stale_temp_does_not_block, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
