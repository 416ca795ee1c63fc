/* test_alert_webhook_worker: alert-router's webhook delivery worker (services/alert-router/
 * webhook.c) driven directly against a real PostgreSQL (migration 0009's outbox and
 * ct_alert_deliveries_due) and a real HTTP receiver (http_receiver.h, libmicrohttpd).
 *
 * - Rows of several alerts are delivered in order per alert, each once, with the payload as
 *   the body and the Idempotency-Key and Content-Type headers; rows written while the worker
 *   idles are delivered too (NOTIFY wakes it: nothing else would).
 * - The receiver down (stopped) for a while: only the head row of each alert is tried, with
 *   backoff; back on the same port, every row arrives in order, and the receiver sees each
 *   idempotency key exactly once after dropping repeats.
 * - Retries are spaced by the backoff (each at least half the doubled delay), every attempt
 *   is counted in `attempts`, last_error says what the receiver answered.
 * - A receiver that hangs past webhook.timeout_ms is a failed attempt ("timeout after N ms"),
 *   retried; webhook_stop with a request hanging returns promptly.
 * - Give-up: a row older than webhook.give_up_s is given up at its first failure, a failing
 *   row once it gets that old; the alert's next row goes after it.
 * - PostgreSQL stopped and started while rows are pending: every row is delivered after. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_log.h"
#include "ct_time.h"
#include "harness.h"
#include "http_receiver.h"
#include "webhook.h"

#define MAX_KEYS 16

/* The test's worker and receiver, stopped by the teardown when a failed assertion left the
 * test early (a worker left running would take the next tests' rows). */
static struct webhook_worker *test_worker;
static struct http_receiver *test_receiver;

/* The login the worker connects as: the router's own when the registry has it (so its grants
 * are tested too), else ct_admin. */
static const char *worker_login(struct harness *h)
{
	char password[128];

	if (harness_pg_password(h, "alertrouter", password, sizeof(password)) == CT_OK)
		return "alertrouter";
	fprintf(stderr, "NOTE: no alertrouter login in the registry; the worker runs as "
	                "ct_admin\n");
	return "ct_admin";
}

struct worker_opts {
	long timeout_ms, give_up_s, base_ms, max_ms, parallel;
};

static struct webhook_worker *start_worker(struct harness *h, const struct worker_opts *wo)
{
	struct webhook_options o;
	struct webhook_worker *w = NULL;
	const char *login = worker_login(h);
	char conninfo[256], password[128], err[512];

	harness_pg_conninfo(h, login, conninfo, sizeof(conninfo));
	assert_int_equal(harness_pg_password(h, login, password, sizeof(password)), CT_OK);
	webhook_options_default(&o);
	o.pg_conninfo = conninfo;
	o.pg_password = password;
	if (wo->timeout_ms > 0)
		o.timeout_ms = wo->timeout_ms;
	if (wo->give_up_s > 0)
		o.give_up_s = wo->give_up_s;
	if (wo->base_ms > 0)
		o.backoff_base_ms = wo->base_ms;
	if (wo->max_ms > 0)
		o.backoff_max_ms = wo->max_ms;
	if (wo->parallel > 0)
		o.parallel = wo->parallel;
	if (webhook_start(&w, &o, err, sizeof(err)) != CT_OK)
		fail_msg("webhook_start: %s", err);
	test_worker = w;
	return w;
}

static void sql_or_fail(struct harness *h, const char *sql, int n, const char *const *params)
{
	PGresult *res = NULL;

	assert_int_equal(harness_sql(h, sql, n, params, &res), CT_OK);
	PQclear(res);
}

static long long sql_long(struct harness *h, const char *sql, int n, const char *const *params)
{
	long long v = -1;

	assert_int_equal(harness_sql_long(h, sql, n, params, &v), CT_OK);
	return v;
}

/* A clean outbox (a test's leftovers are not the next test's work), a subscription `sub`
 * posting to url, and n_alerts alerts "<sub>-a1".."<sub>-aN". */
