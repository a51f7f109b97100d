/*
 * audit.c — audit records, their hash chain, the detail of a request; see audit.h.
 *
 * DESIGN NOTES
 *  1. SHA-256 is libsodium's (crypto_hash_sha256), fed field by field with the streaming
 *     API, so a record is hashed without building its serialisation in memory. libsodium
 *     is initialised once per process (pthread_once; sodium_init is idempotent and
 *     thread-safe itself, the once only saves the call). If it fails, nothing is hashed:
 *     a new record or a detail is refused (an error), and co_audit_hash writes "" —
 *     which matches no stored hash, so verification reports the chain broken rather than
 *     valid.
 *  2. The serialisation (audit.h note 2) is unambiguous: each field is its decimal byte
 *     length, ':', its bytes, ';' — no field's bytes can be read as another's. seq and
 *     at are written in decimal ASCII; a NULL string hashes as the empty one.
 *  3. The current entry is a thread-local pointer: the HTTP layer sets it for the thread
 *     that runs a mutation's handler; the store reads it on its write path (audit.h
 *     note 1).
 *  4. A record's detail is JSON text that colony wrote itself; co_audit_record_to_json
 *     still checks it parses before writing it raw, so a row edited in the database to
 *     garbage cannot make GET /audit answer invalid JSON (it is then written as a string).
 */
#include "audit.h"
#include "err.h"

#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static _Thread_local const co_audit_entry *tl_entry;

void co_audit_set(const co_audit_entry *e)
{
	tl_entry = e;
}

const co_audit_entry *co_audit_get(void)
{
	return tl_entry;
}

/* ---- hashing ------------------------------------------------------------------------ */

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static bool sodium_ok;

static void sodium_start(void)
{
	sodium_ok = sodium_init() >= 0; /* 0: initialised now, 1: already was */
}

/* Is libsodium usable (note 1)? Initialises it on first call. Any thread. */
static bool sodium_ready(void)
{
	pthread_once(&sodium_once, sodium_start);
	return sodium_ok;
}

/* Feeds one field as "<len>:<bytes>;" (note 2). */
static void put_field(crypto_hash_sha256_state *h, const char *s, size_t n)
{
	char len[24];
	int k = snprintf(len, sizeof len, "%zu:", n);
	crypto_hash_sha256_update(h, (const unsigned char *)len, (unsigned long long)k);
	crypto_hash_sha256_update(h, (const unsigned char *)s, (unsigned long long)n);
	crypto_hash_sha256_update(h, (const unsigned char *)";", 1);
}

static void put_str(crypto_hash_sha256_state *h, const char *s)
{
	put_field(h, s ? s : "", s ? strlen(s) : 0);
}

static void put_i64(crypto_hash_sha256_state *h, int64_t v)
{
	char d[24];
	int k = snprintf(d, sizeof d, "%lld", (long long)v);
	put_field(h, d, (size_t)k);
}

