/* api_it: the line with ct-api and the node scripts against it (api_it.h). */
#include "api_it.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libpq-fe.h>

#include "alert_it.h"
#include "ct_error.h"

#ifndef CT_NODE_BIN
#error "CT_NODE_BIN must name node"
#endif
#ifndef CT_BROWSER_DIR
#error "CT_BROWSER_DIR must name the build tree's tests/browser (scripts and node_modules)"
#endif
#ifndef CT_ARTIFACTS_DIR
#error "CT_ARTIFACTS_DIR must name the build tree's test-artifacts"
#endif
#ifndef CT_API_BIN
#error "CT_API_BIN must name ct-api"
#endif

#define WAIT HARNESS_WAIT_MS

/* Waits until sql (one integer, parameter $1 = the site) is at least 1. */
static void wait_some(struct harness *h, const char *what, const char *sql)
{
	const char *p[] = {API_IT_SITE};
	char wrapped[1024];

	snprintf(wrapped, sizeof(wrapped), "SELECT ((%s) >= 1)::int", sql);
	if (harness_wait_sql_countv(h, wrapped, 1, p, 1, WAIT) != CT_OK)
		fail_msg("the line left no %s", what);
}

/* A token from ct_api_token_create as ct_admin (the deployment's admin). */
static void mint(struct harness *h, const char *name, const char *role, char *buf, size_t len)
{
	const char *p[] = {name, role};
	PGresult *res = NULL;

	assert_int_equal(harness_sql(h, "SELECT ct_api_token_create($1, $2)", 2, p, &res), CT_OK);
	assert_int_equal(PQntuples(res), 1);
	assert_true(strlen(PQgetvalue(res, 0, 0)) < len);
	snprintf(buf, len, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	/* ctk_ and 64 hex digits (api contract). */
	assert_int_equal(strlen(buf), 68);
	assert_memory_equal(buf, "ctk_", 4);
}

/* States of every station of the still site's line over the last hour (producing from 9 h
 * before, so that whatever shift is open now starts in a known state), written as ct-oee
 * would store them (the harness does not start ct-oee here: the API reads what is stored),
 * and ideal cycle times: '*' for every station, and one far too long for the end-of-line
 * tester so that its performance is over 100 % and flagged. Times are relative to now, so the
 * figures of a window that ends after them are fixed: the scripts compare the API's with
 * ct_oee_line's for the same window. */
static void oee_data(struct harness *h)
{
	static const char states[] =
	        "INSERT INTO station_state (event_id, site, line, station, state, reason_code,"
	        " since, recipe, asset)"
	        " SELECT 'it-oee-' || s.station || '-' || x.n, s.site, s.line, s.station, x.state,"
	        "  x.reason, now() - x.ago, x.recipe, x.asset"
	        " FROM (SELECT DISTINCT site, line, station FROM station_visit"
	        "       WHERE site = $1 AND line = 'L1') s"
	        " CROSS JOIN (VALUES"
	        "  (0, 1::smallint, '', interval '9 hours', 'R-A', ''),"
	        "  (1, 1::smallint, '', interval '50 minutes', 'R-A', ''),"
	        "  (2, 6::smallint, 'MICRO.JAM', interval '40 minutes', 'R-A', 'jam-sensor'),"
	        "  (3, 1::smallint, '', interval '39 minutes 40 seconds', 'R-A', ''),"
	        "  (4, 6::smallint, 'BREAKDOWN.GENERIC', interval '30 minutes', 'R-A', 'drive'),"
	        "  (5, 1::smallint, '', interval '25 minutes', 'R-A', ''),"
	        "  (6, 5::smallint, 'CHANGEOVER', interval '20 minutes', 'R-B', ''),"
	        "  (7, 1::smallint, '', interval '18 minutes', 'R-B', '')"
	        " ) AS x(n, state, reason, ago, recipe, asset)";
	static const char ideal[] =
	        "INSERT INTO oee_ideal_cycle (site, line, station, recipe, ideal_cycle_s) VALUES"
	        " ('*', '*', '*', '*', 0.05), ($1, 'L1', 'L1-EOL-01', '*', 1000)"
	        " ON CONFLICT (site, line, station, recipe)"
	        " DO UPDATE SET ideal_cycle_s = excluded.ideal_cycle_s";
	const char *p[] = {API_IT_SITE};
	PGresult *res = NULL;

	assert_int_equal(harness_sql(h, states, 1, p, &res), CT_OK);
	PQclear(res);
	assert_int_equal(harness_sql(h, ideal, 1, p, &res), CT_OK);
	PQclear(res);
}

void api_it_line(struct harness *h, int cells, double live_rate, struct api_it *ret)
{
	const char *routes_env[] = {
	        alert_it_routes_env(CT_SOURCE_DIR "/deploy/config/alert-routes.conf"), NULL};
	char e_cells[48], e_rate[48];
	const char *fast_env[] = {"CT_SIM_SITE=" API_IT_SITE,
	                          "CT_SIM_LINES=1",
	                          e_cells,
	                          "CT_SIM_RATE=150",
	                          "CT_SIM_SEED=101",
	                          "CT_SIM_FAULTS=nozzle",
	                          "CT_SIM_TELEMETRY_HZ=0",
	                          NULL};
	const char *live_env[] = {"CT_SIM_SITE=" API_IT_LIVE_SITE,
	                          "CT_SIM_LINES=1",
	                          "CT_SIM_CELLS=0",
	                          e_rate,
	                          "CT_SIM_SEED=202",
	                          "CT_SIM_FAULTS=nozzle",
	                          "CT_SIM_TELEMETRY_HZ=0",
	                          "CT_SIM_UNIT_PREFIX=LIVE-",
	                          NULL};

	memset(ret, 0, sizeof(*ret));
	ret->h = h;
	snprintf(e_cells, sizeof(e_cells), "CT_SIM_CELLS=%d", cells);
	snprintf(e_rate, sizeof(e_rate), "CT_SIM_RATE=%g", live_rate);
	assert_int_equal(harness_load_starter_config(h), CT_OK);
	assert_int_equal(
	        harness_service_start(h, HARNESS_ALERTROUTER, NULL, routes_env, &ret->router),
	        CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &ret->traveler),
	                 CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_SPCGATE, NULL, NULL, &ret->gate), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ret->ingest), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_API, NULL, NULL, &ret->api), CT_OK);
	printf("ct-api at %s\n", h->api_url);

	/* The fast run: the nozzle wavers to its full amplitude, spc-gate signals, slows the
	 * filler, holds the electrolyte lot; the router raises the alerts. */
	assert_int_equal(
	        harness_service_start(h, HARNESS_LINESIM, "linesim", fast_env, &ret->linesim),
	        CT_OK);
	assert_int_equal(harness_proc_wait_exit(h, ret->linesim, WAIT), CT_OK);
	wait_some(h, "active unacknowledged alert",
	          "SELECT count(*) FROM alert WHERE site = $1 AND state = 'ACTIVE_UNACK'");
	wait_some(h, "held lot", "SELECT count(*) FROM lot_status WHERE site = $1 AND state = 2");
	wait_some(h, "open inspection item",
	          "SELECT count(*) FROM inspection_item WHERE site = $1 AND disposition IS NULL");
	wait_some(h, "automatic action", "SELECT count(*) FROM automatic_action WHERE site = $1");
	wait_some(h, "module with cells",
	          "SELECT count(*) FROM unit u JOIN genealogy g ON g.parent_id = u.unit_id"
	          " WHERE u.site = $1 AND u.kind = 5");

	oee_data(h);

	/* The live run: from here on results keep arriving (on their own site). */
	assert_int_equal(
	        harness_service_start(h, HARNESS_LINESIM, "linesim-live", live_env, &ret->live),
	        CT_OK);
	{
		const char *p[] = {API_IT_LIVE_SITE};
		if (harness_wait_sql_countv(h,
		                            "SELECT (count(*) > 0)::int FROM station_visit"
		                            " WHERE site = $1",
		                            1, p, 1, WAIT) != CT_OK)
			fail_msg("the live simulator's results are not stored");
	}

	mint(h, "alice", "viewer", ret->viewer, sizeof(ret->viewer));
	mint(h, "oscar", "operator", ret->operator_, sizeof(ret->operator_));
	mint(h, "quinn", "quality", ret->quality, sizeof(ret->quality));
	mint(h, "rita", "viewer", ret->revoked, sizeof(ret->revoked));
	{
		PGresult *res = NULL;
		const char *rp[] = {"rita"};
		assert_int_equal(harness_sql(h, "SELECT ct_api_token_revoke($1)", 1, rp, &res),
		                 CT_OK);
		PQclear(res);
	}
}

