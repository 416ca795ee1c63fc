/* linesim_cell: one cell through winding ... vision, and the modules and packs it completes.
 *
 * Every cell station runs the same frame (begin, draw the table, station hook, emit, end);
 * a hook applies the station's physics and fault by index into the drawn values and adds its
 * materials, children and curve. A cell that fails a station's own check gets a NOK result
 * with the failed characteristic in a process exception and leaves the line (scrapped): it
 * visits no further station and goes into no module. Finished cells fill module slots in
 * order; a full module is assembled at once, and a full set of modules makes a pack.
 *
 * Latent cell state carries cause to effect downstream: electrode moisture (dew point) lowers
 * formation capacity and raises gas and self-discharge; weld resistance (weld wear) raises
 * DCIR; the fill mass shows in the cell weight. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ct_error.h"
#include "linesim_internal.h"

#define P_SHORT    0.002 /* insulation short */
#define P_LEAK     0.004 /* leak-test outlier (most of them beyond the station's limit) */
#define MOISTURE_0 100.0 /* ppm a cell carries with a dry room at -50 C */

struct ls_cell {
	char id[LINESIM_ID_LEN];
	uint64_t key;
	double moisture_ppm;
	double weld_resistance, fill_mass, capacity, ocv, dcir;
};

struct hook {
	struct linesim_model *m;
	struct ls_line *line;
	struct ls_cell *cell;
	struct ls_visit *v;
	double *c, *p;
};

static double nominal(unsigned station, size_t i)
{
	return ls_stations[station].chars[i].nominal;
}

static void wind(const struct hook *h)
{
	char pos[24];

	for (unsigned side = LS_CATHODE; side <= LS_ANODE; side++) {
		struct ls_coil *coil = &h->line->el[side].coil;
		double len = ls_electrodes[side].per_cell_m;

		snprintf(pos, sizeof(pos), "%.2f", coil->used_m);
		ls_visit_child(h->v, coil->id, KIND_ELECTRODE, len, "m", pos);
		coil->used_m += len;
	}
	ls_visit_material(h->v, ls_lot_take(h->line, LS_MAT_SEPARATOR, LS_SEPARATOR_M),
	                  LS_MAT_SEPARATOR, LS_SEPARATOR_M);
	h->cell->moisture_ppm = 0.5 * (h->line->el[LS_CATHODE].coil.moisture_ppm +
	                               h->line->el[LS_ANODE].coil.moisture_ppm);
	if (h->line->dew_point > -50.0)
		h->cell->moisture_ppm += 8.0 * (h->line->dew_point + 50.0);
	h->v->new_units[KIND_CELL] = 1;
}

static void weld(const struct hook *h)
{
	double wear = 0.0, peak, z = ls_rng_normal(&h->v->rng);
	double *c = h->c;

	if (ls_fault_on(h->m, LINESIM_FAULT_WELD_WEAR))
		wear = ls_fault_weld_wear(++h->line->weld_count);
	/* A worn sonotrode couples worse: the controller pushes more energy, yet the joint
	 * gets weaker and more resistive. */
	c[WELD_ENERGY] *= 1.0 + 0.05 * wear;
	c[WELD_RESISTANCE] += 0.10 * wear;
	c[WELD_PEEL] -= 4.0 * wear;
	c[WELD_VISION] = fmax(0.0, c[WELD_VISION] - 0.01 * wear);
	peak = c[WELD_ENERGY] / 0.035 * (1.0 + 0.01 * z);
	c[WELD_PEAK] = peak;
	h->cell->weld_resistance = c[WELD_RESISTANCE];

	/* Power trace: 5 ms ramp, plateau, 5 ms ramp down; its area is the weld energy. */
	ls_visit_curve(h->v, "weld_power", "ms", "W", 50);
	for (size_t i = 0; i < 50; i++) {
		double t = (double)i;
		double y = t < 5.0 ? peak * t / 5.0
		                   : (t < 35.0 ? peak : (t < 40.0 ? peak * (40.0 - t) / 5.0 : 0.0));

		h->v->curve_x[i] = t;
		h->v->curve_y[i] = fmax(0.0, y + 0.01 * peak * ls_rng_normal(&h->v->rng));
	}
}

