/* test_fault_matrix: every fault the edge must survive, one after another under a steady load,
 * and exact counts at the end (issue 10, "Trust the edge").
 *
 * The load is ct-linesim (fixed seed, one line at a fixed rate, telemetry on) into ct-ingest,
 * ct-traveler and ct-spc-gate. While it runs, in this order: kill -9 of ingest, of traveler
 * and of spc-gate (each restarted at once), a broker restart (SIGTERM; Mosquitto keeps the
 * persistent sessions and their queues; down FM_BROKER_DOWN_S seconds) and a PostgreSQL
 * outage of FM_PG_OUTAGE_S seconds, both measured on the clock while the load goes on. Each
 * victim is killed only after the line has stored more since the last fault, so it always
 * dies with work in hand.
 *
 * Drain time: after each recovery the test publishes a probe result as a gateway (site FP).
 * The broker queues it behind everything published before, and every consumer handles its
 * queue in order, so the probe stored with its verdict means the backlog of the fault is
 * through ingest, traveler and spc-gate. The time from the recovery to then is printed, not
 * asserted (it is the machine's).
 *
 * At the end linesim is stopped (SIGTERM: it publishes what is queued and writes its
 * summary), a last probe goes behind everything, and the counts must be exact: linesim's
 * summary says complete, every result, event, measurement, parameter, genealogy row and
 * telemetry sample it counted is stored exactly once (no two rows of one event ID and
 * sequence), spc-gate judged every result once (one verdict each, none lost or doubled,
 * each for a stored result), every probe is stored and judged once, and there is no dead
 * letter.
 *
 * Two shorter tests hold linesim's `complete` from both sides: messages in flight when the
 * broker is killed are published again and the run is complete; stopped while the broker is
 * away, it gives up on what it holds and says so (complete: false, exit 1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ct_error.h"
#include "ct_time.h"
#include "harness.h"

#define SITE             "FM"
#define PROBE_SITE       "FP"
#define PROBE_STATION    "FP-PROBE"
#define PROBE_TOPIC      "ct/v1/edge/" PROBE_SITE "/L1/" PROBE_STATION "/result/pb"
#define FM_RATE          "50"   /* cells per second: about 500 results and 1500 measurements */
#define FM_SEED          "1010" /* a fixed seed: the same values and event IDs every run */
#define FM_PG_OUTAGE_S   60
#define FM_BROKER_DOWN_S 8
#define FM_FREEZE_S      3      /* the broker frozen before it is killed */
#define FM_STEP          1500   /* results stored since the last fault before the next one */
#define FM_WAIT_MS       240000 /* one wait's deadline; generous for ASan on a busy machine */
#define MAX_PROBES       8

/* Results of linesim's run (site FM; the probes are site FP). */
#define VISITS_SQL "SELECT count(*) FROM station_visit WHERE site = '" SITE "'"

struct matrix {
	struct harness_proc *ingest, *traveler, *gate, *linesim;
	char summary_path[HARNESS_PATH_MAX];
	int probes;
	int64_t started_ms;
};

static long long count(struct harness *h, const char *sql, int n, const char *const *params)
{
	long long v = -1;
	assert_int_equal(harness_sql_long(h, sql, n, params, &v), CT_OK);
	return v;
}

static long long summary_int(json_t *summary, const char *key)
{
	json_t *v = json_object_get(summary, key);

	if (!json_is_integer(v))
		fail_msg("linesim's summary has no integer %s", key);
	return (long long)json_integer_value(v);
}

/* Every process of the stack still runs (a crash would otherwise show only as a timeout). */
static void check_alive(const struct matrix *m)
{
	const struct harness_proc *procs[] = {m->ingest, m->traveler, m->gate, m->linesim};

	for (size_t i = 0; i < sizeof(procs) / sizeof(procs[0]); i++)
		if (!harness_proc_is_alive((struct harness_proc *)procs[i]))
			fail_msg("%s is not running (status %d)", procs[i]->name, procs[i]->status);
}

