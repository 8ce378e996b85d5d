/*
 * A controller's namespaces: identified at connect and again when the controller says they
 * changed (an Asynchronous Event, Namespace Attribute Changed). The list is an array of
 * pointers replaced as a whole under ns_lock; the objects themselves stay until disconnect,
 * because I/O threads hold pointers to them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nvme/types.h>

#include "host/host_internal.h"
#include "spec/status.h"
#include "util/log.h"

struct host_ns {
	struct nvfab_ns pub;
	struct host_ns *next;   /* ctrlr->ns_all */
};

#define HOST_CHANGED_NS_LOG_SIZE 4096 /* 1024 NSIDs */

static uint32_t ns_block_size(const struct nvme_id_ns *id, uint32_t *ms)
{
	unsigned idx = (id->flbas & NVME_NS_FLBAS_LOWER_MASK) |
		       (id->nlbaf > 16 ? ((id->flbas & NVME_NS_FLBAS_HIGHER_MASK) >> 5) << 4 : 0);

	if (idx > 63)
		idx = 0;
	*ms = id->lbaf[idx].ms;
	return id->lbaf[idx].ds >= 9 && id->lbaf[idx].ds < 32 ? 1u << id->lbaf[idx].ds : 0;
}

/* The active NSIDs (0-terminated unless full), or every NSID up to NN for pre-1.1 controllers. */
static int active_list(struct nvfab_ctrlr *ctrlr, uint32_t *list, struct nvfab_error *err)
{
	struct nvfab_cpl cpl;
	int rc = nvfab_ctrlr_identify(ctrlr, NVME_IDENTIFY_CNS_NS_ACTIVE_LIST, 0, list, &cpl);

	if (rc == -EIO) {
		uint32_t nn = ctrlr->id->nn < HOST_MAX_NS ? ctrlr->id->nn : HOST_MAX_NS;

		for (uint32_t i = 0; i < nn; i++)
			list[i] = i + 1;
		if (nn < HOST_MAX_NS)
			list[nn] = 0;
		rc = 0;
	}
	if (rc)
		host_error_set(err, rc, 0, "Identify active namespace list: %s", strerror(-rc));
	return rc;
}

/* Identify Namespace nsid into a new buffer (*out). 0 with *out NULL: not active after all
 * (the fallback list names every NSID up to NN). */
static int ns_read_id(struct nvfab_ctrlr *ctrlr, uint32_t nsid, struct nvme_id_ns **out,
		      struct nvfab_error *err)
{
	struct nvme_id_ns *id;
	struct nvfab_cpl cpl;
	int rc;

	*out = NULL;
	if (posix_memalign((void **)&id, 64, NVME_IDENTIFY_DATA_SIZE))
		return -ENOMEM;
	rc = nvfab_ctrlr_identify(ctrlr, NVME_IDENTIFY_CNS_NS, nsid, id, &cpl);
	if (rc == -EIO || (rc == 0 && id->nsze == 0)) {
		free(id);
		return 0;
	}
	if (rc) {
		host_error_set(err, rc, 0, "Identify Namespace %u: %s", nsid, strerror(-rc));
		free(id);
		return rc;
	}
	*out = id;
	return 0;
}

/* A new namespace object owning id (freed on failure). */
static struct nvfab_ns *ns_new(struct nvfab_ctrlr *ctrlr, uint32_t nsid, struct nvme_id_ns *id,
			       int *rc)
{
	struct host_ns *hns = calloc(1, sizeof(*hns));

	if (!hns) {
		free(id);
		*rc = -ENOMEM;
		return NULL;
	}
	hns->pub.nsid = nsid;
	hns->pub.id = id;
	hns->pub.num_blocks = id->nsze;
	hns->pub.block_size = ns_block_size(id, &hns->pub.md_size);
	hns->pub.ctrlr = ctrlr;
	hns->next = ctrlr->ns_all;
	ctrlr->ns_all = hns;
	*rc = 0;
	return &hns->pub;
}

/*
 * The namespace object for nsid as the controller reports it now: known, a known one read
 * again (*ns on entry, when recheck), or a new one. NULL with 0: not active. A new size is
 * written into the known object, which I/O threads hold (num_blocks with an atomic store; the
 * Identify data with it, which nothing on the data path reads; *resized set). Another block or
 * metadata size makes another namespace: I/O sized for the old format would mean something
 * else. The identifiers (NGUID, EUI-64) are not compared, as SPDK's bdev_nvme does not: a
 * target restarted without fixed UUIDs gives the same namespace new ones, and its hosts must
 * carry on.
 */
