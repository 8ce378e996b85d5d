/*
 * NVMe/TCP PDU validation and construction, shared by the host and the target so that both
 * read the spec the same way. tcp_pdu_validate() is the one place where a received header is
 * judged; nothing downstream looks at a field it has not checked.
 */
#ifndef NVFAB_TCP_PDU_H
#define NVFAB_TCP_PDU_H

#include <stdbool.h>
#include <stdint.h>

#include "spec/nvme_tcp.h"

union tcp_pdu_hdr {
	struct nvme_tcp_common_hdr ch;
	struct nvme_tcp_icreq icreq;
	struct nvme_tcp_icresp icresp;
	struct nvme_tcp_term_req term;
	struct nvme_tcp_cmd cmd;
	struct nvme_tcp_rsp rsp;
	struct nvme_tcp_data_hdr data;
	struct nvme_tcp_r2t r2t;
	uint8_t raw[NVME_TCP_MAX_HDR_LEN];
};

enum tcp_role { TCP_ROLE_HOST, TCP_ROLE_TARGET };

/* What the receiver negotiated and accepts; filled in as the connection is set up. */
struct tcp_pdu_limits {
	enum tcp_role receiver;
	bool ic_done;          /* ICReq/ICResp exchanged */
	bool hdgst;            /* header digest negotiated */
	bool ddgst;            /* data digest negotiated */
	uint8_t rx_pda;        /* the receiver's required data alignment: (x + 1) * 4 bytes */
	uint32_t max_icd;      /* largest in-capsule data accepted (target) */
	uint32_t max_h2c_data; /* largest H2CData payload (target: our MAXH2CDATA) */
	uint32_t max_c2h_data; /* largest C2HData payload accepted (host) */
};

/* Why a header was refused: becomes a termination request. */
struct tcp_pdu_error {
	uint16_t fes;          /* enum nvme_tcp_fes */
	uint32_t fei;          /* byte offset of the bad field (invalid header field) */
	const char *why;       /* for the log */
};

/* The fixed header length for a PDU type, or 0 for an unknown type. */
uint8_t tcp_pdu_hlen(uint8_t type);
bool tcp_pdu_has_hdgst(const union tcp_pdu_hdr *hdr);
/* Data bytes carried (0 for none). Only meaningful after validation. */
uint32_t tcp_pdu_data_len(const union tcp_pdu_hdr *hdr, bool ddgst);

/*
 * Checks the 8-byte common header: type, direction, sequence, hlen, plen bounds. Called as
 * soon as 8 bytes have arrived, before anything is read or allocated for the rest.
 */
int tcp_pdu_validate_common(const struct nvme_tcp_common_hdr *ch, const struct tcp_pdu_limits *lim,
			    struct tcp_pdu_error *err);
/* Checks the full header (hlen bytes plus header digest): flags, pdo, digests, lengths. */
int tcp_pdu_validate(const union tcp_pdu_hdr *hdr, const struct tcp_pdu_limits *lim,
		     struct tcp_pdu_error *err);
/* The part of tcp_pdu_validate() after the common header, for a receiver that already ran
 * tcp_pdu_validate_common() on it. */
int tcp_pdu_validate_rest(const union tcp_pdu_hdr *hdr, const struct tcp_pdu_limits *lim,
			  struct tcp_pdu_error *err);

/* Appends the header digest if negotiated; returns the total header bytes to send. */
uint32_t tcp_pdu_seal_hdr(union tcp_pdu_hdr *hdr, bool hdgst);
/*
 * Fills the common header of a PDU about to be sent. data_len 0 means no data; otherwise pdo is
 * aligned to the peer's pda and the data digest flag set when negotiated. Returns the pad length
 * between header (with digest) and data.
 */
uint32_t tcp_pdu_init(union tcp_pdu_hdr *hdr, uint8_t type, uint8_t flags, uint32_t data_len,
		      bool hdgst, bool ddgst, uint8_t peer_pda);

const char *tcp_pdu_type_name(uint8_t type);
const char *tcp_fes_name(uint16_t fes);

#endif
