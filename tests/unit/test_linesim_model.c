/* test_linesim_model: the line simulator's model and output batching, without a broker.
 *
 * A recording sink packs every message (for byte-for-byte determinism checks), collects
 * named series of values (a characteristic, parameter or environment reading at a station)
 * for statistics, checks every result's times and IDs as it passes, and optionally keeps
 * unpacked copies for genealogy checks. Runs are a few thousand cells; the model is pure, so
 * each takes milliseconds.
 *
 * Station commands: golden hashes of runs taken before commands existed prove that a model
 * that receives none (or only ones it ignores) writes the very same bytes; the closed loop
 * is run against coating_drift with the ADJUST spc-gate's starter plan would send. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ct_error.h"
#include "linesim_model.h"
#include "linesim_out.h"

#define T0_US   1763791200000000LL /* 2025-11-22T06:00:00Z */
#define STEP_US 200000LL           /* 5 cells per second */

enum series_source { SRC_MEASUREMENT, SRC_PARAMETER, SRC_ENVIRONMENT, SRC_SETPOINT };

struct series {
	const char *station; /* station ID suffix, e.g. "FILL-01" */
	const char *name;
	enum series_source source;
	double *v;
	size_t n, cap;
};

struct recorder {
	uint8_t *bytes; /* every message packed, back to back */
	size_t len, cap;
	struct series *series;
	size_t n_series;
	bool keep;
	Cellthread__V1__StationResult **kept;
	size_t n_kept, cap_kept;
	size_t results, nok, telemetry, samples;
	int64_t now_us;
	bool bad_time, bad_id;
};

static void append(struct recorder *r, const ProtobufCMessage *msg)
{
	size_t size = protobuf_c_message_get_packed_size(msg);

	if (r->len + size > r->cap) {
		r->cap = (r->len + size) * 2;
		r->bytes = realloc(r->bytes, r->cap);
		assert_non_null(r->bytes);
	}
	r->len += protobuf_c_message_pack(msg, r->bytes + r->len);
}

static void push(struct series *s, double v)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		assert_non_null(s->v);
	}
	s->v[s->n++] = v;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static bool is_id(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 64 &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") == n;
}

static int on_result(void *ctx, const struct linesim_result *res)
{
	struct recorder *r = ctx;
	const Cellthread__V1__StationResult *m = res->msg;

	append(r, &m->base);
	r->results++;
	if (m->result == CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_NOK)
		r->nok++;
	if (m->ended_at_us > r->now_us || m->ended_at_us < r->now_us - LINESIM_STEP_SPAN_US ||
	    m->started_at_us > m->ended_at_us)
		r->bad_time = true;
	if (!is_id(m->header->event_id) || !is_id(m->unit_id) || !is_id(m->station) ||
	    !is_id(m->header->producer))
		r->bad_id = true;
	for (size_t i = 0; i < m->n_materials; i++)
		if (!is_id(m->materials[i]->lot_id))
			r->bad_id = true;
	for (size_t i = 0; i < m->n_children; i++)
		if (!is_id(m->children[i]->unit_id))
			r->bad_id = true;
	for (size_t k = 0; k < r->n_series; k++) {
		struct series *s = &r->series[k];

		if (!ends_with(m->station, s->station))
			continue;
		if (s->source == SRC_MEASUREMENT)
			for (size_t i = 0; i < m->n_measurements; i++)
				if (strcmp(m->measurements[i]->characteristic, s->name) == 0)
					push(s, m->measurements[i]->value);
		if (s->source == SRC_PARAMETER || s->source == SRC_SETPOINT)
			for (size_t i = 0; i < m->n_parameters; i++)
				if (strcmp(m->parameters[i]->name, s->name) == 0)
					push(s, s->source == SRC_SETPOINT
					                ? m->parameters[i]->setpoint
					                : m->parameters[i]->actual);
		if (s->source == SRC_ENVIRONMENT)
			for (size_t i = 0; i < m->n_environment; i++)
				if (strcmp(m->environment[i]->quantity, s->name) == 0)
					push(s, m->environment[i]->value);
	}
	if (r->keep) {
		uint8_t *buf = malloc(protobuf_c_message_get_packed_size(&m->base));
		size_t len;

		assert_non_null(buf);
		len = protobuf_c_message_pack(&m->base, buf);
		if (r->n_kept == r->cap_kept) {
			r->cap_kept = r->cap_kept ? r->cap_kept * 2 : 256;
			r->kept = realloc(r->kept, r->cap_kept * sizeof(*r->kept));
			assert_non_null(r->kept);
		}
		r->kept[r->n_kept] = cellthread__v1__station_result__unpack(NULL, len, buf);
		assert_non_null(r->kept[r->n_kept]);
		r->n_kept++;
		free(buf);
	}
	return 0;
}

static int on_telemetry(void *ctx, const struct linesim_telemetry *t)
{
	struct recorder *r = ctx;

	append(r, &t->msg->base);
	r->telemetry++;
	for (size_t i = 0; i < t->msg->n_signals; i++)
		r->samples += t->msg->signals[i]->n_samples;
	return 0;
}

static void recorder_free(struct recorder *r)
{
	free(r->bytes);
	for (size_t k = 0; k < r->n_series; k++)
		free(r->series[k].v);
	for (size_t i = 0; i < r->n_kept; i++)
		cellthread__v1__station_result__free_unpacked(r->kept[i], NULL);
	free(r->kept);
}

static struct linesim_model *new_model(uint64_t seed, unsigned faults)
{
	struct linesim_model_config cfg = {"site1", 1, seed, 12, 4, 10.0, faults};
	struct linesim_model *m = NULL;
	char err[128];

	assert_int_equal(linesim_model_new(&cfg, &m, err, sizeof(err)), CT_OK);
	return m;
}

/* Steps cells first..first+n-1 of line 0, with telemetry once a second. */
static void run(struct linesim_model *m, struct recorder *r, unsigned long long first,
                unsigned long long n)
{
	struct linesim_sink sink = {on_result, on_telemetry, r};

	for (unsigned long long i = first; i < first + n; i++) {
		r->now_us = T0_US + (int64_t)i * STEP_US;
		assert_int_equal(linesim_model_step(m, 0, r->now_us, &sink), CT_OK);
		if (i % 5 == 0)
			assert_int_equal(linesim_model_telemetry(m, 0, r->now_us, &sink), CT_OK);
	}
}

static double mean(const struct series *s, size_t from, size_t to)
{
	double sum = 0.0;

	assert_true(to > from && to <= s->n);
	for (size_t i = from; i < to; i++)
		sum += s->v[i];
	return sum / (double)(to - from);
}

static double stddev(const struct series *s, size_t from, size_t to)
{
	double mu = mean(s, from, to), sum = 0.0;

	for (size_t i = from; i < to; i++)
		sum += (s->v[i] - mu) * (s->v[i] - mu);
	return sqrt(sum / (double)(to - from - 1));
}

static void test_same_seed_same_bytes(void **state)
{
	struct recorder a = {0}, b = {0};
	struct linesim_model *ma = new_model(42, 0), *mb = new_model(42, 0);

	(void)state;
	/* Same seed, same times, same switches at the same points: identical bytes. */
	run(ma, &a, 0, 300);
	run(mb, &b, 0, 300);
	linesim_model_set_fault(ma, LINESIM_FAULT_NOZZLE, true);
	linesim_model_set_fault(mb, LINESIM_FAULT_NOZZLE, true);
	run(ma, &a, 300, 300);
	run(mb, &b, 300, 300);
	assert_true(a.results > 3000);
	assert_true(a.telemetry > 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.bytes, b.bytes, a.len);
	assert_false(a.bad_time);
	assert_false(a.bad_id);
	recorder_free(&a);
	recorder_free(&b);
	linesim_model_free(ma);
	linesim_model_free(mb);
}

static void test_other_seed_other_bytes(void **state)
{
	struct recorder a = {0}, b = {0};
	struct linesim_model *ma = new_model(42, 0), *mb = new_model(43, 0);

	(void)state;
	run(ma, &a, 0, 50);
	run(mb, &b, 0, 50);
	assert_true(a.len != b.len || memcmp(a.bytes, b.bytes, a.len) != 0);
	recorder_free(&a);
	recorder_free(&b);
	linesim_model_free(ma);
	linesim_model_free(mb);
}

/* DOMAIN.md ranges every value must keep in normal running. */
static const struct range {
	const char *station;
	const char *name;
	enum series_source source;
	double lo, hi;
} domain_ranges[] = {
        {"MIX-C01", "viscosity", SRC_MEASUREMENT, 3.0, 8.0},
        {"MIX-A01", "viscosity", SRC_MEASUREMENT, 3.0, 8.0},
        {"MIX-C01", "solid_content", SRC_MEASUREMENT, 60.0, 75.0},
        {"MIX-A01", "solid_content", SRC_MEASUREMENT, 60.0, 75.0},
        {"COAT-C01", "areal_loading", SRC_MEASUREMENT, 20.0 * 0.985, 20.0 * 1.015},
        {"COAT-C01", "line_speed", SRC_PARAMETER, 20.0, 80.0},
        {"COAT-A01", "line_speed", SRC_PARAMETER, 20.0, 80.0},
        {"COAT-C01", "slot_die_gap", SRC_PARAMETER, 100.0, 300.0},
        {"COAT-A01", "slot_die_gap", SRC_PARAMETER, 100.0, 300.0},
        {"COAT-C01", "dryer_zone1_temperature", SRC_PARAMETER, 80.0, 140.0},
        {"COAT-C01", "dryer_zone3_temperature", SRC_PARAMETER, 80.0, 140.0},
        {"COAT-A01", "dryer_zone1_temperature", SRC_PARAMETER, 80.0, 140.0},
        {"CAL-C01", "thickness", SRC_MEASUREMENT, 60.0, 150.0},
        {"CAL-A01", "thickness", SRC_MEASUREMENT, 60.0, 150.0},
        {"CAL-C01", "density", SRC_MEASUREMENT, 3.2, 3.6},
        {"VDRY-C01", "residual_moisture", SRC_MEASUREMENT, 0.0, 200.0},
        {"VDRY-A01", "residual_moisture", SRC_MEASUREMENT, 0.0, 200.0},
        {"FILL-01", "fill_mass", SRC_MEASUREMENT, 4.95, 5.05},
        {"WIND-01", "dew_point", SRC_ENVIRONMENT, -60.0, -40.0},
        {"FILL-01", "dew_point", SRC_ENVIRONMENT, -60.0, -40.0},
        {"AGE-01", "self_discharge_k", SRC_MEASUREMENT, 0.0, 1.0},
        {"EOL-01", "capacity", SRC_MEASUREMENT, 4.8, 5.1},
};
#define N_RANGES (sizeof(domain_ranges) / sizeof(domain_ranges[0]))

static void test_normal_values_in_domain_ranges(void **state)
{
	struct series series[N_RANGES];
	struct recorder r = {0};
	struct linesim_model *m = new_model(7, 0);

	(void)state;
	memset(series, 0, sizeof(series));
	for (size_t i = 0; i < N_RANGES; i++) {
		series[i].station = domain_ranges[i].station;
		series[i].name = domain_ranges[i].name;
		series[i].source = domain_ranges[i].source;
	}
	r.series = series;
	r.n_series = N_RANGES;
	run(m, &r, 0, 2000);
	for (size_t i = 0; i < N_RANGES; i++) {
		const struct range *g = &domain_ranges[i];

		assert_true(series[i].n > 0);
		for (size_t k = 0; k < series[i].n; k++) {
			if (series[i].v[k] < g->lo || series[i].v[k] > g->hi)
				fail_msg("%s %s = %g outside [%g, %g]", g->station, g->name,
				         series[i].v[k], g->lo, g->hi);
		}
	}
	/* Station rejects are rare in normal running (shorts, leak outliers). */
	assert_true(r.nok * 200 < r.results);
	assert_false(r.bad_time);
	assert_false(r.bad_id);
	recorder_free(&r);
	linesim_model_free(m);
}

/* Runs the same seed twice, with and without one fault on from the start, collecting the
 * given series; a and b are the normal and faulty runs. */
static void compare_runs(enum linesim_fault fault, unsigned long long cells,
                         const struct series *proto, size_t n, struct series *a, struct series *b)
{
	struct recorder ra = {0}, rb = {0};
	struct linesim_model *ma = new_model(11, 0), *mb = new_model(11, 1u << fault);

	for (size_t i = 0; i < n; i++) {
		a[i] = proto[i];
		b[i] = proto[i];
	}
	ra.series = a;
	ra.n_series = n;
	rb.series = b;
	rb.n_series = n;
	run(ma, &ra, 0, cells);
	run(mb, &rb, 0, cells);
	ra.series = rb.series = NULL; /* the caller frees the series */
	ra.n_series = rb.n_series = 0;
	recorder_free(&ra);
	recorder_free(&rb);
	linesim_model_free(ma);
	linesim_model_free(mb);
}

static void free_series(struct series *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i].v);
}

static void test_fault_nozzle(void **state)
{
	const struct series proto[] = {
	        {"FILL-01", "fill_mass", SRC_MEASUREMENT, NULL, 0, 0},
	        {"WIND-01", "anode_overhang", SRC_MEASUREMENT, NULL, 0, 0},
	        {"FILL-01", "nozzle_pressure", SRC_PARAMETER, NULL, 0, 0},
	};
	struct series a[3], b[3];
	double lag1 = 0.0;

	(void)state;
	compare_runs(LINESIM_FAULT_NOZZLE, 600, proto, 3, a, b);
	/* The fill mass wavers: its spread grows far beyond normal... */
	assert_true(stddev(&b[0], 0, b[0].n) >= 3.0 * stddev(&a[0], 0, a[0].n));
	assert_true(stddev(&b[0], 300, b[0].n) > stddev(&b[0], 0, 100)); /* growing */
	/* ...alternating fill to fill (negative lag-1 correlation), not a flat line... */
	for (size_t i = 1; i < b[0].n; i++)
		lag1 += (b[0].v[i] - 5.0) * (b[0].v[i - 1] - 5.0);
	assert_true(lag1 < 0.0);
	assert_true(stddev(&b[2], 0, b[2].n) > 3.0 * stddev(&a[2], 0, a[2].n));
	/* ...and nothing else moves: winding values of the same cells are identical. */
	assert_int_equal(a[1].n, b[1].n);
	assert_memory_equal(a[1].v, b[1].v, a[1].n * sizeof(double));
	free_series(a, 3);
	free_series(b, 3);
}

