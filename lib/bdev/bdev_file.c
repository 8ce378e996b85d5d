/*
 * File backend, creation side: opens a regular file or a block device, works out its
 * geometry and whether O_DIRECT is usable, and registers the bdev. The I/O path is in
 * bdev_file_io.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bdev/bdev_file.h"
#include "bdev/bdev_internal.h"
#include "util/log.h"

/* Alignments tried for O_DIRECT, smallest first: the first that the file accepts is the
 * granularity below which I/O must go through the page cache instead. */
static const uint32_t bdev_file_dio_candidates[] = {512, 1024, 2048, 4096};

static void *bdev_file_zero_buf;
static unsigned bdev_file_zero_refs;

int bdev_file_zeros_get(void)
{
	if (bdev_file_zero_refs == 0) {
		if (posix_memalign(&bdev_file_zero_buf, 4096, BDEV_FILE_ZERO_CHUNK))
			return -ENOMEM;
		memset(bdev_file_zero_buf, 0, BDEV_FILE_ZERO_CHUNK);
	}
	bdev_file_zero_refs++;
	return 0;
}

void bdev_file_zeros_put(void)
{
	if (--bdev_file_zero_refs == 0) {
		free(bdev_file_zero_buf);
		bdev_file_zero_buf = NULL;
	}
}

const void *bdev_file_zeros(void)
{
	return bdev_file_zero_buf;
}

static void bdev_file_close(struct bdev_file *f)
{
	if (f->map)
		munmap((void *)f->map, f->map_len);
	f->map = NULL;
	if (f->fd_direct >= 0)
		close(f->fd_direct);
	if (f->fd >= 0)
		close(f->fd);
	f->fd = f->fd_direct = -1;
}

/* A memory-backed file: map it for zero-copy reads (without the map, reads are copies). */
static void bdev_file_map_memory(struct bdev_file *f, const char *name, uint64_t size)
{
	void *p;

	if (size > SIZE_MAX)
		return;
	p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, f->fd, 0);
	if (p == MAP_FAILED) {
		log_notice("bdev %s: cannot map %s (%s): reads are copied", name, f->path,
			   strerror(errno));
		return;
	}
	f->map = p;
	f->map_len = size;
	f->bdev.map_may_fault = true;
}

static void bdev_file_destroy(struct bdev *bdev)
{
	struct bdev_file *f = bdev->ctx;

	/* Whatever went through the page cache, and the device cache, reaches the media. */
	if (fdatasync(f->fd) < 0)
		log_error("bdev %s: fdatasync %s: %s", bdev->name, f->path, strerror(errno));
	bdev_file_close(f);
	bdev_file_zeros_put();
	free(f);
}

static void bdev_file_dump_config(struct bdev *bdev, void *json_params)
{
	struct bdev_file *f = bdev->ctx;
	struct json_object *o = json_params;

	json_object_object_add(o, "filename", json_object_new_string(f->path));
	if (f->flavor == BDEV_FILE_AIO) {
		json_object_object_add(o, "block_size_override",
				       json_object_new_boolean(f->block_size_override));
		json_object_object_add(o, "readonly", json_object_new_boolean(0));
		json_object_object_add(o, "fallocate", json_object_new_boolean(0));
	}
	if (f->flavor == BDEV_FILE_XNVME) {
		json_object_object_add(o, "io_mechanism", json_object_new_string(f->io_mechanism));
		json_object_object_add(o, "conserve_cpu", json_object_new_boolean(f->conserve_cpu));
	}
}

static void *bdev_file_map(struct bdev *bdev, uint64_t offset, uint64_t len)
{
	struct bdev_file *f = bdev->ctx;

	if (!f->map || offset > f->map_len || len > f->map_len - offset)
		return NULL;
	return (void *)(f->map + offset);
}

/* One backend, three SPDK method families: only the names differ. */
#define BDEV_FILE_OPS(product, driver) {                                                   \
		.product_name = product,                                                   \
		.driver_name = driver,                                                     \
		.channel_create = bdev_file_channel_create,                                \
		.channel_destroy = bdev_file_channel_destroy,                              \
		.submit = bdev_file_submit,                                                \
		.map = bdev_file_map,                                                      \
		.destroy = bdev_file_destroy,                                              \
		.dump_config = bdev_file_dump_config,                                      \
	}

static const struct bdev_ops bdev_file_uring_ops = BDEV_FILE_OPS("URING bdev", "uring");
static const struct bdev_ops bdev_file_aio_ops = BDEV_FILE_OPS("AIO disk", "aio");
static const struct bdev_ops bdev_file_xnvme_ops = BDEV_FILE_OPS("xNVMe bdev", "xnvme");

