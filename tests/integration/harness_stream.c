/* harness_stream: messages the tests publish and streams that prove exactly-once storage
 * (contract in harness.h).
 *
 * A stream publishes result batches as a gateway with predictable event IDs, keeps itself a
 * bounded number of results ahead of the database so the services always have a backlog
 * (kills and restarts then land mid-work), and checks at the end that each published event,
 * visit, measurement and unit is stored exactly once, behind a sentinel so that nothing
 * still in flight can change the counts afterwards. */
#include "harness.h"
#include "harness_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_time.h"
#include "ct_topic.h"

/* ---- Messages ---- */

int harness_simple_batch(const struct harness_simple *spec, const char *const *ids,
                         const char *const *units, size_t n, uint8_t **ret_buf, size_t *ret_len)
{
	Cellthread__V1__StationResultBatch batch = CELLTHREAD__V1__STATION_RESULT_BATCH__INIT;
	Cellthread__V1__StationResult *results = calloc(n, sizeof(*results));
	Cellthread__V1__StationResult **result_ptrs = calloc(n, sizeof(*result_ptrs));
	Cellthread__V1__Header *headers = calloc(n, sizeof(*headers));
	size_t n_meas = spec->n_measurements > 0 ? (size_t)spec->n_measurements : 0;
	Cellthread__V1__Measurement *meas = calloc(n * n_meas + 1, sizeof(*meas));
	Cellthread__V1__Measurement **meas_ptrs = calloc(n * n_meas + 1, sizeof(*meas_ptrs));
	char(*names)[24] = calloc(n_meas + 1, sizeof(*names));
	int64_t ended = spec->ended_at_us != 0 ? spec->ended_at_us : ct_now_us();
	int rc = CT_ERR_NOMEM;

	if (results == NULL || result_ptrs == NULL || headers == NULL || meas == NULL ||
	    meas_ptrs == NULL || names == NULL)
		goto out;
	for (size_t k = 0; k < n_meas; k++)
		snprintf(names[k], sizeof(names[k]), "m%zu", k);
	for (size_t i = 0; i < n; i++) {
		Cellthread__V1__StationResult *r = &results[i];

		cellthread__v1__header__init(&headers[i]);
		headers[i].event_id = (char *)ids[i];
		headers[i].producer = (char *)(spec->producer ? spec->producer : "harness");
		headers[i].produced_at_us = ended;
		headers[i].schema_version = 1;
		cellthread__v1__station_result__init(r);
		r->header = &headers[i];
		r->unit_id = (char *)units[i];
		r->unit_kind = CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_CELL;
		r->site = (char *)spec->site;
		r->line = (char *)spec->line;
		r->station = (char *)spec->station;
		r->station_type = CELLTHREAD__V1__STATION_TYPE__STATION_TYPE_EOL_TEST;
		r->recipe = (char *)"harness-recipe";
		r->recipe_version = 1;
		r->started_at_us = ended - 1000;
		r->ended_at_us = ended;
		r->result = CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_OK;
		r->n_measurements = n_meas;
		r->measurements = meas_ptrs + i * n_meas;
		for (size_t k = 0; k < n_meas; k++) {
			Cellthread__V1__Measurement *m = &meas[i * n_meas + k];
			cellthread__v1__measurement__init(m);
			m->characteristic = names[k];
			m->value = (double)i + (double)k / 8.0;
			m->unit = (char *)"V";
			m->measured_at_us = ended;
			meas_ptrs[i * n_meas + k] = m;
		}
		result_ptrs[i] = r;
	}
	batch.n_results = n;
	batch.results = result_ptrs;
	rc = ct_pb_pack(&batch.base, ret_buf, ret_len);
out:
	free(results);
	free(result_ptrs);
	free(headers);
	free(meas);
	free(meas_ptrs);
	free(names);
	return rc;
}

/* ---- Streams ---- */

int harness_stream_open(struct harness *h, struct harness_stream *s, const char *prefix,
                        const char *site, const char *station, int results_per, int meas_per)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->prefix, sizeof(s->prefix), "%s", prefix);
	snprintf(s->site, sizeof(s->site), "%s", site);
	snprintf(s->station, sizeof(s->station), "%s", station);
	s->results_per = results_per;
	s->meas_per = meas_per;
	s->max_lead = 1000;
	s->last_progress = -1;
	s->progress_at_ms = ct_mono_ms();
	return harness_mqtt_connect(h, "gateway", &s->pub);
}

