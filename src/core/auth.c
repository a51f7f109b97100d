/* auth.c — tokens, the hierarchy rule and key files; see auth.h. */
#include "auth.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int co_auth_init(void)
{
	return sodium_init() < 0 ? co_err_set(CO_EINTERNAL, "libsodium cannot start") : CO_OK;
}

void co_token_list_clear(co_token_list *l)
{
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

void co_token_to_json(const co_token *t, co_buf *b)
{
	co_buf_puts(b, "{\"id\":");
	co_buf_json_cstr(b, t->id.s);
	co_buf_puts(b, ",\"workspace_id\":");
	co_buf_json_cstr(b, t->workspace_id.s);
	co_buf_puts(b, ",\"prefix\":");
	co_buf_json_cstr(b, t->prefix);
	co_buf_puts(b, ",\"created_at\":");
	co_buf_json_time(b, t->created_at, false);
	co_buf_puts(b, ",\"last_used_at\":");
	co_buf_json_time(b, t->last_used_at, true);
	co_buf_putc(b, '}');
}

int co_token_new_row(const co_id *ws, const co_token *in, co_token *row)
{
	*row = *in; /* its prefix and hash */
	int rc = co_id_new(&row->id);
	if (rc)
		return rc;
	row->workspace_id = *ws;
	row->created_at = co_clock_now_us();
	row->last_used_at = row->revoked_at = 0;
	return CO_OK;
}

static void hash_hex(const void *data, size_t n, char *hex)
{
	unsigned char h[CO_TOKEN_HASH_LEN];
	crypto_generichash(h, sizeof h, data, n, NULL, 0);
	sodium_bin2hex(hex, CO_TOKEN_HASH_HEX + 1, h, sizeof h);
}

void co_token_hash_hex(const char *s, char *hex) { hash_hex(s, strlen(s), hex); }

int co_token_mint(char *plaintext, char *prefix, char *hex)
{
	unsigned char pre[8], secret[32];
	char pre64[sodium_base64_ENCODED_LEN(8, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	char sec64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	randombytes_buf(pre, sizeof pre);
	randombytes_buf(secret, sizeof secret);
	sodium_bin2base64(pre64, sizeof pre64, pre, sizeof pre,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_bin2base64(sec64, sizeof sec64, secret, sizeof secret,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	snprintf(prefix, CO_TOKEN_PREFIX_LEN + 1, "col_%.10s", pre64);
	snprintf(plaintext, CO_TOKEN_LEN + 1, "%s_%.43s", prefix, sec64);
	sodium_memzero(secret, sizeof secret);
	sodium_memzero(sec64, sizeof sec64);
	co_token_hash_hex(plaintext, hex);
	return CO_OK;
}

static bool b64url(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

bool co_token_parse(const char *s, char *prefix)
{
	if (strlen(s) != CO_TOKEN_LEN || strncmp(s, "col_", 4) != 0 ||
	    s[CO_TOKEN_PREFIX_LEN] != '_')
		return false;
	for (size_t i = 4; i < CO_TOKEN_LEN; i++)
		if (i != CO_TOKEN_PREFIX_LEN && !b64url(s[i]))
			return false;
	memcpy(prefix, s, CO_TOKEN_PREFIX_LEN);
	prefix[CO_TOKEN_PREFIX_LEN] = 0;
	return true;
}

bool co_token_hash_equal(const char *a, const char *b)
{
	unsigned char ha[CO_TOKEN_HASH_LEN], hb[CO_TOKEN_HASH_LEN];
	size_t na = 0, nb = 0;
	if (strlen(a) != CO_TOKEN_HASH_HEX || strlen(b) != CO_TOKEN_HASH_HEX ||
	    sodium_hex2bin(ha, sizeof ha, a, CO_TOKEN_HASH_HEX, NULL, &na, NULL) != 0 ||
	    sodium_hex2bin(hb, sizeof hb, b, CO_TOKEN_HASH_HEX, NULL, &nb, NULL) != 0 ||
	    na != sizeof ha || nb != sizeof hb)
		return false;
	return crypto_verify_32(ha, hb) == 0;
}

void co_admin_token_fresh(char *out)
{
	unsigned char secret[32];
	char sec64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	randombytes_buf(secret, sizeof secret);
	sodium_bin2base64(sec64, sizeof sec64, secret, sizeof secret,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	snprintf(out, CO_ADMIN_TOKEN_FRESH_LEN + 1, "coladm_%.43s", sec64);
	sodium_memzero(secret, sizeof secret);
	sodium_memzero(sec64, sizeof sec64);
}

bool co_admin_token_valid(const char *s)
{
	size_t n = strlen(s);
	if (n < CO_ADMIN_TOKEN_MIN || n > CO_ADMIN_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	return true;
}

static bool id_eq(const co_id *a, const co_id *b) { return strcmp(a->s, b->s) == 0; }

co_ws_relation co_ws_relate(const co_id *lx, size_t nx, const co_id *lt, size_t nt)
{
	if (!nx || !nt)
		return CO_REL_NONE;
	if (id_eq(&lx[0], &lt[0]))
		return CO_REL_SELF;
	for (size_t i = 1; i < nx; i++)
		if (id_eq(&lx[i], &lt[0]))
			return CO_REL_DESCENDANT;
	for (size_t i = 1; i < nt; i++)
		if (id_eq(&lt[i], &lx[0]))
			return CO_REL_ANCESTOR;
	if (nx > 1 && nt > 1 && id_eq(&lx[1], &lt[1]))
		return CO_REL_SIBLING;
	return CO_REL_NONE;
}

/* ---- key files --------------------------------------------------------------------- */

/* Reads a key file that must be a regular file of ours alone: owned by this user, one
 * link (not a hard link to some other file), no access for group or others. Opened
 * without following a symlink and without blocking (a FIFO there must not hang the
 * start). CO_ENOTFOUND if absent. */
static int read_keyfile(const char *path, char *out, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? CO_ENOTFOUND
				       : co_err_set(CO_EINVAL, "%s: %s", path, strerror(errno));
	struct stat st;
	const char *bad = NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		bad = "is not a regular file";
	else if (st.st_uid != geteuid())
		bad = "is not owned by the user colonyd runs as";
	else if (st.st_nlink != 1)
		bad = "has more than one link";
	else if (st.st_mode & (S_IRWXG | S_IRWXO))
		bad = "is readable by group or others: chmod 600 it";
	if (bad) {
		close(fd);
		return co_err_set(CO_EINVAL, "%s %s", path, bad);
	}
	size_t len = 0;
	for (;;) {
		char extra;
		bool full = len + 1 >= cap;
		ssize_t n = full ? read(fd, &extra, 1) : read(fd, out + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return co_err_set(CO_EINVAL, "%s: %s", path, strerror(errno));
		}
		if (n == 0)
			break;
		if (full) {
			close(fd);
			return co_err_set(CO_EINVAL, "%s is too long", path);
		}
		len += (size_t)n;
	}
	close(fd);
	while (len && (out[len - 1] == '\n' || out[len - 1] == '\r' || out[len - 1] == ' '))
		len--;
	out[len] = 0;
	return CO_OK;
}

/* fsync of the directory holding path, so a new name in it survives a crash. */
static void sync_dir_of(const char *path)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = 0;
	else if (slash)
		*slash = 0;
	else
		snprintf(dir, sizeof dir, ".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

int co_keyfile_load_or_create(const char *path, const char *fresh, char *out, size_t cap,
			      bool *created)
{
	*created = false;
	int rc = read_keyfile(path, out, cap);
	if (rc != CO_ENOTFOUND)
		return rc;
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= sizeof tmp)
		return co_err_set(CO_EINVAL, "key file path is too long");
	int fd = mkostemp(tmp, O_CLOEXEC); /* a fresh name, mode 0600 */
	if (fd < 0)
		return co_err_set(CO_EINVAL, "cannot create a file beside %s: %s", path,
				  strerror(errno));
	size_t len = strlen(fresh);
	bool ok = fchmod(fd, 0600) == 0 && write(fd, fresh, len) == (ssize_t)len &&
		  write(fd, "\n", 1) == 1 && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (!ok) {
		unlink(tmp);
		return co_err_set(CO_EINVAL, "cannot write %s", tmp);
	}
	/* link() fails with EEXIST if another process won: then its file is the one. */
	int lrc = link(tmp, path);
	int lerr = errno;
	unlink(tmp);
	if (lrc != 0 && lerr != EEXIST)
		return co_err_set(CO_EINVAL, "cannot create %s: %s", path, strerror(lerr));
	*created = lrc == 0;
	if (*created)
		sync_dir_of(path);
	return read_keyfile(path, out, cap);
}
