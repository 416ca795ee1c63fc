/* router_loop: the alert router's handlers for the runtime's loop (ct_loop.h).
 *
 * handle: every input of the batch is turned into changes (router_apply.c) inside one
 * transaction (ct_pg_store_batch: a database outage waits and retries, an input the database
 * refuses alone is dead-lettered); after the commit, what the changes publish goes out, and
 * the batch's job marks its deliveries delivered and commits the spool once the broker has
 * acknowledged them.
 *
 * Inputs, by topic (docs/topics.md):
 *   ct/v1/plant/+/+/+/alert                  Alert: a source raises (ACTIVE) or clears
 *   ct/v1/plant/+/+/+/command                StationCommand: STOP suppresses the station's
 *                                            process alarms by design, RESUME ends it
 *   ct/v1/lot/{site}/{lot}                   LotStatus: HELD / QUARANTINED raise LOT_HELD
 *   ct/v1/sys/deadletter/{service}           DeadLetter: a burst raises DEADLETTER_BURST
 *   ct/v1/sys/status/{service}/{instance}    ServiceStatus: OFFLINE / PAUSED raise
 *   ct/v1/sys/rpc/alert-router/{user}/action        AlertAction (a person's)
 *   ct/v1/sys/rpc/alert-router/{user}/subscription  AlertSubscriptionRequest
 *
 * tick: once a second the timers (escalation, shelve expiry, auto-clear, floods) and the
 * outbox's MQTT rows that are due (delay-on / delay-off, or left unacknowledged by a crash);
 * every router.kpi_interval_s the KPI message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_ids.h"
#include "ct_log.h"
#include "ct_msg.h"
#include "ct_pb.h"
#include "ct_time.h"
#include "ct_topic.h"
#include "flood.h"
#include "router.h"
#include "webhook.h"

#define US_PER_S      1000000LL
#define RPC_PREFIX    CT_TOPIC_ROOT "/sys/rpc/alert-router/"
#define STATUS_PREFIX CT_TOPIC_ROOT "/sys/status/"
#define DL_PREFIX     CT_TOPIC_ROOT "/sys/deadletter/"
#define LOT_PREFIX    CT_TOPIC_ROOT "/lot/"
/* Services whose dead letters are counted at once (the topic level is a service's name: the
 * broker lets each service write only its own); a new one replaces the least recent. */
#define DL_SERVICES_MAX 64
/* Service instances whose last status is remembered; a new one replaces the least recent. */
#define STATUS_SEEN_MAX 256
/* The lease of an outbox row taken by send_due, as router_apply.c's for the rows a batch
 * publishes itself: unacknowledged by then, it is published again. */
#define DELIVERY_LEASE_S "30"

/* Dead letters seen per service in the last router.deadletter_window_s (memory only: a burst
 * that spans a restart is counted again from the restart, and its alert clears by the quiet
 * time). Each window holds router.deadletter_burst times, allocated at a service's first dead
 * letter: at most DL_SERVICES_MAX * deadletter_burst * 8 bytes. */
static struct dl_window {
	char service[CT_ID_MAX + 1]; /* "" free */
	struct time_window times;
	int64_t last_us; /* the latest dead letter: the least recent service is replaced */
} dl_windows[DL_SERVICES_MAX];

/* The last state seen of each service instance ("service/instance"): a status is handled only
 * when its state differs (statuses are republished every status.interval_s, and retained ones
 * come again on every subscribe). The state a batch sees is pending until its transaction
 * commits (status_seen_end): a batch that rolls back is handled again and must find the state
 * it did not store. After a restart the table is empty, so an instance's first status is
 * handled; alert_input recognises it when it is the same message as before. */
static struct status_seen {
	char object[2 * CT_ID_MAX + 2]; /* "" free */
	int state;                      /* as committed; -1 none yet */
	int pending_state;              /* the batch in hand's, when pending */
	bool pending;
	uint64_t used; /* status_clock when last seen: the least recent is replaced */
} status_seen[STATUS_SEEN_MAX];
static uint64_t status_clock;

static void dead_letter(struct router *r, const struct ct_spool_record *rec, int code,
                        const char *why)
{
	r->dead_letters++;
	ct_loop_dead_letter(&r->loop, rec->topic, code, why, rec->payload, rec->payload_len, 65536);
}

/* The level after prefix up to the next '/', into buf; false when missing or not an ID. */
static bool level(const char *topic, size_t skip_levels, char *buf, size_t len)
{
	const char *p = topic;
	for (size_t i = 0; i < skip_levels; i++) {
		p = strchr(p, '/');
		if (p == NULL)
			return false;
		p++;
	}
	size_t n = strcspn(p, "/");
	if (n == 0 || n >= len)
		return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return ct_id_is_valid(buf);
}

static bool valid_text(const char *s, size_t max)
{
	return s != NULL && strlen(s) < max;
}

/* ---- sources ---------------------------------------------------------------------------- */

