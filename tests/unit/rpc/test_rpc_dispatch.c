/* JSON-RPC request handling: validation, ids, notifications, batches, built-in methods. */
#include "rpc_test_util.h"

#include <errno.h>

#include "rpc/rpc_internal.h"
#include "util/log.h"

static int g_echo_calls;

static void t_echo(struct rpc_request *req, struct json_object *params)
{
	g_echo_calls++;
	rpc_reply(req, json_object_get(params));
}

static void t_noreply(struct rpc_request *req, struct json_object *params)
{
	(void)req;
	(void)params;
}

static void t_twice(struct rpc_request *req, struct json_object *params)
{
	(void)params;
	rpc_reply_bool(req, true);
	rpc_reply_error(req, RPC_ERROR_INTERNAL_ERROR, "second");
}

static void t_enoent(struct rpc_request *req, struct json_object *params)
{
	(void)params;
	rpc_reply_errno(req, -ENOENT, "bdev '%s'", "Malloc9");
}

static void t_einval(struct rpc_request *req, struct json_object *params)
{
	(void)params;
	rpc_reply_errno(req, -EINVAL, "block size %u", 7u);
}

static void t_other(struct rpc_request *req, struct json_object *params)
{
	(void)params;
	rpc_reply(req, NULL);
}

/* test_later: answered later through rpc_defer(), or now when it cannot wait;
 * test_later_now: defers, then answers before returning. */
static struct rpc_request *g_later;
static int g_later_refused;

static void t_later(struct rpc_request *req, struct json_object *params)
{
	(void)params;
	g_later = rpc_defer(req);
	if (!g_later) {
		g_later_refused++;
		rpc_reply_bool(req, false);
	}
}

static void t_later_now(struct rpc_request *req, struct json_object *params)
{
	struct rpc_request *later = rpc_defer(req);

	(void)params;
	assert_non_null(later);
	rpc_reply_error(later, -16, "busy");
}

struct t_sink {
	struct rpc_defer_sink sink;
	struct json_object *got;
	int delivered;
};

static void t_deliver(struct rpc_defer_sink *sink, struct json_object *resp)
{
	struct t_sink *s = (struct t_sink *)sink;

	s->delivered++;
	s->got = resp;
}

static int t_setup(void **state)
{
	(void)state;
	rpc_register_method("test_later", t_later);
	rpc_register_method("test_later_now", t_later_now);
	rpc_register_method("test_echo", t_echo);
	rpc_register_method("test_noreply", t_noreply);
	rpc_register_method("test_twice", t_twice);
	rpc_register_method("test_enoent", t_enoent);
	rpc_register_method("test_einval", t_einval);
	rpc_register_method("test_null", t_other);
	return 0;
}

static int t_teardown(void **state)
{
	(void)state;
	rpc_registry_clear();
	return 0;
}

/* Dispatches one message given as text; returns the response (NULL = nothing sent). */
static struct json_object *t_call(const char *text)
{
	struct json_object *req = json_tokener_parse(text), *resp;

	resp = rpc_dispatch_value(req, NULL);
	json_object_put(req);
	return resp;
}

static void t_expect_response(const char *request, const char *response)
{
	struct json_object *resp = t_call(request);
	size_t len;

	assert_non_null(resp);
	assert_string_equal(rpc_response_text(resp, &len), response);
	json_object_put(resp);
}

static void test_result_and_ids(void **state)
{
	(void)state;
	t_expect_response("{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":7,"
			  "\"params\":{\"a\":[1,\"/x\"]}}",
			  "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"a\":[1,\"/x\"]}}");
	t_expect_response("{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":\"abc\"}",
			  "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"result\":null}");
	t_expect_response("{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":1.5}",
			  "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"result\":null}");
	/* "jsonrpc" may be left out, and params null means none (SPDK). */
	t_expect_response("{\"method\":\"test_null\",\"id\":2,\"params\":null}",
			  "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":null}");
}

static void test_method_not_found(void **state)
{
	(void)state;
	t_expect_response("{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":3}",
			  "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32601,"
			  "\"message\":\"Method not found\"}}");
}

