/* test_spc_t2: Hotelling T2 distributions, limits, estimators and the streaming chart.
 *
 * Every expected number names its source. Three kinds appear:
 *   - published table or textbook values, compared with a tolerance of half a unit in the last
 *     published digit (a little more where the source itself rounded intermediate steps);
 *   - closed forms that are exact mathematics, not runs of this code (e.g. the F(2, d2) and
 *     Beta(a, 1) quantiles, or the identity sum_i T2_i = (m - 1) p of a phase I chart);
 *   - consistency between two paths of this library (batch vs streaming, saved vs restored),
 *     which check wiring, never numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "spc_t2.h"
#include "spc_t2_dist.h"

static void check_near(double actual, double expected, double tol, const char *what)
{
	if (!(fabs(actual - expected) <= tol)) {
		print_error("%s: got %.10g, expected %.10g (tol %g)\n", what, actual, expected,
		            tol);
		fail();
	}
}

/* ---- distributions ---- */

/* Upper percentage points of F, as printed (2 decimals) in standard F tables: NIST/SEMATECH
 * e-Handbook section 1.3.6.7.2 "Critical Values of the F Distribution" and Montgomery,
 * Introduction to Statistical Quality Control, Appendix Table "Percentage points of the F
 * distribution". The first three are the values the brief quotes. */
static const struct {
	double alpha, d1, d2, table;
} f_table[] = {
        {0.05, 2, 10, 4.10},  {0.01, 3, 20, 4.94}, {0.05, 5, 30, 2.53},
        {0.05, 1, 10, 4.96},  {0.05, 4, 12, 3.26}, {0.05, 10, 20, 2.35},
        {0.01, 10, 10, 4.85}, {0.01, 2, 20, 5.85}, {0.05, 1, 1, 161.45},
};

static void test_f_table_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(f_table) / sizeof(f_table[0]); i++) {
		double f = 0.0;
		char what[64];
		assert_int_equal(spc_t2_f_upper(f_table[i].alpha, f_table[i].d1, f_table[i].d2, &f),
		                 SPC_T2_OK);
		snprintf(what, sizeof(what), "F_{%g;%g,%g}", f_table[i].alpha, f_table[i].d1,
		         f_table[i].d2);
		check_near(f, f_table[i].table, 0.005 + 1e-12, what);
	}
}

/* For d1 = 2 the F tail is closed-form: P(F > f) = (1 + 2 f / d2)^(-d2/2), so
 * F_{alpha; 2, d2} = (d2 / 2) (alpha^(-2/d2) - 1). Exact, so the tolerance is numerical. */
static void test_f_closed_form_d1_2(void **state)
{
	static const double alphas[] = {0.1, 0.05, 0.01, 0.0027, 0.001, 1e-6};
	static const double d2s[] = {1, 3, 10, 37, 179, 1000};

	(void)state;
	for (size_t a = 0; a < sizeof(alphas) / sizeof(alphas[0]); a++) {
		for (size_t d = 0; d < sizeof(d2s) / sizeof(d2s[0]); d++) {
			double f = 0.0,
			       exact = d2s[d] / 2.0 * (pow(alphas[a], -2.0 / d2s[d]) - 1.0);
			assert_int_equal(spc_t2_f_upper(alphas[a], 2, d2s[d], &f), SPC_T2_OK);
			check_near(f, exact, 1e-10 * exact, "F(2, d2) closed form");
		}
	}
}

/* Closed-form Beta quantiles: Beta(a, 1) has CDF x^a, so the upper-alpha point is
 * (1 - alpha)^(1/a); Beta(1, b) has CDF 1 - (1 - x)^b, upper point 1 - alpha^(1/b);
 * Beta(1/2, 1/2) (arcsine) has CDF (2/pi) asin(sqrt(x)), upper point sin^2((1 - alpha) pi / 2). */
