/* spc_t2_dist: incomplete beta / gamma functions and the upper quantiles built on them.
 *
 * The continued fractions follow the classical forms (Press et al., Numerical Recipes, 2nd ed.,
 * sections 6.2 and 6.4; the modified Lentz method of Thompson & Barnett 1986). Quantiles are
 * found by bisection on the tail that holds the answer: an upper quantile of Beta(a, b) is one
 * minus the lower quantile of Beta(b, a), so a small alpha is solved where the CDF has full
 * relative precision instead of as 1 - (1 - alpha). */
#include "spc_t2_dist.h"

#include <float.h>
#include <math.h>

#include "spc_t2.h"

#define CF_MAX_ITER     10000
#define CF_EPS          1e-15
#define CF_TINY         1e-300
#define BISECT_MAX_ITER 2000

/* Continued fraction for I_x(a, b), valid (fast) for x < (a + 1) / (a + b + 2). */
static int beta_cf(double x, double a, double b, double *ret)
{
	double qab = a + b, qap = a + 1.0, qam = a - 1.0;
	double c = 1.0, d = 1.0 - qab * x / qap;

	if (fabs(d) < CF_TINY)
		d = CF_TINY;
	d = 1.0 / d;
	double h = d;
	for (int m = 1; m <= CF_MAX_ITER; m++) {
		int m2 = 2 * m;
		double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
		d = 1.0 + aa * d;
		if (fabs(d) < CF_TINY)
			d = CF_TINY;
		c = 1.0 + aa / c;
		if (fabs(c) < CF_TINY)
			c = CF_TINY;
		d = 1.0 / d;
		h *= d * c;
		aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
		d = 1.0 + aa * d;
		if (fabs(d) < CF_TINY)
			d = CF_TINY;
		c = 1.0 + aa / c;
		if (fabs(c) < CF_TINY)
			c = CF_TINY;
		d = 1.0 / d;
		double del = d * c;
		h *= del;
		if (fabs(del - 1.0) < CF_EPS) {
			*ret = h;
			return SPC_T2_OK;
		}
	}
	return SPC_T2_ERR_NO_CONVERGENCE;
}

int spc_t2_betainc(double x, double a, double b, double *ret_value)
{
	if (!(x >= 0.0 && x <= 1.0) || !(a > 0.0) || !(b > 0.0) || !isfinite(a) || !isfinite(b))
		return SPC_T2_ERR_INVALID;
	if (x == 0.0 || x == 1.0) {
		*ret_value = x;
		return SPC_T2_OK;
	}
	/* Front factor x^a (1-x)^b / B(a, b), in logs so large a, b do not overflow. */
	double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
	double cf;
	int rc;
	if (x < (a + 1.0) / (a + b + 2.0)) {
		rc = beta_cf(x, a, b, &cf);
		if (rc != SPC_T2_OK)
			return rc;
		*ret_value = front * cf / a;
	} else {
		/* Symmetry I_x(a, b) = 1 - I_{1-x}(b, a) keeps the fraction in its fast region. */
		rc = beta_cf(1.0 - x, b, a, &cf);
		if (rc != SPC_T2_OK)
			return rc;
		*ret_value = 1.0 - front * cf / b;
	}
	return SPC_T2_OK;
}

/* P(a, x) and Q(a, x) = 1 - P(a, x), each computed on the side where it is accurate. */
static int gamma_pq(double a, double x, double *ret_p, double *ret_q)
{
	double lfront = a * log(x) - x - lgamma(a);

	if (x < a + 1.0) {
		/* Series: P = e^-x x^a / Gamma(a+1) * sum x^n / ((a+1)...(a+n)). */
		double ap = a, sum = 1.0 / a, del = sum;
		for (int n = 1; n <= CF_MAX_ITER; n++) {
			ap += 1.0;
			del *= x / ap;
			sum += del;
			if (fabs(del) < fabs(sum) * CF_EPS) {
				*ret_p = sum * exp(lfront);
				*ret_q = 1.0 - *ret_p;
				return SPC_T2_OK;
			}
		}
		return SPC_T2_ERR_NO_CONVERGENCE;
	}
	/* Continued fraction for Q (modified Lentz). */
	double b = x + 1.0 - a, c = 1.0 / CF_TINY, d = 1.0 / b, h = d;
	for (int i = 1; i <= CF_MAX_ITER; i++) {
		double an = -i * (i - a);
		b += 2.0;
		d = an * d + b;
		if (fabs(d) < CF_TINY)
			d = CF_TINY;
		c = b + an / c;
		if (fabs(c) < CF_TINY)
			c = CF_TINY;
		d = 1.0 / d;
		double del = d * c;
		h *= del;
		if (fabs(del - 1.0) < CF_EPS) {
			*ret_q = exp(lfront) * h;
			*ret_p = 1.0 - *ret_q;
			return SPC_T2_OK;
		}
	}
	return SPC_T2_ERR_NO_CONVERGENCE;
}

