/* spc_chart: the streaming chart engine: one observation in, one result out.
 *
 * Everything a chart knows lives in struct spc_state (see spc.h), so this file keeps no static
 * data and allocates nothing. A chart has two phases. In phase I (SPC_LIMITS_BASELINE) points
 * are plotted but not judged while sums for the estimators are collected; after the chosen
 * number of points the centre and sigma are computed once and frozen. In monitoring every
 * point gets limits from the frozen centre and sigma (or the explicit limits), is standardised
 * for the run rules, and enters the run-rule history.
 *
 * Estimators (Montgomery, ISQC; NIST/SEMATECH e-Handbook 6.3.2): I-MR sigma = MR-bar / d2(2);
 * X-bar/R sigma = R-bar / d2(n); X-bar/S sigma = S-bar / c4(n); p-bar and u-bar are pooled
 * (sum of counts / sum of sizes), c-bar is the mean count. EWMA and CUSUM estimate like I-MR
 * (n = 1) or X-bar/R (n > 1). The constants are those of the chart's set (spc_constants_get_set;
 * services/spc/README.md, "Constants"). */
#include "spc.h"
#include "spc_rules.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* spc_chart_config.constants lives in what was padding after ewma_steady_state: states saved
 * before it existed keep their layout (and read 0 there, the exact set). */
_Static_assert(offsetof(struct spc_chart_config, constants) ==
                       offsetof(struct spc_chart_config, ewma_steady_state) + 1,
               "constants must sit in the padding after ewma_steady_state");
_Static_assert(offsetof(struct spc_chart_config, centre) == 24,
               "struct spc_chart_config changed its layout: bump SPC_STATE_VERSION");

/* Standardised distances are clamped so a zero sigma (a constant baseline) gives huge but
 * finite values; the state then stays finite and restorable. */
#define Z_CLAMP 1e6

const char *spc_strerror(int err)
{
	switch (err) {
	case SPC_OK:
		return "success";
	case SPC_ERR_INVALID:
		return "invalid argument";
	case SPC_ERR_CORRUPT:
		return "stored data failed its integrity check";
	default:
		return "unknown error";
	}
}

static bool is_attribute(enum spc_chart_kind kind)
{
	return spc_chart_kind_is_attribute(kind);
}

static bool has_secondary_chart(enum spc_chart_kind kind)
{
	return kind == SPC_CHART_IMR || kind == SPC_CHART_XBAR_R || kind == SPC_CHART_XBAR_S;
}

static bool is_time_weighted(enum spc_chart_kind kind)
{
	return kind == SPC_CHART_EWMA || kind == SPC_CHART_CUSUM;
}

/* Observations per plotted point. */
static uint32_t points_size(const struct spc_chart_config *config)
{
	if (config->kind == SPC_CHART_XBAR_R || config->kind == SPC_CHART_XBAR_S ||
	    is_time_weighted(config->kind))
		return config->subgroup_size;
	return 1;
}

#define SELECTABLE_RULES (SPC_RULES_WESTERN_ELECTRIC | SPC_RULES_NELSON)

static int problem(const char **ret_problem, const char *text)
{
	if (ret_problem)
		*ret_problem = text;
	return SPC_ERR_INVALID;
}

