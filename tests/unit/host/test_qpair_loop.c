/*
 * The host's controller and queue-pair state machines against the fake target over loopback:
 * connect, identify, in-capsule and R2T writes, C2HData reads (with and without SUCCESS),
 * large reads pipelined,
 * digests, refused Connects, a dropped connection with and without reconnect, failover to a
 * second path, queue limits,
 * discovery, the synchronous layer.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/ioctl.h>

#include <cmocka.h>
#include <nvme/types.h>

#include "fake_target.h"
#include "nvfab/nvfab.h"

static struct fake_target ft;

static int start_target(void **state)
{
	(void)state;
	fake_target_defaults(&ft);
	return 0;
}

static int stop_target(void **state)
{
	(void)state;
	if (ft.disk)
		fake_target_stop(&ft);
	return 0;
}

static void go(void)
{
	assert_int_equal(fake_target_start(&ft), 0);
}

static struct nvfab_trid ft_trid(const char *subnqn)
{
	struct nvfab_trid t;
	char s[512];

	snprintf(s, sizeof(s), "trtype:tcp traddr:127.0.0.1 trsvcid:%u subnqn:%s", ft.port, subnqn);
	assert_int_equal(nvfab_trid_parse(&t, s, NULL, 0), 0);
	return t;
}

static struct nvfab_ctrlr *ft_connect(struct nvfab_ctrlr_opts *o)
{
	struct nvfab_trid t = ft_trid(FT_SUBNQN);
	struct nvfab_error err;
	struct nvfab_ctrlr *c = nvfab_ctrlr_connect(&t, o, &err);

	if (!c)
		fail_msg("connect failed: %s", err.msg);
	return c;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct io_ctx {
	bool done;
	struct nvfab_cpl cpl;
};

static void io_cb(void *arg, const struct nvfab_cpl *cpl)
{
	struct io_ctx *ctx = arg;

	ctx->cpl = *cpl;
	ctx->done = true;
}

static void wait_io(struct nvfab_qpair *qp, struct io_ctx *ctx)
{
	uint64_t deadline = now_ms() + 5000;

	while (!ctx->done && now_ms() < deadline)
		nvfab_qpair_process_completions(qp, 0);
	assert_true(ctx->done);
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 31 + seed + (i >> 9));
}

static void test_connect_identify(void **state)
{
	struct nvfab_ctrlr_opts o;
	struct nvfab_ctrlr *c;
	const struct nvfab_ns *ns;

	(void)state;
	go();
	nvfab_ctrlr_opts_init(&o);
	o.nr_io_queues = 2;
	c = ft_connect(&o);
	assert_int_equal(nvfab_ctrlr_cntlid(c), 1);
	assert_int_equal(nvfab_ctrlr_max_xfer(c), 128 * 1024);
	assert_int_equal(nvfab_ctrlr_icd_size(c), 8192);
	assert_int_equal(nvfab_ctrlr_nr_io_queues(c), 2);
	assert_int_equal(nvfab_ctrlr_max_queue_size(c), 128);
	assert_int_equal(nvfab_ctrlr_vs(c), 0x10400);
	assert_int_equal(nvfab_ctrlr_cap(c) & 0xffff, 127);
	assert_string_equal(nvfab_ctrlr_id(c)->subnqn, FT_SUBNQN);
	assert_false(nvfab_ctrlr_is_discovery(c));
	assert_non_null(strstr(nvfab_ctrlr_hostnqn(c), "nqn.2014-08.org.nvmexpress:uuid:"));
	ns = nvfab_ctrlr_next_ns(c, NULL);
	assert_non_null(ns);
	assert_int_equal(ns->nsid, 1);
	assert_int_equal(ns->block_size, 512);
	assert_int_equal(ns->num_blocks, 8192);
	assert_null(nvfab_ctrlr_next_ns(c, ns));
	assert_ptr_equal(nvfab_ctrlr_get_ns(c, 1), ns);
	assert_null(nvfab_ctrlr_get_ns(c, 2));
	nvfab_ctrlr_disconnect(c);
	/* Orderly shutdown reached the target. */
	assert_int_equal(NVME_CC_SHN(ft.cc), NVME_CC_SHN_NORMAL);
	assert_int_equal(NVME_CC_IOSQES(ft.cc), 6);
	assert_int_equal(NVME_CC_IOCQES(ft.cc), 4);
}

