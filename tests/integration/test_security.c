/* test_security: the broker refuses unknown clients, the ACL keeps each credential to the
 * topics it owns, and the database roles have only the privileges their service needs.
 *
 * The CONNECT checks talk raw MQTT 3.1.1 over a socket, so they see the broker's own CONNACK
 * return code rather than a client library's interpretation of it. The ACL check proves a
 * negative without waiting for a timeout: the forbidden publish is acknowledged by the
 * broker before a permitted control message is sent, the broker routes in arrival order, so
 * once the control message is in the database the forbidden one would have been too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ct_error.h"
#include "ct_time.h"
#include "harness.h"

#define SITE "SEC"
#define LINE "L1"

/* Appends a length-prefixed MQTT string. */
static size_t put_str(uint8_t *p, const char *s)
{
	size_t n = strlen(s);
	p[0] = (uint8_t)(n >> 8);
	p[1] = (uint8_t)n;
	memcpy(p + 2, s, n);
	return n + 2;
}

/* Sends an MQTT 3.1.1 CONNECT (user and password optional) and returns the CONNACK return
 * code in *ret_code (0 accepted, 4 bad user name or password, 5 not authorised). */
static int raw_connect(int port, const char *client_id, const char *user, const char *password,
                       int *ret_code)
{
	uint8_t pkt[512], body[500], ack[4];
	size_t n = 0, got = 0;
	struct sockaddr_in addr;
	uint8_t flags = 0x02; /* clean session */
	int fd, rc = CT_ERR_IO;
	int64_t deadline = ct_mono_ms() + 30000;

	n += put_str(body + n, "MQTT");
	body[n++] = 4; /* protocol level 3.1.1 */
	if (user != NULL)
		flags |= 0x80;
	if (password != NULL)
		flags |= 0x40;
	body[n++] = flags;
	body[n++] = 0;
	body[n++] = 30; /* keepalive */
	n += put_str(body + n, client_id);
	if (user != NULL)
		n += put_str(body + n, user);
	if (password != NULL)
		n += put_str(body + n, password);
	pkt[0] = 0x10;
	pkt[1] = (uint8_t)n; /* < 128: one length byte */
	memcpy(pkt + 2, body, n);

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return CT_ERR_IO;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((uint16_t)port);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    write(fd, pkt, n + 2) != (ssize_t)(n + 2))
		goto out;
	while (got < sizeof(ack)) {
		struct pollfd pfd = {fd, POLLIN, 0};
		int left = (int)(deadline - ct_mono_ms());
		ssize_t r;

		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			goto out;
		r = read(fd, ack + got, sizeof(ack) - got);
		if (r <= 0)
			goto out;
		got += (size_t)r;
	}
	if (ack[0] != 0x20 || ack[1] != 2)
		goto out;
	*ret_code = ack[3];
	rc = CT_OK;
out:
	close(fd);
	return rc;
}

static void test_anonymous_refused(void **state)
{
	struct harness *h = *state;
	struct ct_mqtt *mqtt = NULL;
	char password[128], err[256];
	int code = -1;

	assert_int_equal(raw_connect(h->mqtt_port, "anon-raw", NULL, NULL, &code), CT_OK);
	assert_int_equal(code, 5); /* not authorised */
	/* The runtime's client reports the refusal as an error, not a connection. */
	assert_int_not_equal(harness_mqtt_connect_as(h, NULL, NULL, 5000, &mqtt, err, sizeof(err)),
	                     CT_OK);
	assert_null(mqtt);
	/* Control: the same raw client with real credentials is accepted. */
	assert_int_equal(harness_mqtt_password(h, "gateway", password, sizeof(password)), CT_OK);
	assert_int_equal(raw_connect(h->mqtt_port, "gateway-raw", "gateway", password, &code),
	                 CT_OK);
	assert_int_equal(code, 0);
	assert_true(harness_proc_is_alive(&h->broker));
	harness_pass(h);
}

