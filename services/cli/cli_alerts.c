/* cli_alerts: `cellthread alerts`, the alert router's occurrences and KPIs read from
 * PostgreSQL (migration 0009; the read-only `cli` login is enough), and the dispatch of the
 * subcommands that talk to ct-alert-router over MQTT (cli_alerts_mqtt.c).
 *
 * Every query returns its rows as JSON built by PostgreSQL (json_agg of the query's rows:
 * keys are the column names, numbers are numbers, times RFC 3339 in UTC), so --json and the
 * text form print the same values from one code path. Values reach SQL only as parameters. */
#include <ctype.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ct_config.h"
#include "ct_error.h"
#include "ct_ids.h"

/* Wraps a query so that it returns one row, one column j: its rows as a JSON array (in the
 * query's order). */
#define AS_JSON(query) "SELECT coalesce(json_agg(q), '[]')::text AS j FROM (" query ") q"

/* The columns of an alert, as listed and shown. */
#define ALERT_COLUMNS                                                                              \
	"alert_id, occurrence, state, severity,"                                                   \
	" (ARRAY['INFO','LOW','MEDIUM','HIGH','CRITICAL'])[severity] AS severity_name, source,"    \
	" code, object_kind, object_id, site, line, station, text, tags, count, last_value,"       \
	" shelved, shelved_until, suppressed, out_of_service, chattering, raised_at,"              \
	" last_seen_at, acked_at, acked_by, cleared_at, closed_at, escalation_tier,"               \
	" escalated_at, updated_at"

static const char *const severity_names[] = {"info", "low", "medium", "high", "critical"};

/* ---- JSON from the database --------------------------------------------------------- */

/* Runs an AS_JSON query on pg; *ret is the array (json_decref it). Returns 0 or an exit code
 * (printed). */
static int query_json(struct ct_pg *pg, const char *sql, int n, const char *const *params,
                      json_t **ret)
{
	struct ct_pg_result *res = NULL;
	json_error_t jerr;
	const char *text;
	int rc = cli_query(pg, sql, n, params, &res);

	if (rc != 0)
		return rc;
	text = ct_pg_result_rows(res) == 1 ? ct_pg_text(res, 0, "j") : NULL;
	*ret = text != NULL ? json_loads(text, JSON_DECODE_ANY, &jerr) : NULL;
	ct_pg_result_free(res);
	if (*ret == NULL || !json_is_array(*ret)) {
		fprintf(stderr, "cellthread: unexpected answer from the database: %s\n",
		        text != NULL ? jerr.text : "no rows");
		json_decref(*ret);
		*ret = NULL;
		return EXIT_FAILED;
	}
	return 0;
}

/* Prints a JSON value (stolen) followed by a newline. */
static int print_json(json_t *value)
{
	char *out = value ? json_dumps(value, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
	                                              JSON_REAL_PRECISION(17) | JSON_ENCODE_ANY)
	                  : NULL;

	json_decref(value);
	if (out == NULL) {
		fprintf(stderr, "cellthread: out of memory\n");
		return EXIT_FAILED;
	}
	printf("%s\n", out);
	free(out);
	return 0;
}

/* A member as text: "-" for null or missing, the number printed for a number. */
static const char *str(const json_t *o, const char *key, char *buf, size_t len)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%.4g", json_real_value(v));
	else if (json_is_true(v))
		snprintf(buf, len, "true");
	else if (json_is_false(v))
		snprintf(buf, len, "false");
	else
		snprintf(buf, len, "-");
	return buf;
}

