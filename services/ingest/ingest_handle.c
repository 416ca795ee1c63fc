/* ingest_handle: what ct-ingest does with each received message (ingest.h).
 *
 * Edge messages are decoded by the topic's encoding (protobuf, or the JSON form), checked
 * (ingest_validate), de-duplicated by event ID and published on the plant tree; whatever is
 * refused is dead-lettered with the reason, and the loop goes on. Held lots: spc-gate's
 * retained LotStatus messages arrive through the same spool, in the broker's order, and update
 * the held-lot set (ingest_lots); an accepted result that consumed a held lot carries it in
 * held_lots. Before a batch's first lot message the set is copied, and a rewind starts again
 * from that copy, so each result is flagged by the holds that preceded it, as the first time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_dedup.h"
#include "ct_error.h"
#include "ct_json.h"
#include "ct_log.h"
#include "ct_map.h"
#include "ct_msg.h"
#include "ct_pb.h"
#include "ct_time.h"
#include "ct_topic.h"
#include "ingest.h"

/* Whether msg's event ID (in its header h) was seen before within the filter's window, and
 * then with other content (*ret_conflict); remembers it. The fingerprint covers the message
 * with the header's producer and produced_at_us cleared: a gateway resending the same content
 * later is a duplicate, one sending other content under the same ID is a conflict. Returns
 * CT_OK or CT_ERR_NOMEM. */
static int seen_before(struct ingest *in, const ProtobufCMessage *msg, Cellthread__V1__Header *h,
                       bool *ret_seen, bool *ret_conflict)
{
	char *producer = h->producer;
	int64_t produced_at_us = h->produced_at_us;
	uint8_t *buf = NULL;
	size_t len = 0;
	uint64_t fingerprint;
	int rc;

	h->producer = (char *)protobuf_c_empty_string;
	h->produced_at_us = 0;
	rc = ct_pb_pack(msg, &buf, &len);
	h->producer = producer;
	h->produced_at_us = produced_at_us;
	if (rc != CT_OK)
		return rc;
	fingerprint = ct_dedup_fingerprint(in->seen, buf, len);
	free(buf);
	*ret_seen =
	        ct_dedup_check_and_add_content(in->seen, h->event_id, fingerprint, ret_conflict);
	return CT_OK;
}

#define CONFLICT_REASON "header.event_id \"%s\": seen before with other content (the first kept)"

/* Empties the duplicate filter before a batch is handled again. Forgetting older IDs only
 * lets a late duplicate through to traveler, which is idempotent by event ID. */
static int reset_filter(struct ingest *in)
{
	ct_dedup_free(in->seen);
	in->seen = ct_dedup_new((size_t)in->cfg.dedup_capacity);
	return in->seen ? CT_OK : CT_ERR_NOMEM;
}

static int publish_message(struct ingest *in, const char *topic, const ProtobufCMessage *msg)
{
	return ct_loop_publish(&in->loop, topic, msg, false);
}

static int dead_letter(struct ingest *in, const char *source_topic, int reason_code,
                       const char *reason, const void *payload, size_t payload_len)
{
	in->dead_lettered++;
	return ct_loop_dead_letter(&in->loop, source_topic, reason_code, reason, payload,
	                           payload_len, (size_t)in->cfg.deadletter_payload_kib * 1024);
}

/* Validates each result of a batch on its own, so one bad result does not hold back the
 * good ones: bad results are dead-lettered one by one (packed alone, so they can be
 * replayed), duplicates dropped, the rest published as one canonical batch. */