static void test_fault_coating_drift(void **state)
{
	const struct series proto[] = {
	        {"COAT-C01", "areal_loading", SRC_MEASUREMENT, NULL, 0, 0},
	        {"COAT-C01", "slot_die_gap", SRC_PARAMETER, NULL, 0, 0},
	        {"FILL-01", "fill_mass", SRC_MEASUREMENT, NULL, 0, 0},
	};
	struct series a[3], b[3];
	size_t n;

	(void)state;
	compare_runs(LINESIM_FAULT_COATING_DRIFT, 3000, proto, 3, a, b);
	n = a[0].n;
	assert_true(n >= 15);
	assert_int_equal(n, b[0].n);
	/* The loading drifts upward coil by coil, the gap with it. */
	assert_true(mean(&b[0], 0, n) > mean(&a[0], 0, n) + 0.5);
	assert_true(b[0].v[n - 1] > b[0].v[0] + 1.0);
	assert_true(mean(&b[1], n / 2, n) > mean(&b[1], 0, n / 2) + 3.0);
	assert_true(fabs(mean(&a[0], 0, n) - 20.0) < 0.1);
	assert_memory_equal(a[2].v, b[2].v, a[2].n * sizeof(double));
	free_series(a, 3);
	free_series(b, 3);
}

static void test_fault_weld_wear(void **state)
{
	const struct series proto[] = {
	        {"WELD-01", "weld_resistance", SRC_MEASUREMENT, NULL, 0, 0},
	        {"WELD-01", "weld_energy", SRC_MEASUREMENT, NULL, 0, 0},
	        {"EOL-01", "dcir", SRC_MEASUREMENT, NULL, 0, 0},
	};
	struct series a[3], b[3];
	size_t n;

	(void)state;
	compare_runs(LINESIM_FAULT_WELD_WEAR, 1500, proto, 3, a, b);
	n = b[0].n;
	assert_true(mean(&b[0], n - 200, n) > mean(&a[0], 0, a[0].n) + 0.1);
	assert_true(mean(&b[1], n - 200, n) > mean(&a[1], 0, a[1].n) * 1.04);
	assert_true(mean(&b[0], 0, 100) < mean(&b[0], n - 100, n)); /* rising, not a step */
	assert_true(mean(&b[2], 0, b[2].n) > mean(&a[2], 0, a[2].n));
	free_series(a, 3);
	free_series(b, 3);
}

static void test_fault_dew_point_and_back(void **state)
{
	struct series s[3] = {
	        {"WIND-01", "dew_point", SRC_ENVIRONMENT, NULL, 0, 0},
	        {"AGE-01", "self_discharge_k", SRC_MEASUREMENT, NULL, 0, 0},
	        {"VDRY-C01", "residual_moisture", SRC_MEASUREMENT, NULL, 0, 0},
	};
	struct recorder r = {.series = s, .n_series = 3};
	struct linesim_model *m = new_model(5, 0);
	size_t k0, d0;

	(void)state;
	run(m, &r, 0, 500);
	k0 = s[1].n;
	d0 = s[0].n;
	linesim_model_set_fault(m, LINESIM_FAULT_DEW_POINT, true);
	run(m, &r, 500, 1000);
	assert_true(linesim_model_dew_point(m, 0) > -31.0);
	assert_true(mean(&s[0], s[0].n - 100, s[0].n) > -32.0);
	/* Moisture shows up downstream: self-discharge of cells built in the excursion. */
	assert_true(mean(&s[1], s[1].n - 200, s[1].n) > mean(&s[1], 0, k0) + 0.5);
	assert_true(s[2].v[s[2].n - 1] > 200.0);
	linesim_model_set_fault(m, LINESIM_FAULT_DEW_POINT, false);
	run(m, &r, 1500, 1000);
	assert_true(linesim_model_dew_point(m, 0) < -49.0);
	assert_true(fabs(mean(&s[0], s[0].n - 100, s[0].n) - mean(&s[0], 0, d0)) < 1.0);
	recorder_free(&r);
	linesim_model_free(m);
}

static const Cellthread__V1__StationResult *find(const struct recorder *r, const char *unit,
                                                 const char *station)
{
	for (size_t i = 0; i < r->n_kept; i++)
		if (strcmp(r->kept[i]->unit_id, unit) == 0 &&
		    ends_with(r->kept[i]->station, station))
			return r->kept[i];
	return NULL;
}

/* find() for a result the test goes on to read: fails the test when there is none. */
static const Cellthread__V1__StationResult *must_find(const struct recorder *r, const char *unit,
                                                      const char *station)
{
	const Cellthread__V1__StationResult *res = find(r, unit, station);

	if (res == NULL) {
		fail_msg("no %s result for %s", station, unit);
		abort(); /* not reached (fail_msg ends the test); tells the compiler so */
	}
	return res;
}

static void test_genealogy_complete(void **state)
{
	struct recorder r = {.keep = true};
	struct linesim_model *m = new_model(3, 0);
	const struct linesim_line_stats *st;
	size_t packs = 0, modules = 0;

	(void)state;
	while (linesim_model_line_stats(m, 0)->packs < 2)
		run(m, &r, linesim_model_line_stats(m, 0)->cells_started, 1);
	st = linesim_model_line_stats(m, 0);
	assert_int_equal(st->modules, 8);
	assert_string_equal(st->last_pack, "L1-P000002");
	for (size_t i = 0; i < r.n_kept; i++) {
		const Cellthread__V1__StationResult *res = r.kept[i];

		if (res->station_type == CELLTHREAD__V1__STATION_TYPE__STATION_TYPE_PACK_ASSEMBLY) {
			packs++;
			assert_int_equal(res->unit_kind, CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_PACK);
			assert_int_equal(res->n_children, 4);
			for (size_t c = 0; c < res->n_children; c++) {
				char pos[24];

				snprintf(pos, sizeof(pos), "%zu", c + 1);
				assert_int_equal(res->children[c]->kind,
				                 CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_MODULE);
				assert_string_equal(res->children[c]->position, pos);
				assert_non_null(find(&r, res->children[c]->unit_id, "MOD-01"));
			}
		}
		if (res->station_type != CELLTHREAD__V1__STATION_TYPE__STATION_TYPE_MODULE_ASSEMBLY)
			continue;
		modules++;
		assert_int_equal(res->n_children, 12);
		for (size_t c = 0; c < res->n_children; c++) {
			const char *cell = res->children[c]->unit_id;
			const Cellthread__V1__StationResult *wind = must_find(&r, cell, "WIND-01");
			const Cellthread__V1__StationResult *vis = must_find(&r, cell, "VIS-01");
			const Cellthread__V1__StationResult *fill = must_find(&r, cell, "FILL-01");

			assert_int_equal(res->children[c]->kind,
			                 CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_CELL);
			/* Only finished cells go into modules. */
			assert_int_equal(vis->result, CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_OK);
			/* Cell <- coils (with meter position) and separator; coil <- batch and
			 * foil; batch <- powders and solvent. */
			assert_int_equal(wind->n_children, 2);
			assert_int_equal(wind->n_materials, 1);
			assert_string_equal(wind->materials[0]->material, "separator");
			assert_string_equal(fill->materials[0]->material, "electrolyte_LiPF6");
			for (size_t e = 0; e < 2; e++) {
				const Cellthread__V1__ChildUnit *coil = wind->children[e];
				const Cellthread__V1__StationResult *coat = must_find(
				        &r, coil->unit_id, e == 0 ? "COAT-C01" : "COAT-A01");
				const Cellthread__V1__StationResult *mix;

				assert_int_equal(coil->kind,
				                 CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_ELECTRODE);
				assert_string_equal(coil->unit, "m");
				assert_true(strtod(coil->position, NULL) >= 0.0);
				assert_int_equal(coat->n_children, 1);
				assert_int_equal(coat->n_materials, 1);
				mix = must_find(&r, coat->children[0]->unit_id,
				                e == 0 ? "MIX-C01" : "MIX-A01");
				assert_int_equal(mix->n_materials, 4);
			}
		}
	}
	assert_int_equal(packs, 2);
	assert_int_equal(modules, 8);
	recorder_free(&r);
	linesim_model_free(m);
}

/* Publishing through linesim_out: batches by count and age, counts only what went out. */
struct fake_broker {
	bool refuse;
	size_t messages, results;
	Cellthread__V1__StationResultBatch *last;
};

static int fake_publish(void *ctx, const struct linesim_publish *msg)
{
	struct fake_broker *fb = ctx;

	if (fb->refuse)
		return CT_ERR_MQTT;
	fb->messages++;
	if (msg->kind == LINESIM_MSG_RESULT) {
		if (fb->last != NULL)
			cellthread__v1__station_result_batch__free_unpacked(fb->last, NULL);
		fb->last =
		        cellthread__v1__station_result_batch__unpack(NULL, msg->len, msg->payload);
		assert_non_null(fb->last);
		assert_int_equal(fb->last->n_results, msg->n_results);
		assert_true(ends_with(fb->last->results[0]->station, msg->station));
		fb->results += msg->n_results;
	}
	return 0;
}

static void test_out_batches_and_counts(void **state)
{
	struct fake_broker fb = {0};
	struct linesim_out_config oc = {5, 100, 512 * 1024, fake_publish, &fb};
	struct linesim_out *out = NULL;
	struct linesim_model *m = new_model(9, 0);
	struct linesim_sink sink;
	const struct linesim_counts *c;
	int64_t first_due;
	size_t published;

	(void)state;
	assert_int_equal(linesim_out_new(&oc, 1, linesim_station_count(), &out), CT_OK);
	sink = linesim_out_sink(out);
	linesim_out_poll(out, 1000);
	/* Four cells: each cell station holds 4 results, under max_batch, so nothing goes
	 * out; the fifth cell fills them. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(linesim_model_step(m, 0, T0_US + i * STEP_US, &sink), CT_OK);
	assert_int_equal(fb.results, 0);
	/* Each station's gateway timer has its own phase: station i (of n) ticks at
	 * i * 100 / n ms past each 100 ms. Station 0's first tick after 1000 is 1100; the
	 * earliest due is the one of the first station holding a result, within 100 ms. */
	first_due = linesim_out_next_due_ms(out);
	assert_in_range(first_due, 1001, 1100);
	assert_int_equal(linesim_model_step(m, 0, T0_US + 4 * STEP_US, &sink), CT_OK);
	assert_true(fb.results >= 5 * 9 - 5); /* all cell stations, unless a cell was scrapped */
	assert_int_equal(fb.last->n_results, 5);
	/* Age: the electrode results (one each) go out at their stations' ticks, one by one
	 * in between, all by 1100 (at most 100 ms old). */
	published = fb.messages;
	assert_int_equal(linesim_out_poll(out, first_due - 1), CT_OK);
	assert_int_equal(fb.messages, published);
	assert_int_equal(linesim_out_poll(out, first_due), CT_OK);
	assert_true(fb.messages > published);
	assert_true(linesim_out_next_due_ms(out) == INT64_MAX ||
	            linesim_out_next_due_ms(out) > first_due);
	assert_int_equal(linesim_out_poll(out, 1100), CT_OK);
	assert_int_equal(linesim_out_next_due_ms(out), INT64_MAX);
	/* A refused publish stalls and keeps the batch; counts wait for the retry. */
	fb.refuse = true;
	for (int i = 5; i < 10; i++)
		assert_int_equal(linesim_model_step(m, 0, T0_US + i * STEP_US, &sink), CT_OK);
	assert_true(linesim_out_is_stalled(out));
	c = linesim_out_counts(out);
	assert_int_equal(c->results, fb.results);
	fb.refuse = false;
	assert_int_equal(linesim_out_flush(out), CT_OK);
	assert_false(linesim_out_is_stalled(out));
	assert_int_equal(c->results, fb.results);
	assert_int_equal(c->messages, fb.messages);
	assert_int_equal(c->units[CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_CELL], 10);
	assert_int_equal(c->units[CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_ELECTRODE], 2);
	assert_int_equal(c->units[CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_BATCH], 2);
	assert_int_equal(c->units[CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_MATERIAL_LOT], 9);
	if (fb.last != NULL)
		cellthread__v1__station_result_batch__free_unpacked(fb.last, NULL);
	linesim_out_free(out);
	linesim_model_free(m);
}

