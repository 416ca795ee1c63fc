/* bench_oee: what ct-oee costs on a line simulated flat out, beside the raw pipe of the same
 * messages in the same run.
 *
 * One harness (Mosquitto and PostgreSQL on loopback, pg_stat_statements loaded), the real
 * ct-ingest, ct-traveler, ct-oee and (unless CT_BENCH_SPCGATE=0) ct-spc-gate with the starter
 * quality configuration, and ct-linesim generating HISTORY (default 1h) of one line at RATE
 * cells per simulated second (default 5) as fast as it can (sim.history: the simulator's
 * highest message rate), with sim.states and sim.downtime on and stops made frequent
 * (sim.mtbf_s 600, sim.microstop_every_s 60) so states flow beside results and verdicts.
 * Telemetry is off: ct-oee does not read it. ct-oee keeps its defaults.
 *
 * The raw pipe: a mosquitto_sub with ct-oee's own credential (user oee, client ID
 * oee-bench-raw) subscribed to exactly what ct-oee reads (the site's plant results, verdicts,
 * states and acks, QoS 1), printing a debug line and the topic per message: its topic lines
 * are the messages ct-oee had to handle, its CPU time what merely receiving (and printing)
 * them costs. A second mosquitto_sub (user api, which reads ct/v1/oee/#) counts what ct-oee
 * publishes on ct/v1/oee/<site>/#.
 *
 * Measured from linesim's start until everything is stored, ct-oee's spool is drained and the
 * late buckets the traveler queued for it (oee_recompute) are worked off:
 * ct-oee's CPU (utime + stime of /proc/PID/stat), its peak RSS (VmHWM), messages handled,
 * figures published per second, the ratio of its CPU to the raw receiver's; the SQL of the
 * `oee` login from pg_stat_statements (calls, total and mean time of its top statements); and
 * ct_oee_shift() timed directly afterwards for the line and each station of the open shift
 * (p50, p90 of 20 calls each, beside `SELECT 1` over the same connection). Then whether
 * ct-oee's stored figures are final: "oee_figures_stale" counts the rows whose produced, good
 * or late rejects differ from ct_oee_shift() now (figures computed before the traveler had
 * stored what they count, and not computed again). Prints one JSON object. Not a test:
 * nothing is asserted about speed.
 *
 * Usage: bench_oee [HISTORY [RATE]]   (defaults 1h, 5) */
#define _GNU_SOURCE

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <unistd.h>

#include "bench_util.h"
#include "ct_error.h"
#include "ct_time.h"
#include "harness.h"

#define SITE          "OEEB"
#define MOSQUITTO_SUB "/usr/bin/mosquitto_sub"
#define STDBUF        "/usr/bin/stdbuf"
#define DRAIN_MS      (30 * 60 * 1000)

/* Reports what failed, stops whatever the harness started (broker, PostgreSQL, services) and
 * returns the exit status. */
static int fail(struct harness *h, const char *what)
{
	fprintf(stderr, "bench_oee: %s failed\n", what);
	harness_free(h);
	return 1;
}

/* Topic lines in mosquitto_sub's log (one per message, between its -d debug lines), -1 when
 * unreadable. */
static long long count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	long long n = 0;
	bool at_start = true;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (at_start && strncmp(line, "ct/v1/", 6) == 0)
			n++;
		at_start = strchr(line, '\n') != NULL;
	}
	fclose(f);
	return n;
}

/* Starts mosquitto_sub as user (a service credential: the broker guard queues QoS 1 for
 * services only) on filters (n), printing one topic per message into its log, and waits for its
 * SUBACK (-d prints it). */
static int start_counter(struct harness *h, const char *user, const char *name,
                         const char *const *filters, size_t n, struct harness_proc **ret)
{
	char password[256], port[16], id[64];
	const char *argv[32];
	size_t k = 0;

	if (harness_mqtt_password(h, user, password, sizeof(password)) != CT_OK)
		return CT_ERR_IO;
	snprintf(port, sizeof(port), "%d", h->mqtt_port);
	snprintf(id, sizeof(id), "%s-bench-%s", user, name);
	/* stdbuf: mosquitto_sub's stdout is a file, flushed per line only when told. */
	argv[k++] = STDBUF;
	argv[k++] = "-oL";
	argv[k++] = MOSQUITTO_SUB;
	argv[k++] = "-h";
	argv[k++] = "127.0.0.1";
	argv[k++] = "-p";
	argv[k++] = port;
	argv[k++] = "-u";
	argv[k++] = user;
	argv[k++] = "-P";
	argv[k++] = password;
	argv[k++] = "-i";
	argv[k++] = id;
	argv[k++] = "-q";
	argv[k++] = "1";
	argv[k++] = "-d";
	argv[k++] = "-F";
	argv[k++] = "%t";
	for (size_t i = 0; i < n && k + 3 < 32; i++) {
		argv[k++] = "-t";
		argv[k++] = filters[i];
	}
	argv[k] = NULL;
	if (harness_spawn(h, name, STDBUF, argv, NULL, ret) != CT_OK)
		return CT_ERR_IO;
	return harness_proc_wait_log(h, *ret, "SUBACK", HARNESS_WAIT_MS);
}