static void write_read_check(struct nvfab_ctrlr *c, uint32_t nblocks, int pieces, bool fua)
{
	const struct nvfab_ns *ns = nvfab_ctrlr_get_ns(c, 1);
	struct nvfab_qpair *qp;
	struct nvfab_error err;
	size_t len = (size_t)nblocks * 512;
	uint8_t *out = malloc(len), *in = calloc(1, len);
	struct iovec iov[NVFAB_MAX_IOV];
	struct io_ctx ctx = {0};
	size_t off = 0;

	qp = nvfab_qpair_create(c, NULL, &err);
	if (!qp)
		fail_msg("qpair: %s", err.msg);
	fill(out, len, nblocks);
	/* Uneven pieces: data PDUs must be cut across iovec boundaries. */
	for (int i = 0; i < pieces; i++) {
		size_t l = i == pieces - 1 ? len - off : len / (size_t)pieces + (size_t)i * 8;

		iov[i].iov_base = out + off;
		iov[i].iov_len = l;
		off += l;
	}
	assert_int_equal(nvfab_write(qp, ns, 100, nblocks, iov, pieces, fua ? NVFAB_IO_FUA : 0, io_cb,
				     &ctx), 0);
	wait_io(qp, &ctx);
	assert_false(nvfab_cpl_is_error(&ctx.cpl));
	assert_memory_equal(ft.disk + 100 * 512, out, len);

	off = 0;
	for (int i = 0; i < pieces; i++) {
		size_t l = i == pieces - 1 ? len - off : len / (size_t)pieces - (size_t)i * 4;

		iov[i].iov_base = in + off;
		iov[i].iov_len = l;
		off += l;
	}
	memset(&ctx, 0, sizeof(ctx));
	assert_int_equal(nvfab_read(qp, ns, 100, nblocks, iov, pieces, 0, io_cb, &ctx), 0);
	wait_io(qp, &ctx);
	assert_false(nvfab_cpl_is_error(&ctx.cpl));
	assert_memory_equal(in, out, len);
	assert_int_equal(nvfab_qpair_outstanding(qp), 0);
	nvfab_qpair_destroy(qp);
	free(out);
	free(in);
}

static void test_small_write_in_capsule(void **state)
{
	struct nvfab_ctrlr *c;

	(void)state;
	go();
	c = ft_connect(NULL);
	write_read_check(c, 4, 1, false);
	assert_int_equal(atomic_load(&ft.icd_writes), 1);
	assert_int_equal(atomic_load(&ft.r2ts_sent), 0);
	/* 8 KiB is exactly the in-capsule limit. */
	write_read_check(c, 16, 2, true);
	assert_int_equal(atomic_load(&ft.icd_writes), 2);
	nvfab_ctrlr_disconnect(c);
}

static void test_large_write_r2t(void **state)
{
	struct nvfab_ctrlr *c;

	(void)state;
	go();
	c = ft_connect(NULL);
	write_read_check(c, 256, 3, false); /* 128 KiB: 4 R2Ts of 32 KiB, H2CData of 8 KiB */
	assert_int_equal(atomic_load(&ft.icd_writes), 0);
	assert_int_equal(atomic_load(&ft.r2ts_sent), 4);
	assert_int_equal(atomic_load(&ft.max_h2c_seen), 8192);
	write_read_check(c, 17, 5, false); /* just above the in-capsule limit */
	nvfab_ctrlr_disconnect(c);
}

