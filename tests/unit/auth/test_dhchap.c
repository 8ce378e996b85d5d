/*
 * DH-HMAC-CHAP: secret parsing, known answers computed independently (Python's hmac/hashlib),
 * and both ends of the exchange driven against each other in memory, good and bad.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth_test.h"
#include "auth/dhchap.h"

#define HOSTNQN TEST_HOSTNQN
#define SUBNQN "nqn.2016-06.io.nvfab:auth-kat"
/* key bytes 01..20h, with its CRC-32 */
#define KEY32 "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAl7OaH"
#define KEY48 "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoOEhYaHiImKi4yNjo+QkZKTvGwQfg=="

static void test_secret_parse(void **state)
{
	struct dhchap_secret s;
	const char *why = NULL;

	(void)state;
	assert_int_equal(dhchap_secret_parse("DHHC-1:00:" KEY32 ":", &s, &why), 0);
	assert_int_equal(s.len, 32);
	assert_int_equal(s.transform, 0);
	for (int i = 0; i < 32; i++)
		assert_int_equal(s.key[i], i + 1);
	assert_int_equal(dhchap_secret_parse("DHHC-1:02:" KEY48 ":\n", &s, &why), 0);
	assert_int_equal(s.len, 48);
	assert_int_equal(s.transform, 2);
	assert_int_equal(s.key[0], 100);

	assert_int_equal(dhchap_secret_parse("DHHC-2:00:" KEY32 ":", &s, &why), -EINVAL);
	assert_int_equal(dhchap_secret_parse("DHHC-1:04:" KEY32 ":", &s, &why), -EINVAL);
	assert_int_equal(dhchap_secret_parse("DHHC-1:0x:" KEY32 ":", &s, &why), -EINVAL);
	assert_int_equal(dhchap_secret_parse("DHHC-1:00:" KEY32, &s, &why), -EINVAL);
	assert_int_equal(dhchap_secret_parse("DHHC-1:00:" KEY32 ":junk", &s, &why), -EINVAL);
	assert_int_equal(dhchap_secret_parse("DHHC-1:00:AQIDBAUG:", &s, &why), -EINVAL);
	assert_int_equal(dhchap_secret_parse("DHHC-1:00:!!!!" KEY32 ":", &s, &why), -EINVAL);
	/* one character changed: the CRC catches it */
	assert_int_equal(dhchap_secret_parse("DHHC-1:00:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyEl7OaH:",
					     &s, &why), -EINVAL);
	assert_non_null(strstr(why, "CRC"));
}

static void test_known_answers(void **state)
{
	struct dhchap_secret s;
	const char *why;
	uint8_t chal[64], dh[256], out[64], want[64];

	(void)state;
	/* SHA-256 transform, SHA-256 HMAC, no DH */
	assert_int_equal(dhchap_secret_parse("DHHC-1:01:" KEY32 ":", &s, &why), 0);
	for (int i = 0; i < 32; i++)
		chal[i] = (uint8_t)(0x40 + i);
	assert_int_equal(dhchap_response(&s, NVMF_DHCHAP_HASH_SHA256, "HostHost", 0x12345678,
					 0x0102, 0, HOSTNQN, SUBNQN, NULL, 0, chal, out), 0);
	hex("ec9bbc595f8456b56955135fe0124d9e5bb4c3531c746cf947037cdfacc167c3", want);
	assert_memory_equal(out, want, 32);

	/* untransformed key, SHA-384, challenge augmented with a DH secret */
	assert_int_equal(dhchap_secret_parse("DHHC-1:00:" KEY32 ":", &s, &why), 0);
	for (int i = 0; i < 48; i++)
		chal[i] = (uint8_t)i;
	memset(dh, 7, sizeof(dh));
	assert_int_equal(dhchap_response(&s, NVMF_DHCHAP_HASH_SHA384, "Controller", 5, 9, 0,
					 SUBNQN, HOSTNQN, dh, sizeof(dh), chal, out), 0);
	hex("9506d7c6bda0e9e76d739efdb4fe9664ccf23c2190f3b6fa13d4cf8bc80793ac"
	    "91f515db93e8188f84ec99a70f5e9b93", want);
	assert_memory_equal(out, want, 48);
}

