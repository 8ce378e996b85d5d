/*
 * SPDK-compatible JSON-RPC methods for the NVMe-oF target (names, parameters and result shapes
 * as in SPDK's lib/nvmf/nvmf_rpc.c), and the "nvmf" part of save_config. Control thread.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth/tls_psk.h"
#include "rpc/rpc.h"
#include "target/nvmf_rpc.h"
#include "target/target.h"
#include "util/log.h"

#define MSG_NO_SUBSYS "Unable to find subsystem with NQN %s"

static void uuid_format(const uint8_t u[16], char *out)
{
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		 u[13], u[14], u[15]);
}

static void hex_format(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02X", b[i]);
}

static struct tgt_subsystem *rpc_find_subsys(struct rpc_request *req, const char *nqn)
{
	struct tgt_subsystem *s = tgt_subsystem_find(nqn);

	if (!s || s->deleting) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, MSG_NO_SUBSYS, nqn);
		return NULL;
	}
	return s;
}

/* ---- transports ---- */

struct create_transport_params {
	char trtype[16];
	char tgt_name[64];
	uint32_t max_queue_depth, max_io_qpairs_per_ctrlr, max_qpairs_per_ctrlr;
	uint32_t in_capsule_data_size, max_io_size, io_unit_size, max_aq_depth;
	bool c2h_success;
	bool has_max_queue_depth, has_max_io_qpairs, has_max_qpairs, has_icd, has_max_io_size;
	bool has_io_unit_size, has_max_aq_depth, has_c2h_success;
};

#define RDMA_ONLY "an RDMA transport setting; nvfab's transport is TCP"
#define VFIO_ONLY "a vfio-user transport setting; nvfab's transport is TCP"
#define P(name, type, field, ...) {name, type, offsetof(struct create_transport_params, field), __VA_ARGS__}
static const struct rpc_param create_transport_spec[] = {
	{"trtype", RPC_PARAM_STRING, offsetof(struct create_transport_params, trtype), 16, false, 0},
	{"tgt_name", RPC_PARAM_STRING, offsetof(struct create_transport_params, tgt_name), 64, true, 0},
	P("max_queue_depth", RPC_PARAM_UINT32, max_queue_depth, 0, true, offsetof(struct create_transport_params, has_max_queue_depth)),
	P("max_io_qpairs_per_ctrlr", RPC_PARAM_UINT32, max_io_qpairs_per_ctrlr, 0, true, offsetof(struct create_transport_params, has_max_io_qpairs)),
	P("max_qpairs_per_ctrlr", RPC_PARAM_UINT32, max_qpairs_per_ctrlr, 0, true, offsetof(struct create_transport_params, has_max_qpairs)),
	P("in_capsule_data_size", RPC_PARAM_UINT32, in_capsule_data_size, 0, true, offsetof(struct create_transport_params, has_icd)),
	P("max_io_size", RPC_PARAM_UINT32, max_io_size, 0, true, offsetof(struct create_transport_params, has_max_io_size)),
	P("io_unit_size", RPC_PARAM_UINT32, io_unit_size, 0, true, offsetof(struct create_transport_params, has_io_unit_size)),
	P("max_aq_depth", RPC_PARAM_UINT32, max_aq_depth, 0, true, offsetof(struct create_transport_params, has_max_aq_depth)),
	P("c2h_success", RPC_PARAM_BOOL, c2h_success, 0, true, offsetof(struct create_transport_params, has_c2h_success)),
	/* SPDK's, under the compatibility rule (docs/spdk-compat.md) */
	RPC_COMPAT_KNOB("num_shared_buffers", json_type_int,
			"SPDK's shared data-buffer pool; nvfab's buffers belong to each queue pair"),
	RPC_COMPAT_KNOB("buf_cache_size", json_type_int,
			"SPDK's per-poll-group buffer cache; nvfab's buffers belong to each queue pair"),
	RPC_COMPAT_KNOB("zcopy", json_type_boolean,
			"SPDK's zero-copy bdev API; nvfab sends RAM and null reads without a copy anyway"),
	RPC_COMPAT_DEFAULT("dif_insert_or_strip", json_type_boolean, "false",
			   "end-to-end protection information (DIF) is not supported"),
	RPC_COMPAT_KNOB("sock_priority", json_type_int,
			"SO_PRIORITY of SPDK's sockets; nvfab's keep the system default"),
	RPC_COMPAT_KNOB("abort_timeout_sec", json_type_int,
			"SPDK's timeout for aborting commands held in its transport; nvfab aborts none"),
	RPC_COMPAT_KNOB("control_msg_num", json_type_int,
			"SPDK's per-poll-group control message pool; nvfab has none"),
	RPC_COMPAT_KNOB("acceptor_poll_rate", json_type_int,
			"nvfab accepts connections when they arrive; it does not poll"),
	RPC_COMPAT_KNOB("disable_command_passthru", json_type_boolean,
			"nvfab has no command passthrough to disable"),
	RPC_COMPAT_DEFAULT("kas", json_type_int, "10",
			   "nvfab's keep-alive granularity is fixed at 1 s (KAS 10)"),
	RPC_COMPAT_KNOB("min_kato", json_type_int,
			"nvfab enforces no minimum keep-alive timeout"),
	RPC_COMPAT_KNOB("num_cqe", json_type_int, RDMA_ONLY),
	RPC_COMPAT_KNOB("max_srq_depth", json_type_int, RDMA_ONLY),
	RPC_COMPAT_KNOB("no_srq", json_type_boolean, RDMA_ONLY),
	RPC_COMPAT_KNOB("acceptor_backlog", json_type_int, RDMA_ONLY),
	RPC_COMPAT_KNOB("no_wr_batching", json_type_boolean, RDMA_ONLY),
	RPC_COMPAT_KNOB("ack_timeout", json_type_int, RDMA_ONLY),
	RPC_COMPAT_KNOB("data_wr_pool_size", json_type_int, RDMA_ONLY),
	RPC_COMPAT_KNOB("disable_mappable_bar0", json_type_boolean, VFIO_ONLY),
	RPC_COMPAT_KNOB("disable_adaptive_irq", json_type_boolean, VFIO_ONLY),
	RPC_COMPAT_KNOB("disable_shadow_doorbells", json_type_boolean, VFIO_ONLY),
};
#undef P

