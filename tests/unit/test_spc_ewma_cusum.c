/* EWMA and tabular CUSUM against published examples.
 *
 * Sources:
 *   [NIST-EWMA] NIST/SEMATECH e-Handbook of Statistical Methods, 6.3.2.4 "EWMA Control
 *               Charts", https://www.itl.nist.gov/div898/handbook/pmc/section3/pmc324.htm
 *               (EWMA0 = 50, s = 2.0539, lambda = 0.3, k = 3; 20 observations, EWMA table,
 *               UCL = 52.5884, LCL = 47.4115; all EWMA points inside the limits).
 *   [ISQC]      Montgomery, Introduction to Statistical Quality Control, 6th ed., Example 9.1,
 *               Tables 9.1/9.2 (mu0 = 10, sigma = 1, k = 0.5, h = 5: C+ first exceeds H at
 *               period 29 with C+ = 5.28 and N+ = 7).
 *   [MR3]       Montgomery & Runger, Applied Statistics and Probability for Engineers, 3rd ed.,
 *               Example 16-6, Table 16-8 (chemical concentration of Table 16-3, mu0 = 99,
 *               K = 1, H = 10 in the data's units: every upper and lower CUSUM, no signal). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "spc.h"

#define assert_near(actual, expected, tolerance)                                                   \
	assert_true(fabs((double)(actual) - (double)(expected)) <= (tolerance))

static struct spc_state fixed_chart(enum spc_chart_kind kind, double centre, double sigma)
{
	struct spc_chart_config config = {
	        .kind = kind,
	        .subgroup_size = 1,
	        .limits_source = SPC_LIMITS_FIXED_SIGMA,
	        .centre = centre,
	        .sigma = sigma,
	};
	if (kind == SPC_CHART_EWMA) {
		config.ewma_lambda = 0.3;
		config.ewma_width = 3;
		config.ewma_steady_state = true;
	}
	struct spc_state state;
	assert_int_equal(spc_state_init(&state, &config, NULL), SPC_OK);
	return state;
}

static void test_ewma_nist(void **unused)
{
	(void)unused;
	/* [NIST-EWMA] data and the EWMA column of its table (2 decimals). */
	static const double data[20] = {52.0, 47.0, 53.0, 49.3, 50.1, 47.0, 51.0, 50.1, 51.2, 50.5,
	                                49.6, 47.6, 49.9, 51.3, 47.8, 51.2, 52.6, 52.4, 53.6, 52.1};
	static const double ewma[20] = {50.60, 49.52, 50.56, 50.18, 50.16, 49.21, 49.75,
	                                49.85, 50.26, 50.33, 50.11, 49.36, 49.52, 50.05,
	                                49.38, 49.92, 50.73, 51.23, 51.94, 51.99};
	struct spc_state state = fixed_chart(SPC_CHART_EWMA, 50.0, 2.0539);
	for (int i = 0; i < 20; i++) {
		struct spc_result r;
		struct spc_observation o = {.value = data[i]};
		assert_int_equal(spc_chart_add(&state, &o, &r), SPC_OK);
		assert_true(r.judged);
		assert_near(r.primary.value, ewma[i], 0.005);
		/* UCL = 50 + 3(0.4201)(2.0539) = 52.5884, LCL = 47.4115. The published LCL is
		 * 47.41160 cut to 4 decimals, not rounded: one more unit of tolerance. */
		assert_near(r.primary.ucl, 52.5884, 0.00005);
		assert_near(r.primary.lcl, 47.4115, 0.00005 + 0.0001);
		assert_near(r.primary.cl, 50.0, 1e-12);
		/* "the process is in control because all EWMA lie between the control limits" */
		assert_int_equal(r.violation_count, 0);
	}
}

static void test_ewma_time_varying_limits(void **unused)
{
	(void)unused;
	/* Definition (NIST 6.3.2.4; Montgomery ISQC eq. 9.25): the exact limits are
	 * mu0 +- L sigma sqrt(lambda / (2 - lambda) (1 - (1 - lambda)^(2i))). At i = 1 that is
	 * L sigma lambda exactly, and they grow towards the steady-state limits. */
	struct spc_chart_config config = {
	        .kind = SPC_CHART_EWMA,
	        .subgroup_size = 1,
	        .limits_source = SPC_LIMITS_FIXED_SIGMA,
	        .centre = 50.0,
	        .sigma = 2.0539,
	        .ewma_lambda = 0.3,
	        .ewma_width = 3,
	        .ewma_steady_state = false,
	};
	struct spc_state state;
	assert_int_equal(spc_state_init(&state, &config, NULL), SPC_OK);
	double previous_width = 0;
	for (int i = 0; i < 60; i++) {
		struct spc_result r;
		struct spc_observation o = {.value = 50.0};
		assert_int_equal(spc_chart_add(&state, &o, &r), SPC_OK);
		double width = r.primary.ucl - r.primary.cl;
		if (i == 0)
			assert_near(width, 3 * 2.0539 * 0.3, 1e-12);
		assert_true(width >= previous_width);
		assert_true(width < 52.5884 - 50.0 + 0.00005);
		previous_width = width;
	}
	/* [NIST-EWMA] steady-state UCL after many points. */
	assert_near(previous_width + 50.0, 52.5884, 0.0001);
}

