/* RAM backends: malloc (stores) and null (discards, reads zeros). Both complete inline. */
#include <errno.h>

#include "bdev_test.h"
#include "bdev/bdev_internal.h"

static int teardown(void **state)
{
	(void)state;
	bdev_destroy_all();
	return 0;
}

/* Writes a pattern as uneven iovecs, reads it back split differently, checks map() too. */
static void malloc_rw(uint32_t bs, uint64_t num_blocks)
{
	static const size_t wsplit[] = {100, 3000, 1, 7000};
	static const size_t rsplit[] = {4096, 512, 9999};
	const uint64_t nblk = 8, off = num_blocks - nblk;
	size_t len = nblk * bs;
	uint8_t *wbuf = malloc(len), *rbuf = malloc(len);
	struct iovec wiov[4], riov[3];
	struct bdev_channel *ch;
	struct bdev *bdev;
	struct tio t;
	int n;

	assert_int_equal(bdev_malloc_create("m", num_blocks, bs, NULL, &bdev), 0);
	assert_string_equal(bdev->ops->product_name, "Malloc disk");
	assert_int_equal(bdev->block_size, bs);
	assert_int_equal(bdev->num_blocks, num_blocks);
	ch = bdev_channel_create(bdev, NULL);
	assert_non_null(ch);

	fill_pattern(wbuf, len, bs);
	n = split_iov(wiov, wbuf, len, wsplit, 4);
	assert_int_equal(tio_submit(ch, &t, BDEV_IO_WRITE, off, nblk, wiov, n, false), 0);
	assert_int_equal(t.completions, 1); /* inline */
	assert_int_equal(t.status, 0);

	memset(rbuf, 0xee, len);
	n = split_iov(riov, rbuf, len, rsplit, 3);
	assert_int_equal(tio_submit(ch, &t, BDEV_IO_READ, off, nblk, riov, n, false), 0);
	assert_int_equal(t.completions, 1);
	assert_int_equal(t.status, 0);
	assert_memory_equal(rbuf, wbuf, len);

	assert_memory_equal(bdev_map(bdev, off * bs, len), wbuf, len);
	assert_null(bdev_map(bdev, num_blocks * bs, 1));
	assert_null(bdev_map(bdev, 0, num_blocks * bs + 1));
	/* untouched blocks read as zeros */
	assert_true(all_zero(bdev_map(bdev, 0, off * bs), off * bs));

	bdev_channel_destroy(ch);
	free(wbuf);
	free(rbuf);
}

static void test_malloc_rw_512(void **state)
{
	(void)state;
	malloc_rw(512, 64); /* heap allocation */
}

static void test_malloc_rw_4096(void **state)
{
	(void)state;
	malloc_rw(4096, 4096); /* 16 MiB: anonymous mapping */
}

/* Zeroing on a mapped disk drops whole pages and memsets the edges: check both. */
static void zero_range(enum bdev_io_type type, uint32_t bs, uint64_t num_blocks,
		       uint64_t zoff, uint64_t zn)
{
	size_t size = num_blocks * bs;
	struct bdev_channel *ch;
	struct bdev *bdev;
	uint8_t *img, *ref;
	struct tio t;

	assert_int_equal(bdev_malloc_create("z", num_blocks, bs, NULL, &bdev), 0);
	ch = bdev_channel_create(bdev, NULL);
	img = bdev_map(bdev, 0, size);
	assert_non_null(img);
	ref = malloc(size);
	fill_pattern(ref, size, 9);
	memcpy(img, ref, size);
	memset(ref + zoff * bs, 0, zn * bs);

	assert_int_equal(tio_submit(ch, &t, type, zoff, zn, NULL, 0, false), 0);
	assert_int_equal(t.completions, 1);
	assert_int_equal(t.status, 0);
	assert_memory_equal(img, ref, size);

	bdev_channel_destroy(ch);
	assert_int_equal(bdev_delete("z"), 0);
	free(ref);
}

