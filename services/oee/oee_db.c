/* oee_db: ct-oee's SQL, against deploy/migrations/0011_oee.sql (contracts in oee.h).
 *
 * Times go to PostgreSQL as integer microseconds converted there (exact: numeric division),
 * and come back as timestamptz text read by ct_pg_time_us. Every figure is computed by the
 * database (ct_oee_shift) from station_state and the trigger-kept oee_count rollup: this file
 * only asks, stores the answer in oee_figures and hands its JSON on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "oee.h"

#define OEE_STR_(x) #x
#define OEE_STR(x)  OEE_STR_(x)
#define TS(n)       "to_timestamp($" #n "::bigint / 1000000.0)"
/* A site's unknown gap: its oee_config row, else the '*' row; NULL when neither. */
#define GAP_OF(site)                                                                               \
	" (SELECT c.unknown_gap_s FROM oee_config c WHERE c.site IN (" site ", '*')"               \
	"  ORDER BY c.site = '*' LIMIT 1)"

static void us_text(char *buf, size_t len, int64_t us)
{
	snprintf(buf, len, "%lld", (long long)us);
}

int oee_db_store_state(struct ct_pg *pg, const Cellthread__V1__StationState *s, const char *source,
                       bool *ret_new, char *err, size_t err_len)
{
	static const char sql[] =
	        "INSERT INTO station_state (event_id, site, line, station, state, reason_code,"
	        " reason_text, asset, since, recipe, recipe_version, rate_per_hour, source)"
	        " VALUES ($1, $2, $3, $4, $5::smallint, $6, $7, $8, " TS(
	                9) ", $10, $11::integer,"
	                   " $12::float8, $13) ON CONFLICT (event_id) DO NOTHING";
	char state[8], since[24], version[16], rate[40];
	const char *values[13];
	struct ct_pg_result *res = NULL;
	int rc;

	snprintf(state, sizeof(state), "%d", (int)s->state);
	us_text(since, sizeof(since), s->since_us);
	snprintf(version, sizeof(version), "%d", (int)s->recipe_version);
	snprintf(rate, sizeof(rate), "%.17g", s->rate_per_hour);
	values[0] = s->header->event_id;
	values[1] = s->site;
	values[2] = s->line;
	values[3] = s->station;
	values[4] = state;
	values[5] = s->reason_code;
	values[6] = s->reason_text;
	values[7] = s->asset;
	values[8] = since;
	values[9] = s->recipe;
	values[10] = version;
	values[11] = rate;
	values[12] = source;
	rc = ct_pg_query(pg, sql, 13, values, &res, err, err_len);
	if (rc == CT_OK)
		*ret_new = ct_pg_result_changed(res) > 0;
	ct_pg_result_free(res);
	return rc;
}

int oee_db_store_ack(struct ct_pg *pg, const Cellthread__V1__CommandAck *a, bool *ret_new,
                     char *err, size_t err_len)
{
	static const char sql[] = "INSERT INTO command_ack (event_id, command_id, site, line, "
	                          "station, status, detail,"
	                          " acked_at) VALUES ($1, $2, $3, $4, $5, $6::smallint, $7, " TS(
	                                  8) ")"
	                                     " ON CONFLICT (event_id) DO NOTHING";
	char status[8], at[24];
	const char *values[8];
	struct ct_pg_result *res = NULL;
	int rc;

	snprintf(status, sizeof(status), "%d", (int)a->status);
	us_text(at, sizeof(at), a->acked_at_us);
	values[0] = a->header->event_id;
	values[1] = a->command_event_id;
	values[2] = a->site;
	values[3] = a->line;
	values[4] = a->station;
	values[5] = status;
	values[6] = a->detail;
	values[7] = at;
	rc = ct_pg_query(pg, sql, 8, values, &res, err, err_len);
	if (rc == CT_OK)
		*ret_new = ct_pg_result_changed(res) > 0;
	ct_pg_result_free(res);
	return rc;
}

static int copy_id(char *dst, size_t cap, const char *src, const char *what, char *err,
                   size_t err_len)
{
	if (src == NULL || strlen(src) >= cap)
		return ct_set_error(err, err_len, CT_ERR_PG, "%s: missing or too long", what);
	memcpy(dst, src, strlen(src) + 1);
	return CT_OK;
}

