/*
 * The gateway: bdevs whose backend is a namespace of a remote NVMe-oF controller, reached with
 * libnvfab (SPDK's bdev_nvme, as a SmartNIC runs it: attach to storage targets, re-export their
 * namespaces through nvfabd's own subsystems).
 *
 * Control path (the control thread): a controller is attached by name with a transport ID and
 * host options; each active namespace becomes a bdev "<name>n<nsid>". More paths to the same
 * subsystem can be added (failover: one in use at a time). Each controller has an admin thread
 * of its own for keep-alive and reconnects, which block for a connection set-up at a time: the
 * control loop (RPC) never waits for a dead link. A controller lost for good (ctrlr_loss_timeout_sec)
 * fails its I/O with a path error at once, and the admin thread goes on trying every
 * reconnect_delay_sec: when the backend returns, so does the gateway (SPDK would delete the
 * controller and hot-remove its bdevs from the subsystems instead).
 *
 * Namespaces added on the backend become bdevs; a namespace deleted there is hot-removed: the
 * subsystems using its bdev drop that namespace (their hosts get a Namespace Attribute Changed
 * notice) and the bdev goes once they let go.
 *
 * Data path (each reactor): one I/O queue pair to the controller per reactor, shared by the
 * channels of its namespaces there, connected on the reactor's first I/O, polled from the
 * reactor's loop. Commands the host sent go
 * out as it sent them (BDEV_IO_NVME: opcode and command dwords unchanged, FUA included); data
 * moves between the front-end request's buffer and the backend socket without a copy in
 * nvfabd (writes are sent from the buffer the host's data was received into; reads are received
 * into the buffer the front end sends from). The backend's NVMe status goes back unchanged
 * (one that allows a retry is retried first, bdev_retry_count times, as SPDK does); a
 * command that the backend connection lost is held and resent on reconnect (libnvfab) until
 * ctrlr_loss_timeout_sec, then fails with a path error that a host retries.
 */
#ifndef NVFAB_GATEWAY_H
#define NVFAB_GATEWAY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <nvfab/nvfab.h>

#include "bdev/bdev.h"
#include "util/evloop.h"
#include "util/list.h"

#define GW_NAME_MAX 48          /* controller names: bdevs are "<name>n<nsid>" in 64 bytes */
#define GW_MAX_NS 256           /* namespaces one controller exports as bdevs */

/* What bdev_nvme_attach_controller asks for (SPDK's names). */
#define GW_KEY_NAME_MAX 128    /* KEYRING_NAME_MAX */

struct gw_attach_params {
	char name[GW_NAME_MAX];
	struct nvfab_trid trid;
	struct nvfab_ctrlr_opts opts;
	char multipath[16];     /* "" (SPDK's default: multipath), "disable", "failover" or
				 * "multipath"; paths are used one at a time either way */
	int32_t fast_io_fail_timeout_sec;   /* also in opts.fast_io_fail_tmo_s */
	/* Keyring names of the DH-HMAC-CHAP secrets and the TLS PSK ("" = none). Their material
	 * is put in opts for the connect only and wiped from the copy kept here. */
	char dhchap_key[GW_KEY_NAME_MAX];
	char dhchap_ctrlr_key[GW_KEY_NAME_MAX];
	char psk[GW_KEY_NAME_MAX];      /* TLS on the backend connection */
	/* bdev_nvme_set_options' bdev_retry_count when attached: how often an I/O that failed
	 * with a status that allows a retry (no DNR) is sent again; -1: without end. */
	int32_t bdev_retry_count;
};

struct gw_ctrlr;
struct gw_queue;

struct gw_ns {
	struct bdev bdev;
	struct gw_ctrlr *ctrlr;
	const struct nvfab_ns *ns;
	struct bdev_nvme_info info;
};

