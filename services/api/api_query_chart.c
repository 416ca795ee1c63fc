/* api_query_chart: one characteristic: run chart, histogram, control chart, capability, and
 * the list of control charts.
 *
 * A week of one characteristic is millions of values, so nothing here reads them all unless
 * the answer needs every one (the histogram's exact counts, capability). Counts, extremes and
 * sums of a time range come from the per-minute rollup (migration 0010) for the whole minutes
 * inside it and from measurement for the partial minutes at its two ends: exact, and a few
 * thousand rows for a week. The run chart returns every value when there are at most `points`
 * of them, else the minimum and maximum of each time bucket (so spikes stay visible), taken
 * from the rollup when a bucket is at least a minute (buckets are then whole minutes) and
 * from measurement otherwise.
 *
 * A series is (site, line, station, characteristic). The station may be left out when one
 * station measures the characteristic; when several do, the request is refused with the list
 * to choose from, rather than mixing two stations' values in one chart. */
#include <math.h>
#include <stdio.h>

#include "api.h"
#include "api_handlers.h"
#include "api_query.h"
#include "api_server.h"
#include "ct_error.h"
#include "ct_pg.h"

#define MINUTE_US (60LL * 1000000LL)
/* Above this many values a run chart's buckets come from the rollup even when shorter than a
 * minute were asked for: aggregating more raw rows costs more than the target of 200 ms. */
#define RAW_BUCKET_BUDGET 200000

struct series {
	char site[129], line[129], station[129];
	const char *characteristic;
	const char *recipe; /* NULL: every recipe */
};

/* The series of the request: site, line, station as given, or the only station measuring the
 * characteristic. Fails the call (400 ambiguous, 404 unknown) and returns false otherwise. */
static bool series_resolve(struct api_call *call, struct series *ret)
{
	/* The keys of the characteristic in the rollup, one index probe each. */
	static const char sql[] =
	        "WITH RECURSIVE k AS ("
	        " (SELECT r.site, r.line, r.station FROM measurement_rollup r"
	        "  WHERE r.characteristic = $1 ORDER BY 1, 2, 3 LIMIT 1)"
	        " UNION ALL"
	        " SELECT n.* FROM k CROSS JOIN LATERAL ("
	        "  SELECT r.site, r.line, r.station FROM measurement_rollup r"
	        "  WHERE r.characteristic = $1"
	        "    AND (r.site, r.line, r.station) > (k.site, k.line, k.station)"
	        "  ORDER BY 1, 2, 3 LIMIT 1) n)"
	        " SELECT site, line, station FROM k"
	        " WHERE ($2::text IS NULL OR site = $2) AND ($3::text IS NULL OR line = $3)"
	        "   AND ($4::text IS NULL OR station = $4)"
	        " ORDER BY 1, 2, 3 LIMIT 11";
	const char *site, *line, *station, *values[4];
	struct ct_pg_result *res = NULL;
	char err[512], choices[512];
	size_t used = 0;
	int rows;
	bool ok = false;

	if (!api_param_name(call, "characteristic", true, &ret->characteristic) ||
	    !api_param_name(call, "recipe", false, &ret->recipe) ||
	    !api_param_name(call, "site", false, &site) ||
	    !api_param_name(call, "line", false, &line) ||
	    !api_param_name(call, "station", false, &station))
		return false;
	if (site != NULL && line != NULL && station != NULL) {
		snprintf(ret->site, sizeof(ret->site), "%s", site);
		snprintf(ret->line, sizeof(ret->line), "%s", line);
		snprintf(ret->station, sizeof(ret->station), "%s", station);
		return true;
	}
	values[0] = ret->characteristic;
	values[1] = site;
	values[2] = line;
	values[3] = station;
	if (ct_pg_query(call->pg, sql, 4, values, &res, err, sizeof(err)) != CT_OK)
		return api_fail_from_pg(call, sql, err);
	rows = ct_pg_result_rows(res);
	if (rows == 0) {
		api_fail(call, 404, "not_found", "no values of characteristic %s%s",
		         ret->characteristic, site || line || station ? " there" : "");
		goto out;
	}
	if (rows == 1) {
		snprintf(ret->site, sizeof(ret->site), "%s", ct_pg_text(res, 0, "site"));
		snprintf(ret->line, sizeof(ret->line), "%s", ct_pg_text(res, 0, "line"));
		snprintf(ret->station, sizeof(ret->station), "%s", ct_pg_text(res, 0, "station"));
		ok = true;
		goto out;
	}
	choices[0] = '\0';
	for (int i = 0; i < rows && i < 10 && used < sizeof(choices); i++) {
		int n = snprintf(choices + used, sizeof(choices) - used, "%s%s/%s/%s",
		                 i > 0 ? ", " : "", ct_pg_text(res, i, "site"),
		                 ct_pg_text(res, i, "line"), ct_pg_text(res, i, "station"));
		if (n < 0)
			break;
		used += (size_t)n;
	}
	api_fail(call, 400, "bad_request",
	         "station: characteristic %s is measured at several stations (site/line/station: "
	         "%s%s); choose one with site, line and station",
	         ret->characteristic, choices, rows > 10 ? ", ..." : "");
out:
	ct_pg_result_free(res);
	return ok;
}

