/* Fuzz target: what traveler and spc-gate decode from the broker. The input is a topic line
 * and a payload; the topic picks the message as traveler's decode_record does (the trace RPC
 * topic: TraceRequest; ct/v1/sys/deadletter/...: DeadLetter; a plant topic: ct_msg_descriptor
 * of its kind: StationResultBatch, Genealogy, VerdictBatch, ...; spc-gate takes the result
 * and genealogy ones of these). A decoded message must pack, and its packing must unpack and
 * pack to the same bytes; results and genealogy encode to the JSON form, verdicts print, a
 * trace request's reply topic is checked as traveler checks it. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_json.h"
#include "ct_msg.h"
#include "ct_pb.h"
#include "ct_topic.h"
#include "ct_trace.h"
#include "fuzz_util.h"

#define FUZZ_MAX_INPUT (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const ProtobufCMessageDescriptor *descriptor_of(const char *topic)
{
	struct ct_topic t;

	if (strcmp(topic, CT_TOPIC_ROOT "/sys/rpc/traveler/trace") == 0)
		return &cellthread__v1__trace_request__descriptor;
	if (ct_topic_has_prefix(topic, CT_TOPIC_ROOT "/sys/deadletter"))
		return &cellthread__v1__dead_letter__descriptor;
	if (ct_topic_parse(topic, &t, NULL, 0) == CT_OK && !t.is_edge)
		return ct_msg_descriptor(t.kind);
	return NULL;
}

/* pack(unpack(pack(msg))) == pack(msg) */
static void check_round_trip(const ProtobufCMessage *msg)
{
	uint8_t *buf = NULL, *buf2 = NULL;
	size_t len = 0, len2 = 0;
	ProtobufCMessage *again = NULL;

	if (ct_pb_pack(msg, &buf, &len) != CT_OK)
		abort();
	if (ct_pb_unpack(msg->descriptor, buf, len, len + 1, &again) != CT_OK)
		abort();
	if (ct_pb_pack(again, &buf2, &len2) != CT_OK || len2 != len ||
	    (len > 0 && memcmp(buf, buf2, len) != 0))
		abort();
	ct_pb_free(again);
	free(buf);
	free(buf2);
}

static void use(const ProtobufCMessage *msg, FILE *sink)
{
	const ProtobufCMessageDescriptor *desc = msg->descriptor;

	if (desc == &cellthread__v1__station_result_batch__descriptor) {
		free(ct_json_encode_result_batch((const void *)msg));
	} else if (desc == &cellthread__v1__genealogy__descriptor) {
		free(ct_json_encode_genealogy((const void *)msg));
	} else if (desc == &cellthread__v1__telemetry__descriptor) {
		free(ct_json_encode_telemetry((const void *)msg));
	} else if (desc == &cellthread__v1__verdict_batch__descriptor) {
		const Cellthread__V1__VerdictBatch *b = (const void *)msg;
		for (size_t i = 0; i < b->n_verdicts; i++) {
			json_decref(ct_trace_verdict_to_json(b->verdicts[i]));
			if (sink != NULL)
				ct_trace_verdict_print(b->verdicts[i], "  ", sink);
		}
	} else if (desc == &cellthread__v1__trace_request__descriptor) {
		const Cellthread__V1__TraceRequest *req = (const void *)msg;
		(void)ct_topic_is_reply(req->reply_topic);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size, 0};
	const ProtobufCMessageDescriptor *desc;
	ProtobufCMessage *msg = NULL;
	char *topic, *text = NULL;
	size_t text_len = 0;
	uint8_t *payload;
	FILE *sink;

	if (size > FUZZ_MAX_INPUT || (topic = fuzz_take_line(&in)) == NULL)
		return 0;
	desc = descriptor_of(topic);
	free(topic);
	if (desc == NULL)
		return 0;
	/* The payload on the heap, exactly as long: ASan sees a read past its end. */
	payload = malloc(size - in.pos + 1);
	if (payload == NULL)
		return 0;
	memcpy(payload, data + in.pos, size - in.pos);
	if (ct_pb_unpack(desc, payload, size - in.pos, FUZZ_MAX_INPUT, &msg) == CT_OK) {
		check_round_trip(msg);
		sink = open_memstream(&text, &text_len);
		use(msg, sink);
		if (sink != NULL)
			fclose(sink);
		free(text);
		ct_pb_free(msg);
	}
	free(payload);
	return 0;
}
