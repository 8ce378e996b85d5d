/*
 * NVMe/TCP queue pairs on the target side. The receive side is the shared state machine in
 * lib/tcp (tcp_rx); this file decides what each PDU means for a queue pair: ICReq, command
 * capsules, H2CData for outstanding R2Ts, termination requests. The send side queues
 * ICResp, R2T, C2HData and CapsuleResp PDUs on tcp_tx and flushes once per receive batch.
 *
 * Lifetime: a queue pair is reference counted, because the control thread's controller table
 * and the owning thread both point at it. It is freed when the last reference goes, and only
 * after every request handed to a bdev has come back. The owner's reference is dropped on the
 * control thread when the owner reports "gone", which a reactor does at the end of its loop
 * iteration; the memory goes at the end of a control-loop iteration. So neither loop can be
 * holding an epoll event for a queue pair that is freed.
 */
#include "target/tcp_qpair.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "spec/status.h"
#include "tcp/tcp_rx.h"
#include "tcp/tcp_sock.h"
#include "tcp/tcp_tls.h"
#include "tcp/tcp_tx.h"
#include "util/log.h"

#define TCP_RX_BUDGET (256 * 1024)
#define TCP_ICREQ_TIMEOUT_MS 10000
#define TCP_ICREQ_TIMEOUT_TEXT "10 s"

enum tcp_qpair_state {
	TCP_QP_AWAIT_ICREQ,
	TCP_QP_RUNNING,
	TCP_QP_CLOSING,   /* socket shut; waiting for requests held by bdevs */
};

struct tcp_req {
	struct tgt_req req;         /* first: tgt_req <-> tcp_req */
	uint16_t ttag;
	uint32_t h2c_received;
	bool awaiting_h2c;
	uint16_t pending_status;    /* set while receiving: fail the command when data is in */
	int pdus_out;               /* PDUs queued on tx, not yet written */
	struct tcp_tx_pdu data_pdu; /* C2HData */
	struct tcp_tx_pdu ctl_pdu;  /* CapsuleResp or R2T */
	struct list_node link;      /* free list */
};

struct tcp_qpair {
	struct tgt_qpair qp;
	int fd;
	enum tcp_qpair_state state;
	atomic_int refs;
	struct evloop_handler handler;
	bool want_out;
	bool in_rx;                 /* flush once after the receive batch */
	bool hdgst, ddgst;
	uint8_t host_pda;           /* HPDA: data alignment the host wants in C2HData */
	uint32_t maxr2t;
	struct tcp_rx rx;
	struct tcp_tx tx;
	struct tcp_tls *tls;        /* a secure_channel listener's connection */
	bool tls_handshaking;       /* until the handshake is done, nothing else is read */
	struct tcp_req *reqs;
	uint32_t nreqs;
	uint32_t busy;              /* requests not on the free list */
	struct list_node free;
	struct tcp_req *rx_req;     /* request whose data the current PDU carries */
	struct tcp_tx_pdu ic_pdu;   /* ICResp */
	/* C2HTermReq: not ic_pdu, whose ICResp may still be queued when a PDU in the same
	 * receive batch is refused (enqueueing it twice corrupted the send queue). */
	struct tcp_tx_pdu term_pdu;
	uint8_t term_data[NVME_TCP_TERM_REQ_DATA_MAX];
	struct iovec term_iov;
	bool term_sent;
	bool migrating;
	uint32_t last_icd_len;      /* in-capsule data of the last command that had some */
	struct tcp_req *r2t_req;    /* the last request an R2T went out for (its H2CData is foretold) */
	bool h2c_split;             /* the host sends H2CData smaller than MAXH2CDATA: foretell none */
	struct tgt_req *connect_req;
	struct tgt_reactor *target_reactor;
	struct list_node link;      /* owner's list, for shutdown */
	struct evloop_deferred free_work;   /* on the control thread, once unreferenced */
	struct evloop_deferred gone_work;   /* on a reactor, to report "gone" after its batch */
	struct evloop_deferred send_work;   /* on a reactor: sends what completed this iteration */
	bool send_queued;
	struct evloop_timer icreq_timer;
	int in_event;               /* > 0: a handler up the stack still uses the queue pair */
	bool finished;
};

static const struct tcp_rx_ops tcp_qpair_rx_ops;
static void tcp_qpair_close(struct tcp_qpair *tq, const char *why);
static void tcp_qpair_send(struct tcp_qpair *tq);

/* Queue pairs per owning loop, so that shutdown can find them. Touched by the owner only. */
#define TCP_MAX_LOOPS (TGT_MAX_REACTORS + 2)
static struct {
	struct evloop *loop;
	struct list_node qpairs;
} tcp_loops[TCP_MAX_LOOPS];
static pthread_mutex_t tcp_loops_lock = PTHREAD_MUTEX_INITIALIZER;

static struct list_node *tcp_loop_list(struct evloop *loop)
{
	struct list_node *l = NULL;

	/* Control path only (accept, migrate): a lock is fine here. */
	pthread_mutex_lock(&tcp_loops_lock);
	for (int i = 0; i < TCP_MAX_LOOPS; i++) {
		if (tcp_loops[i].loop == loop) {
			l = &tcp_loops[i].qpairs;
			break;
		}
		if (!tcp_loops[i].loop) {
			tcp_loops[i].loop = loop;
			list_init(&tcp_loops[i].qpairs);
			l = &tcp_loops[i].qpairs;
			break;
		}
	}
	pthread_mutex_unlock(&tcp_loops_lock);
	return l;
}