static void stack_start(struct harness *h, struct matrix *m)
{
	char e_summary[HARNESS_PATH_MAX + 32];
	const char *env[] = {"CT_SIM_SITE=" SITE,    "CT_SIM_LINES=1", "CT_SIM_RATE=" FM_RATE,
	                     "CT_SIM_SEED=" FM_SEED, e_summary,        NULL};

	memset(m, 0, sizeof(*m));
	snprintf(m->summary_path, sizeof(m->summary_path), "%s/linesim-fm.json", h->dir);
	snprintf(e_summary, sizeof(e_summary), "CT_SIM_SUMMARY=%s", m->summary_path);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &m->traveler),
	                 CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_SPCGATE, NULL, NULL, &m->gate), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &m->ingest), CT_OK);
	/* sim.cells 0: it runs until stopped, so the load goes on through every fault. */
	assert_int_equal(harness_service_start(h, HARNESS_LINESIM, NULL, env, &m->linesim), CT_OK);
	m->started_ms = ct_mono_ms();
}

/* Waits (with a deadline) until `step` more of linesim's results are stored than now: the
 * line is flowing and the next victim has work in hand. */
static void wait_flowing(struct harness *h, struct matrix *m, long long step)
{
	long long target = count(h, VISITS_SQL, 0, NULL) + step;
	int64_t deadline = ct_mono_ms() + FM_WAIT_MS;

	while (count(h, VISITS_SQL, 0, NULL) < target) {
		check_alive(m);
		if (ct_mono_ms() > deadline)
			fail_msg("fewer than %lld results stored within %d s", target,
			         FM_WAIT_MS / 1000);
		nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
	}
}

/* Publishes probe n as the gateway (behind everything published so far) and waits until it is
 * stored and judged. Returns the milliseconds since `since_ms`. */
static int64_t probe(struct harness *h, struct matrix *m, int64_t since_ms)
{
	struct harness_simple spec = {PROBE_SITE, "L1", PROBE_STATION, "fault-matrix", 2, 0};
	char id[32], unit[32];
	const char *ids[] = {id}, *units[] = {unit};
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_true(m->probes < MAX_PROBES);
	snprintf(id, sizeof(id), "fm-probe-%d", m->probes);
	snprintf(unit, sizeof(unit), "FM-PROBE-%d", m->probes);
	m->probes++;
	assert_int_equal(harness_simple_batch(&spec, ids, units, 1, &buf, &len), CT_OK);
	assert_int_equal(harness_publish(h, "gateway", PROBE_TOPIC, buf, len), CT_OK);
	free(buf);
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM station_visit"
	                                         " WHERE event_id = $1",
	                                         1, ids, 1, FM_WAIT_MS),
	                 CT_OK);
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM unit_verdict"
	                                         " WHERE source_event_id = $1",
	                                         1, ids, 1, FM_WAIT_MS),
	                 CT_OK);
	return ct_mono_ms() - since_ms;
}

static void report(const char *fault, double down_s, int64_t drain_ms, long long stored)
{
	printf("fault-matrix: %-22s down %6.2f s, drained %6.2f s after recovery (%lld results "
	       "stored before the fault)\n",
	       fault, down_s, (double)drain_ms / 1000.0, stored);
	fflush(stdout);
}

/* SIGKILL, restart at once (waiting for "ready"), and the drain behind it. */
static void kill9(struct harness *h, struct matrix *m, struct harness_proc *victim)
{
	char what[64];
	long long stored;
	int64_t t0, t1;

	wait_flowing(h, m, FM_STEP);
	stored = count(h, VISITS_SQL, 0, NULL);
	t0 = ct_mono_ms();
	assert_int_equal(harness_proc_kill(h, victim), CT_OK);
	assert_int_equal(harness_proc_restart(h, victim, true), CT_OK);
	t1 = ct_mono_ms();
	snprintf(what, sizeof(what), "kill -9 %s", victim->name);
	report(what, (double)(t1 - t0) / 1000.0, probe(h, m, t1), stored);
}

static void broker_restart(struct harness *h, struct matrix *m)
{
	long long stored;
	int64_t t0, t1;

	wait_flowing(h, m, FM_STEP);
	stored = count(h, VISITS_SQL, 0, NULL);
	t0 = ct_mono_ms();
	assert_int_equal(harness_broker_stop(h), CT_OK);
	/* Down for longer than a publisher waits for its reconnect (linesim: 5 s), so publishes
	 * fail for certain, not only when one happens to be in flight at the stop. */
	while (ct_mono_ms() - t0 < (int64_t)FM_BROKER_DOWN_S * 1000) {
		check_alive(m);
		nanosleep(&(struct timespec){0, 250 * 1000 * 1000}, NULL);
	}
	assert_int_equal(harness_broker_start(h), CT_OK);
	t1 = ct_mono_ms();
	check_alive(m);
	report("broker restart", (double)(t1 - t0) / 1000.0, probe(h, m, t1), stored);
}

