/* bench_closed_loop: closed-loop latency (station result in, station command out) beside
 * the raw MQTT round trip of the same broker in the same run.
 *
 * One harness (Mosquitto and PostgreSQL on loopback), the real ct-ingest, ct-spc-gate and
 * (unless CT_BENCH_TRAVELER=0) ct-traveler, the starter quality configuration of the
 * simulated line (deploy/config/spc-linesim.sql, so spc-gate does its real work on the load)
 * plus rows for one bench station, site1/LB/BENCH-01: an I-MR chart of characteristic m0
 * with fixed centre 0 and sigma 1, rule WE1, and a reaction plan whose one step is SLOW with
 * cooldown 0, so every point beyond 3 sigma makes one StationCommand.
 *
 * Two kinds of sample, alternated one at a time (one outstanding, then a pause of 30-50 ms,
 * so the bench measures latency and not a queue it built itself; see GAP_MIN_US):
 *   closed loop  the station client (MQTT user linesim, the simulator's gateway credential:
 *                a service's, so its QoS 1 subscriptions are queued like a real station's
 *                command subscription) publishes a StationResultBatch with
 *                one result whose m0 is 1000 (1000 sigma) to ct/v1/edge/site1/LB/BENCH-01/
 *                result/pb and waits for the StationCommand on .../BENCH-01/command whose
 *                cause_event_id is that result's event_id (decoded and checked: SLOW, the
 *                bench's reason code and target). Path: station -> broker -> ingest ->
 *                broker -> spc-gate -> broker -> station.
 *   raw          the same client publishes a payload of the same size, QoS 1, to
 *                ct/v1/sys/status/linesim/bench-echo-in; an echo client (MQTT user spc-gate)
 *                republishes it from its Paho callback to ct/v1/sys/status/spc-gate/
 *                bench-echo-out, where the station client receives it. Path: station ->
 *                broker -> echo -> broker -> station. The status tree is the one place the
 *                shipped ACL lets every user write (its own subtree) and read, and no service
 *                consumes non-retained messages there, so no broker config change is needed.
 * Every client is plain Paho MQTTAsync with TCP_NODELAY, QoS 1, clean session.
 *
 * An observer (user traveler, which reads results and verdicts with QoS 1) timestamps the canonical
 * result ingest publishes and the verdict spc-gate publishes for each closed-loop sample; the
 * command's header.produced_at_us is spc-gate's clock when it started judging the batch. So each
 * sample splits ("split" in the JSON) into ingest_edge_to_canonical (edge publish to canonical
 * result seen), gate_wait_canonical_to_judging (canonical result seen to spc-gate starting the
 * batch that holds it: the earlier batch's judging, PUBACK wait and save) and
 * gate_judging_to_command_at_station (that start to the command at the station: the results
 * ahead of it in its batch, the publish and one broker hop). Realtime and monotonic clocks are
 * both read at each send to line them up.
 *
 * Phases: light (nothing else runs), then loaded (ct-linesim at CT_SIM_RATE cells/s, running
 * for a warm-up and the whole measurement). Spool backlogs of the services (from their spool
 * files) and CPU time of every process are sampled so a reader can see whether the load was
 * sustained. Prints one JSON object. Not a test: nothing is asserted about speed.
 *
 * Usage: bench_closed_loop [SAMPLES [RATE [WARMUP_S]]]   (per kind per phase; cells/s)
 * Environment: CT_BENCH_TRAVELER=0 leaves ct-traveler out; CT_BENCH_SPCGATE_BIN=PATH runs
 * another ct-spc-gate build (to measure a candidate change); CT_BENCH_GATE_SQL_LOG=1 logs
 * spc-gate's statements in PostgreSQL and adds, per phase, how long its batch saves took and
 * how much of each sample's gate_wait fell inside one ("gate_sql_log"; the logging itself
 * costs a little). */
#define _GNU_SOURCE

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <MQTTAsync.h>

#include "ct_error.h"
#include "ct_mqtt.h"
#include "ct_pb.h"
#include "ct_time.h"
#include "bench_util.h"
#include "harness.h"

#define SITE          "site1"
#define LINE          "LB"
#define STATION       "BENCH-01"
#define REASON_CODE   "BENCH_CLOSED_LOOP"
#define TARGET_VALUE  50.0
#define EDGE_TOPIC    "ct/v1/edge/" SITE "/" LINE "/" STATION "/result/pb"
#define PLANT_RESULT  "ct/v1/plant/" SITE "/" LINE "/" STATION "/result"
#define PLANT_VERDICT "ct/v1/plant/" SITE "/" LINE "/" STATION "/verdict"
#define COMMAND_TOPIC "ct/v1/plant/" SITE "/" LINE "/" STATION "/command"
#define ECHO_IN       "ct/v1/sys/status/linesim/bench-echo-in"
#define ECHO_OUT      "ct/v1/sys/status/spc-gate/bench-echo-out"
#define N_MEAS        4
#define DEADLINE_MS   5000
/* Pause after each sample's answer. Kinds alternate strictly, so two closed-loop samples are
 * at least 2 x GAP_MIN_US apart: spc-gate saves each batch (one PostgreSQL transaction) right
 * after publishing its commands, and at light load that save took up to about 60 ms here;
 * closer samples would wait behind the save of their own predecessor, a queue the bench
 * made. Under load the saves of the line's batches are part of what is measured. */
#define GAP_MIN_US   30000
#define GAP_MAX_US   50000
#define MAX_PHASES   3 /* light, loaded, and the unmeasured warm-up */
#define WARM_PHASE   2
#define WARM_SAMPLES 20

enum kind { KIND_LOOP, KIND_RAW };

