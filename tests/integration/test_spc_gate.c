/* test_spc_gate: the quality gate against the real broker and database.
 *
 * The starter configuration for the simulated line (deploy/config/spc-linesim.sql) is loaded
 * as the `quality` login, then ct-linesim runs with one fault switched on, through ct-ingest
 * into ct-spc-gate and ct-traveler:
 *   nozzle         the fill-mass chart signals, the filler gets SLOW (reason
 *                  SPC_FILL_NOZZLE_MISCALIBRATION), the electrolyte lot is held by the
 *                  fail-rate gate, failed cells and cells of the held lot are in inspection;
 *   coating_drift  the loading EWMA signals, the coater gets ADJUST slot_die_gap against the
 *                  drift within its bounded step, the out-of-spec coil is held and the cells
 *                  wound from it are in inspection; undoing the action sends the inverse;
 *   kill -9        spc-gate is SIGKILLed twice mid-stream: every result judged exactly once
 *                  (one verdict each, none lost, none twice), and every chart holds exactly
 *                  one point per measurement, so its state continued across the restarts;
 *   constants      two X-bar/R charts on one bench characteristic, identical but for
 *                  spc_chart.constants ('exact', 'table'; migration 0007), fed the same
 *                  subgroups through ingest: each chart's stored limits, capability and
 *                  signal limits are those of its own constants (issue 11, item 1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ct_config.h"
#include "ct_error.h"
#include "ct_pb.h"
#include "ct_time.h"
#include "harness.h"

#define RUN_TIMEOUT_MS 240000
#define SIGNAL_WAIT_MS 180000
/* Units made from lot $1 that are not in the inspection queue. The hold's genealogy walk runs
 * again once traveler has stored the result that caused the hold, so this reaches 0. */
#define MISSING_FROM_INSPECTION                                                                    \
	"SELECT count(DISTINCT g.parent_id) FROM genealogy g WHERE g.child_id = $1"                \
	" AND NOT EXISTS (SELECT 1 FROM inspection_item i WHERE i.unit_id = g.parent_id)"

/* Loads the starter configuration as the quality login: the same SQL a plant engineer runs,
 * with the privileges ct_quality has. */
/* Runs SQL as the quality login (decisions with a name on them). */
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

static long long count(struct harness *h, const char *sql, int n, const char *const *params)
{
	long long v = -1;
	assert_int_equal(harness_sql_long(h, sql, n, params, &v), CT_OK);
	return v;
}

struct stack {
	struct harness_proc *ingest, *traveler, *gate, *linesim;
	char summary_path[HARNESS_PATH_MAX];
};

static void stack_start(struct harness *h, struct stack *st, const char *site, const char *faults,
                        int cells, int rate, const char *seed)
{
	char e_site[64], e_cells[32], e_faults[64], e_seed[64], e_summary[HARNESS_PATH_MAX + 32];
	char e_rate[32], e_prefix[64];
	/* A unit prefix per site: the sites share one database, and the same cell ID put into
	 * another site's module is a second parent, which traveler refuses. */
	const char *env[] = {e_site, e_cells,  e_seed,   e_summary, "CT_SIM_LINES=1",
	                     e_rate, e_prefix, e_faults, NULL};

	memset(st, 0, sizeof(*st));
	assert_int_equal(harness_load_starter_config(h), CT_OK);
	snprintf(st->summary_path, sizeof(st->summary_path), "%s/linesim-%s.json", h->dir, site);
	snprintf(e_site, sizeof(e_site), "CT_SIM_SITE=%s", site);
	snprintf(e_cells, sizeof(e_cells), "CT_SIM_CELLS=%d", cells);
	snprintf(e_rate, sizeof(e_rate), "CT_SIM_RATE=%d", rate);
	snprintf(e_prefix, sizeof(e_prefix), "CT_SIM_UNIT_PREFIX=%s-", site);
	if (faults != NULL)
		snprintf(e_faults, sizeof(e_faults), "CT_SIM_FAULTS=%s", faults);
	else
		env[7] = NULL; /* no fault */
	snprintf(e_seed, sizeof(e_seed), "CT_SIM_SEED=%s", seed);
	snprintf(e_summary, sizeof(e_summary), "CT_SIM_SUMMARY=%s", st->summary_path);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &st->traveler),
	                 CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_SPCGATE, NULL, NULL, &st->gate), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &st->ingest), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_LINESIM, NULL, env, &st->linesim), CT_OK);
}

