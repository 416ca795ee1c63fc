/* Fuzz target: the CLI's trace-response decoding (`cellthread trace --mqtt`): a payload on
 * its reply topic is unpacked as a TraceResponse, its request ID compared, and the response
 * printed as text or JSON (ct_trace_print, ct_trace_to_json) and freed as the CLI frees it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_pb.h"
#include "ct_trace.h"

#define FUZZ_MAX_INPUT (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ProtobufCMessage *msg = NULL;
	Cellthread__V1__TraceResponse *resp;
	char *text = NULL;
	size_t text_len = 0;
	uint8_t *payload;
	FILE *out;
	volatile int matches;

	if (size > FUZZ_MAX_INPUT || (payload = malloc(size + 1)) == NULL)
		return 0;
	memcpy(payload, data, size);
	if (ct_pb_unpack(&cellthread__v1__trace_response__descriptor, payload, size, 64u << 20,
	                 &msg) != CT_OK) {
		free(payload);
		return 0;
	}
	free(payload);
	resp = (Cellthread__V1__TraceResponse *)msg;
	/* The CLI's comparison with its request's event ID, as it does it. */
	matches = strcmp(resp->request_id, "0123456789abcdef0123456789abcdef") == 0;
	free(ct_trace_to_json(resp));
	out = open_memstream(&text, &text_len);
	if (out != NULL) {
		ct_trace_print(resp, out);
		fclose(out);
	}
	free(text);
	(void)matches;
	ct_trace_response_free(resp);
	return 0;
}