static inline struct tcp_qpair *to_tq(struct tgt_qpair *qp)
{
	return container_of(qp, struct tcp_qpair, qp);
}

static inline struct tcp_req *to_treq(struct tgt_req *req)
{
	return container_of(req, struct tcp_req, req);
}

static void tcp_qpair_free(struct tcp_qpair *tq)
{
	for (uint32_t i = 0; i < tq->nreqs; i++) {
		free(tq->reqs[i].req.buf);
		free(tq->reqs[i].req.scratch);
	}
	free(tq->reqs);
	tcp_rx_fini(&tq->rx);
	tgt_qpair_auth_fini(&tq->qp);
	tcp_tls_free(tq->tls);
	free(tq->qp.tls_identity);
	free(tq);
}

static void tcp_qpair_free_deferred(void *arg)
{
	tcp_qpair_free(arg);
}

static void tcp_qpair_free_on_control(void *arg)
{
	struct tcp_qpair *tq = arg;

	evloop_defer(g_tgt.control, &tq->free_work, tcp_qpair_free_deferred, tq);
}

/* The last reference frees on the control thread, after its current batch of events: one of
 * them may still name this queue pair. */
static void tcp_qpair_unref(struct tcp_qpair *tq)
{
	if (atomic_fetch_sub(&tq->refs, 1) != 1)
		return;
	if (evloop_is_current(g_tgt.control))
		tcp_qpair_free_on_control(tq);
	else if (evloop_send(g_tgt.control, tcp_qpair_free_on_control, tq))
		log_error("tcp %s: cannot free queue pair on the control thread", tq->qp.peer);
}

static void tcp_qpair_get(struct tgt_qpair *qp)
{
	atomic_fetch_add(&to_tq(qp)->refs, 1);
}

static void tcp_qpair_put(struct tgt_qpair *qp)
{
	tcp_qpair_unref(to_tq(qp));
}

/* ---- requests ---- */

static struct tcp_req *tcp_req_get(struct tcp_qpair *tq)
{
	struct list_node *n = list_pop(&tq->free);
	struct tcp_req *tr;

	if (!n)
		return NULL;
	tr = list_entry(n, struct tcp_req, link);
	tq->busy++;
	tr->req.state = TGT_REQ_RECEIVING;
	tr->req.data_len = 0;
	tr->req.data_to_host = false;
	tr->req.iovcnt = 0;
	tr->req.ns = NULL;
	tr->req.rch = NULL;
	tr->req.pending = 0;
	tr->req.sub_status = 0;
	tr->h2c_received = 0;
	tr->awaiting_h2c = false;
	tr->pending_status = 0;
	tr->pdus_out = 0;
	memset(&tr->req.rsp, 0, sizeof(tr->req.rsp));
	return tr;
}

static void tcp_qpair_maybe_finish(struct tcp_qpair *tq);

static void tcp_req_put(struct tcp_qpair *tq, struct tcp_req *tr)
{
	tgt_req_release(&tr->req);
	tr->req.state = TGT_REQ_FREE;
	tq->busy--;
	list_add_head(&tq->free, &tr->link);
	if (tq->state == TCP_QP_CLOSING)
		tcp_qpair_maybe_finish(tq);
}

static void tcp_req_pdu_sent(struct tcp_tx_pdu *pdu)
{
	struct tcp_req *tr;
	struct tcp_qpair *tq;

	/* The PDU is one of two embedded in the request: find which. */
	if (pdu->hdr.ch.type == NVME_TCP_PDU_C2H_DATA)
		tr = container_of(pdu, struct tcp_req, data_pdu);
	else
		tr = container_of(pdu, struct tcp_req, ctl_pdu);
	tq = to_tq(tr->req.qp);
	if (--tr->pdus_out == 0 && tr->req.state == TGT_REQ_COMPLETING)
		tcp_req_put(tq, tr);
}

/* ---- sending ---- */

static void tcp_qpair_send(struct tcp_qpair *tq)
{
	int rc;

	if (tq->in_rx || tq->state == TCP_QP_CLOSING)
		return;
	rc = tcp_tx_flush(&tq->tx, tq->fd);
	if (rc < 0) {
		if (rc == -EFAULT) /* sending from a mapping whose file shrank */
			log_warn("tcp %s qid %u: data to send is unreadable: was a namespace's backing "
				 "file truncated?", tq->qp.peer, tq->qp.qid);
		tcp_qpair_close(tq, rc == -EFAULT ? "send failed: unreadable data" : "send failed");
		return;
	}
	if ((rc == 1) != tq->want_out) {
		tq->want_out = rc == 1;
		evloop_mod_fd(tq->qp.loop, &tq->handler, EPOLLIN | (tq->want_out ? EPOLLOUT : 0));
	}
}

static void tcp_qpair_send_deferred(void *arg)
{
	struct tcp_qpair *tq = arg;

	tq->send_queued = false;
	tcp_qpair_send(tq);
}

/*
 * Responses of commands that complete outside the receive path (a bdev's completion poller,
 * a gateway's backend socket) leave together at the end of the reactor's loop iteration: one
 * sendmsg for all of them, not one each. The receive path sends at its own end. A "gone"
 * report that closing queues comes after this in the same iteration's deferred work, so the
 * queue pair is still there when it runs (closed ones send nothing).
 */
