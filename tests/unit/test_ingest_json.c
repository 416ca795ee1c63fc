/* test_ingest_json: the JSON form of station messages, both directions.
 *
 * The round trip starts from a protobuf message built by hand with every field set (two
 * results, all enums, parameters with and without setpoints, curves, awkward doubles), goes
 * to JSON and back, and compares field by field, doubles bit for bit. The rest are table-driven
 * decode cases: time forms, header forms, strictness (unknown keys, types, ranges, enums) and
 * the exact error texts users will see; the same for StationState and CommandAck. Fixtures use '
 * for " to stay readable. When built with INGEST_JSON_MD="path/to/services/ingest/JSON.md", every
 * example there must decode and pass validation too. */
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

#include <cmocka.h>

#include "ct_error.h"
#include "ct_json.h"
#include "ingest_validate.h"

#define S(text) ((char *)(text)) /* a literal as a protobuf-c string field (never freed) */

/* A hand-built batch on the stack: every field of every message set. */
struct rich {
	Cellthread__V1__StationResultBatch batch;
	Cellthread__V1__StationResult result[2], *results[2];
	Cellthread__V1__Header header[2];
	Cellthread__V1__Measurement meas[3], *measp[3];
	Cellthread__V1__Parameter param[2], *paramp[2];
	Cellthread__V1__MaterialUse mat[2], *matp[2];
	Cellthread__V1__ChildUnit child[2], *childp[2];
	Cellthread__V1__EnvironmentReading env[1], *envp[1];
	Cellthread__V1__OperatorNote note[1], *notep[1];
	Cellthread__V1__ProcessException exc[2], *excp[2];
	Cellthread__V1__Curve curve[2], *curvep[2];
	double x[5], y[5];
};

static void build_rich(struct rich *r)
{
	static const double x[5] = {0, 0.5, 1.25, 2, 1e-300};
	static const double y[5] = {3.6, 3.612345678901234, -0.0, 4.2, 1.7976931348623157e308};
	size_t i;

	memset(r, 0, sizeof(*r));
	cellthread__v1__station_result_batch__init(&r->batch);
	for (i = 0; i < 2; i++) {
		cellthread__v1__station_result__init(&r->result[i]);
		cellthread__v1__header__init(&r->header[i]);
		r->results[i] = &r->result[i];
		r->result[i].header = &r->header[i];
	}
	r->batch.n_results = 2;
	r->batch.results = r->results;

	r->header[0].event_id = S("gw-fill-01:000123457");
	r->header[0].producer = S("gw-fill-01");
	r->header[0].produced_at_us = INT64_C(1795326888200000);
	r->header[0].schema_version = 1;
	r->result[0].unit_id = S("CELL-2026-0001234");
	r->result[0].unit_kind = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_CELL;
	r->result[0].site = S("DE-BER");
	r->result[0].line = S("L2");
	r->result[0].station = S("FILL-01");
	r->result[0].station_type = CELLTHREAD__V1__STATION_TYPE__STATION_TYPE_ELECTROLYTE_FILLING;
	r->result[0].recipe = S("P45-NMC811");
	r->result[0].recipe_version = UINT32_MAX;
	r->result[0].operator_id = S("op-0042");
	r->result[0].started_at_us = INT64_C(1795326880000000);
	r->result[0].ended_at_us = INT64_C(1795326888123000);
	r->result[0].result = CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_NOK;

	for (i = 0; i < 3; i++) {
		cellthread__v1__measurement__init(&r->meas[i]);
		r->measp[i] = &r->meas[i];
	}
	r->meas[0].characteristic = S("fill_mass");
	r->meas[0].value = 5.0129999999999999;
	r->meas[0].unit = S("g");
	r->meas[1].characteristic = S("vacuum_level");
	r->meas[1].value = 48;
	r->meas[1].unit = S("Pa");
	r->meas[1].measured_at_us = INT64_C(1795326881500000);
	r->meas[2].characteristic = S("self_discharge");
	r->meas[2].value = -1.5e-7;
	r->meas[2].unit = S("mV/day");
	r->meas[2].measured_at_us = INT64_C(1795326881600001);
	r->result[0].n_measurements = 3;
	r->result[0].measurements = r->measp;

	for (i = 0; i < 2; i++) {
		cellthread__v1__parameter__init(&r->param[i]);
		r->paramp[i] = &r->param[i];
	}
	r->param[0].name = S("nozzle_pressure");
	r->param[0].actual = 2.48;
	r->param[0].setpoint = 2.5;
	r->param[0].has_setpoint = 1;
	r->param[0].unit = S("bar");
	r->param[1].name = S("chamber_temperature");
	r->param[1].actual = 24.6;
	r->param[1].unit = S("C");
	r->result[0].n_parameters = 2;
	r->result[0].parameters = r->paramp;

	for (i = 0; i < 2; i++) {
		cellthread__v1__material_use__init(&r->mat[i]);
		r->matp[i] = &r->mat[i];
	}
	r->mat[0].lot_id = S("ELY-LOT-7781");
	r->mat[0].material = S("electrolyte_LiPF6");
	r->mat[0].quantity = 5.013;
	r->mat[0].unit = S("g");
	r->mat[1].lot_id = S("CAN-LOT-19");
	r->mat[1].material = S("Steel can \xc3\x98"
	                       "21700");
	r->mat[1].quantity = 1;
	r->mat[1].unit = S("pcs");
	r->result[0].n_materials = 2;
	r->result[0].materials = r->matp;

	for (i = 0; i < 2; i++) {
		cellthread__v1__child_unit__init(&r->child[i]);
		r->childp[i] = &r->child[i];
	}
	r->child[0].unit_id = S("JR-2026-0009876");
	r->child[0].kind = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_ELECTRODE;
	r->child[0].quantity = 1;
	r->child[0].unit = S("pcs");
	r->child[0].position = S("1");
	r->child[1].unit_id = S("COIL-77");
	r->child[1].kind = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_MATERIAL_LOT;
	r->child[1].quantity = 1520.5;
	r->child[1].unit = S("m");
	r->child[1].position = S("1520.5");
	r->result[0].n_children = 2;
	r->result[0].children = r->childp;

	cellthread__v1__environment_reading__init(&r->env[0]);
	r->envp[0] = &r->env[0];
	r->env[0].quantity = S("dew_point");
	r->env[0].value = -52.3;
	r->env[0].unit = S("C");
	r->env[0].sensor = S("dryroom-2.dp-1");
	r->env[0].measured_at_us = INT64_C(1795326870000000);
	r->result[0].n_environment = 1;
	r->result[0].environment = r->envp;

	cellthread__v1__operator_note__init(&r->note[0]);
	r->notep[0] = &r->note[0];
	r->note[0].author = S("op-0042");
	r->note[0].text = S("D\xc3\xbc"
	                    "se 3 gewischt.\n\"Quoted\" \\ tab\t \xf0\x9f\x94\x8b");
	r->note[0].at_us = INT64_C(1795326879000000);
	r->result[0].n_notes = 1;
	r->result[0].notes = r->notep;

	for (i = 0; i < 2; i++) {
		cellthread__v1__process_exception__init(&r->exc[i]);
		r->excp[i] = &r->exc[i];
	}
	r->exc[0].code = S("NOZZLE_DRIP");
	r->exc[0].severity = CELLTHREAD__V1__SEVERITY__SEVERITY_LOW;
	r->exc[0].text = S("Drip detected at nozzle 3.");
	r->exc[0].at_us = INT64_C(1795326879500000);
	r->exc[1].code = S("ESTOP");
	r->exc[1].severity = CELLTHREAD__V1__SEVERITY__SEVERITY_CRITICAL;
	r->exc[1].at_us = INT64_C(1795326879600000);
	r->result[0].n_exceptions = 2;
	r->result[0].exceptions = r->excp;

	memcpy(r->x, x, sizeof(x));
	memcpy(r->y, y, sizeof(y));
	for (i = 0; i < 2; i++) {
		cellthread__v1__curve__init(&r->curve[i]);
		r->curvep[i] = &r->curve[i];
	}
	r->curve[0].name = S("chamber_pressure");
	r->curve[0].x_unit = S("s");
	r->curve[0].y_unit = S("Pa");
	r->curve[0].n_x = 5;
	r->curve[0].x = r->x;
	r->curve[0].n_y = 5;
	r->curve[0].y = r->y;
	r->curve[1].name = S("empty_curve");
	r->result[0].n_curves = 2;
	r->result[0].curves = r->curvep;

	/* The second result: other enum values, no lists, no operator. */
	r->header[1].event_id = S("gw-fill-01:000123458");
	r->header[1].producer = S("gw-fill-01");
	r->header[1].produced_at_us = INT64_C(1795326888300000);
	r->result[1].unit_id = S("PACK-9");
	r->result[1].unit_kind = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_PACK;
	r->result[1].site = S("DE-BER");
	r->result[1].line = S("L2");
	r->result[1].station = S("FILL-01");
	r->result[1].station_type = CELLTHREAD__V1__STATION_TYPE__STATION_TYPE_PACK_ASSEMBLY;
	r->result[1].recipe = S("PK-1");
	r->result[1].started_at_us = INT64_C(1795326888000000);
	r->result[1].ended_at_us = INT64_C(1795326888000000);
	r->result[1].result = CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_ABORTED;
}

