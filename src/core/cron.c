/*
 * cron.c — five-field cron expressions: parsing, matching, and the next fire instant in
 * an IANA zone (see cron.h for the syntax and the DST policy).
 *
 * DESIGN NOTES
 *  1. A parsed expression is five bit sets (co_cron). Parsing is a small table-driven
 *     recursive descent over each field's comma list; every error names its field
 *     ("cron hour: 24 is out of range 0-23") and nothing is written to *out on failure.
 *  2. Day-of-week 7 is folded into 0 after a field is read, so "5-7" is FRI,SAT,SUN and
 *     "0-7" is every day. A range in that field that ends in the *name* SUN and starts
 *     later in the week ends at 7: "MON-SUN" is 1-7 (as croniter reads it). Other
 *     reversed ranges, names or numbers (FRI-MON, 5-1, 5-0), are wrap-around and
 *     rejected.
 *  3. `N/STEP` runs from N to the field's maximum (59, 23, 31, 12, and 7 for
 *     day-of-week). A step larger than the span is accepted and selects only the start,
 *     as vixie cron and croniter do; steps are limited to 1..CRON_STEP_MAX.
 *  4. co_cron_next works on wall-clock "local seconds" (tz.h note 4). Let W be the wall
 *     clock at `after` (rounded down to its second). Every wall time L ≤ W first occurs
 *     (or, in a gap, ends its gap) no later than `after`, so the search starts at the
 *     minute after W. Matching wall minutes are found by jumping field by field (next
 *     allowed month, then day, then hour, then minute: never minute by minute); each is
 *     mapped to its first instant by co_tz_local_to_utc; the first one strictly after
 *     `after` is the answer. The first instant of L never decreases as L grows (for any
 *     zone whose transitions are not closer together than their own size), so the
 *     first candidate past `after` is the earliest. Candidates whose instant is not past
 *     `after` only occur in a repeated or skipped hour, so they are few.
 *  5. The search gives up after CRON_SEARCH_YEARS of wall-clock time: the longest gap
 *     between fires of an accepted expression is 8 years ("0 0 29 2 *", 2096 → 2104).
 */
#include "cron.h"
#include "err.h"

#include <assert.h>
#include <string.h>

#define CRON_STEP_MAX 9999     /* largest accepted /STEP (note 3) */
#define CRON_SEARCH_YEARS 10   /* co_cron_next looks this far ahead (note 5) */
#define USEC 1000000LL

/* ---- fields ----------------------------------------------------------------------- */

typedef struct {
	const char *name;          /* as it appears in messages */
	unsigned lo, hi;           /* allowed values */
	const char *const *names;  /* three-letter names of values name_base.., or NULL */
	unsigned name_base;
} field_spec;

static const char *const month_names[] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN",
					   "JUL", "AUG", "SEP", "OCT", "NOV", "DEC" };
static const char *const dow_names[] = { "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT" };

enum { F_MINUTE, F_HOUR, F_DOM, F_MONTH, F_DOW, F_COUNT };

static const field_spec fields[F_COUNT] = {
	{ "minute", 0, 59, NULL, 0 },
	{ "hour", 0, 23, NULL, 0 },
	{ "day-of-month", 1, 31, NULL, 0 },
	{ "month", 1, 12, month_names, 1 },
	{ "day-of-week", 0, 7, dow_names, 0 },
};

#define FULL_MINUTES ((1ULL << 60) - 1)
#define FULL_HOURS ((1U << 24) - 1)
#define FULL_DOM (((1U << 31) - 1) << 1)
#define FULL_MONTHS ((uint16_t)(((1U << 12) - 1) << 1))
#define FULL_DOW ((uint8_t)((1U << 7) - 1))

