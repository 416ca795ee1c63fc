/* ct-ingest: the edge. Validates station data as gateways send it and publishes the
 * canonical messages; refused input goes to the dead-letter topic with the reason.
 *
 * Loop: read a batch of received messages from the durable spool, handle each (decode,
 * validate, drop duplicates, publish canonical or dead letter), wait until the broker has
 * acknowledged every publish, then commit the spool position. A crash between publish and
 * commit replays the batch on restart; downstream is idempotent by event ID, so the replay
 * duplicates nothing. When a batch must be handled again in the same process, the duplicate
 * filter is emptied first, so the retry is not mistaken for duplicates of itself.
 *
 * Held lots: spc-gate's retained LotStatus messages (ct/v1/lot/+/+) arrive through the same
 * spool as edge data, in the broker's order, and update the held-lot set (ingest_lots); an
 * accepted result that consumed a held lot carries it in held_lots. Before a batch's first
 * lot message the set is copied, and a retried batch starts again from that copy, so each
 * result is flagged by the holds that preceded it, as the first time. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_log.h"
#include "ct_pb.h"
#include "ct_service.h"
#include "ct_time.h"
#include "ct_topic.h"
#include "ingest_dedup.h"
#include "ingest_json.h"
#include "ingest_lots.h"
#include "ingest_validate.h"

#define SERVICE_NAME       "ingest"
#define PUBLISH_TIMEOUT_MS 60000
/* Batches published and not yet acknowledged, at most. */
#define MAX_AWAITING 64

struct ingest_config {
	long max_payload_kib;
	long deadletter_payload_kib;
	long dedup_capacity;
	long max_future_s;
	long max_past_s;
	long batch_records;
};

#define KEY(name, type, field, def, lo, hi, help)                                                  \
	{                                                                                          \
		name, type, offsetof(struct ingest_config, field), def, lo, hi, help               \
	}

static const struct ct_config_key ingest_keys[] = {
        KEY("ingest.max_payload_kib", CT_CONF_INT, max_payload_kib, "1024", 1, 65536,
            "largest accepted payload; larger ones are dead-lettered"),
        KEY("ingest.deadletter_payload_kib", CT_CONF_INT, deadletter_payload_kib, "64", 0, 65536,
            "how much of a refused payload the dead letter keeps"),
        KEY("ingest.dedup_capacity", CT_CONF_INT, dedup_capacity, "65536", 1024, 67108864,
            "event IDs remembered to drop duplicates"),
        KEY("ingest.max_future_s", CT_CONF_INT, max_future_s, "300", 0, 86400,
            "timestamps later than now + this are refused (clock skew)"),
        KEY("ingest.max_past_s", CT_CONF_INT, max_past_s, "2592000", 60, 315360000,
            "timestamps earlier than now - this are refused"),
        KEY("ingest.batch_records", CT_CONF_INT, batch_records, "512", 1, 100000,
            "messages handled per spool batch"),
};

/* Per-process state of the loop. */
struct ingest {
	struct ct_service svc;
	struct ingest_config cfg;
	struct ingest_limits limits;
	struct ingest_dedup *seen; /* recent event IDs */
	struct ingest_lots *lots;  /* held lots, from spc-gate's lot status */
	/* Copy of the held-lot set as it was at the last spool commit (taken before the first
	 * lot message after it), to handle everything since then again after a failure. */
	struct ingest_lots *lots_at_batch_start;
	/* Batches published, waiting for the broker's acknowledgements before their spool
	 * position is committed; the loop goes on reading meanwhile. */
	struct {
		uint64_t end_segment, end_offset;
		struct ct_mqtt_mark mark;
		int64_t since_ms;
	} awaiting[MAX_AWAITING];
	size_t n_awaiting;
	char producer[CT_ID_MAX + 16];
	/* Counters for the periodic log line. */
	unsigned long accepted, duplicates, dead_lettered, flagged;
};

/* True when id was seen before within the filter's window (and remembers it). */
static bool is_duplicate(struct ingest *in, const char *id)
{
	return ingest_dedup_check_and_add(in->seen, id);
}

/* Empties the duplicate filter before a batch is handled again. Forgetting older IDs only
 * lets a late duplicate through to traveler, which is idempotent by event ID. */
static int reset_filter(struct ingest *in)
{
	ingest_dedup_free(in->seen);
	in->seen = ingest_dedup_new((size_t)in->cfg.dedup_capacity);
	return in->seen ? CT_OK : CT_ERR_NOMEM;
}

static int publish_message(struct ingest *in, const char *topic, const ProtobufCMessage *msg)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = ct_pb_pack(msg, &buf, &len);
	if (rc != CT_OK)
		return rc;
	rc = ct_mqtt_publish(in->svc.mqtt, topic, buf, len, 1, false, PUBLISH_TIMEOUT_MS);
	free(buf);
	return rc;
}

