/* test_spc_flood: a flood of invented stations does not grow spc-gate's memory without bound,
 * and a real chart evicted meanwhile continues exactly (issue 10, finding 6).
 *
 * The starter configuration (deploy/config/spc-linesim.sql) charts every formation station
 * twice (form-t2, form-voltage: a T2 chart and a curve profile) and the cathode coater's
 * areal loading as an EWMA. spc-gate runs with a bound of BOUND live chart instances and
 * NEW_PER_MIN new streams a minute. The results are published on the plant tree as the
 * `ingest` login, as ingest would publish them (a compromised ingest, or one without a
 * station registry):
 *   1. a real coater stream of REAL_BEFORE results, saved;
 *   2. N_FAKE invented formation stations, one result each (2 x N_FAKE chart streams wanted,
 *      which took the code before the bound ~13 kB each, never freed): every result is judged
 *      and gets its verdict (stored by traveler), spc-gate's RSS grows by less than
 *      RSS_GROWTH_MAX_KB, and by less than RSS_HALF_GROWTH_MAX_KB in the flood's second
 *      half (once the bound is full), and the live instances never exceed the bound (its
 *      status line), new streams beyond the rate being refused;
 *   3. REAL_AFTER more coater results, the last ones shifted so the EWMA signals: the chart
 *      was evicted and reloaded (status line) and continues as if it had stayed: one point
 *      per result, the EWMA, count, mean and sum of squares of every value computed here
 *      from the values, and every signal on the point of the result that caused it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_config.h"
#include "ct_error.h"
#include "ct_pb.h"
#include "ct_time.h"
#include "harness.h"

#define SITE        "SF"
#define LINE        "L1"
#define REAL        "SF-COAT-C1"
#define REAL_CHART  "coat-c-loading"
#define STR_(x)     #x
#define STR(x)      STR_(x)
#define BOUND       200
#define NEW_PER_MIN 400
#define N_FAKE      3000
#define REAL_BEFORE 40
#define REAL_AFTER  40
#define SHIFT_FROM  (REAL_BEFORE + REAL_AFTER - 15) /* values shifted from here on */
#define WAIT_MS     200000
/* 2 x N_FAKE instances of 13 kB (a profile's envelope; a T2 chart's state took as much
 * before the bound) are 78 MB: the code before the bound grew by 115 MB in all and 43 MB in
 * the flood's second half (ASan build); with the bound, by 22-24 MB (BOUND instances, and
 * the high-water mark of one save's rows: 200 curve envelopes are 5 MB as hex, copied a few
 * times) and 2-4 MB. */
#define RSS_GROWTH_MAX_KB      (40 * 1024)
#define RSS_HALF_GROWTH_MAX_KB (10 * 1024)

/* ASan keeps freed blocks in a quarantine of up to 256 MB, which would count every batch's
 * freed rows as resident; a small one leaves the RSS to what spc-gate holds (ignored by
 * builds without ASan). */
static const char *const gate_env[] = {
        "CT_SPC_MAX_CHART_STATES=" STR(BOUND),
        "CT_SPC_NEW_STREAMS_PER_MIN=" STR(NEW_PER_MIN),
        "ASAN_OPTIONS=quarantine_size_mb=4",
        NULL,
};

/* The real stream's i-th value (0-based): around the centre 20.0 (sigma 0.075), within
 * spec (19.7..20.3), then shifted by 3 sigma so the EWMA (lambda 0.2) crosses its limit. */
static double real_value(int i)
{
	static const double wobble[] = {0.03, -0.02, 0.01, -0.04, 0.02, 0.0, -0.01};
	double v = 20.0 + wobble[i % 7];
	return i >= SHIFT_FROM ? v + 0.225 : v;
}

/* Loads the starter configuration as the quality login, as test_spc_gate does. */
static long long count(struct harness *h, const char *sql, int n, const char *const *params)
{
	long long v = -1;
	assert_int_equal(harness_sql_long(h, sql, n, params, &v), CT_OK);
	return v;
}

