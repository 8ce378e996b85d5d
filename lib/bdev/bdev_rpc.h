/*
 * The bdev JSON-RPC methods, with SPDK's names, parameters and result shapes:
 * bdev_malloc_create/delete, bdev_null_create/delete, bdev_uring_create/delete,
 * bdev_aio_create/delete, bdev_get_bdevs, bdev_wait_for_examine; and the "bdev" save_config
 * writer, which emits the create calls that rebuild every bdev on load.
 */
#ifndef NVFAB_BDEV_BDEV_RPC_H
#define NVFAB_BDEV_BDEV_RPC_H

/* Call once at start-up, before the RPC server or the config loader runs. */
void bdev_rpc_register(void);

#endif
