/*
 * tz.c — IANA time zones from compiled tzdata (TZif, RFC 8536), with a process-wide cache.
 *
 * DESIGN NOTES
 *  1. A loaded zone is reduced to what colony needs: the UTC offset before the first
 *     transition, and a strictly ascending array of transitions (UTC second, offset in
 *     effect from that second on). Transitions that do not change the offset (only the
 *     abbreviation or the is-DST flag) are dropped, so consecutive entries always differ.
 *  2. Only the v2+ 64-bit data block is used (the v1 block is skipped by its size); a
 *     v1-only file falls back to its 32-bit block. Leap-second ("right/") zones are
 *     rejected: their transition times are not POSIX seconds.
 *  3. The POSIX TZ footer (RFC 8536 §3.3, with its extensions: rule times -167..167
 *     hours, DST all year) governs after the last table transition. It is expanded into
 *     explicit transitions from the year before the last table transition up to and
 *     including year CO_TZ_EXPAND_TO; after that the last offset holds. Generated events
 *     are sorted by (instant, generation order): of two at the same instant the later
 *     rule wins, which is what makes "DST all year" footers come out right.
 *  4. Every offset is checked to lie strictly within -25h..+26h (RFC 8536 §3.2 says
 *     utoff SHOULD). co_tz_local_to_utc relies on it: every UTC second whose wall clock
 *     shows L lies within L ± 26h, so it only looks at the transitions within L ± 30h.
 *  5. The cache is a singly linked list under one mutex. A zone is loaded while the
 *     mutex is held, so each name is read from disk at most once per process, and is
 *     never modified afterwards: readers need no lock. "UTC" is a static zone, not in
 *     the list, and needs no file.
 *  6. Nothing here touches TZ, tzset(), localtime() or mktime(): the process's own zone
 *     is irrelevant and every function is safe from any thread.
 */
#include "tz.h"
#include "clock.h"
#include "err.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CO_TZ_NAME_MAX 255          /* longest zone name (tz.h note 3) */
#define CO_TZ_FILE_MAX (1 << 20)    /* largest TZif file we read; real ones are < 10 KiB */
#define CO_TZ_EXPAND_TO 2200        /* footer rules are expanded up to this year */
#define CO_TZ_EXPAND_FROM 1900      /* ... starting here when the table has no transition */
#define CO_TZ_OFF_MIN (-25 * 3600)  /* offsets must be > this ... */
#define CO_TZ_OFF_MAX (26 * 3600)   /* ... and < this (note 4) */
#define CO_TZ_WINDOW (30 * 3600)    /* co_tz_local_to_utc looks at L ± this */

struct co_tz {
	struct co_tz *next; /* cache list (note 5) */
	int32_t before;     /* offset before the first transition */
	size_t n;           /* number of transitions */
	int64_t *at;        /* UTC second of transition i, strictly ascending */
	int32_t *off;       /* offset in effect from at[i] on; off[i] != off[i-1] */
	char name[CO_TZ_NAME_MAX + 1];
};

static const co_tz utc_zone = { .name = "UTC" };

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static co_tz *cache_head; /* guarded by cache_mu */

/* ---- small arithmetic helpers ----------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static unsigned month_len(int64_t y, unsigned m)
{
	static const unsigned len[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : len[m - 1];
}

/* Day of week of a day number (days since 1970-01-01, a Thursday): 0 = Sunday. */
static unsigned weekday(int64_t days) { return (unsigned)(((days + 4) % 7 + 7) % 7); }

static bool off_ok(int64_t off) { return off > CO_TZ_OFF_MIN && off < CO_TZ_OFF_MAX; }

/* Big-endian readers; the signed ones convert without implementation-defined casts. */
static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64s(const unsigned char *p)
{
	uint64_t u = (uint64_t)be32(p) << 32 | be32(p + 4);
	return u <= (uint64_t)INT64_MAX ? (int64_t)u : -(int64_t)~u - 1;
}

static int64_t be32s(const unsigned char *p)
{
	uint32_t u = be32(p);
	return u <= (uint32_t)INT32_MAX ? (int64_t)u : -(int64_t)~u - 1;
}

