/* ct-spc-analyze end to end: the built binary on published data sets (tests/data/spc/) must
 * print the published centre lines, limits, statistics, violations and indices.
 *
 * Sources (the same examples as the engine tests, cited at each number):
 *   [MR3]  Montgomery & Runger, Applied Statistics and Probability for Engineers, 3rd ed.,
 *          Table 16-1 / Fig. 16-8 (vane opening X-bar/R), Table 16-3 / Sec. 16-6 (I-MR),
 *          Sec. 16-7 (capability: sigma-hat 2.15, x-bar 33.19, PCR 1.55, PCRk 1.06).
 *   [ISQC] Montgomery, Introduction to Statistical Quality Control, 6th ed., Tables 7.4/7.5
 *          (p chart, variable sample size), Example 9.1 (tabular CUSUM).
 *   [NIST-EWMA] NIST/SEMATECH e-Handbook 6.3.2.4,
 *          https://www.itl.nist.gov/div898/handbook/pmc/section3/pmc324.htm */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <jansson.h>

#define assert_near(actual, expected, tolerance)                                                   \
	assert_true(fabs((double)(actual) - (double)(expected)) <= (tolerance))

/* Runs the command with `args` (data files relative to SPC_DATA_DIR via %1$s); returns the
 * exit status and, on success, the parsed JSON in *ret_json. */
static int run(const char *args, json_t **ret_json)
{
	char command[2048];
	int len = snprintf(command, sizeof(command), "cd '%s' && '%s' %s 2>/dev/null", SPC_DATA_DIR,
	                   SPC_ANALYZE_BIN, args);
	assert_true(len > 0 && (size_t)len < sizeof(command));
	FILE *pipe = popen(command, "r");
	assert_non_null(pipe);
	json_error_t error;
	json_t *json = json_loadf(pipe, JSON_DISABLE_EOF_CHECK, &error);
	int status = pclose(pipe);
	assert_true(WIFEXITED(status));
	if (ret_json)
		*ret_json = json;
	else
		json_decref(json);
	return WEXITSTATUS(status);
}

static double real(const json_t *object, const char *key)
{
	json_t *v = json_object_get(object, key);
	assert_true(json_is_number(v));
	return json_number_value(v);
}

static const json_t *point(const json_t *out, size_t number)
{
	const json_t *p = json_array_get(json_object_get(out, "plotted"), number - 1);
	assert_non_null(p);
	assert_int_equal(json_integer_value(json_object_get(p, "point")), number);
	return p;
}

/* The point numbers at which `rule` fired, as a bit set (points 1..63). */
static uint64_t violations_of(const json_t *out, const char *rule)
{
	uint64_t points = 0;
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(out, "violations"), i, v)
	{
		if (strcmp(json_string_value(json_object_get(v, "rule")), rule) == 0)
			points |= UINT64_C(1) << json_integer_value(json_object_get(v, "point"));
	}
	return points;
}

#define BIT(n) (UINT64_C(1) << (n))

static void test_xbar_r_vane_opening(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	assert_int_equal(run("--chart xbar_r --input vane_opening.csv --column opening "
	                     "--subgroup-column sample",
	                     &out),
	                 0);
	/* [MR3] Fig. 16-8: 33.32, UCL 36.67, LCL 29.97; r-bar 5.80, R UCL 12.27 (book uses
	 * D4 = 2.115, unrounded 2.1145: tolerance + 5.8 * 0.0005). */
	assert_near(real(out, "centre_line"), 33.32, 0.005);
	assert_near(real(out, "ucl"), 36.67, 0.005);
	assert_near(real(out, "lcl"), 29.97, 0.005);
	const json_t *range = json_object_get(point(out, 1), "range");
	assert_near(real(range, "cl"), 5.80, 0.005);
	assert_near(real(range, "ucl"), 12.27, 0.005 + 5.8 * 0.0005);
	assert_near(real(point(out, 1), "value"), 31.6, 1e-9); /* [MR3] sample 1: 31.6 */
	/* [MR3]: samples 6, 8, 11, 19 out on the X-bar chart, sample 9 on the R chart. */
	assert_true(violations_of(out, "we1") == (BIT(6) | BIT(8) | BIT(11) | BIT(19)));
	assert_true(violations_of(out, "secondary") == BIT(9));
	json_decref(out);
}

static void test_imr_concentration(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	assert_int_equal(run("--chart imr --input concentration.csv --column concentration "
	                     "--rules we1",
	                     &out),
	                 0);
	/* [MR3] Sec. 16-6: x-bar 99.1, UCL 105.99, LCL 92.21 (from rounded x-bar and mr-bar:
	 * tolerance 0.012, see test_spc_charts.c); mr-bar 2.59; first MR 7.2; no signal. */
	assert_near(real(out, "centre_line"), 99.1, 0.05);
	assert_near(real(out, "ucl"), 105.99, 0.012);
	assert_near(real(out, "lcl"), 92.21, 0.012);
	const json_t *mr = json_object_get(point(out, 2), "moving_range");
	assert_near(real(mr, "value"), 7.2, 1e-9);
	assert_near(real(mr, "cl"), 2.59, 0.005);
	assert_true(json_is_null(json_object_get(point(out, 1), "moving_range")));
	assert_int_equal(json_array_size(json_object_get(out, "violations")), 0);
	json_decref(out);
}