static void test_c2h_success_flag(void **state)
{
	struct nvfab_ctrlr *c;

	(void)state;
	ft.c2h_success = true;
	go();
	c = ft_connect(NULL);
	write_read_check(c, 64, 4, false);
	write_read_check(c, 1, 1, false);
	nvfab_ctrlr_disconnect(c);
}

/*
 * Pipelining of large reads: a command that a completion callback submits under batching
 * leaves while the poll still reads the next large responses, not after the whole stream was
 * read. Otherwise the controller runs dry at the end of every round (128 KiB reads at QD8 went
 * in lock step, 0.75x the throughput).
 */
#define PIPE_BLOCKS 64 /* 32 KiB: "large" PDUs for the receive machine */

struct pipe_ctx {
	struct nvfab_qpair *qp;
	const struct nvfab_ns *ns;
	uint8_t *buf;
	int io_cmds_before;
	int done;
	bool next_seen_in_time; /* the callback's command reached the target before poll ended */
	struct io_ctx next;
};

static void pipe_cb(void *arg, const struct nvfab_cpl *cpl)
{
	struct pipe_ctx *p = arg;
	struct iovec iov = {p->buf + (size_t)4 * PIPE_BLOCKS * 512, PIPE_BLOCKS * 512};

	assert_false(nvfab_cpl_is_error(cpl));
	if (++p->done == 1) {
		/* Like perf: the next command from the callback, held for the round's flush. */
		nvfab_qpair_batch_begin(p->qp);
		assert_int_equal(nvfab_read(p->qp, p->ns, 0, PIPE_BLOCKS, &iov, 1, 0, io_cb, &p->next), 0);
	} else if (p->done == 2) {
		/* Still inside the same poll: the target must already have that command. */
		uint64_t deadline = now_ms() + 2000;

		while (atomic_load(&ft.io_cmds) < p->io_cmds_before + 4 && now_ms() < deadline)
			;
		p->next_seen_in_time = atomic_load(&ft.io_cmds) >= p->io_cmds_before + 4;
	}
}

static void test_large_reads_pipeline(void **state)
{
	struct nvfab_ctrlr *c;
	struct nvfab_qpair *qp;
	struct nvfab_error err;
	struct pipe_ctx p = {0};
	struct io_ctx warm = {0};
	struct iovec iov;
	uint64_t deadline;
	int avail = 0;

	(void)state;
	ft.c2h_success = true;
	ft.c2h_chunk = 1 << 20; /* one C2HData PDU per read */
	go();
	c = ft_connect(NULL);
	qp = nvfab_qpair_create(c, NULL, &err);
	if (!qp)
		fail_msg("qpair: %s", err.msg);
	p.qp = qp;
	p.ns = nvfab_ctrlr_get_ns(c, 1);
	p.buf = malloc((size_t)5 * PIPE_BLOCKS * 512);
	assert_non_null(p.buf);
	/* A first large read puts the receive machine in its large-PDU mode. */
	iov = (struct iovec){p.buf, PIPE_BLOCKS * 512};
	assert_int_equal(nvfab_read(qp, p.ns, 0, PIPE_BLOCKS, &iov, 1, 0, io_cb, &warm), 0);
	wait_io(qp, &warm);

	p.io_cmds_before = atomic_load(&ft.io_cmds);
	nvfab_qpair_batch_begin(qp);
	for (int i = 0; i < 3; i++) {
		iov = (struct iovec){p.buf + (size_t)(i + 1) * PIPE_BLOCKS * 512, PIPE_BLOCKS * 512};
		assert_int_equal(nvfab_read(qp, p.ns, 0, PIPE_BLOCKS, &iov, 1, 0, pipe_cb, &p), 0);
	}
	assert_int_equal(nvfab_qpair_flush(qp), 0);
	/* All three responses wait in the socket before the poll that reads them. */
	deadline = now_ms() + 5000;
	while (avail < 3 * (24 + PIPE_BLOCKS * 512) && now_ms() < deadline)
		assert_int_equal(ioctl(nvfab_qpair_fd(qp), FIONREAD, &avail), 0);
	assert_true(avail >= 3 * (24 + PIPE_BLOCKS * 512));
	nvfab_qpair_process_completions(qp, 0);
	assert_int_equal(p.done, 3);
	assert_true(p.next_seen_in_time);
	assert_int_equal(nvfab_qpair_flush(qp), 0);
	wait_io(qp, &p.next);
	assert_false(nvfab_cpl_is_error(&p.next.cpl));
	nvfab_qpair_destroy(qp);
	nvfab_ctrlr_disconnect(c);
	free(p.buf);
}

