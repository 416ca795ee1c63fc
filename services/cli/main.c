/* cellthread: the command-line tool for engineers on the digital thread.
 *
 *   cellthread trace back ID [--json] [--mqtt]     a unit's ancestors, lots, history, verdicts
 *   cellthread trace forward ID [--json] [--mqtt]  every unit that contains ID
 *   cellthread deadletters [--limit N] [--json]    refused input, newest first
 *   cellthread inspect|lot|actions|verdicts|charts the quality gate (cli_quality.c)
 *
 * Reads PostgreSQL directly (CT_PG_CONNINFO, CT_PG_PASSWORD; a read-only role is enough),
 * or with --mqtt asks traveler over MQTT request/response (CT_MQTT_URL, CT_MQTT_USERNAME,
 * CT_MQTT_PASSWORD). Both paths print the same output: the query code is traveler's own.
 * Exit codes (cli.h): 0 found, 1 failure (database, broker, timeout), 2 usage, 3 unknown ID,
 * 4 a decision refused by the database. */
#include <dirent.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ct_config.h"
#include "ct_error.h"
#include "ct_ids.h"
#include "ct_log.h"
#include "ct_mqtt.h"
#include "ct_pb.h"
#include "ct_pg.h"
#include "ct_spool.h"
#include "ct_time.h"
#include "ct_topic.h"
#include "cli.h"
#include "traveler_trace.h"

#define MQTT_TIMEOUT_MS 30000

void cli_usage(FILE *out)
{
	fprintf(out,
	        "usage: cellthread trace back|forward ID [--json] [--mqtt]\n"
	        "       cellthread deadletters [--limit N] [--json]\n"
	        "       cellthread inspect [--all] [--json]\n"
	        "       cellthread inspect dispose ITEM_ID release|rework|scrap --reason TEXT\n"
	        "       cellthread lot list [--all] [--json]\n"
	        "       cellthread lot show SITE LOT [--json]\n"
	        "       cellthread lot hold SITE LOT --reason TEXT [--quarantine]\n"
	        "       cellthread lot release SITE LOT --reason TEXT\n"
	        "       cellthread actions [--limit N] [--json]\n"
	        "       cellthread actions undo COMMAND_ID --reason TEXT\n"
	        "       cellthread verdicts UNIT_ID [--json]\n"
	        "       cellthread charts [--json]\n"
	        "env: CT_PG_CONNINFO, CT_PG_PASSWORD (or PGPASSFILE); with --mqtt: "
	        "CT_MQTT_URL, CT_MQTT_USERNAME, CT_MQTT_PASSWORD\n");
}

const char *cli_env_or(const char *name, const char *fallback)
{
	const char *value = getenv(name);
	return value && *value ? value : fallback;
}

int cli_connect_pg(struct ct_pg **ret)
{
	char err[512];
	struct ct_pg *pg = ct_pg_new(cli_env_or("CT_PG_CONNINFO", "dbname=cellthread"),
	                             getenv("CT_PG_PASSWORD"));
	if (pg == NULL)
		return CT_ERR_NOMEM;
	if (ct_pg_ensure(pg, 5000, NULL, err, sizeof(err)) != CT_OK) {
		fprintf(stderr, "cellthread: %s", err);
		ct_pg_free(pg);
		return CT_ERR_PG;
	}
	*ret = pg;
	return CT_OK;
}

/* Removes the temporary spool directory of an MQTT query. */
static void remove_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char file[4096];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
		unlink(file);
	}
	closedir(d);
	rmdir(path);
}