/* Waits for linesim to finish and for every result it sent to be judged and stored. */
static long long stack_drain(struct harness *h, struct stack *st, const char *site)
{
	json_error_t jerr;
	json_t *summary;
	long long results;
	const char *p[] = {site};

	assert_int_equal(harness_proc_wait_exit(h, st->linesim, RUN_TIMEOUT_MS), CT_OK);
	summary = json_load_file(st->summary_path, 0, &jerr);
	if (summary == NULL)
		fail_msg("cannot read linesim's summary: %s", jerr.text);
	results = (long long)json_integer_value(json_object_get(summary, "results"));
	json_decref(summary);
	assert_true(results > 0);
	assert_int_equal(
	        harness_wait_sql_countv(h, "SELECT count(*) FROM station_visit WHERE site = $1", 1,
	                                p, results, RUN_TIMEOUT_MS),
	        CT_OK);
	assert_int_equal(
	        harness_wait_sql_countv(h, "SELECT count(*) FROM unit_verdict WHERE site = $1", 1,
	                                p, results, RUN_TIMEOUT_MS),
	        CT_OK);
	return results;
}

static void stack_stop(struct harness *h, struct stack *st)
{
	assert_int_equal(harness_proc_stop(h, st->ingest), CT_OK);
	assert_int_equal(harness_proc_stop(h, st->gate), CT_OK);
	assert_int_equal(harness_proc_stop(h, st->traveler), CT_OK);
}

/* What the station side of the test saw. */
struct seen {
	bool alert, command, lot_held;
	char alert_rule[32];
	char command_id[64];
	char lot_id[72];
	double delta, target;
};

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Reads alerts, commands and lot status until want_* are all seen or the deadline passes. */
static void watch(struct harness_sub *sub, struct harness_proc *linesim, const char *chart_prefix,
                  const char *const *rules, const char *station_suffix, int command_kind,
                  const char *reason_code, const char *lot_marker, struct seen *out)
{
	int64_t deadline = ct_mono_ms() + SIGNAL_WAIT_MS;

	memset(out, 0, sizeof(*out));
	while (!(out->alert && out->command && out->lot_held) && ct_mono_ms() < deadline) {
		const char *topic;
		const uint8_t *payload;
		size_t len;
		if (!harness_proc_is_alive(linesim) && linesim->status != 0)
			fail_msg("linesim failed (status %d); see its log", linesim->status);
		if (harness_sub_next(sub, 1000, &topic, &payload, &len) != CT_OK)
			continue;
		if (ends_with(topic, "/alert")) {
			Cellthread__V1__Alert *a =
			        cellthread__v1__alert__unpack(NULL, len, payload);
			assert_non_null(a);
			if (strncmp(a->chart_id, chart_prefix, strlen(chart_prefix)) == 0) {
				for (size_t i = 0; rules[i] != NULL; i++) {
					if (strcmp(a->rule, rules[i]) == 0 && !out->alert) {
						out->alert = true;
						snprintf(out->alert_rule, sizeof(out->alert_rule),
						         "%s", a->rule);
						/* The alert names chart, rule and points. */
						assert_true(a->last_point >= a->first_point);
						assert_true(a->first_point >= 1);
						assert_non_null(strstr(a->text, a->chart_id));
						assert_non_null(strstr(a->text, a->rule));
						assert_true(a->cause_event_id[0] != '\0');
					}
				}
			}
			cellthread__v1__alert__free_unpacked(a, NULL);
		} else if (ends_with(topic, "/command")) {
			Cellthread__V1__StationCommand *c =
			        cellthread__v1__station_command__unpack(NULL, len, payload);
			assert_non_null(c);
			if (!out->command && ends_with(c->station, station_suffix) &&
			    (int)c->kind == command_kind &&
			    strcmp(c->reason_code, reason_code) == 0 &&
			    c->undoes_event_id[0] == '\0') {
				out->command = true;
				snprintf(out->command_id, sizeof(out->command_id), "%s",
				         c->header->event_id);
				out->delta = c->delta;
				out->target = c->target_value;
				assert_true(c->cause_event_id[0] != '\0');
				assert_true(c->reason_text[0] != '\0');
			}
			cellthread__v1__station_command__free_unpacked(c, NULL);
		} else if (strncmp(topic, "ct/v1/lot/", 10) == 0 && len > 0) {
			Cellthread__V1__LotStatus *l =
			        cellthread__v1__lot_status__unpack(NULL, len, payload);
			assert_non_null(l);
			if (!out->lot_held && strstr(l->lot_id, lot_marker) != NULL &&
			    l->state == CELLTHREAD__V1__LOT_STATE__LOT_STATE_HELD) {
				out->lot_held = true;
				snprintf(out->lot_id, sizeof(out->lot_id), "%s", l->lot_id);
				assert_string_equal(l->changed_by, "spc-gate");
				assert_non_null(strstr(l->reason, "gate rule"));
			}
			cellthread__v1__lot_status__free_unpacked(l, NULL);
		}
	}
	if (!out->alert)
		fail_msg("no %s alert with the expected rule within %d s", chart_prefix,
		         SIGNAL_WAIT_MS / 1000);
	if (!out->command)
		fail_msg("the %s station received no %s command", station_suffix, reason_code);
	if (!out->lot_held)
		fail_msg("no %s lot was held", lot_marker);
}