/* Publishes one StationResultBatch of one result on the plant tree, as ingest. */
static void publish_result(struct ct_mqtt *mqtt, const char *station, int station_type,
                           const char *recipe, const char *event_id, const char *unit_id,
                           Cellthread__V1__Measurement **m, size_t n_m,
                           Cellthread__V1__Curve **curves, size_t n_curves)
{
	Cellthread__V1__StationResultBatch batch = CELLTHREAD__V1__STATION_RESULT_BATCH__INIT;
	Cellthread__V1__StationResult r = CELLTHREAD__V1__STATION_RESULT__INIT;
	Cellthread__V1__StationResult *rp[1] = {&r};
	Cellthread__V1__Header hd = CELLTHREAD__V1__HEADER__INIT;
	char topic[256];
	int64_t now = ct_now_us();
	uint8_t *buf = NULL;
	size_t len = 0;

	hd.event_id = (char *)event_id;
	hd.producer = (char *)"ingest-flood-test";
	hd.produced_at_us = now;
	hd.schema_version = 1;
	r.header = &hd;
	r.unit_id = (char *)unit_id;
	r.unit_kind = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_CELL;
	r.site = (char *)SITE;
	r.line = (char *)LINE;
	r.station = (char *)station;
	r.station_type = (Cellthread__V1__StationType)station_type;
	r.recipe = (char *)recipe;
	r.recipe_version = 1;
	r.started_at_us = now - 1000;
	r.ended_at_us = now;
	r.result = CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_OK;
	r.measurements = m;
	r.n_measurements = n_m;
	r.curves = curves;
	r.n_curves = n_curves;
	batch.results = rp;
	batch.n_results = 1;
	snprintf(topic, sizeof(topic), "ct/v1/plant/%s/%s/%s/result", SITE, LINE, station);
	assert_int_equal(ct_pb_pack(&batch.base, &buf, &len), CT_OK);
	assert_int_equal(ct_mqtt_publish(mqtt, topic, buf, len, 1, false, 60000), CT_OK);
	free(buf);
}

static void measurement(Cellthread__V1__Measurement *m, const char *name, double value,
                        const char *unit)
{
	cellthread__v1__measurement__init(m);
	m->characteristic = (char *)name;
	m->value = value;
	m->unit = (char *)unit;
	m->measured_at_us = ct_now_us();
}

/* Results first..last-1 of the real coater stream. */
static void publish_real(struct ct_mqtt *mqtt, int first, int last)
{
	for (int i = first; i < last; i++) {
		Cellthread__V1__Measurement m;
		Cellthread__V1__Measurement *mp[1] = {&m};
		char id[64], unit[64];
		snprintf(id, sizeof(id), "real-%d", i);
		snprintf(unit, sizeof(unit), "SF-COIL-%d", i);
		measurement(&m, "areal_loading", real_value(i), "mg/cm2");
		publish_result(mqtt, REAL, CELLTHREAD__V1__STATION_TYPE__STATION_TYPE_COATING,
		               "COAT-NMC811-20", id, unit, mp, 1, NULL, 0);
	}
	assert_int_equal(ct_mqtt_flush(mqtt, 60000), CT_OK);
}

/* One formation result from each of the invented stations first..last-1, with what a
 * formation station reports: the T2 group and the voltage curve. */
static void publish_flood(struct ct_mqtt *mqtt, int first, int last)
{
	double x[16], y[16];

	for (int k = 0; k < 16; k++) {
		x[k] = 60.0 * k;
		y[k] = 3.0 + 0.07 * k;
	}
	for (int i = first; i < last; i++) {
		Cellthread__V1__Measurement m[3];
		Cellthread__V1__Measurement *mp[3] = {&m[0], &m[1], &m[2]};
		Cellthread__V1__Curve c = CELLTHREAD__V1__CURVE__INIT;
		Cellthread__V1__Curve *cp[1] = {&c};
		char station[48], id[64], unit[64];
		snprintf(station, sizeof(station), "FAKE-FORM-%05d", i);
		snprintf(id, sizeof(id), "flood-%d", i);
		snprintf(unit, sizeof(unit), "SF-FLOOD-CELL-%d", i);
		measurement(&m[0], "formation_capacity", 5.0 + 0.001 * (i % 7), "Ah");
		measurement(&m[1], "coulombic_efficiency", 0.92, "1");
		measurement(&m[2], "gas_volume", 1.5, "ml");
		c.name = (char *)"formation_voltage";
		c.x_unit = (char *)"s";
		c.y_unit = (char *)"V";
		c.x = x;
		c.n_x = 16;
		c.y = y;
		c.n_y = 16;
		publish_result(mqtt, station, CELLTHREAD__V1__STATION_TYPE__STATION_TYPE_FORMATION,
		               "FORM-STD", id, unit, mp, 3, cp, 1);
	}
	assert_int_equal(ct_mqtt_flush(mqtt, 120000), CT_OK);
}

