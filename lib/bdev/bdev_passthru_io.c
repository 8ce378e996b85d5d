/*
 * NVMe passthrough backend, I/O side: one io_uring per channel (so per reactor), created with
 * 128-byte SQEs and 32-byte CQEs (IORING_SETUP_SQE128 | IORING_SETUP_CQE32) so that each SQE
 * carries a whole NVMe command (struct nvme_uring_cmd) and each CQE the device's status and
 * result dword. Like the file backend's, the ring is driven by the channel's event loop through
 * bdev_ring (batched submission per loop iteration, an eventfd for a sleeping loop).
 *
 * Status: the CQE's res is the device's NVMe status field when the command reached the device
 * (positive, passed up unchanged), or a negative errno when it did not.
 *
 * Memory: the device file is registered with the ring (no file lookup per command), and the
 * callers' buffers are registered lazily in a sparse table of BDEV_PASSTHRU_BUF_SLOTS slots,
 * keyed by bdev_io.mem_key (an allocation's lifetime name), so that the kernel pins their
 * pages once instead of per command (IORING_URING_CMD_FIXED, Linux 6.1+). A slot is replaced
 * when another allocation hashes to it; until then the kernel keeps the last allocation's
 * pages pinned, which bounds the memory so held to the slots' buffers. A command whose slot
 * changed before the kernel imported it fails with EFAULT and is reissued without the slot.
 *
 * Commands larger than the device's transfer limit (Read, Write, Compare) go as consecutive
 * pieces, as the block layer would split them; Write Zeroes and deallocation in pieces of
 * at most 65536 blocks (the NLB field).
 *
 * bdev_io.priv use: [0] progress (bytes of data for transfers, blocks for zeroing), [1] the
 * ring's wait list link, [2] the piece in flight: blocks, and flags.
 */
#include "bdev/bdev_passthru.h"

#include <errno.h>
#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/memcheck.h>
#endif
#include <stdlib.h>
#include <string.h>

#include <linux/nvme_ioctl.h>
#include <liburing.h>
#include <nvme/types.h>

#include "bdev/bdev_internal.h"
#include "bdev/bdev_ring.h"
#include "spec/nvme_cmd.h"
#include "util/evloop.h"
#include "util/log.h"

/* SQ entries per channel; the CQ is twice as large, so capping commands in flight at this
 * depth means the CQ never overflows. */
#define BDEV_PASSTHRU_RING_DEPTH 256u
#define BDEV_PASSTHRU_BUF_SLOTS 512u
#define BDEV_PASSTHRU_MAX_NLB 65536u

#define NVME_RW_FUA (1u << 30)
#define NVME_WZ_DEAC (1u << 25)

#define IO_DONE(io) ((io)->priv[0])
#define IO_PIECE(io) ((io)->priv[2])
#define IO_PIECE_FIXED (1ull << 63)
#define IO_PIECE_NO_FIXED (1ull << 62) /* the slot changed under it once: map per command */
#define IO_PIECE_BLOCKS(io) (IO_PIECE(io) & 0xffffffffull)

_Static_assert(sizeof(struct nvme_uring_cmd) == 72, "nvme_uring_cmd is 72 bytes");
_Static_assert(sizeof(struct nvme_uring_cmd) <= 128 - offsetof(struct io_uring_sqe, cmd),
	       "an NVMe command fits in a 128-byte SQE");

struct bdev_passthru_channel {
	struct bdev_channel base; /* first: the interface hands us &base */
	struct bdev_passthru *pt;
	struct bdev_ring ring;
	bool buffers_registered; /* the sparse buffer table exists */
	bool buffers_full;       /* registration failed once (memlock limit): stop trying */
	uint64_t slot_key[BDEV_PASSTHRU_BUF_SLOTS]; /* the allocation each slot holds (0: none) */
};

static struct bdev_passthru_channel *pt_ch(struct bdev_channel *ch)
{
	return (struct bdev_passthru_channel *)ch;
}

#define BDEV_PASSTHRU_RING_FLAGS (IORING_SETUP_SQE128 | IORING_SETUP_CQE32)

/* ---- command preparation ---- */

static bool pt_is_transfer(uint8_t opc)
{
	return opc == nvme_cmd_read || opc == nvme_cmd_write || opc == nvme_cmd_compare;
}

