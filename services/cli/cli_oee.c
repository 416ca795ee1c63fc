/* cli_oee: OEE and the plant metrics on PostgreSQL (cellthread oee, response, trace-depth,
 * maintain), all through the SQL functions of migration 0011 (docs/oee.md).
 *
 * Each command runs one statement that returns its answer as one JSON document built by
 * PostgreSQL; --json prints that document, otherwise it becomes tables for a terminal. The
 * OEE window is a shift (--shift 2026-12-07/A), a range (--from/--to, RFC 3339), or by
 * default the shift open now (the last 8 hours when the calendar has none now). Without
 * --site/--line the OEE commands show every line that has station visits. Values reach SQL
 * only as query parameters; times print in UTC. */
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ct_config.h"
#include "ct_error.h"
#include "ct_ids.h"
#include "ct_time.h"

/* ---- arguments ------------------------------------------------------------------------- */

/* The options a command takes (--json every one): any other is a usage error, not ignored. */
enum {
	OPT_SITE = 1 << 0,
	OPT_LINE = 1 << 1,
	OPT_STATION = 1 << 2,
	OPT_SHIFT = 1 << 3,
	OPT_FROM = 1 << 4,
	OPT_TO = 1 << 5,
	OPT_KIND = 1 << 6,
	OPT_RANGE = OPT_SITE | OPT_LINE | OPT_FROM | OPT_TO,
};

struct oee_opts {
	bool json;
	const char *site, *line, *station, *shift, *kind;
	const char *from_text, *to_text; /* as given, NULL when not */
	char from_us[24], to_us[24];     /* parsed, as statement parameters */
	const char *pos[5];
	size_t n_pos;
};

static int usage(void)
{
	cli_usage(stderr);
	return EXIT_USAGE;
}

/* A shift ID: YYYY-MM-DD/NAME (the start day in UTC and the pattern's name). */
static bool shift_id_ok(const char *v)
{
	for (int i = 0; i < 10; i++) {
		bool dash = i == 4 || i == 7;
		if (v[i] == '\0' || (dash ? v[i] != '-' : !isdigit((unsigned char)v[i])))
			return false;
	}
	return v[10] == '/' && ct_id_is_valid(v + 11);
}

/* Parses argv into o; values of --site, --line, --station must be IDs, times RFC 3339, and
 * only the options in allowed (OPT_*) are taken. */
static int parse(int argc, char **argv, size_t max_pos, unsigned allowed, struct oee_opts *o)
{
	static const char *const names[] = {"--site", "--line", "--station", "--shift",
	                                    "--from", "--to",   "--kind"};
	int64_t range_us[2] = {0, 0}; /* --from, --to as parsed */

	memset(o, 0, sizeof(*o));
	for (int i = 0; i < argc; i++) {
		const char **slot[] = {&o->site,      &o->line,    &o->station, &o->shift,
		                       &o->from_text, &o->to_text, &o->kind};
		bool matched = false;

		if (strcmp(argv[i], "--json") == 0) {
			o->json = true;
			continue;
		}
		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
			if (strcmp(argv[i], names[k]) == 0 && i + 1 < argc) {
				if ((allowed & (1u << k)) == 0) {
					fprintf(stderr,
					        "cellthread: %s does not apply to this command\n",
					        names[k]);
					return EXIT_USAGE;
				}
				*slot[k] = argv[++i];
				matched = true;
			}
		}
		if (matched)
			continue;
		if (argv[i][0] == '-' || o->n_pos >= max_pos)
			return usage();
		o->pos[o->n_pos++] = argv[i];
	}
	for (size_t k = 0; k < 3; k++) {
		const char *v = k == 0 ? o->site : k == 1 ? o->line : o->station;
		if (v != NULL && !ct_id_is_valid(v)) {
			fprintf(stderr, "cellthread: '%s' is not an ID (1-64 of [A-Za-z0-9._:-])\n",
			        v);
			return EXIT_USAGE;
		}
	}
	for (int k = 0; k < 2; k++) {
		const char *v = k == 0 ? o->from_text : o->to_text;
		char *buf = k == 0 ? o->from_us : o->to_us;
		int64_t us;
		if (v == NULL)
			continue;
		if (ct_time_parse_us(v, &us) != CT_OK) {
			fprintf(stderr,
			        "cellthread: %s: '%s' is not a time (2026-12-07T06:00:00Z)\n",
			        k == 0 ? "--from" : "--to", v);
			return EXIT_USAGE;
		}
		snprintf(buf, 24, "%lld", (long long)us);
		range_us[k] = us;
	}
	/* As the API's 400: an empty-looking answer would hide the mistake. */
	if (o->from_text != NULL && o->to_text != NULL && range_us[0] > range_us[1]) {
		fprintf(stderr, "cellthread: --from %s is later than --to %s\n", o->from_text,
		        o->to_text);
		return EXIT_USAGE;
	}
	if (o->shift != NULL && !shift_id_ok(o->shift)) {
		fprintf(stderr, "cellthread: --shift: '%s' is not a shift ID (2026-12-07/A)\n",
		        o->shift);
		return EXIT_USAGE;
	}
	if (o->shift != NULL && (o->from_text != NULL || o->to_text != NULL)) {
		fprintf(stderr, "cellthread: give --shift or --from/--to, not both\n");
		return EXIT_USAGE;
	}
	return 0;
}

