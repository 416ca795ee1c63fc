/* gate_db: spc-gate's configuration, state and batch saves in PostgreSQL (see gate_db.h). */
#include "gate_db.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_log.h"

#define LOT_HELD CELLTHREAD__V1__LOT_STATE__LOT_STATE_HELD
/* Genealogy levels a hold follows forward (lot -> batch -> coil -> cell -> module -> pack). */
#define HOLD_TRACE_DEPTH "32"

/* ---- pending rows ------------------------------------------------------------------ */

void gate_pending_init(struct gate_pending *p)
{
	memset(p, 0, sizeof(*p));
	ct_copy_init(&p->judged);
	ct_copy_init(&p->signals);
	ct_copy_init(&p->actions);
	ct_copy_init(&p->items);
	ct_copy_init(&p->held_units);
}

void gate_pending_reset(struct gate_pending *p)
{
	ct_copy_reset(&p->judged);
	ct_copy_reset(&p->signals);
	ct_copy_reset(&p->actions);
	ct_copy_reset(&p->items);
	ct_copy_reset(&p->held_units);
	p->n_holds = 0;
}

void gate_pending_cleanup(struct gate_pending *p)
{
	ct_copy_cleanup(&p->judged);
	ct_copy_cleanup(&p->signals);
	ct_copy_cleanup(&p->actions);
	ct_copy_cleanup(&p->items);
	ct_copy_cleanup(&p->held_units);
	free(p->holds);
	memset(p, 0, sizeof(*p));
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
	ct_copy_text(&p->items, unit_id);
	ct_copy_int64(&p->items, unit_kind);
	ct_copy_text(&p->items, site);
	ct_copy_text(&p->items, line);
	ct_copy_text(&p->items, station);
	ct_copy_text(&p->items, queue);
	ct_copy_text(&p->items, cause);
	ct_copy_text(&p->items, reason);
	ct_copy_int64(&p->items, verdict);
	ct_copy_time_us(&p->items, at_us);
	ct_copy_end_row(&p->items);
}

void gate_pending_held_unit(struct gate_pending *p, const char *unit_id, const char *lot_id,
                            const char *site, int64_t at_us)
{
	ct_copy_text(&p->held_units, unit_id);
	ct_copy_text(&p->held_units, lot_id);
	ct_copy_text(&p->held_units, site);
	ct_copy_time_us(&p->held_units, at_us);
	ct_copy_end_row(&p->held_units);
}

/* ---- helpers ------------------------------------------------------------------------- */

static void field(char *dst, size_t len, const PGresult *res, int row, int col)
{
	snprintf(dst, len, "%s", PQgetvalue(res, row, col));
}

static bool has(const PGresult *res, int row, int col)
{
	return !PQgetisnull(res, row, col);
}

static double number(const PGresult *res, int row, int col)
{
	return has(res, row, col) ? strtod(PQgetvalue(res, row, col), NULL) : NAN;
}

static long integer(const PGresult *res, int row, int col)
{
	return has(res, row, col) ? strtol(PQgetvalue(res, row, col), NULL, 10) : 0;
}

static int query(struct ct_pg *pg, const char *sql, int n, const char *const *values,
                 PGresult **ret, char *err, size_t err_len)
{
	return ct_pg_query(pg, sql, n, values, ret, err, err_len);
}

static int exec_sql(struct ct_pg *pg, const char *sql, char *err, size_t err_len)
{
	return ct_pg_exec(pg, sql, err, err_len);
}

/* ---- session ------------------------------------------------------------------------- */

int gate_db_session_setup(struct ct_pg *pg, char *err, size_t err_len)
{
	/* Temp tables let COPY feed INSERT ... ON CONFLICT, which COPY alone cannot do. */
	static const char sql[] =
	        "CREATE TEMP TABLE IF NOT EXISTS tmp_state (LIKE spc_chart_state)"
	        " ON COMMIT DELETE ROWS;"
	        "CREATE TEMP TABLE IF NOT EXISTS tmp_item (unit_id text, unit_kind smallint,"
	        " site text, line text, station text, queue text, cause text, reason text,"
	        " verdict smallint, entered_at timestamptz) ON COMMIT DELETE ROWS;"
	        "CREATE TEMP TABLE IF NOT EXISTS tmp_held (LIKE held_unit) ON COMMIT DELETE ROWS;"
	        "CREATE TEMP TABLE IF NOT EXISTS tmp_judged (LIKE spc_judged) ON COMMIT DELETE "
	        "ROWS;"
	        "CREATE TEMP TABLE IF NOT EXISTS tmp_lq (LIKE lot_quality) ON COMMIT DELETE ROWS;"
	        "LISTEN ct_spc_config; LISTEN ct_lot; LISTEN ct_spc_undo;";
	return exec_sql(pg, sql, err, err_len);
}

