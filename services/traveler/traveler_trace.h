/* traveler_trace: ct-traveler's trace worker, which answers TraceRequests on a thread of its
 * own so that no number of them delays storage.
 *
 * The loop thread submits each request (traveler_tracer_submit copies what it needs, so the
 * decoded message may be freed at once); the request is queued, or refused at once when the
 * queue holds max_queued requests or its client already has max_per_client requests queued
 * or being answered. The worker takes one request at a time, runs ct_trace_run on its own
 * PostgreSQL connection and publishes the response with ct_mqtt_publish (thread-safe), never
 * through the loop's publish tracking: a lost response is the client's to retry, not a
 * reason to store a batch again.
 *
 * The client is the first level after ct/v1/sys/reply/ of the request's reply topic (the
 * broker lets a client read only the reply topics under its own client ID).
 *
 * Threads: submit, refuse, stats and free are for the loop thread; the worker touches only
 * its own connection, the queue (under the tracer's mutex) and the MQTT client. */
#ifndef TRAVELER_TRACE_H
#define TRAVELER_TRACE_H

#include <stddef.h>

#include "ct_mqtt.h"
#include "ct_pb.h"
#include "ct_trace.h"

struct traveler_tracer;

struct traveler_tracer_options {
	const char *pg_conninfo; /* the service's connection string and password (copied) */
	const char *pg_password;
	const char *producer; /* header.producer of the responses (copied) */
	struct ct_trace_limits limits;
	size_t max_queued;      /* requests queued in total at most (traveler.trace_queue) */
	size_t max_per_client;  /* queued or in hand per client at most (traveler.trace_per_client)
	                         */
	int publish_timeout_ms; /* flow-control wait of a response's publish */
};

/* What the tracer did so far (counters since start). */
struct traveler_tracer_stats {
	unsigned long answered; /* responses published by the worker (ok or not) */
	unsigned long failed;   /* of those, answered with a database error */
	unsigned long refused;  /* refused with a "too many requests" response */
	unsigned long queued;   /* requests waiting now */
};

/* Creates the tracer and starts its worker thread, which publishes with mqtt (not owned; it
 * must outlive the tracer). The database is connected lazily by the worker. Returns NULL
 * with the reason in err (no memory, no thread). */
struct traveler_tracer *traveler_tracer_new(const struct traveler_tracer_options *options,
                                            struct ct_mqtt *mqtt, char *err, size_t err_len);
/* Queues req (its fields are copied; the caller keeps req). Returns CT_OK when queued;
 * CT_ERR_AGAIN when refused by a limit, with the reason in why (for the refusal response);
 * CT_ERR_INVALID when its reply topic is not one traveler answers (logged; no answer is
 * possible); CT_ERR_NOMEM. */
int traveler_tracer_submit(struct traveler_tracer *tracer, const Cellthread__V1__TraceRequest *req,
                           char *why, size_t why_len);
/* Publishes at once a TraceResponse to req's reply topic with ok=false and error `why`
 * (a request submit refused). A failed publish is logged and ignored: the client retries. */
void traveler_tracer_refuse(struct traveler_tracer *tracer, const Cellthread__V1__TraceRequest *req,
                            const char *why);
void traveler_tracer_stats(struct traveler_tracer *tracer, struct traveler_tracer_stats *ret);
/* Stops the worker: the request in hand is answered, the queued ones are dropped (counted
 * in a log line; their clients retry), the thread is joined and everything freed. NULL is a
 * no-op. */
void traveler_tracer_free(struct traveler_tracer *tracer);

#endif
