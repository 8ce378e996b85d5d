/*
 * RAM disk: one allocation holds every block; I/O is memcpy and completes inline. Large disks
 * are anonymous mappings so that memory is committed only when a block is first written, and
 * deallocation hands whole pages back to the kernel.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bdev/bdev_internal.h"
#include "util/log.h"

/* Below this a heap allocation is cheaper than a mapping. */
#define BDEV_MALLOC_MMAP_MIN (2u << 20)
/* Zeroing ranges at least this large drops whole pages instead of writing them. */
#define BDEV_MALLOC_DROP_MIN (64u << 10)

struct bdev_malloc {
	struct bdev bdev;
	uint8_t *buf;
	size_t size;
	size_t page_size;
	bool mapped;
};

/* SPDK names unnamed malloc bdevs Malloc0, Malloc1, ... with a counter that never goes back. */
static unsigned bdev_malloc_next_index;

static void bdev_malloc_zero(struct bdev_malloc *m, size_t off, size_t len)
{
	uint8_t *start = m->buf + off, *end = start + len;
	uintptr_t pmask = m->page_size - 1;
	uint8_t *pstart = (uint8_t *)(((uintptr_t)start + pmask) & ~pmask);
	uint8_t *pend = (uint8_t *)((uintptr_t)end & ~pmask);

	/* Private anonymous pages read back as zeros after MADV_DONTNEED, and stop using RAM. */
	if (m->mapped && len >= BDEV_MALLOC_DROP_MIN && pend > pstart &&
	    madvise(pstart, (size_t)(pend - pstart), MADV_DONTNEED) == 0) {
		memset(start, 0, (size_t)(pstart - start));
		memset(pend, 0, (size_t)(end - pend));
		return;
	}
	memset(start, 0, len);
}

static int bdev_malloc_submit(struct bdev_channel *ch, struct bdev_io *io)
{
	struct bdev_malloc *m = ch->bdev->ctx;
	size_t off = (size_t)io->offset_blocks * m->bdev.block_size;
	size_t len = (size_t)io->num_blocks * m->bdev.block_size;
	int rc = bdev_io_check(&m->bdev, io);

	if (rc)
		return rc;
	switch (io->type) {
	case BDEV_IO_READ:
		bdev_iov_from_buf(io->iov, io->iovcnt, m->buf + off, len);
		break;
	case BDEV_IO_WRITE:
		bdev_iov_to_buf(io->iov, io->iovcnt, m->buf + off, len);
		break;
	case BDEV_IO_WRITE_ZEROES:
	case BDEV_IO_UNMAP:
		bdev_malloc_zero(m, off, len);
		break;
	case BDEV_IO_FLUSH:
	case BDEV_IO_NVME: /* refused by bdev_io_check */
		break;
	}
	io->cb(io, 0);
	return 0;
}

static void *bdev_malloc_map(struct bdev *bdev, uint64_t offset, uint64_t len)
{
	struct bdev_malloc *m = bdev->ctx;

	if (offset > m->size || len > m->size - offset)
		return NULL;
	return m->buf + offset;
}

static void bdev_malloc_free(struct bdev_malloc *m)
{
	if (m->mapped)
		munmap(m->buf, m->size);
	else
		free(m->buf);
	free(m);
}

static void bdev_malloc_destroy(struct bdev *bdev)
{
	bdev_malloc_free(bdev->ctx);
}

static const struct bdev_ops bdev_malloc_ops = {
	.product_name = "Malloc disk",
	.driver_name = "malloc",
	.channel_create = bdev_plain_channel_create,
	.channel_destroy = bdev_plain_channel_destroy,
	.submit = bdev_malloc_submit,
	.map = bdev_malloc_map,
	.destroy = bdev_malloc_destroy,
	.dump_config = NULL, /* SPDK reports an empty driver_specific for malloc */
};

static int bdev_malloc_alloc(struct bdev_malloc *m, const char *name)
{
	if (m->size >= BDEV_MALLOC_MMAP_MIN) {
		void *p = mmap(NULL, m->size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (p == MAP_FAILED)
			return bdev_create_fail(-ENOMEM, "bdev %s: cannot map %zu bytes: %s", name,
						m->size, strerror(errno));
		m->buf = p;
		m->mapped = true;
		return 0;
	}
	if (posix_memalign((void **)&m->buf, 4096, m->size))
		return bdev_create_fail(-ENOMEM, "bdev %s: cannot allocate %zu bytes", name,
					m->size);
	memset(m->buf, 0, m->size);
	return 0;
}

int bdev_malloc_create(const char *name, uint64_t num_blocks, uint32_t block_size,
		       const char *uuid, struct bdev **out)
{
	char auto_name[sizeof(((struct bdev *)0)->name)];
	struct bdev_malloc *m;
	int rc;

	if (!name) {
		/* Skip names a user took explicitly, rather than failing the auto-named create. */
		do {
			snprintf(auto_name, sizeof(auto_name), "Malloc%u", bdev_malloc_next_index++);
		} while (bdev_lookup(auto_name));
		name = auto_name;
	}
	rc = bdev_check_name(name);
	if (!rc)
		rc = bdev_check_geometry(name, num_blocks, block_size);
	if (rc)
		return rc;

	m = calloc(1, sizeof(*m));
	if (!m)
		return bdev_create_fail(-ENOMEM, "bdev %s: out of memory", name);
	m->size = (size_t)num_blocks * block_size;
	m->page_size = (size_t)sysconf(_SC_PAGESIZE);
	rc = bdev_malloc_alloc(m, name);
	if (rc) {
		free(m);
		return rc;
	}
	rc = bdev_init_and_register(&m->bdev, name, uuid, num_blocks, block_size,
				    &bdev_malloc_ops, m);
	if (rc) {
		bdev_malloc_free(m);
		return rc;
	}
	if (out)
		*out = &m->bdev;
	return 0;
}
