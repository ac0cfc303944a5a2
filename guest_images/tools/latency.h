/* SPDX-License-Identifier: GPL-2.0 */
/*
 * latency.h - fixed-size log-linear latency histogram.
 *
 * Buckets are exact below 64 ns and then 64 per power of two, so any
 * recorded value is known to within 1/64 (~1.6%) from a few tens of
 * nanoseconds up to hours, in 30 KiB per thread and without allocating
 * while the workload runs.
 */
#ifndef TMEMLAB_LATENCY_H
#define TMEMLAB_LATENCY_H

#include <stdint.h>

#define LAT_SUB_BITS	6
#define LAT_SUB		(1u << LAT_SUB_BITS)
#define LAT_BUCKETS	((64 - LAT_SUB_BITS + 1) * LAT_SUB)

struct lat_hist {
	uint64_t count[LAT_BUCKETS];
	uint64_t samples;
	uint64_t max_ns;
};

void lat_record(struct lat_hist *h, uint64_t ns);
void lat_merge(struct lat_hist *dst, const struct lat_hist *src);
/* Value at quantile q (0 < q <= 1) in nanoseconds; 0 with no samples. */
double lat_quantile(const struct lat_hist *h, double q);

#endif /* TMEMLAB_LATENCY_H */
