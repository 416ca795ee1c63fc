/* Fuzz target: ingest's JSON form (result, telemetry, genealogy, state, ack).
 * Decode, validate, encode, decode again: the second encoding must equal the
 * first for results, states and acks (the JSON form round-trips), and nothing
 * may crash or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_json.h"
#include "ingest_validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Encodes msg, decodes the text as the same kind and encodes again: both texts
 * must be equal (the JSON form round-trips). encode may refuse (NaN, bad
 * UTF-8); decoding its own output may not fail. */
static void round_trip(const ProtobufCMessage *msg, char *(*encode)(const ProtobufCMessage *),
                       int (*decode)(const char *, size_t, ProtobufCMessage **))
{
	ProtobufCMessage *again = NULL;
	char *text = encode(msg), *text2;

	if (text == NULL)
		return;
	if (decode(text, strlen(text), &again) != CT_OK)
		abort();
	text2 = encode(again);
	if (text2 == NULL || strcmp(text, text2) != 0)
		abort();
	free(text2);
	free(text);
	protobuf_c_message_free_unpacked(again, NULL);
}

static char *encode_state(const ProtobufCMessage *m)
{
	return ct_json_encode_state((const Cellthread__V1__StationState *)m);
}

static int decode_state(const char *buf, size_t len, ProtobufCMessage **ret)
{
	char err[256];

	return ct_json_state(buf, len, (Cellthread__V1__StationState **)ret, err, sizeof(err));
}

static char *encode_ack(const ProtobufCMessage *m)
{
	return ct_json_encode_ack((const Cellthread__V1__CommandAck *)m);
}

static int decode_ack(const char *buf, size_t len, ProtobufCMessage **ret)
{
	char err[256];

	return ct_json_ack(buf, len, (Cellthread__V1__CommandAck **)ret, err, sizeof(err));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Cellthread__V1__StationResultBatch *batch = NULL, *again = NULL;
	Cellthread__V1__Telemetry *telemetry = NULL;
	Cellthread__V1__Genealogy *genealogy = NULL;
	Cellthread__V1__StationState *st = NULL;
	Cellthread__V1__CommandAck *ack = NULL;
	struct ingest_limits limits;
	char err[256];
	int reason;

	ingest_limits_init(&limits);
	if (ct_json_result_batch((const char *)data, size, &batch, err, sizeof(err)) == CT_OK) {
		char *text = ct_json_encode_result_batch(batch);
		if (text != NULL) {
			char *text2;
			if (ct_json_result_batch(text, strlen(text), &again, err, sizeof(err)) !=
			    CT_OK)
				abort();
			text2 = ct_json_encode_result_batch(again);
			if (text2 == NULL || strcmp(text, text2) != 0)
				abort();
			free(text2);
			protobuf_c_message_free_unpacked(&again->base, NULL);
			free(text);
		}
		if (batch->n_results > 0 && batch->results[0]->header != NULL)
			ingest_check_result_batch(batch, NULL,
			                          batch->results[0]->header->produced_at_us,
			                          &limits, &reason, err, sizeof(err));
		protobuf_c_message_free_unpacked(&batch->base, NULL);
	}
	if (ct_json_telemetry((const char *)data, size, &telemetry, err, sizeof(err)) == CT_OK) {
		free(ct_json_encode_telemetry(telemetry));
		if (telemetry->header != NULL)
			ingest_check_telemetry(telemetry, NULL, telemetry->header->produced_at_us,
			                       &limits, &reason, err, sizeof(err));
		protobuf_c_message_free_unpacked(&telemetry->base, NULL);
	}
	if (ct_json_genealogy((const char *)data, size, &genealogy, err, sizeof(err)) == CT_OK) {
		free(ct_json_encode_genealogy(genealogy));
		if (genealogy->header != NULL)
			ingest_check_genealogy(genealogy, NULL, genealogy->header->produced_at_us,
			                       &limits, &reason, err, sizeof(err));
		protobuf_c_message_free_unpacked(&genealogy->base, NULL);
	}
	if (ct_json_state((const char *)data, size, &st, err, sizeof(err)) == CT_OK) {
		round_trip(&st->base, encode_state, decode_state);
		if (st->header != NULL)
			ingest_check_state(st, NULL, st->header->produced_at_us, &limits, &reason,
			                   err, sizeof(err));
		protobuf_c_message_free_unpacked(&st->base, NULL);
	}
	if (ct_json_ack((const char *)data, size, &ack, err, sizeof(err)) == CT_OK) {
		round_trip(&ack->base, encode_ack, decode_ack);
		if (ack->header != NULL)
			ingest_check_ack(ack, NULL, ack->header->produced_at_us, &limits, &reason,
			                 err, sizeof(err));
		protobuf_c_message_free_unpacked(&ack->base, NULL);
	}
	return 0;
}