static struct harness_sub *subscribe(struct harness *h, const char *site)
{
	char commands[96], alerts[96], lots[96];
	const char *filters[] = {commands, alerts, lots};
	struct harness_sub *sub = NULL;

	snprintf(commands, sizeof(commands), "ct/v1/plant/%s/+/+/command", site);
	snprintf(alerts, sizeof(alerts), "ct/v1/plant/%s/+/+/alert", site);
	snprintf(lots, sizeof(lots), "ct/v1/lot/%s/#", site);
	assert_int_equal(harness_sub_newv(h, "cli", filters, 3, &sub), CT_OK);
	return sub;
}

static void test_nozzle(void **state)
{
	struct harness *h = *state;
	const char *rules[] = {"nelson4", NULL};
	struct harness_sub *sub = subscribe(h, "SN");
	struct stack st;
	struct seen seen;
	const char *p[2];

	stack_start(h, &st, "SN", "nozzle", 800, 150, "101");
	watch(sub, st.linesim, "fill-nozzle", rules, "FILL-01",
	      CELLTHREAD__V1__COMMAND_KIND__COMMAND_KIND_SLOW, "SPC_FILL_NOZZLE_MISCALIBRATION",
	      "-ELY-", &seen);
	printf("nozzle: alert rule %s, SLOW command %s, lot %s held\n", seen.alert_rule,
	       seen.command_id, seen.lot_id);
	assert_float_equal(seen.target, 60.0, 0.0);
	stack_drain(h, &st, "SN");

	/* The command is in the action log with its cause (the nozzle pattern, Nelson 4), taken
	 * only after the plan's 3 signals, not on one stray point; the hold is in the audit trail.
	 */
	p[0] = seen.command_id;
	assert_int_equal(count(h,
	                       "SELECT count(*) FROM automatic_action a JOIN spc_signal s"
	                       " ON s.alert_id = a.alert_id WHERE a.command_id = $1"
	                       " AND s.chart_id = 'fill-nozzle' AND s.rule = 'nelson4'"
	                       " AND a.cause_event_id <> ''",
	                       1, p),
	                 1);
	assert_true(count(h,
	                  "SELECT count(*) FROM spc_signal s JOIN automatic_action a"
	                  " ON a.chart_id = s.chart_id AND a.site = s.site"
	                  " WHERE a.command_id = $1 AND s.raised_at <= a.decided_at",
	                  1, p) >= 10);
	p[0] = "SN";
	p[1] = seen.lot_id;
	assert_int_equal(
	        count(h,
	              "SELECT count(*) FROM lot_audit WHERE site = $1 AND lot_id = $2"
	              " AND to_state = 2 AND actor = 'spc-gate' AND published_at IS NOT NULL",
	              2, p),
	        1);
	/* Failed cells are queued for inspection with the failing characteristic... */
	assert_true(count(h,
	                  "SELECT count(*) FROM inspection_item WHERE site = $1"
	                  " AND reason LIKE 'fill_mass %' AND disposition IS NULL",
	                  1, p) > 0);
	/* ...and every cell filled from the held lot is in inspection too (genealogy forward
	 * at the hold, ingest's flag afterwards): none missing. */
	p[0] = seen.lot_id;
	assert_int_equal(harness_wait_sql_countv(h, MISSING_FROM_INSPECTION, 1, p, 0, 60000),
	                 CT_OK);
	assert_true(count(h, "SELECT count(*) FROM inspection_item WHERE cause = 'lot:' || $1", 1,
	                  p) > 0);
	/* Ingest flagged cells consuming the lot after the hold. */
	assert_true(count(h, "SELECT count(*) FROM station_visit WHERE $1 = ANY (held_lots)", 1,
	                  p) > 0);
	stack_stop(h, &st);
	harness_sub_free(sub);
	harness_pass(h);
}

