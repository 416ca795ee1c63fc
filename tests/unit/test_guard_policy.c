/* Unit tests of guard_policy (services/broker-guard): client IDs bound to credentials, which
 * subscriptions may queue, where retained messages may stay, and filter coverage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "guard_policy.h"

static void client_ids(void **state)
{
	static const struct {
		const char *user, *id;
		bool allowed;
	} cases[] = {
	        {"ingest", "ingest", true},
	        {"ingest", "ingest-1", true},
	        {"ingest", "ingest-1.pub", true},
	        {"cli", "cli-4242", true},
	        {"ingest", "ingest.pub", true},
	        {"gateway", "ingest-1", false}, /* another service's session */
	        {"gateway", "cli-4242", false}, /* another credential's replies */
	        {"ingest", "ingest-", false},   /* nothing after the separator */
	        {"ingest", "ingestx", false},   /* a longer name, not this user */
	        {"ingest", "ingest_1", false},  /* '_' is not a separator */
	        {"ingest", "", false},          /* empty ID (MQTT 3.1.1 lets the broker pick) */
	        {"ingest", "INGEST-1", false},  /* case matters, as for the broker */
	        {"", "x", false},
	        {NULL, "ingest", false},
	        {"ingest", NULL, false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (guard_client_id_is_allowed(cases[i].user, cases[i].id) != cases[i].allowed)
			fail_msg("case %zu: user '%s' id '%s' should be %s", i,
			         cases[i].user ? cases[i].user : "(null)",
			         cases[i].id ? cases[i].id : "(null)",
			         cases[i].allowed ? "allowed" : "refused");
	}
}

static void filter_coverage(void **state)
{
	static const struct {
		const char *outer, *inner;
		bool covers;
	} cases[] = {
	        {"ct/v1/sys/status/#", "ct/v1/sys/status/ingest/1", true},
	        {"ct/v1/sys/status/#", "ct/v1/sys/status", true},
	        {"ct/v1/sys/status/#", "ct/v1/sys/status/#", true},
	        {"ct/v1/sys/status/#", "ct/v1/sys/#", false},
	        {"ct/v1/sys/status/#", "ct/v1/sys/+/x", false},
	        {"ct/v1/plant/+/+/+/command", "ct/v1/plant/S1/L1/COAT-C01/command", true},
	        {"ct/v1/plant/+/+/+/command", "ct/v1/plant/+/+/+/command", true},
	        {"ct/v1/plant/+/+/+/command", "ct/v1/plant/#", false},
	        {"ct/v1/plant/+/+/+/command", "ct/v1/plant/+/+/+/result", false},
	        {"ct/v1/plant/+/+/+/command", "ct/v1/plant/S1/L1/command", false},
	        {"ct/v1/plant/S1/+/+/command", "ct/v1/plant/+/L1/X/command", false},
	        {"ct/v1/sys/reply/%c/#", "ct/v1/sys/reply/cli-1/#", true},
	        {"ct/v1/sys/reply/%c/#", "ct/v1/sys/reply/cli-1/trace/7", true},
	        {"ct/v1/sys/reply/%c/#", "ct/v1/sys/reply/cli-2/#", false},
	        {"ct/v1/sys/reply/%c/#", "ct/v1/sys/reply/+/#", false},
	        {"ct/v1/sys/reply/%u/#", "ct/v1/sys/reply/cli/x", true},
	        {"a/b", "a/b/c", false},
	        {"a/b/c", "a/b", false},
	        {"#", "anything/at/all", true},
	        {"a//b", "a//b", true},
	        {"a/+/b", "a//b", true},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (guard_filter_covers(cases[i].outer, cases[i].inner, "cli", "cli-1") !=
		    cases[i].covers)
			fail_msg("case %zu: '%s' %s '%s'", i, cases[i].outer,
			         cases[i].covers ? "should cover" : "should not cover",
			         cases[i].inner);
	}
}

static void subscriptions_and_retain(void **state)
{
	struct guard_policy policy;
	char err[128];

	(void)state;
	assert_int_equal(guard_policy_init(&policy, "ingest traveler spc-gate",
	                                   "ct/v1/sys/status/# ct/v1/lot/#",
	                                   "ct/v1/sys/reply/%c/#  ct/v1/plant/+/+/+/command", err,
	                                   sizeof(err)),
	                 0);
	assert_true(guard_is_service_user(&policy, "traveler"));
	assert_true(guard_is_service_user(&policy, "spc-gate"));
	assert_false(guard_is_service_user(&policy, "spc"));
	assert_false(guard_is_service_user(&policy, "cli"));
	assert_false(guard_is_service_user(&policy, ""));

	/* Services queue what they subscribe to; others only their replies and commands. */
	assert_true(
	        guard_subscription_is_allowed(&policy, "ingest", "ingest-1", "ct/v1/edge/#", 1));
	assert_true(guard_subscription_is_allowed(&policy, "cli", "cli-7", "ct/v1/plant/#", 0));
	assert_false(guard_subscription_is_allowed(&policy, "cli", "cli-7", "ct/v1/plant/#", 1));
	assert_false(guard_subscription_is_allowed(&policy, "cli", "cli-7", "ct/v1/plant/#", 2));
	assert_true(guard_subscription_is_allowed(&policy, "cli", "cli-7",
	                                          "ct/v1/sys/reply/cli-7/#", 1));
	assert_false(guard_subscription_is_allowed(&policy, "cli", "cli-7",
	                                           "ct/v1/sys/reply/cli-8/#", 1));
	assert_true(guard_subscription_is_allowed(&policy, "gw-s1-l1", "gw-s1-l1",
	                                          "ct/v1/plant/S1/L1/+/command", 1));

	assert_true(guard_retain_is_allowed(&policy, "ct/v1/sys/status/ingest/1"));
	assert_true(guard_retain_is_allowed(&policy, "ct/v1/lot/electrolyte/E-1"));
	assert_false(guard_retain_is_allowed(&policy, "ct/v1/edge/S1/L1/FILL-01/result/pb"));
	assert_false(guard_retain_is_allowed(&policy, "ct/v1/plant/S1/L1/FILL-01/result"));
	guard_policy_cleanup(&policy);
	guard_policy_cleanup(&policy); /* twice is harmless */
}

static void bad_options(void **state)
{
	struct guard_policy policy;
	char err[128], many[40 * 4 + 1] = "";

	(void)state;
	assert_int_equal(guard_policy_init(&policy, "a", "ct/#/x", NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a valid topic filter"));
	assert_int_equal(guard_policy_init(&policy, "a", NULL, "ct/v1+/x", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "queued_topics"));
	for (int i = 0; i < 40; i++)
		memcpy(many + 4 * i, "a/b ", 4);
	assert_int_equal(guard_policy_init(&policy, "a", many, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than"));
	/* Empty lists: nothing retained, nothing queued for others. */
	assert_int_equal(guard_policy_init(&policy, NULL, NULL, "", err, sizeof(err)), 0);
	assert_false(guard_retain_is_allowed(&policy, "ct/v1/sys/status/x/1"));
	assert_false(guard_subscription_is_allowed(&policy, "x", "x", "a", 1));
	guard_policy_cleanup(&policy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(client_ids),
	        cmocka_unit_test(filter_coverage),
	        cmocka_unit_test(subscriptions_and_retain),
	        cmocka_unit_test(bad_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
