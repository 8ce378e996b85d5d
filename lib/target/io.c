/*
 * I/O commands onto bdevs, on the reactor that owns the queue pair: Read, Write (FUA), Flush,
 * Write Zeroes, Dataset Management (deallocate) and Compare. No locks and no allocation: the
 * request carries its bdev_io, and buffers are grow-only per request slot.
 *
 * A bdev that is an NVMe namespace (bdev.nvme: passthrough) gets the same commands as they
 * came, to execute with the device's own semantics and status; nvfab only checks what keeps
 * its memory safe (the data length the command implies against the buffer it has).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spec/status.h"
#include "target/target.h"
#include "util/log.h"

#define STATUS_INVALID_FIELD (NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR)
#define STATUS_INTERNAL NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL)

#define NVME_RW_FUA (1u << 30)
#define NVME_DSM_AD (1u << 2)

/* struct nvme_dsm_range (cattr, nlb, slba) comes from libnvme. */
_Static_assert(sizeof(struct nvme_dsm_range) == 16, "DSM range is 16 bytes");

/* A bdev status (bdev_io_cb) as the NVMe status field: a device's own is passed on as is. */
static uint16_t io_errno_status(int status)
{
	if (status > 0)
		return (uint16_t)status;
	switch (status) {
	case 0: return 0;
	case -EILSEQ: return NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_COMPARE_FAILED);
	case -ENOSPC: return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CAP_EXCEEDED);
	case -EINVAL: return STATUS_INVALID_FIELD;
	case -EIO:
	default: return NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_WRITE_FAULT);
	}
}

/* The request keeps its hold on the channel (rch->inflight) until the transport releases it
 * (tgt_req_release): a zero-copy read is still being sent from the bdev's memory after this. */
static void io_finish(struct tgt_req *req, uint16_t status)
{
	tgt_req_complete_status(req, status);
}

static void io_rw_done(struct bdev_io *bio, int status)
{
	struct tgt_req *req = bio->cb_arg;
	uint16_t st = io_errno_status(status);

	if (status < 0 && bio->type == BDEV_IO_READ)
		st = NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_READ_ERROR);
	io_finish(req, st);
}

static void io_compare_done(struct bdev_io *bio, int status)
{
	struct tgt_req *req = bio->cb_arg;

	if (status) {
		io_finish(req, NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_READ_ERROR));
		return;
	}
	if (memcmp(req->scratch, req->iov[0].iov_base, req->data_len) != 0) {
		io_finish(req, NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_COMPARE_FAILED));
		return;
	}
	io_finish(req, 0);
}

static int io_submit(struct tgt_req *req)
{
	int rc = bdev_submit(req->rch->ch, &req->bio);

	if (rc) {
		log_warn("qid %u: bdev %s refused I/O: %s", req->qp->qid, req->ns->bdev->name, strerror(-rc));
	}
	return rc;
}

/* Checks the LBA range and transfer length common to Read, Write and Compare. */
static uint16_t io_check_rw(struct tgt_req *req, uint64_t *slba, uint32_t *nlb)
{
	struct bdev *b = req->ns->bdev;
	uint64_t num_blocks = bdev_num_blocks(b);

	*slba = (uint64_t)req->cmd.cdw11 << 32 | req->cmd.cdw10;
	*nlb = (req->cmd.cdw12 & 0xffff) + 1;
	if (*slba >= num_blocks || *nlb > num_blocks - *slba)
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_LBA_RANGE) | NVME_STATUS_DNR;
	if ((uint64_t)*nlb * b->block_size != req->data_len)
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA) | NVME_STATUS_DNR;
	return 0;
}

static void io_submit_rw(struct tgt_req *req, enum bdev_io_type type, uint64_t slba, uint32_t nlb,
			 struct iovec *iov, int iovcnt, bdev_io_cb cb)
{
	req->bio.type = type;
	req->bio.fua = type == BDEV_IO_WRITE && (req->cmd.cdw12 & NVME_RW_FUA);
	req->bio.offset_blocks = slba;
	req->bio.num_blocks = nlb;
	req->bio.iov = iov;
	req->bio.iovcnt = iovcnt;
	req->bio.mem_key = 0;
	req->bio.cb = cb;
	if (io_submit(req))
		io_finish(req, STATUS_INTERNAL);
}