static const char *param_or_null(const char *text)
{
	return text != NULL && text[0] != '\0' ? text : NULL;
}

/* Runs sql (one row, one column "j" of JSON) and parses it. Returns 0 with *ret, an exit
 * code after printing why, EXIT_UNKNOWN when the row's value is NULL. */
static int query_json(const struct cli_config *cfg, const char *sql, int n,
                      const char *const *params, json_t **ret)
{
	struct ct_pg_result *res = NULL;
	json_error_t jerr;
	const char *text;
	int rc = cli_run(cfg, sql, n, params, &res);

	if (rc != 0)
		return rc;
	text = ct_pg_result_rows(res) > 0 ? ct_pg_text(res, 0, "j") : NULL;
	if (text == NULL) {
		ct_pg_result_free(res);
		return EXIT_UNKNOWN;
	}
	*ret = json_loads(text, 0, &jerr);
	ct_pg_result_free(res);
	if (*ret == NULL) {
		fprintf(stderr, "cellthread: the database's answer is not JSON: %s\n", jerr.text);
		return EXIT_FAILED;
	}
	return 0;
}

/* A list over lines that came back NULL: no line matched. */
static int no_line(int rc)
{
	if (rc == EXIT_UNKNOWN)
		fprintf(stderr, "cellthread: no such line (none with station visits matches)\n");
	return rc;
}

static int print_json(json_t *v)
{
	char *out = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (out == NULL) {
		fprintf(stderr, "cellthread: out of memory\n");
		return EXIT_FAILED;
	}
	puts(out);
	free(out);
	return 0;
}

/* ---- values for tables ------------------------------------------------------------------ */

static double num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *str(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_string(v))
		return json_string_value(v);
	return "-";
}

/* A 0..1 figure as a percentage, "-" when unknown. */
static const char *pct(double v, char *buf, size_t len)
{
	if (isnan(v))
		return "-";
	snprintf(buf, len, "%.1f%%", v * 100.0);
	return buf;
}

static const char *secs(double v, char *buf, size_t len)
{
	if (isnan(v))
		return "-";
	if (v >= 3600)
		snprintf(buf, len, "%.1f h", v / 3600.0);
	else if (v >= 120)
		snprintf(buf, len, "%.1f min", v / 60.0);
	else
		snprintf(buf, len, "%.1f s", v);
	return buf;
}

static const char *millis(double v, char *buf, size_t len)
{
	if (isnan(v))
		return "-";
	snprintf(buf, len, "%.0f", v);
	return buf;
}

/* Milliseconds since the epoch as "YYYY-MM-DD HH:MM:SS" UTC. */
static const char *when(double ms, char *buf, size_t len)
{
	char full[40];

	if (isnan(ms))
		return "-";
	ct_time_format_us((int64_t)ms * 1000, full, sizeof(full));
	snprintf(buf, len, "%.10s %.8s", full, full + 11);
	return buf;
}

/* The state in force: the functions give a number (StationStateKind) or a name. */
static const char *state_of(const json_t *o)
{
	static const char *const names[] = {"-",       "PRODUCING", "IDLE",      "STARVED",
	                                    "BLOCKED", "PLANNED",   "UNPLANNED", "UNKNOWN"};
	const json_t *v = json_object_get(o, "current_state");

	if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 7)
		return names[json_integer_value(v)];
	return json_is_string(v) ? json_string_value(v) : "-";
}

/* ---- cellthread oee --------------------------------------------------------------------- */

