/*
 * NVMe passthrough backend internals, shared by its creation code (bdev_passthru.c), its I/O
 * path (bdev_passthru_io.c) and the RPC layer (save_config).
 *
 * The backend sends NVMe commands to a namespace through its generic character device
 * (/dev/ngXnY) with io_uring passthrough (IORING_OP_URING_CMD, NVME_URING_CMD_IO): the kernel's
 * NVMe driver keeps the device, and the block layer (bio splitting, merging, the I/O scheduler,
 * page-cache interaction) is skipped. SPDK offers the same through its xNVMe bdev with
 * io_mechanism "io_uring_cmd", whose RPC names this backend answers to.
 */
#ifndef NVFAB_BDEV_BDEV_PASSTHRU_H
#define NVFAB_BDEV_BDEV_PASSTHRU_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "bdev/bdev.h"

struct bdev_passthru {
	struct bdev bdev;
	struct bdev_nvme_info info;
	char path[PATH_MAX];
	int fd;
	uint32_t nsid;          /* the device's namespace ID (not the fabric's) */
	uint32_t max_xfer;      /* bytes per command the kernel passes to the device */
	bool conserve_cpu;      /* SPDK's knob, kept for save_config (see bdev_passthru.c) */
	/* The kernel refused a command with a registered buffer (IORING_URING_CMD_FIXED came
	 * in Linux 6.1): every channel maps user memory per command instead. */
	bool no_fixed_buffers;
};

const struct bdev_passthru *bdev_passthru_get(const struct bdev *bdev);

/* ---- I/O path (bdev_passthru_io.c) ---- */
struct bdev_channel *bdev_passthru_channel_create(struct bdev *bdev, struct evloop *loop);
void bdev_passthru_channel_destroy(struct bdev_channel *ch);
int bdev_passthru_submit(struct bdev_channel *ch, struct bdev_io *io);

/*
 * At creation: one command each way through a scratch ring (a one-block read of LBA 0, with
 * a registered buffer and then without), so that a kernel lacking passthrough, or lacking
 * registered buffers for it, is found before the bdev exists. Returns 0 or -errno with a
 * message logged through bdev_create_fail; sets no_fixed_buffers.
 */
int bdev_passthru_probe(struct bdev_passthru *p, const char *name);

#endif
