/*
 * SPDK's bdev_nvme RPC methods for the gateway: bdev_nvme_attach_controller,
 * bdev_nvme_detach_controller, bdev_nvme_get_controllers, and the calls save_config emits.
 * Parameter names, defaults and result shapes are SPDK's (python/spdk/rpc/bdev.py), so that
 * `rpc.py bdev_nvme_attach_controller -b Remote0 -t tcp -a ... -s ... -f ipv4 -n NQN` works.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "gateway/gateway.h"
#include "gateway/gateway_rpc.h"
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
	bool hdgst, ddgst;
	int32_t ctrlr_loss_timeout_sec;
	int32_t reconnect_delay_sec;
	int32_t fast_io_fail_timeout_sec;
	uint32_t num_io_queues;
	uint64_t fabrics_connect_timeout_us;
	bool has_adrfam, has_trsvcid, has_subnqn, has_hostnqn, has_multipath;
	bool has_loss, has_delay, has_fast_fail, has_num_io_queues, has_connect_timeout;
};

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
	RPC_COMPAT_DEFAULT("hostaddr", json_type_string, "\"\"",
			   "a source address for the connection: not supported yet"),
	RPC_COMPAT_DEFAULT("hostsvcid", json_type_string, "\"\"",
			   "a source port for the connection: not supported yet"),
};

/* SPDK's defaults: a lost controller is given up at once unless ctrlr_loss_timeout_sec says
 * otherwise; -1 means forever. */
static int gw_rpc_params(struct rpc_request *req, const struct gw_rpc_attach *a,
			 struct gw_attach_params *p)
{
	struct nvfab_ctrlr_opts *o = &p->opts;

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
	o->ctrl_loss_tmo_s = a->has_loss ? a->ctrlr_loss_timeout_sec : 0;
	if (o->ctrl_loss_tmo_s < -1) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameter 'ctrlr_loss_timeout_sec': %d (-1 for forever, or >= 0)",
				o->ctrl_loss_tmo_s);
		return -EINVAL;
	}
	o->reconnect_delay_s = a->has_delay ? a->reconnect_delay_sec : 0;
	if (o->reconnect_delay_s < 0 ||
	    (o->ctrl_loss_tmo_s > 0 && o->reconnect_delay_s > o->ctrl_loss_tmo_s) ||
	    (o->ctrl_loss_tmo_s != 0 && o->reconnect_delay_s == 0)) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameter 'reconnect_delay_sec': %d (with ctrlr_loss_timeout_sec "
				"%d it must be > 0 and not above it, as in SPDK)", o->reconnect_delay_s,
				o->ctrl_loss_tmo_s);
		return -EINVAL;
	}
	p->fast_io_fail_timeout_sec = a->has_fast_fail ? a->fast_io_fail_timeout_sec : 0;
	if (p->fast_io_fail_timeout_sec < 0 ||
	    (p->fast_io_fail_timeout_sec > 0 &&
	     (o->ctrl_loss_tmo_s == 0 || p->fast_io_fail_timeout_sec < o->reconnect_delay_s ||
	      (o->ctrl_loss_tmo_s > 0 && p->fast_io_fail_timeout_sec >= o->ctrl_loss_tmo_s)))) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameter 'fast_io_fail_timeout_sec': %d (0, or at least "
				"reconnect_delay_sec %d and below ctrlr_loss_timeout_sec %d, as in SPDK)",
				p->fast_io_fail_timeout_sec, o->reconnect_delay_s, o->ctrl_loss_tmo_s);
		return -EINVAL;
	}
	o->fast_io_fail_tmo_s = p->fast_io_fail_timeout_sec;
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
	    strcmp(a->multipath, "failover") != 0) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameter 'multipath': '%s' (disable or failover; multipath is "
				"not supported yet)", a->multipath);
		return -EINVAL;
	}
	snprintf(p->multipath, sizeof(p->multipath), "%s", a->has_multipath ? a->multipath : "");
	return 0;
}

static void gw_rpc_attach(struct rpc_request *req, struct json_object *params)
{
	struct gw_rpc_attach a = {{0}};
	struct gw_attach_params p;
	struct gw_ctrlr *c;
	struct json_object *names;
	char err[512];
	int rc;

	if (RPC_DECODE(req, params, gw_rpc_attach_params, &a))
		return;
	if (gw_rpc_params(req, &a, &p))
		return;
	if (p.multipath[0] && strcmp(p.multipath, "failover") == 0 && gw_lookup(p.name)) {
		rpc_reply_error(req, -EOPNOTSUPP, "controller %s exists: a second (failover) path "
				"is not supported yet", p.name);
		return;
	}
	rc = gw_attach(&p, &c, err, sizeof(err));
	if (rc) {
		rpc_reply_error(req, rc == -EEXIST ? -EEXIST : rc, "%s", err);
		return;
	}
	names = json_object_new_array();
	for (uint32_t i = 0; i < c->nns; i++)
		json_object_array_add(names, json_object_new_string(c->ns[i]->bdev.name));
	rpc_reply(req, names);
}

