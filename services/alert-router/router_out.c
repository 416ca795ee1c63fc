/* router_out: what the router publishes, and the queue that holds it until the batch's
 * transaction has committed (a message about a change the database then rolled back would
 * tell people something that did not happen).
 *
 * Queued messages with a delivery ID are outbox rows (alert_delivery): once the broker has
 * acknowledged them, the job of their batch marks them delivered. Rows whose publish was lost
 * to a crash are published again from the outbox at the next start (router_loop.c). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_ids.h"
#include "ct_log.h"
#include "ct_msg.h"
#include "ct_pb.h"
#include "ct_time.h"
#include "ct_topic.h"
#include "router.h"

struct out_item {
	char *topic; /* NULL: the log channel */
	uint8_t *payload;
	size_t len;
	char *delivery_id; /* NULL: not an outbox row */
};

struct router_out {
	struct out_item *items;
	size_t n, cap;
};

struct router_out *router_out_new(void)
{
	return calloc(1, sizeof(struct router_out));
}

void router_out_clear(struct router_out *out)
{
	for (size_t i = 0; i < out->n; i++) {
		free(out->items[i].topic);
		free(out->items[i].payload);
		free(out->items[i].delivery_id);
	}
	out->n = 0;
}

void router_out_free(struct router_out *out)
{
	if (out == NULL)
		return;
	router_out_clear(out);
	free(out->items);
	free(out);
}

int router_out_add(struct router_out *out, const char *topic, const void *payload, size_t len,
                   const char *delivery_id)
{
	struct out_item *it;

	if (out->n == out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 64;
		struct out_item *items = realloc(out->items, cap * sizeof(*items));
		if (items == NULL)
			return CT_ERR_NOMEM;
		out->items = items;
		out->cap = cap;
	}
	it = &out->items[out->n];
	memset(it, 0, sizeof(*it));
	it->topic = topic != NULL ? strdup(topic) : NULL;
	it->payload = malloc(len > 0 ? len : 1);
	it->delivery_id = delivery_id != NULL ? strdup(delivery_id) : NULL;
	if ((topic != NULL && it->topic == NULL) || it->payload == NULL ||
	    (delivery_id != NULL && it->delivery_id == NULL)) {
		free(it->topic);
		free(it->payload);
		free(it->delivery_id);
		return CT_ERR_NOMEM;
	}
	memcpy(it->payload, payload, len);
	it->len = len;
	out->n++;
	return CT_OK;
}

int router_out_add_pb(struct router_out *out, const char *topic, const ProtobufCMessage *msg)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = ct_pb_pack(msg, &buf, &len);
	if (rc != CT_OK)
		return rc;
	rc = router_out_add(out, topic, buf, len, NULL);
	free(buf);
	return rc;
}

void router_out_job_free(struct out_job *j)
{
	if (j == NULL)
		return;
	for (size_t i = 0; i < j->n; i++)
		free(j->ids[i]);
	free(j->ids);
	free(j);
}

int router_out_publish(struct router *r, struct out_job **ret_job)
{
	struct router_out *out = r->out;
	struct out_job *job = calloc(1, sizeof(*job));
	int rc = CT_OK;

	*ret_job = NULL;
	if (job == NULL || (out->n > 0 && (job->ids = calloc(out->n, sizeof(char *))) == NULL)) {
		free(job);
		router_out_clear(out);
		return CT_ERR_NOMEM;
	}
	for (size_t i = 0; i < out->n && rc == CT_OK; i++) {
		struct out_item *it = &out->items[i];
		if (it->topic == NULL) /* the log channel: delivered by being written */
			ct_info("alert: %.*s", (int)it->len, (const char *)it->payload);
		else
			rc = ct_loop_publish_raw(&r->loop, it->topic, it->payload, it->len, false);
		if (rc != CT_OK || it->delivery_id == NULL)
			continue;
		/* The job takes the ID over. */
		job->ids[job->n++] = it->delivery_id;
		it->delivery_id = NULL;
	}
	router_out_clear(out);
	*ret_job = job;
	return rc;
}

void router_out_truncate(struct router_out *out, size_t n)
{
	while (out->n > n) {
		struct out_item *it = &out->items[--out->n];
		free(it->topic);
		free(it->payload);
		free(it->delivery_id);
	}
}

size_t router_out_count(const struct router_out *out)
{
	return out->n;
}