int oee_db_shift_of(struct ct_pg *pg, const char *site, const char *line, int64_t t_us,
                    struct oee_shift *ret, bool *ret_found, int64_t *ret_next_us, char *err,
                    size_t err_len)
{
	/* The latest start wins where patterns overlap. Outside every shift: one row, with the
	 * next start alone (NULL beyond a week). */
	static const char sql[] =
	        "SELECT shift_id, starts_at, ends_at FROM ("
	        " (SELECT shift_id, starts_at, ends_at"
	        "  FROM ct_oee_shifts($1, $2, " TS(3) ", " TS(
	                3) " + interval '1 us')"
	                   "  ORDER BY starts_at DESC LIMIT 1)"
	                   " UNION ALL"
	                   " SELECT NULL, (SELECT min(n.starts_at) FROM ct_oee_shifts($1, $2, " TS(
	                           3) ","
	                              "   " TS(3) " + interval '8 days') n WHERE n.starts_at > " TS(
	                                      3) "), NULL) x"
	                                         " ORDER BY shift_id IS NULL LIMIT 1";
	char t[24];
	const char *values[3] = {site, line, t};
	struct ct_pg_result *res = NULL;
	struct oee_shift s;
	int rc;

	us_text(t, sizeof(t), t_us);
	if ((rc = ct_pg_query(pg, sql, 3, values, &res, err, err_len)) != CT_OK)
		return rc;
	*ret_found = false;
	*ret_next_us = 0;
	if (ct_pg_result_rows(res) == 0)
		goto out;
	if (ct_pg_is_null(res, 0, "shift_id")) {
		if (!ct_pg_is_null(res, 0, "starts_at"))
			ct_pg_time_us(res, 0, "starts_at", ret_next_us);
		rc = ct_pg_result_check(res, err, err_len);
		goto out;
	}
	memset(&s, 0, sizeof(s));
	ct_pg_time_us(res, 0, "starts_at", &s.start_us);
	ct_pg_time_us(res, 0, "ends_at", &s.end_us);
	if ((rc = ct_pg_result_check(res, err, err_len)) != CT_OK ||
	    (rc = copy_id(s.id, sizeof(s.id), ct_pg_text(res, 0, "shift_id"), "shift_id", err,
	                  err_len)) != CT_OK)
		goto out;
	memcpy(s.site, site, strlen(site) + 1);
	memcpy(s.line, line, strlen(line) + 1);
	*ret = s;
	*ret_found = true;
out:
	ct_pg_result_free(res);
	return rc;
}

int oee_db_makers(struct ct_pg *pg, const char *units, oee_maker_fn each, void *ctx, char *err,
                  size_t err_len)
{
	static const char sql[] = "SELECT DISTINCT m.site, m.line, m.station, m.ended_at"
	                          " FROM unnest($1::text[]) u(unit)"
	                          " CROSS JOIN LATERAL ct_oee_maker(u.unit) m";
	const char *values[1] = {units};
	struct ct_pg_result *res = NULL;
	char site[CT_ID_MAX + 1], line[CT_ID_MAX + 1], station[CT_ID_MAX + 1];
	int rc;

	if ((rc = ct_pg_query(pg, sql, 1, values, &res, err, err_len)) != CT_OK)
		return rc;
	for (int i = 0; i < ct_pg_result_rows(res) && rc == CT_OK; i++) {
		int64_t ended = 0;
		if (ct_pg_is_null(res, i, "site"))
			continue;
		ct_pg_time_us(res, i, "ended_at", &ended);
		if ((rc = ct_pg_result_check(res, err, err_len)) != CT_OK ||
		    (rc = copy_id(site, sizeof(site), ct_pg_text(res, i, "site"), "site", err,
		                  err_len)) != CT_OK ||
		    (rc = copy_id(line, sizeof(line), ct_pg_text(res, i, "line"), "line", err,
		                  err_len)) != CT_OK ||
		    (rc = copy_id(station, sizeof(station), ct_pg_text(res, i, "station"),
		                  "station", err, err_len)) != CT_OK)
			break;
		rc = each(ctx, site, line, station, ended);
	}
	ct_pg_result_free(res);
	return rc;
}

