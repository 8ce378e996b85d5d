/*
 * The controller's side of DH-HMAC-CHAP on one queue: AUTH_Send payloads move it forward,
 * AUTH_Receive buffers are filled from where it stands. A message that is malformed, out of
 * order or from another transaction turns the exchange into a Failure1, which the host reads
 * with its next AUTH_Receive; then the queue is closed.
 */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth/dhchap.h"

/* Strongest first: the strongest hash and group that both sides allow are chosen. */
static const uint8_t g_hash_pref[] = {NVMF_DHCHAP_HASH_SHA512, NVMF_DHCHAP_HASH_SHA384,
				      NVMF_DHCHAP_HASH_SHA256};
static const uint8_t g_group_pref[] = {NVMF_DHCHAP_DHGROUP_8192, NVMF_DHCHAP_DHGROUP_6144,
				       NVMF_DHCHAP_DHGROUP_4096, NVMF_DHCHAP_DHGROUP_3072,
				       NVMF_DHCHAP_DHGROUP_2048, NVMF_DHCHAP_DHGROUP_NULL};

const char *dhchap_reason_str(uint8_t reason)
{
	switch (reason) {
	case NVMF_AUTH_FAILED: return "authentication failed";
	case NVMF_AUTH_PROTOCOL_UNUSABLE: return "authentication protocol not usable";
	case NVMF_AUTH_SCC_MISMATCH: return "secure channel concatenation mismatch";
	case NVMF_AUTH_HASH_UNUSABLE: return "hash function not usable";
	case NVMF_AUTH_DHGROUP_UNUSABLE: return "DH group not usable";
	case NVMF_AUTH_INCORRECT_PAYLOAD: return "incorrect payload";
	case NVMF_AUTH_INCORRECT_MESSAGE: return "incorrect protocol message";
	default: return "unknown reason";
	}
}

int dhchap_put_failure(void *buf, size_t len, uint8_t auth_id, uint16_t t_id, uint8_t reason)
{
	struct nvmf_auth_failure *f = buf;

	if (len < sizeof(*f))
		return -EINVAL;
	memset(f, 0, sizeof(*f));
	f->h.auth_type = NVMF_AUTH_TYPE_COMMON;
	f->h.auth_id = auth_id;
	f->h.t_id = t_id;
	f->rescode = NVMF_AUTH_FAILURE_RC;
	f->rescode_exp = reason;
	return (int)sizeof(*f);
}

void dhchap_ctrl_init(struct dhchap_ctrl *c, const struct dhchap_ctrl_config *cfg)
{
	memset(c, 0, sizeof(*c));
	c->cfg = cfg;
	c->state = DHCHAP_CTRL_NEGOTIATE;
}

static void forget_exchange(struct dhchap_ctrl *c)
{
	dhchap_dh_free(c->dh);
	c->dh = NULL;
	OPENSSL_cleanse(c->c1, sizeof(c->c1));
	OPENSSL_cleanse(c->ctrl_response, sizeof(c->ctrl_response));
}

void dhchap_ctrl_fini(struct dhchap_ctrl *c)
{
	forget_exchange(c);
}

static void fail1(struct dhchap_ctrl *c, uint8_t reason)
{
	forget_exchange(c);
	c->fail_reason = reason;
	c->state = DHCHAP_CTRL_FAILURE1;
}

