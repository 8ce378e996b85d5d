/*
 * SPDK's bdev_nvme RPC methods for the gateway: bdev_nvme_attach_controller,
 * bdev_nvme_detach_controller, bdev_nvme_get_controllers, and the calls save_config emits.
 * Parameter names, defaults and result shapes are SPDK's (python/spdk/rpc/bdev.py), so that
 * `rpc.py bdev_nvme_attach_controller -b Remote0 -t tcp -a ... -s ... -f ipv4 -n NQN` works.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "auth/dhchap.h"
#include "gateway/gateway.h"
#include "gateway/gateway_rpc.h"
#include "keyring/keyring.h"
#include "rpc/rpc.h"

struct gw_rpc_attach {
	char name[GW_NAME_MAX];
	char trtype[16];
	char traddr[NVFAB_TRADDR_MAX + 1];
	char adrfam[16];
	char trsvcid[NVFAB_TRSVCID_MAX + 1];
	char subnqn[NVFAB_NQN_MAX + 1];
	char hostnqn[NVFAB_NQN_MAX + 1];
	char multipath[16];
	char dhchap_key[GW_KEY_NAME_MAX];
	char dhchap_ctrlr_key[GW_KEY_NAME_MAX];
	char psk[GW_KEY_NAME_MAX];
	bool hdgst, ddgst;
	int32_t ctrlr_loss_timeout_sec;
	int32_t reconnect_delay_sec;
	int32_t fast_io_fail_timeout_sec;
	uint32_t num_io_queues;
	uint64_t fabrics_connect_timeout_us;
	bool has_adrfam, has_trsvcid, has_subnqn, has_hostnqn, has_multipath;
	bool has_loss, has_delay, has_fast_fail, has_num_io_queues, has_connect_timeout;
};

/* hostaddr/hostsvcid: SPDK's source address and port, accepted only empty. */
#define GW_SOURCE_ADDRESS_KNOBS                                                                 \
	RPC_COMPAT_DEFAULT("hostaddr", json_type_string, "\"\"",                              \
			   "a source address for the connection: not supported yet"),           \
	RPC_COMPAT_DEFAULT("hostsvcid", json_type_string, "\"\"",                             \
			   "a source port for the connection: not supported yet")

#define S(f, opt, present) \
	{#f, RPC_PARAM_STRING, offsetof(struct gw_rpc_attach, f), sizeof(((struct gw_rpc_attach *)0)->f), \
	 opt, present}
