#include "tcp/tcp_pdu.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "tcp/tcp_crc.h"

#define FIELD_OFF(type, field) ((uint32_t)offsetof(type, field))
#define CH_OFF(field) FIELD_OFF(struct nvme_tcp_common_hdr, field)

static int pdu_reject(struct tcp_pdu_error *err, uint16_t fes, uint32_t fei, const char *why)
{
	err->fes = fes;
	err->fei = fei;
	err->why = why;
	return -EPROTO;
}

uint8_t tcp_pdu_hlen(uint8_t type)
{
	switch (type) {
	case NVME_TCP_PDU_ICREQ: return sizeof(struct nvme_tcp_icreq);
	case NVME_TCP_PDU_ICRESP: return sizeof(struct nvme_tcp_icresp);
	case NVME_TCP_PDU_H2C_TERM_REQ:
	case NVME_TCP_PDU_C2H_TERM_REQ: return sizeof(struct nvme_tcp_term_req);
	case NVME_TCP_PDU_CAPSULE_CMD: return sizeof(struct nvme_tcp_cmd);
	case NVME_TCP_PDU_CAPSULE_RESP: return sizeof(struct nvme_tcp_rsp);
	case NVME_TCP_PDU_H2C_DATA:
	case NVME_TCP_PDU_C2H_DATA: return sizeof(struct nvme_tcp_data_hdr);
	case NVME_TCP_PDU_R2T: return sizeof(struct nvme_tcp_r2t);
	default: return 0;
	}
}

/* Which PDUs each side may receive. */
static bool pdu_direction_ok(uint8_t type, enum tcp_role receiver)
{
	switch (type) {
	case NVME_TCP_PDU_ICREQ:
	case NVME_TCP_PDU_H2C_TERM_REQ:
	case NVME_TCP_PDU_CAPSULE_CMD:
	case NVME_TCP_PDU_H2C_DATA:
		return receiver == TCP_ROLE_TARGET;
	case NVME_TCP_PDU_ICRESP:
	case NVME_TCP_PDU_C2H_TERM_REQ:
	case NVME_TCP_PDU_CAPSULE_RESP:
	case NVME_TCP_PDU_C2H_DATA:
	case NVME_TCP_PDU_R2T:
		return receiver == TCP_ROLE_HOST;
	default:
		return false;
	}
}

static uint8_t pdu_allowed_flags(uint8_t type)
{
	switch (type) {
	case NVME_TCP_PDU_CAPSULE_CMD: return NVME_TCP_F_HDGST | NVME_TCP_F_DDGST;
	case NVME_TCP_PDU_CAPSULE_RESP:
	case NVME_TCP_PDU_R2T: return NVME_TCP_F_HDGST;
	case NVME_TCP_PDU_H2C_DATA: return NVME_TCP_F_HDGST | NVME_TCP_F_DDGST | NVME_TCP_F_DATA_LAST;
	case NVME_TCP_PDU_C2H_DATA:
		return NVME_TCP_F_HDGST | NVME_TCP_F_DDGST | NVME_TCP_F_DATA_LAST |
		       NVME_TCP_F_DATA_SUCCESS;
	default: return 0; /* ICReq, ICResp, termination requests carry no digests */
	}
}

static bool pdu_may_carry_data(uint8_t type)
{
	return type == NVME_TCP_PDU_CAPSULE_CMD || type == NVME_TCP_PDU_H2C_DATA ||
	       type == NVME_TCP_PDU_C2H_DATA;
}

static bool pdu_uses_digests(uint8_t type)
{
	return pdu_allowed_flags(type) & NVME_TCP_F_HDGST;
}

bool tcp_pdu_has_hdgst(const union tcp_pdu_hdr *hdr)
{
	return hdr->ch.flags & NVME_TCP_F_HDGST;
}

uint32_t tcp_pdu_data_len(const union tcp_pdu_hdr *hdr, bool ddgst)
{
	const struct nvme_tcp_common_hdr *ch = &hdr->ch;
	uint32_t hd_len = ch->flags & NVME_TCP_F_HDGST ? NVME_TCP_DIGEST_LEN : 0;

	/* A PLEN that covers only the header means no data, whatever PDO says (validation lets a
	 * reserved PDO through there; counting from it made a data length out of the header). */
	if (!pdu_may_carry_data(ch->type) || ch->pdo == 0 || ch->plen <= ch->pdo ||
	    ch->plen <= (uint32_t)ch->hlen + hd_len)
		return 0;
	return ch->plen - ch->pdo - (ddgst && (ch->flags & NVME_TCP_F_DDGST) ? NVME_TCP_DIGEST_LEN : 0);
}

