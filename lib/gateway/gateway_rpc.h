/* The gateway's RPC methods (SPDK's bdev_nvme_*) and its part of save_config. */
#ifndef NVFAB_GATEWAY_RPC_H
#define NVFAB_GATEWAY_RPC_H

struct evloop;

/* control: the loop that services the attached controllers' admin queues. */
void gw_rpc_register(struct evloop *control);

#endif
