/* test_alert_team: the acceptance for people, with nothing but the shipped
 * configuration (deploy/config/alert-routes.conf, the demo plant's teams) and the tools a
 * person has.
 *
 * A real `mosquitto_sub` with the cli credential follows ct/v1/alert/team/production, as the
 * README says. The whole line runs (traveler, spc-gate with the starter configuration,
 * ingest, ct-alert-router, ct-linesim with the nozzle fault): the subscriber sees spc-gate's
 * signal on the fill-nozzle chart of L1-FILL-01 as JSON. `cellthread alerts list` shows it and
 * `cellthread alerts ack` acknowledges it (the state in PostgreSQL and the ACK on the team
 * topic follow). Then ingest is killed: the subscriber sees SERVICE_OFFLINE for ingest/1,
 * and after ingest is back the alert clears. A webhook subscription is added, listed and
 * removed with `cellthread alerts subs`, through the router, and kept in PostgreSQL.
 *
 * Waits on conditions with deadlines (the subscriber's output, database counts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_it.h"
#include "ct_error.h"
#include "ct_time.h"
#include "harness.h"

#define WAIT HARNESS_WAIT_MS

#ifndef MOSQUITTO_SUB
#define MOSQUITTO_SUB "/usr/bin/mosquitto_sub"
#endif

/* The first line of path's output (from offset 0) whose JSON has every key = value of want
 * (n pairs), copied into *ret (json_decref it); waits up to timeout_ms for it to appear. */
static json_t *wait_line(const char *path, const char *const want[][2], size_t n, int timeout_ms)
{
	int64_t deadline = ct_mono_ms() + timeout_ms;

	do {
		char *text = NULL, *line, *next;
		size_t len = 0;
		if (harness_read_file(path, &text, &len) == CT_OK) {
			for (line = text; line != NULL && *line != '\0'; line = next) {
				json_error_t jerr;
				json_t *o;
				bool all = true;
				next = strchr(line, '\n');
				if (next != NULL)
					*next++ = '\0';
				o = json_loads(line, 0, &jerr);
				if (o == NULL)
					continue;
				for (size_t i = 0; i < n && all; i++) {
					const char *v =
					        json_string_value(json_object_get(o, want[i][0]));
					all = v != NULL && strcmp(v, want[i][1]) == 0;
				}
				if (all) {
					free(text);
					return o;
				}
				json_decref(o);
			}
			free(text);
		}
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL); /* the file grows as mosquitto_sub prints: poll it */
	} while (ct_mono_ms() < deadline);
	return NULL;
}

