/* cli: what the cellthread command's files share (exit codes, settings, the database).
 *
 * main.c reads the settings and dispatches; cli_trace.c runs trace (on PostgreSQL or over
 * MQTT) and deadletters; cli_quality.c the quality commands (inspect, lot, actions, verdicts,
 * charts) on spc-gate's tables and decision functions; cli_alerts.c and cli_alerts_mqtt.c
 * the alert router's commands; cli_oee.c OEE and the plant metrics; cli_db.c connects and runs
 * statements, printing the database's refusals. */
#ifndef CLI_H
#define CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "ct_mqtt.h"
#include "ct_pb.h"
#include "ct_pg.h"
#include "ct_spool.h"

#define EXIT_FAILED  1 /* database or broker failure, timeout */
#define EXIT_USAGE   2 /* bad command line (also: a missing or empty --reason) */
#define EXIT_UNKNOWN 3 /* the ID asked about is unknown */
#define EXIT_REFUSED 4 /* the database refused a decision (privilege, rule, state) */

/* The CLI's settings, from the environment only (ct_config keys: CT_PG_CONNINFO, ...; the
 * command line is the command). The MQTT keys are the services' own (ct_service.h). */
struct cli_config {
	char *pg_conninfo;
	char *pg_password;
	char *mqtt_url;
	char *mqtt_username;
	char *mqtt_password;
	char *mqtt_ca_file;
	char *mqtt_cert_file;
	char *mqtt_key_file;
	bool mqtt_tls_verify;
	char *log_level;
};

/* Prints the usage of every command to out. */
void cli_usage(FILE *out);

/* Connects with cfg's pg.conninfo / pg.password (or PGPASSFILE), 5 s at most; prints why on
 * failure. Returns CT_OK with *ret set, or CT_ERR_PG / CT_ERR_NOMEM. */
int cli_connect_pg(const struct cli_config *cfg, struct ct_pg **ret);
/* cli_connect_pg with the session's time zone UTC (times print in UTC). Returns 0 with
 * *ret set, or EXIT_FAILED (printed). */
int cli_connect_utc(const struct cli_config *cfg, struct ct_pg **ret);
/* Runs sql with text parameters. On failure prints the database's message (and its detail
 * and hint) and returns EXIT_REFUSED when the database refused on purpose (a missing
 * privilege, a rule of a decision function, a constraint, bad input:
 * CT_PG_ERR_REFUSED), EXIT_FAILED for anything else; *ret is set (free it) only on 0. ret
 * may be NULL when no rows are wanted. */
int cli_query(struct ct_pg *pg, const char *sql, int n, const char *const *params,
              struct ct_pg_result **ret);
/* Connects (UTC), runs one statement, disconnects: as cli_query. */
int cli_run(const struct cli_config *cfg, const char *sql, int n, const char *const *params,
            struct ct_pg_result **ret);
/* 0 when every value read from res parsed, else EXIT_FAILED after printing which did not. */
int cli_check(const struct ct_pg_result *res);

/* ---- cli_mqtt.c: the CLI's MQTT client (requests to services, following a stream) ---- */

/* How long the CLI waits for the broker and for a service's answer. */
#define CLI_MQTT_TIMEOUT_MS 10000

/* A throwaway client: clean session, received messages in a temporary spool. */
struct cli_mqtt {
	struct ct_mqtt *mqtt;
	struct ct_spool *spool;
	struct ct_spool_batch batch;
	char dir[32];
	bool have_dir;
};

/* Creates the client with cfg's broker settings, not yet connected (its client ID is known,
 * so a reply topic can be made). stop_flag (may be NULL) ends its waits. Returns CT_OK, or
 * an error with the reason in err; close c in every case. */
int cli_mqtt_open(const struct cli_config *cfg, volatile sig_atomic_t *stop_flag,
                  struct cli_mqtt *c, char *err, size_t err_len);
/* Subscribes to filter with qos and connects (CLI_MQTT_TIMEOUT_MS). */
int cli_mqtt_connect(struct cli_mqtt *c, const char *filter, int qos, char *err, size_t err_len);
/* Publishes request on topic and waits (timeout_ms, or until *stop_flag) for the message of
 * reply_desc whose request_id field is request_id. Returns CT_OK with *ret (ct_pb_free it),
 * or an error with the reason in err. */
int cli_mqtt_call(struct cli_mqtt *c, const char *topic, const ProtobufCMessage *request,
                  const ProtobufCMessageDescriptor *reply_desc, const char *request_id,
                  int timeout_ms, volatile sig_atomic_t *stop_flag, ProtobufCMessage **ret,
                  char *err, size_t err_len);
/* Disconnects and removes the temporary spool. */
void cli_mqtt_close(struct cli_mqtt *c);

/* The commands; argv starts after the command's name. Each returns an exit code. */
int cli_trace(const struct cli_config *cfg, int argc, char **argv);
int cli_deadletters(const struct cli_config *cfg, int argc, char **argv);
int cli_inspect(const struct cli_config *cfg, int argc, char **argv);
int cli_lot(const struct cli_config *cfg, int argc, char **argv);
int cli_actions(const struct cli_config *cfg, int argc, char **argv);
int cli_verdicts(const struct cli_config *cfg, int argc, char **argv);
/* cellthread charts [--json]: every chart instance, its last point and live capability. */
int cli_charts(const struct cli_config *cfg, int argc, char **argv);
/* cellthread alerts ...: occurrences and KPIs from PostgreSQL (cli_alerts.c); the live
 * stream, actions and subscriptions over MQTT with ct-alert-router (cli_alerts_mqtt.c). */
int cli_alerts(const struct cli_config *cfg, int argc, char **argv);
int cli_alerts_follow(const struct cli_config *cfg, int argc, char **argv);
/* verb: ack, shelve, unshelve, comment, disable or enable; argv starts after it. */
int cli_alerts_action(const struct cli_config *cfg, const char *verb, int argc, char **argv);
int cli_alerts_subs(const struct cli_config *cfg, int argc, char **argv);
/* cli_oee.c: OEE (oee [pareto|changeovers|shifts|ideal]), closed-loop response time,
 * traceability depth and maintainability, through migration 0011's SQL functions. */
int cli_oee(const struct cli_config *cfg, int argc, char **argv);
int cli_response(const struct cli_config *cfg, int argc, char **argv);
int cli_trace_depth(const struct cli_config *cfg, int argc, char **argv);
int cli_maintain(const struct cli_config *cfg, int argc, char **argv);

#endif
