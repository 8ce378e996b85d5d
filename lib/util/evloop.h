/*
 * A small event loop: one per thread. The control thread and every data reactor run one.
 * File descriptors are watched with epoll; pollers run on every iteration (busy-poll mode and
 * io_uring completion reaping); timers fire from the loop thread; other threads hand work to a
 * loop with evloop_send(), which is for the control path only (it allocates).
 *
 * Handlers, pollers and timers are embedded in their owner's struct: the loop never allocates
 * on the data path.
 */
#ifndef NVFAB_UTIL_EVLOOP_H
#define NVFAB_UTIL_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "util/list.h"

struct evloop;

typedef void (*evloop_fd_fn)(void *arg, uint32_t events);
typedef int (*evloop_poll_fn)(void *arg); /* returns how much work it did; 0 = idle */
typedef void (*evloop_timer_fn)(void *arg);
typedef void (*evloop_msg_fn)(void *arg);

struct evloop_handler {
	evloop_fd_fn fn;
	void *arg;
	int fd;
};

struct evloop_poller {
	evloop_poll_fn fn;
	void *arg;
	struct list_node link;
};

struct evloop_timer {
	evloop_timer_fn fn;
	void *arg;
	uint64_t deadline_ns;
	uint64_t period_ns; /* 0 = one shot */
	bool armed;
	struct list_node link;
};

/* Work that must wait until the current iteration's events are all handled (freeing an object
 * whose event may still be pending in this batch). */
struct evloop_deferred {
	evloop_msg_fn fn;
	void *arg;
	struct list_node link;
};

struct evloop *evloop_create(const char *name);
void evloop_destroy(struct evloop *loop);
const char *evloop_name(const struct evloop *loop);

/* In busy-poll mode the loop never sleeps in epoll_wait: lowest latency, one core at 100 %. */
void evloop_set_busy_poll(struct evloop *loop, bool busy);
/*
 * Adaptive polling for a loop that sleeps: after an iteration that did work, keep polling
 * (epoll with timeout 0) for up to us microseconds before sleeping again. The next request
 * of a busy connection usually arrives sooner than a sleep and wake-up take; a loop without
 * work for us microseconds sleeps, so an idle reactor costs nothing. A loop whose polled
 * waits mostly run out the window (a slow device or peer) sleeps at once instead, polling one
 * wait in 16 to notice when work speeds up. 0 turns it off.
 */
void evloop_set_adaptive_poll(struct evloop *loop, uint32_t us);
/* Idle periods that adaptive polling polled rather than slept through (for tests). */
uint64_t evloop_polled_periods(const struct evloop *loop);

int evloop_add_fd(struct evloop *loop, struct evloop_handler *h, int fd, uint32_t events,
		  evloop_fd_fn fn, void *arg);
int evloop_mod_fd(struct evloop *loop, struct evloop_handler *h, uint32_t events);
/* A handler removed while the loop handles a batch of events gets none of that batch's that
 * are still to come; its memory must stay until the iteration ends (evloop_defer its free). */
void evloop_del_fd(struct evloop *loop, struct evloop_handler *h);

void evloop_add_poller(struct evloop *loop, struct evloop_poller *p, evloop_poll_fn fn, void *arg);
void evloop_del_poller(struct evloop *loop, struct evloop_poller *p);

/* Fires after delay_ms, then every period_ms if period_ms > 0. */
void evloop_timer_start(struct evloop *loop, struct evloop_timer *t, uint32_t delay_ms,
			uint32_t period_ms, evloop_timer_fn fn, void *arg);
void evloop_timer_stop(struct evloop *loop, struct evloop_timer *t);

/* Loop thread only: runs fn(arg) at the end of the current iteration. */
void evloop_defer(struct evloop *loop, struct evloop_deferred *d, evloop_msg_fn fn, void *arg);
/* Loop thread only: takes back a deferred call that has not run yet. */
void evloop_defer_cancel(struct evloop_deferred *d);
/* True when called on the loop's own thread (while it runs). */
bool evloop_is_current(const struct evloop *loop);

/* Thread-safe: runs fn(arg) on the loop's thread. Returns -ENOMEM on allocation failure. */
int evloop_send(struct evloop *loop, evloop_msg_fn fn, void *arg);

/* Runs until evloop_stop() (thread-safe). */
void evloop_run(struct evloop *loop);
void evloop_stop(struct evloop *loop);
/* One iteration; waits at most timeout_ms for events (0 = just poll). Returns work done. */
int evloop_run_once(struct evloop *loop, int timeout_ms);

uint64_t evloop_now_ns(void);

#endif
