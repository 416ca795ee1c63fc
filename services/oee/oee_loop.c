/* oee_loop: what ct-oee does in the runtime's loop (ct_loop.h).
 *
 * handle: decode the batch (states, acks, results, verdicts), dead-letter what does not decode
 * or does not match its topic, store the states and acks in one transaction (idempotent by
 * event ID), then mark the (station, shift) pairs whose figures changed: a state's pair is due
 * at once (live OEE follows a state change within a second), a result's or a failure's within
 * oee.publish_interval_s (which also leaves ct-traveler the time to store the visit the figure
 * counts) and once more an interval after that publish (it may have stored it later). A failure
 * (NOK result, verdict other than PASS) also dirties the pair of the visit that made the unit
 * (ct_oee_maker): late quality, possibly of a closed shift.
 *
 * tick: derive states for stations that send none, mark the open shift's pairs for a refresh
 * (every oee.refresh_s; and a shift's end once more, for its final figures), then compute the
 * due pairs in SQL, upsert oee_figures and publish. A batch's spool position is committed only
 * once PostgreSQL has its states and every pair it dirtied has been published (oee_pending):
 * after a kill -9 the batch is read again, its states are duplicates and its pairs computed
 * again from SQL, so nothing counts twice and nothing is missed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_array.h"
#include "ct_error.h"
#include "ct_log.h"
#include "ct_msg.h"
#include "ct_time.h"
#include "ct_topic.h"
#include "oee.h"

#define DEADLETTER_CAP  (64 * 1024) /* bytes of a refused payload a dead letter keeps */
#define WARN_EVERY_MS   10000       /* repeated database warnings at most this often */
#define PUBLISH_MS      50          /* publishing a turn's due pairs stops after this */
#define DRAIN_MS        2000        /* a pass over oee_recompute starts this often */
#define LATE_STATE_DAYS 31          /* a late state recomputes the shifts this far back */
#define RETRY_MS        1000        /* a pair whose publish failed is due again after this */
/* A change to the shift calendar (oee_shift_pattern) is seen within this long. */
#define SHIFT_CACHE_MS (10 * 60 * 1000)

/* One decoded record of a batch (struct oee's items: reused from batch to batch). */
struct oee_item {
	const struct ct_spool_record *rec;
	enum ct_topic_kind kind;
	ProtobufCMessage *msg;
	bool refused; /* dead-lettered by the store */
};

struct batch_job {
	uint64_t seq, end_segment, end_offset;
};

static void dead_letter(struct oee *o, const char *topic, int code, const char *reason,
                        const void *payload, size_t len)
{
	o->n.dead_letters++;
	ct_loop_dead_letter(&o->loop, topic, code, reason, payload, len, DEADLETTER_CAP);
}

/* A database failure the service carries on after: logged at most every WARN_EVERY_MS. */
static void warn_db(struct oee *o, const char *what, const char *err)
{
	if (ct_mono_ms() < o->next_warn_ms) {
		o->warn_suppressed++;
		return;
	}
	ct_warn("%s: %s (skipped; %lu such warnings suppressed before)", what, err,
	        o->warn_suppressed);
	o->warn_suppressed = 0;
	o->next_warn_ms = ct_mono_ms() + WARN_EVERY_MS;
}

/* After a database call: CT_ERR_AGAIN when it lost the connection and it is back (call
 * again), CT_ERR_STOPPED when shutdown came first, else rc (a failure logged). */
static int db_outcome(struct oee *o, int rc, const char *what, const char *err)
{
	char why[256];

	if (rc == CT_OK)
		return CT_OK;
	if (rc == CT_ERR_PG && ct_pg_is_connection_error(o->pg)) {
		ct_warn("%s: %s; waiting for the database", what, err);
		return ct_pg_ensure(o->pg, -1, &ct_service_stop, why, sizeof(why)) == CT_OK
		               ? CT_ERR_AGAIN
		               : CT_ERR_STOPPED;
	}
	warn_db(o, what, err);
	return rc;
}

/* The shift of site/line holding t_us, cached (also that there is none, until the next
 * start, so results between shifts cost no query either). CT_ERR_NOT_FOUND outside every
 * shift. */
static int shift_of(struct oee *o, const char *site, const char *line, int64_t t_us,
                    struct oee_shift *ret)
{
	enum oee_shift_hit hit = oee_shift_lookup(&o->shifts, site, line, t_us, ret);
	struct oee_shift s;
	int64_t next = 0;
	bool found = false;
	char err[512];
	int rc;

	if (hit != OEE_SHIFT_UNKNOWN)
		return hit == OEE_SHIFT_FOUND ? CT_OK : CT_ERR_NOT_FOUND;
	do
		rc = oee_db_shift_of(o->pg, site, line, t_us, &s, &found, &next, err, sizeof(err));
	while ((rc = db_outcome(o, rc, "ct_oee_shifts", err)) == CT_ERR_AGAIN);
	if (rc != CT_OK)
		return rc;
	if (!found) {
		/* No next start within a week: ask again in an hour. */
		oee_shift_put_none(&o->shifts, site, line, t_us,
		                   next > t_us ? next : t_us + 3600LL * 1000000);
		return CT_ERR_NOT_FOUND;
	}
	oee_shift_put(&o->shifts, &s); /* not cached without memory: asked again */
	*ret = s;
	return CT_OK;
}

