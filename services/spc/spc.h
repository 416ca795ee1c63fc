/* spc: univariate statistical process control (Shewhart, EWMA, CUSUM charts, run rules,
 * capability indices) as a pure library: no I/O, no allocation, libm only.
 *
 * The streaming API is built around two caller-owned structs. `struct spc_chart_config` says
 * what chart to keep; `struct spc_state` is everything the chart remembers between two
 * observations. The state is plain old data of a fixed size with no pointers, so a service
 * can store it as bytes (e.g. a PostgreSQL bytea) and restore it after a restart: feeding the
 * same observations to a restored state gives bit-for-bit the same results as never stopping.
 * The stored bytes are only meaningful to a build with the same SPC_STATE_VERSION and the same
 * ABI (endianness, double format); spc_state_validate() refuses anything else.
 *
 * Points are numbered from 1 (point 1 is the first subgroup or observation plotted), the
 * way textbooks number samples. Control limits are NAN where they do not exist (during phase I,
 * or the lower CUSUM limit). Estimators, constants and rule definitions are documented in
 * services/spc/README.md.
 *
 * The names of chart kinds and rules, and the defaults of their parameters, are defined here
 * once for every user of the library (spc-gate's configuration tables, ct-spc-analyze's
 * options, JSON output): the numbers of the enums are stored, the names are shown and
 * configured. */
#ifndef SPC_H
#define SPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Return codes. They are the numbers of the project's enum ct_err (ct_error.h), so a service
 * can pass them to ct_strerror(); the engine cannot link the runtime, hence the copy. */
enum spc_err {
	SPC_OK = 0,           /* CT_OK */
	SPC_ERR_INVALID = 2,  /* CT_ERR_INVALID: argument or observation breaks a rule */
	SPC_ERR_CORRUPT = 12, /* CT_ERR_CORRUPT: a restored state is not one this build wrote */
};

/* Short static text for an spc_err code; never NULL. */
const char *spc_strerror(int err);

/* Largest subgroup the engine handles: the constants are tabulated for n = 2..25. */
#define SPC_SUBGROUP_MAX 25
/* Points of history the run rules need: Nelson 7 looks at 15 points in a row. */
#define SPC_RULE_HISTORY 15
/* At most one violation per rule per point, and there are fewer rules than this. */
#define SPC_MAX_VIOLATIONS 20

enum spc_chart_kind {
	SPC_CHART_IMR = 1,    /* individuals, with the moving range of two as secondary chart */
	SPC_CHART_XBAR_R = 2, /* subgroup means, with the range chart as secondary */
	SPC_CHART_XBAR_S = 3, /* subgroup means, with the standard deviation chart as secondary */
	SPC_CHART_P = 4,      /* fraction nonconforming count/size, size may vary */
	SPC_CHART_NP = 5,     /* number nonconforming count, size may vary */
	SPC_CHART_C = 6,      /* nonconformities count per (constant) inspection unit */
	SPC_CHART_U = 7,      /* nonconformities per unit count/size, size may vary */
	SPC_CHART_EWMA = 8,   /* exponentially weighted moving average of observations or means */
	SPC_CHART_CUSUM = 9,  /* two one-sided tabular CUSUMs of observations or means */
};

/* The kinds' names as one text, for help and error messages; spc_chart_kind_name() gives each
 * (a unit test keeps the two in step). */
#define SPC_CHART_KIND_LIST "imr|xbar_r|xbar_s|p|np|c|u|ewma|cusum"

/* Stable name of a chart kind ("imr", "xbar_r", "xbar_s", "p", "np", "c", "u", "ewma",
 * "cusum"), as spc-gate's spc_chart.kind and ct-spc-analyze's --chart spell it; "unknown" for
 * anything else. */
const char *spc_chart_kind_name(int kind);

/* The kind whose spc_chart_kind_name() is `name` (exact, case-sensitive). Returns SPC_OK, or
 * SPC_ERR_INVALID (*ret_kind untouched) for any other text. */
int spc_chart_kind_from_name(const char *name, enum spc_chart_kind *ret_kind);

/* p, np, c, u: the observation is a count (and a size); sigma follows from the centre. */
bool spc_chart_kind_is_attribute(int kind);