static void test_digests(void **state)
{
	struct nvfab_ctrlr_opts o;
	struct nvfab_ctrlr *c;

	(void)state;
	ft.offer_digests = true;
	go();
	nvfab_ctrlr_opts_init(&o);
	o.hdgst = o.ddgst = true;
	c = ft_connect(&o);
	write_read_check(c, 8, 2, false);
	write_read_check(c, 200, 3, false);
	nvfab_ctrlr_disconnect(c);
}

static void test_connect_invalid_host(void **state)
{
	struct nvfab_trid t;
	struct nvfab_error err;

	(void)state;
	ft.reject_host = true;
	go();
	t = ft_trid(FT_SUBNQN);
	assert_null(nvfab_ctrlr_connect(&t, NULL, &err));
	assert_int_equal(err.err, -EACCES);
	assert_int_equal(NVFAB_STATUS_SCT(err.status), 1);
	assert_int_equal(NVFAB_STATUS_SC(err.status), 0x84);
	assert_true(NVFAB_STATUS_DNR(err.status));
	assert_non_null(strstr(err.msg, "not allowed"));
	assert_non_null(strstr(err.msg, "Connect Invalid Host"));
}

static void test_subsystem_not_found(void **state)
{
	struct nvfab_trid t;
	struct nvfab_error err;

	(void)state;
	go();
	t = ft_trid("nqn.2024-01.io.nvfab:nope");
	assert_null(nvfab_ctrlr_connect(&t, NULL, &err));
	assert_int_equal(err.err, -ENOENT);
	assert_non_null(strstr(err.msg, "nqn.2024-01.io.nvfab:nope not found"));
	assert_non_null(strstr(err.msg, "IPO=256"));
}

static void test_connect_refused(void **state)
{
	struct nvfab_trid t;
	struct nvfab_error err;

	(void)state;
	go();
	t = ft_trid(FT_SUBNQN);
	fake_target_stop(&ft); /* nothing listens on the port any more */
	assert_null(nvfab_ctrlr_connect(&t, NULL, &err));
	assert_int_equal(err.err, -ECONNREFUSED);
	assert_non_null(strstr(err.msg, "cannot connect"));
}

static void test_drop_fails_io(void **state)
{
	struct nvfab_ctrlr_opts o;
	struct nvfab_ctrlr *c;
	struct nvfab_qpair *qp;
	struct io_ctx ctx = {0};
	uint8_t buf[4096];
	struct iovec iov = {buf, sizeof(buf)};
	uint64_t deadline;

	(void)state;
	ft.drop_io_after = 1;
	go();
	nvfab_ctrlr_opts_init(&o);
	o.ctrl_loss_tmo_s = 0;
	c = ft_connect(&o);
	qp = nvfab_qpair_create(c, NULL, NULL);
	assert_non_null(qp);
	assert_int_equal(nvfab_read(qp, nvfab_ctrlr_get_ns(c, 1), 0, 8, &iov, 1, 0, io_cb, &ctx), 0);
	wait_io(qp, &ctx);
	assert_true(nvfab_cpl_is_error(&ctx.cpl));
	assert_int_equal(ctx.cpl.transport_err, -ECONNRESET);
	assert_int_equal(nvfab_cpl_errno(&ctx.cpl), -ECONNRESET);
	deadline = now_ms() + 1000;
	while (nvfab_qpair_process_completions(qp, 0) >= 0 && now_ms() < deadline)
		;
	assert_int_equal(nvfab_qpair_process_completions(qp, 0), -ENOTCONN);
	assert_int_equal(nvfab_read(qp, nvfab_ctrlr_get_ns(c, 1), 0, 8, &iov, 1, 0, io_cb, &ctx),
			 -ENOTCONN);
	nvfab_qpair_destroy(qp);
	nvfab_ctrlr_disconnect(c);
}

