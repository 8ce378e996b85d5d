/*
 * File backend internals, shared by its creation code (bdev_file.c), its I/O path
 * (bdev_file_io.c) and the RPC layer, which needs the path and the flavor for save_config.
 *
 * One backend serves both SPDK method families: bdev_uring_create and bdev_aio_create build the
 * same io_uring bdev, and the flavor only decides how it reports and saves itself.
 */
#ifndef NVFAB_BDEV_BDEV_FILE_H
#define NVFAB_BDEV_BDEV_FILE_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bdev/bdev.h"

enum bdev_file_flavor {
	BDEV_FILE_URING, /* "URING bdev", driver "uring" */
	BDEV_FILE_AIO,   /* "AIO disk", driver "aio" */
	/* "xNVMe bdev", driver "xnvme": bdev_xnvme_create with io_mechanism io_uring or libaio
	 * (io_uring_cmd is the passthrough backend, bdev_passthru.h). */
	BDEV_FILE_XNVME,
};

struct bdev_file {
	struct bdev bdev;
	char path[PATH_MAX];
	enum bdev_file_flavor flavor;
	bool is_blkdev;
	bool block_size_override; /* the creator gave block_size (saved back in the config) */
	char io_mechanism[16];    /* BDEV_FILE_XNVME: as created, for save_config */
	bool conserve_cpu;        /* BDEV_FILE_XNVME: SPDK's knob, only saved */
	int fd;                   /* buffered; always open */
	int fd_direct;            /* O_DIRECT, or -1 when the file system refuses it */
	uint32_t dio_align;       /* alignment of memory, offset and length fd_direct needs */
	/* A memory-backed file (tmpfs, ramfs): reads, writes and flushes run synchronously in
	 * the submitting thread. They never wait for a device, and these file systems cannot
	 * say "would block" (no NOWAIT in Linux 6.1), so io_uring would hand every one of them
	 * to an io-wq worker thread: a wakeup and a context switch per I/O for a memory copy. */
	bool inline_io;
	/* inline_io files are also mapped (read-only, shared): reads are sent straight from the
	 * page cache like a RAM namespace's, without a read system call or a copy. */
	const uint8_t *map;
	uint64_t map_len;
	/* Learned on first use, from any thread's channel: which fallocate modes the file
	 * system lacks, so that later zeroing goes straight to what works. */
	atomic_bool no_zero_range;
	atomic_bool no_punch_hole;
};

int bdev_file_create_flavor(const char *name, const char *path, uint32_t block_size,
			    const char *uuid, enum bdev_file_flavor flavor, struct bdev **out);

/* bdev_uring_rescan, bdev_aio_rescan: the bdev (of that flavor) takes the file's or the block
 * device's current size (bdev_notify_resize). -ENODEV: no such bdev of that flavor. */
int bdev_file_rescan(const char *name, enum bdev_file_flavor flavor);

/* NULL if bdev is not a file bdev. */
const struct bdev_file *bdev_file_get(const struct bdev *bdev);

/* ---- I/O path (bdev_file_io.c) ---- */
struct bdev_channel *bdev_file_channel_create(struct bdev *bdev, struct evloop *loop);
void bdev_file_channel_destroy(struct bdev_channel *ch);
int bdev_file_submit(struct bdev_channel *ch, struct bdev_io *io);

/* Zeros written when the file system cannot fallocate a zero range: one shared, read-only
 * buffer, taken by each file bdev while it exists. */
#define BDEV_FILE_ZERO_CHUNK (1u << 20)
int bdev_file_zeros_get(void);
void bdev_file_zeros_put(void);
const void *bdev_file_zeros(void);

/* Where `done` bytes into an iovec array falls: segment index and offset inside it. */
void bdev_file_iov_seek(const struct iovec *iov, int iovcnt, uint64_t done, int *idx,
			uint64_t *off);

#endif
