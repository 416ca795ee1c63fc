/* test_verdicts: the quality gate's data path without spc-gate itself, against the real broker,
 * PostgreSQL, ct-ingest, ct-traveler and the cellthread CLI.
 *
 * - held lots: a retained LotStatus HELD published (as spc-gate) before ingest starts, and one
 *   published while it runs, make ingest fill StationResult.held_lots of a result consuming
 *   them (a material lot and a child unit), which traveler stores in station_visit.held_lots;
 *   a release clears the flag for later results; malformed lot status is dead-lettered and
 *   ingest keeps running.
 * - verdicts: a Verdict published as spc-gate is stored by traveler as an event of kind
 *   'verdict' and a unit_verdict row (every column checked, a one-sided spec's missing limit
 *   and a non-finite value as JSON null); a redelivery adds nothing; `cellthread verdicts` and
 *   `cellthread trace back` show it.
 * - decisions: `cellthread lot hold/release/show/list`, `inspect [dispose]` and `actions
 *   [undo]` with a quality login succeed and record that login; with the read-only cli login
 *   they are refused by the database (exit 4) and change nothing; a missing or blank --reason
 *   is refused by the CLI (exit 2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_config.h"
#include "ct_error.h"
#include "ct_time.h"
#include "harness.h"

#define SITE    "VS"
#define LINE    "L1"
#define STATION "WIND-1"
#define EDGE    "ct/v1/edge/" SITE "/" LINE "/" STATION "/result/pb"
#define LOT(id) "ct/v1/lot/" SITE "/" id
#define VERDICT "ct/v1/plant/" SITE "/" LINE "/EOL-1/verdict"

#define UNIT_HELD "VS-CELL-1" /* consumes held lots */
#define UNIT_OK   "VS-CELL-2" /* consumes none */
#define UNIT_LATE "VS-CELL-3" /* after the release */

/* ---- messages ---- */

/* Publishes a one-result batch for unit with the given lots and child units. */
static void publish_result(struct harness *h, const char *event_id, const char *unit,
                           const char *const *lots, size_t n_lots, const char *const *children,
                           size_t n_children)
{
	Cellthread__V1__StationResultBatch batch = CELLTHREAD__V1__STATION_RESULT_BATCH__INIT;
	Cellthread__V1__StationResult r = CELLTHREAD__V1__STATION_RESULT__INIT, *rp = &r;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	Cellthread__V1__MaterialUse m[4], *mp[4];
	Cellthread__V1__ChildUnit c[4], *cp[4];
	int64_t now = ct_now_us();
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_true(n_lots <= 4 && n_children <= 4);
	header.event_id = (char *)event_id;
	header.producer = (char *)"verdict-test";
	header.produced_at_us = now;
	header.schema_version = 1;
	r.header = &header;
	r.unit_id = (char *)unit;
	r.unit_kind = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_CELL;
	r.site = (char *)SITE;
	r.line = (char *)LINE;
	r.station = (char *)STATION;
	r.station_type = CELLTHREAD__V1__STATION_TYPE__STATION_TYPE_WINDING;
	r.recipe = (char *)"cell-a";
	r.recipe_version = 3;
	r.started_at_us = now - 2000000;
	r.ended_at_us = now - 1000000;
	r.result = CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_OK;
	for (size_t i = 0; i < n_lots; i++) {
		cellthread__v1__material_use__init(&m[i]);
		m[i].lot_id = (char *)lots[i];
		m[i].material = (char *)"NMC811";
		m[i].quantity = 0.25;
		m[i].unit = (char *)"kg";
		mp[i] = &m[i];
	}
	for (size_t i = 0; i < n_children; i++) {
		cellthread__v1__child_unit__init(&c[i]);
		c[i].unit_id = (char *)children[i];
		c[i].kind = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_ELECTRODE;
		c[i].quantity = 1;
		c[i].unit = (char *)"pcs";
		cp[i] = &c[i];
	}
	r.materials = mp;
	r.n_materials = n_lots;
	r.children = cp;
	r.n_children = n_children;
	batch.results = &rp;
	batch.n_results = 1;
	assert_int_equal(ct_pb_pack(&batch.base, &buf, &len), CT_OK);
	assert_int_equal(harness_publish(h, "gateway", EDGE, buf, len), CT_OK);
	free(buf);
}

