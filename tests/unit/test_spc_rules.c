/* Western Electric and Nelson run rules: each rule on a pattern built from its definition,
 * and the published out-of-control points of textbook examples.
 *
 * Rule definitions: Western Electric, Statistical Quality Control Handbook (1956), as listed in
 * Montgomery, ISQC 6th ed., Sec. 5.3.6; Nelson, J. Quality Technology 16(4) 1984, 237-239.
 * The synthetic sequences use centre 0 and sigma 1 so each value is its own z score; a pattern
 * is the shortest run the definition describes, so the rule must fire at its last point and
 * not one point earlier. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "spc.h"

static struct spc_state individuals(uint32_t rules)
{
	struct spc_chart_config config = {
	        .kind = SPC_CHART_IMR,
	        .rules = rules,
	        .limits_source = SPC_LIMITS_FIXED_SIGMA,
	        .centre = 0,
	        .sigma = 1,
	};
	struct spc_state state;
	assert_int_equal(spc_state_init(&state, &config, NULL), SPC_OK);
	return state;
}

/* Feeds values; returns the first point where `rule` fired (0 if never) and its first point. */
static uint64_t first_firing(enum spc_rule rule, const double *values, size_t count,
                             uint64_t *ret_first)
{
	struct spc_state state = individuals(SPC_RULE_BIT(rule));
	for (size_t i = 0; i < count; i++) {
		struct spc_result r;
		struct spc_observation o = {.value = values[i]};
		assert_int_equal(spc_chart_add(&state, &o, &r), SPC_OK);
		for (uint32_t v = 0; v < r.violation_count; v++) {
			if (r.violations[v].rule != rule)
				continue;
			assert_int_equal(r.violations[v].last_point, r.point);
			*ret_first = r.violations[v].first_point;
			return r.point;
		}
	}
	return 0;
}

/* Sources of the expected behaviour, cited per case:
 *   [WE]  Western Electric, Statistical Quality Control Handbook (1956), rules 1-4 as listed in
 *         Montgomery, ISQC 6th ed., Sec. 5.3.6 / Table 5.1, and NIST/SEMATECH e-Handbook 6.3.2
 *         ("WECO rules"): 1 one point outside the 3-sigma limits; 2 two out of three
 *         consecutive points beyond the 2-sigma warning limits (same side); 3 four out of five
 *         consecutive points beyond 1 sigma (same side); 4 eight consecutive points on one side.
 *   [N84] Nelson, J. Quality Technology 16(4), 1984, 237-239, tests 1-8: 1 one point beyond
 *         Zone A; 2 nine points in a row in Zone C or beyond (one side); 3 six points in a row
 *         steadily increasing or decreasing; 4 fourteen points in a row alternating up and down;
 *         5 two out of three points in a row in Zone A or beyond; 6 four out of five points in a
 *         row in Zone B or beyond (tests 1, 2, 5, 6 are applied to each half of the chart
 *         separately: same side); 7 fifteen points in a row in Zone C (above and below the
 *         centre line); 8 eight points in a row on both sides of the centre line with none in
 *         Zone C.
 *   [I11] issue 11 item 2: a rule over m consecutive points needs m points, so it cannot fire
 *         before the m-th point of the series.
 *   [ENG] engine convention for the measure-zero boundary cases (services/spc/README.md):
 *         "beyond" and "within" are strict, a point on the centre line is on neither side,
 *         equal neighbours are neither up nor down. */