static void test_protocol_error(void **state)
{
	struct nvfab_ctrlr_opts o;
	struct nvfab_ctrlr *c;
	struct nvfab_qpair *qp;
	struct io_ctx ctx = {0};
	uint8_t buf[4096];
	struct iovec iov = {buf, sizeof(buf)};
	uint64_t deadline;

	(void)state;
	ft.bad_c2h = true;
	go();
	nvfab_ctrlr_opts_init(&o);
	o.ctrl_loss_tmo_s = 0;
	c = ft_connect(&o);
	qp = nvfab_qpair_create(c, NULL, NULL);
	assert_non_null(qp);
	assert_int_equal(nvfab_read(qp, nvfab_ctrlr_get_ns(c, 1), 0, 8, &iov, 1, 0, io_cb, &ctx), 0);
	wait_io(qp, &ctx);
	assert_int_equal(ctx.cpl.transport_err, -EPROTO);
	/* The host told the controller why it hung up. */
	deadline = now_ms() + 2000;
	while (atomic_load(&ft.term_reqs) == 0 && now_ms() < deadline)
		;
	assert_int_equal(atomic_load(&ft.term_reqs), 1);
	assert_int_equal(nvfab_qpair_process_completions(qp, 0), -ENOTCONN);
	nvfab_qpair_destroy(qp);
	nvfab_ctrlr_disconnect(c);
}

static void test_reconnect_resubmits(void **state)
{
	struct nvfab_ctrlr_opts o;
	struct nvfab_ctrlr *c;
	struct nvfab_qpair *qp;
	struct io_ctx ctx = {0};
	uint8_t buf[4096];
	struct iovec iov = {buf, sizeof(buf)};

	(void)state;
	ft.drop_io_after = 1;
	go();
	nvfab_ctrlr_opts_init(&o);
	o.ctrl_loss_tmo_s = 10;
	o.reconnect_delay_s = 0; /* first attempt at once */
	c = ft_connect(&o);
	qp = nvfab_qpair_create(c, NULL, NULL);
	assert_non_null(qp);
	fill(buf, sizeof(buf), 7);
	assert_int_equal(nvfab_write(qp, nvfab_ctrlr_get_ns(c, 1), 40, 8, &iov, 1, 0, io_cb, &ctx), 0);
	wait_io(qp, &ctx);
	assert_false(nvfab_cpl_is_error(&ctx.cpl));
	assert_memory_equal(ft.disk + 40 * 512, buf, sizeof(buf));
	assert_int_equal(atomic_load(&ft.connects), 3); /* admin, I/O, I/O again */
	nvfab_qpair_destroy(qp);
	nvfab_ctrlr_disconnect(c);
}

