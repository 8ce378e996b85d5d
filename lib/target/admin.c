/* Admin commands of I/O and discovery controllers (control thread). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/status.h"
#include "target/target.h"
#include "util/log.h"

#define STATUS_INVALID_FIELD (NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR)
#define STATUS_INVALID_NS (NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_NS) | NVME_STATUS_DNR)
#define STATUS_INVALID_OPCODE (NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE) | NVME_STATUS_DNR)

#define NVFAB_FIRMWARE_REV "0.1.0"

/* The buffer an admin command returns: zeroed, at least 4 KiB, sent up to the SGL length. */
static void *admin_reply_buf(struct tgt_req *req, uint32_t size)
{
	uint32_t len = req->data_len;

	if (tgt_req_alloc_buf(req, size > len ? size : len))
		return NULL;
	memset(req->buf, 0, size > len ? size : len);
	req->iov[0].iov_len = len;
	return req->buf;
}

static void copy_padded(char *dst, size_t len, const char *src)
{
	size_t n = strnlen(src, len);

	memset(dst, ' ', len);
	memcpy(dst, src, n);
}

static uint32_t ctrlr_mdts(void)
{
	uint32_t mdts = 0;

	/* MDTS is a power of two in units of the minimum page size (4 KiB). */
	while ((4096u << (mdts + 1)) <= g_tgt.opts.max_io_size && mdts < 15)
		mdts++;
	return mdts;
}

static void identify_ctrlr(struct tgt_req *req, struct nvme_id_ctrl *id)
{
	struct tgt_ctrlr *c = req->qp->ctrlr;
	struct tgt_subsystem *s = c->subsys;
	bool disc = s->type == TGT_SUBSYS_DISCOVERY;

	copy_padded(id->sn, sizeof(id->sn), s->serial);
	copy_padded(id->mn, sizeof(id->mn), disc ? "nvfab discovery" : s->model);
	copy_padded(id->fr, sizeof(id->fr), NVFAB_FIRMWARE_REV);
	id->cntlid = c->cntlid;
	id->ver = NVME_VS(1, 3, 0);
	id->cntrltype = disc ? 2 : 1;
	id->ctratt = 1; /* 128-bit host identifier */
	id->mdts = (uint8_t)ctrlr_mdts();
	id->kas = TGT_KAS_100MS;
	id->aerl = TGT_MAX_AER - 1;
	id->lpa = 1u << 2; /* extended data for Get Log Page */
	id->elpe = TGT_ERROR_LOG_ENTRIES - 1;
	id->sqes = 0x66;
	id->cqes = 0x44;
	id->maxcmd = (uint16_t)(disc ? g_tgt.opts.max_aq_depth : g_tgt.opts.max_queue_depth);
	snprintf(id->subnqn, sizeof(id->subnqn), "%s", s->nqn);
	id->sgls = 1u | (1u << 20); /* SGLs without alignment; offset addressing for in-capsule */
	id->msdbd = 1;
	id->ofcs = 1; /* Disconnect supported */
	id->iorcsz = 1;
	if (disc) {
		id->ioccsz = sizeof(struct nvme_sqe) / 16;
		return;
	}
	id->cmic = 1u << 1;    /* several controllers may share a namespace */
	id->oaes = 1u << 8;    /* namespace attribute notices */
	id->acl = 3;
	id->frmw = 1u << 1 | 1; /* one slot, slot 1 read-only */
	id->wctemp = 343;
	id->cctemp = 373;
	id->nn = s->max_namespaces;
	id->mnan = s->max_namespaces;
	id->oncs = NVME_CTRL_ONCS_COMPARE | NVME_CTRL_ONCS_DSM | NVME_CTRL_ONCS_WRITE_ZEROES;
	/* A volatile write cache is reported so that hosts send Flush: the file bdev needs it.
	 * Bits 2:1 = 11b: Flush with NSID FFFFFFFFh applies to all namespaces. */
	id->vwc = 0x7;
	id->ioccsz = (uint32_t)(sizeof(struct nvme_sqe) + g_tgt.opts.in_capsule_data_size) / 16;
	id->psd[0].mp = 1000; /* 10 W, in 0.01 W */
}

