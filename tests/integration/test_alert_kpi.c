/* test_alert_kpi: the alarm KPI views and the delivery outbox of migration 0009 (issue 12),
 * on the real database, with rows written straight into alert, alert_transition,
 * alert_delivery and alert_position_flood as alert-router writes them.
 *
 * test_kpi_figures: a scenario whose every figure was computed by hand (below), against
 * alert_kpi_position, alert_kpi_rate_10min / _hour / _day, alert_kpi_top10,
 * alert_kpi_chattering, alert_kpi_standing, alert_kpi_stale and alert_kpi_response.
 *
 * Times: T0 = the UTC hour 6 h before now (7 h when that hour is 23:00, so T0 .. T0+66 min
 * stay in one UTC day); alarms at T0 + minutes. Teams (operator positions): cell (two
 * subscriptions, MQTT and a webhook: each alarm counts once), pack, line (no alarms), gone
 * (subscription removed: not listed). Keys are spc-gate / code / station S/line/station.
 *
 *  key  code          station   raised (min)            state (ack s, clear s)     teams
 *  K1   SPC_NELSON_4  L1/FILL   0, 0.5, 0.9, 30         NORMAL (30,20) (60,10)     cell
 *                               (4 occurrences)          (120,15), ACTIVE_UNACK;
 *                                                        #3 flagged chattering
 *  K2   SPC_NELSON_2  L1/COAT   1, 3, 5                 NORMAL (60,30) x2,         cell;
 *                                                        ACTIVE_ACK (40,-)          #3 pack too
 *  K3   C03           L1/FILL   2                       NORMAL (300,100)           cell
 *  K4   C04           L1/ST04   4                       CLEARED_UNACK (-,30)       cell
 *  K5   C05           L1/ST05   6                       ACTIVE_UNACK, shelved      cell
 *  K6-8 C06..C08      L1/ST0x   7, 8, 9                 NORMAL (60,30)             cell
 *  K15  C15           L1/ST15   9.5                     NORMAL; delivery skipped   cell
 *                                                        'flood: ...' (counts)
 *  K9   C09           L1/ST09   12                      NORMAL, flagged chattering cell
 *  K10  C10           L1/ST10   15                      ACTIVE_UNACK, suppressed   cell
 *  K11  C11           L1/ST11   18                      NORMAL (60,30)             cell
 *  K14  C14           L1/ST14   20                      NORMAL; delivery skipped   (cell)
 *                                                        'delay-on: ...' (no count)
 *  K16  C16           L1/ST16   25                      ACTIVE_UNACK; delivery due (cell)
 *                                                        in 1 h (delay-on: no count)
 *  K17  C17           L1/ST17   now - 30 h              ACTIVE_ACK (120,-)         cell
 *  K12  C12           L2/ST12   5                       ACTIVE_UNACK               pack
 *  K13  C13           L2/ST13   65                      NORMAL (200,50)            pack
 *  K18  C18           L2/ST18   66                      ACTIVE_ACK (90,-)          pack
 *  plus an ACK of K1#1 delivered to cell (not an alarm).
 *  floods: cell T0+5 .. T0+41 min (36 min); cell now-40 h .. now-39 h (outside the 24 h);
 *          pack now-25 h .. now-23 h (1 h inside the window).
 *
 * Hand computation (window: the last 24 h):
 *  cell alarms: K1 x4 + K2 x3 + K3..K8 (6) + K15 + K9..K11 (3)          = 17
 *    10-min periods: [T0,+10) K1 x3, K2 x3, K3..K8, K15                  = 13 (flood)
 *                    [+10,+20) K9, K10, K11 = 3 (over-demanding); [+30,+40) K1#4 = 1
 *                    (acceptable); and K17's period 30 h ago = 1 (all-time views only)
 *    avg per 10 min 17/144 = 0.118056 (acceptable), per hour 17/24 = 0.708333
 *    peak 13 at T0; periods over 10: 1 -> 1/144 = 0.694444 %
 *    time in flood 36 min / 1440 min = 2.5 %; floods 1
 *    per hour: T0 17 (and 1 at K17's hour); per day: T0's day 17 (and 1 the day before)
 *  pack alarms: K12 (5), K2#3 (5), K13 (65), K18 (66)                    = 4
 *    periods [T0,+10) 2 and [+60,+70) 2 (both manageable); peak 2 at T0 (earliest of the tie)
 *    per hour 2 and 2; per day 4; avg 4/144 = 0.027778, 4/24 = 0.166667
 *    time in flood 1 h / 24 h = 4.1667 % (to a few ms of the two now()s)
 *  line: 0 alarms, peak 0 (no period), 0 % in flood
 *  top 10 (each occurrence once, all teams): 17 + K12, K13, K18          = 20
 *    K1 4 (20 %), K2 3 (15 %), then the singles by key: C03 .. C10 (ranks 3..10)
 *    top-10 share (4 + 3 + 8) / 20 = 75 %
 *  chattering: K1 (RAISEs at 0, 30 s, 54 s: 3 in 60 s; 4 activations; flagged) and K9
 *    (flagged by the router, 1 activation); K2 (2 min apart) not
 *  standing: K1#4, K2#3, K5, K10, K12, K16, K17, K18 = 8 rows; counted 6 (K5 shelved, K10
 *    suppressed are not on display)
 *  stale: K17 only (active 30 h = 108000 s)
 *  response (percentile_cont: position 1 + p (n - 1), interpolated):
 *    code SPC_NELSON_4: 4 occurrences; ack 30, 60, 120: avg 70, p50 60, p90 60 + .8 x 60 =
 *      108; clear 20, 10, 15: avg 15, p50 15, p90 15 + .8 x 5 = 19
 *    station S/L1/FILL (K1 and K3): 5; ack 30, 60, 120, 300: avg 127.5, p50 90,
 *      p90 120 + .7 x 180 = 246; clear 10, 15, 20, 100: avg 36.25, p50 17.5,
 *      p90 20 + .7 x 80 = 76
 *    team pack: 4; ack 40, 90, 200: avg 110, p50 90, p90 90 + .8 x 110 = 178; clear 50 (1)
 *
 * test_deliveries_due: ct_alert_deliveries_due('webhook', n) on a second scenario (times in
 * seconds from now; subscriptions d-plain without delays, d-hyst with delay-on 10 s and
 * delay-off 30 s, d-log on another channel):
 *  A  RAISE (retry due in 1 h) then CLEAR: neither returned (order per key), the CLEAR once
 *     the RAISE is delivered
 *  B  RAISE with not_before in 1 h: not returned until not_before passes
 *  C1 raised -100, cleared -95 (5 s < delay-on 10): RAISE skipped 'delay-on: cleared within
 *     10 s' and its CLEAR with it; C2 cleared after 20 s: its RAISE returned
 *  D  cleared -120, raised again -100 (20 s < delay-off 30): the CLEAR and the new RAISE
 *     skipped 'delay-off: returned within 30 s'
 *  E  cleared -200, raised again -150 (50 s): CLEAR returned, the new RAISE only after it
 *  a due row of the log channel is not returned for webhook; p_limit 1 gives the oldest.
 * test_cli_mqtt: `cellthread alerts follow` (team JSON and AlertEvent streams) and the
 * requests (shelve with --until and --as, a refused ack: exit 4, subs add, no answer: exit 1
 * after 10 s) against a stand-in for alert-router on the real broker with the registry's ACL:
 * topics, fields, reply topic and exit codes.
 * test_kpi_figures also runs `cellthread alerts kpi|list|show --json` as the cli login and
 * finds the same figures.
 * Also: NOTIFY ct_alert_delivery for webhook rows only, one active record per key, and the
 * grants (ct_alert, the cli login of ct_reader). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellthread/v1/alert.pb-c.h"
#include "ct_error.h"
#include "ct_pb.h"
#include "ct_time.h"
#include "harness.h"
#include "sql_check.h"

#define exec_or_fail(conn, sql) assert_int_equal(harness_pg_exec(conn, sql), CT_OK)

/* The KPI scenario (the table above), as ct_admin. */
static const char kpi_setup_sql[] =
        "CREATE TABLE kpi_anchor AS\n"
        "    SELECT CASE WHEN extract(hour FROM b AT TIME ZONE 'UTC') = 23 THEN b - interval '1 "
        "hour'\n"
        "                ELSE b END AS t0\n"
        "    FROM (SELECT date_bin('1 hour', now() - interval '6 hours',\n"
        "                          timestamptz '2000-01-01 00:00+00') AS b) x;\n"
        "CREATE FUNCTION kt(m double precision) RETURNS timestamptz LANGUAGE sql\n"
        "    AS $$ SELECT t0 + m * interval '1 minute' FROM kpi_anchor $$;\n"
        "CREATE FUNCTION kpi_alert(p_id text, p_code text, p_station text, p_occ int, p_at "
        "timestamptz,\n"
        "                          p_state text, p_ack_s double precision, p_clear_s double "
        "precision)\n"
        "RETURNS void LANGUAGE sql AS $$\n"
        "    INSERT INTO alert (alert_id, source, code, object_kind, object_id, occurrence, site, "
        "line,\n"
        "                       station, severity, text, state, raised_at, last_seen_at, "
        "acked_at,\n"
        "                       acked_by, cleared_at, closed_at)\n"
        "    VALUES (p_id, 'spc-gate', p_code, 'station', 'S/' || p_station, p_occ, 'S',\n"
        "            split_part(p_station, '/', 1), split_part(p_station, '/', 2), 3, p_code, "
        "p_state,\n"
        "            p_at, p_at, p_at + p_ack_s * interval '1 second',\n"
        "            CASE WHEN p_ack_s IS NOT NULL THEN 'op' END,\n"
        "            p_at + p_clear_s * interval '1 second',\n"
        "            CASE WHEN p_state = 'NORMAL'\n"
        "                 THEN p_at + greatest(p_ack_s, p_clear_s) * interval '1 second' END);\n"
        "    INSERT INTO alert_transition (alert_id, seq, action, from_state, to_state, at, "
        "event_id)\n"
        "    VALUES (p_id, 1, 'RAISE', 'NORMAL', 'ACTIVE_UNACK', p_at, 'ev-' || p_id);\n"
        "$$;\n"
        "-- The RAISE of p_id for p_sub: delivered at the raise unless skipped or not due yet.\n"
        "CREATE FUNCTION kpi_deliver(p_id text, p_sub text, p_skipped text DEFAULT NULL,\n"
        "                            p_not_before timestamptz DEFAULT NULL)\n"
        "RETURNS void LANGUAGE sql AS $$\n"
        "    INSERT INTO alert_delivery (delivery_id, subscription_id, alert_id, transition_seq, "
        "target,\n"
        "                                payload, not_before, delivered_at, skipped)\n"
        "    SELECT p_id || ':1:' || p_sub, p_sub, p_id, 1, s.target, '{}',\n"
        "           coalesce(p_not_before, a.raised_at),\n"
        "           CASE WHEN p_skipped IS NULL AND p_not_before IS NULL THEN a.raised_at END, "
        "p_skipped\n"
        "    FROM alert a, alert_subscription s WHERE a.alert_id = p_id AND s.subscription_id = "
        "p_sub;\n"
        "$$;\n"
        "CREATE FUNCTION kpi_cell(p_id text, p_skipped text DEFAULT NULL,\n"
        "                         p_not_before timestamptz DEFAULT NULL)\n"
        "RETURNS void LANGUAGE sql AS $$\n"
        "    SELECT kpi_deliver(p_id, 'k-cell-mqtt', p_skipped, p_not_before);\n"
        "    SELECT kpi_deliver(p_id, 'k-cell-hook', p_skipped, p_not_before);\n"
        "$$;\n"
        "\n"
        "INSERT INTO alert_subscription (subscription_id, team, channel, target) VALUES\n"
        "    ('k-cell-mqtt', 'cell', 'mqtt', ''), ('k-cell-hook', 'cell', 'webhook', "
        "'http://127.0.0.1:9/h'),\n"
        "    ('k-pack', 'pack', 'mqtt', ''), ('k-line', 'line', 'log', ''), ('k-gone', 'gone', "
        "'mqtt', '');\n"
        "UPDATE alert_subscription SET removed_at = now() WHERE subscription_id = 'k-gone';\n"
        "\n"
        "-- team cell\n"
        "SELECT kpi_alert('al-k1-1', 'SPC_NELSON_4', 'L1/FILL', 1, kt(0), 'NORMAL', 30, 20);\n"
        "SELECT kpi_alert('al-k1-2', 'SPC_NELSON_4', 'L1/FILL', 2, kt(0.5), 'NORMAL', 60, 10);\n"
        "SELECT kpi_alert('al-k1-3', 'SPC_NELSON_4', 'L1/FILL', 3, kt(0.9), 'NORMAL', 120, 15);\n"
        "SELECT kpi_alert('al-k1-4', 'SPC_NELSON_4', 'L1/FILL', 4, kt(30), 'ACTIVE_UNACK', NULL, "
        "NULL);\n"
        "SELECT kpi_alert('al-k2-1', 'SPC_NELSON_2', 'L1/COAT', 1, kt(1), 'NORMAL', 60, 30);\n"
        "SELECT kpi_alert('al-k2-2', 'SPC_NELSON_2', 'L1/COAT', 2, kt(3), 'NORMAL', 60, 30);\n"
        "SELECT kpi_alert('al-k2-3', 'SPC_NELSON_2', 'L1/COAT', 3, kt(5), 'ACTIVE_ACK', 40, "
        "NULL);\n"
        "SELECT kpi_alert('al-k3', 'C03', 'L1/FILL', 1, kt(2), 'NORMAL', 300, 100);\n"
        "SELECT kpi_alert('al-k4', 'C04', 'L1/ST04', 1, kt(4), 'CLEARED_UNACK', NULL, 30);\n"
        "SELECT kpi_alert('al-k5', 'C05', 'L1/ST05', 1, kt(6), 'ACTIVE_UNACK', NULL, NULL);\n"
        "SELECT kpi_alert('al-k6', 'C06', 'L1/ST06', 1, kt(7), 'NORMAL', 60, 30);\n"
        "SELECT kpi_alert('al-k7', 'C07', 'L1/ST07', 1, kt(8), 'NORMAL', 60, 30);\n"
        "SELECT kpi_alert('al-k8', 'C08', 'L1/ST08', 1, kt(9), 'NORMAL', 60, 30);\n"
        "SELECT kpi_alert('al-k15', 'C15', 'L1/ST15', 1, kt(9.5), 'NORMAL', 60, 30);\n"
        "SELECT kpi_alert('al-k9', 'C09', 'L1/ST09', 1, kt(12), 'NORMAL', 60, 30);\n"
        "SELECT kpi_alert('al-k10', 'C10', 'L1/ST10', 1, kt(15), 'ACTIVE_UNACK', NULL, NULL);\n"
        "SELECT kpi_alert('al-k11', 'C11', 'L1/ST11', 1, kt(18), 'NORMAL', 60, 30);\n"
        "SELECT kpi_alert('al-k14', 'C14', 'L1/ST14', 1, kt(20), 'NORMAL', 60, 5);\n"
        "SELECT kpi_alert('al-k16', 'C16', 'L1/ST16', 1, kt(25), 'ACTIVE_UNACK', NULL, NULL);\n"
        "SELECT kpi_alert('al-k17', 'C17', 'L1/ST17', 1, now() - interval '30 hours', "
        "'ACTIVE_ACK', 120,\n"
        "                 NULL);\n"
        "UPDATE alert SET chattering = true WHERE alert_id IN ('al-k1-3', 'al-k9');\n"
        "UPDATE alert SET shelved = 'ONE_SHOT' WHERE alert_id = 'al-k5';\n"
        "UPDATE alert SET suppressed = true WHERE alert_id = 'al-k10';\n"
        "SELECT kpi_cell(id) FROM unnest(ARRAY['al-k1-1', 'al-k1-2', 'al-k1-3', 'al-k1-4', "
        "'al-k2-1',\n"
        "    'al-k2-2', 'al-k2-3', 'al-k3', 'al-k4', 'al-k5', 'al-k6', 'al-k7', 'al-k8', 'al-k9',\n"
        "    'al-k10', 'al-k11', 'al-k17']) AS id;\n"
        "SELECT kpi_cell('al-k15', 'flood: in the summary of the flood');\n"
        "SELECT kpi_cell('al-k14', 'delay-on: cleared within 10 s');\n"
        "SELECT kpi_cell('al-k16', NULL, now() + interval '1 hour');\n"
        "-- An acknowledgement delivered to cell: not an alarm.\n"
        "INSERT INTO alert_transition (alert_id, seq, action, from_state, to_state, at, actor, "
        "reason)\n"
        "    VALUES ('al-k1-1', 2, 'ACK', 'CLEARED_UNACK', 'NORMAL', kt(0.5), 'op', 'seen');\n"
        "INSERT INTO alert_delivery (delivery_id, subscription_id, alert_id, transition_seq, "
        "not_before,\n"
        "                            delivered_at)\n"
        "    VALUES ('al-k1-1:2:k-cell-mqtt', 'k-cell-mqtt', 'al-k1-1', 2, kt(0.5), kt(0.5));\n"
        "\n"
        "-- team pack\n"
        "SELECT kpi_alert('al-k12', 'C12', 'L2/ST12', 1, kt(5), 'ACTIVE_UNACK', NULL, NULL);\n"
        "SELECT kpi_alert('al-k13', 'C13', 'L2/ST13', 1, kt(65), 'NORMAL', 200, 50);\n"
        "SELECT kpi_alert('al-k18', 'C18', 'L2/ST18', 1, kt(66), 'ACTIVE_ACK', 90, NULL);\n"
        "SELECT kpi_deliver(id, 'k-pack') FROM unnest(ARRAY['al-k12', 'al-k13', 'al-k18', "
        "'al-k2-3']) AS id;\n"
        "\n"
        "-- floods\n"
        "INSERT INTO alert_position_flood (team, started_at, ended_at) VALUES\n"
        "    ('cell', kt(5), kt(41)),\n"
        "    ('cell', now() - interval '40 hours', now() - interval '39 hours'),\n"
        "    ('pack', now() - interval '25 hours', now() - interval '23 hours');\n";

