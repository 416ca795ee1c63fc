/* test_thread_e2e: the digital thread end to end, linesim -> ingest -> traveler -> trace.
 *
 * linesim runs a fixed seed for a fixed number of cells and writes a summary with exact
 * counts of everything it published; every table must end with exactly those counts (not
 * fewer: nothing lost; not more: nothing duplicated). "Exactly" is checked twice: first by
 * waiting until each count reaches its value, then again after a sentinel message sent
 * behind all of linesim's has arrived (the broker, ingest and traveler keep order, so
 * anything still in flight would have been stored before it).
 *
 * Traces are checked against an oracle: recursive SQL over the genealogy table, written
 * independently of traveler's query code, and against the line's structure (cells per
 * module, modules per pack). The MQTT path must print exactly what the database path prints.
 *
 * linesim names units by line ("L1-C00000001"), not by site or seed, so each run gets its
 * own broker and database (per-test setup) and runs cannot mix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_config.h"
#include "ct_error.h"
#include "ct_time.h"
#include "harness.h"

#ifndef CT_CLI_BIN
#define CT_CLI_BIN ""
#endif

#define CELLS_PER_MODULE 12
#define MODULES_PER_PACK 4
#define RUN_TIMEOUT_MS   300000
#define STR_(x)          #x
#define STR(x)           STR_(x)

struct run_spec {
	const char *site;
	const char *encoding;
	int lines;
	int cells; /* per line */
	const char *seed;
	bool traces;
};

static long long summary_int(json_t *summary, const char *key)
{
	json_t *v = json_object_get(summary, key);
	if (!json_is_integer(v))
		fail_msg("linesim summary has no integer \"%s\"", key);
	return (long long)json_integer_value(v);
}

/* One table count: the SQL (sentinel rows excluded) and what it must reach. */
struct count {
	const char *what;
	const char *sql;
	long long base;
	long long expected;
};

static const char *const unit_kinds[] = {"material_lot", "batch",  "electrode",
                                         "cell",         "module", "pack"};

static long long sql_count(struct harness *h, const char *sql, int n, const char *const *params)
{
	long long v = -1;
	assert_int_equal(harness_sql_long(h, sql, n, params, &v), CT_OK);
	return v;
}

/* The kinds' number as text, for a query parameter ("1" for material_lot). */
static const char *kind_param(size_t i)
{
	static const char *const nums[] = {"1", "2", "3", "4", "5", "6"};
	return nums[i];
}

#define N_TABLES 11
#define N_COUNTS (N_TABLES + 6)

static void counts_init(struct harness *h, struct count *c)
{
	static const struct {
		const char *what, *sql;
	} tables[N_TABLES] = {
	        {"event", "SELECT count(*) FROM event WHERE event_id NOT LIKE 'e2e-sentinel%'"},
	        {"station_visit",
	         "SELECT count(*) FROM station_visit WHERE event_id NOT LIKE 'e2e-sentinel%'"},
	        {"measurement", "SELECT count(*) FROM measurement"},
	        {"process_parameter", "SELECT count(*) FROM process_parameter"},
	        {"genealogy", "SELECT count(*) FROM genealogy"},
	        {"environment_reading", "SELECT count(*) FROM environment_reading"},
	        {"visit_note", "SELECT count(*) FROM visit_note"},
	        {"visit_curve", "SELECT count(*) FROM visit_curve"},
	        {"curve points", "SELECT coalesce(sum(cardinality(x)), 0) FROM visit_curve"},
	        {"telemetry_sample", "SELECT count(*) FROM telemetry_sample"},
	        {"dead_letter", "SELECT count(*) FROM dead_letter"},
	};
	for (size_t i = 0; i < N_TABLES; i++) {
		c[i].what = tables[i].what;
		c[i].sql = tables[i].sql;
		c[i].base = sql_count(h, c[i].sql, 0, NULL);
	}
	for (size_t k = 0; k < 6; k++) {
		const char *p[] = {kind_param(k)};
		c[N_TABLES + k].what = unit_kinds[k];
		c[N_TABLES + k].sql = "SELECT count(*) FROM unit WHERE kind = $1::smallint AND "
		                      "unit_id NOT LIKE 'SENTINEL%'";
		c[N_TABLES + k].base = sql_count(h, c[N_TABLES + k].sql, 1, p);
	}
}

