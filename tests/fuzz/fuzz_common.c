#include "fuzz_common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bdev/bdev.h"
#include "bdev/bdev_file.h"
#include "bdev/bdev_internal.h"
#include "bdev/bdev_rpc.h"
#include "rpc/rpc.h"
#include "target/nvmf_rpc.h"
#include "target/target.h"
#include "tcp/tcp_rx.h"
#include "util/log.h"

/* ---- link-time wrappers (-Wl,--wrap=...) ---- */

static atomic_long live_rx;

int __real_tcp_rx_init(struct tcp_rx *rx, enum tcp_role receiver);
void __real_tcp_rx_fini(struct tcp_rx *rx);
int __wrap_tcp_rx_init(struct tcp_rx *rx, enum tcp_role receiver);
void __wrap_tcp_rx_fini(struct tcp_rx *rx);

int __wrap_tcp_rx_init(struct tcp_rx *rx, enum tcp_role receiver)
{
	int rc = __real_tcp_rx_init(rx, receiver);

	if (rc == 0)
		atomic_fetch_add(&live_rx, 1);
	return rc;
}

void __wrap_tcp_rx_fini(struct tcp_rx *rx)
{
	if (rx->staging)
		atomic_fetch_sub(&live_rx, 1);
	__real_tcp_rx_fini(rx);
}

long fuzz_live_rx(void)
{
	return atomic_load(&live_rx);
}

/* Listeners: whatever address and port the input asks for, bind 127.0.0.1, ephemeral port. */
int __real_tcp_sock_listen(const char *addr, const char *port, int family);
int __wrap_tcp_sock_listen(const char *addr, const char *port, int family);

int __wrap_tcp_sock_listen(const char *addr, const char *port, int family)
{
	(void)addr;
	(void)port;
	(void)family;
	return __real_tcp_sock_listen("127.0.0.1", "0", AF_INET);
}

/* File bdevs: always the harness's scratch file, never a path from the input. */
int __real_bdev_file_create_flavor(const char *name, const char *path, uint32_t block_size,
				   const char *uuid, enum bdev_file_flavor flavor,
				   struct bdev **out);
int __wrap_bdev_file_create_flavor(const char *name, const char *path, uint32_t block_size,
				   const char *uuid, enum bdev_file_flavor flavor,
				   struct bdev **out);

int __wrap_bdev_file_create_flavor(const char *name, const char *path, uint32_t block_size,
				   const char *uuid, enum bdev_file_flavor flavor, struct bdev **out)
{
	/* Keep the checks on the given path (empty, too long) but open the scratch file. */
	if (!path || !path[0] || strlen(path) >= 4096)
		return __real_bdev_file_create_flavor(name, path, block_size, uuid, flavor, out);
	return __real_bdev_file_create_flavor(name, fuzz_scratch_file(), block_size, uuid, flavor,
					      out);
}

/* RAM bdevs: capped (each and in total), so that fuzzed sizes stay within the RSS limit. */
int __real_bdev_malloc_create(const char *name, uint64_t num_blocks, uint32_t block_size,
			      const char *uuid, struct bdev **out);
int __wrap_bdev_malloc_create(const char *name, uint64_t num_blocks, uint32_t block_size,
			      const char *uuid, struct bdev **out);

int __wrap_bdev_malloc_create(const char *name, uint64_t num_blocks, uint32_t block_size,
			      const char *uuid, struct bdev **out)
{
	uint64_t total = 0;

	if (block_size && num_blocks > FUZZ_MALLOC_CAP / block_size)
		return bdev_create_fail(-ENOMEM, "fuzz: RAM bdev larger than the harness allows");
	for (struct bdev *b = bdev_first(); b; b = bdev_next(b))
		if (strcmp(b->ops->driver_name, "malloc") == 0)
			total += b->num_blocks * b->block_size;
	if (total + num_blocks * block_size > FUZZ_MALLOC_TOTAL_CAP)
		return bdev_create_fail(-ENOMEM, "fuzz: RAM bdevs larger than the harness allows");
	return __real_bdev_malloc_create(name, num_blocks, block_size, uuid, out);
}

/* ---- scratch file ---- */

const char *fuzz_scratch_file(void)
{
	static char path[64];

	if (!path[0]) {
		char tmpl[] = "/tmp/nvfab-fuzz-XXXXXX";
		int fd = mkstemp(tmpl);

		if (fd < 0 || ftruncate(fd, 1 << 20) < 0) {
			perror("fuzz: scratch file");
			abort();
		}
		/* Unlinked at once: nothing is left behind, however the fuzzer exits. */
		unlink(tmpl);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	return path;
}

/* ---- target ---- */

void fuzz_rpc_ok(const char *method, const char *params_json)
{
	struct json_object *params = params_json ? json_tokener_parse(params_json) : NULL;
	struct json_object *reply = rpc_call_local(method, params);
	struct json_object *err;

	if (!reply || json_object_object_get_ex(reply, "error", &err)) {
		fprintf(stderr, "fuzz set-up: %s %s failed: %s\n", method,
			params_json ? params_json : "",
			reply ? json_object_to_json_string(reply) : "(no reply)");
		abort();
	}
	json_object_put(reply);
	json_object_put(params);
}

void fuzz_target_init(void)
{
	int rc;

	signal(SIGPIPE, SIG_IGN);
	if (!getenv("NVFAB_FUZZ_VERBOSE"))
		log_set_level(LOG_ERROR);
	rc = tgt_init(1, false, 0);
	if (rc) {
		fprintf(stderr, "fuzz: tgt_init: %s\n", strerror(-rc));
		abort();
	}
	/* Take the reactor's loop over: stop its thread and run the loop from here. */
	for (int i = 0; i < g_tgt.nreactors; i++) {
		evloop_stop(g_tgt.reactors[i].loop);
		pthread_join(g_tgt.reactors[i].thread, NULL);
	}
	bdev_rpc_register();
	nvmf_rpc_register();
}

int fuzz_pump(void)
{
	int work = evloop_run_once(g_tgt.control, 0);

	for (int i = 0; i < g_tgt.nreactors; i++)
		work += evloop_run_once(g_tgt.reactors[i].loop, 0);
	return work;
}

void fuzz_settle(int max_rounds)
{
	int idle = 0;

	for (int i = 0; i < max_rounds && idle < 3; i++)
		idle = fuzz_pump() ? 0 : idle + 1;
}