/* The deliveries scenario (above). */
static const char due_setup_sql[] =
        "INSERT INTO alert_subscription (subscription_id, team, channel, target, delay_on_s, "
        "delay_off_s)\n"
        "VALUES ('d-plain', 'due', 'webhook', 'http://127.0.0.1:9/plain', 0, 0),\n"
        "       ('d-hyst', 'due', 'webhook', 'http://127.0.0.1:9/hyst', 10, 30),\n"
        "       ('d-log', 'due', 'log', '', 0, 0);\n"
        "CREATE FUNCTION due_alert(p_id text, p_code text, p_occ int, p_raised_s int, p_cleared_s "
        "int)\n"
        "RETURNS void LANGUAGE sql AS $$\n"
        "    INSERT INTO alert (alert_id, source, code, object_kind, object_id, occurrence, "
        "severity,\n"
        "                       state, raised_at, cleared_at)\n"
        "    VALUES (p_id, 'due-test', p_code, 'service', 'due/1', p_occ, 4,\n"
        "            CASE WHEN p_cleared_s IS NULL THEN 'ACTIVE_UNACK' ELSE 'CLEARED_UNACK' END,\n"
        "            now() + p_raised_s * interval '1 second', now() + p_cleared_s * interval '1 "
        "second');\n"
        "    INSERT INTO alert_transition (alert_id, seq, action, at)\n"
        "    VALUES (p_id, 1, 'RAISE', now() + p_raised_s * interval '1 second');\n"
        "    INSERT INTO alert_transition (alert_id, seq, action, at)\n"
        "    SELECT p_id, 2, 'CLEAR', now() + p_cleared_s * interval '1 second'\n"
        "    WHERE p_cleared_s IS NOT NULL;\n"
        "$$;\n"
        "-- A delivery of transition seq of p_id to p_sub, written at created_s (seconds from "
        "now), due\n"
        "-- at not_before_s; delay columns come from the subscription (the trigger).\n"
        "CREATE FUNCTION due_row(p_id text, p_seq int, p_sub text, p_created_s int, p_not_before_s "
        "int,\n"
        "                        p_next_attempt_s int DEFAULT NULL)\n"
        "RETURNS void LANGUAGE sql AS $$\n"
        "    INSERT INTO alert_delivery (delivery_id, subscription_id, alert_id, transition_seq,\n"
        "                                created_at, not_before, next_attempt_at)\n"
        "    VALUES (p_id || ':' || p_seq || ':' || p_sub, p_sub, p_id, p_seq,\n"
        "            now() + p_created_s * interval '1 second', now() + p_not_before_s * interval "
        "'1 second',\n"
        "            now() + coalesce(p_next_attempt_s, p_created_s) * interval '1 second');\n"
        "$$;\n"
        "-- A: order per key; the head waits for its retry (next attempt in an hour).\n"
        "SELECT due_alert('al-a1', 'A', 1, -300, -200);\n"
        "SELECT due_row('al-a1', 1, 'd-plain', -300, -300, 3600);\n"
        "SELECT due_row('al-a1', 2, 'd-plain', -200, -200);\n"
        "-- B: not due before not_before.\n"
        "SELECT due_alert('al-b1', 'B', 1, -250, NULL);\n"
        "SELECT due_row('al-b1', 1, 'd-plain', -250, 3600);\n"
        "-- C: delay-on 10 s; C1 cleared after 5 s (skipped with its CLEAR), C2 after 20 s "
        "(delivered).\n"
        "SELECT due_alert('al-c1', 'C1', 1, -100, -95);\n"
        "SELECT due_row('al-c1', 1, 'd-hyst', -100, -90);\n"
        "SELECT due_row('al-c1', 2, 'd-hyst', -95, -65);\n"
        "SELECT due_alert('al-c2', 'C2', 1, -100, -80);\n"
        "SELECT due_row('al-c2', 1, 'd-hyst', -100, -90);\n"
        "-- D: delay-off 30 s; cleared at -120, back at -100 (20 s): the CLEAR and the new RAISE "
        "skipped.\n"
        "SELECT due_alert('al-d1', 'D', 1, -200, -120);\n"
        "SELECT due_row('al-d1', 1, 'd-hyst', -200, -190);\n"
        "UPDATE alert_delivery SET delivered_at = now() - interval '190 seconds'\n"
        "    WHERE delivery_id = 'al-d1:1:d-hyst';\n"
        "SELECT due_row('al-d1', 2, 'd-hyst', -120, -90);\n"
        "SELECT due_alert('al-d2', 'D', 2, -100, NULL);\n"
        "SELECT due_row('al-d2', 1, 'd-hyst', -100, -90);\n"
        "-- E: delay-off 30 s; cleared at -200, back at -150 (50 s): both delivered, in order.\n"
        "SELECT due_alert('al-e1', 'E', 1, -300, -200);\n"
        "SELECT due_row('al-e1', 1, 'd-hyst', -300, -290);\n"
        "UPDATE alert_delivery SET delivered_at = now() - interval '290 seconds'\n"
        "    WHERE delivery_id = 'al-e1:1:d-hyst';\n"
        "SELECT due_row('al-e1', 2, 'd-hyst', -200, -170);\n"
        "SELECT due_alert('al-e2', 'E', 2, -150, NULL);\n"
        "SELECT due_row('al-e2', 1, 'd-hyst', -150, -140);\n"
        "-- Another channel's due row.\n"
        "SELECT due_row('al-b1', 1, 'd-log', -400, -400);\n";

