/* test_fpy_report: the worked example service ct-fpy-report (docs/extending.md) on the real
 * broker with the registry's ACL and its own credential.
 *
 * - yields: VerdictBatch messages published as spc-gate (the only user the ACL lets publish
 *   verdicts) give exactly one StationYield per station and window on
 *   ct/v1/plant/{site}/{line}/{station}/fpy: units judged, units passed first time (the first
 *   verdict of a unit in the window counts; judged again, it counts once), the ratio, the
 *   window of verdict time, and the event ID derived from station and window start. A garbage
 *   payload and a verdict naming another station are dead-lettered on
 *   ct/v1/sys/deadletter/fpy-report, count nothing, and the service keeps running.
 * - kill -9: verdicts published before and while the service is killed are all counted after
 *   the restart, each unit once, in one yield with the same derived ID.
 *
 * Windows are 1 s of verdict time; the test dates its verdicts a few seconds ahead, so every
 * message is handled before its window closes (fpy.grace_s after its end), and waits for the
 * yields with deadlines, never for a fixed time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellthread/v1/example.pb-c.h"
#include "ct_error.h"
#include "ct_ids.h"
#include "ct_time.h"
#include "harness.h"

#define LINE    "L1"
#define SECOND  1000000LL
#define CODE(c) CELLTHREAD__V1__VERDICT_CODE__VERDICT_CODE_##c

static const char *const fpy_env[] = {"CT_FPY_INTERVAL_S=1", "CT_FPY_GRACE_S=2", NULL};

/* A verdict; at_us is its decided_at_us after the test's base (a window start). */
struct judged {
	const char *unit;
	int code;
	int64_t at_us;
};

/* Publishes one VerdictBatch with pub (connected as spc-gate) on site/LINE/station's verdict
 * topic; each verdict names verdict_station (normally station itself). One connection for
 * all, so the messages go out within milliseconds of each other. */
static void publish_verdicts(struct ct_mqtt *pub, const char *site, const char *station,
                             const char *verdict_station, int64_t base_us, const struct judged *j,
                             size_t n)
{
	Cellthread__V1__VerdictBatch batch = CELLTHREAD__V1__VERDICT_BATCH__INIT;
	Cellthread__V1__Verdict v[8], *vp[8];
	Cellthread__V1__Header hdr[8];
	char ids[8][48], topic[160];
	static unsigned seq;
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++) {
		cellthread__v1__verdict__init(&v[i]);
		cellthread__v1__header__init(&hdr[i]);
		snprintf(ids[i], sizeof(ids[i]), "v-fpy-it-%u", ++seq);
		hdr[i].event_id = ids[i];
		hdr[i].producer = (char *)"spc-gate-it";
		hdr[i].produced_at_us = ct_now_us();
		hdr[i].schema_version = 1;
		v[i].header = &hdr[i];
		v[i].unit_id = (char *)j[i].unit;
		v[i].unit_kind = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_CELL;
		v[i].site = (char *)site;
		v[i].line = (char *)LINE;
		v[i].station = (char *)verdict_station;
		v[i].verdict = (Cellthread__V1__VerdictCode)j[i].code;
		v[i].decided_at_us = base_us + j[i].at_us;
		vp[i] = &v[i];
	}
	batch.verdicts = vp;
	batch.n_verdicts = n;
	snprintf(topic, sizeof(topic), "ct/v1/plant/%s/" LINE "/%s/verdict", site, station);
	assert_int_equal(ct_pb_pack(&batch.base, &buf, &len), CT_OK);
	assert_int_equal(ct_mqtt_publish(pub, topic, buf, len, 1, false, HARNESS_WAIT_MS), CT_OK);
	free(buf);
}

/* What a yield must say; start_us is after the test's base. */
struct expect {
	const char *station;
	int64_t start_us;
	uint32_t judged, passed;
	bool seen;
};

