/* perf devices backed by local bdevs: the direct-attached baseline, same generator. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perf.h"

static void local_done(struct bdev_io *bio, int status)
{
	perf_io_done(bio->cb_arg, status, status ? strerror(-status) : NULL);
}

static int local_chan_init(struct perf_chan *ch)
{
	ch->bch = bdev_channel_create(ch->dev->bdev, ch->w->loop);
	return ch->bch ? 0 : -ENOMEM;
}

static void local_chan_fini(struct perf_chan *ch)
{
	if (ch->bch)
		bdev_channel_destroy(ch->bch);
	ch->bch = NULL;
}

static int local_submit(struct perf_chan *ch, struct perf_io *io)
{
	struct bdev_io *bio = &io->bio;

	memset(bio, 0, sizeof(*bio));
	bio->type = io->is_read ? BDEV_IO_READ : BDEV_IO_WRITE;
	bio->offset_blocks = io->lba;
	bio->num_blocks = io->nblocks;
	bio->iov = &io->iov;
	bio->iovcnt = 1;
	bio->cb = local_done;
	bio->cb_arg = io;
	return bdev_submit(ch->bch, bio);
}

static int local_poll(struct perf_chan *ch)
{
	/* Completions arrive inline (ram, null) or through the worker's event loop (file). */
	(void)ch;
	return 0;
}

const struct perf_dev_ops perf_local_ops = {
	.kind = "local",
	.chan_init = local_chan_init,
	.chan_fini = local_chan_fini,
	.submit = local_submit,
	.poll = local_poll,
};

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (!*s)
		return -EINVAL;
	v = strtoul(s, &end, 10);
	if (*end || v == 0 || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int perf_local_create(const char *spec, int index, struct perf_dev *dev, char *err, size_t err_len)
{
	char kind[8], arg[512], name[32];
	const char *colon = strchr(spec, ':'), *last;
	uint32_t block = 4096, size_mb = 0;
	struct bdev *bdev = NULL;
	bool block_given = false;
	int rc;

	if (!colon || (size_t)(colon - spec) >= sizeof(kind)) {
		snprintf(err, err_len, "'%s': expected ram:SIZE_MB[:BLOCK], null:SIZE_MB[:BLOCK] or file:PATH[:BLOCK]", spec);
		return -EINVAL;
	}
	memcpy(kind, spec, (size_t)(colon - spec));
	kind[colon - spec] = '\0';
	snprintf(arg, sizeof(arg), "%s", colon + 1);
	/* A trailing :BLOCK (a number) is the block size; a file path may contain colons. */
	last = strrchr(arg, ':');
	if (last && parse_u32(last + 1, &block) == 0) {
		arg[last - arg] = '\0';
		block_given = true;
	} else if (last && strcmp(kind, "file") != 0) {
		snprintf(err, err_len, "'%s': bad block size '%s'", spec, last + 1);
		return -EINVAL;
	}
	snprintf(name, sizeof(name), "%s%d", kind, index);
	if (strcmp(kind, "ram") == 0 || strcmp(kind, "null") == 0) {
		if (parse_u32(arg, &size_mb)) {
			snprintf(err, err_len, "'%s': bad size '%s' (MiB)", spec, arg);
			return -EINVAL;
		}
		if (((uint64_t)size_mb << 20) % block) {
			snprintf(err, err_len, "'%s': size is not a multiple of the block size", spec);
			return -EINVAL;
		}
		rc = (kind[0] == 'r' ? bdev_malloc_create : bdev_null_create)(
			name, ((uint64_t)size_mb << 20) / block, block, NULL, &bdev);
	} else if (strcmp(kind, "file") == 0) {
		if (!arg[0]) {
			snprintf(err, err_len, "'%s': missing path", spec);
			return -EINVAL;
		}
		rc = bdev_file_create(name, arg, block_given ? block : 0, NULL, &bdev);
	} else {
		snprintf(err, err_len, "'%s': unknown kind '%s' (ram, null or file)", spec, kind);
		return -EINVAL;
	}
	if (rc) {
		snprintf(err, err_len, "'%s': cannot create the bdev: %s", spec, strerror(-rc));
		return rc;
	}
	memset(dev, 0, sizeof(*dev));
	snprintf(dev->name, sizeof(dev->name), "LOCAL %s (%s)", name, spec);
	dev->block_size = bdev->block_size;
	dev->num_blocks = bdev->num_blocks;
	dev->max_io = UINT32_MAX;
	dev->ops = &perf_local_ops;
	dev->bdev = bdev;
	return 0;
}