static int ns_current(struct nvfab_ctrlr *ctrlr, uint32_t nsid, struct nvfab_ns **ns,
		      bool recheck, bool *resized, struct nvfab_error *err)
{
	struct nvme_id_ns *id;
	uint32_t ms;
	int rc;

	if (*ns && !recheck)
		return 0;
	rc = ns_read_id(ctrlr, nsid, &id, err);
	if (rc || !id) {
		*ns = NULL;
		return rc;
	}
	if (*ns && ns_block_size(id, &ms) == (*ns)->block_size && ms == (*ns)->md_size) {
		if (id->nsze != (*ns)->num_blocks) {
			log_info("%s: namespace %u resized from %llu to %llu blocks",
				 ctrlr->trid.subnqn, nsid, (unsigned long long)(*ns)->num_blocks,
				 (unsigned long long)id->nsze);
			memcpy((struct nvme_id_ns *)(*ns)->id, id, sizeof(*id));
			__atomic_store_n(&(*ns)->num_blocks, id->nsze, __ATOMIC_RELAXED);
			*resized = true;
		}
		free(id);
		return 0;
	}
	*ns = ns_new(ctrlr, nsid, id, &rc);
	return rc;
}

static struct nvfab_ns *ns_find(struct nvfab_ns **arr, uint32_t n, uint32_t nsid)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (arr[mid]->nsid == nsid)
			return arr[mid];
		if (arr[mid]->nsid < nsid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int nsid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Whether the Changed Namespace List (0-terminated unless full) names nsid. */
static bool ns_listed(const uint32_t *log, uint32_t nsid)
{
	for (uint32_t i = 0; i < HOST_CHANGED_NS_LOG_SIZE / 4 && log[i]; i++)
		if (log[i] == nsid)
			return true;
	return false;
}

int host_ns_refresh(struct nvfab_ctrlr *ctrlr, bool clear_changed, bool *changed,
		    struct nvfab_error *err)
{
	struct nvfab_ns **arr = NULL, **old;
	uint32_t *list = NULL, *log = NULL, count = 0, n = 0;
	bool recheck_all = true, resized = false;
	int rc;

	if (changed)
		*changed = false;
	if (posix_memalign((void **)&list, 64, HOST_CHANGED_NS_LOG_SIZE) ||
	    posix_memalign((void **)&log, 64, HOST_CHANGED_NS_LOG_SIZE)) {
		free(list);
		return -ENOMEM;
	}
	/*
	 * Reading the log is what re-enables the notice. The active list below says which
	 * namespaces are there now; the log says which known ones to identify again (a resize).
	 * When it names none (the refresh follows a reconnect: the new controller has no history)
	 * or overflowed (FFFFFFFFh), every known one is.
	 */
	if (clear_changed &&
	    host_get_log_page(ctrlr, NVME_LOG_LID_CHANGED_NS, 0xffffffff, 0, log,
			      HOST_CHANGED_NS_LOG_SIZE, NULL) == 0)
		recheck_all = log[0] == 0 || log[0] == 0xffffffff;
	rc = active_list(ctrlr, list, err);
	if (rc)
		goto out;
	while (count < HOST_MAX_NS && list[count])
		count++;
	qsort(list, count, sizeof(*list), nsid_cmp);
	arr = calloc(count ? count : 1, sizeof(*arr));
	if (!arr) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < count; i++) {
		struct nvfab_ns *ns;

		pthread_mutex_lock(&ctrlr->ns_lock);
		ns = ctrlr->ns ? ns_find(ctrlr->ns, ctrlr->num_ns, list[i]) : NULL;
		pthread_mutex_unlock(&ctrlr->ns_lock);
		rc = ns_current(ctrlr, list[i], &ns, recheck_all || ns_listed(log, list[i]),
				&resized, err);
		if (rc)
			goto out;
		if (ns)
			arr[n++] = ns;
	}
	pthread_mutex_lock(&ctrlr->ns_lock);
	if (changed)
		*changed = resized || n != ctrlr->num_ns ||
			   (n && memcmp(arr, ctrlr->ns, n * sizeof(*arr)) != 0);
	old = ctrlr->ns;
	ctrlr->ns = arr;
	ctrlr->num_ns = n;
	pthread_mutex_unlock(&ctrlr->ns_lock);
	free(old);
	arr = NULL;
out:
	free(arr);
	free(list);
	free(log);
	return rc;
}

void host_ns_free_all(struct nvfab_ctrlr *ctrlr)
{
	struct host_ns *hns;

	while ((hns = ctrlr->ns_all)) {
		ctrlr->ns_all = hns->next;
		free((void *)hns->pub.id);
		free(hns);
	}
	free(ctrlr->ns);
	ctrlr->ns = NULL;
	ctrlr->num_ns = 0;
}