static void test_beta_closed_forms(void **state)
{
	static const double alphas[] = {0.5, 0.05, 0.01, 0.0027, 0.001};
	static const double shapes[] = {0.5, 1.0, 1.5, 2.5, 7.0, 40.0};

	(void)state;
	for (size_t i = 0; i < sizeof(alphas) / sizeof(alphas[0]); i++) {
		double al = alphas[i], x = 0.0;
		for (size_t j = 0; j < sizeof(shapes) / sizeof(shapes[0]); j++) {
			double s = shapes[j];
			assert_int_equal(spc_t2_beta_upper(al, s, 1.0, &x), SPC_T2_OK);
			check_near(x, pow(1.0 - al, 1.0 / s), 1e-13, "Beta(a,1)");
			assert_int_equal(spc_t2_beta_upper(al, 1.0, s, &x), SPC_T2_OK);
			check_near(x, 1.0 - pow(al, 1.0 / s), 1e-13, "Beta(1,b)");
		}
		double pi = acos(-1.0), sn = sin((1.0 - al) * pi / 2.0);
		assert_int_equal(spc_t2_beta_upper(al, 0.5, 0.5, &x), SPC_T2_OK);
		check_near(x, sn * sn, 1e-13, "arcsine");
	}
}

static void test_betainc_properties(void **state)
{
	double v = 0.0, w = 0.0;

	(void)state;
	/* I_x(1, 1) = x (uniform); I_x(a, b) = 1 - I_{1-x}(b, a) (definition of the Beta CDF). */
	assert_int_equal(spc_t2_betainc(0.3, 1.0, 1.0, &v), SPC_T2_OK);
	check_near(v, 0.3, 1e-15, "I_x(1,1)");
	assert_int_equal(spc_t2_betainc(0.37, 2.5, 7.0, &v), SPC_T2_OK);
	assert_int_equal(spc_t2_betainc(0.63, 7.0, 2.5, &w), SPC_T2_OK);
	check_near(v + w, 1.0, 1e-14, "beta symmetry");
	/* I_{1/2}(a, a) = 1/2 by symmetry of Beta(a, a). */
	assert_int_equal(spc_t2_betainc(0.5, 13.0, 13.0, &v), SPC_T2_OK);
	check_near(v, 0.5, 1e-14, "I_0.5(a,a)");

	v = 42.0;
	assert_int_equal(spc_t2_betainc(NAN, 1, 1, &v), SPC_T2_ERR_INVALID);
	assert_int_equal(spc_t2_betainc(1.5, 1, 1, &v), SPC_T2_ERR_INVALID);
	assert_int_equal(spc_t2_betainc(0.5, 0, 1, &v), SPC_T2_ERR_INVALID);
	assert_int_equal(spc_t2_f_upper(0.0, 2, 10, &v), SPC_T2_ERR_INVALID);
	assert_int_equal(spc_t2_f_upper(1.0, 2, 10, &v), SPC_T2_ERR_INVALID);
	assert_int_equal(spc_t2_f_upper(0.05, -1, 10, &v), SPC_T2_ERR_INVALID);
	assert_int_equal(spc_t2_beta_upper(NAN, 1, 1, &v), SPC_T2_ERR_INVALID);
	assert_int_equal(spc_t2_chi2_upper(0.05, 0, &v), SPC_T2_ERR_INVALID);
	check_near(v, 42.0, 0.0, "output untouched on failure");
}

/* Chi-square upper points as printed (3 decimals) in standard tables (NIST/SEMATECH
 * e-Handbook 1.3.6.7.4 "Critical Values of the Chi-Square Distribution"; Montgomery Appendix
 * Table "Percentage points of the chi-square distribution"). For df = 2 the tail is e^(-c/2), so
 * chi2_{alpha; 2} = -2 ln alpha exactly. */
static void test_chi2(void **state)
{
	double c = 0.0;

	(void)state;
	assert_int_equal(spc_t2_chi2_upper(0.05, 1, &c), SPC_T2_OK);
	check_near(c, 3.841, 0.0005, "chi2_{0.05;1}");
	assert_int_equal(spc_t2_chi2_upper(0.05, 3, &c), SPC_T2_OK);
	check_near(c, 7.815, 0.0005, "chi2_{0.05;3}");
	assert_int_equal(spc_t2_chi2_upper(0.01, 10, &c), SPC_T2_OK);
	check_near(c, 23.209, 0.0005, "chi2_{0.01;10}");
	assert_int_equal(spc_t2_chi2_upper(0.001, 2, &c), SPC_T2_OK);
	check_near(c, 13.816, 0.0005, "chi2_{0.001;2}");
	for (double al = 0.2; al > 1e-8; al /= 7.0) {
		assert_int_equal(spc_t2_chi2_upper(al, 2, &c), SPC_T2_OK);
		check_near(c, -2.0 * log(al), 1e-10 * c, "chi2 df=2 closed form");
	}
}

/* ---- limits ---- */