int spc_chart_config_check(const struct spc_chart_config *config, const char **ret_problem)
{
	const struct spc_chart_config *c = config;

	if (c->kind < SPC_CHART_IMR || c->kind > SPC_CHART_CUSUM)
		return problem(ret_problem, "kind: not a chart kind");

	if (c->kind == SPC_CHART_XBAR_R || c->kind == SPC_CHART_XBAR_S) {
		if (c->subgroup_size < 2 || c->subgroup_size > SPC_SUBGROUP_MAX)
			return problem(ret_problem,
			               "subgroup_size: must be 2..25 for X-bar charts");
	} else if (is_time_weighted(c->kind)) {
		if (c->subgroup_size < 1 || c->subgroup_size > SPC_SUBGROUP_MAX)
			return problem(ret_problem, "subgroup_size: must be 1..25 for EWMA/CUSUM");
	} else if (c->subgroup_size > 1) {
		return problem(ret_problem, "subgroup_size: must be 0 or 1 for this chart kind");
	}

	if (is_time_weighted(c->kind)) {
		if (c->rules != 0)
			return problem(ret_problem,
			               "rules: EWMA and CUSUM take no run rules (their signal is "
			               "always on)");
	} else {
		uint32_t allowed = SELECTABLE_RULES;
		if (has_secondary_chart(c->kind))
			allowed |= SPC_RULE_BIT(SPC_RULE_SECONDARY_LIMIT);
		if (c->rules & ~allowed)
			return problem(ret_problem, "rules: unknown rule bit for this chart kind");
	}

	switch (c->limits_source) {
	case SPC_LIMITS_BASELINE:
		if (c->baseline_points < 2)
			return problem(ret_problem, "baseline_points: need at least 2 points");
		break;
	case SPC_LIMITS_FIXED_SIGMA:
		if (!isfinite(c->centre))
			return problem(ret_problem, "centre: must be a finite number");
		if (c->kind == SPC_CHART_P || c->kind == SPC_CHART_NP) {
			if (!(c->centre > 0 && c->centre < 1))
				return problem(ret_problem, "centre: fraction p must be in (0, 1)");
		} else if (c->kind == SPC_CHART_C || c->kind == SPC_CHART_U) {
			if (!(c->centre > 0))
				return problem(ret_problem, "centre: defect rate must be > 0");
		}
		if (is_attribute(c->kind)) {
			if (c->sigma != 0)
				return problem(ret_problem,
				               "sigma: must be 0 for attribute charts (it follows "
				               "from the centre)");
		} else if (!(isfinite(c->sigma) && c->sigma > 0)) {
			return problem(ret_problem, "sigma: must be a finite number > 0");
		}
		break;
	case SPC_LIMITS_FIXED_EXPLICIT:
		if (is_time_weighted(c->kind))
			return problem(ret_problem,
			               "limits_source: EWMA and CUSUM need centre and sigma, not "
			               "explicit limits");
		if (!(isfinite(c->lcl) && isfinite(c->cl) && isfinite(c->ucl) && c->lcl < c->cl &&
		      c->cl < c->ucl))
			return problem(ret_problem, "lcl, cl, ucl: need finite lcl < cl < ucl");
		break;
	default:
		return problem(ret_problem, "limits_source: not a limits source");
	}

	if (c->constants != SPC_CONSTANTS_EXACT && c->constants != SPC_CONSTANTS_TABLE)
		return problem(ret_problem, "constants: not a constants set (exact or table)");

	if (c->kind == SPC_CHART_EWMA) {
		if (!(c->ewma_lambda > 0 && c->ewma_lambda <= 1))
			return problem(ret_problem, "ewma_lambda: must be in (0, 1]");
		if (!(isfinite(c->ewma_width) && c->ewma_width > 0))
			return problem(ret_problem, "ewma_width: L must be a finite number > 0");
	}
	if (c->kind == SPC_CHART_CUSUM) {
		if (!(isfinite(c->cusum_k) && c->cusum_k >= 0))
			return problem(ret_problem, "cusum_k: must be a finite number >= 0");
		if (!(isfinite(c->cusum_h) && c->cusum_h > 0))
			return problem(ret_problem, "cusum_h: must be a finite number > 0");
	}
	return SPC_OK;
}

bool spc_chart_config_is_equal(const struct spc_chart_config *a, const struct spc_chart_config *b)
{
	return a->kind == b->kind && a->subgroup_size == b->subgroup_size && a->rules == b->rules &&
	       a->limits_source == b->limits_source && a->baseline_points == b->baseline_points &&
	       a->ewma_steady_state == b->ewma_steady_state && a->centre == b->centre &&
	       a->sigma == b->sigma && a->lcl == b->lcl && a->cl == b->cl && a->ucl == b->ucl &&
	       a->ewma_lambda == b->ewma_lambda && a->ewma_width == b->ewma_width &&
	       a->cusum_k == b->cusum_k && a->cusum_h == b->cusum_h && a->constants == b->constants;
}

