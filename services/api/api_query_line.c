/* api_query_line: the line at a glance (overview, stations, characteristics), and the helpers
 * every read handler shares (api_query.h).
 *
 * Stations and series are found with a loose index scan (a recursive query that jumps from
 * one key of an index to the next), so listing them costs one index probe per station or
 * series, not a read of every visit or measurement. */
#include <stdio.h>
#include <stdlib.h>

#include "api.h"
#include "api_handlers.h"
#include "api_query.h"
#include "ct_time.h"

#define HOUR_US      (3600LL * 1000000LL)
#define MAX_RANGE_US (400LL * 24 * HOUR_US)

void query_args_init(struct query_args *a)
{
	a->n = 0;
}

static char *next_slot(struct query_args *a)
{
	if (a->n >= QUERY_MAX_ARGS)
		abort(); /* a handler with more parameters than the table: a programming error */
	return a->text[a->n];
}

void query_arg_str(struct query_args *a, const char *s)
{
	next_slot(a);
	a->values[a->n++] = s;
}

void query_arg_long(struct query_args *a, long long v)
{
	char *slot = next_slot(a);

	snprintf(slot, sizeof(a->text[0]), "%lld", v);
	a->values[a->n++] = slot;
}

void query_arg_double(struct query_args *a, double v)
{
	char *slot = next_slot(a);

	/* %.17g round-trips a double; PostgreSQL reads it back to the same value. */
	snprintf(slot, sizeof(a->text[0]), "%.17g", v);
	a->values[a->n++] = slot;
}

bool query_range(struct api_call *call, struct query_range *ret)
{
	return query_range_span(call, HOUR_US, ret);
}

bool query_range_span(struct api_call *call, int64_t default_span_us, struct query_range *ret)
{
	int64_t from_us, to_us;

	if (!api_param_time_us(call, "to", ct_now_us(), &to_us) ||
	    !api_param_time_us(call, "from", to_us - default_span_us, &from_us))
		return false;
	if (from_us > to_us)
		return api_fail(call, 400, "bad_request", "from: after to");
	if (to_us - from_us > MAX_RANGE_US)
		return api_fail(call, 400, "bad_request", "from: more than 400 days before to");
	ret->from_us = from_us;
	ret->to_us = to_us;
	return true;
}

bool query_page(struct api_call *call, struct query_page *ret)
{
	return api_param_long(call, "limit", 100, 1, 1000, &ret->limit) &&
	       api_param_long(call, "offset", 0, 0, 100000, &ret->offset);
}

/* The stations of the line ($1 site, $2 line, both optional): the keys of the index
 * station_visit_station one probe each, then each one's last visit and its last hour. A
 * result is a failure when the station's own checks failed (NOK); an aborted one is not. */
#define STATIONS_CTE                                                                               \
	"WITH RECURSIVE k AS ("                                                                    \
	" (SELECT v.site, v.line, v.station FROM station_visit v ORDER BY 1, 2, 3 LIMIT 1)"        \
	" UNION ALL"                                                                               \
	" SELECT n.site, n.line, n.station FROM k CROSS JOIN LATERAL ("                            \
	"  SELECT v.site, v.line, v.station FROM station_visit v"                                  \
	"  WHERE (v.site, v.line, v.station) > (k.site, k.line, k.station)"                        \
	"  ORDER BY 1, 2, 3 LIMIT 1) n),"                                                          \
	" st AS (SELECT k.site, k.line, k.station, z.station_type, z.unit_id, z.result,"           \
	"  z.ended_at, h.results, h.fails,"                                                        \
	"  EXISTS (SELECT 1 FROM alert_station_stop x WHERE x.site = k.site"                       \
	"          AND x.line = k.line AND x.station = k.station) AS stopped"                      \
	"  FROM k CROSS JOIN LATERAL ("                                                            \
	"   SELECT v.station_type, v.unit_id, v.result, v.ended_at FROM station_visit v"           \
	"   WHERE v.site = k.site AND v.line = k.line AND v.station = k.station"                   \
	"   ORDER BY v.ended_at DESC LIMIT 1) z"                                                   \
	"  CROSS JOIN LATERAL ("                                                                   \
	"   SELECT count(*) AS results, count(*) FILTER (WHERE v.result = 2) AS fails"             \
	"   FROM station_visit v"                                                                  \
	"   WHERE v.site = k.site AND v.line = k.line AND v.station = k.station"                   \
	"     AND v.ended_at > now() - interval '1 hour') h"                                       \
	"  WHERE ($1::text IS NULL OR k.site = $1) AND ($2::text IS NULL OR k.line = $2))"

#define STATION_JSON                                                                               \
	"json_build_object('site', st.site, 'line', st.line, 'station', st.station,"               \
	" 'station_type', st.station_type, 'last_unit_id', st.unit_id,"                            \
	" 'last_result', st.result, 'last_ended_ms', ct_api_ms(st.ended_at),"                      \
	" 'results_1h', st.results, 'fail_1h', st.fails, 'stopped', st.stopped)"

static bool site_line(struct api_call *call, struct query_args *a)
{
	const char *site, *line;

	if (!api_param_name(call, "site", false, &site) ||
	    !api_param_name(call, "line", false, &line))
		return false;
	query_arg_str(a, site);
	query_arg_str(a, line);
	return true;
}

