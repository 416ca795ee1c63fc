/* linesim_internal: what the model's source files share (tables, line state, visit builder).
 *
 * Not part of the model's API (linesim_model.h is). The station tables in linesim_tables.c
 * hold every characteristic and parameter with its nominal value, noise and the station's
 * own check limits; the station code in linesim_electrode.c and linesim_cell.c draws the
 * table's values, applies physics and faults by index, and emits through the visit builder
 * (linesim_visit.c), which owns all storage of the one StationResult being built. */
#ifndef LINESIM_INTERNAL_H
#define LINESIM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "linesim_model.h"
#include "linesim_rng.h"

/* Short names for the generated enums. */
#define KIND_LOT       CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_MATERIAL_LOT
#define KIND_BATCH     CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_BATCH
#define KIND_ELECTRODE CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_ELECTRODE
#define KIND_CELL      CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_CELL
#define KIND_MODULE    CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_MODULE
#define KIND_PACK      CELLTHREAD__V1__UNIT_KIND__UNIT_KIND_PACK

/* Stations of a line, in line order; the order is also the time slot within a step. The
 * electrode stations come as a cathode and an anode run of LS_STAGES each. */
enum ls_station_index {
	LS_MIX_C = 0,
	LS_COAT_C,
	LS_CAL_C,
	LS_SLIT_C,
	LS_VDRY_C,
	LS_MIX_A,
	LS_COAT_A,
	LS_CAL_A,
	LS_SLIT_A,
	LS_VDRY_A,
	LS_WIND,
	LS_WELD,
	LS_INS,
	LS_FILL,
	LS_SEAL,
	LS_FORM,
	LS_AGE,
	LS_EOL,
	LS_VIS,
	LS_MOD,
	LS_PACK,
	LS_N_STATIONS,
};
enum ls_side { LS_CATHODE = 0, LS_ANODE = 1 };
enum ls_stage { LS_STAGE_MIX = 0, LS_STAGE_COAT, LS_STAGE_CAL, LS_STAGE_SLIT, LS_STAGE_VDRY };
#define LS_STAGES 5

/* Indices into each station's characteristic (c) and parameter (p) tables. */
enum { MIX_VISCOSITY, MIX_SOLID, MIX_TEMP, MIX_DENSITY, MIX_NC };
enum { MIXP_TIME, MIXP_SPEED, MIXP_VACUUM, MIXP_JACKET, MIX_NP };
enum { COAT_LOADING, COAT_WET, COAT_DRY, COAT_NMP, COAT_NC };
enum { COATP_SPEED, COATP_GAP, COATP_Z1, COATP_Z2, COATP_Z3, COATP_Z4, COATP_TENSION, COAT_NP };
enum { CAL_THICKNESS, CAL_DENSITY, CAL_NC };
enum { CALP_GAP, CALP_FORCE, CALP_TEMP, CALP_SPEED, CAL_NP };
enum { SLIT_WIDTH, SLIT_BURR, SLIT_NC };
enum { SLITP_SPEED, SLITP_KNIFE, SLIT_NP };
enum { VDRY_MOISTURE, VDRY_NC };
enum { VDRYP_TEMP, VDRYP_VACUUM, VDRYP_TIME, VDRY_NP };
enum { WIND_OVERHANG, WIND_ALIGN, WIND_SEPARATOR, WIND_XRAY, WIND_NC };
enum { WINDP_TENSION, WINDP_SPEED, WIND_NP };
enum { WELD_ENERGY, WELD_PEAK, WELD_RESISTANCE, WELD_PEEL, WELD_VISION, WELD_NC };
enum { WELDP_AMPLITUDE, WELDP_FORCE, WELDP_TIME, WELD_NP };
enum { INS_RESISTANCE, INS_LEAKAGE, INS_NC };
enum { INSP_VOLTAGE, INSP_DWELL, INS_NP };
enum { FILL_MASS, FILL_NC };
enum { FILLP_VACUUM, FILLP_NOZZLE, FILLP_WETTING, FILL_NP };
enum { SEAL_DECAY, SEAL_THICKNESS, SEAL_NC };
enum { SEALP_CRIMP, SEALP_PRESSURE, SEALP_TIME, SEAL_NP };
enum { FORM_CAPACITY, FORM_CE, FORM_GAS, FORM_NC };
enum { FORMP_CURRENT, FORMP_CUTOFF, FORMP_TEMP, FORM_NP };
enum { AGE_OCV, AGE_K, AGE_NC };
enum { AGEP_TIME, AGEP_TEMP, AGE_NP };
enum { EOL_CAPACITY, EOL_DCIR, EOL_ACIR, EOL_OCV, EOL_WEIGHT, EOL_HEIGHT, EOL_DIAMETER, EOL_NC };
enum { EOLP_CURRENT, EOLP_TEMP, EOL_NP };
enum { VIS_DEFECT, VIS_LABEL, VIS_SCORE, VIS_NC };
enum { VISP_EXPOSURE, VISP_SPEED, VIS_NP };
enum { MOD_VOLTAGE, MOD_RESISTANCE, MOD_INSULATION, MOD_NC };
enum { MODP_WELD, MODP_GLUE, MOD_NP };
enum { PACK_VOLTAGE, PACK_INSULATION, PACK_WEIGHT, PACK_NC };
enum { PACKP_TORQUE, PACKP_LEAK, PACK_NP };
#define LS_MAX_CHARS  8 /* largest *_NC above */
#define LS_MAX_PARAMS 8 /* largest *_NP above */

