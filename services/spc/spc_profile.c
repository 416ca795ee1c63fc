/* spc_profile: resampling, golden envelope (Welford per grid point) and curve scoring.
 *
 * Formulas are in spc_profile.h. Resampling is one forward sweep over the curve, as both the
 * curve's x and the grid increase, so it costs O(len + K). The grid buffer of a curve being
 * learned or scored is on the stack (SPC_PROFILE_MAX_GRID doubles, 4 KiB): no allocation. */
#include "spc_profile.h"

#include <math.h>
#include <string.h>

const char *spc_profile_strerror(int err)
{
	switch (err) {
	case SPC_PROFILE_OK:
		return "success";
	case SPC_PROFILE_ERR_INVALID:
		return "invalid argument, non-finite value or x not strictly increasing";
	case SPC_PROFILE_ERR_CORRUPT:
		return "stored profile state failed its check";
	case SPC_PROFILE_ERR_TOO_FEW:
		return "curve has fewer than 2 points";
	case SPC_PROFILE_ERR_RANGE:
		return "curve does not cover the grid span";
	case SPC_PROFILE_ERR_STAGE:
		return "operation not valid before/after the golden envelope is frozen";
	}
	return "unknown profile error";
}

int spc_profile_config_check(const struct spc_profile_config *cfg)
{
	if (cfg == NULL)
		return SPC_PROFILE_ERR_INVALID;
	if (cfg->grid_size < 2 || cfg->grid_size > SPC_PROFILE_MAX_GRID || cfg->golden_count < 2)
		return SPC_PROFILE_ERR_INVALID;
	if (cfg->axis == SPC_PROFILE_AXIS_ABSOLUTE) {
		if (!isfinite(cfg->x_min) || !isfinite(cfg->x_max) || !(cfg->x_min < cfg->x_max))
			return SPC_PROFILE_ERR_INVALID;
	} else if (cfg->axis != SPC_PROFILE_AXIS_NORMALIZED) {
		return SPC_PROFILE_ERR_INVALID;
	}
	/* The comparisons are written so that NaN fails them. */
	if (!(cfg->z > 0.0) || !isfinite(cfg->z) || !(cfg->min_half_width > 0.0) ||
	    !isfinite(cfg->min_half_width) || !(cfg->max_rms > 0.0) || !(cfg->max_abs > 0.0) ||
	    !(cfg->max_outside >= 0.0 && cfg->max_outside <= 1.0))
		return SPC_PROFILE_ERR_INVALID;
	return SPC_PROFILE_OK;
}

/* Grid position k in the curve's own coordinate (normalized: [0, 1]; absolute: x units). The
 * last point is set exactly so rounding cannot push it past the curve's end. */
static double grid_at(const struct spc_profile_config *cfg, int k)
{
	int last = cfg->grid_size - 1;
	double lo = 0.0, hi = 1.0;

	if (cfg->axis == SPC_PROFILE_AXIS_ABSOLUTE) {
		lo = cfg->x_min;
		hi = cfg->x_max;
	}
	if (k == last)
		return hi;
	return lo + (hi - lo) * ((double)k / (double)last);
}

/* x of sample i in the curve's coordinate: normalized to [0, 1] or as given. */
static double curve_x(const struct spc_profile_config *cfg, const double *x, int len, int i)
{
	if (x == NULL)
		return i == len - 1 ? 1.0 : (double)i / (double)(len - 1);
	if (cfg->axis == SPC_PROFILE_AXIS_ABSOLUTE)
		return x[i];
	if (i == len - 1)
		return 1.0;
	return (x[i] - x[0]) / (x[len - 1] - x[0]);
}