static void test_wrong_password_refused(void **state)
{
	struct harness *h = *state;
	struct ct_mqtt *mqtt = NULL;
	char password[128], wrong[140], err[256];
	int code = -1;

	assert_int_equal(harness_mqtt_password(h, "traveler", password, sizeof(password)), CT_OK);
	snprintf(wrong, sizeof(wrong), "%sx", password);
	assert_int_equal(raw_connect(h->mqtt_port, "traveler-raw", "traveler", wrong, &code),
	                 CT_OK);
	assert_true(code == 4 || code == 5);
	/* Another user's password does not open this user's account either. */
	assert_int_equal(harness_mqtt_password(h, "gateway", password, sizeof(password)), CT_OK);
	assert_int_equal(raw_connect(h->mqtt_port, "traveler-raw", "traveler", password, &code),
	                 CT_OK);
	assert_true(code == 4 || code == 5);
	/* A user that does not exist. */
	assert_int_equal(raw_connect(h->mqtt_port, "nobody-raw", "nobody", password, &code), CT_OK);
	assert_true(code == 4 || code == 5);
	assert_int_not_equal(
	        harness_mqtt_connect_as(h, "traveler", wrong, 5000, &mqtt, err, sizeof(err)),
	        CT_OK);
	assert_null(mqtt);
	assert_true(harness_proc_is_alive(&h->broker));
	harness_pass(h);
}

static int publish_batch(struct harness *h, const char *user, const char *topic,
                         const char *station, const char *event_id, const char *unit);

static int publish_batch(struct harness *h, const char *user, const char *topic,
                         const char *station, const char *event_id, const char *unit)
{
	struct harness_simple spec = {SITE, LINE, station, "sec-test", 2, 0};
	const char *ids[] = {event_id};
	const char *units[] = {unit};
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = harness_simple_batch(&spec, ids, units, 1, &buf, &len);

	if (rc == CT_OK)
		rc = harness_publish(h, user, topic, buf, len);
	free(buf);
	return rc;
}

/* A service whose login the broker refuses stops with exit status 1 and says why, rather
 * than retrying for ever (services/ingest/README.md: exit 1 when the login is refused). A
 * refusal is final, so this must not take the 60 s the service allows an unreachable
 * broker. */
static void test_service_with_wrong_password_exits(void **state)
{
	struct harness *h = *state;
	const char *extra[] = {"CT_MQTT_PASSWORD=wrong-password", NULL};
	const char *argv[] = {NULL, NULL};
	char **env = harness_env(h, "ingest", extra);
	struct harness_proc *ingest = NULL;
	int64_t t0 = ct_mono_ms();
	int code = -2;

	assert_non_null(env);
	argv[0] = CT_INGEST_BIN;
	assert_int_equal(harness_spawn(h, "ingest-refused", CT_INGEST_BIN, argv,
	                               (const char *const *)env, &ingest),
	                 CT_OK);
	harness_env_free(env);
	if (harness_proc_wait_any(h, ingest, 20000, &code) != CT_OK) {
		/* Not SIGTERM: a service stuck in its first connect may not heed it. */
		harness_proc_kill(h, ingest);
		fail_msg("ingest still retries a login the broker refused after 20 s");
	}
	printf("ingest with a wrong password exited %d after %.1f s\n", code,
	       (double)(ct_mono_ms() - t0) / 1000.0);
	assert_int_equal(code, 1);
	harness_pass(h);
}

/* gateway may read only commands from the plant tree. The broker accepts a subscription to
 * ct/v1/plant/# from it (Mosquitto checks read access per message), so the check is on
 * delivery: a result message the cli subscriber receives (control) must not reach gateway,
 * proven by a marker gateway may read that was published after it. */
static void test_acl_gateway_cannot_read_plant(void **state)
{
	struct harness *h = *state;
	const char *marker = "ct/v1/sys/status/gateway/marker";
	const char *filters[] = {"ct/v1/plant/#", marker};
	const char *plant = "ct/v1/plant/" SITE "/" LINE "/ST-READ/result";
	struct harness_sub *gateway = NULL, *cli = NULL;
	const char *topic = NULL;
	const uint8_t *payload = NULL;
	size_t len = 0;
	bool marker_seen = false;

	assert_int_equal(harness_sub_newv(h, "gateway", filters, 2, &gateway), CT_OK);
	assert_int_equal(harness_sub_new(h, "cli", "ct/v1/plant/#", &cli), CT_OK);
	assert_int_equal(publish_batch(h, "ingest", plant, "ST-READ", "sec-read-1", "CELL-READ-1"),
	                 CT_OK);
	assert_int_equal(harness_sub_next(cli, HARNESS_WAIT_MS, &topic, &payload, &len), CT_OK);
	assert_string_equal(topic, plant);
	assert_int_equal(harness_publish(h, "gateway", marker, "m", 1), CT_OK);
	while (!marker_seen) {
		assert_int_equal(harness_sub_next(gateway, HARNESS_WAIT_MS, &topic, &payload, &len),
		                 CT_OK);
		if (strncmp(topic, "ct/v1/plant/", 12) == 0)
			fail_msg("gateway received %s, which the ACL forbids", topic);
		marker_seen = strcmp(topic, marker) == 0;
	}
	harness_sub_free(gateway);
	harness_sub_free(cli);
	harness_pass(h);
}