/* The process's resident set (VmRSS of /proc/PID/status) in kB. */
static long long rss_kb(pid_t pid)
{
	char path[64], *text = NULL, *p, *end;
	size_t len = 0;
	long long kb;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	assert_int_equal(harness_read_file(path, &text, &len), CT_OK);
	p = strstr(text, "VmRSS:");
	assert_non_null(p);
	errno = 0;
	kb = strtoll(p + strlen("VmRSS:"), &end, 10);
	assert_true(errno == 0 && end != p + strlen("VmRSS:"));
	free(text);
	return kb;
}

/* The figures of spc-gate's last "chart states:" status line (gate_report_charts). */
struct chart_figures {
	size_t live, peak, bound;
	unsigned long long created, reloaded, evicted, looked_up, refused;
};

static void chart_figures(const char *log, struct chart_figures *ret)
{
	const char *line = NULL;

	for (const char *p = strstr(log, "chart states:"); p != NULL;
	     p = strstr(p + 1, "chart states:"))
		line = p;
	if (line == NULL)
		fail_msg("spc-gate logged no \"chart states:\" line");
	memset(ret, 0, sizeof(*ret));
	if (sscanf(line,
	           "chart states: %zu live (peak %zu, bound %zu), %llu created, %llu reloaded, "
	           "%llu evicted, %llu looked up; %llu chart points",
	           &ret->live, &ret->peak, &ret->bound, &ret->created, &ret->reloaded,
	           &ret->evicted, &ret->looked_up, &ret->refused) != 8)
		fail_msg("spc-gate's status line does not parse: %.200s", line);
}

/* The real chart's stored state, against what the values give when no point is lost or
 * counted twice and the state continued across the eviction. */
static void check_real_chart(struct harness *h, int n)
{
	const char *p[] = {REAL_CHART, SITE, REAL};
	double z = 20.0, sum = 0.0, mean, m2 = 0.0, v[4];
	PGresult *res = NULL;

	for (int i = 0; i < n; i++) {
		z = 0.2 * real_value(i) + (1.0 - 0.2) * z; /* as the engine: centre 20.0 first */
		sum += real_value(i);
	}
	mean = sum / n;
	for (int i = 0; i < n; i++)
		m2 += (real_value(i) - mean) * (real_value(i) - mean);
	assert_int_equal(harness_sql(h,
	                             "SELECT points, overall_n, last_value, overall_mean,"
	                             " overall_m2, ucl FROM spc_chart_state"
	                             " WHERE chart_id = $1 AND site = $2 AND station = $3",
	                             3, p, &res),
	                 CT_OK);
	assert_int_equal(PQntuples(res), 1);
	assert_string_equal(PQgetvalue(res, 0, 0), "80");
	assert_string_equal(PQgetvalue(res, 0, 1), "80");
	for (int c = 0; c < 4; c++)
		assert_int_equal(ct_parse_double(PQgetvalue(res, 0, c + 2), -1e300, 1e300, &v[c]),
		                 CT_OK);
	PQclear(res);
	printf("real chart: EWMA %.17g (expected %.17g), mean %.17g (%.17g), m2 %.17g (%.17g), "
	       "UCL %.17g\n",
	       v[0], z, v[1], mean, v[2], m2, v[3]);
	assert_float_equal(v[0], z, 1e-12);
	assert_float_equal(v[1], mean, 1e-12);
	assert_float_equal(v[2], m2, 1e-9);
	/* The shift made the EWMA signal; every signal is on the point of the result that
	 * caused it ("real-<i>" is point i + 1), so the point count went on across the
	 * eviction rather than starting over. */
	assert_true(count(h,
	                  "SELECT count(*) FROM spc_signal WHERE chart_id = $1 AND site = $2"
	                  " AND station = $3",
	                  3, p) > 0);
	assert_int_equal(count(h,
	                       "SELECT count(*) FROM spc_signal WHERE chart_id = $1 AND site = $2"
	                       " AND station = $3 AND (cause_event_id NOT LIKE 'real-%'"
	                       " OR last_point <> split_part(cause_event_id, '-', 2)::int + 1)",
	                       3, p),
	                 0);
}