/* The lines: one index probe per (site, line) of station_visit, filtered by $1/$2. */
#define LINES_CTE                                                                                  \
	"WITH RECURSIVE k AS ("                                                                    \
	" (SELECT v.site, v.line FROM station_visit v ORDER BY 1, 2 LIMIT 1)"                      \
	" UNION ALL SELECT n.site, n.line FROM k CROSS JOIN LATERAL ("                             \
	"  SELECT v.site, v.line FROM station_visit v WHERE (v.site, v.line) > (k.site, k.line)"   \
	"  ORDER BY 1, 2 LIMIT 1) n),"                                                             \
	" lines AS (SELECT k.site, k.line FROM k WHERE ($1::text IS NULL OR k.site = $1)"          \
	"  AND ($2::text IS NULL OR k.line = $2)"                                                  \
	"  UNION SELECT $1, $2 WHERE $1::text IS NOT NULL AND $2::text IS NOT NULL),"

/* Per line the window: $3 shift, $4/$5 from/to in microseconds; else the open shift, else
 * the last 8 hours. */
#define WINDOW_CTE                                                                                 \
	" w AS (SELECT l.site, l.line, z.shift_id, z.f, z.t FROM lines l CROSS JOIN LATERAL ("     \
	"  SELECT s.shift_id, s.starts_at AS f, least(s.ends_at, now()) AS t"                      \
	"  FROM ct_oee_shifts(l.site, l.line,"                                                     \
	"   coalesce((split_part($3::text, '/', 1)::date - 1)::timestamp AT TIME ZONE 'UTC', "     \
	"now()),"                                                                                  \
	"   coalesce((split_part($3::text, '/', 1)::date + 2)::timestamp AT TIME ZONE 'UTC',"      \
	"    now() + interval '1 second')) s"                                                      \
	"  WHERE $4::bigint IS NULL AND $5::bigint IS NULL"                                        \
	"   AND ($3::text IS NULL OR s.shift_id = $3)"                                             \
	"  UNION ALL SELECT NULL, coalesce(to_timestamp($4::bigint / 1e6),"                        \
	"   coalesce(to_timestamp($5::bigint / 1e6), now()) - interval '8 hours'),"                \
	"   coalesce(to_timestamp($5::bigint / 1e6), now()) WHERE $3::text IS NULL"                \
	"  ORDER BY 1 NULLS LAST, 2 DESC LIMIT 1) z)"

#define WINDOW_FIELDS                                                                              \
	"'window_shift_id', w.shift_id, 'window_from_ms', floor(extract(epoch FROM w.f) * 1000),"  \
	" 'window_to_ms', floor(extract(epoch FROM w.t) * 1000)"

/* A count, "-" when unknown (never a made-up 0). */
static const char *count(double v, char *buf, size_t len)
{
	if (isnan(v))
		return "-";
	snprintf(buf, len, "%.0f", v);
	return buf;
}

static void figures_row(const json_t *s, const char *name)
{
	char a[16], p[16], q[16], o[16], ms[32], n[4][24];
	bool flagged = json_is_true(json_object_get(s, "performance_flagged"));

	printf("%-16s %-10s %7s %12s %7s %12s %8s %8s %5s %4s (%s)\n", name, state_of(s),
	       pct(num(s, "availability"), a, sizeof(a)),
	       flagged ? "config error" : pct(num(s, "performance"), p, sizeof(p)),
	       pct(num(s, "quality"), q, sizeof(q)),
	       flagged ? "config error" : pct(num(s, "oee"), o, sizeof(o)),
	       count(num(s, "produced"), n[0], 24), count(num(s, "good"), n[1], 24),
	       count(num(s, "late_rejects"), n[2], 24), count(num(s, "micro_stop_count"), n[3], 24),
	       secs(num(s, "micro_stop_s"), ms, sizeof(ms)));
}

static void print_line(const json_t *l)
{
	const json_t *stations = json_object_get(l, "stations");
	char f[32], t[32], a[16], p[16], q[16], o[16];
	const json_t *s;
	size_t i;

	printf("%s/%s  %s  %s .. %s  reference station %s\n", str(l, "site"), str(l, "line"),
	       json_is_string(json_object_get(l, "window_shift_id")) ? str(l, "window_shift_id")
	                                                             : "range",
	       when(num(l, "window_from_ms"), f, sizeof(f)),
	       when(num(l, "window_to_ms"), t, sizeof(t)), str(l, "reference_station"));
	printf("  OEE %s   A %s   P %s   Q %s\n",
	       json_is_true(json_object_get(l, "performance_flagged"))
	               ? "config error"
	               : pct(num(l, "oee"), o, sizeof(o)),
	       pct(num(l, "availability"), a, sizeof(a)),
	       json_is_true(json_object_get(l, "performance_flagged"))
	               ? "config error"
	               : pct(num(l, "performance"), p, sizeof(p)),
	       pct(num(l, "quality"), q, sizeof(q)));
	printf("%-16s %-10s %7s %12s %7s %12s %8s %8s %5s %s\n", "STATION", "STATE", "A", "P", "Q",
	       "OEE", "PRODUCED", "GOOD", "LATE", "MICRO-STOPS");
	json_array_foreach(stations, i, s) figures_row(s, str(s, "station"));
	json_array_foreach(stations, i, s)
	{
		if (json_is_true(json_object_get(s, "performance_flagged")))
			printf("  %s: %s\n", str(s, "station"), str(s, "flag_reason"));
	}
	printf("\n");
}

