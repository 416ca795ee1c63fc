/* ct-spc-analyze end to end: the built binary on published data sets (tests/data/spc/) must
 * print the published centre lines, limits, statistics, violations and indices.
 *
 * Sources (the same examples as the engine tests, cited at each number):
 *   [MR3]  Montgomery & Runger, Applied Statistics and Probability for Engineers, 3rd ed.,
 *          Table 16-1 / Fig. 16-8 (vane opening X-bar/R), Table 16-3 / Sec. 16-6 (I-MR),
 *          Sec. 16-7 (capability: sigma-hat 2.15, x-bar 33.19, PCR 1.55, PCRk 1.06).
 *   [ISQC] Montgomery, Introduction to Statistical Quality Control, 6th ed., Tables 7.4/7.5
 *          (p chart, variable sample size), Example 7.3 (c chart), Example 9.1 (tabular
 *          CUSUM), Sec. 7.2-7.3 (sigma of p, np, c, u), Sec. 9.1.3 (standardized CUSUM),
 *          Sec. 9.2 (EWMA variance).
 *   [NIST-EWMA] NIST/SEMATECH e-Handbook 6.3.2.4,
 *          https://www.itl.nist.gov/div898/handbook/pmc/section3/pmc324.htm
 *   [QCC]  The R package qcc 3.0 (L. Scrucca), vignette "A quick tour of qcc" as rendered in
 *          github.com/luca-scr/qcc, docs/articles/qcc.html (commit 1eeb804c): the printed
 *          summaries of qcc(), ewma(), processCapability() and mqcc() on its data sets
 *          pistonrings, pcmanufact, circuit, viscosity, RyanMultivar and boiler (data
 *          transcribed from the package's data/ directory; tests/data/spc/README.md). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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

static bool is_null(const json_t *object, const char *key)
{
	return json_is_null(json_object_get(object, key));
}

/* Runs the command and returns its standard output as text (caller frees). */
static char *run_text(const char *args)
{
	char command[2048];
	int len = snprintf(command, sizeof(command), "cd '%s' && '%s' %s 2>/dev/null", SPC_DATA_DIR,
	                   SPC_ANALYZE_BIN, args);
	assert_true(len > 0 && (size_t)len < sizeof(command));
	FILE *pipe = popen(command, "r");
	assert_non_null(pipe);
	size_t size = 0, cap = 1 << 16;
	char *text = malloc(cap);
	assert_non_null(text);
	size_t got;
	while ((got = fread(text + size, 1, cap - 1 - size, pipe)) > 0)
		size += got;
	text[size] = '\0';
	assert_int_equal(pclose(pipe), 0);
	assert_true(size < cap - 1); /* the whole document fitted */
	return text;
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

static void test_xbar_r_vane_table(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	assert_int_equal(run("--chart xbar_r --input vane_opening.csv --column opening "
	                     "--subgroup-column sample --constants=table",
	                     &out),
	                 0);
	/* [MR3] Fig. 16-8 with the printed table (Montgomery ISQC Appendix VI, see
	 * test_spc_charts.c): 33.32 +- 0.577 x 5.80 = 36.6666 / 29.9734 -> 36.67 / 29.97 with
	 * the printed digits' tolerance only; R UCL = 2.114 x 5.80 = 12.2612 ([MR3] prints 12.27
	 * from its D4(5) = 2.115). */
	assert_string_equal(json_string_value(json_object_get(out, "constants")), "table");
	assert_near(real(out, "centre_line"), 33.32, 1e-9);
	assert_near(real(out, "ucl"), 36.6666, 1e-9);
	assert_near(real(out, "lcl"), 29.9734, 1e-9);
	const json_t *range = json_object_get(point(out, 1), "range");
	assert_near(real(range, "cl"), 5.80, 1e-9);
	assert_near(real(range, "ucl"), 12.2612, 1e-9);
	assert_true(violations_of(out, "we1") == (BIT(6) | BIT(8) | BIT(11) | BIT(19)));
	assert_true(violations_of(out, "secondary") == BIT(9));
	json_decref(out);

	/* The default is the exact set, as in the live service. */
	assert_int_equal(run("--chart xbar_r --input vane_opening.csv --column opening "
	                     "--subgroup-column sample",
	                     &out),
	                 0);
	assert_string_equal(json_string_value(json_object_get(out, "constants")), "exact");
	assert_true(fabs(real(out, "ucl") - 36.6666) > 1e-4); /* 33.32 + 3.3456 (A2 0.57683) */
	json_decref(out);
	assert_int_equal(run("--chart xbar_r --input vane_opening.csv --column opening "
	                     "--subgroup-column sample --constants=rounded",
	                     NULL),
	                 2);
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
	/* Issue 11 item 3, by hand from the same numbers (T = 30, the mid-point):
	 * Cpm = 20 / (6 sqrt(2.15^2 + 3.19^2)) = 0.86650 (within sigma); expected within PPM
	 * above = 1e6 (1 - Phi((40 - 33.19) / 2.15)) = 1e6 (1 - Phi(3.16744)) = 768.93, below
	 * = 1e6 Phi(-6.1349) = 0.00043; observed: one of the 100 openings (43, sample 6) is
	 * above 40: 10000 ppm above, 0 below. */
	assert_near(real(c, "cpm"), 0.86650, 5e-6);
	assert_true(real(c, "ppm") < real(c, "pp"));
	const json_t *ppm = json_object_get(c, "expected_within_ppm");
	assert_near(real(ppm, "above"), 768.93, 0.005);
	assert_near(real(ppm, "below"), 0.00043, 0.000005);
	assert_near(real(ppm, "total"), real(ppm, "above") + real(ppm, "below"), 1e-9);
	assert_true(real(json_object_get(c, "expected_overall_ppm"), "total") > 0);
	ppm = json_object_get(c, "observed_ppm");
	assert_near(real(ppm, "above"), 10000.0, 1e-9);
	assert_near(real(ppm, "below"), 0.0, 0);
	assert_near(real(ppm, "total"), 10000.0, 1e-9);
	json_decref(out);

	/* One-sided: Cp and Cpm do not exist and are JSON null. */
	assert_int_equal(run("--chart xbar_r --input vane_opening.csv --column opening "
	                     "--subgroup-size 5 --centre 33.19 --sigma 2.15 --usl 40",
	                     &out),
	                 0);
	c = json_object_get(out, "capability");
	assert_true(json_is_null(json_object_get(c, "cp")));
	assert_true(json_is_null(json_object_get(c, "cpm")));
	assert_true(json_is_null(json_object_get(c, "ppm")));
	assert_true(is_null(json_object_get(c, "expected_within_ppm"), "below"));
	assert_true(is_null(json_object_get(c, "observed_ppm"), "below"));
	assert_near(real(json_object_get(c, "observed_ppm"), "total"), 10000.0, 1e-9);
	assert_near(real(c, "cpk"), 1.06, 0.005);
	json_decref(out);
}

/* Issue 11 item 4: every double printed so that it reads back as the same double, in its
 * shortest such form. */
static void test_numbers_round_trip(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	assert_int_equal(run("--chart p --input purchase_orders.csv --column nonconforming "
	                     "--size-column inspected --rules none",
	                     &out),
	                 0);
	/* The engine's p-bar is 234/2450 and day 1's fraction 12/100, each one IEEE division:
	 * equal to the last bit (12 significant digits would lose the 17th). */
	assert_true(real(out, "centre") == 234.0 / 2450.0);
	assert_true(real(point(out, 1), "value") == 12.0 / 100.0);
	json_decref(out);

	/* Shortest form: sample 1 of [MR3] Table 16-1 has mean 158/5 = 31.6, printed as 31.6 (not
	 * 31.600000000000001); a whole number stays a real (33.0 is not written 3.3e+01). */
	char *text = run_text("--chart xbar_r --input vane_opening.csv --column opening "
	                      "--subgroup-column sample");
	assert_non_null(strstr(text, "\"value\": 31.6,"));
	assert_null(strstr(text, "e+0"));
	free(text);
}

/* Issue 11 item 4: attribute charts report the standard deviation behind their limits. */
static void test_attribute_sigma(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	/* p with varying n, [ISQC] Table 7.4: p-bar = 234/2450 = 0.0955102; one unit:
	 * sqrt(0.0955102 x 0.9044898) = sqrt(0.0863880) = 0.293918; per point
	 * sqrt(p-bar (1 - p-bar) / n_i): n = 100: sqrt(0.000863880) = 0.0293918; n = 80:
	 * sqrt(0.00107985) = 0.0328611; n = 120 (day 12): sqrt(0.000719900) = 0.0268310. (Table
	 * 7.5 computes its limits 0.096 +- 3 sqrt(0.096 x 0.904 / n_i) = 0.096 +- 3 x 0.029 at
	 * n = 100.) Limits vary, so there is no chart-level sigma of the statistic. */
	assert_int_equal(run("--chart p --input purchase_orders.csv --column nonconforming "
	                     "--size-column inspected --rules none",
	                     &out),
	                 0);
	assert_near(real(out, "sigma"), 0.293918, 5e-7);
	assert_true(is_null(out, "sigma_statistic"));
	assert_near(real(point(out, 1), "sigma"), 0.0293918, 5e-8);
	assert_near(real(point(out, 1), "sigma"), 0.029, 0.0005 + 0.0001); /* Table 7.5 */
	assert_near(real(point(out, 2), "sigma"), 0.0328611, 5e-8);
	assert_near(real(point(out, 12), "sigma"), 0.0268310, 5e-8);
	/* The limits are cl +- 3 sigma (day 1's LCL is not clipped at 0). */
	assert_near(real(point(out, 1), "ucl") - real(point(out, 1), "cl"),
	            3 * real(point(out, 1), "sigma"), 1e-15);
	json_decref(out);

	/* np on the same data: sqrt(n_i p-bar (1 - p-bar)); n = 100: sqrt(8.63880) = 2.93918;
	 * n = 80: sqrt(6.91104) = 2.62889. */
	assert_int_equal(run("--chart np --input purchase_orders.csv --column nonconforming "
	                     "--size-column inspected --rules none",
	                     &out),
	                 0);
	assert_near(real(out, "sigma"), 0.293918, 5e-7);
	assert_near(real(point(out, 1), "sigma"), 2.93918, 5e-6);
	assert_near(real(point(out, 2), "sigma"), 2.62889, 5e-6);
	json_decref(out);

	/* u on the same data (nonconformities per unit): u-bar = 234/2450 = 0.0955102; one unit
	 * sqrt(0.0955102) = 0.309047; per point sqrt(u-bar / n_i): n = 100: 0.0309047; n = 80:
	 * sqrt(0.00119388) = 0.0345525. */
	assert_int_equal(run("--chart u --input purchase_orders.csv --column nonconforming "
	                     "--size-column inspected --rules none",
	                     &out),
	                 0);
	assert_near(real(out, "sigma"), 0.309047, 5e-7);
	assert_true(is_null(out, "sigma_statistic"));
	assert_near(real(point(out, 1), "sigma"), 0.0309047, 5e-8);
	assert_near(real(point(out, 2), "sigma"), 0.0345525, 5e-8);
	json_decref(out);

	/* c, [ISQC] Ex. 7.3: c-bar = 516/26 = 19.846154 (printed 19.85), sigma = sqrt(c-bar) =
	 * 4.454902, the same at every point; the book's UCL = 19.85 + 3 sqrt(19.85) = 33.22. */
	assert_int_equal(run("--chart c --input circuit_boards.csv --column nonconformities", &out),
	                 0);
	assert_near(real(out, "sigma"), 4.454902, 5e-7);
	assert_near(real(out, "sigma_statistic"), 4.454902, 5e-7);
	assert_near(real(point(out, 20), "sigma"), 4.454902, 5e-7);
	assert_near(real(out, "ucl"), 33.22, 0.0104); /* tolerance as in test_spc_charts.c */
	assert_true(violations_of(out, "we1") == (BIT(6) | BIT(20))); /* [ISQC] Ex. 7.3 */
	json_decref(out);

	/* Explicit limits carry no sigma. */
	assert_int_equal(run("--chart c --input circuit_boards.csv --column nonconformities "
	                     "--lcl 6 --cl 20 --ucl 34",
	                     &out),
	                 0);
	assert_true(is_null(out, "sigma"));
	assert_true(is_null(point(out, 1), "sigma"));
	json_decref(out);
}

/* Issue 11 item 4: the EWMA's per-point standard deviation, sigma_z(i) = sigma sqrt(lambda /
 * (2 - lambda) (1 - (1 - lambda)^(2i))) ([ISQC] Sec. 9.2, [NIST-EWMA]). */
static void test_ewma_sigma(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	/* Time-varying, sigma 2.0539, lambda 0.3: lambda / (2 - lambda) = 0.3 / 1.7 = 0.176471.
	 * i = 1: 0.176471 x (1 - 0.7^2) = 0.176471 x 0.51 = 0.09, sigma_z = 2.0539 x 0.3 =
	 * 0.61617 and UCL = 50 + 3 x 0.61617 = 51.84851. i = 2: 0.176471 x (1 - 0.7^4 = 0.7599)
	 * = 0.1341, sigma_z = 2.0539 x 0.366197 = 0.752131. */
	assert_int_equal(run("--chart ewma --input nist_ewma.csv --centre 50 --sigma 2.0539 "
	                     "--lambda 0.3 --L 3",
	                     &out),
	                 0);
	assert_near(real(point(out, 1), "sigma"), 0.61617, 1e-12);
	assert_near(real(point(out, 1), "ucl"), 51.84851, 1e-12);
	assert_near(real(point(out, 2), "sigma"), 0.752131, 5e-7);
	assert_true(is_null(out, "sigma_statistic"));
	assert_near(real(out, "sigma"), 2.0539, 1e-15);
	json_decref(out);

	/* Steady state: [NIST-EWMA] UCL = 50 + 3 (0.4201)(2.0539), i.e. sigma_z = 0.4201 x
	 * 2.0539 = 0.86284 with sqrt(0.3/1.7) printed to 4 decimals: tolerance 0.00005 x 2.0539. */
	assert_int_equal(run("--chart ewma --input nist_ewma.csv --centre 50 --sigma 2.0539 "
	                     "--lambda 0.3 --L 3 --steady-state",
	                     &out),
	                 0);
	assert_near(real(out, "sigma_statistic"), 0.4201 * 2.0539, 0.00005 * 2.0539);
	assert_near(real(point(out, 20), "sigma"), 0.4201 * 2.0539, 0.00005 * 2.0539);
	json_decref(out);
}

/* Issue 11 item 4: the CUSUM's per-point deviation from target, in data units and in sigmas
 * ([ISQC] Sec. 9.1.3, the standardized y_i = (x_i - mu0) / sigma). */
static void test_cusum_deviation(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	/* [ISQC] Ex. 9.1 / Table 9.1, mu0 = 10, sigma = 1: x_1 = 9.45, x_1 - 10 = -0.55; x_29 =
	 * 11.31, + 1.31 (Table 9.2 lists x_i - 10.5 = 0.81 there, i.e. x_i - mu0 - K). */
	assert_int_equal(run("--chart cusum --input cusum_example_9_1.csv --column x "
	                     "--centre 10 --sigma 1 --k 0.5 --h 5",
	                     &out),
	                 0);
	assert_near(real(point(out, 1), "deviation"), -0.55, 1e-12);
	assert_near(real(point(out, 1), "deviation_sigmas"), -0.55, 1e-12);
	assert_near(real(point(out, 29), "deviation"), 1.31, 1e-12);
	assert_near(real(point(out, 29), "sigma"), 1.0, 1e-15);
	json_decref(out);

	/* sigma = 2: the same deviations, halved in sigma units: x_2 = 7.99, -2.01 = -1.005
	 * sigmas; H = 5 x 2 = 10. */
	assert_int_equal(run("--chart cusum --input cusum_example_9_1.csv --column x "
	                     "--centre 10 --sigma 2 --k 0.5 --h 5",
	                     &out),
	                 0);
	assert_near(real(point(out, 2), "deviation"), -2.01, 1e-12);
	assert_near(real(point(out, 2), "deviation_sigmas"), -1.005, 1e-12);
	assert_near(real(point(out, 2), "ucl"), 10.0, 1e-12);
	json_decref(out);

	/* Subgroups of 2 (periods 1-2, 3-4, ...): point 1's mean (9.45 + 7.99) / 2 = 8.72,
	 * deviation -1.28, in sigmas of the mean (1 / sqrt 2): -1.28 x sqrt 2 = -1.810193. */
	assert_int_equal(run("--chart cusum --input cusum_example_9_1.csv --column x "
	                     "--centre 10 --sigma 1 --subgroup-size 2",
	                     &out),
	                 0);
	assert_near(real(point(out, 1), "deviation"), -1.28, 1e-12);
	assert_near(real(point(out, 1), "deviation_sigmas"), -1.810193, 5e-7);
	assert_near(real(point(out, 1), "sigma"), 0.707107, 5e-7);
	json_decref(out);
}

/* Issue 11 item 5: I-MR sigma from the sample standard deviation, s / c4(m). */
static void test_imr_sigma_estimator_sd(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	/* [MR3] Table 16-3, 20 concentrations: sum 1981.9, mean 99.095, sum of squared
	 * deviations 74.1895, s^2 = 74.1895 / 19 = 3.904711, s = 1.976034; c4(20) = sqrt(2/19)
	 * Gamma(10) / Gamma(9.5) = 0.986934 ([ISQC] Appendix VI: 0.9869); sigma = 1.976034 /
	 * 0.986934 = 2.002194; UCL = 99.095 + 3 x 2.002194 = 105.1016, LCL = 93.0884. */
	assert_int_equal(run("--chart imr --input concentration.csv --column concentration "
	                     "--sigma-estimator sd",
	                     &out),
	                 0);
	assert_string_equal(json_string_value(json_object_get(out, "sigma_estimator")), "sd");
	assert_near(real(out, "sigma"), 2.002194, 5e-7);
	assert_near(real(out, "sigma"), 1.976034 / 0.9869, 1.976034 / 0.9869 * 0.00005 / 0.9869);
	assert_near(real(out, "centre_line"), 99.095, 1e-12);
	assert_near(real(out, "ucl"), 105.1016, 5e-5);
	assert_near(real(out, "lcl"), 93.0884, 5e-5);
	json_decref(out);

	/* The default is MR-bar / d2, as before. */
	assert_int_equal(run("--chart imr --input concentration.csv --column concentration", &out),
	                 0);
	assert_string_equal(json_string_value(json_object_get(out, "sigma_estimator")), "mr");
	assert_near(real(out, "ucl"), 105.99, 0.012); /* [MR3] Sec. 16-6, as above */
	json_decref(out);

	/* Only imr, only with phase I limits, only mr or sd. */
	assert_int_equal(run("--chart imr --input concentration.csv --column concentration "
	                     "--sigma-estimator range",
	                     NULL),
	                 2);
	assert_int_equal(run("--chart imr --input concentration.csv --column concentration "
	                     "--sigma-estimator sd --centre 99 --sigma 2",
	                     NULL),
	                 2);
	assert_int_equal(run("--chart xbar_r --input vane_opening.csv --column opening "
	                     "--subgroup-column sample --sigma-estimator sd",
	                     NULL),
	                 2);
}

/* Issue 11 item 5: CUSUM on subgroup means of varying size (--size-column), the standardized
 * tabular CUSUM of z_i = (xbar_i - mu0) / (sigma / sqrt(n_i)) ([ISQC] Sec. 9.1.5-9.1.6;
 * Hawkins & Olwell 1998). By hand, mu0 = 10, sigma = 2, k = 0.5, h = 5 (cusum_varying_n.csv):
 *   i  xbar   n  sigma/sqrt(n)  z                   C+ (C+ + z - k)   C- (C- - z - k)
 *   1  10.5   4  1              0.5                 0                 0
 *   2  12    16  0.5            4                   3.5               0
 *   3  11     1  2              0.5                 3.5               0
 *   4  11.5   9  2/3            1.5 / (2/3) = 2.25  5.25 > h: signal  0
 *   5   9     4  1             -1                   3.75              0.5
 * (C+ and C- floored at 0.)
 * The upper run began at point 2 (C+ went from 0 to 3.5 there). */
static void test_cusum_varying_size(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	assert_int_equal(run("--chart cusum --input cusum_varying_n.csv --column mean "
	                     "--size-column n --centre 10 --sigma 2",
	                     &out),
	                 0);
	static const double upper[] = {0, 3.5, 3.5, 5.25, 3.75}, z[] = {0.5, 4, 0.5, 2.25, -1};
	static const double sd[] = {1, 0.5, 2, 2.0 / 3.0, 1}, lower5 = 0.5;
	for (size_t i = 1; i <= 5; i++) {
		assert_near(real(point(out, i), "value"), upper[i - 1], 1e-12);
		assert_near(real(point(out, i), "deviation_sigmas"), z[i - 1], 1e-12);
		assert_near(real(point(out, i), "sigma"), sd[i - 1], 1e-15);
		assert_near(real(point(out, i), "ucl"), 5.0, 0);
	}
	assert_near(real(point(out, 4), "deviation"), 1.5, 1e-12);
	assert_near(real(json_object_get(point(out, 5), "cusum_lower"), "value"), lower5, 1e-12);
	assert_true(violations_of(out, "cusum_upper") == BIT(4));
	const json_t *first = json_array_get(json_object_get(out, "violations"), 0);
	assert_int_equal(json_integer_value(json_object_get(first, "first_point")), 2);
	assert_true(json_is_true(json_object_get(out, "standardized")));
	assert_near(real(out, "centre"), 10.0, 0);
	assert_near(real(out, "sigma"), 2.0, 0);
	assert_true(is_null(out, "sigma_statistic"));
	json_decref(out);

	/* Means alone give no sigma: --centre and --sigma are required; no subgroups on top. */
	assert_int_equal(run("--chart cusum --input cusum_varying_n.csv --column mean "
	                     "--size-column n",
	                     NULL),
	                 2);
	assert_int_equal(run("--chart cusum --input cusum_varying_n.csv --column mean "
	                     "--size-column n --centre 10 --sigma 2 --subgroup-size 5",
	                     NULL),
	                 2);
}

/* Issue 11 item 5: Hotelling T2 (--chart t2), one column per variable. */
static void test_t2_known_parameters(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	/* Montgomery, ISQC 6th ed., Exercise 11.1: p = 2, n = 25, mean (55, 30), S = [200 130;
	 * 130 120]; subgroup means (58, 32) and (60, 33). t2_exercise_11_1.csv has each mean as 25
	 * identical rows, so the subgroup means are exact. Published solution (github.com/abylai11/
	 * qda-project, notebook "SOLUTION"; as in test_spc_t2.c): T2 = 1.127 and 3.169, exactly
	 * 25 x 320 / 7100 and 25 x 900 / 7100 (det S = 7100). With the parameters known the limit
	 * is chi2_{0.001; 2} = 13.82 ([ISQC] Example 11.1), = -2 ln 0.001 = 13.815511 (df 2). */
	assert_int_equal(run("--chart t2 --input t2_exercise_11_1.csv --columns x1,x2 "
	                     "--subgroup-column sample --mean-vector 55,30 "
	                     "--covariance 200,130,130,120 --alpha 0.001",
	                     &out),
	                 0);
	assert_string_equal(json_string_value(json_object_get(out, "limits_source")), "known");
	assert_int_equal(json_integer_value(json_object_get(out, "subgroup_size")), 25);
	assert_near(real(point(out, 1), "value"), 1.127, 0.0005);
	assert_near(real(point(out, 1), "value"), 25.0 * 320.0 / 7100.0, 1e-12);
	assert_near(real(point(out, 2), "value"), 3.169, 0.0005);
	assert_near(real(point(out, 2), "value"), 25.0 * 900.0 / 7100.0, 1e-12);
	assert_near(real(out, "ucl_chi_square"), 13.82, 0.005);
	assert_near(real(point(out, 2), "ucl"), -2.0 * log(0.001), 1e-9);
	assert_string_equal(json_string_value(json_object_get(point(out, 1), "limit")),
	                    "chi_square");
	assert_true(is_null(out, "ucl_phase1") && is_null(out, "ucl_phase2"));
	assert_int_equal(json_array_size(json_object_get(out, "violations")), 0);
	/* The mean of the second subgroup, as printed. */
	assert_near(json_number_value(json_array_get(json_object_get(point(out, 2), "mean"), 1)),
	            33.0, 1e-12);
	json_decref(out);

	/* Estimated offline from m = 20 subgroups (--baseline-count): the phase II limit
	 * p (m+1)(n-1) / (mn - m - p + 1) F_{a; p, mn-m-p+1} = 2 x 21 x 24 / 479 F_{0.001; 2, 479};
	 * for d1 = 2, F_{a; 2, d2} = (d2 / 2)(a^(-2/d2) - 1) exactly (see test_spc_t2.c). */
	assert_int_equal(run("--chart t2 --input t2_exercise_11_1.csv --columns x1,x2 "
	                     "--subgroup-column sample --mean-vector 55,30 "
	                     "--covariance 200,130,130,120 --alpha 0.001 --baseline-count 20",
	                     &out),
	                 0);
	double f = 479.0 / 2.0 * (pow(0.001, -2.0 / 479.0) - 1.0);
	assert_near(real(out, "ucl_phase2"), 2.0 * 21 * 24 / 479.0 * f, 1e-9);
	assert_string_equal(json_string_value(json_object_get(out, "limits_source")),
	                    "fixed_estimate");
	json_decref(out);
}

/* Phase I, individuals: Tracy, Young & Mason (1992) start-up data (tym_startup.csv, as in
 * test_spc_t2.c and the SAS/QC User's Guide, SHEWHART, "Multivariate Control Charts"). */
static void test_t2_phase1_tracy_young_mason(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	assert_int_equal(run("--chart t2 --input tym_startup.csv --columns impure,temp,conc "
	                     "--alpha 0.05",
	                     &out),
	                 0);
	/* Means of the 14 rows, by hand: impurities 235.62 / 14 = 16.83, temperature 1192.66 /
	 * 14 = 85.19, concentration 604.92 / 14 = 43.208571. With S from the same points the T2
	 * sum to (m - 1) p = 39 (trace identity, test_spc_t2.c), each below (m-1)^2/m = 12.07. */
	const json_t *mean = json_object_get(out, "mean");
	assert_near(json_number_value(json_array_get(mean, 0)), 16.83, 1e-9);
	assert_near(json_number_value(json_array_get(mean, 1)), 85.19, 1e-9);
	assert_near(json_number_value(json_array_get(mean, 2)), 604.92 / 14.0, 1e-9);
	double sum = 0;
	for (size_t i = 1; i <= 14; i++) {
		sum += real(point(out, i), "value");
		assert_string_equal(json_string_value(json_object_get(point(out, i), "limit")),
		                    "phase1");
	}
	assert_near(sum, 39.0, 1e-9);
	/* S[0][0], the sample variance of the impurities, by hand: sum of squared deviations
	 * 4.7328 / 13 = 0.364062. */
	const json_t *cov = json_object_get(out, "covariance");
	assert_near(json_number_value(json_array_get(json_array_get(cov, 0), 0)), 4.7328 / 13.0,
	            1e-9);
	json_decref(out);

	/* p = 2 (impurities, temperature): the phase I limit (m-1)^2/m B_{a; 1, (m-3)/2} is
	 * closed-form, (m-1)^2/m (1 - a^(2/(m-3))) = 169/14 (1 - 0.05^(2/11)). */
	assert_int_equal(
	        run("--chart t2 --input tym_startup.csv --columns impure,temp --alpha 0.05", &out),
	        0);
	double ucl1 = 169.0 / 14.0 * (1.0 - pow(0.05, 2.0 / 11.0));
	assert_near(real(out, "ucl_phase1"), ucl1, 1e-9);
	assert_near(real(point(out, 7), "ucl"), ucl1, 1e-9);
	json_decref(out);
}

/* Revised phase I (--exclude) on a T2 chart: the excluded point leaves the estimate and is
 * judged as a future point (phase II limit for the m that remain). */
static void test_t2_exclude(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	assert_int_equal(run("--chart t2 --input tym_startup.csv --columns impure,temp "
	                     "--alpha 0.05 --exclude 1",
	                     &out),
	                 0);
	/* m = 13; impurities mean without row 1: (235.62 - 14.92) / 13 = 220.70 / 13. Limits
	 * for p = 2, m = 13: phase I 144/13 (1 - 0.05^(2/10)); phase II 2 x 14 x 12 / (169 - 26)
	 * F_{0.05; 2, 11}, F = 11/2 (0.05^(-2/11) - 1). */
	assert_int_equal(json_integer_value(json_object_get(out, "baseline_count")), 13);
	assert_near(json_number_value(json_array_get(json_object_get(out, "mean"), 0)),
	            220.70 / 13.0, 1e-9);
	double ucl1 = 144.0 / 13.0 * (1.0 - pow(0.05, 0.2));
	double ucl2 = 2.0 * 14 * 12 / 143.0 * (5.5 * (pow(0.05, -2.0 / 11.0) - 1.0));
	assert_near(real(out, "ucl_phase1"), ucl1, 1e-9);
	assert_near(real(out, "ucl_phase2"), ucl2, 1e-9);
	assert_near(real(point(out, 1), "ucl"), ucl2, 1e-9);
	assert_near(real(point(out, 2), "ucl"), ucl1, 1e-9);
	assert_true(json_is_true(json_object_get(point(out, 1), "excluded")));
	assert_true(json_is_false(json_object_get(point(out, 2), "excluded")));
	assert_int_equal(json_integer_value(json_array_get(json_object_get(out, "excluded"), 0)),
	                 1);
	json_decref(out);

	/* Bad T2 input: no columns, unknown column, univariate options, too few points for the
	 * phase I limit (m = 3 <= p + 1), a covariance of the wrong size. */
	static const char *const bad[] = {
	        "--chart t2 --input tym_startup.csv",
	        "--chart t2 --input tym_startup.csv --columns impure,nope",
	        "--chart t2 --input tym_startup.csv --columns impure,temp --lsl 1",
	        "--chart t2 --input tym_startup.csv --columns impure,temp,conc --phase1 1:3",
	        "--chart t2 --input tym_startup.csv --columns impure,temp --mean-vector 1,2 "
	        "--covariance 1,0,0",
	        "--chart t2 --input tym_startup.csv --columns impure,temp --alpha 1.5",
	        "--chart t2 --input tym_startup.csv --columns impure,temp --exclude 15",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(run(bad[i], NULL), 2);
}

/* [ISQC] Table 7.5 to its printed digits: the book computes every limit from p-bar rounded to
 * 0.096 (0.096 +- 3 sqrt(0.096 x 0.904 / n_i)); given that rate (--centre 0.096) the command
 * prints the table's three-decimal limits: day 1 (n = 100) UCL 0.184, LCL 0.008; day 2
 * (n = 80) UCL 0.195, LCL 0; day 12 (n = 120) UCL 0.177. */
static void test_p_chart_table_7_5_digits(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	assert_int_equal(run("--chart p --input purchase_orders.csv --column nonconforming "
	                     "--size-column inspected --centre 0.096 --rules none",
	                     &out),
	                 0);
	assert_true(json_is_true(json_object_get(out, "limits_vary")));
	assert_near(real(point(out, 1), "ucl"), 0.184, 0.0005);
	assert_near(real(point(out, 1), "lcl"), 0.008, 0.0005);
	assert_near(real(point(out, 2), "ucl"), 0.195, 0.0005);
	assert_near(real(point(out, 2), "lcl"), 0.0, 0);
	assert_near(real(point(out, 12), "ucl"), 0.177, 0.0005);
	json_decref(out);
}

/* [QCC] The qcc 3.0 vignette prints its summaries with R's 7 significant digits, so each
 * printed number is compared to half a unit of its last printed digit. Piston rings
 * (qcc_pistonrings.csv), phase I = samples 1..25 of 40, as in the vignette's
 * qcc(diameter[1:25,], type = "xbar" / "R" / "S", newdata = diameter[26:40,]). */
static void test_qcc_xbar_r_pistonrings(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	/* "Center of group statistics = 74.00118", "LCL 73.98805 UCL 74.0143" (= 74.01430), R
	 * chart centre 0.02276: with the exact constants (qcc computes its limits as CL +- 3
	 * sigma / sqrt(n), not from the rounded A2). */
	assert_int_equal(run("--chart xbar_r --input qcc_pistonrings.csv --column diameter "
	                     "--subgroup-column sample --phase1 1:25",
	                     &out),
	                 0);
	assert_int_equal(json_integer_value(json_object_get(out, "baseline_count")), 25);
	assert_near(real(out, "centre_line"), 74.00118, 0.000005);
	assert_near(real(out, "lcl"), 73.98805, 0.000005);
	assert_near(real(out, "ucl"), 74.01430, 0.000005);
	assert_near(real(json_object_get(point(out, 1), "range"), "cl"), 0.02276, 5e-10);
	json_decref(out);

	/* "Standard deviation = 0.009785039": R-bar / d2(5) with qcc's tabulated d2(5) = 2.326
	 * (0.02276 / 2.326 = 0.00978503869), i.e. the table set; the exact d2(5) = 2.325929 gives
	 * 0.009785337. (qcc's R chart UCL 0.04812533 uses its own d3 table and is not one of
	 * the command's two sets: not compared.) */
	assert_int_equal(run("--chart xbar_r --input qcc_pistonrings.csv --column diameter "
	                     "--subgroup-column sample --phase1 1:25 --constants table",
	                     &out),
	                 0);
	assert_near(real(out, "sigma"), 0.009785039, 5e-10);
	assert_near(real(out, "centre"), 74.00118, 0.000005);
	json_decref(out);
}

static void test_qcc_xbar_s_pistonrings(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	/* [QCC] S chart of samples 1..25: "Center of group statistics = 0.009240037", "Standard
	 * deviation = 0.009829977" (S-bar / c4(5)), "LCL 0 UCL 0.01930242". */
	assert_int_equal(run("--chart xbar_s --input qcc_pistonrings.csv --column diameter "
	                     "--subgroup-column sample --phase1 1:25",
	                     &out),
	                 0);
	assert_near(real(out, "sigma"), 0.009829977, 5e-10);
	assert_near(real(out, "centre_line"), 74.00118, 0.000005);
	const json_t *s = json_object_get(point(out, 1), "standard_deviation");
	assert_near(real(s, "cl"), 0.009240037, 5e-10);
	assert_near(real(s, "ucl"), 0.01930242, 5e-9);
	assert_near(real(s, "lcl"), 0.0, 0);
	s = json_object_get(point(out, 40), "standard_deviation");
	assert_near(real(s, "ucl"), 0.01930242, 5e-9); /* the same limits for the new data */
	json_decref(out);
}

static void test_qcc_u_pcmanufact(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	/* [QCC] qcc(x, sizes = size, type = "u") on pcmanufact (nonconformities in 20 samples
	 * of 5 units): "Center of group statistics =
	 * 1.93", "Standard deviation = 1.389244", "LCL 0.06613305 UCL 3.793867". */
	assert_int_equal(run("--chart u --input qcc_pcmanufact.csv --column nonconformities "
	                     "--size-column units",
	                     &out),
	                 0);
	assert_near(real(out, "centre_line"), 1.93, 5e-8);
	assert_near(real(out, "sigma"), 1.389244, 5e-7);
	assert_near(real(out, "lcl"), 0.06613305, 5e-9);
	assert_near(real(out, "ucl"), 3.793867, 5e-7);
	assert_true(json_is_false(json_object_get(out, "limits_vary")));
	json_decref(out);
}

static void test_qcc_circuit_c_u(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	/* [QCC] circuit (= circuit_boards.csv, Montgomery's Example 7.3): c chart of the 26 trial
	 * samples: "Center of group statistics = 19.84615", "Standard deviation = 4.454902",
	 * "LCL 6.481447 UCL 33.21086". */
	assert_int_equal(run("--chart c --input circuit_boards.csv --column nonconformities", &out),
	                 0);
	assert_near(real(out, "centre_line"), 19.84615, 5e-6);
	assert_near(real(out, "sigma"), 4.454902, 5e-7);
	assert_near(real(out, "lcl"), 6.481447, 5e-7);
	assert_near(real(out, "ucl"), 33.21086, 5e-6);
	json_decref(out);

	/* Samples 6 and 20 removed (the vignette's inc = setdiff(trial, c(6, 20))): c chart
	 * "19.66667", "4.434712", "LCL 6.362532 UCL 32.9708" (= 32.97080). */
	assert_int_equal(run("--chart c --input circuit_boards.csv --column nonconformities "
	                     "--exclude 6,20",
	                     &out),
	                 0);
	assert_near(real(out, "centre_line"), 19.66667, 5e-6);
	assert_near(real(out, "sigma"), 4.434712, 5e-7);
	assert_near(real(out, "lcl"), 6.362532, 5e-7);
	assert_near(real(out, "ucl"), 32.97080, 5e-6);
	json_decref(out);

	/* The same as a u chart per board (n = 100): "Center of group statistics = 0.1966667",
	 * "Standard deviation = 0.4434712", "LCL 0.06362532 UCL 0.329708" (= 0.3297080). */
	assert_int_equal(run("--chart u --input circuit_boards.csv --column nonconformities "
	                     "--sample-size 100 --exclude 6,20",
	                     &out),
	                 0);
	assert_near(real(out, "centre_line"), 0.1966667, 5e-8);
	assert_near(real(out, "sigma"), 0.4434712, 5e-8);
	assert_near(real(out, "lcl"), 0.06362532, 5e-9);
	assert_near(real(out, "ucl"), 0.3297080, 5e-8);
	json_decref(out);
}

static void test_qcc_imr_viscosity(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	/* [QCC] qcc(viscosity[trial], type = "xbar.one"), trial = batches 1..20 of 35:
	 * "Center of group statistics = 34.088", "Standard deviation = 0.5076521" (MR-bar / 1.128,
	 * qcc's tabulated d2(2): the table set), "LCL 32.56504 UCL 35.61096". */
	assert_int_equal(run("--chart imr --input qcc_viscosity.csv --column viscosity "
	                     "--phase1 1:20 --constants table",
	                     &out),
	                 0);
	assert_near(real(out, "centre_line"), 34.088, 5e-6);
	assert_near(real(out, "sigma"), 0.5076521, 5e-8);
	assert_near(real(out, "lcl"), 32.56504, 5e-6);
	assert_near(real(out, "ucl"), 35.61096, 5e-6);
	json_decref(out);

	/* std.dev = "SD": "Standard deviation = 0.5769854" (s / c4(20)), "LCL 32.35704 UCL
	 * 35.81896". */
	assert_int_equal(run("--chart imr --input qcc_viscosity.csv --column viscosity "
	                     "--phase1 1:20 --sigma-estimator sd",
	                     &out),
	                 0);
	assert_near(real(out, "sigma"), 0.5769854, 5e-8);
	assert_near(real(out, "lcl"), 32.35704, 5e-6);
	assert_near(real(out, "ucl"), 35.81896, 5e-6);
	json_decref(out);

	/* Batch 4 removed ("process temperature controller failure") and the limits recomputed
	 * from the 19 others: "Number of groups = 19", "Center of group statistics = 33.98947",
	 * "Standard deviation = 0.4117415", "LCL 32.75425 UCL 35.2247" (= 35.22470). qcc deletes
	 * the row, so its moving range bridges batches 3 and 5, as --exclude does. */
	assert_int_equal(run("--chart imr --input qcc_viscosity.csv --column viscosity "
	                     "--phase1 1:20 --exclude 4 --constants table",
	                     &out),
	                 0);
	assert_int_equal(json_integer_value(json_object_get(out, "baseline_count")), 19);
	assert_near(real(out, "centre_line"), 33.98947, 5e-6);
	assert_near(real(out, "sigma"), 0.4117415, 5e-8);
	assert_near(real(out, "lcl"), 32.75425, 5e-6);
	assert_near(real(out, "ucl"), 35.22470, 5e-6);
	json_decref(out);
}

static void test_qcc_ewma(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	/* [QCC] ewma(diameter[1:25,], lambda = 0.2, nsigmas = 3): centre 74.00118, sigma
	 * 0.009785039 (R-bar / 2.326, the table set), time-varying limits "1 73.99855 74.00380",
	 * "2 73.99781 74.00454", "25 73.99680 74.00555". */
	assert_int_equal(run("--chart ewma --input qcc_pistonrings.csv --column diameter "
	                     "--subgroup-column sample --phase1 1:25 --lambda 0.2 --L 3 "
	                     "--constants table",
	                     &out),
	                 0);
	assert_near(real(out, "sigma"), 0.009785039, 5e-10);
	static const size_t at[] = {1, 2, 25};
	static const double lcl[] = {73.99855, 73.99781, 73.99680};
	static const double ucl[] = {74.00380, 74.00454, 74.00555};
	for (size_t i = 0; i < 3; i++) {
		assert_near(real(point(out, at[i]), "lcl"), lcl[i], 0.000005);
		assert_near(real(point(out, at[i]), "ucl"), ucl[i], 0.000005);
	}
	json_decref(out);

	/* ewma(viscosity[trial], lambda = 0.2, nsigmas = 2.7, newdata = viscosity[!trial]):
	 * "[1,] 33.81387 34.36213", "[2,] 33.73694 34.43906", "[35,] 33.63111 34.54489". */
	assert_int_equal(run("--chart ewma --input qcc_viscosity.csv --column viscosity "
	                     "--phase1 1:20 --lambda 0.2 --L 2.7 --constants table",
	                     &out),
	                 0);
	assert_near(real(out, "sigma"), 0.5076521, 5e-8);
	static const size_t at2[] = {1, 2, 35};
	static const double lcl2[] = {33.81387, 33.73694, 33.63111};
	static const double ucl2[] = {34.36213, 34.43906, 34.54489};
	for (size_t i = 0; i < 3; i++) {
		assert_near(real(point(out, at2[i]), "lcl"), lcl2[i], 0.000005);
		assert_near(real(point(out, at2[i]), "ucl"), ucl2[i], 0.000005);
	}
	json_decref(out);
}

/* [QCC] Hotelling T2 for subgroups: mqcc(RyanMultivar, type = "T2"), Ryan (2011) Table 9.2,
 * p = 2, m = 20, n = 4 (qcc_ryan_multivar.csv), at qcc's default confidence level
 * (1 - 0.0027)^p = 0.99460729, i.e. alpha = 0.00539271. Printed: "Center = 60.3750
 * 18.4875", "Covariance matrix = X1 222.0333 103.11667 / X2 103.1167 56.57917", "|S| =
 * 1929.414", control (phase I) limits "LCL 0 UCL 11.03976" and with pred.limits = TRUE
 * prediction (phase II) limits "LPL 0 UPL 12.20184". */
static void test_qcc_t2_ryan(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	assert_int_equal(run("--chart t2 --input qcc_ryan_multivar.csv --columns x1,x2 "
	                     "--subgroup-column sample --alpha 0.00539271",
	                     &out),
	                 0);
	assert_int_equal(json_integer_value(json_object_get(out, "subgroup_size")), 4);
	assert_int_equal(json_integer_value(json_object_get(out, "baseline_count")), 20);
	const json_t *mean = json_object_get(out, "mean");
	assert_near(json_number_value(json_array_get(mean, 0)), 60.3750, 0.00005);
	assert_near(json_number_value(json_array_get(mean, 1)), 18.4875, 0.00005);
	const json_t *cov = json_object_get(out, "covariance");
	double s11 = json_number_value(json_array_get(json_array_get(cov, 0), 0));
	double s12 = json_number_value(json_array_get(json_array_get(cov, 0), 1));
	double s21 = json_number_value(json_array_get(json_array_get(cov, 1), 0));
	double s22 = json_number_value(json_array_get(json_array_get(cov, 1), 1));
	assert_near(s11, 222.0333, 0.00005);
	assert_near(s12, 103.11667, 0.000005);
	assert_near(s21, 103.1167, 0.00005);
	assert_near(s22, 56.57917, 0.000005);
	assert_near(s11 * s22 - s12 * s21, 1929.414, 0.0005);
	assert_near(real(out, "ucl_phase1"), 11.03976, 0.000005);
	assert_near(real(out, "ucl_phase2"), 12.20184, 0.000005);
	assert_near(real(point(out, 1), "ucl"), 11.03976, 0.000005);
	json_decref(out);
}

/* [QCC] Hotelling T2 for individuals: mqcc(boiler, type = "T2.single", confidence.level =
 * 0.999), 25 boiler temperature readings of p = 8 (qcc_boiler.csv). Printed: "Center = 525.00
 * 513.56 538.92 521.68 503.80 512.44 478.72 477.24", the covariance matrix (e.g. t1 t1
 * 54.0000000, t1 t2 0.9583333, t1 t3 20.583333, t4 t6 -2.2700000, t8 t2 3.4433333, t8 t8
 * 3.8566667), control (phase I, Beta) limit "UCL 17.41705" and prediction (phase II, F)
 * limit "UPL 70.02943". */
static void test_qcc_t2_boiler(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	assert_int_equal(run("--chart t2 --input qcc_boiler.csv --columns t1,t2,t3,t4,t5,t6,t7,t8 "
	                     "--alpha 0.001",
	                     &out),
	                 0);
	assert_int_equal(json_integer_value(json_object_get(out, "p")), 8);
	static const double centre[] = {525.00, 513.56, 538.92, 521.68,
	                                503.80, 512.44, 478.72, 477.24};
	const json_t *mean = json_object_get(out, "mean");
	for (size_t i = 0; i < 8; i++)
		assert_near(json_number_value(json_array_get(mean, i)), centre[i], 0.005);
	const json_t *cov = json_object_get(out, "covariance");
#define COV(i, j) json_number_value(json_array_get(json_array_get(cov, (i)-1), (j)-1))
	assert_near(COV(1, 1), 54.0000000, 5e-8);
	assert_near(COV(1, 2), 0.9583333, 5e-8);
	assert_near(COV(1, 3), 20.583333, 5e-7);
	assert_near(COV(4, 6), -2.2700000, 5e-8);
	assert_near(COV(8, 2), 3.4433333, 5e-8);
	assert_near(COV(8, 8), 3.8566667, 5e-8);
#undef COV
	assert_near(real(out, "ucl_phase1"), 17.41705, 0.000005);
	assert_near(real(out, "ucl_phase2"), 70.02943, 0.000005);
	json_decref(out);
}

/* Writes SPC_DATA_DIR/`name` (a header row, then `n` rows per point) without the rows of the
 * points in `drop` (1-based, ended by 0) to a new temporary file whose path goes to `path`. */
static void write_without(const char *name, unsigned n, const unsigned *drop, char *path,
                          size_t size)
{
	char source[1024], line[512];
	int len = snprintf(source, sizeof(source), "%s/%s", SPC_DATA_DIR, name);
	assert_true(len > 0 && (size_t)len < sizeof(source));
	FILE *in = fopen(source, "r");
	assert_non_null(in);
	len = snprintf(path, size, "/tmp/ct-spc-exclude-XXXXXX");
	assert_true(len > 0 && (size_t)len < size);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *out = fdopen(fd, "w");
	assert_non_null(out);
	for (long row = -1; fgets(line, sizeof(line), in); row++) {
		bool keep = true;
		for (const unsigned *d = drop; row >= 0 && *d != 0; d++)
			keep = keep && (unsigned long)row / n + 1 != *d;
		if (keep)
			assert_true(fputs(line, out) != EOF);
	}
	fclose(in);
	assert_int_equal(fclose(out), 0);
}

/* [QCC] processCapability(q, spec.limits = ...) for the X-bar chart of piston-ring samples
 * 1..25 (125 observations): "Center = 74.00118", "StdDev = 0.009785039" (R-bar / 2.326: the
 * table set). Printed indices: LSL 73.95, USL 74.05 (target 74, the mid-point): Cp 1.70,
 * Cp_l 1.74, Cp_u 1.66, Cp_k 1.66, Cpm 1.69; the same with target 74.02: Cp 1.703, Cp_l
 * 1.743, Cp_u 1.663, Cp_k 1.663, Cpm 0.786; LSL 73.99, USL 74.01: 0.341, 0.381, 0.301,
 * 0.301, Cpm 0.338; LSL 73.99, USL 74.1 (target 74.045): 1.874, 0.381, 3.367, 0.381, Cpm
 * 0.408. For 73.99 / 74.01 it prints "Exp<LSL 0.13% Obs<LSL 0.12%, Exp>USL 0.18% Obs>USL
 * 0.16%": fractions followed by a "%" sign (15 of the 125 diameters are below 73.99 and 20
 * above 74.01: 0.12 and 0.16), so 0.13 and 0.18 are the expected fractions (ppm / 1e6). */
static void test_qcc_capability_pistonrings(void **unused)
{
	(void)unused;
	static const struct {
		const char *spec;
		double cp, cpl, cpu, cpk, cpm, tolerance;
	} cases[] = {
	        {"--lsl 73.95 --usl 74.05", 1.70, 1.74, 1.66, 1.66, 1.69, 0.005},
	        {"--lsl 73.95 --usl 74.05 --target 74.02", 1.703, 1.743, 1.663, 1.663, 0.786,
	         0.0005},
	        {"--lsl 73.99 --usl 74.01", 0.341, 0.381, 0.301, 0.301, 0.338, 0.0005},
	        {"--lsl 73.99 --usl 74.1", 1.874, 0.381, 3.367, 0.381, 0.408, 0.0005},
	};
	/* qcc's capability sees the 25 phase I samples only: samples 26..40 dropped. */
	static const unsigned later[] = {26, 27, 28, 29, 30, 31, 32, 33,
	                                 34, 35, 36, 37, 38, 39, 40, 0};
	char path[64], args[512];
	write_without("qcc_pistonrings.csv", 5, later, path, sizeof(path));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int len = snprintf(args, sizeof(args),
		                   "--chart xbar_r --input %s --column diameter --subgroup-column "
		                   "sample --constants table %s",
		                   path, cases[i].spec);
		assert_true(len > 0 && (size_t)len < sizeof(args));
		json_t *out = NULL;
		assert_int_equal(run(args, &out), 0);
		const json_t *c = json_object_get(out, "capability");
		double t = cases[i].tolerance;
		assert_near(real(c, "mean"), 74.00118, 0.000005);
		assert_near(real(c, "sigma_within"), 0.009785039, 5e-10);
		assert_near(real(c, "cp"), cases[i].cp, t);
		assert_near(real(c, "cpl"), cases[i].cpl, t);
		assert_near(real(c, "cpu"), cases[i].cpu, t);
		assert_near(real(c, "cpk"), cases[i].cpk, t);
		assert_near(real(c, "cpm"), cases[i].cpm, t);
		if (i == 2) {
			const json_t *e = json_object_get(c, "expected_within_ppm");
			assert_near(real(e, "below") / 1e6, 0.13, 0.005);
			assert_near(real(e, "above") / 1e6, 0.18, 0.005);
			const json_t *o = json_object_get(c, "observed_ppm");
			assert_near(real(o, "below") / 1e6, 0.12, 1e-12);
			assert_near(real(o, "above") / 1e6, 0.16, 1e-12);
		}
		json_decref(out);
	}
	remove(path);
}

/* Both JSON null, or both numbers with the same double. */
static bool same(const json_t *a, const json_t *b)
{
	if (json_is_null(a) || json_is_null(b))
		return json_is_null(a) && json_is_null(b);
	return json_is_number(a) && json_is_number(b) &&
	       json_number_value(a) == json_number_value(b);
}

static bool same_limits(const json_t *a, const json_t *b)
{
	static const char *const keys[] = {"lcl", "cl", "ucl"};
	if (json_is_null(a) || json_is_null(b))
		return json_is_null(a) && json_is_null(b);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!same(json_object_get(a, keys[i]), json_object_get(b, keys[i])))
			return false;
	return true;
}

