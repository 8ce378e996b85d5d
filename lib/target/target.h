/*
 * nvfabd's NVMe-oF controller side: subsystems, namespaces, controllers, queue pairs and
 * requests, independent of the transport. A transport (TCP today, RDMA later) implements
 * struct tgt_transport_ops and embeds struct tgt_qpair and struct tgt_req in its own types.
 *
 * Threads: one control thread owns subsystems, controllers and admin queues (plus discovery
 * and RPC). Data reactors own I/O queue pairs; a reactor only reads the shared model through
 * the namespace table, whose entries are published and retired with messages (see ns.c).
 */
#ifndef NVFAB_TARGET_TARGET_H
#define NVFAB_TARGET_TARGET_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "auth/dhchap.h"
#include "bdev/bdev.h"
#include "keyring/keyring.h"
#include "spec/nvme_cmd.h"
#include "util/evloop.h"
#include "util/list.h"

#define TGT_MAX_NAMESPACES_DEFAULT 32
#define TGT_MAX_REACTORS 64
#define TGT_CNTLID_MIN 1
#define TGT_CNTLID_MAX 0xffef
#define TGT_MAX_AER 4
#define TGT_KAS_100MS 10            /* keep-alive granularity reported in Identify: 1 s */
#define TGT_ADMIN_QUEUE_DEPTH 128
#define TGT_ADMIN_ICD 8192
#define TGT_ERROR_LOG_ENTRIES 64

struct tgt_ctrlr;
struct tgt_qpair;
struct tgt_req;
struct tgt_subsystem;
struct tgt_reactor;
struct tgt_listener;

/* ---- transport-wide options (nvmf_create_transport) ---- */
struct tgt_transport_opts {
	uint32_t max_queue_depth;       /* I/O queue entries */
	uint32_t max_qpairs_per_ctrlr;  /* including the admin queue */
	uint32_t in_capsule_data_size;  /* I/O queues */
	uint32_t max_io_size;           /* MDTS, bytes */
	uint32_t io_unit_size;          /* MAXH2CDATA, bytes */
	uint32_t max_aq_depth;
	bool c2h_success;               /* use the C2HData SUCCESS flag when the host allows */
	bool created;                   /* nvmf_create_transport was called */
};

/* ---- the transport interface ---- */
struct tgt_transport_ops {
	const char *name;               /* "TCP" */
	/* Sends the request's response (and its data, for reads) and recycles it when sent. */
	void (*req_complete)(struct tgt_req *req);
	/* Starts receiving the write data of a command whose data did not come in the capsule:
	 * calls tgt_req_data_ready() once all of it is in. */
	void (*req_fetch_data)(struct tgt_req *req);
	/* Closes the queue pair; callable from any thread (it is passed to the owner). The
	 * controller hears of it through tgt_ctrlr_qpair_gone() on the control thread. */
	void (*qpair_disconnect)(struct tgt_qpair *qp, const char *why);
	/* Moves a freshly connected I/O queue pair from the control thread to reactor r, which
	 * then completes the Connect request. */
	void (*qpair_migrate)(struct tgt_qpair *qp, struct tgt_reactor *r, struct tgt_req *connect);
	/* Sets the queue size and in-capsule data limit agreed in Connect. */
	void (*qpair_configure)(struct tgt_qpair *qp, uint16_t sqsize, uint32_t max_icd);
	/* Takes and drops the reference held by the controller's queue table. */
	void (*qpair_get)(struct tgt_qpair *qp);
	void (*qpair_put)(struct tgt_qpair *qp);
};

/* ---- namespaces ---- */
struct tgt_ns {
	uint32_t nsid;
	struct bdev *bdev;
	uint8_t nguid[16];
	uint8_t uuid[16];
	uint8_t eui64[8];
	struct tgt_subsystem *subsys;
	atomic_int refs;                /* reactors still using it after removal */
};

enum tgt_subsys_type { TGT_SUBSYS_NVME, TGT_SUBSYS_DISCOVERY };

