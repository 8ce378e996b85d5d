/*
 * Namespaces. The table is written by the control thread and read by reactors without locks:
 * a namespace is published with a release store, and retired by clearing its slot and then
 * asking every reactor to drop its channel to the bdev once its in-flight I/O is done. The
 * namespace is freed when the last reactor has answered.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/target.h"
#include "util/log.h"

static int hex_parse(const char *text, uint8_t *out, size_t len)
{
	size_t n = 0;

	for (const char *p = text; *p; p++) {
		int v;

		if (*p == '-')
			continue;
		if (*p >= '0' && *p <= '9')
			v = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			v = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			v = *p - 'A' + 10;
		else
			return -EINVAL;
		if (n / 2 >= len)
			return -EINVAL;
		if (n % 2 == 0)
			out[n / 2] = (uint8_t)(v << 4);
		else
			out[n / 2] |= (uint8_t)v;
		n++;
	}
	return n == len * 2 ? 0 : -EINVAL;
}

static bool ns_bdev_in_use(struct bdev *bdev)
{
	struct list_node *pos, *tmp;

	list_for_each_safe(pos, tmp, &g_tgt.subsystems) {
		struct tgt_subsystem *s = list_entry(pos, struct tgt_subsystem, link);

		for (uint32_t i = 0; i < s->max_namespaces; i++) {
			struct tgt_ns *ns = tgt_ns_get(s, i + 1);

			if (ns && ns->bdev == bdev)
				return true;
		}
	}
	return false;
}

/* Every controller of the subsystem gets a Namespace Attribute Changed notice for nsid. */
static void ns_notice_hosts(struct tgt_subsystem *s, uint32_t nsid)
{
	struct list_node *pos, *tmp;

	list_for_each_safe(pos, tmp, &s->ctrlrs)
		tgt_ctrlr_notice_ns_changed(list_entry(pos, struct tgt_ctrlr, link), nsid);
}

