/* Cutting transfers into commands by MDTS and the 16-bit NLB field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "host/host_internal.h"

static void test_max_blocks(void **state)
{
	(void)state;
	assert_int_equal(host_max_blocks(128 * 1024, 512), 256);
	assert_int_equal(host_max_blocks(128 * 1024, 4096), 32);
	assert_int_equal(host_max_blocks(16u << 20, 512), 32768);
	assert_int_equal(host_max_blocks(1u << 30, 512), 65536); /* NLB is 16 bits */
	assert_int_equal(host_max_blocks(2048, 4096), 0);        /* cannot move one block */
	assert_int_equal(host_max_blocks(4096, 0), 0);
}

static void test_split_exact_and_tail(void **state)
{
	struct host_chunk c;
	uint64_t total = 0;
	uint64_t i;

	(void)state;
	/* 1000 blocks in pieces of 256: 256, 256, 256, 232. */
	for (i = 0; host_split(50, 1000, 512, 256, i, &c); i++) {
		assert_int_equal(c.lba, 50 + i * 256);
		assert_int_equal(c.offset, i * 256 * 512);
		assert_int_equal(c.nblocks, i < 3 ? 256 : 232);
		total += c.nblocks;
	}
	assert_int_equal(i, 4);
	assert_int_equal(total, 1000);

	/* An exact multiple has no empty tail. */
	for (i = 0; host_split(0, 512, 4096, 256, i, &c); i++)
		assert_int_equal(c.nblocks, 256);
	assert_int_equal(i, 2);

	/* Smaller than one piece. */
	assert_true(host_split(7, 3, 512, 256, 0, &c));
	assert_int_equal(c.lba, 7);
	assert_int_equal(c.nblocks, 3);
	assert_false(host_split(7, 3, 512, 256, 1, &c));

	assert_false(host_split(0, 0, 512, 256, 0, &c));
	assert_false(host_split(0, 10, 512, 0, 0, &c));
}

static void test_split_large_lba(void **state)
{
	struct host_chunk c;

	(void)state;
	assert_true(host_split(1ull << 40, 200000, 512, 65536, 3, &c));
	assert_int_equal(c.lba, (1ull << 40) + 3 * 65536);
	assert_int_equal(c.nblocks, 200000 - 3 * 65536);
	assert_int_equal(c.offset, 3ull * 65536 * 512);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_max_blocks),
		cmocka_unit_test(test_split_exact_and_tail),
		cmocka_unit_test(test_split_large_lba),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