struct tgt_host {
	char nqn[NVMF_NQN_MAX + 1];
	/* Keyring names of the host's DH-HMAC-CHAP secret and of the controller's ("" = none):
	 * with a host secret, the host must authenticate; the material is read at Connect. */
	char dhchap_key[KEYRING_NAME_MAX];
	char dhchap_ctrlr_key[KEYRING_NAME_MAX];
	/* Keyring name of the host's TLS PSK ("" = none): with one, the host must come over TLS
	 * with it (the PSK identity names the host and the subsystem). */
	char psk[KEYRING_NAME_MAX];
	struct list_node link;
};

struct tgt_listen_addr {
	char trtype[8];                 /* "TCP" */
	char adrfam[8];                 /* "IPv4" / "IPv6" */
	char traddr[64];
	char trsvcid[32];
	bool secure;                    /* secure_channel: TLS 1.3 before ICReq (not part of the
					 * address: one port is either) */
};

/* A subsystem's use of a listening port. */
struct tgt_subsys_listener {
	struct tgt_listen_addr addr;
	struct tgt_listener *listener;
	struct list_node link;
};

struct tgt_subsystem {
	char nqn[NVMF_NQN_MAX + 1];
	enum tgt_subsys_type type;
	char serial[21];
	char model[41];
	bool allow_any_host;
	uint32_t max_namespaces;
	uint16_t min_cntlid, max_cntlid, next_cntlid;
	/* Read by reactors: entries are published and retired with atomic stores. */
	_Atomic(struct tgt_ns *) *ns;
	uint32_t ns_count;
	struct list_node hosts;         /* struct tgt_host */
	struct list_node listeners;     /* struct tgt_subsys_listener */
	struct list_node ctrlrs;        /* struct tgt_ctrlr */
	struct list_node link;
	bool deleting;
	/* Control thread only. The registry (g_tgt.subsystems) holds one reference until
	 * nvmf_delete_subsystem; every controller holds one until it is freed. */
	int refs;
};

/* A listening socket, shared by the subsystems that listen on it. */
struct tgt_listener {
	struct tgt_listen_addr addr;
	int fd;
	int refs;
	uint16_t portid;
	struct evloop_handler handler;
	struct evloop_timer retry;      /* re-arms accepting after running out of descriptors */
	struct evloop_deferred free_work;
	struct list_node link;
};

/* ---- controllers (control thread) ---- */
struct tgt_ctrlr {
	uint16_t cntlid;
	struct tgt_subsystem *subsys;
	char hostnqn[NVMF_NQN_MAX + 1];
	uint8_t hostid[16];
	struct tgt_qpair *admin;
	struct tgt_qpair **io;          /* indexed by qid, 1..max_qid */
	uint16_t max_qid;
	uint16_t num_io_qpairs;
	uint32_t cc, csts;
	uint32_t kato_ms;
	uint64_t last_keep_alive_ns;
	struct evloop_timer keep_alive_timer;
	/* features */
	uint16_t nr_io_queues_granted;  /* 0's based, as in Set Features */
	uint32_t aec;                   /* Asynchronous Event Configuration */
	bool vwc_enabled;
	/* asynchronous events */
	struct tgt_req *aer[TGT_MAX_AER];
	int aer_count;
	uint32_t pending_aen;           /* bit mask of notices not yet delivered */
	uint32_t changed_ns[1024];
	uint32_t changed_ns_count;
	bool changed_ns_overflow;
	/* error log */
	struct nvme_error_log_page errors[TGT_ERROR_LOG_ENTRIES];
	uint64_t error_count;
	uint64_t start_ns;
	bool destroying;
	bool unlinked;                  /* off the subsystem's list: its last queue is gone */
	/* Control thread only. The subsystem's list holds one reference until the controller's
	 * last queue pair is gone; teardown functions hold one while they run (see ctrlr.c). */
	int refs;
	struct list_node link;          /* subsystem's ctrlrs */
	/* DH-HMAC-CHAP: NULL when the host need not authenticate. Set at the admin Connect and
	 * read-only afterwards, so that reactors read it for their queues (auth.c). */
	struct tgt_ctrlr_auth *auth;
};

