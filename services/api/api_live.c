/* api_live: the live stream's hub, and the loop handlers that feed it (contract in
 * api_live.h).
 *
 * The ring holds the newest API_LIVE_RING events; event number seq lives in slot
 * seq % API_LIVE_RING, and `next` is the number the next event gets. A client reads event
 * numbers from its own position up to next; when its position is older than next -
 * API_LIVE_RING, the events it has not read are gone and it is disconnected. Each event's text
 * is complete SSE ("event: ...\ndata: ...\n\n"); a client copies the one it sends under the
 * lock, so the loop thread may overwrite the slot meanwhile.
 *
 * The handlers run on the loop thread: they decode and add, and publish nothing but dead
 * letters for messages that do not decode. Nothing is kept across a restart: the stream is
 * live only, and the dashboard backfills from the API. */
#include "api_live.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api_server.h"
#include "cellthread/v1/alert.pb-c.h"
#include "ct_error.h"
#include "ct_log.h"
#include "ct_msg.h"
#include "ct_time.h"
#include "ct_topic.h"

#define FIELD_MAX      (CT_ID_MAX + 1)
#define MAX_PAYLOAD    (4u << 20) /* larger live messages are dead-lettered */
#define DEADLETTER_CAP (64 * 1024)

struct event {
	unsigned kind;
	char *text; /* malloc'ed SSE text, NULL for an empty slot */
	size_t len;
	char site[FIELD_MAX], line[FIELD_MAX], station[FIELD_MAX], characteristic[FIELD_MAX];
};

struct api_live {
	pthread_mutex_t lock;
	pthread_cond_t added;
	struct event ring[API_LIVE_RING];
	uint64_t next;
	size_t clients, max_clients;
	bool stopping;
};

struct api_live_client {
	struct api_live *live;
	unsigned kinds;
	char site[FIELD_MAX], line[FIELD_MAX], station[FIELD_MAX], characteristic[FIELD_MAX];
	uint64_t pos;
	char *pending; /* the event being written, or NULL */
	size_t pending_len, pending_off;
	int64_t last_write_ms;
	bool greeted;
};

struct api_live *api_live_new(size_t max_clients)
{
	struct api_live *live = calloc(1, sizeof(*live));

	if (live == NULL)
		return NULL;
	pthread_mutex_init(&live->lock, NULL);
	pthread_cond_init(&live->added, NULL);
	live->max_clients = max_clients;
	return live;
}

void api_live_shutdown(struct api_live *live)
{
	pthread_mutex_lock(&live->lock);
	live->stopping = true;
	pthread_cond_broadcast(&live->added);
	pthread_mutex_unlock(&live->lock);
}

void api_live_free(struct api_live *live)
{
	if (live == NULL)
		return;
	for (size_t i = 0; i < API_LIVE_RING; i++)
		free(live->ring[i].text);
	pthread_cond_destroy(&live->added);
	pthread_mutex_destroy(&live->lock);
	free(live);
}

bool api_live_has_clients(struct api_live *live)
{
	bool any;

	pthread_mutex_lock(&live->lock);
	any = live->clients > 0;
	pthread_mutex_unlock(&live->lock);
	return any;
}

static const char *kind_name(unsigned kind)
{
	switch (kind) {
	case API_LIVE_MEASUREMENT:
		return "measurement";
	case API_LIVE_VERDICT:
		return "verdict";
	case API_LIVE_ALERT:
		return "alert";
	case API_LIVE_OEE:
		return "oee";
	case API_LIVE_STATE:
		return "state";
	default:
		return "lot";
	}
}

static void copy_field(char *dst, const char *src)
{
	snprintf(dst, FIELD_MAX, "%s", src != NULL ? src : "");
}

int api_live_add(struct api_live *live, enum api_live_kind kind, const char *json, const char *site,
                 const char *line, const char *station, const char *characteristic)
{
	const char *name = kind_name(kind);
	size_t len = strlen("event: ") + strlen(name) + strlen("\ndata: ") + strlen(json) + 3;
	char *text = malloc(len);
	struct event *e;

	if (text == NULL)
		return CT_ERR_NOMEM;
	len = (size_t)snprintf(text, len, "event: %s\ndata: %s\n\n", name, json);
	pthread_mutex_lock(&live->lock);
	e = &live->ring[live->next % API_LIVE_RING];
	free(e->text);
	e->text = text;
	e->len = len;
	e->kind = kind;
	copy_field(e->site, site);
	copy_field(e->line, line);
	copy_field(e->station, station);
	copy_field(e->characteristic, characteristic);
	live->next++;
	pthread_cond_broadcast(&live->added);
	pthread_mutex_unlock(&live->lock);
	return CT_OK;
}

