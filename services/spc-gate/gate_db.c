/* gate_db: spc-gate's configuration, state and batch saves in PostgreSQL (see gate_db.h). */
#include "gate_db.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_log.h"

/* ---- pending rows ------------------------------------------------------------------ */

static void rows_init(struct gate_rows *r, int ncols)
{
	memset(r, 0, sizeof(*r));
	r->ncols = ncols;
	for (int i = 0; i < ncols; i++)
		ct_pgarray_init(&r->cols[i]);
}

static void rows_reset(struct gate_rows *r)
{
	for (int i = 0; i < r->ncols; i++)
		ct_pgarray_reset(&r->cols[i]);
	r->cur = 0;
	r->rows = 0;
}

static void rows_cleanup(struct gate_rows *r)
{
	for (int i = 0; i < r->ncols; i++)
		ct_pgarray_cleanup(&r->cols[i]);
}

/* The column the next value goes to; a row with too many values is a bug, caught here. */
static struct ct_pgarray *next_col(struct gate_rows *r)
{
	if (r->cur >= r->ncols) {
		ct_error("internal: more values than columns in a row");
		abort();
	}
	return &r->cols[r->cur++];
}

void gate_rows_text(struct gate_rows *r, const char *text)
{
	ct_pgarray_text(next_col(r), text);
}

void gate_rows_null(struct gate_rows *r)
{
	ct_pgarray_null(next_col(r));
}

void gate_rows_int64(struct gate_rows *r, int64_t value)
{
	ct_pgarray_int64(next_col(r), value);
}

void gate_rows_double(struct gate_rows *r, double value)
{
	ct_pgarray_double(next_col(r), value);
}

void gate_rows_bytea(struct gate_rows *r, const void *data, size_t len)
{
	ct_pgarray_bytea(next_col(r), data, len);
}

void gate_rows_end(struct gate_rows *r)
{
	if (r->cur != r->ncols) {
		ct_error("internal: %d values in a row of %d columns", r->cur, r->ncols);
		abort();
	}
	r->cur = 0;
	r->rows++;
}

/* Column counts, in the order of the INSERT statements in gate_db_save. */
#define JUDGED_COLS   1
#define STATES_COLS   24
#define SIGNALS_COLS  15
#define ACTIONS_COLS  15
#define ITEMS_COLS    10
#define HELD_COLS     4
#define COUNTERS_COLS 5

void gate_pending_init(struct gate_pending *p)
{
	memset(p, 0, sizeof(*p));
	rows_init(&p->judged, JUDGED_COLS);
	rows_init(&p->states, STATES_COLS);
	rows_init(&p->signals, SIGNALS_COLS);
	rows_init(&p->actions, ACTIONS_COLS);
	rows_init(&p->items, ITEMS_COLS);
	rows_init(&p->held_units, HELD_COLS);
	rows_init(&p->counters, COUNTERS_COLS);
}

void gate_pending_reset(struct gate_pending *p)
{
	rows_reset(&p->judged);
	rows_reset(&p->states);
	rows_reset(&p->signals);
	rows_reset(&p->actions);
	rows_reset(&p->items);
	rows_reset(&p->held_units);
	rows_reset(&p->counters);
	p->n_holds = 0;
	p->chart_seq = 0;
	p->has_position = false;
	p->error[0] = '\0';
	p->stopped = false;
}

void gate_pending_cleanup(struct gate_pending *p)
{
	rows_cleanup(&p->judged);
	rows_cleanup(&p->states);
	rows_cleanup(&p->signals);
	rows_cleanup(&p->actions);
	rows_cleanup(&p->items);
	rows_cleanup(&p->held_units);
	rows_cleanup(&p->counters);
	free(p->holds);
	memset(p, 0, sizeof(*p));
}

bool gate_pending_is_empty(const struct gate_pending *p)
{
	return p->judged.rows + p->states.rows + p->signals.rows + p->actions.rows + p->items.rows +
	               p->held_units.rows + p->counters.rows + p->n_holds ==
	       0;
}

int gate_pending_add_hold(struct gate_pending *p, const struct gate_hold *hold)
{
	if (p->n_holds == p->cap_holds) {
		size_t cap = p->cap_holds ? p->cap_holds * 2 : 16;
		struct gate_hold *grown = realloc(p->holds, cap * sizeof(*grown));
		if (grown == NULL)
			return CT_ERR_NOMEM;
		p->holds = grown;
		p->cap_holds = cap;
	}
	p->holds[p->n_holds++] = *hold;
	return CT_OK;
}

void gate_pending_item(struct gate_pending *p, const char *unit_id, int unit_kind, const char *site,
                       const char *line, const char *station, const char *queue, const char *cause,
                       const char *reason, int verdict, int64_t at_us)
{
	struct gate_rows *r = &p->items;

	gate_rows_text(r, unit_id);
	gate_rows_int64(r, unit_kind);
	gate_rows_text(r, site);
	gate_rows_text(r, line);
	gate_rows_text(r, station);
	gate_rows_text(r, queue);
	gate_rows_text(r, cause);
	gate_rows_text(r, reason);
	gate_rows_int64(r, verdict);
	gate_rows_int64(r, at_us);
	gate_rows_end(r);
}

void gate_pending_held_unit(struct gate_pending *p, const char *unit_id, const char *lot_id,
                            const char *site, int64_t at_us)
{
	struct gate_rows *r = &p->held_units;

	gate_rows_text(r, unit_id);
	gate_rows_text(r, lot_id);
	gate_rows_text(r, site);
	gate_rows_int64(r, at_us);
	gate_rows_end(r);
}

