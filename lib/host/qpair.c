/*
 * The host side of one NVMe/TCP connection: command capsules out, responses and data in. Used
 * for the admin queue and for I/O queues alike; the policy on a lost connection (hold requests
 * for a reconnect, or fail them) is the owner's, through hold_on_error.
 *
 * Data path rules: no allocation (requests are preallocated, keyed by CID), no locks, one
 * sendmsg per command (header and in-capsule data gathered by tcp_tx), received data lands in
 * the caller's iovecs (tcp_rx). Callbacks run only from host_qpair_poll(); a socket error found
 * elsewhere (during a submit, inside the receive machine) is deferred to it, so that a callback
 * never runs inside a submit and teardown never runs inside the receive machine.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "host/host_internal.h"
#include "spec/status.h"
#include "tcp/tcp_sock.h"
#include "util/log.h"

uint64_t host_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Cheap (a few ns, ms resolution): good enough for command timeouts. */
static uint64_t coarse_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void cmd_pdu_done(struct tcp_tx_pdu *pdu);
static void h2c_pdu_done(struct tcp_tx_pdu *pdu);
static int qp_on_header(void *ctx, struct tcp_rx *rx);
static int qp_on_pdu(void *ctx, struct tcp_rx *rx, bool ddgst_ok);
static void qp_guess(void *ctx, struct tcp_rx *rx);

static const struct tcp_rx_ops qp_rx_ops = {
	.on_header = qp_on_header,
	.on_pdu = qp_on_pdu,
	.guess = qp_guess,
};

static void qp_rx_reset(struct host_qpair *qp)
{
	tcp_rx_reset(&qp->rx);
	qp->rx.lim.max_c2h_data = UINT32_MAX;
	qp->ic_done = false;
}

int host_qpair_init(struct host_qpair *qp, struct nvfab_ctrlr *ctrlr, uint16_t qid,
		    uint32_t size)
{
	int rc;

	memset(qp, 0, sizeof(*qp));
	if (size < 2 || size > HOST_MAX_QUEUE_SIZE)
		return -EINVAL;
	qp->ctrlr = ctrlr;
	qp->qid = qid;
	qp->size = size;
	qp->fd = -1;
	qp->state = HOST_QP_CONNECTING;
	qp->loss_deadline_ns = UINT64_MAX;
	qp->fast_fail_ns = UINT64_MAX;
	list_init(&qp->free_list);
	list_init(&qp->held_list);
	list_init(&qp->active_list);
	list_init(&qp->done_list);
	tcp_tx_init(&qp->tx);
	rc = tcp_rx_init(&qp->rx, TCP_ROLE_HOST);
	if (rc)
		return rc;
	qp_rx_reset(qp);
	if (posix_memalign((void **)&qp->reqs, 64, size * sizeof(*qp->reqs))) {
		tcp_rx_fini(&qp->rx);
		return -ENOMEM;
	}
	memset(qp->reqs, 0, size * sizeof(*qp->reqs));
	for (uint32_t i = 0; i < size; i++) {
		struct host_req *req = &qp->reqs[i];

		req->qp = qp;
		req->cid = (uint16_t)i;
		req->cmd_pdu.done = cmd_pdu_done;
		req->h2c_pdu.done = h2c_pdu_done;
		list_add_tail(&qp->free_list, &req->link);
	}
	return 0;
}

/* The TLS session goes with the socket it runs on. */
static void qp_tls_free(struct host_qpair *qp)
{
	tcp_tls_free(qp->tx.tls);
	qp->tx.tls = NULL;
	qp->rx.tls = NULL;
}

void host_qpair_fini(struct host_qpair *qp)
{
	qp_tls_free(qp);
	if (qp->fd >= 0)
		close(qp->fd);
	qp->fd = -1;
	tcp_rx_fini(&qp->rx);
	free(qp->reqs);
	qp->reqs = NULL;
}

/* ---- requests ---- */

static struct host_req *req_lookup(struct host_qpair *qp, uint16_t cid)
{
	uint32_t idx = cid & HOST_CID_IDX_MASK;
	struct host_req *req;

	if (idx >= qp->size)
		return NULL;
	req = &qp->reqs[idx];
	if (req->cid != cid || req->state != HOST_REQ_ACTIVE)
		return NULL;
	return req;
}

static void req_complete(struct host_qpair *qp, struct host_req *req)
{
	struct nvfab_cpl cpl = req->cpl;
	nvfab_cb cb = req->cb;
	void *arg = req->cb_arg;

	list_del(&req->link);
	req->state = HOST_REQ_FREE;
	/* Reuse the cache-hot entry first; the CID generation catches stale responses. */
	list_add_head(&qp->free_list, &req->link);
	qp->outstanding--;
	qp->reaped++;
	cpl.cid = req->cid;
	if (cb)
		cb(arg, &cpl);
}

