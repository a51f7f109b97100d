/* clock.c — µs clock and RFC 3339 conversion; see clock.h. */
#include "clock.h"
#include "err.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static _Atomic co_usec_t clock_override;
static co_usec_t (*_Atomic clock_source)(void);

co_usec_t co_clock_now_us(void)
{
	co_usec_t o = atomic_load_explicit(&clock_override, memory_order_relaxed);
	if (o != 0)
		return o;
	co_usec_t (*src)(void) = atomic_load_explicit(&clock_source, memory_order_acquire);
	if (src && (o = src()) != 0)
		return o;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (co_usec_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

co_usec_t co_clock_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (co_usec_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void co_clock_set_override(co_usec_t us) { atomic_store(&clock_override, us); }

void co_clock_set_source(co_usec_t (*fn)(void)) { atomic_store(&clock_source, fn); }

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm,
 * written from its description). */
int64_t co_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void co_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

int co_rfc3339_format(co_usec_t us, char out[CO_RFC3339_LEN + 1])
{
	int64_t secs = us / 1000000, frac = us % 1000000;
	if (frac < 0) {
		frac += 1000000;
		secs -= 1;
	}
	int64_t days = secs / 86400, sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days -= 1;
	}
	int64_t y;
	unsigned m, d;
	co_civil_from_days(days, &y, &m, &d);
	if (y < 1 || y > 9999)
		return co_err_set(CO_EINVAL, "time out of range");
	char tmp[64]; /* roomy: the compiler cannot see that every field fits */
	snprintf(tmp, sizeof tmp, "%04d-%02u-%02uT%02d:%02d:%02d.%06dZ", (int)y, m, d,
		 (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), (int)frac);
	memcpy(out, tmp, CO_RFC3339_LEN + 1);
	return CO_OK;
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int co_rfc3339_parse(const char *s, co_usec_t *out)
{
	const char *p = s;
	int Y, M, D, h, mi, sec;
	if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' ||
	    digits(&p, 2, &D) || (*p != 'T' && *p != 't') || !*p++ || digits(&p, 2, &h) ||
	    *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' || digits(&p, 2, &sec))
		return co_err_set(CO_EINVAL, "not an RFC 3339 time");
	static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (Y < 1 || M < 1 || M > 12 || D < 1 || D > (int)mdays[M - 1] || h > 23 || mi > 59 || sec > 60)
		return co_err_set(CO_EINVAL, "RFC 3339 time has a field out of range");
	if (M == 2 && D == 29 && !((Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0))
		return co_err_set(CO_EINVAL, "RFC 3339 time has a field out of range");
	int64_t frac = 0;
	if (*p == '.') {
		p++;
		int n = 0;
		while (*p >= '0' && *p <= '9') {
			if (n < 6)
				frac = frac * 10 + (*p - '0');
			n++;
			p++;
		}
		if (n == 0)
			return co_err_set(CO_EINVAL, "RFC 3339 time has an empty fraction");
		for (; n < 6; n++)
			frac *= 10;
	}
	int64_t offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
			return co_err_set(CO_EINVAL, "RFC 3339 time has a bad offset");
		offset = sign * (oh * 3600 + om * 60);
	} else {
		return co_err_set(CO_EINVAL, "RFC 3339 time needs Z or an offset");
	}
	if (*p)
		return co_err_set(CO_EINVAL, "RFC 3339 time has trailing characters");
	int64_t secs = co_days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + mi * 60 +
		       sec - offset;
	*out = secs * 1000000 + frac;
	return CO_OK;
}
