/* test_api: ct-api's HTTP API against the whole line, by tests/browser/api.mjs.
 *
 * The harness starts Mosquitto, PostgreSQL, alert-router, traveler, spc-gate, ingest, ct-api and
 * ct-linesim with the fill-nozzle fault (api_it.h: a fast run that leaves alerts, a held lot,
 * inspection items and an automatic action, then a slow live run); node then checks that the
 * OpenAPI file lists exactly the routes of `ct-api --routes`, that every endpoint's answer to
 * good arguments validates against its documented schema, that bad arguments of every kind
 * (SQL-looking names included) are a documented 4xx with a JSON error and never a 5xx, that the
 * service is still up and the unit table still there afterwards, and the roles: no token 401,
 * viewer never POSTs (403), operator acknowledges (alert state in PostgreSQL) but cannot release,
 * quality releases, disposes and undoes; and OEE, the Pareto, changeovers, response time,
 * traceability depth and maintainability as their SQL functions of migration 0011 answer them, over
 * station states api_it stores for the line. The script lists every failed check with its request
 * and response and exits non-zero.
 *
 * Then the CLI's views of the same (cellthread oee, oee pareto, oee changeovers, oee shifts,
 * response, trace-depth, maintain): --json equal to the SQL functions' figures, tables readable
 * (a flagged performance printed as "config error"), and `oee ideal` refused to a read-only login
 * (exit 4) but stored for a quality one. */
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

#include "api_it.h"
#include "ct_error.h"
#include "harness.h"

/* The node script's own waits are 30 s each at most; this bounds a hung one. */
#define NODE_TIMEOUT_MS 150000

/* One value of the first row as text (malloc'ed), asserting the query worked. */
static char *sql_text(struct harness *h, const char *sql, int n, const char *const *params)
{
	PGresult *res = NULL;
	char *v;

	assert_int_equal(harness_sql(h, sql, n, params, &res), CT_OK);
	assert_true(PQntuples(res) > 0);
	v = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	assert_non_null(v);
	return v;
}

/* Runs cellthread as identity, wants exit code want and, when contains is set, that text in
 * its output. Returns the output (free it). */
static char *cli(struct harness *h, const char *identity, const char *const *args, int want,
                 const char *contains)
{
	char *out = NULL;
	int rc = harness_cli(h, identity, args, &out);

	if (rc != want)
		fail_msg("cellthread %s %s: exit %d, want %d; output:\n%s", args[0],
		         args[1] ? args[1] : "", rc, want, out ? out : "");
	if (contains != NULL && (out == NULL || strstr(out, contains) == NULL))
		fail_msg("cellthread %s %s: no \"%s\" in its output:\n%s", args[0],
		         args[1] ? args[1] : "", contains, out ? out : "");
	return out;
}