/* Doubles must survive bit for bit (17 significant digits, -0.0 included). */
static void assert_same_double(double a, double b)
{
	if (memcmp(&a, &b, sizeof(a)) != 0)
		fail_msg("double %.17g != %.17g", a, b);
}

static void assert_same_doubles(const double *a, size_t na, const double *b, size_t nb)
{
	size_t i;

	assert_int_equal(na, nb);
	for (i = 0; i < na; i++)
		assert_same_double(a[i], b[i]);
}

static void assert_header_equal(const Cellthread__V1__Header *a, const Cellthread__V1__Header *b)
{
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(a->event_id, b->event_id);
	assert_string_equal(a->producer, b->producer);
	assert_int_equal(a->produced_at_us, b->produced_at_us);
	assert_int_equal(a->schema_version, b->schema_version);
}

static void assert_child_equal(const Cellthread__V1__ChildUnit *a,
                               const Cellthread__V1__ChildUnit *b)
{
	assert_string_equal(a->unit_id, b->unit_id);
	assert_int_equal(a->kind, b->kind);
	assert_same_double(a->quantity, b->quantity);
	assert_string_equal(a->unit, b->unit);
	assert_string_equal(a->position, b->position);
}

static void assert_result_equal(const Cellthread__V1__StationResult *a,
                                const Cellthread__V1__StationResult *b)
{
	size_t i;

	assert_header_equal(a->header, b->header);
	assert_string_equal(a->unit_id, b->unit_id);
	assert_int_equal(a->unit_kind, b->unit_kind);
	assert_string_equal(a->site, b->site);
	assert_string_equal(a->line, b->line);
	assert_string_equal(a->station, b->station);
	assert_int_equal(a->station_type, b->station_type);
	assert_string_equal(a->recipe, b->recipe);
	assert_int_equal(a->recipe_version, b->recipe_version);
	assert_string_equal(a->operator_id, b->operator_id);
	assert_int_equal(a->started_at_us, b->started_at_us);
	assert_int_equal(a->ended_at_us, b->ended_at_us);
	assert_int_equal(a->result, b->result);

	assert_int_equal(a->n_measurements, b->n_measurements);
	for (i = 0; i < a->n_measurements; i++) {
		assert_string_equal(a->measurements[i]->characteristic,
		                    b->measurements[i]->characteristic);
		assert_same_double(a->measurements[i]->value, b->measurements[i]->value);
		assert_string_equal(a->measurements[i]->unit, b->measurements[i]->unit);
		assert_int_equal(a->measurements[i]->measured_at_us,
		                 b->measurements[i]->measured_at_us);
	}
	assert_int_equal(a->n_parameters, b->n_parameters);
	for (i = 0; i < a->n_parameters; i++) {
		assert_string_equal(a->parameters[i]->name, b->parameters[i]->name);
		assert_same_double(a->parameters[i]->actual, b->parameters[i]->actual);
		assert_same_double(a->parameters[i]->setpoint, b->parameters[i]->setpoint);
		assert_string_equal(a->parameters[i]->unit, b->parameters[i]->unit);
		assert_int_equal(a->parameters[i]->has_setpoint, b->parameters[i]->has_setpoint);
	}
	assert_int_equal(a->n_materials, b->n_materials);
	for (i = 0; i < a->n_materials; i++) {
		assert_string_equal(a->materials[i]->lot_id, b->materials[i]->lot_id);
		assert_string_equal(a->materials[i]->material, b->materials[i]->material);
		assert_same_double(a->materials[i]->quantity, b->materials[i]->quantity);
		assert_string_equal(a->materials[i]->unit, b->materials[i]->unit);
	}
	assert_int_equal(a->n_children, b->n_children);
	for (i = 0; i < a->n_children; i++)
		assert_child_equal(a->children[i], b->children[i]);
	assert_int_equal(a->n_environment, b->n_environment);
	for (i = 0; i < a->n_environment; i++) {
		assert_string_equal(a->environment[i]->quantity, b->environment[i]->quantity);
		assert_same_double(a->environment[i]->value, b->environment[i]->value);
		assert_string_equal(a->environment[i]->unit, b->environment[i]->unit);
		assert_string_equal(a->environment[i]->sensor, b->environment[i]->sensor);
		assert_int_equal(a->environment[i]->measured_at_us,
		                 b->environment[i]->measured_at_us);
	}
	assert_int_equal(a->n_notes, b->n_notes);
	for (i = 0; i < a->n_notes; i++) {
		assert_string_equal(a->notes[i]->author, b->notes[i]->author);
		assert_string_equal(a->notes[i]->text, b->notes[i]->text);
		assert_int_equal(a->notes[i]->at_us, b->notes[i]->at_us);
	}
	assert_int_equal(a->n_exceptions, b->n_exceptions);
	for (i = 0; i < a->n_exceptions; i++) {
		assert_string_equal(a->exceptions[i]->code, b->exceptions[i]->code);
		assert_int_equal(a->exceptions[i]->severity, b->exceptions[i]->severity);
		assert_string_equal(a->exceptions[i]->text, b->exceptions[i]->text);
		assert_int_equal(a->exceptions[i]->at_us, b->exceptions[i]->at_us);
	}
	assert_int_equal(a->n_curves, b->n_curves);
	for (i = 0; i < a->n_curves; i++) {
		assert_string_equal(a->curves[i]->name, b->curves[i]->name);
		assert_string_equal(a->curves[i]->x_unit, b->curves[i]->x_unit);
		assert_string_equal(a->curves[i]->y_unit, b->curves[i]->y_unit);
		assert_same_doubles(a->curves[i]->x, a->curves[i]->n_x, b->curves[i]->x,
		                    b->curves[i]->n_x);
		assert_same_doubles(a->curves[i]->y, a->curves[i]->n_y, b->curves[i]->y,
		                    b->curves[i]->n_y);
	}
}

/* Both messages pack to the same bytes: nothing the comparisons above missed differs. */
static void assert_same_wire(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t na = protobuf_c_message_get_packed_size(a),
	       nb = protobuf_c_message_get_packed_size(b);
	uint8_t *pa = malloc(na + 1), *pb = malloc(nb + 1);

	assert_non_null(pa);
	assert_non_null(pb);
	assert_int_equal(na, nb);
	protobuf_c_message_pack(a, pa);
	protobuf_c_message_pack(b, pb);
	assert_memory_equal(pa, pb, na);
	free(pa);
	free(pb);
}

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

static int decode_batch(const char *fixture, Cellthread__V1__StationResultBatch **ret, char *err,
                        size_t err_len)
{
	char *text = fixture_text(fixture);
	int rc = ct_json_result_batch(text, strlen(text), ret, err, err_len);

	free(text);
	return rc;
}

