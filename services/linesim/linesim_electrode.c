/* linesim_electrode: material lots, slurry batches and electrode coils, made on demand.
 *
 * The cell line pulls: when a cell needs more cathode or anode than the current coil has
 * left, a new coil is made right then (coating, calendering, slitting, vacuum drying, each a
 * visit of the coil), and a new slurry batch is mixed first when the current batch has coated
 * its LS_COILS_PER_BATCH coils. Lots open when first needed and roll over to the next lot ID
 * when the open one has too little left (the remainder goes back to stores), so every lot ID
 * the line names appears in the same result that opened it.
 *
 * Physics kept coherent along the chain: the loading laid down at coating, proportional to the
 * slot-die gap actually open (its setpoint, which an ADJUST command moves, crept open under
 * coating_drift), sets wet and dry thickness, then calendered thickness and
 * density; the dry-room dew point at vacuum drying sets the coil's residual moisture, which
 * the cells wound from it carry on to formation and aging. */
#include <stdio.h>

#include "ct_error.h"
#include "linesim_internal.h"

double ls_coat_gap_factor(const struct ls_line *line, enum ls_side side, double creep)
{
	unsigned station = side * LS_STAGES + LS_STAGE_COAT;
	double nominal = ls_stations[station].params[COATP_GAP].setpoint;
	double setpoint = line->setpoint[station][COATP_GAP];

	/* (1 + creep) * 1.0 is exact, so an unadjusted gap gives the very bits it always did. */
	return (1.0 + creep) * (setpoint / nominal);
}

const struct ls_lot *ls_lot_take(struct ls_line *line, enum ls_material material, double quantity)
{
	struct ls_lot *lot = &line->lots[material];

	if (lot->seq == 0 || lot->left < quantity) {
		lot->seq++;
		snprintf(lot->id, sizeof(lot->id), "%s-%s-%05llu", line->unit_base,
		         ls_materials[material].lot_code, lot->seq);
		lot->left = ls_materials[material].lot_size;
		line->lots_new++;
		line->stats.lots++;
	}
	lot->left -= quantity;
	return lot;
}

static void use_material(struct ls_visit *v, struct ls_line *line, enum ls_material material,
                         double quantity)
{
	ls_visit_material(v, ls_lot_take(line, material, quantity), material, quantity);
}

static int mix_batch(struct linesim_model *m, struct ls_line *line, enum ls_side side,
                     int64_t now_us, const struct linesim_sink *sink)
{
	struct ls_electrode *e = &line->el[side];
	const struct ls_electrode_def *d = &ls_electrodes[side];
	struct ls_visit *v = &m->visit;
	double c[LS_MAX_CHARS], p[LS_MAX_PARAMS];
	double solids, binder, active;

	e->batch_seq++;
	line->stats.batches++;
	snprintf(e->batch_id, sizeof(e->batch_id), "%s-%s-%05llu", line->unit_base, d->batch_code,
	         e->batch_seq);
	e->batch_key = ls_unit_key(KIND_BATCH, side, e->batch_seq);
	e->batch_coils_left = LS_COILS_PER_BATCH;

	ls_visit_begin(v, m, line, side * LS_STAGES + LS_STAGE_MIX, e->batch_id, e->batch_key,
	               now_us);
	ls_visit_draw(v, c, p);
	ls_visit_emit_tables(v, c, p);
	/* Dosing by recipe with a small weighing error per component. */
	solids = d->batch_kg * d->solid_fraction;
	active = solids * d->active_share * (1.0 + 0.001 * ls_rng_normal(&v->rng));
	binder = solids * d->binder_share * (1.0 + 0.002 * ls_rng_normal(&v->rng));
	use_material(v, line, d->active, active);
	use_material(v, line, LS_MAT_PVDF, binder);
	use_material(v, line, LS_MAT_CARBON_BLACK,
	             (solids - solids * d->active_share - solids * d->binder_share) *
	                     (1.0 + 0.002 * ls_rng_normal(&v->rng)));
	use_material(v, line, LS_MAT_NMP,
	             d->batch_kg * (1.0 - d->solid_fraction) *
	                     (1.0 + 0.001 * ls_rng_normal(&v->rng)));
	v->new_units[KIND_BATCH] = 1;
	return ls_visit_end(v, sink);
}