/* Montgomery, Introduction to Statistical Quality Control, Example 11.1 (6th ed.; "Multivariate
 * Process Monitoring and Control"): tensile strength and diameter of a textile fiber, p = 2,
 * m = 20 preliminary samples of n = 10, alpha = 0.001. The book gives the phase I limit
 * 2(19)(9)/179 F_{0.001;2,179} = 13.72 and the phase II limit 2(21)(9)/179 F = 15.16, with the
 * table value F_{0.001;2,179} = 7.18. The chi-square limit it compares with is 13.82. */
static void test_ucl_montgomery_example_11_1(void **state)
{
	double ucl = 0.0;

	(void)state;
	assert_int_equal(spc_t2_ucl(SPC_T2_LIMIT_PHASE1, 2, 10, 20, 0.001, &ucl), SPC_T2_OK);
	check_near(ucl, 13.72, 0.01, "phase I UCL, Montgomery Ex. 11.1");
	assert_int_equal(spc_t2_ucl(SPC_T2_LIMIT_PHASE2, 2, 10, 20, 0.001, &ucl), SPC_T2_OK);
	check_near(ucl, 15.16, 0.01, "phase II UCL, Montgomery Ex. 11.1");
	assert_int_equal(spc_t2_ucl(SPC_T2_LIMIT_KNOWN, 2, 10, 0, 0.001, &ucl), SPC_T2_OK);
	check_near(ucl, 13.82, 0.005, "chi-square UCL, Montgomery Ex. 11.1");
}

/* The individuals formulas (NIST 6.5.4.3.3 / 6.5.4.3.4) with p = 2, where both the Beta and the
 * F quantile are closed-form (see above), so the whole UCL is exact:
 *   phase I:  (m-1)^2/m * (1 - alpha^(2/(m-3)))                       [Beta(1, (m-3)/2)]
 *   phase II: 2(m+1)(m-1)/(m^2-2m) * ((m-2)/2) (alpha^(-2/(m-2)) - 1)  [F(2, m-2)] */
static void test_ucl_individuals_closed_form(void **state)
{
	(void)state;
	for (int m = 4; m <= 200; m += 7) {
		double al = 0.0027, ucl = 0.0, dm = m;
		double phase1 = (dm - 1) * (dm - 1) / dm * (1.0 - pow(al, 2.0 / (dm - 3)));
		double f = (dm - 2) / 2.0 * (pow(al, -2.0 / (dm - 2)) - 1.0);
		double phase2 = 2.0 * (dm + 1) * (dm - 1) / (dm * dm - 2.0 * dm) * f;
		assert_int_equal(spc_t2_ucl(SPC_T2_LIMIT_PHASE1, 2, 1, m, al, &ucl), SPC_T2_OK);
		check_near(ucl, phase1, 1e-10 * phase1, "individuals phase I");
		assert_int_equal(spc_t2_ucl(SPC_T2_LIMIT_PHASE2, 2, 1, m, al, &ucl), SPC_T2_OK);
		check_near(ucl, phase2, 1e-10 * phase2, "individuals phase II");
	}
}

static void test_ucl_rejects(void **state)
{
	double ucl = 7.0;

	(void)state;
	/* Individuals phase I needs m > p + 1, phase II m > p; subgroups mn - m - p + 1 > 0. */
	assert_int_equal(spc_t2_ucl(SPC_T2_LIMIT_PHASE1, 3, 1, 4, 0.01, &ucl), SPC_T2_ERR_TOO_FEW);
	assert_int_equal(spc_t2_ucl(SPC_T2_LIMIT_PHASE2, 3, 1, 3, 0.01, &ucl), SPC_T2_ERR_TOO_FEW);
	assert_int_equal(spc_t2_ucl(SPC_T2_LIMIT_PHASE2, 3, 2, 2, 0.01, &ucl), SPC_T2_ERR_TOO_FEW);
	assert_int_equal(spc_t2_ucl(SPC_T2_LIMIT_PHASE1, 0, 1, 40, 0.01, &ucl), SPC_T2_ERR_INVALID);
	assert_int_equal(spc_t2_ucl(SPC_T2_LIMIT_PHASE1, 11, 1, 40, 0.01, &ucl),
	                 SPC_T2_ERR_INVALID);
	assert_int_equal(spc_t2_ucl(SPC_T2_LIMIT_PHASE1, 2, 1, 40, 0.0, &ucl), SPC_T2_ERR_INVALID);
	assert_int_equal(spc_t2_ucl(SPC_T2_LIMIT_PHASE1, 2, 0, 40, 0.01, &ucl), SPC_T2_ERR_INVALID);
	assert_int_equal(spc_t2_ucl((enum spc_t2_limit)9, 2, 1, 40, 0.01, &ucl),
	                 SPC_T2_ERR_INVALID);
	check_near(ucl, 7.0, 0.0, "untouched");
	assert_int_equal(spc_t2_ucl(SPC_T2_LIMIT_PHASE1, 3, 1, 5, 0.01, &ucl), SPC_T2_OK);
	assert_int_equal(spc_t2_ucl(SPC_T2_LIMIT_PHASE2, 3, 1, 4, 0.01, &ucl), SPC_T2_OK);
}

