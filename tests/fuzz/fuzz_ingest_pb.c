/* Fuzz target: protobuf input as ingest receives it. Unpack as each edge message, validate,
 * and encode to the JSON form (states and acks have none: validated only); nothing may crash
 * or leak whatever the bytes. */
#include <stdint.h>
#include <stdlib.h>

#include "ct_error.h"
#include "ct_pb.h"
#include "ct_json.h"
#include "ingest_validate.h"

#define FUZZ_NOW_US 1795326890000000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ct_topic topic = {.is_edge = true, .site = "S", .line = "L", .station = "X"};
	ProtobufCMessage *msg = NULL;
	struct ingest_limits limits;
	char err[256];
	int reason;

	ingest_limits_init(&limits);
	if (ct_pb_unpack(&cellthread__v1__station_result_batch__descriptor, data, size, 1 << 20,
	                 &msg) == CT_OK) {
		Cellthread__V1__StationResultBatch *batch = (void *)msg;
		free(ct_json_encode_result_batch(batch));
		for (size_t i = 0; i < batch->n_results; i++)
			ingest_check_result(batch->results[i], i, size & 1 ? &topic : NULL,
			                    FUZZ_NOW_US, &limits, &reason, err, sizeof(err));
		ct_pb_free(msg);
	}
	if (ct_pb_unpack(&cellthread__v1__telemetry__descriptor, data, size, 1 << 20, &msg) ==
	    CT_OK) {
		free(ct_json_encode_telemetry((void *)msg));
		ingest_check_telemetry((void *)msg, NULL, FUZZ_NOW_US, &limits, &reason, err,
		                       sizeof(err));
		ct_pb_free(msg);
	}
	if (ct_pb_unpack(&cellthread__v1__genealogy__descriptor, data, size, 1 << 20, &msg) ==
	    CT_OK) {
		free(ct_json_encode_genealogy((void *)msg));
		ingest_check_genealogy((void *)msg, NULL, FUZZ_NOW_US, &limits, &reason, err,
		                       sizeof(err));
		ct_pb_free(msg);
	}
	if (ct_pb_unpack(&cellthread__v1__station_state__descriptor, data, size, 1 << 20, &msg) ==
	    CT_OK) {
		ingest_check_state((void *)msg, size & 1 ? &topic : NULL, FUZZ_NOW_US, &limits,
		                   &reason, err, sizeof(err));
		ct_pb_free(msg);
	}
	if (ct_pb_unpack(&cellthread__v1__command_ack__descriptor, data, size, 1 << 20, &msg) ==
	    CT_OK) {
		ingest_check_ack((void *)msg, size & 1 ? &topic : NULL, FUZZ_NOW_US, &limits,
		                 &reason, err, sizeof(err));
		ct_pb_free(msg);
	}
	return 0;
}
