/*
 * The method table and the JSON-RPC 2.0 request rules, matching SPDK's jsonrpc_server.c:
 *  - "jsonrpc" may be omitted, but if present must be "2.0"; "method" must be a string;
 *    "id" may be a string, a number or null; "params" may be an object, an array or null
 *    (null = no params); any other key makes the request invalid.
 *  - A request without an id, or with a null id, is a notification: a successful result is not
 *    sent, but an error is, with "id": null (SPDK does this, though JSON-RPC says otherwise).
 *  - A batch (array) is answered with an array of the non-empty replies, or nothing at all if
 *    every element was a notification; an empty batch is one Invalid Request error.
 * Where SPDK answers an invalid request with "id": null even though the id itself was fine, we
 * echo the id, which is what JSON-RPC asks and what lets a client match the reply.
 */
#include "rpc/rpc_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

static struct rpc_method_entry *g_methods;
static size_t g_nmethods, g_methods_cap;

const char *rpc_error_text(int code)
{
	switch (code) {
	case RPC_ERROR_PARSE_ERROR:
		return "Parse error";
	case RPC_ERROR_INVALID_REQUEST:
		return "Invalid request";
	case RPC_ERROR_METHOD_NOT_FOUND:
		return "Method not found";
	case RPC_ERROR_INVALID_PARAMS:
		return "Invalid parameters";
	case RPC_ERROR_INTERNAL_ERROR:
		return "Internal error";
	default:
		return "Error";
	}
}

static rpc_method_fn rpc_lookup_registered(const char *name)
{
	for (size_t i = 0; i < rpc_builtin_method_count; i++)
		if (strcmp(rpc_builtin_methods[i].name, name) == 0)
			return rpc_builtin_methods[i].fn;
	for (size_t i = 0; i < g_nmethods; i++)
		if (strcmp(g_methods[i].name, name) == 0)
			return g_methods[i].fn;
	return NULL;
}

/* A method nvfab implements wins over an SPDK setting of the same name accepted as a no-op. */
static rpc_method_fn rpc_lookup(const char *name)
{
	rpc_method_fn fn = rpc_lookup_registered(name);

	return fn ? fn : rpc_spdk_settings_lookup(name);
}

bool rpc_method_exists(const char *name)
{
	return rpc_lookup(name) != NULL;
}

void rpc_register_method(const char *name, rpc_method_fn fn)
{
	if (rpc_lookup_registered(name)) {
		/* The first registration wins; a second one is a programming error. */
		log_error("rpc: method %s registered twice; keeping the first", name);
		return;
	}
	if (g_nmethods == g_methods_cap) {
		size_t cap = g_methods_cap ? 2 * g_methods_cap : 64;
		struct rpc_method_entry *m = realloc(g_methods, cap * sizeof(*m));

		if (!m) {
			log_error("rpc: cannot register method %s: out of memory", name);
			return;
		}
		g_methods = m;
		g_methods_cap = cap;
	}
	g_methods[g_nmethods++] = (struct rpc_method_entry){.name = name, .fn = fn};
}

void rpc_for_each_method(rpc_method_visit_fn fn, void *arg)
{
	for (size_t i = 0; i < rpc_builtin_method_count; i++)
		fn(rpc_builtin_methods[i].name, arg);
	for (size_t i = 0; i < g_nmethods; i++)
		fn(g_methods[i].name, arg);
	rpc_spdk_settings_for_each(fn, arg, rpc_lookup_registered);
}

void rpc_registry_clear(void)
{
	free(g_methods);
	g_methods = NULL;
	g_nmethods = g_methods_cap = 0;
	rpc_config_writers_clear();
}

/*
 * Runs a handler and guarantees that the call is answered exactly once: returns the answer's
 * body, or NULL when the handler deferred it (req->later answers on its own, later).
 */
static struct json_object *rpc_run(struct rpc_request *req, struct json_object *params)
{
	rpc_method_fn fn = rpc_lookup(req->method);
	struct rpc_request *later;

	if (!fn) {
		rpc_reply_error(req, RPC_ERROR_METHOD_NOT_FOUND, "%s",
				rpc_error_text(RPC_ERROR_METHOD_NOT_FOUND));
		return req->body;
	}
	req->in_handler = true;
	fn(req, params);
	req->in_handler = false;
	later = req->later;
	if (later) {
		struct json_object *body = later->body;

		later->in_handler = false;
		if (!later->answered)
			return NULL;
		/* Answered before its handler returned: that is the answer now. */
		later->body = NULL;
		rpc_defer_sink_gone(later->sink);
		rpc_deferred_free(later);
		return body;
	}
	if (!req->body) {
		log_error("rpc: method %s returned without replying", req->method);
		rpc_reply_error(req, RPC_ERROR_INTERNAL_ERROR, "%s",
				rpc_error_text(RPC_ERROR_INTERNAL_ERROR));
	}
	return req->body;
}

struct json_object *rpc_call_local(const char *method, struct json_object *params)
{
	struct rpc_request req = {.method = method};

	return rpc_run(&req, params);
}

/* Wraps a body ({"result"} or {"error"}) into the response envelope; takes body, borrows id. */
static struct json_object *rpc_envelope(struct json_object *id, struct json_object *body)
{
	struct json_object *resp = body ? json_object_new_object() : NULL;

