/* Shewhart charts (I-MR, X-bar/R, X-bar/S, p, np, c) against published examples.
 *
 * Sources, cited again at each expected number:
 *   [MR3]  Montgomery & Runger, Applied Statistics and Probability for Engineers, 3rd ed.
 *          (Wiley 2003), Ch. 16: Table 16-1 vane opening (Example, Sec. 16-5, Figs. 16-8/16-9;
 *          Example 15-1 in the 5th ed.), Table 16-3 chemical concentration (Sec. 16-6).
 *   [ISQC] Montgomery, Introduction to Statistical Quality Control, 6th ed. (Wiley 2009):
 *          Appendix Table VI (chart constants), Example 7.1 (orange juice cans, p chart; the
 *          same data are NIST/SEMATECH e-Handbook 6.3.3.2, p-bar = .2313), Table 7.4 (purchase
 *          orders, variable sample size), Example 7.3 (printed circuit boards, c chart).
 * A published number rounded to d decimals is compared with tolerance 0.5e-d, widened where the
 * book multiplied by a rounded constant (the reason is given at the check). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "spc.h"

#define assert_near(actual, expected, tolerance)                                                   \
	assert_true(fabs((double)(actual) - (double)(expected)) <= (tolerance))

/* [MR3] Table 16-1: vane opening, 20 subgroups of 5 (coded: 31.6 means 0.50316 inch). */
static const double vane[20][5] = {
        {33, 29, 31, 32, 33}, {33, 31, 35, 37, 31}, {35, 37, 33, 34, 36}, {30, 31, 33, 34, 33},
        {33, 34, 35, 33, 34}, {38, 37, 39, 40, 38}, {30, 31, 32, 34, 31}, {29, 39, 38, 39, 39},
        {28, 33, 35, 36, 43}, {38, 33, 32, 35, 32}, {28, 30, 28, 32, 31}, {31, 35, 35, 35, 34},
        {27, 32, 34, 35, 37}, {33, 33, 35, 37, 36}, {35, 37, 32, 35, 39}, {33, 33, 27, 31, 30},
        {35, 34, 34, 30, 32}, {32, 33, 30, 30, 33}, {25, 27, 34, 27, 28}, {35, 35, 36, 33, 30},
};

/* [MR3] Table 16-3: chemical process concentration, 20 individual measurements. */
static const double concentration[20] = {102.0, 94.8,  98.3,  98.4,  102.0, 98.5,  99.0,
                                         97.7,  100.0, 98.1,  101.3, 98.7,  101.1, 98.4,
                                         97.0,  96.7,  100.3, 101.4, 97.2,  101.0};

static struct spc_state new_chart(enum spc_chart_kind kind, uint32_t n, uint32_t rules,
                                  uint32_t baseline_points)
{
	struct spc_chart_config config = {
	        .kind = kind,
	        .subgroup_size = n,
	        .rules = rules,
	        .limits_source = SPC_LIMITS_BASELINE,
	        .baseline_points = baseline_points,
	};
	struct spc_state state;
	assert_int_equal(spc_state_init(&state, &config, NULL), SPC_OK);
	return state;
}

static bool fired(const struct spc_result *r, enum spc_rule rule)
{
	for (uint32_t i = 0; i < r->violation_count; i++)
		if (r->violations[i].rule == rule)
			return true;
	return false;
}

/* Runs the vane data twice through a chart: once as phase I (limits freeze after subgroup
 * 20), once more as phase II against the frozen limits, returning the phase II results. */
static void vane_results(enum spc_chart_kind kind, struct spc_result results[20])
{
	struct spc_state state = new_chart(
	        kind, 5, SPC_RULE_BIT(SPC_RULE_WE1) | SPC_RULE_BIT(SPC_RULE_SECONDARY_LIMIT), 20);
	struct spc_result r;
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < 20; i++)
			for (int j = 0; j < 5; j++) {
				struct spc_observation o = {.value = vane[i][j]};
				assert_int_equal(spc_chart_add(&state, &o, &r), SPC_OK);
				assert_int_equal(r.plotted, j == 4);
				if (pass == 1 && j == 4)
					results[i] = r;
			}
}