static long long count(struct harness *h, const char *sql)
{
	long long n = -1;

	assert_int_equal(harness_sql_long(h, sql, 0, NULL, &n), CT_OK);
	return n;
}

#define EXACT 1e-9

/* The JSON a CLI command that must succeed prints (json_decref it). */
static json_t *cli_json(struct harness *h, const char *const *args)
{
	char *out = NULL;
	json_error_t err;
	json_t *v;

	assert_int_equal(harness_cli(h, "cli", args, &out), 0);
	v = json_loads(out, 0, &err);
	if (v == NULL)
		fail_msg("not JSON (%s): %s", err.text, out);
	free(out);
	return v;
}

/* The CLI reads the same figures through the reader login. */
static void check_cli(struct harness *h)
{
	static const char *const kpi[] = {"alerts", "kpi", "--json", NULL};
	static const char *const open_spc[] = {"alerts", "--code", "SPC_*", "--json", NULL};
	static const char *const all_fill[] = {"alerts",    "list",   "--all",
	                                       "--station", "FILL",   "--severity",
	                                       "medium",    "--json", NULL};
	static const char *const show[] = {"alerts", "show", "al-k1-1", "--json", NULL};
	static const char *const unknown[] = {"alerts", "show", "al-none", NULL};
	static const char *const no_reason[] = {"alerts", "ack", "al-k1-4", NULL};
	static const char *const bad_until[] = {"alerts", "shelve",  "al-k1-4", "--reason",
	                                        "x",      "--until", "soon",    NULL};
	json_t *v, *pos;
	size_t i;

	v = cli_json(h, kpi);
	json_array_foreach(
	        json_object_get(v, "positions"), i,
	        pos) if (strcmp(json_string_value(json_object_get(pos, "team")), "cell") == 0)
	{
		assert_int_equal(json_integer_value(json_object_get(pos, "alarms_24h")), 17);
		assert_int_equal(json_integer_value(json_object_get(pos, "peak_10min")), 13);
	}
	assert_int_equal(json_array_size(json_object_get(v, "positions")), 3);
	assert_int_equal(json_array_size(json_object_get(v, "standing")), 8);
	assert_int_equal(json_array_size(json_object_get(v, "stale")), 1);
	assert_int_equal(json_array_size(json_object_get(v, "chattering")), 2);
	assert_int_equal(json_array_size(json_object_get(v, "top10")), 10);
	json_decref(v);
	/* Open (not NORMAL) alerts whose code matches SPC_*: K1#4 and K2#3. */
	v = cli_json(h, open_spc);
	assert_int_equal(json_array_size(v), 2);
	json_decref(v);
	/* Every occurrence on the FILL stations: K1 x4 and K3. */
	v = cli_json(h, all_fill);
	assert_int_equal(json_array_size(v), 5);
	json_decref(v);
	v = cli_json(h, show);
	assert_string_equal(json_string_value(json_object_get(v, "state")), "NORMAL");
	assert_int_equal(json_array_size(json_object_get(v, "transitions")), 2);
	json_decref(v);
	assert_int_equal(harness_cli(h, "cli", unknown, NULL), 3);
	assert_int_equal(harness_cli(h, "cli", no_reason, NULL), 2);
	assert_int_equal(harness_cli(h, "cli", bad_until, NULL), 2);
}

