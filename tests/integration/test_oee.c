/* test_oee: issue 14's acceptance for ct-oee against the real broker, database and binaries.
 *
 *   scenario       ct-linesim plays a scripted day (sim.scenario, a file written into the
 *                  test's directory) into ingest, traveler and ct-oee; every figure of the
 *                  stations and shifts is computed by hand below and must equal
 *                  what ct-oee publishes, stores in oee_figures and ct_oee_shift() returns,
 *                  including a late retest in shift B that lowers WIND's shift A quality (and
 *                  is republished on the history topic);
 *   live           a state published as a gateway reaches the figures on ct/v1/oee/...: the
 *                  latency of 8 changes is printed ("oee-latency-ms"); each below 5 s, their
 *                  median below 1 s (LIVE_MEDIAN_MS says why not each);
 *   closed loop    linesim with the nozzle and coating_drift faults obeys spc-gate's commands
 *                  and acknowledges them: ct_response_times has both legs, >= 0 and
 *                  plausible; ct_trace_depth is 100 for a simulated cell and < 100 for a cell
 *                  a gateway left incomplete, naming what is missing;
 *   maintainability  an alert raised, acknowledged with `cellthread alerts ack` and cleared,
 *                  and a breakdown followed by PRODUCING: ct_maintainability's times equal
 *                  the transitions' differences;
 *   unknown stop   a station that sends only results and then nothing for longer than
 *                  oee_config.unknown_gap_s gets a derived UNKNOWN_STOP, then PRODUCING again;
 *   kill -9        ct-oee killed mid-run: after the restart nothing is lost or counted twice,
 *                  and the stored figures equal a fresh computation;
 *   late quality, traveler behind  a retest fails while the traveler is down, for longer
 *                  than ct-oee waits: the closed shift's stored figures still get the late
 *                  reject once the traveler has stored it.
 *
 * Each test has its own site, so they share one database without seeing each other. */
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
#include <time.h>

#include "alert_it.h"
#include "ct_error.h"
#include "ct_pb.h"
#include "ct_time.h"
#include "harness.h"
#include "oee_it.h"

#define WAIT HARNESS_WAIT_MS
/* Figures are exact sums of microsecond intervals and integer counts: 1e-9 leaves room only
 * for the double arithmetic. */
#define TOL 1e-9

/* The live latency: every sample within 5 s (the deadline), their median below the 1 s of
 * the acceptance. Not every sample: under ASan on 2 busy cores single samples reached 0.77 s
 * (medians 0.02-0.54 s), too close to 1 s to fail a build on. */
#define LIVE_DEADLINE_MS 5000
#define LIVE_MEDIAN_MS   1000.0

/* The monotonic clock in microseconds (latencies below a millisecond show). */
static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long count(struct harness *h, const char *sql, int n, const char *const *params)
{
	long long v = -1;

	assert_int_equal(harness_sql_long(h, sql, n, params, &v), CT_OK);
	return v;
}

/* Waits until sql (with n params) returns 1, e.g. "SELECT (count(*) > 0)::int ...". */
static void wait_true(struct harness *h, const char *sql, int n, const char *const *params,
                      int timeout_ms)
{
	assert_int_equal(harness_wait_sql_countv(h, sql, n, params, 1, timeout_ms), CT_OK);
}

/* Runs SQL as the quality login: plant configuration with the privileges ct_quality has. */
static void quality_sql(struct harness *h, const char *sql, int n, const char *const *params)
{
	PGconn *conn = harness_pg_connect(h, "quality");
	PGresult *res;

	assert_non_null(conn);
	res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
		fail_msg("%s failed: %s", sql, PQerrorMessage(conn));
	PQclear(res);
	PQfinish(conn);
}

static void print_json(const char *what, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	printf("%s: %s\n", what, s != NULL ? s : "?");
	free(s);
}

/* ---- scenario: every figure by hand -------------------------------------------------------- */

/* The scripted day, offsets in seconds after the start (yesterday 06:00 UTC, written in by the
 * test). Shifts of site OES (set by SQL below): A 06:00-06:20 = [0, 1200), B 06:20-06:40 =
 * [1200, 2400). Ideal cycle 1 s on every cell station. The simulator's production rule at
 * rate 1: after the line (re)starts at R, cells complete at R + 1, R + 2, ...; a cell due at
 * the instant the line stops is not made; every visit of the cell at t ends in (t - 60 ms, t),
 * so the cell at 1200 is shift A's. A cell station down stops the line: the stations upstream
 * of it are BLOCKED, those downstream STARVED. */
static const char scenario_events[] =
        "rate 1\n"
        "300 L1-WELD-01 breakdown 120 BREAKDOWN.WELD.HORN L1-WELD-01.horn\n"
        "600 L1-VIS-01 microstop 30 MICRO.VISION_TRIP\n"
        "900 L1-SEAL-01 scrap 5\n"
        "1400 L1 slow 200 50\n"
        "1500 L1 latefail 4 1000\n"
        "1700 L1 changeover 300 HE\n"
        "2100 L1 planned 120 BREAK\n"
        "2400 end\n";

/* Shift A. Production [0,300) [420,600) [630,1200): run 300 + 180 + 570 = 1050 s of 1200.
 * Cells 1..299 (the one due at 300 is not made: WELD breaks down at 300), 421..599 (VIS stops
 * at 600), 631..1200: 299 + 179 + 570 = 1048 wound. The 5 cells made from 900 on are
 * scrapped at SEAL (NOK there, never at FORM..VIS): VIS and EOL see 1043. The 4 cells made
 * from 1000 on fail their EOL retest at 1500 (shift B): late rejects of their maker visit,
 * WIND in shift A, as are the 5 scrapped at SEAL: WIND's late_rejects 9, good 1048 - 9. */
#define A_RUN    1050.0
#define A_BUSY   1200.0
#define A_WOUND  1048.0
#define A_SEALED 1043.0
/* Shift B. 1201..1400 (200 cells), SLOW 50 % [1400,1600): 1402, 1404, ..., 1600 (100),
 * 1601..1699 (99), CHANGEOVER [1700,2000) planned, 2001..2099 (99), BREAK [2100,2220) planned,
 * 2221..2399 (179; the run ends before 2400): 677 cells. Planned 300 + 120 = 420 s, busy 780,
 * run [1200,1700) + [2000,2100) + [2220,2400) = 500 + 100 + 180 = 780 s. EOL adds the 4
 * retests (NOK): produced 681, bad 4. */
#define B_RUN     780.0
#define B_BUSY    780.0
#define B_PLANNED 420.0
#define B_CELLS   677.0

struct hand {
	const char *station; /* "L1-WIND-01"; "" for the line (its reference station: WIND) */
	char shift;          /* 'A' or 'B' */
	double busy, run, planned, unplanned, starved, blocked, micro_n, micro_s;
	double produced, good, late;
};

/* Every figure as arithmetic; availability, performance, quality and OEE follow from these
 * (hand_check): A = run / busy, P = 1 s x produced / run, Q = good / produced. */
