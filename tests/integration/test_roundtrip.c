/* test_roundtrip: one station result with every field set goes gateway -> ingest ->
 * traveler, and every stored column equals what was sent.
 *
 * The values are chosen to break lossy paths: doubles that need all 17 significant digits,
 * the smallest subnormal, the largest finite double, negative zero in a curve (compared bit
 * for bit, as PostgreSQL's shortest-exact float8 output parsed back by strtod; a singular
 * -0.0 cannot be sent at all, because protobuf-c, like proto3, leaves a zero-valued scalar
 * off the wire and it decodes as +0.0), odd microseconds in
 * every timestamp (compared as integers via extract(epoch), exact numeric in PostgreSQL 14+),
 * a setpoint of 0.0 beside an absent one (NULL), note text with SQL, tab, newline, backslash,
 * a literal "\N" and non-ASCII UTF-8 (everything COPY's text format must escape), and an
 * empty curve. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_time.h"
#include "harness.h"

#define SITE       "RT"
#define LINE       "L1"
#define STATION    "RT-EOL-01"
#define TOPIC      "ct/v1/edge/" SITE "/" LINE "/" STATION "/result/pb"
#define TOPIC_JSON "ct/v1/edge/" SITE "/" LINE "/" STATION "/result/json"

#define N_MEAS  6
#define N_PARAM 3
#define N_MAT   2
#define N_CHILD 2
#define N_ENV   2
#define N_NOTE  2
#define N_EXC   2
#define N_CURVE 2

static const char note_text[] = "'); DROP TABLE unit;-- tab:\there\nsecond line\r\n"
                                "backslash:\\ literal:\\N quote:\" apostrophe:' "
                                "UTF-8: \xc3\x9c"
                                "n"
                                "\xc3\xaf"
                                "c"
                                "\xc3\xb8"
                                "d"
                                "\xc3\xa9 \xe2\x9c\x93 \xe9\x9b\xbb\xe6\xb1\xa0 "
                                "\xf0\x9f\x94\x8b";

/* Everything the message points to, so the test can compare against it. */
struct rich {
	Cellthread__V1__StationResultBatch batch;
	Cellthread__V1__StationResult result, *results[1];
	Cellthread__V1__Header header;
	Cellthread__V1__Measurement meas[N_MEAS], *meas_p[N_MEAS];
	Cellthread__V1__Parameter param[N_PARAM], *param_p[N_PARAM];
	Cellthread__V1__MaterialUse mat[N_MAT], *mat_p[N_MAT];
	Cellthread__V1__ChildUnit child[N_CHILD], *child_p[N_CHILD];
	Cellthread__V1__EnvironmentReading env[N_ENV], *env_p[N_ENV];
	Cellthread__V1__OperatorNote note[N_NOTE], *note_p[N_NOTE];
	Cellthread__V1__ProcessException exc[N_EXC], *exc_p[N_EXC];
	Cellthread__V1__Curve curve[N_CURVE], *curve_p[N_CURVE];
	double c0x[5], c0y[5];
};

/* Builds the rich result. Times are relative to now (ingest refuses old or future times)
 * with odd microseconds. */
