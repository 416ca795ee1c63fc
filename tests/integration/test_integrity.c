/* test_integrity: the thread refuses what contradicts it, and says so (issue 10, finding 7).
 *
 * Against the real broker, database, ct-ingest and ct-traveler:
 *   - conflict across an ingest restart: an OK stored, ingest restarted (its duplicate window
 *     is gone), an identical resend adds nothing and no dead letter, a NOK under the same
 *     event ID is dead-lettered by traveler as CONFLICT naming the event ID and what differs,
 *     and the OK stays stored;
 *   - one parent: a cell assembled into a second module is refused (GENEALOGY) unless sent as
 *     a rework, which ends the first link (kept as history) so traces show the new structure;
 *     a disassembly of a link that is not there is refused, one that is ends it;
 *   - no cycles: a cell made the parent of the module that contains it is refused;
 *   - one kind: a unit stored as a cell and then reported as a pack is refused (UNIT_KIND);
 *   - race-free: two transactions of the traveler login putting one cell into two modules
 *     at once, the second's check waits for the first's genealogy lock and refuses.
 * Every refusal is a dead letter of service traveler whose reason names the units; after each
 * one a valid message is stored, so the services keep running. Each case uses its own event
 * and unit IDs; the dead letters are found by the refused event's ID in their reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <limits.h>
#include <poll.h>
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

#define SITE "INT"
#define LINE "L1"
#define EDGE "ct/v1/edge/" SITE "/" LINE "/"

enum {
	CONFLICT = CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_CONFLICT,
	GENEALOGY = CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_GENEALOGY,
	UNIT_KIND = CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_UNIT_KIND,
	CELL = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_CELL,
	MODULE = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_MODULE,
	PACK = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_PACK,
	ASSEMBLY = CELLTHREAD__V1__GENEALOGY_RELATION__GENEALOGY_RELATION_ASSEMBLY,
	REWORK = CELLTHREAD__V1__GENEALOGY_RELATION__GENEALOGY_RELATION_REWORK,
	DISASSEMBLY = CELLTHREAD__V1__GENEALOGY_RELATION__GENEALOGY_RELATION_DISASSEMBLY,
};

/* Each assembly a second later than the one before, so the order of events is their time;
 * every result visits the station at one fixed time, so a resend is the same content. */
static int64_t next_at_us, result_at_us;

static int64_t later(void)
{
	next_at_us += 1000000;
	return next_at_us;
}

/* Publishes one result of `unit` (of `kind`) at station IT-EOL as the gateway. */
static void publish_result(struct harness *h, const char *event_id, const char *unit, int kind,
                           int result)
{
	Cellthread__V1__StationResultBatch batch = CELLTHREAD__V1__STATION_RESULT_BATCH__INIT;
	Cellthread__V1__StationResult r = CELLTHREAD__V1__STATION_RESULT__INIT, *rp[1] = {&r};
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	Cellthread__V1__Measurement m = CELLTHREAD__V1__MEASUREMENT__INIT, *mp[1] = {&m};
	uint8_t *buf = NULL;
	size_t len = 0;

	header.event_id = (char *)event_id;
	header.producer = (char *)"it-gateway";
	header.produced_at_us = ct_now_us(); /* differs between resends: not content */
	header.schema_version = 1;
	r.header = &header;
	r.unit_id = (char *)unit;
	r.unit_kind = (Cellthread__V1__UnitKind)kind;
	r.site = (char *)SITE;
	r.line = (char *)LINE;
	r.station = (char *)"IT-EOL";
	r.station_type = CELLTHREAD__V1__STATION_TYPE__STATION_TYPE_EOL_TEST;
	r.recipe = (char *)"it-recipe";
	r.recipe_version = 1;
	r.started_at_us = result_at_us;
	r.ended_at_us = result_at_us + 1000000;
	r.result = (Cellthread__V1__ResultCode)result;
	m.characteristic = (char *)"ocv";
	m.value = 3.65;
	m.unit = (char *)"V";
	m.measured_at_us = r.ended_at_us;
	r.n_measurements = 1;
	r.measurements = mp;
	batch.n_results = 1;
	batch.results = rp;
	assert_int_equal(ct_pb_pack(&batch.base, &buf, &len), CT_OK);
	assert_int_equal(harness_publish(h, "gateway", EDGE "IT-EOL/result/pb", buf, len), CT_OK);
	free(buf);
}

