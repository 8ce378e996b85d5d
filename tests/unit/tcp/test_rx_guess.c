/*
 * Foretold PDUs (tcp_rx_ops.guess): the data of C2HData PDUs that come as foretold is read
 * straight into their buffers (nothing copied from staging; up to 128 KiB of it, for which
 * staging grows once), and whatever comes otherwise,
 * in whatever pieces the socket delivers it, reaches the same buffers and callbacks as
 * without a guess.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "tcp/tcp_crc.h"
#include "tcp/tcp_rx.h"

#define NREQ 24
#define MAXLEN (128 * 1024)

/* A host's side of a queue: reads with their buffers, in the order they were sent. */
struct fake_host {
	uint8_t (*buf)[MAXLEN];         /* NREQ buffers, on the heap */
	uint32_t len[NREQ];
	int alias[NREQ];                /* read cid's data into buf[alias[cid]] */
	bool waiting[NREQ];             /* its data has not arrived: foretell it */
	int order[NREQ];                /* foretold in this order */
	int norder;
	int foretell_max;               /* at most this many per read */
	int pdus, resps, bad_ddgst;
	int stop_after;                 /* on_pdu returns -EINPROGRESS at this PDU (1-based) */
};

static void fake_guess(void *ctx, struct tcp_rx *rx)
{
	struct fake_host *h = ctx;
	int told = 0;

	for (int i = 0; i < h->norder && told < h->foretell_max; i++) {
		int cid = h->order[i];
		struct iovec iov = {h->buf[h->alias[cid]], h->len[cid]};
		struct tcp_rx_guess g = {.type = NVME_TCP_PDU_C2H_DATA, .hlen = 24,
					 .check_data_hdr = true, .cccid = (uint16_t)cid,
					 .len = h->len[cid]};

		if (!h->waiting[cid])
			continue;
		if (!tcp_rx_guess_add(rx, &g, &iov, 1))
			break;
		told++;
	}
}

static int fake_on_header(void *ctx, struct tcp_rx *rx)
{
	struct fake_host *h = ctx;
	const struct nvme_tcp_data_hdr *d = &rx->hdr.data;
	struct iovec iov;

	if (rx->hdr.ch.type != NVME_TCP_PDU_C2H_DATA)
		return 0;
	assert_true(d->cccid < NREQ);
	h->waiting[d->cccid] = false;
	iov.iov_base = h->buf[h->alias[d->cccid]] + d->datao;
	iov.iov_len = d->datal;
	return tcp_rx_set_data(rx, &iov, 1);
}

static int fake_on_pdu(void *ctx, struct tcp_rx *rx, bool ddgst_ok)
{
	struct fake_host *h = ctx;

	h->pdus++;
	h->resps += rx->hdr.ch.type == NVME_TCP_PDU_CAPSULE_RESP;
	h->bad_ddgst += !ddgst_ok;
	return h->pdus == h->stop_after ? -EINPROGRESS : 0;
}

static const struct tcp_rx_ops fake_ops = {
	.on_header = fake_on_header,
	.on_pdu = fake_on_pdu,
	.guess = fake_guess,
};

/* A byte stream being built, as a target would send it. */
struct stream {
	uint8_t b[512 * 1024];
	size_t len;
};

static uint8_t pattern(int cid, uint32_t off)
{
	return (uint8_t)(cid * 37 + off * 7 + (off >> 8));
}