static void test_malloc_zeroes(void **state)
{
	(void)state;
	zero_range(BDEV_IO_WRITE_ZEROES, 512, 64, 3, 5);             /* small, heap */
	zero_range(BDEV_IO_UNMAP, 512, 64, 0, 64);                   /* whole disk */
	zero_range(BDEV_IO_WRITE_ZEROES, 512, 8192, 3, 1000);        /* mapped, ragged edges */
	zero_range(BDEV_IO_UNMAP, 512, 8192, 7, 300);                /* mapped, unaligned */
	zero_range(BDEV_IO_UNMAP, 4096, 1024, 16, 512);              /* mapped, page aligned */
}

static void test_malloc_flush_fua(void **state)
{
	uint8_t *buf = xaligned(4096, 4096);
	struct iovec iov = {buf, 4096};
	struct bdev_channel *ch;
	struct bdev *bdev;
	struct tio t;

	(void)state;
	assert_int_equal(bdev_malloc_create("f", 16, 4096, NULL, &bdev), 0);
	ch = bdev_channel_create(bdev, NULL);
	fill_pattern(buf, 4096, 1);
	assert_int_equal(tio_submit(ch, &t, BDEV_IO_WRITE, 2, 1, &iov, 1, true), 0);
	assert_int_equal(t.completions, 1);
	assert_int_equal(t.status, 0);
	assert_int_equal(tio_submit(ch, &t, BDEV_IO_FLUSH, 0, 0, NULL, 0, false), 0);
	assert_int_equal(t.completions, 1);
	assert_int_equal(t.status, 0);
	assert_memory_equal(bdev_map(bdev, 2 * 4096, 4096), buf, 4096);
	bdev_channel_destroy(ch);
	free(buf);
}

/* Rejected I/O returns an error and never calls back. */
static void test_malloc_bad_io(void **state)
{
	uint8_t buf[1024];
	struct iovec iov = {buf, sizeof(buf)};
	struct bdev_channel *ch;
	struct bdev *bdev;
	struct tio t;

	(void)state;
	assert_int_equal(bdev_malloc_create("b", 16, 512, NULL, &bdev), 0);
	ch = bdev_channel_create(bdev, NULL);
	assert_int_equal(tio_submit(ch, &t, BDEV_IO_READ, 15, 2, &iov, 1, false), -ERANGE);
	assert_int_equal(tio_submit(ch, &t, BDEV_IO_WRITE, UINT64_MAX, 2, &iov, 1, false),
			 -ERANGE);
	assert_int_equal(tio_submit(ch, &t, BDEV_IO_UNMAP, 10, 7, NULL, 0, false), -ERANGE);
	assert_int_equal(tio_submit(ch, &t, BDEV_IO_READ, 0, 3, &iov, 1, false), -EINVAL);
	assert_int_equal(tio_submit(ch, &t, BDEV_IO_READ, 0, 2, NULL, 1, false), -EINVAL);
	t.io.type = (enum bdev_io_type)42;
	assert_int_equal(bdev_submit(ch, &t.io), -EINVAL);
	/* NVMe commands are for NVMe namespaces (passthrough) only. */
	assert_null(bdev->nvme);
	assert_int_equal(tio_submit(ch, &t, BDEV_IO_NVME, 0, 0, &iov, 1, false), -EOPNOTSUPP);
	assert_int_equal(t.completions, 0);
	bdev_channel_destroy(ch);
}