#define N(f, type, present) \
	{#f, type, offsetof(struct gw_rpc_attach, f), 0, true, present}

static const struct rpc_param gw_rpc_attach_params[] = {
	S(name, false, 0),
	S(trtype, false, 0),
	S(traddr, false, 0),
	S(adrfam, true, offsetof(struct gw_rpc_attach, has_adrfam)),
	S(trsvcid, true, offsetof(struct gw_rpc_attach, has_trsvcid)),
	S(subnqn, true, offsetof(struct gw_rpc_attach, has_subnqn)),
	S(hostnqn, true, offsetof(struct gw_rpc_attach, has_hostnqn)),
	S(multipath, true, offsetof(struct gw_rpc_attach, has_multipath)),
	S(dhchap_key, true, 0),
	S(dhchap_ctrlr_key, true, 0),
	S(psk, true, 0),
	N(hdgst, RPC_PARAM_BOOL, 0),
	N(ddgst, RPC_PARAM_BOOL, 0),
	N(ctrlr_loss_timeout_sec, RPC_PARAM_INT32, offsetof(struct gw_rpc_attach, has_loss)),
	N(reconnect_delay_sec, RPC_PARAM_INT32, offsetof(struct gw_rpc_attach, has_delay)),
	N(fast_io_fail_timeout_sec, RPC_PARAM_INT32,
	  offsetof(struct gw_rpc_attach, has_fast_fail)),
	N(num_io_queues, RPC_PARAM_UINT32, offsetof(struct gw_rpc_attach, has_num_io_queues)),
	N(fabrics_connect_timeout_us, RPC_PARAM_UINT64,
	  offsetof(struct gw_rpc_attach, has_connect_timeout)),
	RPC_COMPAT_KNOB("priority", json_type_int, "a scheduling hint for SPDK's socket layer"),
	RPC_COMPAT_DEFAULT("prchk_reftag", json_type_boolean, "false",
			   "protection information checks: the gateway refuses formats with metadata"),
	RPC_COMPAT_DEFAULT("prchk_guard", json_type_boolean, "false",
			   "protection information checks: the gateway refuses formats with metadata"),
	RPC_COMPAT_DEFAULT("allow_unrecognized_csi", json_type_boolean, "false",
			   "namespaces of other command sets: the gateway exports NVM namespaces only"),
	GW_SOURCE_ADDRESS_KNOBS,
};

/*
 * bdev_nvme_set_options: the module-wide settings of SPDK's NVMe bdev module that mean
 * something here (keep-alive timeout, the defaults of attach's reconnect settings, the TCP
 * connect timeout, the DH-HMAC-CHAP hashes and groups offered, how often I/O that failed with
 * a status allowing it is retried), with SPDK's defaults; the others are accepted and
 * ignored. As in SPDK, it is refused once a controller is attached.
 */
struct gw_module_opts {
	int32_t keep_alive_timeout_ms;
	int32_t ctrlr_loss_timeout_sec;
	int32_t reconnect_delay_sec;
	int32_t fast_io_fail_timeout_sec;
	int32_t tcp_connect_timeout_ms;
	int32_t bdev_retry_count;       /* -1: without end */
	/* DH-HMAC-CHAP hashes and groups the backend connections offer (bit per ID) */
	uint32_t dhchap_hashes, dhchap_dhgroups;
	/* the lists as given, during decoding only */
	struct json_object *dhchap_digests_list, *dhchap_dhgroups_list;
};

static struct gw_module_opts g_opts = {.keep_alive_timeout_ms = 10000,
				       .bdev_retry_count = 3,
				       .dhchap_hashes = DHCHAP_ALL_HASHES,
				       .dhchap_dhgroups = DHCHAP_ALL_DHGROUPS};

#define NVME_KNOB(n, t) RPC_COMPAT_KNOB(n, t, "a setting of SPDK's NVMe driver that nvfab does not have")
#define M(f) {#f, RPC_PARAM_INT32, offsetof(struct gw_module_opts, f), 0, true, 0}

static const struct rpc_param gw_rpc_set_options_params[] = {
	M(keep_alive_timeout_ms),
	M(ctrlr_loss_timeout_sec),
	M(reconnect_delay_sec),
	M(fast_io_fail_timeout_sec),
	M(tcp_connect_timeout_ms),
	M(bdev_retry_count),
	NVME_KNOB("action_on_timeout", json_type_string),
	NVME_KNOB("timeout_us", json_type_int),
	NVME_KNOB("timeout_admin_us", json_type_int),
	NVME_KNOB("arbitration_burst", json_type_int),
	NVME_KNOB("low_priority_weight", json_type_int),
	NVME_KNOB("medium_priority_weight", json_type_int),
	NVME_KNOB("high_priority_weight", json_type_int),
	NVME_KNOB("nvme_adminq_poll_period_us", json_type_int),
	NVME_KNOB("nvme_ioq_poll_period_us", json_type_int),
	NVME_KNOB("io_queue_requests", json_type_int),
	NVME_KNOB("delay_cmd_submit", json_type_boolean),
	NVME_KNOB("transport_retry_count", json_type_int),
	NVME_KNOB("transport_ack_timeout", json_type_int),
	NVME_KNOB("disable_auto_failback", json_type_boolean),
	NVME_KNOB("generate_uuids", json_type_boolean),
	NVME_KNOB("transport_tos", json_type_int),
	NVME_KNOB("nvme_error_stat", json_type_boolean),
	NVME_KNOB("rdma_srq_size", json_type_int),
	NVME_KNOB("io_path_stat", json_type_boolean),
	NVME_KNOB("allow_accel_sequence", json_type_boolean),
	NVME_KNOB("rdma_max_cq_size", json_type_int),
	NVME_KNOB("rdma_cm_event_timeout_ms", json_type_int),
	{"dhchap_digests", RPC_PARAM_ARRAY, offsetof(struct gw_module_opts, dhchap_digests_list), 0, true, 0},
	{"dhchap_dhgroups", RPC_PARAM_ARRAY, offsetof(struct gw_module_opts, dhchap_dhgroups_list), 0, true, 0},
	NVME_KNOB("rdma_umr_per_io", json_type_boolean),
	NVME_KNOB("enable_flush", json_type_boolean),
};

/* One DH-HMAC-CHAP secret from the keyring into buf; replies and returns -errno if it cannot. */
static int gw_rpc_secret(struct rpc_request *req, const char *param, const char *name, char *buf,
			 size_t len)
{
	const struct keyring_key *key = keyring_find(name);
	int rc;

	if (!key) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameter '%s': no key %s in the keyring (keyring_file_add_key)",
				param, name);
		return -ENOKEY;
	}
	rc = keyring_key_read(key, buf, len);
	if (rc < 0) {
		rpc_reply_error(req, rc, "Cannot read key %s from %s: %s", name, key->path, strerror(-rc));
		return rc;
	}
	return 0;
}

/* dhchap_key / dhchap_ctrlr_key / psk (SPDK's names: keyring names): the secrets go into opts for
 * the connect (libnvfab checks their format), the names into p for save_config. */
static int gw_rpc_secrets(struct rpc_request *req, const struct gw_rpc_attach *a,
			  struct gw_attach_params *p)
{
	struct nvfab_ctrlr_opts *o = &p->opts;

