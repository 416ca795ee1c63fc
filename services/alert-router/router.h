/* router: the alert-router service's state and the functions its files share.
 *
 * main.c reads the configuration and runs the loop; router_loop.c is the loop's handlers
 * (decode each input by its topic, apply it in one database transaction per batch, publish
 * after the commit, timers); router_apply.c applies one change to one alert (lifecycle.c
 * decides, the database stores, routing.c picks the deliveries); router_db.c holds the SQL;
 * router_out.c builds what is published (AlertEvent, the team JSON, replies); webhook.c
 * delivers the webhook outbox on a thread of its own.
 *
 * Durability (docs/architecture.md, "No loss"): every input's event ID goes into alert_input
 * in the same transaction as its effects, so a batch handled again after a kill -9 changes
 * nothing twice; every delivery is a row of the outbox alert_delivery written in that
 * transaction too, and is marked delivered only once the broker (MQTT) or the receiver
 * (webhook) took it. So nothing accepted is lost, and what is sent twice carries the same
 * delivery ID. */
#ifndef ALERT_ROUTER_H
#define ALERT_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cellthread/v1/alert.pb-c.h"
#include "cellthread/v1/control.pb-c.h"
#include "ct_ids.h"
#include "ct_loop.h"
#include "ct_pg.h"
#include "ct_service.h"
#include "lifecycle.h"
#include "routing.h"

#define SERVICE_NAME "alert-router"

#define ALERT_TEXT_MAX    1024
#define ALERT_OBJECT_MAX  200
#define ALERT_KEY_MAX     (4 * ALERT_OBJECT_MAX)
#define ALERT_TAGS_MAX    512
#define ROUTER_MAX_ROUTES 256

struct router_config {
	char *pg_conninfo;
	char *pg_password;
	char *routes_file;
	char *shifts;
	long max_shelve_s;
	char *auto_clear;            /* "SPC_*=600,..." code glob = seconds of quiet */
	char *suppress_when_stopped; /* code globs suppressed while their station is stopped */
	long chatter_count;
	long chatter_window_s;
	bool chatter_auto_shelve;
	long flood_on;
	long flood_off;
	long flood_window_s;
	long flood_summary_s;
	long deadletter_burst;
	long deadletter_window_s;
	long deadletter_quiet_s;
	long kpi_interval_s;
	long batch_records;
	long max_payload_kib;
	long input_retention_h;
	/* webhook.* (webhook.h) */
	long webhook_timeout_ms;
	long webhook_give_up_s;
	long webhook_backoff_base_ms;
	long webhook_backoff_max_ms;
	long webhook_parallel;
	char *webhook_ca_file;
	bool webhook_tls_verify;
};

/* One occurrence as stored (table alert). */
struct alert_row {
	char alert_id[CT_DERIVED_ID_MAX];
	char key[ALERT_KEY_MAX];
	int occurrence;
	char source[CT_ID_MAX + 1], code[CT_ID_MAX + 1];
	char object_kind[CT_ID_MAX + 1], object_id[ALERT_OBJECT_MAX];
	char site[CT_ID_MAX + 1], line[CT_ID_MAX + 1], station[CT_ID_MAX + 1];
	int severity;
	char text[ALERT_TEXT_MAX];
	char tags[ALERT_TAGS_MAX]; /* comma list */
	struct alarm alarm;
	int count;
	double value;
	bool has_value;
	char source_alert_id[CT_ID_MAX + 1];
	int64_t raised_at_us, last_seen_us;
	int escalation_tier;
};

/* One change asked of the router: a source's raise or clear, a person's action, a timer's. */
struct alert_change {
	enum alarm_action action;
	const char *event_id; /* the input's (or a derived) ID: the change happens once */
	int64_t at_us;        /* when the change happened (the message's time) */
	int64_t raised_at_us; /* RAISE: when the condition began, if the source says; else 0 */
	/* RAISE / CLEAR: which alert (key), and for RAISE what it says */
	const char *source, *code, *object_kind, *object_id;
	const char *site, *line, *station;
	int severity;
	const char *text;
	double value;
	bool has_value;
	const char *tags; /* comma list, may be "" */
	const char *source_alert_id;
	/* people's actions: the occurrence, who (as they name themselves and the credential that
	 * sent it) and why */
	const char *alert_id;
	const char *actor, *credential, *reason;
	int64_t shelve_until_us;
};

