/* test_alert_webhook: webhook delivery end to end, through the real ct-alert-router (a routes
 * file with `channel=webhook target=http://127.0.0.1:PORT/hook`, Alerts published as spc-gate)
 * to a local test receiver (http_receiver.h), with short webhook timeouts and backoff
 * (CT_WEBHOOK_*). Every test checks the receiver against the outbox: every delivery of the
 * subscription arrived, the body's delivery_id is the Idempotency-Key header, its alert_id and
 * action are the outbox row's, per alert key in the order the router decided them (the
 * outbox's delivery_seq), and each idempotency key once after dropping repeats.
 *
 * - receiver up: 6 alerts raised, 3 acknowledged, 4 cleared: all 13 deliveries arrive at the
 *   first attempt, with state, severity and code in the body, per alert RAISE < ACK < CLEAR.
 * - receiver down (stopped) while 20 alerts raise and clear (5 of them return as occurrence 2
 *   and clear again), retried with backoff meanwhile; back on the same port: every one of the
 *   50 deliveries arrives in order of occurrence, each key once; every row delivered, several
 *   after more than one attempt.
 * - kill -9 of the router while the receiver hangs (past webhook.timeout_ms) with requests in
 *   flight and rows pending, clears published while it is dead: after the restart everything
 *   arrives (the leased rows once their lease runs out), each key once after dropping repeats
 *   (repeats are allowed there; their number is printed).
 * - give-up: webhook.give_up_s = 3 and a receiver answering 503: the row gets gave_up_at, the
 *   router raises WEBHOOK_GAVE_UP (source alert-router, object_kind service, object_id
 *   alert-router/<subscription>), which reaches an MQTT team route (kinds=service) on its
 *   team topic; once the receiver accepts again and a later delivery succeeds, the alert
 *   clears (the team topic gets the CLEAR).
 *
 * Waits on conditions with deadlines (database counts, receiver counts, messages), never for a
 * fixed time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_it.h"
#include "cellthread/v1/alert.pb-c.h"
#include "cellthread/v1/control.pb-c.h"
#include "ct_error.h"
#include "ct_time.h"
#include "harness.h"
#include "http_receiver.h"

#define WAIT HARNESS_WAIT_MS

/* Short timeouts and backoff: an outage of a second or two is retried several times. */
#define WEBHOOK_ENV                                                                                \
	"CT_WEBHOOK_TIMEOUT_MS=1000", "CT_WEBHOOK_BACKOFF_BASE_MS=100",                            \
	        "CT_WEBHOOK_BACKOFF_MAX_MS=800", "CT_ROUTER_FLOOD_ON=100000"

/* The test's receiver, freed by the teardown when a failed assertion left the test early. */
static struct http_receiver *test_receiver;

/* A receiver on a free port and the routes: the webhook subscription `sub` posting to its
 * /hook, for the alerts of site AR, plus extra (more lines, may be ""); *ret_env the routes'
 * environment string (alert_it_write_routes). */
static struct http_receiver *receiver_and_routes(struct harness *h, const char *sub,
                                                 const char *extra, const char **ret_env)
{
	struct http_receiver *r = NULL;
	char url[128], routes[512];

	assert_int_equal(http_receiver_start(0, &r), CT_OK);
	test_receiver = r;
	http_receiver_url(r, "/hook", url, sizeof(url));
	snprintf(routes, sizeof(routes),
	         "id=%s team=hooks severity=LOW filter=AR/# channel=webhook target=%s\n%s", sub,
	         url, extra);
	*ret_env = alert_it_write_routes(h, routes);
	return r;
}

/* Waits until sql (with the subscription as $1) counts expected (alert_it_wait_count). */
static void wait_sub(struct harness *h, const char *sql, const char *sub, long long expected)
{
	alert_it_wait_count(h, sql, 1, (const char *[]){sub}, expected);
}