	if (a->dhchap_ctrlr_key[0] && !a->dhchap_key[0]) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameters: dhchap_ctrlr_key needs dhchap_key");
		return -EINVAL;
	}
	if (a->dhchap_key[0] &&
	    gw_rpc_secret(req, "dhchap_key", a->dhchap_key, o->dhchap_secret, sizeof(o->dhchap_secret)))
		return -EINVAL;
	if (a->dhchap_ctrlr_key[0] &&
	    gw_rpc_secret(req, "dhchap_ctrlr_key", a->dhchap_ctrlr_key, o->dhchap_ctrl_secret,
			  sizeof(o->dhchap_ctrl_secret)))
		return -EINVAL;
	if (a->psk[0] && gw_rpc_secret(req, "psk", a->psk, o->tls_psk, sizeof(o->tls_psk)))
		return -EINVAL;
	snprintf(p->dhchap_key, sizeof(p->dhchap_key), "%s", a->dhchap_key);
	snprintf(p->dhchap_ctrlr_key, sizeof(p->dhchap_ctrlr_key), "%s", a->dhchap_ctrlr_key);
	snprintf(p->psk, sizeof(p->psk), "%s", a->psk);
	return 0;
}

/* SPDK's rules for the reconnect settings (bdev_nvme_check_io_error_resiliency_params). */
static const char *gw_resiliency_error(int32_t loss, int32_t delay, int32_t fast_fail)
{
	if (loss < -1)
		return "ctrlr_loss_timeout_sec: -1 for forever, or >= 0";
	if (delay < 0 || fast_fail < 0)
		return "reconnect_delay_sec and fast_io_fail_timeout_sec must be >= 0";
	if (loss == 0)
		return delay || fast_fail ? "with ctrlr_loss_timeout_sec 0, reconnect_delay_sec and "
					    "fast_io_fail_timeout_sec must be 0 too" : NULL;
	if (delay == 0)
		return "reconnect_delay_sec must be > 0 when ctrlr_loss_timeout_sec is not 0";
	if (loss > 0 && delay > loss)
		return "reconnect_delay_sec must not be above ctrlr_loss_timeout_sec";
	if (fast_fail && fast_fail < delay)
		return "fast_io_fail_timeout_sec must be at least reconnect_delay_sec";
	if (fast_fail && loss > 0 && fast_fail > loss)
		return "fast_io_fail_timeout_sec must not be above ctrlr_loss_timeout_sec";
	return NULL;
}

static void gw_rpc_set_options(struct rpc_request *req, struct json_object *params)
{
	struct gw_module_opts o = g_opts;
	const char *why;

	if (RPC_DECODE(req, params, gw_rpc_set_options_params, &o))
		return;
	if ((o.dhchap_digests_list &&
	     rpc_decode_name_mask(req, o.dhchap_digests_list, "dhchap_digests", dhchap_hash_id,
				  &o.dhchap_hashes)) ||
	    (o.dhchap_dhgroups_list &&
	     rpc_decode_name_mask(req, o.dhchap_dhgroups_list, "dhchap_dhgroups", dhchap_dhgroup_id,
				  &o.dhchap_dhgroups)))
		return;
	o.dhchap_digests_list = o.dhchap_dhgroups_list = NULL;  /* borrowed: not kept */
	if (gw_first()) {
		rpc_reply_error(req, -EPERM, "%s: bdev_nvme_set_options is allowed only before any "
				"controller is attached", strerror(EPERM));
		return;
	}
	why = gw_resiliency_error(o.ctrlr_loss_timeout_sec, o.reconnect_delay_sec,
				  o.fast_io_fail_timeout_sec);
	if (!why && (o.keep_alive_timeout_ms < 0 || o.tcp_connect_timeout_ms < 0))
		why = "timeouts must be >= 0";
	if (!why && o.bdev_retry_count < -1)
		why = "bdev_retry_count: -1 for without end, or >= 0";
	if (why) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Invalid parameters: %s", why);
		return;
	}
	g_opts = o;
	rpc_reply_bool(req, true);
}