static int dead_letter(struct ingest *in, const char *source_topic, int reason_code,
                       const char *reason, const void *payload, size_t payload_len)
{
	Cellthread__V1__DeadLetter dl = CELLTHREAD__V1__DEAD_LETTER__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	char id[40];
	size_t cap = (size_t)in->cfg.deadletter_payload_kib * 1024;

	ct_pb_header_fill(&header, id, sizeof(id), in->producer);
	dl.header = &header;
	dl.service = (char *)SERVICE_NAME;
	dl.source_topic = (char *)source_topic;
	dl.reason_code = (Cellthread__V1__DeadLetterReason)reason_code;
	dl.reason = (char *)reason;
	dl.payload.data = (uint8_t *)payload;
	dl.payload.len = payload_len < cap ? payload_len : cap;
	dl.payload_size = (uint32_t)payload_len;
	dl.received_at_us = ct_now_us();
	in->dead_lettered++;
	ct_warn("dead letter from %s: %s", source_topic, reason);
	return publish_message(in, CT_TOPIC_ROOT "/sys/deadletter/" SERVICE_NAME, &dl.base);
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
	for (size_t i = 0; i < batch->n_results; i++) {
		Cellthread__V1__StationResult *result = batch->results[i];
		Cellthread__V1__StationResultBatch one = CELLTHREAD__V1__STATION_RESULT_BATCH__INIT;
		char err[512];
		int why = 0;

		if (ingest_check_result(result, i, where, now, &in->limits, &why, err,
		                        sizeof(err)) != CT_OK) {
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
		if (is_duplicate(in, result->header->event_id)) {
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
			return ingest_json_result_batch((const char *)payload, len,
			                                (Cellthread__V1__StationResultBatch **)ret,
			                                err, err_len);
		case CT_KIND_TELEMETRY:
			return ingest_json_telemetry((const char *)payload, len,
			                             (Cellthread__V1__Telemetry **)ret, err,
			                             err_len);
		default:
			return ingest_json_genealogy((const char *)payload, len,
			                             (Cellthread__V1__Genealogy **)ret, err,
			                             err_len);
		}
	}
	switch (where->kind) {
	case CT_KIND_RESULT:
		desc = &cellthread__v1__station_result_batch__descriptor;
		break;
	case CT_KIND_TELEMETRY:
		desc = &cellthread__v1__telemetry__descriptor;
		break;
	default:
		desc = &cellthread__v1__genealogy__descriptor;
		break;
	}
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

	if (in->lots_at_batch_start == NULL) {
		in->lots_at_batch_start = ingest_lots_clone(in->lots);
		if (in->lots_at_batch_start == NULL)
			return CT_ERR_NOMEM;
	}
	if (ingest_lots_apply(in->lots, topic, payload, len, (size_t)in->cfg.max_payload_kib * 1024,
	                      &why, err, sizeof(err)) != CT_OK)
		return dead_letter(in, topic, why, err, payload, len);
	return CT_OK;
}

/* Handles one received message. Returns CT_OK when it was published or dead-lettered;
 * an error only when publishing itself failed (the batch is then retried). */
static int handle_message(struct ingest *in, const char *topic, const uint8_t *payload, size_t len)
{
	struct ct_topic where;
	ProtobufCMessage *msg = NULL;
	char err[512];
	size_t max_len = (size_t)in->cfg.max_payload_kib * 1024;
	int why = 0;
	int rc;

	if (ingest_lots_is_lot_topic(topic))
		return handle_lot_status(in, topic, payload, len);
	if (ct_topic_parse(topic, &where, err, sizeof(err)) != CT_OK || !where.is_edge)
		return dead_letter(in, topic,
		                   CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_TOPIC,
		                   where.is_edge ? err : "not an edge topic", payload, len);
	if (where.kind != CT_KIND_RESULT && where.kind != CT_KIND_TELEMETRY &&
	    where.kind != CT_KIND_GENEALOGY)
		return dead_letter(in, topic,
		                   CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_TOPIC,
		                   "ingest accepts result, telemetry and genealogy", payload, len);
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
	} else {
		char plant_topic[CT_TOPIC_MAX];
		const Cellthread__V1__Header *header;
		if (where.kind == CT_KIND_TELEMETRY)
			rc = ingest_check_telemetry((Cellthread__V1__Telemetry *)msg, &where,
			                            ct_now_us(), &in->limits, &why, err,
			                            sizeof(err));
		else
			rc = ingest_check_genealogy((Cellthread__V1__Genealogy *)msg, &where,
			                            ct_now_us(), &in->limits, &why, err,
			                            sizeof(err));
		if (rc != CT_OK) {
			rc = dead_letter(in, topic, why, err, payload, len);
			goto out;
		}
		header = where.kind == CT_KIND_TELEMETRY
		                 ? ((Cellthread__V1__Telemetry *)msg)->header
		                 : ((Cellthread__V1__Genealogy *)msg)->header;
		if (is_duplicate(in, header->event_id)) {
			in->duplicates++;
			goto out;
		}
		rc = ct_topic_plant(plant_topic, sizeof(plant_topic), where.site, where.line,
		                    where.station, where.kind);
		if (rc == CT_OK)
			rc = publish_message(in, plant_topic, msg);
		if (rc == CT_OK)
			in->accepted++;
	}
out:
	ct_pb_free(msg);
	return rc;
}

