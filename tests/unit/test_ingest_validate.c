/* test_ingest_validate: every ingest rule, accepted and refused, and the normalisation.
 *
 * Table-driven: a valid fixture (JSON with ' for ", decoded with ct_json) is broken by one
 * small mutator per case, and the case names the return code, the dead-letter reason and the
 * start of the error text it expects. Mutators run on heap messages shaped like protobuf-c's,
 * so ASan and valgrind also check the ownership rules of the in-place normalisation. States
 * and acks are built in C (their JSON form is tested in test_ingest_json.c). */
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ct_error.h"
#include "ct_json.h"
#include "ingest_validate.h"

#define NOW_US  INT64_C(1795326890000000) /* 2026-11-22T05:54:50Z */
#define SEC     INT64_C(1000000)
#define INVALID CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_INVALID
#define CLOCK   CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_CLOCK
#define UNKNOWN CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_UNKNOWN_STATION
#define IMPLAUS CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_IMPLAUSIBLE

/* Two results from ct/v1/edge/S1/L1/FILL-01/result: a rich one and one with only its result. */
static const char batch_fixture[] =
        "{'results': ["
        " {'header': {'event_id': 'gw-fill-01:1', 'producer': 'gw-fill-01',"
        "             'produced_at_us': 1795326889000000, 'schema_version': 1},"
        "  'unit_id': 'CELL-0001', 'unit_kind': 'cell', 'site': 'S1', 'line': 'L1',"
        "  'station': 'FILL-01', 'station_type': 'electrolyte_filling', 'recipe': 'P45',"
        "  'recipe_version': 7, 'operator_id': 'op-1', 'started_at_us': 1795326880000000,"
        "  'ended_at_us': 1795326888000000, 'result': 'ok',"
        "  'measurements': [{'characteristic': 'fill_mass', 'value': 5.01, 'unit': 'g'},"
        "                   {'characteristic': 'vacuum_level', 'value': 48, 'unit': 'Pa',"
        "                    'measured_at_us': 1795326885000000}],"
        "  'parameters': [{'name': 'nozzle_pressure', 'actual': 2.48, 'setpoint': 2.5,"
        "                  'unit': 'bar'},"
        "                 {'name': 'chamber_temperature', 'actual': 24.6, 'unit': 'C'}],"
        "  'materials': [{'lot_id': 'ELY-1', 'material': 'electrolyte_LiPF6',"
        "                 'quantity': 5.01, 'unit': 'g'}],"
        "  'children': [{'unit_id': 'JR-1', 'kind': 'electrode', 'quantity': 1,"
        "                'unit': 'pcs', 'position': '1'}],"
        "  'environment': [{'quantity': 'dew_point', 'value': -52.3, 'unit': 'C',"
        "                   'sensor': 'dp-1', 'measured_at_us': 1795326870000000}],"
        "  'notes': [{'author': 'op-1', 'text': 'wiped\\nok', 'at_us': 1795326881000000}],"
        "  'exceptions': [{'code': 'NOZZLE_DRIP', 'severity': 'low', 'text': 'drip'}],"
        "  'curves': [{'name': 'chamber_pressure', 'x_unit': 's', 'y_unit': 'Pa',"
        "              'x': [0, 1, 2], 'y': [3, 2, 1]}]},"
        " {'header': {'event_id': 'gw-fill-01:2', 'producer': 'gw-fill-01',"
        "             'produced_at_us': 1795326889000000},"
        "  'unit_id': 'CELL-0002', 'unit_kind': 'cell', 'site': 'S1', 'line': 'L1',"
        "  'station': 'FILL-01', 'recipe': 'P45', 'started_at_us': 1795326887000000,"
        "  'ended_at_us': 1795326889000000, 'result': 'nok'}"
        "]}";

/* Telemetry from ct/v1/edge/S1/L1/coater-1.slot-die/telemetry. */
static const char telemetry_fixture[] =
        "{'header': {'producer': 'gw-coat-01', 'produced_at_us': 1795326889000000},"
        " 'site': 'S1', 'line': 'L1', 'asset': 'coater-1.slot-die',"
        " 'signals': [{'name': 'slot_die_gap', 'unit': 'um',"
        "              'samples': [{'at_us': 1795326887000000, 'value': 182.4},"
        "                          {'at_us': 1795326887100000, 'value': 182.5}]},"
        "             {'name': 'web_tension', 'unit': 'N',"
        "              'samples': [{'at_us': 1795326886000000, 'value': 118}]}]}";

/* Genealogy from ct/v1/edge/S1/L1/MOD-01/genealogy. */
static const char genealogy_fixture[] =
        "{'header': {'producer': 'mes-1', 'produced_at_us': 1795326889000000},"
        " 'site': 'S1', 'line': 'L1', 'station': 'MOD-01',"
        " 'parent_unit_id': 'MOD-7', 'parent_kind': 'module',"
        " 'children': [{'unit_id': 'CELL-0001', 'kind': 'cell', 'quantity': 1, 'unit': 'pcs',"
        "               'position': '1'},"
        "              {'unit_id': 'CELL-0002', 'kind': 'cell', 'quantity': 1, 'unit': 'pcs',"
        "               'position': '2'}],"
        " 'assembled_at_us': 1795326888000000, 'operator_id': 'op-1'}";

static const struct ct_topic result_topic = {.is_edge = true,
                                             .site = "S1",
                                             .line = "L1",
                                             .station = "FILL-01",
                                             .kind = CT_KIND_RESULT,
                                             .encoding = CT_ENC_JSON};
static const struct ct_topic telemetry_topic = {.is_edge = true,
                                                .site = "S1",
                                                .line = "L1",
                                                .station = "coater-1.slot-die",
                                                .kind = CT_KIND_TELEMETRY,
                                                .encoding = CT_ENC_JSON};
static const struct ct_topic genealogy_topic = {.is_edge = true,
                                                .site = "S1",
                                                .line = "L1",
                                                .station = "MOD-01",
                                                .kind = CT_KIND_GENEALOGY,
                                                .encoding = CT_ENC_JSON};

/* The fixture with ' turned into ", as a heap string. */
static char *fixture_text(const char *fixture)
{
	char *text = strdup(fixture), *p;

	assert_non_null(text);
	for (p = text; *p != '\0'; p++) {
		if (*p == '\'')
			*p = '"';
	}
	return text;
}

static Cellthread__V1__StationResultBatch *load_batch(const char *fixture)
{
	Cellthread__V1__StationResultBatch *batch = NULL;
	char *text = fixture_text(fixture), err[256] = "";

	if (ct_json_result_batch(text, strlen(text), &batch, err, sizeof(err)) != CT_OK)
		fail_msg("fixture: %s", err);
	free(text);
	return batch;
}

static Cellthread__V1__Telemetry *load_telemetry(const char *fixture)
{
	Cellthread__V1__Telemetry *msg = NULL;
	char *text = fixture_text(fixture), err[256] = "";

	if (ct_json_telemetry(text, strlen(text), &msg, err, sizeof(err)) != CT_OK)
		fail_msg("fixture: %s", err);
	free(text);
	return msg;
}

static Cellthread__V1__Genealogy *load_genealogy(const char *fixture)
{
	Cellthread__V1__Genealogy *msg = NULL;
	char *text = fixture_text(fixture), err[256] = "";

	if (ct_json_genealogy(text, strlen(text), &msg, err, sizeof(err)) != CT_OK)
		fail_msg("fixture: %s", err);
	free(text);
	return msg;
}

static void free_msg(void *msg)
{
	protobuf_c_message_free_unpacked(msg, NULL);
}

/* Replaces a string field the way protobuf-c owns it. */
static void set_str(char **field, const char *value)
{
	if (*field != protobuf_c_empty_string)
		free(*field);
	*field = strdup(value);
	assert_non_null(*field);
}