static void test_coating_drift(void **state)
{
	struct harness *h = *state;
	const char *rules[] = {"ewma", NULL};
	struct harness_sub *sub = subscribe(h, "SC");
	struct stack st;
	struct seen seen;
	const char *p[2];
	int64_t deadline;
	bool undone = false;

	stack_start(h, &st, "SC", "coating_drift", 1200, 150, "202");
	watch(sub, st.linesim, "coat-", rules, "COAT-C01",
	      CELLTHREAD__V1__COMMAND_KIND__COMMAND_KIND_ADJUST, "SPC_COATING_LOADING_DRIFT",
	      "-CATH-", &seen);
	printf("coating drift: alert rule %s, ADJUST %s by %+.4f to %.4f, coil %s held\n",
	       seen.alert_rule, seen.command_id, seen.delta, seen.target, seen.lot_id);
	/* Loading drifts up: the gap closes, by at most the plan's 2 um, inside 130..160 um. */
	assert_true(seen.delta < 0.0);
	assert_true(seen.delta >= -2.0);
	assert_true(seen.target >= 130.0 && seen.target <= 160.0);
	stack_drain(h, &st, "SC");

	p[0] = "SC";
	p[1] = seen.lot_id;
	/* The coil failed its spec, and its cells are all in inspection. */
	assert_true(count(h,
	                  "SELECT count(*) FROM inspection_item WHERE site = $1 AND unit_id = $2"
	                  " AND reason LIKE 'areal_loading above USL%'",
	                  2, p) == 1);
	p[0] = seen.lot_id;
	assert_true(count(h, "SELECT count(*) FROM genealogy WHERE child_id = $1", 1, p) > 0);
	assert_int_equal(harness_wait_sql_countv(h, MISSING_FROM_INSPECTION, 1, p, 0, 60000),
	                 CT_OK);

	/* Undo: the engineer's request (as the quality login) makes spc-gate send the inverse
	 * ADJUST, linked to the original, and log who asked. */
	p[0] = seen.command_id;
	p[1] = "test: gap set by hand";
	quality_sql(h, "SELECT ct_undo_action($1, $2)", 2, p);
	deadline = ct_mono_ms() + 60000;
	while (!undone && ct_mono_ms() < deadline) {
		const char *topic;
		const uint8_t *payload;
		size_t len;
		if (harness_sub_next(sub, 1000, &topic, &payload, &len) != CT_OK ||
		    !ends_with(topic, "/command"))
			continue;
		Cellthread__V1__StationCommand *c =
		        cellthread__v1__station_command__unpack(NULL, len, payload);
		assert_non_null(c);
		if (strcmp(c->undoes_event_id, seen.command_id) == 0) {
			undone = true;
			assert_int_equal(c->kind,
			                 CELLTHREAD__V1__COMMAND_KIND__COMMAND_KIND_ADJUST);
			assert_float_equal(c->delta, -seen.delta, 1e-9);
			assert_float_equal(c->target_value, seen.target - seen.delta, 1e-9);
		}
		cellthread__v1__station_command__free_unpacked(c, NULL);
	}
	assert_true(undone);
	p[0] = seen.command_id;
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM automatic_action WHERE"
	                                         " command_id = $1 AND undone_at IS NOT NULL AND"
	                                         " undo_requested_by = 'quality'",
	                                         1, p, 1, 30000),
	                 CT_OK);
	stack_stop(h, &st);
	harness_sub_free(sub);
	harness_pass(h);
}

/* Every chart instance of this site holds exactly one point per observation it was fed:
 * points = measurements (imr, ewma, cusum) or full subgroups (xbar). */
static void check_chart_points(struct harness *h, const char *site)
{
	static const struct {
		const char *chart, *characteristic;
		int per_point;
	} charts[] = {
	        {"fill-mass", "fill_mass", 1},
	        {"weld-vision", "vision_score", 1},
	        {"seal-decay", "pressure_decay", 1},
	        {"eol-dcir", "dcir", 5},
	};
	for (size_t i = 0; i < sizeof(charts) / sizeof(charts[0]); i++) {
		char per[8];
		const char *p[] = {site, charts[i].chart, charts[i].characteristic, per};
		long long points, expected;
		snprintf(per, sizeof(per), "%d", charts[i].per_point);
		points =
		        count(h,
		              "SELECT coalesce(sum(points), 0) FROM spc_chart_state WHERE site = $1"
		              " AND chart_id = $2",
		              2, p);
		expected = count(
		        h,
		        "SELECT coalesce(sum(n / $4::int), 0) FROM (SELECT station, count(*) n"
		        " FROM measurement m WHERE site = $1 AND characteristic = $3"
		        " AND EXISTS (SELECT 1 FROM spc_chart_state s WHERE s.site = $1"
		        " AND s.chart_id = $2 AND s.station = m.station)"
		        " GROUP BY station) d",
		        4, p);
		printf("chart %s: %lld points for %lld expected\n", charts[i].chart, points,
		       expected);
		assert_true(expected > 0);
		assert_int_equal(points, expected);
	}
}