static void test_dh_agreement(void **state)
{
	struct dhchap_dh *a, *b;
	uint8_t pa[384], pb[384], sa[384], sb[384];

	(void)state;
	assert_int_equal(dhchap_dh_generate(NVMF_DHCHAP_DHGROUP_3072, &a), 0);
	assert_int_equal(dhchap_dh_generate(NVMF_DHCHAP_DHGROUP_3072, &b), 0);
	assert_int_equal(dhchap_dh_public(a, pa, sizeof(pa)), 0);
	assert_int_equal(dhchap_dh_public(b, pb, sizeof(pb)), 0);
	assert_int_equal(dhchap_dh_derive(a, pb, sizeof(pb), sa, sizeof(sa)), 0);
	assert_int_equal(dhchap_dh_derive(b, pa, sizeof(pa), sb, sizeof(sb)), 0);
	assert_memory_equal(sa, sb, sizeof(sa));
	/* 1 and p-1 are not public values: they would force the secret */
	memset(pb, 0, sizeof(pb));
	pb[sizeof(pb) - 1] = 1;
	assert_int_equal(dhchap_dh_derive(a, pb, sizeof(pb), sa, sizeof(sa)), -EINVAL);
	memset(pb, 0xff, sizeof(pb));   /* larger than p */
	assert_int_equal(dhchap_dh_derive(a, pb, sizeof(pb), sa, sizeof(sa)), -EINVAL);
	assert_int_equal(dhchap_dh_derive(a, pb, 256, sa, sizeof(sa)), -EINVAL);
	dhchap_dh_free(a);
	dhchap_dh_free(b);
}

struct pair {
	struct dhchap_secret hk, ck, wrong;
	struct dhchap_ctrl_config ccfg;
	struct dhchap_host_config hcfg;
	struct dhchap_ctrl ctrl;
	struct dhchap_host host;
	uint8_t buf[DHCHAP_MSG_MAX + 64], msg[DHCHAP_MSG_MAX + 64];
};

static void pair_setup(struct pair *p)
{
	const char *why;

	memset(p, 0, sizeof(*p));
	assert_int_equal(dhchap_secret_parse("DHHC-1:01:" KEY32 ":", &p->hk, &why), 0);
	assert_int_equal(dhchap_secret_parse("DHHC-1:02:" KEY48 ":", &p->ck, &why), 0);
	assert_int_equal(dhchap_secret_parse("DHHC-1:00:" KEY32 ":", &p->wrong, &why), 0);
	p->ccfg = (struct dhchap_ctrl_config){&p->hk, &p->ck, DHCHAP_ALL_HASHES,
					      DHCHAP_ALL_DHGROUPS, HOSTNQN, SUBNQN};
	p->hcfg = (struct dhchap_host_config){&p->hk, NULL, DHCHAP_ALL_HASHES,
					      DHCHAP_ALL_DHGROUPS, HOSTNQN, SUBNQN};
}

/* Runs one exchange; returns the host's result (0 = authenticated). */
static int run(struct pair *p)
{
	int n, m;

	dhchap_ctrl_init(&p->ctrl, &p->ccfg);
	dhchap_host_init(&p->host, &p->hcfg, 7);
	n = dhchap_host_negotiate(&p->host, p->buf, sizeof(p->buf));
	assert_true(n > 0);
	dhchap_ctrl_send(&p->ctrl, p->buf, (size_t)n);
	m = dhchap_ctrl_receive(&p->ctrl, p->msg, sizeof(p->msg));
	assert_true(m > 0);
	n = dhchap_host_on_challenge(&p->host, p->msg, (size_t)m, p->buf, sizeof(p->buf));
	if (n < 0)
		return n;
	dhchap_ctrl_send(&p->ctrl, p->buf, (size_t)n);
	m = dhchap_ctrl_receive(&p->ctrl, p->msg, sizeof(p->msg));
	assert_true(m > 0);
	n = dhchap_host_on_success1(&p->host, p->msg, (size_t)m, p->buf, sizeof(p->buf));
	if (n < 0) {
		if (p->host.fail_reason) {
			n = dhchap_host_failure2(&p->host, p->buf, sizeof(p->buf));
			dhchap_ctrl_send(&p->ctrl, p->buf, (size_t)n);
		}
		return -EACCES;
	}
	if (n > 0)
		dhchap_ctrl_send(&p->ctrl, p->buf, (size_t)n);
	return 0;
}