/* Publishes a Genealogy: parent (of parent_kind) made from the children (each of child_kind)
 * with the relation, at station IT-ASM. */
static void publish_genealogy(struct harness *h, const char *event_id, const char *parent,
                              int parent_kind, const char *const *children, size_t n,
                              int child_kind, int relation)
{
	Cellthread__V1__Genealogy g = CELLTHREAD__V1__GENEALOGY__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	Cellthread__V1__ChildUnit ch[4], *chp[4];
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_true(n <= 4);
	header.event_id = (char *)event_id;
	header.producer = (char *)"it-mes";
	header.produced_at_us = ct_now_us();
	header.schema_version = 1;
	g.header = &header;
	g.site = (char *)SITE;
	g.line = (char *)LINE;
	g.station = (char *)"IT-ASM";
	g.parent_unit_id = (char *)parent;
	g.parent_kind = (Cellthread__V1__UnitKind)parent_kind;
	for (size_t i = 0; i < n; i++) {
		cellthread__v1__child_unit__init(&ch[i]);
		ch[i].unit_id = (char *)children[i];
		ch[i].kind = (Cellthread__V1__UnitKind)child_kind;
		ch[i].quantity = 1;
		ch[i].unit = (char *)"pcs";
		chp[i] = &ch[i];
	}
	g.n_children = n;
	g.children = chp;
	g.assembled_at_us = later();
	g.relation = (Cellthread__V1__GenealogyRelation)relation;
	assert_int_equal(ct_pb_pack(&g.base, &buf, &len), CT_OK);
	assert_int_equal(harness_publish(h, "gateway", EDGE "IT-ASM/genealogy/pb", buf, len),
	                 CT_OK);
	free(buf);
}

static void wait_event_stored(struct harness *h, const char *event_id)
{
	const char *p[] = {event_id};

	if (harness_wait_sql_countv(h, "SELECT count(*) FROM event WHERE event_id = $1", 1, p, 1,
	                            HARNESS_WAIT_MS) != CT_OK)
		fail_msg("event %s was not stored", event_id);
}

static long long sql_count(struct harness *h, const char *sql, int n, const char *const *params)
{
	long long v = -1;

	assert_int_equal(harness_sql_long(h, sql, n, params, &v), CT_OK);
	return v;
}

/* Waits for exactly one dead letter of traveler about event_id (its reason names the event as
 * header.event_id "ID") and checks its code, that its reason contains every word, that its
 * payload is the refused message, and that the event itself was not stored. */
