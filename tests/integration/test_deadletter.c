/* test_deadletter: every kind of bad input ends in dead_letter with the right reason code and
 * a reason naming the problem, nothing of it is stored as data, the services keep running,
 * and good input after the bad still arrives. A duplicate is not an error: it is stored
 * once and not dead-lettered.
 *
 * Each case goes to its own station, so its dead letter is found by source_topic. All bad
 * messages are published first and waited for together; the good message published after
 * them proves the pipeline is still moving (ingest handles its input in order). */
/* strcasestr() */
#define _GNU_SOURCE

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_config.h"
#include "ct_error.h"
#include "ct_time.h"
#include "harness.h"

#define SITE "DLS"
#define LINE "L1"
#define EDGE "ct/v1/edge/" SITE "/" LINE "/"

#define MAX_PAYLOAD_KIB 64 /* ingest's limit in this test, so "oversize" is cheap to send */
#define OVERSIZE_BYTES  (100 * 1024)

/* The integer a query returned as text; fails the test when it is not one. */
static long sql_long_of(const char *text)
{
	long v = 0;

	if (ct_parse_long(text, LONG_MIN, LONG_MAX, &v) != CT_OK)
		fail_msg("SQL value \"%s\" is not an integer", text);
	return v;
}

/* A valid one-result batch that each case breaks in one place. */
struct one {
	Cellthread__V1__StationResultBatch batch;
	Cellthread__V1__StationResult result, *results[1];
	Cellthread__V1__Header header;
	Cellthread__V1__Measurement meas, *meas_p[1];
};

static void one_init(struct one *m, const char *station, const char *event_id, const char *unit)
{
	int64_t now = ct_now_us();

	memset(m, 0, sizeof(*m));
	cellthread__v1__station_result_batch__init(&m->batch);
	cellthread__v1__station_result__init(&m->result);
	cellthread__v1__header__init(&m->header);
	cellthread__v1__measurement__init(&m->meas);
	m->header.event_id = (char *)event_id;
	m->header.producer = (char *)"dl-test";
	m->header.produced_at_us = now;
	m->header.schema_version = 1;
	m->result.header = &m->header;
	m->result.unit_id = (char *)unit;
	m->result.unit_kind = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_CELL;
	m->result.site = (char *)SITE;
	m->result.line = (char *)LINE;
	m->result.station = (char *)station;
	m->result.station_type = CELLTHREAD__V1__STATION_TYPE__STATION_TYPE_EOL_TEST;
	m->result.recipe = (char *)"dl-recipe";
	m->result.recipe_version = 1;
	m->result.started_at_us = now - 2000000;
	m->result.ended_at_us = now - 1000000;
	m->result.result = CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_OK;
	m->meas.characteristic = (char *)"ocv";
	m->meas.value = 3.65;
	m->meas.unit = (char *)"V";
	m->meas.measured_at_us = now - 1000000;
	m->meas_p[0] = &m->meas;
	m->result.n_measurements = 1;
	m->result.measurements = m->meas_p;
	m->results[0] = &m->result;
	m->batch.n_results = 1;
	m->batch.results = m->results;
}

static void publish_one(struct harness *h, struct one *m, const char *encoding)
{
	char topic[256];
	uint8_t *buf = NULL;
	size_t len = 0;

	snprintf(topic, sizeof(topic), EDGE "%s/result/%s", m->result.station, encoding);
	assert_int_equal(ct_pb_pack(&m->batch.base, &buf, &len), CT_OK);
	assert_int_equal(harness_publish(h, "gateway", topic, buf, len), CT_OK);
	free(buf);
}

/* One expected dead letter: where it came from, its code, and words its reason must
 * contain (every one of them). */
struct expect {
	const char *topic;
	int reason_code;
	const char *words[3];
};

enum {
	DECODE = CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_DECODE,
	OVERSIZE = CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_OVERSIZE,
	INVALID = CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_INVALID,
	TOPIC = CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_TOPIC,
	CLOCK = CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_CLOCK,
	CONFLICT = CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_CONFLICT,
};