static void counts_expect(struct count *c, json_t *s)
{
	json_t *units = json_object_get(s, "units_by_kind");
	const long long add[N_TABLES] = {
	        summary_int(s, "results") + summary_int(s, "telemetry_messages"),
	        summary_int(s, "results"),
	        summary_int(s, "measurements"),
	        summary_int(s, "parameters"),
	        summary_int(s, "materials") + summary_int(s, "children"),
	        summary_int(s, "environment_readings"),
	        summary_int(s, "notes") + summary_int(s, "exceptions"),
	        summary_int(s, "curves"),
	        summary_int(s, "curve_points"),
	        summary_int(s, "telemetry_samples"),
	        0,
	};

	assert_true(json_is_object(units));
	for (size_t i = 0; i < N_TABLES; i++)
		c[i].expected = c[i].base + add[i];
	for (size_t k = 0; k < 6; k++)
		c[N_TABLES + k].expected = c[N_TABLES + k].base + summary_int(units, unit_kinds[k]);
}

static void counts_wait(struct harness *h, struct count *c, int timeout_ms)
{
	int64_t deadline = ct_mono_ms() + timeout_ms;

	for (size_t i = 0; i < N_COUNTS; i++) {
		const char *p[] = {i >= N_TABLES ? kind_param(i - N_TABLES) : NULL};
		int left = (int)(deadline - ct_mono_ms());
		if (harness_wait_sql_countv(h, c[i].sql, i >= N_TABLES ? 1 : 0, p, c[i].expected,
		                            left > 0 ? left : 1) != CT_OK)
			fail_msg("%s never reached %lld rows", c[i].what, c[i].expected);
	}
}

static void counts_exact(struct harness *h, const struct count *c)
{
	for (size_t i = 0; i < N_COUNTS; i++) {
		const char *p[] = {i >= N_TABLES ? kind_param(i - N_TABLES) : NULL};
		long long got = sql_count(h, c[i].sql, i >= N_TABLES ? 1 : 0, p);
		if (got != c[i].expected)
			fail_msg("%s: %lld rows, expected exactly %lld", c[i].what, got,
			         c[i].expected);
		printf("  %-20s %lld\n", c[i].what, got - c[i].base);
	}
}

/* Publishes a result behind everything linesim sent and waits until it is stored. */
static void sentinel(struct harness *h, const char *site)
{
	struct harness_simple spec = {site, "L1", "E2E-SENTINEL", "e2e", 0, 0};
	char id[64], unit[64], topic[256];
	const char *ids[] = {id}, *units[] = {unit};
	uint8_t *buf = NULL;
	size_t len = 0;

	snprintf(id, sizeof(id), "e2e-sentinel-%s", site);
	snprintf(unit, sizeof(unit), "SENTINEL-%s", site);
	snprintf(topic, sizeof(topic), "ct/v1/edge/%s/L1/E2E-SENTINEL/result/pb", site);
	assert_int_equal(harness_simple_batch(&spec, ids, units, 1, &buf, &len), CT_OK);
	assert_int_equal(harness_publish(h, "gateway", topic, buf, len), CT_OK);
	free(buf);
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM event WHERE event_id = $1",
	                                         1, ids, 1, HARNESS_WAIT_MS),
	                 CT_OK);
}

/* ---- Traces ---- */

/* Runs `cellthread trace DIRECTION ID --json [--mqtt]` and returns the parsed output. */
static json_t *cli_trace(struct harness *h, const char *direction, const char *id, bool mqtt)
{
	const char *argv[] = {CT_CLI_BIN, "trace", direction, id, "--json", mqtt ? "--mqtt" : NULL,
	                      NULL};
	char **env = harness_env(h, "cli", NULL);
	char *out = NULL;
	json_error_t jerr;
	json_t *doc;
	int status = -1;

	assert_non_null(env);
	assert_int_equal(harness_run(h, "cli", CT_CLI_BIN, argv, (const char *const *)env, 120000,
	                             &out, &status),
	                 CT_OK);
	harness_env_free(env);
	if (status != 0) {
		free(out);
		fail_msg("cellthread trace %s %s%s exited %d", direction, id, mqtt ? " --mqtt" : "",
		         status);
	}
	doc = json_loads(out, 0, &jerr);
	if (doc == NULL) {
		fprintf(stderr, "%.2000s\n", out);
		free(out);
		fail_msg("cellthread output is not JSON: %s (line %d)", jerr.text, jerr.line);
	}
	free(out);
	assert_true(json_is_true(json_object_get(doc, "ok")));
	assert_string_equal(json_string_value(json_object_get(doc, "direction")), direction);
	assert_string_equal(json_string_value(json_object_get(doc, "id")), id);
	assert_false(json_is_true(json_object_get(doc, "truncated")));
	assert_true(json_is_array(json_object_get(doc, "nodes")));
	return doc;
}

