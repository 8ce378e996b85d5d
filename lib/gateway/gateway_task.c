/*
 * Gateway tasks: control-plane work that waits on a backend (attaching a controller, adding a
 * path, a reset: each connects, which takes up to connect_timeout_ms per path when the backend
 * does not answer) runs on a thread of its own. The control loop meanwhile serves the hosts'
 * admin queues (their keep-alives), new connections and other RPCs; a blocked control loop
 * would let a silent backend stall every host of the gateway. The task's end runs on the
 * control loop, woken through an eventfd.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "gateway/gateway.h"
#include "util/log.h"

static struct list_node g_tasks = {&g_tasks, &g_tasks};
static struct evloop_handler g_wake_handler;
static int g_wake_fd = -1;

static void gw_task_end(struct gw_task *t, bool stopping)
{
	pthread_join(t->thread, NULL);
	list_del(&t->link);
	t->done(t, stopping); /* frees t */
}

/* On the control loop: the end of every task whose work is over. */
static void gw_tasks_reap(void *arg, uint32_t events)
{
	struct list_node *pos, *tmp;
	uint64_t n;

	(void)arg;
	(void)events;
	if (read(g_wake_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_error("gateway: task wake-up: %s", strerror(errno));
	list_for_each_safe(pos, tmp, &g_tasks) {
		struct gw_task *t = list_entry(pos, struct gw_task, link);

		if (atomic_load(&t->finished))
			gw_task_end(t, false);
	}
}

static void *gw_task_main(void *arg)
{
	struct gw_task *t = arg;
	uint64_t one = 1;

	t->work(t);
	atomic_store(&t->finished, true);
	if (write(g_wake_fd, &one, sizeof(one)) < 0)
		log_error("gateway: task %s: cannot wake the control loop: %s", t->name,
			  strerror(errno));
	return NULL;
}

int gw_tasks_init(struct evloop *control)
{
	int rc;

	g_wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (g_wake_fd < 0)
		return -errno;
	rc = evloop_add_fd(control, &g_wake_handler, g_wake_fd, EPOLLIN, gw_tasks_reap, NULL);
	if (rc) {
		close(g_wake_fd);
		g_wake_fd = -1;
		return rc;
	}
	return 0;
}

int gw_task_start(struct gw_task *t)
{
	int rc;

	if (g_wake_fd < 0)
		return -ENOTCONN;
	atomic_store(&t->finished, false);
	rc = pthread_create(&t->thread, NULL, gw_task_main, t);
	if (rc)
		return -rc;
	list_add_tail(&g_tasks, &t->link);
	return 0;
}

bool gw_task_busy(const char *name)
{
	for (struct list_node *pos = g_tasks.next; pos != &g_tasks; pos = pos->next)
		if (strcmp(list_entry(pos, struct gw_task, link)->name, name) == 0)
			return true;
	return false;
}

void gw_tasks_fini(void)
{
	/* The control loop is gone: each task is waited for (its connection attempt ends within
	 * connect_timeout_ms) and ended here. */
	while (!list_empty(&g_tasks))
		gw_task_end(list_entry(g_tasks.next, struct gw_task, link), true);
	if (g_wake_fd >= 0)
		close(g_wake_fd);
	g_wake_fd = -1;
}
