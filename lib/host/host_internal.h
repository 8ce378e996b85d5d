/*
 * Internals of libnvfab shared by its files and its unit tests. The public face is
 * include/nvfab/nvfab.h.
 */
#ifndef NVFAB_HOST_INTERNAL_H
#define NVFAB_HOST_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "auth/dhchap.h"
#include "auth/tls_psk.h"
#include "nvfab/nvfab.h"
#include "spec/nvme_cmd.h"
#include "spec/nvme_tcp.h"
#include "tcp/tcp_rx.h"
#include "tcp/tcp_tx.h"
#include "util/list.h"

#define HOST_ADMIN_QUEUE_SIZE 32
#define HOST_MAX_QUEUE_SIZE 4096      /* CID = index (12 bits) | generation (4 bits) */
#define HOST_CID_IDX_BITS 12
#define HOST_CID_IDX_MASK ((1u << HOST_CID_IDX_BITS) - 1)
/* Fabrics commands and the admin queue take at least 8 KiB in the capsule (NVMe/TCP 1.0). */
#define HOST_ADMIN_ICD_SIZE 8192
#define HOST_MAX_NS 1024              /* one Identify active-namespace list */

enum host_req_state {
	HOST_REQ_FREE,
	HOST_REQ_HELD,      /* waiting for the connection (reconnect) */
	HOST_REQ_ACTIVE,    /* on the wire */
};

enum host_xfer {
	HOST_XFER_NONE,
	HOST_XFER_H2C,      /* host to controller: write, compare, DSM, Connect */
	HOST_XFER_C2H,      /* controller to host: read, identify, log pages */
};

struct host_req {
	struct host_qpair *qp;
	uint16_t cid;
	uint8_t state;          /* enum host_req_state */
	uint8_t xfer;           /* enum host_xfer */
	bool icd;               /* data travels inside the command capsule */
	bool cpl_ready;         /* response arrived while our send was still queued */
	bool h2c_busy;          /* an H2CData PDU is queued */
	uint8_t tx_pending;     /* PDUs of ours still in the send queue */
	uint32_t len;           /* data bytes */
	uint32_t c2h_next;      /* next expected C2HData offset */
	uint32_t h2c_next;      /* next H2CData offset to send for the current R2T */
	uint32_t h2c_end;       /* end of the current R2T */
	uint16_t ttag;
	uint64_t submit_ns;     /* coarse: for the I/O timeout */
	struct nvme_sqe sqe;    /* kept for resubmission after a reconnect */
	struct nvfab_cpl cpl;
	nvfab_cb cb;
	void *cb_arg;
	int iovcnt;
	struct iovec iov[NVFAB_MAX_IOV];
	struct iovec h2c_iov[NVFAB_MAX_IOV];
	struct tcp_tx_pdu cmd_pdu;
	struct tcp_tx_pdu h2c_pdu;
	struct list_node link;  /* free list, held list or active list */
};

enum host_qp_state {
	HOST_QP_CONNECTING,     /* setting up: errors fail the setup, no reconnect */
	HOST_QP_LIVE,
	HOST_QP_RECONNECTING,   /* lost; held requests wait for a new connection */
	HOST_QP_FAILED,         /* lost for good */
};

struct host_qpair {
	struct nvfab_ctrlr *ctrlr;
	uint16_t qid;
	uint8_t state;          /* enum host_qp_state */
	int fd;
	uint32_t size;          /* queue size: size - 1 commands at most */
	uint32_t outstanding;   /* ACTIVE + HELD */
	uint32_t icd_max;       /* largest in-capsule write */
	uint32_t max_h2c;       /* MAXH2CDATA from ICResp */
	uint8_t cpda;           /* controller's required data alignment (ICResp) */
	bool hdgst, ddgst;      /* negotiated */
	bool hold_on_error;     /* on a lost connection: hold requests (reconnect) or fail them */
	bool in_poll;           /* inside tcp_rx processing: teardown must wait */
	bool batching;      /* in completion callbacks: new commands leave in one send */
	bool tearing_down;      /* tx done() callbacks only account */
	bool ic_done;           /* ICResp received */
	bool c2h_success_seen;  /* the last read's data came with SUCCESS (no CapsuleResp) */
	int deferred_err;       /* connection error seen where teardown was unsafe */
	int last_err;           /* what broke the connection */
	uint16_t connect_cntlid; /* CNTLID returned by Connect */
	uint32_t ctrlr_gen;     /* controller generation this connection belongs to */
	uint64_t now_ns;        /* coarse clock, refreshed per poll */
	uint64_t next_timeout_check_ns;
	uint64_t reconnect_at_ns;
	uint64_t loss_deadline_ns; /* UINT64_MAX: forever */
	uint64_t fast_fail_ns;  /* while reconnecting: fail held I/O from then (UINT64_MAX: never) */
	bool fast_failed;       /* it did: new I/O fails at once until reconnected */
	uint32_t reaped;        /* completions delivered in this poll */
	struct tcp_rx rx;
	struct tcp_tx tx;
	struct tcp_tx_pdu ctl_pdu;  /* ICReq, H2CTermReq */
	uint8_t term_data[NVME_TCP_TERM_REQ_DATA_MAX];
	struct list_node free_list;
	struct list_node done_list; /* completions waiting for their sends to finish */
	struct list_node held_list;
	struct list_node active_list;
	struct host_req *reqs;
};

