#include "util/evloop.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/sys_io.h"

#define EVLOOP_MAX_EVENTS 64

/* Adaptive polling's score of polled idle periods that found work, in 256ths; a probe period. */
#define EVLOOP_HIT_ONE 256u
#define EVLOOP_PROBE_EVERY 16u

struct evloop_msg {
	evloop_msg_fn fn;
	void *arg;
	struct evloop_msg *next;
};

struct evloop {
	char name[32];
	int epfd;
	int wakefd;
	/*
	 * The loop's timers wake it through a timerfd set to the earliest deadline, not through
	 * epoll_wait's timeout: a timeout starts and cancels a kernel timer on every sleep, which
	 * costs a reactor that sleeps twice per forwarded I/O about 1 us per I/O in a VM (measured:
	 * a byte relay's epoll_wait with a 50 ms timeout took 0.5-0.6 us more CPU than without).
	 * The timerfd is set again only when an earlier deadline comes up or after it fired.
	 */
	int timerfd;
	uint64_t timerfd_ns;    /* deadline the timerfd is set to; UINT64_MAX = not set */
	struct evloop_handler timer_handler;
	bool busy_poll;
	uint64_t spin_ns;       /* adaptive polling: keep polling this long after the last work */
	uint64_t last_work_ns;
	bool in_idle;           /* no work since last_work_ns: an idle period is under way */
	bool spinning;          /* this idle period is polled */
	uint32_t hit_score;     /* moving share (of 256) of polled idle periods that found work */
	uint32_t idle_periods;
	uint64_t polled_periods;        /* idle periods polled rather than slept (adaptive polling) */
	volatile bool stop;
	struct evloop_handler wake_handler;
	struct list_node pollers;
	struct list_node timers;
	struct list_node deferred;
	struct list_node *poll_next;    /* iteration cursor, moved on if its poller is deleted */
	pthread_t owner;
	bool running;
	pthread_mutex_t msg_lock;
	struct evloop_msg *msg_head, *msg_tail;
};

static void evloop_run_deferred(struct evloop *loop);

uint64_t evloop_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void evloop_drain_msgs(void *arg, uint32_t events)
{
	struct evloop *loop = arg;
	struct evloop_msg *m;
	uint64_t v;

	(void)events;
	if (read(loop->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("evloop %s: eventfd read: %s", loop->name, strerror(errno));
	pthread_mutex_lock(&loop->msg_lock);
	m = loop->msg_head;
	loop->msg_head = loop->msg_tail = NULL;
	pthread_mutex_unlock(&loop->msg_lock);
	while (m) {
		struct evloop_msg *next = m->next;

		m->fn(m->arg);
		free(m);
		m = next;
	}
}

static void evloop_timerfd_fired(void *arg, uint32_t events)
{
	struct evloop *loop = arg;
	uint64_t expirations;

	(void)events;
	if (read(loop->timerfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		log_warn("evloop %s: timerfd read: %s", loop->name, strerror(errno));
	loop->timerfd_ns = UINT64_MAX; /* the timers run at the start of the next iteration */
}

/* Makes the timerfd fire no later than deadline_ns (an earlier setting stays: it only makes
 * the loop check its timers once more). */
static void evloop_timerfd_arm(struct evloop *loop, uint64_t deadline_ns)
{
	struct itimerspec its = {
		.it_value = {.tv_sec = (time_t)(deadline_ns / 1000000000ull),
			     .tv_nsec = (long)(deadline_ns % 1000000000ull)},
	};

	if (deadline_ns >= loop->timerfd_ns)
		return;
	if (timerfd_settime(loop->timerfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
		log_warn("evloop %s: timerfd_settime: %s", loop->name, strerror(errno));
		return;
	}
	loop->timerfd_ns = deadline_ns;
}

struct evloop *evloop_create(const char *name)
{
	struct evloop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return NULL;
	snprintf(loop->name, sizeof(loop->name), "%s", name);
	list_init(&loop->pollers);
	list_init(&loop->timers);
	list_init(&loop->deferred);
	pthread_mutex_init(&loop->msg_lock, NULL);
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	loop->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	loop->timerfd_ns = UINT64_MAX;
	if (loop->epfd < 0 || loop->wakefd < 0 || loop->timerfd < 0 ||
	    evloop_add_fd(loop, &loop->wake_handler, loop->wakefd, EPOLLIN, evloop_drain_msgs, loop) ||
	    evloop_add_fd(loop, &loop->timer_handler, loop->timerfd, EPOLLIN, evloop_timerfd_fired, loop)) {
		log_error("evloop %s: cannot create: %s", name, strerror(errno));
		evloop_destroy(loop);
		return NULL;
	}
	return loop;
}

void evloop_destroy(struct evloop *loop)
{
	if (!loop)
		return;
	/* Run what is still queued so that senders' resources are released. */
	if (loop->wakefd >= 0)
		evloop_drain_msgs(loop, 0);
	evloop_run_deferred(loop);
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->wakefd >= 0)
		close(loop->wakefd);
	if (loop->timerfd >= 0)
		close(loop->timerfd);
	pthread_mutex_destroy(&loop->msg_lock);
	free(loop);
}

const char *evloop_name(const struct evloop *loop)
{
	return loop->name;
}

void evloop_set_busy_poll(struct evloop *loop, bool busy)
{
	loop->busy_poll = busy;
}

void evloop_set_adaptive_poll(struct evloop *loop, uint32_t us)
{
	loop->spin_ns = (uint64_t)us * 1000;
	loop->hit_score = EVLOOP_HIT_ONE; /* poll until the waits prove too long */
}

int evloop_add_fd(struct evloop *loop, struct evloop_handler *h, int fd, uint32_t events,
		  evloop_fd_fn fn, void *arg)
{
	struct epoll_event ev = {.events = events, .data.ptr = h};

	h->fn = fn;
	h->arg = arg;
	h->fd = fd;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	return 0;
}

int evloop_mod_fd(struct evloop *loop, struct evloop_handler *h, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = h};

	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, h->fd, &ev) < 0)
		return -errno;
	return 0;
}

void evloop_del_fd(struct evloop *loop, struct evloop_handler *h)
{
	if (h->fd >= 0)
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, h->fd, NULL);
	h->fd = -1;
}