/* One sample's timestamps: mono_* from CLOCK_MONOTONIC, real_* from CLOCK_REALTIME, in us;
 * 0 means not seen. */
struct sample {
	int64_t sent_mono, sent_real;
	int64_t done_mono;  /* command (loop) or echo (raw) received */
	int64_t plant_mono; /* loop: canonical result seen by the observer */
	int64_t verdict_mono;
	int64_t gate_real; /* loop: spc-gate's clock when it judged (command header) */
	int answers;       /* commands or echoes received for this sample */
	bool wrong;        /* a command that does not say what the plan says */
};

struct series {
	struct sample *s;
	size_t n;
};

/* Shared between the main thread and Paho's callback threads. */
struct bench {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct series series[MAX_PHASES][2];
	int64_t phase_from_real[MAX_PHASES], phase_to_real[MAX_PHASES];
	long unexpected; /* answers that match no sample */
	int broker_port;
};

/* One Paho client and its readiness. */
struct client {
	struct bench *b;
	MQTTAsync c;
	const char *name;
	bool connected, subscribed, failed;
	void (*handle)(struct client *cl, const char *topic, const void *payload, size_t len,
	               int64_t mono);
};

/* "bench-<phase>-<kind>-<index>-<pad>": which sample an ID names. */
static bool parse_id(const char *id, int *ret_phase, int *ret_kind, size_t *ret_index)
{
	int phase, kind;
	unsigned long index;

	if (id == NULL || sscanf(id, "bench-%d-%d-%lu", &phase, &kind, &index) != 3)
		return false;
	if (phase < 0 || phase >= MAX_PHASES || kind < 0 || kind > 1)
		return false;
	*ret_phase = phase;
	*ret_kind = kind;
	*ret_index = index;
	return true;
}

/* The sample an ID names, or NULL. Under b->lock. */
static struct sample *lookup(struct bench *b, const char *id)
{
	int phase, kind;
	size_t index;

	if (!parse_id(id, &phase, &kind, &index) || index >= b->series[phase][kind].n)
		return NULL;
	return &b->series[phase][kind].s[index];
}

/* ---- Paho clients ---- */

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

static void on_connected(void *context, MQTTAsync_successData *response)
{
	struct client *cl = context;
	(void)response;
	ct_tcp_nodelay_for_peer_port(cl->b->broker_port);
	pthread_mutex_lock(&cl->b->lock);
	cl->connected = true;
	pthread_cond_broadcast(&cl->b->cond);
	pthread_mutex_unlock(&cl->b->lock);
}

static void on_failed(void *context, MQTTAsync_failureData *response)
{
	struct client *cl = context;
	fprintf(stderr, "bench: %s: connect or subscribe failed (code %d)\n", cl->name,
	        response ? response->code : -1);
	pthread_mutex_lock(&cl->b->lock);
	cl->failed = true;
	pthread_cond_broadcast(&cl->b->cond);
	pthread_mutex_unlock(&cl->b->lock);
}

static void on_subscribed(void *context, MQTTAsync_successData *response)
{
	struct client *cl = context;
	(void)response;
	pthread_mutex_lock(&cl->b->lock);
	cl->subscribed = true;
	pthread_cond_broadcast(&cl->b->cond);
	pthread_mutex_unlock(&cl->b->lock);
}

static void on_lost(void *context, char *cause)
{
	struct client *cl = context;
	fprintf(stderr, "bench: %s lost its connection (%s)\n", cl->name, cause ? cause : "?");
}

/* Waits (up to 10 s) until flag is set or the client failed. */
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

