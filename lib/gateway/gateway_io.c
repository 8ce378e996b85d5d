/*
 * Gateway data path: one backend I/O queue pair per reactor and controller, shared by the bdev
 * channels of the controller's namespaces on that reactor, driven by the reactor's loop. Nothing
 * here allocates per I/O or copies data: libnvfab sends write data from the request's iovecs and
 * receives read data into them.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <nvme/types.h>

#include "bdev/bdev_internal.h"
#include "gateway/gateway.h"
#include "spec/nvme_cmd.h"
#include "util/log.h"

/* Drives reconnects and command timeouts when no socket event comes. */
#define GW_QUEUE_TICK_MS 50

/* The backend queue pair of one reactor: shared by the channels of all the controller's
 * namespaces on that reactor (a controller grants few I/O queues). */
struct gw_queue {
	struct gw_ctrlr *ctrlr;
	struct evloop *loop;
	struct nvfab_qpair *qp;
	int refs;                       /* channels using it (changed under ctrlr->queues_lock) */
	struct evloop_handler handler;
	int fd;                         /* registered with the loop, -1 when none */
	uint32_t events;                /* what it is registered for */
	struct evloop_timer tick;
	struct evloop_deferred flush;   /* sends what this loop iteration submitted, at its end */
	bool flush_armed;
	bool lost;                      /* no usable queue pair: I/O fails with a path error, or
					 * waits while one is being connected */
	uint64_t revive_at_ms;          /* lost: next attempt at a new queue pair */
	bool revive_error_logged;
	bool ever_connected;
	/*
	 * A new queue pair is connected on a thread of its own: connecting takes round trips
	 * (TCP, ICReq, Fabrics Connect, maybe authentication), up to connect_timeout_ms when the
	 * backend does not answer, and the reactor serves other hosts and namespaces meanwhile.
	 * The thread reports through connect_fd (struct gw_connect_job).
	 */
	struct gw_connect_job *connecting;      /* NULL when no attempt is under way */
	int connect_fd;                 /* eventfd, watched by the loop */
	struct evloop_handler connect_handler;
	/* I/O that found the queue full, oldest first, linked through bdev_io.priv[0]. */
	struct bdev_io *wait_head, *wait_tail;
	/* I/O to send again after a status that allows it (SPDK's bdev_retry_count), linked
	 * through priv[0], due time in priv[2] (now, or later when the backend's CRD asked for
	 * a delay); the queue's next drive or tick moves it to the wait list. */
	struct bdev_io *retry_head;
	struct gw_queue *next;          /* the controller's queues */
	struct evloop_deferred free_later;      /* its events in this loop batch are stale */
};

/*
 * One connection attempt. The reactor joins the thread when it reports; a queue that goes
 * while the attempt still waits on the backend abandons it instead of waiting (up to
 * connect_timeout_ms, with the reactor's other hosts stalled): the thread then closes what it
 * made, frees the job, and tells the controller last (its teardown waits for abandoned
 * attempts, which use its connection). Whoever of the two comes second, by the atomic
 * exchange of state, cleans up.
 */
enum gw_connect_state { GW_CONNECT_RUNNING, GW_CONNECT_REPORTED, GW_CONNECT_ABANDONED };

struct gw_connect_job {
	struct gw_ctrlr *ctrlr;
	int report_fd;                  /* the queue's connect_fd; written unless abandoned */
	pthread_t thread;
	atomic_int state;
	struct nvfab_qpair *qp;         /* the result; NULL: err says why */
	struct nvfab_error err;
};

struct gw_channel {
	struct bdev_channel base;
	struct gw_ns *ns;
	struct gw_queue *q;
};

/* bdev_io.priv use: [0] wait-list link, [1] pieces still out, [2] first error status (the
 * due time, in ms, while on the retry list), [3] the namespace (struct gw_ns *), [4] the
 * queue (struct gw_queue *), [5] retries so far. */
#define GW_IO_PIECES(io) ((io)->priv[1])
#define GW_IO_STATUS(io) ((io)->priv[2])
#define GW_IO_DUE_MS(io) ((io)->priv[2])
#define GW_IO_RETRIES(io) ((io)->priv[5])

static void gw_queue_drive(struct gw_queue *q);

static struct bdev_io *gw_io_next(const struct bdev_io *io)
{
	return (struct bdev_io *)(uintptr_t)io->priv[0];
}

