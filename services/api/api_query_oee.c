/* api_query_oee: OEE and the three plant metrics (closed-loop response time, traceability
 * depth, maintainability), all through the SQL functions of migration 0011 (docs/oee.md).
 *
 * The figures are computed by PostgreSQL (ct_oee_*, ct_response_*, ct_trace_depth*,
 * ct_maintainability); the handlers only validate the arguments and choose the window. The
 * OEE routes share one window: a shift by its ID (`shift=2026-12-07/A`), an explicit
 * `from`/`to`, or by default the shift open now (the last 8 hours when the calendar has no
 * shift now). Their statements take $1 site, $2 line, $3 shift, $4 from and $5 to (NULL when
 * not given) and see the window as the CTE `w(shift_id, f, t)`; a shift that is not in the
 * calendar leaves w empty, which is a 404. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "api_handlers.h"
#include "api_query.h"

#define HOUR_US (3600LL * 1000000LL)
#define DAY_US  (24 * HOUR_US)
#define SQL_MAX 4096

/* The windows. Every variant names $3, $4 and $5, so PostgreSQL can type each parameter. A
 * shift's window ends at its end or now, whichever is first: the rest has not happened. */
#define WINDOW_SHIFT                                                                               \
	"w AS (SELECT s.shift_id, s.starts_at AS f, least(s.ends_at, now()) AS t"                  \
	" FROM ct_oee_shifts($1, $2,"                                                              \
	"  (split_part($3::text, '/', 1)::date - 1)::timestamp AT TIME ZONE 'UTC',"                \
	"  (split_part($3::text, '/', 1)::date + 2)::timestamp AT TIME ZONE 'UTC') s"              \
	" WHERE s.shift_id = $3::text AND $4::bigint IS NULL AND $5::bigint IS NULL)"
#define WINDOW_RANGE                                                                               \
	"w AS (SELECT NULL::text AS shift_id, ct_api_at($4::bigint) AS f,"                         \
	" ct_api_at($5::bigint) AS t WHERE $3::text IS NULL)"
#define WINDOW_OPEN                                                                                \
	"w0 AS (SELECT s.shift_id, s.starts_at AS f, now() AS t"                                   \
	" FROM ct_oee_shifts($1, $2, now(), now() + interval '1 second') s"                        \
	" WHERE $3::text IS NULL AND $4::bigint IS NULL AND $5::bigint IS NULL"                    \
	" ORDER BY s.starts_at DESC LIMIT 1),"                                                     \
	" w AS (SELECT * FROM w0 UNION ALL SELECT NULL::text, now() - interval '8 hours', now()"   \
	" WHERE NOT EXISTS (SELECT 1 FROM w0))"

/* The window's own fields, added to every OEE answer. */
#define WINDOW_JSON                                                                                \
	"'window_shift_id', w.shift_id, 'window_from_ms', ct_api_ms(w.f),"                         \
	" 'window_to_ms', ct_api_ms(w.t)"

/* A shift ID: YYYY-MM-DD/NAME, NAME a pattern's name (a name argument's characters). */
static bool shift_id_ok(const char *v)
{
	for (int i = 0; i < 10; i++) {
		bool dash = i == 4 || i == 7;
		if (dash ? v[i] != '-' : !isdigit((unsigned char)v[i]))
			return false;
	}
	return v[10] == '/' && v[11] != '\0' && strchr(v + 11, '/') == NULL;
}

/* Reads site and line (required), the window (shift, or from/to, or neither) and appends
 * $1-$5; *window is the CTE for them. */