/* Leaves in stations (an array of objects) only the one named station. */
static void keep_station(json_t *stations, const char *station)
{
	size_t i = 0;

	while (i < json_array_size(stations)) {
		const json_t *s = json_array_get(stations, i);
		if (strcmp(str(s, "station"), station) == 0)
			i++;
		else
			json_array_remove(stations, i);
	}
}

/* cellthread oee [--site S] [--line L] [--station X] [--shift ID | --from T --to T] [--json]
 */
static int oee_figures(const struct cli_config *cfg, const struct oee_opts *o)
{
	static const char sql[] = LINES_CTE WINDOW_CTE
	        " SELECT json_agg(CASE WHEN w.shift_id IS NOT NULL"
	        "  THEN ct_oee_shift(w.site, w.line, '', w.shift_id)"
	        "  ELSE ct_oee_line(w.site, w.line, w.f, w.t) END"
	        "  || jsonb_build_object(" WINDOW_FIELDS ") ORDER BY w.site, w.line) AS j FROM w";
	const char *params[] = {param_or_null(o->site), param_or_null(o->line), o->shift,
	                        o->from_text ? o->from_us : NULL, o->to_text ? o->to_us : NULL};
	json_t *lines = NULL, *l;
	size_t i;
	int rc = query_json(cfg, sql, 5, params, &lines);

	if (rc == EXIT_UNKNOWN) {
		fprintf(stderr, "cellthread: no line%s\n", o->shift ? " with that shift" : "");
		return rc;
	}
	if (rc != 0)
		return rc;
	if (o->station != NULL) {
		json_array_foreach(lines, i, l)
		        keep_station(json_object_get(l, "stations"), o->station);
	}
	if (o->json) {
		rc = print_json(lines);
	} else {
		json_array_foreach(lines, i, l)
		{
			if (json_is_object(l))
				print_line(l);
		}
	}
	json_decref(lines);
	return rc;
}

/* Runs a per-line query of the window's options: $1 site, $2 line, $3 shift, $4 from, $5 to
 * (each NULL when not given) and $6 the station filter. */
static int query_window(const struct cli_config *cfg, const char *sql, const struct oee_opts *o,
                        json_t **ret)
{
	const char *params[] = {param_or_null(o->site),
	                        param_or_null(o->line),
	                        o->shift,
	                        o->from_text ? o->from_us : NULL,
	                        o->to_text ? o->to_us : NULL,
	                        param_or_null(o->station)};

	return query_json(cfg, sql, 6, params, ret);
}

static int oee_pareto(const struct cli_config *cfg, const struct oee_opts *o)
{
	static const char sql[] = LINES_CTE WINDOW_CTE
	        " SELECT json_agg(json_build_object('site', w.site, 'line', w.line, " WINDOW_FIELDS
	        ", 'items', (SELECT coalesce(json_agg(p ORDER BY p.seconds DESC), '[]')"
	        "  FROM ct_oee_pareto(w.site, w.line, $6::text, w.f, w.t) p))"
	        " ORDER BY w.site, w.line) AS j FROM w";
	json_t *lines = NULL, *l, *p;
	size_t i, j;
	int rc = query_window(cfg, sql, o, &lines);

	if (rc != 0 || o->json) {
		rc = rc == 0 ? print_json(lines) : no_line(rc);
		json_decref(lines);
		return rc;
	}
	json_array_foreach(lines, i, l)
	{
		double total = 0;
		char f[32], t[32], s[32];
		json_array_foreach(json_object_get(l, "items"), j, p) total += num(p, "seconds");
		printf("%s/%s  %s .. %s  lost %s\n", str(l, "site"), str(l, "line"),
		       when(num(l, "window_from_ms"), f, sizeof(f)),
		       when(num(l, "window_to_ms"), t, sizeof(t)), secs(total, s, sizeof(s)));
		printf("%-11s %-26s %10s %6s %6s\n", "CATEGORY", "REASON", "LOST", "COUNT",
		       "SHARE");
		json_array_foreach(json_object_get(l, "items"), j, p)
		{
			double share = total > 0 ? num(p, "seconds") / total : 0;
			char bar[41];
			/* share is NaN when an item has no seconds: no bar, never past the buffer
			 */
			int n = share > 0 && share <= 1 ? (int)(share * 40 + 0.5) : 0;
			memset(bar, '#', (size_t)n);
			bar[n] = '\0';
			printf("%-11s %-26s %10s %6.0f %5.1f%% %s\n", str(p, "category"),
			       str(p, "reason_code"), secs(num(p, "seconds"), s, sizeof(s)),
			       num(p, "count"), share * 100, bar);
		}
		printf("\n");
	}
	json_decref(lines);
	return 0;
}

