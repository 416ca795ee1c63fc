/* linesim_visit: builds one StationResult at a time in fixed storage, and hands it to the sink.
 *
 * Every string and repeated field of the message points into struct ls_visit (or into tables
 * and line state that outlive it), so building a result allocates nothing and a result is
 * gone as soon as the sink returns; the sink packs what it keeps. Each visit draws from its
 * own stream keyed by (line, unit, station), and ls_visit_end always makes the same draws
 * (environment, note, micro-stop) whatever the station did, so a fault in one value never
 * shifts the noise of another. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "linesim_internal.h"

/* Probabilities of the rare events every visit may carry. */
#define P_NOTE       0.004 /* an operator note at an attended station */
#define P_MICRO_STOP 0.002 /* a micro-stop exception at a cell station */

/* protobuf-c's string fields are `char *` but are only read when packing. */
static char *pbs(const char *s)
{
	return (char *)s;
}

static const char *const notes[] = {
        "Shift handover: station checked, no findings.",
        "Cleaned sensor window after vision warning.",
        "Verified calibration with reference part.",
        "Material lot change confirmed against work order.",
        "Minor adjustment of guide rail, within work instruction.",
        "Quality engineer informed about trend, continuing.",
};

int ls_visit_init(struct ls_visit *v, size_t children_cap)
{
	memset(v, 0, sizeof(*v));
	v->children = calloc(children_cap, sizeof(*v->children));
	v->children_p = calloc(children_cap, sizeof(*v->children_p));
	v->positions = calloc(children_cap, sizeof(*v->positions));
	if (v->children == NULL || v->children_p == NULL || v->positions == NULL) {
		ls_visit_cleanup(v);
		return CT_ERR_NOMEM;
	}
	v->children_cap = children_cap;
	return CT_OK;
}

void ls_visit_cleanup(struct ls_visit *v)
{
	free(v->children);
	free(v->children_p);
	free(v->positions);
	v->children = NULL;
	v->children_p = NULL;
	v->positions = NULL;
	v->children_cap = 0;
}

/* Shifts change at 06, 14 and 22 h UTC: A, B, C. */
static char shift_of(int64_t now_us)
{
	long long hour = (now_us / 3600000000LL) % 24;

	return "CCCCCCAAAAAAAABBBBBBBBCC"[hour < 0 ? 0 : hour];
}

void ls_visit_begin(struct ls_visit *v, const struct linesim_model *m, struct ls_line *line,
                    unsigned station, const char *unit_id, uint64_t unit_key, int64_t now_us)
{
	const struct ls_station *st = &ls_stations[station];
	Cellthread__V1__StationResult init = CELLTHREAD__V1__STATION_RESULT__INIT;
	int64_t end = now_us - (int64_t)(LS_N_STATIONS - 1 - station) * LINESIM_SLOT_US;

	v->msg = init;
	v->line = line;
	v->station = station;
	v->failed[0] = '\0';
	memset(v->new_units, 0, sizeof(v->new_units));
	ls_rng_init(&v->rng, line->seed, unit_key, station);
	snprintf(v->unit_id, sizeof(v->unit_id), "%s", unit_id);
	if (st->area == LS_AREA_NONE)
		v->operator_id[0] = '\0';
	else
		snprintf(v->operator_id, sizeof(v->operator_id), "op-%s-%c%d", line->name,
		         shift_of(now_us), (int)st->area);
	v->msg.unit_id = v->unit_id;
	v->msg.unit_kind = st->kind;
	v->msg.site = pbs(m->site);
	v->msg.line = line->name;
	v->msg.station = line->station_id[station];
	v->msg.station_type = st->type;
	v->msg.recipe = pbs(st->recipe);
	v->msg.recipe_version = st->recipe_version;
	/* After a changeover to the second variant (station states only). */
	if (line->st.variant != 0 && station >= LS_WIND && station <= LS_VIS) {
		v->msg.recipe = pbs(ls_recipes_he[station - LS_WIND].name);
		v->msg.recipe_version = ls_recipes_he[station - LS_WIND].version;
	}
	v->checks_off = m->config.checks_off;
	v->msg.operator_id = v->operator_id;
	v->msg.started_at_us = end - LINESIM_SLOT_US * 5 / 6;
	v->msg.ended_at_us = end;
	v->msg.measurements = v->meas_p;
	v->msg.parameters = v->params_p;
	v->msg.materials = v->mats_p;
	v->msg.children = v->children_p;
	v->msg.environment = v->env_p;
	v->msg.notes = v->note_p;
	v->msg.exceptions = v->exc_p;
	v->msg.curves = v->curve_p;
}

static double draw(struct ls_rng *rng, enum ls_dist dist, double nominal, double sigma)
{
	double z = ls_rng_normal(rng);
	double x;

	switch (dist) {
	case LS_LOGNORMAL:
		return nominal * exp(sigma * z);
	case LS_SCORE:
		x = nominal + sigma * z;
		return x < 0.0 ? 0.0 : (x > 1.0 ? 1.0 : x);
	case LS_DERIVED:
		return nominal;
	case LS_NORMAL:
		break;
	}
	return nominal + sigma * z;
}

