/* ct_loop: the durable consume -> handle -> publish -> commit-after-acknowledgement loop
 * (contract and design in ct_loop.h).
 *
 * State: a queue of batches handled and published but not yet acknowledged, oldest first,
 * each with its spool end position, its mark in the publish stream and the service's job.
 * Each turn: the service's tick; move the acknowledged batches on (commit, or hand the job
 * to the service); read the next batch (woken early by the acknowledgement of the oldest
 * awaited batch); handle it; queue it. Any failure of the broker to take a batch's messages
 * leads to one place, handle_again(). */
#include "ct_loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_log.h"
#include "ct_mqtt.h"
#include "ct_time.h"
#include "ct_topic.h"

#define REPORT_EVERY_MS 30000
/* Longest wait for the first record of a batch: the period of tick when nothing arrives. */
#define READ_TIMEOUT_MS 100

void ct_loop_init(struct ct_loop *loop, struct ct_service *svc,
                  const struct ct_loop_options *options, const struct ct_loop_handlers *handlers,
                  void *ctx)
{
	memset(loop, 0, sizeof(*loop));
	loop->svc = svc;
	loop->handlers = handlers;
	loop->ctx = ctx;
	loop->options = *options;
	loop->publish_timeout_ms = (int)svc->config->loop_publish_timeout_s * 1000;
}

size_t ct_loop_awaiting(const struct ct_loop *loop)
{
	return loop->n_awaiting;
}

int ct_loop_publish_timeout_ms(const struct ct_loop *loop)
{
	return loop->publish_timeout_ms;
}

int ct_loop_publish_raw(struct ct_loop *loop, const char *topic, const void *payload, size_t len,
                        bool retain)
{
	int rc = ct_mqtt_publish(loop->svc->mqtt, topic, payload, len, 1, retain,
	                         loop->publish_timeout_ms);

	if (rc == CT_OK || rc == CT_ERR_INVALID)
		return rc; /* an unsendable message was logged by ct_mqtt; the batch goes on */
	loop->publish_failed = true;
	return CT_ERR_UNACKED;
}

int ct_loop_publish(struct ct_loop *loop, const char *topic, const ProtobufCMessage *msg,
                    bool retain)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if ((rc = ct_pb_pack(msg, &buf, &len)) != CT_OK) {
		ct_error("out of memory encoding %s for %s", msg->descriptor->name, topic);
		loop->publish_failed = true; /* not sent: handle the batch again */
		return rc;
	}
	rc = ct_loop_publish_raw(loop, topic, buf, len, retain);
	free(buf);
	return rc;
}

int ct_loop_dead_letter(struct ct_loop *loop, const char *source_topic, int reason_code,
                        const char *reason, const void *payload, size_t len, size_t keep_bytes)
{
	Cellthread__V1__DeadLetter dl = CELLTHREAD__V1__DEAD_LETTER__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	char id[40], producer[CT_ID_MAX + 16], topic[CT_TOPIC_MAX];

	ct_warn("dead letter from %s: %s", source_topic, reason);
	snprintf(producer, sizeof(producer), "%s-%s", loop->svc->name, loop->svc->config->instance);
	snprintf(topic, sizeof(topic), CT_TOPIC_ROOT "/sys/deadletter/%s", loop->svc->name);
	ct_pb_header_fill(&header, id, sizeof(id), producer);
	dl.header = &header;
	dl.service = (char *)loop->svc->name;
	dl.source_topic = (char *)source_topic;
	dl.reason_code = (Cellthread__V1__DeadLetterReason)reason_code;
	dl.reason = (char *)reason;
	dl.payload.data = (uint8_t *)payload;
	dl.payload.len = len < keep_bytes ? len : keep_bytes;
	dl.payload_size = (uint32_t)len;
	dl.received_at_us = ct_now_us();
	return ct_loop_publish(loop, topic, &dl.base, false);
}

int ct_loop_flush(struct ct_loop *loop)
{
	/* The flush clears the client's failure count: keep the news for the batches that are
	 * still waiting for their acknowledgements. */
	if (ct_mqtt_flush(loop->svc->mqtt, loop->publish_timeout_ms) != CT_OK) {
		loop->publish_failed = true;
		return CT_ERR_UNACKED;
	}
	return CT_OK;
}

int ct_loop_commit(struct ct_loop *loop, uint64_t end_segment, uint64_t end_offset)
{
	struct ct_spool_batch position = {0};
	int rc;

	position.end_segment = end_segment;
	position.end_offset = end_offset;
	rc = ct_spool_commit_async(loop->svc->spool, &position);
	if (rc == CT_OK)
		ct_mqtt_note_progress(loop->svc->mqtt); /* the status's last_progress_at_us */
	return rc;
}