static int oee_changeovers(const struct cli_config *cfg, const struct oee_opts *o)
{
	static const char sql[] = LINES_CTE WINDOW_CTE
	        " SELECT json_agg(json_build_object('site', w.site, 'line', w.line, " WINDOW_FIELDS
	        ", 'items', (SELECT coalesce(json_agg(json_build_object('station', c.station,"
	        "  'from_recipe', c.from_recipe, 'to_recipe', c.to_recipe, 'started_ms',"
	        "  floor(extract(epoch FROM c.started_at) * 1000), 'duration_s', c.duration_s)"
	        "  ORDER BY c.started_at), '[]') FROM ct_oee_changeovers(w.site, w.line, w.f, w.t) "
	        "c"
	        "  WHERE $6::text IS NULL OR c.station = $6)) ORDER BY w.site, w.line) AS j FROM w";
	json_t *lines = NULL, *l, *c;
	size_t i, j;
	int rc = query_window(cfg, sql, o, &lines);

	if (rc != 0 || o->json) {
		rc = rc == 0 ? print_json(lines) : no_line(rc);
		json_decref(lines);
		return rc;
	}
	json_array_foreach(lines, i, l)
	{
		char t[32], d[32];
		printf("%s/%s\n%-16s %-16s %-16s %-19s %10s\n", str(l, "site"), str(l, "line"),
		       "STATION", "FROM RECIPE", "TO RECIPE", "STARTED", "DURATION");
		json_array_foreach(json_object_get(l, "items"), j, c)
		{
			printf("%-16s %-16s %-16s %-19s %10s\n", str(c, "station"),
			       str(c, "from_recipe"), str(c, "to_recipe"),
			       when(num(c, "started_ms"), t, sizeof(t)),
			       secs(num(c, "duration_s"), d, sizeof(d)));
		}
		printf("\n");
	}
	json_decref(lines);
	return 0;
}

static int oee_shifts(const struct cli_config *cfg, const struct oee_opts *o)
{
	static const char sql[] = LINES_CTE
	        " x AS (SELECT 1)"
	        " SELECT json_agg(json_build_object('site', l.site, 'line', l.line, 'shifts',"
	        "  (SELECT coalesce(json_agg(json_build_object('shift_id', s.shift_id, 'name',"
	        "   s.name, 'starts_ms', floor(extract(epoch FROM s.starts_at) * 1000), 'ends_ms',"
	        "   floor(extract(epoch FROM s.ends_at) * 1000), 'open',"
	        "   s.starts_at <= now() AND now() < s.ends_at) ORDER BY s.starts_at DESC), '[]')"
	        "   FROM ct_oee_shifts(l.site, l.line,"
	        "    coalesce(to_timestamp($3::bigint / 1e6), now() - interval '2 days'),"
	        "    coalesce(to_timestamp($4::bigint / 1e6), now())) s))"
	        "  ORDER BY l.site, l.line) AS j FROM lines l";
	const char *params[] = {param_or_null(o->site), param_or_null(o->line),
	                        o->from_text ? o->from_us : NULL, o->to_text ? o->to_us : NULL};
	json_t *lines = NULL, *l, *s;
	size_t i, j;
	int rc = query_json(cfg, sql, 4, params, &lines);

	if (rc != 0 || o->json) {
		rc = rc == 0 ? print_json(lines) : no_line(rc);
		json_decref(lines);
		return rc;
	}
	json_array_foreach(lines, i, l)
	{
		char a[32], b[32];
		printf("%s/%s\n%-20s %-6s %-19s %-19s\n", str(l, "site"), str(l, "line"), "SHIFT",
		       "NAME", "STARTS", "ENDS");
		json_array_foreach(json_object_get(l, "shifts"), j, s)
		{
			printf("%-20s %-6s %-19s %-19s%s\n", str(s, "shift_id"), str(s, "name"),
			       when(num(s, "starts_ms"), a, sizeof(a)),
			       when(num(s, "ends_ms"), b, sizeof(b)),
			       json_is_true(json_object_get(s, "open")) ? "  (open)" : "");
		}
		printf("\n");
	}
	json_decref(lines);
	return 0;
}