static void test_constants_match_appendix_vi(void **unused)
{
	(void)unused;
	/* [ISQC] Appendix VI, rows n = 2, 5, 10, 25 (3 decimals; c4 4 decimals). */
	static const struct {
		unsigned n;
		double d2, d3, c4, a2, a3, b3, b4, d3f, d4f;
	} rows[] = {
	        {2, 1.128, 0.853, 0.7979, 1.880, 2.659, 0, 3.267, 0, 3.267},
	        {5, 2.326, 0.864, 0.9400, 0.577, 1.427, 0, 2.089, 0, 2.114},
	        {10, 3.078, 0.797, 0.9727, 0.308, 0.975, 0.284, 1.716, 0.223, 1.777},
	        {25, 3.931, 0.708, 0.9896, 0.153, 0.606, 0.565, 1.435, 0.459, 1.541},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct spc_constants k;
		assert_int_equal(spc_constants_get(rows[i].n, &k), SPC_OK);
		assert_near(k.d2, rows[i].d2, 0.0005);
		assert_near(k.d3, rows[i].d3, 0.0005);
		assert_near(k.c4, rows[i].c4, 0.00005);
		assert_near(k.a2, rows[i].a2, 0.0005);
		assert_near(k.a3, rows[i].a3, 0.0005);
		assert_near(k.b3, rows[i].b3, 0.0005);
		assert_near(k.b4, rows[i].b4, 0.0005);
		assert_near(k.d3_factor, rows[i].d3f, 0.0005);
		/* The table truncates D4(5) = 2.11450 to 2.114; allow one unit in the last digit.
		 */
		assert_near(k.d4_factor, rows[i].d4f, 0.001);
	}
	struct spc_constants k;
	assert_int_equal(spc_constants_get(1, &k), SPC_ERR_INVALID);
	assert_int_equal(spc_constants_get(26, &k), SPC_ERR_INVALID);
}

/* Runs the vane data through a phase I chart of the given constants set (limits freeze after
 * subgroup `baseline` of the kept ones) and returns the limits of the next point. */
static void vane_table_limits(enum spc_chart_kind kind, uint8_t set, bool revised,
                              struct spc_point *mean_chart, struct spc_point *spread_chart)
{
	struct spc_chart_config config = {
	        .kind = kind,
	        .subgroup_size = 5,
	        .limits_source = SPC_LIMITS_BASELINE,
	        .baseline_points = revised ? 15 : 20,
	        .constants = set,
	};
	struct spc_state state;
	struct spc_result r;
	assert_int_equal(spc_state_init(&state, &config, NULL), SPC_OK);
	for (int i = 0; i < 20; i++) {
		int sample = i + 1;
		if (revised &&
		    (sample == 6 || sample == 8 || sample == 9 || sample == 11 || sample == 19))
			continue;
		for (int j = 0; j < 5; j++) {
			struct spc_observation o = {.value = vane[i][j]};
			assert_int_equal(spc_chart_add(&state, &o, &r), SPC_OK);
		}
	}
	assert_int_equal(spc_chart_next_limits(&state, 0, mean_chart, spread_chart), SPC_OK);
}