int router_out_job_acked(struct router *r, struct out_job *j)
{
	char err[256];
	char *ids = NULL;
	size_t len = 2;
	int rc;

	if (j == NULL || j->n == 0)
		return CT_OK;
	/* One statement for the batch: the IDs as a PostgreSQL array literal (each is an ID
	 * plus ':' and digits: nothing that needs quoting but the quotes we add). */
	for (size_t i = 0; i < j->n; i++)
		len += strlen(j->ids[i]) + 3;
	ids = malloc(len);
	if (ids == NULL)
		return CT_ERR_NOMEM;
	size_t at = 0;
	ids[at++] = '{';
	for (size_t i = 0; i < j->n; i++)
		at += (size_t)snprintf(ids + at, len - at, "%s\"%s\"", i ? "," : "", j->ids[i]);
	snprintf(ids + at, len - at, "}");
	const char *v[] = {ids};
	rc = ct_pg_query(r->pg,
	                 "UPDATE alert_delivery SET delivered_at = now(), attempts = attempts + 1"
	                 " WHERE delivery_id = ANY($1::text[]) AND delivered_at IS NULL",
	                 1, v, NULL, err, sizeof(err));
	free(ids);
	if (rc != CT_OK)
		/* Not fatal: the rows stay pending and are published once more (same IDs). */
		ct_warn("cannot mark %zu deliveries delivered (they will be sent again): %s", j->n,
		        err);
	return CT_OK;
}

void router_out_fill_event(const struct alert_row *row, Cellthread__V1__AlertEvent *ev,
                           Cellthread__V1__Header *header, char *id_buf, size_t id_len,
                           const char *producer, const char *action, int64_t at_us,
                           const char *actor, const char *reason)
{
	char at[24];
	snprintf(at, sizeof(at), "%lld", (long long)at_us);
	const char *parts[] = {row->alert_id, action, at};
	ct_id_derive(id_buf, id_len, "ae-", parts, 3);
	header->event_id = id_buf;
	header->producer = (char *)producer;
	header->produced_at_us = ct_now_us();
	header->schema_version = 1;
	ev->header = header;
	ev->alert_id = (char *)row->alert_id;
	ev->occurrence = (uint32_t)row->occurrence;
	ev->action = (char *)action;
	ev->state = row->alarm.state == ALARM_ACTIVE_UNACK
	                    ? CELLTHREAD__V1__ALARM_STATE__ALARM_STATE_ACTIVE_UNACK
	            : row->alarm.state == ALARM_ACTIVE_ACK
	                    ? CELLTHREAD__V1__ALARM_STATE__ALARM_STATE_ACTIVE_ACK
	            : row->alarm.state == ALARM_CLEARED_UNACK
	                    ? CELLTHREAD__V1__ALARM_STATE__ALARM_STATE_CLEARED_UNACK
	                    : CELLTHREAD__V1__ALARM_STATE__ALARM_STATE_NORMAL;
	ev->shelved = (char *)alarm_shelve_name(row->alarm.shelved);
	ev->shelved_until_us = row->alarm.shelved == SHELVE_TIMED ? row->alarm.shelved_until_us : 0;
	ev->suppressed = row->alarm.suppressed;
	ev->out_of_service = row->alarm.out_of_service;
	ev->chattering = row->alarm.chattering;
	ev->severity = (Cellthread__V1__Severity)row->severity;
	ev->source = (char *)row->source;
	ev->code = (char *)row->code;
	ev->object_kind = (char *)row->object_kind;
	ev->object_id = (char *)row->object_id;
	ev->site = (char *)row->site;
	ev->line = (char *)row->line;
	ev->station = (char *)row->station;
	ev->text = (char *)row->text;
	ev->count = (uint32_t)row->count;
	ev->value = row->has_value ? row->value : 0;
	ev->raised_at_us = row->raised_at_us;
	ev->at_us = at_us;
	ev->actor = (char *)(actor != NULL ? actor : "");
	ev->reason = (char *)(reason != NULL ? reason : "");
	ev->source_alert_id = (char *)row->source_alert_id;
}

int router_out_event(struct router *r, const struct alert_row *row, const char *action,
                     int64_t at_us, const char *actor, const char *reason)
{
	Cellthread__V1__AlertEvent ev = CELLTHREAD__V1__ALERT_EVENT__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	char id[CT_DERIVED_ID_MAX];
	router_out_fill_event(row, &ev, &header, id, sizeof(id), r->producer, action, at_us, actor,
	                      reason);
	return router_out_add_pb(r->out, CT_TOPIC_ROOT "/alert/event", &ev.base);
}

static json_t *time_json(int64_t us)
{
	char buf[40];
	if (us <= 0)
		return json_null();
	return json_string(ct_time_format_us(us, buf, sizeof(buf)));
}

static const char *text_or_empty(const char *s)
{
	return s != NULL ? s : "";
}

