/* test_alert_floods: ct-alert-router's escalation, floods, chattering, its own alert sources
 * and the KPI message, on the real broker and database (issue 12).
 *
 * - escalation: A and B raised at once to a first-tier route that escalates after 2 s to a
 *   tier-2 route; B is acknowledged at once. A reaches the tier-2 team topic as ESCALATE
 *   (kind "escalation", tier 2) with an ESCALATE transition and escalation_tier 2; B never
 *   escalates (checked once A's escalation is seen: both would fall in the same timer tick
 *   and transaction), and the tier-2 route never got a RAISE directly.
 * - flood: 12 distinct alarms at once to one team (flood above 10 in a 10 s window): exactly
 *   10 individual RAISE messages, then a "flood_summary" (2 grouped, top codes), an open
 *   interval in alert_position_flood, the held-back deliveries skipped 'flood: ...' (on both
 *   of the team's subscriptions: an alarm counts once, however many reach the team); a second
 *   team gets its alarm individually meanwhile; once the window holds fewer than flood_off
 *   alarms, a "flood_end" and the interval closed, and never an individual message between.
 * - chattering: one key raised and cleared 3 times within 60 s: its 3rd occurrence is flagged
 *   chattering (JSON and table) with a CHATTER transition by alert-router.
 * - chatter auto-shelve: with CT_ROUTER_CHATTER_AUTO_SHELVE=true the 3rd occurrence is
 *   shelved ONE_SHOT by alert-router, never delivered (neither its raise nor its clear), and
 *   its clear ends the shelve.
 * - sources: fpy-report killed -9 (its last will) raises SERVICE_OFFLINE on 'fpy-report/1'
 *   delivered to a kinds=service route, its restart clears it; a LotStatus HELD raises
 *   LOT_HELD on lot 'AR/<lot>', RELEASED clears it; a burst of dead letters (as spc-gate on
 *   its own dead-letter topic) raises DEADLETTER_BURST on service 'spc-gate', which clears by
 *   itself after CT_ROUTER_DEADLETTER_QUIET_S of quiet.
 * - kpi: with CT_ROUTER_KPI_INTERVAL_S=1 the AlarmKpi message's alarms_last_day of a team
 *   equals alert_kpi_position.alarms_24h (3, by hand) and its standing equals the count of
 *   active alerts that are not shelved, suppressed or out of service.
 *
 * Every test has its own teams (the database is the group's) and waits on conditions with
 * deadlines (database counts, messages), never for a fixed time. */
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
#include "ct_pb.h"
#include "ct_time.h"
#include "harness.h"

#define WAIT HARNESS_WAIT_MS

/* Publishes an Alert as spc-gate on AR/<line>/<station> (active or cleared, value 1.5). */
static void publish_alert(struct ct_mqtt *pub, const char *event_id, const char *line,
                          const char *station, const char *code, bool active)
{
	alert_it_publish(
	        pub, &(struct alert_it_alert){.event_id = event_id,
	                                      .line = line,
	                                      .station = station,
	                                      .code = code,
	                                      .state = active ? ALERT_IT_ACTIVE : ALERT_IT_CLEARED,
	                                      .value = 1.5});
}

static const char active_sql[] = "SELECT count(*) FROM alert WHERE code = $1 AND object_id = $2"
                                 " AND state IN ('ACTIVE_UNACK', 'ACTIVE_ACK')";

/* ---- escalation --------------------------------------------------------------------------- */

