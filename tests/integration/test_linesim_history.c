/* test_linesim_history: ct-linesim generates two days of a line's history at full speed, on a
 * simulated clock, through the real broker, ingest, traveler and spc-gate.
 *
 * With sim.history=2d at 0.02 cells/s (3,456 cells) and the nozzle fault on, the simulator
 * publishes as fast as the broker takes it and exits when the history reaches the wall time
 * it started at, complete. Then every count of its summary is stored exactly once, nothing
 * is dead-lettered (ingest's default clock rule takes 30 days back), the stored visits span
 * the simulated period (the first near now - 2 d, the last near the run's start, every cell
 * station's visits in time order along the line's cell sequence), the history's rows sit in
 * the monthly partitions traveler made (none in the default ones), and the fill mass shows
 * the nozzle's wavering: fill to fill it alternates around the nominal 5.00 g, and spc-gate
 * (with the starter quality configuration) judges every result and signals Nelson 4 on the
 * fill-mass chart for fills inside the simulated period. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_time.h"
#include "harness.h"

#define SITE           "HIST"
#define HISTORY_S      (2LL * 86400)
#define RATE           0.02 /* cells per simulated second: 3,456 cells in two days */
#define TICKS          3456
#define RUN_TIMEOUT_MS 200000

static long long summary_int(json_t *s, const char *key)
{
	json_t *v = json_object_get(s, key);

	if (!json_is_integer(v))
		fail_msg("summary has no integer %s", key);
	return json_integer_value(v);
}

static long long sql_count_site(struct harness *h, const char *site, const char *sql)
{
	const char *p[] = {site};
	long long n = -1;

	if (harness_sql_long(h, sql, 1, p, &n) != CT_OK)
		fail_msg("query failed: %s", sql);
	return n;
}

static long long sql_count(struct harness *h, const char *sql)
{
	return sql_count_site(h, SITE, sql);
}

/* Waits until sql (with $1 = the site) counts `expected` rows. */
static void wait_count(struct harness *h, const char *what, const char *sql, long long expected)
{
	const char *p[] = {SITE};

	if (harness_wait_sql_countv(h, sql, 1, p, expected, RUN_TIMEOUT_MS) != CT_OK)
		fail_msg("%s never reached %lld rows", what, expected);
	printf("  %-18s %lld\n", what, expected);
}