static bool oee_window(struct api_call *call, struct query_args *a, const char **window)
{
	const char *site, *line, *shift;
	bool has_range = api_param(call, "from") != NULL || api_param(call, "to") != NULL;
	struct query_range r;

	if (!api_param_name(call, "site", true, &site) ||
	    !api_param_name(call, "line", true, &line) ||
	    !api_param_name(call, "shift", false, &shift))
		return false;
	if (shift != NULL && !shift_id_ok(shift))
		return api_fail(call, 400, "bad_request", "shift: expected YYYY-MM-DD/NAME");
	if (shift != NULL && has_range)
		return api_fail(call, 400, "bad_request",
		                "shift: give a shift or from/to, not both");
	query_arg_str(a, site);
	query_arg_str(a, line);
	query_arg_str(a, shift);
	if (has_range) {
		if (!query_range_span(call, 8 * HOUR_US, &r))
			return false;
		query_arg_long(a, r.from_us);
		query_arg_long(a, r.to_us);
		*window = WINDOW_RANGE;
	} else {
		query_arg_str(a, NULL);
		query_arg_str(a, NULL);
		*window = shift != NULL ? WINDOW_SHIFT : WINDOW_OPEN;
	}
	return true;
}

/* Runs "WITH <window>, <rest>" (rest: more CTEs or a SELECT, after a comma or a space). */
static void window_query(struct api_call *call, const char *window, const char *rest,
                         const struct query_args *a)
{
	char sql[SQL_MAX];
	int n = snprintf(sql, sizeof(sql), "WITH %s %s", window, rest);

	if (n < 0 || (size_t)n >= sizeof(sql)) {
		api_fail(call, 500, "internal", "statement too long");
		return;
	}
	api_json_query(call, sql, a->n, a->values, "no such shift in the calendar");
}

/* The line's figures and every station's, for the window. A shift goes through
 * ct_oee_shift (its "until" is the shift's end or now); a from/to range through
 * ct_oee_line. */
void api_get_oee(struct api_call *call)
{
	static const char rest[] =
	        "SELECT CASE WHEN w.shift_id IS NOT NULL THEN ct_oee_shift($1, $2, '', w.shift_id)"
	        " ELSE ct_oee_line($1, $2, w.f, w.t) END || jsonb_build_object(" WINDOW_JSON ")"
	        " FROM w";
	struct query_args a;
	const char *window;

	query_args_init(&a);
	if (oee_window(call, &a, &window))
		window_query(call, window, rest, &a);
}

/* The losses of the window by reason, largest first (one station, or the whole line). */
void api_get_oee_pareto(struct api_call *call)
{
	static const char rest[] =
	        "SELECT json_build_object(" WINDOW_JSON ", 'station', $6::text,"
	        " 'items', (SELECT coalesce(json_agg(json_build_object('category', p.category,"
	        "  'reason_code', p.reason_code, 'seconds', p.seconds, 'count', p.count)"
	        "  ORDER BY p.seconds DESC, p.category, p.reason_code), '[]')"
	        "  FROM ct_oee_pareto($1, $2, $6::text, w.f, w.t) p)) FROM w";
	struct query_args a;
	const char *window, *station;

	query_args_init(&a);
	if (!oee_window(call, &a, &window) || !api_param_name(call, "station", false, &station))
		return;
	query_arg_str(&a, station);
	window_query(call, window, rest, &a);
}

/* The changeovers of the window, and their durations per recipe pair. */
void api_get_oee_changeovers(struct api_call *call)
{
	static const char rest[] =
	        ", c AS (SELECT * FROM w CROSS JOIN LATERAL ct_oee_changeovers($1, $2, w.f, w.t) x)"
	        " SELECT json_build_object(" WINDOW_JSON ","
	        " 'items', (SELECT coalesce(json_agg(json_build_object('station', c.station,"
	        "  'from_recipe', c.from_recipe, 'to_recipe', c.to_recipe,"
	        "  'started_ms', ct_api_ms(c.started_at), 'duration_s', c.duration_s)"
	        "  ORDER BY c.started_at, c.station), '[]') FROM c),"
	        " 'pairs', (SELECT coalesce(json_agg(json_build_object('from_recipe', p.fr,"
	        "  'to_recipe', p.tr, 'n', p.n, 'mean_s', p.mean_s, 'max_s', p.max_s)"
	        "  ORDER BY p.mean_s DESC, p.fr, p.tr), '[]') FROM ("
	        "  SELECT c.from_recipe AS fr, c.to_recipe AS tr, count(*) AS n,"
	        "  avg(c.duration_s) AS mean_s, max(c.duration_s) AS max_s FROM c"
	        "  GROUP BY c.from_recipe, c.to_recipe) p)) FROM w";
	struct query_args a;
	const char *window;

	query_args_init(&a);
	if (oee_window(call, &a, &window))
		window_query(call, window, rest, &a);
}

