/* Unit tests for spc-gate's pure logic: spec lookup and verdicts (gate_spec), the string map
 * (ct_map), lot gates and held sets (gate_lots), and live chart instances (gate_charts). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ct_error.h"
#include "gate_charts.h"
#include "gate_lots.h"
#include "ct_map.h"
#include "gate_spec.h"

#define VERDICT(x) CELLTHREAD__V1__VERDICT_CODE__VERDICT_CODE_##x
#define FILLING    CELLTHREAD__V1__STATION_TYPE__STATION_TYPE_ELECTROLYTE_FILLING
#define COATING    CELLTHREAD__V1__STATION_TYPE__STATION_TYPE_COATING

/* A station result with up to 4 measurements and 2 materials, on the stack. */
struct fixture {
	Cellthread__V1__StationResult r;
	Cellthread__V1__Header header;
	Cellthread__V1__Measurement m[4];
	Cellthread__V1__Measurement *mp[4];
	Cellthread__V1__MaterialUse mat[2];
	Cellthread__V1__MaterialUse *matp[2];
	char event_id[40];
};

static void fixture_init(struct fixture *f, const char *unit, int station_type, const char *station,
                         const char *recipe)
{
	memset(f, 0, sizeof(*f));
	cellthread__v1__station_result__init(&f->r);
	cellthread__v1__header__init(&f->header);
	snprintf(f->event_id, sizeof(f->event_id), "ev-%s", unit);
	f->header.event_id = f->event_id;
	f->r.header = &f->header;
	f->r.unit_id = (char *)unit;
	f->r.unit_kind = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_CELL;
	f->r.site = (char *)"S1";
	f->r.line = (char *)"L1";
	f->r.station = (char *)station;
	f->r.station_type = station_type;
	f->r.recipe = (char *)recipe;
	f->r.recipe_version = 5;
	f->r.result = CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_OK;
	f->r.measurements = f->mp;
	f->r.materials = f->matp;
}

static void add_measurement(struct fixture *f, const char *name, double value)
{
	Cellthread__V1__Measurement *m = &f->m[f->r.n_measurements];
	cellthread__v1__measurement__init(m);
	m->characteristic = (char *)name;
	m->value = value;
	f->mp[f->r.n_measurements++] = m;
}

static void add_material(struct fixture *f, const char *lot)
{
	Cellthread__V1__MaterialUse *m = &f->mat[f->r.n_materials];
	cellthread__v1__material_use__init(m);
	m->lot_id = (char *)lot;
	f->matp[f->r.n_materials++] = m;
}

static struct gate_spec spec(const char *station, int station_type, const char *recipe,
                             const char *characteristic, double lsl, double usl, int on_fail)
{
	struct gate_spec s;
	memset(&s, 0, sizeof(s));
	snprintf(s.site, sizeof(s.site), "*");
	snprintf(s.line, sizeof(s.line), "*");
	snprintf(s.station, sizeof(s.station), "%s", station);
	s.station_type = station_type;
	snprintf(s.recipe, sizeof(s.recipe), "%s", recipe);
	snprintf(s.characteristic, sizeof(s.characteristic), "%s", characteristic);
	s.has_lsl = !isnan(lsl);
	s.lsl = lsl;
	s.has_usl = !isnan(usl);
	s.usl = usl;
	s.on_fail = on_fail;
	return s;
}

static void specs_init(struct gate_spec_set *set, const struct gate_spec *rows, size_t n)
{
	struct gate_spec *copy = malloc(n * sizeof(*copy));
	assert_non_null(copy);
	memcpy(copy, rows, n * sizeof(*copy));
	gate_spec_set_init(set, copy, n);
}

