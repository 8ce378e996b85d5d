/* rpc_decode_params: types, ranges, required/unknown keys, and the messages clients see. */
#include "rpc_test_util.h"

#include <errno.h>

#include "rpc/rpc_internal.h"

struct t_params {
	char name[16];
	uint64_t num_blocks;
	uint32_t block_size;
	bool has_block_size;
	bool enabled;
	int32_t delta;
	struct json_object *opts;
	struct json_object *list;
};

static const struct rpc_param t_spec[] = {
	{"name", RPC_PARAM_STRING, offsetof(struct t_params, name), 16, false, 0},
	{"num_blocks", RPC_PARAM_UINT64, offsetof(struct t_params, num_blocks), 0, false, 0},
	{"block_size", RPC_PARAM_UINT32, offsetof(struct t_params, block_size), 0, true,
	 offsetof(struct t_params, has_block_size)},
	{"enabled", RPC_PARAM_BOOL, offsetof(struct t_params, enabled), 0, true, 0},
	{"delta", RPC_PARAM_INT32, offsetof(struct t_params, delta), 0, true, 0},
	{"opts", RPC_PARAM_OBJECT, offsetof(struct t_params, opts), 0, true, 0},
	{"list", RPC_PARAM_ARRAY, offsetof(struct t_params, list), 0, true, 0},
};

/* Decodes text; returns the rc and leaves any error reply in *body (caller frees). */
static int t_decode(const char *text, struct t_params *out, struct json_object **params,
		    struct json_object **body)
{
	struct rpc_request req = {.method = "test"};
	int rc;

	*params = text ? t_parse(text) : NULL;
	memset(out, 0, sizeof(*out));
	rc = rpc_decode_params(&req, *params, t_spec, RPC_COUNTOF(t_spec), out);
	*body = req.body;
	return rc;
}

/* Expects decoding to fail with message. */
static void t_expect_error(const char *text, const char *message)
{
	struct json_object *params, *body;
	struct t_params p;

	assert_int_equal(t_decode(text, &p, &params, &body), -EINVAL);
	assert_non_null(body);
	assert_int_equal(t_error_code(body), RPC_ERROR_INVALID_PARAMS);
	assert_string_equal(t_error_message(body), message);
	json_object_put(body);
	json_object_put(params);
}

static void t_expect_ok(const char *text, struct t_params *p)
{
	struct json_object *params, *body;

	assert_int_equal(t_decode(text, p, &params, &body), 0);
	assert_null(body);
	json_object_put(params);
}

static void test_all_fields(void **state)
{
	struct json_object *params, *body;
	struct t_params p;

	(void)state;
	assert_int_equal(t_decode("{\"name\":\"Malloc0\",\"num_blocks\":18446744073709551615,"
				  "\"block_size\":4096,\"enabled\":true,\"delta\":-2147483648,"
				  "\"opts\":{\"a\":1},\"list\":[1,2]}", &p, &params, &body), 0);
	assert_null(body);
	assert_string_equal(p.name, "Malloc0");
	assert_true(p.num_blocks == UINT64_MAX);
	assert_int_equal(p.block_size, 4096);
	assert_true(p.has_block_size);
	assert_true(p.enabled);
	assert_int_equal(p.delta, INT32_MIN);
	assert_true(json_object_is_type(p.opts, json_type_object));
	assert_int_equal(json_object_array_length(p.list), 2);
	json_object_put(params);
}

static void test_optional_absent(void **state)
{
	struct t_params p;

	(void)state;
	t_expect_ok("{\"name\":\"a\",\"num_blocks\":1}", &p);
	assert_false(p.has_block_size);
	assert_int_equal(p.block_size, 0);
	assert_null(p.opts);
}

static void test_missing_required(void **state)
{
	(void)state;
	t_expect_error("{\"num_blocks\":1}", "Missing required parameter 'name'");
	/* No params at all is the same as an empty object. */
	t_expect_error(NULL, "Missing required parameter 'name'");
}

static void test_unknown_key(void **state)
{
	(void)state;
	t_expect_error("{\"name\":\"a\",\"num_blocks\":1,\"foo\":2}", "Unknown parameter 'foo'");
	/* A misspelling is reported as such, not as the missing name it stands for. */
	t_expect_error("{\"nmae\":\"a\",\"num_blocks\":1}", "Unknown parameter 'nmae'");
}