/* A string of n copies of c, in a static buffer (one at a time). */
static const char *repeat(char c, size_t n)
{
	static char buf[2048];

	assert_true(n < sizeof(buf));
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

/* Checks the outcome of one case: rc, reason and the start of the error text. */
static void expect(const char *name, int rc, int reason, const char *err, int want_rc,
                   int want_reason, const char *want_err)
{
	if (rc != want_rc)
		fail_msg("%s: rc %d, expected %d (%s)", name, rc, want_rc, err);
	if (want_rc == CT_OK) {
		if (reason != -1)
			fail_msg("%s: reason set on success", name);
		return;
	}
	if (reason != want_reason)
		fail_msg("%s: reason %d, expected %d (%s)", name, reason, want_reason, err);
	if (strncmp(err, want_err, strlen(want_err)) != 0)
		fail_msg("%s: error \"%s\", expected \"%s...\"", name, err, want_err);
}

/* A plant registry naming the fixtures' stations (group setup loads it). */
static struct ct_plant *test_plant;
static const char plant_text[] = "# the fixtures' plant\n"
                                 "line S1 L1 FILL-01 MOD-01\n"
                                 "line S1 L1 coater-1\n"
                                 "range fill_mass 0 50 g\n"
                                 "range nozzle_pressure 0 100 bar\n"
                                 "range dew_point -100 100 C\n"
                                 "range web_tension 0 1000 N\n"
                                 "default-range -1e6 1e6\n";

/* Mutators: each takes the valid fixture (and the limits) and breaks or bends one thing. */
#define RESULT_MUTATOR(name, ...)                                                                  \
	static void name(Cellthread__V1__StationResultBatch *b, struct ingest_limits *l)           \
	{                                                                                          \
		Cellthread__V1__StationResult *r0 = b->results[0], *r1 = b->results[1];            \
		(void)l;                                                                           \
		(void)r0;                                                                          \
		(void)r1;                                                                          \
		__VA_ARGS__;                                                                       \
	}

RESULT_MUTATOR(r_none, )
RESULT_MUTATOR(r_no_operator, set_str(&r0->operator_id, "");
               set_str(&r0->environment[0]->sensor, ""); set_str(&r0->notes[0]->author, ""))
RESULT_MUTATOR(r_no_station_type, r0->station_type = 0)
RESULT_MUTATOR(r_ended_is_started, r0->ended_at_us = r0->started_at_us)
RESULT_MUTATOR(r_id_64, set_str(&r0->unit_id, repeat('C', 64)))
RESULT_MUTATOR(r_future_limit, r0->ended_at_us = NOW_US + 300 * SEC)
RESULT_MUTATOR(r_past_limit, r0->started_at_us = NOW_US - INT64_C(30) * 86400 * SEC)
RESULT_MUTATOR(r_utf8_note,
               set_str(&r0->notes[0]->text, "D\xc3\xbc"
                                            "se 3 gewischt \xe2\x80\x94 ok \xf0\x9f\x94\x8b"))
RESULT_MUTATOR(r_note_1024, set_str(&r0->notes[0]->text, repeat('n', 1024)))
RESULT_MUTATOR(r_empty_unit, set_str(&r0->measurements[0]->unit, ""))
RESULT_MUTATOR(r_zero_quantity, r0->materials[0]->quantity = 0)
RESULT_MUTATOR(r_no_header, free_msg(r0->header); r0->header = NULL)
RESULT_MUTATOR(r_no_producer, set_str(&r0->header->producer, ""))
RESULT_MUTATOR(r_bad_producer, set_str(&r0->header->producer, "gw/1"))
RESULT_MUTATOR(r_bad_event_id, set_str(&r0->header->event_id, "gw 1"))
RESULT_MUTATOR(r_no_produced_at, r0->header->produced_at_us = 0)
RESULT_MUTATOR(r_produced_future, r0->header->produced_at_us = NOW_US + 301 * SEC)
RESULT_MUTATOR(r_schema_2, r0->header->schema_version = 2)
RESULT_MUTATOR(r_sql_unit_id, set_str(&r0->unit_id, "x'; DROP TABLE unit;--"))
RESULT_MUTATOR(r_unit_id_65, set_str(&r0->unit_id, repeat('C', 65)))
RESULT_MUTATOR(r_no_unit_id, set_str(&r0->unit_id, ""))
RESULT_MUTATOR(r_unit_kind_0, r0->unit_kind = 0)
RESULT_MUTATOR(r_unit_kind_42, r0->unit_kind = 42)
RESULT_MUTATOR(r_site_mismatch, set_str(&r1->site, "S2"))
RESULT_MUTATOR(r_line_mismatch, set_str(&r1->line, "L9"))
RESULT_MUTATOR(r_station_mismatch, set_str(&r1->station, "FILL-02"))
RESULT_MUTATOR(r_site_slash, set_str(&r0->site, "S1/#"))
RESULT_MUTATOR(r_no_recipe, set_str(&r0->recipe, ""))
RESULT_MUTATOR(r_bad_operator, set_str(&r0->operator_id, "op 1"))
RESULT_MUTATOR(r_started_future, r0->started_at_us = NOW_US + 3600 * SEC;
               r0->ended_at_us = NOW_US + 3600 * SEC)
RESULT_MUTATOR(r_started_past, r0->started_at_us = NOW_US - INT64_C(31) * 86400 * SEC)
RESULT_MUTATOR(r_started_min, r0->started_at_us = INT64_MIN)
RESULT_MUTATOR(r_ended_max, r0->ended_at_us = INT64_MAX)
RESULT_MUTATOR(r_ended_before, r0->ended_at_us = r0->started_at_us - 1)
RESULT_MUTATOR(r_result_7, r0->result = 7)
RESULT_MUTATOR(r_value_nan, r0->measurements[1]->value = NAN)
RESULT_MUTATOR(r_value_inf, r0->measurements[1]->value = INFINITY)
RESULT_MUTATOR(r_value_ninf, r0->measurements[0]->value = -INFINITY)
RESULT_MUTATOR(r_char_upper, set_str(&r0->measurements[0]->characteristic, "Fill_Mass"))
RESULT_MUTATOR(r_char_65, set_str(&r0->measurements[0]->characteristic, repeat('c', 65)))
RESULT_MUTATOR(r_char_empty, set_str(&r0->measurements[0]->characteristic, ""))
RESULT_MUTATOR(r_unit_newline, set_str(&r0->measurements[0]->unit, "g\n"))
RESULT_MUTATOR(r_unit_17, set_str(&r0->measurements[0]->unit, repeat('u', 17)))
RESULT_MUTATOR(r_measured_future, r0->measurements[1]->measured_at_us = NOW_US + 400 * SEC)
RESULT_MUTATOR(r_actual_inf, r0->parameters[0]->actual = INFINITY)
RESULT_MUTATOR(r_setpoint_nan, r0->parameters[0]->setpoint = NAN)
RESULT_MUTATOR(r_param_name, set_str(&r0->parameters[1]->name, "chamber-temperature"))
RESULT_MUTATOR(r_quantity_negative, r0->materials[0]->quantity = -1)
RESULT_MUTATOR(r_bad_lot, set_str(&r0->materials[0]->lot_id, "ELY 1"))
RESULT_MUTATOR(r_no_material, set_str(&r0->materials[0]->material, ""))
RESULT_MUTATOR(r_child_kind_0, r0->children[0]->kind = 0)
RESULT_MUTATOR(r_child_is_parent, set_str(&r0->children[0]->unit_id, "CELL-0001"))
RESULT_MUTATOR(r_child_quantity_nan, r0->children[0]->quantity = NAN)
RESULT_MUTATOR(r_child_position_ctl, set_str(&r0->children[0]->position, "1\x1b[2J"))
RESULT_MUTATOR(r_env_name, set_str(&r0->environment[0]->quantity, "Dew Point"))
RESULT_MUTATOR(r_env_sensor, set_str(&r0->environment[0]->sensor, "dp;1"))
RESULT_MUTATOR(r_env_inf, r0->environment[0]->value = -INFINITY)
/* Finite but absurd: accepted as "finite" once, it drove an EWMA chart into 21 ADJUSTs. */
RESULT_MUTATOR(r_value_huge, r0->measurements[0]->value = 1.7e308)
RESULT_MUTATOR(r_value_ok_no_registry, r0->measurements[0]->value = 9.9e8)
RESULT_MUTATOR(r_registered, l->plant = test_plant)
RESULT_MUTATOR(r_fill_mass_60, l->plant = test_plant; r0->measurements[0]->value = 60)
RESULT_MUTATOR(r_fill_mass_negative, l->plant = test_plant; r0->measurements[0]->value = -0.1)
RESULT_MUTATOR(r_default_range, l->plant = test_plant; r0->measurements[1]->value = 2e6)
RESULT_MUTATOR(r_setpoint_range, l->plant = test_plant; r0->parameters[0]->setpoint = 250)
RESULT_MUTATOR(r_env_range, l->plant = test_plant; r0->environment[0]->value = -150)
RESULT_MUTATOR(r_note_bad_utf8, set_str(&r0->notes[0]->text, "caf\xc3\x28"))
RESULT_MUTATOR(r_note_overlong, set_str(&r0->notes[0]->text, "\xc0\xaf"))
RESULT_MUTATOR(r_note_surrogate, set_str(&r0->notes[0]->text, "\xed\xa0\x80"))
RESULT_MUTATOR(r_note_truncated, set_str(&r0->notes[0]->text, "ok \xe2\x80"))
RESULT_MUTATOR(r_note_control, set_str(&r0->notes[0]->text, "bell\x07"))
RESULT_MUTATOR(r_note_1025, set_str(&r0->notes[0]->text, repeat('n', 1025)))
RESULT_MUTATOR(r_note_empty, set_str(&r0->notes[0]->text, ""))
RESULT_MUTATOR(r_note_author, set_str(&r0->notes[0]->author, "op@1"))
RESULT_MUTATOR(r_severity_9, r0->exceptions[0]->severity = 9)
RESULT_MUTATOR(r_exception_code, set_str(&r0->exceptions[0]->code, "drip!"))
RESULT_MUTATOR(r_exception_text_long, l->max_text = 3)
RESULT_MUTATOR(r_curve_short_y, r0->curves[0]->n_y = 2)
RESULT_MUTATOR(r_curve_x_nan, r0->curves[0]->x[1] = NAN)
RESULT_MUTATOR(r_curve_y_inf, r0->curves[0]->y[2] = INFINITY)
RESULT_MUTATOR(r_curve_points, l->max_curve_points = 2)
RESULT_MUTATOR(r_curve_name, set_str(&r0->curves[0]->name, "Chamber pressure"))
RESULT_MUTATOR(r_curve_unit, set_str(&r0->curves[0]->y_unit, "\x7f"))
RESULT_MUTATOR(r_max_items, l->max_items = 1)
RESULT_MUTATOR(r_max_results, l->max_results = 1)
RESULT_MUTATOR(r_duplicate_id, set_str(&r1->header->event_id, "gw-fill-01:1"))
RESULT_MUTATOR(r_duplicate_derived, set_str(&r0->header->event_id, "");
               set_str(&r1->header->event_id, ""); set_str(&r1->unit_id, "CELL-0001");
               r1->started_at_us = r0->started_at_us)
RESULT_MUTATOR(r_different_derived, set_str(&r0->header->event_id, "");
               set_str(&r1->header->event_id, ""))

struct result_case {
	const char *name;
	void (*mutate)(Cellthread__V1__StationResultBatch *b, struct ingest_limits *l);
	int rc;
	int reason;
	const char *err; /* expected start of the error text */
};

static const struct result_case result_cases[] = {
        {"valid", r_none, CT_OK, 0, NULL},
        {"optional IDs empty", r_no_operator, CT_OK, 0, NULL},
        {"station_type unspecified", r_no_station_type, CT_OK, 0, NULL},
        {"ended == started", r_ended_is_started, CT_OK, 0, NULL},
        {"64-character ID", r_id_64, CT_OK, 0, NULL},
        {"time at the future limit", r_future_limit, CT_OK, 0, NULL},
        {"time at the past limit", r_past_limit, CT_OK, 0, NULL},
        {"multi-byte UTF-8 note", r_utf8_note, CT_OK, 0, NULL},
        {"note of max_text bytes", r_note_1024, CT_OK, 0, NULL},
        {"empty unit of measure", r_empty_unit, CT_OK, 0, NULL},
        {"zero quantity", r_zero_quantity, CT_OK, 0, NULL},
        {"different derived IDs", r_different_derived, CT_OK, 0, NULL},
        {"header missing", r_no_header, CT_ERR_INVALID, INVALID, "results[0].header: missing"},
        {"producer missing", r_no_producer, CT_ERR_INVALID, INVALID,
         "results[0].header.producer: missing"},
        {"producer with /", r_bad_producer, CT_ERR_INVALID, INVALID,
         "results[0].header.producer: not a valid ID (1-64 characters from [A-Za-z0-9._:-]): "
         "\"gw/1\""},
        {"event_id with space", r_bad_event_id, CT_ERR_INVALID, INVALID,
         "results[0].header.event_id: not a valid ID"},
        {"produced_at missing", r_no_produced_at, CT_ERR_INVALID, INVALID,
         "results[0].header.produced_at_us: missing"},
        {"produced_at in the future", r_produced_future, CT_ERR_INVALID, CLOCK,
         "results[0].header.produced_at_us: 1795327191000000 is 301.000 s in the future (limit "
         "300 s)"},
        {"schema_version 2", r_schema_2, CT_ERR_INVALID, INVALID,
         "results[0].header.schema_version: version 2 not supported (expected 1)"},
        {"SQL in unit_id", r_sql_unit_id, CT_ERR_INVALID, INVALID,
         "results[0].unit_id: not a valid ID (1-64 characters from [A-Za-z0-9._:-]): "
         "\"x'; DROP TABLE unit;--\""},
        {"65-character unit_id", r_unit_id_65, CT_ERR_INVALID, INVALID,
         "results[0].unit_id: not a valid ID"},
        {"unit_id missing", r_no_unit_id, CT_ERR_INVALID, INVALID, "results[0].unit_id: missing"},
        {"unit_kind unspecified", r_unit_kind_0, CT_ERR_INVALID, INVALID,
         "results[0].unit_kind: unspecified"},
        {"unit_kind unknown", r_unit_kind_42, CT_ERR_INVALID, INVALID,
         "results[0].unit_kind: unknown value 42"},
        {"site not the topic's", r_site_mismatch, CT_ERR_INVALID, INVALID,
         "results[1].site: \"S2\" does not match the topic's site \"S1\""},
        {"line not the topic's", r_line_mismatch, CT_ERR_INVALID, INVALID,
         "results[1].line: \"L9\" does not match the topic's line \"L1\""},
        {"station not the topic's", r_station_mismatch, CT_ERR_INVALID, INVALID,
         "results[1].station: \"FILL-02\" does not match the topic's station \"FILL-01\""},
        {"site with topic wildcards", r_site_slash, CT_ERR_INVALID, INVALID,
         "results[0].site: not a valid ID"},
        {"recipe missing", r_no_recipe, CT_ERR_INVALID, INVALID, "results[0].recipe: missing"},
        {"operator with space", r_bad_operator, CT_ERR_INVALID, INVALID,
         "results[0].operator_id: not a valid ID"},
        {"started in the future", r_started_future, CT_ERR_INVALID, CLOCK,
         "results[0].started_at_us: 1795330490000000 is 3600.000 s in the future"},
        {"started 31 days ago", r_started_past, CT_ERR_INVALID, CLOCK,
         "results[0].started_at_us: 1792648490000000 is 2678400 s in the past (limit 2592000 s)"},
        {"started at INT64_MIN", r_started_min, CT_ERR_INVALID, CLOCK,
         "results[0].started_at_us: -9223372036854775808 is "},
        {"ended at INT64_MAX", r_ended_max, CT_ERR_INVALID, CLOCK,
         "results[0].ended_at_us: 9223372036854775807 is "},
        {"ended before started", r_ended_before, CT_ERR_INVALID, INVALID,
         "results[0].ended_at_us: 1795326879999999 is before started_at_us 1795326880000000"},
        {"result unknown", r_result_7, CT_ERR_INVALID, INVALID,
         "results[0].result: unknown value 7"},
        {"value NaN", r_value_nan, CT_ERR_INVALID, INVALID,
         "results[0].measurements[1].value: not finite"},
        {"value +Inf", r_value_inf, CT_ERR_INVALID, INVALID,
         "results[0].measurements[1].value: not finite"},
        {"value -Inf", r_value_ninf, CT_ERR_INVALID, INVALID,
         "results[0].measurements[0].value: not finite"},
        {"characteristic upper case", r_char_upper, CT_ERR_INVALID, INVALID,
         "results[0].measurements[0].characteristic: not a valid name (1-64 characters from "
         "[a-z0-9_]): \"Fill_Mass\""},
        {"characteristic 65 characters", r_char_65, CT_ERR_INVALID, INVALID,
         "results[0].measurements[0].characteristic: not a valid name"},
        {"characteristic missing", r_char_empty, CT_ERR_INVALID, INVALID,
         "results[0].measurements[0].characteristic: missing"},
        {"unit with newline", r_unit_newline, CT_ERR_INVALID, INVALID,
         "results[0].measurements[0].unit: not a valid unit (0-16 printable ASCII characters): "
         "\"g?\""},
        {"unit 17 characters", r_unit_17, CT_ERR_INVALID, INVALID,
         "results[0].measurements[0].unit: not a valid unit"},
        {"measured_at in the future", r_measured_future, CT_ERR_INVALID, CLOCK,
         "results[0].measurements[1].measured_at_us: 1795327290000000 is 400.000 s in the future"},
        {"actual Inf", r_actual_inf, CT_ERR_INVALID, INVALID,
         "results[0].parameters[0].actual: not finite"},
        {"setpoint NaN", r_setpoint_nan, CT_ERR_INVALID, INVALID,
         "results[0].parameters[0].setpoint: not finite"},
        {"parameter name with -", r_param_name, CT_ERR_INVALID, INVALID,
         "results[0].parameters[1].name: not a valid name"},
        {"negative quantity", r_quantity_negative, CT_ERR_INVALID, INVALID,
         "results[0].materials[0].quantity: negative (-1)"},
        {"lot_id with space", r_bad_lot, CT_ERR_INVALID, INVALID,
         "results[0].materials[0].lot_id: not a valid ID"},
        {"material missing", r_no_material, CT_ERR_INVALID, INVALID,
         "results[0].materials[0].material: missing"},
        {"child kind unspecified", r_child_kind_0, CT_ERR_INVALID, INVALID,
         "results[0].children[0].kind: unspecified"},
        {"child is the unit", r_child_is_parent, CT_ERR_INVALID, INVALID,
         "results[0].children[0].unit_id: the unit itself (\"CELL-0001\")"},
        {"child quantity NaN", r_child_quantity_nan, CT_ERR_INVALID, INVALID,
         "results[0].children[0].quantity: not finite"},
        {"child position with escape", r_child_position_ctl, CT_ERR_INVALID, INVALID,
         "results[0].children[0].position: contains a control character"},
        {"environment quantity with space", r_env_name, CT_ERR_INVALID, INVALID,
         "results[0].environment[0].quantity: not a valid name"},
        {"sensor with ;", r_env_sensor, CT_ERR_INVALID, INVALID,
         "results[0].environment[0].sensor: not a valid ID"},
        {"environment -Inf", r_env_inf, CT_ERR_INVALID, INVALID,
         "results[0].environment[0].value: not finite"},
        {"value 1.7e308 without a registry", r_value_huge, CT_ERR_INVALID, IMPLAUS,
         "results[0].measurements[0].value: 1.7e+308 is outside the physical "
         "range of fill_mass [-1e+09, 1e+09]"},
        {"value 9.9e8 without a registry", r_value_ok_no_registry, CT_OK, 0, ""},
        {"registered station, values in range", r_registered, CT_OK, 0, ""},
        {"fill mass 60 g", r_fill_mass_60, CT_ERR_INVALID, IMPLAUS,
         "results[0].measurements[0].value: 60 is outside the physical range of fill_mass "
         "[0, 50]"},
        {"fill mass -0.1 g", r_fill_mass_negative, CT_ERR_INVALID, IMPLAUS,
         "results[0].measurements[0].value: -0.1 is outside"},
        {"name without a range: the default", r_default_range, CT_ERR_INVALID, IMPLAUS,
         "results[0].measurements[1].value: 2000000 is outside the physical range of "
         "vacuum_level [-1e+06, 1e+06]"},
        {"parameter setpoint out of range", r_setpoint_range, CT_ERR_INVALID, IMPLAUS,
         "results[0].parameters[0].setpoint: 250 is outside the physical range of "
         "nozzle_pressure [0, 100]"},
        {"environment out of range", r_env_range, CT_ERR_INVALID, IMPLAUS,
         "results[0].environment[0].value: -150 is outside"},
        {"note not UTF-8", r_note_bad_utf8, CT_ERR_INVALID, INVALID,
         "results[0].notes[0].text: not valid UTF-8"},
        {"note overlong UTF-8", r_note_overlong, CT_ERR_INVALID, INVALID,
         "results[0].notes[0].text: not valid UTF-8"},
        {"note UTF-16 surrogate", r_note_surrogate, CT_ERR_INVALID, INVALID,
         "results[0].notes[0].text: not valid UTF-8"},
        {"note cut inside a character", r_note_truncated, CT_ERR_INVALID, INVALID,
         "results[0].notes[0].text: not valid UTF-8"},
        {"note with BEL", r_note_control, CT_ERR_INVALID, INVALID,
         "results[0].notes[0].text: contains a control character"},
        {"note over max_text", r_note_1025, CT_ERR_INVALID, INVALID,
         "results[0].notes[0].text: longer than 1024 bytes"},
        {"note empty", r_note_empty, CT_ERR_INVALID, INVALID, "results[0].notes[0].text: missing"},
        {"note author with @", r_note_author, CT_ERR_INVALID, INVALID,
         "results[0].notes[0].author: not a valid ID"},
        {"severity unknown", r_severity_9, CT_ERR_INVALID, INVALID,
         "results[0].exceptions[0].severity: unknown value 9"},
        {"exception code with !", r_exception_code, CT_ERR_INVALID, INVALID,
         "results[0].exceptions[0].code: not a valid ID"},
        {"max_text counts note bytes", r_exception_text_long, CT_ERR_INVALID, INVALID,
         "results[0].notes[0].text: longer than 3 bytes"},
        {"curve y shorter than x", r_curve_short_y, CT_ERR_INVALID, INVALID,
         "results[0].curves[0].y: 2 points but x has 3"},
        {"curve x NaN", r_curve_x_nan, CT_ERR_INVALID, INVALID,
         "results[0].curves[0].x[1]: not finite"},
        {"curve y Inf", r_curve_y_inf, CT_ERR_INVALID, INVALID,
         "results[0].curves[0].y[2]: not finite"},
        {"curve over max_curve_points", r_curve_points, CT_ERR_INVALID, INVALID,
         "results[0].curves[0].x: 3 points, limit 2"},
        {"curve name with space", r_curve_name, CT_ERR_INVALID, INVALID,
         "results[0].curves[0].name: not a valid name"},
        {"curve unit DEL", r_curve_unit, CT_ERR_INVALID, INVALID,
         "results[0].curves[0].y_unit: not a valid unit"},
        {"list over max_items", r_max_items, CT_ERR_INVALID, INVALID,
         "results[0].measurements: 2 entries, limit 1"},
        {"batch over max_results", r_max_results, CT_ERR_INVALID, INVALID,
         "results: 2 entries, limit 1"},
        {"duplicate event_id", r_duplicate_id, CT_ERR_INVALID, INVALID,
         "results[1].header.event_id: duplicate of results[0] (\"gw-fill-01:1\")"},
        {"duplicate derived event_id", r_duplicate_derived, CT_ERR_INVALID, INVALID,
         "results[1].header.event_id: duplicate of results[0] (\"d-"},
};

static void test_result_cases(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(result_cases) / sizeof(result_cases[0]); i++) {
		const struct result_case *c = &result_cases[i];
		Cellthread__V1__StationResultBatch *b = load_batch(batch_fixture);
		struct ingest_limits limits;
		char err[256] = "";
		int reason = -1, rc;

		ingest_limits_init(&limits);
		c->mutate(b, &limits);
		rc = ingest_check_result_batch(b, &result_topic, NOW_US, &limits, &reason, err,
		                               sizeof(err));
		expect(c->name, rc, reason, err, c->rc, c->reason, c->err);
		free_msg(b);
	}
}

