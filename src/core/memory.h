/*
 * memory.h — versioned key/value memory of a workspace (SPEC §3): types and JSON shapes.
 *
 * DESIGN NOTES
 *  1. A value is any JSON value, kept as compact JSON text (value_json) so it is written
 *     to and read from storage, and into responses, without re-parsing.
 *  2. Versions: 1 on insert, +1 on every write. A write names a precondition:
 *       CO_MEM_ANY   — last-write-wins upsert;
 *       0            — create only if absent (absent includes expired);
 *       V ≥ 1        — only if the live entry's version is V.
 *  3. An entry whose expires_at ≤ now is absent for every purpose; a write to it starts
 *     again at version 1. A write without ttl clears any TTL.
 */
#ifndef COLONY_CORE_MEMORY_H
#define COLONY_CORE_MEMORY_H

#include "buf.h"
#include "clock.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define CO_MEM_ANY (-1) /* no precondition */
/* Bytes of a value as compact JSON: small enough that any stored value can be written back
 * through POST …/memory under the default 1 MiB body limit (an org import could otherwise
 * seed a value no read-modify-write could ever update). */
#define CO_MEM_VALUE_MAX 1000000

typedef struct {
	char *key;
	char *value_json; /* compact JSON text */
	int64_t version;
	co_usec_t expires_at; /* 0: never */
	co_usec_t updated_at;
} co_mem_entry;

typedef struct {
	co_mem_entry *items;
	size_t n;
} co_mem_list;

/* A write request. The strings are borrowed from the caller for the call's duration. */
typedef struct {
	const char *key;
	const char *value_json;
	int64_t if_match_version; /* CO_MEM_ANY, 0 (create only) or ≥ 1 */
	int64_t ttl_seconds;      /* 0: no TTL */
} co_mem_put;

/* What a conditional write or delete found when it failed (CO_ECONFLICT). */
typedef struct {
	int64_t current_version; /* 0 when the key is absent (answered as null) */
} co_mem_conflict;

typedef struct {
	const char *prefix; /* NULL or "" for all */
	const char *after;  /* NULL: from the start; else keys strictly greater */
	int limit;
} co_mem_filter;

void co_mem_entry_clear(co_mem_entry *e);
void co_mem_list_clear(co_mem_list *l);

/* Parses a POST body {key, value, ttl_seconds?, if_match_version?}. On success *put
 * borrows key from `body` and *value_out is the compact JSON of value (free() it). */
int co_mem_parse_put(json_t *body, co_mem_put *put, char **value_out);

/* The smallest valid UTF-8 string greater than every string that starts with `prefix`
 * (bytewise): the prefix with its last code point incremented (out needs strlen + 5
 * bytes). Returns false when there is none (empty prefix, or all U+10FFFF). */
bool co_mem_prefix_upper(const char *prefix, char *out);

/* Sets the message for a failed precondition (expected 0: create-only; current 0: the key
 * is absent) and returns CO_ECONFLICT. */
int co_mem_version_conflict(int64_t expected, int64_t current);

/* Appends {key, value, version, expires_at?, updated_at}. */
void co_mem_to_json(const co_mem_entry *e, co_buf *b);

#endif
