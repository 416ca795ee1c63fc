/* gate_charts: live SPC charts, one instance per configured chart and stream, fed from
 * station results. No MQTT, no database: gate_db loads definitions and saved states into
 * it and saves the instances it marks dirty; main.c turns signals into alerts and commands.
 *
 * A chart definition (a row of spc_chart) is a template: it applies to every (site, line,
 * station, recipe) stream it matches, and each matching stream gets its own instance with
 * its own engine state, so two coaters never share a chart. Attribute charts of the
 * pseudo-characteristic "_nonconforming" count units with a failing verdict, units_per_point
 * units to a point. t2 charts take a comma-separated group of characteristics and plot when a
 * result has all of them.
 *
 * Memory is bounded (max_live, 0: unbounded): an instance takes only the engine state of
 * its kind (the blob is the struct's last member and allocated to gate_blob_size()), and
 * when the bound is reached the least recently fed instance whose state is in the database
 * (not dirty, and its last snapshot's save job came back stored: gate_charts_saved) is
 * evicted. A stream without a live instance is looked up through the loader (load, the
 * saved row of spc_chart_state) and continues from that state, exactly as if it had stayed.
 * A stream with no saved row is new: new streams are admitted at new_per_min a minute at
 * most (a token bucket holding one minute's worth), so a flood of invented stations cannot
 * churn the real streams out of memory; a refused stream's result is judged against its
 * specs as always and gets no chart point (counted in stats). Streams known to have no
 * saved row are remembered (a bounded set), so a refused station costs no query per
 * result. */
#ifndef GATE_CHARTS_H
#define GATE_CHARTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ct_pb.h"
#include "ct_map.h"
#include "gate_spec.h"
#include "spc.h"
#include "spc_profile.h"
#include "spc_t2.h"

#define GATE_CHART_ID_MAX  49
#define GATE_NONCONFORMING "_nonconforming"
/* Rule numbers beyond the engine's: the T2 limit. */
#define GATE_RULE_T2_LIMIT 31
#define GATE_RULE_PROFILE  30 /* a curve outside its golden envelope */

enum gate_action { GATE_ACTION_ALERT = 1, GATE_ACTION_SLOW, GATE_ACTION_STOP, GATE_ACTION_ADJUST };

struct gate_plan_step {
	char plan_id[GATE_NAME_MAX];
	int step;
	enum gate_action action;
	char parameter[GATE_NAME_MAX];
	double gain, max_step, target_value;
	bool has_min, has_max;
	double min_value, max_value;
	char uom[GATE_NAME_MAX];
	char reason_code[GATE_NAME_MAX];
	int severity;
	int cooldown_s;
	int min_signals; /* signals since the previous step needed to take this one */
};

struct gate_chart_def {
	char chart_id[GATE_CHART_ID_MAX];
	char site[GATE_NAME_MAX], line[GATE_NAME_MAX], station[GATE_NAME_MAX];
	int station_type;
	char recipe[GATE_NAME_MAX];
	char kind_name[16];
	bool is_t2;
	bool is_profile;                         /* golden-profile comparison of a curve */
	bool nonconforming;                      /* p / np of failing verdicts */
	char names[SPC_T2_MAX_P][GATE_NAME_MAX]; /* characteristic(s) */
	int n_names;
	uint32_t units_per_point; /* attribute charts: units summed into one point */
	struct spc_chart_config spc;
	struct spc_t2_config t2;
	struct spc_profile_config profile;
	char plan_id[GATE_NAME_MAX]; /* "" = alert only */
	char config_hash[17];        /* changes when the row changes: old state is dropped */
};

/* Everything an instance persists (spc_chart_state.state). Plain old data. The engine state
 * of the chart's kind comes last, in a union: only gate_blob_size() bytes are stored, so a
 * univariate chart does not carry a curve envelope's kilobytes into every save. */
#define GATE_BLOB_MAGIC   UINT32_C(0x47544342) /* "BCTG" */
#define GATE_BLOB_VERSION UINT32_C(2)
#define GATE_RULE_SLOTS   32
struct gate_chart_blob {
	uint32_t magic;
	uint32_t version;
	uint32_t size;                /* bytes stored: gate_blob_size() of the chart's kind */
	uint32_t plan_step;           /* the reaction plan step the next signal takes (1-based) */
	double attr_count, attr_size; /* attribute point being filled */
	uint32_t attr_units;
	/* Point of the chart's last signal, modulo 2^32 (0: none yet); padding, always 0, in
	 * blobs written before it was used, which then read as "none". */
	uint32_t last_signal_point;
	uint64_t signals;
	uint64_t signals_at_action;             /* `signals` when the plan last acted */
	uint64_t profile_points;                /* profile charts: curves scored */
	int64_t last_signal_us;                 /* last signal of this instance */
	int64_t last_action_us;                 /* last command sent for this instance */
	int64_t last_alert_us[GATE_RULE_SLOTS]; /* per rule, for the alert hold-off */
	union {
		struct spc_state spc;             /* univariate charts */
		struct spc_t2_state t2;           /* t2 charts */
		struct spc_profile_state profile; /* profile charts */
	} engine;
};