static void test_cusum_montgomery_example_9_1(void **unused)
{
	(void)unused;
	/* [ISQC] Table 9.1: 20 observations from N(10, 1), then 10 from N(11, 1). */
	static const double data[30] = {9.45,  7.99,  9.29,  11.66, 12.16, 10.18, 8.04,  11.46,
	                                9.20,  10.34, 9.03,  11.47, 10.51, 9.40,  10.08, 9.37,
	                                10.62, 10.31, 8.52,  10.84, 10.90, 9.33,  12.29, 11.50,
	                                10.60, 11.08, 10.38, 11.62, 11.31, 10.52};
	struct spc_chart_config config = {
	        .kind = SPC_CHART_CUSUM,
	        .subgroup_size = 1,
	        .limits_source = SPC_LIMITS_FIXED_SIGMA,
	        .centre = 10,
	        .sigma = 1,
	        .cusum_k = 0.5,
	        .cusum_h = 5,
	};
	struct spc_state state;
	assert_int_equal(spc_state_init(&state, &config, NULL), SPC_OK);
	for (int i = 0; i < 29; i++) {
		struct spc_result r;
		struct spc_observation o = {.value = data[i]};
		assert_int_equal(spc_chart_add(&state, &o, &r), SPC_OK);
		assert_near(r.primary.ucl, 5.0, 1e-12); /* H = h sigma = 5 */
		if (i < 28) {
			assert_int_equal(r.violation_count, 0);
			continue;
		}
		/* [ISQC] Ex. 9.1: C+_29 = 5.28 > H, N+ = 7: the run began at period 23 (the
		 * shift "occurred between periods 22 and 23"). */
		assert_near(r.primary.value, 5.28, 0.005);
		assert_int_equal(r.violation_count, 1);
		assert_int_equal(r.violations[0].rule, SPC_RULE_CUSUM_UPPER);
		assert_int_equal(r.violations[0].last_point, 29);
		assert_int_equal(r.violations[0].last_point - r.violations[0].first_point + 1, 7);
	}
}

static void test_cusum_montgomery_runger_table_16_8(void **unused)
{
	(void)unused;
	/* [MR3] Table 16-3 data and Table 16-8 upper (sH) and lower (sL) CUSUMs. The book gives
	 * K = 1 and H = 10 in the data's units; with sigma = 1 the sigma-unit k and h are the
	 * same numbers. */
	static const double data[20] = {102.0, 94.8,  98.3,  98.4,  102.0, 98.5,  99.0,
	                                97.7,  100.0, 98.1,  101.3, 98.7,  101.1, 98.4,
	                                97.0,  96.7,  100.3, 101.4, 97.2,  101.0};
	static const double upper[20] = {2.0, 0.0, 0.0, 0.0, 2.0, 0.5, 0.0, 0.0, 0.0, 0.0,
	                                 1.3, 0.0, 1.1, 0.0, 0.0, 0.0, 0.3, 1.7, 0.0, 1.0};
	static const double lower[20] = {0.0, 3.2, 2.9, 2.5, 0.0, 0.0, 0.0, 0.3, 0.0, 0.0,
	                                 0.0, 0.0, 0.0, 0.0, 1.0, 2.3, 0.0, 0.0, 0.8, 0.0};
	struct spc_chart_config config = {
	        .kind = SPC_CHART_CUSUM,
	        .subgroup_size = 1,
	        .limits_source = SPC_LIMITS_FIXED_SIGMA,
	        .centre = 99,
	        .sigma = 1,
	        .cusum_k = 1,
	        .cusum_h = 10,
	};
	struct spc_state state;
	assert_int_equal(spc_state_init(&state, &config, NULL), SPC_OK);
	for (int i = 0; i < 20; i++) {
		struct spc_result r;
		struct spc_observation o = {.value = data[i]};
		assert_int_equal(spc_chart_add(&state, &o, &r), SPC_OK);
		assert_near(r.primary.value, upper[i], 0.05);
		assert_true(r.has_secondary);
		assert_near(r.secondary.value, lower[i], 0.05);
		/* "the CUSUMs in this example never exceed the decision interval H = 10" */
		assert_int_equal(r.violation_count, 0);
	}
}

static void test_cusum_of_subgroup_means(void **unused)
{
	(void)unused;
	/* Subgroups of 4 plot their mean against K and H in units of sigma / sqrt(4), the
	 * textbook convention (Montgomery ISQC Sec. 9.1.7). A single subgroup of mean 12 with
	 * mu0 = 10, sigma = 2, k = 0.5: K = 0.5 * 1 = 0.5, C+ = 12 - 10.5 = 1.5, H = 5 * 1. */
	struct spc_chart_config config = {
	        .kind = SPC_CHART_CUSUM,
	        .subgroup_size = 4,
	        .limits_source = SPC_LIMITS_FIXED_SIGMA,
	        .centre = 10,
	        .sigma = 2,
	        .cusum_k = 0.5,
	        .cusum_h = 5,
	};
	struct spc_state state;
	assert_int_equal(spc_state_init(&state, &config, NULL), SPC_OK);
	const double values[4] = {11, 13, 12, 12};
	struct spc_result r;
	for (int i = 0; i < 4; i++) {
		struct spc_observation o = {.value = values[i]};
		assert_int_equal(spc_chart_add(&state, &o, &r), SPC_OK);
		assert_int_equal(r.plotted, i == 3);
	}
	assert_near(r.primary.value, 1.5, 1e-12);
	assert_near(r.primary.ucl, 5.0, 1e-12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ewma_nist),
	        cmocka_unit_test(test_ewma_time_varying_limits),
	        cmocka_unit_test(test_cusum_montgomery_example_9_1),
	        cmocka_unit_test(test_cusum_montgomery_runger_table_16_8),
	        cmocka_unit_test(test_cusum_of_subgroup_means),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
