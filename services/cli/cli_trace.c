/* cli_trace: `cellthread trace` (traveler's own query code, on PostgreSQL or asked of
 * ct-traveler over MQTT request/response: both print the same) and `cellthread
 * deadletters`. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ct_config.h"
#include "ct_error.h"
#include "ct_mqtt.h"
#include "ct_pb.h"
#include "ct_pg.h"
#include "ct_spool.h"
#include "ct_time.h"
#include "ct_topic.h"
#include "ct_trace.h"

#define MQTT_TIMEOUT_MS 30000

/* A text column for printing: "" for NULL. */
static const char *text_of(struct ct_pg_result *res, int row, const char *col)
{
	const char *v = ct_pg_text(res, row, col);
	return v ? v : "";
}

/* Sends a TraceRequest to traveler and waits for its response. */
static int trace_over_mqtt(const struct cli_config *cfg, Cellthread__V1__TraceDirection direction,
                           const char *id, Cellthread__V1__TraceResponse **ret)
{
	Cellthread__V1__TraceRequest req = CELLTHREAD__V1__TRACE_REQUEST__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	struct cli_mqtt c;
	ProtobufCMessage *reply = NULL;
	char reply_topic[CT_TOPIC_MAX], event_id[40], err[512] = "";
	int rc = cli_mqtt_open(cfg, NULL, &c, err, sizeof(err));

	if (rc == CT_OK) {
		snprintf(reply_topic, sizeof(reply_topic), CT_TOPIC_ROOT "/sys/reply/%s/trace",
		         ct_mqtt_client_id(c.mqtt));
		rc = cli_mqtt_connect(&c, reply_topic, 1, err, sizeof(err));
	}
	if (rc == CT_OK) {
		ct_pb_header_fill(&header, event_id, sizeof(event_id), "cli");
		req.header = &header;
		req.request_id = event_id;
		req.direction = direction;
		req.id = (char *)id;
		req.reply_topic = reply_topic;
		rc = cli_mqtt_call(&c, CT_TOPIC_ROOT "/sys/rpc/traveler/trace", &req.base,
		                   &cellthread__v1__trace_response__descriptor, event_id,
		                   MQTT_TIMEOUT_MS, NULL, &reply, err, sizeof(err));
	}
	if (rc == CT_OK)
		*ret = (Cellthread__V1__TraceResponse *)reply;
	else
		fprintf(stderr, "cellthread: traveler: %s\n", err[0] ? err : "MQTT failure");
	cli_mqtt_close(&c);
	return rc;
}

int cli_trace(const struct cli_config *cfg, int argc, char **argv)
{
	Cellthread__V1__TraceDirection direction;
	Cellthread__V1__TraceResponse *resp = NULL;
	struct ct_trace_limits limits;
	bool json = false, mqtt = false;
	const char *id = NULL;
	int rc;

	if (argc < 2) {
		cli_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[0], "back") == 0)
		direction = CELLTHREAD__V1__TRACE_DIRECTION__TRACE_DIRECTION_BACK;
	else if (strcmp(argv[0], "forward") == 0)
		direction = CELLTHREAD__V1__TRACE_DIRECTION__TRACE_DIRECTION_FORWARD;
	else {
		cli_usage(stderr);
		return EXIT_USAGE;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--mqtt") == 0)
			mqtt = true;
		else if (id == NULL && argv[i][0] != '-')
			id = argv[i];
		else {
			cli_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (id == NULL) {
		cli_usage(stderr);
		return EXIT_USAGE;
	}
	if (mqtt) {
		rc = trace_over_mqtt(cfg, direction, id, &resp);
	} else {
		struct ct_pg *pg = NULL;
		char err[512];
		rc = cli_connect_pg(cfg, &pg);
		if (rc != CT_OK)
			return EXIT_FAILED;
		ct_trace_limits_init(&limits);
		rc = ct_trace_run(pg, direction, id, &limits, &resp, err, sizeof(err));
		if (rc != CT_OK)
			fprintf(stderr, "cellthread: trace failed: %s\n", err);
		ct_pg_free(pg);
	}
	if (rc != CT_OK)
		return EXIT_FAILED;
	if (json) {
		char *text = ct_trace_to_json(resp);
		if (text == NULL) {
			fprintf(stderr, "cellthread: out of memory\n");
			ct_trace_response_free(resp);
			return EXIT_FAILED;
		}
		printf("%s\n", text);
		free(text);
	} else {
		ct_trace_print(resp, stdout);
	}
	rc = resp->ok ? 0 : EXIT_UNKNOWN;
	ct_trace_response_free(resp);
	return rc;
}

int cli_deadletters(const struct cli_config *cfg, int argc, char **argv)
{
	static const char sql[] =
	        "SELECT id, received_at, service, source_topic, reason_code, reason, payload_size"
	        " FROM dead_letter ORDER BY id DESC LIMIT $1::int";
	struct ct_pg *pg = NULL;
	struct ct_pg_result *res = NULL;
	const char *limit = "20";
	bool json = false;
	long parsed;
	int rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc &&
		         ct_parse_long(argv[i + 1], 1, 1000000, &parsed) == CT_OK)
			limit = argv[++i];
		else {
			cli_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (cli_connect_pg(cfg, &pg) != CT_OK)
		return EXIT_FAILED;
	rc = cli_query(pg, sql, 1, &limit, &res);
	ct_pg_free(pg);
	if (rc != 0)
		return EXIT_FAILED;
	if (json) {
		json_t *rows = json_array();
		char *text;
		for (int r = 0; r < ct_pg_result_rows(res); r++) {
			int reason_code = 0, payload_size = 0;
			ct_pg_int(res, r, "reason_code", &reason_code);
			ct_pg_int(res, r, "payload_size", &payload_size);
			json_array_append_new(
			        rows, json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:i}", "id",
			                        text_of(res, r, "id"), "received_at",
			                        text_of(res, r, "received_at"), "service",
			                        text_of(res, r, "service"), "source_topic",
			                        text_of(res, r, "source_topic"), "reason_code",
			                        reason_code, "reason", text_of(res, r, "reason"),
			                        "payload_size", payload_size));
		}
		rc = cli_check(res);
		text = rc == 0 ? json_dumps(rows, JSON_INDENT(2)) : NULL;
		if (rc == 0)
			printf("%s\n", text ? text : "[]");
		free(text);
		json_decref(rows);
	} else {
		for (int r = 0; r < ct_pg_result_rows(res); r++)
			printf("#%s %s %s %s\n    %s (%s bytes)\n", text_of(res, r, "id"),
			       text_of(res, r, "received_at"), text_of(res, r, "service"),
			       text_of(res, r, "source_topic"), text_of(res, r, "reason"),
			       text_of(res, r, "payload_size"));
		rc = cli_check(res);
	}
	ct_pg_result_free(res);
	return rc;
}