static void test_two_days_of_history(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL, *gate = NULL, *linesim = NULL;
	char summary_path[HARNESS_PATH_MAX], e_summary[HARNESS_PATH_MAX + 32];
	const char *env[] = {"CT_SIM_SITE=" SITE, "CT_SIM_HISTORY=2d", "CT_SIM_RATE=0.02",
	                     "CT_SIM_FAULTS=nozzle",
	                     /* One sample every 200 simulated seconds: the history's telemetry
	                      * on its clock, at a volume the test affords. */
	                     "CT_SIM_TELEMETRY_HZ=0.005", "CT_SIM_SEED=11", e_summary, NULL};
	json_error_t jerr;
	json_t *summary;
	int64_t t0, from_us, until_us;
	long long results, n, alternating, fills;
	PGresult *res = NULL;
	char from_s[32], until_s[32];
	const char *span_p[] = {SITE, from_s, until_s};

	snprintf(summary_path, sizeof(summary_path), "%s/linesim-summary.json", h->dir);
	snprintf(e_summary, sizeof(e_summary), "CT_SIM_SUMMARY=%s", summary_path);
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler), CT_OK);
	assert_int_equal(harness_load_starter_config(h), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_SPCGATE, NULL, NULL, &gate), CT_OK);
	t0 = ct_now_us();
	assert_int_equal(harness_service_start(h, HARNESS_LINESIM, NULL, env, &linesim), CT_OK);
	assert_int_equal(harness_proc_wait_exit(h, linesim, RUN_TIMEOUT_MS), CT_OK);
	printf("two days of history generated in %.1f s\n", (double)(ct_now_us() - t0) / 1e6);

	summary = json_load_file(summary_path, 0, &jerr);
	if (summary == NULL)
		fail_msg("cannot read linesim's summary %s: %s", summary_path, jerr.text);
	assert_true(json_is_true(json_object_get(summary, "complete")));
	assert_int_equal(summary_int(summary, "history_ticks"), TICKS);
	assert_int_equal(summary_int(summary, "cells_started"), TICKS);
	from_us = summary_int(summary, "history_from_us");
	until_us = summary_int(summary, "history_until_us");
	assert_int_equal(until_us - from_us, HISTORY_S * 1000000);
	/* The history ends at the wall time the run started. */
	assert_true(until_us >= t0 - 1000000 && until_us <= t0 + 60 * 1000000LL);
	results = summary_int(summary, "results");
	assert_true(results > 5 * TICKS);
	assert_true(summary_int(summary, "telemetry_samples") > 0);

	printf("stored rows of the history:\n");
	wait_count(h, "station_visit", "SELECT count(*) FROM station_visit WHERE site = $1",
	           results);
	wait_count(h, "event",
	           /* The simulator is the only producer in this database. */
	           "SELECT count(*) FROM event WHERE kind IN ('result', 'telemetry') AND $1 <> ''",
	           results + summary_int(summary, "telemetry_messages"));
	wait_count(h, "measurement", "SELECT count(*) FROM measurement WHERE site = $1",
	           summary_int(summary, "measurements"));
	wait_count(h, "telemetry_sample", "SELECT count(*) FROM telemetry_sample WHERE site = $1",
	           summary_int(summary, "telemetry_samples"));
	wait_count(h, "unit_verdict", "SELECT count(*) FROM unit_verdict WHERE site = $1", results);
	assert_int_equal(sql_count(h, "SELECT count(*) FROM dead_letter WHERE $1 <> ''"), 0);
	/* In the monthly partitions ct_ensure_partitions made a month back, none by default. */
	assert_int_equal(sql_count(h, "SELECT count(*) FROM measurement_default WHERE site = $1"),
	                 0);
	assert_int_equal(
	        sql_count(h, "SELECT count(*) FROM telemetry_sample_default WHERE site = $1"), 0);

	/* The stored times span the simulated period: the first visit within a cell's period
	 * (50 s) of its start, the last within one of its end, none outside. */
	snprintf(from_s, sizeof(from_s), "%lld", (long long)from_us);
	snprintf(until_s, sizeof(until_s), "%lld", (long long)until_us);
	assert_int_equal(
	        harness_sql(h,
	                    "SELECT "
	                    "(extract(epoch FROM min(started_at)) * 1e6 - $2::bigint)::bigint, "
	                    "($3::bigint - extract(epoch FROM max(ended_at)) * 1e6)::bigint, "
	                    "count(*) FILTER (WHERE started_at < to_timestamp($2::bigint / 1e6) - "
	                    "interval '1 s' OR ended_at >= to_timestamp($3::bigint / 1e6)) "
	                    "FROM station_visit WHERE site = $1",
	                    3, span_p, &res),
	        CT_OK);
	if (res == NULL || PQntuples(res) != 1) {
		fail_msg("no span row");
		return;
	}
	printf("first visit %s us after the history's start, last %s us before its end, %s "
	       "outside\n",
	       PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
	n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	assert_true(n >= -1000000 && n <= 50 * 1000000LL);
	n = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	assert_true(n > 0 && n <= 100 * 1000000LL);
	assert_int_equal(strtoll(PQgetvalue(res, 0, 2), NULL, 10), 0);
	PQclear(res);
	res = NULL;
	/* Each cell station's visits strictly later along the cell sequence (IDs are
	 * zero-padded, so their order is the line's). */
	assert_int_equal(sql_count(h, "SELECT count(*) FROM (SELECT ended_at, lag(ended_at) OVER "
	                              "(PARTITION BY station ORDER BY unit_id) AS prev FROM "
	                              "station_visit WHERE site = $1 AND unit_kind = 4) s "
	                              "WHERE ended_at <= prev"),
	                 0);
	assert_true(sql_count(h, "SELECT count(DISTINCT station) FROM station_visit "
	                         "WHERE site = $1 AND unit_kind = 4") == 9);
	/* Telemetry samples on the simulated clock too. */
	assert_int_equal(harness_sql_long(h,
	                                  "SELECT count(*) FROM telemetry_sample WHERE site = $1 "
	                                  "AND (at < to_timestamp($2::bigint / 1e6) - interval "
	                                  "'1 s' OR at > to_timestamp($3::bigint / 1e6))",
	                                  3, span_p, &n),
	                 CT_OK);
	assert_int_equal(n, 0);

	/* The nozzle's wavering is in the history: fill to fill the mass alternates around
	 * 5.00 g (the noise alone would flip sides about half the time). */
	fills = sql_count(h, "SELECT count(*) FROM measurement WHERE site = $1 AND "
	                     "characteristic = 'fill_mass'");
	alternating = sql_count(h, "SELECT count(*) FROM (SELECT value, lag(value) OVER (ORDER "
	                           "BY unit_id) AS prev FROM measurement WHERE site = $1 AND "
	                           "characteristic = 'fill_mass') s WHERE (value - 5.0) * "
	                           "(prev - 5.0) < 0");
	printf("fill mass: %lld fills, %lld alternate sides from the previous\n", fills,
	       alternating);
	assert_true(fills > TICKS / 2);
	assert_true(alternating > fills * 9 / 10);
	/* ...and spc-gate saw it: the starter chart's Nelson 4 signals, caused by fills inside
	 * the simulated period (a signal's raised_at is spc-gate's own clock: when it judged). */
	assert_int_equal(harness_sql_long(h,
	                                  "SELECT count(*) FROM spc_signal s JOIN station_visit v "
	                                  "ON v.event_id = s.cause_event_id WHERE s.site = $1 AND "
	                                  "s.chart_id = 'fill-nozzle' AND s.rule = 'nelson4' AND "
	                                  "v.ended_at >= to_timestamp($2::bigint / 1e6) AND "
	                                  "v.ended_at < to_timestamp($3::bigint / 1e6)",
	                                  3, span_p, &n),
	                 CT_OK);
	printf("spc-gate: %lld Nelson 4 signals on fill mass inside the history\n", n);
	assert_true(n > 0);
	json_decref(summary);

	assert_true(harness_proc_is_alive(ingest));
	assert_true(harness_proc_is_alive(traveler));
	assert_true(harness_proc_is_alive(gate));
	assert_int_equal(harness_proc_stop(h, gate), CT_OK);
	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
	harness_pass(h);
}