static void prepare(struct harness *h, const char *sub, const char *url, int n_alerts)
{
	char n[16];
	const char *p[] = {sub, url};
	const char *pa[] = {sub, n};

	sql_or_fail(h, "DELETE FROM alert_delivery", 0, NULL);
	sql_or_fail(h,
	            "INSERT INTO alert_subscription (subscription_id, team, channel, target)"
	            " VALUES ($1, 'qa', 'webhook', $2)"
	            " ON CONFLICT (subscription_id) DO UPDATE SET target = $2",
	            2, p);
	snprintf(n, sizeof(n), "%d", n_alerts);
	sql_or_fail(h,
	            "INSERT INTO alert (alert_id, source, code, object_kind, object_id, occurrence,"
	            " severity, state, raised_at)"
	            " SELECT $1 || '-a' || k, 'test', 'WEBHOOK_TEST', 'station', $1 || '/ST' || k,"
	            " 1, 3, 'ACTIVE_UNACK', now() FROM generate_series(1, $2::int) k"
	            " ON CONFLICT (alert_id) DO NOTHING",
	            2, pa);
}

/* Adds rows seq from..to for every alert of sub (delivery_id "<alert>:<seq>:<sub>"), created
 * in order of seq (a microsecond apart), offset_s seconds from now. The payload is JSON with
 * the delivery ID, the alert and n = seq. */
static void add_rows(struct harness *h, const char *sub, int from, int to, long offset_s)
{
	char f[16], t[16], off[24];
	const char *p[] = {sub, f, t, off};

	snprintf(f, sizeof(f), "%d", from);
	snprintf(t, sizeof(t), "%d", to);
	snprintf(off, sizeof(off), "%ld", offset_s);
	sql_or_fail(h,
	            "INSERT INTO alert_delivery (delivery_id, subscription_id, alert_id,"
	            " transition_seq, action, channel, target, payload, delay_on_s, delay_off_s,"
	            " created_at)"
	            " SELECT a.alert_id || ':' || s || ':' || $1, $1, a.alert_id, s,"
	            " CASE WHEN s = 1 THEN 'RAISE' ELSE 'COMMENT' END, 'webhook', sub.target,"
	            " json_build_object('delivery_id', a.alert_id || ':' || s || ':' || $1,"
	            "  'alert_id', a.alert_id, 'n', s)::text, 0, 0,"
	            " now() + $4::bigint * interval '1 s' + s * interval '1 microsecond'"
	            " FROM alert a, alert_subscription sub, generate_series($2::int, $3::int) s"
	            " WHERE sub.subscription_id = $1 AND a.alert_id LIKE $1 || '-a%'"
	            " ORDER BY s, a.alert_id",
	            4, p);
}

static int wait_sql(struct harness *h, const char *sql, const char *sub, long long expected)
{
	const char *p[] = {sub};

	return harness_wait_sql_countv(h, sql, 1, p, expected, HARNESS_WAIT_MS);
}

/* Checks the receiver's accepted requests: the body is the payload (JSON with delivery_id,
 * alert_id, n), the Idempotency-Key is the delivery ID, the Content-Type JSON, and each alert's
 * deliveries came in order n = 1, 2, ... each once (repeats dropped). Returns how many distinct
 * deliveries were checked. */
static size_t check_order(struct http_receiver *r, const char *path)
{
	struct {
		char alert[64];
		long last;
	} keys[MAX_KEYS];
	size_t n_keys = 0, checked = 0, count = http_receiver_count(r);

	for (size_t i = 0; i < count; i++) {
		struct http_record rec;
		json_error_t jerr;
		json_t *body;
		const char *id, *alert;
		long n;
		size_t k;

		assert_int_equal(http_receiver_record(r, i, &rec), CT_OK);
		if (!rec.accepted || rec.repeat) {
			http_record_cleanup(&rec);
			continue;
		}
		assert_string_equal(rec.path, path);
		assert_string_equal(rec.content_type, "application/json");
		body = json_loads(rec.body, 0, &jerr);
		if (body == NULL)
			fail_msg("body is not JSON: %s (%s)", jerr.text, rec.body);
		id = json_string_value(json_object_get(body, "delivery_id"));
		alert = json_string_value(json_object_get(body, "alert_id"));
		n = (long)json_integer_value(json_object_get(body, "n"));
		assert_non_null(id);
		assert_non_null(alert);
		assert_string_equal(rec.idempotency_key, id);
		for (k = 0; k < n_keys && strcmp(keys[k].alert, alert) != 0; k++)
			;
		if (k == n_keys) {
			assert_true(n_keys < MAX_KEYS);
			snprintf(keys[k].alert, sizeof(keys[k].alert), "%s", alert);
			keys[k].last = 0;
			n_keys++;
		}
		if (n != keys[k].last + 1)
			fail_msg("alert %s: delivery n=%ld came after n=%ld", alert, n,
			         keys[k].last);
		keys[k].last = n;
		checked++;
		json_decref(body);
		http_record_cleanup(&rec);
	}
	return checked;
}

