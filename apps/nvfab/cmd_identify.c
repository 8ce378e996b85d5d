/* nvfab identify: Identify Controller / Namespace, printed like `nvme id-ctrl` / `nvme id-ns`. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <nvme/types.h>

#include "cli.h"
#include "commands.h"

static const char usage[] =
	"usage: nvfab identify -r TRID [-n NSID] [-o normal|json]\n"
	"  -r, --trid TRID          controller to ask (subnqn left out: the discovery controller)\n"
	"  -n, --namespace-id NSID  Identify Namespace NSID instead of the controller\n"
	"  -o, --output-format FMT  normal or json\n"
	"      --reauthenticate N   run DH-HMAC-CHAP again N times on the admin queue first\n"
	CLI_CONN_HELP;

enum fmt { DEC, HEX, STR, IEEE, U128, HEX_BYTES };

struct field {
	const char *name;
	size_t off, size;
	enum fmt fmt;
};

#define CF(n, f) {#n, offsetof(struct nvme_id_ctrl, n), sizeof(((struct nvme_id_ctrl *)0)->n), f}
#define NF(n, f) {#n, offsetof(struct nvme_id_ns, n), sizeof(((struct nvme_id_ns *)0)->n), f}

static const struct field ctrl_fields[] = {
	CF(vid, HEX), CF(ssvid, HEX), CF(sn, STR), CF(mn, STR), CF(fr, STR), CF(rab, DEC),
	CF(ieee, IEEE), CF(cmic, HEX), CF(mdts, DEC), CF(cntlid, HEX), CF(ver, HEX),
	CF(rtd3r, HEX), CF(rtd3e, HEX), CF(oaes, HEX), CF(ctratt, HEX), CF(rrls, HEX),
	CF(cntrltype, DEC), CF(fguid, HEX_BYTES), CF(crdt1, DEC), CF(crdt2, DEC), CF(crdt3, DEC),
	CF(nvmsr, DEC), CF(vwci, DEC), CF(mec, DEC), CF(oacs, HEX), CF(acl, DEC), CF(aerl, DEC),
	CF(frmw, HEX), CF(lpa, HEX), CF(elpe, DEC), CF(npss, DEC), CF(avscc, HEX), CF(apsta, HEX),
	CF(wctemp, DEC), CF(cctemp, DEC), CF(mtfa, DEC), CF(hmpre, DEC), CF(hmmin, DEC),
	CF(tnvmcap, U128), CF(unvmcap, U128), CF(rpmbs, DEC), CF(edstt, DEC), CF(dsto, DEC),
	CF(fwug, DEC), CF(kas, DEC), CF(hctma, HEX), CF(mntmt, DEC), CF(mxtmt, DEC),
	CF(sanicap, HEX), CF(hmminds, DEC), CF(hmmaxd, DEC), CF(nsetidmax, DEC),
	CF(endgidmax, DEC), CF(anatt, DEC), CF(anacap, DEC), CF(anagrpmax, DEC),
	CF(nanagrpid, DEC), CF(pels, DEC), CF(domainid, DEC), CF(sqes, HEX), CF(cqes, HEX),
	CF(maxcmd, DEC), CF(nn, DEC), CF(oncs, HEX), CF(fuses, HEX), CF(fna, HEX), CF(vwc, HEX),
	CF(awun, DEC), CF(awupf, DEC), CF(icsvscc, DEC), CF(nwpc, DEC), CF(acwu, DEC),
	CF(ocfs, HEX), CF(sgls, HEX), CF(mnan, DEC), CF(maxcna, DEC), CF(subnqn, STR),
	CF(ioccsz, DEC), CF(iorcsz, DEC), CF(icdoff, DEC), CF(fcatt, HEX), CF(msdbd, DEC),
	CF(ofcs, HEX),
};

static const struct field ns_fields[] = {
	NF(nsze, HEX), NF(ncap, HEX), NF(nuse, HEX), NF(nsfeat, HEX), NF(nlbaf, DEC),
	NF(flbas, HEX), NF(mc, HEX), NF(dpc, HEX), NF(dps, HEX), NF(nmic, HEX), NF(rescap, HEX),
	NF(fpi, HEX), NF(dlfeat, DEC), NF(nawun, DEC), NF(nawupf, DEC), NF(nacwu, DEC),
	NF(nabsn, DEC), NF(nabo, DEC), NF(nabspf, DEC), NF(noiob, DEC), NF(nvmcap, U128),
	NF(npwg, DEC), NF(npwa, DEC), NF(npdg, DEC), NF(npda, DEC), NF(nows, DEC), NF(mssrl, DEC),
	NF(mcl, DEC), NF(msrc, DEC), NF(nulbaf, DEC), NF(anagrpid, DEC), NF(nsattr, DEC),
	NF(nvmsetid, DEC), NF(endgid, DEC), NF(nguid, HEX_BYTES), NF(eui64, HEX_BYTES),
};

static uint64_t le_value(const uint8_t *p, size_t size)
{
	uint64_t v = 0;

	for (size_t i = size > 8 ? 8 : size; i > 0; i--)
		v = v << 8 | p[i - 1];
	return v;
}

/* The field as text (normal output) and as a JSON value. */
static struct json_object *field_value(const struct field *f, const uint8_t *base, char *text,
				       size_t len)
{
	const uint8_t *p = base + f->off;
	uint64_t v;

	switch (f->fmt) {
	case STR: {
		char s[512];

		cli_fixed_str(s, (const char *)p, f->size);
		snprintf(text, len, "%s", s);
		return json_object_new_string(s);
	}
	case IEEE:
		snprintf(text, len, "%02x%02x%02x", p[2], p[1], p[0]);
		return json_object_new_int((int32_t)(p[2] << 16 | p[1] << 8 | p[0]));
	case HEX_BYTES: {
		size_t n = 0;

		for (size_t i = 0; i < f->size && n + 3 < len; i++)
			n += (size_t)snprintf(text + n, len - n, "%02x", p[i]);
		return json_object_new_string(text);
	}
	case U128:
		/* Capacities beyond 2^64 bytes do not exist yet: the low half is the value. */
		v = le_value(p, 8);
		snprintf(text, len, "%llu", (unsigned long long)v);
		return json_object_new_uint64(v);
	case HEX:
		v = le_value(p, f->size);
		snprintf(text, len, "%#llx", (unsigned long long)v);
		return json_object_new_uint64(v);
	case DEC:
	default:
		v = le_value(p, f->size);
		snprintf(text, len, "%llu", (unsigned long long)v);
		return json_object_new_uint64(v);
	}
}

