/* spc_t2_dist: the distribution functions behind the Hotelling T2 limits.
 *
 * Regularized incomplete beta I_x(a, b) by its continued fraction (modified Lentz), regularized
 * lower incomplete gamma P(a, x) by its series / continued fraction, and upper quantiles of the
 * Beta, F and chi-square distributions found by bisection on those CDFs. Bisection is slow
 * (about a hundred CDF evaluations) but cannot diverge; it runs only when limits are computed,
 * never per observation. All functions are pure and allocation-free; errors use the codes of
 * spc_t2.h (SPC_T2_ERR_INVALID for bad arguments, SPC_T2_ERR_NO_CONVERGENCE if a series or
 * continued fraction did not settle). Outputs are untouched on failure. */
#ifndef SPC_T2_DIST_H
#define SPC_T2_DIST_H

/* I_x(a, b) for 0 <= x <= 1, a > 0, b > 0. */
int spc_t2_betainc(double x, double a, double b, double *ret_value);

/* P(a, x) = gamma(a, x) / Gamma(a) for x >= 0, a > 0. */
int spc_t2_gammainc(double a, double x, double *ret_value);

/* The x with P(X > x) = alpha for X ~ Beta(a, b), 0 < alpha < 1. */
int spc_t2_beta_upper(double alpha, double a, double b, double *ret_x);

/* The f with P(F > f) = alpha for F ~ F(d1, d2): the table value F_{alpha; d1, d2}. */
int spc_t2_f_upper(double alpha, double d1, double d2, double *ret_f);

/* The c with P(X > c) = alpha for X ~ chi-square(df). */
int spc_t2_chi2_upper(double alpha, double df, double *ret_c);

#endif