static void io_read(struct tgt_req *req)
{
	struct bdev *b = req->ns->bdev;
	uint64_t slba;
	uint32_t nlb;
	uint16_t st = io_check_rw(req, &slba, &nlb);
	void *direct;

	if (st || !req->data_to_host) {
		io_finish(req, st ? st : STATUS_INVALID_FIELD);
		return;
	}
	req->qp->stats.reads++;
	req->qp->stats.read_bytes += req->data_len;
	/* Memory-backed namespaces are sent straight from the backing memory; a mapped file only
	 * when nothing in user space reads it (a truncated file faults there, not in the kernel). */
	direct = b->map_may_fault && req->qp->reads_payload ? NULL :
		 bdev_map(b, slba * b->block_size, req->data_len);
	if (direct) {
		req->iov[0].iov_base = direct;
		req->iov[0].iov_len = req->data_len;
		req->iovcnt = 1;
		io_finish(req, 0);
		return;
	}
	if (tgt_req_alloc_buf(req, req->data_len)) {
		io_finish(req, STATUS_INTERNAL);
		return;
	}
	io_submit_rw(req, BDEV_IO_READ, slba, nlb, req->iov, 1, io_rw_done);
}

static void io_write(struct tgt_req *req)
{
	uint64_t slba;
	uint32_t nlb;
	uint16_t st = io_check_rw(req, &slba, &nlb);

	if (st || req->data_to_host) {
		io_finish(req, st ? st : STATUS_INVALID_FIELD);
		return;
	}
	req->qp->stats.writes++;
	req->qp->stats.write_bytes += req->data_len;
	io_submit_rw(req, BDEV_IO_WRITE, slba, nlb, req->iov, req->iovcnt, io_rw_done);
}

static void io_compare(struct tgt_req *req)
{
	uint64_t slba;
	uint32_t nlb;
	uint16_t st = io_check_rw(req, &slba, &nlb);

	if (st || req->data_to_host) {
		io_finish(req, st ? st : STATUS_INVALID_FIELD);
		return;
	}
	if (req->scratch_size < req->data_len) {
		void *p;

		if (posix_memalign(&p, 4096, (req->data_len + 4095) & ~4095u)) {
			io_finish(req, STATUS_INTERNAL);
			return;
		}
		free(req->scratch);
		req->scratch = p;
		req->scratch_size = (req->data_len + 4095) & ~4095u;
	}
	/* The read-back goes into scratch; iov keeps pointing at the host's data. */
	req->scratch_iov.iov_base = req->scratch;
	req->scratch_iov.iov_len = req->data_len;
	io_submit_rw(req, BDEV_IO_READ, slba, nlb, &req->scratch_iov, 1, io_compare_done);
}

static void io_simple(struct tgt_req *req, enum bdev_io_type type, uint64_t slba, uint32_t nlb)
{
	io_submit_rw(req, type, slba, nlb, NULL, 0, io_rw_done);
}

static void io_write_zeroes(struct tgt_req *req)
{
	struct bdev *b = req->ns->bdev;
	uint64_t slba = (uint64_t)req->cmd.cdw11 << 32 | req->cmd.cdw10, num_blocks = bdev_num_blocks(b);
	uint32_t nlb = (req->cmd.cdw12 & 0xffff) + 1;

	if (slba >= num_blocks || nlb > num_blocks - slba) {
		io_finish(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_LBA_RANGE) | NVME_STATUS_DNR);
		return;
	}
	io_simple(req, BDEV_IO_WRITE_ZEROES, slba, nlb);
}

static void io_dsm_next(struct tgt_req *req);

static void io_dsm_done(struct bdev_io *bio, int status)
{
	struct tgt_req *req = bio->cb_arg;

	if (status && !req->sub_status)
		req->sub_status = status;
	io_dsm_next(req);
}