/* Bytes of a blob stored for a chart of this definition. */
size_t gate_blob_size(const struct gate_chart_def *def);

/* Running count, mean and sum of squared deviations (Welford) of the individual values a
 * variables chart was fed since it started: the overall sigma of Pp/Ppk. Saved beside the
 * blob in the state row (not in it, so blobs of older builds stay readable). */
struct gate_overall {
	uint64_t n;
	double mean, m2;
};

struct gate_chart {
	size_t def; /* index into gate_charts.defs */
	char site[GATE_NAME_MAX], line[GATE_NAME_MAX], station[GATE_NAME_MAX];
	char recipe[GATE_NAME_MAX];
	bool dirty; /* changed since the last snapshot (gate_pending_snapshot) */
	bool valid; /* false when the definition vanished on a reload */
	/* Last plotted point, for the state row (NAN until there is one). */
	double last_value, lcl, cl, ucl;
	struct gate_overall overall;
	/* The spec of the last value fed (gate_charts.specs), for live capability. */
	bool has_spec;
	struct spc_spec spec;
	/* The live set: position in gate_charts.charts, place in the recency list, and the save
	 * job that holds the last snapshot of this state (0: as loaded from the database). */
	size_t slot;
	struct gate_chart *newer, *older;
	uint64_t snap_seq;
	/* Last, and allocated to gate_blob_size() of the chart's kind only: an EWMA does not
	 * carry a curve envelope's 12 kB. Copy it with memcpy of that size, never by value. */
	struct gate_chart_blob blob;
};

/* A stream's saved row (spc_chart_state), as the loader finds it. */
struct gate_saved_state {
	char config_hash[17];
	uint8_t *state; /* malloc'd by the loader, freed by gate_charts */
	size_t state_len;
	struct gate_overall overall;
	double last_value, lcl, cl, ucl; /* NAN where NULL */
};

/* Finds the saved row of one stream: CT_OK with *ret_found (and *ret filled when found), or
 * an error, which gate_charts_feed returns as it is. */
typedef int (*gate_charts_load_fn)(void *ctx, const char *chart_id, const char *site,
                                   const char *line, const char *station, const char *recipe,
                                   struct gate_saved_state *ret, bool *ret_found);

/* What the live set did since the start (for the status line and the flood test). */
struct gate_charts_stats {
	uint64_t created;  /* instances of new streams */
	uint64_t reloaded; /* instances of evicted streams brought back from their saved row */
	uint64_t evicted;
	uint64_t refused; /* chart points of new streams refused (a result may have several) */
	uint64_t lookups; /* saved rows looked up */
	size_t peak;      /* live instances, at most */
	/* The last refused stream, for the log. */
	char refused_chart[GATE_CHART_ID_MAX];
	char refused_where[3 * GATE_NAME_MAX];
	bool refused_full; /* the last refusal: no room (every instance unsaved), not the rate */
};

/* A signal: one rule firing at one point of one chart instance. */
struct gate_signal {
	struct gate_chart *chart;
	const struct gate_chart_def *def;
	int rule;
	const char *rule_name;
	uint64_t first_point, last_point;
	double statistic, limit, centre;
};

typedef void (*gate_signal_fn)(void *ctx, const struct gate_signal *signal,
                               const Cellthread__V1__StationResult *result);

struct gate_charts {
	struct gate_chart_def *defs;
	size_t n_defs;
	struct gate_plan_step *steps; /* sorted by plan_id, step */
	size_t n_steps;
	struct gate_chart **charts; /* instances, stable addresses */
	size_t n_charts, cap_charts;
	struct ct_map index; /* instance key -> index into charts */
	/* The spec limits, for capability; NULL: none computed. Not owned. */
	const struct gate_spec_set *specs;
	/* The bound and the admission of new streams (gate_charts_limit; 0: none). */
	size_t max_live;
	double new_per_min, tokens;
	int64_t tokens_at_us;
	int64_t now_us;                     /* time of the result being fed, set by the caller */
	struct gate_chart *newest, *oldest; /* recency list of the live instances */
	uint64_t snap_seq, saved_seq;       /* last snapshot taken, last one known stored */
	gate_charts_load_fn load;           /* NULL: no saved rows to look for */
	void *load_ctx;
	struct ct_map no_row; /* stream keys known to have no saved row */
	char **no_row_ring;   /* the same keys, oldest replaced first */
	size_t no_row_next, no_row_cap;
	struct gate_charts_stats stats;
};

void gate_charts_init(struct gate_charts *charts);
void gate_charts_cleanup(struct gate_charts *charts);
/* Forgets every instance (before reloading the saved ones); definitions stay. */
void gate_charts_drop_instances(struct gate_charts *charts);

/* Bounds the live instances to max_live (0: no bound) and admits new_per_min new streams a
 * minute at most (0: no limit); the bucket starts full. Returns CT_OK or CT_ERR_NOMEM. */
