/*
 * nvfab perf: options, devices, threads, the per-second line and the end. The main thread keeps
 * the admin queues alive (Keep Alive, reconnect) while workers run the generator.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nvme/types.h>

#include "cli.h"
#include "commands.h"
#include "perf.h"

static const char usage[] =
	"usage: nvfab perf -r TRID [-r TRID...] -q DEPTH -o IO_BYTES -w WORKLOAD -t SECONDS [options]\n"
	"       nvfab perf --local SPEC [--local SPEC...] -q DEPTH -o IO_BYTES -w WORKLOAD -t SECONDS [options]\n"
	"  -r, --trid TRID          remote controller; without subnqn, every NVMe subsystem its\n"
	"                           discovery log lists\n"
	"      --local SPEC         local bdev instead: ram:SIZE_MB[:BLOCK], null:SIZE_MB[:BLOCK],\n"
	"                           file:PATH[:BLOCK] (block default 4096)\n"
	"  -n, --namespace-id NSID  only this namespace (default: all active)\n"
	"  -q, --io-depth DEPTH     I/Os in flight per device per thread\n"
	"  -o, --io-size BYTES      I/O size (4096, 4k, 128k, 1m)\n"
	"  -w, --workload W         read, write, randread, randwrite, rw, randrw\n"
	"  -M, --rwmixread PCT      reads in percent for rw/randrw (default 50)\n"
	"  -t, --time SECONDS       run time\n"
	"  -c, --threads N          worker threads (default 1, or one per --cpu/--core-mask CPU)\n"
	"  -P, --qpairs N           I/O queue pairs per device per thread (default 1)\n"
	"      --core-mask MASK     pin workers to these CPUs (hex, e.g. 0x3)\n"
	"      --cpu LIST           pin workers to these CPUs (e.g. 0,2-3)\n"
	"      --busy-poll          poll the sockets without sleeping (default)\n"
	"      --epoll              sleep in epoll on the queue pair sockets instead\n"
	"      --poll-us US         with --epoll: after completions, poll this long before sleeping\n"
	"      --verify             write a pattern with the LBA and a generation; check on reads\n"
	"      --json FILE          also write the results as JSON\n"
	"SIGINT stops the run early and prints the summary.\n"
	"connection options: --hostnqn NQN, -I/--hostid, -g/--hdr-digest, -G/--data-digest,\n"
	"  --keep-alive-tmo S, --ctrl-loss-tmo S (default 0), --reconnect-delay S,\n"
	"  --connect-timeout MS, --dhchap-secret S, --dhchap-ctrl-secret S, --tls --tls-key K,\n"
	"  -v/--verbose\n";

static volatile sig_atomic_t perf_signalled;

static void on_signal(int sig)
{
	(void)sig;
	perf_signalled = 1;
}

enum {
	OPT_LOCAL = CLI_OPT_FIRST_FREE,
	OPT_CORE_MASK,
	OPT_CPU,
	OPT_BUSY,
	OPT_EPOLL,
	OPT_POLL_US,
	OPT_VERIFY,
	OPT_JSON,
	OPT_HOSTNQN,
};

static void parse_workload(const char *w, struct perf_config *cfg)
{
	static const struct {
		const char *name;
		bool random;
		int read_pct; /* -1: mixed, from -M */
	} kinds[] = {
		{"read", false, 100}, {"write", false, 0}, {"randread", true, 100},
		{"randwrite", true, 0}, {"rw", false, -1}, {"randrw", true, -1},
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(w, kinds[i].name) == 0) {
			cfg->workload = kinds[i].name;
			cfg->random = kinds[i].random;
			cfg->read_pct = kinds[i].read_pct;
			return;
		}
	}
	cli_usage_error("perf", usage, "unknown workload '%s' (read, write, randread, randwrite, rw, randrw)",
			w);
}

static void add_cpu(struct perf_config *cfg, long cpu)
{
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);

	if (cpu < 0 || cpu >= 1024 || (ncpu > 0 && cpu >= ncpu))
		cli_usage_error("perf", usage, "CPU %ld does not exist (this machine has %ld)", cpu, ncpu);
	if (cfg->ncpus == PERF_MAX_WORKERS)
		cli_usage_error("perf", usage, "at most %d CPUs", PERF_MAX_WORKERS);
	cfg->cpus[cfg->ncpus++] = (int)cpu;
}

