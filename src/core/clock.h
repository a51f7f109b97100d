/*
 * clock.h — time as int64 microseconds since the Unix epoch (UTC), and its RFC 3339 form.
 *
 * DESIGN NOTES
 *  1. Storage and arithmetic use co_usec_t only; text appears only at the JSON edge, always
 *     as "YYYY-MM-DDTHH:MM:SS.ffffffZ" (six fractional digits, UTC), so stored values sort
 *     correctly and round-trip exactly.
 *  2. co_clock_now_us() can be overridden for tests (co_clock_set_override); the override is
 *     process-wide and atomic.
 */
#ifndef COLONY_CORE_CLOCK_H
#define COLONY_CORE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

typedef int64_t co_usec_t;

#define CO_RFC3339_LEN 27 /* "2026-11-23T16:38:16.123456Z" without the NUL */

/* Wall-clock now in µs (or the override, if one is set). */
co_usec_t co_clock_now_us(void);

/* Sets (fn) or clears (NULL) a function asked for "now" before the real clock; when it
 * returns 0 the real clock answers. For tests that move time (colonyd --test-clock-file);
 * fn must be thread-safe. A fixed override (below) wins over it. */
void co_clock_set_source(co_usec_t (*fn)(void));

/* Monotonic µs, for measuring durations. */
co_usec_t co_clock_mono_us(void);

/* Sets (us != 0) or clears (us == 0) a fixed "now" for tests. */
void co_clock_set_override(co_usec_t us);

/* Writes the RFC 3339 form of `us` into out (at least CO_RFC3339_LEN + 1 bytes).
 * Returns CO_OK, or CO_EINVAL if the time is outside years 0001..9999. */
int co_rfc3339_format(co_usec_t us, char out[CO_RFC3339_LEN + 1]);

/* Parses RFC 3339 ("…Z" or "…±HH:MM"; any number of fractional digits, truncated to µs;
 * years 0001..9999, as co_rfc3339_format writes).
 * Returns CO_OK with *out set, or CO_EINVAL. */
int co_rfc3339_parse(const char *s, co_usec_t *out);

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1..12, d 1..31), and back. */
int64_t co_days_from_civil(int64_t y, unsigned m, unsigned d);
void co_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

#endif