/* The most specific spec wins: station over type over any; recipe over any. */
static void test_spec_specificity(void **state)
{
	const struct gate_spec rows[] = {
	        spec("*", 0, "*", "fill_mass", 4.0, 6.0, VERDICT(FAIL)),
	        spec("*", FILLING, "*", "fill_mass", 4.9, 5.1, VERDICT(FAIL)),
	        spec("L1-FILL-01", 0, "*", "fill_mass", 4.95, 5.05, VERDICT(REWORK)),
	        spec("*", FILLING, "FILL-6G", "fill_mass", 5.9, 6.1, VERDICT(SCRAP)),
	        spec("*", 0, "*", "other", 0.0, 1.0, VERDICT(FAIL)),
	};
	struct gate_spec_set set;
	struct fixture f;
	const struct gate_spec *s;

	(void)state;
	specs_init(&set, rows, 5);
	fixture_init(&f, "C1", FILLING, "L1-FILL-01", "FILL-5G");
	s = gate_spec_find(&set, &f.r, "fill_mass");
	assert_non_null(s);
	assert_float_equal(s->lsl, 4.95, 0);
	fixture_init(&f, "C1", FILLING, "L2-FILL-01", "FILL-5G");
	s = gate_spec_find(&set, &f.r, "fill_mass");
	assert_float_equal(s->lsl, 4.9, 0);
	fixture_init(&f, "C1", FILLING, "L2-FILL-01", "FILL-6G");
	s = gate_spec_find(&set, &f.r, "fill_mass");
	assert_float_equal(s->lsl, 5.9, 0);
	fixture_init(&f, "C1", COATING, "L2-COAT-01", "FILL-6G");
	s = gate_spec_find(&set, &f.r, "fill_mass");
	assert_float_equal(s->lsl, 4.0, 0);
	assert_null(gate_spec_find(&set, &f.r, "unknown"));
	gate_spec_set_cleanup(&set);
}

static void test_judge(void **state)
{
	struct gate_spec rows[] = {
	        spec("*", FILLING, "*", "fill_mass", 4.95, 5.05, VERDICT(FAIL)),
	        spec("*", FILLING, "*", "leak", NAN, 10.0, VERDICT(SCRAP)),
	        spec("*", FILLING, "*", "temperature", 20.0, 30.0, VERDICT(REWORK)),
	};
	struct gate_spec_set set;
	struct gate_judgement j;
	struct fixture f;

	(void)state;
	rows[2].required = true;
	specs_init(&set, rows, 3);

	fixture_init(&f, "C1", FILLING, "L1-FILL-01", "R");
	add_measurement(&f, "fill_mass", 5.00);
	add_measurement(&f, "leak", 3.0);
	add_measurement(&f, "temperature", 25.0);
	gate_judge(&set, &f.r, &j);
	assert_int_equal(j.verdict, VERDICT(PASS));
	assert_int_equal(j.n_failed, 0);
	assert_int_equal(j.n_judged, 3);

	/* On a limit is in spec; just beyond is not. */
	fixture_init(&f, "C2", FILLING, "L1-FILL-01", "R");
	add_measurement(&f, "fill_mass", 5.05);
	add_measurement(&f, "temperature", 25.0);
	gate_judge(&set, &f.r, &j);
	assert_int_equal(j.verdict, VERDICT(PASS));
	f.m[0].value = nextafter(5.05, 6.0);
	gate_judge(&set, &f.r, &j);
	assert_int_equal(j.verdict, VERDICT(FAIL));
	assert_string_equal(j.failed[0].characteristic, "fill_mass");
	assert_string_equal(j.failed[0].reason, "above USL");

	/* The worst verdict wins; a missing required characteristic fails. */
	fixture_init(&f, "C3", FILLING, "L1-FILL-01", "R");
	add_measurement(&f, "fill_mass", 4.0);
	add_measurement(&f, "leak", 11.0);
	gate_judge(&set, &f.r, &j);
	assert_int_equal(j.verdict, VERDICT(SCRAP));
	assert_int_equal(j.n_failed, 3);
	assert_string_equal(j.failed[0].reason, "below LSL");
	assert_string_equal(j.failed[2].characteristic, "temperature");
	assert_string_equal(j.failed[2].reason, "missing");

	/* A station NOK fails the unit even inside spec; a NaN never passes. */
	fixture_init(&f, "C4", FILLING, "L1-FILL-01", "R");
	add_measurement(&f, "temperature", 25.0);
	f.r.result = CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_NOK;
	gate_judge(&set, &f.r, &j);
	assert_int_equal(j.verdict, VERDICT(FAIL));
	assert_string_equal(j.failed[0].characteristic, "station_result");
	fixture_init(&f, "C5", FILLING, "L1-FILL-01", "R");
	add_measurement(&f, "temperature", NAN);
	gate_judge(&set, &f.r, &j);
	assert_int_equal(j.verdict, VERDICT(REWORK));
	gate_spec_set_cleanup(&set);
}

