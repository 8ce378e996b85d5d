/* An io_uring driven by a channel's event loop: see bdev_ring.h. */
#include "bdev/bdev_ring.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"

/* Completions handled per progress call, so that one busy channel cannot starve the loop. */
#define BDEV_RING_REAP_BUDGET 256

#define IO_NEXT(io) ((io)->priv[1])

static void ring_wait_push(struct bdev_ring *r, struct bdev_io *io, bool head)
{
	IO_NEXT(io) = 0;
	if (!r->wait_head) {
		r->wait_head = r->wait_tail = io;
	} else if (head) {
		IO_NEXT(io) = (uintptr_t)r->wait_head;
		r->wait_head = io;
	} else {
		IO_NEXT(r->wait_tail) = (uintptr_t)io;
		r->wait_tail = io;
	}
}

static struct bdev_io *ring_wait_pop(struct bdev_ring *r)
{
	struct bdev_io *io = r->wait_head;

	if (io) {
		r->wait_head = (struct bdev_io *)(uintptr_t)IO_NEXT(io);
		if (!r->wait_head)
			r->wait_tail = NULL;
	}
	return io;
}

void bdev_ring_issue(struct bdev_ring *r, struct bdev_io *io)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	if (!sqe) {
		/* Cannot happen while in-flight I/O stays within the depth; be safe anyway. */
		io_uring_submit(&r->ring);
		sqe = io_uring_get_sqe(&r->ring);
		if (!sqe) {
			ring_wait_push(r, io, true);
			return;
		}
	}
	r->prep(r->ctx, io, sqe);
	io_uring_sqe_set_data(sqe, io);
	r->inflight++;
}

void bdev_ring_submit(struct bdev_ring *r, struct bdev_io *io)
{
	/* Behind waiters, so that queued I/O is not overtaken indefinitely. */
	if (r->wait_head || r->inflight >= r->depth)
		ring_wait_push(r, io, false);
	else
		bdev_ring_issue(r, io);
}

/* Reaps completions, admits waiting I/O, submits prepared SQEs. Returns work done. */
static int ring_progress(struct bdev_ring *r)
{
	struct io_uring_cqe *cqe;
	int work = 0;

	if (!r->inflight && !r->wait_head)
		return 0;
	/* One CQE at a time: callbacks may submit on this ring while we iterate. */
	while (work < BDEV_RING_REAP_BUDGET && io_uring_peek_cqe(&r->ring, &cqe) == 0) {
		struct bdev_io *io = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&r->ring, cqe);
		r->inflight--;
		r->done(r->ctx, io, res);
		work++;
	}
	while (r->wait_head && r->inflight < r->depth)
		bdev_ring_issue(r, ring_wait_pop(r));
	if (io_uring_sq_ready(&r->ring)) {
		int rc = io_uring_submit(&r->ring);

		if (rc >= 0 || rc == -EAGAIN || rc == -EBUSY || rc == -EINTR)
			work++; /* transient errors: retry next iteration without sleeping */
		else
			log_error("bdev %s: io_uring_submit: %s", r->name, strerror(-rc));
	}
	return work;
}

static int ring_poll(void *arg)
{
	struct bdev_ring *r = arg;

	return r->dead ? 0 : ring_progress(r);
}

static void ring_efd_ready(void *arg, uint32_t events)
{
	struct bdev_ring *r = arg;
	uint64_t v;

	(void)events;
	if (r->dead)
		return;
	if (read(r->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("bdev %s: eventfd read: %s", r->name, strerror(errno));
	ring_progress(r);
}

int bdev_ring_init(struct bdev_ring *r, struct evloop *loop, const char *name, unsigned depth,
		   unsigned setup_flags, int fixed_fd, bdev_ring_prep_fn prep,
		   bdev_ring_done_fn done, void *ctx)
{
	int rc;

	memset(r, 0, sizeof(*r));
	r->loop = loop;
	r->name = name;
	r->depth = depth;
	r->prep = prep;
	r->done = done;
	r->ctx = ctx;
	r->efd = -1;
	rc = io_uring_queue_init(depth, &r->ring, setup_flags);
	if (rc < 0) {
		log_error("bdev %s: io_uring_queue_init: %s", name, strerror(-rc));
		return rc;
	}
	r->ring_ready = true;
	if (fixed_fd >= 0 && (rc = io_uring_register_files(&r->ring, &fixed_fd, 1)) < 0) {
		log_error("bdev %s: io_uring_register_files: %s", name, strerror(-rc));
		return rc;
	}
	r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->efd < 0) {
		rc = -errno;
		log_error("bdev %s: eventfd: %s", name, strerror(errno));
		return rc;
	}
	rc = io_uring_register_eventfd(&r->ring, r->efd);
	if (rc < 0) {
		log_error("bdev %s: io_uring_register_eventfd: %s", name, strerror(-rc));
		return rc;
	}
	rc = evloop_add_fd(loop, &r->efd_handler, r->efd, EPOLLIN, ring_efd_ready, r);
	if (rc < 0) {
		log_error("bdev %s: evloop_add_fd: %s", name, strerror(-rc));
		return rc;
	}
	evloop_add_poller(loop, &r->poller, ring_poll, r);
	return 0;
}

void bdev_ring_release(struct bdev_ring *r)
{
	if (r->efd >= 0)
		close(r->efd);
	if (r->ring_ready)
		io_uring_queue_exit(&r->ring);
	r->efd = -1;
	r->ring_ready = false;
}

void bdev_ring_destroy(struct bdev_ring *r, void (*free_owner)(void *owner), void *owner)
{
	if (r->inflight || r->wait_head)
		log_warn("bdev %s: channel destroyed with I/O outstanding: completing it first",
			 r->name);
	while (r->inflight || r->wait_head) {
		struct io_uring_cqe *cqe;

		if (!ring_progress(r) && r->inflight)
			io_uring_wait_cqe(&r->ring, &cqe);
	}
	evloop_del_poller(r->loop, &r->poller);
	evloop_del_fd(r->loop, &r->efd_handler);
	r->dead = true;
	if (evloop_is_current(r->loop))
		evloop_defer(r->loop, &r->free_later, free_owner, owner);
	else
		free_owner(owner);
}
