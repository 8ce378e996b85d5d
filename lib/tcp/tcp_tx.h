/*
 * The NVMe/TCP send queue, shared by host and target. A PDU to send is a header (with digest
 * and padding), the caller's data iovecs (not copied), and a data digest. Queued PDUs go out
 * together in one sendmsg when possible; each PDU's done() runs once all its bytes are in the
 * socket, so its buffers can be reused.
 */
#ifndef NVFAB_TCP_TX_H
#define NVFAB_TCP_TX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "tcp/tcp_pdu.h"

struct tcp_tls;
#include "util/list.h"

#define TCP_TX_HDR_BUF (NVME_TCP_MAX_HDR_LEN + 128) /* header, digest, largest padding */

struct tcp_tx_pdu {
	union {
		union tcp_pdu_hdr hdr;
		uint8_t hdr_buf[TCP_TX_HDR_BUF];
	};
	uint32_t hdr_len;              /* header + digest + padding */
	const struct iovec *data_iov;  /* borrowed until done() */
	int data_iovcnt;
	uint32_t data_len;
	uint32_t ddgst;
	bool has_ddgst;
	uint32_t sent;                 /* progress through hdr, data, digest */
	void (*done)(struct tcp_tx_pdu *pdu);
	struct list_node link;
};

struct tcp_tx {
	struct list_node queue;
	uint32_t queued;
	uint64_t pdus;
	struct tcp_tls *tls;    /* set by the owner: the connection speaks TLS (tcp_tls.h) */
};

void tcp_tx_init(struct tcp_tx *tx);

/*
 * Builds a PDU around a header whose type-specific fields the caller has filled in. data may
 * be NULL/0. Computes digests as negotiated and pads data to the peer's alignment.
 */
void tcp_tx_pdu_prepare(struct tcp_tx_pdu *pdu, uint8_t type, uint8_t flags,
			const struct iovec *data, int data_iovcnt, uint32_t data_len, bool hdgst,
			bool ddgst, uint8_t peer_pda);
void tcp_tx_enqueue(struct tcp_tx *tx, struct tcp_tx_pdu *pdu);

/*
 * Writes as much of the queue as the socket takes. Returns 0 when the queue is empty, 1 when
 * the socket is full (wait for EPOLLOUT), or -errno on a socket error.
 */
int tcp_tx_flush(struct tcp_tx *tx, int fd);
/* Drops unsent PDUs (connection teardown), calling done() on each. */
void tcp_tx_drop(struct tcp_tx *tx);

static inline bool tcp_tx_pending(const struct tcp_tx *tx)
{
	return !list_empty(&tx->queue);
}

#endif