static void test_summary_json(void **state)
{
	struct fake_broker fb = {0};
	struct linesim_out_config oc = {200, 100, 512 * 1024, fake_publish, &fb};
	struct linesim_out *out = NULL;
	struct linesim_model *m = new_model(42, 0);
	struct linesim_sink sink;
	json_t *summary;

	(void)state;
	assert_int_equal(linesim_out_new(&oc, 1, linesim_station_count(), &out), CT_OK);
	sink = linesim_out_sink(out);
	for (int i = 0; i < 60; i++)
		assert_int_equal(linesim_model_step(m, 0, T0_US + i * STEP_US, &sink), CT_OK);
	assert_int_equal(linesim_model_telemetry(m, 0, T0_US, &sink), CT_OK);
	assert_int_equal(linesim_model_telemetry(m, 0, T0_US + 1000000, &sink), CT_OK);
	assert_int_equal(linesim_out_flush(out), CT_OK);
	summary = linesim_out_summary(out, m);
	assert_non_null(summary);
	assert_int_equal(json_integer_value(json_object_get(summary, "results")), fb.results);
	assert_int_equal(json_integer_value(json_object_get(summary, "messages")), fb.messages);
	/* 4 assets: 1 sample each at t0, then 10 more each; the coater has 2 signals. */
	assert_int_equal(json_integer_value(json_object_get(summary, "telemetry_messages")), 8);
	assert_int_equal(json_integer_value(json_object_get(summary, "telemetry_samples")), 5 * 11);
	assert_string_equal(json_string_value(json_object_get(summary, "first_cell")),
	                    "L1-C00000001");
	assert_int_equal(json_integer_value(json_object_get(
	                         json_object_get(summary, "units_by_kind"), "module")),
	                 linesim_model_line_stats(m, 0)->modules);
	json_decref(summary);
	if (fb.last != NULL)
		cellthread__v1__station_result_batch__free_unpacked(fb.last, NULL);
	linesim_out_free(out);
	linesim_model_free(m);
}

static void test_fault_names(void **state)
{
	static const struct {
		const char *list;
		int rc;
		unsigned mask;
	} cases[] = {
	        {"", CT_OK, 0},
	        {"nozzle", CT_OK, 1u << LINESIM_FAULT_NOZZLE},
	        {" nozzle , weld_wear", CT_OK,
	         1u << LINESIM_FAULT_NOZZLE | 1u << LINESIM_FAULT_WELD_WEAR},
	        {"coating_drift,,dew_point,", CT_OK,
	         1u << LINESIM_FAULT_COATING_DRIFT | 1u << LINESIM_FAULT_DEW_POINT},
	        {"nozzle,bogus", CT_ERR_INVALID, 0},
	        {"nozzle weld_wear", CT_ERR_INVALID, 0},
	        {"a-name-that-is-far-too-long-to-be-any-fault", CT_ERR_INVALID, 0},
	};
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned mask = 0xdead;

		assert_int_equal(linesim_fault_parse_list(cases[i].list, &mask, err, sizeof(err)),
		                 cases[i].rc);
		assert_int_equal(mask, cases[i].rc == CT_OK ? cases[i].mask : 0xdead);
	}
	for (unsigned f = 0; f < LINESIM_FAULT_COUNT; f++) {
		enum linesim_fault back;

		assert_int_equal(linesim_fault_from_name(linesim_fault_name(f), &back), CT_OK);
		assert_int_equal(back, f);
	}
}

static void test_config_refused(void **state)
{
	struct linesim_model_config bad[] = {
	        {"", 1, 1, 12, 4, 10, 0},      {"site/1", 1, 1, 12, 4, 10, 0},
	        {"site1", 0, 1, 12, 4, 10, 0}, {"site1", 17, 1, 12, 4, 10, 0},
	        {"site1", 1, 1, 0, 4, 10, 0},  {"site1", 1, 1, 12, 257, 10, 0},
	        {"site1", 1, 1, 12, 4, -1, 0}, {"site1", 1, 1, 12, 4, 10, 1u << 9},
	};
	struct linesim_model *m = NULL;
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(linesim_model_new(&bad[i], &m, err, sizeof(err)), CT_ERR_INVALID);
		assert_null(m);
	}
	linesim_model_free(NULL);
	linesim_out_free(NULL);
}

/* ---- Station commands ------------------------------------------------------------------ */

/* FNV-1a over a run's bytes: the golden values below were taken from this file's run() of
 * seed 42 with the code as it was before station commands existed. */