static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static void rpc_nvmf_create_transport(struct rpc_request *req, struct json_object *params)
{
	struct create_transport_params p = {0};
	struct tgt_transport_opts o;

	if (rpc_decode_params(req, params, create_transport_spec,
			      sizeof(create_transport_spec) / sizeof(create_transport_spec[0]), &p))
		return;
	if (strcasecmp(p.trtype, "TCP") != 0) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameter 'trtype': transport type '%s' is not supported (only TCP)", p.trtype);
		return;
	}
	if (g_tgt.opts.created) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Transport type '%s' already exists", p.trtype);
		return;
	}
	o = g_tgt.opts;
	if (p.has_max_queue_depth)
		o.max_queue_depth = p.max_queue_depth;
	if (p.has_max_qpairs)
		o.max_qpairs_per_ctrlr = p.max_qpairs_per_ctrlr;
	if (p.has_max_io_qpairs)
		o.max_qpairs_per_ctrlr = p.max_io_qpairs_per_ctrlr + 1;
	if (p.has_icd)
		o.in_capsule_data_size = p.in_capsule_data_size;
	if (p.has_max_io_size)
		o.max_io_size = p.max_io_size;
	if (p.has_io_unit_size)
		o.io_unit_size = p.io_unit_size;
	if (p.has_max_aq_depth)
		o.max_aq_depth = p.max_aq_depth;
	if (p.has_c2h_success)
		o.c2h_success = p.c2h_success;
	/* Check everything before applying anything. */
	if (o.max_queue_depth < 2 || o.max_queue_depth > 65535) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Invalid parameter 'max_queue_depth': must be 2..65535");
		return;
	}
	if (o.max_aq_depth < 32 || o.max_aq_depth > 4096) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Invalid parameter 'max_aq_depth': must be 32..4096");
		return;
	}
	if (o.max_qpairs_per_ctrlr < 2 || o.max_qpairs_per_ctrlr > 65535) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameter 'max_io_qpairs_per_ctrlr': must be 1..65534");
		return;
	}
	if (o.in_capsule_data_size % 16 || o.in_capsule_data_size > 131072) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameter 'in_capsule_data_size': a multiple of 16 up to 131072");
		return;
	}
	if (o.max_io_size < 4096 || !pow2(o.max_io_size) || o.max_io_size > 8u << 20) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameter 'max_io_size': a power of two from 4096 to 8388608");
		return;
	}
	if (o.io_unit_size < 4096 || o.io_unit_size % 4) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameter 'io_unit_size': at least 4096 and a multiple of 4");
		return;
	}
	o.created = true;
	g_tgt.opts = o;
	log_notice("transport TCP created: queue depth %u, %u queues per controller, in-capsule %u, max I/O %u",
		   o.max_queue_depth, o.max_qpairs_per_ctrlr, o.in_capsule_data_size, o.max_io_size);
	rpc_reply_bool(req, true);
}

static struct json_object *transport_json(void)
{
	const struct tgt_transport_opts *o = &g_tgt.opts;
	struct json_object *t = json_object_new_object();

	json_object_object_add(t, "trtype", json_object_new_string("TCP"));
	json_object_object_add(t, "max_queue_depth", json_object_new_int64(o->max_queue_depth));
	json_object_object_add(t, "max_io_qpairs_per_ctrlr", json_object_new_int64(o->max_qpairs_per_ctrlr - 1));
	json_object_object_add(t, "in_capsule_data_size", json_object_new_int64(o->in_capsule_data_size));
	json_object_object_add(t, "max_io_size", json_object_new_int64(o->max_io_size));
	json_object_object_add(t, "io_unit_size", json_object_new_int64(o->io_unit_size));
	json_object_object_add(t, "max_aq_depth", json_object_new_int64(o->max_aq_depth));
	json_object_object_add(t, "c2h_success", json_object_new_boolean(o->c2h_success));
	json_object_object_add(t, "dif_insert_or_strip", json_object_new_boolean(false));
	json_object_object_add(t, "zcopy", json_object_new_boolean(false));
	return t;
}

struct get_transports_params {
	char trtype[16];
	char tgt_name[64];
	bool has_trtype;
};

static const struct rpc_param get_transports_spec[] = {
	{"trtype", RPC_PARAM_STRING, offsetof(struct get_transports_params, trtype), 16, true,
	 offsetof(struct get_transports_params, has_trtype)},
	{"tgt_name", RPC_PARAM_STRING, offsetof(struct get_transports_params, tgt_name), 64, true, 0},
};

static void rpc_nvmf_get_transports(struct rpc_request *req, struct json_object *params)
{
	struct get_transports_params p = {0};
	struct json_object *arr;

	if (rpc_decode_params(req, params, get_transports_spec, 2, &p))
		return;
	if (p.has_trtype && (strcasecmp(p.trtype, "TCP") != 0 || !g_tgt.opts.created)) {
		rpc_reply_error(req, -ENODEV, "Unable to find transport %s", p.trtype);
		return;
	}
	arr = json_object_new_array();
	if (g_tgt.opts.created)
		json_object_array_add(arr, transport_json());
	rpc_reply(req, arr);
}

/* ---- subsystems ---- */

struct create_subsys_params {
	char nqn[NVMF_NQN_MAX + 2];
	char serial_number[32];         /* checked against the 20 and 40 bytes Identify holds */
	char model_number[48];
	char tgt_name[64];
	uint32_t max_namespaces, min_cntlid, max_cntlid;
	bool allow_any_host;
	bool has_serial, has_model, has_min, has_max;
};

