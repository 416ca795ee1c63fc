/* api_actions: what operators and quality engineers do through the API. Every action goes
 * through the owner of what it changes, never into another service's tables:
 * - alert actions become an AlertAction on alert-router's rpc topic (the router applies the
 *   ISA-18.2 rules and records the transition with credential `api` and the user as actor);
 *   the answer is 202 once the broker has taken the message;
 * - lot states, dispositions and undo requests run the SQL functions spc-gate's schema
 *   defines, in a transaction that first names the user (cellthread.actor, read by
 *   ct_actor() of migration 0010), and answer with the changed row.
 * Bodies are JSON objects read with jansson; every field is checked before anything runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "api_handlers.h"
#include "api_query.h"
#include "api_server.h"
#include "cellthread/v1/alert.pb-c.h"
#include "ct_config.h"
#include "ct_error.h"
#include "ct_ids.h"
#include "ct_log.h"
#include "ct_pb.h"
#include "ct_pg.h"
#include "ct_topic.h"

#define REASON_MAX 1024
#define ID_BUF     80

/* The body as a JSON object, or NULL after failing the call (400). Free with json_decref. */
static json_t *body_object(struct api_call *call)
{
	json_error_t jerr;
	json_t *obj;

	if (call->body_len == 0) {
		api_fail(call, 400, "bad_request", "a JSON object body is needed");
		return NULL;
	}
	obj = json_loadb(call->body, call->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL || !json_is_object(obj)) {
		json_decref(obj);
		api_fail(call, 400, "bad_request", "body: not a JSON object");
		return NULL;
	}
	return obj;
}

/* A string field: required ones must be present and non-blank. *ret points into obj. */
static bool body_text(struct api_call *call, json_t *obj, const char *name, bool required,
                      size_t max, const char **ret)
{
	json_t *v = json_object_get(obj, name);
	const char *text;

	if (v == NULL || json_is_null(v)) {
		*ret = NULL;
		if (required)
			return api_fail(call, 400, "bad_request", "%s: required", name);
		return true;
	}
	if (!json_is_string(v))
		return api_fail(call, 400, "bad_request", "%s: expected a string", name);
	text = json_string_value(v);
	if (required && strspn(text, " \t\r\n") == strlen(text))
		return api_fail(call, 400, "bad_request", "%s: required", name);
	if (strlen(text) > max || strlen(text) != json_string_length(v))
		return api_fail(call, 400, "bad_request", "%s: at most %zu bytes, no NUL", name,
		                max);
	*ret = text;
	return true;
}

/* An ID field (site): the ID rule of every topic level. */
static bool body_id(struct api_call *call, json_t *obj, const char *name, const char **ret)
{
	if (!body_text(call, obj, name, true, CT_ID_MAX, ret))
		return false;
	if (!ct_id_is_valid(*ret))
		return api_fail(call, 400, "bad_request", "%s: not an ID ([A-Za-z0-9._:-], 1-64)",
		                name);
	return true;
}

/* ---- alerts ----------------------------------------------------------------------------- */

static const char *action_name(Cellthread__V1__AlarmAction action)
{
	switch (action) {
	case CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_ACK:
		return "ack";
	case CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_SHELVE:
		return "shelve";
	case CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_UNSHELVE:
		return "unshelve";
	default:
		return "comment";
	}
}

