/* alert_it: the alert-router integration tests' shared helpers (alert_it.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alert_it.h"
#include "ct_error.h"
#include "ct_pb.h"
#include "ct_time.h"

#define WAIT HARNESS_WAIT_MS

/* alert_it_routes_env's string, the module's. */
static char routes_env[HARNESS_PATH_MAX + 32];

const char *alert_it_routes_env(const char *path)
{
	snprintf(routes_env, sizeof(routes_env), "CT_ROUTER_ROUTES_FILE=%s", path);
	return routes_env;
}

const char *alert_it_write_routes(struct harness *h, const char *text)
{
	char path[HARNESS_PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/routes.conf", h->dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	return alert_it_routes_env(path);
}

long long alert_it_count(struct harness *h, const char *sql, int n, const char *const *params)
{
	long long v = -1;

	assert_int_equal(harness_sql_long(h, sql, n, params, &v), CT_OK);
	return v;
}

void alert_it_dump_outbox(struct harness *h, const char *sub)
{
	PGresult *res = NULL;
	const char *p[] = {sub};

	if (harness_sql(h,
	                "SELECT delivery_id, subscription_id, team, action, channel, attempts,"
	                " not_before, next_attempt_at, delivered_at, gave_up_at, skipped,"
	                " last_error FROM alert_delivery"
	                " WHERE $1::text IS NULL OR subscription_id = $1 ORDER BY delivery_seq",
	                1, p, &res) != CT_OK)
		return;
	for (int i = 0; i < PQntuples(res); i++) {
		for (int j = 0; j < PQnfields(res); j++)
			printf("%s%s", j ? " | " : "outbox: ", PQgetvalue(res, i, j));
		printf("\n");
	}
	PQclear(res);
}

void alert_it_wait_count(struct harness *h, const char *sql, int n, const char *const *params,
                         long long expected)
{
	if (harness_wait_sql_countv(h, sql, n, params, expected, WAIT) != CT_OK) {
		alert_it_dump_outbox(h, NULL);
		fail_msg("waited for %lld from: %s (last %lld)", expected, sql,
		         alert_it_count(h, sql, n, params));
	}
}

void alert_it_header(Cellthread__V1__Header *hdr, const char *event_id, const char *producer)
{
	hdr->event_id = (char *)event_id;
	hdr->producer = (char *)producer;
	hdr->produced_at_us = ct_now_us();
	hdr->schema_version = 1;
}

void alert_it_send(struct ct_mqtt *pub, const char *topic, const ProtobufCMessage *m)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_int_equal(ct_pb_pack(m, &buf, &len), CT_OK);
	assert_int_equal(ct_mqtt_publish(pub, topic, buf, len, 1, false, WAIT), CT_OK);
	free(buf);
}

/* s, or def when s is NULL, as the char * protobuf-c's structs hold (never written). */
static char *or_default(const char *s, const char *def)
{
	return (char *)(s != NULL ? s : def);
}

void alert_it_publish(struct ct_mqtt *pub, const struct alert_it_alert *in)
{
	Cellthread__V1__Alert a = CELLTHREAD__V1__ALERT__INIT;
	Cellthread__V1__Header hdr = CELLTHREAD__V1__HEADER__INIT;
	char topic[160];

	assert_non_null(in->event_id);
	assert_non_null(in->station);
	alert_it_header(&hdr, in->event_id, "spc-gate-it");
	a.header = &hdr;
	a.alert_id = (char *)in->event_id;
	a.severity = in->severity != 0 ? in->severity : CELLTHREAD__V1__SEVERITY__SEVERITY_HIGH;
	a.state = in->state != 0 ? in->state : ALERT_IT_ACTIVE;
	a.site = or_default(in->site, "AR");
	a.line = or_default(in->line, "L1");
	a.station = (char *)in->station;
	a.source = or_default(in->source, "spc-gate");
	a.code = or_default(in->code, "");
	a.text = or_default(in->text, "test alert");
	a.raised_at_us = ct_now_us();
	a.value = in->value;
	a.object_kind = or_default(in->object_kind, "");
	a.object_id = or_default(in->object_id, "");
	a.n_tags = in->tags != NULL ? in->n_tags : 0;
	a.tags = (char **)in->tags;
	snprintf(topic, sizeof(topic), "ct/v1/plant/%s/%s/%s/alert", a.site, a.line, a.station);
	alert_it_send(pub, topic, &a.base);
}