/* Connects cl as user (clean session, TCP_NODELAY) and subscribes to filters at QoS 1. */
static int client_start(struct client *cl, struct harness *h, const char *user, const char *id,
                        const char *const *filters, int n_filters)
{
	MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
	MQTTAsync_responseOptions sub = MQTTAsync_responseOptions_initializer;
	int qos[8] = {1, 1, 1, 1, 1, 1, 1, 1};
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

static int publish(struct client *cl, const char *topic, const void *payload, size_t len)
{
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	msg.payload = (void *)payload;
	msg.payloadlen = (int)len;
	msg.qos = 1;
	return MQTTAsync_sendMessage(cl->c, topic, &msg, NULL) == MQTTASYNC_SUCCESS ? CT_OK
	                                                                            : CT_ERR_MQTT;
}

/* Station: commands and echoes come back here. */
static void station_handle(struct client *cl, const char *topic, const void *payload, size_t len,
                           int64_t mono)
{
	struct bench *b = cl->b;
	struct sample *s;

	if (strcmp(topic, ECHO_OUT) == 0) {
		char id[64];
		snprintf(id, sizeof(id), "%.*s", (int)(len < sizeof(id) ? len : sizeof(id) - 1),
		         (const char *)payload);
		pthread_mutex_lock(&b->lock);
		s = lookup(b, id);
		if (s != NULL && s->answers++ == 0)
			s->done_mono = mono;
		else if (s == NULL)
			b->unexpected++;
		pthread_cond_broadcast(&b->cond);
		pthread_mutex_unlock(&b->lock);
		return;
	}
	ProtobufCMessage *msg = NULL;
	if (ct_pb_unpack(&cellthread__v1__station_command__descriptor, payload, len, 1 << 20,
	                 &msg) != CT_OK) {
		pthread_mutex_lock(&b->lock);
		b->unexpected++;
		pthread_mutex_unlock(&b->lock);
		return;
	}
	Cellthread__V1__StationCommand *cmd = (void *)msg;
	bool right = cmd->kind == CELLTHREAD__V1__COMMAND_KIND__COMMAND_KIND_SLOW &&
	             strcmp(cmd->station, STATION) == 0 && strcmp(cmd->line, LINE) == 0 &&
	             strcmp(cmd->reason_code, REASON_CODE) == 0 &&
	             cmd->target_value == TARGET_VALUE;
	pthread_mutex_lock(&b->lock);
	s = lookup(b, cmd->cause_event_id);
	if (s != NULL && s->answers++ == 0) {
		s->done_mono = mono;
		s->gate_real = cmd->header != NULL ? cmd->header->produced_at_us : 0;
		s->wrong = !right;
	} else if (s == NULL) {
		b->unexpected++;
	}
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	ct_pb_free(msg);
}

/* Echo: republishes what arrives, from Paho's callback (the shortest path there is). */
static void echo_handle(struct client *cl, const char *topic, const void *payload, size_t len,
                        int64_t mono)
{
	(void)topic;
	(void)mono;
	if (publish(cl, ECHO_OUT, payload, len) != CT_OK)
		fprintf(stderr, "bench: echo publish failed\n");
}

/* Observer: canonical results and verdicts of the bench station. */
static void observer_handle(struct client *cl, const char *topic, const void *payload, size_t len,
                            int64_t mono)
{
	struct bench *b = cl->b;
	ProtobufCMessage *msg = NULL;
	bool verdict = strcmp(topic, PLANT_VERDICT) == 0;
	const char *id = NULL;

	if (ct_pb_unpack(verdict ? &cellthread__v1__verdict_batch__descriptor
	                         : &cellthread__v1__station_result_batch__descriptor,
	                 payload, len, 1 << 22, &msg) != CT_OK)
		return;
	if (verdict) {
		Cellthread__V1__VerdictBatch *verdicts = (void *)msg;
		if (verdicts->n_verdicts > 0)
			id = verdicts->verdicts[0]->source_event_id;
	} else {
		Cellthread__V1__StationResultBatch *batch = (void *)msg;
		if (batch->n_results > 0 && batch->results[0]->header != NULL)
			id = batch->results[0]->header->event_id;
	}
	pthread_mutex_lock(&b->lock);
	struct sample *s = lookup(b, id);
	if (s != NULL) {
		if (verdict && s->verdict_mono == 0)
			s->verdict_mono = mono;
		else if (!verdict && s->plant_mono == 0)
			s->plant_mono = mono;
	}
	pthread_mutex_unlock(&b->lock);
	ct_pb_free(msg);
}

/* ---- messages ---- */

/* The bench station's result: unit BENCH-CELL-<id>, m0 = 1000 (1000 sigma off the chart's
 * centre), m1..m3 ordinary, shaped like harness_simple_batch's results. */
static int pack_result(const char *event_id, uint8_t **ret, size_t *ret_len)
{
	Cellthread__V1__StationResultBatch batch = CELLTHREAD__V1__STATION_RESULT_BATCH__INIT;
	Cellthread__V1__StationResult r = CELLTHREAD__V1__STATION_RESULT__INIT;
	Cellthread__V1__StationResult *rp = &r;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	Cellthread__V1__Measurement meas[N_MEAS], *mp[N_MEAS];
	char unit[96], names[N_MEAS][8];
	int64_t now = ct_now_us();

	snprintf(unit, sizeof(unit), "BENCH-CELL-%s", event_id + 6);
	header.event_id = (char *)event_id;
	header.producer = (char *)"bench-station";
	header.produced_at_us = now;
	header.schema_version = 1;
	r.header = &header;
	r.unit_id = unit;
	r.unit_kind = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_CELL;
	r.site = (char *)SITE;
	r.line = (char *)LINE;
	r.station = (char *)STATION;
	r.station_type = CELLTHREAD__V1__STATION_TYPE__STATION_TYPE_EOL_TEST;
	r.recipe = (char *)"bench-recipe";
	r.recipe_version = 1;
	r.started_at_us = now - 1000;
	r.ended_at_us = now;
	r.result = CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_OK;
	for (int k = 0; k < N_MEAS; k++) {
		cellthread__v1__measurement__init(&meas[k]);
		snprintf(names[k], sizeof(names[k]), "m%d", k);
		meas[k].characteristic = names[k];
		meas[k].value = k == 0 ? 1000.0 : 3.6 + k / 8.0;
		meas[k].unit = (char *)"V";
		meas[k].measured_at_us = now;
		mp[k] = &meas[k];
	}
	r.n_measurements = N_MEAS;
	r.measurements = mp;
	batch.n_results = 1;
	batch.results = &rp;
	return ct_pb_pack(&batch.base, ret, ret_len);
}

/* ---- observing the machine ---- */

struct backlog {
	const char *name; /* spool folder: <service>-1 */
	long long first, max, last;
	bool seen;
};

static void sample_backlogs(struct harness *h, struct backlog *bl, size_t n)
{
	char dir[700];
	for (size_t i = 0; i < n; i++) {
		long long v;
		snprintf(dir, sizeof(dir), "%s/spool/%s", h->dir, bl[i].name);
		v = bench_spool_backlog(dir);
		if (v < 0)
			continue;
		if (!bl[i].seen)
			bl[i].first = bl[i].max = v;
		bl[i].seen = true;
		bl[i].max = v > bl[i].max ? v : bl[i].max;
		bl[i].last = v;
	}
}

#define N_CPU 7
struct cpu_snap {
	double s[N_CPU]; /* ingest, spc-gate, traveler, linesim, mosquitto, postgres, bench */
	int64_t at_ms;
};
static const char *const cpu_names[N_CPU] = {"ct-ingest",  "ct-spc-gate", "ct-traveler",
                                             "ct-linesim", "mosquitto",   "postgres (all)",
                                             "bench"};

static void cpu_snap(struct cpu_snap *c, struct harness *h, struct harness_proc *const procs[4])
{
	for (int i = 0; i < 4; i++)
		c->s[i] = procs[i] != NULL && procs[i]->pid > 0 ? bench_cpu_seconds(procs[i]->pid)
		                                                : 0;
	c->s[4] = bench_cpu_seconds(h->broker.pid);
	c->s[5] = bench_postgres_cpu_seconds(h);
	c->s[6] = bench_cpu_seconds(getpid());
	c->at_ms = ct_mono_ms();
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
static json_t *dist_json(int64_t *v, size_t n, double *ret_p99)
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
	if (ret_p99 != NULL)
		*ret_p99 = bench_pct_ms(v, n, 0.99);
	return o;
}

/* ---- spc-gate's transactions, from PostgreSQL's statement log ---- */

/* With CT_BENCH_GATE_SQL_LOG=1 the bench sets log_min_duration_statement = 0 for the role
 * spcgate (and log_timezone UTC), so postgresql.log holds every statement of spc-gate with its
 * end time (ms) and duration. A batch's save is BEGIN .. COMMIT on one backend. */
struct txn {
	double begin_ms, end_ms; /* realtime ms since the epoch */
};

struct txns {
	struct txn *t;
	size_t n, cap;
};

/* "2026-11-22 08:25:46.197 UTC [123] spcgate@cellthread LOG:  duration: 0.051 ms  statement:
 * BEGIN" -> end time, pid, duration, statement. */
static bool parse_log_line(const char *line, double *ret_end_ms, long *ret_pid, double *ret_dur,
                           const char **ret_stmt)
{
	struct tm tm;
	int ms, consumed = 0;
	const char *p, *stmt;

	memset(&tm, 0, sizeof(tm));
	if (strstr(line, " spcgate@") == NULL || (p = strstr(line, "duration: ")) == NULL)
		return false;
	if (sscanf(line, "%d-%d-%d %d:%d:%d.%d UTC [%ld]%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	           &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, ret_pid, &consumed) != 8 ||
	    consumed == 0)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if (sscanf(p, "duration: %lf ms", ret_dur) != 1)
		return false;
	stmt = strstr(p, "statement: ");
	if (stmt == NULL) {
		stmt = strstr(p, "execute ");
		if (stmt == NULL || (stmt = strstr(stmt, ": ")) == NULL)
			return false;
		stmt += 2;
	} else {
		stmt += strlen("statement: ");
	}
	*ret_end_ms = (double)timegm(&tm) * 1000.0 + ms;
	*ret_stmt = stmt;
	return true;
}

static int load_txns(struct harness *h, struct txns *ret)
{
	char path[700], *text = NULL, *line, *save = NULL;
	struct {
		long pid;
		double begin_ms;
	} open_txn[8];
	size_t n_open = 0;

	snprintf(path, sizeof(path), "%s/postgresql.log", h->pg_dir);
	if (harness_read_file(path, &text, NULL) != CT_OK)
		return CT_ERR_IO;
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		double end_ms, dur;
		long pid;
		const char *stmt;
		size_t i;

		if (!parse_log_line(line, &end_ms, &pid, &dur, &stmt))
			continue;
		for (i = 0; i < n_open && open_txn[i].pid != pid; i++)
			;
		if (strncmp(stmt, "BEGIN", 5) == 0) {
			if (i == n_open && n_open < 8)
				n_open++;
			if (i < n_open) {
				open_txn[i].pid = pid;
				open_txn[i].begin_ms = end_ms - dur;
			}
		} else if (strncmp(stmt, "COMMIT", 6) == 0 && i < n_open &&
		           open_txn[i].begin_ms > 0) {
			if (ret->n == ret->cap) {
				size_t cap = ret->cap ? ret->cap * 2 : 1024;
				struct txn *t = realloc(ret->t, cap * sizeof(*t));
				if (t == NULL)
					break;
				ret->t = t;
				ret->cap = cap;
			}
			ret->t[ret->n].begin_ms = open_txn[i].begin_ms;
			ret->t[ret->n].end_ms = end_ms;
			ret->n++;
			open_txn[i].begin_ms = 0;
		}
	}
	free(text);
	return CT_OK;
}

/* Per phase: the saves in the phase's window; per closed-loop sample, the part of its
 * gate_wait spent while spc-gate was inside a save, and for the batch that held it, the time
 * from judging start to its save's BEGIN (judging + waiting for the broker's PUBACKs) and the
 * save itself. */
static json_t *txn_json(struct bench *b, int phase, const struct txns *tx)
{
	struct series *loop = &b->series[phase][KIND_LOOP];
	size_t n = tx->n + loop->n + 1, n_save = 0, n_s = 0;
	int64_t *save = calloc(n, sizeof(int64_t)), *in_save = calloc(n, sizeof(int64_t));
	int64_t *other = calloc(n, sizeof(int64_t)), *to_begin = calloc(n, sizeof(int64_t));
	int64_t *own_save = calloc(n, sizeof(int64_t));
	double from = (double)b->phase_from_real[phase] / 1000.0;
	double to = (double)b->phase_to_real[phase] / 1000.0;
	json_t *o = json_object();

	for (size_t i = 0; i < tx->n; i++)
		if (tx->t[i].begin_ms >= from && tx->t[i].begin_ms <= to)
			save[n_save++] = (int64_t)((tx->t[i].end_ms - tx->t[i].begin_ms) * 1000.0);
	for (size_t i = 0; i < loop->n; i++) {
		struct sample *s = &loop->s[i];
		double arrive, start, overlap = 0;
		if (s->answers == 0 || s->plant_mono == 0 || s->gate_real == 0)
			continue;
		arrive = ((double)s->sent_real + (double)(s->plant_mono - s->sent_mono)) / 1000.0;
		start = (double)s->gate_real / 1000.0;
		for (size_t k = 0; k < tx->n; k++) {
			double a = fmax(arrive, tx->t[k].begin_ms),
			       z = fmin(start, tx->t[k].end_ms);
			overlap += z > a ? z - a : 0;
		}
		in_save[n_s] = (int64_t)(overlap * 1000.0);
		other[n_s] = (int64_t)((start - arrive - overlap) * 1000.0);
		to_begin[n_s] = -1;
		for (size_t k = 0; k < tx->n; k++)
			if (tx->t[k].begin_ms >= start - 1.0) { /* log times are whole ms */
				to_begin[n_s] = (int64_t)((tx->t[k].begin_ms - start) * 1000.0);
				own_save[n_s] =
				        (int64_t)((tx->t[k].end_ms - tx->t[k].begin_ms) * 1000.0);
				break;
			}
		n_s++;
	}
	json_object_set_new(o, "saves_in_phase", dist_json(save, n_save, NULL));
	json_object_set_new(o, "gate_wait_inside_a_save", dist_json(in_save, n_s, NULL));
	json_object_set_new(o, "gate_wait_outside_saves", dist_json(other, n_s, NULL));
	json_object_set_new(o, "own_batch_judging_start_to_save_begin",
	                    dist_json(to_begin, n_s, NULL));
	json_object_set_new(o, "own_batch_save", dist_json(own_save, n_s, NULL));
	free(save);
	free(in_save);
	free(other);
	free(to_begin);
	free(own_save);
	return o;
}

/* ---- the run ---- */

struct run {
	struct harness *h;
	struct bench b;
	struct client station, echo, observer;
	uint8_t *pad; /* raw payload buffer */
	size_t payload_len;
};

/* Publishes sample i of kind in phase and waits for its answer (or the deadline). */
static int take_sample(struct run *r, int phase, enum kind kind, size_t i)
{
	struct bench *b = &r->b;
	struct sample *s = &b->series[phase][kind].s[i];
	char id[64];
	uint8_t *buf = NULL;
	size_t len = 0;
	int64_t deadline;
	int rc;

	snprintf(id, sizeof(id), "bench-%d-%d-%zu-%08x", phase, (int)kind, i,
	         (unsigned)(random() & 0x7fffffff));
	if (kind == KIND_LOOP) {
		if ((rc = pack_result(id, &buf, &len)) != CT_OK)
			return rc;
		if (r->payload_len == 0)
			r->payload_len = len;
	} else {
		/* Same size as the result, the ID first (NUL-terminated). */
		memset(r->pad, 'x', r->payload_len);
		memcpy(r->pad, id, strlen(id) + 1);
	}
	pthread_mutex_lock(&b->lock);
	s->sent_mono = bench_mono_us();
	s->sent_real = ct_now_us();
	pthread_mutex_unlock(&b->lock);
	rc = kind == KIND_LOOP ? publish(&r->station, EDGE_TOPIC, buf, len)
	                       : publish(&r->station, ECHO_IN, r->pad, r->payload_len);
	free(buf);
	if (rc != CT_OK)
		return rc;
	deadline = bench_mono_us() + (int64_t)DEADLINE_MS * 1000;
	pthread_mutex_lock(&b->lock);
	while (s->answers == 0 && bench_mono_us() < deadline) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 2000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&b->cond, &b->lock, &ts);
	}
	pthread_mutex_unlock(&b->lock);
	return CT_OK;
}