/* Two targets stand for two listeners of one subsystem (same NSIDs and sizes). */
static void test_failover_to_second_path(void **state)
{
	struct fake_target b;
	struct nvfab_ctrlr_opts o;
	struct nvfab_trid pa, pb, other, t;
	struct nvfab_ctrlr *c;
	struct nvfab_qpair *qp;
	struct io_ctx ctx = {0};
	uint8_t buf[4096];
	struct iovec iov = {buf, sizeof(buf)};
	uint64_t deadline;

	(void)state;
	go();
	fake_target_defaults(&b);
	assert_int_equal(fake_target_start(&b), 0);
	nvfab_ctrlr_opts_init(&o);
	o.ctrl_loss_tmo_s = 10;
	o.reconnect_delay_s = 1;
	c = ft_connect(&o);
	pa = ft_trid(FT_SUBNQN);
	pb = pa;
	snprintf(pb.trsvcid, sizeof(pb.trsvcid), "%u", b.port);
	other = pb;
	snprintf(other.subnqn, sizeof(other.subnqn), "%s", "nqn.2024-01.io.nvfab:other");

	assert_int_equal(nvfab_ctrlr_add_path(c, &other, NULL), -EINVAL);
	assert_int_equal(nvfab_ctrlr_add_path(c, &pb, NULL), 0);
	assert_int_equal(nvfab_ctrlr_add_path(c, &pb, NULL), -EEXIST);
	assert_int_equal(nvfab_ctrlr_num_paths(c), 2);
	assert_int_equal(nvfab_ctrlr_get_path(c, 0, &t), 0);
	assert_string_equal(t.trsvcid, pa.trsvcid);
	assert_int_equal(nvfab_ctrlr_get_path(c, 1, &t), 0);
	assert_string_equal(t.trsvcid, pb.trsvcid);
	assert_int_equal(nvfab_ctrlr_get_path(c, 2, &t), -ENOENT);
	assert_int_equal(nvfab_ctrlr_remove_path(c, &pa), -EBUSY); /* in use */
	assert_int_equal(atomic_load(&b.connects), 1);             /* the check's admin queue */

	qp = nvfab_qpair_create(c, NULL, NULL);
	assert_non_null(qp);
	fake_target_stop(&ft); /* path A goes away with its connections */
	fill(buf, sizeof(buf), 9);
	assert_int_equal(nvfab_write(qp, nvfab_ctrlr_get_ns(c, 1), 16, 8, &iov, 1, 0, io_cb, &ctx), 0);
	deadline = now_ms() + 5000;
	while (!ctx.done && now_ms() < deadline) {
		nvfab_ctrlr_process_admin(c);
		nvfab_qpair_process_completions(qp, 0);
	}
	assert_true(ctx.done);
	assert_false(nvfab_cpl_is_error(&ctx.cpl));
	assert_memory_equal(b.disk + 16 * 512, buf, sizeof(buf)); /* written through path B */
	assert_int_equal(nvfab_ctrlr_get_path(c, 0, &t), 0);
	assert_string_equal(t.trsvcid, pb.trsvcid);
	assert_int_equal(nvfab_ctrlr_remove_path(c, &pa), 0);
	assert_int_equal(nvfab_ctrlr_num_paths(c), 1);
	nvfab_qpair_destroy(qp);
	nvfab_ctrlr_disconnect(c);
	fake_target_stop(&b);
}

static void test_queue_limits(void **state)
{
	struct nvfab_qpair_opts qo = {.queue_size = 4};
	const struct nvfab_ns *ns;
	struct nvfab_ctrlr *c;
	struct nvfab_qpair *qp;
	struct io_ctx ctx[4] = {0};
	static uint8_t buf[256 * 1024];
	struct iovec iov = {buf, 4096};
	struct iovec big = {buf, 128 * 1024 + 512};
	struct iovec two[2] = {{buf, 4096}, {buf + 4096, 4096}};

	(void)state;
	go();
	c = ft_connect(NULL);
	ns = nvfab_ctrlr_get_ns(c, 1);
	qp = nvfab_qpair_create(c, &qo, NULL);
	assert_non_null(qp);
	for (int i = 0; i < 3; i++)
		assert_int_equal(nvfab_read(qp, ns, 0, 8, &iov, 1, 0, io_cb, &ctx[i]), 0);
	assert_int_equal(nvfab_read(qp, ns, 0, 8, &iov, 1, 0, io_cb, &ctx[3]), -EAGAIN);
	for (int i = 0; i < 3; i++)
		wait_io(qp, &ctx[i]);
	assert_int_equal(nvfab_read(qp, ns, 0, 257, &big, 1, 0, io_cb, &ctx[3]), -EINVAL); /* > MDTS */
	assert_int_equal(nvfab_read(qp, ns, 0, 8, two, 2, 0, io_cb, &ctx[3]), -EINVAL);  /* 8K != 4K */
	assert_int_equal(nvfab_read(qp, ns, 0, 0, &iov, 1, 0, io_cb, &ctx[3]), -EINVAL);
	/* The target's NVMe errors come back as status, not transport errors. */
	memset(&ctx[0], 0, sizeof(ctx[0]));
	assert_int_equal(nvfab_read(qp, ns, 8190, 8, &iov, 1, 0, io_cb, &ctx[0]), 0);
	wait_io(qp, &ctx[0]);
	assert_int_equal(ctx[0].cpl.transport_err, 0);
	assert_int_equal(NVFAB_STATUS_SC(ctx[0].cpl.status), NVME_SC_LBA_RANGE);
	assert_string_equal(nvfab_status_str(ctx[0].cpl.status), "LBA Out of Range");
	nvfab_qpair_destroy(qp);
	nvfab_ctrlr_disconnect(c);
}

