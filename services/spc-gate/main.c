/* ct-spc-gate: judges every station result the moment it arrives, runs SPC on every
 * configured characteristic, holds lots, and closes the loop with station commands.
 *
 * Loop: read a batch from the durable spool; for each result, judge it against its specs,
 * apply the lot gate, publish the verdict, feed the charts, and publish alerts and commands
 * for every signal, at once (this is the latency that matters: result in, command out, no
 * database on the way). Then wait for the broker to acknowledge all of it, save the batch
 * in one PostgreSQL transaction (chart states, signals, actions, queue, lots, and the IDs of
 * the results judged), and only then commit the spool position.
 *
 * A kill -9 before the save replays the batch against the chart states of the last save:
 * the same verdicts, alerts and commands again, with the same IDs (derived from the result's
 * event ID), which consumers treat as duplicates. After the save, the judged IDs make the
 * replay skip them: no chart sees a point twice.
 *
 * Engineers change specs, charts, plans and gate rules with SQL; triggers NOTIFY and the
 * loop reloads. Lot releases and undo requests arrive the same way. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_log.h"
#include "ct_time.h"
#include "ct_topic.h"
#include "gate.h"
#include "gate_saver.h"

#define PRUNE_EVERY_MS (3600LL * 1000)

#define KEY(name, type, field, def, lo, hi, help)                                                  \
	{                                                                                          \
		name, type, offsetof(struct gate_config, field), def, lo, hi, help                 \
	}

static const struct ct_config_key gate_keys[] = {
        KEY("pg.conninfo", CT_CONF_STRING, pg_conninfo, "dbname=cellthread", 0, 0,
            "libpq connection string (without the password)"),
        KEY("pg.password", CT_CONF_SECRET, pg_password, NULL, 0, 0,
            "PostgreSQL password (or use PGPASSFILE)"),
        KEY("gate.batch_records", CT_CONF_INT, batch_records, "500", 1, 100000,
            "results judged per saved batch at most"),
        KEY("gate.batch_kib", CT_CONF_INT, batch_kib, "2048", 64, 262144,
            "payload bytes read per batch at most"),
        KEY("gate.max_payload_kib", CT_CONF_INT, max_payload_kib, "4096", 1, 65536,
            "largest message decoded"),
        KEY("gate.alert_holdoff_s", CT_CONF_INT, alert_holdoff_s, "60", 0, 86400,
            "a chart re-alerts the same rule after this many seconds at the earliest"),
        KEY("gate.judged_keep_days", CT_CONF_INT, judged_keep_days, "7", 1, 3650,
            "days the IDs of judged results are kept (replay protection)"),
        KEY("gate.dedup_window", CT_CONF_INT, dedup_window, "131072", 1024, 16777216,
            "recent result IDs remembered in memory to drop redeliveries"),
        KEY("gate.command_ttl_s", CT_CONF_INT, command_ttl_s, "600", 0, 86400,
            "SLOW/STOP commands expire after this many seconds (0: never)"),
};

/* ---- judging ----------------------------------------------------------------------------- */

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
 * module). Results with children are checked in gate_lots_judge; Genealogy messages here. */
