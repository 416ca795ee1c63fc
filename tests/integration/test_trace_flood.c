/* test_trace_flood: a flood of trace requests never delays storage, and a client that asks
 * too much is refused while the others are answered.
 *
 * A lot with N_CHILDREN cells is written straight into the database, so every trace forward
 * from it is heavy (a few thousand nodes). Then 500 TraceRequests arrive at once, as the cli
 * credential: a greedy client asks GREEDY_REQUESTS times, POLITE_CLIENTS others ask
 * PER_CLIENT times each (their limit: never refused). While the trace worker answers them,
 * results are published on the plant tree one after another and each must be stored within
 * STORE_LIMIT_MS, while answering all the traces takes longer than that. In the end every
 * request has exactly one reply: an answer or a refusal, and only the greedy client is
 * refused.
 *
 * A second test stops traveler with a queue full of requests: it exits 0 (ASan finds no
 * leak) and says how many it dropped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ct_error.h"
#include "ct_pb.h"
#include "ct_time.h"
#include "harness.h"

#define SITE            "TF"
#define LOT             "TF-LOT"
#define N_CHILDREN      6000
#define PER_CLIENT      8
#define POLITE_CLIENTS  12
#define GREEDY_REQUESTS (500 - POLITE_CLIENTS * PER_CLIENT)
#define N_CLIENTS       (POLITE_CLIENTS + 1) /* client 0 is the greedy one */
#define N_REQUESTS      500
#define STORE_LIMIT_MS  5000
#define TRACE_TOPIC     "ct/v1/sys/rpc/traveler/trace"

/* One client asking for traces: its reply subscriber and what came back. */
struct client {
	struct harness_sub *sub;
	char id[64];
	char reply_topic[128];
	int asked, answered, refused, other;
	unsigned char *seen; /* by request number */
};

static const char *const traveler_env[] = {
        "CT_TRAVELER_TRACE_QUEUE=128",
        "CT_TRAVELER_TRACE_PER_CLIENT=8",
        NULL,
};

/* A lot consumed by n cells, written as ct_admin (the trace only reads these tables): in
 * genealogy the parent is the unit built and the child what went into it. */
static void make_lot(struct harness *h, int n)
{
	char n_text[16];
	const char *p[] = {LOT, n_text};
	PGresult *res = NULL;

	snprintf(n_text, sizeof(n_text), "%d", n);
	assert_int_equal(harness_sql(h,
	                             "INSERT INTO unit (unit_id, kind, site, line, first_seen_at, "
	                             "last_seen_at) SELECT $1, 1, 'TF', 'L1', now(), now() UNION "
	                             "ALL SELECT $1 || '-C' || g, 4, 'TF', 'L1', now(), now() "
	                             "FROM generate_series(1, $2::int) g",
	                             2, p, &res),
	                 CT_OK);
	PQclear(res);
	assert_int_equal(harness_sql(h,
	                             "INSERT INTO genealogy (parent_id, child_id, child_kind, "
	                             "material, quantity, uom, position, source, station, "
	                             "event_id, assembled_at, seq) SELECT $1 || '-C' || g, $1, 1, "
	                             "'anode', 1, 'ea', '', 'material', 'TF-ST', 'tf-gen-' || g, "
	                             "now(), 0 FROM generate_series(1, $2::int) g",
	                             2, p, &res),
	                 CT_OK);
	PQclear(res);
}

/* Subscribes a new cli client to its own reply topics. The harness names test clients
 * "<user>-t<pid>-<n>", n counting up; the filter must name the ID before it exists. */
static void client_open(struct harness *h, struct client *c)
{
	char filter[128];

	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "cli-t%d-%u", (int)getpid(), h->client_seq + 1);
	snprintf(filter, sizeof(filter), "ct/v1/sys/reply/%s/#", c->id);
	snprintf(c->reply_topic, sizeof(c->reply_topic), "ct/v1/sys/reply/%s/trace", c->id);
	assert_int_equal(harness_sub_new(h, "cli", filter, &c->sub), CT_OK);
	assert_string_equal(harness_sub_client_id(c->sub), c->id);
	c->seen = calloc(N_REQUESTS, 1);
	assert_non_null(c->seen);
}

static void client_close(struct client *c)
{
	harness_sub_free(c->sub);
	free(c->seen);
}

/* Publishes request number k of client c (request ID "<client index>-<k>"). */
static void ask(struct ct_mqtt *pub, struct client *c, size_t index, int k)
{
	Cellthread__V1__TraceRequest req = CELLTHREAD__V1__TRACE_REQUEST__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	char event_id[40], request_id[32];
	uint8_t *buf = NULL;
	size_t len = 0;

	ct_pb_header_fill(&header, event_id, sizeof(event_id), "cli");
	snprintf(request_id, sizeof(request_id), "%zu-%d", index, k);
	req.header = &header;
	req.request_id = request_id;
	req.direction = CELLTHREAD__V1__TRACE_DIRECTION__TRACE_DIRECTION_FORWARD;
	req.id = (char *)LOT;
	req.reply_topic = c->reply_topic;
	assert_int_equal(ct_pb_pack(&req.base, &buf, &len), CT_OK);
	assert_int_equal(ct_mqtt_publish(pub, TRACE_TOPIC, buf, len, 1, false, 30000), CT_OK);
	free(buf);
	c->asked++;
}