static void test_invalid_requests(void **state)
{
	static const char *const bad[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":1}",                           /* no method */
		"{\"jsonrpc\":\"2.0\",\"method\":5,\"id\":1}",              /* method not a string */
		"{\"jsonrpc\":\"1.0\",\"method\":\"test_echo\",\"id\":1}",  /* wrong version */
		"{\"jsonrpc\":null,\"method\":\"test_echo\",\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":1,\"params\":\"x\"}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":1,\"params\":3}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":1,\"extra\":0}",
	};

	(void)state;
	for (size_t i = 0; i < RPC_COUNTOF(bad); i++)
		t_expect_response(bad[i], "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32600,"
					  "\"message\":\"Invalid request\"}}");
	/* An id that is not a valid id cannot be echoed. */
	t_expect_response("{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":{}}",
			  "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,"
			  "\"message\":\"Invalid request\"}}");
	t_expect_response("{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":[1]}",
			  "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,"
			  "\"message\":\"Invalid request\"}}");
	/* Top-level values that are neither object nor array. */
	t_expect_response("5", "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,"
			       "\"message\":\"Invalid request\"}}");
	t_expect_response("\"x\"", "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,"
				   "\"message\":\"Invalid request\"}}");
	t_expect_response("null", "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,"
				  "\"message\":\"Invalid request\"}}");
}

static void test_notifications(void **state)
{
	(void)state;
	g_echo_calls = 0;
	assert_null(t_call("{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\"}"));
	assert_null(t_call("{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":null}"));
	assert_int_equal(g_echo_calls, 2);
	/* Errors are still sent, with a null id: SPDK's behaviour. */
	t_expect_response("{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}",
			  "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32601,"
			  "\"message\":\"Method not found\"}}");
}

static void test_batch(void **state)
{
	(void)state;
	t_expect_response("[{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":1},"
			  "{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\"},"
			  "{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":\"z\"},"
			  "7]",
			  "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":null},"
			  "{\"jsonrpc\":\"2.0\",\"id\":\"z\",\"error\":{\"code\":-32601,"
			  "\"message\":\"Method not found\"}},"
			  "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,"
			  "\"message\":\"Invalid request\"}}]");
	t_expect_response("[]", "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,"
				"\"message\":\"Invalid request\"}}");
	assert_null(t_call("[{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\"},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\"}]"));
}

static void test_handler_mistakes(void **state)
{
	(void)state;
	t_expect_response("{\"jsonrpc\":\"2.0\",\"method\":\"test_noreply\",\"id\":1}",
			  "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32603,"
			  "\"message\":\"Internal error\"}}");
	t_expect_response("{\"jsonrpc\":\"2.0\",\"method\":\"test_twice\",\"id\":1}",
			  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":true}");
	/* A second registration of a name keeps the first. */
	rpc_register_method("test_echo", t_noreply);
	t_expect_response("{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":1}",
			  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":null}");
}

static void test_reply_errno(void **state)
{
	(void)state;
	t_expect_response("{\"jsonrpc\":\"2.0\",\"method\":\"test_enoent\",\"id\":1}",
			  "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32603,"
			  "\"message\":\"bdev 'Malloc9': No such file or directory\"}}");
	t_expect_response("{\"jsonrpc\":\"2.0\",\"method\":\"test_einval\",\"id\":1}",
			  "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32602,"
			  "\"message\":\"block size 7: Invalid argument\"}}");
}

static bool t_array_has(struct json_object *a, const char *s)
{
	for (size_t i = 0; i < json_object_array_length(a); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(a, i)), s) == 0)
			return true;
	return false;
}