/* The response is in; completes now, or when our last send of the request is done. */
static void req_response(struct host_qpair *qp, struct host_req *req)
{
	if (req->tx_pending) {
		req->cpl_ready = true;
		return;
	}
	req_complete(qp, req);
}

static int iov_slice(const struct iovec *src, int cnt, uint32_t off, uint32_t len,
		     struct iovec *dst)
{
	int n = 0;

	for (int i = 0; i < cnt && len; i++) {
		size_t l = src[i].iov_len;

		if (off >= l) {
			off -= (uint32_t)l;
			continue;
		}
		dst[n].iov_base = (uint8_t *)src[i].iov_base + off;
		dst[n].iov_len = l - off < len ? l - off : len;
		len -= (uint32_t)dst[n].iov_len;
		off = 0;
		n++;
	}
	return n;
}

/* ---- sending ---- */

static void qp_conn_error(struct host_qpair *qp, int err)
{
	if (!qp->deferred_err)
		qp->deferred_err = err;
}

static void qp_flush(struct host_qpair *qp)
{
	int rc;

	if (qp->fd < 0 || qp->deferred_err)
		return;
	rc = tcp_tx_flush(&qp->tx, qp->fd);
	if (rc < 0)
		qp_conn_error(qp, rc);
}

static uint32_t req_icd_limit(const struct host_qpair *qp, const struct host_req *req)
{
	if (req->sqe.opc == NVME_FABRICS_OPC)
		return HOST_ADMIN_ICD_SIZE;
	return qp->icd_max;
}

static void req_send(struct host_qpair *qp, struct host_req *req)
{
	struct tcp_tx_pdu *pdu = &req->cmd_pdu;
	struct nvme_sqe *sqe = &pdu->hdr.cmd.sqe;
	bool icd = req->xfer == HOST_XFER_H2C && req->len && req->len <= req_icd_limit(qp, req);

	memset(&pdu->hdr.cmd, 0, sizeof(pdu->hdr.cmd));
	*sqe = req->sqe;
	sqe->flags = (uint8_t)((sqe->flags & 0x3) | NVME_SQE_PSDT_SGL);
	memset(&sqe->sgl, 0, sizeof(sqe->sgl));
	sqe->sgl.length = req->len;
	sqe->sgl.type = icd ? NVME_SGL_TYPE_ICD : NVME_SGL_TYPE_TRANSPORT;

	req->icd = icd;
	req->cpl_ready = false;
	req->h2c_busy = false;
	req->c2h_next = 0;
	req->h2c_next = req->h2c_end = 0;
	req->tx_pending = 1;
	req->submit_ns = coarse_now_ns();
	req->state = HOST_REQ_ACTIVE;
	list_add_tail(&qp->active_list, &req->link);

	tcp_tx_pdu_prepare(pdu, NVME_TCP_PDU_CAPSULE_CMD, 0, icd ? req->iov : NULL,
			   icd ? req->iovcnt : 0, icd ? req->len : 0, qp->hdgst, qp->ddgst, qp->cpda);
	tcp_tx_enqueue(&qp->tx, pdu);
}

int host_qpair_submit(struct host_qpair *qp, const struct nvme_sqe *sqe, enum host_xfer xfer,
		      const struct iovec *iov, int iovcnt, uint32_t len, nvfab_cb cb, void *arg)
{
	struct list_node *n;
	struct host_req *req;

	if (qp->state == HOST_QP_FAILED || (qp->fast_failed && qp->state == HOST_QP_RECONNECTING))
		return -ENOTCONN;
	if (iovcnt > NVFAB_MAX_IOV || iovcnt < 0)
		return -EINVAL;
	/* A queue of size N holds N - 1 commands (SQ flow control). The spare entry lets the
	 * Connect of a reconnect go out ahead of a full queue of held commands. */
	if (qp->outstanding + 1 >= qp->size && qp->state != HOST_QP_CONNECTING)
		return -EAGAIN;
	n = list_pop(&qp->free_list);
	if (!n)
		return -EAGAIN;
	req = list_entry(n, struct host_req, link);
	req->cid = (uint16_t)((req->cid + (1u << HOST_CID_IDX_BITS)) & 0xffff);
	req->sqe = *sqe;
	req->sqe.cid = req->cid;
	req->xfer = (uint8_t)xfer;
	req->len = len;
	req->iovcnt = iovcnt;
	for (int i = 0; i < iovcnt; i++)
		req->iov[i] = iov[i];
	memset(&req->cpl, 0, sizeof(req->cpl));
	req->cb = cb;
	req->cb_arg = arg;
	qp->outstanding++;

	if (qp->fd >= 0 && (qp->state == HOST_QP_LIVE || qp->state == HOST_QP_CONNECTING)) {
		req_send(qp, req);
		if (!qp->batching)
			qp_flush(qp);
	} else {
		req->state = HOST_REQ_HELD;
		list_add_tail(&qp->held_list, &req->link);
	}
	return 0;
}

