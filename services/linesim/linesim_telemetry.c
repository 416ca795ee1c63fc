/* linesim_telemetry: equipment signals of each line, sampled on a fixed clock.
 *
 * Sample k of a line is taken at t0 + k / telemetry_hz, t0 being the time of the first call;
 * each sample's noise comes from a stream keyed by (line, asset, signal, k), so the values
 * do not depend on how often the caller asks, and drawing telemetry never disturbs the
 * streams of the station results. Faults show here as they do on the units: the fill
 * nozzle's pressure oscillates, the slot-die pressure falls as the gap opens (creep, or an
 * ADJUST of its setpoint), the
 * welder's energy drifts, the dew point follows the dry room. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ct_error.h"
#include "linesim_internal.h"

/* Stream domain of telemetry; unit keys use top bytes 0..6. */
#define TEL_DOMAIN (0x7fULL << 56)

struct tel_signal {
	const char *name;
	const char *unit;
	double nominal, sigma;
};

struct tel_asset {
	int station;        /* owning station, or -1 for the dry room */
	const char *suffix; /* asset ID = station ID + "." + suffix */
	struct tel_signal signals[LS_TEL_SIGNALS];
	size_t n_signals;
};

static const struct tel_asset assets[LS_TEL_ASSETS] = {
        {LS_COAT_C,
         "coater",
         {{"web_tension", "N", 150.0, 1.5}, {"slot_die_pressure", "bar", 1.8, 0.02}},
         2},
        {LS_FILL, "nozzle", {{"nozzle_pressure", "bar", 2.5, 0.01}}, 1},
        {LS_WELD, "welder", {{"weld_energy", "J", 60.0, 0.8}}, 1},
        {-1, "dehumidifier", {{"dew_point", "C", 0.0, 0.15}}, 1},
};

int ls_telemetry_init(struct ls_telemetry *tel, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t s = 0; s < LS_TEL_SIGNALS; s++) {
			tel[i].samples[s] = calloc(LINESIM_MAX_SAMPLES, sizeof(*tel[i].samples[s]));
			tel[i].samples_p[s] =
			        calloc(LINESIM_MAX_SAMPLES, sizeof(*tel[i].samples_p[s]));
			if (tel[i].samples[s] == NULL || tel[i].samples_p[s] == NULL) {
				ls_telemetry_cleanup(tel, n);
				return CT_ERR_NOMEM;
			}
			for (size_t k = 0; k < LINESIM_MAX_SAMPLES; k++)
				tel[i].samples_p[s][k] = &tel[i].samples[s][k];
		}
	}
	return CT_OK;
}

void ls_telemetry_cleanup(struct ls_telemetry *tel, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t s = 0; s < LS_TEL_SIGNALS; s++) {
			free(tel[i].samples[s]);
			free(tel[i].samples_p[s]);
			tel[i].samples[s] = NULL;
			tel[i].samples_p[s] = NULL;
		}
	}
}

/* The value of signal s of asset a at sample k, with the line's faults applied. */
static double sample_value(const struct linesim_model *m, const struct ls_line *line, size_t a,
                           size_t s, unsigned long long k)
{
	const struct tel_signal *sig = &assets[a].signals[s];
	struct ls_rng rng;
	double x, creep, wear, gap;

	ls_rng_init(&rng, line->seed, TEL_DOMAIN | (a << 8) | s, k);
	x = sig->nominal + sig->sigma * ls_rng_normal(&rng);
	switch (a * LS_TEL_SIGNALS + s) {
	case 0 * LS_TEL_SIGNALS + 1: /* slot-die pressure falls with the square of the gap */
		creep = ls_fault_on(m, LINESIM_FAULT_COATING_DRIFT)
		                ? ls_fault_gap_creep(line->el[LS_CATHODE].drift_coils)
		                : 0.0;
		gap = ls_coat_gap_factor(line, LS_CATHODE, creep);
		return x / (gap * gap);
	case 1 * LS_TEL_SIGNALS + 0:
		if (ls_fault_on(m, LINESIM_FAULT_NOZZLE))
			x += 3.0 * ls_fault_nozzle_amplitude(line->nozzle_fills) *
			     ((k & 1) ? 1.0 : -1.0);
		return x;
	case 2 * LS_TEL_SIGNALS + 0:
		wear = ls_fault_on(m, LINESIM_FAULT_WELD_WEAR)
		               ? ls_fault_weld_wear(line->weld_count)
		               : 0.0;
		return x * (1.0 + 0.05 * wear);
	case 3 * LS_TEL_SIGNALS + 0:
		return x + line->dew_point;
	default:
		return x;
	}
}

