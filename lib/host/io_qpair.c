/*
 * I/O queue pairs: creation (QID allocation, Connect), the NVM command set submissions, and the
 * reconnect policy of a lost I/O queue (held requests go out again on a new connection to the
 * controller's current CNTLID; after ctrl_loss_tmo they fail).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "host/host_internal.h"
#include "util/log.h"

static int qid_alloc(struct nvfab_ctrlr *ctrlr)
{
	int qid = -EBUSY;

	pthread_mutex_lock(&ctrlr->qid_lock);
	for (uint32_t i = 1; i <= ctrlr->nr_io_queues; i++) {
		if (!ctrlr->qid_used[i]) {
			ctrlr->qid_used[i] = 1;
			qid = (int)i;
			break;
		}
	}
	pthread_mutex_unlock(&ctrlr->qid_lock);
	return qid;
}

static void qid_free(struct nvfab_ctrlr *ctrlr, uint16_t qid)
{
	pthread_mutex_lock(&ctrlr->qid_lock);
	ctrlr->qid_used[qid] = 0;
	pthread_mutex_unlock(&ctrlr->qid_lock);
}

struct nvfab_qpair *nvfab_qpair_create(struct nvfab_ctrlr *ctrlr,
				       const struct nvfab_qpair_opts *opts,
				       struct nvfab_error *err)
{
	uint32_t size = opts && opts->queue_size ? opts->queue_size : ctrlr->opts.io_queue_size;
	struct nvfab_qpair *qpair;
	struct host_qpair *qp;
	int qid, rc;

	if (err)
		memset(err, 0, sizeof(*err));
	if (ctrlr->discovery) {
		host_error_set(err, -EINVAL, 0, "a discovery controller has no I/O queues");
		return NULL;
	}
	if (atomic_load(&ctrlr->state) != HOST_CTRLR_LIVE) {
		host_error_set(err, -ENOTCONN, 0, "controller not connected: %s", ctrlr->last_error);
		return NULL;
	}
	if (size < 2)
		size = 2;
	if (size > ctrlr->max_queue_size) {
		log_info("queue size %u capped to the controller's %u", size, ctrlr->max_queue_size);
		size = ctrlr->max_queue_size;
	}
	qid = qid_alloc(ctrlr);
	if (qid < 0) {
		host_error_set(err, qid, 0, "all %u I/O queues granted by the controller are in use",
			       ctrlr->nr_io_queues);
		return NULL;
	}
	if (posix_memalign((void **)&qpair, 64, sizeof(*qpair))) {
		qid_free(ctrlr, (uint16_t)qid);
		host_error_set(err, -ENOMEM, 0, "out of memory");
		return NULL;
	}
	qp = &qpair->q;
	rc = host_qpair_init(qp, ctrlr, (uint16_t)qid, size);
	if (rc) {
		free(qpair);
		qid_free(ctrlr, (uint16_t)qid);
		host_error_set(err, rc, 0, "I/O queue %d: %s", qid, strerror(-rc));
		return NULL;
	}
	qp->icd_max = ctrlr->icd_size;
	qp->hold_on_error = ctrlr->opts.ctrl_loss_tmo_s != 0;
	qp->ctrlr_gen = atomic_load(&ctrlr->generation);
	rc = host_qpair_connect(qp, atomic_load(&ctrlr->cntlid), host_setup_deadline(ctrlr, UINT64_MAX),
				err);
	if (rc) {
		host_qpair_fini(qp);
		free(qpair);
		qid_free(ctrlr, (uint16_t)qid);
		return NULL;
	}
	return qpair;
}

void nvfab_qpair_destroy(struct nvfab_qpair *qpair)
{
	struct host_qpair *qp;

	if (!qpair)
		return;
	qp = &qpair->q;
	host_qpair_close(qp, -ECANCELED, false);
	host_qpair_fail_all(qp, -ECANCELED);
	qid_free(qp->ctrlr, qp->qid);
	host_qpair_fini(qp);
	free(qpair);
}

/* Gives up on the queue: everything held fails with the error that lost the connection. */
static void qpair_give_up(struct host_qpair *qp, const char *why)
{
	int err = qp->last_err ? qp->last_err : -ENOTCONN;

	log_error("qid %u: %s; failing %u outstanding commands", qp->qid, why, qp->outstanding);
	qp->state = HOST_QP_FAILED;
	host_qpair_fail_all(qp, err);
}

