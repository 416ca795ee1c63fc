/* spc_t2: Hotelling T2 estimators, limits, statistic and the persistable streaming chart.
 *
 * Formulas and sources are in spc_t2.h. Matrices are p x p, row-major, p <= SPC_T2_MAX_P, so
 * every scratch matrix lives on the stack (at most 100 doubles) and nothing allocates. The
 * streaming state keeps running means and co-moments (Welford) instead of raw sums of squares:
 * characteristics such as a 3.65 V OCV vary in the fourth digit, and sum(x^2) - n xbar^2 would
 * cancel most of the significant digits away. */
#include "spc_t2.h"

#include <math.h>
#include <string.h>

#include "spc_t2_dist.h"

/* Relative asymmetry tolerated in a covariance matrix (rounding in a caller's computation). */
#define SYMMETRY_TOL 1e-9

const char *spc_t2_strerror(int err)
{
	switch (err) {
	case SPC_T2_OK:
		return "success";
	case SPC_T2_ERR_INVALID:
		return "invalid argument or non-finite input";
	case SPC_T2_ERR_SINGULAR:
		return "covariance matrix singular or ill-conditioned";
	case SPC_T2_ERR_TOO_FEW:
		return "too little baseline data for the control limit";
	case SPC_T2_ERR_NO_CONVERGENCE:
		return "special function did not converge";
	case SPC_T2_ERR_CORRUPT:
		return "stored T2 state failed its check";
	}
	return "unknown T2 error";
}

static bool all_finite(const double *v, int count)
{
	for (int i = 0; i < count; i++)
		if (!isfinite(v[i]))
			return false;
	return true;
}

int spc_t2_ucl(enum spc_t2_limit limit, int p, int n, int m, double alpha, double *ret_ucl)
{
	double q, f, ucl;
	int rc;

	if (p < 1 || p > SPC_T2_MAX_P || n < 1 || !(alpha > 0.0 && alpha < 1.0))
		return SPC_T2_ERR_INVALID;
	if (limit == SPC_T2_LIMIT_KNOWN) {
		rc = spc_t2_chi2_upper(alpha, p, &ucl);
		if (rc != SPC_T2_OK)
			return rc;
		*ret_ucl = ucl;
		return SPC_T2_OK;
	}
	if (limit != SPC_T2_LIMIT_PHASE1 && limit != SPC_T2_LIMIT_PHASE2)
		return SPC_T2_ERR_INVALID;
	if (m < 1)
		return SPC_T2_ERR_TOO_FEW;

	/* Doubles throughout: m n can exceed int range for long baselines. */
	double dp = p, dn = n, dm = m;
	if (n == 1 && limit == SPC_T2_LIMIT_PHASE1) {
		if (m <= p + 1)
			return SPC_T2_ERR_TOO_FEW;
		rc = spc_t2_beta_upper(alpha, dp / 2.0, (dm - dp - 1.0) / 2.0, &q);
		if (rc != SPC_T2_OK)
			return rc;
		ucl = (dm - 1.0) * (dm - 1.0) / dm * q;
	} else if (n == 1) {
		if (m <= p)
			return SPC_T2_ERR_TOO_FEW;
		rc = spc_t2_f_upper(alpha, dp, dm - dp, &f);
		if (rc != SPC_T2_OK)
			return rc;
		ucl = dp * (dm + 1.0) * (dm - 1.0) / (dm * dm - dm * dp) * f;
	} else {
		double df2 = dm * dn - dm - dp + 1.0;
		if (!(df2 > 0.0))
			return SPC_T2_ERR_TOO_FEW;
		rc = spc_t2_f_upper(alpha, dp, df2, &f);
		if (rc != SPC_T2_OK)
			return rc;
		double factor = limit == SPC_T2_LIMIT_PHASE1 ? dm - 1.0 : dm + 1.0;
		ucl = dp * factor * (dn - 1.0) / df2 * f;
	}
	*ret_ucl = ucl;
	return SPC_T2_OK;
}

