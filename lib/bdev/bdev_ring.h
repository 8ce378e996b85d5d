/*
 * An io_uring that a bdev channel drives from its thread's event loop: what the file and the
 * NVMe passthrough backends share. The backend says how to turn an I/O into an SQE (prep) and
 * what a completion means (done); the ring does the rest, two ways at once:
 *   - a poller reaps completions (without a system call) and submits the SQEs prepared during
 *     the loop iteration. Pollers run before the loop sleeps, so batching costs no latency;
 *   - an eventfd registered with the ring wakes an event-driven (sleeping) loop when a
 *     completion arrives.
 * No I/O ever fails for lack of ring room: beyond the depth, I/Os wait on a FIFO linked
 * through bdev_io.priv[1] (the ring's; backends keep to the other priv words).
 */
#ifndef NVFAB_BDEV_BDEV_RING_H
#define NVFAB_BDEV_BDEV_RING_H

#include <stdbool.h>

#include <liburing.h>

#include "bdev/bdev.h"
#include "util/evloop.h"

/* Fills sqe for io (the ring sets its user data afterwards). */
typedef void (*bdev_ring_prep_fn)(void *ctx, struct bdev_io *io, struct io_uring_sqe *sqe);
/* The CQE's res for io; may issue io again (bdev_ring_issue) or complete it. */
typedef void (*bdev_ring_done_fn)(void *ctx, struct bdev_io *io, int res);

struct bdev_ring {
	struct io_uring ring;
	struct evloop *loop;
	const char *name;       /* the bdev's, for logs */
	unsigned depth;         /* SQEs in flight at most; the CQ is twice as large */
	bdev_ring_prep_fn prep;
	bdev_ring_done_fn done;
	void *ctx;
	bool ring_ready;
	int efd;
	struct evloop_handler efd_handler;
	struct evloop_poller poller;
	unsigned inflight;      /* SQEs prepared and not yet completed */
	struct bdev_io *wait_head, *wait_tail;
	/* Destroyed, memory not yet released: an eventfd event of this iteration may still be
	 * dispatched to us after the fd left epoll. */
	bool dead;
	struct evloop_deferred free_later;
};

/*
 * Sets up the ring (io_uring_queue_init with setup_flags; fixed_fd, unless -1, registered as
 * fixed file 0), its eventfd, poller and loop handler. On failure returns -errno, logged with
 * the bdev's name, with nothing left on the loop: bdev_ring_release undoes the rest.
 */
int bdev_ring_init(struct bdev_ring *r, struct evloop *loop, const char *name, unsigned depth,
		   unsigned setup_flags, int fixed_fd, bdev_ring_prep_fn prep,
		   bdev_ring_done_fn done, void *ctx);
/* Queues a new I/O: behind earlier waiters, or prepared at once if there is room. */
void bdev_ring_submit(struct bdev_ring *r, struct bdev_io *io);
/* Prepares io now (a retry or the next piece from a done callback). */
void bdev_ring_issue(struct bdev_ring *r, struct bdev_io *io);
/*
 * Completes everything outstanding (the ring must not be torn down under the kernel: the
 * buffers belong to callers), leaves the loop, and frees the memory at `owner` with
 * free_owner (which must call bdev_ring_release): at the end of the loop iteration when
 * called on the loop's thread, at once otherwise.
 */
void bdev_ring_destroy(struct bdev_ring *r, void (*free_owner)(void *owner), void *owner);
/* Closes the eventfd and the ring. */
void bdev_ring_release(struct bdev_ring *r);

#endif
