/* Listening sockets (TCP), shared by every subsystem that names the same address. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "target/target.h"
#include "target/tcp_qpair.h"
#include "tcp/tcp_sock.h"
#include "util/log.h"

#define LISTENER_RETRY_MS 100

int tgt_listen_addr_parse(const char *trtype, const char *adrfam, const char *traddr,
			  const char *trsvcid, struct tgt_listen_addr *out, const char **why)
{
	char *end;
	long port;

	memset(out, 0, sizeof(*out));
	if (!trtype || strcasecmp(trtype, "TCP") != 0) {
		*why = "trtype: only TCP is supported";
		return -EINVAL;
	}
	if (adrfam && strcasecmp(adrfam, "IPv4") != 0 && strcasecmp(adrfam, "IPv6") != 0) {
		*why = "adrfam: must be IPv4 or IPv6";
		return -EINVAL;
	}
	if (!traddr || !*traddr || strlen(traddr) >= sizeof(out->traddr)) {
		*why = "traddr: missing or too long";
		return -EINVAL;
	}
	if (!trsvcid || !*trsvcid) {
		*why = "trsvcid: missing";
		return -EINVAL;
	}
	port = strtol(trsvcid, &end, 10);
	if (*end || port <= 0 || port > 65535) {
		*why = "trsvcid: not a port number";
		return -EINVAL;
	}
	snprintf(out->trtype, sizeof(out->trtype), "TCP");
	snprintf(out->adrfam, sizeof(out->adrfam), "%s",
		 adrfam ? (strcasecmp(adrfam, "IPv6") == 0 ? "IPv6" : "IPv4")
			: (strchr(traddr, ':') ? "IPv6" : "IPv4"));
	snprintf(out->traddr, sizeof(out->traddr), "%s", traddr);
	snprintf(out->trsvcid, sizeof(out->trsvcid), "%ld", port);
	return 0;
}

struct tgt_listener *tgt_listener_find(const struct tgt_listen_addr *addr)
{
	struct list_node *pos, *tmp;

	list_for_each_safe(pos, tmp, &g_tgt.listeners) {
		struct tgt_listener *l = list_entry(pos, struct tgt_listener, link);

		if (strcmp(l->addr.traddr, addr->traddr) == 0 && strcmp(l->addr.trsvcid, addr->trsvcid) == 0)
			return l;
	}
	return NULL;
}

static void listener_accept(void *arg, uint32_t events);

static void listener_resume(void *arg)
{
	struct tgt_listener *l = arg;

	evloop_mod_fd(g_tgt.control, &l->handler, EPOLLIN);
}

static void listener_accept(void *arg, uint32_t events)
{
	struct tgt_listener *l = arg;

	(void)events;
	if (l->fd < 0)
		return; /* closed earlier in this batch; freed at its end */
	for (int i = 0; i < 64; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int rc;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				/* The pending connection stays in the backlog and epoll would report it
				 * again at once: stop watching for a while instead of spinning. */
				log_warn("listener %s:%s: out of file descriptors; pausing accepts for %d ms",
					 l->addr.traddr, l->addr.trsvcid, LISTENER_RETRY_MS);
				evloop_mod_fd(g_tgt.control, &l->handler, 0);
				evloop_timer_start(g_tgt.control, &l->retry, LISTENER_RETRY_MS, 0,
						   listener_resume, l);
			}
			break;
		}
		rc = tcp_sock_tune(fd);
		if (rc == 0)
			rc = tcp_qpair_accept(fd, l);
		if (rc) {
			log_warn("listener %s:%s: connection dropped: %s", l->addr.traddr,
				 l->addr.trsvcid, strerror(-rc));
			close(fd);
		}
	}
}

int tgt_listener_get(const struct tgt_listen_addr *addr, struct tgt_listener **out)
{
	struct tgt_listener *l = tgt_listener_find(addr);
	int fd, rc;

	if (l) {
		/* One port speaks TLS or not, for every subsystem on it. */
		if (l->addr.secure != addr->secure)
			return -EPROTOTYPE;
		l->refs++;
		*out = l;
		return 0;
	}
	if (g_tgt.dry_run) {
		l = calloc(1, sizeof(*l));
		if (!l)
			return -ENOMEM;
		l->addr = *addr;
		l->fd = -1;
		l->refs = 1;
		l->portid = g_tgt.next_portid++;
		list_add_tail(&g_tgt.listeners, &l->link);
		*out = l;
		return 0;
	}
	fd = tcp_sock_listen(addr->traddr, addr->trsvcid,
			     strcmp(addr->adrfam, "IPv6") == 0 ? AF_INET6 : AF_INET);
	if (fd < 0) {
		log_error("listen on %s:%s: %s", addr->traddr, addr->trsvcid, strerror(-fd));
		return fd;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	l->addr = *addr;
	l->fd = fd;
	l->refs = 1;
	l->portid = g_tgt.next_portid++;
	rc = evloop_add_fd(g_tgt.control, &l->handler, fd, EPOLLIN, listener_accept, l);
	if (rc) {
		close(fd);
		free(l);
		return rc;
	}
	list_add_tail(&g_tgt.listeners, &l->link);
	log_notice("listening on %s %s:%s", addr->adrfam, addr->traddr, addr->trsvcid);
	*out = l;
	return 0;
}

void tgt_listener_put(struct tgt_listener *l)
{
	if (--l->refs > 0)
		return;
	if (l->fd >= 0) {
		log_notice("stopped listening on %s:%s", l->addr.traddr, l->addr.trsvcid);
		evloop_timer_stop(g_tgt.control, &l->retry);
		evloop_del_fd(g_tgt.control, &l->handler);
		close(l->fd);
		l->fd = -1;
	}
	list_del(&l->link);
	/* An accept event for it may still be pending in this batch of the control loop (an RPC
	 * earlier in the batch removed the last subsystem listening here). Outside a running loop
	 * (shutdown, the fuzzers) nothing is pending. */
	if (evloop_is_current(g_tgt.control))
		evloop_defer(g_tgt.control, &l->free_work, free, l);
	else
		free(l);
}
