/*
 * Fuzzes the target's receive path end to end: bytes from a "host" go through the NVMe/TCP PDU
 * validation (lib/tcp), the queue pair (lib/target/tcp_qpair.c) and command execution
 * (fabrics, admin, I/O, discovery) on RAM and null namespaces; responses are read and dropped.
 *
 * The queue pair is a real one over a socketpair, made by tcp_qpair_accept_on() on the control
 * loop; the reactor's loop is driven from this thread too (fuzz_common.c), so I/O queues that
 * migrate to the reactor are covered and every run is single-threaded.
 *
 * Input: one flags byte, then the bytes the host sends.
 *   flags & 3: 0 raw (the input starts with its own ICReq),
 *              1 admin queue after ICReq + Connect + CC.EN=1 (NVMe subsystem),
 *              2 I/O queue 1 after ICReq + Connect (the admin queue is set up beside it),
 *              3 admin queue of the discovery controller after ICReq + Connect.
 *   flags & 4: header digests in the harness's ICReq; flags & 8: data digests.
 *   flags & 16: deliver the input one PDU at a time (cut where each PLEN says), running the
 *              target in between, like a host that waits for each R2T before its H2CData;
 *              otherwise everything is written at once (in 64 KiB writes).
 *   (Modes 1-3 never see their set-up fail: the harness aborts if it does.)
 *
 * After the input: both connections are closed from the host side and every queue pair and
 * controller must be gone within a bounded number of loop iterations (a leak or a stuck
 * queue pair aborts); ASan's leak checker covers memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "rpc/rpc.h"
#include "spec/nvme_tcp.h"
#include "target/target.h"
#include "target/tcp_qpair.h"
#include "tcp/tcp_crc.h"

#define SUBNQN "nqn.2026-11.io.nvfab:fuzz"
#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-000000000001"

static struct tgt_listener *g_listener;
static struct tgt_subsystem *g_subsys;

struct conn {
	int tfd;            /* the target's end */
	int pfd;            /* the host's end: the harness writes here */
	bool hdgst, ddgst;
	uint16_t cid;
	uint8_t in[256 * 1024]; /* received bytes, parsed during set-up only */
	size_t in_len;
	bool closed;        /* the target closed its end */
};

static struct conn g_a, g_b;

static void die(const char *what)
{
	fprintf(stderr, "fuzz_target_rx: %s\n", what);
	abort();
}

static void init_once(void)
{
	struct tgt_listen_addr addr;
	const char *why;

	fuzz_target_init();
	/* Small queues: reachable limits, cheap queue pairs. Several H2CData PDUs per R2T. */
	fuzz_rpc_ok("nvmf_create_transport",
		    "{\"trtype\":\"TCP\",\"max_queue_depth\":32,\"max_aq_depth\":32,"
		    "\"in_capsule_data_size\":8192,\"max_io_size\":65536,\"io_unit_size\":16384,"
		    "\"max_qpairs_per_ctrlr\":4}");
	fuzz_rpc_ok("bdev_malloc_create", "{\"name\":\"Malloc0\",\"num_blocks\":256,\"block_size\":4096}");
	fuzz_rpc_ok("bdev_null_create", "{\"name\":\"Null0\",\"num_blocks\":2048,\"block_size\":512}");
	fuzz_rpc_ok("nvmf_create_subsystem",
		    "{\"nqn\":\"" SUBNQN "\",\"allow_any_host\":true,\"serial_number\":\"FUZZ\"}");
	fuzz_rpc_ok("nvmf_subsystem_add_ns",
		    "{\"nqn\":\"" SUBNQN "\",\"namespace\":{\"bdev_name\":\"Malloc0\"}}");
	fuzz_rpc_ok("nvmf_subsystem_add_ns",
		    "{\"nqn\":\"" SUBNQN "\",\"namespace\":{\"bdev_name\":\"Null0\"}}");
	/* The listener binds 127.0.0.1 on an ephemeral port (fuzz_common.c); nothing connects. */
	fuzz_rpc_ok("nvmf_subsystem_add_listener",
		    "{\"nqn\":\"" SUBNQN "\",\"listen_address\":{\"trtype\":\"TCP\","
		    "\"adrfam\":\"IPv4\",\"traddr\":\"127.0.0.1\",\"trsvcid\":\"4420\"}}");
	if (tgt_listen_addr_parse("TCP", "IPv4", "127.0.0.1", "4420", &addr, &why))
		die(why);
	g_listener = tgt_listener_find(&addr);
	g_subsys = tgt_subsystem_find(SUBNQN);
	if (!g_listener || !g_subsys)
		die("set-up: no listener or subsystem");
}

/* ---- the host side of one connection ---- */

static void conn_drain(struct conn *c, bool keep)
{
	uint8_t scratch[65536];

	for (;;) {
		uint8_t *dst = keep ? c->in + c->in_len : scratch;
		size_t room = keep ? sizeof(c->in) - c->in_len : sizeof(scratch);
		ssize_t n;

		if (room == 0)
			die("set-up: response buffer full");
		n = read(c->pfd, dst, room);
		if (n > 0) {
			if (keep)
				c->in_len += (size_t)n;
			continue;
		}
		if (n == 0)
			c->closed = true;
		return;
	}
}