/* One phase: samples of each kind, alternating, 30-50 ms apart; backlogs sampled each second. */
static int run_phase(struct run *r, int phase, size_t n, struct backlog *bl, size_t n_bl)
{
	int64_t next_backlog = 0;

	r->b.phase_from_real[phase] = ct_now_us();
	for (size_t i = 0; i < n; i++) {
		for (int k = 0; k < 2; k++) {
			enum kind kind = (enum kind)k;
			int rc = take_sample(r, phase, kind, i);
			if (rc != CT_OK) {
				fprintf(stderr, "bench: publish failed: %s\n", ct_strerror(rc));
				return rc;
			}
			bench_sleep_us(GAP_MIN_US + random() % (GAP_MAX_US - GAP_MIN_US + 1));
		}
		if (ct_mono_ms() >= next_backlog) {
			sample_backlogs(r->h, bl, n_bl);
			next_backlog = ct_mono_ms() + 1000;
		}
	}
	sample_backlogs(r->h, bl, n_bl);
	r->b.phase_to_real[phase] = ct_now_us();
	/* Late answers and observer messages of the last samples. */
	bench_sleep_us(200000);
	return CT_OK;
}

static json_t *phase_json(struct run *r, int phase, double *ret_ratio)
{
	struct bench *b = &r->b;
	struct series *loop = &b->series[phase][KIND_LOOP], *raw = &b->series[phase][KIND_RAW];
	size_t n = loop->n > raw->n ? loop->n : raw->n;
	int64_t *lat_loop = calloc(n + 1, sizeof(int64_t)),
	        *lat_raw = calloc(n + 1, sizeof(int64_t));
	int64_t *ingest = calloc(n + 1, sizeof(int64_t)), *wait = calloc(n + 1, sizeof(int64_t));
	int64_t *work = calloc(n + 1, sizeof(int64_t));
	size_t n_loop = 0, n_raw = 0, n_split = 0;
	long lost_loop = 0, lost_raw = 0, wrong = 0, dup_loop = 0, dup_raw = 0;
	double p99_loop = 0, p99_raw = 0;
	json_t *o = json_object(), *cl = json_object(), *rw = json_object(), *split = json_object();

	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < loop->n; i++) {
		struct sample *s = &loop->s[i];
		if (s->answers == 0) {
			lost_loop++;
			continue;
		}
		dup_loop += s->answers - 1;
		wrong += s->wrong;
		lat_loop[n_loop++] = s->done_mono - s->sent_mono;
		if (s->plant_mono > 0 && s->gate_real > 0) {
			int64_t gate_mono = s->sent_mono + (s->gate_real - s->sent_real);
			ingest[n_split] = s->plant_mono - s->sent_mono;
			wait[n_split] = gate_mono - s->plant_mono;
			work[n_split] = s->done_mono - gate_mono;
			n_split++;
		}
	}
	for (size_t i = 0; i < raw->n; i++) {
		struct sample *s = &raw->s[i];
		if (s->answers == 0) {
			lost_raw++;
			continue;
		}
		dup_raw += s->answers - 1;
		lat_raw[n_raw++] = s->done_mono - s->sent_mono;
	}
	pthread_mutex_unlock(&b->lock);

	json_object_set_new(cl, "latency", dist_json(lat_loop, n_loop, &p99_loop));
	json_object_set_new(cl, "sent", json_integer((json_int_t)loop->n));
	json_object_set_new(cl, "lost", json_integer(lost_loop));
	json_object_set_new(cl, "wrong_command", json_integer(wrong));
	json_object_set_new(cl, "duplicate_commands", json_integer(dup_loop));
	json_object_set_new(split, "ingest_edge_to_canonical", dist_json(ingest, n_split, NULL));
	json_object_set_new(split, "gate_wait_canonical_to_judging",
	                    dist_json(wait, n_split, NULL));
	json_object_set_new(split, "gate_judging_to_command_at_station",
	                    dist_json(work, n_split, NULL));
	json_object_set_new(cl, "split", split);
	json_object_set_new(rw, "latency", dist_json(lat_raw, n_raw, &p99_raw));
	json_object_set_new(rw, "sent", json_integer((json_int_t)raw->n));
	json_object_set_new(rw, "lost", json_integer(lost_raw));
	json_object_set_new(rw, "duplicates", json_integer(dup_raw));
	json_object_set_new(o, "closed_loop", cl);
	json_object_set_new(o, "raw_round_trip", rw);
	*ret_ratio = p99_raw > 0 ? p99_loop / p99_raw : NAN;
	json_object_set_new(o, "ratio_p99_closed_loop_to_raw",
	                    isfinite(*ret_ratio) ? bench_num3(*ret_ratio) : json_null());
	free(lat_loop);
	free(lat_raw);
	free(ingest);
	free(wait);
	free(work);
	return o;
}