void ls_visit_draw(struct ls_visit *v, double *c, double *p)
{
	const struct ls_station *st = &ls_stations[v->station];

	/* Derived values draw too, so every station consumes the same count of draws. */
	for (size_t i = 0; i < st->n_chars; i++)
		c[i] = draw(&v->rng, st->chars[i].dist, st->chars[i].nominal, st->chars[i].sigma);
	for (size_t i = 0; i < st->n_params; i++) {
		double setpoint = v->line->setpoint[v->station][i];

		p[i] = draw(&v->rng, LS_NORMAL, st->params[i].setpoint, st->params[i].sigma);
		/* An adjusted setpoint moves the actual with it. Only then: adding 0 would turn
		 * a -0.0 into 0.0, and unadjusted output must stay byte for byte as it was. */
		if (setpoint != st->params[i].setpoint)
			p[i] += setpoint - st->params[i].setpoint;
	}
}

void ls_visit_measure(struct ls_visit *v, const char *name, double value, const char *unit,
                      double lo, double hi)
{
	Cellthread__V1__Measurement init = CELLTHREAD__V1__MEASUREMENT__INIT;
	Cellthread__V1__Measurement *meas;

	if (v->msg.n_measurements >= LS_MAX_MEAS)
		return; /* tables are sized below the limit; see LS_MAX_MEAS */
	meas = &v->meas[v->msg.n_measurements];
	*meas = init;
	meas->characteristic = pbs(name);
	meas->value = value;
	meas->unit = pbs(unit);
	v->meas_p[v->msg.n_measurements++] = meas;
	if ((value < lo || value > hi) && v->failed[0] == '\0' && !v->checks_off)
		snprintf(v->failed, sizeof(v->failed), "%s %.4g %s outside [%.4g, %.4g]", name,
		         value, unit, lo, hi);
}

void ls_visit_emit_tables(struct ls_visit *v, const double *c, const double *p)
{
	const struct ls_station *st = &ls_stations[v->station];
	Cellthread__V1__Parameter init = CELLTHREAD__V1__PARAMETER__INIT;

	for (size_t i = 0; i < st->n_chars; i++)
		ls_visit_measure(v, st->chars[i].name, c[i], st->chars[i].unit, st->chars[i].lo,
		                 st->chars[i].hi);
	for (size_t i = 0; i < st->n_params && i < LS_MAX_PARAMS; i++) {
		Cellthread__V1__Parameter *par = &v->params[i];

		*par = init;
		par->name = pbs(st->params[i].name);
		par->actual = p[i];
		par->setpoint = v->line->setpoint[v->station][i];
		par->has_setpoint = true;
		par->unit = pbs(st->params[i].unit);
		v->params_p[v->msg.n_parameters++] = par;
	}
}

void ls_visit_material(struct ls_visit *v, const struct ls_lot *lot, enum ls_material material,
                       double quantity)
{
	Cellthread__V1__MaterialUse init = CELLTHREAD__V1__MATERIAL_USE__INIT;
	Cellthread__V1__MaterialUse *use;

	if (v->msg.n_materials >= LS_MAX_MATERIALS)
		return;
	use = &v->mats[v->msg.n_materials];
	*use = init;
	use->lot_id = pbs(lot->id);
	use->material = pbs(ls_materials[material].name);
	use->quantity = quantity;
	use->unit = pbs(ls_materials[material].unit);
	v->mats_p[v->msg.n_materials++] = use;
}

void ls_visit_child(struct ls_visit *v, const char *unit_id, Cellthread__V1__UnitKind kind,
                    double quantity, const char *unit, const char *position)
{
	Cellthread__V1__ChildUnit init = CELLTHREAD__V1__CHILD_UNIT__INIT;
	size_t i = v->msg.n_children;

	if (i >= v->children_cap)
		return;
	v->children[i] = init;
	v->children[i].unit_id = pbs(unit_id);
	v->children[i].kind = kind;
	v->children[i].quantity = quantity;
	v->children[i].unit = pbs(unit);
	snprintf(v->positions[i], sizeof(v->positions[i]), "%s", position);
	v->children[i].position = v->positions[i];
	v->children_p[i] = &v->children[i];
	v->msg.n_children = i + 1;
}

void ls_visit_curve(struct ls_visit *v, const char *name, const char *x_unit, const char *y_unit,
                    size_t n)
{
	Cellthread__V1__Curve init = CELLTHREAD__V1__CURVE__INIT;

	v->curve = init;
	v->curve.name = pbs(name);
	v->curve.x_unit = pbs(x_unit);
	v->curve.y_unit = pbs(y_unit);
	v->curve.n_x = v->curve.n_y = n < LS_MAX_POINTS ? n : LS_MAX_POINTS;
	v->curve.x = v->curve_x;
	v->curve.y = v->curve_y;
	v->curve_p[0] = &v->curve;
	v->msg.n_curves = 1;
}