/* Commits the spool position of every batch whose messages the broker has acknowledged,
 * oldest first. Returns CT_ERR_MQTT when a publish failed or a batch waited longer than
 * PUBLISH_TIMEOUT_MS, CT_ERR_IO when the commit failed. */
static int commit_acked(struct ingest *in)
{
	size_t done = 0;
	int rc = CT_OK;

	while (done < in->n_awaiting) {
		bool reached = false;
		rc = ct_mqtt_mark_reached(in->svc.mqtt, &in->awaiting[done].mark, &reached);
		if (rc != CT_OK)
			break;
		if (!reached) {
			if (ct_mono_ms() - in->awaiting[done].since_ms > PUBLISH_TIMEOUT_MS)
				rc = CT_ERR_TIMEOUT;
			break;
		}
		done++;
	}
	/* One cursor write for all of them, by the spool's own thread: the write (a new file and
	 * a rename) costs up to milliseconds on a busy disk, time a result arriving meanwhile
	 * would otherwise wait. */
	if (done > 0) {
		struct ct_spool_batch position = {0};
		position.end_segment = in->awaiting[done - 1].end_segment;
		position.end_offset = in->awaiting[done - 1].end_offset;
		int commit_rc = ct_spool_commit_async(in->svc.spool, &position);
		if (commit_rc != CT_OK)
			return commit_rc;
		memmove(in->awaiting, in->awaiting + done,
		        (in->n_awaiting - done) * sizeof(in->awaiting[0]));
		in->n_awaiting -= done;
		if (in->n_awaiting == 0 && rc == CT_OK) {
			ingest_lots_free(in->lots_at_batch_start);
			in->lots_at_batch_start = NULL;
		}
	}
	return rc;
}

/* The broker did not take everything: handle all batches since the last commit again, from
 * the held lots as they were then. */
static int retry_from_commit(struct ingest *in, int why)
{
	ct_warn("published messages not acknowledged (%s); handling the %zu batches since the "
	        "last commit again",
	        ct_strerror(why), in->n_awaiting + 1);
	ct_mqtt_flush(in->svc.mqtt, PUBLISH_TIMEOUT_MS); /* settles what is in flight */
	in->n_awaiting = 0;
	ct_spool_rewind(in->svc.spool);
	if (in->lots_at_batch_start != NULL) {
		ingest_lots_free(in->lots);
		in->lots = in->lots_at_batch_start;
		in->lots_at_batch_start = NULL;
	}
	return reset_filter(in);
}

/* After a failed step of the loop: a spool that cannot be committed stops the service;
 * anything else (a publish not acknowledged) is handled again from the last commit.
 * Returns CT_OK to go on, else the error to stop with. */
static int recover(struct ingest *in, int rc)
{
	if (rc == CT_ERR_IO) {
		ct_error("cannot commit the spool position: %s", ct_strerror(rc));
		return rc;
	}
	if ((rc = retry_from_commit(in, rc)) != CT_OK)
		ct_error("out of memory for the duplicate filter");
	return rc;
}

