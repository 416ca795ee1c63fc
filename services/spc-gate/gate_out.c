/* gate_out: what spc-gate publishes: verdicts, alerts, station commands (reaction plans and
 * undo), lot status, dead letters. Message IDs are derived from their cause, so a batch judged
 * again republishes under the IDs consumers already have. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_array.h"
#include "ct_error.h"
#include "ct_ids.h"
#include "ct_log.h"
#include "ct_time.h"
#include "ct_topic.h"
#include "gate.h"
#include "gate_plan.h"

#define MAX_LOT_CHANGES 256
#define MAX_UNDOS       64

/* ---- IDs and publishing ---------------------------------------------------------------- */

/* Writes prefix + 32 hex digits of SHA-256 over the parts (ct_id_derive): the same inputs
 * give the same ID, so a replayed batch republishes under the IDs consumers already have. */
static void derive_id(char *buf, size_t len, const char *prefix, const char *a, const char *b,
                      const char *c)
{
	const char *parts[3] = {a, b, c};

	if (ct_id_derive(buf, len, prefix, parts, 3) != CT_OK && len > 0)
		buf[0] =
		        '\0'; /* out of memory: an empty ID is refused downstream, never mixed up */
}

int gate_flush(struct gate *g)
{
	return ct_loop_flush(&g->loop);
}

void gate_publish(struct gate *g, const char *topic, const ProtobufCMessage *msg, bool retain)
{
	/* A failure is remembered by the loop, which judges everything since the last save
	 * again. */
	ct_loop_publish(&g->loop, topic, msg, retain);
}

static void plant_topic(char *buf, size_t len, const char *site, const char *line,
                        const char *station, enum ct_topic_kind kind)
{
	if (ct_topic_plant(buf, len, site, line, station, kind) != CT_OK)
		buf[0] = '\0';
}

void gate_dead_letter(struct gate *g, const char *topic, int code, const char *reason,
                      const void *payload, size_t len)
{
	ct_loop_dead_letter(&g->loop, topic, code, reason, payload, len, 65536);
}

/* ---- verdicts -------------------------------------------------------------------------- */

/* Appends v to the VerdictBatch being built for topic, encoded as the batch's field 1 (a
 * length-delimited embedded message: tag, varint length, bytes), so verdicts are packed once
 * and never copied into a message tree. A different topic publishes what came before. */
