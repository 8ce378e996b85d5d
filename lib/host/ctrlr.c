/*
 * Controller bring-up and teardown over the admin queue: Fabrics Connect, properties (CAP, VS,
 * CC, CSTS), Identify, Number of Queues, namespaces; orderly shutdown.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "host/host_internal.h"
#include "spec/status.h"
#include "util/log.h"

#define HOST_DEFAULT_KATO_MS 5000        /* Linux NVME_DEFAULT_KATO */
#define HOST_UNLIMITED_XFER (16u << 20)  /* MDTS 0 (no limit): still split somewhere sane */
#define HOST_SHUTDOWN_TIMEOUT_MS 5000    /* Linux shutdown_timeout default */

void nvfab_ctrlr_opts_init(struct nvfab_ctrlr_opts *opts)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	memset(opts, 0, sizeof(*opts));
	opts->kato_ms = -1;
	opts->nr_io_queues = cpus > 0 ? (uint32_t)cpus : 1;
	opts->io_queue_size = 128;
	opts->reconnect_delay_s = 10;
	opts->ctrl_loss_tmo_s = 600;
	opts->connect_timeout_ms = 5000;
	opts->io_timeout_ms = 30000;
}

void host_ctrlr_set_error(struct nvfab_ctrlr *ctrlr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctrlr->last_error, sizeof(ctrlr->last_error), fmt, ap);
	va_end(ap);
}

int host_ctrlr_admin_exec(struct nvfab_ctrlr *ctrlr, const struct nvme_sqe *sqe,
			  enum host_xfer xfer, void *buf, uint32_t len, struct nvfab_cpl *cpl)
{
	int tmo = ctrlr->opts.io_timeout_ms > 0 ? ctrlr->opts.io_timeout_ms : 30000;

	if (ctrlr->admin.state != HOST_QP_LIVE && ctrlr->admin.state != HOST_QP_CONNECTING)
		return -ENOTCONN;
	if (ctrlr->admin.state == HOST_QP_CONNECTING)
		tmo = host_ms_until(ctrlr->setup_deadline_ns);
	if (ctrlr->shutdown_deadline_ns && host_ms_until(ctrlr->shutdown_deadline_ns) < tmo)
		tmo = host_ms_until(ctrlr->shutdown_deadline_ns);
	return host_qpair_exec(&ctrlr->admin, sqe, xfer, buf, len, cpl, tmo);
}

static int prop_get(struct nvfab_ctrlr *ctrlr, uint32_t ofst, bool eight, uint64_t *val,
		    struct nvfab_error *err)
{
	struct nvfab_cpl cpl;
	struct nvme_sqe sqe;
	char st[128];
	int rc;

	host_sqe_prop_get(&sqe, ofst, eight);
	rc = host_ctrlr_admin_exec(ctrlr, &sqe, HOST_XFER_NONE, NULL, 0, &cpl);
	if (rc) {
		host_error_set(err, rc, 0, "Property Get 0x%x: %s", ofst, strerror(-rc));
		return rc;
	}
	if (cpl.status & 0x7ff) {
		host_error_set(err, -EREMOTEIO, cpl.status, "Property Get 0x%x: %s", ofst,
			       spec_status_format(cpl.status, st, sizeof(st)));
		return -EREMOTEIO;
	}
	/* An 8-byte property comes back in DW0 (low) and DW1 (high). */
	*val = eight ? ((uint64_t)cpl.cdw1 << 32 | cpl.cdw0) : cpl.cdw0;
	return 0;
}

static int prop_set(struct nvfab_ctrlr *ctrlr, uint32_t ofst, uint64_t val, struct nvfab_error *err)
{
	struct nvfab_cpl cpl;
	struct nvme_sqe sqe;
	char st[128];
	int rc;

	host_sqe_prop_set(&sqe, ofst, false, val);
	rc = host_ctrlr_admin_exec(ctrlr, &sqe, HOST_XFER_NONE, NULL, 0, &cpl);
	if (rc) {
		host_error_set(err, rc, 0, "Property Set 0x%x: %s", ofst, strerror(-rc));
		return rc;
	}
	if (cpl.status & 0x7ff) {
		host_error_set(err, -EREMOTEIO, cpl.status, "Property Set 0x%x = 0x%llx: %s", ofst,
			       (unsigned long long)val, spec_status_format(cpl.status, st, sizeof(st)));
		return -EREMOTEIO;
	}
	return 0;
}