/* Marks the pair of station and the shift holding t_us due at due_ms, with flags
 * OEE_MARK_SETTLE (dirtied by results, whose visits ct-traveler stores) and OEE_MARK_URGENT
 * (by a state). Only shutdown fails. */
static int mark_as(struct oee *o, const char *site, const char *line, const char *station,
                   int64_t t_us, int64_t due_ms, unsigned flags)
{
	struct oee_shift s;
	int rc = shift_of(o, site, line, t_us, &s);

	if (rc == CT_ERR_STOPPED)
		return rc;
	if (rc != CT_OK)
		return CT_OK; /* outside every shift (no figures there), or warned */
	rc = oee_dirty_mark(&o->dirty, site, line, station, s.id, due_ms, o->seq, flags);
	if (rc == CT_ERR_NOMEM)
		return rc;
	if (rc != CT_OK)
		ct_warn("shift ID %s of %s/%s is too long; not computed", s.id, site, line);
	return CT_OK;
}

/* A pair changed by a state (stored before it is marked): urgent, nothing to settle. */
static int mark(struct oee *o, const char *site, const char *line, const char *station,
                int64_t t_us, int64_t due_ms)
{
	return mark_as(o, site, line, station, t_us, due_ms, OEE_MARK_URGENT);
}

/* The station's entry, read from station_state the first time. Only shutdown and memory
 * fail; a station whose history cannot be read stays unloaded (nothing derived for it). */
static int station(struct oee *o, const char *site, const char *line, const char *name,
                   struct oee_station **ret)
{
	char err[512];
	int rc = oee_stations_get(&o->stations, site, line, name, ct_mono_ms(), ret);

	if (rc != CT_OK || (*ret)->loaded)
		return rc == CT_ERR_TOO_BIG ? CT_ERR_INVALID : rc;
	do
		rc = oee_db_station_load(o->pg, *ret, err, sizeof(err));
	while ((rc = db_outcome(o, rc, "reading station_state", err)) == CT_ERR_AGAIN);
	return rc == CT_ERR_STOPPED || rc == CT_ERR_NOMEM ? rc : CT_OK;
}

/* Late quality: the unit failed; the pair of the visit that made it changes. The makers are
 * looked up once per batch (makers_of_failed). */
static int failure(struct oee *o, const char *unit_id)
{
	o->n.failures++;
	ct_pgarray_text(&o->failed_units, unit_id);
	return o->failed_units.failed ? CT_ERR_NOMEM : CT_OK;
}

static int maker_found(void *ctx, const char *site, const char *line, const char *station,
                       int64_t ended_us)
{
	struct oee *o = ctx;

	return mark_as(o, site, line, station, ended_us, o->failed_due_ms, OEE_MARK_SETTLE);
}

/* Dirties the pairs of the visits that made the batch's failed units, in one query. Only
 * shutdown and memory fail (a database error is warned: late quality then waits for the
 * next refresh of an open shift). */
static int makers_of_failed(struct oee *o, int64_t due_ms)
{
	const char *units;
	char err[512];
	int rc;

	if (o->failed_units.count == 0)
		return CT_OK;
	if ((units = ct_pgarray_literal(&o->failed_units)) == NULL)
		return CT_ERR_NOMEM;
	o->failed_due_ms = due_ms;
	do
		rc = oee_db_makers(o->pg, units, maker_found, o, err, sizeof(err));
	while ((rc = db_outcome(o, rc, "ct_oee_maker", err)) == CT_ERR_AGAIN);
	ct_pgarray_reset(&o->failed_units);
	return rc == CT_ERR_STOPPED || rc == CT_ERR_NOMEM ? rc : CT_OK;
}

static bool same_place(const struct ct_topic *t, const char *site, const char *line,
                       const char *station)
{
	return strcmp(t->site, site) == 0 && strcmp(t->line, line) == 0 &&
	       strcmp(t->station, station) == 0;
}

static bool header_ok(const Cellthread__V1__Header *h)
{
	return h != NULL && ct_id_is_valid(h->event_id);
}

/* Whether a decoded message is one ct-oee can use; why not in why. */
static bool message_ok(const struct ct_topic *t, enum ct_topic_kind kind,
                       const ProtobufCMessage *msg, char *why, size_t len)
{
	switch (kind) {
	case CT_KIND_STATE: {
		const Cellthread__V1__StationState *s = (const void *)msg;
		if (!header_ok(s->header))
			snprintf(why, len, "header.event_id: missing or not an ID");
		else if (!same_place(t, s->site, s->line, s->station))
			snprintf(why, len, "site, line and station differ from the topic's");
		else if (s->state < 1 || s->state > 7)
			snprintf(why, len, "state: %d is not a station state", (int)s->state);
		else if (s->since_us <= 0)
			snprintf(why, len, "since_us: missing");
		else
			return true;
		return false;
	}
	case CT_KIND_ACK: {
		const Cellthread__V1__CommandAck *a = (const void *)msg;
		if (!header_ok(a->header))
			snprintf(why, len, "header.event_id: missing or not an ID");
		else if (!same_place(t, a->site, a->line, a->station))
			snprintf(why, len, "site, line and station differ from the topic's");
		else if (a->command_event_id[0] == '\0')
			snprintf(why, len, "command_event_id: missing");
		else if (a->acked_at_us <= 0)
			snprintf(why, len, "acked_at_us: missing");
		else
			return true;
		return false;
	}
	case CT_KIND_RESULT: {
		const Cellthread__V1__StationResultBatch *b = (const void *)msg;
		for (size_t i = 0; i < b->n_results; i++) {
			const Cellthread__V1__StationResult *r = b->results[i];
			if (!same_place(t, r->site, r->line, r->station) || r->ended_at_us <= 0 ||
			    !ct_id_is_valid(r->unit_id)) {
				snprintf(why, len,
				         "results[%zu]: place differs from the topic's, or no unit "
				         "or end",
				         i);
				return false;
			}
		}
		return true;
	}
	case CT_KIND_VERDICT: {
		const Cellthread__V1__VerdictBatch *b = (const void *)msg;
		for (size_t i = 0; i < b->n_verdicts; i++) {
			const Cellthread__V1__Verdict *v = b->verdicts[i];
			if (!same_place(t, v->site, v->line, v->station) ||
			    !ct_id_is_valid(v->unit_id)) {
				snprintf(
				        why, len,
				        "verdicts[%zu]: place differs from the topic's, or no unit",
				        i);
				return false;
			}
		}
		return true;
	}
	default:
		snprintf(why, len, "not a topic ct-oee reads");
		return false;
	}
}