int tgt_ns_add(struct tgt_subsystem *s, struct bdev *bdev, uint32_t nsid, const char *nguid,
	       const char *uuid, const char *eui64, uint32_t *nsid_out)
{
	struct tgt_ns *ns;

	if (s->type != TGT_SUBSYS_NVME)
		return -EINVAL;
	if (nsid == 0) {
		for (uint32_t i = 0; i < s->max_namespaces; i++)
			if (!tgt_ns_get(s, i + 1)) {
				nsid = i + 1;
				break;
			}
		if (nsid == 0)
			return -ENOSPC;
	}
	if (nsid > s->max_namespaces)
		return -ERANGE;
	if (tgt_ns_get(s, nsid))
		return -EEXIST;
	if (ns_bdev_in_use(bdev))
		return -EBUSY; /* like SPDK: one namespace per bdev (exclusive write claim) */
	if (bdev->removing)
		return -ENODEV;
	ns = calloc(1, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	ns->nsid = nsid;
	ns->bdev = bdev;
	ns->subsys = s;
	memcpy(ns->uuid, bdev->uuid_bytes, sizeof(ns->uuid));
	memcpy(ns->nguid, bdev->uuid_bytes, sizeof(ns->nguid));
	if ((uuid && hex_parse(uuid, ns->uuid, sizeof(ns->uuid))) ||
	    (nguid && hex_parse(nguid, ns->nguid, sizeof(ns->nguid))) ||
	    (eui64 && hex_parse(eui64, ns->eui64, sizeof(ns->eui64)))) {
		free(ns);
		return -EINVAL;
	}
	bdev->claims++;
	atomic_store_explicit(&s->ns[nsid - 1], ns, memory_order_release);
	s->ns_count++;
	ns_notice_hosts(s, nsid);
	*nsid_out = nsid;
	log_notice("subsystem %s: namespace %u added on bdev %s", s->nqn, nsid, bdev->name);
	return 0;
}

struct ns_retire {
	struct tgt_ns *ns;
	atomic_int pending;             /* reactors still to answer, plus the control thread */
};

/* One per reactor: the reactor's side of a retirement. */
struct ns_retire_work {
	struct ns_retire *rt;
	struct tgt_reactor *reactor;
	struct evloop_poller poller;
	bool polling;
};

static void ns_retire_done(void *arg)
{
	struct ns_retire *rt = arg;
	struct tgt_ns *ns = rt->ns;

	if (atomic_fetch_sub(&rt->pending, 1) != 1)
		return;
	log_info("namespace %u retired", ns->nsid);
	bdev_release(ns->bdev);
	free(ns);
	free(rt);
}

/* Reactor side: wait for in-flight I/O on the bdev, then drop the channel. */
static int ns_retire_poll(void *arg)
{
	struct ns_retire_work *w = arg;
	struct tgt_reactor *r = w->reactor;
	struct tgt_reactor_chan *c = NULL;

	for (uint32_t i = 0; i < r->nchannels; i++)
		if (r->channels[i].bdev == w->rt->ns->bdev)
			c = &r->channels[i];
	if (c && c->inflight)
		return 0;
	if (c) {
		bdev_channel_destroy(c->ch);
		c->ch = NULL;
		c->bdev = NULL;
	}
	if (w->polling)
		evloop_del_poller(r->loop, &w->poller);
	if (evloop_send(g_tgt.control, ns_retire_done, w->rt))
		log_error("namespace %u: cannot report retirement", w->rt->ns->nsid);
	free(w);
	return 1;
}

static void ns_retire_on_reactor(void *arg)
{
	struct ns_retire_work *w = arg;

	if (!ns_retire_poll(w)) {
		w->polling = true;
		evloop_add_poller(w->reactor->loop, &w->poller, ns_retire_poll, w);
	}
}

int tgt_ns_remove(struct tgt_subsystem *s, uint32_t nsid)
{
	struct tgt_ns *ns = tgt_ns_get(s, nsid);
	struct ns_retire *rt;

	if (!ns)
		return -ENOENT;
	rt = calloc(1, sizeof(*rt));
	if (!rt)
		return -ENOMEM;
	atomic_store_explicit(&s->ns[nsid - 1], NULL, memory_order_release);
	s->ns_count--;
	ns->bdev->retiring++; /* the bdev may be deleted now: it goes when this retires */
	ns_notice_hosts(s, nsid);
	log_notice("subsystem %s: namespace %u removed", s->nqn, nsid);

	rt->ns = ns;
	atomic_init(&rt->pending, g_tgt.nreactors + 1);
	for (int i = 0; i < g_tgt.nreactors; i++) {
		struct ns_retire_work *w = calloc(1, sizeof(*w));

		if (w) {
			w->rt = rt;
			w->reactor = &g_tgt.reactors[i];
		}
		if (!w || evloop_send(g_tgt.reactors[i].loop, ns_retire_on_reactor, w)) {
			free(w);
			log_error("namespace %u: cannot reach reactor %d", nsid, i);
			atomic_fetch_sub(&rt->pending, 1);
		}
	}
	ns_retire_done(rt);
	return 0;
}

void tgt_ns_bdev_resized(struct bdev *bdev)
{
	struct list_node *pos, *tmp;

	list_for_each_safe(pos, tmp, &g_tgt.subsystems) {
		struct tgt_subsystem *s = list_entry(pos, struct tgt_subsystem, link);

		for (uint32_t i = 0; i < s->max_namespaces; i++) {
			struct tgt_ns *ns = tgt_ns_get(s, i + 1);

			if (!ns || ns->bdev != bdev)
				continue;
			log_notice("subsystem %s: namespace %u now has %llu blocks", s->nqn, i + 1,
				   (unsigned long long)bdev_num_blocks(bdev));
			ns_notice_hosts(s, i + 1);
		}
	}
}

/* The bdev layer's remove handler: a claimed bdev went away, so do its namespaces (each
 * subsystem's hosts get a Namespace Attribute Changed notice). */
void tgt_ns_bdev_removed(struct bdev *bdev)
{
	struct list_node *pos, *tmp;

	list_for_each_safe(pos, tmp, &g_tgt.subsystems) {
		struct tgt_subsystem *s = list_entry(pos, struct tgt_subsystem, link);

		for (uint32_t i = 0; i < s->max_namespaces; i++) {
			struct tgt_ns *ns = tgt_ns_get(s, i + 1);

			if (ns && ns->bdev == bdev) {
				log_notice("subsystem %s: namespace %u goes with its bdev %s", s->nqn,
					   i + 1, bdev->name);
				tgt_ns_remove(s, i + 1);
			}
		}
	}
}
