/*
 * Null disk: stores nothing. Writes are discarded and reads return zeros (filled for real,
 * so that a host never sees stale buffer contents). Measures the stack without media cost.
 */
#include <errno.h>
#include <stdlib.h>

#include "bdev/bdev_internal.h"
#include "util/log.h"

static struct bdev_channel *bdev_null_channel_create(struct bdev *bdev, struct evloop *loop)
{
	struct bdev_channel *ch = calloc(1, sizeof(*ch));

	(void)loop;
	if (!ch) {
		log_error("bdev %s: cannot allocate a channel", bdev->name);
		return NULL;
	}
	ch->bdev = bdev;
	return ch;
}

static void bdev_null_channel_destroy(struct bdev_channel *ch)
{
	free(ch);
}

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

static const struct bdev_ops bdev_null_ops = {
	.product_name = "Null disk",
	.driver_name = "null",
	.channel_create = bdev_null_channel_create,
	.channel_destroy = bdev_null_channel_destroy,
	.submit = bdev_null_submit,
	.map = NULL, /* no memory image: a zero-copy read would need a zero page per I/O */
	.destroy = bdev_null_destroy,
	.dump_config = NULL,
};

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
