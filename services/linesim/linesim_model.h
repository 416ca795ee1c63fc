/* linesim_model: a deterministic digital twin of a Li-ion cell line (DOMAIN.md), pure logic.
 *
 * The model owns one or more lines. Each linesim_model_step() starts one cell on one line:
 * it winds the cell from the current cathode and anode coils (making new coils, and new
 * slurry batches and material lots, when they run out), sends it through every cell station
 * and, when enough cells (then modules) are finished, assembles a module (then a pack). Every
 * station visit is handed to the caller's sink as a StationResult; nothing here touches a
 * clock or a socket, and only linesim_scenario_load a file: time comes in as now_us and
 * randomness from the seed.
 *
 * With station states (config.states, linesim_state.c) the caller advances each line's time
 * instead (linesim_model_advance): cells come by the production rule, and every station's
 * state changes go to a state sink; without, none of it runs.
 *
 * Determinism: values are drawn from counter-based streams keyed by (seed, line, unit,
 * station), and event IDs from per-line counters, so the same seed, the same now_us values
 * and the same sequence of fault switches give byte-identical messages. Because each unit has
 * its own stream, a fault changes only the values it targets (and what follows from them
 * physically, e.g. a scrapped cell) and never reshuffles the noise of unrelated values.
 *
 * Station commands (StationCommand, from spc-gate's reaction plans) act on the model as on a
 * line: ADJUST moves a parameter's setpoint (the slot-die gap changes the loading laid down),
 * SLOW and STOP thin out or halt the line's cell starts in linesim_model_tick(), RESUME or
 * expiry lifts them. With no command received, every tick starts a cell and every setpoint is
 * the table's, and the output is byte for byte what it is without this feature.
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

#include "cellthread/v1/control.pb-c.h"
#include "cellthread/v1/oee.pb-c.h"
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
	/* Station states (linesim_state.c; all off when zero, and then nothing of it runs). */
	bool states;     /* publish StationState changes; cells follow the production rule */
	bool checks_off; /* no random NOK: only scripted scrap fails (a scenario) */
	double rate;     /* cells per second per line (needed with states), > 0 */
	bool downtime;   /* random breakdowns, micro-stops, changeovers, breaks (needs states) */
	bool breaks;     /* with downtime: a 30 min BREAK mid-shift (10:00, 18:00, 02:00 UTC) */
	double mtbf_s;   /* mean time between breakdowns of a line, s (0: 3600) */
	double micro_every_s;      /* mean time between micro-stops of a line, s (0: 300) */
	double changeover_every_s; /* period of the cell recipe's changeover, s (0: 14400) */
	double changeover_s;       /* length of a changeover, s (0: 600) */
	/* A scripted scenario (linesim_scenario_parse), or NULL; the model copies it. */
	const struct linesim_scenario *scenario;
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

/* One StationState of one station (station states); valid only during the callback. */
struct linesim_state {
	unsigned line;
	unsigned station;
	const char *line_name;
	const char *station_id;
	const Cellthread__V1__StationState *msg;
};

/* Where the model hands its messages. A non-zero return stops the step and is returned. */
struct linesim_sink {
	int (*result)(void *ctx, const struct linesim_result *result);
	int (*telemetry)(void *ctx, const struct linesim_telemetry *telemetry);
	void *ctx;
};