static void test_kpi_figures(void **state)
{
	struct harness *h = *state;

	exec_or_fail(h->pg, kpi_setup_sql);

	/* Per position over the last 24 h. */
	assert_int_equal(count(h, "SELECT count(*) FROM alert_kpi_position"), 3);
	assert_int_equal(count(h, "SELECT count(*) FROM alert_kpi_position WHERE team = 'gone'"),
	                 0);
#define POS(team, col) "SELECT " col " FROM alert_kpi_position WHERE team = '" team "'"
	sql_figure(h, POS("cell", "alarms_24h"), 17, 0);
	sql_figure(h, POS("cell", "avg_per_10min"), 17.0 / 144, EXACT);
	sql_figure(h, POS("cell", "avg_per_hour"), 17.0 / 24, EXACT);
	sql_figure(h, POS("cell", "peak_10min"), 13, 0);
	assert_int_equal(count(h, POS("cell", "count(*)") " AND peak_10min_start = kt(0)"), 1);
	sql_figure(h, POS("cell", "periods_10min_flood"), 1, 0);
	sql_figure(h, POS("cell", "pct_10min_flood"), 100.0 / 144, EXACT);
	sql_figure(h, POS("cell", "floods"), 1, 0);
	sql_figure(h, POS("cell", "pct_time_in_flood"), 2.5, EXACT);
	sql_text_is(h, POS("cell", "rating"), "acceptable");
	sql_figure(h, POS("cell", "target_per_10min_acceptable"), 1, 0);
	sql_figure(h, POS("cell", "target_per_10min_manageable"), 2, 0);
	sql_figure(h, POS("cell", "target_per_hour_acceptable"), 6, 0);
	sql_figure(h, POS("cell", "target_per_day_manageable"), 300, 0);
	sql_figure(h, POS("cell", "target_peak_10min"), 10, 0);
	sql_figure(h, POS("cell", "target_pct_time_in_flood"), 1, 0);
	sql_figure(h, POS("pack", "alarms_24h"), 4, 0);
	sql_figure(h, POS("pack", "avg_per_10min"), 4.0 / 144, EXACT);
	sql_figure(h, POS("pack", "avg_per_hour"), 4.0 / 24, EXACT);
	sql_figure(h, POS("pack", "peak_10min"), 2, 0);
	assert_int_equal(count(h, POS("pack", "count(*)") " AND peak_10min_start = kt(0)"), 1);
	sql_figure(h, POS("pack", "periods_10min_flood"), 0, 0);
	sql_figure(h, POS("pack", "floods"), 1, 0);
	/* 1 h of 24, less the milliseconds between the insert's now() and the view's. */
	sql_figure(h, POS("pack", "pct_time_in_flood"), 100.0 / 24, 0.01);
	sql_figure(h, POS("line", "alarms_24h"), 0, 0);
	sql_figure(h, POS("line", "peak_10min"), 0, 0);
	sql_text_is(h, POS("line", "peak_10min_start"), "NULL");
	sql_figure(h, POS("line", "pct_time_in_flood"), 0, 0);
#undef POS

	/* Per period, all history. */
	assert_int_equal(count(h, "SELECT count(*) FROM alert_kpi_rate_10min WHERE team = 'cell'"),
	                 4);
#define R10(team, min, col)                                                                        \
	"SELECT " col " FROM alert_kpi_rate_10min WHERE team = '" team                             \
	"' AND period_start = kt(" min ")"
	sql_figure(h, R10("cell", "0", "alarms"), 13, 0);
	sql_text_is(h, R10("cell", "0", "rating"), "flood");
	sql_figure(h, R10("cell", "10", "alarms"), 3, 0);
	sql_text_is(h, R10("cell", "10", "rating"), "over-demanding");
	sql_figure(h, R10("cell", "30", "alarms"), 1, 0);
	sql_text_is(h, R10("cell", "30", "rating"), "acceptable");
	sql_figure(h,
	           "SELECT alarms FROM alert_kpi_rate_10min WHERE team = 'cell'"
	           " AND period_start < now() - interval '24 hours'",
	           1, 0);
	assert_int_equal(count(h, "SELECT count(*) FROM alert_kpi_rate_10min WHERE team = 'pack'"),
	                 2);
	sql_figure(h, R10("pack", "0", "alarms"), 2, 0);
	sql_text_is(h, R10("pack", "0", "rating"), "manageable");
	sql_figure(h, R10("pack", "60", "alarms"), 2, 0);
	sql_text_is(h, R10("pack", "60", "rating"), "manageable");
#undef R10
	sql_figure(h,
	           "SELECT alarms FROM alert_kpi_rate_hour WHERE team = 'cell' AND period_start = "
	           "kt(0)",
	           17, 0);
	sql_figure(h,
	           "SELECT alarms FROM alert_kpi_rate_hour WHERE team = 'pack' AND period_start = "
	           "kt(0)",
	           2, 0);
	sql_figure(h,
	           "SELECT alarms FROM alert_kpi_rate_hour WHERE team = 'pack' AND period_start = "
	           "kt(60)",
	           2, 0);
	assert_int_equal(count(h, "SELECT count(*) FROM alert_kpi_rate_hour"), 4);
	sql_figure(h,
	           "SELECT alarms FROM alert_kpi_rate_day WHERE team = 'cell' AND period_start <= "
	           "kt(0)"
	           " AND period_end > kt(66)",
	           17, 0);
	sql_figure(h,
	           "SELECT alarms FROM alert_kpi_rate_day WHERE team = 'pack' AND period_start <= "
	           "kt(0)"
	           " AND period_end > kt(66)",
	           4, 0);
	sql_figure(h, "SELECT sum(alarms) FROM alert_kpi_rate_day WHERE team = 'cell'", 18, 0);
	assert_int_equal(count(h, "SELECT count(*) FROM alert_kpi_rate_day WHERE period_start"
	                          " <> date_trunc('day', period_start AT TIME ZONE 'UTC')"
	                          " AT TIME ZONE 'UTC'"),
	                 0);

	/* The 10 most frequent. */
	assert_int_equal(count(h, "SELECT count(*) FROM alert_kpi_top10"), 10);
	sql_figure(h, "SELECT total FROM alert_kpi_top10 WHERE rank = 1", 20, 0);
	sql_text_is(h, "SELECT code FROM alert_kpi_top10 WHERE rank = 1", "SPC_NELSON_4");
	sql_figure(h, "SELECT alarms FROM alert_kpi_top10 WHERE rank = 1", 4, 0);
	sql_figure(h, "SELECT share_pct FROM alert_kpi_top10 WHERE rank = 1", 20, EXACT);
	sql_text_is(h, "SELECT code FROM alert_kpi_top10 WHERE rank = 2", "SPC_NELSON_2");
	sql_figure(h, "SELECT share_pct FROM alert_kpi_top10 WHERE rank = 2", 15, EXACT);
	sql_text_is(h, "SELECT code FROM alert_kpi_top10 WHERE rank = 3", "C03");
	sql_text_is(h, "SELECT code FROM alert_kpi_top10 WHERE rank = 10", "C10");
	sql_figure(h, "SELECT share_pct FROM alert_kpi_top10 WHERE rank = 10", 5, EXACT);
	assert_int_equal(count(h, "SELECT count(*) FROM alert_kpi_top10"
	                          " WHERE top10_share_pct = 75 AND target_max_pct = 5"),
	                 10);

	/* Chattering. */
	assert_int_equal(count(h, "SELECT count(*) FROM alert_kpi_chattering"), 2);
	assert_int_equal(count(h, "SELECT count(*) FROM alert_kpi_chattering"
	                          " WHERE code = 'SPC_NELSON_4' AND object_id = 'S/L1/FILL'"
	                          " AND activations_24h = 4 AND max_in_60s = 3 AND flagged"
	                          " AND target_max = 0"),
	                 1);
	assert_int_equal(count(h, "SELECT count(*) FROM alert_kpi_chattering WHERE code = 'C09'"
	                          " AND activations_24h = 1 AND max_in_60s = 1 AND flagged"),
	                 1);

	/* Standing and stale. */
	assert_int_equal(count(h, "SELECT count(*) FROM alert_kpi_standing"), 8);
	assert_int_equal(count(h, "SELECT count(*) FROM alert_kpi_standing WHERE standing = 6"
	                          " AND target_max = 10"),
	                 8);
	assert_int_equal(count(h, "SELECT count(*) FROM alert_kpi_standing WHERE alert_id IN"
	                          " ('al-k1-4', 'al-k2-3', 'al-k5', 'al-k10', 'al-k12', 'al-k16',"
	                          " 'al-k17', 'al-k18')"),
	                 8);
	assert_int_equal(count(h, "SELECT count(*) FROM alert_kpi_stale"), 1);
	assert_int_equal(count(h, "SELECT count(*) FROM alert_kpi_stale WHERE alert_id = 'al-k17'"
	                          " AND stale = 1 AND target_max = 5"),
	                 1);
	sql_figure(h, "SELECT active_s FROM alert_kpi_stale", 108000, 60);

	/* Time to acknowledge and to clear. */
#define RESP(dim, value, col)                                                                      \
	"SELECT " col " FROM alert_kpi_response WHERE dimension = '" dim "' AND value = '" value "'"
	sql_figure(h, RESP("code", "SPC_NELSON_4", "occurrences"), 4, 0);
	sql_figure(h, RESP("code", "SPC_NELSON_4", "acked"), 3, 0);
	sql_figure(h, RESP("code", "SPC_NELSON_4", "ack_avg_s"), 70, 1e-6);
	sql_figure(h, RESP("code", "SPC_NELSON_4", "ack_p50_s"), 60, 1e-6);
	sql_figure(h, RESP("code", "SPC_NELSON_4", "ack_p90_s"), 108, 1e-6);
	sql_figure(h, RESP("code", "SPC_NELSON_4", "cleared"), 3, 0);
	sql_figure(h, RESP("code", "SPC_NELSON_4", "clear_avg_s"), 15, 1e-6);
	sql_figure(h, RESP("code", "SPC_NELSON_4", "clear_p50_s"), 15, 1e-6);
	sql_figure(h, RESP("code", "SPC_NELSON_4", "clear_p90_s"), 19, 1e-6);
	sql_figure(h, RESP("station", "S/L1/FILL", "occurrences"), 5, 0);
	sql_figure(h, RESP("station", "S/L1/FILL", "acked"), 4, 0);
	sql_figure(h, RESP("station", "S/L1/FILL", "ack_avg_s"), 127.5, 1e-6);
	sql_figure(h, RESP("station", "S/L1/FILL", "ack_p50_s"), 90, 1e-6);
	sql_figure(h, RESP("station", "S/L1/FILL", "ack_p90_s"), 246, 1e-6);
	sql_figure(h, RESP("station", "S/L1/FILL", "cleared"), 4, 0);
	sql_figure(h, RESP("station", "S/L1/FILL", "clear_avg_s"), 36.25, 1e-6);
	sql_figure(h, RESP("station", "S/L1/FILL", "clear_p50_s"), 17.5, 1e-6);
	sql_figure(h, RESP("station", "S/L1/FILL", "clear_p90_s"), 76, 1e-6);
	sql_figure(h, RESP("team", "pack", "occurrences"), 4, 0);
	sql_figure(h, RESP("team", "pack", "acked"), 3, 0);
	sql_figure(h, RESP("team", "pack", "ack_avg_s"), 110, 1e-6);
	sql_figure(h, RESP("team", "pack", "ack_p50_s"), 90, 1e-6);
	sql_figure(h, RESP("team", "pack", "ack_p90_s"), 178, 1e-6);
	sql_figure(h, RESP("team", "pack", "cleared"), 1, 0);
	sql_figure(h, RESP("team", "pack", "clear_avg_s"), 50, 1e-6);
	sql_figure(h, RESP("team", "pack", "clear_p90_s"), 50, 1e-6);
#undef RESP

	/* The reader login (the CLI) sees the KPIs; ct_quality may change a target. */
	{
		PGconn *cli = harness_pg_connect(h, "cli");
		PGconn *quality = harness_pg_connect(h, "quality");
		PGresult *res;

		assert_non_null(cli);
		assert_non_null(quality);
		exec_or_fail(cli, "SELECT * FROM alert_kpi_position");
		exec_or_fail(cli, "SELECT * FROM alert_kpi_response");
		res = PQexec(cli, "UPDATE alert_kpi_target SET value = 3"
		                  " WHERE name = 'per_10min_acceptable'");
		assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
		assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE), "42501");
		PQclear(res);
		exec_or_fail(quality, "UPDATE alert_kpi_target SET value = 20"
		                      " WHERE name = 'per_10min_acceptable'");
		sql_figure(h,
		           "SELECT target_acceptable FROM alert_kpi_rate_10min WHERE team = 'cell'"
		           " AND period_start = kt(0)",
		           20, 0);
		exec_or_fail(quality, "UPDATE alert_kpi_target SET value = 1"
		                      " WHERE name = 'per_10min_acceptable'");
		PQfinish(cli);
		PQfinish(quality);
	}
	check_cli(h);
	harness_pass(h);
}

