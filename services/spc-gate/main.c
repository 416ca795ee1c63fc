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

#include <openssl/sha.h>

#include "ct_error.h"
#include "ct_ids.h"
#include "ct_log.h"
#include "ct_pb.h"
#include "ct_pg.h"
#include "ct_service.h"
#include "ct_time.h"
#include "ct_topic.h"
#include "gate_charts.h"
#include "gate_db.h"
#include "gate_lots.h"
#include "gate_spec.h"
#include "ingest_dedup.h"

#define SERVICE_NAME    "spc-gate"
#define VERDICT(x)      CELLTHREAD__V1__VERDICT_CODE__VERDICT_CODE_##x
#define COMMAND(x)      CELLTHREAD__V1__COMMAND_KIND__COMMAND_KIND_##x
#define DEAD_LETTER(x)  CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_##x
#define MAX_LOT_CHANGES 256
#define MAX_UNDOS       64
#define PUBLISH_WAIT_MS 30000
#define PRUNE_EVERY_MS  (3600LL * 1000)
/* A hold follows the genealogy in traveler's tables, which may lag behind what spc-gate has
 * judged. So the hold is traced forward again once traveler has stored the result that
 * caused it (traveler stores in arrival order, so every unit judged before the hold is in by
 * then), and once more after these delays as a safety net (a reconnect can reorder). */
static const int64_t retrace_after_ms[] = {30000, 300000};
#define MAX_RETRACES 64
#define MARKER_POLL_MS 200

struct gate_config {
	char *pg_conninfo;
	char *pg_password;
	long batch_records;
	long batch_kib;
	long max_payload_kib;
	long alert_holdoff_s;
	long judged_keep_days;
	long dedup_window;
	long command_ttl_s;
};

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

/* One decoded message of a batch. */
struct decoded {
	ProtobufCMessage *msg;
	bool is_genealogy;
};

struct retrace {
	struct gate_hold hold;
	char marker[CT_ID_MAX + 1]; /* event ID traveler must have stored; "" once it has */
	int64_t due_ms;
	int round;
};

struct gate {
	struct ct_service svc;
	struct gate_config cfg;
	struct ct_pg *pg;
	unsigned long pg_generation;
	struct gate_spec_set specs;
	struct gate_charts charts;
	struct gate_lots lots;
	struct gate_pending pending;
	struct ingest_dedup *recent;
	struct decoded *decoded;
	size_t decoded_cap;
	struct retrace retraces[MAX_RETRACES];
	size_t n_retraces;
	bool check_judged; /* the first batches after a start may have been judged already */
	bool publish_failed; /* a publish of this batch did not reach the broker */
	bool reload_config, reload_lots, undo_wanted;
	char producer[CT_ID_MAX + 16];
	int64_t now_us;
	unsigned long judged, failed, signals, commands, holds;
};

/* ---- IDs and publishing ---------------------------------------------------------------- */

/* Writes prefix + 32 hex digits of SHA-256 over the parts: the same inputs give the same
 * ID, so a replayed batch republishes under the IDs consumers already have. */
static void derive_id(char *buf, size_t len, const char *prefix, const char *a, const char *b,
                      const char *c)
{
	unsigned char digest[SHA256_DIGEST_LENGTH];
	char joined[3 * 256];
	int n = snprintf(joined, sizeof(joined), "%s|%s|%s", a, b ? b : "", c ? c : "");
	size_t at;

	SHA256((const unsigned char *)joined, (size_t)(n < 0 ? 0 : n), digest);
	at = (size_t)snprintf(buf, len, "%s", prefix);
	for (int i = 0; i < 16 && at + 2 < len; i++, at += 2)
		snprintf(buf + at, len - at, "%02x", digest[i]);
}

