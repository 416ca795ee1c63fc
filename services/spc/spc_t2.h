/* spc_t2: Hotelling T2 control chart for a group of p correlated characteristics.
 *
 * Notation (NIST/SEMATECH e-Handbook of Statistical Methods, section 6.5.4.3 "Hotelling's T
 * squared"; Montgomery, Introduction to Statistical Quality Control, chapter "Multivariate
 * Process Monitoring and Control"): p characteristics, subgroups of size n (n = 1 for
 * individual observations), m baseline (phase I) subgroups or observations.
 *
 * Estimators from the baseline:
 *   n = 1: mean vector xbar and sample covariance S = sum (x_i - xbar)(x_i - xbar)' / (m - 1),
 *          accumulated with Welford's co-moment update (no catastrophic cancellation).
 *   n > 1: grand mean xbarbar of the m subgroup means and pooled within-subgroup covariance
 *          S = sum_i sum_j (x_ij - xbar_i)(x_ij - xbar_i)' / (m (n - 1)), the average of the m
 *          subgroup covariance matrices (Montgomery's S-bar).
 * Statistic: T2 = n (xbar - mu)' S^-1 (xbar - mu), S^-1 from a Cholesky factor of the
 * correlation matrix (scale-free conditioning check, see spc_t2_invert).
 *
 * Upper control limits (the lower limit is 0), F_{a; d1, d2} and B_{a; a1, a2} the upper-a points
 * of the F and Beta distributions:
 *   phase I,  n > 1:  UCL = p (m-1)(n-1) / (m n - m - p + 1) * F_{a; p, mn-m-p+1}
 *   phase II, n > 1:  UCL = p (m+1)(n-1) / (m n - m - p + 1) * F_{a; p, mn-m-p+1}
 *                     (NIST 6.5.4.3.1 and 6.5.4.3.2; Montgomery eqs. for the T2 chart of
 *                      subgroup means, phase I and phase II)
 *   phase I,  n = 1:  UCL = (m-1)^2 / m * B_{a; p/2, (m-p-1)/2}
 *                     (Tracy, Young & Mason 1992, J. Quality Technology 24(2):88-95;
 *                      NIST 6.5.4.3.3; Montgomery, individual observations, phase I)
 *   phase II, n = 1:  UCL = p (m+1)(m-1) / (m^2 - m p) * F_{a; p, m-p}
 *                     (NIST 6.5.4.3.4; Montgomery, individual observations, phase II)
 *   known mu, Sigma:  UCL = chi2_{a; p}  (Montgomery, "the chi-square control chart")
 * The streaming state plots future points, so it freezes the phase II limit (or chi-square when
 * the parameters are given as known); the phase I limit is for the retrospective look at the
 * baseline itself (spc_t2_phase1).
 *
 * Everything here is pure C on caller memory: no allocation, no I/O, no globals. */
#ifndef SPC_T2_H
#define SPC_T2_H

#include <stdbool.h>
#include <stdint.h>

#define SPC_T2_MAX_P 10

/* Name of the chart kind (spc-gate's spc_chart.kind) and the default false-alarm probability
 * per point: 0.0027, that of 3-sigma Shewhart limits. */
#define SPC_T2_KIND_NAME     "t2"
#define SPC_T2_DEFAULT_ALPHA 0.0027

/* Error codes of the T2 module (and of spc_t2_dist.h). 0 is success; never renumbered. The
 * general codes carry the numbers of the project's enum ct_err (ct_error.h), as spc.h does, so a
 * service may hand them to ct_strerror(); the T2-specific ones sit at 101+ outside that range. */
enum spc_t2_err {
	SPC_T2_OK = 0,
	SPC_T2_ERR_INVALID = 2,          /* CT_ERR_INVALID: argument out of range, NaN or inf */
	SPC_T2_ERR_CORRUPT = 12,         /* CT_ERR_CORRUPT: restored state fails its check */
	SPC_T2_ERR_SINGULAR = 101,       /* covariance not positive definite or ill-conditioned */
	SPC_T2_ERR_TOO_FEW = 102,        /* too little baseline for the limit (e.g. m <= p) */
	SPC_T2_ERR_NO_CONVERGENCE = 103, /* a special function did not converge */
};