/* The delivery IDs ct_alert_deliveries_due returns for webhook, at most limit, in order,
 * joined by spaces. */
static const char *due(struct harness *h, int limit, char *buf, size_t len)
{
	char lim[16];
	const char *params[] = {lim};
	PGresult *res = NULL;
	size_t used = 0;

	snprintf(lim, sizeof(lim), "%d", limit);
	assert_int_equal(harness_sql(h,
	                             "SELECT delivery_id FROM ct_alert_deliveries_due('webhook',"
	                             " $1::int)",
	                             1, params, &res),
	                 CT_OK);
	buf[0] = '\0';
	for (int i = 0; i < PQntuples(res); i++) {
		int n = snprintf(buf + used, len - used, "%s%s", i ? " " : "",
		                 PQgetvalue(res, i, 0));
		assert_true(n >= 0 && (size_t)n < len - used);
		used += (size_t)n;
	}
	PQclear(res);
	return buf;
}

static void expect_skipped(struct harness *h, const char *delivery_id, const char *reason)
{
	const char *params[] = {delivery_id};
	PGresult *res = NULL;

	assert_int_equal(harness_sql(h, "SELECT skipped FROM alert_delivery WHERE delivery_id = $1",
	                             1, params, &res),
	                 CT_OK);
	assert_int_equal(PQntuples(res), 1);
	if (strcmp(PQgetvalue(res, 0, 0), reason) != 0)
		fail_msg("%s: skipped '%s', expected '%s'", delivery_id, PQgetvalue(res, 0, 0),
		         reason);
	PQclear(res);
}