static int judge_genealogy(struct gate *g, const Cellthread__V1__Genealogy *gen)
{
	char cause[GATE_NAME_MAX + 8], reason[GATE_REASON_MAX];

	for (size_t i = 0; i < gen->n_children; i++) {
		const char *child = gen->children[i]->unit_id;
		if (!gate_map_get(&g->lots.held_units, child, NULL) &&
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
	        g->specs.count, g->charts.n_defs, g->lots.n_rules, gate_map_count(&g->lots.held),
	        gate_map_count(&g->lots.held_units));
	gate_publish_lot_changes(g);
	gate_process_undos(g);
	return CT_OK;
}

/* Reads NOTIFYs that arrived; sets what to reload. */
static void poll_notifications(struct gate *g)
{
	PGconn *conn = ct_pg_conn(g->pg);
	PGnotify *n;

	if (conn == NULL || PQconsumeInput(conn) == 0)
		return;
	while ((n = PQnotifies(conn)) != NULL) {
		if (strcmp(n->relname, "ct_spc_config") == 0)
			g->reload_config = true;
		else if (strcmp(n->relname, "ct_lot") == 0)
			g->reload_lots = true;
		else if (strcmp(n->relname, "ct_spc_undo") == 0)
			g->undo_wanted = true;
		PQfreemem(n);
	}
}

/* ---- the loop ------------------------------------------------------------------------------- */

static bool decode_record(struct gate *g, const struct ct_spool_record *rec, struct decoded *d)
{
	struct ct_topic where;
	const ProtobufCMessageDescriptor *desc = NULL;
	size_t max_len = (size_t)g->cfg.max_payload_kib * 1024;
	char reason[256];
	int rc;

	memset(d, 0, sizeof(*d));
	if (ct_topic_parse(rec->topic, &where, NULL, 0) == CT_OK && !where.is_edge) {
		if (where.kind == CT_KIND_RESULT)
			desc = &cellthread__v1__station_result_batch__descriptor;
		else if (where.kind == CT_KIND_GENEALOGY)
			desc = &cellthread__v1__genealogy__descriptor;
	}
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
			if (ingest_dedup_check_and_add(g->recent, r->header->event_id))
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
		if (job->has_position && !g->commits_blocked) {
			position.end_segment = job->end_segment;
			position.end_offset = job->end_offset;
			have_position = true;
		}
		gate_pending_cleanup(job);
		free(job);
	}
	/* One cursor write for every job that came back (jobs come back in order). */
	if (have_position && (rc = ct_spool_commit_async(g->svc.spool, &position)) != CT_OK)
		ct_error("cannot commit the spool position: %s", ct_strerror(rc));
	if (holds_saved) {
		gate_publish_lot_changes(g);
		if (gate_db_load_lots(g->pg, &g->lots, err, sizeof(err)) != CT_OK)
			ct_warn("cannot reload held lots: %s", err);
	}
	return rc;
}

/* Moves the batches whose messages the broker has acknowledged to the saver, oldest first.
 * Returns CT_ERR_MQTT when a publish failed or a batch waited PUBLISH_WAIT_MS: the caller
 * judges again from the last save. */
static int hand_acked_to_saver(struct gate *g)
{
	size_t done = 0;
	int rc = CT_OK;

	while (done < g->n_awaiting) {
		struct awaiting_ack *a = &g->awaiting[done];
		bool reached = false;
		rc = ct_mqtt_mark_reached(g->svc.mqtt, &a->mark, &reached);
		if (rc != CT_OK || g->publish_failed) {
			rc = CT_ERR_MQTT;
			break;
		}
		if (!reached) {
			if (ct_mono_ms() - a->since_ms > PUBLISH_WAIT_MS)
				rc = CT_ERR_MQTT;
			break;
		}
		gate_saver_submit(g->saver, a->job);
		done++;
	}
	memmove(g->awaiting, g->awaiting + done, (g->n_awaiting - done) * sizeof(g->awaiting[0]));
	g->n_awaiting -= done;
	return rc;
}

/* Makes a job of what the batch produced, with the batch's spool position, to be saved once
 * the broker has acknowledged the batch's messages. */
static int queue_batch(struct gate *g, const struct ct_spool_batch *batch)
{
	struct gate_pending *job;
	struct awaiting_ack *a;

	/* A full queue means the broker is far behind: wait for it rather than grow. */
	while (g->n_awaiting == MAX_AWAITING) {
		if (gate_flush(g) != CT_OK || hand_acked_to_saver(g) != CT_OK)
			return CT_ERR_MQTT;
	}
	job = malloc(sizeof(*job));
	if (job == NULL)
		return CT_ERR_NOMEM;
	gate_pending_snapshot(&g->pending, &g->charts, &g->lots, g->now_us);
	*job = g->pending; /* the job takes the rows; pending starts empty */
	gate_pending_init(&g->pending);
	if (batch->count > 0) {
		job->has_position = true;
		job->end_segment = batch->end_segment;
		job->end_offset = batch->end_offset;
	}
	a = &g->awaiting[g->n_awaiting++];
	a->job = job;
	ct_mqtt_mark(g->svc.mqtt, &a->mark);
	a->since_ms = ct_mono_ms();
	return hand_acked_to_saver(g);
}

/* Undoes what judging a batch did in memory, back to the last save, so the batch can be
 * judged again exactly as after a restart (the broker did not take all of its messages). */
