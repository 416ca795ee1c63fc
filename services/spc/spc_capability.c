/* spc_capability: process capability and performance indices, expected and observed PPM.
 *
 * Definitions follow Montgomery, ISQC 6th ed. (Sec. 8.2-8.3), NIST/SEMATECH e-Handbook 6.1.6
 * and Minitab's "Methods and formulas" for Normal Capability Analysis: Cp, Cpk, Cpm and the
 * expected "within" PPM use the within-subgroup sigma the control chart estimates; Pp, Ppk,
 * Ppm and the expected "overall" PPM the overall sample standard deviation. Cpm (Chan, Cheng
 * and Spiring 1988; Montgomery eq. 8.21) adds the distance of the mean from the target to the
 * variance. An index that does not exist for the inputs is reported as undefined rather than
 * as a number: Cp, Pp, Cpm and Ppm need both specification limits, every index needs
 * sigma > 0, a PPM side needs its limit. */
#include "spc.h"

#include <math.h>

static const struct spc_index undefined_index = {.defined = false, .value = NAN};

static struct spc_index defined(double value)
{
	return (struct spc_index){.defined = true, .value = value};
}

static struct spc_index smaller(struct spc_index a, struct spc_index b)
{
	if (!a.defined)
		return b;
	if (!b.defined)
		return a;
	return a.value <= b.value ? a : b;
}

/* The potential (Cp-like) and one-sided indices for one sigma. */
static void indices(const struct spc_spec *spec, double mean, double sigma,
                    struct spc_index *ret_two_sided, struct spc_index *ret_lower,
                    struct spc_index *ret_upper, struct spc_index *ret_worst)
{
	*ret_two_sided = *ret_lower = *ret_upper = *ret_worst = undefined_index;
	if (!(isfinite(sigma) && sigma > 0))
		return;
	if (spec->has_lsl && spec->has_usl)
		*ret_two_sided = defined((spec->usl - spec->lsl) / (6.0 * sigma));
	if (spec->has_lsl)
		*ret_lower = defined((mean - spec->lsl) / (3.0 * sigma));
	if (spec->has_usl)
		*ret_upper = defined((spec->usl - mean) / (3.0 * sigma));
	*ret_worst = smaller(*ret_lower, *ret_upper);
}

/* Cpm (sigma_within) or Ppm (sigma_overall): (USL - LSL) / (6 sqrt(sigma^2 + (mean - T)^2)). */
static struct spc_index taguchi(const struct spc_spec *spec, double mean, double sigma)
{
	if (!(spec->has_lsl && spec->has_usl && isfinite(sigma) && sigma > 0))
		return undefined_index;
	double target = spec->has_target ? spec->target : (spec->lsl + spec->usl) / 2.0;
	double off = mean - target;
	return defined((spec->usl - spec->lsl) / (6.0 * sqrt(sigma * sigma + off * off)));
}

/* Upper tail of the standard normal, 1 - Phi(z), through erfc so that far tails keep their
 * relative precision (1 - Phi(6) = 9.9e-10 would be lost to cancellation). */
static double normal_upper_tail(double z)
{
	return 0.5 * erfc(z / sqrt(2.0));
}

/* Expected PPM outside the specification of a normal process: below = 1e6 Phi((LSL - mean) /
 * sigma) = 1e6 (1 - Phi((mean - LSL) / sigma)), above = 1e6 (1 - Phi((USL - mean) / sigma)). */
static void expected_ppm(const struct spc_spec *spec, double mean, double sigma,
                         struct spc_ppm *ret)
{
	ret->below = ret->above = ret->total = undefined_index;
	if (!(isfinite(sigma) && sigma > 0))
		return;
	double total = 0;
	if (spec->has_lsl) {
		ret->below = defined(1e6 * normal_upper_tail((mean - spec->lsl) / sigma));
		total += ret->below.value;
	}
	if (spec->has_usl) {
		ret->above = defined(1e6 * normal_upper_tail((spec->usl - mean) / sigma));
		total += ret->above.value;
	}
	ret->total = defined(total);
}

static int spec_check(const struct spc_spec *spec)
{
	if (!spec->has_lsl && !spec->has_usl)
		return SPC_ERR_INVALID;
	if ((spec->has_lsl && !isfinite(spec->lsl)) || (spec->has_usl && !isfinite(spec->usl)) ||
	    (spec->has_target && !isfinite(spec->target)))
		return SPC_ERR_INVALID;
	if (spec->has_lsl && spec->has_usl && !(spec->lsl < spec->usl))
		return SPC_ERR_INVALID;
	return SPC_OK;
}

int spc_capability_compute(const struct spc_spec *spec, double mean, double sigma_within,
                           double sigma_overall, struct spc_capability *ret)
{
	if (spec_check(spec) != SPC_OK)
		return SPC_ERR_INVALID;
	/* NAN sigma means "not known" and leaves its indices undefined; infinities are errors. */
	if (!isfinite(mean) || isinf(sigma_within) || isinf(sigma_overall))
		return SPC_ERR_INVALID;

	struct spc_capability out;
	indices(spec, mean, sigma_within, &out.cp, &out.cpl, &out.cpu, &out.cpk);
	indices(spec, mean, sigma_overall, &out.pp, &out.ppl, &out.ppu, &out.ppk);
	out.cpm = taguchi(spec, mean, sigma_within);
	out.ppm = taguchi(spec, mean, sigma_overall);
	expected_ppm(spec, mean, sigma_within, &out.expected_within);
	expected_ppm(spec, mean, sigma_overall, &out.expected_overall);
	*ret = out;
	return SPC_OK;
}

int spc_capability_observed(const struct spc_spec *spec, const double *values, size_t count,
                            struct spc_ppm *ret)
{
	size_t below = 0, above = 0;

	if (spec_check(spec) != SPC_OK || count == 0)
		return SPC_ERR_INVALID;
	for (size_t i = 0; i < count; i++) {
		if (!isfinite(values[i]))
			return SPC_ERR_INVALID;
		below += spec->has_lsl && values[i] < spec->lsl;
		above += spec->has_usl && values[i] > spec->usl;
	}
	struct spc_ppm out;
	out.below = spec->has_lsl ? defined(1e6 * (double)below / (double)count) : undefined_index;
	out.above = spec->has_usl ? defined(1e6 * (double)above / (double)count) : undefined_index;
	out.total = defined(1e6 * (double)(below + above) / (double)count);
	*ret = out;
	return SPC_OK;
}

int spc_mean_sd(const double *values, size_t count, double *ret_mean, double *ret_sd)
{
	if (count < 2)
		return SPC_ERR_INVALID;
	double sum = 0;
	for (size_t i = 0; i < count; i++) {
		if (!isfinite(values[i]))
			return SPC_ERR_INVALID;
		sum += values[i];
	}
	double mean = sum / (double)count;
	double squares = 0;
	for (size_t i = 0; i < count; i++)
		squares += (values[i] - mean) * (values[i] - mean);
	*ret_mean = mean;
	*ret_sd = sqrt(squares / (double)(count - 1));
	return SPC_OK;
}
