/*
 * auth.h — tokens and the hierarchy rule (SPEC §10, §6): what a bearer token is, how it
 * is stored, and which workspaces it may reach. No HTTP, no SQL.
 *
 * DESIGN NOTES
 *  1. A workspace token is "col_" + 10 random base64url characters (the prefix, which
 *     the store indexes uniquely and lists) + "_" + 43 base64url characters (256 random
 *     bits). Only BLAKE2b-256 of the whole token is stored; the plaintext is shown once.
 *     A token is high-entropy, so a fast hash is right (no password stretching needed).
 *  2. Checking a presented token: parse out its prefix, load the row of that prefix,
 *     compare the stored hash with the presented token's hash by crypto_verify_32
 *     (constant time). The admin token is checked the same way against its hash.
 *  3. The hierarchy rule: a token of workspace T may reach workspace X when X is T,
 *     T's sibling (same parent; roots are never siblings — each root is its own org),
 *     an ancestor of T, or a descendant of T. Relations are decided on lineages:
 *     [X, parent(X), …, root] as the store returns them (store op ws_lineage).
 *  4. The admin token comes from COLONY_ADMIN_TOKEN or a 0600 file made at first start
 *     (co_keyfile_load_or_create); any string of 16..512 printable ASCII bytes.
 */
#ifndef COLONY_CORE_AUTH_H
#define COLONY_CORE_AUTH_H

#include "buf.h"
#include "clock.h"
#include "id.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CO_TOKEN_PREFIX_LEN 14 /* "col_" + 10 */
#define CO_TOKEN_LEN 58        /* prefix + "_" + 43 */
#define CO_TOKEN_HASH_LEN 32
#define CO_TOKEN_HASH_HEX (2 * CO_TOKEN_HASH_LEN)
#define CO_ADMIN_TOKEN_MIN 16
#define CO_ADMIN_TOKEN_MAX 512

/* A workspace token as stored and listed (never its plaintext). */
typedef struct {
	co_id id;
	co_id workspace_id;
	char prefix[CO_TOKEN_PREFIX_LEN + 1];
	char hash_hex[CO_TOKEN_HASH_HEX + 1]; /* lowercase hex of BLAKE2b-256; never listed */
	co_usec_t created_at;
	co_usec_t last_used_at; /* 0: never used */
	co_usec_t revoked_at;   /* 0: live */
} co_token;

typedef struct {
	co_token *items;
	size_t n;
} co_token_list;

void co_token_list_clear(co_token_list *l);

/* {"id","workspace_id","prefix","created_at","last_used_at"} (last_used_at null if never). */
void co_token_to_json(const co_token *t, co_buf *b);

/* The row a store inserts for a new token of workspace ws: in's prefix and hash, a new
 * id, created now, never used, not revoked. CO_OK, or co_id_new's error. */
int co_token_new_row(const co_id *ws, const co_token *in, co_token *row);

/* Makes a new token: plaintext (CO_TOKEN_LEN + 1 bytes), its prefix and its hash hex.
 * Returns CO_OK (libsodium must be initialised: co_auth_init). */
int co_token_mint(char *plaintext, char *prefix, char *hash_hex);

/* Is s shaped as a workspace token? If so copies its prefix (CO_TOKEN_PREFIX_LEN + 1). */
bool co_token_parse(const char *s, char *prefix);

/* BLAKE2b-256 of s as lowercase hex (CO_TOKEN_HASH_HEX + 1 bytes). */
void co_token_hash_hex(const char *s, char *hash_hex);

/* Constant-time equality of two hash hex strings (false if either is not 64 hex chars). */
bool co_token_hash_equal(const char *a_hex, const char *b_hex);

/* A fresh admin token for a new admin token file: "coladm_" + 43 base64url characters
 * (256 random bits); out has CO_ADMIN_TOKEN_FRESH_LEN + 1 bytes. */
#define CO_ADMIN_TOKEN_FRESH_LEN 50
void co_admin_token_fresh(char *out);

/* Is s acceptable as an admin token (16..512 printable ASCII bytes, no spaces)? */
bool co_admin_token_valid(const char *s);

/* sodium_init(); CO_OK or CO_EINTERNAL. Safe to call more than once, from any thread. */
int co_auth_init(void);

/* ---- the hierarchy rule (note 3) ----------------------------------------------------- */

typedef enum {
	CO_REL_NONE = 0,   /* unrelated (or unknown) */
	CO_REL_SELF,       /* X is T */
	CO_REL_DESCENDANT, /* X is below T */
	CO_REL_ANCESTOR,   /* X is above T */
	CO_REL_SIBLING,    /* X and T share a parent */
} co_ws_relation;

/* The relation of X to T from their lineages (each [self, parent, …, root], n ≥ 1). */
co_ws_relation co_ws_relate(const co_id *lin_x, size_t nx, const co_id *lin_t, size_t nt);

/* ---- key files (note 4; secrets key) ------------------------------------------------- */

/* Reads the file at path (trailing whitespace stripped) into out (cap bytes, NUL-ended).
 * If it does not exist, writes `fresh` to it first: to a temporary file of mode 0600,
 * fsync'd, then link()ed into place, so two processes starting at once agree on one
 * content and no reader ever sees a partial file. *created says whether this call made
 * it. The file must be a regular file (no symlink, no FIFO), owned by this user, with
 * one link and no access for group or others; else CO_EINVAL. The directory is fsync'd
 * after a new file is linked in. Errors: CO_EINVAL with a message naming the path. */
int co_keyfile_load_or_create(const char *path, const char *fresh, char *out, size_t cap,
			      bool *created);

#endif