static void test_escalation(void **state)
{
	struct harness *h = *state;
	struct harness_proc *router = NULL;
	struct harness_sub *ops = NULL, *lead = NULL, *replies = NULL;
	struct ct_mqtt *gate = NULL, *cli = NULL;
	char id_a[64] = "", id_b[64] = "";
	const char *env[] = {NULL, NULL};

	env[0] = alert_it_write_routes(
	        h, "id=ops-e team=ops-e severity=LOW filter=AR/ES/# escalate_after=2"
	           " escalate_to=lead-e\n"
	           "id=lead-e team=lead-e tier=2 severity=LOW filter=AR/ES/#\n");
	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/alert/team/ops-e", &ops), CT_OK);
	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/alert/team/lead-e", &lead), CT_OK);
	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/sys/reply/+/alerts/#", &replies), CT_OK);
	assert_int_equal(
	        harness_service_start(h, HARNESS_ALERTROUTER, "alert-router-esc", env, &router),
	        CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "spc-gate", &gate), CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "cli", &cli), CT_OK);

	publish_alert(gate, "esc-a", "ES", "S1", "ESC_A", true);
	publish_alert(gate, "esc-b", "ES", "S2", "ESC_B", true);
	for (int i = 0; i < 2; i++) {
		json_t *o = alert_it_next_team(ops, "alert", "RAISE", NULL);
		snprintf(strcmp(alert_it_jstr(o, "code"), "ESC_A") == 0 ? id_a : id_b, sizeof(id_a),
		         "%s", alert_it_jstr(o, "alert_id"));
		json_decref(o);
	}
	assert_true(id_a[0] != '\0' && id_b[0] != '\0');
	alert_it_act_ok(cli, replies, id_b, CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_ACK,
	                "on it");

	/* The first message the tier-2 team ever gets is A's escalation. */
	json_t *o = alert_it_next_team(lead, "escalation", "ESCALATE", "ESC_A");
	assert_string_equal(alert_it_jstr(o, "alert_id"), id_a);
	assert_int_equal(json_integer_value(json_object_get(o, "tier")), 2);
	assert_string_equal(alert_it_jstr(o, "subscription"), "lead-e");
	json_decref(o);
	assert_int_equal(alert_it_count(h,
	                                "SELECT count(*) FROM alert_transition WHERE alert_id = $1"
	                                " AND action = 'ESCALATE' AND actor = 'alert-router'",
	                                1, (const char *[]){id_a}),
	                 1);
	assert_int_equal(alert_it_count(h,
	                                "SELECT count(*) FROM alert WHERE alert_id = $1"
	                                " AND escalation_tier = 2 AND state = 'ACTIVE_UNACK'",
	                                1, (const char *[]){id_a}),
	                 1);
	/* B was acknowledged in time: escalating it would have been in the tick (and the
	 * transaction) that escalated A, which has committed. */
	assert_int_equal(alert_it_count(h,
	                                "SELECT count(*) FROM alert_transition WHERE alert_id = $1"
	                                " AND action = 'ESCALATE'",
	                                1, (const char *[]){id_b}),
	                 0);
	assert_int_equal(alert_it_count(h,
	                                "SELECT count(*) FROM alert WHERE alert_id = $1"
	                                " AND escalation_tier = 1 AND state = 'ACTIVE_ACK'",
	                                1, (const char *[]){id_b}),
	                 1);
	/* Tier 2 hears of alerts only by escalation: one delivery in all, A's ESCALATE. */
	assert_int_equal(
	        alert_it_count(
	                h, "SELECT count(*) FROM alert_delivery WHERE subscription_id = 'lead-e'",
	                0, NULL),
	        1);
	assert_int_equal(
	        alert_it_count(
	                h,
	                "SELECT count(*) FROM alert_delivery WHERE subscription_id = 'lead-e'"
	                " AND action = 'ESCALATE' AND alert_id = $1",
	                1, (const char *[]){id_a}),
	        1);
	/* A later raise still goes to tier 1 only, and A escalates once. */
	publish_alert(gate, "esc-c", "ES", "S3", "ESC_C", true);
	o = alert_it_next_json(ops);
	while (strcmp(alert_it_jstr(o, "code"), "ESC_C") != 0) { /* B's ACK */
		json_decref(o);
		o = alert_it_next_json(ops);
	}
	alert_it_expect(o, "alert", "RAISE", "ESC_C");
	json_decref(o);
	assert_int_equal(
	        alert_it_count(
	                h,
	                "SELECT count(*) FROM alert_delivery WHERE subscription_id = 'lead-e'"
	                " AND action <> 'ESCALATE'",
	                0, NULL),
	        0);
	/* Once told, the second tier hears how it ends: A's acknowledgement reaches lead-e as
	 * well as ops, although lead-e's rule (tier 2) matches nothing by itself. */
	alert_it_act_ok(cli, replies, id_a, CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_ACK,
	                "taken over by the shift lead");
	o = alert_it_next_json(lead);
	alert_it_expect(o, "alert", "ACK", "ESC_A");
	json_decref(o);
	ct_mqtt_free(gate);
	ct_mqtt_free(cli);
	harness_sub_free(ops);
	harness_sub_free(lead);
	harness_sub_free(replies);
	harness_pass(h);
}