static void test_constants_table_set(void **unused)
{
	(void)unused;
	/* [ISQC] Appendix VI (= ASTM E2587), rows n = 2, 5, 10, 25 as printed: the table set
	 * returns them unchanged (the same rows the exact set rounds to above, except
	 * D4(5) = 2.114 where the exact value is 2.11450). */
	static const struct {
		unsigned n;
		struct spc_constants k; /* d2, d3, c4, A2, A3, B3, B4, D3, D4 */
	} rows[] = {
	        {2, {1.128, 0.853, 0.7979, 1.880, 2.659, 0, 3.267, 0, 3.267}},
	        {5, {2.326, 0.864, 0.9400, 0.577, 1.427, 0, 2.089, 0, 2.114}},
	        {10, {3.078, 0.797, 0.9727, 0.308, 0.975, 0.284, 1.716, 0.223, 1.777}},
	        {25, {3.931, 0.708, 0.9896, 0.153, 0.606, 0.565, 1.435, 0.459, 1.541}},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct spc_constants k, exact, also_exact;
		const struct spc_constants *p = &rows[i].k;
		assert_int_equal(spc_constants_get_set(rows[i].n, SPC_CONSTANTS_TABLE, &k), SPC_OK);
		assert_true(k.d2 == p->d2 && k.d3 == p->d3 && k.c4 == p->c4);
		assert_true(k.a2 == p->a2 && k.a3 == p->a3);
		assert_true(k.b3 == p->b3 && k.b4 == p->b4);
		assert_true(k.d3_factor == p->d3_factor && k.d4_factor == p->d4_factor);
		/* The exact set is spc_constants_get(), unchanged. */
		assert_int_equal(spc_constants_get_set(rows[i].n, SPC_CONSTANTS_EXACT, &exact),
		                 SPC_OK);
		assert_int_equal(spc_constants_get(rows[i].n, &also_exact), SPC_OK);
		assert_memory_equal(&exact, &also_exact, sizeof(exact));
	}
	/* Every printed number is within one unit of its last digit of the exact value. */
	for (unsigned n = 2; n <= SPC_SUBGROUP_MAX; n++) {
		struct spc_constants t, e;
		assert_int_equal(spc_constants_get_set(n, SPC_CONSTANTS_TABLE, &t), SPC_OK);
		assert_int_equal(spc_constants_get(n, &e), SPC_OK);
		assert_near(t.d2, e.d2, 0.001);
		assert_near(t.d3, e.d3, 0.001);
		assert_near(t.c4, e.c4, 0.0001);
		assert_near(t.a2, e.a2, 0.001);
		assert_near(t.a3, e.a3, 0.001);
		assert_near(t.b3, e.b3, 0.001);
		assert_near(t.b4, e.b4, 0.001);
		assert_near(t.d3_factor, e.d3_factor, 0.001);
		assert_near(t.d4_factor, e.d4_factor, 0.001);
	}
	struct spc_constants k;
	assert_int_equal(spc_constants_get_set(1, SPC_CONSTANTS_TABLE, &k), SPC_ERR_INVALID);
	assert_int_equal(spc_constants_get_set(26, SPC_CONSTANTS_TABLE, &k), SPC_ERR_INVALID);
	assert_int_equal(spc_constants_get_set(5, (enum spc_constants_set)2, &k), SPC_ERR_INVALID);

	enum spc_constants_set set = SPC_CONSTANTS_EXACT;
	assert_int_equal(spc_constants_set_from_name("table", &set), SPC_OK);
	assert_int_equal(set, SPC_CONSTANTS_TABLE);
	assert_string_equal(spc_constants_set_name(SPC_CONSTANTS_TABLE), "table");
	assert_int_equal(spc_constants_set_from_name("exact", &set), SPC_OK);
	assert_int_equal(set, SPC_CONSTANTS_EXACT);
	assert_string_equal(spc_constants_set_name(SPC_CONSTANTS_EXACT), "exact");
	assert_int_equal(spc_constants_set_from_name("Table", &set), SPC_ERR_INVALID);
	assert_string_equal(spc_constants_set_name(7), "unknown");
}