static json_t *backlog_json(const struct backlog *bl, size_t n)
{
	json_t *o = json_object();
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_object();
		json_object_set_new(e, "first", json_integer(bl[i].first));
		json_object_set_new(e, "max", json_integer(bl[i].max));
		json_object_set_new(e, "last", json_integer(bl[i].last));
		json_object_set_new(o, bl[i].name, e);
	}
	return o;
}

static int sql_file(struct harness *h, const char *path)
{
	char *text = NULL;
	PGresult *res;
	int ok;

	if (harness_read_file(path, &text, NULL) != CT_OK) {
		fprintf(stderr, "bench: cannot read %s\n", path);
		return CT_ERR_IO;
	}
	res = PQexec(h->pg, text);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
	if (!ok)
		fprintf(stderr, "bench: %s: %s\n", path, PQerrorMessage(h->pg));
	PQclear(res);
	free(text);
	return ok ? CT_OK : CT_ERR_PG;
}

static int configure(struct harness *h)
{
	PGresult *res = NULL;
	int rc = sql_file(h, CT_SOURCE_DIR "/deploy/config/spc-linesim.sql");

	if (rc == CT_OK)
		rc = harness_sql(
		        h,
		        "INSERT INTO reaction_plan_step (plan_id, step, action, target_value,"
		        " uom, reason_code, severity, cooldown_s)"
		        " VALUES ('bench-slow', 1, 'slow', 50, '%', '" REASON_CODE "', 3, 0)",
		        0, NULL, &res);
	PQclear(res);
	res = NULL;
	if (rc == CT_OK)
		rc = harness_sql(
		        h,
		        "INSERT INTO spc_chart (chart_id, site, line, station, characteristic,"
		        " kind, rules, centre, sigma, reaction_plan) VALUES ('bench-imr', '" SITE
		        "', '" LINE "', '" STATION "', 'm0', 'imr', 'WE1', 0, 1,"
		        " 'bench-slow')",
		        0, NULL, &res);
	PQclear(res);
	return rc;
}

