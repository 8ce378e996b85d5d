/*
 * Entry point for a fuzz harness: the bytes take the path a client's bytes take on the socket
 * (incremental parsing with the same limits, dispatch, serialization of every reply), so
 * anything that crashes here would crash the daemon on a connected client's input.
 */
#include "rpc/rpc_internal.h"

int rpc_fuzz_one(const uint8_t *data, size_t len)
{
	const char *buf = (const char *)data;
	struct rpc_stream stream;
	size_t off = 0;

	if (rpc_stream_init(&stream, RPC_MAX_REQUEST_BYTES, RPC_MAX_REQUEST_VALUES))
		return 0;
	while (off < len) {
		struct json_object *value, *resp;
		size_t used, text_len;
		int rc;

		rc = rpc_stream_feed(&stream, buf + off, len - off, &used, &value);
		off += used;
		if (rc < 0)
			resp = rpc_error_response(RPC_ERROR_PARSE_ERROR);
		else if (rc == 1)
			resp = rpc_dispatch_value(value, NULL);
		else
			break;
		json_object_put(value);
		if (resp)
			(void)rpc_response_text(resp, &text_len);
		json_object_put(resp);
		if (rc < 0)
			break;
	}
	rpc_stream_fini(&stream);
	return 0;
}
