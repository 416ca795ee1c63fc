/* ct_json: the JSON form of station messages, for PLC gateways and Node-RED flows.
 *
 * The JSON form mirrors the protobuf messages (services/ingest/JSON.md is its documentation):
 * keys are the proto field names, times are integer microseconds under their *_us name or
 * RFC 3339 strings under the name without "_us", enums are lower-case short names, the header
 * may be flattened into the top-level object, and a result document is either one
 * StationResult or {"results": [...]}. Decoding is strict: unknown keys, wrong types, numbers
 * out of range and unknown enum names are errors naming the key path, so a typo in a flow
 * never drops data silently. Decoded messages are heap protobuf-c messages with the same
 * ownership as protobuf_c unpack's, freed with protobuf_c_message_free_unpacked(&m->base, NULL).
 * Decoding does not apply the ingest rules; ingest_validate does that for both encodings. */
#ifndef CT_JSON_H
#define CT_JSON_H

#include <stddef.h>

#include "ct_msg.h"
#include "ct_pb.h"

/* Decodes buf (len bytes of UTF-8 JSON, not necessarily NUL-terminated) into a new batch.
 * Returns CT_OK with *ret set (the caller frees it with protobuf_c_message_free_unpacked),
 * CT_ERR_DECODE with the reason in err (syntax errors carry jansson's line and column, other
 * errors the key path, e.g. "results[1].measurements[0].value: expected a number, got a
 * string"), or CT_ERR_NOMEM. *ret is untouched on failure. A single result object decodes
 * into a batch of one; its error paths are relative to that object. */
int ct_json_result_batch(const char *buf, size_t len, Cellthread__V1__StationResultBatch **ret,
                         char *err, size_t err_len);

/* Decodes one Telemetry object; contract as ct_json_result_batch. */
int ct_json_telemetry(const char *buf, size_t len, Cellthread__V1__Telemetry **ret, char *err,
                      size_t err_len);

/* Decodes one Genealogy object; contract as ct_json_result_batch. */
int ct_json_genealogy(const char *buf, size_t len, Cellthread__V1__Genealogy **ret, char *err,
                      size_t err_len);

/* Decodes one StationState object (oee.proto; "state" a StationStateKind short name such as
 * "unplanned_downtime", "since" or "since_us"); contract as ct_json_result_batch. */
int ct_json_state(const char *buf, size_t len, Cellthread__V1__StationState **ret, char *err,
                  size_t err_len);

/* Decodes one CommandAck object ("status" a CommandAckStatus short name such as "accepted",
 * "acked_at" or "acked_at_us"); contract as ct_json_result_batch. */
int ct_json_ack(const char *buf, size_t len, Cellthread__V1__CommandAck **ret, char *err,
                size_t err_len);

/* Encodes a batch as the JSON form: {"results":[...]}, the header as an object, times as
 * integer *_us fields, enums as short names; empty strings, unspecified enums, absent
 * setpoints and empty repeated fields are left out. Returns a malloc'ed NUL-terminated
 * string the caller frees with free(), or NULL when allocation fails, a double is not finite
 * or a string is not valid UTF-8 (JSON can carry neither). */
char *ct_json_encode_result_batch(const Cellthread__V1__StationResultBatch *batch);

/* Encodes one Telemetry message; contract as ct_json_encode_result_batch. */
char *ct_json_encode_telemetry(const Cellthread__V1__Telemetry *msg);

/* Encodes one Genealogy message; contract as ct_json_encode_result_batch. */
char *ct_json_encode_genealogy(const Cellthread__V1__Genealogy *msg);

/* Encodes one StationState message; contract as ct_json_encode_result_batch. */
char *ct_json_encode_state(const Cellthread__V1__StationState *msg);

/* Encodes one CommandAck message; contract as ct_json_encode_result_batch. */
char *ct_json_encode_ack(const Cellthread__V1__CommandAck *msg);

#endif