static void wait_distinct(struct harness *h, struct http_receiver *r, const char *sub, size_t n)
{
	if (http_receiver_wait_distinct(r, n, WAIT) != CT_OK) {
		alert_it_dump_outbox(h, sub);
		fail_msg("the receiver accepted %zu distinct keys, expected %zu",
		         http_receiver_distinct_keys(r), n);
	}
}

/* Publishes an Alert as spc-gate on AR/L1/<station> (active or cleared). */
static void publish_alert(struct ct_mqtt *pub, const char *event_id, const char *station,
                          const char *code, bool active)
{
	alert_it_publish(pub, &(struct alert_it_alert){.event_id = event_id,
	                                               .station = station,
	                                               .code = code,
	                                               .text = "webhook test alert",
	                                               .state = active ? ALERT_IT_ACTIVE
	                                                               : ALERT_IT_CLEARED});
}

/* The order of an action within one occurrence, as the tests make them. */
static int action_rank(const char *action)
{
	return strcmp(action, "RAISE") == 0 ? 0 : strcmp(action, "ACK") == 0 ? 1 : 2;
}

static bool state_fits(const char *action, const char *state)
{
	if (strcmp(action, "RAISE") == 0)
		return strcmp(state, "ACTIVE_UNACK") == 0;
	if (strcmp(action, "ACK") == 0)
		return strcmp(state, "ACTIVE_ACK") == 0 || strcmp(state, "NORMAL") == 0;
	if (strcmp(action, "CLEAR") == 0)
		return strcmp(state, "NORMAL") == 0 || strcmp(state, "CLEARED_UNACK") == 0;
	return false;
}

struct received {
	size_t distinct; /* accepted deliveries after dropping repeats */
	size_t repeats;  /* accepted again (dropped) */
	size_t requests; /* every request, whatever was answered */
	size_t raise, ack, clear;
};

/* Checks what the receiver accepted against the subscription's outbox (its rows not given
 * up): every row accepted, each key once after dropping repeats; every accepted request a row
 * of the outbox (path /hook, JSON, Idempotency-Key = delivery_id, the row's alert_id and
 * action, the body's state fitting the action, severity high, code code_prefix*); per alert
 * key in the order of the outbox (delivery_seq: the order the router decided them), and per
 * alert RAISE < ACK < CLEAR. */