static Cellthread__V1__StationResultBatch *must_decode_batch(const char *fixture)
{
	Cellthread__V1__StationResultBatch *batch = NULL;
	char err[256] = "";

	if (decode_batch(fixture, &batch, err, sizeof(err)) != CT_OK)
		fail_msg("decode: %s", err);
	return batch;
}

static void free_msg(void *msg)
{
	protobuf_c_message_free_unpacked(msg, NULL);
}

static void test_round_trip_rich_result(void **state)
{
	Cellthread__V1__StationResultBatch *back = NULL, *again = NULL;
	char err[256] = "", *text, *text2;
	struct rich r;
	size_t i;

	(void)state;
	build_rich(&r);
	text = ct_json_encode_result_batch(&r.batch);
	assert_non_null(text);
	if (ct_json_result_batch(text, strlen(text), &back, err, sizeof(err)) != CT_OK)
		fail_msg("decode of encoded batch: %s\n%s", err, text);
	assert_int_equal(back->n_results, 2);
	for (i = 0; i < 2; i++)
		assert_result_equal(&r.result[i], back->results[i]);
	assert_same_wire(&r.batch.base, &back->base);
	/* And JSON -> proto -> JSON is stable text. */
	text2 = ct_json_encode_result_batch(back);
	assert_non_null(text2);
	assert_string_equal(text, text2);
	assert_int_equal(ct_json_result_batch(text2, strlen(text2), &again, err, sizeof(err)),
	                 CT_OK);
	assert_same_wire(&back->base, &again->base);
	free(text);
	free(text2);
	free_msg(back);
	free_msg(again);
}

/* The exact output for a small result: the shape the simulator's JSON mode publishes. */
static void test_encode_shape(void **state)
{
	struct rich r;
	char *text;

	(void)state;
	build_rich(&r);
	r.batch.n_results = 1;
	r.batch.results = &r.results[1];
	text = ct_json_encode_result_batch(&r.batch);
	assert_non_null(text);
	assert_string_equal(
	        text, "{\"results\":[{\"header\":{\"event_id\":\"gw-fill-01:000123458\","
	              "\"producer\":\"gw-fill-01\",\"produced_at_us\":1795326888300000,"
	              "\"schema_version\":0},\"unit_id\":\"PACK-9\",\"unit_kind\":\"pack\","
	              "\"site\":\"DE-BER\",\"line\":\"L2\",\"station\":\"FILL-01\","
	              "\"station_type\":\"pack_assembly\",\"recipe\":\"PK-1\",\"recipe_version\":0,"
	              "\"started_at_us\":1795326888000000,\"ended_at_us\":1795326888000000,"
	              "\"result\":\"aborted\"}]}");
	free(text);
}

/* Doubles print as short as reads back exactly: 4.81 as 4.81, unless some value in the
 * document needs all 17 digits. */
static void test_encode_short_doubles(void **state)
{
	Cellthread__V1__StationResultBatch *back = NULL;
	char *text, err[128] = "";
	struct rich r;

	(void)state;
	build_rich(&r);
	r.batch.n_results = 1;
	r.result[0].n_curves = 0;
	r.meas[0].value = 4.81;
	text = ct_json_encode_result_batch(&r.batch);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"value\":4.81,"));
	assert_non_null(strstr(text, "\"quantity\":1520.5,"));
	free(text);
	r.meas[1].value = 0.1 + 0.2;
	text = ct_json_encode_result_batch(&r.batch);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"value\":0.30000000000000004,"));
	assert_int_equal(ct_json_result_batch(text, strlen(text), &back, err, sizeof(err)), CT_OK);
	assert_same_double(back->results[0]->measurements[0]->value, 4.81);
	assert_same_double(back->results[0]->measurements[1]->value, 0.1 + 0.2);
	free(text);
	free_msg(back);
}

static void test_encode_refuses_what_json_cannot_carry(void **state)
{
	Cellthread__V1__StationResultBatch empty = CELLTHREAD__V1__STATION_RESULT_BATCH__INIT;
	struct rich r;
	char *text;

	(void)state;
	text = ct_json_encode_result_batch(&empty);
	assert_string_equal(text, "{\"results\":[]}");
	free(text);
	build_rich(&r);
	r.meas[1].value = NAN;
	assert_null(ct_json_encode_result_batch(&r.batch));
	build_rich(&r);
	r.y[0] = INFINITY;
	assert_null(ct_json_encode_result_batch(&r.batch));
	build_rich(&r);
	r.note[0].text = S("caf\xc3\x28");
	assert_null(ct_json_encode_result_batch(&r.batch));
	/* An enum value this build does not name stays visible as its number. */
	build_rich(&r);
	r.result[1].unit_kind = 99;
	text = ct_json_encode_result_batch(&r.batch);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"unit_kind\":99"));
	free(text);
}

static const char telemetry_fixture[] =
        "{'header': {'event_id': 'gw-coat-01:tl:1', 'producer': 'gw-coat-01',"
        "            'produced_at': '2026-11-22T05:54:48.2Z', 'schema_version': 1},"
        " 'site': 'DE-BER', 'line': 'L2', 'asset': 'coater-1.slot-die',"
        " 'signals': [{'name': 'slot_die_gap', 'unit': 'um',"
        "              'samples': [{'at_us': 1795326887000000, 'value': 182.4},"
        "                          {'at': '2026-11-22T05:54:47.1Z', 'value': 182.5}]},"
        "             {'name': 'web_tension', 'unit': 'N',"
        "              'samples': [{'at_us': 1795326886000000, 'value': 118}]}]}";

static const char genealogy_fixture[] =
        "{'event_id': 'mes-1:gen:5521', 'producer': 'mes-1', 'produced_at_us': 1795326888200000,"
        " 'site': 'DE-BER', 'line': 'L2', 'station': 'MOD-ASM-01',"
        " 'parent_unit_id': 'MOD-2026-000311', 'parent_kind': 'module',"
        " 'children': [{'unit_id': 'CELL-1', 'kind': 'cell', 'quantity': 1, 'unit': 'pcs',"
        "               'position': '1'},"
        "              {'unit_id': 'CELL-2', 'kind': 'cell', 'quantity': 1, 'unit': 'pcs',"
        "               'position': '2'}],"
        " 'assembled_at': '2026-11-22T05:54:48.123Z', 'operator_id': 'op-0042'}";

static void test_round_trip_telemetry(void **state)
{
	Cellthread__V1__Telemetry *m = NULL, *back = NULL;
	char *text = fixture_text(telemetry_fixture), *json, err[256] = "";

	(void)state;
	assert_int_equal(ct_json_telemetry(text, strlen(text), &m, err, sizeof(err)), CT_OK);
	assert_string_equal(m->header->event_id, "gw-coat-01:tl:1");
	assert_int_equal(m->header->produced_at_us, INT64_C(1795326888200000));
	assert_string_equal(m->asset, "coater-1.slot-die");
	assert_int_equal(m->n_signals, 2);
	assert_string_equal(m->signals[0]->name, "slot_die_gap");
	assert_int_equal(m->signals[0]->n_samples, 2);
	assert_int_equal(m->signals[0]->samples[1]->at_us, INT64_C(1795326887100000));
	assert_same_double(m->signals[0]->samples[1]->value, 182.5);
	assert_same_double(m->signals[1]->samples[0]->value, 118);
	json = ct_json_encode_telemetry(m);
	assert_non_null(json);
	assert_int_equal(ct_json_telemetry(json, strlen(json), &back, err, sizeof(err)), CT_OK);
	assert_same_wire(&m->base, &back->base);
	free(json);
	free(text);
	free_msg(m);
	free_msg(back);
}

static void test_round_trip_genealogy(void **state)
{
	Cellthread__V1__Genealogy *m = NULL, *back = NULL;
	char *text = fixture_text(genealogy_fixture), *json, err[256] = "";

	(void)state;
	assert_int_equal(ct_json_genealogy(text, strlen(text), &m, err, sizeof(err)), CT_OK);
	assert_string_equal(m->header->event_id, "mes-1:gen:5521");
	assert_string_equal(m->header->producer, "mes-1");
	assert_string_equal(m->parent_unit_id, "MOD-2026-000311");
	assert_int_equal(m->parent_kind, CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_MODULE);
	assert_int_equal(m->n_children, 2);
	assert_string_equal(m->children[1]->position, "2");
	assert_int_equal(m->assembled_at_us, INT64_C(1795326888123000));
	json = ct_json_encode_genealogy(m);
	assert_non_null(json);
	assert_int_equal(ct_json_genealogy(json, strlen(json), &back, err, sizeof(err)), CT_OK);
	assert_same_wire(&m->base, &back->base);
	free(json);
	free(text);
	free_msg(m);
	free_msg(back);
}

