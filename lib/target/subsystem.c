/* Subsystems: NQN, identity strings, allowed hosts, listeners, controllers. Control thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "target/target.h"
#include "util/log.h"

bool tgt_nqn_valid(const char *nqn)
{
	size_t len = strnlen(nqn, NVMF_NQN_MAX + 1);

	if (len < 5 || len > NVMF_NQN_MAX)
		return false;
	if (strcmp(nqn, NVMF_DISCOVERY_NQN) == 0)
		return true;
	/* nqn.yyyy-mm.reverse-domain[:anything], or the UUID form nqn.2014-08.org.nvmexpress:uuid:... */
	if (strncmp(nqn, "nqn.", 4) != 0 || len < 12)
		return false;
	for (int i = 4; i < 8; i++)
		if (nqn[i] < '0' || nqn[i] > '9')
			return false;
	if (nqn[8] != '-' || nqn[9] < '0' || nqn[9] > '1' || nqn[10] < '0' || nqn[10] > '9' ||
	    nqn[11] != '.')
		return false;
	return true;
}

void tgt_discovery_changed(void)
{
	g_tgt.discovery_genctr++;
}

struct tgt_subsystem *tgt_subsystem_find(const char *nqn)
{
	struct list_node *pos, *tmp;

	if (g_tgt.discovery && strcmp(nqn, NVMF_DISCOVERY_NQN) == 0)
		return g_tgt.discovery;
	list_for_each_safe(pos, tmp, &g_tgt.subsystems) {
		struct tgt_subsystem *s = list_entry(pos, struct tgt_subsystem, link);

		if (strcmp(s->nqn, nqn) == 0)
			return s;
	}
	return NULL;
}

/* Destroys the subsystem's controllers (of one host, or all). A destroy may unlink and free
 * the controller at once, or (in principle) others, so no list position is kept across it:
 * each round starts again from the head and takes the first live match. */
static void ctrlrs_destroy_matching(struct tgt_subsystem *s, const char *hostnqn, const char *why)
{
	for (;;) {
		struct tgt_ctrlr *victim = NULL;
		const struct list_node *pos;

		for (pos = s->ctrlrs.next; pos != &s->ctrlrs && !victim; pos = pos->next) {
			struct tgt_ctrlr *c = list_entry(pos, struct tgt_ctrlr, link);

			if (!c->destroying && (!hostnqn || strcmp(c->hostnqn, hostnqn) == 0))
				victim = c;
		}
		if (!victim)
			return;
		tgt_ctrlr_destroy(victim, why);
	}
}

struct tgt_subsystem *tgt_subsystem_create(const char *nqn, enum tgt_subsys_type type,
					   uint32_t max_namespaces)
{
	struct tgt_subsystem *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	snprintf(s->nqn, sizeof(s->nqn), "%s", nqn);
	s->type = type;
	s->max_namespaces = type == TGT_SUBSYS_DISCOVERY ? 0
			    : max_namespaces ? max_namespaces : TGT_MAX_NAMESPACES_DEFAULT;
	if (s->max_namespaces) {
		s->ns = calloc(s->max_namespaces, sizeof(*s->ns));
		if (!s->ns) {
			free(s);
			return NULL;
		}
	}
	snprintf(s->serial, sizeof(s->serial), "00000000000000000000");
	snprintf(s->model, sizeof(s->model), "nvfab Controller");
	s->min_cntlid = TGT_CNTLID_MIN;
	s->max_cntlid = TGT_CNTLID_MAX;
	s->next_cntlid = TGT_CNTLID_MIN;
	list_init(&s->hosts);
	list_init(&s->listeners);
	list_init(&s->ctrlrs);
	list_init(&s->link);
	s->refs = 1; /* the registry's, dropped by tgt_subsystem_delete() */
	if (type == TGT_SUBSYS_NVME) {
		list_add_tail(&g_tgt.subsystems, &s->link);
		tgt_discovery_changed();
	}
	return s;
}

void tgt_subsystem_get(struct tgt_subsystem *s)
{
	s->refs++;
}

/* The last reference: the registry's, or that of the last controller of a deleted subsystem
 * (controllers still draining I/O queue pairs point at it). */
void tgt_subsystem_put(struct tgt_subsystem *s)
{
	if (--s->refs > 0)
		return;
	free(s->ns);
	free(s);
}

int tgt_subsystem_delete(struct tgt_subsystem *s)
{
	struct list_node *pos, *tmp;

	if (s == g_tgt.discovery || s->deleting)
		return -EPERM;
	s->deleting = true;
	ctrlrs_destroy_matching(s, NULL, "subsystem deleted");
	for (uint32_t i = 0; i < s->max_namespaces; i++)
		if (tgt_ns_get(s, i + 1))
			tgt_ns_remove(s, i + 1);
	list_for_each_safe(pos, tmp, &s->hosts) {
		list_del(pos);
		free(list_entry(pos, struct tgt_host, link));
	}
	list_for_each_safe(pos, tmp, &s->listeners) {
		struct tgt_subsys_listener *sl = list_entry(pos, struct tgt_subsys_listener, link);

		list_del(pos);
		tgt_listener_put(sl->listener);
		free(sl);
	}
	list_del(&s->link);
	tgt_discovery_changed();
	tgt_subsystem_put(s); /* the registry's: may free s */
	return 0;
}

