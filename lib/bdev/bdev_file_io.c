/*
 * File backend, I/O side: one io_uring per channel (so per thread), driven by the channel's
 * event loop through bdev_ring (a poller batches submissions per loop iteration and reaps
 * without a system call; an eventfd wakes a sleeping loop). Files in memory (tmpfs) skip the
 * ring: see bdev_file_inline.
 *
 * bdev_io.priv use: [0] bytes done, [1] the ring's wait list link, [2] stage and flags.
 */
#include <errno.h>
#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/memcheck.h>
#endif
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <liburing.h>

#include "bdev/bdev_file.h"
#include "bdev/bdev_internal.h"
#include "bdev/bdev_ring.h"
#include "util/evloop.h"
#include "util/log.h"

/* SQ entries per channel; the CQ is twice as large, so capping I/O in flight at this depth
 * means the CQ can never overflow. */
#define BDEV_FILE_RING_DEPTH 256u
/* The io_uring read/write length is 32 bits; longer segments go in pieces. */
#define BDEV_FILE_MAX_SEG (1u << 30)

/* What an I/O is doing now (priv[2] low byte). Zeroing tries the cheapest mechanism the file
 * system has and falls back: fallocate zero range, punch hole, then writing zeros. */
enum bdev_file_stage {
	BDEV_FILE_STAGE_RW,
	BDEV_FILE_STAGE_ZERO_RANGE,
	BDEV_FILE_STAGE_PUNCH,
	BDEV_FILE_STAGE_WRITE_ZEROS,
};
#define BDEV_FILE_STAGE_MASK 0xffull
#define BDEV_FILE_FLAG_DIRECT (1ull << 8)   /* the SQE in flight used fd_direct */
#define BDEV_FILE_FLAG_BUFFERED (1ull << 9) /* O_DIRECT refused it once: page cache only */

#define IO_DONE(io) ((io)->priv[0])
#define IO_STATE(io) ((io)->priv[2])

struct bdev_file_channel {
	struct bdev_channel base; /* first: the interface hands us &base */
	struct bdev_file *file;
	struct bdev_ring ring;
};

static struct bdev_file_channel *bdev_file_ch(struct bdev_channel *ch)
{
	return (struct bdev_file_channel *)ch;
}

void bdev_file_iov_seek(const struct iovec *iov, int iovcnt, uint64_t done, int *idx,
			uint64_t *off)
{
	int i = 0;

	while (i < iovcnt && done >= iov[i].iov_len) {
		done -= iov[i].iov_len;
		i++;
	}
	*idx = i;
	*off = done;
}

/* ---- SQE preparation ---- */

static uint64_t bdev_file_io_bytes(const struct bdev_file *f, const struct bdev_io *io)
{
	return io->num_blocks * f->bdev.block_size;
}

static enum bdev_file_stage bdev_file_zero_stage(struct bdev_file *f, enum bdev_io_type type)
{
	bool zr = !atomic_load_explicit(&f->no_zero_range, memory_order_relaxed);
	bool ph = !atomic_load_explicit(&f->no_punch_hole, memory_order_relaxed);

	/* Unmap prefers deallocating; write zeroes prefers keeping the blocks allocated. */
	if (type == BDEV_IO_UNMAP)
		return ph ? BDEV_FILE_STAGE_PUNCH :
			    zr ? BDEV_FILE_STAGE_ZERO_RANGE : BDEV_FILE_STAGE_WRITE_ZEROS;
	return zr ? BDEV_FILE_STAGE_ZERO_RANGE :
		    ph ? BDEV_FILE_STAGE_PUNCH : BDEV_FILE_STAGE_WRITE_ZEROS;
}

static bool bdev_file_aligned(uint64_t v, uint32_t align)
{
	return (v & (align - 1)) == 0;
}

/* O_DIRECT only when everything meets its alignment; otherwise the page cache. */
static bool bdev_file_can_direct(const struct bdev_file *f, const struct bdev_io *io,
				 uint64_t pos, const struct iovec *iov, int cnt)
{
	uint32_t a = f->dio_align;

	if (f->fd_direct < 0 || (IO_STATE(io) & BDEV_FILE_FLAG_BUFFERED) ||
	    !bdev_file_aligned(pos, a))
		return false;
	for (int i = 0; i < cnt; i++)
		if (!bdev_file_aligned((uintptr_t)iov[i].iov_base, a) ||
		    !bdev_file_aligned(iov[i].iov_len, a))
			return false;
	return true;
}

