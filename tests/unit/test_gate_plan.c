/* Unit tests for spc-gate's reaction-plan state machine (gate_plan): which step a chart's
 * signal falls under and whether it acts, over sequences of signals, as
 * services/spc-gate/README.md ("Reaction plans") documents it: a step is taken once its
 * cooldown has passed since the previous action and the chart has signalled min_signals times
 * without a break (each signal at most 3 points after the previous one), steps escalate and the
 * last repeats, and ten quiet cooldowns (at least a minute) start the plan over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gate_charts.h"
#include "gate_plan.h"

#define T0_S     1700000000LL /* an arbitrary start, far from 0 (0 means "never") */
#define MAX_STEP 4
#define MAX_SEQ  12

/* One signal and what must come of it. */
struct signal {
	uint64_t point;
	int64_t at_s; /* seconds after T0_S */
	bool act;
	int step; /* number of the step it falls under; 0: none (no plan) */
};

struct plan_case {
	const char *name;
	struct {
		int cooldown_s;
		int min_signals;
	} steps[MAX_STEP]; /* numbered 1.. */
	size_t n_steps;
	struct signal seq[MAX_SEQ];
	size_t n_seq;
	uint32_t plan_step_after; /* the state's plan_step after the sequence */
};

static const struct plan_case cases[] = {
        {"no plan: nothing is done, but the signals are followed", .n_steps = 0,
         .seq = {{10, 0, false, 0}, {11, 1, false, 0}}, .n_seq = 2, .plan_step_after = 1},
        {"the first action waits for no cooldown", .steps = {{3600, 1}}, .n_steps = 1,
         .seq = {{10, 0, true, 1}, {11, 1, false, 1}, {12, 3600, true, 1}}, .n_seq = 3,
         .plan_step_after = 3},
        {"no cooldown, one signal a step: every signal acts, the last step repeats",
         .steps = {{0, 1}, {0, 1}}, .n_steps = 2,
         .seq = {{10, 0, true, 1}, {11, 1, true, 2}, {12, 2, true, 2}, {13, 3, true, 2}},
         .n_seq = 4, .plan_step_after = 5},
        {"min_signals: a persisting pattern acts at its third signal, and again at the sixth",
         .steps = {{0, 3}}, .n_steps = 1,
         .seq = {{10, 0, false, 1},
                 {11, 1, false, 1},
                 {12, 2, true, 1},
                 {13, 3, false, 1},
                 {14, 4, false, 1},
                 {15, 5, true, 1}},
         .n_seq = 6, .plan_step_after = 3},
        {"a signal more than 3 points after the previous one starts the count again",
         .steps = {{0, 3}}, .n_steps = 1,
         .seq = {{10, 0, false, 1},
                 {13, 1, false, 1}, /* 3 apart: the same pattern */
                 {17, 2, false, 1}, /* 4 apart: count 1 */
                 {18, 3, false, 1},
                 {21, 4, true, 1}},
         .n_seq = 5, .plan_step_after = 2},
        {"stray signals far apart never add up to an action", .steps = {{0, 2}}, .n_steps = 1,
         .seq = {{100, 0, false, 1},
                 {200, 1, false, 1},
                 {300, 2, false, 1},
                 {400, 3, false, 1},
                 {404, 4, false, 1}},
         .n_seq = 5, .plan_step_after = 1},
        {"the cooldown holds the next step back; steps escalate after it",
         .steps = {{60, 1}, {60, 1}, {60, 1}}, .n_steps = 3,
         .seq = {{10, 0, true, 1},
                 {11, 30, false, 2},
                 {12, 59, false, 2},
                 {13, 60, true, 2},
                 {14, 120, true, 3},
                 {15, 180, true, 3}},
         .n_seq = 6, .plan_step_after = 5},
        {"signals held back by the cooldown still count towards min_signals",
         .steps = {{60, 1}, {60, 3}}, .n_steps = 2,
         .seq = {{10, 0, true, 1},
                 {11, 10, false, 2},
                 {12, 20, false, 2},
                 {13, 30, false, 2},
                 {14, 60, true, 2}},
         .n_seq = 5, .plan_step_after = 3},
        {"ten quiet cooldowns start the plan over (strictly more than ten)",
         .steps = {{10, 1}, {10, 1}}, .n_steps = 2,
         .seq = {{10, 0, true, 1},
                 {11, 50, true, 2},
                 {12, 150, true, 2},  /* 100 s quiet: not more than 10 x 10 s */
                 {13, 251, true, 1}}, /* 101 s: step 1 again */
         .n_seq = 4, .plan_step_after = 2},
        {"short cooldowns: a quiet minute starts the plan over", .steps = {{1, 1}, {1, 1}},
         .n_steps = 2, .seq = {{10, 0, true, 1}, {11, 60, true, 2}, {12, 121, true, 1}}, .n_seq = 3,
         .plan_step_after = 2},
        {"a start over also starts the count of signals over", .steps = {{0, 2}, {0, 2}},
         .n_steps = 2,
         .seq = {{10, 0, false, 1},
                 {11, 1, true, 1},
                 {12, 2, false, 2},
                 {13, 100, false, 1}, /* 98 s quiet: step 1, this signal the first */
                 {14, 101, true, 1}},
         .n_seq = 5, .plan_step_after = 2},
        {"point numbers are compared modulo 2^32", .steps = {{0, 2}}, .n_steps = 1,
         .seq = {{UINT32_MAX - 1, 0, false, 1},
                 {(uint64_t)UINT32_MAX + 1, 1, true, 1}, /* point 0 mod 2^32: 2 apart */
                 {(uint64_t)UINT32_MAX + 2, 2, false, 1},
                 {(uint64_t)UINT32_MAX + 3, 3, true, 1}},
         .n_seq = 4, .plan_step_after = 3},
};