/* A number member, 0 for null or missing. */
static double num(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

static bool flag(const json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

/* ---- arguments ------------------------------------------------------------------------- */

struct list_opts {
	bool all, json;
	const char *site, *line, *station, *code, *state, *limit;
	char severity[4];  /* 1..5 */
	char pattern[256]; /* --code as a LIKE pattern */
};

/* A shell-style glob (* and ?) as a LIKE pattern (\ escapes % and _). */
static int glob_to_like(const char *glob, char *buf, size_t len)
{
	size_t o = 0;

	for (const char *p = glob; *p != '\0'; p++) {
		char c = *p == '*' ? '%' : *p == '?' ? '_' : *p;
		bool esc = *p == '%' || *p == '_' || *p == '\\';
		if (o + 3 >= len)
			return CT_ERR_INVALID;
		if (esc)
			buf[o++] = '\\';
		buf[o++] = c;
	}
	buf[o] = '\0';
	return CT_OK;
}

/* A severity name (info .. critical, any case) or number 1..5, into buf as the number. */
static int parse_severity(const char *text, char *buf, size_t len)
{
	long n;

	for (size_t i = 0; i < sizeof(severity_names) / sizeof(severity_names[0]); i++)
		if (strcasecmp(text, severity_names[i]) == 0) {
			snprintf(buf, len, "%zu", i + 1);
			return CT_OK;
		}
	if (ct_parse_long(text, 1, 5, &n) != CT_OK)
		return CT_ERR_INVALID;
	snprintf(buf, len, "%ld", n);
	return CT_OK;
}

static const char *const state_names[] = {"ACTIVE_UNACK", "ACTIVE_ACK", "CLEARED_UNACK", "NORMAL"};

static const char *parse_state(const char *text)
{
	for (size_t i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (strcasecmp(text, state_names[i]) == 0)
			return state_names[i];
	return NULL;
}

/* The value of option `name` at argv[*i] ("--name VALUE" or "--name=VALUE"), advancing *i;
 * NULL when argv[*i] is not that option. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

static int parse_list_opts(int argc, char **argv, struct list_opts *o)
{
	const char *v;
	long parsed;

	memset(o, 0, sizeof(*o));
	o->site = o->line = o->station = o->code = o->state = "";
	o->limit = "500";
	snprintf(o->severity, sizeof(o->severity), "1");
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--all") == 0)
			o->all = true;
		else if (strcmp(argv[i], "--json") == 0)
			o->json = true;
		else if ((v = opt_value(argc, argv, &i, "--site")) != NULL)
			o->site = v;
		else if ((v = opt_value(argc, argv, &i, "--line")) != NULL)
			o->line = v;
		else if ((v = opt_value(argc, argv, &i, "--station")) != NULL)
			o->station = v;
		else if ((v = opt_value(argc, argv, &i, "--code")) != NULL)
			o->code = v;
		else if ((v = opt_value(argc, argv, &i, "--severity")) != NULL) {
			if (parse_severity(v, o->severity, sizeof(o->severity)) != CT_OK) {
				fprintf(stderr, "cellthread: --severity is info, low, medium, high,"
				                " critical or 1..5\n");
				return EXIT_USAGE;
			}
		} else if ((v = opt_value(argc, argv, &i, "--state")) != NULL) {
			if ((o->state = parse_state(v)) == NULL) {
				fprintf(stderr, "cellthread: --state is ACTIVE_UNACK, ACTIVE_ACK,"
				                " CLEARED_UNACK or NORMAL\n");
				return EXIT_USAGE;
			}
		} else if ((v = opt_value(argc, argv, &i, "--limit")) != NULL &&
		           ct_parse_long(v, 1, 100000, &parsed) == CT_OK)
			o->limit = v;
		else {
			cli_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (glob_to_like(o->code, o->pattern, sizeof(o->pattern)) != CT_OK) {
		fprintf(stderr, "cellthread: --code is too long\n");
		return EXIT_USAGE;
	}
	return 0;
}

/* ---- list and show ---------------------------------------------------------------------- */

/* One alert in a line or two: ID, state, severity, key, count, raised, flags; its text. */
static void print_alert(const json_t *a)
{
	char b[9][64];

	printf("%-20s %-13s %-8s %s %s %s/%s x%s raised %s", str(a, "alert_id", b[0], 64),
	       str(a, "state", b[1], 64), str(a, "severity_name", b[2], 64),
	       str(a, "source", b[3], 64), str(a, "code", b[4], 64),
	       str(a, "object_kind", b[5], 64), str(a, "object_id", b[6], 64),
	       str(a, "count", b[7], 64), str(a, "raised_at", b[8], 64));
	if (json_string_length(json_object_get(a, "shelved")) > 0)
		printf(" SHELVED %s", str(a, "shelved", b[0], 64));
	if (json_is_string(json_object_get(a, "shelved_until")))
		printf(" until %s", str(a, "shelved_until", b[1], 64));
	if (flag(a, "suppressed"))
		printf(" SUPPRESSED");
	if (flag(a, "out_of_service"))
		printf(" OUT-OF-SERVICE");
	if (flag(a, "chattering"))
		printf(" CHATTERING");
	printf("\n");
	if (json_string_length(json_object_get(a, "text")) > 0)
		printf("    %s\n", json_string_value(json_object_get(a, "text")));
}

static int alerts_list(const struct cli_config *cfg, int argc, char **argv)
{
	static const char sql[] =
	        AS_JSON("SELECT " ALERT_COLUMNS " FROM alert"
	                " WHERE ($1::bool OR state <> 'NORMAL') AND ($2 = '' OR site = $2)"
	                " AND ($3 = '' OR line = $3) AND ($4 = '' OR station = $4)"
	                " AND severity >= $5::smallint AND ($6 = '' OR code LIKE $6)"
	                " AND ($7 = '' OR state = $7)"
	                " ORDER BY severity DESC, raised_at DESC, alert_id LIMIT $8::int");
	struct list_opts o;
	struct ct_pg *pg = NULL;
	json_t *rows = NULL;
	int rc = parse_list_opts(argc, argv, &o);
	const char *params[8] = {o.all ? "true" : "false",
	                         o.site,
	                         o.line,
	                         o.station,
	                         o.severity,
	                         o.pattern,
	                         o.state,
	                         o.limit};

	if (rc != 0)
		return rc;
	if ((rc = cli_connect_utc(cfg, &pg)) != 0)
		return rc;
	rc = query_json(pg, sql, 8, params, &rows);
	ct_pg_free(pg);
	if (rc != 0)
		return rc;
	if (o.json)
		return print_json(rows);
	printf("%zu %salert(s)\n", json_array_size(rows), o.all ? "" : "open ");
	for (size_t i = 0; i < json_array_size(rows); i++)
		print_alert(json_array_get(rows, i));
	json_decref(rows);
	return 0;
}

static int alerts_show(const struct cli_config *cfg, int argc, char **argv)
{
	static const char alert_sql[] =
	        AS_JSON("SELECT " ALERT_COLUMNS " FROM alert WHERE alert_id = $1");
	static const char transitions_sql[] =
	        AS_JSON("SELECT seq, action, from_state, to_state, at, actor, credential, reason,"
	                " event_id FROM alert_transition WHERE alert_id = $1 ORDER BY seq");
	struct ct_pg *pg = NULL;
	json_t *alerts = NULL, *transitions = NULL, *a;
	const char *id = NULL;
	bool json = false, bad = false;
	int rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (id == NULL && argv[i][0] != '-')
			id = argv[i];
		else
			bad = true;
	}
	if (id == NULL || bad) {
		cli_usage(stderr);
		return EXIT_USAGE;
	}
	if ((rc = cli_connect_utc(cfg, &pg)) != 0)
		return rc;
	rc = query_json(pg, alert_sql, 1, &id, &alerts);
	if (rc == 0)
		rc = query_json(pg, transitions_sql, 1, &id, &transitions);
	ct_pg_free(pg);
	if (rc != 0) {
		json_decref(alerts);
		return rc;
	}
	a = json_array_get(alerts, 0);
	if (a == NULL) {
		fprintf(stderr, "cellthread: no alert %s\n", id);
		json_decref(alerts);
		json_decref(transitions);
		return EXIT_UNKNOWN;
	}
	json_incref(a);
	json_decref(alerts);
	json_object_set_new(a, "transitions", transitions);
	if (json)
		return print_json(a);
	print_alert(a);
	for (size_t i = 0; i < json_array_size(transitions); i++) {
		const json_t *t = json_array_get(transitions, i);
		char b[7][64];
		printf("  #%-3s %-32s %-20s %-14s -> %s", str(t, "seq", b[0], 64),
		       str(t, "at", b[1], 64), str(t, "action", b[2], 64),
		       str(t, "from_state", b[3], 64), str(t, "to_state", b[4], 64));
		if (json_string_length(json_object_get(t, "actor")) > 0)
			printf(" by %s", str(t, "actor", b[5], 64));
		if (json_string_length(json_object_get(t, "credential")) > 0)
			printf(" (credential %s)", str(t, "credential", b[6], 64));
		if (json_string_length(json_object_get(t, "reason")) > 0)
			printf(": %s", json_string_value(json_object_get(t, "reason")));
		printf("\n");
	}
	json_decref(a);
	return 0;
}

/* ---- KPIs ------------------------------------------------------------------------------ */

static const struct {
	const char *key, *sql;
} kpi_parts[] = {
        {"positions", AS_JSON("SELECT * FROM alert_kpi_position ORDER BY team")},
        {"standing", AS_JSON("SELECT * FROM alert_kpi_standing ORDER BY raised_at")},
        {"stale", AS_JSON("SELECT * FROM alert_kpi_stale ORDER BY raised_at")},
        {"chattering",
         AS_JSON("SELECT * FROM alert_kpi_chattering ORDER BY max_in_60s DESC, alert_key")},
        {"top10", AS_JSON("SELECT * FROM alert_kpi_top10 ORDER BY rank")},
        {"response", AS_JSON("SELECT * FROM alert_kpi_response ORDER BY dimension, value")},
        {"targets", AS_JSON("SELECT name, value, about FROM alert_kpi_target ORDER BY name")},
};

static void print_kpi(const json_t *k)
{
	const json_t *rows = json_object_get(k, "positions"), *r;
	size_t i;
	char b[11][64];

	printf("operator positions, last 24 h (EEMUA 191 / ISA-18.2 targets in brackets):\n");
	json_array_foreach(rows, i, r)
	{
		printf("  %s: %s alarms; %.3f per 10 min (<= %g acceptable, <= %g manageable): %s;"
		       " %.2f per hour (%g / %g)\n",
		       str(r, "team", b[0], 64), str(r, "alarms_24h", b[1], 64),
		       num(r, "avg_per_10min"), num(r, "target_per_10min_acceptable"),
		       num(r, "target_per_10min_manageable"), str(r, "rating", b[2], 64),
		       num(r, "avg_per_hour"), num(r, "target_per_hour_acceptable"),
		       num(r, "target_per_hour_manageable"));
		printf("    peak %s in 10 min from %s (<= %g); %.2f %% of 10-min periods in flood"
		       " (< %g %%); %.2f %% of the time in flood (< %g %%), %s flood(s)\n",
		       str(r, "peak_10min", b[3], 64), str(r, "peak_10min_start", b[4], 64),
		       num(r, "target_peak_10min"), num(r, "pct_10min_flood"),
		       num(r, "target_pct_10min_flood"), num(r, "pct_time_in_flood"),
		       num(r, "target_pct_time_in_flood"), str(r, "floods", b[5], 64));
	}
	rows = json_object_get(k, "standing");
	r = json_array_get(rows, 0);
	printf("standing alarms: %.0f on display, %zu active (< %g)\n", r ? num(r, "standing") : 0,
	       json_array_size(rows), r ? num(r, "target_max") : 10);
	rows = json_object_get(k, "stale");
	printf("stale alarms (active > 24 h): %zu (< %g)\n", json_array_size(rows),
	       json_array_size(rows) ? num(json_array_get(rows, 0), "target_max") : 5);
	json_array_foreach(rows, i, r) printf(
	        "  %s %s %s since %s\n", str(r, "alert_id", b[0], 64), str(r, "code", b[1], 64),
	        str(r, "object_id", b[2], 64), str(r, "raised_at", b[3], 64));
	rows = json_object_get(k, "chattering");
	printf("chattering alarms, last 24 h: %zu (target 0)\n", json_array_size(rows));
	json_array_foreach(rows, i, r)
	        printf("  %s %s %s/%s: %s activations, %s within 60 s%s\n",
	               str(r, "source", b[0], 64), str(r, "code", b[1], 64),
	               str(r, "object_kind", b[2], 64), str(r, "object_id", b[3], 64),
	               str(r, "activations_24h", b[4], 64), str(r, "max_in_60s", b[5], 64),
	               flag(r, "flagged") ? ", flagged by the router" : "");
	rows = json_object_get(k, "top10");
	r = json_array_get(rows, 0);
	printf("10 most frequent alarms, last 24 h: %.1f %% of %s alarms (<= %g %%)\n",
	       r ? num(r, "top10_share_pct") : 0, r ? str(r, "total", b[0], 64) : "0",
	       r ? num(r, "target_max_pct") : 5);
	json_array_foreach(rows, i, r)
	        printf("  %2s. %s %s %s/%s: %s (%.1f %%)\n", str(r, "rank", b[0], 64),
	               str(r, "source", b[1], 64), str(r, "code", b[2], 64),
	               str(r, "object_kind", b[3], 64), str(r, "object_id", b[4], 64),
	               str(r, "alarms", b[5], 64), num(r, "share_pct"));
	rows = json_object_get(k, "response");
	printf("time to acknowledge / to clear, occurrences raised in the last 24 h (s: avg p50 "
	       "p90):\n");
	json_array_foreach(rows, i, r)
	        printf("  %-7s %-24s n=%-4s ack %s: %s %s %s   clear %s: %s %s %s\n",
	               str(r, "dimension", b[0], 64), str(r, "value", b[1], 64),
	               str(r, "occurrences", b[2], 64), str(r, "acked", b[3], 64),
	               str(r, "ack_avg_s", b[4], 64), str(r, "ack_p50_s", b[5], 64),
	               str(r, "ack_p90_s", b[6], 64), str(r, "cleared", b[7], 64),
	               str(r, "clear_avg_s", b[8], 64), str(r, "clear_p50_s", b[9], 64),
	               str(r, "clear_p90_s", b[10], 64));
}

static int alerts_kpi(const struct cli_config *cfg, int argc, char **argv)
{
	struct ct_pg *pg = NULL;
	json_t *k;
	bool json = argc == 1 && strcmp(argv[0], "--json") == 0;
	int rc;

	if (argc > 1 || (argc == 1 && !json)) {
		cli_usage(stderr);
		return EXIT_USAGE;
	}
	if ((rc = cli_connect_utc(cfg, &pg)) != 0)
		return rc;
	k = json_object();
	for (size_t i = 0; rc == 0 && i < sizeof(kpi_parts) / sizeof(kpi_parts[0]); i++) {
		json_t *rows = NULL;
		rc = query_json(pg, kpi_parts[i].sql, 0, NULL, &rows);
		if (rc == 0)
			json_object_set_new(k, kpi_parts[i].key, rows);
	}
	ct_pg_free(pg);
	if (rc != 0 || k == NULL) {
		json_decref(k);
		return rc != 0 ? rc : EXIT_FAILED;
	}
	if (json)
		return print_json(k);
	print_kpi(k);
	json_decref(k);
	return 0;
}

/* ---- dispatch -------------------------------------------------------------------------- */

int cli_alerts(const struct cli_config *cfg, int argc, char **argv)
{
	static const char *const actions[] = {"ack",     "shelve",  "unshelve",
	                                      "comment", "disable", "enable"};
	const char *sub = argc > 0 ? argv[0] : "list";

	if (argc == 0 || argv[0][0] == '-')
		return alerts_list(cfg, argc, argv);
	if (strcmp(sub, "list") == 0)
		return alerts_list(cfg, argc - 1, argv + 1);
	if (strcmp(sub, "show") == 0)
		return alerts_show(cfg, argc - 1, argv + 1);
	if (strcmp(sub, "kpi") == 0)
		return alerts_kpi(cfg, argc - 1, argv + 1);
	if (strcmp(sub, "follow") == 0)
		return cli_alerts_follow(cfg, argc - 1, argv + 1);
	if (strcmp(sub, "subs") == 0)
		return cli_alerts_subs(cfg, argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (strcmp(sub, actions[i]) == 0)
			return cli_alerts_action(cfg, sub, argc - 1, argv + 1);
	cli_usage(stderr);
	return EXIT_USAGE;
}
