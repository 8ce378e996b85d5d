/* Gateway controllers: attach, namespaces as bdevs, admin queue service, detach. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nvme/types.h>

#include "bdev/bdev_internal.h"
#include "gateway/gateway.h"
#include "util/log.h"

/* Keep-alive goes out every KATO/2 (5 s by default): servicing at this period keeps it on time
 * and notices a lost admin connection soon. */
#define GW_ADMIN_PERIOD_MS 100

static struct list_node g_ctrlrs = {&g_ctrlrs, &g_ctrlrs};
static struct evloop *g_control;

static void gw_ns_destroy(struct bdev *bdev);

static const struct bdev_ops gw_ns_ops = {
	.product_name = "NVMe disk",
	.driver_name = "nvme",
	.channel_create = gw_channel_create,
	.channel_destroy = gw_channel_destroy,
	.submit = gw_submit,
	.map = NULL,
	.destroy = gw_ns_destroy,
	.dump_config = NULL,
};

void gw_init(struct evloop *control)
{
	g_control = control;
}

struct gw_ctrlr *gw_lookup(const char *name)
{
	struct list_node *pos;

	for (pos = g_ctrlrs.next; pos != &g_ctrlrs; pos = pos->next) {
		struct gw_ctrlr *c = list_entry(pos, struct gw_ctrlr, link);

		if (strcmp(c->params.name, name) == 0)
			return c;
	}
	return NULL;
}

struct gw_ctrlr *gw_first(void)
{
	return list_empty(&g_ctrlrs) ? NULL : list_entry(g_ctrlrs.next, struct gw_ctrlr, link);
}

struct gw_ctrlr *gw_next(struct gw_ctrlr *c)
{
	return c->link.next == &g_ctrlrs ? NULL : list_entry(c->link.next, struct gw_ctrlr, link);
}

static void gw_admin_service(void *arg)
{
	struct gw_ctrlr *c = arg;

	if (nvfab_ctrlr_process_admin(c->ctrlr) == -ENOTCONN && !c->lost) {
		c->lost = true;
		log_error("gateway %s: controller %s lost for good: %s", c->params.name,
			  c->params.trid.traddr, nvfab_ctrlr_last_error(c->ctrlr));
	}
}

/* The bdev's destroy: the namespace's bdev goes with its controller (gw_detach), never alone. */
static void gw_ns_destroy(struct bdev *bdev)
{
	struct gw_ns *ns = bdev->ctx;

	free(ns);
}

/* A stable identity for the exported namespace: the backend's NGUID when it has one (as SPDK's
 * bdev_nvme does), so that a host sees the same namespace through any gateway. */
static void gw_ns_uuid(const struct nvfab_ns *ns, char out[37])
{
	static const uint8_t zero[16];
	const uint8_t *g = ns->id->nguid;

	out[0] = '\0';
	if (memcmp(g, zero, sizeof(zero)) != 0)
		nvfab_uuid_format(g, out);
}