int spc_t2_invert(const double *cov, int p, double *ret_inv)
{
	double sd[SPC_T2_MAX_P];
	double l[SPC_T2_MAX_P * SPC_T2_MAX_P] = {0};
	double linv[SPC_T2_MAX_P * SPC_T2_MAX_P] = {0};

	if (cov == NULL || ret_inv == NULL || p < 1 || p > SPC_T2_MAX_P)
		return SPC_T2_ERR_INVALID;
	if (!all_finite(cov, p * p))
		return SPC_T2_ERR_INVALID;
	for (int i = 0; i < p; i++) {
		if (!(cov[i * p + i] > 0.0))
			return SPC_T2_ERR_SINGULAR;
		sd[i] = sqrt(cov[i * p + i]);
	}
	for (int i = 0; i < p; i++)
		for (int j = 0; j < i; j++)
			if (fabs(cov[i * p + j] - cov[j * p + i]) > SYMMETRY_TOL * sd[i] * sd[j])
				return SPC_T2_ERR_SINGULAR;

	/* Cholesky of the correlation matrix R[i][j] = cov[i][j] / (sd_i sd_j), lower part. */
	for (int j = 0; j < p; j++) {
		double pivot = 1.0;
		for (int k = 0; k < j; k++)
			pivot -= l[j * p + k] * l[j * p + k];
		if (!(pivot >= SPC_T2_MIN_PIVOT))
			return SPC_T2_ERR_SINGULAR;
		l[j * p + j] = sqrt(pivot);
		for (int i = j + 1; i < p; i++) {
			double s = cov[i * p + j] / (sd[i] * sd[j]);
			for (int k = 0; k < j; k++)
				s -= l[i * p + k] * l[j * p + k];
			l[i * p + j] = s / l[j * p + j];
		}
	}
	/* L^-1 by forward substitution, column by column. */
	for (int c = 0; c < p; c++) {
		linv[c * p + c] = 1.0 / l[c * p + c];
		for (int i = c + 1; i < p; i++) {
			double s = 0.0;
			for (int k = c; k < i; k++)
				s -= l[i * p + k] * linv[k * p + c];
			linv[i * p + c] = s / l[i * p + i];
		}
	}
	/* S^-1 = D^-1/2 R^-1 D^-1/2 with R^-1 = L^-T L^-1. */
	for (int i = 0; i < p; i++) {
		for (int j = 0; j <= i; j++) {
			double s = 0.0;
			for (int k = i; k < p; k++)
				s += linv[k * p + i] * linv[k * p + j];
			s /= sd[i] * sd[j];
			ret_inv[i * p + j] = s;
			ret_inv[j * p + i] = s;
		}
	}
	return SPC_T2_OK;
}

int spc_t2_stat(const double *xbar, const double *mean, const double *inv, int p, int n,
                double *ret_t2)
{
	double d[SPC_T2_MAX_P], q = 0.0;

	if (xbar == NULL || mean == NULL || inv == NULL || p < 1 || p > SPC_T2_MAX_P || n < 1)
		return SPC_T2_ERR_INVALID;
	for (int i = 0; i < p; i++)
		d[i] = xbar[i] - mean[i];
	for (int i = 0; i < p; i++) {
		double row = 0.0;
		for (int j = 0; j < p; j++)
			row += inv[i * p + j] * d[j];
		q += d[i] * row;
	}
	if (!isfinite(q))
		return SPC_T2_ERR_INVALID;
	/* inv is positive definite, so q < 0 can only be rounding of a point at the mean. */
	*ret_t2 = n * (q > 0.0 ? q : 0.0);
	return SPC_T2_OK;
}

/* Welford step for a vector: count, mean and co-moment sum (x - mean)(x - mean)'. */
static void welford_add(int64_t *count, double *mean, double *comoment, const double *x, int p)
{
	double delta[SPC_T2_MAX_P];

	*count += 1;
	for (int i = 0; i < p; i++) {
		delta[i] = x[i] - mean[i];
		mean[i] += delta[i] / (double)*count;
	}
	/* delta_i (before) times (x_j - mean_j after): the exact co-moment update. */
	for (int i = 0; i < p; i++)
		for (int j = 0; j < p; j++)
			comoment[i * p + j] += delta[i] * (x[j] - mean[j]);
}

