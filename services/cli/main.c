/* cellthread: the command-line tool for engineers on the digital thread.
 *
 *   cellthread trace back ID [--json] [--mqtt]     a unit's ancestors, lots, history, verdicts
 *   cellthread trace forward ID [--json] [--mqtt]  every unit that contains ID
 *   cellthread deadletters [--limit N] [--json]    refused input, newest first
 *   cellthread inspect|lot|actions|verdicts|charts the quality gate (cli_quality.c)
 *   cellthread alerts ...                          the alert router (cli_alerts*.c)
 *   cellthread oee|response|trace-depth|maintain   OEE and the plant metrics (cli_oee.c)
 *
 * Reads PostgreSQL directly (pg.conninfo, pg.password; a read-only role is enough), or with
 * --mqtt asks traveler over MQTT request/response (the services' mqtt.* keys, TLS included).
 * Settings come from the environment through ct_config (CT_PG_CONNINFO, CT_MQTT_URL, ...):
 * the command line is the command. Exit codes (cli.h): 0 found, 1 failure (database, broker,
 * timeout), 2 usage or configuration, 3 unknown ID, 4 a decision refused by the database. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ct_config.h"
#include "ct_error.h"
#include "ct_log.h"

extern char **environ;

#define KEY(name, type, field, def, help)                                                          \
	{                                                                                          \
		name, type, offsetof(struct cli_config, field), def, 0, 0, help                    \
	}

static const struct ct_config_key cli_keys[] = {
        KEY("pg.conninfo", CT_CONF_STRING, pg_conninfo, "dbname=cellthread",
            "libpq connection string (without the password)"),
        KEY("pg.password", CT_CONF_SECRET, pg_password, NULL,
            "PostgreSQL password (or use PGPASSFILE)"),
        KEY("mqtt.url", CT_CONF_STRING, mqtt_url, "tcp://127.0.0.1:1883",
            "broker (ssl://host:8883 for TLS), for --mqtt"),
        KEY("mqtt.username", CT_CONF_STRING, mqtt_username, NULL, "MQTT login"),
        KEY("mqtt.password", CT_CONF_SECRET, mqtt_password, NULL, "MQTT password"),
        KEY("mqtt.ca_file", CT_CONF_STRING, mqtt_ca_file, NULL, "TLS: CA to verify the broker"),
        KEY("mqtt.cert_file", CT_CONF_STRING, mqtt_cert_file, NULL, "TLS: client certificate"),
        KEY("mqtt.key_file", CT_CONF_STRING, mqtt_key_file, NULL, "TLS: client key"),
        KEY("mqtt.tls_verify", CT_CONF_BOOL, mqtt_tls_verify, "true",
            "TLS: verify the broker's certificate and host name"),
        KEY("log.level", CT_CONF_STRING, log_level, "warn", "error, warn, info or debug"),
};

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
	        "       cellthread alerts [list] [--all] [--site S] [--line L] [--station ST]\n"
	        "                         [--severity MIN] [--code GLOB] [--state STATE]\n"
	        "                         [--limit N] [--json]\n"
	        "       cellthread alerts show ALERT_ID [--json]\n"
	        "       cellthread alerts follow [--team T]\n"
	        "       cellthread alerts ack|shelve|unshelve|comment|disable|enable ALERT_ID"
	        " --reason TEXT\n"
	        "                         [--until DURATION (shelve: 30m, 2h; none: one-shot)]"
	        " [--as NAME]\n"
	        "       cellthread alerts subs [list | add KEY=VALUE... | remove ID]\n"
	        "       cellthread alerts kpi [--json]\n"
	        "       cellthread oee [pareto|changeovers] [--site S] [--line L] [--station ST]\n"
	        "                      [--shift YYYY-MM-DD/NAME | --from T --to T] [--json]\n"
	        "       cellthread oee shifts [--site S] [--line L] [--from T --to T] [--json]\n"
	        "       cellthread oee ideal SITE LINE STATION RECIPE SECONDS   ('*': any)\n"
	        "       cellthread response [--site S] [--line L] [--station ST] [--from T --to T]"
	        " [--json]\n"
	        "       cellthread trace-depth UNIT_ID [--json]\n"
	        "       cellthread trace-depth --site S --line L [--kind cell|module|pack]"
	        " [--from T --to T] [--json]\n"
	        "       cellthread maintain [--site S] [--line L] [--from T --to T] [--json]\n"
	        "env: CT_PG_CONNINFO, CT_PG_PASSWORD (or PGPASSFILE); with --mqtt: "
	        "CT_MQTT_URL, CT_MQTT_USERNAME, CT_MQTT_PASSWORD\n"
	        "     (TLS: CT_MQTT_CA_FILE, CT_MQTT_CERT_FILE, CT_MQTT_KEY_FILE, "
	        "CT_MQTT_TLS_VERIFY); CT_LOG_LEVEL\n");
}

/* An empty variable means the default, as unset does (CT_PG_CONNINFO= in an env file). */
static void default_if_empty(char **value, const char *fallback)
{
	if (*value != NULL && **value == '\0') {
		char *copy = strdup(fallback);
		if (copy != NULL) {
			free(*value);
			*value = copy;
		}
	}
}

static const struct {
	const char *name;
	int (*run)(const struct cli_config *cfg, int argc, char **argv);
} commands[] = {
        {"trace", cli_trace},       {"deadletters", cli_deadletters}, {"inspect", cli_inspect},
        {"lot", cli_lot},           {"actions", cli_actions},         {"verdicts", cli_verdicts},
        {"charts", cli_charts},     {"alerts", cli_alerts},           {"oee", cli_oee},
        {"response", cli_response}, {"trace-depth", cli_trace_depth}, {"maintain", cli_maintain},
};

int main(int argc, char **argv)
{
	struct cli_config cfg = {0};
	struct ct_config_table table = {cli_keys, sizeof(cli_keys) / sizeof(cli_keys[0]), &cfg};
	struct ct_config_source source = {.envp = environ, .no_file = true};
	char err[512];
	int level;
	int rc = -1;

	ct_log_set_service("cellthread");
	ct_log_level = CT_LOG_WARN;
	if (ct_config_load_from(&table, 1, &source, err, sizeof(err)) != CT_OK) {
		fprintf(stderr, "cellthread: %s\n", err);
		ct_config_cleanup(&table, 1);
		return EXIT_USAGE;
	}
	default_if_empty(&cfg.pg_conninfo, "dbname=cellthread");
	default_if_empty(&cfg.mqtt_url, "tcp://127.0.0.1:1883");
	/* A level the CLI does not know keeps it quiet (warn), as before. */
	if (cfg.log_level != NULL && ct_log_parse_level(cfg.log_level, &level) == CT_OK)
		ct_log_level = level;

	for (size_t i = 0; argc >= 2 && i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			rc = commands[i].run(&cfg, argc - 2, argv + 2);
	if (rc < 0 && argc >= 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)) {
		cli_usage(stdout);
		rc = 0;
	}
	if (rc < 0) {
		cli_usage(stderr);
		rc = EXIT_USAGE;
	}
	ct_config_cleanup(&table, 1);
	return rc;
}
