/* TLS 1.3 on the host's connections: the PSK identity and key for this host and subsystem, and
 * the handshake on each queue's fresh connection, before ICReq. */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "host/host_internal.h"
#include "tcp/tcp_tls.h"
#include "util/log.h"

int host_qpair_start_tls(struct host_qpair *qp, const struct nvfab_trid *t, uint64_t deadline_ns,
			 struct nvfab_error *err)
{
	struct nvfab_ctrlr *ctrlr = qp->ctrlr;
	char identity[TLS_PSK_IDENTITY_MAX];
	uint8_t psk[TLS_PSK_MAX];
	struct tcp_tls *tls;
	const char *why = NULL;
	int rc;

	rc = tls_psk_identity(&ctrlr->tls_key, ctrlr->hostnqn, t->subnqn, identity, sizeof(identity));
	if (!rc)
		rc = tls_psk_derive(&ctrlr->tls_key, ctrlr->hostnqn, identity, psk);
	if (rc) {
		OPENSSL_cleanse(psk, sizeof(psk));
		host_error_set(err, rc, 0, "qid %u: cannot derive the TLS PSK: %s", qp->qid, strerror(-rc));
		return rc;
	}
	rc = tcp_tls_client(qp->fd, identity, psk, ctrlr->tls_key.len, host_ms_until(deadline_ns),
			    &tls, &why);
	OPENSSL_cleanse(psk, sizeof(psk));
	if (rc) {
		host_error_set(err, rc, 0, "%s:%s qid %u: TLS: %s", t->traddr, t->trsvcid, qp->qid, why);
		return rc;
	}
	qp->rx.tls = tls;
	qp->tx.tls = tls;
	log_info("qid %u: TLS 1.3 with %s%s, identity %s", qp->qid, tcp_tls_cipher(tls),
		 tcp_tls_ktls(tls) ? " (kTLS)" : "", identity);
	return 0;
}
