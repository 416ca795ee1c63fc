/* router_apply: one change to one alert, inside the batch's transaction.
 *
 * lifecycle.c decides whether the change is allowed and what the alert becomes; this file
 * reads and writes the occurrence (locked), writes the audit row, queues the AlertEvent and
 * writes the deliveries of every subscription the change reaches. Everything it writes is
 * keyed by the change's event ID or derived from it, so a change handled again after a
 * crash writes nothing twice (router.h). */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_ids.h"
#include "ct_log.h"
#include "ct_time.h"
#include "ct_topic.h"
#include "router.h"

#define US_PER_S 1000000LL
/* How long a delivery the batch publishes itself waits for the broker's acknowledgement
 * before the outbox sends it again (router_loop.c). */
#define DELIVERY_LEASE_US (30 * US_PER_S)

void router_key(char *buf, size_t len, const char *source, const char *code,
                const char *object_kind, const char *object_id)
{
	/* U+001F (unit separator) occurs in no ID or object ID: the join is unambiguous, and the
	 * migration's trigger makes the same key. */
	snprintf(buf, len, "%s\x1f%s\x1f%s\x1f%s", source, code, object_kind, object_id);
}

/* A child event ID for the n-th consequence of one input (an audit row needs one each). */
static void sub_event_id(char *buf, size_t len, const char *event_id, const char *what)
{
	const char *parts[] = {event_id, what};
	if (ct_id_derive(buf, len, "t-", parts, 2) != CT_OK)
		snprintf(buf, len, "%s", "t-invalid");
}

