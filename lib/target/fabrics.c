/* NVMe-oF fabrics commands: Connect, Property Get/Set, Disconnect. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "spec/nvme_auth.h"
#include "spec/status.h"
#include "target/target.h"
#include "util/log.h"

#define CONNECT_STATUS(sc) NVME_STATUS(NVME_SCT_CMD_SPECIFIC, sc)

static void connect_invalid_param(struct tgt_req *req, uint16_t offset, uint8_t iattr,
				  const char *why)
{
	log_warn("%s qid %u: Connect refused: %s", req->qp->peer,
		 ((struct nvmf_connect_cmd *)&req->cmd)->qid, why);
	req->rsp.dw0 = nvmf_connect_ipo(offset, iattr);
	tgt_req_complete_status(req, CONNECT_STATUS(NVME_SC_CONNECT_INVALID_PARAM) | NVME_STATUS_DNR);
}

static bool nqn_field_ok(const char *field)
{
	size_t len = strnlen(field, 256);

	return len > 0 && len <= NVMF_NQN_MAX;
}

static void host_id_format(const uint8_t id[16], char out[37])
{
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7], id[8], id[9], id[10], id[11],
		 id[12], id[13], id[14], id[15]);
}

static void fabrics_connect_admin(struct tgt_req *req, struct tgt_subsystem *s,
				  const struct nvmf_connect_cmd *cmd,
				  const struct nvmf_connect_data *data)
{
	struct tgt_qpair *qp = req->qp;
	struct tgt_ctrlr *c;

	if (data->cntlid != 0xffff) {
		connect_invalid_param(req, offsetof(struct nvmf_connect_data, cntlid),
				      NVMF_CONNECT_IATTR_DATA, "static controller ID requested");
		return;
	}
	if ((uint32_t)cmd->sqsize + 1 > g_tgt.opts.max_aq_depth || cmd->sqsize < 31) {
		connect_invalid_param(req, offsetof(struct nvmf_connect_cmd, sqsize),
				      NVMF_CONNECT_IATTR_CMD, "admin queue size out of range");
		return;
	}
	c = tgt_ctrlr_create(s, data->hostnqn, data->hostid,
			     s->type == TGT_SUBSYS_DISCOVERY && cmd->kato == 0 ? 0 : cmd->kato);
	if (!c) {
		tgt_req_complete_status(req, CONNECT_STATUS(NVME_SC_CONNECT_CTRL_BUSY));
		return;
	}
	qp->ctrlr = c;
	qp->subsys = s;
	qp->ops->qpair_get(qp);
	c->admin = qp;
	qp->ops->qpair_configure(qp, cmd->sqsize, TGT_ADMIN_ICD);
	/* A host with a DH-HMAC-CHAP secret authenticates each queue before anything else. */
	if (s->type == TGT_SUBSYS_NVME &&
	    (tgt_ctrlr_auth_setup(c, tgt_subsystem_find_host(s, c->hostnqn)) ||
	     tgt_qpair_auth_init(qp))) {
		tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL));
		qp->ops->qpair_disconnect(qp, "out of memory for authentication");
		return;
	}
	req->rsp.dw0 = c->cntlid | (qp->auth_gate ? NVMF_CONNECT_AUTHREQ_ATR : 0);
	tgt_req_complete_status(req, 0);
}

static void fabrics_connect_io(struct tgt_req *req, struct tgt_subsystem *s,
			       const struct nvmf_connect_cmd *cmd,
			       const struct nvmf_connect_data *data)
{
	struct tgt_qpair *qp = req->qp;
	struct tgt_ctrlr *c = tgt_ctrlr_find(s, data->cntlid);

	if (s->type == TGT_SUBSYS_DISCOVERY) {
		connect_invalid_param(req, offsetof(struct nvmf_connect_cmd, qid),
				      NVMF_CONNECT_IATTR_CMD, "discovery controllers have no I/O queues");
		return;
	}
	if (!c || strncmp(c->hostnqn, data->hostnqn, sizeof(c->hostnqn)) != 0) {
		connect_invalid_param(req, offsetof(struct nvmf_connect_data, cntlid),
				      NVMF_CONNECT_IATTR_DATA, "no such controller for this host");
		return;
	}
	if (!NVME_CC_EN(c->cc) || !(c->csts & NVME_CSTS_RDY_MASK)) {
		tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR));
		return;
	}
	if (cmd->qid > c->max_qid || cmd->qid > (uint32_t)c->nr_io_queues_granted + 1) {
		connect_invalid_param(req, offsetof(struct nvmf_connect_cmd, qid),
				      NVMF_CONNECT_IATTR_CMD, "queue ID beyond the granted queues");
		return;
	}
	if (c->io[cmd->qid]) {
		tgt_req_complete_status(req, CONNECT_STATUS(NVME_SC_CONNECT_CTRL_BUSY) | NVME_STATUS_DNR);
		return;
	}
	if (cmd->sqsize == 0 || (uint32_t)cmd->sqsize + 1 > g_tgt.opts.max_queue_depth) {
		connect_invalid_param(req, offsetof(struct nvmf_connect_cmd, sqsize),
				      NVMF_CONNECT_IATTR_CMD, "I/O queue size out of range");
		return;
	}
	qp->ctrlr = c;
	qp->subsys = s;
	qp->ops->qpair_get(qp);
	c->io[cmd->qid] = qp;
	c->num_io_qpairs++;
	qp->ops->qpair_configure(qp, cmd->sqsize, g_tgt.opts.in_capsule_data_size);
	if (tgt_qpair_auth_init(qp)) {
		tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL));
		qp->ops->qpair_disconnect(qp, "out of memory for authentication");
		return;
	}
	req->rsp.dw0 = c->cntlid | (qp->auth_gate ? NVMF_CONNECT_AUTHREQ_ATR : 0);
	/* The reactor that will own the queue pair sends the Connect response. */
	qp->ops->qpair_migrate(qp, tgt_pick_reactor(), req);
}