static void insulation(const struct hook *h)
{
	double u = ls_rng_uniform(&h->v->rng), u2 = ls_rng_uniform(&h->v->rng);

	/* A scenario fails only what it scripts: the outliers' draws are made all the same. */
	if (u < P_SHORT && !h->m->config.checks_off) {
		h->c[INS_RESISTANCE] = 0.5 + 4.5 * u2;
		h->c[INS_LEAKAGE] = 60.0 + 200.0 * u2;
	}
}

static void fill(const struct hook *h)
{
	double offset = 0.0;

	if (ls_fault_on(h->m, LINESIM_FAULT_NOZZLE))
		offset = ls_fault_nozzle_offset(++h->line->nozzle_fills);
	h->c[FILL_MASS] += offset;
	h->p[FILLP_NOZZLE] += 3.0 * offset;
	h->cell->fill_mass = h->c[FILL_MASS];
	ls_visit_material(h->v, ls_lot_take(h->line, LS_MAT_ELECTROLYTE, h->c[FILL_MASS]),
	                  LS_MAT_ELECTROLYTE, h->c[FILL_MASS]);
}

static void seal(const struct hook *h)
{
	double u = ls_rng_uniform(&h->v->rng), u2 = ls_rng_uniform(&h->v->rng);

	if (u < P_LEAK && !h->m->config.checks_off)
		h->c[SEAL_DECAY] = 25.0 + 60.0 * u2;
	ls_visit_curve(h->v, "pressure_decay", "s", "Pa", 31);
	for (size_t i = 0; i < 31; i++) {
		double t = 2.0 * (double)i;

		h->v->curve_x[i] = t;
		h->v->curve_y[i] = -h->c[SEAL_DECAY] * t / 60.0 + 0.3 * ls_rng_normal(&h->v->rng);
	}
}

static void formation(const struct hook *h)
{
	double dm = h->cell->moisture_ppm - MOISTURE_0;
	double *c = h->c;
	double t_cc;

	/* Water consumes lithium in SEI formation and gasses. */
	c[FORM_CAPACITY] -= 0.0002 * dm;
	c[FORM_CE] -= 0.003 * dm;
	c[FORM_GAS] += 0.001 * dm;
	h->cell->capacity = c[FORM_CAPACITY];

	/* CC charge at C/10 to 4.2 V, then CV; a bigger cell takes longer to reach 4.2 V. */
	t_cc = 32400.0 * c[FORM_CAPACITY] / nominal(LS_FORM, FORM_CAPACITY);
	ls_visit_curve(h->v, "formation_voltage", "s", "V", 121);
	for (size_t i = 0; i < 121; i++) {
		double t = 300.0 * (double)i;
		double s = t < t_cc ? t / t_cc : 1.0;
		double v = 3.35 + 0.6 * s + 0.25 * pow(s, 6.0) - 0.35 * exp(-30.0 * s);

		h->v->curve_x[i] = t;
		h->v->curve_y[i] = v + 0.001 * ls_rng_normal(&h->v->rng);
	}
}

static void aging(const struct hook *h)
{
	double *c = h->c;

	c[AGE_K] += 0.002 * (h->cell->moisture_ppm - MOISTURE_0);
	/* Seven days at K mV/day: the OCV falls with the cell's own self-discharge. */
	c[AGE_OCV] += (nominal(LS_AGE, AGE_K) - c[AGE_K]) * 0.007;
	h->cell->ocv = c[AGE_OCV];
}