static const struct expect cases[] = {
        {EDGE "DL-PB/result/pb", DECODE, {"protobuf"}},
        {EDGE "DL-JSON/result/json", DECODE, {"line"}},
        {EDGE "DL-JSONTYPE/result/json", DECODE, {"value"}},
        {EDGE "DL-BIG/result/pb", OVERSIZE, {NULL}},
        {EDGE "DL-IDCHARS/result/pb", INVALID, {"unit_id"}},
        {EDGE "DL-SQLID/result/pb", INVALID, {"unit_id"}},
        {EDGE "DL-SQLEVENT/result/pb", INVALID, {"event_id"}},
        {EDGE "DL-NAN/result/pb", INVALID, {"measurements[0].value", "finite"}},
        {EDGE "DL-INF/result/pb", INVALID, {"measurements[0].value", "finite"}},
        {EDGE "DL-TELNAN/telemetry/pb", INVALID, {"value", "finite"}},
        {EDGE "DL-FUTURE/result/pb", CLOCK, {"started_at_us", "future"}},
        {EDGE "DL-PAST/result/pb", CLOCK, {"started_at_us", "past"}},
        {EDGE "DL-ENDED/result/pb", INVALID, {"ended_at_us", "before"}},
        {EDGE "DL-TOPIC/result/pb", INVALID, {"station", "topic"}},
        {EDGE "DL-KIND/bogus/pb", TOPIC, {NULL}},
        {EDGE "DL-ENC/result/xml", TOPIC, {NULL}},
        {"ct/v1/edge/" SITE "/" LINE, TOPIC, {NULL}},
};
#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static void publish_bad_inputs(struct harness *h)
{
	static const uint8_t bad_pb[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 'x', 'y'};
	static const char bad_json[] = "{\"results\": [{\"unit_id\": \"CELL-J\", ";
	static const char type_json[] = "{\"results\": [{\"header\": {\"event_id\": \"dl-jt\"}, "
	                                "\"measurements\": [{\"characteristic\": \"ocv\", "
	                                "\"value\": \"not a number\"}]}]}";
	struct one m;
	uint8_t *big = NULL;

	/* Malformed protobuf: a length-delimited field claiming 4 GiB. */
	assert_int_equal(harness_publish(h, "gateway", cases[0].topic, bad_pb, sizeof(bad_pb)),
	                 CT_OK);
	/* Malformed JSON: cut off. */
	assert_int_equal(
	        harness_publish(h, "gateway", cases[1].topic, bad_json, sizeof(bad_json) - 1),
	        CT_OK);
	/* Well-formed JSON of the wrong shape: a string where a number belongs. */
	assert_int_equal(
	        harness_publish(h, "gateway", cases[2].topic, type_json, sizeof(type_json) - 1),
	        CT_OK);
	/* Oversize: over the limit before anything is decoded. */
	big = malloc(OVERSIZE_BYTES);
	assert_non_null(big);
	for (size_t i = 0; i < OVERSIZE_BYTES; i++)
		big[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(harness_publish(h, "gateway", cases[3].topic, big, OVERSIZE_BYTES), CT_OK);
	free(big);

	one_init(&m, "DL-IDCHARS", "dl-idchars", "CELL 1/\xc3\xa4");
	publish_one(h, &m, "pb");
	one_init(&m, "DL-SQLID", "dl-sqlid", "x'); DROP TABLE unit;--");
	publish_one(h, &m, "pb");
	one_init(&m, "DL-SQLEVENT", "1; DELETE FROM event", "CELL-SQLEVENT");
	publish_one(h, &m, "pb");
	one_init(&m, "DL-NAN", "dl-nan", "CELL-NAN");
	m.meas.value = NAN;
	publish_one(h, &m, "pb");
	one_init(&m, "DL-INF", "dl-inf", "CELL-INF");
	m.meas.value = -INFINITY;
	publish_one(h, &m, "pb");
	{
		/* Telemetry carries NaN as easily. */
		Cellthread__V1__Telemetry t = CELLTHREAD__V1__TELEMETRY__INIT;
		Cellthread__V1__Header hdr = CELLTHREAD__V1__HEADER__INIT;
		Cellthread__V1__Signal sig = CELLTHREAD__V1__SIGNAL__INIT, *sig_p[1] = {&sig};
		Cellthread__V1__Sample s[2] = {CELLTHREAD__V1__SAMPLE__INIT,
		                               CELLTHREAD__V1__SAMPLE__INIT};
		Cellthread__V1__Sample *s_p[2] = {&s[0], &s[1]};
		uint8_t *buf = NULL;
		size_t len = 0;

		hdr.event_id = (char *)"dl-telnan";
		hdr.producer = (char *)"dl-test";
		hdr.produced_at_us = ct_now_us();
		hdr.schema_version = 1;
		t.header = &hdr;
		t.site = (char *)SITE;
		t.line = (char *)LINE;
		t.asset = (char *)"DL-TELNAN";
		sig.name = (char *)"nozzle_pressure";
		sig.unit = (char *)"bar";
		s[0].at_us = ct_now_us() - 2000;
		s[0].value = 1.5;
		s[1].at_us = ct_now_us() - 1000;
		s[1].value = NAN;
		sig.n_samples = 2;
		sig.samples = s_p;
		t.n_signals = 1;
		t.signals = sig_p;
		assert_int_equal(ct_pb_pack(&t.base, &buf, &len), CT_OK);
		assert_int_equal(harness_publish(h, "gateway", cases[9].topic, buf, len), CT_OK);
		free(buf);
	}
	/* Clock skew: an hour ahead (limit 300 s), a year behind (limit 30 days). */
	one_init(&m, "DL-FUTURE", "dl-future", "CELL-FUTURE");
	m.result.started_at_us += INT64_C(3600) * 1000000;
	m.result.ended_at_us += INT64_C(3600) * 1000000;
	publish_one(h, &m, "pb");
	one_init(&m, "DL-PAST", "dl-past", "CELL-PAST");
	m.result.started_at_us -= INT64_C(365) * 24 * 3600 * 1000000;
	m.result.ended_at_us -= INT64_C(365) * 24 * 3600 * 1000000;
	publish_one(h, &m, "pb");
	one_init(&m, "DL-ENDED", "dl-ended", "CELL-ENDED");
	m.result.ended_at_us = m.result.started_at_us - 1;
	publish_one(h, &m, "pb");
	/* The message says another station than its topic. */
	one_init(&m, "DL-TOPIC", "dl-topic", "CELL-TOPIC");
	{
		uint8_t *buf = NULL;
		size_t len = 0;
		m.result.station = (char *)"DL-ELSEWHERE";
		assert_int_equal(ct_pb_pack(&m.batch.base, &buf, &len), CT_OK);
		assert_int_equal(harness_publish(h, "gateway", cases[13].topic, buf, len), CT_OK);
		free(buf);
	}
	/* Topics ingest does not handle: unknown kind, unknown encoding, too short. A valid
	 * payload each, so only the topic is wrong. */
	for (size_t c = 14; c < N_CASES; c++) {
		uint8_t *buf = NULL;
		size_t len = 0;
		one_init(&m, "DL-KIND", "dl-kind", "CELL-KIND");
		assert_int_equal(ct_pb_pack(&m.batch.base, &buf, &len), CT_OK);
		assert_int_equal(harness_publish(h, "gateway", cases[c].topic, buf, len), CT_OK);
		free(buf);
	}
}

static void check_dead_letter(struct harness *h, const struct expect *e)
{
	const char *params[] = {e->topic};
	PGresult *res = NULL;
	const char *reason;
	int code;

	if (harness_wait_sql_countv(h, "SELECT count(*) FROM dead_letter WHERE source_topic = $1",
	                            1, params, 1, HARNESS_WAIT_MS) != CT_OK)
		fail_msg("no (or more than one) dead letter for %s", e->topic);
	assert_int_equal(harness_sql(h,
	                             "SELECT reason_code, reason, service, payload_size, "
	                             "octet_length(payload) FROM dead_letter WHERE "
	                             "source_topic = $1",
	                             1, params, &res),
	                 CT_OK);
	code = (int)sql_long_of(PQgetvalue(res, 0, 0));
	reason = PQgetvalue(res, 0, 1);
	printf("dead letter %-36s code %d: %s\n", e->topic, code, reason);
	if (code != e->reason_code) {
		char copy[512];
		snprintf(copy, sizeof(copy), "%s", reason);
		PQclear(res);
		fail_msg("%s: reason_code %d, expected %d (reason: %s)", e->topic, code,
		         e->reason_code, copy);
	}
	if (reason[0] == '\0') {
		PQclear(res);
		fail_msg("%s: empty reason", e->topic);
	}
	for (size_t i = 0; i < 3 && e->words[i] != NULL; i++) {
		if (strstr(reason, e->words[i]) == NULL) {
			char copy[512];
			snprintf(copy, sizeof(copy), "%s", reason);
			PQclear(res);
			fail_msg("%s: reason \"%s\" does not mention \"%s\"", e->topic, copy,
			         e->words[i]);
		}
	}
	assert_string_equal(PQgetvalue(res, 0, 2), "ingest");
	assert_true(sql_long_of(PQgetvalue(res, 0, 3)) > 0);
	assert_true(sql_long_of(PQgetvalue(res, 0, 4)) > 0);
	PQclear(res);
}

static void test_bad_inputs_are_dead_lettered(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL;
	const char *limit[] = {"CT_INGEST_MAX_PAYLOAD_KIB=64", NULL};
	const char *good[] = {"dl-good-after"};
	struct one m;
	long long n = -1;

	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, limit, &ingest), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler), CT_OK);
	publish_bad_inputs(h);
	/* Good input after all the bad. */
	one_init(&m, "DL-GOOD", good[0], "CELL-GOOD");
	publish_one(h, &m, "pb");
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM station_visit WHERE "
	                                         "event_id = $1",
	                                         1, good, 1, HARNESS_WAIT_MS),
	                 CT_OK);

	for (size_t i = 0; i < N_CASES; i++)
		check_dead_letter(h, &cases[i]);
	assert_int_equal(harness_sql_long(h, "SELECT count(*) FROM dead_letter", 0, NULL, &n),
	                 CT_OK);
	assert_int_equal(n, (long long)N_CASES);

	/* The oversize payload is kept truncated to the cap, with its real size, as a prefix
	 * of what was sent. */
	{
		const char *p[] = {cases[3].topic};
		PGresult *res = NULL;
		uint8_t first[16], last[16];
		char hex_first[33], hex_last[33];
		long long stored;

		assert_int_equal(
		        harness_sql(h,
		                    "SELECT payload_size, octet_length(payload), "
		                    "encode(substring(payload from 1 for 16), 'hex'), "
		                    "encode(substring(payload from octet_length(payload) - "
		                    "15 for 16), 'hex') FROM dead_letter WHERE "
		                    "source_topic = $1",
		                    1, p, &res),
		        CT_OK);
		assert_int_equal(sql_long_of(PQgetvalue(res, 0, 0)), OVERSIZE_BYTES);
		stored = sql_long_of(PQgetvalue(res, 0, 1));
		assert_true(stored > 16 && stored < OVERSIZE_BYTES);
		for (size_t i = 0; i < 16; i++) {
			first[i] = (uint8_t)(i * 7 + 3);
			last[i] = (uint8_t)(((size_t)stored - 16 + i) * 7 + 3);
			snprintf(hex_first + 2 * i, 3, "%02x", first[i]);
			snprintf(hex_last + 2 * i, 3, "%02x", last[i]);
		}
		assert_string_equal(PQgetvalue(res, 0, 2), hex_first);
		assert_string_equal(PQgetvalue(res, 0, 3), hex_last);
		PQclear(res);
	}

	/* Nothing of the bad input became data; the table the SQL ID names still exists. */
	assert_int_equal(harness_sql_long(h,
	                                  "SELECT count(*) FROM station_visit WHERE site = 'DLS' "
	                                  "AND station <> 'DL-GOOD'",
	                                  0, NULL, &n),
	                 CT_OK);
	assert_int_equal(n, 0);
	assert_int_equal(harness_sql_long(h, "SELECT count(*) FROM telemetry_sample", 0, NULL, &n),
	                 CT_OK);
	assert_int_equal(n, 0);
	assert_int_equal(harness_sql_long(h,
	                                  "SELECT count(*) FROM unit WHERE unit_id LIKE '%DROP%' "
	                                  "OR unit_id LIKE 'CELL %'",
	                                  0, NULL, &n),
	                 CT_OK);
	assert_int_equal(n, 0);
	assert_int_equal(harness_sql_long(h, "SELECT count(*) FROM pg_class WHERE relname = 'unit'",
	                                  0, NULL, &n),
	                 CT_OK);
	assert_int_equal(n, 1);

	assert_true(harness_proc_is_alive(ingest));
	assert_true(harness_proc_is_alive(traveler));
	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
	harness_pass(h);
}

