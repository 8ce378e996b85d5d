/*
 * TLS 1.3 on secure listeners (secure_channel): which PSK a connecting host gets, from the PSK
 * identity it sends in its ClientHello, and the rule that its Connect then names the same host
 * and subsystem. The handshake itself is lib/tcp/tcp_tls.c's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth/tls_psk.h"
#include "target/target.h"
#include "util/log.h"

/* "NVMe0R0<1|2> <hostnqn> <subnqn>" into its parts; false if it is not one. */
static bool identity_split(const char *id, int *hash, char *host, char *sub)
{
	const char *h, *s;

	if (strncmp(id, "NVMe0R0", 7) != 0 || (id[7] != '1' && id[7] != '2') || id[8] != ' ')
		return false;
	*hash = id[7] - '0';
	h = id + 9;
	s = strchr(h, ' ');
	if (!s || s == h || (size_t)(s - h) > NVMF_NQN_MAX || strchr(s + 1, ' ') ||
	    strlen(s + 1) > NVMF_NQN_MAX || !s[1])
		return false;
	memcpy(host, h, (size_t)(s - h));
	host[s - h] = '\0';
	strcpy(sub, s + 1);
	return true;
}

int tgt_tls_psk_lookup(void *arg, const char *identity, uint8_t *psk, size_t *len)
{
	struct tgt_qpair *qp = arg;
	char hostnqn[NVMF_NQN_MAX + 1], subnqn[NVMF_NQN_MAX + 1], text[KEYRING_KEY_MAX];
	const struct keyring_key *key;
	const struct tgt_host *h;
	struct tgt_subsystem *s;
	struct tls_psk configured;
	const char *why = NULL;
	int hash, rc;

	if (!identity_split(identity, &hash, hostnqn, subnqn)) {
		log_warn("%s: TLS PSK identity \"%.80s\" is not NVMe0R0<hh> <hostnqn> <subnqn>", qp->peer,
			 identity);
		return -EINVAL;
	}
	s = tgt_subsystem_find(subnqn);
	h = s && !s->deleting && tgt_subsystem_listens_on(s, qp->portid) ?
		    tgt_subsystem_find_host(s, hostnqn) : NULL;
	if (!h || !h->psk[0]) {
		log_warn("%s: no TLS PSK for host %s on %s", qp->peer, hostnqn, subnqn);
		return -ENOKEY;
	}
	key = keyring_find(h->psk);
	rc = key ? keyring_key_read(key, text, sizeof(text)) : -ENOKEY;
	if (rc >= 0)
		rc = tls_psk_parse(text, &configured, &why);
	OPENSSL_cleanse(text, sizeof(text));
	if (rc < 0) {
		log_error("%s: TLS PSK '%s' of host %s on %s: %s", qp->peer, h->psk, hostnqn, subnqn,
			  why ? why : strerror(-rc));
		return rc;
	}
	/* The identity's hash names the cipher suite, which the PSK's length decides. */
	if ((configured.len == 48) != (hash == 2)) {
		log_warn("%s: TLS PSK identity of host %s asks for %s, the key is for the other suite",
			 qp->peer, hostnqn, hash == 2 ? "TLS_AES_256_GCM_SHA384" : "TLS_AES_128_GCM_SHA256");
		tls_psk_clear(&configured);
		return -EKEYREJECTED;
	}
	rc = tls_psk_derive(&configured, hostnqn, identity, psk);
	*len = configured.len;
	tls_psk_clear(&configured);
	if (rc)
		return rc;
	free(qp->tls_identity);
	qp->tls_identity = strdup(identity);
	return qp->tls_identity ? 0 : -ENOMEM;
}

bool tgt_tls_connect_allowed(const struct tgt_qpair *qp, const struct tgt_subsystem *s,
			     const char *hostnqn, const char **why)
{
	const struct tgt_host *h = tgt_subsystem_find_host(s, hostnqn);
	char host[NVMF_NQN_MAX + 1], sub[NVMF_NQN_MAX + 1];
	int hash;

	if (!qp->tls_identity) {
		if (h && h->psk[0]) {
			*why = "the host has a TLS PSK: it must connect over TLS (a secure_channel listener)";
			return false;
		}
		return true;
	}
	if (!identity_split(qp->tls_identity, &hash, host, sub) || strcmp(host, hostnqn) != 0 ||
	    strcmp(sub, s->nqn) != 0) {
		*why = "Connect names another host or subsystem than the TLS PSK identity";
		return false;
	}
	return true;
}
