/*
 * The host's side of DH-HMAC-CHAP on one queue: builds Negotiate, answers the Challenge (and
 * challenges the controller when it has a controller secret), checks Success1. The caller moves
 * the messages with Authentication Send/Receive.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth/dhchap.h"

static const uint8_t g_hashes[] = {NVMF_DHCHAP_HASH_SHA256, NVMF_DHCHAP_HASH_SHA384,
				   NVMF_DHCHAP_HASH_SHA512};
static const uint8_t g_groups[] = {NVMF_DHCHAP_DHGROUP_NULL, NVMF_DHCHAP_DHGROUP_2048,
				   NVMF_DHCHAP_DHGROUP_3072, NVMF_DHCHAP_DHGROUP_4096,
				   NVMF_DHCHAP_DHGROUP_6144, NVMF_DHCHAP_DHGROUP_8192};

static int host_fail(struct dhchap_host *h, uint8_t reason, const char *fmt, ...)
{
	va_list ap;

	h->fail_reason = reason;
	va_start(ap, fmt);
	vsnprintf(h->why, sizeof(h->why), fmt, ap);
	va_end(ap);
	return -EACCES;
}

void dhchap_host_init(struct dhchap_host *h, const struct dhchap_host_config *cfg, uint16_t t_id)
{
	memset(h, 0, sizeof(*h));
	h->cfg = cfg;
	h->t_id = t_id;
}

int dhchap_host_negotiate(struct dhchap_host *h, void *out, size_t len)
{
	struct nvmf_auth_negotiate *m = out;
	struct nvmf_auth_descriptor *d = m->desc;

	if (len < sizeof(*m) + sizeof(*d))
		return -EINVAL;
	memset(out, 0, sizeof(*m) + sizeof(*d));
	m->h.auth_type = NVMF_AUTH_TYPE_COMMON;
	m->h.auth_id = NVMF_AUTH_ID_NEGOTIATE;
	m->h.t_id = h->t_id;
	m->sc_c = NVMF_AUTH_SCC_NONE;
	m->napd = 1;
	d->auth_id = NVMF_AUTH_TYPE_DHCHAP;
	for (size_t i = 0; i < sizeof(g_hashes); i++)
		if (h->cfg->hashes & (1u << g_hashes[i]))
			d->hash_ids[d->halen++] = g_hashes[i];
	for (size_t i = 0; i < sizeof(g_groups); i++)
		if (h->cfg->dhgroups & (1u << g_groups[i]))
			d->dhgroup_ids[d->dhlen++] = g_groups[i];
	return (int)(sizeof(*m) + sizeof(*d));
}

/* A Failure1 from the controller, or something else where msg was expected. */
static int unexpected(struct dhchap_host *h, const void *msg, size_t len, uint8_t want)
{
	const struct nvmf_auth_failure *f = msg;

	if (len >= sizeof(*f) && f->h.auth_type == NVMF_AUTH_TYPE_COMMON &&
	    f->h.auth_id == NVMF_AUTH_ID_FAILURE1) {
		h->fail_reason = 0;     /* the controller ended it: no Failure2 */
		snprintf(h->why, sizeof(h->why),
			 "the controller refused authentication: %s (reason code 0x%02x, explanation 0x%02x)",
			 dhchap_reason_str(f->rescode_exp), f->rescode, f->rescode_exp);
		return -EACCES;
	}
	return host_fail(h, NVMF_AUTH_INCORRECT_MESSAGE,
			 "expected DH-HMAC-CHAP message 0x%02x, got type 0x%02x id 0x%02x", want,
			 len >= 2 ? ((const uint8_t *)msg)[0] : 0,
			 len >= 2 ? ((const uint8_t *)msg)[1] : 0);
}