static void parse_core_mask(const char *s, struct perf_config *cfg)
{
	char *end;
	unsigned long long m;

	errno = 0;
	m = strtoull(s, &end, 16);
	if (errno || *end || m == 0)
		cli_usage_error("perf", usage, "--core-mask '%s' is not a non-zero hex mask", s);
	for (int b = 0; b < 64; b++)
		if (m & (1ull << b))
			add_cpu(cfg, b);
}

static void parse_cpu_list(const char *s, struct perf_config *cfg)
{
	const char *p = s;

	while (*p) {
		char *end;
		long a = strtol(p, &end, 10), b = a;

		if (end == p)
			cli_usage_error("perf", usage, "--cpu '%s': expected a list like 0,2-3", s);
		p = end;
		if (*p == '-') {
			b = strtol(p + 1, &end, 10);
			if (end == p + 1 || b < a)
				cli_usage_error("perf", usage, "--cpu '%s': bad range", s);
			p = end;
		}
		for (long c = a; c <= b; c++)
			add_cpu(cfg, c);
		if (*p == ',')
			p++;
		else if (*p)
			cli_usage_error("perf", usage, "--cpu '%s': expected a list like 0,2-3", s);
	}
}

/* Adds the namespaces of one connected controller as devices. */
static int add_ctrlr_devs(struct perf_run *run, struct nvfab_ctrlr *c, uint32_t only_nsid)
{
	const struct nvfab_trid *t = nvfab_ctrlr_trid(c);
	int added = 0;

	for (const struct nvfab_ns *ns = nvfab_ctrlr_next_ns(c, NULL); ns;
	     ns = nvfab_ctrlr_next_ns(c, ns)) {
		struct perf_dev *d;

		if (only_nsid && ns->nsid != only_nsid)
			continue;
		if (run->ndevs == PERF_MAX_DEVS) {
			cli_error("perf", "more than %d namespaces", PERF_MAX_DEVS);
			return -E2BIG;
		}
		d = &run->devs[run->ndevs++];
		memset(d, 0, sizeof(*d));
		snprintf(d->name, sizeof(d->name), "TCP (addr:%s:%s subnqn:%s) NSID %u", t->traddr,
			 t->trsvcid, t->subnqn, ns->nsid);
		d->nsid = ns->nsid;
		d->block_size = ns->block_size;
		d->num_blocks = ns->num_blocks;
		d->max_io = nvfab_ctrlr_max_xfer(c);
		d->ops = &perf_remote_ops;
		d->ns = ns;
		d->ctrlr = c;
		added++;
	}
	if (!added) {
		if (only_nsid)
			cli_error("perf", "%s has no active namespace %u", t->subnqn, only_nsid);
		else
			cli_error("perf", "%s has no active namespaces", t->subnqn);
		return -ENOENT;
	}
	return 0;
}

static int connect_one(struct perf_run *run, const struct nvfab_trid *t,
		       const struct nvfab_ctrlr_opts *o, uint32_t only_nsid)
{
	struct nvfab_ctrlr *c;

	if (run->nctrlrs == PERF_MAX_DEVS) {
		cli_error("perf", "more than %d controllers", PERF_MAX_DEVS);
		return -E2BIG;
	}
	c = cli_connect("perf", t, o);
	if (!c)
		return -ECONNREFUSED;
	run->ctrlrs[run->nctrlrs++] = c;
	return add_ctrlr_devs(run, c, only_nsid);
}

/* Discovery log strings are space padded and not always NUL terminated. */
static void copy_field(char *dst, size_t size, const char *src, size_t len)
{
	char tmp[NVME_NQN_LENGTH + 1];

	if (len > NVME_NQN_LENGTH)
		len = NVME_NQN_LENGTH;
	cli_fixed_str(tmp, src, len);
	if (strlen(tmp) >= size)
		tmp[size - 1] = '\0';
	memcpy(dst, tmp, strlen(tmp) + 1);
}