static void print_fields(const struct field *fields, size_t n, const void *data,
			 struct json_object *root)
{
	char text[600];

	for (size_t i = 0; i < n; i++) {
		struct json_object *v = field_value(&fields[i], data, text, sizeof(text));

		if (root)
			json_object_object_add(root, fields[i].name, v);
		else {
			printf("%-10s: %s\n", fields[i].name, text);
			json_object_put(v);
		}
	}
}

static void print_lbafs(const struct nvme_id_ns *ns, struct json_object *root)
{
	unsigned cur = (ns->flbas & NVME_NS_FLBAS_LOWER_MASK) |
		       (ns->nlbaf > 16 ? ((ns->flbas & NVME_NS_FLBAS_HIGHER_MASK) >> 5) << 4 : 0);
	struct json_object *arr = root ? json_object_new_array() : NULL;

	for (unsigned i = 0; i <= ns->nlbaf && i < 64; i++) {
		const struct nvme_lbaf *l = &ns->lbaf[i];

		if (arr) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "ms", json_object_new_int(l->ms));
			json_object_object_add(o, "ds", json_object_new_int(l->ds));
			json_object_object_add(o, "rp", json_object_new_int(l->rp));
			json_object_array_add(arr, o);
		} else {
			printf("lbaf %2u : ms:%-3u lbads:%-2u rp:%#x %s\n", i, l->ms, l->ds, l->rp,
			       i == cur ? "(in use)" : "");
		}
	}
	if (arr)
		json_object_object_add(root, "lbafs", arr);
}

