/*
 * Fuzzes the transport ID parser of libnvfab (nvfab_trid_parse, SPDK's "trtype:TCP adrfam:IPv4
 * traddr:... trsvcid:... subnqn:..." form) and its formatter.
 *
 * Input: the text (cut at the first NUL). Checks, beyond ASan/UBSan:
 *   - a string that parses formats to a string that parses to the same transport ID;
 *   - the formatter behaves like snprintf: the same return value whatever the buffer size, and
 *     a truncated buffer holds a NUL-terminated prefix of the full text;
 *   - the error message is a NUL-terminated string that fits its buffer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvfab/nvfab.h"

static void fail(const char *what, const char *in)
{
	fprintf(stderr, "fuzz_trid: %s (input \"%s\")\n", what, in);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nvfab_trid a, b;
	char *in, err[128], out[2048], small[64];
	int rc, n;

	in = malloc(size + 1);
	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';

	memset(err, 'x', sizeof(err));
	rc = nvfab_trid_parse(&a, in, err, sizeof(err));
	if (!memchr(err, '\0', sizeof(err)))
		fail("error message not terminated", in);
	if (rc != 0 && rc != -EINVAL && rc != -ENAMETOOLONG && rc != -EPROTONOSUPPORT)
		fail("unexpected return code", in);
	/* The same without an error buffer. */
	if (nvfab_trid_parse(&b, in, NULL, 0) != rc)
		fail("result depends on the error buffer", in);
	if (rc) {
		if (!err[0])
			fail("failure without a message", in);
		free(in);
		return 0;
	}
	if (!memchr(a.traddr, '\0', sizeof(a.traddr)) || !memchr(a.trsvcid, '\0', sizeof(a.trsvcid)) ||
	    !memchr(a.subnqn, '\0', sizeof(a.subnqn)) || !memchr(a.hostnqn, '\0', sizeof(a.hostnqn)))
		fail("unterminated field", in);

	n = nvfab_trid_format(&a, out, sizeof(out));
	if (n < 0 || (size_t)n >= sizeof(out) || strlen(out) != (size_t)n)
		fail("format length", in);
	rc = nvfab_trid_parse(&b, out, err, sizeof(err));
	if (rc)
		fail("formatted transport ID does not parse", in);
	if (memcmp(&a, &b, sizeof(a)) != 0)
		fail("format/parse round trip changes the transport ID", in);

	/* Truncation, snprintf-style. */
	for (size_t len = 0; len <= sizeof(small); len += 7) {
		memset(small, 'x', sizeof(small));
		/* len 0 with NULL: the size query snprintf allows. */
		if (nvfab_trid_format(&a, len ? small : NULL, len) != n)
			fail("format return value depends on the buffer size", in);
		if (len) {
			size_t want = (size_t)n < len - 1 ? (size_t)n : len - 1;

			if (small[want] != '\0' || memcmp(small, out, want) != 0)
				fail("truncated format is not a prefix", in);
		}
	}
	free(in);
	return 0;
}