static int conn_open(struct conn *c)
{
	int sv[2];

	memset(c, 0, offsetof(struct conn, in));
	c->in_len = 0;
	c->tfd = c->pfd = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		die("socketpair");
	if (tcp_qpair_accept_on(sv[0], g_listener, g_tgt.control)) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	c->tfd = sv[0];
	c->pfd = sv[1];
	return 0;
}

/* Writes everything (or until the target stops reading), pumping the loops in between. */
static void conn_send(struct conn *c, const uint8_t *buf, size_t len, bool keep)
{
	int stalled = 0;

	while (len && stalled < 64) {
		ssize_t n = write(c->pfd, buf, len > 65536 ? 65536 : len);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			stalled = 0;
		} else if (n < 0 && errno != EAGAIN) {
			break; /* the target closed: EPIPE */
		} else {
			stalled++;
		}
		fuzz_pump();
		conn_drain(c, keep);
	}
}

static size_t pdu_seal(struct conn *c, uint8_t *pdu, size_t hlen, const void *data, size_t dlen)
{
	size_t hd = c->hdgst ? 4 : 0, off = hlen;
	bool dd = c->ddgst && dlen;

	pdu[1] = (uint8_t)((c->hdgst ? NVME_TCP_F_HDGST : 0) | (dd ? NVME_TCP_F_DDGST : 0));
	pdu[2] = (uint8_t)hlen;
	pdu[3] = (uint8_t)(dlen ? hlen + hd : 0);
	{
		uint32_t plen = (uint32_t)(hlen + hd + dlen + (dd ? 4 : 0));

		memcpy(pdu + 4, &plen, 4);
	}
	if (c->hdgst) {
		uint32_t crc = tcp_crc(pdu, hlen);

		memcpy(pdu + off, &crc, 4);
		off += 4;
	}
	if (dlen) {
		memcpy(pdu + off, data, dlen);
		off += dlen;
	}
	if (dd) {
		uint32_t crc = tcp_crc(data, dlen);

		memcpy(pdu + off, &crc, 4);
		off += 4;
	}
	return off;
}

static void send_icreq(struct conn *c, bool hdgst, bool ddgst)
{
	uint8_t pdu[128] = {NVME_TCP_PDU_ICREQ, 0, 128, 0, 128};

	pdu[11] = (uint8_t)((hdgst ? 1 : 0) | (ddgst ? 2 : 0));
	conn_send(c, pdu, sizeof(pdu), true);
	/* The ICResp is 128 bytes and comes first. */
	for (int i = 0; i < 100 && c->in_len < 128; i++) {
		fuzz_pump();
		conn_drain(c, true);
	}
	if (c->in_len < 128 || c->in[0] != NVME_TCP_PDU_ICRESP)
		die("set-up: no ICResp");
	c->hdgst = c->in[11] & 1;
	c->ddgst = c->in[11] & 2;
	memmove(c->in, c->in + 128, c->in_len - 128);
	c->in_len -= 128;
}

static void send_cmd(struct conn *c, uint8_t sqe[64], const void *data, size_t dlen)
{
	static uint8_t pdu[72 + 4 + 8192 + 4];
	size_t len;

	memset(pdu, 0, 72);
	pdu[0] = NVME_TCP_PDU_CAPSULE_CMD;
	memcpy(pdu + 8, sqe, 64);
	len = pdu_seal(c, pdu, 72, data, dlen);
	conn_send(c, pdu, len, true);
}

/* Waits for the CapsuleResp of cid; returns its status field (phase bit dropped). */
static uint16_t wait_resp(struct conn *c, uint16_t cid, uint32_t *dw0)
{
	for (int round = 0; round < 1000; round++) {
		size_t off = 0;

		while (off + 8 <= c->in_len) {
			uint32_t plen;

			memcpy(&plen, c->in + off + 4, 4);
			if (plen < 8 || off + plen > c->in_len)
				break;
			if (c->in[off] == NVME_TCP_PDU_CAPSULE_RESP && plen >= 24) {
				uint16_t rcid, status;

				memcpy(&rcid, c->in + off + 20, 2);
				memcpy(&status, c->in + off + 22, 2);
				if (rcid == cid) {
					if (dw0)
						memcpy(dw0, c->in + off + 8, 4);
					c->in_len = 0;
					return status >> 1;
				}
			}
			off += plen;
		}
		fuzz_pump();
		conn_drain(c, true);
	}
	die("set-up: no response");
	return 0xffff;
}