static void test_map(void **state)
{
	struct ct_map map;
	char key[32];
	size_t value = 0;

	(void)state;
	ct_map_init(&map);
	assert_false(ct_map_get(&map, "x", NULL));
	for (size_t i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "lot-%zu", i);
		assert_int_equal(ct_map_put(&map, key, i), CT_OK);
	}
	assert_int_equal(ct_map_count(&map), 5000);
	for (size_t i = 0; i < 5000; i += 2) {
		snprintf(key, sizeof(key), "lot-%zu", i);
		assert_true(ct_map_remove(&map, key));
		assert_false(ct_map_remove(&map, key));
	}
	/* Removals leave tombstones; inserts after them still find every key. */
	for (size_t i = 5000; i < 8000; i++) {
		snprintf(key, sizeof(key), "lot-%zu", i);
		assert_int_equal(ct_map_put(&map, key, i), CT_OK);
	}
	for (size_t i = 0; i < 8000; i++) {
		snprintf(key, sizeof(key), "lot-%zu", i);
		bool present = ct_map_get(&map, key, &value);
		assert_int_equal(present, i >= 5000 || i % 2 == 1);
		if (present)
			assert_int_equal(value, i);
	}
	assert_int_equal(ct_map_count(&map), 5500);
	ct_map_clear(&map);
	assert_int_equal(ct_map_count(&map), 0);
	assert_false(ct_map_get(&map, "lot-1", NULL));
	ct_map_cleanup(&map);
}

static struct gate_lot_rule rule_fail_rate(double rate, long min_units)
{
	struct gate_lot_rule r;
	memset(&r, 0, sizeof(r));
	snprintf(r.rule_id, sizeof(r.rule_id), "fill-rate");
	snprintf(r.station, sizeof(r.station), "*");
	r.station_type = FILLING;
	snprintf(r.characteristic, sizeof(r.characteristic), "fill_mass");
	r.fail_rate_mode = true;
	r.fail_rate = rate;
	r.min_units = min_units;
	r.scope = GATE_SCOPE_MATERIALS;
	r.hold_state = CELLTHREAD__V1__LOT_STATE__LOT_STATE_HELD;
	return r;
}

/* fail_rate: the lot is held on the unit that brings its rate to the limit, not before,
 * and only once; later units consuming it are flagged. */
static void test_lot_fail_rate(void **state)
{
	struct gate_lots lots;
	struct gate_lot_rule *rules = malloc(sizeof(*rules));
	struct gate_judgement pass = {.verdict = VERDICT(PASS)}, fail = {.verdict = VERDICT(FAIL)};
	struct gate_lot_outcome out;
	struct fixture f;
	char unit[16];

	(void)state;
	snprintf(fail.failed[0].characteristic, sizeof(fail.failed[0].characteristic), "fill_mass");
	fail.n_failed = 1;
	gate_lots_init(&lots);
	assert_non_null(rules);
	rules[0] = rule_fail_rate(0.10, 20);
	gate_lots_set_rules(&lots, rules, 1);

	/* 17 passes, then failures: 2/19 and 2/20 reach 10 % only at 20 units. */
	for (int i = 0; i < 20; i++) {
		snprintf(unit, sizeof(unit), "C%d", i);
		fixture_init(&f, unit, FILLING, "L1-FILL-01", "R");
		add_material(&f, "ELY-1");
		assert_int_equal(gate_lots_judge(&lots, &f.r, i >= 18 ? &fail : &pass, &out),
		                 CT_OK);
		if (i < 19) {
			assert_int_equal(out.n_holds, 0);
			assert_false(gate_lots_is_held(&lots, "S1", "ELY-1"));
		}
	}
	assert_int_equal(out.n_holds, 1);
	assert_string_equal(out.holds[0].lot_id, "ELY-1");
	assert_non_null(strstr(out.holds[0].reason, "2 of 20"));
	assert_true(gate_lots_is_held(&lots, "S1", "ELY-1"));
	assert_false(gate_lots_is_held(&lots, "S2", "ELY-1")); /* another site's lot */

	/* Held once; the next unit consuming it is flagged for inspection. */
	fixture_init(&f, "C99", FILLING, "L1-FILL-01", "R");
	add_material(&f, "ELY-1");
	add_material(&f, "OTHER");
	assert_int_equal(gate_lots_judge(&lots, &f.r, &fail, &out), CT_OK);
	assert_int_equal(out.n_holds, 0);
	assert_int_equal(out.n_held, 1);
	assert_string_equal(out.held[0], "ELY-1");
	assert_string_equal(out.held_via_lot, "ELY-1");
	assert_non_null(strstr(out.inspection_reason, "ELY-1"));

	/* Release clears the flag. */
	assert_int_equal(gate_lots_set_held(&lots, "S1", "ELY-1",
	                                    CELLTHREAD__V1__LOT_STATE__LOT_STATE_RELEASED),
	                 CT_OK);
	assert_int_equal(gate_lots_judge(&lots, &f.r, &pass, &out), CT_OK);
	assert_int_equal(out.n_held, 0);
	assert_string_equal(out.inspection_reason, "");
	gate_lots_cleanup(&lots);
}