static uint32_t pdu_max_data(uint8_t type, const struct tcp_pdu_limits *lim)
{
	switch (type) {
	case NVME_TCP_PDU_CAPSULE_CMD: return lim->max_icd;
	case NVME_TCP_PDU_H2C_DATA: return lim->max_h2c_data;
	case NVME_TCP_PDU_C2H_DATA: return lim->max_c2h_data;
	default: return 0;
	}
}

int tcp_pdu_validate_common(const struct nvme_tcp_common_hdr *ch, const struct tcp_pdu_limits *lim,
			    struct tcp_pdu_error *err)
{
	uint8_t hlen = tcp_pdu_hlen(ch->type);
	bool is_ic = ch->type == NVME_TCP_PDU_ICREQ || ch->type == NVME_TCP_PDU_ICRESP;
	bool is_term = ch->type == NVME_TCP_PDU_H2C_TERM_REQ || ch->type == NVME_TCP_PDU_C2H_TERM_REQ;
	uint32_t hd_len, dd_len, align, data_len;

	if (hlen == 0 || !pdu_direction_ok(ch->type, lim->receiver))
		return pdu_reject(err, NVME_TCP_FES_INVALID_HEADER, CH_OFF(type),
				  "PDU type not valid in this direction");
	if (!lim->ic_done && !is_ic && !is_term)
		return pdu_reject(err, NVME_TCP_FES_PDU_SEQUENCE, 0, "PDU before connection initialization");
	if (lim->ic_done && is_ic)
		return pdu_reject(err, NVME_TCP_FES_PDU_SEQUENCE, 0, "second initialize connection PDU");
	if (ch->hlen != hlen)
		return pdu_reject(err, NVME_TCP_FES_INVALID_HEADER, CH_OFF(hlen), "wrong HLEN for PDU type");
	if (ch->flags & ~pdu_allowed_flags(ch->type))
		return pdu_reject(err, NVME_TCP_FES_INVALID_HEADER, CH_OFF(flags), "flag not allowed for PDU type");

	if (is_ic) {
		if (ch->plen != hlen)
			return pdu_reject(err, NVME_TCP_FES_INVALID_HEADER, CH_OFF(plen), "ICReq/ICResp PLEN must be 128");
		if (ch->pdo != 0)
			return pdu_reject(err, NVME_TCP_FES_INVALID_HEADER, CH_OFF(pdo), "PDO set without data");
		return 0;
	}
	if (is_term) {
		if (ch->plen < hlen || ch->plen > (uint32_t)hlen + NVME_TCP_TERM_REQ_DATA_MAX)
			return pdu_reject(err, NVME_TCP_FES_INVALID_HEADER, CH_OFF(plen), "termination request PLEN out of range");
		return 0;
	}

	/* Digests are all or nothing per connection, as negotiated in ICReq/ICResp. */
	if (pdu_uses_digests(ch->type) && !!(ch->flags & NVME_TCP_F_HDGST) != lim->hdgst)
		return pdu_reject(err, NVME_TCP_FES_INVALID_HEADER, CH_OFF(flags), "HDGSTF does not match negotiation");
	hd_len = lim->hdgst ? NVME_TCP_DIGEST_LEN : 0;
	if (ch->plen < (uint32_t)hlen + hd_len)
		return pdu_reject(err, NVME_TCP_FES_INVALID_HEADER, CH_OFF(plen), "PLEN shorter than header");

	if (!pdu_may_carry_data(ch->type) || ch->plen == (uint32_t)hlen + hd_len) {
		if (ch->plen != (uint32_t)hlen + hd_len)
			return pdu_reject(err, NVME_TCP_FES_INVALID_HEADER, CH_OFF(plen), "PLEN covers data this PDU cannot carry");
		if (ch->flags & NVME_TCP_F_DDGST)
			return pdu_reject(err, NVME_TCP_FES_INVALID_HEADER, CH_OFF(flags), "DDGSTF set without data");
		if (ch->type == NVME_TCP_PDU_H2C_DATA || ch->type == NVME_TCP_PDU_C2H_DATA)
			return pdu_reject(err, NVME_TCP_FES_INVALID_HEADER, CH_OFF(plen), "data PDU without data");
		return 0;
	}

