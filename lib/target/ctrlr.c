/* Controllers: creation on Connect, keep-alive, asynchronous events, error log, teardown.
 * Control thread only.
 *
 * Lifetime: a controller is reference counted (plain int: one thread). The subsystem's list
 * holds the first reference, dropped when the teardown is complete (destroying, and no queue
 * pair left). Closing a queue pair may run tgt_ctrlr_qpair_gone() synchronously, deep inside
 * tgt_ctrlr_destroy(); so every function that starts or continues a teardown holds its own
 * reference from its first to its last statement, and the memory goes with the last put. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/target.h"
#include "util/log.h"

struct tgt_ctrlr *tgt_ctrlr_find(struct tgt_subsystem *s, uint16_t cntlid)
{
	struct list_node *pos, *tmp;

	list_for_each_safe(pos, tmp, &s->ctrlrs) {
		struct tgt_ctrlr *c = list_entry(pos, struct tgt_ctrlr, link);

		if (c->cntlid == cntlid && !c->destroying)
			return c;
	}
	return NULL;
}

static int ctrlr_alloc_cntlid(struct tgt_subsystem *s, uint16_t *out)
{
	uint32_t span = (uint32_t)s->max_cntlid - s->min_cntlid + 1;

	for (uint32_t i = 0; i < span; i++) {
		uint16_t id = s->next_cntlid;
		struct list_node *pos;
		bool used = false;

		s->next_cntlid = id >= s->max_cntlid ? s->min_cntlid : (uint16_t)(id + 1);
		for (pos = s->ctrlrs.next; pos != &s->ctrlrs; pos = pos->next)
			if (list_entry(pos, struct tgt_ctrlr, link)->cntlid == id)
				used = true;
		if (!used) {
			*out = id;
			return 0;
		}
	}
	return -ENOSPC;
}

void tgt_ctrlr_get(struct tgt_ctrlr *c)
{
	c->refs++;
}

void tgt_ctrlr_put(struct tgt_ctrlr *c)
{
	struct tgt_subsystem *s = c->subsys;

	if (--c->refs > 0)
		return;
	log_info("ctrlr %u freed", c->cntlid);
	tgt_ctrlr_auth_free(c);
	free(c->io);
	free(c);
	tgt_subsystem_put(s);
}

static void ctrlr_keep_alive_check(void *arg)
{
	struct tgt_ctrlr *c = arg;
	uint64_t silent_ms = (evloop_now_ns() - c->last_keep_alive_ns) / 1000000;

	if (silent_ms > c->kato_ms) {
		log_warn("ctrlr %u (%s, host %s): no keep-alive for %llu ms (KATO %u ms): tearing down",
			 c->cntlid, c->subsys->nqn, c->hostnqn, (unsigned long long)silent_ms, c->kato_ms);
		tgt_ctrlr_destroy(c, "keep alive timeout");
	}
}

void tgt_ctrlr_keep_alive(struct tgt_ctrlr *c)
{
	c->last_keep_alive_ns = evloop_now_ns();
}

static void ctrlr_arm_keep_alive(struct tgt_ctrlr *c)
{
	evloop_timer_stop(g_tgt.control, &c->keep_alive_timer);
	if (c->kato_ms) {
		/* Check a few times per period: a host may be late by up to KATO, not more. */
		uint32_t period = c->kato_ms / 4 ? c->kato_ms / 4 : 1;

		evloop_timer_start(g_tgt.control, &c->keep_alive_timer, period, period,
				   ctrlr_keep_alive_check, c);
	}
}

void tgt_ctrlr_set_kato(struct tgt_ctrlr *c, uint32_t kato_ms)
{
	/* Round up to the granularity we report in Identify (KAS). */
	uint32_t gran = TGT_KAS_100MS * 100;

	c->kato_ms = kato_ms ? (kato_ms + gran - 1) / gran * gran : 0;
	tgt_ctrlr_keep_alive(c);
	ctrlr_arm_keep_alive(c);
}

struct tgt_ctrlr *tgt_ctrlr_create(struct tgt_subsystem *s, const char *hostnqn,
				   const uint8_t hostid[16], uint32_t kato_ms)
{
	struct tgt_ctrlr *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (ctrlr_alloc_cntlid(s, &c->cntlid)) {
		free(c);
		return NULL;
	}
	c->max_qid = (uint16_t)(g_tgt.opts.max_qpairs_per_ctrlr - 1);
	c->io = calloc((size_t)c->max_qid + 1, sizeof(*c->io));
	if (!c->io) {
		free(c);
		return NULL;
	}
	c->subsys = s;
	tgt_subsystem_get(s);
	c->refs = 1; /* the subsystem's list */
	snprintf(c->hostnqn, sizeof(c->hostnqn), "%s", hostnqn);
	memcpy(c->hostid, hostid, 16);
	c->nr_io_queues_granted = (uint16_t)(c->max_qid - 1);
	c->vwc_enabled = true;
	c->start_ns = evloop_now_ns();
	list_add_tail(&s->ctrlrs, &c->link);
	tgt_ctrlr_set_kato(c, kato_ms);
	log_notice("ctrlr %u created on %s for host %s (KATO %u ms)", c->cntlid, s->nqn, hostnqn,
		   c->kato_ms);
	return c;
}