/* Live capability of the fill-nozzle charts (fixed sigma 0.010, spec 4.955..5.045 g) against
 * the stored measurements: values = the station's fill_mass measurements (so the overall
 * statistics, saved with the chart, were neither lost nor counted twice across the kills),
 * Cp = 0.09 / (6 * 0.010) = 1.5, Cpk = 0.045 / 0.030 = 1.5 and Cpm = 0.09 / (6 sqrt(0.010^2 +
 * (5.00 - 5.00)^2)) = 1.5 (the chart's centre 5.00 and within sigma; Montgomery ISQC eq. 8.21;
 * before issue 11 the column held Ppm, the overall-sigma index), Pp and Ppk from PostgreSQL's
 * own avg and stddev_samp of the same values, to 1e-9 relative. */
static void check_capability(struct harness *h, const char *site)
{
	const char *p[] = {site};
	const char *from =
	        " FROM spc_chart_state s JOIN (SELECT station, count(*) n, avg(value) mu,"
	        " stddev_samp(value) sd FROM measurement WHERE site = $1"
	        " AND characteristic = 'fill_mass' GROUP BY station) m ON m.station = s.station"
	        " WHERE s.site = $1 AND s.chart_id = 'fill-nozzle'";
	char sql[1024];
	long long instances, wrong;

	snprintf(sql, sizeof(sql), "SELECT count(*)%s", from);
	instances = count(h, sql, 1, p);
	snprintf(sql, sizeof(sql),
	         "SELECT count(*)%s AND NOT (s.overall_n = m.n AND abs(s.cp - 1.5) < 1e-9"
	         " AND abs(s.pp / (0.09 / (6 * m.sd)) - 1) < 1e-9"
	         " AND abs(s.ppk / (least(m.mu - 4.955, 5.045 - m.mu) / (3 * m.sd)) - 1) < 1e-9"
	         " AND abs(s.cpm - 1.5) < 1e-9"
	         " AND abs(s.cpk - 1.5) < 1e-9)",
	         from);
	wrong = count(h, sql, 1, p);
	{
		PGresult *res = NULL;
		snprintf(sql, sizeof(sql),
		         "SELECT s.station, s.overall_n, m.n, s.cp, s.cpk, s.pp, s.ppk, s.cpm%s",
		         from);
		assert_int_equal(harness_sql(h, sql, 1, p, &res), CT_OK);
		for (int r = 0; r < PQntuples(res); r++)
			printf("capability %s: %s values (%s measurements) Cp %s Cpk %s Pp %s Ppk "
			       "%s "
			       "Cpm %s\n",
			       PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), PQgetvalue(res, r, 2),
			       PQgetvalue(res, r, 3), PQgetvalue(res, r, 4), PQgetvalue(res, r, 5),
			       PQgetvalue(res, r, 6), PQgetvalue(res, r, 7));
		PQclear(res);
	}
	assert_true(instances > 0);
	assert_int_equal(wrong, 0);
}

static void test_kill9_gate(void **state)
{
	struct harness *h = *state;
	struct stack st;
	const char *p[] = {"SK"};
	const char *judged_sql = "SELECT count(*) FROM spc_judged j JOIN station_visit v"
	                         " ON v.event_id = j.source_event_id WHERE v.site = $1";
	long long results, kills[] = {2000, 6000};

	/* Slow enough that the kills land while the line still runs. */
	stack_start(h, &st, "SK", NULL, 700, 25, "303");
	for (size_t k = 0; k < 2; k++) {
		long long judged = 0;
		int64_t deadline = ct_mono_ms() + RUN_TIMEOUT_MS;
		/* Polls the condition with a deadline: kill as soon as the count passes the mark.
		 */
		while ((judged = count(h, judged_sql, 1, p)) < kills[k] &&
		       ct_mono_ms() < deadline && harness_proc_is_alive(st.linesim))
			nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
		assert_true(judged >= kills[k]);
		assert_true(harness_proc_is_alive(st.linesim)); /* mid-stream, not after it */
		assert_int_equal(harness_proc_kill(h, st.gate), CT_OK);
		printf("kill %zu: SIGKILL spc-gate with %lld results judged\n", k + 1, judged);
		assert_int_equal(harness_proc_restart(h, st.gate, true), CT_OK);
	}
	results = stack_drain(h, &st, "SK");
	/* One verdict per result, one judged record per result: none lost, none twice. (The
	 * verdict is published before spc-gate's save, so the judged rows may trail it.) */
	assert_int_equal(harness_wait_sql_countv(h, judged_sql, 1, p, results, 60000), CT_OK);
	assert_int_equal(count(h, "SELECT count(*) FROM unit_verdict WHERE site = $1", 1, p),
	                 results);
	assert_int_equal(count(h,
	                       "SELECT count(*) FROM (SELECT source_event_id FROM unit_verdict"
	                       " WHERE site = $1 GROUP BY 1 HAVING count(*) > 1) d",
	                       1, p),
	                 0);
	assert_int_equal(st.gate->starts, 3);
	check_chart_points(h, "SK");
	check_capability(h, "SK");
	/* A healthy line (no fault switched on): chance signals, but no action. */
	assert_int_equal(count(h, "SELECT count(*) FROM automatic_action WHERE site = $1", 1, p),
	                 0);
	stack_stop(h, &st);
	harness_pass(h);
}

