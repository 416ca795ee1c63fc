/* cli_alerts_mqtt: the `cellthread alerts` subcommands that talk to ct-alert-router over
 * MQTT (proto/cellthread/v1/alert.proto), with the CLI's broker settings as `trace --mqtt`:
 *
 *   follow [--team T]   the live stream until SIGINT: the team's JSON topic
 *                       ct/v1/alert/team/{T} printed as received, else every AlertEvent on
 *                       ct/v1/alert/event one line each; QoS 0 (the broker queues nothing for
 *                       clients that are not services, and a follower wants now, not a
 *                       backlog)
 *   ack|shelve|unshelve|comment|disable|enable ALERT_ID --reason TEXT [--until D] [--as NAME]
 *                       an AlertAction to ct/v1/sys/rpc/alert-router/{mqtt user}/action
 *   subs [list|add KEY=VALUE...|remove ID]
 *                       an AlertSubscriptionRequest to .../{mqtt user}/subscription
 *
 * Requests name a reply topic ct/v1/sys/reply/{client ID}/alerts/{request ID} (the client
 * subscribes to it before sending) and wait 10 s for the router's AlertReply with the same
 * request ID. The router records the credential (the topic level the broker's ACL checks)
 * beside the actor the person names (--as, else the login name). */
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cellthread/v1/alert.pb-c.h"
#include "cli.h"
#include "ct_error.h"
#include "ct_mqtt.h"
#include "ct_pb.h"
#include "ct_spool.h"
#include "ct_time.h"
#include "ct_topic.h"

#define MAX_PAYLOAD (16u << 20)

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* The request topic level: the broker lets a credential write only its own. */
static int require_mqtt_user(const struct cli_config *cfg)
{
	if (cfg->mqtt_username != NULL && cfg->mqtt_username[0] != '\0' &&
	    strpbrk(cfg->mqtt_username, "/+#") == NULL)
		return 0;
	fprintf(stderr, "cellthread: CT_MQTT_USERNAME must name the broker login (the router's "
	                "request topic carries it)\n");
	return EXIT_USAGE;
}

/* Sends msg (whose reply_topic field is *reply_field, set here) to
 * ct/v1/sys/rpc/alert-router/{mqtt user}/{kind} and waits for the AlertReply to request_id.
 * Returns 0 with *ret set (ct_pb_free it), or an exit code (printed). */
static int rpc(const struct cli_config *cfg, const char *kind, ProtobufCMessage *msg,
               char **reply_field, const char *request_id, Cellthread__V1__AlertReply **ret)
{
	struct cli_mqtt c;
	ProtobufCMessage *reply = NULL;
	char reply_topic[CT_TOPIC_MAX], topic[CT_TOPIC_MAX], err[512] = "";
	int rc = cli_mqtt_open(cfg, &stop_requested, &c, err, sizeof(err));

	if (rc == CT_OK) {
		snprintf(reply_topic, sizeof(reply_topic), CT_TOPIC_ROOT "/sys/reply/%s/alerts/%s",
		         ct_mqtt_client_id(c.mqtt), request_id);
		snprintf(topic, sizeof(topic), CT_TOPIC_ROOT "/sys/rpc/alert-router/%s/%s",
		         cfg->mqtt_username, kind);
		*reply_field = reply_topic;
		rc = cli_mqtt_connect(&c, reply_topic, 1, err, sizeof(err));
	}
	if (rc == CT_OK)
		rc = cli_mqtt_call(&c, topic, msg, &cellthread__v1__alert_reply__descriptor,
		                   request_id, CLI_MQTT_TIMEOUT_MS, &stop_requested, &reply, err,
		                   sizeof(err));
	*reply_field = NULL;
	if (rc == CT_OK)
		*ret = (Cellthread__V1__AlertReply *)reply;
	else
		fprintf(stderr, "cellthread: alert-router: %s\n", err[0] ? err : "MQTT failure");
	cli_mqtt_close(&c);
	return rc == CT_OK ? 0 : EXIT_FAILED;
}

/* The person acting: --as, else the login name, else the broker user. */
static const char *default_actor(const struct cli_config *cfg)
{
	const struct passwd *pw = getpwuid(geteuid());

	return pw != NULL && pw->pw_name != NULL ? pw->pw_name : cfg->mqtt_username;
}

