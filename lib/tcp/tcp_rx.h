/*
 * The NVMe/TCP receive state machine, shared by host and target: common header, rest of the
 * header (with digest), padding, data (into the consumer's buffers), data digest. The consumer
 * sees two events per PDU: a validated header (where it says where the data goes) and the
 * complete PDU. A protocol violation stops the machine in TCP_RX_ERROR with the reason in
 * rx->err, for the consumer to answer with a termination request.
 *
 * Bytes come from a socket (tcp_rx_recv) or from memory (tcp_rx_feed, for fuzzing and tests).
 * Data of large PDUs is read from the socket straight into the destination buffers, after a
 * read of their header. When the consumer foretold the PDUs (tcp_rx_ops.guess), one read does
 * it all, for small PDUs too: it scatters each expected header into staging and its data into
 * the expected buffers, and the machine checks each header against the guess before anything
 * runs on it; where a guess was wrong, the bytes are moved back into staging and read as usual.
 */
#ifndef NVFAB_TCP_RX_H
#define NVFAB_TCP_RX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "tcp/tcp_pdu.h"
#include "tcp/tcp_tls.h"

/* The most one read puts into staging (where data that was not foretold is copied from). */
#define TCP_RX_STAGING_SIZE (64 * 1024)
/*
 * A foretold PDU's bytes must fit in staging, where they land instead should the guess be
 * wrong. For a PDU with more data than that, staging grows once, to this, on the connection's
 * first such guess: PDUs of up to 128 KiB of data are then foretold, and one readv brings the
 * header and puts the data in place (a gateway's 128 KiB reads and writes: one system call
 * fewer each). Connections that never move large PDUs keep the small buffer.
 */
#define TCP_RX_STAGING_MAX (TCP_RX_STAGING_SIZE + 128 * 1024)
#define TCP_RX_MAX_DATA_IOV 16
#define TCP_RX_MAX_GUESS 32     /* PDUs foretold for one read: a queue of 32 answered at once */
#define TCP_RX_GUESS_IOV 64     /* their data iovecs, together */
#define TCP_RX_CLAIM_SLOTS 256 /* pages of the buffers one read fills: a hash set (tcp_rx.c) */
#define TCP_RX_CLAIM_PAGES 4   /* buffers over more pages are compared one by one */
#define TCP_RX_GUESS_SHORT_RUN 8 /* such reads in a row halve the number foretold */

enum tcp_rx_state {
	TCP_RX_HDR,     /* collecting the header: 8 bytes, then hlen (+ digest) */
	TCP_RX_PAD,     /* skipping the padding before PDO */
	TCP_RX_DATA,    /* copying data into the consumer's iovecs */
	TCP_RX_DDGST,   /* collecting the data digest */
	TCP_RX_ERROR,   /* protocol error: rx->err says why; nothing more is read */
};

struct tcp_rx;

/*
 * A PDU the consumer expects next, with where its data goes (tcp_rx_guess_add()). The read is
 * laid out for it; the PDU that comes must match it in type, HLEN, PDO (header plus digest: no
 * padding), PLEN and digest flags, and for C2HData also in CCCID, DATAO and DATAL, or its bytes
 * are read as if nothing had been foretold. The consumer's on_header must then point the data
 * at the same iovecs (else they are copied there). Until the PDU's turn, the foretold buffers
 * must not be written by anyone else: the read may already have put later bytes in them.
 */
struct tcp_rx_guess {
	uint8_t type;           /* NVME_TCP_PDU_C2H_DATA or NVME_TCP_PDU_CAPSULE_CMD */
	uint8_t hlen;
	bool check_data_hdr;    /* C2HData: CCCID, DATAO and DATAL below must match too */
	uint16_t cccid;
	uint32_t datao;
	uint32_t len;           /* data bytes (the iovecs hold exactly this many) */
	/* set by tcp_rx_guess_add() */
	uint32_t at;            /* where the PDU starts in this read's byte stream */
	uint8_t hdr_bytes;      /* HLEN plus header digest */
	uint8_t trail;          /* data digest bytes */
	uint8_t iov_first;
	uint8_t iovcnt;
};

struct tcp_rx_ops {
	/*
	 * The header passed validation. If it carries data (rx->data_len > 0), the consumer calls
	 * tcp_rx_set_data() or tcp_rx_discard_data() before returning. Returns 0, -EPROTO after
	 * tcp_rx_fail(), or another -errno to stop reading (for example, the connection is closing).
	 */
	int (*on_header)(void *ctx, struct tcp_rx *rx);
	/* The whole PDU is in; ddgst_ok is false when the data digest did not match. */
	int (*on_pdu)(void *ctx, struct tcp_rx *rx, bool ddgst_ok);
	/*
	 * Optional. Called before a read when nothing is staged, at a PDU boundary or inside a
	 * PDU's data: the consumer may foretell the PDUs that follow, in the order it expects
	 * them, with tcp_rx_guess_add().
	 */
	void (*guess)(void *ctx, struct tcp_rx *rx);
};