static void test_each_rule_on_its_pattern(void **unused)
{
	(void)unused;
	static const struct {
		enum spc_rule rule;
		double values[16];
		size_t count;
		uint64_t fires_at; /* first point where it fires; 0: never */
		uint64_t first;    /* first point of the pattern reported there */
	} cases[] = {
	        /* WE1 [WE] rule 1: one point beyond 3 sigma fires at that point. */
	        {SPC_RULE_WE1, {0.5, 3.2}, 2, 2, 2},
	        {SPC_RULE_WE1, {-3.2}, 1, 1, 1},
	        /* ... and not inside the limits. */
	        {SPC_RULE_WE1, {2.99, -2.99}, 2, 0, 0},
	        /* Nelson 1 [N84] test 1, likewise. */
	        {SPC_RULE_NELSON1, {0.5, -3.5}, 2, 2, 2},
	        {SPC_RULE_NELSON1, {2.99, -2.99}, 2, 0, 0},

	        /* WE2 [WE] rule 2: 2 of 3 beyond 2 sigma on one side (the middle one is not). */
	        {SPC_RULE_WE2, {2.5, 0.3, 2.1}, 3, 3, 1},
	        /* Mid-series: fires at the point that completes the pattern, not earlier. */
	        {SPC_RULE_WE2, {0, 0, 2.5, 0.3, 2.1}, 5, 5, 3},
	        /* [I11] Two points exist: no window of 3 consecutive points yet. */
	        {SPC_RULE_WE2, {2.5, 2.1}, 2, 0, 0},
	        /* [I11] The first window of 3 exists at point 3: the two earlier points count. */
	        {SPC_RULE_WE2, {2.5, 2.1, 0.0}, 3, 3, 1},
	        /* Opposite sides [WE] "same side": no signal. */
	        {SPC_RULE_WE2, {2.5, -2.5, 0}, 3, 0, 0},
	        {SPC_RULE_WE2, {0, 2.5, -2.1, 0}, 4, 0, 0},
	        /* Two beyond 2 sigma but 4 points apart: never 2 of 3 consecutive. */
	        {SPC_RULE_WE2, {0, 2.5, 0.3, 0.3, 2.1}, 5, 0, 0},
	        /* [ENG] exactly 2 sigma is not beyond it. */
	        {SPC_RULE_WE2, {2.0, 0, 2.5}, 3, 0, 0},

	        /* Nelson 5 [N84] test 5: same as WE2. */
	        {SPC_RULE_NELSON5, {-2.5, 0.1, -2.1}, 3, 3, 1},
	        {SPC_RULE_NELSON5, {-2.5, -2.1, 0.5}, 3, 3, 1},
	        /* [I11] Before the fix this fired at point 2; two points are not "2 out of 3
	         * points in a row" [N84]. */
	        {SPC_RULE_NELSON5, {-2.5, -2.1}, 2, 0, 0},
	        {SPC_RULE_NELSON5, {-2.5, 2.1, 0.0}, 3, 0, 0},

	        /* WE3 [WE] rule 3: 4 of 5 beyond 1 sigma on one side. */
	        {SPC_RULE_WE3, {1.5, 1.2, 0.2, 1.1, 1.9}, 5, 5, 1},
	        {SPC_RULE_WE3, {0.3, 1.5, 1.2, 0.0, 1.1, 1.9}, 6, 6, 2},
	        /* [I11] Four points exist: no window of 5 yet. */
	        {SPC_RULE_WE3, {1.5, 1.2, 1.1, 1.9}, 4, 0, 0},
	        /* [I11] The first window of 5 exists at point 5, whatever the 5th point is. */
	        {SPC_RULE_WE3, {1.5, 1.2, 1.1, 1.9, 0.0}, 5, 5, 1},
	        {SPC_RULE_WE3, {1.5, 1.2, 1.1, 1.9, -1.3}, 5, 5, 1},
	        /* Only 3 of 5 on the upper side, one on the wrong side: no signal. */
	        {SPC_RULE_WE3, {1.5, 1.2, -1.1, 1.9, 0.2}, 5, 0, 0},
	        /* [ENG] exactly 1 sigma is not beyond it. */
	        {SPC_RULE_WE3, {1.5, 1.0, 1.2, 0.2, 1.9}, 5, 0, 0},

	        /* Nelson 6 [N84] test 6: same as WE3. */
	        {SPC_RULE_NELSON6, {-1.5, -1.2, -1.1, -1.9, -0.2}, 5, 5, 1},
	        {SPC_RULE_NELSON6, {0.3, -1.5, -1.2, 0.0, -1.1, -1.9}, 6, 6, 2},
	        /* [I11] Before the fix this fired at point 4; four points are not "four out of
	         * five points in a row" [N84]. */
	        {SPC_RULE_NELSON6, {-1.5, -1.2, -1.1, -1.9}, 4, 0, 0},
	        {SPC_RULE_NELSON6, {-1.5, -1.2, 1.1, -1.9, 0.2}, 5, 0, 0},

	        /* WE4 [WE] rule 4: 8 in a row on one side. */
	        {SPC_RULE_WE4, {0.1, 0.2, 0.1, 0.3, 0.2, 0.1, 0.4, 0.2}, 8, 8, 1},
	        {SPC_RULE_WE4, {-1, 0.1, 0.2, 0.1, 0.3, 0.2, 0.1, 0.4, 0.2}, 9, 9, 2},
	        /* Seven in a row: not yet. */
	        {SPC_RULE_WE4, {-1, 0.1, 0.2, 0.1, 0.3, 0.2, 0.1, 0.4}, 8, 0, 0},
	        /* The 8th on the other side. */
	        {SPC_RULE_WE4, {0.1, 0.2, 0.1, 0.3, 0.2, 0.1, 0.4, -0.2}, 8, 0, 0},
	        /* [ENG] a point exactly on the centre line breaks the run. */
	        {SPC_RULE_WE4, {0.1, 0.2, 0.1, 0, 0.3, 0.2, 0.1, 0.4, 0.2, 0.1}, 10, 0, 0},

	        /* Nelson 2 [N84] test 2: 9 in a row on one side. */
	        {SPC_RULE_NELSON2, {0.1, 0.2, 0.1, 0.3, 0.2, 0.1, 0.4, 0.2, 0.1}, 9, 9, 1},
	        {SPC_RULE_NELSON2, {-0.1, -0.2, -0.1, -0.3, -0.2, -0.1, -0.4, -0.2}, 8, 0, 0},
	        {SPC_RULE_NELSON2, {0.1, 0.2, 0.1, 0.3, 0.2, 0.1, 0.4, 0.2, -0.1}, 9, 0, 0},

	        /* Nelson 3 [N84] test 3: 6 in a row steadily increasing (5 rises). */
	        {SPC_RULE_NELSON3, {0.5, -1.0, -0.8, -0.2, 0.1, 0.4, 0.9}, 7, 7, 2},
	        /* ... or decreasing. */
	        {SPC_RULE_NELSON3, {0.9, 0.4, 0.1, -0.2, -0.8, -1.0}, 6, 6, 1},
	        /* Five in a row increasing: not yet. */
	        {SPC_RULE_NELSON3, {0.5, -1.0, -0.8, -0.2, 0.1, 0.4}, 6, 0, 0},
	        /* [ENG] equal neighbours are not a trend. */
	        {SPC_RULE_NELSON3, {-1.0, -0.8, -0.8, 0.1, 0.4, 0.9}, 6, 0, 0},

	        /* Nelson 4 [N84] test 4: 14 in a row alternating up and down (13 alternating
	         * steps). */
	        {SPC_RULE_NELSON4,
	         {0.5, -0.5, 0.5, -0.5, 0.5, -0.5, 0.5, -0.5, 0.5, -0.5, 0.5, -0.5, 0.5, -0.5},
	         14,
	         14,
	         1},
	        /* Thirteen: not yet. */
	        {SPC_RULE_NELSON4,
	         {0.5, -0.5, 0.5, -0.5, 0.5, -0.5, 0.5, -0.5, 0.5, -0.5, 0.5, -0.5, 0.5},
	         13,
	         0,
	         0},
	        /* Two rises in a row in the middle break the alternation. */
	        {SPC_RULE_NELSON4,
	         {0.5, -0.5, 0.5, -0.5, 0.5, -0.5, 0.0, 0.5, -0.5, 0.5, -0.5, 0.5, -0.5, 0.5},
	         14,
	         0,
	         0},

	        /* Nelson 7 [N84] test 7: 15 in a row within 1 sigma, either half of Zone C. */
	        {SPC_RULE_NELSON7,
	         {2.0, 0.5, -0.5, 0.2, -0.2, 0.9, -0.9, 0.1, 0.3, -0.3, 0.4, -0.4, 0.6, -0.6, 0.7,
	          0.8},
	         16,
	         16,
	         2},
	        /* Fourteen: not yet. */
	        {SPC_RULE_NELSON7,
	         {2.0, 0.5, -0.5, 0.2, -0.2, 0.9, -0.9, 0.1, 0.3, -0.3, 0.4, -0.4, 0.6, -0.6, 0.7},
	         15,
	         0,
	         0},
	        /* [ENG] exactly 1 sigma is not within it. */
	        {SPC_RULE_NELSON7,
	         {0.5, -0.5, 0.2, -0.2, 0.9, -0.9, 0.1, 1.0, -0.3, 0.4, -0.4, 0.6, -0.6, 0.7, 0.8},
	         15,
	         0,
	         0},

	        /* Nelson 8 [N84] test 8: 8 in a row beyond 1 sigma, on both sides. */
	        {SPC_RULE_NELSON8, {1.5, -1.5, 1.2, -1.2, 1.1, -1.1, 1.3, -1.3}, 8, 8, 1},
	        /* One point below is enough for "both sides". */
	        {SPC_RULE_NELSON8, {1.5, 1.5, 1.2, 1.2, 1.1, 1.1, 1.3, -1.3}, 8, 8, 1},
	        /* [N84] "on both sides of the centerline": 8 beyond 1 sigma all above is not test
	         * 8 (it fired before the fix; that pattern is test 6's). */
	        {SPC_RULE_NELSON8, {1.5, 1.5, 1.2, 1.2, 1.1, 1.1, 1.3, 1.3}, 8, 0, 0},
	        {SPC_RULE_NELSON8, {-1.5, -1.5, -1.2, -1.2, -1.1, -1.1, -1.3, -1.3, -2.0}, 9, 0, 0},
	        /* Seven: not yet. */
	        {SPC_RULE_NELSON8, {0.0, -1.5, 1.2, -1.2, 1.1, -1.1, 1.3, -1.3}, 8, 0, 0},
	        /* One of the 8 in Zone C. */
	        {SPC_RULE_NELSON8, {1.5, -1.5, 1.2, -0.5, 1.1, -1.1, 1.3, -1.3}, 8, 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t first = 0;
		uint64_t at = first_firing(cases[i].rule, cases[i].values, cases[i].count, &first);
		if (at != cases[i].fires_at)
			fail_msg("case %zu (%s): fired at %llu, expected %llu", i,
			         spc_rule_name(cases[i].rule), (unsigned long long)at,
			         (unsigned long long)cases[i].fires_at);
		if (first != cases[i].first)
			fail_msg("case %zu (%s): first point %llu, expected %llu", i,
			         spc_rule_name(cases[i].rule), (unsigned long long)first,
			         (unsigned long long)cases[i].first);
	}
}

/* [I11] The series a rule looks at is the judged points: the phase I baseline does not count.
 * Baseline 0, 1, 0, 1, 0: centre 0.4, MR-bar 1, sigma 1/1.128 (Montgomery ISQC Sec. 6.4): the
 * judged values 10 are beyond 3 sigma. WE2 cannot fire at the 2nd judged point (point 7); the
 * first window of 3 judged points (point 8) holds them. */
static void test_rules_start_after_the_baseline(void **unused)
{
	(void)unused;
	struct spc_chart_config config = {
	        .kind = SPC_CHART_IMR,
	        .rules = SPC_RULE_BIT(SPC_RULE_WE2),
	        .limits_source = SPC_LIMITS_BASELINE,
	        .baseline_points = 5,
	};
	struct spc_state state;
	assert_int_equal(spc_state_init(&state, &config, NULL), SPC_OK);
	const double values[] = {0, 1, 0, 1, 0, 10, 10, 0.4};
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		struct spc_result r;
		struct spc_observation o = {.value = values[i]};
		assert_int_equal(spc_chart_add(&state, &o, &r), SPC_OK);
		if (r.point < 8) {
			assert_int_equal(r.violation_count, 0);
			continue;
		}
		assert_true(r.judged);
		assert_int_equal(r.violation_count, 1);
		assert_int_equal(r.violations[0].rule, SPC_RULE_WE2);
		assert_int_equal(r.violations[0].first_point, 6);
		assert_int_equal(r.violations[0].last_point, 8);
	}
}

