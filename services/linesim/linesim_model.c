/* linesim_model: the model's lifecycle, its lines, the fault scenarios and one step.
 *
 * A step advances the line's slow state (the dry-room dew point, a first-order lag towards
 * -50 C, or -30 C during a dew_point excursion) and runs one cell (linesim_cell.c). Faults
 * are a model-wide mask; how far each has progressed (fills, welds, coils since it was
 * switched on) is kept per line, so each line wears on its own. The fault effect functions
 * below are the only place that says how strong a fault is. A tick (the caller's schedule)
 * is a step unless station commands slowed or stopped the line (linesim_command.c applies
 * them; the holds they leave are read here). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_ids.h"
#include "linesim_internal.h"

_Static_assert(LINESIM_STEP_SPAN_US == LS_N_STATIONS * LINESIM_SLOT_US,
               "one time slot per station");

#define DEW_POINT_SETPOINT  -50.0
#define DEW_POINT_EXCURSION -30.0
#define DEW_POINT_LAG       0.01 /* per cell: a time constant of 100 cells */

static const char *const fault_names[LINESIM_FAULT_COUNT] = {
        [LINESIM_FAULT_NOZZLE] = "nozzle",
        [LINESIM_FAULT_COATING_DRIFT] = "coating_drift",
        [LINESIM_FAULT_DEW_POINT] = "dew_point",
        [LINESIM_FAULT_WELD_WEAR] = "weld_wear",
};

/* The nozzle drips and starves in turn: every other fill is over, then under, with an
 * amplitude that grows by 0.3 mg per fill up to 0.1 g and a slow beat on top. */
double ls_fault_nozzle_amplitude(unsigned long long fills)
{
	return fmin(0.008 + 0.0003 * (double)fills, 0.1);
}

double ls_fault_nozzle_offset(unsigned long long fills)
{
	double sign = (fills & 1) ? 1.0 : -1.0;
	double beat = 0.55 + 0.45 * sin(2.0 * LS_PI * (double)fills / 13.0);

	return sign * ls_fault_nozzle_amplitude(fills) * beat;
}

/* The slot-die gap opens 0.6 % per coil coated, up to 12 %. */
double ls_fault_gap_creep(unsigned long long coils)
{
	return fmin(0.006 * (double)coils, 0.12);
}

/* Sonotrode wear: 1.0 after 1000 welds, saturating at 1.5. */
double ls_fault_weld_wear(unsigned long long welds)
{
	return fmin((double)welds / 1000.0, 1.5);
}

bool ls_fault_on(const struct linesim_model *m, enum linesim_fault fault)
{
	return (m->faults & (1u << fault)) != 0;
}

const char *linesim_fault_name(enum linesim_fault fault)
{
	if ((unsigned)fault >= LINESIM_FAULT_COUNT)
		return "unknown";
	return fault_names[fault];
}

int linesim_fault_from_name(const char *name, enum linesim_fault *ret)
{
	for (unsigned i = 0; i < LINESIM_FAULT_COUNT; i++) {
		if (name != NULL && strcmp(name, fault_names[i]) == 0) {
			*ret = (enum linesim_fault)i;
			return CT_OK;
		}
	}
	return CT_ERR_INVALID;
}

int linesim_fault_parse_list(const char *list, unsigned *ret_mask, char *err, size_t err_len)
{
	unsigned mask = 0;
	const char *p = list == NULL ? "" : list;

	while (*p != '\0') {
		char name[32];
		size_t len;
		enum linesim_fault fault;

		p += strspn(p, " \t,");
		len = strcspn(p, ",");
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0)
			continue;
		if (len >= sizeof(name)) {
			snprintf(err, err_len, "unknown fault '%.*s'", 31, p);
			return CT_ERR_INVALID;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		if (linesim_fault_from_name(name, &fault) != CT_OK) {
			snprintf(err, err_len,
			         "unknown fault '%s' (nozzle, coating_drift, dew_point, weld_wear)",
			         name);
			return CT_ERR_INVALID;
		}
		mask |= 1u << fault;
		p += strcspn(p, ",");
	}
	*ret_mask = mask;
	return CT_OK;
}

static bool is_id(const char *s, size_t max)
{
	size_t n = s == NULL ? 0 : strlen(s);

	if (n == 0 || n > max)
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") == n;
}

/* FNV-1a, only to fold the site name into the event-ID tag. */
static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