static void check_received(struct harness *h, struct http_receiver *r, const char *sub,
                           const char *code_prefix, struct received *ret)
{
	PGresult *res = NULL;
	json_t *rows = json_object(), *last_seq = json_object(), *last_rank = json_object();
	size_t n_rows;

	memset(ret, 0, sizeof(*ret));
	assert_int_equal(harness_sql(h,
	                             "SELECT delivery_id, alert_key, delivery_seq, alert_id, action"
	                             " FROM alert_delivery WHERE subscription_id = $1"
	                             " AND gave_up_at IS NULL",
	                             1, (const char *[]){sub}, &res),
	                 CT_OK);
	n_rows = (size_t)PQntuples(res);
	for (int i = 0; i < PQntuples(res); i++)
		json_object_set_new(
		        rows, PQgetvalue(res, i, 0),
		        json_pack("{s:s,s:I,s:s,s:s}", "key", PQgetvalue(res, i, 1), "seq",
		                  (json_int_t)strtoll(PQgetvalue(res, i, 2), NULL, 10), "alert",
		                  PQgetvalue(res, i, 3), "action", PQgetvalue(res, i, 4)));
	PQclear(res);

	ret->requests = http_receiver_count(r);
	for (size_t i = 0; i < ret->requests; i++) {
		struct http_record rec;
		json_error_t jerr;
		json_t *body, *row;
		const char *id, *alert, *action, *state, *severity, *code, *key;
		json_int_t seq;

		assert_int_equal(http_receiver_record(r, i, &rec), CT_OK);
		if (!rec.accepted || rec.repeat) {
			ret->repeats += rec.repeat;
			http_record_cleanup(&rec);
			continue;
		}
		assert_string_equal(rec.path, "/hook");
		assert_string_equal(rec.content_type, "application/json");
		body = json_loads(rec.body, 0, &jerr);
		if (body == NULL)
			fail_msg("body is not JSON: %s (%s)", jerr.text, rec.body);
		id = json_string_value(json_object_get(body, "delivery_id"));
		alert = json_string_value(json_object_get(body, "alert_id"));
		action = json_string_value(json_object_get(body, "action"));
		state = json_string_value(json_object_get(body, "state"));
		severity = json_string_value(json_object_get(body, "severity"));
		code = json_string_value(json_object_get(body, "code"));
		if (id == NULL || alert == NULL || action == NULL || state == NULL ||
		    severity == NULL || code == NULL)
			fail_msg("body lacks a field: %s", rec.body);
		assert_string_equal(rec.idempotency_key, id);
		row = json_object_get(rows, id);
		if (row == NULL)
			fail_msg("delivery %s accepted, but it is not in the outbox", id);
		assert_string_equal(alert, json_string_value(json_object_get(row, "alert")));
		assert_string_equal(action, json_string_value(json_object_get(row, "action")));
		assert_string_equal(json_string_value(json_object_get(body, "subscription")), sub);
		if (!state_fits(action, state))
			fail_msg("delivery %s: action %s with state %s", id, action, state);
		assert_string_equal(severity, "high");
		assert_memory_equal(code, code_prefix, strlen(code_prefix));
		/* In order per alert key (occurrences included) and per alert. */
		key = json_string_value(json_object_get(row, "key"));
		seq = json_integer_value(json_object_get(row, "seq"));
		if (json_integer_value(json_object_get(last_seq, key)) >= seq)
			fail_msg("delivery %s (seq %lld) came after seq %lld of its alert key", id,
			         (long long)seq,
			         (long long)json_integer_value(json_object_get(last_seq, key)));
		json_object_set_new(last_seq, key, json_integer(seq));
		json_t *rank = json_object_get(last_rank, alert);
		if (rank != NULL && json_integer_value(rank) >= action_rank(action))
			fail_msg("alert %s: %s came after a later action", alert, action);
		json_object_set_new(last_rank, alert, json_integer(action_rank(action)));
		ret->raise += strcmp(action, "RAISE") == 0;
		ret->ack += strcmp(action, "ACK") == 0;
		ret->clear += strcmp(action, "CLEAR") == 0;
		ret->distinct++;
		json_decref(body);
		http_record_cleanup(&rec);
	}
	/* Every row of the outbox reached the receiver, each once after dropping repeats. */
	const char *id;
	json_t *row;
	json_object_foreach(rows, id, row) if (!http_receiver_key_accepted(r, id, NULL))
	        fail_msg("delivery %s never reached the receiver", id);
	assert_int_equal(ret->distinct, n_rows);
	assert_int_equal(http_receiver_distinct_keys(r), n_rows);
	json_decref(rows);
	json_decref(last_seq);
	json_decref(last_rank);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_receiver_up(void **state)
{
	struct harness *h = *state;
	struct harness_proc *router = NULL;
	struct harness_sub *replies = NULL;
	struct ct_mqtt *gate = NULL, *cli = NULL;
	struct received got;
	const char *sub = "hook-up";
	const char *env[] = {NULL, WEBHOOK_ENV, NULL};
	char id[48], station[16];
	PGresult *res = NULL;

	receiver_and_routes(h, sub, "", &env[0]);
	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/sys/reply/+/alerts/#", &replies), CT_OK);
	assert_int_equal(
	        harness_service_start(h, HARNESS_ALERTROUTER, "alert-router-up", env, &router),
	        CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "spc-gate", &gate), CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "cli", &cli), CT_OK);

	/* 6 raised; 0..2 acknowledged; then 0, 1, 3, 4 cleared (0 and 1 after their ACK). */
	for (int i = 0; i < 6; i++) {
		snprintf(station, sizeof(station), "U%02d", i);
		snprintf(id, sizeof(id), "up-raise-%d", i);
		publish_alert(gate, id, station, "TEST_HOOK_UP", true);
	}
	wait_sub(h,
	         "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	         " AND action = 'RAISE'",
	         sub, 6);
	assert_int_equal(harness_sql(h,
	                             "SELECT alert_id FROM alert WHERE code = 'TEST_HOOK_UP'"
	                             " ORDER BY station",
	                             0, NULL, &res),
	                 CT_OK);
	assert_int_equal(PQntuples(res), 6);
	for (int i = 0; i < 3; i++)
		alert_it_act_ok(cli, replies, PQgetvalue(res, i, 0),
		                CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_ACK, "seen");
	PQclear(res);
	for (int i = 0; i < 5; i++) {
		if (i == 2)
			continue;
		snprintf(station, sizeof(station), "U%02d", i);
		snprintf(id, sizeof(id), "up-clear-%d", i);
		publish_alert(gate, id, station, "TEST_HOOK_UP", false);
	}

	wait_sub(h,
	         "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	         " AND delivered_at IS NOT NULL",
	         sub, 13);
	wait_distinct(h, test_receiver, sub, 13);
	check_received(h, test_receiver, sub, "TEST_HOOK_UP", &got);
	assert_int_equal(got.raise, 6);
	assert_int_equal(got.ack, 3);
	assert_int_equal(got.clear, 4);
	/* Up all along: each at its first attempt, nothing sent twice. */
	assert_int_equal(got.repeats, 0);
	assert_int_equal(got.requests, 13);
	assert_int_equal(
	        alert_it_count(h,
	                       "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	                       " AND attempts = 1 AND last_error IS NULL AND channel = 'webhook'",
	                       1, (const char *[]){sub}),
	        13);
	ct_mqtt_free(gate);
	ct_mqtt_free(cli);
	harness_sub_free(replies);
	harness_pass(h);
}