static int on_alert(struct router *r, const struct ct_spool_record *rec, const struct ct_topic *t)
{
	Cellthread__V1__Alert *a = NULL;
	char object_id[ALERT_OBJECT_MAX], tags[ALERT_TAGS_MAX] = "", why[200] = "";
	int rc = ct_pb_unpack(&cellthread__v1__alert__descriptor, rec->payload, rec->payload_len,
	                      (size_t)r->cfg.max_payload_kib * 1024, (ProtobufCMessage **)&a);

	if (rc != CT_OK) {
		dead_letter(r, rec, rc == CT_ERR_TOO_BIG ? 2 : 1, "not an Alert message");
		return CT_OK;
	}
	if (a->header == NULL || !ct_id_is_valid(a->header->event_id))
		snprintf(why, sizeof(why), "header.event_id: missing or not an ID");
	else if (!ct_id_is_valid(a->source) || !ct_id_is_valid(a->code))
		snprintf(why, sizeof(why), "source and code must be IDs");
	else if (a->severity < 1 || a->severity > 5)
		snprintf(why, sizeof(why), "severity: %d is not INFO..CRITICAL", (int)a->severity);
	else if (a->state != CELLTHREAD__V1__ALERT_STATE__ALERT_STATE_ACTIVE &&
	         a->state != CELLTHREAD__V1__ALERT_STATE__ALERT_STATE_CLEARED)
		snprintf(why, sizeof(why), "state: a source raises (ACTIVE) or clears (CLEARED)");
	else if (strcmp(a->site, t->site) != 0 || strcmp(a->line, t->line) != 0 ||
	         strcmp(a->station, t->station) != 0)
		snprintf(why, sizeof(why), "site/line/station differ from the topic's");
	else if (a->object_kind[0] != '\0' && !ct_id_is_valid(a->object_kind))
		snprintf(why, sizeof(why), "object_kind must be an ID");
	else if (!valid_text(a->object_id, sizeof(object_id)) ||
	         !valid_text(a->text, ALERT_TEXT_MAX))
		snprintf(why, sizeof(why), "object_id or text too long");
	else if (a->alert_id[0] != '\0' && !ct_id_is_valid(a->alert_id))
		snprintf(why, sizeof(why), "alert_id must be an ID");
	for (size_t i = 0; why[0] == '\0' && i < a->n_tags; i++) {
		size_t at = strlen(tags);
		if (!ct_id_is_valid(a->tags[i]) ||
		    (size_t)snprintf(tags + at, sizeof(tags) - at, "%s%s", at ? "," : "",
		                     a->tags[i]) >= sizeof(tags) - at)
			snprintf(why, sizeof(why), "tags: each an ID, %zu bytes in all at most",
			         sizeof(tags) - 1);
	}
	if (why[0] != '\0') {
		dead_letter(r, rec, 3, why);
		ct_pb_free(&a->base);
		return CT_OK;
	}
	if (a->object_kind[0] == '\0')
		snprintf(object_id, sizeof(object_id), "%s/%s/%s", a->site, a->line, a->station);
	else
		snprintf(object_id, sizeof(object_id), "%s", a->object_id);
	struct alert_change ch = {
	        .action = a->state == CELLTHREAD__V1__ALERT_STATE__ALERT_STATE_ACTIVE ? ACT_RAISE
	                                                                              : ACT_CLEAR,
	        .event_id = a->header->event_id,
	        /* The change happened when the source said so (a clear's cleared_at, a repeat's
	         * last_seen_at); raised_at_us is when the condition began (a new occurrence's
	         * raised_at). */
	        .at_us = a->header->produced_at_us,
	        .raised_at_us = a->raised_at_us > 0 ? a->raised_at_us : 0,
	        .source = a->source,
	        .code = a->code,
	        .object_kind = a->object_kind[0] != '\0' ? a->object_kind : "station",
	        .object_id = object_id,
	        .site = a->site,
	        .line = a->line,
	        .station = a->station,
	        .severity = (int)a->severity,
	        .text = a->text,
	        .value = a->value,
	        .has_value = a->value != 0 || a->statistic != 0,
	        .tags = tags,
	        .source_alert_id = a->alert_id,
	        .actor = a->source,
	        .reason = a->text,
	};
	if (ch.at_us <= 0)
		ch.at_us = ct_now_us();
	rc = router_apply_once(r, &ch, NULL);
	ct_pb_free(&a->base);
	return rc;
}

/* Suppression by design: a station stopped by a command has its process alarms (codes in
 * router.suppress_when_stopped) suppressed until it is resumed. */
static int on_command(struct router *r, const struct ct_spool_record *rec, const struct ct_topic *t)
{
	Cellthread__V1__StationCommand *c = NULL;
	struct ct_pg_result *res = NULL;
	char err[256];
	bool stop, first = false;
	int rc = ct_pb_unpack(&cellthread__v1__station_command__descriptor, rec->payload,
	                      rec->payload_len, (size_t)r->cfg.max_payload_kib * 1024,
	                      (ProtobufCMessage **)&c);
	if (rc != CT_OK) {
		dead_letter(r, rec, 1, "not a StationCommand message");
		return CT_OK;
	}
	if (c->kind != CELLTHREAD__V1__COMMAND_KIND__COMMAND_KIND_STOP &&
	    c->kind != CELLTHREAD__V1__COMMAND_KIND__COMMAND_KIND_RESUME) {
		ct_pb_free(&c->base);
		return CT_OK;
	}
	if (c->header == NULL || !ct_id_is_valid(c->header->event_id)) {
		dead_letter(r, rec, 3, "header.event_id: missing or not an ID");
		ct_pb_free(&c->base);
		return CT_OK;
	}
	stop = c->kind == CELLTHREAD__V1__COMMAND_KIND__COMMAND_KIND_STOP;
	int64_t at_us = c->header->produced_at_us > 0 ? c->header->produced_at_us : ct_now_us();
	rc = router_db_first_time(r, c->header->event_id, &first);
	if (rc != CT_OK || !first) {
		ct_pb_free(&c->base);
		return rc;
	}
	const char *v[] = {t->site, t->line, t->station, c->header->event_id};
	rc = ct_pg_query(r->pg,
	                 stop ? "INSERT INTO alert_station_stop (site, line, station, since,"
	                        " cause_event_id) VALUES ($1, $2, $3, now(), $4)"
	                        " ON CONFLICT (site, line, station) DO NOTHING"
	                      : "DELETE FROM alert_station_stop WHERE site = $1 AND line = $2"
	                        " AND station = $3 AND $4::text IS NOT NULL",
	                 4, v, NULL, err, sizeof(err));
	if (rc == CT_OK)
		rc = ct_pg_query(
		        r->pg,
		        "SELECT alert_id, code FROM alert WHERE site = $1 AND line = $2"
		        " AND station = $3 AND state <> 'NORMAL' AND suppressed = $4",
		        4, (const char *[]){t->site, t->line, t->station, stop ? "false" : "true"},
		        &res, err, sizeof(err));
	for (int i = 0; rc == CT_OK && i < ct_pg_result_rows(res); i++) {
		char event_id[CT_DERIVED_ID_MAX];
		const char *code = ct_pg_text(res, i, "code");
		const char *parts[] = {c->header->event_id, ct_pg_text(res, i, "alert_id")};
		/* Only the process alarms the rule names; a RESUME lifts every suppression the
		 * stop made (the codes are the same rule). */
		if (!router_code_in_globs(r->cfg.suppress_when_stopped, code != NULL ? code : ""))
			continue;
		ct_id_derive(event_id, sizeof(event_id), "su-", parts, 2);
		struct alert_change ch = {
		        .action = stop ? ACT_SUPPRESS : ACT_UNSUPPRESS,
		        .event_id = event_id,
		        .at_us = at_us,
		        .alert_id = parts[1],
		        .actor = SERVICE_NAME,
		        .reason = stop ? "station stopped by command" : "station resumed",
		};
		rc = router_apply(r, &ch, NULL);
	}
	ct_pg_result_free(res);
	ct_pb_free(&c->base);
	return rc;
}