enum ls_dist {
	LS_NORMAL = 0, /* nominal + sigma * N(0,1) */
	LS_LOGNORMAL,  /* nominal * exp(sigma * N(0,1)): nominal is the median */
	LS_SCORE,      /* normal, clipped to [0, 1] */
	LS_DERIVED,    /* computed by the station code; the table gives only name, unit, limits */
};

struct ls_char {
	const char *name;
	const char *unit;
	double nominal, sigma;
	double lo, hi; /* the station's own check; outside => NOK */
	enum ls_dist dist;
};

struct ls_param {
	const char *name;
	const char *unit;
	double setpoint, sigma; /* actual = setpoint + sigma * N(0,1) */
};

/* Who staffs a station; operators rotate with the shift. */
enum ls_area { LS_AREA_NONE = 0, LS_AREA_ELECTRODE, LS_AREA_ASSEMBLY, LS_AREA_TEST, LS_AREA_PACK };

struct ls_station {
	const char *code; /* station ID suffix: "FILL-01" -> "L1-FILL-01" */
	Cellthread__V1__StationType type;
	const char *recipe;
	unsigned recipe_version;
	Cellthread__V1__UnitKind kind; /* kind of unit that visits */
	bool dry_room;                 /* visits carry dry-room environment readings */
	enum ls_area area;
	const char *nok_code; /* exception code when the station's own check fails */
	const struct ls_char *chars;
	size_t n_chars;
	const struct ls_param *params;
	size_t n_params;
};
extern const struct ls_station ls_stations[LS_N_STATIONS];

enum ls_material {
	LS_MAT_NMC811 = 0,
	LS_MAT_GRAPHITE,
	LS_MAT_PVDF,
	LS_MAT_CARBON_BLACK,
	LS_MAT_NMP,
	LS_MAT_AL_FOIL,
	LS_MAT_CU_FOIL,
	LS_MAT_SEPARATOR,
	LS_MAT_ELECTROLYTE,
	LS_N_MATERIALS,
};

struct ls_material_def {
	const char *name;     /* MaterialUse.material */
	const char *lot_code; /* lot IDs: "L1-NMC811-00001" */
	const char *unit;
	double lot_size; /* in unit */
};
extern const struct ls_material_def ls_materials[LS_N_MATERIALS];