/* ---- flood -------------------------------------------------------------------------------- */

static void test_flood(void **state)
{
	struct harness *h = *state;
	struct harness_proc *router = NULL;
	struct harness_sub *fl = NULL, *calm = NULL;
	struct ct_mqtt *gate = NULL;
	const char *env[] = {NULL,
	                     "CT_ROUTER_FLOOD_SUMMARY_S=1",
	                     "CT_ROUTER_FLOOD_WINDOW_S=10",
	                     "CT_ROUTER_FLOOD_ON=10",
	                     "CT_ROUTER_FLOOD_OFF=5",
	                     NULL};
	char id[48], station[16];
	int summaries = 0;

	/* Team fl has two subscriptions (the log one first: routes go in tier and ID order);
	 * an alarm counts once toward its position's flood whatever their number. */
	env[0] = alert_it_write_routes(
	        h, "id=audit-fl team=fl severity=LOW filter=AR/FL/# channel=log\n"
	           "id=fl team=fl severity=LOW filter=AR/FL/#\n"
	           "id=calm team=calm severity=LOW filter=AR/CA/#\n");
	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/alert/team/fl", &fl), CT_OK);
	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/alert/team/calm", &calm), CT_OK);
	assert_int_equal(
	        harness_service_start(h, HARNESS_ALERTROUTER, "alert-router-flood", env, &router),
	        CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "spc-gate", &gate), CT_OK);

	/* 12 distinct alarms: 8 FLOOD_A, then 4 FLOOD_B (the last two are the grouped ones). */
	for (int i = 0; i < 12; i++) {
		snprintf(id, sizeof(id), "flood-%d", i);
		snprintf(station, sizeof(station), "F%02d", i);
		publish_alert(gate, id, "FL", station, i < 8 ? "FLOOD_A" : "FLOOD_B", true);
	}
	assert_int_equal(ct_mqtt_flush(gate, WAIT), CT_OK);
	for (int i = 0; i < 10; i++) {
		json_t *o = alert_it_next_team(fl, "alert", "RAISE", NULL);
		json_decref(o);
	}
	alert_it_wait_count(
	        h,
	        "SELECT count(*) FROM alert_delivery WHERE team = 'fl' AND action = 'RAISE'"
	        " AND skipped LIKE 'flood: %'",
	        0, NULL, 4);
	for (int i = 0; i < 2; i++) {
		const char *sub = i == 0 ? "fl" : "audit-fl";
		assert_int_equal(
		        alert_it_count(
		                h,
		                "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
		                " AND action = 'RAISE' AND skipped IS NULL",
		                1, &sub),
		        10);
		assert_int_equal(
		        alert_it_count(
		                h,
		                "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
		                " AND action = 'RAISE' AND skipped LIKE 'flood: %'",
		                1, &sub),
		        2);
	}
	assert_int_equal(
	        alert_it_count(h,
	                       "SELECT count(*) FROM alert_position_flood WHERE team = 'fl'"
	                       " AND ended_at IS NULL",
	                       0, NULL),
	        1);
	/* Meanwhile another position is not in flood: its alarm comes individually. */
	publish_alert(gate, "calm-1", "CA", "C1", "CALM_X", true);
	json_t *o = alert_it_next_team(calm, "alert", "RAISE", "CALM_X");
	json_decref(o);
	assert_int_equal(
	        alert_it_count(h, "SELECT count(*) FROM alert_position_flood WHERE team = 'calm'",
	                       0, NULL),
	        0);

	/* Then summaries, never an individual alarm, up to the flood's end. */
	for (;;) {
		o = alert_it_next_json(fl);
		const char *kind = alert_it_jstr(o, "kind");
		if (strcmp(kind, "flood_summary") != 0 && strcmp(kind, "flood_end") != 0) {
			char *text = json_dumps(o, JSON_COMPACT);
			fail_msg("during the flood: %s", text);
		}
		assert_string_equal(alert_it_jstr(o, "team"), "fl");
		assert_int_equal(
		        json_integer_value(json_object_get(o, "grouped_since_flood_began")), 2);
		json_t *codes = json_object_get(o, "top_codes");
		assert_int_equal(json_array_size(codes), 1);
		assert_string_equal(alert_it_jstr(json_array_get(codes, 0), "code"), "FLOOD_B");
		assert_int_equal(
		        json_integer_value(json_object_get(json_array_get(codes, 0), "count")), 2);
		bool end = strcmp(kind, "flood_end") == 0;
		if (!end) {
			assert_true(json_integer_value(json_object_get(o, "alarms_in_window")) >=
			            5);
			summaries++;
		} else {
			assert_true(json_integer_value(json_object_get(o, "alarms_in_window")) < 5);
		}
		json_decref(o);
		if (end)
			break;
	}
	/* The summary came before the end (flood_summary_s 1 s, window 10 s). */
	assert_true(summaries >= 1);
	assert_int_equal(
	        alert_it_count(h,
	                       "SELECT count(*) FROM alert_position_flood WHERE team = 'fl'"
	                       " AND ended_at IS NOT NULL AND ended_at > started_at",
	                       0, NULL),
	        1);
	assert_int_equal(
	        alert_it_count(h,
	                       "SELECT count(*) FROM alert_position_flood WHERE team = 'fl'"
	                       " AND ended_at IS NULL",
	                       0, NULL),
	        0);
	/* Out of flood: the next alarm is individual again. */
	publish_alert(gate, "flood-after", "FL", "F99", "FLOOD_C", true);
	o = alert_it_next_team(fl, "alert", "RAISE", "FLOOD_C");
	json_decref(o);
	ct_mqtt_free(gate);
	harness_sub_free(fl);
	harness_sub_free(calm);
	harness_pass(h);
}