static void build_steps(const struct plan_case *c, struct gate_plan_step *steps)
{
	memset(steps, 0, MAX_STEP * sizeof(*steps));
	for (size_t i = 0; i < c->n_steps; i++) {
		snprintf(steps[i].plan_id, sizeof(steps[i].plan_id), "plan");
		steps[i].step = (int)i + 1;
		steps[i].action = GATE_ACTION_SLOW;
		steps[i].cooldown_s = c->steps[i].cooldown_s;
		steps[i].min_signals = c->steps[i].min_signals;
	}
}

static void test_sequences(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct plan_case *c = &cases[i];
		struct gate_plan_step steps[MAX_STEP];
		struct gate_plan_state st = {.plan_step = 1}; /* as a new chart instance */

		build_steps(c, steps);
		for (size_t k = 0; k < c->n_seq; k++) {
			const struct signal *s = &c->seq[k];
			struct gate_plan_decision d;
			int step;

			st.signals++; /* gate_charts counts every signal before deciding it */
			gate_plan_decide(steps, c->n_steps, &st, s->point,
			                 (T0_S + s->at_s) * 1000000LL, &d);
			step = d.step != NULL ? d.step->step : 0;
			if (d.act != s->act || step != s->step)
				fail_msg("case '%s', signal %zu: act %d step %d, expected act %d "
				         "step %d",
				         c->name, k + 1, d.act, step, s->act, s->step);
			assert_true(d.step == NULL ||
			            (d.step >= steps && d.step < steps + c->n_steps));
			assert_true(d.step != NULL || !d.act);
			assert_int_equal(st.last_signal_us, (T0_S + s->at_s) * 1000000LL);
			assert_int_not_equal(st.last_signal_point, 0);
		}
		if (st.plan_step != c->plan_step_after)
			fail_msg("case '%s': plan_step %u, expected %u", c->name, st.plan_step,
			         c->plan_step_after);
	}
}

static void test_action_updates_state(void **unused)
{
	struct gate_plan_step steps[MAX_STEP];
	const struct plan_case one = {.steps = {{30, 1}, {30, 1}}, .n_steps = 2};
	struct gate_plan_state st = {.plan_step = 1, .signals = 7, .signals_at_action = 2};
	struct gate_plan_decision d;

	(void)unused;
	build_steps(&one, steps);
	gate_plan_decide(steps, 2, &st, 50, 5000000, &d);
	assert_true(d.act);
	assert_ptr_equal(d.step, &steps[0]);
	assert_int_equal(st.plan_step, 2);
	assert_int_equal(st.last_action_us, 5000000);
	assert_int_equal(st.signals_at_action, 7);
	assert_int_equal(st.last_signal_point, 50);
	assert_int_equal(st.last_signal_us, 5000000);

	/* Without an action only the signal is remembered. */
	st.signals++;
	gate_plan_decide(steps, 2, &st, 51, 6000000, &d);
	assert_false(d.act);
	assert_ptr_equal(d.step, &steps[1]);
	assert_int_equal(st.plan_step, 2);
	assert_int_equal(st.last_action_us, 5000000);
	assert_int_equal(st.signals_at_action, 7);
	assert_int_equal(st.last_signal_point, 51);
	assert_int_equal(st.last_signal_us, 6000000);
}