static const struct hand hands[] = {
        /* WIND: BLOCKED while WELD is down (120 s) and while VIS is (30 s). */
        {"L1-WIND-01", 'A', A_BUSY, A_RUN, 0, 0, 0, 150, 0, 0, A_WOUND, A_WOUND - 9, 9},
        {"", 'A', A_BUSY, A_RUN, 0, 0, 0, 150, 0, 0, A_WOUND, A_WOUND - 9, 9},
        /* WELD: its own breakdown 120 s (not a micro-stop: >= 60 s), BLOCKED by VIS 30 s. */
        {"L1-WELD-01", 'A', A_BUSY, A_RUN, 0, 120, 0, 30, 0, 0, A_WOUND, A_WOUND, 0},
        /* SEAL: STARVED by WELD, BLOCKED by VIS; its 5 scripted rejects are its own bad. */
        {"L1-SEAL-01", 'A', A_BUSY, A_RUN, 0, 0, 120, 30, 0, 0, A_WOUND, A_WOUND - 5, 0},
        /* EOL: the sealed cells, all good at their first test. */
        {"L1-EOL-01", 'A', A_BUSY, A_RUN, 0, 0, 120, 30, 0, 0, A_SEALED, A_SEALED, 0},
        /* VIS: its micro-stop (30 s < 60 s: one micro-stop), STARVED by WELD. */
        {"L1-VIS-01", 'A', A_BUSY, A_RUN, 0, 30, 120, 0, 1, 30, A_SEALED, A_SEALED, 0},
        {"L1-WIND-01", 'B', B_BUSY, B_RUN, B_PLANNED, 0, 0, 0, 0, 0, B_CELLS, B_CELLS, 0},
        {"", 'B', B_BUSY, B_RUN, B_PLANNED, 0, 0, 0, 0, 0, B_CELLS, B_CELLS, 0},
        {"L1-WELD-01", 'B', B_BUSY, B_RUN, B_PLANNED, 0, 0, 0, 0, 0, B_CELLS, B_CELLS, 0},
        {"L1-SEAL-01", 'B', B_BUSY, B_RUN, B_PLANNED, 0, 0, 0, 0, 0, B_CELLS, B_CELLS, 0},
        /* EOL in B: its 677 first tests and the 4 retests that failed. */
        {"L1-EOL-01", 'B', B_BUSY, B_RUN, B_PLANNED, 0, 0, 0, 0, 0, B_CELLS + 4, B_CELLS, 0},
        {"L1-VIS-01", 'B', B_BUSY, B_RUN, B_PLANNED, 0, 0, 0, 0, 0, B_CELLS, B_CELLS, 0},
};
#define N_HANDS (sizeof(hands) / sizeof(hands[0]))

static double hand_a(const struct hand *x)
{
	return x->run / x->busy;
}
static double hand_p(const struct hand *x)
{
	return 1.0 * x->produced / x->run;
}
static double hand_q(const struct hand *x)
{
	return x->good / x->produced;
}

static void hand_name(const struct hand *x, char *buf, size_t len)
{
	snprintf(buf, len, "%s shift %c", x->station[0] != '\0' ? x->station : "line", x->shift);
}

/* ct_oee_station's JSON (from ct_oee_shift or oee_figures.figures) against the hand figures. */
static void hand_check_json(const struct hand *x, const char *what, json_t *o)
{
	char name[160], base[96];
	const struct {
		const char *key;
		double want;
	} f[] = {
	        {"planned_busy_s", x->busy},
	        {"run_s", x->run},
	        {"planned_down_s", x->planned},
	        {"unplanned_down_s", x->unplanned},
	        {"idle_s", 0},
	        {"starved_s", x->starved},
	        {"blocked_s", x->blocked},
	        {"micro_stop_count", x->micro_n},
	        {"micro_stop_s", x->micro_s},
	        {"produced", x->produced},
	        {"good", x->good},
	        {"late_rejects", x->late},
	        {"ideal_cycle_s", 1.0},
	        {"availability", hand_a(x)},
	        {"performance", hand_p(x)},
	        {"quality", hand_q(x)},
	        {"oee", hand_a(x) * hand_p(x) * hand_q(x)},
	};

	hand_name(x, base, sizeof(base));
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		snprintf(name, sizeof(name), "%s, %s: %s", base, what, f[i].key);
		oee_it_close(name, oee_it_num(o, f[i].key), f[i].want, TOL);
	}
	assert_false(json_is_true(json_object_get(o, "performance_flagged")));
}

static void hand_check_msg(const struct hand *x, const Cellthread__V1__OeeFigures *m)
{
	char base[96], name[160];
	const struct {
		const char *key;
		double got, want;
	} f[] = {
	        {"planned_busy_s", m->planned_busy_s, x->busy},
	        {"run_s", m->run_s, x->run},
	        {"planned_down_s", m->planned_down_s, x->planned},
	        {"unplanned_down_s", m->unplanned_down_s, x->unplanned},
	        {"idle_s", m->idle_s, 0},
	        {"starved_s", m->starved_s, x->starved},
	        {"blocked_s", m->blocked_s, x->blocked},
	        {"micro_stop_count", m->micro_stop_count, x->micro_n},
	        {"micro_stop_seconds", m->micro_stop_seconds, x->micro_s},
	        {"produced", (double)m->produced, x->produced},
	        {"good", (double)m->good, x->good},
	        {"late_rejects", (double)m->late_rejects, x->late},
	        {"ideal_cycle_s", m->ideal_cycle_s, 1.0},
	        {"availability", m->availability, hand_a(x)},
	        {"performance", m->performance, hand_p(x)},
	        {"quality", m->quality, hand_q(x)},
	        {"oee", m->oee, hand_a(x) * hand_p(x) * hand_q(x)},
	};

	hand_name(x, base, sizeof(base));
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		snprintf(name, sizeof(name), "%s, published: %s", base, f[i].key);
		oee_it_close(name, f[i].got, f[i].want, TOL);
	}
	assert_false(m->performance_flagged);
}

/* The last OeeFigures seen per hand row (history topics: the shifts are closed), and whether
 * a shift-A figure of WIND or the line was published again after B's retests counted. */
struct seen_figures {
	Cellthread__V1__OeeFigures *last[N_HANDS];
	int republished_a; /* shift A figures of WIND / the line carrying all 9 late rejects */
};

static void collect(struct harness_sub *sub, const char *shift_a, const char *shift_b,
                    struct seen_figures *seen, int timeout_ms)
{
	for (;;) {
		bool history = false, kept = false;
		Cellthread__V1__OeeFigures *f =
		        oee_it_next_figures(sub, NULL, 0, timeout_ms, &history);

		if (f == NULL)
			return;
		for (size_t i = 0; i < N_HANDS && !kept; i++) {
			const char *want = hands[i].shift == 'A' ? shift_a : shift_b;
			if (strcmp(f->station, hands[i].station) != 0 ||
			    strcmp(f->shift_id, want) != 0)
				continue;
			/* Yesterday's shifts are closed: their figures go to history only. */
			if (!history)
				fail_msg("%s %s published on the live topic", f->station,
				         f->shift_id);
			if (hands[i].shift == 'A' && hands[i].late > 0 && f->late_rejects == 9)
				seen->republished_a++;
			if (seen->last[i] != NULL)
				cellthread__v1__oee_figures__free_unpacked(seen->last[i], NULL);
			seen->last[i] = f;
			kept = true;
		}
		if (!kept)
			cellthread__v1__oee_figures__free_unpacked(f, NULL);
		timeout_ms = 200; /* drain what is there */
	}
}