struct tcp_rx {
	enum tcp_rx_state state;
	struct tcp_pdu_limits lim;
	struct tcp_pdu_error err;

	union tcp_pdu_hdr hdr;
	uint32_t hdr_got;
	uint32_t hdr_need;      /* 8 until the common header is in, then hlen + digest */
	uint32_t pad_left;
	uint32_t data_len;      /* data bytes in the current PDU */
	uint32_t data_left;
	bool data_discard;
	struct iovec data_iov[TCP_RX_MAX_DATA_IOV];
	int data_iovcnt;
	int data_idx;
	uint32_t crc;
	uint8_t ddgst[NVME_TCP_DIGEST_LEN];
	uint32_t ddgst_got;

	uint8_t *staging;       /* bytes read but not yet consumed */
	uint32_t staging_size;  /* allocated; reads into it ask for TCP_RX_STAGING_SIZE at most */
	uint32_t head, tail;
	uint64_t pdus;          /* received, for statistics */
	bool large;             /* the last PDU carried much data: read headers in small reads */
	bool drained;           /* the last tcp_rx_recv() emptied the socket (short read, EAGAIN) */
	uint64_t data_copied;   /* data bytes copied from staging into consumers' buffers */
	struct tcp_rx_guess guess[TCP_RX_MAX_GUESS];
	int nguess;
	int guess_want;         /* how many to take (0: 1): grows with what came, shrinks slowly */
	int guess_short;        /* reads in a row that brought less than half the foretold */
	int nguess_iov;
	uint32_t guess_lead;    /* data of the current PDU, read in place before the foretold */
	uint32_t guess_base;    /* where the first foretold PDU starts in staging (its digest) */
	struct iovec guess_iov[TCP_RX_GUESS_IOV];
	struct {
		uint64_t page;
		uint32_t round;
	} claims[TCP_RX_CLAIM_SLOTS];     /* the pages this round's foretold buffers cover */
	uint32_t claim_round;           /* slots of other rounds are free */
	uint32_t nclaims;
	bool claims_by_one;             /* this round compares buffers one by one */
	struct tcp_tls *tls;    /* set by the owner: the connection speaks TLS (tcp_tls.h) */
};

int tcp_rx_init(struct tcp_rx *rx, enum tcp_role receiver);
/* Back to a new connection's state, keeping the staging buffer (a reconnect allocates nothing). */
void tcp_rx_reset(struct tcp_rx *rx);
void tcp_rx_fini(struct tcp_rx *rx);

/* Data of the current PDU goes to iov (total >= rx->data_len; copied, not kept). */
int tcp_rx_set_data(struct tcp_rx *rx, const struct iovec *iov, int iovcnt);
void tcp_rx_discard_data(struct tcp_rx *rx);
/*
 * From tcp_rx_ops.guess: foretells the next PDU (after those already foretold for this read).
 * False, and nothing foretold, when the read has no room for it (staging, iovecs, or as many as
 * the traffic suggests are foretold) or when its buffer overlaps one the read already fills:
 * foretell no further.
 */
bool tcp_rx_guess_add(struct tcp_rx *rx, const struct tcp_rx_guess *g, const struct iovec *iov,
		      int iovcnt);
/* Marks a protocol error from a consumer's check of the header. Returns -EPROTO. */
int tcp_rx_fail(struct tcp_rx *rx, uint16_t fes, uint32_t fei, const char *why);

/*
 * Reads what the socket has (at most about budget bytes) and runs the machine. Returns the
 * number of bytes consumed (0 when nothing was available), -ECONNRESET when the peer closed,
 * -EPROTO on a protocol error, or another -errno from the socket or a callback.
 */
int tcp_rx_recv(struct tcp_rx *rx, int fd, const struct tcp_rx_ops *ops, void *ctx, size_t budget);
/* Runs the machine over bytes already staged (after a queue pair changes threads). */
int tcp_rx_process_staged(struct tcp_rx *rx, const struct tcp_rx_ops *ops, void *ctx);
/* Runs the machine over bytes in memory. Same returns; consumes everything unless stopped. */
int tcp_rx_feed(struct tcp_rx *rx, const uint8_t *buf, size_t len, const struct tcp_rx_ops *ops,
		void *ctx);

#endif