static int line_init(struct linesim_model *m, unsigned index)
{
	static const char *const sensors[LS_N_SENSORS] = {"dew_point", "temperature", "humidity",
	                                                  "pressure"};
	struct ls_line *line = &m->lines[index];
	char name[12], producer[24];

	/* Formatted from locals: gcc cannot tell the fields of *line apart (-Wrestrict). */
	snprintf(name, sizeof(name), "L%u", index + 1);
	snprintf(producer, sizeof(producer), "linesim-%s", name);
	line->index = index;
	memcpy(line->name, name, sizeof(name));
	snprintf(line->unit_base, sizeof(line->unit_base), "%s%s", m->unit_prefix, name);
	memcpy(line->producer, producer, sizeof(producer));
	snprintf(line->event_prefix, sizeof(line->event_prefix), "%s-%016llx", producer,
	         (unsigned long long)m->event_tag);
	for (unsigned s = 0; s < LS_N_STATIONS; s++)
		snprintf(line->station_id[s], sizeof(line->station_id[s]), "%s-%s", name,
		         ls_stations[s].code);
	snprintf(line->dryroom_id, sizeof(line->dryroom_id), "%s-DRYROOM", name);
	for (unsigned s = 0; s < LS_N_SENSORS; s++)
		snprintf(line->sensor[s], sizeof(line->sensor[s]), "%s-DRYROOM.%s", name,
		         sensors[s]);
	line->seed = ls_mix64(ls_mix64(m->config.seed) + index + 1);
	line->dew_point = DEW_POINT_SETPOINT;
	for (unsigned s = 0; s < LS_N_STATIONS; s++)
		for (size_t i = 0; i < ls_stations[s].n_params && i < LS_MAX_PARAMS; i++)
			line->setpoint[s][i] = ls_stations[s].params[i].setpoint;
	line->cells = calloc(m->config.cells_per_module, sizeof(*line->cells));
	line->modules = calloc(m->config.modules_per_pack, sizeof(*line->modules));
	if (line->cells == NULL || line->modules == NULL)
		return CT_ERR_NOMEM;
	return CT_OK;
}

int linesim_model_new(const struct linesim_model_config *config, struct linesim_model **ret,
                      char *err, size_t err_len)
{
	struct linesim_model *m = NULL;
	unsigned children;
	int rc;

	if (!is_id(config->site, 32)) {
		snprintf(err, err_len, "site must be 1-32 characters of [A-Za-z0-9._:-]");
		return CT_ERR_INVALID;
	}
	if (config->n_lines < 1 || config->n_lines > LINESIM_MAX_LINES ||
	    config->cells_per_module < 1 || config->cells_per_module > LINESIM_MAX_CHILDREN ||
	    config->modules_per_pack < 1 || config->modules_per_pack > LINESIM_MAX_CHILDREN) {
		snprintf(err, err_len,
		         "lines must be 1-%d, cells per module and modules per pack "
		         "1-%d",
		         LINESIM_MAX_LINES, LINESIM_MAX_CHILDREN);
		return CT_ERR_INVALID;
	}
	if (!(config->telemetry_hz >= 0.0 && config->telemetry_hz <= 1000.0)) {
		snprintf(err, err_len, "telemetry rate must be 0-1000 Hz");
		return CT_ERR_INVALID;
	}
	if (config->unit_prefix != NULL && *config->unit_prefix != '\0' &&
	    (strlen(config->unit_prefix) > 16 || !ct_id_is_valid(config->unit_prefix))) {
		snprintf(err, err_len, "unit prefix must be at most 16 ID characters");
		return CT_ERR_INVALID;
	}
	if (config->states && !(config->rate > 0.0 && isfinite(config->rate))) {
		snprintf(err, err_len, "station states need a rate > 0");
		return CT_ERR_INVALID;
	}
	if ((config->downtime || config->scenario != NULL) && !config->states) {
		snprintf(err, err_len, "random downtime and scenarios need station states");
		return CT_ERR_INVALID;
	}
	for (size_t i = 0; config->scenario != NULL && i < config->scenario->n_events; i++)
		if (config->scenario->events[i].line >= config->n_lines) {
			snprintf(err, err_len, "the scenario names line L%u; %u line(s) simulated",
			         config->scenario->events[i].line + 1, config->n_lines);
			return CT_ERR_INVALID;
		}
	if (config->faults >> LINESIM_FAULT_COUNT != 0) {
		snprintf(err, err_len, "unknown fault in mask 0x%x", config->faults);
		return CT_ERR_INVALID;
	}

	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return CT_ERR_NOMEM;
	m->config = *config;
	snprintf(m->site, sizeof(m->site), "%s", config->site);
	m->config.site = m->site;
	snprintf(m->unit_prefix, sizeof(m->unit_prefix), "%s",
	         config->unit_prefix ? config->unit_prefix : "");
	m->config.unit_prefix = m->unit_prefix;
	m->faults = config->faults;
	m->event_tag = ls_mix64(fnv1a(m->site) ^ ls_mix64(config->seed) ^
	                        ls_mix64(fnv1a(m->unit_prefix) + 1));
	children = config->cells_per_module > config->modules_per_pack ? config->cells_per_module
	                                                               : config->modules_per_pack;
	rc = ls_visit_init(&m->visit, children < 2 ? 2 : children);
	if (rc == CT_OK)
		rc = ls_telemetry_init(m->tel, LS_TEL_ASSETS);
	for (unsigned i = 0; rc == CT_OK && i < config->n_lines; i++)
		rc = line_init(m, i);
	if (rc == CT_OK)
		rc = ls_states_init(m);
	if (rc != CT_OK) {
		snprintf(err, err_len, "out of memory");
		linesim_model_free(m);
		return rc;
	}
	*ret = m;
	return CT_OK;
}

