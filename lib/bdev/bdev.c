/*
 * The bdev registry: creation order list, lookup by name or UUID, deletion. Control thread
 * only, so nothing here locks.
 */
#include "bdev/bdev.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "bdev/bdev_internal.h"
#include "util/log.h"

static struct list_node bdev_list = LIST_HEAD_INIT(bdev_list);
static char bdev_errmsg[512];

int bdev_create_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(bdev_errmsg, sizeof(bdev_errmsg), fmt, ap);
	va_end(ap);
	log_error("bdev: %s", bdev_errmsg);
	return err;
}

const char *bdev_create_errmsg(void)
{
	return bdev_errmsg[0] ? bdev_errmsg : "unknown error";
}

/* A name equal to another bdev's UUID would make bdev_lookup() ambiguous, so names and UUIDs
 * share one namespace (SPDK registers the UUID as an alias for the same reason). */
static struct bdev *bdev_find_conflict(const char *name, const char *uuid)
{
	struct list_node *pos, *tmp;

	list_for_each_safe(pos, tmp, &bdev_list) {
		struct bdev *b = list_entry(pos, struct bdev, link);

		if (strcmp(b->name, name) == 0 || strcasecmp(b->uuid, name) == 0)
			return b;
		if (uuid && (strcasecmp(b->uuid, uuid) == 0 || strcmp(b->name, uuid) == 0))
			return b;
	}
	return NULL;
}

int bdev_register(struct bdev *bdev)
{
	if (bdev->name[0] == '\0')
		return -EINVAL;
	if (bdev_find_conflict(bdev->name, bdev->uuid[0] ? bdev->uuid : NULL))
		return -EEXIST;
	list_add_tail(&bdev_list, &bdev->link);
	return 0;
}

void bdev_unregister(struct bdev *bdev)
{
	list_del(&bdev->link);
}

struct bdev *bdev_lookup(const char *name)
{
	struct list_node *pos, *tmp;

	if (!name)
		return NULL;
	list_for_each_safe(pos, tmp, &bdev_list) {
		struct bdev *b = list_entry(pos, struct bdev, link);

		if (strcmp(b->name, name) == 0)
			return b;
	}
	/* UUIDs second: a name always wins over an alias. */
	list_for_each_safe(pos, tmp, &bdev_list) {
		struct bdev *b = list_entry(pos, struct bdev, link);

		if (b->uuid[0] && strcasecmp(b->uuid, name) == 0)
			return b;
	}
	return NULL;
}

struct bdev *bdev_first(void)
{
	return list_empty(&bdev_list) ? NULL : list_entry(bdev_list.next, struct bdev, link);
}

struct bdev *bdev_next(struct bdev *bdev)
{
	return bdev->link.next == &bdev_list ? NULL : list_entry(bdev->link.next, struct bdev, link);
}

int bdev_delete(const char *name)
{
	struct bdev *bdev = bdev_lookup(name);

	return bdev ? bdev_remove(bdev) : -ENODEV;
}

int bdev_remove(struct bdev *bdev)
{
	if (bdev->removing)
		return 0; /* on its way already */
	if (bdev->claims > bdev->retiring) {
		log_warn("bdev %s: not deleted, claimed by %d namespace(s)", bdev->name,
			 bdev->claims - bdev->retiring);
		return -EBUSY;
	}
	bdev_unregister(bdev);
	if (bdev->claims > 0) {
		bdev->removing = true;
		log_info("bdev %s: deleted; destroyed once its %d removed namespace(s) let go",
			 bdev->name, bdev->claims);
		return 0;
	}
	log_info("bdev %s: deleting", bdev->name);
	bdev->ops->destroy(bdev);
	return 0;
}

static void (*g_remove_handler)(struct bdev *bdev);

void bdev_set_remove_handler(void (*fn)(struct bdev *bdev))
{
	g_remove_handler = fn;
}

void bdev_hot_remove(struct bdev *bdev)
{
	if (bdev->removing)
		return;
	log_notice("bdev %s: hot-removed", bdev->name);
	if (bdev->claims > bdev->retiring && g_remove_handler)
		g_remove_handler(bdev); /* its namespaces go: their claims become retiring */
	if (bdev_remove(bdev))
		log_error("bdev %s: still claimed after its hot removal", bdev->name);
}

static void (*g_resize_handler)(struct bdev *bdev);

void bdev_set_resize_handler(void (*fn)(struct bdev *bdev))
{
	g_resize_handler = fn;
}

void bdev_notify_resize(struct bdev *bdev, uint64_t num_blocks)
{
	uint64_t old = bdev->num_blocks; /* only this thread writes it */

	if (num_blocks == old || bdev->removing)
		return;
	__atomic_store_n(&bdev->num_blocks, num_blocks, __ATOMIC_RELAXED);
	if (num_blocks < old && bdev->claims > bdev->retiring)
		log_warn("bdev %s: shrunk from %llu to %llu blocks while in use", bdev->name,
			 (unsigned long long)old, (unsigned long long)num_blocks);
	else
		log_notice("bdev %s: resized from %llu to %llu blocks", bdev->name,
			   (unsigned long long)old, (unsigned long long)num_blocks);
	if (bdev->claims > bdev->retiring && g_resize_handler)
		g_resize_handler(bdev);
}

void bdev_release(struct bdev *bdev)
{
	bdev->claims--;
	bdev->retiring--;
	if (bdev->claims == 0 && bdev->removing) {
		log_info("bdev %s: destroyed", bdev->name);
		bdev->ops->destroy(bdev);
	}
}