void evloop_add_poller(struct evloop *loop, struct evloop_poller *p, evloop_poll_fn fn, void *arg)
{
	p->fn = fn;
	p->arg = arg;
	list_add_tail(&loop->pollers, &p->link);
}

void evloop_del_poller(struct evloop *loop, struct evloop_poller *p)
{
	/* A poller may delete another (or itself) while the loop walks the list. */
	if (loop->poll_next == &p->link)
		loop->poll_next = p->link.next;
	list_del(&p->link);
}

void evloop_timer_start(struct evloop *loop, struct evloop_timer *t, uint32_t delay_ms,
			uint32_t period_ms, evloop_timer_fn fn, void *arg)
{
	if (t->armed)
		list_del(&t->link);
	t->fn = fn;
	t->arg = arg;
	t->deadline_ns = evloop_now_ns() + (uint64_t)delay_ms * 1000000ull;
	t->period_ns = (uint64_t)period_ms * 1000000ull;
	t->armed = true;
	list_add_tail(&loop->timers, &t->link);
}

void evloop_timer_stop(struct evloop *loop, struct evloop_timer *t)
{
	(void)loop;
	if (t->armed) {
		list_del(&t->link);
		t->armed = false;
	}
}

void evloop_defer(struct evloop *loop, struct evloop_deferred *d, evloop_msg_fn fn, void *arg)
{
	d->fn = fn;
	d->arg = arg;
	list_add_tail(&loop->deferred, &d->link);
}

void evloop_defer_cancel(struct evloop_deferred *d)
{
	list_del(&d->link);
}

bool evloop_is_current(const struct evloop *loop)
{
	return loop->running && pthread_equal(loop->owner, pthread_self());
}

static void evloop_run_deferred(struct evloop *loop)
{
	struct list_node *n;

	while ((n = list_pop(&loop->deferred))) {
		struct evloop_deferred *d = list_entry(n, struct evloop_deferred, link);

		d->fn(d->arg);
	}
}