static int on_lot(struct router *r, const struct ct_spool_record *rec)
{
	Cellthread__V1__LotStatus *l = NULL;
	char object_id[ALERT_OBJECT_MAX], text[ALERT_TEXT_MAX], sub[CT_DERIVED_ID_MAX];
	bool first = false;
	int rc = ct_pb_unpack(&cellthread__v1__lot_status__descriptor, rec->payload,
	                      rec->payload_len, (size_t)r->cfg.max_payload_kib * 1024,
	                      (ProtobufCMessage **)&l);
	if (rc != CT_OK) {
		dead_letter(r, rec, 1, "not a LotStatus message");
		return CT_OK;
	}
	if (l->header == NULL || !ct_id_is_valid(l->header->event_id) || !ct_id_is_valid(l->site) ||
	    !ct_id_is_valid(l->lot_id)) {
		dead_letter(r, rec, 3, "header.event_id, site and lot_id must be IDs");
		ct_pb_free(&l->base);
		return CT_OK;
	}
	snprintf(object_id, sizeof(object_id), "%s/%s", l->site, l->lot_id);
	snprintf(text, sizeof(text), "lot %s %s by %s: %.700s", object_id,
	         l->state == CELLTHREAD__V1__LOT_STATE__LOT_STATE_RELEASED ? "released" : "held",
	         l->changed_by, l->reason);
	int64_t at_us = l->changed_at_us > 0 ? l->changed_at_us : ct_now_us();
	rc = router_db_first_time(r, l->header->event_id, &first);
	for (int i = 0; rc == CT_OK && first && i < 2; i++) {
		/* Held and quarantined are two codes; a release clears whichever is active. */
		const char *code = i == 0 ? "LOT_HELD" : "LOT_QUARANTINED";
		bool held = l->state == CELLTHREAD__V1__LOT_STATE__LOT_STATE_HELD;
		bool quarantined = l->state == CELLTHREAD__V1__LOT_STATE__LOT_STATE_QUARANTINED;
		bool raise = (i == 0 && held) || (i == 1 && quarantined);
		const char *parts[] = {l->header->event_id, code};
		ct_id_derive(sub, sizeof(sub), "lo-", parts, 2);
		struct alert_change ch = {
		        .action = raise ? ACT_RAISE : ACT_CLEAR,
		        .event_id = sub,
		        .at_us = at_us,
		        .source = "spc-gate",
		        .code = code,
		        .object_kind = "lot",
		        .object_id = object_id,
		        .site = l->site,
		        .line = "",
		        .station = "",
		        .severity = quarantined ? 5 : 4,
		        .text = text,
		        .tags = "",
		        .source_alert_id = l->header->event_id,
		        .actor = l->changed_by,
		        .reason = l->reason,
		};
		rc = router_apply(r, &ch, NULL);
	}
	ct_pb_free(&l->base);
	return rc;
}

/* The window of service, made at its first dead letter (NULL when out of memory). */
static struct time_window *dl_window(const struct router *r, const char *service, int64_t now_us)
{
	struct dl_window *slot = NULL;
	int rc;

	for (size_t i = 0; i < DL_SERVICES_MAX; i++) {
		struct dl_window *w = &dl_windows[i];
		if (w->service[0] != '\0' && strcmp(w->service, service) == 0) {
			w->last_us = now_us;
			return &w->times;
		}
		if (slot == NULL || (slot->service[0] != '\0' &&
		                     (w->service[0] == '\0' || w->last_us < slot->last_us)))
			slot = w;
	}
	time_window_free(&slot->times);
	slot->service[0] = '\0';
	rc = time_window_init(&slot->times, (size_t)r->cfg.deadletter_burst,
	                      r->cfg.deadletter_window_s * US_PER_S);
	if (rc != CT_OK) {
		ct_warn("cannot count the dead letters of %s: %s", service, ct_strerror(rc));
		time_window_free(&slot->times);
		return NULL;
	}
	snprintf(slot->service, sizeof(slot->service), "%s", service);
	slot->last_us = now_us;
	return &slot->times;
}

static int on_dead_letter(struct router *r, const struct ct_spool_record *rec)
{
	Cellthread__V1__DeadLetter *d = NULL;
	char service[CT_ID_MAX + 1], text[ALERT_TEXT_MAX];
	struct time_window *w;
	int64_t now_us = ct_now_us();
	size_t in_window;
	int rc;

	if (!level(rec->topic, 4, service, sizeof(service)))
		return CT_OK; /* the broker's ACL lets only services write there */
	rc = ct_pb_unpack(&cellthread__v1__dead_letter__descriptor, rec->payload, rec->payload_len,
	                  (size_t)r->cfg.max_payload_kib * 1024 + 131072, (ProtobufCMessage **)&d);
	if (rc != CT_OK)
		return CT_OK; /* not ours to judge; traveler stores it whatever it is */
	w = dl_window(r, service, now_us);
	if (w == NULL) {
		ct_pb_free(&d->base);
		return CT_OK;
	}
	/* The window holds deadletter_burst times: enough to answer "a burst?". */
	time_window_add(w, now_us);
	in_window = time_window_count(w, now_us);
	if (in_window < (size_t)r->cfg.deadletter_burst || d->header == NULL ||
	    !ct_id_is_valid(d->header->event_id)) {
		ct_pb_free(&d->base);
		return CT_OK;
	}
	snprintf(text, sizeof(text), "%zu dead letters from %s in %ld s; latest: %.800s", in_window,
	         service, r->cfg.deadletter_window_s, d->reason);
	struct alert_change ch = {
	        .action = ACT_RAISE,
	        .event_id = d->header->event_id,
	        .at_us = now_us,
	        .source = SERVICE_NAME,
	        .code = "DEADLETTER_BURST",
	        .object_kind = "service",
	        .object_id = service,
	        .site = "",
	        .line = "",
	        .station = "",
	        .severity = 3,
	        .text = text,
	        .value = (double)in_window,
	        .has_value = true,
	        .tags = "",
	        .source_alert_id = d->header->event_id,
	        .actor = SERVICE_NAME,
	};
	rc = router_apply_once(r, &ch, NULL);
	ct_pb_free(&d->base);
	return rc;
}