#define CS(f) offsetof(struct create_subsys_params, f)
static const struct rpc_param create_subsys_spec[] = {
	{"nqn", RPC_PARAM_STRING, CS(nqn), sizeof(((struct create_subsys_params *)0)->nqn), false, 0},
	{"serial_number", RPC_PARAM_STRING, CS(serial_number), 32, true, CS(has_serial)},
	{"model_number", RPC_PARAM_STRING, CS(model_number), 48, true, CS(has_model)},
	{"tgt_name", RPC_PARAM_STRING, CS(tgt_name), 64, true, 0},
	{"max_namespaces", RPC_PARAM_UINT32, CS(max_namespaces), 0, true, 0},
	{"min_cntlid", RPC_PARAM_UINT32, CS(min_cntlid), 0, true, CS(has_min)},
	{"max_cntlid", RPC_PARAM_UINT32, CS(max_cntlid), 0, true, CS(has_max)},
	{"allow_any_host", RPC_PARAM_BOOL, CS(allow_any_host), 0, true, 0},
	RPC_COMPAT_DEFAULT("ana_reporting", json_type_boolean, "false",
			   "Asymmetric Namespace Access (ANA) reporting is not supported yet"),
	RPC_COMPAT_DEFAULT("max_discard_size_kib", json_type_int, "0",
			   "nvfab does not cap Dataset Management ranges"),
	RPC_COMPAT_DEFAULT("max_write_zeroes_size_kib", json_type_int, "0",
			   "nvfab does not cap Write Zeroes sizes"),
	RPC_COMPAT_DEFAULT("passthrough", json_type_boolean, "false",
			   "passthrough subsystems (commands sent as they are to a local NVMe device) are not supported"),
	RPC_COMPAT_DEFAULT("enable_nssr", json_type_boolean, "false",
			   "NVM Subsystem Reset is not supported"),
};
#undef CS

static bool ascii_printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

static void rpc_nvmf_create_subsystem(struct rpc_request *req, struct json_object *params)
{
	struct create_subsys_params p = {0};
	struct tgt_subsystem *s;

	if (rpc_decode_params(req, params, create_subsys_spec,
			      sizeof(create_subsys_spec) / sizeof(create_subsys_spec[0]), &p))
		return;
	if (!tgt_nqn_valid(p.nqn) || strcmp(p.nqn, NVMF_DISCOVERY_NQN) == 0) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Invalid parameter 'nqn': %s is not a valid subsystem NQN", p.nqn);
		return;
	}
	if (tgt_subsystem_find(p.nqn)) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Subsystem NQN %s already exists", p.nqn);
		return;
	}
	if (p.has_serial && (strlen(p.serial_number) > 20 || !ascii_printable(p.serial_number))) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Invalid parameter 'serial_number': at most 20 printable ASCII characters");
		return;
	}
	if (p.has_model && (strlen(p.model_number) > 40 || !ascii_printable(p.model_number))) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Invalid parameter 'model_number': at most 40 printable ASCII characters");
		return;
	}
	if (p.max_namespaces > 1024) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Invalid parameter 'max_namespaces': at most 1024");
		return;
	}
	if (!p.has_min)
		p.min_cntlid = TGT_CNTLID_MIN;
	if (!p.has_max)
		p.max_cntlid = TGT_CNTLID_MAX;
	if (p.min_cntlid < TGT_CNTLID_MIN || p.max_cntlid > TGT_CNTLID_MAX || p.min_cntlid > p.max_cntlid) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Invalid cntlid range [%u-%u]", p.min_cntlid, p.max_cntlid);
		return;
	}
	s = tgt_subsystem_create(p.nqn, TGT_SUBSYS_NVME, p.max_namespaces);
	if (!s) {
		rpc_reply_error(req, RPC_ERROR_INTERNAL_ERROR, "Unable to create subsystem %s: out of memory", p.nqn);
		return;
	}
	if (p.has_serial)
		snprintf(s->serial, sizeof(s->serial), "%.*s", (int)sizeof(s->serial) - 1, p.serial_number);
	if (p.has_model)
		snprintf(s->model, sizeof(s->model), "%.*s", (int)sizeof(s->model) - 1, p.model_number);
	s->allow_any_host = p.allow_any_host;
	s->min_cntlid = (uint16_t)p.min_cntlid;
	s->max_cntlid = (uint16_t)p.max_cntlid;
	s->next_cntlid = s->min_cntlid;
	log_notice("subsystem %s created", s->nqn);
	rpc_reply_bool(req, true);
}

struct nqn_params {
	char nqn[NVMF_NQN_MAX + 2];
	char tgt_name[64];
};

static const struct rpc_param nqn_spec[] = {
	{"nqn", RPC_PARAM_STRING, offsetof(struct nqn_params, nqn), NVMF_NQN_MAX + 2, false, 0},
	{"tgt_name", RPC_PARAM_STRING, offsetof(struct nqn_params, tgt_name), 64, true, 0},
};

static void rpc_nvmf_delete_subsystem(struct rpc_request *req, struct json_object *params)
{
	struct nqn_params p = {0};
	struct tgt_subsystem *s;

	if (rpc_decode_params(req, params, nqn_spec, 2, &p))
		return;
	if (strcmp(p.nqn, NVMF_DISCOVERY_NQN) == 0) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "The discovery subsystem cannot be deleted");
		return;
	}
	s = rpc_find_subsys(req, p.nqn);
	if (!s)
		return;
	tgt_subsystem_delete(s);
	log_notice("subsystem %s deleted", p.nqn);
	rpc_reply_bool(req, true);
}

static struct json_object *listen_addr_json(const struct tgt_listen_addr *a)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "trtype", json_object_new_string(a->trtype));
	json_object_object_add(o, "adrfam", json_object_new_string(a->adrfam));
	json_object_object_add(o, "traddr", json_object_new_string(a->traddr));
	json_object_object_add(o, "trsvcid", json_object_new_string(a->trsvcid));
	return o;
}

/* A namespace as nvmf_subsystem_add_ns takes it back: the identifiers survive a restart. */
static struct json_object *ns_json(const struct tgt_ns *ns)
{
	struct json_object *n = json_object_new_object();
	char text[40];

	json_object_object_add(n, "nsid", json_object_new_int64(ns->nsid));
	json_object_object_add(n, "bdev_name", json_object_new_string(ns->bdev->name));
	hex_format(ns->nguid, 16, text);
	json_object_object_add(n, "nguid", json_object_new_string(text));
	uuid_format(ns->uuid, text);
	json_object_object_add(n, "uuid", json_object_new_string(text));
	return n;
}

