/* traveler_loop: what ct-traveler does in the runtime's loop (ct_loop).
 *
 * Per batch: decode; store everything in one transaction (traveler_store); hand the trace
 * requests to the trace worker (traveler_trace), which answers them on its own thread and
 * database connection, so storing never waits for a trace; the loop commits the spool
 * position once the transaction is committed.
 * Nothing is acknowledged upstream that is not in the spool, and nothing leaves the spool that
 * is not committed in PostgreSQL: a kill -9 at any point replays at most the batches not yet
 * committed, which the event-ID idempotency turns into no-ops. While PostgreSQL is down the
 * handler waits and the spool grows on disk; the broker keeps delivering. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_log.h"
#include "ct_msg.h"
#include "ct_pb.h"
#include "ct_time.h"
#include "traveler.h"

#define PARTITION_CHECK_MS (6LL * 3600 * 1000)

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
	case TRAVELER_GENEALOGY: {
		const Cellthread__V1__Genealogy *g = (const void *)d->msg;
		if (!header_ok(g->header, "", why, len))
			return false;
		/* An enum value this version does not know (a newer sender): storing it as an
		 * assembly could put a unit into a second parent. */
		if ((int)g->relation < 0 ||
		    g->relation >
		            CELLTHREAD__V1__GENEALOGY_RELATION__GENEALOGY_RELATION_DISASSEMBLY) {
			snprintf(why, len, "relation: %d is not a GenealogyRelation",
			         (int)g->relation);
			return false;
		}
		return true;
	}
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
			d->item.kind = TRAVELER_RESULT_BATCH;
			break;
		case CT_KIND_TELEMETRY:
			d->item.kind = TRAVELER_TELEMETRY;
			break;
		case CT_KIND_GENEALOGY:
			d->item.kind = TRAVELER_GENEALOGY;
			break;
		case CT_KIND_VERDICT:
			d->item.kind = TRAVELER_VERDICT;
			break;
		default:
			where.kind = CT_KIND_UNKNOWN; /* not stored by traveler */
			break;
		}
		desc = ct_msg_descriptor(where.kind);
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

/* The items of one store_items call, for ct_pg_store_batch's callbacks. */
struct store_job {
	struct traveler *t;
	struct traveler_item *items;
};

static int store_some(void *ctx, size_t first, size_t count, char *err, size_t err_len)
{
	struct store_job *job = ctx;
	struct traveler *t = job->t;
	struct traveler_counts counts;
	int rc = traveler_store_batch(t->store, t->pg, &job->items[first], count, &counts, err,
	                              err_len);

	if (rc == CT_OK) {
		t->stored_events += counts.events_new;
		t->duplicate_events += counts.events_duplicate;
		t->refused_events += counts.events_refused;
	}
	return rc;
}

static void store_refused(void *ctx, size_t index, const char *err)
{
	struct store_job *job = ctx;

	/* Logged as a dead letter by traveler_store_own_dead_letter. */
	own_dead_letter(job->t, job->items[index].topic,
	                CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_STORE, err, NULL, 0);
}

/* Stores items in one transaction (ct_pg_store_batch: retried through lost connections and
 * class-40 rollbacks); on a data error stores them one by one and dead-letters the ones the
 * database refuses, so one bad message cannot block the line. Returns CT_OK, or
 * CT_ERR_STOPPED when shutdown interrupted a retry. */
static int store_items(struct traveler *t, struct traveler_item *items, size_t n)
{
	struct store_job job = {t, items};

	return ct_pg_store_batch(t->pg, &ct_service_stop, n, store_some, store_refused, &job);
}

/* Hands a trace request to the trace worker, or refuses it at once (a limit is reached) with a
 * response saying so, published from here: a small message, cheaper than keeping the request.
 * Never waits for a trace. The spool record is committed with the batch, so a request queued
 * but not yet answered when traveler dies is lost: the client asks again. */
static void submit_trace(struct traveler *t, const Cellthread__V1__TraceRequest *req)
{
	char why[256];
	int rc = traveler_tracer_submit(t->tracer, req, why, sizeof(why));

	if (rc == CT_ERR_AGAIN)
		traveler_tracer_refuse(t->tracer, req, why);
	else if (rc == CT_ERR_NOMEM)
		ct_warn("out of memory queueing the trace request to %s; not answered",
		        req->reply_topic);
}

static void ensure_partitions(struct traveler *t)
{
	char err[512];
	if (ct_pg_exec(t->pg, "SELECT ct_ensure_partitions(now() - interval '1 month', 4)", err,
	               sizeof(err)) != CT_OK)
		ct_warn("cannot create measurement partitions (rows go to the default one): %s",
		        err);
}

int traveler_tick(void *ctx)
{
	struct traveler *t = ctx;
	char err[512];

	if (ct_pg_ensure(t->pg, -1, &ct_service_stop, err, sizeof(err)) != CT_OK)
		return CT_ERR_STOPPED;
	if (ct_mono_ms() >= t->next_partition_check_ms) {
		ensure_partitions(t);
		t->next_partition_check_ms = ct_mono_ms() + PARTITION_CHECK_MS;
	}
	return CT_OK;
}

int traveler_handle(void *ctx, const struct ct_spool_batch *batch, void **ret_job)
{
	struct traveler *t = ctx;
	size_t n_items = 0;
	int rc;

	(void)ret_job;
	if (batch->count > t->decoded_cap) {
		struct decoded *d = realloc(t->decoded, batch->count * sizeof(*d));
		struct traveler_item *it = realloc(t->items, batch->count * sizeof(*it));
		if (d != NULL)
			t->decoded = d;
		if (it != NULL)
			t->items = it;
		if (d == NULL || it == NULL) {
			ct_error("out of memory for a batch of %zu", batch->count);
			return CT_ERR_NOMEM;
		}
		t->decoded_cap = batch->count;
	}
	for (size_t i = 0; i < batch->count; i++) {
		struct decoded *d = &t->decoded[i];
		if (decode_record(t, &batch->records[i], d) && !d->is_trace)
			t->items[n_items++] = d->item;
	}
	/* CT_ERR_STOPPED (shutdown during a retry) stops the loop; the spool keeps the batch. */
	rc = n_items > 0 ? store_items(t, t->items, n_items) : CT_OK;
	for (size_t i = 0; i < batch->count && rc == CT_OK; i++)
		if (t->decoded[i].is_trace && t->decoded[i].msg != NULL)
			submit_trace(t, (const void *)t->decoded[i].msg);
	for (size_t i = 0; i < batch->count; i++)
		ct_pb_free(t->decoded[i].msg);
	return rc;
}

void traveler_report(void *ctx)
{
	struct traveler *t = ctx;

	struct traveler_tracer_stats st;

	traveler_tracer_stats(t->tracer, &st);
	ct_info("stored %lu events, %lu duplicates ignored, %lu refused (dead-lettered), spool "
	        "backlog %llu bytes; traces: %lu answered (%lu with a database error), %lu "
	        "refused, %lu queued",
	        t->stored_events, t->duplicate_events, t->refused_events,
	        (unsigned long long)ct_spool_backlog_bytes(t->svc.spool), st.answered, st.failed,
	        st.refused, st.queued);
}