/* Issue 11 item 5, revised charts: `args` (all but --input) run on `name` with
 * --exclude `list` (the points of `drop`) must give, to the last bit, the centre, sigma and
 * limits of the same command on a copy of the file without those points' rows; every point is
 * still plotted, the excluded ones marked. */
static void check_exclude_is_deletion(const char *args, const char *name, unsigned n,
                                      const char *list, const unsigned *drop, const char *secondary)
{
	char path[64], full_args[512], reduced_args[512];
	write_without(name, n, drop, path, sizeof(path));
	int len = snprintf(full_args, sizeof(full_args), "%s --input %s --exclude %s", args, name,
	                   list);
	assert_true(len > 0 && (size_t)len < sizeof(full_args));
	len = snprintf(reduced_args, sizeof(reduced_args), "%s --input %s", args, path);
	assert_true(len > 0 && (size_t)len < sizeof(reduced_args));

	json_t *full = NULL, *reduced = NULL;
	assert_int_equal(run(full_args, &full), 0);
	assert_int_equal(run(reduced_args, &reduced), 0);
	remove(path);
	static const char *const top[] = {"centre",      "sigma", "sigma_statistic",
	                                  "centre_line", "lcl",   "ucl"};
	for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++)
		assert_true(same(json_object_get(full, top[i]), json_object_get(reduced, top[i])));
	size_t kept = json_array_size(json_object_get(reduced, "plotted"));
	size_t all = json_array_size(json_object_get(full, "plotted"));
	assert_int_equal(json_integer_value(json_object_get(full, "baseline_count")), kept);
	assert_int_equal(json_integer_value(json_object_get(full, "points")), all);
	size_t dropped = 0;
	for (const unsigned *d = drop; *d != 0; d++)
		dropped++;
	assert_int_equal(all, kept + dropped);
	assert_int_equal(json_array_size(json_object_get(full, "excluded")), dropped);

	/* Point by point: a kept point has the limits and sigma it has in the shorter file. */
	size_t j = 0;
	for (size_t i = 1; i <= all; i++) {
		const json_t *p = point(full, i);
		bool is_dropped = false;
		for (const unsigned *d = drop; *d != 0; d++)
			is_dropped = is_dropped || *d == i;
		assert_true(json_is_boolean(json_object_get(p, "excluded")));
		assert_int_equal(json_is_true(json_object_get(p, "excluded")), is_dropped);
		if (is_dropped)
			continue;
		const json_t *q = point(reduced, ++j);
		assert_true(json_is_false(json_object_get(q, "excluded")));
		assert_true(same_limits(p, q));
		assert_true(same(json_object_get(p, "sigma"), json_object_get(q, "sigma")));
		if (secondary && j > 1) /* I-MR: no moving range at point 1 */
			assert_true(same_limits(json_object_get(p, secondary),
			                        json_object_get(q, secondary)));
	}
	assert_int_equal(j, kept);
	json_decref(full);
	json_decref(reduced);
}