static int gw_ns_register(struct gw_ctrlr *c, const struct nvfab_ns *ns, char *err, size_t errlen)
{
	const struct nvme_id_ctrl *id = nvfab_ctrlr_id(c->ctrlr);
	struct gw_ns *g;
	char name[sizeof(((struct bdev *)0)->name)], uuid[37];
	int rc;

	if (ns->md_size) {
		snprintf(err, errlen, "namespace %u of %s has %u bytes of metadata per block, which "
			 "the gateway does not forward", ns->nsid, c->params.name, ns->md_size);
		return -EOPNOTSUPP;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	g->ctrlr = c;
	g->ns = ns;
	g->info.dlfeat = ns->id->dlfeat;
	g->bdev.nvme = &g->info;
	g->bdev.write_cache = id->vwc & 1;
	snprintf(name, sizeof(name), "%sn%u", c->params.name, ns->nsid);
	gw_ns_uuid(ns, uuid);
	rc = bdev_init_and_register(&g->bdev, name, uuid[0] ? uuid : NULL, ns->num_blocks,
				    ns->block_size, &gw_ns_ops, g);
	if (rc) {
		snprintf(err, errlen, "%s", bdev_create_errmsg());
		free(g);
		return rc;
	}
	c->ns[c->nns++] = g;
	return 0;
}

static void gw_ctrlr_free(struct gw_ctrlr *c)
{
	for (uint32_t i = 0; i < c->nns; i++)
		bdev_delete(c->ns[i]->bdev.name); /* unclaimed: checked by the caller */
	c->nns = 0;
	if (c->ctrlr)
		nvfab_ctrlr_disconnect(c->ctrlr);
	pthread_mutex_destroy(&c->queues_lock);
	free(c);
}

int gw_attach(const struct gw_attach_params *p, struct gw_ctrlr **out, char *err, size_t errlen)
{
	struct nvfab_error nerr;
	struct gw_ctrlr *c;
	const struct nvfab_ns *ns;
	int rc;

	if (gw_lookup(p->name)) {
		snprintf(err, errlen, "a controller named %s is already attached", p->name);
		return -EEXIST;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->params = *p;
	list_init(&c->link);
	pthread_mutex_init(&c->queues_lock, NULL);
	c->ctrlr = nvfab_ctrlr_connect(&p->trid, &p->opts, &nerr);
	if (!c->ctrlr) {
		snprintf(err, errlen, "cannot attach %s to %s:%s (%s): %s", p->name, p->trid.traddr,
			 p->trid.trsvcid, p->trid.subnqn, nerr.msg);
		pthread_mutex_destroy(&c->queues_lock);
		free(c);
		return nerr.err ? nerr.err : -EIO;
	}
	if (nvfab_ctrlr_is_discovery(c->ctrlr)) {
		snprintf(err, errlen, "%s is a discovery controller: give the subsystem's NQN",
			 p->trid.subnqn[0] ? p->trid.subnqn : "the target");
		gw_ctrlr_free(c);
		return -EINVAL;
	}
	for (ns = nvfab_ctrlr_next_ns(c->ctrlr, NULL); ns; ns = nvfab_ctrlr_next_ns(c->ctrlr, ns)) {
		if (c->nns == GW_MAX_NS) {
			log_warn("gateway %s: more than %d namespaces; the rest are not exported",
				 p->name, GW_MAX_NS);
			break;
		}
		rc = gw_ns_register(c, ns, err, errlen);
		if (rc) {
			gw_ctrlr_free(c);
			return rc;
		}
	}
	list_add_tail(&g_ctrlrs, &c->link);
	if (g_control)
		evloop_timer_start(g_control, &c->admin_timer, GW_ADMIN_PERIOD_MS, GW_ADMIN_PERIOD_MS,
				   gw_admin_service, c);
	log_notice("gateway %s: attached to %s:%s %s (cntlid %u): %u namespace(s)", p->name,
		   p->trid.traddr, p->trid.trsvcid, p->trid.subnqn, nvfab_ctrlr_cntlid(c->ctrlr),
		   c->nns);
	if (out)
		*out = c;
	return 0;
}

int gw_detach(const char *name)
{
	struct gw_ctrlr *c = gw_lookup(name);

	if (!c)
		return -ENODEV;
	for (uint32_t i = 0; i < c->nns; i++)
		if (c->ns[i]->bdev.claims > 0)
			return -EBUSY;
	if (g_control)
		evloop_timer_stop(g_control, &c->admin_timer);
	list_del(&c->link);
	log_notice("gateway %s: detaching", name);
	gw_ctrlr_free(c);
	return 0;
}

void gw_fini(void)
{
	g_control = NULL; /* destroyed with its timers' links */
	while (!list_empty(&g_ctrlrs)) {
		struct gw_ctrlr *c = list_entry(g_ctrlrs.next, struct gw_ctrlr, link);

		list_del(&c->link);
		gw_ctrlr_free(c);
	}
}