/* Reads yields from sub until every one of want is seen; a yield of site not in want, or one
 * seen twice, fails the test (yields of other sites are skipped). */
static void expect_yields(struct harness_sub *sub, const char *site, int64_t base_us,
                          struct expect *want, size_t n)
{
	size_t seen = 0;

	while (seen < n) {
		Cellthread__V1__StationYield *y;
		const char *topic;
		const uint8_t *payload;
		size_t len;
		char id[CT_DERIVED_ID_MAX], start[24];
		bool found = false;

		assert_int_equal(harness_sub_next(sub, HARNESS_WAIT_MS, &topic, &payload, &len),
		                 CT_OK);
		y = cellthread__v1__station_yield__unpack(NULL, len, payload);
		assert_non_null(y);
		if (strcmp(y->site, site) != 0) {
			cellthread__v1__station_yield__free_unpacked(y, NULL);
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			const char *parts[] = {site, LINE, want[i].station, start};
			char want_topic[160];

			if (strcmp(y->station, want[i].station) != 0 ||
			    y->window_start_us != base_us + want[i].start_us)
				continue;
			if (want[i].seen)
				fail_msg("yield of %s at %lld published twice", y->station,
				         (long long)y->window_start_us);
			want[i].seen = found = true;
			snprintf(want_topic, sizeof(want_topic), "ct/v1/plant/%s/" LINE "/%s/fpy",
			         site, want[i].station);
			assert_string_equal(topic, want_topic);
			assert_string_equal(y->line, LINE);
			assert_int_equal(y->window_end_us, y->window_start_us + SECOND);
			assert_int_equal(y->units_judged, want[i].judged);
			assert_int_equal(y->units_passed_first, want[i].passed);
			assert_true(fabs(y->first_pass_yield -
			                 (double)want[i].passed / want[i].judged) < 1e-12);
			snprintf(start, sizeof(start), "%lld", (long long)y->window_start_us);
			assert_int_equal(ct_id_derive(id, sizeof(id), "fpy-", parts, 4), CT_OK);
			assert_string_equal(y->header->event_id, id);
			assert_string_equal(y->header->producer, "fpy-report-1");
		}
		if (!found)
			fail_msg("unexpected yield of %s at %lld", y->station,
			         (long long)y->window_start_us);
		cellthread__v1__station_yield__free_unpacked(y, NULL);
		seen++;
	}
}

/* A window start a few seconds ahead (verdict time), so everything is handled in time. */
static int64_t window_ahead(int64_t seconds)
{
	return (ct_now_us() / SECOND + seconds) * SECOND;
}