static void publish(struct gate *g, const char *topic, const ProtobufCMessage *msg, bool retain)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	if (ct_pb_pack(msg, &buf, &len) != CT_OK) {
		ct_error("out of memory encoding %s for %s", msg->descriptor->name, topic);
		return;
	}
	if (ct_mqtt_publish(g->svc.mqtt, topic, buf, len, 1, retain, PUBLISH_WAIT_MS) != CT_OK) {
		ct_warn("cannot publish %s to %s (broker away for %d s); the batch will be "
		        "judged again",
		        msg->descriptor->name, topic, PUBLISH_WAIT_MS / 1000);
		g->publish_failed = true;
	}
	free(buf);
}

static void plant_topic(char *buf, size_t len, const char *site, const char *line,
                        const char *station, enum ct_topic_kind kind)
{
	if (ct_topic_plant(buf, len, site, line, station, kind) != CT_OK)
		buf[0] = '\0';
}

static void dead_letter(struct gate *g, const char *topic, int code, const char *reason,
                        const void *payload, size_t len)
{
	Cellthread__V1__DeadLetter dl = CELLTHREAD__V1__DEAD_LETTER__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	char id[40];

	ct_warn("dead letter from %s: %s", topic, reason);
	ct_pb_header_fill(&header, id, sizeof(id), g->producer);
	dl.header = &header;
	dl.service = (char *)SERVICE_NAME;
	dl.source_topic = (char *)topic;
	dl.reason_code = code;
	dl.reason = (char *)reason;
	dl.payload.data = (uint8_t *)payload;
	dl.payload.len = len > 65536 ? 65536 : len;
	dl.payload_size = (uint32_t)len;
	dl.received_at_us = ct_now_us();
	publish(g, CT_TOPIC_ROOT "/sys/deadletter/" SERVICE_NAME, &dl.base, false);
}

/* ---- verdicts -------------------------------------------------------------------------- */

static void publish_verdict(struct gate *g, const Cellthread__V1__StationResult *r,
                            const struct gate_judgement *j, const struct gate_lot_outcome *lo,
                            const char *inspection_reason)
{
	Cellthread__V1__Verdict v = CELLTHREAD__V1__VERDICT__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	Cellthread__V1__FailedCharacteristic failed[GATE_MAX_FAILED];
	Cellthread__V1__FailedCharacteristic *failed_ptrs[GATE_MAX_FAILED];
	char *held[GATE_MAX_HELD_LOTS];
	char id[48], topic[CT_TOPIC_MAX];

	derive_id(id, sizeof(id), "v-", r->header->event_id, NULL, NULL);
	header.event_id = id;
	header.producer = g->producer;
	header.produced_at_us = g->now_us;
	header.schema_version = 1;
	v.header = &header;
	v.unit_id = r->unit_id;
	v.unit_kind = r->unit_kind;
	v.site = r->site;
	v.line = r->line;
	v.station = r->station;
	v.source_event_id = r->header->event_id;
	v.verdict = j->verdict;
	v.decided_at_us = g->now_us;
	v.recipe = r->recipe;
	v.recipe_version = r->recipe_version;
	v.inspection_reason = (char *)inspection_reason;
	for (size_t i = 0; i < j->n_failed; i++) {
		const struct gate_failure *f = &j->failed[i];
		cellthread__v1__failed_characteristic__init(&failed[i]);
		failed[i].characteristic = (char *)f->characteristic;
		failed[i].value = f->value;
		failed[i].reason = (char *)f->reason;
		if (f->spec != NULL) {
			failed[i].has_lsl = f->spec->has_lsl;
			failed[i].lsl = f->spec->has_lsl ? f->spec->lsl : 0.0;
			failed[i].has_usl = f->spec->has_usl;
			failed[i].usl = f->spec->has_usl ? f->spec->usl : 0.0;
			failed[i].unit = (char *)f->spec->uom;
		}
		failed_ptrs[i] = &failed[i];
	}
	v.n_failed = j->n_failed;
	v.failed = failed_ptrs;
	for (size_t i = 0; i < lo->n_held; i++)
		held[i] = (char *)lo->held[i];
	v.n_held_lots = lo->n_held;
	v.held_lots = held;
	plant_topic(topic, sizeof(topic), r->site, r->line, r->station, CT_KIND_VERDICT);
	publish(g, topic, &v.base, false);
}

