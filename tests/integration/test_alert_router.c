/* test_alert_router: ct-alert-router on the real broker and database.
 *
 * - lifecycle: every ISA-18.2 transition by messages: a source raises (ACTIVE_UNACK, one
 *   delivery on the team topic), repeats (count, no delivery), a person acknowledges
 *   (ACTIVE_ACK; a second acknowledgement is refused with the reason in the reply), the source
 *   clears (NORMAL); the condition returns as occurrence 2, clears unacknowledged
 *   (CLEARED_UNACK) and is acknowledged (NORMAL); occurrence 3 is shelved one-shot (its
 *   repeat and clear are not delivered, the clear ends the shelve); occurrence 4 is shelved
 *   for 2 s and the shelve expires by itself; comment (refused without a reason), out of
 *   service and back; a STOP command suppresses the station's SPC alarms by design and
 *   RESUME lifts it. Every transition is in alert_transition with who and why.
 * - two publishers: the same alert raised 200 times by each of two clients at once is one
 *   active record with count 400.
 * - kill -9 mid-burst: 40 alerts raised and half of them cleared while the router is killed
 *   and restarted: each one recorded once, no transition twice, every delivery once in the
 *   outbox and delivered.
 * - outages: PostgreSQL stopped while 10 alerts arrive (5 clear again): all recorded and
 *   delivered once it is back; the broker restarted: an alert after it is routed; 16
 *   transitions, none twice.
 * - rate and hysteresis: a subscription with rate=3 gets 3 of 6 alarms in a minute, the
 *   others recorded as held back; with delay_on=2 delay_off=2 an alert cleared within 2 s is
 *   never told (its raise and clear skipped 'delay-on'), one that lasts is told 2 s later, and
 *   one that clears and returns within 2 s is told neither (both skipped 'delay-off').
 *
 * Waits on conditions with deadlines (database counts, messages), never for a fixed time. */
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
#include "cellthread/v1/alert.pb-c.h"
#include "cellthread/v1/control.pb-c.h"
#include "ct_error.h"
#include "ct_time.h"
#include "harness.h"

#define WAIT HARNESS_WAIT_MS

/* Publishes an Alert as spc-gate on AR/L1/<station> (active or cleared, with its value). */
static void publish_alert(struct ct_mqtt *pub, const char *event_id, const char *station,
                          const char *code, bool active, double value)
{
	alert_it_publish(
	        pub, &(struct alert_it_alert){.event_id = event_id,
	                                      .station = station,
	                                      .code = code,
	                                      .state = active ? ALERT_IT_ACTIVE : ALERT_IT_CLEARED,
	                                      .value = value});
}

static void expect_ok(Cellthread__V1__AlertReply *rep, const char *state)
{
	if (!rep->ok)
		fail_msg("refused: %s", rep->error);
	assert_non_null(rep->alert);
	if (state != NULL) {
		char want[64];
		snprintf(want, sizeof(want), "%s", state);
		const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
		        &cellthread__v1__alarm_state__descriptor, (int)rep->alert->state);
		assert_non_null(v);
		if (strcmp(v->name, want) != 0)
			fail_msg("state %s, expected %s", v->name, want);
	}
	cellthread__v1__alert_reply__free_unpacked(rep, NULL);
}

/* The next JSON message on the team topic: its action and code (any code when want_code is
 * NULL) and a delivery ID; its alert_id into id, when given. */
static void next_team(struct harness_sub *team, const char *want_action, const char *want_code,
                      char *id, size_t id_len)
{
	json_t *o = alert_it_next_team(team, NULL, want_action, want_code);

	assert_non_null(json_string_value(json_object_get(o, "delivery_id")));
	if (id != NULL)
		snprintf(id, id_len, "%s", alert_it_jstr(o, "alert_id"));
	json_decref(o);
}

static const char *const ops_routes = "id=ops team=ops severity=LOW filter=AR/#\n";

static const char state_sql[] = "SELECT count(*) FROM alert WHERE alert_id = $1 AND state = $2";

