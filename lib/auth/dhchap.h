/*
 * DH-HMAC-CHAP (NVMe Base 2.0 section 8.13.5): secrets, the arithmetic both sides do, and the
 * two ends of the exchange as state machines over message buffers, so that the transports only
 * move bytes (Authentication Send/Receive) and the fuzzer can drive them without a network.
 * Hashes, HMAC, Diffie-Hellman and randomness come from OpenSSL 3.
 */
#ifndef NVFAB_AUTH_DHCHAP_H
#define NVFAB_AUTH_DHCHAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spec/nvme_auth.h"

#define DHCHAP_KEY_MAX 64           /* bytes of secret (SHA-512 sized) */
#define DHCHAP_HASH_MAX 64          /* bytes of the largest digest */
#define DHCHAP_DH_MAX 1024          /* bytes of an ffdhe8192 public value */
#define DHCHAP_NQN_MAX 223
/* The largest message: a Reply with a controller challenge and an ffdhe8192 value. */
#define DHCHAP_MSG_MAX (sizeof(struct nvmf_dhchap_reply) + 2 * DHCHAP_HASH_MAX + DHCHAP_DH_MAX)
#define DHCHAP_ALL_HASHES 0x0e      /* bit per hash ID: SHA-256, -384, -512 */
#define DHCHAP_ALL_DHGROUPS 0x3f    /* bit per group ID: null, ffdhe2048..8192 */

/* ---- secrets (dhchap_secret.c) ---- */

/* A secret in the representation "DHHC-1:<hh>:<base64 of key and its CRC-32>:", where <hh> says
 * which hash transforms it with the owner's NQN before use (00: none). */
struct dhchap_secret {
	uint8_t key[DHCHAP_KEY_MAX];
	uint8_t len;                /* 32, 48 or 64 */
	uint8_t transform;          /* hash ID, or 0 */
};

/* Parses s (trailing whitespace allowed). Returns 0, or -EINVAL with *why saying what is wrong. */
int dhchap_secret_parse(const char *s, struct dhchap_secret *out, const char **why);
/* The secret as HMAC key: transformed with nqn (the NQN of the secret's owner) when asked for.
 * Returns the key length or -errno. */
int dhchap_secret_key(const struct dhchap_secret *s, const char *nqn, uint8_t out[DHCHAP_KEY_MAX]);
/* Overwrites the secret. */
void dhchap_secret_clear(struct dhchap_secret *s);

/* ---- arithmetic (dhchap_crypto.c) ---- */

/* Digest length of a hash ID, 0 if unknown. */
unsigned dhchap_hash_len(uint8_t hash_id);
const char *dhchap_hash_name(uint8_t hash_id);      /* "sha256"... or NULL */
/* Bytes of a DH group's public values; 0 for the null group, -1 if unknown. */
int dhchap_dhgroup_len(uint8_t group_id);
const char *dhchap_dhgroup_name(uint8_t group_id);  /* "null", "ffdhe2048"... or NULL */
/* Name -> ID, -1 if unknown ("sha256"; "null", "ffdhe2048"). */
int dhchap_hash_id(const char *name);
int dhchap_dhgroup_id(const char *name);

/*
 * The response to a challenge: HMAC(key, C' || SEQNUM || T_ID || SC_C || role || nqn1 || 00h ||
 * nqn2), where C' is the challenge, augmented with the DH secret when there is one:
 * HMAC(H(dh_secret), C). role is "HostHost" for the host's response (nqn1 = host NQN) and
 * "Controller" for the controller's (nqn1 = subsystem NQN). out gets dhchap_hash_len() bytes.
 */
int dhchap_response(const struct dhchap_secret *secret, uint8_t hash_id, const char *role,
		    uint32_t seqnum, uint16_t t_id, uint8_t sc_c, const char *nqn1,
		    const char *nqn2, const uint8_t *dh_secret, size_t dh_len,
		    const uint8_t *challenge, uint8_t *out);

/* An ephemeral Diffie-Hellman key of one ffdhe group. */
struct dhchap_dh;
int dhchap_dh_generate(uint8_t group_id, struct dhchap_dh **out);
/* The public value, big-endian, padded to the group's length (len must be that). */
int dhchap_dh_public(const struct dhchap_dh *dh, uint8_t *out, size_t len);
/* The shared secret with the peer's public value, padded to the group's length. -EINVAL when the
 * peer's value is not a valid public value of the group. */
int dhchap_dh_derive(const struct dhchap_dh *dh, const uint8_t *peer, size_t peer_len,
		     uint8_t *out, size_t len);
void dhchap_dh_free(struct dhchap_dh *dh);

