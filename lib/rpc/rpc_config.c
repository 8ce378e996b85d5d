/*
 * Loading SPDK's JSON configuration: a list of RPC calls grouped by subsystem, replayed in
 * document order through the same dispatch as the socket (see rpc.h). SPDK's loader
 * (lib/init/json_config.c) is the model: keys other than "subsystems" in the root are ignored,
 * a missing "subsystems" only warns, every subsystem entry needs "subsystem" (a string) and
 * "config" (an array or null), every call needs "method" and may have "params" (an object), and
 * comments are allowed in the file. SPDK runs two passes (start-up methods, then
 * framework_start_init, then run-time methods); nvfab has no start-up-only state, so one pass
 * does. The first failing call stops the load.
 */
#include "rpc/rpc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

/* Larger than any sane configuration; bounds what a wrong path (a disk image) would cost. */
#define RPC_CONFIG_MAX_BYTES (64u * 1024 * 1024)

/* Checks that obj has only the allowed keys; returns the first other one, or NULL. */
static const char *rpc_config_unknown_key(struct json_object *obj, const char *a, const char *b)
{
	json_object_object_foreach(obj, key, val) {
		(void)val;
		if (strcmp(key, a) != 0 && strcmp(key, b) != 0)
			return key;
	}
	return NULL;
}

static int rpc_config_call(const char *label, size_t i, size_t j, struct json_object *call)
{
	struct json_object *m, *params = NULL, *reply, *err;
	const char *method, *bad;

	if (!json_object_is_type(call, json_type_object)) {
		log_error("config %s: subsystems[%zu].config[%zu]: expected an object", label, i, j);
		return -EINVAL;
	}
	if (!json_object_object_get_ex(call, "method", &m) ||
	    !json_object_is_type(m, json_type_string)) {
		log_error("config %s: subsystems[%zu].config[%zu]: 'method' must be a string",
			  label, i, j);
		return -EINVAL;
	}
	method = json_object_get_string(m);
	bad = rpc_config_unknown_key(call, "method", "params");
	if (bad) {
		log_error("config %s: subsystems[%zu].config[%zu] (%s): unknown key '%s'", label,
			  i, j, method, bad);
		return -EINVAL;
	}
	/* SPDK wants an object; null is accepted too, as "no params". */
	json_object_object_get_ex(call, "params", &params);
	if (params && !json_object_is_type(params, json_type_object)) {
		log_error("config %s: subsystems[%zu].config[%zu] (%s): 'params' must be an object",
			  label, i, j, method);
		return -EINVAL;
	}

	/* SPDK's framework settings are methods too (rpc_spdk_settings.c): a setting nvfab can
	 * take as it is loads, one that asks for a missing feature stops the load with its
	 * name, and so does a method nvfab does not have at all. */
	reply = rpc_call_local(method, params);
	if (json_object_object_get_ex(reply, "error", &err)) {
		struct json_object *msg = NULL;

		json_object_object_get_ex(err, "message", &msg);
		log_error("config %s: subsystems[%zu].config[%zu] (%s): %s%s", label, i, j, method,
			  msg ? json_object_get_string(msg) : "failed",
			  rpc_method_exists(method) ? "" : " (an SPDK method nvfab does not implement)");
		json_object_put(reply);
		return -EINVAL;
	}
	json_object_put(reply);
	return 0;
}

static int rpc_config_subsystem(const char *label, size_t i, struct json_object *sub)
{
	struct json_object *name, *calls;
	const char *bad;

	if (!json_object_is_type(sub, json_type_object)) {
		log_error("config %s: subsystems[%zu]: expected an object", label, i);
		return -EINVAL;
	}
	bad = rpc_config_unknown_key(sub, "subsystem", "config");
	if (bad) {
		log_error("config %s: subsystems[%zu]: unknown key '%s'", label, i, bad);
		return -EINVAL;
	}
	if (!json_object_object_get_ex(sub, "subsystem", &name) ||
	    !json_object_is_type(name, json_type_string)) {
		log_error("config %s: subsystems[%zu]: 'subsystem' must be a string", label, i);
		return -EINVAL;
	}
	if (!json_object_object_get_ex(sub, "config", &calls) ||
	    (calls && !json_object_is_type(calls, json_type_array))) {
		log_error("config %s: subsystems[%zu] (%s): 'config' must be an array or null",
			  label, i, json_object_get_string(name));
		return -EINVAL;
	}
	for (size_t j = 0; calls && j < json_object_array_length(calls); j++) {
		int rc = rpc_config_call(label, i, j, json_object_array_get_idx(calls, j));

		if (rc)
			return rc;
	}
	return 0;
}

