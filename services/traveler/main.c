/* ct-traveler: owns the digital thread in PostgreSQL and answers trace queries.
 *
 * Loop: read a batch from the durable spool; decode; store everything in one transaction
 * (traveler_store); answer trace requests; commit the spool position. Nothing is
 * acknowledged upstream that is not in the spool, and nothing leaves the spool that is not
 * committed in PostgreSQL: a kill -9 at any point replays at most one batch, which the
 * event-ID idempotency turns into no-ops. While PostgreSQL is down the loop waits and the
 * spool grows on disk; the broker keeps delivering. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_ids.h"
#include "ct_log.h"
#include "ct_pb.h"
#include "ct_pg.h"
#include "ct_service.h"
#include "ct_time.h"
#include "ct_topic.h"
#include "traveler_store.h"
#include "traveler_trace.h"

#define SERVICE_NAME       "traveler"
#define RPC_TRACE_TOPIC    CT_TOPIC_ROOT "/sys/rpc/traveler/trace"
#define REPLY_PREFIX       CT_TOPIC_ROOT "/sys/reply/"
#define PARTITION_CHECK_MS (6LL * 3600 * 1000)

struct traveler_config {
	char *pg_conninfo;
	char *pg_password;
	long batch_records;
	long batch_kib;
	long max_payload_kib;
	long max_trace_depth;
	long max_trace_nodes;
};

#define KEY(name, type, field, def, lo, hi, help)                                                  \
	{                                                                                          \
		name, type, offsetof(struct traveler_config, field), def, lo, hi, help             \
	}

static const struct ct_config_key traveler_keys[] = {
        KEY("pg.conninfo", CT_CONF_STRING, pg_conninfo, "dbname=cellthread", 0, 0,
            "libpq connection string (without the password)"),
        KEY("pg.password", CT_CONF_SECRET, pg_password, NULL, 0, 0,
            "PostgreSQL password (or use PGPASSFILE)"),
        KEY("traveler.batch_records", CT_CONF_INT, batch_records, "1000", 1, 100000,
            "messages stored per transaction at most"),
        KEY("traveler.batch_kib", CT_CONF_INT, batch_kib, "2048", 64, 262144,
            "payload bytes read per transaction at most"),
        KEY("traveler.max_payload_kib", CT_CONF_INT, max_payload_kib, "4096", 1, 65536,
            "largest message decoded"),
        KEY("traveler.max_trace_depth", CT_CONF_INT, max_trace_depth, "32", 1, 1000,
            "genealogy levels a trace walks"),
        KEY("traveler.max_trace_nodes", CT_CONF_INT, max_trace_nodes, "100000", 1, 10000000,
            "nodes a trace returns at most"),
};

/* One decoded message of a batch. */
struct decoded {
	struct traveler_item item;
	ProtobufCMessage *msg;
	bool is_trace;
};

struct traveler {
	struct ct_service svc;
	struct traveler_config cfg;
	struct ct_pg *pg;
	struct traveler_store *store;
	struct traveler_trace_limits limits;
	struct decoded *decoded;
	size_t decoded_cap;
	char producer[CT_ID_MAX + 16];
	unsigned long stored_events, duplicate_events;
};

/* Checks a header; on failure writes which field is wrong (under `where`) into why. */
static bool header_ok(const Cellthread__V1__Header *h, const char *where, char *why, size_t len)
{
	if (h == NULL)
		snprintf(why, len, "%sheader: missing", where);
	else if (!ct_id_is_valid(h->event_id))
		snprintf(why, len, "%sheader.event_id: not an ID", where);
	else if (!ct_id_is_valid(h->producer))
		snprintf(why, len, "%sheader.producer: not an ID", where);
	else
		return true;
	return false;
}