static int handle_results(struct ingest *in, const char *topic, const struct ct_topic *where,
                          Cellthread__V1__StationResultBatch *batch, const uint8_t *payload,
                          size_t len)
{
	Cellthread__V1__StationResultBatch out = CELLTHREAD__V1__STATION_RESULT_BATCH__INIT;
	Cellthread__V1__StationResult **keep = NULL;
	struct ct_map in_batch; /* event IDs of this batch's accepted results -> index */
	char plant_topic[CT_TOPIC_MAX];
	int64_t now = ct_now_us();
	int rc = CT_OK;

	if (batch->n_results == 0 || batch->n_results > in->limits.max_results) {
		char reason[128];
		snprintf(reason, sizeof(reason), "results: %zu results, expected 1 to %zu",
		         batch->n_results, in->limits.max_results);
		return dead_letter(in, topic,
		                   CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_INVALID,
		                   reason, payload, len);
	}
	keep = calloc(batch->n_results, sizeof(*keep));
	if (keep == NULL)
		return CT_ERR_NOMEM;
	ct_map_init(&in_batch);
	for (size_t i = 0; i < batch->n_results; i++) {
		Cellthread__V1__StationResult *result = batch->results[i];
		Cellthread__V1__StationResultBatch one = CELLTHREAD__V1__STATION_RESULT_BATCH__INIT;
		char err[512];
		int why = 0;
		size_t first = 0;
		bool seen = false, conflict = false;

		rc = ingest_check_result(result, i, where, now, &in->limits, &why, err,
		                         sizeof(err));
		/* Two results of one batch under one event ID: the second would be dropped as a
		 * duplicate without a word, though it may say something else (JSON.md: a batch
		 * holds no two results with the same event ID). Told, not dropped. */
		if (rc == CT_OK && ct_map_get(&in_batch, result->header->event_id, &first)) {
			why = CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_INVALID;
			snprintf(err, sizeof(err),
			         "results[%zu].header.event_id: duplicate of results[%zu] in the "
			         "same "
			         "batch (\"%s\")",
			         i, first, result->header->event_id);
			rc = CT_ERR_INVALID;
		}
		if (rc == CT_OK && ct_map_put(&in_batch, result->header->event_id, i) != CT_OK) {
			rc = CT_ERR_NOMEM;
			goto out;
		}
		if (rc != CT_OK) {
			/* Dead-lettered alone, as a one-result batch, so it can be fixed and
			 * replayed on its own. */
			uint8_t *raw = NULL;
			size_t raw_len = 0;
			one.n_results = 1;
			one.results = &result;
			rc = ct_pb_pack(&one.base, &raw, &raw_len);
			if (rc == CT_OK)
				rc = dead_letter(in, topic, why, err, raw, raw_len);
			free(raw);
			if (rc != CT_OK)
				goto out;
			continue;
		}
		if ((rc = seen_before(in, &result->base, result->header, &seen, &conflict)) !=
		    CT_OK)
			goto out;
		if (seen && conflict) {
			uint8_t *raw = NULL;
			size_t raw_len = 0;
			snprintf(err, sizeof(err), "results[%zu]." CONFLICT_REASON, i,
			         result->header->event_id);
			in->conflicts++;
			one.n_results = 1;
			one.results = &result;
			rc = ct_pb_pack(&one.base, &raw, &raw_len);
			if (rc == CT_OK)
				rc = dead_letter(
				        in, topic,
				        CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_CONFLICT,
				        err, raw, raw_len);
			free(raw);
			if (rc != CT_OK)
				goto out;
			continue;
		}
		if (seen) {
			in->duplicates++;
			ct_debug("duplicate event %s dropped", result->header->event_id);
			continue;
		}
		rc = ingest_lots_mark_result(in->lots, result);
		if (rc != CT_OK)
			goto out;
		if (result->n_held_lots > 0) {
			in->flagged++;
			ct_debug("%s consumed %zu held lot(s), first %s", result->unit_id,
			         result->n_held_lots, result->held_lots[0]);
		}
		keep[out.n_results++] = result;
	}
	rc = CT_OK;
	if (out.n_results == 0)
		goto out;
	out.results = keep;
	rc = ct_topic_plant(plant_topic, sizeof(plant_topic), where->site, where->line,
	                    where->station, CT_KIND_RESULT);
	if (rc == CT_OK)
		rc = publish_message(in, plant_topic, &out.base);
	if (rc == CT_OK)
		in->accepted += out.n_results;
out:
	ct_map_cleanup(&in_batch);
	free(keep);
	return rc;
}

/* Decodes a payload by the topic's encoding into a message of the topic's kind. Returns
 * CT_OK or CT_ERR_DECODE with the reason in err. */
