/* gate_lots: lot gates. Which lots a judged unit belongs to, the gate rules that hold them,
 * and the sets of held lots and held units that route later units to inspection. Pure: no
 * MQTT, no database (gate_db loads rules, sets and counters and saves what changed).
 *
 * A unit "belongs to" lots in two ways: it consumed them (its result's materials, and its
 * children of a lot kind: material lot, slurry batch, electrode coil) and it may be a lot
 * itself (a batch or a coil judged at its own station). A rule's lot_scope picks which. */
#ifndef GATE_LOTS_H
#define GATE_LOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ct_pb.h"
#include "ct_map.h"
#include "gate_spec.h"

#define GATE_MAX_HOLDS     16
#define GATE_MAX_HELD_LOTS 16
#define GATE_REASON_MAX    256

enum gate_lot_scope { GATE_SCOPE_SELF = 1, GATE_SCOPE_MATERIALS = 2, GATE_SCOPE_ALL = 3 };

struct gate_lot_rule {
	char rule_id[GATE_NAME_MAX];
	char station[GATE_NAME_MAX];
	int station_type;
	char characteristic[GATE_NAME_MAX]; /* "" = any failure */
	bool fail_rate_mode;                /* false: any_fail */
	double fail_rate;
	long min_units;
	enum gate_lot_scope scope;
	int hold_state; /* LOT_STATE_HELD or LOT_STATE_QUARANTINED */
};

/* Units and failures per (rule, lot), for fail_rate rules. */
struct gate_lot_counter {
	char rule_id[GATE_NAME_MAX];
	char site[GATE_NAME_MAX];
	char lot_id[GATE_NAME_MAX];
	int64_t units, failed;
	bool dirty;
};

/* A lot to hold, decided while judging. */
struct gate_hold {
	char site[GATE_NAME_MAX];
	char lot_id[GATE_NAME_MAX];
	int state;
	char reason[GATE_REASON_MAX];
};

/* What the lot gate says about one unit. */
struct gate_lot_outcome {
	/* Held lots (and held units) the unit consumed or contains. */
	char held[GATE_MAX_HELD_LOTS][GATE_NAME_MAX];
	size_t n_held;
	/* The first held lot it is tied to (for held_unit), "" when none. */
	char held_via_lot[GATE_NAME_MAX];
	/* Lots the gate rules hold now (already added to the held set). */
	struct gate_hold holds[GATE_MAX_HOLDS];
	size_t n_holds;
	/* Non-empty: put the unit in the inspection queue for this. */
	char inspection_reason[GATE_REASON_MAX];
};

struct gate_lots {
	struct gate_lot_rule *rules;
	size_t n_rules;
	struct ct_map held;       /* "site|lot" -> LotState */
	struct ct_map held_units; /* unit ID -> 1 */
	struct gate_lot_counter *counters;
	size_t n_counters, cap_counters;
	struct ct_map counter_index; /* "rule|site|lot" -> index into counters */
};

void gate_lots_init(struct gate_lots *lots);
void gate_lots_cleanup(struct gate_lots *lots);
/* Replaces the rules (takes ownership of the malloc'd array). */
void gate_lots_set_rules(struct gate_lots *lots, struct gate_lot_rule *rules, size_t n);
/* Held-set upkeep. Returns CT_OK or CT_ERR_NOMEM. */
int gate_lots_set_held(struct gate_lots *lots, const char *site, const char *lot_id, int state);
bool gate_lots_is_held(const struct gate_lots *lots, const char *site, const char *lot_id);
int gate_lots_add_held_unit(struct gate_lots *lots, const char *unit_id);
/* Forgets the fail_rate counters (before reloading the saved ones). */
void gate_lots_clear_counters(struct gate_lots *lots);
/* Restores a counter (from lot_quality). Returns CT_OK or CT_ERR_NOMEM. */
int gate_lots_restore_counter(struct gate_lots *lots, const char *rule_id, const char *site,
                              const char *lot_id, int64_t units, int64_t failed);

/* True for the unit kinds that are lots: material lot, slurry batch, electrode coil. */
bool gate_kind_is_lot(int unit_kind);

/* Applies the lot gate to a judged result: checks what it consumed against the held sets,
 * counts it for fail_rate rules, and decides new holds. Returns CT_OK or CT_ERR_NOMEM. */
int gate_lots_judge(struct gate_lots *lots, const Cellthread__V1__StationResult *result,
                    const struct gate_judgement *judgement, struct gate_lot_outcome *out);

#endif