/* The minimum traveler needs to store a message; ingest checked the rest. */
static bool message_ok(const struct decoded *d, char *why, size_t len)
{
	switch (d->item.kind) {
	case TRAVELER_RESULT_BATCH: {
		const Cellthread__V1__StationResultBatch *b = (const void *)d->msg;
		char where[32];
		if (b->n_results == 0) {
			snprintf(why, len, "results: empty batch");
			return false;
		}
		for (size_t i = 0; i < b->n_results; i++) {
			snprintf(where, sizeof(where), "results[%zu].", i);
			if (!header_ok(b->results[i]->header, where, why, len))
				return false;
			if (!ct_id_is_valid(b->results[i]->unit_id)) {
				snprintf(why, len, "results[%zu].unit_id: not an ID", i);
				return false;
			}
		}
		return true;
	}
	case TRAVELER_TELEMETRY:
		return header_ok(((const Cellthread__V1__Telemetry *)(const void *)d->msg)->header,
		                 "", why, len);
	case TRAVELER_GENEALOGY:
		return header_ok(((const Cellthread__V1__Genealogy *)(const void *)d->msg)->header,
		                 "", why, len);
	case TRAVELER_DEAD_LETTER:
		return header_ok(((const Cellthread__V1__DeadLetter *)(const void *)d->msg)->header,
		                 "", why, len);
	case TRAVELER_VERDICT: {
		const Cellthread__V1__VerdictBatch *b = (const void *)d->msg;
		if (b->n_verdicts == 0) {
			snprintf(why, len, "verdicts: empty batch");
			return false;
		}
		for (size_t i = 0; i < b->n_verdicts; i++) {
			const Cellthread__V1__Verdict *v = b->verdicts[i];
			char where[32];
			snprintf(where, sizeof(where), "verdicts[%zu].", i);
			if (!header_ok(v->header, where, why, len))
				return false;
			if (!ct_id_is_valid(v->unit_id))
				snprintf(why, len, "%sunit_id: not an ID", where);
			else if (!ct_id_is_valid(v->source_event_id))
				snprintf(why, len, "%ssource_event_id: not an ID", where);
			else if (!ct_id_is_valid(v->site) || !ct_id_is_valid(v->line) ||
			         !ct_id_is_valid(v->station))
				snprintf(why, len, "%ssite, line and station must be IDs", where);
			else if ((int)v->verdict < 0 ||
			         v->verdict > CELLTHREAD__V1__VERDICT_CODE__VERDICT_CODE_SCRAP)
				snprintf(why, len, "%sverdict: %d is not a VerdictCode", where,
				         (int)v->verdict);
			else
				continue;
			return false;
		}
		return true;
	}
	}
	return false;
}

/* Stores a dead letter of traveler's own, retrying while the database is away. */
static void own_dead_letter(struct traveler *t, const char *topic, int reason_code,
                            const char *reason, const void *payload, size_t len)
{
	char err[512];
	while (!ct_service_stop) {
		if (ct_pg_ensure(t->pg, -1, &ct_service_stop, err, sizeof(err)) != CT_OK)
			return;
		if (traveler_store_own_dead_letter(t->store, t->pg, t->producer, topic, reason_code,
		                                   reason, payload, len, err,
		                                   sizeof(err)) == CT_OK ||
		    !ct_pg_is_connection_error(t->pg))
			return;
	}
}

/* Decodes one spool record into d. Returns false (after dead-lettering it) when the
 * record is not something traveler stores or answers. */
