/*
 * Block devices: one asynchronous interface in front of every backend (ram, null, file via
 * io_uring, an NVMe namespace through io_uring passthrough; later a remote namespace through
 * libnvfab). The NVMe target maps namespaces onto bdevs; `nvfab perf --local` drives the same
 * interface for the direct-attached baseline.
 *
 * Threading: the registry (create, delete, lookup) belongs to the control thread. I/O goes
 * through a per-thread channel (struct bdev_channel), so a data reactor never shares backend
 * state with another: ram/null complete inline, the file backend owns one io_uring per channel.
 *
 * The caller owns struct bdev_io (embedded in its own request struct): submitting allocates
 * nothing.
 */
#ifndef NVFAB_BDEV_BDEV_H
#define NVFAB_BDEV_BDEV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util/list.h"

struct bdev;
struct bdev_channel;
struct bdev_io;
struct evloop;
struct nvme_sqe;

enum bdev_io_type {
	BDEV_IO_READ,
	BDEV_IO_WRITE,
	BDEV_IO_FLUSH,
	BDEV_IO_WRITE_ZEROES,
	BDEV_IO_UNMAP, /* deallocate: reads of the range return zeros afterwards */
	/* An NVMe I/O command executed by the device itself, with its own semantics and
	 * status: only on bdevs whose `nvme` is set (NVMe passthrough). */
	BDEV_IO_NVME,
};

/*
 * status: 0 on success, negative errno on failure (-EIO for media errors), or, from backends
 * that are NVMe devices (bdev.nvme set, any I/O type), a positive NVMe status field as the
 * device completed it (CQE status >> 1: SC, SCT, CRD, M, DNR), to be passed on unchanged.
 */
typedef void (*bdev_io_cb)(struct bdev_io *io, int status);

struct bdev_io {
	enum bdev_io_type type;
	bool fua;               /* WRITE: reach stable storage before completing */
	uint64_t offset_blocks;
	uint64_t num_blocks;
	struct iovec *iov;      /* READ/WRITE data; total length == num_blocks * block_size */
	int iovcnt;
	bdev_io_cb cb;
	void *cb_arg;
	/* BDEV_IO_NVME: the command as the host sent it (offset_blocks/num_blocks unused); the
	 * backend sets its own NSID and data pointer, and iov/iovcnt carry the data. */
	const struct nvme_sqe *nvme_cmd;
	/* The allocation iov[0] lies in, for backends that register memory with the kernel
	 * (io_uring fixed buffers): a nonzero key names one allocation for good, never a later
	 * one at the same address. 0: unknown (nothing is registered). */
	uint64_t mem_key;
	void *mem_base;
	uint32_t mem_len;
	/* Backend-private scratch, so that backends need no per-I/O allocation. */
	uint64_t priv[6];
};

/* What Identify reports of a bdev that is an NVMe namespace (passthrough): the device's own
 * values where they differ from what nvfab emulates. */
struct bdev_nvme_info {
	uint8_t dlfeat;  /* Identify Namespace DLFEAT */
};

struct bdev_ops {
	const char *product_name;  /* as SPDK reports it: "Malloc disk", "Null disk", ... */
	const char *driver_name;   /* bdev_get_bdevs "driver_specific" key: "malloc", "null", "uring" */
	/* Per-thread channel. loop is the thread's event loop (for completion fds/pollers). */
	struct bdev_channel *(*channel_create)(struct bdev *bdev, struct evloop *loop);
	void (*channel_destroy)(struct bdev_channel *ch);
	/* Must call io->cb exactly once, possibly before returning. Returns 0, or -errno if the
	 * I/O was not accepted (then cb is not called). */
	int (*submit)(struct bdev_channel *ch, struct bdev_io *io);
	/* Optional: pointer to the stored bytes of [offset, offset+len) for zero-copy reads;
	 * NULL if the backend has no memory image (file) or stores nothing (null). */
	void *(*map)(struct bdev *bdev, uint64_t offset_bytes, uint64_t len);
	/* Flushes to stable storage and releases backend resources. */
	void (*destroy)(struct bdev *bdev);
	/* Adds backend fields to a bdev_get_bdevs / save_config entry (json-c object). */
	void (*dump_config)(struct bdev *bdev, void *json_params);
};

struct bdev {
	char name[64];
	char uuid[37];          /* RFC 4122 text form */
	uint8_t uuid_bytes[16];
	uint32_t block_size;    /* 512 or 4096 */
	uint64_t num_blocks;    /* changed by bdev_notify_resize(): other threads read bdev_num_blocks() */
	uint32_t phys_block_size;       /* bytes; 0: the same as block_size */
	uint32_t optimal_io_boundary;   /* blocks; 0: none */
	bool write_cache;       /* volatile write cache present (file without O_DIRECT/O_DSYNC) */
	/* map() points into a file that another process may truncate: the kernel's copies out of
	 * it then fail with EFAULT, but user-space reads of it (a data digest) would fault. */
	bool map_may_fault;
	/* Non-NULL: an NVMe namespace that executes BDEV_IO_NVME commands itself and completes
	 * every I/O with the device's own NVMe status. */
	const struct bdev_nvme_info *nvme;
	const struct bdev_ops *ops;
	void *ctx;              /* backend state */
	int claims;             /* namespaces using it; a claimed bdev is not deleted silently */
	int retiring;           /* of those, namespaces already removed, letting go of it */
	bool removing;          /* deleted: off the registry, destroyed when the last claim goes */
	struct list_node link;  /* registry */
};