/* ---- configuration ------------------------------------------------------------------- */

static int load_specs(struct ct_pg *pg, struct gate_spec_set *specs, char *err, size_t err_len)
{
	static const char sql[] =
	        "SELECT site, line, station, station_type, recipe, recipe_version, characteristic,"
	        " lsl, usl, target, uom, on_fail, required FROM spec_limit";
	PGresult *res = NULL;
	struct gate_spec *rows = NULL;
	int n, rc;

	if ((rc = query(pg, sql, 0, NULL, &res, err, err_len)) != CT_OK)
		return rc;
	n = PQntuples(res);
	if (n > 0 && (rows = calloc((size_t)n, sizeof(*rows))) == NULL) {
		PQclear(res);
		return CT_ERR_NOMEM;
	}
	for (int i = 0; i < n; i++) {
		struct gate_spec *s = &rows[i];
		field(s->site, sizeof(s->site), res, i, 0);
		field(s->line, sizeof(s->line), res, i, 1);
		field(s->station, sizeof(s->station), res, i, 2);
		s->station_type = (int)integer(res, i, 3);
		field(s->recipe, sizeof(s->recipe), res, i, 4);
		s->recipe_version = (uint32_t)integer(res, i, 5);
		field(s->characteristic, sizeof(s->characteristic), res, i, 6);
		s->has_lsl = has(res, i, 7);
		s->lsl = number(res, i, 7);
		s->has_usl = has(res, i, 8);
		s->usl = number(res, i, 8);
		s->has_target = has(res, i, 9);
		s->target = number(res, i, 9);
		field(s->uom, sizeof(s->uom), res, i, 10);
		s->on_fail = (int)integer(res, i, 11);
		s->required = PQgetvalue(res, i, 12)[0] == 't';
	}
	PQclear(res);
	gate_spec_set_cleanup(specs);
	gate_spec_set_init(specs, rows, (size_t)n);
	return CT_OK;
}

