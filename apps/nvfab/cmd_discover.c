/* nvfab discover: the discovery log, printed the way `nvme discover` prints it. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nvme/types.h>

#include "cli.h"
#include "commands.h"

static const char usage[] =
	"usage: nvfab discover -t tcp -a ADDR [-s PORT] [-q HOSTNQN] [-o normal|json]\n"
	"       nvfab discover -r TRID [-o normal|json]\n"
	"  -t, --transport TYPE     tcp (the only one)\n"
	"  -a, --traddr ADDR        discovery controller address\n"
	"  -s, --trsvcid PORT       port (default 8009, the discovery port)\n"
	"  -r, --trid TRID          the whole transport ID instead of -t/-a/-s\n"
	"  -o, --output-format FMT  normal or json\n" CLI_CONN_HELP;

static const char *trtype_str(uint8_t t)
{
	switch (t) {
	case NVMF_TRTYPE_RDMA: return "rdma";
	case NVMF_TRTYPE_FC: return "fc";
	case NVMF_TRTYPE_TCP: return "tcp";
	case NVMF_TRTYPE_LOOP: return "loop";
	default: return "unrecognized";
	}
}

static const char *adrfam_str(uint8_t a)
{
	switch (a) {
	case NVMF_ADDR_FAMILY_IP4: return "ipv4";
	case NVMF_ADDR_FAMILY_IP6: return "ipv6";
	case NVMF_ADDR_FAMILY_IB: return "infiniband";
	case NVMF_ADDR_FAMILY_FC: return "fibre-channel";
	case NVMF_ADDR_FAMILY_LOOP: return "loop";
	default: return "unrecognized";
	}
}

static const char *subtype_str(uint8_t s)
{
	switch (s) {
	case NVME_NQN_DISC: return "discovery subsystem referral";
	case NVME_NQN_NVME: return "nvme subsystem";
	case NVME_NQN_CURR: return "current discovery subsystem";
	default: return "unrecognized";
	}
}

static void treq_str(uint8_t t, char *buf, size_t len)
{
	static const char *const sec[] = {"not specified", "required", "not required", "reserved"};

	snprintf(buf, len, "%s%s", sec[t & 3],
		 (t & NVMF_TREQ_DISABLE_SQFLOW) ? ", sq flow control disable supported" : "");
}

static void eflags_str(uint16_t e, char *buf, size_t len)
{
	buf[0] = '\0';
	if (e & NVMF_DISC_EFLAGS_EPCSD)
		snprintf(buf + strlen(buf), len - strlen(buf), "%sexplicit discovery connections",
			 buf[0] ? ", " : "");
	if (e & NVMF_DISC_EFLAGS_DUPRETINFO)
		snprintf(buf + strlen(buf), len - strlen(buf), "%sduplicate discovery information",
			 buf[0] ? ", " : "");
	if (!buf[0])
		snprintf(buf, len, "none");
}

static const char *sectype_str(const struct nvmf_disc_log_entry *e)
{
	if (e->trtype != NVMF_TRTYPE_TCP)
		return "none";
	switch (e->tsas.tcp.sectype) {
	case NVMF_TCP_SECTYPE_NONE: return "none";
	case NVMF_TCP_SECTYPE_TLS: return "tls";
	case NVMF_TCP_SECTYPE_TLS13: return "tls13";
	default: return "unrecognized";
	}
}

static void print_normal(const struct nvmf_discovery_log *log)
{
	printf("\nDiscovery Log Number of Records %llu, Generation counter %llu\n",
	       (unsigned long long)log->numrec, (unsigned long long)log->genctr);
	for (uint64_t i = 0; i < log->numrec; i++) {
		const struct nvmf_disc_log_entry *e = &log->entries[i];
		char treq[96], eflags[96], s[NVMF_TRADDR_SIZE + 1];

		treq_str(e->treq, treq, sizeof(treq));
		eflags_str(e->eflags, eflags, sizeof(eflags));
		printf("=====Discovery Log Entry %llu======\n", (unsigned long long)i);
		printf("trtype:  %s\n", trtype_str(e->trtype));
		printf("adrfam:  %s\n", adrfam_str(e->adrfam));
		printf("subtype: %s\n", subtype_str(e->subtype));
		printf("treq:    %s\n", treq);
		printf("portid:  %u\n", e->portid);
		cli_fixed_str(s, e->trsvcid, sizeof(e->trsvcid));
		printf("trsvcid: %s\n", s);
		cli_fixed_str(s, e->subnqn, sizeof(e->subnqn));
		printf("subnqn:  %s\n", s);
		cli_fixed_str(s, e->traddr, sizeof(e->traddr));
		printf("traddr:  %s\n", s);
		printf("eflags:  %s\n", eflags);
		printf("sectype: %s\n", sectype_str(e));
	}
}

static void print_json(const struct nvmf_discovery_log *log)
{
	struct json_object *root = json_object_new_object(), *recs = json_object_new_array();
	char s[NVMF_TRADDR_SIZE + 1], buf[96];

	json_object_object_add(root, "genctr", json_object_new_uint64(log->genctr));
	for (uint64_t i = 0; i < log->numrec; i++) {
		const struct nvmf_disc_log_entry *e = &log->entries[i];
		struct json_object *r = json_object_new_object();

		json_object_object_add(r, "trtype", json_object_new_string(trtype_str(e->trtype)));
		json_object_object_add(r, "adrfam", json_object_new_string(adrfam_str(e->adrfam)));
		json_object_object_add(r, "subtype", json_object_new_string(subtype_str(e->subtype)));
		treq_str(e->treq, buf, sizeof(buf));
		json_object_object_add(r, "treq", json_object_new_string(buf));
		json_object_object_add(r, "portid", json_object_new_int(e->portid));
		cli_fixed_str(s, e->trsvcid, sizeof(e->trsvcid));
		json_object_object_add(r, "trsvcid", json_object_new_string(s));
		cli_fixed_str(s, e->subnqn, sizeof(e->subnqn));
		json_object_object_add(r, "subnqn", json_object_new_string(s));
		cli_fixed_str(s, e->traddr, sizeof(e->traddr));
		json_object_object_add(r, "traddr", json_object_new_string(s));
		eflags_str(e->eflags, buf, sizeof(buf));
		json_object_object_add(r, "eflags", json_object_new_string(buf));
		json_object_object_add(r, "sectype", json_object_new_string(sectype_str(e)));
		json_object_array_add(recs, r);
	}
	json_object_object_add(root, "records", recs);
	cli_print_json(root);
}

int cmd_discover(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"transport", required_argument, NULL, 't'},
		{"traddr", required_argument, NULL, 'a'},
		{"trsvcid", required_argument, NULL, 's'},
		{"trid", required_argument, NULL, 'r'},
		{"output-format", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		CLI_CONN_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "discover", *transport = NULL, *traddr = NULL, *trsvcid = NULL;
	struct nvmf_discovery_log *log;
	struct nvfab_ctrlr_opts o;
	struct nvfab_error err;
	struct nvfab_trid t;
	bool json = false, have_trid = false;
	int opt, rc;

	cli_conn_defaults(&o);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":t:a:s:r:o:hq:I:gGv", longopts, NULL)) != -1) {
		switch (opt) {
		case 't': transport = optarg; break;
		case 'a': traddr = optarg; break;
		case 's': trsvcid = optarg; break;
		case 'r':
			cli_parse_trid(cmd, usage, optarg, &t);
			have_trid = true;
			break;
		case 'o': json = cli_parse_json_format(cmd, usage, optarg); break;
		case 'h': fputs(usage, stdout); return CLI_EXIT_OK;
		default:
			if (!cli_conn_option(cmd, usage, opt, optarg, &o))
				cli_bad_option(cmd, usage, opt, argv);
		}
	}
	if (optind < argc)
		cli_usage_error(cmd, usage, "unexpected argument '%s'", argv[optind]);
	if (have_trid && (transport || traddr || trsvcid))
		cli_usage_error(cmd, usage, "give either -r or -t/-a/-s, not both");
	if (!have_trid) {
		char s[600];

		if (!transport)
			cli_usage_error(cmd, usage, "missing -t tcp");
		if (strcasecmp(transport, "tcp") != 0)
			cli_usage_error(cmd, usage, "transport '%s' not supported: tcp only", transport);
		if (!traddr)
			cli_usage_error(cmd, usage, "missing -a ADDR");
		snprintf(s, sizeof(s), "trtype:TCP traddr:%s trsvcid:%s", traddr,
			 trsvcid ? trsvcid : "8009");
		cli_parse_trid(cmd, usage, s, &t);
	}
	if (t.subnqn[0] && strcmp(t.subnqn, NVFAB_DISCOVERY_NQN) != 0)
		cli_usage_error(cmd, usage, "subnqn %s is not the discovery NQN", t.subnqn);

	rc = nvfab_discover(&t, &o, &log, &err);
	if (rc) {
		cli_error(cmd, "%s", err.msg);
		return CLI_EXIT_FAIL;
	}
	if (json)
		print_json(log);
	else
		print_normal(log);
	free(log);
	return CLI_EXIT_OK;
}
