/* api_query_thread: the digital thread's reads: a unit's traveler with its genealogy, a lot's
 * descendants, lots, verdicts, the inspection queue, automatic actions and alerts.
 *
 * Genealogy rows say parent_id was made from child_id (child_id is the consumed component).
 * Trace back (what a unit is made of) follows child links from the unit, trace forward (what
 * contains a lot) parent links from the lot; both follow the standing links only, as ct_trace
 * does, to 16 levels, and never visit an ID twice on one path (a cycle stops). Lists are
 * newest first, paged (api_query.h). */
#include "api.h"
#include "api_handlers.h"
#include "api_query.h"

static const char *const verdict_words[] = {"unspecified", "pass", "fail", "rework", "scrap"};

void api_get_unit(struct api_call *call)
{
	static const char sql[] =
	        "SELECT json_build_object("
	        " 'unit', json_build_object('unit_id', u.unit_id,"
	        "  'kind', coalesce(k.name, 'unspecified'), 'site', u.site, 'line', u.line,"
	        "  'first_seen_ms', ct_api_ms(u.first_seen_at),"
	        "  'last_seen_ms', ct_api_ms(u.last_seen_at)),"
	        " 'visits', (SELECT coalesce(json_agg(json_build_object("
	        "   'event_id', v.event_id, 'station', v.station, 'station_type', v.station_type,"
	        "   'recipe', v.recipe, 'recipe_version', v.recipe_version,"
	        "   'operator_id', v.operator_id, 'started_ms', ct_api_ms(v.started_at),"
	        "   'ended_ms', ct_api_ms(v.ended_at), 'result', v.result,"
	        "   'measurements', (SELECT coalesce(json_agg(json_build_object("
	        "     'characteristic', m.characteristic, 'value', m.value, 'uom', m.uom)"
	        "     ORDER BY m.seq), '[]') FROM measurement m"
	        "     WHERE m.unit_id = v.unit_id AND m.event_id = v.event_id),"
	        "   'parameters', (SELECT coalesce(json_agg(json_build_object("
	        "     'name', p.name, 'actual', p.actual, 'setpoint', p.setpoint, 'uom', p.uom)"
	        "     ORDER BY p.seq), '[]') FROM process_parameter p"
	        "     WHERE p.event_id = v.event_id),"
	        "   'notes', (SELECT coalesce(json_agg(json_build_object("
	        "     'kind', n.kind, 'code', n.code, 'severity', n.severity, 'author', n.author,"
	        "     'body', n.body, 'at_ms', ct_api_ms(n.at)) ORDER BY n.at, n.seq), '[]')"
	        "     FROM visit_note n WHERE n.unit_id = v.unit_id AND n.event_id = v.event_id),"
	        "   'verdict', (SELECT json_build_object('event_id', d.event_id,"
	        "     'verdict', (ARRAY['unspecified', 'pass', 'fail', 'rework', 'scrap'])"
	        "      [d.verdict + 1], 'failed', d.failed,"
	        "     'inspection_reason', d.inspection_reason, 'held_lots', d.held_lots,"
	        "     'decided_ms', ct_api_ms(d.decided_at))"
	        "     FROM unit_verdict d WHERE d.source_event_id = v.event_id"
	        "     ORDER BY d.decided_at DESC LIMIT 1))"
	        "   ORDER BY v.started_at, v.event_id), '[]')"
	        "  FROM station_visit v WHERE v.unit_id = u.unit_id),"
	        " 'made_from', json_build_object('id', u.unit_id,"
	        "  'kind', coalesce(k.name, 'unspecified'), 'material', NULL, 'quantity', NULL,"
	        "  'uom', NULL, 'station', NULL,"
	        "  'children', ct_api_made_from(u.unit_id, 16, ARRAY[u.unit_id])),"
	        " 'used_in', (SELECT coalesce(json_agg(json_build_object('id', g.parent_id,"
	        "   'kind', coalesce(pk.name, 'unspecified'), 'station', g.station,"
	        "   'assembled_ms', ct_api_ms(g.assembled_at)) ORDER BY g.assembled_at), '[]')"
	        "  FROM genealogy g LEFT JOIN unit pu ON pu.unit_id = g.parent_id"
	        "  LEFT JOIN unit_kind pk ON pk.kind = pu.kind"
	        "  WHERE g.child_id = u.unit_id AND g.ended_at IS NULL),"
	        " 'holds', (SELECT coalesce(json_agg(json_build_object('site', h.site,"
	        "   'lot_id', h.lot_id, 'since_ms', ct_api_ms(h.since)) ORDER BY h.since), '[]')"
	        "  FROM held_unit h WHERE h.unit_id = u.unit_id))"
	        " FROM unit u LEFT JOIN unit_kind k ON k.kind = u.kind WHERE u.unit_id = $1";
	const char *values[1] = {call->path_arg};

	if (call->path_arg == NULL || call->path_arg[0] == '\0') {
		api_fail(call, 400, "bad_request", "id: required");
		return;
	}
	api_json_query(call, sql, 1, values, "no such unit");
}