static void put_c2h(struct stream *s, bool hdgst, bool ddgst, int cid, uint32_t off, uint32_t len)
{
	struct nvme_tcp_data_hdr d;
	uint32_t hd = hdgst ? NVME_TCP_DIGEST_LEN : 0, dd = ddgst ? NVME_TCP_DIGEST_LEN : 0, crc;
	uint8_t *data;

	memset(&d, 0, sizeof(d));
	d.ch.type = NVME_TCP_PDU_C2H_DATA;
	d.ch.flags = (uint8_t)(NVME_TCP_F_DATA_LAST | NVME_TCP_F_DATA_SUCCESS |
			       (hdgst ? NVME_TCP_F_HDGST : 0) | (ddgst ? NVME_TCP_F_DDGST : 0));
	d.ch.hlen = sizeof(d);
	d.ch.pdo = (uint8_t)(sizeof(d) + hd);
	d.ch.plen = (uint32_t)sizeof(d) + hd + len + dd;
	d.cccid = (uint16_t)cid;
	d.datao = off;
	d.datal = len;
	memcpy(s->b + s->len, &d, sizeof(d));
	s->len += sizeof(d);
	if (hdgst) {
		crc = tcp_crc(&d, sizeof(d));
		memcpy(s->b + s->len, &crc, 4);
		s->len += 4;
	}
	data = s->b + s->len;
	for (uint32_t i = 0; i < len; i++)
		data[i] = pattern(cid, off + i);
	s->len += len;
	if (ddgst) {
		crc = tcp_crc(data, len);
		memcpy(s->b + s->len, &crc, 4);
		s->len += 4;
	}
}

static void put_resp(struct stream *s, bool hdgst, int cid)
{
	struct nvme_tcp_rsp r;

	memset(&r, 0, sizeof(r));
	r.ch.type = NVME_TCP_PDU_CAPSULE_RESP;
	r.ch.flags = hdgst ? NVME_TCP_F_HDGST : 0;
	r.ch.hlen = sizeof(r);
	r.ch.plen = (uint32_t)sizeof(r) + (hdgst ? NVME_TCP_DIGEST_LEN : 0);
	r.cqe.cid = (uint16_t)cid;
	memcpy(s->b + s->len, &r, sizeof(r));
	s->len += sizeof(r);
	if (hdgst) {
		uint32_t crc = tcp_crc(&r, sizeof(r));

		memcpy(s->b + s->len, &crc, 4);
		s->len += 4;
	}
}

struct bench {
	struct fake_host h;
	struct tcp_rx rx;
	struct stream *s;               /* what the target sends */
	int fd[2];
};

static void bench_init(struct bench *t, bool hdgst, bool ddgst, uint32_t len, int nreq)
{
	memset(&t->h, 0, sizeof(t->h));
	t->h.buf = calloc(NREQ, MAXLEN);
	assert_non_null(t->h.buf);
	t->s = calloc(1, sizeof(*t->s));
	assert_non_null(t->s);
	assert_int_equal(tcp_rx_init(&t->rx, TCP_ROLE_HOST), 0);
	t->rx.lim.ic_done = true;
	t->rx.lim.hdgst = hdgst;
	t->rx.lim.ddgst = ddgst;
	t->rx.lim.max_c2h_data = UINT32_MAX;
	for (int i = 0; i < nreq; i++) {
		t->h.len[i] = len;
		t->h.alias[i] = i;
		t->h.waiting[i] = true;
		t->h.order[i] = i;
	}
	t->h.norder = nreq;
	t->h.foretell_max = TCP_RX_MAX_GUESS;
	t->rx.guess_want = TCP_RX_MAX_GUESS;    /* as if such bursts had come before */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, t->fd), 0);
}

static void bench_fini(struct bench *t)
{
	free(t->h.buf);
	tcp_rx_fini(&t->rx);
	free(t->s);
	close(t->fd[0]);
	close(t->fd[1]);
}

/* Sends the stream in pieces of the given sizes (the rest at the end) and runs the machine
 * after each; a stop code lets the staged rest through tcp_rx_process_staged(). */
static void bench_deliver(struct bench *t, const size_t *cuts, int ncuts)
{
	const struct stream *s = t->s;
	size_t sent = 0;

	for (int i = 0; i <= ncuts; i++) {
		size_t n = i < ncuts ? cuts[i] : s->len - sent;
		int rc;

		if (sent + n > s->len)
			n = s->len - sent;
		assert_int_equal(write(t->fd[1], s->b + sent, n), (ssize_t)n);
		sent += n;
		do {
			rc = tcp_rx_recv(&t->rx, t->fd[0], &fake_ops, &t->h, 1 << 20);
			if (rc == -EINPROGRESS)
				rc = tcp_rx_process_staged(&t->rx, &fake_ops, &t->h);
			assert_true(rc >= 0 || rc == -EINPROGRESS);
		} while (rc == -EINPROGRESS || !t->rx.drained);
	}
	assert_int_equal(t->rx.head, t->rx.tail);
}