/* Publishes a retained LotStatus as spc-gate, the only user the broker lets do so. */
static void publish_lot(struct harness *h, const char *topic, const char *site, const char *lot,
                        int state)
{
	Cellthread__V1__LotStatus st = CELLTHREAD__V1__LOT_STATUS__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	char id[40];
	uint8_t *buf = NULL;
	size_t len = 0;

	ct_pb_header_fill(&header, id, sizeof(id), "spc-gate-1");
	st.header = &header;
	st.site = (char *)site;
	st.lot_id = (char *)lot;
	st.state = (Cellthread__V1__LotState)state;
	st.reason = (char *)"rule R1: any fail";
	st.changed_by = (char *)"spc-gate";
	st.changed_at_us = ct_now_us();
	assert_int_equal(ct_pb_pack(&st.base, &buf, &len), CT_OK);
	assert_int_equal(harness_publish_retained(h, "spc-gate", topic, buf, len, true), CT_OK);
	free(buf);
}

/* The verdict the tests publish: FAIL with a two-sided and a one-sided failed spec. */
struct verdict_msg {
	Cellthread__V1__Verdict v;
	Cellthread__V1__Header header;
	Cellthread__V1__FailedCharacteristic f[2], *fp[2];
	char *held[1];
};

#define DECIDED_US INT64_C(1767225600123456) /* 2026-01-01T00:00:00.123456Z */

static void verdict_init(struct verdict_msg *m, const char *event_id, const char *unit)
{
	memset(m, 0, sizeof(*m));
	cellthread__v1__verdict__init(&m->v);
	cellthread__v1__header__init(&m->header);
	m->header.event_id = (char *)event_id;
	m->header.producer = (char *)"spc-gate-1";
	m->header.produced_at_us = DECIDED_US + 1000;
	m->header.schema_version = 1;
	m->v.header = &m->header;
	m->v.unit_id = (char *)unit;
	m->v.unit_kind = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_CELL;
	m->v.site = (char *)SITE;
	m->v.line = (char *)LINE;
	m->v.station = (char *)"EOL-1";
	m->v.source_event_id = (char *)"vt-result-1";
	m->v.verdict = CELLTHREAD__V1__VERDICT_CODE__VERDICT_CODE_FAIL;
	m->v.decided_at_us = DECIDED_US;
	m->v.inspection_reason = (char *)"fill_mass above USL; consumes held lot VS-LOT-H1";
	m->v.recipe = (char *)"cell-a";
	m->v.recipe_version = 3;
	for (int i = 0; i < 2; i++) {
		cellthread__v1__failed_characteristic__init(&m->f[i]);
		m->fp[i] = &m->f[i];
	}
	m->f[0].characteristic = (char *)"fill_mass";
	m->f[0].value = 5.5;
	m->f[0].lsl = 4.75;
	m->f[0].usl = 5.25;
	m->f[0].has_lsl = true;
	m->f[0].has_usl = true;
	m->f[0].unit = (char *)"g";
	m->f[0].reason = (char *)"above USL";
	m->f[1].characteristic = (char *)"leak_rate";
	m->f[1].value = NAN; /* not finite: stored as null */
	m->f[1].usl = 0.002;
	m->f[1].has_usl = true; /* one-sided: lsl stored as null */
	m->f[1].unit = (char *)"Pa/min";
	m->f[1].reason = (char *)"not measurable";
	m->v.failed = m->fp;
	m->v.n_failed = 2;
	m->held[0] = (char *)"VS-LOT-H1";
	m->v.held_lots = m->held;
	m->v.n_held_lots = 1;
}

static void publish_verdict(struct harness *h, struct verdict_msg *m)
{
	Cellthread__V1__VerdictBatch batch = CELLTHREAD__V1__VERDICT_BATCH__INIT;
	Cellthread__V1__Verdict *one[] = {&m->v};
	uint8_t *buf = NULL;
	size_t len = 0;

	batch.verdicts = one;
	batch.n_verdicts = 1;
	assert_int_equal(ct_pb_pack(&batch.base, &buf, &len), CT_OK);
	assert_int_equal(harness_publish(h, "spc-gate", VERDICT, buf, len), CT_OK);
	free(buf);
}