int dhchap_random(void *buf, size_t len);
/* Compares in time independent of where they differ. */
bool dhchap_equal(const void *a, const void *b, size_t len);

/* ---- the controller's side (dhchap_ctrl.c) ---- */

enum dhchap_ctrl_state {
	DHCHAP_CTRL_NEGOTIATE,      /* waiting for AUTH_Negotiate */
	DHCHAP_CTRL_CHALLENGE,      /* next AUTH_Receive returns the Challenge */
	DHCHAP_CTRL_REPLY,          /* waiting for the Reply */
	DHCHAP_CTRL_SUCCESS1,       /* next AUTH_Receive returns Success1 */
	DHCHAP_CTRL_SUCCESS2,       /* waiting for Success2 (bidirectional) */
	DHCHAP_CTRL_FAILURE1,       /* next AUTH_Receive returns Failure1, then close */
	DHCHAP_CTRL_DONE,           /* authenticated */
	DHCHAP_CTRL_FAILED,         /* over, unsuccessfully: close the queue */
};

/* What the controller knows about the host it authenticates; fixed for the exchange. */
struct dhchap_ctrl_config {
	const struct dhchap_secret *host_key;   /* NULL: the host cannot succeed */
	const struct dhchap_secret *ctrl_key;   /* NULL: no bidirectional authentication */
	uint32_t hashes;            /* allowed hash IDs (bit per ID) */
	uint32_t dhgroups;          /* allowed DH group IDs */
	const char *hostnqn;
	const char *subnqn;
};

struct dhchap_ctrl {
	enum dhchap_ctrl_state state;
	const struct dhchap_ctrl_config *cfg;
	uint16_t t_id;
	uint8_t hash_id, dhgroup_id, hl;
	uint8_t fail_reason;        /* for Failure1 */
	bool bidirectional;         /* the host sent a challenge */
	uint32_t s1;
	uint8_t c1[DHCHAP_HASH_MAX];
	uint8_t ctrl_response[DHCHAP_HASH_MAX];
	struct dhchap_dh *dh;
	bool authenticated;         /* some exchange on this queue succeeded */
};

void dhchap_ctrl_init(struct dhchap_ctrl *c, const struct dhchap_ctrl_config *cfg);
void dhchap_ctrl_fini(struct dhchap_ctrl *c);
/* An AUTH_Send's payload. The command itself succeeds (a bad message is answered with Failure1
 * at the next AUTH_Receive, or ends the exchange when it is Failure2). */
void dhchap_ctrl_send(struct dhchap_ctrl *c, const void *msg, size_t len);
/* Fills an AUTH_Receive buffer of al bytes; returns the message length, or -EINVAL when al is
 * too small for it (the command then fails with Invalid Field, the state stays). */
int dhchap_ctrl_receive(struct dhchap_ctrl *c, void *buf, size_t al);
const char *dhchap_reason_str(uint8_t reason);
/* An AUTH_Failure1 (controller) or AUTH_Failure2 (host) message into buf; its length, or -EINVAL
 * when len is too small. */
int dhchap_put_failure(void *buf, size_t len, uint8_t auth_id, uint16_t t_id, uint8_t reason);

/* ---- the host's side (dhchap_host.c) ---- */

struct dhchap_host_config {
	const struct dhchap_secret *host_key;   /* required */
	const struct dhchap_secret *ctrl_key;   /* NULL: do not authenticate the controller */
	uint32_t hashes, dhgroups;  /* offered */
	const char *hostnqn;
	const char *subnqn;
};

struct dhchap_host {
	const struct dhchap_host_config *cfg;
	uint16_t t_id;
	uint8_t hash_id, hl;
	uint8_t expected[DHCHAP_HASH_MAX];      /* the controller's response we expect */
	uint8_t fail_reason;        /* what went wrong, for Failure2 and the log */
	char why[160];
};

void dhchap_host_init(struct dhchap_host *h, const struct dhchap_host_config *cfg, uint16_t t_id);
/* Each returns the length of the message to send next (AUTH_Send) in out, 0 when there is
 * nothing more to send, or -EACCES: then h->why says why and, when h->fail_reason is not 0, a
 * Failure2 built by dhchap_host_failure2() should be sent before giving up. */
int dhchap_host_negotiate(struct dhchap_host *h, void *out, size_t len);
int dhchap_host_on_challenge(struct dhchap_host *h, const void *msg, size_t msg_len, void *out,
			     size_t len);
int dhchap_host_on_success1(struct dhchap_host *h, const void *msg, size_t msg_len, void *out,
			    size_t len);
int dhchap_host_failure2(struct dhchap_host *h, void *out, size_t len);

#endif