static void identify_ns(struct tgt_ns *ns, struct nvme_id_ns *id)
{
	struct bdev *b = ns->bdev;
	uint8_t ds = 0;

	while ((1u << ds) < b->block_size)
		ds++;
	id->nsze = id->ncap = id->nuse = bdev_num_blocks(b);
	id->nlbaf = 0;
	id->flbas = 0;
	id->lbaf[0].ds = ds;
	id->nmic = 1;                /* may be attached to several controllers */
	/* Emulated: deallocated blocks read as zeros, Write Zeroes may deallocate. A device's own. */
	id->dlfeat = b->nvme ? b->nvme->dlfeat : 0x1 | 0x8;
	id->noiob = (uint16_t)b->optimal_io_boundary;
	if (b->phys_block_size > b->block_size) {
		/* The physical block: writes and deallocations of whole ones perform best
		 * (NSFEAT OPTPERF, with NPWG/NPWA/NPDG/NPDA/NOWS in logical blocks, 0's based). */
		uint16_t n = (uint16_t)(b->phys_block_size / b->block_size - 1);

		id->nsfeat |= 0x10;
		id->npwg = id->npwa = id->npdg = id->npda = id->nows = n;
	}
	memcpy(id->nguid, ns->nguid, sizeof(id->nguid));
	memcpy(id->eui64, ns->eui64, sizeof(id->eui64));
}

static uint32_t ns_desc_add(uint8_t *p, uint32_t off, uint8_t type, const void *id, uint8_t len)
{
	p[off] = type;
	p[off + 1] = len;
	memcpy(p + off + 4, id, len);
	return off + 4 + len;
}

static void admin_identify(struct tgt_req *req)
{
	struct tgt_ctrlr *c = req->qp->ctrlr;
	struct tgt_subsystem *s = c->subsys;
	uint8_t cns = req->cmd.cdw10 & 0xff;
	uint32_t nsid = req->cmd.nsid;
	uint8_t *buf;

	if (!req->data_to_host || req->data_len == 0) {
		tgt_req_complete_status(req, STATUS_INVALID_FIELD);
		return;
	}
	buf = admin_reply_buf(req, 4096);
	if (!buf) {
		tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL));
		return;
	}
	if (s->type == TGT_SUBSYS_DISCOVERY && cns != NVME_IDENTIFY_CNS_CTRL) {
		tgt_req_complete_status(req, STATUS_INVALID_FIELD);
		return;
	}
	switch (cns) {
	case NVME_IDENTIFY_CNS_CTRL:
		identify_ctrlr(req, (struct nvme_id_ctrl *)buf);
		break;
	case NVME_IDENTIFY_CNS_NS: {
		struct tgt_ns *ns;

		if (nsid == 0 || nsid > s->max_namespaces) {
			tgt_req_complete_status(req, STATUS_INVALID_NS);
			return;
		}
		ns = tgt_ns_get(s, nsid);
		if (ns) /* an inactive NSID gets a zeroed structure */
			identify_ns(ns, (struct nvme_id_ns *)buf);
		break;
	}
	case NVME_IDENTIFY_CNS_NS_ACTIVE_LIST: {
		uint32_t *list = (uint32_t *)buf, n = 0;

		if (nsid >= 0xfffffffe) {
			tgt_req_complete_status(req, STATUS_INVALID_NS);
			return;
		}
		for (uint32_t i = nsid + 1; i <= s->max_namespaces && n < 1024; i++)
			if (tgt_ns_get(s, i))
				list[n++] = i;
		break;
	}
	case NVME_IDENTIFY_CNS_NS_DESC_LIST: {
		struct tgt_ns *ns = nsid ? tgt_ns_get(s, nsid) : NULL;
		static const uint8_t zero[8];
		uint8_t csi = 0;
		uint32_t off = 0;

		if (!ns) {
			tgt_req_complete_status(req, STATUS_INVALID_NS);
			return;
		}
		if (memcmp(ns->eui64, zero, sizeof(ns->eui64)) != 0)
			off = ns_desc_add(buf, off, NVME_NIDT_EUI64, ns->eui64, NVME_NIDT_EUI64_LEN);
		off = ns_desc_add(buf, off, NVME_NIDT_NGUID, ns->nguid, NVME_NIDT_NGUID_LEN);
		off = ns_desc_add(buf, off, NVME_NIDT_UUID, ns->uuid, NVME_NIDT_UUID_LEN);
		ns_desc_add(buf, off, NVME_NIDT_CSI, &csi, NVME_NIDT_CSI_LEN);
		break;
	}
	default:
		tgt_req_complete_status(req, STATUS_INVALID_FIELD);
		return;
	}
	tgt_req_complete_status(req, 0);
}