/* A transport ID without subnqn: every NVMe subsystem in its discovery log, like SPDK. */
static int connect_discovered(struct perf_run *run, const struct nvfab_trid *t,
			      const struct nvfab_ctrlr_opts *o, uint32_t only_nsid)
{
	struct nvmf_discovery_log *log;
	struct nvfab_error err;
	int found = 0, rc = 0;

	if (nvfab_discover(t, o, &log, &err)) {
		cli_error("perf", "%s", err.msg);
		return err.err;
	}
	for (uint64_t i = 0; i < log->numrec && rc == 0; i++) {
		const struct nvmf_disc_log_entry *e = &log->entries[i];
		struct nvfab_trid sub = *t;

		if (e->subtype != NVME_NQN_NVME || e->trtype != NVMF_TRTYPE_TCP)
			continue;
		copy_field(sub.traddr, sizeof(sub.traddr), e->traddr, sizeof(e->traddr));
		copy_field(sub.trsvcid, sizeof(sub.trsvcid), e->trsvcid, sizeof(e->trsvcid));
		copy_field(sub.subnqn, sizeof(sub.subnqn), e->subnqn, sizeof(e->subnqn));
		sub.adrfam = e->adrfam == NVMF_ADDR_FAMILY_IP6 ? NVFAB_ADRFAM_IPV6 : NVFAB_ADRFAM_IPV4;
		rc = connect_one(run, &sub, o, only_nsid);
		found++;
	}
	free(log);
	if (!found) {
		cli_error("perf", "the discovery log at %s:%s lists no NVMe/TCP subsystem", t->traddr,
			  t->trsvcid);
		return -ENOENT;
	}
	return rc;
}

static void live_line(struct perf_run *run, double at, uint64_t *prev_ios, uint64_t *prev_lat,
		      double dt)
{
	uint64_t ios = 0, lat = 0, dios, dlat;

	for (uint32_t w = 0; w < run->cfg.threads; w++) {
		for (uint32_t c = 0; c < run->workers[w].nchans; c++) {
			struct perf_chan *ch = &run->workers[w].chans[c];

			ios += atomic_load_explicit(&ch->live_ios, memory_order_relaxed);
			lat += atomic_load_explicit(&ch->live_lat_ns, memory_order_relaxed);
		}
	}
	dios = ios - *prev_ios;
	dlat = lat - *prev_lat;
	*prev_ios = ios;
	*prev_lat = lat;
	printf("[%5.0fs] IOPS: %12.2f  MiB/s: %10.2f  avg lat: %9.2f us\n", at, (double)dios / dt,
	       (double)dios * run->cfg.io_size / 1048576.0 / dt,
	       dios ? (double)dlat / (double)dios / 1000.0 : 0.0);
	fflush(stdout);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {0, (long)ms * 1000000L};

	nanosleep(&ts, NULL); /* a signal cuts it short: fine */
}

