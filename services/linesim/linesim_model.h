/* linesim_model: a deterministic digital twin of a Li-ion cell line (DOMAIN.md), pure logic.
 *
 * The model owns one or more lines. Each linesim_model_step() starts one cell on one line:
 * it winds the cell from the current cathode and anode coils (making new coils, and new
 * slurry batches and material lots, when they run out), sends it through every cell station
 * and, when enough cells (then modules) are finished, assembles a module (then a pack). Every
 * station visit is handed to the caller's sink as a StationResult; nothing here touches a
 * clock, a socket or a file: time comes in as now_us and randomness from the seed.
 *
 * Determinism: values are drawn from counter-based streams keyed by (seed, line, unit,
 * station), and event IDs from per-line counters, so the same seed, the same now_us values
 * and the same sequence of fault switches give byte-identical messages. Because each unit has
 * its own stream, a fault changes only the values it targets (and what follows from them
 * physically, e.g. a scrapped cell) and never reshuffles the noise of unrelated values.
 *
 * Time is compressed: all visits of one step end within LINESIM_STEP_SPAN_US before now_us,
 * one slot per station in line order, so the last station's visit ends exactly at now_us.
 * Curves keep their physical time axis (a formation curve spans hours). Fault dynamics
 * advance per event (fill, weld, coil, cell), not per second, so a run's values do not depend
 * on its pacing. */
#ifndef LINESIM_MODEL_H
#define LINESIM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cellthread/v1/thread.pb-c.h"

#define LINESIM_MAX_LINES    16
#define LINESIM_MAX_CHILDREN 256 /* cells per module, modules per pack */
#define LINESIM_UNIT_KINDS   7   /* Cellthread__V1__UnitKind values 0..6 */
#define LINESIM_ID_LEN       65  /* an ID (at most 64 characters) and its NUL */

/* Slot of one station in a step's time layout, and the layout's total span. */
#define LINESIM_SLOT_US      3000
#define LINESIM_STEP_SPAN_US (21 * LINESIM_SLOT_US)

enum linesim_fault {
	LINESIM_FAULT_NOZZLE = 0,    /* fill nozzle miscalibration: fill mass wavers, growing */
	LINESIM_FAULT_COATING_DRIFT, /* slot-die gap creep: areal loading drifts upward */
	LINESIM_FAULT_DEW_POINT,     /* dry-room dew point excursion -50 -> -30 C, moisture */
	LINESIM_FAULT_WELD_WEAR,     /* weld electrode wear: energy drifts, resistance rises */
	LINESIM_FAULT_COUNT,
};

struct linesim_model_config {
	const char *site;          /* an ID of at most 32 characters */
	unsigned n_lines;          /* 1..LINESIM_MAX_LINES; lines are named L1, L2, ... */
	uint64_t seed;             /* any value */
	unsigned cells_per_module; /* 1..LINESIM_MAX_CHILDREN */
	unsigned modules_per_pack; /* 1..LINESIM_MAX_CHILDREN */
	double telemetry_hz;       /* samples per second per signal, 0 = no telemetry */
	unsigned faults;           /* mask of (1u << enum linesim_fault) enabled at start */
	const char *unit_prefix;   /* "" or at most 16 ID characters put before every unit and
	                            * lot ID ("R7-" -> "R7-L1-C00000042"), so runs into one
	                            * database never reuse an ID; NULL means "" */
};

/* One station result, handed to the sink; everything it points to is valid only during the
 * callback. Strings line_name and station_id live as long as the model. */
struct linesim_result {
	unsigned line;          /* 0-based line index */
	unsigned station;       /* 0-based station index, < linesim_station_count() */
	const char *line_name;  /* "L1" */
	const char *station_id; /* "L1-FILL-01" */
	const Cellthread__V1__StationResult *msg;
	/* Units (and material lots) this result names for the first time, by UnitKind. */
	unsigned new_units[LINESIM_UNIT_KINDS];
};

