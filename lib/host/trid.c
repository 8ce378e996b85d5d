/* Transport IDs in SPDK's "key:value key:value" form. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nvfab/nvfab.h"

static int trid_fail(char *err, size_t err_len, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int trid_fail(char *err, size_t err_len, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && err_len) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static int trid_copy(char *dst, size_t size, const char *val, size_t len)
{
	if (len >= size)
		return -ENAMETOOLONG;
	memcpy(dst, val, len);
	dst[len] = '\0';
	return 0;
}

static bool port_valid(const char *s)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)s[0]))
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	return errno == 0 && *end == '\0' && v >= 1 && v <= 65535;
}

/* Transports SPDK knows but nvfab does not speak: a clearer error than "unknown". */
static bool trtype_known_elsewhere(const char *v)
{
	static const char *const others[] = {"RDMA", "FC", "PCIe", "VFIOUSER", "CUSTOM", "CUSTOM_FABRICS"};

	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		if (strcasecmp(v, others[i]) == 0)
			return true;
	return false;
}

enum trid_key { K_TRTYPE, K_ADRFAM, K_TRADDR, K_TRSVCID, K_SUBNQN, K_HOSTNQN, K_PRIORITY, K_NKEYS };
static const char *const key_names[K_NKEYS] = {
	"trtype", "adrfam", "traddr", "trsvcid", "subnqn", "hostnqn", "priority",
};

static int trid_set(struct nvfab_trid *trid, enum trid_key key, const char *v, char *err,
		    size_t err_len)
{
	size_t len = strlen(v);

	switch (key) {
	case K_TRTYPE:
		if (strcasecmp(v, "TCP") == 0) {
			trid->trtype = NVFAB_TRTYPE_TCP;
			return 0;
		}
		if (trtype_known_elsewhere(v))
			return trid_fail(err, err_len, -EPROTONOSUPPORT,
					 "trtype %s is not supported: nvfab speaks TCP only", v);
		return trid_fail(err, err_len, -EINVAL, "unknown trtype '%s' (expected TCP)", v);
	case K_ADRFAM:
		if (strcasecmp(v, "IPv4") == 0)
			trid->adrfam = NVFAB_ADRFAM_IPV4;
		else if (strcasecmp(v, "IPv6") == 0)
			trid->adrfam = NVFAB_ADRFAM_IPV6;
		else
			return trid_fail(err, err_len, -EINVAL,
					 "unknown adrfam '%s' (expected IPv4 or IPv6)", v);
		return 0;
	case K_TRADDR:
		if (trid_copy(trid->traddr, sizeof(trid->traddr), v, len))
			return trid_fail(err, err_len, -ENAMETOOLONG, "traddr longer than %d bytes",
					 NVFAB_TRADDR_MAX);
		return 0;
	case K_TRSVCID:
		if (!port_valid(v))
			return trid_fail(err, err_len, -EINVAL,
					 "trsvcid '%s' is not a port number (1-65535)", v);
		/* A valid port can still be too long: leading zeros. */
		if (trid_copy(trid->trsvcid, sizeof(trid->trsvcid), v, len))
			return trid_fail(err, err_len, -ENAMETOOLONG, "trsvcid longer than %d bytes",
					 NVFAB_TRSVCID_MAX);
		return 0;
	case K_SUBNQN:
	case K_HOSTNQN: {
		char *dst = key == K_SUBNQN ? trid->subnqn : trid->hostnqn;

		if (len > NVFAB_NQN_MAX)
			return trid_fail(err, err_len, -ENAMETOOLONG,
					 "%s is %zu bytes, longer than the NVMe limit of %d",
					 key_names[key], len, NVFAB_NQN_MAX);
		if (strncmp(v, "nqn.", 4) != 0)
			return trid_fail(err, err_len, -EINVAL, "%s '%s' does not start with \"nqn.\"",
					 key_names[key], v);
		return trid_copy(dst, NVFAB_NQN_MAX + 1, v, len);
	}
	case K_PRIORITY:
		return 0; /* SPDK's polling-priority hint: meaningless here */
	default:
		return -EINVAL;
	}
}

int nvfab_trid_parse(struct nvfab_trid *trid, const char *str, char *err, size_t err_len)
{
	bool seen[K_NKEYS] = {false};
	char tok[1024];
	const char *p = str;
	int rc;

	if (err && err_len)
		err[0] = '\0';
	memset(trid, 0, sizeof(*trid));
	if (!str)
		return trid_fail(err, err_len, -EINVAL, "empty transport ID");

	for (;;) {
		size_t n, klen;
		const char *sep;
		int key = -1;

		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		n = strcspn(p, " \t\n");
		if (n >= sizeof(tok))
			return trid_fail(err, err_len, -ENAMETOOLONG, "transport ID field too long");
		memcpy(tok, p, n);
		tok[n] = '\0';
		p += n;

		/* The first ':' or '=' splits key from value; IPv6 addresses keep their colons. */
		sep = tok + strcspn(tok, ":=");
		if (!*sep)
			return trid_fail(err, err_len, -EINVAL, "'%s' is not key:value", tok);
		klen = (size_t)(sep - tok);
		for (int k = 0; k < K_NKEYS; k++)
			if (strlen(key_names[k]) == klen && strncasecmp(tok, key_names[k], klen) == 0)
				key = k;
		if (key < 0) {
			tok[klen] = '\0';
			return trid_fail(err, err_len, -EINVAL,
					 "unknown transport ID key '%s' (expected trtype, adrfam, traddr, trsvcid, subnqn, hostnqn)",
					 tok);
		}
		if (seen[key])
			return trid_fail(err, err_len, -EINVAL, "%s given twice", key_names[key]);
		seen[key] = true;
		if (!sep[1])
			return trid_fail(err, err_len, -EINVAL, "%s has no value", key_names[key]);
		rc = trid_set(trid, (enum trid_key)key, sep + 1, err, err_len);
		if (rc)
			return rc;
	}

	if (!seen[K_TRTYPE])
		return trid_fail(err, err_len, -EINVAL, "trtype missing (e.g. trtype:TCP)");
	if (!seen[K_TRADDR])
		return trid_fail(err, err_len, -EINVAL, "traddr missing (e.g. traddr:127.0.0.1)");
	if (!seen[K_TRSVCID])
		snprintf(trid->trsvcid, sizeof(trid->trsvcid), "%s", NVFAB_DEFAULT_PORT);
	if (!seen[K_ADRFAM])
		trid->adrfam = strchr(trid->traddr, ':') ? NVFAB_ADRFAM_IPV6 : NVFAB_ADRFAM_IPV4;
	return 0;
}

int nvfab_trid_format(const struct nvfab_trid *trid, char *buf, size_t len)
{
	int n = snprintf(buf, len, "trtype:TCP adrfam:%s traddr:%s trsvcid:%s",
			 trid->adrfam == NVFAB_ADRFAM_IPV6 ? "IPv6" : "IPv4", trid->traddr,
			 trid->trsvcid);
	size_t used = n > 0 && (size_t)n < len ? (size_t)n : len;

	if (trid->subnqn[0])
		n += snprintf(buf ? buf + used : NULL, len - used, " subnqn:%s", trid->subnqn);
	used = n > 0 && (size_t)n < len ? (size_t)n : len;
	if (trid->hostnqn[0])
		n += snprintf(buf ? buf + used : NULL, len - used, " hostnqn:%s", trid->hostnqn);
	return n;
}