	/* The PDU carries data. */
	if (!!(ch->flags & NVME_TCP_F_DDGST) != lim->ddgst)
		return pdu_reject(err, NVME_TCP_FES_INVALID_HEADER, CH_OFF(flags), "DDGSTF does not match negotiation");
	dd_len = lim->ddgst ? NVME_TCP_DIGEST_LEN : 0;
	align = ((uint32_t)lim->rx_pda + 1) * 4;
	if (ch->pdo < hlen + hd_len || ch->pdo % align != 0 || (uint32_t)ch->pdo + dd_len >= ch->plen)
		return pdu_reject(err, NVME_TCP_FES_INVALID_HEADER, CH_OFF(pdo), "PDO out of range or misaligned");
	data_len = ch->plen - ch->pdo - dd_len;
	if (data_len > pdu_max_data(ch->type, lim))
		return pdu_reject(err, NVME_TCP_FES_DATA_LIMIT_EXCEEDED, CH_OFF(plen), "data longer than negotiated limit");
	return 0;
}

int tcp_pdu_validate(const union tcp_pdu_hdr *hdr, const struct tcp_pdu_limits *lim,
		     struct tcp_pdu_error *err)
{
	int rc = tcp_pdu_validate_common(&hdr->ch, lim, err);

	return rc ? rc : tcp_pdu_validate_rest(hdr, lim, err);
}

int tcp_pdu_validate_rest(const union tcp_pdu_hdr *hdr, const struct tcp_pdu_limits *lim,
			  struct tcp_pdu_error *err)
{
	const struct nvme_tcp_common_hdr *ch = &hdr->ch;

	if (ch->flags & NVME_TCP_F_HDGST) {
		uint32_t got;

		memcpy(&got, hdr->raw + ch->hlen, sizeof(got));
		if (got != tcp_crc(hdr->raw, ch->hlen))
			return pdu_reject(err, NVME_TCP_FES_HDGST_ERROR, 0, "header digest mismatch");
	}

	switch (ch->type) {
	case NVME_TCP_PDU_ICREQ:
		if (hdr->icreq.pfv != NVME_TCP_PFV_1_0)
			return pdu_reject(err, NVME_TCP_FES_UNSUPPORTED_PARAM,
					  FIELD_OFF(struct nvme_tcp_icreq, pfv), "unsupported PDU format version");
		if (hdr->icreq.hpda > NVME_TCP_HPDA_MAX)
			return pdu_reject(err, NVME_TCP_FES_INVALID_HEADER,
					  FIELD_OFF(struct nvme_tcp_icreq, hpda), "HPDA out of range");
		if (hdr->icreq.dgst & ~(NVME_TCP_ICREQ_DGST_HDGST | NVME_TCP_ICREQ_DGST_DDGST))
			return pdu_reject(err, NVME_TCP_FES_INVALID_HEADER,
					  FIELD_OFF(struct nvme_tcp_icreq, dgst), "reserved digest bits set");
		break;
	case NVME_TCP_PDU_ICRESP:
		if (hdr->icresp.pfv != NVME_TCP_PFV_1_0)
			return pdu_reject(err, NVME_TCP_FES_UNSUPPORTED_PARAM,
					  FIELD_OFF(struct nvme_tcp_icresp, pfv), "unsupported PDU format version");
		if (hdr->icresp.cpda > NVME_TCP_CPDA_MAX)
			return pdu_reject(err, NVME_TCP_FES_INVALID_HEADER,
					  FIELD_OFF(struct nvme_tcp_icresp, cpda), "CPDA out of range");
		if (hdr->icresp.maxh2cdata < 4096 || hdr->icresp.maxh2cdata % 4)
			return pdu_reject(err, NVME_TCP_FES_INVALID_HEADER,
					  FIELD_OFF(struct nvme_tcp_icresp, maxh2cdata), "MAXH2CDATA invalid");
		break;
	case NVME_TCP_PDU_H2C_DATA:
	case NVME_TCP_PDU_C2H_DATA:
		if (hdr->data.datal != tcp_pdu_data_len(hdr, lim->ddgst))
			return pdu_reject(err, NVME_TCP_FES_INVALID_HEADER,
					  FIELD_OFF(struct nvme_tcp_data_hdr, datal), "DATAL does not match PLEN");
		break;
	case NVME_TCP_PDU_R2T:
		if (hdr->r2t.r2tl == 0)
			return pdu_reject(err, NVME_TCP_FES_INVALID_HEADER,
					  FIELD_OFF(struct nvme_tcp_r2t, r2tl), "R2T of zero length");
		break;
	default:
		break;
	}
	return 0;
}