static int bdev_file_pick_fd(const struct bdev_file *f, struct bdev_io *io, uint64_t pos,
			     const struct iovec *iov, int cnt)
{
	if (bdev_file_can_direct(f, io, pos, iov, cnt)) {
		IO_STATE(io) |= BDEV_FILE_FLAG_DIRECT;
		return f->fd_direct;
	}
	IO_STATE(io) &= ~BDEV_FILE_FLAG_DIRECT;
	return f->fd;
}

static void bdev_file_prep_one(struct io_uring_sqe *sqe, bool write, int fd, void *buf,
			       uint64_t len, uint64_t pos)
{
	unsigned n = len > BDEV_FILE_MAX_SEG ? BDEV_FILE_MAX_SEG : (unsigned)len;

	if (write)
		io_uring_prep_write(sqe, fd, buf, n, pos);
	else
		io_uring_prep_read(sqe, fd, buf, n, pos);
}

/* Reads and writes resume where a short transfer stopped, without touching the caller's
 * iovec array: whole remaining segments as a vector, or the rest of a split segment alone. */
static void bdev_file_prep_rw(struct bdev_file *f, struct bdev_io *io, struct io_uring_sqe *sqe)
{
	bool write = io->type == BDEV_IO_WRITE;
	uint64_t pos = io->offset_blocks * f->bdev.block_size + IO_DONE(io);
	uint64_t seg_off;
	int idx, fd;

	bdev_file_iov_seek(io->iov, io->iovcnt, IO_DONE(io), &idx, &seg_off);
	if (seg_off == 0 && io->iovcnt - idx > 1) {
		const struct iovec *iov = io->iov + idx;
		int cnt = io->iovcnt - idx;

		fd = bdev_file_pick_fd(f, io, pos, iov, cnt);
		if (write)
			io_uring_prep_writev(sqe, fd, iov, (unsigned)cnt, pos);
		else
			io_uring_prep_readv(sqe, fd, iov, (unsigned)cnt, pos);
	} else {
		struct iovec rest = {
			.iov_base = (char *)io->iov[idx].iov_base + seg_off,
			.iov_len = io->iov[idx].iov_len - seg_off,
		};

		fd = bdev_file_pick_fd(f, io, pos, &rest, 1);
		bdev_file_prep_one(sqe, write, fd, rest.iov_base, rest.iov_len, pos);
	}
	if (write && io->fua)
		sqe->rw_flags = RWF_DSYNC;
}

static void bdev_file_prep_zero(struct bdev_file *f, struct bdev_io *io, struct io_uring_sqe *sqe)
{
	uint64_t off = io->offset_blocks * f->bdev.block_size;
	uint64_t len = bdev_file_io_bytes(f, io);

	switch ((enum bdev_file_stage)(IO_STATE(io) & BDEV_FILE_STAGE_MASK)) {
	case BDEV_FILE_STAGE_ZERO_RANGE:
		io_uring_prep_fallocate(sqe, f->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
					(off_t)off, (off_t)len);
		break;
	case BDEV_FILE_STAGE_PUNCH:
		io_uring_prep_fallocate(sqe, f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					(off_t)off, (off_t)len);
		break;
	case BDEV_FILE_STAGE_RW:
	case BDEV_FILE_STAGE_WRITE_ZEROS: {
		uint64_t left = len - IO_DONE(io);
		struct iovec z = {
			.iov_base = (void *)bdev_file_zeros(),
			.iov_len = left < BDEV_FILE_ZERO_CHUNK ? left : BDEV_FILE_ZERO_CHUNK,
		};
		int fd = bdev_file_pick_fd(f, io, off + IO_DONE(io), &z, 1);

		io_uring_prep_write(sqe, fd, z.iov_base, (unsigned)z.iov_len, off + IO_DONE(io));
		break;
	}
	}
}

static void bdev_file_prep(void *ctx, struct bdev_io *io, struct io_uring_sqe *sqe)
{
	struct bdev_file_channel *ch = ctx;

	switch (io->type) {
	case BDEV_IO_READ:
	case BDEV_IO_WRITE:
		bdev_file_prep_rw(ch->file, io, sqe);
		break;
	case BDEV_IO_FLUSH:
		io_uring_prep_fsync(sqe, ch->file->fd, IORING_FSYNC_DATASYNC);
		break;
	case BDEV_IO_WRITE_ZEROES:
	case BDEV_IO_UNMAP:
		bdev_file_prep_zero(ch->file, io, sqe);
		break;
	case BDEV_IO_NVME: /* refused by bdev_io_check */
		break;
	}
}