static void test_empty_batch(void **state)
{
	Cellthread__V1__StationResultBatch *b = load_batch("{'results': []}");
	struct ingest_limits limits;
	char err[128] = "";
	int reason = -1;

	(void)state;
	ingest_limits_init(&limits);
	assert_int_equal(ingest_check_result_batch(b, &result_topic, NOW_US, &limits, &reason, err,
	                                           sizeof(err)),
	                 CT_ERR_INVALID);
	assert_int_equal(reason, INVALID);
	assert_string_equal(err, "results: empty");
	free_msg(b);
}

static void test_no_topic_skips_location(void **state)
{
	Cellthread__V1__StationResultBatch *b = load_batch(batch_fixture);
	struct ingest_limits limits;
	char err[128] = "";
	int reason = -1;

	(void)state;
	ingest_limits_init(&limits);
	set_str(&b->results[1]->site, "S2");
	assert_int_equal(
	        ingest_check_result_batch(b, NULL, NOW_US, &limits, &reason, err, sizeof(err)),
	        CT_OK);
	free_msg(b);
}

static void test_limits_defaults(void **state)
{
	struct ingest_limits l;

	(void)state;
	ingest_limits_init(&l);
	assert_int_equal(l.max_future_us, 300 * SEC);
	assert_int_equal(l.max_past_us, INT64_C(30) * 86400 * SEC);
	assert_int_equal(l.max_results, 1000);
	assert_int_equal(l.max_items, 4096);
	assert_int_equal(l.max_text, 1024);
	assert_int_equal(l.max_curve_points, 4096);
	assert_int_equal(l.max_samples, 10000);
}