/* Decodes one record into it; false (dead-lettered) when ct-oee cannot use it. */
static bool decode(struct oee *o, const struct ct_spool_record *rec, struct oee_item *it)
{
	size_t max_len = (size_t)o->cfg.max_payload_kib * 1024;
	const ProtobufCMessageDescriptor *desc;
	struct ct_topic t;
	char why[256];
	int rc;

	memset(it, 0, sizeof(*it));
	it->rec = rec;
	if (ct_topic_parse(rec->topic, &t, NULL, 0) != CT_OK || t.is_edge ||
	    (t.kind != CT_KIND_STATE && t.kind != CT_KIND_ACK && t.kind != CT_KIND_RESULT &&
	     t.kind != CT_KIND_VERDICT)) {
		dead_letter(o, rec->topic, DEAD_LETTER(TOPIC), "not a topic ct-oee reads",
		            rec->payload, rec->payload_len);
		return false;
	}
	desc = ct_msg_descriptor(t.kind);
	rc = ct_pb_unpack(desc, rec->payload, rec->payload_len, max_len, &it->msg);
	if (rc != CT_OK) {
		snprintf(why, sizeof(why), "%s: %s", desc->name, ct_strerror(rc));
		dead_letter(o, rec->topic,
		            rc == CT_ERR_TOO_BIG ? DEAD_LETTER(OVERSIZE) : DEAD_LETTER(DECODE), why,
		            rec->payload, rec->payload_len);
		return false;
	}
	if (!message_ok(&t, t.kind, it->msg, why, sizeof(why))) {
		dead_letter(o, rec->topic, DEAD_LETTER(INVALID), why, rec->payload,
		            rec->payload_len);
		ct_pb_free(it->msg);
		it->msg = NULL;
		return false;
	}
	it->kind = t.kind;
	return true;
}

/* ---- storing states and acks (ct_pg_store_batch's callbacks) ---- */

struct store_ctx {
	struct oee *o;
	struct oee_item **stored; /* the states and acks of the batch */
};

static int store_some(void *ctx, size_t first, size_t count, char *err, size_t err_len)
{
	struct store_ctx *s = ctx;
	struct oee *o = s->o;
	unsigned long states = 0, states_dup = 0, acks = 0, acks_dup = 0;
	int rc;

	if ((rc = ct_pg_begin(o->pg, err, err_len)) != CT_OK)
		return rc;
	for (size_t i = first; i < first + count && rc == CT_OK; i++) {
		const struct oee_item *it = s->stored[i];
		bool is_new = false;
		if (it->kind == CT_KIND_STATE) {
			rc = oee_db_store_state(o->pg, (const void *)it->msg, "station", &is_new,
			                        err, err_len);
			states += is_new;
			states_dup += !is_new;
		} else {
			rc = oee_db_store_ack(o->pg, (const void *)it->msg, &is_new, err, err_len);
			acks += is_new;
			acks_dup += !is_new;
		}
	}
	if (rc == CT_OK)
		rc = ct_pg_commit(o->pg, err, err_len);
	if (rc != CT_OK) {
		ct_pg_rollback(o->pg);
		return rc;
	}
	o->n.states += states;
	o->n.states_duplicate += states_dup;
	o->n.acks += acks;
	o->n.acks_duplicate += acks_dup;
	return CT_OK;
}

static void store_refused(void *ctx, size_t index, const char *err)
{
	struct store_ctx *s = ctx;
	struct oee_item *it = s->stored[index];

	it->refused = true;
	dead_letter(s->o, it->rec->topic, DEAD_LETTER(STORE), err, it->rec->payload,
	            it->rec->payload_len);
}

/* ---- what each message dirties ---- */

struct between_ctx {
	struct oee *o;
	const char *station;
	int64_t due_ms;
};

static int mark_shift(void *ctx, const struct oee_row *r)
{
	struct between_ctx *b = ctx;
	int rc = oee_dirty_mark(&b->o->dirty, r->site, r->line, b->station, r->shift_id, b->due_ms,
	                        b->o->seq, 0);

	return rc == CT_ERR_NOMEM ? rc : CT_OK;
}

/* A state since since_us, before the open shift: every shift from then to now is computed
 * again (not urgent: their lines carry their stations). At most LATE_STATE_DAYS back, so a
 * gateway's wrong clock does not recompute the plant's history. Only shutdown and memory
 * fail. */