/* unit_id -> smallest depth, from the CLI's nodes; also checks each node's kind name. */
static json_t *trace_depths(json_t *doc)
{
	json_t *depths = json_object(), *node;
	size_t i;

	json_array_foreach(json_object_get(doc, "nodes"), i, node)
	{
		const char *id = json_string_value(json_object_get(node, "unit_id"));
		json_t *d = json_object_get(node, "depth");
		json_t *old;

		assert_non_null(id);
		assert_true(json_is_integer(d));
		assert_true(json_integer_value(d) >= 1);
		old = json_object_get(depths, id);
		if (old == NULL || json_integer_value(old) > json_integer_value(d))
			json_object_set_new(depths, id, json_integer(json_integer_value(d)));
	}
	return depths;
}

/* The oracle: unit_id -> smallest depth by recursive SQL over the genealogy edges. */
static json_t *oracle_depths(struct harness *h, const char *id, bool back)
{
	static const char back_sql[] =
	        "WITH RECURSIVE walk(id, depth) AS ("
	        " SELECT child_id, 1 FROM genealogy WHERE parent_id = $1"
	        " UNION"
	        " SELECT g.child_id, w.depth + 1 FROM genealogy g JOIN walk w ON g.parent_id = w.id"
	        " WHERE w.depth < 32)"
	        " SELECT id, min(depth) FROM walk GROUP BY id";
	static const char forward_sql[] =
	        "WITH RECURSIVE walk(id, depth) AS ("
	        " SELECT parent_id, 1 FROM genealogy WHERE child_id = $1"
	        " UNION"
	        " SELECT g.parent_id, w.depth + 1 FROM genealogy g JOIN walk w ON g.child_id = w.id"
	        " WHERE w.depth < 32)"
	        " SELECT id, min(depth) FROM walk GROUP BY id";
	const char *params[] = {id};
	PGresult *res = NULL;
	json_t *depths = json_object();

	assert_int_equal(harness_sql(h, back ? back_sql : forward_sql, 1, params, &res), CT_OK);
	for (int r = 0; r < PQntuples(res); r++) {
		long depth = -1;

		assert_int_equal(ct_parse_long(PQgetvalue(res, r, 1), 0, LONG_MAX, &depth), CT_OK);
		json_object_set_new(depths, PQgetvalue(res, r, 0), json_integer(depth));
	}
	PQclear(res);
	return depths;
}

static void assert_same_nodes(json_t *got, json_t *want, const char *what)
{
	const char *key;
	json_t *v;

	json_object_foreach(want, key, v)
	{
		json_t *g = json_object_get(got, key);
		if (g == NULL)
			fail_msg("%s: %s is missing (oracle depth %lld); trace has %zu nodes, "
			         "oracle "
			         "%zu",
			         what, key, (long long)json_integer_value(v), json_object_size(got),
			         json_object_size(want));
		if (json_integer_value(g) != json_integer_value(v))
			fail_msg("%s: %s at depth %lld, oracle says %lld", what, key,
			         (long long)json_integer_value(g),
			         (long long)json_integer_value(v));
	}
	json_object_foreach(got, key, v)
	{
		if (json_object_get(want, key) == NULL)
			fail_msg("%s: %s is not related to the traced unit", what, key);
	}
}

