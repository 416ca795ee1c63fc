/* gate_plan: the reaction-plan state machine of one chart instance, as a pure function.
 *
 * A chart that keeps signalling takes the steps of its plan (reaction_plan_step) one by one:
 * a step is taken once its cooldown has passed since the previous action and the chart has
 * signalled min_signals times since then without a break. Signals belong to one persisting
 * pattern when each comes at most GATE_PLAN_PERSIST_POINTS points after the previous one; a
 * later signal starts the count again, so chance patterns on a healthy process (every run
 * rule has false alarms, and a chart on every unit sees thousands of points a shift) never add
 * up to slowing or stopping a line. Steps escalate while the pattern goes on, the last step
 * repeats, and a chart quiet for ten cooldowns (at least GATE_PLAN_MIN_QUIET_S) starts its plan
 * over at step 1.
 *
 * No MQTT, no database, no logging, no clock: the caller passes the time and acts on the
 * decision (gate_out.c sends the step's command). The state is kept in the chart's blob and
 * saved with it; gate_plan_state_get/_set copy it out and back. */
#ifndef GATE_PLAN_H
#define GATE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gate_charts.h"

/* Signals at most this many points apart belong to one persisting pattern (a rule that keeps
 * firing on every point, or 2-of-3 / 4-of-5 rules with a point between). */
#define GATE_PLAN_PERSIST_POINTS 3u
/* A plan starts over after ten cooldowns without a signal, but never after less than this. */
#define GATE_PLAN_MIN_QUIET_S 60

/* What the plan remembers of one chart instance. */
struct gate_plan_state {
	uint32_t plan_step;         /* the step the next action takes (1-based) */
	uint32_t last_signal_point; /* point of the last signal, modulo 2^32 (0: none yet) */
	uint64_t signals; /* signals of the chart so far, the one being decided included */
	uint64_t signals_at_action; /* `signals` when the plan last acted or its count restarted */
	int64_t last_signal_us;     /* time of the previous signal (0: none) */
	int64_t last_action_us;     /* time of the last action (0: none) */
};

/* What to do about one signal. */
struct gate_plan_decision {
	/* The step the signal falls under (its severity goes on the alert); NULL when the
	 * chart has no plan. */
	const struct gate_plan_step *step;
	bool act; /* take step's action now */
};

/* The step for plan_step among a plan's steps (sorted by step number): the first whose number
 * is at least plan_step, else the last (the last step repeats); NULL when n_steps is 0. */
const struct gate_plan_step *gate_plan_step_at(const struct gate_plan_step *steps, size_t n_steps,
                                               uint32_t plan_step);

/* Decides one signal of a chart: steps (n_steps, sorted by step number; 0 for a chart without
 * a plan) is its plan, *state its plan state with `signals` already counting this signal,
 * point the number of the point the signal fired at, now_us the time. Updates *state to what
 * it is after the signal (also when nothing is done) and fills *ret. Cannot fail. */
void gate_plan_decide(const struct gate_plan_step *steps, size_t n_steps,
                      struct gate_plan_state *state, uint64_t point, int64_t now_us,
                      struct gate_plan_decision *ret);

/* Copies the plan state out of a chart's blob, and back in. */
void gate_plan_state_get(const struct gate_chart_blob *blob, struct gate_plan_state *ret);
void gate_plan_state_set(struct gate_chart_blob *blob, const struct gate_plan_state *state);

#endif