static void tcp_qpair_send_soon(struct tcp_qpair *tq)
{
	if (tq->in_rx || tq->send_queued)
		return;
	if (!tq->qp.reactor) {
		tcp_qpair_send(tq);
		return;
	}
	tq->send_queued = true;
	evloop_defer(tq->qp.loop, &tq->send_work, tcp_qpair_send_deferred, tq);
}

static void tcp_req_complete(struct tgt_req *req)
{
	struct tcp_req *tr = to_treq(req);
	struct tcp_qpair *tq = to_tq(req->qp);
	bool success_flag;

	req->state = TGT_REQ_COMPLETING;
	if (tq->state == TCP_QP_CLOSING) {
		tcp_req_put(tq, tr);
		return;
	}
	success_flag = req->data_to_host && req->data_len && req->rsp.status == 0 &&
		       req->rsp.dw0 == 0 && req->rsp.dw1 == 0 && req->qp->sq_flow_disabled &&
		       g_tgt.opts.c2h_success;
	/* iovcnt: a command that declared data to the host but produced none (Get Features of a
	 * feature without a data structure, with an SGL length) answers without C2HData; a
	 * C2HData PDU without iovecs made tcp_tx_flush() spin on empty sendmsg() calls. */
	if (req->data_to_host && req->data_len && req->iovcnt && req->rsp.status == 0) {
		struct nvme_tcp_data_hdr *d = &tr->data_pdu.hdr.data;

		memset(d, 0, sizeof(*d));
		d->cccid = req->cmd.cid;
		d->datao = 0;
		d->datal = req->data_len;
		tcp_tx_pdu_prepare(&tr->data_pdu, NVME_TCP_PDU_C2H_DATA,
				   NVME_TCP_F_DATA_LAST | (success_flag ? NVME_TCP_F_DATA_SUCCESS : 0),
				   req->iov, req->iovcnt, req->data_len, tq->hdgst, tq->ddgst,
				   tq->host_pda);
		tr->pdus_out++;
		tcp_tx_enqueue(&tq->tx, &tr->data_pdu);
	} else {
		success_flag = false;
	}
	if (!success_flag) {
		memset(&tr->ctl_pdu.hdr.rsp, 0, sizeof(tr->ctl_pdu.hdr.rsp));
		tr->ctl_pdu.hdr.rsp.cqe = req->rsp;
		tcp_tx_pdu_prepare(&tr->ctl_pdu, NVME_TCP_PDU_CAPSULE_RESP, 0, NULL, 0, 0, tq->hdgst,
				   false, 0);
		tr->pdus_out++;
		tcp_tx_enqueue(&tq->tx, &tr->ctl_pdu);
	}
	tcp_qpair_send_soon(tq);
}

static void tcp_req_fetch_data(struct tgt_req *req)
{
	struct tcp_req *tr = to_treq(req);
	struct tcp_qpair *tq = to_tq(req->qp);
	struct nvme_tcp_r2t *r2t = &tr->ctl_pdu.hdr.r2t;

	if (tq->state == TCP_QP_CLOSING) {
		req->state = TGT_REQ_COMPLETING;
		tcp_req_put(tq, tr);
		return;
	}
	/* One R2T for the whole transfer; the host cuts it into MAXH2CDATA-sized PDUs. */
	req->state = TGT_REQ_RECEIVING;
	tr->awaiting_h2c = true;
	tr->h2c_received = 0;
	memset(r2t, 0, sizeof(*r2t));
	r2t->cccid = req->cmd.cid;
	r2t->ttag = tr->ttag;
	r2t->r2to = 0;
	r2t->r2tl = req->data_len;
	tq->r2t_req = tr;
	tcp_tx_pdu_prepare(&tr->ctl_pdu, NVME_TCP_PDU_R2T, 0, NULL, 0, 0, tq->hdgst, false, 0);
	tr->pdus_out++;
	tcp_tx_enqueue(&tq->tx, &tr->ctl_pdu);
	tcp_qpair_send(tq);
}

/* Sends a termination request carrying the offending header, then closes. */
static void tcp_qpair_terminate(struct tcp_qpair *tq, const struct tcp_pdu_error *err)
{
	struct nvme_tcp_term_req *t = &tq->term_pdu.hdr.term;
	uint32_t len = tq->rx.hdr_got < NVME_TCP_TERM_REQ_DATA_MAX ? tq->rx.hdr_got
								    : NVME_TCP_TERM_REQ_DATA_MAX;

	log_warn("tcp %s qid %u: %s: %s (FES 0x%x, FEI %u); terminating", tq->qp.peer, tq->qp.qid,
		 tcp_fes_name(err->fes), err->why ? err->why : "", err->fes, err->fei);
	if (tq->term_sent || tq->state == TCP_QP_CLOSING)
		return;
	tq->term_sent = true;
	memcpy(tq->term_data, tq->rx.hdr.raw, len);
	tq->term_iov.iov_base = tq->term_data;
	tq->term_iov.iov_len = len;
	memset(t, 0, sizeof(*t));
	t->fes = err->fes;
	t->fei = err->fei;
	tcp_tx_pdu_prepare(&tq->term_pdu, NVME_TCP_PDU_C2H_TERM_REQ, 0, &tq->term_iov, 1, len,
			   false, false, 0);
	tq->term_pdu.done = NULL;
	tcp_tx_enqueue(&tq->tx, &tq->term_pdu);
	/* Best effort: the peer is misbehaving, so do not wait for it to read. */
	tcp_tx_flush(&tq->tx, tq->fd);
	tcp_qpair_close(tq, "protocol error");
}

/* ---- receiving ---- */