int nvfab_ctrlr_refresh_namespaces(struct nvfab_ctrlr *ctrlr, struct nvfab_error *err)
{
	bool changed;
	int rc;

	if (err)
		memset(err, 0, sizeof(*err));
	if (ctrlr->discovery)
		return 0;
	rc = host_ns_refresh(ctrlr, true, &changed, err);
	if (rc == 0 && changed)
		log_info("%s: namespaces changed: %u active now", ctrlr->trid.subnqn, ctrlr->num_ns);
	return rc;
}

const struct nvfab_ns *nvfab_ctrlr_next_ns(const struct nvfab_ctrlr *ctrlr,
					   const struct nvfab_ns *prev)
{
	struct nvfab_ctrlr *c = (struct nvfab_ctrlr *)ctrlr; /* the lock, not the list */
	const struct nvfab_ns *next = NULL;

	pthread_mutex_lock(&c->ns_lock);
	for (uint32_t i = 0; i < c->num_ns; i++)
		if (!prev || c->ns[i]->nsid > prev->nsid) {
			next = c->ns[i];
			break;
		}
	pthread_mutex_unlock(&c->ns_lock);
	return next;
}

const struct nvfab_ns *nvfab_ctrlr_get_ns(const struct nvfab_ctrlr *ctrlr, uint32_t nsid)
{
	struct nvfab_ctrlr *c = (struct nvfab_ctrlr *)ctrlr;
	const struct nvfab_ns *ns;

	pthread_mutex_lock(&c->ns_lock);
	ns = c->ns ? ns_find(c->ns, c->num_ns, nsid) : NULL;
	pthread_mutex_unlock(&c->ns_lock);
	return ns;
}

/* ---- namespace events ---- */

static void aer_submit(struct nvfab_ctrlr *ctrlr);

static void aer_done(void *arg, const struct nvfab_cpl *cpl)
{
	struct nvfab_ctrlr *ctrlr = arg;
	char buf[160];

	ctrlr->aer_outstanding = false;
	if (cpl->transport_err)
		return; /* the connection went: armed again after the reconnect */
	if (cpl->status & 0x7ff) {
		/* Aborted at shutdown, or the controller wants fewer: no new request. */
		log_info("%s: Asynchronous Event Request ended: %s", ctrlr->trid.subnqn,
			 nvfab_cpl_str(cpl, buf, sizeof(buf)));
		return;
	}
	log_info("%s: asynchronous event 0x%08x", ctrlr->trid.subnqn, cpl->cdw0);
	if (ctrlr->event_cb)
		ctrlr->event_cb(ctrlr->event_arg, cpl->cdw0);
	aer_submit(ctrlr);
}

static void aer_submit(struct nvfab_ctrlr *ctrlr)
{
	struct nvme_sqe sqe;

	if (ctrlr->aer_outstanding || ctrlr->admin.state != HOST_QP_LIVE)
		return;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opc = nvme_admin_async_event;
	if (host_qpair_submit(&ctrlr->admin, &sqe, HOST_XFER_NONE, NULL, 0, 0, aer_done, ctrlr) == 0)
		ctrlr->aer_outstanding = true;
}

/* Namespace Attribute Notices on (the only event this library asks for). */
static int aec_enable(struct nvfab_ctrlr *ctrlr)
{
	struct nvfab_cpl cpl;
	int rc = host_ctrlr_set_feature(ctrlr, NVME_FEAT_FID_ASYNC_EVENT, 1u << 8, &cpl);

	if (rc == 0 && (cpl.status & 0x7ff))
		rc = -EREMOTEIO;
	return rc;
}

void host_ns_events_arm(struct nvfab_ctrlr *ctrlr)
{
	if (!ctrlr->ns_events)
		return;
	ctrlr->aer_outstanding = false; /* a request of the old connection is gone with it */
	ctrlr->ns_resync = true;
	if (aec_enable(ctrlr))
		log_warn("%s: cannot enable namespace notices after reconnecting",
			 ctrlr->trid.subnqn);
	aer_submit(ctrlr);
}

int nvfab_ctrlr_enable_ns_events(struct nvfab_ctrlr *ctrlr, nvfab_event_cb cb, void *arg)
{
	int rc;

	if (ctrlr->discovery || !(ctrlr->id->oaes & (1u << 8)))
		return -ENOTSUP;
	pthread_mutex_lock(&ctrlr->admin_lock);
	ctrlr->event_cb = cb;
	ctrlr->event_arg = arg;
	rc = aec_enable(ctrlr);
	if (rc == 0) {
		ctrlr->ns_events = true;
		aer_submit(ctrlr);
	}
	pthread_mutex_unlock(&ctrlr->admin_lock);
	return rc;
}