/* The entry of object in status_seen (a new one replaces the least recent). */
static struct status_seen *status_slot(const char *object, bool *ret_known)
{
	struct status_seen *slot = NULL;

	status_clock++;
	for (size_t i = 0; i < STATUS_SEEN_MAX; i++) {
		struct status_seen *e = &status_seen[i];
		if (e->object[0] != '\0' && strcmp(e->object, object) == 0) {
			e->used = status_clock;
			*ret_known = true;
			return e;
		}
		if (slot == NULL ||
		    (slot->object[0] != '\0' && (e->object[0] == '\0' || e->used < slot->used)))
			slot = e;
	}
	snprintf(slot->object, sizeof(slot->object), "%s", object);
	slot->state = -1;
	slot->pending = false;
	slot->used = status_clock;
	*ret_known = false;
	return slot;
}

/* The end of a transaction that handled statuses: what it saw becomes the last state seen
 * (committed), or is forgotten (rolled back: the batch comes again). */
static void status_seen_end(bool committed)
{
	for (size_t i = 0; i < STATUS_SEEN_MAX; i++) {
		struct status_seen *e = &status_seen[i];
		if (!e->pending)
			continue;
		e->pending = false;
		if (committed)
			e->state = e->pending_state;
		else if (e->state == -1)
			e->object[0] = '\0';
	}
}

static int on_status(struct router *r, const struct ct_spool_record *rec)
{
	Cellthread__V1__ServiceStatus *s = NULL;
	char object_id[2 * CT_ID_MAX + 2], text[ALERT_TEXT_MAX], event_id[CT_DERIVED_ID_MAX];
	char started[24], state[12], at[24];
	struct status_seen *seen;
	bool first = false, known = false;
	int rc = ct_pb_unpack(&cellthread__v1__service_status__descriptor, rec->payload,
	                      rec->payload_len, 65536, (ProtobufCMessage **)&s);
	if (rc != CT_OK)
		return CT_OK; /* statuses are written by services only (ACL) */
	if (!ct_id_is_valid(s->service) || !ct_id_is_valid(s->instance)) {
		ct_pb_free(&s->base);
		return CT_OK;
	}
	snprintf(object_id, sizeof(object_id), "%s/%s", s->service, s->instance);
	/* Only a change of state: the status is republished every status.interval_s. */
	seen = status_slot(object_id, &known);
	if (known && (seen->pending ? seen->pending_state : seen->state) == (int)s->state) {
		ct_pb_free(&s->base);
		return CT_OK;
	}
	seen->pending_state = (int)s->state;
	seen->pending = true;
	/* Each change its own ID (ONLINE, PAUSED, ONLINE again within one run are three), the
	 * same for the same message handled again (a replay, a retained status sent again). */
	snprintf(started, sizeof(started), "%lld", (long long)s->started_at_us);
	snprintf(state, sizeof(state), "%d", (int)s->state);
	snprintf(at, sizeof(at), "%lld", (long long)s->at_us);
	const char *parts[] = {object_id, started, state, at};
	ct_id_derive(event_id, sizeof(event_id), "st-", parts, 4);
	int64_t at_us = s->at_us > 0 ? s->at_us : ct_now_us();
	rc = router_db_first_time(r, event_id, &first);
	for (int i = 0; rc == CT_OK && first && i < 2; i++) {
		const char *code = i == 0 ? "SERVICE_OFFLINE" : "SERVICE_PAUSED";
		bool raise =
		        (i == 0 &&
		         s->state == CELLTHREAD__V1__SERVICE_STATE__SERVICE_STATE_OFFLINE) ||
		        (i == 1 && s->state == CELLTHREAD__V1__SERVICE_STATE__SERVICE_STATE_PAUSED);
		bool clear = s->state == CELLTHREAD__V1__SERVICE_STATE__SERVICE_STATE_ONLINE;
		char sub[CT_DERIVED_ID_MAX];
		if (!raise && !clear)
			continue;
		const char *sub_parts[] = {event_id, code};
		ct_id_derive(sub, sizeof(sub), "sv-", sub_parts, 2);
		snprintf(text, sizeof(text), "%s %s%s%.800s", object_id,
		         i == 0 ? (raise ? "is offline" : "is back online")
		                : (raise ? "paused its input" : "reads again"),
		         s->reason[0] ? ": " : "", s->reason);
		struct alert_change ch = {
		        .action = raise ? ACT_RAISE : ACT_CLEAR,
		        .event_id = sub,
		        .at_us = at_us,
		        .source = SERVICE_NAME,
		        .code = code,
		        .object_kind = "service",
		        .object_id = object_id,
		        .site = "",
		        .line = "",
		        .station = "",
		        /* A planned stop informs (LOW); a lost process or connection needs an
		         * action (HIGH); a paused input (full disk) needs one soon (MEDIUM). */
		        .severity = i == 1                              ? 3
		                    : strcmp(s->reason, "stopped") == 0 ? 2
		                                                        : 4,
		        .text = text,
		        .tags = "",
		        .source_alert_id = "",
		        .actor = SERVICE_NAME,
		        .reason = text,
		};
		rc = router_apply(r, &ch, NULL);
	}
	ct_pb_free(&s->base);
	return rc;
}

/* ---- people ----------------------------------------------------------------------------- */

/* The longest line route_format_line writes (routing.h): every key and its blank, the
 * string fields at their sizes (each counts its NUL too), the six integers at 11 characters
 * ("-2147483648"), the longest severity and channel names. */
#define ROUTE_LINE_MAX                                                                             \
	(sizeof("id= team= tier= severity= filter= channel= codes= kinds= tags= shifts="           \
	        " delay_on= delay_off= rate= target= escalate_after= escalate_to=") +              \
	 3 * ROUTE_ID_MAX + ROUTE_FILTER_MAX + 4 * ROUTE_LIST_MAX + ROUTE_TARGET_MAX + 6 * 11 +    \
	 sizeof("CRITICAL") + sizeof("webhook"))