int api_live_parse_kinds(const char *text, unsigned *ret)
{
	static const unsigned kinds[] = {API_LIVE_MEASUREMENT, API_LIVE_VERDICT, API_LIVE_ALERT,
	                                 API_LIVE_LOT,         API_LIVE_OEE,     API_LIVE_STATE};
	unsigned set = 0;
	const char *p = text;

	while (*p != '\0') {
		size_t n = strcspn(p, ",");
		bool known = false;
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
			const char *name = kind_name(kinds[i]);
			if (n == strlen(name) && strncmp(p, name, n) == 0) {
				set |= kinds[i];
				known = true;
			}
		}
		if (!known)
			return CT_ERR_INVALID;
		p += n;
		if (*p == ',')
			p++;
	}
	if (set == 0)
		return CT_ERR_INVALID;
	*ret = set;
	return CT_OK;
}

int api_live_client_new(struct api_live *live, const struct api_live_filter *filter,
                        struct api_live_client **ret)
{
	struct api_live_client *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return CT_ERR_NOMEM;
	c->live = live;
	c->kinds = filter->kinds;
	copy_field(c->site, filter->site);
	copy_field(c->line, filter->line);
	copy_field(c->station, filter->station);
	copy_field(c->characteristic, filter->characteristic);
	c->last_write_ms = ct_mono_ms();
	pthread_mutex_lock(&live->lock);
	if (live->stopping || live->clients >= live->max_clients) {
		pthread_mutex_unlock(&live->lock);
		free(c);
		return CT_ERR_AGAIN;
	}
	live->clients++;
	c->pos = live->next;
	pthread_mutex_unlock(&live->lock);
	*ret = c;
	return CT_OK;
}

void api_live_client_free(struct api_live_client *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->live->lock);
	c->live->clients--;
	pthread_mutex_unlock(&c->live->lock);
	free(c->pending);
	free(c);
}

/* A set filter field excludes an event that carries the field with another value. */
static bool field_matches(const char *want, const char *have)
{
	return want[0] == '\0' || have[0] == '\0' || strcmp(want, have) == 0;
}

static bool matches(const struct api_live_client *c, const struct event *e)
{
	return (c->kinds & e->kind) != 0 && field_matches(c->site, e->site) &&
	       field_matches(c->line, e->line) && field_matches(c->station, e->station) &&
	       field_matches(c->characteristic, e->characteristic);
}

/* Takes the next matching event into c->pending, waiting until the keepalive is due. Lock
 * held. Returns 1 with an event, 0 when the keepalive is due, -1 at shutdown, -2 when the
 * client fell behind, -3 when there is no memory for the event. */
static int take(struct api_live_client *c)
{
	struct api_live *live = c->live;
	struct timespec deadline;
	int wait_ms = (int)(c->last_write_ms + API_LIVE_KEEPALIVE_MS - ct_mono_ms());

	ct_time_deadline(&deadline, wait_ms > 0 ? wait_ms : 0);
	for (;;) {
		if (live->stopping)
			return -1;
		if (live->next - c->pos > API_LIVE_RING)
			return -2;
		while (c->pos < live->next) {
			const struct event *e = &live->ring[c->pos % API_LIVE_RING];
			c->pos++;
			if (!matches(c, e))
				continue;
			c->pending = malloc(e->len);
			if (c->pending == NULL)
				return -3;
			memcpy(c->pending, e->text, e->len);
			c->pending_len = e->len;
			c->pending_off = 0;
			return 1;
		}
		if (pthread_cond_timedwait(&live->added, &live->lock, &deadline) == ETIMEDOUT)
			return 0;
	}
}

