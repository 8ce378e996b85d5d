/*
 * The I/O generator: each worker keeps cfg.depth I/Os in flight on each device, picks offsets
 * (sequential or random, in io_size slots) and the direction (-M), records latency, and in
 * --verify mode writes a pattern embedding the LBA and a per-slot generation and checks it on
 * reads. With --verify the slots are split between workers and a slot never has two I/Os in
 * flight, so the expected content of every read is known.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "perf.h"
#include "util/evloop.h"

#define PERF_MAGIC 0x3156424146564e00ull /* "\0NVFABV1" */
#define PERF_MAX_PRINTED_ERRORS 5
#define PERF_DRAIN_NS 5000000000ull

uint64_t perf_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: cheap and good enough to spread offsets. */
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static uint64_t pattern_word(uint64_t lba, uint32_t gen, uint64_t i)
{
	return (lba * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)gen << 32) ^ (i * 0xbf58476d1ce4e5b9ull);
}

void perf_pattern_fill(uint8_t *buf, uint32_t block_size, uint32_t nblocks, uint64_t lba,
		       uint32_t gen)
{
	for (uint32_t b = 0; b < nblocks; b++) {
		uint64_t *w = (uint64_t *)(buf + (size_t)b * block_size);

		w[0] = PERF_MAGIC;
		w[1] = lba + b;
		w[2] = gen;
		for (uint32_t i = 3; i < block_size / 8; i++)
			w[i] = pattern_word(lba + b, gen, i);
	}
}

int perf_pattern_check(const uint8_t *buf, uint32_t block_size, uint32_t nblocks, uint64_t lba,
		       uint32_t gen, uint64_t *found_lba, uint32_t *found_gen)
{
	for (uint32_t b = 0; b < nblocks; b++) {
		const uint64_t *w = (const uint64_t *)(buf + (size_t)b * block_size);
		bool ok = w[0] == PERF_MAGIC && w[1] == lba + b && w[2] == gen;

		for (uint32_t i = 3; ok && i < block_size / 8; i++)
			ok = w[i] == pattern_word(lba + b, gen, i);
		if (!ok) {
			*found_lba = w[0] == PERF_MAGIC ? w[1] : UINT64_MAX;
			*found_gen = w[0] == PERF_MAGIC ? (uint32_t)w[2] : 0;
			return (int)b;
		}
	}
	return -1;
}

static void chan_error(struct perf_chan *ch, const char *fmt, const char *a, uint64_t lba,
		       const char *why)
{
	struct perf_run *run = ch->w->run;

	/* The message that a device stops always shows; routine errors only the first few. */
	if (ch->errors_printed++ >= PERF_MAX_PRINTED_ERRORS && !strstr(fmt, "stopping"))
		return;
	pthread_mutex_lock(&run->print_lock);
	fprintf(stderr, fmt, ch->dev->name, a, (unsigned long long)lba, why);
	if (ch->errors_printed == PERF_MAX_PRINTED_ERRORS)
		fprintf(stderr, "perf: %s: further errors on this worker not shown\n", ch->dev->name);
	pthread_mutex_unlock(&run->print_lock);
}

static void verify_read(struct perf_chan *ch, struct perf_io *io)
{
	uint32_t expect = ch->gens[io->slot], found_gen;
	uint64_t found_lba;
	char why[160];
	int bad;

	if (expect == 0)
		return; /* never written by this run: content unknown */
	bad = perf_pattern_check(io->iov.iov_base, ch->dev->block_size, io->nblocks, io->lba, expect,
				 &found_lba, &found_gen);
	if (bad < 0)
		return;
	ch->verify_errors++;
	if (found_lba == UINT64_MAX)
		snprintf(why, sizeof(why), "expected generation %u, found no nvfab pattern", expect);
	else
		snprintf(why, sizeof(why), "expected lba %llu generation %u, found lba %llu generation %u",
			 (unsigned long long)(io->lba + (uint64_t)bad), expect,
			 (unsigned long long)found_lba, found_gen);
	chan_error(ch, "perf: %s: verify %s at lba %llu: %s\n", "mismatch", io->lba + (uint64_t)bad,
		   why);
}

void perf_io_done(struct perf_io *io, int err, const char *why)
{
	struct perf_chan *ch = io->ch;
	bool record = !ch->w->stopping;

	ch->inflight--;
	if (ch->busy)
		ch->busy[io->slot] = 0;
	if (err) {
		if (ch->gens && !io->is_read)
			ch->gens[io->slot] = 0; /* a failed write leaves the slot unknown */
		if (err != -ECANCELED || record) {
			ch->errors++;
			chan_error(ch, "perf: %s: %s at lba %llu failed: %s\n",
				   io->is_read ? "read" : "write", io->lba, why ? why : strerror(-err));
		}
	} else if (ch->gens && io->is_read) {
		verify_read(ch, io);
	}
	if (record) {
		uint64_t lat = perf_now_ns() - io->start_ns;

		host_hist_record(ch->hist, lat);
		if (io->is_read)
			ch->reads++;
		else
			ch->writes++;
		atomic_store_explicit(&ch->live_ios, ch->hist->count, memory_order_relaxed);
		atomic_store_explicit(&ch->live_lat_ns, ch->hist->sum, memory_order_relaxed);
	}
	ch->ready[ch->nready++] = io;
}