/* ---- queue pairs and requests (the transport embeds these) ---- */
struct tgt_qpair_stats {
	uint64_t reads, writes, read_bytes, write_bytes, other, errors;
};

struct tgt_qpair {
	const struct tgt_transport_ops *ops;
	struct tgt_ctrlr *ctrlr;        /* NULL until Connect succeeds */
	struct tgt_subsystem *subsys;
	struct evloop *loop;            /* the thread that owns it */
	struct tgt_reactor *reactor;    /* NULL on the control thread */
	uint16_t portid;                /* the listener it came in through */
	uint16_t qid;
	uint16_t sqsize;                /* 0's based */
	uint16_t sqhd;
	bool sq_flow_disabled;          /* Connect CATTR: the host needs no SQHD */
	bool reads_payload;             /* the transport reads sent data in user space (digest) */
	uint32_t max_icd;
	char peer[80];                  /* "addr:port" for logs */
	struct tgt_qpair_stats stats;
	/* DH-HMAC-CHAP on this queue (auth.c): auth is NULL unless the controller requires it;
	 * while auth_gate is set, only Authentication Send/Receive are served. auth_ok mirrors
	 * success for the control thread's deadline check. */
	struct dhchap_ctrl *auth;
	bool auth_gate;
	atomic_bool auth_ok;
	uint64_t auth_deadline_ns;
	/* The PSK identity of the connection's TLS session (NULL: plain TCP); Connect must name the
	 * host and subsystem it names (tls.c). */
	char *tls_identity;
};

enum tgt_req_state {
	TGT_REQ_FREE,
	TGT_REQ_RECEIVING,              /* in-capsule or H2C data arriving */
	TGT_REQ_EXECUTING,
	TGT_REQ_COMPLETING,             /* response queued */
};

struct tgt_req {
	struct tgt_qpair *qp;
	struct nvme_sqe cmd;
	struct nvme_cqe rsp;
	enum tgt_req_state state;
	/* data: host<->controller transfer of data_len bytes, in buf (owned, grow-only) or a
	 * zero-copy mapping of the backend (reads from RAM) */
	uint32_t data_len;
	bool data_to_host;              /* read-like: controller -> host */
	void *buf;
	uint32_t buf_size;
	uint64_t buf_key;               /* names buf's allocation for good (bdev_io.mem_key) */
	struct iovec iov[1];
	int iovcnt;
	struct bdev_io bio;
	struct bdev_channel *ch;
	struct tgt_ns *ns;
	struct tgt_reactor_chan *rch;   /* reactor channel the I/O went through */
	void *scratch;                  /* Compare's read-back buffer (grow-only) */
	struct iovec scratch_iov;
	uint32_t scratch_size;
	uint32_t pending;               /* sub-operations still outstanding (DSM ranges) */
	int sub_status;
};

/* ---- reactors ---- */
/* A reactor's channel to one bdev, shared by the reactor's queue pairs. */
struct tgt_reactor_chan {
	struct bdev *bdev;
	struct bdev_channel *ch;
	uint32_t users;                 /* namespaces mapped to it */
	uint64_t inflight;
};

struct tgt_reactor {
	int id;
	int core;                       /* -1: not pinned */
	struct evloop *loop;
	pthread_t thread;
	uint32_t qpairs;
	/* per-thread bdev channels, created on first use */
	struct tgt_reactor_chan channels[64];
	uint32_t nchannels;
	struct tgt_qpair_stats retired; /* stats of closed queue pairs */
};