/* What attach asks for; what it leaves out comes from bdev_nvme_set_options (as in SPDK). */
static int gw_rpc_params(struct rpc_request *req, const struct gw_rpc_attach *a,
			 struct gw_attach_params *p)
{
	struct nvfab_ctrlr_opts *o = &p->opts;
	const char *why;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", a->name);
	if (!a->name[0] || strchr(a->name, ' ')) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameter 'name': want a non-empty name without spaces");
		return -EINVAL;
	}
	if (strcasecmp(a->trtype, "tcp") != 0) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameter 'trtype': '%s' (nvfab speaks TCP only)", a->trtype);
		return -EINVAL;
	}
	p->trid.trtype = NVFAB_TRTYPE_TCP;
	if (!a->has_adrfam || strcasecmp(a->adrfam, "ipv4") == 0) {
		p->trid.adrfam = strchr(a->traddr, ':') && !a->has_adrfam ? NVFAB_ADRFAM_IPV6 :
									   NVFAB_ADRFAM_IPV4;
	} else if (strcasecmp(a->adrfam, "ipv6") == 0) {
		p->trid.adrfam = NVFAB_ADRFAM_IPV6;
	} else {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameter 'adrfam': '%s' (ipv4 or ipv6)", a->adrfam);
		return -EINVAL;
	}
	snprintf(p->trid.traddr, sizeof(p->trid.traddr), "%s", a->traddr);
	snprintf(p->trid.trsvcid, sizeof(p->trid.trsvcid), "%s",
		 a->has_trsvcid ? a->trsvcid : NVFAB_DEFAULT_PORT);
	if (!a->has_subnqn || !a->subnqn[0]) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameter 'subnqn': required for a TCP controller");
		return -EINVAL;
	}
	snprintf(p->trid.subnqn, sizeof(p->trid.subnqn), "%s", a->subnqn);
	nvfab_ctrlr_opts_init(o);
	if (a->has_hostnqn)
		snprintf(o->hostnqn, sizeof(o->hostnqn), "%s", a->hostnqn);
	o->hdgst = a->hdgst;
	o->ddgst = a->ddgst;
	o->ctrl_loss_tmo_s = a->has_loss ? a->ctrlr_loss_timeout_sec : g_opts.ctrlr_loss_timeout_sec;
	o->reconnect_delay_s = a->has_delay ? a->reconnect_delay_sec : g_opts.reconnect_delay_sec;
	p->fast_io_fail_timeout_sec = a->has_fast_fail ? a->fast_io_fail_timeout_sec :
							 g_opts.fast_io_fail_timeout_sec;
	why = gw_resiliency_error(o->ctrl_loss_tmo_s, o->reconnect_delay_s,
				  p->fast_io_fail_timeout_sec);
	if (why) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Invalid parameters "
				"(ctrlr_loss_timeout_sec %d, reconnect_delay_sec %d, "
				"fast_io_fail_timeout_sec %d): %s, as in SPDK", o->ctrl_loss_tmo_s,
				o->reconnect_delay_s, p->fast_io_fail_timeout_sec, why);
		return -EINVAL;
	}
	o->fast_io_fail_tmo_s = p->fast_io_fail_timeout_sec;
	o->kato_ms = g_opts.keep_alive_timeout_ms;
	p->bdev_retry_count = g_opts.bdev_retry_count;
	o->dhchap_hashes = g_opts.dhchap_hashes;
	o->dhchap_dhgroups = g_opts.dhchap_dhgroups;
	if (g_opts.tcp_connect_timeout_ms > 0)
		o->connect_timeout_ms = g_opts.tcp_connect_timeout_ms;
	if (a->has_num_io_queues) {
		if (a->num_io_queues == 0 || a->num_io_queues > 65535) {
			rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'num_io_queues': %u (1..65535)",
					a->num_io_queues);
			return -EINVAL;
		}
		o->nr_io_queues = a->num_io_queues;
	}
	if (a->has_connect_timeout && a->fabrics_connect_timeout_us)
		o->connect_timeout_ms = (int32_t)(a->fabrics_connect_timeout_us / 1000 ?
						  a->fabrics_connect_timeout_us / 1000 : 1);
	if (a->has_multipath && strcmp(a->multipath, "disable") != 0 &&
	    strcmp(a->multipath, "failover") != 0 && strcmp(a->multipath, "multipath") != 0) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameter 'multipath': '%s' (disable, failover or multipath)",
				a->multipath);
		return -EINVAL;
	}
	snprintf(p->multipath, sizeof(p->multipath), "%s", a->has_multipath ? a->multipath : "");
	return gw_rpc_secrets(req, a, p);
}

/* Multipath mode: "" is SPDK's default ("multipath"). */
static bool gw_mode_is(const char *mode, const char *want)
{
	return strcmp(mode[0] ? mode : "multipath", want) == 0;
}

/*
 * Calls that wait on a backend (attach, another path, reset) are answered later: the control
 * loop serves hosts and other RPCs while a task connects (gateway_task.c). A call that cannot
 * wait (in a batch, from the configuration) or a task that cannot start runs it all now.
 */
enum gw_rpc_task_kind { GW_RPC_ATTACH, GW_RPC_ADD_PATH, GW_RPC_RESET };

struct gw_rpc_task {
	struct gw_task task;
	enum gw_rpc_task_kind kind;
	struct rpc_request *req;
	struct gw_attach_params p;      /* attach, add path; secrets wiped once connected */
	struct gw_ctrlr *c;             /* add path, reset (detach waits for the task) */
	struct nvfab_ctrlr *ctrlr;      /* attach: the connection made */
	struct nvfab_error nerr;
	char err[600];
	int rc;
};

