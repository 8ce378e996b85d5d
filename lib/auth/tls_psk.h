/*
 * NVMe/TCP TLS pre-shared keys (NVMe TCP Transport Specification 1.0, section 3.6.1): the PSK
 * interchange format "NVMeTLSkey-1:<hh>:<base64 of key and CRC-32>:", the PSK identity
 * "NVMe0R0<hh> <hostnqn> <subnqn>", and the derivation configured PSK -> retained PSK -> TLS PSK
 * (HKDF with TLS 1.3's label encoding), as Linux's tlshd and SPDK do it.
 */
#ifndef NVFAB_AUTH_TLS_PSK_H
#define NVFAB_AUTH_TLS_PSK_H

#include <stddef.h>
#include <stdint.h>

#define TLS_PSK_MAX 48
#define TLS_PSK_IDENTITY_MAX (8 + 2 * 224 + 2)

struct tls_psk {
	uint8_t key[TLS_PSK_MAX];   /* the configured PSK */
	uint8_t len;                /* 32 (TLS_AES_128_GCM_SHA256) or 48 (TLS_AES_256_GCM_SHA384) */
	uint8_t hash;               /* hh: 0 = used as the retained PSK, 1 SHA-256, 2 SHA-384 */
};

/* Parses s. 0, or -EINVAL with *why. */
int tls_psk_parse(const char *s, struct tls_psk *out, const char **why);
/* The cipher suite the PSK is for, by its length (OpenSSL's TLS 1.3 name). */
const char *tls_psk_cipher(const struct tls_psk *psk);
/* "NVMe0R01 <hostnqn> <subnqn>" (02 for a 48-byte PSK); -ENAMETOOLONG if it does not fit. */
int tls_psk_identity(const struct tls_psk *psk, const char *hostnqn, const char *subnqn,
		     char *out, size_t len);
/* The TLS PSK both ends give the handshake: out gets psk->len bytes. */
int tls_psk_derive(const struct tls_psk *psk, const char *hostnqn, const char *identity,
		   uint8_t out[TLS_PSK_MAX]);
void tls_psk_clear(struct tls_psk *psk);

#endif