/* Number of distinct nodes of a kind ("module") in the CLI output. */
static size_t count_kind(json_t *doc, const char *kind)
{
	json_t *seen = json_object(), *node;
	size_t i, n;

	json_array_foreach(json_object_get(doc, "nodes"), i, node)
	{
		const char *k = json_string_value(json_object_get(node, "kind"));
		if (k != NULL && strcmp(k, kind) == 0)
			json_object_set_new(seen,
			                    json_string_value(json_object_get(node, "unit_id")),
			                    json_true());
	}
	n = json_object_size(seen);
	json_decref(seen);
	return n;
}

/* Every node's kind agrees with the unit table. */
static void assert_kinds_match_db(struct harness *h, json_t *doc)
{
	json_t *node;
	size_t i;

	json_array_foreach(json_object_get(doc, "nodes"), i, node)
	{
		const char *id = json_string_value(json_object_get(node, "unit_id"));
		const char *kind = json_string_value(json_object_get(node, "kind"));
		const char *p[] = {id};
		PGresult *res = NULL;

		assert_int_equal(harness_sql(h,
		                             "SELECT k.name FROM unit u JOIN unit_kind k ON "
		                             "k.kind = u.kind WHERE u.unit_id = $1",
		                             1, p, &res),
		                 CT_OK);
		if (PQntuples(res) != 1 || kind == NULL ||
		    strcmp(PQgetvalue(res, 0, 0), kind) != 0) {
			char db[32];
			snprintf(db, sizeof(db), "%s",
			         PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "(no unit row)");
			PQclear(res);
			fail_msg("node %s has kind %s, the unit table says %s", id,
			         kind ? kind : "(none)", db);
		}
		PQclear(res);
	}
}

/* The DB path and the MQTT path print the same trace. */
static void assert_mqtt_agrees(struct harness *h, const char *direction, const char *id,
                               json_t *db_doc)
{
	json_t *mqtt_doc = cli_trace(h, direction, id, true);

	if (!json_equal(db_doc, mqtt_doc)) {
		json_t *a = trace_depths(db_doc), *b = trace_depths(mqtt_doc);
		size_t va = json_array_size(json_object_get(db_doc, "visits"));
		size_t vb = json_array_size(json_object_get(mqtt_doc, "visits"));
		fprintf(stderr, "db: %zu nodes, %zu visits; mqtt: %zu nodes, %zu visits\n",
		        json_object_size(a), va, json_object_size(b), vb);
		assert_same_nodes(b, a, "trace over MQTT vs database");
		fail_msg("trace %s %s: the MQTT answer differs from the database answer", direction,
		         id);
	}
	json_decref(mqtt_doc);
}