void host_qpair_resubmit_held(struct host_qpair *qp)
{
	struct list_node *n;

	while ((n = list_pop(&qp->held_list)))
		req_send(qp, list_entry(n, struct host_req, link));
	qp_flush(qp);
}

static void cmd_pdu_done(struct tcp_tx_pdu *pdu)
{
	struct host_req *req = container_of(pdu, struct host_req, cmd_pdu);

	req->tx_pending--;
	if (!req->qp->tearing_down && req->cpl_ready && req->tx_pending == 0) {
		/* Completing here would run a callback inside tcp_tx_flush(): defer to the poll. */
		list_del(&req->link);
		list_add_tail(&req->qp->done_list, &req->link);
	}
}

static void h2c_send_next(struct host_qpair *qp, struct host_req *req)
{
	struct tcp_tx_pdu *pdu = &req->h2c_pdu;
	struct nvme_tcp_data_hdr *h = &pdu->hdr.data;
	uint32_t chunk = req->h2c_end - req->h2c_next;
	int n;

	if (chunk > qp->max_h2c)
		chunk = qp->max_h2c;
	memset(h, 0, sizeof(*h));
	h->cccid = req->cid;
	h->ttag = req->ttag;
	h->datao = req->h2c_next;
	h->datal = chunk;
	n = iov_slice(req->iov, req->iovcnt, req->h2c_next, chunk, req->h2c_iov);
	req->h2c_next += chunk;
	tcp_tx_pdu_prepare(pdu, NVME_TCP_PDU_H2C_DATA,
			   req->h2c_next == req->h2c_end ? NVME_TCP_F_DATA_LAST : 0, req->h2c_iov, n,
			   chunk, qp->hdgst, qp->ddgst, qp->cpda);
	req->h2c_busy = true;
	req->tx_pending++;
	tcp_tx_enqueue(&qp->tx, pdu);
}

static void h2c_pdu_done(struct tcp_tx_pdu *pdu)
{
	struct host_req *req = container_of(pdu, struct host_req, h2c_pdu);
	struct host_qpair *qp = req->qp;

	req->tx_pending--;
	req->h2c_busy = false;
	if (qp->tearing_down)
		return;
	/* Queued from inside tcp_tx_flush(): its loop picks the new PDU up. */
	if (req->h2c_next < req->h2c_end)
		h2c_send_next(qp, req);
	else if (req->cpl_ready && req->tx_pending == 0) {
		list_del(&req->link);
		list_add_tail(&qp->done_list, &req->link);
	}
}

/* ---- receiving ---- */

static int qp_c2h_header(struct host_qpair *qp, struct tcp_rx *rx)
{
	const struct nvme_tcp_data_hdr *h = &rx->hdr.data;
	struct host_req *req = req_lookup(qp, h->cccid);
	struct iovec iov[NVFAB_MAX_IOV];
	int n;

	if (!req || req->xfer != HOST_XFER_C2H)
		return tcp_rx_fail(rx, NVME_TCP_FES_INVALID_HEADER,
				   offsetof(struct nvme_tcp_data_hdr, cccid),
				   "C2HData for a command that expects no data");
	if (h->datao != req->c2h_next)
		return tcp_rx_fail(rx, NVME_TCP_FES_DATA_OUT_OF_RANGE,
				   offsetof(struct nvme_tcp_data_hdr, datao),
				   "C2HData out of order");
	if ((uint64_t)h->datao + h->datal > req->len)
		return tcp_rx_fail(rx, NVME_TCP_FES_DATA_OUT_OF_RANGE,
				   offsetof(struct nvme_tcp_data_hdr, datal),
				   "C2HData beyond the command's buffer");
	n = iov_slice(req->iov, req->iovcnt, h->datao, h->datal, iov);
	req->c2h_next += h->datal;
	return tcp_rx_set_data(rx, iov, n);
}

