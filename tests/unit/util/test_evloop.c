/*
 * The event loop's adaptive polling: it polls through short waits for work and sleeps at once
 * when polled waits usually run out its window. Its timers: they wake a loop that waits with
 * no timeout, on time, also after being moved earlier or later. A handler removed during a
 * batch of events gets none of the batch's that are still to come.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/evloop.h"

/* A poller that has work on every other call: waits for work are about one iteration long. */
static int every_other(void *arg)
{
	unsigned *calls = arg;

	return (*calls)++ % 2 == 0;
}

/* Idle periods polled in iterations of a loop whose poller has work every other call. */
static uint64_t polled_with_work_every_other(uint32_t poll_us, int iterations)
{
	struct evloop *loop = evloop_create("t-every-other");
	struct evloop_poller p;
	unsigned calls = 0;
	uint64_t polled;

	assert_non_null(loop);
	evloop_set_adaptive_poll(loop, poll_us);
	evloop_add_poller(loop, &p, every_other, &calls);
	for (int i = 0; i < iterations; i++)
		evloop_run_once(loop, 1);
	polled = evloop_polled_periods(loop);
	evloop_del_poller(loop, &p);
	evloop_destroy(loop);
	return polled;
}

static void test_polls_through_short_waits(void **state)
{
	(void)state;
	/* Every idle period ended in work far within 200 us: each was polled, none slept. */
	assert_true(polled_with_work_every_other(200, 200) >= 90);
}

static void test_off_never_polls(void **state)
{
	(void)state;
	assert_int_equal(polled_with_work_every_other(0, 20), 0);
}

struct slow_peer {
	int fd;
	int events;     /* to send, one every 3 ms */
	int seen;       /* received by the loop */
};

static void *slow_writer(void *arg)
{
	struct slow_peer *peer = arg;
	uint64_t one = 1;

	for (int i = 0; i < peer->events; i++) {
		struct timespec ts = {0, 3 * 1000 * 1000};

		nanosleep(&ts, NULL);
		if (write(peer->fd, &one, sizeof(one)) != sizeof(one))
			break;
	}
	return NULL;
}

static void on_event(void *arg, uint32_t events)
{
	struct slow_peer *peer = arg;
	uint64_t v;

	(void)events;
	if (read(peer->fd, &v, sizeof(v)) == sizeof(v))
		peer->seen += (int)v;
}

static void test_sleeps_at_once_when_waits_are_long(void **state)
{
	struct evloop *loop = evloop_create("t-slow");
	struct evloop_handler h;
	struct slow_peer peer = {.events = 40};
	pthread_t writer;
	uint64_t polled_at_20 = 0;

	(void)state;
	assert_non_null(loop);
	peer.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(peer.fd >= 0);
	evloop_set_adaptive_poll(loop, 200);
	assert_int_equal(evloop_add_fd(loop, &h, peer.fd, EPOLLIN, on_event, &peer), 0);
	assert_int_equal(pthread_create(&writer, NULL, slow_writer, &peer), 0);
	while (peer.seen < peer.events) {
		evloop_run_once(loop, 100);
		if (peer.seen == 20 && !polled_at_20)
			polled_at_20 = evloop_polled_periods(loop) + 1;
	}
	pthread_join(writer, NULL);
	/* The first waits ran out the 200 us window: of the last 20 waits (3 ms each) only the
	 * probes, one in 16, were polled; the others were slept through from their start. */
	assert_true(polled_at_20 > 0);
	assert_true(evloop_polled_periods(loop) - (polled_at_20 - 1) <= 3);
	evloop_del_fd(loop, &h);
	close(peer.fd);
	evloop_destroy(loop);
}

struct fired {
	int count;
	uint64_t at_ns;
};

static void on_timer(void *arg)
{
	struct fired *f = arg;

	f->count++;
	f->at_ns = evloop_now_ns();
}

/* Iterations of a loop that waits with no timeout until the timer has fired n times. */
static void run_until(struct evloop *loop, const struct fired *f, int n)
{
	while (f->count < n)
		evloop_run_once(loop, -1);
}