struct bdev_channel {
	struct bdev *bdev;
	/* backend channels embed this as their first member */
};

/* ---- registry (control thread) ---- */
int bdev_register(struct bdev *bdev);        /* -EEXIST if the name is taken */
void bdev_unregister(struct bdev *bdev);
struct bdev *bdev_lookup(const char *name);   /* by name or by UUID text */
/* Iteration in creation order; returns NULL at the end. */
struct bdev *bdev_first(void);
struct bdev *bdev_next(struct bdev *bdev);
/*
 * Unregisters and destroys. -EBUSY while a namespace claims it; when the only claims left are
 * namespaces already removed (retiring: their reactors are letting go), the name is free at
 * once and the bdev is destroyed when the last of them goes (as SPDK's scripts expect after
 * nvmf_subsystem_remove_ns or nvmf_delete_subsystem).
 */
int bdev_delete(const char *name);
/* The same for a bdev in hand (the name may already belong to another one). */
int bdev_remove(struct bdev *bdev);
/* Destroys every bdev (shutdown): flushes file bdevs. */
void bdev_destroy_all(void);
/*
 * Hot removal: the bdev's device went away (a remote namespace was deleted). Unclaimed, it is
 * deleted now; claimed, the remove handler is asked to let go of it (the target removes the
 * namespaces on it, which tells their hosts), and it is deleted when the last claim goes.
 */
void bdev_hot_remove(struct bdev *bdev);
/* Who claims bdevs (the target) learns of hot removals here. */
void bdev_set_remove_handler(void (*fn)(struct bdev *bdev));
/*
 * The backend's capacity changed (a null bdev resized, a file grown, a remote namespace
 * resized): num_blocks follows, and the resize handler (the target) tells the hosts of the
 * namespaces on it (Namespace Attribute Changed). Control thread. A shrink is applied too: it
 * is the device's word, and I/O past the new end would fail there anyway.
 */
void bdev_notify_resize(struct bdev *bdev, uint64_t num_blocks);
void bdev_set_resize_handler(void (*fn)(struct bdev *bdev));
/* num_blocks as the data path reads it: the control thread may resize the bdev meanwhile. */
static inline uint64_t bdev_num_blocks(const struct bdev *bdev)
{
	return __atomic_load_n(&bdev->num_blocks, __ATOMIC_RELAXED);
}
/* A claim is taken by incrementing claims; a retiring one (retiring incremented too) is dropped
 * with this, which completes a deletion. */
void bdev_release(struct bdev *bdev);

/* Generates a random UUID, or parses the text form if uuid_text != NULL. */
int bdev_set_uuid(struct bdev *bdev, const char *uuid_text);

/* ---- backends: create and register; return 0 and *out, or -errno with a message logged ---- */
int bdev_malloc_create(const char *name, uint64_t num_blocks, uint32_t block_size,
		       const char *uuid, struct bdev **out);
int bdev_null_create(const char *name, uint64_t num_blocks, uint32_t block_size,
		     const char *uuid, struct bdev **out);
/* SPDK's bdev_null_resize: the new size in MiB, not smaller than the current one. -ENODEV: no
 * null bdev of that name; -EINVAL: smaller, or not a whole number of blocks (message logged). */
int bdev_null_resize(const char *name, uint64_t new_size_mib);
/* A regular file or a block device, asynchronous through io_uring. block_size 0 = detect
 * (logical block size of a block device, 512 for a file). O_DIRECT is used when the file system
 * supports it; otherwise buffered I/O with a volatile write cache (Flush = fdatasync). A file
 * on tmpfs or ramfs is read and written synchronously (a memory copy that never waits). */
int bdev_file_create(const char *name, const char *path, uint32_t block_size,
		     const char *uuid, struct bdev **out);
/* An NVMe namespace through its generic character device (/dev/ngXnY), NVMe commands sent
 * with io_uring passthrough (Linux 5.19+). Geometry from the device's Identify Namespace. */
int bdev_passthru_create(const char *name, const char *path, bool conserve_cpu,
			 const char *uuid, struct bdev **out);

/* ---- I/O ---- */
static inline struct bdev_channel *bdev_channel_create(struct bdev *bdev, struct evloop *loop)
{
	return bdev->ops->channel_create(bdev, loop);
}

static inline void bdev_channel_destroy(struct bdev_channel *ch)
{
	ch->bdev->ops->channel_destroy(ch);
}

static inline int bdev_submit(struct bdev_channel *ch, struct bdev_io *io)
{
	return ch->bdev->ops->submit(ch, io);
}

static inline void *bdev_map(struct bdev *bdev, uint64_t offset, uint64_t len)
{
	return bdev->ops->map ? bdev->ops->map(bdev, offset, len) : NULL;
}

#endif