/*
 * Foretells the C2HData of the oldest reads that wait for data, so that a read puts their data
 * straight into their buffers (tcp_rx.h). A target that ends reads with SUCCESS in C2HData
 * sends one PDU per read, in order for most back ends: a run of reads is foretold. Otherwise a
 * CapsuleResp follows each read's data and only the first read is.
 */
static void qp_guess(void *ctx, struct tcp_rx *rx)
{
	struct host_qpair *qp = ctx;
	struct list_node *n;
	int looked = 0;

	if (!qp->ic_done)
		return;
	for (n = qp->active_list.next; n != &qp->active_list; n = n->next) {
		struct host_req *req = list_entry(n, struct host_req, link);
		struct iovec iov[NVFAB_MAX_IOV];
		const struct iovec *v;
		int cnt;
		struct tcp_rx_guess g = {
			.type = NVME_TCP_PDU_C2H_DATA,
			.hlen = sizeof(struct nvme_tcp_data_hdr),
			.check_data_hdr = true,
			.cccid = req->cid,
			.len = req->len,
		};

		/* Commands leave in order: none after an unsent one can be answered yet. */
		if (req->tx_pending || ++looked > 2 * TCP_RX_MAX_GUESS)
			break;
		if (req->xfer != HOST_XFER_C2H || req->c2h_next != 0 || req->len == 0)
			continue;
		/* One buffer of exactly the read's length (the usual case) needs no slicing. */
		if (req->iovcnt == 1 && req->iov[0].iov_len == req->len) {
			v = req->iov;
			cnt = 1;
		} else {
			v = iov;
			cnt = iov_slice(req->iov, req->iovcnt, 0, req->len, iov);
		}
		if (!tcp_rx_guess_add(rx, &g, v, cnt) || !qp->c2h_success_seen)
			break;
	}
}

static int qp_on_header(void *ctx, struct tcp_rx *rx)
{
	struct host_qpair *qp = ctx;

	switch (rx->hdr.ch.type) {
	case NVME_TCP_PDU_C2H_DATA:
		return qp_c2h_header(qp, rx);
	case NVME_TCP_PDU_C2H_TERM_REQ:
		tcp_rx_discard_data(rx);
		return 0;
	default:
		return 0;
	}
}

static int qp_on_icresp(struct host_qpair *qp, struct tcp_rx *rx)
{
	const struct nvme_tcp_icresp *ic = &rx->hdr.icresp;
	const struct nvfab_ctrlr_opts *o = &qp->ctrlr->opts;

	if ((ic->dgst & NVME_TCP_ICREQ_DGST_HDGST && !o->hdgst) ||
	    (ic->dgst & NVME_TCP_ICREQ_DGST_DDGST && !o->ddgst))
		return tcp_rx_fail(rx, NVME_TCP_FES_UNSUPPORTED_PARAM,
				   offsetof(struct nvme_tcp_icresp, dgst),
				   "ICResp enables a digest the host did not request");
	qp->hdgst = ic->dgst & NVME_TCP_ICREQ_DGST_HDGST;
	qp->ddgst = ic->dgst & NVME_TCP_ICREQ_DGST_DDGST;
	qp->cpda = ic->cpda;
	qp->max_h2c = ic->maxh2cdata;
	rx->lim.hdgst = qp->hdgst;
	rx->lim.ddgst = qp->ddgst;
	rx->lim.ic_done = true;
	qp->ic_done = true;
	return 0;
}

static int qp_on_r2t(struct host_qpair *qp, struct tcp_rx *rx)
{
	const struct nvme_tcp_r2t *r2t = &rx->hdr.r2t;
	struct host_req *req = req_lookup(qp, r2t->cccid);

	if (!req || req->xfer != HOST_XFER_H2C || req->icd)
		return tcp_rx_fail(rx, NVME_TCP_FES_INVALID_HEADER,
				   offsetof(struct nvme_tcp_r2t, cccid),
				   "R2T for a command with no data to send");
	if ((uint64_t)r2t->r2to + r2t->r2tl > req->len)
		return tcp_rx_fail(rx, NVME_TCP_FES_DATA_OUT_OF_RANGE,
				   offsetof(struct nvme_tcp_r2t, r2tl), "R2T beyond the command's data");
	/* We announced MAXR2T 0: one R2T at a time per command. */
	if (req->h2c_busy || req->h2c_next < req->h2c_end)
		return tcp_rx_fail(rx, NVME_TCP_FES_PDU_SEQUENCE, 0,
				   "R2T while the previous one is still being answered");
	req->ttag = r2t->ttag;
	req->h2c_next = r2t->r2to;
	req->h2c_end = r2t->r2to + r2t->r2tl;
	h2c_send_next(qp, req);
	qp_flush(qp);
	return 0;
}