int spc_t2_estimate(const double *x, int m, int n, int p, double *ret_mean, double *ret_cov)
{
	double mean[SPC_T2_MAX_P] = {0}, com[SPC_T2_MAX_P * SPC_T2_MAX_P] = {0};
	double sub_mean[SPC_T2_MAX_P], sub_com[SPC_T2_MAX_P * SPC_T2_MAX_P];
	int64_t count = 0;

	if (x == NULL || ret_mean == NULL || ret_cov == NULL || p < 1 || p > SPC_T2_MAX_P ||
	    n < 1 || m < 1)
		return SPC_T2_ERR_INVALID;
	if (n == 1 && m < 2)
		return SPC_T2_ERR_TOO_FEW;
	for (int i = 0; i < m; i++) {
		const double *sub = x + (size_t)i * (size_t)n * (size_t)p;
		if (!all_finite(sub, n * p))
			return SPC_T2_ERR_INVALID;
		if (n == 1) {
			welford_add(&count, mean, com, sub, p);
			continue;
		}
		int64_t sub_count = 0;
		memset(sub_mean, 0, sizeof(sub_mean));
		memset(sub_com, 0, sizeof(sub_com));
		for (int j = 0; j < n; j++)
			welford_add(&sub_count, sub_mean, sub_com, sub + (size_t)j * (size_t)p, p);
		count += 1;
		for (int k = 0; k < p; k++)
			mean[k] += (sub_mean[k] - mean[k]) / (double)count;
		for (int k = 0; k < p * p; k++)
			com[k] += sub_com[k];
	}
	double dof = n == 1 ? (double)m - 1.0 : (double)m * ((double)n - 1.0);
	memcpy(ret_mean, mean, sizeof(double) * (size_t)p);
	for (int k = 0; k < p * p; k++)
		ret_cov[k] = com[k] / dof;
	return SPC_T2_OK;
}

int spc_t2_phase1(const double *x, int m, int n, int p, double alpha, double *ret_t2,
                  double *ret_ucl)
{
	double mean[SPC_T2_MAX_P], cov[SPC_T2_MAX_P * SPC_T2_MAX_P];
	double inv[SPC_T2_MAX_P * SPC_T2_MAX_P], xbar[SPC_T2_MAX_P], ucl;
	int rc;

	if (x == NULL || ret_t2 == NULL || ret_ucl == NULL)
		return SPC_T2_ERR_INVALID;
	rc = spc_t2_ucl(SPC_T2_LIMIT_PHASE1, p, n, m, alpha, &ucl);
	if (rc == SPC_T2_OK)
		rc = spc_t2_estimate(x, m, n, p, mean, cov);
	if (rc == SPC_T2_OK)
		rc = spc_t2_invert(cov, p, inv);
	if (rc != SPC_T2_OK)
		return rc;
	for (int i = 0; i < m; i++) {
		const double *sub = x + (size_t)i * (size_t)n * (size_t)p;
		for (int k = 0; k < p; k++) {
			double s = 0.0;
			for (int j = 0; j < n; j++)
				s += sub[(size_t)j * (size_t)p + (size_t)k];
			xbar[k] = s / n;
		}
		rc = spc_t2_stat(xbar, mean, inv, p, n, &ret_t2[i]);
		if (rc != SPC_T2_OK)
			return rc;
	}
	*ret_ucl = ucl;
	return SPC_T2_OK;
}

/* ---- streaming chart ---- */

static bool config_ok(const struct spc_t2_config *cfg, bool allow_no_baseline)
{
	return cfg->p >= 1 && cfg->p <= SPC_T2_MAX_P && cfg->subgroup_size >= 1 &&
	       (cfg->baseline_count >= 1 || (allow_no_baseline && cfg->baseline_count == 0)) &&
	       cfg->alpha > 0.0 && cfg->alpha < 1.0;
}

static void state_start(struct spc_t2_state *st, const struct spc_t2_config *cfg, int stage,
                        int limit, double ucl)
{
	memset(st, 0, sizeof(*st));
	st->magic = SPC_T2_STATE_MAGIC;
	st->version = SPC_T2_STATE_VERSION;
	st->size = (uint32_t)sizeof(*st);
	st->stage = stage;
	st->config = *cfg;
	st->limit = limit;
	st->ucl = ucl;
}