static void test_lifecycle(void **state)
{
	struct harness *h = *state;
	struct harness_proc *router = NULL;
	struct harness_sub *team = NULL, *replies = NULL;
	struct ct_mqtt *gate = NULL, *cli = NULL;
	char id1[64], id2[64], id3[64], id4[64], id5[64];
	const char *env[] = {NULL, NULL};

	env[0] = alert_it_write_routes(h, ops_routes);
	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/alert/team/ops", &team), CT_OK);
	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/sys/reply/+/alerts/#", &replies), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_ALERTROUTER, NULL, env, &router), CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "spc-gate", &gate), CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "cli", &cli), CT_OK);

	/* Raise, repeat, acknowledge (twice: refused), clear -> NORMAL. */
	publish_alert(gate, "lc-1", "S1", "TEST_HIGH", true, 1.5);
	next_team(team, "RAISE", "TEST_HIGH", id1, sizeof(id1));
	publish_alert(gate, "lc-2", "S1", "TEST_HIGH", true, 2.5);
	alert_it_wait_count(h,
	                    "SELECT count(*) FROM alert WHERE alert_id = $1 AND count = 2"
	                    " AND last_value = 2.5",
	                    1, (const char *[]){id1}, 1);
	expect_ok(alert_it_act(cli, replies, id1, CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_ACK,
	                       "seen, checking the nozzle", 0),
	          "ALARM_STATE_ACTIVE_ACK");
	next_team(team, "ACK", "TEST_HIGH", NULL, 0);
	Cellthread__V1__AlertReply *rep = alert_it_act(
	        cli, replies, id1, CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_ACK, "again", 0);
	assert_false(rep->ok);
	assert_non_null(strstr(rep->error, id1));
	cellthread__v1__alert_reply__free_unpacked(rep, NULL);
	publish_alert(gate, "lc-3", "S1", "TEST_HIGH", false, 0);
	next_team(team, "CLEAR", "TEST_HIGH", NULL, 0);
	alert_it_wait_count(h, state_sql, 2, (const char *[]){id1, "NORMAL"}, 1);

	/* The condition returns: occurrence 2; clears unacknowledged; acknowledged -> NORMAL. */
	publish_alert(gate, "lc-4", "S1", "TEST_HIGH", true, 3);
	next_team(team, "RAISE", "TEST_HIGH", id2, sizeof(id2));
	assert_string_not_equal(id1, id2);
	publish_alert(gate, "lc-5", "S1", "TEST_HIGH", false, 0);
	next_team(team, "CLEAR", "TEST_HIGH", NULL, 0);
	alert_it_wait_count(h, state_sql, 2, (const char *[]){id2, "CLEARED_UNACK"}, 1);
	expect_ok(alert_it_act(cli, replies, id2, CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_ACK,
	                       "cleared by itself", 0),
	          "ALARM_STATE_NORMAL");
	next_team(team, "ACK", "TEST_HIGH", NULL, 0);

	/* Occurrence 3 shelved one-shot: its repeat and clear are not delivered; the clear ends
	 * the shelve. Then occurrence 4 shelved for 2 s: the shelve expires by itself. */
	publish_alert(gate, "lc-6", "S1", "TEST_HIGH", true, 4);
	next_team(team, "RAISE", "TEST_HIGH", id3, sizeof(id3));
	expect_ok(alert_it_act(cli, replies, id3, CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_SHELVE,
	                       "known, nozzle being replaced", 0),
	          "ALARM_STATE_ACTIVE_UNACK");
	publish_alert(gate, "lc-7", "S1", "TEST_HIGH", true, 5);
	publish_alert(gate, "lc-8", "S1", "TEST_HIGH", false, 0);
	alert_it_wait_count(
	        h,
	        "SELECT count(*) FROM alert WHERE alert_id = $1 AND state = 'CLEARED_UNACK'"
	        " AND shelved = '' AND count = 2",
	        1, (const char *[]){id3}, 1);
	expect_ok(alert_it_act(cli, replies, id3, CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_ACK,
	                       "done", 0),
	          "ALARM_STATE_NORMAL");
	next_team(team, "ACK", "TEST_HIGH", NULL, 0); /* the next delivery: nothing in between */
	publish_alert(gate, "lc-9", "S1", "TEST_HIGH", true, 6);
	next_team(team, "RAISE", "TEST_HIGH", id4, sizeof(id4));
	expect_ok(alert_it_act(cli, replies, id4, CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_SHELVE,
	                       "for two seconds", ct_now_us() + 2000000),
	          NULL);
	alert_it_wait_count(h,
	                    "SELECT count(*) FROM alert_transition WHERE alert_id = $1"
	                    " AND action = 'SHELVE_EXPIRED' AND actor = 'alert-router'",
	                    1, (const char *[]){id4}, 1);
	/* Announced again, since it is still active and unacknowledged. */
	next_team(team, "SHELVE_EXPIRED", "TEST_HIGH", NULL, 0);

	/* Comment (a reason is required), out of service and back. */
	rep = alert_it_act(cli, replies, id4, CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_COMMENT,
	                   "", 0);
	assert_false(rep->ok);
	cellthread__v1__alert_reply__free_unpacked(rep, NULL);
	expect_ok(alert_it_act(cli, replies, id4,
	                       CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_COMMENT,
	                       "maintenance informed", 0),
	          NULL);
	expect_ok(alert_it_act(cli, replies, id4,
	                       CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_REMOVE_FROM_SERVICE,
	                       "sensor replaced this week", 0),
	          NULL);
	alert_it_wait_count(h, "SELECT count(*) FROM alert WHERE alert_id = $1 AND out_of_service",
	                    1, (const char *[]){id4}, 1);
	expect_ok(alert_it_act(cli, replies, id4,
	                       CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_RETURN_TO_SERVICE,
	                       "sensor back", 0),
	          NULL);
	next_team(team, "RETURN_TO_SERVICE", "TEST_HIGH", NULL, 0);
	/* Out of service outlives an occurrence: cleared and back, the new occurrence is still
	 * out of service and nobody is told (the next delivery is the CLEAR below). */
	expect_ok(alert_it_act(cli, replies, id4,
	                       CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_REMOVE_FROM_SERVICE,
	                       "sensor faulty again", 0),
	          NULL);
	publish_alert(gate, "lc-oos-c", "S1", "TEST_HIGH", false, 0);
	publish_alert(gate, "lc-oos-r", "S1", "TEST_HIGH", true, 9);
	alert_it_wait_count(h,
	                    "SELECT count(*) FROM alert_transition WHERE alert_id = $1"
	                    " AND action = 'SUPERSEDED'",
	                    1, (const char *[]){id4}, 1);
	alert_it_wait_count(h,
	                    "SELECT count(*) FROM alert WHERE code = 'TEST_HIGH' AND station = 'S1'"
	                    " AND state = 'ACTIVE_UNACK' AND out_of_service",
	                    0, NULL, 1);
	/* The ended occurrence takes no more actions. */
	rep = alert_it_act(cli, replies, id4,
	                   CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_RETURN_TO_SERVICE,
	                   "wrong one", 0);
	assert_false(rep->ok);
	assert_non_null(strstr(rep->error, "occurrence closed"));
	cellthread__v1__alert_reply__free_unpacked(rep, NULL);
	char id_oos[64];
	{
		PGresult *res = NULL;
		assert_int_equal(harness_sql(h,
		                             "SELECT alert_id FROM alert WHERE code = 'TEST_HIGH'"
		                             " AND station = 'S1' AND state = 'ACTIVE_UNACK'",
		                             0, NULL, &res),
		                 CT_OK);
		assert_int_equal(PQntuples(res), 1);
		snprintf(id_oos, sizeof(id_oos), "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	expect_ok(alert_it_act(cli, replies, id_oos,
	                       CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_RETURN_TO_SERVICE,
	                       "sensor replaced", 0),
	          NULL);
	alert_it_wait_count(h,
	                    "SELECT count(*) FROM alert_delivery WHERE alert_id = $1"
	                    " AND action = 'RETURN_TO_SERVICE' AND delivered_at IS NOT NULL",
	                    1, (const char *[]){id_oos}, 1);
	next_team(team, "RETURN_TO_SERVICE", "TEST_HIGH", NULL, 0);
	id4[0] = '\0';
	snprintf(id4, sizeof(id4), "%s", id_oos);
	/* Cleared and back before anyone acknowledged: occurrence 4 closes (SUPERSEDED), the
	 * new occurrence carries the acknowledgement owed. */
	publish_alert(gate, "lc-12", "S1", "TEST_HIGH", false, 0);
	next_team(team, "CLEAR", "TEST_HIGH", NULL, 0);
	publish_alert(gate, "lc-13", "S1", "TEST_HIGH", true, 8);
	next_team(team, "RAISE", "TEST_HIGH", NULL, 0);
	alert_it_wait_count(h, state_sql, 2, (const char *[]){id4, "NORMAL"}, 1);

	/* Suppressed by design: a station stopped by a command has its SPC alarms suppressed. */
	alert_it_publish_command(gate, "cmd-stop-1", "S2", true);
	alert_it_wait_count(h, "SELECT count(*) FROM alert_station_stop WHERE station = 'S2'", 0,
	                    NULL, 1);
	publish_alert(gate, "lc-10", "S2", "SPC_NELSON1", true, 7);
	publish_alert(gate, "lc-11", "S2", "TEST_OTHER", true, 7); /* not a process alarm */
	next_team(team, "RAISE", "TEST_OTHER", NULL, 0);
	alert_it_wait_count(
	        h,
	        "SELECT count(*) FROM alert WHERE station = 'S2' AND code = 'SPC_NELSON1'"
	        " AND suppressed",
	        0, NULL, 1);
	alert_it_publish_command(gate, "cmd-resume-1", "S2", false);
	next_team(team, "UNSUPPRESS", "SPC_NELSON1", id5, sizeof(id5));
	alert_it_wait_count(h, "SELECT count(*) FROM alert WHERE alert_id = $1 AND NOT suppressed",
	                    1, (const char *[]){id5}, 1);

	/* The audit holds every transition with who and why. */
	const char *const audit[][2] = {
	        {"RAISE", "spc-gate"},
	        {"ACK", "Ana Operator"},
	        {"CLEAR", "spc-gate"},
	        {"SHELVE", "Ana Operator"},
	        {"SHELVE_EXPIRED", "alert-router"},
	        {"COMMENT", "Ana Operator"},
	        {"REMOVE_FROM_SERVICE", "Ana Operator"},
	        {"RETURN_TO_SERVICE", "Ana Operator"},
	        {"SUPPRESS", "alert-router"},
	        {"UNSUPPRESS", "alert-router"},
	        {"SUPERSEDED", "alert-router"},
	};
	for (size_t i = 0; i < sizeof(audit) / sizeof(audit[0]); i++)
		if (alert_it_count(
		            h,
		            "SELECT count(*) FROM alert_transition WHERE action = $1 AND actor = $2"
		            " AND reason <> ''",
		            2, audit[i]) < 1)
			fail_msg("no %s transition by %s with a reason", audit[i][0], audit[i][1]);
	assert_int_equal(
	        alert_it_count(h,
	                       "SELECT count(*) FROM alert_transition WHERE actor = 'Ana Operator'"
	                       " AND credential <> 'cli'",
	                       0, NULL),
	        0);
	/* The comment without a reason and the second acknowledgement changed nothing. */
	assert_int_equal(alert_it_count(h,
	                                "SELECT count(*) FROM alert_transition WHERE alert_id = $1"
	                                " AND action = 'ACK'",
	                                1, (const char *[]){id1}),
	                 1);
	assert_true(harness_proc_is_alive(router));
	ct_mqtt_free(gate);
	ct_mqtt_free(cli);
	harness_sub_free(team);
	harness_sub_free(replies);
	harness_pass(h);
}