/* The series' parameters $1-$5: site, line, station, characteristic, recipe. */
static void series_args(struct query_args *a, const struct series *s)
{
	query_arg_str(a, s->site);
	query_arg_str(a, s->line);
	query_arg_str(a, s->station);
	query_arg_str(a, s->characteristic);
	query_arg_str(a, s->recipe);
}

/* The values of the series, of the visit's recipe when $5 names one. SERIES_WHERE looks the
 * recipe up row by row (an index probe each: for the few rows of a range's ends, of a page of
 * points); SERIES_WHERE_SCAN lets the planner join (for a scan of the whole range, where a
 * hash join over the visits is cheaper than millions of probes). */
#define SERIES_WHERE                                                                               \
	" m.site = $1 AND m.line = $2 AND m.station = $3 AND m.characteristic = $4"                \
	" AND ($5::text IS NULL OR (SELECT v.recipe FROM station_visit v"                          \
	"      WHERE v.event_id = m.event_id) = $5)"
#define SERIES_WHERE_SCAN                                                                          \
	" m.site = $1 AND m.line = $2 AND m.station = $3 AND m.characteristic = $4"                \
	" AND ($5::text IS NULL OR EXISTS (SELECT 1 FROM station_visit v"                          \
	"      WHERE v.event_id = m.event_id AND v.recipe = $5))"

/* The series in [$6, $7] as partial aggregates: the rollup's whole minutes in [$8, $9) and
 * every value of measurement outside them (the window is empty when $8 = $9 = $7 + 1). */
#define PARTS_CTE                                                                                  \
	"parts AS ("                                                                               \
	" SELECT r.minute AS t, r.n, r.sum, r.sumsq, r.min, r.max, r.min_at, r.max_at"             \
	" FROM measurement_rollup r"                                                               \
	" WHERE r.site = $1 AND r.line = $2 AND r.station = $3 AND r.characteristic = $4"          \
	"   AND ($5::text IS NULL OR r.recipe = $5)"                                               \
	"   AND r.minute >= ct_api_at($8::bigint) AND r.minute < ct_api_at($9::bigint)"            \
	" UNION ALL"                                                                               \
	" SELECT m.measured_at, 1, m.value, ct_sq(m.value), m.value, m.value,"                     \
	"  m.measured_at, m.measured_at FROM measurement m"                                        \
	" WHERE" SERIES_WHERE " AND m.measured_at >= ct_api_at($6::bigint)"                        \
	"   AND m.measured_at < ct_api_at(least($8::bigint, $7::bigint + 1))"                      \
	" UNION ALL"                                                                               \
	" SELECT m.measured_at, 1, m.value, ct_sq(m.value), m.value, m.value,"                     \
	"  m.measured_at, m.measured_at FROM measurement m"                                        \
	" WHERE" SERIES_WHERE " AND m.measured_at >= ct_api_at(greatest($9::bigint, $6::bigint))"  \
	"   AND m.measured_at <= ct_api_at($7::bigint)"                                            \
	"   AND $8::bigint < $9::bigint)"

/* The whole minutes of [from, to]: [ret_f0, ret_f1), or the empty window (to + 1, to + 1). */
static void whole_minutes(int64_t from_us, int64_t to_us, int64_t *ret_f0, int64_t *ret_f1)
{
	int64_t f0 = (from_us + MINUTE_US - 1) / MINUTE_US * MINUTE_US;
	int64_t f1 = to_us / MINUTE_US * MINUTE_US;

	if (f0 >= f1)
		f0 = f1 = to_us + 1;
	*ret_f0 = f0;
	*ret_f1 = f1;
}

