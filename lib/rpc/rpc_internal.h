/*
 * Internals shared by the files of lib/rpc (and by its unit tests and the fuzz harness).
 * Nothing here is part of the daemon-facing interface in rpc.h.
 */
#ifndef NVFAB_RPC_RPC_INTERNAL_H
#define NVFAB_RPC_RPC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "rpc/rpc.h"

/*
 * Limits on one request read from the socket. SPDK itself accepts at most 32 KiB and 1024 JSON
 * values per request; ours are far more generous but still bound what a client can make the
 * daemon allocate: json-c spends several hundred bytes on an empty object, so the byte limit
 * alone would let 32 MiB of "{}," cost gigabytes.
 */
#define RPC_MAX_REQUEST_BYTES (32u * 1024 * 1024)
#define RPC_MAX_REQUEST_VALUES 65536u

#define RPC_COUNTOF(a) (sizeof(a) / sizeof((a)[0]))

/* One call being answered. Lives on the dispatcher's stack for the duration of the handler. */
struct rpc_request {
	const char *method;
	/* The reply under construction: {"result":...} or {"error":{...}}; NULL until answered. */
	struct json_object *body;
	/* Where a deferred answer goes (the client's connection); NULL: this call cannot wait
	 * (a batch element, the configuration loader), or its client has gone. */
	struct rpc_defer_sink *sink;
	struct json_object *id;     /* the request's id (a reference, in a deferred call) */
	struct rpc_request *later;  /* set by rpc_defer(): the call that answers later */
	bool deferred;              /* this is such a call (heap-allocated, method copied) */
	bool in_handler;            /* its handler has not returned yet */
	bool answered;              /* a deferred call answered before its handler returned */
};

/*
 * A client connection that can wait for a deferred answer. While `pending` is set it reads
 * no further requests, so its answers keep their order. deliver() runs on the control thread
 * when the call is answered, with the response to send (it takes it), or NULL when nothing is
 * to be sent (a notification's result).
 */
struct rpc_defer_sink {
	void (*deliver)(struct rpc_defer_sink *sink, struct json_object *resp);
	struct rpc_request *pending;
};
/* The client went away: its pending call, if any, is answered to nobody. */
void rpc_defer_sink_gone(struct rpc_defer_sink *sink);
/* A deferred call was answered (rpc_reply.c calls it after each rpc_reply*()): its response
 * goes to its client, and the call is freed. */
void rpc_deferred_answered(struct rpc_request *req);
void rpc_deferred_free(struct rpc_request *req);

/* ---- dispatch (rpc_dispatch.c) ---- */
/*
 * Handles one parsed JSON-RPC message (a request object or a batch array) and returns the
 * complete response to send ({"jsonrpc":"2.0","id":...,...} or an array of those), or NULL when
 * nothing is to be sent (notifications). value is borrowed.
 */
struct json_object *rpc_dispatch_value(struct json_object *value, struct rpc_defer_sink *sink);
/* {"jsonrpc":"2.0","id":null,"error":{"code":code,"message":...}} with SPDK's default text. */
struct json_object *rpc_error_response(int code);
/* SPDK's fixed message for a JSON-RPC error code ("Parse error", "Method not found", ...). */
const char *rpc_error_text(int code);
/* {"error":{"code":code,"message":msg}} (rpc_reply.c). */
struct json_object *rpc_error_body(int code, const char *msg);

bool rpc_method_exists(const char *name);
typedef void (*rpc_method_visit_fn)(const char *name, void *arg);
/* Built-ins first, then registered methods in registration order. */
void rpc_for_each_method(rpc_method_visit_fn fn, void *arg);
/* Forgets every registered method and config writer (tests; the end of the daemon). */
void rpc_registry_clear(void);
void rpc_config_writers_clear(void);

/* ---- built-in methods (rpc_builtin.c) ---- */
struct rpc_method_entry {
	const char *name;
	rpc_method_fn fn;
};
extern const struct rpc_method_entry rpc_builtin_methods[];
extern const size_t rpc_builtin_method_count;

/* SPDK framework settings accepted under the compatibility rule (rpc_spdk_settings.c). */
rpc_method_fn rpc_spdk_settings_lookup(const char *name);
/* Visits the settings methods that `registered` does not know (it has the real one). */
void rpc_spdk_settings_for_each(rpc_method_visit_fn fn, void *arg,
				rpc_method_fn (*registered)(const char *name));

/* ---- config writers (rpc_config_save.c) ---- */
typedef void (*rpc_subsystem_visit_fn)(const char *subsystem, void *arg);
/* Each distinct subsystem name once, in order of its first writer's registration. */
void rpc_config_for_each_subsystem(rpc_subsystem_visit_fn fn, void *arg);
/* The calls of one subsystem (a new array), or NULL if no writer is registered for it. */
struct json_object *rpc_config_subsystem_calls(const char *subsystem);

/* ---- incremental parsing of a byte stream into JSON values (rpc_stream.c) ---- */
struct rpc_stream {
	struct json_tokener *tok;
	size_t max_bytes, max_values; /* 0 = no limit */
	size_t bytes;                 /* fed into the value being parsed */
	size_t values;                /* upper bound on JSON values seen in it */
	bool in_string, escape;       /* lexer state for counting values across chunks */
	char error[128];              /* why the last feed failed */
};

int rpc_stream_init(struct rpc_stream *s, size_t max_bytes, size_t max_values);
void rpc_stream_fini(struct rpc_stream *s);
/*
 * Feeds up to len bytes. Returns 1 when a whole value was parsed (*value is it, owned by the
 * caller; NULL for the JSON literal null) after consuming *used bytes; 0 when all len bytes
 * were consumed and more are needed; -EBADMSG on malformed JSON or -EMSGSIZE over a limit
 * (s->error says why; the stream cannot resync and must be dropped).
 */
int rpc_stream_feed(struct rpc_stream *s, const char *buf, size_t len, size_t *used,
		    struct json_object **value);
/* True once bytes of the next value (even just whitespace) have been fed. */
bool rpc_stream_partial(const struct rpc_stream *s);

/* Serializes a response compactly, as SPDK does; the text belongs to response. The wire format
 * adds a '\n' after it. */
const char *rpc_response_text(struct json_object *response, size_t *len);

/* ---- fuzzing (rpc_fuzz.c) ---- */
/* Feeds bytes through the socket's parse and dispatch path, without a socket. Returns 0. */
int rpc_fuzz_one(const uint8_t *data, size_t len);

#endif
