/* DH-HMAC-CHAP secrets in their interchange representation, and the transformation that binds a
 * secret to its owner's NQN. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <isa-l/crc.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth/dhchap.h"
#include "auth/dhchap_mac.h"

#define SECRET_PREFIX "DHHC-1:"
#define TRANSFORM_LABEL "NVMe-over-Fabrics"

int dhchap_secret_parse(const char *s, struct dhchap_secret *out, const char **why)
{
	/* 64 bytes of key + 4 of CRC are 92 base64 characters; leave room for padding. */
	unsigned char raw[96];
	char b64[128];
	const char *p, *end;
	size_t n, pad = 0;
	unsigned transform;
	int decoded;
	uint32_t crc;

	memset(out, 0, sizeof(*out));
	if (strncmp(s, SECRET_PREFIX, strlen(SECRET_PREFIX)) != 0) {
		*why = "a DH-HMAC-CHAP secret starts with \"DHHC-1:\"";
		return -EINVAL;
	}
	p = s + strlen(SECRET_PREFIX);
	if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) || p[2] != ':' ||
	    sscanf(p, "%2x", &transform) != 1) {
		*why = "the secret's hash field (after \"DHHC-1:\") is not two hex digits and ':'";
		return -EINVAL;
	}
	if (transform > NVMF_DHCHAP_HASH_SHA512) {
		*why = "the secret's hash field is not 00 (none), 01 (SHA-256), 02 (SHA-384) or 03 (SHA-512)";
		return -EINVAL;
	}
	p += 3;
	end = strchr(p, ':');
	if (!end) {
		*why = "the secret does not end with ':'";
		return -EINVAL;
	}
	for (const char *t = end + 1; *t; t++) {
		if (!isspace((unsigned char)*t)) {
			*why = "characters after the secret's closing ':'";
			return -EINVAL;
		}
	}
	n = (size_t)(end - p);
	if (n == 0 || n % 4 != 0 || n >= sizeof(b64)) {
		*why = "the secret's base64 part has a bad length (a 32, 48 or 64-byte key)";
		return -EINVAL;
	}
	memcpy(b64, p, n);
	b64[n] = '\0';
	if (b64[n - 1] == '=')
		pad = b64[n - 2] == '=' ? 2 : 1;
	decoded = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
	if (decoded < 0) {
		*why = "the secret's base64 part does not decode";
		return -EINVAL;
	}
	decoded -= (int)pad;
	if (decoded != 36 && decoded != 52 && decoded != 68) {
		*why = "the secret's key is not 32, 48 or 64 bytes";
		OPENSSL_cleanse(raw, sizeof(raw));
		return -EINVAL;
	}
	decoded -= 4;
	crc = (uint32_t)raw[decoded] | (uint32_t)raw[decoded + 1] << 8 |
	      (uint32_t)raw[decoded + 2] << 16 | (uint32_t)raw[decoded + 3] << 24;
	if (crc32_gzip_refl(0, raw, (uint64_t)decoded) != crc) {
		*why = "the secret's CRC-32 does not match its key (mistyped?)";
		OPENSSL_cleanse(raw, sizeof(raw));
		return -EINVAL;
	}
	memcpy(out->key, raw, (size_t)decoded);
	out->len = (uint8_t)decoded;
	out->transform = (uint8_t)transform;
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(b64, sizeof(b64));
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
