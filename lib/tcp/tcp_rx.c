#include "tcp/tcp_rx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tcp/tcp_crc.h"
#include "util/sys_io.h"

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
	rx->staging_size = TCP_RX_STAGING_SIZE;
	rx->staging = malloc(rx->staging_size);
	return rx->staging ? 0 : -ENOMEM;
}

void tcp_rx_reset(struct tcp_rx *rx)
{
	uint8_t *staging = rx->staging;
	uint32_t staging_size = rx->staging_size;
	enum tcp_role receiver = rx->lim.receiver;

	memset(rx, 0, sizeof(*rx));
	rx->staging = staging;
	rx->staging_size = staging_size;
	rx->lim.receiver = receiver;
	rx->hdr_need = sizeof(struct nvme_tcp_common_hdr);
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
			if (src) {
				memcpy(v->iov_base, src, chunk);
				rx->data_copied += chunk;
			}
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
	uint32_t room = rx->staging_size - rx->tail;

	if (room > TCP_RX_STAGING_SIZE)
		room = TCP_RX_STAGING_SIZE;
	return rx->large && room > TCP_RX_SMALL_READ ? TCP_RX_SMALL_READ : room;
}

static ssize_t rx_readv(struct tcp_rx *rx, int fd, const struct iovec *iov, int cnt)
{
	return rx->tls ? tcp_tls_readv(rx->tls, iov, cnt) : sys_readv(fd, iov, cnt);
}

/* The current PDU's buffers from where its data goes on, for its next want bytes. */
static int rx_data_iov_rest(const struct tcp_rx *rx, uint32_t want, struct iovec *iov)
{
	int cnt = 0;

	for (int i = rx->data_idx; i < rx->data_iovcnt && want; i++) {
		iov[cnt] = rx->data_iov[i];
		if (iov[cnt].iov_len > want)
			iov[cnt].iov_len = want;
		want -= (uint32_t)iov[cnt].iov_len;
		cnt++;
	}
	return cnt;
}

/* ---- foretold PDUs: their data read in place ---- */

static bool iov_overlap(const struct iovec *a, const struct iovec *b)
{
	uintptr_t a0 = (uintptr_t)a->iov_base, b0 = (uintptr_t)b->iov_base;

	return a0 < b0 + b->iov_len && b0 < a0 + a->iov_len;
}

static bool iov_overlaps_any(const struct iovec *v, const struct iovec *set, int n)
{
	for (int i = 0; i < n; i++)
		if (iov_overlap(v, &set[i]))
			return true;
	return false;
}

/*
 * The buffers this read fills must not share bytes: a later PDU's data would overwrite an
 * earlier one's before it is checked (a host may read twice into one buffer). Comparing each
 * foretold buffer with all the others costs more than the copies that 32 foretold PDUs save,
 * so the pages of this read's buffers go into a small hash set, and only a buffer that meets
 * a page already there is compared with the others. A buffer over more than a few pages, or
 * a full set, makes the rest of the read's buffers be compared one by one.
 */
static uint32_t claim_slot(uint64_t page)
{
	return (uint32_t)((page * 0x9e3779b97f4a7c15ull) >> 56) % TCP_RX_CLAIM_SLOTS;
}

/* Whether the page is claimed in this round; else, with add, claims it. */
static bool claim_page(struct tcp_rx *rx, uint64_t page, bool add)
{
	for (uint32_t i = claim_slot(page);; i = (i + 1) % TCP_RX_CLAIM_SLOTS) {
		if (rx->claims[i].round != rx->claim_round) {
			if (add) {
				rx->claims[i].page = page;
				rx->claims[i].round = rx->claim_round;
				rx->nclaims++;
			}
			return false;
		}
		if (rx->claims[i].page == page)
			return true;
	}
}

