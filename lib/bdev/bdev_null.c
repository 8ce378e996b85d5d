/*
 * Null disk: stores nothing. Writes are discarded and reads return zeros: submitted reads fill
 * the caller's buffers, and zero-copy readers (the target) get a shared read-only zero region,
 * so that a protocol benchmark measures the stack, not memset. (SPDK's null bdev hands out a
 * global zero buffer in the same way.)
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "bdev/bdev_internal.h"
#include "util/log.h"

static int bdev_null_submit(struct bdev_channel *ch, struct bdev_io *io)
{
	int rc = bdev_io_check(ch->bdev, io);

	if (rc)
		return rc;
	if (io->type == BDEV_IO_READ)
		bdev_iov_zero(io->iov, io->iovcnt);
	io->cb(io, 0);
	return 0;
}

static void bdev_null_destroy(struct bdev *bdev)
{
	free(bdev);
}

/* Anonymous and never written: every page maps the kernel's zero page, so it costs no memory.
 * Covers the largest transfer the target allows (8 MiB). */
#define BDEV_NULL_ZERO_SIZE (8u << 20)
static void *bdev_null_zeros;

static void *bdev_null_map(struct bdev *bdev, uint64_t offset, uint64_t len)
{
	(void)bdev;
	(void)offset;
	return len <= BDEV_NULL_ZERO_SIZE ? bdev_null_zeros : NULL;
}

static const struct bdev_ops bdev_null_ops = {
	.product_name = "Null disk",
	.driver_name = "null",
	.channel_create = bdev_plain_channel_create,
	.channel_destroy = bdev_plain_channel_destroy,
	.submit = bdev_null_submit,
	.map = bdev_null_map,
	.destroy = bdev_null_destroy,
	.dump_config = NULL,
};

int bdev_null_resize(const char *name, uint64_t new_size_mib)
{
	struct bdev *bdev = bdev_lookup(name);
	uint64_t cur_mib, blocks;
	int rc;

	if (!bdev || bdev->ops != &bdev_null_ops)
		return bdev_create_fail(-ENODEV, "bdev %s: no such null bdev", name);
	/* SPDK compares whole MiB: a size that is not whole MiB may be "resized" to itself. */
	cur_mib = bdev->num_blocks * bdev->block_size / (1024 * 1024);
	if (new_size_mib < cur_mib)
		return bdev_create_fail(-EINVAL, "bdev %s: new_size %llu MiB is smaller than the "
					"current %llu MiB: a null bdev only grows", name,
					(unsigned long long)new_size_mib, (unsigned long long)cur_mib);
	if (new_size_mib > UINT64_MAX / (1024 * 1024) / bdev->block_size)
		return bdev_create_fail(-EINVAL, "bdev %s: new_size %llu MiB is too large", name,
					(unsigned long long)new_size_mib);
	blocks = new_size_mib * 1024 * 1024 / bdev->block_size;
	rc = bdev_check_geometry(name, blocks, bdev->block_size);
	if (rc)
		return rc;
	bdev_notify_resize(bdev, blocks);
	return 0;
}

int bdev_null_create(const char *name, uint64_t num_blocks, uint32_t block_size,
		     const char *uuid, struct bdev **out)
{
	struct bdev *bdev;
	int rc;

	rc = bdev_check_name(name);
	if (!rc)
		rc = bdev_check_geometry(name, num_blocks, block_size);
	if (rc)
		return rc;
	if (!bdev_null_zeros) {
		/* Created on the control thread before any reactor can map a null bdev. */
		void *p = mmap(NULL, BDEV_NULL_ZERO_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return bdev_create_fail(-ENOMEM, "bdev %s: cannot map the zero region", name);
		bdev_null_zeros = p;
	}
	bdev = calloc(1, sizeof(*bdev));
	if (!bdev)
		return bdev_create_fail(-ENOMEM, "bdev %s: out of memory", name);
	rc = bdev_init_and_register(bdev, name, uuid, num_blocks, block_size, &bdev_null_ops, NULL);
	if (rc) {
		free(bdev);
		return rc;
	}
	if (out)
		*out = bdev;
	return 0;
}