static uint64_t fnv64(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

/* A StationCommand with its own storage. */
struct command {
	Cellthread__V1__StationCommand msg;
	Cellthread__V1__Header header;
	char id[64], station[64];
};

static void command_init(struct command *c, const char *id, const char *station,
                         Cellthread__V1__CommandKind kind)
{
	Cellthread__V1__StationCommand init = CELLTHREAD__V1__STATION_COMMAND__INIT;
	Cellthread__V1__Header hinit = CELLTHREAD__V1__HEADER__INIT;

	c->msg = init;
	c->header = hinit;
	snprintf(c->id, sizeof(c->id), "%s", id);
	snprintf(c->station, sizeof(c->station), "L1-%s", station);
	c->header.event_id = c->id;
	c->header.producer = (char *)"spc-gate-1";
	c->header.schema_version = 1;
	c->msg.header = &c->header;
	c->msg.site = (char *)"site1";
	c->msg.line = (char *)"L1";
	c->msg.station = c->station;
	c->msg.kind = kind;
	c->msg.reason_code = (char *)"TEST_REASON";
}

#define CMD(k) CELLTHREAD__V1__COMMAND_KIND__COMMAND_KIND_##k

static enum linesim_cmd_outcome apply(struct linesim_model *m, struct command *c, int64_t now_us)
{
	struct linesim_command_report rep;
	enum linesim_cmd_outcome o = linesim_model_command(m, &c->msg, now_us, &rep);

	assert_int_equal(rep.outcome, o);
	assert_true(rep.text[0] != '\0'); /* every outcome says what happened */
	return o;
}

static enum linesim_cmd_outcome slow(struct linesim_model *m, const char *id, const char *station,
                                     double percent, int64_t expires_at_us, int64_t now_us)
{
	struct command c;

	command_init(&c, id, station, CMD(SLOW));
	c.msg.target_value = percent;
	c.msg.unit = (char *)"%";
	c.msg.expires_at_us = expires_at_us;
	return apply(m, &c, now_us);
}

static enum linesim_cmd_outcome simple(struct linesim_model *m, const char *id, const char *station,
                                       Cellthread__V1__CommandKind kind, int64_t expires_at_us,
                                       int64_t now_us)
{
	struct command c;

	command_init(&c, id, station, kind);
	c.msg.expires_at_us = expires_at_us;
	return apply(m, &c, now_us);
}

static enum linesim_cmd_outcome adjust(struct linesim_model *m, const char *id, const char *station,
                                       const char *parameter, double delta, double target,
                                       double max_step, const char *unit)
{
	struct command c;

	command_init(&c, id, station, CMD(ADJUST));
	c.msg.parameter = (char *)parameter;
	c.msg.delta = delta;
	c.msg.target_value = target;
	c.msg.max_step = max_step;
	c.msg.unit = (char *)unit;
	return apply(m, &c, T0_US);
}

static unsigned station_index(const struct linesim_model *m, const char *station)
{
	char id[64];

	snprintf(id, sizeof(id), "L1-%s", station);
	for (unsigned s = 0; s < linesim_station_count(); s++)
		if (strcmp(linesim_model_station_id(m, 0, s), id) == 0)
			return s;
	fail_msg("no station %s", id);
	return 0;
}

/* Ticks line 0 n times from tick `first` (with telemetry like run()); returns cells started. */
static unsigned long long tick(struct linesim_model *m, struct recorder *r,
                               unsigned long long first, unsigned long long n)
{
	struct linesim_sink sink = {on_result, on_telemetry, r};
	unsigned long long started = 0;

	for (unsigned long long i = first; i < first + n; i++) {
		bool s = false;

		r->now_us = T0_US + (int64_t)i * STEP_US;
		assert_int_equal(linesim_model_tick(m, 0, r->now_us, &sink, &s), CT_OK);
		started += s;
		if (i % 5 == 0)
			assert_int_equal(linesim_model_telemetry(m, 0, r->now_us, &sink), CT_OK);
	}
	return started;
}

/* Commands the model must ignore, each for its own reason, and how it counts them. */
static void send_ignored(struct linesim_model *m, int64_t now_us)
{
	struct command c;
	struct linesim_command_report rep;
	uint8_t buf[512];
	size_t len;
	char topic[128];

	/* Not simulated: a station the line lacks, another site, a line not simulated. */
	assert_int_equal(simple(m, "x-1", "FOO-01", CMD(STOP), 0, now_us),
	                 LINESIM_CMD_NOT_SIMULATED);
	command_init(&c, "x-2", "FILL-01", CMD(STOP));
	c.msg.site = (char *)"site2";
	assert_int_equal(apply(m, &c, now_us), LINESIM_CMD_NOT_SIMULATED);
	command_init(&c, "x-3", "FILL-01", CMD(STOP));
	c.msg.line = (char *)"L2";
	snprintf(c.station, sizeof(c.station), "L2-FILL-01");
	assert_int_equal(apply(m, &c, now_us), LINESIM_CMD_NOT_SIMULATED);
	/* Expired on arrival. */
	assert_int_equal(simple(m, "x-4", "FILL-01", CMD(STOP), now_us - 1, now_us),
	                 LINESIM_CMD_EXPIRED);
	assert_int_equal(adjust(m, "x-5", "COAT-C01", "bogus_parameter", 1.0, 0.0, 1.0, ""),
	                 LINESIM_CMD_UNSUPPORTED);
	/* Malformed: no event ID, a station on another line than the command says, no kind,
	 * SLOW beyond 100 % or in the wrong unit, ADJUST in the wrong unit or without value. */
	command_init(&c, "", "FILL-01", CMD(STOP));
	assert_int_equal(apply(m, &c, now_us), LINESIM_CMD_INVALID);
	command_init(&c, "x-6", "FILL-01", CMD(STOP));
	c.msg.line = (char *)"L2";
	assert_int_equal(apply(m, &c, now_us), LINESIM_CMD_INVALID);
	assert_int_equal(simple(m, "x-7", "FILL-01", CMD(UNSPECIFIED), 0, now_us),
	                 LINESIM_CMD_INVALID);
	assert_int_equal(slow(m, "x-8", "FILL-01", 150.0, 0, now_us), LINESIM_CMD_INVALID);
	assert_int_equal(slow(m, "x-9", "FILL-01", 0.0, 0, now_us), LINESIM_CMD_INVALID);
	command_init(&c, "x-10", "FILL-01", CMD(SLOW));
	c.msg.target_value = 50.0;
	c.msg.unit = (char *)"cells/min";
	assert_int_equal(apply(m, &c, now_us), LINESIM_CMD_UNSUPPORTED);
	assert_int_equal(adjust(m, "x-11", "COAT-C01", "slot_die_gap", -1.0, 0.0, 2.0, "mm"),
	                 LINESIM_CMD_UNSUPPORTED);
	assert_int_equal(adjust(m, "x-12", "COAT-C01", "slot_die_gap", 0.0, 0.0, 2.0, "um"),
	                 LINESIM_CMD_INVALID);
	assert_int_equal(adjust(m, "x-13", "COAT-C01", "slot_die_gap", NAN, 0.0, 2.0, "um"),
	                 LINESIM_CMD_INVALID);
	/* Payloads: garbage, a topic that disagrees with the message, a non-command topic. */
	assert_int_equal(linesim_model_command_payload(m, "ct/v1/plant/site1/L1/L1-FILL-01/command",
	                                               "\xff\xff\xff\xff", 4, now_us, &rep),
	                 LINESIM_CMD_INVALID);
	assert_non_null(strstr(rep.text, "not a StationCommand"));
	command_init(&c, "x-14", "FILL-01", CMD(STOP));
	len = cellthread__v1__station_command__pack(&c.msg, buf);
	assert_int_equal(linesim_model_command_payload(m, "ct/v1/plant/site1/L1/L1-WELD-01/command",
	                                               buf, len, now_us, &rep),
	                 LINESIM_CMD_INVALID);
	assert_int_equal(linesim_model_command_payload(m, "ct/v1/sys/rpc/linesim/fault", buf, len,
	                                               now_us, &rep),
	                 LINESIM_CMD_INVALID);
	/* ...and the same command on its own topic would be applied: a STOP we do not want
	 * here, so it is sent expired. */
	c.msg.expires_at_us = now_us - 1000000;
	len = cellthread__v1__station_command__pack(&c.msg, buf);
	snprintf(topic, sizeof(topic), "ct/v1/plant/site1/L1/L1-FILL-01/command");
	assert_int_equal(linesim_model_command_payload(m, topic, buf, len, now_us, &rep),
	                 LINESIM_CMD_EXPIRED);
	assert_non_null(strstr(rep.text, "expired"));
}

static void test_command_golden_bytes(void **state)
{
	static const struct {
		unsigned mask;
		size_t len;
		uint64_t hash;
	} golden[] = {
	        {0, 16295611, 0xc2f8a470568c8edbULL},
	        {1u << LINESIM_FAULT_COATING_DRIFT, 16296360, 0xe7eb0702139b27c0ULL},
	        {(1u << LINESIM_FAULT_COUNT) - 1, 15610250, 0x53aeba409932ee27ULL},
	};

	(void)state;
	for (size_t k = 0; k < sizeof(golden) / sizeof(golden[0]); k++) {
		struct recorder r = {0};
		struct linesim_model *m = new_model(42, golden[k].mask);

		/* Ticks, not steps: with no command every tick is a cell. The last model also
		 * gets every kind of command it must ignore, half way. */
		assert_int_equal(tick(m, &r, 0, 1000), 1000);
		if (k == 2)
			send_ignored(m, r.now_us);
		assert_int_equal(tick(m, &r, 1000, 1000), 1000);
		assert_int_equal(r.len, golden[k].len);
		assert_true(fnv64(r.bytes, r.len) == golden[k].hash);
		if (k == 2) {
			const struct linesim_command_counts *c = linesim_model_command_counts(m);

			assert_int_equal(c->outcomes[LINESIM_CMD_APPLIED], 0);
			assert_int_equal(c->outcomes[LINESIM_CMD_NOT_SIMULATED], 3);
			assert_int_equal(c->outcomes[LINESIM_CMD_EXPIRED], 2);
			assert_int_equal(c->outcomes[LINESIM_CMD_UNSUPPORTED], 3);
			assert_int_equal(c->outcomes[LINESIM_CMD_INVALID], 10);
			assert_int_equal(c->ignored[CMD(STOP)], 8);
			assert_int_equal(c->ignored[CMD(SLOW)], 3);
			assert_int_equal(c->ignored[CMD(ADJUST)], 4);
			assert_int_equal(c->ignored[0], 3); /* UNSPECIFIED and the undecodable */
		}
		recorder_free(&r);
		linesim_model_free(m);
	}
}

static double last(const struct series *s)
{
	assert_true(s->n > 0);
	return s->v[s->n - 1];
}

/* coating_drift against the cathode coater's reaction plan (deploy/config/spc-linesim.sql,
 * coater-gap-c: ADJUST slot_die_gap by -7.5 x (loading - 20), at most 2 um, 140..160 um),
 * sent after each coil as spc-gate would; the same seed without commands drifts away. Twelve
 * coils (creep 7.2 %): within the plan's 140 um floor, so the loop can bring it all back. */
static void test_command_adjust_brings_loading_back(void **state)
{
	struct series a[2] = {{"COAT-C01", "areal_loading", SRC_MEASUREMENT, NULL, 0, 0},
	                      {"COAT-C01", "slot_die_gap", SRC_SETPOINT, NULL, 0, 0}};
	struct series b[3] = {{"COAT-C01", "areal_loading", SRC_MEASUREMENT, NULL, 0, 0},
	                      {"COAT-C01", "slot_die_gap", SRC_SETPOINT, NULL, 0, 0},
	                      {"COAT-C01", "slot_die_gap", SRC_PARAMETER, NULL, 0, 0}};
	struct recorder ra = {.series = a, .n_series = 2}, rb = {.series = b, .n_series = 3};
	unsigned drift = 1u << LINESIM_FAULT_COATING_DRIFT;
	struct linesim_model *ma = new_model(11, drift), *mb = new_model(11, drift);
	unsigned coat = station_index(mb, "COAT-C01");
	size_t coils = 0, n;
	unsigned long long sent = 0;

	(void)state;
	tick(ma, &ra, 0, 2000);
	/* Open loop for the first three coils, as the chart needs a few points to signal. */
	tick(mb, &rb, 0, 500);
	coils = b[0].n;
	for (unsigned long long i = 500; i < 2000; i++) {
		tick(mb, &rb, i, 1);
		if (b[0].n != coils) {
			double loading = last(&b[0]), setpoint = last(&b[1]);
			double delta = fmax(-2.0, fmin(2.0, -7.5 * (loading - 20.0)));
			double target = fmax(140.0, fmin(160.0, setpoint + delta));
			char id[32];

			coils = b[0].n;
			snprintf(id, sizeof(id), "c-%zu", coils);
			assert_int_equal(adjust(mb, id, "COAT-C01", "slot_die_gap",
			                        target - setpoint, target, 2.0, "um"),
			                 LINESIM_CMD_APPLIED);
			sent++;
		}
	}
	n = a[0].n;
	assert_int_equal(n, 12);
	assert_int_equal(b[0].n, n);
	assert_int_equal(sent, n - 3);
	/* Without commands the last four coils are ~6 % heavy; with them, back at nominal. */
	assert_true(mean(&a[0], n - 4, n) > 21.0);
	assert_true(fabs(mean(&b[0], n - 4, n) - 20.0) < 0.25);
	assert_true(fabs(mean(&b[0], n - 4, n) - 20.0) < fabs(mean(&a[0], n - 4, n) - 20.0) / 4);
	/* The setpoint reported moved by at most the plan's 2 um per coil, down against the
	 * creep, and is the model's; the actual is that setpoint crept open (7.2 %). */
	for (size_t i = 1; i < n; i++)
		assert_true(fabs(b[1].v[i] - b[1].v[i - 1]) <= 2.0 + 1e-9);
	assert_true(last(&b[1]) < 150.0 - 6.0);
	assert_true(linesim_model_setpoint(mb, 0, coat, "slot_die_gap") <= last(&b[1]));
	assert_true(fabs(last(&b[2]) / last(&b[1]) - 1.072) < 0.005);
	/* Unadjusted, the setpoint reported stays the nominal 150 um. */
	assert_true(a[1].v[0] == 150.0 && last(&a[1]) == 150.0);
	assert_int_equal(linesim_model_command_counts(mb)->applied[CMD(ADJUST)], sent);
	recorder_free(&ra);
	recorder_free(&rb);
	linesim_model_free(ma);
	linesim_model_free(mb);
}

/* ADJUST moves by delta (or to target_value when delta is 0), never more than max_step (or
 * 5 % of nominal when unset), never outside 75-125 % of nominal; the loading follows the
 * gap, and other parameters shift their setpoint and actual. */
static void test_command_adjust_limits(void **state)
{
	struct series s[4] = {{"COAT-C01", "areal_loading", SRC_MEASUREMENT, NULL, 0, 0},
	                      {"FILL-01", "nozzle_pressure", SRC_SETPOINT, NULL, 0, 0},
	                      {"FILL-01", "nozzle_pressure", SRC_PARAMETER, NULL, 0, 0},
	                      {"COAT-A01", "slot_die_gap", SRC_SETPOINT, NULL, 0, 0}};
	struct recorder r = {.series = s, .n_series = 4};
	struct linesim_model *m = new_model(21, 0);
	unsigned coat = station_index(m, "COAT-C01"), fill = station_index(m, "FILL-01");
	size_t before;
	double gap;

	(void)state;
	tick(m, &r, 0, 900); /* 6 coils at 150 um */
	before = s[0].n;
	assert_true(fabs(mean(&s[0], 0, before) - 20.0) < 0.06);
	/* -10 asked, 2 allowed. */
	assert_int_equal(adjust(m, "a-1", "COAT-C01", "slot_die_gap", -10.0, 140.0, 2.0, "um"),
	                 LINESIM_CMD_APPLIED);
	assert_true(linesim_model_setpoint(m, 0, coat, "slot_die_gap") == 148.0);
	/* Only a target: moves toward it, 2 at most. Unit may be left out. */
	assert_int_equal(adjust(m, "a-2", "COAT-C01", "slot_die_gap", 0.0, 145.0, 2.0, ""),
	                 LINESIM_CMD_APPLIED);
	assert_true(linesim_model_setpoint(m, 0, coat, "slot_die_gap") == 146.0);
	/* The undo: back by the same step. */
	assert_int_equal(adjust(m, "a-3", "COAT-C01", "slot_die_gap", 2.0, 148.0, 2.0, "um"),
	                 LINESIM_CMD_APPLIED);
	assert_true(linesim_model_setpoint(m, 0, coat, "slot_die_gap") == 148.0);
	/* The next coils are laid down at 148 / 150 of the loading. */
	tick(m, &r, 900, 900);
	assert_true(s[0].n >= before + 4);
	assert_true(fabs(mean(&s[0], before, s[0].n) - 20.0 * 148.0 / 150.0) < 0.06);
	/* max_step unset (0): the station's own 5 % of 150 = 7.5 um. */
	assert_int_equal(adjust(m, "a-4", "COAT-C01", "slot_die_gap", 20.0, 0.0, 0.0, "um"),
	                 LINESIM_CMD_APPLIED);
	assert_true(linesim_model_setpoint(m, 0, coat, "slot_die_gap") == 155.5);
	/* Never beyond 125 % of nominal (187.5 um), however often asked. */
	for (int i = 0; i < 10; i++) {
		char id[16];

		snprintf(id, sizeof(id), "a-up-%d", i);
		assert_int_equal(adjust(m, id, "COAT-C01", "slot_die_gap", 8.0, 0.0, 8.0, "um"),
		                 LINESIM_CMD_APPLIED);
	}
	assert_true(linesim_model_setpoint(m, 0, coat, "slot_die_gap") == 187.5);
	/* The anode coater has its own gap; the cathode's commands left it alone. */
	assert_true(last(&s[3]) == 130.0);
	/* Another parameter of another station: setpoint and actual move. */
	assert_int_equal(adjust(m, "a-5", "FILL-01", "nozzle_pressure", 0.1, 2.6, 0.2, "bar"),
	                 LINESIM_CMD_APPLIED);
	gap = linesim_model_setpoint(m, 0, fill, "nozzle_pressure");
	assert_true(fabs(gap - 2.6) < 1e-12);
	before = s[1].n;
	tick(m, &r, 1800, 100);
	assert_true(s[1].n >= before + 90);
	assert_true(last(&s[1]) == gap);
	assert_true(fabs(mean(&s[2], before, s[2].n) - 2.6) < 0.005);
	recorder_free(&r);
	linesim_model_free(m);
}

/* SLOW thins the line's cell starts to its share of the ticks, STOP halts them, RESUME and
 * expiry lift them; several stations: the slowest wins, any STOP stops. */
static void test_command_slow_stop_resume(void **state)
{
	struct recorder r = {0};
	struct linesim_model *m = new_model(8, 0);
	const struct linesim_line_stats *st = linesim_model_line_stats(m, 0);
	unsigned long long t = 0, finished, waiting;
	size_t results;

	(void)state;
	assert_int_equal(tick(m, &r, t, 100), 100);
	t += 100;
	assert_true(linesim_model_line_rate(m, 0) == 1.0);
	assert_int_equal(slow(m, "s-1", "FILL-01", 50.0, 0, r.now_us), LINESIM_CMD_APPLIED);
	assert_true(linesim_model_line_rate(m, 0) == 0.5);
	assert_int_equal(tick(m, &r, t, 100), 50);
	t += 100;
	/* The filler's plan: 60 %; a newer SLOW of the same station replaces the older. */
	assert_int_equal(slow(m, "s-2", "FILL-01", 60.0, 0, r.now_us), LINESIM_CMD_APPLIED);
	assert_int_equal(tick(m, &r, t, 100), 60);
	t += 100;
	/* The welder at 70 % as well: the line runs at the slower 60 %... */
	assert_int_equal(slow(m, "s-3", "WELD-01", 70.0, 0, r.now_us), LINESIM_CMD_APPLIED);
	assert_true(linesim_model_line_rate(m, 0) == 0.6);
	/* ...until the filler resumes. */
	assert_int_equal(simple(m, "s-4", "FILL-01", CMD(RESUME), 0, r.now_us),
	                 LINESIM_CMD_APPLIED);
	assert_true(linesim_model_line_rate(m, 0) == 0.7);
	assert_int_equal(tick(m, &r, t, 100), 70);
	t += 100;
	/* STOP: no cell starts and nothing is emitted, however long; cells waiting for their
	 * module keep waiting, none is lost. */
	assert_int_equal(simple(m, "s-5", "FILL-01", CMD(STOP), 0, r.now_us), LINESIM_CMD_APPLIED);
	assert_true(linesim_model_line_rate(m, 0) == 0.0);
	finished = st->cells_finished;
	waiting = finished - st->modules * 12;
	results = r.results;
	assert_int_equal(tick(m, &r, t, 5000), 0);
	t += 5000;
	assert_int_equal(r.results, results);
	assert_int_equal(st->cells_finished, finished);
	/* A RESUME of another station leaves the STOP in force. */
	assert_int_equal(simple(m, "s-6", "WELD-01", CMD(RESUME), 0, r.now_us),
	                 LINESIM_CMD_APPLIED);
	assert_int_equal(tick(m, &r, t, 10), 0);
	t += 10;
	/* The undo of the STOP: full rate, and the waiting cells go into the next module. */
	{
		struct command c;

		command_init(&c, "u-s-5", "FILL-01", CMD(RESUME));
		c.msg.undoes_event_id = (char *)"s-5";
		assert_int_equal(apply(m, &c, r.now_us), LINESIM_CMD_APPLIED);
	}
	assert_true(linesim_model_line_rate(m, 0) == 1.0);
	assert_int_equal(tick(m, &r, t, 100), 100);
	t += 100;
	assert_true(waiting > 0);
	assert_int_equal(st->modules, st->cells_finished / 12);
	assert_int_equal(linesim_model_command_counts(m)->applied[CMD(SLOW)], 3);
	assert_int_equal(linesim_model_command_counts(m)->applied[CMD(STOP)], 1);
	assert_int_equal(linesim_model_command_counts(m)->applied[CMD(RESUME)], 3);
	recorder_free(&r);
	linesim_model_free(m);
}

/* A SLOW or STOP with an expiry ends by itself; one without only by RESUME; an expired one
 * changes nothing; redeliveries are dropped by event ID. */
static void test_command_expiry_and_duplicates(void **state)
{
	struct recorder r = {0};
	struct linesim_model *m = new_model(4, 0);
	unsigned long long t = 0;

	(void)state;
	tick(m, &r, t++, 1);
	/* SLOW 50 % for 20 ticks (expiry at the 20th tick from now). */
	assert_int_equal(slow(m, "e-1", "WELD-01", 50.0, r.now_us + 20 * STEP_US, r.now_us),
	                 LINESIM_CMD_APPLIED);
	assert_int_equal(tick(m, &r, t, 19), 9);
	t += 19;
	assert_int_equal(tick(m, &r, t, 21), 21);
	t += 21;
	assert_true(linesim_model_line_rate(m, 0) == 1.0);
	/* The same event again (a redelivery): dropped, though not expired now. */
	assert_int_equal(slow(m, "e-1", "WELD-01", 50.0, 0, r.now_us), LINESIM_CMD_DUPLICATE);
	assert_true(linesim_model_line_rate(m, 0) == 1.0);
	/* Expired on arrival: nothing happens. */
	assert_int_equal(simple(m, "e-2", "WELD-01", CMD(STOP), r.now_us - 1, r.now_us),
	                 LINESIM_CMD_EXPIRED);
	assert_int_equal(tick(m, &r, t, 10), 10);
	t += 10;
	/* A STOP that expires in 10 ticks, and one that never does. */
	assert_int_equal(simple(m, "e-3", "FILL-01", CMD(STOP), r.now_us + 10 * STEP_US, r.now_us),
	                 LINESIM_CMD_APPLIED);
	assert_int_equal(tick(m, &r, t, 9), 0);
	t += 9;
	assert_int_equal(tick(m, &r, t, 10), 10);
	t += 10;
	assert_int_equal(simple(m, "e-4", "FILL-01", CMD(STOP), 0, r.now_us), LINESIM_CMD_APPLIED);
	assert_int_equal(tick(m, &r, t, 50000), 0); /* ~3 hours of schedule */
	t += 50000;
	assert_int_equal(simple(m, "e-5", "FILL-01", CMD(RESUME), 0, r.now_us),
	                 LINESIM_CMD_APPLIED);
	assert_int_equal(tick(m, &r, t, 5), 5);
	t += 5;
	/* The ID window is bounded: after LINESIM_CMD_SEEN others, an old ID is new again. */
	for (int i = 0; i < LINESIM_CMD_SEEN; i++) {
		char id[16];

		snprintf(id, sizeof(id), "w-%d", i);
		assert_int_equal(simple(m, id, "VIS-01", CMD(RESUME), 0, r.now_us),
		                 LINESIM_CMD_APPLIED);
	}
	assert_int_equal(simple(m, "e-5", "FILL-01", CMD(RESUME), 0, r.now_us),
	                 LINESIM_CMD_APPLIED);
	assert_int_equal(linesim_model_command_counts(m)->outcomes[LINESIM_CMD_DUPLICATE], 1);
	assert_int_equal(linesim_model_command_counts(m)->outcomes[LINESIM_CMD_EXPIRED], 1);
	recorder_free(&r);
	linesim_model_free(m);
}

/* The summary counts commands applied and ignored by kind, and ignored ones by reason. */
static void test_command_summary(void **state)
{
	struct fake_broker fb = {0};
	struct linesim_out_config oc = {200, 100, 512 * 1024, fake_publish, &fb};
	struct linesim_out *out = NULL;
	struct linesim_model *m = new_model(42, 0);
	json_t *summary, *commands;

	(void)state;
	assert_int_equal(linesim_out_new(&oc, 1, linesim_station_count(), &out), CT_OK);
	summary = linesim_out_summary(out, m);
	commands = json_object_get(summary, "commands");
	assert_non_null(commands);
	assert_int_equal(
	        json_integer_value(json_object_get(json_object_get(commands, "applied"), "stop")),
	        0);
	json_decref(summary);
	assert_int_equal(slow(m, "k-1", "FILL-01", 60.0, 0, T0_US), LINESIM_CMD_APPLIED);
	assert_int_equal(simple(m, "k-2", "FILL-01", CMD(STOP), 0, T0_US), LINESIM_CMD_APPLIED);
	assert_int_equal(simple(m, "k-2", "FILL-01", CMD(STOP), 0, T0_US), LINESIM_CMD_DUPLICATE);
	assert_int_equal(simple(m, "k-3", "NOPE-01", CMD(RESUME), 0, T0_US),
	                 LINESIM_CMD_NOT_SIMULATED);
	summary = linesim_out_summary(out, m);
	commands = json_object_get(summary, "commands");
	assert_int_equal(
	        json_integer_value(json_object_get(json_object_get(commands, "applied"), "slow")),
	        1);
	assert_int_equal(
	        json_integer_value(json_object_get(json_object_get(commands, "applied"), "stop")),
	        1);
	assert_int_equal(
	        json_integer_value(json_object_get(json_object_get(commands, "ignored"), "stop")),
	        1);
	assert_int_equal(
	        json_integer_value(json_object_get(json_object_get(commands, "ignored"), "resume")),
	        1);
	assert_int_equal(json_integer_value(json_object_get(
	                         json_object_get(commands, "ignored_by_reason"), "duplicate")),
	                 1);
	assert_int_equal(json_integer_value(json_object_get(
	                         json_object_get(commands, "ignored_by_reason"), "not_simulated")),
	                 1);
	json_decref(summary);
	linesim_out_free(out);
	linesim_model_free(m);
}

/* sim.history's durations: a whole number and d, h, m or s; nothing else. */
static void test_history_duration_parse(void **state)
{
	const char *bad[] = {"7",  "d",    "7x",   "-7d", "7d ", " 7d",
	                     "0d", "367d", "1.5h", "7D",  "+7d", "99999999999999999999d"};
	int64_t us = -1;
	char err[256];

	(void)state;
	assert_int_equal(linesim_duration_parse("", &us, err, sizeof(err)), CT_OK);
	assert_int_equal(us, 0);
	assert_int_equal(linesim_duration_parse(NULL, &us, err, sizeof(err)), CT_OK);
	assert_int_equal(us, 0);
	assert_int_equal(linesim_duration_parse("7d", &us, err, sizeof(err)), CT_OK);
	assert_int_equal(us, 604800LL * 1000000);
	assert_int_equal(linesim_duration_parse("36h", &us, err, sizeof(err)), CT_OK);
	assert_int_equal(us, 129600LL * 1000000);
	assert_int_equal(linesim_duration_parse("90m", &us, err, sizeof(err)), CT_OK);
	assert_int_equal(us, 5400LL * 1000000);
	assert_int_equal(linesim_duration_parse("45s", &us, err, sizeof(err)), CT_OK);
	assert_int_equal(us, 45LL * 1000000);
	assert_int_equal(linesim_duration_parse("366d", &us, err, sizeof(err)), CT_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		us = -1;
		err[0] = '\0';
		if (linesim_duration_parse(bad[i], &us, err, sizeof(err)) != CT_ERR_INVALID)
			fail_msg("'%s' accepted", bad[i]);
		assert_int_equal(us, -1);
		assert_non_null(strstr(err, bad[i]));
	}
}

/* The simulated clock: tick 0 at end - length, one tick per 1/rate s, exactly the ticks
 * before the end, computed (never summed) so millions of ticks do not drift. */
static void test_history_clock(void **state)
{
	const int64_t end = T0_US + 123457;
	const double rates[] = {5.0, 3.0, 0.1, 7.3, 5000.0};
	struct linesim_clock c;

	(void)state;
	linesim_clock_init(&c, end, 604800LL * 1000000, 5.0);
	assert_int_equal(c.start_us, end - 604800LL * 1000000);
	assert_int_equal(linesim_clock_tick_us(&c, 0), c.start_us);
	assert_int_equal(linesim_clock_tick_us(&c, 5), c.start_us + 1000000);
	assert_int_equal(linesim_clock_history_ticks(&c), 3024000ULL); /* a week at 5/s */
	assert_int_equal(linesim_clock_tick_us(&c, 3024000ULL - 1), end - 200000);
	for (size_t k = 0; k < sizeof(rates) / sizeof(rates[0]); k++) {
		unsigned long long n;

		linesim_clock_init(&c, end, 2LL * 86400 * 1000000, rates[k]);
		n = linesim_clock_history_ticks(&c);
		assert_true(n > 0);
		assert_true(linesim_clock_tick_us(&c, n - 1) < end);
		assert_true(linesim_clock_tick_us(&c, n) >= end);
		assert_true(fabs((double)n - 2.0 * 86400 * rates[k]) <= 1.0);
		for (unsigned long long i = 1; i < n; i += 1 + n / 1000)
			assert_true(linesim_clock_tick_us(&c, i) >
			            linesim_clock_tick_us(&c, i - 1));
	}
	linesim_clock_init(&c, end, 0, 5.0); /* a live run: no history */
	assert_int_equal(linesim_clock_history_ticks(&c), 0);
	assert_int_equal(linesim_clock_tick_us(&c, 10), end + 2000000);
}

/* A model ticked on a history's clock: every visit inside the simulated period, each
 * station's visits in time order, telemetry on the simulated clock, and the nozzle fault
 * wavers as it does live (its dynamics count fills, not seconds). */
static void test_history_model_on_clock(void **state)
{
	struct series fill = {"FILL-01", "fill_mass", SRC_MEASUREMENT, NULL, 0, 0};
	struct recorder r;
	struct linesim_sink sink = {on_result, on_telemetry, &r};
	struct linesim_model *m = new_model(7, 1u << LINESIM_FAULT_NOZZLE);
	struct linesim_clock c;
	int64_t next_tel;
	unsigned long long n;
	double lag1 = 0.0;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.series = &fill;
	r.n_series = 1;
	r.keep = true;
	linesim_clock_init(&c, T0_US, 3600LL * 1000000, 0.25); /* an hour: 900 cells */
	n = linesim_clock_history_ticks(&c);
	assert_int_equal(n, 900);
	next_tel = c.start_us;
	for (unsigned long long i = 0; i < n; i++) {
		r.now_us = linesim_clock_tick_us(&c, i);
		assert_int_equal(linesim_model_tick(m, 0, r.now_us, &sink, NULL), CT_OK);
		if (r.now_us >= next_tel) {
			assert_int_equal(linesim_model_telemetry(m, 0, r.now_us, &sink), CT_OK);
			next_tel = r.now_us + 1000000;
		}
	}
	assert_false(r.bad_time);
	assert_int_equal(linesim_model_line_stats(m, 0)->cells_started, 900);
	/* 10 samples a simulated second: an hour's worth, none skipped. */
	assert_true(r.telemetry > 0);
	assert_true(r.samples >= 4 * 10 * 3599);
	for (size_t i = 0; i < r.n_kept; i++) {
		const Cellthread__V1__StationResult *a = r.kept[i];

		assert_true(a->started_at_us >= c.start_us - LINESIM_STEP_SPAN_US);
		assert_true(a->ended_at_us < c.end_us);
		for (size_t j = i + 1; j < r.n_kept && j < i + 400; j++)
			if (strcmp(r.kept[j]->station, a->station) == 0) {
				assert_true(r.kept[j]->ended_at_us > a->ended_at_us);
				break;
			}
	}
	assert_true(fill.n > 800);
	for (size_t i = 1; i < fill.n; i++)
		lag1 += (fill.v[i] - 5.0) * (fill.v[i - 1] - 5.0);
	assert_true(lag1 < 0.0);
	recorder_free(&r);
	linesim_model_free(m);
}

/* ---- Station states (sim.states), scenarios and acknowledgements ---- */

#define SK(k) CELLTHREAD__V1__STATION_STATE_KIND__STATION_STATE_##k
#define S_US  1000000LL

struct state_rec {
	unsigned station;
	int kind;
	char reason[65], text[65], asset[65], recipe[65], event_id[65];
	int64_t since_us;
	double rate;
};

/* Records states, every cell's completion time (from its WIND visit) and the NOK results. */
struct srec {
	struct state_rec *states;
	size_t n_states, cap_states;
	int64_t *cells;
	size_t n_cells, cap_cells;
	struct {
		char station[65], unit[65];
		int64_t ended_at_us;
	} nok[64];
	size_t n_nok;
	size_t results;
	char wind_recipe_last[65];
	struct recorder values; /* series of values, as the recorder above */
};

static int s_on_result(void *ctx, const struct linesim_result *res)
{
	struct srec *r = ctx;
	const Cellthread__V1__StationResult *m = res->msg;

	r->results++;
	if (ends_with(m->station, "-WIND-01")) {
		if (r->n_cells == r->cap_cells) {
			r->cap_cells = r->cap_cells ? r->cap_cells * 2 : 1024;
			r->cells = realloc(r->cells, r->cap_cells * sizeof(*r->cells));
			assert_non_null(r->cells);
		}
		/* WIND (index 10) ends 10 slots before the cell's time. */
		r->cells[r->n_cells++] = m->ended_at_us + 10 * LINESIM_SLOT_US;
		snprintf(r->wind_recipe_last, sizeof(r->wind_recipe_last), "%s", m->recipe);
	}
	if (m->result == CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_NOK && r->n_nok < 64) {
		snprintf(r->nok[r->n_nok].station, 65, "%s", m->station);
		snprintf(r->nok[r->n_nok].unit, 65, "%s", m->unit_id);
		r->nok[r->n_nok].ended_at_us = m->ended_at_us;
		assert_true(m->n_exceptions >= 1);
		r->n_nok++;
	}
	r->values.now_us = m->ended_at_us + LINESIM_STEP_SPAN_US; /* within the step */
	return on_result(&r->values, res);
}

static int s_on_telemetry(void *ctx, const struct linesim_telemetry *t)
{
	(void)ctx;
	(void)t;
	return 0;
}

static int s_on_state(void *ctx, const struct linesim_state *st)
{
	struct srec *r = ctx;
	const Cellthread__V1__StationState *m = st->msg;
	struct state_rec *s;

	if (r->n_states == r->cap_states) {
		r->cap_states = r->cap_states ? r->cap_states * 2 : 256;
		r->states = realloc(r->states, r->cap_states * sizeof(*r->states));
		assert_non_null(r->states);
	}
	s = &r->states[r->n_states++];
	assert_true(is_id(m->header->event_id));
	assert_true(m->since_us == m->header->produced_at_us);
	assert_string_equal(m->station, st->station_id);
	s->station = st->station;
	s->kind = m->state;
	snprintf(s->reason, 65, "%s", m->reason_code);
	snprintf(s->text, 65, "%s", m->reason_text);
	snprintf(s->asset, 65, "%s", m->asset);
	snprintf(s->recipe, 65, "%s", m->recipe);
	snprintf(s->event_id, 65, "%s", m->header->event_id);
	s->since_us = m->since_us;
	s->rate = m->rate_per_hour;
	/* Planned and unplanned downtime always carry a reason. */
	if (m->state == SK(PLANNED_DOWNTIME) || m->state == SK(UNPLANNED_DOWNTIME))
		assert_true(m->reason_code[0] != '\0');
	return 0;
}

static void srec_free(struct srec *r)
{
	free(r->states);
	free(r->cells);
	recorder_free(&r->values);
}

/* The state station `suffix` of L1 entered at t, or NULL when none. */
static const struct state_rec *state_at(const struct srec *r, const struct linesim_model *m,
                                        const char *suffix, int64_t t)
{
	unsigned s = station_index(m, suffix);

	for (size_t i = 0; i < r->n_states; i++)
		if (r->states[i].station == s && r->states[i].since_us == t)
			return &r->states[i];
	return NULL;
}

static void expect_state(const struct srec *r, const struct linesim_model *m, const char *suffix,
                         int64_t t, int kind, const char *reason)
{
	const struct state_rec *s = state_at(r, m, suffix, t);

	if (s == NULL) {
		fail_msg("no state of %s at %lld", suffix, (long long)t);
		return;
	}
	if (s->kind != kind || strcmp(s->reason, reason) != 0)
		fail_msg("%s at %lld: state %d '%s', want %d '%s'", suffix, (long long)t, s->kind,
		         s->reason, kind, reason);
}

static struct linesim_model *new_states_model(uint64_t seed, double rate, bool downtime,
                                              const struct linesim_scenario *sc)
{
	struct linesim_model_config cfg = {"site1", 1, seed, 12, 4, 0.0, 0};
	struct linesim_model *m = NULL;
	char err[128];

	cfg.states = true;
	cfg.rate = rate;
	cfg.downtime = downtime;
	cfg.mtbf_s = 900;
	cfg.micro_every_s = 120;
	cfg.scenario = sc;
	cfg.checks_off = sc != NULL;
	assert_int_equal(linesim_model_new(&cfg, &m, err, sizeof(err)), CT_OK);
	return m;
}

static const char example[] = "# the README's example\n"
                              "start 2025-11-22T06:00:00Z\n"
                              "rate 1                      # cells per second\n"
                              "300 L1-WELD-01 breakdown 60 BREAKDOWN.WELD.HORN L1-WELD-01.horn\n"
                              "600 L1 planned 120 BREAK\n"
                              "900 L1-VIS-01 microstop 10 MICRO.VISION_TRIP\n"
                              "1200 L1 changeover 120 HE\n"
                              "1500 L1 slow 300 50\n"
                              "1000 L1-SEAL-01 scrap 3\n"
                              "2300 L1 latefail 5 100\n"
                              "2400 end\n";

static void test_scenario_parse(void **state)
{
	struct linesim_scenario sc;
	char err[256];
	static const struct {
		const char *text, *why;
	} bad[] = {
	        {"start 2025-11-22T06:00:00Z\n", "needs"},
	        {"10 end\n", "needs"},
	        {"start 2025-11-22T06:00:00Z\n10 L1 explode 5\n20 end\n", "line 2: unknown verb"},
	        {"start 2025-11-22T06:00:00Z\n10 L1 slow 5 150\n20 end\n", "line 2"},
	        {"start yesterday\n", "line 1"},
	        {"start 2025-11-22T06:00:00Z\n\n10 L1-FOO-01 breakdown 5 X\n20 end\n", "line 3"},
	        {"start 2025-11-22T06:00:00Z\n10 L1-MIX-C01 scrap 2\n20 end\n", "cell station"},
	        {"start 2025-11-22T06:00:00Z\n10 L1 latefail 2 10\n20 end\n", "before"},
	        {"start 2025-11-22T06:00:00Z\n30 L1 planned 5 BREAK\n20 end\n", "not before"},
	        {"start 2025-11-22T06:00:00Z\n10 L1 changeover 5 XL\n20 end\n", "STD and HE"},
	        {"start 2025-11-22T06:00:00Z\n10 L1-WELD-01 breakdown 5 BAD/CODE\n20 end\n",
	         "line 2"},
	        {"start 2025-11-22T06:00:00Z\n10 L1-WELD-01 breakdown 5 A:B\n20 end\n", "line 2"},
	        /* Once each; decimal numbers only; SLOW 1-100 %. */
	        {"start 2025-11-22T06:00:00Z\nstart 2025-11-23T06:00:00Z\n20 end\n",
	         "line 2: a second 'start'"},
	        {"start 2025-11-22T06:00:00Z\nrate 1\nrate 2\n20 end\n", "line 3: a second 'rate'"},
	        {"start 2025-11-22T06:00:00Z\n20 end\n30 end\n", "line 3: a second 'end'"},
	        {"start 2025-11-22T06:00:00Z\nrate 0x1p2\n20 end\n", "line 2"},
	        {"start 2025-11-22T06:00:00Z\n0x1p3 L1 planned 5 BREAK\n20 end\n", "line 2"},
	        {"start 2025-11-22T06:00:00Z\n10 L1 planned 0x5 BREAK\n20 end\n", "line 2"},
	        {"start 2025-11-22T06:00:00Z\n10 L1 slow 5 0.5\n20 end\n", "line 2"},
	        {"start 2025-11-22T06:00:00Z\n10 L1 slow 5 1e-12\n20 end\n", "line 2"},
	};
	static const char nul_text[] = "start 2025-11-22T06:00:00Z\n20 end\n"
	                               "10 L1 planned 5 BREAK\0 15 L1 explode\n";
	char path[] = "/tmp/test_linesim_scenario_XXXXXX";
	FILE *f;
	int fd;

	(void)state;
	assert_int_equal(linesim_scenario_parse(example, &sc, err, sizeof(err)), CT_OK);
	assert_int_equal(sc.start_us, T0_US);
	assert_int_equal(sc.end_us, T0_US + 2400 * S_US);
	assert_true(sc.rate == 1.0);
	assert_int_equal(sc.n_events, 7);
	/* Sorted by time: the scrap at 1000 comes before the changeover at 1200. */
	assert_int_equal(sc.events[3].kind, LINESIM_EV_SCRAP);
	assert_int_equal(sc.events[3].at_us, T0_US + 1000 * S_US);
	assert_int_equal(sc.events[0].kind, LINESIM_EV_BREAKDOWN);
	assert_string_equal(sc.events[0].reason, "BREAKDOWN.WELD.HORN");
	assert_string_equal(sc.events[0].asset, "L1-WELD-01.horn");
	assert_int_equal(sc.events[0].duration_us, 60 * S_US);
	assert_int_equal(sc.events[1].station, -1);
	assert_int_equal(sc.events[4].variant, 1);
	assert_true(sc.events[5].share == 0.5);
	assert_int_equal(sc.events[6].count, 5);
	assert_int_equal(sc.events[6].from_us, T0_US + 100 * S_US);
	linesim_scenario_free(&sc);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(linesim_scenario_parse(bad[i].text, &sc, err, sizeof(err)),
		                 CT_ERR_INVALID);
		if (strstr(err, bad[i].why) == NULL)
			fail_msg("'%s': error '%s' lacks '%s'", bad[i].text, err, bad[i].why);
	}
	/* SLOW at 1 % is the least taken. */
	assert_int_equal(linesim_scenario_parse("start 2025-11-22T06:00:00Z\n10 L1 slow 5 1\n"
	                                        "20 end\n",
	                                        &sc, err, sizeof(err)),
	                 CT_OK);
	linesim_scenario_free(&sc);
	/* A NUL byte in the file is refused with its line, not read as the text's end. */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(nul_text, 1, sizeof(nul_text) - 1, f), sizeof(nul_text) - 1);
	assert_int_equal(fclose(f), 0);
	err[0] = '\0';
	assert_int_equal(linesim_scenario_load(path, &sc, err, sizeof(err)), CT_ERR_INVALID);
	unlink(path);
	if (strstr(err, "line 3: a NUL byte") == NULL)
		fail_msg("NUL: error '%s'", err);
}