static void add_env(struct ls_visit *v, const char *quantity, double value, const char *unit,
                    const char *sensor)
{
	Cellthread__V1__EnvironmentReading init = CELLTHREAD__V1__ENVIRONMENT_READING__INIT;
	Cellthread__V1__EnvironmentReading *env = &v->env[v->msg.n_environment];

	*env = init;
	env->quantity = pbs(quantity);
	env->value = value;
	env->unit = pbs(unit);
	env->sensor = pbs(sensor);
	env->measured_at_us = v->msg.started_at_us;
	v->env_p[v->msg.n_environment++] = env;
}

/* Saturation vapour pressure over water (Magnus, hPa); RH follows from the dew point. */
static double magnus(double t)
{
	return 6.112 * exp(17.62 * t / (243.12 + t));
}

static void add_exception(struct ls_visit *v, const char *code, Cellthread__V1__Severity severity,
                          const char *text)
{
	Cellthread__V1__ProcessException init = CELLTHREAD__V1__PROCESS_EXCEPTION__INIT;
	size_t i = v->msg.n_exceptions;

	if (i >= LS_MAX_EXCEPTIONS)
		return;
	v->exc[i] = init;
	v->exc[i].code = pbs(code);
	v->exc[i].severity = severity;
	snprintf(v->exc_text[i], sizeof(v->exc_text[i]), "%s", text);
	v->exc[i].text = v->exc_text[i];
	v->exc[i].at_us = v->msg.ended_at_us;
	v->exc_p[i] = &v->exc[i];
	v->msg.n_exceptions = i + 1;
}

int ls_visit_end(struct ls_visit *v, const struct linesim_sink *sink)
{
	const struct ls_station *st = &ls_stations[v->station];
	Cellthread__V1__Header hinit = CELLTHREAD__V1__HEADER__INIT;
	Cellthread__V1__OperatorNote ninit = CELLTHREAD__V1__OPERATOR_NOTE__INIT;
	struct ls_line *line = v->line;
	struct linesim_result out;
	double dp = line->dew_point + 0.3 * ls_rng_normal(&v->rng);
	double temp = 21.0 + 0.3 * ls_rng_normal(&v->rng);
	double dpa = 15.0 + 1.0 * ls_rng_normal(&v->rng);
	double u_note = ls_rng_uniform(&v->rng);
	double u_pick = ls_rng_uniform(&v->rng);
	double u_stop = ls_rng_uniform(&v->rng);
	bool cell_station = st->kind == KIND_CELL;

	if (st->dry_room) {
		add_env(v, "dew_point", dp, "C", line->sensor[LS_SENSOR_DEW_POINT]);
		add_env(v, "temperature", temp, "C", line->sensor[LS_SENSOR_TEMPERATURE]);
		add_env(v, "relative_humidity", 100.0 * magnus(dp) / magnus(temp), "%",
		        line->sensor[LS_SENSOR_HUMIDITY]);
		add_env(v, "pressure_differential", dpa, "Pa", line->sensor[LS_SENSOR_PRESSURE]);
	}
	if (st->area != LS_AREA_NONE && u_note < P_NOTE) {
		v->note = ninit;
		v->note.author = v->operator_id;
		v->note.text = pbs(notes[(size_t)(u_pick * (sizeof(notes) / sizeof(notes[0])))]);
		v->note.at_us = v->msg.ended_at_us;
		v->note_p[0] = &v->note;
		v->msg.n_notes = 1;
	}
	if (cell_station && u_stop < P_MICRO_STOP)
		add_exception(v, "MICRO_STOP", CELLTHREAD__V1__SEVERITY__SEVERITY_LOW,
		              "Micro-stop: part jam at infeed cleared by operator.");
	if (v->failed[0] != '\0') {
		v->msg.result = CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_NOK;
		add_exception(v, st->nok_code,
		              cell_station ? CELLTHREAD__V1__SEVERITY__SEVERITY_HIGH
		                           : CELLTHREAD__V1__SEVERITY__SEVERITY_MEDIUM,
		              v->failed);
	} else {
		v->msg.result = CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_OK;
	}

	line->result_seq++;
	snprintf(v->event_id, sizeof(v->event_id), "%s-r%llu", line->event_prefix,
	         line->result_seq);
	v->header = hinit;
	v->header.event_id = v->event_id;
	v->header.producer = line->producer;
	v->header.produced_at_us = v->msg.ended_at_us;
	v->header.schema_version = 1;
	v->msg.header = &v->header;

	v->new_units[KIND_LOT] += line->lots_new;
	line->lots_new = 0;
	memset(&out, 0, sizeof(out));
	out.line = line->index;
	out.station = v->station;
	out.line_name = line->name;
	out.station_id = line->station_id[v->station];
	out.msg = &v->msg;
	memcpy(out.new_units, v->new_units, sizeof(out.new_units));
	return sink->result(sink->ctx, &out);
}

bool ls_visit_is_nok(const struct ls_visit *v)
{
	return v->failed[0] != '\0';
}