static void gw_rpc_reply_names(struct rpc_request *req, const struct gw_ctrlr *c)
{
	struct json_object *names = json_object_new_array();

	for (uint32_t i = 0; i < c->nns; i++)
		json_object_array_add(names, json_object_new_string(c->ns[i]->bdev.name));
	rpc_reply(req, names);
}

/* On the task's thread: the waiting part. */
static void gw_rpc_task_work(struct gw_task *task)
{
	struct gw_rpc_task *t = (struct gw_rpc_task *)task;

	switch (t->kind) {
	case GW_RPC_ATTACH:
		t->ctrlr = nvfab_ctrlr_connect(&t->p.trid, &t->p.opts, &t->nerr);
		break;
	case GW_RPC_ADD_PATH:
		t->rc = gw_add_path_connect(t->c, &t->p.trid, t->err, sizeof(t->err));
		break;
	case GW_RPC_RESET:
		t->rc = gw_reset(t->c);
		break;
	}
	gw_params_wipe_secrets(&t->p);
}

/* On the control loop: the rest, and the answer. */
static void gw_rpc_task_done(struct gw_task *task, bool stopping)
{
	struct gw_rpc_task *t = (struct gw_rpc_task *)task;
	struct gw_ctrlr *c;

	if (stopping) {
		if (t->ctrlr)
			nvfab_ctrlr_disconnect(t->ctrlr);
		rpc_reply_error(t->req, -ESHUTDOWN, "%s: nvfabd is stopping", t->p.name);
	} else if (t->kind == GW_RPC_ATTACH) {
		t->rc = gw_attach_connected(&t->p, t->ctrlr, &t->nerr, &c, t->err, sizeof(t->err));
		if (t->rc)
			rpc_reply_error(t->req, t->rc, "%s", t->err);
		else
			gw_rpc_reply_names(t->req, c);
	} else if (t->kind == GW_RPC_ADD_PATH) {
		if (t->rc) {
			rpc_reply_error(t->req, t->rc, "%s", t->err);
		} else {
			gw_add_path_record(t->c, &t->p.trid);
			rpc_reply(t->req, json_object_new_array());
		}
	} else if (t->rc) {
		rpc_reply_error(t->req, t->rc, "reset of %s: not connected again yet (%s); "
				"reconnecting goes on", t->p.name, strerror(-t->rc));
	} else {
		rpc_reply_bool(t->req, true);
	}
	free(t);
}

static void gw_rpc_run_task(struct rpc_request *req, enum gw_rpc_task_kind kind,
			    const struct gw_attach_params *p, struct gw_ctrlr *c)
{
	struct gw_rpc_task *t = calloc(1, sizeof(*t));
	struct rpc_request *later;

	if (!t) {
		rpc_reply_error(req, -ENOMEM, "%s: out of memory", p->name);
		return;
	}
	t->kind = kind;
	t->p = *p;
	t->c = c;
	snprintf(t->task.name, sizeof(t->task.name), "%s", p->name);
	t->task.work = gw_rpc_task_work;
	t->task.done = gw_rpc_task_done;
	later = rpc_defer(req);
	t->req = later ? later : req;
	if (!later || gw_task_start(&t->task)) {
		gw_rpc_task_work(&t->task);
		gw_rpc_task_done(&t->task, false);
	}
}

/* Detach and reset wait for a task of the same name; so does another attach. */
static bool gw_rpc_refuse_busy(struct rpc_request *req, const char *name)
{
	if (!gw_task_busy(name))
		return false;
	rpc_reply_error(req, -EBUSY, "%s: an attach, path or reset of %s is under way; try again "
			"when it is answered", strerror(EBUSY), name);
	return true;
}

/*
 * The attach call for a name that exists: another path to the same subsystem, checked as
 * SPDK checks it (then served as failover: one path at a time). Replies [] (no new bdevs).
 */
