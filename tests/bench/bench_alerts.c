/* bench_alerts: alerts through ct-alert-router to MQTT and to a webhook, beside the raw MQTT
 * round trip of the same broker in the same run.
 *
 * One harness (Mosquitto with the shipped ACL and broker guard, PostgreSQL on loopback), the
 * real ct-alert-router (routes file of two subscriptions, CT_ROUTER_FLOOD_ON=100000 so no
 * flood grouping) and the integration tests' webhook receiver (http_receiver.c, libmicrohttpd,
 * answering 200 at once). Three kinds of sample, each a message with an ID of its own:
 *   raw      a publisher (MQTT user linesim) publishes a payload of the alert's size, QoS 1, to
 *            ct/v1/edge/BENCH/L1/ECHO/result/pb; an echo client (user ingest, a service, so
 *            its QoS 1 subscription is queued like the router's) republishes it from its Paho
 *            callback, QoS 1, to ct/v1/plant/BENCH/L1/ECHO/result, where the subscriber (user
 *            cli, QoS 0 as the broker guard allows a client that is not a service: the shape
 *            of a dashboard reading a team topic) receives it. Path: publisher -> broker ->
 *            echo -> broker -> subscriber. No service runs that reads these topics.
 *   mqtt     an alert publisher (user spc-gate, an alert source) raises an Alert (severity
 *            HIGH, code BENCH_ALERT, object_kind "unit", object_id the sample's ID, so every
 *            sample is a new alert key and a delivery) on ct/v1/plant/BM/L1/B1/alert; the
 *            router's subscription bench-mqtt (filter BM/#) delivers its JSON on
 *            ct/v1/alert/team/bench, where the same cli subscriber receives it. Path:
 *            publisher -> broker -> router (one PostgreSQL transaction per batch of inputs:
 *            alert, audit, outbox row) -> broker -> subscriber.
 *   webhook  the same on ct/v1/plant/BW/L1/B1/alert, routed by subscription bench-hook
 *            (filter BW/#, channel webhook) to http://127.0.0.1:PORT/hook: the router commits
 *            the outbox row, its webhook worker (own PostgreSQL connection) takes it and POSTs
 *            it with libcurl; the sample ends when the receiver has the whole request. A
 *            thread of the bench wakes on each request the receiver records (its condition
 *            variable) and takes the time then; the receiver's own timestamp has 1 ms
 *            resolution and bounds it (the earlier of the two, +0.999 ms, is used).
 * Latency = publish (just before MQTTAsync_sendMessage) to arrival, CLOCK_MONOTONIC, all in
 * this process. Clients are plain Paho MQTTAsync with TCP_NODELAY, clean session.
 *
 * Phases:
 *   warm-up  10 samples of each kind one at a time (not reported).
 *   steady   SAMPLES of each kind at RATE per kind per second, open loop on a fixed schedule,
 *            the three kinds interleaved (raw, mqtt, webhook, raw, ...), so each kind sees the
 *            same machine: p50 / p99 / p99.9 / max latency, and ratios to the raw p50 / p99.
 *   flood    FLOOD samples of one kind published as fast as Paho takes them, then the next
 *            kind (raw, mqtt, webhook): deliveries per second (received / (last arrival -
 *            first publish)), the publish rate, and latency (queue-dominated by design).
 * CPU time of the router, Mosquitto, PostgreSQL and the bench per phase, and PostgreSQL
 * commits per phase (pg_stat_database, which includes the bench's own few queries), so a
 * reader sees where the time goes. Prints one JSON object. Not a test: nothing is asserted
 * about speed.
 *
 * Usage: bench_alerts [SAMPLES [RATE [FLOOD]]]   (default 1000 per kind, 50/s per kind, 5000)
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <MQTTAsync.h>

#include "cellthread/v1/control.pb-c.h"
#include "ct_error.h"
#include "ct_mqtt.h"
#include "ct_pb.h"
#include "ct_time.h"
#include "bench_util.h"
#include "harness.h"
#include "http_receiver.h"

#define ECHO_IN     "ct/v1/edge/BENCH/L1/ECHO/result/pb"
#define ECHO_OUT    "ct/v1/plant/BENCH/L1/ECHO/result"
#define ALERT_MQTT  "ct/v1/plant/BM/L1/B1/alert"
#define ALERT_HOOK  "ct/v1/plant/BW/L1/B1/alert"
#define TEAM_TOPIC  "ct/v1/alert/team/bench"
#define DEADLINE_MS 10000 /* a warm-up sample's answer */
#define QUIET_MS    15000 /* a phase ends when nothing more arrived for this long */

