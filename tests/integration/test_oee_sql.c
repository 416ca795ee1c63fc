/* test_oee_sql: the OEE, response-time, traceability-depth and maintainability functions of
 * migration 0011 (docs/oee.md) on the real database, with rows written straight into
 * station_state, station_visit, unit_verdict, genealogy, environment_reading,
 * automatic_action, command_ack, alert and alert_transition as the services write them (as
 * the harness's superuser). Every figure below was computed by hand.
 *
 * Site S1 has one shift, A 06:00-14:00 UTC Monday to Friday (2026-01-05 is a Monday). Window
 * W = [05:00, 07:00) of 2026-01-05: 05:00-06:00 is outside the shift (planned, NO_SHIFT).
 * WIND-01's states (sent out of order; e-w08a and e-w08b at the same instant: the later
 * event ID holds, the other lasts no time), seconds inside the shift:
 *   PRODUCING from 04:50      06:00-06:10   600
 *   UNPLANNED BREAKDOWN.WIND.TENSION 06:10-06:20   600 (a breakdown: 600 s >= 60 s)
 *   PRODUCING                 06:20-06:30   600
 *   UNPLANNED MICRO.JAM       06:30:00-06:30:20  20 (micro-stop)
 *   PRODUCING                 06:30:20-06:40  580
 *   PLANNED BREAK             06:40-06:50   600
 *   IDLE                      06:50-06:52   120
 *   STARVED                   06:52-06:55   180
 *   BLOCKED                   06:55-06:56    60
 *   UNKNOWN_STOP              06:56:00-06:56:30  30 (micro-stop)
 *   PRODUCING                 06:56:30-07:00  210 (until the next state, 07:10)
 *   planned_down = 3600 (no shift) + 600 (break) = 4200; planned_busy = 7200 - 4200 = 3000
 *   run = 600 + 600 + 580 + 210 = 1990; unplanned = 600 + 20 + 30 = 650; idle 120,
 *   starved 180, blocked 60 (1990 + 650 + 120 + 180 + 60 = 3000); micro-stops 2, 50 s.
 * WIND-01 makes W0001..W0180 (06:00:10 + 19 s each) of recipe R1, ideal cycle 10 s; W0999
 * aborted (not produced). Bad: W0001, W0002 NOK; W0003 by a FAIL verdict stored before its
 * visit; W0004 by a FAIL verdict after it = 4. Late rejects (at EOL-01 the next day): W0010
 * NOK, W0011 scrapped by its verdict, W0012 NOK and FAIL (once) = 3; W0001 fails again but
 * was bad at its maker already (not counted twice). good = 180 - 4 - 3 = 173.
 *   availability 1990/3000 = 0.663333; performance 10 x 180 / 1990 = 0.904523;
 *   quality 173/180 = 0.961111; OEE = 1800/3000 x 173/180 = 0.576667.
 *   losses: unplanned BREAKDOWN 600, speed 1990 - 1800 = 190, starved 180, idle 120,
 *   quality 7 x 10 = 70, blocked 60, micro_stop '' 30, micro_stop MICRO.JAM 20.
 * VIS-01: PRODUCING 06:00-07:00, 125 units, ideal 36 s: performance 36 x 125 / 3600 = 1.25,
 *   flagged; OEE 1 x min(1.25, 1) x 1 = 1.
 * WELD-01: CHANGEOVER 06:20 to R2 (15 min), SETUP 06:50 back to R1 (5 min).
 * Shift 2026-01-05/A of WIND-01 (06:00-14:00, in the past): run = 1780 + (06:56:30-14:00 =
 *   25410) = 27190; planned_busy = 28800 - 600 = 28200. A failure of W0020 two days later
 *   lowers that closed shift's quality to 172/180 (late rejects 4).
 *
 * Traceability (line L9, 2026-01-07; route of 9 steps x 4 checks (visit, parameters with
 * setpoints, recipe version, verdict) + 2 material checks + 1 dry-room check = 39):
 *   C-OK complete: 100. C-BAD: no TAB_WELDING visit (4 checks), electrode E2 not traced to
 *   a material lot (1), no setpoint for p2 at INS-01 (1): 33/39 = 84.6. C-DRY (2026-01-08):
 *   complete but no dry-room reading: 38/39 = 97.4. Module M1 of C-OK and C-BAD: 4 own
 *   checks + 2 children (C-OK passes, C-BAD not): 5/6 = 83.3.
 * Response: c-1 decided 150 ms after its cause result ended, acknowledged 400 ms later (550
 *   total); c-2 decided after 350 ms, never acknowledged. Per plan WELD_SLOW: n 2, acked 1,
 *   signal p50 250, p90 150 + 0.9 x 200 = 330, max 350; ack 400. c-3 (VIS-01) was rejected:
 *   not acked, no ack time.
 * Maintainability: alerts of WELD-01-HORN: ack 30, 90 s (p50 60, p90 30 + 0.9 x 60 = 84,
 *   mean 60), restore 120, 300 s (p50 210, p90 120 + 0.9 x 180 = 282, mean 210), a third
 *   not acknowledged; WIND-01's breakdown restored after 600 s. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "harness.h"
#include "sql_check.h"

#define exec_or_fail(conn, sql) assert_int_equal(harness_pg_exec(conn, sql), CT_OK)
#define EXACT                   1e-9

/* The OEE scenario (above), as ct_admin. */
static const char oee_sql[] =
        "-- Helpers: a visit (with its event row, parameters with setpoints and optionally a "
        "verdict).\n"
        "CREATE FUNCTION it_visit(p_id text, p_unit text, p_kind smallint, p_line text, p_station "
        "text,\n"
        "                         p_type smallint, p_recipe text, p_end timestamptz, p_result "
        "smallint,\n"
        "                         p_recipe_version integer DEFAULT 1)\n"
        "RETURNS void LANGUAGE sql AS $$\n"
        "    INSERT INTO event (event_id, kind, producer, produced_at, stored_at)\n"
        "        VALUES (p_id, 'result', 'it', p_end, p_end + interval '0.05 s');\n"
        "    INSERT INTO station_visit (event_id, unit_id, unit_kind, site, line, station, "
        "station_type,\n"
        "                               recipe, recipe_version, operator_id, started_at, ended_at, "
        "result)\n"
        "        VALUES (p_id, p_unit, p_kind, 'S1', p_line, p_station, p_type, p_recipe,\n"
        "                p_recipe_version, 'op', p_end - interval '15 s', p_end, p_result);\n"
        "$$;\n"
        "-- A verdict of visit p_visit, with the visit's unit and station; one stored\n"
        "-- before its visit (only W0003's in this scenario) names W0003 at WIND-01.\n"
        "CREATE FUNCTION it_verdict(p_visit text, p_verdict smallint) RETURNS void LANGUAGE sql AS "
        "$$\n"
        "    INSERT INTO unit_verdict (event_id, unit_id, site, line, station, source_event_id, "
        "verdict,\n"
        "                              decided_at)\n"
        "    SELECT 'v-' || p_visit, coalesce(v.unit_id, 'W0003'), 'S1', coalesce(v.line, 'L1'),\n"
        "           coalesce(v.station, 'WIND-01'), p_visit, p_verdict,\n"
        "           coalesce(v.ended_at, timestamptz '2026-01-05 06:00:00+00')\n"
        "    FROM (SELECT 1) one LEFT JOIN station_visit v ON v.event_id = p_visit;\n"
        "$$;\n"
        "CREATE FUNCTION it_state(p_id text, p_station text, p_state smallint, p_reason text,\n"
        "                         p_since timestamptz, p_recipe text DEFAULT '', p_asset text "
        "DEFAULT '')\n"
        "RETURNS void LANGUAGE sql AS $$\n"
        "    INSERT INTO station_state (event_id, site, line, station, state, reason_code, asset, "
        "since,\n"
        "                               recipe, source)\n"
        "        VALUES (p_id, 'S1', 'L1', p_station, p_state, p_reason, p_asset, p_since, "
        "p_recipe,\n"
        "                CASE WHEN p_id LIKE 'oee-%' THEN 'derived' ELSE 'station' END);\n"
        "$$;\n"
        "\n"
        "-- Site S1 works one shift, A 06:00-14:00 UTC, Monday to Friday.\n"
        "INSERT INTO oee_shift_pattern (site, line, name, starts, length, weekdays)\n"
        "    VALUES ('S1', '*', 'A', '06:00', '8 hours', '{1,2,3,4,5}');\n"
        "SELECT ct_oee_ideal_set('S1', 'L1', 'WIND-01', 'R1', 10);\n"
        "SELECT ct_oee_ideal_set('S1', '*', 'VIS-01', '*', 36);\n"
        "\n"
        "-- WIND-01's states, sent out of order, two at the same instant (06:50: the later event "
        "ID\n"
        "-- wins, so e-w08b IDLE holds and e-w08a lasts no time).\n"
        "SELECT it_state('e-w12', 'WIND-01', 1::smallint, '', '2026-01-05 07:10:00+00', 'R1');\n"
        "SELECT it_state('e-w05', 'WIND-01', 1::smallint, '', '2026-01-05 06:30:20+00', 'R1');\n"
        "SELECT it_state('e-w01', 'WIND-01', 1::smallint, '', '2026-01-05 04:50:00+00', 'R1');\n"
        "SELECT it_state('e-w02', 'WIND-01', 6::smallint, 'BREAKDOWN.WIND.TENSION',\n"
        "                '2026-01-05 06:10:00+00', 'R1', 'WIND-01-TENSION');\n"
        "SELECT it_state('e-w08b', 'WIND-01', 2::smallint, '', '2026-01-05 06:50:00+00', 'R1');\n"
        "SELECT it_state('e-w03', 'WIND-01', 1::smallint, '', '2026-01-05 06:20:00+00', 'R1');\n"
        "SELECT it_state('e-w04', 'WIND-01', 6::smallint, 'MICRO.JAM', '2026-01-05 06:30:00+00', "
        "'R1');\n"
        "SELECT it_state('e-w06', 'WIND-01', 5::smallint, 'BREAK', '2026-01-05 06:40:00+00', "
        "'R1');\n"
        "SELECT it_state('e-w08a', 'WIND-01', 1::smallint, '', '2026-01-05 06:50:00+00', 'R1');\n"
        "SELECT it_state('e-w09', 'WIND-01', 3::smallint, '', '2026-01-05 06:52:00+00', 'R1');\n"
        "SELECT it_state('e-w10', 'WIND-01', 4::smallint, '', '2026-01-05 06:55:00+00', 'R1');\n"
        "SELECT it_state('e-w11', 'WIND-01', 7::smallint, '', '2026-01-05 06:56:00+00', 'R1');\n"
        "SELECT it_state('e-w11b', 'WIND-01', 1::smallint, '', '2026-01-05 06:56:30+00', 'R1');\n"
        "\n"
        "-- WIND-01 makes W0001..W0180 (ended 06:00:10 + 19 s each), W0999 aborted. W0003's "
        "failing\n"
        "-- verdict is stored before its visit.\n"
        "SELECT it_verdict('sv-W0003', 2::smallint);\n"
        "INSERT INTO station_visit (event_id, unit_id, unit_kind, site, line, station, "
        "station_type,\n"
        "                           recipe, recipe_version, operator_id, started_at, ended_at, "
        "result)\n"
        "SELECT 'sv-W' || lpad(i::text, 4, '0'), 'W' || lpad(i::text, 4, '0'), 4, 'S1', 'L1', "
        "'WIND-01',\n"
        "       6, 'R1', 1, 'op', t - interval '15 s', t, CASE WHEN i <= 2 THEN 2 ELSE 1 END\n"
        "FROM generate_series(1, 180) i,\n"
        "     LATERAL (SELECT timestamptz '2026-01-05 06:00:10+00' + (i - 1) * interval '19 s' AS "
        "t) x;\n"
        "SELECT it_visit('sv-W0999', 'W0999', 4::smallint, 'L1', 'WIND-01', 6::smallint, 'R1',\n"
        "                '2026-01-05 06:30:00+00', 3::smallint);\n"
        "SELECT it_verdict('sv-W0004', 2::smallint);\n"
        "SELECT it_verdict('sv-W0005', 1::smallint);\n"
        "\n"
        "-- The next day at EOL-01: W0001 (bad already at its maker) NOK again; W0010 NOK; W0011 "
        "OK but\n"
        "-- scrapped by its verdict; W0012 NOK and a failing verdict; W0013 passes.\n"
        "SELECT it_visit('sv-E' || u, u, 4::smallint, 'L1', 'EOL-01', 14::smallint, 'R1',\n"
        "                timestamptz '2026-01-06 10:00:00+00' + n * interval '1 min',\n"
        "                CASE WHEN u IN ('W0011', 'W0013') THEN 1 ELSE 2 END::smallint)\n"
        "FROM unnest(ARRAY['W0001', 'W0010', 'W0011', 'W0012', 'W0013']) WITH ORDINALITY AS a(u, "
        "n);\n"
        "SELECT it_verdict('sv-EW0011', 4::smallint), it_verdict('sv-EW0012', 2::smallint),\n"
        "       it_verdict('sv-EW0013', 1::smallint);\n"
        "\n"
        "-- VIS-01 produces 125 units in its hour at an ideal of 36 s: performance 1.25.\n"
        "SELECT it_state('e-v01', 'VIS-01', 1::smallint, '', '2026-01-05 06:00:00+00', 'R1');\n"
        "INSERT INTO station_visit (event_id, unit_id, unit_kind, site, line, station, "
        "station_type,\n"
        "                           recipe, recipe_version, operator_id, started_at, ended_at, "
        "result)\n"
        "SELECT 'sv-V' || i, 'V' || i, 4, 'S1', 'L1', 'VIS-01', 15, 'R1', 1, 'op',\n"
        "       t - interval '5 s', t, 1\n"
        "FROM generate_series(1, 125) i,\n"
        "     LATERAL (SELECT timestamptz '2026-01-05 06:00:10+00' + (i - 1) * interval '28 s' AS "
        "t) x;\n"
        "\n"
        "-- WELD-01: changeover R1 -> R2 (15 min), setup back to R1 (5 min, recipe from the next "
        "state).\n"
        "SELECT it_state('e-c01', 'WELD-01', 1::smallint, '', '2026-01-05 06:00:00+00', 'R1');\n"
        "SELECT it_state('e-c02', 'WELD-01', 5::smallint, 'CHANGEOVER', '2026-01-05 06:20:00+00', "
        "'R2');\n"
        "SELECT it_state('e-c03', 'WELD-01', 1::smallint, '', '2026-01-05 06:35:00+00', 'R2');\n"
        "SELECT it_state('e-c04', 'WELD-01', 5::smallint, 'SETUP', '2026-01-05 06:50:00+00', '');\n"
        "SELECT it_state('e-c05', 'WELD-01', 1::smallint, '', '2026-01-05 06:55:00+00', 'R1');\n";