static void end_of_line(const struct hook *h)
{
	double *c = h->c;

	c[EOL_CAPACITY] += 0.99 * (h->cell->capacity - nominal(LS_FORM, FORM_CAPACITY));
	c[EOL_DCIR] += 2.0 * (h->cell->weld_resistance - nominal(LS_WELD, WELD_RESISTANCE));
	c[EOL_OCV] += h->cell->ocv - nominal(LS_AGE, AGE_OCV);
	c[EOL_WEIGHT] += h->cell->fill_mass - nominal(LS_FILL, FILL_MASS);
	h->cell->dcir = c[EOL_DCIR];
	h->cell->ocv = c[EOL_OCV];
}

static void vision(const struct hook *h)
{
	(void)h;
}

/* Indexed by station - LS_WIND. */
static void (*const cell_hooks[])(const struct hook *) = {
        wind, weld, insulation, fill, seal, formation, aging, end_of_line, vision,
};

_Static_assert(sizeof(cell_hooks) / sizeof(cell_hooks[0]) == LS_VIS - LS_WIND + 1,
               "one hook per cell station");

static int assemble_pack(struct linesim_model *m, struct ls_line *line, int64_t now_us,
                         const struct linesim_sink *sink)
{
	struct ls_visit *v = &m->visit;
	double c[LS_MAX_CHARS], p[LS_MAX_PARAMS];
	double volts = 0.0;
	char id[LINESIM_ID_LEN], pos[24];
	unsigned n = line->n_modules;
	int rc;

	line->pack_seq++;
	line->stats.packs++;
	snprintf(id, sizeof(id), "%s-P%06llu", line->unit_base, line->pack_seq);
	ls_visit_begin(v, m, line, LS_PACK, id, ls_unit_key(KIND_PACK, 0, line->pack_seq), now_us);
	ls_visit_draw(v, c, p);
	for (unsigned i = 0; i < n; i++) {
		volts += line->modules[i].voltage;
		snprintf(pos, sizeof(pos), "%u", i + 1);
		ls_visit_child(v, line->modules[i].id, KIND_MODULE, 1.0, "pcs", pos);
	}
	c[PACK_VOLTAGE] = volts;
	c[PACK_WEIGHT] = n * (m->config.cells_per_module * 0.0685 + 0.35) + 4.0 +
	                 0.05 * ls_rng_normal(&v->rng);
	ls_visit_emit_tables(v, c, p);
	v->new_units[KIND_PACK] = 1;
	line->n_modules = 0;
	rc = ls_visit_end(v, sink);
	snprintf(line->stats.last_pack, sizeof(line->stats.last_pack), "%s", id);
	return rc;
}

static int assemble_module(struct linesim_model *m, struct ls_line *line, int64_t now_us,
                           const struct linesim_sink *sink)
{
	struct ls_visit *v = &m->visit;
	double c[LS_MAX_CHARS], p[LS_MAX_PARAMS];
	double volts = 0.0, mohm = 0.0;
	char pos[24];
	unsigned n = line->n_cells;
	struct ls_part *mod;
	int rc;

	line->module_seq++;
	line->stats.modules++;
	mod = &line->modules[line->n_modules];
	snprintf(mod->id, sizeof(mod->id), "%s-M%06llu", line->unit_base, line->module_seq);
	ls_visit_begin(v, m, line, LS_MOD, mod->id, ls_unit_key(KIND_MODULE, 0, line->module_seq),
	               now_us);
	ls_visit_draw(v, c, p);
	for (unsigned i = 0; i < n; i++) {
		volts += line->cells[i].voltage;
		mohm += line->cells[i].resistance + 0.05; /* cell plus its busbar joint */
		snprintf(pos, sizeof(pos), "%u", i + 1);
		ls_visit_child(v, line->cells[i].id, KIND_CELL, 1.0, "pcs", pos);
	}
	c[MOD_VOLTAGE] = volts;
	c[MOD_RESISTANCE] = mohm;
	ls_visit_emit_tables(v, c, p);
	v->new_units[KIND_MODULE] = 1;
	line->n_cells = 0;
	rc = ls_visit_end(v, sink);
	if (rc != CT_OK || ls_visit_is_nok(v))
		return rc; /* a module that fails its own test goes into no pack */
	mod->voltage = volts;
	mod->resistance = mohm;
	if (++line->n_modules == m->config.modules_per_pack)
		rc = assemble_pack(m, line, now_us, sink);
	return rc;
}