static int qp_on_c2h_done(struct host_qpair *qp, struct tcp_rx *rx, bool ddgst_ok)
{
	const struct nvme_tcp_data_hdr *h = &rx->hdr.data;
	struct host_req *req = req_lookup(qp, h->cccid);

	if (!req)
		return 0;
	if (!ddgst_ok) {
		log_warn("qid %u cid %u: C2HData data digest mismatch", qp->qid, h->cccid);
		req->cpl.transport_err = -EBADMSG;
	}
	qp->c2h_success_seen = h->ch.flags & NVME_TCP_F_DATA_SUCCESS;
	if (h->ch.flags & NVME_TCP_F_DATA_SUCCESS) {
		/* A read must bring all its data. A fabrics command may bring less than its buffer
		 * holds: SPDK's target answers Authentication Receive with the message only. */
		if (!(h->ch.flags & NVME_TCP_F_DATA_LAST) ||
		    (req->c2h_next != req->len && req->sqe.opc != NVME_FABRICS_OPC))
			return tcp_rx_fail(rx, NVME_TCP_FES_INVALID_HEADER,
					   offsetof(struct nvme_tcp_common_hdr, flags),
					   "SUCCESS flag before the last data");
		/* No CapsuleResp follows: this is the successful completion. */
		req->cpl.status = 0;
		req->cpl.cdw0 = 0;
		req_response(qp, req);
	}
	return 0;
}

static int qp_on_pdu(void *ctx, struct tcp_rx *rx, bool ddgst_ok)
{
	struct host_qpair *qp = ctx;
	const union tcp_pdu_hdr *h = &rx->hdr;

	switch (h->ch.type) {
	case NVME_TCP_PDU_ICRESP:
		return qp_on_icresp(qp, rx);
	case NVME_TCP_PDU_CAPSULE_RESP: {
		const struct nvme_cqe *cqe = &h->rsp.cqe;
		struct host_req *req = req_lookup(qp, cqe->cid);

		if (!req)
			return tcp_rx_fail(rx, NVME_TCP_FES_INVALID_HEADER,
					   offsetof(struct nvme_tcp_rsp, cqe) +
						   offsetof(struct nvme_cqe, cid),
					   "response for a command not outstanding");
		req->cpl.cdw0 = cqe->dw0;
		req->cpl.cdw1 = cqe->dw1;
		req->cpl.status = cqe->status >> 1;
		req_response(qp, req);
		return 0;
	}
	case NVME_TCP_PDU_C2H_DATA:
		return qp_on_c2h_done(qp, rx, ddgst_ok);
	case NVME_TCP_PDU_R2T:
		return qp_on_r2t(qp, rx);
	case NVME_TCP_PDU_C2H_TERM_REQ:
		log_error("qid %u: controller terminated the connection: %s (FEI 0x%x)", qp->qid,
			  tcp_fes_name(h->term.fes), h->term.fei);
		return -ECONNABORTED;
	default:
		return tcp_rx_fail(rx, NVME_TCP_FES_INVALID_HEADER, 0, "unexpected PDU type");
	}
}

/* ---- teardown ---- */

/* Best effort: tell the controller why we hang up. */
static void qp_send_term_req(struct host_qpair *qp)
{
	struct tcp_tx_pdu *pdu = &qp->ctl_pdu;
	uint32_t len = qp->rx.hdr_got < sizeof(qp->term_data) ? qp->rx.hdr_got
							       : sizeof(qp->term_data);
	struct iovec data = {qp->term_data, len};

	memcpy(qp->term_data, qp->rx.hdr.raw, len);
	memset(&pdu->hdr.term, 0, sizeof(pdu->hdr.term));
	pdu->hdr.term.fes = qp->rx.err.fes;
	pdu->hdr.term.fei = qp->rx.err.fei;
	tcp_tx_pdu_prepare(pdu, NVME_TCP_PDU_H2C_TERM_REQ, 0, &data, 1, len, false, false, 0);
	pdu->done = NULL;
	tcp_tx_enqueue(&qp->tx, pdu);
	(void)tcp_tx_flush(&qp->tx, qp->fd);
}

static void req_fail(struct host_qpair *qp, struct host_req *req, int err)
{
	memset(&req->cpl, 0, sizeof(req->cpl));
	req->cpl.transport_err = err;
	req_complete(qp, req);
}