static int rpc_config_load_doc(struct json_object *doc, const char *label)
{
	struct json_object *subsystems;

	if (!json_object_is_type(doc, json_type_object)) {
		log_error("config %s: the document must be a JSON object", label);
		return -EINVAL;
	}
	if (!json_object_object_get_ex(doc, "subsystems", &subsystems)) {
		log_warn("config %s: no 'subsystems' key, nothing to configure", label);
		return 0;
	}
	if (!json_object_is_type(subsystems, json_type_array)) {
		log_error("config %s: 'subsystems' must be an array", label);
		return -EINVAL;
	}
	for (size_t i = 0; i < json_object_array_length(subsystems); i++) {
		int rc = rpc_config_subsystem(label, i, json_object_array_get_idx(subsystems, i));

		if (rc)
			return rc;
	}
	return 0;
}

int rpc_config_load_json(struct json_object *doc)
{
	return rpc_config_load_doc(doc, "<json>");
}

static void rpc_config_position(const char *buf, size_t off, unsigned *line, unsigned *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off; i++) {
		if (buf[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

/* Parses the whole file as one JSON document, reporting where it goes wrong. */
static int rpc_config_parse(const char *path, const char *buf, size_t len,
			    struct json_object **doc)
{
	struct json_tokener *tok = json_tokener_new();
	enum json_tokener_error err;
	const char *what;
	unsigned line, col;
	size_t end;

	if (!tok)
		return -ENOMEM;
	/* Not strict: SPDK allows comments in configuration files. */
	json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
	*doc = json_tokener_parse_ex(tok, buf, (int)len);
	err = json_tokener_get_error(tok);
	end = err == json_tokener_continue ? len : json_tokener_get_parse_end(tok);
	json_tokener_free(tok);

	if (err == json_tokener_success) {
		while (end < len && (buf[end] == ' ' || buf[end] == '\t' || buf[end] == '\r' ||
				     buf[end] == '\n'))
			end++;
		if (end == len)
			return 0;
		json_object_put(*doc);
		*doc = NULL;
		what = "unexpected data after the JSON document";
	} else if (err == json_tokener_continue) {
		what = "unexpected end of file";
	} else {
		what = json_tokener_error_desc(err);
	}
	rpc_config_position(buf, end, &line, &col);
	log_error("config %s: line %u, column %u: invalid JSON: %s", path, line, col, what);
	return -EINVAL;
}

static int rpc_config_read(const char *path, char **buf, size_t *len)
{
	struct stat st;
	size_t got = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		log_error("config %s: cannot open: %s", path, strerror(-rc));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > RPC_CONFIG_MAX_BYTES) {
		rc = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
		log_error("config %s: not a regular file of at most %u bytes", path,
			  RPC_CONFIG_MAX_BYTES);
		goto out;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf) {
		rc = -ENOMEM;
		log_error("config %s: out of memory", path);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, *buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			log_error("config %s: read: %s", path, strerror(-rc));
			free(*buf);
			*buf = NULL;
			goto out;
		}
		got += (size_t)n;
	}
	(*buf)[got] = '\0';
	*len = got;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

int rpc_config_load(const char *path)
{
	struct json_object *doc;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	rc = rpc_config_read(path, &buf, &len);
	if (rc)
		return rc;
	rc = rpc_config_parse(path, buf, len, &doc);
	free(buf);
	if (rc)
		return rc;
	rc = rpc_config_load_doc(doc, path);
	json_object_put(doc);
	if (rc == 0)
		log_info("config %s: loaded", path);
	return rc;
}