/* Where the model hands its station states (linesim_model_advance); the same contract. */
struct linesim_state_sink {
	int (*state)(void *ctx, const struct linesim_state *state);
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
/* One tick of the line's schedule at now_us; the caller ticks every line at sim.rate. Holds
 * (SLOW, STOP) whose expiry is at or before now_us are lifted first. With no hold each tick
 * starts a cell (linesim_model_step); under SLOW to p % the line starts a cell on p % of the
 * ticks, evenly spread (p / 100 of a cell is credited per tick, a cell starts per whole
 * credit); under STOP none: cells already finished wait for their module, batches queued by
 * the caller still go out, nothing new is made. *ret_started (NULL: not wanted) says
 * whether a cell started; untouched on error. Returns as linesim_model_step. */
int linesim_model_tick(struct linesim_model *model, unsigned line, int64_t now_us,
                       const struct linesim_sink *sink, bool *ret_started);
/* The share of sim.rate `line` runs at now: 1 with no hold, the smallest SLOW percentage of
 * its stations / 100, 0 when any station is stopped. Expiry is applied by the next tick. */
double linesim_model_line_rate(const struct linesim_model *model, unsigned line);

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

/* What became of a station command. */
enum linesim_cmd_outcome {
	LINESIM_CMD_APPLIED = 0,
	LINESIM_CMD_DUPLICATE,     /* header.event_id seen among the last LINESIM_CMD_SEEN */
	LINESIM_CMD_EXPIRED,       /* expires_at_us != 0 and before now */
	LINESIM_CMD_NOT_SIMULATED, /* another site, or a line or station the model lacks */
	LINESIM_CMD_INVALID,       /* malformed: undecodable, a field missing or out of range */
	LINESIM_CMD_UNSUPPORTED,   /* well formed, but nothing here it can act on */
	LINESIM_CMD_OUTCOMES,
};
#define LINESIM_CMD_SEEN  256 /* event IDs remembered to drop redeliveries */
#define LINESIM_CMD_KINDS 5   /* CommandKind 0..4; unknown values count under 0 */

/* Commands handed to the model so far, by CommandKind (index 0: unspecified, unknown or not
 * decodable) and by outcome. */
struct linesim_command_counts {
	unsigned long long applied[LINESIM_CMD_KINDS];
	unsigned long long ignored[LINESIM_CMD_KINDS];
	unsigned long long outcomes[LINESIM_CMD_OUTCOMES];
};

/* One command's fate, for the caller's log and the station's CommandAck. */
struct linesim_command_report {
	enum linesim_cmd_outcome outcome;
	int kind;       /* CommandKind as received (0 when not decodable) */
	char text[512]; /* what was done, or why not: one line naming event, station, reason */
	/* The acknowledgement a station would send: set (ack true) for a command with a valid
	 * event ID naming a simulated station; a duplicate gets the first one's again. */
	bool ack;
	Cellthread__V1__CommandAckStatus ack_status;
	char ack_detail[256];
	int64_t acked_at_us;
	char event_id[LINESIM_ID_LEN], line[LINESIM_ID_LEN], station[LINESIM_ID_LEN];
};

/* Applies one station command at now_us (the caller's wall clock, us since the epoch).
 *
 * Commands for another site, or a station the model does not simulate, are not simulated;
 * a header.event_id among the last LINESIM_CMD_SEEN for its stations is a duplicate;
 * expires_at_us != 0 and < now_us is expired. Then, on the named station (its line must be
 * the command's line):
 *   ADJUST `parameter`: the station's setpoint of that parameter moves by `delta` (or, when
 *     delta is 0, to `target_value`), at most `max_step` (max_step 0, the proto3 default,
 *     means unset: the station's own limit of 5 % of the nominal setpoint applies), and
 *     never outside 75-125 % of the nominal setpoint (the machine's range). `unit`, when
 *     given, must be the parameter's. The new setpoint is reported on every later visit and
 *     the actual value follows it; slot_die_gap on a coater also sets the loading laid down
 *     (loading proportional to the gap actually open: setpoint x (1 + creep)). An ADJUST
 *     stays after its expiry: expiry only stops a late command from being applied.
 *   SLOW: target_value in % (`unit` "%", 0 < value <= 100): the line runs at that share of
 *     its rate until RESUME or expiry. STOP: the line starts no cell until RESUME or expiry
 *     (expires_at_us 0: until RESUME). A newer SLOW or STOP of the same station replaces
 *     its older one.
 *   RESUME: lifts the station's SLOW or STOP (applied, and said so, when there is none).
 * undoes_event_id is reported but changes nothing: an undo is an ordinary RESUME or ADJUST.
 * Returns the outcome, also in ret->outcome with ret->text; counts it. Can't fail. */
enum linesim_cmd_outcome linesim_model_command(struct linesim_model *model,
                                               const Cellthread__V1__StationCommand *cmd,
                                               int64_t now_us, struct linesim_command_report *ret);
/* Decodes a StationCommand payload received on `topic` (ct/v1/plant/{site}/{line}/
 * {station}/command; the topic's levels must match the message's) and applies it as above.
 * A payload that does not decode (or is over 64 KiB), or a topic that disagrees, is
 * LINESIM_CMD_INVALID with the reason. Can't fail. */
enum linesim_cmd_outcome linesim_model_command_payload(struct linesim_model *model,
                                                       const char *topic, const void *payload,
                                                       size_t len, int64_t now_us,
                                                       struct linesim_command_report *ret);
const struct linesim_command_counts *
linesim_model_command_counts(const struct linesim_model *model);
/* "unspecified", "slow", "stop", "resume", "adjust" (index into the counts). */
const char *linesim_command_kind_name(int kind);
/* "applied", "duplicate", "expired", "not_simulated", "invalid", "unsupported". */
const char *linesim_command_outcome_name(enum linesim_cmd_outcome outcome);
/* The setpoint in force of `parameter` at `station` of `line` (NAN when there is none). */
double linesim_model_setpoint(const struct linesim_model *model, unsigned line, unsigned station,
                              const char *parameter);

/* "nozzle", "coating_drift", "dew_point", "weld_wear". */
const char *linesim_fault_name(enum linesim_fault fault);
/* Returns CT_OK with *ret set, or CT_ERR_INVALID for an unknown name. */
int linesim_fault_from_name(const char *name, enum linesim_fault *ret);
/* Parses a comma-separated list of fault names (spaces allowed, "" = none) into a mask.
 * Returns CT_OK, or CT_ERR_INVALID naming the bad entry in err; *ret_mask untouched then. */
int linesim_fault_parse_list(const char *list, unsigned *ret_mask, char *err, size_t err_len);

/* The simulated clock of a history run (sim.history): tick n of every line's schedule is at
 * start_us + n / rate, and the history is the ticks before end_us (the wall time the run
 * started at; start_us = end_us - the history's length). Pure arithmetic, so a run's
 * timestamps depend on its start and rate only, never on how fast it is published. */
struct linesim_clock {
	int64_t start_us; /* simulated time of tick 0, us since the epoch */
	int64_t end_us;   /* the history ends before this */
	double period_us; /* 1e6 / sim.rate */
};

/* Parses a history length: "" (none: 0, a live run) or a whole number and a unit, "7d",
 * "36h", "90m", "45s", at most 366 days. Returns CT_OK with *ret_us set, or CT_ERR_INVALID
 * with the reason in err (*ret_us untouched). */
int linesim_duration_parse(const char *text, int64_t *ret_us, char *err, size_t err_len);
/* A clock whose history of length_us ends at end_us, at rate cells per second (> 0). */
void linesim_clock_init(struct linesim_clock *clock, int64_t end_us, int64_t length_us,
                        double rate);
/* The simulated time of tick n. */
int64_t linesim_clock_tick_us(const struct linesim_clock *clock, unsigned long long n);
/* How many ticks the history has: those whose time is before end_us. */
unsigned long long linesim_clock_history_ticks(const struct linesim_clock *clock);

/* Station states (sim.states, linesim_state.c). Time is compressed: a cell passes every cell
 * station at the instant it is made. The cell stations WIND..VIS are a chain without buffers:
 * while any of them is down (planned or unplanned) or a STOP holds any station, the line makes
 * no cell; the cell stations upstream of the first down one are BLOCKED, the others STARVED,
 * MOD and PACK STARVED. Electrode stations have coil buffers: their own stops do not stop the
 * line. Production rule: after the line (re)starts producing at R (or its rate changes, or the
 * run starts), cells complete at R + k * cycle (k = 1, 2, ...), cycle = 1 / (rate * share)
 * with share the SLOW in force (1 without); a cell completes at t only if the line produced
 * during the whole (t - cycle, t]. */

/* Starts every line's state clock at start_us (the run's start on its clock). Call once,
 * before linesim_model_advance; states only. */
void linesim_model_begin(struct linesim_model *model, int64_t start_us);
/* Advances `line` to until_us: every state change and cell due at or before it, in time
 * order (states first at equal times, except a cell of the old schedule whose line is still
 * producing); results go to sink, states to states (NULL: not handed on). cells_limit > 0
 * stops making cells once the line finished that many. Returns CT_OK, CT_ERR_INVALID (no
 * states, a bad line) or a sink's non-zero return (the model stays usable; what was not
 * handed on is lost). */
int linesim_model_advance(struct linesim_model *model, unsigned line, int64_t until_us,
                          unsigned long long cells_limit, const struct linesim_sink *sink,
                          const struct linesim_state_sink *states);
/* The time `line` has been advanced to, and the time of its next cell or state change
 * (INT64_MAX: none). */
int64_t linesim_model_now(const struct linesim_model *model, unsigned line);
int64_t linesim_model_next_us(const struct linesim_model *model, unsigned line);

/* What a scenario did on one line (scenario only). */
struct linesim_state_stats {
	unsigned long long states;      /* StationState messages handed on */
	unsigned long long late_failed; /* EOL retests made NOK (latefail) */
	unsigned long long scrapped;    /* cells made NOK by a scrap line */
};
const struct linesim_state_stats *linesim_model_state_stats(const struct linesim_model *model,
                                                            unsigned line);

/* A scripted scenario (sim.scenario): see README.md "Scenarios" for the format. */
enum linesim_ev_kind {
	LINESIM_EV_BREAKDOWN = 0, /* station: UNPLANNED_DOWNTIME for duration, reason, asset */
	LINESIM_EV_MICROSTOP,     /* the same, a short one */
	LINESIM_EV_PLANNED,       /* station or line: PLANNED_DOWNTIME for duration, reason */
	LINESIM_EV_CHANGEOVER,    /* line: cell stations PLANNED CHANGEOVER to a recipe variant */
	LINESIM_EV_SLOW,          /* line: share of the rate for duration */
	LINESIM_EV_SCRAP,         /* station: the next count cells fail its check */
	LINESIM_EV_LATEFAIL,      /* line: count good cells made at or after from_us fail EOL */
};
struct linesim_event {
	int64_t at_us;
	unsigned line; /* 0-based */
	int station;   /* station index, -1 for the whole line */
	enum linesim_ev_kind kind;
	int64_t duration_us;
	char reason[LINESIM_ID_LEN];
	char asset[LINESIM_ID_LEN];
	double share;     /* SLOW: (0, 1] */
	unsigned count;   /* SCRAP, LATEFAIL */
	int64_t from_us;  /* LATEFAIL */
	unsigned variant; /* CHANGEOVER: 0 STD, 1 HE */
};
struct linesim_scenario {
	int64_t start_us, end_us;
	double rate;                  /* 0: not given */
	struct linesim_event *events; /* sorted by at_us (file order among equal times) */
	size_t n_events;
};
/* Parses a scenario text. Returns CT_OK with *ret filled (free with linesim_scenario_free),
 * CT_ERR_INVALID with "line N: reason" in err, or CT_ERR_NOMEM. */
int linesim_scenario_parse(const char *text, struct linesim_scenario *ret, char *err,
                           size_t err_len);
/* Reads and parses a scenario file; as above, CT_ERR_IO when it cannot be read. */
int linesim_scenario_load(const char *path, struct linesim_scenario *ret, char *err,
                          size_t err_len);
void linesim_scenario_free(struct linesim_scenario *scenario);
/* The names of the cell recipe variants: "STD" (the tables' recipes), "HE". */
const char *linesim_variant_name(unsigned variant);

#endif