/* Notifications waiting on the admin connection for channel. */
static int notifications(struct harness *h, const char *channel)
{
	PGnotify *n;
	int found = 0;

	assert_int_equal(PQconsumeInput(h->pg), 1);
	while ((n = PQnotifies(h->pg)) != NULL) {
		if (strcmp(n->relname, channel) == 0)
			found++;
		PQfreemem(n);
	}
	return found;
}

static void test_deliveries_due(void **state)
{
	struct harness *h = *state;
	char buf[512];

	exec_or_fail(h->pg, "LISTEN ct_alert_delivery");
	exec_or_fail(h->pg, due_setup_sql);
	/* The setup wrote webhook rows (one notification per statement) and a log row. */
	assert_true(notifications(h, "ct_alert_delivery") >= 1);
	exec_or_fail(h->pg, "INSERT INTO alert_delivery (delivery_id, subscription_id, alert_id,"
	                    " transition_seq) VALUES ('al-b1:1:log-again', 'd-log', 'al-b1', 1)");
	assert_int_equal(notifications(h, "ct_alert_delivery"), 0);
	exec_or_fail(h->pg, "UPDATE alert_delivery SET delivered_at = now()"
	                    " WHERE delivery_id = 'al-b1:1:log-again'");

	/* The oldest due row first; then all due: E's CLEAR (written -200), C2's RAISE (-100). */
	assert_string_equal(due(h, 1, buf, sizeof(buf)), "al-e1:2:d-hyst");
	assert_string_equal(due(h, 100, buf, sizeof(buf)), "al-e1:2:d-hyst al-c2:1:d-hyst");
	expect_skipped(h, "al-c1:1:d-hyst", "delay-on: cleared within 10 s");
	expect_skipped(h, "al-c1:2:d-hyst", "delay-on: raise not annunciated");
	expect_skipped(h, "al-d1:2:d-hyst", "delay-off: returned within 30 s");
	expect_skipped(h, "al-d2:1:d-hyst", "delay-off: returned within 30 s");
	assert_int_equal(count(h, "SELECT count(*) FROM alert_delivery WHERE skipped IS NOT NULL"
	                          " AND subscription_id LIKE 'd-%'"),
	                 4);
	/* The log channel's due row is left to its own worker. */
	assert_int_equal(count(h, "SELECT count(*) FROM alert_delivery WHERE delivery_id ="
	                          " 'al-b1:1:d-log' AND skipped IS NULL AND delivered_at IS NULL"),
	                 1);

	/* A's head delivered (its retry succeeded), B's not_before reached, E's CLEAR and C2's
	 * RAISE delivered: then B, A's CLEAR and E's new RAISE, oldest first. */
	exec_or_fail(h->pg, "UPDATE alert_delivery SET delivered_at = now() WHERE delivery_id IN"
	                    " ('al-a1:1:d-plain', 'al-e1:2:d-hyst', 'al-c2:1:d-hyst')");
	assert_string_equal(due(h, 100, buf, sizeof(buf)), "al-a1:2:d-plain al-e2:1:d-hyst");
	exec_or_fail(h->pg, "UPDATE alert_delivery SET not_before = now()"
	                    " WHERE delivery_id = 'al-b1:1:d-plain'");
	assert_string_equal(due(h, 100, buf, sizeof(buf)),
	                    "al-b1:1:d-plain al-a1:2:d-plain al-e2:1:d-hyst");
	/* A row given up on no longer holds its key back. */
	exec_or_fail(h->pg, "UPDATE alert_delivery SET gave_up_at = now()"
	                    " WHERE delivery_id = 'al-b1:1:d-plain'");
	assert_string_equal(due(h, 100, buf, sizeof(buf)), "al-a1:2:d-plain al-e2:1:d-hyst");

	/* One active record per key: a second active occurrence of E is refused. */
	{
		PGresult *res =
		        PQexec(h->pg, "INSERT INTO alert (alert_id, source, code,"
		                      " object_kind, object_id, occurrence, severity, state,"
		                      " raised_at) VALUES ('al-e3', 'due-test', 'E', 'service',"
		                      " 'due/1', 3, 4, 'ACTIVE_UNACK', now())");
		assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
		assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE), "23505");
		PQclear(res);
	}

	/* A key that disagrees with its columns is refused; tags written as NULL are '{}'. */
	{
		PGresult *res =
		        PQexec(h->pg, "INSERT INTO alert (alert_id, alert_key, source, code,"
		                      " object_kind, object_id, occurrence, severity, state,"
		                      " raised_at) VALUES ('al-x', 'due-test|X|service|due/1',"
		                      " 'due-test', 'X', 'service', 'due/1', 1, 4, 'NORMAL',"
		                      " now())");
		assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
		assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE), "23514");
		PQclear(res);
		exec_or_fail(h->pg,
		             "INSERT INTO alert (alert_id, source, code, object_kind, object_id,"
		             " occurrence, severity, state, raised_at, tags) VALUES ('al-x',"
		             " 'due-test', 'X', 'service', 'due/1', 1, 4, 'NORMAL', now(), NULL)");
		assert_int_equal(
		        count(h, "SELECT count(*) FROM alert WHERE alert_id = 'al-x'"
		                 " AND tags = '{}' AND alert_key = 'due-test' || chr(31) || 'X'"
		                 " || chr(31) || 'service' || chr(31) || 'due/1'"),
		        1);
		assert_int_equal(count(h, "SELECT count(*) FROM alert_delivery WHERE delivery_id ="
		                          " 'al-c1:1:d-hyst' AND team = 'due'"),
		                 1);
	}

	/* The router's group role may call it and write its tables, not rewrite the audit; the
	 * reader login may do neither. */
	exec_or_fail(h->pg, "SET ROLE ct_alert");
	exec_or_fail(h->pg, "SELECT * FROM ct_alert_deliveries_due('webhook', 10)");
	exec_or_fail(h->pg, "UPDATE alert_delivery SET attempts = attempts + 1"
	                    " WHERE delivery_id = 'al-e2:1:d-hyst'");
	exec_or_fail(h->pg, "INSERT INTO alert_transition (alert_id, seq, action, at)"
	                    " VALUES ('al-e2', 2, 'ACK', now())");
	{
		static const char *const refused[] = {
		        "UPDATE alert_transition SET reason = 'x'",
		        "DELETE FROM alert_transition",
		        "DELETE FROM alert_delivery",
		        "UPDATE alert_kpi_target SET value = 99",
		        "SELECT count(*) FROM measurement",
		};
		for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
			PGresult *res = PQexec(h->pg, refused[i]);
			if (PQresultStatus(res) != PGRES_FATAL_ERROR)
				fail_msg("ct_alert may: %s", refused[i]);
			assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE), "42501");
			PQclear(res);
		}
	}
	exec_or_fail(h->pg, "RESET ROLE");
	/* The router's login (registry: pg alertrouter ct_alert) has the group's rights. */
	{
		PGconn *router = harness_pg_connect(h, "alertrouter");

		assert_non_null(router);
		exec_or_fail(router, "SELECT * FROM ct_alert_deliveries_due('webhook', 10)");
		exec_or_fail(router, "INSERT INTO alert_input (event_id) VALUES ('ev-router-1')");
		PQfinish(router);
	}
	{
		PGconn *cli = harness_pg_connect(h, "cli");
		PGresult *res;

		assert_non_null(cli);
		exec_or_fail(cli, "SELECT count(*) FROM alert_delivery");
		res = PQexec(cli, "SELECT * FROM ct_alert_deliveries_due('webhook', 10)");
		assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
		assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE), "42501");
		PQclear(res);
		res = PQexec(cli, "INSERT INTO alert_input (event_id) VALUES ('x')");
		assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
		assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE), "42501");
		PQclear(res);
		PQfinish(cli);
	}
	exec_or_fail(h->pg, "UNLISTEN ct_alert_delivery");
	harness_pass(h);
}