static void assert_data(const struct bench *t, int cid, uint32_t len)
{
	const uint8_t *b = t->h.buf[t->h.alias[cid]];

	for (uint32_t i = 0; i < len; i++)
		if (b[i] != pattern(cid, i))
			fail_msg("cid %d: byte %u is 0x%02x, not 0x%02x", cid, i, b[i], pattern(cid, i));
}

/* Reads 0..n-1 of 4 KiB wait again, into cleared buffers. */
static void rearm(struct bench *t, int n)
{
	for (int i = 0; i < n; i++) {
		t->h.waiting[i] = true;
		memset(t->h.buf[i], 0, 4096);
	}
}

/* The target answers reads first..first+n-1 (4 KiB each) in one burst; each gets its data. */
static void answer(struct bench *t, int first, int n)
{
	t->s->len = 0;
	for (int i = first; i < first + n; i++)
		put_c2h(t->s, false, false, i, 0, 4096);
	bench_deliver(t, NULL, 0);
	for (int i = first; i < first + n; i++)
		assert_data(t, i, 4096);
}

/* Reads of len bytes answered in order, in one piece: nothing copied. */
static void in_order(bool hdgst, bool ddgst, uint32_t len, int nreq)
{
	struct bench t;

	bench_init(&t, hdgst, ddgst, len, nreq);
	for (int i = 0; i < nreq; i++)
		put_c2h(t.s, hdgst, ddgst, i, 0, len);
	bench_deliver(&t, NULL, 0);
	for (int i = 0; i < nreq; i++)
		assert_data(&t, i, len);
	assert_int_equal(t.h.pdus, nreq);
	assert_int_equal(t.h.bad_ddgst, 0);
	assert_int_equal(t.rx.data_copied, 0);
	bench_fini(&t);
}

static void test_in_order_no_copy(void **state)
{
	(void)state;
	in_order(false, false, 4096, 1);
	in_order(false, false, 4096, 8);
	in_order(false, false, 512, 8);
	in_order(true, true, 4096, 8);
	in_order(true, false, 8192, 3);
	in_order(false, true, 16384, 2);
}

/* The machine foretells twice as many PDUs when more came than it foretold: after a few
 * bursts of one size, a burst arrives without a copy. */
static void test_learns_burst_size(void **state)
{
	struct bench t;
	uint64_t copied_before_last = 0;

	(void)state;
	bench_init(&t, false, false, 4096, 8);
	t.rx.guess_want = 0;
	for (int burst = 0; burst < 5; burst++) {
		rearm(&t, 8);
		copied_before_last = t.rx.data_copied;
		answer(&t, 0, 8);
	}
	assert_true(copied_before_last > 0);                    /* the first bursts copied */
	assert_int_equal(t.rx.data_copied, copied_before_last); /* the last one did not */
	bench_fini(&t);
}

/* A queue's bursts vary: a read that brings fewer PDUs than were foretold (the rest were not
 * sent yet) must not make the next, bigger burst arrive in staging and be copied. */
static void test_bursts_of_varying_size(void **state)
{
	static const int sizes[] = {3, 13, 2, 14, 5, 11};
	struct bench t;
	uint64_t copied_after_warmup = 0;

	(void)state;
	bench_init(&t, false, false, 4096, 16);
	t.rx.guess_want = 0;
	for (int round = 0; round < 4; round++) {
		for (size_t b = 0; b < sizeof(sizes) / sizeof(sizes[0]); b++) {
			if (b % 2 == 0)
				rearm(&t, 16);
			answer(&t, b % 2 ? sizes[b - 1] : 0, sizes[b]);
		}
		if (round == 0)
			copied_after_warmup = t.rx.data_copied;
	}
	assert_true(copied_after_warmup > 0);                    /* learning the first burst */
	assert_int_equal(t.rx.data_copied, copied_after_warmup); /* then none copied */
	bench_fini(&t);
}