enum kind { KIND_RAW, KIND_MQTT, KIND_HOOK, N_KINDS };
static const char *const kind_names[N_KINDS] = {"raw_round_trip", "router_to_mqtt",
                                                "router_to_webhook"};

enum phase { PH_WARM, PH_STEADY, PH_FLOOD_RAW, PH_FLOOD_MQTT, PH_FLOOD_HOOK, N_PHASES };

struct sample {
	int64_t sent_mono, done_mono; /* us; 0: not yet */
	int answers;
};

struct series {
	struct sample *s;
	size_t n;
};

struct bench {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct series series[N_PHASES][N_KINDS];
	long unexpected;
	long echo_failed;
	int broker_port;
	int64_t last_arrival;      /* mono us of the latest answer of any kind */
	struct client *echo;       /* the echo client, for its callback */
	struct http_receiver *rcv; /* the webhook receiver */
	bool stop_watch;
};

struct client {
	struct bench *b;
	MQTTAsync c;
	const char *name;
	bool connected, subscribed, failed;
	void (*handle)(struct client *cl, const char *topic, const void *payload, size_t len,
	               int64_t mono);
};

/* "b-<phase>-<kind>-<index>": which sample an ID names; NULL when none (under b->lock). */
static struct sample *lookup(struct bench *b, const char *id)
{
	int phase, kind;
	unsigned long index;

	if (id == NULL || sscanf(id, "b-%d-%d-%lu", &phase, &kind, &index) != 3)
		return NULL;
	if (phase < 0 || phase >= N_PHASES || kind < 0 || kind >= N_KINDS ||
	    index >= b->series[phase][kind].n)
		return NULL;
	return &b->series[phase][kind].s[index];
}

/* Records an answer for id at mono (takes b->lock). */
static void answer(struct bench *b, const char *id, int64_t mono)
{
	struct sample *s;

	pthread_mutex_lock(&b->lock);
	s = lookup(b, id);
	if (s == NULL) {
		b->unexpected++;
	} else if (s->answers++ == 0) {
		s->done_mono = mono;
		if (mono > b->last_arrival)
			b->last_arrival = mono;
	}
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

/* ---- Paho clients (as bench_closed_loop.c) ---- */

static int on_message(void *context, char *topic, int topic_len, MQTTAsync_message *m)
{
	struct client *cl = context;
	int64_t now = bench_mono_us();
	char name[256];
	size_t n = topic_len > 0 ? (size_t)topic_len : strlen(topic);

	snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : sizeof(name) - 1), topic);
	cl->handle(cl, name, m->payload, (size_t)(m->payloadlen > 0 ? m->payloadlen : 0), now);
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	return 1;
}

static void set_flag(struct client *cl, bool *flag)
{
	pthread_mutex_lock(&cl->b->lock);
	*flag = true;
	pthread_cond_broadcast(&cl->b->cond);
	pthread_mutex_unlock(&cl->b->lock);
}

static void on_connected(void *context, MQTTAsync_successData *response)
{
	struct client *cl = context;
	(void)response;
	ct_tcp_nodelay_for_peer_port(cl->b->broker_port);
	set_flag(cl, &cl->connected);
}

static void on_failed(void *context, MQTTAsync_failureData *response)
{
	struct client *cl = context;
	fprintf(stderr, "bench: %s: connect or subscribe failed (code %d)\n", cl->name,
	        response ? response->code : -1);
	set_flag(cl, &cl->failed);
}

static void on_subscribed(void *context, MQTTAsync_successData *response)
{
	struct client *cl = context;
	(void)response;
	set_flag(cl, &cl->subscribed);
}

static void on_lost(void *context, char *cause)
{
	struct client *cl = context;
	fprintf(stderr, "bench: %s lost its connection (%s)\n", cl->name, cause ? cause : "?");
}

static int wait_flag(struct client *cl, const bool *flag)
{
	int64_t deadline = ct_mono_ms() + 10000;
	bool ok;

	pthread_mutex_lock(&cl->b->lock);
	while (!*flag && !cl->failed && ct_mono_ms() < deadline) {
		pthread_mutex_unlock(&cl->b->lock);
		bench_sleep_us(1000);
		pthread_mutex_lock(&cl->b->lock);
	}
	ok = *flag && !cl->failed;
	pthread_mutex_unlock(&cl->b->lock);
	return ok ? CT_OK : CT_ERR_TIMEOUT;
}