static void test_scenario(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL, *oee = NULL, *linesim = NULL;
	struct harness_sub *sub = oee_it_subscribe(h, "OES");
	char path[HARNESS_PATH_MAX], e_scenario[HARNESS_PATH_MAX + 32], start[40];
	char shift_a[32], shift_b[32], day[16], cond[2048];
	const char *sim_env[] = {"CT_SIM_SITE=OES", "CT_SIM_UNIT_PREFIX=OES-",
	                         "CT_SIM_SEED=14",  "CT_SIM_TELEMETRY_HZ=0",
	                         e_scenario,        NULL};
	time_t yesterday = time(NULL) - 86400;
	struct tm tm;
	struct seen_figures seen;
	FILE *f;

	memset(&seen, 0, sizeof(seen));
	gmtime_r(&yesterday, &tm);
	strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	snprintf(start, sizeof(start), "%sT06:00:00Z", day);
	snprintf(shift_a, sizeof(shift_a), "%s/A", day);
	snprintf(shift_b, sizeof(shift_b), "%s/B", day);
	snprintf(path, sizeof(path), "%s/oee-scenario.txt", h->dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "# test_oee: the scripted day (offsets in seconds)\nstart %s\n%s", start,
	        scenario_events);
	assert_int_equal(fclose(f), 0);
	snprintf(e_scenario, sizeof(e_scenario), "CT_SIM_SCENARIO=%s", path);

	/* The site's own shifts override the '*' pattern; ideal cycle 1 s on the cell stations. */
	quality_sql(h,
	            "INSERT INTO oee_shift_pattern (site, line, name, starts, length) VALUES"
	            " ('OES', '*', 'A', '06:00', '20 minutes'),"
	            " ('OES', '*', 'B', '06:20', '20 minutes')",
	            0, NULL);
	quality_sql(h,
	            "SELECT ct_oee_ideal_set('OES', 'L1', s, '*', 1.0) FROM unnest(ARRAY["
	            "'L1-WIND-01', 'L1-WELD-01', 'L1-INS-01', 'L1-FILL-01', 'L1-SEAL-01',"
	            " 'L1-FORM-01', 'L1-AGE-01', 'L1-EOL-01', 'L1-VIS-01']) AS s",
	            0, NULL);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_OEE, NULL, NULL, &oee), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_LINESIM, NULL, sim_env, &linesim), CT_OK);
	assert_int_equal(harness_proc_wait_exit(h, linesim, WAIT), CT_OK);

	/* The shift instances as the SQL sees them. */
	{
		const char *p[] = {start};
		assert_int_equal(count(h,
		                       "SELECT count(*) FROM ct_oee_shifts('OES', 'L1',"
		                       " $1::timestamptz, $1::timestamptz + interval '40 minutes')",
		                       1, p),
		                 2);
	}
	/* Wait until ct-oee's stored figures have every count of the hand (each row once the
	 * traveler stored all and ct-oee computed after it). */
	{
		size_t n = 0;
		for (size_t i = 0; i < N_HANDS; i++)
			n += (size_t)snprintf(
			        cond + n, sizeof(cond) - n,
			        "%s(station = '%s' AND shift_id = '%s' AND produced = %.0f"
			        " AND good = %.0f AND late_rejects = %.0f)",
			        i == 0 ? "" : " OR ", hands[i].station,
			        hands[i].shift == 'A' ? shift_a : shift_b, hands[i].produced,
			        hands[i].good, hands[i].late);
		assert_true(n < sizeof(cond));
	}
	{
		char sql[2300];
		snprintf(sql, sizeof(sql),
		         "SELECT count(*) FROM oee_figures WHERE site = 'OES' AND line = 'L1' AND "
		         "(%s)",
		         cond);
		if (harness_wait_sql_count(h, sql, (long long)N_HANDS, 180000) != CT_OK) {
			PGresult *res = NULL;
			assert_int_equal(harness_sql(h,
			                             "SELECT station, shift_id, produced, good,"
			                             " late_rejects, computed_at FROM oee_figures"
			                             " WHERE site = 'OES' ORDER BY 1, 2",
			                             0, NULL, &res),
			                 CT_OK);
			for (int i = 0; i < PQntuples(res); i++)
				printf("oee_figures %s %s produced %s good %s late %s at %s\n",
				       PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
				       PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
				       PQgetvalue(res, i, 4), PQgetvalue(res, i, 5));
			PQclear(res);
			fail_msg("ct-oee's stored figures never reached the hand counts");
		}
	}
	collect(sub, shift_a, shift_b, &seen, 2000);

	for (size_t i = 0; i < N_HANDS; i++) {
		const struct hand *x = &hands[i];
		const char *p[] = {x->station, x->shift == 'A' ? shift_a : shift_b};
		json_t *o;
		char name[96];

		hand_name(x, name, sizeof(name));
		/* ct_oee_shift() now. */
		o = oee_it_sql_json(h, "SELECT ct_oee_shift('OES', 'L1', $1, $2)::text", 2, p);
		hand_check_json(x, "ct_oee_shift", o);
		if (x->station[0] == '\0')
			assert_string_equal(alert_it_jstr(o, "reference_station"), "L1-WIND-01");
		json_decref(o);
		/* What ct-oee stored. */
		o = oee_it_sql_json(h,
		                    "SELECT figures::text FROM oee_figures WHERE site = 'OES'"
		                    " AND line = 'L1' AND station = $1 AND shift_id = $2",
		                    2, p);
		hand_check_json(x, "oee_figures", o);
		json_decref(o);
		/* What ct-oee published last (on history: the shift is closed). */
		if (seen.last[i] == NULL)
			fail_msg("%s: no OeeFigures published", name);
		hand_check_msg(x, seen.last[i]);
		printf("%s: A %.6f P %.6f Q %.6f OEE %.6f\n", name, seen.last[i]->availability,
		       seen.last[i]->performance, seen.last[i]->quality, seen.last[i]->oee);
		cellthread__v1__oee_figures__free_unpacked(seen.last[i], NULL);
	}
	/* The late quality correction reached the history topic: WIND's and the line's shift A
	 * figures with all 9 late rejects. */
	assert_true(seen.republished_a >= 2);
	harness_sub_free(sub);
	harness_pass(h);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* ---- live: state to figures latency -------------------------------------------------------- */