/* The load falls: 16 reads wait, one is answered per read. A run of reads that bring less
 * than half of what was foretold halves the number, so that a queue that now moves one PDU
 * at a time is not foretold 32 per read (a target foretells commands into free requests). */
static void test_load_falls(void **state)
{
	struct bench t;

	(void)state;
	bench_init(&t, false, false, 4096, 16);
	t.rx.guess_want = TCP_RX_MAX_GUESS;
	for (int r = 0; r < 4 * TCP_RX_GUESS_SHORT_RUN; r++) {
		rearm(&t, 16);
		answer(&t, 0, 1);
	}
	assert_true(t.rx.guess_want <= 2);
	assert_int_equal(t.rx.data_copied, 0);
	bench_fini(&t);
}

/* Two reads into one buffer (legal, if pointless): only the first is foretold, so the second's
 * data cannot overwrite the first's before its digest is checked. */
static void test_shared_buffer(void **state)
{
	(void)state;
	for (int swap = 0; swap < 2; swap++) {
		struct bench t;

		bench_init(&t, false, true, 4096, 3);
		t.h.alias[1] = 0;
		put_c2h(t.s, false, true, swap ? 1 : 0, 0, 4096);
		put_c2h(t.s, false, true, swap ? 0 : 1, 0, 4096);
		put_c2h(t.s, false, true, 2, 0, 4096);
		bench_deliver(&t, NULL, 0);
		assert_int_equal(t.h.pdus, 3);
		assert_int_equal(t.h.bad_ddgst, 0);
		assert_data(&t, swap ? 0 : 1, 4096);   /* the buffer holds the last one's data */
		assert_data(&t, 2, 4096);
		bench_fini(&t);
	}
	/* The same among many: read 11 shares read 4's buffer, wherever it sits among the others'
	 * addresses; the overlap is seen, so read 11 is not foretold (its data is copied after
	 * read 4's was checked), and what follows is foretold again on the next read. */
	for (int swap = 0; swap < 2; swap++) {
		struct bench t;

		bench_init(&t, false, true, 4096, 24);
		t.h.alias[11] = 4;
		for (int i = 0; i < 24; i++)
			put_c2h(t.s, false, true, i == 4 && swap ? 11 : i == 11 && swap ? 4 : i, 0, 4096);
		bench_deliver(&t, NULL, 0);
		assert_int_equal(t.h.pdus, 24);
		assert_int_equal(t.h.bad_ddgst, 0);
		assert_data(&t, swap ? 4 : 11, 4096);
		for (int i = 0; i < 24; i++)
			if (i != 4 && i != 11)
				assert_data(&t, i, 4096);
		bench_fini(&t);
	}
}

/* Answered in another order than foretold: right data in the right buffers, copied. */
static void test_out_of_order(void **state)
{
	struct bench t;
	int sent_order[] = {1, 0, 3, 2};

	(void)state;
	bench_init(&t, false, true, 4096, 4);
	for (int i = 0; i < 4; i++)
		put_c2h(t.s, false, true, sent_order[i], 0, 4096);
	bench_deliver(&t, NULL, 0);
	for (int i = 0; i < 4; i++)
		assert_data(&t, i, 4096);
	assert_int_equal(t.h.pdus, 4);
	assert_int_equal(t.h.bad_ddgst, 0);
	assert_true(t.rx.data_copied > 0);
	bench_fini(&t);
}

/* A response without data (an error) where data was foretold, then data of the next read. */
static void test_response_instead_of_data(void **state)
{
	struct bench t;

	(void)state;
	bench_init(&t, true, false, 4096, 3);
	put_resp(t.s, true, 0);
	put_c2h(t.s, true, false, 1, 0, 4096);
	put_c2h(t.s, true, false, 2, 0, 4096);
	bench_deliver(&t, NULL, 0);
	assert_data(&t, 1, 4096);
	assert_data(&t, 2, 4096);
	assert_int_equal(t.h.resps, 1);
	assert_int_equal(t.h.pdus, 3);
	bench_fini(&t);
}