/* Short static text for a code; never NULL. */
const char *spc_t2_strerror(int err);

/* Which control limit formula (see the header comment). */
enum spc_t2_limit {
	SPC_T2_LIMIT_PHASE1 = 1, /* retrospective: the baseline judged against itself */
	SPC_T2_LIMIT_PHASE2 = 2, /* future points against a frozen baseline estimate */
	SPC_T2_LIMIT_KNOWN = 3,  /* mean and covariance known exactly: chi-square */
};

/* Upper control limit for p characteristics, subgroup size n >= 1, m baseline subgroups (or
 * observations when n = 1; m is unused for SPC_T2_LIMIT_KNOWN) and false-alarm probability
 * alpha per plotted point (0 < alpha < 1; 0.0027 matches 3-sigma Shewhart charts).
 * Returns SPC_T2_OK, SPC_T2_ERR_INVALID, SPC_T2_ERR_TOO_FEW when a degree of freedom would be
 * <= 0 (n = 1 phase I needs m > p + 1; n = 1 phase II needs m > p; n > 1 needs
 * mn - m - p + 1 > 0), or SPC_T2_ERR_NO_CONVERGENCE. */
int spc_t2_ucl(enum spc_t2_limit limit, int p, int n, int m, double alpha, double *ret_ucl);

/* Inverts a p x p covariance matrix (row-major). The matrix is scaled to a correlation matrix
 * R = D^-1/2 S D^-1/2 first, so the test does not depend on the units of the characteristics,
 * then factored R = L L'. A squared pivot L_jj^2 is the variance of standardized characteristic j
 * left over after regressing it on the ones before it; below SPC_T2_MIN_PIVOT that characteristic
 * is (numerically) a linear combination of the others and cond(R) >= 1 / SPC_T2_MIN_PIVOT, so T2
 * would amplify rounding noise. Returns SPC_T2_ERR_INVALID for a non-finite entry, or
 * SPC_T2_ERR_SINGULAR when a variance is not positive, the matrix is not symmetric, or a squared
 * pivot is below SPC_T2_MIN_PIVOT; ret_inv is untouched on failure. */
#define SPC_T2_MIN_PIVOT 1e-10
int spc_t2_invert(const double *cov, int p, double *ret_inv);

/* T2 = n (xbar - mean)' inv (xbar - mean) for a point or subgroup mean xbar. Returns
 * SPC_T2_ERR_INVALID on a non-finite input or result. */
int spc_t2_stat(const double *xbar, const double *mean, const double *inv, int p, int n,
                double *ret_t2);

/* Baseline estimates from m subgroups of n observations of p characteristics, stored
 * x[(i * n + j) * p + k] (subgroup i, observation j, characteristic k). n = 1: mean and sample
 * covariance; n > 1: grand mean and pooled within-subgroup covariance. Needs m >= 2 when n = 1
 * (else SPC_T2_ERR_TOO_FEW). */
int spc_t2_estimate(const double *x, int m, int n, int p, double *ret_mean, double *ret_cov);

/* Phase I (retrospective) chart of a baseline laid out as for spc_t2_estimate: ret_t2[i] is the
 * T2 of point or subgroup i against the estimates from all m, ret_ucl the phase I limit. */
int spc_t2_phase1(const double *x, int m, int n, int p, double alpha, double *ret_t2,
                  double *ret_ucl);

/* ---- Streaming form for the live service ---- */

/* Configuration of one chart. */
struct spc_t2_config {
	int32_t p;              /* characteristics in the group, 1..SPC_T2_MAX_P */
	int32_t subgroup_size;  /* n: 1 = individuals chart */
	int32_t baseline_count; /* m: baseline points (n = 1) or subgroups (n > 1) to learn */
	double alpha;           /* false-alarm probability per plotted point */
};