static void test_malloc_geometry(void **state)
{
	(void)state;
	assert_int_equal(bdev_malloc_create("g", 0, 512, NULL, NULL), -EINVAL);
	assert_non_null(strstr(bdev_create_errmsg(), "num_blocks"));
	assert_int_equal(bdev_malloc_create("g", 16, 1000, NULL, NULL), -EINVAL);
	assert_non_null(strstr(bdev_create_errmsg(), "block_size"));
	assert_int_equal(bdev_malloc_create("g", 16, 256, NULL, NULL), -EINVAL);
	assert_int_equal(bdev_malloc_create("g", 16, 0, NULL, NULL), -EINVAL);
	assert_int_equal(bdev_malloc_create("g", UINT64_MAX / 256, 512, NULL, NULL), -EINVAL);
	assert_int_equal(bdev_malloc_create("g", (1ull << 62) / 512, 512, NULL, NULL), -ENOMEM);
	assert_null(bdev_first());
	assert_int_equal(bdev_malloc_create("g", 16, 1024, NULL, NULL), 0);
	assert_int_equal(bdev_malloc_create("g2", 16, 65536, NULL, NULL), 0);
}

static void test_malloc_auto_name(void **state)
{
	struct bdev *a, *b, *c;

	(void)state;
	assert_int_equal(bdev_malloc_create(NULL, 16, 512, NULL, &a), 0);
	assert_int_equal(strncmp(a->name, "Malloc", 6), 0);
	/* a user who takes the next auto name does not break auto-naming */
	assert_int_equal(bdev_malloc_create("Malloc1", 16, 512, NULL, &b), 0);
	assert_int_equal(bdev_malloc_create(NULL, 16, 512, NULL, &c), 0);
	assert_string_not_equal(a->name, c->name);
	assert_string_not_equal(b->name, c->name);
}

static void test_null_io(void **state)
{
	static const size_t split[] = {512, 1536};
	size_t len = 4 * 4096;
	uint8_t *buf = malloc(len);
	struct iovec iov[2];
	struct bdev_channel *ch;
	struct bdev *bdev;
	struct tio t;
	int n;

	(void)state;
	assert_int_equal(bdev_null_create("n", 1u << 20, 4096, NULL, &bdev), 0);
	assert_string_equal(bdev->ops->product_name, "Null disk");
	/* zero-copy readers get zeros that nobody can write */
	{
		const uint8_t *z = bdev_map(bdev, 0, 4096);

		assert_non_null(z);
		for (size_t i = 0; i < 4096; i++)
			assert_int_equal(z[i], 0);
	}
	ch = bdev_channel_create(bdev, NULL);

	fill_pattern(buf, len, 3);
	n = split_iov(iov, buf, len, split, 2);
	assert_int_equal(tio_submit(ch, &t, BDEV_IO_WRITE, 100, 4, iov, n, true), 0);
	assert_int_equal(t.completions, 1);
	assert_int_equal(t.status, 0);
	/* the buffer still holds the pattern: reads must really zero it */
	assert_int_equal(tio_submit(ch, &t, BDEV_IO_READ, 100, 4, iov, n, false), 0);
	assert_int_equal(t.completions, 1);
	assert_int_equal(t.status, 0);
	assert_true(all_zero(buf, len));
	for (int type = BDEV_IO_FLUSH; type <= BDEV_IO_UNMAP; type++) {
		assert_int_equal(tio_submit(ch, &t, type, 0, 8, NULL, 0, false), 0);
		assert_int_equal(t.completions, 1);
		assert_int_equal(t.status, 0);
	}
	assert_int_equal(tio_submit(ch, &t, BDEV_IO_READ, (1u << 20) - 1, 4, iov, n, false),
			 -ERANGE);
	bdev_channel_destroy(ch);
	assert_int_equal(bdev_null_create("n2", 0, 512, NULL, NULL), -EINVAL);
	assert_int_equal(bdev_null_create("n2", 8, 768, NULL, NULL), -EINVAL);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_malloc_rw_512, teardown),
		cmocka_unit_test_teardown(test_malloc_rw_4096, teardown),
		cmocka_unit_test_teardown(test_malloc_zeroes, teardown),
		cmocka_unit_test_teardown(test_malloc_flush_fua, teardown),
		cmocka_unit_test_teardown(test_malloc_bad_io, teardown),
		cmocka_unit_test_teardown(test_malloc_geometry, teardown),
		cmocka_unit_test_teardown(test_malloc_auto_name, teardown),
		cmocka_unit_test_teardown(test_null_io, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