/* Everything that contains the lot now ($3), once each at its least depth; held: held for
 * any lot (of site $4 when given). 404 when the ID is unknown to the thread. */
void api_get_lot_descendants(struct api_call *call)
{
	static const char sql[] =
	        "SELECT CASE WHEN EXISTS (SELECT 1 FROM unit WHERE unit_id = $3)"
	        " OR EXISTS (SELECT 1 FROM genealogy WHERE child_id = $3)"
	        " OR EXISTS (SELECT 1 FROM lot_status WHERE lot_id = $3) THEN (" LIST_HEAD
	        "WITH RECURSIVE fwd AS ("
	        " SELECT g.parent_id AS id, g.station, 1 AS depth,"
	        "  ARRAY[g.child_id, g.parent_id] AS path"
	        " FROM genealogy g WHERE g.child_id = $3 AND g.ended_at IS NULL"
	        " UNION ALL"
	        " SELECT g.parent_id, g.station, f.depth + 1, f.path || g.parent_id"
	        " FROM fwd f JOIN genealogy g ON g.child_id = f.id AND g.ended_at IS NULL"
	        " WHERE f.depth < 16 AND g.parent_id <> ALL (f.path)),"
	        " d AS (SELECT DISTINCT ON (id) id, station, depth FROM fwd ORDER BY id, depth)"
	        " SELECT json_build_object('unit_id', d.id, 'kind', coalesce(k.name, "
	        "'unspecified'),"
	        "  'depth', d.depth, 'line', u.line, 'station', d.station,"
	        "  'held', EXISTS (SELECT 1 FROM held_unit h WHERE h.unit_id = d.id"
	        "                  AND ($4::text IS NULL OR h.site = $4))) AS item"
	        " FROM d LEFT JOIN unit u ON u.unit_id = d.id LEFT JOIN unit_kind k ON k.kind = "
	        "u.kind"
	        " ORDER BY d.depth, d.id LIMIT $1::int + 1 OFFSET $2::int" LIST_TAIL ") END";
	struct query_args a;
	struct query_page page;
	const char *site;

	if (call->path_arg == NULL || call->path_arg[0] == '\0') {
		api_fail(call, 400, "bad_request", "id: required");
		return;
	}
	if (!query_page(call, &page) || !api_param_name(call, "site", false, &site))
		return;
	query_args_init(&a);
	query_arg_long(&a, page.limit);
	query_arg_long(&a, page.offset);
	query_arg_str(&a, call->path_arg);
	query_arg_str(&a, site);
	api_json_query(call, sql, a.n, a.values, "no such lot");
}

/* Lots with a state row (a lot without one has never been held): held or quarantined
 * (state=held, the default) or all. */