/* Defaults for the parameters a chart definition may leave out (spc-gate's NULL columns,
 * ct-spc-analyze's options). Plain literals, so a tool can show them as text (--help). */
#define SPC_DEFAULT_EWMA_LAMBDA 0.2 /* EWMA weight of the newest point */
#define SPC_DEFAULT_EWMA_WIDTH  3   /* EWMA limits: L standard deviations of the statistic */
#define SPC_DEFAULT_CUSUM_K     0.5 /* CUSUM reference value, in sigmas of the plotted value */
#define SPC_DEFAULT_CUSUM_H     5   /* CUSUM decision interval, in sigmas of the plotted value */

/* Where the control limits come from. */
enum spc_limits_source {
	/* Phase I: the first `baseline_points` points estimate the centre and sigma, then the
	 * limits freeze. Nothing is judged before they freeze. */
	SPC_LIMITS_BASELINE = 1,
	/* Known process parameters: `centre` and `sigma` (see struct spc_chart_config). */
	SPC_LIMITS_FIXED_SIGMA = 2,
	/* Explicit `lcl`, `cl`, `ucl` for the primary chart of a Shewhart chart (not EWMA or
	 * CUSUM). The zones for the run rules are thirds of CL..UCL and LCL..CL. No secondary
	 * chart limits are known in this mode. */
	SPC_LIMITS_FIXED_EXPLICIT = 3,
};

/* Run rules and chart signals. The numbers are stable (they are stored and reported). */
enum spc_rule {
	SPC_RULE_WE1 = 1,      /* Western Electric 1: one point beyond 3 sigma */
	SPC_RULE_WE2 = 2,      /* WE 2: 2 of 3 in a row beyond 2 sigma, same side */
	SPC_RULE_WE3 = 3,      /* WE 3: 4 of 5 in a row beyond 1 sigma, same side */
	SPC_RULE_WE4 = 4,      /* WE 4: 8 in a row on the same side of the centre line */
	SPC_RULE_NELSON1 = 5,  /* Nelson 1: one point beyond 3 sigma */
	SPC_RULE_NELSON2 = 6,  /* Nelson 2: 9 in a row on the same side */
	SPC_RULE_NELSON3 = 7,  /* Nelson 3: 6 in a row steadily increasing or decreasing */
	SPC_RULE_NELSON4 = 8,  /* Nelson 4: 14 in a row alternating up and down */
	SPC_RULE_NELSON5 = 9,  /* Nelson 5: 2 of 3 in a row beyond 2 sigma, same side */
	SPC_RULE_NELSON6 = 10, /* Nelson 6: 4 of 5 in a row beyond 1 sigma, same side */
	SPC_RULE_NELSON7 = 11, /* Nelson 7: 15 in a row within 1 sigma, either side */
	SPC_RULE_NELSON8 = 12, /* Nelson 8: 8 in a row beyond 1 sigma, either side */
	/* Secondary chart (MR, R or S) point above its UCL or below its LCL. Selectable. */
	SPC_RULE_SECONDARY_LIMIT = 13,
	/* Chart signals, always on for their chart kind (not selectable). */
	SPC_RULE_EWMA_LIMIT = 14,  /* EWMA statistic beyond its control limits */
	SPC_RULE_CUSUM_UPPER = 15, /* C+ above H: the mean shifted up */
	SPC_RULE_CUSUM_LOWER = 16, /* C- above H: the mean shifted down */
};

#define SPC_RULE_BIT(rule) (UINT32_C(1) << (rule))
#define SPC_RULES_WESTERN_ELECTRIC                                                                 \
	(SPC_RULE_BIT(SPC_RULE_WE1) | SPC_RULE_BIT(SPC_RULE_WE2) | SPC_RULE_BIT(SPC_RULE_WE3) |    \
	 SPC_RULE_BIT(SPC_RULE_WE4))
#define SPC_RULES_NELSON                                                                           \
	(SPC_RULE_BIT(SPC_RULE_NELSON1) | SPC_RULE_BIT(SPC_RULE_NELSON2) |                         \
	 SPC_RULE_BIT(SPC_RULE_NELSON3) | SPC_RULE_BIT(SPC_RULE_NELSON4) |                         \
	 SPC_RULE_BIT(SPC_RULE_NELSON5) | SPC_RULE_BIT(SPC_RULE_NELSON6) |                         \
	 SPC_RULE_BIT(SPC_RULE_NELSON7) | SPC_RULE_BIT(SPC_RULE_NELSON8))