struct timer_start {
	struct evloop *loop;
	struct evloop_timer *t;
	struct fired *f;
};

static void start_20ms_timer(void *arg)
{
	struct timer_start *ts = arg;

	evloop_timer_start(ts->loop, ts->t, 20, 0, on_timer, ts->f);
}

static void test_timers_wake_a_loop_without_timeout(void **state)
{
	struct evloop *loop = evloop_create("t-timers");
	struct timer_start early;
	struct evloop_timer a = {0}, b = {0};
	struct fired fa = {0}, fb = {0};
	uint64_t t0;

	(void)state;
	assert_non_null(loop);
	/* one-shot, then periodic */
	t0 = evloop_now_ns();
	evloop_timer_start(loop, &a, 30, 0, on_timer, &fa);
	run_until(loop, &fa, 1);
	assert_true(fa.at_ns - t0 >= 30000000ull);
	evloop_timer_start(loop, &a, 5, 5, on_timer, &fa);
	run_until(loop, &fa, 4);
	assert_true(fa.at_ns - t0 >= 45000000ull);
	evloop_timer_stop(loop, &a);
	/* a late timer, then an earlier one started while the loop sleeps for the late one: the
	 * earlier one is on time */
	t0 = evloop_now_ns();
	evloop_timer_start(loop, &b, 2000, 0, on_timer, &fb);
	early.loop = loop;
	early.t = &a;
	early.f = &fa;
	assert_int_equal(evloop_send(loop, start_20ms_timer, &early), 0);
	evloop_run_once(loop, -1); /* sleeps until the message, its timer set for the 2 s one */
	run_until(loop, &fa, 5);
	assert_true(fa.at_ns - t0 >= 20000000ull && fa.at_ns - t0 < 1000000000ull);
	assert_int_equal(fb.count, 0);
	/* a timer moved later fires at its new deadline, not the old one */
	t0 = evloop_now_ns();
	evloop_timer_start(loop, &b, 10, 0, on_timer, &fb);
	evloop_run_once(loop, 0);
	evloop_timer_start(loop, &b, 60, 0, on_timer, &fb);
	run_until(loop, &fb, 1);
	assert_true(fb.at_ns - t0 >= 60000000ull);
	evloop_destroy(loop);
}

/* Two ready eventfds whose handlers each remove the other: whichever runs first, the other
 * gets no event from the same batch (its owner may be gone by then). */
struct rival {
	struct evloop *loop;
	struct evloop_handler h;
	struct rival *other;
	int fd;
	int calls;
};

static void rival_event(void *arg, uint32_t events)
{
	struct rival *r = arg;

	(void)events;
	r->calls++;
	evloop_del_fd(r->loop, &r->other->h);
}

static void test_removed_handler_gets_no_stale_event(void **state)
{
	struct evloop *loop = evloop_create("t-removed");
	struct rival a = {.loop = loop}, b = {.loop = loop};
	uint64_t one = 1;

	(void)state;
	assert_non_null(loop);
	a.other = &b;
	b.other = &a;
	for (struct rival *r = &a; r; r = r == &a ? &b : NULL) {
		r->fd = eventfd(0, EFD_NONBLOCK);
		assert_true(r->fd >= 0);
		assert_int_equal(write(r->fd, &one, sizeof(one)), sizeof(one));
		assert_int_equal(evloop_add_fd(loop, &r->h, r->fd, EPOLLIN, rival_event, r), 0);
	}
	evloop_run_once(loop, 0);
	assert_int_equal(a.calls + b.calls, 1);
	evloop_destroy(loop);
	close(a.fd);
	close(b.fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_wake_a_loop_without_timeout),
		cmocka_unit_test(test_removed_handler_gets_no_stale_event),
		cmocka_unit_test(test_polls_through_short_waits),
		cmocka_unit_test(test_off_never_polls),
		cmocka_unit_test(test_sleeps_at_once_when_waits_are_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