static bool guess_claimed(struct tcp_rx *rx, const struct iovec *v)
{
	uint64_t first = (uintptr_t)v->iov_base / 4096;
	uint64_t last = ((uintptr_t)v->iov_base + v->iov_len - 1) / 4096;

	if (v->iov_len == 0)
		return false;
	if (rx->guess_lead &&
	    iov_overlaps_any(v, &rx->data_iov[rx->data_idx], rx->data_iovcnt - rx->data_idx))
		return true;
	if (rx->claims_by_one || last - first >= TCP_RX_CLAIM_PAGES)
		return iov_overlaps_any(v, rx->guess_iov, rx->nguess_iov);
	for (uint64_t page = first; page <= last; page++)
		if (claim_page(rx, page, false))
			return iov_overlaps_any(v, rx->guess_iov, rx->nguess_iov);
	return false;
}

static void guess_claim(struct tcp_rx *rx, const struct iovec *v)
{
	uint64_t first = (uintptr_t)v->iov_base / 4096;
	uint64_t last = ((uintptr_t)v->iov_base + v->iov_len - 1) / 4096;

	if (v->iov_len == 0 || rx->claims_by_one)
		return;
	if (last - first >= TCP_RX_CLAIM_PAGES ||
	    rx->nclaims + (last - first + 1) > TCP_RX_CLAIM_SLOTS / 2) {
		rx->claims_by_one = true;
		return;
	}
	for (uint64_t page = first; page <= last; page++)
		claim_page(rx, page, true);
}

/* A new round of guesses: no buffer claimed (slots of earlier rounds are free). */
static void guess_begin(struct tcp_rx *rx)
{
	rx->nguess = rx->nguess_iov = 0;
	rx->nclaims = 0;
	rx->claims_by_one = false;
	if (++rx->claim_round == 0) {
		memset(rx->claims, 0, sizeof(rx->claims));
		rx->claim_round = 1;
	}
}

/* Staging grows to TCP_RX_STAGING_MAX, when it holds nothing (at a guess). False if it can't. */
static bool rx_grow_staging(struct tcp_rx *rx)
{
	uint8_t *bigger;

	if (rx->tail != 0)
		return false;
	bigger = malloc(TCP_RX_STAGING_MAX);
	if (!bigger)
		return false;
	free(rx->staging);
	rx->staging = bigger;
	rx->staging_size = TCP_RX_STAGING_MAX;
	return true;
}

bool tcp_rx_guess_add(struct tcp_rx *rx, const struct tcp_rx_guess *g, const struct iovec *iov,
		      int iovcnt)
{
	struct tcp_rx_guess *n = &rx->guess[rx->nguess];
	uint32_t hdr = g->hlen + (rx->lim.hdgst ? NVME_TCP_DIGEST_LEN : 0);
	uint32_t trail = rx->lim.ddgst ? NVME_TCP_DIGEST_LEN : 0, at = rx->guess_base;
	uint64_t need;          /* staging the stream takes, should the guess be wrong */
	size_t total = 0;

	if (rx->nguess) {
		const struct tcp_rx_guess *prev = n - 1;

		at = prev->at + prev->hdr_bytes + prev->len + prev->trail;
	}
	if (rx->nguess >= (rx->guess_want ? rx->guess_want : 1) || iovcnt <= 0 ||
	    rx->nguess_iov + iovcnt > TCP_RX_GUESS_IOV || g->len == 0)
		return false;
	need = (uint64_t)at + hdr + g->len + trail + TCP_RX_SMALL_READ;
	if (need > rx->staging_size && (need > TCP_RX_STAGING_MAX || !rx_grow_staging(rx)))
		return false;
	for (int i = 0; i < iovcnt; i++) {
		if (guess_claimed(rx, &iov[i]))
			return false;
		total += iov[i].iov_len;
	}
	if (total != g->len)
		return false;
	for (int i = 0; i < iovcnt; i++)
		guess_claim(rx, &iov[i]);
	*n = *g;
	n->at = at;
	n->hdr_bytes = (uint8_t)hdr;
	n->trail = (uint8_t)trail;
	n->iov_first = (uint8_t)rx->nguess_iov;
	n->iovcnt = (uint8_t)iovcnt;
	for (int i = 0; i < iovcnt; i++)
		rx->guess_iov[rx->nguess_iov++] = iov[i];
	rx->nguess++;
	return true;
}

