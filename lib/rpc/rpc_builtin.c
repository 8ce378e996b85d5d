/*
 * Methods that belong to the RPC layer itself. Besides rpc_get_methods and spdk_get_version
 * (lib/rpc/rpc.c in SPDK), these include the pieces SPDK's scripts need: framework_wait_init
 * (called by test scripts before configuring), and framework_get_subsystems plus
 * framework_get_config, which is how `rpc.py save_config` builds its document -- SPDK has no
 * save_config method, the script assembles it. Our own save_config method returns the same
 * document in one call.
 */
#include "rpc/rpc_internal.h"

#include <string.h>

#ifndef RPC_VERSION
#define RPC_VERSION "0.0.0"
#define RPC_VERSION_MAJOR 0
#define RPC_VERSION_MINOR 0
#define RPC_VERSION_PATCH 0
#endif

struct rpc_get_methods_params {
	bool current;         /* SPDK: only methods callable in the current state: all are */
	bool include_aliases; /* SPDK: also deprecated aliases: we register none */
};

static const struct rpc_param rpc_get_methods_spec[] = {
	{"current", RPC_PARAM_BOOL, offsetof(struct rpc_get_methods_params, current), 0, true, 0},
	{"include_aliases", RPC_PARAM_BOOL,
	 offsetof(struct rpc_get_methods_params, include_aliases), 0, true, 0},
};

static void rpc_add_name(const char *name, void *arg)
{
	json_object_array_add(arg, json_object_new_string(name));
}

static void rpc_get_methods(struct rpc_request *req, struct json_object *params)
{
	struct rpc_get_methods_params p = {0};
	struct json_object *names;

	if (rpc_decode_params(req, params, rpc_get_methods_spec, RPC_COUNTOF(rpc_get_methods_spec), &p))
		return;
	names = json_object_new_array();
	rpc_for_each_method(rpc_add_name, names);
	rpc_reply(req, names);
}

static void rpc_spdk_get_version(struct rpc_request *req, struct json_object *params)
{
	struct json_object *v, *fields;

	/* SPDK's check and wording. */
	if (params) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"spdk_get_version method requires no parameters");
		return;
	}
	v = json_object_new_object();
	fields = json_object_new_object();
	json_object_object_add(v, "version", json_object_new_string("nvfab " RPC_VERSION));
	json_object_object_add(fields, "major", json_object_new_int(RPC_VERSION_MAJOR));
	json_object_object_add(fields, "minor", json_object_new_int(RPC_VERSION_MINOR));
	json_object_object_add(fields, "patch", json_object_new_int(RPC_VERSION_PATCH));
	json_object_object_add(fields, "suffix", json_object_new_string(""));
	json_object_object_add(v, "fields", fields);
	rpc_reply(req, v);
}

/* Configuration is applied before the server listens, so init is always complete here. */
static void rpc_framework_wait_init(struct rpc_request *req, struct json_object *params)
{
	if (rpc_decode_params(req, params, NULL, 0, NULL))
		return;
	rpc_reply_bool(req, true);
}

static void rpc_save_config(struct rpc_request *req, struct json_object *params)
{
	if (rpc_decode_params(req, params, NULL, 0, NULL))
		return;
	rpc_reply(req, rpc_config_save());
}

static void rpc_add_subsystem(const char *subsystem, void *arg)
{
	struct json_object *s = json_object_new_object();

	json_object_object_add(s, "subsystem", json_object_new_string(subsystem));
	json_object_object_add(s, "depends_on", json_object_new_array());
	json_object_array_add(arg, s);
}

static void rpc_framework_get_subsystems(struct rpc_request *req, struct json_object *params)
{
	struct json_object *list;

	if (params) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"'framework_get_subsystems' requires no arguments");
		return;
	}
	list = json_object_new_array();
	rpc_config_for_each_subsystem(rpc_add_subsystem, list);
	rpc_reply(req, list);
}

struct rpc_framework_get_config_params {
	char name[64];
};

static const struct rpc_param rpc_framework_get_config_spec[] = {
	{"name", RPC_PARAM_STRING, offsetof(struct rpc_framework_get_config_params, name),
	 sizeof(((struct rpc_framework_get_config_params *)0)->name), false, 0},
};

static void rpc_framework_get_config(struct rpc_request *req, struct json_object *params)
{
	struct rpc_framework_get_config_params p;
	struct json_object *calls;

	if (rpc_decode_params(req, params, rpc_framework_get_config_spec,
			      RPC_COUNTOF(rpc_framework_get_config_spec), &p))
		return;
	calls = rpc_config_subsystem_calls(p.name);
	if (!calls) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Subsystem '%s' not found", p.name);
		return;
	}
	rpc_reply(req, calls);
}

const struct rpc_method_entry rpc_builtin_methods[] = {
	{"rpc_get_methods", rpc_get_methods},
	{"spdk_get_version", rpc_spdk_get_version},
	{"framework_wait_init", rpc_framework_wait_init},
	{"framework_get_subsystems", rpc_framework_get_subsystems},
	{"framework_get_config", rpc_framework_get_config},
	{"save_config", rpc_save_config},
};

const size_t rpc_builtin_method_count = RPC_COUNTOF(rpc_builtin_methods);