static int load_plans(struct ct_pg *pg, struct gate_plan_step **ret, size_t *ret_n, char *err,
                      size_t err_len)
{
	static const char sql[] =
	        "SELECT plan_id, step, action, coalesce(parameter, ''), gain, max_step, min_value,"
	        " max_value, target_value, uom, reason_code, severity, cooldown_s, min_signals"
	        " FROM reaction_plan_step";
	PGresult *res = NULL;
	struct gate_plan_step *rows = NULL;
	int n, rc;

	if ((rc = query(pg, sql, 0, NULL, &res, err, err_len)) != CT_OK)
		return rc;
	n = PQntuples(res);
	if (n > 0 && (rows = calloc((size_t)n, sizeof(*rows))) == NULL) {
		PQclear(res);
		return CT_ERR_NOMEM;
	}
	for (int i = 0; i < n; i++) {
		struct gate_plan_step *s = &rows[i];
		const char *action = PQgetvalue(res, i, 2);
		field(s->plan_id, sizeof(s->plan_id), res, i, 0);
		s->step = (int)integer(res, i, 1);
		s->action = strcmp(action, "slow") == 0     ? GATE_ACTION_SLOW
		            : strcmp(action, "stop") == 0   ? GATE_ACTION_STOP
		            : strcmp(action, "adjust") == 0 ? GATE_ACTION_ADJUST
		                                            : GATE_ACTION_ALERT;
		field(s->parameter, sizeof(s->parameter), res, i, 3);
		s->gain = number(res, i, 4);
		s->max_step = number(res, i, 5);
		s->has_min = has(res, i, 6);
		s->min_value = number(res, i, 6);
		s->has_max = has(res, i, 7);
		s->max_value = number(res, i, 7);
		s->target_value = number(res, i, 8);
		field(s->uom, sizeof(s->uom), res, i, 9);
		field(s->reason_code, sizeof(s->reason_code), res, i, 10);
		s->severity = (int)integer(res, i, 11);
		s->cooldown_s = (int)integer(res, i, 12);
		s->min_signals = (int)integer(res, i, 13);
	}
	PQclear(res);
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
	 * changing the plan keeps the chart's history, changing its limits starts it over. */
	static const char sql[] =
	        "SELECT chart_id, site, line, station, station_type, recipe, characteristic, kind,"
	        " subgroup_size, ewma_lambda, ewma_l, cusum_k, cusum_h, rules, baseline_points,"
	        " centre, sigma, coalesce(reaction_plan, ''),"
	        " left(md5(concat_ws('|', site, line, station, station_type, recipe,"
	        "  characteristic, kind, subgroup_size, ewma_lambda, ewma_l, cusum_k, cusum_h, "
	        "rules,"
	        "  baseline_points, centre, sigma)), 16)"
	        " FROM spc_chart WHERE enabled ORDER BY chart_id";
	PGresult *res = NULL;
	struct gate_chart_def *rows = NULL;
	size_t kept = 0;
	int n, rc;

	if ((rc = query(pg, sql, 0, NULL, &res, err, err_len)) != CT_OK)
		return rc;
	n = PQntuples(res);
	if (n > 0 && (rows = calloc((size_t)n, sizeof(*rows))) == NULL) {
		PQclear(res);
		return CT_ERR_NOMEM;
	}
	for (int i = 0; i < n; i++) {
		struct gate_chart_def *d = &rows[kept];
		char why[256];
		memset(d, 0, sizeof(*d));
		field(d->chart_id, sizeof(d->chart_id), res, i, 0);
		field(d->site, sizeof(d->site), res, i, 1);
		field(d->line, sizeof(d->line), res, i, 2);
		field(d->station, sizeof(d->station), res, i, 3);
		d->station_type = (int)integer(res, i, 4);
		field(d->recipe, sizeof(d->recipe), res, i, 5);
		field(d->kind_name, sizeof(d->kind_name), res, i, 7);
		field(d->plan_id, sizeof(d->plan_id), res, i, 17);
		field(d->config_hash, sizeof(d->config_hash), res, i, 18);
		if (!split_names(d, PQgetvalue(res, i, 6))) {
			ct_warn("chart %s ignored: characteristic list '%s' is empty, too long or "
			        "names more than %d",
			        d->chart_id, PQgetvalue(res, i, 6), SPC_T2_MAX_P);
			continue;
		}
		if (gate_chart_def_build(d, (int)integer(res, i, 8), PQgetvalue(res, i, 13),
		                         has(res, i, 14), (int)integer(res, i, 14), has(res, i, 15),
		                         number(res, i, 15), has(res, i, 16), number(res, i, 16),
		                         number(res, i, 9), number(res, i, 10), number(res, i, 11),
		                         number(res, i, 12), why, sizeof(why)) != CT_OK) {
			ct_warn("chart %s ignored: %s", d->chart_id, why);
			continue;
		}
		kept++;
	}
	PQclear(res);
	*ret = rows;
	*ret_n = kept;
	return CT_OK;
}

