/* nvfab: the NVMe/TCP host command line. A thin dispatcher; each command lives in cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static const struct cli_cmd commands[] = {
	{"discover", cmd_discover, "fetch the discovery log of a discovery controller"},
	{"identify", cmd_identify, "Identify Controller (or Namespace with -n) of a subsystem"},
	{"read", cmd_read, "read blocks of a namespace to a file or stdout"},
	{"write", cmd_write, "write blocks of a namespace from a file or stdin"},
	{"compare", cmd_compare, "compare blocks of a namespace with a file"},
	{"perf", cmd_perf, "benchmark: IOPS, bandwidth, latency percentiles (like spdk_nvme_perf)"},
	{"rpc", cmd_rpc, "call a JSON-RPC method on nvfabd"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: nvfab COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nA transport ID (-r) is SPDK's form, for example\n"
		   "  'trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:4420 subnqn:nqn.2016-06.io.spdk:cnode1'\n"
		   "'nvfab COMMAND --help' describes a command's options.\n");
}

int main(int argc, char **argv)
{
	nvfab_set_log_level(1);
	if (argc < 2) {
		fprintf(stderr, "nvfab: missing command\n");
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("nvfab " NVFAB_VERSION "\n");
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "nvfab: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return CLI_EXIT_USAGE;
}