static void test_live_latency(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *oee = NULL;
	struct ct_mqtt *gw = NULL;
	struct harness_sub *sub = oee_it_subscribe(h, "OEL");
	const char *env[] = {"CT_OEE_PUBLISH_INTERVAL_S=5", NULL};
	const char *topic = "ct/v1/oee/OEL/L1/OEL-WELD";
	double lat[8], max_ms = 0.0;
	const int n = 8;

	assert_int_equal(harness_service_start(h, HARNESS_OEE, NULL, env, &oee), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest), CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "gateway", &gw), CT_OK);

	/* Warm-up: the station's first state (its open shift starts with it). */
	oee_it_publish_state(gw, &(struct oee_it_state){.event_id = "oel-0",
	                                                .site = "OEL",
	                                                .line = "L1",
	                                                .station = "OEL-WELD",
	                                                .state = OEE_IT_PRODUCING,
	                                                .since_us = ct_now_us() - 60000000});
	Cellthread__V1__OeeFigures *f =
	        oee_it_next_figures(sub, topic, OEE_IT_PRODUCING, 30000, NULL);
	if (f == NULL)
		fail_msg("no OeeFigures with PRODUCING on %s within 30 s", topic);
	cellthread__v1__oee_figures__free_unpacked(f, NULL);

	/* Alternate breakdown / producing; each must be reflected by the next figures. */
	for (int i = 0; i < n; i++) {
		bool down = i % 2 == 0;
		char ev[32];
		int64_t since = ct_now_us(), t0 = mono_us(), t1;

		snprintf(ev, sizeof(ev), "oel-%d", i + 1);
		oee_it_publish_state(
		        gw,
		        &(struct oee_it_state){.event_id = ev,
		                               .site = "OEL",
		                               .line = "L1",
		                               .station = "OEL-WELD",
		                               .state = down ? OEE_IT_UNPLANNED : OEE_IT_PRODUCING,
		                               .reason_code = down ? "BREAKDOWN.WELD.HORN" : "",
		                               .asset = down ? "OEL-WELD.horn" : "",
		                               .since_us = since});
		for (;;) {
			f = oee_it_next_figures(sub, topic, 0, LIVE_DEADLINE_MS, NULL);
			t1 = mono_us();
			if (f == NULL || t1 - t0 > LIVE_DEADLINE_MS * 1000)
				fail_msg("state %s: no OeeFigures reflecting it within 5 s", ev);
			/* Figures computed before the state was stored may still be on the way. */
			if ((int)f->current_state == (down ? OEE_IT_UNPLANNED : OEE_IT_PRODUCING) &&
			    f->until_us >= since)
				break;
			cellthread__v1__oee_figures__free_unpacked(f, NULL);
		}
		if (down)
			assert_string_equal(f->current_reason, "BREAKDOWN.WELD.HORN");
		cellthread__v1__oee_figures__free_unpacked(f, NULL);
		lat[i] = (double)(t1 - t0) / 1000.0;
		if (lat[i] > max_ms)
			max_ms = lat[i];
	}
	printf("oee-latency-ms:");
	for (int i = 0; i < n; i++)
		printf(" %.1f", lat[i]);
	qsort(lat, (size_t)n, sizeof(lat[0]), cmp_double);
	printf(" (median %.1f, max %.1f)\n", (lat[n / 2 - 1] + lat[n / 2]) / 2.0, max_ms);
	assert_true((lat[n / 2 - 1] + lat[n / 2]) / 2.0 < LIVE_MEDIAN_MS);

	/* The line figure follows too, and the history of the open shift is stored. */
	assert_true(count(h,
	                  "SELECT count(*) FROM oee_figures WHERE site = 'OEL' AND line = 'L1'"
	                  " AND station = 'OEL-WELD'",
	                  0, NULL) >= 1);
	ct_mqtt_free(gw);
	harness_sub_free(sub);
	harness_pass(h);
}

/* ---- unknown stop derived from silence ----------------------------------------------------- */

static void test_unknown_stop(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL, *oee = NULL;
	struct ct_mqtt *gw = NULL;
	const char *env[] = {"CT_OEE_PUBLISH_INTERVAL_S=1", NULL};
	char last_end[32], resumed_start[32];
	const char *p[2];
	int64_t t_last, t_resume;
	double stored_after;

	/* The gap is oee_config's (the '*' row seeded by 0011 wins over oee.unknown_gap_s): 2 s
	 * for this site. */
	quality_sql(
	        h,
	        "INSERT INTO oee_config (site, micro_stop_s, unknown_gap_s) VALUES ('OEU', 60, 2)"
	        " ON CONFLICT (site) DO UPDATE SET unknown_gap_s = 2",
	        0, NULL);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_OEE, NULL, env, &oee), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest), CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "gateway", &gw), CT_OK);

	/* Results only, never a state: 5 cells, then silence. */
	t_last = ct_now_us();
	oee_it_publish_results(gw, "OEU", "OEU-EOL", "oeu", 0, 5, t_last - 4000);
	t_last = t_last - 4000 + 4 * 1000; /* the last result's ended_at */
	snprintf(last_end, sizeof(last_end), "%" PRId64, t_last);
	p[0] = "OEU-EOL";
	p[1] = last_end;
	wait_true(h,
	          "SELECT (count(*) = 1)::int FROM station_state WHERE site = 'OEU'"
	          " AND station = $1 AND state = 7 AND source = 'derived'"
	          " AND since = 'epoch'::timestamptz + $2::bigint * interval '1 microsecond'",
	          2, p, 60000);
	/* Not before the gap: derived once nothing came for 2 s. */
	stored_after = (double)count(h,
	                             "SELECT (extract(epoch FROM stored_at) * 1e6)::bigint"
	                             " - $2::bigint FROM station_state WHERE site = 'OEU'"
	                             " AND station = $1 AND state = 7",
	                             2, p) /
	               1e6;
	printf("unknown stop derived %.3f s after the last result\n", stored_after);
	assert_true(stored_after >= 2.0);
	assert_int_equal(count(h,
	                       "SELECT count(*) FROM station_state WHERE site = 'OEU'"
	                       " AND source = 'station'",
	                       0, NULL),
	                 0);

	/* Results resume: PRODUCING since the new result's started_at (ended - 1 ms). */
	t_resume = ct_now_us();
	oee_it_publish_results(gw, "OEU", "OEU-EOL", "oeu", 5, 1, t_resume);
	snprintf(resumed_start, sizeof(resumed_start), "%" PRId64, t_resume - 1000);
	p[1] = resumed_start;
	wait_true(h,
	          "SELECT (count(*) = 1)::int FROM station_state WHERE site = 'OEU'"
	          " AND station = $1 AND state = 1 AND source = 'derived'"
	          " AND since = 'epoch'::timestamptz + $2::bigint * interval '1 microsecond'",
	          2, p, 60000);
	/* One stop, not one per check of the gap. */
	assert_int_equal(count(h,
	                       "SELECT count(*) FROM station_state WHERE site = 'OEU'"
	                       " AND state = 7",
	                       0, NULL),
	                 1);
	/* The figures over the stop: all of it unplanned (unknown), one micro-stop (< 60 s). */
	{
		const char *q[] = {last_end, resumed_start};
		json_t *o = oee_it_sql_json(
		        h,
		        "SELECT ct_oee_station('OEU', 'L1', 'OEU-EOL',"
		        " 'epoch'::timestamptz + $1::bigint * interval '1 microsecond',"
		        " 'epoch'::timestamptz + $2::bigint * interval '1 microsecond')::text",
		        2, q);
		double gap = (double)(t_resume - 1000 - t_last) / 1e6;

		print_json("ct_oee_station over the stop", o);
		oee_it_close("unplanned_down_s", oee_it_num(o, "unplanned_down_s"), gap, 1e-6);
		oee_it_close("run_s", oee_it_num(o, "run_s"), 0.0, 1e-6);
		oee_it_close("micro_stop_count", oee_it_num(o, "micro_stop_count"), 1, 0);
		json_decref(o);
	}
	ct_mqtt_free(gw);
	harness_pass(h);
}