static long long count_event(struct harness *h, const char *event_id)
{
	const char *params[] = {event_id};
	long long n = -1;
	assert_int_equal(harness_sql_long(h, "SELECT count(*) FROM event WHERE event_id = $1", 1,
	                                  params, &n),
	                 CT_OK);
	return n;
}

/* gateway may write only the edge tree: a canonical message it publishes straight onto the
 * plant tree (ingest's) must not reach traveler. */
static void test_acl_gateway_cannot_write_plant(void **state)
{
	struct harness *h = *state;
	struct harness_proc *ingest = NULL, *traveler = NULL;
	const char *plant = "ct/v1/plant/" SITE "/" LINE "/ST-ACL/result";
	const char *edge = "ct/v1/edge/" SITE "/" LINE "/ST-ACL/result/pb";
	const char *p_forbidden[] = {"sec-forbidden-1"};
	const char *p_plant_ok[] = {"sec-plant-ok-1"};
	const char *p_edge_ok[] = {"sec-edge-ok-1"};

	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler), CT_OK);

	/* Forbidden first (the broker acknowledges a denied QoS 1 publish and drops it). */
	assert_int_equal(
	        publish_batch(h, "gateway", plant, "ST-ACL", "sec-forbidden-1", "CELL-FORBIDDEN-1"),
	        CT_OK);
	/* Control 1: the same kind of message from the plant tree's owner arrives. */
	assert_int_equal(
	        publish_batch(h, "ingest", plant, "ST-ACL", "sec-plant-ok-1", "CELL-PLANT-OK-1"),
	        CT_OK);
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM event WHERE event_id = $1",
	                                         1, p_plant_ok, 1, HARNESS_WAIT_MS),
	                 CT_OK);
	/* Control 2: gateway's own path (edge -> ingest -> plant) works. */
	assert_int_equal(
	        publish_batch(h, "gateway", edge, "ST-ACL", "sec-edge-ok-1", "CELL-EDGE-OK-1"),
	        CT_OK);
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM event WHERE event_id = $1",
	                                         1, p_edge_ok, 1, HARNESS_WAIT_MS),
	                 CT_OK);
	assert_int_equal(count_event(h, p_forbidden[0]), 0);
	{
		const char *unit[] = {"CELL-FORBIDDEN-1"};
		long long n = -1;
		assert_int_equal(harness_sql_long(h,
		                                  "SELECT count(*) FROM station_visit WHERE "
		                                  "unit_id = $1",
		                                  1, unit, &n),
		                 CT_OK);
		assert_int_equal(n, 0);
	}

	/* linesim (an edge credential) cannot forge ingest's dead letters either: publish a
	 * DeadLetter as linesim, then the control through ingest once more. */
	{
		Cellthread__V1__DeadLetter dl = CELLTHREAD__V1__DEAD_LETTER__INIT;
		Cellthread__V1__Header hdr = CELLTHREAD__V1__HEADER__INIT;
		uint8_t *buf = NULL;
		size_t len = 0;
		const char *forged[] = {"sec-forged-dl-1"};
		const char *p_edge_ok2[] = {"sec-edge-ok-2"};

		hdr.event_id = (char *)forged[0];
		hdr.producer = (char *)"ingest-1";
		hdr.produced_at_us = ct_now_us();
		hdr.schema_version = 1;
		dl.header = &hdr;
		dl.service = (char *)"ingest";
		dl.source_topic = (char *)edge;
		dl.reason_code = CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_INVALID;
		dl.reason = (char *)"forged";
		dl.received_at_us = ct_now_us();
		assert_int_equal(ct_pb_pack(&dl.base, &buf, &len), CT_OK);
		assert_int_equal(
		        harness_publish(h, "linesim", "ct/v1/sys/deadletter/ingest", buf, len),
		        CT_OK);
		free(buf);
		assert_int_equal(publish_batch(h, "gateway", edge, "ST-ACL", "sec-edge-ok-2",
		                               "CELL-EDGE-OK-2"),
		                 CT_OK);
		assert_int_equal(harness_wait_sql_countv(h,
		                                         "SELECT count(*) FROM event WHERE "
		                                         "event_id = $1",
		                                         1, p_edge_ok2, 1, HARNESS_WAIT_MS),
		                 CT_OK);
		assert_int_equal(count_event(h, forged[0]), 0);
	}

	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	assert_int_equal(harness_proc_stop(h, ingest), CT_OK);
	harness_pass(h);
}