int cmd_identify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"trid", required_argument, NULL, 'r'},
		{"namespace-id", required_argument, NULL, 'n'},
		{"output-format", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{"reauthenticate", required_argument, NULL, CLI_OPT_FIRST_FREE},
		CLI_CONN_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "identify";
	struct nvfab_ctrlr_opts o;
	struct nvfab_ctrlr *ctrlr;
	struct nvfab_trid t;
	struct nvfab_cpl cpl;
	bool json = false, have_trid = false;
	uint64_t nsid = 0, reauth = 0;
	void *buf = NULL;
	int opt, rc = CLI_EXIT_OK;

	cli_conn_defaults(&o);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":r:n:o:hq:I:gGv", longopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			cli_parse_trid(cmd, usage, optarg, &t);
			have_trid = true;
			break;
		case 'n':
			nsid = cli_parse_nsid(cmd, usage, optarg);
			break;
		case 'o': json = cli_parse_json_format(cmd, usage, optarg); break;
		case 'h': fputs(usage, stdout); return CLI_EXIT_OK;
		case CLI_OPT_FIRST_FREE:
			reauth = cli_parse_u64(cmd, usage, "--reauthenticate", optarg);
			if (reauth > 100)
				cli_usage_error(cmd, usage, "--reauthenticate %s: at most 100", optarg);
			break;
		default:
			if (!cli_conn_option(cmd, usage, opt, optarg, &o))
				cli_bad_option(cmd, usage, opt, argv);
		}
	}
	if (optind < argc)
		cli_usage_error(cmd, usage, "unexpected argument '%s'", argv[optind]);
	if (!have_trid)
		cli_usage_error(cmd, usage, "missing -r TRID");

	ctrlr = cli_connect(cmd, &t, &o);
	if (!ctrlr)
		return CLI_EXIT_FAIL;
	for (uint64_t i = 0; i < reauth; i++) {
		struct nvfab_error err;

		if (nvfab_ctrlr_reauthenticate(ctrlr, &err)) {
			cli_error(cmd, "re-authentication %llu: %s", (unsigned long long)i + 1, err.msg);
			nvfab_ctrlr_disconnect(ctrlr);
			return CLI_EXIT_FAIL;
		}
	}
	if (nsid) {
		char st[160];

		if (nvfab_ctrlr_is_discovery(ctrlr)) {
			cli_error(cmd, "a discovery controller has no namespaces (give subnqn in -r)");
			nvfab_ctrlr_disconnect(ctrlr);
			return CLI_EXIT_USAGE;
		}
		if (posix_memalign(&buf, 4096, 4096)) {
			nvfab_ctrlr_disconnect(ctrlr);
			return CLI_EXIT_FAIL;
		}
		if (nvfab_ctrlr_identify(ctrlr, NVME_IDENTIFY_CNS_NS, (uint32_t)nsid, buf, &cpl)) {
			cli_error(cmd, "Identify Namespace %llu: %s", (unsigned long long)nsid,
				  nvfab_cpl_str(&cpl, st, sizeof(st)));
			rc = CLI_EXIT_FAIL;
		} else if (json) {
			struct json_object *root = json_object_new_object();

			print_fields(ns_fields, sizeof(ns_fields) / sizeof(ns_fields[0]), buf, root);
			print_lbafs(buf, root);
			cli_print_json(root);
		} else {
			printf("NVME Identify Namespace %llu:\n", (unsigned long long)nsid);
			print_fields(ns_fields, sizeof(ns_fields) / sizeof(ns_fields[0]), buf, NULL);
			print_lbafs(buf, NULL);
		}
		free(buf);
	} else if (json) {
		struct json_object *root = json_object_new_object();

		print_fields(ctrl_fields, sizeof(ctrl_fields) / sizeof(ctrl_fields[0]),
			     nvfab_ctrlr_id(ctrlr), root);
		cli_print_json(root);
	} else {
		printf("NVME Identify Controller:\n");
		print_fields(ctrl_fields, sizeof(ctrl_fields) / sizeof(ctrl_fields[0]),
			     nvfab_ctrlr_id(ctrlr), NULL);
	}
	nvfab_ctrlr_disconnect(ctrlr);
	return rc;
}
