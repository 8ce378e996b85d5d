/* Shared plumbing of the nvfab commands: option parsing, connecting, output. */
#ifndef NVFAB_APPS_CLI_H
#define NVFAB_APPS_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "nvfab/nvfab.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1   /* the target refused, I/O failed, data mismatched */
#define CLI_EXIT_USAGE 2  /* bad arguments */

struct cli_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

/* Long-option ids for the connection options every connecting command takes. */
enum {
	CLI_OPT_KATO = 1000,
	CLI_OPT_CTRL_LOSS_TMO,
	CLI_OPT_RECONNECT_DELAY,
	CLI_OPT_CONNECT_TIMEOUT,
	CLI_OPT_DHCHAP_SECRET,
	CLI_OPT_DHCHAP_CTRL_SECRET,
	CLI_OPT_TLS,
	CLI_OPT_TLS_KEY,
	CLI_OPT_FIRST_FREE,
};

#define CLI_CONN_LONGOPTS                                                          \
	{"hostnqn", required_argument, NULL, 'q'},                                 \
	{"hostid", required_argument, NULL, 'I'},                                  \
	{"hdr-digest", no_argument, NULL, 'g'},                                    \
	{"data-digest", no_argument, NULL, 'G'},                                   \
	{"keep-alive-tmo", required_argument, NULL, CLI_OPT_KATO},                 \
	{"ctrl-loss-tmo", required_argument, NULL, CLI_OPT_CTRL_LOSS_TMO},         \
	{"reconnect-delay", required_argument, NULL, CLI_OPT_RECONNECT_DELAY},     \
	{"connect-timeout", required_argument, NULL, CLI_OPT_CONNECT_TIMEOUT},     \
	{"dhchap-secret", required_argument, NULL, CLI_OPT_DHCHAP_SECRET},         \
	{"dhchap-ctrl-secret", required_argument, NULL, CLI_OPT_DHCHAP_CTRL_SECRET}, \
	{"tls", no_argument, NULL, CLI_OPT_TLS},                                   \
	{"tls-key", required_argument, NULL, CLI_OPT_TLS_KEY},                     \
	{"verbose", no_argument, NULL, 'v'}

#define CLI_CONN_HELP                                                                      \
	"connection options:\n"                                                            \
	"  -q, --hostnqn NQN        host NQN (default: nqn.2014-08.org.nvmexpress:uuid:<hostid>)\n" \
	"  -I, --hostid UUID        host identifier (default: random per run)\n"          \
	"  -g, --hdr-digest         request header digests\n"                             \
	"  -G, --data-digest        request data digests\n"                               \
	"      --keep-alive-tmo S   KATO in seconds (default 5; 0 for discovery)\n"       \
	"      --ctrl-loss-tmo S    keep reconnecting for S seconds, -1 forever (default 0: fail at once)\n" \
	"      --reconnect-delay S  between reconnect attempts (default 10)\n"            \
	"      --connect-timeout MS the whole connection set-up (default 5000)\n"    \
	"      --dhchap-secret S    DH-HMAC-CHAP host secret, DHHC-1:xx:...: or a file holding it\n" \
	"      --dhchap-ctrl-secret S  controller secret: authenticate the controller too\n" \
	"      --tls --tls-key K    TLS 1.3 with the PSK K (NVMeTLSkey-1:xx:...: or a file)\n" \
	"  -v, --verbose            library log messages (repeat for more)\n"

/* Defaults for one-shot tools: no reconnect. */
void cli_conn_defaults(struct nvfab_ctrlr_opts *o);
/* Handles a connection option; false if opt is not one. Exits 2 on a bad value. */
bool cli_conn_option(const char *cmd, const char *usage, int opt, const char *arg,
		     struct nvfab_ctrlr_opts *o);

/* Prints "nvfab CMD: message", then the usage, and exits 2. */
void cli_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
/* For getopt's '?' and ':' returns. */
void cli_bad_option(const char *cmd, const char *usage, int opt, char **argv)
	__attribute__((noreturn));
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* -n NSID: 1..FFFFFFFEh, or a usage error (exit 2). */
uint32_t cli_parse_nsid(const char *cmd, const char *usage, const char *s);
uint64_t cli_parse_u64(const char *cmd, const char *usage, const char *what, const char *s);
int64_t cli_parse_i64(const char *cmd, const char *usage, const char *what, const char *s);
/* 4096, 4k, 128K, 1m, 1G (binary units). */
uint64_t cli_parse_size(const char *cmd, const char *usage, const char *what, const char *s);
void cli_parse_trid(const char *cmd, const char *usage, const char *s, struct nvfab_trid *t);
/* "normal" or "json". */
bool cli_parse_json_format(const char *cmd, const char *usage, const char *s);

/* Connects or prints the decoded reason and returns NULL. */
struct nvfab_ctrlr *cli_connect(const char *cmd, const struct nvfab_trid *t,
				const struct nvfab_ctrlr_opts *o);

/* Pretty-prints and releases obj. */
void cli_print_json(struct json_object *obj);
/* A fixed-width field of identify data (space padded, not NUL terminated) as a string. */
void cli_fixed_str(char *out, const char *field, size_t len);

#endif
