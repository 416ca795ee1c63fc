/* Fuzz target: linesim's station-command decoding (linesim_model_command_payload). The input
 * is a sequence of commands (fuzz_util.h framing: a topic line, a 2-byte length, a
 * StationCommand payload) handed to one model a second apart, each followed by a tick of
 * every line, so what a command sets (setpoints, SLOW, STOP) is used at once. Every command
 * gets an outcome and a report line; a line's rate stays within [0, 1]. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "fuzz_util.h"
#include "linesim_model.h"

#define FUZZ_MAX_INPUT (1u << 16)
#define MAX_COMMANDS   64
#define T0_US          1795326890000000LL
#define LINES          2

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_result(void *ctx, const struct linesim_result *result)
{
	(void)ctx;
	return result->msg == NULL ? CT_ERR_INVALID : CT_OK;
}

static int on_telemetry(void *ctx, const struct linesim_telemetry *telemetry)
{
	(void)ctx;
	return telemetry->msg == NULL ? CT_ERR_INVALID : CT_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct linesim_model_config cfg = {
	        .site = "S1",
	        .n_lines = LINES,
	        .seed = 7,
	        .cells_per_module = 2,
	        .modules_per_pack = 2,
	        .telemetry_hz = 0,
	};
	struct linesim_sink sink = {on_result, on_telemetry, NULL};
	struct fuzz_input in = {data, size, 0};
	struct linesim_model *model = NULL;
	unsigned long long total = 0;
	char err[128];

	if (size > FUZZ_MAX_INPUT || linesim_model_new(&cfg, &model, err, sizeof(err)) != CT_OK)
		return 0;
	for (int m = 0; m < MAX_COMMANDS && in.pos < in.size; m++) {
		struct linesim_command_report report;
		enum linesim_cmd_outcome outcome;
		int64_t now_us = T0_US + (int64_t)m * 1000000;
		char *topic = fuzz_take_line(&in);
		size_t len = 0;
		uint8_t *payload = topic != NULL ? fuzz_take_chunk(&in, &len) : NULL;

		if (payload == NULL) {
			free(topic);
			break;
		}
		memset(&report, 0xa5, sizeof(report));
		outcome =
		        linesim_model_command_payload(model, topic, payload, len, now_us, &report);
		if (outcome >= LINESIM_CMD_OUTCOMES || report.outcome != outcome ||
		    memchr(report.text, '\0', sizeof(report.text)) == NULL ||
		    linesim_command_outcome_name(outcome) == NULL)
			abort();
		total++;
		for (unsigned line = 0; line < LINES; line++) {
			double rate = linesim_model_line_rate(model, line);
			bool started;
			if (!(rate >= 0 && rate <= 1))
				abort();
			if (linesim_model_tick(model, line, now_us + 1000, &sink, &started) !=
			    CT_OK)
				abort();
		}
		free(payload);
		free(topic);
	}
	{
		const struct linesim_command_counts *c = linesim_model_command_counts(model);
		unsigned long long counted = 0;
		for (int i = 0; i < LINESIM_CMD_OUTCOMES; i++)
			counted += c->outcomes[i];
		if (counted != total)
			abort();
	}
	linesim_model_free(model);
	return 0;
}