/* The request pool comes with ICReq, so that connections that never speak cost little. */
static int tcp_qpair_alloc_reqs(struct tcp_qpair *tq)
{
	uint32_t depth = g_tgt.opts.max_queue_depth > g_tgt.opts.max_aq_depth
				 ? g_tgt.opts.max_queue_depth : g_tgt.opts.max_aq_depth;
	uint32_t n = depth + TGT_MAX_AER + 1;

	tq->reqs = calloc(n, sizeof(*tq->reqs));
	if (!tq->reqs)
		return -ENOMEM;
	tq->nreqs = n;
	for (uint32_t i = 0; i < n; i++) {
		struct tcp_req *tr = &tq->reqs[i];

		tr->ttag = (uint16_t)i;
		tr->req.qp = &tq->qp;
		tr->data_pdu.done = tcp_req_pdu_sent;
		tr->ctl_pdu.done = tcp_req_pdu_sent;
		list_add_tail(&tq->free, &tr->link);
	}
	tq->qp.sqsize = (uint16_t)(n - 1);
	return 0;
}

static int tcp_on_icreq(struct tcp_qpair *tq)
{
	const struct nvme_tcp_icreq *ic = &tq->rx.hdr.icreq;
	struct nvme_tcp_icresp *r = &tq->ic_pdu.hdr.icresp;

	evloop_timer_stop(tq->qp.loop, &tq->icreq_timer);
	if (tcp_qpair_alloc_reqs(tq)) {
		log_error("tcp %s: no memory for the request pool", tq->qp.peer);
		return -ENOMEM;
	}

	tq->hdgst = ic->dgst & NVME_TCP_ICREQ_DGST_HDGST;
	tq->ddgst = ic->dgst & NVME_TCP_ICREQ_DGST_DDGST;
	tq->host_pda = ic->hpda;
	tq->maxr2t = ic->maxr2t + 1;
	memset(r, 0, sizeof(*r));
	r->pfv = NVME_TCP_PFV_1_0;
	r->cpda = 0;
	r->dgst = (tq->hdgst ? NVME_TCP_ICREQ_DGST_HDGST : 0) | (tq->ddgst ? NVME_TCP_ICREQ_DGST_DDGST : 0);
	r->maxh2cdata = g_tgt.opts.io_unit_size;
	tcp_tx_pdu_prepare(&tq->ic_pdu, NVME_TCP_PDU_ICRESP, 0, NULL, 0, 0, false, false, 0);
	tq->ic_pdu.done = NULL;
	tcp_tx_enqueue(&tq->tx, &tq->ic_pdu);

	tq->rx.lim.ic_done = true;
	tq->rx.lim.hdgst = tq->hdgst;
	tq->rx.lim.ddgst = tq->ddgst;
	tq->qp.reads_payload = tq->ddgst;
	tq->state = TCP_QP_RUNNING;
	log_debug("tcp %s: ICReq hpda %u digests %s%s maxr2t %u", tq->qp.peer, ic->hpda,
		  tq->hdgst ? "H" : "-", tq->ddgst ? "D" : "-", tq->maxr2t);
	return 0;
}

static int tcp_on_cmd_header(struct tcp_qpair *tq, struct tcp_rx *rx)
{
	/* A queue holds SQSIZE + 1 commands; parked AERs on the admin queue come on top. */
	uint32_t limit = (uint32_t)tq->qp.sqsize + 1 + (tq->qp.qid == 0 ? TGT_MAX_AER : 0);
	struct tcp_req *tr = tq->busy < limit ? tcp_req_get(tq) : NULL;
	uint16_t status = 0;

	if (!tr) {
		log_error("tcp %s qid %u: host exceeded the queue size (%u commands outstanding)",
			  tq->qp.peer, tq->qp.qid, tq->busy);
		return tcp_rx_fail(rx, NVME_TCP_FES_PDU_SEQUENCE, 0, "queue overflow");
	}
	tq->rx_req = tr;
	memcpy(&tr->req.cmd, &rx->hdr.cmd.sqe, sizeof(tr->req.cmd));
	tq->qp.sqhd = (uint16_t)((tq->qp.sqhd + 1) % ((uint32_t)tq->qp.sqsize + 1));
	if (rx->data_len == 0)
		return 0;
	if (tgt_req_parse_sgl(&tr->req, rx->data_len, &status) == 0) {
		struct iovec iov = {.iov_base = tr->req.buf, .iov_len = rx->data_len};

		/* The buffer holds the whole in-capsule data; the SGL's offset picks from it. */
		if (tr->req.cmd.opc != NVME_FABRICS_OPC)   /* a Connect's data says nothing of I/O */
			tq->last_icd_len = rx->data_len;
		return tcp_rx_set_data(rx, &iov, 1);
	}
	tr->pending_status = status;
	tcp_rx_discard_data(rx);
	return 0;
}