static bool decode_record(struct traveler *t, const struct ct_spool_record *rec, struct decoded *d)
{
	const ProtobufCMessageDescriptor *desc = NULL;
	struct ct_topic where;
	size_t max_len = (size_t)t->cfg.max_payload_kib * 1024;
	char reason[256];
	int rc;

	memset(d, 0, sizeof(*d));
	d->item.topic = rec->topic;
	if (strcmp(rec->topic, RPC_TRACE_TOPIC) == 0) {
		desc = &cellthread__v1__trace_request__descriptor;
		d->is_trace = true;
	} else if (ct_topic_has_prefix(rec->topic, CT_TOPIC_ROOT "/sys/deadletter")) {
		desc = &cellthread__v1__dead_letter__descriptor;
		d->item.kind = TRAVELER_DEAD_LETTER;
	} else if (ct_topic_parse(rec->topic, &where, NULL, 0) == CT_OK && !where.is_edge) {
		switch (where.kind) {
		case CT_KIND_RESULT:
			desc = &cellthread__v1__station_result_batch__descriptor;
			d->item.kind = TRAVELER_RESULT_BATCH;
			break;
		case CT_KIND_TELEMETRY:
			desc = &cellthread__v1__telemetry__descriptor;
			d->item.kind = TRAVELER_TELEMETRY;
			break;
		case CT_KIND_GENEALOGY:
			desc = &cellthread__v1__genealogy__descriptor;
			d->item.kind = TRAVELER_GENEALOGY;
			break;
		case CT_KIND_VERDICT:
			desc = &cellthread__v1__verdict_batch__descriptor;
			d->item.kind = TRAVELER_VERDICT;
			break;
		default:
			break;
		}
	}
	if (desc == NULL) {
		own_dead_letter(
		        t, rec->topic, CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_TOPIC,
		        "traveler does not store this topic", rec->payload, rec->payload_len);
		return false;
	}
	rc = ct_pb_unpack(desc, rec->payload, rec->payload_len, max_len, &d->msg);
	if (rc != CT_OK) {
		snprintf(reason, sizeof(reason), "%s: %s", desc->name, ct_strerror(rc));
		own_dead_letter(
		        t, rec->topic,
		        rc == CT_ERR_TOO_BIG
		                ? CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_OVERSIZE
		                : CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_DECODE,
		        reason, rec->payload, rec->payload_len);
		return false;
	}
	d->item.msg = d->msg;
	if (!d->is_trace && !message_ok(d, reason, sizeof(reason))) {
		own_dead_letter(t, rec->topic,
		                CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_INVALID,
		                reason, rec->payload, rec->payload_len);
		ct_pb_free(d->msg);
		d->msg = NULL;
		return false;
	}
	return true;
}

/* Stores items; on a data error (not a lost connection) stores them one by one and
 * dead-letters the ones the database refuses, so one bad message cannot block the line.
 * Returns CT_OK, or CT_ERR_STOPPED when shutdown interrupted a retry. */
static int store_items(struct traveler *t, struct traveler_item *items, size_t n)
{
	struct traveler_counts counts;
	char err[1024];

	for (;;) {
		if (ct_pg_ensure(t->pg, -1, &ct_service_stop, err, sizeof(err)) != CT_OK)
			return CT_ERR_STOPPED;
		if (traveler_store_batch(t->store, t->pg, items, n, &counts, err, sizeof(err)) ==
		    CT_OK) {
			t->stored_events += counts.events_new;
			t->duplicate_events += counts.events_duplicate;
			return CT_OK;
		}
		if (ct_pg_is_connection_error(t->pg)) {
			ct_warn("database connection lost (%s); retrying the batch", err);
			continue;
		}
		if (ct_pg_is_transient_error(t->pg)) {
			ct_warn("batch rolled back (%s); retrying it", err);
			continue;
		}
		break;
	}
	ct_warn("batch refused (%s); storing its %zu messages one by one", err, n);
	for (size_t i = 0; i < n; i++) {
		if (n == 1) {
			own_dead_letter(
			        t, items[i].topic,
			        CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_STORE, err,
			        NULL, 0);
			continue;
		}
		if (store_items(t, &items[i], 1) != CT_OK)
			return CT_ERR_STOPPED;
	}
	return CT_OK;
}