long api_live_client_read(struct api_live_client *c, char *buf, size_t max)
{
	static const char keepalive[] = ": keepalive\n\n";
	static const char hello[] = "retry: 3000\n: connected\n\n";
	size_t n;
	int got;

	if (!c->greeted) {
		/* Sent at once, so the client sees the response start before the first event. */
		c->greeted = true;
		n = sizeof(hello) - 1 < max ? sizeof(hello) - 1 : max;
		memcpy(buf, hello, n);
		return (long)n;
	}
	if (c->pending == NULL) {
		pthread_mutex_lock(&c->live->lock);
		got = take(c);
		pthread_mutex_unlock(&c->live->lock);
		if (got < 0) {
			if (got == -2)
				ct_info("live: a stream client fell %d events behind: disconnected",
				        API_LIVE_RING);
			else if (got == -3)
				ct_warn("live: no memory for a stream event: client disconnected");
			return got;
		}
		c->last_write_ms = ct_mono_ms();
		if (got == 0) {
			n = sizeof(keepalive) - 1 < max ? sizeof(keepalive) - 1 : max;
			memcpy(buf, keepalive, n);
			return (long)n;
		}
	}
	n = c->pending_len - c->pending_off;
	if (n > max)
		n = max;
	memcpy(buf, c->pending + c->pending_off, n);
	c->pending_off += n;
	if (c->pending_off == c->pending_len) {
		free(c->pending);
		c->pending = NULL;
	}
	return (long)n;
}

/* ---- decoding what arrives into events -------------------------------------------------- */

static int64_t ms_of(int64_t us)
{
	return us / 1000;
}

/* Adds a jansson object as an event; takes the reference. obj NULL is what json_pack gives
 * for a string that is not UTF-8 (protobuf-c does not check them): CT_ERR_INVALID, so the
 * message is dead-lettered instead of stopping the loop. */
static int add_json(struct api_live *live, enum api_live_kind kind, json_t *obj, const char *site,
                    const char *line, const char *station, const char *characteristic)
{
	char *text;
	int rc;

	if (obj == NULL)
		return CT_ERR_INVALID;
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (text == NULL)
		return CT_ERR_NOMEM;
	rc = api_live_add(live, kind, text, site, line, station, characteristic);
	free(text);
	return rc;
}

/* A finite double, or JSON null (JSON has no NaN or infinity). */
static json_t *number(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static int add_results(struct api_live *live, const Cellthread__V1__StationResultBatch *b)
{
	int rc = CT_OK;

	for (size_t i = 0; i < b->n_results && rc == CT_OK; i++) {
		const Cellthread__V1__StationResult *r = b->results[i];
		const char *event_id = r->header != NULL ? r->header->event_id : "";
		for (size_t j = 0; j < r->n_measurements && rc == CT_OK; j++) {
			const Cellthread__V1__Measurement *m = r->measurements[j];
			int64_t at = m->measured_at_us != 0 ? m->measured_at_us : r->ended_at_us;
			json_t *o = json_pack(
			        "{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:I}", "event_id", event_id,
			        "unit_id", r->unit_id, "site", r->site, "line", r->line, "station",
			        r->station, "characteristic", m->characteristic, "value",
			        number(m->value), "uom", m->unit, "t_ms", (json_int_t)ms_of(at));
			rc = add_json(live, API_LIVE_MEASUREMENT, o, r->site, r->line, r->station,
			              m->characteristic);
		}
	}
	return rc;
}

static const char *verdict_name(int code)
{
	static const char *const names[] = {"unspecified", "pass", "fail", "rework", "scrap"};

	return code >= 0 && (size_t)code < sizeof(names) / sizeof(names[0]) ? names[code]
	                                                                    : "unspecified";
}

static int add_verdicts(struct api_live *live, const Cellthread__V1__VerdictBatch *b)
{
	int rc = CT_OK;

	for (size_t i = 0; i < b->n_verdicts && rc == CT_OK; i++) {
		const Cellthread__V1__Verdict *v = b->verdicts[i];
		json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I}", "event_id",
		                      v->header != NULL ? v->header->event_id : "", "unit_id",
		                      v->unit_id, "site", v->site, "line", v->line, "station",
		                      v->station, "verdict", verdict_name((int)v->verdict), "t_ms",
		                      (json_int_t)ms_of(v->decided_at_us));
		rc = add_json(live, API_LIVE_VERDICT, o, v->site, v->line, v->station, NULL);
	}
	return rc;
}

static const char *alarm_state_name(int state)
{
	/* As the alert table and GET /alerts spell them, so a page can compare the two. */
	static const char *const names[] = {"UNSPECIFIED", "NORMAL", "ACTIVE_UNACK", "ACTIVE_ACK",
	                                    "CLEARED_UNACK"};

	return state >= 0 && (size_t)state < sizeof(names) / sizeof(names[0]) ? names[state]
	                                                                      : "UNSPECIFIED";
}

