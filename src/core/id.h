/*
 * id.h — UUIDv7 identifiers (RFC 9562 §5.7), made by the server.
 *
 * DESIGN NOTES
 *  1. Layout: 48-bit Unix milliseconds, version 7, 12 bits of sub-millisecond time
 *     (RFC 9562 §6.2 method 3), variant 10, 62 random bits from a per-thread generator
 *     seeded from getrandom(2) (no system call per id). Ids made by
 *     one process therefore sort by creation time, which gives lists a stable order.
 *  2. The text form is canonical lowercase 8-4-4-4-12. co_id_valid() accepts any UUID
 *     (either case) in that shape; it is what a path or JSON id is checked with.
 */
#ifndef COLONY_CORE_ID_H
#define COLONY_CORE_ID_H

#include <stdbool.h>

#define CO_ID_LEN 36

typedef struct {
	char s[CO_ID_LEN + 1];
} co_id;

/* Makes a new UUIDv7. Returns CO_OK, or CO_EINTERNAL if the kernel gives no randomness. */
int co_id_new(co_id *out);

/* true if `s` is a UUID in 8-4-4-4-12 hex form. */
bool co_id_valid(const char *s);

/* Copies a valid id into out, lowercased. Returns CO_OK or CO_EINVAL. */
int co_id_parse(const char *s, co_id *out);

#endif