/* The teardown is complete when no queue pair is left: the list's reference goes (once). */
static void ctrlr_unlink_if_done(struct tgt_ctrlr *c)
{
	if (!c->destroying || c->admin || c->num_io_qpairs || c->unlinked)
		return;
	c->unlinked = true;
	list_del(&c->link);
	tgt_ctrlr_put(c);
}

static void ctrlr_abort_aers(struct tgt_ctrlr *c)
{
	while (c->aer_count) {
		struct tgt_req *req = c->aer[--c->aer_count];

		tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORT_REQ));
	}
}

void tgt_qpair_closing(struct tgt_qpair *qp)
{
	if (qp->ctrlr && qp->qid == 0 && qp->ctrlr->admin == qp)
		ctrlr_abort_aers(qp->ctrlr);
}

void tgt_ctrlr_destroy(struct tgt_ctrlr *c, const char *why)
{
	if (c->destroying)
		return;
	tgt_ctrlr_get(c); /* closing a queue pair below may complete the teardown */
	c->destroying = true;
	evloop_timer_stop(g_tgt.control, &c->keep_alive_timer);
	tgt_ctrlr_auth_stop(c);
	log_notice("ctrlr %u on %s: destroying: %s", c->cntlid, c->subsys->nqn, why);
	ctrlr_abort_aers(c);
	for (uint32_t qid = 1; qid <= c->max_qid; qid++)
		if (c->io[qid])
			c->io[qid]->ops->qpair_disconnect(c->io[qid], why);
	if (c->admin)
		c->admin->ops->qpair_disconnect(c->admin, why);
	ctrlr_unlink_if_done(c);
	tgt_ctrlr_put(c);
}

/* A queue pair of this controller has closed and released its requests. */
void tgt_ctrlr_qpair_gone(struct tgt_qpair *qp)
{
	struct tgt_ctrlr *c = qp->ctrlr;

	if (!c)
		return;
	tgt_ctrlr_get(c);
	qp->ctrlr = NULL;
	if (qp->qid == 0) {
		if (c->admin == qp) {
			c->admin = NULL;
			qp->ops->qpair_put(qp);
		}
		/* Without its admin queue a controller cannot be managed: it goes. */
		tgt_ctrlr_destroy(c, "admin queue closed");
	} else if (qp->qid <= c->max_qid && c->io[qp->qid] == qp) {
		c->io[qp->qid] = NULL;
		c->num_io_qpairs--;
		qp->ops->qpair_put(qp);
	}
	ctrlr_unlink_if_done(c);
	tgt_ctrlr_put(c);
}

/* ---- asynchronous events ---- */

#define AEN_NS_CHANGED 0x1u

static void ctrlr_deliver_aen(struct tgt_ctrlr *c)
{
	struct tgt_req *req;

	if (!(c->pending_aen & AEN_NS_CHANGED) || c->aer_count == 0 || !c->admin)
		return;
	/* AEC bit 8: Namespace Attribute Notices enabled. */
	if (!(c->aec & (1u << 8)))
		return;
	req = c->aer[--c->aer_count];
	c->pending_aen &= ~AEN_NS_CHANGED;
	/* Notice type, namespace attribute changed, log page 04h to clear it. */
	req->rsp.dw0 = NVME_AER_NOTICE | (NVME_AER_NOTICE_NS_CHANGED << 8) |
		       ((uint32_t)NVME_LOG_LID_CHANGED_NS << 16);
	tgt_req_complete_status(req, 0);
}

void tgt_ctrlr_notice_ns_changed(struct tgt_ctrlr *c, uint32_t nsid)
{
	if (c->changed_ns_overflow) {
		/* already reporting "more than 1024 changed" */
	} else if (c->changed_ns_count < 1024) {
		bool dup = false;

		for (uint32_t i = 0; i < c->changed_ns_count; i++)
			dup |= c->changed_ns[i] == nsid;
		if (!dup)
			c->changed_ns[c->changed_ns_count++] = nsid;
	} else {
		c->changed_ns_overflow = true;
	}
	c->pending_aen |= AEN_NS_CHANGED;
	ctrlr_deliver_aen(c);
}

int tgt_ctrlr_queue_aer(struct tgt_ctrlr *c, struct tgt_req *req)
{
	if (c->aer_count >= TGT_MAX_AER)
		return -EBUSY;
	c->aer[c->aer_count++] = req;
	ctrlr_deliver_aen(c);
	return 0;
}

void tgt_ctrlr_aec_changed(struct tgt_ctrlr *c)
{
	ctrlr_deliver_aen(c);
}

/* ---- error log ---- */

void tgt_ctrlr_log_error(struct tgt_ctrlr *c, const struct tgt_req *req, uint16_t status)
{
	struct nvme_error_log_page *e = &c->errors[c->error_count % TGT_ERROR_LOG_ENTRIES];

	memset(e, 0, sizeof(*e));
	e->error_count = ++c->error_count;
	e->sqid = req->qp->qid;
	e->cmdid = req->cmd.cid;
	e->status_field = (uint16_t)(status << 1);
	e->nsid = req->cmd.nsid;
}