/* The arguments $1 site, $2 line (both required), $3 from and $4 to (us; the last span_us by
 * default) of a per-line query into a; false when the request was refused (answered). */
static bool site_line_range(struct api_call *call, int64_t span_us, struct query_args *a)
{
	struct query_range r;
	const char *site, *line;

	query_args_init(a);
	if (!api_param_name(call, "site", true, &site) ||
	    !api_param_name(call, "line", true, &line) || !query_range_span(call, span_us, &r))
		return false;
	query_arg_str(a, site);
	query_arg_str(a, line);
	query_arg_long(a, r.from_us);
	query_arg_long(a, r.to_us);
	return true;
}

/* The shift calendar's instances over from/to (default the last 7 days), newest first. */
void api_get_oee_shifts(struct api_call *call)
{
	static const char sql[] =
	        "SELECT json_build_object('items', coalesce(json_agg(json_build_object("
	        " 'shift_id', s.shift_id, 'name', s.name, 'starts_ms', ct_api_ms(s.starts_at),"
	        " 'ends_ms', ct_api_ms(s.ends_at), 'open', s.starts_at <= now() AND now() < "
	        "s.ends_at)"
	        " ORDER BY s.starts_at DESC, s.shift_id), '[]'))"
	        " FROM ct_oee_shifts($1, $2, ct_api_at($3::bigint), ct_api_at($4::bigint)) s";
	struct query_args a;

	if (!site_line_range(call, 7 * DAY_US, &a))
		return;
	api_json_query(call, sql, a.n, a.values, "no shifts");
}

/* Closed-loop response: the newest `limit` automatic actions with their times, and the
 * distribution per station and reaction plan. Default range: the last 24 hours. */
void api_get_metrics_response(struct api_call *call)
{
	static const char sql[] =
	        "WITH x AS (SELECT * FROM ct_response_times($1, $2, $3, ct_api_at($4::bigint),"
	        " ct_api_at($5::bigint)))"
	        " SELECT json_build_object('from_ms', $4::bigint / 1000, 'to_ms', $5::bigint / "
	        "1000,"
	        " 'count', (SELECT count(*) FROM x),"
	        " 'items', (SELECT coalesce(json_agg(json_build_object('command_id', y.command_id,"
	        "  'site', y.site, 'line', y.line, 'station', y.station, 'kind', y.kind,"
	        "  'reaction_plan', y.reaction_plan, 'chart_id', y.chart_id,"
	        "  'cause_event_id', y.cause_event_id, 'result_ms', ct_api_ms(y.result_at),"
	        "  'published_ms', ct_api_ms(y.published_at), 'acked_ms', ct_api_ms(y.acked_at),"
	        "  'ack_status', y.ack_status, 'signal_to_command_ms', y.signal_to_command_ms,"
	        "  'command_to_ack_ms', y.command_to_ack_ms, 'total_ms', y.total_ms)"
	        "  ORDER BY y.published_at DESC, y.command_id), '[]') FROM ("
	        "  SELECT * FROM x ORDER BY x.published_at DESC, x.command_id LIMIT $6::int) y),"
	        " 'summary', (SELECT coalesce(json_agg(json_build_object('station', s.station,"
	        "  'reaction_plan', s.reaction_plan, 'n', s.n, 'acked', s.acked,"
	        "  'rejected', s.rejected, 'expired', s.expired,"
	        "  'signal_p50_ms', s.signal_p50_ms, 'signal_p90_ms', s.signal_p90_ms,"
	        "  'signal_max_ms', s.signal_max_ms, 'ack_p50_ms', s.ack_p50_ms,"
	        "  'ack_p90_ms', s.ack_p90_ms, 'ack_max_ms', s.ack_max_ms,"
	        "  'total_p50_ms', s.total_p50_ms, 'total_p90_ms', s.total_p90_ms)"
	        "  ORDER BY s.station, s.reaction_plan), '[]')"
	        "  FROM ct_response_summary($1, $2, ct_api_at($4::bigint), ct_api_at($5::bigint),"
	        "  $3) s))";
	struct query_args a;
	struct query_range r;
	const char *site, *line, *station;
	long limit;

	query_args_init(&a);
	if (!api_param_name(call, "site", false, &site) ||
	    !api_param_name(call, "line", false, &line) ||
	    !api_param_name(call, "station", false, &station) ||
	    !query_range_span(call, DAY_US, &r) ||
	    !api_param_long(call, "limit", 100, 1, 1000, &limit))
		return;
	query_arg_str(&a, site);
	query_arg_str(&a, line);
	query_arg_str(&a, station);
	query_arg_long(&a, r.from_us);
	query_arg_long(&a, r.to_us);
	query_arg_long(&a, limit);
	api_json_query(call, sql, a.n, a.values, "no response times");
}