uint32_t tcp_pdu_seal_hdr(union tcp_pdu_hdr *hdr, bool hdgst)
{
	uint32_t len = hdr->ch.hlen;

	if (hdgst && (hdr->ch.flags & NVME_TCP_F_HDGST)) {
		uint32_t crc = tcp_crc(hdr->raw, len);

		memcpy(hdr->raw + len, &crc, sizeof(crc));
		len += NVME_TCP_DIGEST_LEN;
	}
	return len;
}

uint32_t tcp_pdu_init(union tcp_pdu_hdr *hdr, uint8_t type, uint8_t flags, uint32_t data_len,
		      bool hdgst, bool ddgst, uint8_t peer_pda)
{
	struct nvme_tcp_common_hdr *ch = &hdr->ch;
	uint32_t hlen = tcp_pdu_hlen(type), hd_len = 0, pad = 0;

	ch->type = type;
	ch->flags = flags;
	ch->hlen = (uint8_t)hlen;
	if (pdu_uses_digests(type) && hdgst) {
		ch->flags |= NVME_TCP_F_HDGST;
		hd_len = NVME_TCP_DIGEST_LEN;
	}
	if (data_len == 0 || !pdu_may_carry_data(type)) {
		ch->pdo = 0;
		ch->plen = hlen + hd_len + (pdu_may_carry_data(type) ? 0 : data_len);
		return 0;
	}
	{
		uint32_t align = ((uint32_t)peer_pda + 1) * 4;
		uint32_t pdo = (hlen + hd_len + align - 1) / align * align;

		pad = pdo - hlen - hd_len;
		ch->pdo = (uint8_t)pdo;
	}
	if (ddgst)
		ch->flags |= NVME_TCP_F_DDGST;
	ch->plen = ch->pdo + data_len + (ddgst ? NVME_TCP_DIGEST_LEN : 0);
	return pad;
}

const char *tcp_pdu_type_name(uint8_t type)
{
	switch (type) {
	case NVME_TCP_PDU_ICREQ: return "ICReq";
	case NVME_TCP_PDU_ICRESP: return "ICResp";
	case NVME_TCP_PDU_H2C_TERM_REQ: return "H2CTermReq";
	case NVME_TCP_PDU_C2H_TERM_REQ: return "C2HTermReq";
	case NVME_TCP_PDU_CAPSULE_CMD: return "CapsuleCmd";
	case NVME_TCP_PDU_CAPSULE_RESP: return "CapsuleResp";
	case NVME_TCP_PDU_H2C_DATA: return "H2CData";
	case NVME_TCP_PDU_C2H_DATA: return "C2HData";
	case NVME_TCP_PDU_R2T: return "R2T";
	default: return "unknown";
	}
}

const char *tcp_fes_name(uint16_t fes)
{
	switch (fes) {
	case NVME_TCP_FES_INVALID_HEADER: return "Invalid PDU Header Field";
	case NVME_TCP_FES_PDU_SEQUENCE: return "PDU Sequence Error";
	case NVME_TCP_FES_HDGST_ERROR: return "Header Digest Error";
	case NVME_TCP_FES_DATA_OUT_OF_RANGE: return "Data Transfer Out of Range";
	case NVME_TCP_FES_DATA_LIMIT_EXCEEDED: return "Data Transfer Limit Exceeded";
	case NVME_TCP_FES_UNSUPPORTED_PARAM: return "Unsupported Parameter";
	default: return "unknown";
	}
}
