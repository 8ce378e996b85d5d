/* The log-linear latency histogram: bucket geometry, percentiles, merging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "host/histogram.h"

static void test_buckets(void **state)
{
	(void)state;
	/* Exact below 128; then each bucket holds [low, high] and they tile the line. */
	for (uint64_t v = 0; v < 128; v++)
		assert_int_equal(host_hist_index(v), v);
	for (uint32_t i = 1; i < HOST_HIST_BUCKETS - 1; i++) {
		assert_int_equal(host_hist_bucket_low(i + 1), host_hist_bucket_high(i) + 1);
		assert_int_equal(host_hist_index(host_hist_bucket_low(i)), i);
		assert_int_equal(host_hist_index(host_hist_bucket_high(i)), i);
	}
	assert_int_equal(host_hist_index(UINT64_MAX), HOST_HIST_BUCKETS - 1);
	/* Relative width under 1 %. */
	for (uint32_t i = 128; i < HOST_HIST_BUCKETS; i += 97) {
		double lo = (double)host_hist_bucket_low(i), hi = (double)host_hist_bucket_high(i);

		assert_true((hi - lo) / lo < 0.008);
	}
}

static void assert_near(uint64_t got, double want)
{
	if ((double)got < want * 0.99 || (double)got > want * 1.01)
		fail_msg("got %llu, want about %.0f", (unsigned long long)got, want);
}

static void test_percentiles_uniform(void **state)
{
	struct host_hist *h = malloc(sizeof(*h));

	(void)state;
	host_hist_init(h);
	assert_int_equal(host_hist_percentile(h, 50), 0);
	for (uint64_t v = 1; v <= 100000; v++)
		host_hist_record(h, v * 10); /* 10 ns .. 1 ms */
	assert_int_equal(h->count, 100000);
	assert_int_equal(h->min, 10);
	assert_int_equal(h->max, 1000000);
	assert_near(host_hist_percentile(h, 50), 500000);
	assert_near(host_hist_percentile(h, 90), 900000);
	assert_near(host_hist_percentile(h, 99), 990000);
	assert_near(host_hist_percentile(h, 99.9), 999000);
	assert_near(host_hist_percentile(h, 99.99), 999900);
	assert_int_equal(host_hist_percentile(h, 100), 1000000);
	assert_true(host_hist_mean(h) > 500004 && host_hist_mean(h) < 500006);
	free(h);
}

static void test_percentiles_tail(void **state)
{
	struct host_hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));

	(void)state;
	host_hist_init(a);
	host_hist_init(b);
	for (int i = 0; i < 9990; i++)
		host_hist_record(a, 20000); /* 20 us */
	for (int i = 0; i < 10; i++)
		host_hist_record(b, 5000000); /* 5 ms outliers, from another thread */
	host_hist_merge(a, b);
	assert_int_equal(a->count, 10000);
	assert_near(host_hist_percentile(a, 50), 20000);
	assert_near(host_hist_percentile(a, 99.9), 20000);
	assert_near(host_hist_percentile(a, 99.99), 5000000);
	assert_int_equal(a->max, 5000000);
	assert_int_equal(a->min, 20000);
	/* Percentiles never leave [min, max]. */
	host_hist_init(b);
	host_hist_record(b, 1000);
	assert_int_equal(host_hist_percentile(b, 1), 1000);
	assert_int_equal(host_hist_percentile(b, 99.99), 1000);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_percentiles_uniform),
		cmocka_unit_test(test_percentiles_tail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