void host_qpair_fail_all(struct host_qpair *qp, int err)
{
	struct list_node *n;

	while ((n = list_pop(&qp->held_list))) {
		list_add_tail(&qp->active_list, n); /* req_complete() unlinks it again */
		req_fail(qp, list_entry(n, struct host_req, link), err);
	}
	while ((n = qp->active_list.next) != &qp->active_list)
		req_fail(qp, list_entry(n, struct host_req, link), err);
	while ((n = qp->done_list.next) != &qp->done_list)
		req_fail(qp, list_entry(n, struct host_req, link), err);
}

void host_qpair_close(struct host_qpair *qp, int err, bool hold)
{
	struct list_node *n;

	if (qp->fd >= 0) {
		/* Only on an idle send queue: after a partly sent PDU it would be noise. */
		if (err == -EPROTO && qp->rx.state == TCP_RX_ERROR && !tcp_tx_pending(&qp->tx))
			qp_send_term_req(qp);
		/*
		 * Abandoning commands (to resend them elsewhere, or to fail them): reset the
		 * connection instead of closing it, or the kernel would go on delivering their
		 * queued bytes when a cut link heals, and an old write could land after a newer one.
		 */
		if (qp->outstanding || tcp_tx_pending(&qp->tx))
			tcp_sock_abort(qp->fd);
		qp_tls_free(qp);
		close(qp->fd);
		qp->fd = -1;
	}
	qp->tearing_down = true;
	tcp_tx_drop(&qp->tx);
	qp->tearing_down = false;
	qp_rx_reset(qp);
	qp->deferred_err = 0;
	qp->last_err = err;

	/* Completed on the wire: deliver them, whatever happens to the rest. */
	while ((n = qp->done_list.next) != &qp->done_list)
		req_complete(qp, list_entry(n, struct host_req, link));
	if (!hold) {
		while ((n = qp->active_list.next) != &qp->active_list)
			req_fail(qp, list_entry(n, struct host_req, link), err);
		return;
	}
	/* Sent but unanswered: resend first, in their original order, before newer held ones. */
	while ((n = qp->active_list.prev) != &qp->active_list) {
		struct host_req *req = list_entry(n, struct host_req, link);

		list_del(n);
		req->state = HOST_REQ_HELD;
		req->tx_pending = 0;
		req->cpl_ready = false;
		memset(&req->cpl, 0, sizeof(req->cpl));
		list_add_head(&qp->held_list, n);
	}
}

void host_qpair_lost(struct host_qpair *qp, int err)
{
	/* With a path to fail over to, an I/O queue waits for it even with ctrl_loss_tmo 0. */
	bool hold = qp->hold_on_error || (qp->qid && host_path_count(qp->ctrlr) > 1);

	if (qp->state == HOST_QP_LIVE && hold) {
		host_qpair_close(qp, err, true);
		qp->state = HOST_QP_RECONNECTING;
	} else if (qp->state == HOST_QP_LIVE) {
		host_qpair_close(qp, err, false);
		qp->state = HOST_QP_FAILED;
		host_qpair_fail_all(qp, err);
	} else {
		/* Setting up: the set-up step fails; held requests wait for the owner's verdict. */
		host_qpair_close(qp, err, false);
	}
}

/* ---- polling ---- */

static void qp_check_timeouts(struct host_qpair *qp, uint64_t now)
{
	int32_t tmo = qp->ctrlr->opts.io_timeout_ms;
	struct list_node *pos, *tmp;

	if (tmo <= 0 || now < qp->next_timeout_check_ns)
		return;
	qp->next_timeout_check_ns = now + 250000000ull;
	list_for_each_safe(pos, tmp, &qp->active_list) {
		struct host_req *req = list_entry(pos, struct host_req, link);

		/* An Asynchronous Event Request is answered only when something happens. */
		if (qp->qid == 0 && req->sqe.opc == nvme_admin_async_event)
			continue;
		if (now - req->submit_ns > (uint64_t)tmo * 1000000ull) {
			log_error("qid %u: command cid %u (opcode 0x%02x) timed out after %d ms; resetting the connection",
				  qp->qid, req->cid, req->sqe.opc, tmo);
			qp_conn_error(qp, -ETIMEDOUT);
			return;
		}
	}
}

void host_qpair_flush(struct host_qpair *qp)
{
	qp_flush(qp);
}