/* ---- the target ---- */
struct tgt {
	struct evloop *control;
	struct tgt_reactor *reactors;
	int nreactors;
	int next_reactor;
	bool busy_poll;
	uint32_t poll_us;               /* adaptive polling window of sleeping reactors */
	struct tgt_transport_opts opts;
	struct list_node subsystems;
	struct list_node listeners;
	uint64_t discovery_genctr;
	uint16_t next_portid;
	struct tgt_subsystem *discovery;
	/* DH-HMAC-CHAP hashes and groups the controllers may choose (bit per ID; nvmf_set_config) */
	uint32_t dhchap_hashes;
	uint32_t dhchap_dhgroups;
	/* nvfabd --check-config: listeners are checked but not opened (the running daemon may
	 * hold the ports). */
	bool dry_run;
};

extern struct tgt g_tgt;

/* tgt.c */
/*
 * Starts the control loop and one reactor per core of core_mask. Reactors busy-poll, or sleep
 * in epoll and poll on for poll_us after work (adaptive polling; 0: sleep at once).
 */
int tgt_init(uint64_t core_mask, bool busy_poll, uint32_t poll_us);
void tgt_fini(void);
void tgt_transport_opts_default(struct tgt_transport_opts *opts);
struct tgt_reactor *tgt_pick_reactor(void);
struct tgt_reactor_chan *tgt_reactor_get_channel(struct tgt_reactor *r, struct bdev *bdev);

/* subsystem.c */
struct tgt_subsystem *tgt_subsystem_create(const char *nqn, enum tgt_subsys_type type,
					   uint32_t max_namespaces);
int tgt_subsystem_delete(struct tgt_subsystem *s);
void tgt_subsystem_get(struct tgt_subsystem *s);
void tgt_subsystem_put(struct tgt_subsystem *s);
struct tgt_subsystem *tgt_subsystem_find(const char *nqn);
bool tgt_subsystem_host_allowed(const struct tgt_subsystem *s, const char *hostnqn);
struct tgt_host *tgt_subsystem_find_host(const struct tgt_subsystem *s, const char *hostnqn);
/* dhchap_key / dhchap_ctrlr_key / psk: keyring names, or NULL. */
int tgt_subsystem_add_host(struct tgt_subsystem *s, const char *hostnqn, const char *dhchap_key,
			   const char *dhchap_ctrlr_key, const char *psk);
int tgt_subsystem_remove_host(struct tgt_subsystem *s, const char *hostnqn);
int tgt_subsystem_add_listener(struct tgt_subsystem *s, const struct tgt_listen_addr *addr);
int tgt_subsystem_remove_listener(struct tgt_subsystem *s, const struct tgt_listen_addr *addr);
bool tgt_subsystem_listens_on(const struct tgt_subsystem *s, uint16_t portid);
bool tgt_nqn_valid(const char *nqn);
void tgt_discovery_changed(void);

/* ns.c */
int tgt_ns_add(struct tgt_subsystem *s, struct bdev *bdev, uint32_t nsid, const char *nguid,
	       const char *uuid, const char *eui64, uint32_t *nsid_out);
int tgt_ns_remove(struct tgt_subsystem *s, uint32_t nsid);
void tgt_ns_bdev_removed(struct bdev *bdev);
/* The bdev layer's resize handler: the hosts of every namespace on bdev get a notice. */
void tgt_ns_bdev_resized(struct bdev *bdev);
static inline struct tgt_ns *tgt_ns_get(struct tgt_subsystem *s, uint32_t nsid)
{
	if (nsid == 0 || nsid > s->max_namespaces)
		return NULL;
	return atomic_load_explicit(&s->ns[nsid - 1], memory_order_acquire);
}

/* listener.c */
int tgt_listener_get(const struct tgt_listen_addr *addr, struct tgt_listener **out);
void tgt_listener_put(struct tgt_listener *l);
struct tgt_listener *tgt_listener_find(const struct tgt_listen_addr *addr);
int tgt_listen_addr_parse(const char *trtype, const char *adrfam, const char *traddr,
			  const char *trsvcid, struct tgt_listen_addr *out, const char **why);

/* ctrlr.c */
struct tgt_ctrlr *tgt_ctrlr_create(struct tgt_subsystem *s, const char *hostnqn,
				   const uint8_t hostid[16], uint32_t kato_ms);
