/* SPDX-License-Identifier: GPL-2.0 */
/*
 * prng.h - seeded generators and the page checksum used by pressure.
 *
 * Everything here is a pure function of its arguments: page contents,
 * page kinds and access sequences are all derived from (seed, index,
 * generation), so verification needs no side table and two runs with the
 * same seed touch and write the same bytes.
 *
 * Speed matters more than statistical quality: the guests run under TCG,
 * where every instruction is emulated, so these are the cheapest
 * generators that still defeat the compressors zswap uses.
 */
#ifndef TMEMLAB_PRNG_H
#define TMEMLAB_PRNG_H

#include <stddef.h>
#include <stdint.h>

#define GOLDEN64	0x9e3779b97f4a7c15ULL

/* xxh64 primes, reused for the checksum lanes */
#define PRIME64_1	0x9e3779b185ebca87ULL
#define PRIME64_2	0xc2b2ae3d27d4eb4fULL
#define PRIME64_3	0x165667b19e3779f9ULL

static inline uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/* The splitmix64 finalizer: a bijective avalanche of one 64-bit word. */
static inline uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Hash of a small tuple, used to key pages and pick kinds and templates. */
static inline uint64_t hash3(uint64_t a, uint64_t b, uint64_t c)
{
	return mix64(mix64(a + GOLDEN64) ^ (b * PRIME64_2) ^ rotl64(c * PRIME64_3, 29));
}

/*
 * splitmix64 stream. Word i depends only on state + i * GOLDEN64, so a
 * loop filling a page has no carried dependency through the multiplies
 * and pipelines well.
 */
static inline uint64_t splitmix64_next(uint64_t *state)
{
	*state += GOLDEN64;
	return mix64(*state);
}

/* xorshift64*: per-thread stream for access choices. State must be != 0. */
static inline uint64_t xorshift64s_next(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* Uniform double in [0, 1) from the top 53 bits. */
static inline double u64_to_unit(uint64_t x)
{
	return (double)(x >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform integer in [0, n) without a division (Lemire's multiply-shift). */
static inline uint64_t u64_below(uint64_t x, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)x * n) >> 64);
}

/*
 * Page body checksum: four independent xxh64-style lanes over 32-byte
 * stripes, folded with rotations and a final avalanche.
 *
 * Every step applied to a lane is a bijection of that lane (odd multiply,
 * rotate, add), and the fold adds the lanes, so changing any single 64-bit
 * word of the body always changes the result: a flipped bit can never go
 * unnoticed. @len must be a multiple of 32.
 */
static inline uint64_t body_checksum(const void *buf, size_t len, uint64_t key)
{
	const uint64_t *w = buf;
	uint64_t v1 = key + PRIME64_1 + PRIME64_2;
	uint64_t v2 = key + PRIME64_2;
	uint64_t v3 = key;
	uint64_t v4 = key - PRIME64_1;
	size_t i, n = len / 8;

	for (i = 0; i + 4 <= n; i += 4) {
		v1 = rotl64(v1 + w[i + 0] * PRIME64_2, 31) * PRIME64_1;
		v2 = rotl64(v2 + w[i + 1] * PRIME64_2, 31) * PRIME64_1;
		v3 = rotl64(v3 + w[i + 2] * PRIME64_2, 31) * PRIME64_1;
		v4 = rotl64(v4 + w[i + 3] * PRIME64_2, 31) * PRIME64_1;
	}
	return mix64(rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) +
		     rotl64(v4, 18) + len);
}

#endif /* TMEMLAB_PRNG_H */