struct tgt_host *tgt_subsystem_find_host(const struct tgt_subsystem *s, const char *hostnqn)
{
	const struct list_node *pos;

	for (pos = s->hosts.next; pos != &s->hosts; pos = pos->next)
		if (strcmp(list_entry(pos, struct tgt_host, link)->nqn, hostnqn) == 0)
			return list_entry(pos, struct tgt_host, link);
	return NULL;
}

bool tgt_subsystem_host_allowed(const struct tgt_subsystem *s, const char *hostnqn)
{
	return s->allow_any_host || tgt_subsystem_find_host(s, hostnqn);
}

int tgt_subsystem_add_host(struct tgt_subsystem *s, const char *hostnqn, const char *dhchap_key,
			   const char *dhchap_ctrlr_key, const char *psk)
{
	struct tgt_host *h;

	if (!tgt_nqn_valid(hostnqn))
		return -EINVAL;
	if (tgt_subsystem_find_host(s, hostnqn))
		return -EEXIST;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	snprintf(h->nqn, sizeof(h->nqn), "%s", hostnqn);
	snprintf(h->dhchap_key, sizeof(h->dhchap_key), "%s", dhchap_key ? dhchap_key : "");
	snprintf(h->dhchap_ctrlr_key, sizeof(h->dhchap_ctrlr_key), "%s",
		 dhchap_ctrlr_key ? dhchap_ctrlr_key : "");
	snprintf(h->psk, sizeof(h->psk), "%s", psk ? psk : "");
	list_add_tail(&s->hosts, &h->link);
	tgt_discovery_changed();
	return 0;
}

int tgt_subsystem_remove_host(struct tgt_subsystem *s, const char *hostnqn)
{
	struct list_node *pos, *tmp;

	list_for_each_safe(pos, tmp, &s->hosts) {
		struct tgt_host *h = list_entry(pos, struct tgt_host, link);

		if (strcmp(h->nqn, hostnqn) == 0) {
			list_del(pos);
			free(h);
			tgt_discovery_changed();
			/* A removed host loses its controllers, as with SPDK and the kernel. */
			if (!s->allow_any_host)
				ctrlrs_destroy_matching(s, hostnqn, "host removed from subsystem");
			return 0;
		}
	}
	return -ENOENT;
}

static bool listen_addr_equal(const struct tgt_listen_addr *a, const struct tgt_listen_addr *b)
{
	return strcasecmp(a->trtype, b->trtype) == 0 && strcmp(a->traddr, b->traddr) == 0 &&
	       strcmp(a->trsvcid, b->trsvcid) == 0;
}

int tgt_subsystem_add_listener(struct tgt_subsystem *s, const struct tgt_listen_addr *addr)
{
	struct tgt_subsys_listener *sl;
	const struct list_node *pos;
	int rc;

	for (pos = s->listeners.next; pos != &s->listeners; pos = pos->next)
		if (listen_addr_equal(&list_entry(pos, struct tgt_subsys_listener, link)->addr, addr))
			return -EEXIST;
	sl = calloc(1, sizeof(*sl));
	if (!sl)
		return -ENOMEM;
	sl->addr = *addr;
	rc = tgt_listener_get(addr, &sl->listener);
	if (rc) {
		free(sl);
		return rc;
	}
	list_add_tail(&s->listeners, &sl->link);
	tgt_discovery_changed();
	return 0;
}

int tgt_subsystem_remove_listener(struct tgt_subsystem *s, const struct tgt_listen_addr *addr)
{
	struct list_node *pos, *tmp;

	list_for_each_safe(pos, tmp, &s->listeners) {
		struct tgt_subsys_listener *sl = list_entry(pos, struct tgt_subsys_listener, link);

		if (listen_addr_equal(&sl->addr, addr)) {
			list_del(pos);
			tgt_listener_put(sl->listener);
			free(sl);
			tgt_discovery_changed();
			return 0;
		}
	}
	return -ENOENT;
}

bool tgt_subsystem_listens_on(const struct tgt_subsystem *s, uint16_t portid)
{
	const struct list_node *pos;

	/* Discovery answers on every port: hosts find subsystems through any listener. */
	if (s->type == TGT_SUBSYS_DISCOVERY)
		return true;
	for (pos = s->listeners.next; pos != &s->listeners; pos = pos->next)
		if (list_entry(pos, struct tgt_subsys_listener, link)->listener->portid == portid)
			return true;
	return false;
}