static const char *state_name(Cellthread__V1__AlarmState s)
{
	switch (s) {
	case CELLTHREAD__V1__ALARM_STATE__ALARM_STATE_NORMAL:
		return "NORMAL";
	case CELLTHREAD__V1__ALARM_STATE__ALARM_STATE_ACTIVE_UNACK:
		return "ACTIVE_UNACK";
	case CELLTHREAD__V1__ALARM_STATE__ALARM_STATE_ACTIVE_ACK:
		return "ACTIVE_ACK";
	case CELLTHREAD__V1__ALARM_STATE__ALARM_STATE_CLEARED_UNACK:
		return "CLEARED_UNACK";
	default:
		return "UNSPECIFIED";
	}
}

static const char *severity_name(int s)
{
	static const char *const names[] = {"-", "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"};

	return s >= 0 && s <= 5 ? names[s] : "?";
}

/* One AlertEvent in one line. */
static void print_event(const Cellthread__V1__AlertEvent *e)
{
	char at[40];

	printf("%s %-19s %-13s %-8s %s %s %s/%s %s", ct_time_format_us(e->at_us, at, sizeof(at)),
	       e->action, state_name(e->state), severity_name((int)e->severity), e->source, e->code,
	       e->object_kind, e->object_id, e->alert_id);
	if (e->count > 1)
		printf(" x%u", e->count);
	if (e->shelved[0] != '\0')
		printf(" SHELVED %s", e->shelved);
	if (e->suppressed)
		printf(" SUPPRESSED");
	if (e->out_of_service)
		printf(" OUT-OF-SERVICE");
	if (e->chattering)
		printf(" CHATTERING");
	if (e->actor[0] != '\0')
		printf(" by %s", e->actor);
	if (e->reason[0] != '\0')
		printf(" (%s)", e->reason);
	if (e->text[0] != '\0')
		printf(": %s", e->text);
	printf("\n");
}

/* ---- follow ---------------------------------------------------------------------------- */