static int run(struct ingest *in)
{
	struct ct_spool_batch batch;
	int64_t next_report = ct_mono_ms() + 30000;
	int rc = CT_OK;

	memset(&batch, 0, sizeof(batch));
	while (!ct_service_stop) {
		/* Commit what the broker has acknowledged, then read on: a result arriving now
		 * does not wait for the previous batch's acknowledgements. */
		rc = commit_acked(in);
		if (rc != CT_OK) {
			if ((rc = recover(in, rc)) != CT_OK)
				break;
			continue;
		}
		/* An acknowledgement of the oldest awaited batch wakes this read
		 * (ct_mqtt_mark_reached asked for it): no polling. */
		rc = ct_spool_read(in->svc.spool, (size_t)in->cfg.batch_records, 4u << 20, 200,
		                   &batch);
		if (rc != CT_OK && rc != CT_ERR_CORRUPT) {
			ct_error("cannot read the spool: %s", ct_strerror(rc));
			break;
		}
		rc = CT_OK;
		if (batch.count == 0)
			goto report;
		/* A full queue means the broker is far behind: wait for it rather than grow. */
		if (in->n_awaiting == MAX_AWAITING &&
		    (rc = ct_mqtt_flush(in->svc.mqtt, PUBLISH_TIMEOUT_MS)) == CT_OK)
			rc = commit_acked(in);
		for (size_t i = 0; i < batch.count && rc == CT_OK; i++)
			rc = handle_message(in, batch.records[i].topic, batch.records[i].payload,
			                    batch.records[i].payload_len);
		if (rc != CT_OK) {
			if ((rc = recover(in, rc)) != CT_OK)
				break;
			continue;
		}
		in->awaiting[in->n_awaiting].end_segment = batch.end_segment;
		in->awaiting[in->n_awaiting].end_offset = batch.end_offset;
		ct_mqtt_mark(in->svc.mqtt, &in->awaiting[in->n_awaiting].mark);
		in->awaiting[in->n_awaiting].since_ms = ct_mono_ms();
		in->n_awaiting++;
	report:
		if (ct_mono_ms() >= next_report) {
			ct_info("accepted %lu (%lu with held lots), duplicates dropped %lu, "
			        "dead-lettered %lu, %zu lots held",
			        in->accepted, in->flagged, in->duplicates, in->dead_lettered,
			        ingest_lots_count(in->lots));
			next_report = ct_mono_ms() + 30000;
		}
	}
	/* A clean stop commits what the broker has taken; the rest is handled again at start. */
	if (rc == CT_OK && ct_mqtt_flush(in->svc.mqtt, PUBLISH_TIMEOUT_MS) == CT_OK)
		rc = commit_acked(in);
	if (rc == CT_ERR_MQTT || rc == CT_ERR_TIMEOUT)
		rc = CT_OK; /* not acknowledged: replayed at the next start, nothing lost */
	ct_spool_batch_cleanup(&batch);
	return rc;
}

int main(int argc, char **argv)
{
	static const char *const subscriptions[] = {CT_TOPIC_ROOT "/edge/#",
	                                            CT_TOPIC_ROOT "/lot/+/+"};
	struct ct_common_config common;
	struct ingest in;
	struct ct_config_table own = {ingest_keys, sizeof(ingest_keys) / sizeof(ingest_keys[0]),
	                              &in.cfg};
	char err[512];
	int exit_code = 1;
	int rc;

	memset(&common, 0, sizeof(common));
	memset(&in, 0, sizeof(in));
	rc = ct_service_load_config(SERVICE_NAME, &common, &own, argc, argv);
	if (rc != 0) {
		exit_code = rc == CT_ERR_STOPPED ? 0 : 2; /* --help, or a config error */
		goto out;
	}
	ct_service_install_signals();
	ingest_limits_init(&in.limits);
	in.limits.max_future_us = in.cfg.max_future_s * 1000000LL;
	in.limits.max_past_us = in.cfg.max_past_s * 1000000LL;
	snprintf(in.producer, sizeof(in.producer), "%s-%s", SERVICE_NAME, common.instance);
	in.seen = ingest_dedup_new((size_t)in.cfg.dedup_capacity);
	in.lots = ingest_lots_new();
	if (in.seen == NULL || in.lots == NULL) {
		ct_error("out of memory for the duplicate filter or the held-lot set");
		goto out;
	}
	rc = ct_service_start(&in.svc, SERVICE_NAME, &common, subscriptions,
	                      sizeof(subscriptions) / sizeof(subscriptions[0]), 60000, err,
	                      sizeof(err));
	if (rc == CT_ERR_STOPPED) {
		exit_code = 0; /* asked to stop while connecting */
		goto out;
	}
	if (rc != CT_OK) {
		ct_error("cannot start: %s", err);
		goto out;
	}
	ct_info("ready: %s -> %s (held lots from %s)", subscriptions[0], CT_TOPIC_ROOT "/plant/...",
	        subscriptions[1]);
	rc = run(&in);
	ct_info("stopping: accepted %lu (%lu with held lots), duplicates dropped %lu, "
	        "dead-lettered %lu",
	        in.accepted, in.flagged, in.duplicates, in.dead_lettered);
	ct_service_finish(&in.svc);
	exit_code = rc == CT_OK ? 0 : 1;
out:
	ingest_dedup_free(in.seen);
	ingest_lots_free(in.lots);
	ingest_lots_free(in.lots_at_batch_start);
	ct_service_cleanup_config(&common, &own);
	return exit_code;
}