/* any_fail with scope self holds the judged unit when it is a lot (a coil), and a lot made
 * from a held lot is held in turn. */
static void test_lot_self_and_descendants(void **state)
{
	struct gate_lots lots;
	struct gate_lot_rule *rules = malloc(sizeof(*rules));
	struct gate_judgement fail = {.verdict = VERDICT(FAIL)}, pass = {.verdict = VERDICT(PASS)};
	struct gate_lot_outcome out;
	struct fixture f;

	(void)state;
	gate_lots_init(&lots);
	assert_non_null(rules);
	memset(rules, 0, sizeof(*rules));
	snprintf(rules->rule_id, sizeof(rules->rule_id), "coat");
	snprintf(rules->station, sizeof(rules->station), "*");
	rules->scope = GATE_SCOPE_SELF;
	rules->hold_state = CELLTHREAD__V1__LOT_STATE__LOT_STATE_QUARANTINED;
	gate_lots_set_rules(&lots, rules, 1);

	fixture_init(&f, "COIL-1", COATING, "L1-COAT-01", "R");
	f.r.unit_kind = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_ELECTRODE;
	assert_int_equal(gate_lots_judge(&lots, &f.r, &pass, &out), CT_OK);
	assert_int_equal(out.n_holds, 0);
	assert_int_equal(gate_lots_judge(&lots, &f.r, &fail, &out), CT_OK);
	assert_int_equal(out.n_holds, 1);
	assert_string_equal(out.holds[0].lot_id, "COIL-1");
	assert_int_equal(out.holds[0].state, CELLTHREAD__V1__LOT_STATE__LOT_STATE_QUARANTINED);

	/* A cell (not a lot) failing is not held by a 'self' rule. */
	fixture_init(&f, "C1", COATING, "L1-COAT-01", "R");
	assert_int_equal(gate_lots_judge(&lots, &f.r, &fail, &out), CT_OK);
	assert_int_equal(out.n_holds, 0);

	/* A coil made from a held batch (material) is held too. */
	assert_int_equal(gate_lots_set_held(&lots, "S1", "BATCH-9",
	                                    CELLTHREAD__V1__LOT_STATE__LOT_STATE_HELD),
	                 CT_OK);
	fixture_init(&f, "COIL-2", COATING, "L1-COAT-01", "R");
	f.r.unit_kind = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_ELECTRODE;
	add_material(&f, "BATCH-9");
	assert_int_equal(gate_lots_judge(&lots, &f.r, &pass, &out), CT_OK);
	assert_int_equal(out.n_holds, 1);
	assert_string_equal(out.holds[0].lot_id, "COIL-2");
	assert_non_null(strstr(out.holds[0].reason, "BATCH-9"));
	assert_true(gate_lots_is_held(&lots, "S1", "COIL-2"));
	gate_lots_cleanup(&lots);
}

struct signals_seen {
	int count;
	int rules[64];
	uint64_t last_points[64];
};

static void record_signal(void *ctx, const struct gate_signal *s,
                          const Cellthread__V1__StationResult *r)
{
	struct signals_seen *seen = ctx;
	(void)r;
	if (seen->count < 64) {
		seen->rules[seen->count] = s->rule;
		seen->last_points[seen->count] = s->last_point;
	}
	seen->count++;
}

static struct gate_chart_def *imr_def(const char *id)
{
	struct gate_chart_def *def = calloc(1, sizeof(*def));
	char err[256];

	assert_non_null(def);
	snprintf(def->chart_id, sizeof(def->chart_id), "%s", id);
	snprintf(def->site, sizeof(def->site), "*");
	snprintf(def->line, sizeof(def->line), "*");
	snprintf(def->station, sizeof(def->station), "*");
	snprintf(def->recipe, sizeof(def->recipe), "*");
	def->station_type = FILLING;
	snprintf(def->kind_name, sizeof(def->kind_name), "imr");
	snprintf(def->names[0], sizeof(def->names[0]), "fill_mass");
	def->n_names = 1;
	snprintf(def->config_hash, sizeof(def->config_hash), "h1");
	assert_int_equal(gate_chart_def_build(def, 1, "WE1,N4", false, 0, true, 5.0, true, 0.01,
	                                      NAN, NAN, NAN, NAN, err, sizeof(err)),
	                 CT_OK);
	return def;
}

