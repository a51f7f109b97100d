/*
 * ratelimit.h — per-key token buckets (the per-token request rate limit, SPEC §10).
 *
 * DESIGN NOTES
 *  1. Each key (a token id) has a bucket of `burst` requests refilled at `rate` per
 *     second. A request takes one; an empty bucket answers how many whole seconds until
 *     one is back (Retry-After).
 *  2. One process's view: with several replicas each keeps its own buckets, so a token
 *     may make up to replicas × rate requests per second. Stated in DESIGN.md.
 *  3. Buckets live in a fixed hash table of chained entries under striped mutexes; an
 *     entry full again (idle for burst/rate seconds) is reused by the next new key in its
 *     chain, so the table stays bounded by the keys active at one time.
 */
#ifndef COLONY_HTTP_RATELIMIT_H
#define COLONY_HTTP_RATELIMIT_H

#include "../core/clock.h"

#include <stdbool.h>

typedef struct co_ratelimit co_ratelimit;

/* rate > 0 requests per second, burst ≥ 1. NULL on out of memory. */
co_ratelimit *co_ratelimit_new(double rate, double burst);
void co_ratelimit_free(co_ratelimit *rl);

/* Takes one request for key at monotonic time now_us. true: allowed. false: limited,
 * *retry_after_s ≥ 1 is the wait until the next request would pass. Thread-safe. */
bool co_ratelimit_take(co_ratelimit *rl, const char *key, co_usec_t now_us, int *retry_after_s);

#endif