int oee_db_station_load(struct ct_pg *pg, struct oee_station *st, char *err, size_t err_len)
{
	static const char sql[] =
	        "SELECT EXISTS (SELECT 1 FROM station_state WHERE site = $1 AND line = $2"
	        "   AND station = $3 AND source = 'station') AS has_own,"
	        " d.state AS derived_state, d.since AS derived_since," GAP_OF(
	                "$1") " AS gap_s"
	                      " FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT state, since FROM "
	                      "station_state"
	                      "   WHERE site = $1 AND line = $2 AND station = $3 AND source = "
	                      "'derived'"
	                      "   ORDER BY since DESC, event_id DESC LIMIT 1) d ON true";
	const char *values[3] = {st->site, st->line, st->station};
	struct ct_pg_result *res = NULL;
	bool has_own = false;
	int state = 0;
	int64_t since = 0;
	double gap_s = 0;
	int rc;

	if ((rc = ct_pg_query(pg, sql, 3, values, &res, err, err_len)) != CT_OK)
		return rc;
	ct_pg_bool(res, 0, "has_own", &has_own);
	if (!ct_pg_is_null(res, 0, "gap_s"))
		ct_pg_double(res, 0, "gap_s", &gap_s);
	if (!ct_pg_is_null(res, 0, "derived_state")) {
		ct_pg_int(res, 0, "derived_state", &state);
		ct_pg_time_us(res, 0, "derived_since", &since);
	}
	if ((rc = ct_pg_result_check(res, err, err_len)) == CT_OK) {
		st->has_station_states = st->has_station_states || has_own;
		st->derived_state = state;
		st->derived_since_us = since;
		st->gap_us = (int64_t)(gap_s * 1e6);
		st->loaded = true;
	}
	ct_pg_result_free(res);
	return rc;
}

/* The upsert of oee_figures from rows (site, line, station, j) of a CTE named a; the pair's
 * shift ID is $n. */
#define UPSERT_FIGURES(n)                                                                          \
	" INSERT INTO oee_figures (site, line, station, shift_id, shift_start, shift_end,"         \
	"  until, computed_at, availability, performance, quality, oee,"                           \
	"  performance_flagged, produced, good, late_rejects, figures)"                            \
	" SELECT a.site, a.line, a.station, $" #n ", (j->>'shift_start')::timestamptz,"            \
	"  (j->>'shift_end')::timestamptz, (j->>'until')::timestamptz, now(),"                     \
	"  (j->>'availability')::float8, (j->>'performance')::float8,"                             \
	"  (j->>'quality')::float8, (j->>'oee')::float8,"                                          \
	"  coalesce((j->>'performance_flagged')::boolean, false),"                                 \
	"  coalesce((j->>'produced')::bigint, 0), coalesce((j->>'good')::bigint, 0),"              \
	"  coalesce((j->>'late_rejects')::bigint, 0), j FROM a"                                    \
	" ON CONFLICT (site, line, station, shift_id) DO UPDATE SET"                               \
	"  shift_start = EXCLUDED.shift_start, shift_end = EXCLUDED.shift_end,"                    \
	"  until = EXCLUDED.until, computed_at = EXCLUDED.computed_at,"                            \
	"  availability = EXCLUDED.availability, performance = EXCLUDED.performance,"              \
	"  quality = EXCLUDED.quality, oee = EXCLUDED.oee,"                                        \
	"  performance_flagged = EXCLUDED.performance_flagged,"                                    \
	"  produced = EXCLUDED.produced, good = EXCLUDED.good,"                                    \
	"  late_rejects = EXCLUDED.late_rejects, figures = EXCLUDED.figures"

/* The rows of oee_recompute of a pair ($1 site, $2 line, and st on was.station: "true" for a
 * line's, all its stations') in the shift of the figures j of the CTE named x, deleted by the
 * statement that stores those figures. A row changed after the statement's snapshot (a late change
 * its figures do not hold) has a new changes: the delete's recheck of r against was (its version in
 * the snapshot) then keeps it for the next computation. */
#define DELETE_QUEUED(x, st)                                                                       \
	" q AS (DELETE FROM oee_recompute r USING " x ", oee_recompute was"                        \
	"  WHERE was.minute >= (" x ".j->>'shift_start')::timestamptz"                             \
	"  AND was.minute < (" x ".j->>'shift_end')::timestamptz"                                  \
	"  AND was.site = $1 AND was.line = $2 AND " st                                            \
	"  AND r.minute = was.minute AND r.site = was.site AND r.line = was.line"                  \
	"  AND r.station = was.station AND r.changes = was.changes)"

/* Runs sql (one row, column "figures") with values and returns that text malloc'ed. */
static int figures_query(struct ct_pg *pg, const char *sql, int n, const char *const *values,
                         char **ret, char *err, size_t err_len)
{
	struct ct_pg_result *res = NULL;
	const char *text;
	int rc;

	if ((rc = ct_pg_query(pg, sql, n, values, &res, err, err_len)) != CT_OK)
		return rc;
	text = ct_pg_result_rows(res) == 1 ? ct_pg_text(res, 0, "figures") : NULL;
	if (text == NULL)
		rc = ct_set_error(err, err_len, CT_ERR_PG, "ct_oee_shift gave no figures");
	else if ((*ret = strdup(text)) == NULL)
		rc = CT_ERR_NOMEM;
	ct_pg_result_free(res);
	return rc;
}

