/* test_spc_profile: resampling, golden envelope, scores and verdicts, persistence, bad input.
 *
 * All cases are built so the expected numbers follow by hand from the definitions in
 * spc_profile.h: linear interpolation reproduces linear curves exactly; golden curves f - a and
 * f + a give mean f and sample sd a sqrt(2); a curve at mean + c sd everywhere has every
 * standardized deviation equal to c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "spc_profile.h"

#define K 64

static void check_near(double actual, double expected, double tol, const char *what)
{
	if (!(fabs(actual - expected) <= tol)) {
		print_error("%s: got %.12g, expected %.12g (tol %g)\n", what, actual, expected,
		            tol);
		fail();
	}
}

static struct spc_profile_config normalized_config(void)
{
	struct spc_profile_config cfg = {
	        .grid_size = K,
	        .golden_count = 2,
	        .axis = SPC_PROFILE_AXIS_NORMALIZED,
	        .z = 3.0,
	        .min_half_width = 1e-6,
	        .max_rms = 1.0,
	        .max_abs = 3.0,
	        .max_outside = 0.05,
	};
	return cfg;
}

/* A smooth "formation voltage" shape; any function works, the tests only use its samples. */
static double shape(double u)
{
	return 3.0 + 1.2 * u - 0.3 * u * u + 0.05 * sin(6.0 * u);
}

/* The curve sampled exactly at the grid points (len = K, no x): resampling is the identity
 * because sample i sits at i / (K - 1), which is grid point i. */
static void grid_curve(double offset, double *y)
{
	for (int k = 0; k < K; k++)
		y[k] = shape((double)k / (K - 1)) + offset;
}

/* Golden set {f - a, f + a}: mean f, sd = sqrt(((-a)^2 + a^2) / (2 - 1)) = a sqrt(2). */
static void learn_pm(struct spc_profile_state *st, const struct spc_profile_config *cfg, double a)
{
	double y[K];
	bool frozen = true;

	assert_int_equal(spc_profile_init(st, cfg), SPC_PROFILE_OK);
	grid_curve(-a, y);
	assert_int_equal(spc_profile_add_golden(st, NULL, y, K, &frozen), SPC_PROFILE_OK);
	assert_false(frozen);
	grid_curve(+a, y);
	assert_int_equal(spc_profile_add_golden(st, NULL, y, K, &frozen), SPC_PROFILE_OK);
	assert_true(frozen);
}

/* ---- resampling ---- */

/* y = 2 + 5x on an uneven x grid: linear interpolation is exact, so on the normalized axis the
 * grid value at u is 2 + 5 (x0 + u (x_last - x0)). Different lengths give the same grid. */
static void test_resample_linear_exact(void **state)
{
	struct spc_profile_config cfg = normalized_config();
	static const int lens[] = {2, 3, 7, 100, 1000};
	double x[1000], y[1000], grid[K];

	(void)state;
	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		int len = lens[l];
		for (int i = 0; i < len; i++) {
			double t = (double)i / (len - 1);
			x[i] = 10.0 + 40.0 * t * t; /* uneven spacing, 10 .. 50 s */
			y[i] = 2.0 + 5.0 * x[i];
		}
		assert_int_equal(spc_profile_resample(&cfg, x, y, len, grid), SPC_PROFILE_OK);
		for (int k = 0; k < K; k++) {
			double u = (double)k / (K - 1);
			check_near(grid[k], 2.0 + 5.0 * (10.0 + 40.0 * u), 1e-10,
			           "linear, given x");
		}
		/* Without x the samples are equally spaced in u: y_i = 7 - 3 i/(len-1). */
		for (int i = 0; i < len; i++)
			y[i] = 7.0 - 3.0 * i / (len - 1);
		assert_int_equal(spc_profile_resample(&cfg, NULL, y, len, grid), SPC_PROFILE_OK);
		for (int k = 0; k < K; k++)
			check_near(grid[k], 7.0 - 3.0 * k / (K - 1), 1e-12, "linear, index axis");
	}
}

/* Absolute axis: grid over [100, 400] s; curves with different time bases that cover it. A
 * piecewise-linear curve with a knot on a grid point is also reproduced exactly. */