static int reply(struct router *r, const char *topic, const char *request_id,
                 const struct alert_result *res, bool with_routes, const char *error)
{
	Cellthread__V1__AlertReply rep = CELLTHREAD__V1__ALERT_REPLY__INIT;
	Cellthread__V1__AlertEvent ev = CELLTHREAD__V1__ALERT_EVENT__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	char id[CT_DERIVED_ID_MAX], why[ROUTE_ID_MAX + 64];
	char *lines = NULL, **line_ptrs = NULL;
	size_t n = 0;
	int rc;

	if (topic == NULL || !ct_topic_is_reply(topic))
		return CT_OK; /* nobody to answer (or a topic we may not write) */
	rep.request_id = (char *)request_id;
	rep.ok = error == NULL;
	rep.error = (char *)(error != NULL ? error : "");
	if (res != NULL && res->row.alert_id[0] != '\0') {
		router_out_fill_event(&res->row, &ev, &header, id, sizeof(id), r->producer, "STATE",
		                      ct_now_us(), "", "");
		rep.alert = &ev;
	}
	if (with_routes && r->n_routes > 0) {
		/* On the heap: up to ROUTER_MAX_ROUTES lines of a few KiB. */
		lines = malloc(r->n_routes * ROUTE_LINE_MAX);
		line_ptrs = malloc(r->n_routes * sizeof(*line_ptrs));
		if (lines == NULL || line_ptrs == NULL) {
			free(lines);
			free(line_ptrs);
			return CT_ERR_NOMEM;
		}
		for (size_t i = 0; i < r->n_routes; i++) {
			char *line = lines + n * ROUTE_LINE_MAX;
			if (route_format_line(&r->routes[i], line, ROUTE_LINE_MAX) < 0) {
				/* Cannot happen (ROUTE_LINE_MAX); said rather than a list short of
				 * one. */
				ct_error("subscription %s does not fit in %zu bytes",
				         r->routes[i].id, (size_t)ROUTE_LINE_MAX);
				snprintf(why, sizeof(why), "subscription %s cannot be listed",
				         r->routes[i].id);
				if (rep.ok) {
					rep.ok = false;
					rep.error = why;
				}
				continue;
			}
			line_ptrs[n++] = line;
		}
	}
	rep.n_routes = n;
	rep.routes = line_ptrs;
	rc = router_out_add_pb(r->out, topic, &rep.base);
	free(lines);
	free(line_ptrs);
	return rc;
}

static int on_action(struct router *r, const struct ct_spool_record *rec, const char *credential)
{
	Cellthread__V1__AlertAction *a = NULL;
	struct alert_result res;
	enum alarm_action action;
	bool first = false;
	int rc = ct_pb_unpack(&cellthread__v1__alert_action__descriptor, rec->payload,
	                      rec->payload_len, 65536, (ProtobufCMessage **)&a);
	if (rc != CT_OK) {
		dead_letter(r, rec, 1, "not an AlertAction message");
		return CT_OK;
	}
	switch (a->action) {
	case CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_ACK:
		action = ACT_ACK;
		break;
	case CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_SHELVE:
		action = ACT_SHELVE;
		break;
	case CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_UNSHELVE:
		action = ACT_UNSHELVE;
		break;
	case CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_COMMENT:
		action = ACT_COMMENT;
		break;
	case CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_REMOVE_FROM_SERVICE:
		action = ACT_REMOVE_FROM_SERVICE;
		break;
	case CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_RETURN_TO_SERVICE:
		action = ACT_RETURN_TO_SERVICE;
		break;
	default:
		action = ACT_COUNT_;
	}
	const char *error = NULL;
	if (a->header == NULL || !ct_id_is_valid(a->header->event_id))
		error = "header.event_id: missing or not an ID";
	else if (action == ACT_COUNT_)
		error = "action: unknown";
	else if (!ct_id_is_valid(a->alert_id))
		error = "alert_id: not an ID";
	else if (!valid_text(a->actor, 128) || !valid_text(a->reason, 1024))
		error = "actor (128) or reason (1024 bytes) too long";
	if (error != NULL) {
		dead_letter(r, rec, 3, error);
		rc = reply(r, a->reply_topic, a->request_id, NULL, false, error);
		ct_pb_free(&a->base);
		return rc;
	}
	struct alert_change ch = {.action = action,
	                          .event_id = a->header->event_id,
	                          .at_us = ct_now_us(),
	                          .alert_id = a->alert_id,
	                          .actor = a->actor,
	                          .credential = credential,
	                          .reason = a->reason,
	                          .shelve_until_us = a->shelve_until_us};
	memset(&res, 0, sizeof(res));
	rc = router_db_first_time(r, ch.event_id, &first);
	if (rc == CT_OK && first)
		rc = router_apply(r, &ch, &res);
	else if (rc == CT_OK) /* asked twice (a retry): the answer is the alert as it is */
		rc = router_db_get(r, a->alert_id, &res.row, &first);
	if (rc == CT_OK) {
		if (res.refused) {
			r->refused++;
			ct_info("refused %s of %s by %s (%s): %s", alarm_action_name(action),
			        a->alert_id, a->actor, credential, res.why);
		}
		rc = reply(r, a->reply_topic, a->request_id, &res, false,
		           res.refused ? res.why : NULL);
	}
	ct_pb_free(&a->base);
	return rc;
}

