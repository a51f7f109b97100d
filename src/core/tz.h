/*
 * tz.h — IANA time zones, read from the system's compiled tzdata (TZif files), without
 * touching the process's TZ or libc's localtime: safe from any thread.
 *
 * DESIGN NOTES
 *  1. A zone is loaded once from $TZDIR (default /usr/share/zoneinfo) by name, parsed
 *     (TZif v2+ 64-bit data; the POSIX TZ footer rule is expanded into explicit
 *     transitions up to year 2200), and kept in a process-wide cache guarded by a mutex.
 *     A returned zone is immutable and lives until co_tz_cache_free(): callers never free it.
 *  2. "UTC" always exists, even without tzdata installed.
 *  3. Names are validated before any file is opened: 1–255 bytes of [A-Za-z0-9_+-./],
 *     no leading '/', no "." or ".." component. Anything else, or a file that is not a
 *     TZif zone, is CO_EINVAL with a message naming the zone.
 *  4. Local wall-clock times are "local seconds": seconds since 1970-01-01T00:00 of the
 *     wall clock, as if it were UTC (so civil-date arithmetic applies unchanged).
 */
#ifndef COLONY_CORE_TZ_H
#define COLONY_CORE_TZ_H

#include <stdint.h>

typedef struct co_tz co_tz;

/* The zone named `name` (cached). NULL with co_err_set(CO_EINVAL, "unknown time zone
 * \"…\"") if the name is invalid or no such zone exists. */
const co_tz *co_tz_get(const char *name);

/* The zone's IANA name, as given to co_tz_get. */
const char *co_tz_name(const co_tz *z);

/* Offset from UTC (seconds east) in effect at UTC second `utc`. */
int32_t co_tz_offset_at(const co_tz *z, int64_t utc);

enum {
	CO_TZ_LOCAL_UNIQUE = 0,    /* the wall time occurs exactly once */
	CO_TZ_LOCAL_AMBIGUOUS = 1, /* it occurs twice (clocks went back): the first is returned */
	CO_TZ_LOCAL_GAP = 2,       /* it never occurs (clocks jumped over it): the instant the
				    * gap ends, i.e. the transition itself, is returned */
};

/* The first UTC second at which the wall clock of zone z shows `local` (local seconds,
 * see note 4). *kind (may be NULL) says which case applied. */
int64_t co_tz_local_to_utc(const co_tz *z, int64_t local, int *kind);

/* Frees every cached zone. Only at process exit, when no thread uses a zone. */
void co_tz_cache_free(void);

#endif