static void check_traces(struct harness *h, json_t *summary)
{
	const char *pack = json_string_value(json_object_get(summary, "last_pack"));
	const char *cell = json_string_value(json_object_get(summary, "last_cell"));
	json_t *doc, *got, *want, *node;
	const char *lot = NULL;
	size_t i;

	assert_non_null(pack);
	assert_non_null(cell);
	assert_true(pack[0] != '\0' && cell[0] != '\0');

	/* Back from the pack: its modules, their cells, and everything down to lots. */
	doc = cli_trace(h, "back", pack, false);
	got = trace_depths(doc);
	want = oracle_depths(h, pack, true);
	assert_same_nodes(got, want, "trace back from the last pack");
	assert_int_equal(count_kind(doc, "module"), MODULES_PER_PACK);
	assert_int_equal(count_kind(doc, "cell"), MODULES_PER_PACK * CELLS_PER_MODULE);
	assert_true(count_kind(doc, "material_lot") > 0);
	assert_kinds_match_db(h, doc);
	printf("  trace back %s: %zu nodes, %zu lots, %zu visits\n", pack, json_object_size(got),
	       count_kind(doc, "material_lot"), json_array_size(json_object_get(doc, "visits")));
	/* A lot to trace forward from: one this pack was built from. */
	json_array_foreach(json_object_get(doc, "nodes"), i, node)
	{
		const char *k = json_string_value(json_object_get(node, "kind"));
		if (k != NULL && strcmp(k, "material_lot") == 0 && lot == NULL)
			lot = json_string_value(json_object_get(node, "unit_id"));
	}
	assert_non_null(lot);
	assert_mqtt_agrees(h, "back", pack, doc);
	json_decref(got);
	json_decref(want);

	/* Back from a finished cell: ancestors to lots, and its station history with the
	 * history of every ancestor unit. */
	{
		json_t *cdoc = cli_trace(h, "back", cell, false);
		json_t *cgot = trace_depths(cdoc), *cwant = oracle_depths(h, cell, true);
		char *ids = NULL;
		const char *key;
		json_t *v, *list = json_array();
		long long visits;

		assert_same_nodes(cgot, cwant, "trace back from the last cell");
		assert_true(count_kind(cdoc, "material_lot") > 0);
		assert_int_equal(count_kind(cdoc, "cell"), 0);
		assert_kinds_match_db(h, cdoc);
		json_array_append_new(list, json_string(cell));
		json_object_foreach(cwant, key, v) json_array_append_new(list, json_string(key));
		ids = json_dumps(list, JSON_COMPACT);
		{
			const char *p[] = {ids};
			visits = sql_count(h,
			                   "SELECT count(*) FROM station_visit WHERE unit_id IN "
			                   "(SELECT json_array_elements_text($1::json))",
			                   1, p);
		}
		assert_true(visits > 0);
		assert_int_equal(json_array_size(json_object_get(cdoc, "visits")), visits);
		printf("  trace back %s: %zu nodes, %lld visits\n", cell, json_object_size(cgot),
		       visits);
		assert_mqtt_agrees(h, "back", cell, cdoc);
		free(ids);
		json_decref(list);
		json_decref(cgot);
		json_decref(cwant);
		json_decref(cdoc);
	}

	/* Forward from the lot: cells, modules and the pack. */
	{
		char lot_id[128];
		json_t *fdoc, *fgot, *fwant;

		snprintf(lot_id, sizeof(lot_id), "%s", lot);
		fdoc = cli_trace(h, "forward", lot_id, false);
		fgot = trace_depths(fdoc);
		fwant = oracle_depths(h, lot_id, false);
		assert_same_nodes(fgot, fwant, "trace forward from a lot");
		assert_non_null(json_object_get(fgot, pack));
		assert_true(count_kind(fdoc, "cell") > 0);
		assert_true(count_kind(fdoc, "module") > 0);
		assert_true(count_kind(fdoc, "pack") > 0);
		assert_kinds_match_db(h, fdoc);
		printf("  trace forward %s: %zu nodes (%zu cells, %zu modules, %zu packs)\n",
		       lot_id, json_object_size(fgot), count_kind(fdoc, "cell"),
		       count_kind(fdoc, "module"), count_kind(fdoc, "pack"));
		assert_mqtt_agrees(h, "forward", lot_id, fdoc);
		json_decref(fgot);
		json_decref(fwant);
		json_decref(fdoc);
	}
	json_decref(doc);
}