/* ---- chattering --------------------------------------------------------------------------- */

/* Raises and clears the key (CHAT_X on station) three times; the occurrences' alert IDs in
 * order, read from the database. */
static void chatter(struct harness *h, struct ct_mqtt *gate, const char *station, char ids[3][64])
{
	char id[64], occ[8];
	for (int i = 1; i <= 3; i++) {
		snprintf(id, sizeof(id), "chat-%s-r%d", station, i);
		publish_alert(gate, id, "CH", station, "CHAT_X", true);
		snprintf(occ, sizeof(occ), "%d", i);
		alert_it_wait_count(
		        h,
		        "SELECT count(*) FROM alert WHERE station = $1 AND code = 'CHAT_X'"
		        " AND occurrence = $2::int",
		        2, (const char *[]){station, occ}, 1);
		snprintf(id, sizeof(id), "chat-%s-c%d", station, i);
		publish_alert(gate, id, "CH", station, "CHAT_X", false);
		alert_it_wait_count(
		        h,
		        "SELECT count(*) FROM alert WHERE station = $1 AND code = 'CHAT_X'"
		        " AND occurrence = $2::int AND state = 'CLEARED_UNACK'",
		        2, (const char *[]){station, occ}, 1);
	}
	PGresult *res = NULL;
	assert_int_equal(harness_sql(h,
	                             "SELECT alert_id FROM alert WHERE station = $1"
	                             " AND code = 'CHAT_X' ORDER BY occurrence",
	                             1, (const char *[]){station}, &res),
	                 CT_OK);
	assert_int_equal(PQntuples(res), 3);
	for (int i = 0; i < 3; i++)
		snprintf(ids[i], 64, "%s", PQgetvalue(res, i, 0));
	PQclear(res);
}