static void test_xbar_r_vane_table(void **unused)
{
	(void)unused;
	struct spc_point mean_chart, range_chart;

	/* [MR3] Sec. 16-5, Fig. 16-8, with the table set (A2 = 0.577, D3 = 0, D4 = 2.114): the
	 * book's arithmetic, x-double-bar = 666.4 / 20 = 33.32, r-bar = 116 / 20 = 5.80,
	 * UCL = 33.32 + 0.577 x 5.80 = 36.6666 -> 36.67, LCL = 33.32 - 3.3466 = 29.9734 -> 29.97,
	 * to every printed digit (tolerance 0.5e-2, not widened). R chart UCL = 2.114 x 5.80 =
	 * 12.2612 -> 12.26: [MR3] prints 12.27 because its own table has D4(5) = 2.115
	 * (2.115 x 5.80 = 12.267); ISQC Appendix VI and ASTM E2587 print 2.114. */
	vane_table_limits(SPC_CHART_XBAR_R, SPC_CONSTANTS_TABLE, false, &mean_chart, &range_chart);
	assert_near(mean_chart.cl, 33.32, 1e-9);
	assert_near(mean_chart.ucl, 36.6666, 1e-9);
	assert_near(mean_chart.lcl, 29.9734, 1e-9);
	assert_near(mean_chart.ucl, 36.67, 0.005);
	assert_near(mean_chart.lcl, 29.97, 0.005);
	assert_near(range_chart.cl, 5.80, 1e-9);
	assert_near(range_chart.ucl, 12.2612, 1e-9);
	assert_near(range_chart.lcl, 0.0, 1e-12);

	/* [MR3] Sec. 16-5, revised limits without samples 6, 8, 9, 11, 19: x-double-bar =
	 * 498.2 / 15 = 33.2133, r-bar = 75 / 15 = 5.0, UCL = 33.2133 + 0.577 x 5.0 = 36.0983 ->
	 * 36.10, LCL = 30.3283 -> 30.33, R UCL = 2.114 x 5.0 = 10.57: all as printed, with the
	 * tolerance of the printed digits only (the exact set needs it widened, above). */
	vane_table_limits(SPC_CHART_XBAR_R, SPC_CONSTANTS_TABLE, true, &mean_chart, &range_chart);
	assert_near(mean_chart.cl, 33.21, 0.005);
	assert_near(mean_chart.ucl, 36.10, 0.005);
	assert_near(mean_chart.lcl, 30.33, 0.005);
	assert_near(range_chart.cl, 5.0, 0.005);
	assert_near(range_chart.ucl, 10.57, 0.005);
	assert_near(range_chart.ucl, 10.57, 1e-9);
}

static void test_xbar_s_vane_table(void **unused)
{
	(void)unused;
	struct spc_point mean_chart, s_chart;

	/* [MR3] Sec. 16-5, Fig. 16-9, table set (c4 = 0.9400, A3 = 1.427, B3 = 0, B4 = 2.089):
	 * s-bar = 2.3451 -> 2.345, S UCL = 2.089 x 2.3451 = 4.8988 -> 4.899, LCL = 0, X-bar
	 * limits 33.32 +- 1.427 x 2.3451 = +- 3.3464 -> 3.35; sigma = s-bar / 0.94. */
	vane_table_limits(SPC_CHART_XBAR_S, SPC_CONSTANTS_TABLE, false, &mean_chart, &s_chart);
	assert_near(s_chart.cl, 2.345, 0.0005);
	assert_near(s_chart.ucl, 4.899, 0.0005);
	assert_near(s_chart.ucl, 2.089 * s_chart.cl, 1e-12);
	assert_near(s_chart.lcl, 0.0, 1e-12);
	assert_near(mean_chart.cl, 33.32, 0.005);
	assert_near(mean_chart.ucl - mean_chart.cl, 3.35, 0.005);
	assert_near(mean_chart.ucl - mean_chart.cl, 1.427 * s_chart.cl, 1e-12);
}