static void add_index(struct gate_rows *r, bool known, const struct spc_index *index)
{
	if (known && index->defined)
		gate_rows_double(r, index->value);
	else
		gate_rows_null(r);
}

/* Cp, Cpk, Pp, Ppk, Cpm of a state row: NULL where the chart has none (see
 * gate_chart_capability) or the index is undefined for its spec (Cp of a one-sided one). */
static void add_capability(struct gate_rows *r, const struct gate_charts *charts,
                           const struct gate_chart *chart)
{
	struct spc_capability cap;
	bool known = gate_chart_capability(charts, chart, &cap);

	add_index(r, known, &cap.cp);
	add_index(r, known, &cap.cpk);
	add_index(r, known, &cap.pp);
	add_index(r, known, &cap.ppk);
	add_index(r, known, &cap.cpm);
}

void gate_pending_snapshot(struct gate_pending *p, struct gate_charts *charts,
                           struct gate_lots *lots, int64_t now_us)
{
	p->chart_seq = ++charts->snap_seq;
	for (size_t i = 0; i < charts->n_charts; i++) {
		struct gate_chart *chart = charts->charts[i];
		const struct gate_chart_def *def = &charts->defs[chart->def];
		struct gate_rows *r = &p->states;
		if (!chart->dirty)
			continue;
		gate_rows_text(r, def->chart_id);
		gate_rows_text(r, chart->site);
		gate_rows_text(r, chart->line);
		gate_rows_text(r, chart->station);
		gate_rows_text(r, chart->recipe);
		gate_rows_text(r, def->config_hash);
		gate_rows_int64(r, GATE_BLOB_VERSION);
		gate_rows_bytea(r, &chart->blob, gate_blob_size(def));
		gate_rows_int64(r, (int64_t)gate_chart_points(charts, chart));
		gate_rows_int64(r, (int64_t)chart->blob.signals);
		gate_rows_double(r, chart->last_value);
		gate_rows_double(r, chart->lcl);
		gate_rows_double(r, chart->cl);
		gate_rows_double(r, chart->ucl);
		gate_rows_int64(r, chart->blob.plan_step);
		if (chart->blob.last_action_us > 0)
			gate_rows_int64(r, chart->blob.last_action_us);
		else
			gate_rows_null(r);
		gate_rows_int64(r, (int64_t)chart->overall.n);
		gate_rows_double(r, chart->overall.mean);
		gate_rows_double(r, chart->overall.m2);
		add_capability(r, charts, chart);
		gate_rows_end(r);
		chart->dirty = false;
		chart->snap_seq = p->chart_seq;
	}
	for (size_t i = 0; i < lots->n_counters; i++) {
		struct gate_lot_counter *k = &lots->counters[i];
		struct gate_rows *r = &p->counters;
		if (!k->dirty)
			continue;
		gate_rows_text(r, k->site);
		gate_rows_text(r, k->lot_id);
		gate_rows_text(r, k->rule_id);
		gate_rows_int64(r, k->units);
		gate_rows_int64(r, k->failed);
		gate_rows_end(r);
		k->dirty = false;
	}
	(void)now_us;
}

/* ---- helpers ------------------------------------------------------------------------- */

/* Result columns are read by name. A value that does not parse is remembered by the result
 * and reported by ct_pg_result_check once the rows are read. */

/* A text column copied into dst ("" for NULL), cut to fit as the fixed-size fields are. */
static void field(char *dst, size_t len, struct ct_pg_result *res, int row, const char *col)
{
	const char *v = ct_pg_text(res, row, col);
	snprintf(dst, len, "%s", v ? v : "");
}

/* A text column, "" for NULL. */
static const char *str(struct ct_pg_result *res, int row, const char *col)
{
	const char *v = ct_pg_text(res, row, col);
	return v ? v : "";
}

static bool has(struct ct_pg_result *res, int row, const char *col)
{
	return !ct_pg_is_null(res, row, col);
}

/* A nullable float8: NaN for NULL. */
static double number(struct ct_pg_result *res, int row, const char *col)
{
	double v = NAN;
	if (has(res, row, col))
		ct_pg_double(res, row, col, &v);
	return v;
}

/* A nullable integer: 0 for NULL. */
static long integer(struct ct_pg_result *res, int row, const char *col)
{
	int64_t v = 0;
	if (has(res, row, col))
		ct_pg_int64(res, row, col, &v);
	return (long)v;
}

/* A nullable boolean: false for NULL. */
static bool flag(struct ct_pg_result *res, int row, const char *col)
{
	bool v = false;
	if (has(res, row, col))
		ct_pg_bool(res, row, col, &v);
	return v;
}

/* Frees res; a value that did not parse turns rc into CT_ERR_INVALID (reason in err). */
static int done_with(struct ct_pg_result *res, int rc, char *err, size_t err_len)
{
	if (rc == CT_OK && res != NULL)
		rc = ct_pg_result_check(res, err, err_len);
	ct_pg_result_free(res);
	return rc;
}

/* ---- session ------------------------------------------------------------------------- */

int gate_db_session_setup(struct ct_pg *pg, char *err, size_t err_len)
{
	static const char *const channels[] = {"ct_spc_config", "ct_lot", "ct_spc_undo"};
	int rc = CT_OK;

	/* ct_pg LISTENs again by itself after a reconnect; this call is for the first. */
	for (size_t i = 0; i < sizeof(channels) / sizeof(channels[0]) && rc == CT_OK; i++)
		rc = ct_pg_listen(pg, channels[i], err, err_len);
	return rc;
}

/* ---- configuration ------------------------------------------------------------------- */

