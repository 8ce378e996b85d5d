#include "tcp/tcp_tx.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>

#include "tcp/tcp_crc.h"
#include "tcp/tcp_tls.h"
#include "util/sys_io.h"

#define TCP_TX_MAX_IOV 64

void tcp_tx_init(struct tcp_tx *tx)
{
	list_init(&tx->queue);
	tx->queued = 0;
	tx->pdus = 0;
}

void tcp_tx_pdu_prepare(struct tcp_tx_pdu *pdu, uint8_t type, uint8_t flags,
			const struct iovec *data, int data_iovcnt, uint32_t data_len, bool hdgst,
			bool ddgst, uint8_t peer_pda)
{
	bool carries_data = data_len && type != NVME_TCP_PDU_C2H_TERM_REQ &&
			    type != NVME_TCP_PDU_H2C_TERM_REQ;
	uint32_t pad = tcp_pdu_init(&pdu->hdr, type, flags, data_len, hdgst,
				    ddgst && carries_data, peer_pda);
	uint32_t hlen = tcp_pdu_seal_hdr(&pdu->hdr, hdgst);

	memset(pdu->hdr_buf + hlen, 0, pad);
	pdu->hdr_len = hlen + pad;
	pdu->data_iov = data;
	pdu->data_iovcnt = data_iovcnt;
	pdu->data_len = data_len;
	pdu->has_ddgst = ddgst && carries_data;
	if (pdu->has_ddgst)
		pdu->ddgst = tcp_crc_iov(data, data_iovcnt);
	pdu->sent = 0;
}

void tcp_tx_enqueue(struct tcp_tx *tx, struct tcp_tx_pdu *pdu)
{
	list_add_tail(&tx->queue, &pdu->link);
	tx->queued++;
}

static uint32_t pdu_total(const struct tcp_tx_pdu *pdu)
{
	return pdu->hdr_len + pdu->data_len + (pdu->has_ddgst ? NVME_TCP_DIGEST_LEN : 0);
}

/* Appends the unsent segments of pdu; returns how many iovecs were used. *whole is false when
 * room ran out before the end of the PDU: nothing after it may be gathered then. */
static int pdu_gather(struct tcp_tx_pdu *pdu, struct iovec *iov, int room, bool *whole)
{
	uint32_t skip = pdu->sent, left = pdu->data_len;
	int cnt = 0;

	if (skip < pdu->hdr_len) {
		iov[cnt].iov_base = pdu->hdr_buf + skip;
		iov[cnt++].iov_len = pdu->hdr_len - skip;
		skip = 0;
	} else {
		skip -= pdu->hdr_len;
	}
	for (int i = 0; i < pdu->data_iovcnt && left && cnt < room; i++) {
		size_t len = pdu->data_iov[i].iov_len < left ? pdu->data_iov[i].iov_len : left;

		left -= (uint32_t)len;
		if (skip >= len) {
			skip -= (uint32_t)len;
			continue;
		}
		iov[cnt].iov_base = (uint8_t *)pdu->data_iov[i].iov_base + skip;
		iov[cnt++].iov_len = len - skip;
		skip = 0;
	}
	*whole = left == 0;
	if (pdu->has_ddgst && left == 0) {
		if (cnt == room) {
			*whole = false;
			return cnt;
		}
		iov[cnt].iov_base = (uint8_t *)&pdu->ddgst + skip;
		iov[cnt++].iov_len = NVME_TCP_DIGEST_LEN - skip;
	}
	return cnt;
}

int tcp_tx_flush(struct tcp_tx *tx, int fd)
{
	while (!list_empty(&tx->queue)) {
		struct iovec iov[TCP_TX_MAX_IOV];
		struct msghdr msg = {.msg_iov = iov};
		struct list_node *pos, *tmp;
		bool whole = true;
		int cnt = 0;
		ssize_t n;

		for (pos = tx->queue.next; pos != &tx->queue && whole && cnt < TCP_TX_MAX_IOV - 2;
		     pos = pos->next)
			cnt += pdu_gather(list_entry(pos, struct tcp_tx_pdu, link), iov + cnt,
					  TCP_TX_MAX_IOV - cnt, &whole);
		msg.msg_iovlen = (size_t)cnt;
		{
			size_t want = 0;

			for (int i = 0; i < cnt; i++)
				want += iov[i].iov_len;
			/* A PDU whose iovecs are shorter than its length would never finish. */
			if (want == 0)
				return -EINVAL;
		}
		n = tx->tls ? tcp_tls_writev(tx->tls, iov, cnt) :
			      sys_sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			if (errno == EINTR)
				continue;
			return -errno;
		}
		list_for_each_safe(pos, tmp, &tx->queue) {
			struct tcp_tx_pdu *pdu = list_entry(pos, struct tcp_tx_pdu, link);
			uint32_t left = pdu_total(pdu) - pdu->sent;

			if ((size_t)n < left) {
				pdu->sent += (uint32_t)n;
				break;
			}
			n -= left;
			list_del(&pdu->link);
			tx->queued--;
			tx->pdus++;
			pdu->sent = pdu_total(pdu);
			if (pdu->done)
				pdu->done(pdu);
		}
	}
	return 0;
}

void tcp_tx_drop(struct tcp_tx *tx)
{
	struct list_node *n;

	while ((n = list_pop(&tx->queue))) {
		struct tcp_tx_pdu *pdu = list_entry(n, struct tcp_tx_pdu, link);

		tx->queued--;
		if (pdu->done)
			pdu->done(pdu);
	}
}
