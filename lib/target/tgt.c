/* The target object: control loop, data reactors (one thread per core in the mask), and the
 * per-reactor bdev channels. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/target.h"
#include "target/tcp_qpair.h"
#include "util/log.h"

struct tgt g_tgt;

void tgt_transport_opts_default(struct tgt_transport_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->max_queue_depth = 128;
	opts->max_qpairs_per_ctrlr = 128;
	opts->in_capsule_data_size = 8192;
	opts->max_io_size = 131072;
	opts->io_unit_size = 131072;
	opts->max_aq_depth = TGT_ADMIN_QUEUE_DEPTH;
	opts->c2h_success = true;
}

static void *reactor_main(void *arg)
{
	struct tgt_reactor *r = arg;
	char name[16];

	snprintf(name, sizeof(name), "reactor_%d", r->id);
	pthread_setname_np(pthread_self(), name);
	if (r->core >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(r->core, &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
			log_warn("reactor %d: cannot pin to core %d", r->id, r->core);
	}
	if (g_tgt.busy_poll || !g_tgt.poll_us)
		log_info("reactor %d running on core %d (%s)", r->id, r->core,
			 g_tgt.busy_poll ? "busy-poll" : "event-driven");
	else
		log_info("reactor %d running on core %d (event-driven, polling %u us after work)",
			 r->id, r->core, g_tgt.poll_us);
	evloop_run(r->loop);
	tcp_qpair_close_all_on_loop(r->loop);
	/* Let queue pairs still waiting for their bdevs finish; at least one iteration, which
	 * sends the "gone" reports that closing deferred to its end. */
	for (int i = 0; i == 0 || (i < 1000 && r->qpairs); i++)
		evloop_run_once(r->loop, 1);
	if (r->qpairs)
		log_warn("reactor %d: I/O still held by bdevs at shutdown (a gateway's backend "
			 "unreachable?): failing it", r->id);
	/* Destroying a channel fails what its backend still holds; the queue pairs waiting for
	 * that I/O then finish too. */
	for (uint32_t i = 0; i < r->nchannels; i++) {
		if (r->channels[i].ch)
			bdev_channel_destroy(r->channels[i].ch);
		r->channels[i].ch = NULL;
		r->channels[i].bdev = NULL;
	}
	for (int i = 0; i < 100 && r->qpairs; i++)
		evloop_run_once(r->loop, 1);
	return NULL;
}

int tgt_init(uint64_t core_mask, bool busy_poll, uint32_t poll_us)
{
	int ncores = 0, rc;

	memset(&g_tgt, 0, sizeof(g_tgt));
	list_init(&g_tgt.subsystems);
	list_init(&g_tgt.listeners);
	tgt_transport_opts_default(&g_tgt.opts);
	g_tgt.busy_poll = busy_poll;
	g_tgt.poll_us = busy_poll ? 0 : poll_us;
	g_tgt.dhchap_hashes = DHCHAP_ALL_HASHES;
	g_tgt.dhchap_dhgroups = DHCHAP_ALL_DHGROUPS;
	g_tgt.next_portid = 1;
	g_tgt.control = evloop_create("control");
	if (!g_tgt.control)
		return -ENOMEM;
	if (core_mask == 0)
		core_mask = 1;
	for (int c = 0; c < 64; c++)
		if (core_mask & (1ull << c))
			ncores++;
	g_tgt.reactors = calloc((size_t)ncores, sizeof(*g_tgt.reactors));
	if (!g_tgt.reactors)
		return -ENOMEM;
	for (int c = 0; c < 64; c++) {
		struct tgt_reactor *r;
		char name[24];

		if (!(core_mask & (1ull << c)))
			continue;
		r = &g_tgt.reactors[g_tgt.nreactors];
		r->id = g_tgt.nreactors;
		r->core = c < CPU_SETSIZE ? c : -1;
		snprintf(name, sizeof(name), "reactor_%d", r->id);
		r->loop = evloop_create(name);
		if (!r->loop)
			return -ENOMEM;
		evloop_set_busy_poll(r->loop, busy_poll);
		evloop_set_adaptive_poll(r->loop, busy_poll ? 0 : poll_us);
		rc = pthread_create(&r->thread, NULL, reactor_main, r);
		if (rc)
			return -rc;
		g_tgt.nreactors++;
	}
	/* The discovery subsystem always exists; listeners make it reachable. */
	g_tgt.discovery = tgt_subsystem_create(NVMF_DISCOVERY_NQN, TGT_SUBSYS_DISCOVERY, 0);
	if (!g_tgt.discovery)
		return -ENOMEM;
	g_tgt.discovery->allow_any_host = true;
	bdev_set_remove_handler(tgt_ns_bdev_removed);
	bdev_set_resize_handler(tgt_ns_bdev_resized);
	return 0;
}

void tgt_fini(void)
{
	struct list_node *pos, *tmp;

	/* Close host connections first so that controllers go away through the normal path. */
	tcp_qpair_close_all_on_loop(g_tgt.control);
	for (int i = 0; i < g_tgt.nreactors; i++)
		evloop_stop(g_tgt.reactors[i].loop);
	for (int i = 0; i < g_tgt.nreactors; i++)
		pthread_join(g_tgt.reactors[i].thread, NULL);
	/* Messages from the reactors (queue pairs gone) are drained here. */
	for (int i = 0; i < 10; i++)
		evloop_run_once(g_tgt.control, 0);
	list_for_each_safe(pos, tmp, &g_tgt.subsystems) {
		struct tgt_subsystem *s = list_entry(pos, struct tgt_subsystem, link);

		tgt_subsystem_delete(s);
	}
	for (int i = 0; i < g_tgt.nreactors; i++)
		evloop_destroy(g_tgt.reactors[i].loop);
	free(g_tgt.reactors);
	evloop_destroy(g_tgt.control);
	g_tgt.reactors = NULL;
	g_tgt.control = NULL;
}

struct tgt_reactor *tgt_pick_reactor(void)
{
	struct tgt_reactor *best = &g_tgt.reactors[g_tgt.next_reactor];

	/* Round robin; queue pairs of one controller spread over the cores. */
	g_tgt.next_reactor = (g_tgt.next_reactor + 1) % g_tgt.nreactors;
	return best;
}

struct tgt_reactor_chan *tgt_reactor_get_channel(struct tgt_reactor *r, struct bdev *bdev)
{
	struct tgt_reactor_chan *free_slot = NULL;

	for (uint32_t i = 0; i < r->nchannels; i++) {
		if (r->channels[i].bdev == bdev)
			return &r->channels[i];
		if (!r->channels[i].bdev && !free_slot)
			free_slot = &r->channels[i];
	}
	if (!free_slot) {
		if (r->nchannels == sizeof(r->channels) / sizeof(r->channels[0]))
			return NULL;
		free_slot = &r->channels[r->nchannels++];
	}
	free_slot->ch = bdev_channel_create(bdev, r->loop);
	if (!free_slot->ch)
		return NULL;
	free_slot->bdev = bdev;
	free_slot->inflight = 0;
	return free_slot;
}