/* ---- transition list under construction ------------------------------------------- */

typedef struct {
	int64_t *at;
	int32_t *off;
	size_t n, cap;
	int32_t before;
} tvec;

/* Appends "offset `off` from `at` on", keeping note 1's invariants: an event at the same
 * instant as the last one replaces it (the later rule wins, note 3), an event earlier
 * than the last one is ignored, and one that changes nothing is dropped.
 * 0, or -1 when out of memory. */
static int tvec_push(tvec *v, int64_t at, int32_t off)
{
	if (v->n > 0 && at <= v->at[v->n - 1]) {
		if (at < v->at[v->n - 1])
			return 0;
		v->n--;
	}
	int32_t cur = v->n > 0 ? v->off[v->n - 1] : v->before;
	if (off == cur)
		return 0;
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		int64_t *at2 = realloc(v->at, cap * sizeof *at2);
		if (!at2)
			return -1;
		v->at = at2;
		int32_t *off2 = realloc(v->off, cap * sizeof *off2);
		if (!off2)
			return -1;
		v->off = off2;
		v->cap = cap;
	}
	v->at[v->n] = at;
	v->off[v->n] = off;
	v->n++;
	return 0;
}

/* ---- POSIX TZ footer (RFC 8536 §3.3) ---------------------------------------------- */

typedef struct {
	char kind;    /* 'J' (1..365, Feb 29 never counted), 'D' (0..365), 'M' (month.week.day) */
	int n, m, w, d;
	int32_t time; /* local time of day of the transition, seconds, -167h..167h */
} posix_rule;

typedef struct {
	int32_t std_off, dst_off; /* seconds east of UTC */
	bool has_dst;
	posix_rule start, end; /* std→dst, dst→std */
} posix_tz;

/* Reads up to `maxdigits` decimal digits (at least one) as an int ≤ max. */
static bool read_uint(const char **p, int maxdigits, int max, int *out)
{
	int v = 0, nd = 0;
	while (nd < maxdigits && **p >= '0' && **p <= '9') {
		v = v * 10 + (**p - '0');
		(*p)++;
		nd++;
	}
	if (nd == 0 || v > max)
		return false;
	*out = v;
	return true;
}

/* A zone abbreviation: "<…>" of [A-Za-z0-9+-] or a run of letters, ≥ 3 characters. */
static bool read_abbr(const char **p)
{
	const char *s = *p;
	size_t n = 0;
	if (*s == '<') {
		s++;
		while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		       (*s >= '0' && *s <= '9') || *s == '+' || *s == '-') {
			s++;
			n++;
		}
		if (*s != '>')
			return false;
		s++;
	} else {
		while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')) {
			s++;
			n++;
		}
	}
	if (n < 3)
		return false;
	*p = s;
	return true;
}

/* [+-]hh[:mm[:ss]] with hh ≤ maxh (24 for offsets, 167 for rule times). */
static bool read_hms(const char **p, int maxh, int32_t *out)
{
	int sign = 1, h, m = 0, s = 0;
	if (**p == '+' || **p == '-') {
		sign = **p == '-' ? -1 : 1;
		(*p)++;
	}
	if (!read_uint(p, 3, maxh, &h))
		return false;
	if (**p == ':') {
		(*p)++;
		if (!read_uint(p, 2, 59, &m))
			return false;
		if (**p == ':') {
			(*p)++;
			if (!read_uint(p, 2, 59, &s))
				return false;
		}
	}
	*out = sign * (h * 3600 + m * 60 + s);
	return true;
}

