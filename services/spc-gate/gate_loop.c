/* gate_loop: what spc-gate does in the runtime's loop (ct_loop): judge each batch, hand it
 * to the saver once the broker has its messages, commit it once saved, and go back to the
 * last save when the broker did not take a batch.
 *
 * Per batch: for each result, judge it against its specs, apply the lot gate, publish the
 * verdict, feed the charts, and publish alerts and commands for every signal, at once (this
 * is the latency that matters: result in, command out, no database on the way). What the
 * batch changed (chart states, signals, actions, queue, lots, the IDs of the results judged)
 * becomes a job; once the broker has acknowledged the batch's messages (ct_loop's acked), the
 * job goes to the saver thread, which stores it in one PostgreSQL transaction; only then is
 * the spool position committed (tick -> finish_saved).
 *
 * A kill -9 before the save replays the batch against the chart states of the last save:
 * the same verdicts, alerts and commands again, with the same IDs (derived from the result's
 * event ID), which consumers treat as duplicates. After the save, the judged IDs make the
 * replay skip them: no chart sees a point twice.
 *
 * Engineers change specs, charts, plans and gate rules with SQL; triggers NOTIFY and tick
 * reloads. Lot releases and undo requests arrive the same way.
 *
 * Chart instances are bounded (spc.max_chart_states): gate_charts evicts idle instances
 * whose state is saved, and a stream without a live instance is looked up in
 * spc_chart_state on this loop's connection (one primary-key query, only on such a miss).
 * New streams start at spc.new_streams_per_min at most; refusals are logged once a minute
 * with the latest refused stream and counted in the status line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_log.h"
#include "ct_msg.h"
#include "ct_time.h"
#include "ct_topic.h"
#include "gate.h"
#include "gate_saver.h"

#define PRUNE_EVERY_MS       (3600LL * 1000)
#define REFUSAL_LOG_EVERY_MS (60LL * 1000)

static int judge_result(struct gate *g, const Cellthread__V1__StationResult *r)
{
	struct gate_judgement j;
	struct gate_lot_outcome lo;
	char reason[GATE_REASON_MAX] = "", cause[GATE_NAME_MAX + 8];
	int rc;

	gate_judge(&g->specs, r, &j);
	if ((rc = gate_lots_judge(&g->lots, r, &j, &lo)) != CT_OK)
		return rc;
	for (size_t i = 0; i < lo.n_holds; i++) {
		if ((rc = gate_pending_add_hold(&g->pending, &lo.holds[i])) != CT_OK)
			return rc;
		ct_warn("holding lot %s: %s", lo.holds[i].lot_id, lo.holds[i].reason);
		g->holds++;
	}
	if (j.verdict != VERDICT(PASS)) {
		const struct gate_failure *f = &j.failed[0];
		g->failed++;
		if (f->spec != NULL && isfinite(f->value))
			snprintf(reason, sizeof(reason), "%s %s (%.6g %s)", f->characteristic,
			         f->reason, f->value, f->spec->uom);
		else
			snprintf(reason, sizeof(reason), "%s: %s", f->characteristic, f->reason);
		gate_pending_item(&g->pending, r->unit_id, (int)r->unit_kind, r->site, r->line,
		                  r->station,
		                  j.verdict == VERDICT(REWORK) ? "rework" : "inspection",
		                  r->header->event_id, reason, j.verdict, g->now_us);
	}
	if (lo.inspection_reason[0] != '\0') {
		snprintf(cause, sizeof(cause), "lot:%s", lo.held_via_lot);
		gate_pending_item(&g->pending, r->unit_id, (int)r->unit_kind, r->site, r->line,
		                  r->station, "inspection", cause, lo.inspection_reason, j.verdict,
		                  g->now_us);
		gate_pending_held_unit(&g->pending, r->unit_id, lo.held_via_lot, r->site,
		                       g->now_us);
		if ((rc = gate_lots_add_held_unit(&g->lots, r->unit_id)) != CT_OK)
			return rc;
		if (reason[0] == '\0')
			snprintf(reason, sizeof(reason), "%s", lo.inspection_reason);
	}
	gate_publish_verdict(g, r, &j, &lo, reason);
	if ((rc = gate_charts_feed(&g->charts, r, j.verdict, gate_on_signal, g)) != CT_OK)
		return rc;
	gate_rows_text(&g->pending.judged, r->header->event_id);
	gate_rows_end(&g->pending.judged);
	g->judged++;
	return CT_OK;
}

/* A unit assembled from held units is held too (a module of a held cell, a pack of that
 * module). Results with children are checked in gate_lots_judge; Genealogy messages here.
 * A DISASSEMBLY takes children out of the parent: it holds nothing. (Links traveler refuses,
 * a second parent or a cycle, may still hold here: holding too much is the safe side, and a
 * quality engineer releases it.) */
