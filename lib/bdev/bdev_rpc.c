/*
 * bdev JSON-RPC methods, compatible with SPDK's scripts/rpc.py.
 *
 * Errors follow SPDK where scripts look at them: a missing bdev is code -ENODEV with
 * "No such device", a taken name -EEXIST with "File exists". Bad parameters (including values
 * that fail validation, such as a block size) are RPC_ERROR_INVALID_PARAMS with a message
 * naming the field. Options SPDK accepts but nvfab has no use for are accepted when they ask
 * for nothing (md_size 0, ...) and refused otherwise, so that a config never half-applies.
 */
#include "bdev/bdev_rpc.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "bdev/bdev.h"
#include "bdev/bdev_file.h"
#include "bdev/bdev_internal.h"
#include "bdev/bdev_passthru.h"
#include "rpc/rpc.h"

#define BDEV_RPC_NAME_SIZE sizeof(((struct bdev *)0)->name)
/* Room for a malformed UUID, so that the error says "cannot parse" rather than "too long". */
#define BDEV_RPC_UUID_SIZE 64

#define BDEV_RPC_STR(field, st, opt, present) \
	{ #field, RPC_PARAM_STRING, offsetof(st, field), sizeof(((st *)0)->field), opt, present }
#define BDEV_RPC_NUM(field, type, st, opt) { #field, type, offsetof(st, field), 0, opt, 0 }

static void bdev_rpc_reply_errno(struct rpc_request *req, int err)
{
	rpc_reply_error(req, err, "%s", strerror(-err));
}

static void bdev_rpc_reply_create_error(struct rpc_request *req, int rc)
{
	if (rc == -EEXIST)
		bdev_rpc_reply_errno(req, rc);
	else if (rc == -EINVAL)
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "%s", bdev_create_errmsg());
	else
		rpc_reply_error(req, rc, "%s", bdev_create_errmsg());
}

/* ---- bdev_malloc_create, bdev_null_create ---- */

struct bdev_rpc_ram {
	char name[BDEV_RPC_NAME_SIZE];
	char uuid[BDEV_RPC_UUID_SIZE];
	uint64_t num_blocks;
	uint32_t block_size;
	uint32_t optimal_io_boundary;
	uint32_t physical_block_size;
	bool has_name;
	bool has_uuid;
};

#define NO_MD "separate or interleaved metadata is not supported"
#define NO_PI "end-to-end protection information (DIF/DIX) is not supported"
#define HINT "a placement hint of SPDK's null bdev; nvfab reports the physical block size instead"
#define BDEV_RPC_RAM_PARAMS(name_optional) \
	BDEV_RPC_STR(name, struct bdev_rpc_ram, name_optional, \
		     offsetof(struct bdev_rpc_ram, has_name)), \
	BDEV_RPC_STR(uuid, struct bdev_rpc_ram, true, offsetof(struct bdev_rpc_ram, has_uuid)), \
	BDEV_RPC_NUM(num_blocks, RPC_PARAM_UINT64, struct bdev_rpc_ram, false), \
	BDEV_RPC_NUM(block_size, RPC_PARAM_UINT32, struct bdev_rpc_ram, false), \
	BDEV_RPC_NUM(optimal_io_boundary, RPC_PARAM_UINT32, struct bdev_rpc_ram, true), \
	BDEV_RPC_NUM(physical_block_size, RPC_PARAM_UINT32, struct bdev_rpc_ram, true), \
	RPC_COMPAT_DEFAULT("md_size", json_type_int, "0", NO_MD), \
	RPC_COMPAT_KNOB("md_interleave", json_type_boolean, "only meaningful with md_size, which must be 0"), \
	RPC_COMPAT_DEFAULT("dif_type", json_type_int, "0", NO_PI), \
	RPC_COMPAT_KNOB("dif_is_head_of_md", json_type_boolean, "only meaningful with dif_type, which must be 0"), \
	RPC_COMPAT_KNOB("dif_pi_format", json_type_int, "only meaningful with dif_type, which must be 0"), \
	RPC_COMPAT_KNOB("numa_id", json_type_int, "SPDK's NUMA placement of the buffer; nvfab lets the kernel place it")

