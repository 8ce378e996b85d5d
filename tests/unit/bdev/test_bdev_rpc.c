/* bdev JSON-RPC methods through the in-process dispatch, and save_config round trips. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bdev_test.h"
#include "bdev/bdev_rpc.h"
#include "rpc/rpc.h"

static char tmpdir[64];
static char filepath[128];

static struct json_object *call(const char *method, const char *params_json)
{
	struct json_object *params = params_json ? json_tokener_parse(params_json) : NULL;
	struct json_object *reply;

	if (params_json)
		assert_non_null(params);
	reply = rpc_call_local(method, params);
	json_object_put(params);
	assert_non_null(reply);
	return reply;
}

/* The result of a call expected to succeed (owned by reply). */
static struct json_object *result_of(struct json_object *reply)
{
	struct json_object *r = NULL;

	if (!json_object_object_get_ex(reply, "result", &r))
		fail_msg("expected a result, got %s", json_object_to_json_string(reply));
	return r;
}

static void expect_error(const char *method, const char *params, int code, const char *text)
{
	struct json_object *reply = call(method, params), *err, *c, *m;

	if (!json_object_object_get_ex(reply, "error", &err))
		fail_msg("%s %s: expected an error, got %s", method, params,
			 json_object_to_json_string(reply));
	assert_true(json_object_object_get_ex(err, "code", &c));
	assert_true(json_object_object_get_ex(err, "message", &m));
	if (json_object_get_int(c) != code || (text && !strstr(json_object_get_string(m), text)))
		fail_msg("%s %s: got %s, expected code %d with '%s'", method, params,
			 json_object_to_json_string(err), code, text ? text : "");
	json_object_put(reply);
}

static void expect_result(const char *method, const char *params, const char *want)
{
	struct json_object *reply = call(method, params);

	assert_string_equal(json_object_get_string(result_of(reply)), want);
	json_object_put(reply);
}

static void expect_result_true(const char *method, const char *params)
{
	struct json_object *reply = call(method, params);

	assert_true(json_object_get_boolean(result_of(reply)));
	json_object_put(reply);
}

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("missing key %s in %s", key, json_object_to_json_string(o));
	return v;
}