/* ---- signals: alerts and reaction plans -------------------------------------------------- */

struct signal_ctx {
	struct gate *g;
};

static double parameter_now(const Cellthread__V1__StationResult *r, const char *name, bool *found)
{
	for (size_t i = 0; i < r->n_parameters; i++) {
		const Cellthread__V1__Parameter *p = r->parameters[i];
		if (strcmp(p->name, name) == 0) {
			*found = true;
			/* The setpoint is what the station is told to hold; adjust from it. */
			return p->has_setpoint ? p->setpoint : p->actual;
		}
	}
	*found = false;
	return NAN;
}

/* Sends the command for one plan step; writes what it did into reaction (for the alert). */
static void react(struct gate *g, const struct gate_signal *s,
                  const Cellthread__V1__StationResult *r, const struct gate_plan_step *step,
                  const char *alert_id, char *reaction, size_t reaction_len)
{
	Cellthread__V1__StationCommand cmd = CELLTHREAD__V1__STATION_COMMAND__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	struct gate_chart *chart = s->chart;
	char id[48], topic[CT_TOPIC_MAX], text[512];
	double delta = 0.0;

	if (step->action == GATE_ACTION_ALERT) {
		snprintf(reaction, reaction_len, "plan %s step %d: alert only", step->plan_id,
		         step->step);
		return;
	}
	derive_id(id, sizeof(id), "c-", alert_id, step->plan_id, NULL);
	header.event_id = id;
	header.producer = g->producer;
	header.produced_at_us = g->now_us;
	header.schema_version = 1;
	cmd.header = &header;
	cmd.site = chart->site;
	cmd.line = chart->line;
	cmd.station = chart->station;
	cmd.reason_code = (char *)step->reason_code;
	cmd.cause_event_id = r->header->event_id;
	cmd.unit = (char *)step->uom;
	switch (step->action) {
	case GATE_ACTION_SLOW:
		cmd.kind = COMMAND(SLOW);
		cmd.target_value = step->target_value;
		break;
	case GATE_ACTION_STOP:
		cmd.kind = COMMAND(STOP);
		break;
	case GATE_ACTION_ADJUST: {
		bool found;
		double now = parameter_now(r, step->parameter, &found), target;
		if (!found || !isfinite(s->statistic) || !isfinite(s->centre)) {
			snprintf(reaction, reaction_len,
			         "plan %s step %d: no adjustment (%s not reported by the station)",
			         step->plan_id, step->step, step->parameter);
			return;
		}
		/* Proportional correction against the deviation from the centre line, never
		 * more than max_step, never outside the parameter's safe range. */
		delta = -step->gain * (s->statistic - s->centre);
		delta = fmax(-step->max_step, fmin(step->max_step, delta));
		target = now + delta;
		if (step->has_min)
			target = fmax(step->min_value, target);
		if (step->has_max)
			target = fmin(step->max_value, target);
		delta = target - now;
		cmd.kind = COMMAND(ADJUST);
		cmd.parameter = (char *)step->parameter;
		cmd.target_value = target;
		cmd.max_step = step->max_step;
		cmd.delta = delta;
		break;
	}
	default:
		return;
	}
	if (cmd.kind != COMMAND(ADJUST) && g->cfg.command_ttl_s > 0)
		cmd.expires_at_us = g->now_us + g->cfg.command_ttl_s * 1000000LL;
	snprintf(text, sizeof(text), "chart %s (%s) rule %s at points %llu..%llu: %s",
	         s->def->chart_id, s->def->names[0], s->rule_name,
	         (unsigned long long)s->first_point, (unsigned long long)s->last_point,
	         step->reason_code);
	cmd.reason_text = text;
	plant_topic(topic, sizeof(topic), chart->site, chart->line, chart->station,
	            CT_KIND_COMMAND);
	publish(g, topic, &cmd.base, false);
	g->commands++;
	if (cmd.kind == COMMAND(ADJUST))
		snprintf(reaction, reaction_len, "plan %s step %d: ADJUST %s by %+.6g %s to %.6g "
		         "(command %s)",
		         step->plan_id, step->step, step->parameter, delta, step->uom,
		         cmd.target_value, id);
	else
		snprintf(reaction, reaction_len, "plan %s step %d: %s (command %s)", step->plan_id,
		         step->step, cmd.kind == COMMAND(SLOW) ? "SLOW" : "STOP", id);

	/* The action log: cause, what was sent, and how to undo it. */
	struct ct_copy *c = &g->pending.actions;
	ct_copy_text(c, id);
	ct_copy_text(c, alert_id);
	ct_copy_text(c, s->def->chart_id);
	ct_copy_text(c, chart->site);
	ct_copy_text(c, chart->line);
	ct_copy_text(c, chart->station);
	ct_copy_int64(c, cmd.kind);
	if (cmd.kind == COMMAND(ADJUST))
		ct_copy_text(c, step->parameter);
	else
		ct_copy_null(c);
	if (cmd.kind == COMMAND(STOP))
		ct_copy_null(c);
	else
		ct_copy_double(c, cmd.target_value);
	if (cmd.kind == COMMAND(ADJUST))
		ct_copy_double(c, delta);
	else
		ct_copy_null(c);
	ct_copy_text(c, step->uom);
	ct_copy_text(c, step->reason_code);
	ct_copy_text(c, text);
	ct_copy_text(c, r->header->event_id);
	ct_copy_time_us(c, g->now_us);
	ct_copy_end_row(c);
}