int spc_profile_resample(const struct spc_profile_config *cfg, const double *x, const double *y,
                         int len, double *ret_grid)
{
	double out[SPC_PROFILE_MAX_GRID];

	if (spc_profile_config_check(cfg) != SPC_PROFILE_OK || y == NULL || ret_grid == NULL)
		return SPC_PROFILE_ERR_INVALID;
	if (x == NULL && cfg->axis == SPC_PROFILE_AXIS_ABSOLUTE)
		return SPC_PROFILE_ERR_INVALID;
	if (len < 2)
		return SPC_PROFILE_ERR_TOO_FEW;
	for (int i = 0; i < len; i++) {
		if (!isfinite(y[i]) || (x != NULL && !isfinite(x[i])))
			return SPC_PROFILE_ERR_INVALID;
		if (x != NULL && i > 0 && !(x[i] > x[i - 1]))
			return SPC_PROFILE_ERR_INVALID;
	}
	if (cfg->axis == SPC_PROFILE_AXIS_ABSOLUTE &&
	    (x[0] > cfg->x_min || x[len - 1] < cfg->x_max))
		return SPC_PROFILE_ERR_RANGE;

	/* Sweep: segment j = [u_j, u_j+1] holds grid point g; both sequences increase. */
	int j = 0;
	double u0 = curve_x(cfg, x, len, 0), u1 = curve_x(cfg, x, len, 1);
	for (int k = 0; k < cfg->grid_size; k++) {
		double g = grid_at(cfg, k);
		while (g > u1 && j + 2 < len) {
			j++;
			u0 = u1;
			u1 = curve_x(cfg, x, len, j + 1);
		}
		double t = (g - u0) / (u1 - u0);
		out[k] = y[j] + (y[j + 1] - y[j]) * t;
	}
	memcpy(ret_grid, out, sizeof(double) * (size_t)cfg->grid_size);
	return SPC_PROFILE_OK;
}

int spc_profile_init(struct spc_profile_state *st, const struct spc_profile_config *cfg)
{
	if (st == NULL || spc_profile_config_check(cfg) != SPC_PROFILE_OK)
		return SPC_PROFILE_ERR_INVALID;
	memset(st, 0, sizeof(*st));
	st->magic = SPC_PROFILE_STATE_MAGIC;
	st->version = SPC_PROFILE_STATE_VERSION;
	st->size = (uint32_t)sizeof(*st);
	st->stage = SPC_PROFILE_STAGE_LEARNING;
	st->config = *cfg;
	return SPC_PROFILE_OK;
}

int spc_profile_add_golden(struct spc_profile_state *st, const double *x, const double *y, int len,
                           bool *ret_frozen)
{
	double grid[SPC_PROFILE_MAX_GRID];

	if (st == NULL)
		return SPC_PROFILE_ERR_INVALID;
	if (st->stage != SPC_PROFILE_STAGE_LEARNING)
		return SPC_PROFILE_ERR_STAGE;
	int rc = spc_profile_resample(&st->config, x, y, len, grid);
	if (rc != SPC_PROFILE_OK)
		return rc;

	const struct spc_profile_config *cfg = &st->config;
	st->golden_seen += 1;
	for (int k = 0; k < cfg->grid_size; k++) {
		double delta = grid[k] - st->mean[k];
		st->mean[k] += delta / st->golden_seen;
		st->m2[k] += delta * (grid[k] - st->mean[k]);
	}
	bool frozen = st->golden_seen >= cfg->golden_count;
	if (frozen) {
		double floor_scale = cfg->min_half_width / cfg->z;
		for (int k = 0; k < cfg->grid_size; k++) {
			double sd = sqrt(st->m2[k] / (st->golden_seen - 1));
			st->scale[k] = sd > floor_scale ? sd : floor_scale;
		}
		st->stage = SPC_PROFILE_STAGE_FROZEN;
	}
	if (ret_frozen != NULL)
		*ret_frozen = frozen;
	return SPC_PROFILE_OK;
}

int spc_profile_score(const struct spc_profile_state *st, const double *x, const double *y, int len,
                      struct spc_profile_score *ret)
{
	double grid[SPC_PROFILE_MAX_GRID];
	struct spc_profile_score s = {0};
	double sum_sq = 0.0;