/* Connects cl as user (clean session, TCP_NODELAY) and subscribes to filters at qos. */
static int client_start(struct client *cl, struct harness *h, const char *user, const char *id,
                        const char *const *filters, int n_filters, int qos_all)
{
	MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
	MQTTAsync_responseOptions sub = MQTTAsync_responseOptions_initializer;
	int qos[4] = {qos_all, qos_all, qos_all, qos_all};
	char password[128];
	int rc;

	if (harness_mqtt_password(h, user, password, sizeof(password)) != CT_OK)
		return CT_ERR_IO;
	if (MQTTAsync_create(&cl->c, h->mqtt_url, id, MQTTCLIENT_PERSISTENCE_NONE, NULL) !=
	    MQTTASYNC_SUCCESS)
		return CT_ERR_MQTT;
	MQTTAsync_setCallbacks(cl->c, cl, on_lost, on_message, NULL);
	opts.username = user;
	opts.password = password;
	opts.cleansession = 1;
	opts.keepAliveInterval = 30;
	opts.onSuccess = on_connected;
	opts.onFailure = on_failed;
	opts.context = cl;
	if (MQTTAsync_connect(cl->c, &opts) != MQTTASYNC_SUCCESS)
		return CT_ERR_MQTT;
	if ((rc = wait_flag(cl, &cl->connected)) != CT_OK)
		return rc;
	if (n_filters == 0)
		return CT_OK;
	sub.onSuccess = on_subscribed;
	sub.onFailure = on_failed;
	sub.context = cl;
	if (MQTTAsync_subscribeMany(cl->c, n_filters, (char *const *)filters, qos, &sub) !=
	    MQTTASYNC_SUCCESS)
		return CT_ERR_MQTT;
	return wait_flag(cl, &cl->subscribed);
}

static void client_stop(struct client *cl)
{
	if (cl->c == NULL)
		return;
	MQTTAsync_disconnect(cl->c, NULL);
	for (int i = 0; i < 100 && MQTTAsync_isConnected(cl->c); i++)
		bench_sleep_us(10000);
	MQTTAsync_destroy(&cl->c);
}

/* QoS 1 publish; while Paho refuses (its in-flight window is full during a flood), retries
 * every 100 us for up to 10 s. */
static int publish(struct client *cl, const char *topic, const void *payload, size_t len)
{
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	int64_t until = bench_mono_us() + 10000000;

	msg.payload = (void *)payload;
	msg.payloadlen = (int)len;
	msg.qos = 1;
	while (MQTTAsync_sendMessage(cl->c, topic, &msg, NULL) != MQTTASYNC_SUCCESS) {
		if (bench_mono_us() > until)
			return CT_ERR_MQTT;
		bench_sleep_us(100);
	}
	return CT_OK;
}

/* Echo: republishes what arrives on ECHO_IN to ECHO_OUT, from Paho's callback. */
static void echo_handle(struct client *cl, const char *topic, const void *payload, size_t len,
                        int64_t mono)
{
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	(void)topic;
	(void)mono;
	msg.payload = (void *)payload;
	msg.payloadlen = (int)len;
	msg.qos = 1;
	if (MQTTAsync_sendMessage(cl->c, ECHO_OUT, &msg, NULL) != MQTTASYNC_SUCCESS) {
		pthread_mutex_lock(&cl->b->lock);
		cl->b->echo_failed++;
		pthread_mutex_unlock(&cl->b->lock);
	}
}

/* Subscriber: echoes (the ID first, NUL-terminated) and team-topic JSON (object_id). */
static void sub_handle(struct client *cl, const char *topic, const void *payload, size_t len,
                       int64_t mono)
{
	char id[64];

	if (strcmp(topic, ECHO_OUT) == 0) {
		snprintf(id, sizeof(id), "%.*s", (int)(len < sizeof(id) ? len : sizeof(id) - 1),
		         (const char *)payload);
		answer(cl->b, id, mono);
	} else {
		json_t *o = json_loadb(payload, len, 0, NULL);
		const char *object_id = json_string_value(json_object_get(o, "object_id"));
		const char *action = json_string_value(json_object_get(o, "action"));
		if (action != NULL && strcmp(action, "RAISE") == 0)
			answer(cl->b, object_id, mono);
		else {
			pthread_mutex_lock(&cl->b->lock);
			cl->b->unexpected++;
			pthread_mutex_unlock(&cl->b->lock);
		}
		json_decref(o);
	}
}