static void on_signal(void *ctx, const struct gate_signal *s, const Cellthread__V1__StationResult *r)
{
	struct gate *g = ((struct signal_ctx *)ctx)->g;
	struct gate_chart *chart = s->chart;
	struct gate_chart_blob *blob = &chart->blob;
	const struct gate_plan_step *step;
	int64_t holdoff_us = g->cfg.alert_holdoff_s * 1000000LL;
	int slot = s->rule % GATE_RULE_SLOTS;
	char alert_id[48], reaction[512] = "", code[64], text[1024], topic[CT_TOPIC_MAX];
	bool alert_due = g->now_us - blob->last_alert_us[slot] >= holdoff_us;

	g->signals++;
	derive_id(alert_id, sizeof(alert_id), "a-", r->header->event_id, s->def->chart_id,
	          s->rule_name);

	/* Reaction plan: steps escalate on successive signals; a chart calm for ten cooldowns
	 * starts the plan over. */
	step = gate_charts_plan_step(&g->charts, chart);
	if (step != NULL && blob->last_action_us > 0 &&
	    g->now_us - blob->last_action_us > 10LL * step->cooldown_s * 1000000LL) {
		blob->plan_step = 1;
		step = gate_charts_plan_step(&g->charts, chart);
	}
	if (step != NULL && (blob->last_action_us == 0 ||
	                     g->now_us - blob->last_action_us >= step->cooldown_s * 1000000LL)) {
		react(g, s, r, step, alert_id, reaction, sizeof(reaction));
		blob->last_action_us = g->now_us;
		blob->plan_step++;
		alert_due = true; /* every action is announced */
	}
	chart->dirty = true;

	/* The signal log, suppressed alerts included. */
	struct ct_copy *c = &g->pending.signals;
	ct_copy_text(c, alert_id);
	ct_copy_text(c, s->def->chart_id);
	ct_copy_text(c, chart->site);
	ct_copy_text(c, chart->line);
	ct_copy_text(c, chart->station);
	ct_copy_text(c, chart->recipe);
	ct_copy_text(c, s->rule_name);
	ct_copy_int64(c, (int64_t)s->first_point);
	ct_copy_int64(c, (int64_t)s->last_point);
	if (isfinite(s->statistic))
		ct_copy_double(c, s->statistic);
	else
		ct_copy_null(c);
	if (isfinite(s->limit))
		ct_copy_double(c, s->limit);
	else
		ct_copy_null(c);
	ct_copy_text(c, r->header->event_id);
	ct_copy_text(c, r->unit_id);
	ct_copy_text(c, alert_due ? reaction : "alert held off (same rule within hold-off)");
	ct_copy_time_us(c, g->now_us);
	ct_copy_end_row(c);
	if (!alert_due)
		return;
	blob->last_alert_us[slot] = g->now_us;

	Cellthread__V1__Alert alert = CELLTHREAD__V1__ALERT__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	char event_id[48];
	derive_id(event_id, sizeof(event_id), "e-", alert_id, NULL, NULL);
	header.event_id = event_id;
	header.producer = g->producer;
	header.produced_at_us = g->now_us;
	header.schema_version = 1;
	snprintf(code, sizeof(code), "SPC_%s", s->rule_name);
	for (char *p = code; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
	snprintf(text, sizeof(text),
	         "%s chart %s on %s/%s/%s: rule %s at points %llu..%llu (statistic %.6g, limit "
	         "%.6g)%s%s",
	         s->def->kind_name, s->def->chart_id, chart->site, chart->line, chart->station,
	         s->rule_name, (unsigned long long)s->first_point,
	         (unsigned long long)s->last_point, s->statistic, s->limit, reaction[0] ? "; " : "",
	         reaction);
	alert.header = &header;
	alert.alert_id = alert_id;
	alert.severity = step != NULL ? step->severity : CELLTHREAD__V1__SEVERITY__SEVERITY_MEDIUM;
	alert.state = CELLTHREAD__V1__ALERT_STATE__ALERT_STATE_ACTIVE;
	alert.site = chart->site;
	alert.line = chart->line;
	alert.station = chart->station;
	alert.source = (char *)SERVICE_NAME;
	alert.code = code;
	alert.text = text;
	alert.raised_at_us = g->now_us;
	alert.chart_id = (char *)s->def->chart_id;
	alert.rule = (char *)s->rule_name;
	alert.first_point = s->first_point;
	alert.last_point = s->last_point;
	alert.statistic = s->statistic;
	alert.limit = s->limit;
	alert.cause_event_id = r->header->event_id;
	alert.reaction = reaction;
	plant_topic(topic, sizeof(topic), chart->site, chart->line, chart->station, CT_KIND_ALERT);
	publish(g, topic, &alert.base, false);
}

/* ---- judging ----------------------------------------------------------------------------- */

static int judge_result(struct gate *g, const Cellthread__V1__StationResult *r)
{
	struct gate_judgement j;
	struct gate_lot_outcome lo;
	struct signal_ctx ctx = {g};
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
		if (g->n_retraces < MAX_RETRACES) {
			struct retrace *t = &g->retraces[g->n_retraces++];
			t->hold = lo.holds[i];
			snprintf(t->marker, sizeof(t->marker), "%s", r->header->event_id);
			t->round = 0;
			t->due_ms = ct_mono_ms() + MARKER_POLL_MS;
		}
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
		                  r->station, j.verdict == VERDICT(REWORK) ? "rework" : "inspection",
		                  r->header->event_id, reason, j.verdict, g->now_us);
	}
	if (lo.inspection_reason[0] != '\0') {
		snprintf(cause, sizeof(cause), "lot:%s", lo.held_via_lot);
		gate_pending_item(&g->pending, r->unit_id, (int)r->unit_kind, r->site, r->line,
		                  r->station, "inspection", cause, lo.inspection_reason, j.verdict,
		                  g->now_us);
		gate_pending_held_unit(&g->pending, r->unit_id, lo.held_via_lot, r->site, g->now_us);
		if ((rc = gate_lots_add_held_unit(&g->lots, r->unit_id)) != CT_OK)
			return rc;
		if (reason[0] == '\0')
			snprintf(reason, sizeof(reason), "%s", lo.inspection_reason);
	}
	publish_verdict(g, r, &j, &lo, reason);
	if ((rc = gate_charts_feed(&g->charts, r, j.verdict, on_signal, &ctx)) != CT_OK)
		return rc;
	ct_copy_text(&g->pending.judged, r->header->event_id);
	ct_copy_time_us(&g->pending.judged, g->now_us);
	ct_copy_end_row(&g->pending.judged);
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
		gate_pending_item(&g->pending, gen->parent_unit_id, (int)gen->parent_kind, gen->site,
		                  gen->line, gen->station, "inspection", cause, reason,
		                  VERDICT(PASS), g->now_us);
		gate_pending_held_unit(&g->pending, gen->parent_unit_id, child, gen->site, g->now_us);
		return gate_lots_add_held_unit(&g->lots, gen->parent_unit_id);
	}
	return CT_OK;
}

