/* Registry: names, UUIDs, lookup, deletion rules. */
#include <errno.h>
#include <ctype.h>

#include "bdev_test.h"
#include "bdev/bdev_internal.h"

static const char *const UUID_A = "0b6e2d6c-3f1a-4c55-9a3e-7c1f1d0a5b11";

static int count_bdevs(void)
{
	int n = 0;

	for (struct bdev *b = bdev_first(); b; b = bdev_next(b))
		n++;
	return n;
}

static int teardown(void **state)
{
	(void)state;
	bdev_destroy_all();
	assert_null(bdev_first());
	return 0;
}

static void test_uuid_random(void **state)
{
	struct bdev a = {0}, b = {0};

	(void)state;
	assert_int_equal(bdev_set_uuid(&a, NULL), 0);
	assert_int_equal(bdev_set_uuid(&b, NULL), 0);
	assert_int_equal(strlen(a.uuid), 36);
	assert_string_not_equal(a.uuid, b.uuid);
	assert_int_equal(a.uuid[14], '4');                  /* version 4 */
	assert_non_null(strchr("89ab", a.uuid[19]));        /* RFC 4122 variant */
	assert_int_equal(a.uuid_bytes[6] >> 4, 4);
	for (int i = 0; i < 36; i++)
		assert_true(a.uuid[i] == '-' || isxdigit((unsigned char)a.uuid[i]));
}

static void test_uuid_parse(void **state)
{
	struct bdev a = {0};

	(void)state;
	assert_int_equal(bdev_set_uuid(&a, "0B6E2D6C-3F1A-4C55-9A3E-7C1F1D0A5B11"), 0);
	assert_string_equal(a.uuid, UUID_A); /* stored lowercase */
	assert_int_equal(a.uuid_bytes[0], 0x0b);
	assert_int_equal(a.uuid_bytes[15], 0x11);
	assert_int_equal(bdev_set_uuid(&a, "not-a-uuid"), -EINVAL);
	assert_int_equal(bdev_set_uuid(&a, "0b6e2d6c3f1a4c559a3e7c1f1d0a5b11xxxx"), -EINVAL);
	assert_int_equal(bdev_set_uuid(&a, "0b6e2d6c-3f1a-4c55-9a3e-7c1f1d0a5b1g"), -EINVAL);
	assert_string_equal(a.uuid, UUID_A); /* unchanged by failures */
}

static void test_duplicate_name(void **state)
{
	struct bdev *b;

	(void)state;
	assert_int_equal(bdev_malloc_create("d0", 16, 512, NULL, &b), 0);
	assert_int_equal(bdev_malloc_create("d0", 16, 512, NULL, NULL), -EEXIST);
	assert_int_equal(bdev_null_create("d0", 16, 512, NULL, NULL), -EEXIST);
	assert_int_equal(count_bdevs(), 1);
	/* a name equal to another bdev's UUID would make lookups ambiguous */
	assert_int_equal(bdev_null_create(b->uuid, 16, 512, NULL, NULL), -EEXIST);
	assert_int_equal(count_bdevs(), 1);
}

static void test_duplicate_uuid(void **state)
{
	(void)state;
	assert_int_equal(bdev_malloc_create("u0", 16, 512, UUID_A, NULL), 0);
	assert_int_equal(bdev_null_create("u1", 16, 512, UUID_A, NULL), -EEXIST);
	assert_int_equal(bdev_null_create("u2", 16, 512, "bogus", NULL), -EINVAL);
	assert_non_null(strstr(bdev_create_errmsg(), "uuid"));
	assert_int_equal(count_bdevs(), 1);
}

static void test_lookup(void **state)
{
	struct bdev *a, *b;

	(void)state;
	assert_int_equal(bdev_malloc_create("l0", 16, 512, UUID_A, &a), 0);
	assert_int_equal(bdev_null_create("l1", 16, 4096, NULL, &b), 0);
	assert_ptr_equal(bdev_lookup("l0"), a);
	assert_ptr_equal(bdev_lookup("l1"), b);
	assert_ptr_equal(bdev_lookup(UUID_A), a);
	assert_ptr_equal(bdev_lookup("0B6E2D6C-3F1A-4C55-9A3E-7C1F1D0A5B11"), a);
	assert_ptr_equal(bdev_lookup(b->uuid), b);
	assert_null(bdev_lookup("l2"));
	assert_null(bdev_lookup(NULL));
	/* creation order */
	assert_ptr_equal(bdev_first(), a);
	assert_ptr_equal(bdev_next(a), b);
	assert_null(bdev_next(b));
}

