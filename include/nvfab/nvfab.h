/*
 * libnvfab: a user-space NVMe-over-TCP host.
 *
 * Model: connect a controller (admin queue), then create I/O queue pairs, one per thread that
 * issues I/O. A queue pair is not thread-safe and takes no locks: submit and poll it from the
 * thread that owns it. The admin queue has a lock of its own (control path only): call
 * nvfab_ctrlr_process_admin() regularly from any one thread (keep-alive and reconnect run
 * there); the synchronous admin functions may be called from any thread.
 *
 * I/O is asynchronous: nvfab_read() and friends queue a command and return; its callback runs
 * from nvfab_qpair_process_completions(). Data moves straight between the socket and the
 * caller's iovecs, which must stay valid until the callback. Nothing is allocated per I/O: each
 * queue pair preallocates queue_size requests.
 *
 * Errors are negative errno values. A completion carries the NVMe status and, separately, a
 * transport error (the connection failed and the command's fate is unknown).
 *
 * Identify data and discovery log entries use libnvme's wire structs (<nvme/types.h>); this
 * header only forward-declares them.
 */
#ifndef NVFAB_NVFAB_H
#define NVFAB_NVFAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct nvme_id_ctrl;
struct nvme_id_ns;
struct nvmf_discovery_log;

struct nvfab_ctrlr;
struct nvfab_qpair;

#define NVFAB_NQN_MAX 223            /* bytes, without NUL (NVMe-oF) */
#define NVFAB_TRADDR_MAX 255
#define NVFAB_TRSVCID_MAX 31
#define NVFAB_DISCOVERY_NQN "nqn.2014-08.org.nvmexpress.discovery"
#define NVFAB_DEFAULT_PORT "4420"
#define NVFAB_MAX_IOV 16              /* iovecs per I/O */
#define NVFAB_MAX_PATHS 8             /* failover paths per controller */

/* ---------------------------------------------------------------------------------------------
 * Transport IDs, in SPDK's text form:
 *   "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:4420 subnqn:nqn.2016-06.io.spdk:cnode1"
 * Pairs are separated by spaces/tabs; key and value by ':' or '='; keys and the trtype/adrfam
 * values are case-insensitive. trtype and traddr are required; trsvcid defaults to 4420, adrfam
 * to the address's family; subnqn may be left out (discovery uses the discovery NQN). hostnqn
 * is accepted as a per-controller override; priority is accepted and ignored (a scheduling hint
 * in SPDK); any other key is an error.
 * ------------------------------------------------------------------------------------------- */
enum nvfab_trtype { NVFAB_TRTYPE_TCP = 3 };      /* discovery log TRTYPE code */
enum nvfab_adrfam { NVFAB_ADRFAM_IPV4 = 1, NVFAB_ADRFAM_IPV6 = 2 };

struct nvfab_trid {
	enum nvfab_trtype trtype;
	enum nvfab_adrfam adrfam;
	char traddr[NVFAB_TRADDR_MAX + 1];
	char trsvcid[NVFAB_TRSVCID_MAX + 1];
	char subnqn[NVFAB_NQN_MAX + 1];        /* "" = not given */
	char hostnqn[NVFAB_NQN_MAX + 1];       /* "" = from nvfab_ctrlr_opts */
};

/*
 * Returns 0, -EINVAL (syntax, missing or bad value), -ENAMETOOLONG (NQN or address too long) or
 * -EPROTONOSUPPORT (a trtype other than TCP). err, if not NULL, gets a one-line reason.
 */
int nvfab_trid_parse(struct nvfab_trid *trid, const char *str, char *err, size_t err_len);
/* The canonical text form; returns the length snprintf would have written. */
int nvfab_trid_format(const struct nvfab_trid *trid, char *buf, size_t len);

/* ---------------------------------------------------------------------------------------------
 * Host identity
 * ------------------------------------------------------------------------------------------- */
/* A random version-4 UUID, as 16 bytes. Returns 0 or -errno. */
int nvfab_uuid_generate(uint8_t uuid[16]);
void nvfab_uuid_format(const uint8_t uuid[16], char out[37]);
int nvfab_uuid_parse(const char *text, uint8_t uuid[16]);
/* "nqn.2014-08.org.nvmexpress:uuid:<uuid>", the form nvme-cli generates. */
void nvfab_hostnqn_from_uuid(const uint8_t uuid[16], char out[NVFAB_NQN_MAX + 1]);