static double figure(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static void test_cli(struct harness *h)
{
	/* The window of api.mjs's comparison: from the first stored state to a second ago. */
	static const char window_sql[] =
	        "SELECT to_char((date_trunc('second', min(since)) + interval '1 second')"
	        " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') || ' ' ||"
	        " to_char((date_trunc('second', now()) - interval '1 second') AT TIME ZONE 'UTC',"
	        " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
	        " FROM station_state WHERE site = $1 AND event_id LIKE 'it-oee-%'";
	const char *site[] = {API_IT_SITE};
	char *window = sql_text(h, window_sql, 1, site);
	char *to = strchr(window, ' ');
	const char *oee_json[] = {"oee",  "--site", API_IT_SITE, "--line", "L1", "--from",
	                          window, "--to",   NULL,        "--json", NULL};
	const char *oee_table[] = {"oee",    "--site", API_IT_SITE, "--line", "L1",
	                           "--from", window,   "--to",      NULL,     NULL};
	const char *pareto[] = {"oee",    "pareto", "--site", API_IT_SITE, "--line", "L1",
	                        "--from", window,   "--to",   NULL,        NULL};
	const char *changeovers[] = {"oee",    "changeovers", "--site", API_IT_SITE, "--line", "L1",
	                             "--from", window,        "--to",   NULL,        NULL};
	const char *shifts[] = {"oee", "shifts", "--site", API_IT_SITE, "--line", "L1", NULL};
	const char *response[] = {"response", "--site", API_IT_SITE, "--line", "L1", NULL};
	const char *maintain[] = {"maintain", "--site", API_IT_SITE, "--line", "L1", NULL};
	const char *depth_line[] = {"trace-depth", "--site", API_IT_SITE, "--line", "L1", NULL};
	const char *ideal[] = {"oee", "ideal", API_IT_SITE, "L1", "L1-FILL-01", "*", "2.5", NULL};
	const char *bad_shift[] = {"oee", "--shift", "yesterday", NULL};
	const char *bad_time[] = {"oee", "--from", "last tuesday", NULL};
	const char *no_unit[] = {"trace-depth", "NO-SUCH-CELL-0001", NULL};
	const char *one_station[] = {"oee",        "--site", API_IT_SITE, "--line", "L1",
	                             "--from",     window,   "--to",      NULL,     "--station",
	                             "L1-FILL-01", "--json", NULL};
	const char *reversed[] = {"oee",    "--site", API_IT_SITE, "--line", "L1",
	                          "--from", NULL,     "--to",      window,   NULL};
	const char *kind_elsewhere[] = {"response", "--kind", "cell", NULL};
	const char *station_elsewhere[] = {"maintain", "--station", "L1-FILL-01", NULL};
	char *out, *cell, *line_sql_oee;
	json_t *lines, *line;
	json_error_t jerr;

	*to++ = '\0';
	oee_json[8] = oee_table[8] = pareto[9] = changeovers[9] = one_station[8] = to;
	reversed[6] = to;
	{
		const char *p[] = {API_IT_SITE, window, to};
		line_sql_oee = sql_text(h,
		                        "SELECT coalesce(ct_oee_line($1, 'L1', $2::timestamptz,"
		                        " $3::timestamptz) ->> 'oee', 'null')",
		                        3, p);
	}
	out = cli(h, "cli", oee_json, 0, NULL);
	lines = json_loads(out, 0, &jerr);
	if (lines == NULL)
		fail_msg("cellthread oee --json: not JSON (%s):\n%s", jerr.text, out);
	free(out);
	assert_int_equal(json_array_size(lines), 1);
	line = json_array_get(lines, 0);
	assert_true(json_array_size(json_object_get(line, "stations")) >= 5);
	if (strcmp(line_sql_oee, "null") == 0)
		assert_true(json_is_null(json_object_get(line, "oee")));
	else
		assert_true(fabs(figure(line, "oee") - strtod(line_sql_oee, NULL)) < 1e-12);
	printf("cellthread oee: line OEE %s, as ct_oee_line\n", line_sql_oee);
	json_decref(lines);
	free(line_sql_oee);

	out = cli(h, "cli", oee_table, 0, "config error"); /* the end-of-line tester's */
	printf("%s", out);
	free(out);
	out = cli(h, "cli", pareto, 0, "BREAKDOWN.GENERIC");
	printf("%s", out);
	free(out);
	free(cli(h, "cli", changeovers, 0, "R-B"));
	free(cli(h, "cli", shifts, 0, "SHIFT"));
	free(cli(h, "cli", response, 0, "REJ"));
	free(cli(h, "cli", maintain, 0, "BREAKDOWN.GENERIC"));
	free(cli(h, "cli", depth_line, 0, "units"));
	cell = sql_text(h,
	                "SELECT unit_id FROM unit WHERE site = $1 AND kind = 4 ORDER BY unit_id"
	                " LIMIT 1",
	                1, site);
	{
		const char *depth[] = {"trace-depth", cell, NULL};
		free(cli(h, "cli", depth, 0, "score"));
	}
	free(cell);
	free(cli(h, "cli", no_unit, 3, NULL));
	free(cli(h, "cli", bad_shift, 2, NULL));
	free(cli(h, "cli", bad_time, 2, NULL));
	/* --from after --to is a mistake (the API's 400), and no option is ignored silently:
	 * --station filters the figures, an option a command does not take is refused. */
	free(cli(h, "cli", reversed, 2, NULL));
	free(cli(h, "cli", kind_elsewhere, 2, NULL));
	free(cli(h, "cli", station_elsewhere, 2, NULL));
	out = cli(h, "cli", one_station, 0, NULL);
	lines = json_loads(out, 0, &jerr);
	if (lines == NULL)
		fail_msg("cellthread oee --station --json: not JSON (%s):\n%s", jerr.text, out);
	free(out);
	line = json_array_get(lines, 0);
	assert_int_equal(json_array_size(json_object_get(line, "stations")), 1);
	assert_string_equal(
	        json_string_value(json_object_get(
	                json_array_get(json_object_get(line, "stations"), 0), "station")),
	        "L1-FILL-01");
	json_decref(lines);
	/* Ideal cycle times: a quality login only. */
	free(cli(h, "cli", ideal, 4, NULL));
	free(cli(h, "quality", ideal, 0, "2.5 s"));
	{
		long long n = 0;
		assert_int_equal(
		        harness_sql_long(h,
		                         "SELECT count(*) FROM oee_ideal_cycle WHERE site = $1"
		                         " AND station = 'L1-FILL-01' AND ideal_cycle_s = 2.5",
		                         1, site, &n),
		        CT_OK);
		assert_int_equal(n, 1);
	}
	free(window);
}

static void test_api(void **state)
{
	struct harness *h = *state;
	struct api_it t;

	api_it_line(h, 400, 5, &t);
	api_it_node(&t, "api.mjs", NULL, NODE_TIMEOUT_MS);
	assert_true(harness_proc_is_alive(t.api));
	test_cli(h);
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("api", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_api, harness_test_setup,
	                                        harness_test_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