int oee_db_figures(struct ct_pg *pg, const struct oee_pair *p, char **ret, char *err,
                   size_t err_len)
{
	/* One round trip: compute, store the history row, return what was stored. */
	static const char sql[] =
	        "WITH a AS (SELECT $1::text AS site, $2::text AS line,"
	        "  $3::text AS station, ct_oee_shift($1, $2, $3, $4) AS j)," DELETE_QUEUED(
	                "a", "was.station = $3")
	                UPSERT_FIGURES(4) " RETURNING figures::text AS figures";
	const char *values[4] = {p->site, p->line, p->station, p->shift_id};

	return figures_query(pg, sql, 4, values, ret, err, err_len);
}

int oee_db_line_figures(struct ct_pg *pg, const struct oee_pair *p, char **ret, char *err,
                        size_t err_len)
{
	/* ct_oee_line computes every station of the line for the line's figures: one call gives
	 * them all. Each station's entry gets the shift's fields (as ct_oee_shift gives them);
	 * the line's row keeps its own figures, not the array (the stations have rows). */
	static const char sql[] =
	        "WITH f AS (SELECT ct_oee_shift($1, $2, '', $3) AS j),"
	        " s AS (SELECT x || jsonb_build_object('shift_id', f.j->'shift_id',"
	        "   'shift_start', f.j->'shift_start', 'shift_end', f.j->'shift_end',"
	        "   'until', f.j->'until', 'shift_start_us', f.j->'shift_start_us',"
	        "   'shift_end_us', f.j->'shift_end_us', 'until_us', f.j->'until_us') AS j"
	        "   FROM f CROSS JOIN LATERAL jsonb_array_elements(f.j->'stations') x),"
	        " a AS (SELECT $1::text AS site, $2::text AS line, ''::text AS station,"
	        "   f.j - 'stations' AS j FROM f"
	        "   UNION ALL SELECT $1, $2, s.j->>'station', s.j FROM s"
	        "   WHERE coalesce(s.j->>'station', '') <> '')," DELETE_QUEUED(
	                "f",
	                "true") ", w AS (" UPSERT_FIGURES(3) " RETURNING 1)"
	                                                     " SELECT jsonb_build_object('line', "
	                                                     "(SELECT f.j - 'stations' FROM f),"
	                                                     "  'stations', (SELECT "
	                                                     "coalesce(jsonb_agg(a.j), '[]') FROM "
	                                                     "a WHERE "
	                                                     "a.station <> ''),"
	                                                     "  'stored', (SELECT count(*) FROM "
	                                                     "w))::text AS figures";
	const char *values[3] = {p->site, p->line, p->shift_id};

	return figures_query(pg, sql, 3, values, ret, err, err_len);
}

/* Calls each(ctx, row) for every row of res (columns site, line, station, shift_id). */
static int each_row(struct ct_pg_result *res, oee_row_fn each, void *ctx, char *err, size_t err_len)
{
	int rc = CT_OK;

	for (int i = 0; i < ct_pg_result_rows(res) && rc == CT_OK; i++) {
		struct oee_row r;
		memset(&r, 0, sizeof(r));
		if ((rc = copy_id(r.site, sizeof(r.site), ct_pg_text(res, i, "site"), "site", err,
		                  err_len)) != CT_OK ||
		    (rc = copy_id(r.line, sizeof(r.line), ct_pg_text(res, i, "line"), "line", err,
		                  err_len)) != CT_OK ||
		    (rc = copy_id(r.station, sizeof(r.station), ct_pg_text(res, i, "station"),
		                  "station", err, err_len)) != CT_OK ||
		    (rc = copy_id(r.shift_id, sizeof(r.shift_id), ct_pg_text(res, i, "shift_id"),
		                  "shift_id", err, err_len)) != CT_OK)
			break;
		rc = each(ctx, &r);
	}
	return rc;
}