/* The traceability, response and maintainability scenario (above). */
static const char trace_sql[] =
        "-- A route step of unit p_unit on line L9: the visit, two parameters (the second without "
        "a\n"
        "-- setpoint when p_setpoint is false), a PASS verdict, and a dry-room reading when "
        "p_dry.\n"
        "CREATE FUNCTION it_step(p_unit text, p_kind smallint, p_station text, p_type smallint,\n"
        "                        p_end timestamptz, p_setpoint boolean, p_dry boolean)\n"
        "RETURNS void LANGUAGE sql AS $$\n"
        "    SELECT it_visit('t-' || p_unit || '-' || p_station, p_unit, p_kind, 'L9', p_station, "
        "p_type,\n"
        "                    'R9', p_end, 1::smallint, 3);\n"
        "    INSERT INTO process_parameter (event_id, unit_id, name, actual, setpoint, uom, seq)\n"
        "        VALUES ('t-' || p_unit || '-' || p_station, p_unit, 'p1', 1, 1, 'u', 0),\n"
        "               ('t-' || p_unit || '-' || p_station, p_unit, 'p2', 2,\n"
        "                CASE WHEN p_setpoint THEN 2 END, 'u', 1);\n"
        "    INSERT INTO environment_reading (event_id, unit_id, quantity, value, uom, sensor,\n"
        "                                     measured_at, seq)\n"
        "    SELECT 't-' || p_unit || '-' || p_station, p_unit, 'dew_point', -45, 'C', 'L9-DP',\n"
        "           p_end - interval '15 s', 0 WHERE p_dry;\n"
        "    SELECT it_verdict('t-' || p_unit || '-' || p_station, 1::smallint);\n"
        "$$;\n"
        "CREATE FUNCTION it_link(p_parent text, p_child text, p_kind smallint, p_visit text, p_seq "
        "integer)\n"
        "RETURNS void LANGUAGE sql AS $$\n"
        "    INSERT INTO genealogy (parent_id, child_id, child_kind, material, quantity, uom, "
        "source,\n"
        "                           station, event_id, assembled_at, seq)\n"
        "    VALUES (p_parent, p_child, p_kind, CASE WHEN p_kind = 1 THEN 'm' END, 1, 'u',\n"
        "            CASE WHEN p_kind = 1 THEN 'material' ELSE 'assembly' END, '', p_visit,\n"
        "            timestamptz '2026-01-07 06:00:00+00', p_seq);\n"
        "$$;\n"
        "-- Electrode E1 is traced: E1 <- batch B1 <- lot NMC-1. E2 has no genealogy.\n"
        "SELECT it_link('E1', 'B1', 2::smallint, 'g-e1', 0), it_link('B1', 'NMC-1', 1::smallint, "
        "'g-b1', 0);\n"
        "-- C-OK: the whole cell route, complete. C-BAD: no TAB_WELDING visit, electrode E2 "
        "untraced,\n"
        "-- no setpoint for p2 at INS-01.\n"
        "SELECT it_step(u, 4::smallint, st, ty::smallint,\n"
        "               timestamptz '2026-01-07 06:00:00+00' + n * interval '1 min'\n"
        "                 + CASE WHEN u = 'C-BAD' THEN interval '30 min' ELSE interval '0' END,\n"
        "               NOT (u = 'C-BAD' AND st = 'INS-01'), ty BETWEEN 6 AND 11)\n"
        "FROM unnest(ARRAY['C-OK', 'C-BAD']) u,\n"
        "     unnest(ARRAY['WIND-01', 'WELD-01', 'INS-01', 'FILL-01', 'SEAL-01', 'FORM-01', "
        "'AGE-01',\n"
        "                  'EOL-01', 'VIS-01'], ARRAY[6, 8, 9, 10, 11, 12, 13, 14, 15])\n"
        "         WITH ORDINALITY AS s(st, ty, n)\n"
        "WHERE NOT (u = 'C-BAD' AND st = 'WELD-01');\n"
        "SELECT it_link('C-OK', 'SEP-1', 1::smallint, 't-C-OK-WIND-01', 0),\n"
        "       it_link('C-OK', 'E1', 3::smallint, 't-C-OK-WIND-01', 1),\n"
        "       it_link('C-OK', 'ELY-1', 1::smallint, 't-C-OK-FILL-01', 0),\n"
        "       it_link('C-BAD', 'SEP-1', 1::smallint, 't-C-BAD-WIND-01', 0),\n"
        "       it_link('C-BAD', 'E2', 3::smallint, 't-C-BAD-WIND-01', 1),\n"
        "       it_link('C-BAD', 'ELY-1', 1::smallint, 't-C-BAD-FILL-01', 0);\n"
        "-- C-DRY (the next day): complete, but no dry-room reading anywhere on the line "
        "meanwhile.\n"
        "SELECT it_step('C-DRY', 4::smallint, st, ty::smallint,\n"
        "               timestamptz '2026-01-08 06:00:00+00' + n * interval '1 min', true, false)\n"
        "FROM unnest(ARRAY['WIND-01', 'WELD-01', 'INS-01', 'FILL-01', 'SEAL-01', 'FORM-01', "
        "'AGE-01',\n"
        "                  'EOL-01', 'VIS-01'], ARRAY[6, 8, 9, 10, 11, 12, 13, 14, 15])\n"
        "         WITH ORDINALITY AS s(st, ty, n);\n"
        "SELECT it_link('C-DRY', 'SEP-1', 1::smallint, 't-C-DRY-WIND-01', 0),\n"
        "       it_link('C-DRY', 'E1', 3::smallint, 't-C-DRY-WIND-01', 1),\n"
        "       it_link('C-DRY', 'ELY-1', 1::smallint, 't-C-DRY-FILL-01', 0);\n"
        "-- Module M1 of both cells.\n"
        "SELECT it_step('M1', 5::smallint, 'MOD-01', 16::smallint, '2026-01-07 08:00:00+00', true, "
        "false);\n"
        "SELECT it_link('M1', 'C-OK', 4::smallint, 't-M1-MOD-01', 0),\n"
        "       it_link('M1', 'C-BAD', 4::smallint, 't-M1-MOD-01', 1);\n"
        "\n"
        "-- Response: spc-gate's command c-1 caused by WELD visit sv-R1 (ended 06:10:00), decided\n"
        "-- 150 ms after it ended, acknowledged 400 ms later (and done later: the first ack "
        "counts);\n"
        "-- c-2 (a STOP of the same plan) never acknowledged; c-3 on another station.\n"
        "SELECT it_visit('sv-R1', 'R-1', 4::smallint, 'L1', 'WELD-01', 8::smallint, 'R1',\n"
        "                '2026-01-05 06:10:00+00', 1::smallint),\n"
        "       it_visit('sv-R2', 'R-2', 4::smallint, 'L1', 'WELD-01', 8::smallint, 'R1',\n"
        "                '2026-01-05 06:20:00+00', 1::smallint);\n"
        "INSERT INTO automatic_action (command_id, alert_id, chart_id, site, line, station, kind,\n"
        "                              reason_code, reason_text, cause_event_id, decided_at) "
        "VALUES\n"
        "    ('c-1', 'a-1', 'weld-energy', 'S1', 'L1', 'WELD-01', 1, 'WELD_SLOW', 't', 'sv-R1',\n"
        "     '2026-01-05 06:10:00.150+00'),\n"
        "    ('c-2', 'a-1', 'weld-energy', 'S1', 'L1', 'WELD-01', 2, 'WELD_SLOW', 't', 'sv-R2',\n"
        "     '2026-01-05 06:20:00.350+00'),\n"
        "    ('c-3', 'a-3', 'x', 'S1', 'L1', 'VIS-01', 4, 'VIS_ADJ', 't', 'sv-V1',\n"
        "     '2026-01-05 06:30:00+00');\n"
        "INSERT INTO command_ack (event_id, command_id, site, line, station, status, acked_at) "
        "VALUES\n"
        "    ('k-1b', 'c-1', 'S1', 'L1', 'WELD-01', 3, '2026-01-05 06:10:05+00'),\n"
        "    ('k-1a', 'c-1', 'S1', 'L1', 'WELD-01', 1, '2026-01-05 06:10:00.550+00'),\n"
        "    ('k-3', 'c-3', 'S1', 'L1', 'VIS-01', 2, '2026-01-05 06:30:00.200+00');\n"
        "\n"
        "-- Alerts on WELD-01's horn: raised 06:00 (ACK +30 s, cleared +120 s) and 06:30 (ACK +90 "
        "s,\n"
        "-- a second ACK later, cleared +300 s); one still active (raised 06:50, no ACK).\n"
        "INSERT INTO alert (alert_id, source, code, object_kind, object_id, alert_key, occurrence, "
        "site,\n"
        "                   line, station, severity, state, raised_at, acked_at, cleared_at)\n"
        "SELECT id, 'spc-gate', 'HORN', 'asset', 'WELD-01-HORN',\n"
        "       'spc-gate' || chr(31) || 'HORN' || chr(31) || 'asset' || chr(31) || "
        "'WELD-01-HORN',\n"
        "       occ, 'S1', 'L1', 'WELD-01', 3, st, r, r + ack, r + clr\n"
        "FROM (VALUES ('al-1', 1, 'NORMAL', timestamptz '2026-01-05 06:00:00+00', interval '30 "
        "s',\n"
        "              interval '120 s'),\n"
        "             ('al-2', 2, 'NORMAL', '2026-01-05 06:30:00+00', '90 s', '300 s'),\n"
        "             ('al-3', 3, 'ACTIVE_UNACK', '2026-01-05 06:50:00+00', NULL, NULL))\n"
        "     AS x(id, occ, st, r, ack, clr);\n"
        "INSERT INTO alert_transition (alert_id, seq, action, at) VALUES\n"
        "    ('al-1', 1, 'RAISE', '2026-01-05 06:00:00+00'), ('al-1', 2, 'ACK', '2026-01-05 "
        "06:00:30+00'),\n"
        "    ('al-1', 3, 'CLEAR', '2026-01-05 06:02:00+00'),\n"
        "    ('al-2', 1, 'RAISE', '2026-01-05 06:30:00+00'), ('al-2', 2, 'ACK', '2026-01-05 "
        "06:31:30+00'),\n"
        "    ('al-2', 3, 'ACK', '2026-01-05 06:33:00+00'), ('al-2', 4, 'CLEAR', '2026-01-05 "
        "06:35:00+00'),\n"
        "    ('al-3', 1, 'RAISE', '2026-01-05 06:50:00+00');\n";