static void rich_init(struct rich *m, const char *event_id, const char *unit_id)
{
	int64_t now = ct_now_us();
	int64_t started = now - 10000000 + 7; /* ...007 us */
	int64_t ended = started + 2345679;    /* odd microseconds */
	static const char *const mnames[N_MEAS] = {"capacity", "internal_resistance", "tiny",
	                                           "huge",     "negative_normal_min", "pi"};
	static const char *const munits[N_MEAS] = {"Ah", "mOhm", "V", "V", "V", "1"};
	/* "huge" is the largest double ingest takes without a plant registry (+-1e9: anything
	 * beyond is IMPLAUSIBLE), with all 17 digits significant. */
	const double mvals[N_MEAS] = {4.987654321012345,        0.1,
	                              4.9406564584124654e-324,  999999999.99999988,
	                              -2.2250738585072014e-308, 3.141592653589793};

	memset(m, 0, sizeof(*m));
	cellthread__v1__station_result_batch__init(&m->batch);
	cellthread__v1__station_result__init(&m->result);
	cellthread__v1__header__init(&m->header);
	m->header.event_id = (char *)event_id;
	m->header.producer = (char *)"rt-gateway-7";
	m->header.produced_at_us = ended + 1001;
	m->header.schema_version = 1;

	m->result.header = &m->header;
	m->result.unit_id = (char *)unit_id;
	m->result.unit_kind = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_CELL;
	m->result.site = (char *)SITE;
	m->result.line = (char *)LINE;
	m->result.station = (char *)STATION;
	m->result.station_type = CELLTHREAD__V1__STATION_TYPE__STATION_TYPE_EOL_TEST;
	m->result.recipe = (char *)"NMC811-21700-v3";
	m->result.recipe_version = 2147483647u; /* the largest the integer column holds */
	m->result.operator_id = (char *)"op-4711";
	m->result.started_at_us = started;
	m->result.ended_at_us = ended;
	m->result.result = CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_NOK;

	for (int i = 0; i < N_MEAS; i++) {
		cellthread__v1__measurement__init(&m->meas[i]);
		m->meas[i].characteristic = (char *)mnames[i];
		m->meas[i].value = mvals[i];
		m->meas[i].unit = (char *)munits[i];
		m->meas[i].measured_at_us = started + 1000 * (i + 1) + 3;
		m->meas_p[i] = &m->meas[i];
	}
	/* The last one leaves its time to the visit's end (ingest's documented rule). */
	m->meas[N_MEAS - 1].measured_at_us = 0;

	for (int i = 0; i < N_PARAM; i++) {
		cellthread__v1__parameter__init(&m->param[i]);
		m->param_p[i] = &m->param[i];
	}
	m->param[0].name = (char *)"slot_die_gap";
	m->param[0].actual = 152.25000000000003;
	m->param[0].setpoint = 150.0;
	m->param[0].has_setpoint = true;
	m->param[0].unit = (char *)"um";
	m->param[1].name = (char *)"line_speed";
	m->param[1].actual = 12.5;
	m->param[1].has_setpoint = false; /* no setpoint: NULL, not 0 */
	m->param[1].unit = (char *)"m/min";
	m->param[2].name = (char *)"offset_trim";
	m->param[2].actual = -1e-12;
	m->param[2].setpoint = 0.0; /* a real setpoint of zero: 0, not NULL */
	m->param[2].has_setpoint = true;
	m->param[2].unit = (char *)"mm";

	for (int i = 0; i < N_MAT; i++) {
		cellthread__v1__material_use__init(&m->mat[i]);
		m->mat_p[i] = &m->mat[i];
	}
	m->mat[0].lot_id = (char *)"LOT-NMC811-2026:001";
	m->mat[0].material = (char *)"NMC811";
	m->mat[0].quantity = 0.012300000000000001;
	m->mat[0].unit = (char *)"kg";
	m->mat[1].lot_id = (char *)"LOT-ELY.77";
	m->mat[1].material = (char *)"electrolyte_LiPF6";
	m->mat[1].quantity = 4.5;
	m->mat[1].unit = (char *)"ml";

	for (int i = 0; i < N_CHILD; i++) {
		cellthread__v1__child_unit__init(&m->child[i]);
		m->child_p[i] = &m->child[i];
	}
	m->child[0].unit_id = (char *)"JR-RT-000001";
	m->child[0].kind = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_ELECTRODE;
	m->child[0].quantity = 1.0;
	m->child[0].unit = (char *)"pcs";
	m->child[0].position = (char *)"1";
	m->child[1].unit_id = (char *)"COIL-RT-A7";
	m->child[1].kind = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_ELECTRODE;
	m->child[1].quantity = 0.6499999999999999;
	m->child[1].unit = (char *)"m";
	m->child[1].position = (char *)"coil meter 1520.5";

	for (int i = 0; i < N_ENV; i++) {
		cellthread__v1__environment_reading__init(&m->env[i]);
		m->env_p[i] = &m->env[i];
		m->env[i].sensor = (char *)"DRYROOM-1.dp";
		m->env[i].measured_at_us = started - 500001 + i;
	}
	m->env[0].quantity = (char *)"dew_point";
	m->env[0].value = -45.25;
	m->env[0].unit = (char *)"C";
	m->env[1].quantity = (char *)"relative_humidity";
	m->env[1].value = 0.7999999999999999;
	m->env[1].unit = (char *)"%";

	for (int i = 0; i < N_NOTE; i++) {
		cellthread__v1__operator_note__init(&m->note[i]);
		m->note_p[i] = &m->note[i];
	}
	m->note[0].author = (char *)"op-4711";
	m->note[0].text = (char *)note_text;
	m->note[0].at_us = started + 999999;
	m->note[1].author = (char *)"op-0815";
	m->note[1].text = (char *)"second note";
	m->note[1].at_us = started + 1000001;

	for (int i = 0; i < N_EXC; i++) {
		cellthread__v1__process_exception__init(&m->exc[i]);
		m->exc_p[i] = &m->exc[i];
	}
	m->exc[0].code = (char *)"NOZZLE_DRIP";
	m->exc[0].severity = CELLTHREAD__V1__SEVERITY__SEVERITY_HIGH;
	m->exc[0].text = (char *)"drip at nozzle 3; operator wiped it";
	m->exc[0].at_us = started + 12345;
	m->exc[1].code = (char *)"ESTOP";
	m->exc[1].severity = CELLTHREAD__V1__SEVERITY__SEVERITY_CRITICAL;
	m->exc[1].text = (char *)"e-stop pressed\tby op-0815";
	m->exc[1].at_us = started + 54321;

	m->c0x[0] = 0.0;
	m->c0x[1] = 0.5;
	m->c0x[2] = 1e-9;
	m->c0x[3] = 3600.125;
	m->c0x[4] = 7200.000000000001;
	m->c0y[0] = 3.0;
	m->c0y[1] = 3.6500000000000004;
	m->c0y[2] = -0.0;
	m->c0y[3] = 4.2;
	m->c0y[4] = 4.1999999999999993;
	for (int i = 0; i < N_CURVE; i++) {
		cellthread__v1__curve__init(&m->curve[i]);
		m->curve_p[i] = &m->curve[i];
	}
	m->curve[0].name = (char *)"formation_voltage";
	m->curve[0].x_unit = (char *)"s";
	m->curve[0].y_unit = (char *)"V";
	m->curve[0].n_x = 5;
	m->curve[0].x = m->c0x;
	m->curve[0].n_y = 5;
	m->curve[0].y = m->c0y;
	m->curve[1].name = (char *)"weld_power";
	m->curve[1].x_unit = (char *)"ms";
	m->curve[1].y_unit = (char *)"W";
	/* An empty curve (the station recorded none) is valid and stored with empty arrays. */

	m->result.n_measurements = N_MEAS;
	m->result.measurements = m->meas_p;
	m->result.n_parameters = N_PARAM;
	m->result.parameters = m->param_p;
	m->result.n_materials = N_MAT;
	m->result.materials = m->mat_p;
	m->result.n_children = N_CHILD;
	m->result.children = m->child_p;
	m->result.n_environment = N_ENV;
	m->result.environment = m->env_p;
	m->result.n_notes = N_NOTE;
	m->result.notes = m->note_p;
	m->result.n_exceptions = N_EXC;
	m->result.exceptions = m->exc_p;
	m->result.n_curves = N_CURVE;
	m->result.curves = m->curve_p;
	m->results[0] = &m->result;
	m->batch.n_results = 1;
	m->batch.results = m->results;
}