/* The registered-buffer slot that holds io's allocation, registering it if needed; -1 when
 * the command should map its memory itself. */
static int pt_buffer_slot(struct bdev_passthru_channel *ch, struct bdev_io *io)
{
	struct iovec region = { .iov_base = io->mem_base, .iov_len = io->mem_len };
	unsigned slot;
	int rc;

	if (!io->mem_key || !ch->buffers_registered || ch->buffers_full ||
	    ch->pt->no_fixed_buffers || (IO_PIECE(io) & IO_PIECE_NO_FIXED))
		return -1;
	slot = (unsigned)(io->mem_key % BDEV_PASSTHRU_BUF_SLOTS);
	if (ch->slot_key[slot] == io->mem_key)
		return (int)slot;
	rc = io_uring_register_buffers_update_tag(&ch->ring.ring, slot, &region, NULL, 1);
	if (rc < 0) {
		/* Most likely RLIMIT_MEMLOCK for an unprivileged daemon: map per command. */
		log_notice("bdev %s: cannot register a buffer with the kernel (%s): mapping buffers "
			   "per command from now on", ch->pt->bdev.name, strerror(-rc));
		ch->buffers_full = true;
		return -1;
	}
	ch->slot_key[slot] = io->mem_key;
	return (int)slot;
}

/* Data of the piece starting `done` bytes in; only single-segment data is split. */
static void pt_set_data(struct bdev_passthru_channel *ch, struct bdev_io *io,
			struct io_uring_sqe *sqe, struct nvme_uring_cmd *c, uint64_t done,
			uint32_t len)
{
	int slot;

	IO_PIECE(io) &= ~IO_PIECE_FIXED;
	if (io->iovcnt > 1) {
		/* Never split (submit checked the size); vectored commands take no fixed buffer. */
		sqe->cmd_op = NVME_URING_CMD_IO_VEC;
		c->addr = (uint64_t)(uintptr_t)io->iov;
		c->data_len = (uint32_t)io->iovcnt;
		return;
	}
	c->addr = (uint64_t)(uintptr_t)((char *)io->iov[0].iov_base + done);
	c->data_len = len;
	slot = pt_buffer_slot(ch, io);
	if (slot >= 0) {
		sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
		sqe->buf_index = (uint16_t)slot;
		IO_PIECE(io) |= IO_PIECE_FIXED;
	}
}

static uint64_t pt_bytes(const struct bdev_io *io)
{
	uint64_t len = 0;

	for (int i = 0; i < io->iovcnt; i++)
		len += io->iov[i].iov_len;
	return len;
}

/* The host's command, for this piece: its own NSID, and the LBA range of the piece. */
static void pt_prep_nvme(struct bdev_passthru_channel *ch, struct bdev_io *io,
			 struct io_uring_sqe *sqe, struct nvme_uring_cmd *c)
{
	const struct nvme_sqe *cmd = io->nvme_cmd;
	uint32_t bs = ch->pt->bdev.block_size;
	uint64_t total = pt_bytes(io);

	c->opcode = cmd->opc;
	c->cdw2 = cmd->cdw2;
	c->cdw3 = cmd->cdw3;
	c->cdw10 = cmd->cdw10;
	c->cdw11 = cmd->cdw11;
	c->cdw12 = cmd->cdw12;
	c->cdw13 = cmd->cdw13;
	c->cdw14 = cmd->cdw14;
	c->cdw15 = cmd->cdw15;
	if (total && pt_is_transfer(cmd->opc) && total > ch->pt->max_xfer && io->iovcnt == 1) {
		uint64_t slba = ((uint64_t)cmd->cdw11 << 32 | cmd->cdw10) + IO_DONE(io) / bs;
		uint64_t left = total - IO_DONE(io);
		uint32_t len = left < ch->pt->max_xfer ? (uint32_t)left : ch->pt->max_xfer;

		c->cdw10 = (uint32_t)slba;
		c->cdw11 = (uint32_t)(slba >> 32);
		c->cdw12 = (cmd->cdw12 & ~0xffffu) | (len / bs - 1);
		IO_PIECE(io) = (IO_PIECE(io) & ~0xffffffffull) | (len / bs);
		pt_set_data(ch, io, sqe, c, IO_DONE(io), len);
		return;
	}
	IO_PIECE(io) = (IO_PIECE(io) & ~0xffffffffull) | (total / bs);
	if (total)
		pt_set_data(ch, io, sqe, c, 0, (uint32_t)total);
}