static int on_subscription(struct router *r, const struct ct_spool_record *rec,
                           const char *credential)
{
	Cellthread__V1__AlertSubscriptionRequest *q = NULL;
	struct route route;
	char actor[256], why[300] = "";
	bool first = false, found = false, changed = false;
	int rc = ct_pb_unpack(&cellthread__v1__alert_subscription_request__descriptor, rec->payload,
	                      rec->payload_len, 65536, (ProtobufCMessage **)&q);
	if (rc != CT_OK) {
		dead_letter(r, rec, 1, "not an AlertSubscriptionRequest message");
		return CT_OK;
	}
	snprintf(actor, sizeof(actor), "%.120s (%s)", q->actor[0] ? q->actor : "?", credential);
	if (q->header == NULL || !ct_id_is_valid(q->header->event_id)) {
		snprintf(why, sizeof(why), "header.event_id: missing or not an ID");
	} else if (q->op == CELLTHREAD__V1__SUBSCRIPTION_OP__SUBSCRIPTION_OP_ADD) {
		const char *e = route_parse_line(q->route, &route);
		if (e != NULL)
			snprintf(why, sizeof(why), "route: %s", e);
	} else if (q->op == CELLTHREAD__V1__SUBSCRIPTION_OP__SUBSCRIPTION_OP_REMOVE) {
		if (!ct_id_is_valid(q->subscription_id))
			snprintf(why, sizeof(why), "subscription_id: not an ID");
	} else if (q->op != CELLTHREAD__V1__SUBSCRIPTION_OP__SUBSCRIPTION_OP_LIST) {
		snprintf(why, sizeof(why), "op: unknown");
	}
	if (why[0] != '\0') {
		r->refused++;
		rc = reply(r, q->reply_topic, q->request_id, NULL, false, why);
		ct_pb_free(&q->base);
		return rc;
	}
	rc = router_db_first_time(r, q->header->event_id, &first);
	if (rc == CT_OK && first && q->op == CELLTHREAD__V1__SUBSCRIPTION_OP__SUBSCRIPTION_OP_ADD) {
		rc = router_db_route_put(r, &route, actor);
		if (rc == CT_OK) {
			ct_info("subscription %s added by %s: %s", route.id, actor, q->route);
			changed = true;
		}
	} else if (rc == CT_OK && first &&
	           q->op == CELLTHREAD__V1__SUBSCRIPTION_OP__SUBSCRIPTION_OP_REMOVE) {
		rc = router_db_route_remove(r, q->subscription_id, actor, &found);
		if (rc == CT_OK && !found) {
			snprintf(why, sizeof(why), "no subscription %s", q->subscription_id);
		} else if (rc == CT_OK) {
			ct_info("subscription %s removed by %s", q->subscription_id, actor);
			changed = true;
		}
	}
	/* The reply, and the rest of the batch, see the subscriptions as they are after this
	 * change: the list is reloaded in the transaction. Should the transaction roll back
	 * (retried, or this request refused alone), memory would hold a list the database does
	 * not: routes_changed makes handle() reload it from the database after the batch. */
	if (changed) {
		r->routes_changed = true;
		rc = router_db_routes_load(r);
	}
	if (rc == CT_OK)
		rc = reply(r, q->reply_topic, q->request_id, NULL, true, why[0] ? why : NULL);
	ct_pb_free(&q->base);
	return rc;
}

/* ---- the batch -------------------------------------------------------------------------- */

static int handle_record(struct router *r, const struct ct_spool_record *rec)
{
	struct ct_topic t;
	char err[200], user[CT_ID_MAX + 1], method[CT_ID_MAX + 1];

	r->inputs++;
	if (strncmp(rec->topic, RPC_PREFIX, strlen(RPC_PREFIX)) == 0) {
		/* ct/v1/sys/rpc/alert-router/{user}/{method}: the ACL lets a credential write only
		 * its own {user} level, so the level names who sent it. */
		if (!level(rec->topic, 5, user, sizeof(user)) ||
		    !level(rec->topic, 6, method, sizeof(method))) {
			dead_letter(r, rec, 4, "expected ct/v1/sys/rpc/alert-router/USER/METHOD");
			return CT_OK;
		}
		if (strcmp(method, "action") == 0)
			return on_action(r, rec, user);
		if (strcmp(method, "subscription") == 0)
			return on_subscription(r, rec, user);
		dead_letter(r, rec, 4, "unknown method (action, subscription)");
		return CT_OK;
	}
	if (strncmp(rec->topic, STATUS_PREFIX, strlen(STATUS_PREFIX)) == 0)
		return on_status(r, rec);
	if (strncmp(rec->topic, DL_PREFIX, strlen(DL_PREFIX)) == 0)
		return on_dead_letter(r, rec);
	if (strncmp(rec->topic, LOT_PREFIX, strlen(LOT_PREFIX)) == 0)
		return on_lot(r, rec);
	if (ct_topic_parse(rec->topic, &t, err, sizeof(err)) != CT_OK || t.is_edge) {
		dead_letter(r, rec, 4, err);
		return CT_OK;
	}
	if (t.kind == CT_KIND_ALERT)
		return on_alert(r, rec, &t);
	if (t.kind == CT_KIND_COMMAND)
		return on_command(r, rec, &t);
	dead_letter(r, rec, 4, "not a topic the alert router reads");
	return CT_OK;
}

struct batch_ctx {
	struct router *r;
	const struct ct_spool_batch *batch;
};

static int store(void *ctx, size_t first, size_t count, char *err, size_t err_len)
{
	struct batch_ctx *b = ctx;
	struct router *r = b->r;
	size_t mark = router_out_count(r->out);
	int rc = ct_pg_begin(r->pg, err, err_len);

	for (size_t i = first; rc == CT_OK && i < first + count; i++)
		rc = handle_record(r, &b->batch->records[i]);
	if (rc == CT_OK)
		rc = ct_pg_commit(r->pg, err, err_len);
	status_seen_end(rc == CT_OK);
	if (rc != CT_OK) {
		const struct ct_pg_error *e = ct_pg_last_error(r->pg);
		snprintf(err, err_len, "%s", e != NULL && e->message[0] ? e->message : "failed");
		ct_pg_rollback(r->pg);
		router_out_truncate(r->out, mark);
		return rc == CT_ERR_PG ? rc : CT_ERR_PG;
	}
	return CT_OK;
}

static void refused(void *ctx, size_t index, const char *err)
{
	struct batch_ctx *b = ctx;
	const struct ct_spool_record *rec = &b->batch->records[index];
	char why[300];
	snprintf(why, sizeof(why), "refused by the database: %s", err);
	/* A dead letter refused again would come back as a dead letter of a dead letter, and so
	 * on: it is logged, not sent. */
	if (strncmp(rec->topic, DL_PREFIX, strlen(DL_PREFIX)) == 0) {
		ct_error("a dead letter on %s: %s", rec->topic, why);
		return;
	}
	dead_letter(b->r, rec, 6, why);
}