int nvfab_ctrlr_get_property(struct nvfab_ctrlr *ctrlr, uint32_t offset, bool eight_bytes,
			     uint64_t *value)
{
	int rc;

	pthread_mutex_lock(&ctrlr->admin_lock);
	rc = prop_get(ctrlr, offset, eight_bytes, value, NULL);
	pthread_mutex_unlock(&ctrlr->admin_lock);
	return rc;
}

static void msleep(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Polls CSTS until (csts & mask) == want, CFS, or timeout. */
static int wait_csts(struct nvfab_ctrlr *ctrlr, uint32_t mask, uint32_t want, uint32_t timeout_ms,
		     const char *what, struct nvfab_error *err)
{
	uint64_t deadline = host_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	unsigned nap = 1;

	if (ctrlr->admin.state == HOST_QP_CONNECTING && ctrlr->setup_deadline_ns < deadline)
		deadline = ctrlr->setup_deadline_ns;
	if (ctrlr->shutdown_deadline_ns && ctrlr->shutdown_deadline_ns < deadline)
		deadline = ctrlr->shutdown_deadline_ns;

	for (;;) {
		uint64_t csts;
		int rc = prop_get(ctrlr, NVMF_PROP_CSTS, false, &csts, err);

		if (rc)
			return rc;
		if (NVME_CSTS_CFS(csts)) {
			host_error_set(err, -EIO, 0, "controller fatal status (CSTS.CFS) while waiting for %s",
				       what);
			return -EIO;
		}
		if ((csts & mask) == want)
			return 0;
		if (host_now_ns() >= deadline) {
			host_error_set(err, -ETIMEDOUT, 0, "controller not %s in time (CAP.TO %u ms, CSTS 0x%llx)",
				       what, timeout_ms, (unsigned long long)csts);
			return -ETIMEDOUT;
		}
		msleep(nap);
		if (nap < 64)
			nap *= 2;
	}
}

/* CAP is an 8-byte property: targets (nvmet) refuse 4-byte reads of it. */
static int read_cap(struct nvfab_ctrlr *ctrlr, struct nvfab_error *err)
{
	return prop_get(ctrlr, NVMF_PROP_CAP, true, &ctrlr->cap, err);
}

int host_ctrlr_enable(struct nvfab_ctrlr *ctrlr, struct nvfab_error *err)
{
	uint64_t vs, cc;
	uint32_t to_ms;
	int rc;

	rc = read_cap(ctrlr, err);
	if (rc)
		return rc;
	rc = prop_get(ctrlr, NVMF_PROP_VS, false, &vs, err);
	if (rc)
		return rc;
	ctrlr->vs = (uint32_t)vs;
	to_ms = (uint32_t)NVME_CAP_TO(ctrlr->cap) * 500;
	if (to_ms == 0)
		to_ms = 500;

	cc = NVME_SET(1, CC_EN) | NVME_SET(NVME_CC_CSS_NVM, CC_CSS) | NVME_SET(0, CC_MPS) |
	     NVME_SET(NVME_CC_AMS_RR, CC_AMS) | NVME_SET(NVME_CC_SHN_NONE, CC_SHN) |
	     NVME_SET(6, CC_IOSQES) | NVME_SET(4, CC_IOCQES);
	rc = prop_set(ctrlr, NVMF_PROP_CC, cc, err);
	if (rc)
		return rc;
	return wait_csts(ctrlr, 1u << NVME_CSTS_RDY_SHIFT, 1u << NVME_CSTS_RDY_SHIFT, to_ms, "ready",
			 err);
}

int nvfab_ctrlr_identify(struct nvfab_ctrlr *ctrlr, uint8_t cns, uint32_t nsid, void *buf,
			 struct nvfab_cpl *cpl)
{
	struct nvfab_cpl local;
	struct nvme_sqe sqe;
	int rc;

	memset(&sqe, 0, sizeof(sqe));
	sqe.opc = nvme_admin_identify;
	sqe.nsid = nsid;
	sqe.cdw10 = cns;
	pthread_mutex_lock(&ctrlr->admin_lock);
	rc = host_ctrlr_admin_exec(ctrlr, &sqe, HOST_XFER_C2H, buf, NVME_IDENTIFY_DATA_SIZE,
				   cpl ? cpl : &local);
	pthread_mutex_unlock(&ctrlr->admin_lock);
	if (rc)
		return rc;
	return (cpl ? cpl : &local)->status & 0x7ff ? -EIO : 0;
}

int host_get_log_page(struct nvfab_ctrlr *ctrlr, uint8_t lid, uint32_t nsid, uint64_t offset,
		      void *buf, uint32_t len, struct nvfab_cpl *cpl)
{
	uint32_t max = ctrlr->max_xfer ? ctrlr->max_xfer : 4096;
	struct nvfab_cpl local;
	uint32_t done = 0;

	if (!cpl)
		cpl = &local;
	if (len % 4 || offset % 4)
		return -EINVAL;
	while (done < len) {
		uint32_t chunk = len - done < max ? len - done : max;
		uint32_t numd = chunk / 4 - 1;
		uint64_t lpo = offset + done;
		struct nvme_sqe sqe;
		int rc;

		memset(&sqe, 0, sizeof(sqe));
		sqe.opc = nvme_admin_get_log_page;
		sqe.nsid = nsid;
		sqe.cdw10 = lid | (numd & 0xffff) << 16;
		sqe.cdw11 = numd >> 16;
		sqe.cdw12 = (uint32_t)lpo;
		sqe.cdw13 = (uint32_t)(lpo >> 32);
		rc = host_ctrlr_admin_exec(ctrlr, &sqe, HOST_XFER_C2H, (uint8_t *)buf + done, chunk,
					   cpl);
		if (rc)
			return rc;
		if (cpl->status & 0x7ff)
			return -EIO;
		done += chunk;
	}
	return 0;
}

int nvfab_ctrlr_get_log_page(struct nvfab_ctrlr *ctrlr, uint8_t lid, uint32_t nsid,
			     uint64_t offset, void *buf, uint32_t len, struct nvfab_cpl *cpl)
{
	int rc;

	pthread_mutex_lock(&ctrlr->admin_lock);
	rc = host_get_log_page(ctrlr, lid, nsid, offset, buf, len, cpl);
	pthread_mutex_unlock(&ctrlr->admin_lock);
	return rc;
}

static int identify_ctrlr(struct nvfab_ctrlr *ctrlr, struct nvfab_error *err)
{
	struct nvfab_cpl cpl;
	char st[128];
	uint32_t page, mqes;
	int rc;

	rc = nvfab_ctrlr_identify(ctrlr, NVME_IDENTIFY_CNS_CTRL, 0, ctrlr->id, &cpl);
	if (rc) {
		host_error_set(err, rc, cpl.status, "Identify Controller failed: %s",
			       rc == -EIO ? spec_status_format(cpl.status, st, sizeof(st))
					  : strerror(-rc));
		return rc;
	}
	page = 1u << (12 + NVME_CAP_MPSMIN(ctrlr->cap));
	if (ctrlr->id->mdts == 0 || ctrlr->id->mdts > 20)
		ctrlr->max_xfer = HOST_UNLIMITED_XFER;
	else
		ctrlr->max_xfer = (uint32_t)(((uint64_t)page << ctrlr->id->mdts) > HOST_UNLIMITED_XFER
					       ? HOST_UNLIMITED_XFER
					       : (uint64_t)page << ctrlr->id->mdts);
	ctrlr->icd_size = ctrlr->id->ioccsz >= 4 ? ctrlr->id->ioccsz * 16 - 64 : 0;
	mqes = (uint32_t)NVME_CAP_MQES(ctrlr->cap) + 1;
	ctrlr->max_queue_size = mqes;
	if (ctrlr->id->maxcmd && ctrlr->id->maxcmd < ctrlr->max_queue_size)
		ctrlr->max_queue_size = ctrlr->id->maxcmd;
	if (ctrlr->max_queue_size > HOST_MAX_QUEUE_SIZE)
		ctrlr->max_queue_size = HOST_MAX_QUEUE_SIZE;
	return 0;
}

int host_ctrlr_set_feature(struct nvfab_ctrlr *ctrlr, uint8_t fid, uint32_t value,
			   struct nvfab_cpl *cpl)
{
	struct nvme_sqe sqe;

	memset(&sqe, 0, sizeof(sqe));
	sqe.opc = nvme_admin_set_features;
	sqe.cdw10 = fid;
	sqe.cdw11 = value;
	return host_ctrlr_admin_exec(ctrlr, &sqe, HOST_XFER_NONE, NULL, 0, cpl);
}

static int set_num_queues(struct nvfab_ctrlr *ctrlr, struct nvfab_error *err)
{
	uint32_t want = ctrlr->opts.nr_io_queues ? ctrlr->opts.nr_io_queues : 1;
	struct nvfab_cpl cpl;
	uint32_t nsqa, ncqa, got;
	char st[128];
	int rc;

	if (want > 65535)
		want = 65535;
	rc = host_ctrlr_set_feature(ctrlr, NVME_FEAT_FID_NUM_QUEUES,
				    (want - 1) | (want - 1) << 16, &cpl);
	if (rc) {
		host_error_set(err, rc, 0, "Set Features (Number of Queues): %s", strerror(-rc));
		return rc;
	}
	if (cpl.status & 0x7ff) {
		host_error_set(err, -EREMOTEIO, cpl.status, "Set Features (Number of Queues): %s",
			       spec_status_format(cpl.status, st, sizeof(st)));
		return -EREMOTEIO;
	}
	nsqa = (cpl.cdw0 & 0xffff) + 1;
	ncqa = (cpl.cdw0 >> 16) + 1;
	got = nsqa < ncqa ? nsqa : ncqa;
	ctrlr->nr_io_queues = got < want ? got : want;
	return 0;
}

/* Admin queue up and controller enabled; identify and queue count refreshed. */
/* limit_ns: the ctrl_loss_tmo deadline when reconnecting, UINT64_MAX otherwise. */
static int ctrlr_bring_up(struct nvfab_ctrlr *ctrlr, uint64_t limit_ns, struct nvfab_error *err)
{
	struct host_qpair *aq = &ctrlr->admin;
	int rc;

	aq->state = HOST_QP_CONNECTING;
	ctrlr->setup_deadline_ns = host_setup_deadline(ctrlr, limit_ns);
	rc = host_qpair_connect(aq, 0xffff, ctrlr->setup_deadline_ns, err);
	if (rc)
		return rc;
	aq->state = HOST_QP_CONNECTING; /* enable and identify still count as set-up */
	rc = host_ctrlr_enable(ctrlr, err);
	if (rc == 0)
		rc = identify_ctrlr(ctrlr, err);
	if (rc == 0 && !ctrlr->discovery)
		rc = set_num_queues(ctrlr, err);
	if (rc) {
		host_qpair_close(aq, rc, false);
		aq->state = HOST_QP_FAILED;
		return rc;
	}
	aq->state = HOST_QP_LIVE;
	atomic_store(&ctrlr->cntlid, aq->connect_cntlid);
	atomic_fetch_add(&ctrlr->generation, 1);
	ctrlr->ka_outstanding = false;
	ctrlr->next_ka_ns = host_now_ns() + (uint64_t)ctrlr->kato_ms * 500000ull;
	return 0;
}

static void ctrlr_free(struct nvfab_ctrlr *ctrlr)
{
	host_ns_free_all(ctrlr);
	free(ctrlr->id);
	free(ctrlr->qid_used);
	host_qpair_fini(&ctrlr->admin);
	pthread_mutex_destroy(&ctrlr->qid_lock);
	pthread_mutex_destroy(&ctrlr->admin_lock);
	pthread_mutex_destroy(&ctrlr->paths_lock);
	pthread_mutex_destroy(&ctrlr->ns_lock);
	dhchap_secret_clear(&ctrlr->dhchap_key);
	dhchap_secret_clear(&ctrlr->dhchap_ctrl_key);
	tls_psk_clear(&ctrlr->tls_key);
	free(ctrlr);
}

struct nvfab_ctrlr *nvfab_ctrlr_connect(const struct nvfab_trid *trid,
					const struct nvfab_ctrlr_opts *opts,
					struct nvfab_error *err)
{
	static const uint8_t zero_id[16];
	struct nvfab_ctrlr *ctrlr;
	int rc;

	if (err)
		memset(err, 0, sizeof(*err));
	if (!trid || trid->trtype != NVFAB_TRTYPE_TCP || !trid->traddr[0]) {
		host_error_set(err, -EINVAL, 0, "transport ID needs trtype TCP and a traddr");
		return NULL;
	}
	ctrlr = calloc(1, sizeof(*ctrlr));
	if (!ctrlr) {
		host_error_set(err, -ENOMEM, 0, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&ctrlr->qid_lock, NULL);
	pthread_mutex_init(&ctrlr->ns_lock, NULL);
	{
		pthread_mutexattr_t attr;

		pthread_mutexattr_init(&attr);
		pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
		pthread_mutex_init(&ctrlr->admin_lock, &attr);
		pthread_mutexattr_destroy(&attr);
	}
	ctrlr->trid = *trid;
	if (!ctrlr->trid.trsvcid[0])
		snprintf(ctrlr->trid.trsvcid, sizeof(ctrlr->trid.trsvcid), "%s", NVFAB_DEFAULT_PORT);
	if (!ctrlr->trid.subnqn[0])
		snprintf(ctrlr->trid.subnqn, sizeof(ctrlr->trid.subnqn), "%s", NVFAB_DISCOVERY_NQN);
	if (opts)
		ctrlr->opts = *opts;
	else
		nvfab_ctrlr_opts_init(&ctrlr->opts);
	if (ctrlr->opts.connect_timeout_ms <= 0)
		ctrlr->opts.connect_timeout_ms = 5000;
	if (memcmp(ctrlr->opts.hostid, zero_id, 16) == 0)
		host_hostid_default(ctrlr->opts.hostid);
	if (trid->hostnqn[0])
		snprintf(ctrlr->hostnqn, sizeof(ctrlr->hostnqn), "%s", trid->hostnqn);
	else if (ctrlr->opts.hostnqn[0])
		snprintf(ctrlr->hostnqn, sizeof(ctrlr->hostnqn), "%s", ctrlr->opts.hostnqn);
	else
		nvfab_hostnqn_from_uuid(ctrlr->opts.hostid, ctrlr->hostnqn);
	ctrlr->discovery = strcmp(ctrlr->trid.subnqn, NVFAB_DISCOVERY_NQN) == 0;
	host_paths_init(ctrlr);
	if (ctrlr->opts.kato_ms >= 0)
		ctrlr->kato_ms = (uint32_t)ctrlr->opts.kato_ms;
	else
		ctrlr->kato_ms = ctrlr->discovery ? 0 : HOST_DEFAULT_KATO_MS;
	atomic_init(&ctrlr->state, HOST_CTRLR_LIVE);
	rc = host_auth_setup(ctrlr, err);
	if (rc) {
		dhchap_secret_clear(&ctrlr->dhchap_key);
		dhchap_secret_clear(&ctrlr->dhchap_ctrl_key);
		free(ctrlr);
		return NULL;
	}

	ctrlr->id = NULL;
	if (posix_memalign((void **)&ctrlr->id, 64, NVME_IDENTIFY_DATA_SIZE)) {
		free(ctrlr);
		host_error_set(err, -ENOMEM, 0, "out of memory");
		return NULL;
	}
	rc = host_qpair_init(&ctrlr->admin, ctrlr, 0, HOST_ADMIN_QUEUE_SIZE);
	if (rc) {
		free(ctrlr->id);
		free(ctrlr);
		host_error_set(err, rc, 0, "admin queue: %s", strerror(-rc));
		return NULL;
	}
	ctrlr->admin.icd_max = HOST_ADMIN_ICD_SIZE;
	ctrlr->admin.hold_on_error = false; /* the controller reconnects as a whole */

	rc = ctrlr_bring_up(ctrlr, UINT64_MAX, err);
	if (rc == 0 && !ctrlr->discovery)
		rc = host_ns_refresh(ctrlr, false, NULL, err);
	if (rc == 0) {
		ctrlr->qid_used = calloc(ctrlr->nr_io_queues + 1, 1);
		if (!ctrlr->qid_used) {
			rc = -ENOMEM;
			host_error_set(err, rc, 0, "out of memory");
		}
	}
	if (rc) {
		log_info("connect to %s:%s %s failed: %s", ctrlr->trid.traddr, ctrlr->trid.trsvcid,
			 ctrlr->trid.subnqn, err ? err->msg : strerror(-rc));
		if (ctrlr->admin.state == HOST_QP_LIVE)
			host_qpair_close(&ctrlr->admin, rc, false);
		ctrlr_free(ctrlr);
		return NULL;
	}
	log_info("connected to %s:%s %s as cntlid %u (%u I/O queues, MDTS %u bytes)",
		 ctrlr->trid.traddr, ctrlr->trid.trsvcid, ctrlr->trid.subnqn,
		 atomic_load(&ctrlr->cntlid), ctrlr->nr_io_queues, ctrlr->max_xfer);
	return ctrlr;
}

static void ctrlr_shutdown(struct nvfab_ctrlr *ctrlr)
{
	uint32_t tmo = HOST_SHUTDOWN_TIMEOUT_MS;
	struct nvfab_error err = {0};
	uint64_t cc;
	int rc;

	if (ctrlr->admin.state != HOST_QP_LIVE)
		return;
	if (ctrlr->id->rtd3e / 1000 > tmo)
		tmo = ctrlr->id->rtd3e / 1000;
	if (tmo > 30000)
		tmo = 30000;
	ctrlr->shutdown_deadline_ns = host_now_ns() + (uint64_t)tmo * 1000000ull;
	rc = prop_get(ctrlr, NVMF_PROP_CC, false, &cc, &err);
	if (rc == 0) {
		cc &= ~((uint64_t)NVME_CC_SHN_MASK << NVME_CC_SHN_SHIFT);
		cc |= NVME_SET(NVME_CC_SHN_NORMAL, CC_SHN);
		rc = prop_set(ctrlr, NVMF_PROP_CC, cc, &err);
	}
	if (rc == 0)
		rc = wait_csts(ctrlr, (uint32_t)NVME_CSTS_SHST_MASK << NVME_CSTS_SHST_SHIFT,
			       (uint32_t)NVME_CSTS_SHST_CMPLT << NVME_CSTS_SHST_SHIFT, tmo, "shut down",
			       &err);
	ctrlr->shutdown_deadline_ns = 0;
	if (rc)
		log_warn("%s: shutdown did not complete (%s); disconnecting anyway",
			 ctrlr->trid.subnqn, err.msg);
}

void nvfab_ctrlr_disconnect(struct nvfab_ctrlr *ctrlr)
{
	if (!ctrlr)
		return;
	pthread_mutex_lock(&ctrlr->admin_lock);
	ctrlr_shutdown(ctrlr);
	pthread_mutex_unlock(&ctrlr->admin_lock);
	if (ctrlr->admin.fd >= 0)
		host_qpair_close(&ctrlr->admin, -ESHUTDOWN, false);
	host_qpair_fail_all(&ctrlr->admin, -ESHUTDOWN);
	ctrlr_free(ctrlr);
}

/* ---- keep-alive and reconnect, from the thread that polls the admin queue ---- */

static void ka_done(void *arg, const struct nvfab_cpl *cpl)
{
	struct nvfab_ctrlr *ctrlr = arg;
	char buf[160];

	ctrlr->ka_outstanding = false;
	if (nvfab_cpl_is_error(cpl) && !cpl->transport_err)
		log_warn("%s: Keep Alive failed: %s", ctrlr->trid.subnqn,
			 nvfab_cpl_str(cpl, buf, sizeof(buf)));
}

/* ctrl_loss_tmo 0 with more paths: each other path gets one attempt before giving up. */
static uint64_t loss_window_ns(struct nvfab_ctrlr *ctrlr)
{
	uint32_t n = host_path_count(ctrlr);

	if (ctrlr->opts.ctrl_loss_tmo_s == 0 && n > 1)
		return (uint64_t)(n - 1) * ((uint64_t)ctrlr->opts.connect_timeout_ms + 1000) *
		       1000000ull;
	return (uint64_t)ctrlr->opts.ctrl_loss_tmo_s * 1000000000ull;
}

uint64_t host_ctrlr_loss_deadline(struct nvfab_ctrlr *ctrlr, uint64_t now)
{
	uint64_t since = 0;

	if (ctrlr->opts.ctrl_loss_tmo_s < 0)
		return UINT64_MAX;
	/* The first queue to notice starts the clock; the others join it. */
	if (!atomic_compare_exchange_strong(&ctrlr->loss_since_ns, &since, now))
		now = since;
	return now + loss_window_ns(ctrlr);
}

static void ctrlr_lost(struct nvfab_ctrlr *ctrlr, int err, uint64_t now)
{
	const struct nvfab_ctrlr_opts *o = &ctrlr->opts;
	struct nvfab_trid lost, next;
	bool failover;

	if (ctrlr->admin.fd >= 0)
		host_qpair_close(&ctrlr->admin, err, false);
	host_qpair_fail_all(&ctrlr->admin, err);
	ctrlr->admin.state = HOST_QP_FAILED;
	host_path_current(ctrlr, &lost);
	if (o->ctrl_loss_tmo_s == 0 && host_path_count(ctrlr) == 1) {
		host_ctrlr_set_error(ctrlr, "connection to %s:%s lost (%s); ctrl_loss_tmo 0: giving up",
				     lost.traddr, lost.trsvcid, strerror(-err));
		atomic_store(&ctrlr->state, HOST_CTRLR_FAILED);
		log_error("%s: %s", ctrlr->trid.subnqn, ctrlr->last_error);
		return;
	}
	ctrlr->loss_deadline_ns = host_ctrlr_loss_deadline(ctrlr, now);
	/* Another path: try it at once (the lost one is tried again after the others). */
	failover = host_path_next(ctrlr);
	host_path_current(ctrlr, &next);
	if (failover)
		host_ctrlr_set_error(ctrlr, "connection to %s:%s lost (%s); failing over to %s:%s",
				     lost.traddr, lost.trsvcid, strerror(-err), next.traddr,
				     next.trsvcid);
	else
		host_ctrlr_set_error(ctrlr, "connection to %s:%s lost (%s); reconnecting every %d s",
				     lost.traddr, lost.trsvcid, strerror(-err), o->reconnect_delay_s);
	log_warn("%s: %s", ctrlr->trid.subnqn, ctrlr->last_error);
	ctrlr->reconnect_at_ns = failover ? now :
		now + (uint64_t)(o->reconnect_delay_s > 0 ? o->reconnect_delay_s : 0) * 1000000000ull;
	atomic_store(&ctrlr->state, HOST_CTRLR_RECONNECTING);
}

int host_ctrlr_reconnect(struct nvfab_ctrlr *ctrlr)
{
	struct nvfab_error err = {0};
	struct nvfab_trid t;
	int rc = ctrlr_bring_up(ctrlr, ctrlr->loss_deadline_ns, &err);

	host_path_current(ctrlr, &t);
	if (rc) {
		host_ctrlr_set_error(ctrlr, "reconnect to %s:%s failed: %s", t.traddr, t.trsvcid,
				     err.msg);
		log_warn("%s: %s", ctrlr->trid.subnqn, ctrlr->last_error);
		host_path_next(ctrlr); /* the next attempt goes to the next path, if any */
		return rc;
	}
	log_notice("%s: reconnected to %s:%s as cntlid %u", ctrlr->trid.subnqn, t.traddr,
		   t.trsvcid, atomic_load(&ctrlr->cntlid));
	host_ns_events_arm(ctrlr);
	ctrlr->last_error[0] = '\0';
	atomic_store(&ctrlr->loss_since_ns, 0); /* I/O queues still down keep their deadline */
	atomic_store(&ctrlr->state, HOST_CTRLR_LIVE);
	return 0;
}

static int process_admin(struct nvfab_ctrlr *ctrlr)
{
	uint64_t now;
	int state = atomic_load(&ctrlr->state);
	int rc;

	if (state == HOST_CTRLR_FAILED)
		return -ENOTCONN;
	now = host_now_ns();
	if (state == HOST_CTRLR_RECONNECTING) {
		if (now >= ctrlr->loss_deadline_ns) {
			host_ctrlr_set_error(ctrlr, "controller %s lost: no reconnect on any of its "
					     "%u path(s) within ctrl_loss_tmo (%d s)",
					     ctrlr->trid.subnqn, host_path_count(ctrlr),
					     ctrlr->opts.ctrl_loss_tmo_s);
			log_error("%s", ctrlr->last_error);
			atomic_store(&ctrlr->state, HOST_CTRLR_FAILED);
			return -ENOTCONN;
		}
		if (now >= ctrlr->reconnect_at_ns && host_ctrlr_reconnect(ctrlr))
			ctrlr->reconnect_at_ns = host_now_ns() +
						 (uint64_t)(ctrlr->opts.reconnect_delay_s > 0
								    ? ctrlr->opts.reconnect_delay_s
								    : 1) * 1000000000ull;
		return 0;
	}

	rc = host_qpair_poll(&ctrlr->admin, 0);
	if (rc < 0 || ctrlr->admin.state != HOST_QP_LIVE) {
		ctrlr_lost(ctrlr, rc < 0 ? rc : ctrlr->admin.last_err ? ctrlr->admin.last_err : -ENOTCONN,
			   now);
		return 0;
	}
	if (ctrlr->ns_resync) {
		ctrlr->ns_resync = false;
		if (ctrlr->event_cb)
			ctrlr->event_cb(ctrlr->event_arg, NVFAB_EVENT_NS_CHANGED);
	}
	if (ctrlr->kato_ms == 0)
		return 0;
	if (ctrlr->ka_outstanding && now - ctrlr->ka_sent_ns > (uint64_t)ctrlr->kato_ms * 1000000ull) {
		log_error("%s: Keep Alive unanswered for %u ms", ctrlr->trid.subnqn, ctrlr->kato_ms);
		ctrlr_lost(ctrlr, -ETIMEDOUT, now);
		return 0;
	}
	if (!ctrlr->ka_outstanding && now >= ctrlr->next_ka_ns) {
		struct nvme_sqe sqe;

		memset(&sqe, 0, sizeof(sqe));
		sqe.opc = nvme_admin_keep_alive;
		if (host_qpair_submit(&ctrlr->admin, &sqe, HOST_XFER_NONE, NULL, 0, 0, ka_done,
				      ctrlr) == 0) {
			ctrlr->ka_outstanding = true;
			ctrlr->ka_sent_ns = now;
		}
		ctrlr->next_ka_ns = now + (uint64_t)ctrlr->kato_ms * 500000ull;
	}
	return 0;
}

int nvfab_ctrlr_reconnect(struct nvfab_ctrlr *ctrlr)
{
	uint32_t tries;
	int rc = -EBUSY;

	pthread_mutex_lock(&ctrlr->admin_lock);
	if (atomic_load(&ctrlr->state) == HOST_CTRLR_FAILED) {
		tries = host_path_count(ctrlr);
		do {
			ctrlr->loss_deadline_ns = UINT64_MAX; /* this attempt: connect_timeout_ms */
			rc = host_ctrlr_reconnect(ctrlr); /* moves to the next path when it fails */
		} while (rc && --tries);
	}
	pthread_mutex_unlock(&ctrlr->admin_lock);
	return rc;
}

int nvfab_ctrlr_reset(struct nvfab_ctrlr *ctrlr)
{
	uint32_t tries;
	int rc;

	if (ctrlr->discovery)
		return -EINVAL;
	pthread_mutex_lock(&ctrlr->admin_lock);
	if (ctrlr->admin.fd >= 0)
		host_qpair_close(&ctrlr->admin, -ECONNRESET, false);
	host_qpair_fail_all(&ctrlr->admin, -ECONNRESET);
	ctrlr->admin.state = HOST_QP_FAILED;
	atomic_store(&ctrlr->state, HOST_CTRLR_RECONNECTING); /* I/O queues leave their connections */
	tries = host_path_count(ctrlr);
	do {
		ctrlr->loss_deadline_ns = UINT64_MAX; /* each attempt: connect_timeout_ms */
		rc = host_ctrlr_reconnect(ctrlr);
	} while (rc && --tries);
	if (rc) {
		/* Not back: the usual reconnect policy takes over from here. */
		uint64_t now = host_now_ns();

		atomic_store(&ctrlr->loss_since_ns, 0);
		ctrlr->loss_deadline_ns = host_ctrlr_loss_deadline(ctrlr, now);
		ctrlr->reconnect_at_ns = now;
		if (ctrlr->opts.ctrl_loss_tmo_s == 0 && host_path_count(ctrlr) == 1)
			atomic_store(&ctrlr->state, HOST_CTRLR_FAILED);
	}
	pthread_mutex_unlock(&ctrlr->admin_lock);
	return rc;
}

int nvfab_ctrlr_process_admin(struct nvfab_ctrlr *ctrlr)
{
	int rc;

	/* Someone else is on the admin queue right now: they keep it serviced. */
	if (pthread_mutex_trylock(&ctrlr->admin_lock))
		return atomic_load(&ctrlr->state) == HOST_CTRLR_FAILED ? -ENOTCONN : 0;
	rc = process_admin(ctrlr);
	pthread_mutex_unlock(&ctrlr->admin_lock);
	return rc;
}

/* ---- accessors ---- */

const char *nvfab_ctrlr_last_error(const struct nvfab_ctrlr *ctrlr)
{
	return ctrlr->last_error;
}

bool nvfab_ctrlr_is_discovery(const struct nvfab_ctrlr *ctrlr)
{
	return ctrlr->discovery;
}

const struct nvme_id_ctrl *nvfab_ctrlr_id(const struct nvfab_ctrlr *ctrlr)
{
	return ctrlr->id;
}

const struct nvfab_trid *nvfab_ctrlr_trid(const struct nvfab_ctrlr *ctrlr)
{
	return &ctrlr->trid;
}

uint16_t nvfab_ctrlr_cntlid(const struct nvfab_ctrlr *ctrlr)
{
	return atomic_load(&((struct nvfab_ctrlr *)ctrlr)->cntlid);
}

uint64_t nvfab_ctrlr_cap(const struct nvfab_ctrlr *ctrlr)
{
	return ctrlr->cap;
}

uint32_t nvfab_ctrlr_vs(const struct nvfab_ctrlr *ctrlr)
{
	return ctrlr->vs;
}

uint32_t nvfab_ctrlr_max_xfer(const struct nvfab_ctrlr *ctrlr)
{
	return ctrlr->max_xfer;
}

uint32_t nvfab_ctrlr_icd_size(const struct nvfab_ctrlr *ctrlr)
{
	return ctrlr->icd_size;
}

uint32_t nvfab_ctrlr_nr_io_queues(const struct nvfab_ctrlr *ctrlr)
{
	return ctrlr->nr_io_queues;
}

uint32_t nvfab_ctrlr_max_queue_size(const struct nvfab_ctrlr *ctrlr)
{
	return ctrlr->max_queue_size;
}

const char *nvfab_ctrlr_hostnqn(const struct nvfab_ctrlr *ctrlr)
{
	return ctrlr->hostnqn;
}