static void test_constants_config_and_state(void **unused)
{
	(void)unused;
	struct spc_chart_config config = {
	        .kind = SPC_CHART_IMR,
	        .limits_source = SPC_LIMITS_BASELINE,
	        .baseline_points = 20,
	};
	struct spc_chart_config table = config;
	struct spc_state exact_state, table_state;
	const char *problem = NULL;
	table.constants = SPC_CONSTANTS_TABLE;

	/* A zero-initialised config is the exact set; only 0 and 1 are sets. */
	assert_int_equal(config.constants, SPC_CONSTANTS_EXACT);
	assert_false(spc_chart_config_is_equal(&config, &table));
	config.constants = 2;
	assert_int_equal(spc_chart_config_check(&config, &problem), SPC_ERR_INVALID);
	assert_non_null(strstr(problem, "constants"));
	config.constants = SPC_CONSTANTS_EXACT;

	/* The field is the byte after ewma_steady_state, padding in states saved before it
	 * existed (always 0 there: spc_state_init zeroes the state and spc-gate its
	 * definitions), so such a state reads back as the exact set. A byte other than 0 or 1
	 * is a corrupt state. */
	assert_int_equal(spc_state_init(&exact_state, &config, NULL), SPC_OK);
	assert_int_equal(spc_state_init(&table_state, &table, NULL), SPC_OK);
	size_t at = offsetof(struct spc_state, config) +
	            offsetof(struct spc_chart_config, ewma_steady_state) + 1;
	unsigned char *bytes = (unsigned char *)&table_state;
	assert_int_equal(((unsigned char *)&exact_state)[at], 0);
	assert_int_equal(bytes[at], 1);
	bytes[at] = 0;
	assert_int_equal(spc_state_validate(&table_state), SPC_OK);
	assert_memory_equal(&table_state, &exact_state, sizeof(exact_state));
	bytes[at] = 2;
	assert_int_equal(spc_state_validate(&table_state), SPC_ERR_CORRUPT);

	/* [MR3] Sec. 16-6 data (x-bar = 1981.9 / 20 = 99.095, mr-bar = 49.2 / 19 = 2.58947),
	 * I-MR with the table set ([ISQC] Sec. 6.4: CL +- 3 mr-bar / d2, MR chart UCL =
	 * D4 mr-bar, d2 = 1.128, D4 = 3.267): sigma = 2.58947 / 1.128 = 2.29563, UCL =
	 * 99.095 + 6.88689 = 105.982, MR UCL = 3.267 x 2.58947 = 8.4598. */
	double mr_bar = 49.2 / 19.0;
	struct spc_result r;
	assert_int_equal(spc_state_init(&table_state, &table, NULL), SPC_OK);
	for (int i = 0; i < 20; i++) {
		struct spc_observation o = {.value = concentration[i]};
		assert_int_equal(spc_chart_add(&table_state, &o, &r), SPC_OK);
	}
	struct spc_point individuals, moving_range;
	assert_int_equal(spc_chart_next_limits(&table_state, 0, &individuals, &moving_range),
	                 SPC_OK);
	assert_near(table_state.limits.sigma, mr_bar / 1.128, 1e-9);
	assert_near(individuals.ucl, 99.095 + 3.0 * mr_bar / 1.128, 1e-9);
	assert_near(moving_range.cl, mr_bar, 1e-9);
	assert_near(moving_range.ucl, 3.267 * mr_bar, 1e-9);
}

static void test_xbar_r_vane_opening(void **unused)
{
	(void)unused;
	struct spc_result r[20];
	vane_results(SPC_CHART_XBAR_R, r);
	/* [MR3] Sec. 16-5, Fig. 16-8: x-double-bar = 33.32, UCL = 36.67, LCL = 29.97; r-bar = 5.80,
	 * UCL = 12.27, LCL = 0. The book uses D4 = 2.115 (2.1145 unrounded): 5.8 * 0.0005 more
	 * tolerance on the R chart UCL. */
	assert_near(r[0].primary.cl, 33.32, 0.005);
	assert_near(r[0].primary.ucl, 36.67, 0.005);
	assert_near(r[0].primary.lcl, 29.97, 0.005);
	assert_near(r[0].secondary.cl, 5.80, 0.005);
	assert_near(r[0].secondary.ucl, 12.27, 0.005 + 5.8 * 0.0005);
	assert_near(r[0].secondary.lcl, 0.0, 1e-12);
	/* [MR3] Table 16-1 foot and text: sample 1 mean 31.6 (0.50316 inch). */
	assert_near(r[0].primary.value, 31.6, 1e-9);
	/* [MR3]: "samples 6, 8, 11, and 19 are out of control on the X-bar chart and sample 9 is
	 * out of control on the R chart". */
	for (int i = 0; i < 20; i++) {
		int sample = i + 1;
		bool mean_out = sample == 6 || sample == 8 || sample == 11 || sample == 19;
		assert_int_equal(fired(&r[i], SPC_RULE_WE1), mean_out);
		assert_int_equal(fired(&r[i], SPC_RULE_SECONDARY_LIMIT), sample == 9);
	}
}