static void expect_refused(struct harness *h, const char *event_id, int code,
                           const char *const *words)
{
	char quoted[128];
	const char *p[] = {quoted};
	PGresult *res = NULL;
	long v = 0;

	snprintf(quoted, sizeof(quoted), "\"%s\"", event_id);
	if (harness_wait_sql_countv(h,
	                            "SELECT count(*) FROM dead_letter WHERE service = 'traveler' "
	                            "AND strpos(reason, $1) > 0",
	                            1, p, 1, HARNESS_WAIT_MS) != CT_OK)
		fail_msg("no (or more than one) dead letter of traveler for event %s", event_id);
	assert_int_equal(harness_sql(h,
	                             "SELECT reason_code, reason, payload_size FROM dead_letter "
	                             "WHERE service = 'traveler' AND strpos(reason, $1) > 0",
	                             1, p, &res),
	                 CT_OK);
	printf("refused %s: code %s: %s\n", event_id, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	assert_int_equal(ct_parse_long(PQgetvalue(res, 0, 0), 0, INT_MAX, &v), CT_OK);
	if (v != code) {
		PQclear(res);
		fail_msg("event %s: reason_code %ld, expected %d", event_id, v, code);
	}
	for (size_t i = 0; words[i] != NULL; i++) {
		if (strstr(PQgetvalue(res, 0, 1), words[i]) == NULL) {
			char copy[512];
			snprintf(copy, sizeof(copy), "%s", PQgetvalue(res, 0, 1));
			PQclear(res);
			fail_msg("event %s: reason \"%s\" does not name \"%s\"", event_id, copy,
			         words[i]);
		}
	}
	assert_int_equal(ct_parse_long(PQgetvalue(res, 0, 2), 0, INT_MAX, &v), CT_OK);
	assert_true(v > 0);
	PQclear(res);
}

/* The event was not stored: its refusal left nothing behind. */
static void expect_not_stored(struct harness *h, const char *event_id)
{
	const char *p[] = {event_id};

	assert_int_equal(sql_count(h, "SELECT count(*) FROM event WHERE event_id = $1", 1, p), 0);
	assert_int_equal(sql_count(h, "SELECT count(*) FROM genealogy WHERE event_id = $1", 1, p),
	                 0);
	assert_int_equal(
	        sql_count(h, "SELECT count(*) FROM station_visit WHERE event_id = $1", 1, p), 0);
}

/* The standing parents of a unit, comma-separated in order ("" when none). */
static void standing_parents(struct harness *h, const char *unit, char *buf, size_t len)
{
	const char *p[] = {unit};
	PGresult *res = NULL;

	assert_int_equal(harness_sql(h,
	                             "SELECT coalesce(string_agg(DISTINCT parent_id, ',' ORDER BY "
	                             "parent_id), '') FROM genealogy WHERE child_id = $1 AND "
	                             "ended_at IS NULL",
	                             1, p, &res),
	                 CT_OK);
	snprintf(buf, len, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
}

/* `cellthread trace forward ID --json`: the unit IDs of the nodes, comma-separated in order. */
static void trace_forward(struct harness *h, const char *id, char *buf, size_t len)
{
	const char *argv[] = {CT_CLI_BIN, "trace", "forward", id, "--json", NULL};
	char **env = harness_env(h, "cli", NULL);
	char *out = NULL;
	json_t *doc, *nodes, *node;
	json_error_t jerr;
	size_t i, used = 0;
	int status = -1;

	assert_non_null(env);
	assert_int_equal(harness_run(h, "cli", CT_CLI_BIN, argv, (const char *const *)env, 120000,
	                             &out, &status),
	                 CT_OK);
	harness_env_free(env);
	assert_int_equal(status, 0);
	doc = json_loads(out, 0, &jerr);
	free(out);
	assert_non_null(doc);
	nodes = json_object_get(doc, "nodes");
	assert_true(json_is_array(nodes));
	buf[0] = '\0';
	json_array_foreach(nodes, i, node)
	{
		const char *u = json_string_value(json_object_get(node, "unit_id"));
		int n = snprintf(buf + used, len - used, "%s%s", used ? "," : "", u ? u : "?");
		if (n > 0 && (size_t)n < len - used)
			used += (size_t)n;
	}
	json_decref(doc);
}

/* A valid result after a refusal is stored: the pipeline still moves. */
static void expect_still_storing(struct harness *h, const char *tag)
{
	char id[64], unit[64];

	snprintf(id, sizeof(id), "it-after-%s", tag);
	snprintf(unit, sizeof(unit), "IT-CELL-AFTER-%s", tag);
	publish_result(h, id, unit, CELL, CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_OK);
	wait_event_stored(h, id);
}

static void start_services(struct harness *h, struct harness_proc **ingest,
                           struct harness_proc **traveler)
{
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, ingest), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, traveler), CT_OK);
}

static void stop_services(struct harness *h, struct harness_proc *ingest,
                          struct harness_proc *traveler)
{
	assert_true(harness_proc_is_alive(ingest));
	assert_true(harness_proc_is_alive(traveler));
	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
}