int dhchap_host_on_challenge(struct dhchap_host *h, const void *msg, size_t msg_len, void *out,
			     size_t len)
{
	const struct nvmf_dhchap_challenge *c = msg;
	struct nvmf_dhchap_reply *r = out;
	const struct dhchap_host_config *cfg = h->cfg;
	uint8_t dh_secret[DHCHAP_DH_MAX], c2[DHCHAP_HASH_MAX];
	struct dhchap_dh *dh = NULL;
	int group_len, rc;
	uint32_t s2 = 0;
	size_t need;

	if (msg_len < sizeof(*c) || c->h.auth_type != NVMF_AUTH_TYPE_DHCHAP ||
	    c->h.auth_id != NVMF_AUTH_ID_CHALLENGE)
		return unexpected(h, msg, msg_len, NVMF_AUTH_ID_CHALLENGE);
	if (c->h.t_id != h->t_id)
		return host_fail(h, NVMF_AUTH_INCORRECT_PAYLOAD,
				 "Challenge for transaction %u, ours is %u", c->h.t_id, h->t_id);
	h->hash_id = c->hash_id;
	h->hl = (uint8_t)dhchap_hash_len(c->hash_id);
	group_len = dhchap_dhgroup_len(c->dhgroup_id);
	if (!h->hl || !(cfg->hashes & (1u << c->hash_id)))
		return host_fail(h, NVMF_AUTH_HASH_UNUSABLE,
				 "the controller chose hash 0x%02x, which was not offered",
				 c->hash_id);
	if (group_len < 0 || !(cfg->dhgroups & (1u << c->dhgroup_id)))
		return host_fail(h, NVMF_AUTH_DHGROUP_UNUSABLE,
				 "the controller chose DH group 0x%02x, which was not offered",
				 c->dhgroup_id);
	if (c->hl != h->hl || c->dhvlen != group_len || c->seqnum == 0 ||
	    msg_len < sizeof(*c) + c->hl + c->dhvlen)
		return host_fail(h, NVMF_AUTH_INCORRECT_PAYLOAD,
				 "malformed Challenge (hl %u, dhvlen %u, seqnum %u, %zu bytes)",
				 c->hl, c->dhvlen, c->seqnum, msg_len);
	need = sizeof(*r) + 2u * h->hl + (size_t)group_len;
	if (len < need)
		return -EINVAL;
	memset(out, 0, need);
	if (group_len) {
		rc = dhchap_dh_generate(c->dhgroup_id, &dh);
		if (!rc)
			rc = dhchap_dh_public(dh, r->rval + 2 * h->hl, (size_t)group_len);
		if (!rc)
			rc = dhchap_dh_derive(dh, c->cval + c->hl, c->dhvlen, dh_secret,
					      (size_t)group_len);
		dhchap_dh_free(dh);
		if (rc)
			return host_fail(h, NVMF_AUTH_INCORRECT_PAYLOAD,
					 "the controller's DH value is not usable in %s",
					 dhchap_dhgroup_name(c->dhgroup_id));
	}
	rc = dhchap_response(cfg->host_key, h->hash_id, "HostHost", c->seqnum, h->t_id,
			     NVMF_AUTH_SCC_NONE, cfg->hostnqn, cfg->subnqn,
			     group_len ? dh_secret : NULL, (size_t)group_len, c->cval, r->rval);
	if (!rc && cfg->ctrl_key) {
		do {
			rc = dhchap_random(&s2, sizeof(s2));
		} while (!rc && s2 == 0);
		if (!rc)
			rc = dhchap_random(c2, h->hl);
		if (!rc)
			rc = dhchap_response(cfg->ctrl_key, h->hash_id, "Controller", s2, h->t_id,
					     NVMF_AUTH_SCC_NONE, cfg->subnqn, cfg->hostnqn,
					     group_len ? dh_secret : NULL, (size_t)group_len, c2,
					     h->expected);
		memcpy(r->rval + h->hl, c2, h->hl);
	}
	OPENSSL_cleanse(dh_secret, sizeof(dh_secret));
	if (rc)
		return host_fail(h, NVMF_AUTH_FAILED, "computing the response failed: %s",
				 strerror(-rc));
	r->h.auth_type = NVMF_AUTH_TYPE_DHCHAP;
	r->h.auth_id = NVMF_AUTH_ID_REPLY;
	r->h.t_id = h->t_id;
	r->hl = h->hl;
	r->cvalid = cfg->ctrl_key ? 1 : 0;
	r->dhvlen = (uint16_t)group_len;
	r->seqnum = s2;
	return (int)need;
}

int dhchap_host_on_success1(struct dhchap_host *h, const void *msg, size_t msg_len, void *out,
			    size_t len)
{
	const struct nvmf_dhchap_success1 *s = msg;
	struct nvmf_dhchap_success2 *s2 = out;

	if (msg_len < sizeof(*s) || s->h.auth_type != NVMF_AUTH_TYPE_DHCHAP ||
	    s->h.auth_id != NVMF_AUTH_ID_SUCCESS1)
		return unexpected(h, msg, msg_len, NVMF_AUTH_ID_SUCCESS1);
	if (s->h.t_id != h->t_id)
		return host_fail(h, NVMF_AUTH_INCORRECT_PAYLOAD,
				 "Success1 for transaction %u, ours is %u", s->h.t_id, h->t_id);
	if (!h->cfg->ctrl_key)
		return 0;
	if (!s->rvalid || s->hl != h->hl || msg_len < sizeof(*s) + h->hl)
		return host_fail(h, NVMF_AUTH_INCORRECT_PAYLOAD,
				 "Success1 carries no controller response (rvalid %u, hl %u)",
				 s->rvalid, s->hl);
	if (!dhchap_equal(s->rval, h->expected, h->hl))
		return host_fail(h, NVMF_AUTH_FAILED,
				 "the controller's response is wrong: it does not hold the controller secret");
	if (len < sizeof(*s2))
		return -EINVAL;
	memset(s2, 0, sizeof(*s2));
	s2->h.auth_type = NVMF_AUTH_TYPE_DHCHAP;
	s2->h.auth_id = NVMF_AUTH_ID_SUCCESS2;
	s2->h.t_id = h->t_id;
	return (int)sizeof(*s2);
}

int dhchap_host_failure2(struct dhchap_host *h, void *out, size_t len)
{
	return dhchap_put_failure(out, len, NVMF_AUTH_ID_FAILURE2, h->t_id, h->fail_reason);
}
