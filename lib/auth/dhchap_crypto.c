/* The arithmetic of DH-HMAC-CHAP: hash and group tables, HMAC, the response to a challenge, and
 * ephemeral finite-field Diffie-Hellman (RFC 7919 groups), all through OpenSSL 3. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/dh.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include "auth/dhchap.h"
#include "auth/dhchap_mac.h"

static const struct {
	const char *name;
	unsigned len;
} g_hashes[] = {
	[NVMF_DHCHAP_HASH_SHA256] = {"sha256", 32},
	[NVMF_DHCHAP_HASH_SHA384] = {"sha384", 48},
	[NVMF_DHCHAP_HASH_SHA512] = {"sha512", 64},
};

static const struct {
	const char *name;
	int len;
} g_groups[] = {
	[NVMF_DHCHAP_DHGROUP_NULL] = {"null", 0},
	[NVMF_DHCHAP_DHGROUP_2048] = {"ffdhe2048", 256},
	[NVMF_DHCHAP_DHGROUP_3072] = {"ffdhe3072", 384},
	[NVMF_DHCHAP_DHGROUP_4096] = {"ffdhe4096", 512},
	[NVMF_DHCHAP_DHGROUP_6144] = {"ffdhe6144", 768},
	[NVMF_DHCHAP_DHGROUP_8192] = {"ffdhe8192", 1024},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

unsigned dhchap_hash_len(uint8_t id)
{
	return id < COUNT(g_hashes) && g_hashes[id].name ? g_hashes[id].len : 0;
}

const char *dhchap_hash_name(uint8_t id)
{
	return id < COUNT(g_hashes) ? g_hashes[id].name : NULL;
}

int dhchap_dhgroup_len(uint8_t id)
{
	return id < COUNT(g_groups) ? g_groups[id].len : -1;
}

const char *dhchap_dhgroup_name(uint8_t id)
{
	return id < COUNT(g_groups) ? g_groups[id].name : NULL;
}

int dhchap_hash_id(const char *name)
{
	for (unsigned i = 0; i < COUNT(g_hashes); i++)
		if (g_hashes[i].name && strcmp(g_hashes[i].name, name) == 0)
			return (int)i;
	return -1;
}

int dhchap_dhgroup_id(const char *name)
{
	for (unsigned i = 0; i < COUNT(g_groups); i++)
		if (strcmp(g_groups[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* ---- HMAC ---- */

int dhchap_mac_init(struct dhchap_mac *m, uint8_t hash_id, const void *key, size_t key_len)
{
	OSSL_PARAM params[2];
	EVP_MAC *mac;

	m->ctx = NULL;
	m->err = 0;
	if (!dhchap_hash_len(hash_id))
		return -EINVAL;
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!mac)
		return -ENOTSUP;
	m->ctx = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac);
	if (!m->ctx)
		return -ENOMEM;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)dhchap_hash_name(hash_id), 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_init(m->ctx, key, key_len, params) != 1) {
		EVP_MAC_CTX_free(m->ctx);
		m->ctx = NULL;
		return -EIO;
	}
	return 0;
}

void dhchap_mac_update(struct dhchap_mac *m, const void *data, size_t len)
{
	if (!m->err && len && EVP_MAC_update(m->ctx, data, len) != 1)
		m->err = -EIO;
}

int dhchap_mac_final(struct dhchap_mac *m, uint8_t *out, size_t out_len)
{
	size_t len = 0;
	int rc = m->err;

	if (!rc && EVP_MAC_final(m->ctx, out, &len, out_len) != 1)
		rc = -EIO;
	EVP_MAC_CTX_free(m->ctx);
	m->ctx = NULL;
	return rc ? rc : (int)len;
}

/* C' = HMAC(H(dh_secret), C): the challenge bound to the Diffie-Hellman exchange. */
static int augment_challenge(uint8_t hash_id, const uint8_t *dh_secret, size_t dh_len,
			     const uint8_t *challenge, uint8_t *out)
{
	uint8_t hashed[DHCHAP_HASH_MAX];
	unsigned hashed_len = sizeof(hashed);
	unsigned hl = dhchap_hash_len(hash_id);
	struct dhchap_mac mac;
	int rc;

	if (EVP_Digest(dh_secret, dh_len, hashed, &hashed_len,
		       EVP_get_digestbyname(dhchap_hash_name(hash_id)), NULL) != 1)
		return -EIO;
	rc = dhchap_mac_init(&mac, hash_id, hashed, hashed_len);
	OPENSSL_cleanse(hashed, sizeof(hashed));
	if (rc)
		return rc;
	dhchap_mac_update(&mac, challenge, hl);
	rc = dhchap_mac_final(&mac, out, DHCHAP_HASH_MAX);
	return rc < 0 ? rc : 0;
}

