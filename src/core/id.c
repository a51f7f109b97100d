/* id.c — UUIDv7; see id.h. */
#include "id.h"
#include "err.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Per-thread generator for the 62 random bits: splitmix64 over a state seeded once per
 * thread from getrandom(2), so making an id costs no system call. Ids need uniqueness,
 * not secrecy (tokens and keys use libsodium). */
static _Thread_local uint64_t rng_state;
static _Thread_local int rng_seeded;

static int rng_next(uint64_t *out)
{
	if (!rng_seeded) {
		if (getrandom(&rng_state, sizeof rng_state, 0) != sizeof rng_state)
			return co_err_set(CO_EINTERNAL, "getrandom failed");
		rng_seeded = 1;
	}
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	*out = z ^ (z >> 31);
	return CO_OK;
}

int co_id_new(co_id *out)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	/* Sub-millisecond fraction scaled to 12 bits. */
	uint64_t sub = (uint64_t)(ts.tv_nsec % 1000000) * 4096 / 1000000;
	uint8_t b[16];
	uint64_t rnd = 0;
	if (rng_next(&rnd))
		return CO_EINTERNAL;
	for (int i = 0; i < 8; i++)
		b[8 + i] = (uint8_t)(rnd >> (8 * i));
	for (int i = 0; i < 6; i++)
		b[i] = (uint8_t)(ms >> (40 - 8 * i));
	b[6] = (uint8_t)(0x70 | (sub >> 8));
	b[7] = (uint8_t)(sub & 0xff);
	b[8] = (uint8_t)(0x80 | (b[8] & 0x3f));
	static const char hex[] = "0123456789abcdef";
	char *p = out->s;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[b[i] >> 4];
		*p++ = hex[b[i] & 15];
	}
	*p = 0;
	return CO_OK;
}

bool co_id_valid(const char *s)
{
	if (!s)
		return false;
	for (int i = 0; i < CO_ID_LEN; i++) {
		char c = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!isxdigit((unsigned char)c)) {
			return false;
		}
	}
	return s[CO_ID_LEN] == 0;
}

int co_id_parse(const char *s, co_id *out)
{
	if (!co_id_valid(s))
		return co_err_set(CO_EINVAL, "not a UUID");
	for (int i = 0; i <= CO_ID_LEN; i++)
		out->s[i] = (char)tolower((unsigned char)s[i]);
	return CO_OK;
}