static int load_rules(struct ct_pg *pg, struct gate_lots *lots, char *err, size_t err_len)
{
	static const char sql[] =
	        "SELECT rule_id, station, station_type, coalesce(characteristic, ''), mode,"
	        " fail_rate, min_units, lot_scope, hold_state FROM lot_gate_rule WHERE enabled";
	PGresult *res = NULL;
	struct gate_lot_rule *rows = NULL;
	int n, rc;

	if ((rc = query(pg, sql, 0, NULL, &res, err, err_len)) != CT_OK)
		return rc;
	n = PQntuples(res);
	if (n > 0 && (rows = calloc((size_t)n, sizeof(*rows))) == NULL) {
		PQclear(res);
		return CT_ERR_NOMEM;
	}
	for (int i = 0; i < n; i++) {
		struct gate_lot_rule *r = &rows[i];
		const char *scope = PQgetvalue(res, i, 7);
		field(r->rule_id, sizeof(r->rule_id), res, i, 0);
		field(r->station, sizeof(r->station), res, i, 1);
		r->station_type = (int)integer(res, i, 2);
		field(r->characteristic, sizeof(r->characteristic), res, i, 3);
		r->fail_rate_mode = strcmp(PQgetvalue(res, i, 4), "fail_rate") == 0;
		r->fail_rate = number(res, i, 5);
		r->min_units = integer(res, i, 6);
		r->scope = strcmp(scope, "self") == 0        ? GATE_SCOPE_SELF
		           : strcmp(scope, "materials") == 0 ? GATE_SCOPE_MATERIALS
		                                             : GATE_SCOPE_ALL;
		r->hold_state = (int)integer(res, i, 8);
	}
	PQclear(res);
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

int gate_db_load_charts(struct ct_pg *pg, struct gate_charts *charts, char *err, size_t err_len)
{
	static const char sql[] = "SELECT chart_id, site, line, station, recipe, config_hash, state"
	                          " FROM spc_chart_state";
	PGresult *res = NULL;
	int rc, restored = 0;

	if ((rc = query(pg, sql, 0, NULL, &res, err, err_len)) != CT_OK)
		return rc;
	for (int i = 0; i < PQntuples(res) && rc == CT_OK; i++) {
		size_t len = 0;
		unsigned char *bytes =
		        PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 6), &len);
		if (bytes == NULL) {
			rc = CT_ERR_NOMEM;
			break;
		}
		rc = gate_charts_restore(charts, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		                         PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
		                         PQgetvalue(res, i, 4), PQgetvalue(res, i, 5), bytes, len);
		PQfreemem(bytes);
		if (rc == CT_ERR_CORRUPT)
			ct_warn("chart %s at %s/%s/%s: saved state is not one this build wrote; "
			        "the chart starts over",
			        PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
			        PQgetvalue(res, i, 3));
		if (rc == CT_OK)
			restored++;
		if (rc == CT_ERR_CORRUPT || rc == CT_ERR_NOT_FOUND)
			rc = CT_OK;
	}
	PQclear(res);
	if (rc == CT_OK)
		ct_info("restored %d chart instances", restored);
	return rc;
}

int gate_db_load_lots(struct ct_pg *pg, struct gate_lots *lots, char *err, size_t err_len)
{
	PGresult *res = NULL;
	int rc;

	gate_map_clear(&lots->held);
	gate_map_clear(&lots->held_units);
	if ((rc = query(pg, "SELECT site, lot_id, state FROM lot_status WHERE state <> 1", 0, NULL,
	                &res, err, err_len)) != CT_OK)
		return rc;
	for (int i = 0; i < PQntuples(res) && rc == CT_OK; i++)
		rc = gate_lots_set_held(lots, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		                        (int)integer(res, i, 2));
	PQclear(res);
	if (rc != CT_OK)
		return rc;
	if ((rc = query(pg, "SELECT DISTINCT unit_id FROM held_unit", 0, NULL, &res, err,
	                err_len)) != CT_OK)
		return rc;
	for (int i = 0; i < PQntuples(res) && rc == CT_OK; i++)
		rc = gate_lots_add_held_unit(lots, PQgetvalue(res, i, 0));
	PQclear(res);
	if (rc != CT_OK || lots->n_counters > 0)
		return rc; /* counters live in memory once loaded; only the first load reads them */
	if ((rc = query(pg, "SELECT rule_id, site, lot_id, units, failed FROM lot_quality", 0, NULL,
	                &res, err, err_len)) != CT_OK)
		return rc;
	for (int i = 0; i < PQntuples(res) && rc == CT_OK; i++)
		rc = gate_lots_restore_counter(lots, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		                               PQgetvalue(res, i, 2), integer(res, i, 3),
		                               integer(res, i, 4));
	PQclear(res);
	return rc;
}

/* ---- judged IDs ---------------------------------------------------------------------- */

/* A PostgreSQL text[] literal of IDs (IDs hold no quotes, commas or braces: ct_ids). */
static char *id_array(const char *const *ids, size_t n)
{
	size_t len = 3;
	char *text, *p;

	for (size_t i = 0; i < n; i++)
		len += strlen(ids[i]) + 3;
	text = malloc(len);
	if (text == NULL)
		return NULL;
	p = text;
	*p++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			*p++ = ',';
		*p++ = '"';
		p += sprintf(p, "%s", ids[i]);
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return text;
}