static const struct bdev_ops *bdev_file_ops_of(enum bdev_file_flavor flavor)
{
	switch (flavor) {
	case BDEV_FILE_AIO:
		return &bdev_file_aio_ops;
	case BDEV_FILE_XNVME:
		return &bdev_file_xnvme_ops;
	case BDEV_FILE_URING:
		break;
	}
	return &bdev_file_uring_ops;
}

const struct bdev_file *bdev_file_get(const struct bdev *bdev)
{
	if (bdev->ops != &bdev_file_uring_ops && bdev->ops != &bdev_file_aio_ops &&
	    bdev->ops != &bdev_file_xnvme_ops)
		return NULL;
	return bdev->ctx;
}

/* Size in bytes and logical block size (0 for a regular file: any block size works). */
static int bdev_file_geometry(struct bdev_file *f, const char *name, uint64_t *size,
			      uint32_t *detected)
{
	struct stat st;

	if (fstat(f->fd, &st) < 0)
		return bdev_create_fail(-errno, "bdev %s: stat %s: %s", name, f->path,
					strerror(errno));
	if (S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
		*detected = 0;
		return 0;
	}
	if (S_ISBLK(st.st_mode)) {
		int ssz;

		f->is_blkdev = true;
		if (ioctl(f->fd, BLKGETSIZE64, size) < 0 || ioctl(f->fd, BLKSSZGET, &ssz) < 0)
			return bdev_create_fail(-errno, "bdev %s: cannot read the geometry of %s: %s",
						name, f->path, strerror(errno));
		*detected = (uint32_t)ssz;
		return 0;
	}
	return bdev_create_fail(-EINVAL, "bdev %s: filename: %s is neither a regular file nor a "
				"block device", name, f->path);
}

static int bdev_file_pick_block_size(const char *name, const char *path, uint32_t given,
				     uint32_t detected, uint32_t *out)
{
	if (given == 0) {
		*out = detected ? detected : BDEV_BLOCK_SIZE_MIN;
		return bdev_check_block_size(name, *out);
	}
	if (given < detected)
		return bdev_create_fail(-EINVAL, "bdev %s: block_size %u is smaller than the "
					"logical block size %u of %s", name, given, detected, path);
	if (detected && given != detected)
		log_warn("bdev %s: block_size %u differs from the logical block size %u of %s",
			 name, given, detected, path);
	*out = given;
	return bdev_check_block_size(name, given);
}

/*
 * For kernels or file systems that do not report their O_DIRECT rules: reading block 0 with
 * buffers of growing alignment finds the granularity empirically (the kernel checks alignment
 * before it looks at the file size, and a non-empty file has block 0). A hole reads without
 * any check, so on a sparse file this can answer too small; the I/O path then retries what
 * O_DIRECT refuses through the page cache, which costs time, never correctness.
 */
static uint32_t bdev_file_probe_direct(int fd)
{
	uint32_t found = 0;
	uint8_t *buf;

	if (posix_memalign((void **)&buf, 8192, 8192))
		return 0;
	for (size_t i = 0; i < sizeof(bdev_file_dio_candidates) / sizeof(uint32_t); i++) {
		uint32_t a = bdev_file_dio_candidates[i];
		/* Aligned to exactly a (not more), so that memory alignment is tested too. */
		uint8_t *p = a < 8192 ? buf + a : buf;

		if (pread(fd, p, a, 0) >= 0) {
			found = a;
			break;
		}
		if (errno != EINVAL)
			break;
	}
	free(buf);
	return found;
}

/* The file system's own answer (statx DIOALIGN, Linux 6.1+), else the probe. 0: no O_DIRECT. */
static uint32_t bdev_file_dio_align(int fd)
{
	struct statx stx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		if (!stx.stx_dio_offset_align || !stx.stx_dio_mem_align)
			return 0;
		return stx.stx_dio_mem_align > stx.stx_dio_offset_align ? stx.stx_dio_mem_align :
									    stx.stx_dio_offset_align;
	}
	return bdev_file_probe_direct(fd);
}

static void bdev_file_open_direct(struct bdev_file *f, const char *name)
{
	int fd = open(f->path, O_RDWR | O_DIRECT | O_CLOEXEC);
	uint32_t align;

	if (fd < 0) {
		log_notice("bdev %s: %s does not support O_DIRECT (%s): using the page cache",
			   name, f->path, strerror(errno));
		return;
	}
	align = bdev_file_dio_align(fd);
	if (!align || (align & (align - 1))) {
		log_notice("bdev %s: no usable O_DIRECT alignment for %s: using the page cache",
			   name, f->path);
		close(fd);
		return;
	}
	if (align > f->bdev.block_size)
		log_notice("bdev %s: O_DIRECT on %s needs %u-byte alignment, more than the block "
			   "size %u: smaller I/O goes through the page cache", name, f->path, align,
			   f->bdev.block_size);
	f->fd_direct = fd;
	f->dio_align = align;
}

