/* I/O validation and iovec copies shared by the backends. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "bdev/bdev_internal.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

static int bdev_io_check_range(const struct bdev *bdev, const struct bdev_io *io)
{
	uint64_t num_blocks = bdev_num_blocks(bdev);

	if (io->offset_blocks > num_blocks || io->num_blocks > num_blocks - io->offset_blocks)
		return -ERANGE;
	return 0;
}

int bdev_io_check(const struct bdev *bdev, const struct bdev_io *io)
{
	uint64_t len = 0;
	int rc;

	switch (io->type) {
	case BDEV_IO_READ:
	case BDEV_IO_WRITE:
		rc = bdev_io_check_range(bdev, io);
		if (rc)
			return rc;
		/* readv/writev refuse more than IOV_MAX segments; say so before submitting. */
		if (io->iovcnt < 0 || io->iovcnt > IOV_MAX || (io->iovcnt > 0 && !io->iov))
			return -EINVAL;
		for (int i = 0; i < io->iovcnt; i++)
			len += io->iov[i].iov_len;
		return len == io->num_blocks * bdev->block_size ? 0 : -EINVAL;
	case BDEV_IO_WRITE_ZEROES:
	case BDEV_IO_UNMAP:
		return bdev_io_check_range(bdev, io);
	case BDEV_IO_FLUSH:
		return 0;
	case BDEV_IO_NVME:
		return bdev->nvme ? 0 : -EOPNOTSUPP; /* checked by the backend that takes them */
	}
	return -EINVAL;
}

void bdev_iov_from_buf(const struct iovec *iov, int iovcnt, const void *buf, size_t len)
{
	const char *src = buf;

	for (int i = 0; i < iovcnt && len > 0; i++) {
		size_t n = iov[i].iov_len < len ? iov[i].iov_len : len;

		memcpy(iov[i].iov_base, src, n);
		src += n;
		len -= n;
	}
}

void bdev_iov_to_buf(const struct iovec *iov, int iovcnt, void *buf, size_t len)
{
	char *dst = buf;

	for (int i = 0; i < iovcnt && len > 0; i++) {
		size_t n = iov[i].iov_len < len ? iov[i].iov_len : len;

		memcpy(dst, iov[i].iov_base, n);
		dst += n;
		len -= n;
	}
}

void bdev_iov_zero(const struct iovec *iov, int iovcnt)
{
	for (int i = 0; i < iovcnt; i++)
		memset(iov[i].iov_base, 0, iov[i].iov_len);
}
