/*
 * secret.c — sealing secrets at rest (secret.h notes 1, 2) and their JSON form.
 *
 * DESIGN NOTES
 *  1. The sealed form is VERSION ‖ nonce (24) ‖ ciphertext ‖ tag (16). The version byte
 *     is checked before anything is decrypted, so a later format can be told apart; it
 *     is not part of the associated data because a changed version byte is refused
 *     outright.
 *  2. The associated data is built per call: "colony-secret-v1" 0 scope 0 name, scope
 *     being the workspace id or "global". Both separators are NUL, and neither a
 *     canonical id nor "global" contains one, so no two (scope, name) pairs give the same
 *     bytes.
 *  3. A failure to open says only that the value does not open; it never says why in
 *     more detail (a padding-oracle style hint is worthless against an AEAD, but a
 *     message that quoted bytes could leak them), and never quotes the value.
 *  4. The key lives in sodium_malloc'd memory (guard pages, mlock where allowed) and is
 *     set once at start, before any thread seals or opens.
 */
#include "secret.h"
#include "err.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SEAL_VERSION 1
#define AD_PREFIX "colony-secret-v1"
#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
#define OVERHEAD (1 + NONCE_LEN + TAG_LEN)

_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == CO_SECRET_KEY_LEN,
	       "the secrets key is an XChaCha20-Poly1305 key");

/* The process-wide key (note 4); NULL until co_secret_set_key. */
static unsigned char *secret_key;

void co_secret_clear(co_secret *s)
{
	free(s->name);
	free(s->sealed);
	s->name = NULL;
	s->sealed = NULL;
	s->sealed_len = 0;
}

int co_secret_put_answer(const co_secret *in, co_usec_t created_at, co_usec_t updated_at,
			 co_secret *out)
{
	co_secret_clear(out);
	out->global = in->global;
	out->workspace_id = in->global ? (co_id){{0}} : in->workspace_id;
	out->name = strdup(in->name);
	out->created_at = created_at;
	out->updated_at = updated_at;
	return out->name ? CO_OK : co_err_set(CO_ENOMEM, "out of memory");
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
	co_buf_puts(b, "{\"name\":");
	co_buf_json_cstr(b, s->name);
	co_buf_puts(b, s->global ? ",\"scope\":\"global\"" : ",\"scope\":\"workspace\"");
	if (value) {
		co_buf_puts(b, ",\"value\":");
		co_buf_json_str(b, value, strlen(value));
	}
	co_buf_puts(b, ",\"created_at\":");
	co_buf_json_time(b, s->created_at, false);
	co_buf_puts(b, ",\"updated_at\":");
	co_buf_json_time(b, s->updated_at, false);
	co_buf_putc(b, '}');
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

/* The associated data of note 2 for (scope, name), malloc'd; NULL when out of memory. */
static unsigned char *make_ad(const co_id *scope, const char *name, size_t *len)
{
	const char *sc = scope ? scope->s : "global";
	size_t ns = strlen(sc), nn = strlen(name), np = sizeof AD_PREFIX; /* with its NUL */
	*len = np + ns + 1 + nn;
	unsigned char *ad = malloc(*len);
	if (!ad)
		return NULL;
	memcpy(ad, AD_PREFIX, np);
	memcpy(ad + np, sc, ns);
	ad[np + ns] = 0;
	memcpy(ad + np + ns + 1, name, nn);
	return ad;
}

int co_secret_seal(const co_id *scope, const char *name, const char *value, size_t len,
		   unsigned char **sealed, size_t *sealed_len)
{
	*sealed = NULL;
	*sealed_len = 0;
	if (!secret_key)
		return co_err_set(CO_EINTERNAL, "no secrets key is set");
	if (len > SIZE_MAX - OVERHEAD ||
	    len > crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX)
		return co_err_set(CO_EINVAL, "the secret is too large to seal");
	size_t adlen;
	unsigned char *ad = make_ad(scope, name, &adlen);
	unsigned char *out = malloc(len + OVERHEAD);
	if (!ad || !out) {
		free(ad);
		free(out);
		return co_err_set(CO_ENOMEM, "out of memory sealing a secret");
	}
	out[0] = SEAL_VERSION;
	randombytes_buf(out + 1, NONCE_LEN);
	unsigned long long clen = 0;
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + 1 + NONCE_LEN, &clen,
						   (const unsigned char *)value, len, ad, adlen,
						   NULL, out + 1, secret_key);
	free(ad);
	*sealed = out;
	*sealed_len = 1 + NONCE_LEN + (size_t)clen;
	return CO_OK;
}

int co_secret_open(const co_id *scope, const char *name, const unsigned char *sealed,
		   size_t sealed_len, char **value, size_t *value_len)
{
	*value = NULL;
	*value_len = 0;
	if (!secret_key)
		return co_err_set(CO_EINTERNAL, "no secrets key is set");
	if (!sealed || sealed_len < OVERHEAD || sealed[0] != SEAL_VERSION)
		return co_err_set(CO_EINVAL, "the sealed value is malformed");
	size_t mlen_max = sealed_len - OVERHEAD;
	size_t adlen;
	unsigned char *ad = make_ad(scope, name, &adlen);
	char *out = malloc(mlen_max + 1);
	if (!ad || !out) {
		free(ad);
		free(out);
		return co_err_set(CO_ENOMEM, "out of memory opening a secret");
	}
	unsigned long long mlen = 0;
	int bad = crypto_aead_xchacha20poly1305_ietf_decrypt(
		(unsigned char *)out, &mlen, NULL, sealed + 1 + NONCE_LEN, sealed_len - 1 - NONCE_LEN,
		ad, adlen, sealed + 1, secret_key);
	free(ad);
	if (bad) {
		free(out);
		return co_err_set(CO_EINVAL, "the sealed value does not open here (another key, "
				  "another place, or altered)");
	}
	out[mlen] = 0;
	*value = out;
	*value_len = (size_t)mlen;
	return CO_OK;
}