static int coat(struct linesim_model *m, struct ls_line *line, enum ls_side side, int64_t now_us,
                const struct linesim_sink *sink)
{
	struct ls_electrode *e = &line->el[side];
	const struct ls_electrode_def *d = &ls_electrodes[side];
	unsigned station = side * LS_STAGES + LS_STAGE_COAT;
	const struct ls_char *ch = ls_stations[station].chars;
	struct ls_visit *v = &m->visit;
	double c[LS_MAX_CHARS], p[LS_MAX_PARAMS];
	double creep = 0.0, r;

	if (ls_fault_on(m, LINESIM_FAULT_COATING_DRIFT))
		creep = ls_fault_gap_creep(++e->drift_coils);
	ls_visit_begin(v, m, line, station, e->coil.id, e->coil.key, now_us);
	ls_visit_draw(v, c, p);
	/* A wider gap lays down proportionally more slurry; thickness follows loading. The gap
	 * open is the setpoint (ADJUST moves it; the drawn actual already follows it), crept
	 * open under coating_drift by a fraction of itself. */
	c[COAT_LOADING] *= ls_coat_gap_factor(line, side, creep);
	r = c[COAT_LOADING] / ch[COAT_LOADING].nominal - 1.0;
	c[COAT_WET] += ch[COAT_WET].nominal * r;
	c[COAT_DRY] += ch[COAT_DRY].nominal * r;
	p[COATP_GAP] += line->setpoint[station][COATP_GAP] * creep;
	ls_visit_emit_tables(v, c, p);
	use_material(v, line, d->foil, e->coil.length_m);
	ls_visit_child(v, e->batch_id, KIND_BATCH, d->batch_kg / LS_COILS_PER_BATCH, "kg", "");
	e->batch_coils_left--;
	e->coil.loading = c[COAT_LOADING];
	v->new_units[KIND_ELECTRODE] = 1;
	return ls_visit_end(v, sink);
}

static int calender(struct linesim_model *m, struct ls_line *line, enum ls_side side,
                    int64_t now_us, const struct linesim_sink *sink)
{
	struct ls_electrode *e = &line->el[side];
	const struct ls_electrode_def *d = &ls_electrodes[side];
	unsigned station = side * LS_STAGES + LS_STAGE_CAL;
	double nominal_loading = ls_stations[side * LS_STAGES + LS_STAGE_COAT].chars[0].nominal;
	struct ls_visit *v = &m->visit;
	double c[LS_MAX_CHARS], p[LS_MAX_PARAMS];
	double r = e->coil.loading / nominal_loading - 1.0;

	ls_visit_begin(v, m, line, station, e->coil.id, e->coil.key, now_us);
	ls_visit_draw(v, c, p);
	/* The roll gap holds thickness, mostly: extra mass goes a third into thickness and the
	 * rest into density. Density is mass per coating volume (mg/cm2 / um -> g/cm3 x 10). */
	c[CAL_THICKNESS] += (c[CAL_THICKNESS] - d->foil_um) * 0.35 * r;
	c[CAL_DENSITY] = 2.0 * e->coil.loading * 10.0 / (c[CAL_THICKNESS] - d->foil_um);
	ls_visit_emit_tables(v, c, p);
	return ls_visit_end(v, sink);
}

static int slit_and_dry(struct linesim_model *m, struct ls_line *line, enum ls_side side,
                        int64_t now_us, const struct linesim_sink *sink)
{
	struct ls_electrode *e = &line->el[side];
	struct ls_visit *v = &m->visit;
	double c[LS_MAX_CHARS], p[LS_MAX_PARAMS];
	double excursion = line->dew_point + 50.0;
	int rc;

	ls_visit_begin(v, m, line, side * LS_STAGES + LS_STAGE_SLIT, e->coil.id, e->coil.key,
	               now_us);
	ls_visit_draw(v, c, p);
	ls_visit_emit_tables(v, c, p);
	rc = ls_visit_end(v, sink);
	if (rc != CT_OK)
		return rc;

	ls_visit_begin(v, m, line, side * LS_STAGES + LS_STAGE_VDRY, e->coil.id, e->coil.key,
	               now_us);
	ls_visit_draw(v, c, p);
	/* Wetter dry-room air re-wets the electrode faster than the oven dries it. */
	if (excursion > 0.0)
		c[VDRY_MOISTURE] += 15.0 * excursion;
	e->coil.moisture_ppm = c[VDRY_MOISTURE];
	ls_visit_emit_tables(v, c, p);
	return ls_visit_end(v, sink);
}

int ls_electrode_ensure(struct linesim_model *m, struct ls_line *line, enum ls_side side,
                        double need_m, int64_t now_us, const struct linesim_sink *sink)
{
	struct ls_electrode *e = &line->el[side];
	int rc;

	if (e->coil.key != 0 && e->coil.length_m - e->coil.used_m >= need_m)
		return CT_OK;
	if (e->batch_coils_left == 0) {
		rc = mix_batch(m, line, side, now_us, sink);
		if (rc != CT_OK)
			return rc;
	}
	e->coil_seq++;
	line->stats.coils++;
	snprintf(e->coil.id, sizeof(e->coil.id), "%s-%s-%06llu", line->unit_base,
	         ls_electrodes[side].coil_code, e->coil_seq);
	e->coil.key = ls_unit_key(KIND_ELECTRODE, side, e->coil_seq);
	e->coil.length_m = LS_COIL_M;
	e->coil.used_m = 0.0;
	rc = coat(m, line, side, now_us, sink);
	if (rc == CT_OK)
		rc = calender(m, line, side, now_us, sink);
	if (rc == CT_OK)
		rc = slit_and_dry(m, line, side, now_us, sink);
	return rc;
}
