/* The interchange representation that DH-HMAC-CHAP secrets and NVMe/TCP TLS PSKs share:
 * "<PREFIX>:<hh>:<base64 of the key and its CRC-32 (little-endian)>:" (internal to lib/auth). */
#ifndef NVFAB_AUTH_KEY_INTERCHANGE_H
#define NVFAB_AUTH_KEY_INTERCHANGE_H

#include <stddef.h>
#include <stdint.h>

#define KEY_INTERCHANGE_MAX 64      /* bytes of key */

/*
 * Parses s ("DHHC-1" or "NVMeTLSkey-1" as prefix; trailing whitespace allowed): the hash field
 * (at most max_hash) into *hash, the key (after its CRC-32 is checked) into key, its length
 * into *len. Returns 0, or -EINVAL with *why saying what is wrong; what says what the key is
 * ("secret", "PSK") in those messages.
 */
int key_interchange_parse(const char *s, const char *prefix, const char *what, unsigned max_hash,
			  uint8_t key[KEY_INTERCHANGE_MAX], size_t *len, unsigned *hash,
			  const char **why);

#endif