static const struct rpc_param bdev_rpc_malloc_params[] = {BDEV_RPC_RAM_PARAMS(true)};
static const struct rpc_param bdev_rpc_null_params[] = {
	BDEV_RPC_RAM_PARAMS(false),
	RPC_COMPAT_KNOB("preferred_write_alignment", json_type_int, HINT),
	RPC_COMPAT_KNOB("preferred_write_granularity", json_type_int, HINT),
	RPC_COMPAT_KNOB("optimal_write_size", json_type_int, HINT),
	RPC_COMPAT_KNOB("preferred_unmap_alignment", json_type_int, HINT),
	RPC_COMPAT_KNOB("preferred_unmap_granularity", json_type_int, HINT),
};

/* Checked before creating anything; the values then go to Identify Namespace (NPWG and
 * friends, NOIOB) and into save_config. */
static int bdev_rpc_ram_check(struct rpc_request *req, const struct bdev_rpc_ram *p)
{
	uint32_t pbs = p->physical_block_size;

	if (pbs && (pbs < p->block_size || (pbs & (pbs - 1)) || pbs > 65536)) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameter 'physical_block_size': %u must be a power of two from block_size (%u) to 65536",
				pbs, p->block_size);
		return -EINVAL;
	}
	if (p->optimal_io_boundary > UINT16_MAX) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameter 'optimal_io_boundary': %u blocks is more than Identify can report (65535)",
				p->optimal_io_boundary);
		return -EINVAL;
	}
	return 0;
}

typedef int (*bdev_rpc_ram_create_fn)(const char *name, uint64_t num_blocks,
				      uint32_t block_size, const char *uuid, struct bdev **out);

static void bdev_rpc_ram_create(struct rpc_request *req, struct json_object *params,
				const struct rpc_param *spec, size_t nspec,
				bdev_rpc_ram_create_fn create)
{
	struct bdev_rpc_ram p = {{0}};
	struct bdev *bdev;
	int rc;

	if (rpc_decode_params(req, params, spec, nspec, &p))
		return;
	if (bdev_rpc_ram_check(req, &p))
		return;
	rc = create(p.has_name ? p.name : NULL, p.num_blocks, p.block_size,
		    p.has_uuid ? p.uuid : NULL, &bdev);
	if (rc) {
		bdev_rpc_reply_create_error(req, rc);
		return;
	}
	bdev->phys_block_size = p.physical_block_size > p.block_size ? p.physical_block_size : 0;
	bdev->optimal_io_boundary = p.optimal_io_boundary;
	rpc_reply(req, json_object_new_string(bdev->name));
}

static void bdev_rpc_malloc_create(struct rpc_request *req, struct json_object *params)
{
	bdev_rpc_ram_create(req, params, bdev_rpc_malloc_params,
			    sizeof(bdev_rpc_malloc_params) / sizeof(bdev_rpc_malloc_params[0]),
			    bdev_malloc_create);
}

static void bdev_rpc_null_create(struct rpc_request *req, struct json_object *params)
{
	bdev_rpc_ram_create(req, params, bdev_rpc_null_params,
			    sizeof(bdev_rpc_null_params) / sizeof(bdev_rpc_null_params[0]),
			    bdev_null_create);
}

/* ---- bdev_uring_create, bdev_aio_create ---- */

struct bdev_rpc_file {
	char name[BDEV_RPC_NAME_SIZE];
	char filename[PATH_MAX];
	char uuid[BDEV_RPC_UUID_SIZE];
	uint32_t block_size;
	bool has_uuid;
};

#define BDEV_RPC_FILE_PARAMS \
	BDEV_RPC_STR(name, struct bdev_rpc_file, false, 0), \
	BDEV_RPC_STR(filename, struct bdev_rpc_file, false, 0), \
	BDEV_RPC_NUM(block_size, RPC_PARAM_UINT32, struct bdev_rpc_file, true), \
	BDEV_RPC_STR(uuid, struct bdev_rpc_file, true, offsetof(struct bdev_rpc_file, has_uuid))

static const struct rpc_param bdev_rpc_uring_params[] = {BDEV_RPC_FILE_PARAMS};
static const struct rpc_param bdev_rpc_aio_params[] = {
	BDEV_RPC_FILE_PARAMS,
	RPC_COMPAT_DEFAULT("readonly", json_type_boolean, "false", "read-only namespaces are not supported"),
	RPC_COMPAT_KNOB("fallocate", json_type_boolean,
			"Write Zeroes and deallocation always try fallocate first"),
};