/* nvfab's generic I/O types as NVMe commands. */
static void pt_prep_generic(struct bdev_passthru_channel *ch, struct bdev_io *io,
			    struct io_uring_sqe *sqe, struct nvme_uring_cmd *c)
{
	uint32_t bs = ch->pt->bdev.block_size;
	uint64_t slba, left, n;

	switch (io->type) {
	case BDEV_IO_READ:
	case BDEV_IO_WRITE:
		c->opcode = io->type == BDEV_IO_READ ? nvme_cmd_read : nvme_cmd_write;
		slba = io->offset_blocks + IO_DONE(io) / bs;
		left = io->num_blocks * bs - IO_DONE(io);
		n = left < ch->pt->max_xfer ? left : ch->pt->max_xfer;
		c->cdw10 = (uint32_t)slba;
		c->cdw11 = (uint32_t)(slba >> 32);
		c->cdw12 = (uint32_t)(n / bs - 1) | (io->fua ? NVME_RW_FUA : 0);
		IO_PIECE(io) = (IO_PIECE(io) & ~0xffffffffull) | (n / bs);
		pt_set_data(ch, io, sqe, c, IO_DONE(io), (uint32_t)n);
		return;
	case BDEV_IO_FLUSH:
		c->opcode = nvme_cmd_flush;
		return;
	case BDEV_IO_WRITE_ZEROES:
	case BDEV_IO_UNMAP:
		/* Deallocation as Write Zeroes with DEAC: the device may deallocate, and the
		 * range reads as zeros afterwards whatever its DLFEAT says. */
		c->opcode = nvme_cmd_write_zeroes;
		slba = io->offset_blocks + IO_DONE(io);
		left = io->num_blocks - IO_DONE(io);
		n = left < BDEV_PASSTHRU_MAX_NLB ? left : BDEV_PASSTHRU_MAX_NLB;
		c->cdw10 = (uint32_t)slba;
		c->cdw11 = (uint32_t)(slba >> 32);
		c->cdw12 = (uint32_t)(n - 1) | (io->type == BDEV_IO_UNMAP ? NVME_WZ_DEAC : 0);
		IO_PIECE(io) = (IO_PIECE(io) & ~0xffffffffull) | n;
		return;
	case BDEV_IO_NVME:
		break;
	}
}

static void pt_prep(void *ctx, struct bdev_io *io, struct io_uring_sqe *sqe)
{
	struct bdev_passthru_channel *ch = ctx;
	struct nvme_uring_cmd *c;

	/* io_uring_get_sqe hands out 64 bytes' worth of SQE; a SQE128 ring owns all 128. */
	memset(sqe, 0, 128);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = 0; /* the registered device file */
	sqe->flags = IOSQE_FIXED_FILE;
	sqe->cmd_op = NVME_URING_CMD_IO;
	c = (struct nvme_uring_cmd *)sqe->cmd;
	c->nsid = ch->pt->nsid;
	if (io->type == BDEV_IO_NVME)
		pt_prep_nvme(ch, io, sqe, c);
	else
		pt_prep_generic(ch, io, sqe, c);
}

int bdev_passthru_submit(struct bdev_channel *base, struct bdev_io *io)
{
	struct bdev_passthru_channel *ch = pt_ch(base);
	int rc;

	if (io->type == BDEV_IO_NVME) {
		uint64_t bytes;

		if (!io->nvme_cmd || io->iovcnt < 0 || (io->iovcnt > 0 && !io->iov))
			return -EINVAL;
		bytes = pt_bytes(io);
		/* Vectored data goes whole: the device must take it in one command. */
		if (bytes > UINT32_MAX || (io->iovcnt > 1 && bytes > ch->pt->max_xfer))
			return -EINVAL;
	} else {
		rc = bdev_io_check(&ch->pt->bdev, io);
		if (rc)
			return rc;
		if ((io->type == BDEV_IO_READ || io->type == BDEV_IO_WRITE) && io->iovcnt > 1 &&
		    io->num_blocks * ch->pt->bdev.block_size > ch->pt->max_xfer)
			return -EINVAL;
		if (io->type != BDEV_IO_FLUSH && io->num_blocks == 0) {
			io->cb(io, 0);
			return 0;
		}
	}
	IO_DONE(io) = 0;
	IO_PIECE(io) = 0;
	bdev_ring_submit(&ch->ring, io);
	return 0;
}