/* Picks the next slot; false when every slot of the channel has an I/O in flight. */
static bool pick_slot(struct perf_chan *ch, uint64_t *slot)
{
	struct perf_config *cfg = &ch->w->run->cfg;
	uint64_t k = cfg->random ? rng_next(&ch->rng) % ch->nslots : ch->seq_next++ % ch->nslots;

	if (!ch->busy) {
		*slot = k;
		return true;
	}
	for (uint64_t tries = 0; tries < ch->nslots; tries++, k = (k + 1) % ch->nslots) {
		if (!ch->busy[k]) {
			ch->busy[k] = 1;
			*slot = k;
			return true;
		}
	}
	return false;
}

/* Prepares and submits io. Returns 0, -EAGAIN (put back, retry later) or a fatal -errno. */
static int submit_one(struct perf_chan *ch, struct perf_io *io)
{
	struct perf_config *cfg = &ch->w->run->cfg;
	uint32_t per_io = cfg->io_size / ch->dev->block_size;
	uint64_t slot;
	int rc;

	if (!pick_slot(ch, &slot))
		return -EAGAIN;
	io->slot = slot;
	io->lba = (ch->slot_base + slot * ch->slot_stride) * per_io;
	io->nblocks = per_io;
	io->is_read = cfg->read_pct >= 100 ||
		      (cfg->read_pct > 0 && (int)(rng_next(&ch->rng) % 100) < cfg->read_pct);
	if (ch->gens && !io->is_read) {
		io->gen = ch->gens[slot] + 1 ? ch->gens[slot] + 1 : 1;
		ch->gens[slot] = io->gen;
		perf_pattern_fill(io->iov.iov_base, ch->dev->block_size, per_io, io->lba, io->gen);
	}
	io->start_ns = perf_now_ns();
	ch->inflight++;
	rc = ch->dev->ops->submit(ch, io);
	if (rc) {
		ch->inflight--;
		if (ch->busy)
			ch->busy[slot] = 0;
		if (ch->gens && !io->is_read)
			ch->gens[slot] = 0;
	}
	return rc;
}

static void submit_ready_noflush(struct perf_chan *ch)
{
	/* Bounded: a backend completing inline hands the I/O straight back to ready. */
	uint32_t budget = ch->w->run->cfg.depth;

	while (ch->nready && budget-- && !ch->dead) {
		struct perf_io *io = ch->ready[--ch->nready];
		int rc = submit_one(ch, io);

		if (rc == 0)
			continue;
		ch->ready[ch->nready++] = io;
		if (rc == -EAGAIN)
			break;
		ch->dead = true;
		chan_error(ch, "perf: %s: %s at lba %llu: %s; stopping this device\n", "submit",
			   io->lba, strerror(-rc));
	}
}

static void submit_ready(struct perf_chan *ch)
{
	submit_ready_noflush(ch);
	if (ch->dev->ops->flush)
		ch->dev->ops->flush(ch);
}

void perf_chan_resubmit(struct perf_chan *ch)
{
	if (!ch->w->stopping && !atomic_load_explicit(&ch->w->run->stop, memory_order_relaxed))
		submit_ready_noflush(ch);
}

static int chan_setup(struct perf_chan *ch)
{
	struct perf_config *cfg = &ch->w->run->cfg;
	struct perf_dev *dev = ch->dev;
	uint64_t total_slots = dev->num_blocks / (cfg->io_size / dev->block_size);
	uint32_t nworkers = cfg->threads;

	ch->rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)ch->w->id << 32) ^ (uint64_t)(uintptr_t)ch ^
		  perf_now_ns();
	if (cfg->verify) {
		/* Each worker owns every nworkers-th slot: no two workers touch one LBA. */
		ch->slot_base = (uint64_t)ch->w->id;
		ch->slot_stride = nworkers;
		ch->nslots = total_slots > ch->slot_base
				     ? (total_slots - ch->slot_base + nworkers - 1) / nworkers
				     : 0;
		ch->gens = calloc(ch->nslots ? ch->nslots : 1, sizeof(*ch->gens));
		ch->busy = calloc(ch->nslots ? ch->nslots : 1, 1);
		if (!ch->gens || !ch->busy)
			return -ENOMEM;
	} else {
		ch->slot_base = 0;
		ch->slot_stride = 1;
		ch->nslots = total_slots;
		/* Sequential workers start apart so that they do not chase each other. */
		ch->seq_next = total_slots / nworkers * (uint64_t)ch->w->id;
	}
	if (ch->nslots == 0)
		return -ENOSPC;
	ch->hist = malloc(sizeof(*ch->hist));
	ch->ios = calloc(cfg->depth, sizeof(*ch->ios));
	ch->ready = calloc(cfg->depth, sizeof(*ch->ready));
	if (!ch->hist || !ch->ios || !ch->ready ||
	    posix_memalign((void **)&ch->bufs, 4096, (size_t)cfg->depth * cfg->io_size))
		return -ENOMEM;
	host_hist_init(ch->hist);
	/* Without --verify writes carry whatever: make it not all zeros (compressing targets). */
	for (size_t i = 0; i < (size_t)cfg->depth * cfg->io_size / 8; i++)
		((uint64_t *)ch->bufs)[i] = rng_next(&ch->rng);
	for (uint32_t i = 0; i < cfg->depth; i++) {
		struct perf_io *io = &ch->ios[i];

		io->ch = ch;
		io->iov.iov_base = ch->bufs + (size_t)i * cfg->io_size;
		io->iov.iov_len = cfg->io_size;
		ch->ready[ch->nready++] = io;
	}
	return dev->ops->chan_init(ch);
}