static void test_result_normalised(void **state)
{
	Cellthread__V1__StationResultBatch *b = load_batch(batch_fixture);
	Cellthread__V1__StationResult *r0 = b->results[0], *r1 = b->results[1];
	struct ingest_limits limits;
	char err[128] = "";
	int reason = -1;

	(void)state;
	ingest_limits_init(&limits);
	assert_int_equal(r1->header->schema_version, 0);
	assert_int_equal(ingest_check_result_batch(b, &result_topic, NOW_US, &limits, &reason, err,
	                                           sizeof(err)),
	                 CT_OK);
	assert_int_equal(reason, -1);
	assert_int_equal(r0->header->schema_version, 1);
	assert_int_equal(r1->header->schema_version, 1);
	assert_string_equal(r0->header->event_id, "gw-fill-01:1");
	/* 0 item times become the visit's end; given ones stay. */
	assert_int_equal(r0->measurements[0]->measured_at_us, r0->ended_at_us);
	assert_int_equal(r0->measurements[1]->measured_at_us, INT64_C(1795326885000000));
	assert_int_equal(r0->exceptions[0]->at_us, r0->ended_at_us);
	assert_int_equal(r0->notes[0]->at_us, INT64_C(1795326881000000));
	assert_int_equal(r0->environment[0]->measured_at_us, INT64_C(1795326870000000));
	free_msg(b);
}

/* The derived ID is the documented hash (JSON.md, ingest_validate.h): a gateway-independent
 * recomputation (`printf %s 'result|S1|L1|ST1|CELL-1|1763790888000000' | sha256sum`) gives the
 * same value. */
static void test_result_derived_id_documented(void **state)
{
	Cellthread__V1__StationResultBatch *b = load_batch(
	        "{'producer': 'gw-1', 'produced_at_us': 1763790889000000, 'unit_id': 'CELL-1',"
	        " 'unit_kind': 'cell', 'site': 'S1', 'line': 'L1', 'station': 'ST1', 'recipe': 'R',"
	        " 'started_at_us': 1763790888000000, 'ended_at_us': 1763790888500000}");
	struct ingest_limits limits;
	char err[128] = "";
	int reason = -1;

	(void)state;
	ingest_limits_init(&limits);
	assert_ptr_equal(b->results[0]->header->event_id, protobuf_c_empty_string);
	assert_int_equal(ingest_check_result_batch(b, NULL, INT64_C(1763790890000000), &limits,
	                                           &reason, err, sizeof(err)),
	                 CT_OK);
	assert_string_equal(b->results[0]->header->event_id, "d-35439c5f92128cb458e578cbf3de7bf0");
	free_msg(b);
}

/* Derives the ID of the single-result fixture after mutate; writes it into id. */
static void derived_id_of(void (*mutate)(Cellthread__V1__StationResult *r), char *id, size_t len)
{
	Cellthread__V1__StationResultBatch *b = load_batch(batch_fixture);
	struct ingest_limits limits;
	char err[128] = "";
	int reason = -1;

	ingest_limits_init(&limits);
	set_str(&b->results[0]->header->event_id, "");
	if (mutate != NULL)
		mutate(b->results[0]);
	assert_int_equal(
	        ingest_check_result_batch(b, NULL, NOW_US, &limits, &reason, err, sizeof(err)),
	        CT_OK);
	assert_int_equal(strlen(b->results[0]->header->event_id), 34);
	assert_memory_equal(b->results[0]->header->event_id, "d-", 2);
	assert_true(strspn(b->results[0]->header->event_id + 2, "0123456789abcdef") == 32);
	snprintf(id, len, "%s", b->results[0]->header->event_id);
	free_msg(b);
}

static void d_unit(Cellthread__V1__StationResult *r)
{
	set_str(&r->unit_id, "CELL-0003");
}

static void d_started(Cellthread__V1__StationResult *r)
{
	r->started_at_us += 1;
}

static void d_station(Cellthread__V1__StationResult *r)
{
	set_str(&r->station, "FILL-02");
}