static void test_resample_absolute(void **state)
{
	struct spc_profile_config cfg = normalized_config();
	double x[5] = {0, 100, 250, 400, 500}, y[5] = {0, 1, 4, 1, 0}, grid[K];

	(void)state;
	cfg.axis = SPC_PROFILE_AXIS_ABSOLUTE;
	cfg.x_min = 100;
	cfg.x_max = 400;
	cfg.grid_size = 7; /* 100, 150, ..., 400: knot 250 is grid point 3 */
	assert_int_equal(spc_profile_resample(&cfg, x, y, 5, grid), SPC_PROFILE_OK);
	static const double expect[7] = {1, 2, 3, 4, 3, 2, 1};
	for (int k = 0; k < 7; k++)
		check_near(grid[k], expect[k], 1e-12, "piecewise linear");

	/* A curve that stops before x_max (an aborted formation step) does not cover the grid. */
	double short_x[3] = {0, 200, 350}, short_y[3] = {1, 2, 3};
	assert_int_equal(spc_profile_resample(&cfg, short_x, short_y, 3, grid),
	                 SPC_PROFILE_ERR_RANGE);
	double late_x[3] = {150, 200, 450};
	assert_int_equal(spc_profile_resample(&cfg, late_x, short_y, 3, grid),
	                 SPC_PROFILE_ERR_RANGE);
	/* The absolute axis needs x. */
	assert_int_equal(spc_profile_resample(&cfg, NULL, y, 5, grid), SPC_PROFILE_ERR_INVALID);
}

static void test_resample_bad_input(void **state)
{
	struct spc_profile_config cfg = normalized_config();
	double x[4] = {0, 1, 2, 3}, y[4] = {1, 2, 3, 4}, grid[K];

	(void)state;
	for (int k = 0; k < K; k++)
		grid[k] = -7.0;
	assert_int_equal(spc_profile_resample(&cfg, x, y, 1, grid), SPC_PROFILE_ERR_TOO_FEW);
	assert_int_equal(spc_profile_resample(&cfg, x, y, 0, grid), SPC_PROFILE_ERR_TOO_FEW);
	assert_int_equal(spc_profile_resample(&cfg, x, NULL, 4, grid), SPC_PROFILE_ERR_INVALID);
	y[2] = NAN;
	assert_int_equal(spc_profile_resample(&cfg, x, y, 4, grid), SPC_PROFILE_ERR_INVALID);
	y[2] = INFINITY;
	assert_int_equal(spc_profile_resample(&cfg, x, y, 4, grid), SPC_PROFILE_ERR_INVALID);
	y[2] = 3;
	x[2] = NAN;
	assert_int_equal(spc_profile_resample(&cfg, x, y, 4, grid), SPC_PROFILE_ERR_INVALID);
	x[2] = 1; /* repeated x: not strictly increasing */
	assert_int_equal(spc_profile_resample(&cfg, x, y, 4, grid), SPC_PROFILE_ERR_INVALID);
	x[2] = 0.5; /* decreasing */
	assert_int_equal(spc_profile_resample(&cfg, x, y, 4, grid), SPC_PROFILE_ERR_INVALID);
	for (int k = 0; k < K; k++)
		check_near(grid[k], -7.0, 0.0, "untouched on failure");
	cfg.grid_size = SPC_PROFILE_MAX_GRID + 1;
	assert_int_equal(spc_profile_resample(&cfg, NULL, y, 4, grid), SPC_PROFILE_ERR_INVALID);
}

/* ---- scores ---- */

static void test_mean_curve_scores_zero(void **state)
{
	struct spc_profile_config cfg = normalized_config();
	struct spc_profile_state st;
	struct spc_profile_score s;
	double y[K];

	(void)state;
	learn_pm(&st, &cfg, 0.01);
	grid_curve(0.0, y);
	assert_int_equal(spc_profile_score(&st, NULL, y, K, &s), SPC_PROFILE_OK);
	check_near(s.rms, 0.0, 1e-9, "rms of the mean curve");
	check_near(s.max_abs, 0.0, 1e-9, "max of the mean curve");
	assert_int_equal(s.outside_count, 0);
	assert_true(s.pass);
	assert_int_equal(s.failed, 0);
}

/* Shift by c sd with sd = a sqrt(2): every d_k = c, so rms = max_abs = c; points are outside
 * exactly when c > z. */
