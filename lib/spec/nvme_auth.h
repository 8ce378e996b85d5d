/*
 * In-band authentication (NVMe Base 2.0 section 8.13, TP 8006): the Authentication Send and
 * Receive fabrics commands and the DH-HMAC-CHAP messages they carry. Sizes and offsets are fixed
 * by the specification; the asserts keep them honest. Multi-byte fields are little-endian.
 */
#ifndef NVFAB_SPEC_NVME_AUTH_H
#define NVFAB_SPEC_NVME_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "spec/nvme_cmd.h"

/* Authentication Send (fctype 05h) and Receive (06h): SECP/SPSP name the protocol, TL/AL the
 * bytes that move. */
struct nvmf_auth_cmd {
	uint8_t opc;
	uint8_t rsvd1;
	uint16_t cid;
	uint8_t fctype;
	uint8_t rsvd2[19];
	struct nvme_sgl_desc sgl;
	uint8_t rsvd3;
	uint8_t spsp0;
	uint8_t spsp1;
	uint8_t secp;
	uint32_t len;       /* Send: Transfer Length; Receive: Allocation Length */
	uint8_t rsvd4[16];
} __attribute__((packed));
_Static_assert(sizeof(struct nvmf_auth_cmd) == 64, "Authentication Send/Receive is 64 bytes");
_Static_assert(offsetof(struct nvmf_auth_cmd, spsp0) == 41, "SPSP0 at byte 41");
_Static_assert(offsetof(struct nvmf_auth_cmd, spsp1) == 42, "SPSP1 at byte 42");
_Static_assert(offsetof(struct nvmf_auth_cmd, secp) == 43, "SECP at byte 43");
_Static_assert(offsetof(struct nvmf_auth_cmd, len) == 44, "TL/AL at byte 44");

#define NVMF_AUTH_SECP 0xe9         /* the security protocol assigned to NVMe */
#define NVMF_AUTH_SPSP 0x01         /* SPSP0 and SPSP1 for NVMe in-band authentication */

/* Connect response dw0 bits 17:16, AUTHREQ: authentication (and a secure channel) required. */
#define NVMF_CONNECT_AUTHREQ_ATR (1u << 17)
#define NVMF_CONNECT_AUTHREQ_ASCR (1u << 18)

/* Message types and identifiers (AUTH_TYPE, AUTH_ID). */
#define NVMF_AUTH_TYPE_COMMON 0x00
#define NVMF_AUTH_TYPE_DHCHAP 0x01
#define NVMF_AUTH_ID_NEGOTIATE 0x00
#define NVMF_AUTH_ID_CHALLENGE 0x01
#define NVMF_AUTH_ID_REPLY 0x02
#define NVMF_AUTH_ID_SUCCESS1 0x03
#define NVMF_AUTH_ID_SUCCESS2 0x04
#define NVMF_AUTH_ID_FAILURE2 0xf0
#define NVMF_AUTH_ID_FAILURE1 0xf1

/* Hash function and Diffie-Hellman group identifiers. */
#define NVMF_DHCHAP_HASH_SHA256 0x01
#define NVMF_DHCHAP_HASH_SHA384 0x02
#define NVMF_DHCHAP_HASH_SHA512 0x03
#define NVMF_DHCHAP_DHGROUP_NULL 0x00
#define NVMF_DHCHAP_DHGROUP_2048 0x01
#define NVMF_DHCHAP_DHGROUP_3072 0x02
#define NVMF_DHCHAP_DHGROUP_4096 0x03
#define NVMF_DHCHAP_DHGROUP_6144 0x04
#define NVMF_DHCHAP_DHGROUP_8192 0x05

