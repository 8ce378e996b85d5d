/*
 * Fuzzes nvfabd's JSON edge with the real methods registered (bdev_*, nvmf_*, built-ins):
 *   flags & 1 == 0: the bytes are what a client writes on the RPC socket: rpc_fuzz_one() (the
 *                   socket's incremental parser with its limits, dispatch, reply serialization);
 *   flags & 1 == 1: the bytes are a configuration file: rpc_config_load() of a memfd (the file
 *                   parser with comments, then rpc_config_load_json()). When it loads, the
 *                   configuration nvfab saves from the result (save_config) must load again on
 *                   a clean target: a saved configuration that cannot be replayed is a bug.
 * Input: one flags byte, then the bytes.
 *
 * Nothing accumulates between runs: every subsystem, discovery listener and host, and bdev is
 * deleted and the transport options reset after each input. Listeners bind 127.0.0.1 on an
 * ephemeral port, file bdevs open the harness's scratch file and RAM bdevs are capped
 * (fuzz_common.c wrappers).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bdev/bdev.h"
#include "fuzz_common.h"
#include "rpc/rpc.h"
#include "rpc/rpc_internal.h"
#include "target/target.h"

static int g_memfd = -1;
static char g_memfd_path[64];

static void reset_state(void)
{
	struct tgt_subsystem *d = g_tgt.discovery;
	struct list_node *pos, *tmp;

	list_for_each_safe(pos, tmp, &g_tgt.subsystems)
		tgt_subsystem_delete(list_entry(pos, struct tgt_subsystem, link));
	list_for_each_safe(pos, tmp, &d->listeners) {
		struct tgt_subsys_listener *sl = list_entry(pos, struct tgt_subsys_listener, link);
		struct tgt_listen_addr addr = sl->addr;

		tgt_subsystem_remove_listener(d, &addr);
	}
	list_for_each_safe(pos, tmp, &d->hosts) {
		char nqn[NVMF_NQN_MAX + 1];

		snprintf(nqn, sizeof(nqn), "%s", list_entry(pos, struct tgt_host, link)->nqn);
		tgt_subsystem_remove_host(d, nqn);
	}
	d->allow_any_host = true;
	/* Namespaces are retired through the reactor: let that finish before the bdevs go. */
	fuzz_settle(100);
	bdev_destroy_all();
	tgt_transport_opts_default(&g_tgt.opts);
	if (!list_empty(&g_tgt.subsystems) || !list_empty(&g_tgt.listeners) || bdev_first()) {
		fprintf(stderr, "fuzz_rpc_config: state left after reset\n");
		abort();
	}
}

static void init_once(void)
{
	fuzz_target_init();
	g_memfd = memfd_create("nvfab-fuzz-config", MFD_CLOEXEC);
	if (g_memfd < 0) {
		perror("memfd_create");
		abort();
	}
	snprintf(g_memfd_path, sizeof(g_memfd_path), "/proc/self/fd/%d", g_memfd);
}

static int load_file(const uint8_t *data, size_t size)
{
	if (ftruncate(g_memfd, 0) || pwrite(g_memfd, data, size, 0) != (ssize_t)size) {
		perror("memfd");
		abort();
	}
	return rpc_config_load(g_memfd_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool inited;
	uint8_t flags;

	if (!inited) {
		init_once();
		inited = true;
	}
	if (size < 1)
		return 0;
	flags = data[0];
	data++;
	size--;

	if (!(flags & 1)) {
		rpc_fuzz_one(data, size);
	} else if (load_file(data, size) == 0) {
		struct json_object *saved = rpc_config_save();
		int rc;

		reset_state();
		rc = rpc_config_load_json(saved);
		if (rc) {
			fprintf(stderr, "fuzz_rpc_config: the saved configuration does not load "
					"(%s):\n%s\n", strerror(-rc),
				json_object_to_json_string_ext(saved, JSON_C_TO_STRING_PRETTY));
			abort();
		}
		json_object_put(saved);
	}
	fuzz_settle(16);
	reset_state();
	return 0;
}