static void test_xbar_r_vane_revised_limits(void **unused)
{
	(void)unused;
	/* [MR3] Sec. 16-5: after discarding samples 6, 8, 9, 11 and 19 the revised limits are
	 * x-double-bar = 33.21, UCL = 36.10, LCL = 30.33; r-bar = 5.0, R UCL = 10.57 (with
	 * A2 = 0.577 and D4 = 2.115 rounded: tolerance widened by 5.0 * 0.0005). */
	struct spc_state state = new_chart(SPC_CHART_XBAR_R, 5, 0, 15);
	struct spc_result r;
	for (int i = 0; i < 20; i++) {
		int sample = i + 1;
		if (sample == 6 || sample == 8 || sample == 9 || sample == 11 || sample == 19)
			continue;
		for (int j = 0; j < 5; j++) {
			struct spc_observation o = {.value = vane[i][j]};
			assert_int_equal(spc_chart_add(&state, &o, &r), SPC_OK);
		}
	}
	struct spc_point mean_chart, range_chart;
	assert_int_equal(spc_chart_next_limits(&state, 0, &mean_chart, &range_chart), SPC_OK);
	assert_near(mean_chart.cl, 33.21, 0.005);
	assert_near(mean_chart.ucl, 36.10, 0.005 + 5.0 * 0.0005);
	assert_near(mean_chart.lcl, 30.33, 0.005 + 5.0 * 0.0005);
	assert_near(range_chart.cl, 5.0, 0.005);
	assert_near(range_chart.ucl, 10.57, 0.005 + 5.0 * 0.0005);
}

static void test_xbar_s_vane_opening(void **unused)
{
	(void)unused;
	struct spc_result r[20];
	vane_results(SPC_CHART_XBAR_S, r);
	/* [MR3] Sec. 16-5, Fig. 16-9: s-bar = 2.345, S chart UCL = 4.899, LCL = 0; X-bar limits
	 * from s-bar: 33.32 +- 3.35 ("nearly the same as from r-bar"; c4 = 0.94 in the book). */
	assert_near(r[0].secondary.cl, 2.345, 0.0005);
	assert_near(r[0].secondary.ucl, 4.899, 0.0005);
	assert_near(r[0].secondary.lcl, 0.0, 1e-12);
	assert_near(r[0].primary.cl, 33.32, 0.005);
	assert_near(r[0].primary.ucl - r[0].primary.cl, 3.35, 0.005);
}

static void test_imr_concentration(void **unused)
{
	(void)unused;
	struct spc_state state =
	        new_chart(SPC_CHART_IMR, 1, SPC_RULES_WESTERN_ELECTRIC | SPC_RULES_NELSON, 20);
	struct spc_result r;
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < 20; i++) {
			struct spc_observation o = {.value = concentration[i]};
			assert_int_equal(spc_chart_add(&state, &o, &r), SPC_OK);
			assert_true(r.plotted);
			assert_int_equal(r.judged, pass == 1);
			if (pass == 0 && i == 1)
				/* [MR3] Table 16-3: first moving range 7.2. */
				assert_near(r.secondary.value, 7.2, 1e-9);
			if (pass == 1) {
				/* [MR3] Sec. 16-6: x-bar = 99.1, mr-bar = 2.59, UCL = 105.99,
				 * LCL = 92.21; "There is no indication of an out-of-control
				 * condition." (WE1 on the individuals chart). The book computes the
				 * limits from x-bar and mr-bar rounded (99.095 -> 99.1, 2.5895 ->
				 * 2.59): tolerance 0.005 + 0.005 + 2.66 * 0.0005. */
				assert_near(r.primary.cl, 99.1, 0.05);
				assert_near(r.primary.ucl, 105.99, 0.012);
				assert_near(r.primary.lcl, 92.21, 0.012);
				assert_false(fired(&r, SPC_RULE_WE1));
			}
		}
	/* MR chart: CL = mr-bar = 2.59 [MR3]. */
	assert_near(r.secondary.cl, 2.59, 0.005);
}