static int load_specs(struct ct_pg *pg, struct gate_spec_set *specs, char *err, size_t err_len)
{
	static const char sql[] =
	        "SELECT site, line, station, station_type, recipe, recipe_version, characteristic,"
	        " lsl, usl, target, uom, on_fail, required FROM spec_limit";
	struct ct_pg_result *res = NULL;
	struct gate_spec *rows = NULL;
	int n, rc;

	if ((rc = ct_pg_query(pg, sql, 0, NULL, &res, err, err_len)) != CT_OK)
		return rc;
	n = ct_pg_result_rows(res);
	if (n > 0 && (rows = calloc((size_t)n, sizeof(*rows))) == NULL) {
		ct_pg_result_free(res);
		return CT_ERR_NOMEM;
	}
	for (int i = 0; i < n; i++) {
		struct gate_spec *s = &rows[i];
		field(s->site, sizeof(s->site), res, i, "site");
		field(s->line, sizeof(s->line), res, i, "line");
		field(s->station, sizeof(s->station), res, i, "station");
		s->station_type = (int)integer(res, i, "station_type");
		field(s->recipe, sizeof(s->recipe), res, i, "recipe");
		s->recipe_version = (uint32_t)integer(res, i, "recipe_version");
		field(s->characteristic, sizeof(s->characteristic), res, i, "characteristic");
		s->has_lsl = has(res, i, "lsl");
		s->lsl = number(res, i, "lsl");
		s->has_usl = has(res, i, "usl");
		s->usl = number(res, i, "usl");
		s->has_target = has(res, i, "target");
		s->target = number(res, i, "target");
		field(s->uom, sizeof(s->uom), res, i, "uom");
		s->on_fail = (int)integer(res, i, "on_fail");
		s->required = flag(res, i, "required");
	}
	if ((rc = done_with(res, CT_OK, err, err_len)) != CT_OK) {
		free(rows);
		return rc;
	}
	gate_spec_set_cleanup(specs);
	gate_spec_set_init(specs, rows, (size_t)n);
	return CT_OK;
}

static int load_plans(struct ct_pg *pg, struct gate_plan_step **ret, size_t *ret_n, char *err,
                      size_t err_len)
{
	static const char sql[] =
	        "SELECT plan_id, step, action, coalesce(parameter, '') AS parameter, gain, "
	        "max_step,"
	        " min_value, max_value, target_value, uom, reason_code, severity, cooldown_s,"
	        " min_signals FROM reaction_plan_step";
	struct ct_pg_result *res = NULL;
	struct gate_plan_step *rows = NULL;
	int n, rc;

	if ((rc = ct_pg_query(pg, sql, 0, NULL, &res, err, err_len)) != CT_OK)
		return rc;
	n = ct_pg_result_rows(res);
	if (n > 0 && (rows = calloc((size_t)n, sizeof(*rows))) == NULL) {
		ct_pg_result_free(res);
		return CT_ERR_NOMEM;
	}
	for (int i = 0; i < n; i++) {
		struct gate_plan_step *s = &rows[i];
		const char *action = str(res, i, "action");
		field(s->plan_id, sizeof(s->plan_id), res, i, "plan_id");
		s->step = (int)integer(res, i, "step");
		s->action = strcmp(action, "slow") == 0     ? GATE_ACTION_SLOW
		            : strcmp(action, "stop") == 0   ? GATE_ACTION_STOP
		            : strcmp(action, "adjust") == 0 ? GATE_ACTION_ADJUST
		                                            : GATE_ACTION_ALERT;
		field(s->parameter, sizeof(s->parameter), res, i, "parameter");
		s->gain = number(res, i, "gain");
		s->max_step = number(res, i, "max_step");
		s->has_min = has(res, i, "min_value");
		s->min_value = number(res, i, "min_value");
		s->has_max = has(res, i, "max_value");
		s->max_value = number(res, i, "max_value");
		s->target_value = number(res, i, "target_value");
		field(s->uom, sizeof(s->uom), res, i, "uom");
		field(s->reason_code, sizeof(s->reason_code), res, i, "reason_code");
		s->severity = (int)integer(res, i, "severity");
		s->cooldown_s = (int)integer(res, i, "cooldown_s");
		s->min_signals = (int)integer(res, i, "min_signals");
	}
	if ((rc = done_with(res, CT_OK, err, err_len)) != CT_OK) {
		free(rows);
		return rc;
	}
	*ret = rows;
	*ret_n = (size_t)n;
	return CT_OK;
}

/* Splits a comma-separated characteristic list into def->names. */
static bool split_names(struct gate_chart_def *def, const char *text)
{
	def->n_names = 0;
	while (*text) {
		size_t len = strcspn(text, ", ");
		if (len > 0) {
			if (def->n_names == SPC_T2_MAX_P || len >= GATE_NAME_MAX)
				return false;
			snprintf(def->names[def->n_names++], GATE_NAME_MAX, "%.*s", (int)len, text);
		}
		text += len;
		text += strspn(text, ", ");
	}
	return def->n_names > 0;
}