static bool is_blank(char c) { return c == ' ' || c == '\t'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
static char upper(char c) { return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c; }

/* Message for an unexpected byte `c` in item [item, item+ilen) of field f. */
static int bad_char(const field_spec *f, char c, const char *item, size_t ilen)
{
	if (c == '?' || c == '#' || upper(c) == 'L' || upper(c) == 'W')
		return co_err_set(CO_EINVAL, "cron %s: L, W, # and ? are not supported", f->name);
	if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
		return co_err_set(CO_EINVAL, "cron %s: unexpected byte 0x%02x", f->name,
				  (unsigned char)c);
	return co_err_set(CO_EINVAL, "cron %s: unexpected '%c' in \"%.*s\"", f->name, c,
			  (int)ilen, item);
}

/* Reads one value (a number or, where the field has them, a name) at *p, before end.
 * *by_name says which. CO_OK or CO_EINVAL naming the field. */
static int read_value(const field_spec *f, const char **p, const char *end, const char *item,
		      unsigned *out, bool *by_name)
{
	const char *s = *p;
	if (s < end && is_digit(*s)) {
		unsigned v = 0;
		while (s < end && is_digit(*s)) {
			if (v <= 100000)
				v = v * 10 + (unsigned)(*s - '0');
			s++;
		}
		if (v < f->lo || v > f->hi)
			return co_err_set(CO_EINVAL, "cron %s: %.*s is out of range %u-%u", f->name,
					  (int)(s - *p), *p, f->lo, f->hi);
		*p = s;
		*out = v;
		*by_name = false;
		return CO_OK;
	}
	if (s < end && is_alpha(*s)) {
		while (s < end && is_alpha(*s))
			s++;
		size_t n = (size_t)(s - *p);
		if (n == 1 || (n == 2 && upper((*p)[0]) == 'L' && upper((*p)[1]) == 'W'))
			return bad_char(f, **p, item, (size_t)(end - item));
		if (!f->names)
			return co_err_set(CO_EINVAL, "cron %s: \"%.*s\" is not a number", f->name,
					  (int)n, *p);
		unsigned count = f == &fields[F_MONTH] ? 12 : 7;
		for (unsigned i = 0; n == 3 && i < count; i++) {
			const char *nm = f->names[i];
			if (upper((*p)[0]) == nm[0] && upper((*p)[1]) == nm[1] &&
			    upper((*p)[2]) == nm[2]) {
				*p = s;
				*out = f->name_base + i;
				*by_name = true;
				return CO_OK;
			}
		}
		return co_err_set(CO_EINVAL, "cron %s: unknown name \"%.*s\" (expected %s-%s)",
				  f->name, (int)n, *p, f->names[0], f->names[count - 1]);
	}
	if (s == end)
		return co_err_set(CO_EINVAL, "cron %s: missing value in \"%.*s\"", f->name,
				  (int)(end - item), item);
	return bad_char(f, *s, item, (size_t)(end - item));
}

/* Parses one list item [item, end) of field f into the bit set *bits. */
static int parse_item(const field_spec *f, const char *item, const char *end, uint64_t *bits)
{
	const char *p = item;
	size_t ilen = (size_t)(end - item);
	unsigned lo, hi, step = 1;
	bool single = false, by_name;
	int rc;
	if (*p == '*') {
		p++;
		lo = f->lo;
		hi = f->hi;
	} else {
		if ((rc = read_value(f, &p, end, item, &lo, &by_name)) != CO_OK)
			return rc;
		hi = lo;
		single = true;
		if (p < end && *p == '-') {
			p++;
			if ((rc = read_value(f, &p, end, item, &hi, &by_name)) != CO_OK)
				return rc;
			single = false;
			if (f == &fields[F_DOW] && by_name && hi == 0 && lo > 0)
				hi = 7; /* MON-SUN (note 2) */
			if (lo > hi)
				return co_err_set(CO_EINVAL,
						  "cron %s: range \"%.*s\" is reversed (wrap-around "
						  "ranges are not supported)",
						  f->name, (int)ilen, item);
		}
	}
	if (p < end && *p == '/') {
		p++;
		const char *s = p;
		unsigned v = 0;
		while (p < end && is_digit(*p)) {
			if (v <= 100000)
				v = v * 10 + (unsigned)(*p - '0');
			p++;
		}
		if (p == s)
			return co_err_set(CO_EINVAL, "cron %s: step must be a number in \"%.*s\"",
					  f->name, (int)ilen, item);
		if (v < 1 || v > CRON_STEP_MAX)
			return co_err_set(CO_EINVAL, "cron %s: step %.*s is out of range 1-%d",
					  f->name, (int)(p - s), s, CRON_STEP_MAX);
		step = v;
		if (single)
			hi = f->hi; /* N/STEP: N to the maximum */
	}
	if (p < end)
		return bad_char(f, *p, item, ilen);
	for (unsigned v = lo; v <= hi; v += step)
		*bits |= 1ULL << v;
	return CO_OK;
}

/* Parses field f, [s, end) (non-empty, no blanks), into *bits. */
static int parse_field(const field_spec *f, const char *s, const char *end, uint64_t *bits)
{
	*bits = 0;
	for (;;) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *iend = comma ? comma : end;
		if (iend == s)
			return co_err_set(CO_EINVAL, "cron %s: empty list item in \"%.*s\"", f->name,
					  (int)(end - s), s);
		int rc = parse_item(f, s, iend, bits);
		if (rc != CO_OK)
			return rc;
		if (!comma)
			return CO_OK;
		s = comma + 1;
		if (s == end)
			return co_err_set(CO_EINVAL, "cron %s: empty list item at the end", f->name);
	}
}

