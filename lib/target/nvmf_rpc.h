/* The target's JSON-RPC methods (SPDK names) and its save_config writer. */
#ifndef NVFAB_TARGET_NVMF_RPC_H
#define NVFAB_TARGET_NVMF_RPC_H

void nvmf_rpc_register(void);

#endif