/* ---- lot status, undo, reload -------------------------------------------------------------- */

static void publish_lot_changes(struct gate *g)
{
	static struct gate_lot_change changes[MAX_LOT_CHANGES];
	size_t n = 0;
	char err[512];

	do {
		if (gate_db_lot_changes(g->pg, changes, MAX_LOT_CHANGES, &n, err, sizeof(err)) !=
		    CT_OK) {
			ct_warn("cannot read lot changes (will retry): %s", err);
			return;
		}
		for (size_t i = 0; i < n; i++) {
			const struct gate_lot_change *c = &changes[i];
			Cellthread__V1__LotStatus st = CELLTHREAD__V1__LOT_STATUS__INIT;
			Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
			char id[48], audit[24], topic[CT_TOPIC_MAX];
			snprintf(audit, sizeof(audit), "%lld", (long long)c->audit_id);
			derive_id(id, sizeof(id), "l-", c->site, c->lot_id, audit);
			header.event_id = id;
			header.producer = g->producer;
			header.produced_at_us = ct_now_us();
			header.schema_version = 1;
			st.header = &header;
			st.site = (char *)c->site;
			st.lot_id = (char *)c->lot_id;
			st.state = c->state;
			st.reason = (char *)c->reason;
			st.changed_by = (char *)c->actor;
			st.changed_at_us = c->at_us;
			snprintf(topic, sizeof(topic), CT_TOPIC_ROOT "/lot/%s/%s", c->site, c->lot_id);
			/* Retained: ingest (and anyone) learns every lot's state on connect. */
			publish(g, topic, &st.base, true);
			ct_info("lot %s/%s is now %s (%s, by %s)", c->site, c->lot_id,
			        c->state == 1 ? "released" : c->state == 2 ? "held" : "quarantined",
			        c->reason, c->actor);
		}
		if (n > 0 && (ct_mqtt_flush(g->svc.mqtt, PUBLISH_WAIT_MS) != CT_OK ||
		              gate_db_lot_changes_published(g->pg, changes, n, err, sizeof(err)) !=
		                      CT_OK)) {
			ct_warn("lot status not confirmed (will publish again): %s", err);
			return;
		}
	} while (n == MAX_LOT_CHANGES);
}

