/*
 * Fuzzes the host library's receive path (lib/host/qpair.c over lib/tcp): bytes from a
 * "controller" reach a real host queue pair through a socketpair and host_qpair_poll(), with a
 * few commands outstanding so that responses, C2HData (into the caller's buffers) and R2Ts
 * (answered with H2CData) can match something.
 *
 * Input: one flags byte, then the controller's bytes.
 *   flags & 1: the harness sends a valid ICResp first (else the input must start with one);
 *   flags & 2 / 4: the host asks for header / data digests (and the harness's ICResp grants
 *   them); flags & 8: the harness's ICResp asks for CPDA 3.
 * Commands outstanding, CIDs 0x1000 + i (the first use of each request slot):
 *   0 read 8 KiB into two 4 KiB iovecs    1 write 16 KiB (R2T; not in-capsule)
 *   2 write 4 KiB in-capsule             3 flush (no data)
 *   4 read 512 bytes                     5 read 4 KiB (identify-like, admin opcode 0x06)
 *
 * Checks: every callback runs exactly once by the end (after the harness closes the queue
 * pair), and data only ever lands inside the buffers (ASan).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host/host_internal.h"
#include "util/log.h"

#define NCMDS 6

static int g_done[NCMDS];

static void cmd_cb(void *arg, const struct nvfab_cpl *cpl)
{
	int i = (int)(intptr_t)arg;

	(void)cpl;
	if (++g_done[i] > 1) {
		fprintf(stderr, "fuzz_host_rx: command %d completed twice\n", i);
		abort();
	}
}

static void drain(int fd)
{
	uint8_t buf[65536];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static void submit(struct host_qpair *qp, int i, uint8_t opc, enum host_xfer xfer,
		   struct iovec *iov, int iovcnt, uint32_t len)
{
	struct nvme_sqe sqe;

	memset(&sqe, 0, sizeof(sqe));
	sqe.opc = opc;
	sqe.nsid = 1;
	if (host_qpair_submit(qp, &sqe, xfer, iov, iovcnt, len, cmd_cb, (void *)(intptr_t)i)) {
		fprintf(stderr, "fuzz_host_rx: submit %d failed\n", i);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct nvfab_ctrlr *ctrlr;
	struct host_qpair qp;
	uint8_t *rd8k, *wr16k, *wr4k, *rd512, *rd4k;
	struct iovec v0[2], v1, v2, v4, v5;
	uint8_t flags;
	int sv[2], stalled = 0;

	if (!ctrlr) {
		if (!getenv("NVFAB_FUZZ_VERBOSE"))
			nvfab_set_log_level(0);
		ctrlr = calloc(1, sizeof(*ctrlr));
		if (!ctrlr)
			abort();
		nvfab_ctrlr_opts_init(&ctrlr->opts);
		ctrlr->opts.io_timeout_ms = 0; /* no time-dependent behaviour */
	}
	if (size < 1)
		return 0;
	flags = data[0];
	data++;
	size--;
	ctrlr->opts.hdgst = flags & 2;
	ctrlr->opts.ddgst = flags & 4;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		abort();
	if (host_qpair_init(&qp, ctrlr, 1, 16))
		abort();
	qp.fd = sv[0];
	qp.state = HOST_QP_LIVE;
	qp.hold_on_error = false;
	qp.icd_max = 8192;

	rd8k = malloc(8192);
	wr16k = calloc(1, 16384);
	wr4k = calloc(1, 4096);
	rd512 = malloc(512);
	rd4k = malloc(4096);
	if (!rd8k || !wr16k || !wr4k || !rd512 || !rd4k)
		abort();
	memset(g_done, 0, sizeof(g_done));
	v0[0] = (struct iovec){rd8k, 4096};
	v0[1] = (struct iovec){rd8k + 4096, 4096};
	v1 = (struct iovec){wr16k, 16384};
	v2 = (struct iovec){wr4k, 4096};
	v4 = (struct iovec){rd512, 512};
	v5 = (struct iovec){rd4k, 4096};
	submit(&qp, 0, 0x02, HOST_XFER_C2H, v0, 2, 8192);
	submit(&qp, 1, 0x01, HOST_XFER_H2C, &v1, 1, 16384);
	submit(&qp, 2, 0x01, HOST_XFER_H2C, &v2, 1, 4096);
	submit(&qp, 3, 0x00, HOST_XFER_NONE, NULL, 0, 0);
	submit(&qp, 4, 0x02, HOST_XFER_C2H, &v4, 1, 512);
	submit(&qp, 5, 0x06, HOST_XFER_C2H, &v5, 1, 4096);
	drain(sv[1]);

	if (flags & 1) {
		uint8_t ic[128] = {NVME_TCP_PDU_ICRESP, 0, 128, 0, 128};
		uint32_t maxh2c = 8192;

		ic[10] = (flags & 8) ? 3 : 0;
		ic[11] = (uint8_t)(((flags & 2) ? 1 : 0) | ((flags & 4) ? 2 : 0));
		memcpy(ic + 12, &maxh2c, 4);
		if (write(sv[1], ic, sizeof(ic)) != sizeof(ic))
			abort();
		host_qpair_poll(&qp, 0);
		drain(sv[1]);
	}
	while (size && stalled < 16 && qp.state == HOST_QP_LIVE) {
		ssize_t n = write(sv[1], data, size > 65536 ? 65536 : size);

		if (n > 0) {
			data += n;
			size -= (size_t)n;
			stalled = 0;
		} else {
			stalled++;
		}
		if (host_qpair_poll(&qp, 0) < 0)
			break;
		drain(sv[1]);
	}
	if (qp.state == HOST_QP_LIVE) {
		host_qpair_poll(&qp, 0);
		drain(sv[1]);
	}

	/* The controller goes away: whatever is left fails, exactly once. */
	close(sv[1]);
	if (qp.state == HOST_QP_LIVE) {
		host_qpair_close(&qp, -ECONNRESET, false);
		qp.state = HOST_QP_FAILED;
	}
	host_qpair_fail_all(&qp, -ECONNRESET);
	for (int i = 0; i < NCMDS; i++) {
		if (g_done[i] != 1) {
			fprintf(stderr, "fuzz_host_rx: command %d completed %d times\n", i, g_done[i]);
			abort();
		}
	}
	if (qp.outstanding != 0) {
		fprintf(stderr, "fuzz_host_rx: %u commands still outstanding\n", qp.outstanding);
		abort();
	}
	host_qpair_fini(&qp);
	free(rd8k);
	free(wr16k);
	free(wr4k);
	free(rd512);
	free(rd4k);
	return 0;
}