static void run_line(struct harness *h, const struct run_spec *spec)
{
	struct harness_proc *ingest = NULL, *traveler = NULL, *linesim = NULL;
	struct count counts[N_COUNTS];
	char summary_path[HARNESS_PATH_MAX], e_site[64], e_lines[32], e_cells[32], e_enc[32],
	        e_seed[64], e_summary[HARNESS_PATH_MAX + 32];
	const char *env[] = {e_site,
	                     e_lines,
	                     e_cells,
	                     e_enc,
	                     e_seed,
	                     e_summary,
	                     "CT_SIM_RATE=200",
	                     "CT_SIM_CELLS_PER_MODULE=" STR(CELLS_PER_MODULE),
	                     "CT_SIM_MODULES_PER_PACK=" STR(MODULES_PER_PACK),
	                     NULL};
	json_error_t jerr;
	json_t *summary;
	int64_t t0 = ct_mono_ms(), t_sim, t_db;

	snprintf(summary_path, sizeof(summary_path), "%s/linesim-summary.json", h->dir);
	snprintf(e_site, sizeof(e_site), "CT_SIM_SITE=%s", spec->site);
	snprintf(e_lines, sizeof(e_lines), "CT_SIM_LINES=%d", spec->lines);
	snprintf(e_cells, sizeof(e_cells), "CT_SIM_CELLS=%d", spec->cells);
	snprintf(e_enc, sizeof(e_enc), "CT_SIM_ENCODING=%s", spec->encoding);
	snprintf(e_seed, sizeof(e_seed), "CT_SIM_SEED=%s", spec->seed);
	snprintf(e_summary, sizeof(e_summary), "CT_SIM_SUMMARY=%s", summary_path);

	counts_init(h, counts);
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_LINESIM, NULL, env, &linesim), CT_OK);
	assert_int_equal(harness_proc_wait_exit(h, linesim, RUN_TIMEOUT_MS), CT_OK);
	t_sim = ct_mono_ms();

	summary = json_load_file(summary_path, 0, &jerr);
	if (summary == NULL)
		fail_msg("cannot read linesim's summary %s: %s", summary_path, jerr.text);
	assert_true(json_is_true(json_object_get(summary, "complete")));
	assert_int_equal(summary_int(summary, "cells_finished"), spec->lines * spec->cells);
	assert_true(summary_int(summary, "results") > 0);
	assert_true(summary_int(summary, "measurements") > 0);
	assert_true(summary_int(summary, "telemetry_samples") > 0);
	counts_expect(counts, summary);
	counts_wait(h, counts, RUN_TIMEOUT_MS);
	t_db = ct_mono_ms();
	sentinel(h, spec->site);
	printf("%s run (%s): linesim %.1f s, stored %.1f s later; rows added:\n", spec->site,
	       spec->encoding, (double)(t_sim - t0) / 1000.0, (double)(t_db - t_sim) / 1000.0);
	counts_exact(h, counts);

	/* No duplicates hiding behind matching totals: one visit per unit, station and start;
	 * one measurement per event and position; one sample per signal and time. */
	assert_int_equal(sql_count(h,
	                           "SELECT count(*) FROM (SELECT 1 FROM station_visit GROUP BY "
	                           "unit_id, station, started_at HAVING count(*) > 1) d",
	                           0, NULL),
	                 0);
	assert_int_equal(sql_count(h,
	                           "SELECT count(*) FROM (SELECT 1 FROM measurement GROUP BY "
	                           "event_id, seq HAVING count(*) > 1) d",
	                           0, NULL),
	                 0);
	assert_int_equal(sql_count(h,
	                           "SELECT count(*) FROM (SELECT 1 FROM telemetry_sample GROUP BY "
	                           "event_id, asset, signal, at HAVING count(*) > 1) d",
	                           0, NULL),
	                 0);
	/* Every child row belongs to a stored visit or telemetry event. */
	assert_int_equal(sql_count(h,
	                           "SELECT count(*) FROM measurement m WHERE NOT EXISTS (SELECT 1 "
	                           "FROM station_visit v WHERE v.event_id = m.event_id)",
	                           0, NULL),
	                 0);

	if (spec->traces)
		check_traces(h, summary);
	json_decref(summary);

	assert_true(harness_proc_is_alive(ingest));
	assert_true(harness_proc_is_alive(traveler));
	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
}

static void test_thread_protobuf(void **state)
{
	struct harness *h = *state;
	const struct run_spec spec = {"E2E", "pb", 2, 150, "20261122", true};

	run_line(h, &spec);
	harness_pass(h);
}

static void test_thread_json(void **state)
{
	struct harness *h = *state;
	const struct run_spec spec = {"E2EJ", "json", 1, 60, "7", true};

	run_line(h, &spec);
	harness_pass(h);
}

/* Each test gets its own broker and database (see the file comment). */
static int stack_setup(void **state, const char *name)
{
	struct harness *h = NULL;

	if (harness_new(name, CT_IT_WATCHDOG_S, &h) != CT_OK)
		return -1;
	if (harness_broker_start(h) != CT_OK || harness_pg_start(h) != CT_OK) {
		h->failed = true;
		harness_free(h);
		return -1;
	}
	*state = h;
	return harness_test_setup(state);
}

static int setup_pb(void **state)
{
	return stack_setup(state, "e2e-pb");
}

static int setup_json(void **state)
{
	return stack_setup(state, "e2e-json");
}

static int stack_teardown(void **state)
{
	int rc = harness_test_teardown(state);
	harness_free(*state);
	*state = NULL;
	return rc;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_thread_protobuf, setup_pb, stack_teardown),
	        cmocka_unit_test_setup_teardown(test_thread_json, setup_json, stack_teardown),
	};
	/* The watchdog covers the whole program; each harness re-arms it. */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