static void qpair_try_reconnect(struct host_qpair *qp, uint64_t now)
{
	struct nvfab_ctrlr *ctrlr = qp->ctrlr;
	int delay_s = ctrlr->opts.reconnect_delay_s > 0 ? ctrlr->opts.reconnect_delay_s : 1;
	struct nvfab_error err;
	uint32_t gen;
	int rc;

	if (atomic_load(&ctrlr->state) == HOST_CTRLR_FAILED) {
		qpair_give_up(qp, "controller lost");
		return;
	}
	if (now >= qp->loss_deadline_ns) {
		qpair_give_up(qp, "no reconnect within ctrl_loss_tmo");
		return;
	}
	if (!qp->fast_failed && now >= qp->fast_fail_ns) {
		log_warn("qid %u: not reconnected within fast_io_fail_tmo; failing %u held commands "
			 "(reconnecting goes on)", qp->qid, qp->outstanding);
		qp->fast_failed = true;
		host_qpair_fail_all(qp, qp->last_err ? qp->last_err : -ENOTCONN);
	}
	if (now < qp->reconnect_at_ns)
		return;
	/* The admin queue reconnects the controller; until it is up there is no CNTLID to join,
	 * and once it is, this queue follows at once. */
	if (atomic_load(&ctrlr->state) != HOST_CTRLR_LIVE)
		return;
	qp->reconnect_at_ns = now + (uint64_t)delay_s * 1000000000ull;
	qp->state = HOST_QP_CONNECTING;
	gen = atomic_load(&ctrlr->generation); /* the controller the CNTLID below belongs to */
	rc = host_qpair_connect(qp, atomic_load(&ctrlr->cntlid),
				host_setup_deadline(ctrlr, qp->loss_deadline_ns), &err);
	if (rc) {
		qp->state = HOST_QP_RECONNECTING;
		qp->last_err = rc;
		log_warn("qid %u: reconnect failed: %s", qp->qid, err.msg);
		return;
	}
	qp->ctrlr_gen = gen;
	qp->fast_failed = false;
	log_notice("qid %u: reconnected; resubmitting %u commands", qp->qid, qp->outstanding);
	host_qpair_resubmit_held(qp);
}

void nvfab_qpair_batch_begin(struct nvfab_qpair *qpair)
{
	qpair->q.batching = true;
}

int nvfab_qpair_flush(struct nvfab_qpair *qpair)
{
	struct host_qpair *qp = &qpair->q;

	qp->batching = false;
	host_qpair_flush(qp);
	return qp->deferred_err ? qp->deferred_err : 0;
}

/* The connection broke (err): if the queue now waits for a reconnect, when it may try. */
static void qpair_note_lost(struct host_qpair *qp, int err, bool at_once)
{
	const struct nvfab_ctrlr_opts *o = &qp->ctrlr->opts;
	uint64_t now = host_now_ns();

	if (qp->state != HOST_QP_RECONNECTING)
		return;
	qp->loss_deadline_ns = host_ctrlr_loss_deadline(qp->ctrlr, now);
	qp->fast_fail_ns = o->fast_io_fail_tmo_s > 0 ?
		now + (uint64_t)o->fast_io_fail_tmo_s * 1000000000ull : UINT64_MAX;
	qp->fast_failed = false;
	qp->reconnect_at_ns = at_once ? now :
		now + (uint64_t)(o->reconnect_delay_s > 0 ? o->reconnect_delay_s : 0) * 1000000000ull;
	log_warn("qid %u: connection lost (%s); holding %u commands for reconnect", qp->qid,
		 strerror(-err), qp->outstanding);
}