/* ---- matrices and the statistic ---- */

/* Montgomery, Exercise 11.2: p = 3, 30 preliminary samples of n = 10 gave
 * xbarbar = (3.0, 3.5, 2.8) and S below; Table 11E.2 lists 15 further subgroup means. A
 * published worked solution of the exercise (solutioninn.com, "Reconsider the situation in
 * Exercise 11.2", spreadsheet) prints S^-1 to 4 decimals (the last entry legible only as 2.973)
 * and T2 = 0.5279 for sample 1, xbar = (3.1, 3.7, 3.0). */
static const double ex11_2_mean[3] = {3.0, 3.5, 2.8};
static const double ex11_2_cov[9] = {1.40, 1.02, 1.05, 1.02, 1.35, 0.98, 1.05, 0.98, 1.20};
static const double ex11_2_inv[9] = {2.3084,  -0.6824, -1.4625, -0.6824, 2.0210,
                                     -1.0534, -1.4625, -1.0534, 2.973};

static void test_invert_and_stat_montgomery_ex_11_2(void **state)
{
	double inv[9], t2 = 0.0;
	static const double sample1[3] = {3.1, 3.7, 3.0};

	(void)state;
	assert_int_equal(spc_t2_invert(ex11_2_cov, 3, inv), SPC_T2_OK);
	for (int k = 0; k < 8; k++)
		check_near(inv[k], ex11_2_inv[k], 0.00005 + 1e-9, "S^-1, Montgomery Ex. 11.2");
	check_near(inv[8], ex11_2_inv[8], 0.0005 + 1e-9, "S^-1[2][2], 3 legible decimals");
	assert_int_equal(spc_t2_stat(sample1, ex11_2_mean, inv, 3, 10, &t2), SPC_T2_OK);
	check_near(t2, 0.5279, 0.00005 + 1e-9, "T2 sample 1, Montgomery Ex. 11.2");
}

/* Montgomery, Exercise 11.1: p = 2, n = 25, xbarbar = (55, 30), S = [200 130; 130 120];
 * subgroup means (58, 32) and (60, 33). Published worked solution (github.com/abylai11/
 * qda-project, notebook "SOLUTION") prints T2 = 1.127 and 3.169. With det S = 7100 the exact
 * values are 25 * 320 / 7100 and 25 * 900 / 7100. */
static void test_stat_montgomery_ex_11_1(void **state)
{
	static const double mean[2] = {55, 30}, cov[4] = {200, 130, 130, 120};
	static const double s1[2] = {58, 32}, s2[2] = {60, 33};
	double inv[4], t2 = 0.0;

	(void)state;
	assert_int_equal(spc_t2_invert(cov, 2, inv), SPC_T2_OK);
	assert_int_equal(spc_t2_stat(s1, mean, inv, 2, 25, &t2), SPC_T2_OK);
	check_near(t2, 1.127, 0.0005, "T2 sample 1, Montgomery Ex. 11.1");
	check_near(t2, 25.0 * 320.0 / 7100.0, 1e-12, "T2 sample 1 exact");
	assert_int_equal(spc_t2_stat(s2, mean, inv, 2, 25, &t2), SPC_T2_OK);
	check_near(t2, 3.169, 0.0005, "T2 sample 2, Montgomery Ex. 11.1");
	check_near(t2, 25.0 * 900.0 / 7100.0, 1e-12, "T2 sample 2 exact");
}