static void answer_trace(struct traveler *t, const Cellthread__V1__TraceRequest *req)
{
	Cellthread__V1__TraceResponse *resp = NULL;
	Cellthread__V1__TraceResponse failed = CELLTHREAD__V1__TRACE_RESPONSE__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	struct traveler_trace_limits limits = t->limits;
	char err[512], id[40];
	uint8_t *buf = NULL;
	size_t len = 0;

	/* Replies go only under ct/v1/sys/reply/<client>/..., never to a wildcard or a topic
	 * another service owns. */
	if (req->reply_topic == NULL ||
	    strncmp(req->reply_topic, REPLY_PREFIX, strlen(REPLY_PREFIX)) != 0 ||
	    strpbrk(req->reply_topic, "+#") != NULL) {
		ct_warn("trace request %s refused: reply topic must be under %s", req->request_id,
		        REPLY_PREFIX);
		return;
	}
	if (req->max_depth > 0 && req->max_depth < limits.max_depth)
		limits.max_depth = req->max_depth;
	if (ct_pg_ensure(t->pg, 10000, &ct_service_stop, err, sizeof(err)) != CT_OK ||
	    traveler_trace_run(t->pg, req->direction, req->id, &limits, &resp, err, sizeof(err)) !=
	            CT_OK) {
		failed.error = err;
		failed.id = req->id;
		failed.direction = req->direction;
		resp = NULL;
	}
	{
		Cellthread__V1__TraceResponse *out = resp ? resp : &failed;
		Cellthread__V1__Header *saved = out->header;
		char *saved_request = out->request_id;
		ct_pb_header_fill(&header, id, sizeof(id), t->producer);
		out->header = &header;
		out->request_id = req->request_id;
		if (ct_pb_pack(&out->base, &buf, &len) == CT_OK &&
		    ct_mqtt_publish(t->svc.mqtt, req->reply_topic, buf, len, 1, false, 30000) !=
		            CT_OK)
			ct_warn("cannot publish the trace response to %s", req->reply_topic);
		out->header = saved;
		out->request_id = saved_request;
	}
	free(buf);
	traveler_trace_response_free(resp);
}

static void ensure_partitions(struct traveler *t)
{
	char err[512];
	if (ct_pg_exec(t->pg, "SELECT ct_ensure_partitions(now() - interval '1 month', 4)", err,
	               sizeof(err)) != CT_OK)
		ct_warn("cannot create measurement partitions (rows go to the default one): %s",
		        err);
}

static int run(struct traveler *t)
{
	struct ct_spool_batch batch;
	struct traveler_item *items = NULL;
	int64_t next_partition_check = 0;
	int64_t next_report = ct_mono_ms() + 30000;
	int rc = CT_OK;

	memset(&batch, 0, sizeof(batch));
	while (!ct_service_stop) {
		char err[512];
		size_t n_items = 0;

		if (ct_pg_ensure(t->pg, -1, &ct_service_stop, err, sizeof(err)) != CT_OK)
			break;
		if (ct_mono_ms() >= next_partition_check) {
			ensure_partitions(t);
			next_partition_check = ct_mono_ms() + PARTITION_CHECK_MS;
		}
		rc = ct_spool_read(t->svc.spool, (size_t)t->cfg.batch_records,
		                   (size_t)t->cfg.batch_kib * 1024, 200, &batch);
		if (rc != CT_OK && rc != CT_ERR_CORRUPT) {
			ct_error("cannot read the spool: %s", ct_strerror(rc));
			break;
		}
		rc = CT_OK;
		if (batch.count == 0)
			goto report;
		if (batch.count > t->decoded_cap) {
			struct decoded *d = realloc(t->decoded, batch.count * sizeof(*d));
			struct traveler_item *it = realloc(items, batch.count * sizeof(*it));
			if (d != NULL)
				t->decoded = d;
			if (it != NULL)
				items = it;
			if (d == NULL || it == NULL) {
				rc = CT_ERR_NOMEM;
				ct_error("out of memory for a batch of %zu", batch.count);
				break;
			}
			t->decoded_cap = batch.count;
		}
		for (size_t i = 0; i < batch.count; i++) {
			struct decoded *d = &t->decoded[i];
			if (decode_record(t, &batch.records[i], d) && !d->is_trace)
				items[n_items++] = d->item;
		}
		rc = n_items > 0 ? store_items(t, items, n_items) : CT_OK;
		for (size_t i = 0; i < batch.count && rc == CT_OK; i++)
			if (t->decoded[i].is_trace && t->decoded[i].msg != NULL)
				answer_trace(t, (const void *)t->decoded[i].msg);
		for (size_t i = 0; i < batch.count; i++)
			ct_pb_free(t->decoded[i].msg);
		if (rc != CT_OK)
			break; /* shutdown during a retry: the spool keeps the batch */
		if (ct_mqtt_flush(t->svc.mqtt, 30000) != CT_OK)
			ct_warn("trace responses not acknowledged by the broker");
		rc = ct_spool_commit(t->svc.spool, &batch);
		if (rc != CT_OK) {
			ct_error("cannot commit the spool position: %s", ct_strerror(rc));
			break;
		}
	report:
		if (ct_mono_ms() >= next_report) {
			ct_info("stored %lu events, %lu duplicates ignored, spool backlog %llu "
			        "bytes",
			        t->stored_events, t->duplicate_events,
			        (unsigned long long)ct_spool_backlog_bytes(t->svc.spool));
			next_report = ct_mono_ms() + 30000;
		}
	}
	free(items);
	ct_spool_batch_cleanup(&batch);
	return rc == CT_ERR_STOPPED ? CT_OK : rc;
}