static void test_builtins(void **state)
{
	struct json_object *r, *result, *fields, *v;

	(void)state;
	r = rpc_call_local("rpc_get_methods", NULL);
	assert_true(json_object_object_get_ex(r, "result", &result));
	assert_false(json_object_object_get_ex(r, "jsonrpc", NULL));
	assert_true(t_array_has(result, "rpc_get_methods"));
	assert_true(t_array_has(result, "spdk_get_version"));
	assert_true(t_array_has(result, "framework_wait_init"));
	assert_true(t_array_has(result, "save_config"));
	assert_true(t_array_has(result, "test_echo"));
	json_object_put(r);

	v = t_parse("{\"current\":true,\"include_aliases\":false}");
	r = rpc_call_local("rpc_get_methods", v);
	assert_int_equal(t_error_code(r), 0);
	json_object_put(r);
	json_object_put(v);
	v = t_parse("{\"current\":1}");
	r = rpc_call_local("rpc_get_methods", v);
	assert_int_equal(t_error_code(r), RPC_ERROR_INVALID_PARAMS);
	assert_string_equal(t_error_message(r), "Invalid parameter 'current': expected a boolean");
	json_object_put(r);
	json_object_put(v);

	r = rpc_call_local("spdk_get_version", NULL);
	assert_true(json_object_object_get_ex(r, "result", &result));
	assert_true(json_object_object_get_ex(result, "version", &v));
	assert_string_equal(json_object_get_string(v), "nvfab 0.1.0");
	assert_true(json_object_object_get_ex(result, "fields", &fields));
	assert_true(json_object_object_get_ex(fields, "major", &v));
	assert_int_equal(json_object_get_int(v), 0);
	assert_true(json_object_object_get_ex(fields, "minor", &v));
	assert_int_equal(json_object_get_int(v), 1);
	assert_true(json_object_object_get_ex(fields, "patch", &v));
	assert_int_equal(json_object_get_int(v), 0);
	assert_true(json_object_object_get_ex(fields, "suffix", &v));
	assert_string_equal(json_object_get_string(v), "");
	json_object_put(r);
	v = t_parse("{}");
	r = rpc_call_local("spdk_get_version", v);
	assert_string_equal(t_error_message(r), "spdk_get_version method requires no parameters");
	json_object_put(r);
	json_object_put(v);

	t_expect_response("{\"jsonrpc\":\"2.0\",\"method\":\"framework_wait_init\",\"id\":1}",
			  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":true}");
	t_expect_response("{\"jsonrpc\":\"2.0\",\"method\":\"save_config\",\"id\":1}",
			  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"subsystems\":[]}}");
	t_expect_response("{\"jsonrpc\":\"2.0\",\"method\":\"framework_get_config\",\"id\":1,"
			  "\"params\":{\"name\":\"bdev\"}}",
			  "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32602,"
			  "\"message\":\"Subsystem 'bdev' not found\"}}");
}

static void test_local_call(void **state)
{
	struct json_object *p = t_parse("{\"k\":\"v\"}"), *r;
	size_t len;

	(void)state;
	r = rpc_call_local("test_echo", p);
	assert_string_equal(rpc_response_text(r, &len), "{\"result\":{\"k\":\"v\"}}");
	json_object_put(r);
	r = rpc_call_local("nope", p);
	assert_string_equal(rpc_response_text(r, &len),
			    "{\"error\":{\"code\":-32601,\"message\":\"Method not found\"}}");
	json_object_put(r);
	json_object_put(p);
}

static void test_stream_and_parse_errors(void **state)
{
	static const char two[] = "{\"a\":1}  {\"b\":\n2} 17 ";
	struct json_object *v;
	struct rpc_stream s;
	size_t used, off = 0;
	size_t len;
	int n = 0, rc;

	(void)state;
	assert_int_equal(rpc_stream_init(&s, 1000, 10), 0);
	/* Byte by byte: values complete exactly when their last byte arrives. */
	while (off < sizeof(two) - 1) {
		rc = rpc_stream_feed(&s, two + off, 1, &used, &v);
		assert_int_equal(used, 1);
		off += used;
		if (rc == 1) {
			n++;
			json_object_put(v);
		}
	}
	assert_int_equal(n, 3);
	rc = rpc_stream_feed(&s, "{]", 2, &used, &v);
	assert_int_equal(rc, -EBADMSG);
	rpc_stream_fini(&s);

	/* Too many values, too many bytes. */
	assert_int_equal(rpc_stream_init(&s, 1000, 10), 0);
	rc = rpc_stream_feed(&s, "[1,2,3,4,5,6,7,8,9,10,11]", 25, &used, &v);
	assert_int_equal(rc, -EMSGSIZE);
	rpc_stream_fini(&s);
	assert_int_equal(rpc_stream_init(&s, 10, 0), 0);
	rc = rpc_stream_feed(&s, "\"0123456789", 11, &used, &v);
	assert_int_equal(rc, -EMSGSIZE);
	rpc_stream_fini(&s);
	/* Commas inside strings are not values. */
	assert_int_equal(rpc_stream_init(&s, 1000, 3), 0);
	rc = rpc_stream_feed(&s, "[\",,,,\\\",,,\", 1]", 17, &used, &v);
	assert_int_equal(rc, 1);
	json_object_put(v);
	rpc_stream_fini(&s);

	v = rpc_error_response(RPC_ERROR_PARSE_ERROR);
	assert_string_equal(rpc_response_text(v, &len),
			    "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,"
			    "\"message\":\"Parse error\"}}");
	json_object_put(v);
}