int gate_db_judged(struct ct_pg *pg, const char *const *ids, size_t n, bool *judged, char *err,
                   size_t err_len)
{
	PGresult *res = NULL;
	char *array;
	int rc;

	memset(judged, 0, n * sizeof(*judged));
	if (n == 0)
		return CT_OK;
	array = id_array(ids, n);
	if (array == NULL)
		return CT_ERR_NOMEM;
	rc = query(pg,
	           "SELECT source_event_id FROM spc_judged WHERE source_event_id = ANY($1::text[])",
	           1, (const char *const[]){array}, &res, err, err_len);
	free(array);
	if (rc != CT_OK)
		return rc;
	for (int r = 0; r < PQntuples(res); r++)
		for (size_t i = 0; i < n; i++)
			if (strcmp(ids[i], PQgetvalue(res, r, 0)) == 0)
				judged[i] = true;
	PQclear(res);
	return CT_OK;
}

/* ---- the batch transaction ----------------------------------------------------------- */

/* Holds one lot inside the transaction, then follows the genealogy forward: every unit that
 * contains it becomes a held unit, cells, modules and packs go to inspection, and lots made
 * from it (batches, coils) are held in turn. */
static int apply_hold(struct ct_pg *pg, struct gate_pending *p, struct gate_lots *lots,
                      const struct gate_hold *h, int64_t now_us, char *err, size_t err_len)
{
	static const char forward_sql[] =
	        "WITH RECURSIVE tree AS ("
	        " SELECT g.parent_id AS node, ARRAY[g.child_id, g.parent_id] AS path, 1 AS depth"
	        " FROM genealogy g WHERE g.child_id = $1"
	        " UNION ALL"
	        " SELECT g.parent_id, t.path || g.parent_id, t.depth + 1"
	        " FROM genealogy g JOIN tree t ON g.child_id = t.node"
	        " WHERE t.depth < " HOLD_TRACE_DEPTH " AND g.parent_id <> ALL (t.path))"
	        " SELECT DISTINCT t.node, coalesce(u.kind, 0), coalesce(u.line, '')"
	        " FROM tree t LEFT JOIN unit u ON u.unit_id = t.node";
	char state[8], cause[GATE_NAME_MAX + 8], reason[GATE_REASON_MAX];
	PGresult *res = NULL;
	int rc;

	snprintf(state, sizeof(state), "%d", h->state);
	if ((rc = query(pg, "SELECT ct_lot_set($1, $2, $3::smallint, $4, 'spc-gate')", 4,
	                (const char *const[]){h->site, h->lot_id, state, h->reason}, &res, err,
	                err_len)) != CT_OK)
		return rc;
	PQclear(res);
	if ((rc = query(pg, forward_sql, 1, (const char *const[]){h->lot_id}, &res, err,
	                err_len)) != CT_OK)
		return rc;
	snprintf(cause, sizeof(cause), "lot:%s", h->lot_id);
	snprintf(reason, sizeof(reason), "contains held lot %s", h->lot_id);
	for (int i = 0; i < PQntuples(res) && rc == CT_OK; i++) {
		const char *unit_id = PQgetvalue(res, i, 0);
		int kind = (int)integer(res, i, 1);
		gate_pending_held_unit(p, unit_id, h->lot_id, h->site, now_us);
		if (gate_lots_add_held_unit(lots, unit_id) != CT_OK) {
			rc = CT_ERR_NOMEM;
			break;
		}
		if (gate_kind_is_lot(kind)) {
			PGresult *set = NULL;
			char made[GATE_REASON_MAX];
			snprintf(made, sizeof(made), "made from held lot %s", h->lot_id);
			rc = query(pg, "SELECT ct_lot_set($1, $2, 2::smallint, $3, 'spc-gate')", 3,
			           (const char *const[]){h->site, unit_id, made}, &set, err,
			           err_len);
			PQclear(set);
			if (rc == CT_OK &&
			    gate_lots_set_held(lots, h->site, unit_id, LOT_HELD) != CT_OK)
				rc = CT_ERR_NOMEM;
			continue;
		}
		gate_pending_item(p, unit_id, kind, h->site, PQgetvalue(res, i, 2), "",
		                  "inspection", cause, reason,
		                  CELLTHREAD__V1__VERDICT_CODE__VERDICT_CODE_PASS, now_us);
	}
	PQclear(res);
	return rc;
}