static void d_site(Cellthread__V1__StationResult *r)
{
	set_str(&r->site, "S2");
}

static void d_measurement(Cellthread__V1__StationResult *r)
{
	r->measurements[0]->value += 1; /* not part of the visit's identity */
}

static void test_result_derived_id_deterministic(void **state)
{
	char a[40], b[40], c[40];

	(void)state;
	derived_id_of(NULL, a, sizeof(a));
	derived_id_of(NULL, b, sizeof(b));
	assert_string_equal(a, b);
	derived_id_of(d_measurement, c, sizeof(c));
	assert_string_equal(a, c);
	derived_id_of(d_unit, c, sizeof(c));
	assert_string_not_equal(a, c);
	derived_id_of(d_started, c, sizeof(c));
	assert_string_not_equal(a, c);
	derived_id_of(d_station, c, sizeof(c));
	assert_string_not_equal(a, c);
	derived_id_of(d_site, c, sizeof(c));
	assert_string_not_equal(a, c);
}

/* A refused batch is left exactly as it came, derived IDs and all. */
static void test_refused_batch_unchanged(void **state)
{
	Cellthread__V1__StationResultBatch *b = load_batch(batch_fixture);
	Cellthread__V1__StationResult *r0 = b->results[0];
	struct ingest_limits limits;
	char err[128] = "";
	int reason = -1;
	char *empty;

	(void)state;
	ingest_limits_init(&limits);
	set_str(&r0->header->event_id, "");
	empty = r0->header->event_id;
	r0->header->schema_version = 0;
	b->results[1]->ended_at_us = 1;
	assert_int_equal(ingest_check_result_batch(b, &result_topic, NOW_US, &limits, &reason, err,
	                                           sizeof(err)),
	                 CT_ERR_INVALID);
	assert_int_equal(reason, CLOCK);
	assert_ptr_equal(r0->header->event_id, empty);
	assert_int_equal(r0->header->schema_version, 0);
	assert_int_equal(r0->measurements[0]->measured_at_us, 0);
	free_msg(b);
}

/* An empty event_id that protobuf-c allocated (a present, empty field) is freed when the
 * derived ID replaces it; ASan and valgrind see the leak otherwise. */
static void test_derived_replaces_heap_empty_string(void **state)
{
	Cellthread__V1__StationResultBatch *b = load_batch(batch_fixture);
	struct ingest_limits limits;
	char err[128] = "";
	int reason = -1;

	(void)state;
	ingest_limits_init(&limits);
	set_str(&b->results[1]->header->event_id, "");
	assert_ptr_not_equal(b->results[1]->header->event_id, protobuf_c_empty_string);
	assert_int_equal(ingest_check_result_batch(b, &result_topic, NOW_US, &limits, &reason, err,
	                                           sizeof(err)),
	                 CT_OK);
	assert_memory_equal(b->results[1]->header->event_id, "d-", 2);
	free_msg(b);
}

/* One result on its own: reasons name its place in the batch, normalisation is the same. */
static void test_single_result(void **state)
{
	Cellthread__V1__StationResultBatch *b = load_batch(batch_fixture);
	Cellthread__V1__StationResultBatch *b2 = load_batch(batch_fixture);
	Cellthread__V1__StationResult *r0 = b->results[0], *r1 = b->results[1];
	struct ingest_limits limits;
	char err[128] = "";
	int reason = -1;

	(void)state;
	ingest_limits_init(&limits);
	set_str(&r1->recipe, "");
	assert_int_equal(ingest_check_result(r1, 7, &result_topic, NOW_US, &limits, &reason, err,
	                                     sizeof(err)),
	                 CT_ERR_INVALID);
	assert_int_equal(reason, INVALID);
	assert_string_equal(err, "results[7].recipe: missing");
	reason = -1;
	assert_int_equal(ingest_check_result(NULL, 3, &result_topic, NOW_US, &limits, &reason, err,
	                                     sizeof(err)),
	                 CT_ERR_INVALID);
	assert_string_equal(err, "results[3]: missing");

	/* Same derived ID and normalisation as through the batch. */
	reason = -1;
	set_str(&r0->header->event_id, "");
	set_str(&b2->results[0]->header->event_id, "");
	assert_int_equal(ingest_check_result(r0, 0, &result_topic, NOW_US, &limits, &reason, err,
	                                     sizeof(err)),
	                 CT_OK);
	assert_int_equal(reason, -1);
	assert_int_equal(ingest_check_result_batch(b2, &result_topic, NOW_US, &limits, &reason, err,
	                                           sizeof(err)),
	                 CT_OK);
	assert_string_equal(r0->header->event_id, b2->results[0]->header->event_id);
	assert_int_equal(r0->header->schema_version, 1);
	assert_int_equal(r0->measurements[0]->measured_at_us, r0->ended_at_us);
	free_msg(b);
	free_msg(b2);
}

#define TELEMETRY_MUTATOR(name, ...)                                                               \
	static void name(Cellthread__V1__Telemetry *m, struct ingest_limits *l)                    \
	{                                                                                          \
		(void)m;                                                                           \
		(void)l;                                                                           \
		__VA_ARGS__;                                                                       \
	}

TELEMETRY_MUTATOR(t_none, )
TELEMETRY_MUTATOR(t_asset_mismatch, set_str(&m->asset, "coater-2"))
TELEMETRY_MUTATOR(t_site_mismatch, set_str(&m->site, "S9"))
TELEMETRY_MUTATOR(t_no_header, free_msg(m->header); m->header = NULL)
TELEMETRY_MUTATOR(t_no_signals, m->n_signals = 0)
TELEMETRY_MUTATOR(t_max_signals, l->max_items = 1)
TELEMETRY_MUTATOR(t_signal_name, set_str(&m->signals[1]->name, "WebTension"))
TELEMETRY_MUTATOR(t_signal_unit, set_str(&m->signals[1]->unit, "N\t"))
TELEMETRY_MUTATOR(t_no_samples, m->signals[0]->n_samples = 0)
TELEMETRY_MUTATOR(t_sample_nan, m->signals[0]->samples[1]->value = NAN)
TELEMETRY_MUTATOR(t_sample_order, m->signals[0]->samples[1]->at_us -= 200000)
TELEMETRY_MUTATOR(t_sample_zero, m->signals[0]->samples[0]->at_us = 0)
TELEMETRY_MUTATOR(t_sample_future, m->signals[1]->samples[0]->at_us = NOW_US + 600 * SEC)
TELEMETRY_MUTATOR(t_max_samples, l->max_samples = 1)
TELEMETRY_MUTATOR(t_bad_asset, set_str(&m->asset, "coater 1"))

struct telemetry_case {
	const char *name;
	void (*mutate)(Cellthread__V1__Telemetry *m, struct ingest_limits *l);
	int rc;
	int reason;
	const char *err;
};

static const struct telemetry_case telemetry_cases[] = {
        {"valid", t_none, CT_OK, 0, NULL},
        {"asset not the topic's station", t_asset_mismatch, CT_ERR_INVALID, INVALID,
         "asset: \"coater-2\" does not match the topic's station \"coater-1.slot-die\""},
        {"site not the topic's", t_site_mismatch, CT_ERR_INVALID, INVALID,
         "site: \"S9\" does not match the topic's site \"S1\""},
        {"header missing", t_no_header, CT_ERR_INVALID, INVALID, "header: missing"},
        {"no signals", t_no_signals, CT_ERR_INVALID, INVALID, "signals: empty"},
        {"signals over max_items", t_max_signals, CT_ERR_INVALID, INVALID,
         "signals: 2 entries, limit 1"},
        {"signal name camel case", t_signal_name, CT_ERR_INVALID, INVALID,
         "signals[1].name: not a valid name"},
        {"signal unit with tab", t_signal_unit, CT_ERR_INVALID, INVALID,
         "signals[1].unit: not a valid unit"},
        {"signal without samples", t_no_samples, CT_ERR_INVALID, INVALID,
         "signals[0].samples: empty"},
        {"sample NaN", t_sample_nan, CT_ERR_INVALID, INVALID,
         "signals[0].samples[1].value: not finite"},
        {"samples out of order", t_sample_order, CT_ERR_INVALID, INVALID,
         "signals[0].samples[1].at_us: earlier than samples[0]"},
        {"sample time missing", t_sample_zero, CT_ERR_INVALID, INVALID,
         "signals[0].samples[0].at_us: missing"},
        {"sample in the future", t_sample_future, CT_ERR_INVALID, CLOCK,
         "signals[1].samples[0].at_us: 1795327490000000 is 600.000 s in the future"},
        {"samples over max_samples", t_max_samples, CT_ERR_INVALID, INVALID,
         "signals[0].samples: 2 entries, limit 1"},
        {"asset with space", t_bad_asset, CT_ERR_INVALID, INVALID, "asset: not a valid ID"},
};

static void test_telemetry_cases(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(telemetry_cases) / sizeof(telemetry_cases[0]); i++) {
		const struct telemetry_case *c = &telemetry_cases[i];
		Cellthread__V1__Telemetry *m = load_telemetry(telemetry_fixture);
		struct ingest_limits limits;
		size_t n_signals = m->n_signals, n_samples = m->signals[0]->n_samples;
		char err[256] = "";
		int reason = -1, rc;

		ingest_limits_init(&limits);
		c->mutate(m, &limits);
		rc = ingest_check_telemetry(m, &telemetry_topic, NOW_US, &limits, &reason, err,
		                            sizeof(err));
		expect(c->name, rc, reason, err, c->rc, c->reason, c->err);
		/* Counts lowered by a mutator go back up so every entry is freed. */
		m->n_signals = n_signals;
		m->signals[0]->n_samples = n_samples;
		free_msg(m);
	}
}