static void alert_action(struct api_call *call, Cellthread__V1__AlarmAction action)
{
	static const char exists_sql[] =
	        "SELECT json_build_object('alert_id', alert_id) FROM alert WHERE alert_id = $1";
	Cellthread__V1__AlertAction msg = CELLTHREAD__V1__ALERT_ACTION__INIT;
	Cellthread__V1__Header header = CELLTHREAD__V1__HEADER__INIT;
	char event_id[ID_BUF], request_id[ID_BUF], topic[CT_TOPIC_MAX];
	const char *values[] = {call->path_arg};
	const char *reason = NULL;
	json_t *body = NULL, *until, *answer = NULL;
	uint8_t *payload = NULL;
	size_t len;
	int rc;

	if (call->path_arg == NULL || !ct_id_is_valid(call->path_arg)) {
		api_fail(call, 404, "not_found", "no such alert");
		return;
	}
	if ((body = body_object(call)) == NULL ||
	    !body_text(call, body, "reason", true, REASON_MAX, &reason))
		goto out;
	until = json_object_get(body, "until_ms");
	if (action == CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_SHELVE && until != NULL &&
	    !json_is_null(until)) {
		if (!json_is_integer(until) || json_integer_value(until) <= 0 ||
		    json_integer_value(until) > 253402300799999LL) {
			api_fail(call, 400, "bad_request",
			         "until_ms: milliseconds since the epoch");
			goto out;
		}
		msg.shelve_until_us = (int64_t)json_integer_value(until) * 1000;
	}
	/* Unknown alerts are answered here; the router would only dead-letter them. */
	if (!api_json_query(call, exists_sql, 1, values, "no such alert"))
		goto out;
	free(call->json);
	call->json = NULL;
	ct_pb_header_fill(&header, event_id, sizeof(event_id), call->server->producer);
	ct_event_id_new(request_id, sizeof(request_id));
	msg.header = &header;
	msg.request_id = request_id;
	msg.alert_id = (char *)call->path_arg;
	msg.action = action;
	msg.actor = (char *)call->user->name;
	msg.reason = (char *)reason;
	snprintf(topic, sizeof(topic), CT_TOPIC_ROOT "/sys/rpc/alert-router/%s/action",
	         api_mqtt_user(call->server));
	if (ct_pb_pack(&msg.base, &payload, &len) != CT_OK) {
		api_fail(call, 500, "internal", "out of memory");
		goto out;
	}
	rc = api_publish(call->server, topic, payload, len);
	if (rc != CT_OK) {
		ct_warn("%s of %s by %s: the broker did not take it: %s", action_name(action),
		        call->path_arg, call->user->name, ct_strerror(rc));
		api_fail(call, 503, "unavailable", "the message broker did not take the action");
		goto out;
	}
	ct_info("%s of %s by %s sent (request %s)", action_name(action), call->path_arg,
	        call->user->name, request_id);
	answer = json_pack("{s:s,s:s,s:s}", "request_id", request_id, "alert_id", call->path_arg,
	                   "action", action_name(action));
	call->json = answer != NULL ? json_dumps(answer, JSON_COMPACT) : NULL;
	call->status = 202;
	if (call->json == NULL)
		api_fail(call, 500, "internal", "out of memory");
out:
	json_decref(answer);
	free(payload);
	json_decref(body);
}

void api_post_alert_ack(struct api_call *call)
{
	alert_action(call, CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_ACK);
}

void api_post_alert_shelve(struct api_call *call)
{
	alert_action(call, CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_SHELVE);
}

void api_post_alert_unshelve(struct api_call *call)
{
	alert_action(call, CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_UNSHELVE);
}

void api_post_alert_comment(struct api_call *call)
{
	alert_action(call, CELLTHREAD__V1__ALARM_ACTION__ALARM_ACTION_COMMENT);
}

/* ---- database functions ----------------------------------------------------------------- */

/* Runs action_sql (a cellthread function) as the user, then row_sql (the changed row as JSON)
 * as the response, in one transaction. A function's RAISE is a 409 with its message. */
static void run_as_user(struct api_call *call, const char *action_sql, int n_action,
                        const char *const *action_values, const char *row_sql, int n_row,
                        const char *const *row_values, const char *not_found)
{
	static const char actor_sql[] = "SELECT set_config('cellthread.actor', $1, true)";
	const char *actor[] = {call->user->name};
	char err[512];

	if (ct_pg_begin(call->pg, err, sizeof(err)) != CT_OK) {
		api_fail_from_pg(call, "BEGIN", err);
		return;
	}
	if (ct_pg_query(call->pg, actor_sql, 1, actor, NULL, err, sizeof(err)) != CT_OK) {
		api_fail_from_pg(call, actor_sql, err);
		goto fail;
	}
	if (ct_pg_query(call->pg, action_sql, n_action, action_values, NULL, err, sizeof(err)) !=
	    CT_OK) {
		api_fail_from_pg(call, action_sql, err);
		goto fail;
	}
	if (!api_json_query(call, row_sql, n_row, row_values, not_found))
		goto fail;
	if (ct_pg_commit(call->pg, err, sizeof(err)) != CT_OK) {
		api_fail_from_pg(call, "COMMIT", err);
		goto fail;
	}
	ct_info("%s by %s", action_sql, call->user->name);
	return;
fail:
	ct_pg_rollback(call->pg);
}