/* Runs sql as a member of group role `role` in a transaction that is rolled back. */
static int as_role(struct harness *h, const char *role, const char *sql)
{
	char buf[2048];
	int rc;

	snprintf(buf, sizeof(buf), "BEGIN; SET LOCAL ROLE %s; %s", role, sql);
	rc = harness_pg_exec(h->pg, buf);
	exec_or_fail(h->pg, "ROLLBACK");
	return rc;
}

/* Loads both scenarios once (the tests share the database). */
static void load(struct harness *h)
{
	static bool loaded;

	if (loaded)
		return;
	exec_or_fail(h->pg, oee_sql);
	exec_or_fail(h->pg, trace_sql);
	loaded = true;
}

#define WIN    "'2026-01-05 05:00+00', '2026-01-05 07:00+00'"
#define W(key) "SELECT ct_oee_station('S1', 'L1', 'WIND-01', " WIN ") ->> '" key "'"
#define V(key)                                                                                     \
	"SELECT ct_oee_station('S1', 'L1', 'VIS-01', '2026-01-05 06:00+00', "                      \
	"'2026-01-05 07:00+00') ->> '" key "'"
#define SHIFT(key) "SELECT ct_oee_shift('S1', 'L1', 'WIND-01', '2026-01-05/A') ->> '" key "'"