int evloop_send(struct evloop *loop, evloop_msg_fn fn, void *arg)
{
	struct evloop_msg *m = malloc(sizeof(*m));
	uint64_t one = 1;

	if (!m)
		return -ENOMEM;
	m->fn = fn;
	m->arg = arg;
	m->next = NULL;
	pthread_mutex_lock(&loop->msg_lock);
	if (loop->msg_tail)
		loop->msg_tail->next = m;
	else
		loop->msg_head = m;
	loop->msg_tail = m;
	pthread_mutex_unlock(&loop->msg_lock);
	if (write(loop->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

/* Fires a due timer (then returns 0), or returns the next deadline (UINT64_MAX if none). */
static uint64_t evloop_run_timers(struct evloop *loop, int *work)
{
	uint64_t now = evloop_now_ns(), next = UINT64_MAX;
	struct list_node *pos, *tmp;

	list_for_each_safe(pos, tmp, &loop->timers) {
		struct evloop_timer *t = list_entry(pos, struct evloop_timer, link);

		if (t->deadline_ns <= now) {
			if (t->period_ns) {
				t->deadline_ns = now + t->period_ns;
			} else {
				list_del(&t->link);
				t->armed = false;
			}
			(*work)++;
			/* The callback may stop or free other timers: restart the scan after it. */
			t->fn(t->arg);
			return 0;
		}
		if (t->deadline_ns < next)
			next = t->deadline_ns;
	}
	return next;
}

/*
 * Adaptive polling decides per idle period (from the end of work to the next work) whether to
 * poll it or to sleep at once. Polling pays only when work usually comes within the window (a
 * peer on the same machine, a fast device); when it usually does not (a slow device, a remote
 * backend across a real network) the window is wasted CPU. A hit saves one wake-up, a miss
 * burns the whole window, so polling pays only when most polled periods hit: the loop keeps a
 * moving score of polled periods that ended in work rather than in an expired window, polls
 * while three in four do, and otherwise sleeps at once, polling one period in 16 as a probe so
 * that it notices when work speeds up again. (A target on a slow device alternates a short
 * wait for the host's next command with a long one for the device: half hits, so it sleeps.)
 * Misses are judged only while polling, so the wake-up time that sleeping adds to a wait
 * cannot keep the loop from polling.
 */
static bool adaptive_poll_now(struct evloop *loop)
{
	if (!loop->in_idle) {
		loop->in_idle = true;
		loop->spinning = loop->hit_score >= EVLOOP_HIT_ONE * 3 / 4 ||
				 ++loop->idle_periods % EVLOOP_PROBE_EVERY == 0;
		loop->polled_periods += loop->spinning;
	}
	if (!loop->spinning)
		return false;
	if (evloop_now_ns() - loop->last_work_ns < loop->spin_ns)
		return true;
	loop->spinning = false; /* the window ran out: a miss */
	loop->hit_score -= loop->hit_score / 8;
	return false;
}

static void adaptive_work_done(struct evloop *loop)
{
	if (loop->spinning)
		loop->hit_score += (EVLOOP_HIT_ONE - loop->hit_score) / 8;
	loop->in_idle = loop->spinning = false;
	loop->last_work_ns = evloop_now_ns();
}

uint64_t evloop_polled_periods(const struct evloop *loop)
{
	return loop->polled_periods;
}

int evloop_run_once(struct evloop *loop, int timeout_ms)
{
	struct epoll_event events[EVLOOP_MAX_EVENTS];
	struct list_node *pos;
	int work = 0, n;
	uint64_t next_timer;

	for (pos = loop->pollers.next; pos != &loop->pollers; pos = loop->poll_next) {
		struct evloop_poller *p = list_entry(pos, struct evloop_poller, link);

		loop->poll_next = pos->next;
		work += p->fn(p->arg);
	}
	loop->poll_next = NULL;
	next_timer = evloop_run_timers(loop, &work);
	if (work || loop->busy_poll) {
		timeout_ms = 0;
	} else if (loop->spin_ns && adaptive_poll_now(loop)) {
		/* Work was recent, and the next usually comes sooner than a wake-up would take. */
		timeout_ms = 0;
	} else if (next_timer != UINT64_MAX && timeout_ms < 0) {
		evloop_timerfd_arm(loop, next_timer); /* the usual sleep: no kernel timer per wait */
	} else if (next_timer != UINT64_MAX) {
		uint64_t now = evloop_now_ns();
		int timer_ms = next_timer <= now ? 0 : (int)((next_timer - now + 999999) / 1000000);

		if (timer_ms < timeout_ms)
			timeout_ms = timer_ms;
	}

	n = sys_epoll_wait(loop->epfd, events, EVLOOP_MAX_EVENTS, timeout_ms);
	if (loop->spin_ns && (work || n > 0))
		adaptive_work_done(loop);
	for (int i = 0; i < n; i++) {
		struct evloop_handler *h = events[i].data.ptr;

		/* Removed by a handler earlier in this batch: the event is stale (the owner's
		 * memory stays until the iteration ends, see evloop_defer). */
		if (h->fd < 0)
			continue;
		h->fn(h->arg, events[i].events);
	}
	evloop_run_deferred(loop);
	return work + (n > 0 ? n : 0);
}

void evloop_run(struct evloop *loop)
{
	loop->owner = pthread_self();
	loop->running = true;
	while (!loop->stop)
		evloop_run_once(loop, -1);
	loop->running = false;
}

void evloop_stop(struct evloop *loop)
{
	uint64_t one = 1;

	loop->stop = true;
	if (write(loop->wakefd, &one, sizeof(one)) < 0)
		log_warn("evloop %s: wake on stop: %s", loop->name, strerror(errno));
}
