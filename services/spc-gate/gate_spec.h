/* gate_spec: spec limits and the verdict on one station result. Pure: no MQTT, no database
 * (gate_db loads the specs), so the judging rules are unit-tested on their own.
 *
 * A spec row applies to a result when each of its fields is a wildcard ('*', or 0 for
 * station_type and recipe_version) or equals the result's. Of the rows that apply to a
 * characteristic the most specific wins: a named station over a station type over any
 * station, a recipe version over a recipe over any recipe, a line over any line, a site
 * over any site. */
#ifndef GATE_SPEC_H
#define GATE_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ct_ids.h"
#include "ct_pb.h"

#define GATE_NAME_MAX   (CT_ID_MAX + 1)
#define GATE_MAX_FAILED 32

struct gate_spec {
	char site[GATE_NAME_MAX];
	char line[GATE_NAME_MAX];
	char station[GATE_NAME_MAX];
	int station_type; /* 0: any */
	char recipe[GATE_NAME_MAX];
	uint32_t recipe_version; /* 0: any */
	char characteristic[GATE_NAME_MAX];
	bool has_lsl, has_usl, has_target;
	double lsl, usl, target;
	char uom[GATE_NAME_MAX];
	int on_fail; /* CELLTHREAD__V1__VERDICT_CODE__* for out of spec */
	bool required;
};

/* All specs, sorted by characteristic for lookup. Owns its array. */
struct gate_spec_set {
	struct gate_spec *specs;
	size_t count;
};

/* One failed characteristic of a verdict. */
struct gate_failure {
	char characteristic[GATE_NAME_MAX];
	double value;
	const struct gate_spec *spec; /* NULL for a station NOK */
	const char *reason;           /* static text: "above USL", "below LSL", "missing", ... */
};

struct gate_judgement {
	int verdict; /* CELLTHREAD__V1__VERDICT_CODE__* */
	struct gate_failure failed[GATE_MAX_FAILED];
	size_t n_failed;
	size_t n_judged; /* measurements that had a spec */
};

/* Takes ownership of specs (malloc'd array, may be NULL when count is 0) and sorts it. */
void gate_spec_set_init(struct gate_spec_set *set, struct gate_spec *specs, size_t count);
void gate_spec_set_cleanup(struct gate_spec_set *set);

/* The spec for a characteristic of this result, or NULL. */
const struct gate_spec *gate_spec_find(const struct gate_spec_set *set,
                                       const Cellthread__V1__StationResult *result,
                                       const char *characteristic);

/* Judges a result: every measurement against its spec, every required spec present, and
 * the station's own result (a NOK from the station fails the unit even inside spec). */
void gate_judge(const struct gate_spec_set *set, const Cellthread__V1__StationResult *result,
                struct gate_judgement *out);

/* "pass", "fail", "rework", "scrap". */
const char *gate_verdict_name(int verdict);

#endif
