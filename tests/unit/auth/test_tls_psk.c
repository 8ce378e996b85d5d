/* NVMe/TCP TLS PSKs: interchange parsing, identity, and the derivation against values computed
 * independently (RFC 5869 HKDF written with Python's hmac). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth_test.h"
#include "auth/tls_psk.h"

#define HOSTNQN TEST_HOSTNQN
#define SUBNQN "nqn.2016-06.io.nvfab:tls-kat"

static void test_sha256_retained(void **state)
{
	struct tls_psk psk;
	const char *why = NULL;
	char id[TLS_PSK_IDENTITY_MAX];
	uint8_t out[TLS_PSK_MAX], want[TLS_PSK_MAX];

	(void)state;
	assert_int_equal(tls_psk_parse("NVMeTLSkey-1:01:EBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi9A/ow7:",
				       &psk, &why), 0);
	assert_int_equal(psk.len, 32);
	assert_int_equal(psk.hash, 1);
	assert_string_equal(tls_psk_cipher(&psk), "TLS_AES_128_GCM_SHA256");
	assert_int_equal(tls_psk_identity(&psk, HOSTNQN, SUBNQN, id, sizeof(id)), 0);
	assert_string_equal(id, "NVMe0R01 " HOSTNQN " " SUBNQN);
	assert_int_equal(tls_psk_derive(&psk, HOSTNQN, id, out), 0);
	hex("c9082de6b08bfaad26b6f88a3867c17b9efd9d8846ae63d0399d297b5480931d", want);
	assert_memory_equal(out, want, 32);
	assert_int_equal(tls_psk_identity(&psk, HOSTNQN, SUBNQN, id, 20), -ENAMETOOLONG);
}

static void test_sha384_configured_as_retained(void **state)
{
	struct tls_psk psk;
	const char *why = NULL;
	char id[TLS_PSK_IDENTITY_MAX];
	uint8_t out[TLS_PSK_MAX], want[TLS_PSK_MAX];

	(void)state;
	assert_int_equal(tls_psk_parse("NVMeTLSkey-1:00:QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl9gYWJj"
				       "ZGVmZ2hpamtsbW5voBXMjQ==:", &psk, &why), 0);
	assert_int_equal(psk.len, 48);
	assert_string_equal(tls_psk_cipher(&psk), "TLS_AES_256_GCM_SHA384");
	assert_int_equal(tls_psk_identity(&psk, HOSTNQN, SUBNQN, id, sizeof(id)), 0);
	assert_string_equal(id, "NVMe0R02 " HOSTNQN " " SUBNQN);
	assert_int_equal(tls_psk_derive(&psk, HOSTNQN, id, out), 0);
	hex("c4c5cc44e547b8246c15ebdd0e14b884d5fb98fe4655a6ee207102760ee78f76"
	    "93029bcefeb13312f595158f12d795b0", want);
	assert_memory_equal(out, want, 48);
}

static void test_refusals(void **state)
{
	struct tls_psk psk;
	const char *why = NULL;

	(void)state;
	/* a DH-HMAC-CHAP secret is not a PSK */
	assert_int_equal(tls_psk_parse("DHHC-1:01:EBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi9A/ow7:",
				       &psk, &why), -EINVAL);
	assert_non_null(strstr(why, "NVMeTLSkey-1"));
	/* hash 03 does not exist for PSKs; 02 says 48 bytes */
	assert_int_equal(tls_psk_parse("NVMeTLSkey-1:03:EBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi9A/ow7:",
				       &psk, &why), -EINVAL);
	assert_int_equal(tls_psk_parse("NVMeTLSkey-1:02:EBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi9A/ow7:",
				       &psk, &why), -EINVAL);
	/* one character off: the CRC catches it */
	assert_int_equal(tls_psk_parse("NVMeTLSkey-1:01:EBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi9B/ow7:",
				       &psk, &why), -EINVAL);
	assert_non_null(strstr(why, "CRC"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_retained),
		cmocka_unit_test(test_sha384_configured_as_retained),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
