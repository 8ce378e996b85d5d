/*
 * Failover paths of a controller: the addresses through which its subsystem is reached, one in
 * use at a time. A path is checked when added (a connection to it must show the same
 * namespaces), then stays closed until the one in use is lost; reconnecting moves on in order.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <nvme/types.h>

#include "host/host_internal.h"
#include "util/log.h"

void host_paths_init(struct nvfab_ctrlr *ctrlr)
{
	pthread_mutex_init(&ctrlr->paths_lock, NULL);
	ctrlr->paths[0] = ctrlr->trid;
	ctrlr->npaths = 1;
	ctrlr->path = 0;
}

void host_path_current(struct nvfab_ctrlr *ctrlr, struct nvfab_trid *out)
{
	pthread_mutex_lock(&ctrlr->paths_lock);
	*out = ctrlr->paths[ctrlr->path];
	pthread_mutex_unlock(&ctrlr->paths_lock);
}

bool host_path_next(struct nvfab_ctrlr *ctrlr)
{
	bool moved;

	pthread_mutex_lock(&ctrlr->paths_lock);
	moved = ctrlr->npaths > 1;
	if (moved)
		ctrlr->path = (ctrlr->path + 1) % ctrlr->npaths;
	pthread_mutex_unlock(&ctrlr->paths_lock);
	return moved;
}

uint32_t host_path_count(struct nvfab_ctrlr *ctrlr)
{
	uint32_t n;

	pthread_mutex_lock(&ctrlr->paths_lock);
	n = ctrlr->npaths;
	pthread_mutex_unlock(&ctrlr->paths_lock);
	return n;
}

static bool same_path(const struct nvfab_trid *a, const struct nvfab_trid *b)
{
	return strcmp(a->traddr, b->traddr) == 0 && strcmp(a->trsvcid, b->trsvcid) == 0;
}

/* Index of the path with t's address and port, or -1. paths_lock held. */
static int path_find(const struct nvfab_ctrlr *ctrlr, const struct nvfab_trid *t)
{
	for (uint32_t i = 0; i < ctrlr->npaths; i++)
		if (same_path(&ctrlr->paths[i], t))
			return (int)i;
	return -1;
}

/* The namespaces seen through the new path are those of the controller: same NSIDs, sizes and
 * identifiers. Failing over to anything else would write to another device. */
static int same_namespaces(const struct nvfab_ctrlr *a, const struct nvfab_ctrlr *b,
			   struct nvfab_error *err)
{
	const struct nvfab_ns *x, *y;

	if (a->num_ns != b->num_ns) {
		host_error_set(err, -EINVAL, 0, "it shows %u namespaces, the controller %u",
			       b->num_ns, a->num_ns);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < a->num_ns; i++) {
		x = a->ns[i];
		y = b->ns[i];
		if (x->nsid != y->nsid || x->num_blocks != y->num_blocks ||
		    x->block_size != y->block_size ||
		    memcmp(x->id->nguid, y->id->nguid, sizeof(x->id->nguid)) != 0 ||
		    memcmp(x->id->eui64, y->id->eui64, sizeof(x->id->eui64)) != 0) {
			host_error_set(err, -EINVAL, 0, "its namespace %u differs from the "
				       "controller's namespace %u (size, block size or identifiers)",
				       y->nsid, x->nsid);
			return -EINVAL;
		}
	}
	return 0;
}

int nvfab_ctrlr_add_path(struct nvfab_ctrlr *ctrlr, const struct nvfab_trid *trid,
			 struct nvfab_error *err)
{
	struct nvfab_ctrlr_opts opts = ctrlr->opts;
	struct nvfab_error perr;
	struct nvfab_ctrlr *probe;
	struct nvfab_trid t;
	int rc;