static void test_shift_by_c_sd(void **state)
{
	struct spc_profile_config cfg = normalized_config();
	struct spc_profile_state st;
	struct spc_profile_score s;
	double y[K], a = 0.01, sd = a * sqrt(2.0);
	static const double cs[] = {0.5, 1.0, 2.0, 2.9, 3.1, -4.0};

	(void)state;
	cfg.max_rms = 1.5; /* no c sits on a threshold, where rounding would decide */
	learn_pm(&st, &cfg, a);
	for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++) {
		double c = cs[i];
		grid_curve(c * sd, y);
		assert_int_equal(spc_profile_score(&st, NULL, y, K, &s), SPC_PROFILE_OK);
		check_near(s.rms, fabs(c), 1e-9, "rms = c");
		check_near(s.max_abs, fabs(c), 1e-9, "max = c");
		assert_int_equal(s.outside_count, fabs(c) > cfg.z ? K : 0);
		assert_int_equal(s.pass, fabs(c) <= 1.5);
		assert_int_equal((s.failed & SPC_PROFILE_FAIL_RMS) != 0, fabs(c) > 1.5);
		assert_int_equal((s.failed & SPC_PROFILE_FAIL_MAX_ABS) != 0, fabs(c) > 3.0);
	}
	/* The mean + 2 sd curve sampled at 321 points instead of on the grid: resampling moves it
	 * only by the linear-interpolation error, bounded below. */
	double dense[321];
	for (int i = 0; i < 321; i++)
		dense[i] = shape((double)i / 320.0) + 2.0 * sd;
	assert_int_equal(spc_profile_score(&st, NULL, dense, 321, &s), SPC_PROFILE_OK);
	/* Off-grid samples of a curved shape interpolate with error <= h^2/8 max|f''| (h = 1/320,
	 * |f''| <= 0.6 + 1.8): tiny against sd = 0.014, so rms stays 2 within 1e-3. */
	check_near(s.rms, 2.0, 1e-3, "dense resampled curve");
}

/* Spikes of 5 sd at chosen grid points (outside a z = 3 band), 1 sd elsewhere (inside):
 * outside_fraction = spikes / K exactly; worst_index is the first 5-sd spike. */
static void test_outside_fraction_and_worst(void **state)
{
	struct spc_profile_config cfg = normalized_config();
	struct spc_profile_state st;
	struct spc_profile_score s;
	double y[K], a = 0.01, sd = a * sqrt(2.0);
	static const int spikes[] = {17, 30, 31, 63};

	(void)state;
	learn_pm(&st, &cfg, a);
	grid_curve(1.0 * sd, y);
	for (size_t i = 0; i < sizeof(spikes) / sizeof(spikes[0]); i++)
		y[spikes[i]] = shape((double)spikes[i] / (K - 1)) + (i == 1 ? -5.0 : 5.0) * sd;
	assert_int_equal(spc_profile_score(&st, NULL, y, K, &s), SPC_PROFILE_OK);
	assert_int_equal(s.outside_count, 4);
	check_near(s.outside_fraction, 4.0 / K, 0.0, "outside fraction");
	assert_int_equal(s.worst_index, 17);
	check_near(s.worst_x, 17.0 / (K - 1), 1e-15, "worst x");
	check_near(s.max_abs, 5.0, 1e-9, "max");
	/* rms^2 = (4 * 25 + 60 * 1) / 64 = 2.5 */
	check_near(s.rms, sqrt(2.5), 1e-9, "rms");
	assert_false(s.pass);
	assert_int_equal(s.failed, SPC_PROFILE_FAIL_RMS | SPC_PROFILE_FAIL_MAX_ABS |
	                                   SPC_PROFILE_FAIL_OUTSIDE);

	/* The band the dashboard draws: mean +- z sd. */
	double mean[K], lo[K], hi[K];
	assert_int_equal(spc_profile_band(&st, mean, lo, hi), SPC_PROFILE_OK);
	check_near(mean[5], shape(5.0 / (K - 1)), 1e-12, "band mean");
	check_near(hi[5] - mean[5], 3.0 * sd, 1e-12, "band half-width");
	check_near(mean[5] - lo[5], 3.0 * sd, 1e-12, "band half-width");
}

/* Identical golden curves: sd = 0, so the band is the floor h_min and sigma = h_min / z. A
 * curve h_min / 2 above the mean has every d_k = z / 2 and stays inside. */
static void test_min_band_width(void **state)
{
	struct spc_profile_config cfg = normalized_config();
	struct spc_profile_state st;
	struct spc_profile_score s;
	double y[K];

	(void)state;
	cfg.min_half_width = 0.004; /* 4 mV */
	cfg.max_rms = 2.0;
	learn_pm(&st, &cfg, 0.0);
	grid_curve(0.002, y);
	assert_int_equal(spc_profile_score(&st, NULL, y, K, &s), SPC_PROFILE_OK);
	check_near(s.rms, 1.5, 1e-9, "d = z/2");
	assert_int_equal(s.outside_count, 0);
	assert_true(s.pass);
	grid_curve(0.005, y);
	assert_int_equal(spc_profile_score(&st, NULL, y, K, &s), SPC_PROFILE_OK);
	assert_int_equal(s.outside_count, K);
	assert_false(s.pass);
}