static void test_receiver_down_then_back(void **state)
{
	struct harness *h = *state;
	struct harness_proc *router = NULL;
	struct ct_mqtt *gate = NULL;
	struct http_receiver *r;
	struct received got;
	const char *sub = "hook-down";
	const char *env[] = {NULL, WEBHOOK_ENV, NULL};
	char id[48], station[16];

	r = receiver_and_routes(h, sub, "", &env[0]);
	http_receiver_stop(r);
	assert_int_equal(
	        harness_service_start(h, HARNESS_ALERTROUTER, "alert-router-down", env, &router),
	        CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "spc-gate", &gate), CT_OK);

	/* 20 alerts raised and cleared; every fourth returns (occurrence 2) and clears again:
	 * 50 deliveries, 4 per returning alert key. */
	for (int i = 0; i < 20; i++) {
		snprintf(station, sizeof(station), "D%02d", i);
		snprintf(id, sizeof(id), "down-raise-%d", i);
		publish_alert(gate, id, station, "TEST_HOOK_DOWN", true);
		snprintf(id, sizeof(id), "down-clear-%d", i);
		publish_alert(gate, id, station, "TEST_HOOK_DOWN", false);
		if (i % 4 == 0) {
			snprintf(id, sizeof(id), "down-raise2-%d", i);
			publish_alert(gate, id, station, "TEST_HOOK_DOWN", true);
			snprintf(id, sizeof(id), "down-clear2-%d", i);
			publish_alert(gate, id, station, "TEST_HOOK_DOWN", false);
		}
	}
	wait_sub(h, "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1", sub, 50);
	/* Down for a while: the alerts' first rows were tried and retried with backoff. */
	wait_sub(h,
	         "SELECT least(count(*), 8) FROM alert_delivery WHERE subscription_id = $1"
	         " AND attempts >= 3",
	         sub, 8);
	assert_int_equal(
	        alert_it_count(h,
	                       "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	                       " AND delivered_at IS NOT NULL",
	                       1, (const char *[]){sub}),
	        0);
	assert_int_equal(http_receiver_count(r), 0);

	assert_int_equal(http_receiver_restart(r), CT_OK);
	wait_sub(h,
	         "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	         " AND delivered_at IS NOT NULL",
	         sub, 50);
	wait_distinct(h, r, sub, 50);
	check_received(h, r, sub, "TEST_HOOK_DOWN", &got);
	assert_int_equal(got.raise, 25);
	assert_int_equal(got.clear, 25);
	assert_int_equal(got.repeats, 0);
	/* Several needed more than one attempt, and say why the earlier ones failed. */
	long long retried =
	        alert_it_count(h,
	                       "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	                       " AND attempts > 1 AND last_error IS NOT NULL",
	                       1, (const char *[]){sub});
	printf("receiver down: %lld of 50 deliveries needed more than one attempt\n", retried);
	assert_true(retried >= 8);
	ct_mqtt_free(gate);
	harness_pass(h);
}