int spc_t2_init(struct spc_t2_state *st, const struct spc_t2_config *cfg)
{
	double ucl;

	if (st == NULL || cfg == NULL || !config_ok(cfg, false))
		return SPC_T2_ERR_INVALID;
	/* The limit depends only on p, n, m and alpha: compute it now so a baseline too short
	 * for it is refused at configuration time, not after hours of learning. */
	int rc = spc_t2_ucl(SPC_T2_LIMIT_PHASE2, cfg->p, cfg->subgroup_size, cfg->baseline_count,
	                    cfg->alpha, &ucl);
	if (rc != SPC_T2_OK)
		return rc;
	state_start(st, cfg, SPC_T2_STAGE_LEARNING, SPC_T2_LIMIT_PHASE2, ucl);
	return SPC_T2_OK;
}

int spc_t2_init_fixed(struct spc_t2_state *st, const struct spc_t2_config *cfg, const double *mean,
                      const double *cov)
{
	double inv[SPC_T2_MAX_P * SPC_T2_MAX_P], ucl;

	if (st == NULL || cfg == NULL || mean == NULL || cov == NULL || !config_ok(cfg, true))
		return SPC_T2_ERR_INVALID;
	if (!all_finite(mean, cfg->p))
		return SPC_T2_ERR_INVALID;
	int limit = cfg->baseline_count == 0 ? SPC_T2_LIMIT_KNOWN : SPC_T2_LIMIT_PHASE2;
	int rc = spc_t2_ucl(limit, cfg->p, cfg->subgroup_size, cfg->baseline_count, cfg->alpha,
	                    &ucl);
	if (rc == SPC_T2_OK)
		rc = spc_t2_invert(cov, cfg->p, inv);
	if (rc != SPC_T2_OK)
		return rc;
	state_start(st, cfg, SPC_T2_STAGE_MONITORING, limit, ucl);
	memcpy(st->mean, mean, sizeof(double) * (size_t)cfg->p);
	memcpy(st->inv_cov, inv, sizeof(double) * (size_t)cfg->p * (size_t)cfg->p);
	return SPC_T2_OK;
}

static void reset_subgroup(struct spc_t2_state *st)
{
	st->sub_count = 0;
	memset(st->sub_mean, 0, sizeof(st->sub_mean));
	memset(st->sub_comoment, 0, sizeof(st->sub_comoment));
}

static void reset_baseline(struct spc_t2_state *st)
{
	st->base_count = 0;
	memset(st->base_mean, 0, sizeof(st->base_mean));
	memset(st->base_comoment, 0, sizeof(st->base_comoment));
	reset_subgroup(st);
}

/* Adds x to the subgroup being filled; true when it is now complete (sub_mean holds its mean). */
static bool subgroup_add(struct spc_t2_state *st, const double *x)
{
	int64_t count = st->sub_count;

	welford_add(&count, st->sub_mean, st->sub_comoment, x, st->config.p);
	st->sub_count = (int32_t)count;
	return st->sub_count == st->config.subgroup_size;
}

/* The baseline is complete: estimate, invert, and switch to monitoring. */
static int freeze(struct spc_t2_state *st)
{
	int p = st->config.p, n = st->config.subgroup_size;
	double cov[SPC_T2_MAX_P * SPC_T2_MAX_P], inv[SPC_T2_MAX_P * SPC_T2_MAX_P];
	double dof =
	        n == 1 ? (double)st->base_count - 1.0 : (double)st->base_count * ((double)n - 1.0);

	for (int k = 0; k < p * p; k++)
		cov[k] = st->base_comoment[k] / dof;
	int rc = spc_t2_invert(cov, p, inv);
	if (rc != SPC_T2_OK) {
		/* A degenerate baseline (a stuck sensor, a constant characteristic) cannot be
		 * monitored; start learning afresh rather than keep a state that can never plot. */
		reset_baseline(st);
		return rc;
	}
	memcpy(st->mean, st->base_mean, sizeof(double) * (size_t)p);
	memcpy(st->inv_cov, inv, sizeof(double) * (size_t)p * (size_t)p);
	st->stage = SPC_T2_STAGE_MONITORING;
	reset_subgroup(st);
	return SPC_T2_OK;
}