int spc_state_init(struct spc_state *ret_state, const struct spc_chart_config *config,
                   const char **ret_problem)
{
	int rc = spc_chart_config_check(config, ret_problem);
	if (rc != SPC_OK)
		return rc;

	/* memset first so padding bytes are defined: equal histories give equal bytes. */
	memset(ret_state, 0, sizeof(*ret_state));
	ret_state->magic = SPC_STATE_MAGIC;
	ret_state->version = SPC_STATE_VERSION;
	ret_state->size = (uint32_t)sizeof(*ret_state);
	ret_state->config = *config;
	ret_state->limits.lcl = NAN;
	ret_state->limits.cl = NAN;
	ret_state->limits.ucl = NAN;

	switch (config->limits_source) {
	case SPC_LIMITS_BASELINE:
		ret_state->phase = SPC_PHASE_BASELINE;
		break;
	case SPC_LIMITS_FIXED_SIGMA:
		ret_state->phase = SPC_PHASE_MONITORING;
		ret_state->limits.centre = config->centre;
		ret_state->limits.sigma = config->sigma;
		break;
	case SPC_LIMITS_FIXED_EXPLICIT:
		ret_state->phase = SPC_PHASE_MONITORING;
		ret_state->limits.centre = config->cl;
		ret_state->limits.lcl = config->lcl;
		ret_state->limits.cl = config->cl;
		ret_state->limits.ucl = config->ucl;
		break;
	}
	ret_state->ewma = ret_state->limits.centre;
	return SPC_OK;
}

static bool all_finite(const double *values, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (!isfinite(values[i]))
			return false;
	return true;
}

int spc_state_validate(const struct spc_state *state)
{
	const struct spc_state *s = state;

	if (s->magic != SPC_STATE_MAGIC || s->version != SPC_STATE_VERSION || s->size != sizeof(*s))
		return SPC_ERR_CORRUPT;
	/* A bool holding anything but 0 or 1 is undefined behaviour to read: look at its byte. */
	unsigned char steady;
	memcpy(&steady, &s->config.ewma_steady_state, 1);
	if (steady > 1)
		return SPC_ERR_CORRUPT;
	if (spc_chart_config_check(&s->config, NULL) != SPC_OK)
		return SPC_ERR_CORRUPT;

	const struct spc_chart_config *c = &s->config;
	if (s->phase == SPC_PHASE_BASELINE) {
		if (c->limits_source != SPC_LIMITS_BASELINE ||
		    s->baseline.points >= c->baseline_points)
			return SPC_ERR_CORRUPT;
	} else if (s->phase != SPC_PHASE_MONITORING) {
		return SPC_ERR_CORRUPT;
	}
	if (s->points < s->baseline.points || s->observations < s->points)
		return SPC_ERR_CORRUPT;
	if (s->subgroup_fill >= points_size(c) && points_size(c) > 1)
		return SPC_ERR_CORRUPT;
	if (points_size(c) == 1 && s->subgroup_fill != 0)
		return SPC_ERR_CORRUPT;
	if (s->has_previous > 1 || s->history_count > SPC_RULE_HISTORY ||
	    s->history_head >= SPC_RULE_HISTORY)
		return SPC_ERR_CORRUPT;
	if (!all_finite(s->subgroup_values, s->subgroup_fill) || !isfinite(s->previous_value))
		return SPC_ERR_CORRUPT;
	double sums[] = {s->baseline.sum_statistic, s->baseline.sum_spread, s->baseline.sum_count,
	                 s->baseline.sum_size};
	double dynamics[] = {s->ewma, s->cusum_upper, s->cusum_lower};
	if (!all_finite(sums, 4) || !all_finite(dynamics, 3))
		return SPC_ERR_CORRUPT;
	if (s->phase == SPC_PHASE_MONITORING) {
		double frozen[] = {s->limits.centre, s->limits.sigma};
		if (!all_finite(frozen, 2) || s->limits.sigma < 0)
			return SPC_ERR_CORRUPT;
	}
	/* The ring holds history_count entries ending just before history_head. */
	for (uint32_t i = 0; i < s->history_count; i++) {
		uint32_t at = (s->history_head + SPC_RULE_HISTORY - 1 - i) % SPC_RULE_HISTORY;
		if (!isfinite(s->history_z[at]))
			return SPC_ERR_CORRUPT;
	}
	return SPC_OK;
}