struct series_stats {
	int64_t n;
	double mean, sigma, min, max; /* sigma 0 when n < 2 */
};

/* Count, mean, sigma, extremes of the series in the range, from the rollup. The sigma comes
 * from sums of squares (may lose digits when the spread is tiny next to the mean), so it
 * only steers: bucket sizes, histogram bins, which values may be outliers. */
static bool series_stats(struct api_call *call, const struct series *s, const struct query_range *r,
                         struct series_stats *ret)
{
	static const char sql[] =
	        "WITH " PARTS_CTE " SELECT coalesce(sum(n), 0)::bigint AS n, sum(sum) AS sum,"
	        " sum(sumsq) AS sumsq, min(min) AS min, max(max) AS max FROM parts";
	struct query_args a;
	struct ct_pg_result *res = NULL;
	struct series_stats st = {0};
	int64_t f0, f1;
	double sum = 0, sumsq = 0;
	char err[512];
	bool ok = false;

	whole_minutes(r->from_us, r->to_us, &f0, &f1);
	query_args_init(&a);
	series_args(&a, s);
	query_arg_long(&a, r->from_us);
	query_arg_long(&a, r->to_us);
	query_arg_long(&a, f0);
	query_arg_long(&a, f1);
	if (ct_pg_query(call->pg, sql, a.n, a.values, &res, err, sizeof(err)) != CT_OK)
		return api_fail_from_pg(call, sql, err);
	if (ct_pg_int64(res, 0, "n", &st.n) != CT_OK) {
		api_fail(call, 500, "internal", "unreadable statistics");
		goto out;
	}
	if (st.n > 0 && (ct_pg_double(res, 0, "sum", &sum) != CT_OK ||
	                 ct_pg_double(res, 0, "sumsq", &sumsq) != CT_OK ||
	                 ct_pg_double(res, 0, "min", &st.min) != CT_OK ||
	                 ct_pg_double(res, 0, "max", &st.max) != CT_OK)) {
		api_fail(call, 500, "internal", "unreadable statistics");
		goto out;
	}
	if (st.n > 0)
		st.mean = sum / (double)st.n;
	if (st.n > 1) {
		double var = (sumsq - sum * st.mean) / (double)(st.n - 1);

		st.sigma = var > 0 ? sqrt(var) : 0;
	}
	*ret = st;
	ok = true;
out:
	ct_pg_result_free(res);
	return ok;
}

/* Run chart. $1-$9 as PARTS_CTE (the window: whole minutes when the buckets come from the
 * rollup), $10 count, $11 mode, $12 bucket_ms (NULL in raw mode), $13 from_ms, $14 to_ms. */