static int tcp_on_h2c_header(struct tcp_qpair *tq, struct tcp_rx *rx)
{
	const struct nvme_tcp_data_hdr *d = &rx->hdr.data;
	struct tcp_req *tr;
	struct iovec iov;

	if (d->ttag >= tq->nreqs || !tq->reqs[d->ttag].awaiting_h2c)
		return tcp_rx_fail(rx, NVME_TCP_FES_INVALID_HEADER,
				   offsetof(struct nvme_tcp_data_hdr, ttag), "H2CData for unknown TTAG");
	tr = &tq->reqs[d->ttag];
	/* Its R2T is still in our send queue: the host cannot know the TTAG yet (it guessed).
	 * Accepting it would complete the command while the R2T, in the same PDU slot as the
	 * response, is unsent (the send queue was corrupted). */
	if (tr->pdus_out)
		return tcp_rx_fail(rx, NVME_TCP_FES_PDU_SEQUENCE, 0, "H2CData before its R2T was sent");
	if (d->cccid != tr->req.cmd.cid)
		return tcp_rx_fail(rx, NVME_TCP_FES_INVALID_HEADER,
				   offsetof(struct nvme_tcp_data_hdr, cccid), "H2CData CCCID does not match TTAG");
	if (d->datao != tr->h2c_received || d->datal > tr->req.data_len - d->datao)
		return tcp_rx_fail(rx, NVME_TCP_FES_DATA_OUT_OF_RANGE,
				   offsetof(struct nvme_tcp_data_hdr, datao), "H2CData outside the R2T");
	/* A first PDU shorter than the R2T and MAXH2CDATA allow: this host cuts its data in
	 * pieces we cannot foretell, and a wrong guess costs a copy. */
	if (d->datao == 0 && d->datal < tr->req.data_len && d->datal < rx->lim.max_h2c_data)
		tq->h2c_split = true;
	tq->rx_req = tr;
	iov.iov_base = (uint8_t *)tr->req.iov[0].iov_base + d->datao;
	iov.iov_len = d->datal;
	return tcp_rx_set_data(rx, &iov, 1);
}

static int tcp_rx_on_header(void *ctx, struct tcp_rx *rx)
{
	struct tcp_qpair *tq = ctx;

	tq->rx_req = NULL;
	/* Closed by an earlier PDU of this batch (Disconnect): read nothing more. A request taken
	 * now would never be released: the close has already let the receiving ones go. */
	if (tq->state == TCP_QP_CLOSING)
		return -ECONNRESET;
	switch (rx->hdr.ch.type) {
	case NVME_TCP_PDU_ICREQ:
		return 0;
	case NVME_TCP_PDU_CAPSULE_CMD:
		return tcp_on_cmd_header(tq, rx);
	case NVME_TCP_PDU_H2C_DATA:
		return tcp_on_h2c_header(tq, rx);
	case NVME_TCP_PDU_H2C_TERM_REQ:
		tcp_rx_discard_data(rx);
		return 0;
	default:
		return tcp_rx_fail(rx, NVME_TCP_FES_INVALID_HEADER, 0, "unexpected PDU type");
	}
}

static int tcp_on_cmd(struct tcp_qpair *tq, struct tcp_req *tr, bool ddgst_ok)
{
	if (!ddgst_ok) {
		/* The data is not what the host sent: fail the command, store nothing. */
		log_warn("tcp %s qid %u: data digest error in command cid %u", tq->qp.peer,
			 tq->qp.qid, tr->req.cmd.cid);
		tgt_req_complete_status(&tr->req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_TRAN_TPORT_ERROR));
		return 0;
	}
	if (tr->pending_status) {
		tgt_req_complete_status(&tr->req, tr->pending_status);
		return 0;
	}
	tgt_req_execute(&tr->req);
	return 0;
}

static int tcp_on_h2c(struct tcp_qpair *tq, struct tcp_req *tr, bool ddgst_ok)
{
	const struct nvme_tcp_data_hdr *d = &tq->rx.hdr.data;

	tr->h2c_received += d->datal;
	if (!ddgst_ok && !tr->pending_status) {
		log_warn("tcp %s qid %u: data digest error in H2CData cid %u", tq->qp.peer,
			 tq->qp.qid, tr->req.cmd.cid);
		tr->pending_status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_TRAN_TPORT_ERROR);
	}
	if (tr->h2c_received < tr->req.data_len) {
		if (d->ch.flags & NVME_TCP_F_DATA_LAST)
			return tcp_rx_fail(&tq->rx, NVME_TCP_FES_INVALID_HEADER, 1,
					   "LAST_PDU before all R2T data");
		return 0;
	}
	tr->awaiting_h2c = false;
	if (tr->pending_status)
		tgt_req_complete_status(&tr->req, tr->pending_status);
	else
		tgt_req_data_ready(&tr->req);
	return 0;
}

static int tcp_rx_on_pdu(void *ctx, struct tcp_rx *rx, bool ddgst_ok)
{
	struct tcp_qpair *tq = ctx;
	struct tcp_req *tr = tq->rx_req;

	tq->rx_req = NULL;
	switch (rx->hdr.ch.type) {
	case NVME_TCP_PDU_ICREQ:
		return tcp_on_icreq(tq);
	case NVME_TCP_PDU_CAPSULE_CMD:
		tcp_on_cmd(tq, tr, ddgst_ok);
		/* A Connect that moves this queue pair to a reactor stops reading here; so does a
		 * Disconnect. */
		if (tq->state == TCP_QP_CLOSING)
			return -ECONNRESET;
		return tq->migrating ? -EINPROGRESS : 0;
	case NVME_TCP_PDU_H2C_DATA:
		return tcp_on_h2c(tq, tr, ddgst_ok);
	case NVME_TCP_PDU_H2C_TERM_REQ:
		log_warn("tcp %s qid %u: host terminated the connection: %s (FES 0x%x)", tq->qp.peer,
			 tq->qp.qid, tcp_fes_name(rx->hdr.term.fes), rx->hdr.term.fes);
		return -ECONNRESET;
	default:
		return 0;
	}
}

