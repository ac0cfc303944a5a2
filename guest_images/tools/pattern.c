// SPDX-License-Identifier: GPL-2.0
/*
 * pattern.c - access patterns for pressure: sequential, uniform random,
 * and Zipf-distributed with the hot set spread over the slice.
 *
 * The Zipf sampler is the rejection-inversion method of Hörmann and
 * Derflinger ("Rejection-inversion to generate variates from monotone
 * discrete distributions", 1996), as in Apache Commons RNG. Unlike a
 * precomputed CDF it needs no memory proportional to the working set,
 * which matters when that set is several times the guest's RAM and the
 * table itself would be swapped out.
 */
#include <math.h>
#include <string.h>

#include "pattern.h"
#include "prng.h"

static const char *const pattern_names[PATTERN_COUNT] = {
	[PATTERN_SEQ]		= "seq",
	[PATTERN_RANDOM]	= "random",
	[PATTERN_ZIPF]		= "zipf",
};

const char *pattern_name(enum access_pattern pattern)
{
	return pattern < PATTERN_COUNT ? pattern_names[pattern] : "?";
}

int pattern_from_name(const char *name)
{
	int i;

	for (i = 0; i < PATTERN_COUNT; i++)
		if (!strcmp(name, pattern_names[i]))
			return i;
	return -1;
}

/* ---------------------------------------------------------------------
 * Zipf
 */

/* log1p(x) / x, accurate near 0 */
static double helper1(double x)
{
	return fabs(x) > 1e-8 ? log1p(x) / x : 1 - x * (0.5 - x * (1.0 / 3 - 0.25 * x));
}

/* expm1(x) / x, accurate near 0 */
static double helper2(double x)
{
	return fabs(x) > 1e-8 ? expm1(x) / x : 1 + x * 0.5 * (1 + x / 3 * (1 + 0.25 * x));
}

static double zipf_h(const struct zipf *z, double x)
{
	return exp(-z->theta * log(x));
}

static double zipf_h_integral(const struct zipf *z, double x)
{
	double log_x = log(x);

	return helper2((1 - z->theta) * log_x) * log_x;
}

static double zipf_h_integral_inv(const struct zipf *z, double x)
{
	double t = x * (1 - z->theta);

	if (t < -1)
		t = -1;	/* rounding can push t just below the domain */
	return exp(helper1(t) * x);
}

void zipf_init(struct zipf *z, uint64_t n, double theta)
{
	z->n = (double)n;
	z->theta = theta;
	z->h_integral_x1 = zipf_h_integral(z, 1.5) - 1;
	z->h_integral_n = zipf_h_integral(z, z->n + 0.5);
	z->s = 2 - zipf_h_integral_inv(z, zipf_h_integral(z, 2.5) - zipf_h(z, 2));
}

/* Returns a rank in [0, n); rank 0 is the most popular. */
uint64_t zipf_next(const struct zipf *z, uint64_t *rng)
{
	for (;;) {
		double u = z->h_integral_n + u64_to_unit(xorshift64s_next(rng)) *
			   (z->h_integral_x1 - z->h_integral_n);
		double x = zipf_h_integral_inv(z, u);
		double k = floor(x + 0.5);

		if (k < 1)
			k = 1;
		else if (k > z->n)
			k = z->n;
		if (k - x <= z->s || u >= zipf_h_integral(z, k + 0.5) - zipf_h(z, k))
			return (uint64_t)k - 1;
	}
}

/* ---------------------------------------------------------------------
 * Per-thread access generator
 */

static uint64_t gcd64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

void access_init(struct access_gen *g, enum access_pattern pattern, uint64_t n,
		 double theta, uint64_t seed)
{
	uint64_t mul;

	memset(g, 0, sizeof(*g));
	g->pattern = pattern;
	g->n = n;
	g->rng = mix64(seed) | 1;

	/*
	 * Zipf ranks go through the affine permutation
	 * offset = (rank * mul + add) mod n with gcd(mul, n) = 1. A
	 * multiplier near n / phi puts consecutive ranks far apart, so the
	 * hot set is scattered over the slice (and over swap slots) rather
	 * than being its first few megabytes; and unlike a shuffled table it
	 * costs no memory.
	 */
	mul = (uint64_t)((double)n * 0.6180339887498949);
	if (mul == 0)
		mul = 1;
	while (gcd64(mul, n) != 1)
		mul++;
	g->perm_mul = mul % n;
	g->perm_add = n ? mix64(seed ^ GOLDEN64) % n : 0;
	if (pattern == PATTERN_ZIPF)
		zipf_init(&g->zipf, n, theta);
}

/* Returns the next offset in [0, n) within the thread's slice. */
uint64_t access_next(struct access_gen *g)
{
	uint64_t off;

	switch (g->pattern) {
	case PATTERN_SEQ:
		off = g->cursor;
		if (++g->cursor == g->n)
			g->cursor = 0;
		return off;
	case PATTERN_RANDOM:
		return u64_below(xorshift64s_next(&g->rng), g->n);
	default:
		off = zipf_next(&g->zipf, &g->rng);
		return (uint64_t)(((unsigned __int128)off * g->perm_mul + g->perm_add) % g->n);
	}
}