/* The README's example, run through the model: cells exactly on the production rule, the
 * states and rejects it scripts, nothing else. */
static void test_scenario_example_by_hand(void **state)
{
	static const struct {
		int from, to, step; /* cell times in seconds after the start, both included */
	} segments[] = {
	        {1, 299, 1},     /* the breakdown [300, 360) takes the cell of 300 */
	        {361, 599, 1},   /* restart R = 360; the BREAK [600, 720) */
	        {721, 899, 1},   /* micro-stop [900, 910) */
	        {911, 1199, 1},  /* changeover [1200, 1320) */
	        {1321, 1500, 1}, /* the cell of 1500 is the old schedule's, still producing */
	        {1502, 1800, 2}, /* SLOW 50 %: a cycle of 2 s until 1800 */
	        {1801, 2399, 1}, /* up to the end, not including it */
	};
	struct linesim_scenario sc;
	struct srec r;
	struct linesim_sink sink = {s_on_result, s_on_telemetry, &r};
	struct linesim_state_sink ss = {s_on_state, &r};
	struct linesim_model *m;
	const struct linesim_line_stats *st;
	size_t n = 0, late = 0, scrapped = 0;
	char err[256];

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(linesim_scenario_parse(example, &sc, err, sizeof(err)), CT_OK);
	m = new_states_model(42, sc.rate, false, &sc);
	linesim_scenario_free(&sc); /* the model keeps its own copy */
	linesim_model_begin(m, T0_US);
	assert_int_equal(linesim_model_advance(m, 0, T0_US + 2400 * S_US - 1, 0, &sink, &ss),
	                 CT_OK);
	st = linesim_model_line_stats(m, 0);

	/* Cells: 299 + 239 + 179 + 289 + 180 + 150 + 599 = 1935, each at its time. */
	for (size_t i = 0; i < sizeof(segments) / sizeof(segments[0]); i++)
		for (int t = segments[i].from; t <= segments[i].to; t += segments[i].step) {
			assert_true(n < r.n_cells);
			if (r.cells[n] != T0_US + t * S_US)
				fail_msg("cell %zu at %.3f s, want %d s", n,
				         (double)(r.cells[n] - T0_US) / 1e6, t);
			n++;
		}
	assert_int_equal(n, 1935);
	assert_int_equal(r.n_cells, 1935);
	assert_int_equal(st->cells_started, 1935);
	assert_int_equal(st->cells_scrapped, 3);
	assert_int_equal(st->cells_finished, 1932);
	assert_int_equal(linesim_model_state_stats(m, 0)->late_failed, 5);
	assert_false(r.values.bad_id);

	/* Rejects: the 3 cells of 1000..1002 at SEAL; 5 EOL retests at 2300 of the good cells
	 * of 100..104 (IDs in order: cell n is L1-C%08u of its sequence). */
	for (size_t i = 0; i < r.n_nok; i++) {
		if (strcmp(r.nok[i].station, "L1-SEAL-01") == 0) {
			int64_t t = r.nok[i].ended_at_us + 6 * LINESIM_SLOT_US;

			assert_true(t >= T0_US + 1000 * S_US && t <= T0_US + 1002 * S_US);
			scrapped++;
		} else {
			char want[32];

			assert_string_equal(r.nok[i].station, "L1-EOL-01");
			assert_int_equal(r.nok[i].ended_at_us + 3 * LINESIM_SLOT_US,
			                 T0_US + 2300 * S_US);
			snprintf(want, sizeof(want), "L1-C%08zu", 100 + late);
			assert_string_equal(r.nok[i].unit, want);
			late++;
		}
	}
	assert_int_equal(scrapped, 3);
	assert_int_equal(late, 5);

	/* States: all 21 PRODUCING at the start, with the recipe in force. */
	for (unsigned s = 0; s < linesim_station_count(); s++)
		assert_int_equal(r.states[s].kind, SK(PRODUCING));
	assert_string_equal(state_at(&r, m, "WIND-01", T0_US)->recipe, "WIND-21700");
	assert_true(state_at(&r, m, "WIND-01", T0_US)->rate == 3600.0);
	assert_true(state_at(&r, m, "MOD-01", T0_US)->rate == 300.0);
	/* The breakdown: upstream blocked, downstream starved, electrode stations unaffected. */
	expect_state(&r, m, "WELD-01", T0_US + 300 * S_US, SK(UNPLANNED_DOWNTIME),
	             "BREAKDOWN.WELD.HORN");
	assert_string_equal(state_at(&r, m, "WELD-01", T0_US + 300 * S_US)->asset,
	                    "L1-WELD-01.horn");
	expect_state(&r, m, "WIND-01", T0_US + 300 * S_US, SK(BLOCKED), "");
	expect_state(&r, m, "INS-01", T0_US + 300 * S_US, SK(STARVED), "");
	expect_state(&r, m, "VIS-01", T0_US + 300 * S_US, SK(STARVED), "");
	expect_state(&r, m, "PACK-01", T0_US + 300 * S_US, SK(STARVED), "");
	assert_null(state_at(&r, m, "COAT-C01", T0_US + 300 * S_US));
	expect_state(&r, m, "WIND-01", T0_US + 360 * S_US, SK(PRODUCING), "");
	expect_state(&r, m, "WELD-01", T0_US + 360 * S_US, SK(PRODUCING), "");
	/* The break: every station. */
	for (unsigned s = 0; s < linesim_station_count(); s++) {
		const char *id = linesim_model_station_id(m, 0, s) + 3;

		expect_state(&r, m, id, T0_US + 600 * S_US, SK(PLANNED_DOWNTIME), "BREAK");
		expect_state(&r, m, id, T0_US + 720 * S_US, SK(PRODUCING), "");
	}
	/* The micro-stop at the last cell station: everything before it blocked. */
	expect_state(&r, m, "VIS-01", T0_US + 900 * S_US, SK(UNPLANNED_DOWNTIME),
	             "MICRO.VISION_TRIP");
	expect_state(&r, m, "EOL-01", T0_US + 900 * S_US, SK(BLOCKED), "");
	expect_state(&r, m, "MOD-01", T0_US + 900 * S_US, SK(STARVED), "");
	/* The changeover: cell stations to the HE recipe, MOD starved, coater producing. */
	expect_state(&r, m, "WIND-01", T0_US + 1200 * S_US, SK(PLANNED_DOWNTIME), "CHANGEOVER");
	assert_string_equal(state_at(&r, m, "WIND-01", T0_US + 1200 * S_US)->recipe,
	                    "WIND-21700-HE");
	expect_state(&r, m, "MOD-01", T0_US + 1200 * S_US, SK(STARVED), "");
	assert_null(state_at(&r, m, "COAT-A01", T0_US + 1200 * S_US));
	assert_string_equal(r.wind_recipe_last, "WIND-21700-HE");
	/* SLOW: producing at half the rate, then back. */
	expect_state(&r, m, "FILL-01", T0_US + 1500 * S_US, SK(PRODUCING), "");
	assert_true(state_at(&r, m, "FILL-01", T0_US + 1500 * S_US)->rate == 1800.0);
	assert_true(state_at(&r, m, "FILL-01", T0_US + 1800 * S_US)->rate == 3600.0);
	/* Event IDs: unique. */
	for (size_t i = 1; i < r.n_states; i++)
		assert_string_not_equal(r.states[i].event_id, r.states[i - 1].event_id);
	srec_free(&r);
	linesim_model_free(m);
}