static void gw_rpc_add_path(struct rpc_request *req, struct gw_ctrlr *c,
			    const struct gw_attach_params *p)
{
	const char *hostnqn = nvfab_ctrlr_hostnqn(c->ctrlr);
	struct nvfab_trid t;
	char err[600];
	int rc;

	if (gw_mode_is(p->multipath, "disable")) {
		rpc_reply_error(req, -EALREADY, "A controller named %s already exists and multipath "
				"is disabled", p->name);
		return;
	}
	/* As in SPDK, a name's paths are all "multipath" or all not ("failover" after a first
	 * attach with "disable" or "failover"). */
	if (gw_mode_is(p->multipath, "multipath") != gw_mode_is(c->params.multipath, "multipath")) {
		rpc_reply_error(req, -EINVAL, "A controller named %s is attached with multipath "
				"'%s': its paths must all be added with %s", p->name,
				c->params.multipath[0] ? c->params.multipath : "multipath",
				gw_mode_is(c->params.multipath, "multipath") ? "'multipath'" :
									       "'failover'");
		return;
	}
	for (uint32_t i = 0; nvfab_ctrlr_get_path(c->ctrlr, i, &t) == 0; i++)
		if (strcmp(t.traddr, p->trid.traddr) == 0 && strcmp(t.trsvcid, p->trid.trsvcid) == 0) {
			rpc_reply_error(req, -EALREADY, "A controller named %s already exists with "
					"the specified network path", p->name);
			return;
		}
	if (strcmp(p->trid.subnqn, c->params.trid.subnqn) != 0) {
		rpc_reply_error(req, -EINVAL, "A controller named %s already exists, but uses a "
				"different subnqn (%s)", p->name, c->params.trid.subnqn);
		return;
	}
	if (p->opts.hostnqn[0] && strcmp(p->opts.hostnqn, hostnqn) != 0) {
		rpc_reply_error(req, -EINVAL, "A controller named %s already exists, but uses a "
				"different hostnqn (%s)", p->name, hostnqn);
		return;
	}
	rc = gw_add_path_check(c, err, sizeof(err));
	if (rc) {
		rpc_reply_error(req, rc, "%s", err);
		return;
	}
	gw_rpc_run_task(req, GW_RPC_ADD_PATH, p, c);
}

static void gw_rpc_attach(struct rpc_request *req, struct json_object *params)
{
	struct gw_rpc_attach a = {{0}};
	struct gw_attach_params p;
	struct gw_ctrlr *c;

	if (RPC_DECODE(req, params, gw_rpc_attach_params, &a))
		return;
	if (gw_rpc_params(req, &a, &p))
		return;
	if (!gw_rpc_refuse_busy(req, p.name)) {
		c = gw_lookup(p.name);
		if (c)
			gw_rpc_add_path(req, c, &p);
		else
			gw_rpc_run_task(req, GW_RPC_ATTACH, &p, NULL);
	}
	gw_params_wipe_secrets(&p);
}

struct gw_rpc_name {
	char name[GW_NAME_MAX];
};

/* bdev_nvme_detach_controller: the name, and optionally which of its paths (SPDK's fields;
 * those given must match), decoded into the attach call's struct. */
static const struct rpc_param gw_rpc_detach_params[] = {
	S(name, false, 0),
	S(trtype, true, 0),
	S(traddr, true, 0),
	S(adrfam, true, 0),
	S(trsvcid, true, 0),
	S(subnqn, true, 0),
	GW_SOURCE_ADDRESS_KNOBS,
};

/* The controller's path that the given fields describe: 0, or -ENOENT. */
static int gw_rpc_find_path(struct gw_ctrlr *c, const struct gw_rpc_attach *d,
			    struct nvfab_trid *out)
{
	for (uint32_t i = 0; nvfab_ctrlr_get_path(c->ctrlr, i, out) == 0; i++)
		if ((!d->traddr[0] || strcmp(d->traddr, out->traddr) == 0) &&
		    (!d->trsvcid[0] || strcmp(d->trsvcid, out->trsvcid) == 0) &&
		    (!d->subnqn[0] || strcmp(d->subnqn, out->subnqn) == 0))
			return 0;
	return -ENOENT;
}

static void gw_rpc_detach(struct rpc_request *req, struct json_object *params)
{
	struct gw_rpc_attach d = {{0}};
	struct nvfab_trid path;
	bool by_path;
	struct gw_ctrlr *c;
	int rc;

	if (RPC_DECODE(req, params, gw_rpc_detach_params, &d))
		return;
	if (gw_rpc_refuse_busy(req, d.name))
		return;
	c = gw_lookup(d.name);
	if (!c) {
		rpc_reply_error(req, -ENODEV, "No such device: no controller named %s", d.name);
		return;
	}
	by_path = d.traddr[0] || d.trsvcid[0] || d.subnqn[0];
	if (by_path && gw_rpc_find_path(c, &d, &path)) {
		rpc_reply_error(req, -ENODEV, "No such device: controller %s has no path %s:%s",
				d.name, d.traddr[0] ? d.traddr : "*", d.trsvcid[0] ? d.trsvcid : "*");
		return;
	}
	rc = gw_detach(d.name, by_path ? &path : NULL);
	if (rc == -EBUSY && by_path && nvfab_ctrlr_num_paths(c->ctrlr) > 1)
		rpc_reply_error(req, rc, "%s: %s:%s is the path in use; it can go once another one "
				"is", strerror(EBUSY), path.traddr, path.trsvcid);
	else if (rc == -EBUSY)
		rpc_reply_error(req, rc, "%s: a namespace of %s is exported by a subsystem; remove it "
				"first", strerror(EBUSY), d.name);
	else if (rc)
		rpc_reply_error(req, rc, "%s", strerror(-rc));
	else
		rpc_reply_bool(req, true);
}