#define SPC_T2_STATE_MAGIC   0x32544353u /* "SCT2" little-endian */
#define SPC_T2_STATE_VERSION 1u

enum spc_t2_stage {
	SPC_T2_STAGE_LEARNING = 1,   /* accumulating the baseline, nothing plotted */
	SPC_T2_STAGE_MONITORING = 2, /* mean, inverse covariance and UCL frozen */
};

/* The whole chart as plain old data: no pointers, fixed size, so the service can write it as
 * bytes and restore it after a restart (check it with spc_t2_state_check first). Field meaning
 * is fixed by `version`; a new layout gets a new version. Host byte order. */
struct spc_t2_state {
	uint32_t magic;
	uint32_t version;
	uint32_t size; /* sizeof(struct spc_t2_state) when written */
	int32_t stage; /* enum spc_t2_stage */
	struct spc_t2_config config;
	int32_t limit; /* enum spc_t2_limit frozen with the UCL */

	/* Subgroup being filled (n > 1): Welford mean and co-moment of its observations. */
	int32_t sub_count;
	double sub_mean[SPC_T2_MAX_P];
	double sub_comoment[SPC_T2_MAX_P * SPC_T2_MAX_P];

	/* Baseline accumulators. n = 1: Welford mean and co-moment of the observations.
	 * n > 1: running mean of subgroup means and the sum of within-subgroup co-moments. */
	int64_t base_count;
	double base_mean[SPC_T2_MAX_P];
	double base_comoment[SPC_T2_MAX_P * SPC_T2_MAX_P];

	/* Frozen at the end of the baseline (or given). */
	double mean[SPC_T2_MAX_P];
	double inv_cov[SPC_T2_MAX_P * SPC_T2_MAX_P];
	double ucl;
	int64_t plotted; /* points plotted since freezing */
	int64_t signals; /* of which above the UCL */
};

/* What one spc_t2_add did. t2 and ucl are meaningful only when plotted. */
struct spc_t2_result {
	bool plotted; /* a point (n = 1) or a completed subgroup (n > 1) was charted */
	bool signal;  /* plotted and t2 > ucl */
	bool frozen;  /* this observation completed the baseline; monitoring starts next */
	double t2;
	double ucl;
};

/* Starts a chart that learns its baseline from the first config.baseline_count points or
 * subgroups, then freezes the phase II limit. Returns SPC_T2_ERR_INVALID for a bad config or
 * SPC_T2_ERR_TOO_FEW when m is too small for the phase II limit; st is untouched on failure. */
int spc_t2_init(struct spc_t2_state *st, const struct spc_t2_config *cfg);

/* Starts a chart that monitors at once against a given mean and covariance (p x p, row-major).
 * config.baseline_count = 0 means the parameters are known exactly (chi-square limit); > 0 means
 * they were estimated offline from that many points or subgroups (phase II limit). Returns
 * SPC_T2_ERR_INVALID, SPC_T2_ERR_TOO_FEW or SPC_T2_ERR_SINGULAR; st untouched on failure. */
int spc_t2_init_fixed(struct spc_t2_state *st, const struct spc_t2_config *cfg, const double *mean,
                      const double *cov);

/* Adds one observation vector x[0..p-1]. While learning it feeds the baseline; the observation
 * that completes it freezes mean, inverse covariance and UCL (ret->frozen). While monitoring it
 * fills the current subgroup and plots when the subgroup (or the single point) is complete.
 * No allocation. Returns SPC_T2_ERR_INVALID for a non-finite x (st untouched), or
 * SPC_T2_ERR_SINGULAR when the completed baseline's covariance cannot be inverted: the baseline
 * is then discarded and learning starts again (st stays valid). ret is written only on success. */
int spc_t2_add(struct spc_t2_state *st, const double *x, struct spc_t2_result *ret);

/* Checks a state restored from bytes: magic, version, size, stage, config ranges, counters.
 * Returns SPC_T2_OK or SPC_T2_ERR_CORRUPT. */
int spc_t2_state_check(const struct spc_t2_state *st);

#endif