/* ---- constants: the exact and the printed (table) constants, live ---- */

#define CX_SITE    "CX"
#define CX_STATION "BENCH-1"
#define CX_TOPIC   "ct/v1/edge/" CX_SITE "/L1/" CX_STATION "/result/pb"
#define CX_PHASE1  20 /* baseline subgroups */
/* sqrt(5) as a literal: the test programs do not link libm. */
#define CX_SQRT5 2.2360679774997896964

/* Montgomery & Runger, Applied Statistics and Probability for Engineers, 3rd ed. (Wiley
 * 2003), Table 16-1: vane opening, 20 subgroups of 5 (the data of tests/unit/test_spc_charts.c,
 * whose engine-level checks this test repeats through the service). */
static const double vane[CX_PHASE1][5] = {
        {33, 29, 31, 32, 33}, {33, 31, 35, 37, 31}, {35, 37, 33, 34, 36}, {30, 31, 33, 34, 33},
        {33, 34, 35, 33, 34}, {38, 37, 39, 40, 38}, {30, 31, 32, 34, 31}, {29, 39, 38, 39, 39},
        {28, 33, 35, 36, 43}, {38, 33, 32, 35, 32}, {28, 30, 28, 32, 31}, {31, 35, 35, 35, 34},
        {27, 32, 34, 35, 37}, {33, 33, 35, 37, 36}, {35, 37, 32, 35, 39}, {33, 33, 27, 31, 30},
        {35, 34, 34, 30, 32}, {32, 33, 30, 30, 33}, {25, 27, 34, 27, 28}, {35, 35, 36, 33, 30},
};

/* Publishes subgroup `sub` of the vane data as one batch of 5 results (one unit each, the
 * vane opening its only measurement) as the gateway, in the subgroup's order. */
static void publish_subgroup(struct harness *h, int pass, int sub)
{
	Cellthread__V1__StationResultBatch batch = CELLTHREAD__V1__STATION_RESULT_BATCH__INIT;
	Cellthread__V1__StationResult r[5], *rp[5];
	Cellthread__V1__Header hd[5];
	Cellthread__V1__Measurement m[5], *mp[5];
	char ids[5][48], units[5][48];
	int64_t now = ct_now_us();
	uint8_t *buf = NULL;
	size_t len = 0;

	for (int j = 0; j < 5; j++) {
		snprintf(ids[j], sizeof(ids[j]), "cx-%d-%02d-%d", pass, sub, j);
		snprintf(units[j], sizeof(units[j]), "CX-CELL-%d-%02d-%d", pass, sub, j);
		cellthread__v1__header__init(&hd[j]);
		hd[j].event_id = ids[j];
		hd[j].producer = (char *)"spc-gate-test";
		hd[j].produced_at_us = now;
		hd[j].schema_version = 1;
		cellthread__v1__measurement__init(&m[j]);
		m[j].characteristic = (char *)"vane_opening";
		m[j].value = vane[sub][j];
		m[j].unit = (char *)"mil";
		m[j].measured_at_us = now;
		mp[j] = &m[j];
		cellthread__v1__station_result__init(&r[j]);
		r[j].header = &hd[j];
		r[j].unit_id = units[j];
		r[j].unit_kind = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_CELL;
		r[j].site = (char *)CX_SITE;
		r[j].line = (char *)"L1";
		r[j].station = (char *)CX_STATION;
		/* A station type the starter configuration has no spec or chart for. */
		r[j].station_type = CELLTHREAD__V1__STATION_TYPE__STATION_TYPE_INSULATION_TEST;
		r[j].recipe = (char *)"bench";
		r[j].recipe_version = 1;
		r[j].started_at_us = now - 1000;
		r[j].ended_at_us = now;
		r[j].result = CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_OK;
		r[j].measurements = &mp[j];
		r[j].n_measurements = 1;
		rp[j] = &r[j];
	}
	batch.results = rp;
	batch.n_results = 5;
	assert_int_equal(ct_pb_pack(&batch.base, &buf, &len), CT_OK);
	assert_int_equal(harness_publish(h, "gateway", CX_TOPIC, buf, len), CT_OK);
	free(buf);
}