static void test_step_at(void **unused)
{
	struct gate_plan_step steps[3] = {{.step = 1}, {.step = 2}, {.step = 5}};

	(void)unused;
	assert_null(gate_plan_step_at(steps, 0, 1));
	assert_ptr_equal(gate_plan_step_at(steps, 3, 0), &steps[0]);
	assert_ptr_equal(gate_plan_step_at(steps, 3, 1), &steps[0]);
	assert_ptr_equal(gate_plan_step_at(steps, 3, 2), &steps[1]);
	/* A gap in the numbering takes the next step, past the end the last one. */
	assert_ptr_equal(gate_plan_step_at(steps, 3, 3), &steps[2]);
	assert_ptr_equal(gate_plan_step_at(steps, 3, 5), &steps[2]);
	assert_ptr_equal(gate_plan_step_at(steps, 3, 9), &steps[2]);
}

static void test_state_in_blob(void **unused)
{
	struct gate_chart_blob blob;
	struct gate_plan_state in = {3, 77, 12, 9, 123456789, 987654321}, out;

	(void)unused;
	memset(&blob, 0, sizeof(blob));
	gate_plan_state_set(&blob, &in);
	assert_int_equal(blob.plan_step, 3);
	assert_int_equal(blob.last_signal_point, 77);
	assert_int_equal(blob.signals, 12);
	assert_int_equal(blob.signals_at_action, 9);
	assert_int_equal(blob.last_signal_us, 123456789);
	assert_int_equal(blob.last_action_us, 987654321);
	gate_plan_state_get(&blob, &out);
	assert_memory_equal(&in, &out, sizeof(in));
}

/* gate_charts hands a chart its own plan's steps, sorted, whatever order they were loaded in. */
static void test_charts_plan(void **unused)
{
	struct gate_charts charts;
	struct gate_chart_def *defs = calloc(3, sizeof(*defs));
	struct gate_plan_step *steps = calloc(5, sizeof(*steps));
	struct gate_chart chart = {0};
	const struct gate_plan_step *plan;
	static const struct {
		const char *plan;
		int step;
	} rows[] = {{"b", 2}, {"a", 1}, {"b", 1}, {"c", 1}, {"b", 3}};
	size_t n = 99;

	(void)unused;
	assert_non_null(defs);
	assert_non_null(steps);
	for (size_t i = 0; i < 5; i++) {
		snprintf(steps[i].plan_id, sizeof(steps[i].plan_id), "%s", rows[i].plan);
		steps[i].step = rows[i].step;
	}
	snprintf(defs[0].chart_id, sizeof(defs[0].chart_id), "with-b");
	snprintf(defs[0].plan_id, sizeof(defs[0].plan_id), "b");
	snprintf(defs[1].chart_id, sizeof(defs[1].chart_id), "alert-only");
	snprintf(defs[2].chart_id, sizeof(defs[2].chart_id), "missing-plan");
	snprintf(defs[2].plan_id, sizeof(defs[2].plan_id), "x");
	gate_charts_init(&charts);
	gate_charts_set_config(&charts, defs, 3, steps, 5);

	chart.def = 0;
	plan = gate_charts_plan(&charts, &chart, &n);
	assert_int_equal(n, 3);
	assert_non_null(plan);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(plan[i].plan_id, "b");
		assert_int_equal(plan[i].step, (int)i + 1);
	}
	chart.def = 1;
	assert_null(gate_charts_plan(&charts, &chart, &n));
	assert_int_equal(n, 0);
	chart.def = 2;
	n = 99;
	assert_null(gate_charts_plan(&charts, &chart, &n));
	assert_int_equal(n, 0);
	gate_charts_cleanup(&charts);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_sequences),   cmocka_unit_test(test_action_updates_state),
	        cmocka_unit_test(test_step_at),     cmocka_unit_test(test_state_in_blob),
	        cmocka_unit_test(test_charts_plan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
