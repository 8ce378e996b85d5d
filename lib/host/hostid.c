/* Host identity: UUIDs and the UUID-based host NQN. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "host/host_internal.h"

int nvfab_uuid_generate(uint8_t uuid[16])
{
	size_t got = 0;

	while (got < 16) {
		ssize_t n = getrandom(uuid + got, 16 - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	uuid[6] = (uuid[6] & 0x0f) | 0x40; /* version 4 */
	uuid[8] = (uuid[8] & 0x3f) | 0x80; /* RFC 4122 variant */
	return 0;
}

void nvfab_uuid_format(const uint8_t u[16], char out[37])
{
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		 u[13], u[14], u[15]);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int nvfab_uuid_parse(const char *text, uint8_t uuid[16])
{
	int n = 0;

	for (size_t i = 0; text[i]; i++) {
		int hi, lo;

		if (text[i] == '-' && (i == 8 || i == 13 || i == 18 || i == 23))
			continue;
		if (n == 16)
			return -EINVAL;
		hi = hexval(text[i]);
		lo = text[i + 1] ? hexval(text[i + 1]) : -1;
		if (hi < 0 || lo < 0)
			return -EINVAL;
		uuid[n++] = (uint8_t)(hi << 4 | lo);
		i++;
	}
	return n == 16 ? 0 : -EINVAL;
}

void nvfab_hostnqn_from_uuid(const uint8_t uuid[16], char out[NVFAB_NQN_MAX + 1])
{
	char text[37];

	nvfab_uuid_format(uuid, text);
	snprintf(out, NVFAB_NQN_MAX + 1, "nqn.2014-08.org.nvmexpress:uuid:%s", text);
}

/* One host ID per process, so that all controllers of a process are one host to targets. */
static pthread_once_t hostid_once = PTHREAD_ONCE_INIT;
static uint8_t process_hostid[16];
static int process_hostid_rc;

static void hostid_init(void)
{
	process_hostid_rc = nvfab_uuid_generate(process_hostid);
}

int host_hostid_default(uint8_t hostid[16])
{
	pthread_once(&hostid_once, hostid_init);
	memcpy(hostid, process_hostid, 16);
	return process_hostid_rc;
}
