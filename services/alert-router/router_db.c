/* router_db: the router's SQL (tables of deploy/migrations/0009_alerts.sql). Every statement
 * runs inside the batch's transaction (router_loop.c); parameters are text, times are
 * microseconds since the epoch converted by the database. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ct_error.h"
#include "ct_log.h"
#include "router.h"

static char *i64(char *buf, size_t len, int64_t v)
{
	snprintf(buf, len, "%" PRId64, v);
	return buf;
}

static int query(struct router *r, const char *sql, int n, const char *const *values,
                 struct ct_pg_result **ret)
{
	char err[512];
	int rc = ct_pg_query(r->pg, sql, n, values, ret, err, sizeof(err));
	if (rc != CT_OK)
		ct_debug("query failed: %s", err);
	return rc;
}

/* Runs a statement that changes one row or none; *ret_one says which. */
static int exec_one(struct router *r, const char *sql, int n, const char *const *values,
                    bool *ret_one)
{
	struct ct_pg_result *res;
	int rc = query(r, sql, n, values, &res);
	if (rc != CT_OK)
		return rc;
	*ret_one = ct_pg_result_changed(res) == 1;
	ct_pg_result_free(res);
	return CT_OK;
}

int router_db_first_time(struct router *r, const char *event_id, bool *ret_new)
{
	const char *v[] = {event_id};
	/* received_at is when the router handled it, not the event's own time (which may be old:
	 * retained lot and status messages come again on every subscribe): the prune
	 * (router.input_retention_h) counts from the handling, so an old input replayed within
	 * the retention is still recognised. */
	return exec_one(r,
	                "INSERT INTO alert_input (event_id, received_at) VALUES ($1, now())"
	                " ON CONFLICT (event_id) DO NOTHING",
	                1, v, ret_new);
}

#define ALERT_COLUMNS                                                                              \
	"alert_id, alert_key, occurrence, source, code, object_kind, object_id, site, line, "      \
	"station, severity, text, array_to_string(tags, ',') AS tags, state, shelved, "            \
	"shelved_until, suppressed, out_of_service, chattering, count, last_value, "               \
	"source_alert_id, raised_at, last_seen_at, escalation_tier"

static void copy_text(char *dst, size_t len, struct ct_pg_result *res, int row, const char *col)
{
	const char *t = ct_pg_text(res, row, col);
	snprintf(dst, len, "%s", t != NULL ? t : "");
}

static int read_row(struct ct_pg_result *res, int i, struct alert_row *a)
{
	char err[256];
	enum alarm_state state = ALARM_NORMAL;
	enum alarm_shelve shelve = SHELVE_NONE;

	memset(a, 0, sizeof(*a));
	copy_text(a->alert_id, sizeof(a->alert_id), res, i, "alert_id");
	copy_text(a->key, sizeof(a->key), res, i, "alert_key");
	ct_pg_int(res, i, "occurrence", &a->occurrence);
	copy_text(a->source, sizeof(a->source), res, i, "source");
	copy_text(a->code, sizeof(a->code), res, i, "code");
	copy_text(a->object_kind, sizeof(a->object_kind), res, i, "object_kind");
	copy_text(a->object_id, sizeof(a->object_id), res, i, "object_id");
	copy_text(a->site, sizeof(a->site), res, i, "site");
	copy_text(a->line, sizeof(a->line), res, i, "line");
	copy_text(a->station, sizeof(a->station), res, i, "station");
	ct_pg_int(res, i, "severity", &a->severity);
	copy_text(a->text, sizeof(a->text), res, i, "text");
	copy_text(a->tags, sizeof(a->tags), res, i, "tags");
	if (!alarm_state_parse(ct_pg_text(res, i, "state"), &state) ||
	    !alarm_shelve_parse(ct_pg_is_null(res, i, "shelved") ? ""
	                                                         : ct_pg_text(res, i, "shelved"),
	                        &shelve)) {
		ct_error("alert %s: unknown state or shelve kind in the database", a->alert_id);
		return CT_ERR_INVALID;
	}
	a->alarm.state = state;
	a->alarm.shelved = shelve;
	if (!ct_pg_is_null(res, i, "shelved_until"))
		ct_pg_time_us(res, i, "shelved_until", &a->alarm.shelved_until_us);
	ct_pg_bool(res, i, "suppressed", &a->alarm.suppressed);
	ct_pg_bool(res, i, "out_of_service", &a->alarm.out_of_service);
	ct_pg_bool(res, i, "chattering", &a->alarm.chattering);
	ct_pg_int(res, i, "count", &a->count);
	a->has_value = !ct_pg_is_null(res, i, "last_value");
	if (a->has_value)
		ct_pg_double(res, i, "last_value", &a->value);
	copy_text(a->source_alert_id, sizeof(a->source_alert_id), res, i, "source_alert_id");
	ct_pg_time_us(res, i, "raised_at", &a->raised_at_us);
	ct_pg_time_us(res, i, "last_seen_at", &a->last_seen_us);
	ct_pg_int(res, i, "escalation_tier", &a->escalation_tier);
	if (ct_pg_result_check(res, err, sizeof(err)) != CT_OK) {
		ct_error("alert %s: %s", a->alert_id, err);
		return CT_ERR_INVALID;
	}
	return CT_OK;
}

