/*
 * nvfabd: the NVMe-over-TCP target daemon. Configuration is SPDK's: a JSON config file of RPC
 * calls (-c) and a JSON-RPC socket (-r) that SPDK's scripts/rpc.py can drive.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "bdev/bdev.h"
#include "bdev/bdev_rpc.h"
#include "gateway/gateway.h"
#include "gateway/gateway_rpc.h"
#include "keyring/keyring.h"
#include "keyring/keyring_rpc.h"
#include "rpc/rpc.h"
#include "target/nvmf_rpc.h"
#include "target/target.h"
#include "util/log.h"

#define DEFAULT_RPC_SOCK "/var/tmp/nvfab.sock"
#define DEFAULT_CONFIG "/etc/nvfab/nvfabd.json"
/* Adaptive polling window. Off by default: it trades CPU for latency at low depth (at QD1 a
 * reactor then polls between commands); docs/performance.md has the measurements. */
#define NVFABD_DEFAULT_POLL_US 0

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: nvfabd [options]\n"
		"\n"
		"NVMe-over-TCP target. Configure it with a JSON config file in SPDK's format, or at\n"
		"run time over JSON-RPC with `nvfab rpc` or SPDK's scripts/rpc.py.\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE     load this JSON config at start-up (SPDK format: a list of RPC calls;\n"
		"                        the packaged service uses " DEFAULT_CONFIG ")\n"
		"      --check-config FILE  check a config and exit: 0 if nvfabd would load it (listeners are\n"
		"                        checked, not opened, so the running daemon's ports do not matter)\n"
		"  -r, --rpc-socket PATH JSON-RPC UNIX socket (default " DEFAULT_RPC_SOCK ")\n"
		"  -m, --cpumask MASK    data reactor cores, hex mask like SPDK (default 0x1: one reactor on core 0)\n"
		"  -b, --busy-poll       reactors poll without sleeping: lowest latency, 100%% CPU per reactor\n"
		"      --poll-us US      without -b: after work, a reactor polls this long before it sleeps:\n"
		"                        lower latency at low depth for more CPU; it stops while most polls\n"
		"                        run out (a slow device) (default %u: sleep at once)\n"
		"  -L, --log-level LVL   error, warn, notice (default), info, debug\n"
		"  -h, --help            this text\n"
		"\n"
		"Example (a 64 MiB RAM namespace on 127.0.0.1:4420):\n"
		"  nvfabd -r /tmp/nvfab.sock &\n"
		"  nvfab rpc -s /tmp/nvfab.sock bdev_malloc_create '{\"name\":\"Malloc0\",\"num_blocks\":16384,\"block_size\":4096}'\n"
		"  nvfab rpc -s /tmp/nvfab.sock nvmf_create_subsystem '{\"nqn\":\"nqn.2026-11.io.nvfab:demo\",\"allow_any_host\":true}'\n"
		"  nvfab rpc -s /tmp/nvfab.sock nvmf_subsystem_add_ns '{\"nqn\":\"nqn.2026-11.io.nvfab:demo\",\"namespace\":{\"bdev_name\":\"Malloc0\"}}'\n"
		"  nvfab rpc -s /tmp/nvfab.sock nvmf_subsystem_add_listener '{\"nqn\":\"nqn.2026-11.io.nvfab:demo\",\n"
		"      \"listen_address\":{\"trtype\":\"TCP\",\"adrfam\":\"IPv4\",\"traddr\":\"127.0.0.1\",\"trsvcid\":\"4420\"}}'\n",
		NVFABD_DEFAULT_POLL_US);
}

static int parse_cpumask(const char *text, uint64_t *mask)
{
	char *end;
	unsigned long long v;

	if (text[0] == '[') {
		/* SPDK also takes a core list: [0,2] */
		const char *p = text + 1;

		*mask = 0;
		while (*p && *p != ']') {
			long core = strtol(p, &end, 10);

			if (end == p || core < 0 || core > 63)
				return -EINVAL;
			*mask |= 1ull << core;
			p = *end == ',' ? end + 1 : end;
		}
		return *p == ']' && p[1] == 0 && *mask ? 0 : -EINVAL;
	}
	errno = 0;
	v = strtoull(text, &end, 16);
	if (errno || *end || v == 0)
		return -EINVAL;
	*mask = v;
	return 0;
}

/* Every host connection and RPC client is a descriptor; the soft limit's usual 1024 is far
 * below what a target shared by many hosts needs, and the hard limit is what the operator
 * (or systemd's LimitNOFILE) allows. */
static void raise_fd_limit(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) || r.rlim_cur >= r.rlim_max)
		return;
	r.rlim_cur = r.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &r) == 0)
		log_info("descriptor limit raised to %llu", (unsigned long long)r.rlim_cur);
}

/* Tells systemd (Type=notify) where the daemon is; a no-op elsewhere or without libsystemd. */
static void notify(const char *state)
{
#ifdef HAVE_LIBSYSTEMD
	sd_notify(0, state);
#else
	(void)state;
#endif
}

struct daemon_state {
	struct evloop_handler sig_handler;
	int sigfd;
};