/* ---- Comparison helpers ---- */

static PGresult *query(struct harness *h, const char *sql, const char *event_id, int rows)
{
	const char *params[] = {event_id};
	PGresult *res = NULL;

	assert_int_equal(harness_sql(h, sql, 1, params, &res), CT_OK);
	if (PQntuples(res) != rows) {
		int got = PQntuples(res);
		PQclear(res);
		fail_msg("expected %d rows, got %d: %s", rows, got, sql);
	}
	return res;
}

static const char *col(PGresult *res, int row, const char *name)
{
	int c = PQfnumber(res, name);
	if (c < 0)
		fail_msg("no column %s", name);
	if (PQgetisnull(res, row, c))
		return NULL;
	return PQgetvalue(res, row, c);
}

static void expect_text(PGresult *res, int row, const char *name, const char *want)
{
	const char *got = col(res, row, name);
	if (got == NULL)
		fail_msg("row %d %s is NULL, sent \"%s\"", row, name, want);
	if (strcmp(got, want) != 0)
		fail_msg("row %d %s: stored \"%s\", sent \"%s\"", row, name, got, want);
}

static void expect_int(PGresult *res, int row, const char *name, long long want)
{
	const char *got = col(res, row, name);
	if (got == NULL)
		fail_msg("row %d %s is NULL, sent %lld", row, name, want);
	if (strtoll(got, NULL, 10) != want)
		fail_msg("row %d %s: stored %s, sent %lld", row, name, got, want);
}