/* ---------------------------------------------------------------------------------------------
 * Controller options. Defaults follow the Linux host (nvme-fabrics).
 * ------------------------------------------------------------------------------------------- */
struct nvfab_ctrlr_opts {
	char hostnqn[NVFAB_NQN_MAX + 1]; /* "" = nqn...:uuid:<hostid> */
	uint8_t hostid[16];              /* all zero = generated once per process */
	bool hdgst;                      /* request header digests */
	bool ddgst;                      /* request data digests */
	int32_t kato_ms;                 /* -1 = default: 5000, or 0 for a discovery controller */
	uint32_t nr_io_queues;           /* requested from Set Features; default 8 */
	uint32_t io_queue_size;          /* default queue size for nvfab_qpair_create(); 128 */
	int32_t reconnect_delay_s;       /* between reconnect attempts; default 10 */
	int32_t ctrl_loss_tmo_s;         /* -1 forever, 0 fail at once; default 600 */
	int32_t connect_timeout_ms;      /* one whole connection set-up (TCP, ICReq, Connect, enable,
					  * Identify), never past ctrl_loss_tmo; default 5000 */
	int32_t io_timeout_ms;           /* a command older than this resets the queue; 30000;
					  * 0 = never */
	bool sq_flow_control;            /* false (default): I/O queues ask the controller to
					  * disable SQ flow control, which lets it fold a read's
					  * response into its last C2HData PDU (SUCCESS flag) */
	int32_t fast_io_fail_tmo_s;      /* 0 (default): commands are held while reconnecting,
					  * until ctrl_loss_tmo_s; N > 0: after N s disconnected
					  * they fail (transport error) and new ones fail at once,
					  * while reconnecting goes on until ctrl_loss_tmo_s */
	/* DH-HMAC-CHAP (in-band authentication), secrets as "DHHC-1:xx:<base64>:" ("" = none):
	 * each queue authenticates when the controller asks for it (or, with a controller
	 * secret, always: the host then also checks the controller's answer). Copied and parsed
	 * at connect; the caller may wipe its copy afterwards. */
	char dhchap_secret[128];
	char dhchap_ctrl_secret[128];
	uint32_t dhchap_hashes;          /* hashes offered, bit per ID (1 SHA-256, 2 SHA-384,
					  * 3 SHA-512); 0 = all */
	uint32_t dhchap_dhgroups;        /* DH groups offered, bit per ID (0 null, 1 ffdhe2048 ..
					  * 5 ffdhe8192); 0 = all */
	/* TLS 1.3 with this pre-shared key ("NVMeTLSkey-1:xx:<base64>:"; "" = plain TCP): every
	 * queue's connection starts with the handshake, identity "NVMe0R0xx <hostnqn>
	 * <subnqn>". Copied and parsed at connect, like the DH-HMAC-CHAP secrets. */
	char tls_psk[128];
};

void nvfab_ctrlr_opts_init(struct nvfab_ctrlr_opts *opts);

/* What went wrong when a connection could not be made. */
struct nvfab_error {
	int err;            /* negative errno */
	uint16_t status;    /* NVMe status of the refused command (Connect, ...), 0 if none */
	char msg[512];      /* one line, for people */
};

/* ---------------------------------------------------------------------------------------------
 * Completions and status
 * ------------------------------------------------------------------------------------------- */
struct nvfab_cpl {
	uint32_t cdw0;      /* command specific result */
	uint32_t cdw1;      /* high half of 8-byte results (Property Get of CAP) */
	/* NVMe status field, libnvme encoding: SC 7:0, SCT 10:8, CRD 12:11, More 13, DNR 14. */
	uint16_t status;
	uint16_t cid;
	/* 0, or negative errno when the command did not complete on the wire (connection lost,
	 * timed out, digest error...); status is then meaningless. */
	int transport_err;
};

#define NVFAB_STATUS_SC(s) ((s) & 0xff)
#define NVFAB_STATUS_SCT(s) (((s) >> 8) & 0x7)
#define NVFAB_STATUS_DNR(s) (!!((s) & 0x4000))

static inline bool nvfab_cpl_is_error(const struct nvfab_cpl *cpl)
{
	return cpl->transport_err != 0 || (cpl->status & 0x7ff) != 0;
}

/* The status name ("LBA Out of Range", "Successful Completion", ...; "Unknown" otherwise). */
const char *nvfab_status_str(uint16_t status);
/* "LBA Out of Range (SCT 0x0, SC 0x80, DNR)" or "transport error: Connection reset by peer". */
char *nvfab_cpl_str(const struct nvfab_cpl *cpl, char *buf, size_t len);
/* 0 on success, the transport error, or -EIO for any NVMe error status. */
int nvfab_cpl_errno(const struct nvfab_cpl *cpl);