static int judge_genealogy(struct gate *g, const Cellthread__V1__Genealogy *gen)
{
	char cause[GATE_NAME_MAX + 8], reason[GATE_REASON_MAX];

	if (gen->relation == CELLTHREAD__V1__GENEALOGY_RELATION__GENEALOGY_RELATION_DISASSEMBLY)
		return CT_OK;
	for (size_t i = 0; i < gen->n_children; i++) {
		const char *child = gen->children[i]->unit_id;
		if (!ct_map_get(&g->lots.held_units, child, NULL) &&
		    !gate_lots_is_held(&g->lots, gen->site, child))
			continue;
		snprintf(cause, sizeof(cause), "lot:%s", child);
		snprintf(reason, sizeof(reason), "contains held %s", child);
		gate_pending_item(&g->pending, gen->parent_unit_id, (int)gen->parent_kind,
		                  gen->site, gen->line, gen->station, "inspection", cause, reason,
		                  VERDICT(PASS), g->now_us);
		gate_pending_held_unit(&g->pending, gen->parent_unit_id, child, gen->site,
		                       g->now_us);
		return gate_lots_add_held_unit(&g->lots, gen->parent_unit_id);
	}
	return CT_OK;
}

static int refresh(struct gate *g, bool first)
{
	char err[1024];
	int rc;

	if ((rc = gate_db_session_setup(g->pg, err, sizeof(err))) != CT_OK ||
	    (rc = gate_db_load_config(g->pg, &g->specs, &g->charts, &g->lots, err, sizeof(err))) !=
	            CT_OK ||
	    (first && (rc = gate_db_load_charts(g->pg, &g->charts, err, sizeof(err))) != CT_OK) ||
	    (rc = gate_db_load_lots(g->pg, &g->lots, err, sizeof(err))) != CT_OK) {
		ct_error("cannot load configuration and state: %s", err);
		return rc;
	}
	ct_info("loaded %zu specs, %zu charts, %zu gate rules, %zu held lots, %zu held units",
	        g->specs.count, g->charts.n_defs, g->lots.n_rules, ct_map_count(&g->lots.held),
	        ct_map_count(&g->lots.held_units));
	gate_publish_lot_changes(g);
	gate_process_undos(g);
	return CT_OK;
}

/* Reads NOTIFYs that arrived; sets what to reload. */
static void poll_notifications(struct gate *g)
{
	char channel[64];
	bool got;

	while (ct_pg_next_notify(g->pg, channel, sizeof(channel), &got) == CT_OK && got) {
		if (strcmp(channel, "ct_spc_config") == 0)
			g->reload_config = true;
		else if (strcmp(channel, "ct_lot") == 0)
			g->reload_lots = true;
		else if (strcmp(channel, "ct_spc_undo") == 0)
			g->undo_wanted = true;
	}
}