int spc_t2_add(struct spc_t2_state *st, const double *x, struct spc_t2_result *ret)
{
	struct spc_t2_result res = {0};
	int p, n, rc;

	if (st == NULL || x == NULL || ret == NULL)
		return SPC_T2_ERR_INVALID;
	p = st->config.p;
	n = st->config.subgroup_size;
	if (p < 1 || p > SPC_T2_MAX_P || n < 1)
		return SPC_T2_ERR_CORRUPT;
	if (!all_finite(x, p))
		return SPC_T2_ERR_INVALID;
	res.ucl = st->ucl;

	if (st->stage == SPC_T2_STAGE_LEARNING) {
		if (n == 1) {
			welford_add(&st->base_count, st->base_mean, st->base_comoment, x, p);
		} else if (subgroup_add(st, x)) {
			st->base_count += 1;
			for (int k = 0; k < p; k++)
				st->base_mean[k] += (st->sub_mean[k] - st->base_mean[k]) /
				                    (double)st->base_count;
			for (int k = 0; k < p * p; k++)
				st->base_comoment[k] += st->sub_comoment[k];
			reset_subgroup(st);
		}
		if (st->base_count >= st->config.baseline_count) {
			rc = freeze(st);
			if (rc != SPC_T2_OK)
				return rc;
			res.frozen = true;
		}
		*ret = res;
		return SPC_T2_OK;
	}
	if (st->stage != SPC_T2_STAGE_MONITORING)
		return SPC_T2_ERR_CORRUPT;

	const double *point = x;
	if (n > 1) {
		if (!subgroup_add(st, x)) {
			*ret = res;
			return SPC_T2_OK;
		}
		point = st->sub_mean;
	}
	rc = spc_t2_stat(point, st->mean, st->inv_cov, p, n, &res.t2);
	if (n > 1)
		reset_subgroup(st);
	if (rc != SPC_T2_OK)
		return rc;
	res.plotted = true;
	res.signal = res.t2 > st->ucl;
	st->plotted += 1;
	st->signals += res.signal ? 1 : 0;
	*ret = res;
	return SPC_T2_OK;
}

int spc_t2_state_check(const struct spc_t2_state *st)
{
	if (st == NULL)
		return SPC_T2_ERR_INVALID;
	if (st->magic != SPC_T2_STATE_MAGIC || st->version != SPC_T2_STATE_VERSION ||
	    st->size != sizeof(*st))
		return SPC_T2_ERR_CORRUPT;
	if (!config_ok(&st->config, st->stage == SPC_T2_STAGE_MONITORING))
		return SPC_T2_ERR_CORRUPT;
	int p = st->config.p;
	if (st->stage == SPC_T2_STAGE_LEARNING) {
		if (st->limit != SPC_T2_LIMIT_PHASE2 || st->base_count < 0 ||
		    st->base_count >= st->config.baseline_count)
			return SPC_T2_ERR_CORRUPT;
	} else if (st->stage == SPC_T2_STAGE_MONITORING) {
		if (st->limit != SPC_T2_LIMIT_PHASE2 && st->limit != SPC_T2_LIMIT_KNOWN)
			return SPC_T2_ERR_CORRUPT;
		if (!all_finite(st->mean, p) || !all_finite(st->inv_cov, p * p))
			return SPC_T2_ERR_CORRUPT;
	} else {
		return SPC_T2_ERR_CORRUPT;
	}
	if (st->sub_count < 0 || st->sub_count >= st->config.subgroup_size || st->plotted < 0 ||
	    st->signals < 0 || st->signals > st->plotted)
		return SPC_T2_ERR_CORRUPT;
	if (!(st->ucl > 0.0) || !isfinite(st->ucl) || !all_finite(st->sub_mean, p) ||
	    !all_finite(st->base_mean, p) || !all_finite(st->base_comoment, p * p) ||
	    !all_finite(st->sub_comoment, p * p))
		return SPC_T2_ERR_CORRUPT;
	return SPC_T2_OK;
}