static void test_delete(void **state)
{
	struct bdev *a;

	(void)state;
	assert_int_equal(bdev_malloc_create("x0", 16, 512, NULL, &a), 0);
	assert_int_equal(bdev_null_create("x1", 16, 512, NULL, NULL), 0);
	a->claims = 1;
	assert_int_equal(bdev_delete("x0"), -EBUSY);
	assert_ptr_equal(bdev_lookup("x0"), a);
	a->claims = 0;
	assert_int_equal(bdev_delete(a->uuid), 0); /* by UUID too */
	assert_null(bdev_lookup("x0"));
	assert_int_equal(bdev_delete("x0"), -ENODEV);
	assert_int_equal(bdev_delete("x1"), 0);
	assert_null(bdev_first());
}

static void test_destroy_all_claimed(void **state)
{
	struct bdev *a;

	(void)state;
	assert_int_equal(bdev_malloc_create("y0", 16, 512, NULL, &a), 0);
	assert_int_equal(bdev_malloc_create("y1", 16, 512, NULL, NULL), 0);
	a->claims = 2; /* shutdown destroys regardless */
	bdev_destroy_all();
	assert_null(bdev_first());
}

static int resize_calls;
static struct bdev *resized;

static void on_resize(struct bdev *bdev)
{
	resize_calls++;
	resized = bdev;
}

static void test_resize(void **state)
{
	struct bdev *n, *m;

	(void)state;
	bdev_set_resize_handler(on_resize);
	resize_calls = 0;
	assert_int_equal(bdev_null_create("z0", 4096, 4096, NULL, &n), 0); /* 16 MiB */
	assert_int_equal(bdev_malloc_create("z1", 16, 512, NULL, &m), 0);
	/* unclaimed: the size follows, nobody to tell */
	assert_int_equal(bdev_null_resize("z0", 32), 0);
	assert_int_equal(bdev_num_blocks(n), 32 * 256);
	assert_int_equal(resize_calls, 0);
	/* claimed: the claimant hears of it, once per change */
	n->claims = 1;
	assert_int_equal(bdev_null_resize("z0", 40), 0);
	assert_int_equal(bdev_num_blocks(n), 40 * 256);
	assert_int_equal(resize_calls, 1);
	assert_ptr_equal(resized, n);
	assert_int_equal(bdev_null_resize("z0", 40), 0); /* the same size: nothing */
	assert_int_equal(resize_calls, 1);
	/* a null bdev only grows; other kinds and unknown names are not null bdevs */
	assert_int_equal(bdev_null_resize("z0", 39), -EINVAL);
	assert_int_equal(bdev_null_resize("z1", 64), -ENODEV);
	assert_int_equal(bdev_null_resize("nope", 64), -ENODEV);
	assert_int_equal(bdev_null_resize("z0", UINT64_MAX / 1024), -EINVAL);
	assert_int_equal(bdev_num_blocks(n), 40 * 256);
	/* a device's own shrink is applied, claimed or not; a bdev being deleted stays */
	bdev_notify_resize(n, 100);
	assert_int_equal(bdev_num_blocks(n), 100);
	assert_int_equal(resize_calls, 2);
	n->retiring = 1; /* its only namespace is going: nobody to tell */
	bdev_notify_resize(n, 200);
	assert_int_equal(resize_calls, 2);
	n->claims = n->retiring = 0;
	bdev_set_resize_handler(NULL);
}

static void test_bad_names(void **state)
{
	char longname[80];

	(void)state;
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(bdev_null_create(longname, 16, 512, NULL, NULL), -EINVAL);
	assert_non_null(strstr(bdev_create_errmsg(), "name"));
	assert_int_equal(bdev_null_create("", 16, 512, NULL, NULL), -EINVAL);
	assert_int_equal(bdev_null_create(NULL, 16, 512, NULL, NULL), -EINVAL);
	assert_null(bdev_first());
}

static void test_register_raw(void **state)
{
	static const struct bdev_ops ops = {.product_name = "t", .driver_name = "t"};
	struct bdev a = {.name = "raw", .ops = &ops}, b = {.name = "raw", .ops = &ops};

	(void)state;
	assert_int_equal(bdev_set_uuid(&a, NULL), 0);
	assert_int_equal(bdev_set_uuid(&b, NULL), 0);
	assert_int_equal(bdev_register(&a), 0);
	assert_int_equal(bdev_register(&b), -EEXIST);
	assert_ptr_equal(bdev_lookup("raw"), &a);
	bdev_unregister(&a);
	assert_null(bdev_lookup("raw"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uuid_random),
		cmocka_unit_test(test_uuid_parse),
		cmocka_unit_test_teardown(test_duplicate_name, teardown),
		cmocka_unit_test_teardown(test_duplicate_uuid, teardown),
		cmocka_unit_test_teardown(test_lookup, teardown),
		cmocka_unit_test_teardown(test_delete, teardown),
		cmocka_unit_test_teardown(test_destroy_all_claimed, teardown),
		cmocka_unit_test_teardown(test_resize, teardown),
		cmocka_unit_test_teardown(test_bad_names, teardown),
		cmocka_unit_test_teardown(test_register_raw, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