/* ---- maintainability ----------------------------------------------------------------------- */

static void test_maintainability(void **state)
{
	struct harness *h = *state;
	struct harness_proc *router = NULL, *ingest = NULL, *oee = NULL;
	struct ct_mqtt *gate = NULL, *gw = NULL;
	const char *env[] = {NULL, NULL};
	char alert_id[64], t1s[32], t2s[32];
	const char *p[3];
	int64_t now = ct_now_us();
	int64_t t0 = now - 600000000, t1 = now - 500000000, t2 = t1 + 90500000;
	json_t *m, *list, *a = NULL, *s = NULL;
	double want_ack, want_restore;
	size_t i;
	json_t *v;

	env[0] = alert_it_write_routes(h, "id=ops team=ops severity=LOW filter=OEM/#\n");
	assert_int_equal(harness_service_start(h, HARNESS_ALERTROUTER, NULL, env, &router), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_OEE, NULL, NULL, &oee), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest), CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "spc-gate", &gate), CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "gateway", &gw), CT_OK);

	/* An alert raised as spc-gate, acknowledged by a person with the CLI, then cleared. */
	alert_it_publish(gate, &(struct alert_it_alert){.event_id = "oem-a1",
	                                                .site = "OEM",
	                                                .station = "OEM-FILL",
	                                                .code = "SPC_FILL_TEST",
	                                                .object_kind = "station",
	                                                .object_id = "OEM-FILL",
	                                                .value = 1.0});
	p[0] = "OEM";
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM alert WHERE site = $1"
	                                         " AND code = 'SPC_FILL_TEST'",
	                                         1, p, 1, WAIT),
	                 CT_OK);
	{
		PGresult *res = NULL;
		assert_int_equal(harness_sql(h,
		                             "SELECT alert_id FROM alert WHERE site = $1"
		                             " AND code = 'SPC_FILL_TEST'",
		                             1, p, &res),
		                 CT_OK);
		snprintf(alert_id, sizeof(alert_id), "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	{
		const char *args[] = {"alerts", "ack", alert_id, "--reason", "checking the nozzle",
		                      NULL};
		assert_int_equal(harness_cli(h, "cli", args, NULL), 0);
	}
	p[0] = alert_id;
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM alert_transition"
	                                         " WHERE alert_id = $1 AND action = 'ACK'",
	                                         1, p, 1, WAIT),
	                 CT_OK);
	alert_it_publish(gate, &(struct alert_it_alert){.event_id = "oem-a2",
	                                                .site = "OEM",
	                                                .station = "OEM-FILL",
	                                                .code = "SPC_FILL_TEST",
	                                                .object_kind = "station",
	                                                .object_id = "OEM-FILL",
	                                                .state = ALERT_IT_CLEARED});
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM alert WHERE alert_id = $1"
	                                         " AND state = 'NORMAL'",
	                                         1, p, 1, WAIT),
	                 CT_OK);
	{
		PGresult *res = NULL;
		assert_int_equal(
		        harness_sql(
		                h,
		                "SELECT extract(epoch FROM (SELECT min(at) FROM alert_transition"
		                " WHERE alert_id = $1 AND action = 'ACK') - raised_at)::float8,"
		                " extract(epoch FROM cleared_at - raised_at)::float8"
		                " FROM alert WHERE alert_id = $1",
		                1, p, &res),
		        CT_OK);
		want_ack = strtod(PQgetvalue(res, 0, 0), NULL);
		want_restore = strtod(PQgetvalue(res, 0, 1), NULL);
		PQclear(res);
	}

	/* A breakdown of the welder's horn, 90.5 s, then producing again. */
	oee_it_publish_state(gw, &(struct oee_it_state){.event_id = "oem-s0",
	                                                .site = "OEM",
	                                                .line = "L1",
	                                                .station = "OEM-WELD",
	                                                .state = OEE_IT_PRODUCING,
	                                                .since_us = t0});
	oee_it_publish_state(gw, &(struct oee_it_state){.event_id = "oem-s1",
	                                                .site = "OEM",
	                                                .line = "L1",
	                                                .station = "OEM-WELD",
	                                                .state = OEE_IT_UNPLANNED,
	                                                .reason_code = "BREAKDOWN.WELD.HORN",
	                                                .asset = "OEM-WELD.horn",
	                                                .since_us = t1});
	oee_it_publish_state(gw, &(struct oee_it_state){.event_id = "oem-s2",
	                                                .site = "OEM",
	                                                .line = "L1",
	                                                .station = "OEM-WELD",
	                                                .state = OEE_IT_PRODUCING,
	                                                .since_us = t2});
	assert_int_equal(harness_wait_sql_count(h,
	                                        "SELECT count(*) FROM station_state"
	                                        " WHERE site = 'OEM' AND station = 'OEM-WELD'",
	                                        3, WAIT),
	                 CT_OK);
	snprintf(t1s, sizeof(t1s), "%" PRId64, t0 - 60000000);
	snprintf(t2s, sizeof(t2s), "%" PRId64, ct_now_us() + 60000000);
	p[0] = t1s;
	p[1] = t2s;
	m = oee_it_sql_json(h,
	                    "SELECT ct_maintainability('OEM', 'L1',"
	                    " 'epoch'::timestamptz + $1::bigint * interval '1 microsecond',"
	                    " 'epoch'::timestamptz + $2::bigint * interval '1 microsecond')::text",
	                    2, p);
	print_json("ct_maintainability", m);
	list = json_object_get(m, "alerts");
	json_array_foreach(list, i, v) if (strcmp(alert_it_jstr(v, "code"), "SPC_FILL_TEST") == 0)
	        a = v;
	if (a == NULL)
		fail_msg("no SPC_FILL_TEST in ct_maintainability's alerts");
	assert_string_equal(alert_it_jstr(a, "station"), "OEM-FILL");
	oee_it_close("alerts n", oee_it_num(a, "n"), 1, 0);
	oee_it_close("alerts acked", oee_it_num(a, "acked"), 1, 0);
	oee_it_close("ack_mean_s", oee_it_num(a, "ack_mean_s"), want_ack, 1e-6);
	oee_it_close("ack_p50_s", oee_it_num(a, "ack_p50_s"), want_ack, 1e-6);
	oee_it_close("restore_n", oee_it_num(a, "restore_n"), 1, 0);
	oee_it_close("restore_mean_s", oee_it_num(a, "restore_mean_s"), want_restore, 1e-6);
	list = json_object_get(m, "stops");
	json_array_foreach(list, i, v) if (strcmp(alert_it_jstr(v, "station"), "OEM-WELD") == 0 &&
	                                   strcmp(alert_it_jstr(v, "reason_code"),
	                                          "BREAKDOWN.WELD.HORN") == 0) s = v;
	if (s == NULL)
		fail_msg("no OEM-WELD BREAKDOWN.WELD.HORN stop in ct_maintainability's stops");
	assert_string_equal(alert_it_jstr(s, "asset"), "OEM-WELD.horn");
	oee_it_close("stops n", oee_it_num(s, "n"), 1, 0);
	oee_it_close("restore_mean_s", oee_it_num(s, "restore_mean_s"), 90.5, 1e-6);
	oee_it_close("restore_p50_s", oee_it_num(s, "restore_p50_s"), 90.5, 1e-6);
	oee_it_close("down_s", oee_it_num(s, "down_s"), 90.5, 1e-6);
	json_decref(m);
	ct_mqtt_free(gate);
	ct_mqtt_free(gw);
	harness_pass(h);
}