static void bdev_rpc_file_create(struct rpc_request *req, struct json_object *params,
				 enum bdev_file_flavor flavor)
{
	struct bdev_rpc_file p = {0};
	struct bdev *bdev;
	int rc;

	if (flavor == BDEV_FILE_AIO)
		rc = rpc_decode_params(req, params, bdev_rpc_aio_params,
				       sizeof(bdev_rpc_aio_params) / sizeof(bdev_rpc_aio_params[0]),
				       &p);
	else
		rc = rpc_decode_params(req, params, bdev_rpc_uring_params,
				       sizeof(bdev_rpc_uring_params) /
					       sizeof(bdev_rpc_uring_params[0]), &p);
	if (rc)
		return;
	rc = bdev_file_create_flavor(p.name, p.filename, p.block_size,
				     p.has_uuid ? p.uuid : NULL, flavor, &bdev);
	if (rc) {
		bdev_rpc_reply_create_error(req, rc);
		return;
	}
	rpc_reply(req, json_object_new_string(bdev->name));
}

static void bdev_rpc_uring_create(struct rpc_request *req, struct json_object *params)
{
	bdev_rpc_file_create(req, params, BDEV_FILE_URING);
}

static void bdev_rpc_aio_create(struct rpc_request *req, struct json_object *params)
{
	bdev_rpc_file_create(req, params, BDEV_FILE_AIO);
}

/* ---- bdev_xnvme_create ---- */

struct bdev_rpc_xnvme {
	char name[BDEV_RPC_NAME_SIZE];
	char filename[PATH_MAX];
	char io_mechanism[16];
	bool conserve_cpu;
};

static const struct rpc_param bdev_rpc_xnvme_params[] = {
	BDEV_RPC_STR(name, struct bdev_rpc_xnvme, false, 0),
	BDEV_RPC_STR(filename, struct bdev_rpc_xnvme, false, 0),
	BDEV_RPC_STR(io_mechanism, struct bdev_rpc_xnvme, false, 0),
	BDEV_RPC_NUM(conserve_cpu, RPC_PARAM_BOOL, struct bdev_rpc_xnvme, true),
};

/*
 * SPDK's xNVMe bdev: io_uring_cmd is NVMe passthrough on a generic device (/dev/ngXnY);
 * io_uring and libaio are block I/O on a file or block device, which the file backend does
 * (through io_uring in both cases).
 */
static void bdev_rpc_xnvme_create(struct rpc_request *req, struct json_object *params)
{
	struct bdev_rpc_xnvme p = {{0}};
	struct bdev *bdev;
	int rc;

	if (rpc_decode_params(req, params, bdev_rpc_xnvme_params,
			      sizeof(bdev_rpc_xnvme_params) / sizeof(bdev_rpc_xnvme_params[0]), &p))
		return;
	if (strcmp(p.io_mechanism, "io_uring_cmd") == 0) {
		rc = bdev_passthru_create(p.name, p.filename, p.conserve_cpu, NULL, &bdev);
	} else if (strcmp(p.io_mechanism, "io_uring") == 0 ||
		   strcmp(p.io_mechanism, "libaio") == 0) {
		rc = bdev_file_create_flavor(p.name, p.filename, 0, NULL, BDEV_FILE_XNVME, &bdev);
		if (rc == 0) {
			struct bdev_file *f = bdev->ctx;

			snprintf(f->io_mechanism, sizeof(f->io_mechanism), "%s", p.io_mechanism);
			f->conserve_cpu = p.conserve_cpu;
		}
	} else {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameter 'io_mechanism': '%s' is not one of io_uring_cmd "
				"(NVMe passthrough on /dev/ngXnY), io_uring, libaio", p.io_mechanism);
		return;
	}
	if (rc) {
		bdev_rpc_reply_create_error(req, rc);
		return;
	}
	rpc_reply(req, json_object_new_string(bdev->name));
}

/* ---- bdev_*_delete ---- */

/* The parameters of the methods that take only a bdev's name. */
struct bdev_rpc_name {
	char name[BDEV_RPC_NAME_SIZE];
};

static const struct rpc_param bdev_rpc_name_params[] = {
	BDEV_RPC_STR(name, struct bdev_rpc_name, false, 0),
};

