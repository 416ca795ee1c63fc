/* spc_profile: golden-profile comparison for curves (formation V(t), weld power P(t), ...).
 *
 * Every curve, golden or new, is first resampled onto a fixed grid of K points by linear
 * interpolation, so curves of different lengths and time bases become comparable:
 *   normalized axis: the curve's own x range (or its sample index when no x is given) is mapped
 *                    onto [0, 1] and the grid is u_k = k / (K - 1);
 *   absolute axis:   the grid is x_k = x_min + k (x_max - x_min) / (K - 1) in the curve's units,
 *                    and a curve must cover [x_min, x_max].
 * The envelope is learned from N golden curves: per grid point the mean m_k and the sample
 * standard deviation s_k (Welford, divisor N - 1). The band is m_k +- h_k with
 *   h_k = max(z s_k, h_min),  and the scale of point k is  sigma_k = h_k / z = max(s_k, h_min / z),
 * so a golden set that repeats perfectly still has a band of half-width h_min (> 0) instead of
 * zero. A new curve y is scored by its standardized deviations d_k = (y_k - m_k) / sigma_k:
 *   rms              = sqrt( (1/K) sum d_k^2 )
 *   max_abs          = max |d_k|, at worst_index (first such k)
 *   outside_fraction = #{k : |y_k - m_k| > h_k} / K   (on the band edge counts as inside)
 * and fails when rms > max_rms, max_abs > max_abs or outside_fraction > max_outside.
 *
 * The state is fixed-size plain old data (SPC_PROFILE_MAX_GRID points), no pointers, so the
 * service can persist it as bytes; scoring reads it only. No allocation anywhere. */
#ifndef SPC_PROFILE_H
#define SPC_PROFILE_H

#include <stdbool.h>
#include <stdint.h>

#define SPC_PROFILE_MAX_GRID 512

/* Name of the chart kind (spc-gate's spc_chart.kind) and the defaults where a definition leaves
 * a parameter out: a normalised grid of 128 points; a curve fails with more than 10 % of its
 * points beyond z = 3 golden standard deviations, an RMS deviation above 2.5 or one point
 * beyond 6; the band's minimum half-width only keeps it from being 0. */
#define SPC_PROFILE_KIND_NAME              "profile"
#define SPC_PROFILE_DEFAULT_GRID           128
#define SPC_PROFILE_DEFAULT_Z              3.0
#define SPC_PROFILE_DEFAULT_MAX_RMS        2.5
#define SPC_PROFILE_DEFAULT_MAX_ABS        6.0
#define SPC_PROFILE_DEFAULT_MAX_OUTSIDE    0.10
#define SPC_PROFILE_DEFAULT_MIN_HALF_WIDTH 1e-6

/* Error codes. 0 is success; never renumbered. General codes carry the numbers of the project's
 * enum ct_err (ct_error.h) as spc.h does; profile-specific ones sit at 201+. */
enum spc_profile_err {
	SPC_PROFILE_OK = 0,
	SPC_PROFILE_ERR_INVALID = 2,   /* CT_ERR_INVALID: bad config or argument, NaN/inf, x not
	                                  strictly increasing */
	SPC_PROFILE_ERR_CORRUPT = 12,  /* CT_ERR_CORRUPT: restored state fails its check */
	SPC_PROFILE_ERR_TOO_FEW = 201, /* a curve with fewer than 2 points */
	SPC_PROFILE_ERR_RANGE = 202,   /* a curve does not cover the absolute grid span */
	SPC_PROFILE_ERR_STAGE = 203,   /* scoring before the envelope is learned, or a golden
	                                  curve after it is frozen */
};

/* Short static text for a code; never NULL. */
const char *spc_profile_strerror(int err);

enum spc_profile_axis {
	SPC_PROFILE_AXIS_NORMALIZED = 1,
	SPC_PROFILE_AXIS_ABSOLUTE = 2,
};

struct spc_profile_config {
	int32_t grid_size;     /* K: 2..SPC_PROFILE_MAX_GRID (64..512 in practice) */
	int32_t golden_count;  /* N: golden curves learned before freezing, >= 2 */
	int32_t axis;          /* enum spc_profile_axis */
	int32_t reserved;      /* 0; explicit padding so the struct has no hidden bytes */
	double x_min, x_max;   /* absolute axis: grid span, x_min < x_max (ignored otherwise) */
	double z;              /* band half-width in golden standard deviations, > 0 */
	double min_half_width; /* h_min: floor of the band half-width in y units, > 0 */
	double max_rms;        /* fail above this rms, > 0 */
	double max_abs;        /* fail above this max |d_k|, > 0 */
	double max_outside;    /* fail above this fraction of points outside the band, 0..1 */
};