static int rollback_to_saved(struct gate *g)
{
	char err[512];
	int rc;

	/* The batches waiting for acknowledgements are judged again; those already with the
	 * saver are good: let them reach the database and commit them. */
	for (size_t i = 0; i < g->n_awaiting; i++) {
		gate_pending_cleanup(g->awaiting[i].job);
		free(g->awaiting[i].job);
	}
	g->n_awaiting = 0;
	ct_mqtt_flush(g->svc.mqtt,
	              PUBLISH_WAIT_MS); /* settles what is in flight, clears failures */
	gate_saver_drain(g->saver);
	if ((rc = finish_saved(g)) != CT_OK)
		return rc;
	ct_spool_rewind(g->svc.spool);
	g->verdicts.len = 0;
	gate_pending_reset(&g->pending);
	gate_charts_drop_instances(&g->charts);
	gate_lots_clear_counters(&g->lots);
	ingest_dedup_free(g->recent);
	g->recent = ingest_dedup_new((size_t)g->cfg.dedup_window);
	g->check_judged = true;
	g->publish_failed = false;
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

static int run(struct gate *g)
{
	struct ct_spool_batch batch;
	int64_t next_report = ct_mono_ms() + 30000, next_prune = 0;
	int rc = CT_OK;

	memset(&batch, 0, sizeof(batch));
	while (!ct_service_stop) {
		char err[512];

		if (ct_pg_ensure(g->pg, -1, &ct_service_stop, err, sizeof(err)) != CT_OK)
			break;
		if (ct_pg_generation(g->pg) != g->pg_generation) {
			g->pg_generation = ct_pg_generation(g->pg);
			if (refresh(g, false) != CT_OK)
				continue;
		}
		poll_notifications(g);
		if (g->reload_config) {
			g->reload_config = false;
			if (gate_db_load_config(g->pg, &g->specs, &g->charts, &g->lots, err,
			                        sizeof(err)) != CT_OK)
				ct_warn("configuration reload failed (keeping the old one): %s",
				        err);
			else
				ct_info("configuration reloaded: %zu specs, %zu charts, %zu gate "
				        "rules",
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
			break;
		if (hand_acked_to_saver(g) != CT_OK) {
			ct_warn("the broker did not take all published messages; judging again "
			        "from "
			        "the last save");
			if ((rc = rollback_to_saved(g)) != CT_OK)
				break;
			continue;
		}
		/* Acknowledgements (ct_mqtt_mark_reached) and saved jobs (the saver) wake this
		 * read: no polling while batches move on. */
		rc = ct_spool_read(g->svc.spool, (size_t)g->cfg.batch_records,
		                   (size_t)g->cfg.batch_kib * 1024, 100, &batch);
		if (rc != CT_OK && rc != CT_ERR_CORRUPT) {
			ct_error("cannot read the spool: %s", ct_strerror(rc));
			break;
		}
		rc = CT_OK;
		if (batch.count == 0 && gate_pending_is_empty(&g->pending))
			goto report;
		if (batch.count > g->decoded_cap) {
			struct decoded *d = realloc(g->decoded, batch.count * sizeof(*d));
			if (d == NULL) {
				rc = CT_ERR_NOMEM;
				ct_error("out of memory for a batch of %zu", batch.count);
				break;
			}
			g->decoded = d;
			g->decoded_cap = batch.count;
		}
		for (size_t i = 0; i < batch.count; i++)
			if (!decode_record(g, &batch.records[i], &g->decoded[i]))
				g->decoded[i].msg = NULL;
		rc = judge_batch(g, batch.count);
		for (size_t i = 0; i < batch.count; i++)
			ct_pb_free(g->decoded[i].msg);
		if (rc != CT_OK) {
			ct_error("cannot judge the batch: %s", ct_strerror(rc));
			break;
		}
		/* The batch is saved once the broker has acknowledged its messages, and the spool
		 * committed once it is saved; meanwhile the next results are judged. If the broker
		 * does not take them, everything since the last save is judged again, under the
		 * same IDs. */
		rc = queue_batch(g, &batch);
		if (rc == CT_ERR_MQTT) {
			ct_warn("the broker did not take all published messages; judging again "
			        "from "
			        "the last save");
			if ((rc = rollback_to_saved(g)) != CT_OK)
				break;
			continue;
		}
		if (rc != CT_OK) {
			ct_error("out of memory queueing a batch");
			break;
		}
	report:
		if (ct_mono_ms() >= next_prune) {
			if (gate_db_prune(g->pg, (int)g->cfg.judged_keep_days, err, sizeof(err)) !=
			    CT_OK)
				ct_warn("cannot prune judged IDs: %s", err);
			next_prune = ct_mono_ms() + PRUNE_EVERY_MS;
		}
		if (ct_mono_ms() >= next_report) {
			ct_info("judged %lu results (%lu failed), %lu signals, %lu commands, %lu "
			        "holds; spool backlog %llu bytes",
			        g->judged, g->failed, g->signals, g->commands, g->holds,
			        (unsigned long long)ct_spool_backlog_bytes(g->svc.spool));
			next_report = ct_mono_ms() + 30000;
		}
	}
	/* Whatever was judged and acknowledged goes to the database before we leave. */
	if (gate_flush(g) == CT_OK)
		hand_acked_to_saver(g);
	for (size_t i = 0; i < g->n_awaiting; i++) { /* not acknowledged: replayed at start */
		gate_pending_cleanup(g->awaiting[i].job);
		free(g->awaiting[i].job);
	}
	g->n_awaiting = 0;
	gate_saver_drain(g->saver);
	if (finish_saved(g) != CT_OK && rc == CT_OK)
		rc = CT_ERR_IO;
	ct_spool_batch_cleanup(&batch);
	return rc == CT_ERR_STOPPED ? CT_OK : rc;
}

int main(int argc, char **argv)
{
	static const char *const subscriptions[] = {
	        CT_TOPIC_ROOT "/plant/+/+/+/result",
	        CT_TOPIC_ROOT "/plant/+/+/+/genealogy",
	};
	struct ct_common_config common;
	struct gate g;
	struct ct_config_table own = {gate_keys, sizeof(gate_keys) / sizeof(gate_keys[0]), &g.cfg};
	char err[512];
	int exit_code = 1;
	int rc;

	memset(&common, 0, sizeof(common));
	memset(&g, 0, sizeof(g));
	gate_charts_init(&g.charts);
	g.charts.specs = &g.specs; /* for live capability; reloads replace g.specs in place */
	gate_lots_init(&g.lots);
	gate_pending_init(&g.pending);
	rc = ct_service_load_config(SERVICE_NAME, &common, &own, argc, argv);
	if (rc != 0) {
		exit_code = rc == CT_ERR_STOPPED ? 0 : 2; /* --help, or a config error */
		goto out;
	}
	ct_service_install_signals();
	snprintf(g.producer, sizeof(g.producer), "%s-%s", SERVICE_NAME, common.instance);
	g.check_judged = true;
	g.pg = ct_pg_new(g.cfg.pg_conninfo, g.cfg.pg_password);
	g.recent = ingest_dedup_new((size_t)g.cfg.dedup_window);
	if (g.pg == NULL || g.recent == NULL) {
		ct_error("out of memory");
		goto out;
	}
	/* Configuration and chart state first: a gate that cannot judge takes no messages. */
	if (ct_pg_ensure(g.pg, -1, &ct_service_stop, err, sizeof(err)) != CT_OK) {
		exit_code = 0; /* stopped while waiting for the database */
		goto out;
	}
	g.pg_generation = ct_pg_generation(g.pg);
	rc = ct_service_start(&g.svc, SERVICE_NAME, &common, subscriptions,
	                      sizeof(subscriptions) / sizeof(subscriptions[0]), 60000, err,
	                      sizeof(err));
	if (rc == CT_ERR_STOPPED) {
		exit_code = 0;
		goto out;
	}
	if (rc != CT_OK) {
		ct_error("cannot start: %s", err);
		goto out;
	}
	/* Its own connection: saving never waits behind a reload or a query of the loop's. It
	 * wakes the loop's spool read when jobs come back, so it lives inside the service. */
	g.saver = gate_saver_new(g.cfg.pg_conninfo, g.cfg.pg_password, 8, g.svc.spool,
	                         &ct_service_stop);
	if (g.saver == NULL) {
		ct_error("cannot start the saving thread");
		ct_service_finish(&g.svc);
		goto out;
	}
	if (refresh(&g, true) != CT_OK) {
		gate_saver_free(g.saver);
		ct_service_finish(&g.svc);
		goto out;
	}
	ct_info("ready: judging results");
	rc = run(&g);
	ct_info("stopping: judged %lu results (%lu failed), %lu signals, %lu commands, %lu holds",
	        g.judged, g.failed, g.signals, g.commands, g.holds);
	/* Saves what is queued (replayed and skipped at the next start if not), before the
	 * spool it wakes goes. */
	gate_saver_free(g.saver);
	ct_service_finish(&g.svc);
	exit_code = rc == CT_OK ? 0 : 1;
out:
	free(g.verdicts.buf);
	free(g.decoded);
	ingest_dedup_free(g.recent);
	gate_pending_cleanup(&g.pending);
	gate_charts_cleanup(&g.charts);
	gate_lots_cleanup(&g.lots);
	gate_spec_set_cleanup(&g.specs);
	ct_pg_free(g.pg);
	ct_service_cleanup_config(&common, &own);
	return exit_code;
}