/* Bit-exact comparison: 0.1 must come back as the same double, -0.0 as -0.0. */
static void expect_double_text(const char *got, double want, const char *what)
{
	double v;
	char *end = NULL;

	if (got == NULL)
		fail_msg("%s is NULL, sent %.17g", what, want);
	v = strtod(got, &end);
	if (end == got || *end != '\0')
		fail_msg("%s: \"%s\" is not a number", what, got);
	if (memcmp(&v, &want, sizeof(v)) != 0)
		fail_msg("%s: stored %s (%.17g), sent %.17g", what, got, v, want);
}

static void expect_double(PGresult *res, int row, const char *name, double want)
{
	char what[96];
	snprintf(what, sizeof(what), "row %d %s", row, name);
	expect_double_text(col(res, row, name), want, what);
}

/* A float8[] in PostgreSQL's text form "{a,b,c}" against n doubles. */
static void expect_array(PGresult *res, int row, const char *name, const double *want, size_t n)
{
	const char *text = col(res, row, name);
	char *copy, *p, *tok, *save = NULL;
	size_t i = 0;

	if (text == NULL) {
		fail_msg("row %d %s is NULL", row, name);
		return; /* not reached (fail_msg ends the test); tells the compiler so */
	}
	assert_true(text[0] == '{' && text[strlen(text) - 1] == '}');
	copy = strdup(text + 1);
	assert_non_null(copy);
	copy[strlen(copy) - 1] = '\0';
	for (p = copy; (tok = strtok_r(p, ",", &save)) != NULL; p = NULL) {
		char what[96];
		if (i >= n) {
			free(copy);
			fail_msg("row %d %s has more than %zu values: %s", row, name, n, text);
		}
		snprintf(what, sizeof(what), "row %d %s[%zu]", row, name, i);
		expect_double_text(tok, want[i], what);
		i++;
	}
	free(copy);
	if (i != n)
		fail_msg("row %d %s has %zu values, sent %zu: %s", row, name, i, n, text);
}

/* SQL expression of a timestamptz column as integer microseconds since the epoch. */
#define US(c) "(extract(epoch FROM " c ") * 1000000)::bigint AS " c

