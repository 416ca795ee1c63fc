/* traveler_trace: the trace worker of ct-traveler (see traveler_trace.h for the contract).
 *
 * Design: a ring of at most max_queued jobs under one mutex, one worker thread. A job owns
 * copies of the request's strings, so the loop frees its decoded batch at once and never
 * waits for a trace. The per-client count is a scan of the ring (at most max_queued entries,
 * a few dozen by default) plus the job in hand: no second index to keep in step. The job in
 * hand is read by the loop thread (its reply topic, for the count) only under the mutex and
 * freed by the worker only under it; the worker reads it unlocked, which is safe because
 * nobody writes it while it is in hand. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_log.h"
#include "ct_pg.h"
#include "ct_topic.h"
#include "traveler_trace.h"

#define REPLY_PREFIX     CT_TOPIC_ROOT "/sys/reply/"
#define PG_WAIT_MS       10000
#define REPLY_PREFIX_LEN (sizeof(REPLY_PREFIX) - 1)

/* One request to answer: copies of what the response needs. */
struct job {
	char *request_id;
	char *id;
	char *reply_topic; /* ct_topic_is_reply holds; the client is its first level */
	Cellthread__V1__TraceDirection direction;
	unsigned max_depth;
};

struct traveler_tracer {
	struct ct_mqtt *mqtt; /* not owned */
	struct ct_pg *pg;     /* the worker's own connection */
	char *producer;
	struct ct_trace_limits limits;
	size_t max_queued, max_per_client;
	int publish_timeout_ms;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool thread_started;
	volatile sig_atomic_t stop; /* set under lock; also read by ct_pg_ensure's backoff */
	struct job *ring;           /* max_queued slots */
	size_t head, count;
	struct job in_hand;
	bool busy; /* in_hand holds a job */
	struct traveler_tracer_stats stats;
};

static void job_cleanup(struct job *job)
{
	free(job->request_id);
	free(job->id);
	free(job->reply_topic);
	memset(job, 0, sizeof(*job));
}

/* The length of the client ID at the start of reply_topic + REPLY_PREFIX_LEN. */
static size_t client_len(const char *reply_topic)
{
	const char *client = reply_topic + REPLY_PREFIX_LEN;
	return strcspn(client, "/");
}

static bool same_client(const char *a, const char *b)
{
	size_t la = client_len(a), lb = client_len(b);
	return la == lb && memcmp(a + REPLY_PREFIX_LEN, b + REPLY_PREFIX_LEN, la) == 0;
}

/* Encodes and publishes out (its header and request_id set here) to reply_topic. */
static void publish_response(struct traveler_tracer *tr, Cellthread__V1__TraceResponse *out,
                             const char *request_id, const char *reply_topic)
{
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	Cellthread__V1__Header *saved = out->header;
	char *saved_request = out->request_id;
	char event_id[40];
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	ct_pb_header_fill(&header, event_id, sizeof(event_id), tr->producer);
	out->header = &header;
	out->request_id = (char *)request_id;
	rc = ct_pb_pack(&out->base, &buf, &len);
	out->header = saved;
	out->request_id = saved_request;
	if (rc != CT_OK) {
		ct_error("out of memory encoding the trace response to %s", reply_topic);
		return;
	}
	/* ct_mqtt_publish logs a failure; the client asks again. */
	ct_mqtt_publish(tr->mqtt, reply_topic, buf, len, 1, false, tr->publish_timeout_ms);
	free(buf);
}

/* Runs one trace and publishes its response (or the database's error). */
static void answer(struct traveler_tracer *tr, const struct job *job)
{
	Cellthread__V1__TraceResponse *resp = NULL;
	Cellthread__V1__TraceResponse failed = CELLTHREAD__V1__TRACE_RESPONSE__INIT;
	struct ct_trace_limits limits = tr->limits;
	char err[512];
	bool ok;

	if (job->max_depth > 0 && job->max_depth < limits.max_depth)
		limits.max_depth = job->max_depth;
	ok = ct_pg_ensure(tr->pg, PG_WAIT_MS, &tr->stop, err, sizeof(err)) == CT_OK &&
	     ct_trace_run(tr->pg, job->direction, job->id, &limits, &resp, err, sizeof(err)) ==
	             CT_OK;
	if (!ok) {
		failed.error = err;
		failed.id = job->id;
		failed.direction = job->direction;
		resp = NULL;
	}
	publish_response(tr, resp != NULL ? resp : &failed, job->request_id, job->reply_topic);
	ct_trace_response_free(resp);
	pthread_mutex_lock(&tr->lock);
	tr->stats.answered++;
	if (!ok)
		tr->stats.failed++;
	pthread_mutex_unlock(&tr->lock);
}

static void *worker(void *arg)
{
	struct traveler_tracer *tr = arg;

	pthread_mutex_lock(&tr->lock);
	for (;;) {
		while (!tr->stop && tr->count == 0)
			pthread_cond_wait(&tr->cond, &tr->lock);
		if (tr->stop)
			break;
		tr->in_hand = tr->ring[tr->head];
		memset(&tr->ring[tr->head], 0, sizeof(tr->ring[tr->head]));
		tr->head = (tr->head + 1) % tr->max_queued;
		tr->count--;
		tr->busy = true;
		pthread_mutex_unlock(&tr->lock);
		answer(tr, &tr->in_hand);
		pthread_mutex_lock(&tr->lock);
		job_cleanup(&tr->in_hand);
		tr->busy = false;
	}
	pthread_mutex_unlock(&tr->lock);
	return NULL;
}

