// SPDX-License-Identifier: GPL-2.0
/*
 * latency.c - log-linear latency histogram, see latency.h.
 */
#include <math.h>

#include "latency.h"

static unsigned int lat_bucket(uint64_t ns)
{
	unsigned int e;

	if (ns < LAT_SUB)
		return ns;
	e = 63 - __builtin_clzll(ns);	/* e >= LAT_SUB_BITS */
	return (e - LAT_SUB_BITS + 1) * LAT_SUB +
	       ((ns >> (e - LAT_SUB_BITS)) & (LAT_SUB - 1));
}

/* Lowest value that falls in bucket @b, and the bucket's width. */
static void lat_bucket_range(unsigned int b, double *low, double *width)
{
	unsigned int e, sub;

	if (b < LAT_SUB) {
		*low = b;
		*width = 1;
		return;
	}
	e = b / LAT_SUB + LAT_SUB_BITS - 1;
	sub = b % LAT_SUB;
	*width = ldexp(1.0, e - LAT_SUB_BITS);
	*low = (LAT_SUB + sub) * *width;
}

void lat_record(struct lat_hist *h, uint64_t ns)
{
	h->count[lat_bucket(ns)]++;
	h->samples++;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

void lat_merge(struct lat_hist *dst, const struct lat_hist *src)
{
	unsigned int b;

	for (b = 0; b < LAT_BUCKETS; b++)
		dst->count[b] += src->count[b];
	dst->samples += src->samples;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
}

double lat_quantile(const struct lat_hist *h, double q)
{
	uint64_t rank, seen = 0;
	unsigned int b;

	if (!h->samples)
		return 0;
	rank = (uint64_t)ceil(q * (double)h->samples);
	if (rank < 1)
		rank = 1;
	for (b = 0; b < LAT_BUCKETS; b++) {
		seen += h->count[b];
		if (seen >= rank) {
			double low, width, mid;

			lat_bucket_range(b, &low, &width);
			/* Report the bucket's middle, never beyond the true max. */
			mid = low + (width - 1) / 2;
			return mid < (double)h->max_ns ? mid : (double)h->max_ns;
		}
	}
	return (double)h->max_ns;
}