static int load_charts(struct ct_pg *pg, struct gate_chart_def **ret, size_t *ret_n, char *err,
                       size_t err_len)
{
	/* config_hash covers what defines the chart's statistics, not its reaction plan:
	 * changing the plan keeps the chart's history, changing its limits starts it over.
	 * constants enters it only when not 'exact' (concat_ws skips the NULL), so the charts
	 * that existed before the column (0007) keep their hash and their saved state. */
	static const char sql[] =
	        "SELECT chart_id, site, line, station, station_type, recipe, characteristic, kind,"
	        " subgroup_size, ewma_lambda, ewma_l, cusum_k, cusum_h, rules, baseline_points,"
	        " centre, sigma, coalesce(reaction_plan, '') AS reaction_plan,"
	        " left(md5(concat_ws('|', site, line, station, station_type, recipe,"
	        "  characteristic, kind, subgroup_size, ewma_lambda, ewma_l, cusum_k, cusum_h, "
	        "rules,"
	        "  baseline_points, centre, sigma, profile_z, profile_max_rms, profile_max_abs,"
	        "  profile_max_outside, nullif(constants, 'exact'))), 16) AS config_hash,"
	        " profile_z, profile_max_rms, profile_max_abs, profile_max_outside, constants"
	        " FROM spc_chart WHERE enabled ORDER BY chart_id";
	struct ct_pg_result *res = NULL;
	struct gate_chart_def *rows = NULL;
	size_t kept = 0;
	int n, rc;

	if ((rc = ct_pg_query(pg, sql, 0, NULL, &res, err, err_len)) != CT_OK)
		return rc;
	n = ct_pg_result_rows(res);
	if (n > 0 && (rows = calloc((size_t)n, sizeof(*rows))) == NULL) {
		ct_pg_result_free(res);
		return CT_ERR_NOMEM;
	}
	for (int i = 0; i < n; i++) {
		struct gate_chart_def *d = &rows[kept];
		const char *names = str(res, i, "characteristic");
		char why[256];
		memset(d, 0, sizeof(*d));
		field(d->chart_id, sizeof(d->chart_id), res, i, "chart_id");
		field(d->site, sizeof(d->site), res, i, "site");
		field(d->line, sizeof(d->line), res, i, "line");
		field(d->station, sizeof(d->station), res, i, "station");
		d->station_type = (int)integer(res, i, "station_type");
		field(d->recipe, sizeof(d->recipe), res, i, "recipe");
		field(d->kind_name, sizeof(d->kind_name), res, i, "kind");
		field(d->plan_id, sizeof(d->plan_id), res, i, "reaction_plan");
		field(d->config_hash, sizeof(d->config_hash), res, i, "config_hash");
		if (!split_names(d, names)) {
			ct_warn("chart %s ignored: characteristic list '%s' is empty, too long or "
			        "names more than %d",
			        d->chart_id, names, SPC_T2_MAX_P);
			continue;
		}
		if (gate_chart_def_build(
		            d, (int)integer(res, i, "subgroup_size"), str(res, i, "rules"),
		            has(res, i, "baseline_points"), (int)integer(res, i, "baseline_points"),
		            has(res, i, "centre"), number(res, i, "centre"), has(res, i, "sigma"),
		            number(res, i, "sigma"), number(res, i, "ewma_lambda"),
		            number(res, i, "ewma_l"), number(res, i, "cusum_k"),
		            number(res, i, "cusum_h"), why, sizeof(why)) != CT_OK) {
			ct_warn("chart %s ignored: %s", d->chart_id, why);
			continue;
		}
		/* Univariate charts only: t2 and profile charts have no such constants. */
		enum spc_constants_set set = SPC_CONSTANTS_EXACT;
		if (spc_constants_set_from_name(str(res, i, "constants"), &set) != SPC_OK) {
			ct_warn("chart %s ignored: constants '%s' is not exact or table",
			        d->chart_id, str(res, i, "constants"));
			continue;
		}
		if (!d->is_t2 && !d->is_profile)
			d->spc.constants = (uint8_t)set;
		if (d->is_profile &&
		    gate_chart_def_profile_limits(
		            d, number(res, i, "profile_z"), number(res, i, "profile_max_rms"),
		            number(res, i, "profile_max_abs"),
		            number(res, i, "profile_max_outside"), why, sizeof(why)) != CT_OK) {
			ct_warn("chart %s ignored: %s", d->chart_id, why);
			continue;
		}
		kept++;
	}
	if ((rc = done_with(res, CT_OK, err, err_len)) != CT_OK) {
		free(rows);
		return rc;
	}
	*ret = rows;
	*ret_n = kept;
	return CT_OK;
}

static int load_rules(struct ct_pg *pg, struct gate_lots *lots, char *err, size_t err_len)
{
	static const char sql[] =
	        "SELECT rule_id, station, station_type,"
	        " coalesce(characteristic, '') AS characteristic, mode, fail_rate, min_units,"
	        " lot_scope, hold_state FROM lot_gate_rule WHERE enabled";
	struct ct_pg_result *res = NULL;
	struct gate_lot_rule *rows = NULL;
	int n, rc;

	if ((rc = ct_pg_query(pg, sql, 0, NULL, &res, err, err_len)) != CT_OK)
		return rc;
	n = ct_pg_result_rows(res);
	if (n > 0 && (rows = calloc((size_t)n, sizeof(*rows))) == NULL) {
		ct_pg_result_free(res);
		return CT_ERR_NOMEM;
	}
	for (int i = 0; i < n; i++) {
		struct gate_lot_rule *r = &rows[i];
		const char *scope = str(res, i, "lot_scope");
		field(r->rule_id, sizeof(r->rule_id), res, i, "rule_id");
		field(r->station, sizeof(r->station), res, i, "station");
		r->station_type = (int)integer(res, i, "station_type");
		field(r->characteristic, sizeof(r->characteristic), res, i, "characteristic");
		r->fail_rate_mode = strcmp(str(res, i, "mode"), "fail_rate") == 0;
		r->fail_rate = number(res, i, "fail_rate");
		r->min_units = integer(res, i, "min_units");
		r->scope = strcmp(scope, "self") == 0        ? GATE_SCOPE_SELF
		           : strcmp(scope, "materials") == 0 ? GATE_SCOPE_MATERIALS
		                                             : GATE_SCOPE_ALL;
		r->hold_state = (int)integer(res, i, "hold_state");
	}
	if ((rc = done_with(res, CT_OK, err, err_len)) != CT_OK) {
		free(rows);
		return rc;
	}
	gate_lots_set_rules(lots, rows, (size_t)n);
	return CT_OK;
}