/* PostgreSQL stopped for FM_PG_OUTAGE_S on the clock while the line goes on (a deliberate
 * duration, not a wait for a condition), then started again. */
static void pg_outage(struct harness *h, struct matrix *m)
{
	long long stored;
	int64_t t0, t1;

	wait_flowing(h, m, FM_STEP);
	stored = count(h, VISITS_SQL, 0, NULL);
	t0 = ct_mono_ms();
	assert_int_equal(harness_pg_stop(h), CT_OK);
	while (ct_mono_ms() - t0 < (int64_t)FM_PG_OUTAGE_S * 1000) {
		/* Everything must keep running without its database: receiving into the
		 * spool, judging, publishing. */
		check_alive(m);
		nanosleep(&(struct timespec){0, 250 * 1000 * 1000}, NULL);
	}
	assert_int_equal(harness_pg_start(h), CT_OK);
	t1 = ct_mono_ms();
	check_alive(m);
	report("PostgreSQL outage", (double)(t1 - t0) / 1000.0, probe(h, m, t1), stored);
}

/* One exact count, then printed. Called once the last probe is through, when everything is
 * stored but spc-gate's own rows (saved after its verdicts are acknowledged): a short wait
 * covers those, and a count that overshoots fails once the wait ends. */
static void expect_count(struct harness *h, const char *what, const char *sql, long long want)
{
	if (harness_wait_sql_count(h, sql, want, 30000) != CT_OK)
		fail_msg("%s: not exactly %lld (see above)", what, want);
	printf("fault-matrix: %-28s %lld\n", what, want);
}

static void check_counts(struct harness *h, json_t *s, int probes)
{
	const long long results = summary_int(s, "results");
	char probe_sql[160];

	expect_count(h, "results (station_visit)", VISITS_SQL, results);
	expect_count(h, "events (results, telemetry)",
	             "SELECT count(*) FROM event WHERE event_id LIKE 'linesim-%'",
	             results + summary_int(s, "telemetry_messages"));
	expect_count(h, "distinct result event IDs",
	             "SELECT count(DISTINCT event_id) FROM station_visit WHERE site = '" SITE "'",
	             results);
	expect_count(h, "measurements", "SELECT count(*) FROM measurement WHERE site = '" SITE "'",
	             summary_int(s, "measurements"));
	expect_count(h, "distinct measurements",
	             "SELECT count(*) FROM (SELECT DISTINCT event_id, seq FROM measurement"
	             " WHERE site = '" SITE "') d",
	             summary_int(s, "measurements"));
	expect_count(h, "process parameters",
	             "SELECT count(*) FROM process_parameter WHERE event_id LIKE 'linesim-%'",
	             summary_int(s, "parameters"));
	expect_count(h, "genealogy",
	             "SELECT count(*) FROM genealogy WHERE event_id LIKE 'linesim-%'",
	             summary_int(s, "materials") + summary_int(s, "children"));
	expect_count(h, "distinct genealogy rows",
	             "SELECT count(*) FROM (SELECT DISTINCT event_id, seq FROM genealogy"
	             " WHERE event_id LIKE 'linesim-%') d",
	             summary_int(s, "materials") + summary_int(s, "children"));
	expect_count(h, "telemetry samples",
	             "SELECT count(*) FROM telemetry_sample WHERE site = '" SITE "'",
	             summary_int(s, "telemetry_samples"));
	/* One verdict per result: as many as results, one per result event, each for a
	 * stored result. */
	expect_count(h, "verdicts", "SELECT count(*) FROM unit_verdict WHERE site = '" SITE "'",
	             results);
	expect_count(h, "results with a verdict",
	             "SELECT count(DISTINCT u.source_event_id) FROM unit_verdict u"
	             " JOIN station_visit v ON v.event_id = u.source_event_id"
	             " WHERE u.site = '" SITE "'",
	             results);
	expect_count(h, "results judged (spc_judged)",
	             "SELECT count(*) FROM spc_judged j JOIN station_visit v"
	             " ON v.event_id = j.source_event_id WHERE v.site = '" SITE "'",
	             results);
	snprintf(probe_sql, sizeof(probe_sql),
	         "SELECT count(*) FROM station_visit WHERE site = '%s'", PROBE_SITE);
	expect_count(h, "probes stored", probe_sql, probes);
	snprintf(probe_sql, sizeof(probe_sql),
	         "SELECT count(*) FROM unit_verdict WHERE site = '%s'", PROBE_SITE);
	expect_count(h, "probe verdicts", probe_sql, probes);
	expect_count(h, "dead letters", "SELECT count(*) FROM dead_letter", 0);
}