/* A regular file whose data lives in memory only: its I/O is a copy, never a wait. */
static bool bdev_file_memory_backed(const struct bdev_file *f)
{
	struct statfs sfs;

	if (f->is_blkdev || fstatfs(f->fd, &sfs) < 0)
		return false;
	return sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC;
}

int bdev_file_create_flavor(const char *name, const char *path, uint32_t block_size,
			    const char *uuid, enum bdev_file_flavor flavor, struct bdev **out)
{
	uint32_t detected = 0;
	struct bdev_file *f;
	uint64_t size = 0;
	int rc;

	rc = bdev_check_name(name);
	if (!rc)
		rc = bdev_check_path(name, path, sizeof(f->path));
	if (rc)
		return rc;
	if (block_size && (rc = bdev_check_block_size(name, block_size)))
		return rc;

	f = calloc(1, sizeof(*f));
	if (!f)
		return bdev_create_fail(-ENOMEM, "bdev %s: out of memory", name);
	snprintf(f->path, sizeof(f->path), "%s", path);
	f->flavor = flavor;
	f->fd_direct = -1;
	f->block_size_override = block_size != 0;
	f->fd = open(path, O_RDWR | O_CLOEXEC);
	if (f->fd < 0) {
		rc = bdev_create_fail(-errno, "bdev %s: cannot open %s read-write: %s", name, path,
				      strerror(errno));
		goto fail;
	}
	rc = bdev_file_geometry(f, name, &size, &detected);
	if (!rc)
		rc = bdev_file_pick_block_size(name, path, block_size, detected, &block_size);
	if (rc)
		goto fail;
	if (size == 0) {
		rc = bdev_create_fail(-EINVAL, "bdev %s: %s is empty", name, path);
		goto fail;
	}
	if (size % block_size) {
		rc = bdev_create_fail(-EINVAL, "bdev %s: size %llu of %s is not a multiple of the "
				      "block size %u", name, (unsigned long long)size, path,
				      block_size);
		goto fail;
	}
	f->bdev.block_size = block_size;
	f->inline_io = bdev_file_memory_backed(f);
	/* (tmpfs takes O_DIRECT since Linux 6.6, as a plain copy: nothing to gain from it.) */
	if (!f->inline_io)
		bdev_file_open_direct(f, name);
	else
		bdev_file_map_memory(f, name, size);
	/*
	 * Reported even with O_DIRECT: unaligned I/O still goes through the page cache, and the
	 * device below may have a volatile cache of its own. A host that flushes loses nothing.
	 */
	f->bdev.write_cache = true;
	rc = bdev_file_zeros_get();
	if (rc) {
		rc = bdev_create_fail(rc, "bdev %s: out of memory", name);
		goto fail;
	}
	rc = bdev_init_and_register(&f->bdev, name, uuid, size / block_size, block_size,
				    bdev_file_ops_of(flavor), f);
	if (rc) {
		bdev_file_zeros_put();
		goto fail;
	}
	log_info("bdev %s: %s %s, %s", name, f->is_blkdev ? "block device" : "file", path,
		 f->fd_direct >= 0 ? "O_DIRECT" :
		 f->map ? "in memory (reads from a mapping, synchronous writes, no io_uring)" :
		 f->inline_io ? "in memory (synchronous copies, no io_uring)" : "buffered");
	if (out)
		*out = &f->bdev;
	return 0;

fail:
	bdev_file_close(f);
	free(f);
	return rc;
}

int bdev_file_rescan(const char *name, enum bdev_file_flavor flavor)
{
	struct bdev *bdev = bdev_lookup(name);
	struct bdev_file *f = bdev && bdev_file_get(bdev) ? bdev->ctx : NULL;
	uint32_t detected;
	uint64_t size;
	int rc;

	if (!f || f->flavor != flavor)
		return bdev_create_fail(-ENODEV, "bdev %s: no such %s bdev", name,
					bdev_file_ops_of(flavor)->driver_name);
	rc = bdev_file_geometry(f, name, &size, &detected);
	if (rc)
		return rc;
	/* Whole blocks only, as at creation; a partial block at the end stays out of reach. */
	if (size / bdev->block_size == 0)
		return bdev_create_fail(-EINVAL, "bdev %s: %s is now smaller than a block", name,
					f->path);
	bdev_notify_resize(bdev, size / bdev->block_size);
	return 0;
}

int bdev_file_create(const char *name, const char *path, uint32_t block_size,
		     const char *uuid, struct bdev **out)
{
	return bdev_file_create_flavor(name, path, block_size, uuid, BDEV_FILE_URING, out);
}