static void test_other_commands(void **state)
{
	struct nvfab_dsm_range r[2] = {{0, 8, 0}, {0, 16, 64}};
	const struct nvfab_ns *ns;
	struct nvfab_ctrlr *c;
	struct nvfab_qpair *qp;
	struct io_ctx ctx = {0};

	(void)state;
	go();
	c = ft_connect(NULL);
	ns = nvfab_ctrlr_get_ns(c, 1);
	qp = nvfab_qpair_create(c, NULL, NULL);
	assert_int_equal(nvfab_flush(qp, ns, io_cb, &ctx), 0);
	wait_io(qp, &ctx);
	assert_false(nvfab_cpl_is_error(&ctx.cpl));
	memset(&ctx, 0, sizeof(ctx));
	assert_int_equal(nvfab_write_zeroes(qp, ns, 0, 8, NVFAB_IO_DEAC, io_cb, &ctx), 0);
	wait_io(qp, &ctx);
	assert_false(nvfab_cpl_is_error(&ctx.cpl));
	memset(&ctx, 0, sizeof(ctx));
	assert_int_equal(nvfab_deallocate(qp, ns, r, 2, io_cb, &ctx), 0);
	wait_io(qp, &ctx);
	assert_false(nvfab_cpl_is_error(&ctx.cpl));
	assert_int_equal(nvfab_deallocate(qp, ns, r, 0, io_cb, &ctx), -EINVAL);
	nvfab_qpair_destroy(qp);
	nvfab_ctrlr_disconnect(c);
}

static void test_sync_split(void **state)
{
	const size_t nblocks = 1200, len = nblocks * 512; /* 600 KiB: 5 commands of <= 128 KiB */
	uint8_t *out = malloc(len), *in = malloc(len);
	struct nvfab_ctrlr *c;
	struct nvfab_qpair *qp;
	const struct nvfab_ns *ns;
	struct nvfab_cpl cpl;

	(void)state;
	go();
	c = ft_connect(NULL);
	ns = nvfab_ctrlr_get_ns(c, 1);
	qp = nvfab_qpair_create(c, NULL, NULL);
	fill(out, len, 3);
	assert_int_equal(nvfab_write_sync(qp, ns, 10, nblocks, out, 0, &cpl), 0);
	assert_int_equal(atomic_load(&ft.io_cmds), 5);
	assert_memory_equal(ft.disk + 10 * 512, out, len);
	assert_int_equal(nvfab_read_sync(qp, ns, 10, nblocks, in, 0, &cpl), 0);
	assert_memory_equal(in, out, len);
	assert_int_equal(nvfab_compare_sync(qp, ns, 10, nblocks, out, 0, &cpl), 0);
	out[len - 1] ^= 1;
	assert_int_equal(nvfab_compare_sync(qp, ns, 10, nblocks, out, 0, &cpl), -EIO);
	assert_int_equal(NVFAB_STATUS_SCT(cpl.status), NVME_SCT_MEDIA);
	assert_int_equal(NVFAB_STATUS_SC(cpl.status), NVME_SC_COMPARE_FAILED);
	assert_int_equal(nvfab_read_sync(qp, ns, 8000, 300, in, 0, &cpl), -EIO); /* LBA range */
	assert_int_equal(nvfab_flush_sync(qp, ns, &cpl), 0);
	nvfab_qpair_destroy(qp);
	nvfab_ctrlr_disconnect(c);
	free(out);
	free(in);
}

