/*
 * DH-HMAC-CHAP on the host: after Connect, a queue whose controller asks for authentication
 * (AUTHREQ.ATR in the Connect response) runs the exchange with Authentication Send/Receive
 * before any other command; so does every queue of a host that holds a controller secret, since
 * it wants the controller to prove itself whether or not it was asked. Also where the secrets of
 * the options (and the TLS PSK, used by tls.c) are parsed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "host/host_internal.h"
#include "spec/nvme_auth.h"
#include "spec/status.h"
#include "util/log.h"

int host_auth_setup(struct nvfab_ctrlr *ctrlr, struct nvfab_error *err)
{
	struct nvfab_ctrlr_opts *o = &ctrlr->opts;
	const char *why = NULL;
	int rc = 0;

	if (o->dhchap_secret[0]) {
		rc = dhchap_secret_parse(o->dhchap_secret, &ctrlr->dhchap_key, &why);
		if (rc)
			host_error_set(err, rc, 0, "bad DH-HMAC-CHAP host secret: %s", why);
		ctrlr->has_dhchap_key = rc == 0;
	}
	if (!rc && o->dhchap_ctrl_secret[0]) {
		if (!o->dhchap_secret[0]) {
			rc = -EINVAL;
			host_error_set(err, rc, 0,
				       "a DH-HMAC-CHAP controller secret needs a host secret too (bidirectional authentication)");
		} else {
			rc = dhchap_secret_parse(o->dhchap_ctrl_secret, &ctrlr->dhchap_ctrl_key, &why);
			if (rc)
				host_error_set(err, rc, 0, "bad DH-HMAC-CHAP controller secret: %s", why);
			ctrlr->has_dhchap_ctrl_key = rc == 0;
		}
	}
	if (!rc && o->tls_psk[0]) {
		rc = tls_psk_parse(o->tls_psk, &ctrlr->tls_key, &why);
		if (rc)
			host_error_set(err, rc, 0, "bad TLS PSK: %s", why);
		ctrlr->has_tls_key = rc == 0;
	}
	OPENSSL_cleanse(o->tls_psk, sizeof(o->tls_psk));
	if (!o->dhchap_hashes)
		o->dhchap_hashes = DHCHAP_ALL_HASHES;
	if (!o->dhchap_dhgroups)
		o->dhchap_dhgroups = DHCHAP_ALL_DHGROUPS;
	OPENSSL_cleanse(o->dhchap_secret, sizeof(o->dhchap_secret));
	OPENSSL_cleanse(o->dhchap_ctrl_secret, sizeof(o->dhchap_ctrl_secret));
	return rc;
}

static void auth_sqe(struct nvme_sqe *sqe, uint8_t fctype, uint32_t len)
{
	struct nvmf_auth_cmd *cmd = (struct nvmf_auth_cmd *)sqe;

	memset(sqe, 0, sizeof(*sqe));
	cmd->opc = NVME_FABRICS_OPC;
	cmd->fctype = fctype;
	cmd->secp = NVMF_AUTH_SECP;
	cmd->spsp0 = NVMF_AUTH_SPSP;
	cmd->spsp1 = NVMF_AUTH_SPSP;
	cmd->len = len;
}

/* One AUTH_Send (buf, len) or AUTH_Receive (into buf, len). */
static int auth_exec(struct host_qpair *qp, bool send, void *buf, uint32_t len,
		     uint64_t deadline_ns, struct nvfab_error *err)
{
	struct nvfab_cpl cpl;
	struct nvme_sqe sqe;
	char st[128];
	int rc;

	auth_sqe(&sqe, send ? NVMF_FCTYPE_AUTH_SEND : NVMF_FCTYPE_AUTH_RECV, len);
	rc = host_qpair_exec(qp, &sqe, send ? HOST_XFER_H2C : HOST_XFER_C2H, buf, len, &cpl,
			     host_ms_until(deadline_ns));
	if (rc) {
		host_error_set(err, rc, 0, "qid %u: Authentication %s failed: %s", qp->qid,
			       send ? "Send" : "Receive", strerror(-rc));
		return rc;
	}
	if (cpl.status & 0x7ff) {
		host_error_set(err, -EACCES, cpl.status, "qid %u: Authentication %s refused: %s",
			       qp->qid, send ? "Send" : "Receive",
			       spec_status_format(cpl.status, st, sizeof(st)));
		return -EACCES;
	}
	return 0;
}

/* A message builder's failure as an error with a reason (h->why). */
static int host_refused(struct dhchap_host *h, int rc)
{
	if (rc == 0)
		rc = -EPROTO;
	if (!h->why[0])
		snprintf(h->why, sizeof(h->why), "%s", strerror(-rc));
	return rc;
}

int host_qpair_authenticate(struct host_qpair *qp, uint32_t connect_dw0, uint64_t deadline_ns,
			    struct nvfab_error *err)
{
	struct nvfab_ctrlr *ctrlr = qp->ctrlr;
	bool asked = connect_dw0 & NVMF_CONNECT_AUTHREQ_ATR;
	struct dhchap_host_config cfg;
	struct nvfab_trid path;
	struct dhchap_host h;
	/* Receive into one buffer, build the next message in another: the builders read the
	 * message they answer. */
	static _Thread_local uint8_t in[DHCHAP_MSG_MAX], out[DHCHAP_MSG_MAX];
	int n, rc;