/* ---- completions ---- */

/*
 * The kernel's DMA fills read buffers behind valgrind's back: tell memcheck, so that a
 * memcheck run of the daemon does not report every byte read as uninitialised.
 */
static void pt_mark_read(const struct bdev_io *io)
{
#ifdef HAVE_VALGRIND_MEMCHECK_H
	for (int i = 0; i < io->iovcnt; i++)
		VALGRIND_MAKE_MEM_DEFINED(io->iov[i].iov_base, io->iov[i].iov_len);
#else
	(void)io;
#endif
}

static bool pt_reads_data(const struct bdev_io *io)
{
	return io->type == BDEV_IO_READ ||
	       (io->type == BDEV_IO_NVME && (io->nvme_cmd->opc & 3) == 2);
}

/* How much of the I/O is left after the piece that just succeeded. */
static bool pt_more(struct bdev_passthru_channel *ch, struct bdev_io *io)
{
	uint32_t bs = ch->pt->bdev.block_size;

	switch (io->type) {
	case BDEV_IO_READ:
	case BDEV_IO_WRITE:
		IO_DONE(io) += IO_PIECE_BLOCKS(io) * bs;
		return IO_DONE(io) < io->num_blocks * bs;
	case BDEV_IO_WRITE_ZEROES:
	case BDEV_IO_UNMAP:
		IO_DONE(io) += IO_PIECE_BLOCKS(io);
		return IO_DONE(io) < io->num_blocks;
	case BDEV_IO_NVME:
		if (!pt_is_transfer(io->nvme_cmd->opc) || io->iovcnt != 1)
			return false;
		IO_DONE(io) += IO_PIECE_BLOCKS(io) * bs;
		return IO_DONE(io) < pt_bytes(io);
	case BDEV_IO_FLUSH:
		break;
	}
	return false;
}

static void pt_complete(void *ctx, struct bdev_io *io, int res)
{
	struct bdev_passthru_channel *ch = ctx;

	if (res == -EFAULT && (IO_PIECE(io) & IO_PIECE_FIXED)) {
		/* Its slot was given to another buffer before the kernel imported it. */
		IO_PIECE(io) |= IO_PIECE_NO_FIXED;
		bdev_ring_issue(&ch->ring, io);
		return;
	}
	if (res == -EAGAIN || res == -EINTR) {
		bdev_ring_issue(&ch->ring, io);
		return;
	}
	if (res == 0 && pt_more(ch, io)) {
		bdev_ring_issue(&ch->ring, io);
		return;
	}
	if (res == 0 && pt_reads_data(io))
		pt_mark_read(io);
	if (res)
		log_debug("bdev %s: command %s at piece %llu: %s %d", ch->pt->bdev.name,
			  io->type == BDEV_IO_NVME ? "passthrough" : "generic",
			  (unsigned long long)IO_DONE(io), res > 0 ? "NVMe status" : "errno",
			  res > 0 ? res : -res);
	io->cb(io, res);
}

/* ---- channels ---- */

static void pt_channel_free(void *arg)
{
	struct bdev_passthru_channel *ch = arg;

	bdev_ring_release(&ch->ring);
	free(ch);
}

struct bdev_channel *bdev_passthru_channel_create(struct bdev *bdev, struct evloop *loop)
{
	struct bdev_passthru_channel *ch;
	int rc;

	if (!loop) {
		log_error("bdev %s: a passthrough channel needs an event loop", bdev->name);
		return NULL;
	}
	ch = calloc(1, sizeof(*ch));
	if (!ch) {
		log_error("bdev %s: cannot allocate a channel", bdev->name);
		return NULL;
	}
	ch->base.bdev = bdev;
	ch->pt = bdev->ctx;
	rc = bdev_ring_init(&ch->ring, loop, bdev->name, BDEV_PASSTHRU_RING_DEPTH,
			    BDEV_PASSTHRU_RING_FLAGS, ch->pt->fd, pt_prep, pt_complete, ch);
	if (rc < 0) {
		pt_channel_free(ch);
		return NULL;
	}
	if (!ch->pt->no_fixed_buffers) {
		rc = io_uring_register_buffers_sparse(&ch->ring.ring, BDEV_PASSTHRU_BUF_SLOTS);
		if (rc == 0)
			ch->buffers_registered = true;
		else
			log_notice("bdev %s: no registered buffer table (%s): buffers are mapped per "
				   "command", bdev->name, strerror(-rc));
	}
	log_debug("bdev %s: passthrough channel created on %s", bdev->name, evloop_name(loop));
	return &ch->base;
}

