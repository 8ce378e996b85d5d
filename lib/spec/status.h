/* Human-readable names for NVMe status fields and opcodes, for logs and the host's errors. */
#ifndef NVFAB_SPEC_STATUS_H
#define NVFAB_SPEC_STATUS_H

#include <stddef.h>
#include <stdint.h>

/* status: the CQE status field without the phase bit (CQE status >> 1). "Unknown" if unknown. */
const char *spec_status_name(uint16_t status);
/* "LBA Out of Range (SCT 0x0, SC 0x80, DNR)" into buf; returns buf. */
char *spec_status_format(uint16_t status, char *buf, size_t len);
const char *spec_admin_opc_name(uint8_t opc);
const char *spec_io_opc_name(uint8_t opc);
const char *spec_fctype_name(uint8_t fctype);

#endif
