/* Decoding of the "<PREFIX>:<hh>:<base64>:" key representation (see key_interchange.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <isa-l/crc.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth/key_interchange.h"

int key_interchange_parse(const char *s, const char *prefix, const char *what, unsigned max_hash,
			  uint8_t key[KEY_INTERCHANGE_MAX], size_t *len, unsigned *hash,
			  const char **why)
{
	static _Thread_local char msg[160];
	/* 64 bytes of key + 4 of CRC are 92 base64 characters; leave room for padding. */
	unsigned char raw[96];
	char b64[128];
	size_t n, pad = 0, plen = strlen(prefix);
	const char *p, *end;
	int decoded;
	uint32_t crc;

#define FAIL(...) do { snprintf(msg, sizeof(msg), __VA_ARGS__); *why = msg; goto fail; } while (0)
	if (strncmp(s, prefix, plen) != 0 || s[plen] != ':')
		FAIL("a %s starts with \"%s:\"", what, prefix);
	p = s + plen + 1;
	if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) || p[2] != ':' ||
	    sscanf(p, "%2x", hash) != 1)
		FAIL("the %s's hash field (after \"%s:\") is not two hex digits and ':'", what, prefix);
	if (*hash > max_hash)
		FAIL("the %s's hash field %02x is not one of 00..%02x", what, *hash, max_hash);
	p += 3;
	end = strchr(p, ':');
	if (!end)
		FAIL("the %s does not end with ':'", what);
	for (const char *t = end + 1; *t; t++)
		if (!isspace((unsigned char)*t))
			FAIL("characters after the %s's closing ':'", what);
	n = (size_t)(end - p);
	if (n == 0 || n % 4 != 0 || n >= sizeof(b64))
		FAIL("the %s's base64 part has a bad length", what);
	memcpy(b64, p, n);
	b64[n] = '\0';
	if (b64[n - 1] == '=')
		pad = b64[n - 2] == '=' ? 2 : 1;
	decoded = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
	if (decoded < 0)
		FAIL("the %s's base64 part does not decode", what);
	decoded -= (int)pad + 4;
	if (decoded != 32 && decoded != 48 && decoded != 64)
		FAIL("the %s's key is not 32, 48 or 64 bytes", what);
	crc = (uint32_t)raw[decoded] | (uint32_t)raw[decoded + 1] << 8 |
	      (uint32_t)raw[decoded + 2] << 16 | (uint32_t)raw[decoded + 3] << 24;
	if (crc32_gzip_refl(0, raw, (uint64_t)decoded) != crc)
		FAIL("the %s's CRC-32 does not match its key (mistyped?)", what);
#undef FAIL
	memcpy(key, raw, (size_t)decoded);
	*len = (size_t)decoded;
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(b64, sizeof(b64));
	return 0;
fail:
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(b64, sizeof(b64));
	return -EINVAL;
}