static void test_p_chart_orange_juice(void **unused)
{
	(void)unused;
	/* [ISQC] Example 7.1 / NIST e-Handbook 6.3.3.2: 30 samples of n = 50 cans. */
	static const double defective[30] = {12, 15, 8,  10, 4,  7,  16, 9,  14, 10,
	                                     5,  6,  17, 12, 22, 8,  10, 5,  13, 11,
	                                     20, 18, 24, 15, 9,  12, 7,  13, 9,  6};
	struct spc_state p = new_chart(SPC_CHART_P, 0, SPC_RULE_BIT(SPC_RULE_WE1), 30);
	struct spc_state np = new_chart(SPC_CHART_NP, 0, SPC_RULE_BIT(SPC_RULE_WE1), 30);
	struct spc_result rp, rnp;
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < 30; i++) {
			struct spc_observation o = {.count = defective[i], .size = 50};
			assert_int_equal(spc_chart_add(&p, &o, &rp), SPC_OK);
			assert_int_equal(spc_chart_add(&np, &o, &rnp), SPC_OK);
			if (pass == 0)
				continue;
			/* [ISQC] Ex. 7.1: p-bar = 0.2313, UCL = 0.4102, LCL = 0.0524; samples 15
			 * and 23 plot above the UCL. */
			assert_near(rp.primary.cl, 0.2313, 0.00005);
			assert_near(rp.primary.ucl, 0.4102, 0.00005);
			assert_near(rp.primary.lcl, 0.0524, 0.00005);
			bool out = i + 1 == 15 || i + 1 == 23;
			assert_int_equal(fired(&rp, SPC_RULE_WE1), out);
			/* np chart of the same data: n times the p chart (its limits are the
			 * published ones times 50, so 50 times their tolerance). */
			assert_near(rnp.primary.cl, 50 * 0.2313, 50 * 0.00005);
			assert_near(rnp.primary.ucl, 50 * 0.4102, 50 * 0.00005);
			assert_near(rnp.primary.lcl, 50 * 0.0524, 50 * 0.00005);
			assert_int_equal(fired(&rnp, SPC_RULE_WE1), out);
		}
}

static void test_p_chart_variable_sample_size(void **unused)
{
	(void)unused;
	/* [ISQC] Table 7.4 (purchase orders, 25 days) and Table 7.5 (limits per sample size):
	 * p-bar = 234/2450 = 0.096. */
	static const double size[25] = {100, 80,  80,  100, 110, 110, 100, 100, 90,
	                                90,  110, 120, 120, 120, 110, 80,  80,  80,
	                                90,  100, 100, 100, 100, 90,  90};
	static const double defective[25] = {12, 8, 6, 9,  10, 12, 11, 16, 10, 6,  20, 15, 9,
	                                     8,  6, 8, 10, 7,  5,  8,  5,  8,  10, 6,  9};
	/* [ISQC] Table 7.5: UCL and LCL for n = 80, 90, 100, 110, 120. The book rounds p-bar to
	 * 0.096 (0.09551 unrounded) before computing them, which moves a limit by up to 0.0007:
	 * tolerance 0.0005 (rounding) + 0.0007. */
	static const struct {
		double n, ucl, lcl;
	} table_7_5[] = {
	        {80, 0.195, 0.000},  {90, 0.189, 0.003},  {100, 0.184, 0.008},
	        {110, 0.180, 0.012}, {120, 0.177, 0.015},
	};
	struct spc_state state = new_chart(SPC_CHART_P, 0, 0, 25);
	struct spc_result r;
	for (int i = 0; i < 25; i++) {
		struct spc_observation o = {.count = defective[i], .size = size[i]};
		assert_int_equal(spc_chart_add(&state, &o, &r), SPC_OK);
	}
	for (size_t i = 0; i < sizeof(table_7_5) / sizeof(table_7_5[0]); i++) {
		struct spc_point limits;
		assert_int_equal(spc_chart_next_limits(&state, table_7_5[i].n, &limits, NULL),
		                 SPC_OK);
		assert_near(limits.cl, 0.096, 0.0005);
		assert_near(limits.ucl, table_7_5[i].ucl, 0.0012);
		assert_near(limits.lcl, table_7_5[i].lcl, 0.0012);
	}
}