void api_get_stations(struct api_call *call)
{
	static const char sql[] =
	        STATIONS_CTE " SELECT json_build_object('items', coalesce(json_agg(" STATION_JSON
	                     " ORDER BY st.site, st.line, st.station), '[]')) FROM st";
	struct query_args a;

	query_args_init(&a);
	if (site_line(call, &a))
		api_json_query(call, sql, a.n, a.values, "no stations");
}

/* Active alerts are those not closed (closed_at NULL: not yet back to NORMAL), most severe
 * first; held lots newest first. */
void api_get_overview(struct api_call *call)
{
	static const char sql[] = STATIONS_CTE
	        ", al AS (SELECT a.* FROM alert a WHERE a.closed_at IS NULL"
	        "  AND ($1::text IS NULL OR a.site = $1) AND ($2::text IS NULL OR a.line = $2)),"
	        " hl AS (SELECT l.* FROM lot_status l WHERE l.state <> 1"
	        "  AND ($1::text IS NULL OR l.site = $1))"
	        " SELECT json_build_object("
	        "  'stations', (SELECT coalesce(json_agg(" STATION_JSON
	        "   ORDER BY st.site, st.line, st.station), '[]') FROM st),"
	        "  'alerts', (SELECT coalesce(json_agg(x.j ORDER BY x.severity DESC, x.raised_at "
	        "DESC,"
	        "   x.alert_id), '[]') FROM (SELECT " ALERT_JSON " AS j, a.severity, a.raised_at,"
	        "   a.alert_id FROM al a ORDER BY a.severity DESC, a.raised_at DESC, a.alert_id"
	        "   LIMIT 20) x),"
	        "  'held_lots', (SELECT coalesce(json_agg(x.j ORDER BY x.changed_at DESC, "
	        "x.lot_id),"
	        "   '[]') FROM (SELECT " LOT_JSON " AS j, l.changed_at, l.lot_id FROM hl l"
	        "   ORDER BY l.changed_at DESC, l.lot_id LIMIT 50) x),"
	        "  'counts', json_build_object("
	        "   'active_alerts', (SELECT count(*) FROM al),"
	        "   'held_lots', (SELECT count(*) FROM hl),"
	        "   'inspection_open', (SELECT count(*) FROM inspection_item i"
	        "    WHERE i.disposition IS NULL AND ($1::text IS NULL OR i.site = $1)"
	        "    AND ($2::text IS NULL OR i.line = $2)),"
	        "   'results_1h', (SELECT coalesce(sum(st.results), 0)::bigint FROM st),"
	        "   'fail_1h', (SELECT coalesce(sum(st.fails), 0)::bigint FROM st)),"
	        "  'now_ms', ct_api_ms(now()))";
	struct query_args a;

	query_args_init(&a);
	if (site_line(call, &a))
		api_json_query(call, sql, a.n, a.values, "nothing to show");
}

/* Every series in the rollup ($1-$3 filter it), with n: its values in [from, to] counted by
 * whole minutes (the minutes that start in the range), and its last value at or before to:
 * when and in which unit. */
void api_get_characteristics(struct api_call *call)
{
	static const char sql[] =
	        "WITH RECURSIVE k AS ("
	        " (SELECT r.site, r.line, r.station, r.characteristic FROM measurement_rollup r"
	        "  ORDER BY 1, 2, 3, 4 LIMIT 1)"
	        " UNION ALL"
	        " SELECT n.* FROM k CROSS JOIN LATERAL ("
	        "  SELECT r.site, r.line, r.station, r.characteristic FROM measurement_rollup r"
	        "  WHERE (r.site, r.line, r.station, r.characteristic)"
	        "        > (k.site, k.line, k.station, k.characteristic)"
	        "  ORDER BY 1, 2, 3, 4 LIMIT 1) n)"
	        " SELECT json_build_object('items', coalesce(json_agg(json_build_object("
	        "  'site', k.site, 'line', k.line, 'station', k.station,"
	        "  'characteristic', k.characteristic, 'uom', z.uom, 'n', c.n,"
	        "  'last_ms', ct_api_ms(z.measured_at))"
	        "  ORDER BY k.site, k.line, k.station, k.characteristic), '[]'))"
	        " FROM k CROSS JOIN LATERAL ("
	        "  SELECT coalesce(sum(r.n), 0)::bigint AS n FROM measurement_rollup r"
	        "  WHERE r.site = k.site AND r.line = k.line AND r.station = k.station"
	        "    AND r.characteristic = k.characteristic"
	        "    AND r.minute >= ct_api_at($4::bigint) AND r.minute <= ct_api_at($5::bigint)) c"
	        " LEFT JOIN LATERAL ("
	        "  SELECT m.uom, m.measured_at FROM measurement m"
	        "  WHERE m.site = k.site AND m.line = k.line AND m.station = k.station"
	        "    AND m.characteristic = k.characteristic AND m.measured_at <= "
	        "ct_api_at($5::bigint)"
	        "  ORDER BY m.measured_at DESC LIMIT 1) z ON true"
	        " WHERE ($1::text IS NULL OR k.site = $1) AND ($2::text IS NULL OR k.line = $2)"
	        "   AND ($3::text IS NULL OR k.station = $3)";
	struct query_args a;
	struct query_range r;
	const char *station;

	query_args_init(&a);
	if (!site_line(call, &a) || !api_param_name(call, "station", false, &station) ||
	    !query_range(call, &r))
		return;
	query_arg_str(&a, station);
	query_arg_long(&a, r.from_us);
	query_arg_long(&a, r.to_us);
	api_json_query(call, sql, a.n, a.values, "no characteristics");
}