/* One instance per station; a point beyond 3 sigma signals WE1 on that station's chart only;
 * a saved state restored continues with the same point numbers. */
static void test_charts_instances_and_restore(void **state)
{
	struct gate_charts charts, restored;
	struct signals_seen seen = {0};
	struct fixture f;
	char err[256];

	(void)state;
	gate_charts_init(&charts);
	gate_charts_set_config(&charts, imr_def("fill"), 1, NULL, 0);
	for (int i = 0; i < 10; i++) {
		fixture_init(&f, "C", FILLING, i % 2 ? "L1-FILL-01" : "L1-FILL-02", "R");
		add_measurement(&f, "fill_mass", 5.0 + (i % 3 - 1) * 0.001);
		assert_int_equal(
		        gate_charts_feed(&charts, &f.r, VERDICT(PASS), record_signal, &seen),
		        CT_OK);
	}
	assert_int_equal(charts.n_charts, 2);
	assert_int_equal(seen.count, 0);
	fixture_init(&f, "C", FILLING, "L1-FILL-01", "R");
	add_measurement(&f, "fill_mass", 5.05); /* 5 sigma */
	assert_int_equal(gate_charts_feed(&charts, &f.r, VERDICT(PASS), record_signal, &seen),
	                 CT_OK);
	assert_int_equal(seen.count, 1);
	assert_int_equal(seen.rules[0], SPC_RULE_WE1);
	assert_int_equal(seen.last_points[0], 6);

	/* Save the L1-FILL-01 instance's bytes, restore into a fresh set, continue. */
	struct gate_chart *saved = NULL;
	for (size_t i = 0; i < charts.n_charts; i++)
		if (strcmp(charts.charts[i]->station, "L1-FILL-01") == 0)
			saved = charts.charts[i];
	assert_non_null(saved);
	gate_charts_init(&restored);
	gate_charts_set_config(&restored, imr_def("fill"), 1, NULL, 0);
	/* Only the blob's header and the I-MR engine state are stored, not a curve envelope. */
	size_t stored = gate_blob_size(&charts.defs[0]);
	assert_true(stored < sizeof(saved->blob));
	assert_int_equal(gate_charts_restore(&restored, "fill", "S1", "L1", "L1-FILL-01", "*", "h1",
	                                     &saved->blob, stored, NULL),
	                 CT_OK);
	assert_int_equal(gate_charts_restore(&restored, "fill", "S1", "L1", "L1-FILL-01", "*",
	                                     "other-hash", &saved->blob, stored, NULL),
	                 CT_ERR_NOT_FOUND);
	assert_int_equal(gate_charts_restore(&restored, "fill", "S1", "L1", "L1-FILL-01", "*", "h1",
	                                     &saved->blob, stored - 1, NULL),
	                 CT_ERR_CORRUPT);
	fixture_init(&f, "C", FILLING, "L1-FILL-01", "R");
	add_measurement(&f, "fill_mass", 4.95);
	seen.count = 0;
	assert_int_equal(gate_charts_feed(&restored, &f.r, VERDICT(PASS), record_signal, &seen),
	                 CT_OK);
	assert_int_equal(seen.count, 1);
	assert_int_equal(seen.last_points[0], 7); /* continues, not restarted */
	(void)err;
	gate_charts_cleanup(&restored);
	gate_charts_cleanup(&charts);
}

/* Live capability of a variables chart: Cp/Cpk/Cpm with the chart's centre and sigma (fixed
 * 5.00 and 0.01 here), Pp/Ppk/Ppm with the mean and sample standard deviation of the values fed;
 * the
 * overall statistics survive a restore; nothing without a spec, and Cp undefined for a one-sided
 * one. Expected values from the definitions (Montgomery, ISQC 8.2): values 4.99 5.00 5.01 5.02 4.98
 * have mean 5.00 and s = sqrt(0.001 / 4) = 0.0158114; spec 4.94..5.06. */
