/* Helpers shared by the bdev unit tests: I/O with completion tracking, patterns, temp dirs. */
#ifndef NVFAB_TESTS_BDEV_TEST_H
#define NVFAB_TESTS_BDEV_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bdev/bdev.h"
#include "util/evloop.h"

struct tio {
	struct bdev_io io;
	int status;
	int completions; /* exactly one is the contract */
};

static inline void tio_cb(struct bdev_io *io, int status)
{
	struct tio *t = container_of(io, struct tio, io);

	t->status = status;
	t->completions++;
}

static inline int tio_submit(struct bdev_channel *ch, struct tio *t, enum bdev_io_type type,
			     uint64_t offset_blocks, uint64_t num_blocks, struct iovec *iov,
			     int iovcnt, bool fua)
{
	memset(t, 0, sizeof(*t));
	t->io.type = type;
	t->io.fua = fua;
	t->io.offset_blocks = offset_blocks;
	t->io.num_blocks = num_blocks;
	t->io.iov = iov;
	t->io.iovcnt = iovcnt;
	t->io.cb = tio_cb;
	t->status = 1;
	return bdev_submit(ch, &t->io);
}

/* Runs the loop until every one of n I/Os completed; fails the test after 5 s. */
static inline void tio_wait_all(struct evloop *loop, struct tio *t, size_t n, int timeout_ms)
{
	uint64_t deadline = evloop_now_ns() + 5000000000ull;
	size_t done = 0;

	for (;;) {
		done = 0;
		for (size_t i = 0; i < n; i++)
			done += t[i].completions ? 1 : 0;
		if (done == n || evloop_now_ns() > deadline)
			break;
		evloop_run_once(loop, timeout_ms);
	}
	assert_int_equal(done, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(t[i].completions, 1);
}

static inline void tio_wait(struct evloop *loop, struct tio *t)
{
	tio_wait_all(loop, t, 1, 100);
}

/* Submits and waits; returns the completion status. */
static inline int tio_run(struct evloop *loop, struct bdev_channel *ch, enum bdev_io_type type,
			  uint64_t offset_blocks, uint64_t num_blocks, struct iovec *iov,
			  int iovcnt, bool fua)
{
	struct tio t;

	assert_int_equal(tio_submit(ch, &t, type, offset_blocks, num_blocks, iov, iovcnt, fua), 0);
	tio_wait(loop, &t);
	return t.status;
}

static inline void *xaligned(size_t align, size_t size)
{
	void *p = NULL;

	assert_int_equal(posix_memalign(&p, align, size), 0);
	return p;
}

/* Deterministic content that differs per byte position and per seed. */
static inline void fill_pattern(void *buf, size_t len, uint64_t seed)
{
	uint8_t *b = buf;

	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)((seed * 131u + i * 7u + (i >> 9)) & 0xff);
}

static inline bool all_zero(const void *buf, size_t len)
{
	const uint8_t *b = buf;

	for (size_t i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

/* Splits buf into iovcnt segments of the given sizes (the last takes the rest). */
static inline int split_iov(struct iovec *iov, void *buf, size_t len, const size_t *sizes,
			    int n)
{
	uint8_t *p = buf;
	int i;

	for (i = 0; i < n - 1 && len > sizes[i]; i++) {
		iov[i].iov_base = p;
		iov[i].iov_len = sizes[i];
		p += sizes[i];
		len -= sizes[i];
	}
	iov[i].iov_base = p;
	iov[i].iov_len = len;
	return i + 1;
}

#endif