/* Deallocates the ranges one after another; pending counts what is left. */
static void io_dsm_next(struct tgt_req *req)
{
	const struct nvme_dsm_range *ranges = req->iov[0].iov_base;

	while (req->pending) {
		const struct nvme_dsm_range *r = &ranges[--req->pending];

		if (r->nlb == 0)
			continue;
		req->bio.type = BDEV_IO_UNMAP;
		req->bio.offset_blocks = r->slba;
		req->bio.num_blocks = r->nlb;
		req->bio.iov = NULL;
		req->bio.iovcnt = 0;
		req->bio.cb = io_dsm_done;
		if (bdev_submit(req->rch->ch, &req->bio) == 0)
			return;
		req->sub_status = -EIO;
	}
	io_finish(req, io_errno_status(req->sub_status));
}

static void io_dsm(struct tgt_req *req)
{
	uint32_t nr = (req->cmd.cdw10 & 0xff) + 1;
	const struct nvme_dsm_range *ranges = req->iov[0].iov_base;
	struct bdev *b = req->ns->bdev;
	uint64_t num_blocks = bdev_num_blocks(b);

	if (req->data_to_host || req->data_len < nr * sizeof(struct nvme_dsm_range)) {
		io_finish(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA) | NVME_STATUS_DNR);
		return;
	}
	if (!(req->cmd.cdw11 & NVME_DSM_AD)) {
		io_finish(req, 0); /* only hints: nothing to do */
		return;
	}
	for (uint32_t i = 0; i < nr; i++) {
		if (ranges[i].slba >= num_blocks || ranges[i].nlb > num_blocks - ranges[i].slba) {
			io_finish(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_LBA_RANGE) | NVME_STATUS_DNR);
			return;
		}
	}
	req->pending = nr;
	req->sub_status = 0;
	io_dsm_next(req);
}

/* ---- NVMe namespaces (passthrough): the device executes the command ---- */

static bool io_nvme_handles(uint8_t opc)
{
	switch (opc) {
	case nvme_cmd_read:
	case nvme_cmd_write:
	case nvme_cmd_compare:
	case nvme_cmd_flush:
	case nvme_cmd_write_zeroes:
	case nvme_cmd_dsm:
		return true;
	default:
		return false;
	}
}

static void io_nvme_done(struct bdev_io *bio, int status)
{
	io_finish(bio->cb_arg, io_errno_status(status));
}

/* The bytes the device will move for the command: its buffer must hold exactly that (a
 * longer one for DSM, of which only the ranges go). */
static uint16_t io_nvme_check_data(struct tgt_req *req, bool *to_host, uint32_t *need)
{
	const struct nvme_sqe *cmd = &req->cmd;
	uint32_t bs = req->ns->bdev->block_size;

	*to_host = cmd->opc == nvme_cmd_read;
	switch (cmd->opc) {
	case nvme_cmd_read:
	case nvme_cmd_write:
	case nvme_cmd_compare:
		/* NLB + 1 <= 65536 blocks of <= 64 KiB: 4 GiB at most, checked against data_len. */
		if ((uint64_t)((cmd->cdw12 & 0xffff) + 1) * bs != req->data_len)
			return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA) | NVME_STATUS_DNR;
		*need = req->data_len;
		break;
	case nvme_cmd_dsm:
		*need = ((cmd->cdw10 & 0xff) + 1) * (uint32_t)sizeof(struct nvme_dsm_range);
		if (req->data_len < *need)
			return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA) | NVME_STATUS_DNR;
		break;
	default:
		*need = 0;
		if (req->data_len)
			return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA) | NVME_STATUS_DNR;
		break;
	}
	if (*need && req->data_to_host != *to_host)
		return STATUS_INVALID_FIELD;
	return 0;
}