static int select_one(struct router *r, const char *sql, const char *param, struct alert_row *ret,
                      bool *ret_found)
{
	const char *v[] = {param};
	struct ct_pg_result *res;
	int rc = query(r, sql, 1, v, &res);
	if (rc != CT_OK)
		return rc;
	*ret_found = ct_pg_result_rows(res) > 0;
	rc = *ret_found ? read_row(res, 0, ret) : CT_OK;
	ct_pg_result_free(res);
	return rc;
}

int router_db_latest(struct router *r, const char *key, struct alert_row *ret, bool *ret_found)
{
	return select_one(r,
	                  "SELECT " ALERT_COLUMNS " FROM alert WHERE alert_key = $1"
	                  " ORDER BY occurrence DESC LIMIT 1 FOR UPDATE",
	                  key, ret, ret_found);
}

int router_db_get(struct router *r, const char *alert_id, struct alert_row *ret, bool *ret_found)
{
	return select_one(r, "SELECT " ALERT_COLUMNS " FROM alert WHERE alert_id = $1 FOR UPDATE",
	                  alert_id, ret, ret_found);
}

/* The value (NULL when none or not finite: NaN and infinities are no measurement). */
static const char *value_text(const struct alert_row *a, char *buf, size_t len)
{
	if (!a->has_value || a->value != a->value || a->value > 1e308 || a->value < -1e308)
		return NULL;
	snprintf(buf, len, "%.17g", a->value);
	return buf;
}

static const char *shelved_until_text(const struct alert_row *a, char *buf, size_t len)
{
	if (a->alarm.shelved != SHELVE_TIMED)
		return NULL;
	return i64(buf, len, a->alarm.shelved_until_us);
}

int router_db_insert(struct router *r, const struct alert_row *a)
{
	char occ[16], sev[16], value[40], raised[24], seen[24], until[24];
	const char *v[] = {
	        a->alert_id,
	        a->key,
	        i64(occ, sizeof(occ), a->occurrence),
	        a->source,
	        a->code,
	        a->object_kind,
	        a->object_id,
	        a->site,
	        a->line,
	        a->station,
	        i64(sev, sizeof(sev), a->severity),
	        a->text,
	        a->tags,
	        alarm_state_name(a->alarm.state),
	        alarm_shelve_name(a->alarm.shelved),
	        shelved_until_text(a, until, sizeof(until)),
	        a->alarm.suppressed ? "true" : "false",
	        a->alarm.out_of_service ? "true" : "false",
	        a->alarm.chattering ? "true" : "false",
	        value_text(a, value, sizeof(value)),
	        a->source_alert_id,
	        i64(raised, sizeof(raised), a->raised_at_us),
	        i64(seen, sizeof(seen), a->last_seen_us),
	};
	return query(
	        r,
	        "INSERT INTO alert (alert_id, alert_key, occurrence, source, code, object_kind,"
	        " object_id, site, line, station, severity, text, tags, state, shelved,"
	        " shelved_until, suppressed, out_of_service, chattering, count, last_value,"
	        " source_alert_id, raised_at, last_seen_at, escalation_tier, updated_at)"
	        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
	        " coalesce(string_to_array(NULLIF($13, ''), ','), '{}'), $14, $15,"
	        " to_timestamp($16::bigint / 1000000.0), $17, $18, $19, 1, $20, $21,"
	        " to_timestamp($22::bigint / 1000000.0), to_timestamp($23::bigint / 1000000.0),"
	        " 1, to_timestamp($22::bigint / 1000000.0))",
	        (int)(sizeof(v) / sizeof(v[0])), v, NULL);
}