static int mark_between(struct oee *o, const char *site, const char *line, const char *station,
                        int64_t since_us, int64_t due_ms)
{
	struct between_ctx b = {o, station, due_ms};
	int64_t now_us = ct_now_us(), oldest = now_us - LATE_STATE_DAYS * 86400LL * 1000000;
	struct oee_shift cur;
	char err[512];
	int rc = shift_of(o, site, line, now_us, &cur);

	if (rc == CT_ERR_STOPPED)
		return rc;
	if (rc == CT_OK && since_us >= cur.start_us)
		return CT_OK; /* within the open shift: marked already */
	/* Between shifts, since in the same span without a shift as now: nothing in between. */
	if (rc == CT_ERR_NOT_FOUND &&
	    oee_shift_lookup(&o->shifts, site, line, since_us, &cur) == OEE_SHIFT_NONE)
		return CT_OK;
	do
		rc = oee_db_shifts(o->pg, site, line, since_us > oldest ? since_us : oldest, now_us,
		                   mark_shift, &b, err, sizeof(err));
	while ((rc = db_outcome(o, rc, "ct_oee_shifts", err)) == CT_ERR_AGAIN);
	return rc == CT_ERR_STOPPED || rc == CT_ERR_NOMEM ? rc : CT_OK;
}

static int after_state(struct oee *o, const Cellthread__V1__StationState *s, int64_t now_ms)
{
	struct oee_station *st;
	int rc = station(o, s->site, s->line, s->station, &st);

	if (rc != CT_OK)
		return rc == CT_ERR_INVALID ? CT_OK : rc;
	st->has_station_states = true;
	st->last_msg_us = ct_now_us();
	/* A state lasts until the next: a late one changes its own shift and every one up to
	 * now. Its own and the open shift (the one people watch) are due at once, the shifts
	 * in between too, after them. */
	if ((rc = mark(o, s->site, s->line, s->station, s->since_us, now_ms)) != CT_OK ||
	    (rc = mark(o, s->site, s->line, s->station, ct_now_us(), now_ms)) != CT_OK)
		return rc;
	return mark_between(o, s->site, s->line, s->station, s->since_us, now_ms);
}

static int after_results(struct oee *o, const Cellthread__V1__StationResultBatch *b, int64_t due_ms)
{
	int rc = CT_OK;

	for (size_t i = 0; i < b->n_results && rc == CT_OK; i++) {
		const Cellthread__V1__StationResult *r = b->results[i];
		struct oee_station *st;
		o->n.results++;
		if ((rc = station(o, r->site, r->line, r->station, &st)) != CT_OK)
			return rc == CT_ERR_INVALID ? CT_OK : rc;
		st->last_msg_us = ct_now_us();
		oee_station_result(st, r->started_at_us > 0 ? r->started_at_us : r->ended_at_us,
		                   r->ended_at_us);
		rc = mark_as(o, r->site, r->line, r->station, r->ended_at_us, due_ms,
		             OEE_MARK_SETTLE);
		if (rc == CT_OK && r->result == CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_NOK)
			rc = failure(o, r->unit_id);
	}
	return rc;
}

static int after_verdicts(struct oee *o, const Cellthread__V1__VerdictBatch *b, int64_t due_ms)
{
	int rc = CT_OK;

	for (size_t i = 0; i < b->n_verdicts && rc == CT_OK; i++) {
		const Cellthread__V1__Verdict *v = b->verdicts[i];
		if (v->verdict == CELLTHREAD__V1__VERDICT_CODE__VERDICT_CODE_PASS)
			continue; /* counts nothing the result did not */
		rc = mark_as(o, v->site, v->line, v->station,
		             v->decided_at_us > 0 ? v->decided_at_us : ct_now_us(), due_ms,
		             OEE_MARK_SETTLE);
		if (rc == CT_OK)
			rc = failure(o, v->unit_id);
	}
	return rc;
}

/* The bytes ct_spool_read counts against its limit: topic, its NUL and payload. */
static size_t batch_bytes(const struct ct_spool_batch *batch)
{
	size_t n = 0;

	for (size_t i = 0; i < batch->count; i++)
		n += strlen(batch->records[i].topic) + 1 + batch->records[i].payload_len;
	return n;
}

