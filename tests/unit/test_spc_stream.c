/* Streaming API: persistence as bytes, restore equivalence, determinism, validation.
 *
 * The restore test stops a chart after every observation, copies the state through a byte
 * buffer (as the service stores it in PostgreSQL), validates the copy and continues; results
 * must equal those of a chart that never stopped, bit for bit. Phase I freezing is checked
 * against [MR3] Montgomery & Runger, Applied Statistics and Probability for Engineers, 3rd ed.,
 * Sec. 16-6 (chemical concentration, x-bar = 99.1, UCL = 105.99, LCL = 92.21). */
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

/* A fixed pseudo-random sequence (64-bit LCG, Knuth MMIX constants) with a drift half way. */
static double sample(uint64_t *seed, size_t i)
{
	*seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
	double u = (double)(*seed >> 11) / 9007199254740992.0;
	return 10.0 + (u - 0.5) * 3.0 + (i > 120 ? 1.2 : 0.0);
}

static const struct spc_chart_config configs[] = {
        {.kind = SPC_CHART_IMR,
         .subgroup_size = 1,
         .rules = SPC_RULES_WESTERN_ELECTRIC | SPC_RULES_NELSON |
                  SPC_RULE_BIT(SPC_RULE_SECONDARY_LIMIT),
         .limits_source = SPC_LIMITS_BASELINE,
         .baseline_points = 30},
        {.kind = SPC_CHART_XBAR_R,
         .subgroup_size = 5,
         .rules = SPC_RULES_NELSON,
         .limits_source = SPC_LIMITS_BASELINE,
         .baseline_points = 10},
        {.kind = SPC_CHART_XBAR_S,
         .subgroup_size = 4,
         .rules = SPC_RULES_WESTERN_ELECTRIC,
         .limits_source = SPC_LIMITS_FIXED_SIGMA,
         .centre = 10,
         .sigma = 0.9},
        {.kind = SPC_CHART_P,
         .rules = SPC_RULES_NELSON,
         .limits_source = SPC_LIMITS_BASELINE,
         .baseline_points = 25},
        {.kind = SPC_CHART_U,
         .rules = SPC_RULES_WESTERN_ELECTRIC,
         .limits_source = SPC_LIMITS_FIXED_SIGMA,
         .centre = 0.3},
        {.kind = SPC_CHART_EWMA,
         .subgroup_size = 1,
         .limits_source = SPC_LIMITS_BASELINE,
         .baseline_points = 40,
         .ewma_lambda = 0.2,
         .ewma_width = 2.86},
        {.kind = SPC_CHART_CUSUM,
         .subgroup_size = 2,
         .limits_source = SPC_LIMITS_BASELINE,
         .baseline_points = 20,
         .cusum_k = 0.5,
         .cusum_h = 4},
};

static struct spc_observation observation(const struct spc_chart_config *c, double x)
{
	struct spc_observation o = {.value = x};
	if (c->kind == SPC_CHART_P || c->kind == SPC_CHART_U) {
		o.size = 50 + floor(x * 3);
		o.count = floor(fabs(x - 10.0) * 4);
	}
	return o;
}

static void test_restore_gives_same_results(void **unused)
{
	(void)unused;
	for (size_t k = 0; k < sizeof(configs) / sizeof(configs[0]); k++) {
		struct spc_state straight, resumed;
		assert_int_equal(spc_state_init(&straight, &configs[k], NULL), SPC_OK);
		assert_int_equal(spc_state_init(&resumed, &configs[k], NULL), SPC_OK);
		uint64_t seed = 42;
		size_t signals = 0;
		for (size_t i = 0; i < 250; i++) {
			struct spc_observation o = observation(&configs[k], sample(&seed, i));
			struct spc_result a, b;
			assert_int_equal(spc_chart_add(&straight, &o, &a), SPC_OK);

			/* Stop: persist as bytes, "restart", restore, validate, continue. */
			unsigned char stored[sizeof(struct spc_state)];
			memcpy(stored, &resumed, sizeof(stored));
			memset(&resumed, 0xA5, sizeof(resumed));
			memcpy(&resumed, stored, sizeof(stored));
			assert_int_equal(spc_state_validate(&resumed), SPC_OK);
			assert_int_equal(spc_chart_add(&resumed, &o, &b), SPC_OK);

			assert_memory_equal(&a, &b, sizeof(a));
			signals += a.violation_count;
		}
		assert_memory_equal(&straight, &resumed, sizeof(straight));
		/* The drift after observation 120 must be seen by every chart. */
		assert_true(signals > 0);
	}
}