/* What happened, for the reply to a person. */
struct alert_result {
	bool refused;
	char why[256];
	struct alert_row row;
};

struct router {
	struct router_config cfg;
	struct ct_service svc;
	struct ct_loop loop;
	struct ct_pg *pg;
	unsigned long pg_generation;
	char producer[CT_ID_MAX + 1];
	struct shift_calendar shifts;
	struct route routes[ROUTER_MAX_ROUTES];
	size_t n_routes;
	bool routes_changed; /* reload after the batch */
	/* What the batch in hand publishes once its transaction commits. */
	struct router_out *out;
	/* timers (ct_mono_ms) */
	int64_t next_timer_ms, next_kpi_ms, next_prune_ms;
	struct webhook_worker *webhook;
	unsigned long inputs, raises, clears, actions, refused, deliveries, dead_letters;
};

/* ---- router_apply.c ------------------------------------------------------------------- */
/* Applies ch in the open transaction. Returns CT_OK (also when refused: see res, may be
 * NULL), or a database error (the batch is then handled again). */
int router_apply(struct router *r, const struct alert_change *ch, struct alert_result *res);
/* router_apply, once per ch->event_id: an input seen before (alert_input) changes nothing. */
int router_apply_once(struct router *r, const struct alert_change *ch, struct alert_result *res);
/* True when code matches one glob (fnmatch) of the comma list globs. */
bool router_code_in_globs(const char *globs, const char *code);
/* Builds the alert key of ch into buf. */
void router_key(char *buf, size_t len, const char *source, const char *code,
                const char *object_kind, const char *object_id);
/* The timers: escalation, timed shelves expiring, auto-clear, flood ends and summaries,
 * dead-letter bursts ending, webhooks given up. In the open transaction. */
int router_timers(struct router *r, int64_t now_us);

/* ---- router_db.c ---------------------------------------------------------------------- */
/* *ret_new true when event_id is new (and records it as handled now), false when seen
 * before. Returns CT_OK or a database error. */
int router_db_first_time(struct router *r, const char *event_id, bool *ret_new);
/* The latest occurrence of key (locked for the transaction). *ret_found false when none. */
int router_db_latest(struct router *r, const char *key, struct alert_row *ret, bool *ret_found);
/* The occurrence alert_id (locked). */
int router_db_get(struct router *r, const char *alert_id, struct alert_row *ret, bool *ret_found);
int router_db_insert(struct router *r, const struct alert_row *row);
/* Writes row's mutable columns (state, flags, count, value, text, severity, times). */
int router_db_update(struct router *r, const struct alert_row *row, int64_t at_us,
                     enum alarm_action action, const char *actor);
/* Appends an audit row; seq is the next of the alert. */
int router_db_audit(struct router *r, const char *alert_id, enum alarm_action action,
                    enum alarm_state from, enum alarm_state to, int64_t at_us, const char *actor,
                    const char *credential, const char *reason, const char *event_id);
/* Counts since since_us, at most limit (0: all; the callers compare with a threshold):
 * activations (occurrences raised) of key; alarms annunciated to team (the flood count);
 * deliveries of a subscription (its rate). */
int router_db_activations(struct router *r, const char *key, int64_t since_us, long limit,
                          long *ret);
int router_db_team_alarms(struct router *r, const char *team, int64_t since_us, long limit,
                          long *ret);
int router_db_route_deliveries(struct router *r, const char *route_id, int64_t since_us, long limit,
                               long *ret);
int router_db_flood_state(struct router *r, const char *team, bool *ret_in_flood,
                          int64_t *ret_since_us);