/* traveler refuses what it cannot store even when it comes from the plant tree's owner: a
 * payload that is not protobuf and a result without an event ID (ingest always gives one)
 * become traveler's own dead letters, and traveler goes on. */
static void test_traveler_dead_letters(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL;
	static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0x01, 0x02};
	const char *t_pb = "ct/v1/plant/" SITE "/" LINE "/DL-TRAV-PB/result";
	const char *t_noid = "ct/v1/plant/" SITE "/" LINE "/DL-TRAV-NOID/result";
	const char *good[] = {"dl-trav-good"};
	const char *params[2];
	struct one m;
	uint8_t *buf = NULL;
	size_t len = 0;
	PGresult *res = NULL;

	assert_int_equal(harness_service_start(h, HARNESS_INGEST, "ingest-trav", NULL, &ingest),
	                 CT_OK);
	assert_int_equal(
	        harness_service_start(h, HARNESS_TRAVELER, "traveler-trav", NULL, &traveler),
	        CT_OK);
	assert_int_equal(harness_publish(h, "ingest", t_pb, garbage, sizeof(garbage)), CT_OK);
	one_init(&m, "DL-TRAV-NOID", "", "CELL-TRAV-NOID");
	assert_int_equal(ct_pb_pack(&m.batch.base, &buf, &len), CT_OK);
	assert_int_equal(harness_publish(h, "ingest", t_noid, buf, len), CT_OK);
	free(buf);
	one_init(&m, "DL-TRAV-GOOD", good[0], "CELL-TRAV-GOOD");
	publish_one(h, &m, "pb");
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM station_visit WHERE "
	                                         "event_id = $1",
	                                         1, good, 1, HARNESS_WAIT_MS),
	                 CT_OK);
	params[0] = t_pb;
	params[1] = t_noid;
	assert_int_equal(
	        harness_wait_sql_countv(h,
	                                "SELECT count(*) FROM dead_letter WHERE "
	                                "service = 'traveler' AND source_topic IN ($1, $2)",
	                                2, params, 2, HARNESS_WAIT_MS),
	        CT_OK);
	assert_int_equal(harness_sql(h,
	                             "SELECT reason_code, reason, payload_size FROM dead_letter "
	                             "WHERE source_topic IN ($1, $2) ORDER BY source_topic = $1 "
	                             "DESC",
	                             2, params, &res),
	                 CT_OK);
	printf("traveler dead letter %s code %s: %s\n", t_pb, PQgetvalue(res, 0, 0),
	       PQgetvalue(res, 0, 1));
	printf("traveler dead letter %s code %s: %s\n", t_noid, PQgetvalue(res, 1, 0),
	       PQgetvalue(res, 1, 1));
	assert_int_equal(sql_long_of(PQgetvalue(res, 0, 0)), DECODE);
	assert_int_equal(sql_long_of(PQgetvalue(res, 0, 2)), sizeof(garbage));
	assert_int_equal(sql_long_of(PQgetvalue(res, 1, 0)), INVALID);
	assert_non_null(strcasestr(PQgetvalue(res, 1, 1), "event"));
	PQclear(res);
	{
		const char *unit[] = {"CELL-TRAV-NOID"};
		long long n = -1;
		assert_int_equal(
		        harness_sql_long(h,
		                         "SELECT count(*) FROM station_visit WHERE unit_id = "
		                         "$1",
		                         1, unit, &n),
		        CT_OK);
		assert_int_equal(n, 0);
	}
	assert_true(harness_proc_is_alive(traveler));
	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
	harness_pass(h);
}