struct burst_arg {
	struct ct_mqtt *pub;
	const char *prefix;
	int n;
};

static void test_two_publishers(void **state)
{
	struct harness *h = *state;
	struct harness_proc *router = NULL;
	struct ct_mqtt *a = NULL, *b = NULL;
	/* 400 raises of one alert are one alarm; no flood to count here. */
	const char *env[] = {NULL, "CT_ROUTER_FLOOD_ON=100000", NULL};
	char id[48];

	env[0] = alert_it_write_routes(h, ops_routes);
	assert_int_equal(
	        harness_service_start(h, HARNESS_ALERTROUTER, "alert-router-burst", env, &router),
	        CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "spc-gate", &a), CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "spc-gate", &b), CT_OK);
	/* Two publishers, interleaved without waiting for each other's acknowledgements: the
	 * router sees the raises in whatever order the broker gives. */
	for (int i = 0; i < 200; i++) {
		snprintf(id, sizeof(id), "burst-a-%d", i);
		publish_alert(a, id, "B1", "TEST_BURST", true, i);
		snprintf(id, sizeof(id), "burst-b-%d", i);
		publish_alert(b, id, "B1", "TEST_BURST", true, i);
	}
	assert_int_equal(ct_mqtt_flush(a, WAIT), CT_OK);
	assert_int_equal(ct_mqtt_flush(b, WAIT), CT_OK);
	alert_it_wait_count(h,
	                    "SELECT sum(count) FROM alert WHERE code = 'TEST_BURST'"
	                    " AND state IN ('ACTIVE_UNACK', 'ACTIVE_ACK')",
	                    0, NULL, 400);
	assert_int_equal(
	        alert_it_count(h, "SELECT count(*) FROM alert WHERE code = 'TEST_BURST'", 0, NULL),
	        1);
	assert_int_equal(alert_it_count(h,
	                                "SELECT count(*) FROM alert_transition t JOIN alert a USING"
	                                " (alert_id) WHERE a.code = 'TEST_BURST'",
	                                0, NULL),
	                 1);
	ct_mqtt_free(a);
	ct_mqtt_free(b);
	harness_pass(h);
}

