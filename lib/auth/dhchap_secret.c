/* DH-HMAC-CHAP secrets in their interchange representation, and the transformation that binds a
 * secret to its owner's NQN. */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth/dhchap.h"
#include "auth/dhchap_mac.h"
#include "auth/key_interchange.h"

#define TRANSFORM_LABEL "NVMe-over-Fabrics"

int dhchap_secret_parse(const char *s, struct dhchap_secret *out, const char **why)
{
	unsigned transform;
	size_t len;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = key_interchange_parse(s, "DHHC-1", "DH-HMAC-CHAP secret", NVMF_DHCHAP_HASH_SHA512,
				   out->key, &len, &transform, why);
	if (rc)
		return rc;
	out->len = (uint8_t)len;
	out->transform = (uint8_t)transform;
	return 0;
}

int dhchap_secret_key(const struct dhchap_secret *s, const char *nqn, uint8_t out[DHCHAP_KEY_MAX])
{
	struct dhchap_mac mac;
	int rc;

	if (s->transform == 0) {
		memcpy(out, s->key, s->len);
		return s->len;
	}
	rc = dhchap_mac_init(&mac, s->transform, s->key, s->len);
	if (rc)
		return rc;
	dhchap_mac_update(&mac, nqn, strlen(nqn));
	dhchap_mac_update(&mac, TRANSFORM_LABEL, strlen(TRANSFORM_LABEL));
	return dhchap_mac_final(&mac, out, DHCHAP_KEY_MAX);
}

void dhchap_secret_clear(struct dhchap_secret *s)
{
	OPENSSL_cleanse(s, sizeof(*s));
}