static int group_setup(void **state)
{
	int fd;

	(void)state;
	bdev_rpc_register();
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/nvfab-bdev-rpc-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(filepath, sizeof(filepath), "%s/disk", tmpdir);
	fd = open(filepath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	bdev_destroy_all();
	unlink(filepath);
	rmdir(tmpdir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	bdev_destroy_all();
	return 0;
}

static void test_malloc_create_delete(void **state)
{
	struct json_object *reply;
	const char *auto_name;

	(void)state;
	expect_result("bdev_malloc_create", "{\"name\":\"M0\",\"num_blocks\":64,\"block_size\":512}",
		      "M0");
	reply = call("bdev_malloc_create", "{\"num_blocks\":16,\"block_size\":4096}");
	auto_name = json_object_get_string(result_of(reply));
	assert_int_equal(strncmp(auto_name, "Malloc", 6), 0);
	assert_non_null(bdev_lookup(auto_name));
	json_object_put(reply);
	/* SPDK's optional knobs are accepted when they ask for nothing */
	expect_result("bdev_malloc_create",
		      "{\"name\":\"M1\",\"num_blocks\":8,\"block_size\":4096,\"uuid\":"
		      "\"0b6e2d6c-3f1a-4c55-9a3e-7c1f1d0a5b11\",\"optimal_io_boundary\":0,"
		      "\"md_size\":0,\"dif_type\":0,\"physical_block_size\":4096}", "M1");
	assert_non_null(bdev_lookup("0b6e2d6c-3f1a-4c55-9a3e-7c1f1d0a5b11"));

	expect_error("bdev_malloc_create", "{\"name\":\"M0\",\"num_blocks\":64,\"block_size\":512}",
		     -EEXIST, "File exists");
	expect_error("bdev_malloc_create", "{\"name\":\"M2\",\"num_blocks\":0,\"block_size\":512}",
		     RPC_ERROR_INVALID_PARAMS, "num_blocks");
	expect_error("bdev_malloc_create", "{\"name\":\"M2\",\"num_blocks\":8,\"block_size\":1000}",
		     RPC_ERROR_INVALID_PARAMS, "block_size");
	expect_error("bdev_malloc_create", "{\"name\":\"M2\",\"block_size\":512}",
		     RPC_ERROR_INVALID_PARAMS, "num_blocks");
	expect_error("bdev_malloc_create", "{\"name\":\"M2\",\"num_blocks\":8,\"block_size\":512,"
		     "\"md_size\":8}", RPC_ERROR_INVALID_PARAMS, "md_size");
	expect_error("bdev_malloc_create", "{\"name\":\"M2\",\"num_blocks\":8,\"block_size\":512,"
		     "\"bogus\":1}", RPC_ERROR_INVALID_PARAMS, "bogus");
	expect_error("bdev_malloc_create", "{\"name\":\"M2\",\"num_blocks\":8,\"block_size\":512,"
		     "\"uuid\":\"nope\"}", RPC_ERROR_INVALID_PARAMS, "uuid");
	assert_null(bdev_lookup("M2")); /* nothing half-created */

	expect_result_true("bdev_malloc_delete", "{\"name\":\"M0\"}");
	assert_null(bdev_lookup("M0"));
	expect_error("bdev_malloc_delete", "{\"name\":\"M0\"}", -ENODEV, "No such device");
	expect_error("bdev_malloc_delete", "{}", RPC_ERROR_INVALID_PARAMS, "name");
}

static void test_null_create_delete(void **state)
{
	(void)state;
	expect_result("bdev_null_create", "{\"name\":\"N0\",\"num_blocks\":262144,"
		      "\"block_size\":4096}", "N0");
	expect_error("bdev_null_create", "{\"num_blocks\":8,\"block_size\":512}",
		     RPC_ERROR_INVALID_PARAMS, "name");
	/* each module deletes only its own bdevs, like SPDK */
	expect_error("bdev_malloc_delete", "{\"name\":\"N0\"}", -ENODEV, "No such device");
	bdev_lookup("N0")->claims = 1;
	expect_error("bdev_null_delete", "{\"name\":\"N0\"}", -EBUSY, NULL);
	bdev_lookup("N0")->claims = 0;
	/* SPDK's bdev_null_resize: MiB, grows only, null bdevs only */
	expect_result_true("bdev_null_resize", "{\"name\":\"N0\",\"new_size\":2048}");
	assert_int_equal(bdev_lookup("N0")->num_blocks, 2048 * 256);
	expect_error("bdev_null_resize", "{\"name\":\"N0\",\"new_size\":1024}",
		     RPC_ERROR_INVALID_PARAMS, "smaller");
	expect_error("bdev_null_resize", "{\"name\":\"N0\"}", RPC_ERROR_INVALID_PARAMS, "new_size");
	expect_error("bdev_null_resize", "{\"name\":\"X\",\"new_size\":1}", -ENODEV,
		     "No such device");
	expect_error("bdev_uring_rescan", "{\"name\":\"N0\"}", -ENODEV, "No such device");
	expect_result_true("bdev_null_delete", "{\"name\":\"N0\"}");
	assert_null(bdev_first());
}

static void test_file_create_delete(void **state)
{
	char params[256];

	(void)state;
	snprintf(params, sizeof(params), "{\"name\":\"U0\",\"filename\":\"%s\"}", filepath);
	expect_result("bdev_uring_create", params, "U0");
	snprintf(params, sizeof(params), "{\"name\":\"A0\",\"filename\":\"%s\",\"block_size\":4096,"
		 "\"readonly\":false,\"fallocate\":true}", filepath);
	expect_result("bdev_aio_create", params, "A0");
	assert_int_equal(bdev_lookup("A0")->block_size, 4096);
	assert_int_equal(bdev_lookup("U0")->block_size, 512);

	snprintf(params, sizeof(params), "{\"name\":\"A1\",\"filename\":\"%s\",\"readonly\":true}",
		 filepath);
	expect_error("bdev_aio_create", params, RPC_ERROR_INVALID_PARAMS, "readonly");
	expect_error("bdev_uring_create", "{\"name\":\"U1\",\"filename\":\"/nonexistent/x\"}",
		     -ENOENT, "/nonexistent/x");
	snprintf(params, sizeof(params), "{\"name\":\"U1\",\"filename\":\"%s\",\"block_size\":"
		 "768}", filepath);
	expect_error("bdev_uring_create", params, RPC_ERROR_INVALID_PARAMS, "block_size");
	snprintf(params, sizeof(params), "{\"name\":\"U0\",\"filename\":\"%s\"}", filepath);
	expect_error("bdev_uring_create", params, -EEXIST, "File exists");
	expect_error("bdev_uring_create", "{\"name\":\"U1\"}", RPC_ERROR_INVALID_PARAMS,
		     "filename");

	/* rescans: the file's size again (unchanged here), each method its own flavor */
	expect_result_true("bdev_uring_rescan", "{\"name\":\"U0\"}");
	expect_result_true("bdev_aio_rescan", "{\"name\":\"A0\"}");
	expect_error("bdev_aio_rescan", "{\"name\":\"U0\"}", -ENODEV, "No such device");
	expect_error("bdev_uring_delete", "{\"name\":\"A0\"}", -ENODEV, NULL);
	expect_result_true("bdev_aio_delete", "{\"name\":\"A0\"}");
	expect_result_true("bdev_uring_delete", "{\"name\":\"U0\"}");
	assert_null(bdev_first());
}

static void test_get_bdevs(void **state)
{
	struct json_object *reply, *list, *b, *types, *drv;
	char params[256];

	(void)state;
	expect_result("bdev_malloc_create", "{\"name\":\"M0\",\"num_blocks\":64,\"block_size\":512,"
		      "\"uuid\":\"0b6e2d6c-3f1a-4c55-9a3e-7c1f1d0a5b11\"}", "M0");
	snprintf(params, sizeof(params), "{\"name\":\"U0\",\"filename\":\"%s\"}", filepath);
	expect_result("bdev_uring_create", params, "U0");
	bdev_lookup("U0")->claims = 1;

	reply = call("bdev_get_bdevs", NULL);
	list = result_of(reply);
	assert_int_equal(json_object_array_length(list), 2);
	b = json_object_array_get_idx(list, 0);
	assert_string_equal(json_object_get_string(get(b, "name")), "M0");
	assert_string_equal(json_object_get_string(get(b, "product_name")), "Malloc disk");
	assert_int_equal(json_object_get_int(get(b, "block_size")), 512);
	assert_int_equal(json_object_get_int64(get(b, "num_blocks")), 64);
	assert_string_equal(json_object_get_string(get(b, "uuid")),
			    "0b6e2d6c-3f1a-4c55-9a3e-7c1f1d0a5b11");
	assert_string_equal(json_object_get_string(json_object_array_get_idx(get(b, "aliases"), 0)),
			    "0b6e2d6c-3f1a-4c55-9a3e-7c1f1d0a5b11");
	assert_int_equal(json_object_get_int(get(get(b, "assigned_rate_limits"),
						 "rw_ios_per_sec")), 0);
	assert_false(json_object_get_boolean(get(b, "claimed")));
	assert_false(json_object_get_boolean(get(b, "zoned")));
	types = get(b, "supported_io_types");
	assert_true(json_object_get_boolean(get(types, "read")));
	assert_true(json_object_get_boolean(get(types, "write_zeroes")));
	assert_true(json_object_get_boolean(get(types, "unmap")));
	assert_true(json_object_get_boolean(get(types, "flush")));
	assert_false(json_object_get_boolean(get(types, "compare")));
	assert_false(json_object_get_boolean(get(types, "nvme_admin")));
	assert_int_equal(json_object_object_length(get(b, "driver_specific")), 0);

	b = json_object_array_get_idx(list, 1);
	assert_string_equal(json_object_get_string(get(b, "product_name")), "URING bdev");
	assert_true(json_object_get_boolean(get(b, "claimed")));
	assert_string_equal(json_object_get_string(get(b, "claim_type")), "exclusive_write");
	drv = get(get(b, "driver_specific"), "uring");
	assert_string_equal(json_object_get_string(get(drv, "filename")), filepath);
	json_object_put(reply);
	bdev_lookup("U0")->claims = 0;

	reply = call("bdev_get_bdevs", "{\"name\":\"0b6e2d6c-3f1a-4c55-9a3e-7c1f1d0a5b11\"}");
	list = result_of(reply);
	assert_int_equal(json_object_array_length(list), 1);
	assert_string_equal(json_object_get_string(get(json_object_array_get_idx(list, 0), "name")),
			    "M0");
	json_object_put(reply);
	reply = call("bdev_get_bdevs", "{\"name\":\"U0\",\"timeout\":1000}");
	assert_int_equal(json_object_array_length(result_of(reply)), 1);
	json_object_put(reply);

	expect_error("bdev_get_bdevs", "{\"name\":\"nope\"}", -ENODEV, "No such device");
	expect_error("bdev_get_bdevs", "{\"name\":5}", RPC_ERROR_INVALID_PARAMS, "name");
	expect_result_true("bdev_wait_for_examine", NULL);
	expect_error("bdev_wait_for_examine", "{\"x\":1}", RPC_ERROR_INVALID_PARAMS, NULL);
}

/* save_config, destroy everything, load: the same bdevs come back, UUIDs included. */
static void test_save_load_config(void **state)
{
	struct json_object *doc, *before, *after, *reply;
	char params[256];

	(void)state;
	expect_result("bdev_malloc_create", "{\"name\":\"M0\",\"num_blocks\":64,\"block_size\":512}",
		      "M0");
	expect_result("bdev_null_create", "{\"name\":\"N0\",\"num_blocks\":1024,"
		      "\"block_size\":4096}", "N0");
	snprintf(params, sizeof(params), "{\"name\":\"U0\",\"filename\":\"%s\",\"block_size\":"
		 "4096}", filepath);
	expect_result("bdev_uring_create", params, "U0");
	snprintf(params, sizeof(params), "{\"name\":\"A0\",\"filename\":\"%s\"}", filepath);
	expect_result("bdev_aio_create", params, "A0");

	reply = call("bdev_get_bdevs", NULL);
	before = json_object_get(result_of(reply));
	json_object_put(reply);
	doc = rpc_config_save();
	assert_non_null(doc);

	bdev_destroy_all();
	assert_null(bdev_first());
	assert_int_equal(rpc_config_load_json(doc), 0);

	reply = call("bdev_get_bdevs", NULL);
	after = json_object_get(result_of(reply));
	json_object_put(reply);
	if (!json_object_equal(before, after)) {
		fprintf(stderr, "before: %s\nafter:  %s\n", json_object_to_json_string(before),
			json_object_to_json_string(after));
		fail_msg("config round trip differs");
	}
	json_object_put(before);
	json_object_put(after);
	json_object_put(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_malloc_create_delete, teardown),
		cmocka_unit_test_teardown(test_null_create_delete, teardown),
		cmocka_unit_test_teardown(test_file_create_delete, teardown),
		cmocka_unit_test_teardown(test_get_bdevs, teardown),
		cmocka_unit_test_teardown(test_save_load_config, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
