/* test_linesim_commands: the real ct-linesim obeys station commands from the real broker.
 *
 * With sim.obey_commands on, commands published as spc-gate on
 * ct/v1/plant/{site}/{line}/{station}/command reach the simulator through its spool: a STOP
 * of the filler stops line L1 (logged) until a RESUME (an undo) starts it again; an ADJUST
 * of the cathode coater's slot_die_gap sent meanwhile shows as the setpoint of the next coil
 * coated (read off the edge topic as ingest would); a malformed payload, a command for a line
 * it does not simulate, an expired one and a redelivery are skipped, and the process keeps
 * running, finishes its sim.cells and counts every command in its summary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_time.h"
#include "ct_topic.h"
#include "harness.h"

#define SITE    "CMD"
#define CELLS   200 /* two cathode coils (176 cells each) */
#define KIND(k) CELLTHREAD__V1__COMMAND_KIND__COMMAND_KIND_##k

static void publish_command(struct harness *h, const char *event_id, const char *line,
                            const char *station, Cellthread__V1__CommandKind kind,
                            int64_t expires_at_us, const char *undoes)
{
	Cellthread__V1__StationCommand cmd = CELLTHREAD__V1__STATION_COMMAND__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	char topic[CT_TOPIC_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;

	header.event_id = (char *)event_id;
	header.producer = (char *)"spc-gate-it";
	header.produced_at_us = ct_now_us();
	header.schema_version = 1;
	cmd.header = &header;
	cmd.site = (char *)SITE;
	cmd.line = (char *)line;
	cmd.station = (char *)station;
	cmd.kind = kind;
	cmd.reason_code = (char *)"IT_REASON";
	cmd.reason_text = (char *)"integration test";
	cmd.expires_at_us = expires_at_us;
	cmd.undoes_event_id = (char *)(undoes ? undoes : "");
	if (kind == KIND(ADJUST)) {
		cmd.parameter = (char *)"slot_die_gap";
		cmd.target_value = 148.0;
		cmd.delta = -2.0;
		cmd.max_step = 2.0;
		cmd.unit = (char *)"um";
	}
	snprintf(topic, sizeof(topic), "ct/v1/plant/%s/%s/%s/command", SITE, line, station);
	assert_int_equal(ct_pb_pack(&cmd.base, &buf, &len), CT_OK);
	assert_int_equal(harness_publish(h, "spc-gate", topic, buf, len), CT_OK);
	free(buf);
}

static long long count_at(json_t *summary, const char *group, const char *key)
{
	json_t *v =
	        json_object_get(json_object_get(json_object_get(summary, "commands"), group), key);

	if (!json_is_integer(v))
		fail_msg("summary has no commands.%s.%s", group, key);
	return json_integer_value(v);
}

static void test_stop_adjust_resume(void **state)
{
	struct harness *h = *state;
	struct harness_proc *linesim = NULL;
	struct harness_sub *coater = NULL;
	char summary_path[HARNESS_PATH_MAX], e_summary[HARNESS_PATH_MAX + 32];
	const char *env[] = {"CT_SIM_SITE=" SITE,
	                     "CT_SIM_OBEY_COMMANDS=true",
	                     "CT_SIM_RATE=10",
	                     "CT_SIM_CELLS=200",
	                     "CT_SIM_TELEMETRY_HZ=0",
	                     "CT_SIM_BATCH_MS=50",
	                     e_summary,
	                     NULL};
	const char *topic;
	const uint8_t *payload;
	size_t len;
	double setpoints[8];
	size_t n_coils = 0;
	json_error_t jerr;
	json_t *summary;

	snprintf(summary_path, sizeof(summary_path), "%s/linesim-summary.json", h->dir);
	snprintf(e_summary, sizeof(e_summary), "CT_SIM_SUMMARY=%s", summary_path);
	assert_int_equal(harness_sub_new(h, "ingest",
	                                 "ct/v1/edge/" SITE "/L1/L1-COAT-C01/result/pb", &coater),
	                 CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_LINESIM, NULL, env, &linesim), CT_OK);
	assert_int_equal(harness_proc_wait_log(h, linesim, "ready", HARNESS_WAIT_MS), CT_OK);

	/* Skipped, each for its reason; the simulator runs on. */
	assert_int_equal(harness_publish(h, "spc-gate",
	                                 "ct/v1/plant/" SITE "/L1/L1-FILL-01/command",
	                                 "not protobuf \xff\xff", 15),
	                 CT_OK);
	publish_command(h, "it-other-line", "L9", "L9-FILL-01", KIND(STOP), 0, NULL);
	publish_command(h, "it-expired", "L1", "L1-FILL-01", KIND(STOP), ct_now_us() - 1000000,
	                NULL);
	/* The filler's plan, step 2, without expiry: only a RESUME lifts it. */
	publish_command(h, "it-stop", "L1", "L1-FILL-01", KIND(STOP), 0, NULL);
	assert_int_equal(harness_proc_wait_log(h, linesim, "stopped", HARNESS_WAIT_MS), CT_OK);
	publish_command(h, "it-stop", "L1", "L1-FILL-01", KIND(STOP), 0, NULL); /* redelivery */
	publish_command(h, "it-adjust", "L1", "L1-COAT-C01", KIND(ADJUST), 0, NULL);
	assert_true(harness_proc_is_alive(linesim));
	publish_command(h, "it-undo", "L1", "L1-FILL-01", KIND(RESUME), 0, "it-stop");
	assert_int_equal(harness_proc_wait_log(h, linesim, "back", HARNESS_WAIT_MS), CT_OK);
	assert_int_equal(harness_proc_wait_exit(h, linesim, HARNESS_WAIT_MS), CT_OK);

	summary = json_load_file(summary_path, 0, &jerr);
	if (summary == NULL)
		fail_msg("cannot read linesim's summary %s: %s", summary_path, jerr.text);
	assert_true(json_is_true(json_object_get(summary, "complete")));
	assert_true(json_is_true(json_object_get(summary, "obey_commands")));
	assert_int_equal(json_integer_value(json_object_get(summary, "cells_finished")), CELLS);
	assert_int_equal(count_at(summary, "applied", "stop"), 1);
	assert_int_equal(count_at(summary, "applied", "resume"), 1);
	assert_int_equal(count_at(summary, "applied", "adjust"), 1);
	assert_int_equal(count_at(summary, "ignored", "stop"), 3);
	assert_int_equal(count_at(summary, "ignored", "unspecified"), 1);
	assert_int_equal(count_at(summary, "ignored_by_reason", "invalid"), 1);
	assert_int_equal(count_at(summary, "ignored_by_reason", "not_simulated"), 1);
	assert_int_equal(count_at(summary, "ignored_by_reason", "expired"), 1);
	assert_int_equal(count_at(summary, "ignored_by_reason", "duplicate"), 1);
	json_decref(summary);

	/* Two coils: the first coated at the nominal 150 um, the second after the ADJUST. */
	while (n_coils < 2 &&
	       harness_sub_next(coater, HARNESS_WAIT_MS, &topic, &payload, &len) == CT_OK) {
		Cellthread__V1__StationResultBatch *b =
		        cellthread__v1__station_result_batch__unpack(NULL, len, payload);

		assert_non_null(b);
		for (size_t i = 0; i < b->n_results; i++)
			for (size_t p = 0; p < b->results[i]->n_parameters; p++)
				if (strcmp(b->results[i]->parameters[p]->name, "slot_die_gap") ==
				            0 &&
				    n_coils < sizeof(setpoints) / sizeof(setpoints[0]))
					setpoints[n_coils++] =
					        b->results[i]->parameters[p]->setpoint;
		cellthread__v1__station_result_batch__free_unpacked(b, NULL);
	}
	assert_int_equal(n_coils, 2);
	assert_true(setpoints[0] == 150.0);
	assert_true(setpoints[1] == 148.0);
	harness_sub_free(coater);
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("linesim-commands", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_stop_adjust_resume, harness_test_setup,
	                                        harness_test_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