/* Key names, never their material (nvmf_get_subsystems, save_config). */
static void host_keys_json(struct json_object *o, const struct tgt_host *h)
{
	if (h->dhchap_key[0])
		json_object_object_add(o, "dhchap_key", json_object_new_string(h->dhchap_key));
	if (h->dhchap_ctrlr_key[0])
		json_object_object_add(o, "dhchap_ctrlr_key", json_object_new_string(h->dhchap_ctrlr_key));
	if (h->psk[0])
		json_object_object_add(o, "psk", json_object_new_string(h->psk));
}

static struct json_object *subsys_json(const struct tgt_subsystem *s)
{
	struct json_object *o = json_object_new_object(), *arr;
	const struct list_node *pos;

	json_object_object_add(o, "nqn", json_object_new_string(s->nqn));
	json_object_object_add(o, "subtype", json_object_new_string(s->type == TGT_SUBSYS_DISCOVERY ? "Discovery" : "NVMe"));
	arr = json_object_new_array();
	for (pos = s->listeners.next; pos != &s->listeners; pos = pos->next)
		json_object_array_add(arr, listen_addr_json(&list_entry(pos, struct tgt_subsys_listener, link)->addr));
	json_object_object_add(o, "listen_addresses", arr);
	json_object_object_add(o, "allow_any_host", json_object_new_boolean(s->allow_any_host));
	arr = json_object_new_array();
	for (pos = s->hosts.next; pos != &s->hosts; pos = pos->next) {
		const struct tgt_host *th = list_entry(pos, struct tgt_host, link);
		struct json_object *h = json_object_new_object();

		json_object_object_add(h, "nqn", json_object_new_string(th->nqn));
		host_keys_json(h, th);
		json_object_array_add(arr, h);
	}
	json_object_object_add(o, "hosts", arr);
	if (s->type == TGT_SUBSYS_DISCOVERY)
		return o;
	json_object_object_add(o, "serial_number", json_object_new_string(s->serial));
	json_object_object_add(o, "model_number", json_object_new_string(s->model));
	json_object_object_add(o, "max_namespaces", json_object_new_int64(s->max_namespaces));
	json_object_object_add(o, "min_cntlid", json_object_new_int64(s->min_cntlid));
	json_object_object_add(o, "max_cntlid", json_object_new_int64(s->max_cntlid));
	arr = json_object_new_array();
	for (uint32_t i = 1; i <= s->max_namespaces; i++) {
		struct tgt_ns *ns = tgt_ns_get((struct tgt_subsystem *)s, i);

		if (ns) {
			struct json_object *n = ns_json(ns);

			json_object_object_add(n, "name", json_object_new_string(ns->bdev->name));
			json_object_array_add(arr, n);
		}
	}
	json_object_object_add(o, "namespaces", arr);
	return o;
}

struct get_subsys_params {
	char nqn[NVMF_NQN_MAX + 2];
	char tgt_name[64];
	bool has_nqn;
};

static const struct rpc_param get_subsys_spec[] = {
	{"nqn", RPC_PARAM_STRING, offsetof(struct get_subsys_params, nqn), NVMF_NQN_MAX + 2, true,
	 offsetof(struct get_subsys_params, has_nqn)},
	{"tgt_name", RPC_PARAM_STRING, offsetof(struct get_subsys_params, tgt_name), 64, true, 0},
};

static void rpc_nvmf_get_subsystems(struct rpc_request *req, struct json_object *params)
{
	struct get_subsys_params p = {0};
	struct json_object *arr;
	const struct list_node *pos;

	if (rpc_decode_params(req, params, get_subsys_spec, 2, &p))
		return;
	if (p.has_nqn) {
		struct tgt_subsystem *s = rpc_find_subsys(req, p.nqn);

		if (!s)
			return;
		arr = json_object_new_array();
		json_object_array_add(arr, subsys_json(s));
		rpc_reply(req, arr);
		return;
	}
	arr = json_object_new_array();
	json_object_array_add(arr, subsys_json(g_tgt.discovery));
	for (pos = g_tgt.subsystems.next; pos != &g_tgt.subsystems; pos = pos->next)
		json_object_array_add(arr, subsys_json(list_entry(pos, struct tgt_subsystem, link)));
	rpc_reply(req, arr);
}

/* ---- namespaces ---- */

struct ns_params {
	char bdev_name[64];
	char nguid[40], eui64[24], uuid[40];
	uint32_t nsid;
	bool has_nguid, has_eui64, has_uuid;
};

#define NS(f) offsetof(struct ns_params, f)
static const struct rpc_param ns_spec[] = {
	{"bdev_name", RPC_PARAM_STRING, NS(bdev_name), 64, false, 0},
	{"nsid", RPC_PARAM_UINT32, NS(nsid), 0, true, 0},
	{"nguid", RPC_PARAM_STRING, NS(nguid), 40, true, NS(has_nguid)},
	{"eui64", RPC_PARAM_STRING, NS(eui64), 24, true, NS(has_eui64)},
	{"uuid", RPC_PARAM_STRING, NS(uuid), 40, true, NS(has_uuid)},
	RPC_COMPAT_DEFAULT("ptpl_file", json_type_string, "\"\"",
			   "reservations (and so persisting them) are not supported"),
	RPC_COMPAT_KNOB("anagrpid", json_type_int,
			"ANA group of the namespace; without ANA reporting it has no effect"),
	RPC_COMPAT_DEFAULT("no_auto_visible", json_type_boolean, "false",
			   "per-host namespace visibility is not supported: every allowed host sees every namespace"),
	RPC_COMPAT_KNOB("hide_metadata", json_type_boolean,
			"nvfab bdevs have no separate metadata to hide"),
};
#undef NS

struct add_ns_params {
	char nqn[NVMF_NQN_MAX + 2];
	char tgt_name[64];
	struct json_object *ns;
};

static const struct rpc_param add_ns_spec[] = {
	{"nqn", RPC_PARAM_STRING, offsetof(struct add_ns_params, nqn), NVMF_NQN_MAX + 2, false, 0},
	{"namespace", RPC_PARAM_OBJECT, offsetof(struct add_ns_params, ns), 0, false, 0},
	{"tgt_name", RPC_PARAM_STRING, offsetof(struct add_ns_params, tgt_name), 64, true, 0},
};