static void sqe_fabrics(uint8_t sqe[64], uint16_t cid, uint8_t fctype, uint32_t sgl_len)
{
	memset(sqe, 0, 64);
	sqe[0] = NVME_FABRICS_OPC;
	sqe[1] = sgl_len ? 0x40 : 0;
	memcpy(sqe + 2, &cid, 2);
	sqe[4] = fctype;
	if (sgl_len) {
		memcpy(sqe + 32, &sgl_len, 4);
		sqe[39] = NVME_SGL_TYPE_ICD << 0; /* in-capsule data block, offset addressing */
	}
}

static uint16_t do_connect(struct conn *c, const char *subnqn, uint16_t qid, uint16_t cntlid)
{
	uint8_t sqe[64], data[1024] = {0};
	uint16_t sqsize = 31, cid = ++c->cid;
	uint32_t dw0 = 0;

	sqe_fabrics(sqe, cid, NVMF_FCTYPE_CONNECT, sizeof(data));
	memcpy(sqe + 42, &qid, 2);
	memcpy(sqe + 44, &sqsize, 2);
	for (int i = 0; i < 16; i++)
		data[i] = (uint8_t)i;
	memcpy(data + 16, &cntlid, 2);
	memcpy(data + 256, subnqn, strlen(subnqn));
	memcpy(data + 512, HOSTNQN, strlen(HOSTNQN));
	send_cmd(c, sqe, data, sizeof(data));
	if (wait_resp(c, cid, &dw0) != 0)
		die("set-up: Connect refused");
	return (uint16_t)dw0;
}

static void do_enable(struct conn *c)
{
	uint8_t sqe[64];
	uint64_t cc = 0x460001;
	uint16_t cid = ++c->cid;

	sqe_fabrics(sqe, cid, NVMF_FCTYPE_PROPERTY_SET, 0);
	sqe[40] = 0; /* 4-byte property */
	sqe[44] = 0x14; /* CC */
	memcpy(sqe + 48, &cc, 8);
	send_cmd(c, sqe, NULL, 0);
	if (wait_resp(c, cid, NULL) != 0)
		die("set-up: CC.EN refused");
}

/* The fuzzed bytes: at once, or PDU by PDU as their PLEN fields cut them. */
static void send_input(struct conn *c, const uint8_t *data, size_t size, bool per_pdu)
{
	while (size) {
		size_t chunk = size;

		if (per_pdu && size >= 8) {
			uint32_t plen;

			memcpy(&plen, data + 4, 4);
			if (plen >= 8 && plen < size)
				chunk = plen;
		}
		conn_send(c, data, chunk, false);
		if (c->closed)
			return;
		fuzz_settle(8);
		conn_drain(c, false);
		data += chunk;
		size -= chunk;
	}
}

static void conn_close(struct conn *c)
{
	if (c->pfd >= 0)
		close(c->pfd);
	c->pfd = -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool inited;
	uint8_t flags;
	int mode, rounds;

	if (!inited) {
		init_once();
		inited = true;
	}
	if (size < 1)
		return 0;
	flags = data[0];
	data++;
	size--;
	mode = flags & 3;

	g_a.pfd = g_b.pfd = -1;
	if (mode == 2) {
		uint16_t cntlid;

		/* Admin queue on g_a, the fuzzed I/O queue on g_b. */
		if (conn_open(&g_a) || conn_open(&g_b))
			die("accept");
		send_icreq(&g_a, false, false);
		cntlid = do_connect(&g_a, SUBNQN, 0, 0xffff);
		do_enable(&g_a);
		send_icreq(&g_b, flags & 4, flags & 8);
		do_connect(&g_b, SUBNQN, 1, cntlid);
		fuzz_settle(16);
		conn_drain(&g_b, false);
		send_input(&g_b, data, size, flags & 16);
	} else {
		if (conn_open(&g_b))
			die("accept");
		if (mode == 1) {
			send_icreq(&g_b, flags & 4, flags & 8);
			do_connect(&g_b, SUBNQN, 0, 0xffff);
			do_enable(&g_b);
		} else if (mode == 3) {
			send_icreq(&g_b, flags & 4, flags & 8);
			do_connect(&g_b, NVMF_DISCOVERY_NQN, 0, 0xffff);
			do_enable(&g_b);
		}
		send_input(&g_b, data, size, flags & 16);
	}
	/* Let what was sent finish (R2Ts, reads), then hang up like a host that goes away. */
	for (int i = 0; i < 64; i++) {
		int work = fuzz_pump();

		conn_drain(&g_b, false);
		if (g_a.pfd >= 0)
			conn_drain(&g_a, false);
		if (!work)
			break;
	}
	conn_close(&g_b);
	conn_close(&g_a);
	for (rounds = 0; rounds < 10000; rounds++) {
		fuzz_pump();
		if (fuzz_live_rx() == 0 && list_empty(&g_subsys->ctrlrs) &&
		    list_empty(&g_tgt.discovery->ctrlrs))
			break;
	}
	if (rounds == 10000) {
		fprintf(stderr, "fuzz_target_rx: %ld queue pair(s) or a controller still alive after "
				"the host closed every connection\n", fuzz_live_rx());
		abort();
	}
	return 0;
}