/* Webhook watcher: wakes on every request the receiver records. */
static void *watch_webhooks(void *arg)
{
	struct bench *b = arg;
	size_t seen = 0;

	for (;;) {
		bool stop;
		pthread_mutex_lock(&b->lock);
		stop = b->stop_watch;
		pthread_mutex_unlock(&b->lock);
		if (stop)
			break;
		/* main() ends the wait with a request of its own (stop_watcher). */
		if (http_receiver_wait_count(b->rcv, seen + 1, 3600 * 1000) != CT_OK)
			continue;
		int64_t now = bench_mono_us();
		size_t n = http_receiver_count(b->rcv);
		for (; seen < n; seen++) {
			struct http_record rec;
			if (http_receiver_record(b->rcv, seen, &rec) != CT_OK)
				continue;
			json_t *o = json_loads(rec.body, 0, NULL);
			int64_t bound = rec.at_ms * 1000 + 999;
			if (rec.accepted && !rec.repeat)
				answer(b, json_string_value(json_object_get(o, "object_id")),
				       now < bound ? now : bound);
			json_decref(o);
			http_record_cleanup(&rec);
		}
	}
	return NULL;
}

/* Sets the watcher's stop flag and wakes it with a request of no alert (a POST of nothing,
 * on a socket of its own: the bench has no HTTP client). */
static void stop_watcher(struct bench *b, pthread_t watcher)
{
	static const char req[] = "POST /stop HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	                          "Content-Length: 0\r\nConnection: close\r\n\r\n";
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char buf[256];

	pthread_mutex_lock(&b->lock);
	b->stop_watch = true;
	pthread_mutex_unlock(&b->lock);
	sa.sin_port = htons((uint16_t)http_receiver_port(b->rcv));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1))
		while (read(fd, buf, sizeof(buf)) > 0)
			;
	if (fd >= 0)
		close(fd);
	pthread_join(watcher, NULL);
}

/* ---- messages ---- */

static int pack_alert(const char *id, uint8_t **ret, size_t *ret_len, bool hook)
{
	Cellthread__V1__Alert a = CELLTHREAD__V1__ALERT__INIT;
	Cellthread__V1__Header hdr = CELLTHREAD__V1__HEADER__INIT;
	char event_id[80];

	snprintf(event_id, sizeof(event_id), "%s-%d", id, (int)getpid());
	hdr.event_id = event_id;
	hdr.producer = (char *)"bench-alerts";
	hdr.produced_at_us = ct_now_us();
	hdr.schema_version = 1;
	a.header = &hdr;
	a.severity = CELLTHREAD__V1__SEVERITY__SEVERITY_HIGH;
	a.state = CELLTHREAD__V1__ALERT_STATE__ALERT_STATE_ACTIVE;
	a.site = (char *)(hook ? "BW" : "BM");
	a.line = (char *)"L1";
	a.station = (char *)"B1";
	a.source = (char *)"spc-gate";
	a.code = (char *)"BENCH_ALERT";
	a.text = (char *)"bench alert";
	a.raised_at_us = hdr.produced_at_us;
	a.object_kind = (char *)"unit";
	a.object_id = (char *)id;
	a.value = 1.0;
	return ct_pb_pack(&a.base, ret, ret_len);
}

/* ---- observing the machine (bench_util.h) ---- */

#define N_CPU 4
struct cpu_snap {
	double s[N_CPU];   /* router, mosquitto, postgres, bench */
	long long commits; /* set apart: pg_commits() */
	int64_t at_ms;
};
static const char *const cpu_names[N_CPU] = {"ct-alert-router", "mosquitto", "postgres (all)",
                                             "bench"};

static void cpu_snap(struct cpu_snap *c, struct harness *h, struct harness_proc *router)
{
	c->s[0] = router != NULL && router->pid > 0 ? bench_cpu_seconds(router->pid) : 0;
	c->s[1] = bench_cpu_seconds(h->broker.pid);
	c->s[2] = bench_postgres_cpu_seconds(h);
	c->s[3] = bench_cpu_seconds(getpid());
	c->at_ms = ct_mono_ms();
}

/* PostgreSQL's commits so far (pg_stat_database; the bench's own queries included). The
 * statistics of a backend reach it up to a second after its commits, so the callers read it
 * after a pause of at least that long with nothing running. */
static long long pg_commits(struct harness *h)
{
	long long v = -1;
	if (harness_sql_long(h,
	                     "SELECT xact_commit FROM pg_stat_database"
	                     " WHERE datname = current_database()",
	                     0, NULL, &v) != CT_OK)
		v = -1;
	return v;
}

static json_t *cpu_json(const struct cpu_snap *a, const struct cpu_snap *b)
{
	json_t *o = json_object();
	double wall = (double)(b->at_ms - a->at_ms) / 1000.0;
	for (int i = 0; i < N_CPU; i++)
		json_object_set_new(o, cpu_names[i],
		                    json_real(round(1000.0 * (b->s[i] - a->s[i]) / wall) / 10.0));
	return o;
}