static void test_conflict_after_ingest_restart(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL;
	static const char *const id[] = {"it-conflict"};
	static const char *const conflict_words[] = {"it-conflict", "other content",
	                                             "result ok, now nok", NULL};
	long long dead_before;

	start_services(h, &ingest, &traveler);
	publish_result(h, id[0], "IT-CELL-CONFLICT", CELL,
	               CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_OK);
	wait_event_stored(h, id[0]);
	/* A new ingest remembers no event ID: what it lets through is traveler's to judge. */
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
	assert_int_equal(harness_proc_restart(h, ingest, true), CT_OK);
	dead_before = sql_count(h, "SELECT count(*) FROM dead_letter", 0, NULL);

	/* The same OK again (another produced_at, same content): a silent duplicate. */
	publish_result(h, id[0], "IT-CELL-CONFLICT", CELL,
	               CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_OK);
	expect_still_storing(h, "identical");
	assert_int_equal(sql_count(h, "SELECT count(*) FROM dead_letter", 0, NULL), dead_before);
	assert_int_equal(
	        sql_count(h, "SELECT count(*) FROM station_visit WHERE event_id = $1", 1, id), 1);

	/* A NOK under the OK's event ID, ingest restarted again (the resend is in its window
	 * now): told by traveler, the OK kept. */
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
	assert_int_equal(harness_proc_restart(h, ingest, true), CT_OK);
	publish_result(h, id[0], "IT-CELL-CONFLICT", CELL,
	               CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_NOK);
	expect_refused(h, id[0], CONFLICT, conflict_words);
	expect_still_storing(h, "conflict");
	assert_int_equal(sql_count(h,
	                           "SELECT count(*) FROM station_visit WHERE event_id = $1 AND "
	                           "result = 1",
	                           1, id),
	                 1);
	assert_int_equal(
	        sql_count(h, "SELECT count(*) FROM station_visit WHERE event_id = $1", 1, id), 1);
	assert_int_equal(sql_count(h, "SELECT count(*) FROM dead_letter", 0, NULL),
	                 dead_before + 1);
	stop_services(h, ingest, traveler);
	harness_pass(h);
}

static void test_one_parent_unless_rework(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL;
	static const char *const c12[] = {"IT-C1", "IT-C2"};
	static const char *const c1[] = {"IT-C1"};
	static const char *const c2[] = {"IT-C2"};
	static const char *const second_words[] = {"IT-C1", "IT-M1", "IT-M2", "one parent", NULL};
	static const char *const not_in_words[] = {"IT-C2", "IT-M2", "not in", NULL};
	char parents[256];

	start_services(h, &ingest, &traveler);
	publish_genealogy(h, "it-asm-m1", "IT-M1", MODULE, c12, 2, CELL, ASSEMBLY);
	wait_event_stored(h, "it-asm-m1");

	/* IT-C1 into a second module while it is in IT-M1. */
	publish_genealogy(h, "it-asm-m2", "IT-M2", MODULE, c1, 1, CELL, ASSEMBLY);
	expect_refused(h, "it-asm-m2", GENEALOGY, second_words);
	expect_still_storing(h, "second-parent");
	expect_not_stored(h, "it-asm-m2");
	standing_parents(h, "IT-C1", parents, sizeof(parents));
	assert_string_equal(parents, "IT-M1");

	/* The same as a rework: moved, the old link kept as history. */
	publish_genealogy(h, "it-rework-m2", "IT-M2", MODULE, c1, 1, CELL, REWORK);
	wait_event_stored(h, "it-rework-m2");
	standing_parents(h, "IT-C1", parents, sizeof(parents));
	assert_string_equal(parents, "IT-M2");
	assert_int_equal(sql_count(h,
	                           "SELECT count(*) FROM genealogy WHERE child_id = 'IT-C1' AND "
	                           "parent_id = 'IT-M1' AND ended_by = 'it-rework-m2'",
	                           0, NULL),
	                 1);
	trace_forward(h, "IT-C1", parents, sizeof(parents));
	assert_string_equal(parents, "IT-M2");

	/* Taking IT-C2 out of a module it is not in is refused; out of its own, done. */
	publish_genealogy(h, "it-dis-m2", "IT-M2", MODULE, c2, 1, CELL, DISASSEMBLY);
	expect_refused(h, "it-dis-m2", GENEALOGY, not_in_words);
	expect_still_storing(h, "not-in");
	publish_genealogy(h, "it-dis-m1", "IT-M1", MODULE, c2, 1, CELL, DISASSEMBLY);
	wait_event_stored(h, "it-dis-m1");
	standing_parents(h, "IT-C2", parents, sizeof(parents));
	assert_string_equal(parents, "");
	trace_forward(h, "IT-C2", parents, sizeof(parents));
	assert_string_equal(parents, "");
	/* Free again: an ordinary assembly takes it. */
	publish_genealogy(h, "it-asm-m2-c2", "IT-M2", MODULE, c2, 1, CELL, ASSEMBLY);
	wait_event_stored(h, "it-asm-m2-c2");
	standing_parents(h, "IT-C2", parents, sizeof(parents));
	assert_string_equal(parents, "IT-M2");
	stop_services(h, ingest, traveler);
	harness_pass(h);
}