/* Starts the teardown: closes every queue pair. c stays valid while the caller holds a
 * reference; without one, c may be freed before this returns. */
void tgt_ctrlr_destroy(struct tgt_ctrlr *c, const char *why);
void tgt_ctrlr_get(struct tgt_ctrlr *c);
void tgt_ctrlr_put(struct tgt_ctrlr *c);
struct tgt_ctrlr *tgt_ctrlr_find(struct tgt_subsystem *s, uint16_t cntlid);
void tgt_ctrlr_qpair_gone(struct tgt_qpair *qp);
/* The transport is closing qp (on its own thread): requests parked in the controller (AERs)
 * are released so that the queue pair can drain. */
void tgt_qpair_closing(struct tgt_qpair *qp);
void tgt_ctrlr_set_kato(struct tgt_ctrlr *c, uint32_t kato_ms);
int tgt_ctrlr_queue_aer(struct tgt_ctrlr *c, struct tgt_req *req);
void tgt_ctrlr_aec_changed(struct tgt_ctrlr *c);
void tgt_ctrlr_keep_alive(struct tgt_ctrlr *c);
void tgt_ctrlr_notice_ns_changed(struct tgt_ctrlr *c, uint32_t nsid);
void tgt_ctrlr_log_error(struct tgt_ctrlr *c, const struct tgt_req *req, uint16_t status);

/* tls.c: TLS 1.3 PSKs of the secure listeners */
/* The TLS PSK for a client's identity "NVMe0R0<hh> <hostnqn> <subnqn>" on qp's listener: the
 * host's psk key of that subsystem, derived; remembers the identity in qp. Control thread. */
int tgt_tls_psk_lookup(void *qp, const char *identity, uint8_t *psk, size_t *len);
/* At Connect: the TLS identity (if any) and the host's psk setting agree with the NQNs; if not,
 * *why says why. */
bool tgt_tls_connect_allowed(const struct tgt_qpair *qp, const struct tgt_subsystem *s,
			     const char *hostnqn, const char **why);

/* auth.c: DH-HMAC-CHAP */
/* At the admin Connect of a host with a secret: loads the keys; the Connect response then
 * asks for authentication (AUTHREQ.ATR). */
int tgt_ctrlr_auth_setup(struct tgt_ctrlr *c, const struct tgt_host *h);
void tgt_ctrlr_auth_stop(struct tgt_ctrlr *c);     /* the controller is being destroyed */
void tgt_ctrlr_auth_free(struct tgt_ctrlr *c);
/* Each queue of such a controller (admin and I/O) authenticates before anything else. */
int tgt_qpair_auth_init(struct tgt_qpair *qp);
void tgt_qpair_auth_fini(struct tgt_qpair *qp);
/* Authentication Send / Receive. */
void tgt_auth_execute(struct tgt_req *req);
/* Whether req may run on its queue; if not, it is completed with Authentication Required. */
bool tgt_auth_admits(struct tgt_req *req);

/* request execution (fabrics.c, admin.c, io.c, discovery.c) */
void tgt_req_execute(struct tgt_req *req);   /* entry point from the transport */
void tgt_req_data_ready(struct tgt_req *req); /* write data fully received */
void tgt_req_complete_status(struct tgt_req *req, uint16_t status);
/* The transport is done with the request (response sent, or the queue pair closed): drops its
 * hold on the bdev channel. */
void tgt_req_release(struct tgt_req *req);
int tgt_req_alloc_buf(struct tgt_req *req, uint32_t len);
void tgt_fabrics_execute(struct tgt_req *req);
void tgt_admin_execute(struct tgt_req *req);
void tgt_io_execute(struct tgt_req *req);
void tgt_io_data_ready(struct tgt_req *req);
uint32_t tgt_discovery_log(struct tgt_qpair *qp, uint8_t **out);

/* Data direction and length of a command, from its SGL. */
int tgt_req_parse_sgl(struct tgt_req *req, uint32_t icd_len, uint16_t *status);

#endif
