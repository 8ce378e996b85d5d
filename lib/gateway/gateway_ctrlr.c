/* Gateway controllers: attach, namespaces as bdevs, paths, the admin thread, detach. */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include <nvme/types.h>

#include "bdev/bdev_internal.h"
#include "gateway/gateway.h"
#include "util/log.h"

/* Keep-alive goes out every KATO/2 (5 s by default): servicing at this period keeps it on time
 * and notices a lost admin connection soon. */
#define GW_ADMIN_PERIOD_MS 100
/* How often the control loop looks for namespace changes to apply. */
#define GW_NS_SYNC_MS 100

static struct list_node g_ctrlrs = {&g_ctrlrs, &g_ctrlrs};
static struct evloop *g_control;
static struct evloop_timer g_ns_timer;
static void gw_ns_sync_all(void *arg);

static void gw_ns_destroy(struct bdev *bdev);
static void gw_ctrlr_free(struct gw_ctrlr *c);

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
	int rc = gw_tasks_init(control);

	/* Without tasks, attaching and resetting run on the control loop, as a batch call does. */
	if (rc)
		log_warn("gateway: no task wake-up (%s): attaches will hold the control loop",
			 strerror(-rc));
	g_control = control;
	evloop_timer_start(control, &g_ns_timer, GW_NS_SYNC_MS, GW_NS_SYNC_MS, gw_ns_sync_all, NULL);
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

static uint64_t gw_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * The controller's admin thread: keep-alive, reconnects (which block for up to a connection
 * set-up each, so not on the control loop), and, once the controller is lost for good, a new
 * attempt every reconnect_delay_sec (1 s at least).
 */
static void *gw_admin_thread(void *arg)
{
	struct gw_ctrlr *c = arg;
	int32_t delay_s = c->params.opts.reconnect_delay_s > 0 ? c->params.opts.reconnect_delay_s : 1;
	uint64_t retry_at = 0;

	while (!atomic_load(&c->stop)) {
		struct timespec period = {0, GW_ADMIN_PERIOD_MS * 1000000L};

		if (atomic_exchange(&c->ns_event, false)) {
			struct nvfab_error nerr;

			if (nvfab_ctrlr_refresh_namespaces(c->ctrlr, &nerr) == 0)
				atomic_store(&c->ns_dirty, true);
			else
				log_error("gateway %s: namespaces changed but cannot be identified: %s",
					  c->params.name, nerr.msg);
		}
		if (nvfab_ctrlr_process_admin(c->ctrlr) == -ENOTCONN) {
			uint64_t now = gw_now_ms();

			if (!atomic_load(&c->lost)) {
				atomic_store(&c->lost, true);
				retry_at = now + (uint64_t)delay_s * 1000;
				log_error("gateway %s: controller lost: %s; its I/O fails with a path "
					  "error; trying again every %d s", c->params.name,
					  nvfab_ctrlr_last_error(c->ctrlr), delay_s);
			} else if (now >= retry_at) {
				if (nvfab_ctrlr_reconnect(c->ctrlr) == 0) {
					atomic_store(&c->lost, false);
					log_notice("gateway %s: controller back (cntlid %u)",
						   c->params.name, nvfab_ctrlr_cntlid(c->ctrlr));
				}
				retry_at = gw_now_ms() + (uint64_t)delay_s * 1000;
			}
		}
		nanosleep(&period, NULL);
	}
	return NULL;
}

/* The bdev's destroy: with its controller (gw_detach), or after a hot removal; the last one
 * of a detached controller takes the controller with it. */