	if (st == NULL || ret == NULL)
		return SPC_PROFILE_ERR_INVALID;
	if (st->stage != SPC_PROFILE_STAGE_FROZEN)
		return SPC_PROFILE_ERR_STAGE;
	const struct spc_profile_config *cfg = &st->config;
	int rc = spc_profile_resample(cfg, x, y, len, grid);
	if (rc != SPC_PROFILE_OK)
		return rc;

	for (int k = 0; k < cfg->grid_size; k++) {
		double dev = grid[k] - st->mean[k];
		double d = dev / st->scale[k];
		sum_sq += d * d;
		if (fabs(d) > s.max_abs) {
			s.max_abs = fabs(d);
			s.worst_index = k;
		}
		/* Compare in y units so "on the band edge" is decided exactly as drawn. */
		if (fabs(dev) > cfg->z * st->scale[k])
			s.outside_count += 1;
	}
	s.rms = sqrt(sum_sq / cfg->grid_size);
	s.outside_fraction = (double)s.outside_count / cfg->grid_size;
	s.worst_x = grid_at(cfg, s.worst_index);
	if (s.rms > cfg->max_rms)
		s.failed |= SPC_PROFILE_FAIL_RMS;
	if (s.max_abs > cfg->max_abs)
		s.failed |= SPC_PROFILE_FAIL_MAX_ABS;
	if (s.outside_fraction > cfg->max_outside)
		s.failed |= SPC_PROFILE_FAIL_OUTSIDE;
	s.pass = s.failed == 0;
	*ret = s;
	return SPC_PROFILE_OK;
}

int spc_profile_band(const struct spc_profile_state *st, double *ret_mean, double *ret_lower,
                     double *ret_upper)
{
	if (st == NULL)
		return SPC_PROFILE_ERR_INVALID;
	if (st->stage != SPC_PROFILE_STAGE_FROZEN)
		return SPC_PROFILE_ERR_STAGE;
	for (int k = 0; k < st->config.grid_size; k++) {
		double h = st->config.z * st->scale[k];
		if (ret_mean != NULL)
			ret_mean[k] = st->mean[k];
		if (ret_lower != NULL)
			ret_lower[k] = st->mean[k] - h;
		if (ret_upper != NULL)
			ret_upper[k] = st->mean[k] + h;
	}
	return SPC_PROFILE_OK;
}

int spc_profile_state_check(const struct spc_profile_state *st)
{
	if (st == NULL)
		return SPC_PROFILE_ERR_INVALID;
	if (st->magic != SPC_PROFILE_STATE_MAGIC || st->version != SPC_PROFILE_STATE_VERSION ||
	    st->size != sizeof(*st) || spc_profile_config_check(&st->config) != SPC_PROFILE_OK)
		return SPC_PROFILE_ERR_CORRUPT;
	const struct spc_profile_config *cfg = &st->config;
	if (st->stage == SPC_PROFILE_STAGE_LEARNING) {
		if (st->golden_seen < 0 || st->golden_seen >= cfg->golden_count)
			return SPC_PROFILE_ERR_CORRUPT;
	} else if (st->stage == SPC_PROFILE_STAGE_FROZEN) {
		if (st->golden_seen != cfg->golden_count)
			return SPC_PROFILE_ERR_CORRUPT;
	} else {
		return SPC_PROFILE_ERR_CORRUPT;
	}
	for (int k = 0; k < cfg->grid_size; k++) {
		if (!isfinite(st->mean[k]) || !(st->m2[k] >= 0.0) || !isfinite(st->m2[k]))
			return SPC_PROFILE_ERR_CORRUPT;
		if (st->stage == SPC_PROFILE_STAGE_FROZEN &&
		    (!(st->scale[k] > 0.0) || !isfinite(st->scale[k])))
			return SPC_PROFILE_ERR_CORRUPT;
	}
	return SPC_PROFILE_OK;
}
