/*
 * TLS 1.3 with a pre-shared key on an NVMe/TCP connection (NVMe TCP Transport 1.0, 3.6): the
 * handshake before ICReq, then the PDUs travel in TLS records. OpenSSL 3 does the protocol; this
 * file gives the receive and send machines (tcp_rx, tcp_tx) readv/sendmsg-like calls with errno
 * semantics, so that they do not care whether a connection is plain or not.
 *
 * A session belongs to one thread at a time, like its queue pair.
 */
#ifndef NVFAB_TCP_TCP_TLS_H
#define NVFAB_TCP_TCP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct tcp_tls;

/* What the server looks up for a PSK identity: 0 with the TLS PSK (and its length, 32 or 48),
 * or -errno to refuse the identity (the handshake then fails). */
typedef int (*tcp_tls_psk_fn)(void *arg, const char *identity, uint8_t *psk, size_t *psk_len);

/* Client: handshake on fd (nonblocking) with identity and the TLS PSK, waiting up to timeout_ms.
 * 0 and *out, or -errno with *why (-EACCES: the server refused the key). */
int tcp_tls_client(int fd, const char *identity, const uint8_t *psk, size_t psk_len,
		   int timeout_ms, struct tcp_tls **out, const char **why);
/* Server: a session whose handshake tcp_tls_handshake() drives as bytes arrive. */
int tcp_tls_server(int fd, tcp_tls_psk_fn lookup, void *arg, struct tcp_tls **out);
/* 0: done; -EAGAIN: wait for the socket; other -errno: failed (*why says how). */
int tcp_tls_handshake(struct tcp_tls *t, const char **why);
/* The identity the client gave (server side, after the handshake). */
const char *tcp_tls_identity(const struct tcp_tls *t);
const char *tcp_tls_cipher(const struct tcp_tls *t);
/* Whether the kernel does the records of both directions (kTLS). */
bool tcp_tls_ktls(const struct tcp_tls *t);

/* readv/sendmsg through the session: bytes moved, 0 at the peer's close_notify (readv), or -1
 * with errno (EAGAIN when the socket has nothing more, EPROTO for a TLS error). */
ssize_t tcp_tls_readv(struct tcp_tls *t, const struct iovec *iov, int cnt);
ssize_t tcp_tls_writev(struct tcp_tls *t, const struct iovec *iov, int cnt);
/* Decrypted bytes waiting in the session: the socket may say nothing, read on anyway. */
bool tcp_tls_pending(const struct tcp_tls *t);
void tcp_tls_free(struct tcp_tls *t);

#endif
