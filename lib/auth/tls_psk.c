/* NVMe/TCP TLS PSKs: interchange format, identity and derivation (see tls_psk.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "auth/key_interchange.h"
#include "auth/tls_psk.h"

int tls_psk_parse(const char *s, struct tls_psk *out, const char **why)
{
	uint8_t key[KEY_INTERCHANGE_MAX];
	unsigned hash;
	size_t len;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = key_interchange_parse(s, "NVMeTLSkey-1", "TLS PSK", 2, key, &len, &hash, why);
	if (!rc && len != 32 && len != 48) {
		*why = "a TLS PSK is 32 bytes (TLS_AES_128_GCM_SHA256) or 48 (TLS_AES_256_GCM_SHA384)";
		rc = -EINVAL;
	} else if (!rc && hash && len != (hash == 1 ? 32u : 48u)) {
		*why = "the TLS PSK's length does not match its hash field (01: 32 bytes, 02: 48)";
		rc = -EINVAL;
	}
	if (!rc) {
		memcpy(out->key, key, len);
		out->len = (uint8_t)len;
		out->hash = (uint8_t)hash;
	}
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

const char *tls_psk_cipher(const struct tls_psk *psk)
{
	return psk->len == 48 ? "TLS_AES_256_GCM_SHA384" : "TLS_AES_128_GCM_SHA256";
}

int tls_psk_identity(const struct tls_psk *psk, const char *hostnqn, const char *subnqn,
		     char *out, size_t len)
{
	int n = snprintf(out, len, "NVMe0R0%d %s %s", psk->len == 48 ? 2 : 1, hostnqn, subnqn);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/*
 * HKDF-Extract (empty salt) and HKDF-Expand with TLS 1.3's HkdfLabel as info: uint16 length,
 * then "tls13 " + label and the context, each with a one-byte length.
 */
static int hkdf_label(const char *digest, const uint8_t *key, size_t key_len, const char *label,
		      const char *context, uint8_t *out, size_t out_len)
{
	uint8_t info[2 + 1 + 32 + 1 + 255];
	size_t llen = strlen("tls13 ") + strlen(label), clen = strlen(context), pos = 0;
	OSSL_PARAM params[5], *p = params;
	EVP_KDF_CTX *ctx;
	EVP_KDF *kdf;
	int rc = -EIO;

	if (llen > 32 || clen > 255)
		return -ENAMETOOLONG;
	info[pos++] = (uint8_t)(out_len >> 8);
	info[pos++] = (uint8_t)out_len;
	info[pos++] = (uint8_t)llen;
	memcpy(info + pos, "tls13 ", 6);
	memcpy(info + pos + 6, label, llen - 6);
	pos += llen;
	info[pos++] = (uint8_t)clen;
	memcpy(info + pos, context, clen);
	pos += clen;
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	EVP_KDF_free(kdf);
	if (!ctx)
		return -ENOTSUP;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)digest, 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, key_len);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)"", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, pos);
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, out_len, params) == 1)
		rc = 0;
	EVP_KDF_CTX_free(ctx);
	return rc;
}

int tls_psk_derive(const struct tls_psk *psk, const char *hostnqn, const char *identity,
		   uint8_t out[TLS_PSK_MAX])
{
	uint8_t retained[TLS_PSK_MAX];
	const char *cipher_digest = psk->len == 48 ? "SHA384" : "SHA256";
	int rc = 0;

	/* The retained PSK: the configured one bound to the host (hash 00: used as it is). */
	if (psk->hash)
		rc = hkdf_label(psk->hash == 2 ? "SHA384" : "SHA256", psk->key, psk->len, "HostNQN",
				hostnqn, retained, psk->len);
	else
		memcpy(retained, psk->key, psk->len);
	/* The TLS PSK: bound to the identity, with the hash of the cipher suite. */
	if (!rc)
		rc = hkdf_label(cipher_digest, retained, psk->len, "nvme-tls-psk", identity, out,
				psk->len);
	OPENSSL_cleanse(retained, sizeof(retained));
	return rc;
}

void tls_psk_clear(struct tls_psk *psk)
{
	OPENSSL_cleanse(psk, sizeof(*psk));
}
