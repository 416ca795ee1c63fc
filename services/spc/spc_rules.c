/* spc_rules: Western Electric and Nelson run rules over standardised points.
 *
 * Definitions (sigma is the standard deviation of the plotted statistic, z its distance from
 * the centre line in sigmas; "beyond k sigma" is strictly |z| > k, a point exactly on the centre
 * line belongs to neither side and breaks same-side runs, equal neighbours break trends):
 *   Western Electric Statistical Quality Control Handbook (1956) / Montgomery ISQC Sec. 5.3.6:
 *     WE1 one point beyond the control limits; WE2 2 of 3 consecutive beyond 2 sigma on one side;
 *     WE3 4 of 5 consecutive beyond 1 sigma on one side; WE4 8 consecutive on one side.
 *   Nelson, "The Shewhart control chart - tests for special causes", J. Quality Technology 16(4),
 *   1984: N1 one point beyond 3 sigma; N2 9 in a row on one side; N3 6 in a row steadily
 *   increasing or decreasing; N4 14 in a row alternating up and down; N5 2 of 3 beyond 2 sigma,
 *   same side; N6 4 of 5 beyond 1 sigma, same side; N7 15 in a row within 1 sigma; N8 8 in a row
 *   beyond 1 sigma, either side.
 * For the "k of m" rules the newest point must be one of the k, so a pattern is reported when it
 * appears, and its first point is the oldest qualifying point inside the window. */
#include "spc_rules.h"

#include <math.h>

static void add(struct spc_violation *violations, uint32_t *count, enum spc_rule rule,
                uint64_t first, uint64_t last)
{
	if (*count >= SPC_MAX_VIOLATIONS)
		return;
	violations[*count].rule = rule;
	violations[*count].first_point = first;
	violations[*count].last_point = last;
	(*count)++;
}

static bool selected(uint32_t rules, enum spc_rule rule)
{
	return (rules & SPC_RULE_BIT(rule)) != 0;
}

/* k of the last `window` points beyond `limit` sigma on the newest point's side. Returns the
 * offset back from the newest of the oldest qualifying point, or -1 when the rule does not
 * fire. */
static int k_of_m_beyond(const double *z, unsigned n, unsigned k, unsigned window, double limit)
{
	double newest = z[n - 1];
	if (fabs(newest) <= limit)
		return -1;
	double side = newest > 0 ? 1.0 : -1.0;
	unsigned span = n < window ? n : window;
	unsigned hits = 0;
	int oldest = -1;
	for (unsigned back = 0; back < span; back++) {
		if (z[n - 1 - back] * side > limit) {
			hits++;
			oldest = (int)back;
		}
	}
	return hits >= k ? oldest : -1;
}

/* The last `len` points all on one side of the centre line. */
static bool run_one_side(const double *z, unsigned n, unsigned len)
{
	if (n < len)
		return false;
	bool above = z[n - 1] > 0;
	for (unsigned back = 0; back < len; back++) {
		double v = z[n - 1 - back];
		if (v == 0 || (v > 0) != above)
			return false;
	}
	return true;
}

/* The last `len` points strictly increasing, or strictly decreasing. */
static bool trend(const double *z, unsigned n, unsigned len)
{
	if (n < len)
		return false;
	bool up = true, down = true;
	for (unsigned i = n - len + 1; i < n; i++) {
		up = up && z[i] > z[i - 1];
		down = down && z[i] < z[i - 1];
	}
	return up || down;
}

/* The last `len` points alternate up, down, up... (or down, up, ...). */
static bool alternating(const double *z, unsigned n, unsigned len)
{
	if (n < len)
		return false;
	for (unsigned i = n - len + 1; i < n; i++) {
		double step = z[i] - z[i - 1];
		if (step == 0)
			return false;
		if (i > n - len + 1) {
			double before = z[i - 1] - z[i - 2];
			if ((step > 0) == (before > 0))
				return false;
		}
	}
	return true;
}

/* The last `len` points all within `limit` sigma (inside == true) or all beyond it. */
static bool run_by_distance(const double *z, unsigned n, unsigned len, double limit, bool inside)
{
	if (n < len)
		return false;
	for (unsigned back = 0; back < len; back++) {
		bool is_inside = fabs(z[n - 1 - back]) < limit;
		bool is_beyond = fabs(z[n - 1 - back]) > limit;
		if (inside ? !is_inside : !is_beyond)
			return false;
	}
	return true;
}

static void check_k_of_m(const double *z, unsigned n, uint64_t point, uint32_t rules,
                         enum spc_rule rule, unsigned k, unsigned window, double limit,
                         struct spc_violation *violations, uint32_t *count)
{
	if (!selected(rules, rule))
		return;
	int oldest = k_of_m_beyond(z, n, k, window, limit);
	if (oldest >= 0)
		add(violations, count, rule, point - (uint64_t)oldest, point);
}

static void check_run(bool fired, uint32_t rules, enum spc_rule rule, unsigned len, uint64_t point,
                      struct spc_violation *violations, uint32_t *count)
{
	if (fired && selected(rules, rule))
		add(violations, count, rule, point - (len - 1), point);
}

void spc_rules_check(const double *z, unsigned n, bool beyond_limits, uint32_t rules,
                     uint64_t point, struct spc_violation *violations, uint32_t *count)
{
	if (n == 0)
		return;
	if (beyond_limits && selected(rules, SPC_RULE_WE1))
		add(violations, count, SPC_RULE_WE1, point, point);
	check_k_of_m(z, n, point, rules, SPC_RULE_WE2, 2, 3, 2.0, violations, count);
	check_k_of_m(z, n, point, rules, SPC_RULE_WE3, 4, 5, 1.0, violations, count);
	check_run(run_one_side(z, n, 8), rules, SPC_RULE_WE4, 8, point, violations, count);

	if (beyond_limits && selected(rules, SPC_RULE_NELSON1))
		add(violations, count, SPC_RULE_NELSON1, point, point);
	check_run(run_one_side(z, n, 9), rules, SPC_RULE_NELSON2, 9, point, violations, count);
	check_run(trend(z, n, 6), rules, SPC_RULE_NELSON3, 6, point, violations, count);
	check_run(alternating(z, n, 14), rules, SPC_RULE_NELSON4, 14, point, violations, count);
	check_k_of_m(z, n, point, rules, SPC_RULE_NELSON5, 2, 3, 2.0, violations, count);
	check_k_of_m(z, n, point, rules, SPC_RULE_NELSON6, 4, 5, 1.0, violations, count);
	check_run(run_by_distance(z, n, 15, 1.0, true), rules, SPC_RULE_NELSON7, 15, point,
	          violations, count);
	check_run(run_by_distance(z, n, 8, 1.0, false), rules, SPC_RULE_NELSON8, 8, point,
	          violations, count);
}