/* Data split over C2HData PDUs where one PDU was foretold. */
static void test_split_data(void **state)
{
	struct bench t;

	(void)state;
	bench_init(&t, false, false, 8192, 2);
	put_c2h(t.s, false, false, 0, 0, 4096);
	t.s->b[1] &= (uint8_t)~(NVME_TCP_F_DATA_SUCCESS | NVME_TCP_F_DATA_LAST); /* not the last */
	put_c2h(t.s, false, false, 0, 4096, 4096);
	put_c2h(t.s, false, false, 1, 0, 8192);
	bench_deliver(&t, NULL, 0);
	assert_data(&t, 0, 8192);
	assert_data(&t, 1, 8192);
	assert_int_equal(t.h.pdus, 3);
	bench_fini(&t);
}

/* The socket delivers the stream in odd pieces: inside headers, data and digests. */
static void test_pieces(void **state)
{
	static const size_t cut_sets[][6] = {
		{1, 7, 20, 100, 4000, 3},
		{24, 4096, 4, 28, 2, 4094},
		{4127, 1, 1, 1, 24, 4097},
		{5000, 5000, 5000, 5000, 5000, 5000},
		{30, 30, 30, 30, 30, 30},
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cut_sets) / sizeof(cut_sets[0]); c++) {
		for (int dg = 0; dg < 4; dg++) {
			bool hd = dg & 1, dd = dg & 2;
			struct bench t;

			bench_init(&t, hd, dd, 4096, 6);
			for (int i = 0; i < 6; i++)
				put_c2h(t.s, hd, dd, i, 0, 4096);
			bench_deliver(&t, cut_sets[c], 6);
			for (int i = 0; i < 6; i++)
				assert_data(&t, i, 4096);
			assert_int_equal(t.h.pdus, 6);
			assert_int_equal(t.h.bad_ddgst, 0);
			bench_fini(&t);
		}
	}
}

/* A wrong data digest on a PDU read in place is still seen. */
static void test_bad_digest_in_place(void **state)
{
	struct bench t;

	(void)state;
	bench_init(&t, false, true, 4096, 2);
	put_c2h(t.s, false, true, 0, 0, 4096);
	t.s->b[t.s->len - 1] ^= 0xff;
	put_c2h(t.s, false, true, 1, 0, 4096);
	bench_deliver(&t, NULL, 0);
	assert_int_equal(t.h.pdus, 2);
	assert_int_equal(t.h.bad_ddgst, 1);
	assert_data(&t, 1, 4096);
	assert_int_equal(t.rx.data_copied, 0);
	bench_fini(&t);
}

/* A consumer stops the machine after a PDU (a queue moving threads): the rest, foretold
 * or not, is kept in staging in order and processed later. */
static void test_stop_mid_read(void **state)
{
	for (int stop = 1; stop <= 4; stop++) {
		struct bench t;

		(void)state;
		bench_init(&t, false, true, 4096, 4);
		t.h.stop_after = stop;
		for (int i = 0; i < 4; i++)
			put_c2h(t.s, false, true, i, 0, 4096);
		bench_deliver(&t, NULL, 0);
		for (int i = 0; i < 4; i++)
			assert_data(&t, i, 4096);
		assert_int_equal(t.h.pdus, 4);
		assert_int_equal(t.h.bad_ddgst, 0);
		bench_fini(&t);
	}
}

/* A 128 KiB read, foretold: staging grows on that first guess to hold such a PDU, and the data
 * lands in place (without the guess, the first read into staging would bring 64 KiB of it,
 * copied from there). */
static void test_large_pdu_in_place(void **state)
{
	(void)state;
	for (int dg = 0; dg < 4; dg++) {
		bool hd = dg & 1, dd = dg & 2;
		struct bench t;

		bench_init(&t, hd, dd, MAXLEN, 1);
		assert_int_equal(t.rx.staging_size, TCP_RX_STAGING_SIZE);
		put_c2h(t.s, hd, dd, 0, 0, MAXLEN);
		put_resp(t.s, hd, 0);
		bench_deliver(&t, NULL, 0);
		assert_data(&t, 0, MAXLEN);
		assert_int_equal(t.h.pdus, 2);
		assert_int_equal(t.h.bad_ddgst, 0);
		assert_int_equal(t.rx.data_copied, 0);
		assert_int_equal(t.rx.staging_size, TCP_RX_STAGING_MAX);
		bench_fini(&t);
	}
}