void bdev_destroy_all(void)
{
	struct bdev *bdev;

	/* Reverse creation order, so that a bdev built on another goes first. */
	while (!list_empty(&bdev_list)) {
		bdev = list_entry(bdev_list.prev, struct bdev, link);
		if (bdev->claims > 0)
			log_warn("bdev %s: destroyed at shutdown while claimed", bdev->name);
		bdev_unregister(bdev);
		bdev->ops->destroy(bdev);
	}
}

/* ---- UUIDs ---- */

static void bdev_uuid_format(struct bdev *bdev)
{
	const uint8_t *u = bdev->uuid_bytes;

	snprintf(bdev->uuid, sizeof(bdev->uuid),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
		 u[12], u[13], u[14], u[15]);
}

static int bdev_hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int bdev_uuid_parse(const char *text, uint8_t out[16])
{
	int n = 0;

	if (strlen(text) != 36)
		return -EINVAL;
	for (int i = 0; i < 36;) {
		int hi, lo;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (text[i] != '-')
				return -EINVAL;
			i++;
			continue;
		}
		hi = bdev_hex_nibble(text[i]);
		lo = bdev_hex_nibble(text[i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[n++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	return 0;
}

int bdev_set_uuid(struct bdev *bdev, const char *uuid_text)
{
	uint8_t u[16];

	if (uuid_text) {
		if (bdev_uuid_parse(uuid_text, u) < 0)
			return -EINVAL;
	} else {
		ssize_t n = getrandom(u, sizeof(u), 0);

		if (n != (ssize_t)sizeof(u))
			return n < 0 ? -errno : -EIO;
		u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4: random */
		u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	}
	memcpy(bdev->uuid_bytes, u, sizeof(u));
	bdev_uuid_format(bdev);
	return 0;
}

/* ---- creation helpers for backends ---- */

int bdev_check_name(const char *name)
{
	if (!name || name[0] == '\0')
		return bdev_create_fail(-EINVAL, "name: must not be empty");
	if (strlen(name) >= sizeof(((struct bdev *)0)->name))
		return bdev_create_fail(-EINVAL, "name: '%s' is longer than %zu characters", name,
					sizeof(((struct bdev *)0)->name) - 1);
	if (bdev_find_conflict(name, NULL))
		return bdev_create_fail(-EEXIST, "bdev %s: name already in use", name);
	return 0;
}

int bdev_check_path(const char *name, const char *path, size_t size)
{
	if (!path || !path[0])
		return bdev_create_fail(-EINVAL, "bdev %s: filename: must not be empty", name);
	if (strlen(path) >= size)
		return bdev_create_fail(-ENAMETOOLONG, "bdev %s: filename: path too long", name);
	return 0;
}

int bdev_check_block_size(const char *name, uint32_t block_size)
{
	if (block_size < BDEV_BLOCK_SIZE_MIN || block_size > BDEV_BLOCK_SIZE_MAX ||
	    (block_size & (block_size - 1)))
		return bdev_create_fail(-EINVAL,
					"bdev %s: block_size %u is invalid: must be a power of two "
					"from %u to %u", name, block_size, BDEV_BLOCK_SIZE_MIN,
					BDEV_BLOCK_SIZE_MAX);
	return 0;
}

int bdev_check_geometry(const char *name, uint64_t num_blocks, uint32_t block_size)
{
	int rc = bdev_check_block_size(name, block_size);

	if (rc)
		return rc;
	if (num_blocks == 0)
		return bdev_create_fail(-EINVAL, "bdev %s: num_blocks must be greater than 0", name);
	if (num_blocks > SIZE_MAX / block_size)
		return bdev_create_fail(-EINVAL, "bdev %s: num_blocks %llu is too large", name,
					(unsigned long long)num_blocks);
	return 0;
}

int bdev_init_and_register(struct bdev *bdev, const char *name, const char *uuid,
			   uint64_t num_blocks, uint32_t block_size,
			   const struct bdev_ops *ops, void *ctx)
{
	int rc;

	snprintf(bdev->name, sizeof(bdev->name), "%s", name);
	rc = bdev_set_uuid(bdev, uuid);
	if (rc == -EINVAL)
		return bdev_create_fail(rc, "bdev %s: uuid: cannot parse '%s'", name, uuid);
	if (rc)
		return bdev_create_fail(rc, "bdev %s: cannot generate a UUID: %s", name,
					strerror(-rc));
	bdev->num_blocks = num_blocks;
	bdev->block_size = block_size;
	bdev->ops = ops;
	bdev->ctx = ctx;
	bdev->claims = 0;
	list_init(&bdev->link);
	rc = bdev_register(bdev);
	if (rc == -EEXIST)
		return bdev_create_fail(rc, "bdev %s: name or uuid %s already in use", name,
					bdev->uuid);
	if (rc)
		return bdev_create_fail(rc, "bdev %s: cannot register: %s", name, strerror(-rc));
	log_info("bdev %s: created (%s, %llu blocks of %u bytes, uuid %s)", name,
		 ops->product_name, (unsigned long long)num_blocks, block_size, bdev->uuid);
	return 0;
}

struct bdev_channel *bdev_plain_channel_create(struct bdev *bdev, struct evloop *loop)
{
	struct bdev_channel *ch = calloc(1, sizeof(*ch));

	(void)loop;
	if (!ch) {
		log_error("bdev %s: cannot allocate a channel", bdev->name);
		return NULL;
	}
	ch->bdev = bdev;
	return ch;
}

void bdev_plain_channel_destroy(struct bdev_channel *ch)
{
	free(ch);
}