/* Consumes character c if it is next. */
static bool eat(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

static bool read_rule(const char **p, posix_rule *r)
{
	memset(r, 0, sizeof *r);
	if (**p == 'J') {
		(*p)++;
		r->kind = 'J';
		if (!read_uint(p, 3, 365, &r->n) || r->n < 1)
			return false;
	} else if (**p == 'M') {
		(*p)++;
		r->kind = 'M';
		if (!read_uint(p, 2, 12, &r->m) || r->m < 1 || !eat(p, '.') ||
		    !read_uint(p, 1, 5, &r->w) || r->w < 1 || !eat(p, '.') ||
		    !read_uint(p, 1, 6, &r->d))
			return false;
	} else {
		r->kind = 'D';
		if (!read_uint(p, 3, 365, &r->n))
			return false;
	}
	r->time = 7200;
	return !eat(p, '/') || read_hms(p, 167, &r->time);
}

/* Parses a footer (without its newlines). An absent rule after a DST name defaults to
 * the US rules "M3.2.0,M11.1.0", as POSIX leaves it to the implementation. */
static bool parse_posix_tz(const char *s, posix_tz *tz)
{
	int32_t v;
	memset(tz, 0, sizeof *tz);
	if (!read_abbr(&s) || !read_hms(&s, 24, &v))
		return false;
	tz->std_off = -v;
	if (*s == '\0')
		return off_ok(tz->std_off);
	if (!read_abbr(&s))
		return false;
	tz->has_dst = true;
	tz->dst_off = tz->std_off + 3600;
	if (*s != ',' && *s != '\0') {
		if (!read_hms(&s, 24, &v))
			return false;
		tz->dst_off = -v;
	}
	if (*s == '\0') {
		tz->start = (posix_rule){ .kind = 'M', .m = 3, .w = 2, .d = 0, .time = 7200 };
		tz->end = (posix_rule){ .kind = 'M', .m = 11, .w = 1, .d = 0, .time = 7200 };
	} else if (!eat(&s, ',') || !read_rule(&s, &tz->start) || !eat(&s, ',') ||
		   !read_rule(&s, &tz->end) || *s != '\0') {
		return false;
	}
	return off_ok(tz->std_off) && off_ok(tz->dst_off);
}

/* Local seconds (wall clock of the offset in effect before it) of rule r in year y. */
static int64_t rule_local(const posix_rule *r, int64_t y)
{
	int64_t jan1 = co_days_from_civil(y, 1, 1), day;
	if (r->kind == 'J') {
		day = jan1 + r->n - 1 + (is_leap(y) && r->n >= 60);
	} else if (r->kind == 'D') {
		day = jan1 + r->n;
	} else {
		int64_t first = co_days_from_civil(y, (unsigned)r->m, 1);
		day = first + (r->d - (int)weekday(first) + 7) % 7 + (int64_t)(r->w - 1) * 7;
		while (day >= first + month_len(y, (unsigned)r->m))
			day -= 7;
	}
	return day * 86400 + r->time;
}

typedef struct {
	int64_t at;
	size_t seq;
	int32_t off;
} tz_event;

static int event_cmp(const void *a, const void *b)
{
	const tz_event *x = a, *y = b;
	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Appends the footer's transitions after instant `after` (INT64_MIN: all) (note 3).
 * 0, or -1 when out of memory. */
static int expand_footer(tvec *v, const posix_tz *tz, int64_t after)
{
	if (after == INT64_MAX)
		return 0;
	if (!tz->has_dst)
		return tvec_push(v, after == INT64_MIN ? INT64_MIN : after + 1, tz->std_off);
	int64_t y0 = CO_TZ_EXPAND_FROM;
	if (after != INT64_MIN) {
		int64_t y;
		unsigned m, d;
		if (after > (int64_t)400000 * 366 * 86400)
			return 0;
		co_civil_from_days(floor_div(after, 86400), &y, &m, &d);
		y0 = y - 1;
	}
	if (y0 > CO_TZ_EXPAND_TO)
		return 0;
	if (y0 < CO_TZ_EXPAND_FROM - 1000)
		y0 = CO_TZ_EXPAND_FROM - 1000;
	size_t n = (size_t)(CO_TZ_EXPAND_TO - y0 + 1) * 2;
	tz_event *ev = malloc(n * sizeof *ev);
	if (!ev)
		return -1;
	size_t k = 0;
	for (int64_t y = y0; y <= CO_TZ_EXPAND_TO; y++) {
		ev[k] = (tz_event){ rule_local(&tz->start, y) - tz->std_off, k, tz->dst_off };
		k++;
		ev[k] = (tz_event){ rule_local(&tz->end, y) - tz->dst_off, k, tz->std_off };
		k++;
	}
	qsort(ev, k, sizeof *ev, event_cmp);
	int rc = 0;
	for (size_t i = 0; i < k && rc == 0; i++)
		if (ev[i].at > after)
			rc = tvec_push(v, ev[i].at, ev[i].off);
	free(ev);
	return rc;
}

/* ---- TZif (RFC 8536 §3) ----------------------------------------------------------- */

typedef struct {
	unsigned char version; /* 0, '2', '3', '4', ... */
	uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
} tzif_hdr;

#define TZIF_HDR_LEN 44

static bool read_hdr(const unsigned char *p, size_t len, tzif_hdr *h)
{
	if (len < TZIF_HDR_LEN || memcmp(p, "TZif", 4) != 0)
		return false;
	h->version = p[4];
	h->isutcnt = be32(p + 20);
	h->isstdcnt = be32(p + 24);
	h->leapcnt = be32(p + 28);
	h->timecnt = be32(p + 32);
	h->typecnt = be32(p + 36);
	h->charcnt = be32(p + 40);
	return h->typecnt >= 1 && h->typecnt <= 256 &&
	       (h->isutcnt == 0 || h->isutcnt == h->typecnt) &&
	       (h->isstdcnt == 0 || h->isstdcnt == h->typecnt);
}

/* Size of the data block that follows header h, with `tsize`-byte times. */
static uint64_t block_len(const tzif_hdr *h, unsigned tsize)
{
	return (uint64_t)h->timecnt * tsize + h->timecnt + (uint64_t)h->typecnt * 6 + h->charcnt +
	       (uint64_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

/* Fills v from a whole TZif file. NULL on success, else what is wrong (for the message);
 * *oom is set when the failure is out of memory. */
static const char *parse_tzif(const unsigned char *p, size_t len, tvec *v, bool *oom)
{
	tzif_hdr h;
	unsigned tsize = 4;
	if (!read_hdr(p, len, &h))
		return "not a TZif file";
	if (h.version != 0) {
		uint64_t skip = TZIF_HDR_LEN + block_len(&h, 4);
		if (skip > len || !read_hdr(p + skip, len - skip, &h))
			return "truncated TZif file";
		p += skip + TZIF_HDR_LEN;
		len -= skip + TZIF_HDR_LEN;
		tsize = 8;
	} else {
		p += TZIF_HDR_LEN;
		len -= TZIF_HDR_LEN;
	}
	uint64_t blen = block_len(&h, tsize);
	if (blen > len)
		return "truncated TZif file";
	if (h.leapcnt != 0)
		return "leap-second zones are not supported";

	const unsigned char *times = p, *idx = p + (size_t)h.timecnt * tsize;
	const unsigned char *types = idx + h.timecnt;
	int32_t utoff[256];
	for (uint32_t i = 0; i < h.typecnt; i++) {
		int64_t o = be32s(types + 6 * i);
		if (!off_ok(o))
			return "UTC offset out of range";
		utoff[i] = (int32_t)o;
	}
	v->before = utoff[0];
	int64_t last = INT64_MIN;
	for (uint32_t i = 0; i < h.timecnt; i++) {
		int64_t t = tsize == 8 ? be64s(times + 8 * i) : be32s(times + 4 * i);
		if (idx[i] >= h.typecnt)
			return "bad local time type index";
		if (i > 0 && t <= last)
			return "transition times not ascending";
		last = t;
		if (tvec_push(v, t, utoff[idx[i]]) != 0) {
			*oom = true;
			return "out of memory";
		}
	}
	if (h.version == 0)
		return NULL;

	/* Footer: "\n" POSIX-TZ "\n" right after the v2+ data block. */
	const char *f = (const char *)p + blen;
	size_t flen = len - (size_t)blen;
	if (flen < 2 || f[0] != '\n')
		return "missing TZ string footer";
	const char *nl = memchr(f + 1, '\n', flen - 1);
	if (!nl)
		return "unterminated TZ string footer";
	size_t slen = (size_t)(nl - f - 1);
	if (slen == 0)
		return NULL; /* empty footer: the last type holds */
	char tzs[256];
	if (slen >= sizeof tzs || memchr(f + 1, '\0', slen))
		return "bad TZ string footer";
	memcpy(tzs, f + 1, slen);
	tzs[slen] = '\0';
	posix_tz ptz;
	if (!parse_posix_tz(tzs, &ptz))
		return "bad TZ string footer";
	if (h.timecnt == 0)
		v->before = ptz.std_off; /* no transitions: the footer governs all time */
	if (expand_footer(v, &ptz, h.timecnt ? last : INT64_MIN) != 0) {
		*oom = true;
		return "out of memory";
	}
	return NULL;
}

/* ---- names, files, the cache ------------------------------------------------------ */

/* tz.h note 3: 1–255 bytes of [A-Za-z0-9_+-./], no leading '/', no "." or ".." or
 * empty component. */
static bool name_ok(const char *name)
{
	size_t len = strnlen(name, CO_TZ_NAME_MAX + 1);
	if (len == 0 || len > CO_TZ_NAME_MAX || name[0] == '/')
		return false;
	const char *comp = name;
	for (size_t i = 0; i <= len; i++) {
		char c = name[i];
		if (c == '/' || c == '\0') {
			size_t cl = (size_t)(name + i - comp);
			if (cl == 0 || (cl == 1 && comp[0] == '.') ||
			    (cl == 2 && comp[0] == '.' && comp[1] == '.'))
				return false;
			comp = name + i + 1;
			continue;
		}
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '+' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* The name as it may appear in a one-line message: at most 64 bytes, non-printable
 * bytes and quotes replaced by '?'. */
static const char *printable(const char *name, char out[68])
{
	size_t i = 0;
	for (; i < 64 && name[i]; i++) {
		unsigned char c = (unsigned char)name[i];
		out[i] = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
	}
	if (name[i]) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

/* Reads a regular file of at most CO_TZ_FILE_MAX bytes into *buf (caller frees).
 * 0, -1 when absent/unreadable/not regular, -2 when out of memory. */
static int read_file(const char *path, unsigned char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
	    st.st_size > CO_TZ_FILE_MAX) {
		close(fd);
		return -1;
	}
	size_t want = (size_t)st.st_size, got = 0;
	unsigned char *b = malloc(want ? want : 1);
	if (!b) {
		close(fd);
		return -2;
	}
	while (got < want) {
		ssize_t r = read(fd, b + got, want - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	*buf = b;
	*len = got;
	return 0;
}

/* Loads zone `name` (already validated) from disk. NULL with the error set. */
static co_tz *load_zone(const char *name)
{
	char shown[68], path[PATH_MAX];
	const char *dir = getenv("TZDIR");
	if (!dir || !*dir)
		dir = "/usr/share/zoneinfo";
	int pl = snprintf(path, sizeof path, "%s/%s", dir, name);
	if (pl < 0 || (size_t)pl >= sizeof path) {
		co_err_set(CO_EINVAL, "unknown time zone \"%s\"", printable(name, shown));
		return NULL;
	}
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc = read_file(path, &buf, &len);
	if (rc == -2) {
		co_err_set(CO_ENOMEM, "out of memory");
		return NULL;
	}
	if (rc != 0) {
		co_err_set(CO_EINVAL, "unknown time zone \"%s\"", printable(name, shown));
		return NULL;
	}
	tvec v = { 0 };
	bool oom = false;
	const char *why = parse_tzif(buf, len, &v, &oom);
	free(buf);
	co_tz *z = why ? NULL : calloc(1, sizeof *z);
	if (!z) {
		free(v.at);
		free(v.off);
		if (why && !oom)
			co_err_set(CO_EINVAL, "time zone \"%s\": %s", printable(name, shown), why);
		else
			co_err_set(CO_ENOMEM, "out of memory");
		return NULL;
	}
	memcpy(z->name, name, strlen(name) + 1);
	z->before = v.before;
	z->n = v.n;
	z->at = v.at;
	z->off = v.off;
	return z;
}

const co_tz *co_tz_get(const char *name)
{
	char shown[68];
	assert(name);
	if (!name_ok(name)) {
		co_err_set(CO_EINVAL, "unknown time zone \"%s\"", printable(name, shown));
		return NULL;
	}
	if (strcmp(name, "UTC") == 0)
		return &utc_zone;
	pthread_mutex_lock(&cache_mu);
	co_tz *z = cache_head;
	while (z && strcmp(z->name, name) != 0)
		z = z->next;
	if (!z) {
		z = load_zone(name);
		if (z) {
			z->next = cache_head;
			cache_head = z;
		}
	}
	pthread_mutex_unlock(&cache_mu);
	return z;
}

void co_tz_cache_free(void)
{
	pthread_mutex_lock(&cache_mu);
	co_tz *z = cache_head;
	cache_head = NULL;
	pthread_mutex_unlock(&cache_mu);
	while (z) {
		co_tz *next = z->next;
		free(z->at);
		free(z->off);
		free(z);
		z = next;
	}
}

/* ---- queries ---------------------------------------------------------------------- */

const char *co_tz_name(const co_tz *z)
{
	assert(z);
	return z->name;
}

/* Index of the first transition strictly after `utc` (z->n if none). */
static size_t upper_bound(const co_tz *z, int64_t utc)
{
	size_t lo = 0, hi = z->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (z->at[mid] <= utc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int32_t co_tz_offset_at(const co_tz *z, int64_t utc)
{
	assert(z);
	size_t i = upper_bound(z, utc);
	return i == 0 ? z->before : z->off[i - 1];
}

/* Wall-clock time w(u) = u + offset(u) is increasing (slope 1) between transitions and
 * jumps at each one. The answer is the smallest u with w(u) = L when there is one, else
 * the smallest u with w(u) > L, which is a transition (a jump over L). Candidates come
 * from the segments between the transitions within L ± CO_TZ_WINDOW (note 4). */
static int64_t local_to_utc(const co_tz *z, int64_t local, int *kind)
{
	*kind = CO_TZ_LOCAL_UNIQUE;
	if (local < INT64_MIN / 2 || local > INT64_MAX / 2)
		return local - co_tz_offset_at(z, local); /* far from any transition */
	int64_t lo = local - CO_TZ_WINDOW, hi = local + CO_TZ_WINDOW, result = 0;
	size_t first = upper_bound(z, lo); /* transitions first.. are after lo */
	bool found = false;
	/* Segment j runs from at[j-1] (lo for the first one) to at[j] (or forever), with
	 * offset off[j-1] (before for j = 0). */
	for (size_t j = first; j <= z->n; j++) {
		int64_t start = j == first ? lo : z->at[j - 1];
		if (start >= hi)
			break;
		int32_t o = j == 0 ? z->before : z->off[j - 1];
		int64_t end = j < z->n ? z->at[j] : INT64_MAX;
		int64_t u = local - o;
		if (u >= start && u < end) {
			if (found) {
				*kind = CO_TZ_LOCAL_AMBIGUOUS;
				return result;
			}
			found = true;
			result = u;
		}
	}
	if (found)
		return result;
	for (size_t j = first; j < z->n && z->at[j] < hi; j++) {
		if (z->at[j] + z->off[j] > local) {
			*kind = CO_TZ_LOCAL_GAP;
			return z->at[j];
		}
	}
	return local - co_tz_offset_at(z, local); /* unreachable with valid data */
}

/* Wall-clock time w(u) = u + offset(u) is increasing (slope 1) between transitions and
 * jumps at each one. The answer is the smallest u with w(u) = L when there is one, else
 * the smallest u with w(u) > L, which is a transition (a jump over L). Candidates come
 * from the segments between the transitions within L ± CO_TZ_WINDOW (note 4). */
int64_t co_tz_local_to_utc(const co_tz *z, int64_t local, int *kind)
{
	assert(z);
	int k;
	int64_t u = local_to_utc(z, local, &k);
	if (kind)
		*kind = k;
	return u;
}