static void test_keep_alive(void **state)
{
	struct nvfab_ctrlr_opts o;
	struct nvfab_ctrlr *c;
	uint64_t end;

	(void)state;
	go();
	nvfab_ctrlr_opts_init(&o);
	o.kato_ms = 100;
	c = ft_connect(&o);
	end = now_ms() + 300;
	while (now_ms() < end) {
		assert_int_equal(nvfab_ctrlr_process_admin(c), 0);
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
	}
	assert_true(atomic_load(&ft.keep_alives) >= 3);
	nvfab_ctrlr_disconnect(c);
}

static void test_discovery(void **state)
{
	struct nvmf_discovery_log *log;
	struct nvfab_error err;
	struct nvfab_trid t;
	char s[128];

	(void)state;
	ft.disc_genctr_bumps = 1; /* the first snapshot is torn: must be read again */
	go();
	snprintf(s, sizeof(s), "trtype:TCP traddr:127.0.0.1 trsvcid:%u", ft.port);
	assert_int_equal(nvfab_trid_parse(&t, s, NULL, 0), 0);
	assert_int_equal(nvfab_discover(&t, NULL, &log, &err), 0);
	assert_int_equal(log->numrec, 2);
	assert_int_equal(log->genctr, 7);
	assert_string_equal(log->entries[1].subnqn, FT_SUBNQN);
	assert_int_equal(log->entries[1].subtype, NVME_NQN_NVME);
	assert_int_equal(ft.disc_reads, 4); /* header, header again: torn; then twice more */
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connect_identify, start_target, stop_target),
		cmocka_unit_test_setup_teardown(test_small_write_in_capsule, start_target, stop_target),
		cmocka_unit_test_setup_teardown(test_large_write_r2t, start_target, stop_target),
		cmocka_unit_test_setup_teardown(test_c2h_success_flag, start_target, stop_target),
		cmocka_unit_test_setup_teardown(test_large_reads_pipeline, start_target, stop_target),
		cmocka_unit_test_setup_teardown(test_digests, start_target, stop_target),
		cmocka_unit_test_setup_teardown(test_connect_invalid_host, start_target, stop_target),
		cmocka_unit_test_setup_teardown(test_subsystem_not_found, start_target, stop_target),
		cmocka_unit_test_setup_teardown(test_connect_refused, start_target, stop_target),
		cmocka_unit_test_setup_teardown(test_drop_fails_io, start_target, stop_target),
		cmocka_unit_test_setup_teardown(test_protocol_error, start_target, stop_target),
		cmocka_unit_test_setup_teardown(test_reconnect_resubmits, start_target, stop_target),
		cmocka_unit_test_setup_teardown(test_failover_to_second_path, start_target, stop_target),
		cmocka_unit_test_setup_teardown(test_queue_limits, start_target, stop_target),
		cmocka_unit_test_setup_teardown(test_other_commands, start_target, stop_target),
		cmocka_unit_test_setup_teardown(test_sync_split, start_target, stop_target),
		cmocka_unit_test_setup_teardown(test_keep_alive, start_target, stop_target),
		cmocka_unit_test_setup_teardown(test_discovery, start_target, stop_target),
	};

	nvfab_set_log_level(0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