/* One column of a chart's stored state row, as a number (NULL fails the test). */
static double cx_state(struct harness *h, const char *chart, const char *column)
{
	const char *p[] = {CX_SITE, chart};
	char sql[256];
	PGresult *res = NULL;
	double v = NAN;

	snprintf(sql, sizeof(sql),
	         "SELECT %s FROM spc_chart_state WHERE site = $1 AND chart_id = $2", column);
	assert_int_equal(harness_sql(h, sql, 2, p, &res), CT_OK);
	assert_int_equal(PQntuples(res), 1);
	if (PQgetisnull(res, 0, 0))
		fail_msg("%s: %s is NULL", chart, column);
	assert_int_equal(ct_parse_double(PQgetvalue(res, 0, 0), -1e300, 1e300, &v), CT_OK);
	PQclear(res);
	return v;
}

/* What a chart of the given constants must hold after phase I on the vane data. */
struct cx_expect {
	const char *chart;
	double sigma; /* of one value: R-bar / d2 */
	double lcl, ucl;
	double r_ucl; /* R chart */
};

/* The chart's stored centre, limits and Cp/Cpk (spec 20..46: Cp = 26 / (6 sigma), Cpk =
 * (46 - x-double-bar) / (3 sigma), so they show the sigma the chart estimated) and its signal
 * log: phase II (the data once more) judges subgroups 6, 8 (above the UCL), 11, 19 (below the
 * LCL) as WE1 and 9 (R = 15) as `secondary`, points 20 + subgroup, each signal carrying the
 * limit it broke. Everything to 1e-9, so the two constant sets (limits 0.001 apart) cannot
 * pass for each other. */
static void check_constants_chart(struct harness *h, const struct cx_expect *e, double xbarbar)
{
	const char *p[5];
	char v[4][32];
	double cl = cx_state(h, e->chart, "centre"), lcl = cx_state(h, e->chart, "lcl");
	double ucl = cx_state(h, e->chart, "ucl"), cp = cx_state(h, e->chart, "cp");
	double cpk = cx_state(h, e->chart, "cpk");

	printf("%s: centre %.17g LCL %.17g UCL %.17g Cp %.17g Cpk %.17g (expected LCL %.17g UCL "
	       "%.17g Cp %.17g, R UCL %.17g)\n",
	       e->chart, cl, lcl, ucl, cp, cpk, e->lcl, e->ucl, 26.0 / (6.0 * e->sigma), e->r_ucl);
	assert_float_equal(cl, xbarbar, 1e-9);
	assert_float_equal(lcl, e->lcl, 1e-9);
	assert_float_equal(ucl, e->ucl, 1e-9);
	assert_float_equal(cp, 26.0 / (6.0 * e->sigma), 1e-9);
	assert_float_equal(cpk, (46.0 - xbarbar) / (3.0 * e->sigma), 1e-9);

	snprintf(v[0], sizeof(v[0]), "%.17g", xbarbar);
	snprintf(v[1], sizeof(v[1]), "%.17g", e->lcl);
	snprintf(v[2], sizeof(v[2]), "%.17g", e->ucl);
	snprintf(v[3], sizeof(v[3]), "%.17g", e->r_ucl);
	p[0] = CX_SITE;
	p[1] = e->chart;
	assert_int_equal(
	        count(h, "SELECT count(*) FROM spc_signal WHERE site = $1 AND chart_id = $2", 2, p),
	        5);
	p[2] = v[0];
	p[3] = v[1];
	p[4] = v[2];
	assert_int_equal(count(h,
	                       "SELECT count(*) FROM spc_signal WHERE site = $1 AND chart_id = $2"
	                       " AND rule = 'we1' AND last_point IN (26, 28, 31, 39)"
	                       " AND abs(limit_value - CASE WHEN statistic > $3::float8"
	                       " THEN $5::float8 ELSE $4::float8 END) < 1e-9",
	                       5, p),
	                 4);
	p[2] = v[3];
	assert_int_equal(count(h,
	                       "SELECT count(*) FROM spc_signal WHERE site = $1 AND chart_id = $2"
	                       " AND rule = 'secondary' AND last_point = 29 AND statistic = 15"
	                       " AND abs(limit_value - $3::float8) < 1e-9",
	                       3, p),
	                 1);
}