/* Moves every batch whose publishes the broker has acknowledged on, oldest first: to the
 * service's acked handler, or committed here (one cursor write for all of them, by the
 * spool's own thread: the write costs up to milliseconds on a busy disk, time a result
 * arriving meanwhile would otherwise wait). Returns CT_ERR_UNACKED when a publish failed or
 * the oldest batch waited longer than the publish timeout; else CT_OK or the error of a
 * commit or of the acked handler. */
static int move_acked(struct ct_loop *loop)
{
	const struct ct_loop_handlers *h = loop->handlers;
	size_t done = 0, last_position = 0;
	bool have_position = false;
	int rc = CT_OK;

	/* A publish failed (perhaps in tick, with nothing awaited): no use waiting for marks. */
	if (loop->publish_failed)
		return CT_ERR_UNACKED;
	while (done < loop->n_awaiting) {
		bool reached = false;
		if (ct_mqtt_mark_reached(loop->svc->mqtt, &loop->awaiting[done].mark, &reached) !=
		            CT_OK ||
		    loop->publish_failed) {
			rc = CT_ERR_UNACKED;
			break;
		}
		if (!reached) {
			if (ct_mono_ms() - loop->awaiting[done].since_ms > loop->publish_timeout_ms)
				rc = CT_ERR_UNACKED;
			break;
		}
		if (h->acked != NULL) {
			void *job = loop->awaiting[done].job;
			loop->awaiting[done].job = NULL;
			done++;
			if (job != NULL && (rc = h->acked(loop->ctx, job)) != CT_OK)
				break;
			continue;
		}
		if (loop->awaiting[done].has_position) {
			last_position = done;
			have_position = true;
		}
		done++;
	}
	if (have_position) {
		int commit_rc = ct_loop_commit(loop, loop->awaiting[last_position].end_segment,
		                               loop->awaiting[last_position].end_offset);
		if (commit_rc != CT_OK) {
			ct_error("cannot commit the spool position: %s", ct_strerror(commit_rc));
			return commit_rc;
		}
	}
	/* Committed (or handed to acked, which took the job): the jobs of the loop's own
	 * commits are done with. */
	for (size_t i = 0; i < done; i++)
		if (loop->awaiting[i].job != NULL && h->discard != NULL)
			h->discard(loop->ctx, loop->awaiting[i].job);
	memmove(loop->awaiting, loop->awaiting + done,
	        (loop->n_awaiting - done) * sizeof(loop->awaiting[0]));
	loop->n_awaiting -= done;
	return rc;
}

/* Drops the jobs of every batch still waiting for acknowledgements, and of a failed one. */
static void discard_awaiting(struct ct_loop *loop)
{
	const struct ct_loop_handlers *h = loop->handlers;

	for (size_t i = 0; i < loop->n_awaiting; i++)
		if (loop->awaiting[i].job != NULL && h->discard != NULL)
			h->discard(loop->ctx, loop->awaiting[i].job);
	loop->n_awaiting = 0;
	if (loop->failed_job != NULL && h->discard != NULL)
		h->discard(loop->ctx, loop->failed_job);
	loop->failed_job = NULL;
}

/* The broker did not take everything: handle every batch since the last commit again.
 * Returns CT_OK to go on, else the error to stop with. */
static int handle_again(struct ct_loop *loop)
{
	void *jobs[CT_LOOP_MAX_AWAITING + 1];
	size_t n_jobs = 0;
	int rc = CT_OK;

	ct_warn("published messages not acknowledged; handling the %zu batch(es) since the last "
	        "commit again",
	        loop->n_awaiting + (loop->failed_job != NULL ? 1 : 0));
	/* Settles what is in flight and clears the client's failure count. */
	ct_mqtt_flush(loop->svc->mqtt, loop->publish_timeout_ms);
	loop->publish_failed = false;
	for (size_t i = 0; i < loop->n_awaiting; i++)
		jobs[n_jobs++] = loop->awaiting[i].job;
	jobs[n_jobs++] = loop->failed_job; /* the newest: the batch whose handling failed */
	if (loop->handlers->rewind != NULL &&
	    (rc = loop->handlers->rewind(loop->ctx, jobs, n_jobs)) != CT_OK)
		ct_error("cannot go back to the last commit: %s", ct_strerror(rc));
	discard_awaiting(loop);
	if (rc == CT_OK)
		ct_spool_rewind(loop->svc->spool);
	return rc;
}

