/*
 * DH-HMAC-CHAP on the controller side: which hosts must authenticate, the keys they are checked
 * against, Authentication Send/Receive on each queue, the gate that refuses everything else until
 * a queue has authenticated, and the deadline for doing so.
 *
 * Threads: the controller's keys are loaded at the admin Connect on the control thread and not
 * changed afterwards, so the reactors that own its I/O queues read them without locks. A queue's
 * exchange runs on the thread that owns the queue.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/status.h"
#include "target/target.h"
#include "util/log.h"

/* A queue that has not authenticated by then is closed: it holds a queue slot and memory. */
#define TGT_AUTH_DEADLINE_MS 30000

struct tgt_ctrlr_auth {
	bool required;                  /* the host has a secret: every queue authenticates */
	struct dhchap_secret host_key, ctrl_key;
	bool has_host_key, has_ctrl_key;
	struct dhchap_ctrl_config cfg;
	struct evloop_timer deadline_timer;
};

static int load_secret(const struct tgt_ctrlr *c, const char *name, struct dhchap_secret *out)
{
	const struct keyring_key *key = keyring_find(name);
	char text[KEYRING_KEY_MAX];
	const char *why = NULL;
	int rc;

	if (!key) {
		log_error("ctrlr %u (host %s): DH-HMAC-CHAP key '%s' is not in the keyring: the host cannot authenticate",
			  c->cntlid, c->hostnqn, name);
		return -ENOKEY;
	}
	rc = keyring_key_read(key, text, sizeof(text));
	if (rc < 0) {
		log_error("ctrlr %u (host %s): cannot read DH-HMAC-CHAP key '%s' from %s: %s",
			  c->cntlid, c->hostnqn, name, key->path, strerror(-rc));
		return rc;
	}
	rc = dhchap_secret_parse(text, out, &why);
	memset(text, 0, sizeof(text));
	if (rc)
		log_error("ctrlr %u (host %s): DH-HMAC-CHAP key '%s' (%s): %s", c->cntlid, c->hostnqn,
			  name, key->path, why);
	return rc;
}

/* Closes the controller's queues that did not authenticate in time. */
static void auth_deadline_check(void *arg)
{
	struct tgt_ctrlr *c = arg;
	uint64_t now = evloop_now_ns();

	for (uint32_t qid = 0; qid <= c->max_qid; qid++) {
		struct tgt_qpair *qp = qid ? c->io[qid] : c->admin;

		if (qp && !atomic_load_explicit(&qp->auth_ok, memory_order_acquire) &&
		    now > qp->auth_deadline_ns)
			qp->ops->qpair_disconnect(qp, "no DH-HMAC-CHAP authentication within 30 s");
	}
}

int tgt_ctrlr_auth_setup(struct tgt_ctrlr *c, const struct tgt_host *h)
{
	struct tgt_ctrlr_auth *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->cfg.hashes = g_tgt.dhchap_hashes;
	a->cfg.dhgroups = g_tgt.dhchap_dhgroups;
	a->cfg.hostnqn = c->hostnqn;
	a->cfg.subnqn = c->subsys->nqn;
	if (h && h->dhchap_key[0]) {
		/* A key that cannot be loaded still makes authentication required: it then fails,
		 * rather than letting the host in without it. */
		a->required = true;
		a->has_host_key = load_secret(c, h->dhchap_key, &a->host_key) == 0;
		if (h->dhchap_ctrlr_key[0])
			a->has_ctrl_key = load_secret(c, h->dhchap_ctrlr_key, &a->ctrl_key) == 0;
	}
	a->cfg.host_key = a->has_host_key ? &a->host_key : NULL;
	a->cfg.ctrl_key = a->has_ctrl_key ? &a->ctrl_key : NULL;
	c->auth = a;
	if (a->required)
		evloop_timer_start(g_tgt.control, &a->deadline_timer, 1000, 1000,
				   auth_deadline_check, c);
	return 0;
}

void tgt_ctrlr_auth_stop(struct tgt_ctrlr *c)
{
	if (c->auth)
		evloop_timer_stop(g_tgt.control, &c->auth->deadline_timer);
}

void tgt_ctrlr_auth_free(struct tgt_ctrlr *c)
{
	struct tgt_ctrlr_auth *a = c->auth;

	if (!a)
		return;
	evloop_timer_stop(g_tgt.control, &a->deadline_timer);
	dhchap_secret_clear(&a->host_key);
	dhchap_secret_clear(&a->ctrl_key);
	free(a);
	c->auth = NULL;
}