void api_it_artifacts(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", CT_ARTIFACTS_DIR, name);
	if ((mkdir(CT_ARTIFACTS_DIR, 0755) != 0 && errno != EEXIST) ||
	    (mkdir(buf, 0755) != 0 && errno != EEXIST))
		fail_msg("cannot create %s: %s", buf, strerror(errno));
}

/* Appends "KEY=value" to env (at most n entries, NULL-terminated by the caller's zeroing),
 * keeping the string in store. */
static void put(char store[][512], const char **env, size_t *used, size_t n, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

static void put(char store[][512], const char **env, size_t *used, size_t n, const char *fmt, ...)
{
	va_list ap;

	assert_true(*used + 1 < n);
	va_start(ap, fmt);
	vsnprintf(store[*used], 512, fmt, ap);
	va_end(ap);
	env[*used] = store[*used];
	(*used)++;
}

void api_it_node(struct api_it *t, const char *script, const char *const *extra_env, int timeout_ms)
{
	enum { MAX_ENV = 40 };
	static char store[MAX_ENV][512];
	const char *env[MAX_ENV + 1] = {NULL};
	char conninfo[256], pg_password[128], mqtt_password[128], path[HARNESS_PATH_MAX];
	char ingest_password[128], oee_password[128];
	char artifacts[HARNESS_PATH_MAX], *out = NULL;
	size_t n = 0;
	int status = -1;

	harness_pg_conninfo(t->h, "ct_admin", conninfo, sizeof(conninfo));
	assert_int_equal(harness_pg_password(t->h, "ct_admin", pg_password, sizeof(pg_password)),
	                 CT_OK);
	assert_int_equal(harness_mqtt_password(t->h, "cli", mqtt_password, sizeof(mqtt_password)),
	                 CT_OK);
	assert_int_equal(
	        harness_mqtt_password(t->h, "ingest", ingest_password, sizeof(ingest_password)),
	        CT_OK);
	assert_int_equal(harness_mqtt_password(t->h, "oee", oee_password, sizeof(oee_password)),
	                 CT_OK);
	/* The script's own artifacts directory: test-artifacts/<script without .mjs>. */
	snprintf(path, sizeof(path), "%.*s", (int)strcspn(script, "."), script);
	api_it_artifacts(path, artifacts, sizeof(artifacts));
	put(store, env, &n, MAX_ENV, "CT_TEST_API_URL=%s", t->h->api_url);
	put(store, env, &n, MAX_ENV, "CT_TEST_TOKEN_VIEWER=%s", t->viewer);
	put(store, env, &n, MAX_ENV, "CT_TEST_TOKEN_OPERATOR=%s", t->operator_);
	put(store, env, &n, MAX_ENV, "CT_TEST_TOKEN_QUALITY=%s", t->quality);
	put(store, env, &n, MAX_ENV, "CT_TEST_TOKEN_REVOKED=%s", t->revoked);
	put(store, env, &n, MAX_ENV, "CT_TEST_PG_CONNINFO=%s", conninfo);
	put(store, env, &n, MAX_ENV, "CT_TEST_PG_PASSWORD=%s", pg_password);
	put(store, env, &n, MAX_ENV, "CT_TEST_API_BIN=%s", CT_API_BIN);
	put(store, env, &n, MAX_ENV, "CT_TEST_OPENAPI=%s",
	    CT_SOURCE_DIR "/services/api/openapi.json");
	put(store, env, &n, MAX_ENV, "CT_TEST_SITE=%s", API_IT_SITE);
	put(store, env, &n, MAX_ENV, "CT_TEST_LIVE_SITE=%s", API_IT_LIVE_SITE);
	put(store, env, &n, MAX_ENV, "CT_TEST_MQTT_PORT=%d", t->h->mqtt_port);
	put(store, env, &n, MAX_ENV, "CT_TEST_MQTT_CLI_PASSWORD=%s", mqtt_password);
	/* Station states and OEE figures published as ingest and ct-oee would. */
	put(store, env, &n, MAX_ENV, "CT_TEST_MQTT_INGEST_PASSWORD=%s", ingest_password);
	put(store, env, &n, MAX_ENV, "CT_TEST_MQTT_OEE_PASSWORD=%s", oee_password);
	put(store, env, &n, MAX_ENV, "CT_TEST_ARTIFACTS=%s", artifacts);
	put(store, env, &n, MAX_ENV, "CT_TEST_DIR=%s", t->h->dir);
	for (size_t i = 0; extra_env != NULL && extra_env[i] != NULL; i++)
		put(store, env, &n, MAX_ENV, "%s", extra_env[i]);

	snprintf(path, sizeof(path), "%s/%s", CT_BROWSER_DIR, script);
	const char *argv[] = {CT_NODE_BIN, path, NULL};
	if (harness_run(t->h, script, CT_NODE_BIN, argv, env, timeout_ms, &out, &status) != CT_OK)
		fail_msg("node %s did not finish within %d ms", script, timeout_ms);
	printf("---- node %s ----\n%s---- end of node %s (exit %d) ----\n", script,
	       out != NULL ? out : "", script, status);
	free(out);
	if (status != 0) {
		harness_print_logs(t->h);
		fail_msg("node %s failed (exit %d); its failures are listed above", script, status);
	}
}