/* Sends a TraceRequest to traveler and waits for its response. */
static int trace_over_mqtt(Cellthread__V1__TraceDirection direction, const char *id,
                           Cellthread__V1__TraceResponse **ret)
{
	Cellthread__V1__TraceRequest req = CELLTHREAD__V1__TRACE_REQUEST__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	struct ct_mqtt_options options;
	struct ct_spool_batch batch;
	struct ct_spool *spool = NULL;
	struct ct_mqtt *mqtt = NULL;
	char dir[] = "/tmp/cellthread-cli-XXXXXX";
	char instance[32], reply_topic[CT_TOPIC_MAX], event_id[40], err[512];
	uint8_t *buf = NULL;
	size_t len = 0;
	int64_t deadline = ct_mono_ms() + MQTT_TIMEOUT_MS;
	int rc = CT_ERR_TIMEOUT;

	memset(&batch, 0, sizeof(batch));
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "cellthread: cannot create a temporary directory\n");
		return CT_ERR_IO;
	}
	spool = ct_spool_open(dir, 1 << 20, false, err, sizeof(err));
	if (spool == NULL)
		goto fail;
	snprintf(instance, sizeof(instance), "%ld", (long)getpid());
	memset(&options, 0, sizeof(options));
	options.url = cli_env_or("CT_MQTT_URL", "tcp://127.0.0.1:1883");
	options.service = "cli";
	options.instance = instance;
	options.username = getenv("CT_MQTT_USERNAME");
	options.password = getenv("CT_MQTT_PASSWORD");
	options.ca_file = getenv("CT_MQTT_CA_FILE");
	options.tls_verify = true;
	options.clean_session = true;
	options.max_inflight = 16;
	options.spool = spool;
	mqtt = ct_mqtt_new(&options, err, sizeof(err));
	if (mqtt == NULL)
		goto fail;
	snprintf(reply_topic, sizeof(reply_topic), CT_TOPIC_ROOT "/sys/reply/%s/trace",
	         ct_mqtt_client_id(mqtt));
	if (ct_mqtt_add_subscription(mqtt, reply_topic, 1) != CT_OK ||
	    ct_mqtt_connect(mqtt, 10000, err, sizeof(err)) != CT_OK)
		goto fail;
	ct_pb_header_fill(&header, event_id, sizeof(event_id), "cli");
	req.header = &header;
	req.request_id = event_id;
	req.direction = direction;
	req.id = (char *)id;
	req.reply_topic = reply_topic;
	if (ct_pb_pack(&req.base, &buf, &len) != CT_OK ||
	    ct_mqtt_publish(mqtt, CT_TOPIC_ROOT "/sys/rpc/traveler/trace", buf, len, 1, false,
	                    10000) != CT_OK) {
		snprintf(err, sizeof(err), "cannot send the request");
		goto fail;
	}
	while (ct_mono_ms() < deadline) {
		if (ct_spool_read(spool, 16, 1 << 20, 500, &batch) != CT_OK)
			break;
		for (size_t i = 0; i < batch.count; i++) {
			ProtobufCMessage *msg = NULL;
			Cellthread__V1__TraceResponse *resp;
			if (ct_pb_unpack(&cellthread__v1__trace_response__descriptor,
			                 batch.records[i].payload, batch.records[i].payload_len,
			                 64u << 20, &msg) != CT_OK)
				continue;
			resp = (Cellthread__V1__TraceResponse *)msg;
			if (strcmp(resp->request_id, event_id) == 0) {
				*ret = resp;
				rc = CT_OK;
				goto out;
			}
			ct_pb_free(msg);
		}
		ct_spool_commit(spool, &batch);
	}
	snprintf(err, sizeof(err), "no answer from traveler within %d s", MQTT_TIMEOUT_MS / 1000);
fail:
	fprintf(stderr, "cellthread: %s\n", err);
	rc = rc == CT_OK ? CT_ERR_MQTT : rc;
out:
	free(buf);
	ct_spool_batch_cleanup(&batch);
	ct_mqtt_free(mqtt);
	ct_spool_free(spool);
	remove_dir(dir);
	return rc;
}