/* The request number k of a request ID "<index>-<k>" of client index, or -1. */
static int request_number(const char *request_id, size_t index)
{
	char prefix[16];
	size_t n = (size_t)snprintf(prefix, sizeof(prefix), "%zu-", index);
	char *end = NULL;
	long k;

	if (strncmp(request_id, prefix, n) != 0)
		return -1;
	k = strtol(request_id + n, &end, 10);
	if (end == request_id + n || *end != '\0' || k < 0 || k >= N_REQUESTS)
		return -1;
	return (int)k;
}

/* Reads what arrived for client c (waiting up to wait_ms for the first); returns how many. */
static int client_drain(struct client *c, size_t index, int wait_ms)
{
	const char *topic;
	const uint8_t *payload;
	size_t len;
	int got = 0;

	while (harness_sub_next(c->sub, got == 0 ? wait_ms : 1, &topic, &payload, &len) == CT_OK) {
		ProtobufCMessage *msg = NULL;
		Cellthread__V1__TraceResponse *resp;
		int k;

		assert_int_equal(ct_pb_unpack(&cellthread__v1__trace_response__descriptor, payload,
		                              len, 64u << 20, &msg),
		                 CT_OK);
		resp = (Cellthread__V1__TraceResponse *)msg;
		k = request_number(resp->request_id, index);
		if (k < 0 || c->seen[k])
			fail_msg("client %s: unexpected or repeated reply to request \"%s\"", c->id,
			         resp->request_id);
		c->seen[k] = 1;
		if (resp->ok && resp->n_nodes == N_CHILDREN)
			c->answered++;
		else if (!resp->ok && strstr(resp->error, "too many trace requests") != NULL)
			c->refused++;
		else {
			printf("client %s request %s: ok=%d nodes=%zu error=%s\n", c->id,
			       resp->request_id, resp->ok, resp->n_nodes, resp->error);
			c->other++;
		}
		ct_pb_free(msg);
		got++;
	}
	return got;
}

/* Publishes one result on the plant tree with pub (connected as ingest) and returns how long
 * it took until traveler stored it. */
static int64_t store_one(struct harness *h, struct ct_mqtt *pub, int n)
{
	struct harness_simple spec = {SITE, "L1", "TF-ST", "tf", 2, 0};
	char id[64], unit[64];
	const char *ids[] = {id}, *units[] = {unit};
	uint8_t *buf = NULL;
	size_t len = 0;
	int64_t t0;

	snprintf(id, sizeof(id), "tf-result-%d", n);
	snprintf(unit, sizeof(unit), "TF-UNIT-%d", n);
	assert_int_equal(harness_simple_batch(&spec, ids, units, 1, &buf, &len), CT_OK);
	t0 = ct_mono_ms();
	assert_int_equal(ct_mqtt_publish(pub, "ct/v1/plant/" SITE "/L1/TF-ST/result", buf, len, 1,
	                                 false, 30000),
	                 CT_OK);
	free(buf);
	assert_int_equal(harness_wait_sql_countv(h,
	                                         "SELECT count(*) FROM station_visit WHERE "
	                                         "event_id = $1",
	                                         1, ids, 1, HARNESS_WAIT_MS),
	                 CT_OK);
	return ct_mono_ms() - t0;
}