/* Per-side electrode recipe figures the station code needs beyond the tables. */
struct ls_electrode_def {
	const char *coil_code;  /* coil IDs "L1-CATH-000001" */
	const char *batch_code; /* batch IDs "L1-BATC-00001" */
	enum ls_material active, foil;
	double batch_kg, solid_fraction;
	double active_share, binder_share; /* of solids; carbon black is the rest */
	double foil_um;                    /* current collector thickness */
	double per_cell_m;                 /* electrode length wound into one cell */
};
extern const struct ls_electrode_def ls_electrodes[2];

#define LS_COIL_M          150.0 /* length of one electrode coil */
#define LS_COILS_PER_BATCH 6
#define LS_SEPARATOR_M     1.90 /* separator per cell */

struct ls_lot {
	char id[LINESIM_ID_LEN];
	unsigned long long seq; /* 0: no lot opened yet */
	double left;
};

struct ls_coil {
	char id[LINESIM_ID_LEN];
	uint64_t key;
	double length_m, used_m;
	double loading;      /* areal loading measured at coating, mg/cm2 */
	double moisture_ppm; /* residual moisture after vacuum drying */
};

struct ls_electrode {
	struct ls_coil coil; /* coil.key == 0: none yet */
	char batch_id[LINESIM_ID_LEN];
	uint64_t batch_key;
	unsigned batch_coils_left;
	unsigned long long batch_seq, coil_seq;
	unsigned long long drift_coils; /* coils coated since coating_drift was switched on */
};

/* A finished cell waiting for its module, or a module waiting for its pack. */
struct ls_part {
	char id[LINESIM_ID_LEN];
	double voltage;    /* OCV of a cell, sum of a module */
	double resistance; /* DCIR of a cell, sum of a module, mOhm */
};

/* A SLOW or STOP in force at one station (station commands). */
enum ls_hold_kind { LS_HOLD_NONE = 0, LS_HOLD_SLOW, LS_HOLD_STOP };
struct ls_hold {
	enum ls_hold_kind kind;
	double fraction;       /* SLOW: share of the line's rate, (0, 1] */
	int64_t expires_at_us; /* 0: until RESUME */
	char event_id[LINESIM_ID_LEN];
	char reason[LINESIM_ID_LEN]; /* the command's reason_code (a STOP's reason_text) */
};

/* A stop in force at one station (station states): planned or unplanned, until when. */
struct ls_cause {
	bool on;
	int kind; /* Cellthread__V1__StationStateKind: planned or unplanned downtime */
	int64_t until_us;
	char reason[LINESIM_ID_LEN];
	char asset[LINESIM_ID_LEN];
};

/* A station's state as last handed on, to send only changes. */
struct ls_pub {
	int kind;
	char reason[LINESIM_ID_LEN];
	char text[LINESIM_ID_LEN];
	char asset[LINESIM_ID_LEN];
	unsigned variant;
	double rate;
};

/* Good cells captured for a scripted late failure (LATEFAIL), by event. */
struct ls_late {
	const struct linesim_event *ev;
	unsigned n;
	char (*ids)[LINESIM_ID_LEN]; /* ev->count of them */
	unsigned long long *seqs;
};

/* Station states of one line (linesim_state.c). */
struct ls_states {
	bool started, published, dirty;
	int64_t now_us;       /* advanced to */
	int64_t restart_us;   /* R: when the line last (re)started or changed its rate */
	unsigned long long k; /* cells made since restart_us */
	bool producing;
	double share; /* of the rate, 1 without SLOW */
	struct ls_cause planned[LS_N_STATIONS], unplanned[LS_N_STATIONS];
	struct ls_pub pub[LS_N_STATIONS];
	double slow_share; /* scripted SLOW, 0: none */
	int64_t slow_until_us;
	unsigned variant; /* cell recipe in force: 0 STD, 1 HE */
	/* A changeover due (co_at_us, INT64_MAX: none), waiting while another planned stop of
	 * the cell stations is in force, so that its CHANGEOVER state comes with the switch. */
	int64_t co_at_us, co_duration_us;
	unsigned co_variant;
	unsigned scrap[LS_N_STATIONS];
	int64_t next_breakdown_us, next_micro_us, next_changeover_us, next_break_us;
	unsigned long long draws; /* the downtime stream's counter */
	unsigned long long state_seq;
	size_t next_event; /* scenario events: the next one to look at */
	struct linesim_state_stats stats;
};

