/*
 * A minimal JSON-RPC client for nvfab's CLI (`nvfab rpc [-s SOCK] METHOD [JSON_PARAMS]`): one
 * connection, one call, one reply, the same wire format as SPDK's rpc.py.
 */
#ifndef NVFAB_RPC_RPC_CLIENT_H
#define NVFAB_RPC_RPC_CLIENT_H

#include <json-c/json.h>

/*
 * Calls method with params (borrowed; NULL sends no "params") on the daemon listening at
 * sock_path, waiting at most timeout_ms in total (<= 0: no limit).
 *
 * Returns 0 with *reply set to the whole response object, owned by the caller: check it for
 * "error" ({"code":...,"message":...}) or take "result". Returns -errno for transport
 * failures, after logging what happened: -ENOENT or -ECONNREFUSED when no daemon is listening
 * there, -ETIMEDOUT, -ECONNRESET when the daemon closed without answering, -EPROTO for a reply
 * that is not a JSON-RPC response to this call.
 */
int rpc_client_call(const char *sock_path, const char *method, struct json_object *params,
		    int timeout_ms, struct json_object **reply);

#endif
