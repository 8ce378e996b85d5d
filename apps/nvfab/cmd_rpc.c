/* nvfab rpc: one JSON-RPC call to nvfabd, like SPDK's scripts/rpc.py. */
#include <errno.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "rpc/rpc_client.h"

#define RPC_DEFAULT_SOCK "/var/tmp/nvfab.sock"

static const char usage[] =
	"usage: nvfab rpc [-s SOCK] [-t SECONDS] METHOD [JSON_PARAMS]\n"
	"  -s, --server SOCK        the daemon's RPC socket (default " RPC_DEFAULT_SOCK ")\n"
	"  -t, --timeout SECONDS    give up after this long (default 60)\n"
	"  JSON_PARAMS              an object, e.g. '{\"name\": \"Malloc0\"}'\n"
	"examples:\n"
	"  nvfab rpc rpc_get_methods\n"
	"  nvfab rpc bdev_malloc_create '{\"name\": \"Malloc0\", \"num_blocks\": 65536, \"block_size\": 4096}'\n";

int cmd_rpc(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"server", required_argument, NULL, 's'},
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "rpc", *sock = RPC_DEFAULT_SOCK, *method;
	struct json_object *params = NULL, *reply = NULL, *error, *result;
	uint64_t timeout_s = 60;
	int opt, rc;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:s:t:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 't':
			timeout_s = cli_parse_u64(cmd, usage, "--timeout", optarg);
			if (timeout_s > 86400)
				cli_usage_error(cmd, usage, "--timeout %s: at most 86400", optarg);
			break;
		case 'h': fputs(usage, stdout); return CLI_EXIT_OK;
		default: cli_bad_option(cmd, usage, opt, argv);
		}
	}
	if (optind >= argc)
		cli_usage_error(cmd, usage, "missing METHOD");
	method = argv[optind++];
	if (optind < argc) {
		enum json_tokener_error jerr = json_tokener_success;

		params = json_tokener_parse_verbose(argv[optind++], &jerr);
		if (!params || !json_object_is_type(params, json_type_object)) {
			json_object_put(params);
			cli_usage_error(cmd, usage, "JSON_PARAMS must be a JSON object%s%s",
					jerr != json_tokener_success ? ": " : "",
					jerr != json_tokener_success ? json_tokener_error_desc(jerr) : "");
		}
	}
	if (optind < argc) {
		json_object_put(params);
		cli_usage_error(cmd, usage, "unexpected argument '%s'", argv[optind]);
	}

	rc = rpc_client_call(sock, method, params, (int)timeout_s * 1000, &reply);
	json_object_put(params);
	if (rc) {
		cli_error(cmd, "%s: %s%s", sock, strerror(-rc),
			  rc == -ENOENT || rc == -ECONNREFUSED ? " (is nvfabd running?)" : "");
		return CLI_EXIT_FAIL;
	}
	if (json_object_object_get_ex(reply, "error", &error)) {
		struct json_object *msg = NULL, *code = NULL;

		json_object_object_get_ex(error, "message", &msg);
		json_object_object_get_ex(error, "code", &code);
		cli_error(cmd, "%s: %s (code %d)", method,
			  msg ? json_object_get_string(msg) : json_object_to_json_string(error),
			  code ? json_object_get_int(code) : 0);
		json_object_put(reply);
		return CLI_EXIT_FAIL;
	}
	if (!json_object_object_get_ex(reply, "result", &result)) {
		cli_error(cmd, "%s: the reply has neither result nor error", method);
		json_object_put(reply);
		return CLI_EXIT_FAIL;
	}
	cli_print_json(json_object_get(result));
	json_object_put(reply);
	return CLI_EXIT_OK;
}