/* Derives the telemetry fixture's ID; "telemetry|S1|L1|coater-1.slot-die|1795326886000000|
 * slot_die_gap|web_tension" in Python gives the expected value. */
static void test_telemetry_derived_id(void **state)
{
	Cellthread__V1__Telemetry *m = load_telemetry(telemetry_fixture);
	Cellthread__V1__Telemetry *m2 = load_telemetry(telemetry_fixture);
	struct ingest_limits limits;
	char err[128] = "";
	int reason = -1;

	(void)state;
	ingest_limits_init(&limits);
	assert_int_equal(ingest_check_telemetry(m, &telemetry_topic, NOW_US, &limits, &reason, err,
	                                        sizeof(err)),
	                 CT_OK);
	assert_string_equal(m->header->event_id, "d-afcc3a2eaa641e4eba8191912c76f008");
	assert_int_equal(m->header->schema_version, 1);
	/* The same samples under other signal names are other telemetry. */
	set_str(&m2->signals[1]->name, "web_tension_2");
	assert_int_equal(ingest_check_telemetry(m2, &telemetry_topic, NOW_US, &limits, &reason, err,
	                                        sizeof(err)),
	                 CT_OK);
	assert_string_not_equal(m->header->event_id, m2->header->event_id);
	free_msg(m);
	free_msg(m2);
}

#define GENEALOGY_MUTATOR(name, ...)                                                               \
	static void name(Cellthread__V1__Genealogy *m, struct ingest_limits *l)                    \
	{                                                                                          \
		(void)m;                                                                           \
		(void)l;                                                                           \
		__VA_ARGS__;                                                                       \
	}

GENEALOGY_MUTATOR(g_none, )
GENEALOGY_MUTATOR(g_no_operator, set_str(&m->operator_id, ""))
GENEALOGY_MUTATOR(g_parent_kind_0, m->parent_kind = 0)
GENEALOGY_MUTATOR(g_rework,
                  m->relation = CELLTHREAD__V1__GENEALOGY_RELATION__GENEALOGY_RELATION_REWORK)
GENEALOGY_MUTATOR(g_relation_9, m->relation = 9)
GENEALOGY_MUTATOR(g_child_kind_0, m->children[1]->kind = 0)
GENEALOGY_MUTATOR(g_no_children, m->n_children = 0)
GENEALOGY_MUTATOR(g_child_is_parent, set_str(&m->children[0]->unit_id, "MOD-7"))
GENEALOGY_MUTATOR(g_child_sql, set_str(&m->children[1]->unit_id, "1 OR 1=1"))
GENEALOGY_MUTATOR(g_no_assembled_at, m->assembled_at_us = 0)
GENEALOGY_MUTATOR(g_assembled_past, m->assembled_at_us = NOW_US - INT64_C(40) * 86400 * SEC)
GENEALOGY_MUTATOR(g_station_mismatch, set_str(&m->station, "MOD-02"))
GENEALOGY_MUTATOR(g_bad_operator, set_str(&m->operator_id, "op\"1"))
GENEALOGY_MUTATOR(g_no_parent, set_str(&m->parent_unit_id, ""))
GENEALOGY_MUTATOR(g_child_quantity, m->children[0]->quantity = -0.5)

struct genealogy_case {
	const char *name;
	void (*mutate)(Cellthread__V1__Genealogy *m, struct ingest_limits *l);
	int rc;
	int reason;
	const char *err;
};

static const struct genealogy_case genealogy_cases[] = {
        {"valid", g_none, CT_OK, 0, NULL},
        {"no operator", g_no_operator, CT_OK, 0, NULL},
        {"relation rework", g_rework, CT_OK, 0, ""},
        {"relation unknown", g_relation_9, CT_ERR_INVALID, INVALID, "relation: unknown value 9"},
        {"parent_kind unspecified", g_parent_kind_0, CT_ERR_INVALID, INVALID,
         "parent_kind: unspecified"},
        {"child kind unspecified", g_child_kind_0, CT_ERR_INVALID, INVALID,
         "children[1].kind: unspecified"},
        {"no children", g_no_children, CT_ERR_INVALID, INVALID, "children: empty"},
        {"child is the parent", g_child_is_parent, CT_ERR_INVALID, INVALID,
         "children[0].unit_id: the unit itself (\"MOD-7\")"},
        {"SQL in child ID", g_child_sql, CT_ERR_INVALID, INVALID,
         "children[1].unit_id: not a valid ID"},
        {"assembled_at missing", g_no_assembled_at, CT_ERR_INVALID, INVALID,
         "assembled_at_us: missing"},
        {"assembled 40 days ago", g_assembled_past, CT_ERR_INVALID, CLOCK,
         "assembled_at_us: 1791870890000000 is 3456000 s in the past"},
        {"station not the topic's", g_station_mismatch, CT_ERR_INVALID, INVALID,
         "station: \"MOD-02\" does not match the topic's station \"MOD-01\""},
        {"operator with quote", g_bad_operator, CT_ERR_INVALID, INVALID,
         "operator_id: not a valid ID (1-64 characters from [A-Za-z0-9._:-]): \"op\"1\""},
        {"parent missing", g_no_parent, CT_ERR_INVALID, INVALID, "parent_unit_id: missing"},
        {"child quantity negative", g_child_quantity, CT_ERR_INVALID, INVALID,
         "children[0].quantity: negative (-0.5)"},
};

static void test_genealogy_cases(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(genealogy_cases) / sizeof(genealogy_cases[0]); i++) {
		const struct genealogy_case *c = &genealogy_cases[i];
		Cellthread__V1__Genealogy *m = load_genealogy(genealogy_fixture);
		struct ingest_limits limits;
		size_t n_children = m->n_children;
		char err[256] = "";
		int reason = -1, rc;

		ingest_limits_init(&limits);
		c->mutate(m, &limits);
		rc = ingest_check_genealogy(m, &genealogy_topic, NOW_US, &limits, &reason, err,
		                            sizeof(err));
		expect(c->name, rc, reason, err, c->rc, c->reason, c->err);
		m->n_children = n_children;
		free_msg(m);
	}
}

/* "genealogy|MOD-7|1795326888000000" in Python gives the expected value. */
static void test_genealogy_derived_id(void **state)
{
	Cellthread__V1__Genealogy *m = load_genealogy(genealogy_fixture);
	struct ingest_limits limits;
	char err[128] = "";
	int reason = -1;

	(void)state;
	ingest_limits_init(&limits);
	assert_int_equal(ingest_check_genealogy(m, &genealogy_topic, NOW_US, &limits, &reason, err,
	                                        sizeof(err)),
	                 CT_OK);
	assert_string_equal(m->header->event_id, "d-7fdbc926795625afb50b1a204584897f");
	free_msg(m);
}

/* Stations: a result or telemetry from a station (or asset of one) the registry does not name
 * on that site and line is refused, with the topic agreeing with the message. */
static void test_registry_stations(void **state)
{
	static const struct {
		const char *line, *station;
		int rc, reason;
	} cases[] = {
	        {"L1", "FILL-01", CT_OK, -1},
	        {"L1", "FILL-99", CT_ERR_INVALID, UNKNOWN},
	        {"L2", "FILL-01", CT_ERR_INVALID, UNKNOWN},
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Cellthread__V1__StationResultBatch *b = load_batch(batch_fixture);
		struct ct_topic topic = result_topic;
		struct ingest_limits limits;
		int reason = -1;

		ingest_limits_init(&limits);
		limits.plant = test_plant;
		snprintf(topic.line, sizeof(topic.line), "%s", cases[i].line);
		snprintf(topic.station, sizeof(topic.station), "%s", cases[i].station);
		for (size_t r = 0; r < b->n_results; r++) {
			set_str(&b->results[r]->line, cases[i].line);
			set_str(&b->results[r]->station, cases[i].station);
		}
		err[0] = '\0';
		assert_int_equal(ingest_check_result_batch(b, &topic, NOW_US, &limits, &reason, err,
		                                           sizeof(err)),
		                 cases[i].rc);
		assert_int_equal(reason, cases[i].reason);
		if (cases[i].rc != CT_OK)
			assert_non_null(strstr(err, "in the plant registry"));
		free_msg(b);
	}
}

static void test_registry_telemetry(void **state)
{
	Cellthread__V1__Telemetry *m = load_telemetry(telemetry_fixture);
	struct ingest_limits limits;
	struct ct_topic topic = telemetry_topic;
	char err[256] = "";
	int reason = -1;

	(void)state;
	ingest_limits_init(&limits);
	limits.plant = test_plant;
	/* coater-1.slot-die is an asset of the registered coater-1. */
	assert_int_equal(
	        ingest_check_telemetry(m, &topic, NOW_US, &limits, &reason, err, sizeof(err)),
	        CT_OK);
	/* web_tension 1e4 N is beyond its range. */
	m->signals[1]->samples[0]->value = 1e4;
	assert_int_equal(
	        ingest_check_telemetry(m, &topic, NOW_US, &limits, &reason, err, sizeof(err)),
	        CT_ERR_INVALID);
	assert_int_equal(reason, IMPLAUS);
	assert_non_null(strstr(err, "signals[1].samples[0].value: 10000 is outside"));
	free_msg(m);
	m = load_telemetry(telemetry_fixture);
	set_str(&m->asset, "coater-2.slot-die");
	snprintf(topic.station, sizeof(topic.station), "coater-2.slot-die");
	reason = -1;
	assert_int_equal(
	        ingest_check_telemetry(m, &topic, NOW_US, &limits, &reason, err, sizeof(err)),
	        CT_ERR_INVALID);
	assert_int_equal(reason, UNKNOWN);
	free_msg(m);
}