static int qpair_session(struct tgt_qpair *qp)
{
	if (qp->auth)
		return 0;
	qp->auth = malloc(sizeof(*qp->auth));
	if (!qp->auth)
		return -ENOMEM;
	dhchap_ctrl_init(qp->auth, &qp->ctrlr->auth->cfg);
	return 0;
}

int tgt_qpair_auth_init(struct tgt_qpair *qp)
{
	const struct tgt_ctrlr_auth *a = qp->ctrlr->auth;

	if (!a || !a->required) {
		atomic_store_explicit(&qp->auth_ok, true, memory_order_release);
		return 0;
	}
	qp->auth_gate = true;
	qp->auth_deadline_ns = evloop_now_ns() + TGT_AUTH_DEADLINE_MS * 1000000ull;
	return qpair_session(qp);
}

void tgt_qpair_auth_fini(struct tgt_qpair *qp)
{
	if (!qp->auth)
		return;
	dhchap_ctrl_fini(qp->auth);
	free(qp->auth);
	qp->auth = NULL;
}

bool tgt_auth_admits(struct tgt_req *req)
{
	const struct nvmf_cmd_common *cmd = (const struct nvmf_cmd_common *)&req->cmd;

	if (req->cmd.opc == NVME_FABRICS_OPC &&
	    (cmd->fctype == NVMF_FCTYPE_AUTH_SEND || cmd->fctype == NVMF_FCTYPE_AUTH_RECV ||
	     cmd->fctype == NVMF_FCTYPE_CONNECT || cmd->fctype == NVMF_FCTYPE_DISCONNECT))
		return true;
	tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_AUTH_REQUIRED) |
				     NVME_STATUS_DNR);
	return false;
}

/* What happened on the queue after a message; closes it when the exchange failed. */
static void auth_settle(struct tgt_req *req, enum dhchap_ctrl_state before)
{
	struct tgt_qpair *qp = req->qp;
	struct dhchap_ctrl *a = qp->auth;
	char why[128];

	if (a->state == DHCHAP_CTRL_DONE && before != DHCHAP_CTRL_DONE) {
		qp->auth_gate = false;
		atomic_store_explicit(&qp->auth_ok, true, memory_order_release);
		log_info("%s qid %u: host %s authenticated (DH-HMAC-CHAP %s, %s%s)", qp->peer, qp->qid,
			 qp->ctrlr->hostnqn, dhchap_hash_name(a->hash_id),
			 dhchap_dhgroup_name(a->dhgroup_id), a->bidirectional ? ", bidirectional" : "");
	}
	tgt_req_complete_status(req, 0);
	if (a->state == DHCHAP_CTRL_FAILED) {
		log_warn("%s qid %u: DH-HMAC-CHAP with host %s failed: %s", qp->peer, qp->qid,
			 qp->ctrlr->hostnqn, dhchap_reason_str(a->fail_reason));
		snprintf(why, sizeof(why), "DH-HMAC-CHAP failed: %s",
			 dhchap_reason_str(a->fail_reason));
		qp->ops->qpair_disconnect(qp, why);
	}
}

void tgt_auth_execute(struct tgt_req *req)
{
	const struct nvmf_auth_cmd *cmd = (const struct nvmf_auth_cmd *)&req->cmd;
	struct tgt_qpair *qp = req->qp;
	bool send = cmd->fctype == NVMF_FCTYPE_AUTH_SEND;
	enum dhchap_ctrl_state before;
	int n;

	if (cmd->secp != NVMF_AUTH_SECP || cmd->spsp0 != NVMF_AUTH_SPSP ||
	    cmd->spsp1 != NVMF_AUTH_SPSP || cmd->len == 0 || cmd->len != req->data_len ||
	    req->data_to_host == send || !qp->ctrlr->auth) {
		tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) |
					     NVME_STATUS_DNR);
		return;
	}
	if (qpair_session(qp)) {
		tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL));
		return;
	}
	before = qp->auth->state;
	if (send) {
		dhchap_ctrl_send(qp->auth, req->iov[0].iov_base, req->data_len);
		auth_settle(req, before);
		return;
	}
	/* The whole allocation length goes back, zero-filled past the message. */
	if (tgt_req_alloc_buf(req, req->data_len)) {
		tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL));
		return;
	}
	memset(req->buf, 0, req->data_len);
	n = dhchap_ctrl_receive(qp->auth, req->buf, req->data_len);
	if (n < 0) {
		tgt_req_complete_status(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) |
					     NVME_STATUS_DNR);
		return;
	}
	auth_settle(req, before);
}