typedef void (*nvfab_cb)(void *arg, const struct nvfab_cpl *cpl);

/* ---------------------------------------------------------------------------------------------
 * Controllers
 * ------------------------------------------------------------------------------------------- */
/*
 * Connects the admin queue and brings the controller up: ICReq, Fabrics Connect, CC.EN=1, wait
 * for CSTS.RDY, Identify Controller, Set Features Number of Queues (I/O controllers), Identify of
 * every active namespace. opts may be NULL (defaults). Returns NULL on failure with *err (if
 * given) filled in; a refused Connect is decoded ("Connect Invalid Host: host ... not allowed").
 */
struct nvfab_ctrlr *nvfab_ctrlr_connect(const struct nvfab_trid *trid,
					const struct nvfab_ctrlr_opts *opts,
					struct nvfab_error *err);
/* Orderly shutdown (CC.SHN, wait for SHST complete), then closes. Destroy qpairs first. */
void nvfab_ctrlr_disconnect(struct nvfab_ctrlr *ctrlr);

/*
 * Services the admin queue: reaps completions, sends Keep Alive every KATO/2, detects a lost
 * connection and reconnects per reconnect_delay_s/ctrl_loss_tmo_s. Call it every few hundred
 * ms at least (it never blocks, except for the reconnect attempt itself). Returns 0, or
 * -ENOTCONN once the controller is lost for good.
 */
int nvfab_ctrlr_process_admin(struct nvfab_ctrlr *ctrlr);
/* The last connection-level error on this controller, for people; "" if none. */
const char *nvfab_ctrlr_last_error(const struct nvfab_ctrlr *ctrlr);
bool nvfab_ctrlr_is_discovery(const struct nvfab_ctrlr *ctrlr);

const struct nvme_id_ctrl *nvfab_ctrlr_id(const struct nvfab_ctrlr *ctrlr);
/* The transport ID the controller was connected with (see nvfab_ctrlr_get_path() for the
 * path in use). */
const struct nvfab_trid *nvfab_ctrlr_trid(const struct nvfab_ctrlr *ctrlr);
uint16_t nvfab_ctrlr_cntlid(const struct nvfab_ctrlr *ctrlr);
uint64_t nvfab_ctrlr_cap(const struct nvfab_ctrlr *ctrlr);
uint32_t nvfab_ctrlr_vs(const struct nvfab_ctrlr *ctrlr);
/* Largest data transfer of one command in bytes (MDTS; UINT32_MAX-ish if unlimited). */
uint32_t nvfab_ctrlr_max_xfer(const struct nvfab_ctrlr *ctrlr);
/* Largest write sent inside the command capsule on I/O queues (IOCCSZ * 16 - 64). */
uint32_t nvfab_ctrlr_icd_size(const struct nvfab_ctrlr *ctrlr);
/* Number of I/O queues granted by Set Features. */
uint32_t nvfab_ctrlr_nr_io_queues(const struct nvfab_ctrlr *ctrlr);
/* Largest queue size an I/O queue may have (CAP.MQES + 1, MAXCMD). */
uint32_t nvfab_ctrlr_max_queue_size(const struct nvfab_ctrlr *ctrlr);
const char *nvfab_ctrlr_hostnqn(const struct nvfab_ctrlr *ctrlr);

/*
 * A controller that was lost for good (nvfab_ctrlr_process_admin() returned -ENOTCONN: no
 * reconnect within ctrl_loss_tmo) is tried again, once on each path, now; this blocks up to
 * connect_timeout_ms per path. 0 when connected again: its I/O queue pairs stay lost (destroy
 * them and create new ones). -EBUSY when it is not lost; otherwise the last attempt's error.
 */
int nvfab_ctrlr_reconnect(struct nvfab_ctrlr *ctrlr);
/*
 * Resets the controller: closes the admin connection and connects again (on the path in use,
 * then the others), blocking up to connect_timeout_ms per path; its I/O queue pairs leave their
 * connections and join the new controller, resending what they held. 0 when it is back;
 * otherwise the error, and the usual reconnect policy goes on from now.
 */
int nvfab_ctrlr_reset(struct nvfab_ctrlr *ctrlr);
/*
 * Runs DH-HMAC-CHAP again on the admin queue (a new transaction with fresh challenges), with the
 * secrets given at connect; the queue stays usable meanwhile. 0, or -errno with *err (if given):
 * -ENOKEY without a secret; a refusal ends the connection (the controller closes it) and the
 * reconnect policy takes over. Control path, like the other admin calls.
 */
