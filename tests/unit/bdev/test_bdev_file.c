/* File backend (io_uring) on regular files in a temporary directory. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "bdev_test.h"
#include "bdev/bdev_file.h"
#include "bdev/bdev_internal.h"

struct fixture {
	char dir[256];
	char path[300];
	struct evloop *loop;
};

static struct fixture fx;

static void make_file(const char *path, off_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

static void read_file(const char *path, off_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static void write_file(const char *path, off_t off, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

/* Set when the SQE in flight used O_DIRECT (bdev_file_io.c, priv[2]). */
#define IO_FLAG_DIRECT (1ull << 8)

static bool memory_backed(const char *dir)
{
	struct statfs sfs;

	return statfs(dir, &sfs) == 0 && (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC);
}

/* Whether the bdev uses O_DIRECT in the temp directory: its file system takes it, and holds
 * data on a device (memory-backed files are copied synchronously instead). */
static bool direct_supported(void)
{
	int fd;

	if (memory_backed(fx.dir))
		return false;
	fd = open(fx.path, O_RDWR | O_DIRECT | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Whether O_DIRECT refuses a byte-aligned buffer on written (not hole) blocks at off. */
static bool misaligned_direct_refused(int fd, off_t off)
{
	uint8_t *raw = xaligned(4096, 8192);
	bool refused = pread(fd, raw + 3, 4096, off) < 0 && errno == EINVAL;

	free(raw);
	return refused;
}

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	snprintf(fx.dir, sizeof(fx.dir), "%s/nvfab-bdev-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(fx.dir));
	snprintf(fx.path, sizeof(fx.path), "%s/disk", fx.dir);
	fx.loop = evloop_create("bdev-test");
	assert_non_null(fx.loop);
	return 0;
}

static int teardown(void **state)
{
	char other[320];

	(void)state;
	bdev_destroy_all();
	evloop_destroy(fx.loop);
	unlink(fx.path);
	snprintf(other, sizeof(other), "%s/odd", fx.dir);
	unlink(other);
	assert_int_equal(rmdir(fx.dir), 0);
	return 0;
}

static struct bdev_channel *open_disk(uint64_t size, uint32_t bs, struct bdev **out)
{
	struct bdev_channel *ch;

	make_file(fx.path, (off_t)size);
	assert_int_equal(bdev_file_create("f", fx.path, bs, NULL, out), 0);
	ch = bdev_channel_create(*out, fx.loop);
	assert_non_null(ch);
	return ch;
}

static void file_rw(uint32_t bs)
{
	static const size_t wsplit[] = {4096, 8192, 4096};
	static const size_t rsplit[] = {8192, 4096};
	const uint64_t nblk = 32768 / bs, off = 7 * 4096 / bs;
	size_t len = nblk * bs;
	uint8_t *wbuf = xaligned(4096, len), *rbuf = xaligned(4096, len), *fbuf = malloc(len);
	struct iovec wiov[4], riov[2];
	struct bdev_channel *ch;
	struct bdev *bdev;
	int n;

	ch = open_disk(4u << 20, bs, &bdev);
	assert_string_equal(bdev->ops->product_name, "URING bdev");
	assert_string_equal(bdev->ops->driver_name, "uring");
	assert_int_equal(bdev->block_size, bs);
	assert_int_equal(bdev->num_blocks, (4u << 20) / bs);
	assert_true(bdev->write_cache);
	/* mapped only on a memory-backed file system (a TMPDIR on tmpfs) */
	assert_int_equal(bdev_map(bdev, 0, bs) != NULL, bdev_file_get(bdev)->inline_io);

	fill_pattern(wbuf, len, bs);
	n = split_iov(wiov, wbuf, len, wsplit, 4);
	assert_int_equal(n, 4);
	assert_int_equal(tio_run(fx.loop, ch, BDEV_IO_WRITE, off, nblk, wiov, n, false), 0);
	n = split_iov(riov, rbuf, len, rsplit, 2);
	assert_int_equal(tio_run(fx.loop, ch, BDEV_IO_READ, off, nblk, riov, n, false), 0);
	assert_memory_equal(rbuf, wbuf, len);
	/* the bytes are in the file, where a restart would find them */
	assert_int_equal(tio_run(fx.loop, ch, BDEV_IO_FLUSH, 0, 0, NULL, 0, false), 0);
	read_file(fx.path, (off_t)(off * bs), fbuf, len);
	assert_memory_equal(fbuf, wbuf, len);

	bdev_channel_destroy(ch);
	free(wbuf);
	free(rbuf);
	free(fbuf);
}

static void test_file_rw_512(void **state)
{
	(void)state;
	file_rw(512);
}

static void test_file_rw_4096(void **state)
{
	(void)state;
	file_rw(4096);
}

/* Buffers at odd addresses and lengths cannot go O_DIRECT; they must still be correct. */
static void test_file_unaligned_buffers(void **state)
{
	static const size_t split[] = {1, 511, 1000, 3000};
	size_t len = 16 * 512;
	uint8_t *wraw = malloc(len + 8), *rraw = malloc(len + 8);
	uint8_t *wbuf = wraw + 3, *rbuf = rraw + 5;
	struct iovec wiov[5], riov[5];
	struct bdev_channel *ch;
	struct bdev *bdev;
	struct tio t;
	int n;

	(void)state;
	ch = open_disk(1u << 20, 512, &bdev);
	assert_int_equal(bdev_file_get(bdev)->fd_direct >= 0, direct_supported());
	fill_pattern(wbuf, len, 77);
	n = split_iov(wiov, wbuf, len, split, 5);
	assert_int_equal(tio_submit(ch, &t, BDEV_IO_WRITE, 3, 16, wiov, n, true), 0);
	tio_wait(fx.loop, &t);
	assert_int_equal(t.status, 0);
	assert_false(t.io.priv[2] & IO_FLAG_DIRECT); /* went through the page cache */
	n = split_iov(riov, rbuf, len, split + 1, 4);
	memset(rbuf, 0xcc, len);
	assert_int_equal(tio_run(fx.loop, ch, BDEV_IO_READ, 3, 16, riov, n, false), 0);
	assert_memory_equal(rbuf, wbuf, len);
	/* an aligned read of the same blocks sees the same data (page cache and direct agree) */
	{
		uint8_t *abuf = xaligned(4096, 16 * 512);
		struct iovec a = {abuf, 16 * 512};

		assert_int_equal(tio_submit(ch, &t, BDEV_IO_READ, 3, 16, &a, 1, false), 0);
		tio_wait(fx.loop, &t);
		assert_int_equal(t.status, 0);
		assert_memory_equal(abuf, wbuf, len);
		if (direct_supported())
			assert_true(t.io.priv[2] & IO_FLAG_DIRECT);
		free(abuf);
	}
	bdev_channel_destroy(ch);
	free(wraw);
	free(rraw);
}

static void zero_and_check(struct bdev_channel *ch, enum bdev_io_type type, uint32_t bs,
			   uint64_t nblocks, uint64_t zoff, uint64_t zn)
{
	size_t size = nblocks * bs;
	uint8_t *ref = malloc(size), *img = xaligned(4096, size);
	struct iovec iov = {img, size};

	fill_pattern(ref, size, zoff);
	write_file(fx.path, 0, ref, size);
	/* what the bdev caches (nothing here) must not hide the file's content either */
	memset(ref + zoff * bs, 0, zn * bs);
	assert_int_equal(tio_run(fx.loop, ch, type, zoff, zn, NULL, 0, false), 0);
	assert_int_equal(tio_run(fx.loop, ch, BDEV_IO_READ, 0, nblocks, &iov, 1, false), 0);
	assert_memory_equal(img, ref, size);
	free(ref);
	free(img);
}

static void test_file_zeroes(void **state)
{
	struct bdev_channel *ch;
	struct bdev *bdev;

	(void)state;
	ch = open_disk(1u << 20, 512, &bdev);
	zero_and_check(ch, BDEV_IO_WRITE_ZEROES, 512, 2048, 5, 17);
	zero_and_check(ch, BDEV_IO_UNMAP, 512, 2048, 8, 1024);
	zero_and_check(ch, BDEV_IO_UNMAP, 512, 2048, 0, 2048);
	bdev_channel_destroy(ch);
}

/* Forces the last resort (writing zeros) by declaring both fallocate modes missing. */
static void test_file_zeroes_fallback(void **state)
{
	struct bdev_channel *ch;
	struct bdev *bdev;
	struct bdev_file *f;

	(void)state;
	ch = open_disk(4u << 20, 4096, &bdev);
	f = (struct bdev_file *)bdev_file_get(bdev);
	assert_non_null(f);
	atomic_store(&f->no_zero_range, true);
	zero_and_check(ch, BDEV_IO_WRITE_ZEROES, 4096, 1024, 3, 700); /* > one zero chunk */
	atomic_store(&f->no_punch_hole, true);
	zero_and_check(ch, BDEV_IO_UNMAP, 4096, 1024, 1, 1);
	zero_and_check(ch, BDEV_IO_WRITE_ZEROES, 4096, 1024, 0, 1024);
	bdev_channel_destroy(ch);
}

/* An O_DIRECT rule the probe missed: the kernel refuses, the I/O is retried buffered. */
static void test_file_direct_refused(void **state)
{
	uint8_t *raw = malloc(8192 + 8), *buf = raw + 3, *rbuf = xaligned(4096, 8192);
	struct iovec iov = {buf, 8192}, riov = {rbuf, 8192};
	struct bdev_channel *ch;
	struct bdev *bdev;
	struct bdev_file *f;
	struct tio t;

	(void)state;
	ch = open_disk(1u << 20, 4096, &bdev);
	f = (struct bdev_file *)bdev_file_get(bdev);
	if (f->fd_direct < 0) {
		bdev_channel_destroy(ch);
		free(raw);
		free(rbuf);
		skip();
	}
	f->dio_align = 1; /* pretend anything goes */
	fill_pattern(buf, 8192, 31);
	assert_int_equal(tio_submit(ch, &t, BDEV_IO_WRITE, 4, 2, &iov, 1, false), 0);
	tio_wait(fx.loop, &t);
	assert_int_equal(t.status, 0);
	/* tmpfs takes anything "direct" (it is the page cache); ext4 refuses this buffer */
	if (misaligned_direct_refused(f->fd_direct, 4 * 4096))
		assert_false(t.io.priv[2] & IO_FLAG_DIRECT);
	assert_int_equal(tio_run(fx.loop, ch, BDEV_IO_READ, 4, 2, &riov, 1, false), 0);
	assert_memory_equal(rbuf, buf, 8192);
	bdev_channel_destroy(ch);
	free(raw);
	free(rbuf);
}

/* The file shrank under the bdev: a read across the new end stops short, resumes from the
 * middle of a segment, finds nothing more and fails instead of spinning. */
static void test_file_shrunk(void **state)
{
	static const size_t split[] = {3072, 5120};
	uint8_t *buf = xaligned(4096, 8192);
	struct iovec iov[2];
	struct bdev_channel *ch;
	struct bdev *bdev;
	int n;

	(void)state;
	ch = open_disk(1u << 20, 512, &bdev);
	assert_int_equal(truncate(fx.path, 4096 + 1536), 0);
	n = split_iov(iov, buf, 8192, split, 2);
	assert_int_equal(tio_run(fx.loop, ch, BDEV_IO_READ, 0, 16, iov, n, false), -EIO);
	bdev_channel_destroy(ch);
	free(buf);
}

static void test_file_fua_flush(void **state)
{
	uint8_t *buf = xaligned(4096, 8192), *fbuf = malloc(8192);
	struct iovec iov = {buf, 8192};
	struct bdev_channel *ch;
	struct bdev *bdev;

	(void)state;
	ch = open_disk(1u << 20, 4096, &bdev);
	fill_pattern(buf, 8192, 5);
	assert_int_equal(tio_run(fx.loop, ch, BDEV_IO_WRITE, 10, 2, &iov, 1, true), 0);
	read_file(fx.path, 10 * 4096, fbuf, 8192);
	assert_memory_equal(fbuf, buf, 8192);
	assert_int_equal(tio_run(fx.loop, ch, BDEV_IO_FLUSH, 0, 0, NULL, 0, false), 0);
	bdev_channel_destroy(ch);
	free(buf);
	free(fbuf);
}

/* A file on tmpfs is copied synchronously, without io_uring: same results, completed before
 * submit returns, FUA and Flush accepted, a file shrunk under the bdev still fails cleanly.
 * It is also mapped: bdev_map() shows what the writes stored, within the file only. */
static void test_file_memory_backed(void **state)
{
	static const size_t split[] = {4096, 8192, 4096};
	uint8_t *wbuf = xaligned(4096, 16384), *rbuf = xaligned(4096, 16384);
	char path[64];
	struct iovec wiov[4], riov[1] = {{rbuf, 16384}};
	struct bdev_channel *ch;
	struct bdev *bdev;
	struct tio t;
	int n;

	(void)state;
	if (!memory_backed("/dev/shm")) {
		skip();
		return;
	}
	snprintf(path, sizeof(path), "/dev/shm/nvfab-test-%d", (int)getpid());
	make_file(path, 1 << 20);
	assert_int_equal(bdev_file_create("m", path, 4096, NULL, &bdev), 0);
	assert_true(bdev_file_get(bdev)->inline_io);
	assert_true(bdev_file_get(bdev)->fd_direct < 0);
	ch = bdev_channel_create(bdev, fx.loop);
	assert_non_null(ch);
	fill_pattern(wbuf, 16384, 11);
	n = split_iov(wiov, wbuf, 16384, split, 4);
	/* complete inline: no loop iteration needed */
	assert_int_equal(tio_submit(ch, &t, BDEV_IO_WRITE, 3, 4, wiov, n, true), 0);
	assert_int_equal(t.completions, 1);
	assert_int_equal(t.status, 0);
	assert_int_equal(tio_submit(ch, &t, BDEV_IO_READ, 3, 4, riov, 1, false), 0);
	assert_int_equal(t.completions, 1);
	assert_int_equal(t.status, 0);
	assert_memory_equal(rbuf, wbuf, 16384);
	assert_true(bdev->map_may_fault);
	assert_non_null(bdev_map(bdev, 3 * 4096, 16384));
	assert_memory_equal(bdev_map(bdev, 3 * 4096, 16384), wbuf, 16384);
	assert_null(bdev_map(bdev, (1 << 20) - 4096, 8192));
	assert_null(bdev_map(bdev, (uint64_t)1 << 40, 4096));
	assert_int_equal(tio_run(fx.loop, ch, BDEV_IO_FLUSH, 0, 0, NULL, 0, false), 0);
	/* zeroing still goes through the ring */
	assert_int_equal(tio_run(fx.loop, ch, BDEV_IO_WRITE_ZEROES, 3, 1, NULL, 0, false), 0);
	assert_int_equal(tio_run(fx.loop, ch, BDEV_IO_READ, 3, 4, riov, 1, false), 0);
	assert_true(rbuf[0] == 0 && rbuf[4095] == 0);
	assert_memory_equal(rbuf + 4096, wbuf + 4096, 12288);
	assert_int_equal(truncate(path, 4096 * 5), 0);
	assert_int_equal(tio_run(fx.loop, ch, BDEV_IO_READ, 3, 4, riov, 1, false), -EIO);
	bdev_channel_destroy(ch);
	assert_int_equal(bdev_delete("m"), 0);
	unlink(path);
	free(wbuf);
	free(rbuf);
}

/* Far more I/O than the ring holds, all submitted before the loop runs once. */
static void test_file_overflow(void **state)
{
	enum { N = 1000 };
	struct tio *t = calloc(N, sizeof(*t));
	struct iovec *iov = calloc(N, sizeof(*iov));
	uint8_t *buf = xaligned(4096, (size_t)N * 4096), *rbuf = xaligned(4096, (size_t)N * 4096);
	struct bdev_channel *ch;
	struct bdev *bdev;

	(void)state;
	ch = open_disk((uint64_t)N * 4096, 4096, &bdev);
	fill_pattern(buf, (size_t)N * 4096, 11);
	for (int i = 0; i < N; i++) {
		iov[i] = (struct iovec){buf + (size_t)i * 4096, 4096};
		assert_int_equal(tio_submit(ch, &t[i], BDEV_IO_WRITE, (uint64_t)(N - 1 - i), 1,
					    &iov[i], 1, false), 0);
	}
	tio_wait_all(fx.loop, t, N, 100);
	for (int i = 0; i < N; i++)
		assert_int_equal(t[i].status, 0);
	for (int i = 0; i < N; i++) {
		iov[i] = (struct iovec){rbuf + (size_t)i * 4096, 4096};
		assert_int_equal(tio_submit(ch, &t[i], BDEV_IO_READ, (uint64_t)(N - 1 - i), 1,
					    &iov[i], 1, false), 0);
	}
	tio_wait_all(fx.loop, t, N, 100);
	for (int i = 0; i < N; i++)
		assert_int_equal(t[i].status, 0);
	assert_memory_equal(rbuf, buf, (size_t)N * 4096);
	bdev_channel_destroy(ch);
	free(t);
	free(iov);
	free(buf);
	free(rbuf);
}

/* A sleeping loop must be woken by the ring's eventfd, not by its timeout. */
static void test_file_event_driven(void **state)
{
	uint8_t *buf = xaligned(4096, 4096);
	struct iovec iov = {buf, 4096};
	struct bdev_channel *ch;
	struct bdev *bdev;
	struct tio t;
	uint64_t start;

	(void)state;
	ch = open_disk(1u << 20, 4096, &bdev);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(tio_submit(ch, &t, BDEV_IO_READ, (uint64_t)i, 1, &iov, 1, false),
				 0);
		start = evloop_now_ns();
		tio_wait_all(fx.loop, &t, 1, 3000);
		assert_int_equal(t.status, 0);
		assert_true(evloop_now_ns() - start < 1500000000ull);
	}
	bdev_channel_destroy(ch);
	free(buf);
}

static void test_file_busy_poll(void **state)
{
	uint8_t *buf = xaligned(4096, 4096);
	struct iovec iov = {buf, 4096};
	struct bdev_channel *ch;
	struct bdev *bdev;
	struct tio t;

	(void)state;
	ch = open_disk(1u << 20, 4096, &bdev);
	evloop_set_busy_poll(fx.loop, true);
	assert_int_equal(tio_submit(ch, &t, BDEV_IO_WRITE, 1, 1, &iov, 1, false), 0);
	tio_wait_all(fx.loop, &t, 1, 0);
	assert_int_equal(t.status, 0);
	evloop_set_busy_poll(fx.loop, false);
	bdev_channel_destroy(ch);
	free(buf);
}

/* Destroying a channel with I/O outstanding completes that I/O first. */
static void test_file_destroy_busy_channel(void **state)
{
	enum { N = 300 };
	struct tio *t = calloc(N, sizeof(*t));
	uint8_t *buf = xaligned(4096, 4096);
	struct iovec iov = {buf, 4096};
	struct bdev_channel *ch;
	struct bdev *bdev;

	(void)state;
	ch = open_disk(1u << 20, 4096, &bdev);
	for (int i = 0; i < N; i++)
		assert_int_equal(tio_submit(ch, &t[i], BDEV_IO_READ, (uint64_t)(i % 256), 1, &iov,
					    1, false), 0);
	bdev_channel_destroy(ch);
	for (int i = 0; i < N; i++)
		assert_int_equal(t[i].completions, 1);
	free(t);
	free(buf);
}

static void test_file_persists(void **state)
{
	uint8_t *buf = xaligned(4096, 4096), *rbuf = xaligned(4096, 4096);
	struct iovec iov = {buf, 4096}, riov = {rbuf, 4096};
	struct bdev_channel *ch;
	struct bdev *bdev;

	(void)state;
	ch = open_disk(1u << 20, 512, &bdev);
	fill_pattern(buf, 4096, 123);
	assert_int_equal(tio_run(fx.loop, ch, BDEV_IO_WRITE, 64, 8, &iov, 1, false), 0);
	bdev_channel_destroy(ch);
	assert_int_equal(bdev_delete("f"), 0);

	assert_int_equal(bdev_file_create("f", fx.path, 0, NULL, &bdev), 0);
	assert_int_equal(bdev->block_size, 512); /* regular files default to 512 */
	ch = bdev_channel_create(bdev, fx.loop);
	assert_int_equal(tio_run(fx.loop, ch, BDEV_IO_READ, 64, 8, &riov, 1, false), 0);
	assert_memory_equal(rbuf, buf, 4096);
	bdev_channel_destroy(ch);
	free(buf);
	free(rbuf);
}

static void test_file_create_errors(void **state)
{
	char odd[320];
	struct bdev *bdev;

	(void)state;
	snprintf(odd, sizeof(odd), "%s/odd", fx.dir);
	make_file(odd, 1000);
	assert_int_equal(bdev_file_create("e", odd, 512, NULL, &bdev), -EINVAL);
	assert_non_null(strstr(bdev_create_errmsg(), "not a multiple of the block size"));
	make_file(odd, 6144);
	assert_int_equal(bdev_file_create("e", odd, 512, NULL, &bdev), 0);
	assert_int_equal(bdev_delete("e"), 0);
	assert_int_equal(bdev_file_create("e", odd, 4096, NULL, &bdev), -EINVAL);
	make_file(odd, 0);
	assert_int_equal(bdev_file_create("e", odd, 512, NULL, &bdev), -EINVAL);
	assert_non_null(strstr(bdev_create_errmsg(), "empty"));
	make_file(odd, 8192);
	assert_int_equal(bdev_file_create("e", odd, 1000, NULL, &bdev), -EINVAL);
	assert_non_null(strstr(bdev_create_errmsg(), "block_size"));
	assert_int_equal(bdev_file_create("e", "/nonexistent/disk", 512, NULL, &bdev), -ENOENT);
	assert_int_equal(bdev_file_create("e", fx.dir, 512, NULL, &bdev), -EISDIR);
	assert_int_equal(bdev_file_create("e", "/dev/null", 512, NULL, &bdev), -EINVAL);
	assert_int_equal(bdev_file_create("e", "", 512, NULL, &bdev), -EINVAL);
	assert_int_equal(bdev_file_create("e", odd, 512, "bad-uuid", &bdev), -EINVAL);
	assert_null(bdev_first());
	assert_int_equal(bdev_file_create("e", odd, 512, NULL, &bdev), 0);
	assert_int_equal(bdev_file_create("e", odd, 512, NULL, NULL), -EEXIST);
	assert_int_equal(bdev_file_create_flavor("a", odd, 0, NULL, BDEV_FILE_AIO, &bdev), 0);
	assert_string_equal(bdev->ops->product_name, "AIO disk");
	assert_string_equal(bdev->ops->driver_name, "aio");
	assert_int_equal(bdev_file_create_flavor("x", odd, 0, NULL, BDEV_FILE_XNVME, &bdev), 0);
	assert_string_equal(bdev->ops->driver_name, "xnvme");
	assert_non_null(bdev_file_get(bdev));
}

/* NVMe passthrough needs an NVMe namespace's generic device; nothing else gets half-created.
 * (The data path runs on qemu's emulated SSD: tests/interop/passthru.sh.) */
static void test_passthru_create_errors(void **state)
{
	char plain[320];
	struct bdev *bdev = NULL;

	(void)state;
	snprintf(plain, sizeof(plain), "%s/odd", fx.dir); /* teardown removes it */
	make_file(plain, 8192);
	assert_int_equal(bdev_passthru_create("p", plain, false, NULL, &bdev), -EINVAL);
	assert_non_null(strstr(bdev_create_errmsg(), "not an NVMe generic character device"));
	assert_int_equal(bdev_passthru_create("p", "/dev/null", false, NULL, &bdev), -EINVAL);
	assert_non_null(strstr(bdev_create_errmsg(), "not an NVMe namespace's generic device"));
	assert_int_equal(bdev_passthru_create("p", "/nonexistent/ng0n1", false, NULL, &bdev),
			 -ENOENT);
	assert_non_null(strstr(bdev_create_errmsg(), "/nonexistent/ng0n1"));
	assert_int_equal(bdev_passthru_create("p", "", false, NULL, &bdev), -EINVAL);
	assert_int_equal(bdev_passthru_create("", plain, false, NULL, &bdev), -EINVAL);
	assert_null(bdev_first());
}

static void test_file_bad_io(void **state)
{
	uint8_t buf[4096];
	struct iovec iov = {buf, sizeof(buf)};
	struct bdev_channel *ch;
	struct bdev *bdev;
	struct tio t;

	(void)state;
	ch = open_disk(1u << 20, 4096, &bdev);
	assert_int_equal(tio_submit(ch, &t, BDEV_IO_READ, 256, 1, &iov, 1, false), -ERANGE);
	assert_int_equal(tio_submit(ch, &t, BDEV_IO_READ, 0, 2, &iov, 1, false), -EINVAL);
	assert_int_equal(t.completions, 0);
	/* nothing to do completes at once */
	assert_int_equal(tio_submit(ch, &t, BDEV_IO_UNMAP, 3, 0, NULL, 0, false), 0);
	assert_int_equal(t.completions, 1);
	assert_int_equal(t.status, 0);
	bdev_channel_destroy(ch);
	assert_null(bdev_channel_create(bdev, NULL));
}

static void test_iov_seek(void **state)
{
	struct iovec iov[4] = {{NULL, 100}, {NULL, 0}, {NULL, 50}, {NULL, 10}};
	uint64_t off;
	int idx;

	(void)state;
	bdev_file_iov_seek(iov, 4, 0, &idx, &off);
	assert_int_equal(idx, 0);
	assert_int_equal(off, 0);
	bdev_file_iov_seek(iov, 4, 99, &idx, &off);
	assert_int_equal(idx, 0);
	assert_int_equal(off, 99);
	bdev_file_iov_seek(iov, 4, 100, &idx, &off); /* skips the empty segment */
	assert_int_equal(idx, 2);
	assert_int_equal(off, 0);
	bdev_file_iov_seek(iov, 4, 155, &idx, &off);
	assert_int_equal(idx, 3);
	assert_int_equal(off, 5);
	bdev_file_iov_seek(iov, 4, 160, &idx, &off);
	assert_int_equal(idx, 4);
	assert_int_equal(off, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iov_seek),
		cmocka_unit_test_setup_teardown(test_file_rw_512, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_rw_4096, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_unaligned_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_zeroes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_zeroes_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_direct_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_shrunk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_fua_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_memory_backed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_event_driven, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_busy_poll, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_destroy_busy_channel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_persists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_create_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_bad_io, setup, teardown),
		cmocka_unit_test_setup_teardown(test_passthru_create_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
