/* spc_rules: Western Electric and Nelson run rules over standardised points (engine-internal).
 *
 * Points are given as z = (statistic - centre line) / sigma of the statistic, oldest first,
 * newest last; the newest is the point being judged. A rule fires at a point when the pattern
 * it describes ends at that point and includes it, so a run that goes on fires again at every
 * point that extends it: the alarm stays up while the pattern lasts. */
#ifndef SPC_RULES_H
#define SPC_RULES_H

#include "spc.h"

/* Appends to violations[*count] (capacity SPC_MAX_VIOLATIONS) every selected rule that fires
 * at the newest of the `n` points in z (n >= 1, n <= SPC_RULE_HISTORY). `point` is the number
 * of the newest point; `beyond_limits` says whether it lies outside its control limits (rule 1
 * is judged on the limits as reported, not on z, so the two never disagree). */
void spc_rules_check(const double *z, unsigned n, bool beyond_limits, uint32_t rules,
                     uint64_t point, struct spc_violation *violations, uint32_t *count);

#endif