static void gw_io_set_next(struct bdev_io *io, struct bdev_io *next)
{
	io->priv[0] = (uintptr_t)next;
}

static struct gw_ns *gw_io_ns(const struct bdev_io *io)
{
	return (struct gw_ns *)(uintptr_t)io->priv[3];
}

static struct gw_queue *gw_io_queue(const struct bdev_io *io)
{
	return (struct gw_queue *)(uintptr_t)io->priv[4];
}

static struct gw_channel *gw_ch(struct bdev_channel *base)
{
	return (struct gw_channel *)base;
}

/* Keeps the loop watching the queue pair's current socket (it changes on reconnect) for what
 * it needs: input always, output while sends wait for room. */
static void gw_queue_watch(struct gw_queue *q)
{
	int fd = q->lost ? -1 : nvfab_qpair_fd(q->qp);
	uint32_t events = EPOLLIN;

	if (fd != q->fd && q->fd >= 0) {
		evloop_del_fd(q->loop, &q->handler);
		q->fd = -1;
	}
	if (fd < 0)
		return;
	if (nvfab_qpair_poll_events(q->qp) & POLLOUT)
		events |= EPOLLOUT;
	if (q->fd < 0) {
		if (evloop_add_fd(q->loop, &q->handler, fd, events, q->handler.fn, q) == 0) {
			q->fd = fd;
			q->events = events;
		}
		return;
	}
	if (events != q->events && evloop_mod_fd(q->loop, &q->handler, events) == 0)
		q->events = events;
}

/*
 * SPDK's bdev_retry_count: a status without DNR, other than a path error (the queue's own
 * business: the command was already held and resent while the controller reconnected) and
 * Command Abort Requested, sends the whole I/O again, up to the count, after the delay its CRD
 * field names. The status the host finally gets is the backend's last one, unchanged.
 */
static bool gw_io_retry(struct bdev_io *io, uint16_t status)
{
	struct gw_queue *q = gw_io_queue(io);
	int32_t limit = q->ctrlr->params.bdev_retry_count;
	unsigned int crd = (status & NVME_SC_CRD) >> 11;

	if (NVFAB_STATUS_DNR(status) || NVFAB_STATUS_SCT(status) == NVME_SCT_PATH ||
	    (NVFAB_STATUS_SCT(status) == NVME_SCT_GENERIC &&
	     NVFAB_STATUS_SC(status) == NVME_SC_ABORT_REQ) ||
	    (limit != -1 && GW_IO_RETRIES(io) >= (uint64_t)limit))
		return false;
	GW_IO_RETRIES(io)++;
	GW_IO_DUE_MS(io) = evloop_now_ns() / 1000000 + (crd ? q->ctrlr->crdt_ms[crd - 1] : 0);
	gw_io_set_next(io, q->retry_head);
	q->retry_head = io;
	return true;
}

static void gw_io_complete(struct bdev_io *io, uint16_t status)
{
	if (status && !GW_IO_STATUS(io))
		GW_IO_STATUS(io) = status;
	if (--GW_IO_PIECES(io) > 0)
		return;
	if (GW_IO_STATUS(io) && gw_io_retry(io, (uint16_t)GW_IO_STATUS(io)))
		return;
	io->cb(io, (int)GW_IO_STATUS(io));
}

static void gw_io_done(void *arg, const struct nvfab_cpl *cpl)
{
	uint16_t status = cpl->status;

	/* A data digest that did not match: the command ran, its data came damaged. Any other
	 * transport error means the connection lost the command for good: not a media error, a
	 * path error. */
	if (cpl->transport_err)
		status = cpl->transport_err == -EBADMSG ? GW_STATUS_TRANSIENT_TRANSPORT :
							  GW_STATUS_PATH_ERROR;
	gw_io_complete(arg, status);
}

static void gw_queue_flush(void *arg)
{
	struct gw_queue *q = arg;

	q->flush_armed = false;
	if (!q->lost)
		nvfab_qpair_flush(q->qp);
	gw_queue_watch(q);
}

/* Commands submitted during one loop iteration leave together, at its end. */
static void gw_queue_batch(struct gw_queue *q)
{
	if (q->flush_armed)
		return;
	q->flush_armed = true;
	nvfab_qpair_batch_begin(q->qp);
	evloop_defer(q->loop, &q->flush, gw_queue_flush, q);
}