/* Two 128 KiB reads answered in the other order than foretold, in pieces that cut the first
 * PDU's data: what the read put into the wrong buffer goes back into staging, and each read
 * gets its own data. */
static void test_large_pdu_wrong_guess(void **state)
{
	static const size_t cuts[][3] = {
		{100000, 100000, 10},
		{24, 131072, 30},
		{131096, 20, 131096},
		{5, 70000, 70000},
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
		for (int dg = 0; dg < 4; dg++) {
			bool hd = dg & 1, dd = dg & 2;
			struct bench t;

			bench_init(&t, hd, dd, MAXLEN, 2);
			put_c2h(t.s, hd, dd, 1, 0, MAXLEN);
			put_c2h(t.s, hd, dd, 0, 0, MAXLEN);
			bench_deliver(&t, cuts[c], 3);
			assert_data(&t, 0, MAXLEN);
			assert_data(&t, 1, MAXLEN);
			assert_int_equal(t.h.pdus, 2);
			assert_int_equal(t.h.bad_ddgst, 0);
			if (c == 0)     /* the first read put cid 1's data into cid 0's buffer */
				assert_true(t.rx.data_copied > 0);
			bench_fini(&t);
		}
	}
}

static void shuffle(int *a, int n, unsigned *seed)
{
	for (int i = n - 1; i > 0; i--) {
		int j = rand_r(seed) % (i + 1), x = a[i];

		a[i] = a[j];
		a[j] = x;
	}
}

/* Random answers (order, responses without data, sizes) in random pieces, against random
 * guesses: every read gets its own data, every PDU is seen once, no digest fails. */
static void test_random(void **state)
{
	unsigned seed = 12345;

	(void)state;
	for (int iter = 0; iter < 300; iter++) {
		bool hd = rand_r(&seed) % 2, dd = rand_r(&seed) % 2;
		int nreq = 1 + rand_r(&seed) % NREQ, order[NREQ], resps = 0;
		size_t cuts[8];
		struct bench t;
		bool data[NREQ];

		bench_init(&t, hd, dd, 4096, nreq);
		t.rx.guess_want = 1 + rand_r(&seed) % TCP_RX_MAX_GUESS;
		for (int i = 0; i < nreq; i++) {
			t.h.len[i] = 512u << (rand_r(&seed) % 4);       /* 512 .. 4096 */
			order[i] = i;
		}
		shuffle(order, nreq, &seed);                            /* the target's order */
		if (rand_r(&seed) % 2)
			shuffle(t.h.order, nreq, &seed);                /* the host's guess order */
		for (int i = 0; i < nreq; i++) {
			int cid = order[i];

			data[cid] = rand_r(&seed) % 5 != 0;             /* else: an error, no data */
			if (data[cid]) {
				put_c2h(t.s, hd, dd, cid, 0, t.h.len[cid]);
			} else {
				put_resp(t.s, hd, cid);
				resps++;
			}
		}
		for (int i = 0; i < 8; i++)
			cuts[i] = 1 + (size_t)rand_r(&seed) % 6000;
		bench_deliver(&t, cuts, rand_r(&seed) % 9);
		for (int cid = 0; cid < nreq; cid++)
			if (data[cid])
				assert_data(&t, cid, t.h.len[cid]);
		assert_int_equal(t.h.pdus, nreq);
		assert_int_equal(t.h.resps, resps);
		assert_int_equal(t.h.bad_ddgst, 0);
		bench_fini(&t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order_no_copy),
		cmocka_unit_test(test_learns_burst_size),
		cmocka_unit_test(test_bursts_of_varying_size),
		cmocka_unit_test(test_load_falls),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_shared_buffer),
		cmocka_unit_test(test_response_instead_of_data),
		cmocka_unit_test(test_split_data),
		cmocka_unit_test(test_pieces),
		cmocka_unit_test(test_bad_digest_in_place),
		cmocka_unit_test(test_stop_mid_read),
		cmocka_unit_test(test_large_pdu_in_place),
		cmocka_unit_test(test_large_pdu_wrong_guess),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