/* ---- kill -9 of ct-oee mid-run ------------------------------------------------------------- */

static void kill_state(struct ct_mqtt *gw, const char *ev, int kind, const char *reason)
{
	oee_it_publish_state(gw, &(struct oee_it_state){.event_id = ev,
	                                                .site = "OEK",
	                                                .line = "L1",
	                                                .station = "OEK-EOL",
	                                                .state = kind,
	                                                .reason_code = reason});
}

static void test_kill9(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL, *oee = NULL;
	struct ct_mqtt *gw = NULL;
	const char *env[] = {"CT_OEE_PUBLISH_INTERVAL_S=1", NULL};
	const int chunk = 40, chunks = 10;
	json_t *row, *fresh;
	PGresult *res = NULL;
	const char *p[3];
	char shift_start[64], until[64];

	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_OEE, NULL, env, &oee), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest), CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "gateway", &gw), CT_OK);

	kill_state(gw, "oek-s1", OEE_IT_PRODUCING, "");
	for (int c = 0; c < chunks; c++) {
		oee_it_publish_results(gw, "OEK", "OEK-EOL", "oek", c * chunk, chunk, 0);
		if (c == 1) {
			/* ct-oee is at work: figures of the first results stored. */
			assert_int_equal(harness_wait_sql_count(h,
			                                        "SELECT (count(*) > 0)::int FROM"
			                                        " oee_figures WHERE site = 'OEK'"
			                                        " AND produced > 0",
			                                        1, WAIT),
			                 CT_OK);
		} else if (c == 3) {
			/* Mid-run: a chunk just published, in flight, and ct-oee killed. */
			assert_int_equal(harness_proc_kill(h, oee), CT_OK);
			kill_state(gw, "oek-s2", OEE_IT_UNPLANNED, "BREAKDOWN.GENERIC");
		} else if (c == 5) {
			kill_state(gw, "oek-s3", OEE_IT_PRODUCING, "");
			assert_int_equal(harness_proc_restart(h, oee, true), CT_OK);
		} else if (c == 7) {
			kill_state(gw, "oek-s4", OEE_IT_IDLE, "");
		}
	}
	kill_state(gw, "oek-s5", OEE_IT_PRODUCING, "");
	assert_int_equal(harness_wait_sql_count(h,
	                                        "SELECT count(*) FROM station_visit"
	                                        " WHERE site = 'OEK' AND station = 'OEK-EOL'",
	                                        chunk * chunks, WAIT),
	                 CT_OK);
	/* No state lost (the one sent while ct-oee was dead included), none twice. */
	assert_int_equal(harness_wait_sql_count(h,
	                                        "SELECT count(*) FROM station_state"
	                                        " WHERE site = 'OEK' AND station = 'OEK-EOL'",
	                                        5, WAIT),
	                 CT_OK);
	/* ct-oee's figures after everything was stored: every unit counted once. */
	assert_int_equal(harness_wait_sql_count(h,
	                                        "SELECT count(*) FROM oee_figures f"
	                                        " WHERE site = 'OEK' AND station = 'OEK-EOL'"
	                                        " AND produced = 400 AND good = 400"
	                                        " AND computed_at > (SELECT max(stored_at)"
	                                        " FROM station_state WHERE site = 'OEK')"
	                                        " AND until >= (SELECT max(ended_at) FROM"
	                                        " station_visit WHERE site = 'OEK')",
	                                        1, WAIT),
	                 CT_OK);
	assert_int_equal(harness_sql(h,
	                             "SELECT figures::text, shift_start::text, until::text"
	                             " FROM oee_figures WHERE site = 'OEK' AND station = 'OEK-EOL'"
	                             " AND produced = 400 ORDER BY computed_at DESC LIMIT 1",
	                             0, NULL, &res),
	                 CT_OK);
	row = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	assert_non_null(row);
	snprintf(shift_start, sizeof(shift_start), "%s", PQgetvalue(res, 0, 1));
	snprintf(until, sizeof(until), "%s", PQgetvalue(res, 0, 2));
	PQclear(res);
	p[0] = shift_start;
	p[1] = until;
	fresh = oee_it_sql_json(h,
	                        "SELECT ct_oee_station('OEK', 'L1', 'OEK-EOL', $1::timestamptz,"
	                        " $2::timestamptz)::text",
	                        2, p);
	print_json("stored", row);
	print_json("fresh", fresh);
	oee_it_same_figures("oee_figures vs ct_oee_station", row, fresh, TOL);
	oee_it_close("produced", oee_it_num(fresh, "produced"), 400, 0);
	json_decref(row);
	json_decref(fresh);
	ct_mqtt_free(gw);
	harness_pass(h);
}

/* ---- late quality while the traveler is behind ------------------------------------------ */

/* Publishes one visit of cell unit at OET/L1/station as the gateway: OK or NOK, ended at
 * ended_us (started 1 ms before). */
static void publish_visit(struct ct_mqtt *gw, const char *station, const char *unit,
                          const char *event_id, int64_t ended_us, bool ok)
{
	Cellthread__V1__StationResultBatch batch = CELLTHREAD__V1__STATION_RESULT_BATCH__INIT;
	Cellthread__V1__StationResult r = CELLTHREAD__V1__STATION_RESULT__INIT;
	Cellthread__V1__StationResult *rp = &r;
	Cellthread__V1__Header hdr = CELLTHREAD__V1__HEADER__INIT;
	char topic[128];
	uint8_t *buf = NULL;
	size_t len = 0;

	hdr.event_id = (char *)event_id;
	hdr.producer = (char *)"oee-it";
	hdr.produced_at_us = ended_us;
	hdr.schema_version = 1;
	r.header = &hdr;
	r.unit_id = (char *)unit;
	r.unit_kind = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_CELL;
	r.site = (char *)"OET";
	r.line = (char *)"L1";
	r.station = (char *)station;
	r.station_type = CELLTHREAD__V1__STATION_TYPE__STATION_TYPE_EOL_TEST;
	r.recipe = (char *)"21700-NMC811";
	r.recipe_version = 1;
	r.started_at_us = ended_us - 1000;
	r.ended_at_us = ended_us;
	r.result = ok ? CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_OK
	              : CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_NOK;
	batch.n_results = 1;
	batch.results = &rp;
	snprintf(topic, sizeof(topic), "ct/v1/edge/OET/L1/%s/result/pb", station);
	assert_int_equal(ct_pb_pack(&batch.base, &buf, &len), CT_OK);
	assert_int_equal(ct_mqtt_publish(gw, topic, buf, len, 1, false, WAIT), CT_OK);
	free(buf);
}

/* A cell made in yesterday's closed shift A (default shifts: 06:00-14:00 UTC) fails a retest
 * today while the traveler is stopped: ct-oee hears of the failure first. Once the traveler
 * is back and has stored the retest, the closed shift's stored figures must carry the late
 * reject (exactly one), whenever ct-oee happened to compute them. */