/* iov[] bytes [off, off + len) as an iovec array (at most NVFAB_MAX_IOV entries). */
static int gw_iov_slice(const struct iovec *iov, int iovcnt, uint64_t off, uint64_t len,
			struct iovec *out)
{
	int n = 0;

	for (int i = 0; i < iovcnt && len; i++) {
		uint64_t take;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		if (n == NVFAB_MAX_IOV)
			return -EINVAL;
		take = iov[i].iov_len - off;
		if (take > len)
			take = len;
		out[n].iov_base = (char *)iov[i].iov_base + off;
		out[n++].iov_len = take;
		len -= take;
		off = 0;
	}
	return len ? -EINVAL : n;
}

static uint64_t gw_io_bytes(const struct bdev_io *io)
{
	uint64_t len = 0;

	for (int i = 0; i < io->iovcnt; i++)
		len += io->iov[i].iov_len;
	return len;
}

/*
 * The host's command, as it sent it, in pieces the backend accepts: Read, Write and Compare
 * longer than the backend's transfer limit go as consecutive commands (same flags).
 */
static int gw_submit_nvme(struct gw_queue *q, const struct nvfab_ns *ns, struct bdev_io *io)
{
	const struct nvme_sqe *sqe = io->nvme_cmd;
	struct nvfab_io_cmd cmd = {
		.opc = sqe->opc, .cdw2 = sqe->cdw2, .cdw3 = sqe->cdw3,
		.cdw10 = sqe->cdw10, .cdw11 = sqe->cdw11, .cdw12 = sqe->cdw12,
		.cdw13 = sqe->cdw13, .cdw14 = sqe->cdw14, .cdw15 = sqe->cdw15,
	};
	uint64_t len = gw_io_bytes(io), max = nvfab_ctrlr_max_xfer(ns->ctrlr), slba, off;
	bool rw = sqe->opc == nvme_cmd_read || sqe->opc == nvme_cmd_write ||
		  sqe->opc == nvme_cmd_compare;
	uint32_t piece_blocks, total_blocks;
	struct iovec piece[NVFAB_MAX_IOV];
	int rc, n;

	if (!rw || len <= max) {
		GW_IO_PIECES(io) = 1;
		return nvfab_io_cmd_submit(q->qp, ns, &cmd, io->iov, io->iovcnt, gw_io_done, io);
	}
	piece_blocks = (uint32_t)(max / ns->block_size);
	total_blocks = (sqe->cdw12 & 0xffff) + 1;
	if (piece_blocks == 0 || (uint64_t)total_blocks * ns->block_size != len)
		return -EINVAL;
	slba = sqe->cdw10 | (uint64_t)sqe->cdw11 << 32;
	GW_IO_PIECES(io) = 1; /* held until every piece is out */
	for (off = 0; off < total_blocks; off += piece_blocks) {
		uint32_t nb = total_blocks - off < piece_blocks ? (uint32_t)(total_blocks - off) :
								   piece_blocks;

		n = gw_iov_slice(io->iov, io->iovcnt, off * ns->block_size,
				 (uint64_t)nb * ns->block_size, piece);
		rc = n < 0 ? n : 0;
		if (rc == 0) {
			cmd.cdw10 = (uint32_t)(slba + off);
			cmd.cdw11 = (uint32_t)((slba + off) >> 32);
			cmd.cdw12 = (sqe->cdw12 & ~0xffffu) | (nb - 1);
			GW_IO_PIECES(io)++;
			rc = nvfab_io_cmd_submit(q->qp, ns, &cmd, piece, n, gw_io_done, io);
			if (rc)
				GW_IO_PIECES(io)--;
		}
		if (rc) {
			if (off == 0)
				return rc;
			/* Some pieces are out: the I/O ends through them, as failed. */
			GW_IO_STATUS(io) = GW_STATUS_PATH_ERROR;
			break;
		}
	}
	gw_io_complete(io, 0); /* drop the hold */
	return 0;
}

/* The generic types, for callers that do not forward an NVMe command (Flush of all namespaces). */
static int gw_submit_generic(struct gw_queue *q, const struct nvfab_ns *ns, struct bdev_io *io)
{
	uint32_t flags = io->fua ? NVFAB_IO_FUA : 0;

	GW_IO_PIECES(io) = 1;
	switch (io->type) {
	case BDEV_IO_READ:
		return nvfab_read(q->qp, ns, io->offset_blocks, (uint32_t)io->num_blocks, io->iov,
				  io->iovcnt, flags, gw_io_done, io);
	case BDEV_IO_WRITE:
		return nvfab_write(q->qp, ns, io->offset_blocks, (uint32_t)io->num_blocks, io->iov,
				   io->iovcnt, flags, gw_io_done, io);
	case BDEV_IO_FLUSH:
		return nvfab_flush(q->qp, ns, gw_io_done, io);
	case BDEV_IO_WRITE_ZEROES:
		return nvfab_write_zeroes(q->qp, ns, io->offset_blocks, (uint32_t)io->num_blocks,
					  0, gw_io_done, io);
	default:
		return -EOPNOTSUPP;
	}
}