void api_get_lots(struct api_call *call)
{
	static const char *const states[] = {"held", "all"};
	static const char sql[] = LIST_HEAD
	        "SELECT " LOT_JSON " AS item FROM lot_status l"
	        " WHERE ($3::boolean OR l.state <> 1) AND ($4::text IS NULL OR l.site = $4)"
	        " ORDER BY l.changed_at DESC, l.site, l.lot_id"
	        " LIMIT $1::int + 1 OFFSET $2::int" LIST_TAIL;
	struct query_args a;
	struct query_page page;
	const char *site;
	int state;

	if (!query_page(call, &page) || !api_param_enum(call, "state", states, 2, 0, &state) ||
	    !api_param_name(call, "site", false, &site))
		return;
	query_args_init(&a);
	query_arg_long(&a, page.limit);
	query_arg_long(&a, page.offset);
	query_arg_str(&a, state == 1 ? "true" : "false");
	query_arg_str(&a, site);
	api_json_query(call, sql, a.n, a.values, "no lots");
}

/* Verdicts decided in [from, to]. */
void api_get_verdicts(struct api_call *call)
{
	static const char sql[] = LIST_HEAD
	        "SELECT json_build_object('event_id', d.event_id, 'unit_id', d.unit_id,"
	        " 'site', d.site, 'line', d.line, 'station', d.station,"
	        " 'source_event_id', d.source_event_id,"
	        " 'verdict', (ARRAY['unspecified', 'pass', 'fail', 'rework', 'scrap'])"
	        "  [d.verdict + 1], 'failed', d.failed, 'inspection_reason', d.inspection_reason,"
	        " 'held_lots', d.held_lots, 'recipe', d.recipe, 'recipe_version', d.recipe_version,"
	        " 'decided_ms', ct_api_ms(d.decided_at)) AS item"
	        " FROM unit_verdict d"
	        " WHERE d.decided_at >= ct_api_at($3::bigint) AND d.decided_at <= "
	        "ct_api_at($4::bigint)"
	        "  AND ($5::text IS NULL OR d.site = $5) AND ($6::text IS NULL OR d.line = $6)"
	        "  AND ($7::text IS NULL OR d.station = $7)"
	        "  AND ($8::smallint IS NULL OR d.verdict = $8)"
	        " ORDER BY d.decided_at DESC, d.event_id"
	        " LIMIT $1::int + 1 OFFSET $2::int" LIST_TAIL;
	struct query_args a;
	struct query_page page;
	struct query_range r;
	const char *site, *line, *station;
	int verdict;

	if (!query_page(call, &page) || !query_range(call, &r) ||
	    !api_param_name(call, "site", false, &site) ||
	    !api_param_name(call, "line", false, &line) ||
	    !api_param_name(call, "station", false, &station) ||
	    !api_param_enum(call, "verdict", verdict_words, 5, -1, &verdict))
		return;
	query_args_init(&a);
	query_arg_long(&a, page.limit);
	query_arg_long(&a, page.offset);
	query_arg_long(&a, r.from_us);
	query_arg_long(&a, r.to_us);
	query_arg_str(&a, site);
	query_arg_str(&a, line);
	query_arg_str(&a, station);
	if (verdict >= 0)
		query_arg_long(&a, verdict);
	else
		query_arg_str(&a, NULL);
	api_json_query(call, sql, a.n, a.values, "no verdicts");
}

/* The inspection and rework queues: open items (open=true, the default) or disposed ones
 * (open=false), of one queue or both. */
void api_get_inspection(struct api_call *call)
{
	static const char *const queues[] = {"inspection", "rework"};
	static const char *const bools[] = {"true", "false"};
	static const char sql[] = LIST_HEAD
	        "SELECT " INSPECTION_JSON " AS item"
	        " FROM inspection_item i"
	        " WHERE ($3::boolean = (i.disposition IS NULL)) AND ($4::text IS NULL OR i.queue = "
	        "$4)"
	        " ORDER BY i.entered_at DESC, i.item_id DESC"
	        " LIMIT $1::int + 1 OFFSET $2::int" LIST_TAIL;
	struct query_args a;
	struct query_page page;
	int queue, open;

	if (!query_page(call, &page) || !api_param_enum(call, "queue", queues, 2, -1, &queue) ||
	    !api_param_enum(call, "open", bools, 2, 0, &open))
		return;
	query_args_init(&a);
	query_arg_long(&a, page.limit);
	query_arg_long(&a, page.offset);
	query_arg_str(&a, open == 0 ? "true" : "false");
	query_arg_str(&a, queue >= 0 ? queues[queue] : NULL);
	api_json_query(call, sql, a.n, a.values, "no items");
}

