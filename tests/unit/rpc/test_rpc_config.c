/* Configuration files: replay, SPDK settings accepted, error reports, save_config round trip. */
#include "rpc_test_util.h"

#include <errno.h>

#include "rpc/rpc_internal.h"
#include "util/log.h"

/* A tiny "state" the test methods configure, and the writers save. */
#define T_MAX 16
static char g_bdevs[T_MAX][32];
static int g_nbdevs;
static char g_subsys[T_MAX][64];
static int g_nsubsys;
static char g_calls[256];

struct t_name {
	char name[32];
};

static const struct rpc_param t_name_spec[] = {
	{"name", RPC_PARAM_STRING, offsetof(struct t_name, name), 32, false, 0},
};

static void t_note(const char *call)
{
	strncat(g_calls, call, sizeof(g_calls) - strlen(g_calls) - 1);
	strncat(g_calls, ";", sizeof(g_calls) - strlen(g_calls) - 1);
}

static void t_bdev_create(struct rpc_request *req, struct json_object *params)
{
	struct t_name p;

	if (rpc_decode_params(req, params, t_name_spec, 1, &p))
		return;
	t_note(p.name);
	strcpy(g_bdevs[g_nbdevs++], p.name);
	rpc_reply(req, json_object_new_string(p.name));
}

struct t_subsys {
	char nqn[64];
};

static const struct rpc_param t_subsys_spec[] = {
	{"nqn", RPC_PARAM_STRING, offsetof(struct t_subsys, nqn), 64, false, 0},
};

static void t_subsys_create(struct rpc_request *req, struct json_object *params)
{
	struct t_subsys p;

	if (rpc_decode_params(req, params, t_subsys_spec, 1, &p))
		return;
	t_note(p.nqn);
	strcpy(g_subsys[g_nsubsys++], p.nqn);
	rpc_reply_bool(req, true);
}

static void t_fail(struct rpc_request *req, struct json_object *params)
{
	(void)params;
	rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "boom");
}

/* Registered by us, though an SPDK setting nvfab also accepts as a no-op: the registered
 * method must be the one called. */
static void t_set_config(struct rpc_request *req, struct json_object *params)
{
	(void)params;
	t_note("nvmf_set_config");
	rpc_reply_bool(req, true);
}

static void t_bdev_writer(struct json_object *calls)
{
	for (int i = 0; i < g_nbdevs; i++) {
		struct json_object *c = json_object_new_object(), *p = json_object_new_object();

		json_object_object_add(p, "name", json_object_new_string(g_bdevs[i]));
		json_object_object_add(c, "method", json_object_new_string("t_bdev_create"));
		json_object_object_add(c, "params", p);
		json_object_array_add(calls, c);
	}
}

static void t_nvmf_writer(struct json_object *calls)
{
	for (int i = 0; i < g_nsubsys; i++) {
		struct json_object *c = json_object_new_object(), *p = json_object_new_object();

		json_object_object_add(p, "nqn", json_object_new_string(g_subsys[i]));
		json_object_object_add(c, "method", json_object_new_string("t_subsys_create"));
		json_object_object_add(c, "params", p);
		json_object_array_add(calls, c);
	}
}

static void t_reset_state(void)
{
	g_nbdevs = g_nsubsys = 0;
	g_calls[0] = '\0';
}

static char g_dir[] = "/tmp/nvfab-rpc-config-XXXXXX";
static char g_path[128];

static int t_setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(g_dir));
	snprintf(g_path, sizeof(g_path), "%s/config.json", g_dir);
	rpc_register_method("t_bdev_create", t_bdev_create);
	rpc_register_method("t_subsys_create", t_subsys_create);
	rpc_register_method("t_fail", t_fail);
	rpc_register_method("nvmf_set_config", t_set_config);
	rpc_register_config_writer("bdev", t_bdev_writer);
	rpc_register_config_writer("nvmf", t_nvmf_writer);
	return 0;
}

static int t_teardown(void **state)
{
	(void)state;
	unlink(g_path);
	rmdir(g_dir);
	rpc_registry_clear();
	return 0;
}

