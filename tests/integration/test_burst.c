/* test_burst: a burst far larger than Mosquitto's default per-client queue (1000 messages)
 * reaches the database whole while the consumers are offline.
 *
 * ingest and traveler run once to create their persistent sessions and stop cleanly. The
 * test publishes BURST messages as fast as flow control allows: all of them queue in the
 * broker for ingest's offline session. Then ingest starts and turns them into canonical
 * messages, which queue for traveler's offline session; a cli subscriber counts them, so
 * the test knows all BURST are queued before traveler starts. Then traveler starts and
 * every one must be stored: with the default max_queued_messages most would be dropped
 * silently, so this proves the broker configuration and the services' flow control. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_time.h"
#include "harness.h"

#define SITE  "BURST"
#define BURST 20000

static void publish_burst(struct harness *h)
{
	struct harness_simple spec = {SITE, "L1", "BURST-01", "burst-gateway", 1, 0};
	const char *topic = "ct/v1/edge/" SITE "/L1/BURST-01/result/pb";
	struct ct_mqtt *pub = NULL;
	int64_t t0 = ct_mono_ms();

	assert_int_equal(harness_mqtt_connect(h, "gateway", &pub), CT_OK);
	for (int i = 0; i < BURST; i++) {
		char id[32], unit[32];
		const char *ids[] = {id}, *units[] = {unit};
		uint8_t *buf = NULL;
		size_t len = 0;

		snprintf(id, sizeof(id), "burst-%06d", i);
		snprintf(unit, sizeof(unit), "BURST-CELL-%06d", i);
		assert_int_equal(harness_simple_batch(&spec, ids, units, 1, &buf, &len), CT_OK);
		assert_int_equal(ct_mqtt_publish(pub, topic, buf, len, 1, false, 60000), CT_OK);
		free(buf);
	}
	assert_int_equal(ct_mqtt_flush(pub, 120000), CT_OK);
	ct_mqtt_free(pub);
	printf("published %d messages in %.1f s\n", BURST, (double)(ct_mono_ms() - t0) / 1000.0);
}

static void test_burst_while_consumers_offline(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL;
	struct harness_sub *watch = NULL;
	int64_t t0;
	long long n = -1;

	/* Persistent sessions for both, then both offline. */
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler), CT_OK);
	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);

	publish_burst(h);

	/* Everything ingest publishes while traveler is offline: counted by an online reader. */
	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/plant/" SITE "/#", &watch), CT_OK);
	t0 = ct_mono_ms();
	assert_int_equal(harness_proc_restart(h, ingest, true), CT_OK);
	for (int i = 0; i < BURST; i++) {
		const char *topic;
		const uint8_t *payload;
		size_t len;
		if (harness_sub_next(watch, HARNESS_WAIT_MS, &topic, &payload, &len) != CT_OK) {
			harness_print_logs(h);
			fail_msg("ingest published only %d of %d canonical messages", i, BURST);
		}
	}
	printf("ingest drained its queue of %d in %.1f s\n", BURST,
	       (double)(ct_mono_ms() - t0) / 1000.0);
	harness_sub_free(watch);
	assert_int_equal(harness_sql_long(h, "SELECT count(*) FROM event", 0, NULL, &n), CT_OK);
	assert_int_equal(n, 0);

	t0 = ct_mono_ms();
	assert_int_equal(harness_proc_restart(h, traveler, true), CT_OK);
	assert_int_equal(harness_wait_sql_count(h,
	                                        "SELECT count(*) FROM station_visit WHERE site = "
	                                        "'" SITE "'",
	                                        BURST, HARNESS_WAIT_MS),
	                 CT_OK);
	printf("traveler stored %d in %.1f s\n", BURST, (double)(ct_mono_ms() - t0) / 1000.0);
	assert_int_equal(harness_wait_sql_count(h,
	                                        "SELECT count(*) FROM measurement WHERE site = "
	                                        "'" SITE "'",
	                                        BURST, HARNESS_WAIT_MS),
	                 CT_OK);
	assert_int_equal(
	        harness_sql_long(h,
	                         "SELECT count(DISTINCT event_id) FROM event WHERE event_id "
	                         "LIKE 'burst-%'",
	                         0, NULL, &n),
	        CT_OK);
	assert_int_equal(n, BURST);
	assert_int_equal(harness_sql_long(h, "SELECT count(*) FROM dead_letter", 0, NULL, &n),
	                 CT_OK);
	assert_int_equal(n, 0);

	/* The broker says so too: it logs when it drops messages for a client. */
	{
		char path[HARNESS_PATH_MAX], *log = NULL;
		snprintf(path, sizeof(path), "%s/mosquitto.log", h->broker_dir);
		assert_int_equal(harness_read_file(path, &log, NULL), CT_OK);
		if (strstr(log, "dropped") != NULL || strstr(log, "Dropped") != NULL)
			fail_msg("the broker log reports dropped messages");
		free(log);
	}
	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("burst", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_burst_while_consumers_offline,
	                                        harness_test_setup, harness_test_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
