/*
 * audit.h — the tamper-evident audit log (SPEC §7): records, their hash chain, and the
 * entry an API request hands to the store.
 *
 * DESIGN NOTES
 *  1. Every successful mutation made through the API appends one record, in the SAME
 *     transaction as the mutation: if the mutation rolls back, so does its record, and a
 *     committed mutation always has its record. The HTTP layer describes the request in a
 *     co_audit_entry and makes it current for the thread that handles it
 *     (co_audit_set); each backend's write path, after a write succeeded and before it
 *     commits, appends a record for the current entry (SQLite: sq_write carries the
 *     caller's entry to the writer thread). Writes with no current entry (the scheduler,
 *     webhook outcomes) are not audited: they are not API mutations.
 *  2. The chain. Records are numbered seq = 1, 2, 3 … with no gap. Each carries the hash
 *     of the record before (64 '0' for the first) and its own hash:
 *        hash = hex(SHA-256(prev_hash ‖ seq ‖ id ‖ at ‖ actor ‖ action ‖ target ‖ detail))
 *     where every field is written as its decimal byte length, ':', the bytes, ';'
 *     (co_audit_hash). Appends are serialised (SQLite: the write lock; PostgreSQL: a
 *     transaction-level advisory lock taken just before the append), so the chain is one
 *     line in commit order across every replica.
 *  3. Verification walks the records in seq order and stops at the first one whose seq is
 *     not the previous + 1, whose prev_hash is not the previous record's hash, or whose
 *     hash does not match its fields: editing or deleting any row but the newest is
 *     detected. (Deleting the newest rows leaves a valid shorter chain; an outside anchor
 *     of the head hash would catch that, and is not built.)
 *  4. The detail is JSON text: {"method", "path", "request_sha256"} — a digest of the
 *     request body, never the body itself (bodies may hold secrets).
 *  5. Revocation at once. A workspace token's request passes the HTTP gate before its
 *     write runs; a revoke (or a tombstone) may commit in between. So when the entry
 *     names a token_id, the backend checks — in the write's own transaction, where it
 *     appends the record, with the token's row locked against a concurrent revoke —
 *     that the token is still unrevoked and its workspace not removed; if not, the
 *     write fails with CO_EREVOKED and nothing of it persists. Hence no write by a
 *     token commits after that token's revoke (or its workspace's removal) committed.
 */
#ifndef COLONY_CORE_AUDIT_H
#define COLONY_CORE_AUDIT_H

#include "buf.h"
#include "clock.h"
#include "id.h"

#include <stdbool.h>
#include <stdint.h>

#define CO_AUDIT_HASH_HEX 64
#define CO_AUDIT_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

/* What an API request appends (note 1). Strings are borrowed for the request's duration. */
typedef struct {
	const char *actor;
	const char *action;      /* "workspace.create", "memory.put", … (the route's) */
	const char *target;      /* the request path */
	const char *detail_json; /* note 4 */
	/* The calling workspace token's id, or NULL (admin, --dev): its write is checked in
	 * its own transaction (note 5). */
	const char *token_id;
} co_audit_entry;

typedef struct {
	int64_t seq;
	co_id id;
	co_usec_t at;
	char *actor;
	char *action;
	char *target;
	char *detail_json;
	char prev_hash[CO_AUDIT_HASH_HEX + 1];
	char hash[CO_AUDIT_HASH_HEX + 1];
} co_audit_record;

typedef struct {
	co_audit_record *items;
	size_t n;
} co_audit_list;

/* GET /audit filters: every given one must match. Records in seq order, after `after`. */
typedef struct {
	const char *actor;         /* exact */
	const char *action;        /* exact */
	const char *target_prefix; /* the target starts with it */
	co_usec_t since, until;    /* at >= since, at < until (0: unbounded) */
	int64_t after;             /* seq > after */
	int limit;
} co_audit_filter;

/* A verification's outcome (note 3). */
typedef struct {
	bool valid;
	int64_t records;       /* records checked (all of them when valid) */
	bool has_broken;
	int64_t broken_seq;    /* the first bad record (or, for a gap, the seq after the gap) */
	co_id broken_id;
	char reason[160];
} co_audit_verify;

/* The current entry of this thread (note 1): set before a request's store calls and
 * cleared (NULL) after. */
void co_audit_set(const co_audit_entry *e);
const co_audit_entry *co_audit_get(void);

/* Computes r's hash from its fields and r->prev_hash (note 2) into out. */
void co_audit_hash(const co_audit_record *r, char out[CO_AUDIT_HASH_HEX + 1]);

/* Fills a new record for entry e following the record (prev_seq, prev_hash) — (0,
 * CO_AUDIT_GENESIS) for the first —: seq, a new id, at = now, copies of the strings,
 * prev_hash and hash. CO_OK or CO_ENOMEM. */
int co_audit_record_make(co_audit_record *r, const co_audit_entry *e, int64_t prev_seq,
			 const char *prev_hash, co_usec_t now);

/* Checks one record against the one before it (NULL for the first); CO_OK, or
 * CO_ECONFLICT with v filled (valid false, broken_*, reason). Backends' audit_verify walk
 * their rows with it, so every backend verifies by the same rule. */
int co_audit_verify_step(const co_audit_record *prev, const co_audit_record *r,
			 co_audit_verify *v);

/* The detail JSON of note 4 for a request; free() it. NULL on allocation failure. */
char *co_audit_detail(const char *method, const char *path, const void *body, size_t body_len);
/* The same for a request whose body carries a secret: no digest (a hash of a short
 * secret could be guessed), "request_sha256": null and "body": "withheld: …". */
char *co_audit_detail_withheld(const char *method, const char *path);

void co_audit_record_clear(co_audit_record *r);

/* Is e a token's revoke of itself (action "token.revoke", the target's last segment its
 * token_id)? The one write that note 5 does not check: it succeeded only because the
 * token was live under the write's lock, and its record is the revoke's own. */
bool co_audit_is_own_revoke(const co_audit_entry *e);
void co_audit_list_clear(co_audit_list *l);

/* {seq, id, at, actor, action, target, detail, prev_hash, hash} */
void co_audit_record_to_json(const co_audit_record *r, co_buf *b);

#endif