/* Automatic actions decided in [from, to]. */
void api_get_actions(struct api_call *call)
{
	static const char sql[] = LIST_HEAD
	        "SELECT " ACTION_JSON " AS item"
	        " FROM automatic_action x"
	        " WHERE x.decided_at >= ct_api_at($3::bigint) AND x.decided_at <= "
	        "ct_api_at($4::bigint)"
	        "  AND ($5::text IS NULL OR x.site = $5) AND ($6::text IS NULL OR x.line = $6)"
	        "  AND ($7::text IS NULL OR x.station = $7)"
	        " ORDER BY x.decided_at DESC, x.command_id"
	        " LIMIT $1::int + 1 OFFSET $2::int" LIST_TAIL;
	struct query_args a;
	struct query_page page;
	struct query_range r;
	const char *site, *line, *station;

	if (!query_page(call, &page) || !query_range(call, &r) ||
	    !api_param_name(call, "site", false, &site) ||
	    !api_param_name(call, "line", false, &line) ||
	    !api_param_name(call, "station", false, &station))
		return;
	query_args_init(&a);
	query_arg_long(&a, page.limit);
	query_arg_long(&a, page.offset);
	query_arg_long(&a, r.from_us);
	query_arg_long(&a, r.to_us);
	query_arg_str(&a, site);
	query_arg_str(&a, line);
	query_arg_str(&a, station);
	api_json_query(call, sql, a.n, a.values, "no actions");
}

/* Alerts: active ones (not closed: state=active, the default) or all, at least severity. */
void api_get_alerts(struct api_call *call)
{
	static const char *const states[] = {"active", "all"};
	static const char sql[] = LIST_HEAD
	        "SELECT " ALERT_JSON " AS item FROM alert a"
	        " WHERE ($3::boolean OR a.closed_at IS NULL) AND a.severity >= $4::int"
	        "  AND ($5::text IS NULL OR a.site = $5) AND ($6::text IS NULL OR a.line = $6)"
	        "  AND ($7::text IS NULL OR a.station = $7)"
	        " ORDER BY a.raised_at DESC, a.alert_id"
	        " LIMIT $1::int + 1 OFFSET $2::int" LIST_TAIL;
	struct query_args a;
	struct query_page page;
	const char *site, *line, *station;
	long severity;
	int state;

	if (!query_page(call, &page) || !api_param_enum(call, "state", states, 2, 0, &state) ||
	    !api_param_long(call, "severity", 1, 1, 5, &severity) ||
	    !api_param_name(call, "site", false, &site) ||
	    !api_param_name(call, "line", false, &line) ||
	    !api_param_name(call, "station", false, &station))
		return;
	query_args_init(&a);
	query_arg_long(&a, page.limit);
	query_arg_long(&a, page.offset);
	query_arg_str(&a, state == 1 ? "true" : "false");
	query_arg_long(&a, severity);
	query_arg_str(&a, site);
	query_arg_str(&a, line);
	query_arg_str(&a, station);
	api_json_query(call, sql, a.n, a.values, "no alerts");
}

void api_get_alert(struct api_call *call)
{
	static const char sql[] =
	        "SELECT (" ALERT_JSON "::jsonb || jsonb_build_object('transitions',"
	        " (SELECT coalesce(jsonb_agg(jsonb_build_object('at_ms', ct_api_ms(t.at),"
	        "   'from_state', t.from_state, 'to_state', t.to_state, 'action', t.action,"
	        "   'actor', t.actor, 'credential', t.credential, 'reason', t.reason)"
	        "   ORDER BY t.seq), '[]') FROM alert_transition t WHERE t.alert_id = a.alert_id)))"
	        " FROM alert a WHERE a.alert_id = $1";
	const char *values[1] = {call->path_arg};

	if (call->path_arg == NULL || call->path_arg[0] == '\0') {
		api_fail(call, 400, "bad_request", "id: required");
		return;
	}
	api_json_query(call, sql, 1, values, "no such alert");
}
