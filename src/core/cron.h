/*
 * cron.h — five-field cron expressions and their next fire time in an IANA zone.
 *
 * DESIGN NOTES
 *  1. Syntax: "minute hour day-of-month month day-of-week", fields separated by blanks.
 *     Each field is a comma list of `*`, `N`, `A-B`, each optionally `/STEP` (STEP ≥ 1);
 *     `N/STEP` means N to the field's maximum; STEP is 1–9999 (a step beyond the field
 *     selects its start only). Months JAN–DEC and days SUN–SAT by name, any case, also
 *     inside ranges (a range ending in SUN, as MON-SUN, ends at 7). Day-of-week 0–7,
 *     7 being Sunday. Macros: @yearly
 *     (@annually), @monthly, @weekly, @daily (@midnight), @hourly.
 *     Not supported, and rejected: seconds or year fields, L W # ?, wrap-around ranges
 *     (FRI-MON), @reboot.
 *  2. A field is "restricted" when its set is not every value of the field (so `*`,
 *     `*\/1` and `1-31` are not; `*\/2` is). When both day-of-month and day-of-week are
 *     restricted a day matches if either matches; otherwise both must (as croniter does).
 *  3. An expression that can never fire (`0 0 30 2 *`) is rejected at parse time.
 *  4. Time zones and DST (see tz.h): the matching wall-clock times are mapped to instants
 *     in the schedule's zone. A wall time that does not exist (clocks jumped forward over
 *     it) fires at the instant the gap ends; several such times coalesce into one fire.
 *     A wall time that occurs twice (clocks went back) fires once, at its first occurrence.
 *  5. Pure functions of their arguments: thread-safe, no allocation, no global state
 *     beyond the tz cache.
 */
#ifndef COLONY_CORE_CRON_H
#define COLONY_CORE_CRON_H

#include "clock.h"
#include "tz.h"

#include <stdbool.h>
#include <stdint.h>

#define CO_CRON_EXPR_MAX 255

typedef struct {
	uint64_t minutes; /* bit m: minute m (0–59) */
	uint32_t hours;   /* bit h: hour h (0–23) */
	uint32_t dom;     /* bit d: day of month d (1–31) */
	uint16_t months;  /* bit m: month m (1–12) */
	uint8_t dow;      /* bit d: weekday d (0 = Sunday … 6) */
	bool dom_restricted;
	bool dow_restricted;
} co_cron;

/* Parses `expr`. CO_OK, or CO_EINVAL with a message that names the field and says what is
 * wrong ("cron day-of-week: 8 is out of range 0-7"). */
int co_cron_parse(const char *expr, co_cron *out);

/* Does the wall-clock minute (civil date and time) match? dow: 0 = Sunday. */
bool co_cron_matches(const co_cron *c, int64_t year, unsigned month, unsigned day,
		     unsigned hour, unsigned minute, unsigned dow);

/* The first fire instant strictly after `after_us` (µs since the epoch, UTC), in zone z,
 * per note 4; whole minutes of wall-clock time. CO_OK with *next_us, or CO_ENOTFOUND if
 * none falls within the next 10 years (not possible for a parsed expression unless
 * after_us is near the end of the supported range). */
int co_cron_next(const co_cron *c, const co_tz *z, co_usec_t after_us, co_usec_t *next_us);

#endif