static int decode(const struct ct_topic *where, const uint8_t *payload, size_t len, size_t max_len,
                  ProtobufCMessage **ret, char *err, size_t err_len)
{
	const ProtobufCMessageDescriptor *desc = NULL;
	int rc;

	if (where->encoding == CT_ENC_JSON) {
		switch (where->kind) {
		case CT_KIND_RESULT:
			return ct_json_result_batch((const char *)payload, len,
			                            (Cellthread__V1__StationResultBatch **)ret, err,
			                            err_len);
		case CT_KIND_TELEMETRY:
			return ct_json_telemetry((const char *)payload, len,
			                         (Cellthread__V1__Telemetry **)ret, err, err_len);
		case CT_KIND_GENEALOGY:
			return ct_json_genealogy((const char *)payload, len,
			                         (Cellthread__V1__Genealogy **)ret, err, err_len);
		case CT_KIND_STATE:
			return ct_json_state((const char *)payload, len,
			                     (Cellthread__V1__StationState **)ret, err, err_len);
		case CT_KIND_ACK:
			return ct_json_ack((const char *)payload, len,
			                   (Cellthread__V1__CommandAck **)ret, err, err_len);
		default:
			return ct_set_error(err, err_len, CT_ERR_DECODE, "no JSON form for %s",
			                    ct_topic_kind_name(where->kind));
		}
	}
	desc = ct_msg_descriptor(where->kind);
	rc = ct_pb_unpack(desc, payload, len, max_len, ret);
	if (rc != CT_OK)
		ct_set_error(err, err_len, rc, "not a valid %s protobuf message", desc->name);
	return rc;
}

/* Applies a lot status to the held-lot set; a malformed one is dead-lettered. */
static int handle_lot_status(struct ingest *in, const char *topic, const uint8_t *payload,
                             size_t len)
{
	char err[512];
	int why = CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_INVALID;

	if (in->batch_start_lots == NULL) {
		in->batch_start_lots = ingest_lots_clone(in->lots);
		if (in->batch_start_lots == NULL)
			return CT_ERR_NOMEM;
	}
	if (ingest_lots_apply(in->lots, topic, payload, len, (size_t)in->cfg.max_payload_kib * 1024,
	                      &why, err, sizeof(err)) != CT_OK)
		return dead_letter(in, topic, why, err, payload, len);
	return CT_OK;
}

/* Checks a decoded single message (every kind but result) by its kind; its header in
 * *ret_header. Contract as ingest_check_telemetry. */
static int check_single(struct ingest *in, const struct ct_topic *where, ProtobufCMessage *msg,
                        Cellthread__V1__Header **ret_header, int *ret_reason, char *err,
                        size_t err_len)
{
	int64_t now = ct_now_us();
	int rc;

	switch (where->kind) {
	case CT_KIND_TELEMETRY: {
		Cellthread__V1__Telemetry *m = (Cellthread__V1__Telemetry *)msg;
		rc = ingest_check_telemetry(m, where, now, &in->limits, ret_reason, err, err_len);
		*ret_header = m->header;
		return rc;
	}
	case CT_KIND_GENEALOGY: {
		Cellthread__V1__Genealogy *m = (Cellthread__V1__Genealogy *)msg;
		rc = ingest_check_genealogy(m, where, now, &in->limits, ret_reason, err, err_len);
		*ret_header = m->header;
		return rc;
	}
	case CT_KIND_STATE: {
		Cellthread__V1__StationState *m = (Cellthread__V1__StationState *)msg;
		rc = ingest_check_state(m, where, now, &in->limits, ret_reason, err, err_len);
		*ret_header = m->header;
		return rc;
	}
	default: {
		Cellthread__V1__CommandAck *m = (Cellthread__V1__CommandAck *)msg;
		rc = ingest_check_ack(m, where, now, &in->limits, ret_reason, err, err_len);
		*ret_header = m->header;
		return rc;
	}
	}
}

/* Handles one received message. Returns CT_OK when it was published or dead-lettered;
 * an error only when publishing itself failed (the batch is then retried). */