static void rpc_nvmf_subsystem_add_ns(struct rpc_request *req, struct json_object *params)
{
	struct add_ns_params p = {0};
	struct ns_params n = {0};
	struct tgt_subsystem *s;
	struct bdev *b;
	uint32_t nsid = 0;
	int rc;

	if (RPC_DECODE(req, params, add_ns_spec, &p) || RPC_DECODE(req, p.ns, ns_spec, &n))
		return;
	s = rpc_find_subsys(req, p.nqn);
	if (!s)
		return;
	if (s->type != TGT_SUBSYS_NVME) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "The discovery subsystem has no namespaces");
		return;
	}
	b = bdev_lookup(n.bdev_name);
	if (!b) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Invalid parameter 'bdev_name': no bdev named %s", n.bdev_name);
		return;
	}
	rc = tgt_ns_add(s, b, n.nsid, n.has_nguid ? n.nguid : NULL, n.has_uuid ? n.uuid : NULL,
			n.has_eui64 ? n.eui64 : NULL, &nsid);
	switch (rc) {
	case 0:
		tgt_discovery_changed();
		rpc_reply(req, json_object_new_int64(nsid));
		return;
	case -EEXIST:
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Invalid parameter 'nsid': namespace %u already exists", n.nsid);
		return;
	case -ERANGE:
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Invalid parameter 'nsid': %u exceeds max_namespaces %u",
				n.nsid, s->max_namespaces);
		return;
	case -ENOSPC:
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Subsystem %s has no free namespace ID", s->nqn);
		return;
	case -EBUSY:
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Invalid parameter 'bdev_name': bdev %s is already claimed by a namespace", b->name);
		return;
	case -EINVAL:
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Invalid parameter: nguid, uuid or eui64 is malformed");
		return;
	default:
		rpc_reply_errno(req, rc, "Unable to add namespace");
		return;
	}
}

struct remove_ns_params {
	char nqn[NVMF_NQN_MAX + 2];
	char tgt_name[64];
	uint32_t nsid;
};

static const struct rpc_param remove_ns_spec[] = {
	{"nqn", RPC_PARAM_STRING, offsetof(struct remove_ns_params, nqn), NVMF_NQN_MAX + 2, false, 0},
	{"nsid", RPC_PARAM_UINT32, offsetof(struct remove_ns_params, nsid), 0, false, 0},
	{"tgt_name", RPC_PARAM_STRING, offsetof(struct remove_ns_params, tgt_name), 64, true, 0},
};

static void rpc_nvmf_subsystem_remove_ns(struct rpc_request *req, struct json_object *params)
{
	struct remove_ns_params p = {0};
	struct tgt_subsystem *s;

	if (rpc_decode_params(req, params, remove_ns_spec, 3, &p))
		return;
	s = rpc_find_subsys(req, p.nqn);
	if (!s)
		return;
	if (s->type != TGT_SUBSYS_NVME || tgt_ns_remove(s, p.nsid)) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Invalid parameter 'nsid': no namespace %u in %s", p.nsid, p.nqn);
		return;
	}
	tgt_discovery_changed();
	rpc_reply_bool(req, true);
}

/* ---- listeners ---- */

struct listener_params {
	char nqn[NVMF_NQN_MAX + 2];
	char tgt_name[64];
	struct json_object *addr;
	bool secure_channel;
};

static const struct rpc_param listener_spec[] = {
	{"nqn", RPC_PARAM_STRING, offsetof(struct listener_params, nqn), NVMF_NQN_MAX + 2, false, 0},
	{"listen_address", RPC_PARAM_OBJECT, offsetof(struct listener_params, addr), 0, false, 0},
	{"tgt_name", RPC_PARAM_STRING, offsetof(struct listener_params, tgt_name), 64, true, 0},
	{"secure_channel", RPC_PARAM_BOOL, offsetof(struct listener_params, secure_channel), 0, true, 0},
	RPC_COMPAT_KNOB("ana_state", json_type_string,
			"ANA state of the listener; without ANA reporting it has no effect"),
	RPC_COMPAT_KNOB("sock_impl", json_type_string,
			"SPDK's socket implementation (posix, uring, ssl); nvfab uses the kernel's TCP sockets"),
};

struct addr_params {
	char trtype[16], adrfam[16], traddr[64], trsvcid[32];
	bool has_adrfam;
};

static const struct rpc_param addr_spec[] = {
	{"trtype", RPC_PARAM_STRING, offsetof(struct addr_params, trtype), 16, false, 0},
	{"adrfam", RPC_PARAM_STRING, offsetof(struct addr_params, adrfam), 16, true,
	 offsetof(struct addr_params, has_adrfam)},
	{"traddr", RPC_PARAM_STRING, offsetof(struct addr_params, traddr), 64, false, 0},
	{"trsvcid", RPC_PARAM_STRING, offsetof(struct addr_params, trsvcid), 32, false, 0},
};

static int rpc_decode_listener(struct rpc_request *req, struct json_object *params,
			       struct tgt_subsystem **s, struct tgt_listen_addr *addr)
{
	struct listener_params p = {0};
	struct addr_params a = {0};
	const char *why = NULL;

	if (RPC_DECODE(req, params, listener_spec, &p) || RPC_DECODE(req, p.addr, addr_spec, &a))
		return -EINVAL;
	*s = rpc_find_subsys(req, p.nqn);
	if (!*s)
		return -ENOENT;
	if (tgt_listen_addr_parse(a.trtype, a.has_adrfam ? a.adrfam : NULL, a.traddr, a.trsvcid, addr, &why)) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Invalid parameter 'listen_address.%s", why);
		return -EINVAL;
	}
	addr->secure = p.secure_channel;
	return 0;
}