static char *read_text(const char *path)
{
	char *text = NULL;
	return harness_read_file(path, &text, NULL) == CT_OK ? text : NULL;
}

int main(int argc, char **argv)
{
	size_t samples = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
	long rate = argc > 2 ? strtol(argv[2], NULL, 10) : 200;
	long warmup_s = argc > 3 ? strtol(argv[3], NULL, 10) : 15;
	const char *tr = getenv("CT_BENCH_TRAVELER"), *sql_log = getenv("CT_BENCH_GATE_SQL_LOG");
	const char *gate_bin = getenv("CT_BENCH_SPCGATE_BIN");
	bool with_traveler = tr == NULL || strcmp(tr, "0") != 0;
	bool trace_sql = sql_log != NULL && strcmp(sql_log, "1") == 0;
	struct run r;
	struct harness *h = NULL;
	struct harness_proc *ingest = NULL, *gate = NULL, *traveler = NULL, *sim = NULL;
	struct backlog bl[2][3] = {
	        {{"ingest-1", 0, 0, 0, false},
	         {"spc-gate-1", 0, 0, 0, false},
	         {"traveler-1", 0, 0, 0, false}},
	        {{"ingest-1", 0, 0, 0, false},
	         {"spc-gate-1", 0, 0, 0, false},
	         {"traveler-1", 0, 0, 0, false}},
	};
	struct cpu_snap cpu0[2], cpu1[2];
	double ratio[2] = {NAN, NAN};
	char env_rate[64], env_summary[700], summary_path[600], id[64];
	double load1 = 0;
	json_t *out = json_object(), *phases = json_object();
	int exit_code = 1;

	if (gate_bin != NULL && gate_bin[0] == '\0')
		gate_bin = NULL;
	if (samples < 10 || rate < 1 || warmup_s < 0) {
		fprintf(stderr, "usage: bench_closed_loop [SAMPLES>=10 [RATE [WARMUP_S]]]\n");
		return 2;
	}
	memset(&r, 0, sizeof(r));
	srandom((unsigned)getpid());
	pthread_mutex_init(&r.b.lock, NULL);
	pthread_cond_init(&r.b.cond, NULL);
	for (int p = 0; p < MAX_PHASES; p++)
		for (int k = 0; k < 2; k++) {
			size_t n = p == WARM_PHASE ? WARM_SAMPLES : samples;
			r.b.series[p][k].s = calloc(n, sizeof(struct sample));
			r.b.series[p][k].n = n;
			if (r.b.series[p][k].s == NULL)
				return 1;
		}
	r.pad = calloc(1, 4096);

	if (harness_pg_template(false) != CT_OK || harness_new("closedloop", 3600, &h) != CT_OK ||
	    harness_broker_start(h) != CT_OK || harness_pg_start(h) != CT_OK) {
		fprintf(stderr, "bench: cannot start the broker and PostgreSQL\n");
		return 1;
	}
	r.h = h;
	r.b.broker_port = h->mqtt_port;
	if (configure(h) != CT_OK)
		goto out;
	if (trace_sql) {
		static const char *const trace[] = {
		        "ALTER ROLE spcgate SET log_min_duration_statement = 0",
		        "ALTER SYSTEM SET log_timezone = 'UTC'", "SELECT pg_reload_conf()"};
		for (size_t i = 0; i < sizeof(trace) / sizeof(trace[0]); i++) {
			PGresult *res = NULL;
			if (harness_sql(h, trace[i], 0, NULL, &res) != CT_OK)
				goto out;
			PQclear(res);
		}
	}

	/* The services. A candidate spc-gate build (CT_BENCH_SPCGATE_BIN) runs with the same
	 * environment harness_service_start gives the real one. */
	if (gate_bin == NULL) {
		if (harness_service_start(h, HARNESS_SPCGATE, NULL, NULL, &gate) != CT_OK)
			goto out;
	} else {
		const char *gate_argv[] = {gate_bin, NULL};
		char **env = harness_env(h, "spc-gate", NULL);
		int rc = env == NULL ? CT_ERR_NOMEM
		                     : harness_spawn(h, "spc-gate", gate_bin, gate_argv,
		                                     (const char *const *)env, &gate);
		harness_env_free(env);
		if (rc != CT_OK ||
		    harness_proc_wait_log(h, gate, "ready", HARNESS_WAIT_MS) != CT_OK)
			goto out;
	}
	if (harness_service_start(h, HARNESS_INGEST, NULL, NULL, &ingest) != CT_OK)
		goto out;
	if (with_traveler &&
	    harness_service_start(h, HARNESS_TRAVELER, NULL, NULL, &traveler) != CT_OK)
		goto out;

	/* The clients. */
	r.station = (struct client){.b = &r.b, .name = "station", .handle = station_handle};
	r.echo = (struct client){.b = &r.b, .name = "echo", .handle = echo_handle};
	r.observer = (struct client){.b = &r.b, .name = "observer", .handle = observer_handle};
	{
		const char *station_f[] = {COMMAND_TOPIC, ECHO_OUT};
		const char *echo_f[] = {ECHO_IN};
		const char *observer_f[] = {PLANT_RESULT, PLANT_VERDICT};
		/* Client IDs of each credential's own (the broker guard refuses others). */
		snprintf(id, sizeof(id), "linesim-bench-station-%d", (int)getpid());
		if (client_start(&r.station, h, "linesim", id, station_f, 2) != CT_OK)
			goto out;
		snprintf(id, sizeof(id), "spc-gate-bench-echo-%d", (int)getpid());
		if (client_start(&r.echo, h, "spc-gate", id, echo_f, 1) != CT_OK)
			goto out;
		snprintf(id, sizeof(id), "traveler-bench-observer-%d", (int)getpid());
		if (client_start(&r.observer, h, "traveler", id, observer_f, 2) != CT_OK)
			goto out;
	}
	{
		/* Unmeasured warm-up: the first result fixes the raw payload size and creates the
		 * chart instance; a few of each kind warm every connection and cache. */
		for (size_t i = 0; i < WARM_SAMPLES; i++)
			for (int k = 0; k < 2; k++)
				if (take_sample(&r, WARM_PHASE, (enum kind)k, i) != CT_OK)
					goto out;
		if (r.b.series[WARM_PHASE][KIND_LOOP].s[0].answers == 0) {
			fprintf(stderr, "bench: no command for the first result within %d ms\n",
			        DEADLINE_MS);
			goto out;
		}
	}

	/* Phase 0: light. */
	{
		struct harness_proc *procs[4] = {ingest, gate, traveler, NULL};
		FILE *f = fopen("/proc/loadavg", "r");
		if (f != NULL) {
			if (fscanf(f, "%lf", &load1) != 1)
				load1 = 0;
			fclose(f);
		}
		cpu_snap(&cpu0[0], h, procs);
		if (run_phase(&r, 0, samples, bl[0], 3) != CT_OK)
			goto out;
		cpu_snap(&cpu1[0], h, procs);
	}

	/* Phase 1: loaded. */
	snprintf(summary_path, sizeof(summary_path), "%s/linesim-summary.json", h->dir);
	snprintf(env_rate, sizeof(env_rate), "CT_SIM_RATE=%ld", rate);
	snprintf(env_summary, sizeof(env_summary), "CT_SIM_SUMMARY=%s", summary_path);
	{
		const char *env[] = {env_rate,        env_summary,         "CT_SIM_CELLS=0",
		                     "CT_SIM_SEED=7", "CT_LOG_LEVEL=warn", NULL};
		struct harness_proc *procs[4];
		int64_t sim_started, sim_stopped;
		json_t *load = json_object();
		char *summary;

		if (harness_service_start(h, HARNESS_LINESIM, "linesim", env, &sim) != CT_OK)
			goto out;
		sim_started = ct_mono_ms();
		bench_sleep_us((int64_t)warmup_s * 1000000);
		procs[0] = ingest;
		procs[1] = gate;
		procs[2] = traveler;
		procs[3] = sim;
		cpu_snap(&cpu0[1], h, procs);
		if (run_phase(&r, 1, samples, bl[1], 3) != CT_OK)
			goto out;
		cpu_snap(&cpu1[1], h, procs);
		if (harness_proc_stop(h, sim) != CT_OK)
			goto out;
		sim_stopped = ct_mono_ms();
		summary = read_text(summary_path);
		json_object_set_new(load, "linesim_rate_cells_per_s", json_integer(rate));
		json_object_set_new(load, "warmup_s", json_integer(warmup_s));
		json_object_set_new(load, "linesim_seconds",
		                    bench_num3((double)(sim_stopped - sim_started) / 1000.0));
		if (summary != NULL) {
			json_t *s = json_loads(summary, 0, NULL);
			double secs = (double)(sim_stopped - sim_started) / 1000.0;
			if (s != NULL) {
				json_int_t msgs =
				        json_integer_value(json_object_get(s, "messages"));
				json_int_t meas =
				        json_integer_value(json_object_get(s, "measurements"));
				json_object_set_new(load, "linesim_messages", json_integer(msgs));
				json_object_set_new(
				        load, "linesim_messages_per_s",
				        json_integer((json_int_t)((double)msgs / secs)));
				json_object_set_new(
				        load, "linesim_measurements_per_s",
				        json_integer((json_int_t)((double)meas / secs)));
				json_decref(s);
			}
			free(summary);
		}
		json_object_set_new(load, "spool_backlog_bytes", backlog_json(bl[1], 3));
		json_object_set_new(load, "cpu_percent", cpu_json(&cpu0[1], &cpu1[1]));
		json_object_set_new(phases, "light", phase_json(&r, 0, &ratio[0]));
		json_object_set_new(json_object_get(phases, "light"), "cpu_percent",
		                    cpu_json(&cpu0[0], &cpu1[0]));
		json_object_set_new(phases, "loaded", phase_json(&r, 1, &ratio[1]));
		json_object_set_new(json_object_get(phases, "loaded"), "load", load);
	}

	if (trace_sql) {
		struct txns tx = {NULL, 0, 0};
		if (load_txns(h, &tx) == CT_OK) {
			json_object_set_new(json_object_get(phases, "light"), "gate_sql_log",
			                    txn_json(&r.b, 0, &tx));
			json_object_set_new(json_object_get(phases, "loaded"), "gate_sql_log",
			                    txn_json(&r.b, 1, &tx));
		}
		free(tx.t);
	}
	json_object_set_new(out, "gate_sql_log", json_boolean(trace_sql));
	json_object_set_new(out, "samples_per_kind_per_phase", json_integer((json_int_t)samples));
	json_object_set_new(out, "payload_bytes", json_integer((json_int_t)r.payload_len));
	json_object_set_new(out, "services",
	                    json_pack("[sss]", "ct-ingest", "ct-spc-gate",
	                              with_traveler ? "ct-traveler" : "(no ct-traveler)"));
	json_object_set_new(out, "traveler", json_boolean(with_traveler));
	json_object_set_new(out, "spc_gate_binary",
	                    json_string(gate_bin ? gate_bin : CT_SPCGATE_BIN));
	json_object_set_new(out, "loadavg_1m_at_start", bench_num3(load1));
	json_object_set_new(out, "phases", phases);
	json_object_set_new(out, "unexpected_answers", json_integer(r.b.unexpected));
	json_object_set_new(out, "acceptance_loaded_ratio_at_most_2",
	                    json_boolean(isfinite(ratio[1]) && ratio[1] <= 2.0));
	{
		char *text = json_dumps(out, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
		if (text != NULL)
			printf("%s\n", text);
		free(text);
	}
	exit_code = 0;
out:
	client_stop(&r.station);
	client_stop(&r.echo);
	client_stop(&r.observer);
	if (exit_code == 0) {
		struct harness_proc *procs[3] = {ingest, gate, traveler};
		for (int i = 0; i < 3; i++)
			if (procs[i] != NULL && harness_proc_stop(h, procs[i]) != CT_OK)
				exit_code = 1;
		harness_pass(h);
	} else {
		harness_print_logs(h);
	}
	harness_free(h);
	json_decref(out);
	for (int p = 0; p < MAX_PHASES; p++)
		for (int k = 0; k < 2; k++)
			free(r.b.series[p][k].s);
	free(r.pad);
	return exit_code;
}
