/* test_restart: the broker and PostgreSQL restart under a flowing stream, and nothing is lost
 * or stored twice.
 *
 * Broker: stopped cleanly (SIGTERM; Mosquitto saves its persistent sessions and their queued
 * messages) while messages sit in ingest's and traveler's queues and in flight, then started
 * again on the same port. The services must reconnect by themselves. The test's own
 * publisher (a clean session, like a simple gateway) has every message acknowledged before
 * the broker stops and reconnects afterwards, so any loss is the system's.
 *
 * PostgreSQL: stopped (fast shutdown: traveler's connection is cut mid-work) while the
 * stream flows; the stream goes on while it is down (traveler must keep receiving into its
 * spool and wait, not exit), then it is started again and traveler must reconnect and
 * store the backlog. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

#include "ct_error.h"
#include "ct_time.h"
#include "harness.h"

#define SITE        "RS"
#define RESULTS_PER 5
#define MEAS_PER    4
#define BURST_MSGS  50 /* messages published just before a restart */

#define ONLINE  CELLTHREAD__V1__SERVICE_STATE__SERVICE_STATE_ONLINE
#define OFFLINE CELLTHREAD__V1__SERVICE_STATE__SERVICE_STATE_OFFLINE

static int status_of(struct harness *h, const char *service)
{
	int state = -1;
	assert_int_equal(harness_service_status(h, service, "1", 10000, &state), CT_OK);
	return state;
}

static void test_broker_restart(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL;
	struct harness_stream s;
	const int n_msgs = 1200;
	int64_t t0;

	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler), CT_OK);
	assert_int_equal(
	        harness_stream_open(h, &s, "rsb", SITE, "RS-BROKER", RESULTS_PER, MEAS_PER), CT_OK);
	assert_int_equal(
	        harness_stream_flow(h, &s, n_msgs / 2, (long long)n_msgs * RESULTS_PER / 4), CT_OK);
	/* A burst, so the services have a backlog whatever their speed; everything published
	 * is the broker's responsibility once acknowledged. */
	assert_int_equal(harness_stream_publish(h, &s, BURST_MSGS), CT_OK);
	assert_int_equal(harness_stream_flush(&s), CT_OK);
	assert_int_equal(harness_stream_count(h, &s), CT_OK);
	printf("stopping the broker with %lld of %lld published results stored\n", s.stored,
	       (long long)s.published * RESULTS_PER);
	assert_true(s.stored < (long long)s.published * RESULTS_PER);
	assert_int_equal(harness_broker_stop(h), CT_OK);
	assert_true(harness_proc_is_alive(ingest));
	assert_true(harness_proc_is_alive(traveler));
	t0 = ct_mono_ms();
	assert_int_equal(harness_broker_start(h), CT_OK);

	/* A new connection for the rest of the stream; the services find their way back. */
	assert_int_equal(harness_stream_reconnect(h, &s), CT_OK);
	assert_int_equal(harness_stream_flow(h, &s, n_msgs, (long long)n_msgs * RESULTS_PER + 1),
	                 CT_OK);
	assert_int_equal(harness_stream_verify(h, &s), CT_OK);
	printf("all stored %.1f s after the broker came back\n",
	       (double)(ct_mono_ms() - t0) / 1000.0);
	harness_stream_close(&s);
	/* Both say ONLINE again (ct_mqtt publishes it on every connect) and OFFLINE once
	 * stopped. */
	assert_int_equal(status_of(h, "ingest"), ONLINE);
	assert_int_equal(status_of(h, "traveler"), ONLINE);
	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
	assert_int_equal(status_of(h, "ingest"), OFFLINE);
	assert_int_equal(status_of(h, "traveler"), OFFLINE);
	harness_pass(h);
}

static void test_postgres_restart(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL;
	struct harness_stream s;
	const int n_msgs = 1200;
	int64_t t0;

	assert_int_equal(harness_service_start(h, HARNESS_INGEST, "ingest-pg", NULL, &ingest),
	                 CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, "traveler-pg", NULL, &traveler),
	                 CT_OK);
	assert_int_equal(harness_stream_open(h, &s, "rsp", SITE, "RS-PG", RESULTS_PER, MEAS_PER),
	                 CT_OK);
	assert_int_equal(harness_stream_flow(h, &s, n_msgs, (long long)n_msgs * RESULTS_PER / 4),
	                 CT_OK);
	assert_int_equal(harness_stream_publish(h, &s, BURST_MSGS), CT_OK);
	assert_int_equal(harness_stream_count(h, &s), CT_OK);
	printf("stopping PostgreSQL with %lld of %lld published results stored\n", s.stored,
	       (long long)s.published * RESULTS_PER);
	assert_true(s.stored < (long long)s.published * RESULTS_PER);
	assert_int_equal(harness_pg_stop(h), CT_OK);

	/* The stream goes on into traveler's spool while the database is away; wait until
	 * ingest has taken all of it (the broker acknowledged it), then bring PostgreSQL back. */
	assert_int_equal(harness_stream_publish(h, &s, n_msgs / 4), CT_OK);
	assert_int_equal(harness_stream_flush(&s), CT_OK);
	assert_true(harness_proc_is_alive(traveler));
	t0 = ct_mono_ms();
	assert_int_equal(harness_pg_start(h), CT_OK);
	assert_true(harness_proc_is_alive(traveler));

	assert_int_equal(harness_stream_flow(h, &s, n_msgs, (long long)n_msgs * RESULTS_PER + 1),
	                 CT_OK);
	assert_int_equal(harness_stream_verify(h, &s), CT_OK);
	printf("all stored %.1f s after PostgreSQL came back\n",
	       (double)(ct_mono_ms() - t0) / 1000.0);
	harness_stream_close(&s);
	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("restart", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_broker_restart, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_postgres_restart, harness_test_setup,
	                                        harness_test_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