int cli_alerts_follow(const struct cli_config *cfg, int argc, char **argv)
{
	struct sigaction sa;
	struct cli_mqtt c;
	char filter[CT_TOPIC_MAX], err[512] = "";
	const char *team = NULL;
	int rc = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--team") == 0 && i + 1 < argc && team == NULL)
			team = argv[++i];
		else if (strncmp(argv[i], "--team=", 7) == 0 && team == NULL)
			team = argv[i] + 7;
		else {
			cli_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (team != NULL && (team[0] == '\0' || strpbrk(team, "/+#") != NULL)) {
		fprintf(stderr, "cellthread: --team names one team (no /, + or #)\n");
		return EXIT_USAGE;
	}
	if (team != NULL)
		snprintf(filter, sizeof(filter), CT_TOPIC_ROOT "/alert/team/%s", team);
	else
		snprintf(filter, sizeof(filter), CT_TOPIC_ROOT "/alert/event");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (cli_mqtt_open(cfg, &stop_requested, &c, err, sizeof(err)) != CT_OK ||
	    cli_mqtt_connect(&c, filter, 0, err, sizeof(err)) != CT_OK) {
		fprintf(stderr, "cellthread: %s\n", err);
		cli_mqtt_close(&c);
		return stop_requested ? 0 : EXIT_FAILED;
	}
	fprintf(stderr, "cellthread: following %s (Ctrl-C stops)\n", filter);
	while (!stop_requested) {
		if (ct_spool_read(c.spool, 64, MAX_PAYLOAD, 250, &c.batch) != CT_OK) {
			fprintf(stderr, "cellthread: cannot read the stream\n");
			rc = EXIT_FAILED;
			break;
		}
		for (size_t i = 0; i < c.batch.count; i++) {
			const struct ct_spool_record *r = &c.batch.records[i];
			ProtobufCMessage *m = NULL;
			if (team != NULL) {
				/* The team topic carries JSON (one object a message). */
				fwrite(r->payload, 1, r->payload_len, stdout);
				fputc('\n', stdout);
			} else if (ct_pb_unpack(&cellthread__v1__alert_event__descriptor,
			                        r->payload, r->payload_len, MAX_PAYLOAD,
			                        &m) == CT_OK) {
				print_event((const Cellthread__V1__AlertEvent *)m);
				ct_pb_free(m);
			} else {
				fprintf(stderr, "cellthread: not an AlertEvent on %s (%zu bytes)\n",
				        r->topic, r->payload_len);
			}
		}
		fflush(stdout);
		if (c.batch.count > 0 && ct_spool_commit(c.spool, &c.batch) != CT_OK) {
			fprintf(stderr, "cellthread: cannot commit the stream's spool\n");
			rc = EXIT_FAILED;
			break;
		}
	}
	cli_mqtt_close(&c);
	return rc;
}

/* ---- actions --------------------------------------------------------------------------- */

/* "30m", "2h", "90s", "1d", "1h30m" into seconds (1 s .. 7 days). */
static int parse_duration(const char *text, int64_t *ret_s)
{
	int64_t total = 0;
	const char *p = text;

	if (*p == '\0')
		return CT_ERR_INVALID;
	while (*p != '\0') {
		int64_t n = 0, unit;
		if (*p < '0' || *p > '9')
			return CT_ERR_INVALID;
		while (*p >= '0' && *p <= '9') {
			n = n * 10 + (*p++ - '0');
			if (n > 7 * 86400)
				return CT_ERR_INVALID;
		}
		switch (*p) {
		case 's':
			unit = 1;
			break;
		case 'm':
			unit = 60;
			break;
		case 'h':
			unit = 3600;
			break;
		case 'd':
			unit = 86400;
			break;
		default:
			return CT_ERR_INVALID;
		}
		p++;
		total += n * unit;
		if (total > 7 * 86400)
			return CT_ERR_INVALID;
	}
	if (total < 1)
		return CT_ERR_INVALID;
	*ret_s = total;
	return CT_OK;
}

static bool blank(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return false;
	return true;
}

int cli_alerts_action(const struct cli_config *cfg, const char *verb, int argc, char **argv)
{
	static const struct {
		const char *verb, *done;
		Cellthread__V1__AlarmAction action;
	} verbs[] = {
	        {"ack", "acknowledged", CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_ACK},
	        {"shelve", "shelved", CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_SHELVE},
	        {"unshelve", "unshelved", CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_UNSHELVE},
	        {"comment", "commented", CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_COMMENT},
	        {"disable", "taken out of service",
	         CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_REMOVE_FROM_SERVICE},
	        {"enable", "returned to service",
	         CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_RETURN_TO_SERVICE},
	};
	Cellthread__V1__AlertAction req = CELLTHREAD__V1__ALERT_ACTION__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	Cellthread__V1__AlertReply *reply = NULL;
	const char *id = NULL, *reason = NULL, *until = NULL, *actor = NULL, *done = NULL;
	char event_id[40];
	int64_t until_s = 0;
	int rc;

	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(verb, verbs[i].verb) == 0) {
			req.action = verbs[i].action;
			done = verbs[i].done;
		}
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc)
			reason = argv[++i];
		else if (strncmp(argv[i], "--reason=", 9) == 0)
			reason = argv[i] + 9;
		else if (strcmp(argv[i], "--until") == 0 && i + 1 < argc)
			until = argv[++i];
		else if (strncmp(argv[i], "--until=", 8) == 0)
			until = argv[i] + 8;
		else if (strcmp(argv[i], "--as") == 0 && i + 1 < argc)
			actor = argv[++i];
		else if (strncmp(argv[i], "--as=", 5) == 0)
			actor = argv[i] + 5;
		else if (id == NULL && argv[i][0] != '-')
			id = argv[i];
		else
			done = NULL;
	}
	if (done == NULL || id == NULL ||
	    (until != NULL && req.action != CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_SHELVE)) {
		cli_usage(stderr);
		return EXIT_USAGE;
	}
	if (until != NULL && parse_duration(until, &until_s) != CT_OK) {
		fprintf(stderr, "cellthread: --until is a duration such as 30m, 2h or 1h30m (at "
		                "most 7d; the router caps it at its maximum)\n");
		return EXIT_USAGE;
	}
	if (blank(reason)) {
		fprintf(stderr,
		        "cellthread: --reason TEXT is required and must not be blank (it is "
		        "recorded with the action)\n");
		return EXIT_USAGE;
	}
	if (actor != NULL && blank(actor)) {
		fprintf(stderr, "cellthread: --as names a person\n");
		return EXIT_USAGE;
	}
	if ((rc = require_mqtt_user(cfg)) != 0)
		return rc;
	ct_pb_header_fill(&header, event_id, sizeof(event_id), "cli");
	req.header = &header;
	req.request_id = event_id;
	req.alert_id = (char *)id;
	req.actor = (char *)(actor != NULL ? actor : default_actor(cfg));
	req.reason = (char *)reason;
	req.shelve_until_us = until_s > 0 ? ct_now_us() + until_s * 1000000 : 0;
	if ((rc = rpc(cfg, "action", &req.base, &req.reply_topic, event_id, &reply)) != 0)
		return rc;
	if (!reply->ok) {
		fprintf(stderr, "cellthread: refused by alert-router: %s\n", reply->error);
		ct_pb_free(&reply->base);
		return EXIT_REFUSED;
	}
	printf("alert %s %s", id, done);
	if (reply->alert != NULL) {
		char at[40];
		printf(": %s", state_name(reply->alert->state));
		if (reply->alert->shelved[0] != '\0')
			printf(", shelved %s", reply->alert->shelved);
		if (reply->alert->shelved_until_us > 0)
			printf(" until %s",
			       ct_time_format_us(reply->alert->shelved_until_us, at, sizeof(at)));
	}
	printf("\n");
	ct_pb_free(&reply->base);
	return 0;
}