static int stream_publish_one(struct harness_stream *s)
{
	struct harness_simple spec = {s->site, "L1", s->station, "stream-gateway", s->meas_per, 0};
	char id_buf[16][64], unit_buf[16][64], topic[CT_TOPIC_MAX];
	const char *ids[16], *units[16];
	uint8_t *buf = NULL;
	size_t len = 0;
	int n = s->results_per < 16 ? s->results_per : 16;
	int rc;

	for (int j = 0; j < n; j++) {
		snprintf(id_buf[j], sizeof(id_buf[j]), "%s-%06d-%d", s->prefix, s->published, j);
		snprintf(unit_buf[j], sizeof(unit_buf[j]), "%s-CELL-%06d-%d", s->prefix,
		         s->published, j);
		ids[j] = id_buf[j];
		units[j] = unit_buf[j];
	}
	snprintf(topic, sizeof(topic), "ct/v1/edge/%s/L1/%s/result/pb", s->site, s->station);
	rc = harness_simple_batch(&spec, ids, units, (size_t)n, &buf, &len);
	if (rc == CT_OK)
		rc = ct_mqtt_publish(s->pub, topic, buf, len, 1, false, 60000);
	free(buf);
	if (rc != CT_OK) {
		harness_say("stream %s: publish %d failed: %s", s->prefix, s->published,
		            ct_strerror(rc));
		return rc;
	}
	s->published++;
	return CT_OK;
}

int harness_stream_count(struct harness *h, struct harness_stream *s)
{
	char like[64];
	const char *params[] = {like};

	snprintf(like, sizeof(like), "%s-%%", s->prefix);
	return harness_sql_long(h, "SELECT count(*) FROM event WHERE event_id LIKE $1", 1, params,
	                        &s->stored);
}

/* Fails when the stored count has not moved for HARNESS_WAIT_MS. */
static int stream_progress(struct harness *h, struct harness_stream *s)
{
	if (s->stored != s->last_progress) {
		s->last_progress = s->stored;
		s->progress_at_ms = ct_mono_ms();
		return CT_OK;
	}
	if (ct_mono_ms() - s->progress_at_ms > HARNESS_WAIT_MS) {
		harness_say("stream %s: no progress for %d ms: %lld results stored, %lld published",
		            s->prefix, HARNESS_WAIT_MS, s->stored,
		            (long long)s->published * s->results_per);
		return harness_fail_with_logs(h, CT_ERR_TIMEOUT);
	}
	return CT_OK;
}

int harness_stream_flow(struct harness *h, struct harness_stream *s, int until_msgs,
                        long long until_stored)
{
	int interval = 1, rc;

	/* A new phase: progress is measured from now. */
	s->progress_at_ms = ct_mono_ms();
	while (s->published < until_msgs) {
		if ((rc = harness_stream_count(h, s)) != CT_OK)
			return rc;
		if (s->stored >= until_stored)
			return CT_OK;
		if ((rc = stream_progress(h, s)) != CT_OK ||
		    (rc = harness_check_services(h)) != CT_OK)
			return rc;
		if ((long long)s->published * s->results_per - s->stored >= s->max_lead) {
			harness_sleep_ms(harness_backoff(&interval));
			continue;
		}
		interval = 1;
		/* A few messages between two counts keep the counting cheap. */
		for (int i = 0; i < 10 && s->published < until_msgs; i++)
			if ((rc = stream_publish_one(s)) != CT_OK)
				return rc;
	}
	return harness_stream_count(h, s);
}

int harness_stream_publish(struct harness *h, struct harness_stream *s, int n)
{
	(void)h;
	for (int i = 0; i < n; i++) {
		int rc = stream_publish_one(s);
		if (rc != CT_OK)
			return rc;
	}
	return CT_OK;
}

int harness_stream_reconnect(struct harness *h, struct harness_stream *s)
{
	ct_mqtt_free(s->pub);
	s->pub = NULL;
	return harness_mqtt_connect(h, "gateway", &s->pub);
}

int harness_stream_flush(struct harness_stream *s)
{
	int rc = ct_mqtt_flush(s->pub, 120000);
	if (rc != CT_OK)
		harness_say("stream %s: flush failed: %s", s->prefix, ct_strerror(rc));
	return rc;
}

