/*
 * Log-linear latency histogram (HdrHistogram-style): values below 2^SUB_BITS get one bucket
 * each; above, each power-of-two range is cut into 2^SUB_BITS equal buckets, so a bucket is at
 * most 1/128 of its value wide (under 0.8 % error) across the whole 64-bit range. Recording is
 * a couple of shifts and an increment: fine on the I/O completion path. One histogram per
 * thread; merge them for the report.
 */
#ifndef NVFAB_HOST_HISTOGRAM_H
#define NVFAB_HOST_HISTOGRAM_H

#include <stdint.h>

#define HOST_HIST_SUB_BITS 7
#define HOST_HIST_SUB (1u << HOST_HIST_SUB_BITS)
#define HOST_HIST_RANGES (64 - HOST_HIST_SUB_BITS + 1)
#define HOST_HIST_BUCKETS (HOST_HIST_RANGES * HOST_HIST_SUB)

struct host_hist {
	uint64_t count;
	uint64_t sum;
	uint64_t min;
	uint64_t max;
	uint64_t buckets[HOST_HIST_BUCKETS];
};

void host_hist_init(struct host_hist *h);
void host_hist_merge(struct host_hist *dst, const struct host_hist *src);

static inline uint32_t host_hist_index(uint64_t v)
{
	uint32_t msb, range;

	if (v < HOST_HIST_SUB)
		return (uint32_t)v;
	msb = 63u - (uint32_t)__builtin_clzll(v);
	range = msb - HOST_HIST_SUB_BITS + 1;
	return range * HOST_HIST_SUB + (uint32_t)((v >> (range - 1)) - HOST_HIST_SUB);
}

static inline void host_hist_record(struct host_hist *h, uint64_t v)
{
	h->buckets[host_hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

/* Smallest and largest value that land in bucket idx. */
uint64_t host_hist_bucket_low(uint32_t idx);
uint64_t host_hist_bucket_high(uint32_t idx);
/* The value below which pct percent (0..100] of the samples fall: the high end of the bucket
 * holding that sample, clamped to [min, max]. 0 when empty. */
uint64_t host_hist_percentile(const struct host_hist *h, double pct);
double host_hist_mean(const struct host_hist *h);

#endif