/* Checks a config. Returns SPC_PROFILE_OK or SPC_PROFILE_ERR_INVALID. */
int spc_profile_config_check(const struct spc_profile_config *cfg);

/* Resamples the curve (x[i], y[i]), i < len, onto the grid of cfg: ret_grid[k], k < grid_size.
 * x may be NULL on the normalized axis (samples taken as equally spaced); it is required on the
 * absolute axis. x must be strictly increasing. Returns SPC_PROFILE_ERR_INVALID (bad config,
 * NULL, NaN/inf, x not increasing), SPC_PROFILE_ERR_TOO_FEW (len < 2) or SPC_PROFILE_ERR_RANGE;
 * ret_grid is untouched on failure. */
int spc_profile_resample(const struct spc_profile_config *cfg, const double *x, const double *y,
                         int len, double *ret_grid);

#define SPC_PROFILE_STATE_MAGIC   0x46525053u /* "SPRF" little-endian */
#define SPC_PROFILE_STATE_VERSION 1u

enum spc_profile_stage {
	SPC_PROFILE_STAGE_LEARNING = 1, /* collecting golden curves */
	SPC_PROFILE_STAGE_FROZEN = 2,   /* envelope fixed, scoring */
};

/* Persistable envelope: fixed size, no pointers, host byte order. Only the first grid_size
 * entries of the arrays are used; the rest stay zero. */
struct spc_profile_state {
	uint32_t magic;
	uint32_t version;
	uint32_t size; /* sizeof(struct spc_profile_state) when written */
	int32_t stage; /* enum spc_profile_stage */
	struct spc_profile_config config;
	int32_t golden_seen;
	int32_t reserved;
	double mean[SPC_PROFILE_MAX_GRID];  /* m_k (running while learning) */
	double m2[SPC_PROFILE_MAX_GRID];    /* Welford sum of squared deviations */
	double scale[SPC_PROFILE_MAX_GRID]; /* sigma_k, set when frozen */
};

/* Reasons a curve failed, as bits of spc_profile_score.failed. */
#define SPC_PROFILE_FAIL_RMS     (1u << 0)
#define SPC_PROFILE_FAIL_MAX_ABS (1u << 1)
#define SPC_PROFILE_FAIL_OUTSIDE (1u << 2)

struct spc_profile_score {
	double rms;
	double max_abs;
	double outside_fraction;
	int32_t outside_count;
	int32_t worst_index; /* grid index of max |d_k| */
	double worst_x;      /* its grid position: in [0, 1] or in x units */
	bool pass;
	uint32_t failed; /* SPC_PROFILE_FAIL_* bits; 0 when pass */
};

/* Starts learning. Returns SPC_PROFILE_OK or SPC_PROFILE_ERR_INVALID (st untouched). */
int spc_profile_init(struct spc_profile_state *st, const struct spc_profile_config *cfg);

/* Adds one golden curve (x may be NULL as for spc_profile_resample). The N-th curve freezes the
 * envelope; *ret_frozen (may be NULL) says whether this call did. Returns the errors of
 * spc_profile_resample, or SPC_PROFILE_ERR_STAGE when already frozen; st untouched on failure. */
int spc_profile_add_golden(struct spc_profile_state *st, const double *x, const double *y, int len,
                           bool *ret_frozen);

/* Scores a new curve against the frozen envelope. Reads st only. Returns the errors of
 * spc_profile_resample, or SPC_PROFILE_ERR_STAGE while still learning (including before any
 * golden curve). ret is written only on success. */
int spc_profile_score(const struct spc_profile_state *st, const double *x, const double *y, int len,
                      struct spc_profile_score *ret);

/* The frozen band for display: ret_mean[k], ret_lower[k] = m_k - h_k, ret_upper[k] = m_k + h_k
 * for k < grid_size (any output may be NULL). Returns SPC_PROFILE_ERR_STAGE while learning. */
int spc_profile_band(const struct spc_profile_state *st, double *ret_mean, double *ret_lower,
                     double *ret_upper);

/* Checks a state restored from bytes. Returns SPC_PROFILE_OK or SPC_PROFILE_ERR_CORRUPT. */
int spc_profile_state_check(const struct spc_profile_state *st);

#endif
