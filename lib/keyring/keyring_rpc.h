/* The keyring's JSON-RPC methods and its save_config section. */
#ifndef NVFAB_KEYRING_KEYRING_RPC_H
#define NVFAB_KEYRING_KEYRING_RPC_H

/* Before any other config writer: the keyring comes first in save_config. */
void keyring_rpc_register(void);

#endif