/* One exact count of the stream's rows; prints and fails on a mismatch. */
static int stream_expect(struct harness *h, const char *what, const char *sql, const char *arg,
                         long long want)
{
	const char *params[] = {arg};
	long long got = -1;
	int rc = harness_sql_long(h, sql, 1, params, &got);

	if (rc != CT_OK)
		return rc;
	if (got != want) {
		harness_say("%s: %lld, expected exactly %lld", what, got, want);
		return harness_fail_with_logs(h, CT_ERR_INVALID);
	}
	return CT_OK;
}

int harness_stream_verify(struct harness *h, struct harness_stream *s)
{
	const long long total = (long long)s->published * s->results_per;
	char like[64], unit_like[64], topic_like[96], sid[64];
	const char *params[] = {like};
	int rc;

	snprintf(like, sizeof(like), "%s-%%", s->prefix);
	snprintf(unit_like, sizeof(unit_like), "%s-CELL-%%", s->prefix);
	snprintf(topic_like, sizeof(topic_like), "%%/%s/%%", s->station);
	if ((rc = harness_stream_flush(s)) != CT_OK)
		return rc;
	rc = harness_wait_sql_countv(h, "SELECT count(*) FROM event WHERE event_id LIKE $1", 1,
	                             params, total, HARNESS_WAIT_MS);
	if (rc == CT_OK)
		rc = harness_wait_sql_countv(
		        h, "SELECT count(*) FROM measurement WHERE event_id LIKE $1", 1, params,
		        total * s->meas_per, HARNESS_WAIT_MS);
	if (rc != CT_OK)
		return rc;

	/* The sentinel: a result with no measurements behind the whole stream. */
	{
		struct harness_simple spec = {s->site, "L1", s->station, "stream-gateway", 0, 0};
		char unit[64], topic[CT_TOPIC_MAX];
		const char *ids[] = {sid}, *units[] = {unit};
		uint8_t *buf = NULL;
		size_t len = 0;

		snprintf(sid, sizeof(sid), "sentinel-%s", s->prefix);
		snprintf(unit, sizeof(unit), "SENTINEL-%s", s->prefix);
		snprintf(topic, sizeof(topic), "ct/v1/edge/%s/L1/%s/result/pb", s->site,
		         s->station);
		rc = harness_simple_batch(&spec, ids, units, 1, &buf, &len);
		if (rc == CT_OK)
			rc = ct_mqtt_publish(s->pub, topic, buf, len, 1, false, 60000);
		free(buf);
		if (rc == CT_OK)
			rc = ct_mqtt_flush(s->pub, 60000);
		if (rc != CT_OK)
			return rc;
		rc = harness_wait_sql_countv(h, "SELECT count(*) FROM event WHERE event_id = $1", 1,
		                             ids, 1, HARNESS_WAIT_MS);
		if (rc != CT_OK)
			return rc;
	}
	if ((rc = stream_expect(h, "events", "SELECT count(*) FROM event WHERE event_id LIKE $1",
	                        like, total)) != CT_OK ||
	    (rc = stream_expect(h, "station visits",
	                        "SELECT count(*) FROM station_visit WHERE event_id LIKE $1", like,
	                        total)) != CT_OK ||
	    (rc = stream_expect(h, "measurements",
	                        "SELECT count(*) FROM measurement WHERE event_id LIKE $1", like,
	                        total * s->meas_per)) != CT_OK ||
	    (rc = stream_expect(h, "duplicate measurements",
	                        "SELECT count(*) FROM (SELECT 1 FROM measurement WHERE event_id "
	                        "LIKE $1 GROUP BY event_id, seq HAVING count(*) > 1) d",
	                        like, 0)) != CT_OK ||
	    (rc = stream_expect(h, "units", "SELECT count(*) FROM unit WHERE unit_id LIKE $1",
	                        unit_like, total)) != CT_OK ||
	    (rc = stream_expect(h, "dead letters",
	                        "SELECT count(*) FROM dead_letter WHERE source_topic LIKE $1",
	                        topic_like, 0)) != CT_OK)
		return rc;
	harness_say("stream %s: exactly %lld results (%d messages) stored once", s->prefix, total,
	            s->published);
	return CT_OK;
}

void harness_stream_close(struct harness_stream *s)
{
	ct_mqtt_free(s->pub);
	s->pub = NULL;
}