enum ls_sensor {
	LS_SENSOR_DEW_POINT = 0,
	LS_SENSOR_TEMPERATURE,
	LS_SENSOR_HUMIDITY,
	LS_SENSOR_PRESSURE,
	LS_N_SENSORS,
};

struct ls_line {
	unsigned index;
	char name[12];                             /* "L1": "L" and up to 10 digits */
	char unit_base[32];                        /* unit ID stem: unit_prefix + name */
	char producer[24];                         /* "linesim-L1" */
	char station_id[LS_N_STATIONS][32];        /* "L1-FILL-01" */
	char event_prefix[48];                     /* "linesim-L1-<16 hex of site, seed>" */
	char dryroom_id[32];                       /* "L1-DRYROOM" */
	char sensor[LS_N_SENSORS][LINESIM_ID_LEN]; /* dry-room sensors, "L1-DRYROOM.dew_point" */
	uint64_t seed;                             /* root of this line's streams */
	unsigned long long result_seq, telemetry_seq, cell_seq, module_seq, pack_seq;
	struct ls_lot lots[LS_N_MATERIALS];
	unsigned lots_new; /* lots opened since the last result was emitted */
	struct ls_electrode el[2];
	/* Fault progression on this line. */
	unsigned long long nozzle_fills, weld_count;
	double dew_point;
	struct ls_part *cells; /* cells_per_module slots */
	unsigned n_cells;
	struct ls_part *modules; /* modules_per_pack slots */
	unsigned n_modules;
	struct linesim_line_stats stats;
	/* Station commands: parameter setpoints in force (the tables' until an ADJUST), holds,
	 * and the schedule credit under SLOW (cells owed, < 1). */
	double setpoint[LS_N_STATIONS][LS_MAX_PARAMS];
	struct ls_hold hold[LS_N_STATIONS];
	double credit;
	struct ls_states st;
	/* Telemetry sample clock. */
	bool tel_started;
	int64_t tel_t0_us;
	unsigned long long tel_next;
};

#define LS_MAX_MEAS       12
#define LS_MAX_MATERIALS  6
#define LS_MAX_ENV        4
#define LS_MAX_EXCEPTIONS 2
#define LS_MAX_POINTS     128
#define LS_TEXT_LEN       256

/* Storage for the one StationResult being built; reused for every visit. */
struct ls_visit {
	Cellthread__V1__StationResult msg;
	Cellthread__V1__Header header;
	char event_id[LINESIM_ID_LEN];
	char unit_id[LINESIM_ID_LEN];
	char operator_id[LINESIM_ID_LEN];
	Cellthread__V1__Measurement meas[LS_MAX_MEAS];
	Cellthread__V1__Measurement *meas_p[LS_MAX_MEAS];
	Cellthread__V1__Parameter params[LS_MAX_PARAMS];
	Cellthread__V1__Parameter *params_p[LS_MAX_PARAMS];
	Cellthread__V1__MaterialUse mats[LS_MAX_MATERIALS];
	Cellthread__V1__MaterialUse *mats_p[LS_MAX_MATERIALS];
	Cellthread__V1__ChildUnit *children; /* children_cap of each */
	Cellthread__V1__ChildUnit **children_p;
	char (*positions)[24];
	size_t children_cap;
	Cellthread__V1__EnvironmentReading env[LS_MAX_ENV];
	Cellthread__V1__EnvironmentReading *env_p[LS_MAX_ENV];
	Cellthread__V1__OperatorNote note;
	Cellthread__V1__OperatorNote *note_p[1];
	Cellthread__V1__ProcessException exc[LS_MAX_EXCEPTIONS];
	Cellthread__V1__ProcessException *exc_p[LS_MAX_EXCEPTIONS];
	char exc_text[LS_MAX_EXCEPTIONS][LS_TEXT_LEN];
	Cellthread__V1__Curve curve;
	Cellthread__V1__Curve *curve_p[1];
	double curve_x[LS_MAX_POINTS], curve_y[LS_MAX_POINTS];
	char failed[LS_TEXT_LEN]; /* the first failed check, "" while none */
	bool checks_off;          /* a value outside the limits fails nothing (a scenario) */
	struct ls_rng rng;        /* this visit's own stream */
	struct ls_line *line;
	unsigned station;
	unsigned new_units[LINESIM_UNIT_KINDS];
};