/* 0: out (or completed); -EAGAIN: the queue is full; another -errno: refused. */
static int gw_try_submit(struct gw_queue *q, struct bdev_io *io)
{
	const struct nvfab_ns *ns = gw_io_ns(io)->ns;
	int rc;

	if (q->lost) {
		if (q->connecting)
			return -EAGAIN; /* waits for the queue pair being connected */
		io->cb(io, GW_STATUS_PATH_ERROR);
		return 0;
	}
	GW_IO_STATUS(io) = 0;
	gw_queue_batch(q);
	rc = io->type == BDEV_IO_NVME ? gw_submit_nvme(q, ns, io) : gw_submit_generic(q, ns, io);
	if (rc == -ENOTCONN) {
		io->cb(io, GW_STATUS_PATH_ERROR);
		return 0;
	}
	return rc;
}

static void gw_wait_push(struct gw_queue *q, struct bdev_io *io)
{
	gw_io_set_next(io, NULL);
	if (q->wait_tail)
		gw_io_set_next(q->wait_tail, io);
	else
		q->wait_head = io;
	q->wait_tail = io;
}

/* Resubmits waiting I/O in order while the queue has room. */
static void gw_wait_drain(struct gw_queue *q)
{
	struct bdev_io *io;

	while ((io = q->wait_head)) {
		int rc = gw_try_submit(q, io);

		if (rc == -EAGAIN)
			return;
		q->wait_head = gw_io_next(io);
		if (!q->wait_head)
			q->wait_tail = NULL;
		if (rc)
			io->cb(io, rc == -EINVAL ? -EINVAL : GW_STATUS_PATH_ERROR);
	}
}

int gw_submit(struct bdev_channel *base, struct bdev_io *io)
{
	struct gw_channel *ch = gw_ch(base);
	struct gw_queue *q = ch->q;
	int rc;

	if (io->type != BDEV_IO_NVME && io->type != BDEV_IO_FLUSH) {
		rc = bdev_io_check(&ch->ns->bdev, io);
		if (rc)
			return rc;
	}
	io->priv[3] = (uintptr_t)ch->ns;
	io->priv[4] = (uintptr_t)q;
	GW_IO_RETRIES(io) = 0;
	if (q->wait_head) { /* keep the order */
		gw_wait_push(q, io);
		return 0;
	}
	rc = gw_try_submit(q, io);
	if (rc == -EAGAIN) {
		gw_wait_push(q, io);
		return 0;
	}
	return rc;
}

/* Retries whose delay has passed join the wait list (completion callbacks never touch the wait
 * list itself: it may be being drained). */
static void gw_retry_due(struct gw_queue *q)
{
	uint64_t now = evloop_now_ns() / 1000000;
	struct bdev_io *io = q->retry_head, *later = NULL;

	q->retry_head = NULL;
	while (io) {
		struct bdev_io *next = gw_io_next(io);

		if (GW_IO_DUE_MS(io) > now) {
			gw_io_set_next(io, later);
			later = io;
		} else {
			gw_wait_push(q, io);
		}
		io = next;
	}
	q->retry_head = later;
}

/* Reaps completions (which may free room for waiting I/O) and follows the socket. */
static void gw_queue_drive(struct gw_queue *q)
{
	int rc;

	if (!q->lost) {
		rc = nvfab_qpair_process_completions(q->qp, 0);
		if (rc == -ENOTCONN) {
			q->lost = true;
			log_error("gateway %s: I/O queue %u to the backend lost for good; its I/O "
				  "fails with a path error", q->ctrlr->params.name,
				  nvfab_qpair_qid(q->qp));
		}
	}
	if (q->retry_head)
		gw_retry_due(q);
	if (q->lost)
		return;
	if (q->wait_head)
		gw_wait_drain(q);
	gw_queue_watch(q);
}

