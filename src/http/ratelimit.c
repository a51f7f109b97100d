/* ratelimit.c — per-key token buckets; see ratelimit.h. */
#include "ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 1024 /* hash chains */
#define NLOCKS 16     /* striped: chain i is guarded by lock i % NLOCKS */
#define KEY_MAX 64

typedef struct entry {
	struct entry *next;
	char key[KEY_MAX + 1];
	double tokens;     /* requests left */
	co_usec_t last_us; /* when tokens was last brought up to date */
} entry;

struct co_ratelimit {
	double rate, burst;
	entry *chains[NBUCKETS];
	pthread_mutex_t locks[NLOCKS];
};

co_ratelimit *co_ratelimit_new(double rate, double burst)
{
	if (!(rate > 0) || !(burst >= 1))
		return NULL;
	co_ratelimit *rl = calloc(1, sizeof *rl);
	if (!rl)
		return NULL;
	rl->rate = rate;
	rl->burst = burst;
	for (int i = 0; i < NLOCKS; i++)
		pthread_mutex_init(&rl->locks[i], NULL);
	return rl;
}

void co_ratelimit_free(co_ratelimit *rl)
{
	if (!rl)
		return;
	for (int i = 0; i < NBUCKETS; i++)
		for (entry *e = rl->chains[i], *next; e; e = next) {
			next = e->next;
			free(e);
		}
	for (int i = 0; i < NLOCKS; i++)
		pthread_mutex_destroy(&rl->locks[i]);
	free(rl);
}

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Brings e's tokens up to now. */
static void refill(const co_ratelimit *rl, entry *e, co_usec_t now)
{
	if (now > e->last_us) {
		e->tokens = fmin(rl->burst, e->tokens + (double)(now - e->last_us) / 1e6 * rl->rate);
		e->last_us = now;
	}
}

bool co_ratelimit_take(co_ratelimit *rl, const char *key, co_usec_t now, int *retry_after_s)
{
	uint32_t h = hash(key) % NBUCKETS;
	pthread_mutex_t *mu = &rl->locks[h % NLOCKS];
	pthread_mutex_lock(mu);
	entry *e = rl->chains[h], *idle = NULL;
	for (; e; e = e->next) {
		if (!strncmp(e->key, key, KEY_MAX))
			break;
		refill(rl, e, now);
		if (!idle && e->tokens >= rl->burst)
			idle = e; /* full again: forgetting it changes nothing */
	}
	if (!e) {
		e = idle;
		if (!e) {
			e = calloc(1, sizeof *e);
			if (!e) { /* out of memory: do not refuse the caller for our failure */
				pthread_mutex_unlock(mu);
				return true;
			}
			e->next = rl->chains[h];
			rl->chains[h] = e;
		}
		strncpy(e->key, key, KEY_MAX);
		e->key[KEY_MAX] = 0;
		e->tokens = rl->burst;
		e->last_us = now;
	}
	refill(rl, e, now);
	bool ok = e->tokens >= 1;
	if (ok) {
		e->tokens -= 1;
	} else {
		double wait = (1 - e->tokens) / rl->rate;
		*retry_after_s = (int)ceil(wait);
		if (*retry_after_s < 1)
			*retry_after_s = 1;
	}
	pthread_mutex_unlock(mu);
	return ok;
}
