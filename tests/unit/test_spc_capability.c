/* Capability indices against published examples.
 *
 * Sources:
 *   [MR3] Montgomery & Runger, Applied Statistics and Probability for Engineers, 3rd ed.
 *         (Wiley 2003), Sec. 16-7: vane opening, LSL = 20, USL = 40, sigma-hat = r-bar/d2 =
 *         5.0/2.326 = 2.15, x-bar = 33.19: PCR = 1.55, PCRk = min(1.06, 2.04) = 1.06; and
 *         Example 16-3: LSL = 90, USL = 110 mA, mean 107.0, sigma 1.5: PCR = 2.22, PCRk = 0.67.
 *         (PCR and PCRk are that book's names for Cp and Cpk.)
 * Pp and Ppk are the same formulas with the overall sigma (Montgomery ISQC Sec. 8.3.4), so the
 * published Cp/Cpk numbers also check them when the same sigma is passed as overall sigma. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "spc.h"

#define assert_near(actual, expected, tolerance)                                                   \
	assert_true(fabs((double)(actual) - (double)(expected)) <= (tolerance))

static void test_vane_opening(void **unused)
{
	(void)unused;
	struct spc_spec spec = {.has_lsl = true, .has_usl = true, .lsl = 20, .usl = 40};
	struct spc_capability c;
	assert_int_equal(spc_capability_compute(&spec, 33.19, 2.15, 2.15, &c), SPC_OK);
	assert_true(c.cp.defined && c.cpk.defined && c.cpl.defined && c.cpu.defined);
	assert_near(c.cp.value, 1.55, 0.005);  /* [MR3] PCR = 1.55 */
	assert_near(c.cpu.value, 1.06, 0.005); /* [MR3] (40 - 33.19) / (3 * 2.15) = 1.06 */
	assert_near(c.cpl.value, 2.04, 0.005); /* [MR3] (33.19 - 20) / (3 * 2.15) = 2.04 */
	assert_near(c.cpk.value, 1.06, 0.005); /* [MR3] PCRk = 1.06 */
	assert_near(c.pp.value, 1.55, 0.005);
	assert_near(c.ppk.value, 1.06, 0.005);
}

static void test_example_16_3_current(void **unused)
{
	(void)unused;
	struct spc_spec spec = {.has_lsl = true, .has_usl = true, .lsl = 90, .usl = 110};
	struct spc_capability c;
	assert_int_equal(spc_capability_compute(&spec, 107.0, 1.5, 1.5, &c), SPC_OK);
	assert_near(c.cp.value, 2.22, 0.005);  /* [MR3] Ex. 16-3: PCR = 2.22 */
	assert_near(c.cpk.value, 0.67, 0.005); /* [MR3] Ex. 16-3: PCRk = 0.67 */

	/* One-sided (USL only): Cp, Pp and Cpm do not exist; Cpk is the upper index, which is
	 * the published PCRk = (110 - 107) / (3 * 1.5) = 0.67 [MR3]. */
	struct spc_spec upper_only = {.has_usl = true, .usl = 110};
	assert_int_equal(spc_capability_compute(&upper_only, 107.0, 1.5, 1.5, &c), SPC_OK);
	assert_false(c.cp.defined);
	assert_true(isnan(c.cp.value));
	assert_false(c.pp.defined);
	assert_false(c.cpm.defined);
	assert_false(c.ppm.defined);
	assert_false(c.cpl.defined);
	assert_true(c.cpk.defined);
	assert_near(c.cpk.value, 0.67, 0.005);
	assert_near(c.ppk.value, 0.67, 0.005);
}

static void test_cpm_definition(void **unused)
{
	(void)unused;
	/* Cpm = (USL - LSL) / (6 sqrt(sigma^2 + (mu - T)^2)) (Chan, Cheng and Spiring 1988;
	 * Montgomery ISQC eq. 8.21) with the within sigma; Ppm the same with the overall sigma
	 * (Minitab, Normal Capability Analysis, "Methods and formulas"). On target they equal Cp
	 * and Pp; off target they are smaller. Before issue 11 (item 3) `cpm` was computed with the
	 * overall sigma, i.e. was Ppm, and this check read "cpm == pp". */
	struct spc_spec spec = {.has_lsl = true,
	                        .has_usl = true,
	                        .has_target = true,
	                        .lsl = 90,
	                        .usl = 110,
	                        .target = 100};
	struct spc_capability c;
	assert_int_equal(spc_capability_compute(&spec, 100.0, 1.5, 2.0, &c), SPC_OK);
	assert_true(c.cpm.defined && c.ppm.defined);
	assert_near(c.cpm.value, c.cp.value, 1e-12); /* 20 / 9 */
	assert_near(c.ppm.value, c.pp.value, 1e-12); /* 20 / 12 */
	assert_int_equal(spc_capability_compute(&spec, 103.0, 1.5, 2.0, &c), SPC_OK);
	assert_true(c.cpm.value < c.cp.value);
	assert_true(c.ppm.value < c.pp.value);
	/* By hand: Cpm = 20 / (6 sqrt(1.5^2 + 3^2)) = 20 / (6 x 3.354102) = 0.993808;
	 * Ppm = 20 / (6 sqrt(2^2 + 3^2)) = 20 / (6 x 3.605551) = 0.924500. */
	assert_near(c.cpm.value, 0.993808, 5e-7);
	assert_near(c.ppm.value, 0.924500, 5e-7);
	/* Without a target the mid-point of the specification is the target. */
	spec.has_target = false;
	struct spc_capability midpoint;
	assert_int_equal(spc_capability_compute(&spec, 103.0, 1.5, 2.0, &midpoint), SPC_OK);
	assert_near(midpoint.cpm.value, c.cpm.value, 1e-12);
	assert_near(midpoint.ppm.value, c.ppm.value, 1e-12);
	/* [MR3] vane opening (mean 33.19, sigma-hat 2.15, 20..40, T = 30): by the same formula
	 * 20 / (6 sqrt(2.15^2 + 3.19^2)) = 20 / (6 x 3.846830) = 0.866500. */
	spec = (struct spc_spec){.has_lsl = true, .has_usl = true, .lsl = 20, .usl = 40};
	assert_int_equal(spc_capability_compute(&spec, 33.19, 2.15, NAN, &c), SPC_OK);
	assert_near(c.cpm.value, 0.866500, 5e-7);
	assert_false(c.ppm.defined);
}

