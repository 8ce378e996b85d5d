/*
 * NVMe submission/completion queue entries and the NVMe-oF fabrics commands, as they travel
 * inside NVMe/TCP capsules. Sizes and offsets are fixed by the NVMe Base and NVMe-oF
 * specifications; the asserts below keep them honest. Identify data, log pages, opcodes and
 * status codes come from libnvme's <nvme/types.h>.
 */
#ifndef NVFAB_SPEC_NVME_CMD_H
#define NVFAB_SPEC_NVME_CMD_H

#include <stddef.h>
#include <stdint.h>

#include <nvme/types.h>

/* NVMe is little-endian on the wire; nvfab targets x86-64 and aarch64, both little-endian,
 * so wire structs are read in place. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "nvfab assumes a little-endian CPU");

/* SGL descriptor (16 bytes). type = descriptor type << 4 | subtype. */
struct nvme_sgl_desc {
	uint64_t addr;
	uint32_t length;
	uint8_t rsvd[3];
	uint8_t type;
} __attribute__((packed));
_Static_assert(sizeof(struct nvme_sgl_desc) == 16, "SGL descriptor is 16 bytes");
_Static_assert(offsetof(struct nvme_sgl_desc, type) == 15, "SGL identifier is byte 15");

/* Data Block descriptor, Offset subtype: in-capsule data at addr bytes past the SQE. */
#define NVME_SGL_TYPE_ICD 0x01
/* Transport Data Block descriptor, transport-specific subtype: data moves in C2HData/H2CData. */
#define NVME_SGL_TYPE_TRANSPORT 0x5a

struct nvme_sqe {
	uint8_t opc;
	uint8_t flags;      /* FUSE bits 1:0, PSDT bits 7:6 (2 = SGL for fabrics) */
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2;
	uint32_t cdw3;
	uint64_t mptr;
	struct nvme_sgl_desc sgl;
	uint32_t cdw10;
	uint32_t cdw11;
	uint32_t cdw12;
	uint32_t cdw13;
	uint32_t cdw14;
	uint32_t cdw15;
} __attribute__((packed));
_Static_assert(sizeof(struct nvme_sqe) == 64, "SQE is 64 bytes");
_Static_assert(offsetof(struct nvme_sqe, sgl) == 24, "DPTR at byte 24");
_Static_assert(offsetof(struct nvme_sqe, cdw10) == 40, "CDW10 at byte 40");

#define NVME_SQE_PSDT_SGL (1u << 6) /* SGLs, metadata buffer contiguous: the fabrics value */

struct nvme_cqe {
	uint32_t dw0;
	uint32_t dw1;
	uint16_t sqhd;
	uint16_t sqid;
	uint16_t cid;
	uint16_t status;    /* bit 0 phase; 15:1 status field */
} __attribute__((packed));
_Static_assert(sizeof(struct nvme_cqe) == 16, "CQE is 16 bytes");
_Static_assert(offsetof(struct nvme_cqe, status) == 14, "status at byte 14");

/*
 * Status field (CQE status >> 1), in libnvme's encoding: SC in bits 7:0, SCT in bits 10:8,
 * CRD 12:11, More 13, DNR 14.
 */
#define NVME_STATUS(sct, sc) ((uint16_t)(((sct) << NVME_SCT_SHIFT) | (sc)))
#define NVME_STATUS_DNR 0x4000
#define NVME_STATUS_SCT(s) (((s) >> NVME_SCT_SHIFT) & NVME_SCT_MASK)
#define NVME_STATUS_SC(s) ((s) & NVME_SC_MASK)

/* ---- NVMe-oF fabrics commands (opcode 0x7f) ---- */
#define NVME_FABRICS_OPC 0x7f

struct nvmf_cmd_common {
	uint8_t opc;
	uint8_t rsvd1;
	uint16_t cid;
	uint8_t fctype;
	uint8_t rsvd2[19];
	struct nvme_sgl_desc sgl;
	uint8_t specific[24];
} __attribute__((packed));
_Static_assert(sizeof(struct nvmf_cmd_common) == 64, "fabrics command is 64 bytes");
_Static_assert(offsetof(struct nvmf_cmd_common, fctype) == 4, "FCTYPE at byte 4");

