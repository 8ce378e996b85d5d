/*
 * Fuzzes DH-HMAC-CHAP's message handling on both ends (lib/auth): the controller's state machine
 * fed a sequence of AUTH_Send payloads and AUTH_Receive allocation lengths, and the host's
 * parsers of Challenge and Success1.
 *
 * Input: records of [op][len lo][len hi][len bytes of payload]. op bit 0: 0 = AUTH_Send of the
 * payload to the controller, 1 = AUTH_Receive with allocation length len (no payload); op bit 1
 * set: the record goes to the host's Challenge (bit 2 clear) or Success1 parser instead. Checks,
 * beyond ASan/UBSan:
 *   - a Receive fills no more than its allocation length, and refuses (-EINVAL) only lengths
 *     smaller than the message it owes;
 *   - once the exchange failed it stays failed, and the queue is never authenticated then;
 *   - the host's parsers accept nothing but a message of the expected kind and transaction.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dhchap.h"

#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-000000000001"
#define SUBNQN "nqn.2026-11.io.nvfab:fuzz"

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_auth: %s\n", what);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct dhchap_secret key = {.key = {1, 2, 3, 4}, .len = 32, .transform = 1};
	/* The null group and ffdhe2048 only: larger groups make each iteration take seconds. */
	const struct dhchap_ctrl_config ccfg = {&key, &key, DHCHAP_ALL_HASHES,
						1u << NVMF_DHCHAP_DHGROUP_NULL | 1u << NVMF_DHCHAP_DHGROUP_2048,
						HOSTNQN, SUBNQN};
	const struct dhchap_host_config hcfg = {&key, &key, DHCHAP_ALL_HASHES, ccfg.dhgroups,
						HOSTNQN, SUBNQN};
	static uint8_t buf[DHCHAP_MSG_MAX + 64], out[DHCHAP_MSG_MAX];
	struct dhchap_ctrl c;
	struct dhchap_host h;
	size_t pos = 0;

	dhchap_ctrl_init(&c, &ccfg);
	dhchap_host_init(&h, &hcfg, 1);
	while (pos + 3 <= size) {
		uint8_t op = data[pos];
		size_t len = (size_t)data[pos + 1] | (size_t)data[pos + 2] << 8;
		bool failed = c.state == DHCHAP_CTRL_FAILED;

		pos += 3;
		if (op & 1) {
			int n;

			len %= sizeof(buf);
			memset(buf, 0xa5, sizeof(buf));
			n = dhchap_ctrl_receive(&c, buf, len);
			if (n > (int)len)
				fail("receive wrote past its allocation length");
			if (n < 0 && n != -EINVAL)
				fail("receive failed with an unexpected error");
			if (n == -EINVAL && len >= DHCHAP_MSG_MAX)
				fail("receive refused a buffer large enough for any message");
			if ((size_t)n < len && buf[n > 0 ? n : 0] != 0xa5)
				fail("receive wrote past the message it returned");
		} else {
			if (len > size - pos)
				len = size - pos;
			if (op & 2) {
				int n = op & 4 ? dhchap_host_on_success1(&h, data + pos, len, out, sizeof(out))
					       : dhchap_host_on_challenge(&h, data + pos, len, out, sizeof(out));
				const struct nvmf_auth_header *m = (const void *)(data + pos);

				if (n >= 0 && (len < 16 || m->auth_type != NVMF_AUTH_TYPE_DHCHAP ||
					       m->t_id != 1))
					fail("the host accepted a message of another kind or transaction");
			} else {
				dhchap_ctrl_send(&c, data + pos, len);
			}
			pos += len;
		}
		if (failed && c.state != DHCHAP_CTRL_FAILED)
			fail("a failed exchange came back to life");
		if (c.state == DHCHAP_CTRL_FAILED && c.authenticated)
			fail("a failed queue is authenticated");
	}
	dhchap_ctrl_fini(&c);
	return 0;
}
