/* nvfab read|write|compare: one synchronous transfer, like `nvme read/write/compare`. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"

#define IO_MAX_BYTES (1ull << 30) /* one buffer in memory: keep it sane */

static const char usage_fmt[] =
	"usage: nvfab %s -r TRID [-n NSID] --lba LBA --blocks N [--data FILE] [--fua] [-o normal|json]\n"
	"  -r, --trid TRID          controller (subnqn required)\n"
	"  -n, --namespace-id NSID  namespace (default 1)\n"
	"  -s, --lba, --start-block LBA  first block\n"
	"      --blocks N           number of blocks (or -c, --block-count N-1 as in nvme-cli,\n"
	"                           or -z, --data-size BYTES)\n"
	"  -d, --data FILE          %s (default/'-': %s)\n"
	"  -f, --fua                force unit access\n"
	"  -o, --output-format FMT  normal or json (a summary of the transfer)\n" CLI_CONN_HELP;

enum io_kind { IO_READ, IO_WRITE, IO_COMPARE };

static const char *kind_name(enum io_kind k)
{
	return k == IO_READ ? "read" : k == IO_WRITE ? "write" : "compare";
}

static int read_input(const char *cmd, const char *path, uint8_t *buf, size_t len)
{
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	size_t got = 0;

	if (fd < 0) {
		cli_error(cmd, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				cli_error(cmd, "reading %s: %s", path, strerror(errno));
			else
				cli_error(cmd, "%s holds %zu bytes; the transfer needs %zu", path, got, len);
			break;
		}
		got += (size_t)n;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	return got == len ? 0 : -1;
}

static int write_output(const char *cmd, const char *path, const uint8_t *buf, size_t len)
{
	int fd = strcmp(path, "-") ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
				   : STDOUT_FILENO;
	size_t done = 0;

	if (fd < 0) {
		cli_error(cmd, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	while (done < len) {
		ssize_t n = write(fd, buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cli_error(cmd, "writing %s: %s", path, strerror(errno));
			break;
		}
		done += (size_t)n;
	}
	if (fd != STDOUT_FILENO && close(fd) < 0 && done == len) {
		cli_error(cmd, "closing %s: %s", path, strerror(errno));
		return -1;
	}
	return done == len ? 0 : -1;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmd_io(int argc, char **argv, enum io_kind kind)
{
	static const struct option longopts[] = {
		{"trid", required_argument, NULL, 'r'},
		{"namespace-id", required_argument, NULL, 'n'},
		{"lba", required_argument, NULL, 's'},
		{"start-block", required_argument, NULL, 's'},
		{"blocks", required_argument, NULL, 'b'},
		{"block-count", required_argument, NULL, 'c'},
		{"data-size", required_argument, NULL, 'z'},
		{"data", required_argument, NULL, 'd'},
		{"fua", no_argument, NULL, 'f'},
		{"force-unit-access", no_argument, NULL, 'f'},
		{"output-format", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		CLI_CONN_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	const char *cmd = kind_name(kind), *data = NULL;
	char usage[2048], st[160];
	uint64_t nsid = 1, lba = 0, blocks = 0, bytes = 0;
	bool have_trid = false, have_lba = false, fua = false, json = false;
	int count_opts = 0, opt, rc = CLI_EXIT_FAIL, err;
	const struct nvfab_ns *ns;
	struct nvfab_ctrlr_opts o;
	struct nvfab_ctrlr *ctrlr;
	struct nvfab_qpair *qp;
	struct nvfab_qpair_opts qo = {.queue_size = 32};
	struct nvfab_error nerr;
	struct nvfab_cpl cpl;
	struct nvfab_trid t;
	uint8_t *buf = NULL;
	size_t len;
	double t0, elapsed;

	snprintf(usage, sizeof(usage), usage_fmt, cmd,
		 kind == IO_READ ? "where the data goes" : "the data to send",
		 kind == IO_READ ? "stdout" : "stdin");
	cli_conn_defaults(&o);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":r:n:s:c:z:d:fo:hq:I:gGv", longopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			cli_parse_trid(cmd, usage, optarg, &t);
			have_trid = true;
			break;
		case 'n':
			nsid = cli_parse_nsid(cmd, usage, optarg);
			break;
		case 's':
			lba = cli_parse_u64(cmd, usage, "--lba", optarg);
			have_lba = true;
			break;
		case 'b':
			blocks = cli_parse_u64(cmd, usage, "--blocks", optarg);
			if (blocks == 0)
				cli_usage_error(cmd, usage, "--blocks must be at least 1");
			count_opts++;
			break;
		case 'c':
			blocks = cli_parse_u64(cmd, usage, "--block-count", optarg) + 1;
			count_opts++;
			break;
		case 'z':
			bytes = cli_parse_size(cmd, usage, "--data-size", optarg);
			if (bytes == 0)
				cli_usage_error(cmd, usage, "--data-size must be positive");
			count_opts++;
			break;
		case 'd': data = optarg; break;
		case 'f': fua = true; break;
		case 'o': json = cli_parse_json_format(cmd, usage, optarg); break;
		case 'h': fputs(usage, stdout); return CLI_EXIT_OK;
		default:
			if (!cli_conn_option(cmd, usage, opt, optarg, &o))
				cli_bad_option(cmd, usage, opt, argv);
		}
	}
	if (optind < argc)
		cli_usage_error(cmd, usage, "unexpected argument '%s'", argv[optind]);
	if (!have_trid)
		cli_usage_error(cmd, usage, "missing -r TRID");
	if (!t.subnqn[0])
		cli_usage_error(cmd, usage, "the transport ID needs a subnqn");
	if (!have_lba)
		cli_usage_error(cmd, usage, "missing --lba");
	if (count_opts != 1)
		cli_usage_error(cmd, usage, "give the size once: --blocks, --block-count or --data-size");
	if (kind == IO_COMPARE && !data)
		cli_usage_error(cmd, usage, "compare needs --data FILE");
	if (!data)
		data = "-";
	if (kind == IO_READ && json && strcmp(data, "-") == 0)
		cli_usage_error(cmd, usage, "-o json prints to stdout: send the data to a file with --data");

	ctrlr = cli_connect(cmd, &t, &o);
	if (!ctrlr)
		return CLI_EXIT_FAIL;
	ns = nvfab_ctrlr_get_ns(ctrlr, (uint32_t)nsid);
	if (!ns) {
		cli_error(cmd, "namespace %llu is not active on %s", (unsigned long long)nsid, t.subnqn);
		goto out;
	}
	if (bytes) {
		if (bytes % ns->block_size) {
			cli_error(cmd, "--data-size %llu is not a multiple of the block size %u",
				  (unsigned long long)bytes, ns->block_size);
			rc = CLI_EXIT_USAGE;
			goto out;
		}
		blocks = bytes / ns->block_size;
	}
	if (blocks > IO_MAX_BYTES / ns->block_size) {
		cli_error(cmd, "%llu blocks is more than this tool moves at once (1 GiB)",
			  (unsigned long long)blocks);
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	len = (size_t)blocks * ns->block_size;
	if (posix_memalign((void **)&buf, 4096, len)) {
		cli_error(cmd, "out of memory for %zu bytes", len);
		goto out;
	}
	if (kind != IO_READ && read_input(cmd, data, buf, len))
		goto out;
	qp = nvfab_qpair_create(ctrlr, &qo, &nerr);
	if (!qp) {
		cli_error(cmd, "%s", nerr.msg);
		goto out;
	}
	t0 = now_us();
	switch (kind) {
	case IO_READ:
		err = nvfab_read_sync(qp, ns, lba, blocks, buf, fua ? NVFAB_IO_FUA : 0, &cpl);
		break;
	case IO_WRITE:
		err = nvfab_write_sync(qp, ns, lba, blocks, buf, fua ? NVFAB_IO_FUA : 0, &cpl);
		break;
	default:
		err = nvfab_compare_sync(qp, ns, lba, blocks, buf, fua ? NVFAB_IO_FUA : 0, &cpl);
		break;
	}
	elapsed = now_us() - t0;
	nvfab_qpair_destroy(qp);
	if (err) {
		if (err == -EIO || cpl.transport_err)
			cli_error(cmd, "%s", nvfab_cpl_str(&cpl, st, sizeof(st)));
		else
			cli_error(cmd, "%s", strerror(-err));
		goto out;
	}
	if (kind == IO_READ && write_output(cmd, data, buf, len))
		goto out;
	rc = CLI_EXIT_OK;
	if (json) {
		struct json_object *r = json_object_new_object();

		json_object_object_add(r, "command", json_object_new_string(cmd));
		json_object_object_add(r, "nsid", json_object_new_int64((int64_t)nsid));
		json_object_object_add(r, "lba", json_object_new_uint64(lba));
		json_object_object_add(r, "blocks", json_object_new_uint64(blocks));
		json_object_object_add(r, "bytes", json_object_new_uint64(len));
		json_object_object_add(r, "status", json_object_new_string("Success"));
		json_object_object_add(r, "elapsed_us", json_object_new_double(elapsed));
		cli_print_json(r);
	} else if (!(kind == IO_READ && strcmp(data, "-") == 0)) {
		/* nvme-cli's confirmation; a read whose data goes down a pipe stays quiet, so that
		 * `nvfab read ... | cmd` shows nothing but the data and errors. */
		fprintf(stderr, "%s: Success\n", cmd);
	}
out:
	free(buf);
	nvfab_ctrlr_disconnect(ctrlr);
	return rc;
}

int cmd_read(int argc, char **argv)
{
	return cmd_io(argc, argv, IO_READ);
}

int cmd_write(int argc, char **argv)
{
	return cmd_io(argc, argv, IO_WRITE);
}

int cmd_compare(int argc, char **argv)
{
	return cmd_io(argc, argv, IO_COMPARE);
}