static void gw_queue_event(void *arg, uint32_t events)
{
	(void)events;
	gw_queue_drive(arg);
}

static void *gw_queue_connector(void *arg)
{
	struct gw_connect_job *job = arg;
	struct gw_ctrlr *c = job->ctrlr;
	uint64_t one = 1;

	pthread_setname_np(pthread_self(), "gw-connect");
	job->qp = nvfab_qpair_create(c->ctrlr, NULL, &job->err);
	if (atomic_exchange(&job->state, GW_CONNECT_REPORTED) == GW_CONNECT_ABANDONED) {
		nvfab_qpair_destroy(job->qp);
		free(job);
		atomic_fetch_sub(&c->abandoned_connects, 1); /* the last use of c */
		return NULL;
	}
	if (write(job->report_fd, &one, sizeof(one)) < 0)
		log_error("gateway %s: cannot report a connected I/O queue: %s", c->params.name,
			  strerror(errno));
	return NULL;
}

/* The last channel went during an attempt (teardown only). */
static void gw_queue_abandon_connect(struct gw_queue *q)
{
	struct gw_connect_job *job = q->connecting;

	q->connecting = NULL;
	atomic_fetch_add(&q->ctrlr->abandoned_connects, 1);
	if (atomic_exchange(&job->state, GW_CONNECT_ABANDONED) == GW_CONNECT_RUNNING) {
		pthread_detach(job->thread); /* it cleans up */
		return;
	}
	/* It reported (or is about to write its report): join it, close what it made. */
	atomic_fetch_sub(&q->ctrlr->abandoned_connects, 1);
	pthread_join(job->thread, NULL);
	nvfab_qpair_destroy(job->qp);
	free(job);
}

/*
 * Starts connecting a new queue pair (the queue is lost meanwhile; its I/O waits). The thread
 * runs where the control thread may (the process's main thread), not on the reactor's core:
 * a connect is control work, and authentication or a TLS handshake costs milliseconds of CPU.
 */
static void gw_queue_connect(struct gw_queue *q)
{
	struct gw_connect_job *job = calloc(1, sizeof(*job));
	pthread_attr_t attr;
	cpu_set_t control;
	int rc;

	q->revive_at_ms = evloop_now_ns() / 1000000 + 1000;
	if (!job) {
		log_error("gateway %s: cannot start connecting an I/O queue: out of memory",
			  q->ctrlr->params.name);
		return;
	}
	job->ctrlr = q->ctrlr;
	job->report_fd = q->connect_fd;
	atomic_init(&job->state, GW_CONNECT_RUNNING);
	pthread_attr_init(&attr);
	if (sched_getaffinity(getpid(), sizeof(control), &control) == 0)
		pthread_attr_setaffinity_np(&attr, sizeof(control), &control);
	rc = pthread_create(&job->thread, &attr, gw_queue_connector, job);
	pthread_attr_destroy(&attr);
	if (rc) {
		log_error("gateway %s: cannot start connecting an I/O queue: %s",
			  q->ctrlr->params.name, strerror(rc));
		free(job);
		return;
	}
	q->connecting = job;
}

/* The connector ended: the new queue pair takes over, or the waiting I/O fails. */
static void gw_queue_connect_done(void *arg, uint32_t events)
{
	struct gw_queue *q = arg;
	struct gw_connect_job *job = q->connecting;
	uint64_t v;

	(void)events;
	if (read(q->connect_fd, &v, sizeof(v)) < 0 || !job)
		return;
	pthread_join(job->thread, NULL);
	q->connecting = NULL;
	if (!job->qp) {
		if (!q->revive_error_logged)
			log_error("gateway %s: no I/O queue to the backend on %s yet: %s",
				  q->ctrlr->params.name, evloop_name(q->loop), job->err.msg);
		free(job);
		q->revive_error_logged = true;
		gw_wait_drain(q); /* fails what waited, with a path error */
		return;
	}
	q->revive_error_logged = false;
	q->qp = job->qp;
	free(job);
	q->lost = false;
	if (q->ever_connected)
		log_notice("gateway %s: I/O queue %u to the backend on %s again", q->ctrlr->params.name,
			   nvfab_qpair_qid(q->qp), evloop_name(q->loop));
	else
		log_info("gateway %s: I/O queue %u to the backend on %s", q->ctrlr->params.name,
			 nvfab_qpair_qid(q->qp), evloop_name(q->loop));
	q->ever_connected = true;
	gw_queue_drive(q); /* sends what waited */
}