/* FILL-01 down for a pump breakdown: every field of StationState, times in both forms. */
static const char state_fixture[] =
        "{'header': {'event_id': 'gw-fill-01:state:17', 'producer': 'gw-fill-01',"
        "            'produced_at_us': 1795326888200000, 'schema_version': 1},"
        " 'site': 'DE-BER', 'line': 'L2', 'station': 'FILL-01',"
        " 'state': 'unplanned_downtime', 'reason_code': 'BREAKDOWN.FILL.PUMP',"
        " 'reason_text': 'Dosierpumpe \u2014 Druck zu niedrig',"
        " 'since': '2026-11-22T05:54:40.5Z', 'recipe': 'P45-NMC811',"
        " 'recipe_version': 2147483647, 'asset': 'FILL-01.pump', 'rate_per_hour': 0.5}";

/* The acknowledgement of a slow-down command, header flattened. */
static const char ack_fixture[] =
        "{'event_id': 'ack-spc-gate:cmd:42', 'producer': 'gw-fill-01',"
        " 'produced_at': '2026-11-22T05:54:48.2Z',"
        " 'site': 'DE-BER', 'line': 'L2', 'station': 'FILL-01',"
        " 'command_event_id': 'spc-gate:cmd:42', 'status': 'rejected',"
        " 'detail': 'rate below the machine minimum', 'acked_at_us': 1795326888100000}";

static void test_round_trip_state(void **state)
{
	Cellthread__V1__StationState *m = NULL, *back = NULL;
	char *text = fixture_text(state_fixture), *json, *json2, err[256] = "";

	(void)state;
	if (ct_json_state(text, strlen(text), &m, err, sizeof(err)) != CT_OK)
		fail_msg("decode: %s", err);
	assert_string_equal(m->header->event_id, "gw-fill-01:state:17");
	assert_int_equal(m->header->produced_at_us, INT64_C(1795326888200000));
	assert_string_equal(m->station, "FILL-01");
	assert_int_equal(m->state,
	                 CELLTHREAD__V1__STATION_STATE_KIND__STATION_STATE_UNPLANNED_DOWNTIME);
	assert_string_equal(m->reason_code, "BREAKDOWN.FILL.PUMP");
	assert_string_equal(m->reason_text, "Dosierpumpe \xe2\x80\x94 Druck zu niedrig");
	assert_int_equal(m->since_us, INT64_C(1795326880500000));
	assert_string_equal(m->recipe, "P45-NMC811");
	assert_int_equal(m->recipe_version, INT32_MAX);
	assert_string_equal(m->asset, "FILL-01.pump");
	assert_same_double(m->rate_per_hour, 0.5);
	json = ct_json_encode_state(m);
	assert_non_null(json);
	if (ct_json_state(json, strlen(json), &back, err, sizeof(err)) != CT_OK)
		fail_msg("decode of encoded state: %s\n%s", err, json);
	assert_same_wire(&m->base, &back->base);
	json2 = ct_json_encode_state(back);
	assert_non_null(json2);
	assert_string_equal(json, json2);
	free(json);
	free(json2);
	free(text);
	free_msg(m);
	free_msg(back);
}

static void test_round_trip_ack(void **state)
{
	Cellthread__V1__CommandAck *m = NULL, *back = NULL;
	char *text = fixture_text(ack_fixture), *json, err[256] = "";

	(void)state;
	if (ct_json_ack(text, strlen(text), &m, err, sizeof(err)) != CT_OK)
		fail_msg("decode: %s", err);
	assert_string_equal(m->header->event_id, "ack-spc-gate:cmd:42");
	assert_string_equal(m->header->producer, "gw-fill-01");
	assert_int_equal(m->header->produced_at_us, INT64_C(1795326888200000));
	assert_string_equal(m->command_event_id, "spc-gate:cmd:42");
	assert_int_equal(m->status,
	                 CELLTHREAD__V1__COMMAND_ACK_STATUS__COMMAND_ACK_STATUS_REJECTED);
	assert_string_equal(m->detail, "rate below the machine minimum");
	assert_int_equal(m->acked_at_us, INT64_C(1795326888100000));
	json = ct_json_encode_ack(m);
	assert_non_null(json);
	if (ct_json_ack(json, strlen(json), &back, err, sizeof(err)) != CT_OK)
		fail_msg("decode of encoded ack: %s\n%s", err, json);
	assert_same_wire(&m->base, &back->base);
	free(json);
	free(text);
	free_msg(m);
	free_msg(back);
}

/* The exact text of the encoders (what a JSON-speaking simulator would publish): defaults
 * left out, int32 as a plain integer (negative too: validation, not JSON, refuses it), an
 * enum value this build does not name as its number, NaN refused. */
static void test_encode_state_and_ack_shape(void **state)
{
	Cellthread__V1__StationState st = CELLTHREAD__V1__STATION_STATE__INIT;
	Cellthread__V1__CommandAck ack = CELLTHREAD__V1__COMMAND_ACK__INIT;
	Cellthread__V1__Header h = CELLTHREAD__V1__HEADER__INIT;
	char *text;

	(void)state;
	h.event_id = S("e1");
	h.producer = S("linesim-L1");
	h.produced_at_us = 5;
	st.header = &h;
	st.site = S("S1");
	st.line = S("L1");
	st.station = S("ST1");
	st.state = CELLTHREAD__V1__STATION_STATE_KIND__STATION_STATE_PRODUCING;
	st.since_us = 4;
	st.recipe_version = -3;
	st.rate_per_hour = 1200;
	text = ct_json_encode_state(&st);
	assert_non_null(text);
	assert_string_equal(text, "{\"header\":{\"event_id\":\"e1\",\"producer\":\"linesim-L1\","
	                          "\"produced_at_us\":5,\"schema_version\":0},\"site\":\"S1\","
	                          "\"line\":\"L1\",\"station\":\"ST1\",\"state\":\"producing\","
	                          "\"since_us\":4,\"recipe_version\":-3,\"rate_per_hour\":1200.0}");
	free(text);
	st.state = 42;
	text = ct_json_encode_state(&st);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"state\":42,"));
	free(text);
	st.rate_per_hour = NAN;
	assert_null(ct_json_encode_state(&st));
	ack.header = &h;
	ack.site = S("S1");
	ack.line = S("L1");
	ack.station = S("ST1");
	ack.command_event_id = S("c1");
	ack.status = CELLTHREAD__V1__COMMAND_ACK_STATUS__COMMAND_ACK_STATUS_EXPIRED;
	ack.acked_at_us = 6;
	text = ct_json_encode_ack(&ack);
	assert_non_null(text);
	assert_string_equal(text, "{\"header\":{\"event_id\":\"e1\",\"producer\":\"linesim-L1\","
	                          "\"produced_at_us\":5,\"schema_version\":0},\"site\":\"S1\","
	                          "\"line\":\"L1\",\"station\":\"ST1\",\"command_event_id\":\"c1\","
	                          "\"status\":\"expired\",\"acked_at_us\":6}");
	free(text);
}

struct kind_case {
	const char *name;
	bool ack;         /* decoded with ct_json_ack, else ct_json_state */
	const char *json; /* ' for " */
	const char *err;  /* the whole expected error text */
};