/* {"n", "p50_ms", "p99_ms", "p999_ms", "max_ms"} of values (us); sorts them. */
static json_t *dist_json(int64_t *v, size_t n, double *ret_p50, double *ret_p99)
{
	json_t *o = json_object();
	json_object_set_new(o, "n", json_integer((json_int_t)n));
	if (n == 0)
		return o;
	qsort(v, n, sizeof(*v), bench_cmp_i64);
	json_object_set_new(o, "p50_ms", bench_num3(bench_pct_ms(v, n, 0.50)));
	json_object_set_new(o, "p99_ms", bench_num3(bench_pct_ms(v, n, 0.99)));
	json_object_set_new(o, "p999_ms", bench_num3(bench_pct_ms(v, n, 0.999)));
	json_object_set_new(o, "max_ms", bench_num3((double)v[n - 1] / 1000.0));
	if (ret_p50 != NULL)
		*ret_p50 = bench_pct_ms(v, n, 0.50);
	if (ret_p99 != NULL)
		*ret_p99 = bench_pct_ms(v, n, 0.99);
	return o;
}

/* One kind's figures in a phase: deliveries/s into *ret_rate, p50 and p99 (ms) into
 * *ret_p50 and *ret_p99. */
static json_t *kind_json(struct bench *b, int phase, int kind, double *ret_rate, double *ret_p50,
                         double *ret_p99)
{
	struct series *sr = &b->series[phase][kind];
	int64_t *lat = calloc(sr->n + 1, sizeof(int64_t));
	int64_t first_sent = INT64_MAX, last_sent = 0, last_done = 0;
	size_t n_lat = 0;
	long lost = 0, dup = 0;
	json_t *o = json_object();
	double secs, rate;

	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < sr->n; i++) {
		struct sample *s = &sr->s[i];
		if (s->sent_mono > 0 && s->sent_mono < first_sent)
			first_sent = s->sent_mono;
		if (s->sent_mono > last_sent)
			last_sent = s->sent_mono;
		if (s->answers == 0) {
			lost++;
			continue;
		}
		dup += s->answers - 1;
		if (s->done_mono > last_done)
			last_done = s->done_mono;
		lat[n_lat++] = s->done_mono - s->sent_mono;
	}
	pthread_mutex_unlock(&b->lock);
	secs = (double)(last_done - first_sent) / 1e6;
	rate = n_lat > 0 && secs > 0 ? (double)n_lat / secs : NAN;
	json_object_set_new(o, "sent", json_integer((json_int_t)sr->n));
	json_object_set_new(o, "delivered", json_integer((json_int_t)n_lat));
	json_object_set_new(o, "lost", json_integer(lost));
	json_object_set_new(o, "duplicates", json_integer(dup));
	json_object_set_new(o, "seconds_first_publish_to_last_arrival", bench_num3(secs));
	json_object_set_new(
	        o, "published_per_s",
	        bench_num3(last_sent > first_sent
	                           ? (double)(sr->n - 1) / ((double)(last_sent - first_sent) / 1e6)
	                           : NAN));
	json_object_set_new(o, "deliveries_per_s", bench_num3(rate));
	json_object_set_new(o, "latency", dist_json(lat, n_lat, ret_p50, ret_p99));
	*ret_rate = rate;
	free(lat);
	return o;
}

/* ---- the run ---- */

struct run {
	struct harness *h;
	struct bench b;
	struct client pub_raw, pub_alert, echo, sub;
	uint8_t *pad;
	size_t payload_len;
};

/* Publishes sample i of kind in phase (does not wait). */
static int send_sample(struct run *r, int phase, int kind, size_t i)
{
	struct sample *s = &r->b.series[phase][kind].s[i];
	char id[64];
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	snprintf(id, sizeof(id), "b-%d-%d-%zu", phase, kind, i);
	if (kind == KIND_RAW) {
		memset(r->pad, 'x', r->payload_len);
		memcpy(r->pad, id, strlen(id) + 1);
	} else if ((rc = pack_alert(id, &buf, &len, kind == KIND_HOOK)) != CT_OK) {
		return rc;
	}
	pthread_mutex_lock(&r->b.lock);
	s->sent_mono = bench_mono_us();
	pthread_mutex_unlock(&r->b.lock);
	rc = kind == KIND_RAW ? publish(&r->pub_raw, ECHO_IN, r->pad, r->payload_len)
	                      : publish(&r->pub_alert, kind == KIND_HOOK ? ALERT_HOOK : ALERT_MQTT,
	                                buf, len);
	free(buf);
	return rc;
}

/* Answers received in a phase (kinds with n > 0). */
static size_t received(struct bench *b, int phase, size_t *ret_expected)
{
	size_t got = 0, want = 0;
	pthread_mutex_lock(&b->lock);
	for (int k = 0; k < N_KINDS; k++) {
		struct series *sr = &b->series[phase][k];
		want += sr->n;
		for (size_t i = 0; i < sr->n; i++)
			got += sr->s[i].answers > 0;
	}
	pthread_mutex_unlock(&b->lock);
	*ret_expected = want;
	return got;
}