void bdev_passthru_channel_destroy(struct bdev_channel *base)
{
	struct bdev_passthru_channel *ch = pt_ch(base);

	bdev_ring_destroy(&ch->ring, pt_channel_free, ch);
}

/* ---- probe at creation ---- */

/* One read of block 0 through ring, with a registered buffer or not; returns CQE res. */
static int pt_probe_read(struct bdev_passthru *p, struct io_uring *ring, void *buf, bool fixed)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct nvme_uring_cmd *c;
	struct io_uring_cqe *cqe;
	int rc;

	if (!sqe)
		return -EBUSY;
	memset(sqe, 0, 128);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = 0;
	sqe->flags = IOSQE_FIXED_FILE;
	sqe->cmd_op = NVME_URING_CMD_IO;
	if (fixed) {
		sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
		sqe->buf_index = 0;
	}
	c = (struct nvme_uring_cmd *)sqe->cmd;
	c->opcode = nvme_cmd_read;
	c->nsid = p->nsid;
	c->addr = (uint64_t)(uintptr_t)buf;
	c->data_len = p->bdev.block_size;
	rc = io_uring_submit_and_wait(ring, 1);
	if (rc < 0)
		return rc;
	rc = io_uring_wait_cqe(ring, &cqe);
	if (rc < 0)
		return rc;
	rc = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return rc;
}

int bdev_passthru_probe(struct bdev_passthru *p, const char *name)
{
	struct io_uring ring;
	void *buf = NULL;
	struct iovec region;
	int rc;

	rc = io_uring_queue_init(4, &ring, BDEV_PASSTHRU_RING_FLAGS);
	if (rc == 0 && (rc = io_uring_register_files(&ring, &p->fd, 1)) < 0)
		io_uring_queue_exit(&ring);
	if (rc == -EINVAL)
		return bdev_create_fail(-EOPNOTSUPP, "bdev %s: %s: this kernel has no io_uring NVMe "
					"passthrough (128-byte SQEs need Linux 5.19 or later)", name,
					p->path);
	if (rc < 0)
		return bdev_create_fail(rc, "bdev %s: %s: io_uring setup: %s", name, p->path,
					strerror(-rc));
	region.iov_len = 65536; /* the largest block size */
	if (posix_memalign(&buf, 4096, region.iov_len)) {
		io_uring_queue_exit(&ring);
		return bdev_create_fail(-ENOMEM, "bdev %s: out of memory", name);
	}
	region.iov_base = buf;
	rc = pt_probe_read(p, &ring, buf, false);
	if (rc == -EINVAL || rc == -EOPNOTSUPP || rc == -ENOTTY) {
		rc = bdev_create_fail(-EOPNOTSUPP, "bdev %s: %s: the kernel refused an NVMe command "
				      "through io_uring (%s): NVMe passthrough needs Linux 5.19 or "
				      "later", name, p->path, strerror(-rc));
		goto out;
	}
	if (rc < 0) {
		rc = bdev_create_fail(rc, "bdev %s: %s: a test read through io_uring failed: %s",
				      name, p->path, strerror(-rc));
		goto out;
	}
	if (rc > 0) {
		rc = bdev_create_fail(-EIO, "bdev %s: %s: the device failed a test read of block 0 "
				      "(NVMe status 0x%x)", name, p->path, (unsigned)rc);
		goto out;
	}
	p->no_fixed_buffers = true;
	if (io_uring_register_buffers(&ring, &region, 1) == 0 &&
	    pt_probe_read(p, &ring, buf, true) == 0)
		p->no_fixed_buffers = false;
	if (p->no_fixed_buffers)
		log_notice("bdev %s: %s: the kernel takes no registered buffers for NVMe commands "
			   "(Linux 6.1+): buffers are mapped per command", name, p->path);
	rc = 0;
out:
	io_uring_queue_exit(&ring);
	free(buf);
	return rc;
}
