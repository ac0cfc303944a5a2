/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pattern.h - which page a pressure thread touches next.
 */
#ifndef TMEMLAB_PATTERN_H
#define TMEMLAB_PATTERN_H

#include <stdint.h>

enum access_pattern {
	PATTERN_SEQ,
	PATTERN_RANDOM,
	PATTERN_ZIPF,
	PATTERN_COUNT,
};

/* Rejection-inversion Zipf sampler: O(1) memory, any exponent >= 0. */
struct zipf {
	double n;
	double theta;
	double h_integral_x1;
	double h_integral_n;
	double s;
};

struct access_gen {
	enum access_pattern pattern;
	uint64_t n;		/* pages in the slice */
	uint64_t cursor;	/* seq: next offset */
	uint64_t rng;		/* xorshift64* state, never 0 */
	uint64_t perm_mul;	/* zipf: rank -> offset, see access_init() */
	uint64_t perm_add;
	struct zipf zipf;
};

const char *pattern_name(enum access_pattern pattern);
int pattern_from_name(const char *name);

void zipf_init(struct zipf *z, uint64_t n, double theta);
uint64_t zipf_next(const struct zipf *z, uint64_t *rng);

void access_init(struct access_gen *g, enum access_pattern pattern, uint64_t n,
		 double theta, uint64_t seed);
uint64_t access_next(struct access_gen *g);

#endif /* TMEMLAB_PATTERN_H */
