/*
 * The gateway: bdevs whose backend is a namespace of a remote NVMe-oF controller, reached with
 * libnvfab (SPDK's bdev_nvme, as a SmartNIC runs it: attach to storage targets, re-export their
 * namespaces through nvfabd's own subsystems).
 *
 * Control path (the control thread): a controller is attached by name with a transport ID and
 * host options; each active namespace becomes a bdev "<name>n<nsid>". The admin queue (keep-alive,
 * reconnect) is serviced by a timer on the control loop.
 *
 * Data path (each reactor): one I/O queue pair to the controller per reactor, shared by the
 * channels of its namespaces there, connected on the reactor's first I/O, polled from the
 * reactor's loop. Commands the host sent go
 * out as it sent them (BDEV_IO_NVME: opcode and command dwords unchanged, FUA included); data
 * moves between the front-end request's buffer and the backend socket without a copy in
 * nvfabd (writes are sent from the buffer the host's data was received into; reads are received
 * into the buffer the front end sends from). The backend's NVMe status goes back unchanged; a
 * command that the backend connection lost is held and resent on reconnect (libnvfab) until
 * ctrlr_loss_timeout_sec, then fails with a path error that a host retries.
 */
#ifndef NVFAB_GATEWAY_H
#define NVFAB_GATEWAY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <nvfab/nvfab.h>

#include "bdev/bdev.h"
#include "util/evloop.h"
#include "util/list.h"

#define GW_NAME_MAX 48          /* controller names: bdevs are "<name>n<nsid>" in 64 bytes */
#define GW_MAX_NS 256           /* namespaces one controller exports as bdevs */

/* What bdev_nvme_attach_controller asks for (SPDK's names). */
struct gw_attach_params {
	char name[GW_NAME_MAX];
	struct nvfab_trid trid;
	struct nvfab_ctrlr_opts opts;
	char multipath[16];     /* "", "disable" or "failover" (accepted; one path is used) */
	int32_t fast_io_fail_timeout_sec;   /* also in opts.fast_io_fail_tmo_s */
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
	struct gw_ns *ns[GW_MAX_NS];
	uint32_t nns;
	struct evloop_timer admin_timer;
	bool lost;              /* the admin queue gave up (ctrlr_loss_timeout_sec passed) */
	/* One I/O queue pair per reactor, shared by the namespaces' channels there. Reactors
	 * create and drop channels concurrently: the list is guarded (control path only). */
	pthread_mutex_t queues_lock;
	struct gw_queue *queues;
	bool queue_error_logged;
	struct list_node link;
};

/* The control loop that services the admin queues. */
void gw_init(struct evloop *control);

/* Connects and registers one bdev per active namespace. On failure *err says why (for the RPC
 * reply) and nothing stays registered. */
int gw_attach(const struct gw_attach_params *p, struct gw_ctrlr **out, char *err, size_t errlen);
/* -ENODEV (no such controller), -EBUSY (one of its bdevs is in a subsystem), or 0. */
int gw_detach(const char *name);
struct gw_ctrlr *gw_lookup(const char *name);
struct gw_ctrlr *gw_first(void);
struct gw_ctrlr *gw_next(struct gw_ctrlr *c);
/* Shutdown, after tgt_fini(): reactors (and their channels) and the control loop are gone,
 * subsystems released the bdevs. Disconnects every controller. */
void gw_fini(void);

/* ---- data path (gateway_io.c) ---- */
struct bdev_channel *gw_channel_create(struct bdev *bdev, struct evloop *loop);
void gw_channel_destroy(struct bdev_channel *ch);
int gw_submit(struct bdev_channel *ch, struct bdev_io *io);

/* The status a command gets when the backend path is gone (Controller Pathing Error, no DNR:
 * hosts retry it, on another path when they have one). */
#define GW_STATUS_PATH_ERROR ((uint16_t)((0x3 << 8) | 0x70))

#endif
