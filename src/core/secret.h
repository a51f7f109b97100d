/*
 * secret.h — secrets (SPEC §10): global and per-workspace named values, sealed at rest
 * with libsodium AEAD. No HTTP, no SQL.
 *
 * DESIGN NOTES
 *  1. Sealing: XChaCha20-Poly1305-IETF (crypto_aead_xchacha20poly1305_ietf) under one
 *     process-wide 32-byte key (co_secret_set_key), a random 24-byte nonce per write.
 *     The stored form ("sealed") is: 1 version byte (1) ‖ nonce ‖ ciphertext+tag.
 *  2. Associated data binds the record to its place: "colony-secret-v1" ‖ 0 ‖ scope ‖ 0 ‖
 *     name, where scope is the workspace id or "global". A sealed value copied into
 *     another row (another name or workspace, or global) fails to open.
 *  3. Values are never logged, audited, or returned in lists; only the workspace's own
 *     token (or the admin) reads them, merged: a workspace secret overrides the global
 *     secret of the same name.
 *  4. Names follow the memory-key rule (co_validate_key); values are UTF-8 strings of at
 *     most CO_SECRET_VALUE_MAX bytes.
 */
#ifndef COLONY_CORE_SECRET_H
#define COLONY_CORE_SECRET_H

#include "buf.h"
#include "clock.h"
#include "id.h"

#include <stdbool.h>
#include <stddef.h>

#define CO_SECRET_KEY_LEN 32
#define CO_SECRET_VALUE_MAX 65536

typedef struct {
	bool global;         /* a /settings/secrets entry; else workspace_id's own */
	co_id workspace_id;  /* unset when global */
	char *name;
	unsigned char *sealed; /* note 1; NULL when a list was asked without values */
	size_t sealed_len;
	co_usec_t created_at, updated_at;
} co_secret;

typedef struct {
	co_secret *items;
	size_t n;
} co_secret_list;

typedef struct {
	bool global;       /* list the global secrets; else those of workspace_id */
	co_id workspace_id;
	bool merged;       /* with !global: the workspace's and the global ones, the workspace's
			    * winning on a name (each item's `global` says whose it is) */
	bool with_sealed;  /* fill sealed (to open and show values) */
	const char *after; /* names strictly greater (bytewise), or NULL */
	int limit;
} co_secret_filter;

void co_secret_clear(co_secret *s);
/* Fills *out (cleared first) with what a store's put answers for `in`: its scope and
 * name, no sealed value, the given times. CO_OK or CO_ENOMEM. */
int co_secret_put_answer(const co_secret *in, co_usec_t created_at, co_usec_t updated_at,
			 co_secret *out);
void co_secret_list_clear(co_secret_list *l);

/* {"name","scope":"global"|"workspace","created_at","updated_at"} and, when value is not
 * NULL, "value". */
void co_secret_to_json(const co_secret *s, const char *value, co_buf *b);

/* Sets the process-wide key (copied into locked memory). CO_OK or CO_EINTERNAL. */
int co_secret_set_key(const unsigned char key[CO_SECRET_KEY_LEN]);
/* Parses a key given as 64 hex digits or as base64 of 32 bytes. CO_OK or CO_EINVAL. */
int co_secret_key_parse(const char *text, unsigned char key[CO_SECRET_KEY_LEN]);
/* A fresh random key as 64 hex digits (65 bytes with the NUL), for a new key file. */
void co_secret_key_fresh_hex(char *hex);

/* Seals value[0..len) for (scope, name): scope is NULL for global. *sealed is malloc'd.
 * CO_OK, CO_EINTERNAL (no key set), CO_ENOMEM. */
int co_secret_seal(const co_id *scope, const char *name, const char *value, size_t len,
		   unsigned char **sealed, size_t *sealed_len);
/* Opens what co_secret_seal made for the same (scope, name). *value is malloc'd and
 * NUL-terminated. A wrong key, scope or name, or altered bytes: CO_EINVAL. */
int co_secret_open(const co_id *scope, const char *name, const unsigned char *sealed,
		   size_t sealed_len, char **value, size_t *value_len);

#endif