/* Like SPDK, each delete method only deletes bdevs of its own module. */
static void bdev_rpc_delete(struct rpc_request *req, struct json_object *params,
			    const char *driver)
{
	struct bdev_rpc_name p = {{0}};
	struct bdev *bdev;
	int rc;

	if (rpc_decode_params(req, params, bdev_rpc_name_params, 1, &p))
		return;
	bdev = bdev_lookup(p.name);
	if (!bdev || strcmp(bdev->ops->driver_name, driver) != 0) {
		bdev_rpc_reply_errno(req, -ENODEV);
		return;
	}
	rc = bdev_delete(bdev->name);
	if (rc == -EBUSY) {
		rpc_reply_error(req, rc, "%s: bdev %s is used by %d namespace(s)", strerror(EBUSY),
				bdev->name, bdev->claims);
		return;
	}
	if (rc) {
		bdev_rpc_reply_errno(req, rc);
		return;
	}
	rpc_reply_bool(req, true);
}

static void bdev_rpc_malloc_delete(struct rpc_request *req, struct json_object *params)
{
	bdev_rpc_delete(req, params, "malloc");
}

static void bdev_rpc_null_delete(struct rpc_request *req, struct json_object *params)
{
	bdev_rpc_delete(req, params, "null");
}

static void bdev_rpc_uring_delete(struct rpc_request *req, struct json_object *params)
{
	bdev_rpc_delete(req, params, "uring");
}

static void bdev_rpc_aio_delete(struct rpc_request *req, struct json_object *params)
{
	bdev_rpc_delete(req, params, "aio");
}

static void bdev_rpc_xnvme_delete(struct rpc_request *req, struct json_object *params)
{
	bdev_rpc_delete(req, params, "xnvme");
}

/* ---- bdev_null_resize, bdev_uring_rescan, bdev_aio_rescan ---- */

struct bdev_rpc_resize {
	char name[BDEV_RPC_NAME_SIZE];
	uint64_t new_size; /* MiB */
};

static const struct rpc_param bdev_rpc_null_resize_params[] = {
	BDEV_RPC_STR(name, struct bdev_rpc_resize, false, 0),
	BDEV_RPC_NUM(new_size, RPC_PARAM_UINT64, struct bdev_rpc_resize, false),
};

static void bdev_rpc_resize_reply(struct rpc_request *req, int rc)
{
	if (rc == -ENODEV)
		bdev_rpc_reply_errno(req, rc);
	else if (rc)
		bdev_rpc_reply_create_error(req, rc);
	else
		rpc_reply_bool(req, true);
}

static void bdev_rpc_null_resize(struct rpc_request *req, struct json_object *params)
{
	struct bdev_rpc_resize p = {{0}};

	if (rpc_decode_params(req, params, bdev_rpc_null_resize_params, 2, &p))
		return;
	bdev_rpc_resize_reply(req, bdev_null_resize(p.name, p.new_size));
}

static void bdev_rpc_rescan(struct rpc_request *req, struct json_object *params,
			    enum bdev_file_flavor flavor)
{
	struct bdev_rpc_name p = {{0}};

	if (rpc_decode_params(req, params, bdev_rpc_name_params, 1, &p))
		return;
	bdev_rpc_resize_reply(req, bdev_file_rescan(p.name, flavor));
}

static void bdev_rpc_uring_rescan(struct rpc_request *req, struct json_object *params)
{
	bdev_rpc_rescan(req, params, BDEV_FILE_URING);
}

static void bdev_rpc_aio_rescan(struct rpc_request *req, struct json_object *params)
{
	bdev_rpc_rescan(req, params, BDEV_FILE_AIO);
}

/* ---- bdev_get_bdevs ---- */

/* SPDK's I/O type names, in its enum order; bdev_get_bdevs lists them all. */
static const char *const bdev_rpc_io_types[] = {
	"read", "write", "unmap", "flush", "reset", "nvme_admin", "nvme_io", "nvme_io_md",
	"write_zeroes", "zcopy", "get_zone_info", "zone_management", "zone_append", "compare",
	"compare_and_write", "abort", "seek_hole", "seek_data", "copy", "nvme_iov_md",
};

static bool bdev_rpc_io_supported(const struct bdev *bdev, const char *type)
{
	static const char *const every_backend[] = {
		"read", "write", "unmap", "flush", "write_zeroes",
	};

	for (size_t i = 0; i < sizeof(every_backend) / sizeof(every_backend[0]); i++)
		if (strcmp(type, every_backend[i]) == 0)
			return true;
	/* A memory image of its own is nvfab's zero-copy path (file bdevs, even a mapped tmpfs
	 * file, answer as SPDK's do). */
	return strcmp(type, "zcopy") == 0 && bdev->ops->map != NULL && !bdev_file_get(bdev);
}