static void test_oee_figures(void **state)
{
	struct harness *h = *state;

	load(h);
	/* The time model. */
	sql_figure(h, W("planned_down_s"), 4200, EXACT);
	sql_figure(h, W("planned_busy_s"), 3000, EXACT);
	sql_figure(h, W("run_s"), 1990, EXACT);
	sql_figure(h, W("unplanned_down_s"), 650, EXACT);
	sql_figure(h, W("idle_s"), 120, EXACT);
	sql_figure(h, W("starved_s"), 180, EXACT);
	sql_figure(h, W("blocked_s"), 60, EXACT);
	sql_figure(h, W("micro_stop_count"), 2, 0);
	sql_figure(h, W("micro_stop_s"), 50, EXACT);
	sql_text_is(h, W("current_state"), "1");
	/* Out of order and at the same instant: never negative, never overlapping, the parts add
	 * up to the window. */
	sql_figure(h,
	           "SELECT count(*) FROM ct_oee_intervals('S1', 'L1', 'WIND-01', " WIN ")"
	           " WHERE e < s OR until < since OR event_id = 'e-w08a'",
	           0, 0);
	sql_figure(h,
	           "SELECT sum(extract(epoch FROM e - s)) FROM ct_oee_intervals('S1', 'L1', "
	           "'WIND-01', " WIN ")",
	           7200, EXACT);
	sql_figure(h, "SELECT sum(seconds) FROM ct_oee_time('S1', 'L1', 'WIND-01', " WIN ")", 7200,
	           EXACT);

	/* Counts: the verdict stored before its visit counted once, repeated failures of a visit
	 * too (a second FAIL verdict of W0003, a FAIL verdict of the NOK W0002). */
	exec_or_fail(h->pg, "INSERT INTO unit_verdict (event_id, unit_id, site, line, station,"
	                    " source_event_id, verdict, decided_at) VALUES"
	                    " ('v2-W0003', 'W0003', 'S1', 'L1', 'WIND-01', 'sv-W0003', 3, now()),"
	                    " ('v2-W0002', 'W0002', 'S1', 'L1', 'WIND-01', 'sv-W0002', 2, now())");
	sql_figure(h, "SELECT sum(bad) FROM oee_count WHERE station = 'WIND-01'", 4, 0);
	sql_figure(h, W("produced"), 180, 0);
	sql_figure(h, W("good"), 173, 0);
	sql_figure(h, W("late_rejects"), 3, 0);
	sql_figure(h, W("ideal_cycle_s"), 10, EXACT);
	sql_figure(h, W("availability"), 1990.0 / 3000, EXACT);
	sql_figure(h, W("performance"), 1800.0 / 1990, EXACT);
	sql_figure(h, W("quality"), 173.0 / 180, EXACT);
	sql_figure(h, W("oee"), 0.6 * 173 / 180, EXACT);
	sql_text_is(h, W("performance_flagged"), "false");
	sql_text_is(
	        h,
	        "SELECT string_agg((x ->> 'category') || ':' || (x ->> 'reason_code') || ':'"
	        " || (x ->> 'seconds') || ':' || (x ->> 'count'), ',' ORDER BY n)"
	        " FROM jsonb_array_elements(ct_oee_station('S1', 'L1', 'WIND-01', " WIN
	        ") -> 'losses') WITH ORDINALITY a(x, n)",
	        "unplanned:BREAKDOWN.WIND.TENSION:600:1,speed::190:0,starved::180:1,idle::120:1,"
	        "quality::70:7,blocked::60:1,micro_stop::30:1,micro_stop:MICRO.JAM:20:1");

	/* Late rejects belong to the maker's bucket, not the day they failed: EOL-01's own
	 * figures count its failures as bad. */
	sql_figure(h,
	           "SELECT ct_oee_station('S1', 'L1', 'WIND-01', '2026-01-06 06:00+00',"
	           " '2026-01-06 14:00+00') ->> 'late_rejects'",
	           0, 0);
	sql_figure(h,
	           "SELECT ct_oee_station('S1', 'L1', 'EOL-01', '2026-01-06 06:00+00',"
	           " '2026-01-06 14:00+00') ->> 'good'",
	           1, 0);
	sql_figure(h, "SELECT count(*) FROM oee_unit_reject", 3, 0);
	sql_text_is(h, "SELECT station FROM ct_oee_maker('W0011')", "WIND-01");

	/* A closed shift: its figures and what a late reject does to them. */
	sql_text_is(h, SHIFT("shift_start"), "2026-01-05T06:00:00+00:00");
	sql_text_is(h, SHIFT("until"), "2026-01-05T14:00:00+00:00");
	sql_figure(h, SHIFT("run_s"), 27190, EXACT);
	sql_figure(h, SHIFT("planned_busy_s"), 28200, EXACT);
	sql_figure(h, SHIFT("quality"), 173.0 / 180, EXACT);
	exec_or_fail(h->pg, "SELECT it_visit('sv-EW0020', 'W0020', 4::smallint, 'L1', 'EOL-01',"
	                    " 14::smallint, 'R1', '2026-01-07 10:00+00', 2::smallint)");
	sql_figure(h, SHIFT("quality"), 172.0 / 180, EXACT);
	sql_figure(h, SHIFT("late_rejects"), 4, 0);
	/* W0030 fails at EOL-01 (a late reject), then its maker visit gets a FAIL verdict: it
	 * moves from late reject to bad, counted once (good 180 - 5 - 4 = 171). */
	exec_or_fail(h->pg, "SELECT it_visit('sv-EW0030', 'W0030', 4::smallint, 'L1', 'EOL-01',"
	                    " 14::smallint, 'R1', '2026-01-07 10:01+00', 2::smallint)");
	sql_figure(h, SHIFT("late_rejects"), 5, 0);
	sql_figure(h, SHIFT("good"), 171, 0);
	exec_or_fail(h->pg, "SELECT it_verdict('sv-W0030', 2::smallint)");
	sql_figure(h, SHIFT("late_rejects"), 4, 0);
	sql_figure(h, SHIFT("good"), 171, 0);
	sql_figure(h, "SELECT sum(bad) FROM oee_count WHERE station = 'WIND-01'", 5, 0);

	/* Performance above 1 is flagged and capped in the OEE. */
	sql_figure(h, V("performance"), 1.25, EXACT);
	sql_text_is(h, V("performance_flagged"), "true");
	sql_text_is(
	        h, V("flag_reason"),
	        "performance 1.25 > 1: ideal cycle time 36 s is longer than the station's fastest "
	        "real cycle; check oee_ideal_cycle");
	sql_figure(h, V("oee"), 1, EXACT);

	/* The shift calendar: S1's own pattern (no weekend), the default 3 x 8 h elsewhere. */
	sql_text_is(h,
	            "SELECT string_agg(shift_id, ',') FROM ct_oee_shifts('S1', 'L1',"
	            " '2026-01-09 00:00+00', '2026-01-13 00:00+00')",
	            "2026-01-09/A,2026-01-12/A");
	sql_text_is(h,
	            "SELECT string_agg(shift_id, ',') FROM ct_oee_shifts('S2', 'L1',"
	            " '2026-01-09 00:00+00', '2026-01-09 12:00+00')",
	            "2026-01-08/C,2026-01-09/A");

	/* The line: its reference station's figures (the winder), and every station's. */
	sql_text_is(h, "SELECT ct_oee_line('S1', 'L1', " WIN ") ->> 'reference_station'",
	            "WIND-01");
	sql_text_is(h, "SELECT ct_oee_line('S1', 'L1', " WIN ") ->> 'station'", "");
	sql_figure(h, "SELECT ct_oee_line('S1', 'L1', " WIN ") ->> 'run_s'", 1990, EXACT);
	sql_text_is(h,
	            "SELECT jsonb_path_query_array(ct_oee_line('S1', 'L1', " WIN
	            "), '$.stations[*].station')::text",
	            "[\"VIS-01\", \"WELD-01\", \"WIND-01\"]");

	/* Pareto (largest first) and changeovers. */
	sql_text_is(
	        h,
	        "SELECT string_agg(category || ':' || reason_code || ':' || seconds || ':' || "
	        "count,"
	        " ',') FROM ct_oee_pareto('S1', 'L1', NULL, " WIN ")",
	        "unplanned:BREAKDOWN.WIND.TENSION:600:1,starved::180:1,idle::120:1,blocked::60:1,"
	        "micro_stop::30:1,micro_stop:MICRO.JAM:20:1");
	sql_text_is(h,
	            "SELECT string_agg(station || ' ' || from_recipe || '>' || to_recipe || ' '"
	            " || duration_s, ',') FROM ct_oee_changeovers('S1', 'L1', " WIN ")",
	            "WELD-01 R1>R2 900,WELD-01 R2>R1 300");

	/* What the service roles may do. */
	assert_int_equal(as_role(h, "ct_oee",
	                         "SELECT ct_oee_shift('S1', 'L1', '', '2026-01-05/A');"
	                         " INSERT INTO station_state (event_id, site, line, station, state,"
	                         " since) VALUES ('x', 'S1', 'L1', 'X', 1, now())"
	                         " ON CONFLICT (event_id) DO NOTHING;"
	                         " INSERT INTO command_ack (event_id, command_id, site, line,"
	                         " station, status, acked_at) VALUES ('x', 'c', 'S1', 'L1', 'X', 1,"
	                         " now());"),
	                 CT_OK);
	assert_int_equal(as_role(h, "ct_reader",
	                         "SELECT * FROM ct_oee_pareto('S1', 'L1', NULL, " WIN ");"
	                         " SELECT ct_trace_depth('C-OK'); SELECT * FROM oee_figures;"),
	                 CT_OK);
	assert_int_equal(
	        as_role(h, "ct_quality", "SELECT ct_oee_ideal_set('S1', '*', '*', '*', 5)"), CT_OK);
	assert_int_not_equal(as_role(h, "ct_reader",
	                             "INSERT INTO oee_count (site, line, station,"
	                             " minute, recipe) VALUES ('a', 'b', 'c', now(),"
	                             " '')"),
	                     CT_OK);
	harness_pass(h);
}