int nvfab_ctrlr_reauthenticate(struct nvfab_ctrlr *ctrlr, struct nvfab_error *err);

/* The same on one I/O queue pair, from the thread that owns it (its I/O goes on meanwhile). */
int nvfab_qpair_reauthenticate(struct nvfab_qpair *qp, struct nvfab_error *err);

/* ---- failover paths ----
 * A controller reaches its subsystem through one path (address and port) at a time. More paths
 * to the same subsystem can be added; when the one in use is lost, reconnecting moves to the
 * next one at once (then round robin, reconnect_delay_s apart), and held commands are sent
 * again on the path that comes up: active/passive failover, as SPDK's bdev_nvme "failover".
 */
/*
 * Adds trid (same subsystem NQN, or "" for it) as a path. It is checked first: a connection to
 * it must show the same namespaces (NSID, size, block size, identifiers); then it is closed
 * until needed. Returns 0; -EEXIST (already a path), -EINVAL (another subsystem, or different
 * namespaces), -ENOSPC (NVFAB_MAX_PATHS), or the check's connect error; *err says why.
 */
int nvfab_ctrlr_add_path(struct nvfab_ctrlr *ctrlr, const struct nvfab_trid *trid,
			 struct nvfab_error *err);
/* Removes a path that is not in use: 0, -ENOENT (no such path), -EBUSY (it is in use). */
int nvfab_ctrlr_remove_path(struct nvfab_ctrlr *ctrlr, const struct nvfab_trid *trid);
uint32_t nvfab_ctrlr_num_paths(const struct nvfab_ctrlr *ctrlr);
/* Copies path idx: 0 is the one in use, then the others in failover order. -ENOENT past the
 * end. */
int nvfab_ctrlr_get_path(const struct nvfab_ctrlr *ctrlr, uint32_t idx, struct nvfab_trid *out);

/* ---- namespaces (identified at connect, and again by nvfab_ctrlr_refresh_namespaces()) ----
 * A namespace object stays valid until the controller is disconnected, also after it left the
 * active list (I/O naming it then fails with the controller's status). */
struct nvfab_ns {
	uint32_t nsid;
	uint32_t block_size;            /* bytes, from the formatted LBA format */
	uint32_t md_size;
	/* NSZE. A resize the controller reports (Namespace Attribute Changed, then
	 * nvfab_ctrlr_refresh_namespaces) updates it in place, with an atomic store: read it
	 * with __atomic_load_n from other threads. */
	uint64_t num_blocks;
	const struct nvme_id_ns *id;    /* full Identify Namespace data (its size fields follow too) */
	struct nvfab_ctrlr *ctrlr;
};

/* Active namespaces in NSID order: nvfab_ctrlr_next_ns(c, NULL) is the first; NULL at end.
 * (After prev: the next active NSID above prev's, so a refresh meanwhile is harmless.) */
const struct nvfab_ns *nvfab_ctrlr_next_ns(const struct nvfab_ctrlr *ctrlr,
					   const struct nvfab_ns *prev);
/* NULL when nsid is not an active namespace. */
const struct nvfab_ns *nvfab_ctrlr_get_ns(const struct nvfab_ctrlr *ctrlr, uint32_t nsid);

/*
 * Namespace change events. Enables the controller's Namespace Attribute Notices (Set Features
 * Asynchronous Event Configuration) and keeps an Asynchronous Event Request outstanding, also
 * across reconnects. cb (may be NULL) runs from the thread that calls
 * nvfab_ctrlr_process_admin() with the event's completion dword 0 (type in bits 2:0, info in
 * 15:8, log page in 23:16), for every event; it must not issue admin commands: call
 * nvfab_ctrlr_refresh_namespaces() after it returned. After a reconnect it also runs once with
 * NVFAB_EVENT_NS_CHANGED: what changed while the connection was down raised no notice on the
 * new one. Returns 0, -ENOTSUP when the controller does not send namespace notices (OAES bit 8),
 * or the Set Features error.
 */
/* Notice (type 2), Namespace Attribute Changed (info 0), Changed Namespace List (log 04h). */
#define NVFAB_EVENT_NS_CHANGED 0x00040002u
typedef void (*nvfab_event_cb)(void *arg, uint32_t cdw0);
int nvfab_ctrlr_enable_ns_events(struct nvfab_ctrlr *ctrlr, nvfab_event_cb cb, void *arg);
/* Reads the Changed Namespace List log (which re-enables the notice), then identifies the
 * active namespaces again. 0 or -errno with *err (may be NULL) filled in. */
