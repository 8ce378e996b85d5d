/* Socket set-up shared by the target's listeners and the host's connections. */
#ifndef NVFAB_TCP_SOCK_H
#define NVFAB_TCP_SOCK_H

#include <stdbool.h>
#include <sys/socket.h>

/* family: AF_INET or AF_INET6 (AF_UNSPEC: from the address). Returns a nonblocking listening
 * fd or -errno. */
int tcp_sock_listen(const char *addr, const char *port, int family);
/* Blocking connect with a timeout, then switched to nonblocking. Returns fd or -errno. */
int tcp_sock_connect(const char *addr, const char *port, int family, int timeout_ms);
/* TCP_NODELAY, nonblocking, close-on-exec; larger buffers for bulk data. */
int tcp_sock_tune(int fd);
/* Makes the next close() reset the connection and drop unsent bytes (SO_LINGER 0). */
void tcp_sock_abort(int fd);
/* "addr:port" / "[addr]:port" of the peer or the local end, for logs and discovery. */
void tcp_sock_name(int fd, bool peer, char *addr, size_t addr_len, char *port, size_t port_len);

#endif