/* Waits until the log of p has grown past nothing new for quiet_ms (mosquitto_sub flushes
 * per line): the counter has seen everything the broker had for it. */
static long long settle_count(struct harness_proc *p, int quiet_ms)
{
	long long last = -2, now;
	int64_t since = ct_mono_ms();

	for (;;) {
		now = count_lines(p->log_path);
		if (now != last) {
			last = now;
			since = ct_mono_ms();
		} else if (ct_mono_ms() - since >= quiet_ms) {
			return now;
		}
		bench_sleep_us(50000);
	}
}

static long long sql_long(struct harness *h, const char *sql, int n, const char *const *p)
{
	long long v = -1;

	if (harness_sql_long(h, sql, n, p, &v) != CT_OK)
		return -1;
	return v;
}

/* The top statements of the oee login by total time, and the totals. */
static json_t *sql_cost(struct harness *h)
{
	PGresult *res = NULL;
	json_t *top = json_array(), *o = json_object();
	double total_ms = 0.0;
	long long calls = 0;

	if (harness_sql(h,
	                "SELECT calls, total_exec_time, mean_exec_time, rows, left(query, 160)"
	                " FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid"
	                " WHERE r.rolname = 'oee' ORDER BY total_exec_time DESC",
	                0, NULL, &res) != CT_OK)
		return json_null();
	for (int i = 0; i < PQntuples(res); i++) {
		long long c = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		double t = strtod(PQgetvalue(res, i, 1), NULL);

		calls += c;
		total_ms += t;
		if (i < 8)
			json_array_append_new(
			        top,
			        json_pack("{s:I, s:o, s:o, s:I, s:s}", "calls", (json_int_t)c,
			                  "total_ms", bench_num3(t), "mean_ms",
			                  bench_num3(strtod(PQgetvalue(res, i, 2), NULL)), "rows",
			                  (json_int_t)strtoll(PQgetvalue(res, i, 3), NULL, 10),
			                  "query", PQgetvalue(res, i, 4)));
	}
	PQclear(res);
	json_object_set_new(o, "statements_calls", json_integer(calls));
	json_object_set_new(o, "statements_total_ms", bench_num3(total_ms));
	json_object_set_new(o, "top", top);
	return o;
}

/* p50 and p90 of 20 timed runs of sql (one parameter list) on the admin connection. */
static json_t *time_sql(struct harness *h, const char *sql, int n, const char *const *p)
{
	int64_t v[20];

	for (int i = 0; i < 20; i++) {
		PGresult *res = NULL;
		int64_t t0 = bench_mono_us();

		if (harness_sql(h, sql, n, p, &res) != CT_OK)
			return json_null();
		v[i] = bench_mono_us() - t0;
		PQclear(res);
	}
	qsort(v, 20, sizeof(v[0]), bench_cmp_i64);
	return json_pack("{s:o, s:o}", "p50_ms", bench_num3(bench_pct_ms(v, 20, 0.5)), "p90_ms",
	                 bench_num3(bench_pct_ms(v, 20, 0.9)));
}