static void test_exclude_is_deletion(void **unused)
{
	(void)unused;
	static const unsigned two[] = {3, 12, 0}, subgroups[] = {6, 8, 0}, days[] = {3, 20, 0},
	                      boards[] = {6, 20, 0}, one[] = {5, 0};
	check_exclude_is_deletion("--chart imr --column concentration", "concentration.csv", 1,
	                          "12,3", two, "moving_range");
	check_exclude_is_deletion("--chart imr --column concentration "
	                          "--sigma-estimator sd",
	                          "concentration.csv", 1, "3,12,3", two, "moving_range");
	check_exclude_is_deletion("--chart xbar_r --column opening "
	                          "--subgroup-column sample",
	                          "vane_opening.csv", 5, "6,8", subgroups, "range");
	check_exclude_is_deletion("--chart xbar_r --column opening --subgroup-size 5 "
	                          "--constants table",
	                          "vane_opening.csv", 5, "8,6", subgroups, "range");
	check_exclude_is_deletion("--chart xbar_s --column opening --subgroup-size 5",
	                          "vane_opening.csv", 5, "6,8", subgroups, "standard_deviation");
	check_exclude_is_deletion("--chart p --column nonconforming "
	                          "--size-column inspected",
	                          "purchase_orders.csv", 1, "3,20", days, NULL);
	check_exclude_is_deletion("--chart np --column nonconforming "
	                          "--size-column inspected",
	                          "purchase_orders.csv", 1, "3,20", days, NULL);
	check_exclude_is_deletion("--chart u --column nonconforming "
	                          "--size-column inspected",
	                          "purchase_orders.csv", 1, "3,20", days, NULL);
	check_exclude_is_deletion("--chart c --column nonconformities", "circuit_boards.csv", 1,
	                          "6,20", boards, NULL);
	check_exclude_is_deletion("--chart ewma --steady-state", "nist_ewma.csv", 1, "5", one,
	                          NULL);
	check_exclude_is_deletion("--chart cusum --column x", "cusum_example_9_1.csv", 1, "5", one,
	                          "cusum_lower");
}