/* After a batch (or a tick) that changed subscriptions: the list in memory becomes the one
 * committed (on_subscription loaded it inside a transaction that may have rolled back). A
 * failure leaves routes_changed set: the next batch or tick tries again. */
static void reload_routes(struct router *r)
{
	if (!r->routes_changed)
		return;
	if (router_db_routes_load(r) != CT_OK) {
		ct_warn("cannot reload the subscriptions (will retry)");
		return;
	}
	r->routes_changed = false;
	ct_info("%zu subscriptions in force", r->n_routes);
}

static int handle(void *ctx, const struct ct_spool_batch *batch, void **ret_job)
{
	struct router *r = ctx;
	struct batch_ctx b = {r, batch};
	struct out_job *job = NULL;
	int rc;

	if (batch->count == 0)
		return CT_OK;
	rc = ct_pg_store_batch(r->pg, &ct_service_stop, batch->count, store, refused, &b);
	if (rc != CT_OK) {
		router_out_clear(r->out);
		return rc; /* stopped while the database was away: replayed at the next start */
	}
	if (r->webhook != NULL)
		webhook_kick(r->webhook); /* rows of this batch may be due now */
	rc = router_out_publish(r, &job);
	if (job != NULL) {
		job->end_segment = batch->end_segment;
		job->end_offset = batch->end_offset;
		job->has_position = true;
		*ret_job = job;
	}
	reload_routes(r);
	return rc;
}

static int acked(void *ctx, void *job)
{
	struct router *r = ctx;
	struct out_job *j = job;
	int rc = router_out_job_acked(r, j);
	if (rc == CT_OK && j->has_position)
		rc = ct_loop_commit(&r->loop, j->end_segment, j->end_offset);
	router_out_job_free(j);
	return rc;
}

static void discard(void *ctx, void *job)
{
	(void)ctx;
	router_out_job_free(job);
}

static int rewind_jobs(void *ctx, void *const *jobs, size_t n_jobs)
{
	/* Nothing in memory to undo: the batches' effects are in the database, keyed by their
	 * event IDs, so handling them again writes nothing twice. */
	(void)ctx;
	(void)jobs;
	(void)n_jobs;
	return CT_OK;
}

/* Outside a batch (the timers, the outbox's due rows): publishes what is queued, waits for
 * the broker's acknowledgements and marks the deliveries delivered. A broker that did not
 * take them leaves them pending: they come again (CT_OK). */
static int publish_now(struct router *r)
{
	struct out_job *job = NULL;
	int rc = router_out_publish(r, &job);
	if (rc == CT_OK)
		rc = ct_loop_flush(&r->loop);
	if (rc == CT_OK)
		rc = router_out_job_acked(r, job);
	router_out_job_free(job);
	return rc == CT_ERR_UNACKED ? CT_OK : rc;
}

/* Publishes the outbox's MQTT and log rows that are due (delayed by hysteresis, or left
 * unacknowledged), waits for the broker, marks them delivered. The rows are taken in one
 * transaction that leases them (next_attempt_at now + DELIVERY_LEASE_S, as webhook.c does):
 * ct_alert_deliveries_due's FOR UPDATE SKIP LOCKED holds them while it lasts, and the lease
 * keeps the next tick from publishing them again while the broker has not acknowledged
 * them; unacknowledged by the lease's end, they are due again. */
static int send_due(struct router *r)
{
	struct ct_pg_result *res = NULL;
	struct ct_pgarray ids;
	char err[256] = "";
	size_t mark = router_out_count(r->out), taken = 0;
	bool db_failed = false;
	int rc = ct_pg_begin(r->pg, err, sizeof(err));

	db_failed = rc != CT_OK;
	ct_pgarray_init(&ids);
	for (int pass = 0; pass < 2 && rc == CT_OK; pass++) {
		const char *v[] = {pass == 0 ? "mqtt" : "log"};
		rc = ct_pg_query(r->pg,
		                 "SELECT delivery_id, target, payload FROM"
		                 " ct_alert_deliveries_due($1, 500)",
		                 1, v, &res, err, sizeof(err));
		if (rc != CT_OK) {
			db_failed = true;
			break;
		}
		for (int i = 0; i < ct_pg_result_rows(res) && rc == CT_OK; i++) {
			const char *id = ct_pg_text(res, i, "delivery_id");
			const char *payload = ct_pg_text(res, i, "payload");
			if (id == NULL || payload == NULL)
				continue;
			rc = router_out_add(r->out, pass == 0 ? ct_pg_text(res, i, "target") : NULL,
			                    payload, strlen(payload), id);
			if (rc == CT_OK) {
				ct_pgarray_text(&ids, id);
				taken++;
			}
		}
		ct_pg_result_free(res);
		res = NULL;
	}
	if (rc == CT_OK && taken > 0) {
		const char *v[] = {ct_pgarray_literal(&ids)};
		if (v[0] == NULL) {
			rc = CT_ERR_NOMEM;
		} else {
			rc = ct_pg_query(r->pg,
			                 "UPDATE alert_delivery SET next_attempt_at = now() "
			                 "+ " DELIVERY_LEASE_S
			                 " * interval '1 s' WHERE delivery_id = ANY($1::text[])",
			                 1, v, NULL, err, sizeof(err));
			db_failed = rc != CT_OK;
		}
	}
	if (rc == CT_OK) {
		rc = ct_pg_commit(r->pg, err, sizeof(err));
		db_failed = rc != CT_OK;
	}
	ct_pgarray_cleanup(&ids);
	if (rc != CT_OK) {
		/* Nothing leased, nothing published: the rows are taken again at the next tick. */
		ct_pg_rollback(r->pg);
		router_out_truncate(r->out, mark);
		if (!db_failed)
			return rc;
		ct_warn("cannot take the outbox's due rows (will retry): %s", err);
		return CT_OK;
	}
	if (router_out_count(r->out) == 0)
		return CT_OK;
	return publish_now(r);
}