static void test_flood_does_not_delay_storage(void **state)
{
	struct harness *h = *state;
	struct harness_proc *traveler = NULL;
	struct client clients[N_CLIENTS];
	struct ct_mqtt *pub = NULL, *ingest = NULL;
	int64_t t0, last_reply_ms = 0, max_latency = 0, deadline;
	int replies = 0, stored = 0, stored_while_pending = 0;
	int total_answered = 0, total_refused = 0;

	assert_int_equal(harness_service_start(h, HARNESS_TRAVELER, "traveler-flood", traveler_env,
	                                       &traveler),
	                 CT_OK);
	make_lot(h, N_CHILDREN);
	for (size_t i = 0; i < N_CLIENTS; i++)
		client_open(h, &clients[i]);
	assert_int_equal(harness_mqtt_connect(h, "ingest", &ingest), CT_OK);
	/* Storage works before the flood (and the first result warms up the path). */
	printf("before the flood: a result stored in %lld ms\n",
	       (long long)store_one(h, ingest, 0));

	assert_int_equal(harness_mqtt_connect(h, "cli", &pub), CT_OK);
	t0 = ct_mono_ms();
	/* The greedy client first, all at once: most of its requests find its limit reached. */
	for (int k = 0; k < GREEDY_REQUESTS; k++)
		ask(pub, &clients[0], 0, k);
	for (int k = 0; k < PER_CLIENT; k++)
		for (size_t i = 1; i < N_CLIENTS; i++)
			ask(pub, &clients[i], i, k);
	assert_int_equal(ct_mqtt_flush(pub, 30000), CT_OK);
	printf("published %d trace requests in %lld ms\n", N_REQUESTS,
	       (long long)(ct_mono_ms() - t0));

	/* Results one after another while the replies come in. */
	deadline = ct_mono_ms() + HARNESS_WAIT_MS;
	while (replies < N_REQUESTS) {
		int64_t latency;
		if (ct_mono_ms() > deadline)
			fail_msg("only %d of %d trace requests had a reply", replies, N_REQUESTS);
		latency = store_one(h, ingest, ++stored);
		printf("  result %d stored in %lld ms, %d replies so far\n", stored,
		       (long long)latency, replies);
		if (latency > max_latency)
			max_latency = latency;
		for (size_t i = 0; i < N_CLIENTS; i++) {
			int got = client_drain(&clients[i], i, 1);
			if (got > 0)
				last_reply_ms = ct_mono_ms();
			replies += got;
		}
		if (replies < N_REQUESTS)
			stored_while_pending++;
	}
	printf("flood answered in %lld ms; %d results stored meanwhile, each within %lld ms; "
	       "%d of them while replies were still pending\n",
	       (long long)(last_reply_ms - t0), stored, (long long)max_latency,
	       stored_while_pending);

	for (size_t i = 0; i < N_CLIENTS; i++) {
		struct client *c = &clients[i];
		/* Nothing more: exactly one reply per request. */
		assert_int_equal(client_drain(c, i, 500), 0);
		assert_int_equal(c->other, 0);
		assert_int_equal(c->answered + c->refused, c->asked);
		total_answered += c->answered;
		total_refused += c->refused;
		if (i > 0) {
			assert_int_equal(c->refused, 0); /* within its limit: always answered */
			assert_int_equal(c->answered, PER_CLIENT);
		}
	}
	printf("greedy client: %d answered, %d refused; %d answered in all, %d refused\n",
	       clients[0].answered, clients[0].refused, total_answered, total_refused);
	assert_int_equal(total_answered + total_refused, N_REQUESTS);
	assert_true(clients[0].answered >= PER_CLIENT);
	assert_true(clients[0].refused > 0);
	/* Storage went on while traces were answered, each result within the limit, and the
	 * flood took longer to answer than any result took to be stored. */
	assert_true(stored_while_pending >= 3);
	assert_true(max_latency < STORE_LIMIT_MS);
	assert_true(last_reply_ms - t0 > max_latency);

	ct_mqtt_free(pub);
	ct_mqtt_free(ingest);
	for (size_t i = 0; i < N_CLIENTS; i++)
		client_close(&clients[i]);
	assert_int_equal(harness_proc_stop(h, traveler), CT_OK);
	harness_pass(h);
}

static void test_stop_with_queue(void **state)
{
	struct harness *h = *state;
	struct harness_proc *traveler = NULL;
	static const char *const env[] = {"CT_TRAVELER_TRACE_QUEUE=200",
	                                  "CT_TRAVELER_TRACE_PER_CLIENT=200", NULL};
	struct client c;
	struct ct_mqtt *pub = NULL;
	int got;

	assert_int_equal(
	        harness_service_start(h, HARNESS_TRAVELER, "traveler-stop", env, &traveler), CT_OK);
	client_open(h, &c);
	assert_int_equal(harness_mqtt_connect(h, "cli", &pub), CT_OK);
	for (int k = 0; k < 150; k++)
		ask(pub, &c, 0, k);
	assert_int_equal(ct_mqtt_flush(pub, 30000), CT_OK);
	/* The first answer: the worker is busy and the queue is full of the rest. */
	got = client_drain(&c, 0, HARNESS_WAIT_MS);
	assert_true(got > 0);
	assert_int_equal(harness_proc_stop(h, traveler), CT_OK); /* exit 0: no leak, joined */
	client_drain(&c, 0, 1000);
	printf("stopped after %d of %d answers\n", c.answered, c.asked);
	assert_int_equal(c.refused + c.other, 0);
	if (c.answered < c.asked)
		assert_int_equal(harness_proc_wait_log(h, traveler, "dropped", 10000), CT_OK);
	ct_mqtt_free(pub);
	client_close(&c);
	harness_pass(h);
}

static int group_setup(void **state)
{
	return harness_group_start("trace-flood", CT_IT_WATCHDOG_S, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_flood_does_not_delay_storage,
	                                        harness_test_setup, harness_test_teardown),
	        cmocka_unit_test_setup_teardown(test_stop_with_queue, harness_test_setup,
	                                        harness_test_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, harness_group_stop);
}