static int cmd_trace(int argc, char **argv)
{
	Cellthread__V1__TraceDirection direction;
	Cellthread__V1__TraceResponse *resp = NULL;
	struct traveler_trace_limits limits;
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
		rc = trace_over_mqtt(direction, id, &resp);
	} else {
		struct ct_pg *pg = NULL;
		char err[512];
		rc = cli_connect_pg(&pg);
		if (rc != CT_OK)
			return EXIT_FAILED;
		traveler_trace_limits_init(&limits);
		rc = traveler_trace_run(pg, direction, id, &limits, &resp, err, sizeof(err));
		if (rc != CT_OK)
			fprintf(stderr, "cellthread: trace failed: %s\n", err);
		ct_pg_free(pg);
	}
	if (rc != CT_OK)
		return EXIT_FAILED;
	if (json) {
		char *text = traveler_trace_to_json(resp);
		if (text == NULL) {
			fprintf(stderr, "cellthread: out of memory\n");
			traveler_trace_response_free(resp);
			return EXIT_FAILED;
		}
		printf("%s\n", text);
		free(text);
	} else {
		traveler_trace_print(resp, stdout);
	}
	rc = resp->ok ? 0 : EXIT_UNKNOWN;
	traveler_trace_response_free(resp);
	return rc;
}

static int cmd_deadletters(int argc, char **argv)
{
	static const char sql[] =
	        "SELECT id, received_at, service, source_topic, reason_code, reason, payload_size"
	        " FROM dead_letter ORDER BY id DESC LIMIT $1::int";
	struct ct_pg *pg = NULL;
	PGresult *res = NULL;
	const char *limit = "20";
	bool json = false;
	char err[512];
	long parsed;

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
	if (cli_connect_pg(&pg) != CT_OK)
		return EXIT_FAILED;
	if (ct_pg_query(pg, sql, 1, &limit, &res, err, sizeof(err)) != CT_OK) {
		fprintf(stderr, "cellthread: %s", err);
		ct_pg_free(pg);
		return EXIT_FAILED;
	}
	if (json) {
		json_t *rows = json_array();
		char *text;
		for (int r = 0; r < PQntuples(res); r++)
			json_array_append_new(rows,
			                      json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:i}", "id",
			                                PQgetvalue(res, r, 0), "received_at",
			                                PQgetvalue(res, r, 1), "service",
			                                PQgetvalue(res, r, 2), "source_topic",
			                                PQgetvalue(res, r, 3), "reason_code",
			                                atoi(PQgetvalue(res, r, 4)), "reason",
			                                PQgetvalue(res, r, 5), "payload_size",
			                                atoi(PQgetvalue(res, r, 6))));
		text = json_dumps(rows, JSON_INDENT(2));
		printf("%s\n", text ? text : "[]");
		free(text);
		json_decref(rows);
	} else {
		for (int r = 0; r < PQntuples(res); r++)
			printf("#%s %s %s %s\n    %s (%s bytes)\n", PQgetvalue(res, r, 0),
			       PQgetvalue(res, r, 1), PQgetvalue(res, r, 2), PQgetvalue(res, r, 3),
			       PQgetvalue(res, r, 5), PQgetvalue(res, r, 6));
	}
	PQclear(res);
	ct_pg_free(pg);
	return 0;
}

int main(int argc, char **argv)
{
	int level;

	ct_log_set_service("cellthread");
	ct_log_level = CT_LOG_WARN;
	if (ct_log_parse_level(cli_env_or("CT_LOG_LEVEL", "warn"), &level) == CT_OK)
		ct_log_level = level;
	if (argc >= 2 && strcmp(argv[1], "trace") == 0)
		return cmd_trace(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "deadletters") == 0)
		return cmd_deadletters(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "inspect") == 0)
		return cli_inspect(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "lot") == 0)
		return cli_lot(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "actions") == 0)
		return cli_actions(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "verdicts") == 0)
		return cli_verdicts(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "charts") == 0)
		return cli_charts(argc - 2, argv + 2);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)) {
		cli_usage(stdout);
		return 0;
	}
	cli_usage(stderr);
	return EXIT_USAGE;
}