/* Short stable name of a rule ("we1", "nelson7", "secondary", "ewma", "cusum_upper", ...);
 * "unknown" for anything else. These names are reported (JSON, spc_signal.rule, alerts). */
const char *spc_rule_name(int rule);

/* The rule whose spc_rule_name() is the `len` bytes at `name` (exact, case-sensitive; no
 * terminating NUL needed). Returns SPC_OK, or SPC_ERR_INVALID (*ret_rule untouched). */
int spc_rule_from_name(const char *name, size_t len, enum spc_rule *ret_rule);

/* Short configuration code of a selectable rule, as chart definitions spell it ("WE1".."WE4",
 * "N1".."N8", "SEC"); NULL for the chart signals (EWMA, CUSUM) and anything else. */
const char *spc_rule_code(int rule);

/* The selectable rule whose spc_rule_code() is the `len` bytes at `code`, in any case ("we1",
 * "n8", "Sec"). Returns SPC_OK, or SPC_ERR_INVALID (*ret_rule untouched). */
int spc_rule_from_code(const char *code, size_t len, enum spc_rule *ret_rule);

/* True for the rules a chart may select in spc_chart_config.rules (WE, Nelson, secondary);
 * false for the chart signals that are always on (EWMA, CUSUM) and unknown numbers. */
bool spc_rule_is_selectable(int rule);

/* The rules a chart of this kind judges when its definition names none: WE1 and, where the
 * kind has an MR, R or S chart, the secondary limits; none for EWMA and CUSUM, whose own
 * signals are always on. 0 for an unknown kind. */
uint32_t spc_chart_default_rules(int kind);

/* What chart to keep. Zero-initialise, then set the fields the chart kind uses; fields a kind
 * does not use must stay 0. */
struct spc_chart_config {
	enum spc_chart_kind kind;
	/* X-bar/R and X-bar/S: observations per subgroup, 2..25. EWMA and CUSUM: 1 (individual
	 * observations) or 2..25 (the subgroup mean is plotted). Others: 0 or 1. */
	uint32_t subgroup_size;
	/* Run rules to apply to the primary chart: SPC_RULE_BIT() of WE/Nelson rules, plus
	 * SPC_RULE_SECONDARY_LIMIT for I-MR, X-bar/R and X-bar/S. Must be 0 for EWMA and CUSUM,
	 * whose own signals are always on. */
	uint32_t rules;
	enum spc_limits_source limits_source;
	/* SPC_LIMITS_BASELINE: points (subgroups for X-bar charts) in phase I, >= 2. */
	uint32_t baseline_points;
	/* EWMA: true for the asymptotic limits, false for the exact time-varying limits that
	 * start narrow and widen towards them. */
	bool ewma_steady_state;
	/* enum spc_constants_set: the constants for sigma estimates and limits (0, the exact
	 * set, is what a zero-initialised config and every state saved before this field
	 * existed use). One byte, in what was padding after ewma_steady_state, so the layout
	 * and size of struct spc_state, and SPC_STATE_VERSION, are unchanged. */
	uint8_t constants;
	/* SPC_LIMITS_FIXED_SIGMA. centre: process mean (variables charts; the target for EWMA
	 * and CUSUM), fraction nonconforming p (p and np charts), nonconformities per
	 * inspection unit (c chart) or per unit (u chart). sigma: standard deviation of one
	 * observation (variables, EWMA, CUSUM); must be 0 for attribute charts, whose sigma
	 * follows from the centre. */
	double centre;
	double sigma;
	/* SPC_LIMITS_FIXED_EXPLICIT: limits of the primary chart, lcl < cl < ucl. */
	double lcl;
	double cl;
	double ucl;
	/* EWMA: weight of the newest point, 0 < lambda <= 1, and width L of the limits in
	 * standard deviations of the EWMA statistic, L > 0. */
	double ewma_lambda;
	double ewma_width;
	/* CUSUM: reference value k and decision interval h, both in standard deviations of the
	 * plotted value (sigma / sqrt(subgroup_size)); k >= 0, h > 0. */
	double cusum_k;
	double cusum_h;
};