static uint32_t guess_end(const struct tcp_rx_guess *g)
{
	return g->at + g->hdr_bytes + g->len + g->trail;
}

/*
 * One readv: the rest of the current PDU's data into its buffers, then each foretold header
 * (and the digest before it) into staging, each foretold PDU's data into its buffers, whatever
 * follows into staging. Staging thus holds the stream, but for the current PDU's data, with a
 * hole where each foretold PDU's data would be.
 */
static ssize_t rx_read_guessed(struct tcp_rx *rx, int fd, size_t *asked)
{
	struct iovec iov[TCP_RX_MAX_DATA_IOV + 2 * TCP_RX_MAX_GUESS + TCP_RX_GUESS_IOV + 1];
	uint32_t from = 0, end;
	int cnt = rx_data_iov_rest(rx, rx->guess_lead, iov);

	for (int j = 0; j < rx->nguess; j++) {
		const struct tcp_rx_guess *g = &rx->guess[j];
		uint32_t hdr_end = g->at + g->hdr_bytes;

		iov[cnt].iov_base = rx->staging + from;
		iov[cnt++].iov_len = hdr_end - from;
		for (int i = 0; i < g->iovcnt; i++)
			iov[cnt++] = rx->guess_iov[g->iov_first + i];
		from = hdr_end + g->len;
	}
	end = from + rx_staging_read_len(rx);
	if (end > rx->staging_size)
		end = rx->staging_size;
	iov[cnt].iov_base = rx->staging + from;
	iov[cnt++].iov_len = end - from;
	*asked = rx->guess_lead + end;
	return sys_readv(fd, iov, cnt);
}

/* The foretold PDU's header arrived as foretold (it is whole in staging). */
static bool guess_header_ok(const struct tcp_rx *rx, const struct tcp_rx_guess *g)
{
	struct nvme_tcp_data_hdr h;

	memcpy(&h, rx->staging + g->at, g->hdr_bytes < sizeof(h) ? g->hdr_bytes : sizeof(h));
	if (h.ch.type != g->type || h.ch.hlen != g->hlen || h.ch.pdo != g->hdr_bytes ||
	    h.ch.plen != guess_end(g) - g->at ||
	    !(h.ch.flags & NVME_TCP_F_HDGST) != !rx->lim.hdgst ||
	    !(h.ch.flags & NVME_TCP_F_DDGST) != !rx->lim.ddgst)
		return false;
	return !g->check_data_hdr ||
	       (h.cccid == g->cccid && h.datao == g->datao && h.datal == g->len);
}

/* Bytes of guess g's data that the read put in its buffers. */
static uint32_t guess_landed(const struct tcp_rx_guess *g, uint32_t n)
{
	uint32_t data = g->at + g->hdr_bytes;

	if (n <= data)
		return 0;
	return n - data < g->len ? n - data : g->len;
}

/* Walks the first len bytes of guess g's buffers. */
#define guess_for_each_piece(rx, g, len, p, chunk, body)                                     \
	do {                                                                                  \
		uint32_t left_ = (len);                                                       \
		for (int i_ = 0; i_ < (g)->iovcnt && left_; i_++) {                           \
			const struct iovec *v_ = &(rx)->guess_iov[(g)->iov_first + i_];       \
			const uint8_t *p = v_->iov_base;                                      \
			uint32_t chunk = v_->iov_len < left_ ? (uint32_t)v_->iov_len : left_; \
			body;                                                                 \
			left_ -= chunk;                                                       \
		}                                                                             \
	} while (0)

/* Puts the data that landed for guesses from..nguess-1 back into their holes in staging: from
 * the first of them on, staging then holds the stream as read. */
static void guess_refill(struct tcp_rx *rx, int from, uint32_t n)
{
	for (int j = from; j < rx->nguess; j++) {
		const struct tcp_rx_guess *g = &rx->guess[j];
		uint8_t *hole = rx->staging + g->at + g->hdr_bytes;

		guess_for_each_piece(rx, g, guess_landed(g, n), p, chunk, {
			memcpy(hole, p, chunk);
			hole += chunk;
		});
	}
}