/*
 * The one command outstanding waits for its data after an R2T that left: the next PDU is its
 * first H2CData, and the read puts that PDU's data in place (a 128 KiB write: one system call
 * rather than one for the header and one for the data). With more commands outstanding,
 * another command may come first, and the data a wrong guess put in the buffer would have to
 * be copied back: no guess then; nor for a host seen to cut its data into smaller PDUs.
 */
static bool tcp_rx_guess_h2c(struct tcp_qpair *tq, struct tcp_rx *rx)
{
	struct tcp_req *tr = tq->r2t_req;
	uint32_t len;

	if (!tr || tq->h2c_split || tq->busy != 1 || !tr->awaiting_h2c || tr->h2c_received ||
	    tr->pdus_out || tr->req.iovcnt < 1)
		return false;
	len = tr->req.data_len < rx->lim.max_h2c_data ? tr->req.data_len : rx->lim.max_h2c_data;
	if (tr->req.iov[0].iov_len < len)
		return false;

	struct tcp_rx_guess g = {
		.type = NVME_TCP_PDU_H2C_DATA,
		.hlen = sizeof(struct nvme_tcp_data_hdr),
		.check_data_hdr = true,
		.cccid = tr->req.cmd.cid,
		.datao = 0,
		.len = len,
	};
	struct iovec iov = {tr->req.iov[0].iov_base, len};

	return tcp_rx_guess_add(rx, &g, &iov, 1);
}

/*
 * Foretells what comes next (tcp_rx.h): a lone write's H2CData (above), or else commands with
 * as much in-capsule data as the last one had, their data going to the buffers of the requests
 * they would take, in free list order: a run of writes of one size then arrives in place.
 * Should a request be freed meanwhile, it is taken first and the buffers move down the run by
 * one; those commands' data is copied then, from buffers that are still free or already read.
 * A buffer too small would be replaced on use: the run stops there.
 */
static void tcp_rx_guess(void *ctx, struct tcp_rx *rx)
{
	struct tcp_qpair *tq = ctx;
	uint32_t len = tq->last_icd_len;
	struct tcp_rx_guess g = {
		.type = NVME_TCP_PDU_CAPSULE_CMD,
		.hlen = sizeof(struct nvme_tcp_cmd),
		.len = len,
	};

	if (tq->state != TCP_QP_RUNNING || tq->qp.qid == 0)
		return;
	if (tcp_rx_guess_h2c(tq, rx) || !len)
		return;
	for (struct list_node *n = tq->free.next; n != &tq->free; n = n->next) {
		struct tcp_req *tr = list_entry(n, struct tcp_req, link);
		struct iovec iov = {tr->req.buf, len};

		if (!tr->req.buf || tr->req.buf_size < len || !tcp_rx_guess_add(rx, &g, &iov, 1))
			break;
	}
}

static const struct tcp_rx_ops tcp_qpair_rx_ops = {
	.on_header = tcp_rx_on_header,
	.on_pdu = tcp_rx_on_pdu,
	.guess = tcp_rx_guess,
};

static void tcp_qpair_adopt(void *arg);

/* The receive loop has unwound: nothing on this thread touches the queue pair any more. */
static void tcp_qpair_handoff(struct tcp_qpair *tq)
{
	struct tgt_req *connect = tq->connect_req;

	evloop_del_fd(tq->qp.loop, &tq->handler);
	list_del(&tq->link);
	/* From now on messages for this queue pair (a disconnect) queue up behind the adoption. */
	tq->qp.loop = tq->target_reactor->loop;
	if (evloop_send(tq->target_reactor->loop, tcp_qpair_adopt, tq)) {
		tq->qp.loop = g_tgt.control;
		tq->migrating = false;
		list_add_tail(tcp_loop_list(tq->qp.loop), &tq->link);
		tgt_req_complete_status(connect, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL));
		tcp_qpair_close(tq, "cannot hand over to reactor");
	}
}

static void tcp_qpair_receive(struct tcp_qpair *tq)
{
	int rc;

	tq->in_rx = true;
	rc = tcp_rx_recv(&tq->rx, tq->fd, &tcp_qpair_rx_ops, tq, TCP_RX_BUDGET);
	tq->in_rx = false;
	if (rc == -EPROTO) {
		tcp_qpair_terminate(tq, &tq->rx.err);
		return;
	}
	if (tq->state == TCP_QP_CLOSING || rc == -EINPROGRESS)
		return; /* the event handler finishes or hands over */
	if (rc < 0) {
		tcp_qpair_close(tq, rc == -ECONNRESET ? "host closed the connection" : strerror(-rc));
		return;
	}
	tcp_qpair_send(tq);
}

/* The TLS handshake of a secure listener's connection; true once it is done. */
static bool tcp_qpair_tls_step(struct tcp_qpair *tq)
{
	const char *why = NULL;
	char text[200];
	int rc = tcp_tls_handshake(tq->tls, &why);

	if (rc == -EAGAIN)
		return false;
	if (rc) {
		snprintf(text, sizeof(text), "TLS: %s", why);
		tcp_qpair_close(tq, text);
		return false;
	}
	tq->tls_handshaking = false;
	tq->rx.tls = tq->tls;
	tq->tx.tls = tq->tls;
	log_info("tcp %s: TLS 1.3 with %s%s, PSK identity %s", tq->qp.peer, tcp_tls_cipher(tq->tls),
		 tcp_tls_ktls(tq->tls) ? " (kTLS)" : "", tcp_tls_identity(tq->tls));
	return true;
}

