/* The summary: per device and total, like spdk_nvme_perf, plus latency percentiles. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "perf.h"

static const double pcts[] = {50, 90, 99, 99.9, 99.99};
static const char *const pct_names[] = {"p50", "p90", "p99", "p99.9", "p99.99"};
static const char *const pct_keys[] = {"p50_us", "p90_us", "p99_us", "p99_9_us", "p99_99_us"};
#define NPCT (sizeof(pcts) / sizeof(pcts[0]))

struct perf_stats {
	const char *name;
	struct host_hist *hist;
	uint64_t reads, writes, errors, verify_errors;
};

static void stats_add(struct perf_stats *s, const struct perf_chan *ch)
{
	host_hist_merge(s->hist, ch->hist);
	s->reads += ch->reads;
	s->writes += ch->writes;
	s->errors += ch->errors;
	s->verify_errors += ch->verify_errors;
}

/* The non-empty buckets as [[low_ns, high_ns, count], ...], for plotting elsewhere. */
static struct json_object *hist_json(const struct host_hist *h)
{
	struct json_object *arr = json_object_new_array();

	for (uint32_t i = 0; i < HOST_HIST_BUCKETS; i++) {
		struct json_object *b;

		if (!h->buckets[i])
			continue;
		b = json_object_new_array();
		json_object_array_add(b, json_object_new_uint64(host_hist_bucket_low(i)));
		json_object_array_add(b, json_object_new_uint64(host_hist_bucket_high(i)));
		json_object_array_add(b, json_object_new_uint64(h->buckets[i]));
		json_object_array_add(arr, b);
	}
	return arr;
}

static struct json_object *stats_json(const struct perf_stats *s, double elapsed, uint32_t io_size)
{
	struct json_object *o = json_object_new_object();
	double iops = (double)s->hist->count / elapsed;

	json_object_object_add(o, "name", json_object_new_string(s->name));
	json_object_object_add(o, "iops", json_object_new_double(iops));
	json_object_object_add(o, "mibps", json_object_new_double(iops * io_size / 1048576.0));
	json_object_object_add(o, "avg_us", json_object_new_double(host_hist_mean(s->hist) / 1000.0));
	json_object_object_add(o, "min_us",
			       json_object_new_double(s->hist->count ? (double)s->hist->min / 1000.0 : 0));
	json_object_object_add(o, "max_us", json_object_new_double((double)s->hist->max / 1000.0));
	for (size_t i = 0; i < NPCT; i++)
		json_object_object_add(o, pct_keys[i], json_object_new_double(
			(double)host_hist_percentile(s->hist, pcts[i]) / 1000.0));
	json_object_object_add(o, "ios", json_object_new_uint64(s->hist->count));
	json_object_object_add(o, "reads", json_object_new_uint64(s->reads));
	json_object_object_add(o, "writes", json_object_new_uint64(s->writes));
	json_object_object_add(o, "errors", json_object_new_uint64(s->errors));
	json_object_object_add(o, "verify_errors", json_object_new_uint64(s->verify_errors));
	json_object_object_add(o, "histogram", hist_json(s->hist));
	return o;
}

static void print_row(const struct perf_stats *s, int width, double elapsed, uint32_t io_size)
{
	double iops = (double)s->hist->count / elapsed;

	printf("%-*s: %12.2f %10.2f %10.2f %10.2f %10.2f\n", width, s->name, iops,
	       iops * io_size / 1048576.0, host_hist_mean(s->hist) / 1000.0,
	       s->hist->count ? (double)s->hist->min / 1000.0 : 0.0, (double)s->hist->max / 1000.0);
}

static void print_pct_row(const struct perf_stats *s, int width)
{
	printf("%-*s:", width, s->name);
	for (size_t i = 0; i < NPCT; i++)
		printf(" %10.2f", (double)host_hist_percentile(s->hist, pcts[i]) / 1000.0);
	printf("\n");
}

