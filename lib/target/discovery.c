/* The discovery log page: one entry per (subsystem, listener) the connecting host may see. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "target/target.h"

static void disc_entry_fill(struct nvmf_disc_log_entry *e, const struct tgt_subsystem *s,
			    const struct tgt_subsys_listener *sl)
{
	memset(e, 0, sizeof(*e));
	e->trtype = NVMF_TRTYPE_TCP;
	e->adrfam = strcasecmp(sl->addr.adrfam, "IPv6") == 0 ? NVMF_ADDR_FAMILY_IP6 : NVMF_ADDR_FAMILY_IP4;
	e->subtype = s->type == TGT_SUBSYS_DISCOVERY ? NVME_NQN_CURR : NVME_NQN_NVME;
	/* A secure listener requires TLS (TLS 1.3: SECTYPE 2); SQ flow control may be disabled
	 * (enables C2H SUCCESS). */
	e->treq = (sl->addr.secure ? NVMF_TREQ_REQUIRED : NVMF_TREQ_NOT_REQUIRED) |
		  NVMF_TREQ_DISABLE_SQFLOW;
	e->portid = sl->listener->portid;
	e->cntlid = 0xffff; /* dynamic controller model */
	e->asqsz = (uint16_t)g_tgt.opts.max_aq_depth;
	strncpy(e->trsvcid, sl->addr.trsvcid, sizeof(e->trsvcid));
	strncpy(e->subnqn, s->nqn, sizeof(e->subnqn));
	strncpy(e->traddr, sl->addr.traddr, sizeof(e->traddr));
	e->tsas.tcp.sectype = sl->addr.secure ? NVMF_TCP_SECTYPE_TLS13 : NVMF_TCP_SECTYPE_NONE;
}

static uint32_t disc_count(const struct tgt_subsystem *s, const char *hostnqn, struct nvmf_disc_log_entry *out)
{
	const struct list_node *pos;
	uint32_t n = 0;

	if (s->deleting || !tgt_subsystem_host_allowed(s, hostnqn))
		return 0;
	for (pos = s->listeners.next; pos != &s->listeners; pos = pos->next) {
		if (out)
			disc_entry_fill(&out[n], s, list_entry(pos, struct tgt_subsys_listener, link));
		n++;
	}
	return n;
}

static uint32_t disc_collect(const char *hostnqn, struct nvmf_disc_log_entry *out)
{
	const struct list_node *pos;
	uint32_t n = disc_count(g_tgt.discovery, hostnqn, out);

	for (pos = g_tgt.subsystems.next; pos != &g_tgt.subsystems; pos = pos->next)
		n += disc_count(list_entry(pos, struct tgt_subsystem, link), hostnqn, out ? out + n : NULL);
	return n;
}

uint32_t tgt_discovery_log(struct tgt_qpair *qp, uint8_t **out)
{
	const char *hostnqn = qp->ctrlr->hostnqn;
	uint32_t n = disc_collect(hostnqn, NULL);
	size_t len = sizeof(struct nvmf_discovery_log) + (size_t)n * sizeof(struct nvmf_disc_log_entry);
	struct nvmf_discovery_log *log = calloc(1, len);

	*out = (uint8_t *)log;
	if (!log)
		return 0;
	log->genctr = g_tgt.discovery_genctr;
	log->numrec = n;
	log->recfmt = 0;
	disc_collect(hostnqn, log->entries);
	return (uint32_t)len;
}
