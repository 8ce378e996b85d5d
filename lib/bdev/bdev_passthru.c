/*
 * NVMe passthrough backend, creation side: opens the generic character device, learns the
 * namespace from the device itself (Identify through the admin passthrough ioctl) and checks,
 * before anything is registered, that the kernel can pass commands to it through io_uring.
 *
 * conserve_cpu is SPDK's xNVMe knob for sleeping instead of polling the completion queue;
 * here the reactor's mode decides that (busy-poll or event-driven), so the value is only
 * kept for save_config.
 */
#include "bdev/bdev_passthru.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <json-c/json.h>
#include <linux/nvme_ioctl.h>
#include <nvme/types.h>

#include "bdev/bdev_internal.h"
#include "util/log.h"

/* When neither the kernel nor the controller states a limit. */
#define BDEV_PASSTHRU_DEFAULT_XFER (128u * 1024)

static void bdev_passthru_destroy(struct bdev *bdev)
{
	struct bdev_passthru *p = bdev->ctx;

	close(p->fd);
	free(p);
}

static void bdev_passthru_dump_config(struct bdev *bdev, void *json_params)
{
	struct bdev_passthru *p = bdev->ctx;
	struct json_object *o = json_params;

	json_object_object_add(o, "filename", json_object_new_string(p->path));
	json_object_object_add(o, "io_mechanism", json_object_new_string("io_uring_cmd"));
	json_object_object_add(o, "conserve_cpu", json_object_new_boolean(p->conserve_cpu));
	json_object_object_add(o, "nsid", json_object_new_int64(p->nsid));
	json_object_object_add(o, "registered_buffers", json_object_new_boolean(!p->no_fixed_buffers));
}

static const struct bdev_ops bdev_passthru_ops = {
	.product_name = "xNVMe bdev",
	.driver_name = "xnvme",
	.channel_create = bdev_passthru_channel_create,
	.channel_destroy = bdev_passthru_channel_destroy,
	.submit = bdev_passthru_submit,
	.map = NULL,
	.destroy = bdev_passthru_destroy,
	.dump_config = bdev_passthru_dump_config,
};

const struct bdev_passthru *bdev_passthru_get(const struct bdev *bdev)
{
	return bdev->ops == &bdev_passthru_ops ? bdev->ctx : NULL;
}

static int bdev_passthru_identify(int fd, uint8_t cns, uint32_t nsid, void *buf)
{
	struct nvme_passthru_cmd cmd = {
		.opcode = nvme_admin_identify,
		.nsid = nsid,
		.addr = (uint64_t)(uintptr_t)buf,
		.data_len = NVME_IDENTIFY_DATA_SIZE,
		.cdw10 = cns,
	};
	int rc = ioctl(fd, NVME_IOCTL_ADMIN_CMD, &cmd);

	if (rc < 0)
		return -errno;
	return rc; /* > 0: the NVMe status of a failed Identify */
}

/* The kernel's transfer limit for the namespace (its queue's max_hw_sectors), found through
 * the block device that shares the generic device's instance numbers: ngXnY -> nvmeXnY. */
