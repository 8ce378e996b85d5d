/* The file keyring (see keyring.h). */
#include "keyring/keyring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct list_node keyring = LIST_HEAD_INIT(keyring);

/* The checks SPDK makes, done on an open descriptor so that what is checked is what is read. */
static int key_file_check(int fd, const char **why)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		*why = "cannot stat the key file";
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		*why = "the key file is not a regular file";
		return -EINVAL;
	}
	if (st.st_mode & 077) {
		*why = "the key file is readable or writable by group or others (want mode 0600 or 0400)";
		return -EPERM;
	}
	if (st.st_uid != geteuid()) {
		*why = "the key file is not owned by the user nvfabd runs as";
		return -EPERM;
	}
	if (st.st_size == 0 || st.st_size > KEYRING_KEY_MAX) {
		*why = "the key file is empty or larger than 4 KiB";
		return -EINVAL;
	}
	return 0;
}

static int key_file_open(const char *path, const char **why)
{
	int fd, rc;

	if (path[0] != '/') {
		*why = "the path of a key file must be absolute";
		return -EINVAL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		rc = -errno;
		*why = rc == -ELOOP ? "the key file is a symbolic link" : "cannot open the key file";
		return rc;
	}
	rc = key_file_check(fd, why);
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

const struct keyring_key *keyring_find(const char *name)
{
	const struct list_node *pos;

	for (pos = keyring.next; pos != &keyring; pos = pos->next) {
		const struct keyring_key *k = list_entry(pos, struct keyring_key, link);

		if (strcmp(k->name, name) == 0)
			return k;
	}
	return NULL;
}

int keyring_file_add(const char *name, const char *path, const char **why)
{
	struct keyring_key *k;
	int fd;

	if (!*name || strlen(name) >= KEYRING_NAME_MAX) {
		*why = "a key name is 1 to 127 characters";
		return -EINVAL;
	}
	if (strlen(path) >= PATH_MAX) {
		*why = "the path is too long";
		return -ENAMETOOLONG;
	}
	if (keyring_find(name)) {
		*why = "a key of that name exists";
		return -EEXIST;
	}
	fd = key_file_open(path, why);
	if (fd < 0)
		return fd;
	close(fd);
	k = calloc(1, sizeof(*k));
	if (!k) {
		*why = "out of memory";
		return -ENOMEM;
	}
	snprintf(k->name, sizeof(k->name), "%s", name);
	snprintf(k->path, sizeof(k->path), "%s", path);
	list_add_tail(&keyring, &k->link);
	return 0;
}

int keyring_remove(const char *name)
{
	struct keyring_key *k = (struct keyring_key *)keyring_find(name);

	if (!k)
		return -ENOENT;
	list_del(&k->link);
	explicit_bzero(k, sizeof(*k));
	free(k);
	return 0;
}

int keyring_key_read(const struct keyring_key *key, char *buf, size_t len)
{
	const char *why;
	ssize_t n;
	int fd = key_file_open(key->path, &why);

	if (fd < 0)
		return fd;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return (int)n;
}

const struct keyring_key *keyring_first(void)
{
	return list_empty(&keyring) ? NULL : list_entry(keyring.next, struct keyring_key, link);
}

const struct keyring_key *keyring_next(const struct keyring_key *key)
{
	return key->link.next == &keyring ? NULL
					  : list_entry(key->link.next, struct keyring_key, link);
}

void keyring_clear(void)
{
	struct list_node *n;

	while ((n = list_pop(&keyring))) {
		struct keyring_key *k = list_entry(n, struct keyring_key, link);

		explicit_bzero(k, sizeof(*k));
		free(k);
	}
}