/* ---- log pages ---- */

static void put_u128(uint8_t out[16], uint64_t v)
{
	memset(out, 0, 16);
	memcpy(out, &v, sizeof(v));
}

static uint32_t log_smart(struct tgt_ctrlr *c, uint8_t *buf)
{
	struct nvme_smart_log *log = (struct nvme_smart_log *)buf;
	struct tgt_qpair_stats sum = {0};
	uint16_t kelvin = 300;

	/* Counters belong to the reactors; a slightly stale read is fine for health data. */
	for (uint32_t qid = 1; qid <= c->max_qid; qid++) {
		const struct tgt_qpair *qp = c->io[qid];

		if (!qp)
			continue;
		sum.reads += qp->stats.reads;
		sum.writes += qp->stats.writes;
		sum.read_bytes += qp->stats.read_bytes;
		sum.write_bytes += qp->stats.write_bytes;
	}
	memcpy(log->temperature, &kelvin, sizeof(kelvin));
	log->avail_spare = 100;
	log->spare_thresh = 10;
	put_u128(log->data_units_read, (sum.read_bytes + 511999) / 512000);
	put_u128(log->data_units_written, (sum.write_bytes + 511999) / 512000);
	put_u128(log->host_reads, sum.reads);
	put_u128(log->host_writes, sum.writes);
	put_u128(log->power_cycles, 1);
	put_u128(log->power_on_hours, (evloop_now_ns() - c->start_ns) / 3600000000000ull);
	put_u128(log->num_err_log_entries, c->error_count);
	return sizeof(*log);
}

static uint32_t log_errors(struct tgt_ctrlr *c, uint8_t *buf, uint32_t room)
{
	uint32_t n = 0, size = sizeof(struct nvme_error_log_page);

	/* Newest first, as many as were recorded and fit. */
	for (uint64_t i = c->error_count; i > 0 && n < TGT_ERROR_LOG_ENTRIES && (n + 1) * size <= room; i--)
		memcpy(buf + (n++) * size, &c->errors[(i - 1) % TGT_ERROR_LOG_ENTRIES], size);
	return TGT_ERROR_LOG_ENTRIES * size;
}

static uint32_t log_changed_ns(struct tgt_ctrlr *c, uint8_t *buf, bool retain)
{
	uint32_t *list = (uint32_t *)buf;

	if (c->changed_ns_overflow)
		list[0] = 0xffffffff;
	else
		memcpy(list, c->changed_ns, c->changed_ns_count * sizeof(uint32_t));
	if (!retain) {
		c->changed_ns_count = 0;
		c->changed_ns_overflow = false;
	}
	return 4096;
}

static uint32_t log_fw_slot(uint8_t *buf)
{
	buf[0] = 1; /* active slot 1 */
	memset(buf + 8, ' ', 8);
	memcpy(buf + 8, NVFAB_FIRMWARE_REV, strlen(NVFAB_FIRMWARE_REV));
	return 512;
}