/* ---- the CLI over MQTT, against a stand-in for the router --------------------------- */

/* Starts `cellthread args...` as the cli login, in the background. */
static struct harness_proc *spawn_cli(struct harness *h, const char *name, const char *const *args)
{
	const char *argv[16] = {CT_CLI_BIN};
	char **env = harness_env(h, "cli", NULL);
	struct harness_proc *proc = NULL;
	size_t n = 1;

	assert_non_null(env);
	for (; args[n - 1] != NULL; n++) {
		assert_true(n < 15);
		argv[n] = args[n - 1];
	}
	argv[n] = NULL;
	assert_int_equal(harness_spawn(h, name, CT_CLI_BIN, argv, (const char *const *)env, &proc),
	                 CT_OK);
	harness_env_free(env);
	return proc;
}

/* Publishes payload as alert-router on topic until proc logs word (the follower's
 * subscription may not be in place for the first ones: QoS 0, nothing is queued). */
static void publish_until_logged(struct harness *h, struct harness_proc *proc, const char *topic,
                                 const void *payload, size_t len, const char *word)
{
	for (int i = 0; i < 60; i++) {
		assert_int_equal(harness_publish(h, "alert-router", topic, payload, len), CT_OK);
		if (harness_proc_wait_log(h, proc, word, 1000) == CT_OK)
			return;
	}
	fail_msg("%s never printed %s", proc->name, word);
}

/* The next request on the stand-in's subscription, unpacked with desc. */
static ProtobufCMessage *next_request(struct harness_sub *sub,
                                      const ProtobufCMessageDescriptor *desc, char *topic,
                                      size_t topic_len)
{
	const char *t;
	const uint8_t *payload;
	size_t len;
	ProtobufCMessage *m = NULL;

	assert_int_equal(harness_sub_next(sub, 30000, &t, &payload, &len), CT_OK);
	snprintf(topic, topic_len, "%s", t);
	assert_int_equal(ct_pb_unpack(desc, payload, len, 1u << 20, &m), CT_OK);
	return m;
}

static void reply(struct harness *h, const char *topic, Cellthread__V1__AlertReply *r)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_int_equal(ct_pb_pack(&r->base, &buf, &len), CT_OK);
	assert_int_equal(harness_publish(h, "alert-router", topic, buf, len), CT_OK);
	free(buf);
}

/* The request's reply topic is the CLI's own: ct/v1/sys/reply/<cli client>/alerts/<id>. */
static void check_reply_topic(const char *reply_topic, const char *request_id)
{
	char want[256];

	snprintf(want, sizeof(want), "/alerts/%s", request_id);
	assert_true(strncmp(reply_topic, "ct/v1/sys/reply/cli-", 20) == 0);
	assert_true(strlen(reply_topic) > strlen(want) &&
	            strcmp(reply_topic + strlen(reply_topic) - strlen(want), want) == 0);
}