static void test_c_chart_circuit_boards(void **unused)
{
	(void)unused;
	/* [ISQC] Example 7.3: nonconformities in 26 samples of 100 printed circuit boards. */
	static const double count[26] = {21, 24, 16, 12, 15, 5,  28, 20, 31, 25, 20, 24, 16,
	                                 19, 10, 17, 13, 22, 18, 39, 30, 24, 16, 19, 17, 15};
	struct spc_state state = new_chart(SPC_CHART_C, 0, SPC_RULE_BIT(SPC_RULE_WE1), 26);
	struct spc_result r;
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < 26; i++) {
			struct spc_observation o = {.count = count[i]};
			assert_int_equal(spc_chart_add(&state, &o, &r), SPC_OK);
			if (pass == 0)
				continue;
			/* [ISQC] Ex. 7.3: c-bar = 516/26 = 19.85, UCL = 33.22, LCL = 6.48;
			 * samples 6 and 20 are beyond the limits. The limits are computed from
			 * c-bar rounded to 19.85 (19.846 unrounded), which moves them by up to
			 * 0.004 * (1 + 3 / (2 sqrt(c-bar))) = 0.0054: tolerance 0.005 + 0.0054. */
			assert_near(r.primary.cl, 19.85, 0.005);
			assert_near(r.primary.ucl, 33.22, 0.0104);
			assert_near(r.primary.lcl, 6.48, 0.0104);
			assert_int_equal(fired(&r, SPC_RULE_WE1), i + 1 == 6 || i + 1 == 20);
		}
}

static void test_bad_config_and_observations(void **unused)
{
	(void)unused;
	const char *why = NULL;
	struct spc_state state;
	struct spc_chart_config bad = {.kind = SPC_CHART_XBAR_R,
	                               .subgroup_size = 1,
	                               .limits_source = SPC_LIMITS_BASELINE,
	                               .baseline_points = 5};
	assert_int_equal(spc_state_init(&state, &bad, &why), SPC_ERR_INVALID);
	assert_non_null(why);
	struct spc_chart_config ewma_rules = {.kind = SPC_CHART_EWMA,
	                                      .subgroup_size = 1,
	                                      .rules = SPC_RULES_NELSON,
	                                      .limits_source = SPC_LIMITS_FIXED_SIGMA,
	                                      .centre = 0,
	                                      .sigma = 1,
	                                      .ewma_lambda = 0.2,
	                                      .ewma_width = 3};
	assert_int_equal(spc_state_init(&state, &ewma_rules, &why), SPC_ERR_INVALID);

	state = new_chart(SPC_CHART_P, 0, 0, 5);
	struct spc_state before = state;
	struct spc_result r;
	struct spc_observation more_than_inspected = {.count = 11, .size = 10};
	assert_int_equal(spc_chart_add(&state, &more_than_inspected, &r), SPC_ERR_INVALID);
	assert_memory_equal(&state, &before, sizeof(state));
	struct spc_state imr = new_chart(SPC_CHART_IMR, 1, 0, 5);
	struct spc_observation not_a_number = {.value = NAN};
	assert_int_equal(spc_chart_add(&imr, &not_a_number, &r), SPC_ERR_INVALID);
	assert_int_equal(spc_chart_next_limits(&imr, 0, NULL, NULL), SPC_ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_constants_match_appendix_vi),
	        cmocka_unit_test(test_xbar_r_vane_opening),
	        cmocka_unit_test(test_xbar_r_vane_revised_limits),
	        cmocka_unit_test(test_xbar_s_vane_opening),
	        cmocka_unit_test(test_constants_table_set),
	        cmocka_unit_test(test_xbar_r_vane_table),
	        cmocka_unit_test(test_xbar_s_vane_table),
	        cmocka_unit_test(test_constants_config_and_state),
	        cmocka_unit_test(test_imr_concentration),
	        cmocka_unit_test(test_p_chart_orange_juice),
	        cmocka_unit_test(test_p_chart_variable_sample_size),
	        cmocka_unit_test(test_c_chart_circuit_boards),
	        cmocka_unit_test(test_bad_config_and_observations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