void alert_it_publish_command(struct ct_mqtt *pub, const char *event_id, const char *station,
                              bool stop)
{
	Cellthread__V1__StationCommand c = CELLTHREAD__V1__STATION_COMMAND__INIT;
	Cellthread__V1__Header hdr = CELLTHREAD__V1__HEADER__INIT;
	char topic[160];

	alert_it_header(&hdr, event_id, "spc-gate-it");
	c.header = &hdr;
	c.site = (char *)"AR";
	c.line = (char *)"L1";
	c.station = (char *)station;
	c.kind = stop ? CELLTHREAD__V1__COMMAND_KIND__COMMAND_KIND_STOP
	              : CELLTHREAD__V1__COMMAND_KIND__COMMAND_KIND_RESUME;
	c.reason_code = (char *)"IT";
	snprintf(topic, sizeof(topic), "ct/v1/plant/AR/L1/%s/command", station);
	alert_it_send(pub, topic, &c.base);
}

Cellthread__V1__AlertReply *alert_it_act(struct ct_mqtt *cli, struct harness_sub *replies,
                                         const char *alert_id, Cellthread__V1__AlarmAction action,
                                         const char *reason, int64_t shelve_until_us)
{
	Cellthread__V1__AlertAction a = CELLTHREAD__V1__ALERT_ACTION__INIT;
	Cellthread__V1__Header hdr = CELLTHREAD__V1__HEADER__INIT;
	char event_id[48], request_id[32], reply_topic[160];
	static unsigned seq; /* request numbers, unique within the test program */

	snprintf(event_id, sizeof(event_id), "act-it-%d-%u", (int)getpid(), ++seq);
	snprintf(request_id, sizeof(request_id), "r%u", seq);
	snprintf(reply_topic, sizeof(reply_topic), "ct/v1/sys/reply/%s/alerts/%s",
	         harness_sub_client_id(replies), request_id);
	alert_it_header(&hdr, event_id, "cli-it");
	a.header = &hdr;
	a.request_id = request_id;
	a.alert_id = (char *)alert_id;
	a.action = action;
	a.actor = (char *)"Ana Operator";
	a.reason = (char *)reason;
	a.shelve_until_us = shelve_until_us;
	a.reply_topic = reply_topic;
	alert_it_send(cli, "ct/v1/sys/rpc/alert-router/cli/action", &a.base);
	for (;;) {
		const char *topic;
		const uint8_t *payload;
		size_t len;
		Cellthread__V1__AlertReply *rep;

		assert_int_equal(harness_sub_next(replies, WAIT, &topic, &payload, &len), CT_OK);
		rep = cellthread__v1__alert_reply__unpack(NULL, len, payload);
		assert_non_null(rep);
		if (strcmp(rep->request_id, request_id) == 0)
			return rep;
		cellthread__v1__alert_reply__free_unpacked(rep, NULL);
	}
}

void alert_it_act_ok(struct ct_mqtt *cli, struct harness_sub *replies, const char *alert_id,
                     Cellthread__V1__AlarmAction action, const char *reason)
{
	Cellthread__V1__AlertReply *rep = alert_it_act(cli, replies, alert_id, action, reason, 0);

	if (!rep->ok) {
		const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
		        &cellthread__v1__alarm_action__descriptor, (int)action);
		fail_msg("%s of %s refused: %s", v != NULL ? v->name : "action", alert_id,
		         rep->error);
	}
	cellthread__v1__alert_reply__free_unpacked(rep, NULL);
}

json_t *alert_it_next_json(struct harness_sub *sub)
{
	const char *topic;
	const uint8_t *payload;
	size_t len;
	json_error_t jerr;
	json_t *o;

	if (harness_sub_next(sub, WAIT, &topic, &payload, &len) != CT_OK)
		fail_msg("no message on the team topic");
	o = json_loadb((const char *)payload, len, 0, &jerr);
	if (o == NULL)
		fail_msg("team topic %s: not JSON: %s", topic, jerr.text);
	return o;
}

const char *alert_it_jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

void alert_it_expect(json_t *o, const char *kind, const char *action, const char *code)
{
	if ((kind != NULL && strcmp(alert_it_jstr(o, "kind"), kind) != 0) ||
	    strcmp(alert_it_jstr(o, "action"), action) != 0 ||
	    (code != NULL && strcmp(alert_it_jstr(o, "code"), code) != 0)) {
		char *text = json_dumps(o, JSON_COMPACT);
		fail_msg("team topic: %s, expected kind %s action %s code %s", text,
		         kind != NULL ? kind : "(any)", action, code != NULL ? code : "(any)");
	}
}

json_t *alert_it_next_team(struct harness_sub *sub, const char *kind, const char *action,
                           const char *code)
{
	json_t *o = alert_it_next_json(sub);

	alert_it_expect(o, kind, action, code);
	return o;
}

json_t *alert_it_next_of(struct harness_sub *sub, const char *code, const char *object_id,
                         const char *kind, const char *action)
{
	for (;;) {
		json_t *o = alert_it_next_json(sub);
		if (strcmp(alert_it_jstr(o, "code"), code) == 0 &&
		    (object_id == NULL || strcmp(alert_it_jstr(o, "object_id"), object_id) == 0)) {
			alert_it_expect(o, kind, action, code);
			return o;
		}
		json_decref(o);
	}
}
