/* linesim_rng: counter-based random streams for the line simulator.
 *
 * A stream is seeded from a key of three 64-bit words (seed, domain, counter) through
 * SplitMix64, so any unit's values can be drawn without replaying the draws of the units
 * before it. SplitMix64 passes BigCrush, which is far more than a simulation of measurement
 * noise needs; the point here is that it is tiny, portable and deterministic. */
#ifndef LINESIM_RNG_H
#define LINESIM_RNG_H

#include <math.h>
#include <stdint.h>

#define LS_PI 3.14159265358979323846

struct ls_rng {
	uint64_t state;
};

static inline uint64_t ls_mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline void ls_rng_init(struct ls_rng *rng, uint64_t seed, uint64_t domain, uint64_t counter)
{
	rng->state = ls_mix64(ls_mix64(ls_mix64(seed) ^ domain) ^ counter);
}

static inline uint64_t ls_rng_next(struct ls_rng *rng)
{
	rng->state += 0x9e3779b97f4a7c15ULL;
	return ls_mix64(rng->state);
}

/* Uniform in [0, 1). */
static inline double ls_rng_uniform(struct ls_rng *rng)
{
	return (double)(ls_rng_next(rng) >> 11) * 0x1.0p-53;
}

/* Standard normal by Box-Muller; always consumes exactly two draws. */
static inline double ls_rng_normal(struct ls_rng *rng)
{
	double u1 = 1.0 - ls_rng_uniform(rng); /* (0, 1]: log() stays finite */
	double u2 = ls_rng_uniform(rng);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * LS_PI * u2);
}

#endif
