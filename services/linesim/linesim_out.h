/* linesim_out: batches the model's station results per station and counts what is published.
 *
 * The broker's cost is per message, so results are grouped per (line, station) into one
 * StationResultBatch payload, published when it holds max_batch results, when adding a
 * result would take it past max_bytes, or at the next tick of its station gateway's timer
 * (checked by linesim_out_poll). Each station's timer ticks every batch_ms with a phase of its
 * own, spread over the period, since real gateways are not synchronised: a result waits at
 * most batch_ms, and the stations' batches do not all leave at once. A batch is kept as
 * protobuf wire bytes: each result is packed as it arrives and appended as field 1 of
 * StationResultBatch, which is byte for byte what packing the batch message would give, so nothing
 * of the model's scratch result is retained.
 *
 * Counts are added only when the publish callback accepts a payload, so the totals are
 * exactly what went out. A batch whose publish fails stays queued and the output is
 * "stalled" until a later poll publishes it; the caller should stop producing meanwhile.
 * Telemetry messages are published one by one as they come; one that fails, or comes while
 * the output is stalled, is dropped and counted as dropped. Not thread-safe; one caller. */
#ifndef LINESIM_OUT_H
#define LINESIM_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "linesim_model.h"

/* States and acknowledgements are published one by one as they come, in
 * order; one that fails stays queued, stalls the output, and goes out at the next poll. */
enum linesim_msg_kind {
	LINESIM_MSG_RESULT = 0,
	LINESIM_MSG_TELEMETRY,
	LINESIM_MSG_STATE, /* StationState */
	LINESIM_MSG_ACK,   /* CommandAck */
};

/* One payload to publish; valid only during the callback. */
struct linesim_publish {
	enum linesim_msg_kind kind;
	const char *line;       /* "L1" */
	const char *station;    /* topic station segment: the station ID, or the telemetry asset */
	const uint8_t *payload; /* packed StationResultBatch or Telemetry */
	size_t len;
	size_t n_results; /* results in a batch; 0 for telemetry */
};

struct linesim_out_config {
	size_t max_batch; /* results per batch, >= 1 */
	int64_t batch_ms; /* period of each station's publish timer, >= 0 (0: at once) */
	size_t max_bytes; /* payload size a batch stays under (one result may exceed it) */
	/* Returns 0 when the payload was handed to the broker, non-zero otherwise. */
	int (*publish)(void *ctx, const struct linesim_publish *msg);
	void *ctx;
};

/* Everything published so far. */
struct linesim_counts {
	unsigned long long messages, result_messages, telemetry_messages;
	unsigned long long results, results_nok;
	unsigned long long measurements, parameters, materials, children, environment;
	unsigned long long notes, exceptions, curves, curve_points;
	unsigned long long telemetry_signals, telemetry_samples, telemetry_dropped;
	unsigned long long units[LINESIM_UNIT_KINDS]; /* first named, by UnitKind */
	unsigned long long bytes;
	unsigned long long states, acks; /* StationState, CommandAck messages */
};

struct linesim_out;

/* Returns CT_OK, CT_ERR_INVALID (bad config) or CT_ERR_NOMEM; *ret set only on success. */
int linesim_out_new(const struct linesim_out_config *config, unsigned n_lines, unsigned n_stations,
                    struct linesim_out **ret);
/* Frees queued batches unpublished; NULL is a no-op. */
void linesim_out_free(struct linesim_out *out);

/* The model's sink callbacks; ctx is the struct linesim_out. They return CT_ERR_NOMEM when
 * a result cannot be queued, CT_OK otherwise (a failed publish only stalls). */
int linesim_out_result(void *ctx, const struct linesim_result *result);
int linesim_out_telemetry(void *ctx, const struct linesim_telemetry *telemetry);
int linesim_out_state(void *ctx, const struct linesim_state *state);
/* Queues and publishes a CommandAck of station (on line). Returns CT_OK, CT_ERR_NOMEM. */
int linesim_out_ack(struct linesim_out *out, const char *line, const char *station,
                    const Cellthread__V1__CommandAck *ack);
/* A sink that feeds this output, and one for states. */
struct linesim_sink linesim_out_sink(struct linesim_out *out);
struct linesim_state_sink linesim_out_state_sink(struct linesim_out *out);

/* Sets the clock (monotonic ms) that ages batches, and publishes every batch that is due
 * (and every full one left by a failed publish). Returns CT_OK, or CT_ERR_MQTT when some
 * publish failed (the batch stays queued). */
int linesim_out_poll(struct linesim_out *out, int64_t now_ms);
/* Publishes every queued batch. Returns CT_OK or CT_ERR_MQTT. */
int linesim_out_flush(struct linesim_out *out);
bool linesim_out_is_stalled(const struct linesim_out *out);
/* The clock value at which the oldest queued batch falls due; INT64_MAX when none. */
int64_t linesim_out_next_due_ms(const struct linesim_out *out);
const struct linesim_counts *linesim_out_counts(const struct linesim_out *out);

/* The run summary as a new JSON object: the counts above, units by kind, the model's
 * per-line cell, module and pack figures with the first and last finished cell and last
 * pack, and the station commands the model was handed ("commands": applied and ignored by
 * kind, ignored by reason). Returns NULL when out of memory. The caller owns it (json_decref). */
json_t *linesim_out_summary(const struct linesim_out *out, const struct linesim_model *model);

#endif