int nvfab_qpair_process_completions(struct nvfab_qpair *qpair, uint32_t max)
{
	struct host_qpair *qp = &qpair->q;
	struct nvfab_ctrlr *ctrlr = qp->ctrlr;
	int rc;

	if (qp->state == HOST_QP_LIVE) {
		/*
		 * The admin queue found the controller lost, or already reconnected it (maybe on
		 * another path): this connection belongs to a controller that is gone, even if its
		 * socket looks fine (a cut link says nothing). Leave it and join the new one.
		 */
		if (atomic_load_explicit(&ctrlr->generation, memory_order_relaxed) != qp->ctrlr_gen ||
		    atomic_load_explicit(&ctrlr->state, memory_order_relaxed) != HOST_CTRLR_LIVE) {
			host_qpair_lost(qp, -ECONNRESET);
			qpair_note_lost(qp, -ECONNRESET, true);
			return 0;
		}
		rc = host_qpair_poll(qp, max);
		if (rc >= 0)
			return rc;
		qpair_note_lost(qp, rc, false);
		return (int)qp->reaped;
	}
	if (qp->state == HOST_QP_RECONNECTING) {
		qp->reaped = 0;
		qpair_try_reconnect(qp, host_now_ns());
		return (int)qp->reaped;
	}
	return -ENOTCONN;
}

int nvfab_qpair_fd(const struct nvfab_qpair *qpair)
{
	return qpair->q.fd;
}

short nvfab_qpair_poll_events(const struct nvfab_qpair *qpair)
{
	return (short)(POLLIN | (tcp_tx_pending(&qpair->q.tx) ? POLLOUT : 0));
}

uint32_t nvfab_qpair_outstanding(const struct nvfab_qpair *qpair)
{
	return qpair->q.outstanding;
}

uint16_t nvfab_qpair_qid(const struct nvfab_qpair *qpair)
{
	return qpair->q.qid;
}

struct nvfab_ctrlr *nvfab_qpair_ctrlr(const struct nvfab_qpair *qpair)
{
	return qpair->q.ctrlr;
}

/* ---- NVM command set ---- */

static int io_rw(struct nvfab_qpair *qpair, const struct nvfab_ns *ns, uint8_t opc,
		 enum host_xfer xfer, uint64_t lba, uint32_t nblocks, const struct iovec *iov,
		 int iovcnt, uint32_t flags, nvfab_cb cb, void *arg)
{
	struct host_qpair *qp = &qpair->q;
	uint64_t len = (uint64_t)nblocks * ns->block_size, sum = 0;
	struct nvme_sqe sqe;

	if (ns->ctrlr != qp->ctrlr || nblocks == 0 || nblocks > 65536 ||
	    len > qp->ctrlr->max_xfer || iovcnt <= 0 || iovcnt > NVFAB_MAX_IOV)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++)
		sum += iov[i].iov_len;
	if (sum != len)
		return -EINVAL;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opc = opc;
	sqe.nsid = ns->nsid;
	sqe.cdw10 = (uint32_t)lba;
	sqe.cdw11 = (uint32_t)(lba >> 32);
	sqe.cdw12 = (nblocks - 1) | (flags & NVFAB_IO_FUA ? 1u << 30 : 0) |
		    (flags & NVFAB_IO_LIMITED_RETRY ? 1u << 31 : 0);
	return host_qpair_submit(qp, &sqe, xfer, iov, iovcnt, (uint32_t)len, cb, arg);
}

int nvfab_read(struct nvfab_qpair *qp, const struct nvfab_ns *ns, uint64_t lba, uint32_t nblocks,
	       const struct iovec *iov, int iovcnt, uint32_t flags, nvfab_cb cb, void *arg)
{
	return io_rw(qp, ns, nvme_cmd_read, HOST_XFER_C2H, lba, nblocks, iov, iovcnt, flags, cb,
		     arg);
}

int nvfab_write(struct nvfab_qpair *qp, const struct nvfab_ns *ns, uint64_t lba, uint32_t nblocks,
		const struct iovec *iov, int iovcnt, uint32_t flags, nvfab_cb cb, void *arg)
{
	return io_rw(qp, ns, nvme_cmd_write, HOST_XFER_H2C, lba, nblocks, iov, iovcnt, flags, cb,
		     arg);
}

int nvfab_compare(struct nvfab_qpair *qp, const struct nvfab_ns *ns, uint64_t lba,
		  uint32_t nblocks, const struct iovec *iov, int iovcnt, uint32_t flags, nvfab_cb cb,
		  void *arg)
{
	return io_rw(qp, ns, nvme_cmd_compare, HOST_XFER_H2C, lba, nblocks, iov, iovcnt, flags, cb,
		     arg);
}