	if (!resp) {
		log_error("rpc: cannot build a response: out of memory");
		json_object_put(body);
		return NULL;
	}
	/* Same key order as SPDK: jsonrpc, id, then result or error. */
	json_object_object_add(resp, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(resp, "id", json_object_get(id));
	json_object_object_foreach(body, key, val)
		json_object_object_add(resp, key, json_object_get(val));
	json_object_put(body);
	return resp;
}

struct json_object *rpc_error_response(int code)
{
	return rpc_envelope(NULL, rpc_error_body(code, rpc_error_text(code)));
}

static bool rpc_valid_id(struct json_object *id)
{
	switch (json_object_get_type(id)) {
	case json_type_null: /* json-c represents a JSON null as a NULL pointer */
	case json_type_int:
	case json_type_double:
	case json_type_string:
		return true;
	default:
		return false;
	}
}

static bool rpc_valid_request(struct json_object *req, struct json_object **id,
			      const char **method, struct json_object **params)
{
	struct json_object *version = NULL, *m = NULL, *p = NULL, *i = NULL;
	bool ok = true, has_version = false;

	*id = NULL;
	*params = NULL;
	if (!json_object_is_type(req, json_type_object))
		return false;
	json_object_object_foreach(req, key, val) {
		if (strcmp(key, "jsonrpc") == 0) {
			version = val;
			has_version = true;
		} else if (strcmp(key, "method") == 0) {
			m = val;
		} else if (strcmp(key, "params") == 0) {
			p = val;
		} else if (strcmp(key, "id") == 0) {
			i = val;
		} else {
			ok = false;
		}
	}
	if (rpc_valid_id(i))
		*id = i;
	else
		ok = false;
	if (has_version && (!json_object_is_type(version, json_type_string) ||
			    strcmp(json_object_get_string(version), "2.0") != 0))
		ok = false;
	if (!json_object_is_type(m, json_type_string))
		ok = false;
	else
		*method = json_object_get_string(m);
	if (p && !json_object_is_type(p, json_type_object) &&
	    !json_object_is_type(p, json_type_array))
		ok = false;
	else
		*params = p;
	return ok;
}

/* The response to send for an answer's body (taken), or NULL: a notification's result. */
static struct json_object *rpc_response(struct json_object *id, struct json_object *body)
{
	if (!id && json_object_object_get_ex(body, "result", NULL)) {
		json_object_put(body); /* notification: nothing to send on success */
		return NULL;
	}
	return rpc_envelope(id, body);
}

static struct json_object *rpc_dispatch_one(struct json_object *value, struct rpc_defer_sink *sink)
{
	struct json_object *id, *params, *body;
	const char *method = NULL;
	struct rpc_request req = {.sink = sink};

	if (!rpc_valid_request(value, &id, &method, &params)) {
		log_info("rpc: invalid request");
		return rpc_envelope(id, rpc_error_body(RPC_ERROR_INVALID_REQUEST,
						       rpc_error_text(RPC_ERROR_INVALID_REQUEST)));
	}
	req.method = method;
	req.id = id;
	body = rpc_run(&req, params);
	if (!body && req.later)
		return NULL; /* deferred: sink->pending says so */
	return rpc_response(id, body);
}

struct rpc_request *rpc_defer(struct rpc_request *req)
{
	struct rpc_request *d;

	if (!req->sink || req->deferred || req->later || req->body || !req->in_handler)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d || !(d->method = strdup(req->method))) {
		free(d);
		return NULL;
	}
	d->id = json_object_get(req->id); /* the parsed request goes when the handler returns */
	d->sink = req->sink;
	d->deferred = true;
	d->in_handler = true;
	req->later = d;
	req->sink->pending = d;
	return d;
}

void rpc_deferred_free(struct rpc_request *d)
{
	json_object_put(d->id);
	json_object_put(d->body);
	free((char *)d->method);
	free(d);
}

void rpc_deferred_answered(struct rpc_request *d)
{
	struct rpc_defer_sink *sink = d->sink;
	struct json_object *resp;

	if (d->in_handler) {
		d->answered = true; /* rpc_run() takes the answer as the handler's own */
		return;
	}
	resp = rpc_response(d->id, d->body);
	d->body = NULL;
	if (sink) {
		sink->pending = NULL;
		sink->deliver(sink, resp);
	} else {
		log_info("rpc: %s answered after its client left", d->method);
		json_object_put(resp);
	}
	rpc_deferred_free(d);
}

void rpc_defer_sink_gone(struct rpc_defer_sink *sink)
{
	if (sink && sink->pending) {
		sink->pending->sink = NULL;
		sink->pending = NULL;
	}
}

static struct json_object *rpc_dispatch_batch(struct json_object *batch)
{
	size_t n = json_object_array_length(batch);
	struct json_object *replies;

	if (n == 0)
		return rpc_error_response(RPC_ERROR_INVALID_REQUEST);
	replies = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		/* A batch is answered as one array: none of its calls can wait. */
		struct json_object *r = rpc_dispatch_one(json_object_array_get_idx(batch, i), NULL);

		if (r)
			json_object_array_add(replies, r);
	}
	if (json_object_array_length(replies) == 0) {
		json_object_put(replies);
		return NULL;
	}
	return replies;
}

struct json_object *rpc_dispatch_value(struct json_object *value, struct rpc_defer_sink *sink)
{
	if (json_object_is_type(value, json_type_array))
		return rpc_dispatch_batch(value);
	return rpc_dispatch_one(value, sink);
}
