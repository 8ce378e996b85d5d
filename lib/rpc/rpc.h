/*
 * JSON-RPC 2.0 at the edge of the daemon, speaking SPDK's method names, parameter names and
 * result shapes so that SPDK's scripts/rpc.py works against nvfabd unchanged.
 *
 * Everything here runs on the control thread. A method handler decodes its params, applies the
 * change completely or not at all, and answers exactly once with rpc_reply*(): before it
 * returns (the control thread owns all state that methods touch), or, for work that waits on
 * something slow (a connection to another target), later, through rpc_defer().
 *
 * The configuration file (SPDK's JSON format: {"subsystems":[{"subsystem":"bdev","config":
 * [{"method":...,"params":...}]}, ...]}) is a list of RPC calls replayed through the same
 * dispatch at start-up, so configuration has one code path. save_config asks every registered
 * config writer for its calls.
 */
#ifndef NVFAB_RPC_RPC_H
#define NVFAB_RPC_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

struct evloop;
struct rpc_request;

/* JSON-RPC 2.0 error codes, as SPDK uses them. */
#define RPC_ERROR_PARSE_ERROR -32700
#define RPC_ERROR_INVALID_REQUEST -32600
#define RPC_ERROR_METHOD_NOT_FOUND -32601
#define RPC_ERROR_INVALID_PARAMS -32602
#define RPC_ERROR_INTERNAL_ERROR -32603

typedef void (*rpc_method_fn)(struct rpc_request *req, struct json_object *params);

/* Called at start-up (before the server or config loader runs). name must be static. */
void rpc_register_method(const char *name, rpc_method_fn fn);

/*
 * Takes the call out of its handler, to be answered later on the control thread, exactly once,
 * with rpc_reply*() on the handle returned (valid until then). Meanwhile the control thread
 * goes on serving everything else; the client's connection waits for this answer before it
 * reads its next request. NULL when the call cannot wait (a batch element, the configuration
 * loader, rpc_call_local(), no memory): the handler then answers now, as usual. Method names
 * and parameters are not kept: copy what the answer needs.
 */
struct rpc_request *rpc_defer(struct rpc_request *req);