	if (connect_dw0 & NVMF_CONNECT_AUTHREQ_ASCR) {
		host_error_set(err, -EPROTONOSUPPORT, 0,
			       "the controller requires a secure channel (TLS) for authentication, which this host does not offer");
		return -EPROTONOSUPPORT;
	}
	if (!asked && !ctrlr->has_dhchap_ctrl_key)
		return 0;
	if (!ctrlr->has_dhchap_key) {
		host_error_set(err, -EACCES, 0,
			       "the controller requires DH-HMAC-CHAP authentication: give the host's secret (--dhchap-secret)");
		return -EACCES;
	}
	host_path_current(ctrlr, &path);
	cfg = (struct dhchap_host_config){
		.host_key = &ctrlr->dhchap_key,
		.ctrl_key = ctrlr->has_dhchap_ctrl_key ? &ctrlr->dhchap_ctrl_key : NULL,
		.hashes = ctrlr->opts.dhchap_hashes,
		.dhgroups = ctrlr->opts.dhchap_dhgroups,
		.hostnqn = ctrlr->hostnqn,
		.subnqn = path.subnqn,
	};
	dhchap_host_init(&h, &cfg, atomic_fetch_add(&ctrlr->auth_tid, 1));

	/* Negotiate; Challenge -> Reply; Success1 -> (Success2 when bidirectional). A builder's
	 * refusal (rc from it, h.why set) is the host's verdict: the controller hears a Failure2. */
	n = dhchap_host_negotiate(&h, out, sizeof(out));
	rc = auth_exec(qp, true, out, (uint32_t)n, deadline_ns, err);
	if (!rc)
		rc = auth_exec(qp, false, in, sizeof(in), deadline_ns, err);
	if (!rc) {
		n = dhchap_host_on_challenge(&h, in, sizeof(in), out, sizeof(out));
		rc = n > 0 ? auth_exec(qp, true, out, (uint32_t)n, deadline_ns, err) : host_refused(&h, n);
	}
	if (!rc) {
		rc = auth_exec(qp, false, in, sizeof(in), deadline_ns, err);
		/* Linux's target, refusing the response, tears the controller down while its
		 * Failure1 is queued: the message may never leave, the connection just ends. */
		if (rc == -ECONNRESET || rc == -EPIPE || rc == -ECONNABORTED)
			host_error_set(err, rc, 0, "qid %u: DH-HMAC-CHAP authentication with %s "
				       "failed: the controller closed the connection instead of "
				       "answering our response (a Linux target does that when it "
				       "refuses it)", qp->qid, path.subnqn);
	}
	if (!rc) {
		n = dhchap_host_on_success1(&h, in, sizeof(in), out, sizeof(out));
		if (n > 0)
			rc = auth_exec(qp, true, out, (uint32_t)n, deadline_ns, err);
		else if (n < 0)
			rc = host_refused(&h, n);
	}
	if (h.why[0]) {
		host_error_set(err, rc, 0, "qid %u: DH-HMAC-CHAP authentication with %s failed: %s",
			       qp->qid, path.subnqn, h.why);
		if (h.fail_reason) {
			struct nvfab_error ignored;

			n = dhchap_host_failure2(&h, out, sizeof(out));
			auth_exec(qp, true, out, (uint32_t)n, deadline_ns, &ignored);
		}
	}
	OPENSSL_cleanse(&h, sizeof(h));
	if (!rc)
		log_info("qid %u: authenticated to %s (DH-HMAC-CHAP)", qp->qid, path.subnqn);
	return rc;
}

/* A new exchange on a live queue: what the controller would do when it asked again. */
static int reauthenticate(struct host_qpair *qp, struct nvfab_error *err)
{
	struct nvfab_ctrlr *ctrlr = qp->ctrlr;

	if (!ctrlr->has_dhchap_key) {
		host_error_set(err, -ENOKEY, 0, "no DH-HMAC-CHAP secret was given at connect");
		return -ENOKEY;
	}
	if (qp->state != HOST_QP_LIVE) {
		host_error_set(err, -ENOTCONN, 0, "qid %u is not connected", qp->qid);
		return -ENOTCONN;
	}
	return host_qpair_authenticate(qp, NVMF_CONNECT_AUTHREQ_ATR,
				       host_setup_deadline(ctrlr, UINT64_MAX), err);
}

int nvfab_ctrlr_reauthenticate(struct nvfab_ctrlr *ctrlr, struct nvfab_error *err)
{
	int rc;

	pthread_mutex_lock(&ctrlr->admin_lock);
	rc = reauthenticate(&ctrlr->admin, err);
	pthread_mutex_unlock(&ctrlr->admin_lock);
	return rc;
}

int nvfab_qpair_reauthenticate(struct nvfab_qpair *qp, struct nvfab_error *err)
{
	return reauthenticate(&qp->q, err);
}