/* Checks a configuration. Returns SPC_OK, or SPC_ERR_INVALID with *ret_problem (if not NULL)
 * set to a static sentence naming the offending field. */
int spc_chart_config_check(const struct spc_chart_config *config, const char **ret_problem);

/* True when two configurations describe the same chart (field by field, not bytes). */
bool spc_chart_config_is_equal(const struct spc_chart_config *a, const struct spc_chart_config *b);

/* One observation. */
struct spc_observation {
	/* Variables charts, EWMA and CUSUM: the measured value. Unused by attribute charts. */
	double value;
	/* Attribute charts: nonconforming units (p, np) or nonconformities (c, u), >= 0. */
	double count;
	/* p, np: units inspected (>= 1, count <= size). u: inspection units (> 0). c: unused. */
	double size;
};

/* One plotted point of one chart. Limits are NAN where they do not exist. */
struct spc_point {
	double value;
	double lcl;
	double cl;
	double ucl;
};

/* A rule that fired at the point just plotted, with the points that make the pattern. */
struct spc_violation {
	enum spc_rule rule;
	uint64_t first_point; /* first point of the pattern (1-based) */
	uint64_t last_point;  /* last point of the pattern: always the point just plotted */
};

enum spc_phase {
	SPC_PHASE_BASELINE = 1,   /* phase I: collecting points, limits unknown */
	SPC_PHASE_MONITORING = 2, /* limits known (fixed, or frozen after phase I) */
};

/* What one observation did. */
struct spc_result {
	/* false when the observation only went into an unfinished subgroup: nothing else in
	 * the result is meaningful then. */
	bool plotted;
	/* true when the point was judged against limits (false during phase I). */
	bool judged;
	uint64_t point; /* number of this point, from 1 */
	/* Primary chart: individual, subgroup mean, p, np, c, u, EWMA statistic, or C+. */
	struct spc_point primary;
	/* Secondary chart: moving range (I-MR, from point 2), range (X-bar/R), standard
	 * deviation (X-bar/S), or C- (CUSUM, as a non-negative sum against the same H). */
	bool has_secondary;
	struct spc_point secondary;
	uint32_t violation_count;
	struct spc_violation violations[SPC_MAX_VIOLATIONS]; /* in rule number order */
};

/* Frozen chart parameters: the process centre and sigma (of one observation; 0 for attribute
 * charts) the limits are computed from, or the explicit limits. */
struct spc_chart_limits {
	double centre;
	double sigma;
	double lcl; /* explicit limits; NAN unless SPC_LIMITS_FIXED_EXPLICIT */
	double cl;
	double ucl;
};

/* Phase I sums. Means, average ranges, etc. are computed from these when the limits freeze. */
struct spc_baseline_sums {
	uint64_t points;      /* points collected */
	double sum_statistic; /* sum of individuals or subgroup means */
	double sum_spread;    /* sum of moving ranges, ranges or standard deviations */
	uint64_t spreads;     /* number of terms in sum_spread */
	double sum_count;     /* attribute charts: sum of counts */
	double sum_size;      /* attribute charts: sum of sizes */
};

#define SPC_STATE_MAGIC   UINT32_C(0x43545350) /* "PSTC" in little-endian memory */
#define SPC_STATE_VERSION UINT32_C(1)

/* Everything a chart remembers. Plain old data: copy it, store it as bytes, restore it and
 * call spc_state_validate(). Only the engine writes its fields; callers read them. */
