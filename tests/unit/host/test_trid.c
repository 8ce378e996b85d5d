/* Transport ID parsing and formatting, host NQN/UUID helpers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "nvfab/nvfab.h"

static void test_full(void **state)
{
	struct nvfab_trid t;
	char buf[512];

	(void)state;
	assert_int_equal(nvfab_trid_parse(&t,
		"trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:4420 subnqn:nqn.2016-06.io.spdk:cnode1",
		NULL, 0), 0);
	assert_int_equal(t.trtype, NVFAB_TRTYPE_TCP);
	assert_int_equal(t.adrfam, NVFAB_ADRFAM_IPV4);
	assert_string_equal(t.traddr, "127.0.0.1");
	assert_string_equal(t.trsvcid, "4420");
	assert_string_equal(t.subnqn, "nqn.2016-06.io.spdk:cnode1");
	assert_string_equal(t.hostnqn, "");
	nvfab_trid_format(&t, buf, sizeof(buf));
	assert_string_equal(buf,
		"trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:4420 subnqn:nqn.2016-06.io.spdk:cnode1");
}

static void test_case_and_separators(void **state)
{
	struct nvfab_trid t;

	(void)state;
	assert_int_equal(nvfab_trid_parse(&t,
		"  TrType=tcp\tADRFAM:ipv4  TRADDR:10.0.0.1 TrSvcId=4421 SubNQN:nqn.x:y  ", NULL, 0), 0);
	assert_string_equal(t.traddr, "10.0.0.1");
	assert_string_equal(t.trsvcid, "4421");
	assert_string_equal(t.subnqn, "nqn.x:y");
}

static void test_defaults_and_ipv6(void **state)
{
	struct nvfab_trid t;
	char buf[512];

	(void)state;
	assert_int_equal(nvfab_trid_parse(&t, "trtype:TCP traddr:::1", NULL, 0), 0);
	assert_int_equal(t.adrfam, NVFAB_ADRFAM_IPV6);
	assert_string_equal(t.traddr, "::1");
	assert_string_equal(t.trsvcid, "4420");
	assert_string_equal(t.subnqn, "");
	assert_int_equal(nvfab_trid_parse(&t, "trtype:TCP traddr:127.0.0.1 priority:2 "
					  "hostnqn:nqn.2014-08.org.nvmexpress:uuid:1", NULL, 0), 0);
	assert_int_equal(t.adrfam, NVFAB_ADRFAM_IPV4);
	assert_string_equal(t.hostnqn, "nqn.2014-08.org.nvmexpress:uuid:1");
	nvfab_trid_format(&t, buf, sizeof(buf));
	assert_non_null(strstr(buf, "hostnqn:nqn.2014-08.org.nvmexpress:uuid:1"));
}

static void expect_error(const char *s, int rc, const char *words)
{
	struct nvfab_trid t;
	char err[256];

	assert_int_equal(nvfab_trid_parse(&t, s, err, sizeof(err)), rc);
	if (!strstr(err, words))
		fail_msg("'%s': error '%s' lacks '%s'", s, err, words);
}

static void test_errors(void **state)
{
	char nqn[300] = "trtype:TCP traddr:127.0.0.1 subnqn:nqn.";

	(void)state;
	expect_error("traddr:127.0.0.1", -EINVAL, "trtype missing");
	expect_error("trtype:TCP trsvcid:4420", -EINVAL, "traddr missing");
	expect_error("trtype:TCP traddr:127.0.0.1 trsvcid:0", -EINVAL, "not a port");
	expect_error("trtype:TCP traddr:127.0.0.1 trsvcid:65536", -EINVAL, "not a port");
	expect_error("trtype:TCP traddr:127.0.0.1 trsvcid:44x", -EINVAL, "not a port");
	expect_error("trtype:TCP traddr:127.0.0.1 trsvcid:-1", -EINVAL, "not a port");
	expect_error("trtype:RDMA traddr:127.0.0.1", -EPROTONOSUPPORT, "TCP only");
	expect_error("trtype:foo traddr:127.0.0.1", -EINVAL, "unknown trtype");
	expect_error("trtype:TCP adrfam:IB traddr:127.0.0.1", -EINVAL, "unknown adrfam");
	expect_error("trtype:TCP traddr:127.0.0.1 color:blue", -EINVAL, "unknown transport ID key 'color'");
	expect_error("trtype:TCP traddr:127.0.0.1 subnqn:foo", -EINVAL, "nqn.");
	expect_error("trtype:TCP traddr", -EINVAL, "not key:value");
	expect_error("trtype:TCP traddr:", -EINVAL, "no value");
	expect_error("trtype:TCP trtype:TCP traddr:1.2.3.4", -EINVAL, "twice");
	expect_error("", -EINVAL, "trtype missing");
	memset(nqn + strlen(nqn), 'a', 224 - 4);
	nqn[strlen("trtype:TCP traddr:127.0.0.1 subnqn:") + 224] = '\0';
	expect_error(nqn, -ENAMETOOLONG, "longer than");
	/* 223 bytes is the limit itself: accepted. */
	nqn[strlen("trtype:TCP traddr:127.0.0.1 subnqn:") + 223] = '\0';
	{
		struct nvfab_trid t;

		assert_int_equal(nvfab_trid_parse(&t, nqn, NULL, 0), 0);
		assert_int_equal(strlen(t.subnqn), 223);
	}
}

static void test_uuid(void **state)
{
	uint8_t a[16], b[16];
	char text[37], nqn[NVFAB_NQN_MAX + 1];

	(void)state;
	assert_int_equal(nvfab_uuid_generate(a), 0);
	assert_int_equal(a[6] >> 4, 4);
	assert_int_equal(a[8] >> 6, 2);
	nvfab_uuid_format(a, text);
	assert_int_equal(strlen(text), 36);
	assert_int_equal(nvfab_uuid_parse(text, b), 0);
	assert_memory_equal(a, b, 16);
	nvfab_hostnqn_from_uuid(a, nqn);
	assert_int_equal(strncmp(nqn, "nqn.2014-08.org.nvmexpress:uuid:", 32), 0);
	assert_string_equal(nqn + 32, text);
	assert_int_equal(nvfab_uuid_parse("not-a-uuid", b), -EINVAL);
	assert_int_equal(nvfab_uuid_parse("00112233-4455-6677-8899-aabbccddeeff00", b), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_case_and_separators),
		cmocka_unit_test(test_defaults_and_ipv6),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_uuid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