static void fabrics_connect(struct tgt_req *req)
{
	const struct nvmf_connect_cmd *cmd = (const struct nvmf_connect_cmd *)&req->cmd;
	const struct nvmf_connect_data *data = req->iov[0].iov_base;
	struct tgt_qpair *qp = req->qp;
	struct tgt_subsystem *s;
	char subnqn[NVMF_NQN_MAX + 1], hostnqn[NVMF_NQN_MAX + 1];
	const char *why = NULL;
	bool host_empty;

	if (qp->ctrlr) {
		tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR));
		return;
	}
	if (req->data_len != sizeof(struct nvmf_connect_data) || req->data_to_host) {
		tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA) |
					     NVME_STATUS_DNR);
		return;
	}
	if (cmd->recfmt != 0) {
		tgt_req_complete_status(req, CONNECT_STATUS(NVME_SC_CONNECT_FORMAT) | NVME_STATUS_DNR);
		return;
	}
	if (!nqn_field_ok(data->subsysnqn)) {
		connect_invalid_param(req, offsetof(struct nvmf_connect_data, subsysnqn),
				      NVMF_CONNECT_IATTR_DATA, "malformed subsystem NQN");
		return;
	}
	/* An empty Host NQN is what spdk_nvme_perf sends unless given --hostnqn; SPDK's and
	 * Linux's targets accept it where any host is allowed, and so do we (below). */
	host_empty = data->hostnqn[0] == '\0';
	if (!host_empty && !nqn_field_ok(data->hostnqn)) {
		connect_invalid_param(req, offsetof(struct nvmf_connect_data, hostnqn),
				      NVMF_CONNECT_IATTR_DATA, "malformed host NQN");
		return;
	}
	snprintf(subnqn, sizeof(subnqn), "%.*s", NVMF_NQN_MAX, data->subsysnqn);
	snprintf(hostnqn, sizeof(hostnqn), "%.*s", NVMF_NQN_MAX, data->hostnqn);
	s = tgt_subsystem_find(subnqn);
	if (!s || s->deleting || !tgt_subsystem_listens_on(s, qp->portid)) {
		log_warn("%s: Connect to unknown subsystem %s from %s", qp->peer, subnqn, hostnqn);
		connect_invalid_param(req, offsetof(struct nvmf_connect_data, subsysnqn),
				      NVMF_CONNECT_IATTR_DATA, "subsystem not found on this port");
		return;
	}
	if (host_empty && !s->allow_any_host) {
		log_warn("%s: Connect to %s with an empty Host NQN refused: the subsystem has an allow-list",
			 qp->peer, subnqn);
		tgt_req_complete_status(req, CONNECT_STATUS(NVME_SC_CONNECT_INVALID_HOST) | NVME_STATUS_DNR);
		return;
	}
	if (host_empty && cmd->qid == 0) {
		char id[37];

		host_id_format(data->hostid, id);
		log_notice("%s: Connect to %s with an empty Host NQN (host ID %s): allowed, any host may connect",
			   qp->peer, subnqn, id);
	}
	if (!tgt_subsystem_host_allowed(s, hostnqn)) {
		log_warn("%s: host %s is not allowed on %s", qp->peer, hostnqn, subnqn);
		tgt_req_complete_status(req, CONNECT_STATUS(NVME_SC_CONNECT_INVALID_HOST) | NVME_STATUS_DNR);
		return;
	}
	if (!tgt_tls_connect_allowed(qp, s, hostnqn, &why)) {
		log_warn("%s: Connect of host %s to %s refused: %s", qp->peer, hostnqn, subnqn, why);
		tgt_req_complete_status(req, CONNECT_STATUS(NVME_SC_CONNECT_INVALID_HOST) | NVME_STATUS_DNR);
		return;
	}
	qp->qid = cmd->qid;
	qp->sq_flow_disabled = cmd->cattr & 0x4;
	if (cmd->qid == 0)
		fabrics_connect_admin(req, s, cmd, data);
	else
		fabrics_connect_io(req, s, cmd, data);
}

static uint64_t ctrlr_cap(const struct tgt_ctrlr *c)
{
	uint64_t mqes = (c->subsys->type == TGT_SUBSYS_DISCOVERY ? g_tgt.opts.max_aq_depth
								  : g_tgt.opts.max_queue_depth) - 1;

	return mqes | (1ull << NVME_CAP_CQR_SHIFT) | (15ull << NVME_CAP_TO_SHIFT) |
	       (1ull << NVME_CAP_CSS_SHIFT); /* NVM command set */
}