int gate_db_load_config(struct ct_pg *pg, struct gate_spec_set *specs, struct gate_charts *charts,
                        struct gate_lots *lots, char *err, size_t err_len)
{
	struct gate_chart_def *defs = NULL;
	struct gate_plan_step *steps = NULL;
	size_t n_defs = 0, n_steps = 0;
	int rc;

	if ((rc = load_specs(pg, specs, err, err_len)) != CT_OK ||
	    (rc = load_rules(pg, lots, err, err_len)) != CT_OK)
		return rc;
	if ((rc = load_charts(pg, &defs, &n_defs, err, err_len)) != CT_OK)
		return rc;
	if ((rc = load_plans(pg, &steps, &n_steps, err, err_len)) != CT_OK) {
		free(defs);
		return rc;
	}
	gate_charts_set_config(charts, defs, n_defs, steps, n_steps);
	return CT_OK;
}

/* The columns of a saved row, into saved (state malloc'd). */
static int saved_row(struct ct_pg_result *res, int i, struct gate_saved_state *saved, char *err,
                     size_t err_len)
{
	int rc;

	memset(saved, 0, sizeof(*saved));
	rc = ct_pg_bytea(res, i, "state", &saved->state, &saved->state_len);
	if (rc == CT_ERR_INVALID)
		rc = ct_pg_result_check(res, err, err_len);
	if (rc != CT_OK)
		return rc;
	field(saved->config_hash, sizeof(saved->config_hash), res, i, "config_hash");
	saved->overall.n = (uint64_t)integer(res, i, "overall_n");
	saved->overall.mean = number(res, i, "overall_mean");
	saved->overall.m2 = number(res, i, "overall_m2");
	saved->last_value = number(res, i, "last_value");
	saved->lcl = number(res, i, "lcl");
	saved->cl = number(res, i, "centre");
	saved->ucl = number(res, i, "ucl");
	return CT_OK;
}

#define SAVED_COLUMNS                                                                              \
	"config_hash, state, overall_n, overall_mean, overall_m2, last_value, lcl, centre, ucl"

int gate_db_load_charts(struct ct_pg *pg, struct gate_charts *charts, char *err, size_t err_len)
{
	/* The most recently saved first in, so they are the last evicted; the oldest beyond the
	 * bound stay in the table until their stream reports again. */
	static const char sql[] = "SELECT chart_id, site, line, station, recipe, " SAVED_COLUMNS
	                          " FROM (SELECT * FROM spc_chart_state ORDER BY updated_at DESC"
	                          "  LIMIT nullif($1::int8, 0)) s ORDER BY updated_at";
	struct ct_pg_result *res = NULL;
	char limit[24];
	int rc, restored = 0;

	snprintf(limit, sizeof(limit), "%zu", charts->max_live);
	if ((rc = ct_pg_query(pg, sql, 1, (const char *const[]){limit}, &res, err, err_len)) !=
	    CT_OK)
		return rc;
	for (int i = 0; i < ct_pg_result_rows(res) && rc == CT_OK; i++) {
		struct gate_saved_state saved;
		if ((rc = saved_row(res, i, &saved, err, err_len)) != CT_OK)
			break;
		rc = gate_charts_restore_saved(charts, str(res, i, "chart_id"), str(res, i, "site"),
		                               str(res, i, "line"), str(res, i, "station"),
		                               str(res, i, "recipe"), &saved);
		free(saved.state);
		if (rc == CT_ERR_CORRUPT)
			ct_warn("chart %s at %s/%s/%s: saved state is not one this build wrote; "
			        "the chart starts over",
			        str(res, i, "chart_id"), str(res, i, "site"), str(res, i, "line"),
			        str(res, i, "station"));
		if (rc == CT_OK)
			restored++;
		if (rc == CT_ERR_CORRUPT || rc == CT_ERR_NOT_FOUND)
			rc = CT_OK;
	}
	if (rc == CT_ERR_NOMEM)
		ct_set_error(err, err_len, rc, "out of memory");
	rc = done_with(res, rc, err, err_len);
	if (rc == CT_OK)
		ct_info("restored %d chart instances", restored);
	return rc;
}

int gate_db_load_chart(struct ct_pg *pg, const char *chart_id, const char *site, const char *line,
                       const char *station, const char *recipe, struct gate_saved_state *ret,
                       bool *ret_found, char *err, size_t err_len)
{
	static const char sql[] = "SELECT " SAVED_COLUMNS " FROM spc_chart_state"
	                          " WHERE chart_id = $1 AND site = $2 AND line = $3"
	                          " AND station = $4 AND recipe = $5";
	struct ct_pg_result *res = NULL;
	int rc;

	if ((rc = ct_pg_query(pg, sql, 5,
	                      (const char *const[]){chart_id, site, line, station, recipe}, &res,
	                      err, err_len)) != CT_OK)
		return rc;
	*ret_found = ct_pg_result_rows(res) > 0;
	if (*ret_found)
		rc = saved_row(res, 0, ret, err, err_len);
	rc = done_with(res, rc, err, err_len);
	if (rc != CT_OK && *ret_found) {
		free(ret->state);
		ret->state = NULL;
	}
	return rc;
}