static bool guess_iov_is_data_iov(const struct tcp_rx *rx, const struct tcp_rx_guess *g)
{
	if (rx->data_discard || rx->data_idx != 0 || rx->data_iovcnt != g->iovcnt)
		return false;
	for (int i = 0; i < g->iovcnt; i++) {
		const struct iovec *a = &rx->data_iov[i], *b = &rx->guess_iov[g->iov_first + i];

		if (a->iov_base != b->iov_base || a->iov_len != b->iov_len)
			return false;
	}
	return true;
}

/* Processing stopped at stream position pos (a callback's code): leaves the unread rest in
 * staging as the machine expects it, [head, tail), for a later tcp_rx_process_staged(). */
static int guess_stop(struct tcp_rx *rx, int next, uint32_t pos, uint32_t n, int rc)
{
	if (rx->state != TCP_RX_ERROR && pos < n) {
		guess_refill(rx, next, n);
		rx->head = pos;
		rx->tail = n;
	} else {
		rx->head = rx->tail = 0;
	}
	rx->nguess = 0;
	return rc;
}

/* Runs the machine over the n bytes of a guessed read. */
static int rx_process_guessed(struct tcp_rx *rx, const struct tcp_rx_ops *ops, void *ctx,
			      uint32_t n)
{
	uint32_t lead = rx->guess_lead, pos = 0;
	int good = 0, rc;
	bool wrong;

	/* From here on n counts what went to staging and to the foretold PDUs. */
	if (lead) {
		uint32_t landed = n < lead ? n : lead;

		rx_data_advance(rx, NULL, landed);
		n -= landed;
	}
	/* Judge every foretold header before anything runs: a callback may reuse a buffer. */
	while (good < rx->nguess && n >= rx->guess[good].at + rx->guess[good].hdr_bytes &&
	       guess_header_ok(rx, &rx->guess[good]))
		good++;
	wrong = good < rx->nguess && n >= rx->guess[good].at + rx->guess[good].hdr_bytes;
	guess_refill(rx, good, n);
	if (lead) {
		if (rx->data_left) {            /* the read ended inside the current PDU's data */
			rx->nguess = 0;
			rx->head = rx->tail = 0;
			return 0;
		}
		rc = rx_data_done(rx, ops, ctx);
		if (rc)
			return guess_stop(rx, 0, 0, n, rc);
		if (rx->guess_base && n) {      /* its data digest */
			rx->head = 0;
			rx->tail = n < rx->guess_base ? n : rx->guess_base;
			pos = rx->tail;
			rc = rx_process(rx, ops, ctx);
			if (rc)
				return guess_stop(rx, 0, pos - (rx->tail - rx->head), n, rc);
		}
	}

	for (int j = 0; j < good; j++) {
		const struct tcp_rx_guess *g = &rx->guess[j];
		uint32_t data = g->at + g->hdr_bytes, landed = guess_landed(g, n);

		rx->head = g->at;
		rx->tail = data;
		rc = rx_process(rx, ops, ctx);
		if (rc || rx->state != TCP_RX_DATA)
			return guess_stop(rx, j, data, n, rc);
		if (guess_iov_is_data_iov(rx, g)) {
			rx_data_advance(rx, NULL, landed);
		} else {
			/* The consumer put the data elsewhere (or dropped it): copy it there. */
			guess_for_each_piece(rx, g, landed, p, chunk, rx_data_advance(rx, p, chunk));
		}
		pos = data + landed;
		if (rx->data_left) {            /* the read ended inside this PDU's data */
			rx->head = rx->tail = 0;
			rx->nguess = 0;
			return 0;
		}
		rc = rx_data_done(rx, ops, ctx);
		if (rc)
			return guess_stop(rx, j + 1, pos, n, rc);
		if (g->trail && pos < n) {
			rx->head = pos;
			rx->tail = pos + g->trail < n ? pos + g->trail : n;
			pos = rx->tail;
			rc = rx_process(rx, ops, ctx);
			if (rc)
				return guess_stop(rx, j + 1, pos - (rx->tail - rx->head), n, rc);
		}
	}
	pos = good ? guess_end(&rx->guess[good - 1]) : rx->guess_base;
	/*
	 * Next time: twice as many if more came; after a wrong guess, as many as were right. When
	 * fewer came, as many again: those that did not come cost only their setting up (the read
	 * stopped before them), and a queue's bursts vary from read to read (foretelling only as
	 * many as the last read brought left half of a QD32 gateway's reads copied). Only a run
	 * of reads that each bring less than half halves the number (the load fell: setting up
	 * 32 guesses for every command of a queue now at depth 1 would cost more than it saves).
	 */
	if (wrong) {
		rx->guess_want = good;
		rx->guess_short = 0;
	} else if (good == rx->nguess && n > pos) {
		rx->guess_want = 2 * good < TCP_RX_MAX_GUESS ? 2 * good : TCP_RX_MAX_GUESS;
		rx->guess_short = 0;
	} else if (2 * good >= rx->nguess) {
		rx->guess_short = 0;
	} else if (++rx->guess_short == TCP_RX_GUESS_SHORT_RUN) {
		rx->guess_want = rx->nguess / 2;
		rx->guess_short = 0;
	}
	rx->nguess = 0;
	if (pos >= n) {
		rx->head = rx->tail = 0;
		return 0;
	}
	rx->head = pos;
	rx->tail = n;
	return rx_process(rx, ops, ctx);
}