int router_db_flood_set(struct router *r, const char *team, bool start, int64_t at_us);
/* Inserts one outbox row (delivery_id unique: a replay inserts nothing). */
struct delivery_row {
	const char *delivery_id, *subscription_id, *team, *alert_id, *alert_key, *action;
	int transition_seq;
	const char *channel, *target, *payload;
	int64_t created_us, not_before_us;
	/* When the outbox may send it (again): for a row the batch publishes itself, a lease
	 * (30 s, DELIVERY_LEASE_US) after which an unacknowledged publish is repeated. 0: as
	 * not_before. */
	int64_t next_attempt_us;
	int delay_on_s, delay_off_s;
	const char *skipped; /* NULL: pending */
};
int router_db_deliver(struct router *r, const struct delivery_row *d, bool *ret_inserted);
/* Subscriptions: load every live one; upsert; remove. */
int router_db_routes_load(struct router *r);
int router_db_route_put(struct router *r, const struct route *route, const char *actor);
int router_db_route_remove(struct router *r, const char *id, const char *actor, bool *ret_found);
/* The audit sequence number of the alert's latest transition. */
int router_db_last_seq(struct router *r, const char *alert_id, int *ret);

/* ---- router_out.c --------------------------------------------------------------------- */
struct router_out *router_out_new(void);
void router_out_free(struct router_out *out);
void router_out_clear(struct router_out *out);
/* Queues a message to publish after the commit (copied). delivery_id non-NULL: an outbox row
 * marked delivered once the broker acknowledged it. */
int router_out_add(struct router_out *out, const char *topic, const void *payload, size_t len,
                   const char *delivery_id);
int router_out_add_pb(struct router_out *out, const char *topic, const ProtobufCMessage *msg);
/* The delivery IDs a published batch marks delivered once the broker acknowledged them, and
 * the batch's spool position, committed then. */
struct out_job {
	char **ids;
	size_t n;
	uint64_t end_segment, end_offset;
	bool has_position;
};
/* Publishes everything queued (and empties the queue); *ret_job (always set on CT_OK and on
 * a failed publish) holds the delivery IDs published. */
int router_out_publish(struct router *r, struct out_job **ret_job);
/* Marks the job's deliveries delivered (a failure is logged: they are sent again). */
int router_out_job_acked(struct router *r, struct out_job *job);
void router_out_job_free(struct out_job *job);
/* Drops what was queued after the first n (a transaction that rolled back). */
void router_out_truncate(struct router_out *out, size_t n);
size_t router_out_count(const struct router_out *out);
/* The AlertEvent of row after action. */
int router_out_event(struct router *r, const struct alert_row *row, const char *action,
                     int64_t at_us, const char *actor, const char *reason);
/* The JSON of one delivery (team topic and webhook body); the caller frees it. */
char *router_out_json(const struct alert_row *row, const char *kind, const char *action,
                      int64_t at_us, const char *actor, const char *reason, const char *delivery_id,
                      const struct route *route);
/* Writes the grouped summary of a position in flood (period: its number since the flood
 * began, -1 for the summary that ends it) to every first-tier subscription of team. */
int router_out_flood_summary(struct router *r, const char *team, int64_t since_us, int64_t period,
                             long alarms_in_window, int64_t now_us);
/* The routing of router_apply.c, for the summary. */
int router_deliver_raw(struct router *r, const struct route *route, const char *delivery_id,
                       const char *action, const char *payload, int64_t now_us);
void router_out_fill_event(const struct alert_row *row, Cellthread__V1__AlertEvent *ev,
                           Cellthread__V1__Header *header, char *id_buf, size_t id_len,
                           const char *producer, const char *action, int64_t at_us,
                           const char *actor, const char *reason);

/* ---- router_loop.c -------------------------------------------------------------------- */
extern const struct ct_loop_handlers router_handlers;
/* Publishes the AlarmKpi message (the alert_kpi_* views) on ct/v1/alert/kpi. */
int router_publish_kpi(struct router *r);
/* Connects the database and loads the subscriptions (and the routes file). */
int router_start(struct router *r);

#endif
