/* test_edge_trust: what a credential on the plant network can no longer do (issue 10), against
 * the real broker (configured with the broker guard and the registry's per-gateway rights) and
 * ingest with the demo plant registry (deploy/config/plant.conf):
 *   - take over a service's session or read another credential's replies by using its client
 *     ID (refused at CONNECT; the service keeps its session and goes on storing);
 *   - publish for a line that is not its own, invent a station on its own line, or send a
 *     physically impossible value (refused by the broker, or dead-lettered UNKNOWN_STATION /
 *     IMPLAUSIBLE by ingest, never stored);
 *   - make the broker queue the plant tree for a session that never reads (QoS 1 refused,
 *     nothing queued while away);
 *   - park retained messages on edge topics (delivered, never retained);
 *   - grow the broker's memory by subscribing and never reading (disconnected above the
 *     guard's bound, CT_IT_BROKER_SHED_MIB here; services untouched).
 */
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
#include "ct_mqtt.h"
#include "ct_spool.h"
#include "ct_time.h"
#include "harness.h"

#define SITE     "site1"
#define GATEWAY  "gw-site1-l1" /* the registry's gateway of site1 line L1 */
#define EDGE_L1  "ct/v1/edge/" SITE "/L1/"
#define EDGE_L2  "ct/v1/edge/" SITE "/L2/"
#define SHED_MIB "64" /* the broker guard's memory bound in this test */

static const char *const plant_env[] = {
        "CT_INGEST_PLANT_FILE=" CT_SOURCE_DIR "/deploy/config/plant.conf", NULL};

/* Publishes one result (event ID id, unit id too) as GATEWAY for station on line. */
static int publish_result(struct harness *h, const char *line, const char *station, const char *id)
{
	struct harness_simple spec = {SITE, line, station, "trust-gateway", 2, 0};
	const char *ids[] = {id}, *units[] = {id};
	char topic[256];
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	snprintf(topic, sizeof(topic), "ct/v1/edge/%s/%s/%s/result/pb", SITE, line, station);
	rc = harness_simple_batch(&spec, ids, units, 1, &buf, &len);
	if (rc == CT_OK)
		rc = harness_publish(h, GATEWAY, topic, buf, len);
	free(buf);
	return rc;
}

static long long count_event(struct harness *h, const char *id)
{
	const char *params[] = {id};
	long long n = -1;

	assert_int_equal(harness_sql_long(h, "SELECT count(*) FROM event WHERE event_id = $1", 1,
	                                  params, &n),
	                 CT_OK);
	return n;
}

static void wait_stored(struct harness *h, const char *id)
{
	const char *params[] = {id};

	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM event WHERE event_id = $1",
	                                         1, params, 1, HARNESS_WAIT_MS),
	                 CT_OK);
}

static void start_stack(struct harness *h)
{
	struct harness_proc *ingest = NULL, *traveler = NULL;

	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler), CT_OK);
	assert_int_equal(harness_service_start(h, HARNESS_INGEST, NULL, plant_env, &ingest), CT_OK);
}

static void test_client_id_bound_to_credential(void **state)
{
	struct harness *h = *state;
	struct harness_sub *s = NULL;
	const char *reply[] = {"ct/v1/sys/reply/cli-4242/#"};
	int ingest_state = 0;

	start_stack(h);
	assert_int_equal(publish_result(h, "L1", "L1-FILL-01", "trust-before"), CT_OK);
	wait_stored(h, "trust-before");
	/* The gateway credential posing as ingest's subscriber, and as a CLI awaiting a trace. */
	assert_int_not_equal(harness_sub_open(h, GATEWAY, "ingest", "1", false, NULL, 0, 1, &s),
	                     CT_OK);
	assert_int_not_equal(harness_sub_open(h, GATEWAY, "cli", "4242", true, reply, 1, 1, &s),
	                     CT_OK);
	/* cli's own credential as another service, and a bare service name without its user. */
	assert_int_not_equal(harness_sub_open(h, "cli", "traveler", "1", true, NULL, 0, 1, &s),
	                     CT_OK);
	assert_int_not_equal(harness_sub_open(h, "cli", "clix", "1", true, NULL, 0, 1, &s), CT_OK);
	/* Its own IDs work: "gw-site1-l1-<anything>". */
	assert_int_equal(harness_sub_open(h, GATEWAY, GATEWAY, "probe", true, NULL, 0, 1, &s),
	                 CT_OK);
	harness_sub_free(s);
	s = NULL;
	/* ingest was never kicked: it is ONLINE and stores what comes next. */
	assert_int_equal(harness_service_status(h, "ingest", "1", HARNESS_WAIT_MS, &ingest_state),
	                 CT_OK);
	assert_int_equal(ingest_state, CELLTHREAD__V1__SERVICE_STATE__SERVICE_STATE_ONLINE);
	assert_int_equal(publish_result(h, "L1", "L1-FILL-01", "trust-after"), CT_OK);
	wait_stored(h, "trust-after");
	harness_pass(h);
}