static const struct kind_case state_ack_cases[] = {
        {"state: unknown key", false, "{'station': 'ST1', 'reason': 'x'}", "reason: unknown key"},
        {"state: misspelt time", false, "{'since_s': 1}", "since_s: unknown key"},
        {"state: unknown kind", false, "{'state': 'down'}",
         "state: unknown value \"down\" (expected one of producing|idle|starved|blocked|"
         "planned_downtime|unplanned_downtime|unknown_stop)"},
        {"state: upper case", false, "{'state': 'PRODUCING'}",
         "state: unknown value \"PRODUCING\" (expected one of producing|idle|starved|blocked|"
         "planned_downtime|unplanned_downtime|unknown_stop)"},
        {"state: proto name", false, "{'state': 'STATION_STATE_IDLE'}",
         "state: unknown value \"STATION_STATE_IDLE\" (expected one of producing|idle|starved|"
         "blocked|planned_downtime|unplanned_downtime|unknown_stop)"},
        {"state: unspecified by name", false, "{'state': 'unspecified'}",
         "state: unknown value \"unspecified\" (expected one of producing|idle|starved|"
         "blocked|planned_downtime|unplanned_downtime|unknown_stop)"},
        {"state: as a number", false, "{'state': 1}", "state: expected a string, got an integer"},
        {"state: recipe_version as a string", false, "{'recipe_version': '7'}",
         "recipe_version: expected an integer, got a string"},
        {"state: recipe_version as a real", false, "{'recipe_version': 7.0}",
         "recipe_version: expected an integer, got a real number"},
        {"state: recipe_version above int32", false, "{'recipe_version': 2147483648}",
         "recipe_version: 2147483648 out of range -2147483648..2147483647"},
        {"state: recipe_version below int32", false, "{'recipe_version': -2147483649}",
         "recipe_version: -2147483649 out of range -2147483648..2147483647"},
        {"state: since as a number", false, "{'since': 1795326880000000}",
         "since: expected an RFC 3339 time string, got an integer"},
        {"state: since_us as a string", false, "{'since_us': '2026-11-22T05:54:40Z'}",
         "since_us: expected an integer, got a string"},
        {"state: both time forms", false, "{'since_us': 1, 'since': '2026-11-22T05:54:40Z'}",
         "since: given twice (as since and as its _us form)"},
        {"state: bad time", false, "{'since': '22.11.2026 05:54'}",
         "since: not an RFC 3339 time: \"22.11.2026 05:54\""},
        {"state: rate as a string", false, "{'rate_per_hour': '1200'}",
         "rate_per_hour: expected a number, got a string"},
        {"state: reason_code as a number", false, "{'reason_code': 17}",
         "reason_code: expected a string, got an integer"},
        {"state: header twice", false, "{'header': {'producer': 'p'}, 'event_id': 'e'}",
         "event_id: header fields given both in \"header\" and at the top"},
        {"state: header unknown key", false, "{'header': {'produced': 1}}",
         "header.produced: unknown key"},
        {"state: an ack's key", false, "{'status': 'accepted'}", "status: unknown key"},
        {"state: a batch", false, "{'results': []}", "results: unknown key"},
        {"state: not an object", false, "['producing']", "expected a JSON object"},
        {"state: duplicate key", false, "{'state': 'idle', 'state': 'blocked'}",
         "JSON syntax error at line 1, column 25: duplicate object key near '\"state\"'"},
        {"ack: unknown key", true, "{'command_id': 'c1'}", "command_id: unknown key"},
        {"ack: unknown status", true, "{'status': 'ok'}",
         "status: unknown value \"ok\" (expected one of accepted|rejected|expired)"},
        {"ack: status as a number", true, "{'status': 1}",
         "status: expected a string, got an integer"},
        {"ack: status as a boolean", true, "{'status': true}",
         "status: expected a string, got a boolean"},
        {"ack: command ID as a number", true, "{'command_event_id': 42}",
         "command_event_id: expected a string, got an integer"},
        {"ack: acked_at as a number", true, "{'acked_at': 1795326888100000}",
         "acked_at: expected an RFC 3339 time string, got an integer"},
        {"ack: acked_at_us as a real", true, "{'acked_at_us': 1.7953268881e15}",
         "acked_at_us: expected an integer, got a real number"},
        {"ack: both time forms", true, "{'acked_at': '2026-11-22T05:54:48Z', 'acked_at_us': 1}",
         "acked_at_us: given twice (as acked_at_us and as its RFC 3339 form)"},
        {"ack: detail as an object", true, "{'detail': {}}",
         "detail: expected a string, got an object"},
        {"ack: a state's key", true, "{'state': 'idle'}", "state: unknown key"},
};

static void test_state_and_ack_errors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(state_ack_cases) / sizeof(state_ack_cases[0]); i++) {
		const struct kind_case *c = &state_ack_cases[i];
		Cellthread__V1__StationState *st = NULL;
		Cellthread__V1__CommandAck *ack = NULL;
		char *text = fixture_text(c->json), err[256] = "";
		int rc;

		if (c->ack)
			rc = ct_json_ack(text, strlen(text), &ack, err, sizeof(err));
		else
			rc = ct_json_state(text, strlen(text), &st, err, sizeof(err));
		free(text);
		if (rc != CT_ERR_DECODE)
			fail_msg("%s: rc %d, expected CT_ERR_DECODE", c->name, rc);
		if (st != NULL || ack != NULL)
			fail_msg("%s: *ret set on failure", c->name);
		if (strcmp(err, c->err) != 0)
			fail_msg("%s: error \"%s\", expected \"%s\"", c->name, err, c->err);
	}
}

/* What the JSON form lets through, ingest's rules still refuse, with the same reasons as for
 * protobuf: the decoder is not where the rules live. */
static void test_state_and_ack_rules_apply(void **state)
{
	static const struct {
		bool ack;
		const char *json;
		const char *err;
	} cases[] = {
	        {false,
	         "{'event_id': 'e1', 'producer': 'p', 'produced_at_us': 1795326888200000,"
	         " 'site': 'S1', 'line': 'L1', 'station': 'ST1', 'state': 'unknown_stop',"
	         " 'since_us': 1795326880000000}",
	         "state: UNKNOWN_STOP is derived by ct-oee, not sent by stations"},
	        {false,
	         "{'event_id': 'e1', 'producer': 'p', 'produced_at_us': 1795326888200000,"
	         " 'site': 'S1', 'line': 'L1', 'station': 'ST1', 'state': 'idle',"
	         " 'since_us': 1795326880000000, 'recipe_version': -1}",
	         "recipe_version: negative (-1)"},
	        {false,
	         "{'event_id': 'e1', 'producer': 'p', 'produced_at_us': 1795326888200000,"
	         " 'site': 'S1', 'line': 'L1', 'station': 'ST1',"
	         " 'state': 'planned_downtime', 'since_us': 1795326880000000}",
	         "reason_code: missing (required for planned and unplanned downtime)"},
	        {true,
	         "{'event_id': 'a1', 'producer': 'p', 'produced_at_us': 1795326888200000,"
	         " 'site': 'S1', 'line': 'L1', 'station': 'ST1', 'status': 'accepted',"
	         " 'acked_at_us': 1795326888100000}",
	         "command_event_id: missing"},
	};
	struct ingest_limits limits;
	size_t i;

	(void)state;
	ingest_limits_init(&limits);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Cellthread__V1__StationState *st = NULL;
		Cellthread__V1__CommandAck *ack = NULL;
		char *text = fixture_text(cases[i].json), err[256] = "";
		int reason = 0, rc;

		if (cases[i].ack) {
			assert_int_equal(ct_json_ack(text, strlen(text), &ack, err, sizeof(err)),
			                 CT_OK);
			rc = ingest_check_ack(ack, NULL, INT64_C(1795326888200000), &limits,
			                      &reason, err, sizeof(err));
		} else {
			assert_int_equal(ct_json_state(text, strlen(text), &st, err, sizeof(err)),
			                 CT_OK);
			rc = ingest_check_state(st, NULL, INT64_C(1795326888200000), &limits,
			                        &reason, err, sizeof(err));
		}
		free(text);
		if (rc != CT_ERR_INVALID)
			fail_msg("case %zu: rc %d, expected CT_ERR_INVALID (%s)", i, rc, err);
		if (strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
			fail_msg("case %zu: error \"%s\", expected \"%s...\"", i, err,
			         cases[i].err);
		free_msg(st);
		free_msg(ack);
	}
}