static void t_write(const char *text)
{
	FILE *f = fopen(g_path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	fclose(f);
}

/* Loads text from a file; returns rc, and the log in *log (caller frees with capture). */
static int t_load(const char *text, struct t_capture *cap)
{
	int rc;

	t_write(text);
	t_reset_state();
	t_capture_begin(cap);
	rc = rpc_config_load(g_path);
	t_capture_end(cap);
	return rc;
}

static void t_expect_failure(const char *text, const char *message)
{
	struct t_capture cap;
	char expected[512];

	bool found;

	assert_int_equal(t_load(text, &cap), -EINVAL);
	snprintf(expected, sizeof(expected), "config %s: %s", g_path, message);
	found = strstr(cap.text, expected) != NULL;
	t_capture_free(&cap);
	if (!found)
		fail_msg("expected \"%s\" in the log above", expected);
}

static const char g_spdk_doc[] =
	"{\n"
	"  /* SPDK allows comments in configuration files */\n"
	"  \"subsystems\": [\n"
	"    {\"subsystem\": \"accel\", \"config\": []},\n"
	"    {\"subsystem\": \"vmd\", \"config\": null},\n"
	"    {\"subsystem\": \"iobuf\", \"config\": [\n"
	"      {\"method\": \"iobuf_set_options\", \"params\": {\"small_pool_count\": 8192}}]},\n"
	"    {\"subsystem\": \"sock\", \"config\": [\n"
	"      {\"method\": \"sock_set_default_impl\", \"params\": {\"impl_name\": \"posix\"}},\n"
	"      {\"method\": \"sock_impl_set_options\", \"params\": {\"impl_name\": \"posix\"}}]},\n"
	"    {\"subsystem\": \"bdev\", \"config\": [\n"
	"      {\"method\": \"bdev_set_options\", \"params\": {\"bdev_io_pool_size\": 65535}},\n"
	"      {\"method\": \"t_bdev_create\", \"params\": {\"name\": \"Malloc0\"}},\n"
	"      {\"method\": \"t_bdev_create\", \"params\": {\"name\": \"Malloc1\"}},\n"
	"      {\"method\": \"bdev_wait_for_examine\"}]},\n"
	"    {\"subsystem\": \"nvmf\", \"config\": [\n"
	"      {\"method\": \"nvmf_set_max_subsystems\", \"params\": {\"max_subsystems\": 1024}},\n"
	"      {\"method\": \"nvmf_set_config\", \"params\": {\"admin_cmd_passthru\": {}}},\n"
	"      {\"method\": \"t_subsys_create\", \"params\": {\"nqn\": \"nqn.2016-06.io.spdk:cnode1\"}}\n"
	"    ]}\n"
	"  ],\n"
	"  \"ignored_by_spdk_too\": 1\n"
	"}\n";

static void test_load_spdk_document(void **state)
{
	struct t_capture cap;

	(void)state;
	log_set_level(LOG_INFO);
	assert_int_equal(t_load(g_spdk_doc, &cap), 0);
	log_set_level(LOG_WARN);
	assert_string_equal(g_calls, "Malloc0;Malloc1;nvmf_set_config;nqn.2016-06.io.spdk:cnode1;");
	/* SPDK settings with no meaning for nvfab: accepted, each parameter noted once. */
	assert_non_null(strstr(cap.text, "rpc sock_impl_set_options: parameter 'impl_name' "
					 "accepted and ignored"));
	assert_non_null(strstr(cap.text, "rpc iobuf_set_options: parameter 'small_pool_count' "
					 "accepted and ignored"));
	t_capture_free(&cap);
}

static void test_malformed_documents(void **state)
{
	(void)state;
	t_expect_failure("{\n  \"subsystems\": [\n    {\"subsystem\": \"bdev\",, }\n",
			 "line 3, column 26: invalid JSON: quoted object property name expected");
	t_expect_failure("{\"subsystems\": [", "line 1, column 17: invalid JSON: unexpected end");
	t_expect_failure("", "line 1, column 1: invalid JSON: unexpected end of file");
	t_expect_failure("{} {}", "line 1, column 4: invalid JSON: unexpected data after");
	t_expect_failure("[]", "the document must be a JSON object");
	t_expect_failure("{\"subsystems\": {}}", "'subsystems' must be an array");
	t_expect_failure("{\"subsystems\": [1]}", "subsystems[0]: expected an object");
	t_expect_failure("{\"subsystems\": [{\"subsystem\": \"bdev\"}]}",
			 "subsystems[0] (bdev): 'config' must be an array or null");
	t_expect_failure("{\"subsystems\": [{\"subsystem\": 3, \"config\": []}]}",
			 "subsystems[0]: 'subsystem' must be a string");
	t_expect_failure("{\"subsystems\": [{\"subsystem\": \"a\", \"config\": [], \"x\": 1}]}",
			 "subsystems[0]: unknown key 'x'");
	t_expect_failure("{\"subsystems\": [{\"subsystem\": \"a\", \"config\": [{\"params\": {}}]}]}",
			 "subsystems[0].config[0]: 'method' must be a string");
	t_expect_failure("{\"subsystems\": [{\"subsystem\": \"a\", \"config\": ["
			 "{\"method\": \"t_bdev_create\", \"params\": [1]}]}]}",
			 "subsystems[0].config[0] (t_bdev_create): 'params' must be an object");
	t_expect_failure("{\"subsystems\": [{\"subsystem\": \"a\", \"config\": ["
			 "{\"method\": \"t_bdev_create\", \"parms\": {}}]}]}",
			 "subsystems[0].config[0] (t_bdev_create): unknown key 'parms'");
}

static void test_failing_calls(void **state)
{
	(void)state;
	t_expect_failure("{\"subsystems\": [{\"subsystem\": \"bdev\", \"config\": ["
			 "{\"method\": \"t_bdev_create\", \"params\": {\"name\": \"A\"}}]},"
			 "{\"subsystem\": \"nvmf\", \"config\": ["
			 "{\"method\": \"t_fail\"},"
			 "{\"method\": \"t_bdev_create\", \"params\": {\"name\": \"B\"}}]}]}",
			 "subsystems[1].config[0] (t_fail): boom");
	/* Stops at the first failure. */
	assert_string_equal(g_calls, "A;");
	t_expect_failure("{\"subsystems\": [{\"subsystem\": \"bdev\", \"config\": ["
			 "{\"method\": \"bdev_malloc_create_typo\", \"params\": {}}]}]}",
			 "subsystems[0].config[0] (bdev_malloc_create_typo): Method not found");
	t_expect_failure("{\"subsystems\": [{\"subsystem\": \"bdev\", \"config\": ["
			 "{\"method\": \"t_bdev_create\", \"params\": {\"name\": 5}}]}]}",
			 "subsystems[0].config[0] (t_bdev_create): Invalid parameter 'name': "
			 "expected a string");
}

static void test_file_problems(void **state)
{
	struct t_capture cap;

	(void)state;
	t_capture_begin(&cap);
	assert_int_equal(rpc_config_load("/nonexistent/nvfab.json"), -ENOENT);
	t_capture_end(&cap);
	assert_non_null(strstr(cap.text, "config /nonexistent/nvfab.json: cannot open: "
					 "No such file or directory"));
	t_capture_free(&cap);
	t_capture_begin(&cap);
	assert_int_equal(rpc_config_load(g_dir), -EINVAL);
	t_capture_end(&cap);
	t_capture_free(&cap);
	/* No "subsystems" at all only warns, as in SPDK. */
	assert_int_equal(t_load("{}", &cap), 0);
	assert_non_null(strstr(cap.text, "no 'subsystems' key"));
	t_capture_free(&cap);
}

static void test_save_round_trip(void **state)
{
	struct json_object *saved, *reply, *result, *p;
	struct t_capture cap;
	char *first;
	size_t len;

	(void)state;
	assert_int_equal(t_load(g_spdk_doc, &cap), 0);
	t_capture_free(&cap);
	saved = rpc_config_save();
	first = strdup(rpc_response_text(saved, &len));
	assert_string_equal(first,
		"{\"subsystems\":[{\"subsystem\":\"bdev\",\"config\":["
		"{\"method\":\"t_bdev_create\",\"params\":{\"name\":\"Malloc0\"}},"
		"{\"method\":\"t_bdev_create\",\"params\":{\"name\":\"Malloc1\"}}]},"
		"{\"subsystem\":\"nvmf\",\"config\":["
		"{\"method\":\"t_subsys_create\",\"params\":{\"nqn\":\"nqn.2016-06.io.spdk:cnode1\"}}]}]}");

	/* Loading what was saved into a fresh state saves the same document again. */
	t_reset_state();
	assert_int_equal(rpc_config_load_json(saved), 0);
	json_object_put(saved);
	saved = rpc_config_save();
	assert_string_equal(rpc_response_text(saved, &len), first);
	json_object_put(saved);

	/* The save_config method, and the two methods rpc.py save_config assembles it from. */
	reply = rpc_call_local("save_config", NULL);
	assert_true(json_object_object_get_ex(reply, "result", &result));
	assert_string_equal(rpc_response_text(result, &len), first);
	json_object_put(reply);
	reply = rpc_call_local("framework_get_subsystems", NULL);
	assert_string_equal(rpc_response_text(reply, &len),
			    "{\"result\":[{\"subsystem\":\"bdev\",\"depends_on\":[]},"
			    "{\"subsystem\":\"nvmf\",\"depends_on\":[]}]}");
	json_object_put(reply);
	p = t_parse("{\"name\":\"nvmf\"}");
	reply = rpc_call_local("framework_get_config", p);
	assert_string_equal(rpc_response_text(reply, &len),
			    "{\"result\":[{\"method\":\"t_subsys_create\","
			    "\"params\":{\"nqn\":\"nqn.2016-06.io.spdk:cnode1\"}}]}");
	json_object_put(reply);
	json_object_put(p);
	free(first);
}

static void test_writers_grouped_by_subsystem(void **state)
{
	struct json_object *saved, *subsystems, *bdev, *calls;

	(void)state;
	t_reset_state();
	strcpy(g_bdevs[g_nbdevs++], "X");
	/* A second writer for "bdev", registered after "nvmf", joins the first "bdev" entry. */
	rpc_register_config_writer("bdev", t_bdev_writer);
	saved = rpc_config_save();
	assert_true(json_object_object_get_ex(saved, "subsystems", &subsystems));
	assert_int_equal(json_object_array_length(subsystems), 2);
	bdev = json_object_array_get_idx(subsystems, 0);
	assert_true(json_object_object_get_ex(bdev, "config", &calls));
	assert_int_equal(json_object_array_length(calls), 2);
	json_object_put(saved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_spdk_document),
		cmocka_unit_test(test_malformed_documents),
		cmocka_unit_test(test_failing_calls),
		cmocka_unit_test(test_file_problems),
		cmocka_unit_test(test_save_round_trip),
		cmocka_unit_test(test_writers_grouped_by_subsystem),
	};

	log_set_level(LOG_WARN);
	return cmocka_run_group_tests(tests, t_setup, t_teardown);
}
