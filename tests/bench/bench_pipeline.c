/* bench_pipeline: end-to-end throughput of the digital thread beside its raw ceilings.
 *
 * One run, one broker, one PostgreSQL, one workload (ct-linesim, fixed seed, so every phase
 * sees the same messages). Phases:
 *   broker   linesim -> Mosquitto -> a bare Paho subscriber that only counts;
 *   copy     the workload's measurement count as rows COPYed by one connection;
 *   bare     linesim -> Mosquitto -> a bare subscriber that decodes and COPYs straight into
 *            PostgreSQL, no ingest hop, no validation, no spool: once the measurements
 *            only, once every row traveler writes (through traveler's own store code, so
 *            the same rows and indexes), which is the ceiling e2e is compared with;
 *   e2e      linesim -> ct-ingest -> Mosquitto -> ct-traveler -> PostgreSQL, until the
 *            measurement table holds exactly what linesim published (zero loss checked).
 * Each phase is timed from linesim's start to the last row/message. Prints one JSON object:
 * absolute rates and the ratios that matter (e2e / bare), plus the services' peak RSS.
 * Not a test: nothing is asserted about speed; loss is reported as a count. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <MQTTAsync.h>

#include "bench_util.h"
#include "ct_error.h"
#include "ct_pb.h"
#include "ct_pg.h"
#include "ct_time.h"
#include "harness.h"
#include "traveler_store.h"

/* What a phase's subscriber does with each message. */
enum sink_mode { SINK_COUNT, SINK_COPY };

struct sink {
	enum sink_mode mode;
	MQTTAsync client;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Payloads waiting for the COPY thread (SINK_COPY). */
	uint8_t **queue;
	size_t *queue_len;
	size_t queued, queue_cap;
	long long messages;
	int64_t last_arrival_ms;
	bool connected;
	int broker_port;
};