#define DEPTH(unit, key) "SELECT ct_trace_depth('" unit "') ->> '" key "'"
#define RESP(col)                                                                                  \
	"SELECT " col " FROM ct_response_summary('S1', 'L1', " WIN ") WHERE station = 'WELD-01'"
#define ALERT(key) "SELECT ct_maintainability('S1', 'L1', " WIN ") -> 'alerts' -> 0 ->> '" key "'"

static void test_trace_response_maintainability(void **state)
{
	struct harness *h = *state;

	load(h);
	/* Traceability depth. */
	sql_text_is(h, DEPTH("C-OK", "score"), "100.0");
	sql_text_is(h, DEPTH("C-OK", "complete"), "true");
	sql_figure(h, DEPTH("C-OK", "checks"), 39, 0);
	sql_text_is(h, DEPTH("C-BAD", "score"), "84.6");
	sql_text_is(h, DEPTH("C-BAD", "missing"),
	            "[\"WIND-01: material use not traced to a material lot (E2)\", \"no visit at "
	            "TAB_WELDING\", \"INS-01: no setpoint for parameters (p2)\"]");
	sql_text_is(h, DEPTH("C-DRY", "score"), "97.4");
	sql_text_is(h, DEPTH("C-DRY", "missing"),
	            "[\"no dry-room environment reading during its stay (WIND-01 .. SEAL-01)\"]");
	sql_text_is(h, DEPTH("M1", "score"), "83.3");
	sql_text_is(h, DEPTH("M1", "missing"), "[\"child C-BAD: 84.6\"]");
	sql_text_is(h, DEPTH("M1", "children"),
	            "[{\"score\": 84.6, \"unit_id\": \"C-BAD\"}, {\"score\": 100.0, \"unit_id\": "
	            "\"C-OK\"}]");
	sql_text_is(h, DEPTH("NOBODY", "missing"), "[\"unit not known\"]");
	sql_text_is(h,
	            "SELECT ct_trace_depth_line('S1', 'L9', '2026-01-07 00:00+00',"
	            " '2026-01-08 00:00+00') - 'worst'",
	            "{\"share\": 0.5, \"units\": 2, \"complete\": 1}");
	sql_text_is(h,
	            "SELECT ct_trace_depth_line('S1', 'L9', '2026-01-07 00:00+00',"
	            " '2026-01-08 00:00+00') -> 'worst' -> 0 ->> 'unit_id'",
	            "C-BAD");

	/* Closed-loop response time. */
	sql_figure(h, "SELECT count(*) FROM ct_response_times('S1', 'L1', 'WELD-01', " WIN ")", 2,
	           0);
	sql_text_is(
	        h,
	        "SELECT signal_to_command_ms || ' ' || command_to_ack_ms || ' ' || total_ms || ' '"
	        " || ack_status || ' ' || kind FROM ct_response_times('S1', 'L1', NULL, " WIN ")"
	        " WHERE command_id = 'c-1'",
	        "150 400 550 1 SLOW");
	sql_text_is(h,
	            "SELECT coalesce(acked_at::text, 'none') FROM ct_response_times('S1', 'L1', "
	            "NULL, " WIN ") WHERE command_id = 'c-2'",
	            "none");
	sql_figure(h, RESP("n"), 2, 0);
	sql_figure(h, RESP("acked"), 1, 0);
	sql_figure(h, RESP("signal_p50_ms"), 250, 1e-6);
	sql_figure(h, RESP("signal_p90_ms"), 330, 1e-6);
	sql_figure(h, RESP("signal_max_ms"), 350, 1e-6);
	sql_figure(h, RESP("ack_p50_ms"), 400, 1e-6);
	sql_figure(h, RESP("total_p90_ms"), 550, 1e-6);
	sql_figure(h, RESP("rejected"), 0, 0);
	sql_figure(h, RESP("expired"), 0, 0);
	/* c-3 was refused: not acknowledged, and no time to acknowledge. */
	sql_text_is(h,
	            "SELECT n || ' ' || acked || ' ' || rejected || ' ' || expired || ' '"
	            " || coalesce(ack_p50_ms::text, 'none') || ' ' || coalesce(total_p50_ms::text, "
	            "'none')"
	            " FROM ct_response_summary('S1', 'L1', " WIN ") WHERE station = 'VIS-01'",
	            "1 0 1 0 none none");

	/* Maintainability. */
	sql_text_is(h, ALERT("asset"), "WELD-01-HORN");
	sql_figure(h, ALERT("n"), 3, 0);
	sql_figure(h, ALERT("acked"), 2, 0);
	sql_figure(h, ALERT("ack_p50_s"), 60, EXACT);
	sql_figure(h, ALERT("ack_p90_s"), 84, EXACT);
	sql_figure(h, ALERT("ack_mean_s"), 60, EXACT);
	sql_figure(h, ALERT("restore_n"), 2, 0);
	sql_figure(h, ALERT("restore_p50_s"), 210, EXACT);
	sql_figure(h, ALERT("restore_p90_s"), 282, EXACT);
	sql_figure(h, ALERT("restore_mean_s"), 210, EXACT);
	sql_text_is(
	        h,
	        "SELECT string_agg((x ->> 'reason_code') || ':' || (x ->> 'asset') || ':'"
	        " || (x ->> 'n') || ':' || (x ->> 'restore_mean_s') || ':' || (x ->> 'down_s'), "
	        "',')"
	        " FROM jsonb_array_elements(ct_maintainability('S1', 'L1', " WIN ") -> 'stops') x"
	        " WHERE x ->> 'station' = 'WIND-01'",
	        "::1:30:30,BREAKDOWN.WIND.TENSION:WIND-01-TENSION:1:600:600,MICRO.JAM::1:20:20");
	harness_pass(h);
}