static void test_rules_are_selected_per_chart(void **unused)
{
	(void)unused;
	/* Only the selected rules fire: a 3.5 sigma point with only Nelson 2 selected. */
	struct spc_state state = individuals(SPC_RULE_BIT(SPC_RULE_NELSON2));
	struct spc_result r;
	struct spc_observation o = {.value = 3.5};
	assert_int_equal(spc_chart_add(&state, &o, &r), SPC_OK);
	assert_int_equal(r.violation_count, 0);

	/* All of WE and Nelson selected: one extreme point fires WE1 and Nelson 1, in rule
	 * number order. */
	state = individuals(SPC_RULES_WESTERN_ELECTRIC | SPC_RULES_NELSON);
	assert_int_equal(spc_chart_add(&state, &o, &r), SPC_OK);
	assert_int_equal(r.violation_count, 2);
	assert_int_equal(r.violations[0].rule, SPC_RULE_WE1);
	assert_int_equal(r.violations[1].rule, SPC_RULE_NELSON1);
	assert_string_equal(spc_rule_name(SPC_RULE_NELSON7), "nelson7");
	assert_string_equal(spc_rule_name(99), "unknown");
}

static void test_explicit_asymmetric_limits(void **unused)
{
	(void)unused;
	/* Explicit limits LCL = 4, CL = 10, UCL = 13: zones are thirds of each half, so 12.1
	 * is beyond 2 sigma above (sigma up = 1) and 5.9 beyond 2 sigma below (sigma down = 2). */
	struct spc_chart_config config = {
	        .kind = SPC_CHART_IMR,
	        .rules = SPC_RULE_BIT(SPC_RULE_WE2),
	        .limits_source = SPC_LIMITS_FIXED_EXPLICIT,
	        .lcl = 4,
	        .cl = 10,
	        .ucl = 13,
	};
	struct spc_state state;
	assert_int_equal(spc_state_init(&state, &config, NULL), SPC_OK);
	const double values[] = {12.1, 10.5, 12.2, 5.9, 5.8};
	const uint32_t expected_violations[] = {0, 0, 1, 0, 1};
	for (size_t i = 0; i < 5; i++) {
		struct spc_result r;
		struct spc_observation o = {.value = values[i]};
		assert_int_equal(spc_chart_add(&state, &o, &r), SPC_OK);
		assert_int_equal(r.violation_count, expected_violations[i]);
		assert_true(isnan(r.secondary.ucl)); /* no MR limits with explicit limits */
	}
}