/* cellthread oee ideal SITE LINE STATION RECIPE SECONDS: ct_oee_ideal_set, which only a
 * quality login may run (the database refuses others: exit 4). '*' is a wildcard. */
static int oee_ideal(const struct cli_config *cfg, const struct oee_opts *o)
{
	static const char sql[] = "SELECT ct_oee_ideal_set($1, $2, $3, $4, $5::double precision)";
	const char *params[5];
	char text[32];
	double seconds;
	int rc;

	if (o->n_pos != 5)
		return usage();
	for (size_t i = 0; i < 4; i++) {
		if (strcmp(o->pos[i], "*") != 0 && !ct_id_is_valid(o->pos[i])) {
			fprintf(stderr, "cellthread: '%s' is not an ID or '*'\n", o->pos[i]);
			return EXIT_USAGE;
		}
	}
	if (ct_parse_double(o->pos[4], 1e-6, 1e6, &seconds) != CT_OK) {
		fprintf(stderr,
		        "cellthread: SECONDS: '%s' is not a decimal cycle time (1e-6 <= s <= "
		        "1e6)\n",
		        o->pos[4]);
		return EXIT_USAGE;
	}
	/* The number as parsed, so SQL stores exactly what was checked (%.17g round-trips). */
	snprintf(text, sizeof(text), "%.17g", seconds);
	memcpy(params, o->pos, 4 * sizeof(params[0]));
	params[4] = text;
	rc = cli_run(cfg, sql, 5, params, NULL);
	if (rc != 0)
		return rc; /* printed; EXIT_REFUSED when the login may not set it */
	printf("ideal cycle time of %s/%s/%s recipe %s: %g s\n", o->pos[0], o->pos[1], o->pos[2],
	       o->pos[3], seconds);
	return 0;
}

int cli_oee(const struct cli_config *cfg, int argc, char **argv)
{
	static const char *const subs[] = {"pareto", "changeovers", "ideal", "shifts"};
	const char *sub = argc > 0 && argv[0][0] != '-' ? argv[0] : NULL;
	struct oee_opts o;
	int rc;

	if (sub != NULL) {
		bool known = false;
		for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
			known |= strcmp(sub, subs[i]) == 0;
		if (!known)
			return usage();
		argc--;
		argv++;
	}
	if (sub != NULL && strcmp(sub, "ideal") == 0)
		rc = parse(argc, argv, 5, 0, &o);
	else if (sub != NULL && strcmp(sub, "shifts") == 0)
		rc = parse(argc, argv, 0, OPT_RANGE, &o);
	else
		rc = parse(argc, argv, 0, OPT_RANGE | OPT_STATION | OPT_SHIFT, &o);
	if (rc != 0)
		return rc;
	if (sub == NULL)
		return oee_figures(cfg, &o);
	if (strcmp(sub, "pareto") == 0)
		return oee_pareto(cfg, &o);
	if (strcmp(sub, "changeovers") == 0)
		return oee_changeovers(cfg, &o);
	if (strcmp(sub, "shifts") == 0)
		return oee_shifts(cfg, &o);
	return oee_ideal(cfg, &o);
}

/* ---- cellthread response ---------------------------------------------------------------- */