static void process_undos(struct gate *g)
{
	static struct gate_undo undos[MAX_UNDOS];
	size_t n = 0;
	char err[512];

	if (gate_db_pending_undos(g->pg, undos, MAX_UNDOS, &n, err, sizeof(err)) != CT_OK) {
		ct_warn("cannot read undo requests (will retry): %s", err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct gate_undo *u = &undos[i];
		Cellthread__V1__StationCommand cmd = CELLTHREAD__V1__STATION_COMMAND__INIT;
		Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
		char id[48], topic[CT_TOPIC_MAX], text[512];

		derive_id(id, sizeof(id), "u-", u->command_id, NULL, NULL);
		header.event_id = id;
		header.producer = g->producer;
		header.produced_at_us = ct_now_us();
		header.schema_version = 1;
		cmd.header = &header;
		cmd.site = (char *)u->site;
		cmd.line = (char *)u->line;
		cmd.station = (char *)u->station;
		cmd.undoes_event_id = (char *)u->command_id;
		cmd.reason_code = (char *)"UNDO";
		snprintf(text, sizeof(text), "undo of %s asked by %s: %s", u->command_id,
		         u->requested_by, u->reason);
		cmd.reason_text = text;
		cmd.cause_event_id = (char *)u->command_id;
		cmd.unit = (char *)u->uom;
		if (u->kind == COMMAND(ADJUST)) {
			/* Back to where the parameter was before the adjustment. */
			cmd.kind = COMMAND(ADJUST);
			cmd.parameter = (char *)u->parameter;
			cmd.target_value = u->target_value - u->delta;
			cmd.delta = -u->delta;
			cmd.max_step = fabs(u->delta);
		} else {
			cmd.kind = COMMAND(RESUME);
		}
		plant_topic(topic, sizeof(topic), u->site, u->line, u->station, CT_KIND_COMMAND);
		publish(g, topic, &cmd.base, false);
		if (ct_mqtt_flush(g->svc.mqtt, PUBLISH_WAIT_MS) != CT_OK ||
		    gate_db_undo_done(g->pg, u->command_id, id, err, sizeof(err)) != CT_OK) {
			ct_warn("undo of %s not confirmed (will send again): %s", u->command_id, err);
			return;
		}
		ct_info("undid %s: %s", u->command_id, text);
	}
}

/* After a (re)connect, or when told: configuration, charts, lots, pending work. */
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
	publish_lot_changes(g);
	process_undos(g);
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
		dead_letter(g, rec->topic, DEAD_LETTER(TOPIC), "spc-gate does not judge this topic",
		            rec->payload, rec->payload_len);
		return false;
	}
	rc = ct_pb_unpack(desc, rec->payload, rec->payload_len, max_len, &d->msg);
	if (rc != CT_OK) {
		snprintf(reason, sizeof(reason), "%s: %s", desc->name, ct_strerror(rc));
		dead_letter(g, rec->topic, rc == CT_ERR_TOO_BIG ? DEAD_LETTER(OVERSIZE) : DEAD_LETTER(DECODE),
		            reason, rec->payload, rec->payload_len);
		return false;
	}
	d->is_genealogy = desc == &cellthread__v1__genealogy__descriptor;
	return true;
}