static void rpc_nvmf_subsystem_add_listener(struct rpc_request *req, struct json_object *params)
{
	struct tgt_subsystem *s;
	struct tgt_listen_addr addr;
	int rc;

	if (rpc_decode_listener(req, params, &s, &addr))
		return;
	if (!g_tgt.opts.created) {
		/* SPDK insists on nvmf_create_transport first; defaults serve just as well. */
		g_tgt.opts.created = true;
		log_info("transport TCP created with defaults for the first listener");
	}
	rc = tgt_subsystem_add_listener(s, &addr);
	if (rc == -EEXIST) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Listener %s:%s already exists on %s", addr.traddr, addr.trsvcid, s->nqn);
		return;
	}
	if (rc == -EPROTOTYPE) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameter 'secure_channel': %s:%s is already a %s listener of another subsystem",
				addr.traddr, addr.trsvcid, addr.secure ? "plain TCP" : "TLS (secure_channel)");
		return;
	}
	if (rc) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Unable to listen on %s:%s: %s", addr.traddr, addr.trsvcid, strerror(-rc));
		return;
	}
	rpc_reply_bool(req, true);
}

static void rpc_nvmf_subsystem_remove_listener(struct rpc_request *req, struct json_object *params)
{
	struct tgt_subsystem *s;
	struct tgt_listen_addr addr;

	if (rpc_decode_listener(req, params, &s, &addr))
		return;
	if (tgt_subsystem_remove_listener(s, &addr)) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "No listener %s:%s on %s", addr.traddr, addr.trsvcid, s->nqn);
		return;
	}
	rpc_reply_bool(req, true);
}

/* ---- hosts ---- */


struct host_params {
	char nqn[NVMF_NQN_MAX + 2];
	char host[NVMF_NQN_MAX + 2];
	char tgt_name[64];
	char psk[KEYRING_NAME_MAX];
	char dhchap_key[KEYRING_NAME_MAX];
	char dhchap_ctrlr_key[KEYRING_NAME_MAX];
	bool has_psk, has_dhchap;
};

static const struct rpc_param host_spec[] = {
	{"nqn", RPC_PARAM_STRING, offsetof(struct host_params, nqn), NVMF_NQN_MAX + 2, false, 0},
	{"host", RPC_PARAM_STRING, offsetof(struct host_params, host), NVMF_NQN_MAX + 2, false, 0},
	{"tgt_name", RPC_PARAM_STRING, offsetof(struct host_params, tgt_name), 64, true, 0},
	{"psk", RPC_PARAM_STRING, offsetof(struct host_params, psk), KEYRING_NAME_MAX, true, offsetof(struct host_params, has_psk)},
	{"dhchap_key", RPC_PARAM_STRING, offsetof(struct host_params, dhchap_key), KEYRING_NAME_MAX, true, offsetof(struct host_params, has_dhchap)},
	{"dhchap_ctrlr_key", RPC_PARAM_STRING, offsetof(struct host_params, dhchap_ctrlr_key), KEYRING_NAME_MAX, true, 0},
};

/*
 * Checks the DH-HMAC-CHAP key names of a host: they must be in the keyring and hold secrets in
 * the DHHC-1 representation (so that a typo shows now, not at the host's Connect), and a
 * controller key needs a host key, as in SPDK. Replies and returns false when they do not.
 */
static bool host_keys_ok(struct rpc_request *req, const struct host_params *p)
{
	const char *names[3] = {p->dhchap_key, p->dhchap_ctrlr_key, p->psk};
	static const char *const kinds[3] = {"DH-HMAC-CHAP key", "DH-HMAC-CHAP ctrlr key", "PSK"};

	if (p->dhchap_ctrlr_key[0] && !p->dhchap_key[0]) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameters: dhchap_ctrlr_key needs dhchap_key (bidirectional authentication is on top of the host's)");
		return false;
	}
	for (int i = 0; i < 3; i++) {
		const struct keyring_key *key;
		struct dhchap_secret secret;
		struct tls_psk psk;
		char text[KEYRING_KEY_MAX];
		const char *why = NULL;
		int rc;

		if (!names[i][0])
			continue;
		key = keyring_find(names[i]);
		if (!key) {
			rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
					"Unable to find %s: %s (add it with keyring_file_add_key)", kinds[i],
					names[i]);
			return false;
		}
		rc = keyring_key_read(key, text, sizeof(text));
		if (rc < 0) {
			rpc_reply_errno(req, rc, "Cannot read key %s from %s", names[i], key->path);
			return false;
		}
		rc = i < 2 ? dhchap_secret_parse(text, &secret, &why) : tls_psk_parse(text, &psk, &why);
		memset(text, 0, sizeof(text));
		dhchap_secret_clear(&secret);
		tls_psk_clear(&psk);
		if (rc) {
			rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Key %s (%s) is not a %s: %s",
					names[i], key->path, i < 2 ? "DH-HMAC-CHAP secret" : "TLS PSK", why);
			return false;
		}
	}
	return true;
}

static void rpc_nvmf_subsystem_add_host(struct rpc_request *req, struct json_object *params)
{
	struct host_params p = {0};
	struct tgt_subsystem *s;
	int rc;

	if (rpc_decode_params(req, params, host_spec, 6, &p))
		return;
	s = rpc_find_subsys(req, p.nqn);
	if (!s)
		return;
	if (!host_keys_ok(req, &p))
		return;
	rc = tgt_subsystem_add_host(s, p.host, p.dhchap_key, p.dhchap_ctrlr_key, p.psk);
	if (rc == -EINVAL)
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Invalid parameter 'host': %s is not a valid NQN", p.host);
	else if (rc == -EEXIST)
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Host %s is already allowed on %s", p.host, p.nqn);
	else if (rc)
		rpc_reply_errno(req, rc, "Unable to add host");
	else
		rpc_reply_bool(req, true);
}

/*
 * New keys for a host on the allow-list (SPDK's nvmf_subsystem_set_keys): its next controllers,
 * and re-authentications of queues connected later, use them; a parameter left out clears that
 * key. Queues already connected keep the keys they authenticated with.
 */