static void bdev_file_issue(struct bdev_file_channel *ch, struct bdev_io *io)
{
	bdev_ring_issue(&ch->ring, io);
}

static void bdev_file_done(struct bdev_file_channel *ch, struct bdev_io *io, int status);

/* Memory-backed files (bdev_file.inline_io): the copy, here and now; short transfers resume
 * (a file shrunk under us fails with -EIO, as on the ring), 64 segments per system call. */
static int bdev_file_inline(struct bdev_file_channel *ch, struct bdev_io *io)
{
	struct bdev_file *f = ch->file;
	uint64_t len = bdev_file_io_bytes(f, io), done = 0;
	int status = 0;

	if (io->type == BDEV_IO_FLUSH) {
		if (fdatasync(f->fd) < 0)
			status = -errno;
		bdev_file_done(ch, io, status);
		return 0;
	}
	while (done < len) {
		uint64_t pos = io->offset_blocks * f->bdev.block_size + done, seg_off;
		struct iovec rest[64];
		int idx, cnt = 0;
		ssize_t n;

		bdev_file_iov_seek(io->iov, io->iovcnt, done, &idx, &seg_off);
		for (; idx < io->iovcnt && cnt < (int)(sizeof(rest) / sizeof(rest[0])); idx++) {
			rest[cnt].iov_base = (char *)io->iov[idx].iov_base + seg_off;
			rest[cnt++].iov_len = io->iov[idx].iov_len - seg_off;
			seg_off = 0;
		}
		if (io->type == BDEV_IO_WRITE)
			n = pwritev2(f->fd, rest, cnt, (off_t)pos, io->fua ? RWF_DSYNC : 0);
		else
			n = preadv2(f->fd, rest, cnt, (off_t)pos, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			status = n < 0 ? -errno : -EIO;
			break;
		}
		done += (uint64_t)n;
	}
	bdev_file_done(ch, io, status);
	return 0;
}

int bdev_file_submit(struct bdev_channel *base, struct bdev_io *io)
{
	struct bdev_file_channel *ch = bdev_file_ch(base);
	int rc = bdev_io_check(&ch->file->bdev, io);

	if (rc)
		return rc;
	if (io->type != BDEV_IO_FLUSH && io->num_blocks == 0) {
		io->cb(io, 0);
		return 0;
	}
	if (ch->file->inline_io && (io->type == BDEV_IO_READ || io->type == BDEV_IO_WRITE ||
				    io->type == BDEV_IO_FLUSH))
		return bdev_file_inline(ch, io);
	IO_DONE(io) = 0;
	IO_STATE(io) = io->type == BDEV_IO_WRITE_ZEROES || io->type == BDEV_IO_UNMAP ?
			       bdev_file_zero_stage(ch->file, io->type) : BDEV_FILE_STAGE_RW;
	bdev_ring_submit(&ch->ring, io);
	return 0;
}

/* ---- completions ---- */

static void bdev_file_done(struct bdev_file_channel *ch, struct bdev_io *io, int status)
{
	if (status)
		log_debug("bdev %s: I/O type %d at block %llu failed: %s", ch->file->bdev.name,
			  (int)io->type, (unsigned long long)io->offset_blocks, strerror(-status));
	io->cb(io, status);
}

/* A read or write (or the zero-writing fallback) moved res bytes: finish or continue. */
/*
 * The kernel fills read buffers behind valgrind's back (io_uring): tell memcheck, so that a
 * memcheck run of the daemon does not report every byte read from a file as uninitialised.
 * Without valgrind these are a few no-op instructions.
 */
static void bdev_file_mark_read(const struct bdev_io *io)
{
#ifdef HAVE_VALGRIND_MEMCHECK_H
	for (int i = 0; i < io->iovcnt; i++)
		VALGRIND_MAKE_MEM_DEFINED(io->iov[i].iov_base, io->iov[i].iov_len);
#else
	(void)io;
#endif
}