static bool decode_record(struct gate *g, const struct ct_spool_record *rec, struct decoded *d)
{
	struct ct_topic where;
	const ProtobufCMessageDescriptor *desc = NULL;
	size_t max_len = (size_t)g->cfg.max_payload_kib * 1024;
	char reason[256];
	int rc;

	memset(d, 0, sizeof(*d));
	if (ct_topic_parse(rec->topic, &where, NULL, 0) == CT_OK && !where.is_edge &&
	    (where.kind == CT_KIND_RESULT || where.kind == CT_KIND_GENEALOGY))
		desc = ct_msg_descriptor(where.kind);
	if (desc == NULL) {
		gate_dead_letter(g, rec->topic, DEAD_LETTER(TOPIC),
		                 "spc-gate does not judge this topic", rec->payload,
		                 rec->payload_len);
		return false;
	}
	rc = ct_pb_unpack(desc, rec->payload, rec->payload_len, max_len, &d->msg);
	if (rc != CT_OK) {
		snprintf(reason, sizeof(reason), "%s: %s", desc->name, ct_strerror(rc));
		gate_dead_letter(g, rec->topic,
		                 rc == CT_ERR_TOO_BIG ? DEAD_LETTER(OVERSIZE) : DEAD_LETTER(DECODE),
		                 reason, rec->payload, rec->payload_len);
		return false;
	}
	d->is_genealogy = desc == &cellthread__v1__genealogy__descriptor;
	return true;
}

/* The minimum spc-gate needs from a result; ingest checked the rest. */
static bool result_ok(const Cellthread__V1__StationResult *r)
{
	return r->header != NULL && ct_id_is_valid(r->header->event_id) &&
	       ct_id_is_valid(r->unit_id) && ct_id_is_valid(r->site) && ct_id_is_valid(r->line) &&
	       ct_id_is_valid(r->station);
}

/* Judges the results of a batch, in order, skipping those judged before. */
static int judge_batch(struct gate *g, size_t n)
{
	const char **ids = NULL;
	bool *judged = NULL;
	size_t n_ids = 0, skipped = 0;
	char err[512];
	int rc = CT_OK;

	/* Count results, collect their IDs for the replay check. */
	for (size_t i = 0; i < n; i++)
		if (g->decoded[i].msg != NULL && !g->decoded[i].is_genealogy)
			n_ids += ((Cellthread__V1__StationResultBatch *)(void *)g->decoded[i].msg)
			                 ->n_results;
	if (n_ids > 0) {
		ids = calloc(n_ids, sizeof(*ids));
		judged = calloc(n_ids, sizeof(*judged));
		if (ids == NULL || judged == NULL) {
			rc = CT_ERR_NOMEM;
			goto out;
		}
	}
	n_ids = 0;
	for (size_t i = 0; i < n; i++) {
		Cellthread__V1__StationResultBatch *b = (void *)g->decoded[i].msg;
		if (b == NULL || g->decoded[i].is_genealogy)
			continue;
		for (size_t k = 0; k < b->n_results; k++)
			ids[n_ids++] =
			        result_ok(b->results[k]) ? b->results[k]->header->event_id : "";
	}
	if (g->check_judged && n_ids > 0) {
		if ((rc = gate_db_judged(g->pg, ids, n_ids, judged, err, sizeof(err))) != CT_OK) {
			ct_warn("cannot check judged results: %s", err);
			goto out;
		}
		for (size_t i = 0; i < n_ids; i++)
			skipped += judged[i];
		/* Once a batch holds nothing judged before, the replay window is behind us. */
		g->check_judged = skipped > 0;
		if (skipped > 0)
			ct_info("skipping %zu results judged before the restart", skipped);
	}
	n_ids = 0;
	g->now_us = ct_now_us();
	g->charts.now_us = g->now_us;
	for (size_t i = 0; i < n && rc == CT_OK; i++) {
		struct decoded *d = &g->decoded[i];
		if (d->msg == NULL)
			continue;
		if (d->is_genealogy) {
			rc = judge_genealogy(g, (const void *)d->msg);
			continue;
		}
		Cellthread__V1__StationResultBatch *b = (void *)d->msg;
		for (size_t k = 0; k < b->n_results && rc == CT_OK; k++, n_ids++) {
			const Cellthread__V1__StationResult *r = b->results[k];
			if (judged[n_ids] || !result_ok(r))
				continue;
			/* A redelivery (QoS 1 after a reconnect) is judged once. */
			if (ct_dedup_check_and_add(g->recent, r->header->event_id))
				continue;
			rc = judge_result(g, r);
		}
		gate_flush_verdicts(g); /* one VerdictBatch per input message */
	}
out:
	free(ids);
	free(judged);
	return rc;
}

