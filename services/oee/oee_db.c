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

#define TS(n) "to_timestamp($" #n "::bigint / 1000000.0)"

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
                    struct oee_shift *ret, bool *ret_found, char *err, size_t err_len)
{
	/* The latest start wins where patterns overlap. */
	static const char sql[] =
	        "SELECT shift_id, starts_at, ends_at"
	        " FROM ct_oee_shifts($1, $2, " TS(3) ", " TS(3) " + interval '1 us')"
	                                                        " ORDER BY starts_at DESC LIMIT 1";
	char t[24];
	const char *values[3] = {site, line, t};
	struct ct_pg_result *res = NULL;
	struct oee_shift s;
	int rc;

	us_text(t, sizeof(t), t_us);
	if ((rc = ct_pg_query(pg, sql, 3, values, &res, err, err_len)) != CT_OK)
		return rc;
	if (ct_pg_result_rows(res) == 0) {
		*ret_found = false;
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

int oee_db_maker(struct ct_pg *pg, const char *unit_id, char *ret_site, char *ret_line,
                 char *ret_station, int64_t *ret_ended_us, bool *ret_found, char *err,
                 size_t err_len)
{
	static const char sql[] = "SELECT site, line, station, ended_at FROM ct_oee_maker($1)";
	const char *values[1] = {unit_id};
	struct ct_pg_result *res = NULL;
	char site[CT_ID_MAX + 1], line[CT_ID_MAX + 1], station[CT_ID_MAX + 1];
	int64_t ended = 0;
	int rc;

	if ((rc = ct_pg_query(pg, sql, 1, values, &res, err, err_len)) != CT_OK)
		return rc;
	if (ct_pg_result_rows(res) == 0 || ct_pg_is_null(res, 0, "site")) {
		*ret_found = false;
		goto out;
	}
	ct_pg_time_us(res, 0, "ended_at", &ended);
	if ((rc = ct_pg_result_check(res, err, err_len)) != CT_OK ||
	    (rc = copy_id(site, sizeof(site), ct_pg_text(res, 0, "site"), "site", err, err_len)) !=
	            CT_OK ||
	    (rc = copy_id(line, sizeof(line), ct_pg_text(res, 0, "line"), "line", err, err_len)) !=
	            CT_OK ||
	    (rc = copy_id(station, sizeof(station), ct_pg_text(res, 0, "station"), "station", err,
	                  err_len)) != CT_OK)
		goto out;
	memcpy(ret_site, site, sizeof(site));
	memcpy(ret_line, line, sizeof(line));
	memcpy(ret_station, station, sizeof(station));
	*ret_ended_us = ended;
	*ret_found = true;
out:
	ct_pg_result_free(res);
	return rc;
}

int oee_db_station_load(struct ct_pg *pg, struct oee_station *st, char *err, size_t err_len)
{
	static const char sql[] =
	        "SELECT EXISTS (SELECT 1 FROM station_state WHERE site = $1 AND line = $2"
	        "   AND station = $3 AND source = 'station') AS has_own,"
	        " d.state AS derived_state, d.since AS derived_since"
	        " FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT state, since FROM station_state"
	        "   WHERE site = $1 AND line = $2 AND station = $3 AND source = 'derived'"
	        "   ORDER BY since DESC, event_id DESC LIMIT 1) d ON true";
	const char *values[3] = {st->site, st->line, st->station};
	struct ct_pg_result *res = NULL;
	bool has_own = false;
	int state = 0;
	int64_t since = 0;
	int rc;

	if ((rc = ct_pg_query(pg, sql, 3, values, &res, err, err_len)) != CT_OK)
		return rc;
	ct_pg_bool(res, 0, "has_own", &has_own);
	if (!ct_pg_is_null(res, 0, "derived_state")) {
		ct_pg_int(res, 0, "derived_state", &state);
		ct_pg_time_us(res, 0, "derived_since", &since);
	}
	if ((rc = ct_pg_result_check(res, err, err_len)) == CT_OK) {
		st->has_station_states = st->has_station_states || has_own;
		st->derived_state = state;
		st->derived_since_us = since;
		st->loaded = true;
	}
	ct_pg_result_free(res);
	return rc;
}

int oee_db_figures(struct ct_pg *pg, const struct oee_pair *p, char **ret, char *err,
                   size_t err_len)
{
	/* One round trip: compute, store the history row, return what was stored. */
	static const char sql[] =
	        "WITH f AS (SELECT ct_oee_shift($1, $2, $3, $4) AS j)"
	        " INSERT INTO oee_figures (site, line, station, shift_id, shift_start, shift_end,"
	        "  until, computed_at, availability, performance, quality, oee,"
	        "  performance_flagged, produced, good, late_rejects, figures)"
	        " SELECT $1, $2, $3, $4, (j->>'shift_start')::timestamptz,"
	        "  (j->>'shift_end')::timestamptz, (j->>'until')::timestamptz, now(),"
	        "  (j->>'availability')::float8, (j->>'performance')::float8,"
	        "  (j->>'quality')::float8, (j->>'oee')::float8,"
	        "  coalesce((j->>'performance_flagged')::boolean, false),"
	        "  coalesce((j->>'produced')::bigint, 0), coalesce((j->>'good')::bigint, 0),"
	        "  coalesce((j->>'late_rejects')::bigint, 0), j FROM f"
	        " ON CONFLICT (site, line, station, shift_id) DO UPDATE SET"
	        "  shift_start = EXCLUDED.shift_start, shift_end = EXCLUDED.shift_end,"
	        "  until = EXCLUDED.until, computed_at = EXCLUDED.computed_at,"
	        "  availability = EXCLUDED.availability, performance = EXCLUDED.performance,"
	        "  quality = EXCLUDED.quality, oee = EXCLUDED.oee,"
	        "  performance_flagged = EXCLUDED.performance_flagged,"
	        "  produced = EXCLUDED.produced, good = EXCLUDED.good,"
	        "  late_rejects = EXCLUDED.late_rejects, figures = EXCLUDED.figures"
	        " RETURNING figures::text AS figures";
	const char *values[4] = {p->site, p->line, p->station, p->shift_id};
	struct ct_pg_result *res = NULL;
	const char *text;
	int rc;

	if ((rc = ct_pg_query(pg, sql, 4, values, &res, err, err_len)) != CT_OK)
		return rc;
	text = ct_pg_result_rows(res) == 1 ? ct_pg_text(res, 0, "figures") : NULL;
	if (text == NULL)
		rc = ct_set_error(err, err_len, CT_ERR_PG, "ct_oee_shift gave no figures");
	else if ((*ret = strdup(text)) == NULL)
		rc = CT_ERR_NOMEM;
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
	        "SELECT d.site, d.line, d.station, d.state, d.since,"
	        " (SELECT max(v.ended_at) FROM station_visit v WHERE v.site = d.site"
	        "   AND v.line = d.line AND v.station = d.station) AS last_ended"
	        " FROM (SELECT DISTINCT ON (site, line, station) site, line, station, state, since"
	        "   FROM station_state WHERE source = 'derived'"
	        "   ORDER BY site, line, station, since DESC, event_id DESC) d"
	        " WHERE NOT EXISTS (SELECT 1 FROM station_state s WHERE s.site = d.site"
	        "   AND s.line = d.line AND s.station = d.station AND s.source = 'station')";
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
		ct_pg_int(res, i, "state", &state);
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
