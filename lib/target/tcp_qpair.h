/* The NVMe/TCP transport of the target: one TCP connection is one queue pair. */
#ifndef NVFAB_TARGET_TCP_QPAIR_H
#define NVFAB_TARGET_TCP_QPAIR_H

#include "target/target.h"

struct tgt_listener;

/* Takes an accepted socket; the queue pair starts on the control thread awaiting ICReq. */
int tcp_qpair_accept(int fd, struct tgt_listener *listener);
/* Closes every queue pair (shutdown). Runs on each owner thread. */
void tcp_qpair_close_all_on_loop(struct evloop *loop);
/* For fuzzing: a queue pair over one end of a socketpair, driven by the caller's loop. */
int tcp_qpair_accept_on(int fd, struct tgt_listener *listener, struct evloop *loop);

extern const struct tgt_transport_ops tcp_transport_ops;

#endif
