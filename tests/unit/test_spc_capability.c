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
	assert_false(c.cpl.defined);
	assert_true(c.cpk.defined);
	assert_near(c.cpk.value, 0.67, 0.005);
	assert_near(c.ppk.value, 0.67, 0.005);
}

static void test_cpm_definition(void **unused)
{
	(void)unused;
	/* Cpm = (USL - LSL) / (6 sqrt(sigma^2 + (mu - T)^2)) (Chan, Cheng and Spiring 1988;
	 * Montgomery ISQC eq. 8.21): on target it equals Pp; off target it is smaller. */
	struct spc_spec spec = {.has_lsl = true,
	                        .has_usl = true,
	                        .has_target = true,
	                        .lsl = 90,
	                        .usl = 110,
	                        .target = 100};
	struct spc_capability c;
	assert_int_equal(spc_capability_compute(&spec, 100.0, 1.5, 2.0, &c), SPC_OK);
	assert_true(c.cpm.defined);
	assert_near(c.cpm.value, c.pp.value, 1e-12);
	assert_int_equal(spc_capability_compute(&spec, 103.0, 1.5, 2.0, &c), SPC_OK);
	assert_true(c.cpm.value < c.pp.value);
	/* Without a target the mid-point of the specification is the target. */
	spec.has_target = false;
	struct spc_capability midpoint;
	assert_int_equal(spc_capability_compute(&spec, 103.0, 1.5, 2.0, &midpoint), SPC_OK);
	assert_near(midpoint.cpm.value, c.cpm.value, 1e-12);
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
	        cmocka_unit_test(test_vane_opening),
	        cmocka_unit_test(test_example_16_3_current),
	        cmocka_unit_test(test_cpm_definition),
	        cmocka_unit_test(test_undefined_and_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