/* Reads data in place, plus whatever follows into staging, in one readv. */
static ssize_t rx_read_direct(struct tcp_rx *rx, int fd)
{
	struct iovec iov[TCP_RX_MAX_DATA_IOV + 1];
	int cnt = rx_data_iov_rest(rx, rx->data_left, iov);
	ssize_t n;

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
		bool guessed = false;

		if (rx->state == TCP_RX_ERROR)
			return -EPROTO;
		/* At a PDU boundary, or inside a PDU's data with nothing staged: the consumer may
		 * foretell what follows. */
		if (ops->guess && !rx->tls && rx->tail == 0 &&
		    ((rx->state == TCP_RX_HDR && rx->hdr_got == 0) ||
		     (rx->state == TCP_RX_DATA && !rx->data_discard))) {
			bool in_data = rx->state == TCP_RX_DATA;

			rx->guess_lead = in_data ? rx->data_left : 0;
			rx->guess_base = in_data && rx_data_has_digest(rx) ? NVME_TCP_DIGEST_LEN : 0;
			guess_begin(rx);
			ops->guess(ctx, rx);
			guessed = rx->nguess > 0;
		}
		if (guessed) {
			n = rx_read_guessed(rx, fd, &asked);
			if (n <= 0)
				rx->nguess = 0;
		} else if (rx->state == TCP_RX_DATA && !rx->data_discard && rx->head == rx->tail &&
		    rx->data_left >= TCP_RX_DIRECT_MIN) {
			asked = (size_t)rx->data_left + rx_staging_read_len(rx);
			n = rx_read_direct(rx, fd);
			if (n > 0 && rx->data_left == 0) {
				rc = rx_data_done(rx, ops, ctx);
				if (rc)
					return rc;
			}
		} else {
			if (rx->tail == rx->staging_size) /* cannot happen: process drains it */
				return -EOVERFLOW;
			struct iovec one = {rx->staging + rx->tail, rx_staging_read_len(rx)};

			asked = one.iov_len;
			n = rx->tls ? tcp_tls_readv(rx->tls, &one, 1) : sys_recv(fd, one.iov_base, asked, 0);
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
		rc = guessed ? rx_process_guessed(rx, ops, ctx, (uint32_t)n) : rx_process(rx, ops, ctx);
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
		uint32_t room = rx->staging_size - rx->tail;
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