/* An event at the very start: the first state of each station is already the scripted one
 * (no two states of a station at one instant), and the line makes its first cell only after
 * the stop. */
static void test_scenario_event_at_start(void **state)
{
	static const char text[] = "start 2025-11-22T06:00:00Z\n"
	                           "rate 2\n"
	                           "0 L1 planned 10 SETUP\n"
	                           "0 L1-MIX-C01 breakdown 20 BREAKDOWN.GENERIC\n"
	                           "20 end\n";
	struct linesim_scenario sc;
	struct srec r;
	struct linesim_sink sink = {s_on_result, s_on_telemetry, &r};
	struct linesim_state_sink ss = {s_on_state, &r};
	struct linesim_model *m;
	char err[256];

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(linesim_scenario_parse(text, &sc, err, sizeof(err)), CT_OK);
	m = new_states_model(5, sc.rate, false, &sc);
	linesim_scenario_free(&sc);
	linesim_model_begin(m, T0_US);
	assert_int_equal(linesim_model_advance(m, 0, T0_US + 20 * S_US - 1, 0, &sink, &ss), CT_OK);
	/* 21 at the start, all PLANNED_DOWNTIME SETUP (a planned stop comes before MIX's own
	 * breakdown); 21 at 10 s: 20 back to PRODUCING, MIX to its breakdown; MIX's return at
	 * 20 s is the end, not before it. */
	assert_int_equal(r.n_states, 42);
	for (unsigned s = 0; s < linesim_station_count(); s++)
		assert_int_equal(r.states[s].kind, SK(PLANNED_DOWNTIME));
	expect_state(&r, m, "MIX-C01", T0_US + 10 * S_US, SK(UNPLANNED_DOWNTIME),
	             "BREAKDOWN.GENERIC");
	expect_state(&r, m, "WIND-01", T0_US + 10 * S_US, SK(PRODUCING), "");
	/* Cells at 10.5 .. 19.5 s: 19 (an electrode breakdown does not stop the line). */
	assert_int_equal(r.n_cells, 19);
	assert_int_equal(r.cells[0], T0_US + 10500000);
	srec_free(&r);
	linesim_model_free(m);
}