/* Telemetry storage for one line's call: one message per asset. */
#define LS_TEL_ASSETS  4
#define LS_TEL_SIGNALS 2 /* per asset at most */
struct ls_telemetry {
	Cellthread__V1__Telemetry msg;
	Cellthread__V1__Header header;
	char event_id[LINESIM_ID_LEN];
	char asset[LINESIM_ID_LEN];
	Cellthread__V1__Signal signals[LS_TEL_SIGNALS];
	Cellthread__V1__Signal *signals_p[LS_TEL_SIGNALS];
	Cellthread__V1__Sample *samples[LS_TEL_SIGNALS];    /* LINESIM_MAX_SAMPLES each */
	Cellthread__V1__Sample **samples_p[LS_TEL_SIGNALS]; /* LINESIM_MAX_SAMPLES each */
};

struct linesim_model {
	struct linesim_model_config config;
	char site[LINESIM_ID_LEN];
	char unit_prefix[17];
	uint64_t event_tag; /* from site, unit prefix and seed: keeps runs' event IDs apart */
	unsigned faults;    /* mask of enabled enum linesim_fault */
	struct ls_line lines[LINESIM_MAX_LINES];
	struct ls_visit visit;
	struct ls_telemetry tel[LS_TEL_ASSETS];
	/* Station commands: recent event IDs (a ring) and what became of each command. */
	char cmd_seen[LINESIM_CMD_SEEN][LINESIM_ID_LEN];
	unsigned cmd_seen_next, cmd_seen_n;
	struct linesim_command_counts cmd_counts;
	/* The acknowledgement of each remembered command, for its duplicates. */
	struct {
		Cellthread__V1__CommandAckStatus status;
		char detail[256];
		int64_t acked_at_us;
	} cmd_ack[LINESIM_CMD_SEEN];
	/* A scenario's copy and its late failures. */
	struct linesim_scenario scenario;
	struct ls_late *late;
	size_t n_late;
	const struct linesim_state_sink *state_sink; /* during linesim_model_advance */
};

/* The cell stations' recipes of the second variant (HE), indexed by station - LS_WIND. */
struct ls_recipe {
	const char *name;
	unsigned version;
};
extern const struct ls_recipe ls_recipes_he[LS_VIS - LS_WIND + 1];

/* The stream key of a unit: kind, electrode side (0 for others) and sequence number. */
static inline uint64_t ls_unit_key(Cellthread__V1__UnitKind kind, unsigned side,
                                   unsigned long long seq)
{
	return ((uint64_t)kind << 56) | ((uint64_t)side << 48) | (uint64_t)seq;
}

/* The factor of the nominal slot-die gap actually open at a coater (side): its setpoint over
 * the nominal, crept open by `creep` (a fraction of the setpoint). The loading laid down is
 * proportional to it. Exactly 1 + creep while the setpoint is nominal. */
double ls_coat_gap_factor(const struct ls_line *line, enum ls_side side, double creep);