int gate_db_load_lots(struct ct_pg *pg, struct gate_lots *lots, char *err, size_t err_len)
{
	struct ct_pg_result *res = NULL;
	int rc;

	ct_map_clear(&lots->held);
	ct_map_clear(&lots->held_units);
	if ((rc = ct_pg_query(pg, "SELECT site, lot_id, state FROM lot_status WHERE state <> 1", 0,
	                      NULL, &res, err, err_len)) != CT_OK)
		return rc;
	for (int i = 0; i < ct_pg_result_rows(res) && rc == CT_OK; i++)
		rc = gate_lots_set_held(lots, str(res, i, "site"), str(res, i, "lot_id"),
		                        (int)integer(res, i, "state"));
	if ((rc = done_with(res, rc, err, err_len)) != CT_OK)
		return rc;
	if ((rc = ct_pg_query(pg, "SELECT DISTINCT unit_id FROM held_unit", 0, NULL, &res, err,
	                      err_len)) != CT_OK)
		return rc;
	for (int i = 0; i < ct_pg_result_rows(res) && rc == CT_OK; i++)
		rc = gate_lots_add_held_unit(lots, str(res, i, "unit_id"));
	if ((rc = done_with(res, rc, err, err_len)) != CT_OK || lots->n_counters > 0)
		return rc; /* counters live in memory once loaded; only the first load reads them */
	if ((rc = ct_pg_query(pg, "SELECT rule_id, site, lot_id, units, failed FROM lot_quality", 0,
	                      NULL, &res, err, err_len)) != CT_OK)
		return rc;
	for (int i = 0; i < ct_pg_result_rows(res) && rc == CT_OK; i++)
		rc = gate_lots_restore_counter(lots, str(res, i, "rule_id"), str(res, i, "site"),
		                               str(res, i, "lot_id"), integer(res, i, "units"),
		                               integer(res, i, "failed"));
	return done_with(res, rc, err, err_len);
}

/* ---- judged IDs ---------------------------------------------------------------------- */

int gate_db_judged(struct ct_pg *pg, const char *const *ids, size_t n, bool *judged, char *err,
                   size_t err_len)
{
	struct ct_pg_result *res = NULL;
	struct ct_pgarray array;
	const char *literal;
	int rc;

	memset(judged, 0, n * sizeof(*judged));
	if (n == 0)
		return CT_OK;
	ct_pgarray_init(&array);
	for (size_t i = 0; i < n; i++)
		ct_pgarray_text(&array, ids[i]);
	literal = ct_pgarray_literal(&array);
	rc = literal == NULL ? CT_ERR_NOMEM
	                     : ct_pg_query(pg,
	                                   "SELECT source_event_id FROM spc_judged"
	                                   " WHERE source_event_id = ANY($1::text[])",
	                                   1, (const char *const[]){literal}, &res, err, err_len);
	ct_pgarray_cleanup(&array);
	if (rc != CT_OK)
		return rc;
	for (int r = 0; r < ct_pg_result_rows(res); r++)
		for (size_t i = 0; i < n; i++)
			if (strcmp(ids[i], str(res, r, "source_event_id")) == 0)
				judged[i] = true;
	return done_with(res, CT_OK, err, err_len);
}

/* ---- the batch transaction ----------------------------------------------------------- */

#define US_TO_TS(x) "to_timestamp(" x "::float8 / 1000000)"

static const char judged_sql[] =
        "INSERT INTO spc_judged (source_event_id, judged_at)"
        " SELECT id, now() FROM unnest($1::text[]) id ON CONFLICT DO NOTHING";
static const char states_sql[] =
        "INSERT INTO spc_chart_state (chart_id, site, line, station, recipe, config_hash,"
        " state_version, state, points, signals, last_value, lcl, centre, ucl, plan_step,"
        " last_action_at, overall_n, overall_mean, overall_m2, cp, cpk, pp, ppk, cpm,"
        " updated_at)"
        " SELECT c, s, l, st, r, h, v, b, p, sg, lv, lo, ce, hi, ps, " US_TO_TS(
                "la") ", n, coalesce(mu, 0), coalesce(m2, 0), cp, cpk, pp, ppk, cpm, now()"
                      " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
                      "  $6::text[], $7::int[], $8::bytea[], $9::int8[], $10::int8[],"
                      "  $11::float8[], $12::float8[], $13::float8[], $14::float8[], $15::int[],"
                      "  $16::int8[], $17::int8[], $18::float8[], $19::float8[], $20::float8[],"
                      "  $21::float8[], $22::float8[], $23::float8[], $24::float8[])"
                      "  AS u(c, s, l, st, r, h, v, b, p, sg, lv, lo, ce, hi, ps, la, n, mu, m2,"
                      "  cp, cpk, pp, ppk, cpm)"
                      " ON CONFLICT (chart_id, site, line, station, recipe) DO UPDATE SET"
                      " config_hash = excluded.config_hash, state_version = excluded.state_version,"
                      " state = excluded.state, points = excluded.points,"
                      " signals = excluded.signals, last_value = excluded.last_value,"
                      " lcl = excluded.lcl, centre = excluded.centre, ucl = excluded.ucl,"
                      " plan_step = excluded.plan_step, last_action_at = excluded.last_action_at,"
                      " overall_n = excluded.overall_n, overall_mean = excluded.overall_mean,"
                      " overall_m2 = excluded.overall_m2, cp = excluded.cp, cpk = excluded.cpk,"
                      " pp = excluded.pp, ppk = excluded.ppk, cpm = excluded.cpm,"
                      " updated_at = excluded.updated_at";