static bool listed(const uint8_t *ids, uint8_t n, uint8_t id)
{
	for (uint8_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

static void on_negotiate(struct dhchap_ctrl *c, const struct nvmf_auth_negotiate *m, size_t len)
{
	const struct nvmf_auth_descriptor *d = NULL;
	int hash = -1, group = -1;

	forget_exchange(c);
	c->t_id = m->h.t_id;
	if (len < sizeof(*m) + sizeof(*d) || len != sizeof(*m) + (size_t)m->napd * sizeof(*d)) {
		fail1(c, NVMF_AUTH_INCORRECT_PAYLOAD);
		return;
	}
	if (m->sc_c != NVMF_AUTH_SCC_NONE) {
		fail1(c, NVMF_AUTH_SCC_MISMATCH);
		return;
	}
	for (uint8_t i = 0; i < m->napd; i++) {
		if (m->desc[i].auth_id == NVMF_AUTH_TYPE_DHCHAP) {
			d = &m->desc[i];
			break;
		}
	}
	if (!d) {
		fail1(c, NVMF_AUTH_PROTOCOL_UNUSABLE);
		return;
	}
	if (d->halen > sizeof(d->hash_ids) || d->dhlen > sizeof(d->dhgroup_ids)) {
		fail1(c, NVMF_AUTH_INCORRECT_PAYLOAD);
		return;
	}
	for (size_t i = 0; i < sizeof(g_hash_pref) && hash < 0; i++)
		if ((c->cfg->hashes & (1u << g_hash_pref[i])) &&
		    listed(d->hash_ids, d->halen, g_hash_pref[i]))
			hash = g_hash_pref[i];
	if (hash < 0) {
		fail1(c, NVMF_AUTH_HASH_UNUSABLE);
		return;
	}
	for (size_t i = 0; i < sizeof(g_group_pref) && group < 0; i++)
		if ((c->cfg->dhgroups & (1u << g_group_pref[i])) &&
		    listed(d->dhgroup_ids, d->dhlen, g_group_pref[i]))
			group = g_group_pref[i];
	if (group < 0) {
		fail1(c, NVMF_AUTH_DHGROUP_UNUSABLE);
		return;
	}
	c->hash_id = (uint8_t)hash;
	c->hl = (uint8_t)dhchap_hash_len(c->hash_id);
	c->dhgroup_id = (uint8_t)group;
	c->bidirectional = false;
	c->state = DHCHAP_CTRL_CHALLENGE;
}

static void on_reply(struct dhchap_ctrl *c, const struct nvmf_dhchap_reply *m, size_t len)
{
	const struct dhchap_ctrl_config *cfg = c->cfg;
	int group_len = dhchap_dhgroup_len(c->dhgroup_id);
	uint8_t dh_secret[DHCHAP_DH_MAX], expected[DHCHAP_HASH_MAX];
	struct dhchap_secret decoy;
	const struct dhchap_secret *host_key = cfg->host_key;
	bool ok;

	if (len < sizeof(*m) || m->hl != c->hl || m->dhvlen != group_len ||
	    len != sizeof(*m) + 2u * m->hl + m->dhvlen || m->cvalid > 1 ||
	    (m->cvalid && m->seqnum == 0)) {
		fail1(c, NVMF_AUTH_INCORRECT_PAYLOAD);
		return;
	}
	if (group_len && dhchap_dh_derive(c->dh, m->rval + 2 * m->hl, m->dhvlen, dh_secret,
					  (size_t)group_len) != 0) {
		fail1(c, NVMF_AUTH_INCORRECT_PAYLOAD);
		return;
	}
	/* Without a key for this host the exchange fails, but only after the same work as a
	 * wrong response, so that timing does not tell the two apart. */
	if (!host_key) {
		decoy.len = 32;
		decoy.transform = 0;
		dhchap_random(decoy.key, decoy.len);
		host_key = &decoy;
	}
	ok = dhchap_response(host_key, c->hash_id, "HostHost", c->s1, c->t_id, NVMF_AUTH_SCC_NONE,
			     cfg->hostnqn, cfg->subnqn, group_len ? dh_secret : NULL,
			     (size_t)group_len, c->c1, expected) == 0 &&
	     dhchap_equal(expected, m->rval, c->hl) && host_key != &decoy;
	if (host_key == &decoy)
		dhchap_secret_clear(&decoy);
	if (ok && m->cvalid) {
		/* The host wants the controller to prove itself too. */
		ok = cfg->ctrl_key &&
		     dhchap_response(cfg->ctrl_key, c->hash_id, "Controller", m->seqnum, c->t_id,
				     NVMF_AUTH_SCC_NONE, cfg->subnqn, cfg->hostnqn,
				     group_len ? dh_secret : NULL, (size_t)group_len,
				     m->rval + m->hl, c->ctrl_response) == 0;
	}
	OPENSSL_cleanse(dh_secret, sizeof(dh_secret));
	if (!ok) {
		fail1(c, NVMF_AUTH_FAILED);
		return;
	}
	c->bidirectional = m->cvalid;
	c->state = DHCHAP_CTRL_SUCCESS1;
}

void dhchap_ctrl_send(struct dhchap_ctrl *c, const void *msg, size_t len)
{
	const struct nvmf_auth_header *h = msg;

	if (c->state == DHCHAP_CTRL_FAILURE1 || c->state == DHCHAP_CTRL_FAILED)
		return;
	if (len < sizeof(*h)) {
		fail1(c, NVMF_AUTH_INCORRECT_PAYLOAD);
		return;
	}
	if ((h->auth_type == NVMF_AUTH_TYPE_COMMON || h->auth_type == NVMF_AUTH_TYPE_DHCHAP) &&
	    h->auth_id == NVMF_AUTH_ID_FAILURE2) {
		/* The host refused us (our response did not match its controller secret). */
		forget_exchange(c);
		c->fail_reason = len >= sizeof(struct nvmf_auth_failure) ?
				 ((const struct nvmf_auth_failure *)msg)->rescode_exp : 0;
		c->state = DHCHAP_CTRL_FAILED;
		return;
	}
	if (h->auth_type == NVMF_AUTH_TYPE_COMMON && h->auth_id == NVMF_AUTH_ID_NEGOTIATE) {
		/* A new transaction: the first one, a restart, or a re-authentication. */
		on_negotiate(c, msg, len);
		return;
	}
	if (h->auth_type != NVMF_AUTH_TYPE_DHCHAP || c->state == DHCHAP_CTRL_NEGOTIATE ||
	    c->state == DHCHAP_CTRL_DONE) {
		fail1(c, NVMF_AUTH_INCORRECT_MESSAGE);
		return;
	}
	if (h->t_id != c->t_id) {
		fail1(c, NVMF_AUTH_INCORRECT_PAYLOAD);
		return;
	}
	if (h->auth_id == NVMF_AUTH_ID_REPLY && c->state == DHCHAP_CTRL_REPLY) {
		on_reply(c, msg, len);
	} else if (h->auth_id == NVMF_AUTH_ID_SUCCESS2 && c->state == DHCHAP_CTRL_SUCCESS2) {
		forget_exchange(c);
		c->authenticated = true;
		c->state = DHCHAP_CTRL_DONE;
	} else {
		fail1(c, NVMF_AUTH_INCORRECT_MESSAGE);
	}
}

static int put_challenge(struct dhchap_ctrl *c, struct nvmf_dhchap_challenge *m, size_t al)
{
	int group_len = dhchap_dhgroup_len(c->dhgroup_id);
	size_t len = sizeof(*m) + c->hl + (size_t)group_len;

	if (al < len)
		return -EINVAL;
	do {
		if (dhchap_random(&c->s1, sizeof(c->s1)))
			return -EIO;
	} while (c->s1 == 0);
	if (dhchap_random(c->c1, c->hl))
		return -EIO;
	if (group_len && (dhchap_dh_generate(c->dhgroup_id, &c->dh) ||
			  dhchap_dh_public(c->dh, m->cval + c->hl, (size_t)group_len)))
		return -EIO;
	memset(m, 0, sizeof(*m));
	m->h.auth_type = NVMF_AUTH_TYPE_DHCHAP;
	m->h.auth_id = NVMF_AUTH_ID_CHALLENGE;
	m->h.t_id = c->t_id;
	m->hl = c->hl;
	m->hash_id = c->hash_id;
	m->dhgroup_id = c->dhgroup_id;
	m->dhvlen = (uint16_t)group_len;
	m->seqnum = c->s1;
	memcpy(m->cval, c->c1, c->hl);
	c->state = DHCHAP_CTRL_REPLY;
	return (int)len;
}

static int put_success1(struct dhchap_ctrl *c, struct nvmf_dhchap_success1 *m, size_t al)
{
	size_t len = sizeof(*m) + (c->bidirectional ? c->hl : 0);

	if (al < len)
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	m->h.auth_type = NVMF_AUTH_TYPE_DHCHAP;
	m->h.auth_id = NVMF_AUTH_ID_SUCCESS1;
	m->h.t_id = c->t_id;
	m->hl = c->hl;
	if (c->bidirectional) {
		m->rvalid = 1;
		memcpy(m->rval, c->ctrl_response, c->hl);
		c->state = DHCHAP_CTRL_SUCCESS2;
	} else {
		forget_exchange(c);
		c->authenticated = true;
		c->state = DHCHAP_CTRL_DONE;
	}
	return (int)len;
}

int dhchap_ctrl_receive(struct dhchap_ctrl *c, void *buf, size_t al)
{
	int rc;

	switch (c->state) {
	case DHCHAP_CTRL_CHALLENGE:
		rc = put_challenge(c, buf, al);
		if (rc == -EIO)
			fail1(c, NVMF_AUTH_FAILED);
		else
			return rc;
		break;
	case DHCHAP_CTRL_SUCCESS1:
		return put_success1(c, buf, al);
	case DHCHAP_CTRL_FAILURE1:
	case DHCHAP_CTRL_FAILED:
		/* The verdict again, for a host that asks twice; the queue closes anyway. */
		break;
	default:
		/* Nothing to receive here: the host is out of step. */
		fail1(c, NVMF_AUTH_INCORRECT_MESSAGE);
		break;
	}
	rc = dhchap_put_failure(buf, al, NVMF_AUTH_ID_FAILURE1, c->t_id, c->fail_reason);
	if (rc < 0)
		return rc;
	c->authenticated = false;
	c->state = DHCHAP_CTRL_FAILED;
	return rc;
}