void co_audit_hash(const co_audit_record *r, char out[CO_AUDIT_HASH_HEX + 1])
{
	out[0] = 0;
	if (!sodium_ready())
		return; /* "" matches no stored hash (note 1) */
	crypto_hash_sha256_state h;
	crypto_hash_sha256_init(&h);
	put_str(&h, r->prev_hash);
	put_i64(&h, r->seq);
	put_str(&h, r->id.s);
	put_i64(&h, r->at);
	put_str(&h, r->actor);
	put_str(&h, r->action);
	put_str(&h, r->target);
	put_str(&h, r->detail_json);
	unsigned char digest[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_final(&h, digest);
	sodium_bin2hex(out, CO_AUDIT_HASH_HEX + 1, digest, sizeof digest);
}

/* ---- records ------------------------------------------------------------------------ */

int co_audit_record_make(co_audit_record *r, const co_audit_entry *e, int64_t prev_seq,
			 const char *prev_hash, co_usec_t now)
{
	memset(r, 0, sizeof *r);
	if (!sodium_ready())
		return co_err_set(CO_EINTERNAL, "libsodium could not be initialised");
	if (strlen(prev_hash) != CO_AUDIT_HASH_HEX)
		return co_err_set(CO_EINTERNAL, "audit record %lld has a malformed hash",
				  (long long)prev_seq);
	int rc = co_id_new(&r->id);
	if (rc)
		return rc;
	r->seq = prev_seq + 1;
	r->at = now;
	r->actor = strdup(e->actor ? e->actor : "");
	r->action = strdup(e->action ? e->action : "");
	r->target = strdup(e->target ? e->target : "");
	r->detail_json = strdup(e->detail_json ? e->detail_json : "{}");
	if (!r->actor || !r->action || !r->target || !r->detail_json) {
		co_audit_record_clear(r);
		return co_err_set(CO_ENOMEM, "out of memory making an audit record");
	}
	memcpy(r->prev_hash, prev_hash, CO_AUDIT_HASH_HEX + 1);
	co_audit_hash(r, r->hash);
	return CO_OK;
}

static int broken(co_audit_verify *v, const co_audit_record *r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Fills v for record r failing with the reason fmt; CO_ECONFLICT. */
static int broken(co_audit_verify *v, const co_audit_record *r, const char *fmt, ...)
{
	v->valid = false;
	v->has_broken = true;
	v->broken_seq = r->seq;
	v->broken_id = r->id;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->reason, sizeof v->reason, fmt, ap);
	va_end(ap);
	return CO_ECONFLICT;
}

int co_audit_verify_step(const co_audit_record *prev, const co_audit_record *r,
			 co_audit_verify *v)
{
	int64_t want_seq = prev ? prev->seq + 1 : 1;
	if (r->seq != want_seq) {
		if (prev)
			return broken(v, r, "seq %lld follows seq %lld: records are missing",
				      (long long)r->seq, (long long)prev->seq);
		return broken(v, r, "the first record has seq %lld, not 1: records are missing",
			      (long long)r->seq);
	}
	const char *want_prev = prev ? prev->hash : CO_AUDIT_GENESIS;
	if (strcmp(r->prev_hash, want_prev)) {
		if (prev)
			return broken(v, r, "prev_hash is not the hash of seq %lld",
				      (long long)prev->seq);
		return broken(v, r, "prev_hash of the first record is not the genesis hash");
	}
	char h[CO_AUDIT_HASH_HEX + 1];
	co_audit_hash(r, h);
	if (strcmp(h, r->hash))
		return broken(v, r, "hash does not match the record's fields (edited)");
	return CO_OK;
}

/* {"method","path","request_sha256": hex or null}; with hex NULL also "body":"withheld". */
static char *detail_json(const char *method, const char *path, const char *hex)
{
	co_buf b;
	co_buf_init(&b);
	co_buf_puts(&b, "{\"method\":");
	co_buf_json_cstr(&b, method ? method : "");
	co_buf_puts(&b, ",\"path\":");
	co_buf_json_cstr(&b, path ? path : "");
	co_buf_puts(&b, ",\"request_sha256\":");
	co_buf_json_cstr(&b, hex);
	if (!hex)
		co_buf_puts(&b, ",\"body\":\"withheld: it carries a secret\"");
	co_buf_putc(&b, '}');
	if (!co_buf_ok(&b)) {
		co_buf_free(&b);
		return NULL;
	}
	return co_buf_take(&b, NULL);
}

char *co_audit_detail(const char *method, const char *path, const void *body, size_t body_len)
{
	if (!sodium_ready())
		return NULL;
	unsigned char digest[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(digest, body ? (const unsigned char *)body : (const unsigned char *)"",
			   body ? (unsigned long long)body_len : 0);
	char hex[CO_AUDIT_HASH_HEX + 1];
	sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
	return detail_json(method, path, hex);
}

char *co_audit_detail_withheld(const char *method, const char *path)
{
	return detail_json(method, path, NULL);
}

bool co_audit_is_own_revoke(const co_audit_entry *e)
{
	const char *last = e->target ? strrchr(e->target, '/') : NULL;
	return e->token_id && e->action && !strcmp(e->action, "token.revoke") && last &&
	       !strcasecmp(last + 1, e->token_id);
}

void co_audit_record_clear(co_audit_record *r)
{
	free(r->actor);
	free(r->action);
	free(r->target);
	free(r->detail_json);
	memset(r, 0, sizeof *r);
}

void co_audit_list_clear(co_audit_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		co_audit_record_clear(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

void co_audit_record_to_json(const co_audit_record *r, co_buf *b)
{
	co_buf_puts(b, "{\"seq\":");
	co_buf_i64(b, r->seq);
	co_buf_puts(b, ",\"id\":");
	co_buf_json_cstr(b, r->id.s);
	co_buf_json_key(b, "at", false);
	co_buf_json_time(b, r->at, false);
	co_buf_puts(b, ",\"actor\":");
	co_buf_json_cstr(b, r->actor);
	co_buf_puts(b, ",\"action\":");
	co_buf_json_cstr(b, r->action);
	co_buf_puts(b, ",\"target\":");
	co_buf_json_cstr(b, r->target);
	co_buf_puts(b, ",\"detail\":");
	json_t *d = r->detail_json ? json_loads(r->detail_json, JSON_DECODE_ANY, NULL) : NULL;
	if (d)
		co_buf_puts(b, r->detail_json); /* note 4 */
	else
		co_buf_json_cstr(b, r->detail_json);
	json_decref(d);
	co_buf_puts(b, ",\"prev_hash\":");
	co_buf_json_cstr(b, r->prev_hash);
	co_buf_puts(b, ",\"hash\":");
	co_buf_json_cstr(b, r->hash);
	co_buf_putc(b, '}');
}