static void test_yields_and_dead_letters(void **state)
{
	struct harness *h = *state;
	struct harness_proc *svc = NULL;
	struct harness_sub *yields = NULL, *dead = NULL;
	struct ct_mqtt *pub = NULL;
	int64_t w;
	const struct judged f1_first[] = {
	        {"C1", CODE(PASS), 10}, {"C2", CODE(FAIL), 20}, {"C3", CODE(PASS), 30}};
	/* C2 judged again PASS and C1 again FAIL: their first verdicts stand. */
	const struct judged f1_again[] = {
	        {"C2", CODE(PASS), 40}, {"C4", CODE(REWORK), 50}, {"C1", CODE(FAIL), 60}};
	const struct judged f2[] = {{"C1", CODE(PASS), 70}, {"C5", CODE(PASS), 80}};
	/* The next second of verdict time is the next window. */
	const struct judged f1_next[] = {{"C9", CODE(SCRAP), SECOND + 5}};
	const struct judged wrong[] = {{"C7", CODE(PASS), 90}};
	struct expect want[] = {
	        {"F1", 0, 4, 2, false},
	        {"F2", 0, 2, 2, false},
	        {"F1", SECOND, 1, 0, false},
	};
	const char *topic;
	const uint8_t *payload;
	size_t len;
	int reasons = 0;

	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/plant/+/+/+/fpy", &yields), CT_OK);
	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/sys/deadletter/fpy-report", &dead),
	                 CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_FPYREPORT, NULL, fpy_env, &svc), CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "spc-gate", &pub), CT_OK);
	w = window_ahead(3);
	assert_int_equal(ct_mqtt_publish(pub, "ct/v1/plant/FPY/" LINE "/F1/verdict",
	                                 "not protobuf \xff\xff", 15, 1, false, HARNESS_WAIT_MS),
	                 CT_OK);
	publish_verdicts(pub, "FPY", "F1", "F1", w, f1_first, 3);
	publish_verdicts(pub, "FPY", "F1", "F2", w, wrong, 1); /* names F2 on F1's topic */
	publish_verdicts(pub, "FPY", "F1", "F1", w, f1_again, 3);
	publish_verdicts(pub, "FPY", "F2", "F2", w, f2, 2);
	publish_verdicts(pub, "FPY", "F1", "F1", w, f1_next, 1);
	assert_int_equal(ct_mqtt_flush(pub, HARNESS_WAIT_MS), CT_OK);

	/* Both refused messages are dead-lettered, each with its reason. */
	for (int i = 0; i < 2; i++) {
		Cellthread__V1__DeadLetter *dl;

		assert_int_equal(harness_sub_next(dead, HARNESS_WAIT_MS, &topic, &payload, &len),
		                 CT_OK);
		dl = cellthread__v1__dead_letter__unpack(NULL, len, payload);
		assert_non_null(dl);
		assert_string_equal(dl->service, "fpy-report");
		assert_string_equal(dl->source_topic, "ct/v1/plant/FPY/" LINE "/F1/verdict");
		if (dl->reason_code ==
		    CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_DECODE)
			reasons |= 1;
		if (dl->reason_code ==
		    CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_INVALID)
			reasons |= 2;
		cellthread__v1__dead_letter__free_unpacked(dl, NULL);
	}
	assert_int_equal(reasons, 3);

	expect_yields(yields, "FPY", w, want, sizeof(want) / sizeof(want[0]));
	assert_true(harness_proc_is_alive(svc));
	ct_mqtt_free(pub);
	harness_sub_free(yields);
	harness_sub_free(dead);
	harness_pass(h);
}

static void test_kill9_counts_once(void **state)
{
	struct harness *h = *state;
	struct harness_proc *svc = NULL;
	struct harness_sub *yields = NULL;
	struct ct_mqtt *pub = NULL;
	int64_t w;
	const struct judged before[] = {{"K1", CODE(PASS), 10}, {"K2", CODE(FAIL), 20}};
	const struct judged during[] = {{"K2", CODE(PASS), 30}, {"K3", CODE(PASS), 40}};
	struct expect want[] = {{"F1", 0, 3, 2, false}};

	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/plant/KILL/+/+/fpy", &yields), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_FPYREPORT, NULL, fpy_env, &svc), CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "spc-gate", &pub), CT_OK);
	/* The window closes well after the restart: what is proven is that nothing published
	 * before or during the kill is lost or counted twice. */
	w = window_ahead(8);
	publish_verdicts(pub, "KILL", "F1", "F1", w, before, 2);
	assert_int_equal(ct_mqtt_flush(pub, HARNESS_WAIT_MS), CT_OK);
	/* Handled or not yet: either way only the spool or the broker's queue holds them. */
	assert_int_equal(harness_proc_kill(h, svc), CT_OK);
	publish_verdicts(pub, "KILL", "F1", "F1", w, during, 2);
	assert_int_equal(ct_mqtt_flush(pub, HARNESS_WAIT_MS), CT_OK);
	assert_int_equal(harness_proc_restart(h, svc, true), CT_OK);
	expect_yields(yields, "KILL", w, want, 1);
	ct_mqtt_free(pub);
	harness_sub_free(yields);
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("fpy-report", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_yields_and_dead_letters, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_kill9_counts_once, harness_test_setup,
	                                        harness_test_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