int router_db_update(struct router *r, const struct alert_row *a, int64_t at_us,
                     enum alarm_action action, const char *actor)
{
	char sev[16], value[40], seen[24], until[24], at[24], count[16], tier[16];
	const char *v[] = {
	        a->alert_id,
	        alarm_state_name(a->alarm.state),
	        alarm_shelve_name(a->alarm.shelved),
	        shelved_until_text(a, until, sizeof(until)),
	        a->alarm.suppressed ? "true" : "false",
	        a->alarm.out_of_service ? "true" : "false",
	        a->alarm.chattering ? "true" : "false",
	        i64(count, sizeof(count), a->count),
	        value_text(a, value, sizeof(value)),
	        i64(sev, sizeof(sev), a->severity),
	        a->text,
	        i64(seen, sizeof(seen), a->last_seen_us),
	        i64(at, sizeof(at), at_us),
	        alarm_action_name(action),
	        actor != NULL ? actor : "",
	        a->source_alert_id,
	        i64(tier, sizeof(tier), a->escalation_tier),
	};
	/* The times of acknowledgement, clearing and closing are set once, by the action that
	 * makes them true (the KPIs read them). */
	return query(r,
	             "UPDATE alert SET state = $2, shelved = $3,"
	             " shelved_until = to_timestamp($4::bigint / 1000000.0), suppressed = $5,"
	             " out_of_service = $6, chattering = $7, count = $8, last_value = $9,"
	             " severity = $10, text = $11, last_seen_at = to_timestamp($12::bigint / 1e6),"
	             " source_alert_id = $16, escalation_tier = $17,"
	             " acked_at = CASE WHEN $14 = 'ACK' AND acked_at IS NULL"
	             "   THEN to_timestamp($13::bigint / 1e6) ELSE acked_at END,"
	             " acked_by = CASE WHEN $14 = 'ACK' AND acked_by IS NULL THEN $15"
	             "   ELSE acked_by END,"
	             " cleared_at = CASE WHEN $14 = 'CLEAR' AND cleared_at IS NULL"
	             "   THEN to_timestamp($13::bigint / 1e6) ELSE cleared_at END,"
	             " closed_at = CASE WHEN $2 = 'NORMAL' AND closed_at IS NULL"
	             "   THEN to_timestamp($13::bigint / 1e6) ELSE closed_at END,"
	             " escalated_at = CASE WHEN $14 = 'ESCALATE'"
	             "   THEN to_timestamp($13::bigint / 1e6) ELSE escalated_at END,"
	             " updated_at = to_timestamp($13::bigint / 1e6)"
	             " WHERE alert_id = $1",
	             (int)(sizeof(v) / sizeof(v[0])), v, NULL);
}

int router_db_last_seq(struct router *r, const char *alert_id, int *ret)
{
	const char *v[] = {alert_id};
	struct ct_pg_result *res;
	int rc = query(
	        r, "SELECT coalesce(max(seq), 0) AS seq FROM alert_transition WHERE alert_id = $1",
	        1, v, &res);
	if (rc != CT_OK)
		return rc;
	rc = ct_pg_int(res, 0, "seq", ret);
	ct_pg_result_free(res);
	return rc;
}

int router_db_audit(struct router *r, const char *alert_id, enum alarm_action action,
                    enum alarm_state from, enum alarm_state to, int64_t at_us, const char *actor,
                    const char *credential, const char *reason, const char *event_id)
{
	char at[24];
	const char *v[] = {alert_id,
	                   alarm_action_name(action),
	                   alarm_state_name(from),
	                   alarm_state_name(to),
	                   i64(at, sizeof(at), at_us),
	                   actor != NULL ? actor : "",
	                   credential != NULL ? credential : "",
	                   reason != NULL ? reason : "",
	                   event_id};
	/* seq: the alert's next; the row lock on the alert (FOR UPDATE) orders its writers. */
	return query(
	        r,
	        "INSERT INTO alert_transition (alert_id, seq, action, from_state, to_state, at,"
	        " actor, credential, reason, event_id)"
	        " SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4,"
	        " to_timestamp($5::bigint / 1000000.0), $6, $7, $8, $9"
	        " FROM alert_transition WHERE alert_id = $1",
	        9, v, NULL);
}

/* Counts the rows of select (which takes $1 = p1 and $2 = since_us), at most limit of them
 * (0: all): the callers compare with a threshold, and a bound keeps the cost of a count
 * independent of how long a flood has lasted. */