/* States and acks: their fixtures are built here the way
 * protobuf-c's unpack owns them (every string and submessage on the heap). */
static const struct ct_topic state_topic = {.is_edge = true,
                                            .site = "S1",
                                            .line = "L1",
                                            .station = "FILL-01",
                                            .kind = CT_KIND_STATE,
                                            .encoding = CT_ENC_PROTOBUF};
static const struct ct_topic ack_topic = {.is_edge = true,
                                          .site = "S1",
                                          .line = "L1",
                                          .station = "FILL-01",
                                          .kind = CT_KIND_ACK,
                                          .encoding = CT_ENC_PROTOBUF};

static char *dup_str(const char *s)
{
	char *d = strdup(s);

	assert_non_null(d);
	return d;
}

static Cellthread__V1__Header *new_header(const char *event_id)
{
	Cellthread__V1__Header *h = malloc(sizeof(*h));

	assert_non_null(h);
	cellthread__v1__header__init(h);
	h->event_id = event_id[0] != '\0' ? dup_str(event_id) : (char *)protobuf_c_empty_string;
	h->producer = dup_str("gw-fill-01");
	h->produced_at_us = NOW_US - SEC;
	return h;
}

/* FILL-01 down since 10 s ago: a nozzle breakdown, recipe P45 v7. */
static Cellthread__V1__StationState *new_state(void)
{
	Cellthread__V1__StationState *m = malloc(sizeof(*m));

	assert_non_null(m);
	cellthread__v1__station_state__init(m);
	m->header = new_header("gw-fill-01:state:17");
	m->site = dup_str("S1");
	m->line = dup_str("L1");
	m->station = dup_str("FILL-01");
	m->state = CELLTHREAD__V1__STATION_STATE_KIND__STATION_STATE_UNPLANNED_DOWNTIME;
	m->reason_code = dup_str("BREAKDOWN.FILL.PUMP");
	m->reason_text = dup_str("Dosierpumpe \xe2\x80\x94 Druck zu niedrig");
	m->since_us = NOW_US - 10 * SEC;
	m->recipe = dup_str("P45");
	m->recipe_version = 7;
	m->asset = dup_str("FILL-01.pump");
	m->rate_per_hour = 0;
	return m;
}

#define STATE_MUTATOR(name, ...)                                                                   \
	static void name(Cellthread__V1__StationState *m, struct ingest_limits *l)                 \
	{                                                                                          \
		(void)m;                                                                           \
		(void)l;                                                                           \
		__VA_ARGS__;                                                                       \
	}

#define KIND(k) CELLTHREAD__V1__STATION_STATE_KIND__STATION_STATE_##k

STATE_MUTATOR(s_none, )
STATE_MUTATOR(s_producing, m->state = KIND(PRODUCING); set_str(&m->reason_code, "");
              set_str(&m->asset, ""); m->rate_per_hour = 1440)
STATE_MUTATOR(s_idle_with_reason, m->state = KIND(IDLE); set_str(&m->reason_code, "NO_ORDER"))
STATE_MUTATOR(s_planned, m->state = KIND(PLANNED_DOWNTIME); set_str(&m->reason_code, "CHANGEOVER"))
STATE_MUTATOR(s_planned_no_reason, m->state = KIND(PLANNED_DOWNTIME); set_str(&m->reason_code, ""))
STATE_MUTATOR(s_unplanned_no_reason, set_str(&m->reason_code, ""))
STATE_MUTATOR(s_reason_64, set_str(&m->reason_code, repeat('R', 64)))
STATE_MUTATOR(s_reason_65, set_str(&m->reason_code, repeat('R', 65)))
STATE_MUTATOR(s_reason_colon, set_str(&m->reason_code, "BREAKDOWN:PUMP"))
STATE_MUTATOR(s_reason_space, set_str(&m->reason_code, "PUMP BROKEN"))
STATE_MUTATOR(s_unknown_stop, m->state = KIND(UNKNOWN_STOP))
STATE_MUTATOR(s_unspecified, m->state = KIND(UNSPECIFIED))
STATE_MUTATOR(s_state_8, m->state = 8)
STATE_MUTATOR(s_no_event_id, set_str(&m->header->event_id, ""))
STATE_MUTATOR(s_no_header, free_msg(m->header); m->header = NULL)
STATE_MUTATOR(s_station_mismatch, set_str(&m->station, "FILL-02"))
STATE_MUTATOR(s_site_missing, set_str(&m->site, ""))
STATE_MUTATOR(s_no_since, m->since_us = 0)
STATE_MUTATOR(s_negative_since, m->since_us = -1)
STATE_MUTATOR(s_since_future_limit, m->since_us = NOW_US + 300 * SEC)
STATE_MUTATOR(s_since_future, m->since_us = NOW_US + 301 * SEC)
STATE_MUTATOR(s_since_60_days, m->since_us = NOW_US - INT64_C(60) * 86400 * SEC)
STATE_MUTATOR(s_rate_nan, m->rate_per_hour = NAN)
STATE_MUTATOR(s_rate_inf, m->rate_per_hour = INFINITY)
STATE_MUTATOR(s_rate_negative, m->rate_per_hour = -1)
STATE_MUTATOR(s_recipe_version_negative, m->recipe_version = -3)
STATE_MUTATOR(s_bad_recipe, set_str(&m->recipe, "P45'; DROP"))
STATE_MUTATOR(s_bad_asset, set_str(&m->asset, "FILL-01/pump"))
STATE_MUTATOR(s_text_control, set_str(&m->reason_text, "pump\n"))
STATE_MUTATOR(s_text_long, set_str(&m->reason_text, repeat('t', 1025)))
STATE_MUTATOR(s_produced_future, m->header->produced_at_us = NOW_US + 3600 * SEC)
STATE_MUTATOR(s_schema_2, m->header->schema_version = 2)

struct state_case {
	const char *name;
	void (*mutate)(Cellthread__V1__StationState *m, struct ingest_limits *l);
	int rc;
	int reason;
	const char *err;
};

static const struct state_case state_cases[] = {
        {"valid breakdown", s_none, CT_OK, 0, NULL},
        {"producing without reason", s_producing, CT_OK, 0, NULL},
        {"idle with a reason", s_idle_with_reason, CT_OK, 0, NULL},
        {"changeover", s_planned, CT_OK, 0, NULL},
        {"reason code of 64", s_reason_64, CT_OK, 0, NULL},
        {"since at the skew limit", s_since_future_limit, CT_OK, 0, NULL},
        {"since 60 days ago", s_since_60_days, CT_OK, 0, NULL},
        {"planned without reason", s_planned_no_reason, CT_ERR_INVALID, INVALID,
         "reason_code: missing (required for planned and unplanned downtime)"},
        {"unplanned without reason", s_unplanned_no_reason, CT_ERR_INVALID, INVALID,
         "reason_code: missing"},
        {"reason code of 65", s_reason_65, CT_ERR_INVALID, INVALID,
         "reason_code: not a valid reason code (1-64 characters from [A-Za-z0-9._-])"},
        {"reason code with colon", s_reason_colon, CT_ERR_INVALID, INVALID,
         "reason_code: not a valid reason code (1-64 characters from [A-Za-z0-9._-]): "
         "\"BREAKDOWN:PUMP\""},
        {"reason code with space", s_reason_space, CT_ERR_INVALID, INVALID,
         "reason_code: not a valid reason code"},
        {"unknown stop from the edge", s_unknown_stop, CT_ERR_INVALID, INVALID,
         "state: UNKNOWN_STOP is derived by ct-oee, not sent by stations"},
        {"state unspecified", s_unspecified, CT_ERR_INVALID, INVALID, "state: unspecified"},
        {"state 8", s_state_8, CT_ERR_INVALID, INVALID, "state: unknown value 8"},
        {"no event ID", s_no_event_id, CT_ERR_INVALID, INVALID,
         "header.event_id: missing (a station state needs its sender's event ID)"},
        {"no header", s_no_header, CT_ERR_INVALID, INVALID, "header: missing"},
        {"station not the topic's", s_station_mismatch, CT_ERR_INVALID, INVALID,
         "station: \"FILL-02\" does not match the topic's station \"FILL-01\""},
        {"site missing", s_site_missing, CT_ERR_INVALID, INVALID, "site: missing"},
        {"since missing", s_no_since, CT_ERR_INVALID, INVALID, "since_us: missing"},
        {"since negative", s_negative_since, CT_ERR_INVALID, INVALID, "since_us: negative"},
        {"since beyond the skew limit", s_since_future, CT_ERR_INVALID, CLOCK,
         "since_us: 1795327191000000 is 301.000 s in the future (limit 300 s)"},
        {"rate NaN", s_rate_nan, CT_ERR_INVALID, INVALID, "rate_per_hour: not finite"},
        {"rate infinite", s_rate_inf, CT_ERR_INVALID, INVALID, "rate_per_hour: not finite"},
        {"rate negative", s_rate_negative, CT_ERR_INVALID, INVALID, "rate_per_hour: negative (-1)"},
        {"recipe version negative", s_recipe_version_negative, CT_ERR_INVALID, INVALID,
         "recipe_version: negative (-3)"},
        {"SQL in recipe", s_bad_recipe, CT_ERR_INVALID, INVALID, "recipe: not a valid ID"},
        {"slash in asset", s_bad_asset, CT_ERR_INVALID, INVALID, "asset: not a valid ID"},
        {"reason text with newline", s_text_control, CT_ERR_INVALID, INVALID,
         "reason_text: contains a control character"},
        {"reason text too long", s_text_long, CT_ERR_INVALID, INVALID,
         "reason_text: longer than 1024 bytes"},
        {"produced an hour ahead", s_produced_future, CT_ERR_INVALID, CLOCK,
         "header.produced_at_us: "},
        {"schema version 2", s_schema_2, CT_ERR_INVALID, INVALID,
         "header.schema_version: version 2 not supported"},
};

