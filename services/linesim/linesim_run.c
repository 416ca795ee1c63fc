/* linesim_run: ct-linesim's real-time loop (linesim_service.h; the design is in main.c's
 * opening comment): the schedule, publishing through linesim_out, station commands and fault
 * switches from the spool, the drain at the end and the summary. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ct_config.h"
#include "ct_error.h"
#include "ct_ids.h"
#include "ct_log.h"
#include "ct_mqtt.h"
#include "ct_msg.h"
#include "ct_pb.h"
#include "ct_service.h"
#include "ct_spool.h"
#include "ct_time.h"
#include "ct_topic.h"
#include "linesim_model.h"
#include "linesim_out.h"
#include "ct_json.h"
#include "linesim_service.h"

int64_t linesim_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static enum ct_topic_kind topic_kind(enum linesim_msg_kind kind)
{
	switch (kind) {
	case LINESIM_MSG_RESULT:
		return CT_KIND_RESULT;
	case LINESIM_MSG_TELEMETRY:
		return CT_KIND_TELEMETRY;
	case LINESIM_MSG_STATE:
		return CT_KIND_STATE;
	case LINESIM_MSG_ACK:
		break;
	}
	return CT_KIND_ACK;
}

/* Re-decodes the packed payload and encodes it with the runtime's JSON form (ingest's). */
static char *to_json(const struct linesim_publish *msg)
{
	const ProtobufCMessageDescriptor *desc = ct_msg_descriptor(topic_kind(msg->kind));
	ProtobufCMessage *m;
	char *text = NULL;

	if (desc == NULL)
		return NULL;
	m = protobuf_c_message_unpack(desc, NULL, msg->len, msg->payload);
	if (m == NULL)
		return NULL;
	switch (msg->kind) {
	case LINESIM_MSG_RESULT:
		text = ct_json_encode_result_batch((const Cellthread__V1__StationResultBatch *)m);
		break;
	case LINESIM_MSG_TELEMETRY:
		text = ct_json_encode_telemetry((const Cellthread__V1__Telemetry *)m);
		break;
	case LINESIM_MSG_STATE:
		text = ct_json_encode_state((const Cellthread__V1__StationState *)m);
		break;
	case LINESIM_MSG_ACK:
		text = ct_json_encode_ack((const Cellthread__V1__CommandAck *)m);
		break;
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return text;
}

/* Keeps a copy of a message the broker has not acknowledged yet, with the mark that says
 * when it has. */
static int keep_unacked(struct run *r, const char *topic, const void *payload, size_t len)
{
	struct unacked *u;

	if (r->n == r->cap && r->head > 0) {
		/* The acknowledged front is free room: move the rest down. */
		memmove(r->unacked, r->unacked + r->head, (r->n - r->head) * sizeof(*r->unacked));
		r->n -= r->head;
		r->head = 0;
	}
	if (r->n == r->cap) {
		size_t cap = r->cap == 0 ? 64 : r->cap * 2;
		struct unacked *grown = realloc(r->unacked, cap * sizeof(*grown));

		if (grown == NULL)
			return CT_ERR_NOMEM;
		r->unacked = grown;
		r->cap = cap;
	}
	u = &r->unacked[r->n];
	u->topic = strdup(topic);
	u->payload = malloc(len > 0 ? len : 1);
	if (u->topic == NULL || u->payload == NULL) {
		free(u->topic);
		free(u->payload);
		return CT_ERR_NOMEM;
	}
	memcpy(u->payload, payload, len);
	u->len = len;
	ct_mqtt_mark(r->svc.mqtt, &u->mark);
	r->n++;
	return CT_OK;
}

static void drop_unacked(struct run *r, size_t upto)
{
	for (; r->head < upto; r->head++) {
		free(r->unacked[r->head].topic);
		free(r->unacked[r->head].payload);
	}
	if (r->head == r->n)
		r->head = r->n = 0;
}

void linesim_run_cleanup(struct run *r)
{
	drop_unacked(r, r->n);
	free(r->unacked);
	r->unacked = NULL;
	r->cap = 0;
}

/* Forgets the kept messages the broker has acknowledged. A failed publish since the last
 * ct_mqtt_flush (the broker went away: the clean-session publisher's unacknowledged
 * publishes fail, whether the broker had taken them or not; or a publish could not be handed
 * over at all) sets r->resend instead: which of the kept ones failed is not known, so all of
 * them go out again, and consumers drop the copies by event ID. ct_mqtt keeps counting a
 * failure until ct_mqtt_flush, so the failure is checked even with nothing kept. */
static void settle_unacked(struct run *r)
{
	struct ct_mqtt_mark probe;
	bool reached = false;
	size_t i = r->head;

	if (r->resend)
		return;
	for (; i < r->n; i++) {
		if (ct_mqtt_mark_reached(r->svc.mqtt, &r->unacked[i].mark, &reached) != CT_OK) {
			r->resend = true;
			break;
		}
		if (!reached)
			break;
	}
	if (r->resend)
		return;
	drop_unacked(r, i);
	if (r->head == r->n) {
		ct_mqtt_mark(r->svc.mqtt, &probe);
		if (ct_mqtt_mark_reached(r->svc.mqtt, &probe, &reached) != CT_OK)
			r->resend = true;
	}
}

/* Publishes every kept message again, in order, after waiting for what is still in flight
 * (which also clears ct_mqtt's failure count, so later failures are new ones). Returns CT_OK,
 * or the publish error: r->resend stays set and the next call starts over. */
static int resend_unacked(struct run *r)
{
	int rc;

	/* Whatever the flush says (a failure is why we are here; a timeout means some are still
	 * in flight), everything kept goes out again: a copy too many is harmless, one too few
	 * is a loss. */
	(void)ct_mqtt_flush(r->svc.mqtt, PUBLISH_TIMEOUT_MS);
	if (r->n > r->head)
		ct_info("publishing %zu message(s) again that the broker did not acknowledge",
		        r->n - r->head);
	for (size_t i = r->head; i < r->n; i++) {
		struct unacked *u = &r->unacked[i];

		rc = ct_mqtt_publish(r->svc.mqtt, u->topic, u->payload, u->len, 1, false,
		                     PUBLISH_TIMEOUT_MS);
		if (rc != CT_OK)
			return rc;
		ct_mqtt_mark(r->svc.mqtt, &u->mark);
		r->republished++;
	}
	r->resend = false;
	return CT_OK;
}

int linesim_publish(void *ctx, const struct linesim_publish *msg)
{
	struct run *r = ctx;
	char topic[CT_TOPIC_MAX];
	const void *payload = msg->payload;
	size_t len = msg->len;
	char *json = NULL;
	bool json_form;
	int rc;

	/* What failed goes out before anything new, so consumers see the stations' order.
	 * Telemetry does not wait for that (each attempt may wait PUBLISH_TIMEOUT_MS for the
	 * broker): like linesim_out while stalled, it drops a sample of the stream and counts it.
	 */
	if (r->resend && msg->kind == LINESIM_MSG_TELEMETRY)
		return CT_ERR_MQTT;
	if (r->resend && (rc = resend_unacked(r)) != CT_OK)
		return rc;
	json_form = r->json;
	rc = ct_topic_edge(topic, sizeof(topic), r->cfg->site, msg->line, msg->station,
	                   topic_kind(msg->kind), json_form ? CT_ENC_JSON : CT_ENC_PROTOBUF);
	if (rc != CT_OK)
		return rc;
	if (json_form) {
		json = to_json(msg);
		if (json == NULL)
			return CT_ERR_NOMEM;
		payload = json;
		len = strlen(json);
	}
	rc = ct_mqtt_publish(r->svc.mqtt, topic, payload, len, 1, false, PUBLISH_TIMEOUT_MS);
	/* Handed over, it counts as published: from here on it is ours to get acknowledged. If
	 * keeping it fails, it is reported as not published and goes out again with its batch
	 * (telemetry: counted dropped), a harmless copy. */
	if (rc == CT_OK)
		rc = keep_unacked(r, topic, payload, len);
	free(json);
	return rc;
}

/* True while production must wait: a batch the broker refused, or failed messages not yet
 * published again. */
static bool is_stalled(const struct run *r, const struct linesim_out *out)
{
	return linesim_out_is_stalled(out) || r->resend;
}

/* True for ct/v1/plant/{...}/command. */
static bool is_command_topic(const char *topic)
{
	size_t n = strlen(topic), k = strlen("/" COMMAND_KIND);

	return ct_topic_has_prefix(topic, CT_TOPIC_ROOT "/plant") && n > k &&
	       strcmp(topic + n - k, "/" COMMAND_KIND) == 0;
}

/* Publishes the station's CommandAck of a command: event ID "ack-" + the command's (a
 * redelivered command is acknowledged again with the same ID, which consumers drop), or a
 * derived "ack-" ID when that would pass 64 characters. */
static void send_ack(struct run *r, const struct linesim_command_report *rep)
{
	Cellthread__V1__CommandAck ack = CELLTHREAD__V1__COMMAND_ACK__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	char event_id[LINESIM_ID_LEN + 8], producer[LINESIM_ID_LEN + 16];
	const char *parts[1] = {rep->event_id};
	int rc = CT_OK;

	if (strlen(rep->event_id) + 4 <= CT_ID_MAX)
		snprintf(event_id, sizeof(event_id), "ack-%s", rep->event_id);
	else
		rc = ct_id_derive(event_id, sizeof(event_id), "ack-", parts, 1);
	snprintf(producer, sizeof(producer), "linesim-%s", rep->line);
	header.event_id = event_id;
	header.producer = producer;
	header.produced_at_us = rep->acked_at_us;
	header.schema_version = 1;
	ack.header = &header;
	ack.site = r->cfg->site;
	ack.line = (char *)rep->line;
	ack.station = (char *)rep->station;
	ack.command_event_id = (char *)rep->event_id;
	ack.status = rep->ack_status;
	ack.detail = (char *)rep->ack_detail;
	ack.acked_at_us = rep->acked_at_us;
	if (rc == CT_OK)
		rc = linesim_out_ack(r->out, rep->line, rep->station, &ack);
	if (rc != CT_OK)
		ct_error("acknowledgement of command %s: %s", rep->event_id, ct_strerror(rc));
}

/* Applies one StationCommand (when obeyed); every outcome is logged, once, here. */
static void handle_command(struct run *r, struct linesim_model *model,
                           const struct ct_spool_record *rec)
{
	struct linesim_command_report rep;
	struct linesim_sink sink = linesim_out_sink(r->out);
	struct linesim_state_sink states = linesim_out_state_sink(r->out);
	enum linesim_cmd_outcome outcome;
	int64_t now;

	if (r->in_history) {
		/* A command's expiry and effect are on the real clock, the history's cells in
		 * the past: obeying it would hold the simulated line for real minutes' worth of
		 * simulated time. The past cannot be commanded; once live, commands count. */
		if (!r->told_history_commands)
			ct_info("station commands arrive (%s) while generating history: ignoring "
			        "them until live",
			        rec->topic);
		r->told_history_commands = true;
		return;
	}
	if (!r->cfg->obey_commands) {
		/* A persistent session keeps the subscription of an earlier run that obeyed. */
		if (!r->told_commands_off)
			ct_info("station commands arrive (%s) but sim.obey_commands is off: "
			        "ignoring them",
			        rec->topic);
		r->told_commands_off = true;
		return;
	}
	now = ct_now_us();
	/* With station states, the line's states up to now first: the command's effect
	 * starts where it is applied. */
	for (unsigned i = 0; r->cfg->states && i < (unsigned)r->cfg->lines; i++)
		if (linesim_model_advance(model, i, now, (unsigned long long)r->cfg->cells, &sink,
		                          &states) != CT_OK)
			ct_warn("L%u: states before a command not all handed on", i + 1);
	outcome = linesim_model_command_payload(model, rec->topic, rec->payload, rec->payload_len,
	                                        now, &rep);
	if (rep.ack)
		send_ack(r, &rep);
	switch (outcome) {
	case LINESIM_CMD_APPLIED:
		ct_info("command applied: %s", rep.text);
		break;
	case LINESIM_CMD_INVALID:
	case LINESIM_CMD_UNSUPPORTED:
		ct_warn("command ignored (%s): %s", linesim_command_outcome_name(rep.outcome),
		        rep.text);
		break;
	default: /* duplicate, expired, not simulated: normal traffic, nothing to fix */
		ct_info("command ignored (%s): %s", linesim_command_outcome_name(rep.outcome),
		        rep.text);
		break;
	}
}

/* Applies one {"scenario": "...", "enabled": true|false} request, or hands a station command
 * on; refusals are logged and dropped, since a retry of the same bad request would fail the
 * same way. */
static void handle_control(struct run *r, struct linesim_model *model,
                           const struct ct_spool_record *rec)
{
	json_error_t jerr;
	json_t *root = NULL;
	const char *scenario = NULL;
	int enabled = 0;
	enum linesim_fault fault;

	if (is_command_topic(rec->topic)) {
		handle_command(r, model, rec);
		return;
	}
	if (strcmp(rec->topic, FAULT_TOPIC) != 0) {
		ct_warn("ignoring message on %s: not a linesim request", rec->topic);
		return;
	}
	root = json_loadb((const char *)rec->payload, rec->payload_len, 0, &jerr);
	if (root == NULL || json_unpack_ex(root, &jerr, JSON_STRICT, "{s:s, s:b}", "scenario",
	                                   &scenario, "enabled", &enabled) != 0) {
		ct_warn("fault request ignored: %s (want {\"scenario\": NAME, \"enabled\": BOOL})",
		        jerr.text);
		goto out;
	}
	if (linesim_fault_from_name(scenario, &fault) != CT_OK) {
		ct_warn("fault request ignored: unknown scenario '%s' (nozzle, coating_drift, "
		        "dew_point, weld_wear)",
		        scenario);
		goto out;
	}
	linesim_model_set_fault(model, fault, enabled != 0);
	ct_info("fault %s switched %s", linesim_fault_name(fault), enabled ? "on" : "off");
out:
	json_decref(root);
}

/* Waits up to wait_ms for control requests (faults, station commands) and applies them.
 * Returns CT_OK or the spool's error. */
static int poll_control(struct run *r, struct linesim_model *model, struct ct_spool_batch *batch,
                        int wait_ms)
{
	int rc = ct_spool_read(r->svc.spool, 16, 64 * 1024, wait_ms, batch);

	if (rc != CT_OK || batch->count == 0)
		return rc;
	for (size_t i = 0; i < batch->count; i++)
		handle_control(r, model, &batch->records[i]);
	return ct_spool_commit(r->svc.spool, batch);
}

/* True when `line` has finished its sim.cells cells (never with sim.cells = 0). */
static bool line_done(const struct linesim_config *cfg, const struct linesim_model *model,
                      unsigned line)
{
	unsigned long long finished = linesim_model_line_stats(model, line)->cells_finished;

	return cfg->cells > 0 && finished >= (unsigned long long)cfg->cells;
}

static bool all_done(const struct linesim_config *cfg, const struct linesim_model *model)
{
	for (unsigned i = 0; i < (unsigned)cfg->lines; i++)
		if (!line_done(cfg, model, i))
			return false;
	return true;
}

static int emit_telemetry(const struct linesim_config *cfg, struct linesim_model *model,
                          const struct linesim_sink *sink, int64_t wall_us)
{
	int rc = CT_OK;

	for (unsigned i = 0; rc == CT_OK && i < (unsigned)cfg->lines; i++)
		rc = linesim_model_telemetry(model, i, wall_us, sink);
	return rc;
}

/* Logs each line whose share of sim.rate changed (a SLOW, STOP, RESUME or expiry). */
static void log_rates(const struct linesim_config *cfg, const struct linesim_model *model,
                      double *rates)
{
	for (unsigned i = 0; i < (unsigned)cfg->lines; i++) {
		double rate = linesim_model_line_rate(model, i);

		if (rate == rates[i])
			continue;
		if (rate <= 0.0)
			ct_info("L%u stopped by a station command", i + 1);
		else if (rate >= 1.0)
			ct_info("L%u back to full rate (%g cells/s)", i + 1, cfg->rate);
		else
			ct_info("L%u runs at %.6g %% of its rate (%g cells/s)", i + 1, 100.0 * rate,
			        cfg->rate * rate);
		rates[i] = rate;
	}
}

/* The simulated time one history telemetry message per asset covers: a minute, or less when
 * a minute's samples of a signal would pass what one message holds (LINESIM_MAX_SAMPLES; the
 * model skips the oldest beyond it). */
static int64_t history_telemetry_us(double hz)
{
	double s = (double)LINESIM_MAX_SAMPLES / hz;

	return s >= 60.0 ? 60000000LL : (s < 0.001 ? 1000LL : (int64_t)(s * 1e6));
}

static int clamp_wait(int64_t ms)
{
	return ms < 0 ? 0 : (ms > 1000 ? 1000 : (int)ms);
}

/* The earliest time a line has been advanced to. */
static int64_t lines_now(const struct linesim_config *cfg, const struct linesim_model *model)
{
	int64_t t = INT64_MAX;

	for (unsigned i = 0; i < (unsigned)cfg->lines; i++)
		if (linesim_model_now(model, i) < t)
			t = linesim_model_now(model, i);
	return t;
}

/* One turn's upkeep of both production loops: live telemetry when due (at telemetry_us, each
 * loop's clock), the broker's acknowledgements, resends, flow control, progress and the
 * stalled/resumed warnings. Returns CT_OK or emit_telemetry's error. */
static int housekeeping(struct run *r, struct linesim_model *model, const struct linesim_sink *sink,
                        int64_t now_ms, int64_t telemetry_us, int64_t *next_tel_ms,
                        bool *was_stalled)
{
	const struct linesim_config *cfg = r->cfg;

	if (!r->in_history && cfg->telemetry_hz > 0 && now_ms >= *next_tel_ms) {
		int rc = emit_telemetry(cfg, model, sink, telemetry_us);

		if (rc != CT_OK)
			return rc;
		*next_tel_ms = now_ms + TELEMETRY_MS;
	}
	settle_unacked(r);
	/* Failed messages go out again even when no batch is due to take them along; if that
	 * fails too, production stays paused (is_stalled) and the next turn retries. */
	if (r->resend)
		(void)resend_unacked(r);
	linesim_out_poll(r->out, now_ms);
	/* Progress, for the status's last_progress_at_us: a turn that is not stalled on the
	 * broker (the simulator's work is publishing on schedule). */
	if (!is_stalled(r, r->out))
		ct_mqtt_note_progress(r->svc.mqtt);
	if (is_stalled(r, r->out) != *was_stalled) {
		*was_stalled = !*was_stalled;
		if (*was_stalled)
			ct_warn("broker refuses publishes; pausing production");
		else
			ct_info("publishing resumed, catching up with the schedule");
	}
	return CT_OK;
}

/* The production loop with station states (sim.states): the lines' time advances event by
 * event (linesim_model_advance) up to a target: the real clock live and in a history (whose
 * clock starts history_us before now), the scenario's end in a scenario. Catching up goes in
 * steps of at most `chunk` simulated time per line, so requests and the broker are looked at
 * in between. Cells follow the production rule, not the tick schedule. */
static int states_loop(struct run *r, struct linesim_model *model, struct linesim_out *out)
{
	const struct linesim_config *cfg = r->cfg;
	struct linesim_sink sink = linesim_out_sink(out);
	struct linesim_state_sink states = linesim_out_state_sink(out);
	struct ct_spool_batch batch;
	double period_us = 1e6 / cfg->rate;
	int64_t wall0 = ct_now_us(), start = wall0, end = INT64_MAX, chunk, last_at;
	int64_t next_tel_ms = linesim_mono_us() / 1000, next_tel_sim;
	int64_t next_progress_ms = next_tel_ms + PROGRESS_MS;
	bool was_stalled = false;
	double rates[LINESIM_MAX_LINES];
	int rc = CT_OK;

	memset(&batch, 0, sizeof(batch));
	for (unsigned i = 0; i < (unsigned)cfg->lines; i++)
		rates[i] = 1.0;
	linesim_clock_init(&r->clock, wall0, r->history_us, cfg->rate);
	r->history_ticks = linesim_clock_history_ticks(&r->clock);
	if (r->scenario != NULL) {
		start = r->scenario->start_us;
		end = r->scenario->end_us;
		r->clock.start_us = start;
		r->clock.end_us = end;
		r->in_history = true;
	} else if (r->history_us > 0) {
		start = r->clock.start_us;
		if (!cfg->history_then_live)
			end = r->clock.end_us;
		r->in_history = true;
	}
	chunk = (int64_t)(MAX_BURST * period_us);
	if (cfg->telemetry_hz > 0 && history_telemetry_us(cfg->telemetry_hz) < chunk)
		chunk = history_telemetry_us(cfg->telemetry_hz);
	if (chunk < 1000)
		chunk = 1000;
	linesim_model_begin(model, start);
	next_tel_sim = start;
	last_at = start;
	while (!ct_service_stop && !all_done(cfg, model)) {
		/* Cells complete before the end (t < end): advance to just before it. */
		int64_t target = r->scenario != NULL ? end - 1 : ct_now_us(), now_ms, wait, next;

		if (end != INT64_MAX && target > end - 1)
			target = end - 1;
		for (unsigned i = 0; !is_stalled(r, out) && i < (unsigned)cfg->lines; i++) {
			int64_t to = linesim_model_now(model, i);

			if (line_done(cfg, model, i) || to >= target)
				continue;
			to = target - to > chunk ? to + chunk : target;
			/* History telemetry: one message per asset per simulated minute. */
			if (r->in_history && cfg->telemetry_hz > 0 && to > next_tel_sim)
				to = next_tel_sim;
			rc = linesim_model_advance(model, i, to, (unsigned long long)cfg->cells,
			                           &sink, &states);
			if (rc != CT_OK)
				goto out;
		}
		last_at = lines_now(cfg, model);
		if (r->in_history && cfg->telemetry_hz > 0 && last_at >= next_tel_sim) {
			rc = emit_telemetry(cfg, model, &sink, last_at);
			if (rc != CT_OK)
				goto out;
			next_tel_sim = last_at + history_telemetry_us(cfg->telemetry_hz);
		}
		log_rates(cfg, model, rates);
		if (end != INT64_MAX && last_at >= end - 1)
			break;
		now_ms = linesim_mono_us() / 1000;
		if (r->in_history && r->scenario == NULL && last_at >= ct_now_us() - chunk) {
			r->in_history = false;
			next_tel_ms = now_ms;
			ct_info("history generated up to now in %.1f s; going on live",
			        (double)(ct_now_us() - wall0) / 1e6);
		}
		rc = housekeeping(r, model, &sink, now_ms, ct_now_us(), &next_tel_ms, &was_stalled);
		if (rc != CT_OK)
			goto out;
		if (now_ms >= next_progress_ms) {
			ct_info("L1: %llu cells finished, %llu messages (%llu states) published, "
			        "simulated clock %.1f h before %s",
			        linesim_model_line_stats(model, 0)->cells_finished,
			        linesim_out_counts(out)->messages, linesim_out_counts(out)->states,
			        (double)((end != INT64_MAX ? end : ct_now_us()) - last_at) / 3.6e9,
			        end != INT64_MAX ? "the end" : "now");
			next_progress_ms = now_ms + PROGRESS_MS;
		}

		/* Sleep until the next cell, state change, batch or telemetry is due. */
		next = INT64_MAX;
		for (unsigned i = 0; i < (unsigned)cfg->lines; i++)
			if (linesim_model_next_us(model, i) < next)
				next = linesim_model_next_us(model, i);
		if (was_stalled)
			wait = 1000;
		else if (last_at < target)
			wait = 0;
		else
			wait = next == INT64_MAX ? 1000 : (next - ct_now_us() + 999) / 1000;
		if (linesim_out_next_due_ms(out) - now_ms < wait)
			wait = linesim_out_next_due_ms(out) - now_ms;
		if (!r->in_history && cfg->telemetry_hz > 0 && next_tel_ms - now_ms < wait)
			wait = next_tel_ms - now_ms;
		rc = poll_control(r, model, &batch, clamp_wait(wait));
		if (rc != CT_OK) {
			ct_error("control spool: %s", ct_strerror(rc));
			goto out;
		}
	}
	if (cfg->telemetry_hz > 0)
		rc = emit_telemetry(cfg, model, &sink, r->in_history ? last_at : ct_now_us());
out:
	ct_spool_batch_cleanup(&batch);
	return rc;
}

/* The production loop; returns CT_OK when stopped or done, or a fatal error. */
int linesim_run_loop(struct run *r, struct linesim_model *model, struct linesim_out *out)
{
	const struct linesim_config *cfg = r->cfg;
	struct linesim_sink sink = linesim_out_sink(out);
	struct ct_spool_batch batch;
	double period_us = 1e6 / cfg->rate;
	int64_t t0 = linesim_mono_us(), wall0 = ct_now_us();
	int64_t next_tel_ms = t0 / 1000, next_progress_ms = t0 / 1000 + PROGRESS_MS;
	int64_t next_tel_sim = 0, last_at = wall0;
	unsigned long long ticks = 0;
	bool was_stalled = false;
	double rates[LINESIM_MAX_LINES];
	int rc = CT_OK;

	r->out = out;
	if (cfg->states)
		return states_loop(r, model, out);
	memset(&batch, 0, sizeof(batch));
	for (unsigned i = 0; i < (unsigned)cfg->lines; i++)
		rates[i] = 1.0;
	/* A history run is the live schedule started history_us in the past: every tick up to
	 * now is due at once, and the loop's catch-up publishes them as fast as the broker and
	 * the flow control take them, each cell at its own tick's (simulated) time. */
	linesim_clock_init(&r->clock, wall0, r->history_us, cfg->rate);
	r->history_ticks = linesim_clock_history_ticks(&r->clock);
	r->in_history = r->history_us > 0;
	if (r->in_history) {
		wall0 = r->clock.start_us;
		t0 -= r->history_us;
		next_tel_sim = wall0;
		last_at = wall0;
	}
	while (!ct_service_stop && !all_done(cfg, model) &&
	       !(r->history_us > 0 && !cfg->history_then_live && ticks >= r->history_ticks)) {
		int64_t now = linesim_mono_us(), now_ms, wait;
		unsigned long long due = (unsigned long long)((double)(now - t0) / period_us) + 1;
		unsigned burst = 0;

		/* Without going live the history ends at the wall time the run started. */
		if (r->history_us > 0 && !cfg->history_then_live && due > r->history_ticks)
			due = r->history_ticks;
		while (ticks < due && burst < MAX_BURST && !is_stalled(r, out)) {
			int64_t at = linesim_clock_tick_us(&r->clock, ticks);

			for (unsigned i = 0; rc == CT_OK && i < (unsigned)cfg->lines; i++)
				if (!line_done(cfg, model, i))
					rc = linesim_model_tick(model, i, at, &sink, NULL);
			if (rc != CT_OK)
				goto out;
			ticks++;
			burst++;
			last_at = at;
			/* History telemetry follows the simulated clock, every sample of it, but
			 * in messages of a simulated minute per asset (history_telemetry_us):
			 * a second's message each would make a week 2.4 million messages. */
			if (r->in_history && cfg->telemetry_hz > 0 && at >= next_tel_sim) {
				rc = emit_telemetry(cfg, model, &sink, at);
				if (rc != CT_OK)
					goto out;
				next_tel_sim = at + history_telemetry_us(cfg->telemetry_hz);
			}
		}
		log_rates(cfg, model, rates);
		now = linesim_mono_us();
		now_ms = now / 1000;
		/* The history is over once its ticks are out and, going live, the schedule has
		 * caught up with the real clock: from here on telemetry and commands are live. */
		if (r->in_history && ticks >= r->history_ticks && ticks >= due &&
		    cfg->history_then_live) {
			r->in_history = false;
			next_tel_ms = now_ms;
			ct_info("history generated: %llu ticks per line in %.1f s; going on live",
			        ticks, (double)(now - (t0 + r->history_us)) / 1e6);
		}
		rc = housekeeping(r, model, &sink, now_ms, wall0 + (now - t0), &next_tel_ms,
		                  &was_stalled);
		if (rc != CT_OK)
			goto out;
		if (now_ms >= next_progress_ms) {
			/* Behind schedule means the broker (or this CPU) is slower than sim.rate;
			 * the cells come anyway, later, with their own timestamps. */
			if (r->in_history)
				ct_info("L1: %llu cells finished, %llu messages published, history "
				        "%.1f %% generated (%.1f h before its end)",
				        linesim_model_line_stats(model, 0)->cells_finished,
				        linesim_out_counts(out)->messages,
				        100.0 * (double)ticks / (double)r->history_ticks,
				        (double)(r->clock.end_us - last_at) / 3.6e9);
			else
				ct_info("L1: %llu cells finished, %llu messages published, %.1f s "
				        "behind schedule",
				        linesim_model_line_stats(model, 0)->cells_finished,
				        linesim_out_counts(out)->messages,
				        (double)(due > ticks ? due - ticks : 0) * period_us / 1e6);
			next_progress_ms = now_ms + PROGRESS_MS;
		}

		/* Sleep until the next cell, batch or telemetry is due (or a request comes). */
		if (was_stalled)
			wait = 1000;
		else if (burst == MAX_BURST)
			wait = 0;
		else
			wait = (t0 + (int64_t)((double)ticks * period_us) - now + 999) / 1000;
		if (linesim_out_next_due_ms(out) - now_ms < wait)
			wait = linesim_out_next_due_ms(out) - now_ms;
		if (cfg->telemetry_hz > 0 && next_tel_ms - now_ms < wait)
			wait = next_tel_ms - now_ms;
		rc = poll_control(r, model, &batch, clamp_wait(wait));
		if (rc != CT_OK) {
			ct_error("control spool: %s", ct_strerror(rc));
			goto out;
		}
	}
	if (r->in_history)
		ct_info("history generated: %llu of %llu ticks per line in %.1f s", ticks,
		        r->history_ticks, (double)(linesim_mono_us() - (t0 + r->history_us)) / 1e6);
	/* The last samples at the clock the run ended on: the history's last tick, or now. */
	if (cfg->telemetry_hz > 0)
		rc = emit_telemetry(cfg, model, &sink,
		                    r->in_history ? last_at : wall0 + (linesim_mono_us() - t0));
out:
	ct_spool_batch_cleanup(&batch);
	return rc;
}

/* Publishes what is queued and waits for the broker's acknowledgements; a failure (the broker
 * restarted meanwhile) publishes the kept messages again, until the deadline. */
int linesim_drain(struct run *r, struct linesim_out *out)
{
	int64_t deadline = linesim_mono_us() / 1000 + DRAIN_TIMEOUT_MS;
	int rc;

	for (;;) {
		int64_t left = deadline - linesim_mono_us() / 1000;

		settle_unacked(r);
		rc = r->resend ? resend_unacked(r) : CT_OK;
		if (rc == CT_OK)
			rc = linesim_out_flush(out);
		if (rc == CT_OK)
			rc = ct_mqtt_flush(r->svc.mqtt, left > 0 ? (int)left : 0);
		if (rc == CT_OK) {
			/* Nothing in flight and no failure since the last flush: every kept
			 * message is acknowledged. */
			drop_unacked(r, r->n);
			break;
		}
		/* The flush cleared ct_mqtt's failure count: remember it here. */
		if (rc == CT_ERR_MQTT)
			r->resend = true;
		if (linesim_mono_us() / 1000 >= deadline)
			break;
		nanosleep(&(struct timespec){0, 200 * 1000000L}, NULL);
	}
	if (r->republished > 0)
		ct_info("%llu message(s) were published again after the broker failed them",
		        r->republished);
	if (rc != CT_OK)
		ct_error("could not publish everything before exit: %s; the summary says "
		         "complete: false",
		         ct_strerror(rc));
	return rc;
}

/* The summary's "scenario": its period, rate and what it made on every line together. */
static int add_scenario(json_t *root, const struct run *r, const struct linesim_model *model)
{
	unsigned long long made = 0, good = 0, scrapped = 0, late = 0;
	json_t *sc;

	for (unsigned i = 0; i < (unsigned)r->cfg->lines; i++) {
		made += linesim_model_line_stats(model, i)->cells_started;
		good += linesim_model_line_stats(model, i)->cells_finished;
		scrapped += linesim_model_line_stats(model, i)->cells_scrapped;
		late += linesim_model_state_stats(model, i)->late_failed;
	}
	sc = json_pack("{s:s, s:I, s:I, s:f, s:I, s:I, s:I, s:I}", "path", r->cfg->scenario,
	               "from_us", (json_int_t)r->scenario->start_us, "until_us",
	               (json_int_t)r->scenario->end_us, "rate", r->cfg->rate, "cells_made",
	               (json_int_t)made, "cells_finished", (json_int_t)good, "cells_scrapped",
	               (json_int_t)scrapped, "late_failed", (json_int_t)late);
	if (sc == NULL || json_object_set_new(root, "scenario", sc) != 0)
		return CT_ERR_NOMEM;
	return CT_OK;
}

int linesim_write_summary(const struct run *r, const struct linesim_out *out,
                          const struct linesim_model *model, bool complete, double elapsed_s)
{
	const struct linesim_config *cfg = r->cfg;
	json_t *root = NULL, *faults = NULL;
	char tmp[4096];
	int rc = CT_ERR_NOMEM;

	if (cfg->summary == NULL || cfg->summary[0] == '\0')
		return CT_OK;
	root = linesim_out_summary(out, model);
	faults = json_array();
	if (root == NULL || faults == NULL)
		goto out;
	for (unsigned f = 0; f < LINESIM_FAULT_COUNT; f++)
		if (linesim_model_fault_is_on(model, f))
			json_array_append_new(faults, json_string(linesim_fault_name(f)));
	if (json_object_set_new(root, "site", json_string(cfg->site)) != 0 ||
	    json_object_set_new(root, "seed", json_integer(cfg->seed)) != 0 ||
	    json_object_set_new(root, "encoding", json_string(cfg->encoding)) != 0 ||
	    json_object_set_new(root, "faults_on", faults) != 0 ||
	    json_object_set_new(root, "obey_commands", json_boolean(cfg->obey_commands)) != 0 ||
	    json_object_set_new(root, "complete", json_boolean(complete)) != 0 ||
	    json_object_set_new(root, "elapsed_s", json_real(elapsed_s)) != 0) {
		faults = NULL;
		goto out;
	}
	faults = NULL;
	/* The simulated period, so a reader can check the stored times against it. */
	if (r->history_us > 0 &&
	    (json_object_set_new(root, "history_from_us", json_integer(r->clock.start_us)) != 0 ||
	     json_object_set_new(root, "history_until_us", json_integer(r->clock.end_us)) != 0 ||
	     json_object_set_new(root, "history_ticks",
	                         json_integer((json_int_t)r->history_ticks)) != 0 ||
	     json_object_set_new(root, "history_then_live", json_boolean(cfg->history_then_live)) !=
	             0))
		goto out;
	if (cfg->states &&
	    (json_object_set_new(root, "sim_states", json_true()) != 0 ||
	     json_object_set_new(root, "downtime", json_boolean(cfg->downtime)) != 0))
		goto out;
	if (r->scenario != NULL && add_scenario(root, r, model) != CT_OK)
		goto out;
	rc = CT_ERR_IO;
	if (strcmp(cfg->summary, "-") == 0) {
		if (json_dumpf(root, stdout, JSON_INDENT(2)) != 0 || fputc('\n', stdout) == EOF ||
		    fflush(stdout) != 0)
			goto out;
	} else {
		/* Written aside and renamed, so a reader never sees half a summary. */
		if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", cfg->summary) >= sizeof(tmp) ||
		    json_dump_file(root, tmp, JSON_INDENT(2)) != 0 ||
		    rename(tmp, cfg->summary) != 0)
			goto out;
	}
	rc = CT_OK;
out:
	if (rc != CT_OK)
		ct_error("cannot write summary to %s", cfg->summary);
	json_decref(faults);
	json_decref(root);
	return rc;
}