static const char signals_sql[] =
        "INSERT INTO spc_signal (alert_id, chart_id, site, line, station, recipe, rule,"
        " first_point, last_point, statistic, limit_value, cause_event_id, unit_id, reaction,"
        " raised_at)"
        " SELECT a, c, s, l, st, r, ru, f, la, sx, li, ce, u, re, " US_TO_TS(
                "t") " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
                     "$6::text[],"
                     "  $7::text[], $8::int8[], $9::int8[], $10::float8[], $11::float8[], "
                     "$12::text[],"
                     "  $13::text[], $14::text[], $15::int8[])"
                     "  AS x(a, c, s, l, st, r, ru, f, la, sx, li, ce, u, re, t)"
                     " ON CONFLICT DO NOTHING";
static const char actions_sql[] =
        "INSERT INTO automatic_action (command_id, alert_id, chart_id, site, line, station, kind,"
        " parameter, target_value, delta, uom, reason_code, reason_text, cause_event_id,"
        " decided_at)"
        " SELECT id, a, c, s, l, st, k, p, tv, d, u, rc, rt, ce, " US_TO_TS(
                "t") " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
                     "$6::text[],"
                     "  $7::int[], $8::text[], $9::float8[], $10::float8[], $11::text[], "
                     "$12::text[],"
                     "  $13::text[], $14::text[], $15::int8[])"
                     "  AS x(id, a, c, s, l, st, k, p, tv, d, u, rc, rt, ce, t)"
                     " ON CONFLICT DO NOTHING";
static const char items_sql[] =
        "INSERT INTO inspection_item (unit_id, unit_kind, site, line, station, queue, cause,"
        " reason, verdict, entered_at)"
        " SELECT u, k, s, l, st, q, c, r, v, " US_TO_TS(
                "t") " FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], "
                     "$6::text[],"
                     "  $7::text[], $8::text[], $9::int[], $10::int8[]) AS x(u, k, s, l, st, q, c, "
                     "r, v, t)"
                     " ON CONFLICT (unit_id, cause) DO NOTHING";
static const char held_sql[] =
        "INSERT INTO held_unit (unit_id, lot_id, site, since)"
        " SELECT u, l, s, " US_TO_TS(
                "t") " FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[]) AS x(u, l, s, t)"
                     " ON CONFLICT (unit_id, lot_id) DO NOTHING";
static const char counters_sql[] =
        "INSERT INTO lot_quality (site, lot_id, rule_id, units, failed)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[])"
        " ON CONFLICT (site, lot_id, rule_id) DO UPDATE SET"
        " units = excluded.units, failed = excluded.failed";

/* Sends one table's rows as one statement. */
static int insert_rows(struct ct_pg *pg, const char *sql, struct gate_rows *rows, char *err,
                       size_t err_len)
{
	const char *params[GATE_ROWS_MAX_COLS];

	if (rows->rows == 0)
		return CT_OK;
	for (int i = 0; i < rows->ncols; i++) {
		params[i] = ct_pgarray_literal(&rows->cols[i]);
		if (params[i] == NULL)
			return ct_set_error(err, err_len, CT_ERR_NOMEM,
			                    "out of memory for a batch");
	}
	return ct_pg_query(pg, sql, rows->ncols, params, NULL, err, err_len);
}

static int save_job(struct ct_pg *pg, struct gate_pending *p, char *err, size_t err_len)
{
	int rc = CT_OK;

	for (size_t i = 0; i < p->n_holds && rc == CT_OK; i++) {
		const struct gate_hold *h = &p->holds[i];
		char state[8];
		snprintf(state, sizeof(state), "%d", h->state);
		rc = ct_pg_query(pg, "SELECT ct_spc_hold($1, $2, $3::smallint, $4)", 4,
		                 (const char *const[]){h->site, h->lot_id, state, h->reason}, NULL,
		                 err, err_len);
	}
	if (rc == CT_OK)
		rc = insert_rows(pg, judged_sql, &p->judged, err, err_len);
	if (rc == CT_OK)
		rc = insert_rows(pg, states_sql, &p->states, err, err_len);
	if (rc == CT_OK)
		rc = insert_rows(pg, signals_sql, &p->signals, err, err_len);
	if (rc == CT_OK)
		rc = insert_rows(pg, actions_sql, &p->actions, err, err_len);
	if (rc == CT_OK)
		rc = insert_rows(pg, items_sql, &p->items, err, err_len);
	if (rc == CT_OK)
		rc = insert_rows(pg, held_sql, &p->held_units, err, err_len);
	if (rc == CT_OK)
		rc = insert_rows(pg, counters_sql, &p->counters, err, err_len);
	return rc;
}

int gate_db_save(struct ct_pg *pg, struct gate_pending *const *jobs, size_t n, char *err,
                 size_t err_len)
{
	bool holds = false, hold_rows = false;
	int rc = ct_pg_begin(pg, err, err_len);

	/* The locks of 0004_hold_genealogy.sql, first and in their order, before any row: the
	 * hold lock when the transaction holds lots (traveler's genealogy trigger must not look
	 * meanwhile), the writer lock when it writes held units, inspection items or lot states
	 * (which the trigger writes too: one writer at a time, no deadlock). */
	for (size_t i = 0; i < n; i++) {
		holds |= jobs[i]->n_holds > 0;
		hold_rows |= jobs[i]->n_holds > 0 || jobs[i]->items.rows > 0 ||
		             jobs[i]->held_units.rows > 0;
	}
	if (rc == CT_OK && holds)
		rc = ct_pg_exec(pg, "SELECT ct_hold_lock()", err, err_len);
	if (rc == CT_OK && hold_rows)
		rc = ct_pg_exec(pg, "SELECT ct_hold_write_lock()", err, err_len);

	for (size_t i = 0; i < n && rc == CT_OK; i++)
		rc = save_job(pg, jobs[i], err, err_len);
	if (rc == CT_OK)
		rc = ct_pg_commit(pg, err, err_len);
	if (rc != CT_OK)
		ct_pg_rollback(pg);
	return rc;
}

