/* bench_api: ct-api over a week of a line's history, beside the raw pipes of the same run.
 *
 * One harness (Mosquitto, PostgreSQL on loopback), the real ct-ingest, ct-traveler and ct-api.
 * ct-linesim generates a week of one line's history on its simulated clock (sim.history=7d at
 * RATE cells per simulated second, nozzle fault on) and the bench waits until every
 * measurement of its summary is stored. Then, as a second volume, a "dense" week is added by
 * SQL: one characteristic at 5 values per second for 7 days (3,024,000 rows, the simulator's
 * default rate kept up for a week), inserted into measurement so the rollup trigger sees it as
 * it sees the traveler's COPY. VACUUM ANALYZE, as autovacuum would have done on a live line.
 *
 * Measured, each over a viewer token on one keep-alive libcurl connection, REQUESTS times:
 *   health        GET /api/v1/health: HTTP and the server, no database (raw pipe 1)
 *   sql_select_1  SELECT 1 over libpq on loopback (raw pipe 2)
 *   runchart_week the week's run chart (1,000 points) of fill_mass, and of the dense one
 *   histogram_week the week's histogram (40 bins) of pressure_decay, and of the dense one
 *   overview      the line overview
 * as p50 / p99 / max of the whole request (curl's total time: what the browser waits for),
 * with ratios to the health p50. The first run chart request is reported on its own (cold).
 * Then requests per second under WRK_CONNECTIONS concurrent clients for WRK_SECONDS each
 * (wrk from Debian, two threads) on health, overview and the week's run chart, and the API's
 * memory (VmRSS, VmHWM) after it all. Page load to first chart: tests/bench/page_load.mjs in
 * Debian's Chromium (playwright-core of tests/browser), when node and the modules are there.
 * Prints one JSON object. Not a test: nothing is asserted.
 *
 * Usage: bench_api [RATE [REQUESTS [WRK_SECONDS [WRK_CONNECTIONS]]]]
 *        (default 0.5 cells/s, 50, 10 s, 32) */
#define _GNU_SOURCE

#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "ct_error.h"
#include "ct_time.h"
#include "harness.h"

#define SITE          "BENCH"
#define LINE          "L1"
#define DENSE_STATION "DENSE-01"
#define DENSE_CHAR    "cell_height"
#define DENSE_ROWS    3024000L /* 5 values/s for 7 days */
#define WEEK_MS       (7LL * 86400 * 1000)
#define LOAD_MS       (4 * 3600 * 1000) /* a week at a high rate takes long to store */

struct body {
	char *data;
	size_t len;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct body *b = userdata;
	size_t n = size * nmemb;
	char *grown = realloc(b->data, b->len + n + 1);

	if (grown == NULL)
		return 0;
	b->data = grown;
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* One GET on the kept connection: its total time in us, or -1 (printed) unless it is 200. */
static int64_t timed_get(CURL *curl, const char *url, struct body *b)
{
	curl_off_t total_us = 0;
	long status = 0;
	CURLcode rc;

	b->len = 0;
	curl_easy_setopt(curl, CURLOPT_URL, url);
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		fprintf(stderr, "GET %s: %s\n", url, curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME_T, &total_us);
	if (status != 200) {
		fprintf(stderr, "GET %s: HTTP %ld: %.300s\n", url, status, b->data ? b->data : "");
		return -1;
	}
	return (int64_t)total_us;
}

/* p50 / p99 / max of n samples (sorted here) as an object; ratios to base_p50_ms if > 0. */
static json_t *summarise(int64_t *v, size_t n, double base_p50_ms)
{
	json_t *o = json_object();
	double p50, p99;

	if (n == 0)
		return json_null();
	qsort(v, n, sizeof(v[0]), bench_cmp_i64);
	p50 = bench_pct_ms(v, n, 0.50);
	p99 = bench_pct_ms(v, n, 0.99);
	json_object_set_new(o, "n", json_integer((json_int_t)n));
	json_object_set_new(o, "p50_ms", bench_num3(p50));
	json_object_set_new(o, "p99_ms", bench_num3(p99));
	json_object_set_new(o, "max_ms", bench_num3((double)v[n - 1] / 1000.0));
	if (base_p50_ms > 0)
		json_object_set_new(o, "p50_over_health_p50", bench_num3(p50 / base_p50_ms));
	return o;
}

/* REQUESTS timed GETs of url; the response size of the last in *ret_bytes. */
static json_t *measure(CURL *curl, const char *url, int requests, double base_p50_ms,
                       struct body *b)
{
	int64_t *v = calloc((size_t)requests, sizeof(*v));
	size_t n = 0;
	json_t *o;

