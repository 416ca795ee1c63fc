/* test_scaleout: two ct-ingest and two ct-traveler instances in one shared-subscription
 * group each, under load: the database holds exactly what was published, nothing lost and
 * nothing twice, and both instances of each did part of the work.
 *
 * This is the deployment's scale-out (docker-compose profile `scale`, docs/deployment.md):
 * instances differ only in `instance` (client ID, spool folder, status topic) and share
 * `share_group`, so the broker gives each message of a `$share/<group>/...` subscription to
 * one instance of the group. What would go wrong shows as follows:
 * - a message given to both instances: stored once (idempotency), but the second traveler
 *   counts it as a duplicate, so the sum of the instances' "duplicates ignored" is not 0;
 * - a message given to neither (or lost in an instance): the stored counts fall short;
 * - instances not sharing (a plain subscription beside the shared one): duplicates again;
 * - one instance doing all the work: its partner's stored count is 0.
 * The instances' own counts come from the line each logs at a clean stop ("stopping: stored
 * N events, M duplicates ignored"), so every instance must also exit 0 on SIGTERM.
 *
 * The second test stops one traveler instance (SIGTERM) in the middle of the stream and
 * starts it again later: its persistent session keeps its place in the group, what the
 * broker routes to it meanwhile waits for it, and the counts are exact again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "harness.h"

#define SITE        "SO"
#define RESULTS_PER 5 /* results per message */
#define MEAS_PER    4 /* measurements per result */
#define DOWN_MSGS   300
/* The broker's max_inflight_messages (deploy/scripts/broker-config.sh): at most this many
 * QoS 1 messages are unacknowledged towards one session at a time. */
#define BROKER_INFLIGHT 100

struct instances {
	struct harness_proc *ingest[2];
	struct harness_proc *traveler[2];
};

static void start_instances(struct harness *h, const char *tag, struct instances *in)
{
	static const char *const instance_env[2] = {"CT_INSTANCE=1", "CT_INSTANCE=2"};
	char name[48];

	for (int i = 0; i < 2; i++) {
		const char *ingest_env[] = {instance_env[i], "CT_SHARE_GROUP=ingest", NULL};
		const char *traveler_env[] = {instance_env[i], "CT_SHARE_GROUP=traveler", NULL};

		snprintf(name, sizeof(name), "ingest-%s%d", tag, i + 1);
		assert_int_equal(
		        harness_service_start(h, HARNESS_INGEST, name, ingest_env, &in->ingest[i]),
		        CT_OK);
		snprintf(name, sizeof(name), "traveler-%s%d", tag, i + 1);
		assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, name, traveler_env,
		                                       &in->traveler[i]),
		                 CT_OK);
	}
}

/* Adds up the counts of every "stopping: stored N events, M duplicates ignored" line in the
 * log (one per clean stop of the process). Fails the test when there is none. */
static void traveler_counts(const struct harness_proc *proc, long long *ret_stored,
                            long long *ret_dups)
{
	static const char marker[] = "stopping: stored ";
	char *log = NULL;
	size_t len = 0;
	int lines = 0;

	*ret_stored = 0;
	*ret_dups = 0;
	assert_int_equal(harness_read_file(proc->log_path, &log, &len), CT_OK);
	for (const char *p = strstr(log, marker); p != NULL; p = strstr(p + 1, marker)) {
		unsigned long long stored = 0, dups = 0;
		if (sscanf(p, "stopping: stored %llu events, %llu duplicates ignored", &stored,
		           &dups) != 2) {
			free(log);
			fail_msg("%s: cannot read its stopping line", proc->name);
		}
		*ret_stored += (long long)stored;
		*ret_dups += (long long)dups;
		lines++;
	}
	free(log);
	if (lines == 0)
		fail_msg("%s logged no \"stopping:\" line", proc->name);
}

/* ingest's "stopping: accepted N, ..." summed over its clean stops. */
static long long ingest_accepted(const struct harness_proc *proc)
{
	static const char marker[] = "stopping: accepted ";
	char *log = NULL;
	size_t len = 0;
	long long total = 0;
	int lines = 0;

	assert_int_equal(harness_read_file(proc->log_path, &log, &len), CT_OK);
	for (const char *p = strstr(log, marker); p != NULL; p = strstr(p + 1, marker)) {
		unsigned long long n = 0;
		if (sscanf(p, "stopping: accepted %llu", &n) == 1) {
			total += (long long)n;
			lines++;
		}
	}
	free(log);
	if (lines == 0)
		fail_msg("%s logged no \"stopping:\" line", proc->name);
	return total;
}

/* Stops all four with SIGTERM (exit 0 each, producers first) and checks the work split:
 * each instance did some, the travelers stored `events` together and saw at most
 * `max_dups` events delivered twice (the rows themselves are checked exactly by
 * harness_stream_verify before). */
