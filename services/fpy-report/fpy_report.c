/* fpy_report: ct-fpy-report's handlers on the runtime's loop (design in main.c's header).
 *
 * handle counts each VerdictBatch into windows of verdict time (fpy.c) and dead-letters what
 * it cannot use; every handled batch becomes a job that reaches acked once the broker has
 * taken its dead letters. tick publishes the windows whose time has passed, waits for the
 * broker to take them, and commits the spool up to the acknowledged batches whose windows are
 * all published. rewind forgets the open windows: the loop handles those batches again. */
#include "fpy_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellthread/v1/example.pb-c.h"
#include "ct_error.h"
#include "ct_log.h"
#include "ct_time.h"
#include "ct_topic.h"

#define DEADLETTER_CAP (64 * 1024) /* bytes of a refused payload a dead letter keeps */
#define REASON(r)      CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_##r

/* A handled batch: its spool end and the newest window it counted into. */
struct batch_job {
	uint64_t end_segment, end_offset;
	int64_t newest_window_us;
};

static int dead_letter(struct fpy_report *r, const char *topic, int reason_code, const char *reason,
                       const void *payload, size_t len)
{
	r->dead_lettered++;
	return ct_loop_dead_letter(&r->loop, topic, reason_code, reason, payload, len,
	                           DEADLETTER_CAP);
}

/* Counts one VerdictBatch, or dead-letters it whole. *newest: the newest window counted into. */
static int handle_message(struct fpy_report *r, const struct ct_spool_record *rec, int64_t *newest)
{
	Cellthread__V1__VerdictBatch *vb = NULL;
	struct ct_topic where;
	size_t max_len = (size_t)r->cfg.max_payload_kib * 1024;
	char err[256];
	int rc = CT_OK;

	if (ct_topic_parse(rec->topic, &where, err, sizeof(err)) != CT_OK || where.is_edge ||
	    where.kind != CT_KIND_VERDICT)
		return dead_letter(r, rec->topic, REASON(TOPIC), "not a plant verdict topic",
		                   rec->payload, rec->payload_len);
	if (ct_pb_unpack(&cellthread__v1__verdict_batch__descriptor, rec->payload, rec->payload_len,
	                 max_len, (ProtobufCMessage **)&vb) != CT_OK)
		return dead_letter(r, rec->topic,
		                   rec->payload_len > max_len ? REASON(OVERSIZE) : REASON(DECODE),
		                   "not a VerdictBatch of at most fpy.max_payload_kib",
		                   rec->payload, rec->payload_len);
	/* Checked whole first, so a refused message counts nothing. */
	for (size_t i = 0; i < vb->n_verdicts && rc == CT_OK; i++)
		rc = fpy_check_verdict(vb->verdicts[i], where.site, where.line, where.station, err,
		                       sizeof(err));
	if (rc != CT_OK) {
		rc = dead_letter(r, rec->topic, REASON(INVALID), err, rec->payload,
		                 rec->payload_len);
		goto out;
	}
	for (size_t i = 0; i < vb->n_verdicts && rc == CT_OK; i++) {
		int64_t window;
		rc = fpy_add(&r->fpy, vb->verdicts[i], &window);
		if (rc == CT_OK && window > *newest)
			*newest = window;
	}
out:
	ct_pb_free(&vb->base);
	return rc;
}

static size_t batch_bytes(const struct ct_spool_batch *batch)
{
	size_t bytes = 0;

	for (size_t i = 0; i < batch->count; i++)
		bytes += batch->records[i].payload_len;
	return bytes;
}

static int handle(void *ctx, const struct ct_spool_batch *batch, void **ret_job)
{
	struct fpy_report *r = ctx;
	int64_t newest = FPY_NO_WINDOW;
	struct batch_job *job;
	int rc = CT_OK;

	/* A batch cut at either limit (records, or near the loop's byte limit: the spool stops
	 * before a record that would not fit) means more may be waiting: windows stay open until
	 * a read comes back short. */
	r->behind = batch->count >= (size_t)r->cfg.batch_records ||
	            batch_bytes(batch) >= r->loop.options.batch_bytes / 2;
	for (size_t i = 0; i < batch->count && rc == CT_OK; i++)
		rc = handle_message(r, &batch->records[i], &newest);
	if (rc != CT_OK || batch->count == 0)
		return rc;
	/* The job carries the batch's position to acked: the loop leaves committing to us. */
	if ((job = malloc(sizeof(*job))) == NULL)
		return CT_ERR_NOMEM;
	job->end_segment = batch->end_segment;
	job->end_offset = batch->end_offset;
	job->newest_window_us = newest;
	*ret_job = job;
	return CT_OK;
}

