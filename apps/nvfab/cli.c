#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void cli_conn_defaults(struct nvfab_ctrlr_opts *o)
{
	nvfab_ctrlr_opts_init(o);
	o->ctrl_loss_tmo_s = 0;
}

void cli_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "nvfab %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", usage);
	exit(CLI_EXIT_USAGE);
}

void cli_bad_option(const char *cmd, const char *usage, int opt, char **argv)
{
	(void)opt;
	if (optopt && optopt < 256) {
		/* getopt tells apart a missing argument (':' result) from an unknown letter. */
		if (opt == ':')
			cli_usage_error(cmd, usage, "option -%c needs a value", optopt);
		cli_usage_error(cmd, usage, "unknown option -%c", optopt);
	}
	if (opt == ':')
		cli_usage_error(cmd, usage, "option %s needs a value", argv[optind - 1]);
	cli_usage_error(cmd, usage, "unknown option %s", argv[optind - 1]);
}

void cli_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "nvfab %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

uint32_t cli_parse_nsid(const char *cmd, const char *usage, const char *s)
{
	uint64_t nsid = cli_parse_u64(cmd, usage, "-n", s);

	/* 0 and FFFFFFFFh (broadcast) do not name one namespace. */
	if (nsid == 0 || nsid > 0xfffffffeull)
		cli_usage_error(cmd, usage, "-n %s: NSID must be 1..4294967294", s);
	return (uint32_t)nsid;
}

uint64_t cli_parse_u64(const char *cmd, const char *usage, const char *what, const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (!s || !*s || *s == '-')
		cli_usage_error(cmd, usage, "%s: '%s' is not a non-negative number", what, s ? s : "");
	v = strtoull(s, &end, 0);
	if (errno || *end)
		cli_usage_error(cmd, usage, "%s: '%s' is not a non-negative number", what, s);
	return v;
}

int64_t cli_parse_i64(const char *cmd, const char *usage, const char *what, const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (!*s || errno || *end)
		cli_usage_error(cmd, usage, "%s: '%s' is not a number", what, s);
	return v;
}

uint64_t cli_parse_size(const char *cmd, const char *usage, const char *what, const char *s)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	if (!s || !*s || *s == '-')
		cli_usage_error(cmd, usage, "%s: '%s' is not a size", what, s ? s : "");
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		cli_usage_error(cmd, usage, "%s: '%s' is not a size", what, s);
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: cli_usage_error(cmd, usage, "%s: '%s' is not a size", what, s);
	}
	if (*end == 'i' || *end == 'B' || *end == 'b')
		end += (*end == 'i' && (end[1] == 'B' || end[1] == 'b')) ? 2 : 1;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		cli_usage_error(cmd, usage, "%s: '%s' is not a size", what, s);
	return (uint64_t)v << shift;
}

void cli_parse_trid(const char *cmd, const char *usage, const char *s, struct nvfab_trid *t)
{
	char err[256];

	if (nvfab_trid_parse(t, s, err, sizeof(err)))
		cli_usage_error(cmd, usage, "bad transport ID '%s': %s", s, err);
}

bool cli_parse_json_format(const char *cmd, const char *usage, const char *s)
{
	if (strcmp(s, "json") == 0)
		return true;
	if (strcmp(s, "normal") == 0)
		return false;
	cli_usage_error(cmd, usage, "output format '%s': expected normal or json", s);
}

static int32_t secs_opt(const char *cmd, const char *usage, const char *what, const char *arg,
			int64_t min)
{
	int64_t v = cli_parse_i64(cmd, usage, what, arg);

	if (v < min || v > 1000000)
		cli_usage_error(cmd, usage, "%s: %s out of range", what, arg);
	return (int32_t)v;
}

/* A secret given as such (DHHC-1:...) or as a file that holds it, which keeps it out of the
 * process list; a file that others may read is refused, as nvfabd's keyring does. */