/* The public handle is the internal struct. */
struct nvfab_qpair {
	struct host_qpair q;
};

enum host_ctrlr_state {
	HOST_CTRLR_LIVE,
	HOST_CTRLR_RECONNECTING,
	HOST_CTRLR_FAILED,
};

struct nvfab_ctrlr {
	struct nvfab_trid trid;        /* as connected first: the subsystem's identity */
	/*
	 * Failover: the paths to the subsystem, paths[path] in use. Changed (added, removed, moved
	 * on) under paths_lock, read under it by whoever connects a queue: reactors connect I/O
	 * queues while the admin thread moves to another path.
	 */
	pthread_mutex_t paths_lock;
	struct nvfab_trid paths[NVFAB_MAX_PATHS];
	uint32_t npaths;
	uint32_t path;
	struct nvfab_ctrlr_opts opts;
	char hostnqn[NVFAB_NQN_MAX + 1];
	bool discovery;
	struct host_qpair admin;
	_Atomic uint16_t cntlid;
	_Atomic uint32_t generation;   /* bumps on every (re)connect of the admin queue */
	_Atomic int state;             /* enum host_ctrlr_state */
	uint64_t cap;
	uint32_t vs;
	uint32_t kato_ms;
	uint64_t next_ka_ns;
	bool ka_outstanding;
	uint64_t ka_sent_ns;
	uint64_t reconnect_at_ns;
	uint64_t loss_deadline_ns;
	/* When the first queue of this controller (admin or I/O, whichever saw it first) lost its
	 * connection; 0 while connected. ctrl_loss_tmo counts from here for every queue. */
	_Atomic uint64_t loss_since_ns;
	/* While the admin queue is being set up: every step (TCP connect, ICReq, Connect,
	 * properties, Identify) ends by then, so that one attempt cannot outlast connect_timeout
	 * nor ctrl_loss_tmo, whatever a slow or half-dead target does. */
	uint64_t setup_deadline_ns;
	/* While shutting down (nvfab_ctrlr_disconnect()): the whole CC.SHN handshake ends by
	 * then, so that a silent controller holds a disconnect for the shutdown timeout, not for
	 * an admin command timeout per step. 0 otherwise. */
	uint64_t shutdown_deadline_ns;
	uint32_t max_xfer;
	uint32_t icd_size;
	uint32_t max_queue_size;
	uint32_t nr_io_queues;
	struct nvme_id_ctrl *id;
	/* The active namespaces, sorted by nsid. A namespace object lives until disconnect (I/O
	 * may still name one that went away); the array is replaced on refresh, under ns_lock. */
	pthread_mutex_t ns_lock;
	struct nvfab_ns **ns;
	uint32_t num_ns;
	struct host_ns *ns_all;        /* every namespace object made, for the final free */
	/* Namespace events (nvfab_ctrlr_enable_ns_events): an Asynchronous Event Request is kept
	 * outstanding on the admin queue, re-armed after each event and reconnect. */
	bool ns_events;
	bool aer_outstanding;
	/* Reconnected: event_cb hears of a namespace change, as if noticed (what changed while
	 * the connection was down raised no notice on the new one). Admin lock. */
	bool ns_resync;
	nvfab_event_cb event_cb;
	void *event_arg;
	pthread_mutex_t qid_lock;      /* control path only: QID allocation */
	/* Recursive; control path only. The admin queue is shared by nvfab_ctrlr_process_admin(),
	 * the synchronous admin commands and the sync I/O helpers' keep-alive duty. */
	pthread_mutex_t admin_lock;
	uint8_t *qid_used;             /* [nr_io_queues + 1] */
	char last_error[512];
	/* DH-HMAC-CHAP, parsed from opts at connect (whose copies are then wiped) */
	struct dhchap_secret dhchap_key, dhchap_ctrl_key;
	bool has_dhchap_key, has_dhchap_ctrl_key;
	/* TLS: the configured PSK, parsed from opts.tls_psk at connect */
	struct tls_psk tls_key;
	bool has_tls_key;
	_Atomic uint16_t auth_tid;     /* transaction IDs, one per exchange */
};