static void test_kill9_mid_burst(void **state)
{
	struct harness *h = *state;
	struct harness_proc *router = NULL;
	struct harness_sub *team = NULL;
	struct ct_mqtt *gate = NULL;
	/* 40 alarms at once would be a flood (grouped, test_alert_floods): not the subject. */
	const char *env[] = {NULL, "CT_ROUTER_FLOOD_ON=100000", NULL};
	char id[48], station[16];

	env[0] = alert_it_write_routes(h, ops_routes);
	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/alert/team/ops", &team), CT_OK);
	assert_int_equal(
	        harness_service_start(h, HARNESS_ALERTROUTER, "alert-router-kill", env, &router),
	        CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "spc-gate", &gate), CT_OK);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 40; i++) {
			snprintf(station, sizeof(station), "K%02d", i);
			snprintf(id, sizeof(id), "kill-%d-raise-%d", round, i);
			publish_alert(gate, id, station, "TEST_KILL", true, round);
			if (round == 1 && i % 2 == 0) {
				snprintf(id, sizeof(id), "kill-%d-clear-%d", round, i);
				publish_alert(gate, id, station, "TEST_KILL", false, 0);
			}
		}
		assert_int_equal(ct_mqtt_flush(gate, WAIT), CT_OK);
		if (round == 0) {
			/* Mid-burst: some handled, some not yet. */
			alert_it_wait_count(
			        h, "SELECT least(count(*), 5) FROM alert WHERE code = 'TEST_KILL'",
			        0, NULL, 5);
			assert_int_equal(harness_proc_kill(h, router), CT_OK);
		}
	}
	assert_int_equal(harness_proc_restart(h, router, true), CT_OK);
	/* Every alert once, with both raises counted; half of them cleared. */
	alert_it_wait_count(h, "SELECT count(*) FROM alert WHERE code = 'TEST_KILL' AND count = 2",
	                    0, NULL, 40);
	alert_it_wait_count(
	        h,
	        "SELECT count(*) FROM alert WHERE code = 'TEST_KILL' AND state = 'CLEARED_UNACK'",
	        0, NULL, 20);
	assert_int_equal(
	        alert_it_count(h, "SELECT count(*) FROM alert WHERE code = 'TEST_KILL'", 0, NULL),
	        40);
	/* No transition twice: one RAISE per alert, one CLEAR per cleared one. */
	assert_int_equal(alert_it_count(h,
	                                "SELECT count(*) FROM alert_transition t JOIN alert a USING"
	                                " (alert_id) WHERE a.code = 'TEST_KILL'",
	                                0, NULL),
	                 60);
	/* Every delivery decided once and delivered: 40 raises and 20 clears to ops. */
	alert_it_wait_count(h,
	                    "SELECT count(*) FROM alert_delivery d JOIN alert a USING (alert_id)"
	                    " WHERE a.code = 'TEST_KILL' AND d.delivered_at IS NOT NULL",
	                    0, NULL, 60);
	/* And the team topic saw every one of them (a repeat carries the same delivery ID). */
	json_t *seen = json_object();
	while (json_object_size(seen) < 60) {
		json_t *o = alert_it_next_json(team);
		if (strcmp(alert_it_jstr(o, "code"), "TEST_KILL") == 0)
			json_object_set_new(seen,
			                    json_string_value(json_object_get(o, "delivery_id")),
			                    json_true());
		json_decref(o);
	}
	json_decref(seen);
	ct_mqtt_free(gate);
	harness_sub_free(team);
	harness_pass(h);
}

