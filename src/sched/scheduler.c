/* scheduler.c — the ticker and the webhook delivery threads; see scheduler.h. */
#include "scheduler.h"
#include "../core/err.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DUE_BATCH 128      /* schedules fired per store query */
#define DELIVERY_MAX 10000 /* queued webhooks; more are marked "error" at once */
#define DELIVERERS 4       /* webhook threads: one slow url does not hold up the others */

typedef struct job {
	co_id run_id;
	char *url;
	char *payload; /* JSON */
	struct job *next;
} job;

static struct {
	co_scheduler_config cfg;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool ticker_started, ticking_stopped;
	pthread_t ticker;
	bool deliverer_started, delivery_stopped;
	int ndeliverers;
	pthread_t deliverers[DELIVERERS];
	job *head, *tail;
	int queued;
	_Atomic unsigned long long fired, lost;
} S = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

void co_scheduler_stats(unsigned long long *fired, unsigned long long *lost)
{
	*fired = atomic_load(&S.fired);
	*lost = atomic_load(&S.lost);
}

static void mark(const co_id *run_id, const char *status, const char *error)
{
	int rc = CO_STORE_CALL(S.cfg.store, sched_mark, run_id, status, error);
	if (rc)
		fprintf(stderr, "scheduler: recording the webhook outcome of run %s failed: %s\n",
			run_id->s, co_err_msg());
}

/* ---- delivery ---------------------------------------------------------------------- */

static void job_free(job *j)
{
	free(j->url);
	free(j->payload);
	free(j);
}

void co_scheduler_deliver(const co_sched_fired *f)
{
	if (!f->url || !f->url[0])
		return;
	job *j = calloc(1, sizeof *j);
	co_buf b;
	co_buf_init(&b);
	co_buf_puts(&b, "{\"schedule_id\":");
	co_buf_json_cstr(&b, f->run.schedule_id.s);
	co_buf_puts(&b, ",\"schedule_name\":");
	co_buf_json_cstr(&b, f->schedule_name);
	co_buf_puts(&b, ",\"workspace_id\":");
	co_buf_json_cstr(&b, f->run.workspace_id.s);
	co_buf_puts(&b, ",\"run_id\":");
	co_buf_json_cstr(&b, f->run.id.s);
	co_buf_puts(&b, ",\"message_id\":");
	co_buf_json_cstr(&b, f->run.message_id.s);
	co_buf_puts(&b, ",\"trigger\":");
	co_buf_json_cstr(&b, f->run.manual ? "manual" : "cron");
	co_buf_puts(&b, ",\"prompt\":");
	co_buf_json_cstr(&b, f->prompt);
	co_buf_json_key(&b, "slot_at", false);
	co_buf_json_time(&b, f->run.slot_at, false);
	co_buf_json_key(&b, "fired_at", false);
	co_buf_json_time(&b, f->run.fired_at, false);
	co_buf_putc(&b, '}');
	if (j) {
		j->run_id = f->run.id;
		j->url = strdup(f->url);
		j->payload = co_buf_take(&b, NULL);
	}
	co_buf_free(&b);
	if (!j || !j->url || !j->payload) {
		if (j)
			job_free(j);
		mark(&f->run.id, "error", "webhook not sent: out of memory");
		return;
	}
	pthread_mutex_lock(&S.mu);
	const char *refused = !S.deliverer_started || S.delivery_stopped ? "the scheduler is not running"
			      : S.queued >= DELIVERY_MAX			   ? "the delivery queue is full"
											   : NULL;
	if (!refused) {
		if (S.tail)
			S.tail->next = j;
		else
			S.head = j;
		S.tail = j;
		S.queued++;
		pthread_cond_broadcast(&S.cv);
	}
	pthread_mutex_unlock(&S.mu);
	if (refused) {
		char msg[96];
		snprintf(msg, sizeof msg, "webhook not sent: %s", refused);
		mark(&j->run_id, "error", msg);
		job_free(j);
	}
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* POSTs one job; returns NULL on a 2xx, else the error text in buf. */
static const char *post(CURL *h, const job *j, char *buf, size_t bufsz)
{
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, j->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)S.cfg.webhook_timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)S.cfg.webhook_timeout_ms);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, j->payload);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	CURLcode rc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	if (rc != CURLE_OK) {
		snprintf(buf, bufsz, "webhook: %s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
		return buf;
	}
	if (status < 200 || status > 299) {
		snprintf(buf, bufsz, "webhook: HTTP %ld", status);
		return buf;
	}
	return NULL;
}

static void *deliverer_main(void *arg)
{
	(void)arg;
	CURL *h = curl_easy_init();
	for (;;) {
		pthread_mutex_lock(&S.mu);
		while (!S.head && !S.delivery_stopped)
			pthread_cond_wait(&S.cv, &S.mu);
		job *j = S.head;
		bool stopping = S.delivery_stopped;
		if (j) {
			S.head = j->next;
			if (!S.head)
				S.tail = NULL;
			S.queued--;
		}
		pthread_mutex_unlock(&S.mu);
		if (!j)
			break; /* stopped, queue empty */
		char err[256];
		const char *e = stopping ? "webhook not sent: the server shut down"
			      : h	 ? post(h, j, err, sizeof err)
					 : "webhook not sent: curl_easy_init failed";
		mark(&j->run_id, e ? "error" : "delivered", e);
		job_free(j);
	}
	if (h)
		curl_easy_cleanup(h);
	return NULL;
}