static int count_query(struct router *r, const char *select, const char *p1, int64_t since_us,
                       long limit, long *ret)
{
	char since[24], lim[24], sql[1024];
	const char *v[] = {p1, i64(since, sizeof(since), since_us),
	                   limit > 0 ? i64(lim, sizeof(lim), limit) : NULL};
	struct ct_pg_result *res;
	int64_t n = 0;
	int rc;

	snprintf(sql, sizeof(sql), "SELECT count(*) AS n FROM (%s LIMIT $3::bigint) AS counted",
	         select);
	rc = query(r, sql, 3, v, &res);
	if (rc != CT_OK)
		return rc;
	rc = ct_pg_int64(res, 0, "n", &n);
	ct_pg_result_free(res);
	*ret = (long)n;
	return rc;
}

int router_db_activations(struct router *r, const char *key, int64_t since_us, long limit,
                          long *ret)
{
	return count_query(r,
	                   "SELECT 1 FROM alert WHERE alert_key = $1"
	                   " AND raised_at > to_timestamp($2::bigint / 1000000.0)",
	                   key, since_us, limit, ret);
}

int router_db_team_alarms(struct router *r, const char *team, int64_t since_us, long limit,
                          long *ret)
{
	/* Alarms that reached the position: raises routed to it, also those the flood grouped
	 * or a rate limit held back (they happened to the operator all the same); not those the
	 * hysteresis filtered out. */
	return count_query(
	        r,
	        "SELECT DISTINCT alert_id FROM alert_delivery"
	        " WHERE team = $1 AND action = 'RAISE'"
	        " AND created_at > to_timestamp($2::bigint / 1000000.0)"
	        " AND (skipped IS NULL OR skipped LIKE 'flood%' OR skipped LIKE 'rate%')",
	        team, since_us, limit, ret);
}

int router_db_route_deliveries(struct router *r, const char *route_id, int64_t since_us, long limit,
                               long *ret)
{
	return count_query(r,
	                   "SELECT 1 FROM alert_delivery WHERE subscription_id = $1"
	                   " AND created_at > to_timestamp($2::bigint / 1000000.0)"
	                   " AND skipped IS NULL",
	                   route_id, since_us, limit, ret);
}

int router_db_flood_state(struct router *r, const char *team, bool *ret_in_flood,
                          int64_t *ret_since_us)
{
	const char *v[] = {team};
	struct ct_pg_result *res;
	int rc = query(r,
	               "SELECT started_at FROM alert_position_flood WHERE team = $1"
	               " AND ended_at IS NULL ORDER BY started_at DESC LIMIT 1",
	               1, v, &res);
	if (rc != CT_OK)
		return rc;
	*ret_in_flood = ct_pg_result_rows(res) > 0;
	*ret_since_us = 0;
	if (*ret_in_flood)
		rc = ct_pg_time_us(res, 0, "started_at", ret_since_us);
	ct_pg_result_free(res);
	return rc;
}

int router_db_flood_set(struct router *r, const char *team, bool start, int64_t at_us)
{
	char at[24];
	const char *v[] = {team, i64(at, sizeof(at), at_us)};
	if (start)
		return query(r,
		             "INSERT INTO alert_position_flood (team, started_at)"
		             " VALUES ($1, to_timestamp($2::bigint / 1000000.0))",
		             2, v, NULL);
	return query(r,
	             "UPDATE alert_position_flood SET ended_at = to_timestamp($2::bigint / 1e6)"
	             " WHERE team = $1 AND ended_at IS NULL",
	             2, v, NULL);
}

int router_db_deliver(struct router *r, const struct delivery_row *d, bool *ret_inserted)
{
	char seq[16], created[24], not_before[24], on[16], off[16], next[24];
	const char *v[] = {d->delivery_id,
	                   d->subscription_id,
	                   d->team,
	                   d->alert_id[0] != '\0' ? d->alert_id : NULL, /* a flood summary */
	                   d->alert_key,
	                   d->action,
	                   i64(seq, sizeof(seq), d->transition_seq),
	                   d->channel,
	                   d->target,
	                   d->payload,
	                   i64(created, sizeof(created), d->created_us),
	                   i64(not_before, sizeof(not_before), d->not_before_us),
	                   i64(on, sizeof(on), d->delay_on_s),
	                   i64(off, sizeof(off), d->delay_off_s),
	                   d->skipped,
	                   i64(next, sizeof(next),
	                       d->next_attempt_us > 0 ? d->next_attempt_us : d->not_before_us)};
	return exec_one(r,
	                "INSERT INTO alert_delivery (delivery_id, subscription_id, team, alert_id,"
	                " alert_key, action, transition_seq, channel, target, payload, created_at,"
	                " not_before, next_attempt_at, attempts, delay_on_s, delay_off_s, skipped)"
	                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
	                " to_timestamp($11::bigint / 1000000.0), to_timestamp($12::bigint / 1e6),"
	                " to_timestamp($16::bigint / 1e6), 0, $13, $14, $15)"
	                " ON CONFLICT (delivery_id) DO NOTHING",
	                16, v, ret_inserted);
}