static int add_alert(struct api_live *live, const Cellthread__V1__AlertEvent *a)
{
	json_t *o = json_pack(
	        "{s:s,s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:I}", "alert_id", a->alert_id, "code",
	        a->code, "state", alarm_state_name((int)a->state), "severity", (int)a->severity,
	        "site", a->site, "line", a->line, "station", a->station, "object_id", a->object_id,
	        "text", a->text, "action", a->action, "t_ms", (json_int_t)ms_of(a->at_us));

	return add_json(live, API_LIVE_ALERT, o, a->site, a->line, a->station, NULL);
}

static int add_lot(struct api_live *live, const Cellthread__V1__LotStatus *l)
{
	const char *state = ct_enum_short_name(&cellthread__v1__lot_state__descriptor, l->state);
	json_t *o = json_pack("{s:s,s:s,s:s,s:I}", "site", l->site, "lot_id", l->lot_id, "state",
	                      state != NULL ? state : "unspecified", "t_ms",
	                      (json_int_t)ms_of(l->changed_at_us));

	return add_json(live, API_LIVE_LOT, o, l->site, NULL, NULL, NULL);
}

/* StationStateKind by its short name (ct_msg has no table for it). */
static const char *state_name(int state)
{
	static const char *const names[] = {
	        "unspecified",      "producing",          "idle",        "starved", "blocked",
	        "planned_downtime", "unplanned_downtime", "unknown_stop"};

	return state >= 0 && (size_t)state < sizeof(names) / sizeof(names[0]) ? names[state]
	                                                                      : "unspecified";
}

/* Figures as the stream's JSON. Unknown figures are null, as GET /oee has them (the message
 * has 0): availability without planned busy time, performance without an ideal cycle time or
 * run time, quality without produced units, and OEE when any of them is unknown. The line's
 * figures have station "". history: a closed shift's figures again (late quality). */
static int add_oee(struct api_live *live, const Cellthread__V1__OeeFigures *f, bool history)
{
	bool avail_known = f->planned_busy_s > 0;
	bool perf_known = f->ideal_cycle_s > 0 && f->run_s > 0;
	bool quality_known = f->produced > 0;
	json_t *o = json_pack(
	        "{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:b,s:o,s:o,s:o,s:o,s:b,s:s,s:I,s:I,s:I,s:i,s:o,s:s,"
	        "s:s,s:o,s:o}",
	        "site", f->site, "line", f->line, "station", f->station, "shift_id", f->shift_id,
	        "shift_start_ms", (json_int_t)ms_of(f->shift_start_us), "shift_end_ms",
	        (json_int_t)ms_of(f->shift_end_us), "until_ms", (json_int_t)ms_of(f->until_us),
	        "history", history, "availability",
	        avail_known ? number(f->availability) : json_null(), "performance",
	        perf_known ? number(f->performance) : json_null(), "quality",
	        quality_known ? number(f->quality) : json_null(), "oee",
	        avail_known && perf_known && quality_known ? number(f->oee) : json_null(),
	        "performance_flagged", f->performance_flagged, "flag_reason", f->flag_reason,
	        "produced", (json_int_t)f->produced, "good", (json_int_t)f->good, "late_rejects",
	        (json_int_t)f->late_rejects, "micro_stop_count", (int)f->micro_stop_count,
	        "micro_stop_s", number(f->micro_stop_seconds), "current_state",
	        state_name((int)f->current_state), "current_reason", f->current_reason, "run_s",
	        number(f->run_s), "planned_busy_s", number(f->planned_busy_s));

	return add_json(live, API_LIVE_OEE, o, f->site, f->line, f->station, NULL);
}

static int add_state(struct api_live *live, const Cellthread__V1__StationState *s)
{
	json_t *o =
	        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s}", "event_id",
	                  s->header != NULL ? s->header->event_id : "", "site", s->site, "line",
	                  s->line, "station", s->station, "state", state_name((int)s->state),
	                  "reason_code", s->reason_code, "reason_text", s->reason_text, "since_ms",
	                  (json_int_t)ms_of(s->since_us), "recipe", s->recipe, "asset", s->asset);

	return add_json(live, API_LIVE_STATE, o, s->site, s->line, s->station, NULL);
}

/* ct/v1/oee/{site}/{line}[/{station}]/history: a closed shift's figures again. */
static bool is_history(const char *topic)
{
	size_t n = strlen(topic);

	return n > 8 && strcmp(topic + n - 8, "/history") == 0;
}