/* ct_oee_shift for the line and each station of the site's open shift, beside SELECT 1. */
static json_t *shift_cost(struct harness *h)
{
	PGresult *res = NULL;
	json_t *o = json_object(), *st = json_object();
	char shift[64];
	const char *p[2];

	if (harness_sql(h,
	                "SELECT shift_id FROM ct_oee_shifts('" SITE "', 'L1', now(), now()"
	                " + interval '1 microsecond')",
	                0, NULL, &res) != CT_OK ||
	    PQntuples(res) < 1)
		return json_null();
	snprintf(shift, sizeof(shift), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	json_object_set_new(o, "shift_id", json_string(shift));
	json_object_set_new(o, "select_1", time_sql(h, "SELECT 1", 0, NULL));
	p[0] = shift;
	json_object_set_new(o, "line",
	                    time_sql(h, "SELECT ct_oee_shift('" SITE "', 'L1', '', $1)", 1, p));
	if (harness_sql(h,
	                "SELECT DISTINCT station FROM station_state WHERE site = '" SITE "'"
	                " ORDER BY 1",
	                0, NULL, &res) != CT_OK)
		return o;
	for (int i = 0; i < PQntuples(res); i++) {
		p[0] = PQgetvalue(res, i, 0);
		p[1] = shift;
		json_object_set_new(
		        st, p[0],
		        time_sql(h, "SELECT ct_oee_shift('" SITE "', 'L1', $1, $2)", 2, p));
	}
	PQclear(res);
	json_object_set_new(o, "stations", st);
	return o;
}

int main(int argc, char **argv)
{
	const char *history = argc > 1 ? argv[1] : "1h";
	const char *rate = argc > 2 ? argv[2] : "5";
	const char *spcgate = getenv("CT_BENCH_SPCGATE");
	bool with_gate = spcgate == NULL || strcmp(spcgate, "0") != 0;
	struct harness *h = NULL;
	struct harness_proc *ingest, *traveler, *oee, *gate = NULL, *linesim, *raw, *out;
	const char *raw_filters[] = {
	        "ct/v1/plant/" SITE "/+/+/result", "ct/v1/plant/" SITE "/+/+/verdict",
	        "ct/v1/plant/" SITE "/+/+/state", "ct/v1/plant/" SITE "/+/+/ack"};
	const char *out_filters[] = {"ct/v1/oee/" SITE "/#"};
	char e_history[48], e_rate[48], e_summary[HARNESS_PATH_MAX + 16],
	        summary_path[HARNESS_PATH_MAX];
	char spool[HARNESS_PATH_MAX + 16], results_s[32];
	const char *oee_env[] = {"CT_OEE_PUBLISH_INTERVAL_S=5", NULL};
	const char *sim_env[] = {"CT_SIM_SITE=" SITE,
	                         e_history,
	                         e_rate,
	                         e_summary,
	                         "CT_SIM_STATES=true",
	                         "CT_SIM_DOWNTIME=true",
	                         "CT_SIM_MTBF_S=600",
	                         "CT_SIM_MICROSTOP_EVERY_S=60",
	                         "CT_SIM_TELEMETRY_HZ=0",
	                         "CT_SIM_UNIT_PREFIX=OEEB-",
	                         NULL};
	double oee_cpu0, oee_cpu1, raw_cpu0, raw_cpu1, wall_s;
	long long handled, published, results, states, backlog;
	int64_t t0, t_stored, t1, drain_end;
	json_t *summary, *o;

	if (harness_new("bench-oee", 0, &h) != CT_OK || harness_broker_start(h) != CT_OK ||
	    harness_pg_start(h) != CT_OK)
		return fail(h, "harness");
	/* pg_stat_statements must be preloaded: set it and restart the cluster once. */
	if (harness_pg_exec(h->pg, "ALTER SYSTEM SET shared_preload_libraries ="
	                           " 'pg_stat_statements'") != CT_OK ||
	    harness_pg_stop(h) != CT_OK || harness_pg_start(h) != CT_OK ||
	    harness_pg_exec(h->pg, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements") != CT_OK)
		return fail(h, "pg_stat_statements");
	if (with_gate && harness_load_starter_config(h) != CT_OK)
		return fail(h, "starter configuration");
	snprintf(e_history, sizeof(e_history), "CT_SIM_HISTORY=%.24s", history);
	snprintf(e_rate, sizeof(e_rate), "CT_SIM_RATE=%.24s", rate);
	snprintf(summary_path, sizeof(summary_path), "%s/linesim.json", h->dir);
	snprintf(e_summary, sizeof(e_summary), "CT_SIM_SUMMARY=%s", summary_path);
	if (harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler) != CT_OK ||
	    harness_service_start(h, HARNESS_OEE, NULL, oee_env, &oee) != CT_OK ||
	    (with_gate && harness_service_start(h, HARNESS_SPCGATE, NULL, NULL, &gate) != CT_OK) ||
	    harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest) != CT_OK ||
	    start_counter(h, "oee", "raw", raw_filters, 4, &raw) != CT_OK ||
	    start_counter(h, "api", "published", out_filters, 1, &out) != CT_OK)
		return fail(h, "services");
	(void)ingest;
	(void)gate;
	if (harness_pg_exec(h->pg, "SELECT pg_stat_statements_reset()") != CT_OK)
		return fail(h, "pg_stat_statements_reset");
	oee_cpu0 = bench_cpu_seconds(oee->pid);
	raw_cpu0 = bench_cpu_seconds(raw->pid);
	t0 = bench_mono_us();
	if (harness_service_start(h, HARNESS_LINESIM, NULL, sim_env, &linesim) != CT_OK ||
	    harness_proc_wait_exit(h, linesim, DRAIN_MS) != CT_OK)
		return fail(h, "linesim");
	summary = json_load_file(summary_path, 0, NULL);
	if (summary == NULL)
		return fail(h, "linesim's summary");
	results = (long long)json_integer_value(json_object_get(summary, "results"));
	snprintf(results_s, sizeof(results_s), "%lld", results);
	/* Everything stored by traveler, then ct-oee's spool drained. */
	if (harness_wait_sql_countv(h, "SELECT count(*) FROM station_visit WHERE site = '" SITE "'",
	                            0, NULL, results, DRAIN_MS) != CT_OK)
		return fail(h, "traveler's storing");
	t_stored = bench_mono_us();
	snprintf(spool, sizeof(spool), "%s/spool/oee-1", h->dir);
	drain_end = bench_mono_us() + (int64_t)DRAIN_MS * 1000;
	while ((backlog = bench_spool_backlog(spool)) > 0) {
		if (bench_mono_us() > drain_end) {
			fprintf(stderr,
			        "bench_oee: ct-oee's spool still holds %lld bytes after %d s\n",
			        backlog, DRAIN_MS / 1000);
			return fail(h, "ct-oee's spool drain");
		}
		bench_sleep_us(100000);
	}
	/* Late buckets the traveler's triggers queued for ct-oee (oee_recompute), worked off. */
	if (harness_wait_sql_countv(h, "SELECT count(*) FROM oee_recompute WHERE site = '" SITE "'",
	                            0, NULL, 0, DRAIN_MS) != CT_OK)
		return fail(h, "ct-oee's recomputations");
	t1 = bench_mono_us();
	oee_cpu1 = bench_cpu_seconds(oee->pid);
	raw_cpu1 = bench_cpu_seconds(raw->pid);
	/* The raw receiver had everything long before ct-oee's spool drained. */
	handled = settle_count(raw, 2000);
	wall_s = (double)(t1 - t0) / 1e6;
	published = settle_count(out, 2000);
	states = sql_long(h, "SELECT count(*) FROM station_state WHERE site = '" SITE "'", 0, NULL);

	o = json_object();
	json_object_set_new(o, "history", json_string(history));
	json_object_set_new(o, "rate", json_string(rate));
	json_object_set_new(o, "spc_gate", json_boolean(with_gate));
	json_object_set_new(o, "results", json_integer(results));
	json_object_set_new(o, "states_stored", json_integer(states));
	json_object_set_new(o, "acks_stored",
	                    json_integer(sql_long(h,
	                                          "SELECT count(*) FROM command_ack"
	                                          " WHERE site = '" SITE "'",
	                                          0, NULL)));
	json_object_set_new(o, "wall_s", bench_num3(wall_s));
	/* Everything stored by traveler, and ct-oee's spool drained: ct-oee's lag at the end. */
	json_object_set_new(o, "stored_s", bench_num3((double)(t_stored - t0) / 1e6));
	json_object_set_new(o, "oee_drained_after_stored_s",
	                    bench_num3((double)(t1 - t_stored) / 1e6));
	json_object_set_new(o, "messages_handled", json_integer(handled));
	json_object_set_new(o, "messages_per_s", bench_num3((double)handled / wall_s));
	json_object_set_new(o, "figures_published", json_integer(published));
	json_object_set_new(o, "publishes_per_s", bench_num3((double)published / wall_s));
	json_object_set_new(o, "oee_cpu_s", bench_num3(oee_cpu1 - oee_cpu0));
	json_object_set_new(o, "oee_cpu_share", bench_num3((oee_cpu1 - oee_cpu0) / wall_s));
	json_object_set_new(o, "oee_cpu_us_per_message",
	                    bench_num3(1e6 * (oee_cpu1 - oee_cpu0) / (double)handled));
	json_object_set_new(o, "raw_cpu_s", bench_num3(raw_cpu1 - raw_cpu0));
	json_object_set_new(o, "oee_cpu_vs_raw",
	                    bench_num3((oee_cpu1 - oee_cpu0) / (raw_cpu1 - raw_cpu0)));
	json_object_set_new(o, "oee_peak_rss_kib", json_integer(bench_peak_rss_kib(oee->pid)));
	/* Figures ct-oee stored before everything they count was stored (and never computed
	 * again) differ from a fresh computation: counts do not depend on `until`. */
	json_object_set_new(o, "oee_figures_rows",
	                    json_integer(sql_long(h,
	                                          "SELECT count(*) FROM oee_figures"
	                                          " WHERE site = '" SITE "'",
	                                          0, NULL)));
	json_object_set_new(
	        o, "oee_figures_stale",
	        json_integer(sql_long(h,
	                              "SELECT count(*) FROM oee_figures f, LATERAL"
	                              " ct_oee_shift(f.site, f.line, f.station, f.shift_id) j"
	                              " WHERE f.site = '" SITE "' AND (f.produced <>"
	                              " (j->>'produced')::bigint OR f.good <> (j->>'good')::bigint"
	                              " OR f.late_rejects <> (j->>'late_rejects')::bigint)",
	                              0, NULL)));
	json_object_set_new(o, "sql", sql_cost(h));
	json_object_set_new(o, "ct_oee_shift", shift_cost(h));
	json_object_set_new(o, "linesim", summary);
	json_dumpf(o, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(o);
	harness_free(h);
	return 0;
}