/* ---- lot changes, undo, pruning ------------------------------------------------------ */

int gate_db_lot_changes(struct ct_pg *pg, struct gate_lot_change *ret, size_t max, size_t *ret_n,
                        char *err, size_t err_len)
{
	static const char sql[] =
	        "SELECT audit_id, site, lot_id, to_state, reason, actor,"
	        " (extract(epoch FROM at) * 1000000)::int8 AS at_us"
	        " FROM lot_audit WHERE published_at IS NULL ORDER BY audit_id LIMIT $1::int";
	char limit[24];
	struct ct_pg_result *res = NULL;
	size_t n;
	int rc;

	snprintf(limit, sizeof(limit), "%zu", max);
	if ((rc = ct_pg_query(pg, sql, 1, (const char *const[]){limit}, &res, err, err_len)) !=
	    CT_OK)
		return rc;
	n = (size_t)ct_pg_result_rows(res);
	for (size_t i = 0; i < n && i < max; i++) {
		struct gate_lot_change *c = &ret[i];
		int r = (int)i;
		ct_pg_int64(res, r, "audit_id", &c->audit_id);
		field(c->site, sizeof(c->site), res, r, "site");
		field(c->lot_id, sizeof(c->lot_id), res, r, "lot_id");
		c->state = (int)integer(res, r, "to_state");
		field(c->reason, sizeof(c->reason), res, r, "reason");
		field(c->actor, sizeof(c->actor), res, r, "actor");
		ct_pg_int64(res, r, "at_us", &c->at_us);
	}
	if ((rc = done_with(res, CT_OK, err, err_len)) == CT_OK)
		*ret_n = n < max ? n : max;
	return rc;
}

int gate_db_lot_changes_published(struct ct_pg *pg, const struct gate_lot_change *changes, size_t n,
                                  char *err, size_t err_len)
{
	char last[24];

	if (n == 0)
		return CT_OK;
	/* Published oldest first, so everything up to the last one is out. */
	snprintf(last, sizeof(last), "%" PRId64, changes[n - 1].audit_id);
	return ct_pg_query(pg,
	                   "UPDATE lot_audit SET published_at = now()"
	                   " WHERE published_at IS NULL AND audit_id <= $1::int8",
	                   1, (const char *const[]){last}, NULL, err, err_len);
}

int gate_db_pending_undos(struct ct_pg *pg, struct gate_undo *ret, size_t max, size_t *ret_n,
                          char *err, size_t err_len)
{
	static const char sql[] =
	        "SELECT command_id, site, line, station, kind,"
	        " coalesce(parameter, '') AS parameter, target_value, delta, uom, reason_code,"
	        " undo_requested_by, undo_reason"
	        " FROM automatic_action WHERE undo_requested_at IS NOT NULL AND undone_at IS NULL"
	        " ORDER BY undo_requested_at LIMIT $1::int";
	char limit[24];
	struct ct_pg_result *res = NULL;
	size_t n;
	int rc;

	snprintf(limit, sizeof(limit), "%zu", max);
	if ((rc = ct_pg_query(pg, sql, 1, (const char *const[]){limit}, &res, err, err_len)) !=
	    CT_OK)
		return rc;
	n = (size_t)ct_pg_result_rows(res);
	for (size_t i = 0; i < n && i < max; i++) {
		struct gate_undo *u = &ret[i];
		int r = (int)i;
		field(u->command_id, sizeof(u->command_id), res, r, "command_id");
		field(u->site, sizeof(u->site), res, r, "site");
		field(u->line, sizeof(u->line), res, r, "line");
		field(u->station, sizeof(u->station), res, r, "station");
		u->kind = (int)integer(res, r, "kind");
		field(u->parameter, sizeof(u->parameter), res, r, "parameter");
		u->target_value = number(res, r, "target_value");
		u->delta = number(res, r, "delta");
		field(u->uom, sizeof(u->uom), res, r, "uom");
		field(u->reason_code, sizeof(u->reason_code), res, r, "reason_code");
		field(u->requested_by, sizeof(u->requested_by), res, r, "undo_requested_by");
		field(u->reason, sizeof(u->reason), res, r, "undo_reason");
	}
	if ((rc = done_with(res, CT_OK, err, err_len)) == CT_OK)
		*ret_n = n < max ? n : max;
	return rc;
}

int gate_db_undo_done(struct ct_pg *pg, const char *command_id, const char *undo_command_id,
                      char *err, size_t err_len)
{
	return ct_pg_query(pg,
	                   "UPDATE automatic_action SET undone_at = now(), undo_command_id = $2"
	                   " WHERE command_id = $1 AND undone_at IS NULL",
	                   2, (const char *const[]){command_id, undo_command_id}, NULL, err,
	                   err_len);
}

int gate_db_prune(struct ct_pg *pg, int keep_days, char *err, size_t err_len)
{
	char days[16];

	snprintf(days, sizeof(days), "%d", keep_days);
	return ct_pg_query(
	        pg, "DELETE FROM spc_judged WHERE judged_at < now() - $1::int * interval '1 day'",
	        1, (const char *const[]){days}, NULL, err, err_len);
}
