/*
 * Named keys for TLS PSKs and DH-HMAC-CHAP secrets, as SPDK's file keyring keeps them: a key is
 * a name and the path of a file that holds the material, which is read when a key is used,
 * never copied into the configuration (save_config writes the name and the path).
 * Control thread only.
 */
#ifndef NVFAB_KEYRING_KEYRING_H
#define NVFAB_KEYRING_KEYRING_H

#include <limits.h>
#include <stddef.h>

#include "util/list.h"

#define KEYRING_NAME_MAX 128
#define KEYRING_KEY_MAX 4096    /* bytes of material in a key file */

struct keyring_key {
	char name[KEYRING_NAME_MAX];
	char path[PATH_MAX];
	struct list_node link;
};

/*
 * Adds a key kept in a file. The file must be given by an absolute path, be a regular file
 * owned by this process's user and readable by nobody else (mode 0600 or 0400), as SPDK
 * requires: a key that others can read is not a secret. Returns 0, or -errno with *why saying
 * what is wrong (-EEXIST for a name in use).
 */
int keyring_file_add(const char *name, const char *path, const char **why);
int keyring_remove(const char *name);
const struct keyring_key *keyring_find(const char *name);
/* Reads a key's material into buf (NUL-terminated, trailing whitespace dropped); returns its
 * length or -errno. The file is checked again: it may have changed since it was added. */
int keyring_key_read(const struct keyring_key *key, char *buf, size_t len);
/* In the order added. */
const struct keyring_key *keyring_first(void);
const struct keyring_key *keyring_next(const struct keyring_key *key);
void keyring_clear(void);

#endif