static void test_exchange_combinations(void **state)
{
	static const uint8_t groups[] = {NVMF_DHCHAP_DHGROUP_NULL, NVMF_DHCHAP_DHGROUP_2048,
					 NVMF_DHCHAP_DHGROUP_4096};
	struct pair *p = malloc(sizeof(*p));

	(void)state;
	pair_setup(p);
	for (uint8_t h = NVMF_DHCHAP_HASH_SHA256; h <= NVMF_DHCHAP_HASH_SHA512; h++) {
		for (size_t g = 0; g < sizeof(groups); g++) {
			for (int bidi = 0; bidi < 2; bidi++) {
				p->ccfg.hashes = 1u << h;
				p->ccfg.dhgroups = 1u << groups[g];
				p->hcfg.ctrl_key = bidi ? &p->ck : NULL;
				assert_int_equal(run(p), 0);
				assert_int_equal(p->ctrl.state, DHCHAP_CTRL_DONE);
				assert_true(p->ctrl.authenticated);
				assert_int_equal(p->ctrl.hash_id, h);
				assert_int_equal(p->ctrl.dhgroup_id, groups[g]);
				dhchap_ctrl_fini(&p->ctrl);
			}
		}
	}
	/* both allow everything: the strongest is chosen */
	p->ccfg.hashes = DHCHAP_ALL_HASHES;
	p->ccfg.dhgroups = DHCHAP_ALL_DHGROUPS;
	p->hcfg.dhgroups = 1u << NVMF_DHCHAP_DHGROUP_NULL | 1u << NVMF_DHCHAP_DHGROUP_2048;
	assert_int_equal(run(p), 0);
	assert_int_equal(p->ctrl.hash_id, NVMF_DHCHAP_HASH_SHA512);
	assert_int_equal(p->ctrl.dhgroup_id, NVMF_DHCHAP_DHGROUP_2048);
	dhchap_ctrl_fini(&p->ctrl);
	free(p);
}

static void expect_failure1(struct pair *p, uint8_t reason)
{
	const struct nvmf_auth_failure *f = (const void *)p->msg;

	assert_int_equal(dhchap_ctrl_receive(&p->ctrl, p->msg, sizeof(p->msg)), 8);
	assert_int_equal(f->h.auth_id, NVMF_AUTH_ID_FAILURE1);
	assert_int_equal(f->rescode, NVMF_AUTH_FAILURE_RC);
	assert_int_equal(f->rescode_exp, reason);
	assert_int_equal(p->ctrl.state, DHCHAP_CTRL_FAILED);
	assert_false(p->ctrl.authenticated);
	dhchap_ctrl_fini(&p->ctrl);
}

