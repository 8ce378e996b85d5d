/*
 * Answering a call. A handler builds its answer with exactly one of these; the dispatcher wraps
 * it into the JSON-RPC envelope (or drops it, for a notification's result), and a deferred
 * call's answer goes to its client from here (rpc_deferred_answered()).
 */
#include "rpc/rpc_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

/* A second answer is a handler bug; the first one stands, so the client sees one response. */
static bool rpc_already_replied(struct rpc_request *req)
{
	if (!req->body)
		return false;
	log_error("rpc: method %s replied more than once", req->method);
	return true;
}

void rpc_reply(struct rpc_request *req, struct json_object *result)
{
	if (rpc_already_replied(req)) {
		json_object_put(result);
		return;
	}
	req->body = json_object_new_object();
	if (!req->body) {
		json_object_put(result);
		if (req->deferred)
			rpc_deferred_answered(req);
		return;
	}
	/* A NULL value is serialized as JSON null. */
	json_object_object_add(req->body, "result", result);
	if (req->deferred)
		rpc_deferred_answered(req);
}

void rpc_reply_bool(struct rpc_request *req, bool value)
{
	rpc_reply(req, json_object_new_boolean(value));
}

struct json_object *rpc_error_body(int code, const char *msg)
{
	struct json_object *body = json_object_new_object(), *err = json_object_new_object();

	if (!body || !err) {
		json_object_put(body);
		json_object_put(err);
		return NULL;
	}
	json_object_object_add(err, "code", json_object_new_int(code));
	json_object_object_add(err, "message", json_object_new_string(msg));
	json_object_object_add(body, "error", err);
	return body;
}

__attribute__((format(printf, 4, 0)))
static void rpc_reply_error_v(struct rpc_request *req, int code, const char *suffix,
			      const char *fmt, va_list ap)
{
	char msg[1024];
	int n;

	if (rpc_already_replied(req))
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (suffix && n >= 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, "%s%s", n ? ": " : "", suffix);
	log_info("rpc: %s: error %d: %s", req->method, code, msg);
	req->body = rpc_error_body(code, msg);
	if (req->deferred)
		rpc_deferred_answered(req);
}

void rpc_reply_error(struct rpc_request *req, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rpc_reply_error_v(req, code, NULL, fmt, ap);
	va_end(ap);
}

void rpc_reply_errno(struct rpc_request *req, int err, const char *fmt, ...)
{
	int code = err == -EINVAL ? RPC_ERROR_INVALID_PARAMS : RPC_ERROR_INTERNAL_ERROR;
	va_list ap;

	va_start(ap, fmt);
	rpc_reply_error_v(req, code, strerror(abs(err)), fmt, ap);
	va_end(ap);
}

const char *rpc_response_text(struct json_object *response, size_t *len)
{
	/* SPDK writes "/" unescaped; so do we, for byte-identical output on paths. */
	return json_object_to_json_string_length(
		response, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
}