static int handle(void *ctx, const struct ct_spool_batch *batch, void **ret_job)
{
	struct oee *o = ctx;
	struct oee_item **stored = NULL;
	struct store_ctx sc;
	struct batch_job *job;
	int64_t now_ms = ct_mono_ms();
	int64_t due_ms = now_ms + o->cfg.publish_interval_s * 1000;
	size_t n_stored = 0, n_items = 0;
	int rc = CT_OK;

	o->seq++;
	/* Short of both limits, or the read stopped for the end of the spool: a batch cut by
	 * the byte limit leaves a backlog, whose old results are no silence. */
	o->caught_up =
	        batch->count < (size_t)o->cfg.batch_records && batch_bytes(batch) < OEE_BATCH_BYTES;
	if (batch->count == 0)
		return CT_OK;
	if (batch->count > o->items_cap) {
		struct oee_item *grown =
		        ct_array_grow(o->items, &o->items_cap, batch->count, sizeof(*o->items), 64);
		if (grown == NULL)
			return CT_ERR_NOMEM;
		o->items = grown;
	}
	stored = calloc(batch->count, sizeof(*stored));
	if (stored == NULL)
		return CT_ERR_NOMEM;
	for (size_t i = 0; i < batch->count; i++)
		if (decode(o, &batch->records[i], &o->items[n_items])) {
			struct oee_item *it = &o->items[n_items++];
			if (it->kind == CT_KIND_STATE || it->kind == CT_KIND_ACK)
				stored[n_stored++] = it;
		}
	sc.o = o;
	sc.stored = stored;
	/* CT_ERR_STOPPED (shutdown while the database is away): the spool keeps the batch. */
	if (n_stored > 0)
		rc = ct_pg_store_batch(o->pg, &ct_service_stop, n_stored, store_some, store_refused,
		                       &sc);
	for (size_t i = 0; i < n_items && rc == CT_OK; i++) {
		const struct oee_item *it = &o->items[i];
		if (it->refused)
			continue;
		if (it->kind == CT_KIND_STATE)
			rc = after_state(o, (const void *)it->msg, now_ms);
		else if (it->kind == CT_KIND_RESULT)
			rc = after_results(o, (const void *)it->msg, due_ms);
		else if (it->kind == CT_KIND_VERDICT)
			rc = after_verdicts(o, (const void *)it->msg, due_ms);
	}
	if (rc == CT_OK)
		rc = makers_of_failed(o, due_ms);
	ct_pgarray_reset(&o->failed_units);
	for (size_t i = 0; i < n_items; i++)
		ct_pb_free(o->items[i].msg);
	free(stored);
	if (rc != CT_OK)
		return rc;
	/* The job takes the batch's position to acked: committed once its pairs are published. */
	if ((job = malloc(sizeof(*job))) == NULL)
		return CT_ERR_NOMEM;
	job->seq = o->seq;
	job->end_segment = batch->end_segment;
	job->end_offset = batch->end_offset;
	*ret_job = job;
	return CT_OK;
}

static int acked(void *ctx, void *job)
{
	struct oee *o = ctx;
	struct batch_job *b = job;
	int rc = oee_pending_add(&o->dirty, b->seq, b->end_segment, b->end_offset);

	free(b);
	return rc;
}

static void discard(void *ctx, void *job)
{
	(void)ctx;
	free(job);
}

static int rewind_batches(void *ctx, void *const *jobs, size_t n_jobs)
{
	struct oee *o = ctx;

	(void)jobs; /* the replay makes them again */
	(void)n_jobs;
	oee_pending_clear(&o->dirty);
	o->caught_up = false;
	return CT_OK;
}

/* ---- tick: derived states, refreshes, figures ---- */

static int store_derived(struct oee *o, struct oee_station *st, enum oee_derive state,
                         int64_t since_us)
{
	Cellthread__V1__StationState s = CELLTHREAD__V1__STATION_STATE__INIT;
	Cellthread__V1__Header h = CELLTHREAD__V1__HEADER__INIT;
	char id[CT_DERIVED_ID_MAX], since[24], kind[4], err[512];
	const char *parts[5] = {st->site, st->line, st->station, kind, since};
	bool is_new = false;
	int rc;

	snprintf(since, sizeof(since), "%lld", (long long)since_us);
	snprintf(kind, sizeof(kind), "%d", (int)state);
	if ((rc = ct_id_derive(id, sizeof(id),
	                       state == OEE_DERIVE_PRODUCING ? "oee-run-" : "oee-unk-", parts,
	                       5)) != CT_OK)
		return rc;
	h.event_id = id;
	s.header = &h;
	s.site = st->site;
	s.line = st->line;
	s.station = st->station;
	s.state = (Cellthread__V1__StationStateKind)state;
	s.since_us = since_us;
	s.reason_code = (char *)(state == OEE_DERIVE_UNKNOWN_STOP ? "NO_RESULT" : "");
	do
		rc = oee_db_store_state(o->pg, &s, "derived", &is_new, err, sizeof(err));
	while ((rc = db_outcome(o, rc, "storing a derived state", err)) == CT_ERR_AGAIN);
	if (rc == CT_ERR_STOPPED)
		return rc;
	if (rc != CT_OK)
		return CT_OK; /* warned; tried again next turn */
	oee_station_derived(st, state, since_us);
	o->n.derived += is_new;
	ct_info("%s/%s/%s: derived %s since %lld", st->site, st->line, st->station,
	        state == OEE_DERIVE_PRODUCING ? "PRODUCING" : "UNKNOWN_STOP", (long long)since_us);
	if ((rc = mark(o, st->site, st->line, st->station, since_us, ct_mono_ms())) != CT_OK)
		return rc;
	return mark(o, st->site, st->line, st->station, ct_now_us(), ct_mono_ms());
}