static void test_charts_capability(void **state)
{
	const struct gate_spec rows[] = {
	        spec("*", FILLING, "*", "fill_mass", 4.94, 5.06, VERDICT(FAIL)),
	        spec("L1-FILL-09", 0, "*", "fill_mass", NAN, 5.06, VERDICT(FAIL)),
	};
	static const double values[] = {4.99, 5.00, 5.01, 5.02, 4.98};
	const double s = sqrt(0.001 / 4.0);
	struct gate_spec_set set;
	struct gate_charts charts, restored;
	struct signals_seen seen = {0};
	struct spc_capability cap;
	struct fixture f;

	(void)state;
	specs_init(&set, rows, 2);
	gate_charts_init(&charts);
	gate_charts_set_config(&charts, imr_def("fill"), 1, NULL, 0);
	fixture_init(&f, "C", FILLING, "L1-FILL-01", "R");
	add_measurement(&f, "fill_mass", 5.0);
	assert_int_equal(gate_charts_feed(&charts, &f.r, VERDICT(PASS), record_signal, &seen),
	                 CT_OK);
	/* Without a spec set there is none. */
	assert_false(gate_chart_capability(&charts, charts.charts[0], &cap));
	gate_charts_cleanup(&charts);

	gate_charts_init(&charts);
	charts.specs = &set;
	gate_charts_set_config(&charts, imr_def("fill"), 1, NULL, 0);
	for (size_t i = 0; i < 5; i++) {
		fixture_init(&f, "C", FILLING, "L1-FILL-01", "R");
		add_measurement(&f, "fill_mass", values[i]);
		assert_int_equal(
		        gate_charts_feed(&charts, &f.r, VERDICT(PASS), record_signal, &seen),
		        CT_OK);
		/* One value is not enough for an overall sigma. */
		assert_true(gate_chart_capability(&charts, charts.charts[0], &cap) == (i > 0));
	}
	assert_int_equal(charts.charts[0]->overall.n, 5);
	assert_true(gate_chart_capability(&charts, charts.charts[0], &cap));
	assert_true(cap.cp.defined && cap.cpk.defined && cap.pp.defined && cap.ppk.defined &&
	            cap.cpm.defined);
	assert_float_equal(cap.cp.value, 0.12 / 0.06, 1e-9);
	assert_float_equal(cap.cpk.value, 0.06 / 0.03, 1e-9);
	assert_float_equal(cap.pp.value, 0.12 / (6.0 * s), 1e-9);
	assert_float_equal(cap.ppk.value, 0.06 / (3.0 * s), 1e-9);
	/* On target (mid-point): Cpm = Cp with the within sigma, Ppm = Pp with the overall one
	 * (Montgomery ISQC eq. 8.21; issue 11 item 3: cpm was Ppm before). */
	assert_float_equal(cap.cpm.value, 0.12 / 0.06, 1e-9);
	assert_true(cap.ppm.defined);
	assert_float_equal(cap.ppm.value, 0.12 / (6.0 * s), 1e-9);
	/* Expected within PPM: both limits 6 within sigmas away, 1e6 x 2 Phi(-6). */
	assert_true(cap.expected_within.total.defined);
	assert_float_equal(cap.expected_within.total.value, 1e6 * erfc(6.0 / sqrt(2.0)), 1e-12);

	/* Restored with its overall statistics, the next value continues them. */
	gate_charts_init(&restored);
	restored.specs = &set;
	gate_charts_set_config(&restored, imr_def("fill"), 1, NULL, 0);
	assert_int_equal(gate_charts_restore(&restored, "fill", "S1", "L1", "L1-FILL-01", "*", "h1",
	                                     &charts.charts[0]->blob,
	                                     gate_blob_size(&restored.defs[0]),
	                                     &charts.charts[0]->overall),
	                 CT_OK);
	for (struct gate_charts *c = &charts; c != NULL; c = c == &charts ? &restored : NULL) {
		fixture_init(&f, "C", FILLING, "L1-FILL-01", "R");
		add_measurement(&f, "fill_mass", 5.03);
		assert_int_equal(gate_charts_feed(c, &f.r, VERDICT(PASS), record_signal, &seen),
		                 CT_OK);
	}
	assert_int_equal(restored.charts[0]->overall.n, 6);
	assert_true(restored.charts[0]->overall.mean == charts.charts[0]->overall.mean);
	assert_true(restored.charts[0]->overall.m2 == charts.charts[0]->overall.m2);

	/* A one-sided spec: Cpk and Ppk, no Cp, Pp or Cpm. */
	fixture_init(&f, "C", FILLING, "L1-FILL-09", "R");
	add_measurement(&f, "fill_mass", 0.0);
	for (size_t i = 0; i < 5; i++) {
		f.m[0].value = values[i];
		assert_int_equal(
		        gate_charts_feed(&charts, &f.r, VERDICT(PASS), record_signal, &seen),
		        CT_OK);
	}
	assert_int_equal(charts.n_charts, 2);
	assert_true(gate_chart_capability(&charts, charts.charts[1], &cap));
	assert_false(cap.cp.defined || cap.pp.defined || cap.cpm.defined);
	assert_float_equal(cap.cpk.value, 0.06 / 0.03, 1e-9);
	assert_float_equal(cap.ppk.value, 0.06 / (3.0 * s), 1e-9);

	gate_charts_cleanup(&restored);
	gate_charts_cleanup(&charts);
	gate_spec_set_cleanup(&set);
}