static void test_team_follows_with_mosquitto_sub(void **state)
{
	struct harness *h = *state;
	struct harness_proc *traveler, *gate, *ingest, *router, *linesim, *sub;
	char password[256], port[16], out_path[HARNESS_PATH_MAX];
	const char *routes_env[] = {
	        alert_it_routes_env(CT_SOURCE_DIR "/deploy/config/alert-routes.conf"), NULL};
	const char *sim_env[] = {"CT_SIM_SITE=TEAM",         "CT_SIM_LINES=1",
	                         "CT_SIM_CELLS=600",         "CT_SIM_RATE=150",
	                         "CT_SIM_SEED=101",          "CT_SIM_FAULTS=nozzle",
	                         "CT_SIM_UNIT_PREFIX=TEAM-", NULL};
	char *out = NULL;
	json_t *signal, *offline;

	assert_int_equal(harness_load_starter_config(h), CT_OK);
	assert_int_equal(harness_mqtt_password(h, "cli", password, sizeof(password)), CT_OK);
	snprintf(port, sizeof(port), "%d", h->mqtt_port);
	/* What the README tells a person to run (the password from its file there). */
	const char *sub_argv[] = {MOSQUITTO_SUB,
	                          "-h",
	                          "127.0.0.1",
	                          "-p",
	                          port,
	                          "-u",
	                          "cli",
	                          "-P",
	                          password,
	                          "-i",
	                          "cli-production-screen",
	                          "-t",
	                          "ct/v1/alert/team/production",
	                          NULL};
	assert_int_equal(harness_spawn(h, "mosquitto_sub", MOSQUITTO_SUB, sub_argv, NULL, &sub),
	                 CT_OK);
	snprintf(out_path, sizeof(out_path), "%s", sub->log_path);

	assert_int_equal(harness_service_start(h, HARNESS_ALERTROUTER, NULL, routes_env, &router),
	                 CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_SPCGATE, NULL, NULL, &gate), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_LINESIM, NULL, sim_env, &linesim), CT_OK);

	/* The nozzle fault's signal on the fill-mass chart reaches the production team. */
	const char *const want_signal[][2] = {{"source", "spc-gate"},
	                                      {"object_id", "TEAM/L1/L1-FILL-01/fill-nozzle"},
	                                      {"station", "L1-FILL-01"},
	                                      {"action", "RAISE"},
	                                      {"team", "production"}};
	signal = wait_line(out_path, want_signal, 5, WAIT);
	if (signal == NULL) {
		harness_print_logs(h);
		fail_msg("no nozzle signal on ct/v1/alert/team/production");
	}
	const char *alert_id = json_string_value(json_object_get(signal, "alert_id"));
	assert_non_null(alert_id);
	printf("production saw %s %s: %s\n", json_string_value(json_object_get(signal, "code")),
	       alert_id, json_string_value(json_object_get(signal, "text")));

	/* The CLI lists it, and acknowledges it by the router. */
	const char *list[] = {"alerts", "list", "--site", "TEAM", "--json", NULL};
	assert_int_equal(harness_cli(h, "cli", list, &out), 0);
	assert_non_null(strstr(out, alert_id));
	free(out);
	const char *ack[] = {"alerts", "ack", alert_id, "--reason", "nozzle recalibration ordered",
	                     "--as",   "Ana", NULL};
	assert_int_equal(harness_cli(h, "cli", ack, &out), 0);
	free(out);
	alert_it_wait_count(h,
	                    "SELECT count(*) FROM alert_transition WHERE"
	                    " alert_id = $1 AND action = 'ACK' AND actor = 'Ana'"
	                    " AND credential = 'cli'",
	                    1, (const char *[]){alert_id}, 1);
	const char *const want_ack[][2] = {{"alert_id", alert_id}, {"action", "ACK"}};
	json_t *acked = wait_line(out_path, want_ack, 2, WAIT);
	assert_non_null(acked);
	json_decref(acked);

	/* A service going offline: its last will, to the same team. */
	assert_int_equal(harness_proc_kill(h, ingest), CT_OK);
	const char *const want_offline[][2] = {
	        {"code", "SERVICE_OFFLINE"}, {"object_id", "ingest/1"}, {"action", "RAISE"}};
	offline = wait_line(out_path, want_offline, 3, WAIT);
	if (offline == NULL) {
		harness_print_logs(h);
		fail_msg("no SERVICE_OFFLINE of ingest/1 on ct/v1/alert/team/production");
	}
	const char *offline_id = json_string_value(json_object_get(offline, "alert_id"));
	assert_int_equal(harness_proc_restart(h, ingest, true), CT_OK);
	const char *const want_back[][2] = {{"alert_id", offline_id}, {"action", "CLEAR"}};
	json_t *back = wait_line(out_path, want_back, 2, WAIT);
	assert_non_null(back);
	json_decref(back);

	/* Subscriptions at run time: added (kept in PostgreSQL), listed, removed. */
	const char *add[] = {"alerts",
	                     "subs",
	                     "add",
	                     "id=night-hook",
	                     "team=quality",
	                     "severity=MEDIUM",
	                     "codes=SPC_*",
	                     "channel=webhook",
	                     "target=https://hooks.example.com/q",
	                     NULL};
	assert_int_equal(harness_cli(h, "cli", add, &out), 0);
	assert_non_null(strstr(out, "id=night-hook"));
	free(out);
	const char *subs[] = {"alerts", "subs", "list", NULL};
	assert_int_equal(harness_cli(h, "cli", subs, &out), 0);
	assert_non_null(strstr(out, "id=night-hook"));
	assert_non_null(strstr(out, "id=production"));
	free(out);
	alert_it_wait_count(h,
	                    "SELECT count(*) FROM alert_subscription WHERE"
	                    " subscription_id = 'night-hook' AND channel ="
	                    " 'webhook' AND removed_at IS NULL",
	                    0, NULL, 1);
	const char *rm[] = {"alerts", "subs", "remove", "night-hook", NULL};
	assert_int_equal(harness_cli(h, "cli", rm, &out), 0);
	free(out);
	alert_it_wait_count(h,
	                    "SELECT count(*) FROM alert_subscription WHERE"
	                    " subscription_id = 'night-hook' AND removed_at"
	                    " IS NOT NULL",
	                    0, NULL, 1);

	json_decref(offline);
	json_decref(signal);
	assert_true(harness_proc_is_alive(router));
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("alert-team", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_team_follows_with_mosquitto_sub,
	                                        harness_test_setup, harness_test_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