/* A minimal single result; cases add keys after it with a leading comma. */
#define MINIMAL                                                                                    \
	"'unit_id': 'U1', 'unit_kind': 'cell', 'site': 'S1', 'line': 'L1', 'station': 'ST1',"      \
	" 'recipe': 'R1', 'started_at_us': 1795326880000000, 'ended_at_us': 1795326888000000"

static void test_time_forms(void **state)
{
	Cellthread__V1__StationResultBatch *b;
	Cellthread__V1__StationResult *r;

	(void)state;
	b = must_decode_batch("{'unit_id': 'U1', 'started_at': '2026-11-22T05:54:48.123Z',"
	                      " 'ended_at': '2026-11-22T06:54:48.123456+01:00',"
	                      " 'produced_at': '2026-11-22T05:54:49Z',"
	                      " 'measurements': [{'characteristic': 'a', 'value': 1,"
	                      "                   'measured_at': '2026-11-22T05:54:48.5Z'},"
	                      "                  {'characteristic': 'b', 'value': 2,"
	                      "                   'measured_at_us': 1795326888600000}],"
	                      " 'notes': [{'text': 't', 'at': '2026-11-22T05:54:48Z'}]}");
	r = b->results[0];
	assert_int_equal(r->started_at_us, INT64_C(1795326888123000));
	assert_int_equal(r->ended_at_us, INT64_C(1795326888123456));
	assert_int_equal(r->header->produced_at_us, INT64_C(1795326889000000));
	assert_int_equal(r->measurements[0]->measured_at_us, INT64_C(1795326888500000));
	assert_int_equal(r->measurements[1]->measured_at_us, INT64_C(1795326888600000));
	assert_int_equal(r->notes[0]->at_us, INT64_C(1795326888000000));
	free_msg(b);
}

static void test_header_forms(void **state)
{
	Cellthread__V1__StationResultBatch *b;

	(void)state;
	/* Flattened, in the batch form, with schema_version. */
	b = must_decode_batch("{'results': [{'event_id': 'e1', 'producer': 'p1',"
	                      " 'produced_at_us': 5, 'schema_version': 1, " MINIMAL "},"
	                      " {'header': {'event_id': 'e2', 'producer': 'p2',"
	                      "  'produced_at': '1970-01-01T00:00:00.000006Z'}, " MINIMAL "}]}");
	assert_int_equal(b->n_results, 2);
	assert_string_equal(b->results[0]->header->event_id, "e1");
	assert_string_equal(b->results[0]->header->producer, "p1");
	assert_int_equal(b->results[0]->header->produced_at_us, 5);
	assert_int_equal(b->results[0]->header->schema_version, 1);
	assert_string_equal(b->results[1]->header->event_id, "e2");
	assert_int_equal(b->results[1]->header->produced_at_us, 6);
	assert_string_equal(b->results[1]->unit_id, "U1");
	free_msg(b);
	/* No header keys at all: no header (validation reports it). */
	b = must_decode_batch("{" MINIMAL "}");
	assert_null(b->results[0]->header);
	free_msg(b);
}

static void test_values(void **state)
{
	Cellthread__V1__StationResultBatch *b;
	Cellthread__V1__StationResult *r;

	(void)state;
	b = must_decode_batch(
	        "{" MINIMAL ", 'operator_id': null, 'measurements': [{'characteristic': 'm',"
	        " 'value': 5, 'unit': null}], 'recipe_version': 4294967295, 'notes': null,"
	        " 'parameters': [{'name': 'a', 'actual': 1, 'setpoint': 0},"
	        "                {'name': 'b', 'actual': 2},"
	        "                {'name': 'c', 'actual': 3, 'setpoint': 3.5, 'has_setpoint': true},"
	        "                {'name': 'd', 'actual': 4, 'setpoint': null, 'has_setpoint': "
	        "false}],"
	        " 'curves': [{'name': 'c', 'x': [], 'y': [1, 2.5e-3]}]}");
	r = b->results[0];
	assert_ptr_equal(r->operator_id, protobuf_c_empty_string);
	assert_same_double(r->measurements[0]->value, 5.0);
	assert_string_equal(r->measurements[0]->unit, "");
	assert_int_equal(r->recipe_version, UINT32_MAX);
	assert_int_equal(r->n_notes, 0);
	assert_true(r->parameters[0]->has_setpoint);
	assert_same_double(r->parameters[0]->setpoint, 0);
	assert_false(r->parameters[1]->has_setpoint);
	assert_true(r->parameters[2]->has_setpoint);
	assert_same_double(r->parameters[2]->setpoint, 3.5);
	assert_false(r->parameters[3]->has_setpoint);
	assert_int_equal(r->curves[0]->n_x, 0);
	assert_int_equal(r->curves[0]->n_y, 2);
	assert_same_double(r->curves[0]->y[1], 2.5e-3);
	free_msg(b);
}

/* Only len bytes are read; the buffer need not be NUL-terminated. */
static void test_length_bounded(void **state)
{
	static const char buf[] = "{\"unit_id\": \"U1\"}{\"unit_id\": garbage";
	Cellthread__V1__StationResultBatch *b = NULL;
	char err[256] = "";

	(void)state;
	assert_int_equal(ct_json_result_batch(buf, 17, &b, err, sizeof(err)), CT_OK);
	assert_string_equal(b->results[0]->unit_id, "U1");
	free_msg(b);
	b = NULL;
	assert_int_equal(ct_json_result_batch(buf, 20, &b, err, sizeof(err)), CT_ERR_DECODE);
	assert_null(b);
	assert_int_equal(ct_json_result_batch(NULL, 0, &b, err, sizeof(err)), CT_ERR_DECODE);
	assert_null(b);
}

struct decode_case {
	const char *name;
	const char *json; /* ' for " */
	const char *err;  /* expected start of the error text */
};