/* Waits until every sample of the phase arrived, or nothing did for QUIET_MS. */
static void drain(struct run *r, int phase)
{
	size_t last = 0, want = 0;
	int64_t progress_ms = ct_mono_ms();
	for (;;) {
		size_t got = received(&r->b, phase, &want);
		if (got >= want)
			return;
		if (got != last) {
			last = got;
			progress_ms = ct_mono_ms();
		} else if (ct_mono_ms() - progress_ms > QUIET_MS) {
			fprintf(stderr, "bench: phase %d: %zu of %zu arrived\n", phase, got, want);
			return;
		}
		bench_sleep_us(2000);
	}
}

/* Steady: kinds interleaved on a fixed schedule, rate per kind per second. */
static int run_steady(struct run *r, size_t n, long rate)
{
	int64_t interval = 1000000 / (rate * N_KINDS), start = bench_mono_us() + 10000;
	for (size_t k = 0; k < n * N_KINDS; k++) {
		int64_t at = start + (int64_t)k * interval, now = bench_mono_us();
		if (at > now)
			bench_sleep_us(at - now);
		int rc = send_sample(r, PH_STEADY, (int)(k % N_KINDS), k / N_KINDS);
		if (rc != CT_OK)
			return rc;
	}
	drain(r, PH_STEADY);
	return CT_OK;
}

static int run_flood(struct run *r, int phase, int kind, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc = send_sample(r, phase, kind, i);
		if (rc != CT_OK)
			return rc;
	}
	drain(r, phase);
	return CT_OK;
}

/* Warm-up: one at a time, each answered within DEADLINE_MS. */
static int run_warm(struct run *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < N_KINDS; k++) {
			struct sample *s = &r->b.series[PH_WARM][k].s[i];
			int64_t until = ct_mono_ms() + DEADLINE_MS;
			if (send_sample(r, PH_WARM, k, i) != CT_OK)
				return CT_ERR_MQTT;
			for (;;) {
				int answers;
				pthread_mutex_lock(&r->b.lock);
				answers = s->answers;
				pthread_mutex_unlock(&r->b.lock);
				if (answers > 0)
					break;
				if (ct_mono_ms() > until) {
					fprintf(stderr, "bench: no answer to warm-up %s %zu\n",
					        kind_names[k], i);
					return CT_ERR_TIMEOUT;
				}
				bench_sleep_us(1000);
			}
		}
	return CT_OK;
}

static json_t *outbox_json(struct harness *h)
{
	PGresult *res = NULL;
	json_t *o = json_object();
	if (harness_sql(h,
	                "SELECT channel, count(*), count(delivered_at), count(*) FILTER"
	                " (WHERE skipped IS NOT NULL) FROM alert_delivery GROUP BY channel"
	                " ORDER BY channel",
	                0, NULL, &res) != CT_OK)
		return o;
	for (int i = 0; i < PQntuples(res); i++)
		json_object_set_new(
		        o, PQgetvalue(res, i, 0),
		        json_pack("{s:I,s:I,s:I}", "rows",
		                  (json_int_t)strtoll(PQgetvalue(res, i, 1), NULL, 10), "delivered",
		                  (json_int_t)strtoll(PQgetvalue(res, i, 2), NULL, 10), "skipped",
		                  (json_int_t)strtoll(PQgetvalue(res, i, 3), NULL, 10)));
	PQclear(res);
	return o;
}

static json_t *ratio(double a, double b)
{
	return bench_num3(b > 0 && isfinite(a) && isfinite(b) ? a / b : NAN);
}