static void expect_dead_letter(struct harness *h, const char *topic, int reason_code,
                               const char *reason_part)
{
	char code[16], like[256];
	const char *params[3];

	snprintf(code, sizeof(code), "%d", reason_code);
	snprintf(like, sizeof(like), "%%%s%%", reason_part);
	params[0] = topic;
	params[1] = code;
	params[2] = like;
	if (harness_wait_sql_countv(h,
	                            "SELECT count(*) FROM dead_letter WHERE source_topic = $1 AND "
	                            "reason_code = $2::int AND reason LIKE $3",
	                            3, params, 1, HARNESS_WAIT_MS) != CT_OK)
		fail_msg("no dead letter %s for %s with a reason containing \"%s\"", code, topic,
		         reason_part);
}

static void test_gateway_keeps_to_its_line(void **state)
{
	struct harness *h = *state;
	Cellthread__V1__StationResultBatch *batch = NULL;
	struct harness_simple spec = {SITE, "L1", "L1-FILL-01", "trust-gateway", 1, 0};
	const char *ids[] = {"trust-huge"}, *units[] = {"trust-huge"};
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	start_stack(h);
	/* Another line's station: the broker drops it (ACL), nothing reaches ingest. */
	rc = publish_result(h, "L2", "L2-FILL-01", "trust-l2-forged");
	printf("publish to line L2 with the L1 gateway's credential: %s\n", ct_strerror(rc));
	/* A station the plant registry does not name on its own line. */
	assert_int_equal(publish_result(h, "L1", "L1-FAKE-01", "trust-fake"), CT_OK);
	expect_dead_letter(h, EDGE_L1 "L1-FAKE-01/result/pb",
	                   CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_UNKNOWN_STATION,
	                   "\"L1-FAKE-01\" is not a station of site \"site1\" line \"L1\"");
	/* A fill mass of 1.7e308 g: finite, and impossible. */
	assert_int_equal(harness_simple_batch(&spec, ids, units, 1, &buf, &len), CT_OK);
	batch = cellthread__v1__station_result_batch__unpack(NULL, len, buf);
	assert_non_null(batch);
	free(buf);
	buf = NULL;
	free(batch->results[0]->measurements[0]->characteristic);
	batch->results[0]->measurements[0]->characteristic = strdup("fill_mass");
	batch->results[0]->measurements[0]->value = 1.7e308;
	assert_int_equal(ct_pb_pack(&batch->base, &buf, &len), CT_OK);
	cellthread__v1__station_result_batch__free_unpacked(batch, NULL);
	assert_int_equal(harness_publish(h, GATEWAY, EDGE_L1 "L1-FILL-01/result/pb", buf, len),
	                 CT_OK);
	free(buf);
	expect_dead_letter(h, EDGE_L1 "L1-FILL-01/result/pb",
	                   CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_IMPLAUSIBLE,
	                   "1.7e+308 is outside the physical range of fill_mass [0, 50]");
	/* Its own station, published last: stored; the forgeries never were. */
	assert_int_equal(publish_result(h, "L1", "L1-FILL-01", "trust-own"), CT_OK);
	wait_stored(h, "trust-own");
	assert_int_equal(count_event(h, "trust-l2-forged"), 0);
	assert_int_equal(count_event(h, "trust-fake"), 0);
	assert_int_equal(count_event(h, "trust-huge"), 0);
	{
		long long n = -1;
		const char *params[] = {EDGE_L2 "L2-FILL-01/result/pb"};

		assert_int_equal(harness_sql_long(h,
		                                  "SELECT count(*) FROM dead_letter WHERE "
		                                  "source_topic = $1",
		                                  1, params, &n),
		                 CT_OK);
		assert_int_equal(n, 0); /* dropped by the broker: ingest never saw it */
	}
	harness_pass(h);
}

/* Messages on sub before the marker arrives on it (the marker is published after everything
 * the broker had queued, so all of that comes first). */
static int count_before_marker(struct harness *h, struct harness_sub *sub, const char *user,
                               const char *marker_topic)
{
	const char *topic = NULL;
	const uint8_t *payload = NULL;
	size_t len = 0;
	int before = 0;

	assert_int_equal(harness_publish(h, user, marker_topic, "m", 1), CT_OK);
	for (;;) {
		assert_int_equal(harness_sub_next(sub, HARNESS_WAIT_MS, &topic, &payload, &len),
		                 CT_OK);
		if (strcmp(topic, marker_topic) == 0)
			return before;
		printf("before the marker: %s\n", topic);
		before++;
	}
}