void api_get_runchart(struct api_call *call)
{
	static const char sql[] =
	        "WITH " PARTS_CTE
	        " SELECT json_build_object('site', $1::text, 'line', $2::text, 'station', $3::text,"
	        "  'characteristic', $4::text, 'recipe', $5::text,"
	        "  'uom', (SELECT m.uom FROM measurement m WHERE" SERIES_WHERE
	        "   AND m.measured_at <= ct_api_at($7::bigint) ORDER BY m.measured_at DESC LIMIT "
	        "1),"
	        "  'from_ms', $13::bigint, 'to_ms', $14::bigint, 'count', $10::bigint,"
	        "  'mode', $11::text, 'bucket_ms', $12::bigint,"
	        "  'spec', ct_api_spec($1, $2, $3, $4, $5),"
	        "  'points', CASE WHEN $11 = 'raw' THEN (SELECT "
	        "coalesce(json_agg(json_build_object("
	        "    't_ms', ct_api_ms(m.measured_at), 'value', m.value, 'unit_id', m.unit_id,"
	        "    'event_id', m.event_id) ORDER BY m.measured_at, m.event_id, m.seq), '[]')"
	        "   FROM measurement m WHERE" SERIES_WHERE
	        "    AND m.measured_at >= ct_api_at($6::bigint) AND m.measured_at <= "
	        "ct_api_at($7::bigint))"
	        "   ELSE '[]' END,"
	        "  'buckets', CASE WHEN $11 = 'minmax' THEN (SELECT coalesce(json_agg("
	        "    json_build_object('t_ms', ct_api_ms(b.t), 'n', b.n, 'min', b.min,"
	        "     'max', b.max, 'mean', b.mean, 'min_t_ms', ct_api_ms(b.min_at),"
	        "     'max_t_ms', ct_api_ms(b.max_at)) ORDER BY b.t), '[]')"
	        "   FROM (SELECT date_bin($12::bigint * interval '1 millisecond', p.t,"
	        "          timestamptz 'epoch') AS t, sum(p.n)::bigint AS n, min(p.min) AS min,"
	        "         max(p.max) AS max, sum(p.sum) / sum(p.n) AS mean,"
	        "         (array_agg(p.min_at ORDER BY p.min, p.min_at))[1] AS min_at,"
	        "         (array_agg(p.max_at ORDER BY p.max DESC, p.max_at))[1] AS max_at"
	        "         FROM parts p GROUP BY 1) b)"
	        "   ELSE '[]' END)";
	struct query_args a;
	struct query_range r;
	struct series s;
	struct series_stats st;
	long points;
	int64_t bucket_ms = 0, f0, f1;
	bool raw;

	if (!series_resolve(call, &s) || !query_range(call, &r) ||
	    !api_param_long(call, "points", 1000, 100, 10000, &points) ||
	    !series_stats(call, &s, &r, &st))
		return;
	raw = st.n <= points;
	f0 = f1 = r.to_us + 1; /* buckets from measurement alone */
	if (!raw) {
		int64_t span_ms = (r.to_us - r.from_us) / 1000;

		bucket_ms = span_ms / points + 1;
		if (bucket_ms >= 60000 || st.n > RAW_BUCKET_BUDGET) {
			bucket_ms = (bucket_ms + 59999) / 60000 * 60000;
			whole_minutes(r.from_us, r.to_us, &f0, &f1);
		}
	}
	query_args_init(&a);
	series_args(&a, &s);
	query_arg_long(&a, r.from_us);
	query_arg_long(&a, r.to_us);
	query_arg_long(&a, f0);
	query_arg_long(&a, f1);
	query_arg_long(&a, st.n);
	query_arg_str(&a, raw ? "raw" : "minmax");
	if (raw)
		query_arg_str(&a, NULL);
	else
		query_arg_long(&a, bucket_ms);
	query_arg_long(&a, r.from_us / 1000);
	query_arg_long(&a, r.to_us / 1000);
	api_json_query(call, sql, a.n, a.values, "no such series");
}

/* Histogram: one pass over the values, grouped by bin (a hash aggregate). $1-$9 as PARTS_CTE
 * (the rollup's window), $10 bins, $11 and $12 the values' extremes (the bins' ends), $13 a
 * shift (the rollup's mean: sums of squares of shifted values keep their digits), $14
 * from_ms, $15 to_ms. The fitted count of a bin is
 * n (Phi((hi - mean) / sigma) - Phi((lo - mean) / sigma)).
 * Outliers: values outside mean +- 3 sigma or outside spec, the 50 farthest from the mean.
 * Each of those lies in one of the 50 minutes whose extremes lie farthest from the mean (a
 * minute outside them has 50 values farther out, its own extremes included, in the others),
 * so only those minutes' values are read again: a few thousand rows, not the week. */