void perf_report(struct perf_run *run, double elapsed)
{
	struct perf_config *cfg = &run->cfg;
	struct perf_stats *st = calloc(run->ndevs + 1, sizeof(*st));
	struct perf_stats *total = &st[run->ndevs];
	int width = 20;

	if (!st)
		return;
	if (elapsed <= 0)
		elapsed = 1e-9;
	for (uint32_t d = 0; d <= run->ndevs; d++) {
		st[d].name = d < run->ndevs ? run->devs[d].name : "Total";
		st[d].hist = malloc(sizeof(*st[d].hist));
		if (!st[d].hist)
			goto out;
		host_hist_init(st[d].hist);
		if ((int)strlen(st[d].name) > width)
			width = (int)strlen(st[d].name);
	}
	for (uint32_t w = 0; w < cfg->threads; w++) {
		for (uint32_t c = 0; c < run->workers[w].nchans; c++) {
			const struct perf_chan *ch = &run->workers[w].chans[c];

			if (!ch->hist)
				continue;
			stats_add(&st[ch->dev - run->devs], ch);
			stats_add(total, ch);
		}
	}

	printf("========================================================\n");
	/* Centred over the Average, min and max columns. */
	printf("%*s%s\n", width + 2 + 12 + 1 + 10 + 1 + 11, "", "Latency(us)");
	printf("%-*s: %12s %10s %10s %10s %10s\n", width, "Device Information", "IOPS", "MiB/s",
	       "Average", "min", "max");
	for (uint32_t d = 0; d < run->ndevs; d++)
		print_row(&st[d], width, elapsed, cfg->io_size);
	printf("========================================================\n");
	print_row(total, width, elapsed, cfg->io_size);
	printf("\n%-*s:", width, "Latency percentiles (us)");
	for (size_t i = 0; i < NPCT; i++)
		printf(" %10s", pct_names[i]);
	printf("\n");
	for (uint32_t d = 0; d < run->ndevs; d++)
		print_pct_row(&st[d], width);
	print_pct_row(total, width);
	if (total->errors || total->verify_errors || cfg->verify)
		printf("\nerrors: %llu I/O, %llu verify (reads %llu, writes %llu)\n",
		       (unsigned long long)total->errors, (unsigned long long)total->verify_errors,
		       (unsigned long long)total->reads, (unsigned long long)total->writes);
	fflush(stdout);

	if (cfg->json_path) {
		struct json_object *root = json_object_new_object(), *c = json_object_new_object();
		struct json_object *devs = json_object_new_array();

		json_object_object_add(c, "workload", json_object_new_string(cfg->workload));
		json_object_object_add(c, "read_pct", json_object_new_int(cfg->read_pct));
		json_object_object_add(c, "io_size", json_object_new_int64(cfg->io_size));
		json_object_object_add(c, "queue_depth", json_object_new_int64(cfg->depth));
		json_object_object_add(c, "threads", json_object_new_int64(cfg->threads));
		json_object_object_add(c, "qpairs_per_thread", json_object_new_int64(cfg->qpairs));
		json_object_object_add(c, "time_s", json_object_new_int64(cfg->time_s));
		json_object_object_add(c, "verify", json_object_new_boolean(cfg->verify));
		json_object_object_add(c, "mode", json_object_new_string(cfg->epoll ? "epoll" : "busy-poll"));
		json_object_object_add(root, "config", c);
		json_object_object_add(root, "elapsed_s", json_object_new_double(elapsed));
		for (uint32_t d = 0; d < run->ndevs; d++)
			json_object_array_add(devs, stats_json(&st[d], elapsed, cfg->io_size));
		json_object_object_add(root, "devices", devs);
		json_object_object_add(root, "total", stats_json(total, elapsed, cfg->io_size));
		if (json_object_to_file_ext(cfg->json_path, root, JSON_C_TO_STRING_PRETTY |
					    JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE))
			fprintf(stderr, "perf: cannot write %s: %s\n", cfg->json_path,
				json_util_get_last_err());
		json_object_put(root);
	}
out:
	for (uint32_t d = 0; d <= run->ndevs; d++)
		free(st[d].hist);
	free(st);
}