/* Golden curves of different lengths and time bases learn the same envelope: the two golden
 * curves here are f -+ a sampled at 50 and at 200 points of an x axis in seconds. */
static void test_learning_different_lengths(void **state)
{
	struct spc_profile_config cfg = normalized_config();
	struct spc_profile_state st;
	double x1[50], y1[50], x2[200], y2[200], a = 0.02;

	(void)state;
	cfg.grid_size = 5;
	/* A linear shape so interpolation is exact: v(u) = 3 + u. */
	for (int i = 0; i < 50; i++) {
		x1[i] = 5.0 + i * 2.0; /* 5 .. 103 s */
		y1[i] = 3.0 + (x1[i] - 5.0) / 98.0 - a;
	}
	for (int i = 0; i < 200; i++) {
		x2[i] = i * 0.5; /* 0 .. 99.5 s */
		y2[i] = 3.0 + x2[i] / 99.5 + a;
	}
	assert_int_equal(spc_profile_init(&st, &cfg), SPC_PROFILE_OK);
	assert_int_equal(spc_profile_add_golden(&st, x1, y1, 50, NULL), SPC_PROFILE_OK);
	assert_int_equal(spc_profile_add_golden(&st, x2, y2, 200, NULL), SPC_PROFILE_OK);
	assert_int_equal(st.stage, SPC_PROFILE_STAGE_FROZEN);
	for (int k = 0; k < 5; k++) {
		check_near(st.mean[k], 3.0 + k / 4.0, 1e-12, "mean");
		check_near(st.scale[k], a * sqrt(2.0), 1e-12, "sd");
	}
}

/* ---- stages, persistence, bad input ---- */

static void test_stages_and_errors(void **state)
{
	struct spc_profile_config cfg = normalized_config();
	struct spc_profile_state st;
	struct spc_profile_score s;
	double y[K];

	(void)state;
	grid_curve(0.0, y);
	/* No golden curve yet: nothing to score against. */
	assert_int_equal(spc_profile_init(&st, &cfg), SPC_PROFILE_OK);
	assert_int_equal(spc_profile_score(&st, NULL, y, K, &s), SPC_PROFILE_ERR_STAGE);
	assert_int_equal(spc_profile_band(&st, NULL, NULL, NULL), SPC_PROFILE_ERR_STAGE);
	/* A bad golden curve is refused and does not count. */
	y[3] = NAN;
	assert_int_equal(spc_profile_add_golden(&st, NULL, y, K, NULL), SPC_PROFILE_ERR_INVALID);
	assert_int_equal(spc_profile_add_golden(&st, NULL, y, 1, NULL), SPC_PROFILE_ERR_TOO_FEW);
	assert_int_equal(st.golden_seen, 0);
	grid_curve(0.0, y);
	assert_int_equal(spc_profile_add_golden(&st, NULL, y, K, NULL), SPC_PROFILE_OK);
	assert_int_equal(spc_profile_score(&st, NULL, y, K, &s), SPC_PROFILE_ERR_STAGE);
	assert_int_equal(spc_profile_add_golden(&st, NULL, y, K, NULL), SPC_PROFILE_OK);
	/* Frozen: no more golden curves; bad curves to score are refused. */
	assert_int_equal(spc_profile_add_golden(&st, NULL, y, K, NULL), SPC_PROFILE_ERR_STAGE);
	y[0] = INFINITY;
	assert_int_equal(spc_profile_score(&st, NULL, y, K, &s), SPC_PROFILE_ERR_INVALID);
	assert_int_equal(spc_profile_score(&st, NULL, y, 1, &s), SPC_PROFILE_ERR_TOO_FEW);
	assert_int_equal(spc_profile_score(NULL, NULL, y, K, &s), SPC_PROFILE_ERR_INVALID);

	/* Bad configurations, including zero golden curves. */
	struct spc_profile_config bad = cfg;
	bad.golden_count = 0;
	assert_int_equal(spc_profile_init(&st, &bad), SPC_PROFILE_ERR_INVALID);
	bad = cfg;
	bad.golden_count = 1; /* an sd needs two */
	assert_int_equal(spc_profile_init(&st, &bad), SPC_PROFILE_ERR_INVALID);
	bad = cfg;
	bad.min_half_width = 0.0;
	assert_int_equal(spc_profile_init(&st, &bad), SPC_PROFILE_ERR_INVALID);
	bad = cfg;
	bad.z = NAN;
	assert_int_equal(spc_profile_init(&st, &bad), SPC_PROFILE_ERR_INVALID);
	bad = cfg;
	bad.grid_size = 1;
	assert_int_equal(spc_profile_init(&st, &bad), SPC_PROFILE_ERR_INVALID);
	bad = cfg;
	bad.axis = 7;
	assert_int_equal(spc_profile_init(&st, &bad), SPC_PROFILE_ERR_INVALID);
	bad = cfg;
	bad.axis = SPC_PROFILE_AXIS_ABSOLUTE;
	bad.x_min = bad.x_max = 5.0;
	assert_int_equal(spc_profile_init(&st, &bad), SPC_PROFILE_ERR_INVALID);
	bad = cfg;
	bad.max_outside = 1.5;
	assert_int_equal(spc_profile_init(&st, &bad), SPC_PROFILE_ERR_INVALID);
	assert_string_equal(spc_profile_strerror(SPC_PROFILE_ERR_TOO_FEW),
	                    "curve has fewer than 2 points");
}

