/* Status names, completion strings, errno mapping, decoding of refused Connects. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "host/host_internal.h"

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(nvfab_status_str(0), "Successful Completion");
	assert_string_equal(nvfab_status_str(NVME_STATUS(0, 0x80) | NVME_STATUS_DNR), "LBA Out of Range");
	assert_string_equal(nvfab_status_str(NVME_STATUS(1, 0x84)), "Connect Invalid Host");
	assert_string_equal(nvfab_status_str(NVME_STATUS(2, 0x85)), "Compare Failure");
	assert_string_equal(nvfab_status_str(NVME_STATUS(7, 0x12)), "Unknown");
}

static void test_cpl_str(void **state)
{
	struct nvfab_cpl cpl = {0};
	char buf[128];

	(void)state;
	cpl.status = NVME_STATUS(0, 0x80) | NVME_STATUS_DNR;
	assert_true(nvfab_cpl_is_error(&cpl));
	assert_string_equal(nvfab_cpl_str(&cpl, buf, sizeof(buf)),
			    "LBA Out of Range (SCT 0x0, SC 0x80, DNR)");
	assert_int_equal(nvfab_cpl_errno(&cpl), -EIO);
	assert_int_equal(NVFAB_STATUS_SC(cpl.status), 0x80);
	assert_int_equal(NVFAB_STATUS_SCT(cpl.status), 0);
	assert_true(NVFAB_STATUS_DNR(cpl.status));

	memset(&cpl, 0, sizeof(cpl));
	cpl.transport_err = -ECONNRESET;
	assert_true(nvfab_cpl_is_error(&cpl));
	assert_string_equal(nvfab_cpl_str(&cpl, buf, sizeof(buf)),
			    "transport error: Connection reset by peer");
	assert_int_equal(nvfab_cpl_errno(&cpl), -ECONNRESET);

	/* DNR or More alone are not errors. */
	memset(&cpl, 0, sizeof(cpl));
	cpl.status = NVME_STATUS_DNR;
	assert_false(nvfab_cpl_is_error(&cpl));
	assert_int_equal(nvfab_cpl_errno(&cpl), 0);
}

static void test_connect_decode(void **state)
{
	struct nvfab_error err;
	struct nvfab_cpl cpl = {0};
	int rc;

	(void)state;
	cpl.status = NVME_STATUS(1, NVME_SC_CONNECT_INVALID_PARAM) | NVME_STATUS_DNR;
	cpl.cdw0 = nvmf_connect_ipo(256, NVMF_CONNECT_IATTR_DATA);
	rc = host_connect_error(&err, &cpl, 0, "nqn.a:b", "nqn.h:h");
	assert_int_equal(rc, -ENOENT);
	assert_int_equal(err.err, -ENOENT);
	assert_non_null(strstr(err.msg, "subsystem nqn.a:b not found"));

	cpl.cdw0 = nvmf_connect_ipo(512, NVMF_CONNECT_IATTR_DATA);
	assert_int_equal(host_connect_error(&err, &cpl, 0, "nqn.a:b", "nqn.h:h"), -EACCES);
	assert_non_null(strstr(err.msg, "HOSTNQN"));

	cpl.cdw0 = nvmf_connect_ipo(44, NVMF_CONNECT_IATTR_CMD);
	assert_int_equal(host_connect_error(&err, &cpl, 3, "nqn.a:b", "nqn.h:h"), -EINVAL);
	assert_non_null(strstr(err.msg, "invalid command field SQSIZE (IATTR=0 IPO=44)"));

	cpl.cdw0 = nvmf_connect_ipo(16, NVMF_CONNECT_IATTR_DATA);
	assert_int_equal(host_connect_error(&err, &cpl, 1, "nqn.a:b", "nqn.h:h"), -EINVAL);
	assert_non_null(strstr(err.msg, "CNTLID"));

	cpl.status = NVME_STATUS(1, NVME_SC_CONNECT_INVALID_HOST) | NVME_STATUS_DNR;
	cpl.cdw0 = 0;
	assert_int_equal(host_connect_error(&err, &cpl, 0, "nqn.a:b", "nqn.h:h"), -EACCES);
	assert_non_null(strstr(err.msg, "host nqn.h:h is not allowed to connect to subsystem nqn.a:b"));

	cpl.status = NVME_STATUS(1, NVME_SC_CONNECT_CTRL_BUSY);
	assert_int_equal(host_connect_error(&err, &cpl, 0, "nqn.a:b", "nqn.h:h"), -EBUSY);
	assert_non_null(strstr(err.msg, "busy"));

	cpl.status = NVME_STATUS(0, NVME_SC_INTERNAL);
	assert_int_equal(host_connect_error(&err, &cpl, 0, "nqn.a:b", "nqn.h:h"), -EREMOTEIO);
	assert_non_null(strstr(err.msg, "Internal Error"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_cpl_str),
		cmocka_unit_test(test_connect_decode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
