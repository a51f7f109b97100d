/*
 * validate.h — input rules of SPEC §1, shared by every resource.
 *
 * DESIGN NOTES
 *  1. Each validator returns CO_OK or CO_EINVAL with a message naming the field, so the
 *     HTTP layer can answer 400 with that sentence as it is.
 *  2. Limits are compile-time defaults collected in co_limits; colonyd may change the
 *     body limits at start (--max-body, --max-import-body). Nothing changes them after
 *     the server starts.
 */
#ifndef COLONY_CORE_VALIDATE_H
#define COLONY_CORE_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CO_NAME_MAX 255      /* workspace, role, runtime names: bytes */
#define CO_KEY_MAX 256       /* memory keys: bytes */
#define CO_URL_MAX 2048      /* workspace url: bytes */
#define CO_JSON_DEPTH_MAX 64 /* nesting of any request body */
#define CO_LIST_DEFAULT 100  /* ?limit= default */
#define CO_LIST_MAX 1000     /* ?limit= maximum */
#define CO_TTL_MAX_SECONDS (100LL * 366 * 86400) /* 100 years: keeps µs math in range */

typedef struct {
	size_t max_body;        /* request body bytes; default 1 MiB */
	size_t max_import_body; /* an org template's body (POST /org/import); default 32 MiB */
} co_limits;

extern co_limits co_limits_current;

/* true if s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF). */
bool co_utf8_valid(const char *s, size_t n);

/* A name: 1..CO_NAME_MAX bytes of UTF-8 with no CR or LF. `field` names it in the error. */
int co_validate_name(const char *field, const char *s);

/* A memory key: 1..CO_KEY_MAX bytes of UTF-8, no control characters (C0, DEL, C1),
 * no '/'. */
int co_validate_key(const char *s);

/* A workspace url: http:// or https://, ≤ CO_URL_MAX bytes, no spaces or controls. */
int co_validate_url(const char *s);

/* Checks that the JSON text buf[0..n) nests arrays/objects at most max_depth deep.
 * It scans brackets outside strings only; it does not otherwise validate. */
bool co_json_depth_ok(const char *buf, size_t n, int max_depth);

/* An upper bound of the values in the JSON text buf[0..n): commas and opening brackets
 * outside strings, plus one. Cheap, and counted before any tree is built. */
size_t co_json_values_bound(const char *buf, size_t n);

/* Parses a decimal integer in [min, max] with no sign junk, spaces or trailing bytes. */
int co_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* "true"/"1" → true, "false"/"0" → false; anything else is CO_EINVAL. NULL → dflt. */
int co_parse_bool(const char *s, bool dflt, bool *out);

#endif