/* A t2 row the engine would refuse (a baseline of no more points than characteristics, which
 * the table's CHECK allows) is refused when the configuration is loaded, naming why, not when
 * its first result arrives (where every batch holding one would fail to be judged). */
static void test_t2_baseline_too_small(void **state)
{
	struct gate_chart_def *def = calloc(1, sizeof(*def));
	char err[256] = "";

	(void)state;
	assert_non_null(def);
	snprintf(def->chart_id, sizeof(def->chart_id), "t2");
	snprintf(def->kind_name, sizeof(def->kind_name), "t2");
	snprintf(def->names[0], sizeof(def->names[0]), "a");
	snprintf(def->names[1], sizeof(def->names[1]), "b");
	snprintf(def->names[2], sizeof(def->names[2]), "c");
	def->n_names = 3;
	assert_int_equal(gate_chart_def_build(def, 1, "", true, 3, false, NAN, false, NAN, NAN, NAN,
	                                      NAN, NAN, err, sizeof(err)),
	                 CT_ERR_INVALID);
	assert_non_null(strstr(err, "baseline_points 3 for 3 characteristics"));
	assert_int_equal(gate_chart_def_build(def, 1, "", true, 20, false, NAN, false, NAN, NAN,
	                                      NAN, NAN, NAN, err, sizeof(err)),
	                 CT_OK);
	free(def);
}

/* A profile definition of the formation voltage learning from 5 golden curves. */
static struct gate_chart_def *profile_def(void)
{
	struct gate_chart_def *def = calloc(1, sizeof(*def));
	char err[256];

	assert_non_null(def);
	snprintf(def->chart_id, sizeof(def->chart_id), "form");
	snprintf(def->site, sizeof(def->site), "*");
	snprintf(def->line, sizeof(def->line), "*");
	snprintf(def->station, sizeof(def->station), "*");
	snprintf(def->recipe, sizeof(def->recipe), "*");
	snprintf(def->kind_name, sizeof(def->kind_name), "profile");
	snprintf(def->names[0], sizeof(def->names[0]), "formation_voltage");
	def->n_names = 1;
	snprintf(def->config_hash, sizeof(def->config_hash), "h");
	assert_int_equal(gate_chart_def_build(def, 1, "", true, 5, false, NAN, false, NAN, NAN, NAN,
	                                      NAN, NAN, err, sizeof(err)),
	                 CT_OK);
	return def;
}

/* Feeds 5 golden curves a few mV apart, one like them, then one 0.2 V low; returns the
 * signals after each of the last two (bit 0: the one like them, bit 1: the low one). */
static unsigned feed_profile_curves(struct gate_chart_def *def)
{
	struct gate_charts charts;
	struct signals_seen seen = {0};
	Cellthread__V1__Curve curve = CELLTHREAD__V1__CURVE__INIT, *curves[] = {&curve};
	double y[40];
	struct fixture f;
	unsigned signalled = 0;

	gate_charts_init(&charts);
	gate_charts_set_config(&charts, def, 1, NULL, 0);
	curve.name = (char *)"formation_voltage";
	curve.y = y;
	curve.n_y = 40;
	for (int k = 0; k < 7; k++) {
		double offset = k < 5 ? 0.002 * (k - 2) : k == 5 ? 0.001 : -0.2;
		int before = seen.count;
		for (int i = 0; i < 40; i++)
			y[i] = 3.0 + 1.2 * (1.0 - exp(-i / 10.0)) + offset;
		fixture_init(&f, "C", CELLTHREAD__V1__STATION_TYPE__STATION_TYPE_FORMATION, "F1",
		             "R");
		f.r.curves = curves;
		f.r.n_curves = 1;
		assert_int_equal(
		        gate_charts_feed(&charts, &f.r, VERDICT(PASS), record_signal, &seen),
		        CT_OK);
		if (k < 5)
			assert_int_equal(seen.count, 0); /* learning */
		else if (seen.count > before)
			signalled |= 1u << (k - 5);
	}
	if (seen.count > 0)
		assert_int_equal(seen.rules[0], GATE_RULE_PROFILE);
	assert_int_equal(gate_chart_points(&charts, charts.charts[0]), 2);
	assert_int_equal(gate_blob_size(def), offsetof(struct gate_chart_blob, engine) +
	                                              sizeof(struct spc_profile_state));
	gate_charts_cleanup(&charts);
	return signalled;
}