static void test_chattering(void **state)
{
	struct harness *h = *state;
	struct harness_proc *router = NULL;
	struct harness_sub *team = NULL;
	struct ct_mqtt *gate = NULL;
	const char *env[] = {NULL, NULL};
	char ids[3][64];

	env[0] = alert_it_write_routes(h, "id=chat team=chat severity=LOW filter=AR/CH/#\n");
	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/alert/team/chat", &team), CT_OK);
	assert_int_equal(
	        harness_service_start(h, HARNESS_ALERTROUTER, "alert-router-chat", env, &router),
	        CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "spc-gate", &gate), CT_OK);
	chatter(h, gate, "C1", ids);
	/* Every raise and clear is delivered; only the third raise says chattering. */
	for (int i = 0; i < 6; i++) {
		json_t *o =
		        alert_it_next_team(team, "alert", i % 2 == 0 ? "RAISE" : "CLEAR", "CHAT_X");
		assert_string_equal(alert_it_jstr(o, "alert_id"), ids[i / 2]);
		if (i % 2 == 0)
			assert_int_equal(json_is_true(json_object_get(o, "chattering")), i == 4);
		json_decref(o);
	}
	assert_int_equal(
	        alert_it_count(h, "SELECT count(*) FROM alert WHERE alert_id = $1 AND chattering",
	                       1, (const char *[]){ids[2]}),
	        1);
	assert_int_equal(alert_it_count(h,
	                                "SELECT count(*) FROM alert WHERE alert_id IN ($1, $2)"
	                                " AND chattering",
	                                2, (const char *[]){ids[0], ids[1]}),
	                 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(
		        alert_it_count(h,
		                       "SELECT count(*) FROM alert_transition WHERE alert_id = $1"
		                       " AND action = 'CHATTER' AND actor = 'alert-router'"
		                       " AND reason LIKE 'chattering: 3 activations%'",
		                       1, (const char *[]){ids[i]}),
		        i == 2);
	/* Not auto-shelved without the option. */
	assert_int_equal(alert_it_count(h,
	                                "SELECT count(*) FROM alert_transition WHERE alert_id = $1"
	                                " AND action = 'SHELVE'",
	                                1, (const char *[]){ids[2]}),
	                 0);
	ct_mqtt_free(gate);
	harness_sub_free(team);
	harness_pass(h);
}

static void test_chatter_auto_shelve(void **state)
{
	struct harness *h = *state;
	struct harness_proc *router = NULL;
	struct harness_sub *team = NULL;
	struct ct_mqtt *gate = NULL;
	const char *env[] = {NULL, "CT_ROUTER_CHATTER_AUTO_SHELVE=true", NULL};
	char ids[3][64];

	env[0] = alert_it_write_routes(h, "id=chat2 team=chat2 severity=LOW filter=AR/CH/#\n");
	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/alert/team/chat2", &team), CT_OK);
	assert_int_equal(
	        harness_service_start(h, HARNESS_ALERTROUTER, "alert-router-chat2", env, &router),
	        CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "spc-gate", &gate), CT_OK);
	chatter(h, gate, "C2", ids);
	/* The 3rd occurrence was born chattering and shelved one-shot by the router; its clear
	 * (waited for by chatter()) ended the shelve. */
	assert_int_equal(
	        alert_it_count(h,
	                       "SELECT count(*) FROM alert WHERE alert_id = $1 AND chattering"
	                       " AND shelved = '' AND state = 'CLEARED_UNACK'",
	                       1, (const char *[]){ids[2]}),
	        1);
	assert_int_equal(alert_it_count(h,
	                                "SELECT count(*) FROM alert_transition WHERE alert_id = $1"
	                                " AND action = 'SHELVE' AND actor = 'alert-router'"
	                                " AND to_state = 'ACTIVE_UNACK'",
	                                1, (const char *[]){ids[2]}),
	                 1);
	assert_int_equal(alert_it_count(h,
	                                "SELECT count(*) FROM alert_transition WHERE alert_id = $1"
	                                " AND action = 'CHATTER'",
	                                1, (const char *[]){ids[2]}),
	                 1);
	/* Nothing of it was delivered: no outbox row at all. */
	assert_int_equal(alert_it_count(h,
	                                "SELECT count(*) FROM alert_delivery WHERE alert_id = $1",
	                                1, (const char *[]){ids[2]}),
	                 0);
	/* On the team topic: the first two occurrences' raise and clear, in order, and the
	 * sentinel. The router orders deliveries per alert, not across alerts: a clear that waits
	 * in the outbox for its raise's broker acknowledgement may follow the sentinel's raise,
	 * so the sentinel may come anywhere; once it and the four have come, nothing of the third
	 * occurrence came before it. */
	publish_alert(gate, "chat2-sentinel", "CH", "C3", "CHAT_SENTINEL", true);
	int chat_seen = 0;
	bool sentinel_seen = false;
	while (chat_seen < 4 || !sentinel_seen) {
		json_t *o = alert_it_next_json(team);
		if (strcmp(alert_it_jstr(o, "code"), "CHAT_SENTINEL") == 0) {
			alert_it_expect(o, "alert", "RAISE", "CHAT_SENTINEL");
			assert_false(sentinel_seen);
			sentinel_seen = true;
		} else {
			assert_true(chat_seen < 4);
			alert_it_expect(o, "alert", chat_seen % 2 == 0 ? "RAISE" : "CLEAR",
			                "CHAT_X");
			assert_string_equal(alert_it_jstr(o, "alert_id"), ids[chat_seen / 2]);
			chat_seen++;
		}
		json_decref(o);
	}
	ct_mqtt_free(gate);
	harness_sub_free(team);
	harness_pass(h);
}