static void check_stored(struct harness *h, const struct rich *m)
{
	const Cellthread__V1__StationResult *r = &m->result;
	const char *id = m->header.event_id;
	PGresult *res;

	res = query(h,
	            "SELECT kind, producer, " US("produced_at") " FROM event WHERE event_id = $1",
	            id, 1);
	expect_text(res, 0, "kind", "result");
	expect_text(res, 0, "producer", m->header.producer);
	expect_int(res, 0, "produced_at", m->header.produced_at_us);
	PQclear(res);

	res = query(h,
	            "SELECT unit_id, unit_kind, site, line, station, station_type, recipe, "
	            "recipe_version, operator_id, " US("started_at") ", " US(
	                    "ended_at") ", result "
	                                "FROM station_visit WHERE event_id = $1",
	            id, 1);
	expect_text(res, 0, "unit_id", r->unit_id);
	expect_int(res, 0, "unit_kind", r->unit_kind);
	expect_text(res, 0, "site", r->site);
	expect_text(res, 0, "line", r->line);
	expect_text(res, 0, "station", r->station);
	expect_int(res, 0, "station_type", r->station_type);
	expect_text(res, 0, "recipe", r->recipe);
	/* The column is a signed integer; the uint32 must come back as the same 32 bits. */
	{
		const char *v = col(res, 0, "recipe_version");
		assert_non_null(v);
		if ((uint32_t)strtoll(v, NULL, 10) != r->recipe_version)
			fail_msg("recipe_version: stored %s, sent %" PRIu32, v, r->recipe_version);
	}
	expect_text(res, 0, "operator_id", r->operator_id);
	expect_int(res, 0, "started_at", r->started_at_us);
	expect_int(res, 0, "ended_at", r->ended_at_us);
	expect_int(res, 0, "result", r->result);
	PQclear(res);

	res = query(h,
	            "SELECT unit_id, site, line, station, characteristic, value::text AS value, "
	            "uom, " US("measured_at") " FROM measurement WHERE event_id = $1 ORDER BY seq",
	            id, N_MEAS);
	for (int i = 0; i < N_MEAS; i++) {
		const Cellthread__V1__Measurement *x = r->measurements[i];
		expect_text(res, i, "unit_id", r->unit_id);
		expect_text(res, i, "site", r->site);
		expect_text(res, i, "line", r->line);
		expect_text(res, i, "station", r->station);
		expect_text(res, i, "characteristic", x->characteristic);
		expect_double(res, i, "value", x->value);
		expect_text(res, i, "uom", x->unit);
		expect_int(res, i, "measured_at",
		           x->measured_at_us != 0 ? x->measured_at_us : r->ended_at_us);
	}
	PQclear(res);

	res = query(h,
	            "SELECT unit_id, name, actual::text AS actual, setpoint::text AS setpoint, uom "
	            "FROM process_parameter WHERE event_id = $1 ORDER BY seq",
	            id, N_PARAM);
	for (int i = 0; i < N_PARAM; i++) {
		const Cellthread__V1__Parameter *x = r->parameters[i];
		expect_text(res, i, "unit_id", r->unit_id);
		expect_text(res, i, "name", x->name);
		expect_double(res, i, "actual", x->actual);
		if (x->has_setpoint)
			expect_double(res, i, "setpoint", x->setpoint);
		else if (col(res, i, "setpoint") != NULL)
			fail_msg("parameter %s has no setpoint but %s was stored", x->name,
			         col(res, i, "setpoint"));
		expect_text(res, i, "uom", x->unit);
	}
	PQclear(res);

	/* Genealogy: materials then children, all with the visit's end as assembly time. */
	res = query(h,
	            "SELECT parent_id, child_id, child_kind, material, quantity::text AS quantity, "
	            "uom, position, source, station, " US(
	                    "assembled_at") " FROM genealogy "
	                                    "WHERE event_id = $1 ORDER BY seq",
	            id, N_MAT + N_CHILD);
	for (int i = 0; i < N_MAT + N_CHILD; i++) {
		expect_text(res, i, "parent_id", r->unit_id);
		expect_text(res, i, "station", r->station);
		expect_int(res, i, "assembled_at", r->ended_at_us);
		if (i < N_MAT) {
			const Cellthread__V1__MaterialUse *x = r->materials[i];
			expect_text(res, i, "child_id", x->lot_id);
			expect_int(res, i, "child_kind",
			           CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_MATERIAL_LOT);
			expect_text(res, i, "material", x->material);
			expect_double(res, i, "quantity", x->quantity);
			expect_text(res, i, "uom", x->unit);
			expect_text(res, i, "position", "");
			expect_text(res, i, "source", "material");
		} else {
			const Cellthread__V1__ChildUnit *x = r->children[i - N_MAT];
			const char *material = col(res, i, "material");

			expect_text(res, i, "child_id", x->unit_id);
			expect_int(res, i, "child_kind", x->kind);
			if (material != NULL && material[0] != '\0')
				fail_msg("child %s has material \"%s\"", x->unit_id, material);
			expect_double(res, i, "quantity", x->quantity);
			expect_text(res, i, "uom", x->unit);
			expect_text(res, i, "position", x->position);
			expect_text(res, i, "source", "assembly");
		}
	}
	PQclear(res);

	res = query(
	        h,
	        "SELECT unit_id, quantity, value::text AS value, uom, sensor, " US(
	                "measured_at") " FROM environment_reading WHERE event_id = $1 ORDER BY seq",
	        id, N_ENV);
	for (int i = 0; i < N_ENV; i++) {
		const Cellthread__V1__EnvironmentReading *x = r->environment[i];
		expect_text(res, i, "unit_id", r->unit_id);
		expect_text(res, i, "quantity", x->quantity);
		expect_double(res, i, "value", x->value);
		expect_text(res, i, "uom", x->unit);
		expect_text(res, i, "sensor", x->sensor);
		expect_int(res, i, "measured_at", x->measured_at_us);
	}
	PQclear(res);

	res = query(h,
	            "SELECT unit_id, kind, code, severity, author, body, " US(
	                    "at") " FROM visit_note WHERE event_id = $1 ORDER BY kind DESC, seq",
	            id, N_NOTE + N_EXC);
	for (int i = 0; i < N_NOTE; i++) {
		const Cellthread__V1__OperatorNote *x = r->notes[i];
		expect_text(res, i, "unit_id", r->unit_id);
		expect_text(res, i, "kind", "note");
		expect_text(res, i, "author", x->author);
		expect_text(res, i, "body", x->text);
		expect_int(res, i, "at", x->at_us);
		expect_text(res, i, "code", "");
		expect_int(res, i, "severity", 0);
	}
	for (int i = 0; i < N_EXC; i++) {
		const Cellthread__V1__ProcessException *x = r->exceptions[i];
		int row = N_NOTE + i;
		expect_text(res, row, "unit_id", r->unit_id);
		expect_text(res, row, "kind", "exception");
		expect_text(res, row, "code", x->code);
		expect_int(res, row, "severity", x->severity);
		expect_text(res, row, "body", x->text);
		expect_int(res, row, "at", x->at_us);
	}
	PQclear(res);

	res = query(h,
	            "SELECT unit_id, name, x_unit, y_unit, x::text AS x, y::text AS y FROM "
	            "visit_curve WHERE event_id = $1 ORDER BY seq",
	            id, N_CURVE);
	for (int i = 0; i < N_CURVE; i++) {
		const Cellthread__V1__Curve *x = r->curves[i];
		expect_text(res, i, "unit_id", r->unit_id);
		expect_text(res, i, "name", x->name);
		expect_text(res, i, "x_unit", x->x_unit);
		expect_text(res, i, "y_unit", x->y_unit);
		expect_array(res, i, "x", x->x, x->n_x);
		expect_array(res, i, "y", x->y, x->n_y);
	}
	PQclear(res);

	/* The unit, its lots and its children are known units of the right kind; the visited
	 * unit carries its location. */
	{
		const char *params[] = {r->unit_id};
		PGresult *u = NULL;
		assert_int_equal(harness_sql(h,
		                             "SELECT kind, site, line FROM unit WHERE unit_id = $1",
		                             1, params, &u),
		                 CT_OK);
		assert_int_equal(PQntuples(u), 1);
		expect_int(u, 0, "kind", r->unit_kind);
		expect_text(u, 0, "site", r->site);
		expect_text(u, 0, "line", r->line);
		PQclear(u);
		for (int i = 0; i < N_MAT + N_CHILD; i++) {
			const char *child = i < N_MAT ? r->materials[i]->lot_id
			                              : r->children[i - N_MAT]->unit_id;
			long long kind = i < N_MAT
			                         ? CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_MATERIAL_LOT
			                         : r->children[i - N_MAT]->kind;
			const char *cp[] = {child};
			long long got = -1;
			assert_int_equal(
			        harness_sql_long(h, "SELECT kind FROM unit WHERE unit_id = $1", 1,
			                         cp, &got),
			        CT_OK);
			if (got != kind)
				fail_msg("unit %s: kind %lld, expected %lld", child, got, kind);
		}
	}
}