/* The names of kinds and rules are defined once in the library: each name leads back to its
 * number, the kind list in help texts has every kind, and the two spellings of a rule (reported
 * name, configuration code) belong to the same rule. */
static void test_names(void **unused)
{
	static const struct {
		int rule;
		const char *name;
		const char *code;
	} rules[] = {
	        {SPC_RULE_WE1, "we1", "WE1"},
	        {SPC_RULE_WE4, "we4", "WE4"},
	        {SPC_RULE_NELSON1, "nelson1", "N1"},
	        {SPC_RULE_NELSON8, "nelson8", "N8"},
	        {SPC_RULE_SECONDARY_LIMIT, "secondary", "SEC"},
	        {SPC_RULE_EWMA_LIMIT, "ewma", NULL},
	        {SPC_RULE_CUSUM_UPPER, "cusum_upper", NULL},
	        {SPC_RULE_CUSUM_LOWER, "cusum_lower", NULL},
	};
	char list[] = SPC_CHART_KIND_LIST;
	enum spc_chart_kind kind;
	enum spc_rule rule;
	size_t n_list = 1;

	(void)unused;
	for (char *p = list; *p; p++)
		if (*p == '|')
			n_list++;
	for (int k = SPC_CHART_IMR; k <= SPC_CHART_CUSUM; k++) {
		const char *name = spc_chart_kind_name(k);
		size_t len = strlen(name);
		const char *at = strstr(list, name);
		assert_int_equal(spc_chart_kind_from_name(name, &kind), SPC_OK);
		assert_int_equal(kind, k);
		/* A whole word of the list ("p" must not be found inside "imr|np"). */
		while (at != NULL &&
		       !((at == list || at[-1] == '|') && (at[len] == '|' || at[len] == '\0')))
			at = strstr(at + 1, name);
		assert_non_null(at);
	}
	assert_int_equal(n_list, SPC_CHART_CUSUM);
	assert_string_equal(spc_chart_kind_name(SPC_CHART_XBAR_S), "xbar_s");
	assert_string_equal(spc_chart_kind_name(0), "unknown");
	assert_string_equal(spc_chart_kind_name(SPC_CHART_CUSUM + 1), "unknown");
	kind = SPC_CHART_C;
	assert_int_equal(spc_chart_kind_from_name("XBAR_R", &kind), SPC_ERR_INVALID);
	assert_int_equal(spc_chart_kind_from_name("t2", &kind), SPC_ERR_INVALID);
	assert_int_equal(spc_chart_kind_from_name(NULL, &kind), SPC_ERR_INVALID);
	assert_int_equal(kind, SPC_CHART_C);
	assert_true(spc_chart_kind_is_attribute(SPC_CHART_NP));
	assert_true(spc_chart_kind_is_attribute(SPC_CHART_U));
	assert_false(spc_chart_kind_is_attribute(SPC_CHART_EWMA));
	assert_false(spc_chart_kind_is_attribute(99));

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		assert_string_equal(spc_rule_name(rules[i].rule), rules[i].name);
		assert_int_equal(spc_rule_from_name(rules[i].name, strlen(rules[i].name), &rule),
		                 SPC_OK);
		assert_int_equal(rule, rules[i].rule);
		assert_int_equal(spc_rule_is_selectable(rules[i].rule), rules[i].code != NULL);
		if (rules[i].code == NULL) {
			assert_null(spc_rule_code(rules[i].rule));
			continue;
		}
		assert_string_equal(spc_rule_code(rules[i].rule), rules[i].code);
		assert_int_equal(spc_rule_from_code(rules[i].code, strlen(rules[i].code), &rule),
		                 SPC_OK);
		assert_int_equal(rule, rules[i].rule);
	}
	/* Codes in any case, a length instead of a terminator; names exact. */
	assert_int_equal(spc_rule_from_code("sec,WE1", 3, &rule), SPC_OK);
	assert_int_equal(rule, SPC_RULE_SECONDARY_LIMIT);
	assert_int_equal(spc_rule_from_code("n9", 2, &rule), SPC_ERR_INVALID);
	assert_int_equal(spc_rule_from_code("ewma", 4, &rule), SPC_ERR_INVALID);
	assert_int_equal(spc_rule_from_name("WE1", 3, &rule), SPC_ERR_INVALID);
	assert_int_equal(spc_rule_from_name("we12", 3, &rule), SPC_OK);
	assert_int_equal(rule, SPC_RULE_WE1);
	assert_false(spc_rule_is_selectable(0));
	assert_false(spc_rule_is_selectable(SPC_RULE_CUSUM_LOWER + 1));

	/* Defaults: WE1, plus the secondary limits where there is a secondary chart. */
	assert_int_equal(spc_chart_default_rules(SPC_CHART_IMR),
	                 SPC_RULE_BIT(SPC_RULE_WE1) | SPC_RULE_BIT(SPC_RULE_SECONDARY_LIMIT));
	assert_int_equal(spc_chart_default_rules(SPC_CHART_XBAR_S),
	                 SPC_RULE_BIT(SPC_RULE_WE1) | SPC_RULE_BIT(SPC_RULE_SECONDARY_LIMIT));
	assert_int_equal(spc_chart_default_rules(SPC_CHART_P), SPC_RULE_BIT(SPC_RULE_WE1));
	assert_int_equal(spc_chart_default_rules(SPC_CHART_EWMA), 0);
	assert_int_equal(spc_chart_default_rules(SPC_CHART_CUSUM), 0);
	assert_int_equal(spc_chart_default_rules(0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_each_rule_on_its_pattern),
	        cmocka_unit_test(test_rules_start_after_the_baseline),
	        cmocka_unit_test(test_rules_are_selected_per_chart),
	        cmocka_unit_test(test_explicit_asymmetric_limits),
	        cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