static void io_nvme(struct tgt_req *req)
{
	struct tgt_qpair *qp = req->qp;
	uint32_t need = 0;
	bool to_host = false;
	uint16_t st = io_nvme_check_data(req, &to_host, &need);

	if (st) {
		io_finish(req, st);
		return;
	}
	if (req->cmd.opc == nvme_cmd_read) {
		qp->stats.reads++;
		qp->stats.read_bytes += need;
	} else if (req->cmd.opc == nvme_cmd_write) {
		qp->stats.writes++;
		qp->stats.write_bytes += need;
	} else {
		qp->stats.other++;
	}
	if (to_host && tgt_req_alloc_buf(req, need)) {
		io_finish(req, STATUS_INTERNAL);
		return;
	}
	req->bio.type = BDEV_IO_NVME;
	req->bio.nvme_cmd = &req->cmd;
	req->bio.offset_blocks = req->bio.num_blocks = 0;
	req->bio.fua = false;
	req->bio.iov = req->iov;
	req->bio.iovcnt = need ? 1 : 0;
	if (need)
		req->iov[0].iov_len = need; /* DSM: the ranges, not the rest of a longer buffer */
	/* Data always lies in the request's own buffer (received, in-capsule or for reading). */
	req->bio.mem_key = req->buf_key;
	req->bio.mem_base = req->buf;
	req->bio.mem_len = req->buf_size;
	req->bio.cb = io_nvme_done;
	if (io_submit(req))
		io_finish(req, STATUS_INTERNAL);
}

static void io_flush_all_next(struct tgt_req *req);

static void io_flush_all_done(struct bdev_io *bio, int status)
{
	struct tgt_req *req = bio->cb_arg;

	req->rch->inflight--;
	if (status && !req->sub_status)
		req->sub_status = status;
	io_flush_all_next(req);
}

/* Flush with NSID FFFFFFFFh: every namespace in turn; pending is the next NSID to look at. */
static void io_flush_all_next(struct tgt_req *req)
{
	struct tgt_subsystem *s = req->qp->subsys;

	while (req->pending <= s->max_namespaces) {
		struct tgt_ns *ns = tgt_ns_get(s, req->pending++);

		if (!ns)
			continue;
		req->ns = ns;
		req->rch = tgt_reactor_get_channel(req->qp->reactor, ns->bdev);
		if (!req->rch) {
			req->sub_status = -ENOMEM;
			continue;
		}
		req->bio.type = BDEV_IO_FLUSH;
		req->bio.offset_blocks = req->bio.num_blocks = 0;
		req->bio.iov = NULL;
		req->bio.iovcnt = 0;
		req->bio.cb = io_flush_all_done;
		req->rch->inflight++;
		if (bdev_submit(req->rch->ch, &req->bio) == 0)
			return;
		req->rch->inflight--;
		req->sub_status = -EIO;
	}
	req->rch = NULL;
	tgt_req_complete_status(req, io_errno_status(req->sub_status));
}

void tgt_io_execute(struct tgt_req *req)
{
	struct tgt_qpair *qp = req->qp;
	struct tgt_subsystem *s = qp->subsys;
	struct tgt_ns *ns;

	req->rch = NULL;
	req->bio.cb_arg = req;
	if (req->cmd.opc == nvme_cmd_flush && req->cmd.nsid == NVME_NSID_ALL) {
		/* It moves from channel to channel, holding each only while its flush runs. */
		qp->stats.other++;
		req->pending = 1;
		req->sub_status = 0;
		io_flush_all_next(req);
		return;
	}
	ns = tgt_ns_get(s, req->cmd.nsid);
	if (!ns) {
		tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_NS) | NVME_STATUS_DNR);
		return;
	}
	req->ns = ns;
	req->rch = tgt_reactor_get_channel(qp->reactor, ns->bdev);
	if (!req->rch) {
		tgt_req_complete_status(req, STATUS_INTERNAL);
		return;
	}
	req->rch->inflight++; /* until tgt_req_release() */
	if (ns->bdev->nvme && io_nvme_handles(req->cmd.opc)) {
		io_nvme(req);
		return;
	}
	switch (req->cmd.opc) {
	case nvme_cmd_read:
		io_read(req);
		return;
	case nvme_cmd_write:
		io_write(req);
		return;
	case nvme_cmd_compare:
		io_compare(req);
		return;
	case nvme_cmd_flush:
		qp->stats.other++;
		io_simple(req, BDEV_IO_FLUSH, 0, 0);
		return;
	case nvme_cmd_write_zeroes:
		qp->stats.other++;
		io_write_zeroes(req);
		return;
	case nvme_cmd_dsm:
		qp->stats.other++;
		io_dsm(req);
		return;
	default:
		tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE) | NVME_STATUS_DNR);
		return;
	}
}