struct spc_state {
	uint32_t magic;   /* SPC_STATE_MAGIC */
	uint32_t version; /* SPC_STATE_VERSION */
	uint32_t size;    /* sizeof(struct spc_state) of the build that wrote it */
	uint32_t phase;   /* enum spc_phase */
	struct spc_chart_config config;
	uint64_t observations; /* observations accepted */
	uint64_t points;       /* points plotted; the next point is points + 1 */
	/* Subgroup being collected (X-bar charts, EWMA/CUSUM of means). */
	uint32_t subgroup_fill;
	uint32_t has_previous; /* I-MR: 1 once a previous individual exists */
	double subgroup_values[SPC_SUBGROUP_MAX];
	double previous_value; /* I-MR: last individual, for the moving range */
	struct spc_baseline_sums baseline;
	struct spc_chart_limits limits; /* valid in SPC_PHASE_MONITORING */
	/* EWMA statistic and the number of points it has absorbed (for time-varying limits). */
	double ewma;
	uint64_t ewma_points;
	/* CUSUM sums (in the units of the plotted value) and the point where each last left 0. */
	double cusum_upper;
	double cusum_lower;
	uint64_t cusum_upper_start;
	uint64_t cusum_lower_start;
	/* Run-rule history of judged points: standardised distance from the centre line (in
	 * sigma of the plotted statistic), a ring of SPC_RULE_HISTORY entries, newest at
	 * history_head - 1. */
	uint32_t history_count;
	uint32_t history_head;
	double history_z[SPC_RULE_HISTORY];
};

/* Starts a chart: checks the config and sets *ret_state to an empty state (all bytes defined,
 * so equal histories give equal bytes). Returns SPC_OK, or SPC_ERR_INVALID with
 * *ret_problem (if not NULL) naming the field; *ret_state is untouched on failure. */
int spc_state_init(struct spc_state *ret_state, const struct spc_chart_config *config,
                   const char **ret_problem);

/* Checks a state restored from storage: magic, version, size, config and every index and
 * counter in range. Returns SPC_OK or SPC_ERR_CORRUPT. Call it before spc_chart_add() on
 * any state that did not come straight from spc_state_init(). */
int spc_state_validate(const struct spc_state *state);

/* Adds one observation. Fills *ret_result (plotted or not). Returns SPC_OK, or
 * SPC_ERR_INVALID for a non-finite value or an impossible count/size, in which case
 * neither the state nor *ret_result changes. Constant time, no allocation. */
int spc_chart_add(struct spc_state *state, const struct spc_observation *observation,
                  struct spc_result *ret_result);

/* Limits of the primary chart (and secondary, when it has one) for a hypothetical next point
 * of the given size (attribute charts; ignored otherwise), without changing the state.
 * Returns SPC_OK, or SPC_ERR_INVALID while phase I is still collecting. EWMA time-varying
 * limits are those of the next point. */
int spc_chart_next_limits(const struct spc_state *state, double size, struct spc_point *ret_primary,
                          struct spc_point *ret_secondary);

/* Which control chart constants a chart uses (services/spc/README.md, "Constants").
 * SPC_CONSTANTS_EXACT: d2, d3 of the range integrated to 6 decimals, c4 from the gamma
 * function, the other factors computed from them (the default: what the engine always did).
 * SPC_CONSTANTS_TABLE: every factor as printed to 3 decimals (c4 to 4) in Montgomery,
 * Introduction to Statistical Quality Control, Appendix VI (= ASTM E2587 / ASTM STP 15D);
 * the limits are then computed the textbook way, CL +- A2 R-bar, D3 R-bar, D4 R-bar,
 * CL +- A3 S-bar, B3 S-bar, B4 S-bar, CL +- 3 MR-bar / 1.128, D4(2) MR-bar, and reproduce a
 * book's printed limits. The numbers are stored (spc_chart_config.constants). */
enum spc_constants_set {
	SPC_CONSTANTS_EXACT = 0,
	SPC_CONSTANTS_TABLE = 1,
};

/* "exact" or "table", as spc-gate's spc_chart.constants and ct-spc-analyze's --constants
 * spell it; "unknown" for anything else. */
const char *spc_constants_set_name(int set);

/* The set whose spc_constants_set_name() is `name` (exact, case-sensitive). Returns SPC_OK,
 * or SPC_ERR_INVALID (*ret_set untouched) for any other text. */
int spc_constants_set_from_name(const char *name, enum spc_constants_set *ret_set);

/* Control chart constants for subgroup size n = 2..25. Exact set: d2 and d3 are tabulated to 6
 * decimals (they round to ASTM STP 15D / Montgomery, Introduction to Statistical Quality
 * Control, Appendix VI); c4 is computed from its gamma-function definition; the others follow
 * from their textbook definitions: A2 = 3/(d2 sqrt n), A3 = 3/(c4 sqrt n),
 * D3 = max(0, 1 - 3 d3/d2), D4 = 1 + 3 d3/d2, B3 = max(0, 1 - 3 sqrt(1 - c4^2)/c4),
 * B4 = 1 + 3 sqrt(1 - c4^2)/c4. Table set: every field as printed in Appendix VI. */