int main(int argc, char **argv)
{
	size_t samples = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
	long rate = argc > 2 ? strtol(argv[2], NULL, 10) : 50;
	size_t flood = argc > 3 ? strtoul(argv[3], NULL, 10) : 5000;
	const size_t warm = 10;
	struct run r;
	struct harness *h = NULL;
	struct harness_proc *router = NULL;
	struct http_receiver *rcv = NULL;
	pthread_t watcher;
	bool watching = false;
	char routes_path[HARNESS_PATH_MAX], routes_env[HARNESS_PATH_MAX + 32], url[128], id[64];
	struct cpu_snap c0[N_PHASES], c1[N_PHASES];
	json_t *out = json_object();
	double load1 = 0;
	int exit_code = 1;

	if (samples < 10 || rate < 1 || rate > 2000 || flood < 10) {
		fprintf(stderr, "usage: bench_alerts [SAMPLES>=10 [RATE 1..2000 [FLOOD>=10]]]\n");
		return 2;
	}
	memset(&r, 0, sizeof(r));
	pthread_mutex_init(&r.b.lock, NULL);
	pthread_cond_init(&r.b.cond, NULL);
	for (int p = 0; p < N_PHASES; p++)
		for (int k = 0; k < N_KINDS; k++) {
			size_t n = p == PH_WARM     ? warm
			           : p == PH_STEADY ? samples
			           : (p == PH_FLOOD_RAW && k == KIND_RAW) ||
			                           (p == PH_FLOOD_MQTT && k == KIND_MQTT) ||
			                           (p == PH_FLOOD_HOOK && k == KIND_HOOK)
			                   ? flood
			                   : 0;
			r.b.series[p][k].n = n;
			r.b.series[p][k].s = calloc(n + 1, sizeof(struct sample));
			if (r.b.series[p][k].s == NULL)
				return 1;
		}
	{
		FILE *f = fopen("/proc/loadavg", "r");
		if (f != NULL) {
			if (fscanf(f, "%lf", &load1) != 1)
				load1 = 0;
			fclose(f);
		}
	}

	if (harness_pg_template(false) != CT_OK || harness_new("alerts", 3600, &h) != CT_OK ||
	    harness_broker_start(h) != CT_OK || harness_pg_start(h) != CT_OK) {
		fprintf(stderr, "bench: cannot start the broker and PostgreSQL\n");
		return 1;
	}
	r.h = h;
	r.b.broker_port = h->mqtt_port;
	if (http_receiver_start(0, &rcv) != CT_OK)
		goto out;
	r.b.rcv = rcv;
	if (pthread_create(&watcher, NULL, watch_webhooks, &r.b) != 0)
		goto out;
	watching = true;

	/* The router: two subscriptions, no flood grouping. */
	snprintf(routes_path, sizeof(routes_path), "%s/routes.conf", h->dir);
	{
		FILE *f = fopen(routes_path, "w");
		if (f == NULL)
			goto out;
		fprintf(f,
		        "id=bench-mqtt team=bench severity=LOW filter=BM/#\n"
		        "id=bench-hook team=benchhook severity=LOW filter=BW/# channel=webhook"
		        " target=%s\n",
		        http_receiver_url(rcv, "/hook", url, sizeof(url)));
		fclose(f);
	}
	snprintf(routes_env, sizeof(routes_env), "CT_ROUTER_ROUTES_FILE=%s", routes_path);
	{
		const char *env[] = {routes_env, "CT_ROUTER_FLOOD_ON=100000", NULL};
		if (harness_service_start(h, HARNESS_ALERTROUTER, NULL, env, &router) != CT_OK)
			goto out;
	}

	/* The clients, on client IDs of their credentials' own (the broker guard). */
	r.pub_raw = (struct client){.b = &r.b, .name = "raw publisher", .handle = sub_handle};
	r.pub_alert = (struct client){.b = &r.b, .name = "alert publisher", .handle = sub_handle};
	r.echo = (struct client){.b = &r.b, .name = "echo", .handle = echo_handle};
	r.sub = (struct client){.b = &r.b, .name = "subscriber", .handle = sub_handle};
	{
		const char *echo_f[] = {ECHO_IN};
		const char *sub_f[] = {ECHO_OUT, TEAM_TOPIC};
		snprintf(id, sizeof(id), "linesim-bench-pub-%d", (int)getpid());
		if (client_start(&r.pub_raw, h, "linesim", id, NULL, 0, 1) != CT_OK)
			goto out;
		snprintf(id, sizeof(id), "spc-gate-bench-pub-%d", (int)getpid());
		if (client_start(&r.pub_alert, h, "spc-gate", id, NULL, 0, 1) != CT_OK)
			goto out;
		snprintf(id, sizeof(id), "ingest-bench-echo-%d", (int)getpid());
		if (client_start(&r.echo, h, "ingest", id, echo_f, 1, 1) != CT_OK)
			goto out;
		snprintf(id, sizeof(id), "cli-bench-sub-%d", (int)getpid());
		if (client_start(&r.sub, h, "cli", id, sub_f, 2, 0) != CT_OK)
			goto out;
	}
	{
		/* The raw payload is as long as the mqtt kind's Alert. */
		uint8_t *buf = NULL;
		if (pack_alert("b-1-1-999999", &buf, &r.payload_len, false) != CT_OK)
			goto out;
		free(buf);
		r.pad = calloc(1, r.payload_len + 64);
		if (r.pad == NULL)
			goto out;
	}

	if (run_warm(&r, warm) != CT_OK)
		goto out;
	bench_sleep_us(2000000); /* let the statistics and the machine settle */
	c0[PH_STEADY].commits = pg_commits(h);
	cpu_snap(&c0[PH_STEADY], h, router);
	if (run_steady(&r, samples, rate) != CT_OK)
		goto out;
	cpu_snap(&c1[PH_STEADY], h, router);
	for (int p = PH_FLOOD_RAW; p <= PH_FLOOD_HOOK; p++) {
		bench_sleep_us(2000000);
		c1[p - 1].commits = c0[p].commits = pg_commits(h);
		cpu_snap(&c0[p], h, router);
		if (run_flood(&r, p, p - PH_FLOOD_RAW, flood) != CT_OK)
			goto out;
		cpu_snap(&c1[p], h, router);
	}
	bench_sleep_us(2000000);
	c1[PH_FLOOD_HOOK].commits = pg_commits(h);

	{
		json_t *steady = json_object(), *fl = json_object();
		double rt[N_KINDS], p50[N_KINDS], p99[N_KINDS], frt[N_KINDS], f50[N_KINDS],
		        f99[N_KINDS];
		for (int k = 0; k < N_KINDS; k++) {
			rt[k] = p50[k] = p99[k] = frt[k] = f50[k] = f99[k] = NAN;
			json_object_set_new(
			        steady, kind_names[k],
			        kind_json(&r.b, PH_STEADY, k, &rt[k], &p50[k], &p99[k]));
		}
		json_object_set_new(steady, "rate_per_kind_per_s", json_integer(rate));
		json_object_set_new(steady, "ratio_p50_mqtt_to_raw", ratio(p50[1], p50[0]));
		json_object_set_new(steady, "ratio_p99_mqtt_to_raw", ratio(p99[1], p99[0]));
		json_object_set_new(steady, "ratio_p50_webhook_to_raw", ratio(p50[2], p50[0]));
		json_object_set_new(steady, "ratio_p99_webhook_to_raw", ratio(p99[2], p99[0]));
		json_object_set_new(steady, "cpu_percent",
		                    cpu_json(&c0[PH_STEADY], &c1[PH_STEADY]));
		json_object_set_new(steady, "pg_commits",
		                    json_integer(c1[PH_STEADY].commits - c0[PH_STEADY].commits));
		for (int k = 0; k < N_KINDS; k++) {
			int p = PH_FLOOD_RAW + k;
			json_t *o = kind_json(&r.b, p, k, &frt[k], &f50[k], &f99[k]);
			json_object_set_new(o, "cpu_percent", cpu_json(&c0[p], &c1[p]));
			json_object_set_new(o, "pg_commits",
			                    json_integer(c1[p].commits - c0[p].commits));
			json_object_set_new(fl, kind_names[k], o);
		}
		json_object_set_new(fl, "ratio_rate_mqtt_to_raw", ratio(frt[1], frt[0]));
		json_object_set_new(fl, "ratio_rate_webhook_to_raw", ratio(frt[2], frt[0]));
		json_object_set_new(out, "samples_per_kind", json_integer((json_int_t)samples));
		json_object_set_new(out, "flood_per_kind", json_integer((json_int_t)flood));
		json_object_set_new(out, "payload_bytes", json_integer((json_int_t)r.payload_len));
		json_object_set_new(out, "loadavg_1m_at_start", bench_num3(load1));
		json_object_set_new(out, "steady", steady);
		json_object_set_new(out, "flood", fl);
		json_object_set_new(out, "outbox", outbox_json(h));
		json_object_set_new(out, "webhook_requests",
		                    json_integer((json_int_t)http_receiver_count(rcv)));
		json_object_set_new(out, "unexpected_answers", json_integer(r.b.unexpected));
		json_object_set_new(out, "echo_publish_failures", json_integer(r.b.echo_failed));
		char *text = json_dumps(out, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
		if (text != NULL)
			printf("%s\n", text);
		free(text);
	}
	exit_code = 0;
out:
	client_stop(&r.pub_raw);
	client_stop(&r.pub_alert);
	client_stop(&r.echo);
	client_stop(&r.sub);
	if (watching)
		stop_watcher(&r.b, watcher);
	if (exit_code == 0) {
		if (router != NULL && harness_proc_stop(h, router) != CT_OK)
			exit_code = 1;
		harness_pass(h);
	} else {
		harness_print_logs(h);
	}
	http_receiver_free(rcv);
	harness_free(h);
	json_decref(out);
	for (int p = 0; p < N_PHASES; p++)
		for (int k = 0; k < N_KINDS; k++)
			free(r.b.series[p][k].s);
	free(r.pad);
	return exit_code;
}