static void test_refusals(void **state)
{
	struct pair *p = malloc(sizeof(*p));
	int n, m;

	(void)state;
	pair_setup(p);
	/* wrong host secret */
	p->hcfg.host_key = &p->wrong;
	assert_int_equal(run(p), -EACCES);
	assert_int_equal(p->ctrl.state, DHCHAP_CTRL_FAILED);
	assert_non_null(strstr(p->host.why, "authentication failed"));
	dhchap_ctrl_fini(&p->ctrl);
	/* no secret configured for this host on the controller */
	p->hcfg.host_key = &p->hk;
	p->ccfg.host_key = NULL;
	assert_int_equal(run(p), -EACCES);
	dhchap_ctrl_fini(&p->ctrl);
	/* the controller does not hold the controller secret the host expects */
	p->ccfg.host_key = &p->hk;
	p->ccfg.ctrl_key = &p->wrong;
	p->hcfg.ctrl_key = &p->ck;
	assert_int_equal(run(p), -EACCES);
	assert_int_equal(p->host.fail_reason, NVMF_AUTH_FAILED);
	assert_int_equal(p->ctrl.state, DHCHAP_CTRL_FAILED);   /* after the host's Failure2 */
	dhchap_ctrl_fini(&p->ctrl);
	/* bidirectional asked of a controller without a controller secret */
	p->ccfg.ctrl_key = NULL;
	assert_int_equal(run(p), -EACCES);
	dhchap_ctrl_fini(&p->ctrl);
	p->hcfg.ctrl_key = NULL;
	p->ccfg.ctrl_key = &p->ck;

	/* no common hash / group */
	p->ccfg.hashes = 1u << NVMF_DHCHAP_HASH_SHA512;
	p->hcfg.hashes = 1u << NVMF_DHCHAP_HASH_SHA256;
	dhchap_ctrl_init(&p->ctrl, &p->ccfg);
	dhchap_host_init(&p->host, &p->hcfg, 1);
	n = dhchap_host_negotiate(&p->host, p->buf, sizeof(p->buf));
	dhchap_ctrl_send(&p->ctrl, p->buf, (size_t)n);
	expect_failure1(p, NVMF_AUTH_HASH_UNUSABLE);
	p->ccfg.hashes = p->hcfg.hashes = DHCHAP_ALL_HASHES;
	p->ccfg.dhgroups = 1u << NVMF_DHCHAP_DHGROUP_8192;
	p->hcfg.dhgroups = 1u << NVMF_DHCHAP_DHGROUP_NULL;
	dhchap_ctrl_init(&p->ctrl, &p->ccfg);
	dhchap_ctrl_send(&p->ctrl, p->buf, (size_t)dhchap_host_negotiate(&p->host, p->buf, sizeof(p->buf)));
	expect_failure1(p, NVMF_AUTH_DHGROUP_UNUSABLE);
	p->ccfg.dhgroups = p->hcfg.dhgroups = DHCHAP_ALL_DHGROUPS;

	/* short and oversized Negotiate, secure channel asked for, no DH-HMAC-CHAP descriptor */
	n = dhchap_host_negotiate(&p->host, p->buf, sizeof(p->buf));
	dhchap_ctrl_init(&p->ctrl, &p->ccfg);
	dhchap_ctrl_send(&p->ctrl, p->buf, (size_t)n - 1);
	expect_failure1(p, NVMF_AUTH_INCORRECT_PAYLOAD);
	dhchap_ctrl_init(&p->ctrl, &p->ccfg);
	p->buf[7] = 200;        /* napd beyond the payload */
	dhchap_ctrl_send(&p->ctrl, p->buf, (size_t)n);
	expect_failure1(p, NVMF_AUTH_INCORRECT_PAYLOAD);
	n = dhchap_host_negotiate(&p->host, p->buf, sizeof(p->buf));
	p->buf[6] = 1;
	dhchap_ctrl_init(&p->ctrl, &p->ccfg);
	dhchap_ctrl_send(&p->ctrl, p->buf, (size_t)n);
	expect_failure1(p, NVMF_AUTH_SCC_MISMATCH);
	n = dhchap_host_negotiate(&p->host, p->buf, sizeof(p->buf));
	p->buf[8] = 2;
	dhchap_ctrl_init(&p->ctrl, &p->ccfg);
	dhchap_ctrl_send(&p->ctrl, p->buf, (size_t)n);
	expect_failure1(p, NVMF_AUTH_PROTOCOL_UNUSABLE);

	/* out of order: a Reply first; Receive before anything; Success2 unasked */
	dhchap_ctrl_init(&p->ctrl, &p->ccfg);
	memset(p->buf, 0, 16);
	p->buf[0] = NVMF_AUTH_TYPE_DHCHAP;
	p->buf[1] = NVMF_AUTH_ID_REPLY;
	dhchap_ctrl_send(&p->ctrl, p->buf, 16);
	expect_failure1(p, NVMF_AUTH_INCORRECT_MESSAGE);
	dhchap_ctrl_init(&p->ctrl, &p->ccfg);
	expect_failure1(p, NVMF_AUTH_INCORRECT_MESSAGE);

	/* a Reply from another transaction, and a replayed Reply in a new transaction */
	dhchap_ctrl_init(&p->ctrl, &p->ccfg);
	dhchap_host_init(&p->host, &p->hcfg, 7);
	n = dhchap_host_negotiate(&p->host, p->buf, sizeof(p->buf));
	dhchap_ctrl_send(&p->ctrl, p->buf, (size_t)n);
	m = dhchap_ctrl_receive(&p->ctrl, p->msg, sizeof(p->msg));
	n = dhchap_host_on_challenge(&p->host, p->msg, (size_t)m, p->buf, sizeof(p->buf));
	assert_true(n > 0);
	p->buf[4] ^= 1;
	dhchap_ctrl_send(&p->ctrl, p->buf, (size_t)n);
	expect_failure1(p, NVMF_AUTH_INCORRECT_PAYLOAD);
	p->buf[4] ^= 1;
	{
		uint8_t replay[sizeof(p->buf)];
		uint8_t neg[128];
		int rn = n, nn;

		memcpy(replay, p->buf, sizeof(replay));
		dhchap_ctrl_init(&p->ctrl, &p->ccfg);
		nn = dhchap_host_negotiate(&p->host, neg, sizeof(neg));
		dhchap_ctrl_send(&p->ctrl, neg, (size_t)nn);
		assert_true(dhchap_ctrl_receive(&p->ctrl, p->msg, sizeof(p->msg)) > 0);
		dhchap_ctrl_send(&p->ctrl, replay, (size_t)rn);  /* answers the old challenge */
		expect_failure1(p, NVMF_AUTH_FAILED);
	}
	/* an allocation length too small for the Challenge: refused, state kept */
	dhchap_ctrl_init(&p->ctrl, &p->ccfg);
	n = dhchap_host_negotiate(&p->host, p->buf, sizeof(p->buf));
	dhchap_ctrl_send(&p->ctrl, p->buf, (size_t)n);
	assert_int_equal(dhchap_ctrl_receive(&p->ctrl, p->msg, 20), -EINVAL);
	assert_int_equal(p->ctrl.state, DHCHAP_CTRL_CHALLENGE);
	assert_true(dhchap_ctrl_receive(&p->ctrl, p->msg, sizeof(p->msg)) > 0);
	dhchap_ctrl_fini(&p->ctrl);
	free(p);
}