static void on_signal(void *arg, uint32_t events)
{
	struct daemon_state *d = arg;
	struct signalfd_siginfo si;

	(void)events;
	if (read(d->sigfd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP) {
		/* ExecReload. The configuration is changed over RPC while running; re-reading the
		 * file could only apply calls that create what exists already, so nothing is re-read,
		 * and saying so beats a reload that silently does half of what the file says. */
		log_notice("SIGHUP: nothing to reload; change the running configuration over RPC "
			   "(and save it with save_config)");
		notify("READY=1\nSTATUS=running; SIGHUP re-reads nothing, use RPC");
		return;
	}
	log_notice("signal %u: shutting down", si.ssi_signo);
	notify("STOPPING=1\nSTATUS=shutting down");
	evloop_stop(g_tgt.control);
}

/* --check-config: the whole load, as at start-up, then everything torn down again. */
static int check_config(const char *path)
{
	int rc;

	/* The verdict and the reason for it; not the notices of everything being created. */
	if (log_threshold == LOG_NOTICE)
		log_set_level(LOG_WARN);
	rc = tgt_init(1, false, 0);
	if (rc) {
		fprintf(stderr, "nvfabd: cannot start the target to check %s: %s\n", path, strerror(-rc));
		return 1;
	}
	g_tgt.dry_run = true;
	keyring_rpc_register();
	gw_rpc_register(g_tgt.control);
	bdev_rpc_register();
	nvmf_rpc_register();
	rc = rpc_config_load(path);
	tgt_fini();
	gw_fini();
	bdev_destroy_all();
	keyring_clear();
	if (rc) {
		fprintf(stderr, "nvfabd: %s: NOT valid (the log above says which call and why)\n", path);
		return 1;
	}
	printf("nvfabd: %s: valid\n", path);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"rpc-socket", required_argument, NULL, 'r'},
		{"cpumask", required_argument, NULL, 'm'},
		{"busy-poll", no_argument, NULL, 'b'},
		{"poll-us", required_argument, NULL, 'P'},
		{"log-level", required_argument, NULL, 'L'},
		{"check-config", required_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config = NULL, *sock = DEFAULT_RPC_SOCK, *check = NULL;
	uint64_t mask = 1;
	bool busy = false;
	uint32_t poll_us = NVFABD_DEFAULT_POLL_US;
	struct daemon_state d = {.sigfd = -1};
	sigset_t set;
	int opt, rc, status = 0;

	while ((opt = getopt_long(argc, argv, "c:r:m:bL:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'C': check = optarg; break;
		case 'r': sock = optarg; break;
		case 'm':
			if (parse_cpumask(optarg, &mask)) {
				fprintf(stderr, "nvfabd: invalid --cpumask '%s': want a hex mask like 0x3 or a list like [0,1]\n", optarg);
				return 2;
			}
			break;
		case 'b': busy = true; break;
		case 'P': {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' || v > 1000000) {
				fprintf(stderr, "nvfabd: invalid --poll-us '%s': want microseconds, 0 to 1000000\n", optarg);
				return 2;
			}
			poll_us = (uint32_t)v;
			break;
		}
		case 'L': {
			enum log_level lvl;

			if (log_level_parse(optarg, &lvl)) {
				fprintf(stderr, "nvfabd: invalid --log-level '%s': want error, warn, notice, info or debug\n", optarg);
				return 2;
			}
			log_set_level(lvl);
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "nvfabd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	if (check)
		return check_config(check);

	/* Signals arrive through the control loop; reactors inherit the blocked mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();

	/* SIGINT/SIGTERM stay blocked in every thread; the control loop reads them from here. */
	d.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d.sigfd < 0) {
		log_error("cannot watch signals: %s", strerror(errno));
		return 1;
	}
	rc = tgt_init(mask, busy, poll_us);
	if (rc) {
		log_error("cannot start the target: %s", strerror(-rc));
		close(d.sigfd);
		return 1;
	}
	if (evloop_add_fd(g_tgt.control, &d.sig_handler, d.sigfd, EPOLLIN, on_signal, &d)) {
		log_error("cannot watch signals: %s", strerror(errno));
		status = 1;
		goto out;
	}
	keyring_rpc_register();
	gw_rpc_register(g_tgt.control);
	bdev_rpc_register();
	nvmf_rpc_register();
	if (config) {
		notify("STATUS=loading the configuration");
		rc = rpc_config_load(config);
		if (rc) {
			log_error("config %s not loaded; exiting", config);
			notify("STATUS=configuration not loaded");
			status = 1;
			goto out;
		}
	}
	rc = rpc_server_start(g_tgt.control, sock);
	if (rc) {
		log_error("JSON-RPC socket %s: %s", sock, strerror(-rc));
		status = 1;
		goto out;
	}
	log_notice("nvfabd ready: %d reactor(s), %s, RPC on %s", g_tgt.nreactors,
		   busy ? "busy-poll" : "event-driven", sock);
	{
		char status[160];

		snprintf(status, sizeof(status), "READY=1\nSTATUS=serving: %d reactor(s), %s, RPC on %s",
			 g_tgt.nreactors, busy ? "busy-poll" : "event-driven", sock);
		notify(status);
	}
	evloop_run(g_tgt.control);
	rpc_server_stop();
out:
	tgt_fini();
	gw_fini();
	bdev_destroy_all();
	keyring_clear();
	if (d.sigfd >= 0)
		close(d.sigfd);
	return status;
}