int oee_db_queue_read(struct ct_pg *pg, const struct oee_queued *after, oee_queued_fn each,
                      void *ctx, size_t *ret_n, char *err, size_t err_len)
{
	/* Read, not taken: a row goes when the figures holding it are stored (DELETE_QUEUED).
	 * In key order after the last row read, so rows waiting for their figures do not hold
	 * the rows behind them back. */
	static const char sql[] =
	        "SELECT minute, site, line, station, changes FROM oee_recompute"
	        " WHERE $1::timestamptz IS NULL"
	        " OR (minute, site, line, station) > ($1::timestamptz, $2, $3, $4)"
	        " ORDER BY minute, site, line, station LIMIT " OEE_STR(OEE_QUEUE_READ);
	const char *values[4] = {NULL, NULL, NULL, NULL};
	struct ct_pg_result *res = NULL;
	int rc;

	if (after != NULL) {
		values[0] = after->minute;
		values[1] = after->site;
		values[2] = after->line;
		values[3] = after->station;
	}
	*ret_n = 0;
	if ((rc = ct_pg_query(pg, sql, 4, values, &res, err, err_len)) != CT_OK)
		return rc;
	for (int i = 0; i < ct_pg_result_rows(res) && rc == CT_OK; i++) {
		struct oee_queued q;
		memset(&q, 0, sizeof(q));
		ct_pg_time_us(res, i, "minute", &q.minute_us);
		if ((rc = ct_pg_result_check(res, err, err_len)) != CT_OK ||
		    (rc = copy_id(q.minute, sizeof(q.minute), ct_pg_text(res, i, "minute"),
		                  "minute", err, err_len)) != CT_OK ||
		    (rc = copy_id(q.site, sizeof(q.site), ct_pg_text(res, i, "site"), "site", err,
		                  err_len)) != CT_OK ||
		    (rc = copy_id(q.line, sizeof(q.line), ct_pg_text(res, i, "line"), "line", err,
		                  err_len)) != CT_OK ||
		    (rc = copy_id(q.station, sizeof(q.station), ct_pg_text(res, i, "station"),
		                  "station", err, err_len)) != CT_OK ||
		    (rc = copy_id(q.changes, sizeof(q.changes), ct_pg_text(res, i, "changes"),
		                  "changes", err, err_len)) != CT_OK)
			break;
		(*ret_n)++;
		rc = each(ctx, &q);
	}
	ct_pg_result_free(res);
	return rc;
}

int oee_db_queue_delete(struct ct_pg *pg, const char *minutes, const char *sites, const char *lines,
                        const char *stations, const char *changes, char *err, size_t err_len)
{
	static const char sql[] =
	        "DELETE FROM oee_recompute r USING unnest($1::timestamptz[], $2::text[], "
	        "$3::text[],"
	        " $4::text[], $5::bigint[]) d(minute, site, line, station, changes)"
	        " WHERE r.minute = d.minute AND r.site = d.site AND r.line = d.line"
	        " AND r.station = d.station AND r.changes = d.changes";
	const char *values[5] = {minutes, sites, lines, stations, changes};
	struct ct_pg_result *res = NULL;
	int rc = ct_pg_query(pg, sql, 5, values, &res, err, err_len);

	ct_pg_result_free(res);
	return rc;
}

int oee_db_unfinished(struct ct_pg *pg, oee_row_fn each, void *ctx, char *err, size_t err_len)
{
	static const char sql[] = "SELECT site, line, station, shift_id FROM oee_figures"
	                          " WHERE until < shift_end AND shift_end <= now()";
	struct ct_pg_result *res = NULL;
	int rc;

	if ((rc = ct_pg_query(pg, sql, 0, NULL, &res, err, err_len)) == CT_OK)
		rc = each_row(res, each, ctx, err, err_len);
	ct_pg_result_free(res);
	return rc;
}

int oee_db_shifts(struct ct_pg *pg, const char *site, const char *line, int64_t from_us,
                  int64_t to_us, oee_row_fn each, void *ctx, char *err, size_t err_len)
{
	static const char sql[] =
	        "SELECT $1::text AS site, $2::text AS line, ''::text AS station,"
	        " shift_id FROM ct_oee_shifts($1, $2, " TS(3) ", " TS(4) " + interval '1 us')";
	char from[24], to[24];
	const char *values[4] = {site, line, from, to};
	struct ct_pg_result *res = NULL;
	int rc;

	us_text(from, sizeof(from), from_us);
	us_text(to, sizeof(to), to_us);
	if ((rc = ct_pg_query(pg, sql, 4, values, &res, err, err_len)) == CT_OK)
		rc = each_row(res, each, ctx, err, err_len);
	ct_pg_result_free(res);
	return rc;
}

