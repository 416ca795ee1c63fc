/* cli_quality: the quality gate's commands (inspection queue, lot gates, automatic actions,
 * verdicts, charts), all on PostgreSQL with the same connection settings as trace.
 *
 * Lists read spc-gate's tables (a read-only login is enough). Decisions go through the
 * SECURITY DEFINER functions of migration 0003 (ct_dispose, ct_lot_set, ct_undo_action),
 * which record the logged-in PostgreSQL role as the one who decided and refuse roles without
 * the privilege; the CLI only refuses a missing or blank --reason itself, before connecting,
 * and prints the database's own message when it refuses. Values reach SQL only as query
 * parameters. Times are printed in UTC (the session's time zone is set to UTC). Columns are
 * read by name: a JSON list's keys are the query's column names. */
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
#include "ct_json.h"
#include "ct_trace.h"

/* ---- arguments ------------------------------------------------------------------------- */

enum {
	OPT_JSON = 1 << 0,
	OPT_ALL = 1 << 1,
	OPT_REASON = 1 << 2,
	OPT_QUARANTINE = 1 << 3,
	OPT_LIMIT = 1 << 4,
};

struct opts {
	bool json, all, quarantine;
	const char *reason; /* NULL when not given */
	const char *limit;
	const char *pos[4];
	size_t n_pos;
};

/* Parses argv into o, allowing the options in `allowed` and exactly n_pos positional
 * arguments. Returns 0, or EXIT_USAGE after printing why. */
static int parse_opts(int argc, char **argv, unsigned allowed, size_t n_pos, struct opts *o)
{
	long parsed;

	memset(o, 0, sizeof(*o));
	o->limit = "100";
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if ((allowed & OPT_JSON) && strcmp(a, "--json") == 0)
			o->json = true;
		else if ((allowed & OPT_ALL) && strcmp(a, "--all") == 0)
			o->all = true;
		else if ((allowed & OPT_QUARANTINE) && strcmp(a, "--quarantine") == 0)
			o->quarantine = true;
		else if ((allowed & OPT_REASON) && strcmp(a, "--reason") == 0 && i + 1 < argc)
			o->reason = argv[++i];
		else if ((allowed & OPT_REASON) && strncmp(a, "--reason=", 9) == 0)
			o->reason = a + 9;
		else if ((allowed & OPT_LIMIT) && strcmp(a, "--limit") == 0 && i + 1 < argc &&
		         ct_parse_long(argv[i + 1], 1, 1000000, &parsed) == CT_OK)
			o->limit = argv[++i];
		else if (a[0] != '-' && o->n_pos < n_pos &&
		         o->n_pos < sizeof(o->pos) / sizeof(o->pos[0]))
			o->pos[o->n_pos++] = a;
		else
			goto bad;
	}
	if (o->n_pos != n_pos)
		goto bad;
	return 0;
bad:
	cli_usage(stderr);
	return EXIT_USAGE;
}

/* A decision needs a reason: refused here, before the database, when missing or blank. */
static int require_reason(const struct opts *o)
{
	for (const char *p = o->reason; p != NULL && *p != '\0'; p++)
		if (!isspace((unsigned char)*p))
			return 0;
	fprintf(stderr, "cellthread: --reason TEXT is required and must not be blank (it is "
	                "recorded with the decision)\n");
	return EXIT_USAGE;
}

static int require_ids(const char *const *ids, int n)
{
	for (int i = 0; i < n; i++)
		if (!ct_id_is_valid(ids[i])) {
			fprintf(stderr, "cellthread: '%s' is not an ID (1-64 of [A-Za-z0-9._:-])\n",
			        ids[i]);
			return EXIT_USAGE;
		}
	return 0;
}

/* ---- result values --------------------------------------------------------------------- */

/* A column for text: its value, or "-" for NULL. */
static const char *text(struct ct_pg_result *res, int r, const char *col)
{
	const char *v = ct_pg_text(res, r, col);
	return v ? v : "-";
}