static void test_kill9_with_receiver_hanging(void **state)
{
	struct harness *h = *state;
	struct harness_proc *router = NULL;
	struct ct_mqtt *gate = NULL;
	struct http_receiver *r;
	struct received got;
	const char *sub = "hook-kill";
	const char *env[] = {NULL, WEBHOOK_ENV, NULL};
	char id[48], station[16];

	r = receiver_and_routes(h, sub, "", &env[0]);
	/* Slower than webhook.timeout_ms (1 s): every request times out. */
	http_receiver_set_hang_ms(r, 60000);
	http_receiver_set_mode(r, HTTP_RECEIVER_HANG);
	assert_int_equal(
	        harness_service_start(h, HARNESS_ALERTROUTER, "alert-router-kill", env, &router),
	        CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "spc-gate", &gate), CT_OK);
	for (int i = 0; i < 12; i++) {
		snprintf(station, sizeof(station), "K%02d", i);
		snprintf(id, sizeof(id), "kill-raise-%d", i);
		publish_alert(gate, id, station, "TEST_HOOK_KILL", true);
	}
	wait_sub(h, "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1", sub, 12);
	/* Requests in flight (webhook.parallel: 8), rows pending and leased. */
	if (http_receiver_wait_count(r, 8, WAIT) != CT_OK)
		fail_msg("the receiver saw %zu requests, expected 8 in flight",
		         http_receiver_count(r));
	assert_int_equal(harness_proc_kill(h, router), CT_OK);
	assert_int_equal(
	        alert_it_count(h,
	                       "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	                       " AND delivered_at IS NULL",
	                       1, (const char *[]){sub}),
	        12);
	/* Clears while the router is dead: its session queues them. */
	for (int i = 0; i < 12; i++) {
		snprintf(station, sizeof(station), "K%02d", i);
		snprintf(id, sizeof(id), "kill-clear-%d", i);
		publish_alert(gate, id, station, "TEST_HOOK_KILL", false);
	}
	assert_int_equal(ct_mqtt_flush(gate, WAIT), CT_OK);
	http_receiver_set_mode(r, HTTP_RECEIVER_OK);

	int64_t restarted_ms = ct_mono_ms();
	assert_int_equal(harness_proc_restart(h, router, true), CT_OK);
	wait_sub(h,
	         "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	         " AND delivered_at IS NOT NULL",
	         sub, 24);
	wait_distinct(h, r, sub, 24);
	check_received(h, r, sub, "TEST_HOOK_KILL", &got);
	assert_int_equal(got.raise, 12);
	assert_int_equal(got.clear, 12);
	printf("kill -9 with the receiver hanging: %zu requests, %zu deliveries, %zu repeats "
	       "dropped by the receiver; all delivered %lld ms after the restart\n",
	       got.requests, got.distinct, got.repeats, (long long)(ct_mono_ms() - restarted_ms));
	ct_mqtt_free(gate);
	harness_pass(h);
}