struct gw_rpc_reset {
	char name[GW_NAME_MAX];
	uint32_t cntlid;
	bool has_cntlid;
};

static const struct rpc_param gw_rpc_reset_params[] = {
	{"name", RPC_PARAM_STRING, offsetof(struct gw_rpc_reset, name), GW_NAME_MAX, false, 0},
	{"cntlid", RPC_PARAM_UINT32, offsetof(struct gw_rpc_reset, cntlid), 0, true,
	 offsetof(struct gw_rpc_reset, has_cntlid)},
};

/* bdev_nvme_reset_controller: disconnect and connect again (the I/O in flight is resent). */
static void gw_rpc_reset(struct rpc_request *req, struct json_object *params)
{
	struct gw_rpc_reset r = {{0}};
	struct gw_attach_params p = {{0}};
	struct gw_ctrlr *c;

	if (RPC_DECODE(req, params, gw_rpc_reset_params, &r))
		return;
	if (gw_rpc_refuse_busy(req, r.name))
		return;
	c = gw_lookup(r.name);
	if (!c || (r.has_cntlid && r.cntlid != nvfab_ctrlr_cntlid(c->ctrlr))) {
		rpc_reply_error(req, -ENODEV, "No such device: no controller %s%s", r.name,
				r.has_cntlid ? " with that cntlid" : "");
		return;
	}
	snprintf(p.name, sizeof(p.name), "%s", r.name);
	gw_rpc_run_task(req, GW_RPC_RESET, &p, c);
}

static const struct rpc_param gw_rpc_get_params[] = {
	{"name", RPC_PARAM_STRING, offsetof(struct gw_rpc_name, name), GW_NAME_MAX, true, 0},
};

static struct json_object *gw_rpc_trid(const struct nvfab_trid *t)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "trtype", json_object_new_string("TCP"));
	json_object_object_add(o, "adrfam", json_object_new_string(
				       t->adrfam == NVFAB_ADRFAM_IPV6 ? "IPv6" : "IPv4"));
	json_object_object_add(o, "traddr", json_object_new_string(t->traddr));
	json_object_object_add(o, "trsvcid", json_object_new_string(t->trsvcid));
	json_object_object_add(o, "subnqn", json_object_new_string(t->subnqn));
	return o;
}

static struct json_object *gw_rpc_describe(struct gw_ctrlr *c)
{
	struct json_object *o = json_object_new_object(), *ctrlrs = json_object_new_array();
	struct json_object *one = json_object_new_object(), *host = json_object_new_object();

	struct nvfab_trid t;

	json_object_object_add(o, "name", json_object_new_string(c->params.name));
	json_object_object_add(one, "state", json_object_new_string(
				       atomic_load(&c->lost) ? "failed" : "enabled"));
	if (nvfab_ctrlr_get_path(c->ctrlr, 0, &t) == 0)
		json_object_object_add(one, "trid", gw_rpc_trid(&t));
	if (nvfab_ctrlr_num_paths(c->ctrlr) > 1) {
		struct json_object *alt = json_object_new_array();

		for (uint32_t i = 1; nvfab_ctrlr_get_path(c->ctrlr, i, &t) == 0; i++)
			json_object_array_add(alt, gw_rpc_trid(&t));
		json_object_object_add(one, "alternate_trids", alt);
	}
	json_object_object_add(one, "cntlid", json_object_new_int(nvfab_ctrlr_cntlid(c->ctrlr)));
	json_object_object_add(host, "nqn", json_object_new_string(nvfab_ctrlr_hostnqn(c->ctrlr)));
	json_object_object_add(host, "addr", json_object_new_string(""));
	json_object_object_add(host, "svcid", json_object_new_string(""));
	json_object_object_add(one, "host", host);
	json_object_array_add(ctrlrs, one);
	json_object_object_add(o, "ctrlrs", ctrlrs);
	return o;
}

static void gw_rpc_get_controllers(struct rpc_request *req, struct json_object *params)
{
	struct gw_rpc_name n = {{0}};
	struct json_object *list;

	if (RPC_DECODE(req, params, gw_rpc_get_params, &n))
		return;
	if (n.name[0] && !gw_lookup(n.name)) {
		rpc_reply_error(req, -ENODEV, "No such device: no controller named %s", n.name);
		return;
	}
	list = json_object_new_array();
	for (struct gw_ctrlr *c = gw_first(); c; c = gw_next(c))
		if (!n.name[0] || strcmp(c->params.name, n.name) == 0)
			json_object_array_add(list, gw_rpc_describe(c));
	rpc_reply(req, list);
}

/* The attach call for one path of c (SPDK's names); the first one creates the controller, the
 * others add their path. */