static void secret_opt(const char *cmd, const char *usage, const char *what, const char *arg,
		       char *out, size_t len)
{
	struct stat st;
	size_t n;
	FILE *f;

	if (strncmp(arg, "DHHC-1:", 7) == 0 || strncmp(arg, "NVMeTLSkey-1:", 13) == 0) {
		if (strlen(arg) >= len)
			cli_usage_error(cmd, usage, "%s: too long for a secret", what);
		snprintf(out, len, "%s", arg);
		return;
	}
	f = fopen(arg, "r");
	if (!f)
		cli_usage_error(cmd, usage, "%s: '%s' is neither a key nor a readable file: %s",
				what, arg, strerror(errno));
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077)) {
		fclose(f);
		cli_usage_error(cmd, usage, "%s: %s is readable by others (mode %03o): chmod 600 it",
				what, arg, (unsigned)(st.st_mode & 0777));
	}
	n = fread(out, 1, len - 1, f);
	fclose(f);
	out[n] = '\0';
	while (n && (out[n - 1] == '\n' || out[n - 1] == ' ' || out[n - 1] == '\r'))
		out[--n] = '\0';
}

bool cli_conn_option(const char *cmd, const char *usage, int opt, const char *arg,
		     struct nvfab_ctrlr_opts *o)
{
	static int verbosity = 1;

	switch (opt) {
	case 'q':
		if (strlen(arg) > NVFAB_NQN_MAX || strncmp(arg, "nqn.", 4) != 0)
			cli_usage_error(cmd, usage, "host NQN '%s' must start with nqn. and be at most %d bytes",
					arg, NVFAB_NQN_MAX);
		snprintf(o->hostnqn, sizeof(o->hostnqn), "%s", arg);
		return true;
	case 'I':
		if (nvfab_uuid_parse(arg, o->hostid))
			cli_usage_error(cmd, usage, "host ID '%s' is not a UUID", arg);
		return true;
	case 'g':
		o->hdgst = true;
		return true;
	case 'G':
		o->ddgst = true;
		return true;
	case CLI_OPT_KATO:
		o->kato_ms = secs_opt(cmd, usage, "--keep-alive-tmo", arg, 0) * 1000;
		return true;
	case CLI_OPT_CTRL_LOSS_TMO:
		o->ctrl_loss_tmo_s = secs_opt(cmd, usage, "--ctrl-loss-tmo", arg, -1);
		return true;
	case CLI_OPT_RECONNECT_DELAY:
		o->reconnect_delay_s = secs_opt(cmd, usage, "--reconnect-delay", arg, 0);
		return true;
	case CLI_OPT_CONNECT_TIMEOUT:
		o->connect_timeout_ms = secs_opt(cmd, usage, "--connect-timeout", arg, 1);
		return true;
	case CLI_OPT_DHCHAP_SECRET:
		secret_opt(cmd, usage, "--dhchap-secret", arg, o->dhchap_secret, sizeof(o->dhchap_secret));
		return true;
	case CLI_OPT_DHCHAP_CTRL_SECRET:
		secret_opt(cmd, usage, "--dhchap-ctrl-secret", arg, o->dhchap_ctrl_secret,
			   sizeof(o->dhchap_ctrl_secret));
		return true;
	case CLI_OPT_TLS:
		/* The key says everything; --tls is nvme-cli's switch, accepted for the same scripts. */
		return true;
	case CLI_OPT_TLS_KEY:
		secret_opt(cmd, usage, "--tls-key", arg, o->tls_psk, sizeof(o->tls_psk));
		return true;
	case 'v':
		nvfab_set_log_level(++verbosity + 1);
		return true;
	default:
		return false;
	}
}

struct nvfab_ctrlr *cli_connect(const char *cmd, const struct nvfab_trid *t,
				const struct nvfab_ctrlr_opts *o)
{
	struct nvfab_error err;
	struct nvfab_ctrlr *c = nvfab_ctrlr_connect(t, o, &err);

	if (!c)
		cli_error(cmd, "%s", err.msg);
	return c;
}

void cli_print_json(struct json_object *obj)
{
	printf("%s\n", json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_SPACED |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(obj);
}

void cli_fixed_str(char *out, const char *field, size_t len)
{
	size_t n = 0;

	while (n < len && field[n])
		n++;
	memcpy(out, field, n);
	while (n && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}