static void test_give_up_raises_and_clears(void **state)
{
	struct harness *h = *state;
	struct harness_proc *router = NULL;
	struct harness_sub *team = NULL;
	struct ct_mqtt *gate = NULL;
	struct http_receiver *r;
	struct received got;
	const char *sub = "hook-giveup";
	const char *env[] = {NULL, WEBHOOK_ENV, "CT_WEBHOOK_GIVE_UP_S=3", NULL};
	const char *object_id = "alert-router/hook-giveup";
	json_t *o;

	/* The team route hears of service alerts (the webhook's alert has no site, so the
	 * webhook route's filter AR/# does not take it). */
	r = receiver_and_routes(h, sub, "id=ops-giveup team=ops kinds=service\n", &env[0]);
	http_receiver_set_mode(r, HTTP_RECEIVER_FAIL);
	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/alert/team/ops", &team), CT_OK);
	assert_int_equal(
	        harness_service_start(h, HARNESS_ALERTROUTER, "alert-router-giveup", env, &router),
	        CT_OK);
	assert_int_equal(harness_mqtt_connect(h, "spc-gate", &gate), CT_OK);

	publish_alert(gate, "giveup-raise-1", "G01", "TEST_HOOK_GIVEUP", true);
	wait_sub(h,
	         "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	         " AND gave_up_at IS NOT NULL AND delivered_at IS NULL AND attempts > 1"
	         " AND last_error = 'HTTP 503'",
	         sub, 1);
	o = alert_it_next_of(team, "WEBHOOK_GAVE_UP", NULL, NULL, "RAISE");
	assert_string_equal(json_string_value(json_object_get(o, "source")), "alert-router");
	assert_string_equal(json_string_value(json_object_get(o, "object_kind")), "service");
	assert_string_equal(json_string_value(json_object_get(o, "object_id")), object_id);
	assert_string_equal(json_string_value(json_object_get(o, "subscription")), "ops-giveup");
	json_decref(o);
	assert_int_equal(alert_it_count(h,
	                                "SELECT count(*) FROM alert WHERE code = 'WEBHOOK_GAVE_UP'"
	                                " AND source = 'alert-router' AND object_kind = 'service'"
	                                " AND object_id = $1 AND state = 'ACTIVE_UNACK'",
	                                1, (const char *[]){object_id}),
	                 1);

	/* The receiver accepts again; a later delivery succeeds: the alert clears. */
	http_receiver_set_mode(r, HTTP_RECEIVER_OK);
	publish_alert(gate, "giveup-raise-2", "G02", "TEST_HOOK_GIVEUP", true);
	wait_sub(h,
	         "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	         " AND delivered_at IS NOT NULL",
	         sub, 1);
	o = alert_it_next_of(team, "WEBHOOK_GAVE_UP", NULL, NULL, "CLEAR");
	assert_string_equal(json_string_value(json_object_get(o, "object_id")), object_id);
	json_decref(o);
	assert_int_equal(alert_it_count(h,
	                                "SELECT count(*) FROM alert WHERE code = 'WEBHOOK_GAVE_UP'"
	                                " AND object_id = $1 AND state = 'CLEARED_UNACK'",
	                                1, (const char *[]){object_id}),
	                 1);
	/* What was given up never arrived; the rest did, each once. */
	check_received(h, r, sub, "TEST_HOOK_GIVEUP", &got);
	assert_int_equal(got.distinct, 1);
	assert_int_equal(got.repeats, 0);
	ct_mqtt_free(gate);
	harness_sub_free(team);
	harness_pass(h);
}

static int teardown(void **state)
{
	/* The router first (it exits 0 whatever the receiver does), then the receiver. */
	int rc = harness_test_teardown(state);

	http_receiver_free(test_receiver);
	test_receiver = NULL;
	return rc;
}

static int group_setup(void **state)
{
	return harness_group_start("alert-webhook", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_receiver_up, harness_test_setup, teardown),
	        cmocka_unit_test_setup_teardown(test_receiver_down_then_back, harness_test_setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_kill9_with_receiver_hanging,
	                                        harness_test_setup, teardown),
	        cmocka_unit_test_setup_teardown(test_give_up_raises_and_clears, harness_test_setup,
	                                        teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