/* Takes back the jobs the saver finished, in order, and commits their spool positions: a
 * batch is acknowledged upstream only once it is in the database. A job the database refused
 * (a bug or a schema mismatch, not a lost connection) is reported as a dead letter and
 * passed; a job not saved because of shutdown stops the commits (replayed at the next
 * start). After saved holds, the lot status goes out and the held sets are reloaded. */
static int finish_saved(struct gate *g)
{
	struct gate_pending *job;
	struct ct_spool_batch position = {0};
	bool holds_saved = false, have_position = false;
	char err[512];
	int rc = CT_OK;

	while ((job = gate_saver_done(g->saver)) != NULL) {
		bool refused = job->error[0] != '\0' && !job->stopped;
		if (refused)
			gate_dead_letter(g, CT_TOPIC_ROOT "/plant", DEAD_LETTER(STORE), job->error,
			                 NULL, 0);
		if (job->stopped)
			g->commits_blocked = true;
		holds_saved |= job->n_holds > 0 && job->error[0] == '\0';
		/* Instances snapshotted in this job may be evicted now, or not if it failed. */
		gate_charts_saved(&g->charts, job->chart_seq, job->error[0] == '\0');
		if (job->has_position && !g->commits_blocked) {
			position.end_segment = job->end_segment;
			position.end_offset = job->end_offset;
			have_position = true;
		}
		gate_pending_cleanup(job);
		free(job);
	}
	/* Back within the bound if a saved stream had to come back while every live instance
	 * was unsaved. */
	gate_charts_trim(&g->charts);
	/* One cursor write for every job that came back (jobs come back in order). */
	if (have_position &&
	    (rc = ct_loop_commit(&g->loop, position.end_segment, position.end_offset)) != CT_OK)
		ct_error("cannot commit the spool position: %s", ct_strerror(rc));
	if (holds_saved) {
		gate_publish_lot_changes(g);
		if (gate_db_load_lots(g->pg, &g->lots, err, sizeof(err)) != CT_OK)
			ct_warn("cannot reload held lots: %s", err);
	}
	return rc;
}

/* ---- ct_loop's handlers ------------------------------------------------------------------ */

int gate_tick(void *ctx)
{
	struct gate *g = ctx;
	char err[512];
	int rc;

	if (ct_pg_ensure(g->pg, -1, &ct_service_stop, err, sizeof(err)) != CT_OK)
		return CT_ERR_STOPPED;
	if (ct_pg_generation(g->pg) != g->pg_generation) {
		g->pg_generation = ct_pg_generation(g->pg);
		if (refresh(g, false) != CT_OK)
			return CT_ERR_AGAIN;
	}
	poll_notifications(g);
	if (g->reload_config) {
		g->reload_config = false;
		if (gate_db_load_config(g->pg, &g->specs, &g->charts, &g->lots, err, sizeof(err)) !=
		    CT_OK)
			ct_warn("configuration reload failed (keeping the old one): %s", err);
		else
			ct_info("configuration reloaded: %zu specs, %zu charts, %zu gate rules",
			        g->specs.count, g->charts.n_defs, g->lots.n_rules);
	}
	if (g->reload_lots) {
		g->reload_lots = false;
		gate_publish_lot_changes(g);
		if (gate_db_load_lots(g->pg, &g->lots, err, sizeof(err)) != CT_OK)
			ct_warn("cannot reload held lots: %s", err);
	}
	if (g->undo_wanted) {
		g->undo_wanted = false;
		gate_process_undos(g);
	}
	if ((rc = finish_saved(g)) != CT_OK)
		return rc;
	if (ct_mono_ms() >= g->next_prune_ms) {
		if (gate_db_prune(g->pg, (int)g->cfg.judged_keep_days, err, sizeof(err)) != CT_OK)
			ct_warn("cannot prune judged IDs: %s", err);
		g->next_prune_ms = ct_mono_ms() + PRUNE_EVERY_MS;
	}
	return CT_OK;
}

