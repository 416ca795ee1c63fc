/* linesim_out: per-station batches of packed results, publishing, and the published counts.
 *
 * Each (line, station) has one growable buffer holding the wire form of a StationResultBatch
 * under construction: for each result the tag of field 1 (0x0a), its length as a varint and
 * the packed StationResult. The counts of a batch wait beside it and join the totals only
 * when the batch is published. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "ct_error.h"
#include "ct_msg.h"
#include "linesim_out.h"

struct batch {
	uint8_t *buf;
	size_t len, cap;
	size_t n;       /* results */
	int64_t due_ms; /* the station gateway's timer tick that publishes it */
	const char *line, *station;
	struct linesim_counts pending;
};

/* A state or acknowledgement waiting for its publish. */
struct direct {
	enum linesim_msg_kind kind;
	char line[LINESIM_ID_LEN], station[LINESIM_ID_LEN];
	uint8_t *payload;
	size_t len;
};

struct linesim_out {
	struct linesim_out_config config;
	unsigned n_lines, n_stations, n_batches;
	struct batch *batches;
	int64_t now_ms;
	bool stalled;
	uint8_t *tbuf; /* telemetry packing */
	size_t tcap;
	struct linesim_counts counts;
	struct direct *direct; /* [direct_head, n_direct) queued, in order */
	size_t direct_head, n_direct, direct_cap;
};

int linesim_out_new(const struct linesim_out_config *config, unsigned n_lines, unsigned n_stations,
                    struct linesim_out **ret)
{
	struct linesim_out *out;

	if (config->max_batch < 1 || config->batch_ms < 0 || config->publish == NULL ||
	    n_lines == 0 || n_stations == 0)
		return CT_ERR_INVALID;
	out = calloc(1, sizeof(*out));
	if (out == NULL)
		return CT_ERR_NOMEM;
	out->config = *config;
	out->n_lines = n_lines;
	out->n_stations = n_stations;
	out->n_batches = n_lines * n_stations;
	out->batches = calloc(out->n_batches, sizeof(*out->batches));
	if (out->batches == NULL) {
		free(out);
		return CT_ERR_NOMEM;
	}
	*ret = out;
	return CT_OK;
}

void linesim_out_free(struct linesim_out *out)
{
	if (out == NULL)
		return;
	for (unsigned i = 0; i < out->n_batches; i++)
		free(out->batches[i].buf);
	free(out->batches);
	free(out->tbuf);
	for (size_t i = out->direct_head; i < out->n_direct; i++)
		free(out->direct[i].payload);
	free(out->direct);
	free(out);
}

static int reserve(uint8_t **buf, size_t *cap, size_t need)
{
	uint8_t *p;
	size_t n = *cap < 4096 ? 4096 : *cap;

	if (need <= *cap)
		return CT_OK;
	while (n < need)
		n *= 2;
	p = realloc(*buf, n);
	if (p == NULL)
		return CT_ERR_NOMEM;
	*buf = p;
	*cap = n;
	return CT_OK;
}

