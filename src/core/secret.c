/* secret.c — sealing secrets; see secret.h. PLACEHOLDER: being written. */
#include "secret.h"
#include "err.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* The process-wide key (note 1), in memory that is never swapped out when the system
 * allows it; NULL until co_secret_set_key. */
static unsigned char *secret_key;

void co_secret_clear(co_secret *s)
{
	free(s->name);
	free(s->sealed);
	s->name = NULL;
	s->sealed = NULL;
	s->sealed_len = 0;
}

void co_secret_list_clear(co_secret_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		co_secret_clear(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

void co_secret_to_json(const co_secret *s, const char *value, co_buf *b)
{
	(void)s; (void)value; (void)b;
}

int co_secret_set_key(const unsigned char key[CO_SECRET_KEY_LEN])
{
	if (sodium_init() < 0)
		return co_err_set(CO_EINTERNAL, "libsodium cannot start");
	if (!secret_key && !(secret_key = sodium_malloc(CO_SECRET_KEY_LEN)))
		return co_err_set(CO_EINTERNAL, "cannot allocate the secrets key");
	memcpy(secret_key, key, CO_SECRET_KEY_LEN);
	return CO_OK;
}

int co_secret_key_parse(const char *text, unsigned char key[CO_SECRET_KEY_LEN])
{
	size_t n = strlen(text), got = 0;
	if (n == 2 * CO_SECRET_KEY_LEN &&
	    sodium_hex2bin(key, CO_SECRET_KEY_LEN, text, n, NULL, &got, NULL) == 0 &&
	    got == CO_SECRET_KEY_LEN)
		return CO_OK;
	unsigned char buf[CO_SECRET_KEY_LEN + 3];
	const int variants[] = {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_URLSAFE,
				sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
				sodium_base64_VARIANT_URLSAFE_NO_PADDING};
	for (size_t i = 0; i < sizeof variants / sizeof *variants; i++) {
		if (sodium_base642bin(buf, sizeof buf, text, n, NULL, &got, NULL, variants[i]) == 0 &&
		    got == CO_SECRET_KEY_LEN) {
			memcpy(key, buf, CO_SECRET_KEY_LEN);
			sodium_memzero(buf, sizeof buf);
			return CO_OK;
		}
	}
	sodium_memzero(buf, sizeof buf);
	return co_err_set(CO_EINVAL, "a secrets key is 64 hex digits or the base64 of 32 bytes");
}

void co_secret_key_fresh_hex(char *hex)
{
	unsigned char k[CO_SECRET_KEY_LEN];
	randombytes_buf(k, sizeof k);
	sodium_bin2hex(hex, 2 * CO_SECRET_KEY_LEN + 1, k, sizeof k);
	sodium_memzero(k, sizeof k);
}

int co_secret_seal(const co_id *scope, const char *name, const char *value, size_t len,
		   unsigned char **sealed, size_t *sealed_len)
{
	(void)scope; (void)name; (void)value; (void)len; (void)sealed; (void)sealed_len;
	return co_err_set(CO_EINTERNAL, "not implemented");
}

int co_secret_open(const co_id *scope, const char *name, const unsigned char *sealed,
		   size_t sealed_len, char **value, size_t *value_len)
{
	(void)scope; (void)name; (void)sealed; (void)sealed_len; (void)value; (void)value_len;
	return co_err_set(CO_EINTERNAL, "not implemented");
}