	if (err)
		memset(err, 0, sizeof(*err));
	if (!trid || trid->trtype != NVFAB_TRTYPE_TCP || !trid->traddr[0]) {
		host_error_set(err, -EINVAL, 0, "transport ID needs trtype TCP and a traddr");
		return -EINVAL;
	}
	t = *trid;
	if (!t.trsvcid[0])
		snprintf(t.trsvcid, sizeof(t.trsvcid), "%s", NVFAB_DEFAULT_PORT);
	if (!t.subnqn[0])
		snprintf(t.subnqn, sizeof(t.subnqn), "%s", ctrlr->trid.subnqn);
	if (strcmp(t.subnqn, ctrlr->trid.subnqn) != 0 || ctrlr->discovery) {
		host_error_set(err, -EINVAL, 0, "a path must lead to the same subsystem (%s), not %s",
			       ctrlr->trid.subnqn, t.subnqn);
		return -EINVAL;
	}
	pthread_mutex_lock(&ctrlr->paths_lock);
	rc = path_find(ctrlr, &t) >= 0 ? -EEXIST : ctrlr->npaths == NVFAB_MAX_PATHS ? -ENOSPC : 0;
	pthread_mutex_unlock(&ctrlr->paths_lock);
	if (rc) {
		host_error_set(err, rc, 0, rc == -EEXIST ? "%s:%s is already a path" :
			       "%s:%s: the controller has its maximum of paths", t.traddr, t.trsvcid);
		return rc;
	}

	/* Same host identity as the controller's own connections. */
	snprintf(opts.hostnqn, sizeof(opts.hostnqn), "%s", ctrlr->hostnqn);
	t.hostnqn[0] = '\0';
	opts.ctrl_loss_tmo_s = 0;
	probe = nvfab_ctrlr_connect(&t, &opts, &perr);
	if (!probe) {
		host_error_set(err, perr.err ? perr.err : -EIO, perr.status, "%s", perr.msg);
		return perr.err ? perr.err : -EIO;
	}
	pthread_mutex_lock(&ctrlr->ns_lock);
	rc = same_namespaces(ctrlr, probe, err);
	pthread_mutex_unlock(&ctrlr->ns_lock);
	nvfab_ctrlr_disconnect(probe);
	if (rc)
		return rc;

	pthread_mutex_lock(&ctrlr->paths_lock);
	rc = path_find(ctrlr, &t) >= 0 ? -EEXIST : ctrlr->npaths == NVFAB_MAX_PATHS ? -ENOSPC : 0;
	if (rc == 0)
		ctrlr->paths[ctrlr->npaths++] = t;
	pthread_mutex_unlock(&ctrlr->paths_lock);
	if (rc) {
		host_error_set(err, rc, 0, "%s:%s was added meanwhile, or the paths are full",
			       t.traddr, t.trsvcid);
		return rc;
	}
	log_info("%s: path %s:%s added (%u paths)", ctrlr->trid.subnqn, t.traddr, t.trsvcid,
		 host_path_count(ctrlr));
	return 0;
}

int nvfab_ctrlr_remove_path(struct nvfab_ctrlr *ctrlr, const struct nvfab_trid *trid)
{
	int idx, rc = 0;

	pthread_mutex_lock(&ctrlr->paths_lock);
	idx = path_find(ctrlr, trid);
	if (idx < 0) {
		rc = -ENOENT;
	} else if ((uint32_t)idx == ctrlr->path) {
		rc = -EBUSY;
	} else {
		memmove(&ctrlr->paths[idx], &ctrlr->paths[idx + 1],
			(ctrlr->npaths - (uint32_t)idx - 1) * sizeof(ctrlr->paths[0]));
		ctrlr->npaths--;
		if ((uint32_t)idx < ctrlr->path)
			ctrlr->path--;
	}
	pthread_mutex_unlock(&ctrlr->paths_lock);
	return rc;
}

uint32_t nvfab_ctrlr_num_paths(const struct nvfab_ctrlr *ctrlr)
{
	return host_path_count((struct nvfab_ctrlr *)ctrlr);
}

int nvfab_ctrlr_get_path(const struct nvfab_ctrlr *ctrlr, uint32_t idx, struct nvfab_trid *out)
{
	struct nvfab_ctrlr *c = (struct nvfab_ctrlr *)ctrlr; /* the lock, not the paths */
	int rc = -ENOENT;

	pthread_mutex_lock(&c->paths_lock);
	if (idx < c->npaths) {
		*out = c->paths[(c->path + idx) % c->npaths];
		rc = 0;
	}
	pthread_mutex_unlock(&c->paths_lock);
	return rc;
}
