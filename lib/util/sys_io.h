/*
 * The data path's socket and epoll system calls, made without glibc's cancellation wrappers.
 *
 * readv, recv, sendmsg and epoll_wait are cancellation points: in a multithreaded process
 * glibc brackets each with two atomic updates of the thread's cancellation state, about 170
 * instructions per forwarded I/O on a gateway (callgrind), locked operations among them. nvfab
 * never cancels a thread, so the bracket buys nothing. Same returns and errno as the wrappers.
 */
#ifndef NVFAB_UTIL_SYS_IO_H
#define NVFAB_UTIL_SYS_IO_H

#include <stddef.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static inline ssize_t sys_readv(int fd, const struct iovec *iov, int cnt)
{
	return syscall(SYS_readv, fd, iov, cnt);
}

static inline ssize_t sys_recv(int fd, void *buf, size_t len, int flags)
{
	return syscall(SYS_recvfrom, fd, buf, len, flags, NULL, NULL);
}

static inline ssize_t sys_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	return syscall(SYS_sendmsg, fd, msg, flags);
}

/* epoll_pwait with no signal mask is epoll_wait, and exists on every architecture. */
static inline int sys_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout_ms)
{
	return (int)syscall(SYS_epoll_pwait, epfd, ev, max, timeout_ms, NULL, (size_t)8);
}

#endif