struct gw_rpc_name {
	char name[GW_NAME_MAX];
};

static const struct rpc_param gw_rpc_detach_params[] = {
	{"name", RPC_PARAM_STRING, offsetof(struct gw_rpc_name, name), GW_NAME_MAX, false, 0},
	RPC_COMPAT_KNOB("trtype", json_type_string, "selects one path of several: one is kept"),
	RPC_COMPAT_KNOB("traddr", json_type_string, "selects one path of several: one is kept"),
	RPC_COMPAT_KNOB("adrfam", json_type_string, "selects one path of several: one is kept"),
	RPC_COMPAT_KNOB("trsvcid", json_type_string, "selects one path of several: one is kept"),
	RPC_COMPAT_KNOB("subnqn", json_type_string, "selects one path of several: one is kept"),
	RPC_COMPAT_KNOB("hostaddr", json_type_string, "selects one path of several: one is kept"),
	RPC_COMPAT_KNOB("hostsvcid", json_type_string, "selects one path of several: one is kept"),
};

static void gw_rpc_detach(struct rpc_request *req, struct json_object *params)
{
	struct gw_rpc_name n = {{0}};
	int rc;

	if (RPC_DECODE(req, params, gw_rpc_detach_params, &n))
		return;
	rc = gw_detach(n.name);
	if (rc == -ENODEV)
		rpc_reply_error(req, rc, "No such device: no controller named %s", n.name);
	else if (rc == -EBUSY)
		rpc_reply_error(req, rc, "%s: a namespace of %s is exported by a subsystem; remove it "
				"first", strerror(EBUSY), n.name);
	else if (rc)
		rpc_reply_error(req, rc, "%s", strerror(-rc));
	else
		rpc_reply_bool(req, true);
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

	json_object_object_add(o, "name", json_object_new_string(c->params.name));
	json_object_object_add(one, "state", json_object_new_string(c->lost ? "failed" : "enabled"));
	json_object_object_add(one, "trid", gw_rpc_trid(&c->params.trid));
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

/* One attach call per controller, with what it was attached with (SPDK's names). */
static void gw_rpc_write_config(struct json_object *calls)
{
	for (struct gw_ctrlr *c = gw_first(); c; c = gw_next(c)) {
		const struct gw_attach_params *p = &c->params;
		struct json_object *call = json_object_new_object(), *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(p->name));
		json_object_object_add(o, "trtype", json_object_new_string("TCP"));
		json_object_object_add(o, "adrfam", json_object_new_string(
					       p->trid.adrfam == NVFAB_ADRFAM_IPV6 ? "IPv6" : "IPv4"));
		json_object_object_add(o, "traddr", json_object_new_string(p->trid.traddr));
		json_object_object_add(o, "trsvcid", json_object_new_string(p->trid.trsvcid));
		json_object_object_add(o, "subnqn", json_object_new_string(p->trid.subnqn));
		if (p->opts.hostnqn[0])
			json_object_object_add(o, "hostnqn", json_object_new_string(p->opts.hostnqn));
		json_object_object_add(o, "hdgst", json_object_new_boolean(p->opts.hdgst));
		json_object_object_add(o, "ddgst", json_object_new_boolean(p->opts.ddgst));
		json_object_object_add(o, "ctrlr_loss_timeout_sec",
				       json_object_new_int(p->opts.ctrl_loss_tmo_s));
		json_object_object_add(o, "reconnect_delay_sec",
				       json_object_new_int(p->opts.reconnect_delay_s));
		json_object_object_add(o, "fast_io_fail_timeout_sec",
				       json_object_new_int(p->fast_io_fail_timeout_sec));
		if (p->multipath[0])
			json_object_object_add(o, "multipath", json_object_new_string(p->multipath));
		json_object_object_add(call, "method",
				       json_object_new_string("bdev_nvme_attach_controller"));
		json_object_object_add(call, "params", o);
		json_object_array_add(calls, call);
	}
}

void gw_rpc_register(struct evloop *control)
{
	gw_init(control);
	rpc_register_method("bdev_nvme_attach_controller", gw_rpc_attach);
	rpc_register_method("bdev_nvme_detach_controller", gw_rpc_detach);
	rpc_register_method("bdev_nvme_get_controllers", gw_rpc_get_controllers);
	rpc_register_config_writer("bdev", gw_rpc_write_config);
}