static int acked(void *ctx, void *job)
{
	struct fpy_report *r = ctx;
	struct batch_job *b = job;
	int rc = fpy_pending_add(&r->fpy, b->end_segment, b->end_offset, b->newest_window_us);

	free(b);
	return rc;
}

static void discard(void *ctx, void *job)
{
	(void)ctx;
	free(job);
}

static int publish_yield(struct fpy_report *r, const struct fpy_yield *y)
{
	Cellthread__V1__StationYield msg = CELLTHREAD__V1__STATION_YIELD__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	char id[CT_DERIVED_ID_MAX], start[24], topic[CT_TOPIC_MAX];
	const char *parts[] = {y->site, y->line, y->station, start};
	int rc;

	snprintf(start, sizeof(start), "%lld", (long long)y->window_start_us);
	if ((rc = ct_id_derive(id, sizeof(id), "fpy-", parts, 4)) != CT_OK ||
	    (rc = ct_topic_plant_name(topic, sizeof(topic), y->site, y->line, y->station, "fpy")) !=
	            CT_OK)
		return rc;
	header.event_id = id;
	header.producer = r->producer;
	header.produced_at_us = ct_now_us();
	header.schema_version = 1;
	msg.header = &header;
	msg.site = (char *)y->site;
	msg.line = (char *)y->line;
	msg.station = (char *)y->station;
	msg.window_start_us = y->window_start_us;
	msg.window_end_us = y->window_end_us;
	msg.units_judged = y->units_judged;
	msg.units_passed_first = y->units_passed_first;
	msg.first_pass_yield = fpy_ratio(y);
	ct_info("%s %s/%s/%s: %u of %u passed first time", id, y->site, y->line, y->station,
	        y->units_passed_first, y->units_judged);
	r->published++;
	return ct_loop_publish(&r->loop, topic, &msg.base, false);
}

/* Commits the batches whose windows are all closed and acknowledged. */
static int commit_closed(struct fpy_report *r)
{
	uint64_t segment, offset;

	if (!fpy_pending_take(&r->fpy, &segment, &offset))
		return CT_OK;
	return ct_loop_commit(&r->loop, segment, offset);
}

/* Every turn: publish the windows whose time has passed, wait for the broker to take them,
 * then commit what they counted. A failed publish makes the loop handle everything since the
 * last commit again. */
static int tick(void *ctx)
{
	struct fpy_report *r = ctx;
	struct fpy_yield *yields = NULL;
	size_t n = 0;
	int rc;

	if (r->behind || ct_now_us() < r->hold_until_us)
		return CT_OK;
	if ((rc = fpy_close(&r->fpy, ct_now_us(), &yields, &n)) != CT_OK)
		return rc;
	for (size_t i = 0; i < n && rc == CT_OK; i++)
		rc = publish_yield(r, &yields[i]);
	free(yields);
	if (rc == CT_OK && n > 0)
		rc = ct_loop_flush(&r->loop);
	if (rc != CT_OK)
		return rc; /* the loop rewinds: the closed windows are made again from the replay */
	fpy_published(&r->fpy);
	return commit_closed(r);
}

/* A turn with an empty read tells handle the loop has caught up. */
static bool has_work(void *ctx)
{
	return ((struct fpy_report *)ctx)->behind;
}

/* Handled again from the last commit: open windows start empty, and stay open until the
 * replay is read. */
static int rewind_windows(void *ctx, void *const *jobs, size_t n_jobs)
{
	struct fpy_report *r = ctx;

	(void)jobs; /* batch positions, discarded by the loop: the replay makes them again */
	(void)n_jobs;
	fpy_rewind(&r->fpy);
	r->behind = true;
	return CT_OK;
}

static void report(void *ctx)
{
	struct fpy_report *r = ctx;

	ct_info("verdicts counted %lu, judged again %lu, late %lu; yields published %lu; "
	        "dead-lettered %lu; %zu windows open",
	        r->fpy.counted, r->fpy.rejudged, r->fpy.late, r->published, r->dead_lettered,
	        r->fpy.n_windows);
}

/* At the stop: commit what is published; open windows are counted again at the next start. */
static int finish(void *ctx)
{
	report(ctx);
	return commit_closed(ctx);
}

const struct ct_loop_handlers fpy_report_handlers = {
        .handle = handle,
        .acked = acked,
        .discard = discard,
        .rewind = rewind_windows,
        .tick = tick,
        .has_work = has_work,
        .report = report,
        .finish = finish,
};