/* ---- subscriptions --------------------------------------------------------------------- */

int cli_alerts_subs(const struct cli_config *cfg, int argc, char **argv)
{
	Cellthread__V1__AlertSubscriptionRequest req =
	        CELLTHREAD__V1__ALERT_SUBSCRIPTION_REQUEST__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	Cellthread__V1__AlertReply *reply = NULL;
	const char *op = argc > 0 ? argv[0] : "list";
	char event_id[40], route[2048];
	size_t used = 0;
	int rc;

	route[0] = '\0';
	if (strcmp(op, "list") == 0 && argc <= 1) {
		req.op = CELLTHREAD__V1__SUBSCRIPTION_OP__SUBSCRIPTION_OP_LIST;
	} else if (strcmp(op, "remove") == 0 && argc == 2) {
		req.op = CELLTHREAD__V1__SUBSCRIPTION_OP__SUBSCRIPTION_OP_REMOVE;
		req.subscription_id = argv[1];
	} else if (strcmp(op, "add") == 0 && argc >= 2) {
		/* The route is the routes-file line the router parses; the CLI only checks that
		 * every word is KEY=VALUE and leaves the rules to the router. */
		req.op = CELLTHREAD__V1__SUBSCRIPTION_OP__SUBSCRIPTION_OP_ADD;
		for (int i = 1; i < argc; i++) {
			const char *eq = strchr(argv[i], '=');
			int n;
			if (eq == NULL || eq == argv[i]) {
				fprintf(stderr, "cellthread: '%s' is not KEY=VALUE\n", argv[i]);
				return EXIT_USAGE;
			}
			n = snprintf(route + used, sizeof(route) - used, "%s%s", i > 1 ? " " : "",
			             argv[i]);
			if (n < 0 || (size_t)n >= sizeof(route) - used) {
				fprintf(stderr, "cellthread: the subscription is too long\n");
				return EXIT_USAGE;
			}
			used += (size_t)n;
		}
		req.route = route;
	} else {
		cli_usage(stderr);
		return EXIT_USAGE;
	}
	if ((rc = require_mqtt_user(cfg)) != 0)
		return rc;
	ct_pb_header_fill(&header, event_id, sizeof(event_id), "cli");
	req.header = &header;
	req.request_id = event_id;
	req.actor = (char *)default_actor(cfg);
	if ((rc = rpc(cfg, "subscription", &req.base, &req.reply_topic, event_id, &reply)) != 0)
		return rc;
	if (!reply->ok) {
		fprintf(stderr, "cellthread: refused by alert-router: %s\n", reply->error);
		ct_pb_free(&reply->base);
		return EXIT_REFUSED;
	}
	if (req.op == CELLTHREAD__V1__SUBSCRIPTION_OP__SUBSCRIPTION_OP_ADD)
		printf("added: %s\n", route);
	else if (req.op == CELLTHREAD__V1__SUBSCRIPTION_OP__SUBSCRIPTION_OP_REMOVE)
		printf("removed: %s\n", req.subscription_id);
	for (size_t i = 0; i < reply->n_routes; i++)
		printf("%s\n", reply->routes[i]);
	ct_pb_free(&reply->base);
	return 0;
}