static void test_late_quality_traveler_behind(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL, *oee = NULL;
	struct ct_mqtt *gw = NULL;
	const char *env[] = {"CT_OEE_PUBLISH_INTERVAL_S=1", NULL};
	time_t yesterday = time(NULL) - 86400;
	struct tm tm;
	char shift_a[32];
	int64_t made_us;
	const char *p[1];

	gmtime_r(&yesterday, &tm);
	tm.tm_hour = 10;
	tm.tm_min = tm.tm_sec = 0;
	made_us = (int64_t)timegm(&tm) * 1000000;
	strftime(shift_a, sizeof(shift_a), "%Y-%m-%d/A", &tm);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_OEE, NULL, env, &oee), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest), CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "gateway", &gw), CT_OK);

	/* Both stations send their own states (nothing is derived for them: only the failure
	 * can bring the closed shift's figures up to date). */
	oee_it_publish_state(gw, &(struct oee_it_state){.event_id = "oet-s1",
	                                                .site = "OET",
	                                                .line = "L1",
	                                                .station = "OET-WIND",
	                                                .state = OEE_IT_PRODUCING,
	                                                .since_us = made_us - 3600000000LL});
	oee_it_publish_state(gw, &(struct oee_it_state){.event_id = "oet-s2",
	                                                .site = "OET",
	                                                .line = "L1",
	                                                .station = "OET-EOL",
	                                                .state = OEE_IT_PRODUCING,
	                                                .since_us = made_us - 3600000000LL});
	/* Made yesterday at 10:00 at OET-WIND: its closed shift's figures, 1 produced, 1 good. */
	publish_visit(gw, "OET-WIND", "OET-C1", "oet-make-1", made_us, true);
	p[0] = shift_a;
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM oee_figures"
	                                         " WHERE site = 'OET' AND station = 'OET-WIND'"
	                                         " AND shift_id = $1 AND produced = 1"
	                                         " AND good = 1 AND late_rejects = 0",
	                                         1, p, 1, WAIT),
	                 CT_OK);

	/* The traveler stops; the retest fails now; ct-oee hears of it and has its 1 s. */
	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	publish_visit(gw, "OET-EOL", "OET-C1", "oet-retest-1", ct_now_us(), false);
	{
		/* ct-oee computes the closed shift again (its maker's pair) before the retest is
		 * stored: the row is written again after the failure was published. */
		char before[32];
		const char *q[] = {shift_a, before};

		snprintf(before, sizeof(before), "%lld",
		         count(h,
		               "SELECT (extract(epoch FROM computed_at) * 1e6)::bigint"
		               " FROM oee_figures WHERE site = 'OET' AND station = 'OET-WIND'"
		               " AND shift_id = $1",
		               1, p));
		wait_true(h,
		          "SELECT (computed_at > 'epoch'::timestamptz + $2::bigint"
		          " * interval '1 microsecond')::int FROM oee_figures WHERE site = 'OET'"
		          " AND station = 'OET-WIND' AND shift_id = $1",
		          2, q, 30000);
		/* And again if it settles a failure's figures once more later (after
		 * oee.publish_interval_s): the traveler stays away longer than that. */
		snprintf(before, sizeof(before), "%lld",
		         count(h,
		               "SELECT (extract(epoch FROM computed_at) * 1e6)::bigint"
		               " FROM oee_figures WHERE site = 'OET' AND station = 'OET-WIND'"
		               " AND shift_id = $1",
		               1, p));
		for (int64_t end = ct_mono_ms() + 5000;
		     ct_mono_ms() < end &&
		     count(h,
		           "SELECT (computed_at > 'epoch'::timestamptz + $2::bigint"
		           " * interval '1 microsecond')::int FROM oee_figures WHERE site = 'OET'"
		           " AND station = 'OET-WIND' AND shift_id = $1",
		           2, q) == 0;) {
			struct timespec ts = {0, 20 * 1000 * 1000};
			nanosleep(&ts, NULL); /* a poll; the deadline bounds it */
		}
		assert_int_equal(count(h,
		                       "SELECT late_rejects FROM oee_figures WHERE site = 'OET'"
		                       " AND station = 'OET-WIND' AND shift_id = $1",
		                       1, p),
		                 0);
	}

	/* The traveler is back and stores the retest: the late reject must reach the closed
	 * shift's stored figures. */
	assert_int_equal(harness_proc_restart(h, traveler, true), CT_OK);
	assert_int_equal(harness_wait_sql_count(h,
	                                        "SELECT count(*) FROM station_visit"
	                                        " WHERE event_id = 'oet-retest-1'",
	                                        1, WAIT),
	                 CT_OK);
	assert_int_equal(count(h,
	                       "SELECT (ct_oee_shift('OET', 'L1', 'OET-WIND', $1)->>"
	                       "'late_rejects')::int",
	                       1, p),
	                 1);
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM oee_figures"
	                                         " WHERE site = 'OET' AND station = 'OET-WIND'"
	                                         " AND shift_id = $1 AND produced = 1"
	                                         " AND good = 0 AND late_rejects = 1",
	                                         1, p, 1, 30000),
	                 CT_OK);
	ct_mqtt_free(gw);
	harness_pass(h);
}

/* ---- closed loop: response times and traceability depth ------------------------------------- */

/* Publishes, as the gateway, a cell wound at OEC's winder and nothing after: no welding, no
 * filling..., and its winding without parameters or recipe version, from a coil whose
 * material was never traced. */
static void publish_incomplete_cell(struct ct_mqtt *gw, const char *unit)
{
	Cellthread__V1__StationResultBatch batch = CELLTHREAD__V1__STATION_RESULT_BATCH__INIT;
	Cellthread__V1__StationResult r = CELLTHREAD__V1__STATION_RESULT__INIT;
	Cellthread__V1__StationResult *rp = &r;
	Cellthread__V1__Header hdr = CELLTHREAD__V1__HEADER__INIT;
	Cellthread__V1__MaterialUse mat = CELLTHREAD__V1__MATERIAL_USE__INIT;
	Cellthread__V1__MaterialUse *matp = &mat;
	Cellthread__V1__ChildUnit coil = CELLTHREAD__V1__CHILD_UNIT__INIT;
	Cellthread__V1__ChildUnit *coilp = &coil;
	uint8_t *buf = NULL;
	size_t len = 0;
	int64_t now = ct_now_us();

	hdr.event_id = (char *)"oec-incomplete-1";
	hdr.producer = (char *)"oee-it";
	hdr.produced_at_us = now;
	hdr.schema_version = 1;
	r.header = &hdr;
	r.unit_id = (char *)unit;
	r.unit_kind = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_CELL;
	r.site = (char *)"OEC";
	r.line = (char *)"L9";
	r.station = (char *)"L9-WIND-01";
	r.station_type = CELLTHREAD__V1__STATION_TYPE__STATION_TYPE_WINDING;
	r.recipe = (char *)"21700-NMC811";
	r.recipe_version = 0; /* not given: a check of its own */
	r.started_at_us = now - 2000;
	r.ended_at_us = now;
	r.result = CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_OK;
	mat.lot_id = (char *)"OEC-SEP-UNTRACED";
	mat.material = (char *)"separator";
	mat.quantity = 1.2;
	mat.unit = (char *)"m";
	r.n_materials = 1;
	r.materials = &matp;
	/* A cathode coil nobody ever reported: its genealogy ends at it, no material lot. */
	coil.unit_id = (char *)"OEC-COIL-UNTRACED";
	coil.kind = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_ELECTRODE;
	coil.quantity = 1.2;
	coil.unit = (char *)"m";
	r.n_children = 1;
	r.children = &coilp;
	batch.n_results = 1;
	batch.results = &rp;
	assert_int_equal(ct_pb_pack(&batch.base, &buf, &len), CT_OK);
	assert_int_equal(ct_mqtt_publish(gw, "ct/v1/edge/OEC/L9/L9-WIND-01/result/pb", buf, len, 1,
	                                 false, WAIT),
	                 CT_OK);
	free(buf);
}