/* A column that is never NULL, for text ("" if it were). */
static const char *val(struct ct_pg_result *res, int r, const char *col)
{
	const char *v = ct_pg_text(res, r, col);
	return v ? v : "";
}

/* An integer column (a code: kind, state, verdict), 0 for NULL; a value that does not parse
 * is remembered by res (cli_check). */
static int code(struct ct_pg_result *res, int r, const char *col)
{
	int v = 0;
	if (!ct_pg_is_null(res, r, col))
		ct_pg_int(res, r, col, &v);
	return v;
}

static const char *lot_state_name(int state)
{
	const char *name = ct_enum_short_name(&cellthread__v1__lot_state__descriptor, state);

	return name != NULL ? name : "unspecified";
}

/* Commands print in capitals, as stations and the reaction plans name them. */
static const char *command_kind_name(int kind)
{
	switch (kind) {
	case 1:
		return "SLOW";
	case 2:
		return "STOP";
	case 3:
		return "RESUME";
	case 4:
		return "ADJUST";
	default:
		return "UNSPECIFIED";
	}
}

/* How a column becomes JSON. */
enum col_type {
	COL_TEXT,      /* string, null for NULL */
	COL_INT,       /* integer */
	COL_REAL,      /* number */
	COL_UNIT_KIND, /* UnitKind number -> "cell", ... */
	COL_VERDICT,   /* VerdictCode number -> "fail", ... */
	COL_LOT_STATE, /* LotState number -> "held", ... */
	COL_COMMAND,   /* CommandKind number -> "ADJUST", ... */
};

struct column {
	const char *name;
	enum col_type type;
};

static json_t *column_json(struct ct_pg_result *res, int r, const char *col, enum col_type type)
{
	const char *v = ct_pg_text(res, r, col);
	const char *name;
	int64_t i = 0;
	double d = 0;

	if (v == NULL)
		return json_null();
	switch (type) {
	case COL_INT:
		ct_pg_int64(res, r, col, &i);
		return json_integer((json_int_t)i);
	case COL_REAL:
		ct_pg_double(res, r, col, &d);
		return json_real(d);
	case COL_UNIT_KIND:
		name = ct_unit_kind_name(code(res, r, col));
		return json_string(name ? name : "unspecified");
	case COL_VERDICT:
		return json_string(ct_trace_verdict_name(code(res, r, col)));
	case COL_LOT_STATE:
		return json_string(lot_state_name(code(res, r, col)));
	case COL_COMMAND:
		return json_string(command_kind_name(code(res, r, col)));
	case COL_TEXT:
		break;
	}
	return json_string(v);
}