/* The minimum spc-gate needs from a result; ingest checked the rest. */
static bool result_ok(const Cellthread__V1__StationResult *r)
{
	return r->header != NULL && ct_id_is_valid(r->header->event_id) && ct_id_is_valid(r->unit_id) &&
	       ct_id_is_valid(r->site) && ct_id_is_valid(r->line) && ct_id_is_valid(r->station);
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
			ids[n_ids++] = result_ok(b->results[k]) ? b->results[k]->header->event_id : "";
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
	}
out:
	free(ids);
	free(judged);
	return rc;
}

/* Saves the batch, retrying while the database is away. A refused save (a bug or a schema
 * mismatch, not a lost connection) is reported as a dead letter and dropped. */
static int save_batch(struct gate *g)
{
	char err[1024];

	for (;;) {
		if (ct_pg_ensure(g->pg, -1, &ct_service_stop, err, sizeof(err)) != CT_OK)
			return CT_ERR_STOPPED;
		if (ct_pg_generation(g->pg) != g->pg_generation) {
			g->pg_generation = ct_pg_generation(g->pg);
			if (gate_db_session_setup(g->pg, err, sizeof(err)) != CT_OK)
				continue;
		}
		if (gate_db_save(g->pg, &g->pending, &g->charts, &g->lots, g->now_us, err,
		                 sizeof(err)) == CT_OK)
			return CT_OK;
		if (ct_pg_is_connection_error(g->pg)) {
			ct_warn("database connection lost (%s); saving the batch again", err);
			continue;
		}
		ct_error("batch save refused: %s", err);
		dead_letter(g, CT_TOPIC_ROOT "/plant", DEAD_LETTER(STORE), err, NULL, 0);
		gate_pending_reset(&g->pending);
		return CT_OK;
	}
}

/* Undoes what judging a batch did in memory, back to the last save, so the batch can be
 * judged again exactly as after a restart (the broker did not take all of its messages). */
