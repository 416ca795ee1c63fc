/* ingest_validate: the rules a decoded station message must follow before ingest stores it.
 *
 * Each check walks one decoded message (from protobuf_c unpack or from ct_json) and either
 * accepts it, normalising it in place, or refuses it with a dead-letter reason and the path of
 * the first offending field ("results[2].measurements[5].value: not finite"). Checks run to
 * completion before anything is changed, so a refused message is left exactly as it came;
 * an accepted one has schema_version 1, an event_id (derived when the sender left it empty)
 * and no zero item times. Normalisation allocates with malloc and frees replaced strings
 * unless they are protobuf_c_empty_string, so protobuf_c_message_free_unpacked(msg, NULL)
 * stays the one way to free a message. Limits are configuration, passed in by the caller.
 *
 * Derived event IDs: "d-" followed by the first 32 lower-case hex digits of the SHA-256 of
 * (ct_id_derive, the one derivation rule)
 *   result:    "result|{site}|{line}|{station}|{unit_id}|{started_at_us}"
 *   telemetry: "telemetry|{site}|{line}|{asset}|{first_at_us}|{signal name}|{signal name}..."
 *              (first_at_us: the earliest sample time of the message, signals in message order)
 *   genealogy: "genealogy|{parent_unit_id}|{assembled_at_us}"
 *   ack:       "ack|{site}|{line}|{station}|{command_event_id}"
 * with times in decimal, so a gateway that resends the same visit is stored once. A station
 * state has no derived ID: its sender must name it (two states of one station at the same
 * instant are legitimate and only the sender can tell them apart). */
#ifndef INGEST_VALIDATE_H
#define INGEST_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "ct_pb.h"
#include "ct_plant.h"
#include "ct_topic.h"

/* Length of a derived event ID including its NUL: "d-" + 32 hex digits + NUL. */
#define INGEST_DERIVED_ID_LEN 35

/* What ingest accepts; every field is configuration (ingest_limits_init sets the defaults). */
struct ingest_limits {
	int64_t max_future_us;   /* times later than now + this are refused (clock skew); 5 min */
	int64_t max_past_us;     /* times earlier than now - this are refused; 30 days */
	size_t max_results;      /* results per batch; 1000 */
	size_t max_items;        /* entries per repeated field of one message; 4096 */
	size_t max_text;         /* bytes of note and exception text; 1024 */
	size_t max_curve_points; /* points per curve; 4096 */
	size_t max_samples;      /* samples per telemetry signal; 10000 */
	/* Stations and physical ranges (ct_plant.h); NULL: any station, and values within
	 * +-1e9. Borrowed: the caller keeps it alive while checking. */
	const struct ct_plant *plant;
};

/* Fills limits with the defaults above. Can't fail. */
void ingest_limits_init(struct ingest_limits *limits);

/* Checks a station result batch against the rules and, when it passes, normalises it in place.
 *
 * topic is the parsed edge topic the batch arrived on: every result's site, line and station
 * must equal the topic's. topic may be NULL (replays, tools) to skip that comparison.
 * now_us is the receive time the clock bounds are measured from.
 *
 * Returns CT_OK after normalising (schema_version 0 -> 1, empty event_id -> derived ID,
 * zero measured_at_us / at_us of items -> the visit's ended_at_us).
 * Returns CT_ERR_INVALID with *ret_reason set to CELLTHREAD__V1__DEAD_LETTER_REASON__
 * DEAD_LETTER_REASON_CLOCK (a time outside the clock bounds), ..._UNKNOWN_STATION (site / line /
 * station not in limits->plant), ..._IMPLAUSIBLE (a measurement, parameter, environment or
 * telemetry value outside its physical range) or ..._INVALID (anything else) and
 * the field path and reason in err; the batch is unchanged.
 * Returns CT_ERR_NOMEM when a derived ID could not be allocated; the batch is unchanged and
 * *ret_reason untouched. *ret_reason is untouched on success. The caller keeps ownership of
 * batch; replaced strings are freed here. */
int ingest_check_result_batch(Cellthread__V1__StationResultBatch *batch,
                              const struct ct_topic *topic, int64_t now_us,
                              const struct ingest_limits *limits, int *ret_reason, char *err,
                              size_t err_len);

/* Checks and normalises one result on its own, as ingest_check_result_batch does for each
 * result of a batch, for callers that accept the good results of a batch and dead-letter the
 * bad ones one by one. index is the result's place in its batch and only names it in reasons
 * ("results[index].unit_id: ..."). Duplicates across results are not checked here (the
 * caller's duplicate filter sees them). Contract otherwise as ingest_check_result_batch. */
int ingest_check_result(Cellthread__V1__StationResult *result, size_t index,
                        const struct ct_topic *topic, int64_t now_us,
                        const struct ingest_limits *limits, int *ret_reason, char *err,
                        size_t err_len);

/* Checks and normalises one telemetry message, as ingest_check_result_batch does.
 * The topic's site and line must match, and the topic's station must equal the asset.
 * Every signal needs at least one sample; samples must be in time order. */
int ingest_check_telemetry(Cellthread__V1__Telemetry *msg, const struct ct_topic *topic,
                           int64_t now_us, const struct ingest_limits *limits, int *ret_reason,
                           char *err, size_t err_len);

/* Checks and normalises one genealogy record, as ingest_check_result_batch does.
 * At least one child is required; no child may be the parent itself. */
int ingest_check_genealogy(Cellthread__V1__Genealogy *msg, const struct ct_topic *topic,
                           int64_t now_us, const struct ingest_limits *limits, int *ret_reason,
                           char *err, size_t err_len);

/* Checks one station state (oee.proto), as ingest_check_result_batch does. The topic's site,
 * line and station must match; header.event_id is required (no derived ID); state is 1..6
 * (UNKNOWN_STOP, 7, is refused: only ct-oee derives it); reason_code is required for
 * PLANNED_DOWNTIME and UNPLANNED_DOWNTIME and, when given, 1-64 characters from
 * [A-Za-z0-9._-]; since_us > 0 and not later than now + max_future_us (no lower bound: a
 * station may have been in its state for longer than max_past_us); rate_per_hour finite and
 * not negative; recipe_version not negative. */
int ingest_check_state(Cellthread__V1__StationState *msg, const struct ct_topic *topic,
                       int64_t now_us, const struct ingest_limits *limits, int *ret_reason,
                       char *err, size_t err_len);

/* Checks and normalises one command acknowledgement (oee.proto), as ingest_check_result_batch
 * does. The topic's site, line and station must match; command_event_id is required (an ID);
 * status is 1..3; acked_at_us within the clock bounds; an empty header.event_id gets the
 * derived one above. */
int ingest_check_ack(Cellthread__V1__CommandAck *msg, const struct ct_topic *topic, int64_t now_us,
                     const struct ingest_limits *limits, int *ret_reason, char *err,
                     size_t err_len);

#endif