static void test_absent_reader_holds_nothing(void **state)
{
	struct harness *h = *state;
	struct harness_sub *s = NULL;
	const char *plant[] = {"ct/v1/plant/#"};
	const char *both[] = {"ct/v1/plant/#", "ct/v1/sys/status/cli/marker"};
	char id[32];

	start_stack(h);
	/* QoS 1 on the plant tree is for services only. */
	assert_int_not_equal(harness_sub_open(h, "cli", "cli", "absent", false, plant, 1, 1, &s),
	                     CT_OK);
	/* QoS 0 is granted; the session persists but holds nothing while its owner is away. */
	assert_int_equal(harness_sub_open(h, "cli", "cli", "absent", false, both, 2, 0, &s), CT_OK);
	harness_sub_free(s);
	s = NULL;
	for (int i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "trust-away-%02d", i);
		assert_int_equal(publish_result(h, "L1", "L1-FILL-01", id), CT_OK);
	}
	wait_stored(h, "trust-away-19");
	assert_int_equal(harness_sub_open(h, "cli", "cli", "absent", false, both, 2, 0, &s), CT_OK);
	assert_int_equal(count_before_marker(h, s, "cli", "ct/v1/sys/status/cli/marker"), 0);
	harness_sub_free(s);
	harness_pass(h);
}

static void test_edge_not_retained(void **state)
{
	struct harness *h = *state;
	struct harness_sub *s = NULL;
	const char *filters[] = {"ct/v1/edge/#", "ct/v1/sys/status/ingest/marker"};
	struct harness_simple spec = {SITE, "L1", "L1-FILL-01", "trust-gateway", 1, 0};
	const char *ids[] = {"trust-retained"}, *units[] = {"trust-retained"};
	uint8_t *buf = NULL;
	size_t len = 0;

	start_stack(h);
	assert_int_equal(harness_simple_batch(&spec, ids, units, 1, &buf, &len), CT_OK);
	assert_int_equal(harness_publish_retained(h, GATEWAY, EDGE_L1 "L1-FILL-01/result/pb", buf,
	                                          len, true),
	                 CT_OK);
	free(buf);
	/* Delivered as usual ... */
	wait_stored(h, "trust-retained");
	/* ... but not kept: a new subscriber to the edge tree gets nothing retained. */
	assert_int_equal(harness_sub_open(h, "ingest", "ingest", "probe", true, filters, 2, 1, &s),
	                 CT_OK);
	assert_int_equal(count_before_marker(h, s, "ingest", "ct/v1/sys/status/ingest/marker"), 0);
	harness_sub_free(s);
	harness_pass(h);
}

/* ---- A client that never reads ---- */

/* The broker's resident memory in MiB, from /proc. */
static long broker_rss_mib(struct harness *h)
{
	char path[64], *text = NULL, *line;
	long kib = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)h->broker.pid);
	assert_int_equal(harness_read_file(path, &text, NULL), CT_OK);
	line = strstr(text, "VmRSS:");
	assert_non_null(line);
	kib = strtol(line + 6, NULL, 10);
	free(text);
	return kib / 1024;
}

static size_t put_str(uint8_t *p, const char *s)
{
	size_t n = strlen(s);

	p[0] = (uint8_t)(n >> 8);
	p[1] = (uint8_t)n;
	memcpy(p + 2, s, n);
	return n + 2;
}

/* Reads exactly n bytes from fd within the deadline. */
static void read_exact(int fd, uint8_t *buf, size_t n, int64_t deadline)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd pfd = {fd, POLLIN, 0};
		ssize_t r;

		assert_true(poll(&pfd, 1, (int)(deadline - ct_mono_ms())) > 0);
		r = read(fd, buf + got, n - got);
		assert_true(r > 0);
		got += (size_t)r;
	}
}

/* A raw MQTT 3.1.1 client as cli ("cli-lazy") subscribed with QoS 0 to filter, with a tiny
 * receive buffer, that will never read again: returns its socket. */