/* With sim.states: the production rule under STOP and SLOW commands, the states they give,
 * and every command's acknowledgement. */
static void test_states_commands_and_acks(void **state)
{
	struct srec r;
	struct linesim_sink sink = {s_on_result, s_on_telemetry, &r};
	struct linesim_state_sink ss = {s_on_state, &r};
	struct linesim_model *m = new_states_model(7, 5.0, false, NULL);
	const struct linesim_line_stats *st = linesim_model_line_stats(m, 0);
	struct linesim_command_report rep, again;
	struct command c;

	(void)state;
	memset(&r, 0, sizeof(r));
	linesim_model_begin(m, T0_US);
	assert_int_equal(linesim_model_advance(m, 0, T0_US + 10 * S_US, 0, &sink, &ss), CT_OK);
	assert_int_equal(st->cells_started, 50);
	assert_int_equal(linesim_model_advance(m, 0, T0_US + 10100000, 0, &sink, &ss), CT_OK);

	/* STOP at FILL until 20 s: FILL quality stop, upstream blocked, downstream starved. */
	command_init(&c, "stop-1", "FILL-01", CMD(STOP));
	c.msg.expires_at_us = T0_US + 20 * S_US;
	assert_int_equal(linesim_model_command(m, &c.msg, T0_US + 10100000, &rep),
	                 LINESIM_CMD_APPLIED);
	assert_true(rep.ack);
	assert_int_equal(rep.ack_status,
	                 CELLTHREAD__V1__COMMAND_ACK_STATUS__COMMAND_ACK_STATUS_ACCEPTED);
	assert_string_equal(rep.event_id, "stop-1");
	assert_string_equal(rep.station, "L1-FILL-01");
	assert_int_equal(rep.acked_at_us, T0_US + 10100000);
	assert_int_equal(linesim_model_advance(m, 0, T0_US + 30 * S_US, 0, &sink, &ss), CT_OK);
	expect_state(&r, m, "FILL-01", T0_US + 10100000, SK(UNPLANNED_DOWNTIME), "QUALITY_STOP");
	assert_string_equal(state_at(&r, m, "FILL-01", T0_US + 10100000)->text, "TEST_REASON");
	expect_state(&r, m, "WIND-01", T0_US + 10100000, SK(BLOCKED), "");
	expect_state(&r, m, "SEAL-01", T0_US + 10100000, SK(STARVED), "");
	expect_state(&r, m, "FILL-01", T0_US + 20 * S_US, SK(PRODUCING), "");
	/* No cell in (10, 20]; from R = 20 s one every 0.2 s: 50 more by 30 s. */
	assert_int_equal(st->cells_started, 100);
	assert_int_equal(r.cells[50], T0_US + 20200000);

	/* The same command again: acknowledged again, the same acknowledgement. */
	assert_int_equal(linesim_model_command(m, &c.msg, T0_US + 31 * S_US, &again),
	                 LINESIM_CMD_DUPLICATE);
	assert_true(again.ack);
	assert_int_equal(again.ack_status, rep.ack_status);
	assert_int_equal(again.acked_at_us, rep.acked_at_us);
	assert_string_equal(again.ack_detail, rep.ack_detail);
	/* Expired, invalid, unsupported, not simulated. */
	command_init(&c, "late-1", "FILL-01", CMD(STOP));
	c.msg.expires_at_us = T0_US;
	assert_int_equal(linesim_model_command(m, &c.msg, T0_US + 30 * S_US, &rep),
	                 LINESIM_CMD_EXPIRED);
	assert_true(rep.ack);
	assert_int_equal(rep.ack_status,
	                 CELLTHREAD__V1__COMMAND_ACK_STATUS__COMMAND_ACK_STATUS_EXPIRED);
	command_init(&c, "slow-bad", "FILL-01", CMD(SLOW));
	c.msg.unit = (char *)"%";
	c.msg.target_value = 150;
	assert_int_equal(linesim_model_command(m, &c.msg, T0_US + 30 * S_US, &rep),
	                 LINESIM_CMD_INVALID);
	assert_true(rep.ack);
	assert_int_equal(rep.ack_status,
	                 CELLTHREAD__V1__COMMAND_ACK_STATUS__COMMAND_ACK_STATUS_REJECTED);
	assert_non_null(strstr(rep.ack_detail, "invalid"));
	command_init(&c, "other", "FOO-01", CMD(STOP));
	assert_int_equal(linesim_model_command(m, &c.msg, T0_US + 30 * S_US, &rep),
	                 LINESIM_CMD_NOT_SIMULATED);
	assert_false(rep.ack);

	/* SLOW 50 % at 30 s: a cycle of 0.4 s, 25 cells by 40 s; RESUME: 50 by 50 s. */
	command_init(&c, "slow-1", "WELD-01", CMD(SLOW));
	c.msg.unit = (char *)"%";
	c.msg.target_value = 50;
	assert_int_equal(linesim_model_command(m, &c.msg, T0_US + 30 * S_US, &rep),
	                 LINESIM_CMD_APPLIED);
	assert_int_equal(linesim_model_advance(m, 0, T0_US + 40 * S_US, 0, &sink, &ss), CT_OK);
	assert_int_equal(st->cells_started, 125);
	expect_state(&r, m, "WELD-01", T0_US + 30 * S_US, SK(PRODUCING), "");
	assert_true(state_at(&r, m, "WELD-01", T0_US + 30 * S_US)->rate == 9000.0);
	assert_int_equal(simple(m, "resume-1", "WELD-01", CMD(RESUME), 0, T0_US + 40 * S_US),
	                 LINESIM_CMD_APPLIED);
	assert_int_equal(linesim_model_advance(m, 0, T0_US + 50 * S_US, 0, &sink, &ss), CT_OK);
	assert_int_equal(st->cells_started, 175);
	srec_free(&r);
	linesim_model_free(m);
}

/* Random downtime: the same seed gives the same states and cells; the values of the cells
 * are those of a run without states (own stream), only their times differ. */
static void test_states_random_downtime(void **state)
{
	struct srec a, b;
	struct recorder plain = {0};
	struct linesim_sink sa = {s_on_result, s_on_telemetry, &a};
	struct linesim_sink sb = {s_on_result, s_on_telemetry, &b};
	struct linesim_state_sink ssa = {s_on_state, &a}, ssb = {s_on_state, &b};
	struct linesim_model *ma = new_states_model(11, 5.0, true, NULL);
	struct linesim_model *mb = new_states_model(11, 5.0, true, NULL);
	struct linesim_model *mp = new_model(11, 0);
	struct series fa = {"FILL-01", "fill_mass", SRC_MEASUREMENT, NULL, 0, 0};
	struct series fp = {"FILL-01", "fill_mass", SRC_MEASUREMENT, NULL, 0, 0};
	size_t down = 0, micro = 0, starved = 0;

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.values.series = &fa;
	a.values.n_series = 1;
	plain.series = &fp;
	plain.n_series = 1;
	linesim_model_begin(ma, T0_US);
	linesim_model_begin(mb, T0_US);
	/* Two hours, in uneven steps for one of them: the result is the same. */
	assert_int_equal(linesim_model_advance(ma, 0, T0_US + 7200 * S_US, 0, &sa, &ssa), CT_OK);
	for (int64_t t = T0_US; t < T0_US + 7200 * S_US; t += 777 * 1000 * 13)
		assert_int_equal(linesim_model_advance(mb, 0, t, 0, &sb, &ssb), CT_OK);
	assert_int_equal(linesim_model_advance(mb, 0, T0_US + 7200 * S_US, 0, &sb, &ssb), CT_OK);
	assert_int_equal(a.n_states, b.n_states);
	assert_int_equal(a.n_cells, b.n_cells);
	for (size_t i = 0; i < a.n_states; i++) {
		assert_int_equal(a.states[i].since_us, b.states[i].since_us);
		assert_string_equal(a.states[i].reason, b.states[i].reason);
	}
	for (size_t i = 0; i < a.n_states; i++) {
		down += a.states[i].kind == SK(UNPLANNED_DOWNTIME) &&
		        strncmp(a.states[i].reason, "BREAKDOWN.", 10) == 0;
		micro += strncmp(a.states[i].reason, "MICRO.", 6) == 0;
		starved += a.states[i].kind == SK(STARVED);
	}
	assert_true(down >= 2 && micro >= 20 && starved > 0);
	/* Fewer cells than 2 h at full rate, more than nothing. */
	assert_true(a.n_cells < 36000 && a.n_cells > 20000);
	run(mp, &plain, 0, a.n_cells);
	assert_int_equal(fa.n, fp.n);
	for (size_t i = 0; i < fa.n; i++)
		assert_true(fa.v[i] == fp.v[i]);
	a.values.series = NULL;
	a.values.n_series = 0;
	plain.series = NULL;
	plain.n_series = 0;
	free(fa.v);
	free(fp.v);
	srec_free(&a);
	srec_free(&b);
	recorder_free(&plain);
	linesim_model_free(ma);
	linesim_model_free(mb);
	linesim_model_free(mp);
}

/* The WIND states of L1 in order: the recipe switches only with a CHANGEOVER state. Returns
 * how many changeovers there were. */
static size_t check_recipe_switches(const struct srec *r, const struct linesim_model *m)
{
	unsigned wind = station_index(m, "WIND-01");
	const char *recipe = NULL;
	size_t n = 0;

	for (size_t i = 0; i < r->n_states; i++) {
		const struct state_rec *s = &r->states[i];

		if (s->station != wind)
			continue;
		if (recipe != NULL && strcmp(recipe, s->recipe) != 0 &&
		    !(s->kind == SK(PLANNED_DOWNTIME) && strcmp(s->reason, "CHANGEOVER") == 0))
			fail_msg("WIND to %s at %lld in state %d '%s', not a changeover", s->recipe,
			         (long long)s->since_us, s->kind, s->reason);
		n += s->kind == SK(PLANNED_DOWNTIME) && strcmp(s->reason, "CHANGEOVER") == 0;
		recipe = s->recipe;
	}
	return n;
}

/* Runs a scenario text through a states model, up to its end. */
static struct linesim_model *run_scenario(const char *text, struct srec *r)
{
	struct linesim_scenario sc;
	struct linesim_sink sink = {s_on_result, s_on_telemetry, r};
	struct linesim_state_sink ss = {s_on_state, r};
	struct linesim_model *m;
	char err[256];