static void copy_chart_states(struct ct_copy *c, const struct gate_charts *charts, int64_t now_us)
{
	for (size_t i = 0; i < charts->n_charts; i++) {
		const struct gate_chart *chart = charts->charts[i];
		const struct gate_chart_def *def = &charts->defs[chart->def];
		if (!chart->dirty)
			continue;
		ct_copy_text(c, def->chart_id);
		ct_copy_text(c, chart->site);
		ct_copy_text(c, chart->line);
		ct_copy_text(c, chart->station);
		ct_copy_text(c, chart->recipe);
		ct_copy_text(c, def->config_hash);
		ct_copy_int64(c, GATE_BLOB_VERSION);
		ct_copy_bytea(c, (const uint8_t *)&chart->blob, sizeof(chart->blob));
		ct_copy_int64(c, (int64_t)gate_chart_points(charts, chart));
		ct_copy_int64(c, (int64_t)chart->blob.signals);
		double v[4] = {chart->last_value, chart->lcl, chart->cl, chart->ucl};
		for (int k = 0; k < 4; k++) {
			if (isfinite(v[k]))
				ct_copy_double(c, v[k]);
			else
				ct_copy_null(c);
		}
		ct_copy_int64(c, chart->blob.plan_step);
		if (chart->blob.last_action_us > 0)
			ct_copy_time_us(c, chart->blob.last_action_us);
		else
			ct_copy_null(c);
		ct_copy_time_us(c, now_us);
		ct_copy_end_row(c);
	}
}

static void copy_counters(struct ct_copy *c, const struct gate_lots *lots)
{
	for (size_t i = 0; i < lots->n_counters; i++) {
		const struct gate_lot_counter *k = &lots->counters[i];
		if (!k->dirty)
			continue;
		ct_copy_text(c, k->site);
		ct_copy_text(c, k->lot_id);
		ct_copy_text(c, k->rule_id);
		ct_copy_int64(c, k->units);
		ct_copy_int64(c, k->failed);
		ct_copy_end_row(c);
	}
}

int gate_db_save(struct ct_pg *pg, struct gate_pending *p, struct gate_charts *charts,
                 struct gate_lots *lots, int64_t now_us, char *err, size_t err_len)
{
	struct ct_copy states, counters;
	size_t items_before = p->items.len, held_before = p->held_units.len;
	size_t items_rows = p->items.rows, held_rows = p->held_units.rows;
	int rc;