/* [ISQC] Example 7.3, the revised c chart: samples 6 and 20 (5 and 39 nonconformities) have
 * assignable causes and are left out of the limits, c-bar = 472/24 = 19.67, UCL = 32.97,
 * LCL = 6.36 (printed to 2 decimals); both samples are still plotted and still outside the
 * revised limits. */
static void test_exclude_revised_c_chart(void **unused)
{
	(void)unused;
	json_t *out = NULL;
	assert_int_equal(run("--chart c --input circuit_boards.csv --column nonconformities "
	                     "--exclude 6,20",
	                     &out),
	                 0);
	assert_true(real(out, "centre") == 472.0 / 24.0);
	assert_near(real(out, "centre_line"), 19.67, 0.005);
	assert_near(real(out, "ucl"), 32.97, 0.005);
	assert_near(real(out, "lcl"), 6.36, 0.005);
	assert_int_equal(json_integer_value(json_object_get(out, "points")), 26);
	assert_int_equal(json_integer_value(json_object_get(out, "baseline_count")), 24);
	assert_int_equal(json_array_size(json_object_get(out, "plotted")), 26);
	const json_t *excluded = json_object_get(out, "excluded");
	assert_int_equal(json_array_size(excluded), 2);
	assert_int_equal(json_integer_value(json_array_get(excluded, 0)), 6);
	assert_int_equal(json_integer_value(json_array_get(excluded, 1)), 20);
	assert_true(json_is_true(json_object_get(point(out, 6), "excluded")));
	assert_true(json_is_true(json_object_get(point(out, 20), "excluded")));
	assert_true(json_is_false(json_object_get(point(out, 7), "excluded")));
	assert_true(real(point(out, 6), "value") == 5.0);
	assert_true(real(point(out, 20), "value") == 39.0);
	assert_true(real(point(out, 6), "ucl") == real(out, "ucl"));
	assert_true(violations_of(out, "we1") == (BIT(6) | BIT(20)));
	json_decref(out);

	/* Without --exclude: an empty list and every point unmarked. */
	assert_int_equal(run("--chart c --input circuit_boards.csv --column nonconformities", &out),
	                 0);
	assert_int_equal(json_array_size(json_object_get(out, "excluded")), 0);
	assert_true(json_is_false(json_object_get(point(out, 6), "excluded")));
	json_decref(out);

	/* Refused: with fixed limits, a point past the end or 0, fewer than 2 points left. */
	static const char *const bad[] = {
	        "--chart c --input circuit_boards.csv --column 2 --centre 20 --exclude 6",
	        "--chart c --input circuit_boards.csv --column 2 --lcl 6 --cl 20 --ucl 34 "
	        "--exclude 6",
	        "--chart c --input circuit_boards.csv --column 2 --exclude 27",
	        "--chart c --input circuit_boards.csv --column 2 --exclude 0",
	        "--chart c --input circuit_boards.csv --column 2 --exclude 6,",
	        "--chart imr --input concentration.csv --column 2 --phase1 1:3 --exclude 1,3",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(run(bad[i], NULL), 2);
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
	        cmocka_unit_test(test_xbar_r_vane_table),
	        cmocka_unit_test(test_imr_concentration),
	        cmocka_unit_test(test_p_chart_variable_sample_size),
	        cmocka_unit_test(test_ewma_nist),
	        cmocka_unit_test(test_cusum_example_9_1),
	        cmocka_unit_test(test_capability_vane_opening),
	        cmocka_unit_test(test_numbers_round_trip),
	        cmocka_unit_test(test_attribute_sigma),
	        cmocka_unit_test(test_ewma_sigma),
	        cmocka_unit_test(test_cusum_deviation),
	        cmocka_unit_test(test_imr_sigma_estimator_sd),
	        cmocka_unit_test(test_cusum_varying_size),
	        cmocka_unit_test(test_t2_known_parameters),
	        cmocka_unit_test(test_t2_phase1_tracy_young_mason),
	        cmocka_unit_test(test_t2_exclude),
	        cmocka_unit_test(test_p_chart_table_7_5_digits),
	        cmocka_unit_test(test_qcc_xbar_r_pistonrings),
	        cmocka_unit_test(test_qcc_xbar_s_pistonrings),
	        cmocka_unit_test(test_qcc_u_pcmanufact),
	        cmocka_unit_test(test_qcc_circuit_c_u),
	        cmocka_unit_test(test_qcc_imr_viscosity),
	        cmocka_unit_test(test_qcc_ewma),
	        cmocka_unit_test(test_qcc_t2_ryan),
	        cmocka_unit_test(test_qcc_t2_boiler),
	        cmocka_unit_test(test_qcc_capability_pistonrings),
	        cmocka_unit_test(test_exclude_is_deletion),
	        cmocka_unit_test(test_exclude_revised_c_chart),
	        cmocka_unit_test(test_bad_input_exits_2),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