static void test_invert_rejects(void **state)
{
	double inv[9] = {0};
	/* x3 = x1 + x2 exactly: rank 2. */
	static const double rank2[9] = {1, 0, 1, 0, 1, 1, 1, 1, 2};
	/* Correlation 1 - 1e-12: positive definite on paper, useless numerically. */
	static const double nearly[4] = {1, 1 - 1e-12, 1 - 1e-12, 1};
	static const double zero_var[4] = {1, 0, 0, 0};
	static const double asym[4] = {1, 0.5, 0.2, 1};
	static const double nan_cov[4] = {1, NAN, NAN, 1};
	static const double negdef[4] = {1, 2, 2, 1};

	(void)state;
	assert_int_equal(spc_t2_invert(rank2, 3, inv), SPC_T2_ERR_SINGULAR);
	assert_int_equal(spc_t2_invert(nearly, 2, inv), SPC_T2_ERR_SINGULAR);
	assert_int_equal(spc_t2_invert(zero_var, 2, inv), SPC_T2_ERR_SINGULAR);
	assert_int_equal(spc_t2_invert(asym, 2, inv), SPC_T2_ERR_SINGULAR);
	assert_int_equal(spc_t2_invert(negdef, 2, inv), SPC_T2_ERR_SINGULAR);
	assert_int_equal(spc_t2_invert(nan_cov, 2, inv), SPC_T2_ERR_INVALID);
	assert_int_equal(spc_t2_invert(rank2, 0, inv), SPC_T2_ERR_INVALID);
	for (int k = 0; k < 9; k++)
		check_near(inv[k], 0.0, 0.0, "untouched");
	assert_string_equal(spc_t2_strerror(SPC_T2_ERR_SINGULAR),
	                    "covariance matrix singular or ill-conditioned");
}

/* Units must not decide singularity: variances 1e-8 (a length in km) and 1e8 (a resistance in
 * micro-ohm) with correlation 0.5 are perfectly well conditioned. The inverse of
 * [a^2 r ab; r ab b^2] is 1/(1 - r^2) [1/a^2  -r/(ab); -r/(ab)  1/b^2] (2x2 inverse formula). */
static void test_invert_scale_free(void **state)
{
	double a = 1e-4, b = 1e4, r = 0.5, inv[4];
	double cov[4] = {a * a, r * a * b, r * a * b, b * b};

	(void)state;
	assert_int_equal(spc_t2_invert(cov, 2, inv), SPC_T2_OK);
	double k = 1.0 / (1.0 - r * r);
	check_near(inv[0], k / (a * a), 1e-12 * k / (a * a), "inv00");
	check_near(inv[1], -k * r / (a * b), 1e-12 * k / (a * b), "inv01");
	check_near(inv[3], k / (b * b), 1e-12 * k / (b * b), "inv11");
}

/* ---- phase I batch ---- */

/* Tracy, Young & Mason (1992) start-up data, p = 3 (impurities, temperature, concentration),
 * m = 14 individual observations, as reproduced in the SAS/QC User's Guide, SHEWHART procedure,
 * "Multivariate Control Charts" (data set Startup). */
static const double tym_data[14 * 3] = {
        14.92, 85.77, 42.26, 16.90, 83.77, 43.44, 17.38, 84.46, 42.74, 16.90, 86.27,
        43.60, 16.92, 85.23, 43.18, 16.71, 83.81, 43.72, 17.07, 86.08, 43.33, 16.93,
        85.85, 43.41, 16.71, 85.73, 43.28, 16.88, 86.27, 42.59, 16.73, 83.46, 44.00,
        17.07, 85.81, 42.78, 17.60, 85.92, 43.11, 16.90, 84.23, 43.48,
};

/* With S estimated from the same m points, sum_i (x_i - xbar)' S^-1 (x_i - xbar)
 * = trace(S^-1 sum_i (x_i - xbar)(x_i - xbar)') = trace((m-1) I_p) = (m - 1) p: here 39. Each
 * phase I T2 is also bounded by (m-1)^2/m (the support of the scaled Beta of Tracy et al.). */
static void test_phase1_tracy_young_mason(void **state)
{
	double t2[14], ucl = 0.0, sum = 0.0, beta_ucl = 0.0, q = 0.0;

	(void)state;
	assert_int_equal(spc_t2_phase1(tym_data, 14, 1, 3, 0.05, t2, &ucl), SPC_T2_OK);
	for (int i = 0; i < 14; i++) {
		sum += t2[i];
		assert_true(t2[i] >= 0.0 && t2[i] < 13.0 * 13.0 / 14.0);
	}
	check_near(sum, 39.0, 1e-9, "sum of phase I T2 = (m-1) p");
	/* The limit is the Tracy-Young-Mason formula wired to the Beta quantile. */
	assert_int_equal(spc_t2_beta_upper(0.05, 1.5, 5.0, &q), SPC_T2_OK);
	beta_ucl = 169.0 / 14.0 * q;
	check_near(ucl, beta_ucl, 1e-12, "phase I UCL = (m-1)^2/m B");
}