/* Expected PPM of a normal process: below = 1e6 Phi((LSL - mean) / sigma), above = 1e6 (1 -
 * Phi((USL - mean) / sigma)), total = below + above (Minitab, Normal Capability Analysis,
 * "Methods and formulas", expected within / overall performance; Montgomery ISQC Sec. 8.3.1,
 * the table of process fallout against Cp: Cp = 1 gives 1350 ppm one-sided and 2700 ppm
 * two-sided, Cp = 0.5 gives 66,807 and 133,614). Phi values from the standard normal table
 * (Montgomery Appendix II), to more digits: Phi(-3) = 0.001349898, Phi(-2) = 0.022750132,
 * Phi(-4) = 0.0000316712, Phi(-1.5) = 0.066807201. */
static void test_expected_ppm(void **unused)
{
	(void)unused;
	struct spc_spec spec = {.has_lsl = true, .has_usl = true, .lsl = 97, .usl = 103};
	struct spc_capability c;

	/* Centred, sigma_within 1 (Cp = 1): 3 sigmas to each limit. Overall sigma 2 (Pp = 0.5):
	 * 1.5 sigmas to each limit. */
	assert_int_equal(spc_capability_compute(&spec, 100.0, 1.0, 2.0, &c), SPC_OK);
	assert_near(c.cp.value, 1.0, 1e-12);
	assert_near(c.expected_within.below.value, 1349.898, 5e-4);
	assert_near(c.expected_within.above.value, 1349.898, 5e-4);
	assert_near(c.expected_within.total.value, 2699.796, 1e-3);
	assert_near(c.pp.value, 0.5, 1e-12);
	assert_near(c.expected_overall.below.value, 66807.201, 5e-4);
	assert_near(c.expected_overall.total.value, 133614.403, 1e-3);

	/* Off centre by one sigma: 4 sigmas to LSL, 2 to USL; Cpk = 2/3. */
	assert_int_equal(spc_capability_compute(&spec, 101.0, 1.0, NAN, &c), SPC_OK);
	assert_near(c.expected_within.below.value, 31.6712, 5e-5);
	assert_near(c.expected_within.above.value, 22750.132, 5e-4);
	assert_near(c.expected_within.total.value, 22781.803, 1e-3);
	/* Unknown overall sigma: no expected overall PPM. */
	assert_false(c.expected_overall.below.defined || c.expected_overall.above.defined ||
	             c.expected_overall.total.defined);
	assert_true(isnan(c.expected_overall.total.value));

	/* Far tails keep their precision: 6 sigmas, 1e6 Phi(-6) = 0.000986588 ppm. */
	assert_int_equal(spc_capability_compute(&spec, 100.0, 0.5, 0.5, &c), SPC_OK);
	assert_near(c.expected_within.above.value / 0.000986588, 1.0, 1e-6);

	/* One-sided (USL only): only the upper side exists; Cp, Pp, Cpm, Ppm are not reported
	 * and Cpk is Cpu (Montgomery ISQC Sec. 8.3: one-sided PCRs; Minitab shows "*"). */
	struct spc_spec upper = {.has_usl = true, .usl = 103};
	assert_int_equal(spc_capability_compute(&upper, 101.0, 1.0, 1.0, &c), SPC_OK);
	assert_false(c.cp.defined || c.pp.defined || c.cpm.defined || c.ppm.defined);
	assert_false(c.cpl.defined || c.expected_within.below.defined ||
	             c.expected_overall.below.defined);
	assert_near(c.cpk.value, 2.0 / 3.0, 1e-12);
	assert_near(c.expected_within.above.value, 22750.132, 5e-4);
	assert_near(c.expected_within.total.value, c.expected_within.above.value, 0);
	/* LSL only: the lower side. */
	struct spc_spec lower = {.has_lsl = true, .lsl = 97};
	assert_int_equal(spc_capability_compute(&lower, 101.0, 1.0, 1.0, &c), SPC_OK);
	assert_false(c.cp.defined || c.cpu.defined || c.expected_overall.above.defined);
	assert_near(c.cpk.value, 4.0 / 3.0, 1e-12);
	assert_near(c.expected_overall.below.value, 31.6712, 5e-5);
	assert_near(c.expected_overall.total.value, 31.6712, 5e-5);
}

