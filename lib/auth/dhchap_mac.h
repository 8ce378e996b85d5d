/* HMAC over several pieces, with errors checked once at the end (internal to lib/auth). */
#ifndef NVFAB_AUTH_DHCHAP_MAC_H
#define NVFAB_AUTH_DHCHAP_MAC_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

struct dhchap_mac {
	EVP_MAC_CTX *ctx;
	int err;
};

/* HMAC with the hash of hash_id, keyed with key. */
int dhchap_mac_init(struct dhchap_mac *m, uint8_t hash_id, const void *key, size_t key_len);
void dhchap_mac_update(struct dhchap_mac *m, const void *data, size_t len);
/* Writes the digest (at most out_len bytes), frees the context; returns its length or -errno. */
int dhchap_mac_final(struct dhchap_mac *m, uint8_t *out, size_t out_len);

#endif
