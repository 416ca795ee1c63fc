/* spc_rules: Western Electric and Nelson run rules over standardised points.
 *
 * Definitions (sigma is the standard deviation of the plotted statistic, z its distance from
 * the centre line in sigmas; "beyond k sigma" is strictly |z| > k, "within 1 sigma" strictly
 * |z| < 1, a point exactly on the centre line belongs to neither side and breaks same-side runs,
 * equal neighbours break trends and alternations):
 *   Western Electric Statistical Quality Control Handbook (1956) / Montgomery ISQC 6th ed.
 *   Sec. 5.3.6, Table 5.1 / NIST/SEMATECH e-Handbook 6.3.2:
 *     WE1 one point beyond the control limits; WE2 2 of 3 consecutive beyond 2 sigma on one side;
 *     WE3 4 of 5 consecutive beyond 1 sigma on one side; WE4 8 consecutive on one side.
 *   Nelson, "The Shewhart control chart - tests for special causes", J. Quality Technology 16(4),
 *   1984, 237-239: N1 one point beyond 3 sigma (beyond Zone A); N2 9 in a row on one side; N3 6
 *   in a row steadily increasing or decreasing; N4 14 in a row alternating up and down; N5 2 of 3
 *   in a row beyond 2 sigma (Zone A or beyond), same side; N6 4 of 5 in a row beyond 1 sigma
 *   (Zone B or beyond), same side; N7 15 in a row within 1 sigma (Zone C, above and below the
 *   centre line); N8 8 in a row on both sides of the centre line with none within 1 sigma (none
 *   in Zone C), i.e. all beyond 1 sigma and at least one above and one below.
 * Start of the series: a rule about n points in a row, or k of m consecutive points, needs that
 * many judged points and so cannot fire earlier (a "2 of 3" rule fires at the 3rd point at the
 * earliest). For the "k of m" rules the newest point must be one of the k, so a pattern is
 * reported at the point that completes it; the one exception is the first full window (the
 * m-th point), where k qualifying points that came earlier are reported at once, as they could
 * not be before. The violation's first point is the oldest qualifying point in the window. */
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

/* Qualifying points among the last `window` (n >= window) beyond `limit` sigma on `side`
 * (+1 above, -1 below); *ret_oldest is the offset back from the newest of the oldest of them. */
static unsigned beyond_on_side(const double *z, unsigned n, unsigned window, double limit,
                               double side, int *ret_oldest)
{
	unsigned hits = 0;
	for (unsigned back = 0; back < window; back++) {
		if (z[n - 1 - back] * side > limit) {
			hits++;
			*ret_oldest = (int)back;
		}
	}
	return hits;
}

/* k of the last `window` points beyond `limit` sigma on one side. The newest point must be one
 * of them, except at the first full window (n == window), where either side may hold the k.
 * Returns the offset back from the newest of the oldest qualifying point, or -1 when the rule
 * does not fire. */
static int k_of_m_beyond(const double *z, unsigned n, unsigned k, unsigned window, double limit)
{
	int oldest = -1;
	if (n < window)
		return -1;
	if (fabs(z[n - 1]) > limit) {
		double side = z[n - 1] > 0 ? 1.0 : -1.0;
		if (beyond_on_side(z, n, window, limit, side, &oldest) >= k)
			return oldest;
	}
	if (n != window)
		return -1;
	for (int i = 0; i < 2; i++) {
		oldest = -1;
		if (beyond_on_side(z, n, window, limit, i == 0 ? 1.0 : -1.0, &oldest) >= k)
			return oldest;
	}
	return -1;
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

/* The last `len` points all within `limit` sigma. */
static bool run_within(const double *z, unsigned n, unsigned len, double limit)
{
	if (n < len)
		return false;
	for (unsigned back = 0; back < len; back++)
		if (!(fabs(z[n - 1 - back]) < limit))
			return false;
	return true;
}

/* The last `len` points all beyond `limit` sigma, at least one above and one below. */
static bool run_beyond_both_sides(const double *z, unsigned n, unsigned len, double limit)
{
	bool above = false, below = false;
	if (n < len)
		return false;
	for (unsigned back = 0; back < len; back++) {
		double v = z[n - 1 - back];
		if (!(fabs(v) > limit))
			return false;
		above = above || v > 0;
		below = below || v < 0;
	}
	return above && below;
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
	check_run(run_within(z, n, 15, 1.0), rules, SPC_RULE_NELSON7, 15, point, violations, count);
	check_run(run_beyond_both_sides(z, n, 8, 1.0), rules, SPC_RULE_NELSON8, 8, point,
	          violations, count);
}