void api_get_histogram(struct api_call *call)
{
	static const char sql[] =
	        "WITH " PARTS_CTE ","
	        " lim AS (SELECT j AS spec, (j->>'lsl')::float8 AS lsl,"
	        "   (j->>'usl')::float8 AS usl FROM ct_api_spec($1, $2, $3, $4, $5) AS j),"
	        " nb AS (SELECT CASE WHEN $12::float8 > $11::float8 THEN $10::int ELSE 1 END AS k),"
	        " agg AS (SELECT greatest(1, least(nb.k, CASE WHEN $12::float8 > $11::float8"
	        "   THEN width_bucket(m.value, $11::float8, $12::float8, $10::int) ELSE 1 END)) AS "
	        "b,"
	        "  count(*) AS n, sum(m.value - $13::float8) AS d,"
	        "  sum(ct_sq(m.value - $13::float8)) AS dd,"
	        "  min(m.value) AS min, max(m.value) AS max,"
	        "  count(*) FILTER (WHERE m.value < lim.lsl) AS below,"
	        "  count(*) FILTER (WHERE m.value > lim.usl) AS above"
	        "  FROM measurement m, lim, nb WHERE" SERIES_WHERE_SCAN
	        "   AND m.measured_at >= ct_api_at($6::bigint) AND m.measured_at <= "
	        "ct_api_at($7::bigint)"
	        "  GROUP BY 1),"
	        " tot AS (SELECT coalesce(sum(n), 0)::bigint AS n, sum(d) AS d, sum(dd) AS dd,"
	        "  min(min) AS min, max(max) AS max, coalesce(sum(below), 0)::bigint AS below,"
	        "  coalesce(sum(above), 0)::bigint AS above FROM agg),"
	        " st AS (SELECT tot.*, $13::float8 + d / nullif(n, 0) AS mean,"
	        "  CASE WHEN n > 1 THEN sqrt(greatest((dd - d * d / n) / (n - 1), 0)) END AS sigma"
	        "  FROM tot),"
	        " edges AS (SELECT i, $11::float8 + (i - 1) * ($12::float8 - $11::float8) / nb.k "
	        "AS lo,"
	        "  CASE WHEN i = nb.k THEN $12::float8"
	        "   ELSE $11::float8 + i * ($12::float8 - $11::float8) / nb.k END AS hi"
	        "  FROM nb, generate_series(1, nb.k) AS i),"
	        " far AS (SELECT DISTINCT date_bin('1 minute', x.t, timestamptz 'epoch') AS minute"
	        "  FROM (SELECT p.t FROM parts p ORDER BY greatest(abs(p.min - $13::float8),"
	        "   abs(p.max - $13::float8)) DESC LIMIT 50) x)"
	        " SELECT json_build_object('site', $1::text, 'line', $2::text, 'station', $3::text,"
	        "  'characteristic', $4::text, 'recipe', $5::text, 'from_ms', $14::bigint,"
	        "  'to_ms', $15::bigint, 'count', st.n, 'mean', st.mean, 'sigma', st.sigma,"
	        "  'min', st.min, 'max', st.max, 'spec', lim.spec,"
	        "  'bins', (SELECT coalesce(json_agg(json_build_object('lo', e.lo, 'hi', e.hi,"
	        "    'count', coalesce(g.n, 0), 'normal', CASE WHEN st.sigma > 0 THEN st.n"
	        "     * (ct_api_phi((e.hi - st.mean) / st.sigma)"
	        "        - ct_api_phi((e.lo - st.mean) / st.sigma)) ELSE 0 END) ORDER BY e.i), "
	        "'[]')"
	        "   FROM edges e LEFT JOIN agg g ON g.b = e.i WHERE st.n > 0),"
	        "  'below_lsl', st.below, 'above_usl', st.above,"
	        "  'outliers', (SELECT coalesce(json_agg(json_build_object('unit_id', o.unit_id,"
	        "    'value', o.value, 't_ms', ct_api_ms(o.measured_at)) ORDER BY o.x DESC), '[]')"
	        "   FROM (SELECT m.unit_id, m.value, m.measured_at, abs(m.value - st.mean) AS x"
	        "    FROM far CROSS JOIN LATERAL (SELECT * FROM measurement m WHERE" SERIES_WHERE
	        "     AND m.measured_at >= greatest(far.minute, ct_api_at($6::bigint))"
	        "     AND m.measured_at < least(far.minute + interval '1 minute',"
	        "                              ct_api_at($7::bigint + 1))) m"
	        "    WHERE abs(m.value - st.mean) > 3 * st.sigma"
	        "       OR m.value < lim.lsl OR m.value > lim.usl"
	        "    ORDER BY 4 DESC, m.measured_at LIMIT 50) o))"
	        " FROM st, lim";
	struct query_args a;
	struct query_range r;
	struct series s;
	struct series_stats st;
	int64_t f0, f1;
	long bins;

	if (!series_resolve(call, &s) || !query_range(call, &r) ||
	    !api_param_long(call, "bins", 40, 5, 200, &bins) || !series_stats(call, &s, &r, &st))
		return;
	whole_minutes(r.from_us, r.to_us, &f0, &f1);
	query_args_init(&a);
	series_args(&a, &s);
	query_arg_long(&a, r.from_us);
	query_arg_long(&a, r.to_us);
	query_arg_long(&a, f0);
	query_arg_long(&a, f1);
	query_arg_long(&a, bins);
	query_arg_double(&a, st.min);
	query_arg_double(&a, st.max);
	query_arg_double(&a, st.mean);
	query_arg_long(&a, r.from_us / 1000);
	query_arg_long(&a, r.to_us / 1000);
	api_json_query(call, sql, a.n, a.values, "no such series");
}