static void test_state_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(state_cases) / sizeof(state_cases[0]); i++) {
		const struct state_case *c = &state_cases[i];
		Cellthread__V1__StationState *m = new_state();
		struct ingest_limits limits;
		char err[256] = "";
		int reason = -1, rc;

		ingest_limits_init(&limits);
		c->mutate(m, &limits);
		rc = ingest_check_state(m, &state_topic, NOW_US, &limits, &reason, err,
		                        sizeof(err));
		expect(c->name, rc, reason, err, c->rc, c->reason, c->err);
		if (rc == CT_OK)
			assert_int_equal(m->header->schema_version, 1);
		free_msg(m);
	}
}

/* A state from a station the registry does not name is refused like a result; the event ID
 * is the sender's, never derived, and a refused state is left as it came. */
static void test_state_registry_and_unchanged(void **state)
{
	Cellthread__V1__StationState *m = new_state();
	struct ct_topic topic = state_topic;
	struct ingest_limits limits;
	char err[256] = "";
	int reason = -1;

	(void)state;
	ingest_limits_init(&limits);
	limits.plant = test_plant;
	assert_int_equal(ingest_check_state(m, &topic, NOW_US, &limits, &reason, err, sizeof(err)),
	                 CT_OK);
	assert_string_equal(m->header->event_id, "gw-fill-01:state:17");
	set_str(&m->station, "FILL-99");
	snprintf(topic.station, sizeof(topic.station), "FILL-99");
	m->header->schema_version = 0;
	assert_int_equal(ingest_check_state(m, &topic, NOW_US, &limits, &reason, err, sizeof(err)),
	                 CT_ERR_INVALID);
	assert_int_equal(reason, UNKNOWN);
	assert_int_equal(m->header->schema_version, 0);
	free_msg(m);
}

static Cellthread__V1__CommandAck *new_ack(void)
{
	Cellthread__V1__CommandAck *m = malloc(sizeof(*m));

	assert_non_null(m);
	cellthread__v1__command_ack__init(m);
	m->header = new_header("ack-d-0123456789abcdef0123456789abcdef");
	m->site = dup_str("S1");
	m->line = dup_str("L1");
	m->station = dup_str("FILL-01");
	m->command_event_id = dup_str("d-0123456789abcdef0123456789abcdef");
	m->status = CELLTHREAD__V1__COMMAND_ACK_STATUS__COMMAND_ACK_STATUS_ACCEPTED;
	m->detail = dup_str("rate 80 %");
	m->acked_at_us = NOW_US - SEC / 2;
	return m;
}

#define ACK_MUTATOR(name, ...)                                                                     \
	static void name(Cellthread__V1__CommandAck *m, struct ingest_limits *l)                   \
	{                                                                                          \
		(void)m;                                                                           \
		(void)l;                                                                           \
		__VA_ARGS__;                                                                       \
	}

ACK_MUTATOR(a_none, )
ACK_MUTATOR(a_expired, m->status = CELLTHREAD__V1__COMMAND_ACK_STATUS__COMMAND_ACK_STATUS_EXPIRED)
ACK_MUTATOR(a_no_detail, set_str(&m->detail, ""))
ACK_MUTATOR(a_no_event_id, set_str(&m->header->event_id, ""))
ACK_MUTATOR(a_no_command, set_str(&m->command_event_id, ""))
ACK_MUTATOR(a_bad_command, set_str(&m->command_event_id, "cmd 1"))
ACK_MUTATOR(a_status_0, m->status = 0)
ACK_MUTATOR(a_status_4, m->status = 4)
ACK_MUTATOR(a_no_acked_at, m->acked_at_us = 0)
ACK_MUTATOR(a_acked_future, m->acked_at_us = NOW_US + 301 * SEC)
ACK_MUTATOR(a_acked_past, m->acked_at_us = NOW_US - INT64_C(31) * 86400 * SEC)
ACK_MUTATOR(a_line_mismatch, set_str(&m->line, "L2"))
ACK_MUTATOR(a_detail_utf8, set_str(&m->detail, "bad \xc0\xaf"))

struct ack_case {
	const char *name;
	void (*mutate)(Cellthread__V1__CommandAck *m, struct ingest_limits *l);
	int rc;
	int reason;
	const char *err;
};

static const struct ack_case ack_cases[] = {
        {"valid", a_none, CT_OK, 0, NULL},
        {"expired", a_expired, CT_OK, 0, NULL},
        {"no detail", a_no_detail, CT_OK, 0, NULL},
        {"no event ID (derived)", a_no_event_id, CT_OK, 0, NULL},
        {"command missing", a_no_command, CT_ERR_INVALID, INVALID, "command_event_id: missing"},
        {"command not an ID", a_bad_command, CT_ERR_INVALID, INVALID,
         "command_event_id: not a valid ID"},
        {"status unspecified", a_status_0, CT_ERR_INVALID, INVALID, "status: unspecified"},
        {"status 4", a_status_4, CT_ERR_INVALID, INVALID, "status: unknown value 4"},
        {"acked_at missing", a_no_acked_at, CT_ERR_INVALID, INVALID, "acked_at_us: missing"},
        {"acked beyond the skew limit", a_acked_future, CT_ERR_INVALID, CLOCK,
         "acked_at_us: 1795327191000000 is 301.000 s in the future"},
        {"acked 31 days ago", a_acked_past, CT_ERR_INVALID, CLOCK, "acked_at_us: "},
        {"line not the topic's", a_line_mismatch, CT_ERR_INVALID, INVALID,
         "line: \"L2\" does not match the topic's line \"L1\""},
        {"detail not UTF-8", a_detail_utf8, CT_ERR_INVALID, INVALID, "detail: not valid UTF-8"},
};

static void test_ack_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ack_cases) / sizeof(ack_cases[0]); i++) {
		const struct ack_case *c = &ack_cases[i];
		Cellthread__V1__CommandAck *m = new_ack();
		struct ingest_limits limits;
		char err[256] = "";
		int reason = -1, rc;

		ingest_limits_init(&limits);
		c->mutate(m, &limits);
		rc = ingest_check_ack(m, &ack_topic, NOW_US, &limits, &reason, err, sizeof(err));
		expect(c->name, rc, reason, err, c->rc, c->reason, c->err);
		free_msg(m);
	}
}

/* "ack|S1|L1|FILL-01|d-0123456789abcdef0123456789abcdef" in Python gives the expected value
 * (ingest_validate.h); a sender's own ID is kept. */
static void test_ack_derived_id(void **state)
{
	Cellthread__V1__CommandAck *m = new_ack();
	struct ingest_limits limits;
	char err[128] = "";
	int reason = -1;

	(void)state;
	ingest_limits_init(&limits);
	assert_int_equal(
	        ingest_check_ack(m, &ack_topic, NOW_US, &limits, &reason, err, sizeof(err)), CT_OK);
	assert_string_equal(m->header->event_id, "ack-d-0123456789abcdef0123456789abcdef");
	set_str(&m->header->event_id, "");
	assert_int_equal(
	        ingest_check_ack(m, &ack_topic, NOW_US, &limits, &reason, err, sizeof(err)), CT_OK);
	assert_string_equal(m->header->event_id, "d-ccbca09b0e3b3e0a5f41c49532f1f97d");
	free_msg(m);
}

static int load_test_plant(void **state)
{
	char path[] = "/tmp/test_plant_XXXXXX", err[256];
	int fd = mkstemp(path);
	FILE *f;

	(void)state;
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL)
		return -1;
	fputs(plant_text, f);
	fclose(f);
	if (ct_plant_load(path, &test_plant, err, sizeof(err)) != CT_OK) {
		fprintf(stderr, "%s\n", err);
		unlink(path);
		return -1;
	}
	unlink(path);
	return 0;
}

static int free_test_plant(void **state)
{
	(void)state;
	ct_plant_free(test_plant);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_limits_defaults),
	        cmocka_unit_test(test_result_cases),
	        cmocka_unit_test(test_empty_batch),
	        cmocka_unit_test(test_no_topic_skips_location),
	        cmocka_unit_test(test_result_normalised),
	        cmocka_unit_test(test_result_derived_id_documented),
	        cmocka_unit_test(test_result_derived_id_deterministic),
	        cmocka_unit_test(test_refused_batch_unchanged),
	        cmocka_unit_test(test_derived_replaces_heap_empty_string),
	        cmocka_unit_test(test_single_result),
	        cmocka_unit_test(test_telemetry_cases),
	        cmocka_unit_test(test_telemetry_derived_id),
	        cmocka_unit_test(test_genealogy_cases),
	        cmocka_unit_test(test_genealogy_derived_id),
	        cmocka_unit_test(test_registry_stations),
	        cmocka_unit_test(test_registry_telemetry),
	        cmocka_unit_test(test_state_cases),
	        cmocka_unit_test(test_state_registry_and_unchanged),
	        cmocka_unit_test(test_ack_cases),
	        cmocka_unit_test(test_ack_derived_id),
	};

	return cmocka_run_group_tests(tests, load_test_plant, free_test_plant);
}