/* Row r as a JSON object, each column under its name (the query's column names). */
static json_t *row_json(struct ct_pg_result *res, int r, const struct column *cols, size_t n)
{
	json_t *o = json_object();
	for (size_t c = 0; o != NULL && c < n; c++)
		json_object_set_new(o, cols[c].name,
		                    column_json(res, r, cols[c].name, cols[c].type));
	return o;
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

static int print_rows_json(struct ct_pg_result *res, const struct column *cols, size_t n)
{
	json_t *rows = json_array();
	for (int r = 0; rows != NULL && r < ct_pg_result_rows(res); r++)
		json_array_append_new(rows, row_json(res, r, cols, n));
	if (cli_check(res) != 0) {
		json_decref(rows);
		return EXIT_FAILED;
	}
	return print_json(rows);
}

/* ---- inspect --------------------------------------------------------------------------- */

static const struct column inspect_cols[] = {
        {"item_id", COL_INT},      {"unit_id", COL_TEXT},     {"unit_kind", COL_UNIT_KIND},
        {"site", COL_TEXT},        {"line", COL_TEXT},        {"station", COL_TEXT},
        {"queue", COL_TEXT},       {"cause", COL_TEXT},       {"reason", COL_TEXT},
        {"verdict", COL_VERDICT},  {"entered_at", COL_TEXT},  {"disposition", COL_TEXT},
        {"disposed_by", COL_TEXT}, {"disposed_at", COL_TEXT}, {"disposition_reason", COL_TEXT},
};

static int inspect_list(const struct cli_config *cfg, const struct opts *o)
{
	static const char sql[] =
	        "SELECT item_id, unit_id, unit_kind, site, line, station, queue, cause, reason,"
	        " verdict, entered_at, disposition, disposed_by, disposed_at, disposition_reason"
	        " FROM inspection_item WHERE $1::bool OR disposition IS NULL"
	        " ORDER BY entered_at, item_id";
	const char *params[1] = {o->all ? "true" : "false"};
	struct ct_pg_result *res = NULL;
	int rc = cli_run(cfg, sql, 1, params, &res);

	if (rc != 0)
		return rc;
	if (o->json) {
		rc = print_rows_json(res, inspect_cols,
		                     sizeof(inspect_cols) / sizeof(inspect_cols[0]));
	} else {
		printf("%d %s item(s)\n", ct_pg_result_rows(res),
		       o->all ? "inspection" : "open inspection");
		for (int r = 0; r < ct_pg_result_rows(res); r++) {
			const char *kind = ct_unit_kind_name(code(res, r, "unit_kind"));
			printf("#%-6s %-20s %-10s %s/%s/%s queue=%s entered %s\n",
			       val(res, r, "item_id"), val(res, r, "unit_id"), kind ? kind : "?",
			       val(res, r, "site"), val(res, r, "line"), val(res, r, "station"),
			       val(res, r, "queue"), val(res, r, "entered_at"));
			printf("        reason: %s (verdict %s, cause %s)\n", val(res, r, "reason"),
			       ct_trace_verdict_name(code(res, r, "verdict")),
			       val(res, r, "cause"));
			if (!ct_pg_is_null(res, r, "disposition"))
				printf("        disposed: %s by %s at %s: %s\n",
				       val(res, r, "disposition"), text(res, r, "disposed_by"),
				       text(res, r, "disposed_at"),
				       text(res, r, "disposition_reason"));
		}
		rc = cli_check(res);
	}
	ct_pg_result_free(res);
	return rc;
}

static int inspect_dispose(const struct cli_config *cfg, const struct opts *o)
{
	static const char sql[] = "SELECT ct_dispose($1::bigint, $2, $3)";
	const char *disposition = o->pos[1];
	const char *params[3] = {o->pos[0], disposition, o->reason};
	long item;
	int rc;

	if (ct_parse_long(o->pos[0], 1, 0x7fffffffffffffffL, &item) != CT_OK) {
		fprintf(stderr, "cellthread: '%s' is not an inspection item ID\n", o->pos[0]);
		return EXIT_USAGE;
	}
	if (strcmp(disposition, "release") != 0 && strcmp(disposition, "rework") != 0 &&
	    strcmp(disposition, "scrap") != 0) {
		fprintf(stderr, "cellthread: the disposition is release, rework or scrap\n");
		return EXIT_USAGE;
	}
	if ((rc = require_reason(o)) != 0)
		return rc;
	if ((rc = cli_run(cfg, sql, 3, params, NULL)) != 0)
		return rc;
	printf("inspection item #%ld disposed: %s\n", item, disposition);
	return 0;
}

int cli_inspect(const struct cli_config *cfg, int argc, char **argv)
{
	struct opts o;
	int rc;

	if (argc > 0 && strcmp(argv[0], "dispose") == 0) {
		if ((rc = parse_opts(argc - 1, argv + 1, OPT_REASON, 2, &o)) != 0)
			return rc;
		return inspect_dispose(cfg, &o);
	}
	if ((rc = parse_opts(argc, argv, OPT_ALL | OPT_JSON, 0, &o)) != 0)
		return rc;
	return inspect_list(cfg, &o);
}

/* ---- lot ------------------------------------------------------------------------------- */

static const struct column lot_cols[] = {
        {"site", COL_TEXT},   {"lot_id", COL_TEXT},     {"state", COL_LOT_STATE},
        {"reason", COL_TEXT}, {"changed_by", COL_TEXT}, {"changed_at", COL_TEXT},
};

static const struct column audit_cols[] = {
        {"audit_id", COL_INT},      {"from_state", COL_LOT_STATE}, {"to_state", COL_LOT_STATE},
        {"reason", COL_TEXT},       {"actor", COL_TEXT},           {"at", COL_TEXT},
        {"published_at", COL_TEXT},
};

static int lot_list(const struct cli_config *cfg, const struct opts *o)
{
	static const char sql[] =
	        "SELECT site, lot_id, state, reason, changed_by, changed_at FROM lot_status"
	        " WHERE $1::bool OR state <> 1 ORDER BY changed_at DESC, site, lot_id";
	const char *params[1] = {o->all ? "true" : "false"};
	struct ct_pg_result *res = NULL;
	int rc = cli_run(cfg, sql, 1, params, &res);

	if (rc != 0)
		return rc;
	if (o->json) {
		rc = print_rows_json(res, lot_cols, sizeof(lot_cols) / sizeof(lot_cols[0]));
	} else {
		printf("%d %s lot(s)\n", ct_pg_result_rows(res),
		       o->all ? "recorded" : "held or quarantined");
		for (int r = 0; r < ct_pg_result_rows(res); r++)
			printf("%s/%-24s %-11s since %s by %s: %s\n", val(res, r, "site"),
			       val(res, r, "lot_id"), lot_state_name(code(res, r, "state")),
			       val(res, r, "changed_at"), val(res, r, "changed_by"),
			       val(res, r, "reason"));
		rc = cli_check(res);
	}
	ct_pg_result_free(res);
	return rc;
}

static int lot_show(const struct cli_config *cfg, const struct opts *o)
{
	static const char status_sql[] =
	        "SELECT site, lot_id, state, reason, changed_by, changed_at FROM lot_status"
	        " WHERE site = $1 AND lot_id = $2";
	static const char audit_sql[] =
	        "SELECT audit_id, from_state, to_state, reason, actor, at, published_at"
	        " FROM lot_audit WHERE site = $1 AND lot_id = $2 ORDER BY at, audit_id";
	const char *params[2] = {o->pos[0], o->pos[1]};
	struct ct_pg_result *status = NULL, *audit = NULL;
	struct ct_pg *pg = NULL;
	int rc;

	if ((rc = require_ids(params, 2)) != 0 || (rc = cli_connect_utc(cfg, &pg)) != 0)
		return rc;
	rc = cli_query(pg, status_sql, 2, params, &status);
	if (rc == 0)
		rc = cli_query(pg, audit_sql, 2, params, &audit);
	ct_pg_free(pg);
	if (rc != 0)
		goto out;
	if (o->json) {
		json_t *root, *trail = json_array();
		if (ct_pg_result_rows(status) > 0) {
			root = row_json(status, 0, lot_cols,
			                sizeof(lot_cols) / sizeof(lot_cols[0]));
		} else {
			/* Absent means released: never held. */
			root = json_pack("{s:s, s:s, s:s, s:n, s:n, s:n}", "site", params[0],
			                 "lot_id", params[1], "state", "released", "reason",
			                 "changed_by", "changed_at");
		}
		for (int r = 0; trail != NULL && r < ct_pg_result_rows(audit); r++)
			json_array_append_new(trail,
			                      row_json(audit, r, audit_cols,
			                               sizeof(audit_cols) / sizeof(audit_cols[0])));
		json_object_set_new(root, "audit", trail);
		if ((rc = cli_check(status)) != 0 || (rc = cli_check(audit)) != 0)
			json_decref(root);
		else
			rc = print_json(root);
		goto out;
	}
	if (ct_pg_result_rows(status) > 0)
		printf("lot %s/%s: %s since %s by %s: %s\n", params[0], params[1],
		       lot_state_name(code(status, 0, "state")), val(status, 0, "changed_at"),
		       val(status, 0, "changed_by"), val(status, 0, "reason"));
	else
		printf("lot %s/%s: released (never held)\n", params[0], params[1]);
	printf("audit trail (%d change(s)):\n", ct_pg_result_rows(audit));
	for (int r = 0; r < ct_pg_result_rows(audit); r++)
		printf("  #%-6s %s %s -> %s by %s: %s (published %s)\n", val(audit, r, "audit_id"),
		       val(audit, r, "at"), lot_state_name(code(audit, r, "from_state")),
		       lot_state_name(code(audit, r, "to_state")), val(audit, r, "actor"),
		       val(audit, r, "reason"), text(audit, r, "published_at"));
	if ((rc = cli_check(status)) == 0)
		rc = cli_check(audit);
out:
	ct_pg_result_free(status);
	ct_pg_result_free(audit);
	return rc;
}

/* lot hold / lot release through ct_lot_set (releasing needs a ct_quality login). */
static int lot_set(const struct cli_config *cfg, const struct opts *o, int state)
{
	static const char sql[] = "SELECT ct_lot_set($1, $2, $3::smallint, $4) AS audit_id";
	char state_text[4];
	const char *params[4] = {o->pos[0], o->pos[1], state_text, o->reason};
	struct ct_pg_result *res = NULL;
	int rc;

	if ((rc = require_ids(params, 2)) != 0 || (rc = require_reason(o)) != 0)
		return rc;
	snprintf(state_text, sizeof(state_text), "%d", state);
	if ((rc = cli_run(cfg, sql, 4, params, &res)) != 0)
		return rc;
	if (ct_pg_is_null(res, 0, "audit_id"))
		printf("lot %s/%s is already %s; nothing changed\n", params[0], params[1],
		       lot_state_name(state));
	else
		printf("lot %s/%s is now %s (audit #%s; spc-gate publishes the status)\n",
		       params[0], params[1], lot_state_name(state), val(res, 0, "audit_id"));
	rc = cli_check(res);
	ct_pg_result_free(res);
	return rc;
}

int cli_lot(const struct cli_config *cfg, int argc, char **argv)
{
	const char *sub = argc > 0 ? argv[0] : "";
	struct opts o;
	int rc;

	if (strcmp(sub, "list") == 0) {
		if ((rc = parse_opts(argc - 1, argv + 1, OPT_ALL | OPT_JSON, 0, &o)) != 0)
			return rc;
		return lot_list(cfg, &o);
	}
	if (strcmp(sub, "show") == 0) {
		if ((rc = parse_opts(argc - 1, argv + 1, OPT_JSON, 2, &o)) != 0)
			return rc;
		return lot_show(cfg, &o);
	}
	if (strcmp(sub, "hold") == 0) {
		if ((rc = parse_opts(argc - 1, argv + 1, OPT_REASON | OPT_QUARANTINE, 2, &o)) != 0)
			return rc;
		return lot_set(cfg, &o, o.quarantine ? 3 : 2);
	}
	if (strcmp(sub, "release") == 0) {
		if ((rc = parse_opts(argc - 1, argv + 1, OPT_REASON, 2, &o)) != 0)
			return rc;
		return lot_set(cfg, &o, 1);
	}
	cli_usage(stderr);
	return EXIT_USAGE;
}

/* ---- actions --------------------------------------------------------------------------- */

static const struct column action_cols[] = {
        {"command_id", COL_TEXT},
        {"alert_id", COL_TEXT},
        {"chart_id", COL_TEXT},
        {"site", COL_TEXT},
        {"line", COL_TEXT},
        {"station", COL_TEXT},
        {"kind", COL_COMMAND},
        {"parameter", COL_TEXT},
        {"target_value", COL_REAL},
        {"delta", COL_REAL},
        {"unit", COL_TEXT},
        {"reason_code", COL_TEXT},
        {"reason_text", COL_TEXT},
        {"cause_event_id", COL_TEXT},
        {"decided_at", COL_TEXT},
        {"undo", COL_TEXT},
        {"undo_requested_by", COL_TEXT},
        {"undo_requested_at", COL_TEXT},
        {"undo_reason", COL_TEXT},
        {"undo_command_id", COL_TEXT},
        {"undone_at", COL_TEXT},
};

static int actions_list(const struct cli_config *cfg, const struct opts *o)
{
	static const char sql[] =
	        "SELECT command_id, alert_id, chart_id, site, line, station, kind, parameter,"
	        " target_value, delta, uom AS unit, reason_code, reason_text, cause_event_id,"
	        " decided_at, CASE WHEN undone_at IS NOT NULL THEN 'undone'"
	        " WHEN undo_requested_at IS NOT NULL THEN 'requested' ELSE 'none' END AS undo,"
	        " undo_requested_by, undo_requested_at, undo_reason, undo_command_id, undone_at"
	        " FROM automatic_action ORDER BY decided_at DESC, command_id LIMIT $1::int";
	const char *params[1] = {o->limit};
	struct ct_pg_result *res = NULL;
	int rc = cli_run(cfg, sql, 1, params, &res);

	if (rc != 0)
		return rc;
	if (o->json) {
		rc = print_rows_json(res, action_cols,
		                     sizeof(action_cols) / sizeof(action_cols[0]));
	} else {
		printf("%d automatic action(s), newest first\n", ct_pg_result_rows(res));
		for (int r = 0; r < ct_pg_result_rows(res); r++) {
			const char *undo = val(res, r, "undo");
			printf("%s %s %s/%s/%s chart %s: %s", val(res, r, "decided_at"),
			       val(res, r, "command_id"), val(res, r, "site"), val(res, r, "line"),
			       val(res, r, "station"), val(res, r, "chart_id"),
			       command_kind_name(code(res, r, "kind")));
			if (!ct_pg_is_null(res, r, "parameter"))
				printf(" %s", val(res, r, "parameter"));
			if (!ct_pg_is_null(res, r, "target_value"))
				printf(" to %s %s", val(res, r, "target_value"),
				       val(res, r, "unit"));
			if (!ct_pg_is_null(res, r, "delta"))
				printf(" (delta %s)", val(res, r, "delta"));
			printf("\n        reason %s: %s; cause %s\n", val(res, r, "reason_code"),
			       val(res, r, "reason_text"), val(res, r, "cause_event_id"));
			if (strcmp(undo, "undone") == 0)
				printf("        undone at %s by command %s (asked by %s: %s)\n",
				       text(res, r, "undone_at"), text(res, r, "undo_command_id"),
				       text(res, r, "undo_requested_by"),
				       text(res, r, "undo_reason"));
			else if (strcmp(undo, "requested") == 0)
				printf("        undo requested by %s at %s: %s (pending)\n",
				       text(res, r, "undo_requested_by"),
				       text(res, r, "undo_requested_at"),
				       text(res, r, "undo_reason"));
		}
		rc = cli_check(res);
	}
	ct_pg_result_free(res);
	return rc;
}

static int actions_undo(const struct cli_config *cfg, const struct opts *o)
{
	static const char sql[] = "SELECT ct_undo_action($1, $2)";
	const char *params[2] = {o->pos[0], o->reason};
	int rc;

	if ((rc = require_ids(params, 1)) != 0 || (rc = require_reason(o)) != 0)
		return rc;
	if ((rc = cli_run(cfg, sql, 2, params, NULL)) != 0)
		return rc;
	printf("undo of %s requested; spc-gate sends the inverse command\n", params[0]);
	return 0;
}

int cli_actions(const struct cli_config *cfg, int argc, char **argv)
{
	struct opts o;
	int rc;

	if (argc > 0 && strcmp(argv[0], "undo") == 0) {
		if ((rc = parse_opts(argc - 1, argv + 1, OPT_REASON, 1, &o)) != 0)
			return rc;
		return actions_undo(cfg, &o);
	}
	if ((rc = parse_opts(argc, argv, OPT_JSON | OPT_LIMIT, 0, &o)) != 0)
		return rc;
	return actions_list(cfg, &o);
}

/* ---- charts ---------------------------------------------------------------------------- */

static const struct column chart_cols[] = {
        {"chart_id", COL_TEXT},   {"site", COL_TEXT},       {"line", COL_TEXT},
        {"station", COL_TEXT},    {"recipe", COL_TEXT},     {"points", COL_INT},
        {"signals", COL_INT},     {"last_value", COL_REAL}, {"lcl", COL_REAL},
        {"centre", COL_REAL},     {"ucl", COL_REAL},        {"values", COL_INT},
        {"mean", COL_REAL},       {"cp", COL_REAL},         {"cpk", COL_REAL},
        {"pp", COL_REAL},         {"ppk", COL_REAL},        {"cpm", COL_REAL},
        {"updated_at", COL_TEXT},
};

/* Every chart instance with its last point and live capability (migration 0006). */
int cli_charts(const struct cli_config *cfg, int argc, char **argv)
{
	static const char sql[] =
	        "SELECT chart_id, site, line, station, recipe, points, signals, last_value, lcl,"
	        " centre, ucl, overall_n AS \"values\","
	        " CASE WHEN overall_n > 0 THEN overall_mean END AS mean, cp, cpk, pp, ppk, cpm,"
	        " updated_at FROM spc_chart_state ORDER BY chart_id, site, line, station, recipe";
	struct ct_pg_result *res = NULL;
	struct opts o;
	int rc;

	if ((rc = parse_opts(argc, argv, OPT_JSON, 0, &o)) != 0)
		return rc;
	if ((rc = cli_run(cfg, sql, 0, NULL, &res)) != 0)
		return rc;
	if (o.json) {
		rc = print_rows_json(res, chart_cols, sizeof(chart_cols) / sizeof(chart_cols[0]));
	} else {
		printf("%d chart instance(s)\n", ct_pg_result_rows(res));
		for (int r = 0; r < ct_pg_result_rows(res); r++)
			printf("%-18s %s/%s/%s/%s: %s points, %s signals, last %s (%s..%s); "
			       "Cp %s Cpk %s Pp %s Ppk %s over %s values\n",
			       val(res, r, "chart_id"), val(res, r, "site"), val(res, r, "line"),
			       val(res, r, "station"), val(res, r, "recipe"), val(res, r, "points"),
			       val(res, r, "signals"), text(res, r, "last_value"),
			       text(res, r, "lcl"), text(res, r, "ucl"), text(res, r, "cp"),
			       text(res, r, "cpk"), text(res, r, "pp"), text(res, r, "ppk"),
			       val(res, r, "values"));
		rc = cli_check(res);
	}
	ct_pg_result_free(res);
	return rc;
}

/* ---- verdicts -------------------------------------------------------------------------- */

int cli_verdicts(const struct cli_config *cfg, int argc, char **argv)
{
	Cellthread__V1__Verdict **verdicts = NULL;
	size_t n = 0;
	bool truncated = false;
	struct ct_pg *pg = NULL;
	struct opts o;
	char err[512];
	int rc;

	if ((rc = parse_opts(argc, argv, OPT_JSON, 1, &o)) != 0 ||
	    (rc = require_ids(o.pos, 1)) != 0)
		return rc;
	if (cli_connect_pg(cfg, &pg) != CT_OK)
		return EXIT_FAILED;
	if (ct_trace_verdicts_load(pg, (char *const *)o.pos, 1, 100000, &verdicts, &n, &truncated,
	                           err, sizeof(err)) != CT_OK) {
		fprintf(stderr, "cellthread: %s\n", err);
		rc = EXIT_FAILED;
	} else if (o.json) {
		json_t *array = json_array();
		for (size_t i = 0; array != NULL && i < n; i++)
			json_array_append_new(array, ct_trace_verdict_to_json(verdicts[i]));
		rc = print_json(array);
	} else {
		printf("%zu verdict(s) on %s%s\n", n, o.pos[0], truncated ? " (truncated)" : "");
		for (size_t i = 0; i < n; i++)
			ct_trace_verdict_print(verdicts[i], "  ", stdout);
	}
	for (size_t i = 0; i < n; i++)
		protobuf_c_message_free_unpacked(&verdicts[i]->base, NULL);
	free(verdicts);
	ct_pg_free(pg);
	return rc;
}
