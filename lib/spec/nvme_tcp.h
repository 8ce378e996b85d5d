/*
 * NVMe/TCP PDUs (NVMe TCP Transport Specification 1.0). Every PDU starts with the 8-byte common
 * header; hlen covers the PDU-specific header; an optional 4-byte header digest follows it; pdo
 * is where data starts (after padding chosen by the receiver's CPDA/HPDA); plen covers all.
 */
#ifndef NVFAB_SPEC_NVME_TCP_H
#define NVFAB_SPEC_NVME_TCP_H

#include <stddef.h>
#include <stdint.h>

#include "spec/nvme_cmd.h"

enum nvme_tcp_pdu_type {
	NVME_TCP_PDU_ICREQ = 0x00,
	NVME_TCP_PDU_ICRESP = 0x01,
	NVME_TCP_PDU_H2C_TERM_REQ = 0x02,
	NVME_TCP_PDU_C2H_TERM_REQ = 0x03,
	NVME_TCP_PDU_CAPSULE_CMD = 0x04,
	NVME_TCP_PDU_CAPSULE_RESP = 0x05,
	NVME_TCP_PDU_H2C_DATA = 0x06,
	NVME_TCP_PDU_C2H_DATA = 0x07,
	NVME_TCP_PDU_R2T = 0x09,
};

#define NVME_TCP_F_HDGST 0x01
#define NVME_TCP_F_DDGST 0x02
#define NVME_TCP_F_DATA_LAST 0x04 /* H2CData, C2HData */
#define NVME_TCP_F_DATA_SUCCESS 0x08 /* C2HData: no CapsuleResp follows */

#define NVME_TCP_DIGEST_LEN 4
#define NVME_TCP_PFV_1_0 0
#define NVME_TCP_ICREQ_DGST_HDGST 0x01
#define NVME_TCP_ICREQ_DGST_DDGST 0x02
#define NVME_TCP_CPDA_MAX 31
#define NVME_TCP_HPDA_MAX 31
/* A termination request carries at most this much of the offending PDU's header. */
#define NVME_TCP_TERM_REQ_DATA_MAX 152

/* Fatal error status of a termination request. */
enum nvme_tcp_fes {
	NVME_TCP_FES_INVALID_HEADER = 0x01,
	NVME_TCP_FES_PDU_SEQUENCE = 0x02,
	NVME_TCP_FES_HDGST_ERROR = 0x03,
	NVME_TCP_FES_DATA_OUT_OF_RANGE = 0x04,
	NVME_TCP_FES_DATA_LIMIT_EXCEEDED = 0x05,
	NVME_TCP_FES_UNSUPPORTED_PARAM = 0x06,
};

struct nvme_tcp_common_hdr {
	uint8_t type;
	uint8_t flags;
	uint8_t hlen;
	uint8_t pdo;
	uint32_t plen;
} __attribute__((packed));
_Static_assert(sizeof(struct nvme_tcp_common_hdr) == 8, "common header is 8 bytes");

struct nvme_tcp_icreq {
	struct nvme_tcp_common_hdr ch;
	uint16_t pfv;
	uint8_t hpda;
	uint8_t dgst;
	uint32_t maxr2t;    /* 0's based */
	uint8_t rsvd[112];
} __attribute__((packed));
_Static_assert(sizeof(struct nvme_tcp_icreq) == 128, "ICReq is 128 bytes");
_Static_assert(offsetof(struct nvme_tcp_icreq, maxr2t) == 12, "MAXR2T at byte 12");

struct nvme_tcp_icresp {
	struct nvme_tcp_common_hdr ch;
	uint16_t pfv;
	uint8_t cpda;
	uint8_t dgst;
	uint32_t maxh2cdata;
	uint8_t rsvd[112];
} __attribute__((packed));
_Static_assert(sizeof(struct nvme_tcp_icresp) == 128, "ICResp is 128 bytes");
_Static_assert(offsetof(struct nvme_tcp_icresp, maxh2cdata) == 12, "MAXH2CDATA at byte 12");

struct nvme_tcp_term_req {
	struct nvme_tcp_common_hdr ch;
	uint16_t fes;
	uint32_t fei;
	uint8_t rsvd[10];
} __attribute__((packed));
_Static_assert(sizeof(struct nvme_tcp_term_req) == 24, "TermReq header is 24 bytes");
_Static_assert(offsetof(struct nvme_tcp_term_req, fei) == 10, "FEI at byte 10");

struct nvme_tcp_cmd {
	struct nvme_tcp_common_hdr ch;
	struct nvme_sqe sqe;
} __attribute__((packed));
_Static_assert(sizeof(struct nvme_tcp_cmd) == 72, "CapsuleCmd header is 72 bytes");

struct nvme_tcp_rsp {
	struct nvme_tcp_common_hdr ch;
	struct nvme_cqe cqe;
} __attribute__((packed));
_Static_assert(sizeof(struct nvme_tcp_rsp) == 24, "CapsuleResp header is 24 bytes");

/* H2CData and C2HData share one layout (ttag is reserved in C2HData). */
struct nvme_tcp_data_hdr {
	struct nvme_tcp_common_hdr ch;
	uint16_t cccid;
	uint16_t ttag;
	uint32_t datao;
	uint32_t datal;
	uint8_t rsvd[4];
} __attribute__((packed));
_Static_assert(sizeof(struct nvme_tcp_data_hdr) == 24, "data PDU header is 24 bytes");
_Static_assert(offsetof(struct nvme_tcp_data_hdr, datao) == 12, "DATAO at byte 12");

struct nvme_tcp_r2t {
	struct nvme_tcp_common_hdr ch;
	uint16_t cccid;
	uint16_t ttag;
	uint32_t r2to;
	uint32_t r2tl;
	uint8_t rsvd[4];
} __attribute__((packed));
_Static_assert(sizeof(struct nvme_tcp_r2t) == 24, "R2T is 24 bytes");
_Static_assert(offsetof(struct nvme_tcp_r2t, r2tl) == 16, "R2TL at byte 16");

/* Largest PDU header nvfab accepts: ICReq/ICResp, plus a header digest. */
#define NVME_TCP_MAX_HDR_LEN (128 + NVME_TCP_DIGEST_LEN)

#endif