static int derive_and_refresh(struct oee *o, int64_t now_us, int64_t now_ms)
{
	int64_t gap_us = o->cfg.unknown_gap_s * 1000000LL; /* for sites without oee_config */
	/* No backlog: also after a last batch that happened to be full. */
	bool caught_up = o->caught_up || ct_spool_backlog_bytes(o->svc.spool) == 0;
	int rc = CT_OK;

	for (size_t i = 0; i < o->stations.n && rc == CT_OK; i++) {
		struct oee_station *st = &o->stations.items[i];
		int64_t since = 0;
		enum oee_derive d =
		        oee_station_derive(st, now_us, now_ms, st->gap_us > 0 ? st->gap_us : gap_us,
		                           caught_up, &since);
		if (d != OEE_DERIVE_NONE && (rc = store_derived(o, st, d, since)) != CT_OK)
			break;
		if (st->open_shift[0] == '\0')
			continue;
		if (now_us >= st->open_shift_end_us) {
			/* The shift ended: its final figures once more (they go to history now).
			 * A station silent all through it is forgotten (its retained live figures
			 * stay, with their shift_end); the others' new shift is computed. */
			rc = mark_as(o, st->site, st->line, st->station, st->open_shift_end_us - 1,
			             now_ms, 0);
			st->open_shift[0] = '\0';
			if (rc == CT_OK && st->last_msg_us < st->open_shift_start_us) {
				ct_info("%s/%s/%s: no message during its last shift; forgotten",
				        st->site, st->line, st->station);
				/* The last station takes its place: i again next (unsigned
				 * wrap-around at 0, then i++). */
				rc = oee_stations_remove(&o->stations, i);
				i--;
			} else if (rc == CT_OK) {
				rc = mark_as(o, st->site, st->line, st->station, now_us, now_ms, 0);
			}
		} else if (now_ms >= st->next_refresh_ms) {
			/* Time passes: a stopped station's availability falls without a message.
			 * Not urgent: the line's computation refreshes all its stations. */
			st->next_refresh_ms = now_ms + o->cfg.refresh_s * 1000;
			rc = mark_as(o, st->site, st->line, st->station, now_us, now_ms, 0);
		}
	}
	return rc;
}

/* Publishes one figures object (a pair's, or one station's of its line's): live while its
 * shift is open (and then the station's open shift is remembered, for its refreshes and its
 * final figures), else to history. CT_OK also when it is not figures (warned). */
static int publish_one(struct oee *o, json_t *obj, int64_t now_us, int64_t now_ms)
{
	struct oee_figures f;
	char topic[CT_TOPIC_MAX], err[512];
	struct oee_station *st;
	bool open;
	int rc = oee_figures_from(&f, obj, err, sizeof(err));

	if (rc != CT_OK) {
		warn_db(o, "figures from ct_oee_shift", err);
		o->n.figures_failed++;
		return rc == CT_ERR_NOMEM ? rc : CT_OK;
	}
	open = now_us >= f.msg.shift_start_us && now_us < f.msg.shift_end_us;
	f.header.producer = o->producer;
	f.header.produced_at_us = now_us;
	rc = oee_topic(topic, sizeof(topic), f.msg.site, f.msg.line, f.msg.station, !open);
	if (rc == CT_OK)
		rc = ct_loop_publish(&o->loop, topic, &f.msg.base, open);
	if (rc == CT_OK && open) {
		o->n.published_live++;
		if (f.msg.station[0] != '\0' &&
		    oee_stations_get(&o->stations, f.msg.site, f.msg.line, f.msg.station, now_ms,
		                     &st) == CT_OK &&
		    strlen(f.msg.shift_id) < sizeof(st->open_shift)) {
			memcpy(st->open_shift, f.msg.shift_id, strlen(f.msg.shift_id) + 1);
			st->open_shift_start_us = f.msg.shift_start_us;
			st->open_shift_end_us = f.msg.shift_end_us;
			st->next_refresh_ms = now_ms + o->cfg.refresh_s * 1000;
		}
	} else if (rc == CT_OK) {
		o->n.published_history++;
	}
	ct_debug("%s: %s A %.3f P %.3f Q %.3f OEE %.3f", topic, f.msg.shift_id, f.msg.availability,
	         f.msg.performance, f.msg.quality, f.msg.oee);
	oee_figures_cleanup(&f);
	return rc == CT_ERR_INVALID || rc == CT_ERR_TOO_BIG ? CT_OK : rc;
}

/* Whether station's figures of p's line and shift were published on their own this turn
 * (the urgent pairs in done[0, n_done)): the line's computation does not send them again. */
static bool sent_alone(const struct oee_pair *p, const char *station, const struct oee_pair *done,
                       size_t n_done)
{
	for (size_t i = 0; i < n_done; i++)
		if (strcmp(done[i].station, station) == 0 &&
		    strcmp(done[i].shift_id, p->shift_id) == 0 &&
		    strcmp(done[i].line, p->line) == 0 && strcmp(done[i].site, p->site) == 0)
			return true;
	return false;
}

/* Computes, stores and publishes one pair: a station's on its own, a line's with all its
 * stations' (the pairs published before it this turn, done[0, n_done), not again). CT_OK
 * also when the database refused it (warned, dropped); CT_ERR_AGAIN when the connection went
 * (the pair is due again). */
static int publish_pair(struct oee *o, const struct oee_pair *p, const struct oee_pair *done,
                        size_t n_done, int64_t now_us, int64_t now_ms)
{
	bool is_line = p->station[0] == '\0';
	json_t *root, *stations, *one;
	json_error_t jerr;
	char *json = NULL;
	char err[512];
	size_t i;
	int rc;

	if (is_line)
		rc = oee_db_line_figures(o->pg, p, &json, err, sizeof(err));
	else
		rc = oee_db_figures(o->pg, p, &json, err, sizeof(err));
	if (rc != CT_OK) {
		char what[3 * CT_ID_MAX + OEE_SHIFT_ID_MAX + 32];
		snprintf(what, sizeof(what), "ct_oee_shift(%s, %s, '%s', %s)", p->site, p->line,
		         p->station, p->shift_id);
		rc = db_outcome(o, rc, what, err);
		if (rc == CT_ERR_AGAIN)
			oee_dirty_restore(&o->dirty, p, now_ms);
		else if (rc != CT_ERR_STOPPED)
			o->n.figures_failed++;
		return rc == CT_ERR_STOPPED || rc == CT_ERR_AGAIN ? rc : CT_OK;
	}
	root = json_loads(json, 0, &jerr);
	free(json);
	if (root == NULL) {
		warn_db(o, "figures from ct_oee_shift", jerr.text);
		o->n.figures_failed++;
		return CT_OK;
	}
	if (!is_line) {
		rc = publish_one(o, root, now_us, now_ms);
	} else {
		rc = publish_one(o, json_object_get(root, "line"), now_us, now_ms);
		stations = json_object_get(root, "stations");
		json_array_foreach(stations, i, one)
		{
			const char *name = json_string_value(json_object_get(one, "station"));
			if (rc != CT_OK)
				break;
			if (name != NULL && !sent_alone(p, name, done, n_done))
				rc = publish_one(o, one, now_us, now_ms);
		}
	}
	json_decref(root);
	if (rc == CT_OK &&
	    oee_dirty_published(&o->dirty, p, now_ms + o->cfg.publish_interval_s * 1000) != CT_OK)
		rc = CT_ERR_NOMEM;
	return rc;
}