static int handle_message(struct ingest *in, const char *topic, const uint8_t *payload, size_t len)
{
	struct ct_topic where;
	ProtobufCMessage *msg = NULL;
	Cellthread__V1__Header *header = NULL;
	char plant_topic[CT_TOPIC_MAX];
	char err[512];
	size_t max_len = (size_t)in->cfg.max_payload_kib * 1024;
	bool seen = false, conflict = false;
	int why = 0;
	int rc;

	if (ingest_lots_is_lot_topic(topic))
		return handle_lot_status(in, topic, payload, len);
	/* where is filled only when the topic parses: the reason comes from the parser then. */
	if (ct_topic_parse(topic, &where, err, sizeof(err)) != CT_OK)
		return dead_letter(in, topic,
		                   CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_TOPIC,
		                   err, payload, len);
	if (!where.is_edge)
		return dead_letter(in, topic,
		                   CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_TOPIC,
		                   "not an edge topic", payload, len);
	if (where.kind != CT_KIND_RESULT && where.kind != CT_KIND_TELEMETRY &&
	    where.kind != CT_KIND_GENEALOGY && where.kind != CT_KIND_STATE &&
	    where.kind != CT_KIND_ACK)
		return dead_letter(
		        in, topic, CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_TOPIC,
		        "ingest accepts result, telemetry, genealogy, state and ack", payload, len);
	if (len > max_len) {
		snprintf(err, sizeof(err), "payload of %zu bytes exceeds the limit of %zu", len,
		         max_len);
		return dead_letter(in, topic,
		                   CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_OVERSIZE,
		                   err, payload, len);
	}
	if (decode(&where, payload, len, max_len, &msg, err, sizeof(err)) != CT_OK)
		return dead_letter(in, topic,
		                   CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_DECODE,
		                   err, payload, len);
	if (where.kind == CT_KIND_RESULT) {
		rc = handle_results(in, topic, &where, (Cellthread__V1__StationResultBatch *)msg,
		                    payload, len);
		goto out;
	}
	if ((rc = check_single(in, &where, msg, &header, &why, err, sizeof(err))) != CT_OK) {
		if (rc == CT_ERR_INVALID)
			rc = dead_letter(in, topic, why, err, payload, len);
		goto out;
	}
	if ((rc = seen_before(in, msg, header, &seen, &conflict)) != CT_OK)
		goto out;
	if (seen && conflict) {
		snprintf(err, sizeof(err), CONFLICT_REASON, header->event_id);
		in->conflicts++;
		rc = dead_letter(in, topic,
		                 CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_CONFLICT,
		                 err, payload, len);
		goto out;
	}
	if (seen) {
		in->duplicates++;
		goto out;
	}
	rc = ct_topic_plant(plant_topic, sizeof(plant_topic), where.site, where.line, where.station,
	                    where.kind);
	if (rc == CT_OK)
		rc = publish_message(in, plant_topic, msg);
	if (rc == CT_OK)
		in->accepted++;
out:
	ct_pb_free(msg);
	return rc;
}

/* ct_loop's handle: every message of a batch. A batch that changes the held-lot set takes a
 * copy of the set as it was before it (its job), so a rewind can go back to the set at the
 * start of the oldest batch handled again. */
int ingest_handle_batch(void *ctx, const struct ct_spool_batch *batch, void **ret_job)
{
	struct ingest *in = ctx;
	int rc = CT_OK;

	in->batch_start_lots = NULL;
	for (size_t i = 0; i < batch->count && rc == CT_OK; i++)
		rc = handle_message(in, batch->records[i].topic, batch->records[i].payload,
		                    batch->records[i].payload_len);
	*ret_job = in->batch_start_lots; /* the loop's now, even when rc is an error */
	in->batch_start_lots = NULL;
	return rc;
}

int ingest_rewind(void *ctx, void *const *jobs, size_t n_jobs)
{
	struct ingest *in = ctx;

	/* The oldest copy is the set at the start of the first batch that changed it; the
	 * batches before that one did not change it. */
	for (size_t i = 0; i < n_jobs; i++) {
		struct ingest_lots *copy;
		if (jobs[i] == NULL)
			continue;
		if ((copy = ingest_lots_clone(jobs[i])) == NULL)
			return CT_ERR_NOMEM;
		ingest_lots_free(in->lots);
		in->lots = copy;
		break;
	}
	return reset_filter(in);
}

void ingest_discard(void *ctx, void *job)
{
	(void)ctx;
	ingest_lots_free(job);
}