/* Capability over the range: sigma within from the average moving range of values consecutive
 * in time (MR-bar / d2, d2 = 1.128 for ranges of two), sigma overall the sample standard
 * deviation; Cp and Pp need both limits, Cpk and Ppk one. NULL where undefined. */
void api_get_capability(struct api_call *call)
{
	static const char sql[] =
	        "WITH lim AS (SELECT (j->>'lsl')::float8 AS lsl, (j->>'usl')::float8 AS usl"
	        "  FROM ct_api_spec($1, $2, $3, $4, $5) AS j),"
	        " v AS (SELECT m.value, m.value - lag(m.value) OVER (ORDER BY m.measured_at) AS mr"
	        "  FROM measurement m WHERE" SERIES_WHERE_SCAN
	        "   AND m.measured_at >= ct_api_at($6::bigint) AND m.measured_at <= "
	        "ct_api_at($7::bigint)),"
	        " s AS (SELECT count(*) AS n, avg(value) AS mean,"
	        "  nullif(stddev_samp(value), 0) AS so, nullif(avg(abs(mr)) / 1.128, 0) AS sw FROM "
	        "v)"
	        " SELECT json_build_object('site', $1::text, 'line', $2::text, 'station', $3::text,"
	        "  'characteristic', $4::text, 'recipe', $5::text, 'n', s.n, 'mean', s.mean,"
	        "  'sigma_within', s.sw, 'sigma_overall', s.so, 'lsl', lim.lsl, 'usl', lim.usl,"
	        "  'cp', (lim.usl - lim.lsl) / (6 * s.sw),"
	        "  'cpk', least((lim.usl - s.mean) / (3 * s.sw), (s.mean - lim.lsl) / (3 * s.sw)),"
	        "  'pp', (lim.usl - lim.lsl) / (6 * s.so),"
	        "  'ppk', least((lim.usl - s.mean) / (3 * s.so), (s.mean - lim.lsl) / (3 * s.so)))"
	        " FROM s LEFT JOIN lim ON true";
	struct query_args a;
	struct query_range r;
	struct series s;

	if (!series_resolve(call, &s) || !query_range(call, &r))
		return;
	query_args_init(&a);
	series_args(&a, &s);
	query_arg_long(&a, r.from_us);
	query_arg_long(&a, r.to_us);
	api_json_query(call, sql, a.n, a.values, "no such series");
}

/* A control chart instance (chart_id, and/or the station and characteristic: the instance
 * updated last), its limits, its last `points` values in the range (of the instance's
 * recipe), each flagged with the rules its signals named, and the signals raised in the
 * range. */