/* Computes and publishes the pairs due at due_ms, the urgent ones first, for at most
 * budget_ms (so the loop goes back to the spool, and a state's figures wait for no more
 * than one turn of others), then waits for the broker. Returns CT_OK (pairs the database
 * could not compute are due again), or the error of a publish, which makes the loop handle
 * the batches since the last commit again. */
static int publish_due(struct oee *o, int64_t due_ms, int64_t budget_ms)
{
	struct oee_pair *taken = o->taken;
	int64_t now_ms = ct_mono_ms(), now_us = ct_now_us();
	size_t n = oee_dirty_take_due(&o->dirty, due_ms, taken, OEE_TAKE_MAX);
	size_t done = 0;
	int rc = CT_OK;

	for (; done < n && rc == CT_OK; done++) {
		if (done > 0 && ct_mono_ms() - now_ms >= budget_ms)
			break;
		rc = publish_pair(o, &taken[done], taken, done, now_us, now_ms);
	}
	if (rc == CT_OK && done > 0)
		rc = ct_loop_flush(&o->loop);
	if (rc == CT_ERR_AGAIN) {
		/* The pair in hand is back in the set; so are the rest, and nothing fails. */
		rc = CT_OK;
	} else if (rc != CT_OK) {
		/* Not published (or not acknowledged): every pair taken is due again. */
		for (size_t i = 0; i < n; i++)
			if (oee_dirty_restore(&o->dirty, &taken[i], now_ms + RETRY_MS) != CT_OK)
				return CT_ERR_NOMEM;
		return rc;
	}
	/* Those not reached keep their place: due as they were. */
	for (size_t i = done; i < n; i++)
		if (oee_dirty_restore(&o->dirty, &taken[i], taken[i].due_ms) != CT_OK)
			return CT_ERR_NOMEM;
	return CT_OK;
}

/* One read of oee_recompute: the rows no shift holds, deleted after the read. */
struct drain_ctx {
	struct oee *o;
	struct ct_pgarray minute, site, line, station, changes;
};

/* A late bucket: its pair is computed again, and the statement that stores the figures
 * deletes the row (a kill -9 before that leaves it queued). A closed shift's pair is due now;
 * an open shift's with its next refresh, which it would be anyway. A row no shift holds is
 * deleted (nothing to compute); one whose shift cannot be found now stays for the next pass.
 * Only shutdown and memory fail. */
static int queued(void *ctx, const struct oee_queued *q)
{
	struct drain_ctx *d = ctx;
	struct oee *o = d->o;
	int64_t due_ms = ct_mono_ms();
	struct oee_shift s;
	int rc = shift_of(o, q->site, q->line, q->minute_us, &s);

	o->drain_after = *q;
	o->drain_resume = true;
	if (rc == CT_ERR_NOT_FOUND) {
		ct_pgarray_text(&d->minute, q->minute);
		ct_pgarray_text(&d->site, q->site);
		ct_pgarray_text(&d->line, q->line);
		ct_pgarray_text(&d->station, q->station);
		ct_pgarray_text(&d->changes, q->changes);
		return CT_OK;
	}
	if (rc != CT_OK)
		return rc == CT_ERR_STOPPED ? rc : CT_OK;
	if (s.end_us > ct_now_us())
		due_ms += o->cfg.refresh_s * 1000;
	rc = oee_dirty_mark(&o->dirty, q->site, q->line, q->station, s.id, due_ms, OEE_NO_SEQ, 0);
	return rc == CT_ERR_NOMEM ? rc : CT_OK;
}

/* Deletes the rows of d no shift holds. */
static int delete_unheld(struct oee *o, struct drain_ctx *d)
{
	const char *lits[5];
	struct ct_pgarray *arrays[5] = {&d->minute, &d->site, &d->line, &d->station, &d->changes};
	char err[512];
	int rc;

	if (d->minute.count == 0)
		return CT_OK;
	for (int i = 0; i < 5; i++)
		if ((lits[i] = ct_pgarray_literal(arrays[i])) == NULL)
			return CT_ERR_NOMEM;
	do
		rc = oee_db_queue_delete(o->pg, lits[0], lits[1], lits[2], lits[3], lits[4], err,
		                         sizeof(err));
	while ((rc = db_outcome(o, rc, "deleting from oee_recompute", err)) == CT_ERR_AGAIN);
	return rc == CT_ERR_STOPPED ? rc : CT_OK; /* warned; deleted on a later pass */
}