	ct_copy_init(&states);
	ct_copy_init(&counters);
	copy_chart_states(&states, charts, now_us);
	copy_counters(&counters, lots);
	if ((rc = exec_sql(pg, "BEGIN", err, err_len)) != CT_OK)
		goto out;
	for (size_t i = 0; i < p->n_holds && rc == CT_OK; i++)
		rc = apply_hold(pg, p, lots, &p->holds[i], now_us, err, err_len);
	if (rc == CT_OK)
		rc = ct_pg_copy(pg, "COPY tmp_judged (source_event_id, judged_at) FROM STDIN",
		                &p->judged, err, err_len);
	/* A redelivered result that slipped past the in-memory filter is judged again but
	 * recorded once. */
	if (rc == CT_OK && p->judged.rows > 0)
		rc = exec_sql(pg,
		              "INSERT INTO spc_judged SELECT DISTINCT ON (source_event_id) *"
		              " FROM tmp_judged ON CONFLICT DO NOTHING",
		              err, err_len);
	if (rc == CT_OK && states.rows > 0) {
		rc = ct_pg_copy(pg, "COPY tmp_state FROM STDIN", &states, err, err_len);
		if (rc == CT_OK)
			rc = exec_sql(
			        pg,
			        "INSERT INTO spc_chart_state SELECT * FROM tmp_state"
			        " ON CONFLICT (chart_id, site, line, station, recipe) DO UPDATE SET"
			        " config_hash = excluded.config_hash,"
			        " state_version = excluded.state_version, state = excluded.state,"
			        " points = excluded.points, signals = excluded.signals,"
			        " last_value = excluded.last_value, lcl = excluded.lcl,"
			        " centre = excluded.centre, ucl = excluded.ucl,"
			        " plan_step = excluded.plan_step,"
			        " last_action_at = excluded.last_action_at,"
			        " updated_at = excluded.updated_at",
			        err, err_len);
	}
	if (rc == CT_OK)
		rc = ct_pg_copy(pg,
		                "COPY spc_signal (alert_id, chart_id, site, line, station, recipe,"
		                " rule, first_point, last_point, statistic, limit_value,"
		                " cause_event_id, unit_id, reaction, raised_at) FROM STDIN",
		                &p->signals, err, err_len);
	if (rc == CT_OK)
		rc = ct_pg_copy(pg,
		                "COPY automatic_action (command_id, alert_id, chart_id, site, line,"
		                " station, kind, parameter, target_value, delta, uom, reason_code,"
		                " reason_text, cause_event_id, decided_at) FROM STDIN",
		                &p->actions, err, err_len);
	if (rc == CT_OK && p->items.rows > 0) {
		rc = ct_pg_copy(pg, "COPY tmp_item FROM STDIN", &p->items, err, err_len);
		if (rc == CT_OK)
			rc = exec_sql(pg,
			              "INSERT INTO inspection_item (unit_id, unit_kind, site, line,"
			              " station, queue, cause, reason, verdict, entered_at)"
			              " SELECT DISTINCT ON (unit_id, cause) * FROM tmp_item"
			              " ON CONFLICT (unit_id, cause) DO NOTHING",
			              err, err_len);
	}
	if (rc == CT_OK && p->held_units.rows > 0) {
		rc = ct_pg_copy(pg, "COPY tmp_held FROM STDIN", &p->held_units, err, err_len);
		if (rc == CT_OK)
			rc = exec_sql(pg,
			              "INSERT INTO held_unit SELECT DISTINCT ON (unit_id, lot_id) *"
			              " FROM tmp_held ON CONFLICT (unit_id, lot_id) DO NOTHING",
			              err, err_len);
	}
	if (rc == CT_OK && counters.rows > 0) {
		rc = ct_pg_copy(pg, "COPY tmp_lq FROM STDIN", &counters, err, err_len);
		if (rc == CT_OK)
			rc = exec_sql(pg,
			              "INSERT INTO lot_quality SELECT * FROM tmp_lq"
			              " ON CONFLICT (site, lot_id, rule_id) DO UPDATE SET"
			              " units = excluded.units, failed = excluded.failed",
			              err, err_len);
	}
	if (rc == CT_OK)
		rc = exec_sql(pg, "COMMIT", err, err_len);
	if (rc != CT_OK) {
		char ignored[64];
		exec_sql(pg, "ROLLBACK", ignored, sizeof(ignored));
		/* Drop the rows the holds' genealogy added, so a retry adds them once. */
		p->items.len = items_before;
		p->items.rows = items_rows;
		p->held_units.len = held_before;
		p->held_units.rows = held_rows;
		goto out;
	}
	for (size_t i = 0; i < charts->n_charts; i++)
		charts->charts[i]->dirty = false;
	for (size_t i = 0; i < lots->n_counters; i++)
		lots->counters[i].dirty = false;
	gate_pending_reset(p);
out:
	ct_copy_cleanup(&states);
	ct_copy_cleanup(&counters);
	return rc;
}

/* ---- lot changes, undo, pruning ------------------------------------------------------ */

int gate_db_lot_changes(struct ct_pg *pg, struct gate_lot_change *ret, size_t max, size_t *ret_n,
                        char *err, size_t err_len)
{
	static const char sql[] =
	        "SELECT audit_id, site, lot_id, to_state, reason, actor,"
	        " (extract(epoch FROM at) * 1000000)::int8"
	        " FROM lot_audit WHERE published_at IS NULL ORDER BY audit_id LIMIT $1::int";
	char limit[24];
	PGresult *res = NULL;
	int rc;

	snprintf(limit, sizeof(limit), "%zu", max);
	if ((rc = query(pg, sql, 1, (const char *const[]){limit}, &res, err, err_len)) != CT_OK)
		return rc;
	*ret_n = (size_t)PQntuples(res);
	for (size_t i = 0; i < *ret_n; i++) {
		struct gate_lot_change *c = &ret[i];
		int r = (int)i;
		c->audit_id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
		field(c->site, sizeof(c->site), res, r, 1);
		field(c->lot_id, sizeof(c->lot_id), res, r, 2);
		c->state = (int)integer(res, r, 3);
		field(c->reason, sizeof(c->reason), res, r, 4);
		field(c->actor, sizeof(c->actor), res, r, 5);
		c->at_us = strtoll(PQgetvalue(res, r, 6), NULL, 10);
	}
	PQclear(res);
	return CT_OK;
}