int host_qpair_poll(struct host_qpair *qp, uint32_t max)
{
	struct list_node *n;
	bool was_batching;
	int rc = 0;

	qp->reaped = 0;
	if (qp->fd >= 0 && !qp->deferred_err) {
		if (tcp_tx_pending(&qp->tx))
			qp_flush(qp);
		qp->in_poll = true;
		while (!qp->deferred_err) {
			rc = tcp_rx_recv(&qp->rx, qp->fd, &qp_rx_ops, qp, 1);
			if (rc < 0) {
				qp_conn_error(qp, rc);
				break;
			}
			/*
			 * A short read means the socket is drained: spare the EAGAIN syscall. Not after
			 * a large read, though: more of the stream has usually arrived meanwhile, and
			 * reading it now beats a return to the caller and back (busy-polled 128 KiB
			 * reads: 48K -> 58K IOPS); unless nothing is outstanding any more, when no
			 * more can come (a gateway's 128 KiB reads at QD1: one recv fewer per I/O).
			 */
			if ((qp->rx.drained && (rc < TCP_RX_STAGING_SIZE / 2 || qp->outstanding == 0)) ||
			    (max && qp->reaped >= max))
				break;
			/*
			 * Large PDUs take the next read a while to copy. Commands that completion
			 * callbacks submitted meanwhile go out now, not after the whole stream is
			 * read: otherwise the controller runs dry at the end of every round and the
			 * queue moves in lock step (128 KiB reads at QD8).
			 */
			if (qp->rx.large && tcp_tx_pending(&qp->tx))
				qp_flush(qp);
		}
		qp->in_poll = false;
	}
	/* Commands that callbacks submit go out together, in one sendmsg after the last one. */
	was_batching = qp->batching;
	qp->batching = true;
	while ((n = qp->done_list.next) != &qp->done_list)
		req_complete(qp, list_entry(n, struct host_req, link));
	qp->batching = was_batching;
	if (!was_batching && tcp_tx_pending(&qp->tx))
		qp_flush(qp);
	if (!qp->deferred_err && !list_empty(&qp->active_list))
		qp_check_timeouts(qp, coarse_now_ns());
	if (qp->deferred_err) {
		int err = qp->deferred_err;

		if (err == -EPROTO)
			log_error("qid %u: protocol error from the controller: %s", qp->qid,
				  qp->rx.err.why ? qp->rx.err.why : "?");
		else
			log_warn("qid %u: connection lost: %s", qp->qid, strerror(-err));
		host_qpair_lost(qp, err);
		return err;
	}
	return (int)qp->reaped;
}

int host_qpair_wait(struct host_qpair *qp, const bool *done, uint64_t deadline_ns)
{
	while (!*done) {
		struct pollfd pfd;
		uint64_t now;
		int rc = host_qpair_poll(qp, 0);

		if (*done)
			break;
		if (rc < 0)
			return rc;
		if (qp->fd < 0)
			return qp->last_err ? qp->last_err : -ENOTCONN;
		now = host_now_ns();
		if (now >= deadline_ns)
			return -ETIMEDOUT;
		pfd.fd = qp->fd;
		pfd.events = (short)(POLLIN | (tcp_tx_pending(&qp->tx) ? POLLOUT : 0));
		pfd.revents = 0;
		(void)poll(&pfd, 1, (int)((deadline_ns - now + 999999) / 1000000));
	}
	return 0;
}

struct exec_ctx {
	bool done;
	struct nvfab_cpl cpl;
};

static void exec_cb(void *arg, const struct nvfab_cpl *cpl)
{
	struct exec_ctx *ctx = arg;

	ctx->cpl = *cpl;
	ctx->done = true;
}

int host_qpair_exec(struct host_qpair *qp, const struct nvme_sqe *sqe, enum host_xfer xfer,
		    void *buf, uint32_t len, struct nvfab_cpl *cpl, int timeout_ms)
{
	struct exec_ctx ctx = {0};
	struct iovec iov = {buf, len};
	int rc;

	rc = host_qpair_submit(qp, sqe, xfer, &iov, len ? 1 : 0, len, exec_cb, &ctx);
	if (rc)
		return rc;
	rc = host_qpair_wait(qp, &ctx.done, host_now_ns() + (uint64_t)timeout_ms * 1000000ull);
	if (!ctx.done) {
		/* The command may still be running on the controller: the connection has to go. */
		log_info("qid %u: %s (opcode 0x%02x) got no answer in %d ms", qp->qid,
			 sqe->opc == NVME_FABRICS_OPC ? "fabrics command" : "command", sqe->opc,
			 timeout_ms);
		host_qpair_lost(qp, rc ? rc : -ETIMEDOUT);
	}
	if (cpl)
		*cpl = ctx.cpl;
	if (ctx.cpl.transport_err)
		return ctx.cpl.transport_err;
	return rc;
}

/* ---- connection set-up ---- */