int nvfab_flush(struct nvfab_qpair *qpair, const struct nvfab_ns *ns, nvfab_cb cb, void *arg)
{
	struct nvme_sqe sqe;

	if (ns->ctrlr != qpair->q.ctrlr)
		return -EINVAL;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opc = nvme_cmd_flush;
	sqe.nsid = ns->nsid;
	return host_qpair_submit(&qpair->q, &sqe, HOST_XFER_NONE, NULL, 0, 0, cb, arg);
}

int nvfab_write_zeroes(struct nvfab_qpair *qpair, const struct nvfab_ns *ns, uint64_t lba,
		       uint32_t nblocks, uint32_t flags, nvfab_cb cb, void *arg)
{
	struct nvme_sqe sqe;

	if (ns->ctrlr != qpair->q.ctrlr || nblocks == 0 || nblocks > 65536)
		return -EINVAL;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opc = nvme_cmd_write_zeroes;
	sqe.nsid = ns->nsid;
	sqe.cdw10 = (uint32_t)lba;
	sqe.cdw11 = (uint32_t)(lba >> 32);
	sqe.cdw12 = (nblocks - 1) | (flags & NVFAB_IO_DEAC ? 1u << 25 : 0) |
		    (flags & NVFAB_IO_FUA ? 1u << 30 : 0) |
		    (flags & NVFAB_IO_LIMITED_RETRY ? 1u << 31 : 0);
	return host_qpair_submit(&qpair->q, &sqe, HOST_XFER_NONE, NULL, 0, 0, cb, arg);
}

int nvfab_io_cmd_submit(struct nvfab_qpair *qpair, const struct nvfab_ns *ns,
			const struct nvfab_io_cmd *cmd, const struct iovec *iov, int iovcnt,
			nvfab_cb cb, void *arg)
{
	struct host_qpair *qp = &qpair->q;
	enum host_xfer xfer;
	uint64_t len = 0;
	struct nvme_sqe sqe;

	switch (cmd->opc & 3) {
	case 0: xfer = HOST_XFER_NONE; break;
	case 1: xfer = HOST_XFER_H2C; break;
	case 2: xfer = HOST_XFER_C2H; break;
	default: return -EINVAL;
	}
	if (ns->ctrlr != qp->ctrlr || iovcnt < 0 || iovcnt > NVFAB_MAX_IOV ||
	    (xfer == HOST_XFER_NONE) != (iovcnt == 0))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (len > qp->ctrlr->max_xfer || (xfer != HOST_XFER_NONE && len == 0))
		return -EINVAL;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opc = cmd->opc;
	sqe.nsid = ns->nsid;
	sqe.cdw2 = cmd->cdw2;
	sqe.cdw3 = cmd->cdw3;
	sqe.cdw10 = cmd->cdw10;
	sqe.cdw11 = cmd->cdw11;
	sqe.cdw12 = cmd->cdw12;
	sqe.cdw13 = cmd->cdw13;
	sqe.cdw14 = cmd->cdw14;
	sqe.cdw15 = cmd->cdw15;
	return host_qpair_submit(qp, &sqe, xfer, iovcnt ? iov : NULL, iovcnt, (uint32_t)len, cb,
				 arg);
}

_Static_assert(sizeof(struct nvfab_dsm_range) == 16, "DSM range is 16 bytes on the wire");

int nvfab_deallocate(struct nvfab_qpair *qpair, const struct nvfab_ns *ns,
		     const struct nvfab_dsm_range *ranges, uint32_t nr, nvfab_cb cb, void *arg)
{
	struct iovec iov = {(void *)ranges, nr * sizeof(*ranges)};
	struct nvme_sqe sqe;

	if (ns->ctrlr != qpair->q.ctrlr || nr == 0 || nr > 256)
		return -EINVAL;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opc = nvme_cmd_dsm;
	sqe.nsid = ns->nsid;
	sqe.cdw10 = nr - 1;
	sqe.cdw11 = NVME_DSMGMT_AD;
	return host_qpair_submit(&qpair->q, &sqe, HOST_XFER_H2C, &iov, 1, (uint32_t)iov.iov_len, cb,
				 arg);
}