static void fabrics_property_get(struct tgt_req *req)
{
	const struct nvmf_property_get_cmd *cmd = (const struct nvmf_property_get_cmd *)&req->cmd;
	struct tgt_ctrlr *c = req->qp->ctrlr;
	bool wide = (cmd->attrib & 7) == 1;
	uint64_t value;

	switch (cmd->ofst) {
	case NVMF_PROP_CAP: value = ctrlr_cap(c); break;
	case NVMF_PROP_VS: value = NVME_VS(1, 3, 0); break;
	case NVMF_PROP_CC: value = c->cc; break;
	case NVMF_PROP_CSTS: value = c->csts; break;
	default:
		tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR);
		return;
	}
	if ((cmd->ofst == NVMF_PROP_CAP) != wide || (cmd->attrib & 7) > 1) {
		tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR);
		return;
	}
	req->rsp.dw0 = (uint32_t)value;
	req->rsp.dw1 = (uint32_t)(value >> 32);
	tgt_req_complete_status(req, 0);
}

static void ctrlr_write_cc(struct tgt_ctrlr *c, uint32_t cc)
{
	uint32_t old = c->cc;

	c->cc = cc;
	if (NVME_CC_EN(cc) && !NVME_CC_EN(old)) {
		/* 64-byte SQEs and 16-byte CQEs are the only sizes fabrics knows. */
		if (c->subsys->type == TGT_SUBSYS_NVME &&
		    (NVME_CC_IOSQES(cc) != 6 || NVME_CC_IOCQES(cc) != 4 || NVME_CC_MPS(cc) != 0)) {
			log_warn("ctrlr %u: CC 0x%x has unsupported queue entry or page sizes",
				 c->cntlid, cc);
			c->csts |= NVME_CSTS_CFS_MASK << NVME_CSTS_CFS_SHIFT;
			return;
		}
		c->csts = NVME_CSTS_RDY_MASK;
		log_info("ctrlr %u enabled", c->cntlid);
	} else if (!NVME_CC_EN(cc) && NVME_CC_EN(old)) {
		/* Controller reset: its I/O queues go, the admin queue stays. */
		c->csts = 0;
		for (uint32_t qid = 1; qid <= c->max_qid; qid++)
			if (c->io[qid])
				c->io[qid]->ops->qpair_disconnect(c->io[qid], "controller reset");
		log_info("ctrlr %u reset", c->cntlid);
	}
	if (NVME_CC_SHN(cc) && !NVME_CC_SHN(old)) {
		c->csts = (c->csts & ~(NVME_CSTS_SHST_MASK << NVME_CSTS_SHST_SHIFT)) |
			  (NVME_CSTS_SHST_CMPLT << NVME_CSTS_SHST_SHIFT);
		log_info("ctrlr %u shut down by host", c->cntlid);
	} else if (!NVME_CC_SHN(cc)) {
		c->csts &= ~(NVME_CSTS_SHST_MASK << NVME_CSTS_SHST_SHIFT);
	}
}

static void fabrics_property_set(struct tgt_req *req)
{
	const struct nvmf_property_set_cmd *cmd = (const struct nvmf_property_set_cmd *)&req->cmd;

	if (cmd->ofst != NVMF_PROP_CC || (cmd->attrib & 7) != 0) {
		tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR);
		return;
	}
	ctrlr_write_cc(req->qp->ctrlr, (uint32_t)cmd->value);
	tgt_req_complete_status(req, 0);
}

static void fabrics_disconnect(struct tgt_req *req)
{
	struct tgt_qpair *qp = req->qp;

	tgt_req_complete_status(req, 0);
	qp->ops->qpair_disconnect(qp, "host sent Disconnect");
}

void tgt_fabrics_execute(struct tgt_req *req)
{
	const struct nvmf_cmd_common *cmd = (const struct nvmf_cmd_common *)&req->cmd;
	struct tgt_qpair *qp = req->qp;

	if (cmd->fctype == NVMF_FCTYPE_CONNECT) {
		fabrics_connect(req);
		return;
	}
	if (!qp->ctrlr) {
		tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR));
		return;
	}
	if (qp->qid == 0)
		tgt_ctrlr_keep_alive(qp->ctrlr);
	switch (cmd->fctype) {
	case NVMF_FCTYPE_AUTH_SEND:
	case NVMF_FCTYPE_AUTH_RECV:
		tgt_auth_execute(req);
		return;
	case NVMF_FCTYPE_PROPERTY_GET:
		if (qp->qid == 0) {
			fabrics_property_get(req);
			return;
		}
		break;
	case NVMF_FCTYPE_PROPERTY_SET:
		if (qp->qid == 0) {
			fabrics_property_set(req);
			return;
		}
		break;
	case NVMF_FCTYPE_DISCONNECT:
		fabrics_disconnect(req);
		return;
	default:
		break;
	}
	tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE) | NVME_STATUS_DNR);
}