static int check_observation(const struct spc_chart_config *c, const struct spc_observation *o)
{
	switch (c->kind) {
	case SPC_CHART_P:
	case SPC_CHART_NP:
		if (!(isfinite(o->count) && isfinite(o->size) && o->count >= 0 && o->size >= 1 &&
		      o->count <= o->size))
			return SPC_ERR_INVALID;
		return SPC_OK;
	case SPC_CHART_C:
		return isfinite(o->count) && o->count >= 0 ? SPC_OK : SPC_ERR_INVALID;
	case SPC_CHART_U:
		if (!(isfinite(o->count) && isfinite(o->size) && o->count >= 0 && o->size > 0))
			return SPC_ERR_INVALID;
		return SPC_OK;
	default:
		return isfinite(o->value) ? SPC_OK : SPC_ERR_INVALID;
	}
}

/* What one completed point is made of, before any limits. */
struct raw_point {
	double statistic; /* individual, mean, p, np, c or u */
	double spread;    /* moving range, range or standard deviation; NAN if none */
	double size;      /* attribute size (p, np, u), else 1 */
	double count;     /* attribute count */
};

static double mean_of(const double *v, uint32_t n)
{
	double sum = 0;
	for (uint32_t i = 0; i < n; i++)
		sum += v[i];
	return sum / n;
}

static struct raw_point close_subgroup(const struct spc_state *s)
{
	struct raw_point raw = {.size = 1, .count = 0};
	uint32_t n = s->subgroup_fill;
	double mean = mean_of(s->subgroup_values, n);
	double low = s->subgroup_values[0], high = s->subgroup_values[0], squares = 0;
	/* Two passes (mean first) so the standard deviation does not lose digits to the mean. */
	for (uint32_t i = 0; i < n; i++) {
		double d = s->subgroup_values[i] - mean;
		squares += d * d;
		low = fmin(low, s->subgroup_values[i]);
		high = fmax(high, s->subgroup_values[i]);
	}
	raw.statistic = mean;
	raw.spread = s->config.kind == SPC_CHART_XBAR_S ? sqrt(squares / (n - 1)) : high - low;
	return raw;
}

/* Limits of the primary and secondary chart for a point of the given attribute size, and the
 * sigma of the primary statistic (for standardising). `ewma_index` is the EWMA point number
 * (1 for the first EWMA point) for time-varying limits. */
struct point_limits {
	struct spc_point primary;
	struct spc_point secondary;
	double sigma_up;   /* sigma of the statistic above the centre line */
	double sigma_down; /* ... and below it (differs only for explicit asymmetric limits) */
};

/* The chart's constants for n = 2..25 (the config check keeps n and the set in range). */
static struct spc_constants constants_for(const struct spc_chart_config *c, unsigned n)
{
	struct spc_constants k;
	(void)spc_constants_get_set(n, (enum spc_constants_set)c->constants, &k);
	return k;
}

/* The table set computes limits the way the printed table is used: the printed factor times
 * the phase I statistic, R-bar = d2 sigma (MR-bar for I-MR) or S-bar = c4 sigma, rather than
 * from sigma; a rounded factor such as A2(5) = 0.577 is then what a book multiplies by. */
static void spread_limits(const struct spc_state *s, struct spc_point *secondary)
{
	unsigned n = s->config.kind == SPC_CHART_IMR ? 2 : s->config.subgroup_size;
	struct spc_constants k = constants_for(&s->config, n);
	double sigma = s->limits.sigma;

	if (s->config.constants == SPC_CONSTANTS_TABLE) {
		double bar = (s->config.kind == SPC_CHART_XBAR_S ? k.c4 : k.d2) * sigma;
		double lower = s->config.kind == SPC_CHART_XBAR_S ? k.b3 : k.d3_factor;
		double upper = s->config.kind == SPC_CHART_XBAR_S ? k.b4 : k.d4_factor;
		secondary->cl = bar;
		secondary->ucl = upper * bar;
		secondary->lcl = lower * bar;
		return;
	}
	if (s->config.kind == SPC_CHART_XBAR_S) {
		double width = 3.0 * sqrt(1.0 - k.c4 * k.c4);
		secondary->cl = k.c4 * sigma;
		secondary->ucl = (k.c4 + width) * sigma;
		secondary->lcl = fmax(0.0, (k.c4 - width) * sigma);
	} else {
		secondary->cl = k.d2 * sigma;
		secondary->ucl = (k.d2 + 3.0 * k.d3) * sigma;
		secondary->lcl = fmax(0.0, (k.d2 - 3.0 * k.d3) * sigma);
	}
}

