#include "host/histogram.h"

#include <string.h>

void host_hist_init(struct host_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void host_hist_merge(struct host_hist *dst, const struct host_hist *src)
{
	if (!src->count)
		return;
	for (uint32_t i = 0; i < HOST_HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t host_hist_bucket_low(uint32_t idx)
{
	uint32_t range = idx / HOST_HIST_SUB, sub = idx % HOST_HIST_SUB;

	if (range == 0)
		return sub;
	return (uint64_t)(HOST_HIST_SUB + sub) << (range - 1);
}

uint64_t host_hist_bucket_high(uint32_t idx)
{
	uint32_t range = idx / HOST_HIST_SUB;

	if (range == 0)
		return idx;
	return host_hist_bucket_low(idx) + ((1ull << (range - 1)) - 1);
}

uint64_t host_hist_percentile(const struct host_hist *h, double pct)
{
	uint64_t target, seen = 0;

	if (!h->count)
		return 0;
	if (pct >= 100.0)
		return h->max;
	target = (uint64_t)((double)h->count * pct / 100.0 + 0.5);
	if (target == 0)
		target = 1;
	for (uint32_t i = 0; i < HOST_HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= target) {
			uint64_t v = host_hist_bucket_high(i);

			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}
	return h->max;
}

double host_hist_mean(const struct host_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}