int router_db_routes_load(struct router *r)
{
	struct ct_pg_result *res;
	size_t n = 0;
	int rc = query(r,
	               "SELECT subscription_id, route FROM alert_subscription"
	               " WHERE removed_at IS NULL ORDER BY tier, subscription_id",
	               0, NULL, &res);
	if (rc != CT_OK)
		return rc;
	for (int i = 0; i < ct_pg_result_rows(res); i++) {
		const char *line = ct_pg_text(res, i, "route");
		const char *why;
		if (n == ROUTER_MAX_ROUTES) {
			ct_warn("more than %d subscriptions: the rest are not loaded",
			        ROUTER_MAX_ROUTES);
			break;
		}
		why = route_parse_line(line != NULL ? line : "", &r->routes[n]);
		if (why != NULL) {
			ct_warn("subscription %s in the database is refused: %s",
			        ct_pg_text(res, i, "subscription_id"), why);
			continue;
		}
		n++;
	}
	ct_pg_result_free(res);
	r->n_routes = n;
	return CT_OK;
}

int router_db_route_put(struct router *r, const struct route *route, const char *actor)
{
	char line[4096], tier[16], sev[16], on[16], off[16], rate[16], esc[16];
	if (route_format_line(route, line, sizeof(line)) < 0)
		return CT_ERR_TOO_BIG;
	const char *v[] = {route->id,
	                   route->team,
	                   i64(tier, sizeof(tier), route->tier),
	                   line,
	                   actor,
	                   i64(sev, sizeof(sev), route->min_severity),
	                   route->filter,
	                   route->codes,
	                   route->object_kinds,
	                   route->tags,
	                   route->shifts,
	                   i64(on, sizeof(on), route->delay_on_s),
	                   i64(off, sizeof(off), route->delay_off_s),
	                   i64(rate, sizeof(rate), route->rate_per_min),
	                   route->channel == CHANNEL_WEBHOOK ? "webhook"
	                   : route->channel == CHANNEL_LOG   ? "log"
	                                                     : "mqtt",
	                   route->target,
	                   i64(esc, sizeof(esc), route->escalate_after_s),
	                   route->escalate_to};
	/* The line is the whole subscription (routing.h); the columns spell it out for SQL
	 * users and the KPI views. */
	return query(
	        r,
	        "INSERT INTO alert_subscription (subscription_id, team, tier, route, created_by,"
	        " created_at, min_severity, topic_filter, codes, object_kinds, tags, shifts,"
	        " delay_on_s, delay_off_s, rate_per_min, channel, target, escalate_after_s,"
	        " escalate_to) VALUES ($1, $2, $3, $4, $5, now(), $6, $7, $8, $9, $10, $11,"
	        " $12, $13, $14, $15, $16, $17, $18)"
	        " ON CONFLICT (subscription_id) DO UPDATE SET team = $2, tier = $3, route = $4,"
	        " created_by = $5, created_at = now(), removed_at = NULL, removed_by = NULL,"
	        " min_severity = $6, topic_filter = $7, codes = $8, object_kinds = $9,"
	        " tags = $10, shifts = $11, delay_on_s = $12, delay_off_s = $13,"
	        " rate_per_min = $14, channel = $15, target = $16, escalate_after_s = $17,"
	        " escalate_to = $18",
	        (int)(sizeof(v) / sizeof(v[0])), v, NULL);
}

int router_db_route_remove(struct router *r, const char *id, const char *actor, bool *ret_found)
{
	const char *v[] = {id, actor};
	return exec_one(r,
	                "UPDATE alert_subscription SET removed_at = now(), removed_by = $2"
	                " WHERE subscription_id = $1 AND removed_at IS NULL",
	                2, v, ret_found);
}