bool gate_has_work(void *ctx)
{
	struct gate *g = ctx;

	/* Lot changes and undos (tick) leave rows to save even without a result. */
	return !gate_pending_is_empty(&g->pending);
}

/* New streams refused since the last time: one warning a minute at most, naming the latest
 * (a flood of invented stations must not flood the log too). */
static void log_refusals(struct gate *g)
{
	const struct gate_charts_stats *st = &g->charts.stats;

	if (st->refused == g->refused_logged || ct_mono_ms() < g->next_refusal_log_ms)
		return;
	ct_warn("refused %llu chart points of new chart streams (%llu in all; latest: chart %s at "
	        "%s, %s); their results are judged as always",
	        (unsigned long long)(st->refused - g->refused_logged),
	        (unsigned long long)st->refused, st->refused_chart, st->refused_where,
	        st->refused_full ? "every live chart instance has unsaved changes"
	                         : "over spc.new_streams_per_min");
	g->refused_logged = st->refused;
	g->next_refusal_log_ms = ct_mono_ms() + REFUSAL_LOG_EVERY_MS;
}

int gate_load_stream(void *ctx, const char *chart_id, const char *site, const char *line,
                     const char *station, const char *recipe, struct gate_saved_state *ret,
                     bool *ret_found)
{
	struct gate *g = ctx;
	char err[512];
	int rc = gate_db_load_chart(g->pg, chart_id, site, line, station, recipe, ret, ret_found,
	                            err, sizeof(err));

	if (rc == CT_OK || rc == CT_ERR_NOMEM)
		return rc;
	if (rc == CT_ERR_INVALID) {
		/* A row that does not parse is a state this build cannot read: start over. */
		ct_warn("chart %s at %s/%s/%s: saved state unreadable (%s); the chart starts over",
		        chart_id, site, line, station, err);
		memset(ret, 0, sizeof(*ret));
		*ret_found = true;
		return CT_OK;
	}
	if (!ct_pg_is_connection_error(g->pg)) {
		ct_error("cannot read the saved state of chart %s at %s/%s/%s: %s", chart_id, site,
		         line, station, err);
		return CT_ERR_IO; /* not a lost connection: stop rather than loop */
	}
	ct_warn("cannot read the saved state of chart %s at %s/%s/%s: %s; judging again from the "
	        "last save",
	        chart_id, site, line, station, err);
	return CT_ERR_AGAIN;
}

int gate_handle(void *ctx, const struct ct_spool_batch *batch, void **ret_job)
{
	struct gate *g = ctx;
	struct gate_pending *job;
	int rc;

	if (batch->count > g->decoded_cap) {
		struct decoded *d = realloc(g->decoded, batch->count * sizeof(*d));
		if (d == NULL) {
			ct_error("out of memory for a batch of %zu", batch->count);
			return CT_ERR_NOMEM;
		}
		g->decoded = d;
		g->decoded_cap = batch->count;
	}
	for (size_t i = 0; i < batch->count; i++)
		if (!decode_record(g, &batch->records[i], &g->decoded[i]))
			g->decoded[i].msg = NULL;
	rc = judge_batch(g, batch->count);
	for (size_t i = 0; i < batch->count; i++)
		ct_pb_free(g->decoded[i].msg);
	log_refusals(g);
	if (rc == CT_ERR_AGAIN)
		return CT_ERR_UNACKED; /* a saved chart state could not be read (logged): judge
		                        * again from the last save once the database is back */
	if (rc != CT_OK) {
		ct_error("cannot judge the batch: %s", ct_strerror(rc));
		return rc;
	}
	if (g->verdicts_failed)
		return CT_ERR_UNACKED; /* verdicts not published: judge again from the last save */
	/* The job: what the batch changed, with its spool position, saved once the broker has
	 * acknowledged the batch's messages. */
	if ((job = malloc(sizeof(*job))) == NULL)
		return CT_ERR_NOMEM;
	gate_pending_snapshot(&g->pending, &g->charts, &g->lots, g->now_us);
	*job = g->pending; /* the job takes the rows; pending starts empty */
	gate_pending_init(&g->pending);
	if (batch->count > 0) {
		job->has_position = true;
		job->end_segment = batch->end_segment;
		job->end_offset = batch->end_offset;
	}
	*ret_job = job;
	return CT_OK;
}

