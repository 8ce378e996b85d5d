/*
 * nvfab perf: one I/O generator (perf_worker.c) over a small device interface with two
 * implementations, remote namespaces through libnvfab (perf_remote.c) and local bdevs
 * (perf_local.c), so that the network path and the direct-attached baseline are measured by
 * the same code and the same histogram.
 */
#ifndef NVFAB_APPS_PERF_H
#define NVFAB_APPS_PERF_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "bdev/bdev.h"
#include "host/histogram.h"
#include "nvfab/nvfab.h"
#include "util/evloop.h"

#define PERF_MAX_DEVS 64
#define PERF_MAX_WORKERS 64
#define PERF_MAX_QPAIRS 64
#define PERF_MAX_SLOTS (64ull << 20) /* --verify keeps 5 bytes per I/O-sized slot */

struct perf_worker;
struct perf_chan;
struct perf_io;
struct perf_dev;

struct perf_config {
	uint32_t depth;          /* -q: outstanding I/Os per device per worker */
	uint32_t io_size;        /* -o */
	bool random;
	int read_pct;            /* 100 read, 0 write, else mixed */
	const char *workload;    /* as given to -w */
	uint32_t time_s;
	uint32_t threads;        /* -c */
	uint32_t qpairs;         /* -P: per device per worker (remote) */
	bool verify;
	bool epoll;              /* event-driven instead of busy polling */
	uint32_t poll_us;        /* epoll mode: adaptive polling window after work (0: off) */
	int cpus[PERF_MAX_WORKERS];
	int ncpus;               /* 0: not pinned */
	const char *json_path;
};

struct perf_dev_ops {
	const char *kind;
	/* On the worker's thread. */
	int (*chan_init)(struct perf_chan *ch);
	void (*chan_fini)(struct perf_chan *ch);
	/* 0, -EAGAIN (no room now: retry after a poll) or another -errno (the channel is dead). */
	int (*submit)(struct perf_chan *ch, struct perf_io *io);
	/* Reaps completions (each one calls perf_io_done()). < 0: the channel is dead. */
	int (*poll)(struct perf_chan *ch);
	/* Optional: sends what a round of submit() calls queued. */
	void (*flush)(struct perf_chan *ch);
};

struct perf_dev {
	char name[600];
	uint32_t nsid;
	uint32_t block_size;
	uint64_t num_blocks;
	uint32_t max_io;                 /* bytes per command */
	const struct perf_dev_ops *ops;
	const struct nvfab_ns *ns;       /* remote */
	struct nvfab_ctrlr *ctrlr;       /* remote */
	struct bdev *bdev;               /* local */
};

struct perf_io {
	struct perf_chan *ch;
	uint64_t lba;
	uint32_t nblocks;
	uint64_t slot;                   /* index into the channel's slots */
	uint32_t gen;
	bool is_read;
	uint64_t start_ns;
	struct iovec iov;
	struct bdev_io bio;              /* local */
};

/* One worker's view of one device: its queues, I/Os, statistics. */
struct perf_chan {
	struct perf_dev *dev;
	struct perf_worker *w;
	/* remote */
	struct nvfab_qpair *qps[PERF_MAX_QPAIRS];
	int qp_fd[PERF_MAX_QPAIRS];
	short qp_events[PERF_MAX_QPAIRS];
	struct evloop_handler qp_handler[PERF_MAX_QPAIRS];
	uint32_t nqps, next_qp;
	/* local */
	struct bdev_channel *bch;

	struct perf_io *ios;
	uint8_t *bufs;
	struct perf_io **ready;          /* I/Os waiting to be (re)submitted */
	uint32_t nready;
	uint32_t inflight;
	uint64_t nslots;                 /* this channel's slots (verify: its share) */
	uint64_t slot_base, slot_stride;
	uint64_t seq_next;
	uint32_t *gens;                  /* verify: generation written per slot, 0 = unknown */
	uint8_t *busy;                   /* verify: slot has an I/O in flight */
	uint64_t rng;
	atomic_bool dead;               /* read by the main thread too */

	struct host_hist *hist;
	uint64_t reads, writes, errors, verify_errors;
	int errors_printed;
	_Atomic uint64_t live_ios;       /* for the per-second line (relaxed) */
	_Atomic uint64_t live_lat_ns;
};

struct perf_worker {
	int id;
	int cpu;                         /* -1: not pinned */
	pthread_t thread;
	struct evloop *loop;
	struct perf_chan *chans;
	uint32_t nchans;
	bool has_local;
	struct perf_run *run;
	int rc;
	bool stopping;                   /* stop seen: drain without recording */
};

struct perf_run {
	struct perf_config cfg;
	struct perf_dev devs[PERF_MAX_DEVS];
	uint32_t ndevs;
	struct nvfab_ctrlr *ctrlrs[PERF_MAX_DEVS];
	uint32_t nctrlrs;
	struct perf_worker *workers;
	atomic_int ready;                /* workers set up */
	atomic_int failed;               /* workers that could not set up */
	atomic_bool go;
	atomic_bool stop;
	pthread_mutex_t print_lock;
};

extern const struct perf_dev_ops perf_remote_ops;
extern const struct perf_dev_ops perf_local_ops;

/* Called by the device ops for each completed I/O (err: 0 or -errno; why: for people). */
void perf_io_done(struct perf_io *io, int err, const char *why);
/*
 * From a completion callback: submits the I/O that are ready again, without flushing (the
 * device sends them when it sees fit, at the latest at the round's flush). A remote queue
 * then has its next command out while it still reads the previous large responses.
 */
void perf_chan_resubmit(struct perf_chan *ch);
void *perf_worker_main(void *arg);

/* Verify patterns (perf_worker.c; exposed for tests). */
void perf_pattern_fill(uint8_t *buf, uint32_t block_size, uint32_t nblocks, uint64_t lba,
		       uint32_t gen);
/* Returns -1 if all blocks match, else the index of the first bad block. */
int perf_pattern_check(const uint8_t *buf, uint32_t block_size, uint32_t nblocks, uint64_t lba,
		       uint32_t gen, uint64_t *found_lba, uint32_t *found_gen);

/* Local bdev from "ram:SIZE_MB[:BLOCK]", "null:SIZE_MB[:BLOCK]", "file:PATH[:BLOCK]". */
int perf_local_create(const char *spec, int index, struct perf_dev *dev, char *err,
		      size_t err_len);

/* Report (perf_report.c). */
void perf_report(struct perf_run *run, double elapsed_s);

uint64_t perf_now_ns(void);

#endif