static int qp_send_icreq(struct host_qpair *qp)
{
	struct tcp_tx_pdu *pdu = &qp->ctl_pdu;
	struct nvme_tcp_icreq *ic = &pdu->hdr.icreq;
	const struct nvfab_ctrlr_opts *o = &qp->ctrlr->opts;

	memset(ic, 0, sizeof(*ic));
	ic->pfv = NVME_TCP_PFV_1_0;
	ic->hpda = 0;
	ic->dgst = (uint8_t)((o->hdgst ? NVME_TCP_ICREQ_DGST_HDGST : 0) |
			     (o->ddgst ? NVME_TCP_ICREQ_DGST_DDGST : 0));
	ic->maxr2t = 0;
	tcp_tx_pdu_prepare(pdu, NVME_TCP_PDU_ICREQ, 0, NULL, 0, 0, false, false, 0);
	pdu->done = NULL;
	tcp_tx_enqueue(&qp->tx, pdu);
	qp_flush(qp);
	return 0;
}

uint64_t host_setup_deadline(const struct nvfab_ctrlr *ctrlr, uint64_t limit_ns)
{
	uint64_t d = host_now_ns() + (uint64_t)ctrlr->opts.connect_timeout_ms * 1000000ull;

	return d < limit_ns ? d : limit_ns;
}

int host_ms_until(uint64_t deadline_ns)
{
	uint64_t now = host_now_ns();
	uint64_t ms = deadline_ns > now ? (deadline_ns - now + 999999) / 1000000 : 1;

	return ms > INT32_MAX ? INT32_MAX : ms ? (int)ms : 1;
}

int host_qpair_connect(struct host_qpair *qp, uint16_t cntlid, uint64_t deadline_ns,
		       struct nvfab_error *err)
{
	struct nvfab_ctrlr *ctrlr = qp->ctrlr;
	struct nvfab_trid path, *t = &path;
	struct nvmf_connect_data data;
	struct nvfab_cpl cpl;
	struct nvme_sqe sqe;
	int fd, rc;

	host_path_current(ctrlr, &path);
	fd = tcp_sock_connect(t->traddr, t->trsvcid,
			      t->adrfam == NVFAB_ADRFAM_IPV6 ? AF_INET6 : AF_INET,
			      host_ms_until(deadline_ns));
	if (fd < 0) {
		host_error_set(err, fd, 0, "cannot connect to %s port %s: %s", t->traddr, t->trsvcid,
			       strerror(-fd));
		return fd;
	}
	qp->fd = fd;
	qp->state = HOST_QP_CONNECTING;
	qp->deferred_err = 0;
	qp_rx_reset(qp);
	if (ctrlr->has_tls_key) {
		rc = host_qpair_start_tls(qp, t, deadline_ns, err);
		if (rc) {
			host_qpair_close(qp, rc, false);
			return rc;
		}
	}

	qp_send_icreq(qp);
	rc = host_qpair_wait(qp, &qp->ic_done, deadline_ns);
	if (rc) {
		if (rc == -EPROTO)
			host_error_set(err, rc, 0, "%s:%s qid %u: bad ICResp: %s", t->traddr,
				       t->trsvcid, qp->qid, qp->rx.err.why ? qp->rx.err.why : "?");
		else
			host_error_set(err, rc, 0,
				       "%s:%s qid %u: no ICResp (is it an NVMe/TCP target?): %s",
				       t->traddr, t->trsvcid, qp->qid, strerror(-rc));
		host_qpair_close(qp, rc, false);
		return rc;
	}

	host_sqe_connect(&sqe, qp->qid, (uint16_t)(qp->size - 1), ctrlr->kato_ms,
			 !ctrlr->opts.sq_flow_control);
	host_connect_data(&data, ctrlr->opts.hostid, cntlid, t->subnqn, ctrlr->hostnqn);
	rc = host_qpair_exec(qp, &sqe, HOST_XFER_H2C, &data, sizeof(data), &cpl,
			     host_ms_until(deadline_ns));
	if (rc) {
		host_error_set(err, rc, 0, "%s:%s qid %u: Connect failed: %s", t->traddr,
			       t->trsvcid, qp->qid, strerror(-rc));
		host_qpair_close(qp, rc, false);
		return rc;
	}
	if (cpl.status & 0x7ff) {
		rc = host_connect_error(err, &cpl, qp->qid, t->subnqn, ctrlr->hostnqn);
		host_qpair_close(qp, rc, false);
		return rc;
	}
	rc = host_qpair_authenticate(qp, cpl.cdw0, deadline_ns, err);
	if (rc) {
		host_qpair_close(qp, rc, false);
		return rc;
	}
	qp->connect_cntlid = (uint16_t)(cpl.cdw0 & 0xffff);
	qp->state = HOST_QP_LIVE;
	qp->last_err = 0;
	return 0;
}