/* ---- expressions ------------------------------------------------------------------ */

static const struct {
	const char *name, *expansion;
} macros[] = {
	{ "@yearly", "0 0 1 1 *" },  { "@annually", "0 0 1 1 *" }, { "@monthly", "0 0 1 * *" },
	{ "@weekly", "0 0 * * 0" },  { "@daily", "0 0 * * *" },    { "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" },
};

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static unsigned month_len(int64_t y, unsigned m)
{
	static const unsigned len[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : len[m - 1];
}

static int lowest_bit(uint64_t bits) { return bits ? __builtin_ctzll(bits) : -1; }

/* The smallest set bit ≥ from, or -1. */
static int next_bit(uint64_t bits, unsigned from)
{
	return from >= 64 ? -1 : lowest_bit(bits & ~((1ULL << from) - 1));
}

/* Expands a macro (the whole expression, blanks around allowed) into *out. */
static int expand_macro(const char *p, const char **out)
{
	const char *s = p;
	while (*s && !is_blank(*s))
		s++;
	size_t n = (size_t)(s - p);
	const char *t = s;
	while (is_blank(*t))
		t++;
	if (*t)
		return co_err_set(CO_EINVAL, "cron: a macro stands alone, found \"%.40s\" after %.*s",
				  t, (int)n, p);
	for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++) {
		const char *m = macros[i].name;
		if (strlen(m) != n)
			continue;
		size_t k = 0;
		while (k < n && upper(p[k]) == upper(m[k]))
			k++;
		if (k == n) {
			*out = macros[i].expansion;
			return CO_OK;
		}
	}
	if (n == 7 && strncmp(p, "@reboot", 7) == 0)
		return co_err_set(CO_EINVAL, "cron: @reboot is not supported");
	return co_err_set(CO_EINVAL, "cron: unknown macro \"%.*s\"", n > 40 ? 40 : (int)n, p);
}

int co_cron_parse(const char *expr, co_cron *out)
{
	assert(expr && out);
	if (strnlen(expr, CO_CRON_EXPR_MAX + 1) > CO_CRON_EXPR_MAX)
		return co_err_set(CO_EINVAL, "cron: expression is longer than %d bytes",
				  CO_CRON_EXPR_MAX);
	const char *p = expr;
	while (is_blank(*p))
		p++;
	if (*p == '\0')
		return co_err_set(CO_EINVAL, "cron: expression is empty");
	if (*p == '@') {
		int rc = expand_macro(p, &p);
		if (rc != CO_OK)
			return rc;
	}

	const char *start[F_COUNT], *end[F_COUNT];
	int nf = 0;
	while (*p) {
		const char *s = p;
		while (*p && !is_blank(*p))
			p++;
		if (nf < F_COUNT) {
			start[nf] = s;
			end[nf] = p;
		}
		nf++;
		while (is_blank(*p))
			p++;
	}
	if (nf != F_COUNT)
		return co_err_set(CO_EINVAL, "cron: expected 5 fields, got %d", nf);

	uint64_t bits[F_COUNT];
	for (int i = 0; i < F_COUNT; i++) {
		int rc = parse_field(&fields[i], start[i], end[i], &bits[i]);
		if (rc != CO_OK)
			return rc;
	}
	co_cron c = {
		.minutes = bits[F_MINUTE],
		.hours = (uint32_t)bits[F_HOUR],
		.dom = (uint32_t)bits[F_DOM],
		.months = (uint16_t)bits[F_MONTH],
		.dow = (uint8_t)((bits[F_DOW] | bits[F_DOW] >> 7) & FULL_DOW),
	};
	c.dom_restricted = c.dom != FULL_DOM;
	c.dow_restricted = c.dow != FULL_DOW;

	/* cron.h note 3. With the OR rule, or an unrestricted day-of-month, some day of
	 * every allowed month matches; otherwise some listed day must exist in some listed
	 * month (February counted with 29 days). */
	if (c.dom_restricted && !c.dow_restricted) {
		bool fires = false;
		for (unsigned m = 1; m <= 12 && !fires; m++)
			if (c.months >> m & 1)
				fires = lowest_bit(c.dom) <= (int)month_len(2000, m);
		if (!fires)
			return co_err_set(CO_EINVAL, "cron: expression never fires (day %d of %s)",
					  lowest_bit(c.dom), month_names[lowest_bit(c.months) - 1]);
	}
	*out = c;
	return CO_OK;
}