/* The review's cases (each failed before its fix in 0011), on lines L5 and L7 of S1 and on
 * site S9 (the default 3 x 8 h calendar, every day). L5, 2026-01-05:
 *   NOIDEAL: PRODUCING from 06:00, one unit, no ideal cycle time: no performance, no OEE.
 *   REP: MICRO.JAM from 06:10 re-sent at 06:10:30, 06:11, 06:11:30 (new event IDs), then
 *   PRODUCING 06:12: one 120 s stop, no micro-stop. MICRO.JAM 06:20 (30 s) turning into
 *   BREAKDOWN.GENERIC 06:20:30 (60 s), PRODUCING 06:21:30: one 90 s stop, no micro-stop;
 *   the same at 06:30 (40 s) and 06:30:40 (30 s), PRODUCING 06:31:10: 70 s, no micro-stop,
 *   even in windows that cut the run (ending at 06:20:15, starting at 06:30:50).
 *   Unit LR1 visits TW-05 06:30 (stored first), fails at EOL-05 the next day, then its maker
 *   visit at WIND-05 06:20 is stored: the late reject moves to WIND-05.
 *   Unit AB1: an ABORTED attempt at WIND-05 06:40, then OK 06:41, fails at EOL-05: the OK
 *   visit is its maker.
 * L7: WIND-07 made a unit at 06:10, broke down at 06:30: in [07:00, 08:00) it made nothing
 *   but is still the line's reference. */