static struct point_limits limits_for(const struct spc_state *s, double size, uint64_t ewma_index)
{
	const struct spc_chart_config *c = &s->config;
	double centre = s->limits.centre;
	double sigma_stat = 0;
	struct point_limits out = {
	        .primary = {.value = NAN, .lcl = NAN, .cl = NAN, .ucl = NAN},
	        .secondary = {.value = NAN, .lcl = NAN, .cl = NAN, .ucl = NAN},
	};

	if (c->limits_source == SPC_LIMITS_FIXED_EXPLICIT) {
		out.primary.lcl = s->limits.lcl;
		out.primary.cl = s->limits.cl;
		out.primary.ucl = s->limits.ucl;
		out.sigma_up = (s->limits.ucl - s->limits.cl) / 3.0;
		out.sigma_down = (s->limits.cl - s->limits.lcl) / 3.0;
		return out;
	}

	double width = 3.0;
	switch (c->kind) {
	case SPC_CHART_IMR:
		sigma_stat = s->limits.sigma;
		break;
	case SPC_CHART_XBAR_R:
	case SPC_CHART_XBAR_S:
		sigma_stat = s->limits.sigma / sqrt((double)c->subgroup_size);
		if (c->constants == SPC_CONSTANTS_TABLE) {
			/* CL +- A2 R-bar, CL +- A3 S-bar (see spread_limits). */
			struct spc_constants k = constants_for(c, c->subgroup_size);
			sigma_stat = c->kind == SPC_CHART_XBAR_R
			                     ? k.a2 * (k.d2 * s->limits.sigma) / 3.0
			                     : k.a3 * (k.c4 * s->limits.sigma) / 3.0;
		}
		break;
	case SPC_CHART_P:
		sigma_stat = sqrt(centre * (1.0 - centre) / size);
		break;
	case SPC_CHART_NP:
		sigma_stat = sqrt(size * centre * (1.0 - centre));
		centre *= size;
		break;
	case SPC_CHART_C:
		sigma_stat = sqrt(centre);
		break;
	case SPC_CHART_U:
		sigma_stat = sqrt(centre / size);
		break;
	case SPC_CHART_EWMA: {
		double lambda = c->ewma_lambda;
		double factor = lambda / (2.0 - lambda);
		if (!c->ewma_steady_state)
			factor *= 1.0 - pow(1.0 - lambda, 2.0 * (double)ewma_index);
		sigma_stat = s->limits.sigma / sqrt((double)c->subgroup_size) * sqrt(factor);
		width = c->ewma_width;
		break;
	}
	case SPC_CHART_CUSUM: {
		double h = c->cusum_h * s->limits.sigma / sqrt((double)c->subgroup_size);
		/* Both sums are non-negative and signal above H; there is no lower limit. */
		out.primary = (struct spc_point){.value = NAN, .lcl = NAN, .cl = 0, .ucl = h};
		out.secondary = out.primary;
		out.sigma_up = out.sigma_down = h;
		return out;
	}
	}

	out.primary.cl = centre;
	out.primary.ucl = centre + width * sigma_stat;
	out.primary.lcl = centre - width * sigma_stat;
	/* Counts and fractions cannot go below 0 (nor a fraction above 1): clip the limits. */
	if (is_attribute(c->kind))
		out.primary.lcl = fmax(0.0, out.primary.lcl);
	if (c->kind == SPC_CHART_P)
		out.primary.ucl = fmin(1.0, out.primary.ucl);
	out.sigma_up = out.sigma_down = sigma_stat;
	if (has_secondary_chart(c->kind))
		spread_limits(s, &out.secondary);
	return out;
}

static double standardise(double value, double centre, double sigma_up, double sigma_down)
{
	double d = value - centre;
	double sigma = d >= 0 ? sigma_up : sigma_down;
	double z;
	if (d == 0)
		return 0;
	z = sigma > 0 ? d / sigma : (d > 0 ? Z_CLAMP : -Z_CLAMP);
	return fmax(-Z_CLAMP, fmin(Z_CLAMP, z));
}

static bool outside(const struct spc_point *p)
{
	return p->value > p->ucl || p->value < p->lcl;
}