int cli_response(const struct cli_config *cfg, int argc, char **argv)
{
	static const char sql[] =
	        "WITH r AS (SELECT coalesce(to_timestamp($5::bigint / 1e6), now()) AS t),"
	        " g AS (SELECT coalesce(to_timestamp($4::bigint / 1e6), r.t - interval '24 hours')"
	        "  AS f, r.t FROM r)"
	        " SELECT json_build_object('summary', (SELECT coalesce(json_agg(s ORDER BY"
	        "  s.station, s.reaction_plan), '[]')"
	        "  FROM g, ct_response_summary($1, $2, g.f, g.t, $3) s),"
	        " 'items', (SELECT coalesce(json_agg(x ORDER BY x.published_at DESC), '[]')"
	        "  FROM g, ct_response_times($1, $2, $3, g.f, g.t) x)) AS j";
	struct oee_opts o;
	const char *params[5];
	json_t *doc = NULL, *s;
	size_t i;
	int rc = parse(argc, argv, 0, OPT_RANGE | OPT_STATION, &o);

	if (rc != 0)
		return rc;
	params[0] = param_or_null(o.site);
	params[1] = param_or_null(o.line);
	params[2] = param_or_null(o.station);
	params[3] = o.from_text ? o.from_us : NULL;
	params[4] = o.to_text ? o.to_us : NULL;
	if ((rc = query_json(cfg, sql, 5, params, &doc)) != 0)
		return rc;
	if (o.json) {
		rc = print_json(doc);
		json_decref(doc);
		return rc;
	}
	printf("closed-loop response (ms): result -> command -> station's acknowledgement\n");
	printf("ACKED: accepted by the station; REJ, EXP: rejected, expired (no ack time)\n");
	printf("%-16s %-22s %5s %5s %5s %5s %8s %8s %8s %8s %8s %8s\n", "STATION", "REACTION PLAN",
	       "N", "ACKED", "REJ", "EXP", "SIG P50", "SIG P90", "ACK P50", "ACK P90", "TOT P50",
	       "TOT P90");
	json_array_foreach(json_object_get(doc, "summary"), i, s)
	{
		char b[6][24], c[4][24];
		printf("%-16s %-22s %5s %5s %5s %5s %8s %8s %8s %8s %8s %8s\n", str(s, "station"),
		       str(s, "reaction_plan"), count(num(s, "n"), c[0], 24),
		       count(num(s, "acked"), c[1], 24), count(num(s, "rejected"), c[2], 24),
		       count(num(s, "expired"), c[3], 24),
		       millis(num(s, "signal_p50_ms"), b[0], 24),
		       millis(num(s, "signal_p90_ms"), b[1], 24),
		       millis(num(s, "ack_p50_ms"), b[2], 24),
		       millis(num(s, "ack_p90_ms"), b[3], 24),
		       millis(num(s, "total_p50_ms"), b[4], 24),
		       millis(num(s, "total_p90_ms"), b[5], 24));
	}
	printf("%zu actions\n", json_array_size(json_object_get(doc, "items")));
	json_decref(doc);
	return 0;
}

/* ---- cellthread trace-depth ------------------------------------------------------------- */

static void print_missing(const json_t *missing)
{
	const json_t *m;
	size_t i;

	json_array_foreach(missing, i, m)
	{
		const char *text = json_string_value(m);
		printf("    - %s\n", text != NULL ? text : "?");
	}
}

int cli_trace_depth(const struct cli_config *cfg, int argc, char **argv)
{
	static const char unit_sql[] =
	        "SELECT ct_trace_depth(u.unit_id) AS j FROM unit u WHERE u.unit_id = $1";
	static const char line_sql[] =
	        "WITH r AS (SELECT coalesce(to_timestamp($4::bigint / 1e6), now()) AS t)"
	        " SELECT ct_trace_depth_line($1, $2, coalesce(to_timestamp($3::bigint / 1e6),"
	        " r.t - interval '24 hours'), r.t, $5::smallint) AS j FROM r";
	/* UnitKind: CELL 4, MODULE 5, PACK 6 */
	static const char *const kinds[][2] = {{"cell", "4"}, {"module", "5"}, {"pack", "6"}};
	const char *kind_code = "4";
	struct oee_opts o;
	json_t *doc = NULL, *w;
	size_t i;
	int rc = parse(argc, argv, 1, OPT_RANGE | OPT_KIND, &o);

	if (rc != 0)
		return rc;
	if (o.kind != NULL) {
		kind_code = NULL;
		for (size_t k = 0; k < 3; k++)
			if (strcmp(o.kind, kinds[k][0]) == 0)
				kind_code = kinds[k][1];
	}
	if ((o.n_pos == 1) == (o.line != NULL) || kind_code == NULL)
		return usage();
	if (o.n_pos == 1) {
		if (!ct_id_is_valid(o.pos[0])) {
			fprintf(stderr, "cellthread: '%s' is not an ID\n", o.pos[0]);
			return EXIT_USAGE;
		}
		rc = query_json(cfg, unit_sql, 1, o.pos, &doc);
		if (rc == EXIT_UNKNOWN)
			fprintf(stderr, "cellthread: %s: no such unit\n", o.pos[0]);
	} else {
		const char *params[] = {o.site, o.line, o.from_text ? o.from_us : NULL,
		                        o.to_text ? o.to_us : NULL, kind_code};
		if (o.site == NULL) {
			fprintf(stderr, "cellthread: --line needs --site\n");
			return EXIT_USAGE;
		}
		rc = query_json(cfg, line_sql, 5, params, &doc);
	}
	if (rc != 0)
		return rc;
	if (o.json) {
		rc = print_json(doc);
	} else if (o.n_pos == 1) {
		printf("%s  score %.1f  (%.0f of %.0f checks)%s\n", str(doc, "unit_id"),
		       num(doc, "score"), num(doc, "passed"), num(doc, "checks"),
		       json_is_true(json_object_get(doc, "complete")) ? "  complete" : "");
		if (json_array_size(json_object_get(doc, "missing")) > 0)
			printf("  missing:\n");
		print_missing(json_object_get(doc, "missing"));
	} else {
		printf("%s/%s: %.0f units, %.0f complete (%.1f%%)\n", o.site, o.line,
		       num(doc, "units"), num(doc, "complete"), num(doc, "share") * 100);
		if (json_array_size(json_object_get(doc, "worst")) > 0)
			printf("worst:\n");
		json_array_foreach(json_object_get(doc, "worst"), i, w)
		{
			printf("  %-24s %5.1f\n", str(w, "unit_id"), num(w, "score"));
			print_missing(json_object_get(w, "missing"));
		}
	}
	json_decref(doc);
	return rc;
}