char *router_out_json(const struct alert_row *row, const char *kind, const char *action,
                      int64_t at_us, const char *actor, const char *reason, const char *delivery_id,
                      const struct route *route)
{
	json_t *o = json_object();
	char *text;

	if (o == NULL)
		return NULL;
	/* The names people read in mosquitto_sub and webhook receivers parse; documented in
	 * services/alert-router/README.md. json_*_new steals the reference. */
	json_object_set_new(o, "delivery_id", json_string(delivery_id));
	json_object_set_new(o, "kind", json_string(kind));
	json_object_set_new(o, "action", json_string(action));
	json_object_set_new(o, "alert_id", json_string(row->alert_id));
	json_object_set_new(o, "occurrence", json_integer(row->occurrence));
	json_object_set_new(o, "state", json_string(alarm_state_name(row->alarm.state)));
	json_object_set_new(o, "severity", json_string(ct_severity_name(row->severity)));
	json_object_set_new(o, "source", json_string(row->source));
	json_object_set_new(o, "code", json_string(row->code));
	json_object_set_new(o, "object_kind", json_string(row->object_kind));
	json_object_set_new(o, "object_id", json_string(row->object_id));
	json_object_set_new(o, "site", json_string(row->site));
	json_object_set_new(o, "line", json_string(row->line));
	json_object_set_new(o, "station", json_string(row->station));
	json_object_set_new(o, "text", json_string(row->text));
	json_object_set_new(o, "count", json_integer(row->count));
	if (row->has_value && row->value == row->value && row->value < 1e308 && row->value > -1e308)
		json_object_set_new(o, "value", json_real(row->value));
	json_object_set_new(o, "chattering", json_boolean(row->alarm.chattering));
	json_object_set_new(o, "raised_at", time_json(row->raised_at_us));
	json_object_set_new(o, "at", time_json(at_us));
	json_object_set_new(o, "actor", json_string(text_or_empty(actor)));
	json_object_set_new(o, "reason", json_string(text_or_empty(reason)));
	json_object_set_new(o, "team", json_string(route->team));
	json_object_set_new(o, "tier", json_integer(route->tier));
	json_object_set_new(o, "subscription", json_string(route->id));
	text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(o);
	return text;
}

int router_out_flood_summary(struct router *r, const char *team, int64_t since_us, int64_t period,
                             long alarms_in_window, int64_t now_us)
{
	struct ct_pg_result *res;
	char err[256], since[24], id[256];
	const char *v[] = {team, since};
	json_t *o, *codes;
	long grouped = 0;
	int rc;

	snprintf(since, sizeof(since), "%lld", (long long)since_us);
	rc = ct_pg_query(r->pg,
	                 /* Alarms, not deliveries: a team may have several subscriptions. */
	                 "SELECT a.code, count(DISTINCT d.alert_id) AS n FROM alert_delivery d"
	                 " JOIN alert a ON a.alert_id = d.alert_id"
	                 " WHERE d.team = $1 AND d.action = 'RAISE' AND d.skipped LIKE 'flood%'"
	                 " AND d.created_at >= to_timestamp($2::bigint / 1000000.0)"
	                 " GROUP BY a.code ORDER BY n DESC, a.code LIMIT 10",
	                 2, v, &res, err, sizeof(err));
	if (rc != CT_OK)
		return rc;
	o = json_object();
	codes = json_array();
	if (o == NULL || codes == NULL) {
		json_decref(o);
		json_decref(codes);
		ct_pg_result_free(res);
		return CT_ERR_NOMEM;
	}
	for (int i = 0; i < ct_pg_result_rows(res); i++) {
		int64_t n = 0;
		json_t *c = json_object();
		ct_pg_int64(res, i, "n", &n);
		grouped += (long)n;
		json_object_set_new(c, "code",
		                    json_string(text_or_empty(ct_pg_text(res, i, "code"))));
		json_object_set_new(c, "count", json_integer(n));
		json_array_append_new(codes, c);
	}
	ct_pg_result_free(res);
	json_object_set_new(o, "kind", json_string(period < 0 ? "flood_end" : "flood_summary"));
	json_object_set_new(o, "team", json_string(team));
	json_object_set_new(o, "flood_since", time_json(since_us));
	json_object_set_new(o, "at", time_json(now_us));
	json_object_set_new(o, "alarms_in_window", json_integer(alarms_in_window));
	json_object_set_new(o, "window_s", json_integer(r->cfg.flood_window_s));
	json_object_set_new(o, "grouped_since_flood_began", json_integer(grouped));
	json_object_set_new(o, "top_codes", codes);

	for (size_t k = 0; k < r->n_routes && rc == CT_OK; k++) {
		const struct route *route = &r->routes[k];
		char *text;
		if (route->tier > 1 || strcmp(route->team, team) != 0)
			continue;
		if (period < 0)
			snprintf(id, sizeof(id), "flood:%s:%lld:end:%s", team, (long long)since_us,
			         route->id);
		else
			snprintf(id, sizeof(id), "flood:%s:%lld:%lld:%s", team, (long long)since_us,
			         (long long)period, route->id);
		json_object_set_new(o, "delivery_id", json_string(id));
		json_object_set_new(o, "subscription", json_string(route->id));
		text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
		if (text == NULL) {
			rc = CT_ERR_NOMEM;
			break;
		}
		rc = router_deliver_raw(r, route, id, period < 0 ? "FLOOD_END" : "FLOOD_SUMMARY",
		                        text, now_us);
		free(text);
	}
	json_decref(o);
	return rc;
}