int main(int argc, char **argv)
{
	static const char *const subscriptions[] = {
	        CT_TOPIC_ROOT "/plant/+/+/+/result",    CT_TOPIC_ROOT "/plant/+/+/+/telemetry",
	        CT_TOPIC_ROOT "/plant/+/+/+/genealogy", CT_TOPIC_ROOT "/plant/+/+/+/verdict",
	        CT_TOPIC_ROOT "/sys/deadletter/#",      RPC_TRACE_TOPIC,
	};
	struct ct_common_config common;
	struct traveler t;
	struct ct_config_table own = {traveler_keys,
	                              sizeof(traveler_keys) / sizeof(traveler_keys[0]), &t.cfg};
	char err[512];
	int exit_code = 1;
	int rc;

	memset(&common, 0, sizeof(common));
	memset(&t, 0, sizeof(t));
	rc = ct_service_load_config(SERVICE_NAME, &common, &own, argc, argv);
	if (rc != 0) {
		exit_code = rc == CT_ERR_STOPPED ? 0 : 2; /* --help, or a config error */
		goto out;
	}
	ct_service_install_signals();
	traveler_trace_limits_init(&t.limits);
	t.limits.max_depth = (unsigned)t.cfg.max_trace_depth;
	t.limits.max_nodes = (unsigned)t.cfg.max_trace_nodes;
	snprintf(t.producer, sizeof(t.producer), "%s-%s", SERVICE_NAME, common.instance);
	t.pg = ct_pg_new(t.cfg.pg_conninfo, t.cfg.pg_password);
	t.store = traveler_store_new();
	if (t.pg == NULL || t.store == NULL) {
		ct_error("out of memory");
		goto out;
	}
	/* The database first: a traveler that cannot store should not take messages. */
	if (ct_pg_ensure(t.pg, -1, &ct_service_stop, err, sizeof(err)) != CT_OK) {
		exit_code = 0; /* stopped while waiting for the database */
		goto out;
	}
	rc = ct_service_start(&t.svc, SERVICE_NAME, &common, subscriptions,
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
	ct_info("ready: storing the digital thread");
	rc = run(&t);
	ct_info("stopping: stored %lu events, %lu duplicates ignored", t.stored_events,
	        t.duplicate_events);
	ct_service_finish(&t.svc);
	exit_code = rc == CT_OK ? 0 : 1;
out:
	free(t.decoded);
	traveler_store_free(t.store);
	ct_pg_free(t.pg);
	ct_service_cleanup_config(&common, &own);
	return exit_code;
}