static const struct decode_case decode_cases[] = {
        {"syntax error has line and column", "{\n  'results': [\n    {'unit_id': 'A',}\n  ]\n}",
         "JSON syntax error at line 3, column 21: string or '}' expected near '}'"},
        {"empty text", "", "JSON syntax error at line 1, column 0: "},
        {"trailing text", "{} {}", "JSON syntax error at line 1, column 4: end of file expected"},
        {"duplicate key", "{'unit_id': 'A', 'unit_id': 'B'}",
         "JSON syntax error at line 1, column 26: duplicate object key near '\"unit_id\"'"},
        {"integer beyond int64", "{'started_at_us': 9223372036854775808}",
         "JSON syntax error at line 1, column 37: too big integer"},
        {"not an object", "[1, 2]", "expected a JSON object"},
        {"unknown key, single result", "{" MINIMAL ", 'unit_idd': 'x'}", "unit_idd: unknown key"},
        {"unknown key, nested",
         "{'results': [{" MINIMAL "}, {" MINIMAL ", 'measurements': [{},"
         " {'characteristic': 'm', 'valeu': 1}]}]}",
         "results[1].measurements[1].valeu: unknown key"},
        {"unknown key beside results", "{'results': [], 'extra': 1}", "extra: unknown key"},
        {"unknown key in header", "{'results': [{'header': {'event': 'e'}}]}",
         "results[0].header.event: unknown key"},
        {"unknown key with control characters", "{'\\u0001bad\\u00e9': 1}", "?bad??: unknown key"},
        {"long unknown key is cut",
         "{'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa': 1}",
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...: unknown key"},
        {"has_setpoint is implied, not a setpoint alias", "{'parameters': [{'set_point': 1}]}",
         "parameters[0].set_point: unknown key"},
        {"header twice", "{'header': {'producer': 'p'}, 'event_id': 'e'}",
         "event_id: header fields given both in \"header\" and at the top"},
        {"header after flattened keys", "{'event_id': 'e', 'header': {'producer': 'p'}}",
         "header: header fields given both in \"header\" and at the top"},
        {"both time forms", "{'started_at': '2026-11-22T05:54:48Z', 'started_at_us': 1}",
         "started_at_us: given twice (as started_at_us and as its RFC 3339 form)"},
        {"both time forms, alias last",
         "{'started_at_us': 1, 'started_at': '2026-11-22T05:54:48Z'}",
         "started_at: given twice (as started_at and as its _us form)"},
        {"both header time forms", "{'produced_at_us': 1, 'produced_at': '2026-11-22T05:54:48Z'}",
         "produced_at: given twice (as produced_at and as its _us form)"},
        {"bad RFC 3339 time", "{'started_at': '2026-13-45T00:00:00Z'}",
         "started_at: not an RFC 3339 time: \"2026-13-45T00:00:00Z\""},
        {"time alias with a number", "{'ended_at': 1795326888000000}",
         "ended_at: expected an RFC 3339 time string, got an integer"},
        {"_us time as a string", "{'ended_at_us': '2026-11-22T05:54:48Z'}",
         "ended_at_us: expected an integer, got a string"},
        {"_us time as a real", "{'ended_at_us': 1.5e15}",
         "ended_at_us: expected an integer, got a real number"},
        {"alias of a non-time field", "{'recipe_version_at': 'x'}",
         "recipe_version_at: unknown key"},
        {"number as a string", "{'results': [{}, {'measurements': [{'value': '5.0'}]}]}",
         "results[1].measurements[0].value: expected a number, got a string"},
        {"ID as a number", "{'unit_id': 5}", "unit_id: expected a string, got an integer"},
        {"negative uint32", "{'recipe_version': -1}",
         "recipe_version: -1 out of range 0..4294967295"},
        {"uint32 overflow", "{'recipe_version': 4294967296}",
         "recipe_version: 4294967296 out of range 0..4294967295"},
        {"uint32 as a real", "{'recipe_version': 1.0}",
         "recipe_version: expected an integer, got a real number"},
        {"schema_version negative", "{'header': {'schema_version': -1}}",
         "header.schema_version: -1 out of range 0..4294967295"},
        {"list as an object", "{'measurements': {}}",
         "measurements: expected an array, got an object"},
        {"list entry not an object", "{'measurements': [1]}",
         "measurements[0]: expected an object, got an integer"},
        {"list entry null", "{'children': [null]}", "children[0]: expected an object, got null"},
        {"header as an array", "{'header': []}", "header: expected an object, got an array"},
        {"curve point as a string", "{'curves': [{'x': [1, '2']}]}",
         "curves[0].x[1]: expected a number, got a string"},
        {"has_setpoint as a string", "{'parameters': [{'has_setpoint': 'yes'}]}",
         "parameters[0].has_setpoint: expected true or false, got a string"},
        {"has_setpoint false with a setpoint",
         "{'parameters': [{'name': 'p', 'setpoint': 1, 'has_setpoint': false}]}",
         "parameters[0].has_setpoint: false but setpoint is given"},
        {"has_setpoint true without a setpoint",
         "{'parameters': [{'name': 'p', 'has_setpoint': true}]}",
         "parameters[0].setpoint: missing while has_setpoint is true"},
        {"results not an array", "{'results': 'x'}", "results: expected an array, got a string"},
        {"enum upper case", "{'unit_kind': 'CELL'}",
         "unit_kind: unknown value \"CELL\" (expected one of "
         "material_lot|batch|electrode|cell|module|pack)"},
        {"enum unspecified by name", "{'unit_kind': 'unspecified'}",
         "unit_kind: unknown value \"unspecified\""},
        {"enum as a number", "{'unit_kind': 4}", "unit_kind: expected a string, got an integer"},
        {"result code unknown", "{'result': 'pass'}",
         "result: unknown value \"pass\" (expected one of ok|nok|aborted)"},
        {"severity unknown", "{'exceptions': [{'severity': 'warning'}]}",
         "exceptions[0].severity: unknown value \"warning\" (expected one of "
         "info|low|medium|high|critical)"},
        {"station_type unknown", "{'station_type': 'welding'}",
         "station_type: unknown value \"welding\" (expected one of mixing|coating|"},
        {"child kind unknown", "{'children': [{'kind': 'jelly_roll'}]}",
         "children[0].kind: unknown value \"jelly_roll\""},
        {"NUL in a string", "{'unit_id': 'a\\u0000b'}",
         "JSON syntax error at line 1, column 22: \\u0000 is not allowed without JSON_ALLOW_NUL"},
        {"invalid UTF-8", "{'unit_id': '\xff'}", "JSON syntax error at line 1, column "},
};

static void test_decode_cases(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(decode_cases) / sizeof(decode_cases[0]); i++) {
		const struct decode_case *c = &decode_cases[i];
		Cellthread__V1__StationResultBatch *b = NULL;
		char err[256] = "";
		int rc;

		rc = decode_batch(c->json, &b, err, sizeof(err));
		if (rc != CT_ERR_DECODE)
			fail_msg("%s: rc %d, expected CT_ERR_DECODE", c->name, rc);
		if (b != NULL)
			fail_msg("%s: *ret set on failure", c->name);
		if (strncmp(err, c->err, strlen(c->err)) != 0)
			fail_msg("%s: error \"%s\", expected \"%s...\"", c->name, err, c->err);
	}
}

static void test_telemetry_and_genealogy_errors(void **state)
{
	Cellthread__V1__Telemetry *t = NULL;
	Cellthread__V1__Genealogy *g = NULL;
	char *text, err[256] = "";

	(void)state;
	text = fixture_text("{'signals': [{'name': 's', 'samples': [{'at_us': 1, 'vlaue': 2}]}]}");
	assert_int_equal(ct_json_telemetry(text, strlen(text), &t, err, sizeof(err)),
	                 CT_ERR_DECODE);
	assert_string_equal(err, "signals[0].samples[0].vlaue: unknown key");
	assert_null(t);
	free(text);
	text = fixture_text("{'signals': [{'samples': [{'at': 5}]}]}");
	assert_int_equal(ct_json_telemetry(text, strlen(text), &t, err, sizeof(err)),
	                 CT_ERR_DECODE);
	assert_string_equal(err,
	                    "signals[0].samples[0].at: expected an RFC 3339 time string, got an "
	                    "integer");
	free(text);
	text = fixture_text("{'parent_kind': 'cell', 'children': [{'kind': 'cel'}]}");
	assert_int_equal(ct_json_genealogy(text, strlen(text), &g, err, sizeof(err)),
	                 CT_ERR_DECODE);
	assert_string_equal(err, "children[0].kind: unknown value \"cel\" (expected one of "
	                         "material_lot|batch|electrode|cell|module|pack)");
	assert_null(g);
	free(text);
	text = fixture_text("{'results': []}");
	assert_int_equal(ct_json_genealogy(text, strlen(text), &g, err, sizeof(err)),
	                 CT_ERR_DECODE);
	assert_string_equal(err, "results: unknown key");
	free(text);
}

struct enum_api {
	const char *(*name)(int value);
	int (*from_name)(const char *name, int *ret_value);
	const char *names; /* every name, space-separated, in value order from 1 */
	const ProtobufCEnumDescriptor *desc;
};

/* Every value the proto defines has the short name its proto name implies
 * ("UNIT_KIND_MATERIAL_LOT" -> "material_lot"), so the tables can't drift from the proto. */
static void assert_names_follow_proto(const struct enum_api *api)
{
	const char *unspecified = api->desc->values[0].name, *name;
	size_t prefix = strlen(unspecified) - strlen("UNSPECIFIED"), i, k;
	char expected[64];

	assert_string_equal(unspecified + prefix, "UNSPECIFIED");
	for (i = 1; i < api->desc->n_values; i++) {
		name = api->desc->values[i].name;
		for (k = 0; name[prefix + k] != '\0' && k + 1 < sizeof(expected); k++) {
			char c = name[prefix + k];

			expected[k] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
		}
		expected[k] = '\0';
		assert_non_null(api->name(api->desc->values[i].value));
		assert_string_equal(api->name(api->desc->values[i].value), expected);
	}
}

