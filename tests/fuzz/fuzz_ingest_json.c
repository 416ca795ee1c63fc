/* Fuzz target: ingest's JSON form. Decode, validate, encode, decode again: the second
 * encoding must equal the first (the JSON form round-trips), and nothing may crash or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_json.h"
#include "ingest_validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Cellthread__V1__StationResultBatch *batch = NULL, *again = NULL;
	Cellthread__V1__Telemetry *telemetry = NULL;
	Cellthread__V1__Genealogy *genealogy = NULL;
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
	return 0;
}