/* Failure reason code and its explanations. */
#define NVMF_AUTH_FAILURE_RC 0x01
#define NVMF_AUTH_FAILED 0x01
#define NVMF_AUTH_PROTOCOL_UNUSABLE 0x02
#define NVMF_AUTH_SCC_MISMATCH 0x03
#define NVMF_AUTH_HASH_UNUSABLE 0x04
#define NVMF_AUTH_DHGROUP_UNUSABLE 0x05
#define NVMF_AUTH_INCORRECT_PAYLOAD 0x06
#define NVMF_AUTH_INCORRECT_MESSAGE 0x07

/* Secure channel concatenation (SC_C): only "none" is offered. */
#define NVMF_AUTH_SCC_NONE 0x00

struct nvmf_auth_header {
	uint8_t auth_type;
	uint8_t auth_id;
	uint8_t rsvd[2];
	uint16_t t_id;
} __attribute__((packed));
_Static_assert(sizeof(struct nvmf_auth_header) == 6, "AUTH message header is 6 bytes");

/* One protocol descriptor of AUTH_Negotiate: DH-HMAC-CHAP's (AUTHID 01h). */
struct nvmf_auth_descriptor {
	uint8_t auth_id;
	uint8_t rsvd;
	uint8_t halen;
	uint8_t dhlen;
	uint8_t hash_ids[30];
	uint8_t dhgroup_ids[30];
} __attribute__((packed));
_Static_assert(sizeof(struct nvmf_auth_descriptor) == 64, "protocol descriptor is 64 bytes");
_Static_assert(offsetof(struct nvmf_auth_descriptor, dhgroup_ids) == 34, "DH IDs at byte 34");

struct nvmf_auth_negotiate {
	struct nvmf_auth_header h;
	uint8_t sc_c;
	uint8_t napd;
	struct nvmf_auth_descriptor desc[];
} __attribute__((packed));
_Static_assert(sizeof(struct nvmf_auth_negotiate) == 8, "AUTH_Negotiate header is 8 bytes");

struct nvmf_dhchap_challenge {
	struct nvmf_auth_header h;
	uint8_t hl;
	uint8_t rsvd;
	uint8_t hash_id;
	uint8_t dhgroup_id;
	uint16_t dhvlen;
	uint32_t seqnum;
	uint8_t cval[];     /* hl bytes, then the controller's DH value (dhvlen bytes) */
} __attribute__((packed));
_Static_assert(sizeof(struct nvmf_dhchap_challenge) == 16, "Challenge header is 16 bytes");
_Static_assert(offsetof(struct nvmf_dhchap_challenge, seqnum) == 12, "SEQNUM at byte 12");

struct nvmf_dhchap_reply {
	struct nvmf_auth_header h;
	uint8_t hl;
	uint8_t rsvd1;
	uint8_t cvalid;
	uint8_t rsvd2;
	uint16_t dhvlen;
	uint32_t seqnum;
	uint8_t rval[];     /* response (hl), the host's challenge (hl), the host's DH value */
} __attribute__((packed));
_Static_assert(sizeof(struct nvmf_dhchap_reply) == 16, "Reply header is 16 bytes");
_Static_assert(offsetof(struct nvmf_dhchap_reply, cvalid) == 8, "CVALID at byte 8");

struct nvmf_dhchap_success1 {
	struct nvmf_auth_header h;
	uint8_t hl;
	uint8_t rsvd1;
	uint8_t rvalid;
	uint8_t rsvd2[7];
	uint8_t rval[];     /* the controller's response, when rvalid */
} __attribute__((packed));
_Static_assert(sizeof(struct nvmf_dhchap_success1) == 16, "Success1 header is 16 bytes");

struct nvmf_dhchap_success2 {
	struct nvmf_auth_header h;
	uint8_t rsvd[10];
} __attribute__((packed));
_Static_assert(sizeof(struct nvmf_dhchap_success2) == 16, "Success2 is 16 bytes");

struct nvmf_auth_failure {
	struct nvmf_auth_header h;
	uint8_t rescode;
	uint8_t rescode_exp;
} __attribute__((packed));
_Static_assert(sizeof(struct nvmf_auth_failure) == 8, "AUTH_Failure is 8 bytes");

#endif