static void tcp_qpair_event(void *arg, uint32_t events)
{
	struct tcp_qpair *tq = arg;

	if (tq->state == TCP_QP_CLOSING || tq->migrating)
		return;
	if (tq->tls_handshaking && !tcp_qpair_tls_step(tq)) {
		if (tq->state == TCP_QP_CLOSING)
			tcp_qpair_maybe_finish(tq);
		return;
	}
	tq->in_event++;
	if (events & EPOLLOUT)
		tcp_qpair_send(tq);
	if (tq->state != TCP_QP_CLOSING && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		tcp_qpair_receive(tq);
	tq->in_event--;
	if (tq->state == TCP_QP_CLOSING)
		tcp_qpair_maybe_finish(tq);
	else if (tq->migrating)
		tcp_qpair_handoff(tq); /* last: from here on the reactor owns it */
}

/* ---- teardown ---- */

struct tcp_gone_msg {
	struct tcp_qpair *tq;
};

static void tcp_qpair_gone_on_control(void *arg)
{
	struct tcp_qpair *tq = arg;

	tgt_ctrlr_qpair_gone(&tq->qp);
	tcp_qpair_unref(tq); /* the owner's reference */
}

static void tcp_qpair_report_gone(void *arg)
{
	struct tcp_qpair *tq = arg;

	if (evloop_send(g_tgt.control, tcp_qpair_gone_on_control, tq))
		log_error("tcp %s: cannot notify the control thread; leaking the queue pair", tq->qp.peer);
}

/* All requests are back: release the socket and tell the controller. */
static void tcp_qpair_maybe_finish(struct tcp_qpair *tq)
{
	/* Inside its event handler the queue pair is still in use: finish after it. */
	if (tq->busy || tq->in_rx || tq->in_event || tq->finished)
		return;
	tq->finished = true;
	if (tq->fd >= 0) {
		close(tq->fd);
		tq->fd = -1;
	}
	if (tq->qp.reactor) {
		struct tgt_qpair_stats *r = &tq->qp.reactor->retired, *s = &tq->qp.stats;

		r->reads += s->reads;
		r->writes += s->writes;
		r->read_bytes += s->read_bytes;
		r->write_bytes += s->write_bytes;
		r->other += s->other;
		r->errors += s->errors;
		tq->qp.reactor->qpairs--;
	}
	if (tq->qp.loop == g_tgt.control)
		tcp_qpair_gone_on_control(tq);
	else
		/* Once the control thread hears "gone" it may drop the last reference and free the
		 * queue pair; this reactor may still hold an event for it in its current epoll batch
		 * (fetched before the close). So the news leaves at the end of the batch. */
		evloop_defer(tq->qp.loop, &tq->gone_work, tcp_qpair_report_gone, tq);
}

static void tcp_qpair_close(struct tcp_qpair *tq, const char *why)
{
	if (tq->state == TCP_QP_CLOSING)
		return;
	log_info("tcp %s qid %u cntlid %u: closing: %s", tq->qp.peer, tq->qp.qid,
		 tq->qp.ctrlr ? tq->qp.ctrlr->cntlid : 0, why);
	/* Responses already queued (a Disconnect's, say) get one chance to leave. */
	if (tcp_tx_pending(&tq->tx) && !tq->term_sent)
		tcp_tx_flush(&tq->tx, tq->fd);
	tq->state = TCP_QP_CLOSING;
	evloop_timer_stop(tq->qp.loop, &tq->icreq_timer);
	evloop_del_fd(tq->qp.loop, &tq->handler);
	list_del(&tq->link);
	shutdown(tq->fd, SHUT_RDWR);
	tq->in_event++; /* hold off finishing until the requests below are let go */
	tcp_tx_drop(&tq->tx);
	/* Requests still waiting for data from the host will never get it. Those a bdev holds
	 * come back through their callbacks. */
	for (uint32_t i = 0; i < tq->nreqs; i++) {
		struct tcp_req *tr = &tq->reqs[i];

		if (tr->req.state == TGT_REQ_RECEIVING && tr->pdus_out == 0) {
			tr->awaiting_h2c = false;
			tr->req.state = TGT_REQ_COMPLETING;
			tcp_req_put(tq, tr);
		}
	}
	tgt_qpair_closing(&tq->qp);
	tq->in_event--;
	tcp_qpair_maybe_finish(tq);
}

struct tcp_disconnect_msg {
	struct tcp_qpair *tq;
	const char *why;
};

static void tcp_qpair_disconnect_on_owner(void *arg)
{
	struct tcp_disconnect_msg *m = arg;

	tcp_qpair_close(m->tq, m->why);
	tcp_qpair_unref(m->tq);
	free(m);
}

static void tcp_qpair_disconnect(struct tgt_qpair *qp, const char *why)
{
	struct tcp_qpair *tq = to_tq(qp);
	struct tcp_disconnect_msg *m;

	if (qp->loop == g_tgt.control && !tq->migrating) {
		tcp_qpair_close(tq, why);
		return;
	}
	m = malloc(sizeof(*m));
	if (!m)
		return;
	atomic_fetch_add(&tq->refs, 1);
	m->tq = tq;
	m->why = why;
	if (evloop_send(qp->loop, tcp_qpair_disconnect_on_owner, m)) {
		tcp_qpair_unref(tq);
		free(m);
	}
}

/* ---- moving an I/O queue pair to its reactor ---- */

static void tcp_qpair_adopt(void *arg)
{
	struct tcp_qpair *tq = arg;
	struct tgt_reactor *r = tq->target_reactor;
	struct tgt_req *connect = tq->connect_req;

	tq->migrating = false;
	tq->qp.loop = r->loop;
	tq->qp.reactor = r;
	r->qpairs++;
	list_add_tail(tcp_loop_list(r->loop), &tq->link);
	tq->in_event++;
	if (evloop_add_fd(r->loop, &tq->handler, tq->fd, EPOLLIN, tcp_qpair_event, tq)) {
		tgt_req_complete_status(connect, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL));
		tcp_qpair_close(tq, "cannot watch socket on reactor");
	} else {
		tgt_req_complete_status(connect, 0);
		/* Bytes that arrived behind the Connect are already staged: run them now. */
		tq->in_rx = true;
		if (tcp_rx_process_staged(&tq->rx, &tcp_qpair_rx_ops, tq) == -EPROTO) {
			tq->in_rx = false;
			tcp_qpair_terminate(tq, &tq->rx.err);
		} else {
			tq->in_rx = false;
			tcp_qpair_send(tq);
			if (tq->state != TCP_QP_CLOSING)
				tcp_qpair_receive(tq);
		}
	}
	tq->in_event--;
	if (tq->state == TCP_QP_CLOSING)
		tcp_qpair_maybe_finish(tq);
}