/* sim.history_then_live: ten simulated minutes at full speed, then on at the real clock
 * without a gap until sim.cells finished cells: the last visits are after the history's end,
 * stored like the rest, in time order along the cell sequence. */
static void test_history_then_live(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL, *linesim = NULL;
	char summary_path[HARNESS_PATH_MAX], e_summary[HARNESS_PATH_MAX + 32];
	const char *env[] = {"CT_SIM_SITE=HISTL",
	                     "CT_SIM_UNIT_PREFIX=HL-",
	                     "CT_SIM_HISTORY=10m",
	                     "CT_SIM_HISTORY_THEN_LIVE=true",
	                     "CT_SIM_RATE=2",
	                     "CT_SIM_CELLS=1225", /* the history's 1,200 starts and some live */
	                     "CT_SIM_TELEMETRY_HZ=1",
	                     e_summary,
	                     NULL};
	const char *p[] = {"HISTL", NULL};
	char until_s[32];
	json_error_t jerr;
	json_t *summary;
	long long n;

	snprintf(summary_path, sizeof(summary_path), "%s/linesim-live.json", h->dir);
	snprintf(e_summary, sizeof(e_summary), "CT_SIM_SUMMARY=%s", summary_path);
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_LINESIM, NULL, env, &linesim), CT_OK);
	assert_int_equal(harness_proc_wait_log(h, linesim, "live", RUN_TIMEOUT_MS), CT_OK);
	assert_int_equal(harness_proc_wait_exit(h, linesim, RUN_TIMEOUT_MS), CT_OK);
	summary = json_load_file(summary_path, 0, &jerr);
	if (summary == NULL)
		fail_msg("cannot read linesim's summary %s: %s", summary_path, jerr.text);
	assert_true(json_is_true(json_object_get(summary, "complete")));
	assert_true(json_is_true(json_object_get(summary, "history_then_live")));
	assert_int_equal(summary_int(summary, "history_ticks"), 1200);
	assert_int_equal(summary_int(summary, "cells_finished"), 1225);
	assert_true(summary_int(summary, "cells_started") > 1200);
	if (harness_wait_sql_countv(h, "SELECT count(*) FROM station_visit WHERE site = $1", 1, p,
	                            summary_int(summary, "results"), RUN_TIMEOUT_MS) != CT_OK)
		fail_msg("the history and its live part were not all stored");
	if (harness_wait_sql_countv(h, "SELECT count(*) FROM telemetry_sample WHERE site = $1", 1,
	                            p, summary_int(summary, "telemetry_samples"),
	                            RUN_TIMEOUT_MS) != CT_OK)
		fail_msg("the telemetry was not all stored");
	snprintf(until_s, sizeof(until_s), "%lld", summary_int(summary, "history_until_us"));
	p[1] = until_s;
	assert_int_equal(harness_sql_long(h,
	                                  "SELECT count(*) FROM station_visit WHERE site = $1 AND "
	                                  "unit_kind = 4 AND ended_at > to_timestamp($2::bigint / "
	                                  "1e6)",
	                                  2, p, &n),
	                 CT_OK);
	printf("cell visits after the history's end (live): %lld\n", n);
	assert_true(n > 0);
	assert_int_equal(sql_count_site(h, "HISTL",
	                                "SELECT count(*) FROM (SELECT ended_at, lag(ended_at) OVER "
	                                "(PARTITION BY station ORDER BY unit_id) AS prev FROM "
	                                "station_visit WHERE site = $1 AND unit_kind = 4) s "
	                                "WHERE ended_at <= prev"),
	                 0);
	assert_int_equal(
	        sql_count_site(h, "HISTL", "SELECT count(*) FROM dead_letter WHERE $1 <> ''"), 0);
	json_decref(summary);
	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("linesim-history", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_two_days_of_history, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_history_then_live, harness_test_setup,
	                                        harness_test_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