static void bdev_file_transferred(struct bdev_file_channel *ch, struct bdev_io *io, int res)
{
	if (res == -EAGAIN || res == -EINTR) {
		bdev_file_issue(ch, io);
		return;
	}
	if (res == -EINVAL && (IO_STATE(io) & BDEV_FILE_FLAG_DIRECT)) {
		/* An O_DIRECT rule the probe did not see (e.g. a stricter segment on another
		 * extent): the page cache has none. */
		log_debug("bdev %s: O_DIRECT refused an I/O, retrying buffered",
			  ch->file->bdev.name);
		IO_STATE(io) |= BDEV_FILE_FLAG_BUFFERED;
		bdev_file_issue(ch, io);
		return;
	}
	if (res < 0) {
		bdev_file_done(ch, io, res);
		return;
	}
	if (res == 0) {
		/* No progress: the file shrank below its size at creation. */
		bdev_file_done(ch, io, -EIO);
		return;
	}
	IO_DONE(io) += (uint64_t)res;
	if (io->type == BDEV_IO_READ)
		bdev_file_mark_read(io);
	if (IO_DONE(io) < bdev_file_io_bytes(ch->file, io))
		bdev_file_issue(ch, io);
	else
		bdev_file_done(ch, io, 0);
}

static void bdev_file_zeroed(struct bdev_file_channel *ch, struct bdev_io *io, int res)
{
	struct bdev_file *f = ch->file;
	enum bdev_file_stage stage = (enum bdev_file_stage)(IO_STATE(io) & BDEV_FILE_STAGE_MASK);

	if (stage == BDEV_FILE_STAGE_WRITE_ZEROS) {
		bdev_file_transferred(ch, io, res);
		return;
	}
	if (res == -EOPNOTSUPP || res == -EINVAL) {
		/* The mode is missing here (tmpfs has no zero range, many devices no punch):
		 * remember, and take the next mechanism. */
		if (stage == BDEV_FILE_STAGE_ZERO_RANGE)
			atomic_store_explicit(&f->no_zero_range, true, memory_order_relaxed);
		else
			atomic_store_explicit(&f->no_punch_hole, true, memory_order_relaxed);
		log_info("bdev %s: %s: fallocate %s unsupported (%s), falling back", f->bdev.name,
			 f->path, stage == BDEV_FILE_STAGE_ZERO_RANGE ? "zero range" : "punch hole",
			 strerror(-res));
		IO_STATE(io) = (IO_STATE(io) & ~BDEV_FILE_STAGE_MASK) |
			       bdev_file_zero_stage(f, io->type);
		bdev_file_issue(ch, io);
		return;
	}
	if (res == -EAGAIN || res == -EINTR) {
		bdev_file_issue(ch, io);
		return;
	}
	bdev_file_done(ch, io, res < 0 ? res : 0);
}

static void bdev_file_complete(void *ctx, struct bdev_io *io, int res)
{
	struct bdev_file_channel *ch = ctx;

	switch (io->type) {
	case BDEV_IO_READ:
	case BDEV_IO_WRITE:
		bdev_file_transferred(ch, io, res);
		break;
	case BDEV_IO_FLUSH:
		bdev_file_done(ch, io, res < 0 ? res : 0);
		break;
	case BDEV_IO_WRITE_ZEROES:
	case BDEV_IO_UNMAP:
		bdev_file_zeroed(ch, io, res);
		break;
	case BDEV_IO_NVME:
		break;
	}
}

/* ---- channels ---- */

static void bdev_file_channel_free(void *arg)
{
	struct bdev_file_channel *ch = arg;

	bdev_ring_release(&ch->ring);
	free(ch);
}

struct bdev_channel *bdev_file_channel_create(struct bdev *bdev, struct evloop *loop)
{
	struct bdev_file_channel *ch;

	if (!loop) {
		log_error("bdev %s: a file channel needs an event loop", bdev->name);
		return NULL;
	}
	ch = calloc(1, sizeof(*ch));
	if (!ch) {
		log_error("bdev %s: cannot allocate a channel", bdev->name);
		return NULL;
	}
	ch->base.bdev = bdev;
	ch->file = bdev->ctx;
	if (bdev_ring_init(&ch->ring, loop, bdev->name, BDEV_FILE_RING_DEPTH, 0, -1,
			   bdev_file_prep, bdev_file_complete, ch) < 0) {
		bdev_file_channel_free(ch);
		return NULL;
	}
	log_debug("bdev %s: channel created on %s", bdev->name, evloop_name(loop));
	return &ch->base;
}

void bdev_file_channel_destroy(struct bdev_channel *base)
{
	struct bdev_file_channel *ch = bdev_file_ch(base);

	bdev_ring_destroy(&ch->ring, bdev_file_channel_free, ch);
}