int gate_acked(void *ctx, void *job)
{
	struct gate *g = ctx;

	gate_saver_submit(g->saver, job);
	return CT_OK;
}

void gate_discard(void *ctx, void *job)
{
	(void)ctx;
	gate_pending_cleanup(job);
	free(job);
}

int gate_rewind(void *ctx, void *const *jobs, size_t n_jobs)
{
	struct gate *g = ctx;
	char err[512];
	int rc;

	/* The jobs of the batches judged again (discarded by the loop) hold nothing needed:
	 * judging again makes them anew. The batches already with the saver are good: let them
	 * reach the database and commit them; everything after is judged again from the chart
	 * states of the last save. Lot changes and undos whose publish may have failed are
	 * looked at again. */
	(void)jobs;
	(void)n_jobs;
	g->reload_lots = true;
	g->undo_wanted = true;
	gate_saver_drain(g->saver);
	if ((rc = finish_saved(g)) != CT_OK)
		return rc;
	g->verdicts.len = 0;
	g->verdicts_failed = false;
	gate_pending_reset(&g->pending);
	gate_charts_drop_instances(&g->charts);
	gate_lots_clear_counters(&g->lots);
	ct_dedup_free(g->recent);
	g->recent = ct_dedup_new((size_t)g->cfg.dedup_window);
	g->check_judged = true;
	if (g->recent == NULL)
		return CT_ERR_NOMEM;
	for (;;) {
		if (ct_pg_ensure(g->pg, -1, &ct_service_stop, err, sizeof(err)) != CT_OK)
			return CT_ERR_STOPPED;
		if ((rc = gate_db_load_charts(g->pg, &g->charts, err, sizeof(err))) == CT_OK &&
		    (rc = gate_db_load_lots(g->pg, &g->lots, err, sizeof(err))) == CT_OK)
			return CT_OK;
		if (!ct_pg_is_connection_error(g->pg)) {
			ct_error("cannot reload the saved state: %s", err);
			return rc;
		}
	}
}

int gate_finish(void *ctx)
{
	struct gate *g = ctx;

	/* Whatever was judged and acknowledged goes to the database before we leave; the rest
	 * is replayed (and skipped once judged) at the next start. */
	gate_saver_drain(g->saver);
	return finish_saved(g) == CT_OK ? CT_OK : CT_ERR_IO;
}

void gate_report(void *ctx)
{
	struct gate *g = ctx;

	ct_info("judged %lu results (%lu failed), %lu signals, %lu commands, %lu holds; spool "
	        "backlog %llu bytes",
	        g->judged, g->failed, g->signals, g->commands, g->holds,
	        (unsigned long long)ct_spool_backlog_bytes(g->svc.spool));
	gate_report_charts(g);
	log_refusals(g);
}

void gate_report_charts(struct gate *g)
{
	const struct gate_charts_stats *st = &g->charts.stats;

	ct_info("chart states: %zu live (peak %zu, bound %zu), %llu created, %llu reloaded, "
	        "%llu evicted, %llu looked up; %llu chart points of new streams refused",
	        g->charts.n_charts, st->peak, g->charts.max_live, (unsigned long long)st->created,
	        (unsigned long long)st->reloaded, (unsigned long long)st->evicted,
	        (unsigned long long)st->lookups, (unsigned long long)st->refused);
}

int gate_start(struct gate *g)
{
	return refresh(g, true);
}