void linesim_model_free(struct linesim_model *m)
{
	if (m == NULL)
		return;
	for (unsigned i = 0; i < LINESIM_MAX_LINES; i++) {
		free(m->lines[i].cells);
		free(m->lines[i].modules);
	}
	ls_states_cleanup(m);
	ls_visit_cleanup(&m->visit);
	ls_telemetry_cleanup(m->tel, LS_TEL_ASSETS);
	free(m);
}

void linesim_model_set_fault(struct linesim_model *m, enum linesim_fault fault, bool on)
{
	if ((unsigned)fault >= LINESIM_FAULT_COUNT || ls_fault_on(m, fault) == on)
		return;
	if (on)
		m->faults |= 1u << fault;
	else
		m->faults &= ~(1u << fault);
	/* Either way the progression restarts: a repaired nozzle, gap or sonotrode is as new,
	 * and a fault switched on again starts small. */
	for (unsigned i = 0; i < m->config.n_lines; i++) {
		struct ls_line *line = &m->lines[i];

		switch (fault) {
		case LINESIM_FAULT_NOZZLE:
			line->nozzle_fills = 0;
			break;
		case LINESIM_FAULT_COATING_DRIFT:
			line->el[LS_CATHODE].drift_coils = 0;
			line->el[LS_ANODE].drift_coils = 0;
			break;
		case LINESIM_FAULT_WELD_WEAR:
			line->weld_count = 0;
			break;
		case LINESIM_FAULT_DEW_POINT:
		case LINESIM_FAULT_COUNT:
			break;
		}
	}
}

bool linesim_model_fault_is_on(const struct linesim_model *m, enum linesim_fault fault)
{
	return (unsigned)fault < LINESIM_FAULT_COUNT && ls_fault_on(m, fault);
}

int linesim_model_step(struct linesim_model *m, unsigned line_index, int64_t now_us,
                       const struct linesim_sink *sink)
{
	struct ls_line *line;
	double target;

	if (line_index >= m->config.n_lines)
		return CT_ERR_INVALID;
	line = &m->lines[line_index];
	target = ls_fault_on(m, LINESIM_FAULT_DEW_POINT) ? DEW_POINT_EXCURSION : DEW_POINT_SETPOINT;
	line->dew_point += (target - line->dew_point) * DEW_POINT_LAG;
	return ls_cell_run(m, line, now_us, sink);
}

/* Lifts the holds of `line` that expired by now_us. */
static void expire_holds(struct ls_line *line, int64_t now_us)
{
	for (unsigned s = 0; s < LS_N_STATIONS; s++) {
		struct ls_hold *h = &line->hold[s];

		if (h->kind != LS_HOLD_NONE && h->expires_at_us != 0 && h->expires_at_us <= now_us)
			memset(h, 0, sizeof(*h));
	}
}

static double line_rate(const struct ls_line *line)
{
	double rate = 1.0;

	for (unsigned s = 0; s < LS_N_STATIONS; s++) {
		if (line->hold[s].kind == LS_HOLD_STOP)
			return 0.0;
		if (line->hold[s].kind == LS_HOLD_SLOW && line->hold[s].fraction < rate)
			rate = line->hold[s].fraction;
	}
	return rate;
}

int linesim_model_tick(struct linesim_model *m, unsigned line_index, int64_t now_us,
                       const struct linesim_sink *sink, bool *ret_started)
{
	struct ls_line *line;
	double rate;
	int rc;

	if (line_index >= m->config.n_lines)
		return CT_ERR_INVALID;
	line = &m->lines[line_index];
	expire_holds(line, now_us);
	rate = line_rate(line);
	if (rate >= 1.0) {
		/* Full rate: every tick is a cell, exactly as without commands. */
		line->credit = 0.0;
	} else {
		/* Evenly thinned: a cell per whole credit. The small tolerance keeps 0.6 x 5
		 * ticks from coming out as 2.9999999 cells. */
		line->credit += rate;
		if (line->credit < 1.0 - 1e-9) {
			if (ret_started != NULL)
				*ret_started = false;
			return CT_OK;
		}
		line->credit = line->credit - 1.0 > 0.0 ? line->credit - 1.0 : 0.0;
	}
	rc = linesim_model_step(m, line_index, now_us, sink);
	if (rc == CT_OK && ret_started != NULL)
		*ret_started = true;
	return rc;
}

double linesim_model_line_rate(const struct linesim_model *m, unsigned line)
{
	if (line >= m->config.n_lines)
		return NAN;
	return line_rate(&m->lines[line]);
}

const struct linesim_line_stats *linesim_model_line_stats(const struct linesim_model *m,
                                                          unsigned line)
{
	if (line >= m->config.n_lines)
		return NULL;
	return &m->lines[line].stats;
}

unsigned linesim_station_count(void)
{
	return LS_N_STATIONS;
}

const char *linesim_model_station_id(const struct linesim_model *m, unsigned line, unsigned station)
{
	if (line >= m->config.n_lines || station >= LS_N_STATIONS)
		return NULL;
	return m->lines[line].station_id[station];
}

double linesim_model_dew_point(const struct linesim_model *m, unsigned line)
{
	if (line >= m->config.n_lines)
		return NAN;
	return m->lines[line].dew_point;
}
