/* SPDK's keyring methods: keyring_file_add_key, keyring_file_remove_key, keyring_get_keys, and
 * the "keyring" section of save_config (names and paths, never key material). */
#include "keyring/keyring_rpc.h"

#include <errno.h>
#include <string.h>

#include "keyring/keyring.h"
#include "rpc/rpc.h"
#include "util/log.h"

struct key_params {
	char name[KEYRING_NAME_MAX + 1];
	char path[PATH_MAX + 1];
};

static const struct rpc_param add_key_spec[] = {
	{"name", RPC_PARAM_STRING, offsetof(struct key_params, name), KEYRING_NAME_MAX + 1, false, 0},
	{"path", RPC_PARAM_STRING, offsetof(struct key_params, path), PATH_MAX + 1, false, 0},
};

static void rpc_keyring_file_add_key(struct rpc_request *req, struct json_object *params)
{
	struct key_params p = {{0}};
	const char *why = "";
	int rc;

	if (RPC_DECODE(req, params, add_key_spec, &p))
		return;
	rc = keyring_file_add(p.name, p.path, &why);
	if (rc) {
		log_error("keyring: key %s (%s) not added: %s", p.name, p.path, why);
		rpc_reply_error(req, rc == -EEXIST ? rc : RPC_ERROR_INVALID_PARAMS,
				"key '%s' (%s): %s: %s", p.name, p.path, why, strerror(-rc));
		return;
	}
	log_notice("keyring: key %s added (%s)", p.name, p.path);
	rpc_reply_bool(req, true);
}

static const struct rpc_param remove_key_spec[] = {
	{"name", RPC_PARAM_STRING, offsetof(struct key_params, name), KEYRING_NAME_MAX + 1, false, 0},
};

static void rpc_keyring_file_remove_key(struct rpc_request *req, struct json_object *params)
{
	struct key_params p = {{0}};

	if (RPC_DECODE(req, params, remove_key_spec, &p))
		return;
	if (keyring_remove(p.name)) {
		rpc_reply_error(req, -ENODEV, "No key named '%s'", p.name);
		return;
	}
	log_notice("keyring: key %s removed", p.name);
	rpc_reply_bool(req, true);
}

static void rpc_keyring_get_keys(struct rpc_request *req, struct json_object *params)
{
	struct json_object *list;

	if (rpc_decode_params(req, params, NULL, 0, NULL))
		return;
	list = json_object_new_array();
	for (const struct keyring_key *k = keyring_first(); k; k = keyring_next(k)) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(k->name));
		json_object_object_add(o, "module", json_object_new_string("keyring_file"));
		json_object_object_add(o, "removed", json_object_new_boolean(false));
		json_object_object_add(o, "probed", json_object_new_boolean(false));
		json_object_object_add(o, "refcnt", json_object_new_int(1));
		json_object_object_add(o, "path", json_object_new_string(k->path));
		json_object_array_add(list, o);
	}
	rpc_reply(req, list);
}

static void keyring_write_config(struct json_object *calls)
{
	for (const struct keyring_key *k = keyring_first(); k; k = keyring_next(k)) {
		struct json_object *call = json_object_new_object(), *p = json_object_new_object();

		json_object_object_add(p, "name", json_object_new_string(k->name));
		json_object_object_add(p, "path", json_object_new_string(k->path));
		json_object_object_add(call, "method", json_object_new_string("keyring_file_add_key"));
		json_object_object_add(call, "params", p);
		json_object_array_add(calls, call);
	}
}

void keyring_rpc_register(void)
{
	rpc_register_method("keyring_file_add_key", rpc_keyring_file_add_key);
	rpc_register_method("keyring_file_remove_key", rpc_keyring_file_remove_key);
	rpc_register_method("keyring_get_keys", rpc_keyring_get_keys);
	/* First in save_config, as in SPDK: the nvmf section names keys. */
	rpc_register_config_writer("keyring", keyring_write_config);
}