static void test_persistence(void **state)
{
	struct spc_profile_config cfg = normalized_config();
	struct spc_profile_state st, restored;
	struct spc_profile_score a, b;
	unsigned char bytes[sizeof(struct spc_profile_state)];
	double y[K];

	(void)state;
	/* Mid-learning state survives a restart and finishes learning identically. */
	cfg.golden_count = 3;
	assert_int_equal(spc_profile_init(&st, &cfg), SPC_PROFILE_OK);
	grid_curve(-0.01, y);
	assert_int_equal(spc_profile_add_golden(&st, NULL, y, K, NULL), SPC_PROFILE_OK);
	memcpy(bytes, &st, sizeof(bytes));
	memcpy(&restored, bytes, sizeof(bytes));
	assert_int_equal(spc_profile_state_check(&restored), SPC_PROFILE_OK);
	for (int i = 0; i < 2; i++) {
		grid_curve(0.01 * i, y);
		assert_int_equal(spc_profile_add_golden(&st, NULL, y, K, NULL), SPC_PROFILE_OK);
		assert_int_equal(spc_profile_add_golden(&restored, NULL, y, K, NULL),
		                 SPC_PROFILE_OK);
	}
	assert_int_equal(spc_profile_state_check(&st), SPC_PROFILE_OK);
	assert_memory_equal(&st, &restored, sizeof(st));
	grid_curve(0.03, y);
	assert_int_equal(spc_profile_score(&st, NULL, y, K, &a), SPC_PROFILE_OK);
	assert_int_equal(spc_profile_score(&restored, NULL, y, K, &b), SPC_PROFILE_OK);
	check_near(a.rms, b.rms, 0.0, "same score");

	restored.magic = 0;
	assert_int_equal(spc_profile_state_check(&restored), SPC_PROFILE_ERR_CORRUPT);
	memcpy(&restored, &st, sizeof(st));
	restored.scale[10] = 0.0;
	assert_int_equal(spc_profile_state_check(&restored), SPC_PROFILE_ERR_CORRUPT);
	memcpy(&restored, &st, sizeof(st));
	restored.golden_seen = 2;
	assert_int_equal(spc_profile_state_check(&restored), SPC_PROFILE_ERR_CORRUPT);
	memcpy(&restored, &st, sizeof(st));
	restored.config.grid_size = 100000;
	assert_int_equal(spc_profile_state_check(&restored), SPC_PROFILE_ERR_CORRUPT);
	memcpy(&restored, &st, sizeof(st));
	restored.mean[0] = NAN;
	assert_int_equal(spc_profile_state_check(&restored), SPC_PROFILE_ERR_CORRUPT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_resample_linear_exact),
	        cmocka_unit_test(test_resample_absolute),
	        cmocka_unit_test(test_resample_bad_input),
	        cmocka_unit_test(test_mean_curve_scores_zero),
	        cmocka_unit_test(test_shift_by_c_sd),
	        cmocka_unit_test(test_outside_fraction_and_worst),
	        cmocka_unit_test(test_min_band_width),
	        cmocka_unit_test(test_learning_different_lengths),
	        cmocka_unit_test(test_stages_and_errors),
	        cmocka_unit_test(test_persistence),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