/* Ends phase I: estimates the centre and sigma from the baseline sums. */
static void freeze_limits(struct spc_state *s)
{
	const struct spc_chart_config *c = &s->config;
	const struct spc_baseline_sums *b = &s->baseline;
	double spread_mean = b->spreads > 0 ? b->sum_spread / (double)b->spreads : 0.0;
	struct spc_constants k;

	switch (c->kind) {
	case SPC_CHART_P:
	case SPC_CHART_NP:
	case SPC_CHART_U:
		s->limits.centre = b->sum_size > 0 ? b->sum_count / b->sum_size : 0.0;
		s->limits.sigma = 0;
		break;
	case SPC_CHART_C:
		s->limits.centre = b->sum_count / (double)b->points;
		s->limits.sigma = 0;
		break;
	case SPC_CHART_XBAR_S:
		k = constants_for(c, c->subgroup_size);
		s->limits.centre = b->sum_statistic / (double)b->points;
		s->limits.sigma = spread_mean / k.c4;
		break;
	default: {
		/* I-MR, X-bar/R, EWMA, CUSUM: moving range of 2 or subgroup range. */
		unsigned n = points_size(c) == 1 ? 2 : points_size(c);
		k = constants_for(c, n);
		s->limits.centre = b->sum_statistic / (double)b->points;
		s->limits.sigma = spread_mean / k.d2;
		break;
	}
	}
	s->ewma = s->limits.centre;
	s->phase = SPC_PHASE_MONITORING;
}

static void remember_z(struct spc_state *s, double z)
{
	s->history_z[s->history_head] = z;
	s->history_head = (s->history_head + 1) % SPC_RULE_HISTORY;
	if (s->history_count < SPC_RULE_HISTORY)
		s->history_count++;
}

/* The run-rule history oldest first, into `z`; returns how many. */
static unsigned history_in_order(const struct spc_state *s, double *z)
{
	unsigned n = s->history_count;
	for (unsigned i = 0; i < n; i++) {
		unsigned at = (s->history_head + SPC_RULE_HISTORY - n + i) % SPC_RULE_HISTORY;
		z[i] = s->history_z[at];
	}
	return n;
}

static void add_signal(struct spc_result *r, enum spc_rule rule, uint64_t first)
{
	if (r->violation_count >= SPC_MAX_VIOLATIONS)
		return;
	r->violations[r->violation_count++] =
	        (struct spc_violation){.rule = rule, .first_point = first, .last_point = r->point};
}

static void judge_shewhart(struct spc_state *s, const struct raw_point *raw, struct spc_result *r)
{
	struct point_limits lim = limits_for(s, raw->size, 0);
	double z_history[SPC_RULE_HISTORY];

	r->primary = lim.primary;
	r->primary.value = raw->statistic;
	if (r->has_secondary) {
		double spread = r->secondary.value;
		r->secondary = lim.secondary;
		r->secondary.value = spread;
	}
	remember_z(s, standardise(raw->statistic, lim.primary.cl, lim.sigma_up, lim.sigma_down));
	unsigned n = history_in_order(s, z_history);
	spc_rules_check(z_history, n, outside(&r->primary), s->config.rules, r->point,
	                r->violations, &r->violation_count);
	if (r->has_secondary && (s->config.rules & SPC_RULE_BIT(SPC_RULE_SECONDARY_LIMIT)) &&
	    outside(&r->secondary))
		add_signal(r, SPC_RULE_SECONDARY_LIMIT, r->point);
}

static void judge_ewma(struct spc_state *s, double mean, struct spc_result *r)
{
	double lambda = s->config.ewma_lambda;
	s->ewma = lambda * mean + (1.0 - lambda) * s->ewma;
	s->ewma_points++;
	struct point_limits lim = limits_for(s, 1, s->ewma_points);
	r->primary = lim.primary;
	r->primary.value = s->ewma;
	if (outside(&r->primary))
		add_signal(r, SPC_RULE_EWMA_LIMIT, r->point);
}