static void test_no_cycles(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL;
	static const char *const cell[] = {"IT-C3"};
	static const char *const module[] = {"IT-M3"};
	static const char *const pack[] = {"IT-P3"};
	static const char *const cycle_words[] = {"cycle", "IT-C3", "IT-M3", NULL};
	static const char *const deep_words[] = {"cycle", "IT-P3", "IT-C3", NULL};

	start_services(h, &ingest, &traveler);
	publish_genealogy(h, "it-asm-m3", "IT-M3", MODULE, cell, 1, CELL, ASSEMBLY);
	wait_event_stored(h, "it-asm-m3");
	publish_genealogy(h, "it-asm-p3", "IT-P3", PACK, module, 1, MODULE, ASSEMBLY);
	wait_event_stored(h, "it-asm-p3");
	/* The cell made from the module it is in. */
	publish_genealogy(h, "it-cycle", "IT-C3", CELL, module, 1, MODULE, ASSEMBLY);
	expect_refused(h, "it-cycle", GENEALOGY, cycle_words);
	expect_still_storing(h, "cycle");
	expect_not_stored(h, "it-cycle");
	/* Two levels down: the cell made from the pack its module is in. */
	publish_genealogy(h, "it-cycle-deep", "IT-C3", CELL, pack, 1, PACK, ASSEMBLY);
	expect_refused(h, "it-cycle-deep", GENEALOGY, deep_words);
	expect_still_storing(h, "cycle-deep");
	expect_not_stored(h, "it-cycle-deep");
	stop_services(h, ingest, traveler);
	harness_pass(h);
}

static void test_one_kind_per_unit(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL;
	static const char *const modules[] = {"IT-M4"};
	static const char *const kind_words[] = {"IT-K1", "cell", "pack", NULL};

	start_services(h, &ingest, &traveler);
	publish_result(h, "it-kind-cell", "IT-K1", CELL,
	               CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_OK);
	wait_event_stored(h, "it-kind-cell");
	/* The cell reported as a pack, by a genealogy and by a result. */
	publish_genealogy(h, "it-kind-pack", "IT-K1", PACK, modules, 1, MODULE, ASSEMBLY);
	expect_refused(h, "it-kind-pack", UNIT_KIND, kind_words);
	expect_still_storing(h, "kind-genealogy");
	expect_not_stored(h, "it-kind-pack");
	publish_result(h, "it-kind-pack-result", "IT-K1", PACK,
	               CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_OK);
	expect_refused(h, "it-kind-pack-result", UNIT_KIND, kind_words);
	expect_still_storing(h, "kind-result");
	expect_not_stored(h, "it-kind-pack-result");
	assert_int_equal(sql_count(h, "SELECT kind FROM unit WHERE unit_id = 'IT-K1'", 0, NULL),
	                 CELL);
	/* Nothing the refused genealogy named was stored. */
	assert_int_equal(sql_count(h, "SELECT count(*) FROM unit WHERE unit_id = 'IT-M4'", 0, NULL),
	                 0);
	stop_services(h, ingest, traveler);
	harness_pass(h);
}

/* Fails the test when sql does not run (harness_pg_exec printed why). */
#define exec_or_fail(conn, sql) assert_int_equal(harness_pg_exec(conn, sql), CT_OK)