static void test_reauthentication(void **state)
{
	struct pair *p = malloc(sizeof(*p));
	int n, m;

	(void)state;
	pair_setup(p);
	assert_int_equal(run(p), 0);
	/* a new Negotiate on an authenticated queue: the queue stays usable meanwhile */
	dhchap_host_init(&p->host, &p->hcfg, 8);
	n = dhchap_host_negotiate(&p->host, p->buf, sizeof(p->buf));
	dhchap_ctrl_send(&p->ctrl, p->buf, (size_t)n);
	assert_true(p->ctrl.authenticated);
	m = dhchap_ctrl_receive(&p->ctrl, p->msg, sizeof(p->msg));
	n = dhchap_host_on_challenge(&p->host, p->msg, (size_t)m, p->buf, sizeof(p->buf));
	dhchap_ctrl_send(&p->ctrl, p->buf, (size_t)n);
	m = dhchap_ctrl_receive(&p->ctrl, p->msg, sizeof(p->msg));
	assert_int_equal(dhchap_host_on_success1(&p->host, p->msg, (size_t)m, p->buf, sizeof(p->buf)), 0);
	assert_int_equal(p->ctrl.state, DHCHAP_CTRL_DONE);
	dhchap_ctrl_fini(&p->ctrl);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_parse),
		cmocka_unit_test(test_known_answers),
		cmocka_unit_test(test_dh_agreement),
		cmocka_unit_test(test_exchange_combinations),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_reauthentication),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