static void test_chart_constants(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *gate = NULL;
	const char *p[] = {CX_SITE};
	double sum_means = 0, sum_ranges = 0, xbarbar, rbar;
	double table_ucl, exact_ucl;

	/* x-double-bar and R-bar of phase I as the engine forms them: the sum of the subgroup
	 * means (ranges) over the count (666.4 / 20 = 33.32, 116 / 20 = 5.80, [MR3] Sec. 16-5). */
	for (int i = 0; i < CX_PHASE1; i++) {
		double sum = 0, low = vane[i][0], high = vane[i][0];
		for (int j = 0; j < 5; j++) {
			sum += vane[i][j];
			low = vane[i][j] < low ? vane[i][j] : low;
			high = vane[i][j] > high ? vane[i][j] : high;
		}
		sum_means += sum / 5.0;
		sum_ranges += high - low;
	}
	xbarbar = sum_means / CX_PHASE1;
	rbar = sum_ranges / CX_PHASE1;

	/* 'table': Montgomery, ISQC 6th ed., Appendix Table VI (= ASTM E2587), n = 5: d2 = 2.326,
	 * A2 = 0.577, D3 = 0, D4 = 2.114; limits the textbook way, x-double-bar +- A2 R-bar and
	 * D4 R-bar. 'exact': d2(5) = 2.325929, d3(5) = 0.864082 (the exact set, integrated,
	 * services/spc/spc_constants.c); limits from sigma = R-bar / d2: x-double-bar +- 3 sigma /
	 * sqrt(5), R UCL (d2 + 3 d3) sigma. */
	const struct cx_expect table = {
	        .chart = "vane-table",
	        .sigma = rbar / 2.326,
	        .lcl = xbarbar - 0.577 * rbar,
	        .ucl = xbarbar + 0.577 * rbar,
	        .r_ucl = 2.114 * rbar,
	};
	const struct cx_expect exact = {
	        .chart = "vane-exact",
	        .sigma = rbar / 2.325929,
	        .lcl = xbarbar - 3.0 * (rbar / 2.325929) / CX_SQRT5,
	        .ucl = xbarbar + 3.0 * (rbar / 2.325929) / CX_SQRT5,
	        .r_ucl = (2.325929 + 3.0 * 0.864082) * (rbar / 2.325929),
	};

	/* Configured before spc-gate starts, as the quality login: a spec, and two charts that
	 * differ only in their constants (phase I from the data: no centre, no sigma). */
	quality_sql(h,
	            "INSERT INTO spec_limit (site, station, characteristic, lsl, usl, uom)"
	            " VALUES ('" CX_SITE "', '" CX_STATION "', 'vane_opening', 20, 46, 'mil')",
	            0, NULL);
	quality_sql(h,
	            "INSERT INTO spc_chart (chart_id, site, station, characteristic, kind,"
	            " subgroup_size, rules, baseline_points, constants) VALUES"
	            " ('vane-exact', '" CX_SITE "', '" CX_STATION "', 'vane_opening', 'xbar_r',"
	            "  5, 'WE1,SEC', 20, 'exact'),"
	            " ('vane-table', '" CX_SITE "', '" CX_STATION "', 'vane_opening', 'xbar_r',"
	            "  5, 'WE1,SEC', 20, 'table')",
	            0, NULL);
	assert_int_equal(harness_service_start(h, HARNESS_SPCGATE, NULL, NULL, &gate), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest), CT_OK);

	/* Phase I (the 20 subgroups), then the same data again as phase II. */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < CX_PHASE1; i++)
			publish_subgroup(h, pass, i);
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM spc_chart_state WHERE"
	                                         " site = $1 AND points = 40 AND chart_id IN"
	                                         " ('vane-exact', 'vane-table')",
	                                         1, p, 2, RUN_TIMEOUT_MS),
	                 CT_OK);
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM spc_signal WHERE"
	                                         " site = $1 AND chart_id IN"
	                                         " ('vane-exact', 'vane-table')",
	                                         1, p, 10, RUN_TIMEOUT_MS),
	                 CT_OK);

	check_constants_chart(h, &table, xbarbar);
	check_constants_chart(h, &exact, xbarbar);
	/* [MR3] Sec. 16-5 prints UCL 36.67, LCL 29.97 (33.32 +- 0.577 x 5.80 = 36.6666, 29.9734):
	 * the table chart's limits have those digits; the exact one's differ from them by
	 * (0.577 - 3 / (2.325929 sqrt 5)) x 5.80 = 0.00105, so the column reached the engine. */
	table_ucl = cx_state(h, "vane-table", "ucl");
	exact_ucl = cx_state(h, "vane-exact", "ucl");
	assert_float_equal(table_ucl, 36.6666, 1e-9);
	assert_float_equal(cx_state(h, "vane-table", "lcl"), 29.9734, 1e-9);
	assert_true(fabs(table_ucl - exact_ucl) > 1e-3);

	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
	assert_int_equal(harness_proc_stop(h, gate), CT_OK);
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("spc_gate", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_nozzle, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_coating_drift, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_kill9_gate, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_chart_constants, harness_test_setup,
	                                        harness_test_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