/* The changed rows, in the shapes the list endpoints give (api_query.h, api_query_thread.c). */
static const char lot_row_sql[] = "SELECT " LOT_JSON " FROM lot_status l"
                                  " WHERE l.site = $1 AND l.lot_id = $2";

static void lot_set(struct api_call *call, bool release)
{
	static const char set_sql[] = "SELECT ct_lot_set($1, $2, $3::smallint, $4, $5)";
	static const char *const states[] = {"held", "quarantined"};
	const char *site = NULL, *reason = NULL, *state = NULL, *state_code = "1";
	json_t *body;

	if (call->path_arg == NULL || !ct_id_is_valid(call->path_arg)) {
		api_fail(call, 404, "not_found", "no such lot");
		return;
	}
	if ((body = body_object(call)) == NULL)
		return;
	if (!body_id(call, body, "site", &site) ||
	    !body_text(call, body, "reason", true, REASON_MAX, &reason))
		goto out;
	if (!release) {
		if (!body_text(call, body, "state", false, 32, &state))
			goto out;
		if (state == NULL || strcmp(state, states[0]) == 0) {
			state_code = "2";
		} else if (strcmp(state, states[1]) == 0) {
			state_code = "3";
		} else {
			api_fail(call, 400, "bad_request", "state: held or quarantined");
			goto out;
		}
	}
	/* No actor: ct_lot_set takes one only from spc-gate's login; for ct-api's it records
	 * ct_actor(), `api:<user>` from the transaction's cellthread.actor (run_as_user). */
	const char *set_values[] = {site, call->path_arg, state_code, reason, NULL};
	const char *row_values[] = {site, call->path_arg};
	run_as_user(call, set_sql, 5, set_values, lot_row_sql, 2, row_values, "no such lot");
out:
	json_decref(body);
}

void api_post_lot_hold(struct api_call *call)
{
	lot_set(call, false);
}

void api_post_lot_release(struct api_call *call)
{
	lot_set(call, true);
}

void api_post_disposition(struct api_call *call)
{
	static const char dispose_sql[] = "SELECT ct_dispose($1::bigint, $2, $3)";
	static const char row_sql[] =
	        "SELECT " INSPECTION_JSON " FROM inspection_item i WHERE i.item_id = $1::bigint";
	const char *disposition = NULL, *reason = NULL;
	json_t *body;
	long item;

	if (call->path_arg == NULL ||
	    ct_parse_long(call->path_arg, 1, 9007199254740991L, &item) != CT_OK) {
		api_fail(call, 404, "not_found", "no such inspection item");
		return;
	}
	if ((body = body_object(call)) == NULL)
		return;
	if (!body_text(call, body, "disposition", true, 16, &disposition) ||
	    !body_text(call, body, "reason", true, REASON_MAX, &reason))
		goto out;
	if (strcmp(disposition, "release") != 0 && strcmp(disposition, "rework") != 0 &&
	    strcmp(disposition, "scrap") != 0) {
		api_fail(call, 400, "bad_request", "disposition: release, rework or scrap");
		goto out;
	}
	const char *values[] = {call->path_arg, disposition, reason};
	run_as_user(call, dispose_sql, 3, values, row_sql, 1, values, "no such inspection item");
out:
	json_decref(body);
}

void api_post_action_undo(struct api_call *call)
{
	static const char undo_sql[] = "SELECT ct_undo_action($1, $2)";
	static const char row_sql[] =
	        "SELECT " ACTION_JSON " FROM automatic_action x WHERE x.command_id = $1";
	const char *reason = NULL;
	json_t *body;

	if (call->path_arg == NULL || !ct_id_is_valid(call->path_arg)) {
		api_fail(call, 404, "not_found", "no such automatic action");
		return;
	}
	if ((body = body_object(call)) == NULL)
		return;
	if (body_text(call, body, "reason", true, REASON_MAX, &reason)) {
		const char *values[] = {call->path_arg, reason};
		run_as_user(call, undo_sql, 2, values, row_sql, 1, values,
		            "no such automatic action");
	}
	json_decref(body);
}