/* The next team message's alert station (and its action into action). */
static void next_station(struct harness_sub *team, char *station, size_t len, char *action,
                         size_t action_len)
{
	json_t *o = alert_it_next_json(team);

	snprintf(station, len, "%s", alert_it_jstr(o, "station"));
	snprintf(action, action_len, "%s", alert_it_jstr(o, "action"));
	json_decref(o);
}

/* A subscription's rate limit and its hysteresis (delay-on, delay-off), through the router. */
static void test_rate_and_hysteresis(void **state)
{
	struct harness *h = *state;
	struct harness_proc *router = NULL;
	struct harness_sub *rl = NULL, *hy = NULL;
	struct ct_mqtt *gate = NULL;
	const char *env[] = {NULL, "CT_ROUTER_FLOOD_ON=100000", NULL};
	char id[48], station[16], action[32];

	env[0] = alert_it_write_routes(h, "id=rl team=rl codes=TEST_RATE rate=3\n"
	                                  "id=hy team=hy codes=TEST_HYST delay_on=2 delay_off=2\n");
	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/alert/team/rl", &rl), CT_OK);
	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/alert/team/hy", &hy), CT_OK);
	assert_int_equal(
	        harness_service_start(h, HARNESS_ALERTROUTER, "alert-router-rate", env, &router),
	        CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "spc-gate", &gate), CT_OK);

	/* Rate: 6 alarms in a minute, 3 delivered, 3 recorded as held back. */
	for (int i = 0; i < 6; i++) {
		snprintf(id, sizeof(id), "rate-%d", i);
		snprintf(station, sizeof(station), "R%d", i);
		publish_alert(gate, id, station, "TEST_RATE", true, i);
	}
	alert_it_wait_count(h,
	                    "SELECT count(*) FROM alert_delivery WHERE subscription_id = 'rl'"
	                    " AND skipped LIKE 'rate limit%'",
	                    0, NULL, 3);
	for (int i = 0; i < 3; i++) {
		next_station(rl, station, sizeof(station), action, sizeof(action));
		assert_string_equal(action, "RAISE");
	}
	/* Marked delivered once the broker acknowledged them (which may be just after the
	 * subscriber has them). */
	alert_it_wait_count(h,
	                    "SELECT count(*) FROM alert_delivery WHERE subscription_id = 'rl'"
	                    " AND delivered_at IS NOT NULL",
	                    0, NULL, 3);

	/* Hysteresis: H1 clears within its delay-on (never told), H2 lasts (told 2 s later),
	 * clears and returns within its delay-off (neither told), H3 marks the end. */
	publish_alert(gate, "hy-1", "H1", "TEST_HYST", true, 1);
	publish_alert(gate, "hy-1c", "H1", "TEST_HYST", false, 0);
	publish_alert(gate, "hy-2", "H2", "TEST_HYST", true, 2);
	alert_it_wait_count(
	        h, "SELECT count(*) FROM alert WHERE code = 'TEST_HYST' AND station = 'H2'", 0,
	        NULL, 1);
	next_station(hy, station, sizeof(station), action, sizeof(action));
	assert_string_equal(station, "H2");
	assert_string_equal(action, "RAISE");
	publish_alert(gate, "hy-2c", "H2", "TEST_HYST", false, 0);
	publish_alert(gate, "hy-2b", "H2", "TEST_HYST", true, 3);
	publish_alert(gate, "hy-3", "H3", "TEST_HYST", true, 4);
	next_station(hy, station, sizeof(station), action, sizeof(action));
	assert_string_equal(station, "H3");
	assert_string_equal(action, "RAISE");
	alert_it_wait_count(h,
	                    "SELECT count(*) FROM alert_delivery WHERE subscription_id = 'hy'"
	                    " AND skipped LIKE 'delay-on%'",
	                    0, NULL, 2); /* H1's raise and its clear */
	alert_it_wait_count(h,
	                    "SELECT count(*) FROM alert_delivery WHERE subscription_id = 'hy'"
	                    " AND skipped LIKE 'delay-off%'",
	                    0, NULL, 2); /* H2's clear and its return */
	ct_mqtt_free(gate);
	harness_sub_free(rl);
	harness_sub_free(hy);
	harness_pass(h);
}