/*
 * A lost queue of a controller that is not (or no longer) lost: a new queue pair replaces it,
 * at most once a second; while the controller is still reconnecting it fails at once.
 */
static void gw_queue_revive(struct gw_queue *q)
{
	struct gw_ctrlr *c = q->ctrlr;

	if (q->connecting || atomic_load(&c->lost) || evloop_now_ns() / 1000000 < q->revive_at_ms)
		return;
	if (q->fd >= 0) {
		evloop_del_fd(q->loop, &q->handler);
		q->fd = -1;
	}
	nvfab_qpair_destroy(q->qp); /* lost: nothing is outstanding on it */
	q->qp = NULL;
	gw_queue_connect(q);
}

static void gw_queue_tick(void *arg)
{
	struct gw_queue *q = arg;

	if (q->lost)
		gw_queue_revive(q);
	gw_queue_drive(q);
}

/* The loop's queue to the controller, connected on first use (ctrlr->queues_lock held). Its
 * first I/O waits for the connection, which does not block the loop. */
static struct gw_queue *gw_queue_get(struct gw_ctrlr *c, struct evloop *loop)
{
	struct gw_queue *q;

	for (q = c->queues; q; q = q->next)
		if (q->loop == loop) {
			q->refs++;
			return q;
		}
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->ctrlr = c;
	q->loop = loop;
	q->refs = 1;
	q->fd = -1;
	q->lost = true;
	q->handler.fn = gw_queue_event;
	q->connect_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->connect_fd < 0 ||
	    evloop_add_fd(loop, &q->connect_handler, q->connect_fd, EPOLLIN, gw_queue_connect_done, q)) {
		log_error("gateway %s: cannot open an I/O queue to the backend: %s", c->params.name,
			  strerror(errno));
		if (q->connect_fd >= 0)
			close(q->connect_fd);
		free(q);
		return NULL;
	}
	gw_queue_connect(q);
	evloop_timer_start(loop, &q->tick, GW_QUEUE_TICK_MS, GW_QUEUE_TICK_MS, gw_queue_tick, q);
	q->next = c->queues;
	c->queues = q;
	return q;
}

/* ctrlr->queues_lock held. */
static void gw_queue_put(struct gw_queue *q)
{
	struct gw_ctrlr *c = q->ctrlr;
	struct bdev_io *io;

	if (--q->refs > 0)
		return;
	for (struct gw_queue **pp = &c->queues; *pp; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			break;
		}
	evloop_timer_stop(q->loop, &q->tick);
	if (q->flush_armed)
		evloop_defer_cancel(&q->flush);
	if (q->fd >= 0)
		evloop_del_fd(q->loop, &q->handler);
	if (q->connecting)
		gw_queue_abandon_connect(q);
	evloop_del_fd(q->loop, &q->connect_handler);
	close(q->connect_fd);
	/* The last channel goes with no I/O in flight; anything still waiting fails. */
	while ((io = q->retry_head)) {
		q->retry_head = gw_io_next(io);
		io->cb(io, GW_STATUS_PATH_ERROR);
	}
	while ((io = q->wait_head)) {
		q->wait_head = gw_io_next(io);
		io->cb(io, GW_STATUS_PATH_ERROR);
	}
	nvfab_qpair_destroy(q->qp);
	/* The last channel may go from a message in the middle of the loop's event batch, which
	 * may still hold an event of this queue: the memory goes at the end of the iteration. */
	evloop_defer(q->loop, &q->free_later, free, q);
}

struct bdev_channel *gw_channel_create(struct bdev *bdev, struct evloop *loop)
{
	struct gw_ns *ns = bdev->ctx;
	struct gw_ctrlr *c = ns->ctrlr;
	struct gw_channel *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return NULL;
	ch->base.bdev = bdev;
	ch->ns = ns;
	pthread_mutex_lock(&c->queues_lock);
	ch->q = gw_queue_get(c, loop);
	pthread_mutex_unlock(&c->queues_lock);
	if (!ch->q) {
		free(ch);
		return NULL;
	}
	return &ch->base;
}

void gw_channel_destroy(struct bdev_channel *base)
{
	struct gw_channel *ch = gw_ch(base);
	struct gw_ctrlr *c = ch->ns->ctrlr;

	pthread_mutex_lock(&c->queues_lock);
	gw_queue_put(ch->q);
	pthread_mutex_unlock(&c->queues_lock);
	free(ch);
}