/* ---- queries and the CLI ---- */

/* The first column of the first row as text (empty when NULL), malloc'ed. */
static char *sql_text(struct harness *h, const char *sql, int n, const char *const *params)
{
	PGresult *res = NULL;
	char *text;

	assert_int_equal(harness_sql(h, sql, n, params, &res), CT_OK);
	assert_int_equal(PQntuples(res), 1);
	text = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	assert_non_null(text);
	return text;
}

static void assert_sql_text(struct harness *h, const char *sql, int n, const char *const *params,
                            const char *expected)
{
	char *text = sql_text(h, sql, n, params);
	if (strcmp(text, expected) != 0) {
		fprintf(stderr, "%s\n  -> \"%s\", expected \"%s\"\n", sql, text, expected);
		free(text);
		fail();
	}
	free(text);
}

/* Runs a CLI command that must succeed with --json output, and parses it. */
static json_t *cli_json(struct harness *h, const char *identity, const char *const *args)
{
	char *out = NULL;
	json_error_t jerr;
	json_t *doc;
	int status = harness_cli(h, identity, args, &out);

	if (status != 0) {
		fprintf(stderr, "%s\n", out ? out : "");
		free(out);
		fail_msg("cellthread %s ... exited %d", args[0], status);
	}
	doc = json_loads(out, 0, &jerr);
	if (doc == NULL) {
		fprintf(stderr, "%.2000s\n", out);
		free(out);
		fail_msg("cellthread output is not JSON: %s", jerr.text);
	}
	free(out);
	return doc;
}

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	if (s == NULL)
		fail_msg("JSON key %s: not a string", key);
	return s;
}

/* ---- tests ---- */

static struct harness_proc *ingest, *traveler;

static void test_held_lots_flag_results(void **state)
{
	struct harness *h = *state;
	static const char *const held_lots[] = {"VS-LOT-H1", "VS-LOT-OK"};
	static const char *const held_children[] = {"VS-COIL-H2", "VS-COIL-OK"};
	static const char *const ok_lots[] = {"VS-LOT-OK"};
	static const char *const garbage_topic[] = {LOT("VS-LOT-BAD")};
	static const char *const mismatch_topic[] = {LOT("VS-LOT-MM")};
	static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
	const char *p[1];

	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler), CT_OK);
	/* Held before ingest runs: ingest learns it from the retained message on subscribe. */
	publish_lot(h, LOT("VS-LOT-H1"), SITE, "VS-LOT-H1", 2);
	/* The same lot name at another site is another lot: it never flags this site. */
	publish_lot(h, "ct/v1/lot/OTHER/VS-LOT-OK", "OTHER", "VS-LOT-OK", 3);
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest), CT_OK);
	/* Quarantined while ingest runs (a child unit: coils are lots too). */
	publish_lot(h, LOT("VS-COIL-H2"), SITE, "VS-COIL-H2", 3);
	/* Malformed lot status: dead-lettered, never applied, ingest goes on. */
	assert_int_equal(harness_publish(h, "spc-gate", garbage_topic[0], garbage, sizeof(garbage)),
	                 CT_OK);
	publish_lot(h, mismatch_topic[0], SITE, "VS-LOT-OTHER-NAME", 2);

	publish_result(h, "vt-result-1", UNIT_HELD, held_lots, 2, held_children, 2);
	publish_result(h, "vt-result-2", UNIT_OK, ok_lots, 1, NULL, 0);
	assert_int_equal(harness_wait_sql_count(h,
	                                        "SELECT count(*) FROM station_visit WHERE "
	                                        "event_id IN ('vt-result-1', 'vt-result-2')",
	                                        2, HARNESS_WAIT_MS),
	                 CT_OK);
	p[0] = "vt-result-1";
	assert_sql_text(h, "SELECT held_lots::text FROM station_visit WHERE event_id = $1", 1, p,
	                "{VS-LOT-H1,VS-COIL-H2}");
	p[0] = "vt-result-2";
	assert_sql_text(h, "SELECT held_lots::text FROM station_visit WHERE event_id = $1", 1, p,
	                "{}");

	/* Both bad lot messages are dead letters with their reason codes (1 DECODE,
	 * 3 INVALID). */
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM dead_letter WHERE "
	                                         "source_topic = $1 AND reason_code = 1 AND "
	                                         "service = 'ingest'",
	                                         1, garbage_topic, 1, HARNESS_WAIT_MS),
	                 CT_OK);
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM dead_letter WHERE "
	                                         "source_topic = $1 AND reason_code = 3 AND "
	                                         "reason LIKE '%topic%'",
	                                         1, mismatch_topic, 1, HARNESS_WAIT_MS),
	                 CT_OK);

	/* Released: a later result with the same lots is not flagged for VS-LOT-H1. */
	publish_lot(h, LOT("VS-LOT-H1"), SITE, "VS-LOT-H1", 1);
	publish_result(h, "vt-result-3", UNIT_LATE, held_lots, 2, held_children, 2);
	p[0] = "vt-result-3";
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM station_visit WHERE "
	                                         "event_id = $1",
	                                         1, p, 1, HARNESS_WAIT_MS),
	                 CT_OK);
	assert_sql_text(h, "SELECT held_lots::text FROM station_visit WHERE event_id = $1", 1, p,
	                "{VS-COIL-H2}");
	/* The retained status of the test's lots is deleted for later groups' sake. */
	assert_int_equal(harness_publish_retained(h, "spc-gate", LOT("VS-COIL-H2"), "", 0, true),
	                 CT_OK);
	harness_pass(h);
}