struct spc_constants {
	double d2;
	double d3;
	double c4;
	double a2;
	double a3;
	double b3;
	double b4;
	double d3_factor; /* D3 (lower range chart factor); d3 above is the range s.d. factor */
	double d4_factor; /* D4 */
};

/* Fills *ret for subgroup size n, exact set. Returns SPC_OK, or SPC_ERR_INVALID unless
 * 2 <= n <= 25. */
int spc_constants_get(unsigned n, struct spc_constants *ret);

/* Fills *ret for subgroup size n from the given set. Returns SPC_OK, or SPC_ERR_INVALID
 * unless 2 <= n <= 25 and the set is known. */
int spc_constants_get_set(unsigned n, enum spc_constants_set set, struct spc_constants *ret);

/* Capability. A number that does not exist for the given specification (Cp with one limit,
 * anything with sigma <= 0) has defined = false and value = NAN; JSON shows it as null. */
struct spc_index {
	bool defined;
	double value;
};

struct spc_spec {
	bool has_lsl;
	bool has_usl;
	bool has_target;
	double lsl;
	double usl;
	double target;
};

/* Expected or observed fraction outside the specification, in parts per million. A side
 * without its limit is undefined; total is the sum of the defined sides. */
struct spc_ppm {
	struct spc_index below; /* below LSL */
	struct spc_index above; /* above USL */
	struct spc_index total; /* below + above */
};

/* Formulas and sources: services/spc/README.md, "Capability". */
struct spc_capability {
	struct spc_index cp;  /* (USL - LSL) / (6 sigma_within), two-sided only */
	struct spc_index cpl; /* (mean - LSL) / (3 sigma_within) */
	struct spc_index cpu; /* (USL - mean) / (3 sigma_within) */
	struct spc_index cpk; /* min of the defined ones of cpl, cpu */
	/* (USL - LSL) / (6 sqrt(sigma_within^2 + (mean - T)^2)), two-sided only; T is the
	 * target, or the mid-point of the specification when no target is given. */
	struct spc_index cpm;
	struct spc_index pp;  /* as cp with sigma_overall */
	struct spc_index ppl; /* as cpl with sigma_overall */
	struct spc_index ppu; /* as cpu with sigma_overall */
	struct spc_index ppk; /* min of the defined ones of ppl, ppu */
	struct spc_index ppm; /* as cpm with sigma_overall */
	/* Normal model: below = 1e6 Phi((LSL - mean) / sigma), above = 1e6 (1 - Phi((USL -
	 * mean) / sigma)), with sigma_within and sigma_overall. Undefined where the sigma is. */
	struct spc_ppm expected_within;
	struct spc_ppm expected_overall;
};

/* Computes capability indices from the process mean, the within-subgroup sigma (the chart's
 * estimate: MR-bar/d2, R-bar/d2 or S-bar/c4) and the overall sigma (sample standard deviation
 * of all observations); NAN for a sigma leaves its indices and expected PPM undefined.
 * Returns SPC_OK, or SPC_ERR_INVALID when the spec has neither limit, has LSL >= USL, or a
 * number is not finite; *ret is untouched on failure. */
int spc_capability_compute(const struct spc_spec *spec, double mean, double sigma_within,
                           double sigma_overall, struct spc_capability *ret);

/* Observed PPM: 1e6 x (values < LSL) / count and 1e6 x (values > USL) / count; a value on a
 * limit is inside the specification. Returns SPC_OK, or SPC_ERR_INVALID when count is 0, a
 * value is not finite, or the spec is invalid as for spc_capability_compute(); *ret is
 * untouched on failure. */
int spc_capability_observed(const struct spc_spec *spec, const double *values, size_t count,
                            struct spc_ppm *ret);

/* Sample mean and standard deviation (n - 1 denominator) of count values, two-pass.
 * Returns SPC_OK, or SPC_ERR_INVALID when count < 2 or a value is not finite. */
int spc_mean_sd(const double *values, size_t count, double *ret_mean, double *ret_sd);

#endif