struct traveler_tracer *traveler_tracer_new(const struct traveler_tracer_options *options,
                                            struct ct_mqtt *mqtt, char *err, size_t err_len)
{
	struct traveler_tracer *tr = calloc(1, sizeof(*tr));
	int rc;

	if (tr == NULL) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&tr->lock, NULL);
	pthread_cond_init(&tr->cond, NULL);
	tr->mqtt = mqtt;
	tr->limits = options->limits;
	tr->max_queued = options->max_queued > 0 ? options->max_queued : 1;
	tr->max_per_client = options->max_per_client > 0 ? options->max_per_client : 1;
	tr->publish_timeout_ms = options->publish_timeout_ms;
	tr->producer = strdup(options->producer);
	tr->ring = calloc(tr->max_queued, sizeof(*tr->ring));
	tr->pg = ct_pg_new(options->pg_conninfo, options->pg_password);
	if (tr->producer == NULL || tr->ring == NULL || tr->pg == NULL) {
		snprintf(err, err_len, "out of memory");
		goto fail;
	}
	rc = pthread_create(&tr->thread, NULL, worker, tr);
	if (rc != 0) {
		snprintf(err, err_len, "cannot start the trace worker: %s", strerror(rc));
		goto fail;
	}
	tr->thread_started = true;
	return tr;
fail:
	traveler_tracer_free(tr);
	return NULL;
}

int traveler_tracer_submit(struct traveler_tracer *tr, const Cellthread__V1__TraceRequest *req,
                           char *why, size_t why_len)
{
	struct job job = {0};
	size_t of_client = 0;
	int rc = CT_OK;

	/* Replies go only under ct/v1/sys/reply/<client>/..., never to a wildcard or a topic
	 * another service owns, and only to a topic the broker takes: a request that can never
	 * be answered is dropped, not handled again and again. */
	if (!ct_topic_is_reply(req->reply_topic)) {
		ct_warn("trace request refused: the reply topic must be under %s, with up to %d "
		        "levels that are IDs",
		        REPLY_PREFIX, CT_TOPIC_REPLY_LEVELS);
		return CT_ERR_INVALID;
	}
	pthread_mutex_lock(&tr->lock);
	if (tr->count >= tr->max_queued) {
		snprintf(why, why_len,
		         "refused: too many trace requests (traveler has %zu queued, its limit); "
		         "ask again later",
		         tr->count);
		rc = CT_ERR_AGAIN;
		goto out;
	}
	for (size_t i = 0; i < tr->count; i++)
		if (same_client(tr->ring[(tr->head + i) % tr->max_queued].reply_topic,
		                req->reply_topic))
			of_client++;
	if (tr->busy && same_client(tr->in_hand.reply_topic, req->reply_topic))
		of_client++;
	if (of_client >= tr->max_per_client) {
		snprintf(why, why_len,
		         "refused: too many trace requests from client %.*s (%zu in hand, the "
		         "limit per client); ask again after an answer",
		         (int)client_len(req->reply_topic), req->reply_topic + REPLY_PREFIX_LEN,
		         of_client);
		rc = CT_ERR_AGAIN;
		goto out;
	}
	job.request_id = strdup(req->request_id != NULL ? req->request_id : "");
	job.id = strdup(req->id != NULL ? req->id : "");
	job.reply_topic = strdup(req->reply_topic);
	job.direction = req->direction;
	job.max_depth = req->max_depth;
	if (job.request_id == NULL || job.id == NULL || job.reply_topic == NULL) {
		job_cleanup(&job);
		rc = CT_ERR_NOMEM;
		goto out;
	}
	tr->ring[(tr->head + tr->count) % tr->max_queued] = job; /* the ring owns it now */
	tr->count++;
	pthread_cond_signal(&tr->cond);
out:
	if (rc == CT_ERR_AGAIN)
		tr->stats.refused++;
	pthread_mutex_unlock(&tr->lock);
	return rc;
}

void traveler_tracer_refuse(struct traveler_tracer *tr, const Cellthread__V1__TraceRequest *req,
                            const char *why)
{
	Cellthread__V1__TraceResponse refused = CELLTHREAD__V1__TRACE_RESPONSE__INIT;

	refused.error = (char *)why;
	refused.id = req->id;
	refused.direction = req->direction;
	publish_response(tr, &refused, req->request_id, req->reply_topic);
}

void traveler_tracer_stats(struct traveler_tracer *tr, struct traveler_tracer_stats *ret)
{
	pthread_mutex_lock(&tr->lock);
	*ret = tr->stats;
	ret->queued = tr->count;
	pthread_mutex_unlock(&tr->lock);
}

void traveler_tracer_free(struct traveler_tracer *tr)
{
	size_t dropped;

	if (tr == NULL)
		return;
	pthread_mutex_lock(&tr->lock);
	tr->stop = 1;
	pthread_cond_broadcast(&tr->cond);
	pthread_mutex_unlock(&tr->lock);
	if (tr->thread_started)
		pthread_join(tr->thread, NULL);
	dropped = tr->count;
	for (size_t i = 0; i < tr->count && tr->ring != NULL; i++)
		job_cleanup(&tr->ring[(tr->head + i) % tr->max_queued]);
	if (dropped > 0)
		ct_warn("stopping: dropped %zu queued trace requests unanswered (their clients ask "
		        "again)",
		        dropped);
	free(tr->ring);
	free(tr->producer);
	ct_pg_free(tr->pg);
	pthread_cond_destroy(&tr->cond);
	pthread_mutex_destroy(&tr->lock);
	free(tr);
}