/* Pooled within-subgroup covariance, worked by hand: a subgroup {c - d, c + d} of n = 2 has
 * co-moment 2 d d'. Four subgroups, two with d = (1, 0) and two with d = (0, 1), sum to
 * 4 I; divided by m (n - 1) = 4 that is S = I, whatever the centers c_i (which only move the
 * grand mean, here the mean of the centers (13, 21)). */
static void test_estimate_pooled(void **state)
{
	/* 4 subgroups of 2 observations of p = 2; centers c_i, offsets +-d_i. */
	static const double x[4 * 2 * 2] = {
	        /* c = (10, 20), d = (1, 0) */ 9,  20, 11, 20,
	        /* c = (12, 21), d = (0, 1) */ 12, 20, 12, 22,
	        /* c = (14, 19), d = (1, 0) */ 13, 19, 15, 19,
	        /* c = (16, 24), d = (0, 1) */ 16, 23, 16, 25,
	};
	double mean[2], cov[4];

	(void)state;
	assert_int_equal(spc_t2_estimate(x, 4, 2, 2, mean, cov), SPC_T2_OK);
	check_near(mean[0], 13.0, 1e-12, "grand mean 0");
	check_near(mean[1], 21.0, 1e-12, "grand mean 1");
	check_near(cov[0], 1.0, 1e-12, "S00");
	check_near(cov[1], 0.0, 1e-12, "S01");
	check_near(cov[2], 0.0, 1e-12, "S10");
	check_near(cov[3], 1.0, 1e-12, "S11");
	assert_int_equal(spc_t2_estimate(x, 1, 1, 2, mean, cov), SPC_T2_ERR_TOO_FEW);
}

/* Covariance is shift-invariant; Welford keeps it so even with a large offset, where the
 * textbook sum-of-squares formula would lose about 12 of its 16 digits. */
static void test_estimate_large_offset(void **state)
{
	double shifted[14 * 3], mean0[3], cov0[9], mean1[3], cov1[9];

	(void)state;
	for (int i = 0; i < 14 * 3; i++)
		shifted[i] = tym_data[i] + 1e6;
	assert_int_equal(spc_t2_estimate(tym_data, 14, 1, 3, mean0, cov0), SPC_T2_OK);
	assert_int_equal(spc_t2_estimate(shifted, 14, 1, 3, mean1, cov1), SPC_T2_OK);
	for (int k = 0; k < 9; k++)
		check_near(cov1[k], cov0[k], 1e-8 * fabs(cov0[0]), "shift invariance");
	for (int k = 0; k < 3; k++)
		check_near(mean1[k] - 1e6, mean0[k], 1e-8, "mean shift");
}

/* ---- streaming ---- */