static void stop_and_check_split(struct harness *h, struct instances *in, long long events,
                                 long long max_dups)
{
	long long stored[2], dups[2], accepted[2];

	for (int i = 0; i < 2; i++)
		assert_int_equal(harness_proc_stop(h, in->ingest[i]), CT_OK);
	for (int i = 0; i < 2; i++)
		assert_int_equal(harness_proc_stop(h, in->traveler[i]), CT_OK);
	for (int i = 0; i < 2; i++) {
		traveler_counts(in->traveler[i], &stored[i], &dups[i]);
		accepted[i] = ingest_accepted(in->ingest[i]);
	}
	printf("ingest instances accepted %lld + %lld results; traveler instances stored "
	       "%lld + %lld events (%lld + %lld duplicates); %lld events published\n",
	       accepted[0], accepted[1], stored[0], stored[1], dups[0], dups[1], events);
	assert_true(accepted[0] > 0 && accepted[1] > 0);
	assert_int_equal(accepted[0] + accepted[1], events);
	assert_true(stored[0] > 0 && stored[1] > 0);
	assert_int_equal(stored[0] + stored[1], events);
	assert_in_range(dups[0] + dups[1], 0, max_dups);
}

static void test_two_instances_under_load(void **state)
{
	struct harness *h = *state;
	struct instances in;
	struct harness_stream s;
	const int n_msgs = 3000;

	start_instances(h, "a", &in);
	assert_int_equal(harness_stream_open(h, &s, "so-a", SITE, "SO-A", RESULTS_PER, MEAS_PER),
	                 CT_OK);
	/* Everything at once, as fast as one connection publishes: the instances have a
	 * backlog from the first message to the last. */
	assert_int_equal(harness_stream_publish(h, &s, n_msgs), CT_OK);
	/* Exactly every event, visit, measurement and unit once, behind a sentinel. */
	assert_int_equal(harness_stream_verify(h, &s), CT_OK);
	harness_stream_close(&s);
	/* The stream's results and its sentinel are all the events of this test. */
	/* Nobody left the group: every message went to exactly one instance, once. */
	stop_and_check_split(h, &in, (long long)n_msgs * RESULTS_PER + 1, 0);
	harness_pass(h);
}

static void test_instance_restart_mid_stream(void **state)
{
	struct harness *h = *state;
	struct instances in;
	struct harness_stream s;
	const int n_msgs = 2000;
	const long long total = (long long)n_msgs * RESULTS_PER;
	long long before = 0;

	start_instances(h, "b", &in);
	assert_int_equal(harness_stream_open(h, &s, "so-b", SITE, "SO-B", RESULTS_PER, MEAS_PER),
	                 CT_OK);
	assert_int_equal(harness_stream_flow(h, &s, n_msgs, total / 3), CT_OK);
	/* Instance 2 leaves cleanly while the stream runs; the burst is published while it is
	 * away, so the broker has messages of the group to route meanwhile. */
	assert_int_equal(harness_proc_stop(h, in.traveler[1]), CT_OK);
	assert_int_equal(harness_stream_count(h, &s), CT_OK);
	before = s.stored;
	assert_int_equal(harness_stream_publish(h, &s, DOWN_MSGS), CT_OK);
	/* Instance 1 goes on storing alone. */
	assert_int_equal(harness_stream_flush(&s), CT_OK);
	{
		char like[64];
		const char *params[] = {like};
		long long now = 0;
		snprintf(like, sizeof(like), "%s-%%", s.prefix);
		assert_int_equal(
		        harness_sql_long(h, "SELECT count(*) FROM event WHERE event_id LIKE $1", 1,
		                         params, &now),
		        CT_OK);
		printf("traveler 2 stopped at %lld stored; %lld stored before it is back\n", before,
		       now);
	}
	assert_int_equal(harness_proc_restart(h, in.traveler[1], true), CT_OK);
	assert_int_equal(harness_stream_flow(h, &s, n_msgs, total + 1), CT_OK);
	assert_int_equal(harness_stream_verify(h, &s), CT_OK);
	harness_stream_close(&s);
	/* QoS 1 is at least once: messages the broker had sent to instance 2 whose PUBACK it
	 * had not yet read when instance 2 disconnected are sent again on its return (and
	 * ignored as duplicates). At most one in-flight window of canonical batches, each
	 * holding the RESULTS_PER events of one input message. */
	stop_and_check_split(h, &in, total + 1, (long long)BROKER_INFLIGHT * RESULTS_PER);
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("scaleout", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_two_instances_under_load, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_instance_restart_mid_stream,
	                                        harness_test_setup, harness_test_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