/* Queues a handled batch (with or without records) until its publishes are acknowledged. */
static int queue_handled(struct ct_loop *loop, const struct ct_spool_batch *batch, void *job)
{
	/* A full queue means the broker is far behind: wait for it rather than grow. */
	while (loop->n_awaiting == CT_LOOP_MAX_AWAITING) {
		int rc = ct_loop_flush(loop);
		if (rc == CT_OK)
			rc = move_acked(loop);
		if (rc != CT_OK) {
			loop->failed_job = job; /* the newest batch: handled again with the rest */
			return rc;
		}
	}
	loop->awaiting[loop->n_awaiting].job = job;
	loop->awaiting[loop->n_awaiting].has_position = batch->count > 0;
	loop->awaiting[loop->n_awaiting].end_segment = batch->end_segment;
	loop->awaiting[loop->n_awaiting].end_offset = batch->end_offset;
	ct_mqtt_mark(loop->svc->mqtt, &loop->awaiting[loop->n_awaiting].mark);
	loop->awaiting[loop->n_awaiting].since_ms = ct_mono_ms();
	loop->n_awaiting++;
	return CT_OK;
}

/* One turn: tick, move acknowledged batches on, read, handle, queue. Returns CT_OK, or
 * CT_ERR_UNACKED (handle again), or an error to stop with. */
static int turn(struct ct_loop *loop, struct ct_spool_batch *batch)
{
	const struct ct_loop_handlers *h = loop->handlers;
	void *job = NULL;
	int rc;

	if (h->tick != NULL && (rc = h->tick(loop->ctx)) != CT_OK)
		return rc;
	if ((rc = move_acked(loop)) != CT_OK)
		return rc;
	/* An acknowledgement of the oldest awaited batch wakes this read (move_acked asked for
	 * it through ct_mqtt_mark_reached): no polling. */
	rc = ct_spool_read(loop->svc->spool, loop->options.batch_records, loop->options.batch_bytes,
	                   READ_TIMEOUT_MS, batch);
	if (rc != CT_OK && rc != CT_ERR_CORRUPT) {
		ct_error("cannot read the spool: %s", ct_strerror(rc));
		return rc;
	}
	if (batch->count == 0 && (h->has_work == NULL || !h->has_work(loop->ctx))) {
		/* Nothing to do counts as progress only when nothing is waiting either: no batch
		 * awaiting its acknowledgements, nothing in the spool left to commit (a service's
		 * own saver may still hold some). */
		if (loop->n_awaiting == 0 && ct_spool_backlog_bytes(loop->svc->spool) == 0)
			ct_mqtt_note_progress(loop->svc->mqtt);
		return CT_OK;
	}
	rc = h->handle(loop->ctx, batch, &job);
	if (rc == CT_OK && loop->publish_failed)
		rc = CT_ERR_UNACKED;
	if (rc != CT_OK) {
		/* Kept for rewind (handle_again discards it), or dropped when the service stops. */
		loop->failed_job = job;
		return rc;
	}
	return queue_handled(loop, batch, job);
}

static bool is_unacked(int rc)
{
	return rc == CT_ERR_UNACKED || rc == CT_ERR_MQTT || rc == CT_ERR_TIMEOUT;
}

int ct_loop_run(struct ct_loop *loop)
{
	const struct ct_loop_handlers *h = loop->handlers;
	struct ct_spool_batch batch;
	int64_t next_report = ct_mono_ms() + REPORT_EVERY_MS;
	int rc = CT_OK;

	memset(&batch, 0, sizeof(batch));
	while (!ct_service_stop) {
		rc = turn(loop, &batch);
		if (rc == CT_ERR_AGAIN)
			rc = CT_OK;
		if (is_unacked(rc))
			rc = handle_again(loop);
		if (rc != CT_OK)
			break;
		if (h->report != NULL && ct_mono_ms() >= next_report) {
			h->report(loop->ctx);
			next_report = ct_mono_ms() + REPORT_EVERY_MS;
		}
	}
	if (rc == CT_ERR_STOPPED)
		rc = CT_OK;
	/* A clean stop moves on what the broker has taken; the rest is handled again at the
	 * next start, nothing lost. */
	if (rc == CT_OK && ct_loop_flush(loop) == CT_OK) {
		int acked_rc = move_acked(loop);
		if (!is_unacked(acked_rc))
			rc = acked_rc;
	}
	discard_awaiting(loop);
	if (h->finish != NULL) {
		int finish_rc = h->finish(loop->ctx);
		if (rc == CT_OK)
			rc = finish_rc;
	}
	ct_spool_batch_cleanup(&batch);
	return rc;
}