	memset(r, 0, sizeof(*r));
	assert_int_equal(linesim_scenario_parse(text, &sc, err, sizeof(err)), CT_OK);
	m = new_states_model(9, sc.rate, false, &sc);
	linesim_model_begin(m, sc.start_us);
	assert_int_equal(linesim_model_advance(m, 0, sc.end_us - 1, 0, &sink, &ss), CT_OK);
	linesim_scenario_free(&sc);
	return m;
}

/* A changeover due under a longer planned stop waits for its end, scripted (after it, or at
 * the same instant in either file order) and random (10:00: the break). */
static void test_changeover_waits_for_planned_stop(void **state)
{
	static const char *const texts[] = {
	        "start 2025-11-22T06:00:00Z\nrate 1\n100 L1 planned 120 BREAK\n"
	        "150 L1 changeover 30 HE\n400 end\n",
	        "start 2025-11-22T06:00:00Z\nrate 1\n100 L1 changeover 30 HE\n"
	        "100 L1 planned 120 BREAK\n400 end\n",
	        "start 2025-11-22T06:00:00Z\nrate 1\n100 L1 planned 120 BREAK\n"
	        "100 L1 changeover 30 HE\n400 end\n",
	};
	struct linesim_model_config cfg = {"site1", 1, 13, 12, 4, 0.0, 0};
	struct srec r;
	struct linesim_sink sink = {s_on_result, s_on_telemetry, &r};
	struct linesim_state_sink ss = {s_on_state, &r};
	struct linesim_model *m;
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		m = run_scenario(texts[i], &r);
		expect_state(&r, m, "WIND-01", T0_US + 100 * S_US, SK(PLANNED_DOWNTIME), "BREAK");
		assert_string_equal(state_at(&r, m, "WIND-01", T0_US + 100 * S_US)->recipe,
		                    "WIND-21700");
		expect_state(&r, m, "WIND-01", T0_US + 220 * S_US, SK(PLANNED_DOWNTIME),
		             "CHANGEOVER");
		assert_string_equal(state_at(&r, m, "WIND-01", T0_US + 220 * S_US)->recipe,
		                    "WIND-21700-HE");
		expect_state(&r, m, "MIX-C01", T0_US + 220 * S_US, SK(PRODUCING), "");
		expect_state(&r, m, "WIND-01", T0_US + 250 * S_US, SK(PRODUCING), "");
		assert_int_equal(check_recipe_switches(&r, m), 1);
		/* Cells: 1 .. 99, then from the changeover's end 251 .. 399. */
		assert_int_equal(r.n_cells, 99 + 149);
		assert_int_equal(r.cells[99], T0_US + 251 * S_US);
		srec_free(&r);
		linesim_model_free(m);
	}

	/* Random: from 06:00 a changeover every 4 h, the first at 10:00 with the break. */
	memset(&r, 0, sizeof(r));
	cfg.states = cfg.downtime = cfg.breaks = true;
	cfg.rate = 0.5;
	assert_int_equal(linesim_model_new(&cfg, &m, err, sizeof(err)), CT_OK);
	linesim_model_begin(m, T0_US);
	assert_int_equal(linesim_model_advance(m, 0, T0_US + 5 * 3600 * S_US, 0, &sink, &ss),
	                 CT_OK);
	expect_state(&r, m, "WIND-01", T0_US + 4 * 3600 * S_US, SK(PLANNED_DOWNTIME), "BREAK");
	expect_state(&r, m, "WIND-01", T0_US + 4 * 3600 * S_US + 1800 * S_US, SK(PLANNED_DOWNTIME),
	             "CHANGEOVER");
	assert_int_equal(check_recipe_switches(&r, m), 1);
	srec_free(&r);
	linesim_model_free(m);
}

/* A STOP at an electrode station starves the whole cell chain, blocks nothing. */
static void test_stop_at_electrode_starves_chain(void **state)
{
	struct srec r;
	struct linesim_sink sink = {s_on_result, s_on_telemetry, &r};
	struct linesim_state_sink ss = {s_on_state, &r};
	struct linesim_model *m = new_states_model(7, 5.0, false, NULL);
	static const char *const chain[] = {"WIND-01", "WELD-01", "FILL-01", "SEAL-01",
	                                    "VIS-01",  "MOD-01",  "PACK-01"};

	(void)state;
	memset(&r, 0, sizeof(r));
	linesim_model_begin(m, T0_US);
	assert_int_equal(linesim_model_advance(m, 0, T0_US + S_US, 0, &sink, &ss), CT_OK);
	assert_int_equal(simple(m, "stop-coat", "COAT-C01", CMD(STOP), 0, T0_US + S_US),
	                 LINESIM_CMD_APPLIED);
	assert_int_equal(linesim_model_advance(m, 0, T0_US + 2 * S_US, 0, &sink, &ss), CT_OK);
	expect_state(&r, m, "COAT-C01", T0_US + S_US, SK(UNPLANNED_DOWNTIME), "QUALITY_STOP");
	for (size_t i = 0; i < sizeof(chain) / sizeof(chain[0]); i++)
		expect_state(&r, m, chain[i], T0_US + S_US, SK(STARVED), "");
	for (size_t i = 0; i < r.n_states; i++)
		assert_int_not_equal(r.states[i].kind, SK(BLOCKED));
	assert_null(state_at(&r, m, "MIX-C01", T0_US + S_US));
	srec_free(&r);
	linesim_model_free(m);
}

/* A state the sink failed to take goes out at the next advance, stamped as before. */
struct failing {
	struct srec *r;
	unsigned calls, fail_at;
};

static int failing_state(void *ctx, const struct linesim_state *st)
{
	struct failing *f = ctx;

	if (++f->calls == f->fail_at)
		return CT_ERR_IO;
	return s_on_state(f->r, st);
}

static void test_state_publish_retried(void **state)
{
	struct srec r;
	struct failing f = {&r, 0, 5};
	struct linesim_sink sink = {s_on_result, s_on_telemetry, &r};
	struct linesim_state_sink ss = {failing_state, &f};
	struct linesim_model *m = new_states_model(7, 5.0, false, NULL);
	bool seen[64] = {false};

	(void)state;
	memset(&r, 0, sizeof(r));
	linesim_model_begin(m, T0_US);
	assert_int_equal(linesim_model_advance(m, 0, T0_US + S_US, 0, &sink, &ss), CT_ERR_IO);
	assert_int_equal(r.n_states, 4);
	assert_int_equal(linesim_model_state_stats(m, 0)->states, 4);
	assert_int_equal(linesim_model_next_us(m, 0), T0_US); /* still owed */
	assert_int_equal(linesim_model_advance(m, 0, T0_US + S_US, 0, &sink, &ss), CT_OK);
	/* Every station's first state once, all at the start; then the cells. */
	assert_int_equal(r.n_states, linesim_station_count());
	assert_int_equal(linesim_model_state_stats(m, 0)->states, linesim_station_count());
	for (size_t i = 0; i < r.n_states; i++) {
		char want[32];

		/* The IDs run on without a gap: the failed one is retried under its own. */
		snprintf(want, sizeof(want), "-s%020zu", i + 1);
		assert_true(ends_with(r.states[i].event_id, want));
		assert_int_equal(r.states[i].since_us, T0_US);
		assert_false(seen[r.states[i].station]);
		seen[r.states[i].station] = true;
	}
	assert_int_equal(r.n_cells, 5);
	srec_free(&r);
	linesim_model_free(m);
}

/* State event IDs sort in the order the states came; a command expiring at its arrival is
 * expired; a SLOW below 1 % is refused and no rate, however small, stalls the model. */
static void test_state_ids_expiry_and_tiny_rates(void **state)
{
	struct srec r;
	struct linesim_sink sink = {s_on_result, s_on_telemetry, &r};
	struct linesim_state_sink ss = {s_on_state, &r};
	struct linesim_model_config cfg = {"site1", 1, 7, 12, 4, 0.0, 0};
	struct linesim_model *m = new_states_model(7, 5.0, false, NULL);
	char err[128];

	(void)state;
	memset(&r, 0, sizeof(r));
	linesim_model_begin(m, T0_US);
	assert_int_equal(linesim_model_advance(m, 0, T0_US + S_US, 0, &sink, &ss), CT_OK);
	assert_int_equal(simple(m, "stop-weld", "WELD-01", CMD(STOP), 0, T0_US + S_US),
	                 LINESIM_CMD_APPLIED);
	assert_int_equal(linesim_model_advance(m, 0, T0_US + 2 * S_US, 0, &sink, &ss), CT_OK);
	assert_true(r.n_states > 21);
	for (size_t i = 1; i < r.n_states; i++)
		if (strcmp(r.states[i - 1].event_id, r.states[i].event_id) >= 0)
			fail_msg("state IDs out of order: %s, then %s", r.states[i - 1].event_id,
			         r.states[i].event_id);
	assert_int_equal(
	        simple(m, "at-now", "FILL-01", CMD(STOP), T0_US + 2 * S_US, T0_US + 2 * S_US),
	        LINESIM_CMD_EXPIRED);
	assert_int_equal(slow(m, "tiny", "FILL-01", 1e-12, 0, T0_US + 2 * S_US),
	                 LINESIM_CMD_INVALID);
	assert_int_equal(slow(m, "half", "FILL-01", 0.5, 0, T0_US + 2 * S_US), LINESIM_CMD_INVALID);
	assert_int_equal(slow(m, "one", "FILL-01", 1.0, 0, T0_US + 2 * S_US), LINESIM_CMD_APPLIED);
	srec_free(&r);
	linesim_model_free(m);

	/* A cycle past the end of time: no cell ever, and advancing returns. */
	memset(&r, 0, sizeof(r));
	cfg.states = true;
	cfg.rate = 1e-14;
	assert_int_equal(linesim_model_new(&cfg, &m, err, sizeof(err)), CT_OK);
	linesim_model_begin(m, T0_US);
	assert_int_equal(linesim_model_advance(m, 0, T0_US + S_US, 0, &sink, &ss), CT_OK);
	assert_int_equal(linesim_model_next_us(m, 0), INT64_MAX);
	assert_int_equal(linesim_model_advance(m, 0, T0_US + 3600 * S_US, 0, &sink, &ss), CT_OK);
	assert_int_equal(r.n_cells, 0);
	srec_free(&r);
	linesim_model_free(m);
}

/* States and acknowledgements through linesim_out: published one by one, counted. */
static int count_publish(void *ctx, const struct linesim_publish *msg)
{
	unsigned *kinds = ctx;

	kinds[msg->kind]++;
	return 0;
}

static void test_out_states_and_acks(void **state)
{
	unsigned kinds[4] = {0};
	struct linesim_out_config oc = {10, 100, 512 * 1024, count_publish, kinds};
	struct linesim_out *out = NULL;
	struct linesim_model *m = new_states_model(3, 5.0, false, NULL);
	Cellthread__V1__CommandAck ack = CELLTHREAD__V1__COMMAND_ACK__INIT;
	struct linesim_sink sink;
	struct linesim_state_sink ss;
	json_t *sum;

	(void)state;
	assert_int_equal(linesim_out_new(&oc, 1, linesim_station_count(), &out), CT_OK);
	sink = linesim_out_sink(out);
	ss = linesim_out_state_sink(out);
	linesim_model_begin(m, T0_US);
	assert_int_equal(linesim_model_advance(m, 0, T0_US + S_US, 0, &sink, &ss), CT_OK);
	assert_int_equal(kinds[LINESIM_MSG_STATE], linesim_station_count());
	assert_int_equal(linesim_out_ack(out, "L1", "L1-FILL-01", &ack), CT_OK);
	assert_int_equal(kinds[LINESIM_MSG_ACK], 1);
	assert_int_equal(linesim_out_counts(out)->states, linesim_station_count());
	assert_int_equal(linesim_out_counts(out)->acks, 1);
	sum = linesim_out_summary(out, m);
	assert_non_null(sum);
	assert_int_equal(json_integer_value(json_object_get(sum, "states")),
	                 linesim_station_count());
	json_decref(sum);
	linesim_out_free(out);
	linesim_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_same_seed_same_bytes),
	        cmocka_unit_test(test_other_seed_other_bytes),
	        cmocka_unit_test(test_normal_values_in_domain_ranges),
	        cmocka_unit_test(test_fault_nozzle),
	        cmocka_unit_test(test_fault_coating_drift),
	        cmocka_unit_test(test_fault_weld_wear),
	        cmocka_unit_test(test_fault_dew_point_and_back),
	        cmocka_unit_test(test_genealogy_complete),
	        cmocka_unit_test(test_out_batches_and_counts),
	        cmocka_unit_test(test_summary_json),
	        cmocka_unit_test(test_fault_names),
	        cmocka_unit_test(test_config_refused),
	        cmocka_unit_test(test_command_golden_bytes),
	        cmocka_unit_test(test_command_adjust_brings_loading_back),
	        cmocka_unit_test(test_command_adjust_limits),
	        cmocka_unit_test(test_command_slow_stop_resume),
	        cmocka_unit_test(test_command_expiry_and_duplicates),
	        cmocka_unit_test(test_command_summary),
	        cmocka_unit_test(test_history_duration_parse),
	        cmocka_unit_test(test_history_clock),
	        cmocka_unit_test(test_history_model_on_clock),
	        cmocka_unit_test(test_scenario_parse),
	        cmocka_unit_test(test_scenario_example_by_hand),
	        cmocka_unit_test(test_scenario_event_at_start),
	        cmocka_unit_test(test_states_commands_and_acks),
	        cmocka_unit_test(test_states_random_downtime),
	        cmocka_unit_test(test_out_states_and_acks),
	        cmocka_unit_test(test_changeover_waits_for_planned_stop),
	        cmocka_unit_test(test_stop_at_electrode_starves_chain),
	        cmocka_unit_test(test_state_publish_retried),
	        cmocka_unit_test(test_state_ids_expiry_and_tiny_rates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