/* Observed PPM: 1e6 x (number of values < LSL) / N and 1e6 x (number > USL) / N (Minitab,
 * Normal Capability Analysis, "Methods and formulas", observed performance). A value on a
 * limit is in specification. */
static void test_observed_ppm(void **unused)
{
	(void)unused;
	struct spc_spec spec = {.has_lsl = true, .has_usl = true, .lsl = 97, .usl = 103};
	/* 96 below, 97 and 103 on the limits (inside), 104 and 105 above: 1/8 and 2/8. */
	const double values[] = {96, 97, 100, 101, 99, 103, 104, 105};
	struct spc_ppm ppm;
	assert_int_equal(spc_capability_observed(&spec, values, 8, &ppm), SPC_OK);
	assert_true(ppm.below.defined && ppm.above.defined && ppm.total.defined);
	assert_near(ppm.below.value, 125000.0, 1e-9);
	assert_near(ppm.above.value, 250000.0, 1e-9);
	assert_near(ppm.total.value, 375000.0, 1e-9);
	/* All inside: 0, defined. */
	assert_int_equal(spc_capability_observed(&spec, values + 1, 5, &ppm), SPC_OK);
	assert_true(ppm.total.defined);
	assert_near(ppm.total.value, 0.0, 0);
	/* One-sided: the missing side is undefined, the total counts the other. */
	struct spc_spec upper = {.has_usl = true, .usl = 103};
	assert_int_equal(spc_capability_observed(&upper, values, 8, &ppm), SPC_OK);
	assert_false(ppm.below.defined);
	assert_near(ppm.above.value, 250000.0, 1e-9);
	assert_near(ppm.total.value, 250000.0, 1e-9);
	/* Errors leave *ret untouched. */
	struct spc_ppm before = ppm;
	const double bad[] = {100, NAN};
	struct spc_spec none = {0};
	assert_int_equal(spc_capability_observed(&spec, bad, 2, &ppm), SPC_ERR_INVALID);
	assert_int_equal(spc_capability_observed(&spec, values, 0, &ppm), SPC_ERR_INVALID);
	assert_int_equal(spc_capability_observed(&none, values, 8, &ppm), SPC_ERR_INVALID);
	assert_memory_equal(&ppm, &before, sizeof(ppm));
}

static void test_undefined_and_errors(void **unused)
{
	(void)unused;
	struct spc_spec spec = {.has_lsl = true, .has_usl = true, .lsl = 90, .usl = 110};
	struct spc_capability c;
	/* Unknown within sigma (NAN) or zero overall sigma: those indices are undefined. */
	assert_int_equal(spc_capability_compute(&spec, 100.0, NAN, 0.0, &c), SPC_OK);
	assert_false(c.cp.defined);
	assert_false(c.cpk.defined);
	assert_false(c.pp.defined);
	assert_false(c.ppk.defined);
	assert_false(c.cpm.defined);
	assert_false(c.ppm.defined);
	assert_false(c.expected_within.total.defined);
	assert_false(c.expected_overall.total.defined);

	struct spc_spec none = {0};
	assert_int_equal(spc_capability_compute(&none, 100.0, 1, 1, &c), SPC_ERR_INVALID);
	struct spc_spec reversed = {.has_lsl = true, .has_usl = true, .lsl = 110, .usl = 90};
	assert_int_equal(spc_capability_compute(&reversed, 100.0, 1, 1, &c), SPC_ERR_INVALID);
	assert_int_equal(spc_capability_compute(&spec, NAN, 1, 1, &c), SPC_ERR_INVALID);

	double mean, sd;
	const double one[1] = {1.0};
	assert_int_equal(spc_mean_sd(one, 1, &mean, &sd), SPC_ERR_INVALID);
	/* [MR3] Sec. 16-5: the vane-opening sample 1 (33, 29, 31, 32, 33) has mean 31.6. */
	const double sample[5] = {33, 29, 31, 32, 33};
	assert_int_equal(spc_mean_sd(sample, 5, &mean, &sd), SPC_OK);
	assert_near(mean, 31.6, 1e-12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_vane_opening),   cmocka_unit_test(test_example_16_3_current),
	        cmocka_unit_test(test_cpm_definition), cmocka_unit_test(test_expected_ppm),
	        cmocka_unit_test(test_observed_ppm),   cmocka_unit_test(test_undefined_and_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