static void test_cli_mqtt(void **state)
{
	struct harness *h = *state;
	struct harness_sub *actions = NULL, *subs = NULL;
	struct harness_proc *proc;
	char topic[256];
	int code = -1;

	/* follow --team: the team's JSON as it arrives, until SIGTERM (exit 0). */
	{
		static const char *const args[] = {"alerts", "follow", "--team", "cell", NULL};
		static const char json[] = "{\"delivery_id\": \"al-f:1:s\", \"code\": "
		                           "\"TEAMFOLLOWED\"}";
		proc = spawn_cli(h, "follow-team", args);
		publish_until_logged(h, proc, "ct/v1/alert/team/cell", json, strlen(json),
		                     "TEAMFOLLOWED");
		assert_int_equal(harness_proc_stop(h, proc), CT_OK);
	}
	/* follow: every AlertEvent, one line each. */
	{
		static const char *const args[] = {"alerts", "follow", NULL};
		Cellthread__V1__AlertEvent e = CELLTHREAD__V1__ALERT_EVENT__INIT;
		uint8_t *buf = NULL;
		size_t len = 0;

		e.alert_id = (char *)"al-f";
		e.action = (char *)"RAISE";
		e.state = CELLTHREAD__V1__ALARM_STATE__ALARM_STATE_ACTIVE_UNACK;
		e.source = (char *)"spc-gate";
		e.code = (char *)"EVENTFOLLOWED";
		e.object_kind = (char *)"station";
		e.object_id = (char *)"S/L1/FILL";
		e.at_us = ct_now_us();
		assert_int_equal(ct_pb_pack(&e.base, &buf, &len), CT_OK);
		proc = spawn_cli(h, "follow-events", args);
		publish_until_logged(h, proc, "ct/v1/alert/event", buf, len, "EVENTFOLLOWED");
		assert_int_equal(harness_proc_stop(h, proc), CT_OK);
		free(buf);
	}

	assert_int_equal(
	        harness_sub_new(h, "alert-router", "ct/v1/sys/rpc/alert-router/+/action", &actions),
	        CT_OK);
	assert_int_equal(harness_sub_new(h, "alert-router",
	                                 "ct/v1/sys/rpc/alert-router/+/subscription", &subs),
	                 CT_OK);

	/* A timed shelve: the request carries who, why and until when; the reply's state is
	 * printed, exit 0. */
	{
		static const char *const args[] = {
		        "alerts",  "shelve", "al-k1-4", "--reason", "sensor being replaced",
		        "--until", "30m",    "--as",    "alice",    NULL};
		Cellthread__V1__AlertReply r = CELLTHREAD__V1__ALERT_REPLY__INIT;
		Cellthread__V1__AlertEvent e = CELLTHREAD__V1__ALERT_EVENT__INIT;
		Cellthread__V1__AlertAction *a;
		int64_t now = ct_now_us();

		proc = spawn_cli(h, "shelve", args);
		a = (Cellthread__V1__AlertAction *)next_request(
		        actions, &cellthread__v1__alert_action__descriptor, topic, sizeof(topic));
		assert_string_equal(topic, "ct/v1/sys/rpc/alert-router/cli/action");
		assert_int_equal(a->action, CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_SHELVE);
		assert_string_equal(a->alert_id, "al-k1-4");
		assert_string_equal(a->actor, "alice");
		assert_string_equal(a->reason, "sensor being replaced");
		assert_true(a->shelve_until_us > now + 1790 * 1000000LL &&
		            a->shelve_until_us < now + 1860 * 1000000LL);
		assert_true(a->request_id[0] != '\0');
		check_reply_topic(a->reply_topic, a->request_id);
		r.request_id = a->request_id;
		r.ok = true;
		e.alert_id = (char *)"al-k1-4";
		e.state = CELLTHREAD__V1__ALARM_STATE__ALARM_STATE_ACTIVE_UNACK;
		e.shelved = (char *)"TIMED";
		e.shelved_until_us = a->shelve_until_us;
		r.alert = &e;
		reply(h, a->reply_topic, &r);
		assert_int_equal(harness_proc_wait_any(h, proc, 30000, &code), CT_OK);
		assert_int_equal(code, 0);
		assert_int_equal(harness_proc_wait_log(h, proc, "TIMED", 1000), CT_OK);
		ct_pb_free(&a->base);
	}
	/* A refusal by the router: its reason printed, exit 4. */
	{
		static const char *const args[] = {"alerts",   "ack",  "al-k1-1",
		                                   "--reason", "seen", NULL};
		Cellthread__V1__AlertReply r = CELLTHREAD__V1__ALERT_REPLY__INIT;
		Cellthread__V1__AlertAction *a;

		proc = spawn_cli(h, "ack", args);
		a = (Cellthread__V1__AlertAction *)next_request(
		        actions, &cellthread__v1__alert_action__descriptor, topic, sizeof(topic));
		assert_int_equal(a->action, CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_ACK);
		assert_int_equal(a->shelve_until_us, 0);
		assert_true(a->actor[0] != '\0'); /* the login name without --as */
		r.request_id = a->request_id;
		r.ok = false;
		r.error = (char *)"alert al-k1-1 is NORMAL: nothing to acknowledge";
		reply(h, a->reply_topic, &r);
		assert_int_equal(harness_proc_wait_any(h, proc, 30000, &code), CT_OK);
		assert_int_equal(code, 4);
		assert_int_equal(harness_proc_wait_log(h, proc, "acknowledge", 1000), CT_OK);
		ct_pb_free(&a->base);
	}
	/* subs add: the words as one routes-file line; the router's list printed. */
	{
		static const char *const args[] = {"alerts",       "subs",         "add", "id=q1",
		                                   "team=quality", "channel=mqtt", NULL};
		Cellthread__V1__AlertReply r = CELLTHREAD__V1__ALERT_REPLY__INIT;
		Cellthread__V1__AlertSubscriptionRequest *q;
		char route[] = "id=q1 team=quality channel=mqtt ROUTELISTED";
		char *routes[] = {route};

		proc = spawn_cli(h, "subs-add", args);
		q = (Cellthread__V1__AlertSubscriptionRequest *)next_request(
		        subs, &cellthread__v1__alert_subscription_request__descriptor, topic,
		        sizeof(topic));
		assert_string_equal(topic, "ct/v1/sys/rpc/alert-router/cli/subscription");
		assert_int_equal(q->op, CELLTHREAD__V1__SUBSCRIPTION_OP__SUBSCRIPTION_OP_ADD);
		assert_string_equal(q->route, "id=q1 team=quality channel=mqtt");
		check_reply_topic(q->reply_topic, q->request_id);
		r.request_id = q->request_id;
		r.ok = true;
		r.n_routes = 1;
		r.routes = routes;
		reply(h, q->reply_topic, &r);
		assert_int_equal(harness_proc_wait_any(h, proc, 30000, &code), CT_OK);
		assert_int_equal(code, 0);
		assert_int_equal(harness_proc_wait_log(h, proc, "ROUTELISTED", 1000), CT_OK);
		ct_pb_free(&q->base);
	}
	/* No answer: exit 1 after the 10 s deadline. */
	{
		static const char *const args[] = {"alerts", "subs", "remove", "q1", NULL};
		Cellthread__V1__AlertSubscriptionRequest *q;
		int64_t t0 = ct_mono_ms();

		proc = spawn_cli(h, "subs-remove", args);
		q = (Cellthread__V1__AlertSubscriptionRequest *)next_request(
		        subs, &cellthread__v1__alert_subscription_request__descriptor, topic,
		        sizeof(topic));
		assert_int_equal(q->op, CELLTHREAD__V1__SUBSCRIPTION_OP__SUBSCRIPTION_OP_REMOVE);
		assert_string_equal(q->subscription_id, "q1");
		assert_int_equal(harness_proc_wait_any(h, proc, 30000, &code), CT_OK);
		assert_int_equal(code, 1);
		assert_true(ct_mono_ms() - t0 >= 9000);
		ct_pb_free(&q->base);
	}
	harness_sub_free(actions);
	harness_sub_free(subs);
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("alertkpi", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_kpi_figures, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_deliveries_due, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_cli_mqtt, harness_test_setup,
	                                        harness_test_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