struct nvmf_connect_cmd {
	uint8_t opc;
	uint8_t rsvd1;
	uint16_t cid;
	uint8_t fctype;
	uint8_t rsvd2[19];
	struct nvme_sgl_desc sgl;
	uint16_t recfmt;
	uint16_t qid;
	uint16_t sqsize;    /* 0's based */
	uint8_t cattr;
	uint8_t rsvd3;
	uint32_t kato;      /* ms */
	uint8_t rsvd4[12];
} __attribute__((packed));
_Static_assert(sizeof(struct nvmf_connect_cmd) == 64, "Connect is 64 bytes");
_Static_assert(offsetof(struct nvmf_connect_cmd, recfmt) == 40, "RECFMT at byte 40");
_Static_assert(offsetof(struct nvmf_connect_cmd, qid) == 42, "QID at byte 42");
_Static_assert(offsetof(struct nvmf_connect_cmd, sqsize) == 44, "SQSIZE at byte 44");
_Static_assert(offsetof(struct nvmf_connect_cmd, cattr) == 46, "CATTR at byte 46");
_Static_assert(offsetof(struct nvmf_connect_cmd, kato) == 48, "KATO at byte 48");

/* struct nvmf_connect_data comes from libnvme; its layout is fixed by the spec. */
_Static_assert(sizeof(struct nvmf_connect_data) == 1024, "Connect data is 1024 bytes");
_Static_assert(offsetof(struct nvmf_connect_data, cntlid) == 16, "CNTLID at byte 16");
_Static_assert(offsetof(struct nvmf_connect_data, subsysnqn) == 256, "SUBNQN at byte 256");
_Static_assert(offsetof(struct nvmf_connect_data, hostnqn) == 512, "HOSTNQN at byte 512");

/* Connect response dw0 on Connect Invalid Parameters: where the bad field is. */
#define NVMF_CONNECT_IATTR_CMD 0
#define NVMF_CONNECT_IATTR_DATA 1
static inline uint32_t nvmf_connect_ipo(uint16_t offset, uint8_t iattr)
{
	return (uint32_t)offset | ((uint32_t)iattr << 16);
}

struct nvmf_property_get_cmd {
	uint8_t opc;
	uint8_t rsvd1;
	uint16_t cid;
	uint8_t fctype;
	uint8_t rsvd2[35];
	uint8_t attrib;     /* bits 2:0: 0 = 4 bytes, 1 = 8 bytes */
	uint8_t rsvd3[3];
	uint32_t ofst;
	uint8_t rsvd4[16];
} __attribute__((packed));
_Static_assert(sizeof(struct nvmf_property_get_cmd) == 64, "Property Get is 64 bytes");
_Static_assert(offsetof(struct nvmf_property_get_cmd, attrib) == 40, "ATTRIB at byte 40");
_Static_assert(offsetof(struct nvmf_property_get_cmd, ofst) == 44, "OFST at byte 44");

struct nvmf_property_set_cmd {
	uint8_t opc;
	uint8_t rsvd1;
	uint16_t cid;
	uint8_t fctype;
	uint8_t rsvd2[35];
	uint8_t attrib;
	uint8_t rsvd3[3];
	uint32_t ofst;
	uint64_t value;
	uint8_t rsvd4[8];
} __attribute__((packed));
_Static_assert(sizeof(struct nvmf_property_set_cmd) == 64, "Property Set is 64 bytes");
_Static_assert(offsetof(struct nvmf_property_set_cmd, value) == 48, "VALUE at byte 48");

/* Controller properties (register offsets). */
#define NVMF_PROP_CAP 0x00
#define NVMF_PROP_VS 0x08
#define NVMF_PROP_CC 0x14
#define NVMF_PROP_CSTS 0x1c
#define NVMF_PROP_NSSR 0x20

/* CAP, CC and CSTS field accessors (NVME_CC_EN(), NVME_CSTS_SHST_*, ...) come from libnvme. */

#define NVME_VS(major, minor, tertiary) (((major) << 16) | ((minor) << 8) | (tertiary))

/* Fabrics command types (FCTYPE). */
#define NVMF_FCTYPE_PROPERTY_SET 0x00
#define NVMF_FCTYPE_CONNECT 0x01
#define NVMF_FCTYPE_PROPERTY_GET 0x04
#define NVMF_FCTYPE_AUTH_SEND 0x05
#define NVMF_FCTYPE_AUTH_RECV 0x06
#define NVMF_FCTYPE_DISCONNECT 0x08

#define NVMF_DISCOVERY_NQN "nqn.2014-08.org.nvmexpress.discovery"
#define NVMF_NQN_MAX 223 /* bytes, without the terminating NUL */

#endif
