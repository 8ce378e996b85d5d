/* Completion status for people: names from lib/spec, errno mapping for callers. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "host/host_internal.h"
#include "spec/status.h"
#include "util/log.h"

const char *nvfab_status_str(uint16_t status)
{
	return spec_status_name(status);
}

char *nvfab_cpl_str(const struct nvfab_cpl *cpl, char *buf, size_t len)
{
	if (cpl->transport_err)
		snprintf(buf, len, "transport error: %s", strerror(-cpl->transport_err));
	else
		spec_status_format(cpl->status, buf, len);
	return buf;
}

int nvfab_cpl_errno(const struct nvfab_cpl *cpl)
{
	if (cpl->transport_err)
		return cpl->transport_err;
	return (cpl->status & 0x7ff) ? -EIO : 0;
}

int host_status_errno(uint16_t status, bool connect)
{
	if ((status & 0x7ff) == 0)
		return 0;
	if (connect && NVME_STATUS_SCT(status) == NVME_SCT_CMD_SPECIFIC) {
		switch (NVME_STATUS_SC(status)) {
		case NVME_SC_CONNECT_INVALID_HOST:
		case NVME_SC_AUTH_REQUIRED:
			return -EACCES;
		case NVME_SC_CONNECT_INVALID_PARAM:
			return -EINVAL;
		case NVME_SC_CONNECT_CTRL_BUSY:
			return -EBUSY;
		case NVME_SC_CONNECT_FORMAT:
			return -EPROTO;
		default:
			break;
		}
	}
	return -EREMOTEIO;
}

void nvfab_set_log_level(int level)
{
	if (level < LOG_ERROR)
		level = LOG_ERROR;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	log_set_level((enum log_level)level);
}