static struct json_object *bdev_rpc_describe(struct bdev *bdev)
{
	static const char *const rate_limits[] = {
		"rw_ios_per_sec", "rw_mbytes_per_sec", "r_mbytes_per_sec", "w_mbytes_per_sec",
	};
	struct json_object *o = json_object_new_object();
	struct json_object *aliases = json_object_new_array();
	struct json_object *limits = json_object_new_object();
	struct json_object *types = json_object_new_object();
	struct json_object *driver = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(bdev->name));
	json_object_array_add(aliases, json_object_new_string(bdev->uuid));
	json_object_object_add(o, "aliases", aliases);
	json_object_object_add(o, "product_name", json_object_new_string(bdev->ops->product_name));
	json_object_object_add(o, "block_size", json_object_new_int64(bdev->block_size));
	json_object_object_add(o, "num_blocks", json_object_new_uint64(bdev->num_blocks));
	json_object_object_add(o, "uuid", json_object_new_string(bdev->uuid));
	for (size_t i = 0; i < sizeof(rate_limits) / sizeof(rate_limits[0]); i++)
		json_object_object_add(limits, rate_limits[i], json_object_new_int64(0));
	json_object_object_add(o, "assigned_rate_limits", limits);
	json_object_object_add(o, "claimed", json_object_new_boolean(bdev->claims > 0));
	if (bdev->claims > 0)
		json_object_object_add(o, "claim_type", json_object_new_string("exclusive_write"));
	json_object_object_add(o, "zoned", json_object_new_boolean(0));
	for (size_t i = 0; i < sizeof(bdev_rpc_io_types) / sizeof(bdev_rpc_io_types[0]); i++)
		json_object_object_add(types, bdev_rpc_io_types[i],
				       json_object_new_boolean(
					       bdev_rpc_io_supported(bdev, bdev_rpc_io_types[i])));
	json_object_object_add(o, "supported_io_types", types);
	if (bdev->ops->dump_config) {
		struct json_object *mine = json_object_new_object();

		bdev->ops->dump_config(bdev, mine);
		json_object_object_add(driver, bdev->ops->driver_name, mine);
	}
	json_object_object_add(o, "driver_specific", driver);
	return o;
}

struct bdev_rpc_get {
	char name[BDEV_RPC_NAME_SIZE];
	uint64_t timeout;
	bool has_name;
};

static const struct rpc_param bdev_rpc_get_params[] = {
	BDEV_RPC_STR(name, struct bdev_rpc_get, true, offsetof(struct bdev_rpc_get, has_name)),
	/* SPDK waits this long for the bdev to appear; creation here is synchronous. */
	BDEV_RPC_NUM(timeout, RPC_PARAM_UINT64, struct bdev_rpc_get, true),
};

static void bdev_rpc_get_bdevs(struct rpc_request *req, struct json_object *params)
{
	struct bdev_rpc_get p = {{0}};
	struct json_object *list;

	if (rpc_decode_params(req, params, bdev_rpc_get_params, 2, &p))
		return;
	list = json_object_new_array();
	if (p.has_name) {
		struct bdev *bdev = bdev_lookup(p.name);

		if (!bdev) {
			json_object_put(list);
			bdev_rpc_reply_errno(req, -ENODEV);
			return;
		}
		json_object_array_add(list, bdev_rpc_describe(bdev));
	} else {
		for (struct bdev *b = bdev_first(); b; b = bdev_next(b))
			json_object_array_add(list, bdev_rpc_describe(b));
	}
	rpc_reply(req, list);
}

/* Examination (partition tables, lvol stores) does not exist here: nothing to wait for. */
static void bdev_rpc_wait_for_examine(struct rpc_request *req, struct json_object *params)
{
	if (params && (!json_object_is_type(params, json_type_object) ||
		       json_object_object_length(params) > 0)) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "bdev_wait_for_examine takes no "
				"parameters");
		return;
	}
	rpc_reply_bool(req, true);
}

/* ---- save_config ---- */

static struct json_object *bdev_rpc_config_call(const char *method, struct json_object *params)
{
	struct json_object *call = json_object_new_object();

	json_object_object_add(call, "method", json_object_new_string(method));
	if (params)
		json_object_object_add(call, "params", params);
	return call;
}