static void test_stream_individuals(void **state)
{
	struct spc_t2_config cfg = {
	        .p = 3, .subgroup_size = 1, .baseline_count = 14, .alpha = 0.05};
	struct spc_t2_state st, restored;
	struct spc_t2_result res;
	double t2[14], ucl1 = 0.0, ucl2 = 0.0;
	unsigned char bytes[sizeof(struct spc_t2_state)];

	(void)state;
	assert_int_equal(spc_t2_init(&st, &cfg), SPC_T2_OK);
	for (int i = 0; i < 14; i++) {
		assert_int_equal(spc_t2_add(&st, &tym_data[i * 3], &res), SPC_T2_OK);
		assert_false(res.plotted);
		assert_int_equal(res.frozen, i == 13);
	}
	assert_int_equal(st.stage, SPC_T2_STAGE_MONITORING);
	assert_int_equal(spc_t2_state_check(&st), SPC_T2_OK);

	/* Streaming must agree with the batch path on the same baseline (wiring check). */
	assert_int_equal(spc_t2_phase1(tym_data, 14, 1, 3, 0.05, t2, &ucl1), SPC_T2_OK);
	assert_int_equal(spc_t2_ucl(SPC_T2_LIMIT_PHASE2, 3, 1, 14, 0.05, &ucl2), SPC_T2_OK);
	for (int i = 0; i < 14; i++) {
		assert_int_equal(spc_t2_add(&st, &tym_data[i * 3], &res), SPC_T2_OK);
		assert_true(res.plotted);
		check_near(res.t2, t2[i], 1e-9, "stream T2 = batch T2");
		check_near(res.ucl, ucl2, 0.0, "phase II limit frozen");
		assert_int_equal(res.signal, t2[i] > ucl2);
	}

	/* Persist as bytes, restore, continue: identical results. */
	memcpy(bytes, &st, sizeof(bytes));
	memcpy(&restored, bytes, sizeof(bytes));
	assert_int_equal(spc_t2_state_check(&restored), SPC_T2_OK);
	const double far[3] = {20.0, 80.0, 40.0};
	struct spc_t2_result a, b;
	assert_int_equal(spc_t2_add(&st, far, &a), SPC_T2_OK);
	assert_int_equal(spc_t2_add(&restored, far, &b), SPC_T2_OK);
	assert_true(a.plotted && a.signal);
	check_near(b.t2, a.t2, 0.0, "restored state identical");

	/* A non-finite observation is refused and leaves the state as it was. */
	const double bad[3] = {1.0, NAN, 2.0};
	memcpy(bytes, &st, sizeof(bytes));
	assert_int_equal(spc_t2_add(&st, bad, &res), SPC_T2_ERR_INVALID);
	assert_memory_equal(bytes, &st, sizeof(bytes));

	/* Damaged bytes are recognised. */
	restored.magic ^= 1u;
	assert_int_equal(spc_t2_state_check(&restored), SPC_T2_ERR_CORRUPT);
	memcpy(&restored, &st, sizeof(st));
	restored.version = 99;
	assert_int_equal(spc_t2_state_check(&restored), SPC_T2_ERR_CORRUPT);
	memcpy(&restored, &st, sizeof(st));
	restored.config.p = 11;
	assert_int_equal(spc_t2_state_check(&restored), SPC_T2_ERR_CORRUPT);
	memcpy(&restored, &st, sizeof(st));
	restored.inv_cov[4] = NAN;
	assert_int_equal(spc_t2_state_check(&restored), SPC_T2_ERR_CORRUPT);
}

/* Fixed parameters from Montgomery Exercise 11.2 (estimated from m = 30 subgroups of n = 10,
 * so the phase II limit applies). Feeding ten copies of sample 1's published mean makes that the
 * subgroup mean, so the plotted T2 must be the published 0.5279, and only on the tenth. */
static void test_stream_fixed_subgroups(void **state)
{
	struct spc_t2_config cfg = {
	        .p = 3, .subgroup_size = 10, .baseline_count = 30, .alpha = 0.001};
	struct spc_t2_state st;
	struct spc_t2_result res;
	static const double sample1[3] = {3.1, 3.7, 3.0};
	double ucl = 0.0;

	(void)state;
	assert_int_equal(spc_t2_init_fixed(&st, &cfg, ex11_2_mean, ex11_2_cov), SPC_T2_OK);
	assert_int_equal(spc_t2_ucl(SPC_T2_LIMIT_PHASE2, 3, 10, 30, 0.001, &ucl), SPC_T2_OK);
	for (int j = 0; j < 10; j++) {
		assert_int_equal(spc_t2_add(&st, sample1, &res), SPC_T2_OK);
		assert_int_equal(res.plotted, j == 9);
	}
	check_near(res.t2, 0.5279, 0.00005 + 1e-9, "T2 sample 1, Montgomery Ex. 11.2");
	check_near(res.ucl, ucl, 0.0, "phase II limit");
	assert_false(res.signal);
	assert_int_equal(spc_t2_state_check(&st), SPC_T2_OK);

	/* baseline_count = 0: parameters known, chi-square limit; chi2_{0.05;3} = 7.815 (table). */
	cfg.baseline_count = 0;
	cfg.alpha = 0.05;
	assert_int_equal(spc_t2_init_fixed(&st, &cfg, ex11_2_mean, ex11_2_cov), SPC_T2_OK);
	check_near(st.ucl, 7.815, 0.0005, "chi2_{0.05;3}");
	assert_int_equal(spc_t2_state_check(&st), SPC_T2_OK);

	/* A singular fixed covariance is refused up front. */
	static const double rank1[4] = {1, 1, 1, 1};
	cfg.p = 2;
	assert_int_equal(spc_t2_init_fixed(&st, &cfg, ex11_2_mean, rank1), SPC_T2_ERR_SINGULAR);
}