static void test_fault_matrix(void **state)
{
	struct harness *h = *state;
	struct matrix m;
	json_error_t jerr;
	json_t *summary;
	int64_t t_stop;
	int stop_rc;

	stack_start(h, &m);
	kill9(h, &m, m.ingest);
	kill9(h, &m, m.traveler);
	kill9(h, &m, m.gate);
	broker_restart(h, &m);
	pg_outage(h, &m);

	/* The load stops: linesim publishes what it holds, waits for the acknowledgements and
	 * writes its summary. */
	wait_flowing(h, &m, FM_STEP);
	t_stop = ct_mono_ms();
	stop_rc = harness_proc_stop(h, m.linesim);
	summary = json_load_file(m.summary_path, 0, &jerr);
	if (summary == NULL)
		fail_msg("cannot read linesim's summary: %s", jerr.text);
	printf("fault-matrix: linesim published %lld results, %lld measurements, %lld telemetry "
	       "messages (%lld dropped), complete %s\n",
	       summary_int(summary, "results"), summary_int(summary, "measurements"),
	       summary_int(summary, "telemetry_messages"),
	       summary_int(summary, "telemetry_dropped"),
	       json_is_true(json_object_get(summary, "complete")) ? "true" : "false");
	/* A broker restart lost nothing it counted (it publishes again what the broker failed),
	 * so the run is complete and linesim exits 0. */
	assert_true(json_is_true(json_object_get(summary, "complete")));
	assert_int_equal(stop_rc, CT_OK);
	assert_true(summary_int(summary, "results") > 0);

	/* The last probe goes behind everything linesim published. */
	report("end of load", 0.0, probe(h, &m, t_stop), count(h, VISITS_SQL, 0, NULL));
	check_counts(h, summary, m.probes);
	json_decref(summary);
	printf("fault-matrix: %d restarts, %.1f s from the start of the load to the last check\n",
	       m.ingest->starts + m.traveler->starts + m.gate->starts - 3,
	       (double)(ct_mono_ms() - m.started_ms) / 1000.0);
	assert_int_equal(m.ingest->starts, 2);
	assert_int_equal(m.traveler->starts, 2);
	assert_int_equal(m.gate->starts, 2);
	assert_int_equal(harness_proc_stop(h, m.ingest), CT_OK);
	assert_int_equal(harness_proc_stop(h, m.gate), CT_OK);
	assert_int_equal(harness_proc_stop(h, m.traveler), CT_OK);
	harness_pass(h);
}

/* The other side of `complete`: a simulator stopped while the broker is away gives up on
 * what it holds after its 30 s drain, says complete: false and exits 1. */
static void test_linesim_gives_up(void **state)
{
	struct harness *h = *state;
	struct harness_proc *linesim = NULL;
	char path[HARNESS_PATH_MAX], e_summary[HARNESS_PATH_MAX + 32];
	const char *env[] = {"CT_SIM_SITE=FG", "CT_SIM_RATE=" FM_RATE, e_summary, NULL};
	json_error_t jerr;
	json_t *summary;
	int code = -1;
	int64_t t0;

	snprintf(path, sizeof(path), "%s/linesim-fg.json", h->dir);
	snprintf(e_summary, sizeof(e_summary), "CT_SIM_SUMMARY=%s", path);
	assert_int_equal(harness_service_start(h, HARNESS_LINESIM, "linesim-fg", env, &linesim),
	                 CT_OK);
	assert_int_equal(harness_proc_wait_log(h, linesim, "ready", FM_WAIT_MS), CT_OK);
	assert_int_equal(harness_broker_stop(h), CT_OK);
	t0 = ct_mono_ms();
	assert_int_equal(kill(linesim->pid, SIGTERM), 0);
	assert_int_equal(harness_proc_wait_any(h, linesim, FM_WAIT_MS, &code), CT_OK);
	printf("fault-matrix: linesim gave up %.1f s after SIGTERM with the broker away, exit %d\n",
	       (double)(ct_mono_ms() - t0) / 1000.0, code);
	assert_int_equal(code, 1);
	summary = json_load_file(path, 0, &jerr);
	if (summary == NULL)
		fail_msg("cannot read linesim's summary: %s", jerr.text);
	assert_true(json_is_false(json_object_get(summary, "complete")));
	json_decref(summary);
	assert_int_equal(harness_broker_start(h), CT_OK);
	harness_pass(h);
}