static struct json_object *gw_rpc_attach_call(const struct gw_ctrlr *c, const struct nvfab_trid *t)
{
	const struct gw_attach_params *p = &c->params;
	struct json_object *call = json_object_new_object(), *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(p->name));
	json_object_object_add(o, "trtype", json_object_new_string("TCP"));
	json_object_object_add(o, "adrfam", json_object_new_string(
				       t->adrfam == NVFAB_ADRFAM_IPV6 ? "IPv6" : "IPv4"));
	json_object_object_add(o, "traddr", json_object_new_string(t->traddr));
	json_object_object_add(o, "trsvcid", json_object_new_string(t->trsvcid));
	json_object_object_add(o, "subnqn", json_object_new_string(p->trid.subnqn));
	if (p->opts.hostnqn[0])
		json_object_object_add(o, "hostnqn", json_object_new_string(p->opts.hostnqn));
	if (p->dhchap_key[0])
		json_object_object_add(o, "dhchap_key", json_object_new_string(p->dhchap_key));
	if (p->dhchap_ctrlr_key[0])
		json_object_object_add(o, "dhchap_ctrlr_key", json_object_new_string(p->dhchap_ctrlr_key));
	if (p->psk[0])
		json_object_object_add(o, "psk", json_object_new_string(p->psk));
	json_object_object_add(o, "hdgst", json_object_new_boolean(p->opts.hdgst));
	json_object_object_add(o, "ddgst", json_object_new_boolean(p->opts.ddgst));
	json_object_object_add(o, "ctrlr_loss_timeout_sec",
			       json_object_new_int(p->opts.ctrl_loss_tmo_s));
	json_object_object_add(o, "reconnect_delay_sec",
			       json_object_new_int(p->opts.reconnect_delay_s));
	json_object_object_add(o, "fast_io_fail_timeout_sec",
			       json_object_new_int(p->fast_io_fail_timeout_sec));
	if (p->multipath[0]) {
		/* A first attach with "disable" is followed by paths added with "failover". */
		const char *mode = t != &p->trid && strcmp(p->multipath, "disable") == 0 ?
					   "failover" : p->multipath;

		json_object_object_add(o, "multipath", json_object_new_string(mode));
	}
	json_object_object_add(call, "method", json_object_new_string("bdev_nvme_attach_controller"));
	json_object_object_add(call, "params", o);
	return call;
}

/* The module settings first (SPDK's save_config always has them), then one attach call per
 * controller and path, in the order they were added. */
static void gw_rpc_write_config(struct json_object *calls)
{
	struct json_object *call = json_object_new_object(), *o = json_object_new_object();

	json_object_object_add(o, "keep_alive_timeout_ms",
			       json_object_new_int(g_opts.keep_alive_timeout_ms));
	json_object_object_add(o, "ctrlr_loss_timeout_sec",
			       json_object_new_int(g_opts.ctrlr_loss_timeout_sec));
	json_object_object_add(o, "reconnect_delay_sec",
			       json_object_new_int(g_opts.reconnect_delay_sec));
	json_object_object_add(o, "fast_io_fail_timeout_sec",
			       json_object_new_int(g_opts.fast_io_fail_timeout_sec));
	json_object_object_add(o, "tcp_connect_timeout_ms",
			       json_object_new_int(g_opts.tcp_connect_timeout_ms));
	json_object_object_add(o, "bdev_retry_count", json_object_new_int(g_opts.bdev_retry_count));
	json_object_object_add(o, "dhchap_digests", rpc_name_mask_json(g_opts.dhchap_hashes,
								       dhchap_hash_name));
	json_object_object_add(o, "dhchap_dhgroups", rpc_name_mask_json(g_opts.dhchap_dhgroups,
									dhchap_dhgroup_name));
	json_object_object_add(call, "method", json_object_new_string("bdev_nvme_set_options"));
	json_object_object_add(call, "params", o);
	json_object_array_add(calls, call);

	for (struct gw_ctrlr *c = gw_first(); c; c = gw_next(c)) {
		json_object_array_add(calls, gw_rpc_attach_call(c, &c->params.trid));
		for (uint32_t i = 0; i < c->nextra; i++)
			json_object_array_add(calls, gw_rpc_attach_call(c, &c->extra_paths[i]));
	}
}

void gw_rpc_register(struct evloop *control)
{
	gw_init(control);
	rpc_register_method("bdev_nvme_attach_controller", gw_rpc_attach);
	rpc_register_method("bdev_nvme_detach_controller", gw_rpc_detach);
	rpc_register_method("bdev_nvme_get_controllers", gw_rpc_get_controllers);
	rpc_register_method("bdev_nvme_set_options", gw_rpc_set_options);
	rpc_register_method("bdev_nvme_reset_controller", gw_rpc_reset);
	rpc_register_config_writer("bdev", gw_rpc_write_config);
}