static void test_verdict_stored_once(void **state)
{
	struct harness *h = *state;
	struct verdict_msg m, sentinel;
	const char *p[1] = {"vt-verdict-1"};
	const char *unit[1] = {UNIT_HELD};
	json_t *doc, *v, *failed;

	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler), CT_OK);
	verdict_init(&m, "vt-verdict-1", UNIT_HELD);
	publish_verdict(h, &m);
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM unit_verdict WHERE "
	                                         "event_id = $1",
	                                         1, p, 1, HARNESS_WAIT_MS),
	                 CT_OK);
	assert_sql_text(h, "SELECT kind || ' ' || producer FROM event WHERE event_id = $1", 1, p,
	                "verdict spc-gate-1");
	assert_sql_text(h,
	                "SELECT concat_ws('|', unit_id, site, line, station, source_event_id, "
	                "verdict, inspection_reason, held_lots::text, "
	                "(extract(epoch from decided_at) * 1000000)::int8) "
	                "FROM unit_verdict WHERE event_id = $1",
	                1, p,
	                UNIT_HELD "|" SITE "|" LINE "|EOL-1|vt-result-1|2|fill_mass above USL; "
	                          "consumes held lot VS-LOT-H1|{VS-LOT-H1}|1767225600123456");
	/* failed as JSON: compared as jsonb, so key order and spacing do not matter. */
	assert_sql_text(h,
	                "SELECT (failed = '[{\"characteristic\": \"fill_mass\", \"value\": 5.5, "
	                "\"lsl\": 4.75, \"usl\": 5.25, \"unit\": \"g\", \"reason\": \"above USL\"},"
	                " {\"characteristic\": \"leak_rate\", \"value\": null, \"lsl\": null, "
	                "\"usl\": 0.002, \"unit\": \"Pa/min\", \"reason\": \"not measurable\"}]'"
	                "::jsonb)::text FROM unit_verdict WHERE event_id = $1",
	                1, p, "true");

	/* Redelivered (same event ID), then a sentinel behind it: once the sentinel is
	 * stored, the redelivery has been handled, and it added nothing. */
	publish_verdict(h, &m);
	verdict_init(&sentinel, "vt-verdict-2", UNIT_HELD);
	sentinel.v.verdict = CELLTHREAD__V1__VERDICT_CODE__VERDICT_CODE_PASS;
	sentinel.v.n_failed = 0;
	sentinel.v.n_held_lots = 0;
	sentinel.v.inspection_reason = (char *)"";
	sentinel.v.decided_at_us = DECIDED_US + 1000000;
	publish_verdict(h, &sentinel);
	assert_int_equal(harness_wait_sql_count(h,
	                                        "SELECT count(*) FROM unit_verdict WHERE "
	                                        "event_id = 'vt-verdict-2'",
	                                        1, HARNESS_WAIT_MS),
	                 CT_OK);
	assert_sql_text(h, "SELECT count(*) FROM unit_verdict WHERE unit_id = $1", 1, unit, "2");
	assert_sql_text(h,
	                "SELECT count(*) FROM event WHERE event_id IN ('vt-verdict-1', "
	                "'vt-verdict-2')",
	                0, NULL, "2");
	assert_sql_text(h,
	                "SELECT failed::text || inspection_reason || held_lots::text FROM "
	                "unit_verdict WHERE event_id = 'vt-verdict-2'",
	                0, NULL, "[]{}");

	/* The CLI shows both, oldest first. */
	{
		const char *args[] = {"verdicts", UNIT_HELD, "--json", NULL};
		doc = cli_json(h, "cli", args);
	}
	assert_int_equal(json_array_size(doc), 2);
	v = json_array_get(doc, 0);
	assert_string_equal(jstr(v, "event_id"), "vt-verdict-1");
	assert_string_equal(jstr(v, "verdict"), "fail");
	assert_string_equal(jstr(v, "unit_kind"), "cell");
	assert_string_equal(jstr(v, "decided_at"), "2026-01-01T00:00:00.123456Z");
	assert_string_equal(json_string_value(json_array_get(json_object_get(v, "held_lots"), 0)),
	                    "VS-LOT-H1");
	failed = json_object_get(v, "failed");
	assert_int_equal(json_array_size(failed), 2);
	assert_true(json_real_value(json_object_get(json_array_get(failed, 0), "usl")) == 5.25);
	assert_true(json_is_null(json_object_get(json_array_get(failed, 1), "value")));
	assert_true(json_is_null(json_object_get(json_array_get(failed, 1), "lsl")));
	assert_string_equal(jstr(json_array_get(doc, 1), "verdict"), "pass");
	json_decref(doc);

	/* Trace back carries the verdicts, and the visit's held lots in the text form. */
	{
		const char *args[] = {"trace", "back", UNIT_HELD, "--json", NULL};
		doc = cli_json(h, "cli", args);
	}
	v = json_object_get(doc, "verdicts");
	assert_int_equal(json_array_size(v), 2);
	assert_string_equal(jstr(json_array_get(v, 0), "source_event_id"), "vt-result-1");
	assert_string_equal(jstr(json_array_get(v, 0), "inspection_reason"),
	                    "fill_mass above USL; consumes held lot VS-LOT-H1");
	json_decref(doc);
	{
		const char *args[] = {"trace", "back", UNIT_HELD, NULL};
		char *out = NULL;
		assert_int_equal(harness_cli(h, "cli", args, &out), 0);
		if (strstr(out, "Verdicts (2)") == NULL ||
		    strstr(out, "HELD LOT VS-LOT-H1") == NULL || strstr(out, "above USL") == NULL) {
			fprintf(stderr, "%s\n", out);
			free(out);
			fail_msg("trace back text lacks the verdicts or held lots");
		}
		free(out);
	}
	harness_pass(h);
}