/* What the clean broker restart of the matrix seldom shows: messages in flight when the
 * broker dies. The broker is frozen (SIGSTOP) for FM_FREEZE_S while linesim runs at a high
 * rate, so its publishes pile up unacknowledged, then killed (SIGKILL) and started again: the
 * publisher's clean session fails all of them, and linesim must publish them again and end
 * complete. (A broker SIGKILL can lose what it queued for ingest since its last autosave, so
 * this test counts what linesim says, not rows.) */
static void test_linesim_republishes(void **state)
{
	struct harness *h = *state;
	struct harness_proc *linesim = NULL, *ingest = NULL, *traveler = NULL;
	char path[HARNESS_PATH_MAX], e_summary[HARNESS_PATH_MAX + 32];
	const char *env[] = {"CT_SIM_SITE=FR", "CT_SIM_RATE=300", e_summary, NULL};
	const char *flowing = "SELECT (count(*) >= 1000)::int FROM station_visit WHERE site = 'FR'";
	json_error_t jerr;
	json_t *summary;
	char *log = NULL;
	size_t log_len = 0;
	int code = -1;
	int64_t t0;

	snprintf(path, sizeof(path), "%s/linesim-fr.json", h->dir);
	snprintf(e_summary, sizeof(e_summary), "CT_SIM_SUMMARY=%s", path);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, "traveler-fr", NULL, &traveler),
	                 CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, "ingest-fr", NULL, &ingest),
	                 CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_LINESIM, "linesim-fr", env, &linesim),
	                 CT_OK);
	/* Flowing: the line is publishing when the broker freezes. */
	assert_int_equal(harness_wait_sql_count(h, flowing, 1, FM_WAIT_MS), CT_OK);
	t0 = ct_mono_ms();
	assert_int_equal(kill(h->broker.pid, SIGSTOP), 0);
	while (ct_mono_ms() - t0 < (int64_t)FM_FREEZE_S * 1000)
		nanosleep(&(struct timespec){0, 250 * 1000 * 1000}, NULL);
	assert_int_equal(harness_proc_kill(h, &h->broker), CT_OK);
	assert_int_equal(harness_broker_start(h), CT_OK);
	/* Stopped at once: its drain finds the broker back (it reconnects within seconds) and
	 * must get every counted message acknowledged before it writes the summary. */
	assert_int_equal(kill(linesim->pid, SIGTERM), 0);
	assert_int_equal(harness_proc_wait_any(h, linesim, FM_WAIT_MS, &code), CT_OK);
	summary = json_load_file(path, 0, &jerr);
	if (summary == NULL)
		fail_msg("cannot read linesim's summary: %s", jerr.text);
	printf("fault-matrix: broker frozen %d s and killed: linesim published %lld results, "
	       "complete %s, exit %d\n",
	       FM_FREEZE_S, summary_int(summary, "results"),
	       json_is_true(json_object_get(summary, "complete")) ? "true" : "false", code);
	assert_true(json_is_true(json_object_get(summary, "complete")));
	assert_int_equal(code, 0);
	json_decref(summary);
	/* Not a vacuous pass: messages were in flight and went out again. */
	assert_int_equal(harness_read_file(linesim->log_path, &log, &log_len), CT_OK);
	assert_non_null(strstr(log, "published again after the broker failed them"));
	free(log);
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("fault_matrix", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_fault_matrix, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_linesim_republishes, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_linesim_gives_up, harness_test_setup,
	                                        harness_test_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
