#include "spec/status.h"

#include <stdio.h>

#include "spec/nvme_cmd.h"

struct status_name {
	uint16_t status; /* SCT << 8 | SC */
	const char *name;
};

static const struct status_name status_names[] = {
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SUCCESS), "Successful Completion"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE), "Invalid Command Opcode"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD), "Invalid Field in Command"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CMDID_CONFLICT), "Command ID Conflict"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR), "Data Transfer Error"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_POWER_LOSS), "Commands Aborted due to Power Loss"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL), "Internal Error"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORT_REQ), "Command Abort Requested"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORT_QUEUE), "Command Aborted due to SQ Deletion"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_NS), "Invalid Namespace or Format"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR), "Command Sequence Error"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_LAST), "Invalid SGL Segment Descriptor"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_COUNT), "Invalid Number of SGL Descriptors"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA), "Data SGL Length Invalid"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_TYPE), "SGL Descriptor Type Invalid"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_OFFSET), "SGL Offset Invalid"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_KAT_EXPIRED), "Keep Alive Timer Expired"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_KAT_INVALID), "Keep Alive Timeout Invalid"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CMD_ABORTED_PREMEPT), "Command Aborted due to Preempt and Abort"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_NS_WRITE_PROTECTED), "Namespace is Write Protected"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CMD_INTERRUPTED), "Command Interrupted"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_TRAN_TPORT_ERROR), "Transient Transport Error"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_LBA_RANGE), "LBA Out of Range"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CAP_EXCEEDED), "Capacity Exceeded"},
	{NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_NS_NOT_READY), "Namespace Not Ready"},
	{NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_CQ_INVALID), "Completion Queue Invalid"},
	{NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_QID_INVALID), "Invalid Queue Identifier"},
	{NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_QUEUE_SIZE), "Invalid Queue Size"},
	{NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_ABORT_LIMIT), "Abort Command Limit Exceeded"},
	{NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_ASYNC_LIMIT), "Asynchronous Event Request Limit Exceeded"},
	{NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_LOG_PAGE), "Invalid Log Page"},
	{NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_FORMAT), "Invalid Format"},
	{NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_FEATURE_NOT_SAVEABLE), "Feature Identifier Not Saveable"},
	{NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_FEATURE_NOT_CHANGEABLE), "Feature Not Changeable"},
	{NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_FORMAT), "Incompatible Format"},
	{NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_CTRL_BUSY), "Controller Busy"},
	{NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_INVALID_PARAM), "Connect Invalid Parameters"},
	{NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_RESTART_DISC), "Connect Restart Discovery"},
	{NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_INVALID_HOST), "Connect Invalid Host"},
	{NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_DISCONNECT_INVALID_QTYPE), "Invalid Queue Type"},
	{NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_DISCOVERY_RESTART), "Discover Restart"},
	{NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_AUTH_REQUIRED), "Authentication Required"},
	{NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_CMD_SIZE_LIMIT_EXCEEDED), "Command Size Limit Exceeded"},
	{NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_WRITE_FAULT), "Write Fault"},
	{NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_READ_ERROR), "Unrecovered Read Error"},
	{NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_COMPARE_FAILED), "Compare Failure"},
	{NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_ACCESS_DENIED), "Access Denied"},
	{NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_UNWRITTEN_BLOCK), "Deallocated or Unwritten Logical Block"},
	{NVME_STATUS(NVME_SCT_PATH, NVME_SC_ANA_INTERNAL_PATH_ERROR), "Internal Path Error"},
	{NVME_STATUS(NVME_SCT_PATH, NVME_SC_ANA_TRANSITION), "Asymmetric Access Transition"},
	{NVME_STATUS(NVME_SCT_PATH, NVME_SC_CTRL_PATH_ERROR), "Controller Pathing Error"},
	{NVME_STATUS(NVME_SCT_PATH, NVME_SC_HOST_PATH_ERROR), "Host Pathing Error"},
	{NVME_STATUS(NVME_SCT_PATH, NVME_SC_CMD_ABORTED_BY_HOST), "Command Aborted By Host"},
};

const char *spec_status_name(uint16_t status)
{
	uint16_t key = status & (NVME_SC_MASK | (NVME_SCT_MASK << NVME_SCT_SHIFT));

	for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (status_names[i].status == key)
			return status_names[i].name;
	return "Unknown";
}

char *spec_status_format(uint16_t status, char *buf, size_t len)
{
	snprintf(buf, len, "%s (SCT 0x%x, SC 0x%02x%s)", spec_status_name(status),
		 NVME_STATUS_SCT(status), NVME_STATUS_SC(status),
		 (status & NVME_STATUS_DNR) ? ", DNR" : "");
	return buf;
}

const char *spec_admin_opc_name(uint8_t opc)
{
	switch (opc) {
	case nvme_admin_get_log_page: return "Get Log Page";
	case nvme_admin_identify: return "Identify";
	case nvme_admin_abort_cmd: return "Abort";
	case nvme_admin_set_features: return "Set Features";
	case nvme_admin_get_features: return "Get Features";
	case nvme_admin_async_event: return "Asynchronous Event Request";
	case nvme_admin_keep_alive: return "Keep Alive";
	case NVME_FABRICS_OPC: return "Fabrics";
	default: return "Unknown admin command";
	}
}

const char *spec_io_opc_name(uint8_t opc)
{
	switch (opc) {
	case nvme_cmd_flush: return "Flush";
	case nvme_cmd_write: return "Write";
	case nvme_cmd_read: return "Read";
	case nvme_cmd_compare: return "Compare";
	case nvme_cmd_write_zeroes: return "Write Zeroes";
	case nvme_cmd_dsm: return "Dataset Management";
	case NVME_FABRICS_OPC: return "Fabrics";
	default: return "Unknown I/O command";
	}
}

const char *spec_fctype_name(uint8_t fctype)
{
	switch (fctype) {
	case NVMF_FCTYPE_PROPERTY_SET: return "Property Set";
	case NVMF_FCTYPE_CONNECT: return "Connect";
	case NVMF_FCTYPE_PROPERTY_GET: return "Property Get";
	case NVMF_FCTYPE_AUTH_SEND: return "Authentication Send";
	case NVMF_FCTYPE_AUTH_RECV: return "Authentication Receive";
	case NVMF_FCTYPE_DISCONNECT: return "Disconnect";
	default: return "Unknown fabrics command";
	}
}
