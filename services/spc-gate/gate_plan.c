/* gate_plan: the reaction-plan state machine (see gate_plan.h). */
#include "gate_plan.h"

const struct gate_plan_step *gate_plan_step_at(const struct gate_plan_step *steps, size_t n_steps,
                                               uint32_t plan_step)
{
	for (size_t i = 0; i < n_steps; i++)
		if ((uint32_t)steps[i].step >= plan_step)
			return &steps[i];
	return n_steps > 0 ? &steps[n_steps - 1] : NULL;
}

/* Microseconds without a signal after which a plan with this step starts over. */
static int64_t quiet_us(const struct gate_plan_step *step)
{
	return 1000000LL * (step->cooldown_s > GATE_PLAN_MIN_QUIET_S / 10 ? 10LL * step->cooldown_s
	                                                                  : GATE_PLAN_MIN_QUIET_S);
}

void gate_plan_decide(const struct gate_plan_step *steps, size_t n_steps,
                      struct gate_plan_state *state, uint64_t point, int64_t now_us,
                      struct gate_plan_decision *ret)
{
	/* Points are kept modulo 2^32: the distance stays right across a wrap. */
	uint32_t at = (uint32_t)point;
	const struct gate_plan_step *step;

	if (state->last_signal_point == 0 ||
	    (uint32_t)(at - state->last_signal_point) > GATE_PLAN_PERSIST_POINTS)
		state->signals_at_action = state->signals - 1; /* this signal is the first */
	state->last_signal_point = at != 0 ? at : 1;           /* 0 means "none yet" */
	step = gate_plan_step_at(steps, n_steps, state->plan_step);
	if (step != NULL && state->last_signal_us > 0 &&
	    now_us - state->last_signal_us > quiet_us(step)) {
		state->plan_step = 1;
		state->signals_at_action = state->signals - 1;
		step = gate_plan_step_at(steps, n_steps, state->plan_step);
	}
	state->last_signal_us = now_us;
	ret->step = step;
	ret->act = step != NULL &&
	           (state->last_action_us == 0 ||
	            now_us - state->last_action_us >= step->cooldown_s * 1000000LL) &&
	           state->signals - state->signals_at_action >= (uint64_t)step->min_signals;
	if (ret->act) {
		state->last_action_us = now_us;
		state->signals_at_action = state->signals;
		state->plan_step++;
	}
}

void gate_plan_state_get(const struct gate_chart_blob *blob, struct gate_plan_state *ret)
{
	ret->plan_step = blob->plan_step;
	ret->last_signal_point = blob->last_signal_point;
	ret->signals = blob->signals;
	ret->signals_at_action = blob->signals_at_action;
	ret->last_signal_us = blob->last_signal_us;
	ret->last_action_us = blob->last_action_us;
}

void gate_plan_state_set(struct gate_chart_blob *blob, const struct gate_plan_state *state)
{
	blob->plan_step = state->plan_step;
	blob->last_signal_point = state->last_signal_point;
	blob->signals = state->signals;
	blob->signals_at_action = state->signals_at_action;
	blob->last_signal_us = state->last_signal_us;
	blob->last_action_us = state->last_action_us;
}
