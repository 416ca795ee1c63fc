/* alert_it: what the alert-router integration tests share (test_alert_router, test_alert_floods,
 * test_alert_webhook, test_alert_team): the routes file, counts and waits on PostgreSQL that
 * print the outbox when they fail, Alerts and StationCommands published as spc-gate, alarm
 * actions sent as the cli credential with the router's reply, and the JSON of a team topic.
 *
 * Every function fails the running cmocka test (fail_msg / assert_*) when something it needs
 * does not happen within HARNESS_WAIT_MS; none returns an error code. Strings passed in are
 * borrowed for the call only. What a function returns is the caller's to free where its
 * comment says so, else the module's (alert_it_routes_env's buffer). Single-threaded, as the
 * tests are. */
#ifndef ALERT_IT_H
#define ALERT_IT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cellthread/v1/alert.pb-c.h"
#include "cellthread/v1/control.pb-c.h"
#include "harness.h"

/* ---- routes ---------------------------------------------------------------------------------- */

/* "CT_ROUTER_ROUTES_FILE=<path>", for a service's environment. The string is the module's (one
 * buffer, overwritten by the next call of this or alert_it_write_routes); it stays valid for
 * the test that asked for it. */
const char *alert_it_routes_env(const char *path);

/* Writes text as routes.conf in the test's directory (h->dir) and returns
 * alert_it_routes_env() of it. */
const char *alert_it_write_routes(struct harness *h, const char *text);

/* ---- database -------------------------------------------------------------------------------- */

/* The single number sql (with n params) returns; fails the test on an SQL error. */
long long alert_it_count(struct harness *h, const char *sql, int n, const char *const *params);

/* Prints the outbox (alert_delivery in delivery order): every subscription's rows when sub is
 * NULL, else that subscription's. What a failed wait on deliveries needs to be understood. */
void alert_it_dump_outbox(struct harness *h, const char *sub);

/* Waits (HARNESS_WAIT_MS) until sql (with n params) returns expected; else prints the whole
 * outbox and fails with the last value. */
void alert_it_wait_count(struct harness *h, const char *sql, int n, const char *const *params,
                         long long expected);

/* ---- publishing as spc-gate ------------------------------------------------------------------ */

/* Fills hdr for a message the test sends now: event_id and producer (borrowed: they must
 * outlive hdr's use), produced_at_us now, schema version 1. */
void alert_it_header(Cellthread__V1__Header *hdr, const char *event_id, const char *producer);

/* Packs m and publishes it with QoS 1 (not retained) on topic through pub; fails the test
 * when either does not succeed. */
void alert_it_send(struct ct_mqtt *pub, const char *topic, const ProtobufCMessage *m);

#define ALERT_IT_ACTIVE  CELLTHREAD__V1__ALERT_STATE__ALERT_STATE_ACTIVE
#define ALERT_IT_CLEARED CELLTHREAD__V1__ALERT_STATE__ALERT_STATE_CLEARED

/* An Alert's fields as a test sets them; a zero field (NULL, 0) takes the default named. The
 * strings are borrowed for the call. */
struct alert_it_alert {
	const char *event_id; /* the header's event ID and the alert_id (required) */
	const char *site;     /* NULL: "AR" */
	const char *line;     /* NULL: "L1" */
	const char *station;  /* required: the topic's last level */
	const char *code;
	const char *source;                /* NULL: "spc-gate" */
	const char *text;                  /* NULL: "test alert" */
	Cellthread__V1__Severity severity; /* 0 (UNSPECIFIED): SEVERITY_HIGH */
	Cellthread__V1__AlertState state;  /* 0 (UNSPECIFIED): ALERT_IT_ACTIVE */
	double value;
	const char *object_kind; /* NULL: "" (the station) */
	const char *object_id;   /* NULL: "" */
	const char *const *tags; /* n_tags labels, or NULL */
	size_t n_tags;
};

/* Publishes a (header producer "spc-gate-it", raised now) with QoS 1 on
 * ct/v1/plant/<site>/<line>/<station>/alert through pub, the caller's connection. */
void alert_it_publish(struct ct_mqtt *pub, const struct alert_it_alert *a);

/* Publishes a StationCommand STOP (stop) or RESUME, reason code "IT", for station of AR/L1 on
 * its command topic through pub. */
void alert_it_publish_command(struct ct_mqtt *pub, const char *event_id, const char *station,
                              bool stop);

/* ---- alarm actions as the cli credential ----------------------------------------------------- */

/* Sends an AlertAction (actor "Ana Operator", reason, shelve_until_us 0 for none) through cli,
 * a connection as the cli credential, with its reply topic under replies (a subscription of
 * "ct/v1/sys/reply/+/alerts/#" as cli), and returns the router's reply to it, skipping
 * replies to other requests. The reply is the caller's
 * (cellthread__v1__alert_reply__free_unpacked). */
Cellthread__V1__AlertReply *alert_it_act(struct ct_mqtt *cli, struct harness_sub *replies,
                                         const char *alert_id, Cellthread__V1__AlarmAction action,
                                         const char *reason, int64_t shelve_until_us);

/* alert_it_act without a shelve time; fails unless the router accepts it. */
void alert_it_act_ok(struct ct_mqtt *cli, struct harness_sub *replies, const char *alert_id,
                     Cellthread__V1__AlarmAction action, const char *reason);

/* ---- a team topic's JSON --------------------------------------------------------------------- */

/* The next message on sub (a team topic), parsed; fails when none comes or it is not JSON.
 * The caller's (json_decref). */
json_t *alert_it_next_json(struct harness_sub *sub);

/* o's string member key, or "" when absent or not a string (o's, as long as o lives). */
const char *alert_it_jstr(json_t *o, const char *key);

/* Fails (printing o) unless o's kind, action and code are these; NULL kind or code: any. */
void alert_it_expect(json_t *o, const char *kind, const char *action, const char *code);

/* The next message on sub, which must have kind, action and code (alert_it_expect). The
 * caller's (json_decref). */
json_t *alert_it_next_team(struct harness_sub *sub, const char *kind, const char *action,
                           const char *code);

/* Skips the messages on sub of other codes or (when object_id is not NULL) other objects, e.g.
 * the router's alerts about other services, up to the first of code (and object_id), which
 * must have kind and action (alert_it_expect). The caller's (json_decref). */
json_t *alert_it_next_of(struct harness_sub *sub, const char *code, const char *object_id,
                         const char *kind, const char *action);

#endif