/* Connects to the database as a login role with its own password. */
static PGconn *connect_role(struct harness *h, const char *role)
{
	PGconn *conn = harness_pg_connect(h, role);

	if (conn == NULL)
		fail_msg("cannot connect as %s", role);
	return conn;
}

/* Runs sql and asserts it fails with SQLSTATE 42501 (insufficient_privilege) or 42501-like
 * ownership errors, which PostgreSQL also reports as 42501. */
static void assert_denied(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK) {
		PQclear(res);
		fail_msg("\"%s\" succeeded; it must be denied", sql);
	}
	if (state == NULL || strcmp(state, "42501") != 0) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
		PQclear(res);
		fail_msg("\"%s\" failed with SQLSTATE %s (%s), expected 42501 permission denied",
		         sql, state ? state : "none", msg);
	}
	PQclear(res);
}

static void assert_allowed(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
		PQclear(res);
		fail_msg("\"%s\" failed: %s", sql, msg);
	}
	PQclear(res);
}

static void test_db_least_privilege(void **state)
{
	struct harness *h = *state;
	PGconn *traveler = connect_role(h, "traveler");
	PGconn *cli = connect_role(h, "cli");
	long long before = -1, after = -1;

	assert_int_equal(harness_sql_long(h, "SELECT count(*) FROM event", 0, NULL, &before),
	                 CT_OK);
	/* Control: the roles can do their job (so a denial below is about privilege). */
	assert_allowed(traveler, "SELECT count(*) FROM event");
	assert_allowed(cli, "SELECT count(*) FROM station_visit");

	/* traveler appends the thread; it never deletes, rewrites or drops it. */
	assert_denied(traveler, "DELETE FROM event");
	assert_denied(traveler, "DELETE FROM measurement");
	assert_denied(traveler, "UPDATE event SET producer = 'x'");
	assert_denied(traveler, "TRUNCATE event");
	assert_denied(traveler, "DROP TABLE unit");
	assert_denied(traveler, "ALTER TABLE event ADD COLUMN evil text");
	assert_denied(traveler, "CREATE TABLE evil (x int)");
	assert_denied(traveler, "CREATE ROLE evil");
	/* cli only reads. */
	assert_denied(cli, "INSERT INTO event (event_id, kind, producer, produced_at) VALUES "
	                   "('cli-evil', 'result', 'cli', now())");
	assert_denied(cli, "DELETE FROM event");
	assert_denied(cli, "UPDATE unit SET kind = 0");
	assert_denied(cli, "DROP TABLE event");
	PQfinish(traveler);
	PQfinish(cli);

	assert_int_equal(harness_sql_long(h, "SELECT count(*) FROM event", 0, NULL, &after), CT_OK);
	assert_int_equal(before, after);
	assert_int_equal(harness_sql_long(h, "SELECT count(*) FROM pg_class WHERE relname = 'unit'",
	                                  0, NULL, &after),
	                 CT_OK);
	assert_int_equal(after, 1);
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("security", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_anonymous_refused, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_wrong_password_refused, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_service_with_wrong_password_exits,
	                                        harness_test_setup, harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_acl_gateway_cannot_read_plant,
	                                        harness_test_setup, harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_db_least_privilege, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_acl_gateway_cannot_write_plant,
	                                        harness_test_setup, harness_test_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