void api_get_controlchart(struct api_call *call)
{
	static const char sql[] =
	        "WITH i AS (SELECT s.*, c.characteristic, c.kind, c.rules FROM spc_chart_state s"
	        "  JOIN spc_chart c ON c.chart_id = s.chart_id"
	        "  WHERE ($1::text IS NULL OR s.chart_id = $1) AND ($2::text IS NULL OR s.site = "
	        "$2)"
	        "   AND ($3::text IS NULL OR s.line = $3) AND ($4::text IS NULL OR s.station = $4)"
	        "   AND ($5::text IS NULL OR c.characteristic = $5)"
	        "  ORDER BY s.updated_at DESC, s.chart_id LIMIT 1),"
	        " p AS (SELECT m.* FROM i CROSS JOIN LATERAL ("
	        "   SELECT m.measured_at, m.value, m.unit_id, m.event_id, m.seq FROM measurement m"
	        "   WHERE m.site = i.site AND m.line = i.line AND m.station = i.station"
	        "    AND m.characteristic = i.characteristic"
	        "    AND m.measured_at >= ct_api_at($6::bigint) AND m.measured_at <= "
	        "ct_api_at($7::bigint)"
	        /* An instance of a chart for every recipe ('*') takes every value. */
	        "    AND (i.recipe = '*' OR EXISTS (SELECT 1 FROM station_visit v"
	        "         WHERE v.event_id = m.event_id AND v.recipe = i.recipe))"
	        "   ORDER BY m.measured_at DESC LIMIT $8::int) m)"
	        " SELECT json_build_object("
	        "  'chart', json_build_object('chart_id', i.chart_id, 'kind', i.kind,"
	        "   'rules', i.rules, 'recipe', i.recipe, 'site', i.site, 'line', i.line,"
	        "   'station', i.station, 'characteristic', i.characteristic),"
	        "  'limits', json_build_object('lcl', i.lcl, 'centre', i.centre, 'ucl', i.ucl),"
	        "  'points', (SELECT coalesce(json_agg(json_build_object("
	        "    't_ms', ct_api_ms(p.measured_at), 'value', p.value, 'unit_id', p.unit_id,"
	        "    'event_id', p.event_id, 'flagged', f.rules IS NOT NULL,"
	        "    'rules', coalesce(f.rules, '{}')) ORDER BY p.measured_at, p.event_id, p.seq),"
	        "    '[]') FROM p LEFT JOIN LATERAL ("
	        "     SELECT array_agg(DISTINCT x.rule ORDER BY x.rule) AS rules FROM spc_signal x"
	        "     WHERE x.cause_event_id = p.event_id AND x.chart_id = i.chart_id"
	        "      AND x.site = i.site AND x.line = i.line AND x.station = i.station"
	        "      AND x.recipe = i.recipe) f ON true),"
	        "  'signals', (SELECT coalesce(json_agg(json_build_object('alert_id', x.alert_id,"
	        "    'rule', x.rule, 'unit_id', x.unit_id, 'event_id', x.cause_event_id,"
	        "    't_ms', ct_api_ms(x.raised_at), 'reaction', x.reaction)"
	        "    ORDER BY x.raised_at, x.alert_id), '[]') FROM spc_signal x"
	        "   WHERE x.chart_id = i.chart_id AND x.site = i.site AND x.line = i.line"
	        "    AND x.station = i.station AND x.recipe = i.recipe"
	        "    AND x.raised_at >= ct_api_at($6::bigint) AND x.raised_at <= "
	        "ct_api_at($7::bigint)))"
	        " FROM i";
	struct query_args a;
	struct query_range r;
	const char *chart, *site, *line, *station, *characteristic;
	long points;

	if (!api_param_name(call, "chart_id", false, &chart) ||
	    !api_param_name(call, "site", false, &site) ||
	    !api_param_name(call, "line", false, &line) ||
	    !api_param_name(call, "station", false, &station) ||
	    !api_param_name(call, "characteristic", false, &characteristic) ||
	    !query_range(call, &r) || !api_param_long(call, "points", 500, 1, 10000, &points))
		return;
	if (chart == NULL && characteristic == NULL) {
		api_fail(call, 400, "bad_request", "chart_id: required (or characteristic)");
		return;
	}
	query_args_init(&a);
	query_arg_str(&a, chart);
	query_arg_str(&a, site);
	query_arg_str(&a, line);
	query_arg_str(&a, station);
	query_arg_str(&a, characteristic);
	query_arg_long(&a, r.from_us);
	query_arg_long(&a, r.to_us);
	query_arg_long(&a, points);
	api_json_query(call, sql, a.n, a.values, "no such control chart");
}

/* The running control chart instances. */
void api_get_charts(struct api_call *call)
{
	static const char sql[] =
	        "SELECT json_build_object('items', coalesce(json_agg(json_build_object("
	        " 'chart_id', s.chart_id, 'site', s.site, 'line', s.line, 'station', s.station,"
	        " 'recipe', s.recipe, 'points', s.points, 'signals', s.signals,"
	        " 'last_value', s.last_value, 'lcl', s.lcl, 'centre', s.centre, 'ucl', s.ucl,"
	        " 'updated_ms', ct_api_ms(s.updated_at), 'characteristic', c.characteristic,"
	        " 'kind', c.kind) ORDER BY s.site, s.line, s.station, s.chart_id, s.recipe), '[]'))"
	        " FROM spc_chart_state s JOIN spc_chart c ON c.chart_id = s.chart_id"
	        " WHERE ($1::text IS NULL OR s.site = $1) AND ($2::text IS NULL OR s.line = $2)"
	        "  AND ($3::text IS NULL OR s.station = $3)";
	struct query_args a;
	const char *site, *line, *station;

	if (!api_param_name(call, "site", false, &site) ||
	    !api_param_name(call, "line", false, &line) ||
	    !api_param_name(call, "station", false, &station))
		return;
	query_args_init(&a);
	query_arg_str(&a, site);
	query_arg_str(&a, line);
	query_arg_str(&a, station);
	api_json_query(call, sql, a.n, a.values, "no charts");
}
