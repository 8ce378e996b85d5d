/* Helpers shared by the lib/auth unit tests. */
#ifndef NVFAB_TESTS_UNIT_AUTH_TEST_H
#define NVFAB_TESTS_UNIT_AUTH_TEST_H

#include <stdint.h>
#include <stdio.h>

#define TEST_HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555"

/* Known answers are written as hex strings: their bytes into out. */
static inline void hex(const char *s, uint8_t *out)
{
	for (size_t i = 0; s[2 * i]; i++) {
		unsigned v;

		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

#endif
