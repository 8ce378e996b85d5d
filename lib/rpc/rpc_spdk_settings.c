/*
 * SPDK methods that configure machinery nvfab does not have: buffer pools, socket layer
 * implementations, acceleration engines, the reactor scheduler, SPDK's local NVMe driver,
 * RAID and iSCSI modules. SPDK's save_config writes them into every configuration, and rpc.py
 * users call them, so they are methods here too, under the compatibility rule of
 * docs/spdk-compat.md: a parameter is accepted when its value means what nvfab does anyway
 * (logged once at info level), and refused with a message that names it when it asks for a
 * feature nvfab lacks. Methods whose only purpose is such a feature (keys, NBD, VMD, crypto
 * offload) are refused whatever their parameters.
 */
#include "rpc/rpc_internal.h"

#include <errno.h>
#include <string.h>

#define INT json_type_int
#define BOOL json_type_boolean
#define STR json_type_string
#define ARR json_type_array
#define OBJ json_type_object

#define POOLS "SPDK's shared data-buffer pools; nvfab's buffers belong to each queue pair"
#define SOCK "SPDK's socket layer implementations; nvfab uses the kernel's TCP sockets directly"
#define ACCEL "SPDK's acceleration framework task and buffer caches; nvfab has none"
#define BDEV_POOLS "SPDK's bdev_io pools and caches; nvfab requests are preallocated per queue pair"
#define RAID "SPDK's RAID module; nvfab has no RAID bdev"
#define ISCSI "SPDK's iSCSI initiator bdev; nvfab has none"
#define SCHED "SPDK's reactor scheduler; nvfab reactors stay on the cores of -m"
#define PASSTHRU "admin command passthrough to a local NVMe device is not supported"

static const struct rpc_param iobuf_set_options[] = {
	RPC_COMPAT_KNOB("small_pool_count", INT, POOLS),
	RPC_COMPAT_KNOB("large_pool_count", INT, POOLS),
	RPC_COMPAT_KNOB("small_bufsize", INT, POOLS),
	RPC_COMPAT_KNOB("large_bufsize", INT, POOLS),
	RPC_COMPAT_KNOB("enable_numa", BOOL, POOLS),
};

static const struct rpc_param sock_set_default_impl[] = {
	RPC_COMPAT_KNOB_REQUIRED("impl_name", STR, SOCK),
};

static const struct rpc_param sock_impl_set_options[] = {
	RPC_COMPAT_KNOB_REQUIRED("impl_name", STR, SOCK),
	RPC_COMPAT_KNOB("recv_buf_size", INT, SOCK),
	RPC_COMPAT_KNOB("send_buf_size", INT, SOCK),
	RPC_COMPAT_KNOB("enable_recv_pipe", BOOL, SOCK),
	RPC_COMPAT_KNOB("enable_quickack", BOOL, SOCK),
	RPC_COMPAT_KNOB("enable_placement_id", INT, SOCK),
	RPC_COMPAT_KNOB("enable_zerocopy_send_server", BOOL, SOCK),
	RPC_COMPAT_KNOB("enable_zerocopy_send_client", BOOL, SOCK),
	RPC_COMPAT_KNOB("zerocopy_threshold", INT, SOCK),
	RPC_COMPAT_KNOB("tls_version", INT, SOCK),
	RPC_COMPAT_KNOB("enable_ktls", BOOL, SOCK),
};

static const struct rpc_param accel_set_options[] = {
	RPC_COMPAT_KNOB("small_cache_size", INT, ACCEL),
	RPC_COMPAT_KNOB("large_cache_size", INT, ACCEL),
	RPC_COMPAT_KNOB("task_count", INT, ACCEL),
	RPC_COMPAT_KNOB("sequence_count", INT, ACCEL),
	RPC_COMPAT_KNOB("buf_count", INT, ACCEL),
};

static const struct rpc_param bdev_set_options[] = {
	RPC_COMPAT_KNOB("bdev_io_pool_size", INT, BDEV_POOLS),
	RPC_COMPAT_KNOB("bdev_io_cache_size", INT, BDEV_POOLS),
	RPC_COMPAT_KNOB("bdev_auto_examine", BOOL, "SPDK's bdev examine step; nvfab bdevs are ready when created"),
	RPC_COMPAT_KNOB("iobuf_small_cache_size", INT, BDEV_POOLS),
	RPC_COMPAT_KNOB("iobuf_large_cache_size", INT, BDEV_POOLS),
};

static const struct rpc_param bdev_raid_set_options[] = {
	RPC_COMPAT_KNOB("process_window_size_kb", INT, RAID),
	RPC_COMPAT_KNOB("process_max_bandwidth_mb_sec", INT, RAID),
};

static const struct rpc_param bdev_iscsi_set_options[] = {
	RPC_COMPAT_KNOB("timeout_sec", INT, ISCSI),
};

static const struct rpc_param bdev_nvme_set_hotplug[] = {
	RPC_COMPAT_KNOB("enable", BOOL, "hot-plug monitoring of local PCIe NVMe devices; nvfab has no PCIe driver"),
	RPC_COMPAT_KNOB("period_us", INT, "hot-plug monitoring of local PCIe NVMe devices; nvfab has no PCIe driver"),
};

static const struct rpc_param framework_set_scheduler[] = {
	RPC_COMPAT_KNOB_REQUIRED("name", STR, SCHED),
	RPC_COMPAT_KNOB("period", INT, SCHED),
	/* the dynamic scheduler's options, and the static one's */
	RPC_COMPAT_KNOB("load_limit", INT, SCHED),
	RPC_COMPAT_KNOB("core_limit", INT, SCHED),
	RPC_COMPAT_KNOB("core_busy", INT, SCHED),
	RPC_COMPAT_KNOB("mappings", STR, SCHED),
};