int gate_db_lot_changes_published(struct ct_pg *pg, const struct gate_lot_change *changes, size_t n,
                                  char *err, size_t err_len)
{
	char last[24];
	PGresult *res = NULL;
	int rc;

	if (n == 0)
		return CT_OK;
	/* Published oldest first, so everything up to the last one is out. */
	snprintf(last, sizeof(last), "%" PRId64, changes[n - 1].audit_id);
	rc = query(pg,
	           "UPDATE lot_audit SET published_at = now()"
	           " WHERE published_at IS NULL AND audit_id <= $1::int8",
	           1, (const char *const[]){last}, &res, err, err_len);
	PQclear(res);
	return rc;
}

int gate_db_pending_undos(struct ct_pg *pg, struct gate_undo *ret, size_t max, size_t *ret_n,
                          char *err, size_t err_len)
{
	static const char sql[] =
	        "SELECT command_id, site, line, station, kind, coalesce(parameter, ''),"
	        " target_value, delta, uom, reason_code, undo_requested_by, undo_reason"
	        " FROM automatic_action WHERE undo_requested_at IS NOT NULL AND undone_at IS NULL"
	        " ORDER BY undo_requested_at LIMIT $1::int";
	char limit[24];
	PGresult *res = NULL;
	int rc;

	snprintf(limit, sizeof(limit), "%zu", max);
	if ((rc = query(pg, sql, 1, (const char *const[]){limit}, &res, err, err_len)) != CT_OK)
		return rc;
	*ret_n = (size_t)PQntuples(res);
	for (size_t i = 0; i < *ret_n; i++) {
		struct gate_undo *u = &ret[i];
		int r = (int)i;
		field(u->command_id, sizeof(u->command_id), res, r, 0);
		field(u->site, sizeof(u->site), res, r, 1);
		field(u->line, sizeof(u->line), res, r, 2);
		field(u->station, sizeof(u->station), res, r, 3);
		u->kind = (int)integer(res, r, 4);
		field(u->parameter, sizeof(u->parameter), res, r, 5);
		u->target_value = number(res, r, 6);
		u->delta = number(res, r, 7);
		field(u->uom, sizeof(u->uom), res, r, 8);
		field(u->reason_code, sizeof(u->reason_code), res, r, 9);
		field(u->requested_by, sizeof(u->requested_by), res, r, 10);
		field(u->reason, sizeof(u->reason), res, r, 11);
	}
	PQclear(res);
	return CT_OK;
}

int gate_db_undo_done(struct ct_pg *pg, const char *command_id, const char *undo_command_id,
                      char *err, size_t err_len)
{
	PGresult *res = NULL;
	int rc = query(pg,
	               "UPDATE automatic_action SET undone_at = now(), undo_command_id = $2"
	               " WHERE command_id = $1 AND undone_at IS NULL",
	               2, (const char *const[]){command_id, undo_command_id}, &res, err, err_len);
	PQclear(res);
	return rc;
}

int gate_db_event_stored(struct ct_pg *pg, const char *event_id, bool *ret_stored, char *err,
                         size_t err_len)
{
	PGresult *res = NULL;
	int rc = query(pg, "SELECT 1 FROM event WHERE event_id = $1", 1,
	               (const char *const[]){event_id}, &res, err, err_len);

	if (rc == CT_OK)
		*ret_stored = PQntuples(res) > 0;
	PQclear(res);
	return rc;
}

int gate_db_prune(struct ct_pg *pg, int keep_days, char *err, size_t err_len)
{
	char days[16];
	PGresult *res = NULL;
	int rc;

	snprintf(days, sizeof(days), "%d", keep_days);
	rc = query(pg,
	           "DELETE FROM spc_judged WHERE judged_at < now() - $1::int * interval '1 day'", 1,
	           (const char *const[]){days}, &res, err, err_len);
	PQclear(res);
	return rc;
}