static void add_to_verdict_batch(struct gate *g, const char *topic,
                                 const Cellthread__V1__Verdict *v)
{
	struct verdict_batch *b = &g->verdicts;
	size_t size = cellthread__v1__verdict__get_packed_size(v);
	size_t need;

	if (b->len > 0 && strcmp(b->topic, topic) != 0)
		gate_flush_verdicts(g);
	if (b->len == 0)
		snprintf(b->topic, sizeof(b->topic), "%s", topic);
	need = b->len + size + 11; /* tag + up to 10 bytes of varint */
	if (need > b->cap) {
		uint8_t *grown = ct_array_grow(b->buf, &b->cap, need, 1, 4096);
		if (grown == NULL) {
			ct_error("out of memory for verdicts; the batch will be judged again");
			g->verdicts_failed = true;
			return;
		}
		b->buf = grown;
	}
	b->buf[b->len++] = (1 << 3) | 2; /* field 1, wire type 2 (length-delimited) */
	for (size_t n = size;; n >>= 7) {
		b->buf[b->len++] = (uint8_t)((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
		if (n <= 0x7f)
			break;
	}
	b->len += cellthread__v1__verdict__pack(v, b->buf + b->len);
}

void gate_publish_verdict(struct gate *g, const Cellthread__V1__StationResult *r,
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
	add_to_verdict_batch(g, topic, &v);
}

void gate_flush_verdicts(struct gate *g)
{
	struct verdict_batch *b = &g->verdicts;

	if (b->len == 0)
		return;
	ct_loop_publish_raw(&g->loop, b->topic, b->buf, b->len, false);
	b->len = 0;
}

/* ---- signals: alerts and reaction plans -------------------------------------------------- */

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
	gate_publish(g, topic, &cmd.base, false);
	g->commands++;
	if (cmd.kind == COMMAND(ADJUST))
		snprintf(reaction, reaction_len,
		         "plan %s step %d: ADJUST %s by %+.6g %s to %.6g "
		         "(command %s)",
		         step->plan_id, step->step, step->parameter, delta, step->uom,
		         cmd.target_value, id);
	else
		snprintf(reaction, reaction_len, "plan %s step %d: %s (command %s)", step->plan_id,
		         step->step, cmd.kind == COMMAND(SLOW) ? "SLOW" : "STOP", id);

	/* The action log: cause, what was sent, and how to undo it. */
	struct gate_rows *c = &g->pending.actions;
	gate_rows_text(c, id);
	gate_rows_text(c, alert_id);
	gate_rows_text(c, s->def->chart_id);
	gate_rows_text(c, chart->site);
	gate_rows_text(c, chart->line);
	gate_rows_text(c, chart->station);
	gate_rows_int64(c, cmd.kind);
	if (cmd.kind == COMMAND(ADJUST))
		gate_rows_text(c, step->parameter);
	else
		gate_rows_null(c);
	if (cmd.kind == COMMAND(STOP))
		gate_rows_null(c);
	else
		gate_rows_double(c, cmd.target_value);
	if (cmd.kind == COMMAND(ADJUST))
		gate_rows_double(c, delta);
	else
		gate_rows_null(c);
	gate_rows_text(c, step->uom);
	gate_rows_text(c, step->reason_code);
	gate_rows_text(c, text);
	gate_rows_text(c, r->header->event_id);
	gate_rows_int64(c, g->now_us);
	gate_rows_end(c);
}

void gate_on_signal(void *ctx, const struct gate_signal *s, const Cellthread__V1__StationResult *r)
{
	struct gate *g = ctx;
	struct gate_chart *chart = s->chart;
	struct gate_chart_blob *blob = &chart->blob;
	const struct gate_plan_step *step, *plan_steps;
	size_t n_plan_steps;
	struct gate_plan_state plan;
	struct gate_plan_decision decision;
	int64_t holdoff_us = g->cfg.alert_holdoff_s * 1000000LL;
	int slot = s->rule % GATE_RULE_SLOTS;
	char alert_id[48], reaction[512] = "", code[64], text[1024], topic[CT_TOPIC_MAX];
	bool alert_due = g->now_us - blob->last_alert_us[slot] >= holdoff_us;

	g->signals++;
	derive_id(alert_id, sizeof(alert_id), "a-", r->header->event_id, s->def->chart_id,
	          s->rule_name);

	/* Reaction plan (gate_plan.h): a persisting pattern takes the plan's steps, stray
	 * points and chance patterns do not. */
	plan_steps = gate_charts_plan(&g->charts, chart, &n_plan_steps);
	gate_plan_state_get(blob, &plan);
	gate_plan_decide(plan_steps, n_plan_steps, &plan, s->last_point, g->now_us, &decision);
	gate_plan_state_set(blob, &plan);
	step = decision.step;
	if (decision.act) {
		react(g, s, r, step, alert_id, reaction, sizeof(reaction));
		alert_due = true; /* every action is announced */
	}
	chart->dirty = true;

	/* The signal log, suppressed alerts included. */
	struct gate_rows *c = &g->pending.signals;
	gate_rows_text(c, alert_id);
	gate_rows_text(c, s->def->chart_id);
	gate_rows_text(c, chart->site);
	gate_rows_text(c, chart->line);
	gate_rows_text(c, chart->station);
	gate_rows_text(c, chart->recipe);
	gate_rows_text(c, s->rule_name);
	gate_rows_int64(c, (int64_t)s->first_point);
	gate_rows_int64(c, (int64_t)s->last_point);
	if (isfinite(s->statistic))
		gate_rows_double(c, s->statistic);
	else
		gate_rows_null(c);
	if (isfinite(s->limit))
		gate_rows_double(c, s->limit);
	else
		gate_rows_null(c);
	gate_rows_text(c, r->header->event_id);
	gate_rows_text(c, r->unit_id);
	gate_rows_text(c, alert_due ? reaction : "alert held off (same rule within hold-off)");
	gate_rows_int64(c, g->now_us);
	gate_rows_end(c);
	if (!alert_due)
		return;
	blob->last_alert_us[slot] = g->now_us;

	Cellthread__V1__Alert alert = CELLTHREAD__V1__ALERT__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	char event_id[48], object_id[200]; /* alert-router takes object IDs under 200 bytes */
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
	/* The chart instance is the alert's object: two characteristics of one station breaking
	 * the same rule are two alerts at the router, a rule breaking again on one chart is a
	 * repeat. Its position is part of the name: one chart definition runs at every site, line
	 * and station it matches, and the router's identity is source, code and object alone. */
	if (snprintf(object_id, sizeof(object_id), "%s/%s/%s/%s", chart->site, chart->line,
	             chart->station, s->def->chart_id) >= (int)sizeof(object_id)) {
		/* IDs that long are legal but rare; a cut name could collide, the chart's
		 * cannot be too long (48). */
		ct_warn("alert object %s/%s/%s/%s is longer than the router takes; named %s",
		        chart->site, chart->line, chart->station, s->def->chart_id,
		        s->def->chart_id);
		snprintf(object_id, sizeof(object_id), "%s", s->def->chart_id);
	}
	alert.object_kind = (char *)"characteristic";
	alert.object_id = object_id;
	alert.value = s->statistic;
	plant_topic(topic, sizeof(topic), chart->site, chart->line, chart->station, CT_KIND_ALERT);
	gate_publish(g, topic, &alert.base, false);
}

/* ---- lot status, undo, reload -------------------------------------------------------------- */

void gate_publish_lot_changes(struct gate *g)
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
			snprintf(topic, sizeof(topic), CT_TOPIC_ROOT "/lot/%s/%s", c->site,
			         c->lot_id);
			/* Retained: ingest (and anyone) learns every lot's state on connect. */
			gate_publish(g, topic, &st.base, true);
			ct_info("lot %s/%s is now %s (%s, by %s)", c->site, c->lot_id,
			        c->state == 1   ? "released"
			        : c->state == 2 ? "held"
			                        : "quarantined",
			        c->reason, c->actor);
		}
		if (n > 0 &&
		    (gate_flush(g) != CT_OK ||
		     gate_db_lot_changes_published(g->pg, changes, n, err, sizeof(err)) != CT_OK)) {
			ct_warn("lot status not confirmed (will publish again): %s", err);
			return;
		}
	} while (n == MAX_LOT_CHANGES);
}

void gate_process_undos(struct gate *g)
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
		char id[48], topic[CT_TOPIC_MAX];
		/* Room for the longest text the fields hold; the precisions below state that
		 * bound, which the compiler cannot see through an array of structs. */
		char text[sizeof("undo of  asked by : ") + sizeof(u->command_id) +
		          sizeof(u->requested_by) + sizeof(u->reason)];

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
		snprintf(text, sizeof(text), "undo of %.*s asked by %.*s: %.*s",
		         (int)sizeof(u->command_id) - 1, u->command_id,
		         (int)sizeof(u->requested_by) - 1, u->requested_by,
		         (int)sizeof(u->reason) - 1, u->reason);
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
		gate_publish(g, topic, &cmd.base, false);
		if (gate_flush(g) != CT_OK ||
		    gate_db_undo_done(g->pg, u->command_id, id, err, sizeof(err)) != CT_OK) {
			ct_warn("undo of %s not confirmed (will send again): %s", u->command_id,
			        err);
			return;
		}
		ct_info("undid %s: %s", u->command_id, text);
	}
}

/* After a (re)connect, or when told: configuration, charts, lots, pending work. */