/* Called from the Connect handler, deep inside the receive loop: only note the move. */
static void tcp_qpair_migrate(struct tgt_qpair *qp, struct tgt_reactor *r, struct tgt_req *connect)
{
	struct tcp_qpair *tq = to_tq(qp);

	tq->migrating = true;
	tq->target_reactor = r;
	tq->connect_req = connect;
}

static void tcp_qpair_configure(struct tgt_qpair *qp, uint16_t sqsize, uint32_t max_icd)
{
	struct tcp_qpair *tq = to_tq(qp);

	qp->sqsize = sqsize;
	qp->max_icd = max_icd;
	tq->rx.lim.max_icd = max_icd;
}

const struct tgt_transport_ops tcp_transport_ops = {
	.name = "TCP",
	.req_complete = tcp_req_complete,
	.req_fetch_data = tcp_req_fetch_data,
	.qpair_disconnect = tcp_qpair_disconnect,
	.qpair_migrate = tcp_qpair_migrate,
	.qpair_configure = tcp_qpair_configure,
	.qpair_get = tcp_qpair_get,
	.qpair_put = tcp_qpair_put,
};

/* ---- creation ---- */

/* A connection that has not sent ICReq by now is not an NVMe/TCP host worth waiting for. */
static void tcp_qpair_icreq_timeout(void *arg)
{
	struct tcp_qpair *tq = arg;

	tcp_qpair_close(tq, "no ICReq within " TCP_ICREQ_TIMEOUT_TEXT);
}

int tcp_qpair_accept_on(int fd, struct tgt_listener *listener, struct evloop *loop)
{
	struct tcp_qpair *tq = calloc(1, sizeof(*tq));
	char addr[64], port[16];
	int rc;

	if (!tq)
		return -ENOMEM;
	rc = tcp_rx_init(&tq->rx, TCP_ROLE_TARGET);
	if (rc) {
		free(tq);
		return rc;
	}
	tq->fd = fd;
	atomic_init(&tq->refs, 1);
	tq->qp.ops = &tcp_transport_ops;
	tq->qp.loop = loop;
	tq->qp.portid = listener ? listener->portid : 0;
	tcp_sock_name(fd, true, addr, sizeof(addr), port, sizeof(port));
	snprintf(tq->qp.peer, sizeof(tq->qp.peer), "%s:%s", addr, port);
	list_init(&tq->free);
	tcp_tx_init(&tq->tx);
	/* Before Connect, in-capsule data up to the admin size (Connect data is 1 KiB). */
	tq->rx.lim.max_icd = TGT_ADMIN_ICD;
	tq->rx.lim.max_h2c_data = g_tgt.opts.io_unit_size;
	tq->rx.lim.rx_pda = 0;
	tq->qp.max_icd = TGT_ADMIN_ICD;
	tq->state = TCP_QP_AWAIT_ICREQ;
	if (listener && listener->addr.secure) {
		rc = tcp_tls_server(fd, tgt_tls_psk_lookup, &tq->qp, &tq->tls);
		if (rc) {
			tcp_qpair_free(tq);
			return rc;
		}
		tq->tls_handshaking = true;
	}
	list_add_tail(tcp_loop_list(loop), &tq->link);
	rc = evloop_add_fd(loop, &tq->handler, fd, EPOLLIN, tcp_qpair_event, tq);
	if (rc) {
		list_del(&tq->link);
		tcp_qpair_free(tq);
		return rc;
	}
	evloop_timer_start(loop, &tq->icreq_timer, TCP_ICREQ_TIMEOUT_MS, 0, tcp_qpair_icreq_timeout, tq);
	log_info("tcp %s: connection accepted", tq->qp.peer);
	return 0;
}

int tcp_qpair_accept(int fd, struct tgt_listener *listener)
{
	return tcp_qpair_accept_on(fd, listener, g_tgt.control);
}

void tcp_qpair_close_all_on_loop(struct evloop *loop)
{
	struct list_node *l = tcp_loop_list(loop), *pos, *tmp;

	if (!l)
		return;
	list_for_each_safe(pos, tmp, l)
		tcp_qpair_close(list_entry(pos, struct tcp_qpair, link), "target shutting down");
}