static const char review_sql[] =
        "SELECT it_state('r-n1', 'NOIDEAL', 1::smallint, '', '2026-01-05 06:00+00');\n"
        "UPDATE station_state SET line = 'L5' WHERE event_id = 'r-n1';\n"
        "SELECT it_visit('sv-N1', 'N1', 4::smallint, 'L5', 'NOIDEAL', 9::smallint, 'R1',"
        " '2026-01-05 06:30+00', 1::smallint);\n"
        "SELECT it_state(x.id, 'REP', x.st::smallint, x.r, x.t::timestamptz) FROM (VALUES"
        " ('r-1', 1, '', '2026-01-05 06:00+00'), ('r-2', 6, 'MICRO.JAM', '2026-01-05 06:10+00'),"
        " ('r-3', 6, 'MICRO.JAM', '2026-01-05 06:10:30+00'),"
        " ('r-4', 6, 'MICRO.JAM', '2026-01-05 06:11+00'),"
        " ('r-5', 6, 'MICRO.JAM', '2026-01-05 06:11:30+00'), ('r-6', 1, '', '2026-01-05 06:12+00'),"
        " ('r-7', 6, 'MICRO.JAM', '2026-01-05 06:20+00'),"
        " ('r-8', 6, 'BREAKDOWN.GENERIC', '2026-01-05 06:20:30+00'),"
        " ('r-9', 1, '', '2026-01-05 06:21:30+00'),"
        " ('r-10', 6, 'MICRO.JAM', '2026-01-05 06:30+00'),"
        " ('r-11', 6, 'BREAKDOWN.GENERIC', '2026-01-05 06:30:40+00'),"
        " ('r-12', 1, '', '2026-01-05 06:31:10+00')) AS x(id, st, r, t);\n"
        "UPDATE station_state SET line = 'L5' WHERE station = 'REP';\n"
        "SELECT it_visit('sv-LR1b', 'LR1', 4::smallint, 'L5', 'TW-05', 8::smallint, 'R1',"
        " '2026-01-05 06:30+00', 1::smallint);\n"
        "SELECT it_visit('sv-LR1c', 'LR1', 4::smallint, 'L5', 'EOL-05', 14::smallint, 'R1',"
        " '2026-01-06 06:30+00', 2::smallint);\n"
        "SELECT it_visit('sv-LR1a', 'LR1', 4::smallint, 'L5', 'WIND-05', 6::smallint, 'R1',"
        " '2026-01-05 06:20+00', 1::smallint);\n"
        "SELECT it_visit('sv-AB1a', 'AB1', 4::smallint, 'L5', 'WIND-05', 6::smallint, 'R1',"
        " '2026-01-05 06:40+00', 3::smallint);\n"
        "SELECT it_visit('sv-AB1b', 'AB1', 4::smallint, 'L5', 'WIND-05', 6::smallint, 'R1',"
        " '2026-01-05 06:41+00', 1::smallint);\n"
        "SELECT it_visit('sv-AB1c', 'AB1', 4::smallint, 'L5', 'EOL-05', 14::smallint, 'R1',"
        " '2026-01-06 06:41+00', 2::smallint);\n"
        "SELECT it_state('r-w1', 'WIND-07', 1::smallint, '', '2026-01-05 06:00+00');\n"
        "SELECT it_state('r-w2', 'WIND-07', 6::smallint, 'BREAKDOWN.GENERIC', '2026-01-05 "
        "06:30+00');\n"
        "UPDATE station_state SET line = 'L7' WHERE station = 'WIND-07';\n"
        "SELECT it_visit('sv-W7', 'W7', 4::smallint, 'L7', 'WIND-07', 6::smallint, 'R1',"
        " '2026-01-05 06:10+00', 1::smallint);\n"
        "INSERT INTO station_state (event_id, site, line, station, state, since)"
        " VALUES ('r-f1', 'S9', 'L1', 'FUT', 1, now() - interval '2 hours');\n"
        "INSERT INTO automatic_action (command_id, alert_id, chart_id, site, line, station, kind,"
        " reason_code, reason_text, cause_event_id, decided_at) VALUES ('c-1u', 'a-1',"
        " 'weld-energy', 'S1', 'L1', 'WELD-01', 3, 'WELD_SLOW', 'undo', 'c-1',"
        " '2026-01-05 06:40:00+00');\n";

#define L5(station, key) "SELECT ct_oee_station('S1', 'L5', '" station "', " WIN ") ->> '" key "'"
#define SHIFTS_S2                                                                                  \
	"SELECT string_agg(shift_id || '@' || (starts_at AT TIME ZONE 'UTC'), ',' ORDER BY "       \
	"starts_at) FROM ct_oee_shifts('S2', 'L1', '2026-01-09 00:00+00', '2026-01-09 12:00+00')"