/* ---- DH-HMAC-CHAP (auth.c) and TLS (tls.c) ---- */
/* Parses the secrets of ctrlr->opts (DH-HMAC-CHAP secrets, the TLS PSK) into ctrlr and wipes
 * the copies in opts. -EINVAL with err set. */
int host_auth_setup(struct nvfab_ctrlr *ctrlr, struct nvfab_error *err);
/* After a successful Connect whose response is connect_dw0: authenticates the queue when the
 * controller asks for it or the host holds a controller secret. 0, or -EACCES with err set. */
int host_qpair_authenticate(struct host_qpair *qp, uint32_t connect_dw0, uint64_t deadline_ns,
			    struct nvfab_error *err);
/* TLS 1.3 on the fresh connection of qp to path t, before ICReq. 0, or -errno with err set. */
int host_qpair_start_tls(struct host_qpair *qp, const struct nvfab_trid *t, uint64_t deadline_ns,
			 struct nvfab_error *err);

/* ---- time ---- */
uint64_t host_now_ns(void);

/* ---- queue pair core (qpair.c) ---- */
int host_qpair_init(struct host_qpair *qp, struct nvfab_ctrlr *ctrlr, uint16_t qid,
		    uint32_t size);
void host_qpair_fini(struct host_qpair *qp);
/*
 * TCP connect, ICReq/ICResp, Fabrics Connect: blocking, all of it done by deadline_ns
 * (see host_setup_deadline). cntlid is 0xffff for the admin queue. On failure fills err and leaves the qpair
 * disconnected.
 */
int host_qpair_connect(struct host_qpair *qp, uint16_t cntlid, uint64_t deadline_ns,
		       struct nvfab_error *err);
/* The end of a connection attempt started now: connect_timeout_ms later, but never after
 * limit_ns (a ctrl_loss_tmo deadline; UINT64_MAX for none). */
uint64_t host_setup_deadline(const struct nvfab_ctrlr *ctrlr, uint64_t limit_ns);
/* Milliseconds left until deadline_ns, at least 1. */
int host_ms_until(uint64_t deadline_ns);
/* Closes the socket. Requests on the wire are held for a resend (hold) or failed with err;
 * held requests stay held either way. */
void host_qpair_close(struct host_qpair *qp, int err, bool hold);
/* The connection broke: LIVE with hold_on_error -> RECONNECTING (requests held); LIVE without
 * -> FAILED (all failed); CONNECTING -> closed, the set-up step fails. */
void host_qpair_lost(struct host_qpair *qp, int err);
/* Queues a command. data/len per xfer. Returns 0, -EAGAIN or -ENOTCONN. */
int host_qpair_submit(struct host_qpair *qp, const struct nvme_sqe *sqe, enum host_xfer xfer,
		      const struct iovec *iov, int iovcnt, uint32_t len, nvfab_cb cb, void *arg);
/* Nonblocking receive/send; returns completions or a negative errno when the socket failed. */
/* Sends what submissions queued while batching. */
void host_qpair_flush(struct host_qpair *qp);
int host_qpair_poll(struct host_qpair *qp, uint32_t max);
/* Waits (poll(2)) until *done or the deadline. Returns 0, -ETIMEDOUT or the socket error. */
int host_qpair_wait(struct host_qpair *qp, const bool *done, uint64_t deadline_ns);
/* Runs one command to completion (admin and setup). Returns 0 or -errno; NVMe errors give 0
 * with the status in *cpl. A timeout tears the connection down. */
int host_qpair_exec(struct host_qpair *qp, const struct nvme_sqe *sqe, enum host_xfer xfer,
		    void *buf, uint32_t len, struct nvfab_cpl *cpl, int timeout_ms);
