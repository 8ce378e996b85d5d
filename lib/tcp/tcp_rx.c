#include "tcp/tcp_rx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tcp/tcp_crc.h"

/* Below this many data bytes a PDU's data is copied from staging; above, read in place. */
#define TCP_RX_DIRECT_MIN 2048
/*
 * After a PDU with at least this much data, reads into staging ask for only TCP_RX_SMALL_READ
 * bytes, enough for the next header or two: the next large PDU's data then lands in place
 * rather than up to a whole staging buffer of it being read there and copied (a gateway
 * forwards 128 KiB writes and reads without copying them). A PDU with little data switches
 * back to the full buffer, which batches many small PDUs per read.
 */
#define TCP_RX_LARGE_PDU (16 * 1024)
#define TCP_RX_SMALL_READ 512

int tcp_rx_init(struct tcp_rx *rx, enum tcp_role receiver)
{
	memset(rx, 0, sizeof(*rx));
	rx->lim.receiver = receiver;
	rx->hdr_need = sizeof(struct nvme_tcp_common_hdr);
	rx->staging = malloc(TCP_RX_STAGING_SIZE);
	return rx->staging ? 0 : -ENOMEM;
}

void tcp_rx_fini(struct tcp_rx *rx)
{
	free(rx->staging);
	rx->staging = NULL;
}

int tcp_rx_fail(struct tcp_rx *rx, uint16_t fes, uint32_t fei, const char *why)
{
	rx->err.fes = fes;
	rx->err.fei = fei;
	rx->err.why = why;
	rx->state = TCP_RX_ERROR;
	return -EPROTO;
}

int tcp_rx_set_data(struct tcp_rx *rx, const struct iovec *iov, int iovcnt)
{
	size_t total = 0;

	if (iovcnt > TCP_RX_MAX_DATA_IOV)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		rx->data_iov[i] = iov[i];
		total += iov[i].iov_len;
	}
	if (total < rx->data_len)
		return -EINVAL;
	rx->data_iovcnt = iovcnt;
	rx->data_idx = 0;
	rx->data_discard = false;
	return 0;
}

void tcp_rx_discard_data(struct tcp_rx *rx)
{
	rx->data_iovcnt = 0;
	rx->data_discard = true;
}

static void rx_next_pdu(struct tcp_rx *rx)
{
	/* PDUs without data (commands, responses, R2Ts) between large ones keep the mode. */
	if (rx->data_len)
		rx->large = rx->data_len >= TCP_RX_LARGE_PDU;
	rx->state = TCP_RX_HDR;
	rx->hdr_got = 0;
	rx->hdr_need = sizeof(struct nvme_tcp_common_hdr);
	rx->data_len = rx->data_left = 0;
	rx->data_iovcnt = 0;
	rx->data_discard = false;
	rx->ddgst_got = 0;
	rx->pdus++;
}

static int rx_pdu_complete(struct tcp_rx *rx, const struct tcp_rx_ops *ops, void *ctx, bool ok)
{
	int rc = ops->on_pdu(ctx, rx, ok);

	if (rx->state != TCP_RX_ERROR)
		rx_next_pdu(rx);
	return rc;
}

/* The header is complete: validate it and decide what follows. */
static int rx_header_done(struct tcp_rx *rx, const struct tcp_rx_ops *ops, void *ctx)
{
	const struct nvme_tcp_common_hdr *ch = &rx->hdr.ch;
	int rc;

	/* The common header was judged when it arrived (rx_process). */
	if (tcp_pdu_validate_rest(&rx->hdr, &rx->lim, &rx->err)) {
		rx->state = TCP_RX_ERROR;
		return -EPROTO;
	}
	if (ch->type == NVME_TCP_PDU_H2C_TERM_REQ || ch->type == NVME_TCP_PDU_C2H_TERM_REQ) {
		/* The offending header that follows is only for the log: skip it. */
		rx->data_len = ch->plen - ch->hlen;
		rx->pad_left = 0;
	} else {
		rx->data_len = tcp_pdu_data_len(&rx->hdr, rx->lim.ddgst);
		rx->pad_left = rx->data_len ? ch->pdo - rx->hdr_need : 0;
	}
	rx->data_left = rx->data_len;
	rx->crc = TCP_CRC_SEED;
	rc = ops->on_header(ctx, rx);
	if (rc)
		return rc;
	if (rx->data_len == 0)
		return rx_pdu_complete(rx, ops, ctx, true);
	if (!rx->data_discard && rx->data_iovcnt == 0)
		tcp_rx_discard_data(rx); /* consumer forgot: never write through a stale iovec */
	rx->state = rx->pad_left ? TCP_RX_PAD : TCP_RX_DATA;
	return 0;
}