static int on_message(void *context, char *topic, int topic_len, MQTTAsync_message *m)
{
	struct sink *s = context;
	(void)topic_len;
	pthread_mutex_lock(&s->lock);
	s->messages++;
	s->last_arrival_ms = ct_mono_ms();
	if (s->mode == SINK_COPY && strstr(topic, "/result/") != NULL) {
		if (s->queued == s->queue_cap) {
			size_t cap = s->queue_cap ? s->queue_cap * 2 : 4096;
			s->queue = realloc(s->queue, cap * sizeof(*s->queue));
			s->queue_len = realloc(s->queue_len, cap * sizeof(*s->queue_len));
			s->queue_cap = cap;
		}
		s->queue[s->queued] = malloc((size_t)m->payloadlen);
		memcpy(s->queue[s->queued], m->payload, (size_t)m->payloadlen);
		s->queue_len[s->queued++] = (size_t)m->payloadlen;
		pthread_cond_signal(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	return 1;
}

static void on_subscribed(void *context, MQTTAsync_successData *response)
{
	struct sink *s = context;
	(void)response;
	pthread_mutex_lock(&s->lock);
	s->connected = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/* Subscribes once connected; the sink counts as ready only after the SUBACK, so linesim
 * never publishes into a subscription that does not exist yet. */
static void on_connected(void *context, MQTTAsync_successData *response)
{
	MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
	struct sink *s = context;
	(void)response;
	ct_tcp_nodelay_for_peer_port(s->broker_port);
	opts.onSuccess = on_subscribed;
	opts.context = s;
	MQTTAsync_subscribe(s->client, "ct/v1/edge/#", 1, &opts);
}

static int sink_start(struct sink *s, struct harness *h, enum sink_mode mode, int broker_port)
{
	MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
	char url[64], password[128];
	int64_t deadline = ct_mono_ms() + 10000;

	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->broker_port = broker_port;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", broker_port);
	/* The bench reads as ingest, the one credential that may read the edge tree (ingest
	 * itself is not running during the raw phases). */
	if (harness_mqtt_password(h, "ingest", password, sizeof(password)) != CT_OK)
		return CT_ERR_IO;
	MQTTAsync_create(&s->client, url, "ingest-bench-sink", MQTTCLIENT_PERSISTENCE_NONE, NULL);
	MQTTAsync_setCallbacks(s->client, s, NULL, on_message, NULL);
	opts.username = "ingest";
	opts.password = password;
	opts.cleansession = 1;
	opts.onSuccess = on_connected;
	opts.context = s;
	if (MQTTAsync_connect(s->client, &opts) != MQTTASYNC_SUCCESS)
		return CT_ERR_MQTT;
	while (!s->connected && ct_mono_ms() < deadline)
		usleep(1000);
	return s->connected ? CT_OK : CT_ERR_TIMEOUT;
}

static void sink_stop(struct sink *s)
{
	MQTTAsync_disconnect(s->client, NULL);
	MQTTAsync_destroy(&s->client);
	for (size_t i = 0; i < s->queued; i++)
		free(s->queue[i]);
	free(s->queue);
	free(s->queue_len);
}

/* Decodes queued result batches and stores them: only their measurements (store == NULL)
 * or every row through traveler's store. Returns the measurements written. */
static long long copy_queued(struct sink *s, struct ct_pg *pg, struct ct_copy *copy,
                             struct traveler_store *store)
{
	uint8_t **items;
	size_t *lens, n;
	long long rows = 0;
	char err[512];

	pthread_mutex_lock(&s->lock);
	items = s->queue;
	lens = s->queue_len;
	n = s->queued;
	s->queue = NULL;
	s->queue_len = NULL;
	s->queued = s->queue_cap = 0;
	pthread_mutex_unlock(&s->lock);
	ct_copy_reset(copy);
	if (store != NULL) {
		ProtobufCMessage **msgs = calloc(n ? n : 1, sizeof(*msgs));
		struct traveler_item *batch = calloc(n ? n : 1, sizeof(*batch));
		struct traveler_counts counts;
		size_t m = 0;
		for (size_t i = 0; i < n; i++) {
			if (ct_pb_unpack(&cellthread__v1__station_result_batch__descriptor,
			                 items[i], lens[i], 64u << 20, &msgs[m]) == CT_OK) {
				Cellthread__V1__StationResultBatch *b = (void *)msgs[m];
				for (size_t r = 0; r < b->n_results; r++)
					rows += (long long)b->results[r]->n_measurements;
				batch[m].kind = TRAVELER_RESULT_BATCH;
				batch[m].msg = msgs[m];
				batch[m].topic = "bench";
				m++;
			}
			free(items[i]);
		}
		if (m > 0 &&
		    traveler_store_batch(store, pg, batch, m, &counts, err, sizeof(err)) != CT_OK)
			fprintf(stderr, "bench: store failed: %s\n", err);
		for (size_t i = 0; i < m; i++)
			ct_pb_free(msgs[i]);
		free(msgs);
		free(batch);
		free(items);
		free(lens);
		return rows;
	}
	for (size_t i = 0; i < n; i++) {
		ProtobufCMessage *msg = NULL;
		if (ct_pb_unpack(&cellthread__v1__station_result_batch__descriptor, items[i],
		                 lens[i], 64u << 20, &msg) == CT_OK) {
			Cellthread__V1__StationResultBatch *b = (void *)msg;
			for (size_t r = 0; r < b->n_results; r++) {
				Cellthread__V1__StationResult *res = b->results[r];
				for (size_t k = 0; k < res->n_measurements; k++) {
					ct_copy_text(copy, res->header->event_id);
					ct_copy_text(copy, res->unit_id);
					ct_copy_text(copy, res->site);
					ct_copy_text(copy, res->line);
					ct_copy_text(copy, res->station);
					ct_copy_text(copy, res->measurements[k]->characteristic);
					ct_copy_double(copy, res->measurements[k]->value);
					ct_copy_text(copy, res->measurements[k]->unit);
					ct_copy_time_us(copy, res->ended_at_us);
					ct_copy_int64(copy, (int64_t)k);
					ct_copy_end_row(copy);
					rows++;
				}
			}
			ct_pb_free(msg);
		}
		free(items[i]);
	}
	free(items);
	free(lens);
	if (rows > 0 && ct_pg_copy(pg,
	                           "COPY bench_measurement (event_id, unit_id, site, line, station,"
	                           " characteristic, value, uom, measured_at, seq) FROM STDIN",
	                           copy, err, sizeof(err)) != CT_OK)
		fprintf(stderr, "bench: COPY failed: %s\n", err);
	return rows;
}

struct workload {
	const char *const *env;
	long long messages;
	long long measurements;
};

/* Runs linesim to completion and reads its summary. */
static int run_linesim(struct harness *h, const char *const *env, const char *summary_path,
                       struct workload *ret)
{
	struct harness_proc *sim = NULL;
	char *text = NULL;
	size_t len;
	json_t *summary;
	int rc = harness_service_start(h, HARNESS_LINESIM, "linesim", env, &sim);

	if (rc == CT_OK)
		rc = harness_proc_wait_exit(h, sim, 600000);
	if (rc != CT_OK)
		return rc;
	if (harness_read_file(summary_path, &text, &len) != CT_OK)
		return CT_ERR_IO;
	summary = json_loadb(text, len, 0, NULL);
	free(text);
	if (summary == NULL)
		return CT_ERR_DECODE;
	ret->messages = json_integer_value(json_object_get(summary, "messages"));
	ret->measurements = json_integer_value(json_object_get(summary, "measurements"));
	json_decref(summary);
	return CT_OK;
}

/* linesim -> broker -> bare subscriber -> PostgreSQL; returns seconds from linesim's start
 * to the last measurement stored. */
static double run_bare(struct harness *h, int broker_port, struct ct_pg *pg, struct ct_copy *copy,
                       struct traveler_store *store, const char *const *env, long long expected,
                       long long *ret_rows)
{
	struct harness_proc *sim = NULL;
	struct sink sink;
	long long rows = 0;
	int64_t t0;
	double seconds;

	if (sink_start(&sink, h, SINK_COPY, broker_port) != CT_OK)
		return -1;
	t0 = ct_mono_ms();
	harness_service_start(h, HARNESS_LINESIM, store ? "linesim-bare-all" : "linesim-bare", env,
	                      &sim);
	while (rows < expected && ct_mono_ms() - t0 < 600000) {
		pthread_mutex_lock(&sink.lock);
		if (sink.queued == 0) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 20000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&sink.cond, &sink.lock, &ts);
		}
		pthread_mutex_unlock(&sink.lock);
		rows += copy_queued(&sink, pg, copy, store);
	}
	seconds = (double)(ct_mono_ms() - t0) / 1000.0;
	if (sim != NULL)
		harness_proc_wait_exit(h, sim, 60000);
	sink_stop(&sink);
	*ret_rows = rows;
	return seconds;
}

int main(int argc, char **argv)
{
	const char *cells = argc > 1 ? argv[1] : "2000";
	/* "nosync": the services do not fdatasync their spool at commits (spool.sync=false), to
	 * measure what surviving a power loss costs; "sync" or nothing: the default (true). */
	bool spool_sync = !(argc > 2 && strcmp(argv[2], "nosync") == 0);
	const char *service_env[] = {spool_sync ? NULL : "CT_SPOOL_SYNC=false", NULL};
	struct harness *h = NULL;
	struct workload w, w2;
	struct sink sink;
	struct harness_proc *ingest = NULL, *traveler = NULL;
	struct ct_pg *pg = NULL;
	struct ct_copy copy;
	char summary_path[600], conninfo[256], password[128], env_cells[64], env_summary[700];
	const char *env[8];
	double broker_s, copy_s, bare_s, bare_all_s, e2e_s;
	long long bare_rows = 0, bare_all_rows = 0, stored = -1;
	struct traveler_store *store = NULL;
	long long rss_ingest, rss_traveler;
	int broker_port;
	int64_t t0;
	char err[512];

	ct_copy_init(&copy);
	if (harness_pg_template(false) != CT_OK || harness_new("bench", 3600, &h) != CT_OK ||
	    harness_broker_start(h) != CT_OK || harness_pg_start(h) != CT_OK) {
		fprintf(stderr, "bench: cannot start the broker and PostgreSQL\n");
		return 1;
	}
	broker_port = h->mqtt_port;
	snprintf(summary_path, sizeof(summary_path), "%s/linesim-summary.json", h->dir);
	snprintf(env_cells, sizeof(env_cells), "CT_SIM_CELLS=%s", cells);
	snprintf(env_summary, sizeof(env_summary), "CT_SIM_SUMMARY=%s", summary_path);
	env[0] = env_cells;
	env[1] = env_summary;
	env[2] = "CT_SIM_RATE=5000";
	env[3] = "CT_SIM_SEED=7";
	env[4] = "CT_SIM_TELEMETRY_HZ=0";
	env[5] = "CT_LOG_LEVEL=warn";
	env[6] = NULL;

	/* Phase broker: count messages only. */
	if (sink_start(&sink, h, SINK_COUNT, broker_port) != CT_OK)
		return 1;
	t0 = ct_mono_ms();
	if (run_linesim(h, env, summary_path, &w) != CT_OK)
		return 1;
	while (sink.messages < w.messages && ct_mono_ms() - t0 < 600000)
		usleep(1000);
	broker_s = (double)(sink.last_arrival_ms - t0) / 1000.0;
	sink_stop(&sink);

	/* Phase copy: the same number of rows through one COPY connection. */
	{
		PGresult *res = NULL;
		if (harness_sql(h, "CREATE TABLE bench_measurement (LIKE measurement)", 0, NULL,
		                &res) != CT_OK)
			return 1;
		PQclear(res);
	}
	harness_pg_conninfo(h, "ct_admin", conninfo, sizeof(conninfo));
	harness_pg_password(h, "ct_admin", password, sizeof(password));
	pg = ct_pg_new(conninfo, password);
	if (pg == NULL || ct_pg_ensure(pg, 10000, NULL, err, sizeof(err)) != CT_OK)
		return 1;
	t0 = ct_mono_ms();
	for (long long done = 0; done < w.measurements;) {
		ct_copy_reset(&copy);
		for (int i = 0; i < 10000 && done < w.measurements; i++, done++) {
			ct_copy_text(&copy, "bench-event-0000000000000000000000");
			ct_copy_text(&copy, "L1-C00000001");
			ct_copy_text(&copy, "site1");
			ct_copy_text(&copy, "L1");
			ct_copy_text(&copy, "L1-EOL-01");
			ct_copy_text(&copy, "capacity");
			ct_copy_double(&copy, 5.0 + (double)i * 1e-6);
			ct_copy_text(&copy, "Ah");
			ct_copy_time_us(&copy, ct_now_us());
			ct_copy_int64(&copy, i);
			ct_copy_end_row(&copy);
		}
		ct_pg_copy(pg,
		           "COPY bench_measurement (event_id, unit_id, site, line, station,"
		           " characteristic, value, uom, measured_at, seq) FROM STDIN",
		           &copy, err, sizeof(err));
	}
	copy_s = (double)(ct_mono_ms() - t0) / 1000.0;
	ct_pg_exec(pg, "TRUNCATE bench_measurement", err, sizeof(err));

	/* Phase bare, twice: measurements only, then every row traveler writes. */
	bare_s = run_bare(h, broker_port, pg, &copy, NULL, env, w.measurements, &bare_rows);
	ct_pg_exec(pg, "TRUNCATE bench_measurement", err, sizeof(err));
	store = traveler_store_new();
	bare_all_s =
	        run_bare(h, broker_port, pg, &copy, store, env, w.measurements, &bare_all_rows);
	traveler_store_free(store);
	/* The same seed makes the same event IDs: clear what the bare run stored. */
	if (ct_pg_exec(pg,
	               "TRUNCATE event, unit, station_visit, measurement, process_parameter, "
	               "genealogy, environment_reading, visit_note, visit_curve, telemetry_sample, "
	               "dead_letter",
	               err, sizeof(err)) != CT_OK) {
		fprintf(stderr, "bench: %s\n", err);
		return 1;
	}

	/* Phase e2e: the real services. */
	if (harness_service_start(h, HARNESS_INGEST, NULL, service_env, &ingest) != CT_OK ||
	    harness_service_start(h, HARNESS_TRAVELER, NULL, service_env, &traveler) != CT_OK)
		return 1;
	t0 = ct_mono_ms();
	if (run_linesim(h, env, summary_path, &w2) != CT_OK)
		return 1;
	{
		char sql[] = "SELECT count(*) FROM measurement";
		harness_wait_sql_count(h, sql, w2.measurements, 600000);
		e2e_s = (double)(ct_mono_ms() - t0) / 1000.0;
		harness_sql_long(h, sql, 0, NULL, &stored);
	}
	rss_ingest = bench_peak_rss_kib(ingest->pid);
	rss_traveler = bench_peak_rss_kib(traveler->pid);
	harness_proc_stop(h, ingest);
	harness_proc_stop(h, traveler);

	printf("{\"cells\": %s, \"spool_sync\": %s, \"messages\": %lld, \"measurements\": %lld,\n"
	       " \"broker_only\": {\"seconds\": %.3f, \"messages_per_s\": %.0f, "
	       "\"measurements_per_s\": %.0f},\n"
	       " \"pg_copy_only\": {\"seconds\": %.3f, \"rows_per_s\": %.0f},\n"
	       " \"bare_subscriber_measurements_only\": {\"seconds\": %.3f, "
	       "\"measurements_per_s\": %.0f, \"measurements\": %lld},\n"
	       " \"bare_subscriber_all_rows\": {\"seconds\": %.3f, \"measurements_per_s\": %.0f, "
	       "\"measurements\": %lld},\n"
	       " \"end_to_end\": {\"seconds\": %.3f, \"measurements_per_s\": %.0f, "
	       "\"stored\": %lld, \"lost\": %lld},\n"
	       " \"ratio_e2e_to_bare_all_rows\": %.3f, \"ratio_e2e_to_bare_measurements_only\": "
	       "%.3f,"
	       " \"ratio_e2e_to_broker\": %.3f,\n"
	       " \"peak_rss_kib\": {\"ct-ingest\": %lld, \"ct-traveler\": %lld}}\n",
	       cells, spool_sync ? "true" : "false", w.messages, w.measurements, broker_s,
	       (double)w.messages / broker_s, (double)w.measurements / broker_s, copy_s,
	       (double)w.measurements / copy_s, bare_s, (double)bare_rows / bare_s, bare_rows,
	       bare_all_s, (double)bare_all_rows / bare_all_s, bare_all_rows, e2e_s,
	       (double)w2.measurements / e2e_s, stored, w2.measurements - stored,
	       bare_all_s / e2e_s, bare_s / e2e_s, broker_s / e2e_s, rss_ingest, rss_traveler);
	ct_copy_cleanup(&copy);
	ct_pg_free(pg);
	harness_pass(h);
	harness_free(h);
	return stored == w2.measurements ? 0 : 1;
}