static int rollback_to_saved(struct gate *g)
{
	char err[512];
	int rc;

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

static void run_retraces(struct gate *g)
{
	int64_t now = ct_mono_ms();
	size_t kept = 0;
	const int rounds = (int)(sizeof(retrace_after_ms) / sizeof(retrace_after_ms[0]));

	for (size_t i = 0; i < g->n_retraces; i++) {
		struct retrace *t = &g->retraces[i];
		char err[256];
		bool stored = false;

		if (t->due_ms > now) {
			g->retraces[kept++] = *t;
			continue;
		}
		if (t->marker[0] != '\0') {
			if (gate_db_event_stored(g->pg, t->marker, &stored, err, sizeof(err)) !=
			            CT_OK ||
			    !stored) {
				t->due_ms = now + MARKER_POLL_MS; /* traveler has not caught up yet */
				g->retraces[kept++] = *t;
				continue;
			}
			t->marker[0] = '\0';
			t->due_ms = now + retrace_after_ms[0];
		} else if (++t->round < rounds) {
			t->due_ms = now + retrace_after_ms[t->round];
		} else {
			t->due_ms = -1;
		}
		/* Re-applying the hold is idempotent: same state, same rows, new descendants. */
		if (gate_pending_add_hold(&g->pending, &t->hold) != CT_OK)
			continue;
		if (t->due_ms >= 0)
			g->retraces[kept++] = *t;
	}
	g->n_retraces = kept;
}

static int run(struct gate *g)
{
	struct ct_spool_batch batch;
	int64_t next_report = ct_mono_ms() + 30000, next_prune = 0;
	int rc = CT_OK;

	memset(&batch, 0, sizeof(batch));
	while (!ct_service_stop) {
		char err[512];
		size_t holds_before;

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
				ct_warn("configuration reload failed (keeping the old one): %s", err);
			else
				ct_info("configuration reloaded: %zu specs, %zu charts, %zu gate rules",
				        g->specs.count, g->charts.n_defs, g->lots.n_rules);
		}
		if (g->reload_lots) {
			g->reload_lots = false;
			publish_lot_changes(g);
			if (gate_db_load_lots(g->pg, &g->lots, err, sizeof(err)) != CT_OK)
				ct_warn("cannot reload held lots: %s", err);
		}
		if (g->undo_wanted) {
			g->undo_wanted = false;
			process_undos(g);
		}
		rc = ct_spool_read(g->svc.spool, (size_t)g->cfg.batch_records,
		                   (size_t)g->cfg.batch_kib * 1024, 100, &batch);
		if (rc != CT_OK && rc != CT_ERR_CORRUPT) {
			ct_error("cannot read the spool: %s", ct_strerror(rc));
			break;
		}
		rc = CT_OK;
		run_retraces(g);
		if (batch.count == 0 && g->pending.n_holds == 0)
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
		/* Everything published is acknowledged before the batch counts as done; if not,
		 * the batch is judged again from the last saved state, under the same IDs. */
		if (ct_mqtt_flush(g->svc.mqtt, PUBLISH_WAIT_MS) != CT_OK || g->publish_failed) {
			ct_warn("the broker did not take all of the batch's %zu messages; judging "
			        "it again",
			        batch.count);
			ct_spool_rewind(g->svc.spool);
			if ((rc = rollback_to_saved(g)) != CT_OK)
				break;
			continue;
		}
		holds_before = g->pending.n_holds;
		if ((rc = save_batch(g)) != CT_OK)
			break;
		if (holds_before > 0)
			publish_lot_changes(g);
		rc = ct_spool_commit(g->svc.spool, &batch);
		if (rc != CT_OK) {
			ct_error("cannot commit the spool position: %s", ct_strerror(rc));
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
	if (refresh(&g, true) != CT_OK) {
		ct_service_finish(&g.svc);
		goto out;
	}
	ct_info("ready: judging results");
	rc = run(&g);
	ct_info("stopping: judged %lu results (%lu failed), %lu signals, %lu commands, %lu holds",
	        g.judged, g.failed, g.signals, g.commands, g.holds);
	ct_service_finish(&g.svc);
	exit_code = rc == CT_OK ? 0 : 1;
out:
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