static bool rx_data_has_digest(const struct tcp_rx *rx)
{
	return rx->hdr.ch.flags & NVME_TCP_F_DDGST;
}

/* Accounts n data bytes that landed (or were skipped) at the current position. */
static void rx_data_advance(struct tcp_rx *rx, const uint8_t *src, uint32_t n)
{
	while (n) {
		uint32_t chunk = n;

		if (!rx->data_discard) {
			struct iovec *v = &rx->data_iov[rx->data_idx];

			if (chunk > v->iov_len)
				chunk = (uint32_t)v->iov_len;
			if (src)
				memcpy(v->iov_base, src, chunk);
			if (rx_data_has_digest(rx))
				rx->crc = tcp_crc_update(rx->crc, v->iov_base, chunk);
			v->iov_base = (uint8_t *)v->iov_base + chunk;
			v->iov_len -= chunk;
			if (v->iov_len == 0)
				rx->data_idx++;
		} else if (src && rx_data_has_digest(rx)) {
			rx->crc = tcp_crc_update(rx->crc, src, chunk);
		}
		rx->data_left -= chunk;
		n -= chunk;
		if (src)
			src += chunk;
	}
}

static int rx_data_done(struct tcp_rx *rx, const struct tcp_rx_ops *ops, void *ctx)
{
	if (rx_data_has_digest(rx)) {
		rx->state = TCP_RX_DDGST;
		return 0;
	}
	return rx_pdu_complete(rx, ops, ctx, true);
}

/* Consumes staged bytes. Returns 0 when staging is empty, or an error/stop code. */
static int rx_process(struct tcp_rx *rx, const struct tcp_rx_ops *ops, void *ctx)
{
	int rc = 0;

	while (rx->head < rx->tail && rc == 0) {
		uint32_t avail = rx->tail - rx->head, n;
		const uint8_t *p = rx->staging + rx->head;

		switch (rx->state) {
		case TCP_RX_HDR:
			n = rx->hdr_need - rx->hdr_got;
			if (n > avail)
				n = avail;
			memcpy(rx->hdr.raw + rx->hdr_got, p, n);
			rx->hdr_got += n;
			rx->head += n;
			if (rx->hdr_got < rx->hdr_need)
				break;
			if (rx->hdr_need == sizeof(struct nvme_tcp_common_hdr)) {
				/* Judge the lengths before reading more of this PDU. */
				if (tcp_pdu_validate_common(&rx->hdr.ch, &rx->lim, &rx->err)) {
					rx->state = TCP_RX_ERROR;
					return -EPROTO;
				}
				rx->hdr_need = rx->hdr.ch.hlen +
					       (tcp_pdu_has_hdgst(&rx->hdr) ? NVME_TCP_DIGEST_LEN : 0);
				break;
			}
			rc = rx_header_done(rx, ops, ctx);
			break;
		case TCP_RX_PAD:
			n = rx->pad_left < avail ? rx->pad_left : avail;
			rx->pad_left -= n;
			rx->head += n;
			if (rx->pad_left == 0)
				rx->state = TCP_RX_DATA;
			break;
		case TCP_RX_DATA:
			n = rx->data_left < avail ? rx->data_left : avail;
			rx_data_advance(rx, p, n);
			rx->head += n;
			if (rx->data_left == 0)
				rc = rx_data_done(rx, ops, ctx);
			break;
		case TCP_RX_DDGST:
			n = NVME_TCP_DIGEST_LEN - rx->ddgst_got;
			if (n > avail)
				n = avail;
			memcpy(rx->ddgst + rx->ddgst_got, p, n);
			rx->ddgst_got += n;
			rx->head += n;
			if (rx->ddgst_got == NVME_TCP_DIGEST_LEN) {
				uint32_t want = tcp_crc_final(rx->crc), got;

				memcpy(&got, rx->ddgst, sizeof(got));
				rc = rx_pdu_complete(rx, ops, ctx, got == want);
			}
			break;
		case TCP_RX_ERROR:
			return -EPROTO;
		}
	}
	if (rx->head == rx->tail)
		rx->head = rx->tail = 0;
	return rc;
}