/* Fault effects (linesim_model.c): pure functions of each fault's progression count. */
double ls_fault_nozzle_amplitude(unsigned long long fills); /* g */
double ls_fault_nozzle_offset(unsigned long long fills);    /* g, alternating */
double ls_fault_gap_creep(unsigned long long coils);        /* fraction of the setpoint */
double ls_fault_weld_wear(unsigned long long welds);        /* 0 (new) .. 1.5 */
bool ls_fault_on(const struct linesim_model *m, enum linesim_fault fault);

/* Visit builder (linesim_visit.c). */
int ls_visit_init(struct ls_visit *v, size_t children_cap);
void ls_visit_cleanup(struct ls_visit *v);
/* Starts a visit of unit_id (stream key unit_key) at `station`, in its time slot before
 * now_us. Seeds v->rng. */
void ls_visit_begin(struct ls_visit *v, const struct linesim_model *m, struct ls_line *line,
                    unsigned station, const char *unit_id, uint64_t unit_key, int64_t now_us);
/* Draws every characteristic (c) and parameter actual (p) of the station's tables. */
void ls_visit_draw(struct ls_visit *v, double *c, double *p);
/* Emits every characteristic with its value from c (checking limits) and every parameter
 * with its actual from p and the table's setpoint. */
void ls_visit_emit_tables(struct ls_visit *v, const double *c, const double *p);
void ls_visit_measure(struct ls_visit *v, const char *name, double value, const char *unit,
                      double lo, double hi);
void ls_visit_material(struct ls_visit *v, const struct ls_lot *lot, enum ls_material material,
                       double quantity);
void ls_visit_child(struct ls_visit *v, const char *unit_id, Cellthread__V1__UnitKind kind,
                    double quantity, const char *unit, const char *position);
/* Starts the visit's curve; fill v->curve_x/curve_y[0..n-1]. n <= LS_MAX_POINTS. */
void ls_visit_curve(struct ls_visit *v, const char *name, const char *x_unit, const char *y_unit,
                    size_t n);
/* Adds dry-room environment, a rare operator note or micro-stop, the NOK exception, the
 * header, and hands the result to the sink. Returns the sink's return. */
int ls_visit_end(struct ls_visit *v, const struct linesim_sink *sink);
bool ls_visit_is_nok(const struct ls_visit *v);

/* Material lots (linesim_electrode.c): takes quantity from the line's open lot of material,
 * opening the next lot when the open one has too little left. */
const struct ls_lot *ls_lot_take(struct ls_line *line, enum ls_material material, double quantity);
/* Makes sure the line has a coil of `side` with at least need_m left, making (and emitting)
 * a new one, and a new batch when the current batch is used up. */
int ls_electrode_ensure(struct linesim_model *m, struct ls_line *line, enum ls_side side,
                        double need_m, int64_t now_us, const struct linesim_sink *sink);

/* Cells (linesim_cell.c): one cell through every cell station, and the modules and packs
 * it completes. */
int ls_cell_run(struct linesim_model *m, struct ls_line *line, int64_t now_us,
                const struct linesim_sink *sink);

/* An EOL retest of a finished cell that fails (scenario LATEFAIL), at now_us. */
int ls_cell_retest(struct linesim_model *m, struct ls_line *line, const char *cell_id,
                   unsigned long long seq, int64_t now_us, const struct linesim_sink *sink);
/* Frees the model's scenario copy and late-failure captures (linesim_state.c). */
void ls_states_cleanup(struct linesim_model *m);
/* Copies the scenario into the model (linesim_state.c). Returns CT_OK or CT_ERR_NOMEM. */
int ls_states_init(struct linesim_model *m);

/* Telemetry storage (linesim_telemetry.c). */
int ls_telemetry_init(struct ls_telemetry *tel, size_t n);
void ls_telemetry_cleanup(struct ls_telemetry *tel, size_t n);

#endif