static void test_fake_station_flood(void **state)
{
	struct harness *h = *state;
	struct harness_proc *traveler = NULL, *gate = NULL;
	struct ct_mqtt *mqtt = NULL;
	const char *p_real[] = {REAL_CHART, SITE, REAL};
	struct chart_figures f;
	char *log = NULL;
	size_t log_len = 0;
	long long before_kb, half_kb, after_kb;

	assert_int_equal(harness_load_starter_config(h), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_SPCGATE, NULL, gate_env, &gate), CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "ingest", &mqtt), CT_OK);

	/* 1. The real stream, saved. */
	publish_real(mqtt, 0, REAL_BEFORE);
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT coalesce(max(points), 0) FROM"
	                                         " spc_chart_state WHERE chart_id = $1 AND"
	                                         " site = $2 AND station = $3",
	                                         3, p_real, REAL_BEFORE, WAIT_MS),
	                 CT_OK);
	before_kb = rss_kb(gate->pid);

	/* 2. The flood, in two halves: every result judged (spc_judged), and the second half
	 * adds next to nothing to the memory (the first half filled the bound). */
	publish_flood(mqtt, 0, N_FAKE / 2);
	assert_int_equal(harness_wait_sql_count(h,
	                                        "SELECT count(*) FROM spc_judged WHERE"
	                                        " source_event_id LIKE 'flood-%'",
	                                        N_FAKE / 2, WAIT_MS),
	                 CT_OK);
	half_kb = rss_kb(gate->pid);
	publish_flood(mqtt, N_FAKE / 2, N_FAKE);
	assert_int_equal(harness_wait_sql_count(h,
	                                        "SELECT count(*) FROM spc_judged WHERE"
	                                        " source_event_id LIKE 'flood-%'",
	                                        N_FAKE, WAIT_MS),
	                 CT_OK);
	after_kb = rss_kb(gate->pid);
	printf("spc-gate RSS: %lld kB before the flood, %lld kB after half of it, %lld kB after "
	       "(+%lld kB, the second half +%lld kB)\n",
	       before_kb, half_kb, after_kb, after_kb - before_kb, after_kb - half_kb);
	assert_true(after_kb - before_kb < RSS_GROWTH_MAX_KB);
	assert_true(after_kb - half_kb < RSS_HALF_GROWTH_MAX_KB);
	assert_int_equal(harness_wait_sql_count(h,
	                                        "SELECT count(*) FROM unit_verdict WHERE"
	                                        " source_event_id LIKE 'flood-%'",
	                                        N_FAKE, WAIT_MS),
	                 CT_OK);
	/* Never more chart states than live ones could have been saved, nor the unbounded
	 * 2 x N_FAKE. */
	assert_true(count(h, "SELECT count(*) FROM spc_chart_state WHERE station LIKE 'FAKE-%'", 0,
	                  NULL) < 2 * N_FAKE);

	/* 3. The real stream again: evicted during the flood, it continues. */
	publish_real(mqtt, REAL_BEFORE, REAL_BEFORE + REAL_AFTER);
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT coalesce(max(points), 0) FROM"
	                                         " spc_chart_state WHERE chart_id = $1 AND"
	                                         " site = $2 AND station = $3",
	                                         3, p_real, REAL_BEFORE + REAL_AFTER, WAIT_MS),
	                 CT_OK);
	ct_mqtt_free(mqtt);
	assert_int_equal(harness_proc_stop(h, gate), CT_OK);
	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	check_real_chart(h, REAL_BEFORE + REAL_AFTER);

	/* The bound held, the real state was evicted and brought back, and the flood's new
	 * streams beyond the rate were refused (their results judged all the same, above). */
	assert_int_equal(harness_read_file(gate->log_path, &log, &log_len), CT_OK);
	chart_figures(log, &f);
	printf("spc-gate chart states: peak %zu (bound %zu), %llu created, %llu reloaded, %llu "
	       "evicted, %llu looked up, %llu chart points refused\n",
	       f.peak, f.bound, f.created, f.reloaded, f.evicted, f.looked_up, f.refused);
	assert_int_equal(f.bound, BOUND);
	assert_true(f.peak <= BOUND);
	assert_true(f.evicted > 0);
	assert_true(f.reloaded >= 1);
	assert_true(f.refused > 0);
	free(log);
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("spc_flood", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_fake_station_flood, harness_test_setup,
	                                        harness_test_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