int dhchap_response(const struct dhchap_secret *secret, uint8_t hash_id, const char *role,
		    uint32_t seqnum, uint16_t t_id, uint8_t sc_c, const char *nqn1,
		    const char *nqn2, const uint8_t *dh_secret, size_t dh_len,
		    const uint8_t *challenge, uint8_t *out)
{
	uint8_t key[DHCHAP_KEY_MAX], augmented[DHCHAP_HASH_MAX];
	unsigned hl = dhchap_hash_len(hash_id);
	uint8_t le[4], zero = 0;
	struct dhchap_mac mac;
	int key_len, rc;

	if (!hl)
		return -EINVAL;
	if (dh_len) {
		rc = augment_challenge(hash_id, dh_secret, dh_len, challenge, augmented);
		if (rc)
			return rc;
		challenge = augmented;
	}
	key_len = dhchap_secret_key(secret, nqn1, key);
	if (key_len < 0)
		return key_len;
	rc = dhchap_mac_init(&mac, hash_id, key, (size_t)key_len);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc)
		return rc;
	dhchap_mac_update(&mac, challenge, hl);
	le[0] = (uint8_t)seqnum;
	le[1] = (uint8_t)(seqnum >> 8);
	le[2] = (uint8_t)(seqnum >> 16);
	le[3] = (uint8_t)(seqnum >> 24);
	dhchap_mac_update(&mac, le, 4);
	le[0] = (uint8_t)t_id;
	le[1] = (uint8_t)(t_id >> 8);
	dhchap_mac_update(&mac, le, 2);
	dhchap_mac_update(&mac, &sc_c, 1);
	dhchap_mac_update(&mac, role, strlen(role));
	dhchap_mac_update(&mac, nqn1, strlen(nqn1));
	dhchap_mac_update(&mac, &zero, 1);
	dhchap_mac_update(&mac, nqn2, strlen(nqn2));
	rc = dhchap_mac_final(&mac, out, DHCHAP_HASH_MAX);
	OPENSSL_cleanse(augmented, sizeof(augmented));
	return rc < 0 ? rc : 0;
}

/* ---- Diffie-Hellman ---- */

struct dhchap_dh {
	EVP_PKEY *key;
	uint8_t group_id;
};

int dhchap_dh_generate(uint8_t group_id, struct dhchap_dh **out)
{
	OSSL_PARAM params[2];
	EVP_PKEY_CTX *ctx;
	struct dhchap_dh *dh;
	int rc = -EIO;

	if (dhchap_dhgroup_len(group_id) <= 0)
		return -EINVAL;
	dh = calloc(1, sizeof(*dh));
	if (!dh)
		return -ENOMEM;
	dh->group_id = group_id;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
	if (!ctx)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
						     (char *)dhchap_dhgroup_name(group_id), 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_CTX_set_params(ctx, params) == 1 &&
	    EVP_PKEY_generate(ctx, &dh->key) == 1)
		rc = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	if (rc) {
		free(dh);
		return rc;
	}
	*out = dh;
	return 0;
}

int dhchap_dh_public(const struct dhchap_dh *dh, uint8_t *out, size_t len)
{
	BIGNUM *pub = NULL;
	int rc = -EIO;

	if ((int)len != dhchap_dhgroup_len(dh->group_id))
		return -EINVAL;
	if (EVP_PKEY_get_bn_param(dh->key, OSSL_PKEY_PARAM_PUB_KEY, &pub) == 1 &&
	    BN_bn2binpad(pub, out, (int)len) == (int)len)
		rc = 0;
	BN_free(pub);
	return rc;
}

static EVP_PKEY *peer_key(uint8_t group_id, const uint8_t *value, size_t len)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	BIGNUM *pub = BN_bin2bn(value, (int)len, NULL);

	if (!bld || !pub ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					    dhchap_dhgroup_name(group_id), 0) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PUB_KEY, pub) != 1)
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
		key = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(pub);
	return key;
}

int dhchap_dh_derive(const struct dhchap_dh *dh, const uint8_t *peer, size_t peer_len,
		     uint8_t *out, size_t len)
{
	int group_len = dhchap_dhgroup_len(dh->group_id);
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey;
	size_t got = len;
	int rc = -EINVAL;

	if ((int)peer_len != group_len || (int)len != group_len)
		return -EINVAL;
	pkey = peer_key(dh->group_id, peer, peer_len);
	if (!pkey)
		return -EINVAL;
	ctx = EVP_PKEY_CTX_new(dh->key, NULL);
	/* The peer's value is checked (1 < y < p-1, in the group) before use: a value of 1 or
	 * p-1 would force a known secret. */
	if (ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_CTX_set_dh_pad(ctx, 1) == 1 &&
	    EVP_PKEY_derive_set_peer_ex(ctx, pkey, 1) == 1 &&
	    EVP_PKEY_derive(ctx, out, &got) == 1 && got == len)
		rc = 0;
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return rc;
}

void dhchap_dh_free(struct dhchap_dh *dh)
{
	if (!dh)
		return;
	EVP_PKEY_free(dh->key);
	free(dh);
}

int dhchap_random(void *buf, size_t len)
{
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -EIO;
}

bool dhchap_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}
