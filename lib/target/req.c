/* Transport-independent request handling: SGL checks, data buffers, dispatch, completion. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spec/status.h"
#include "target/target.h"
#include "util/log.h"

/* Allocation names for backends that register memory with the kernel: never reused, so that
 * a new buffer at a freed one's address is never mistaken for it. */
static _Atomic uint64_t tgt_buf_keys;

int tgt_req_alloc_buf(struct tgt_req *req, uint32_t len)
{
	if (req->buf_size < len) {
		void *buf;
		/* Page-aligned so that O_DIRECT file bdevs take it as is. */
		uint32_t size = (len + 4095) & ~4095u;

		if (posix_memalign(&buf, 4096, size))
			return -ENOMEM;
		free(req->buf);
		req->buf = buf;
		req->buf_size = size;
		req->buf_key = atomic_fetch_add_explicit(&tgt_buf_keys, 1, memory_order_relaxed) + 1;
	}
	req->iov[0].iov_base = req->buf;
	req->iov[0].iov_len = len;
	req->iovcnt = 1;
	return 0;
}

/* Data transfer direction from the opcode (or FCTYPE): bits 1:0, 01b host to controller. */
static unsigned req_xfer(const struct tgt_req *req)
{
	if (req->cmd.opc == NVME_FABRICS_OPC)
		return ((const struct nvmf_cmd_common *)&req->cmd)->fctype & 3;
	return req->cmd.opc & 3;
}

int tgt_req_parse_sgl(struct tgt_req *req, uint32_t icd_len, uint16_t *status)
{
	const struct nvme_sgl_desc *sgl = &req->cmd.sgl;
	uint32_t len = sgl->length;
	unsigned xfer = req_xfer(req);

	req->data_len = 0;
	req->iovcnt = 0;
	req->data_to_host = xfer == 2;
	if (len == 0 && icd_len == 0)
		return 0; /* no data, whatever descriptor type the host chose to say so with */
	if ((req->cmd.flags & 0xc0) != NVME_SQE_PSDT_SGL && req->cmd.opc != NVME_FABRICS_OPC &&
	    (len || icd_len)) {
		/* Fabrics carries data only through SGLs. */
		*status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR;
		return -EINVAL;
	}
	if (sgl->type == NVME_SGL_TYPE_ICD) {
		if (xfer != 1 || icd_len == 0) {
			*status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_TYPE) | NVME_STATUS_DNR;
			return -EINVAL;
		}
		if (sgl->addr > icd_len) {
			*status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_OFFSET) | NVME_STATUS_DNR;
			return -EINVAL;
		}
		if (len > icd_len - sgl->addr) {
			*status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA) | NVME_STATUS_DNR;
			return -EINVAL;
		}
		if (tgt_req_alloc_buf(req, icd_len)) {
			*status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL);
			return -ENOMEM;
		}
		req->iov[0].iov_base = (uint8_t *)req->buf + sgl->addr;
		req->iov[0].iov_len = len;
		req->data_len = len;
		return 0;
	}
	if (icd_len) {
		/* Data in the capsule that no SGL describes. */
		*status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_TYPE) | NVME_STATUS_DNR;
		return -EINVAL;
	}
	if (len == 0)
		return 0;
	if (sgl->type != NVME_SGL_TYPE_TRANSPORT) {
		*status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_TYPE) | NVME_STATUS_DNR;
		return -EINVAL;
	}
	if (xfer != 1 && xfer != 2) {
		*status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR;
		return -EINVAL;
	}
	if (len > g_tgt.opts.max_io_size) {
		*status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA) | NVME_STATUS_DNR;
		return -EINVAL;
	}
	req->data_len = len;
	return 0;
}

void tgt_req_complete_status(struct tgt_req *req, uint16_t status)
{
	struct tgt_qpair *qp = req->qp;

	req->rsp.cid = req->cmd.cid;
	req->rsp.sqid = qp->qid;
	req->rsp.sqhd = qp->sqhd;
	req->rsp.status = (uint16_t)(status << 1);
	if (status) {
		qp->stats.errors++;
		if (log_threshold >= LOG_DEBUG) {
			char text[128];

			log_debug("qid %u cid %u opc 0x%02x: %s", qp->qid, req->cmd.cid, req->cmd.opc,
				  spec_status_format(status, text, sizeof(text)));
		}
		if (qp->ctrlr && qp->qid == 0)
			tgt_ctrlr_log_error(qp->ctrlr, req, status);
	}
	qp->ops->req_complete(req);
}

static void req_dispatch(struct tgt_req *req)
{
	struct tgt_qpair *qp = req->qp;

	req->state = TGT_REQ_EXECUTING;
	if (__builtin_expect(qp->auth_gate, 0) && !tgt_auth_admits(req))
		return;
	if (req->cmd.opc == NVME_FABRICS_OPC) {
		tgt_fabrics_execute(req);
		return;
	}
	if (!qp->ctrlr) {
		tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR));
		return;
	}
	if (qp->qid == 0)
		tgt_admin_execute(req);
	else
		tgt_io_execute(req);
}

void tgt_req_execute(struct tgt_req *req)
{
	uint16_t status = 0;

	if (req->iovcnt == 0 || req->data_len == 0) {
		/* No in-capsule data: the SGL says whether data comes later or goes out. */
		if (tgt_req_parse_sgl(req, 0, &status)) {
			tgt_req_complete_status(req, status);
			return;
		}
		if (req->data_len && !req->data_to_host) {
			if (tgt_req_alloc_buf(req, req->data_len)) {
				tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL));
				return;
			}
			/* Fabrics and admin writes are small; only real writes need an R2T anyway. */
			req->qp->ops->req_fetch_data(req);
			return;
		}
	}
	req_dispatch(req);
}

void tgt_req_release(struct tgt_req *req)
{
	if (req->rch) {
		req->rch->inflight--;
		req->rch = NULL;
	}
}

void tgt_req_data_ready(struct tgt_req *req)
{
	req_dispatch(req);
}