static void test_p_chart_variable_sample_size(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	assert_int_equal(run("--chart p --input purchase_orders.csv --column nonconforming "
	                     "--size-column inspected --rules none",
	                     &out),
	                 0);
	/* [ISQC] Table 7.4: p-bar = 234/2450 = 0.096; limits vary with n (Table 7.5, computed
	 * by the book from p-bar rounded to 0.096: tolerance 0.0012 as in test_spc_charts.c).
	 * Day 1 has n = 100: UCL 0.184, LCL 0.008; day 2 has n = 80: UCL 0.195, LCL 0. Day 1
	 * fraction: 12/100 = 0.12. */
	assert_true(json_is_true(json_object_get(out, "limits_vary")));
	assert_true(json_is_null(json_object_get(out, "ucl")));
	assert_near(real(out, "centre"), 0.096, 0.0005);
	assert_near(real(point(out, 1), "value"), 0.12, 1e-12);
	assert_near(real(point(out, 1), "ucl"), 0.184, 0.0012);
	assert_near(real(point(out, 1), "lcl"), 0.008, 0.0012);
	assert_near(real(point(out, 2), "ucl"), 0.195, 0.0012);
	assert_near(real(point(out, 2), "lcl"), 0.000, 1e-12);
	assert_near(real(point(out, 12), "ucl"), 0.177, 0.0012); /* n = 120 */
	json_decref(out);
}

static void test_ewma_nist(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	assert_int_equal(run("--chart ewma --input nist_ewma.csv --centre 50 --sigma 2.0539 "
	                     "--lambda 0.3 --L 3 --steady-state",
	                     &out),
	                 0);
	/* [NIST-EWMA]: UCL 52.5884, LCL 47.4115 (published cut, not rounded: +0.0001), EWMA
	 * after observations 1, 2, 20: 50.60, 49.52, 51.99; no EWMA beyond the limits. */
	assert_near(real(out, "ucl"), 52.5884, 0.00005);
	assert_near(real(out, "lcl"), 47.4115, 0.00015);
	assert_near(real(point(out, 1), "value"), 50.60, 0.005);
	assert_near(real(point(out, 2), "value"), 49.52, 0.005);
	assert_near(real(point(out, 20), "value"), 51.99, 0.005);
	assert_int_equal(json_array_size(json_object_get(out, "violations")), 0);
	json_decref(out);
}

static void test_cusum_example_9_1(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	assert_int_equal(run("--chart cusum --input cusum_example_9_1.csv --column x "
	                     "--centre 10 --sigma 1 --k 0.5 --h 5",
	                     &out),
	                 0);
	/* [ISQC] Ex. 9.1: C+_29 = 5.28 exceeds H = 5 first at period 29, N+ = 7 (the run began
	 * at period 23). */
	assert_near(real(point(out, 29), "value"), 5.28, 0.005);
	assert_near(real(point(out, 29), "ucl"), 5.0, 1e-12);
	uint64_t upper = violations_of(out, "cusum_upper");
	assert_true((upper & (BIT(29) - 1)) == 0);
	assert_true(upper & BIT(29));
	const json_t *first = json_array_get(json_object_get(out, "violations"), 0);
	assert_int_equal(json_integer_value(json_object_get(first, "first_point")), 23);
	json_decref(out);
}

static void test_capability_vane_opening(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	/* [MR3] Sec. 16-7 with the book's estimates as fixed parameters: mean 33.19,
	 * sigma-hat 2.15, LSL 20, USL 40: PCR (Cp) 1.55, PCRk (Cpk) 1.06 = min(1.06, 2.04). */
	assert_int_equal(run("--chart xbar_r --input vane_opening.csv --column opening "
	                     "--subgroup-size 5 --centre 33.19 --sigma 2.15 --lsl 20 --usl 40",
	                     &out),
	                 0);
	const json_t *c = json_object_get(out, "capability");
	assert_near(real(c, "cp"), 1.55, 0.005);
	assert_near(real(c, "cpk"), 1.06, 0.005);
	assert_near(real(c, "cpl"), 2.04, 0.005);
	json_decref(out);

	/* One-sided: Cp and Cpm do not exist and are JSON null. */
	assert_int_equal(run("--chart xbar_r --input vane_opening.csv --column opening "
	                     "--subgroup-size 5 --centre 33.19 --sigma 2.15 --usl 40",
	                     &out),
	                 0);
	c = json_object_get(out, "capability");
	assert_true(json_is_null(json_object_get(c, "cp")));
	assert_true(json_is_null(json_object_get(c, "cpm")));
	assert_near(real(c, "cpk"), 1.06, 0.005);
	json_decref(out);
}

static void test_bad_input_exits_2(void **unused)
{
	(void)unused;
	static const char *const bad[] = {
	        "--chart imr --input missing.csv",
	        "--chart bogus --input concentration.csv",
	        "--chart imr --input concentration.csv --column nope",
	        "--chart imr --input concentration.csv --lambda x",
	        "--chart xbar_r --input concentration.csv --column 2 --subgroup-size 3",
	        "--chart imr --input concentration.csv --phase1 5:99",
	        "--chart imr --input concentration.csv --lcl 1 --ucl 2",
	        "--chart p --input purchase_orders.csv --column nonconforming",
	        "--chart imr --input README.md",
	        "--chart imr",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(run(bad[i], NULL), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_xbar_r_vane_opening),
	        cmocka_unit_test(test_imr_concentration),
	        cmocka_unit_test(test_p_chart_variable_sample_size),
	        cmocka_unit_test(test_ewma_nist),
	        cmocka_unit_test(test_cusum_example_9_1),
	        cmocka_unit_test(test_capability_vane_opening),
	        cmocka_unit_test(test_bad_input_exits_2),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