static int tick(void *ctx)
{
	struct router *r = ctx;
	int64_t now_ms = ct_mono_ms();
	char err[256];
	int rc;

	if (now_ms < r->next_timer_ms)
		return CT_OK;
	r->next_timer_ms = now_ms + 1000;
	if (ct_pg_ensure(r->pg, 0, &ct_service_stop, err, sizeof(err)) != CT_OK)
		return CT_OK; /* the database is away: the timers wait for it */
	reload_routes(r);
	size_t mark = router_out_count(r->out);
	rc = ct_pg_begin(r->pg, err, sizeof(err));
	if (rc == CT_OK)
		rc = router_timers(r, ct_now_us());
	if (rc == CT_OK)
		rc = ct_pg_commit(r->pg, err, sizeof(err));
	if (rc != CT_OK) {
		ct_pg_rollback(r->pg);
		router_out_truncate(r->out, mark);
		ct_warn("timers failed (will retry): %s",
		        ct_pg_last_error(r->pg) != NULL ? ct_pg_last_error(r->pg)->message : err);
		return CT_OK;
	}
	if (r->webhook != NULL)
		webhook_kick(r->webhook); /* an escalation or a summary may be a webhook's */
	rc = publish_now(r);
	if (rc == CT_OK)
		rc = send_due(r);
	if (rc == CT_OK && now_ms >= r->next_kpi_ms) {
		r->next_kpi_ms = now_ms + r->cfg.kpi_interval_s * 1000;
		rc = router_publish_kpi(r);
	}
	if (rc == CT_OK && now_ms >= r->next_prune_ms) {
		char hours[16];
		snprintf(hours, sizeof(hours), "%ld", r->cfg.input_retention_h);
		r->next_prune_ms = now_ms + 3600 * 1000;
		/* received_at is when an input was first handled (not its own time, which may be
		 * old: a retained lot or status message comes again on every subscribe), so each
		 * input is recognised for router.input_retention_h after it was handled; the spools
		 * and sessions replay nothing that old. */
		if (ct_pg_query(r->pg,
		                "DELETE FROM alert_input WHERE received_at < now() - $1::int *"
		                " interval '1 hour'",
		                1, (const char *[]){hours}, NULL, err, sizeof(err)) != CT_OK)
			ct_warn("cannot prune alert_input: %s", err);
	}
	return rc == CT_ERR_UNACKED ? CT_OK : rc;
}

static void report(void *ctx)
{
	struct router *r = ctx;
	struct webhook_stats ws;
	memset(&ws, 0, sizeof(ws));
	if (r->webhook != NULL)
		webhook_stats(r->webhook, &ws);
	ct_info("inputs %lu, raised %lu, cleared %lu, actions %lu (refused %lu), deliveries %lu, "
	        "webhooks delivered %lu failed %lu gave up %lu, dead letters %lu",
	        r->inputs, r->raises, r->clears, r->actions, r->refused, r->deliveries,
	        (unsigned long)ws.delivered, (unsigned long)ws.failed_attempts,
	        (unsigned long)ws.gave_up, r->dead_letters);
}

const struct ct_loop_handlers router_handlers = {
        .handle = handle,
        .acked = acked,
        .discard = discard,
        .rewind = rewind_jobs,
        .tick = tick,
        .report = report,
};

/* Loads router.routes_file into the subscriptions (created_by 'routes-file'): its lines are
 * put as they are, and a subscription the file made before and no longer holds is removed.
 * Run-time subscriptions (people's) are left alone. One transaction: a file with a bad line
 * changes nothing and stops the start. */
static int load_routes_file(struct router *r)
{
	FILE *f;
	char line[4096], err[256], ids[ROUTER_MAX_ROUTES * (ROUTE_ID_MAX + 3) + 4] = "{";
	size_t at = 1, n = 0;
	int lineno = 0, rc;

	if (r->cfg.routes_file == NULL || r->cfg.routes_file[0] == '\0')
		return CT_OK;
	f = fopen(r->cfg.routes_file, "r");
	if (f == NULL) {
		ct_error("router.routes_file %s: cannot open", r->cfg.routes_file);
		return CT_ERR_CONFIG;
	}
	rc = ct_pg_begin(r->pg, err, sizeof(err));
	while (rc == CT_OK && fgets(line, sizeof(line), f) != NULL) {
		struct route route;
		const char *why;
		char *p = line;
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		why = route_parse_line(p, &route);
		if (why != NULL) {
			ct_error("%s:%d: %s", r->cfg.routes_file, lineno, why);
			rc = CT_ERR_CONFIG;
			break;
		}
		if (n == ROUTER_MAX_ROUTES) {
			ct_error("%s: more than %d subscriptions", r->cfg.routes_file,
			         ROUTER_MAX_ROUTES);
			rc = CT_ERR_CONFIG;
			break;
		}
		rc = router_db_route_put(r, &route, "routes-file");
		at += (size_t)snprintf(ids + at, sizeof(ids) - at, "%s\"%s\"", n ? "," : "",
		                       route.id);
		n++;
	}
	fclose(f);
	snprintf(ids + at, sizeof(ids) - at, "}");
	if (rc == CT_OK)
		rc = ct_pg_query(r->pg,
		                 "UPDATE alert_subscription SET removed_at = now(),"
		                 " removed_by = 'routes-file'"
		                 " WHERE created_by = 'routes-file' AND removed_at IS NULL"
		                 " AND NOT subscription_id = ANY($1::text[])",
		                 1, (const char *[]){ids}, NULL, err, sizeof(err));
	if (rc == CT_OK)
		rc = ct_pg_commit(r->pg, err, sizeof(err));
	if (rc != CT_OK) {
		if (rc == CT_ERR_PG)
			ct_error("cannot store the routes file's subscriptions: %s", err);
		ct_pg_rollback(r->pg);
		return rc;
	}
	ct_info("%s: %zu subscriptions", r->cfg.routes_file, n);
	return CT_OK;
}

int router_start(struct router *r)
{
	int rc = load_routes_file(r);
	if (rc == CT_OK)
		rc = router_db_routes_load(r);
	if (rc == CT_OK) {
		/* Escalations name subscriptions by ID: say so at once when one is missing. */
		for (size_t i = 0; i < r->n_routes; i++) {
			bool found = r->routes[i].escalate_to[0] == '\0';
			for (size_t j = 0; j < r->n_routes && !found; j++)
				found = strcmp(r->routes[j].id, r->routes[i].escalate_to) == 0;
			if (!found)
				ct_warn("subscription %s escalates to %s, which does not exist",
				        r->routes[i].id, r->routes[i].escalate_to);
		}
	}
	return rc;
}