static int lazy_reader(struct harness *h, const char *filter)
{
	uint8_t pkt[512], body[500], ack[5];
	char password[128];
	struct sockaddr_in addr;
	size_t n = 0;
	int fd, small = 4096;
	int64_t deadline = ct_mono_ms() + HARNESS_WAIT_MS;

	assert_int_equal(harness_mqtt_password(h, "cli", password, sizeof(password)), CT_OK);
	n += put_str(body + n, "MQTT");
	body[n++] = 4;    /* 3.1.1 */
	body[n++] = 0xC2; /* user, password, clean session */
	body[n++] = 0;
	body[n++] = 0; /* no keepalive: the broker never drops it for silence */
	n += put_str(body + n, "cli-lazy");
	n += put_str(body + n, "cli");
	n += put_str(body + n, password);
	pkt[0] = 0x10;
	pkt[1] = (uint8_t)n;
	memcpy(pkt + 2, body, n);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((uint16_t)h->mqtt_port);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(write(fd, pkt, n + 2), (ssize_t)(n + 2));
	read_exact(fd, ack, 4, deadline);
	assert_int_equal(ack[0], 0x20);
	assert_int_equal(ack[3], 0); /* accepted */
	n = 0;
	body[n++] = 0;
	body[n++] = 1; /* packet ID */
	n += put_str(body + n, filter);
	body[n++] = 0; /* QoS 0 */
	pkt[0] = 0x82;
	pkt[1] = (uint8_t)n;
	memcpy(pkt + 2, body, n);
	assert_int_equal(write(fd, pkt, n + 2), (ssize_t)(n + 2));
	read_exact(fd, ack, 5, deadline);
	assert_int_equal(ack[0], 0x90);
	assert_int_equal(ack[4], 0); /* granted QoS 0 */
	return fd;
}

/* Whether the broker closed fd: reads (and drops) what it sent until EOF or the deadline. */
static bool closed_by_broker(int fd, int timeout_ms)
{
	int64_t deadline = ct_mono_ms() + timeout_ms;
	static uint8_t sink[1 << 16];

	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		int left = (int)(deadline - ct_mono_ms());
		ssize_t r;

		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			return false;
		r = read(fd, sink, sizeof(sink));
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return true;
		if (r < 0 && errno != EINTR)
			return false;
	}
}

static void test_never_reading_client_bounded(void **state)
{
	struct harness *h = *state;
	struct harness_sub *service = NULL;
	struct ct_mqtt *pub = NULL;
	const char *keep[] = {"ct/v1/sys/status/ingest/keep"};
	const char *topic = NULL;
	const uint8_t *payload = NULL;
	static uint8_t big[4096];
	size_t len = 0;
	long before, peak = 0, after;
	int fd, i;

	/* A service's session subscribed meanwhile: shedding never touches it. */
	assert_int_equal(
	        harness_sub_open(h, "ingest", "ingest", "keep", false, keep, 1, 1, &service),
	        CT_OK);
	fd = lazy_reader(h, "ct/v1/plant/#");
	before = broker_rss_mib(h);
	memset(big, 'x', sizeof(big));
	assert_int_equal(harness_mqtt_connect(h, "ingest", &pub), CT_OK);
	/* 4 KiB x 40,000 = 156 MiB for the lazy reader, over the bound of SHED_MIB. */
	for (i = 0; i < 40000; i++) {
		assert_int_equal(ct_mqtt_publish(pub, "ct/v1/plant/site1/L1/L1-FILL-01/telemetry",
		                                 big, sizeof(big), 0, false, 60000),
		                 CT_OK);
		if (i % 2000 == 0) {
			long rss = broker_rss_mib(h);
			peak = rss > peak ? rss : peak;
		}
	}
	assert_int_equal(ct_mqtt_flush(pub, 60000), CT_OK);
	ct_mqtt_free(pub);
	assert_true(closed_by_broker(fd, HARNESS_WAIT_MS));
	close(fd);
	after = broker_rss_mib(h);
	printf("broker RSS: %ld MiB before, %ld MiB peak while the lazy reader held its stream, "
	       "%ld MiB after it was disconnected (bound " SHED_MIB " MiB)\n",
	       before, peak, after);
	/* RSS is printed, not asserted: freed memory need not return to the system. What bounds
	 * the broker is the disconnect above (its queue is freed with the client). */
	/* The service's session is still there. */
	assert_int_equal(harness_publish(h, "ingest", keep[0], "k", 1), CT_OK);
	assert_int_equal(harness_sub_next(service, HARNESS_WAIT_MS, &topic, &payload, &len), CT_OK);
	assert_string_equal(topic, keep[0]);
	harness_sub_free(service);
	harness_pass(h);
}

static int group_setup(void **state)
{
	/* Read by the harness when it configures the broker. */
	setenv("CT_IT_BROKER_SHED_MIB", SHED_MIB, 1);
	return harness_group_start("edge_trust", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_client_id_bound_to_credential,
	                                        harness_test_setup, harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_gateway_keeps_to_its_line, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_absent_reader_holds_nothing,
	                                        harness_test_setup, harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_edge_not_retained, harness_test_setup,
	                                        harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_never_reading_client_bounded,
	                                        harness_test_setup, harness_test_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
