/* test_kill9: SIGKILL a service in the middle of a stream; after restarts the database holds
 * exactly what was published, nothing lost and nothing twice.
 *
 * The test publishes a stream of result batches as a gateway, at most a fixed number of
 * results ahead of what is stored (harness_stream_flow), so the services always have work
 * in hand. When the stored count passes a kill point, the service is SIGKILLed at once:
 * records spooled but not committed, a transaction open, publishes unacknowledged. More is
 * published while it is dead (the broker queues for its persistent session), it is
 * restarted and the stream goes on. At the end every event, visit, measurement and unit of
 * the stream is stored exactly once (harness_stream_verify). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

#include "ct_error.h"
#include "ct_time.h"
#include "harness.h"

#define SITE        "K9"
#define RESULTS_PER 5   /* results per message */
#define MEAS_PER    4   /* measurements per result */
#define DOWN_MSGS   100 /* messages published while the killed service is down */
#define BURST_MSGS  50  /* messages published just before a kill */

struct kill_point {
	long long at_results; /* kill when at least this many results are stored */
	struct harness_proc *victim;
};

static void stream_with_kills(struct harness *h, const char *prefix, const char *station,
                              int n_msgs, const struct kill_point *kills, size_t n_kills)
{
	const long long total = (long long)n_msgs * RESULTS_PER;
	struct harness_stream s;

	assert_int_equal(harness_stream_open(h, &s, prefix, SITE, station, RESULTS_PER, MEAS_PER),
	                 CT_OK);
	for (size_t k = 0; k < n_kills; k++) {
		struct harness_proc *victim = kills[k].victim;
		int64_t t0;

		assert_int_equal(harness_stream_flow(h, &s, n_msgs, kills[k].at_results), CT_OK);
		if (s.stored < kills[k].at_results)
			fail_msg("the stream ended before kill point %zu (%lld stored)", k + 1,
			         s.stored);
		/* A burst right before the kill: whatever the relative speed of publisher and
		 * services, the victim has a backlog when it dies. */
		assert_int_equal(harness_stream_publish(h, &s, BURST_MSGS), CT_OK);
		assert_true(harness_proc_is_alive(victim));
		assert_int_equal(harness_proc_kill(h, victim), CT_OK);
		assert_int_equal(harness_stream_count(h, &s), CT_OK);
		printf("kill %zu: SIGKILL %s with %lld of %lld results stored, %lld published\n",
		       k + 1, victim->name, s.stored, total, (long long)s.published * RESULTS_PER);
		/* Some but not all: the kill is mid-stream. */
		assert_true(s.stored > 0 && s.stored < (long long)s.published * RESULTS_PER);
		assert_int_equal(harness_stream_publish(h, &s, DOWN_MSGS), CT_OK);
		t0 = ct_mono_ms();
		assert_int_equal(harness_proc_restart(h, victim, true), CT_OK);
		printf("        %s restarted and ready in %.2f s\n", victim->name,
		       (double)(ct_mono_ms() - t0) / 1000.0);
	}
	assert_int_equal(harness_stream_flow(h, &s, n_msgs, total + 1), CT_OK);
	assert_int_equal(harness_stream_verify(h, &s), CT_OK);
	harness_stream_close(&s);
}

static void test_kill9_traveler(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL;
	const int n_msgs = 1500;
	const long long total = (long long)n_msgs * RESULTS_PER;
	struct kill_point kills[3];

	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler), CT_OK);
	kills[0] = (struct kill_point){total / 10, traveler};
	kills[1] = (struct kill_point){total * 4 / 10, traveler};
	kills[2] = (struct kill_point){total * 7 / 10, traveler};
	stream_with_kills(h, "k9t", "K9-T", n_msgs, kills, 3);
	assert_int_equal(traveler->starts, 4);
	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
	harness_pass(h);
}

static void test_kill9_ingest(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL;
	const int n_msgs = 1000;
	const long long total = (long long)n_msgs * RESULTS_PER;
	struct kill_point kills[2];

	assert_int_equal(harness_service_start(h, HARNESS_INGEST, "ingest-k", NULL, &ingest),
	                 CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, "traveler-k", NULL, &traveler),
	                 CT_OK);
	/* Ingest, then traveler right after it, in the same stream. */
	kills[0] = (struct kill_point){total * 3 / 10, ingest};
	kills[1] = (struct kill_point){total * 6 / 10, traveler};
	stream_with_kills(h, "k9i", "K9-I", n_msgs, kills, 2);
	assert_int_equal(ingest->starts, 2);
	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("kill9", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_kill9_traveler, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_kill9_ingest, harness_test_setup,
	                                        harness_test_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