static size_t put_varint(uint8_t *p, size_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static void add_counts(struct linesim_counts *to, const struct linesim_counts *from)
{
	to->messages += from->messages;
	to->result_messages += from->result_messages;
	to->telemetry_messages += from->telemetry_messages;
	to->results += from->results;
	to->results_nok += from->results_nok;
	to->measurements += from->measurements;
	to->parameters += from->parameters;
	to->materials += from->materials;
	to->children += from->children;
	to->environment += from->environment;
	to->notes += from->notes;
	to->exceptions += from->exceptions;
	to->curves += from->curves;
	to->curve_points += from->curve_points;
	to->telemetry_signals += from->telemetry_signals;
	to->telemetry_samples += from->telemetry_samples;
	to->telemetry_dropped += from->telemetry_dropped;
	for (size_t k = 0; k < LINESIM_UNIT_KINDS; k++)
		to->units[k] += from->units[k];
	to->bytes += from->bytes;
}

/* The first tick of batch i's gateway timer after `ms`. Station gateways are independent
 * PLCs whose timers are not synchronised: batch i's ticks every batch_ms at phase
 * i * batch_ms / n_batches, so the stations' batches leave spread over the period (as they
 * reach a plant's broker) instead of all in the same millisecond. A result waits at most
 * batch_ms. */
static int64_t next_tick_ms(const struct linesim_out *out, unsigned i, int64_t ms)
{
	int64_t period = out->config.batch_ms, since_tick;

	if (period <= 0)
		return ms;
	since_tick = (ms - (int64_t)i * period / out->n_batches) % period;
	if (since_tick < 0)
		since_tick += period;
	return ms + period - since_tick;
}

/* Publishes one batch; on success its counts join the totals and it is emptied. */
static int publish_batch(struct linesim_out *out, struct batch *b)
{
	struct linesim_publish msg = {
	        LINESIM_MSG_RESULT, b->line, b->station, b->buf, b->len, b->n};

	if (b->n == 0)
		return CT_OK;
	if (out->config.publish(out->config.ctx, &msg) != 0)
		return CT_ERR_MQTT;
	b->pending.messages = 1;
	b->pending.result_messages = 1;
	b->pending.bytes = b->len;
	add_counts(&out->counts, &b->pending);
	memset(&b->pending, 0, sizeof(b->pending));
	b->len = 0;
	b->n = 0;
	return CT_OK;
}

int linesim_out_result(void *ctx, const struct linesim_result *r)
{
	struct linesim_out *out = ctx;
	const Cellthread__V1__StationResult *msg = r->msg;
	struct batch *b;
	size_t size, need;
	unsigned index;
	struct linesim_counts *c;

	if (r->line >= out->n_lines || r->station >= out->n_stations)
		return CT_ERR_INVALID;
	index = r->line * out->n_stations + r->station;
	b = &out->batches[index];
	size = protobuf_c_message_get_packed_size(&msg->base);
	need = 1 + 10 + size;
	/* While stalled, only linesim_out_poll retries: each failed publish may have waited
	 * for the broker, and the producer should get back to its loop. */
	if (!out->stalled && b->n > 0 && b->len + need > out->config.max_bytes &&
	    publish_batch(out, b) != CT_OK)
		out->stalled = true;
	if (reserve(&b->buf, &b->cap, b->len + need) != CT_OK)
		return CT_ERR_NOMEM;
	if (b->n == 0) {
		b->due_ms = next_tick_ms(out, index, out->now_ms);
		b->line = r->line_name;
		b->station = r->station_id;
	}
	b->buf[b->len++] = 0x0a;
	b->len += put_varint(b->buf + b->len, size);
	b->len += protobuf_c_message_pack(&msg->base, b->buf + b->len);
	b->n++;

	c = &b->pending;
	c->results++;
	if (msg->result == CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_NOK)
		c->results_nok++;
	c->measurements += msg->n_measurements;
	c->parameters += msg->n_parameters;
	c->materials += msg->n_materials;
	c->children += msg->n_children;
	c->environment += msg->n_environment;
	c->notes += msg->n_notes;
	c->exceptions += msg->n_exceptions;
	c->curves += msg->n_curves;
	for (size_t i = 0; i < msg->n_curves; i++)
		c->curve_points += msg->curves[i]->n_x;
	for (size_t k = 0; k < LINESIM_UNIT_KINDS; k++)
		c->units[k] += r->new_units[k];

	if (!out->stalled && b->n >= out->config.max_batch && publish_batch(out, b) != CT_OK)
		out->stalled = true;
	return CT_OK;
}

int linesim_out_telemetry(void *ctx, const struct linesim_telemetry *t)
{
	struct linesim_out *out = ctx;
	struct linesim_publish msg = {LINESIM_MSG_TELEMETRY, t->line_name, t->asset, NULL, 0, 0};
	size_t size = protobuf_c_message_get_packed_size(&t->msg->base);
	unsigned long long samples = 0;

	if (out->stalled) {
		/* Telemetry is a sampled stream, not a record: drop it rather than wait. */
		out->counts.telemetry_dropped++;
		return CT_OK;
	}
	if (reserve(&out->tbuf, &out->tcap, size) != CT_OK)
		return CT_ERR_NOMEM;
	msg.len = protobuf_c_message_pack(&t->msg->base, out->tbuf);
	msg.payload = out->tbuf;
	for (size_t i = 0; i < t->msg->n_signals; i++)
		samples += t->msg->signals[i]->n_samples;
	if (out->config.publish(out->config.ctx, &msg) != 0) {
		out->counts.telemetry_dropped++;
		return CT_OK;
	}
	out->counts.messages++;
	out->counts.telemetry_messages++;
	out->counts.telemetry_signals += t->msg->n_signals;
	out->counts.telemetry_samples += samples;
	out->counts.bytes += msg.len;
	return CT_OK;
}

/* Publishes the queued states and acknowledgements in order, up to the first failure. */
static int publish_direct(struct linesim_out *out)
{
	while (out->direct_head < out->n_direct) {
		struct direct *d = &out->direct[out->direct_head];
		struct linesim_publish msg = {d->kind, d->line, d->station, d->payload, d->len, 0};

		if (out->config.publish(out->config.ctx, &msg) != 0)
			return CT_ERR_MQTT;
		out->counts.messages++;
		out->counts.bytes += d->len;
		if (d->kind == LINESIM_MSG_STATE)
			out->counts.states++;
		else
			out->counts.acks++;
		free(d->payload);
		out->direct_head++;
	}
	out->direct_head = out->n_direct = 0;
	return CT_OK;
}

static int queue_direct(struct linesim_out *out, enum linesim_msg_kind kind, const char *line,
                        const char *station, const ProtobufCMessage *msg)
{
	struct direct *d;

	if (out->n_direct == out->direct_cap) {
		size_t cap = out->direct_cap == 0 ? 64 : out->direct_cap * 2;
		struct direct *grown = realloc(out->direct, cap * sizeof(*grown));

		if (grown == NULL)
			return CT_ERR_NOMEM;
		out->direct = grown;
		out->direct_cap = cap;
	}
	d = &out->direct[out->n_direct];
	d->kind = kind;
	snprintf(d->line, sizeof(d->line), "%s", line);
	snprintf(d->station, sizeof(d->station), "%s", station);
	d->len = protobuf_c_message_get_packed_size(msg);
	d->payload = malloc(d->len > 0 ? d->len : 1);
	if (d->payload == NULL)
		return CT_ERR_NOMEM;
	protobuf_c_message_pack(msg, d->payload);
	out->n_direct++;
	/* While stalled only linesim_out_poll retries, as for batches. */
	if (!out->stalled && publish_direct(out) != CT_OK)
		out->stalled = true;
	return CT_OK;
}

int linesim_out_state(void *ctx, const struct linesim_state *state)
{
	return queue_direct(ctx, LINESIM_MSG_STATE, state->line_name, state->station_id,
	                    &state->msg->base);
}

int linesim_out_ack(struct linesim_out *out, const char *line, const char *station,
                    const Cellthread__V1__CommandAck *ack)
{
	return queue_direct(out, LINESIM_MSG_ACK, line, station, &ack->base);
}

struct linesim_sink linesim_out_sink(struct linesim_out *out)
{
	struct linesim_sink sink = {linesim_out_result, linesim_out_telemetry, out};

	return sink;
}

struct linesim_state_sink linesim_out_state_sink(struct linesim_out *out)
{
	struct linesim_state_sink sink = {linesim_out_state, out};

	return sink;
}

int linesim_out_poll(struct linesim_out *out, int64_t now_ms)
{
	int rc;

	out->now_ms = now_ms;
	rc = publish_direct(out);
	for (unsigned i = 0; rc == CT_OK && i < out->n_batches; i++) {
		struct batch *b = &out->batches[i];

		if (b->n == 0)
			continue;
		if (b->n < out->config.max_batch && b->len < out->config.max_bytes &&
		    now_ms < b->due_ms)
			continue;
		rc = publish_batch(out, b);
		if (rc != CT_OK)
			break; /* the broker is not taking any: try again at the next poll */
	}
	out->stalled = rc != CT_OK;
	return rc;
}

int linesim_out_flush(struct linesim_out *out)
{
	int rc = publish_direct(out);

	for (unsigned i = 0; i < out->n_batches && rc == CT_OK; i++)
		rc = publish_batch(out, &out->batches[i]);
	out->stalled = rc != CT_OK;
	return rc;
}

bool linesim_out_is_stalled(const struct linesim_out *out)
{
	return out->stalled;
}

int64_t linesim_out_next_due_ms(const struct linesim_out *out)
{
	int64_t due = INT64_MAX;

	for (unsigned i = 0; i < out->n_batches; i++) {
		const struct batch *b = &out->batches[i];

		if (b->n > 0 && b->due_ms < due)
			due = b->due_ms;
	}
	return due;
}

const struct linesim_counts *linesim_out_counts(const struct linesim_out *out)
{
	return &out->counts;
}

static int set_count(json_t *obj, const char *key, unsigned long long v)
{
	return json_object_set_new(obj, key, json_integer((json_int_t)v));
}

/* {"applied": {kind: n}, "ignored": {kind: n}, "ignored_by_reason": {outcome: n}}. */
static json_t *command_summary(const struct linesim_command_counts *c)
{
	json_t *root = json_object(), *applied = json_object(), *ignored = json_object(),
	       *reasons = json_object();
	int rc = 0;

	if (root == NULL || applied == NULL || ignored == NULL || reasons == NULL)
		rc = -1;
	for (int k = 0; rc == 0 && k < LINESIM_CMD_KINDS; k++) {
		rc |= set_count(applied, linesim_command_kind_name(k), c->applied[k]);
		rc |= set_count(ignored, linesim_command_kind_name(k), c->ignored[k]);
	}
	for (int o = LINESIM_CMD_APPLIED + 1; rc == 0 && o < LINESIM_CMD_OUTCOMES; o++)
		rc |= set_count(reasons, linesim_command_outcome_name(o), c->outcomes[o]);
	if (rc == 0)
		rc |= json_object_set(root, "applied", applied);
	if (rc == 0)
		rc |= json_object_set(root, "ignored", ignored);
	if (rc == 0)
		rc |= json_object_set(root, "ignored_by_reason", reasons);
	json_decref(applied);
	json_decref(ignored);
	json_decref(reasons);
	if (rc != 0) {
		json_decref(root);
		return NULL;
	}
	return root;
}

json_t *linesim_out_summary(const struct linesim_out *out, const struct linesim_model *model)
{
	const struct linesim_counts *c = &out->counts;
	const struct linesim_line_stats *first = linesim_model_line_stats(model, 0);
	json_t *root = json_object(), *units = json_object(), *lines = json_array();
	struct linesim_line_stats sum;
	json_t *commands;
	unsigned long long total = 0;
	int rc = 0;

	if (root == NULL || units == NULL || lines == NULL)
		goto fail;
	rc |= set_count(root, "messages", c->messages);
	rc |= set_count(root, "result_messages", c->result_messages);
	rc |= set_count(root, "telemetry_messages", c->telemetry_messages);
	rc |= set_count(root, "results", c->results);
	rc |= set_count(root, "results_nok", c->results_nok);
	rc |= set_count(root, "measurements", c->measurements);
	rc |= set_count(root, "parameters", c->parameters);
	rc |= set_count(root, "materials", c->materials);
	rc |= set_count(root, "children", c->children);
	rc |= set_count(root, "environment_readings", c->environment);
	rc |= set_count(root, "notes", c->notes);
	rc |= set_count(root, "exceptions", c->exceptions);
	rc |= set_count(root, "curves", c->curves);
	rc |= set_count(root, "curve_points", c->curve_points);
	rc |= set_count(root, "telemetry_signals", c->telemetry_signals);
	rc |= set_count(root, "telemetry_samples", c->telemetry_samples);
	rc |= set_count(root, "telemetry_dropped", c->telemetry_dropped);
	rc |= set_count(root, "bytes", c->bytes);
	rc |= set_count(root, "states", c->states);
	rc |= set_count(root, "acks", c->acks);
	for (size_t k = 1; k < LINESIM_UNIT_KINDS; k++) {
		rc |= set_count(units, ct_unit_kind_name((int)k), c->units[k]); /* k > 0: named */
		total += c->units[k];
	}
	rc |= json_object_set(root, "units_by_kind", units);
	rc |= set_count(root, "units", total);
	memset(&sum, 0, sizeof(sum));
	for (unsigned i = 0; linesim_model_line_stats(model, i) != NULL; i++) {
		const struct linesim_line_stats *s = linesim_model_line_stats(model, i);
		json_t *l = json_object();

		sum.cells_started += s->cells_started;
		sum.cells_finished += s->cells_finished;
		sum.cells_scrapped += s->cells_scrapped;
		sum.modules += s->modules;
		sum.packs += s->packs;

		if (l == NULL || json_array_append_new(lines, l) != 0)
			goto fail;
		rc |= json_object_set_new(l, "line", json_sprintf("L%u", i + 1));
		rc |= set_count(l, "cells_started", s->cells_started);
		rc |= set_count(l, "cells_finished", s->cells_finished);
		rc |= set_count(l, "cells_scrapped", s->cells_scrapped);
		rc |= set_count(l, "batches", s->batches);
		rc |= set_count(l, "coils", s->coils);
		rc |= set_count(l, "modules", s->modules);
		rc |= set_count(l, "packs", s->packs);
		rc |= set_count(l, "lots", s->lots);
		rc |= json_object_set_new(l, "first_cell", json_string(s->first_cell));
		rc |= json_object_set_new(l, "last_cell", json_string(s->last_cell));
		rc |= json_object_set_new(l, "last_pack", json_string(s->last_pack));
	}
	rc |= set_count(root, "cells_started", sum.cells_started);
	rc |= set_count(root, "cells_finished", sum.cells_finished);
	rc |= set_count(root, "cells_scrapped", sum.cells_scrapped);
	rc |= set_count(root, "modules", sum.modules);
	rc |= set_count(root, "packs", sum.packs);
	/* The top-level cell and pack IDs are line L1's; "lines" has every line's. */
	rc |= json_object_set_new(root, "first_cell", json_string(first->first_cell));
	rc |= json_object_set_new(root, "last_cell", json_string(first->last_cell));
	rc |= json_object_set_new(root, "last_pack", json_string(first->last_pack));
	rc |= json_object_set(root, "lines", lines);
	commands = command_summary(linesim_model_command_counts(model));
	if (commands == NULL || json_object_set_new(root, "commands", commands) != 0)
		goto fail;
	if (rc != 0)
		goto fail;
	json_decref(units);
	json_decref(lines);
	return root;
fail:
	json_decref(root);
	json_decref(units);
	json_decref(lines);
	return NULL;
}