/* Registers st (site, line, station of row i) in stations. */
static int load_one(struct ct_pg_result *res, int i, struct oee_stations *stations, int64_t now_ms,
                    struct oee_station **ret)
{
	const char *site = ct_pg_text(res, i, "site"), *line = ct_pg_text(res, i, "line");
	const char *station = ct_pg_text(res, i, "station");

	if (site == NULL || line == NULL || station == NULL)
		return CT_ERR_INVALID;
	return oee_stations_get(stations, site, line, station, now_ms, ret);
}

int oee_db_load_stations(struct ct_pg *pg, struct oee_stations *stations, int64_t now_ms,
                         int64_t gap_ms, size_t *ret_derived, size_t *ret_open, char *err,
                         size_t err_len)
{
	/* Stations whose states ct-oee derives: the last derived row, and the last visit's end
	 * (its silence since then may already be an unknown stop). */
	static const char derived_sql[] =
	        "SELECT d.site, d.line, d.station, d.state, d.since," GAP_OF(
	                "d.site") " AS gap_s,"
	                          " (SELECT max(v.ended_at) FROM station_visit v WHERE v.site = "
	                          "d.site"
	                          "   AND v.line = d.line AND v.station = d.station) AS last_ended"
	                          " FROM (SELECT DISTINCT ON (site, line, station) site, line, "
	                          "station, state, since"
	                          "   FROM station_state WHERE source = 'derived'"
	                          "   ORDER BY site, line, station, since DESC, event_id DESC) d"
	                          " WHERE NOT EXISTS (SELECT 1 FROM station_state s WHERE s.site = "
	                          "d.site"
	                          "   AND s.line = d.line AND s.station = d.station AND s.source = "
	                          "'station')";
	/* Stations with figures of a shift still open: refreshed, and finished at its end. */
	static const char open_sql[] =
	        "SELECT site, line, station, shift_id, shift_end"
	        " FROM oee_figures WHERE shift_end > now() AND station <> ''";
	struct ct_pg_result *res = NULL;
	struct oee_station *st;
	size_t derived = 0, open = 0;
	int rc;

	if ((rc = ct_pg_query(pg, derived_sql, 0, NULL, &res, err, err_len)) != CT_OK)
		return rc;
	for (int i = 0; i < ct_pg_result_rows(res) && rc == CT_OK; i++) {
		int state = 0;
		int64_t since = 0, ended = 0;
		double gap_s = 0;
		ct_pg_int(res, i, "state", &state);
		if (!ct_pg_is_null(res, i, "gap_s"))
			ct_pg_double(res, i, "gap_s", &gap_s);
		ct_pg_time_us(res, i, "since", &since);
		if (!ct_pg_is_null(res, i, "last_ended"))
			ct_pg_time_us(res, i, "last_ended", &ended);
		if ((rc = ct_pg_result_check(res, err, err_len)) != CT_OK ||
		    (rc = load_one(res, i, stations, now_ms - gap_ms, &st)) != CT_OK)
			break;
		st->loaded = true;
		st->derived_state = state;
		st->derived_since_us = since;
		st->last_ended_us = ended;
		st->gap_us = (int64_t)(gap_s * 1e6);
		derived++;
	}
	ct_pg_result_free(res);
	res = NULL;
	if (rc != CT_OK || (rc = ct_pg_query(pg, open_sql, 0, NULL, &res, err, err_len)) != CT_OK)
		goto out;
	for (int i = 0; i < ct_pg_result_rows(res) && rc == CT_OK; i++) {
		const char *shift = ct_pg_text(res, i, "shift_id");
		int64_t end = 0;
		ct_pg_time_us(res, i, "shift_end", &end);
		if ((rc = ct_pg_result_check(res, err, err_len)) != CT_OK ||
		    (rc = load_one(res, i, stations, now_ms, &st)) != CT_OK)
			break;
		if (shift == NULL || strlen(shift) >= sizeof(st->open_shift))
			continue;
		memcpy(st->open_shift, shift, strlen(shift) + 1);
		st->open_shift_end_us = end;
		st->next_refresh_ms = now_ms; /* computed again at once: time passed while away */
		open++;
	}
out:
	ct_pg_result_free(res);
	if (rc == CT_ERR_INVALID || rc == CT_ERR_TOO_BIG)
		rc = ct_set_error(err, err_len, CT_ERR_PG,
		                  "a station's IDs in station_state or "
		                  "oee_figures are not IDs");
	if (rc == CT_OK) {
		*ret_derived = derived;
		*ret_open = open;
	}
	return rc;
}