/* ---- The same result in the JSON form (services/ingest/JSON.md), written here from the
 * document rather than with ingest's encoder, so encoder and decoder cannot agree on a
 * mistake. The visit's times go as RFC 3339 strings with microseconds, item times as
 * integers under their *_us names. */

static json_t *real(double v)
{
	return json_real(v);
}

static json_t *rfc3339(int64_t us)
{
	char buf[40];
	return json_string(ct_time_format_us(us, buf, sizeof(buf)));
}

static char *rich_to_json(const struct rich *m)
{
	static const char *const severities[] = {"", "info", "low", "medium", "high", "critical"};
	const Cellthread__V1__StationResult *r = &m->result;
	json_t *res = json_object(), *root, *a;
	char *text;

	json_object_set_new(res, "header",
	                    json_pack("{s:s, s:s, s:I, s:i}", "event_id", m->header.event_id,
	                              "producer", m->header.producer, "produced_at_us",
	                              (json_int_t)m->header.produced_at_us, "schema_version", 1));
	json_object_set_new(res, "unit_id", json_string(r->unit_id));
	json_object_set_new(res, "unit_kind", json_string("cell"));
	json_object_set_new(res, "site", json_string(r->site));
	json_object_set_new(res, "line", json_string(r->line));
	json_object_set_new(res, "station", json_string(r->station));
	json_object_set_new(res, "station_type", json_string("eol_test"));
	json_object_set_new(res, "recipe", json_string(r->recipe));
	json_object_set_new(res, "recipe_version", json_integer(r->recipe_version));
	json_object_set_new(res, "operator_id", json_string(r->operator_id));
	json_object_set_new(res, "started_at", rfc3339(r->started_at_us));
	json_object_set_new(res, "ended_at", rfc3339(r->ended_at_us));
	json_object_set_new(res, "result", json_string("nok"));

	a = json_array();
	for (size_t i = 0; i < r->n_measurements; i++) {
		const Cellthread__V1__Measurement *x = r->measurements[i];
		json_t *o = json_pack("{s:s, s:o, s:s}", "characteristic", x->characteristic,
		                      "value", real(x->value), "unit", x->unit);
		if (x->measured_at_us != 0)
			json_object_set_new(o, "measured_at_us", json_integer(x->measured_at_us));
		json_array_append_new(a, o);
	}
	json_object_set_new(res, "measurements", a);
	a = json_array();
	for (size_t i = 0; i < r->n_parameters; i++) {
		const Cellthread__V1__Parameter *x = r->parameters[i];
		json_t *o = json_pack("{s:s, s:o, s:s}", "name", x->name, "actual", real(x->actual),
		                      "unit", x->unit);
		if (x->has_setpoint)
			json_object_set_new(o, "setpoint", real(x->setpoint));
		json_array_append_new(a, o);
	}
	json_object_set_new(res, "parameters", a);
	a = json_array();
	for (size_t i = 0; i < r->n_materials; i++) {
		const Cellthread__V1__MaterialUse *x = r->materials[i];
		json_array_append_new(a, json_pack("{s:s, s:s, s:o, s:s}", "lot_id", x->lot_id,
		                                   "material", x->material, "quantity",
		                                   real(x->quantity), "unit", x->unit));
	}
	json_object_set_new(res, "materials", a);
	a = json_array();
	for (size_t i = 0; i < r->n_children; i++) {
		const Cellthread__V1__ChildUnit *x = r->children[i];
		json_array_append_new(a,
		                      json_pack("{s:s, s:s, s:o, s:s, s:s}", "unit_id", x->unit_id,
		                                "kind", "electrode", "quantity", real(x->quantity),
		                                "unit", x->unit, "position", x->position));
	}
	json_object_set_new(res, "children", a);
	a = json_array();
	for (size_t i = 0; i < r->n_environment; i++) {
		const Cellthread__V1__EnvironmentReading *x = r->environment[i];
		json_array_append_new(a, json_pack("{s:s, s:o, s:s, s:s, s:I}", "quantity",
		                                   x->quantity, "value", real(x->value), "unit",
		                                   x->unit, "sensor", x->sensor, "measured_at_us",
		                                   (json_int_t)x->measured_at_us));
	}
	json_object_set_new(res, "environment", a);
	a = json_array();
	for (size_t i = 0; i < r->n_notes; i++) {
		const Cellthread__V1__OperatorNote *x = r->notes[i];
		json_array_append_new(a, json_pack("{s:s, s:s, s:I}", "author", x->author, "text",
		                                   x->text, "at_us", (json_int_t)x->at_us));
	}
	json_object_set_new(res, "notes", a);
	a = json_array();
	for (size_t i = 0; i < r->n_exceptions; i++) {
		const Cellthread__V1__ProcessException *x = r->exceptions[i];
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I}", "code", x->code,
		                                   "severity", severities[x->severity], "text",
		                                   x->text, "at_us", (json_int_t)x->at_us));
	}
	json_object_set_new(res, "exceptions", a);
	a = json_array();
	for (size_t i = 0; i < r->n_curves; i++) {
		const Cellthread__V1__Curve *x = r->curves[i];
		json_t *xs = json_array(), *ys = json_array();
		for (size_t k = 0; k < x->n_x; k++)
			json_array_append_new(xs, real(x->x[k]));
		for (size_t k = 0; k < x->n_y; k++)
			json_array_append_new(ys, real(x->y[k]));
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:o, s:o}", "name", x->name,
		                                   "x_unit", x->x_unit, "y_unit", x->y_unit, "x",
		                                   xs, "y", ys));
	}
	json_object_set_new(res, "curves", a);

	root = json_pack("{s:[o]}", "results", res);
	/* 17 significant digits: every double survives the text form. */
	text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17));
	json_decref(root);
	return text;
}