	if (v == NULL)
		return json_null();
	for (int i = 0; i < requests; i++) {
		int64_t us = timed_get(curl, url, b);
		if (us < 0)
			break;
		v[n++] = us;
	}
	o = summarise(v, n, base_p50_ms);
	if (json_is_object(o))
		json_object_set_new(o, "response_bytes", json_integer((json_int_t)b->len));
	free(v);
	return o;
}

/* SELECT 1 round trips over libpq: the database's raw pipe. */
static json_t *measure_sql(struct harness *h, int requests)
{
	PGconn *conn = harness_pg_connect(h, "ct_admin");
	int64_t *v = calloc((size_t)requests, sizeof(*v));
	size_t n = 0;
	json_t *o;

	if (conn == NULL || v == NULL) {
		free(v);
		if (conn != NULL)
			PQfinish(conn);
		return json_null();
	}
	for (int i = 0; i < requests; i++) {
		int64_t t0 = bench_mono_us();
		PGresult *res = PQexec(conn, "SELECT 1");
		bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;

		PQclear(res);
		if (!ok)
			break;
		v[n++] = bench_mono_us() - t0;
	}
	o = summarise(v, n, 0);
	free(v);
	PQfinish(conn);
	return o;
}

/* Runs a command and returns its standard output (malloc'ed), or NULL. */
static char *run_capture(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	struct body b = {NULL, 0};
	char buf[4096];
	size_t n;

	if (p == NULL)
		return NULL;
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
		if (on_body(buf, 1, n, &b) != n)
			break;
	if (pclose(p) != 0) {
		fprintf(stderr, "%s failed:\n%s\n", cmd, b.data ? b.data : "");
		free(b.data);
		return NULL;
	}
	return b.data;
}

/* wrk's requests per second and latency percentiles for url, or null when wrk is absent. */
static json_t *measure_wrk(const char *url, const char *token, int seconds, int connections,
                           double health_rps)
{
	char cmd[2048];
	char *out, *at;
	json_t *o;
	double rps = 0;

	snprintf(cmd, sizeof(cmd),
	         "wrk -t2 -c%d -d%ds --latency -H 'Authorization: Bearer %s' '%s' 2>&1",
	         connections, seconds, token, url);
	out = run_capture(cmd);
	if (out == NULL)
		return json_null();
	o = json_object();
	at = strstr(out, "Requests/sec:");
	if (at != NULL)
		rps = strtod(at + strlen("Requests/sec:"), NULL);
	json_object_set_new(o, "requests_per_s", bench_num3(rps));
	if (health_rps > 0)
		json_object_set_new(o, "over_health_rps", bench_num3(rps / health_rps));
	/* "  50%    1.23ms" lines of --latency; kept as wrk prints them. */
	for (const char *pct = "50%"; pct != NULL; pct = strcmp(pct, "50%") == 0 ? "99%" : NULL) {
		char key[16], unit[8] = "";
		double value = 0;

		at = strstr(out, strcmp(pct, "50%") == 0 ? "     50%" : "     99%");
		if (at != NULL && sscanf(at, " %*s %lf%7s", &value, unit) == 2) {
			double ms = strcmp(unit, "us") == 0  ? value / 1000.0
			            : strcmp(unit, "s") == 0 ? value * 1000.0
			                                     : value;
			snprintf(key, sizeof(key), "latency_p%.2s_ms", pct);
			json_object_set_new(o, key, bench_num3(ms));
		}
	}
	at = strstr(out, "Non-2xx or 3xx responses:");
	json_object_set_new(o, "non_2xx", json_integer(at ? strtol(at + 25, NULL, 10) : 0));
	free(out);
	return o;
}

/* The API's VmRSS and VmHWM in MiB. */
static json_t *api_memory(pid_t pid)
{
	char path[64], line[256];
	FILE *f;
	json_t *o = json_object();

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return o;
	while (fgets(line, sizeof(line), f) != NULL) {
		long kib;

		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			json_object_set_new(o, "rss_mib", bench_num3((double)kib / 1024.0));
		else if (sscanf(line, "VmHWM: %ld", &kib) == 1)
			json_object_set_new(o, "peak_rss_mib", bench_num3((double)kib / 1024.0));
	}
	fclose(f);
	return o;
}

/* The station of SITE/LINE that measures characteristic (from the rollup), into buf. */
static int station_of(struct harness *h, const char *characteristic, char *buf, size_t len)
{
	const char *p[] = {SITE, characteristic};
	PGresult *res = NULL;
	int rc = harness_sql(h,
	                     "SELECT station FROM measurement_rollup WHERE site = $1 AND "
	                     "characteristic = $2 GROUP BY station ORDER BY sum(n) DESC LIMIT 1",
	                     2, p, &res);

	if (rc == CT_OK && PQntuples(res) == 1)
		snprintf(buf, len, "%s", PQgetvalue(res, 0, 0));
	else
		rc = CT_ERR_INVALID;
	PQclear(res);
	return rc;
}

/* Generates the week with the simulator and waits until it is stored. */
static int load_week(struct harness *h, double rate, json_t *out)
{
	struct harness_proc *linesim = NULL;
	char summary_path[HARNESS_PATH_MAX], e_summary[HARNESS_PATH_MAX + 32], e_rate[64];
	const char *env[] = {
	        "CT_SIM_SITE=" SITE,        "CT_SIM_HISTORY=7d", e_rate,    "CT_SIM_FAULTS=nozzle",
	        "CT_SIM_TELEMETRY_HZ=0.01", "CT_SIM_SEED=5",     e_summary, NULL};
	const char *p[] = {SITE};
	json_error_t jerr;
	json_t *summary;
	long long measurements;
	int64_t t0 = bench_mono_us(), t1;

	snprintf(summary_path, sizeof(summary_path), "%s/linesim-summary.json", h->dir);
	snprintf(e_summary, sizeof(e_summary), "CT_SIM_SUMMARY=%s", summary_path);
	snprintf(e_rate, sizeof(e_rate), "CT_SIM_RATE=%g", rate);
	if (harness_service_start(h, HARNESS_LINESIM, NULL, env, &linesim) != CT_OK ||
	    harness_proc_wait_exit(h, linesim, LOAD_MS) != CT_OK)
		return CT_ERR_TIMEOUT;
	t1 = bench_mono_us();
	summary = json_load_file(summary_path, 0, &jerr);
	if (summary == NULL) {
		fprintf(stderr, "cannot read %s: %s\n", summary_path, jerr.text);
		return CT_ERR_IO;
	}
	measurements = json_integer_value(json_object_get(summary, "measurements"));
	json_object_set_new(out, "cells", json_copy(json_object_get(summary, "cells_started")));
	json_object_set_new(out, "results", json_copy(json_object_get(summary, "results")));
	json_object_set_new(out, "measurements", json_integer(measurements));
	json_decref(summary);
	if (harness_wait_sql_countv(h, "SELECT count(*) FROM measurement WHERE site = $1", 1, p,
	                            measurements, LOAD_MS) != CT_OK)
		return CT_ERR_TIMEOUT;
	json_object_set_new(out, "generated_s", bench_num3((double)(t1 - t0) / 1e6));
	json_object_set_new(out, "stored_s", bench_num3((double)(bench_mono_us() - t0) / 1e6));
	return CT_OK;
}

/* The dense week: DENSE_ROWS values of one characteristic, inserted by SQL. */
static int load_dense(struct harness *h, json_t *out)
{
	int64_t t0 = bench_mono_us();
	int rc = harness_pg_exec(
	        h->pg, "INSERT INTO measurement (event_id, unit_id, site, line, station, "
	               "characteristic, value, uom, measured_at, seq) "
	               "SELECT 'dense-' || i, 'BENCH-D' || i, '" SITE "', '" LINE "', "
	               "'" DENSE_STATION "', '" DENSE_CHAR "', "
	               "65.0 + 0.05 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()), "
	               "'mm', now() - interval '7 days' + i * interval '200 milliseconds', 0 "
	               "FROM generate_series(1, 3024000) AS i");

	if (rc != CT_OK)
		return rc;
	json_object_set_new(out, "dense_rows", json_integer(DENSE_ROWS));
	json_object_set_new(out, "dense_insert_s",
	                    bench_num3((double)(bench_mono_us() - t0) / 1e6));
	t0 = bench_mono_us();
	rc = harness_pg_exec(h->pg, "VACUUM ANALYZE");
	json_object_set_new(out, "vacuum_analyze_s",
	                    bench_num3((double)(bench_mono_us() - t0) / 1e6));
	return rc;
}

/* Page load to first chart in Chromium, or null when node or its modules are missing. */
static json_t *page_load(struct harness *h, const char *token, const char *route)
{
	char cmd[2048];
	char *out;
	json_t *o;
	json_error_t jerr;

	snprintf(cmd, sizeof(cmd),
	         "CT_BENCH_URL='%s' CT_BENCH_TOKEN='%s' CT_BENCH_ROUTE='%s' "
	         "CT_BENCH_MODULES='%s/node_modules' '%s' '%s/tests/bench/page_load.mjs' 2>&1",
	         h->api_url, token, route, CT_BROWSER_DIR, CT_NODE_BIN, CT_SOURCE_DIR);
	out = run_capture(cmd);
	if (out == NULL)
		return json_null();
	o = json_loads(out, 0, &jerr);
	if (o == NULL) {
		fprintf(stderr, "page_load.mjs printed no JSON: %s\n", out);
		o = json_null();
	}
	free(out);
	return o;
}

int main(int argc, char **argv)
{
	double rate = argc > 1 ? strtod(argv[1], NULL) : 0.5;
	int requests = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 50;
	int wrk_s = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 10;
	int wrk_c = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 32;
	struct harness *h = NULL;
	struct harness_proc *ingest = NULL, *traveler = NULL, *api = NULL;
	json_t *out = json_object(), *volume = json_object(), *lat = json_object();
	json_t *wrk = json_object(), *health;
	char fill_station[64], decay_station[64], token[160] = "", auth[200];
	char url_health[256], url_overview[256], url_run[512], url_hist[512];
	char url_run_dense[512], url_hist_dense[512], route[512];
	struct curl_slist *headers = NULL;
	struct body b = {NULL, 0};
	long long from_ms, to_ms;
	double health_p50 = 0, health_rps = 0;
	CURL *curl;
	PGresult *res = NULL;
	int exit_code = 1;

	if (rate <= 0 || requests < 1 || wrk_s < 1 || wrk_c < 1) {
		fprintf(stderr,
		        "usage: bench_api [RATE [REQUESTS [WRK_SECONDS [WRK_CONNECTIONS]]]]\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (harness_pg_template(false) != CT_OK || harness_new("api", 5 * 3600, &h) != CT_OK ||
	    harness_broker_start(h) != CT_OK || harness_pg_start(h) != CT_OK ||
	    harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest) != CT_OK ||
	    harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler) != CT_OK ||
	    harness_load_starter_config(h) != CT_OK ||
	    harness_service_start(h, HARNESS_API, NULL, NULL, &api) != CT_OK) {
		fprintf(stderr, "cannot start the harness\n");
		goto out;
	}
	json_object_set_new(volume, "rate_cells_per_s", bench_num3(rate));
	if (load_week(h, rate, volume) != CT_OK || load_dense(h, volume) != CT_OK ||
	    station_of(h, "fill_mass", fill_station, sizeof(fill_station)) != CT_OK ||
	    station_of(h, "pressure_decay", decay_station, sizeof(decay_station)) != CT_OK) {
		fprintf(stderr, "cannot load the week\n");
		goto out;
	}
	if (harness_sql(h, "SELECT ct_api_token_create('bench', 'viewer')", 0, NULL, &res) !=
	            CT_OK ||
	    PQntuples(res) != 1) {
		fprintf(stderr, "cannot mint a token\n");
		goto out;
	}
	snprintf(token, sizeof(token), "%s", PQgetvalue(res, 0, 0));
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	to_ms = ct_now_us() / 1000;
	from_ms = to_ms - WEEK_MS;
	snprintf(url_health, sizeof(url_health), "%s/api/v1/health", h->api_url);
	snprintf(url_overview, sizeof(url_overview), "%s/api/v1/overview?site=%s&line=%s",
	         h->api_url, SITE, LINE);
	snprintf(url_run, sizeof(url_run),
	         "%s/api/v1/runchart?site=%s&line=%s&station=%s&characteristic=fill_mass"
	         "&from=%lld&to=%lld&points=1000",
	         h->api_url, SITE, LINE, fill_station, from_ms, to_ms);
	snprintf(url_hist, sizeof(url_hist),
	         "%s/api/v1/histogram?site=%s&line=%s&station=%s&characteristic=pressure_decay"
	         "&from=%lld&to=%lld&bins=40",
	         h->api_url, SITE, LINE, decay_station, from_ms, to_ms);
	snprintf(url_run_dense, sizeof(url_run_dense),
	         "%s/api/v1/runchart?site=%s&line=%s&station=%s&characteristic=%s"
	         "&from=%lld&to=%lld&points=1000",
	         h->api_url, SITE, LINE, DENSE_STATION, DENSE_CHAR, from_ms, to_ms);
	snprintf(url_hist_dense, sizeof(url_hist_dense),
	         "%s/api/v1/histogram?site=%s&line=%s&station=%s&characteristic=%s"
	         "&from=%lld&to=%lld&bins=40",
	         h->api_url, SITE, LINE, DENSE_STATION, DENSE_CHAR, from_ms, to_ms);
	curl = curl_easy_init();
	if (curl == NULL)
		goto out;
	headers = curl_slist_append(headers, auth);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);

	/* The first run chart after the load, before anything warmed the caches for it. */
	json_object_set_new(lat, "runchart_week_cold_ms",
	                    bench_num3((double)timed_get(curl, url_run, &b) / 1000.0));
	health = measure(curl, url_health, requests, 0, &b);
	if (json_is_object(health))
		health_p50 = json_real_value(json_object_get(health, "p50_ms"));
	json_object_set_new(lat, "health", health);
	json_object_set_new(lat, "sql_select_1", measure_sql(h, requests));
	json_object_set_new(lat, "runchart_week", measure(curl, url_run, requests, health_p50, &b));
	json_object_set_new(lat, "histogram_week",
	                    measure(curl, url_hist, requests, health_p50, &b));
	json_object_set_new(lat, "runchart_week_dense",
	                    measure(curl, url_run_dense, requests, health_p50, &b));
	json_object_set_new(lat, "histogram_week_dense",
	                    measure(curl, url_hist_dense, requests, health_p50, &b));
	json_object_set_new(lat, "overview", measure(curl, url_overview, requests, health_p50, &b));
	curl_easy_cleanup(curl);

	json_object_set_new(wrk, "connections", json_integer(wrk_c));
	json_object_set_new(wrk, "seconds", json_integer(wrk_s));
	json_object_set_new(wrk, "health", measure_wrk(url_health, token, wrk_s, wrk_c, 0));
	health_rps =
	        json_real_value(json_object_get(json_object_get(wrk, "health"), "requests_per_s"));
	json_object_set_new(wrk, "overview",
	                    measure_wrk(url_overview, token, wrk_s, wrk_c, health_rps));
	json_object_set_new(wrk, "runchart_week",
	                    measure_wrk(url_run, token, wrk_s, wrk_c, health_rps));
	json_object_set_new(out, "memory_after_wrk", api_memory(api->pid));

	snprintf(route, sizeof(route),
	         "#/chart?site=%s&line=%s&station=%s&characteristic=fill_mass&range=7d", SITE, LINE,
	         fill_station);
	json_object_set_new(out, "page_load", page_load(h, token, route));
	json_object_set_new(out, "memory_at_end", api_memory(api->pid));
	json_object_set_new(out, "volume", volume);
	volume = NULL;
	json_object_set_new(out, "latency", lat);
	lat = NULL;
	json_object_set_new(out, "wrk", wrk);
	wrk = NULL;
	json_dumpf(out, stdout, JSON_INDENT(2));
	putchar('\n');
	exit_code = 0;
out:
	PQclear(res);
	curl_slist_free_all(headers);
	free(b.data);
	json_decref(volume);
	json_decref(lat);
	json_decref(wrk);
	json_decref(out);
	harness_free(h);
	curl_global_cleanup();
	return exit_code;
}