/* A profile chart learns its envelope from the first golden curves of the stream, then
 * signals a curve far outside it, and not one inside. */
static void test_charts_profile(void **state)
{
	(void)state;
	assert_int_equal(feed_profile_curves(profile_def()), 2u);
}

/* Profile thresholds from configuration (0005): NAN keeps a default, a value out of range
 * is refused and changes nothing, thresholds wide enough let the low curve pass. */
static void test_profile_limits(void **state)
{
	struct gate_chart_def *def = profile_def(), *imr = calloc(1, sizeof(*imr));
	char err[256];

	(void)state;
	assert_int_equal(gate_chart_def_profile_limits(def, 4.0, NAN, 8.0, NAN, err, sizeof(err)),
	                 CT_OK);
	assert_true(def->profile.z == 4.0 && def->profile.max_abs == 8.0);
	assert_true(def->profile.max_rms == 2.5 && def->profile.max_outside == 0.10);
	assert_int_equal(gate_chart_def_profile_limits(def, NAN, NAN, NAN, 1.5, err, sizeof(err)),
	                 CT_ERR_INVALID);
	assert_int_equal(gate_chart_def_profile_limits(def, 0.0, NAN, NAN, NAN, err, sizeof(err)),
	                 CT_ERR_INVALID);
	assert_true(def->profile.z == 4.0 && def->profile.max_outside == 0.10);
	/* The 0.2 V low curve is about 60 golden sd away: z 1000 and a max_abs and RMS of 1e6
	 * take it in, with the whole grid allowed outside. */
	assert_int_equal(
	        gate_chart_def_profile_limits(def, 1000.0, 1e6, 1e6, 1.0, err, sizeof(err)), CT_OK);
	assert_int_equal(feed_profile_curves(def), 0u);

	assert_non_null(imr);
	snprintf(imr->kind_name, sizeof(imr->kind_name), "imr");
	assert_int_equal(gate_chart_def_profile_limits(imr, 3.0, NAN, NAN, NAN, err, sizeof(err)),
	                 CT_ERR_INVALID);
	free(imr);
}

static void test_rules_parse(void **state)
{
	uint32_t bits = 0;
	char err[128];

	(void)state;
	assert_int_equal(gate_rules_parse("WE1, n2,N8,SEC", &bits, err, sizeof(err)), CT_OK);
	assert_int_equal(bits, SPC_RULE_BIT(SPC_RULE_WE1) | SPC_RULE_BIT(SPC_RULE_NELSON2) |
	                               SPC_RULE_BIT(SPC_RULE_NELSON8) |
	                               SPC_RULE_BIT(SPC_RULE_SECONDARY_LIMIT));
	assert_int_equal(gate_rules_parse("WE1,N9", &bits, err, sizeof(err)), CT_ERR_INVALID);
	assert_non_null(strstr(err, "N9"));
	assert_int_equal(gate_rules_parse("", &bits, err, sizeof(err)), CT_OK);
	assert_int_equal(bits, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_spec_specificity),
	        cmocka_unit_test(test_judge),
	        cmocka_unit_test(test_map),
	        cmocka_unit_test(test_lot_fail_rate),
	        cmocka_unit_test(test_lot_self_and_descendants),
	        cmocka_unit_test(test_charts_instances_and_restore),
	        cmocka_unit_test(test_charts_capability),
	        cmocka_unit_test(test_charts_profile),
	        cmocka_unit_test(test_profile_limits),
	        cmocka_unit_test(test_rules_parse),
	        cmocka_unit_test(test_t2_baseline_too_small),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
