/*
 * Helpers shared by the bdev registry and its backends; not part of the public interface.
 */
#ifndef NVFAB_BDEV_BDEV_INTERNAL_H
#define NVFAB_BDEV_BDEV_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "bdev/bdev.h"

/* Block sizes the NVMe LBA format can describe (LBADS is a power of two) and that the page
 * cache and O_DIRECT handle without surprises. */
#define BDEV_BLOCK_SIZE_MIN 512u
#define BDEV_BLOCK_SIZE_MAX 65536u

/*
 * Creation failures: logs the message once and keeps it so that the RPC layer can return it
 * to the client verbatim. Returns err (a negative errno) for `return bdev_create_fail(...)`.
 */
int bdev_create_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The message of the last failed creation (control thread only). */
const char *bdev_create_errmsg(void);

/* Checks what every backend needs before allocating: a usable, free name, a supported block
 * size, a non-empty size that fits in memory arithmetic. Logs through bdev_create_fail. */
int bdev_check_name(const char *name);
int bdev_check_block_size(const char *name, uint32_t block_size);
/* A backing path given, and fitting in size bytes with its NUL. */
int bdev_check_path(const char *name, const char *path, size_t size);
int bdev_check_geometry(const char *name, uint64_t num_blocks, uint32_t block_size);

/* Fills the identity fields and registers. On failure nothing is registered. */
int bdev_init_and_register(struct bdev *bdev, const char *name, const char *uuid,
			   uint64_t num_blocks, uint32_t block_size,
			   const struct bdev_ops *ops, void *ctx);

/* Validates an I/O against the bdev geometry: 0, -ERANGE (outside the bdev), or -EINVAL. */
int bdev_io_check(const struct bdev *bdev, const struct bdev_io *io);

/* Data movement between a flat buffer and an iovec array. */
void bdev_iov_from_buf(const struct iovec *iov, int iovcnt, const void *buf, size_t len);
void bdev_iov_to_buf(const struct iovec *iov, int iovcnt, void *buf, size_t len);
void bdev_iov_zero(const struct iovec *iov, int iovcnt);

/* A channel with no per-thread state, for backends that complete inline (ram, null). */
struct bdev_channel *bdev_plain_channel_create(struct bdev *bdev, struct evloop *loop);
void bdev_plain_channel_destroy(struct bdev_channel *ch);

#endif