/* Fails every request (held and active) with err. */
void host_qpair_fail_all(struct host_qpair *qp, int err);
/* Sends the held requests again after a reconnect. */
void host_qpair_resubmit_held(struct host_qpair *qp);

/* ---- fabrics and admin commands (fabrics.c) ---- */
void host_sqe_prop_get(struct nvme_sqe *sqe, uint32_t ofst, bool eight);
void host_sqe_prop_set(struct nvme_sqe *sqe, uint32_t ofst, bool eight, uint64_t value);
void host_sqe_connect(struct nvme_sqe *sqe, uint16_t qid, uint16_t sqsize, uint32_t kato_ms,
		      bool disable_sqflow);
void host_connect_data(struct nvmf_connect_data *data, const uint8_t hostid[16], uint16_t cntlid,
		       const char *subnqn, const char *hostnqn);
/* Decodes a refused Connect into err->msg (IPO/IATTR, host, subsystem...); returns -errno. */
int host_connect_error(struct nvfab_error *err, const struct nvfab_cpl *cpl, uint16_t qid,
			const char *subnqn, const char *hostnqn);
int host_status_errno(uint16_t status, bool connect);

/* ---- controller (ctrlr.c, admin.c) ---- */
int host_ctrlr_enable(struct nvfab_ctrlr *ctrlr, struct nvfab_error *err);
int host_ctrlr_admin_exec(struct nvfab_ctrlr *ctrlr, const struct nvme_sqe *sqe,
			  enum host_xfer xfer, void *buf, uint32_t len, struct nvfab_cpl *cpl);
/* Set Features fid to value (CDW11), on the admin queue (admin_lock held or set-up). */
int host_ctrlr_set_feature(struct nvfab_ctrlr *ctrlr, uint8_t fid, uint32_t value,
			   struct nvfab_cpl *cpl);
int host_ctrlr_reconnect(struct nvfab_ctrlr *ctrlr);
/* ---- namespaces (ns.c) ---- */
/* Identifies the active namespaces and makes them the list (keeping the objects of those still
 * there). clear_changed: read the Changed Namespace List log first (re-enables its notice).
 * *changed (may be NULL): whether the set of namespaces changed. */
int host_ns_refresh(struct nvfab_ctrlr *ctrlr, bool clear_changed, bool *changed,
		    struct nvfab_error *err);
void host_ns_free_all(struct nvfab_ctrlr *ctrlr);
/* After the admin queue came up: configure and arm namespace events if they are enabled. */
void host_ns_events_arm(struct nvfab_ctrlr *ctrlr);
int host_get_log_page(struct nvfab_ctrlr *ctrlr, uint8_t lid, uint32_t nsid, uint64_t offset,
		      void *buf, uint32_t len, struct nvfab_cpl *cpl);
/* ---- paths (paths.c) ---- */
void host_paths_init(struct nvfab_ctrlr *ctrlr);
/* A copy of the path in use (connecting reads it while another thread may move on). */
void host_path_current(struct nvfab_ctrlr *ctrlr, struct nvfab_trid *out);
/* Moves to the next path; false when there is only one. */
bool host_path_next(struct nvfab_ctrlr *ctrlr);
uint32_t host_path_count(struct nvfab_ctrlr *ctrlr);
/* A queue lost its connection at now: returns when the controller's loss began (now, or an
 * earlier loss that another queue saw first), and the ctrl_loss_tmo deadline from there. */
uint64_t host_ctrlr_loss_deadline(struct nvfab_ctrlr *ctrlr, uint64_t now);
void host_ctrlr_set_error(struct nvfab_ctrlr *ctrlr, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void host_error_set(struct nvfab_error *err, int rc, uint16_t status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int host_hostid_default(uint8_t hostid[16]);

/* ---- splitting (sync.c) ---- */
struct host_chunk {
	uint64_t lba;
	uint32_t nblocks;
	uint64_t offset;        /* byte offset into the caller's buffer */
};
/* Max blocks per command given MDTS bytes and the block size (also capped by NLB's 16 bits). */
uint32_t host_max_blocks(uint32_t max_xfer, uint32_t block_size);
/* The idx-th chunk of [lba, lba + nblocks) in pieces of at most max_blocks; false past the end. */
bool host_split(uint64_t lba, uint64_t nblocks, uint32_t block_size, uint32_t max_blocks,
		uint64_t idx, struct host_chunk *out);

#endif