static PGconn *connect_as(struct harness *h, const char *role)
{
	PGconn *conn = harness_pg_connect(h, role);

	assert_non_null(conn);
	return conn;
}

/* True once a backend of the traveler login waits for an advisory lock. */
static bool traveler_waits_for_lock(struct harness *h)
{
	long long n = sql_count(h,
	                        "SELECT count(*) FROM pg_stat_activity WHERE usename = 'traveler'"
	                        " AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
	                        0, NULL);
	return n > 0;
}

/* Two traveler transactions putting one cell into two modules at the same time, as two
 * instances on a shared subscription would: the second's check waits for the first's
 * genealogy lock, then sees its committed link and refuses. Without the lock the second
 * check would not see the first's uncommitted row and both would commit. */
static void test_genealogy_check_is_race_free(void **state)
{
	struct harness *h = *state;
	PGconn *a = connect_as(h, "traveler"), *b = connect_as(h, "traveler");
	int64_t deadline;
	PGresult *res;
	int rows = -1;

	exec_or_fail(a, "BEGIN");
	exec_or_fail(
	        a, "INSERT INTO genealogy (parent_id, child_id, child_kind, quantity, uom, source,"
	           " station, event_id, assembled_at, seq) VALUES ('IT-M5', 'IT-C5', 4, 1, 'pcs',"
	           " 'genealogy', 'IT-ASM', 'it-race-a', now(), 0)");
	res = PQexec(a, "SELECT bad_event FROM ct_genealogy_apply(ARRAY['it-race-a'],"
	                " ARRAY['IT-M5'], ARRAY['IT-C5'])");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(res), 0);
	PQclear(res);

	exec_or_fail(b, "BEGIN");
	exec_or_fail(
	        b, "INSERT INTO genealogy (parent_id, child_id, child_kind, quantity, uom, source,"
	           " station, event_id, assembled_at, seq) VALUES ('IT-M6', 'IT-C5', 4, 1, 'pcs',"
	           " 'genealogy', 'IT-ASM', 'it-race-b', now(), 0)");
	assert_int_equal(
	        PQsendQuery(b, "SELECT bad_event, why FROM ct_genealogy_apply(ARRAY['it-race-b'],"
	                       " ARRAY['IT-M6'], ARRAY['IT-C5'])"),
	        1);
	deadline = ct_mono_ms() + 10000;
	while (!traveler_waits_for_lock(h)) {
		struct pollfd pfd = {PQsocket(b), POLLIN, 0};
		assert_true(PQconsumeInput(b) == 1);
		if (!PQisBusy(b))
			fail_msg(
			        "the second check finished without waiting for the genealogy lock");
		if (ct_mono_ms() > deadline)
			fail_msg("the second check neither waited nor finished within 10 s");
		assert_true(poll(&pfd, 1, 10) >= 0);
	}
	exec_or_fail(a, "COMMIT");
	while ((res = PQgetResult(b)) != NULL) {
		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		if (rows < 0) {
			rows = PQntuples(res);
			if (rows == 1) {
				printf("second check: %s: %s\n", PQgetvalue(res, 0, 0),
				       PQgetvalue(res, 0, 1));
				assert_string_equal(PQgetvalue(res, 0, 0), "it-race-b");
				assert_non_null(
				        strstr(PQgetvalue(res, 0, 1), "IT-C5 is already in IT-M5"));
			}
		}
		PQclear(res);
	}
	assert_int_equal(rows, 1);
	exec_or_fail(b, "ROLLBACK");
	PQfinish(a);
	PQfinish(b);
	harness_pass(h);
}

static int group_setup(void **state)
{
	next_at_us = ct_now_us() - 600000000; /* ten minutes ago, a second per assembly */
	result_at_us = ct_now_us() - 60000000;
	return harness_group_start("integrity", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_conflict_after_ingest_restart,
	                                        harness_test_setup, harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_one_parent_unless_rework, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_no_cycles, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_one_kind_per_unit, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_genealogy_check_is_race_free,
	                                        harness_test_setup, harness_test_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