/* Learning subgroups in the stream gives the same pooled estimate as the batch estimator. */
static void test_stream_subgroups_learning(void **state)
{
	struct spc_t2_config cfg = {.p = 3, .subgroup_size = 2, .baseline_count = 7, .alpha = 0.01};
	struct spc_t2_state st;
	struct spc_t2_result res;
	double mean[3], cov[9], inv[9], t2 = 0.0;

	(void)state;
	assert_int_equal(spc_t2_init(&st, &cfg), SPC_T2_OK);
	for (int i = 0; i < 14; i++) {
		assert_int_equal(spc_t2_add(&st, &tym_data[i * 3], &res), SPC_T2_OK);
		assert_false(res.plotted);
		assert_int_equal(res.frozen, i == 13);
	}
	assert_int_equal(spc_t2_estimate(tym_data, 7, 2, 3, mean, cov), SPC_T2_OK);
	assert_int_equal(spc_t2_invert(cov, 3, inv), SPC_T2_OK);
	for (int k = 0; k < 3; k++)
		check_near(st.mean[k], mean[k], 1e-12 * fabs(mean[k]), "stream grand mean");
	for (int k = 0; k < 9; k++)
		check_near(st.inv_cov[k], inv[k], 1e-9 * (fabs(inv[k]) + 1.0), "stream inverse");
	assert_int_equal(spc_t2_add(&st, &tym_data[0], &res), SPC_T2_OK);
	assert_false(res.plotted);
	assert_int_equal(spc_t2_add(&st, &tym_data[3], &res), SPC_T2_OK);
	assert_true(res.plotted);
	assert_int_equal(spc_t2_stat(mean, mean, inv, 3, 2, &t2), SPC_T2_OK);
	check_near(t2, 0.0, 0.0, "T2 at the mean");
}

/* A stuck characteristic makes the baseline covariance singular: the freeze is refused with a
 * clear code and learning restarts; nothing is ever plotted against a NaN limit. */
static void test_stream_singular_baseline(void **state)
{
	struct spc_t2_config cfg = {
	        .p = 2, .subgroup_size = 1, .baseline_count = 5, .alpha = 0.0027};
	struct spc_t2_state st;
	struct spc_t2_result res = {0};

	(void)state;
	assert_int_equal(spc_t2_init(&st, &cfg), SPC_T2_OK);
	for (int i = 0; i < 5; i++) {
		double x[2] = {3.65, 1.0 + i}; /* first characteristic never moves */
		int rc = spc_t2_add(&st, x, &res);
		assert_int_equal(rc, i == 4 ? SPC_T2_ERR_SINGULAR : SPC_T2_OK);
	}
	assert_int_equal(st.stage, SPC_T2_STAGE_LEARNING);
	assert_int_equal(st.base_count, 0);
	assert_int_equal(spc_t2_state_check(&st), SPC_T2_OK);

	/* Bad configurations. */
	struct spc_t2_config bad = cfg;
	bad.baseline_count = 2; /* phase II individuals needs m > p */
	assert_int_equal(spc_t2_init(&st, &bad), SPC_T2_ERR_TOO_FEW);
	bad = cfg;
	bad.alpha = NAN;
	assert_int_equal(spc_t2_init(&st, &bad), SPC_T2_ERR_INVALID);
	bad = cfg;
	bad.p = 0;
	assert_int_equal(spc_t2_init(&st, &bad), SPC_T2_ERR_INVALID);
	assert_int_equal(spc_t2_init(NULL, &cfg), SPC_T2_ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_f_table_values),
	        cmocka_unit_test(test_f_closed_form_d1_2),
	        cmocka_unit_test(test_beta_closed_forms),
	        cmocka_unit_test(test_betainc_properties),
	        cmocka_unit_test(test_chi2),
	        cmocka_unit_test(test_ucl_montgomery_example_11_1),
	        cmocka_unit_test(test_ucl_individuals_closed_form),
	        cmocka_unit_test(test_ucl_rejects),
	        cmocka_unit_test(test_invert_and_stat_montgomery_ex_11_2),
	        cmocka_unit_test(test_stat_montgomery_ex_11_1),
	        cmocka_unit_test(test_invert_rejects),
	        cmocka_unit_test(test_invert_scale_free),
	        cmocka_unit_test(test_phase1_tracy_young_mason),
	        cmocka_unit_test(test_estimate_pooled),
	        cmocka_unit_test(test_estimate_large_offset),
	        cmocka_unit_test(test_stream_individuals),
	        cmocka_unit_test(test_stream_fixed_subgroups),
	        cmocka_unit_test(test_stream_subgroups_learning),
	        cmocka_unit_test(test_stream_singular_baseline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
