/* CRC32C header and data digests (ISA-L: table-free on x86 SSE4.2/PCLMUL and ARMv8 CRC). */
#ifndef NVFAB_TCP_CRC_H
#define NVFAB_TCP_CRC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <isa-l/crc.h>

#define TCP_CRC_SEED 0xffffffffu

static inline uint32_t tcp_crc_update(uint32_t crc, const void *buf, size_t len)
{
	return crc32_iscsi((unsigned char *)buf, (int)len, crc);
}

static inline uint32_t tcp_crc_final(uint32_t crc)
{
	return crc ^ 0xffffffffu;
}

static inline uint32_t tcp_crc(const void *buf, size_t len)
{
	return tcp_crc_final(tcp_crc_update(TCP_CRC_SEED, buf, len));
}

static inline uint32_t tcp_crc_iov(const struct iovec *iov, int iovcnt)
{
	uint32_t crc = TCP_CRC_SEED;

	for (int i = 0; i < iovcnt; i++)
		crc = tcp_crc_update(crc, iov[i].iov_base, iov[i].iov_len);
	return tcp_crc_final(crc);
}

#endif