static void rpc_nvmf_subsystem_set_keys(struct rpc_request *req, struct json_object *params)
{
	struct host_params p = {0};
	struct tgt_subsystem *s;
	struct tgt_host *h;

	if (rpc_decode_params(req, params, host_spec, 6, &p))
		return;
	if (p.has_psk) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Invalid parameter 'psk': nvmf_subsystem_set_keys has no psk");
		return;
	}
	s = rpc_find_subsys(req, p.nqn);
	if (!s)
		return;
	h = tgt_subsystem_find_host(s, p.host);
	if (!h) {
		rpc_reply_errno(req, -ENOENT, "Host %s is not on the allow-list of %s", p.host, p.nqn);
		return;
	}
	if (!host_keys_ok(req, &p))
		return;
	snprintf(h->dhchap_key, sizeof(h->dhchap_key), "%s", p.dhchap_key);
	snprintf(h->dhchap_ctrlr_key, sizeof(h->dhchap_ctrlr_key), "%s", p.dhchap_ctrlr_key);
	rpc_reply_bool(req, true);
}

static void rpc_nvmf_subsystem_remove_host(struct rpc_request *req, struct json_object *params)
{
	struct host_params p = {0};
	struct tgt_subsystem *s;

	if (rpc_decode_params(req, params, host_spec, 3, &p))
		return;
	s = rpc_find_subsys(req, p.nqn);
	if (!s)
		return;
	if (tgt_subsystem_remove_host(s, p.host)) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Host %s is not on the allow-list of %s", p.host, p.nqn);
		return;
	}
	rpc_reply_bool(req, true);
}

struct allow_any_params {
	char nqn[NVMF_NQN_MAX + 2];
	char tgt_name[64];
	bool allow_any_host;
};

static const struct rpc_param allow_any_spec[] = {
	{"nqn", RPC_PARAM_STRING, offsetof(struct allow_any_params, nqn), NVMF_NQN_MAX + 2, false, 0},
	{"allow_any_host", RPC_PARAM_BOOL, offsetof(struct allow_any_params, allow_any_host), 0, false, 0},
	{"tgt_name", RPC_PARAM_STRING, offsetof(struct allow_any_params, tgt_name), 64, true, 0},
};

static void rpc_nvmf_subsystem_allow_any_host(struct rpc_request *req, struct json_object *params)
{
	struct allow_any_params p = {0};
	struct tgt_subsystem *s;

	if (rpc_decode_params(req, params, allow_any_spec, 3, &p))
		return;
	s = rpc_find_subsys(req, p.nqn);
	if (!s)
		return;
	s->allow_any_host = p.allow_any_host;
	tgt_discovery_changed();
	rpc_reply_bool(req, true);
}

/* ---- controllers and statistics ---- */

static void rpc_nvmf_subsystem_get_controllers(struct rpc_request *req, struct json_object *params)
{
	struct nqn_params p = {0};
	struct tgt_subsystem *s;
	struct json_object *arr;
	const struct list_node *pos;

	if (rpc_decode_params(req, params, nqn_spec, 2, &p))
		return;
	s = rpc_find_subsys(req, p.nqn);
	if (!s)
		return;
	arr = json_object_new_array();
	for (pos = s->ctrlrs.next; pos != &s->ctrlrs; pos = pos->next) {
		const struct tgt_ctrlr *c = list_entry(pos, struct tgt_ctrlr, link);
		struct json_object *o;
		char id[40];

		if (c->destroying)
			continue;
		o = json_object_new_object();
		uuid_format(c->hostid, id);
		json_object_object_add(o, "cntlid", json_object_new_int64(c->cntlid));
		json_object_object_add(o, "hostnqn", json_object_new_string(c->hostnqn));
		json_object_object_add(o, "hostid", json_object_new_string(id));
		json_object_object_add(o, "num_io_qpairs", json_object_new_int64(c->num_io_qpairs));
		json_object_object_add(o, "kato_ms", json_object_new_int64(c->kato_ms));
		json_object_array_add(arr, o);
	}
	rpc_reply(req, arr);
}

static void rpc_nvmf_get_stats(struct rpc_request *req, struct json_object *params)
{
	struct json_object *res = json_object_new_object(), *groups = json_object_new_array();

	(void)params;
	json_object_object_add(res, "tick_rate", json_object_new_int64(1000000000));
	for (int i = 0; i < g_tgt.nreactors; i++) {
		const struct tgt_reactor *r = &g_tgt.reactors[i];
		struct json_object *g = json_object_new_object(), *ts = json_object_new_array();
		struct json_object *t = json_object_new_object();
		char name[40];

		snprintf(name, sizeof(name), "nvmf_tgt_poll_group_%03d", i);
		json_object_object_add(g, "name", json_object_new_string(name));
		json_object_object_add(g, "admin_qpairs", json_object_new_int64(0));
		json_object_object_add(g, "io_qpairs", json_object_new_int64(r->qpairs));
		json_object_object_add(g, "current_admin_qpairs", json_object_new_int64(0));
		json_object_object_add(g, "current_io_qpairs", json_object_new_int64(r->qpairs));
		json_object_object_add(g, "pending_bdev_io", json_object_new_int64(0));
		json_object_object_add(g, "completed_nvme_io",
				       json_object_new_int64((int64_t)(r->retired.reads + r->retired.writes + r->retired.other)));
		json_object_object_add(t, "trtype", json_object_new_string("TCP"));
		json_object_array_add(ts, t);
		json_object_object_add(g, "transports", ts);
		json_object_array_add(groups, g);
	}
	json_object_object_add(res, "poll_groups", groups);
	rpc_reply(req, res);
}

/* ---- nvmf_set_config ---- */

/* SPDK's target settings: the DH-HMAC-CHAP lists apply; the rest is checked by the
 * compatibility table (nvfab has no admin passthrough or discovery filters). */