int linesim_model_telemetry(struct linesim_model *m, unsigned line_index, int64_t now_us,
                            const struct linesim_sink *sink)
{
	Cellthread__V1__Telemetry tinit = CELLTHREAD__V1__TELEMETRY__INIT;
	Cellthread__V1__Header hinit = CELLTHREAD__V1__HEADER__INIT;
	Cellthread__V1__Signal sinit = CELLTHREAD__V1__SIGNAL__INIT;
	Cellthread__V1__Sample pinit = CELLTHREAD__V1__SAMPLE__INIT;
	struct ls_line *line;
	double period_us;
	unsigned long long end, n;

	if (line_index >= m->config.n_lines)
		return CT_ERR_INVALID;
	if (m->config.telemetry_hz <= 0.0)
		return CT_OK;
	line = &m->lines[line_index];
	period_us = 1e6 / m->config.telemetry_hz;
	if (!line->tel_started) {
		line->tel_started = true;
		line->tel_t0_us = now_us;
		line->tel_next = 0;
	}
	if (now_us < line->tel_t0_us)
		return CT_OK;
	end = (unsigned long long)((double)(now_us - line->tel_t0_us) / period_us) + 1;
	if (end <= line->tel_next)
		return CT_OK;
	if (end - line->tel_next > LINESIM_MAX_SAMPLES)
		line->tel_next = end - LINESIM_MAX_SAMPLES; /* fell behind: drop the oldest */
	n = end - line->tel_next;

	for (size_t a = 0; a < LS_TEL_ASSETS; a++) {
		struct ls_telemetry *t = &m->tel[a];
		struct linesim_telemetry out;
		int rc;

		t->msg = tinit;
		t->header = hinit;
		snprintf(t->asset, sizeof(t->asset), "%s.%s",
		         assets[a].station < 0 ? line->dryroom_id
		                               : line->station_id[assets[a].station],
		         assets[a].suffix);
		line->telemetry_seq++;
		snprintf(t->event_id, sizeof(t->event_id), "%s-t%llu", line->event_prefix,
		         line->telemetry_seq);
		t->header.event_id = t->event_id;
		t->header.producer = line->producer;
		t->header.produced_at_us = now_us;
		t->header.schema_version = 1;
		t->msg.header = &t->header;
		t->msg.site = m->site;
		t->msg.line = line->name;
		t->msg.asset = t->asset;
		t->msg.n_signals = assets[a].n_signals;
		t->msg.signals = t->signals_p;
		for (size_t s = 0; s < assets[a].n_signals; s++) {
			t->signals[s] = sinit;
			t->signals[s].name = (char *)assets[a].signals[s].name;
			t->signals[s].unit = (char *)assets[a].signals[s].unit;
			t->signals[s].n_samples = (size_t)n;
			t->signals[s].samples = t->samples_p[s];
			t->signals_p[s] = &t->signals[s];
			for (unsigned long long j = 0; j < n; j++) {
				unsigned long long k = line->tel_next + j;
				Cellthread__V1__Sample *smp = &t->samples[s][j];

				*smp = pinit;
				smp->at_us =
				        line->tel_t0_us + (int64_t)llround((double)k * period_us);
				smp->value = sample_value(m, line, a, s, k);
			}
		}
		out.line = line_index;
		out.line_name = line->name;
		out.asset = t->asset;
		out.msg = &t->msg;
		rc = sink->telemetry(sink->ctx, &out);
		if (rc != CT_OK)
			return rc;
	}
	line->tel_next = end;
	return CT_OK;
}