/* PostgreSQL away while alerts arrive, then the broker restarted: nothing lost, nothing
 * twice. */
static void test_outages(void **state)
{
	struct harness *h = *state;
	struct harness_proc *router = NULL;
	struct harness_sub *team = NULL;
	struct ct_mqtt *gate = NULL;
	const char *env[] = {alert_it_write_routes(h, "id=out team=out codes=TEST_OUT\n"),
	                     "CT_ROUTER_FLOOD_ON=100000", NULL};
	char id[48], station[16];

	assert_int_equal(
	        harness_service_start(h, HARNESS_ALERTROUTER, "alert-router-outage", env, &router),
	        CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "spc-gate", &gate), CT_OK);
	/* The database stops with nothing in hand; 10 alerts arrive while it is away (the
	 * router's spool holds them), 5 of them clear again. */
	assert_int_equal(harness_pg_stop(h), CT_OK);
	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "out-%d", i);
		snprintf(station, sizeof(station), "O%d", i);
		publish_alert(gate, id, station, "TEST_OUT", true, i);
		if (i % 2 == 1) {
			snprintf(id, sizeof(id), "out-%d-clear", i);
			publish_alert(gate, id, station, "TEST_OUT", false, 0);
		}
	}
	assert_int_equal(ct_mqtt_flush(gate, WAIT), CT_OK);
	assert_true(harness_proc_is_alive(router));
	assert_int_equal(harness_pg_start(h), CT_OK);
	alert_it_wait_count(h, "SELECT count(*) FROM alert WHERE code = 'TEST_OUT'", 0, NULL, 10);
	alert_it_wait_count(h,
	                    "SELECT count(*) FROM alert WHERE code = 'TEST_OUT'"
	                    " AND state = 'CLEARED_UNACK'",
	                    0, NULL, 5);
	alert_it_wait_count(h,
	                    "SELECT count(*) FROM alert_delivery WHERE subscription_id = 'out'"
	                    " AND delivered_at IS NOT NULL",
	                    0, NULL, 15);

	/* The broker restarted: the router's session comes back and what is published after it
	 * is routed as before. */
	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/alert/team/out", &team), CT_OK);
	assert_int_equal(harness_broker_stop(h), CT_OK);
	assert_int_equal(harness_broker_start(h), CT_OK);
	ct_mqtt_free(gate);
	gate = NULL;
	harness_sub_free(team);
	team = NULL;
	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/alert/team/out", &team), CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "spc-gate", &gate), CT_OK);
	publish_alert(gate, "out-after-broker", "O99", "TEST_OUT", true, 99);
	json_t *o = alert_it_next_of(team, "TEST_OUT", "AR/L1/O99", "alert", "RAISE");
	json_decref(o);
	/* Exactly once each: 11 raises and 5 clears, no transition twice. */
	assert_int_equal(alert_it_count(h,
	                                "SELECT count(*) FROM alert_transition t JOIN alert a"
	                                " USING (alert_id) WHERE a.code = 'TEST_OUT'",
	                                0, NULL),
	                 16);
	assert_true(harness_proc_is_alive(router));
	ct_mqtt_free(gate);
	harness_sub_free(team);
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("alert-router", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_lifecycle, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_two_publishers, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_kill9_mid_burst, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_rate_and_hysteresis, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_outages, harness_test_setup,
	                                        harness_test_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