static int run_workers(struct perf_run *run)
{
	struct perf_config *cfg = &run->cfg;
	uint64_t t0, next_line, prev_ios = 0, prev_lat = 0, last_line;
	sigset_t block, old;
	bool lost_reported[PERF_MAX_DEVS] = {false};
	double elapsed;
	int rc = 0;
	uint32_t started = 0;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	/* Workers inherit a blocked SIGINT: the main thread alone takes it. */
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (uint32_t w = 0; w < cfg->threads; w++) {
		struct perf_worker *wk = &run->workers[w];

		if (pthread_create(&wk->thread, NULL, perf_worker_main, wk)) {
			cli_error("perf", "cannot start worker %u", w);
			atomic_store(&run->stop, true);
			rc = -EAGAIN;
			break;
		}
		started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	while (rc == 0 && atomic_load(&run->ready) + atomic_load(&run->failed) < (int)cfg->threads) {
		for (uint32_t i = 0; i < run->nctrlrs; i++)
			nvfab_ctrlr_process_admin(run->ctrlrs[i]);
		if (perf_signalled)
			break;
		sleep_ms(5);
	}
	if (atomic_load(&run->failed) || perf_signalled)
		rc = rc ? rc : -EIO;

	t0 = perf_now_ns();
	last_line = t0;
	next_line = t0 + 1000000000ull;
	if (rc == 0)
		atomic_store(&run->go, true);
	while (rc == 0 && !perf_signalled) {
		uint64_t now = perf_now_ns();
		bool any_alive = false;

		if (now - t0 >= (uint64_t)cfg->time_s * 1000000000ull)
			break;
		for (uint32_t i = 0; i < run->nctrlrs; i++) {
			if (nvfab_ctrlr_process_admin(run->ctrlrs[i]) < 0 && !lost_reported[i]) {
				lost_reported[i] = true;
				cli_error("perf", "%s", nvfab_ctrlr_last_error(run->ctrlrs[i]));
			}
		}
		if (now >= next_line) {
			live_line(run, (double)(now - t0) / 1e9, &prev_ios, &prev_lat,
				  (double)(now - last_line) / 1e9);
			last_line = now;
			next_line += 1000000000ull;
		}
		for (uint32_t w = 0; w < cfg->threads; w++)
			for (uint32_t c = 0; c < run->workers[w].nchans; c++)
				any_alive |= !run->workers[w].chans[c].dead;
		if (!any_alive)
			break;
		sleep_ms(next_line - now < 100000000ull ? (unsigned)((next_line - now) / 1000000) + 1 : 100);
	}
	atomic_store(&run->stop, true);
	elapsed = (double)(perf_now_ns() - t0) / 1e9;
	if (perf_signalled)
		printf("\nInterrupted after %.1f s\n", elapsed);
	for (uint32_t w = 0; w < started; w++) {
		/* Keep Alive goes on while workers drain. */
		while (pthread_tryjoin_np(run->workers[w].thread, NULL) == EBUSY) {
			for (uint32_t i = 0; i < run->nctrlrs; i++)
				nvfab_ctrlr_process_admin(run->ctrlrs[i]);
			sleep_ms(5);
		}
		if (run->workers[w].rc && rc == 0)
			rc = run->workers[w].rc;
	}
	if (atomic_load(&run->go))
		perf_report(run, elapsed);
	return rc;
}

int cmd_perf(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"trid", required_argument, NULL, 'r'},
		{"local", required_argument, NULL, OPT_LOCAL},
		{"namespace-id", required_argument, NULL, 'n'},
		{"io-depth", required_argument, NULL, 'q'},
		{"io-size", required_argument, NULL, 'o'},
		{"workload", required_argument, NULL, 'w'},
		{"rwmixread", required_argument, NULL, 'M'},
		{"time", required_argument, NULL, 't'},
		{"threads", required_argument, NULL, 'c'},
		{"qpairs", required_argument, NULL, 'P'},
		{"core-mask", required_argument, NULL, OPT_CORE_MASK},
		{"cpu", required_argument, NULL, OPT_CPU},
		{"busy-poll", no_argument, NULL, OPT_BUSY},
		{"epoll", no_argument, NULL, OPT_EPOLL},
		{"poll-us", required_argument, NULL, OPT_POLL_US},
		{"verify", no_argument, NULL, OPT_VERIFY},
		{"json", required_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{"hostnqn", required_argument, NULL, OPT_HOSTNQN},
		CLI_CONN_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "perf", *trids[PERF_MAX_DEVS], *locals[PERF_MAX_DEVS];
	int ntrids = 0, nlocals = 0, opt, rc, exit_code = CLI_EXIT_OK, mix = -1;
	bool have_q = false, have_o = false, have_w = false, have_t = false, have_c = false;
	uint64_t nsid = 0, v;
	struct nvfab_ctrlr_opts o;
	struct perf_run *run = calloc(1, sizeof(*run));
	struct perf_config *cfg;
	struct sigaction sa;

	if (!run)
		return CLI_EXIT_FAIL;
	cfg = &run->cfg;
	cfg->threads = 1;
	cfg->qpairs = 1;
	cli_conn_defaults(&o);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":r:n:q:o:w:M:t:c:P:hI:gGv", longopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			if (ntrids == PERF_MAX_DEVS)
				cli_usage_error(cmd, usage, "at most %d -r", PERF_MAX_DEVS);
			trids[ntrids++] = optarg;
			break;
		case OPT_LOCAL:
			if (nlocals == PERF_MAX_DEVS)
				cli_usage_error(cmd, usage, "at most %d --local", PERF_MAX_DEVS);
			locals[nlocals++] = optarg;
			break;
		case 'n':
			nsid = cli_parse_nsid(cmd, usage, optarg);
			break;
		case 'q':
			v = cli_parse_u64(cmd, usage, "-q", optarg);
			if (v == 0 || v > 65536)
				cli_usage_error(cmd, usage, "-q %s: depth must be 1..65536", optarg);
			cfg->depth = (uint32_t)v;
			have_q = true;
			break;
		case 'o':
			v = cli_parse_size(cmd, usage, "-o", optarg);
			if (v == 0 || v > (1u << 30) || v % 512)
				cli_usage_error(cmd, usage, "-o %s: I/O size must be a multiple of 512 up to 1 GiB",
						optarg);
			cfg->io_size = (uint32_t)v;
			have_o = true;
			break;
		case 'w':
			parse_workload(optarg, cfg);
			have_w = true;
			break;
		case 'M':
			v = cli_parse_u64(cmd, usage, "-M", optarg);
			if (v > 100)
				cli_usage_error(cmd, usage, "-M %s: a percentage 0..100", optarg);
			mix = (int)v;
			break;
		case 't':
			v = cli_parse_u64(cmd, usage, "-t", optarg);
			if (v == 0 || v > 86400 * 365)
				cli_usage_error(cmd, usage, "-t %s: seconds, at least 1", optarg);
			cfg->time_s = (uint32_t)v;
			have_t = true;
			break;
		case 'c':
			v = cli_parse_u64(cmd, usage, "-c", optarg);
			if (v == 0 || v > PERF_MAX_WORKERS)
				cli_usage_error(cmd, usage, "-c %s: 1..%d threads", optarg, PERF_MAX_WORKERS);
			cfg->threads = (uint32_t)v;
			have_c = true;
			break;
		case 'P':
			v = cli_parse_u64(cmd, usage, "-P", optarg);
			if (v == 0 || v > PERF_MAX_QPAIRS)
				cli_usage_error(cmd, usage, "-P %s: 1..%d queue pairs", optarg, PERF_MAX_QPAIRS);
			cfg->qpairs = (uint32_t)v;
			break;
		case OPT_CORE_MASK: parse_core_mask(optarg, cfg); break;
		case OPT_CPU: parse_cpu_list(optarg, cfg); break;
		case OPT_BUSY: cfg->epoll = false; break;
		case OPT_EPOLL: cfg->epoll = true; break;
		case OPT_POLL_US:
			v = cli_parse_u64(cmd, usage, "--poll-us", optarg);
			if (v > 1000000)
				cli_usage_error(cmd, usage, "--poll-us %s: 0..1000000 microseconds", optarg);
			cfg->poll_us = (uint32_t)v;
			break;
		case OPT_VERIFY: cfg->verify = true; break;
		case OPT_JSON: cfg->json_path = optarg; break;
		case OPT_HOSTNQN: cli_conn_option(cmd, usage, 'q', optarg, &o); break;
		case 'h':
			fputs(usage, stdout);
			free(run);
			return CLI_EXIT_OK;
		default:
			if (opt == 'q' || !cli_conn_option(cmd, usage, opt, optarg, &o))
				cli_bad_option(cmd, usage, opt, argv);
		}
	}
	if (optind < argc)
		cli_usage_error(cmd, usage, "unexpected argument '%s'", argv[optind]);
	if (!ntrids && !nlocals)
		cli_usage_error(cmd, usage, "give -r TRID or --local SPEC");
	if (ntrids && nlocals)
		cli_usage_error(cmd, usage, "-r and --local do not mix: run them one after the other");
	if (!have_q || !have_o || !have_w || !have_t)
		cli_usage_error(cmd, usage, "missing %s", !have_q ? "-q DEPTH" : !have_o ? "-o IO_BYTES"
							  : !have_w ? "-w WORKLOAD" : "-t SECONDS");
	if (cfg->read_pct < 0)
		cfg->read_pct = mix < 0 ? 50 : mix;
	else if (mix >= 0)
		cli_usage_error(cmd, usage, "-M goes with -w rw or randrw");
	if (cfg->ncpus && !have_c)
		cfg->threads = (uint32_t)cfg->ncpus;
	if (cfg->qpairs > cfg->depth)
		cli_usage_error(cmd, usage, "-P %u is more queue pairs than -q %u I/Os to spread",
				cfg->qpairs, cfg->depth);
	if (nlocals && (cfg->qpairs > 1))
		cli_usage_error(cmd, usage, "-P applies to remote devices only");

	pthread_mutex_init(&run->print_lock, NULL);
	/* Enough I/O queues for every worker's queue pairs on every namespace. */
	o.nr_io_queues = cfg->threads * cfg->qpairs * 4 < 8 ? 8 : cfg->threads * cfg->qpairs * 4;
	for (int i = 0; i < ntrids; i++) {
		struct nvfab_trid t;

		cli_parse_trid(cmd, usage, trids[i], &t);
		rc = t.subnqn[0] ? connect_one(run, &t, &o, (uint32_t)nsid)
				 : connect_discovered(run, &t, &o, (uint32_t)nsid);
		if (rc) {
			exit_code = CLI_EXIT_FAIL;
			goto out;
		}
	}
	for (int i = 0; i < nlocals; i++) {
		char err[600];

		rc = perf_local_create(locals[i], i, &run->devs[run->ndevs], err, sizeof(err));
		if (rc) {
			cli_error(cmd, "--local %s", err);
			exit_code = rc == -EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
			goto out;
		}
		run->ndevs++;
	}
	for (uint32_t d = 0; d < run->ndevs; d++) {
		const struct perf_dev *dev = &run->devs[d];

		if (cfg->io_size % dev->block_size || cfg->io_size > dev->max_io) {
			cli_error(cmd, "%s: -o %u must be a multiple of its block size %u and at most %u bytes (MDTS)",
				  dev->name, cfg->io_size, dev->block_size, dev->max_io);
			exit_code = CLI_EXIT_USAGE;
			goto out;
		}
		if (cfg->verify && dev->bdev && strcmp(dev->bdev->ops->driver_name, "null") == 0) {
			cli_error(cmd, "%s: a null bdev stores nothing: --verify cannot pass", dev->name);
			exit_code = CLI_EXIT_USAGE;
			goto out;
		}
		if (cfg->verify && dev->num_blocks / (cfg->io_size / dev->block_size) > PERF_MAX_SLOTS) {
			cli_error(cmd, "%s: too large for --verify at -o %u", dev->name, cfg->io_size);
			exit_code = CLI_EXIT_USAGE;
			goto out;
		}
	}

	run->workers = calloc(cfg->threads, sizeof(*run->workers));
	if (!run->workers) {
		exit_code = CLI_EXIT_FAIL;
		goto out;
	}
	for (uint32_t w = 0; w < cfg->threads; w++) {
		struct perf_worker *wk = &run->workers[w];

		wk->id = (int)w;
		wk->cpu = cfg->ncpus ? cfg->cpus[w % (uint32_t)cfg->ncpus] : -1;
		wk->run = run;
		wk->has_local = nlocals > 0;
		wk->chans = calloc(run->ndevs, sizeof(*wk->chans));
		if (!wk->chans) {
			exit_code = CLI_EXIT_FAIL;
			goto out;
		}
		wk->nchans = run->ndevs;
		for (uint32_t d = 0; d < run->ndevs; d++) {
			wk->chans[d].dev = &run->devs[d];
			wk->chans[d].w = wk;
		}
	}

	printf("Running %s, %u-byte I/O, queue depth %u per device per thread, %u thread(s), %u s, %s%s\n",
	       cfg->workload, cfg->io_size, cfg->depth, cfg->threads, cfg->time_s,
	       cfg->epoll ? "epoll" : "busy-poll", cfg->verify ? ", verify" : "");
	for (uint32_t d = 0; d < run->ndevs; d++)
		printf("  %s: %llu blocks of %u bytes\n", run->devs[d].name,
		       (unsigned long long)run->devs[d].num_blocks, run->devs[d].block_size);
	fflush(stdout);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rc = run_workers(run);
	if (rc)
		exit_code = CLI_EXIT_FAIL;
	for (uint32_t w = 0; w < cfg->threads; w++)
		for (uint32_t c = 0; c < run->workers[w].nchans; c++)
			if (run->workers[w].chans[c].errors || run->workers[w].chans[c].verify_errors)
				exit_code = CLI_EXIT_FAIL;
out:
	if (run->workers) {
		for (uint32_t w = 0; w < cfg->threads; w++) {
			if (run->workers[w].chans)
				for (uint32_t c = 0; c < run->workers[w].nchans; c++)
					free(run->workers[w].chans[c].hist);
			free(run->workers[w].chans);
		}
		free(run->workers);
	}
	for (uint32_t i = 0; i < run->nctrlrs; i++)
		nvfab_ctrlr_disconnect(run->ctrlrs[i]);
	if (nlocals)
		bdev_destroy_all();
	free(run);
	return exit_code;
}