/* ---- sources ------------------------------------------------------------------------------ */

static void publish_lot(struct harness *h, const char *event_id, const char *lot,
                        Cellthread__V1__LotState st)
{
	Cellthread__V1__LotStatus l = CELLTHREAD__V1__LOT_STATUS__INIT;
	Cellthread__V1__Header hdr = CELLTHREAD__V1__HEADER__INIT;
	char topic[160];
	uint8_t *buf = NULL;
	size_t len = 0;

	alert_it_header(&hdr, event_id, "spc-gate-it");
	l.header = &hdr;
	l.site = (char *)"AR";
	l.lot_id = (char *)lot;
	l.state = st;
	l.reason = (char *)"test hold";
	l.changed_by = (char *)"spc-gate";
	l.changed_at_us = ct_now_us();
	snprintf(topic, sizeof(topic), "ct/v1/lot/AR/%s", lot);
	assert_int_equal(ct_pb_pack(&l.base, &buf, &len), CT_OK);
	assert_int_equal(harness_publish(h, "spc-gate", topic, buf, len), CT_OK);
	free(buf);
}

static void publish_dead_letter(struct ct_mqtt *pub, const char *event_id)
{
	Cellthread__V1__DeadLetter d = CELLTHREAD__V1__DEAD_LETTER__INIT;
	Cellthread__V1__Header hdr = CELLTHREAD__V1__HEADER__INIT;
	alert_it_header(&hdr, event_id, "spc-gate-it");
	d.header = &hdr;
	d.service = (char *)"spc-gate";
	d.source_topic = (char *)"ct/v1/plant/AR/L1/S1/result";
	d.reason_code = CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_DECODE;
	d.reason = (char *)"not protobuf";
	d.received_at_us = ct_now_us();
	alert_it_send(pub, "ct/v1/sys/deadletter/spc-gate", &d.base);
}

