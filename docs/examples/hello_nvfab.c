/*
 * hello_nvfab: connect to a remote namespace, write one block asynchronously, read it back,
 * compare. Build against an installed libnvfab:
 *
 *   cc hello_nvfab.c $(pkg-config --cflags --libs libnvfab) -o hello_nvfab
 *   ./hello_nvfab 'trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:4420 subnqn:nqn.2026-11.io.nvfab:demo'
 */
#define _POSIX_C_SOURCE 200809L /* posix_memalign */

#include <nvfab/nvfab.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct io_state {
	int done;
	struct nvfab_cpl cpl;
};

static void on_complete(void *arg, const struct nvfab_cpl *cpl)
{
	struct io_state *st = arg;

	st->cpl = *cpl;
	st->done = 1;
}

/* Polls the queue pair until the one outstanding command completes. */
static int wait_for(struct nvfab_qpair *qp, struct io_state *st)
{
	char text[128];

	while (!st->done)
		if (nvfab_qpair_process_completions(qp, 0) < 0)
			return -1;
	if (nvfab_cpl_is_error(&st->cpl)) {
		fprintf(stderr, "I/O failed: %s\n", nvfab_cpl_str(&st->cpl, text, sizeof(text)));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct nvfab_trid trid;
	struct nvfab_error err;
	struct nvfab_ctrlr *ctrlr;
	struct nvfab_qpair *qp;
	const struct nvfab_ns *ns;
	struct io_state st = {0};
	char msg[256];
	void *out = NULL, *in = NULL;
	struct iovec iov;
	int rc = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: %s TRID\n", argv[0]);
		return 2;
	}
	if (nvfab_trid_parse(&trid, argv[1], msg, sizeof(msg))) {
		fprintf(stderr, "bad transport ID: %s\n", msg);
		return 2;
	}
	ctrlr = nvfab_ctrlr_connect(&trid, NULL, &err);
	if (!ctrlr) {
		fprintf(stderr, "connect: %s\n", err.msg);
		return 1;
	}
	ns = nvfab_ctrlr_next_ns(ctrlr, NULL);
	qp = nvfab_qpair_create(ctrlr, NULL, &err);
	if (!ns || !qp) {
		fprintf(stderr, "%s\n", ns ? err.msg : "no namespace");
		goto out;
	}
	/* Page-aligned buffers: the host sends and receives straight from them. */
	if (posix_memalign(&out, 4096, ns->block_size) || posix_memalign(&in, 4096, ns->block_size))
		goto out;
	memset(out, 0x5a, ns->block_size);
	snprintf(out, ns->block_size, "hello from libnvfab");

	iov = (struct iovec){.iov_base = out, .iov_len = ns->block_size};
	if (nvfab_write(qp, ns, 0, 1, &iov, 1, NVFAB_IO_FUA, on_complete, &st) || wait_for(qp, &st))
		goto out;
	st.done = 0;
	iov.iov_base = in;
	if (nvfab_read(qp, ns, 0, 1, &iov, 1, 0, on_complete, &st) || wait_for(qp, &st))
		goto out;
	if (memcmp(out, in, ns->block_size) != 0) {
		fprintf(stderr, "read back differs\n");
		goto out;
	}
	printf("namespace %u: wrote and read back \"%s\"\n", ns->nsid, (char *)in);
	rc = 0;
out:
	if (qp)
		nvfab_qpair_destroy(qp);
	nvfab_ctrlr_disconnect(ctrlr);
	free(out);
	free(in);
	return rc;
}