static void test_fuzz_entry(void **state)
{
	static const char *const inputs[] = {
		"{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":1}{\"method\":\"nope\"}",
		"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
		"{\"method\":\"save_config\",\"id\":1,\"params\":{\"x\":\"\\ud800\"}}",
		"\xff\xfe{}",
		"",
	};

	(void)state;
	for (size_t i = 0; i < RPC_COUNTOF(inputs); i++)
		assert_int_equal(rpc_fuzz_one((const uint8_t *)inputs[i], strlen(inputs[i])), 0);
}

static struct json_object *t_call_sink(const char *text, struct t_sink *s)
{
	struct json_object *req = json_tokener_parse(text), *resp;

	resp = rpc_dispatch_value(req, &s->sink);
	json_object_put(req); /* a deferred call keeps what it needs */
	return resp;
}

static void test_deferred_answers(void **state)
{
	struct t_sink s = {.sink = {.deliver = t_deliver}};
	struct json_object *resp;
	size_t len;

	(void)state;
	/* Deferred: nothing now, the connection waits; the answer carries the request's id. */
	assert_null(t_call_sink("{\"method\":\"test_later\",\"id\":\"x7\"}", &s));
	assert_non_null(g_later);
	assert_ptr_equal(s.sink.pending, g_later);
	assert_int_equal(s.delivered, 0);
	rpc_reply(g_later, json_object_new_int(5));
	assert_int_equal(s.delivered, 1);
	assert_null(s.sink.pending);
	assert_string_equal(rpc_response_text(s.got, &len),
			    "{\"jsonrpc\":\"2.0\",\"id\":\"x7\",\"result\":5}");
	json_object_put(s.got);

	/* A deferred notification's result: delivered as nothing, the connection goes on. */
	assert_null(t_call_sink("{\"method\":\"test_later\"}", &s));
	rpc_reply_bool(g_later, true);
	assert_int_equal(s.delivered, 2);
	assert_null(s.got);
	assert_null(s.sink.pending);

	/* Answered before the handler returned: an ordinary answer, nothing pending. */
	resp = t_call_sink("{\"method\":\"test_later_now\",\"id\":3}", &s);
	assert_non_null(resp);
	assert_string_equal(rpc_response_text(resp, &len),
			    "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-16,\"message\":\"busy\"}}");
	json_object_put(resp);
	assert_null(s.sink.pending);
	assert_int_equal(s.delivered, 2);

	/* The client leaves first: the late answer goes to nobody (and is freed). */
	assert_null(t_call_sink("{\"method\":\"test_later\",\"id\":4}", &s));
	rpc_defer_sink_gone(&s.sink);
	assert_null(s.sink.pending);
	rpc_reply_error(g_later, -110, "timed out");
	assert_int_equal(s.delivered, 2);

	/* Calls that cannot wait: in a batch, without a connection, and rpc_call_local(). */
	g_later_refused = 0;
	resp = t_call_sink("[{\"method\":\"test_later\",\"id\":1}]", &s);
	assert_string_equal(rpc_response_text(resp, &len),
			    "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":false}]");
	json_object_put(resp);
	json_object_put(t_call("{\"method\":\"test_later\",\"id\":1}"));
	json_object_put(rpc_call_local("test_later", NULL));
	assert_int_equal(g_later_refused, 3);
	assert_null(s.sink.pending);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_result_and_ids),
		cmocka_unit_test(test_method_not_found),
		cmocka_unit_test(test_invalid_requests),
		cmocka_unit_test(test_notifications),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_handler_mistakes),
		cmocka_unit_test(test_reply_errno),
		cmocka_unit_test(test_builtins),
		cmocka_unit_test(test_local_call),
		cmocka_unit_test(test_deferred_answers),
		cmocka_unit_test(test_stream_and_parse_errors),
		cmocka_unit_test(test_fuzz_entry),
	};

	log_set_level(LOG_WARN);
	return cmocka_run_group_tests(tests, t_setup, t_teardown);
}
