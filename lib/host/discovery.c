/* The discovery log: header, then the entries, re-read while the generation counter moves. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "host/host_internal.h"
#include "util/log.h"

#define DISC_HDR_LEN sizeof(struct nvmf_discovery_log)
#define DISC_ENTRY_LEN sizeof(struct nvmf_disc_log_entry)
#define DISC_MAX_RECORDS 4096 /* bounds what a target can make us allocate */
#define DISC_RETRIES 10

_Static_assert(sizeof(struct nvmf_discovery_log) == 1024, "discovery log header is 1 KiB");
_Static_assert(sizeof(struct nvmf_disc_log_entry) == 1024, "discovery log entry is 1 KiB");

static int get_discovery_log(struct nvfab_ctrlr *ctrlr, struct nvmf_discovery_log **out)
{
	struct nvmf_discovery_log *log = NULL, *hdr;
	int rc = -EAGAIN;

	*out = NULL;
	hdr = malloc(DISC_HDR_LEN);
	if (!hdr)
		return -ENOMEM;
	for (int attempt = 0; attempt < DISC_RETRIES; attempt++) {
		uint64_t genctr, numrec;
		struct nvmf_discovery_log *grown;

		rc = nvfab_ctrlr_get_log_page(ctrlr, NVME_LOG_LID_DISCOVER, 0, 0, hdr, DISC_HDR_LEN,
					      NULL);
		if (rc)
			break;
		genctr = hdr->genctr;
		numrec = hdr->numrec;
		if (numrec > DISC_MAX_RECORDS) {
			log_warn("discovery log claims %llu records; reading the first %d",
				 (unsigned long long)numrec, DISC_MAX_RECORDS);
			numrec = DISC_MAX_RECORDS;
		}
		grown = realloc(log, DISC_HDR_LEN + numrec * DISC_ENTRY_LEN);
		if (!grown) {
			rc = -ENOMEM;
			break;
		}
		log = grown;
		if (numrec) {
			rc = nvfab_ctrlr_get_log_page(ctrlr, NVME_LOG_LID_DISCOVER, 0, DISC_HDR_LEN,
						      log->entries, (uint32_t)(numrec * DISC_ENTRY_LEN),
						      NULL);
			if (rc)
				break;
		}
		/* The entries are a consistent snapshot only if the generation did not move. */
		rc = nvfab_ctrlr_get_log_page(ctrlr, NVME_LOG_LID_DISCOVER, 0, 0, log, DISC_HDR_LEN,
					      NULL);
		if (rc)
			break;
		if (log->genctr == genctr) {
			log->numrec = numrec;
			*out = log;
			free(hdr);
			return 0;
		}
		rc = -EAGAIN;
	}
	free(hdr);
	free(log);
	return rc;
}

int nvfab_ctrlr_get_discovery_log(struct nvfab_ctrlr *ctrlr, struct nvmf_discovery_log **out)
{
	int rc;

	/* One snapshot: no keep-alive or other admin command in between. */
	pthread_mutex_lock(&ctrlr->admin_lock);
	rc = get_discovery_log(ctrlr, out);
	pthread_mutex_unlock(&ctrlr->admin_lock);
	return rc;
}

int nvfab_discover(const struct nvfab_trid *trid, const struct nvfab_ctrlr_opts *opts,
		   struct nvmf_discovery_log **log, struct nvfab_error *err)
{
	struct nvfab_trid t = *trid;
	struct nvfab_ctrlr *ctrlr;
	int rc;

	*log = NULL;
	if (!t.subnqn[0])
		strcpy(t.subnqn, NVFAB_DISCOVERY_NQN);
	ctrlr = nvfab_ctrlr_connect(&t, opts, err);
	if (!ctrlr)
		return err ? err->err : -ECONNREFUSED;
	rc = nvfab_ctrlr_get_discovery_log(ctrlr, log);
	if (rc)
		host_error_set(err, rc, 0, "Get Log Page (Discovery) from %s:%s failed: %s",
			       t.traddr, t.trsvcid,
			       rc == -EAGAIN ? "log kept changing while being read"
					     : rc == -EIO ? "refused by the controller" : strerror(-rc));
	nvfab_ctrlr_disconnect(ctrlr);
	return rc;
}