static void admin_get_log_page(struct tgt_req *req)
{
	struct tgt_ctrlr *c = req->qp->ctrlr;
	bool disc = c->subsys->type == TGT_SUBSYS_DISCOVERY;
	uint8_t lid = req->cmd.cdw10 & 0xff;
	bool rae = req->cmd.cdw10 & (1u << 15);
	uint64_t numd = ((uint64_t)(req->cmd.cdw11 & 0xffff) << 16 | (req->cmd.cdw10 >> 16)) + 1;
	uint64_t offset = (uint64_t)req->cmd.cdw13 << 32 | req->cmd.cdw12;
	uint64_t len = numd * 4;
	uint8_t *log = NULL, *buf;
	uint32_t log_len;
	uint8_t scratch[TGT_ERROR_LOG_ENTRIES * sizeof(struct nvme_error_log_page)];

	if (!req->data_to_host || len > req->data_len || offset & 3) {
		tgt_req_complete_status(req, STATUS_INVALID_FIELD);
		return;
	}
	buf = admin_reply_buf(req, 4096);
	if (!buf) {
		tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL));
		return;
	}
	memset(scratch, 0, sizeof(scratch));
	if (disc && lid == NVME_LOG_LID_DISCOVER) {
		log_len = tgt_discovery_log(req->qp, &log);
		if (!log) {
			tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL));
			return;
		}
	} else if (!disc && lid == NVME_LOG_LID_ERROR) {
		log_len = log_errors(c, scratch, sizeof(scratch));
		log = scratch;
	} else if (!disc && lid == NVME_LOG_LID_SMART) {
		log_len = log_smart(c, scratch);
		log = scratch;
	} else if (!disc && lid == NVME_LOG_LID_FW_SLOT) {
		log_len = log_fw_slot(scratch);
		log = scratch;
	} else if (!disc && lid == NVME_LOG_LID_CHANGED_NS) {
		log_len = log_changed_ns(c, scratch, rae);
		log = scratch;
		if (!rae)
			c->pending_aen &= ~1u;
	} else {
		tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_LOG_PAGE) |
					     NVME_STATUS_DNR);
		return;
	}
	if (offset > log_len) {
		if (log != scratch)
			free(log);
		tgt_req_complete_status(req, STATUS_INVALID_FIELD);
		return;
	}
	memset(buf, 0, len);
	memcpy(buf, log + offset, log_len - offset < len ? log_len - offset : len);
	if (log != scratch)
		free(log);
	req->iov[0].iov_len = (size_t)len;
	req->data_len = (uint32_t)len;
	tgt_req_complete_status(req, 0);
}

/* ---- features ---- */

static void admin_set_features(struct tgt_req *req)
{
	struct tgt_ctrlr *c = req->qp->ctrlr;
	uint8_t fid = req->cmd.cdw10 & 0xff;
	uint32_t v = req->cmd.cdw11;
	bool disc = c->subsys->type == TGT_SUBSYS_DISCOVERY;

	if (req->cmd.cdw10 & (1u << 31)) {
		tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_FEATURE_NOT_SAVEABLE) |
					     NVME_STATUS_DNR);
		return;
	}
	switch (fid) {
	case NVME_FEAT_FID_NUM_QUEUES: {
		uint32_t nsqr = v & 0xffff, ncqr = v >> 16, max = (uint32_t)c->max_qid - 1, granted;

		if (disc)
			break;
		if (nsqr == 0xffff || ncqr == 0xffff) {
			tgt_req_complete_status(req, STATUS_INVALID_FIELD);
			return;
		}
		if (c->num_io_qpairs) {
			tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR));
			return;
		}
		granted = nsqr < ncqr ? nsqr : ncqr;
		if (granted > max)
			granted = max;
		c->nr_io_queues_granted = (uint16_t)granted;
		req->rsp.dw0 = granted | granted << 16;
		tgt_req_complete_status(req, 0);
		return;
	}
	case NVME_FEAT_FID_KATO:
		tgt_ctrlr_set_kato(c, v);
		tgt_req_complete_status(req, 0);
		return;
	case NVME_FEAT_FID_ASYNC_EVENT:
		c->aec = v;
		tgt_req_complete_status(req, 0);
		tgt_ctrlr_aec_changed(c);
		return;
	case NVME_FEAT_FID_VOLATILE_WC:
		if (disc)
			break;
		c->vwc_enabled = v & 1;
		tgt_req_complete_status(req, 0);
		return;
	case NVME_FEAT_FID_TEMP_THRESH:
		if (disc)
			break;
		tgt_req_complete_status(req, 0);
		return;
	default:
		break;
	}
	tgt_req_complete_status(req, STATUS_INVALID_FIELD);
}