static void judge_cusum(struct spc_state *s, double mean, struct spc_result *r)
{
	struct point_limits lim = limits_for(s, 1, 0);
	double sigma_mean = s->limits.sigma / sqrt((double)s->config.subgroup_size);
	double reference = s->config.cusum_k * sigma_mean;
	double centre = s->limits.centre;

	/* Tabular CUSUM (Montgomery ISQC Sec. 9.1.2): C+ = max(0, x - (mu0 + K) + C+), C- =
	 * max(0, (mu0 - K) - x + C-). Each sum remembers where its current run began, so a
	 * signal can name the point where the shift probably started. */
	double upper = fmax(0.0, mean - (centre + reference) + s->cusum_upper);
	double lower = fmax(0.0, (centre - reference) - mean + s->cusum_lower);
	if (upper > 0 && s->cusum_upper == 0)
		s->cusum_upper_start = r->point;
	if (lower > 0 && s->cusum_lower == 0)
		s->cusum_lower_start = r->point;
	s->cusum_upper = upper;
	s->cusum_lower = lower;

	r->primary = lim.primary;
	r->primary.value = upper;
	r->has_secondary = true;
	r->secondary = lim.secondary;
	r->secondary.value = lower;
	if (upper > lim.primary.ucl)
		add_signal(r, SPC_RULE_CUSUM_UPPER, s->cusum_upper_start);
	if (lower > lim.secondary.ucl)
		add_signal(r, SPC_RULE_CUSUM_LOWER, s->cusum_lower_start);
}

static void collect_baseline(struct spc_state *s, const struct raw_point *raw)
{
	struct spc_baseline_sums *b = &s->baseline;
	b->points++;
	b->sum_statistic += raw->statistic;
	b->sum_count += raw->count;
	b->sum_size += raw->size;
	if (!isnan(raw->spread)) {
		b->sum_spread += raw->spread;
		b->spreads++;
	}
	if (b->points == s->config.baseline_points)
		freeze_limits(s);
}

static void clear_result(struct spc_result *r)
{
	memset(r, 0, sizeof(*r));
	r->primary = (struct spc_point){.value = NAN, .lcl = NAN, .cl = NAN, .ucl = NAN};
	r->secondary = r->primary;
}

int spc_chart_add(struct spc_state *state, const struct spc_observation *observation,
                  struct spc_result *ret_result)
{
	struct spc_state *s = state;
	const struct spc_chart_config *c = &s->config;
	struct raw_point raw = {.spread = NAN, .size = 1, .count = 0};

	if (check_observation(c, observation) != SPC_OK)
		return SPC_ERR_INVALID;
	clear_result(ret_result);
	s->observations++;

	if (points_size(c) > 1) {
		s->subgroup_values[s->subgroup_fill++] = observation->value;
		if (s->subgroup_fill < points_size(c))
			return SPC_OK;
		raw = close_subgroup(s);
		s->subgroup_fill = 0;
		memset(s->subgroup_values, 0, sizeof(s->subgroup_values));
	} else if (is_attribute(c->kind)) {
		raw.count = observation->count;
		raw.size = c->kind == SPC_CHART_C ? 1 : observation->size;
		raw.statistic = c->kind == SPC_CHART_P || c->kind == SPC_CHART_U
		                        ? observation->count / observation->size
		                        : observation->count;
	} else {
		/* Individuals: the moving range needs the previous value. */
		raw.statistic = observation->value;
		if (s->has_previous)
			raw.spread = fabs(observation->value - s->previous_value);
		s->previous_value = observation->value;
		s->has_previous = 1;
	}

	struct spc_result *r = ret_result;
	r->plotted = true;
	r->point = ++s->points;
	r->has_secondary = has_secondary_chart(c->kind) && !isnan(raw.spread);
	r->primary.value = raw.statistic;
	r->secondary.value = raw.spread;

	if (s->phase == SPC_PHASE_BASELINE) {
		collect_baseline(s, &raw);
		return SPC_OK;
	}

	r->judged = true;
	if (c->kind == SPC_CHART_EWMA)
		judge_ewma(s, raw.statistic, r);
	else if (c->kind == SPC_CHART_CUSUM)
		judge_cusum(s, raw.statistic, r);
	else
		judge_shewhart(s, &raw, r);
	return SPC_OK;
}

int spc_chart_next_limits(const struct spc_state *state, double size, struct spc_point *ret_primary,
                          struct spc_point *ret_secondary)
{
	if (state->phase != SPC_PHASE_MONITORING)
		return SPC_ERR_INVALID;
	if (is_attribute(state->config.kind) && state->config.kind != SPC_CHART_C &&
	    !(isfinite(size) && size > 0))
		return SPC_ERR_INVALID;
	struct point_limits lim = limits_for(state, size, state->ewma_points + 1);
	if (ret_primary)
		*ret_primary = lim.primary;
	if (ret_secondary)
		*ret_secondary = lim.secondary;
	return SPC_OK;
}