static void test_sources(void **state)
{
	struct harness *h = *state;
	struct harness_proc *router = NULL, *fpy = NULL;
	struct harness_sub *svc = NULL, *lots = NULL;
	struct ct_mqtt *gate = NULL;
	const char *env[] = {NULL, "CT_ROUTER_DEADLETTER_BURST=5", "CT_ROUTER_DEADLETTER_QUIET_S=2",
	                     NULL};
	char id[48];

	env[0] = alert_it_write_routes(h, "id=svc team=svc severity=LOW kinds=service\n"
	                                  "id=lots team=lots severity=LOW kinds=lot\n");
	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/alert/team/svc", &svc), CT_OK);
	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/alert/team/lots", &lots), CT_OK);
	assert_int_equal(
	        harness_service_start(h, HARNESS_ALERTROUTER, "alert-router-src", env, &router),
	        CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "spc-gate", &gate), CT_OK);

	/* A service instance dies: its last will says OFFLINE; back online clears it. */
	assert_int_equal(harness_service_start(h, HARNESS_FPYREPORT, NULL, NULL, &fpy), CT_OK);
	assert_int_equal(harness_proc_kill(h, fpy), CT_OK);
	json_decref(alert_it_next_of(svc, "SERVICE_OFFLINE", "fpy-report/1", "alert", "RAISE"));
	assert_int_equal(alert_it_count(h, active_sql, 2,
	                                (const char *[]){"SERVICE_OFFLINE", "fpy-report/1"}),
	                 1);
	assert_int_equal(
	        alert_it_count(h,
	                       "SELECT count(*) FROM alert WHERE code = 'SERVICE_OFFLINE'"
	                       " AND object_kind = 'service' AND object_id = 'fpy-report/1'"
	                       " AND source = 'alert-router'",
	                       0, NULL),
	        1);
	assert_int_equal(harness_proc_restart(h, fpy, true), CT_OK);
	json_decref(alert_it_next_of(svc, "SERVICE_OFFLINE", "fpy-report/1", "alert", "CLEAR"));
	alert_it_wait_count(h, active_sql, 2, (const char *[]){"SERVICE_OFFLINE", "fpy-report/1"},
	                    0);

	/* A lot held, then released. */
	publish_lot(h, "lot-held-1", "LOT-FX1", CELLTHREAD__V1__LOT_STATE__LOT_STATE_HELD);
	json_decref(alert_it_next_of(lots, "LOT_HELD", "AR/LOT-FX1", "alert", "RAISE"));
	assert_int_equal(alert_it_count(h,
	                                "SELECT count(*) FROM alert WHERE code = 'LOT_HELD'"
	                                " AND object_kind = 'lot' AND object_id = 'AR/LOT-FX1'"
	                                " AND state = 'ACTIVE_UNACK'",
	                                0, NULL),
	                 1);
	publish_lot(h, "lot-released-1", "LOT-FX1", CELLTHREAD__V1__LOT_STATE__LOT_STATE_RELEASED);
	json_decref(alert_it_next_of(lots, "LOT_HELD", "AR/LOT-FX1", "alert", "CLEAR"));
	alert_it_wait_count(h, active_sql, 2, (const char *[]){"LOT_HELD", "AR/LOT-FX1"}, 0);

	/* A burst of 5 dead letters from spc-gate raises (the 5th: four are not a burst, or
	 * the alert would have been raised with 4 and repeated once); 2 s of quiet clear it. */
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "dl-burst-%d", i);
		publish_dead_letter(gate, id);
	}
	assert_int_equal(ct_mqtt_flush(gate, WAIT), CT_OK);
	json_decref(alert_it_next_of(svc, "DEADLETTER_BURST", "spc-gate", "alert", "RAISE"));
	assert_int_equal(alert_it_count(h,
	                                "SELECT count(*) FROM alert WHERE code = 'DEADLETTER_BURST'"
	                                " AND object_kind = 'service' AND object_id = 'spc-gate'"
	                                " AND last_value = 5 AND count = 1 AND occurrence = 1"
	                                " AND source_alert_id = 'dl-burst-4'",
	                                0, NULL),
	                 1);
	json_decref(alert_it_next_of(svc, "DEADLETTER_BURST", "spc-gate", "alert", "CLEAR"));
	assert_int_equal(alert_it_count(h,
	                                "SELECT count(*) FROM alert_transition t JOIN alert a USING"
	                                " (alert_id) WHERE a.code = 'DEADLETTER_BURST'"
	                                " AND t.action = 'CLEAR' AND t.actor = 'alert-router'"
	                                " AND t.reason = 'no repeat for 2 s'",
	                                0, NULL),
	                 1);
	assert_int_equal(
	        alert_it_count(h, active_sql, 2, (const char *[]){"DEADLETTER_BURST", "spc-gate"}),
	        0);
	ct_mqtt_free(gate);
	harness_sub_free(svc);
	harness_sub_free(lots);
	harness_pass(h);
}

/* ---- KPI message -------------------------------------------------------------------------- */

static const char standing_sql[] =
        "SELECT count(*) FROM alert WHERE state IN ('ACTIVE_UNACK', 'ACTIVE_ACK')"
        " AND shelved = '' AND NOT suppressed AND NOT out_of_service";