/* ---- cellthread maintain ---------------------------------------------------------------- */

int cli_maintain(const struct cli_config *cfg, int argc, char **argv)
{
	static const char sql[] = LINES_CTE
	        " r AS (SELECT coalesce(to_timestamp($4::bigint / 1e6), now()) AS t)"
	        " SELECT json_agg(jsonb_build_object('site', l.site, 'line', l.line) ||"
	        " ct_maintainability(l.site, l.line, coalesce(to_timestamp($3::bigint / 1e6),"
	        " r.t - interval '7 days'), r.t) ORDER BY l.site, l.line) AS j FROM lines l, r";
	struct oee_opts o;
	json_t *lines = NULL, *l, *x;
	size_t i, j;
	int rc = parse(argc, argv, 0, OPT_RANGE, &o);
	const char *params[4];

	if (rc != 0)
		return rc;
	params[0] = param_or_null(o.site);
	params[1] = param_or_null(o.line);
	params[2] = o.from_text ? o.from_us : NULL;
	params[3] = o.to_text ? o.to_us : NULL;
	if ((rc = query_json(cfg, sql, 4, params, &lines)) != 0 || o.json) {
		rc = rc == 0 ? print_json(lines) : no_line(rc);
		json_decref(lines);
		return rc;
	}
	json_array_foreach(lines, i, l)
	{
		printf("%s/%s alerts: time to acknowledge and to restore\n", str(l, "site"),
		       str(l, "line"));
		printf("%-16s %-16s %-24s %5s %5s %9s %9s %9s %9s\n", "STATION", "ASSET", "CODE",
		       "N", "ACKED", "ACK P50", "ACK P90", "RST P50", "RST P90");
		json_array_foreach(json_object_get(l, "alerts"), j, x)
		{
			char b[4][24];
			printf("%-16s %-16s %-24s %5.0f %5.0f %9s %9s %9s %9s\n", str(x, "station"),
			       str(x, "asset"), str(x, "code"), num(x, "n"), num(x, "acked"),
			       secs(num(x, "ack_p50_s"), b[0], 24),
			       secs(num(x, "ack_p90_s"), b[1], 24),
			       secs(num(x, "restore_p50_s"), b[2], 24),
			       secs(num(x, "restore_p90_s"), b[3], 24));
		}
		printf("%s/%s stops: time to restore (stopped -> producing)\n", str(l, "site"),
		       str(l, "line"));
		printf("%-16s %-26s %-16s %5s %9s %9s %9s\n", "STATION", "REASON", "ASSET", "N",
		       "RST P50", "RST P90", "DOWN");
		json_array_foreach(json_object_get(l, "stops"), j, x)
		{
			char b[3][24];
			printf("%-16s %-26s %-16s %5.0f %9s %9s %9s\n", str(x, "station"),
			       str(x, "reason_code"), str(x, "asset"), num(x, "n"),
			       secs(num(x, "restore_p50_s"), b[0], 24),
			       secs(num(x, "restore_p90_s"), b[1], 24),
			       secs(num(x, "down_s"), b[2], 24));
		}
		printf("\n");
	}
	json_decref(lines);
	return 0;
}