/* True when code matches one glob of the comma list. */
bool router_code_in_globs(const char *globs, const char *code)
{
	char pattern[ROUTE_LIST_MAX];
	const char *p = globs;

	while (*p != '\0') {
		size_t n = strcspn(p, ",");
		if (n > 0 && n < sizeof(pattern)) {
			memcpy(pattern, p, n);
			pattern[n] = '\0';
			if (fnmatch(pattern, code, 0) == 0)
				return true;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

static void route_alert_of(const struct alert_row *row, struct route_alert *ra, const char **tags,
                           size_t max_tags, char *tag_buf, size_t tag_len, const char *shift)
{
	char *save = tag_buf;
	size_t n = 0;

	snprintf(tag_buf, tag_len, "%s", row->tags);
	/* Splits the comma list in place (no strtok: the buffer is ours and short). */
	while (*save != '\0' && n < max_tags) {
		char *comma = strchr(save, ',');
		tags[n++] = save;
		if (comma == NULL)
			break;
		*comma = '\0';
		save = comma + 1;
	}
	ra->severity = row->severity;
	ra->site = row->site;
	ra->line = row->line;
	ra->station = row->station;
	ra->code = row->code;
	ra->object_kind = row->object_kind;
	ra->tags = tags;
	ra->n_tags = n;
	ra->shift = shift;
}

static const char *shift_now(const struct router *r, int64_t at_us)
{
	time_t t = (time_t)(at_us / US_PER_S);
	struct tm tm;
	if (r->shifts.n == 0 || localtime_r(&t, &tm) == NULL)
		return "";
	return shift_at(&r->shifts, tm.tm_hour * 60 + tm.tm_min);
}

/* People are told of it: not shelved, suppressed or out of service. */
static bool annunciated(const struct alarm *a)
{
	return a->shelved == SHELVE_NONE && !a->suppressed && !a->out_of_service;
}

static const char *channel_name(enum route_channel c)
{
	return c == CHANNEL_WEBHOOK ? "webhook" : c == CHANNEL_LOG ? "log" : "mqtt";
}

/* True in *ret when the RAISE of alert_id (transition seq) is already one of team's counted
 * alarms (router_db_team_alarms): a team with several subscriptions gets one row each. */
static int team_counted(struct router *r, const char *team, const char *alert_id, int seq,
                        bool *ret)
{
	struct ct_pg_result *res;
	char err[256], seq_text[16];
	const char *v[] = {team, alert_id, seq_text};
	int rc;

	snprintf(seq_text, sizeof(seq_text), "%d", seq);
	rc = ct_pg_query(r->pg,
	                 "SELECT 1 FROM alert_delivery WHERE team = $1 AND alert_id = $2"
	                 " AND transition_seq = $3::int AND action = 'RAISE'"
	                 " AND (skipped IS NULL OR skipped LIKE 'flood%' OR skipped LIKE 'rate%')",
	                 3, v, &res, err, sizeof(err));
	if (rc != CT_OK)
		return rc;
	*ret = ct_pg_result_rows(res) > 0;
	ct_pg_result_free(res);
	return CT_OK;
}

/* True in *ret when an earlier delivery of the alert key to subscription is still pending
 * (its order must be kept). */
static int earlier_pending(struct router *r, const struct route *route, const char *key, bool *ret)
{
	struct ct_pg_result *res;
	char err[256];
	const char *v[] = {channel_name(route->channel), route->id, key};
	/* The outbox's pending index: channel, subscription, key. */
	int rc = ct_pg_query(r->pg,
	                     "SELECT 1 FROM alert_delivery WHERE channel = $1"
	                     " AND subscription_id = $2 AND alert_key = $3 AND delivered_at IS NULL"
	                     " AND gave_up_at IS NULL AND skipped IS NULL LIMIT 1",
	                     3, v, &res, err, sizeof(err));
	if (rc != CT_OK)
		return rc;
	*ret = ct_pg_result_rows(res) > 0;
	ct_pg_result_free(res);
	return CT_OK;
}

/* Writes one delivery of a change to one subscription (and queues its MQTT publish when it
 * is due now). kind: "alert", "escalation". */
static int deliver(struct router *r, const struct route *route, const struct alert_row *row,
                   const char *action, int seq, int64_t at_us, const char *actor,
                   const char *reason, const char *kind)
{
	char delivery_id[CT_DERIVED_ID_MAX + ROUTE_ID_MAX + 24], topic[ROUTE_TARGET_MAX];
	char skipped[160] = "";
	int64_t now_us = ct_now_us(), not_before_us = now_us;
	bool is_raise = strcmp(action, "RAISE") == 0, inserted = false;
	int rc;

	snprintf(delivery_id, sizeof(delivery_id), "%s:%d:%s", row->alert_id, seq, route->id);
	if (is_raise) {
		long sent = 0, alarms = 0;
		bool in_flood = false;
		int64_t since = 0;
		if (route->rate_per_min > 0) {
			rc = router_db_route_deliveries(r, route->id, now_us - 60 * US_PER_S,
			                                route->rate_per_min, &sent);
			if (rc != CT_OK)
				return rc;
			if (sent >= route->rate_per_min)
				snprintf(skipped, sizeof(skipped), "rate limit: %d per minute",
				         route->rate_per_min);
		}
		bool counted = false;
		rc = router_db_flood_state(r, route->team, &in_flood, &since);
		/* Counted only outside a flood (the timers end it), and only up to the threshold:
		 * a raise costs the same however long the flood lasts. */
		if (rc == CT_OK && !in_flood)
			rc = router_db_team_alarms(r, route->team,
			                           now_us - r->cfg.flood_window_s * US_PER_S,
			                           r->cfg.flood_on + 1, &alarms);
		if (rc == CT_OK && !in_flood)
			rc = team_counted(r, route->team, row->alert_id, seq, &counted);
		if (rc != CT_OK)
			return rc;
		/* This alarm counts too, once: unless another subscription of the team has
		 * written its row already, it is not among those counted. */
		if (!in_flood && alarms + (counted ? 0 : 1) > r->cfg.flood_on) {
			ct_warn("position %s in flood: %ld alarms in %ld s", route->team,
			        alarms + 1, r->cfg.flood_window_s);
			rc = router_db_flood_set(r, route->team, true, now_us);
			if (rc != CT_OK)
				return rc;
			in_flood = true;
		}
		if (in_flood && skipped[0] == '\0')
			snprintf(skipped, sizeof(skipped), "flood: in the position's summary");
		not_before_us = now_us + route->delay_on_s * US_PER_S;
	} else if (strcmp(action, "CLEAR") == 0) {
		not_before_us = now_us + route->delay_off_s * US_PER_S;
	}

	char *payload =
	        router_out_json(row, kind, action, at_us, actor, reason, delivery_id, route);
	if (payload == NULL)
		return CT_ERR_NOMEM;
	if (route->channel == CHANNEL_MQTT)
		snprintf(topic, sizeof(topic), CT_TOPIC_ROOT "/alert/team/%s", route->team);
	else
		snprintf(topic, sizeof(topic), "%s", route->target);
	struct delivery_row d = {
	        .delivery_id = delivery_id,
	        .subscription_id = route->id,
	        .team = route->team,
	        .alert_id = row->alert_id,
	        .alert_key = row->key,
	        .action = action,
	        .transition_seq = seq,
	        .channel = channel_name(route->channel),
	        .target = topic,
	        .payload = payload,
	        .created_us = now_us,
	        .not_before_us = not_before_us,
	        .delay_on_s = is_raise ? route->delay_on_s : 0,
	        .delay_off_s = route->delay_off_s,
	        .skipped = skipped[0] != '\0' ? skipped : NULL,
	};
	/* Published by this batch when due now and nothing of the same alert waits before it for
	 * this subscription (a raise held by its delay-on, one not yet acknowledged by the
	 * broker): else the outbox sends it in order (router_loop.c send_due). Webhooks: the
	 * worker, in order, at once. */
	bool now =
	        route->channel != CHANNEL_WEBHOOK && skipped[0] == '\0' && not_before_us <= now_us;
	if (now) {
		bool waiting = false;
		rc = earlier_pending(r, route, row->key, &waiting);
		if (rc != CT_OK) {
			free(payload);
			return rc;
		}
		now = !waiting;
	}
	if (now)
		d.next_attempt_us = now_us + DELIVERY_LEASE_US;
	rc = router_db_deliver(r, &d, &inserted);
	if (rc == CT_OK && inserted && now) {
		r->deliveries++;
		if (route->channel == CHANNEL_MQTT)
			rc = router_out_add(r->out, topic, payload, strlen(payload), delivery_id);
		else if (route->channel == CHANNEL_LOG)
			rc = router_out_add(r->out, NULL, payload, strlen(payload), delivery_id);
		/* webhooks: the worker is woken by the database (NOTIFY on insert) */
	}
	free(payload);
	return rc;
}

int router_deliver_raw(struct router *r, const struct route *route, const char *delivery_id,
                       const char *action, const char *payload, int64_t now_us)
{
	char topic[ROUTE_TARGET_MAX], key[ROUTE_ID_MAX + 8];
	bool inserted = false;
	int rc;

	if (route->channel == CHANNEL_MQTT)
		snprintf(topic, sizeof(topic), CT_TOPIC_ROOT "/alert/team/%s", route->team);
	else
		snprintf(topic, sizeof(topic), "%s", route->target);
	/* Summaries are ordered among themselves per team, apart from the alerts. */
	snprintf(key, sizeof(key), "flood|%s", route->team);
	struct delivery_row d = {
	        .delivery_id = delivery_id,
	        .subscription_id = route->id,
	        .team = route->team,
	        .alert_id = "",
	        .alert_key = key,
	        .action = action,
	        .transition_seq = 0,
	        .channel = channel_name(route->channel),
	        .target = topic,
	        .payload = payload,
	        .created_us = now_us,
	        .not_before_us = now_us,
	        .next_attempt_us =
	                route->channel != CHANNEL_WEBHOOK ? now_us + DELIVERY_LEASE_US : 0,
	};
	rc = router_db_deliver(r, &d, &inserted);
	if (rc == CT_OK && inserted && route->channel != CHANNEL_WEBHOOK)
		rc = router_out_add(r->out, route->channel == CHANNEL_MQTT ? topic : NULL, payload,
		                    strlen(payload), delivery_id);
	return rc;
}

static const struct route *route_by_id(const struct router *r, const char *id)
{
	for (size_t i = 0; i < r->n_routes; i++)
		if (strcmp(r->routes[i].id, id) == 0)
			return &r->routes[i];
	return NULL;
}

/* Delivers an acknowledgement or a clear to the subscriptions that were told of the alert
 * (its raise, its escalation or its announcement once visible again reached them), whatever
 * matches now: a second tier reached by
 * escalation hears that it is over, and a shift that saw the raise hears the clear even if
 * the next shift's subscription matches at the time. */
static int route_to_told(struct router *r, const struct alert_row *row, const char *action, int seq,
                         int64_t at_us, const char *actor, const char *reason)
{
	struct ct_pg_result *res;
	char err[256];
	const char *v[] = {row->alert_id};
	int rc = ct_pg_query(r->pg,
	                     "SELECT DISTINCT subscription_id FROM alert_delivery"
	                     " WHERE alert_id = $1 AND action IN ('RAISE', 'ESCALATE',"
	                     " 'SHELVE_EXPIRED', 'UNSHELVE', 'RETURN_TO_SERVICE', 'UNSUPPRESS')"
	                     " AND skipped IS NULL ORDER BY subscription_id",
	                     1, v, &res, err, sizeof(err));
	if (rc != CT_OK)
		return rc;
	for (int i = 0; i < ct_pg_result_rows(res) && rc == CT_OK; i++) {
		const struct route *route = route_by_id(r, ct_pg_text(res, i, "subscription_id"));
		if (route != NULL) /* NULL: removed since */
			rc = deliver(r, route, row, action, seq, at_us, actor, reason, "alert");
	}
	ct_pg_result_free(res);
	return rc;
}

/* Delivers a change: an acknowledgement or a clear to the subscriptions that were told
 * (route_to_told); a raise, or an alert announced again, to every first-tier subscription it
 * matches. seq: the audit number of the transition delivered, 0 for the alert's latest. */
static int route_change(struct router *r, const struct alert_row *row, const char *action, int seq,
                        int64_t at_us, const char *actor, const char *reason)
{
	const char *tags[32];
	char tag_buf[ALERT_TAGS_MAX];
	struct route_alert ra;
	int rc = seq > 0 ? CT_OK : router_db_last_seq(r, row->alert_id, &seq);
	if (rc != CT_OK)
		return rc;
	if (strcmp(action, "ACK") == 0 || strcmp(action, "CLEAR") == 0)
		return route_to_told(r, row, action, seq, at_us, actor, reason);
	route_alert_of(row, &ra, tags, 32, tag_buf, sizeof(tag_buf), shift_now(r, at_us));
	for (size_t i = 0; i < r->n_routes && rc == CT_OK; i++) {
		const struct route *route = &r->routes[i];
		/* Later tiers hear of an alert only by escalation. */
		if (route->tier > 1 || !route_matches(route, &ra))
			continue;
		rc = deliver(r, route, row, action, seq, at_us, actor, reason, "alert");
	}
	return rc;
}

/* Delivers row's RAISE (its first transition) to the first-tier subscriptions that match it
 * now but did not match before (a higher severity). */
static int route_newly_matching(struct router *r, const struct alert_row *before,
                                const struct alert_row *row, int64_t at_us, const char *actor,
                                const char *reason)
{
	const char *tags[32], *old_tags[32];
	char tag_buf[ALERT_TAGS_MAX], old_tag_buf[ALERT_TAGS_MAX];
	struct route_alert ra, old;
	int rc = CT_OK;

	route_alert_of(row, &ra, tags, 32, tag_buf, sizeof(tag_buf), shift_now(r, at_us));
	route_alert_of(before, &old, old_tags, 32, old_tag_buf, sizeof(old_tag_buf),
	               shift_now(r, before->raised_at_us));
	for (size_t i = 0; i < r->n_routes && rc == CT_OK; i++) {
		const struct route *route = &r->routes[i];
		if (route->tier > 1 || !route_matches(route, &ra) || route_matches(route, &old))
			continue;
		rc = deliver(r, route, row, "RAISE", 1, at_us, actor, reason, "alert");
	}
	return rc;
}

/* Stores a transition of row (from -> row's state now): the row, the audit, the event, and
 * when people are to hear of it, the deliveries. */
static int record(struct router *r, struct alert_row *row, enum alarm_action action,
                  enum alarm_state from, const struct alert_change *ch, const char *event_id,
                  const char *actor, const char *reason, bool annunciate)
{
	int rc = router_db_update(r, row, ch->at_us, action, actor);
	if (rc == CT_OK && action != ACT_REPEAT)
		rc = router_db_audit(r, row->alert_id, action, from, row->alarm.state, ch->at_us,
		                     actor, ch->credential, reason, event_id);
	if (rc == CT_OK)
		rc = router_out_event(r, row, alarm_action_name(action), ch->at_us, actor, reason);
	if (rc == CT_OK && annunciate)
		rc = route_change(r, row, alarm_action_name(action), 0, ch->at_us, actor, reason);
	return rc;
}

static bool station_suppressed(struct router *r, const struct alert_row *row, bool *ret)
{
	const char *v[] = {row->site, row->line, row->station};
	struct ct_pg_result *res;
	char err[256];

	*ret = false;
	if (row->station[0] == '\0' ||
	    !router_code_in_globs(r->cfg.suppress_when_stopped, row->code))
		return true;
	if (ct_pg_query(r->pg,
	                "SELECT 1 FROM alert_station_stop WHERE site = $1 AND line = $2"
	                " AND station = $3",
	                3, v, &res, err, sizeof(err)) != CT_OK)
		return false;
	*ret = ct_pg_result_rows(res) > 0;
	ct_pg_result_free(res);
	return true;
}

static int raise_alert(struct router *r, const struct alert_change *ch)
{
	struct alert_row latest, row;
	struct alarm_request req = {.action = ACT_RAISE, .at_us = ch->at_us};
	struct alarm_outcome out;
	char key[ALERT_KEY_MAX], sub_id[CT_DERIVED_ID_MAX], occ[16];
	bool found = false, suppressed = false;
	const char *why;
	long activations = 0;
	int rc;

	router_key(key, sizeof(key), ch->source, ch->code, ch->object_kind, ch->object_id);
	rc = router_db_latest(r, key, &latest, &found);
	if (rc != CT_OK)
		return rc;
	if (found &&
	    (latest.alarm.state == ALARM_ACTIVE_UNACK || latest.alarm.state == ALARM_ACTIVE_ACK)) {
		/* A repeat: the same occurrence, counted; people are not told again, except the
		 * positions that hear of it now because its severity rose (a signal that became
		 * a reaction plan's action): for them it is a new alarm. */
		struct alert_row before = latest;
		latest.count++;
		latest.value = ch->value;
		latest.has_value = ch->has_value;
		latest.last_seen_us = ch->at_us;
		if (ch->severity > latest.severity)
			latest.severity = ch->severity;
		snprintf(latest.text, sizeof(latest.text), "%s", ch->text);
		snprintf(latest.source_alert_id, sizeof(latest.source_alert_id), "%s",
		         ch->source_alert_id);
		rc = record(r, &latest, ACT_REPEAT, latest.alarm.state, ch, ch->event_id, "", "",
		            false);
		if (rc == CT_OK && latest.severity > before.severity &&
		    annunciated(&latest.alarm) && latest.alarm.state == ALARM_ACTIVE_UNACK)
			rc = route_newly_matching(r, &before, &latest, ch->at_us, ch->actor,
			                          ch->text);
		return rc;
	}
	if (found && latest.alarm.state == ALARM_CLEARED_UNACK) {
		/* The condition is back before anyone acknowledged its clearing: the old
		 * occurrence closes, the new one carries the acknowledgement people owe. */
		enum alarm_state from = latest.alarm.state;
		struct alarm_request sup = {.action = ACT_SUPERSEDED, .at_us = ch->at_us};
		if (alarm_apply(&latest.alarm, &sup, &out) == NULL) {
			latest.alarm = out.after;
			sub_event_id(sub_id, sizeof(sub_id), ch->event_id, "superseded");
			rc = record(r, &latest, ACT_SUPERSEDED, from, ch, sub_id, SERVICE_NAME,
			            "returned as a new occurrence", false);
			if (rc != CT_OK)
				return rc;
		}
	}

	memset(&row, 0, sizeof(row));
	row.occurrence = found ? latest.occurrence + 1 : 1;
	snprintf(occ, sizeof(occ), "%d", row.occurrence);
	{
		const char *parts[] = {key, occ};
		rc = ct_id_derive(row.alert_id, sizeof(row.alert_id), "al-", parts, 2);
		if (rc != CT_OK)
			return rc;
	}
	snprintf(row.key, sizeof(row.key), "%s", key);
	snprintf(row.source, sizeof(row.source), "%s", ch->source);
	snprintf(row.code, sizeof(row.code), "%s", ch->code);
	snprintf(row.object_kind, sizeof(row.object_kind), "%s", ch->object_kind);
	snprintf(row.object_id, sizeof(row.object_id), "%s", ch->object_id);
	snprintf(row.site, sizeof(row.site), "%s", ch->site);
	snprintf(row.line, sizeof(row.line), "%s", ch->line);
	snprintf(row.station, sizeof(row.station), "%s", ch->station);
	snprintf(row.text, sizeof(row.text), "%s", ch->text);
	snprintf(row.tags, sizeof(row.tags), "%s", ch->tags != NULL ? ch->tags : "");
	snprintf(row.source_alert_id, sizeof(row.source_alert_id), "%s", ch->source_alert_id);
	row.severity = ch->severity;
	row.value = ch->value;
	row.has_value = ch->has_value;
	row.count = 1;
	row.raised_at_us = ch->raised_at_us > 0 ? ch->raised_at_us : ch->at_us;
	row.last_seen_us = ch->at_us;
	row.escalation_tier = 1;
	/* What people decided about the alert outlives one occurrence: out of service until
	 * returned, a timed shelve until its end (lifecycle.h). */
	if (found) {
		row.alarm.out_of_service = latest.alarm.out_of_service;
		if (latest.alarm.shelved == SHELVE_TIMED &&
		    !alarm_shelve_expired(&latest.alarm, ch->at_us)) {
			row.alarm.shelved = SHELVE_TIMED;
			row.alarm.shelved_until_us = latest.alarm.shelved_until_us;
		}
	}
	why = alarm_apply(&row.alarm, &req, &out);
	if (why != NULL) {
		ct_error("alert %s: raise refused by the lifecycle (%s)", key, why);
		return CT_ERR_INVALID;
	}
	row.alarm = out.after;
	if (!station_suppressed(r, &row, &suppressed))
		return CT_ERR_PG;
	row.alarm.suppressed = suppressed;
	rc = router_db_insert(r, &row);
	if (rc == CT_OK)
		rc = router_db_audit(r, row.alert_id, ACT_RAISE, ALARM_NORMAL, row.alarm.state,
		                     ch->at_us, ch->actor, ch->credential, ch->text, ch->event_id);
	if (rc == CT_OK && suppressed) {
		/* Born suppressed: the audit says why nobody was told. */
		sub_event_id(sub_id, sizeof(sub_id), ch->event_id, "suppressed");
		rc = router_db_audit(r, row.alert_id, ACT_SUPPRESS, row.alarm.state,
		                     row.alarm.state, ch->at_us, SERVICE_NAME, "",
		                     "its station is stopped by command", sub_id);
	}
	if (rc == CT_OK)
		rc = router_db_activations(r, key, ch->at_us - r->cfg.chatter_window_s * US_PER_S,
		                           0, &activations);
	if (rc != CT_OK)
		return rc;
	r->raises++;
	if (activations >= r->cfg.chatter_count) {
		char reason[128];
		snprintf(reason, sizeof(reason), "chattering: %ld activations in %ld s",
		         activations, r->cfg.chatter_window_s);
		row.alarm.chattering = true;
		sub_event_id(sub_id, sizeof(sub_id), ch->event_id, "chatter");
		rc = router_db_audit(r, row.alert_id, ACT_CHATTER, row.alarm.state, row.alarm.state,
		                     ch->at_us, SERVICE_NAME, "", reason, sub_id);
		if (rc == CT_OK && r->cfg.chatter_auto_shelve && row.alarm.shelved == SHELVE_NONE) {
			/* One-shot: it comes back by itself once the alarm clears. */
			row.alarm.shelved = SHELVE_ONE_SHOT;
			sub_event_id(sub_id, sizeof(sub_id), ch->event_id, "auto-shelve");
			rc = router_db_audit(r, row.alert_id, ACT_SHELVE, row.alarm.state,
			                     row.alarm.state, ch->at_us, SERVICE_NAME, "", reason,
			                     sub_id);
		}
		if (rc == CT_OK)
			rc = router_db_update(r, &row, ch->at_us, ACT_CHATTER, SERVICE_NAME);
		if (rc != CT_OK)
			return rc;
		ct_warn("alert %s (%s) is chattering: %ld activations in %ld s", row.alert_id, key,
		        activations, r->cfg.chatter_window_s);
	}
	rc = router_out_event(r, &row, "RAISE", ch->at_us, ch->actor, ch->text);
	bool annunciate = row.alarm.shelved == SHELVE_NONE && !row.alarm.suppressed &&
	                  !row.alarm.out_of_service;
	if (rc == CT_OK && annunciate)
		rc = route_change(r, &row, "RAISE", 1, ch->at_us, ch->actor, ch->text);
	return rc;
}

static int clear_alert(struct router *r, const struct alert_change *ch)
{
	struct alert_row row;
	struct alarm_request req = {.action = ACT_CLEAR, .at_us = ch->at_us};
	struct alarm_outcome out;
	char key[ALERT_KEY_MAX];
	bool found = false;
	enum alarm_state from;
	bool was_annunciated;
	int rc;

	router_key(key, sizeof(key), ch->source, ch->code, ch->object_kind, ch->object_id);
	rc = router_db_latest(r, key, &row, &found);
	if (rc != CT_OK || !found)
		return rc; /* a clear of something never raised (or pruned) changes nothing */
	from = row.alarm.state;
	was_annunciated = annunciated(&row.alarm);
	if (alarm_apply(&row.alarm, &req, &out) != NULL)
		return CT_OK; /* not active: nothing to clear */
	row.alarm = out.after;
	row.last_seen_us = ch->at_us;
	r->clears++;
	/* A shelved (one-shot: the clear ends it), suppressed or out-of-service alert was never
	 * announced, so its clearing is not either. */
	return record(r, &row, ACT_CLEAR, from, ch, ch->event_id, ch->actor, ch->reason,
	              was_annunciated);
}

/* A person's action, or a timer's (shelve expiry, escalation has its own path). */
static int act(struct router *r, const struct alert_change *ch, struct alert_result *res)
{
	struct alert_row row;
	struct alarm_request req = {.action = ch->action,
	                            .at_us = ch->at_us,
	                            .shelve_until_us = ch->shelve_until_us,
	                            .max_shelve_us = r->cfg.max_shelve_s * US_PER_S,
	                            .has_actor_and_reason = ch->actor != NULL && ch->actor[0] &&
	                                                    ch->reason != NULL && ch->reason[0]};
	struct alarm_outcome out;
	bool found = false;
	const char *why;
	enum alarm_state from;
	int rc;

	rc = router_db_get(r, ch->alert_id, &row, &found);
	if (rc != CT_OK)
		return rc;
	if (!found) {
		if (res != NULL) {
			res->refused = true;
			snprintf(res->why, sizeof(res->why), "no alert %s", ch->alert_id);
		}
		return CT_OK;
	}
	from = row.alarm.state;
	why = alarm_apply(&row.alarm, &req, &out);
	if (why != NULL) {
		if (res != NULL) {
			res->refused = true;
			snprintf(res->why, sizeof(res->why), "alert %s (%s): %s", row.alert_id,
			         alarm_state_name(row.alarm.state), why);
			res->row = row;
		}
		return CT_OK;
	}
	row.alarm = out.after;
	r->actions++;
	/* People hear of an acknowledgement (their screens update) and of an alert that is
	 * announced again (unshelved, back in service, no longer suppressed while active). */
	bool tell =
	        ch->action == ACT_ACK ||
	        ((ch->action == ACT_UNSHELVE || ch->action == ACT_SHELVE_EXPIRED ||
	          ch->action == ACT_RETURN_TO_SERVICE || ch->action == ACT_UNSUPPRESS) &&
	         annunciated(&row.alarm) &&
	         (row.alarm.state == ALARM_ACTIVE_UNACK || row.alarm.state == ALARM_ACTIVE_ACK));
	rc = record(r, &row, ch->action, from, ch, ch->event_id, ch->actor, ch->reason,
	            tell && annunciated(&row.alarm));
	if (rc == CT_OK && res != NULL)
		res->row = row;
	return rc;
}

int router_apply_once(struct router *r, const struct alert_change *ch, struct alert_result *res)
{
	bool first = false;
	int rc = router_db_first_time(r, ch->event_id, &first);
	if (rc == CT_OK && first)
		rc = router_apply(r, ch, res);
	return rc;
}

int router_apply(struct router *r, const struct alert_change *ch, struct alert_result *res)
{
	if (res != NULL)
		memset(res, 0, sizeof(*res));
	switch (ch->action) {
	case ACT_RAISE:
		return raise_alert(r, ch);
	case ACT_CLEAR:
		return clear_alert(r, ch);
	default:
		return act(r, ch, res);
	}
}

/* ---- timers ----------------------------------------------------------------------------- */

/* Alerts whose condition is a stream of events (SPC signals, dead-letter bursts) have no
 * clear from their source: they clear after a configured quiet time (router.auto_clear). */
static int auto_clear(struct router *r, int64_t now_us)
{
	struct ct_pg_result *res;
	char err[256], spec[ROUTE_LIST_MAX];
	int rc;

	rc = ct_pg_query(r->pg,
	                 "SELECT alert_id, alert_key, source, code, object_kind, object_id,"
	                 " (extract(epoch FROM last_seen_at) * 1000000)::bigint AS seen_us"
	                 " FROM alert WHERE state IN ('ACTIVE_UNACK', 'ACTIVE_ACK')",
	                 0, NULL, &res, err, sizeof(err));
	if (rc != CT_OK)
		return rc;
	snprintf(spec, sizeof(spec), "%s,DEADLETTER_BURST=%ld", r->cfg.auto_clear,
	         r->cfg.deadletter_quiet_s);
	for (int i = 0; i < ct_pg_result_rows(res) && rc == CT_OK; i++) {
		const char *code = ct_pg_text(res, i, "code");
		int64_t seen_us = 0;
		long quiet_s = -1;
		const char *p = spec;
		ct_pg_int64(res, i, "seen_us", &seen_us);
		/* The first glob of the list matching the code gives the quiet time. */
		while (*p != '\0' && quiet_s < 0) {
			size_t n = strcspn(p, ",");
			char item[128];
			if (n > 0 && n < sizeof(item)) {
				char *eq;
				memcpy(item, p, n);
				item[n] = '\0';
				eq = strchr(item, '=');
				if (eq != NULL) {
					*eq = '\0';
					if (fnmatch(item, code != NULL ? code : "", 0) == 0)
						quiet_s = strtol(eq + 1, NULL, 10);
				}
			}
			p += n;
			if (*p == ',')
				p++;
		}
		if (quiet_s <= 0 || seen_us + quiet_s * US_PER_S > now_us)
			continue;
		char event_id[CT_DERIVED_ID_MAX], seen[24], reason[96];
		snprintf(seen, sizeof(seen), "%lld", (long long)seen_us);
		const char *parts[] = {ct_pg_text(res, i, "alert_id"), seen};
		ct_id_derive(event_id, sizeof(event_id), "ac-", parts, 2);
		snprintf(reason, sizeof(reason), "no repeat for %ld s", quiet_s);
		struct alert_change ch = {
		        .action = ACT_CLEAR,
		        .event_id = event_id,
		        .at_us = now_us,
		        .source = ct_pg_text(res, i, "source"),
		        .code = code,
		        .object_kind = ct_pg_text(res, i, "object_kind"),
		        .object_id = ct_pg_text(res, i, "object_id"),
		        .actor = SERVICE_NAME,
		        .reason = reason,
		};
		rc = router_apply_once(r, &ch, NULL);
	}
	ct_pg_result_free(res);
	return rc;
}

static int expire_shelves(struct router *r, int64_t now_us)
{
	struct ct_pg_result *res;
	char err[256], now[24];
	const char *v[] = {now};
	int rc;

	snprintf(now, sizeof(now), "%lld", (long long)now_us);
	rc = ct_pg_query(r->pg,
	                 "SELECT alert_id, (extract(epoch FROM shelved_until) * 1000000)::bigint"
	                 " AS until_us FROM alert WHERE shelved = 'TIMED'"
	                 " AND shelved_until <= to_timestamp($1::bigint / 1000000.0)",
	                 1, v, &res, err, sizeof(err));
	if (rc != CT_OK)
		return rc;
	for (int i = 0; i < ct_pg_result_rows(res) && rc == CT_OK; i++) {
		char event_id[CT_DERIVED_ID_MAX];
		const char *parts[] = {ct_pg_text(res, i, "alert_id"),
		                       ct_pg_text(res, i, "until_us")};
		ct_id_derive(event_id, sizeof(event_id), "se-", parts, 2);
		struct alert_change ch = {.action = ACT_SHELVE_EXPIRED,
		                          .event_id = event_id,
		                          .at_us = now_us,
		                          .alert_id = ct_pg_text(res, i, "alert_id"),
		                          .actor = SERVICE_NAME,
		                          .reason = "shelve expired"};
		rc = router_apply_once(r, &ch, NULL);
	}
	ct_pg_result_free(res);
	return rc;
}

/* Not acknowledged within a subscription's escalate_after_s: the alert goes to the next
 * tier (escalate_to), once per alert and tier; that tier's own time then runs. */
static int escalate(struct router *r, int64_t now_us)
{
	int rc = CT_OK;

	for (size_t k = 0; k < r->n_routes && rc == CT_OK; k++) {
		const struct route *from = &r->routes[k], *to;
		struct ct_pg_result *res;
		char err[256], before[24];
		if (from->escalate_after_s <= 0 || from->escalate_to[0] == '\0')
			continue;
		to = route_by_id(r, from->escalate_to);
		if (to == NULL)
			continue;
		snprintf(before, sizeof(before), "%lld",
		         (long long)(now_us - from->escalate_after_s * US_PER_S));
		const char *v[] = {from->id, to->id, before};
		rc = ct_pg_query(
		        r->pg,
		        "SELECT DISTINCT d.alert_id FROM alert_delivery d"
		        " JOIN alert a ON a.alert_id = d.alert_id"
		        " WHERE d.subscription_id = $1 AND d.action IN ('RAISE', 'ESCALATE')"
		        " AND (d.skipped IS NULL OR d.skipped LIKE 'flood%')"
		        " AND a.state = 'ACTIVE_UNACK' AND a.shelved = ''"
		        " AND NOT a.suppressed AND NOT a.out_of_service"
		        " AND d.not_before <= to_timestamp($3::bigint / 1000000.0)"
		        " AND NOT EXISTS (SELECT 1 FROM alert_delivery e"
		        "   WHERE e.alert_id = d.alert_id AND e.subscription_id = $2)",
		        3, v, &res, err, sizeof(err));
		if (rc != CT_OK)
			return rc;
		for (int i = 0; i < ct_pg_result_rows(res) && rc == CT_OK; i++) {
			struct alert_row row;
			bool found = false, first = false;
			char event_id[CT_DERIVED_ID_MAX], reason[320];
			int seq = 0;
			const char *parts[] = {ct_pg_text(res, i, "alert_id"), to->id};
			ct_id_derive(event_id, sizeof(event_id), "es-", parts, 2);
			rc = router_db_first_time(r, event_id, &first);
			if (rc != CT_OK || !first)
				continue;
			rc = router_db_get(r, parts[0], &row, &found);
			if (rc != CT_OK || !found)
				continue;
			snprintf(reason, sizeof(reason),
			         "not acknowledged within %d s of reaching %s: escalated to %s",
			         from->escalate_after_s, from->id, to->id);
			row.escalation_tier = to->tier;
			rc = router_db_update(r, &row, now_us, ACT_ESCALATE, SERVICE_NAME);
			if (rc == CT_OK)
				rc = router_db_audit(r, row.alert_id, ACT_ESCALATE, row.alarm.state,
				                     row.alarm.state, now_us, SERVICE_NAME, "",
				                     reason, event_id);
			if (rc == CT_OK)
				rc = router_out_event(r, &row, "ESCALATE", now_us, SERVICE_NAME,
				                      reason);
			if (rc == CT_OK)
				rc = router_db_last_seq(r, row.alert_id, &seq);
			if (rc == CT_OK)
				rc = deliver(r, to, &row, "ESCALATE", seq, now_us, SERVICE_NAME,
				             reason, "escalation");
			ct_info("alert %s escalated from %s to %s", row.alert_id, from->id, to->id);
		}
		ct_pg_result_free(res);
	}
	return rc;
}

/* Every position in flood gets a summary each router.flood_summary_s instead of each alarm,
 * and leaves flood once a window holds fewer than router.flood_off alarms. */
static int floods(struct router *r, int64_t now_us)
{
	int rc = CT_OK;

	for (size_t k = 0; k < r->n_routes && rc == CT_OK; k++) {
		const struct route *route = &r->routes[k];
		bool in_flood = false, seen = false;
		int64_t since = 0;
		long alarms = 0;
		/* One summary per team and period even when the team has several routes. */
		for (size_t j = 0; j < k; j++)
			if (strcmp(r->routes[j].team, route->team) == 0)
				seen = true;
		if (seen)
			continue;
		rc = router_db_flood_state(r, route->team, &in_flood, &since);
		if (rc != CT_OK || !in_flood)
			continue;
		rc = router_db_team_alarms(r, route->team,
		                           now_us - r->cfg.flood_window_s * US_PER_S, 0, &alarms);
		if (rc != CT_OK)
			return rc;
		bool ends = alarms < r->cfg.flood_off;
		if (ends) {
			rc = router_db_flood_set(r, route->team, false, now_us);
			ct_info("position %s out of flood: %ld alarms in %ld s", route->team,
			        alarms, r->cfg.flood_window_s);
		}
		int64_t period = (now_us - since) / (r->cfg.flood_summary_s * US_PER_S);
		/* Period 0 is the flood's start; its summary comes at the end of the period, so
		 * it says what the flood held back. The delivery IDs carry the period: a tick
		 * repeating one writes nothing. */
		if (rc != CT_OK || (!ends && period == 0))
			continue;
		rc = router_out_flood_summary(r, route->team, since, ends ? -1 : period, alarms,
		                              now_us);
	}
	return rc;
}

/* scheme://host[:port] of url: webhook URLs often carry a token in their path, query or user
 * part, which must not reach an alert's text (people's topics, the log, the database). */
static void url_origin(const char *url, char *buf, size_t len)
{
	const char *host = url != NULL ? strstr(url, "://") : NULL;
	const char *at = NULL;
	size_t scheme, n;

	if (host == NULL) {
		snprintf(buf, len, "(a webhook)");
		return;
	}
	scheme = (size_t)(host - url) + 3;
	host += 3;
	n = strcspn(host, "/?#");
	for (size_t k = 0; k < n; k++) /* user:password@ before the host */
		if (host[k] == '@')
			at = host + k;
	if (at != NULL) {
		n -= (size_t)(at + 1 - host);
		host = at + 1;
	}
	snprintf(buf, len, "%.*s%.*s", (int)scheme, url, (int)n, host);
}

/* A webhook given up raises WEBHOOK_GAVE_UP on its subscription (once per row); a later
 * delivery that succeeds clears it. */
static int webhook_give_ups(struct router *r, int64_t now_us)
{
	struct ct_pg_result *res;
	char err[256];
	int rc =
	        ct_pg_query(r->pg,
	                    "UPDATE alert_delivery SET gave_up_raised = true"
	                    " WHERE gave_up_at IS NOT NULL AND NOT gave_up_raised"
	                    " RETURNING delivery_id, subscription_id, target, last_error, attempts",
	                    0, NULL, &res, err, sizeof(err));
	if (rc != CT_OK)
		return rc;
	for (int i = 0; i < ct_pg_result_rows(res) && rc == CT_OK; i++) {
		char text[ALERT_TEXT_MAX], object_id[ALERT_OBJECT_MAX];
		const char *sub = ct_pg_text(res, i, "subscription_id");
		snprintf(object_id, sizeof(object_id), "%s/%s", SERVICE_NAME, sub);
		char origin[160];
		url_origin(ct_pg_text(res, i, "target"), origin, sizeof(origin));
		snprintf(text, sizeof(text),
		         "webhook of subscription %s gave up delivery %s to %s after %s attempts:"
		         " %.300s",
		         sub, ct_pg_text(res, i, "delivery_id"), origin,
		         ct_pg_text(res, i, "attempts"), ct_pg_text(res, i, "last_error"));
		char event_id[CT_DERIVED_ID_MAX];
		const char *parts[] = {ct_pg_text(res, i, "delivery_id")};
		ct_id_derive(event_id, sizeof(event_id), "gu-", parts, 1);
		struct alert_change ch = {.action = ACT_RAISE,
		                          .event_id = event_id,
		                          .at_us = now_us,
		                          .source = SERVICE_NAME,
		                          .code = "WEBHOOK_GAVE_UP",
		                          .object_kind = "service",
		                          .object_id = object_id,
		                          .site = "",
		                          .line = "",
		                          .station = "",
		                          .severity = 4,
		                          .text = text,
		                          .tags = "",
		                          .source_alert_id = "",
		                          .actor = SERVICE_NAME,
		                          .reason = text};
		ct_warn("%s", text);
		rc = router_apply_once(r, &ch, NULL);
	}
	ct_pg_result_free(res);
	if (rc != CT_OK)
		return rc;
	/* Cleared once the subscription delivers again. */
	rc = ct_pg_query(r->pg,
	                 "SELECT a.source, a.code, a.object_kind, a.object_id, a.alert_id"
	                 " FROM alert a WHERE a.code = 'WEBHOOK_GAVE_UP' AND a.source = $1"
	                 " AND a.state IN ('ACTIVE_UNACK', 'ACTIVE_ACK') AND EXISTS ("
	                 "  SELECT 1 FROM alert_delivery d WHERE d.subscription_id ="
	                 "   substr(a.object_id, length($1) + 2)"
	                 "  AND d.delivered_at > (SELECT max(g.gave_up_at) FROM alert_delivery g"
	                 "   WHERE g.subscription_id = d.subscription_id))",
	                 1, (const char *[]){SERVICE_NAME}, &res, err, sizeof(err));
	if (rc != CT_OK)
		return rc;
	for (int i = 0; i < ct_pg_result_rows(res) && rc == CT_OK; i++) {
		char event_id[CT_DERIVED_ID_MAX];
		const char *parts[] = {ct_pg_text(res, i, "alert_id"), "delivered again"};
		ct_id_derive(event_id, sizeof(event_id), "gc-", parts, 2);
		struct alert_change ch = {.action = ACT_CLEAR,
		                          .event_id = event_id,
		                          .at_us = now_us,
		                          .source = ct_pg_text(res, i, "source"),
		                          .code = ct_pg_text(res, i, "code"),
		                          .object_kind = ct_pg_text(res, i, "object_kind"),
		                          .object_id = ct_pg_text(res, i, "object_id"),
		                          .actor = SERVICE_NAME,
		                          .reason = "the webhook delivers again"};
		rc = router_apply_once(r, &ch, NULL);
	}
	ct_pg_result_free(res);
	return rc;
}

int router_timers(struct router *r, int64_t now_us)
{
	int rc = escalate(r, now_us);
	if (rc == CT_OK)
		rc = webhook_give_ups(r, now_us);
	if (rc == CT_OK)
		rc = expire_shelves(r, now_us);
	if (rc == CT_OK)
		rc = auto_clear(r, now_us);
	if (rc == CT_OK)
		rc = floods(r, now_us);
	return rc;
}