/* Traceability depth: one unit's score and what it misses (unit=), or a line's share of
 * complete units made in from/to (default the last hour, at most a day) and its worst ones.
 * The line's answer scores every unit (about 2 ms a cell): a day of a fast line is already
 * seconds, a month would outlive the statement timeout and load the database for nothing. */
void api_get_metrics_trace_depth(struct api_call *call)
{
	static const char *const kinds[] = {"cell", "module", "pack"};
	static const char unit_sql[] =
	        "SELECT ct_trace_depth(u.unit_id) FROM unit u WHERE u.unit_id = $1";
	static const char line_sql[] =
	        "SELECT ct_trace_depth_line($1, $2, ct_api_at($3::bigint), ct_api_at($4::bigint),"
	        " $5::smallint) || jsonb_build_object('from_ms', $3::bigint / 1000,"
	        " 'to_ms', $4::bigint / 1000, 'unit_kind', $6::text)";
	struct query_args a;
	struct query_range r;
	const char *unit, *site, *line;
	int kind;

	query_args_init(&a);
	if (!api_param_name(call, "unit", false, &unit))
		return;
	if (unit != NULL) {
		query_arg_str(&a, unit);
		api_json_query(call, unit_sql, a.n, a.values, "no such unit");
		return;
	}
	if (!api_param_name(call, "site", true, &site) ||
	    !api_param_name(call, "line", true, &line) || !query_range_span(call, HOUR_US, &r) ||
	    !api_param_enum(call, "kind", kinds, 3, 0, &kind))
		return;
	if (r.to_us - r.from_us > DAY_US) {
		api_fail(call, 400, "bad_request",
		         "from: a line's traceability depth covers at most 24 hours before to");
		return;
	}
	query_arg_str(&a, site);
	query_arg_str(&a, line);
	query_arg_long(&a, r.from_us);
	query_arg_long(&a, r.to_us);
	query_arg_long(&a, 4 + kind); /* UnitKind: CELL 4, MODULE 5, PACK 6 */
	query_arg_str(&a, kinds[kind]);
	api_json_query(call, line_sql, a.n, a.values, "nothing to score");
}

/* Maintainability: time to acknowledge and to restore per station, asset and reason, from
 * alerts and stops in from/to (default the last 7 days). */
void api_get_metrics_maintainability(struct api_call *call)
{
	static const char sql[] =
	        "SELECT ct_maintainability($1, $2, ct_api_at($3::bigint), ct_api_at($4::bigint))"
	        " || jsonb_build_object('from_ms', $3::bigint / 1000, 'to_ms', $4::bigint / 1000)";
	struct query_args a;

	if (!site_line_range(call, 7 * DAY_US, &a))
		return;
	api_json_query(call, sql, a.n, a.values, "nothing to show");
}