static const struct rpc_param nvmf_set_config[] = {
	RPC_COMPAT_KNOB("acceptor_poll_rate", INT, "nvfab accepts connections when they arrive; it does not poll"),
	/* its members are checked with nvmf_admin_cmd_passthru: only "off" is accepted */
	{.name = "admin_cmd_passthru", .type = RPC_PARAM_OBJECT, .offset = 0, .optional = true},
	RPC_COMPAT_KNOB("poll_groups_mask", STR, "SPDK's poll group placement; nvfab reactors are the cores of -m"),
	RPC_COMPAT_DEFAULT("discovery_filter", STR, "\"match_any\"",
			   "nvfab's discovery log lists every listener of the subsystems a host may see"),
	/* dhchap_digests and dhchap_dhgroups are the target's: lib/target/nvmf_rpc.c takes them out
	 * before the rest is checked here. */
};

static const struct rpc_param nvmf_admin_cmd_passthru[] = {
	RPC_COMPAT_DEFAULT("identify_ctrlr", BOOL, "false", PASSTHRU),
	RPC_COMPAT_DEFAULT("vendor_specific", BOOL, "false", PASSTHRU),
};

static const struct rpc_param nvmf_set_max_subsystems[] = {
	RPC_COMPAT_KNOB_REQUIRED("max_subsystems", INT, "nvfab has no fixed table of subsystems"),
};

#define CRDT "Command Retry Delay Times: nvfab reports none (0) and never asks a host to delay a retry"
static const struct rpc_param nvmf_set_crdt[] = {
	RPC_COMPAT_DEFAULT("crdt1", INT, "0", CRDT),
	RPC_COMPAT_DEFAULT("crdt2", INT, "0", CRDT),
	RPC_COMPAT_DEFAULT("crdt3", INT, "0", CRDT),
};

struct rpc_spdk_setting {
	const char *name;
	const struct rpc_param *spec;
	size_t nspec;
	const char *refused;    /* non-NULL: the method asks for a feature nvfab lacks */
	/* An object parameter of spec (decoded at offset 0) whose members spec describes too. */
	const struct rpc_param *nested;
	size_t nnested;
};

#define SETTING(m) {#m, m, RPC_COUNTOF(m), NULL, NULL, 0}
#define SETTING_NESTED(m, n) {#m, m, RPC_COUNTOF(m), NULL, n, RPC_COUNTOF(n)}
#define REFUSED(m, why) {m, NULL, 0, why, NULL, 0}

static const struct rpc_spdk_setting rpc_spdk_settings[] = {
	SETTING(iobuf_set_options),
	SETTING(sock_set_default_impl),
	SETTING(sock_impl_set_options),
	SETTING(accel_set_options),
	SETTING(bdev_set_options),
	SETTING(bdev_raid_set_options),
	SETTING(bdev_iscsi_set_options),
	SETTING(bdev_nvme_set_hotplug),
	{"bdev_wait_for_examine", NULL, 0, NULL},
	SETTING(framework_set_scheduler),
	SETTING_NESTED(nvmf_set_config, nvmf_admin_cmd_passthru),
	SETTING(nvmf_set_max_subsystems),
	SETTING(nvmf_set_crdt),
	REFUSED("keyring_linux_set_options", "the Linux kernel keyring is not supported (keys live in files: keyring_file_add_key)"),
	REFUSED("keyring_linux_add_key", "the Linux kernel keyring is not supported (keys live in files: keyring_file_add_key)"),
	REFUSED("vmd_enable", "Intel VMD enumeration of local PCIe SSDs is not supported"),
	REFUSED("nbd_start_disk", "exporting bdevs as NBD block devices is not supported"),
	REFUSED("accel_assign_opc", "nvfab has no acceleration framework to assign operations in"),
	REFUSED("accel_crypto_key_create", "nvfab has no acceleration framework (no crypto offload)"),
	REFUSED("accel_set_driver", "nvfab has no acceleration framework"),
};

int rpc_spdk_setting_check(struct rpc_request *req, struct json_object *params)
{
	const struct rpc_spdk_setting *s = NULL;
	struct json_object *nested = NULL;

	for (size_t i = 0; i < RPC_COUNTOF(rpc_spdk_settings) && !s; i++)
		if (strcmp(rpc_spdk_settings[i].name, req->method) == 0)
			s = &rpc_spdk_settings[i];
	if (!s) {
		rpc_reply_error(req, RPC_ERROR_METHOD_NOT_FOUND, "Method not found");
		return -ENOENT;
	}
	if (s->refused) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "%s: not supported by nvfab: %s", s->name,
				s->refused);
		return -ENOTSUP;
	}
	if (rpc_decode_params(req, params, s->spec, s->nspec, s->nested ? &nested : NULL) ||
	    (nested && rpc_decode_params(req, nested, s->nested, s->nnested, NULL)))
		return -EINVAL;
	return 0;
}

static void rpc_spdk_setting(struct rpc_request *req, struct json_object *params)
{
	if (rpc_spdk_setting_check(req, params) == 0)
		rpc_reply_bool(req, true);
}

void rpc_spdk_settings_for_each(rpc_method_visit_fn fn, void *arg,
				rpc_method_fn (*registered)(const char *name))
{
	for (size_t i = 0; i < RPC_COUNTOF(rpc_spdk_settings); i++)
		if (!registered(rpc_spdk_settings[i].name))
			fn(rpc_spdk_settings[i].name, arg);
}

rpc_method_fn rpc_spdk_settings_lookup(const char *name)
{
	for (size_t i = 0; i < RPC_COUNTOF(rpc_spdk_settings); i++)
		if (strcmp(rpc_spdk_settings[i].name, name) == 0)
			return rpc_spdk_setting;
	return NULL;
}