/* The last "duplicates dropped N" ingest logged (it reports its counters periodically and
 * when it stops), or -1. */
static long long logged_duplicates(const struct harness_proc *proc)
{
	char *text = NULL;
	const char *p, *last = NULL;
	long long n = -1;

	if (harness_read_file(proc->log_path, &text, NULL) != CT_OK)
		return -1;
	for (p = strstr(text, "duplicates dropped "); p != NULL;
	     p = strstr(p + 1, "duplicates dropped "))
		last = p;
	if (last != NULL)
		n = strtoll(last + strlen("duplicates dropped "), NULL, 10);
	free(text);
	return n;
}

static void test_duplicate_stored_once(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL;
	const char *dup[] = {"dl-dup-1"};
	const char *sentinel[] = {"dl-dup-sentinel"};
	long long dl_before = -1, n = -1;
	struct one m;

	assert_int_equal(
	        harness_sql_long(h, "SELECT count(*) FROM dead_letter", 0, NULL, &dl_before),
	        CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, "ingest-dup", NULL, &ingest),
	                 CT_OK);
	assert_int_equal(
	        harness_service_start(h, HARNESS_TRAVELER, "traveler-dup", NULL, &traveler), CT_OK);
	one_init(&m, "DL-DUP", dup[0], "CELL-DUP");
	publish_one(h, &m, "pb");
	publish_one(h, &m, "pb"); /* the very same bytes again */
	/* The same event in a batch of its own again, after a sentinel of another event. */
	one_init(&m, "DL-DUP", sentinel[0], "CELL-DUP-SENTINEL");
	publish_one(h, &m, "pb");
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM event WHERE event_id = $1",
	                                         1, sentinel, 1, HARNESS_WAIT_MS),
	                 CT_OK);
	/* Everything published before the sentinel has been handled by now. */
	assert_int_equal(
	        harness_sql_long(h, "SELECT count(*) FROM event WHERE event_id = $1", 1, dup, &n),
	        CT_OK);
	assert_int_equal(n, 1);
	assert_int_equal(harness_sql_long(h,
	                                  "SELECT count(*) FROM station_visit WHERE event_id = $1",
	                                  1, dup, &n),
	                 CT_OK);
	assert_int_equal(n, 1);
	assert_int_equal(harness_sql_long(h, "SELECT count(*) FROM measurement WHERE event_id = $1",
	                                  1, dup, &n),
	                 CT_OK);
	assert_int_equal(n, 1);
	assert_int_equal(harness_sql_long(h, "SELECT count(*) FROM dead_letter", 0, NULL, &n),
	                 CT_OK);
	assert_int_equal(n, dl_before);

	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
	/* Dropped silently, but counted. */
	assert_int_equal(logged_duplicates(ingest), 1);
	harness_pass(h);
}