static void test_validate_rejects_foreign_bytes(void **unused)
{
	(void)unused;
	struct spc_state state;
	assert_int_equal(spc_state_init(&state, &configs[0], NULL), SPC_OK);
	assert_int_equal(spc_state_validate(&state), SPC_OK);

	struct spc_state bad = state;
	bad.magic ^= 1;
	assert_int_equal(spc_state_validate(&bad), SPC_ERR_CORRUPT);
	bad = state;
	bad.version++;
	assert_int_equal(spc_state_validate(&bad), SPC_ERR_CORRUPT);
	bad = state;
	bad.history_head = SPC_RULE_HISTORY;
	assert_int_equal(spc_state_validate(&bad), SPC_ERR_CORRUPT);
	bad = state;
	bad.config.kind = (enum spc_chart_kind)77;
	assert_int_equal(spc_state_validate(&bad), SPC_ERR_CORRUPT);
	bad = state;
	bad.phase = SPC_PHASE_MONITORING;
	bad.limits.sigma = NAN;
	assert_int_equal(spc_state_validate(&bad), SPC_ERR_CORRUPT);

	struct spc_state xbar;
	assert_int_equal(spc_state_init(&xbar, &configs[1], NULL), SPC_OK);
	xbar.subgroup_fill = 5; /* a full subgroup is closed at once, never stored */
	assert_int_equal(spc_state_validate(&xbar), SPC_ERR_CORRUPT);

	unsigned char zeros[sizeof(struct spc_state)] = {0};
	memcpy(&bad, zeros, sizeof(bad));
	assert_int_equal(spc_state_validate(&bad), SPC_ERR_CORRUPT);
}

static void test_phase_one_freezes_then_judges(void **unused)
{
	(void)unused;
	/* [MR3] Table 16-3 as phase I of 20 points, then the same values as phase II. */
	static const double concentration[20] = {102.0, 94.8,  98.3,  98.4,  102.0, 98.5,  99.0,
	                                         97.7,  100.0, 98.1,  101.3, 98.7,  101.1, 98.4,
	                                         97.0,  96.7,  100.3, 101.4, 97.2,  101.0};
	struct spc_chart_config config = {
	        .kind = SPC_CHART_IMR,
	        .rules = SPC_RULE_BIT(SPC_RULE_WE1),
	        .limits_source = SPC_LIMITS_BASELINE,
	        .baseline_points = 20,
	};
	struct spc_state state;
	struct spc_result r;
	assert_int_equal(spc_state_init(&state, &config, NULL), SPC_OK);
	for (int i = 0; i < 20; i++) {
		struct spc_observation o = {.value = concentration[i]};
		assert_int_equal(spc_chart_add(&state, &o, &r), SPC_OK);
		assert_false(r.judged);
		assert_true(isnan(r.primary.ucl));
		assert_int_equal(r.point, (uint64_t)i + 1);
	}
	assert_int_equal(state.phase, SPC_PHASE_MONITORING);
	struct spc_point next;
	assert_int_equal(spc_chart_next_limits(&state, 0, &next, NULL), SPC_OK);
	/* [MR3]: UCL = 105.99, LCL = 92.21, computed from rounded x-bar and mr-bar (tolerance
	 * 0.005 + 0.005 + 2.66 * 0.0005, as in test_spc_charts.c). */
	assert_near(next.ucl, 105.99, 0.012);
	assert_near(next.lcl, 92.21, 0.012);

	/* A value far above the UCL in phase II: judged, plotted as point 21, WE1. */
	struct spc_observation high = {.value = 110.0};
	assert_int_equal(spc_chart_add(&state, &high, &r), SPC_OK);
	assert_true(r.judged);
	assert_int_equal(r.point, 21);
	assert_int_equal(r.violation_count, 1);
	assert_int_equal(r.violations[0].rule, SPC_RULE_WE1);
	assert_near(r.secondary.value, 110.0 - 101.0, 1e-9);
}

static void test_state_is_plain_data(void **unused)
{
	(void)unused;
	/* Same config, same observations: identical bytes (padding included). */
	struct spc_state a, b;
	assert_int_equal(spc_state_init(&a, &configs[1], NULL), SPC_OK);
	assert_int_equal(spc_state_init(&b, &configs[1], NULL), SPC_OK);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_true(spc_chart_config_is_equal(&a.config, &configs[1]));
	assert_false(spc_chart_config_is_equal(&a.config, &configs[0]));
	assert_int_equal(a.size, sizeof(struct spc_state));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_restore_gives_same_results),
	        cmocka_unit_test(test_validate_rejects_foreign_bytes),
	        cmocka_unit_test(test_phase_one_freezes_then_judges),
	        cmocka_unit_test(test_state_is_plain_data),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