int nvfab_ctrlr_refresh_namespaces(struct nvfab_ctrlr *ctrlr, struct nvfab_error *err);

/* ---- synchronous admin commands (on the admin queue; see the threading note above) ---- */
/* buf: 4096 bytes. */
int nvfab_ctrlr_identify(struct nvfab_ctrlr *ctrlr, uint8_t cns, uint32_t nsid, void *buf,
			 struct nvfab_cpl *cpl);
/* Reads len bytes of log page lid from offset, split by MDTS. */
int nvfab_ctrlr_get_log_page(struct nvfab_ctrlr *ctrlr, uint8_t lid, uint32_t nsid,
			     uint64_t offset, void *buf, uint32_t len, struct nvfab_cpl *cpl);
int nvfab_ctrlr_get_property(struct nvfab_ctrlr *ctrlr, uint32_t offset, bool eight_bytes,
			     uint64_t *value);

/* ---------------------------------------------------------------------------------------------
 * Discovery
 * ------------------------------------------------------------------------------------------- */
/*
 * The whole discovery log of a connected discovery controller: the header first, then numrec
 * entries, re-read when the generation counter moved meanwhile. *log is malloc()ed: free() it.
 */
int nvfab_ctrlr_get_discovery_log(struct nvfab_ctrlr *ctrlr, struct nvmf_discovery_log **log);
/* Connects to trid (subnqn "" = the discovery NQN), fetches the log, disconnects. */
int nvfab_discover(const struct nvfab_trid *trid, const struct nvfab_ctrlr_opts *opts,
		   struct nvmf_discovery_log **log, struct nvfab_error *err);

/* ---------------------------------------------------------------------------------------------
 * I/O queue pairs
 * ------------------------------------------------------------------------------------------- */
struct nvfab_qpair_opts {
	uint32_t queue_size;  /* 0 = ctrlr default; at most queue_size - 1 commands outstanding */
};

/* Connects a new I/O queue (next free QID). NULL on failure with *err filled in. */
struct nvfab_qpair *nvfab_qpair_create(struct nvfab_ctrlr *ctrlr,
				       const struct nvfab_qpair_opts *opts,
				       struct nvfab_error *err);
/* Fails what is still outstanding (callbacks run with -ECANCELED) and closes. */
void nvfab_qpair_destroy(struct nvfab_qpair *qpair);

/*
 * Reads the socket without blocking, runs callbacks, flushes queued sends, drives reconnect.
 * Stops reading once max (0 = no limit) completions were reaped, though completions already
 * received are delivered. Returns the number of completions, or -ENOTCONN once the queue is
 * lost for good. Callbacks may submit new I/O but must not destroy the queue pair.
 */
int nvfab_qpair_process_completions(struct nvfab_qpair *qpair, uint32_t max);
/*
 * Submissions normally leave at once. Between nvfab_qpair_batch_begin() and nvfab_qpair_flush()
 * they queue and then leave together, in as few sendmsg calls as the socket takes: fewer
 * system calls at queue depth > 1. Commands submitted from completion callbacks are batched
 * this way automatically. nvfab_qpair_process_completions() sends what is queued too: at its
 * start, and after each large response it reads (so the controller is not left idle while a
 * long stream of data is copied). nvfab_qpair_flush() returns 0 or the connection's error.
 */
void nvfab_qpair_batch_begin(struct nvfab_qpair *qpair);
int nvfab_qpair_flush(struct nvfab_qpair *qpair);
/* The socket, for epoll users. Changes after a reconnect: re-read it when it fails. -1 while
 * disconnected. */
int nvfab_qpair_fd(const struct nvfab_qpair *qpair);
/* POLLIN, plus POLLOUT while sends are queued behind a full socket. */
short nvfab_qpair_poll_events(const struct nvfab_qpair *qpair);
uint32_t nvfab_qpair_outstanding(const struct nvfab_qpair *qpair);
uint16_t nvfab_qpair_qid(const struct nvfab_qpair *qpair);
struct nvfab_ctrlr *nvfab_qpair_ctrlr(const struct nvfab_qpair *qpair);

/* I/O flags */
#define NVFAB_IO_FUA (1u << 0)           /* Force Unit Access (Read, Write, Compare) */
#define NVFAB_IO_LIMITED_RETRY (1u << 1)
#define NVFAB_IO_DEAC (1u << 2)          /* Write Zeroes: deallocate */

