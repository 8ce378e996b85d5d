#include "tcp/tcp_sock.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int tcp_sock_tune(int fd)
{
	int one = 1, flags;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		return -errno;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

void tcp_sock_abort(int fd)
{
	struct linger l = {.l_onoff = 1, .l_linger = 0};

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

static int sock_resolve(const char *addr, const char *port, int family, bool passive,
			struct addrinfo **res)
{
	struct addrinfo hints = {
		.ai_family = family,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0),
	};
	int rc = getaddrinfo(addr, port, &hints, res);

	if (rc == EAI_SYSTEM)
		return -errno;
	return rc ? -EADDRNOTAVAIL : 0;
}

int tcp_sock_listen(const char *addr, const char *port, int family)
{
	struct addrinfo *res, *ai;
	int fd = -EADDRNOTAVAIL, rc, one = 1;

	rc = sock_resolve(addr, port, family, true, &res);
	if (rc)
		return rc;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			fd = -errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 512) == 0)
			break;
		rc = -errno;
		close(fd);
		fd = rc;
	}
	freeaddrinfo(res);
	return fd;
}

int tcp_sock_connect(const char *addr, const char *port, int family, int timeout_ms)
{
	struct addrinfo *res, *ai;
	int fd = -EHOSTUNREACH, rc;

	rc = sock_resolve(addr, port, family, false, &res);
	if (rc)
		return rc;
	for (ai = res; ai; ai = ai->ai_next) {
		struct pollfd pfd;
		socklen_t len = sizeof(rc);

		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			fd = -errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
			rc = -errno;
			goto next;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		rc = poll(&pfd, 1, timeout_ms);
		if (rc == 0) {
			rc = -ETIMEDOUT;
			goto next;
		}
		if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &rc, &len) < 0) {
			rc = -errno;
			goto next;
		}
		if (rc) {
			rc = -rc;
			goto next;
		}
		rc = tcp_sock_tune(fd);
		if (rc == 0)
			break;
next:
		close(fd);
		fd = rc;
	}
	freeaddrinfo(res);
	return fd;
}

void tcp_sock_name(int fd, bool peer, char *addr, size_t addr_len, char *port, size_t port_len)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int rc = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
		      : getsockname(fd, (struct sockaddr *)&ss, &len);

	if (rc < 0 || getnameinfo((struct sockaddr *)&ss, len, addr, (socklen_t)addr_len, port,
				  (socklen_t)port_len, NI_NUMERICHOST | NI_NUMERICSERV)) {
		snprintf(addr, addr_len, "?");
		snprintf(port, port_len, "?");
	}
}