/* How much a read into staging asks for. */
static uint32_t rx_staging_read_len(const struct tcp_rx *rx)
{
	uint32_t room = TCP_RX_STAGING_SIZE - rx->tail;

	return rx->large && room > TCP_RX_SMALL_READ ? TCP_RX_SMALL_READ : room;
}

static ssize_t rx_readv(struct tcp_rx *rx, int fd, const struct iovec *iov, int cnt)
{
	return rx->tls ? tcp_tls_readv(rx->tls, iov, cnt) : readv(fd, iov, cnt);
}

/* Reads data in place, plus whatever follows into staging, in one readv. */
static ssize_t rx_read_direct(struct tcp_rx *rx, int fd)
{
	struct iovec iov[TCP_RX_MAX_DATA_IOV + 1];
	uint32_t want = rx->data_left;
	int cnt = 0;
	ssize_t n;

	for (int i = rx->data_idx; i < rx->data_iovcnt && want; i++) {
		iov[cnt] = rx->data_iov[i];
		if (iov[cnt].iov_len > want)
			iov[cnt].iov_len = want;
		want -= (uint32_t)iov[cnt].iov_len;
		cnt++;
	}
	iov[cnt].iov_base = rx->staging;
	iov[cnt].iov_len = rx_staging_read_len(rx);
	cnt++;
	n = rx_readv(rx, fd, iov, cnt);
	if (n <= 0)
		return n;
	if ((uint32_t)n <= rx->data_left) {
		rx_data_advance(rx, NULL, (uint32_t)n);
	} else {
		uint32_t data = rx->data_left;

		rx_data_advance(rx, NULL, data);
		rx->head = 0;
		rx->tail = (uint32_t)n - data;
	}
	return n;
}

int tcp_rx_recv(struct tcp_rx *rx, int fd, const struct tcp_rx_ops *ops, void *ctx, size_t budget)
{
	size_t consumed = 0;
	int rc;

	rx->drained = false;
	/* Over TLS, bytes already decrypted are read whatever the budget: no event would come
	 * for them, the socket may be empty. */
	while (consumed < budget || (rx->tls && tcp_tls_pending(rx->tls))) {
		size_t asked;
		ssize_t n;

		if (rx->state == TCP_RX_ERROR)
			return -EPROTO;
		if (rx->state == TCP_RX_DATA && !rx->data_discard && rx->head == rx->tail &&
		    rx->data_left >= TCP_RX_DIRECT_MIN) {
			asked = (size_t)rx->data_left + rx_staging_read_len(rx);
			n = rx_read_direct(rx, fd);
			if (n > 0 && rx->data_left == 0) {
				rc = rx_data_done(rx, ops, ctx);
				if (rc)
					return rc;
			}
		} else {
			if (rx->tail == TCP_RX_STAGING_SIZE) /* cannot happen: process drains it */
				return -EOVERFLOW;
			struct iovec one = {rx->staging + rx->tail, rx_staging_read_len(rx)};

			asked = one.iov_len;
			n = rx->tls ? tcp_tls_readv(rx->tls, &one, 1) : recv(fd, one.iov_base, asked, 0);
			if (n > 0)
				rx->tail += (uint32_t)n;
		}
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				rx->drained = true;
				break;
			}
			if (errno == EINTR)
				continue;
			return -errno;
		}
		consumed += (size_t)n;
		rc = rx_process(rx, ops, ctx);
		if (rc)
			return rc;
		/* A short read drained the socket: skip the recv that would only say EAGAIN. The
		 * caller polls (or epoll, level-triggered, reports) whatever arrives next. */
		if ((size_t)n < asked && !rx->tls) {
			rx->drained = true;
			break;
		}
	}
	return (int)(consumed > INT32_MAX ? INT32_MAX : consumed);
}

int tcp_rx_process_staged(struct tcp_rx *rx, const struct tcp_rx_ops *ops, void *ctx)
{
	return rx_process(rx, ops, ctx);
}

int tcp_rx_feed(struct tcp_rx *rx, const uint8_t *buf, size_t len, const struct tcp_rx_ops *ops,
		void *ctx)
{
	size_t done = 0;

	while (done < len) {
		uint32_t room = TCP_RX_STAGING_SIZE - rx->tail;
		uint32_t n = len - done < room ? (uint32_t)(len - done) : room;
		int rc;

		memcpy(rx->staging + rx->tail, buf + done, n);
		rx->tail += n;
		done += n;
		rc = rx_process(rx, ops, ctx);
		if (rc)
			return rc;
	}
	return (int)(done > INT32_MAX ? INT32_MAX : done);
}