/* NULL for bdevs another part creates (and saves) itself. */
static struct json_object *bdev_rpc_config_of(struct bdev *bdev)
{
	const struct bdev_file *f = bdev_file_get(bdev);
	const struct bdev_passthru *pt = bdev_passthru_get(bdev);
	const char *driver = bdev->ops->driver_name;
	struct json_object *params;
	const char *method;

	if (pt || (f && f->flavor == BDEV_FILE_XNVME)) {
		/* As SPDK saves it: no UUID or block size, both come from the device again. */
		params = json_object_new_object();
		json_object_object_add(params, "name", json_object_new_string(bdev->name));
		json_object_object_add(params, "filename",
				       json_object_new_string(pt ? pt->path : f->path));
		json_object_object_add(params, "io_mechanism",
				       json_object_new_string(pt ? "io_uring_cmd" : f->io_mechanism));
		json_object_object_add(params, "conserve_cpu",
				       json_object_new_boolean(pt ? pt->conserve_cpu : f->conserve_cpu));
		return bdev_rpc_config_call("bdev_xnvme_create", params);
	}
	if (f)
		method = f->flavor == BDEV_FILE_AIO ? "bdev_aio_create" : "bdev_uring_create";
	else if (strcmp(driver, "malloc") == 0)
		method = "bdev_malloc_create";
	else if (strcmp(driver, "null") == 0)
		method = "bdev_null_create";
	else
		return NULL;
	params = json_object_new_object();
	json_object_object_add(params, "name", json_object_new_string(bdev->name));
	if (f) {
		json_object_object_add(params, "filename", json_object_new_string(f->path));
	} else {
		json_object_object_add(params, "num_blocks",
				       json_object_new_uint64(bdev->num_blocks));
	}
	/* As SPDK: aio saves block_size only when it was given, uring always. */
	if (!f || f->flavor == BDEV_FILE_URING || f->block_size_override)
		json_object_object_add(params, "block_size",
				       json_object_new_int64(bdev->block_size));
	json_object_object_add(params, "uuid", json_object_new_string(bdev->uuid));
	if (!f && bdev->phys_block_size)
		json_object_object_add(params, "physical_block_size",
				       json_object_new_int64(bdev->phys_block_size));
	if (!f && bdev->optimal_io_boundary)
		json_object_object_add(params, "optimal_io_boundary",
				       json_object_new_int64(bdev->optimal_io_boundary));
	return bdev_rpc_config_call(method, params);
}

static void bdev_rpc_write_config(struct json_object *calls)
{
	for (struct bdev *b = bdev_first(); b; b = bdev_next(b)) {
		struct json_object *call = bdev_rpc_config_of(b);

		if (call)
			json_object_array_add(calls, call);
	}
	/* SPDK ends its bdev section with this; keeping it lets SPDK tooling diff configs. */
	json_object_array_add(calls, bdev_rpc_config_call("bdev_wait_for_examine", NULL));
}

void bdev_rpc_register(void)
{
	rpc_register_method("bdev_malloc_create", bdev_rpc_malloc_create);
	rpc_register_method("bdev_malloc_delete", bdev_rpc_malloc_delete);
	rpc_register_method("bdev_null_create", bdev_rpc_null_create);
	rpc_register_method("bdev_null_delete", bdev_rpc_null_delete);
	rpc_register_method("bdev_null_resize", bdev_rpc_null_resize);
	rpc_register_method("bdev_uring_rescan", bdev_rpc_uring_rescan);
	rpc_register_method("bdev_aio_rescan", bdev_rpc_aio_rescan);
	rpc_register_method("bdev_uring_create", bdev_rpc_uring_create);
	rpc_register_method("bdev_uring_delete", bdev_rpc_uring_delete);
	rpc_register_method("bdev_aio_create", bdev_rpc_aio_create);
	rpc_register_method("bdev_aio_delete", bdev_rpc_aio_delete);
	rpc_register_method("bdev_xnvme_create", bdev_rpc_xnvme_create);
	rpc_register_method("bdev_xnvme_delete", bdev_rpc_xnvme_delete);
	rpc_register_method("bdev_get_bdevs", bdev_rpc_get_bdevs);
	rpc_register_method("bdev_wait_for_examine", bdev_rpc_wait_for_examine);
	rpc_register_config_writer("bdev", bdev_rpc_write_config);
}
