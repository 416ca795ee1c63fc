/* spc_capability: process capability and performance indices.
 *
 * Definitions follow Montgomery, ISQC (Ch. 8) and NIST/SEMATECH e-Handbook 6.1.6: Cp, Cpk use
 * the within-subgroup sigma the control chart estimates; Pp, Ppk the overall sample standard
 * deviation; Cpm (Chan, Cheng and Spiring 1988) the overall sigma and the distance of the mean
 * from the target. An index that does not exist for the inputs is reported as undefined rather
 * than as a number: Cp, Pp and Cpm need both specification limits, every index needs sigma > 0. */
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

int spc_capability_compute(const struct spc_spec *spec, double mean, double sigma_within,
                           double sigma_overall, struct spc_capability *ret)
{
	if (!spec->has_lsl && !spec->has_usl)
		return SPC_ERR_INVALID;
	if ((spec->has_lsl && !isfinite(spec->lsl)) || (spec->has_usl && !isfinite(spec->usl)) ||
	    (spec->has_target && !isfinite(spec->target)))
		return SPC_ERR_INVALID;
	if (spec->has_lsl && spec->has_usl && !(spec->lsl < spec->usl))
		return SPC_ERR_INVALID;
	/* NAN sigma means "not known" and leaves its indices undefined; infinities are errors. */
	if (!isfinite(mean) || isinf(sigma_within) || isinf(sigma_overall))
		return SPC_ERR_INVALID;

	struct spc_capability out;
	indices(spec, mean, sigma_within, &out.cp, &out.cpl, &out.cpu, &out.cpk);
	indices(spec, mean, sigma_overall, &out.pp, &out.ppl, &out.ppu, &out.ppk);

	out.cpm = undefined_index;
	if (spec->has_lsl && spec->has_usl && isfinite(sigma_overall) && sigma_overall > 0) {
		double target = spec->has_target ? spec->target : (spec->lsl + spec->usl) / 2.0;
		double off = mean - target;
		double tau = sqrt(sigma_overall * sigma_overall + off * off);
		out.cpm = defined((spec->usl - spec->lsl) / (6.0 * tau));
	}
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