/* What a duplicate filter would drop without a word is told instead: a batch holding two
 * results under one event ID (the first is stored, the second dead-lettered with the reason,
 * JSON.md: "no two results with the same event ID"), and a topic with a trailing '/'. */
static void test_same_batch_duplicate_told(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL;
	static const char *const same[] = {"dl-same-batch"};
	static const char *const topics[] = {EDGE "DL-SAME/result/pb"};
	static const char *const slash[] = {EDGE "DL-SLASH/result/pb/"};
	Cellthread__V1__StationResult second;
	Cellthread__V1__StationResult *both[2];
	uint8_t *buf = NULL;
	size_t len = 0;
	long long n = -1;
	struct one m;
	const struct expect dup = {topics[0], INVALID, {"duplicate", "results[0]", "same batch"}};
	const struct expect trailing = {slash[0], TOPIC, {"ends with '/'", NULL, NULL}};

	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler), CT_OK);
	/* The same event ID twice in one batch, the second a NOK of another unit. */
	one_init(&m, "DL-SAME", same[0], "CELL-SAME-1");
	second = m.result;
	second.unit_id = (char *)"CELL-SAME-2";
	second.result = CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_NOK;
	both[0] = &m.result;
	both[1] = &second;
	m.batch.n_results = 2;
	m.batch.results = both;
	assert_int_equal(ct_pb_pack(&m.batch.base, &buf, &len), CT_OK);
	assert_int_equal(harness_publish(h, "gateway", topics[0], buf, len), CT_OK);
	free(buf);
	buf = NULL;
	/* A valid result on a topic with a trailing '/'. */
	one_init(&m, "DL-SLASH", "dl-slash", "CELL-SLASH");
	assert_int_equal(ct_pb_pack(&m.batch.base, &buf, &len), CT_OK);
	assert_int_equal(harness_publish(h, "gateway", slash[0], buf, len), CT_OK);
	free(buf);

	check_dead_letter(h, &dup);
	check_dead_letter(h, &trailing);
	/* The first of the two is stored, once. */
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM station_visit WHERE "
	                                         "event_id = $1",
	                                         1, same, 1, HARNESS_WAIT_MS),
	                 CT_OK);
	assert_int_equal(harness_sql_long(h, "SELECT count(*) FROM unit WHERE unit_id = $1", 1,
	                                  (const char *const[]){"CELL-SAME-2"}, &n),
	                 CT_OK);
	assert_int_equal(n, 0);
	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
	harness_pass(h);
}