static uint32_t bdev_passthru_kernel_xfer(const char *path)
{
	char copy[PATH_MAX], sys[PATH_MAX + 64];
	unsigned long kib = 0;
	const char *base;
	FILE *f;

	snprintf(copy, sizeof(copy), "%s", path);
	base = basename(copy);
	if (strncmp(base, "ng", 2) != 0)
		return 0;
	snprintf(sys, sizeof(sys), "/sys/block/nvme%s/queue/max_hw_sectors_kb", base + 2);
	f = fopen(sys, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%lu", &kib) != 1)
		kib = 0;
	fclose(f);
	return kib > 0 && kib <= UINT32_MAX / 1024 ? (uint32_t)(kib * 1024) : 0;
}

/* Opens the path and makes sure it is an NVMe namespace's generic character device. */
static int bdev_passthru_open(struct bdev_passthru *p, const char *name)
{
	struct stat st;
	int nsid;

	p->fd = open(p->path, O_RDWR | O_CLOEXEC);
	if (p->fd < 0) {
		int err = errno;

		if (err == EACCES || err == EPERM)
			return bdev_create_fail(-err, "bdev %s: cannot open %s read-write: %s (NVMe "
						"passthrough needs read-write access to the generic "
						"device: run as root or grant it with a udev rule)",
						name, p->path, strerror(err));
		return bdev_create_fail(-err, "bdev %s: cannot open %s read-write: %s", name,
					p->path, strerror(err));
	}
	if (fstat(p->fd, &st) < 0)
		return bdev_create_fail(-errno, "bdev %s: stat %s: %s", name, p->path,
					strerror(errno));
	if (S_ISBLK(st.st_mode))
		return bdev_create_fail(-EINVAL, "bdev %s: %s is a block device, not an NVMe generic "
					"device: use its /dev/ngXnY for io_uring_cmd, or io_mechanism "
					"io_uring for the block device", name, p->path);
	if (!S_ISCHR(st.st_mode))
		return bdev_create_fail(-EINVAL, "bdev %s: %s is not an NVMe generic character device "
					"(/dev/ngXnY)", name, p->path);
	nsid = ioctl(p->fd, NVME_IOCTL_ID);
	if (nsid <= 0) {
		int err = nsid < 0 ? errno : EINVAL;

		/* A controller's own device (/dev/nvme0) answers ENOTTY too: it has no namespace. */
		return bdev_create_fail(-EINVAL, "bdev %s: %s is not an NVMe namespace's generic "
					"device (NVME_IOCTL_ID: %s); expected /dev/ngXnY", name,
					p->path, strerror(err));
	}
	p->nsid = (uint32_t)nsid;
	return 0;
}

/* Geometry and identity from the device's Identify Controller and Identify Namespace. */
static int bdev_passthru_learn(struct bdev_passthru *p, const char *name, uint64_t *nsze,
			       uint32_t *block_size)
{
	struct nvme_id_ctrl *ctrl = NULL;
	struct nvme_id_ns *ns = NULL;
	uint32_t kernel_xfer, lbaf;
	int rc;

	if (posix_memalign((void **)&ctrl, 4096, NVME_IDENTIFY_DATA_SIZE) ||
	    posix_memalign((void **)&ns, 4096, NVME_IDENTIFY_DATA_SIZE)) {
		rc = bdev_create_fail(-ENOMEM, "bdev %s: out of memory", name);
		goto out;
	}
	rc = bdev_passthru_identify(p->fd, NVME_IDENTIFY_CNS_CTRL, 0, ctrl);
	if (rc == 0)
		rc = bdev_passthru_identify(p->fd, NVME_IDENTIFY_CNS_NS, p->nsid, ns);
	if (rc) {
		rc = bdev_create_fail(rc < 0 ? rc : -EIO, "bdev %s: Identify through %s failed: %s",
				      name, p->path, rc < 0 ? strerror(-rc) : "NVMe error status");
		goto out;
	}
	/* FLBAS: format index bits 3:0, and 6:5 as its high bits when there are over 16. */
	lbaf = (ns->flbas & 0xf) | (ns->nlbaf >= 16 ? ((ns->flbas >> 5) & 0x3) << 4 : 0);
	if (lbaf > ns->nlbaf || ns->lbaf[lbaf].ds < 9 || ns->lbaf[lbaf].ds > 16) {
		rc = bdev_create_fail(-EINVAL, "bdev %s: %s: unusable LBA format %u (LBADS %u)", name,
				      p->path, lbaf, ns->lbaf[lbaf].ds);
		goto out;
	}
	if (le16toh(ns->lbaf[lbaf].ms) != 0) {
		rc = bdev_create_fail(-EOPNOTSUPP, "bdev %s: %s is formatted with %u bytes of metadata "
				      "per block: metadata and protection information are not "
				      "supported (format the namespace without)", name, p->path,
				      le16toh(ns->lbaf[lbaf].ms));
		goto out;
	}
	*block_size = 1u << ns->lbaf[lbaf].ds;
	*nsze = le64toh(ns->nsze);
	if (*nsze == 0) {
		rc = bdev_create_fail(-EINVAL, "bdev %s: %s: the namespace has no blocks", name,
				      p->path);
		goto out;
	}
	p->bdev.write_cache = ctrl->vwc & 1;
	p->bdev.optimal_io_boundary = le16toh(ns->noiob);
	if ((ns->nsfeat & 0x10) && le16toh(ns->npwg))
		p->bdev.phys_block_size = (le16toh(ns->npwg) + 1u) * *block_size;
	p->info.dlfeat = ns->dlfeat;
	/* MDTS is in units of the minimum memory page size, at least 4 KiB. */
	p->max_xfer = ctrl->mdts && ctrl->mdts < 20 ? 4096u << ctrl->mdts : 0;
	kernel_xfer = bdev_passthru_kernel_xfer(p->path);
	if (kernel_xfer && (!p->max_xfer || kernel_xfer < p->max_xfer))
		p->max_xfer = kernel_xfer;
	if (!p->max_xfer)
		p->max_xfer = BDEV_PASSTHRU_DEFAULT_XFER;
	if (p->max_xfer < *block_size) {
		rc = bdev_create_fail(-EINVAL, "bdev %s: %s: transfer limit %u is below the block "
				      "size %u", name, p->path, p->max_xfer, *block_size);
		goto out;
	}
	p->max_xfer -= p->max_xfer % *block_size;
	rc = 0;
out:
	free(ctrl);
	free(ns);
	return rc;
}

int bdev_passthru_create(const char *name, const char *path, bool conserve_cpu,
			 const char *uuid, struct bdev **out)
{
	struct bdev_passthru *p;
	uint32_t block_size = 0;
	uint64_t nsze = 0;
	int rc;

	rc = bdev_check_name(name);
	if (!rc)
		rc = bdev_check_path(name, path, sizeof(p->path));
	if (rc)
		return rc;
	p = calloc(1, sizeof(*p));
	if (!p)
		return bdev_create_fail(-ENOMEM, "bdev %s: out of memory", name);
	snprintf(p->path, sizeof(p->path), "%s", path);
	p->conserve_cpu = conserve_cpu;
	rc = bdev_passthru_open(p, name);
	if (!rc)
		rc = bdev_passthru_learn(p, name, &nsze, &block_size);
	if (!rc)
		rc = bdev_check_geometry(name, nsze, block_size);
	if (!rc)
		rc = bdev_passthru_probe(p, name);
	if (rc)
		goto fail;
	p->bdev.block_size = block_size;
	p->bdev.nvme = &p->info;
	rc = bdev_init_and_register(&p->bdev, name, uuid, nsze, block_size, &bdev_passthru_ops, p);
	if (rc)
		goto fail;
	log_info("bdev %s: NVMe passthrough on %s (nsid %u, %llu blocks of %u bytes, %u KiB per "
		 "command, volatile write cache %s, %s buffers)", name, path, p->nsid,
		 (unsigned long long)nsze, block_size, p->max_xfer / 1024,
		 p->bdev.write_cache ? "yes" : "no", p->no_fixed_buffers ? "mapped" : "registered");
	if (out)
		*out = &p->bdev;
	return 0;

fail:
	if (p->fd >= 0)
		close(p->fd);
	free(p);
	return rc;
}