/* Every delivery ID of sub was accepted by the receiver exactly once after dropping repeats
 * (it may have been sent more than once: a 2xx whose outcome was lost). */
static void check_every_key_once(struct harness *h, struct http_receiver *r, const char *sub)
{
	const char *p[] = {sub};
	PGresult *res = NULL;

	assert_int_equal(harness_sql(h,
	                             "SELECT delivery_id FROM alert_delivery"
	                             " WHERE subscription_id = $1",
	                             1, p, &res),
	                 CT_OK);
	for (int i = 0; i < PQntuples(res); i++) {
		const char *id = PQgetvalue(res, i, 0);
		if (!http_receiver_key_accepted(r, id, NULL))
			fail_msg("delivery %s never reached the receiver", id);
	}
	assert_int_equal(http_receiver_distinct_keys(r), (size_t)PQntuples(res));
	PQclear(res);
}

static void stop_all(void)
{
	webhook_stop(test_worker);
	test_worker = NULL;
	http_receiver_free(test_receiver);
	test_receiver = NULL;
}

static int teardown(void **state)
{
	stop_all();
	return harness_test_teardown(state);
}

/* Polls the worker's statistics until pred holds or the deadline. */
static bool wait_stats(struct webhook_worker *w, bool (*pred)(const struct webhook_stats *),
                       int timeout_ms)
{
	int64_t until = ct_mono_ms() + timeout_ms;
	struct webhook_stats st;

	for (;;) {
		webhook_stats(w, &st);
		if (pred(&st))
			return true;
		if (ct_mono_ms() > until)
			return false;
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

static bool pg_disconnected(const struct webhook_stats *st)
{
	return !st->pg_connected;
}

/* The worker counts an outcome just after its UPDATE commits, so a test that saw the row
 * waits for the counters too (and for the slot to be free: nothing else is pending). */
static void wait_counts(struct webhook_worker *w, unsigned long delivered, unsigned long gave_up)
{
	int64_t until = ct_mono_ms() + HARNESS_WAIT_MS;
	struct webhook_stats st;

	for (;;) {
		webhook_stats(w, &st);
		if (st.delivered == delivered && st.gave_up == gave_up && st.in_flight == 0)
			return;
		if (ct_mono_ms() > until)
			fail_msg("worker counted %lu delivered, %lu given up, %lu in flight; "
			         "expected "
			         "%lu, %lu, 0",
			         st.delivered, st.gave_up, st.in_flight, delivered, gave_up);
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_delivers_in_order_once(void **state)
{
	struct harness *h = *state;
	struct worker_opts wo = {.parallel = 3};
	struct http_receiver *r = NULL;
	struct webhook_worker *w;
	struct webhook_stats st;
	char url[128];
	const char *sub = "wh-order";

	assert_int_equal(http_receiver_start(0, &r), CT_OK);
	test_receiver = r;
	http_receiver_url(r, "/hook/order", url, sizeof(url));
	prepare(h, sub, url, 4);
	add_rows(h, sub, 1, 8, 0);
	w = start_worker(h, &wo);

	assert_int_equal(http_receiver_wait_distinct(r, 32, HARNESS_WAIT_MS), CT_OK);
	assert_int_equal(wait_sql(h,
	                          "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	                          " AND delivered_at IS NOT NULL AND attempts = 1"
	                          " AND last_error IS NULL AND gave_up_at IS NULL",
	                          sub, 32),
	                 CT_OK);
	assert_int_equal(check_order(r, "/hook/order"), 32);
	assert_int_equal(http_receiver_repeats(r), 0);

	/* The worker idles now (nothing pending: no timer). Rows written by someone else wake
	 * it through NOTIFY. */
	add_rows(h, sub, 9, 10, 0);
	assert_int_equal(http_receiver_wait_distinct(r, 40, HARNESS_WAIT_MS), CT_OK);
	assert_int_equal(wait_sql(h,
	                          "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	                          " AND delivered_at IS NOT NULL",
	                          sub, 40),
	                 CT_OK);
	assert_int_equal(check_order(r, "/hook/order"), 40);
	check_every_key_once(h, r, sub);
	wait_counts(w, 40, 0);
	webhook_stats(w, &st);
	assert_int_equal(st.failed_attempts, 0);
	stop_all();
	harness_pass(h);
}

static void test_receiver_down_then_back(void **state)
{
	struct harness *h = *state;
	struct worker_opts wo = {.base_ms = 100, .max_ms = 800, .parallel = 4};
	struct http_receiver *r = NULL;
	struct webhook_worker *w;
	struct webhook_stats st;
	char url[128];
	const char *sub = "wh-down";
	const char *p[] = {sub};

	assert_int_equal(http_receiver_start(0, &r), CT_OK);
	test_receiver = r;
	http_receiver_url(r, "/hook/down", url, sizeof(url));
	http_receiver_stop(r); /* down from the start: connections are refused */
	prepare(h, sub, url, 3);
	add_rows(h, sub, 1, 5, 0);
	w = start_worker(h, &wo);

	/* Only the head row of each alert is tried, again and again with backoff. */
	assert_int_equal(wait_sql(h,
	                          "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	                          " AND attempts >= 3 AND delivered_at IS NULL",
	                          sub, 3),
	                 CT_OK);
	assert_int_equal(sql_long(h,
	                          "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	                          " AND attempts > 0 AND transition_seq <> 1",
	                          1, p),
	                 0);
	assert_int_equal(sql_long(h,
	                          "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	                          " AND attempts > 0 AND last_error <> ''"
	                          " AND last_error NOT LIKE 'HTTP%'",
	                          1, p),
	                 3);

	/* Back on the same port: everything arrives, in order, each key once. */
	assert_int_equal(http_receiver_restart(r), CT_OK);
	assert_int_equal(wait_sql(h,
	                          "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	                          " AND delivered_at IS NOT NULL",
	                          sub, 15),
	                 CT_OK);
	assert_int_equal(http_receiver_wait_distinct(r, 15, HARNESS_WAIT_MS), CT_OK);
	assert_int_equal(check_order(r, "/hook/down"), 15);
	check_every_key_once(h, r, sub);
	fprintf(stderr, "receiver down: %zu requests, %zu repeats dropped\n",
	        http_receiver_count(r), http_receiver_repeats(r));
	wait_counts(w, 15, 0);
	webhook_stats(w, &st);
	assert_true(st.failed_attempts >= 9);
	stop_all();
	harness_pass(h);
}

static void test_retries_back_off(void **state)
{
	struct harness *h = *state;
	struct worker_opts wo = {.base_ms = 300, .max_ms = 1200};
	struct http_receiver *r = NULL;
	struct webhook_worker *w;
	struct webhook_stats st;
	struct http_record prev, rec;
	char url[128];
	const char *sub = "wh-backoff";
	const char *p[] = {sub};
	size_t requests;

	assert_int_equal(http_receiver_start(0, &r), CT_OK);
	test_receiver = r;
	http_receiver_set_mode(r, HTTP_RECEIVER_FAIL);
	http_receiver_url(r, "/hook/backoff", url, sizeof(url));
	prepare(h, sub, url, 1);
	add_rows(h, sub, 1, 1, 0);
	w = start_worker(h, &wo);

	assert_int_equal(http_receiver_wait_count(r, 5, HARNESS_WAIT_MS), CT_OK);
	/* Retry n waits route_backoff_ms(n): 300 * 2^(n-1) capped at 1200, jittered down to half
	 * at most. Measured from one request's arrival to the next's (the answer and the update
	 * between them only add). */
	assert_int_equal(http_receiver_record(r, 0, &prev), CT_OK);
	for (size_t i = 1; i < 5; i++) {
		int64_t delay = 300;
		for (size_t k = 1; k < i && delay < 1200; k++)
			delay *= 2;
		if (delay > 1200)
			delay = 1200;
		assert_int_equal(http_receiver_record(r, i, &rec), CT_OK);
		fprintf(stderr,
		        "retry %zu: %lld ms after the attempt before (backoff %lld..%lld)\n", i,
		        (long long)(rec.at_ms - prev.at_ms), (long long)(delay - delay / 2),
		        (long long)delay);
		if (rec.at_ms - prev.at_ms < delay - delay / 2 - 5)
			fail_msg(
			        "retry %zu came %lld ms after the attempt before, sooner than %lld",
			        i, (long long)(rec.at_ms - prev.at_ms),
			        (long long)(delay - delay / 2));
		http_record_cleanup(&prev);
		prev = rec;
	}
	http_record_cleanup(&prev);

	/* The receiver takes it now: every request it saw is one attempt counted. */
	http_receiver_set_mode(r, HTTP_RECEIVER_OK);
	assert_int_equal(wait_sql(h,
	                          "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	                          " AND delivered_at IS NOT NULL AND last_error = 'HTTP 503'",
	                          sub, 1),
	                 CT_OK);
	requests = http_receiver_count(r);
	assert_int_equal(
	        sql_long(h, "SELECT attempts FROM alert_delivery WHERE subscription_id = $1", 1, p),
	        (long long)requests);
	wait_counts(w, 1, 0);
	webhook_stats(w, &st);
	assert_int_equal(st.failed_attempts, requests - 1);
	stop_all();
	harness_pass(h);
}

static void test_timeout_is_a_failed_attempt(void **state)
{
	struct harness *h = *state;
	struct worker_opts wo = {.timeout_ms = 400, .base_ms = 100, .max_ms = 200};
	struct http_receiver *r = NULL;
	struct webhook_worker *w;
	struct webhook_stats st;
	char url[128];
	const char *sub = "wh-hang";
	int64_t t0, took;
	size_t seen;

	assert_int_equal(http_receiver_start(0, &r), CT_OK);
	test_receiver = r;
	http_receiver_set_mode(r, HTTP_RECEIVER_HANG);
	http_receiver_set_hang_ms(r, 30000);
	http_receiver_url(r, "/hook/hang", url, sizeof(url));
	prepare(h, sub, url, 2);
	add_rows(h, sub, 1, 1, 0);
	w = start_worker(h, &wo);

	assert_int_equal(wait_sql(h,
	                          "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	                          " AND attempts >= 2 AND delivered_at IS NULL"
	                          " AND last_error = 'timeout after 400 ms'",
	                          sub, 2),
	                 CT_OK);
	http_receiver_set_mode(r, HTTP_RECEIVER_OK);
	assert_int_equal(wait_sql(h,
	                          "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	                          " AND delivered_at IS NOT NULL AND attempts >= 3",
	                          sub, 2),
	                 CT_OK);
	wait_counts(w, 2, 0);
	webhook_stats(w, &st);
	assert_true(st.failed_attempts >= 4);

	/* A stop with a request hanging does not wait for it. */
	http_receiver_set_mode(r, HTTP_RECEIVER_HANG);
	seen = http_receiver_count(r);
	add_rows(h, sub, 2, 2, 0);
	assert_int_equal(http_receiver_wait_count(r, seen + 1, HARNESS_WAIT_MS), CT_OK);
	t0 = ct_mono_ms();
	webhook_stop(w);
	test_worker = NULL;
	took = ct_mono_ms() - t0;
	fprintf(stderr, "webhook_stop with a request in flight took %lld ms\n", (long long)took);
	assert_true(took < 2000);
	stop_all();
	harness_pass(h);
}

static void test_gives_up(void **state)
{
	struct harness *h = *state;
	struct worker_opts wo = {.give_up_s = 3, .base_ms = 200, .max_ms = 400};
	struct http_receiver *r = NULL;
	struct webhook_worker *w;
	char url[128];
	const char *sub = "wh-giveup";
	const char *p[] = {sub};
	size_t last_r2 = 0, first_r3 = SIZE_MAX, count;

	assert_int_equal(http_receiver_start(0, &r), CT_OK);
	test_receiver = r;
	http_receiver_set_mode(r, HTTP_RECEIVER_FAIL);
	http_receiver_url(r, "/hook/giveup", url, sizeof(url));
	prepare(h, sub, url, 1);
	/* Row 1 is an hour old: given up at its first failure. Row 2 is new: given up once it
	 * has failed for 3 s. Row 3 (dated later, so it is never too old here) goes after. */
	add_rows(h, sub, 1, 1, -3600);
	add_rows(h, sub, 2, 2, 0);
	add_rows(h, sub, 3, 3, 3600);
	w = start_worker(h, &wo);

	assert_int_equal(wait_sql(h,
	                          "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	                          " AND transition_seq = 1 AND gave_up_at IS NOT NULL"
	                          " AND attempts = 1 AND last_error = 'HTTP 503'",
	                          sub, 1),
	                 CT_OK);
	assert_int_equal(wait_sql(h,
	                          "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	                          " AND transition_seq = 2 AND gave_up_at IS NOT NULL"
	                          " AND attempts >= 2 AND gave_up_at - created_at >= interval '3 s'"
	                          " AND delivered_at IS NULL",
	                          sub, 1),
	                 CT_OK);
	http_receiver_set_mode(r, HTTP_RECEIVER_OK);
	assert_int_equal(wait_sql(h,
	                          "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	                          " AND transition_seq = 3 AND delivered_at IS NOT NULL"
	                          " AND gave_up_at IS NULL",
	                          sub, 1),
	                 CT_OK);
	/* Row 3 was never sent before row 2 was given up. */
	count = http_receiver_count(r);
	for (size_t i = 0; i < count; i++) {
		struct http_record rec;
		assert_int_equal(http_receiver_record(r, i, &rec), CT_OK);
		if (strncmp(rec.idempotency_key, "wh-giveup-a1:2:", 15) == 0)
			last_r2 = i;
		if (strncmp(rec.idempotency_key, "wh-giveup-a1:3:", 15) == 0 &&
		    first_r3 == SIZE_MAX)
			first_r3 = i;
		http_record_cleanup(&rec);
	}
	assert_true(first_r3 != SIZE_MAX && first_r3 > last_r2);
	assert_int_equal(sql_long(h,
	                          "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	                          " AND gave_up_at IS NOT NULL",
	                          1, p),
	                 2);
	wait_counts(w, 1, 2);
	stop_all();
	harness_pass(h);
}

static void test_database_outage(void **state)
{
	struct harness *h = *state;
	struct worker_opts wo = {.base_ms = 100, .max_ms = 500};
	struct http_receiver *r = NULL;
	struct webhook_worker *w;
	char url[128];
	const char *sub = "wh-pgdown";

	assert_int_equal(http_receiver_start(0, &r), CT_OK);
	test_receiver = r;
	http_receiver_set_mode(r, HTTP_RECEIVER_FAIL);
	http_receiver_url(r, "/hook/pgdown", url, sizeof(url));
	prepare(h, sub, url, 2);
	add_rows(h, sub, 1, 3, 0);
	w = start_worker(h, &wo);
	assert_int_equal(wait_sql(h,
	                          "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	                          " AND attempts >= 1",
	                          sub, 2),
	                 CT_OK);

	/* PostgreSQL away while the rows are pending; the receiver recovers meanwhile. */
	assert_int_equal(harness_pg_stop(h), CT_OK);
	assert_true(wait_stats(w, pg_disconnected, HARNESS_WAIT_MS));
	http_receiver_set_mode(r, HTTP_RECEIVER_OK);
	assert_int_equal(harness_pg_start(h), CT_OK);
	assert_int_equal(wait_sql(h,
	                          "SELECT count(*) FROM alert_delivery WHERE subscription_id = $1"
	                          " AND delivered_at IS NOT NULL",
	                          sub, 6),
	                 CT_OK);
	assert_int_equal(check_order(r, "/hook/pgdown"), 6);
	check_every_key_once(h, r, sub);
	stop_all();
	harness_pass(h);
}

static int group_setup(void **state)
{
	struct harness *h = NULL;

	/* The worker logs through ct_log in this process. */
	ct_log_set_service("webhook-test");
	if (getenv("CT_IT_LOG_LEVEL") != NULL)
		ct_log_parse_level(getenv("CT_IT_LOG_LEVEL"), &ct_log_level);
	/* PostgreSQL only: no broker, no service binaries. */
	if (harness_new("webhook", CT_IT_WATCHDOG_S, &h) != CT_OK)
		return -1;
	if (harness_pg_start(h) != CT_OK) {
		h->failed = true;
		harness_free(h);
		return -1;
	}
	*state = h;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_delivers_in_order_once, harness_test_setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_receiver_down_then_back, harness_test_setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_retries_back_off, harness_test_setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_timeout_is_a_failed_attempt,
	                                        harness_test_setup, teardown),
	        cmocka_unit_test_setup_teardown(test_gives_up, harness_test_setup, teardown),
	        cmocka_unit_test_setup_teardown(test_database_outage, harness_test_setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
