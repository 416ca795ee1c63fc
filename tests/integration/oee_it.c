/* oee_it: the OEE tests' shared helpers (oee_it.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_pb.h"
#include "ct_time.h"
#include "oee_it.h"

#define WAIT HARNESS_WAIT_MS

/* s or "", as the char * protobuf-c's structs hold (never written). */
static char *str(const char *s)
{
	return (char *)(s != NULL ? s : "");
}

void oee_it_publish_state(struct ct_mqtt *pub, const struct oee_it_state *s)
{
	Cellthread__V1__StationState m = CELLTHREAD__V1__STATION_STATE__INIT;
	Cellthread__V1__Header hdr = CELLTHREAD__V1__HEADER__INIT;
	char topic[192];
	uint8_t *buf = NULL;
	size_t len = 0;

	hdr.event_id = str(s->event_id);
	hdr.producer = (char *)"oee-it";
	hdr.produced_at_us = ct_now_us();
	hdr.schema_version = 1;
	m.header = &hdr;
	m.site = str(s->site);
	m.line = str(s->line);
	m.station = str(s->station);
	m.state = s->state;
	m.reason_code = str(s->reason_code);
	m.asset = str(s->asset);
	m.recipe = str(s->recipe);
	m.since_us = s->since_us != 0 ? s->since_us : hdr.produced_at_us;
	snprintf(topic, sizeof(topic), "ct/v1/edge/%s/%s/%s/state/pb", m.site, m.line, m.station);
	assert_int_equal(ct_pb_pack(&m.base, &buf, &len), CT_OK);
	assert_int_equal(ct_mqtt_publish(pub, topic, buf, len, 1, false, WAIT), CT_OK);
	free(buf);
}

void oee_it_publish_results(struct ct_mqtt *pub, const char *site, const char *station,
                            const char *prefix, int first, int n, int64_t ended_at_us)
{
	struct harness_simple spec = {.site = site,
	                              .line = "L1",
	                              .station = station,
	                              .producer = "oee-it",
	                              .n_measurements = 1};
	char(*ids)[64] = calloc((size_t)n, sizeof(*ids));
	char(*units)[64] = calloc((size_t)n, sizeof(*units));
	const char **id_ptrs = calloc((size_t)n, sizeof(*id_ptrs));
	const char **unit_ptrs = calloc((size_t)n, sizeof(*unit_ptrs));
	char topic[192];
	uint8_t *buf = NULL;
	size_t len = 0;
	int64_t ended = ended_at_us != 0 ? ended_at_us : ct_now_us();

	assert_true(ids != NULL && units != NULL && id_ptrs != NULL && unit_ptrs != NULL);
	/* One batch per result: harness_simple_batch gives every result of a batch one end time,
	 * and the OEE figures count by end time. */
	snprintf(topic, sizeof(topic), "ct/v1/edge/%s/L1/%s/result/pb", site, station);
	for (int i = 0; i < n; i++) {
		snprintf(ids[i], sizeof(ids[i]), "%s-%d", prefix, first + i);
		snprintf(units[i], sizeof(units[i]), "%s-CELL-%d", prefix, first + i);
		id_ptrs[i] = ids[i];
		unit_ptrs[i] = units[i];
		spec.ended_at_us = ended + (int64_t)i * 1000;
		assert_int_equal(
		        harness_simple_batch(&spec, &id_ptrs[i], &unit_ptrs[i], 1, &buf, &len),
		        CT_OK);
		assert_int_equal(ct_mqtt_publish(pub, topic, buf, len, 1, false, WAIT), CT_OK);
		free(buf);
		buf = NULL;
	}
	free(ids);
	free(units);
	free(id_ptrs);
	free(unit_ptrs);
}

struct harness_sub *oee_it_subscribe(struct harness *h, const char *site)
{
	char filter[96];
	struct harness_sub *sub = NULL;

	snprintf(filter, sizeof(filter), "ct/v1/oee/%s/#", site);
	assert_int_equal(harness_sub_new(h, "cli", filter, &sub), CT_OK);
	return sub;
}

Cellthread__V1__OeeFigures *oee_it_next_figures(struct harness_sub *sub, const char *topic,
                                                int want_state, int timeout_ms, bool *ret_history)
{
	int64_t deadline = ct_mono_ms() + timeout_ms;

	for (;;) {
		int64_t left = deadline - ct_mono_ms();
		const char *t;
		const uint8_t *payload;
		size_t len;
		Cellthread__V1__OeeFigures *f;

		if (left <= 0 || harness_sub_next(sub, (int)left, &t, &payload, &len) != CT_OK)
			return NULL;
		if (topic != NULL && strcmp(t, topic) != 0)
			continue;
		if (len == 0) /* a retained message deleted */
			continue;
		f = cellthread__v1__oee_figures__unpack(NULL, len, payload);
		if (f == NULL)
			fail_msg("%s: not an OeeFigures (%zu bytes)", t, len);
		if (want_state == 0 || (int)f->current_state == want_state) {
			size_t n = strlen(t);
			if (ret_history != NULL)
				*ret_history = n >= 8 && strcmp(t + n - 8, "/history") == 0;
			return f;
		}
		cellthread__v1__oee_figures__free_unpacked(f, NULL);
	}
}

json_t *oee_it_sql_json(struct harness *h, const char *sql, int n, const char *const *params)
{
	PGresult *res = NULL;
	json_error_t jerr;
	json_t *o;

	assert_int_equal(harness_sql(h, sql, n, params, &res), CT_OK);
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
		fail_msg("%s: %d rows or NULL", sql, PQntuples(res));
	o = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
	if (o == NULL)
		fail_msg("%s: not JSON (%s): %.200s", sql, jerr.text, PQgetvalue(res, 0, 0));
	PQclear(res);
	return o;
}

double oee_it_num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_number(v)) {
		char *dump = json_dumps(o, JSON_COMPACT);
		fail_msg("\"%s\" is not a number in %.600s", key, dump != NULL ? dump : "?");
	}
	return json_number_value(v);
}

bool oee_it_is_null(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return v == NULL || json_is_null(v);
}

void oee_it_close(const char *what, double got, double want, double tol)
{
	if (!(fabs(got - want) <= tol))
		fail_msg("%s: %.12g, expected %.12g (tolerance %g)", what, got, want, tol);
}

void oee_it_same_figures(const char *what, json_t *got, json_t *want, double tol)
{
	static const char *const keys[] = {"planned_busy_s",
	                                   "run_s",
	                                   "planned_down_s",
	                                   "unplanned_down_s",
	                                   "idle_s",
	                                   "starved_s",
	                                   "blocked_s",
	                                   "micro_stop_count",
	                                   "micro_stop_s",
	                                   "produced",
	                                   "good",
	                                   "late_rejects",
	                                   "ideal_cycle_s",
	                                   "availability",
	                                   "performance",
	                                   "quality",
	                                   "oee",
	                                   NULL};

	for (size_t i = 0; keys[i] != NULL; i++) {
		char name[160];
		bool gn = oee_it_is_null(got, keys[i]), wn = oee_it_is_null(want, keys[i]);

		snprintf(name, sizeof(name), "%s: %s", what, keys[i]);
		if (gn || wn) {
			if (gn != wn)
				fail_msg("%s: null on one side only", name);
			continue;
		}
		oee_it_close(name, oee_it_num(got, keys[i]), oee_it_num(want, keys[i]), tol);
	}
}