static void test_kpi(void **state)
{
	struct harness *h = *state;
	struct harness_proc *router = NULL;
	struct harness_sub *team = NULL, *kpis = NULL, *replies = NULL;
	struct ct_mqtt *gate = NULL, *cli = NULL;
	const char *env[] = {NULL, "CT_ROUTER_KPI_INTERVAL_S=1", NULL};
	char ids[3][64];
	bool matched = false;

	env[0] = alert_it_write_routes(h, "id=kpi team=kpi severity=LOW filter=AR/KP/#\n");
	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/alert/team/kpi", &team), CT_OK);
	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/sys/reply/+/alerts/#", &replies), CT_OK);
	assert_int_equal(
	        harness_service_start(h, HARNESS_ALERTROUTER, "alert-router-kpi", env, &router),
	        CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "spc-gate", &gate), CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "cli", &cli), CT_OK);

	/* Three alarms to team kpi (and a repeat, not an alarm): one stays standing, one is
	 * shelved, one clears. */
	publish_alert(gate, "kpi-1", "KP", "K1", "KPI_A", true);
	publish_alert(gate, "kpi-2", "KP", "K2", "KPI_B", true);
	publish_alert(gate, "kpi-3", "KP", "K3", "KPI_C", true);
	publish_alert(gate, "kpi-1b", "KP", "K1", "KPI_A", true);
	for (int i = 0; i < 3; i++) {
		json_t *o = alert_it_next_json(team);
		const char *code = alert_it_jstr(o, "code");
		alert_it_expect(o, "alert", "RAISE", NULL);
		/* KPI_A, KPI_B, KPI_C: in whatever order they come */
		assert_true(strlen(code) == 5 && code[4] >= 'A' && code[4] <= 'C');
		snprintf(ids[code[4] - 'A'], 64, "%s", alert_it_jstr(o, "alert_id"));
		json_decref(o);
	}
	alert_it_act_ok(cli, replies, ids[2], CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_SHELVE,
	                "known, being fixed");
	publish_alert(gate, "kpi-2c", "KP", "K2", "KPI_B", false);
	alert_it_wait_count(
	        h, "SELECT count(*) FROM alert WHERE alert_id = $1 AND state = 'CLEARED_UNACK'", 1,
	        (const char *[]){ids[1]}, 1);
	alert_it_wait_count(h, "SELECT count(*) FROM alert WHERE alert_id = $1 AND count = 2", 1,
	                    (const char *[]){ids[0]}, 1);
	alert_it_wait_count(h, "SELECT alarms_24h FROM alert_kpi_position WHERE team = 'kpi'", 0,
	                    NULL, 3);
	int64_t settled_us = ct_now_us();

	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/alert/kpi", &kpis), CT_OK);
	/* A message taken after everything above settled; the standing count is the whole
	 * database's, so a message is compared only when that count did not move around it. */
	for (int tries = 0; tries < 10 && !matched; tries++) {
		const char *topic;
		const uint8_t *payload;
		size_t len;
		long long before = alert_it_count(h, standing_sql, 0, NULL);
		assert_int_equal(harness_sub_next(kpis, WAIT, &topic, &payload, &len), CT_OK);
		Cellthread__V1__AlarmKpi *k = cellthread__v1__alarm_kpi__unpack(NULL, len, payload);
		assert_non_null(k);
		long long after = alert_it_count(h, standing_sql, 0, NULL);
		if (k->at_us < settled_us || before != after) {
			cellthread__v1__alarm_kpi__free_unpacked(k, NULL);
			continue;
		}
		const Cellthread__V1__PositionKpi *p = NULL;
		for (size_t i = 0; i < k->n_positions; i++)
			if (strcmp(k->positions[i]->team, "kpi") == 0)
				p = k->positions[i];
		if (p == NULL) { /* (fail_msg is not known to end the function) */
			fail_msg("no position 'kpi' in the AlarmKpi message");
			return;
		}
		assert_int_equal(
		        p->alarms_last_day,
		        alert_it_count(
		                h, "SELECT alarms_24h FROM alert_kpi_position WHERE team = 'kpi'",
		                0, NULL));
		assert_int_equal(p->alarms_last_day, 3);
		assert_int_equal(p->alarms_last_10min, 3);
		assert_false(p->in_flood);
		assert_int_equal(k->standing, after);
		/* Of this test's three: K1 stands, K2 cleared, K3 shelved. */
		assert_int_equal(
		        alert_it_count(
		                h,
		                "SELECT count(*) FROM alert WHERE alert_id IN ($1, $2, $3)"
		                " AND state IN ('ACTIVE_UNACK', 'ACTIVE_ACK') AND shelved = ''"
		                " AND NOT suppressed AND NOT out_of_service",
		                3, (const char *[]){ids[0], ids[1], ids[2]}),
		        1);
		assert_true(k->shelved >= 1);
		matched = true;
		cellthread__v1__alarm_kpi__free_unpacked(k, NULL);
	}
	assert_true(matched);
	ct_mqtt_free(gate);
	ct_mqtt_free(cli);
	harness_sub_free(team);
	harness_sub_free(kpis);
	harness_sub_free(replies);
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("alert-floods", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_escalation, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_flood, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_chattering, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_chatter_auto_shelve, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_sources, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_kpi, harness_test_setup,
	                                        harness_test_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