static void test_enum_names(void **state)
{
	static const struct enum_api apis[] = {
	        {ct_unit_kind_name, ct_unit_kind_from_name,
	         "material_lot batch electrode cell module pack",
	         &cellthread__v1__unit_kind__descriptor},
	        {ct_station_type_name, ct_station_type_from_name,
	         "mixing coating calendering slitting vacuum_drying winding stacking tab_welding "
	         "insulation_test electrolyte_filling sealing formation aging eol_test vision "
	         "module_assembly pack_assembly",
	         &cellthread__v1__station_type__descriptor},
	        {ct_result_code_name, ct_result_code_from_name, "ok nok aborted",
	         &cellthread__v1__result_code__descriptor},
	        {ct_severity_name, ct_severity_from_name, "info low medium high critical",
	         &cellthread__v1__severity__descriptor},
	        {ct_station_state_name, ct_station_state_from_name,
	         "producing idle starved blocked planned_downtime unplanned_downtime unknown_stop",
	         &cellthread__v1__station_state_kind__descriptor},
	        {ct_command_ack_status_name, ct_command_ack_status_from_name,
	         "accepted rejected expired", &cellthread__v1__command_ack_status__descriptor},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(apis) / sizeof(apis[0]); i++) {
		char names[512], *word, *save = NULL;
		int value = 0, got = -1;

		snprintf(names, sizeof(names), "%s", apis[i].names);
		for (word = strtok_r(names, " ", &save); word != NULL;
		     word = strtok_r(NULL, " ", &save)) {
			value++;
			assert_non_null(apis[i].name(value));
			assert_string_equal(apis[i].name(value), word);
			assert_int_equal(apis[i].from_name(word, &got), CT_OK);
			assert_int_equal(got, value);
		}
		assert_null(apis[i].name(0));
		assert_null(apis[i].name(value + 1));
		assert_null(apis[i].name(-1));
		got = -7;
		assert_int_equal(apis[i].from_name("unspecified", &got), CT_ERR_INVALID);
		assert_int_equal(apis[i].from_name(NULL, &got), CT_ERR_INVALID);
		assert_int_equal(apis[i].from_name("", &got), CT_ERR_INVALID);
		assert_int_equal(got, -7);
		assert_names_follow_proto(&apis[i]);
		assert_int_equal(apis[i].desc->n_values, (size_t)value + 1);
	}
	/* The proto's values, not just the tables' order. */
	assert_string_equal(
	        ct_station_type_name(CELLTHREAD__V1__STATION_TYPE__STATION_TYPE_EOL_TEST),
	        "eol_test");
	assert_string_equal(ct_unit_kind_name(CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_MODULE),
	                    "module");
	assert_string_equal(ct_result_code_name(CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_NOK),
	                    "nok");
	assert_string_equal(ct_severity_name(CELLTHREAD__V1__SEVERITY__SEVERITY_HIGH), "high");
	assert_string_equal(
	        ct_station_state_name(
	                CELLTHREAD__V1__STATION_STATE_KIND__STATION_STATE_PLANNED_DOWNTIME),
	        "planned_downtime");
	assert_string_equal(ct_command_ack_status_name(
	                            CELLTHREAD__V1__COMMAND_ACK_STATUS__COMMAND_ACK_STATUS_EXPIRED),
	                    "expired");
}

#ifdef INGEST_JSON_MD
/* Reads the whole file into a NUL-terminated heap buffer. */
static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long size;

	if (f == NULL)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	assert_true(size > 0);
	rewind(f);
	buf = malloc((size_t)size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
	buf[size] = '\0';
	fclose(f);
	return buf;
}

/* Decodes and validates one example; now is the header's produced_at_us. */
static void check_example(const char *kind, const char *json, size_t len, size_t n)
{
	struct ingest_limits limits;
	char err[256] = "";
	int reason = 0, rc = CT_ERR_INVALID;

	ingest_limits_init(&limits);
	if (strcmp(kind, "result") == 0) {
		Cellthread__V1__StationResultBatch *b = NULL;

		if (ct_json_result_batch(json, len, &b, err, sizeof(err)) != CT_OK)
			fail_msg("JSON.md example %zu: %s", n, err);
		rc = ingest_check_result_batch(b, NULL, b->results[0]->header->produced_at_us,
		                               &limits, &reason, err, sizeof(err));
		free_msg(b);
	} else if (strcmp(kind, "telemetry") == 0) {
		Cellthread__V1__Telemetry *t = NULL;

		if (ct_json_telemetry(json, len, &t, err, sizeof(err)) != CT_OK)
			fail_msg("JSON.md example %zu: %s", n, err);
		rc = ingest_check_telemetry(t, NULL, t->header->produced_at_us, &limits, &reason,
		                            err, sizeof(err));
		free_msg(t);
	} else if (strcmp(kind, "genealogy") == 0) {
		Cellthread__V1__Genealogy *g = NULL;

		if (ct_json_genealogy(json, len, &g, err, sizeof(err)) != CT_OK)
			fail_msg("JSON.md example %zu: %s", n, err);
		rc = ingest_check_genealogy(g, NULL, g->header->produced_at_us, &limits, &reason,
		                            err, sizeof(err));
		free_msg(g);
	} else if (strcmp(kind, "state") == 0) {
		Cellthread__V1__StationState *s = NULL;

		if (ct_json_state(json, len, &s, err, sizeof(err)) != CT_OK)
			fail_msg("JSON.md example %zu: %s", n, err);
		rc = ingest_check_state(s, NULL, s->header->produced_at_us, &limits, &reason, err,
		                        sizeof(err));
		free_msg(s);
	} else if (strcmp(kind, "ack") == 0) {
		Cellthread__V1__CommandAck *a = NULL;

		if (ct_json_ack(json, len, &a, err, sizeof(err)) != CT_OK)
			fail_msg("JSON.md example %zu: %s", n, err);
		rc = ingest_check_ack(a, NULL, a->header->produced_at_us, &limits, &reason, err,
		                      sizeof(err));
		free_msg(a);
	} else {
		fail_msg("JSON.md example %zu: unknown kind %s", n, kind);
	}
	if (rc != CT_OK)
		fail_msg("JSON.md example %zu (%s) refused: %s", n, kind, err);
}

/* Every "<!-- example: KIND -->" marker is followed by a ```json block that must decode and
 * validate as KIND. */
static void test_json_md_examples(void **state)
{
	static const char marker[] = "<!-- example: ", fence[] = "```json\n", end[] = "\n```";
	char *doc = read_file(INGEST_JSON_MD), *p = doc, *json, *stop, kind[32];
	size_t n = 0;

	(void)state;
	while ((p = strstr(p, marker)) != NULL) {
		p += strlen(marker);
		assert_int_equal(sscanf(p, "%31[a-z]", kind), 1);
		json = strstr(p, fence);
		assert_non_null(json);
		json += strlen(fence);
		stop = strstr(json, end);
		assert_non_null(stop);
		check_example(kind, json, (size_t)(stop - json), ++n);
		p = stop;
	}
	/* 2 results, telemetry, 2 genealogies, 2 states, 1 ack: a lost marker fails. */
	assert_true(n >= 8);
	free(doc);
}
#else
static void test_json_md_examples(void **state)
{
	(void)state;
	skip();
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_round_trip_rich_result),
	        cmocka_unit_test(test_encode_shape),
	        cmocka_unit_test(test_encode_short_doubles),
	        cmocka_unit_test(test_encode_refuses_what_json_cannot_carry),
	        cmocka_unit_test(test_round_trip_telemetry),
	        cmocka_unit_test(test_round_trip_genealogy),
	        cmocka_unit_test(test_round_trip_state),
	        cmocka_unit_test(test_round_trip_ack),
	        cmocka_unit_test(test_encode_state_and_ack_shape),
	        cmocka_unit_test(test_state_and_ack_errors),
	        cmocka_unit_test(test_state_and_ack_rules_apply),
	        cmocka_unit_test(test_time_forms),
	        cmocka_unit_test(test_header_forms),
	        cmocka_unit_test(test_values),
	        cmocka_unit_test(test_length_bounded),
	        cmocka_unit_test(test_decode_cases),
	        cmocka_unit_test(test_telemetry_and_genealogy_errors),
	        cmocka_unit_test(test_enum_names),
	        cmocka_unit_test(test_json_md_examples),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