/* ---- matching and the next fire time ---------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Does day number `days` (day `d` of its month) pass the day-of-month/day-of-week rule
 * (cron.h note 2)? */
static bool day_matches(const co_cron *c, unsigned d, unsigned dow)
{
	bool dom_ok = c->dom >> d & 1, dow_ok = c->dow >> dow & 1;
	return c->dom_restricted && c->dow_restricted ? dom_ok || dow_ok : dom_ok && dow_ok;
}

bool co_cron_matches(const co_cron *c, int64_t year, unsigned month, unsigned day,
		     unsigned hour, unsigned minute, unsigned dow)
{
	assert(c);
	(void)year;
	if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || dow > 7)
		return false;
	return (c->months >> month & 1) && (c->hours >> hour & 1) && (c->minutes >> minute & 1) &&
	       day_matches(c, day, dow % 7);
}

/* The first matching wall minute at or after `from` (local seconds, a whole minute) and
 * not after `limit`, in *out; false if there is none. Each step moves to the start of the
 * next candidate month, day, hour or minute (note 4). */
static bool next_match(const co_cron *c, int64_t from, int64_t limit, int64_t *out)
{
	uint64_t months = c->months & FULL_MONTHS, hours = c->hours & FULL_HOURS;
	uint64_t minutes = c->minutes & FULL_MINUTES;
	if (!months || !hours || !minutes)
		return false;
	int64_t l = from;
	while (l <= limit) {
		int64_t days = floor_div(l, 86400), y;
		unsigned sod = (unsigned)(l - days * 86400), m, d;
		co_civil_from_days(days, &y, &m, &d);
		if (!(months >> m & 1)) {
			int nm = next_bit(months, m + 1);
			if (nm < 0) {
				nm = lowest_bit(months);
				y++;
			}
			l = co_days_from_civil(y, (unsigned)nm, 1) * 86400;
			continue;
		}
		unsigned dow = (unsigned)(((days + 4) % 7 + 7) % 7); /* 1970-01-01: Thursday */
		if (!day_matches(c, d, dow)) {
			l = (days + 1) * 86400;
			continue;
		}
		unsigned h = sod / 3600, mi = sod / 60 % 60;
		if (!(hours >> h & 1)) {
			int nh = next_bit(hours, h + 1);
			l = nh < 0 ? (days + 1) * 86400 : days * 86400 + nh * 3600;
			continue;
		}
		if (!(minutes >> mi & 1)) {
			int nmi = next_bit(minutes, mi + 1);
			l = days * 86400 + h * 3600 + (nmi < 0 ? 3600 : nmi * 60);
			continue;
		}
		*out = l;
		return true;
	}
	return false;
}

int co_cron_next(const co_cron *c, const co_tz *z, co_usec_t after_us, co_usec_t *next_us)
{
	assert(c && z && next_us);
	int64_t after = floor_div(after_us, USEC);
	int64_t wall = after + co_tz_offset_at(z, after);
	int64_t l = floor_div(wall, 60) * 60 + 60;
	int64_t limit = wall + (int64_t)CRON_SEARCH_YEARS * 366 * 86400;
	while (next_match(c, l, limit, &l)) {
		int64_t u = co_tz_local_to_utc(z, l, NULL);
		if (u > INT64_MAX / USEC)
			break;
		if (u > after) {
			*next_us = u * USEC;
			return CO_OK;
		}
		l += 60;
	}
	return co_err_set(CO_ENOTFOUND, "cron: no fire time within %d years", CRON_SEARCH_YEARS);
}