int spc_t2_gammainc(double a, double x, double *ret_value)
{
	double p, q;

	if (!(a > 0.0) || !isfinite(a) || !(x >= 0.0) || !isfinite(x))
		return SPC_T2_ERR_INVALID;
	if (x == 0.0) {
		*ret_value = 0.0;
		return SPC_T2_OK;
	}
	int rc = gamma_pq(a, x, &p, &q);
	if (rc != SPC_T2_OK)
		return rc;
	*ret_value = p;
	return SPC_T2_OK;
}

/* The y in (0, 1) with I_y(a, b) = alpha. Bisection until the bracket is a few ulps wide. */
static int beta_lower(double alpha, double a, double b, double *ret_y)
{
	double lo = 0.0, hi = 1.0;

	for (int i = 0; i < BISECT_MAX_ITER && hi - lo > 4.0 * DBL_EPSILON * hi; i++) {
		double mid = 0.5 * (lo + hi), cdf;
		int rc = spc_t2_betainc(mid, a, b, &cdf);
		if (rc != SPC_T2_OK)
			return rc;
		if (cdf < alpha)
			lo = mid;
		else
			hi = mid;
	}
	*ret_y = 0.5 * (lo + hi);
	return SPC_T2_OK;
}

static bool alpha_ok(double alpha)
{
	return alpha > 0.0 && alpha < 1.0;
}

int spc_t2_beta_upper(double alpha, double a, double b, double *ret_x)
{
	double y;

	if (!alpha_ok(alpha) || !(a > 0.0) || !(b > 0.0) || !isfinite(a) || !isfinite(b))
		return SPC_T2_ERR_INVALID;
	/* P(X > x) = alpha for X ~ Beta(a, b)  <=>  P(1 - X < 1 - x) = alpha, 1 - X ~ Beta(b, a).
	 */
	int rc = beta_lower(alpha, b, a, &y);
	if (rc != SPC_T2_OK)
		return rc;
	*ret_x = 1.0 - y;
	return SPC_T2_OK;
}

int spc_t2_f_upper(double alpha, double d1, double d2, double *ret_f)
{
	double y;

	if (!alpha_ok(alpha) || !(d1 > 0.0) || !(d2 > 0.0) || !isfinite(d1) || !isfinite(d2))
		return SPC_T2_ERR_INVALID;
	/* F = (d2/d1) X / (1 - X) with X ~ Beta(d1/2, d2/2); with Y = 1 - X ~ Beta(d2/2, d1/2)
	 * the upper alpha point of F is (d2/d1) (1 - y) / y where y is Y's lower alpha point. */
	int rc = beta_lower(alpha, d2 / 2.0, d1 / 2.0, &y);
	if (rc != SPC_T2_OK)
		return rc;
	if (!(y > 0.0))
		return SPC_T2_ERR_NO_CONVERGENCE;
	*ret_f = (d2 / d1) * (1.0 - y) / y;
	return SPC_T2_OK;
}

int spc_t2_chi2_upper(double alpha, double df, double *ret_c)
{
	double lo = 0.0, hi = df > 1.0 ? df : 1.0, p, q;
	int rc;

	if (!alpha_ok(alpha) || !(df > 0.0) || !isfinite(df))
		return SPC_T2_ERR_INVALID;
	/* Widen the bracket until the upper tail at hi is below alpha. */
	for (;;) {
		rc = gamma_pq(df / 2.0, hi / 2.0, &p, &q);
		if (rc != SPC_T2_OK)
			return rc;
		if (q < alpha)
			break;
		lo = hi;
		hi *= 2.0;
		if (!isfinite(hi))
			return SPC_T2_ERR_NO_CONVERGENCE;
	}
	for (int i = 0; i < BISECT_MAX_ITER && hi - lo > 4.0 * DBL_EPSILON * hi; i++) {
		double mid = 0.5 * (lo + hi);
		rc = gamma_pq(df / 2.0, mid / 2.0, &p, &q);
		if (rc != SPC_T2_OK)
			return rc;
		if (q > alpha)
			lo = mid;
		else
			hi = mid;
	}
	*ret_c = 0.5 * (lo + hi);
	return SPC_T2_OK;
}
