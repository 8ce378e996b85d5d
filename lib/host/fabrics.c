/* Fabrics command encoding (Connect, Property Get/Set) and decoding of refused Connects. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "host/host_internal.h"
#include "spec/status.h"

void host_sqe_prop_get(struct nvme_sqe *sqe, uint32_t ofst, bool eight)
{
	struct nvmf_property_get_cmd *cmd = (struct nvmf_property_get_cmd *)sqe;

	memset(sqe, 0, sizeof(*sqe));
	cmd->opc = NVME_FABRICS_OPC;
	cmd->fctype = NVMF_FCTYPE_PROPERTY_GET;
	cmd->attrib = eight ? 1 : 0;
	cmd->ofst = ofst;
}

void host_sqe_prop_set(struct nvme_sqe *sqe, uint32_t ofst, bool eight, uint64_t value)
{
	struct nvmf_property_set_cmd *cmd = (struct nvmf_property_set_cmd *)sqe;

	memset(sqe, 0, sizeof(*sqe));
	cmd->opc = NVME_FABRICS_OPC;
	cmd->fctype = NVMF_FCTYPE_PROPERTY_SET;
	cmd->attrib = eight ? 1 : 0;
	cmd->ofst = ofst;
	cmd->value = value;
}

void host_sqe_connect(struct nvme_sqe *sqe, uint16_t qid, uint16_t sqsize, uint32_t kato_ms,
		      bool disable_sqflow)
{
	struct nvmf_connect_cmd *cmd = (struct nvmf_connect_cmd *)sqe;

	memset(sqe, 0, sizeof(*sqe));
	cmd->opc = NVME_FABRICS_OPC;
	cmd->fctype = NVMF_FCTYPE_CONNECT;
	cmd->recfmt = 0;
	cmd->qid = qid;
	cmd->sqsize = sqsize;
	/* KATO only means something on the admin queue; the kernel sends it there only. */
	cmd->kato = qid == 0 ? kato_ms : 0;
	/* CATTR bit 2: no SQ head pointer needed; the admin queue keeps it (few commands). */
	cmd->cattr = qid != 0 && disable_sqflow ? 0x4 : 0;
}

void host_connect_data(struct nvmf_connect_data *data, const uint8_t hostid[16], uint16_t cntlid,
		       const char *subnqn, const char *hostnqn)
{
	memset(data, 0, sizeof(*data));
	memcpy(data->hostid, hostid, sizeof(data->hostid));
	data->cntlid = cntlid;
	snprintf(data->subsysnqn, sizeof(data->subsysnqn), "%s", subnqn);
	snprintf(data->hostnqn, sizeof(data->hostnqn), "%s", hostnqn);
}

void host_error_set(struct nvfab_error *err, int rc, uint16_t status, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	err->err = rc;
	err->status = status;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

/* Which field a Connect Invalid Parameters points at (IATTR says command or data). */
static const char *connect_field_name(uint16_t ipo, bool in_data)
{
	if (in_data) {
		switch (ipo) {
		case offsetof(struct nvmf_connect_data, hostid): return "HOSTID";
		case offsetof(struct nvmf_connect_data, cntlid): return "CNTLID";
		case offsetof(struct nvmf_connect_data, subsysnqn): return "SUBNQN";
		case offsetof(struct nvmf_connect_data, hostnqn): return "HOSTNQN";
		default: return "unknown data field";
		}
	}
	switch (ipo) {
	case offsetof(struct nvmf_connect_cmd, recfmt): return "RECFMT";
	case offsetof(struct nvmf_connect_cmd, qid): return "QID";
	case offsetof(struct nvmf_connect_cmd, sqsize): return "SQSIZE";
	case offsetof(struct nvmf_connect_cmd, cattr): return "CATTR";
	case offsetof(struct nvmf_connect_cmd, kato): return "KATO";
	default: return "unknown command field";
	}
}

int host_connect_error(struct nvfab_error *err, const struct nvfab_cpl *cpl, uint16_t qid,
			const char *subnqn, const char *hostnqn)
{
	char st[128];
	uint16_t status = cpl->status;
	int rc = host_status_errno(status, true);

	spec_status_format(status, st, sizeof(st));
	if (NVME_STATUS_SCT(status) != NVME_SCT_CMD_SPECIFIC) {
		host_error_set(err, rc, status, "Connect (qid %u) failed: %s", qid, st);
		return rc;
	}
	switch (NVME_STATUS_SC(status)) {
	case NVME_SC_CONNECT_INVALID_HOST:
		host_error_set(err, rc, status,
			       "host %s is not allowed to connect to subsystem %s: %s", hostnqn,
			       subnqn, st);
		return rc;
	case NVME_SC_CONNECT_INVALID_PARAM: {
		uint16_t ipo = (uint16_t)(cpl->cdw0 & 0xffff);
		bool in_data = ((cpl->cdw0 >> 16) & 0xff) == NVMF_CONNECT_IATTR_DATA;
		const char *field = connect_field_name(ipo, in_data);

		if (in_data && ipo == offsetof(struct nvmf_connect_data, subsysnqn)) {
			rc = -ENOENT;
			host_error_set(err, rc, status,
				       "subsystem %s not found on the target: %s, IATTR=1 IPO=%u (SUBNQN)",
				       subnqn, st, ipo);
		} else if (in_data && ipo == offsetof(struct nvmf_connect_data, hostnqn)) {
			rc = -EACCES;
			host_error_set(err, rc, status,
				       "target rejected host NQN %s: %s, IATTR=1 IPO=%u (HOSTNQN)",
				       hostnqn, st, ipo);
		} else {
			host_error_set(err, rc, status,
				       "Connect (qid %u) rejected: %s, invalid %s field %s (IATTR=%u IPO=%u)",
				       qid, st, in_data ? "data" : "command", field, in_data ? 1 : 0,
				       ipo);
		}
		return rc;
	}
	case NVME_SC_CONNECT_CTRL_BUSY:
		host_error_set(err, rc, status,
			       "Connect (qid %u) refused: controller busy or not available: %s", qid,
			       st);
		return rc;
	default:
		host_error_set(err, rc, status, "Connect (qid %u) to %s failed: %s", qid, subnqn, st);
		return rc;
	}
}