/* Takes ownership of result (NULL means JSON null). */
void rpc_reply(struct rpc_request *req, struct json_object *result);
void rpc_reply_bool(struct rpc_request *req, bool value);
void rpc_reply_error(struct rpc_request *req, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Maps -errno to an error reply with a message: -EINVAL -> invalid params, others -> internal.
 * The message is "<fmt...>: <strerror(-err)>". */
void rpc_reply_errno(struct rpc_request *req, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- parameter decoding (declarative, like SPDK's spdk_json_decode_object) ---- */
enum rpc_param_type {
	RPC_PARAM_STRING,   /* char[size] buffer at offset; size given in .size */
	RPC_PARAM_BOOL,     /* bool */
	RPC_PARAM_INT32,    /* int32_t */
	RPC_PARAM_UINT32,   /* uint32_t */
	RPC_PARAM_UINT64,   /* uint64_t */
	RPC_PARAM_OBJECT,   /* struct json_object * (borrowed, valid during the handler) */
	RPC_PARAM_ARRAY,    /* struct json_object * of type array (borrowed) */
	/* An SPDK parameter nvfab does not act on (docs/spdk-compat.md): with .compat_default
	 * NULL, any value of .compat_type is accepted (a tuning knob for machinery nvfab lacks);
	 * otherwise only the value whose JSON text is .compat_default ("what nvfab does anyway"),
	 * and any other value is refused with .why. Accepted ones are logged once at info level.
	 * Nothing is stored. */
	RPC_PARAM_COMPAT,
};

struct rpc_param {
	const char *name;
	enum rpc_param_type type;
	size_t offset;      /* offsetof(out struct, field) */
	size_t size;        /* for RPC_PARAM_STRING: buffer size including NUL */
	bool optional;
	size_t present_offset; /* if nonzero: offsetof(out, bool field) set when present (so the
				* flag cannot be the first member of out) */
	/* RPC_PARAM_COMPAT only */
	json_type compat_type;      /* json_type_int also takes integral doubles, as SPDK does */
	const char *compat_default; /* JSON text of the one value accepted; NULL: any value */
	const char *why;            /* what it is for in SPDK, and why nvfab has no use for it */
};

/* An SPDK tuning knob with no meaning for nvfab: any value of the type is accepted. */
#define RPC_COMPAT_KNOB(n, jtype, reason) \
	{.name = (n), .type = RPC_PARAM_COMPAT, .optional = true, .compat_type = (jtype), .why = (reason)}
/* The same, for a parameter SPDK requires. */
#define RPC_COMPAT_KNOB_REQUIRED(n, jtype, reason) \
	{.name = (n), .type = RPC_PARAM_COMPAT, .optional = false, .compat_type = (jtype), .why = (reason)}
/* An SPDK feature nvfab lacks: accepted only with the value that means "off" (def, as JSON
 * text, e.g. "false" or "0"), refused otherwise. */
#define RPC_COMPAT_DEFAULT(n, jtype, def, reason)                                         \
	{.name = (n), .type = RPC_PARAM_COMPAT, .optional = true, .compat_type = (jtype), \
	 .compat_default = (def), .why = (reason)}

/*
 * Decodes params (an object, or NULL when the call had none) into out. Unknown keys are
 * rejected like SPDK does. On failure replies with RPC_ERROR_INVALID_PARAMS naming the field,
 * and returns -EINVAL: the handler just returns.
 */
int rpc_decode_params(struct rpc_request *req, struct json_object *params,
		      const struct rpc_param *spec, size_t nspec, void *out);
#define RPC_DECODE(req, params, spec, out) \
	rpc_decode_params((req), (params), (spec), sizeof(spec) / sizeof((spec)[0]), (out))

/*
 * A list of names (["sha256", "sha512"]) as a bit per ID, id_of giving the ID of a name (-1 if
 * unknown). An empty list is refused: it would allow nothing. 0, or the error has been replied.
 */
int rpc_decode_name_mask(struct rpc_request *req, struct json_object *list, const char *param,
			 int (*id_of)(const char *), uint32_t *mask);
/* The names of the bits of mask, name_of(ID) (NULL: skipped). */
struct json_object *rpc_name_mask_json(uint32_t mask, const char *(*name_of)(uint8_t));

/*
 * Checks params against the compatibility table of an SPDK method that nvfab takes without
 * acting on it (rpc_spdk_settings.c), for handlers that act on some of its parameters and
 * leave the rest to the table. 0, or the error has been replied.
 */
int rpc_spdk_setting_check(struct rpc_request *req, struct json_object *params);

/* ---- server ---- */
/* Listens on a UNIX socket at path (an existing stale socket is replaced; a live one is an
 * error: -EADDRINUSE; a file that is not a socket: -EEXIST). The socket file is created with
 * the process umask, as SPDK does. */
int rpc_server_start(struct evloop *loop, const char *path);
/* Closes every client and the socket, and removes the socket file. On the loop's thread
 * (also from a handler), or after the loop has stopped; the loop must run an iteration or be
 * destroyed afterwards so that closed clients are freed. */
void rpc_server_stop(void);

/* ---- configuration ---- */
/* Replays a config file. Returns 0, or -errno after logging which call failed and why. */
int rpc_config_load(const char *path);
/* Same, from a parsed document (used by tests and fuzzing). */
int rpc_config_load_json(struct json_object *doc);

/* A config writer appends {"method":...,"params":...} objects to the json array `calls`. */
typedef void (*rpc_config_writer_fn)(struct json_object *calls);
/* subsystem: "bdev", "nvmf", ... ; writers are emitted in registration order. */
void rpc_register_config_writer(const char *subsystem, rpc_config_writer_fn fn);
/* Builds the whole save_config document. */
struct json_object *rpc_config_save(void);

/* Runs one call in-process, synchronously (config replay, tests): returns the reply object
 * ({"result":...} or {"error":{...}}), owned by the caller. params is borrowed. */
struct json_object *rpc_call_local(const char *method, struct json_object *params);

#endif