/* A message larger than any service's spool takes is stopped at the broker (max_packet_size,
 * deploy/scripts/broker-config.sh): the sender is disconnected, and ingest, which used to
 * stall on a record its spool refused while Paho had acknowledged it, goes on storing. */
static void test_oversize_stopped_at_broker(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL;
	static const char *const after[] = {"dl-after-huge"};
	const size_t huge_len = (size_t)48 << 20; /* over the broker's 32 MiB, under 64 MiB */
	uint8_t *huge = malloc(huge_len);
	struct one m;

	assert_non_null(huge);
	memset(huge, 0x5a, huge_len);
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler), CT_OK);
	assert_int_not_equal(
	        harness_publish(h, "gateway", EDGE "DL-HUGE/result/pb", huge, huge_len), CT_OK);
	free(huge);
	one_init(&m, "DL-AFTER", after[0], "CELL-AFTER");
	publish_one(h, &m, "pb");
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM station_visit WHERE "
	                                         "event_id = $1",
	                                         1, after, 1, HARNESS_WAIT_MS),
	                 CT_OK);
	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
	harness_pass(h);
}

/* The same event ID with other content is told, not dropped as a duplicate: a NOK resent
 * under an OK's event ID, and two results without IDs whose derived IDs collide (same unit,
 * station and start). Identical resends stay silent duplicates (test_duplicate_stored_once). */