/* ---- ticking ----------------------------------------------------------------------- */

static bool ticking_stopped(void)
{
	pthread_mutex_lock(&S.mu);
	bool stopped = S.ticking_stopped;
	pthread_mutex_unlock(&S.mu);
	return stopped;
}

/* Fires every due slot once. Returns true if it should run again at once: a full batch
 * was due and at least one fired (rows that keep failing must not make it spin). */
static bool tick(void)
{
	co_usec_t now = co_clock_now_us();
	co_sched_list due = {0};
	int rc = CO_STORE_CALL(S.cfg.store, sched_due, now, DUE_BATCH, &due);
	if (rc) {
		fprintf(stderr, "scheduler: finding due schedules failed: %s\n", co_err_msg());
		return false;
	}
	size_t fired_now = 0;
	for (size_t i = 0; i < due.n && !ticking_stopped(); i++) {
		const co_schedule *s = &due.items[i];
		co_usec_t next = 0;
		/* From now, not from the slot: missed slots fire once. An expression that never
		 * fires again gets no next slot (NULL). One that does not load now (a zone file
		 * unreadable for a moment) is left alone and tried again next tick: firing it
		 * without a next slot would stop it for good. */
		rc = co_sched_next(s, now, &next);
		if (rc == CO_ENOTFOUND) {
			next = 0;
		} else if (rc) {
			fprintf(stderr, "scheduler: schedule %s: %s\n", s->id.s, co_err_msg());
			continue;
		}
		co_sched_fire f = {.schedule_id = s->id,
				   .workspace_id = s->workspace_id,
				   .slot = s->next_run_at,
				   .cron_expr = s->cron_expr,
				   .timezone = s->timezone,
				   .next_run_at = next,
				   .now = now};
		co_sched_fired fired = {0};
		co_conflict conflict = {0};
		rc = CO_STORE_CALL(S.cfg.store, sched_fire, &f, &fired, &conflict);
		if (rc == CO_OK) {
			fired_now++;
			atomic_fetch_add(&S.fired, 1);
			co_scheduler_deliver(&fired);
		} else if (conflict.kind == CO_CONFLICT_STATE) {
			atomic_fetch_add(&S.lost, 1); /* another replica fired it, or it changed */
		} else {
			fprintf(stderr, "scheduler: firing schedule %s failed: %s\n", s->id.s, co_err_msg());
		}
		co_sched_fired_clear(&fired);
		co_conflict_clear(&conflict);
	}
	bool again = due.n == DUE_BATCH && fired_now > 0;
	co_sched_list_clear(&due);
	return again;
}

static void *ticker_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&S.mu);
	while (!S.ticking_stopped) {
		pthread_mutex_unlock(&S.mu);
		bool again = tick();
		pthread_mutex_lock(&S.mu);
		if (again)
			continue; /* more may be due */
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		long long ns = until.tv_nsec + (long long)S.cfg.interval_ms * 1000000;
		until.tv_sec += ns / 1000000000;
		until.tv_nsec = ns % 1000000000;
		while (!S.ticking_stopped &&
		       pthread_cond_timedwait(&S.cv, &S.mu, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&S.mu);
	return NULL;
}

int co_scheduler_start(const co_scheduler_config *cfg)
{
	S.cfg = *cfg;
	if (S.cfg.interval_ms <= 0)
		S.cfg.interval_ms = 1000;
	if (S.cfg.webhook_timeout_ms <= 0)
		S.cfg.webhook_timeout_ms = 10000;
	S.ticking_stopped = S.delivery_stopped = false;
	for (S.ndeliverers = 0; S.ndeliverers < DELIVERERS; S.ndeliverers++)
		if (pthread_create(&S.deliverers[S.ndeliverers], NULL, deliverer_main, NULL))
			break;
	if (S.ndeliverers == 0)
		return co_err_set(CO_EINTERNAL, "cannot start the webhook threads");
	S.deliverer_started = true;
	if (cfg->tick) {
		if (pthread_create(&S.ticker, NULL, ticker_main, NULL)) {
			co_scheduler_stop();
			return co_err_set(CO_EINTERNAL, "cannot start the scheduler thread");
		}
		S.ticker_started = true;
	}
	return CO_OK;
}

void co_scheduler_quiesce(void)
{
	pthread_mutex_lock(&S.mu);
	S.ticking_stopped = true;
	pthread_cond_broadcast(&S.cv);
	pthread_mutex_unlock(&S.mu);
	if (S.ticker_started) {
		pthread_join(S.ticker, NULL);
		S.ticker_started = false;
	}
}

void co_scheduler_stop(void)
{
	co_scheduler_quiesce();
	pthread_mutex_lock(&S.mu);
	S.delivery_stopped = true;
	pthread_cond_broadcast(&S.cv);
	pthread_mutex_unlock(&S.mu);
	if (S.deliverer_started) {
		for (int i = 0; i < S.ndeliverers; i++)
			pthread_join(S.deliverers[i], NULL);
		S.deliverer_started = false;
	}
}