/* One Telemetry message of one asset; valid only during the callback. The asset is also the
 * station segment of its topic. */
struct linesim_telemetry {
	unsigned line;
	const char *line_name;
	const char *asset;
	const Cellthread__V1__Telemetry *msg;
};

/* Where the model hands its messages. A non-zero return stops the step and is returned. */
struct linesim_sink {
	int (*result)(void *ctx, const struct linesim_result *result);
	int (*telemetry)(void *ctx, const struct linesim_telemetry *telemetry);
	void *ctx;
};

/* What happened on one line so far (every unit the model named, finished or not). */
struct linesim_line_stats {
	unsigned long long cells_started;
	unsigned long long cells_finished; /* passed every cell station */
	unsigned long long cells_scrapped; /* failed a station's own check and left the line */
	unsigned long long batches, coils, modules, packs, lots;
	char first_cell[LINESIM_ID_LEN]; /* first finished cell, "" before */
	char last_cell[LINESIM_ID_LEN];  /* last finished cell */
	char last_pack[LINESIM_ID_LEN];  /* last assembled pack */
};

struct linesim_model;

/* Creates a model. Returns CT_OK, CT_ERR_INVALID (reason in err) or CT_ERR_NOMEM; *ret is
 * set only on success. */
int linesim_model_new(const struct linesim_model_config *config, struct linesim_model **ret,
                      char *err, size_t err_len);
/* NULL is a no-op. */
void linesim_model_free(struct linesim_model *model);

/* Starts one cell on `line` (and whatever upstream units it needs), every visit ending by
 * now_us, and hands each result to sink. Returns CT_OK, CT_ERR_INVALID for a bad line, or
 * the first non-zero sink return (the model stays usable, the step is cut short). */
int linesim_model_step(struct linesim_model *model, unsigned line, int64_t now_us,
                       const struct linesim_sink *sink);
/* Emits the telemetry samples of `line` due up to now_us since the last call, one message per
 * asset (none when telemetry is off or no sample is due). The first call starts the sample
 * clock at now_us. When more than LINESIM_MAX_SAMPLES per signal are due, the oldest are
 * skipped. Returns CT_OK or the sink's non-zero return. */
int linesim_model_telemetry(struct linesim_model *model, unsigned line, int64_t now_us,
                            const struct linesim_sink *sink);
#define LINESIM_MAX_SAMPLES 2000

/* Switches a fault scenario on or off for every line. Switching on restarts its progression
 * (amplitude, creep, wear) from zero; switching off removes it at once, except the dew point,
 * which relaxes back to its setpoint. Can't fail. */
void linesim_model_set_fault(struct linesim_model *model, enum linesim_fault fault, bool on);
bool linesim_model_fault_is_on(const struct linesim_model *model, enum linesim_fault fault);

const struct linesim_line_stats *linesim_model_line_stats(const struct linesim_model *model,
                                                          unsigned line);
/* Number of stations per line and their IDs ("L1-FILL-01"). */
unsigned linesim_station_count(void);
const char *linesim_model_station_id(const struct linesim_model *model, unsigned line,
                                     unsigned station);
/* The current dry-room dew point of a line, C (for logs and tests). */
double linesim_model_dew_point(const struct linesim_model *model, unsigned line);

/* "nozzle", "coating_drift", "dew_point", "weld_wear". */
const char *linesim_fault_name(enum linesim_fault fault);
/* Returns CT_OK with *ret set, or CT_ERR_INVALID for an unknown name. */
int linesim_fault_from_name(const char *name, enum linesim_fault *ret);
/* Parses a comma-separated list of fault names (spaces allowed, "" = none) into a mask.
 * Returns CT_OK, or CT_ERR_INVALID naming the bad entry in err; *ret_mask untouched then. */
int linesim_fault_parse_list(const char *list, unsigned *ret_mask, char *err, size_t err_len);

#endif
