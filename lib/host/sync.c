/*
 * Synchronous I/O for tools: a transfer is cut into commands of at most MDTS bytes (and 65536
 * blocks, the NLB field), several kept in flight, and the queue pair polled until all are done.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "host/host_internal.h"

uint32_t host_max_blocks(uint32_t max_xfer, uint32_t block_size)
{
	uint32_t m;

	if (block_size == 0)
		return 0;
	m = max_xfer / block_size;
	return m > 65536 ? 65536 : m;
}

bool host_split(uint64_t lba, uint64_t nblocks, uint32_t block_size, uint32_t max_blocks,
		uint64_t idx, struct host_chunk *out)
{
	uint64_t start;

	if (max_blocks == 0 || idx >= (nblocks + max_blocks - 1) / max_blocks)
		return false;
	start = idx * max_blocks;
	out->lba = lba + start;
	out->nblocks = (uint32_t)(nblocks - start < max_blocks ? nblocks - start : max_blocks);
	out->offset = start * block_size;
	return true;
}

struct sync_ctx {
	uint32_t inflight;
	bool failed;
	struct nvfab_cpl cpl;  /* the first failure */
};

static void sync_cb(void *arg, const struct nvfab_cpl *cpl)
{
	struct sync_ctx *ctx = arg;

	ctx->inflight--;
	if (nvfab_cpl_is_error(cpl) && !ctx->failed) {
		ctx->failed = true;
		ctx->cpl = *cpl;
	}
}

typedef int (*submit_fn)(struct nvfab_qpair *, const struct nvfab_ns *, uint64_t, uint32_t,
			 const struct iovec *, int, uint32_t, nvfab_cb, void *);

/* Sleeps in poll(2) when nothing came in: tools should not spin a core. */
static void sync_idle(struct nvfab_qpair *qp)
{
	struct pollfd pfd = {.fd = nvfab_qpair_fd(qp), .events = nvfab_qpair_poll_events(qp)};

	if (pfd.fd >= 0)
		(void)poll(&pfd, 1, 10);
	else
		(void)poll(NULL, 0, 10);
}

/* A long transfer must not let the controller's keep-alive timer run out: between commands,
 * every 100 ms, service the admin queue (it has its own lock; busy elsewhere means serviced). */
static void sync_admin(struct nvfab_qpair *qp, uint64_t *next_ns)
{
	uint64_t now = host_now_ns();

	if (now < *next_ns)
		return;
	*next_ns = now + 100000000ull;
	(void)nvfab_ctrlr_process_admin(nvfab_qpair_ctrlr(qp));
}

static int sync_io(struct nvfab_qpair *qp, const struct nvfab_ns *ns, submit_fn submit,
		   uint64_t lba, uint64_t nblocks, uint8_t *buf, uint32_t flags,
		   struct nvfab_cpl *cpl)
{
	uint32_t max_blocks = host_max_blocks(nvfab_ctrlr_max_xfer(ns->ctrlr), ns->block_size);
	struct sync_ctx ctx = {0};
	struct host_chunk chunk;
	uint64_t idx = 0, next_admin = 0;
	int err = 0;

	if (cpl)
		memset(cpl, 0, sizeof(*cpl));
	if (max_blocks == 0 || nblocks == 0)
		return -EINVAL;
	for (;;) {
		int rc;

		while (!ctx.failed && !err &&
		       host_split(lba, nblocks, ns->block_size, max_blocks, idx, &chunk)) {
			struct iovec iov = {buf + chunk.offset, (size_t)chunk.nblocks * ns->block_size};

			rc = submit(qp, ns, chunk.lba, chunk.nblocks, &iov, 1, flags, sync_cb, &ctx);
			if (rc == -EAGAIN)
				break;
			if (rc) {
				err = rc;
				break;
			}
			ctx.inflight++;
			idx++;
		}
		if (ctx.inflight == 0 &&
		    (ctx.failed || err || !host_split(lba, nblocks, ns->block_size, max_blocks, idx, &chunk)))
			break;
		rc = nvfab_qpair_process_completions(qp, 0);
		if (rc < 0 && ctx.inflight == 0 && !ctx.failed) {
			err = rc;
			break;
		}
		if (rc == 0)
			sync_idle(qp);
		sync_admin(qp, &next_admin);
	}
	if (ctx.failed) {
		if (cpl)
			*cpl = ctx.cpl;
		return nvfab_cpl_errno(&ctx.cpl);
	}
	return err;
}

static int write_submit(struct nvfab_qpair *qp, const struct nvfab_ns *ns, uint64_t lba,
			uint32_t n, const struct iovec *iov, int cnt, uint32_t flags, nvfab_cb cb,
			void *arg)
{
	return nvfab_write(qp, ns, lba, n, iov, cnt, flags, cb, arg);
}

static int compare_submit(struct nvfab_qpair *qp, const struct nvfab_ns *ns, uint64_t lba,
			  uint32_t n, const struct iovec *iov, int cnt, uint32_t flags, nvfab_cb cb,
			  void *arg)
{
	return nvfab_compare(qp, ns, lba, n, iov, cnt, flags, cb, arg);
}

int nvfab_read_sync(struct nvfab_qpair *qp, const struct nvfab_ns *ns, uint64_t lba,
		    uint64_t nblocks, void *buf, uint32_t flags, struct nvfab_cpl *cpl)
{
	return sync_io(qp, ns, nvfab_read, lba, nblocks, buf, flags, cpl);
}

int nvfab_write_sync(struct nvfab_qpair *qp, const struct nvfab_ns *ns, uint64_t lba,
		     uint64_t nblocks, const void *buf, uint32_t flags, struct nvfab_cpl *cpl)
{
	/* The buffer is only read: the cast is for the shared iovec plumbing. */
	return sync_io(qp, ns, write_submit, lba, nblocks, (uint8_t *)buf, flags, cpl);
}

int nvfab_compare_sync(struct nvfab_qpair *qp, const struct nvfab_ns *ns, uint64_t lba,
		       uint64_t nblocks, const void *buf, uint32_t flags, struct nvfab_cpl *cpl)
{
	return sync_io(qp, ns, compare_submit, lba, nblocks, (uint8_t *)buf, flags, cpl);
}

int nvfab_flush_sync(struct nvfab_qpair *qp, const struct nvfab_ns *ns, struct nvfab_cpl *cpl)
{
	struct sync_ctx ctx = {0};
	uint64_t next_admin = 0;
	int rc = nvfab_flush(qp, ns, sync_cb, &ctx);

	if (cpl)
		memset(cpl, 0, sizeof(*cpl));
	if (rc)
		return rc;
	ctx.inflight = 1;
	while (ctx.inflight) {
		rc = nvfab_qpair_process_completions(qp, 0);
		if (rc < 0 && ctx.inflight)
			return rc;
		if (rc == 0 && ctx.inflight)
			sync_idle(qp);
		sync_admin(qp, &next_admin);
	}
	if (ctx.failed) {
		if (cpl)
			*cpl = ctx.cpl;
		return nvfab_cpl_errno(&ctx.cpl);
	}
	return 0;
}