/* Late counts (oee_recompute, filled by 0011's trigger on oee_count): the shifts they fall in
 * are computed again, closed ones too. Read in passes over the queue in minute order, up to
 * OEE_QUEUE_READ rows at a time, each read going on after the last: rows waiting for their
 * figures, or whose figures failed, never hold the others back, and are seen again on the
 * next pass. A full read goes on at once unless publishing is behind (a week of history
 * replayed queues a row per station and minute: it is worked off as fast as its figures are
 * published, and live figures wait behind at most what is due already). Only shutdown and
 * memory fail. */
static int drain_recompute(struct oee *o)
{
	struct drain_ctx d;
	int64_t now_ms = ct_mono_ms();
	size_t n = 0;
	char err[512];
	int rc;

	if (now_ms < o->next_drain_ms || (o->drain_resume && oee_dirty_any_due(&o->dirty, now_ms)))
		return CT_OK;
	memset(&d, 0, sizeof(d));
	d.o = o;
	ct_pgarray_init(&d.minute);
	ct_pgarray_init(&d.site);
	ct_pgarray_init(&d.line);
	ct_pgarray_init(&d.station);
	ct_pgarray_init(&d.changes);
	do
		rc = oee_db_queue_read(o->pg, o->drain_resume ? &o->drain_after : NULL, queued, &d,
		                       &n, err, sizeof(err));
	while ((rc = db_outcome(o, rc, "reading oee_recompute", err)) == CT_ERR_AGAIN);
	if (rc == CT_OK || rc == CT_ERR_PG) {
		/* Short: the pass is over, the next one starts at the oldest row, a while later. */
		if (n < OEE_QUEUE_READ) {
			o->drain_resume = false;
			o->next_drain_ms = now_ms + DRAIN_MS;
		}
		rc = delete_unheld(o, &d);
	}
	ct_pgarray_cleanup(&d.minute);
	ct_pgarray_cleanup(&d.site);
	ct_pgarray_cleanup(&d.line);
	ct_pgarray_cleanup(&d.station);
	ct_pgarray_cleanup(&d.changes);
	return rc == CT_ERR_STOPPED || rc == CT_ERR_NOMEM ? rc : CT_OK;
}

static int commit_published(struct oee *o)
{
	uint64_t segment, offset;

	if (!oee_pending_take(&o->dirty, &segment, &offset))
		return CT_OK;
	return ct_loop_commit(&o->loop, segment, offset);
}

static int tick(void *ctx)
{
	struct oee *o = ctx;
	char err[512];
	int rc;

	if (ct_pg_ensure(o->pg, -1, &ct_service_stop, err, sizeof(err)) != CT_OK)
		return CT_ERR_STOPPED;
	if (ct_mono_ms() >= o->next_shift_flush_ms) {
		oee_shift_cache_clear(&o->shifts);
		o->next_shift_flush_ms = ct_mono_ms() + SHIFT_CACHE_MS;
	}
	if ((rc = derive_and_refresh(o, ct_now_us(), ct_mono_ms())) != CT_OK ||
	    (rc = drain_recompute(o)) != CT_OK ||
	    (rc = publish_due(o, ct_mono_ms(), PUBLISH_MS)) != CT_OK)
		return rc;
	return commit_published(o);
}

static void report(void *ctx)
{
	struct oee *o = ctx;

	ct_info("states stored %lu (%lu duplicates), acks %lu (%lu duplicates), results %lu, "
	        "failures looked up %lu, derived states %lu; figures published %lu live, %lu "
	        "history, %lu failed; dead-lettered %lu; %zu stations, %zu pairs due, shift cache "
	        "%lu hits %lu misses",
	        o->n.states, o->n.states_duplicate, o->n.acks, o->n.acks_duplicate, o->n.results,
	        o->n.failures, o->n.derived, o->n.published_live, o->n.published_history,
	        o->n.figures_failed, o->n.dead_letters, o->stations.n, o->dirty.n, o->shifts.hits,
	        o->shifts.misses);
}

/* At the stop: publish every pair now, also those due later (a result's pair waits up to an
 * interval, and once more to settle), so their batches are committed and a clean restart
 * handles nothing again. What cannot be published (the database or the broker gone) stays
 * uncommitted and is handled again at the next start. */
static int finish(void *ctx)
{
	struct oee *o = ctx;
	int rc = CT_OK;

	/* Two rounds publish a pair and its settling; more only while more than OEE_TAKE_MAX
	 * wait. */
	for (int round = 0; round < 16 && o->dirty.n > 0 && rc == CT_OK; round++)
		rc = publish_due(o, INT64_MAX, INT64_MAX);
	if (rc != CT_OK && rc != CT_ERR_STOPPED)
		ct_warn("at the stop, %zu figures not published (%s): their input is handled again "
		        "at the next start",
		        o->dirty.n, ct_strerror(rc));
	report(ctx);
	return commit_published(o);
}

int oee_mark_unfinished(void *ctx, const struct oee_row *r)
{
	int rc = oee_dirty_mark(ctx, r->site, r->line, r->station, r->shift_id, ct_mono_ms(),
	                        OEE_NO_SEQ, 0);

	return rc == CT_ERR_NOMEM ? rc : CT_OK;
}

const struct ct_loop_handlers oee_handlers = {
        .handle = handle,
        .acked = acked,
        .discard = discard,
        .rewind = rewind_batches,
        .tick = tick,
        .report = report,
        .finish = finish,
};