static void test_rich_result_roundtrip(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL;
	struct rich m;
	uint8_t *buf = NULL;
	size_t len = 0;
	const char *ids[] = {"rt-event-0001"};
	long long n = -1;

	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler), CT_OK);
	rich_init(&m, ids[0], "CELL-RT-000001");
	assert_int_equal(ct_pb_pack(&m.batch.base, &buf, &len), CT_OK);
	assert_int_equal(harness_publish(h, "gateway", TOPIC, buf, len), CT_OK);
	free(buf);

	/* traveler writes an event's rows in the transaction that inserts its event row. A
	 * dead letter counts too, so a refusal ends the wait at once (and fails below). */
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT (SELECT count(*) FROM event WHERE "
	                                         "event_id = $1 AND kind = 'result') + "
	                                         "(SELECT count(*) FROM dead_letter)",
	                                         1, ids, 1, HARNESS_WAIT_MS),
	                 CT_OK);
	assert_int_equal(harness_sql_long(h, "SELECT count(*) FROM dead_letter", 0, NULL, &n),
	                 CT_OK);
	if (n != 0) {
		PGresult *res = NULL;
		assert_int_equal(harness_sql(h, "SELECT reason FROM dead_letter", 0, NULL, &res),
		                 CT_OK);
		fail_msg("the result was dead-lettered: %s", PQgetvalue(res, 0, 0));
	}
	check_stored(h, &m);
	/* The SQL in the note was data: the table it names is still there. */
	assert_int_equal(harness_sql_long(h, "SELECT count(*) FROM unit", 0, NULL, &n), CT_OK);
	assert_true(n >= 1 + N_MAT + N_CHILD);

	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
	harness_pass(h);
}