int ls_cell_run(struct linesim_model *m, struct ls_line *line, int64_t now_us,
                const struct linesim_sink *sink)
{
	struct ls_cell cell;
	struct ls_visit *v = &m->visit;
	double c[LS_MAX_CHARS], p[LS_MAX_PARAMS];
	struct hook h = {m, line, &cell, v, c, p};
	struct ls_part *slot;
	int rc;

	memset(&cell, 0, sizeof(cell));
	line->cell_seq++;
	line->stats.cells_started++;
	snprintf(cell.id, sizeof(cell.id), "%s-C%08llu", line->unit_base, line->cell_seq);
	cell.key = ls_unit_key(KIND_CELL, 0, line->cell_seq);
	for (unsigned side = LS_CATHODE; side <= LS_ANODE; side++) {
		rc = ls_electrode_ensure(m, line, side, ls_electrodes[side].per_cell_m, now_us,
		                         sink);
		if (rc != CT_OK)
			return rc;
	}
	for (unsigned st = LS_WIND; st <= LS_VIS; st++) {
		ls_visit_begin(v, m, line, st, cell.id, cell.key, now_us);
		ls_visit_draw(v, c, p);
		cell_hooks[st - LS_WIND](&h);
		ls_visit_emit_tables(v, c, p);
		if (line->st.scrap[st] > 0 && !ls_visit_is_nok(v)) {
			/* A scenario's scripted reject (scrap): the values stay as drawn. */
			line->st.scrap[st]--;
			line->st.stats.scrapped++;
			snprintf(v->failed, sizeof(v->failed),
			         "%s %.4g %s: scripted reject (sim.scenario)",
			         ls_stations[st].chars[0].name, c[0],
			         ls_stations[st].chars[0].unit);
		}
		rc = ls_visit_end(v, sink);
		if (rc != CT_OK)
			return rc;
		if (ls_visit_is_nok(v)) {
			line->stats.cells_scrapped++;
			return CT_OK;
		}
	}

	line->stats.cells_finished++;
	if (line->stats.first_cell[0] == '\0')
		snprintf(line->stats.first_cell, sizeof(line->stats.first_cell), "%s", cell.id);
	snprintf(line->stats.last_cell, sizeof(line->stats.last_cell), "%s", cell.id);
	slot = &line->cells[line->n_cells++];
	snprintf(slot->id, sizeof(slot->id), "%s", cell.id);
	slot->voltage = cell.ocv;
	slot->resistance = cell.dcir;
	if (line->n_cells == m->config.cells_per_module)
		return assemble_module(m, line, now_us, sink);
	return CT_OK;
}

int ls_cell_retest(struct linesim_model *m, struct ls_line *line, const char *cell_id,
                   unsigned long long seq, int64_t now_us, const struct linesim_sink *sink)
{
	struct ls_visit *v = &m->visit;
	double c[LS_MAX_CHARS], p[LS_MAX_PARAMS];
	uint64_t key = ls_unit_key(KIND_CELL, 0, seq);

	ls_visit_begin(v, m, line, LS_EOL, cell_id, key, now_us);
	/* The retest's own stream: the first test's would repeat its values exactly. */
	ls_rng_init(&v->rng, line->seed, key, LS_EOL + 0x100);
	ls_visit_draw(v, c, p);
	/* Capacity fade found at the retest (lithium plating, a soft short): 8 % down. */
	c[EOL_CAPACITY] *= 0.92;
	ls_visit_emit_tables(v, c, p);
	snprintf(v->failed, sizeof(v->failed),
	         "capacity %.4g Ah at EOL retest: late failure after release (sim.scenario)",
	         c[EOL_CAPACITY]);
	line->st.stats.late_failed++;
	return ls_visit_end(v, sink);
}