static void test_conflicting_duplicates_told(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL;
	static const char *const ids[] = {"dl-conflict"};
	const struct expect by_id = {
	        EDGE "DL-CONFLICT/result/pb", CONFLICT, {"dl-conflict", "other content", NULL}};
	const struct expect by_derived = {
	        EDGE "DL-DERIVED/result/pb", CONFLICT, {"other content", "d-", NULL}};
	static const char *const sentinel[] = {"dl-conflict-sentinel"};
	long long n = -1;
	struct one m;

	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler), CT_OK);
	one_init(&m, "DL-CONFLICT", ids[0], "CELL-CONFLICT");
	publish_one(h, &m, "pb");
	m.result.result = CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_NOK; /* same ID, other verdict */
	publish_one(h, &m, "pb");
	/* No event IDs: ingest derives them from unit, station and start, which collide. */
	one_init(&m, "DL-DERIVED", "", "CELL-DERIVED");
	publish_one(h, &m, "pb");
	m.result.result = CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_NOK;
	publish_one(h, &m, "pb");
	one_init(&m, "DL-CONFLICT", sentinel[0], "CELL-CONFLICT-SENTINEL");
	publish_one(h, &m, "pb");
	check_dead_letter(h, &by_id);
	check_dead_letter(h, &by_derived);
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM station_visit WHERE "
	                                         "event_id = $1",
	                                         1, sentinel, 1, HARNESS_WAIT_MS),
	                 CT_OK);
	/* The first of each pair is what was stored: the OK. */
	assert_int_equal(harness_sql_long(h,
	                                  "SELECT count(*) FROM station_visit WHERE event_id = $1 "
	                                  "AND result = 1",
	                                  1, ids, &n),
	                 CT_OK);
	assert_int_equal(n, 1);
	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("deadletter", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_bad_inputs_are_dead_lettered,
	                                        harness_test_setup, harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_duplicate_stored_once, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_traveler_dead_letters, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_same_batch_duplicate_told, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_oversize_stopped_at_broker, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_conflicting_duplicates_told,
	                                        harness_test_setup, harness_test_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