/* Which message a topic carries, and how to add it. */
static const ProtobufCMessageDescriptor *descriptor_of(const char *topic)
{
	struct ct_topic where;
	char err[128];

	if (strcmp(topic, CT_TOPIC_ROOT "/alert/event") == 0)
		return &cellthread__v1__alert_event__descriptor;
	if (ct_topic_has_prefix(topic, CT_TOPIC_ROOT "/lot"))
		return &cellthread__v1__lot_status__descriptor;
	if (ct_topic_has_prefix(topic, CT_TOPIC_ROOT "/oee"))
		return &cellthread__v1__oee_figures__descriptor;
	if (ct_topic_parse(topic, &where, err, sizeof(err)) != CT_OK || where.is_edge)
		return NULL;
	if (where.kind == CT_KIND_RESULT)
		return &cellthread__v1__station_result_batch__descriptor;
	if (where.kind == CT_KIND_VERDICT)
		return &cellthread__v1__verdict_batch__descriptor;
	if (where.kind == CT_KIND_STATE)
		return &cellthread__v1__station_state__descriptor;
	return NULL;
}

static int add_message(struct api_live *live, const char *topic, const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;

	if (d == &cellthread__v1__oee_figures__descriptor)
		return add_oee(live, (const Cellthread__V1__OeeFigures *)msg, is_history(topic));
	if (d == &cellthread__v1__station_state__descriptor)
		return add_state(live, (const Cellthread__V1__StationState *)msg);
	if (d == &cellthread__v1__station_result_batch__descriptor)
		return add_results(live, (const Cellthread__V1__StationResultBatch *)msg);
	if (d == &cellthread__v1__verdict_batch__descriptor)
		return add_verdicts(live, (const Cellthread__V1__VerdictBatch *)msg);
	if (d == &cellthread__v1__alert_event__descriptor)
		return add_alert(live, (const Cellthread__V1__AlertEvent *)msg);
	return add_lot(live, (const Cellthread__V1__LotStatus *)msg);
}

#define REASON(r) CELLTHREAD__V1__DEAD_LETTER_REASON__DEAD_LETTER_REASON_##r

static int handle(void *ctx, const struct ct_spool_batch *batch, void **ret_job)
{
	struct api_server *server = ctx;
	int rc = CT_OK;

	(void)ret_job;
	/* Nobody watching: nothing to decode. What arrived is gone for the stream either way. */
	if (!api_live_has_clients(server->live))
		return CT_OK;
	for (size_t i = 0; i < batch->count && rc == CT_OK; i++) {
		const struct ct_spool_record *rec = &batch->records[i];
		const ProtobufCMessageDescriptor *d = descriptor_of(rec->topic);
		ProtobufCMessage *msg = NULL;

		if (d == NULL) {
			rc = ct_loop_dead_letter(&server->loop, rec->topic, REASON(TOPIC),
			                         "not a topic ct-api reads", rec->payload,
			                         rec->payload_len, DEADLETTER_CAP);
			continue;
		}
		if (ct_pb_unpack(d, rec->payload, rec->payload_len, MAX_PAYLOAD, &msg) != CT_OK) {
			rc = ct_loop_dead_letter(
			        &server->loop, rec->topic,
			        rec->payload_len > MAX_PAYLOAD ? REASON(OVERSIZE) : REASON(DECODE),
			        d->name, rec->payload, rec->payload_len, DEADLETTER_CAP);
			continue;
		}
		rc = add_message(server->live, rec->topic, msg);
		ct_pb_free(msg);
		/* The stream is best effort: what cannot become an event is dead-lettered (bad
		 * text) or dropped (out of memory), never a reason to stop the loop, which would
		 * stop the service and meet the same message again at the next start. Events the
		 * message gave before the bad field stay sent. */
		if (rc == CT_ERR_INVALID) {
			rc = ct_loop_dead_letter(&server->loop, rec->topic, REASON(DECODE),
			                         "a text field is not UTF-8", rec->payload,
			                         rec->payload_len, DEADLETTER_CAP);
		} else if (rc != CT_OK) {
			ct_warn("live: %s: %s: not streamed", rec->topic, ct_strerror(rc));
			rc = CT_OK;
		}
	}
	return rc;
}

const struct ct_loop_handlers api_live_handlers = {.handle = handle};