static void gw_ns_destroy(struct bdev *bdev)
{
	struct gw_ns *ns = bdev->ctx;
	struct gw_ctrlr *c = ns->ctrlr;

	for (uint32_t i = 0; i < c->nns; i++)
		if (c->ns[i] == ns) {
			memmove(&c->ns[i], &c->ns[i + 1], (c->nns - i - 1) * sizeof(c->ns[0]));
			c->nns--;
			break;
		}
	free(ns);
	if (c->detaching && c->nns == 0)
		gw_ctrlr_free(c);
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

/* The retry delays the backend asks for (in 100 ms units), kept where reactors read them: the
 * Identify data itself is rewritten by the admin thread on reconnect. */
static void gw_ctrlr_read_crdt(struct gw_ctrlr *c)
{
	const struct nvme_id_ctrl *id = nvfab_ctrlr_id(c->ctrlr);

	c->crdt_ms[0] = le16toh(id->crdt1) * 100u;
	c->crdt_ms[1] = le16toh(id->crdt2) * 100u;
	c->crdt_ms[2] = le16toh(id->crdt3) * 100u;
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

static void gw_ns_event(void *arg, uint32_t cdw0)
{
	struct gw_ctrlr *c = arg;

	/* Notice (type 2), Namespace Attribute Changed (info 0). */
	if ((cdw0 & 0x7) == 2 && ((cdw0 >> 8) & 0xff) == 0)
		atomic_store(&c->ns_event, true);
}

static bool gw_ns_active(struct gw_ctrlr *c, const struct gw_ns *g)
{
	return nvfab_ctrlr_get_ns(c->ctrlr, g->ns->nsid) == g->ns;
}

/* Makes the bdevs follow the backend's namespaces (control loop). */
static void gw_ns_sync(struct gw_ctrlr *c)
{
	const struct nvfab_ns *ns;
	char err[256];

	for (uint32_t i = 0; i < c->nns; i++) {
		struct gw_ns *g = c->ns[i];

		if (!g->bdev.removing && !gw_ns_active(c, g)) {
			log_notice("gateway %s: namespace %u is gone from the backend", c->params.name,
				   g->ns->nsid);
			bdev_hot_remove(&g->bdev); /* may destroy g and shift c->ns */
			i = (uint32_t)-1;          /* start over (i++ wraps it to 0) */
		}
	}
	/* A resized backend namespace: the bdev follows, and the target tells its hosts. */
	for (uint32_t i = 0; i < c->nns; i++)
		bdev_notify_resize(&c->ns[i]->bdev,
				   __atomic_load_n(&c->ns[i]->ns->num_blocks, __ATOMIC_RELAXED));
	for (ns = nvfab_ctrlr_next_ns(c->ctrlr, NULL); ns; ns = nvfab_ctrlr_next_ns(c->ctrlr, ns)) {
		bool known = false;

		for (uint32_t i = 0; i < c->nns && !known; i++)
			known = c->ns[i]->ns == ns;
		if (known)
			continue;
		if (c->nns == GW_MAX_NS || gw_ns_register(c, ns, err, sizeof(err)))
			log_error("gateway %s: new namespace %u not exported: %s", c->params.name,
				  ns->nsid, c->nns == GW_MAX_NS ? "too many namespaces" : err);
		else
			log_notice("gateway %s: new namespace %u on the backend: bdev %s",
				   c->params.name, ns->nsid, c->ns[c->nns - 1]->bdev.name);
	}
}

static void gw_ns_sync_all(void *arg)
{
	(void)arg;
	for (struct gw_ctrlr *c = gw_first(); c; c = gw_next(c))
		if (atomic_exchange(&c->ns_dirty, false))
			gw_ns_sync(c);
}

/* The admin thread's end (it may be in a reconnect, up to connect_timeout_ms), the disconnect
 * (a shutdown handshake: up to the shutdown timeout when the backend is silent), the memory. */
static void gw_ctrlr_teardown(struct gw_ctrlr *c)
{
	const struct timespec nap = {0, 10 * 1000 * 1000};

	while (atomic_load(&c->abandoned_connects) > 0)
		nanosleep(&nap, NULL); /* each ends within connect_timeout_ms */
	if (c->admin_running) {
		atomic_store(&c->stop, true);
		pthread_join(c->admin_thread, NULL);
	}
	if (c->ctrlr)
		nvfab_ctrlr_disconnect(c->ctrlr);
	pthread_mutex_destroy(&c->queues_lock);
	free(c);
}

struct gw_free_task {
	struct gw_task task;    /* no name: a new controller may take the name at once */
	struct gw_ctrlr *c;
};

static void gw_free_work(struct gw_task *task)
{
	gw_ctrlr_teardown(((struct gw_free_task *)task)->c);
}

static void gw_free_done(struct gw_task *task, bool stopping)
{
	(void)stopping;
	free(task);
}

/*
 * Once no bdev of it is left (no channel, no I/O). The waiting part runs on a task thread:
 * on the control loop a silent backend would hold every host's keep-alive meanwhile. At
 * shutdown (no more tasks) it runs here.
 */
static void gw_ctrlr_free(struct gw_ctrlr *c)
{
	struct gw_free_task *t = calloc(1, sizeof(*t));

	if (t) {
		t->task.work = gw_free_work;
		t->task.done = gw_free_done;
		t->c = c;
		if (gw_task_start(&t->task) == 0)
			return;
		free(t);
	}
	gw_ctrlr_teardown(c);
}

/*
 * Deletes the controller's bdevs (each is destroyed now, or when the namespaces that are
 * letting go of it have retired) and frees the controller when the last one is gone.
 */
static void gw_ctrlr_release(struct gw_ctrlr *c)
{
	struct gw_ns *ns[GW_MAX_NS];
	uint32_t n = c->nns;

	memcpy(ns, c->ns, n * sizeof(ns[0])); /* destroys shrink c->ns */
	c->detaching = true;
	if (n == 0) {
		gw_ctrlr_free(c);
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		bdev_remove(&ns[i]->bdev); /* the last destroy frees c */
}

void gw_params_wipe_secrets(struct gw_attach_params *p)
{
	OPENSSL_cleanse(p->opts.dhchap_secret, sizeof(p->opts.dhchap_secret));
	OPENSSL_cleanse(p->opts.dhchap_ctrl_secret, sizeof(p->opts.dhchap_ctrl_secret));
	OPENSSL_cleanse(p->opts.tls_psk, sizeof(p->opts.tls_psk));
}

int gw_attach_connected(const struct gw_attach_params *p, struct nvfab_ctrlr *ctrlr,
			const struct nvfab_error *nerr, struct gw_ctrlr **out, char *err,
			size_t errlen)
{
	struct gw_ctrlr *c;
	const struct nvfab_ns *ns;
	int rc;

	if (!ctrlr) {
		snprintf(err, errlen, "cannot attach %s to %s:%s (%s): %s", p->name, p->trid.traddr,
			 p->trid.trsvcid, p->trid.subnqn, nerr->msg);
		return nerr->err ? nerr->err : -EIO;
	}
	if (gw_lookup(p->name)) {
		nvfab_ctrlr_disconnect(ctrlr);
		snprintf(err, errlen, "a controller named %s is already attached", p->name);
		return -EEXIST;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		nvfab_ctrlr_disconnect(ctrlr);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->params = *p;
	c->ctrlr = ctrlr;
	gw_ctrlr_read_crdt(c);
	list_init(&c->link);
	pthread_mutex_init(&c->queues_lock, NULL);
	gw_params_wipe_secrets(&c->params);
	if (nvfab_ctrlr_is_discovery(c->ctrlr)) {
		snprintf(err, errlen, "%s is a discovery controller: give the subsystem's NQN",
			 p->trid.subnqn[0] ? p->trid.subnqn : "the target");
		gw_ctrlr_release(c);
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
			gw_ctrlr_release(c);
			return rc;
		}
	}
	rc = nvfab_ctrlr_enable_ns_events(c->ctrlr, gw_ns_event, c);
	if (rc && rc != -ENOTSUP)
		log_warn("gateway %s: no namespace change notices from the backend: %s", p->name,
			 strerror(-rc));
	rc = pthread_create(&c->admin_thread, NULL, gw_admin_thread, c);
	c->admin_running = rc == 0;
	if (rc) {
		snprintf(err, errlen, "cannot start the admin thread: %s", strerror(rc));
		gw_ctrlr_release(c);
		return -rc;
	}
	list_add_tail(&g_ctrlrs, &c->link);
	log_notice("gateway %s: attached to %s:%s %s (cntlid %u): %u namespace(s)", p->name,
		   p->trid.traddr, p->trid.trsvcid, p->trid.subnqn, nvfab_ctrlr_cntlid(c->ctrlr),
		   c->nns);
	if (out)
		*out = c;
	return 0;
}

int gw_add_path_check(const struct gw_ctrlr *c, char *err, size_t errlen)
{
	if (c->nextra == NVFAB_MAX_PATHS - 1) {
		snprintf(err, errlen, "%s has its maximum of %d paths", c->params.name,
			 NVFAB_MAX_PATHS);
		return -ENOSPC;
	}
	return 0;
}

int gw_add_path_connect(struct gw_ctrlr *c, const struct nvfab_trid *trid, char *err,
			size_t errlen)
{
	struct nvfab_error nerr;
	int rc = nvfab_ctrlr_add_path(c->ctrlr, trid, &nerr);

	if (rc)
		snprintf(err, errlen, "cannot add %s:%s as a path of %s: %s", trid->traddr,
			 trid->trsvcid, c->params.name, nerr.msg);
	return rc;
}

void gw_add_path_record(struct gw_ctrlr *c, const struct nvfab_trid *trid)
{
	c->extra_paths[c->nextra++] = *trid;
	log_notice("gateway %s: path %s:%s added (%u paths; failover)", c->params.name,
		   trid->traddr, trid->trsvcid, nvfab_ctrlr_num_paths(c->ctrlr));
}

int gw_reset(struct gw_ctrlr *c)
{
	int rc;

	log_notice("gateway %s: resetting the controller", c->params.name);
	rc = nvfab_ctrlr_reset(c->ctrlr);
	if (rc == 0 && atomic_load(&c->lost)) {
		atomic_store(&c->lost, false); /* reactors replace their lost queues */
		log_notice("gateway %s: controller back (cntlid %u)", c->params.name,
			   nvfab_ctrlr_cntlid(c->ctrlr));
	}
	return rc;
}

static bool gw_same_path(const struct nvfab_trid *a, const struct nvfab_trid *b)
{
	return strcmp(a->traddr, b->traddr) == 0 && strcmp(a->trsvcid, b->trsvcid) == 0;
}

/* Forgets one path (not the one in use). */
static int gw_remove_path(struct gw_ctrlr *c, const struct nvfab_trid *path)
{
	int rc = nvfab_ctrlr_remove_path(c->ctrlr, path);
	uint32_t i = 0;

	if (rc)
		return rc;
	/* params.trid and extra_paths hold the paths in the order they were added. */
	if (gw_same_path(&c->params.trid, path))
		c->params.trid = c->extra_paths[0]; /* the next one stands for the controller */
	else
		while (i < c->nextra && !gw_same_path(&c->extra_paths[i], path))
			i++;
	if (i < c->nextra) {
		memmove(&c->extra_paths[i], &c->extra_paths[i + 1],
			(c->nextra - i - 1) * sizeof(c->extra_paths[0]));
		c->nextra--;
	}
	log_notice("gateway %s: path %s:%s removed", c->params.name, path->traddr, path->trsvcid);
	return 0;
}

int gw_detach(const char *name, const struct nvfab_trid *path)
{
	struct gw_ctrlr *c = gw_lookup(name);

	if (!c)
		return -ENODEV;
	if (path && nvfab_ctrlr_num_paths(c->ctrlr) > 1)
		return gw_remove_path(c, path);
	if (path && !gw_same_path(&c->params.trid, path))
		return -ENOENT;
	/* Namespaces already removed from their subsystems may still be letting go. */
	for (uint32_t i = 0; i < c->nns; i++)
		if (c->ns[i]->bdev.claims > c->ns[i]->bdev.retiring)
			return -EBUSY;
	list_del(&c->link);
	log_notice("gateway %s: detaching", name);
	gw_ctrlr_release(c);
	return 0;
}

void gw_fini(void)
{
	gw_tasks_fini(); /* before the controllers: a task may be working on one */
	g_control = NULL; /* gone, with its timers */
	while (!list_empty(&g_ctrlrs)) {
		struct gw_ctrlr *c = list_entry(g_ctrlrs.next, struct gw_ctrlr, link);

		list_del(&c->link);
		gw_ctrlr_release(c);
	}
}