int gate_charts_limit(struct gate_charts *charts, size_t max_live, double new_per_min);
/* The loader of saved rows for streams without a live instance (NULL: none). */
void gate_charts_set_loader(struct gate_charts *charts, gate_charts_load_fn load, void *ctx);
/* Marks the instance snapshots of save job seq (gate_pending.chart_seq) as stored, or, when
 * the job was not stored, marks those instances dirty again so the next job carries them:
 * nothing is evicted that the database does not hold. Jobs come back in order. */
void gate_charts_saved(struct gate_charts *charts, uint64_t seq, bool stored);
/* Evicts saved instances until the live set is within its bound again (a stream with a saved
 * row is reloaded even when every live instance is unsaved, going over the bound until the
 * next save comes back). Returns how many it evicted. */
size_t gate_charts_trim(struct gate_charts *charts);

/* Parses a rule list ("WE1,WE2,N1..N8,SEC") into engine bits. Returns CT_OK or
 * CT_ERR_INVALID with the bad word in err. */
int gate_rules_parse(const char *text, uint32_t *ret_bits, char *err, size_t err_len);

/* Fills def's engine configuration from the row's fields (kind, subgroup size, limits,
 * EWMA and CUSUM parameters, rules); def's names, kind_name and matching fields must be set.
 * Returns CT_OK or CT_ERR_INVALID with the reason in err. */
int gate_chart_def_build(struct gate_chart_def *def, int subgroup_size, const char *rules,
                         bool has_baseline, int baseline_points, bool has_centre, double centre,
                         bool has_sigma, double sigma, double ewma_lambda, double ewma_l,
                         double cusum_k, double cusum_h, char *err, size_t err_len);

/* The thresholds of a profile chart (NAN: keep the default of gate_chart_def_build: z 3,
 * RMS 2.5, one point beyond 6, 10 % of the points outside the band). Call after
 * gate_chart_def_build. Returns CT_OK or CT_ERR_INVALID with the reason in err. */
int gate_chart_def_profile_limits(struct gate_chart_def *def, double z, double max_rms,
                                  double max_abs, double max_outside, char *err, size_t err_len);

/* Replaces definitions and plan steps (taking ownership of both malloc'd arrays). Instances
 * whose definition is gone or changed (config_hash) are dropped; the rest keep their state. */
void gate_charts_set_config(struct gate_charts *charts, struct gate_chart_def *defs, size_t n_defs,
                            struct gate_plan_step *steps, size_t n_steps);

/* Restores a saved instance. Returns CT_OK, CT_ERR_NOT_FOUND when its definition no longer
 * exists or changed (the caller ignores it), CT_ERR_CORRUPT for bytes that are not a state
 * of this build, or CT_ERR_NOMEM. */
int gate_charts_restore(struct gate_charts *charts, const char *chart_id, const char *site,
                        const char *line, const char *station, const char *recipe,
                        const char *config_hash, const void *state, size_t state_len,
                        const struct gate_overall *overall);

/* Restores a saved row as gate_charts_restore does, with its last point (last_value, lcl, cl,
 * ucl). The same returns. */
int gate_charts_restore_saved(struct gate_charts *charts, const char *chart_id, const char *site,
                              const char *line, const char *station, const char *recipe,
                              const struct gate_saved_state *saved);

/* Capability of a variables chart (imr, xbar_r, xbar_s, ewma, cusum) against the spec of its
 * last value, as ct-spc-analyze computes it: Cp/Cpk from the chart's centre and sigma of one
 * observation (MR-bar/d2, R-bar/d2 or S-bar/c4 from phase I, or the fixed sigma), Pp/Ppk/Cpm
 * from the mean and sample standard deviation of every value fed. False (ret untouched) when
 * the chart is of another kind, still in phase I, has fewer than 2 values, or no spec with a
 * limit. */
bool gate_chart_capability(const struct gate_charts *charts, const struct gate_chart *chart,
                           struct spc_capability *ret);

/* Feeds one judged result to every chart it matches, creating instances as needed (reloading
 * evicted ones, admitting new streams; a refused stream's chart gets no point), and calls
 * on_signal for every rule that fires. verdict is the result's verdict (for
 * "_nonconforming" charts). Returns CT_OK, CT_ERR_NOMEM, or the loader's error. */
int gate_charts_feed(struct gate_charts *charts, const Cellthread__V1__StationResult *result,
                     int verdict, gate_signal_fn on_signal, void *ctx);

/* The reaction plan of an instance's chart: its steps, sorted by step number, with their
 * count in *ret_n; NULL and 0 when the chart has no plan (or the plan no steps). For
 * gate_plan_decide(). */
const struct gate_plan_step *gate_charts_plan(const struct gate_charts *charts,
                                              const struct gate_chart *chart, size_t *ret_n);

/* Points plotted by an instance. */
uint64_t gate_chart_points(const struct gate_charts *charts, const struct gate_chart *chart);

#endif
