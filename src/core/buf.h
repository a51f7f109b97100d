/*
 * buf.h — a growable byte buffer, and the JSON text helpers built on it.
 *
 * DESIGN NOTES
 *  1. Hot responses (a memory GET, a list page) are written straight into a co_buf
 *     rather than built as a jansson tree and dumped: stored values are already compact
 *     JSON text, so they are copied in as they are.
 *  2. Appends never fail half-way silently: on allocation failure the buffer records
 *     `oom` and further appends are no-ops; the owner checks co_buf_ok() once at the end.
 *  3. The buffer owns `data`; co_buf_take() hands it to the caller (free() it).
 */
#ifndef COLONY_CORE_BUF_H
#define COLONY_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
	char *data; /* NUL-terminated whenever len > 0 and !oom */
	size_t len;
	size_t cap;
	bool oom;
} co_buf;

void co_buf_init(co_buf *b);
void co_buf_free(co_buf *b);
void co_buf_reset(co_buf *b);
bool co_buf_ok(const co_buf *b);
/* Returns the data (never NULL unless oom; "" for empty) and leaves b empty. */
char *co_buf_take(co_buf *b, size_t *len_out);

void co_buf_append(co_buf *b, const void *p, size_t n);
void co_buf_puts(co_buf *b, const char *s);
void co_buf_putc(co_buf *b, char c);
void co_buf_printf(co_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void co_buf_i64(co_buf *b, int64_t v);

/* Appends s (n bytes) as a quoted, escaped JSON string. Bytes that are not well-formed
 * UTF-8 become U+FFFD, so the output is always valid JSON (client input is echoed in
 * error messages and logs). */
void co_buf_json_str(co_buf *b, const char *s, size_t n);
/* Same, for a NUL-terminated string; NULL writes `null`. */
void co_buf_json_cstr(co_buf *b, const char *s);
/* Appends "key": (with a leading comma unless `first`). */
void co_buf_json_key(co_buf *b, const char *key, bool first);
/* Appends the RFC 3339 time as a JSON string, or null when us == 0 and nullable. */
void co_buf_json_time(co_buf *b, int64_t us, bool null_if_zero);

#endif
