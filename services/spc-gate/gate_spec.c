/* gate_spec: spec lookup and the verdict on a station result (see gate_spec.h). */
#include "gate_spec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERDICT(x) CELLTHREAD__V1__VERDICT_CODE__VERDICT_CODE_##x
#define RESULT(x)  CELLTHREAD__V1__RESULT_CODE__RESULT_CODE_##x

static int by_characteristic(const void *a, const void *b)
{
	return strcmp(((const struct gate_spec *)a)->characteristic,
	              ((const struct gate_spec *)b)->characteristic);
}

void gate_spec_set_init(struct gate_spec_set *set, struct gate_spec *specs, size_t count)
{
	set->specs = specs;
	set->count = count;
	if (count > 1)
		qsort(specs, count, sizeof(*specs), by_characteristic);
}

void gate_spec_set_cleanup(struct gate_spec_set *set)
{
	free(set->specs);
	set->specs = NULL;
	set->count = 0;
}

static bool is_any(const char *pattern)
{
	return pattern[0] == '*' && pattern[1] == '\0';
}

/* How specifically spec names this result's context: -1 when it does not apply, else a
 * score where each more specific field outweighs all less specific ones together. */
static int specificity(const struct gate_spec *spec, const Cellthread__V1__StationResult *r)
{
	int score = 0;

	if (!is_any(spec->site)) {
		if (strcmp(spec->site, r->site) != 0)
			return -1;
		score += 1;
	}
	if (!is_any(spec->line)) {
		if (strcmp(spec->line, r->line) != 0)
			return -1;
		score += 2;
	}
	if (spec->station_type != 0) {
		if (spec->station_type != (int)r->station_type)
			return -1;
		score += 4;
	}
	if (!is_any(spec->station)) {
		if (strcmp(spec->station, r->station) != 0)
			return -1;
		score += 8;
	}
	if (!is_any(spec->recipe)) {
		if (strcmp(spec->recipe, r->recipe) != 0)
			return -1;
		score += 16;
	}
	if (spec->recipe_version != 0) {
		if (spec->recipe_version != r->recipe_version)
			return -1;
		score += 32;
	}
	return score;
}

/* First spec of a characteristic in the sorted array, or set->count. */
static size_t first_of(const struct gate_spec_set *set, const char *characteristic)
{
	size_t lo = 0, hi = set->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(set->specs[mid].characteristic, characteristic) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct gate_spec *gate_spec_find(const struct gate_spec_set *set,
                                       const Cellthread__V1__StationResult *result,
                                       const char *characteristic)
{
	const struct gate_spec *best = NULL;
	int best_score = -1;

	for (size_t i = first_of(set, characteristic);
	     i < set->count && strcmp(set->specs[i].characteristic, characteristic) == 0; i++) {
		int score = specificity(&set->specs[i], result);
		if (score > best_score) {
			best_score = score;
			best = &set->specs[i];
		}
	}
	return best;
}

static void add_failure(struct gate_judgement *out, const char *characteristic, double value,
                        const struct gate_spec *spec, const char *reason, int verdict)
{
	/* The worst verdict wins: scrap over rework over fail. */
	static const int rank[] = {[0] = 0, [1] = 0, [2] = 1, [3] = 2, [4] = 3};
	if (verdict >= 0 && verdict <= 4 && rank[verdict] > rank[out->verdict])
		out->verdict = verdict;
	if (out->n_failed < GATE_MAX_FAILED) {
		struct gate_failure *f = &out->failed[out->n_failed++];
		snprintf(f->characteristic, sizeof(f->characteristic), "%s", characteristic);
		f->value = value;
		f->spec = spec;
		f->reason = reason;
	}
}

static bool has_measurement(const Cellthread__V1__StationResult *r, const char *characteristic)
{
	for (size_t i = 0; i < r->n_measurements; i++)
		if (strcmp(r->measurements[i]->characteristic, characteristic) == 0)
			return true;
	return false;
}

void gate_judge(const struct gate_spec_set *set, const Cellthread__V1__StationResult *result,
                struct gate_judgement *out)
{
	memset(out, 0, sizeof(*out));
	out->verdict = VERDICT(PASS);

	for (size_t i = 0; i < result->n_measurements; i++) {
		const Cellthread__V1__Measurement *m = result->measurements[i];
		const struct gate_spec *spec = gate_spec_find(set, result, m->characteristic);
		if (spec == NULL)
			continue;
		out->n_judged++;
		/* ingest refuses non-finite values; a NaN here would pass every comparison. */
		if (!isfinite(m->value))
			add_failure(out, m->characteristic, m->value, spec, "not a number",
			            spec->on_fail);
		else if (spec->has_lsl && m->value < spec->lsl)
			add_failure(out, m->characteristic, m->value, spec, "below LSL",
			            spec->on_fail);
		else if (spec->has_usl && m->value > spec->usl)
			add_failure(out, m->characteristic, m->value, spec, "above USL",
			            spec->on_fail);
	}
	/* A required characteristic the station did not report fails the unit: an unmeasured
	 * cell is not a good cell. Only the most specific row for it counts. */
	for (size_t i = 0; i < set->count; i++) {
		const struct gate_spec *spec = &set->specs[i];
		if (!spec->required || specificity(spec, result) < 0 ||
		    gate_spec_find(set, result, spec->characteristic) != spec ||
		    has_measurement(result, spec->characteristic))
			continue;
		add_failure(out, spec->characteristic, NAN, spec, "missing", spec->on_fail);
	}
	if (result->result == RESULT(NOK))
		add_failure(out, "station_result", NAN, NULL, "station reported NOK",
		            VERDICT(FAIL));
	else if (result->result == RESULT(ABORTED))
		add_failure(out, "station_result", NAN, NULL, "station aborted the work",
		            VERDICT(FAIL));
}

const char *gate_verdict_name(int verdict)
{
	switch (verdict) {
	case VERDICT(PASS):
		return "pass";
	case VERDICT(FAIL):
		return "fail";
	case VERDICT(REWORK):
		return "rework";
	case VERDICT(SCRAP):
		return "scrap";
	}
	return "unspecified";
}