static void admin_get_features(struct tgt_req *req)
{
	struct tgt_ctrlr *c = req->qp->ctrlr;
	uint8_t fid = req->cmd.cdw10 & 0xff, sel = (req->cmd.cdw10 >> 8) & 7;
	bool disc = c->subsys->type == TGT_SUBSYS_DISCOVERY;
	uint32_t v;

	switch (fid) {
	case NVME_FEAT_FID_NUM_QUEUES:
		if (disc)
			goto invalid;
		v = (uint32_t)c->nr_io_queues_granted | (uint32_t)c->nr_io_queues_granted << 16;
		break;
	case NVME_FEAT_FID_KATO: v = c->kato_ms; break;
	case NVME_FEAT_FID_ASYNC_EVENT: v = c->aec; break;
	case NVME_FEAT_FID_VOLATILE_WC:
		if (disc)
			goto invalid;
		v = c->vwc_enabled;
		break;
	case NVME_FEAT_FID_TEMP_THRESH:
		if (disc)
			goto invalid;
		v = 343;
		break;
	default:
		goto invalid;
	}
	if (sel == 3) /* supported capabilities: changeable, not saveable */
		v = 1u << 2;
	req->rsp.dw0 = v;
	tgt_req_complete_status(req, 0);
	return;
invalid:
	tgt_req_complete_status(req, STATUS_INVALID_FIELD);
}

static void admin_async_event(struct tgt_req *req)
{
	if (tgt_ctrlr_queue_aer(req->qp->ctrlr, req))
		tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_ASYNC_LIMIT) |
					     NVME_STATUS_DNR);
	/* Otherwise it completes when an event happens, or fails when the controller goes. */
}

void tgt_admin_execute(struct tgt_req *req)
{
	struct tgt_ctrlr *c = req->qp->ctrlr;

	tgt_ctrlr_keep_alive(c);
	if (!NVME_CC_EN(c->cc) || !(c->csts & NVME_CSTS_RDY_MASK)) {
		tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR));
		return;
	}
	req->qp->stats.other++;
	switch (req->cmd.opc) {
	case nvme_admin_identify:
		admin_identify(req);
		return;
	case nvme_admin_get_log_page:
		admin_get_log_page(req);
		return;
	case nvme_admin_set_features:
		admin_set_features(req);
		return;
	case nvme_admin_get_features:
		admin_get_features(req);
		return;
	case nvme_admin_async_event:
		admin_async_event(req);
		return;
	case nvme_admin_keep_alive:
		tgt_req_complete_status(req, 0);
		return;
	case nvme_admin_abort_cmd:
		req->rsp.dw0 = 1; /* not aborted: commands here finish quickly on their own */
		tgt_req_complete_status(req, 0);
		return;
	default:
		log_info("ctrlr %u: unsupported admin opcode 0x%02x", c->cntlid, req->cmd.opc);
		tgt_req_complete_status(req, STATUS_INVALID_OPCODE);
		return;
	}
}