static void test_rich_result_json_roundtrip(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL;
	struct rich m;
	char *text;
	const char *ids[] = {"rt-event-json-0001"};
	long long dl_before = -1, n = -1;

	assert_int_equal(
	        harness_sql_long(h, "SELECT count(*) FROM dead_letter", 0, NULL, &dl_before),
	        CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, "ingest-json", NULL, &ingest),
	                 CT_OK);
	assert_int_equal(
	        harness_service_start(h, HARNESS_TRAVELER, "traveler-json", NULL, &traveler),
	        CT_OK);
	/* The same values as the protobuf test: ingest re-packs JSON input as protobuf for
	 * traveler, so the same limits (no singular -0.0) apply. */
	rich_init(&m, ids[0], "CELL-RT-000002");
	text = rich_to_json(&m);
	assert_non_null(text);
	assert_int_equal(harness_publish(h, "gateway", TOPIC_JSON, text, strlen(text)), CT_OK);
	free(text);

	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT (SELECT count(*) FROM event WHERE "
	                                         "event_id = $1 AND kind = 'result') + "
	                                         "(SELECT count(*) FROM dead_letter)",
	                                         1, ids, 1 + dl_before, HARNESS_WAIT_MS),
	                 CT_OK);
	assert_int_equal(harness_sql_long(h, "SELECT count(*) FROM dead_letter", 0, NULL, &n),
	                 CT_OK);
	if (n != dl_before) {
		PGresult *res = NULL;
		assert_int_equal(
		        harness_sql(h, "SELECT reason FROM dead_letter ORDER BY id DESC LIMIT 1", 0,
		                    NULL, &res),
		        CT_OK);
		fail_msg("the JSON result was dead-lettered: %s", PQgetvalue(res, 0, 0));
	}
	check_stored(h, &m);

	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("roundtrip", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_rich_result_roundtrip, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_rich_result_json_roundtrip, harness_test_setup,
	                                        harness_test_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