struct gw_ctrlr {
	struct gw_attach_params params;
	struct nvfab_ctrlr *ctrlr;
	/* The backend's Command Retry Delay Times (Identify Controller CRDT1-3), in ms, read at
	 * attach: a status with CRD n asks for crdt_ms[n - 1] before the command is sent again. */
	uint32_t crdt_ms[3];
	struct gw_ns *ns[GW_MAX_NS];
	uint32_t nns;
	/* Paths added after the first (save_config repeats the attach call for each). */
	struct nvfab_trid extra_paths[NVFAB_MAX_PATHS - 1];
	uint32_t nextra;
	pthread_t admin_thread;
	bool admin_running;
	bool detaching;         /* detached: freed when its last bdev is destroyed */
	atomic_bool stop;       /* tells the admin thread to end */
	/* Lost for good (ctrlr_loss_timeout_sec passed); the admin thread retries. Reactors' lost
	 * queues come back once this is false again. */
	atomic_bool lost;
	/* Namespace changes: the admin thread got an event (ns_event) and identified the
	 * namespaces again (ns_dirty); the control loop then adds and removes bdevs. */
	atomic_bool ns_event;
	atomic_bool ns_dirty;
	/* One I/O queue pair per reactor, shared by the namespaces' channels there. Reactors
	 * create and drop channels concurrently: the list is guarded (control path only). */
	pthread_mutex_t queues_lock;
	struct gw_queue *queues;
	/* Connection attempts of queues that went meanwhile, still running on their threads
	 * (gateway_io.c); the controller's connection is released only when none is left. */
	atomic_int abandoned_connects;
	struct list_node link;
};

/* The control loop: bdevs are registered and removed there. */
void gw_init(struct evloop *control);

/* The secrets' material, in opts for a connection only: libnvfab keeps its own parsed copy. */
void gw_params_wipe_secrets(struct gw_attach_params *p);
/* Registers one bdev per active namespace of a controller whose connection
 * (nvfab_ctrlr_connect(), made on any thread) it takes; when that is NULL, reports nerr. On
 * failure *err says why (for the RPC reply) and nothing stays registered or connected. */
int gw_attach_connected(const struct gw_attach_params *p, struct nvfab_ctrlr *ctrlr,
			const struct nvfab_error *nerr, struct gw_ctrlr **out, char *err,
			size_t errlen);
/* Another path to an attached controller's subsystem (checked: same namespaces): the check
 * and the record on the control loop, the connection between them on any thread. */
int gw_add_path_check(const struct gw_ctrlr *c, char *err, size_t errlen);
int gw_add_path_connect(struct gw_ctrlr *c, const struct nvfab_trid *trid, char *err,
			size_t errlen);
void gw_add_path_record(struct gw_ctrlr *c, const struct nvfab_trid *trid);
/* Disconnects and connects again (bdev_nvme_reset_controller); held I/O is resent. Any
 * thread (one at a time per controller). */
int gw_reset(struct gw_ctrlr *c);
/* -ENODEV (no such controller), -EBUSY (one of its bdevs is in a subsystem), or 0. With a
 * path (trid not NULL) only that path goes: -ENOENT when it is not one, -EBUSY when in use;
 * the last path takes the controller with it. */
int gw_detach(const char *name, const struct nvfab_trid *path);
struct gw_ctrlr *gw_lookup(const char *name);
struct gw_ctrlr *gw_first(void);
struct gw_ctrlr *gw_next(struct gw_ctrlr *c);
/* Shutdown, after tgt_fini(): reactors (and their channels) are gone, subsystems released the
 * bdevs. Disconnects every controller. */
void gw_fini(void);

/* ---- tasks: work that waits on a backend, off the control loop (gateway_task.c) ---- */
struct gw_task {
	char name[GW_NAME_MAX];     /* the controller it is for: one task per name at a time */
	void (*work)(struct gw_task *t);                /* on the task's own thread */
	void (*done)(struct gw_task *t, bool stopping); /* then on the control loop, or, with
							 * stopping, at gw_fini(); frees t */
	pthread_t thread;
	atomic_bool finished;
	struct list_node link;
};
int gw_tasks_init(struct evloop *control);
/* 0, or -errno when no thread could be started (then nothing of t was run). */
int gw_task_start(struct gw_task *t);
/* A task for this controller name is under way. */
bool gw_task_busy(const char *name);
/* Shutdown: waits for each task and ends it with stopping set. */
void gw_tasks_fini(void);

/* ---- data path (gateway_io.c) ---- */
struct bdev_channel *gw_channel_create(struct bdev *bdev, struct evloop *loop);
void gw_channel_destroy(struct bdev_channel *ch);
int gw_submit(struct bdev_channel *ch, struct bdev_io *io);

/* The status a command gets when the backend path is gone (Controller Pathing Error, no DNR:
 * hosts retry it, on another path when they have one). */
#define GW_STATUS_PATH_ERROR ((uint16_t)((0x3 << 8) | 0x70))
/* A command whose data came with a wrong digest (Transient Transport Error, no DNR), as
 * SPDK's driver reports it: retried like any status without DNR. */
#define GW_STATUS_TRANSIENT_TRANSPORT ((uint16_t)0x22)

#endif