static void test_cli_decisions(void **state)
{
	struct harness *h = *state;
	const char *lot[2] = {SITE, "VS-LOT-Q"};
	char *item = NULL;
	json_t *doc, *row;

	/* No or blank reason: refused before the database (2). */
	{
		const char *a1[] = {"lot", "hold", SITE, "VS-LOT-Q", NULL};
		const char *a2[] = {"lot", "hold", SITE, "VS-LOT-Q", "--reason", "  ", NULL};
		const char *a3[] = {"lot", "release", SITE, "VS-LOT-Q", "--reason", "", NULL};
		assert_int_equal(harness_cli(h, "quality", a1, NULL), 2);
		assert_int_equal(harness_cli(h, "quality", a2, NULL), 2);
		assert_int_equal(harness_cli(h, "quality", a3, NULL), 2);
	}
	/* The read-only login may not hold (4), a quality login may. */
	{
		const char *hold[] = {"lot",      "hold",          SITE,           "VS-LOT-Q",
		                      "--reason", "swollen cells", "--quarantine", NULL};
		assert_int_equal(harness_cli(h, "cli", hold, NULL), 4);
		assert_sql_text(h, "SELECT count(*) FROM lot_audit", 0, NULL, "0");
		assert_int_equal(harness_cli(h, "quality", hold, NULL), 0);
		/* Again: nothing changes, still fine. */
		assert_int_equal(harness_cli(h, "quality", hold, NULL), 0);
	}
	assert_sql_text(h,
	                "SELECT concat_ws('|', state, reason, changed_by) FROM lot_status WHERE "
	                "site = $1 AND lot_id = $2",
	                2, lot, "3|swollen cells|quality");
	{
		const char *show[] = {"lot", "show", SITE, "VS-LOT-Q", "--json", NULL};
		doc = cli_json(h, "cli", show);
	}
	assert_string_equal(jstr(doc, "state"), "quarantined");
	assert_string_equal(jstr(doc, "changed_by"), "quality");
	assert_int_equal(json_array_size(json_object_get(doc, "audit")), 1);
	row = json_array_get(json_object_get(doc, "audit"), 0);
	assert_string_equal(jstr(row, "from_state"), "released");
	assert_string_equal(jstr(row, "to_state"), "quarantined");
	assert_string_equal(jstr(row, "actor"), "quality");
	assert_string_equal(jstr(row, "reason"), "swollen cells");
	json_decref(doc);
	{
		const char *list[] = {"lot", "list", "--json", NULL};
		doc = cli_json(h, "cli", list);
	}
	assert_int_equal(json_array_size(doc), 1);
	assert_string_equal(jstr(json_array_get(doc, 0), "lot_id"), "VS-LOT-Q");
	json_decref(doc);
	/* Release: refused for cli (4), done by quality. */
	{
		const char *release[] = {"lot",      "release",      SITE, "VS-LOT-Q",
		                         "--reason", "re-tested OK", NULL};
		assert_int_equal(harness_cli(h, "cli", release, NULL), 4);
		assert_sql_text(h, "SELECT state FROM lot_status WHERE site = $1 AND lot_id = $2",
		                2, lot, "3");
		assert_int_equal(harness_cli(h, "quality", release, NULL), 0);
	}
	{
		const char *show[] = {"lot", "show", SITE, "VS-LOT-Q", "--json", NULL};
		doc = cli_json(h, "cli", show);
	}
	assert_string_equal(jstr(doc, "state"), "released");
	assert_int_equal(json_array_size(json_object_get(doc, "audit")), 2);
	json_decref(doc);
	{
		const char *list[] = {"lot", "list", "--json", NULL};
		const char *all[] = {"lot", "list", "--all", "--json", NULL};
		doc = cli_json(h, "cli", list);
		assert_int_equal(json_array_size(doc), 0);
		json_decref(doc);
		doc = cli_json(h, "cli", all);
		assert_int_equal(json_array_size(doc), 1);
		json_decref(doc);
	}

	/* Inspection queue: an item as spc-gate would file it. */
	item = sql_text(h,
	                "INSERT INTO inspection_item (unit_id, unit_kind, site, line, station, "
	                "queue, cause, reason, verdict, entered_at) VALUES ('" UNIT_HELD
	                "', 4, '" SITE "', '" LINE "', 'EOL-1', 'inspection', 'vt-result-1', "
	                "'fill_mass above USL', 2, now()) RETURNING item_id",
	                0, NULL);
	{
		const char *open[] = {"inspect", "--json", NULL};
		doc = cli_json(h, "cli", open);
	}
	assert_int_equal(json_array_size(doc), 1);
	row = json_array_get(doc, 0);
	{
		long item_id = 0;

		assert_int_equal(ct_parse_long(item, 1, LONG_MAX, &item_id), CT_OK);
		assert_int_equal(json_integer_value(json_object_get(row, "item_id")), item_id);
	}
	assert_string_equal(jstr(row, "unit_id"), UNIT_HELD);
	assert_string_equal(jstr(row, "unit_kind"), "cell");
	assert_string_equal(jstr(row, "queue"), "inspection");
	assert_string_equal(jstr(row, "verdict"), "fail");
	assert_true(json_is_null(json_object_get(row, "disposition")));
	json_decref(doc);
	{
		const char *dispose[] = {"inspect",  "dispose",     item, "scrap",
		                         "--reason", "cracked can", NULL};
		const char *blank[] = {"inspect", "dispose", item, "scrap", "--reason", "", NULL};
		const char *bad[] = {"inspect", "dispose", item, "bin", "--reason", "x", NULL};
		assert_int_equal(harness_cli(h, "quality", blank, NULL), 2);
		assert_int_equal(harness_cli(h, "quality", bad, NULL), 2);
		assert_int_equal(harness_cli(h, "cli", dispose, NULL), 4);
		assert_sql_text(
		        h, "SELECT count(*) FROM inspection_item WHERE disposition IS NOT NULL", 0,
		        NULL, "0");
		assert_int_equal(harness_cli(h, "quality", dispose, NULL), 0);
		/* Disposed already: the database refuses a second disposition. */
		assert_int_equal(harness_cli(h, "quality", dispose, NULL), 4);
	}
	{
		const char *p[1] = {item};
		assert_sql_text(
		        h,
		        "SELECT concat_ws('|', disposition, disposed_by, disposition_reason, "
		        "disposed_at IS NOT NULL) FROM inspection_item WHERE item_id = "
		        "$1::bigint",
		        1, p, "scrap|quality|cracked can|t");
	}
	{
		const char *open[] = {"inspect", "--json", NULL};
		const char *all[] = {"inspect", "--all", "--json", NULL};
		doc = cli_json(h, "cli", open);
		assert_int_equal(json_array_size(doc), 0);
		json_decref(doc);
		doc = cli_json(h, "cli", all);
		assert_int_equal(json_array_size(doc), 1);
		row = json_array_get(doc, 0);
		assert_string_equal(jstr(row, "disposition"), "scrap");
		assert_string_equal(jstr(row, "disposed_by"), "quality");
		assert_string_equal(jstr(row, "disposition_reason"), "cracked can");
		json_decref(doc);
	}
	free(item);

	/* Automatic actions: one as spc-gate would log it, then its undo. */
	assert_sql_text(
	        h,
	        "INSERT INTO automatic_action (command_id, alert_id, chart_id, site, line, "
	        "station, kind, parameter, target_value, delta, uom, reason_code, "
	        "reason_text, cause_event_id, decided_at) VALUES ('vt-cmd-1', 'vt-alert-1', "
	        "'coat-loading', '" SITE "', '" LINE "', 'COAT-1', 4, 'slot_die_gap', 149.2, "
	        "-0.8, 'um', 'SPC_DRIFT', 'loading drifts up', 'vt-result-1', now()) "
	        "RETURNING command_id",
	        0, NULL, "vt-cmd-1");
	{
		const char *list[] = {"actions", "--json", NULL};
		doc = cli_json(h, "cli", list);
	}
	assert_int_equal(json_array_size(doc), 1);
	row = json_array_get(doc, 0);
	assert_string_equal(jstr(row, "kind"), "ADJUST");
	assert_string_equal(jstr(row, "parameter"), "slot_die_gap");
	assert_true(json_real_value(json_object_get(row, "delta")) == -0.8);
	assert_string_equal(jstr(row, "undo"), "none");
	json_decref(doc);
	{
		const char *undo[] = {
		        "actions", "undo", "vt-cmd-1", "--reason", "operator re-shimmed", NULL};
		const char *blank[] = {"actions", "undo", "vt-cmd-1", NULL};
		assert_int_equal(harness_cli(h, "quality", blank, NULL), 2);
		assert_int_equal(harness_cli(h, "cli", undo, NULL), 4);
		assert_int_equal(harness_cli(h, "quality", undo, NULL), 0);
		assert_int_equal(harness_cli(h, "quality", undo, NULL), 4); /* asked for already */
	}
	assert_sql_text(h,
	                "SELECT concat_ws('|', undo_requested_by, undo_reason) FROM "
	                "automatic_action WHERE command_id = 'vt-cmd-1'",
	                0, NULL, "quality|operator re-shimmed");
	{
		const char *list[] = {"actions", "--json", NULL};
		doc = cli_json(h, "cli", list);
	}
	row = json_array_get(doc, 0);
	assert_string_equal(jstr(row, "undo"), "requested");
	assert_string_equal(jstr(row, "undo_requested_by"), "quality");
	json_decref(doc);
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("verdicts", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_held_lots_flag_results, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_verdict_stored_once, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_cli_decisions, harness_test_setup,
	                                        harness_test_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