static void rpc_nvmf_set_config(struct rpc_request *req, struct json_object *params)
{
	uint32_t hashes = g_tgt.dhchap_hashes, groups = g_tgt.dhchap_dhgroups;
	struct json_object *rest = NULL, *v;
	int rc = 0;

	if (params && json_object_is_type(params, json_type_object)) {
		if (json_object_object_get_ex(params, "dhchap_digests", &v))
			rc = rpc_decode_name_mask(req, v, "dhchap_digests", dhchap_hash_id, &hashes);
		if (!rc && json_object_object_get_ex(params, "dhchap_dhgroups", &v))
			rc = rpc_decode_name_mask(req, v, "dhchap_dhgroups", dhchap_dhgroup_id, &groups);
		if (rc)
			return;
		rest = json_object_new_object();
		json_object_object_foreach(params, key, val) {
			if (strcmp(key, "dhchap_digests") && strcmp(key, "dhchap_dhgroups"))
				json_object_object_add(rest, key, json_object_get(val));
		}
	}
	rc = rpc_spdk_setting_check(req, rest ? rest : params);
	json_object_put(rest);
	if (rc)
		return;
	g_tgt.dhchap_hashes = hashes;
	g_tgt.dhchap_dhgroups = groups;
	rpc_reply_bool(req, true);
}

/* ---- save_config ---- */

static void add_call(struct json_object *calls, const char *method, struct json_object *params)
{
	struct json_object *c = json_object_new_object();

	json_object_object_add(c, "method", json_object_new_string(method));
	json_object_object_add(c, "params", params);
	json_object_array_add(calls, c);
}

static void subsys_config(struct json_object *calls, const struct tgt_subsystem *s)
{
	const struct list_node *pos;
	struct json_object *p;

	if (s->type == TGT_SUBSYS_NVME) {
		p = json_object_new_object();
		json_object_object_add(p, "nqn", json_object_new_string(s->nqn));
		json_object_object_add(p, "allow_any_host", json_object_new_boolean(s->allow_any_host));
		json_object_object_add(p, "serial_number", json_object_new_string(s->serial));
		json_object_object_add(p, "model_number", json_object_new_string(s->model));
		json_object_object_add(p, "max_namespaces", json_object_new_int64(s->max_namespaces));
		json_object_object_add(p, "min_cntlid", json_object_new_int64(s->min_cntlid));
		json_object_object_add(p, "max_cntlid", json_object_new_int64(s->max_cntlid));
		json_object_object_add(p, "ana_reporting", json_object_new_boolean(false));
		add_call(calls, "nvmf_create_subsystem", p);
	}
	for (pos = s->listeners.next; pos != &s->listeners; pos = pos->next) {
		p = json_object_new_object();
		json_object_object_add(p, "nqn", json_object_new_string(s->nqn));
		const struct tgt_subsys_listener *sl = list_entry(pos, struct tgt_subsys_listener, link);

		json_object_object_add(p, "listen_address", listen_addr_json(&sl->addr));
		if (sl->addr.secure)
			json_object_object_add(p, "secure_channel", json_object_new_boolean(true));
		add_call(calls, "nvmf_subsystem_add_listener", p);
	}
	for (pos = s->hosts.next; pos != &s->hosts; pos = pos->next) {
		p = json_object_new_object();
		json_object_object_add(p, "nqn", json_object_new_string(s->nqn));
		json_object_object_add(p, "host", json_object_new_string(list_entry(pos, struct tgt_host, link)->nqn));
		host_keys_json(p, list_entry(pos, struct tgt_host, link));
		add_call(calls, "nvmf_subsystem_add_host", p);
	}
	for (uint32_t i = 1; i <= s->max_namespaces; i++) {
		struct tgt_ns *ns = tgt_ns_get((struct tgt_subsystem *)s, i);

		if (!ns)
			continue;
		p = json_object_new_object();
		json_object_object_add(p, "nqn", json_object_new_string(s->nqn));
		json_object_object_add(p, "namespace", ns_json(ns));
		add_call(calls, "nvmf_subsystem_add_ns", p);
	}
}

static void nvmf_config_write(struct json_object *calls)
{
	const struct list_node *pos;
	struct json_object *p = json_object_new_object();

	json_object_object_add(p, "dhchap_digests", rpc_name_mask_json(g_tgt.dhchap_hashes, dhchap_hash_name));
	json_object_object_add(p, "dhchap_dhgroups", rpc_name_mask_json(g_tgt.dhchap_dhgroups, dhchap_dhgroup_name));
	add_call(calls, "nvmf_set_config", p);

	if (g_tgt.opts.created) {
		struct json_object *t = transport_json();

		json_object_object_del(t, "dif_insert_or_strip");
		json_object_object_del(t, "zcopy");
		add_call(calls, "nvmf_create_transport", t);
	}
	subsys_config(calls, g_tgt.discovery);
	for (pos = g_tgt.subsystems.next; pos != &g_tgt.subsystems; pos = pos->next)
		subsys_config(calls, list_entry(pos, struct tgt_subsystem, link));
}

void nvmf_rpc_register(void)
{
	rpc_register_method("nvmf_set_config", rpc_nvmf_set_config);
	rpc_register_method("nvmf_create_transport", rpc_nvmf_create_transport);
	rpc_register_method("nvmf_get_transports", rpc_nvmf_get_transports);
	rpc_register_method("nvmf_create_subsystem", rpc_nvmf_create_subsystem);
	rpc_register_method("nvmf_delete_subsystem", rpc_nvmf_delete_subsystem);
	rpc_register_method("nvmf_get_subsystems", rpc_nvmf_get_subsystems);
	rpc_register_method("nvmf_subsystem_add_ns", rpc_nvmf_subsystem_add_ns);
	rpc_register_method("nvmf_subsystem_remove_ns", rpc_nvmf_subsystem_remove_ns);
	rpc_register_method("nvmf_subsystem_add_listener", rpc_nvmf_subsystem_add_listener);
	rpc_register_method("nvmf_subsystem_remove_listener", rpc_nvmf_subsystem_remove_listener);
	rpc_register_method("nvmf_subsystem_add_host", rpc_nvmf_subsystem_add_host);
	rpc_register_method("nvmf_subsystem_remove_host", rpc_nvmf_subsystem_remove_host);
	rpc_register_method("nvmf_subsystem_set_keys", rpc_nvmf_subsystem_set_keys);
	rpc_register_method("nvmf_subsystem_allow_any_host", rpc_nvmf_subsystem_allow_any_host);
	rpc_register_method("nvmf_subsystem_get_controllers", rpc_nvmf_subsystem_get_controllers);
	rpc_register_method("nvmf_get_stats", rpc_nvmf_get_stats);
	rpc_register_config_writer("nvmf", nvmf_config_write);
}