static void test_review_cases(void **state)
{
	struct harness *h = *state;

	load(h);
	exec_or_fail(h->pg, review_sql);
	/* No performance, no OEE (not availability x quality). */
	sql_text_is(h, L5("NOIDEAL", "performance"), "NULL");
	sql_text_is(h, L5("NOIDEAL", "oee"), "NULL");
	/* Shifts are UTC whatever the session's time zone. */
	exec_or_fail(h->pg, "SET TIME ZONE 'Asia/Tokyo'");
	sql_text_is(h, SHIFTS_S2,
	            "2026-01-08/C@2026-01-08 22:00:00,2026-01-09/A@2026-01-09 06:00:00");
	exec_or_fail(h->pg, "SET TIME ZONE 'America/New_York'");
	sql_text_is(h, SHIFTS_S2,
	            "2026-01-08/C@2026-01-08 22:00:00,2026-01-09/A@2026-01-09 06:00:00");
	sql_text_is(
	        h,
	        "SELECT ct_oee_shift('S1', 'L1', 'WIND-01', '2026-01-05/A') ->> 'shift_start_us'",
	        "1767592800000000");
	exec_or_fail(h->pg, "RESET TIME ZONE");
	/* A re-sent state is one stop; a jam turning into a breakdown is one stop too. */
	sql_figure(h, L5("REP", "micro_stop_count"), 0, 0);
	sql_figure(h, L5("REP", "unplanned_down_s"), 280, EXACT);
	sql_figure(h,
	           "SELECT ct_oee_station('S1', 'L5', 'REP', '2026-01-05 06:00+00',"
	           " '2026-01-05 06:20:15+00') ->> 'micro_stop_count'",
	           0, 0);
	sql_figure(h,
	           "SELECT ct_oee_station('S1', 'L5', 'REP', '2026-01-05 06:30:50+00',"
	           " '2026-01-05 07:00+00') ->> 'micro_stop_count'",
	           0, 0);
	sql_text_is(h,
	            "SELECT string_agg(category || ':' || reason_code || ':' || seconds || ':' || "
	            "count,"
	            " ',') FROM ct_oee_pareto('S1', 'L5', 'REP', " WIN ")",
	            "unplanned:MICRO.JAM:190:3,unplanned:BREAKDOWN.GENERIC:90:2");
	sql_text_is(h,
	            "SELECT string_agg((x ->> 'reason_code') || ':' || (x ->> 'n') || ':'"
	            " || (x ->> 'restore_mean_s'), ',') FROM jsonb_array_elements("
	            "ct_maintainability('S1', 'L5', " WIN ") -> 'stops') x",
	            "BREAKDOWN.GENERIC:1:90,MICRO.JAM:2:95");
	/* A late reject moves to the maker visit stored after it; an aborted attempt makes
	 * nothing. */
	sql_figure(h, "SELECT sum(late_rejects) FROM oee_count WHERE station = 'WIND-05'", 2, 0);
	sql_figure(h, "SELECT sum(late_rejects) FROM oee_count WHERE station = 'TW-05'", 0, 0);
	sql_text_is(h, "SELECT maker_event_id FROM oee_unit_reject WHERE unit_id = 'LR1'",
	            "sv-LR1a");
	sql_text_is(h, "SELECT maker_event_id FROM oee_unit_reject WHERE unit_id = 'AB1'",
	            "sv-AB1b");
	sql_text_is(h, "SELECT ended_at AT TIME ZONE 'UTC' FROM ct_oee_maker('AB1')",
	            "2026-01-05 06:41:00");
	/* The recipe fallback reads by index. */
	sql_figure(h, "SELECT count(*) FROM pg_indexes WHERE indexname = 'station_state_recipe'", 1,
	           0);
	/* A winder that made nothing in the window is still the line's reference. */
	sql_text_is(h,
	            "SELECT ct_oee_line('S1', 'L7', '2026-01-05 07:00+00', '2026-01-05 08:00+00')"
	            " ->> 'reference_station'",
	            "WIND-07");
	/* Time after now counts as nothing. */
	sql_figure(h,
	           "SELECT ct_oee_station('S9', 'L1', 'FUT', now() - interval '1 hour',"
	           " now() + interval '3 hours') ->> 'run_s'",
	           3600, 1e-6);
	/* ct_oee reads the counting's own tables only through the functions. */
	assert_int_not_equal(as_role(h, "ct_oee", "SELECT 1 FROM oee_unit_reject LIMIT 1"), CT_OK);
	assert_int_not_equal(as_role(h, "ct_oee", "SELECT 1 FROM unit_verdict LIMIT 1"), CT_OK);
	assert_int_equal(as_role(h, "ct_oee", "SELECT 1 FROM station_visit LIMIT 1"), CT_OK);
	/* An undo is marked and left out of the response summary. */
	sql_text_is(h,
	            "SELECT is_undo FROM ct_response_times('S1', 'L1', 'WELD-01', " WIN ")"
	            " WHERE command_id = 'c-1u'",
	            "t");
	sql_figure(h, RESP("n"), 2, 0);
	/* DER-01 sent no states (ct-oee derived PRODUCING at 06:00, UNKNOWN_STOP at 06:30),
	 * then its own IDLE from 06:20: the derived rows from then on are left out. */
	exec_or_fail(
	        h->pg,
	        "SELECT it_state('oee-run-d1', 'DER-01', 1::smallint, '',"
	        " '2026-01-05 06:00:00+00');"
	        "SELECT it_state('oee-unk-d2', 'DER-01', 7::smallint, 'NO_RESULT',"
	        " '2026-01-05 06:30:00+00');"
	        "SELECT it_state('e-d3', 'DER-01', 2::smallint, '', '2026-01-05 06:20:00+00');");
	sql_text_is(
	        h,
	        "SELECT string_agg(state || '@' || to_char(since AT TIME ZONE 'UTC', 'HH24:MI'),"
	        " ',' ORDER BY since) FROM ct_oee_intervals('S1', 'L1', 'DER-01',"
	        " '2026-01-05 06:00+00', '2026-01-05 07:00+00') WHERE event_id IS NOT NULL",
	        "1@06:00,2@06:20");
	sql_figure(h,
	           "SELECT ct_oee_station('S1', 'L1', 'DER-01', '2026-01-05 06:00+00',"
	           " '2026-01-05 07:00+00') ->> 'idle_s'",
	           2400, EXACT);
	/* A NOK result stored late (made at 06:09:30) queues its bucket for ct-oee, which
	 * drains it; a bucket counted in time is not queued. */
	exec_or_fail(h->pg, "DELETE FROM oee_recompute");
	exec_or_fail(h->pg, "SELECT it_visit('sv-LATE1', 'LATE1', 4::smallint, 'L1', 'WIND-01',"
	                    " 6::smallint, 'R1', '2026-01-05 06:09:30+00', 2::smallint)");
	sql_text_is(
	        h,
	        "SELECT string_agg(station || '@' || to_char(minute AT TIME ZONE 'UTC', 'HH24:MI'),"
	        " ',') FROM oee_recompute",
	        "WIND-01@06:09");
	/* Another late change of the bucket counts on its row (so a delete that read the row
	 * before it keeps it); a statement changing a bucket's rows of two recipes queues it
	 * once, counted once per statement that changes it. */
	exec_or_fail(h->pg, "SELECT it_visit('sv-LATE2', 'LATE2', 4::smallint, 'L1', 'WIND-01',"
	                    " 6::smallint, 'R1', '2026-01-05 06:09:40+00', 1::smallint)");
	sql_text_is(h, "SELECT changes > 1 FROM oee_recompute", "t");
	exec_or_fail(h->pg, "DELETE FROM oee_recompute");
	exec_or_fail(h->pg, "INSERT INTO oee_count (site, line, station, minute, recipe, produced)"
	                    " VALUES ('S1', 'L1', 'Q-01', '2026-01-05 06:00+00', 'R1', 1),"
	                    " ('S1', 'L1', 'Q-01', '2026-01-05 06:00+00', 'R2', 1)");
	exec_or_fail(h->pg, "UPDATE oee_count SET produced = produced + 1 WHERE station = 'Q-01'");
	sql_text_is(h, "SELECT station || ':' || changes FROM oee_recompute", "Q-01:2");
	exec_or_fail(h->pg, "DELETE FROM oee_count WHERE station = 'Q-01'");
	exec_or_fail(h->pg, "DELETE FROM oee_recompute");
	exec_or_fail(h->pg, "SELECT it_visit('sv-NOW1', 'NOW1', 4::smallint, 'L1', 'WIND-01',"
	                    " 6::smallint, 'R1', now(), 1::smallint)");
	sql_text_is(h, "SELECT count(*) FROM oee_recompute", "0");
	assert_int_equal(as_role(h, "ct_oee",
	                         "SELECT minute, site, line, station, changes FROM oee_recompute;"
	                         " DELETE FROM oee_recompute"),
	                 CT_OK);
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("oeesql", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_oee_figures, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_trace_response_maintainability,
	                                        harness_test_setup, harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_review_cases, harness_test_setup,
	                                        harness_test_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