static void chan_teardown(struct perf_chan *ch)
{
	if (ch->dev && ch->dev->ops)
		ch->dev->ops->chan_fini(ch);
	free(ch->ios);
	free(ch->ready);
	free(ch->bufs);
	free(ch->gens);
	free(ch->busy);
	ch->ios = NULL;
	ch->ready = NULL;
	ch->bufs = NULL;
	ch->gens = NULL;
	ch->busy = NULL;
}

static void pin(struct perf_worker *w)
{
	cpu_set_t set;

	if (w->cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
		fprintf(stderr, "perf: worker %d: cannot pin to cpu %d\n", w->id, w->cpu);
}

static bool all_dead(struct perf_worker *w)
{
	for (uint32_t i = 0; i < w->nchans; i++)
		if (!w->chans[i].dead)
			return false;
	return true;
}

static void poll_all(struct perf_worker *w, int timeout_ms)
{
	struct perf_config *cfg = &w->run->cfg;

	if (cfg->epoll)
		evloop_run_once(w->loop, timeout_ms);
	else if (w->has_local)
		evloop_run_once(w->loop, 0);
	for (uint32_t i = 0; i < w->nchans; i++) {
		struct perf_chan *ch = &w->chans[i];

		if (!ch->dead && ch->dev->ops->poll(ch) < 0)
			ch->dead = true;
	}
}

void *perf_worker_main(void *arg)
{
	struct perf_worker *w = arg;
	struct perf_run *run = w->run;
	uint64_t drain_end;
	uint32_t i;
	int rc = 0;

	pin(w);
	w->loop = evloop_create("perf");
	if (!w->loop)
		rc = -ENOMEM;
	else
		evloop_set_adaptive_poll(w->loop, run->cfg.poll_us);
	for (i = 0; i < w->nchans && rc == 0; i++) {
		rc = chan_setup(&w->chans[i]);
		if (rc) {
			pthread_mutex_lock(&run->print_lock);
			fprintf(stderr, "perf: worker %d: %s: %s\n", w->id, w->chans[i].dev->name,
				rc == -ENOSPC ? "device smaller than one I/O per worker"
					      : strerror(-rc));
			pthread_mutex_unlock(&run->print_lock);
		}
	}
	if (rc) {
		w->rc = rc;
		atomic_fetch_add(&run->failed, 1);
		goto out;
	}
	atomic_fetch_add(&run->ready, 1);
	while (!atomic_load(&run->go) && !atomic_load(&run->stop))
		sched_yield();

	while (!atomic_load_explicit(&run->stop, memory_order_relaxed)) {
		bool ready = false;

		for (i = 0; i < w->nchans; i++) {
			submit_ready(&w->chans[i]);
			ready |= w->chans[i].nready > 0;
		}
		/* Sleep (epoll mode) only when nothing is waiting to go out. */
		poll_all(w, ready ? 0 : 100);
		if (all_dead(w))
			break;
	}
	/* Let what is in flight finish, unrecorded, so that queues close cleanly. */
	w->stopping = true;
	drain_end = perf_now_ns() + PERF_DRAIN_NS;
	for (;;) {
		bool busy = false;

		for (i = 0; i < w->nchans; i++)
			busy |= !w->chans[i].dead && w->chans[i].inflight > 0;
		if (!busy || perf_now_ns() > drain_end)
			break;
		poll_all(w, 10);
	}
	for (i = 0; i < w->nchans; i++)
		if (w->chans[i].dead)
			w->rc = -EIO;
out:
	for (i = 0; i < w->nchans; i++)
		chan_teardown(&w->chans[i]);
	if (w->loop)
		evloop_destroy(w->loop);
	w->loop = NULL;
	return NULL;
}