static void test_wrong_type(void **state)
{
	(void)state;
	t_expect_error("{\"name\":\"a\",\"num_blocks\":\"10\"}",
		       "Invalid parameter 'num_blocks': expected an unsigned integer");
	t_expect_error("{\"name\":1,\"num_blocks\":1}",
		       "Invalid parameter 'name': expected a string");
	t_expect_error("{\"name\":\"a\",\"num_blocks\":1,\"enabled\":1}",
		       "Invalid parameter 'enabled': expected a boolean");
	t_expect_error("{\"name\":\"a\",\"num_blocks\":1,\"opts\":[]}",
		       "Invalid parameter 'opts': expected an object");
	t_expect_error("{\"name\":\"a\",\"num_blocks\":1,\"list\":{}}",
		       "Invalid parameter 'list': expected an array");
	/* null is not a value of any type, as in SPDK. */
	t_expect_error("{\"name\":null,\"num_blocks\":1}",
		       "Invalid parameter 'name': expected a string");
	t_expect_error("[1]", "Invalid parameters: expected an object");
}

static void test_integers(void **state)
{
	struct t_params p;

	(void)state;
	t_expect_error("{\"name\":\"a\",\"num_blocks\":-1}",
		       "Invalid parameter 'num_blocks': expected an unsigned integer");
	t_expect_error("{\"name\":\"a\",\"num_blocks\":-9223372036854775808}",
		       "Invalid parameter 'num_blocks': expected an unsigned integer");
	t_expect_error("{\"name\":\"a\",\"num_blocks\":1.5}",
		       "Invalid parameter 'num_blocks': expected an unsigned integer");
	t_expect_error("{\"name\":\"a\",\"num_blocks\":1e300}",
		       "Invalid parameter 'num_blocks': expected an unsigned integer");
	t_expect_error("{\"name\":\"a\",\"num_blocks\":1,\"block_size\":4294967296}",
		       "Invalid parameter 'block_size': expected an unsigned 32-bit integer");
	t_expect_error("{\"name\":\"a\",\"num_blocks\":1,\"delta\":2147483648}",
		       "Invalid parameter 'delta': expected a 32-bit integer");
	t_expect_error("{\"name\":\"a\",\"num_blocks\":1,\"delta\":-2147483649}",
		       "Invalid parameter 'delta': expected a 32-bit integer");
	/* SPDK takes any number whose value is an integer. */
	t_expect_ok("{\"name\":\"a\",\"num_blocks\":1e3,\"block_size\":512.0,\"delta\":-0}", &p);
	assert_true(p.num_blocks == 1000);
	assert_int_equal(p.block_size, 512);
	assert_int_equal(p.delta, 0);
	t_expect_ok("{\"name\":\"a\",\"num_blocks\":9223372036854775808}", &p);
	assert_true(p.num_blocks == 9223372036854775808ull);
}

static void test_strings(void **state)
{
	struct t_params p;

	(void)state;
	t_expect_ok("{\"name\":\"123456789012345\",\"num_blocks\":1}", &p);
	assert_string_equal(p.name, "123456789012345");
	t_expect_error("{\"name\":\"1234567890123456\",\"num_blocks\":1}",
		       "Invalid parameter 'name': longer than 15 characters");
	t_expect_error("{\"name\":\"a\\u0000b\",\"num_blocks\":1}",
		       "Invalid parameter 'name': contains a NUL character");
	t_expect_ok("{\"name\":\"\",\"num_blocks\":1}", &p);
	assert_string_equal(p.name, "");
}

static void test_no_spec(void **state)
{
	struct rpc_request req = {.method = "test"};
	struct json_object *empty = t_parse("{}"), *extra = t_parse("{\"x\":1}");

	(void)state;
	assert_int_equal(rpc_decode_params(&req, NULL, NULL, 0, NULL), 0);
	assert_int_equal(rpc_decode_params(&req, empty, NULL, 0, NULL), 0);
	assert_null(req.body);
	assert_int_equal(rpc_decode_params(&req, extra, NULL, 0, NULL), -EINVAL);
	assert_string_equal(t_error_message(req.body), "Unknown parameter 'x'");
	json_object_put(req.body);
	json_object_put(empty);
	json_object_put(extra);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_fields),
		cmocka_unit_test(test_optional_absent),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_no_spec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