/*
 * Submission. iov must add up to exactly nblocks * block_size; at most NVFAB_MAX_IOV entries and
 * nvfab_ctrlr_max_xfer() bytes. Returns 0, -EINVAL (bad arguments, too large), -EAGAIN (queue
 * full: reap completions and retry) or -ENOTCONN (queue lost). The callback runs only after a 0
 * return.
 */
int nvfab_read(struct nvfab_qpair *qp, const struct nvfab_ns *ns, uint64_t lba, uint32_t nblocks,
	       const struct iovec *iov, int iovcnt, uint32_t flags, nvfab_cb cb, void *arg);
int nvfab_write(struct nvfab_qpair *qp, const struct nvfab_ns *ns, uint64_t lba, uint32_t nblocks,
		const struct iovec *iov, int iovcnt, uint32_t flags, nvfab_cb cb, void *arg);
int nvfab_compare(struct nvfab_qpair *qp, const struct nvfab_ns *ns, uint64_t lba,
		  uint32_t nblocks, const struct iovec *iov, int iovcnt, uint32_t flags, nvfab_cb cb,
		  void *arg);
int nvfab_flush(struct nvfab_qpair *qp, const struct nvfab_ns *ns, nvfab_cb cb, void *arg);
int nvfab_write_zeroes(struct nvfab_qpair *qp, const struct nvfab_ns *ns, uint64_t lba,
		       uint32_t nblocks, uint32_t flags, nvfab_cb cb, void *arg);

/*
 * A command of the NVM command set as another host sent it (a gateway forwarding it): opcode,
 * CDW2-3 and CDW10-15 go out unchanged; the NSID is ns's and the CID and data pointer are the
 * queue pair's own. The opcode's two low bits give the data direction (01b: to the controller,
 * 10b: from it, 00b: none; 11b is refused); iov carries exactly the data (iovcnt 0 when none),
 * at most nvfab_ctrlr_max_xfer() bytes. Same returns as nvfab_read(); the completion's status
 * is the controller's, unchanged.
 */
struct nvfab_io_cmd {
	uint8_t opc;
	uint32_t cdw2, cdw3;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};
int nvfab_io_cmd_submit(struct nvfab_qpair *qp, const struct nvfab_ns *ns,
			const struct nvfab_io_cmd *cmd, const struct iovec *iov, int iovcnt,
			nvfab_cb cb, void *arg);

/* Dataset Management range, in wire format (16 bytes). nlb is a count (not 0's based). */
struct nvfab_dsm_range {
	uint32_t cattr;
	uint32_t nlb;
	uint64_t slba;
};
/* Deallocates nr (1..256) ranges. ranges must stay valid until the callback. */
int nvfab_deallocate(struct nvfab_qpair *qp, const struct nvfab_ns *ns,
		     const struct nvfab_dsm_range *ranges, uint32_t nr, nvfab_cb cb, void *arg);

/* ---------------------------------------------------------------------------------------------
 * Synchronous I/O for tools: splits transfers by MDTS, keeps several pieces in flight and polls
 * the queue pair (sleeping in poll(2) when idle) until all are done; meanwhile it also services
 * the admin queue, so a long transfer keeps the controller's keep-alive going. Returns 0, a
 * transport error, or -EIO with the failing completion in *cpl (may be NULL).
 * ------------------------------------------------------------------------------------------- */
int nvfab_read_sync(struct nvfab_qpair *qp, const struct nvfab_ns *ns, uint64_t lba,
		    uint64_t nblocks, void *buf, uint32_t flags, struct nvfab_cpl *cpl);
int nvfab_write_sync(struct nvfab_qpair *qp, const struct nvfab_ns *ns, uint64_t lba,
		     uint64_t nblocks, const void *buf, uint32_t flags, struct nvfab_cpl *cpl);
int nvfab_compare_sync(struct nvfab_qpair *qp, const struct nvfab_ns *ns, uint64_t lba,
		       uint64_t nblocks, const void *buf, uint32_t flags, struct nvfab_cpl *cpl);
int nvfab_flush_sync(struct nvfab_qpair *qp, const struct nvfab_ns *ns, struct nvfab_cpl *cpl);

/* Log verbosity of the library (messages go to stderr): 0 error .. 4 debug. Default 1 (warn). */
void nvfab_set_log_level(int level);

#ifdef __cplusplus
}
#endif

#endif