static void test_closed_loop(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL, *gate = NULL, *oee = NULL;
	struct harness_proc *linesim = NULL;
	struct ct_mqtt *gw = NULL;
	const char *env[] = {"CT_SIM_SITE=OEC",
	                     "CT_SIM_CELLS=0",
	                     "CT_SIM_RATE=150",
	                     "CT_SIM_SEED=101",
	                     "CT_SIM_UNIT_PREFIX=OEC-",
	                     "CT_SIM_FAULTS=nozzle,coating_drift",
	                     "CT_SIM_OBEY_COMMANDS=true",
	                     "CT_SIM_TELEMETRY_HZ=1",
	                     NULL};
	PGresult *res = NULL;
	char cell[96];
	const char *p[1];
	json_t *d;

	assert_int_equal(harness_load_starter_config(h), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_SPCGATE, NULL, NULL, &gate), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_OEE, NULL, NULL, &oee), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_LINESIM, NULL, env, &linesim), CT_OK);

	/* An automatic action of a reaction plan, acknowledged by the simulated station, with its
	 * cause result stored: both legs of the response are measurable. */
	wait_true(h,
	          "SELECT (count(*) > 0)::int FROM ct_response_times('OEC', 'L1', NULL,"
	          " now() - interval '1 hour', now() + interval '1 hour')"
	          " WHERE acked_at IS NOT NULL AND result_at IS NOT NULL",
	          0, NULL, 180000);
	assert_int_equal(harness_proc_stop(h, linesim), CT_OK);
	assert_int_equal(
	        harness_sql(h,
	                    "SELECT command_id, station, kind, reaction_plan,"
	                    " signal_to_command_ms, command_to_ack_ms, total_ms, ack_status"
	                    " FROM ct_response_times('OEC', 'L1', NULL,"
	                    " now() - interval '1 hour', now() + interval '1 hour')"
	                    " WHERE acked_at IS NOT NULL AND result_at IS NOT NULL",
	                    0, NULL, &res),
	        CT_OK);
	for (int i = 0; i < PQntuples(res); i++) {
		double s2c = strtod(PQgetvalue(res, i, 4), NULL);
		double c2a = strtod(PQgetvalue(res, i, 5), NULL);
		double total = strtod(PQgetvalue(res, i, 6), NULL);

		printf("response %s %s %s %s: signal->command %.1f ms, command->ack %.1f ms,"
		       " total %.1f ms, ack status %s\n",
		       PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
		       PQgetvalue(res, i, 3), s2c, c2a, total, PQgetvalue(res, i, 7));
		assert_false(PQgetisnull(res, i, 4));
		assert_false(PQgetisnull(res, i, 5));
		/* Plausible: the gate decides after the result ended, within a minute on this
		 * machine; the simulator acknowledges within seconds; the legs add up. */
		assert_true(s2c >= 0.0 && s2c < 60000.0);
		assert_true(c2a >= 0.0 && c2a < 30000.0);
		oee_it_close("total_ms", total, s2c + c2a, 1e-3);
	}
	PQclear(res);
	/* Every acknowledgement the simulator sent is stored by ct-oee with its command. */
	assert_true(count(h,
	                  "SELECT count(*) FROM command_ack c JOIN automatic_action a"
	                  " ON a.command_id = c.command_id WHERE a.site = 'OEC' AND c.status = 1",
	                  0, NULL) >= 1);

	/* Traceability depth: a cell that went through every station of the route, judged. */
	assert_int_equal(harness_sql(h,
	                             "SELECT v.unit_id FROM station_visit v WHERE v.site = 'OEC'"
	                             " AND v.unit_kind = 4 GROUP BY v.unit_id"
	                             " HAVING count(DISTINCT v.station_type) = 9"
	                             " AND bool_and(v.result = 1) ORDER BY min(v.ended_at) LIMIT 1",
	                             0, NULL, &res),
	                 CT_OK);
	assert_int_equal(PQntuples(res), 1);
	snprintf(cell, sizeof(cell), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	p[0] = cell;
	if (harness_wait_sql_countv(h, "SELECT (ct_trace_depth($1)->>'score')::numeric::int", 1, p,
	                            100, 60000) != CT_OK) {
		d = oee_it_sql_json(h, "SELECT ct_trace_depth($1)::text", 1, p);
		print_json("ct_trace_depth", d);
		fail_msg("%s: trace depth not 100", cell);
	}
	d = oee_it_sql_json(h, "SELECT ct_trace_depth($1)::text", 1, p);
	assert_true(json_is_true(json_object_get(d, "complete")));
	assert_int_equal(json_array_size(json_object_get(d, "missing")), 0);
	json_decref(d);

	/* A cell a gateway left incomplete: wound (without parameters, coils, recipe version),
	 * then nothing. */
	assert_int_equal(harness_mqtt_connect(h, "gateway", &gw), CT_OK);
	publish_incomplete_cell(gw, "OEC-INCOMPLETE-1");
	assert_int_equal(harness_wait_sql_count(h,
	                                        "SELECT count(*) FROM station_visit"
	                                        " WHERE unit_id = 'OEC-INCOMPLETE-1'",
	                                        1, WAIT),
	                 CT_OK);
	p[0] = "OEC-INCOMPLETE-1";
	d = oee_it_sql_json(h, "SELECT ct_trace_depth($1)::text", 1, p);
	print_json("ct_trace_depth of the incomplete cell", d);
	assert_true(oee_it_num(d, "score") < 100.0);
	assert_false(json_is_true(json_object_get(d, "complete")));
	{
		char *missing = json_dumps(json_object_get(d, "missing"), JSON_COMPACT);
		assert_non_null(missing);
		/* The route's missing stations and the winding's missing evidence are named. */
		assert_non_null(strstr(missing, "TAB_WELDING"));
		assert_non_null(strstr(missing, "ELECTROLYTE_FILLING"));
		assert_non_null(strstr(missing, "recipe version"));
		assert_non_null(strstr(missing, "OEC-COIL-UNTRACED"));
		free(missing);
	}
	json_decref(d);
	ct_mqtt_free(gw);
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("oee", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_scenario, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_live_latency, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_unknown_stop, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_maintainability, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_kill9, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_closed_loop, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_late_quality_traveler_behind,
	                                        harness_test_setup, harness_test_teardown),
	};

	/* CT_IT_FILTER=test_kill9 runs one test (a cmocka glob). */
	if (getenv("CT_IT_FILTER") != NULL)
		cmocka_set_test_filter(getenv("CT_IT_FILTER"));
	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
