// SPDX-License-Identifier: GPL-2.0
/*
 * report.c - the one JSON object pressure prints on stdout.
 *
 * The keys are a contract with the harness (docs/RESULTS.md stores this
 * object as a run's "result"); add keys, never rename them. Throughput
 * covers the access passes only; the fill is reported on its own.
 */
#include <stdio.h>

#include "pressure.h"

struct totals {
	uint64_t kind_pages[PAGE_KINDS];
	uint64_t verified;
	uint64_t corrupted;
	uint64_t writes;
	uint64_t pages;		/* touched in the passes */
	double elapsed_s;	/* of the passes */
	struct lat_hist lat;
};

static double rate(double amount, double seconds)
{
	return seconds > 0 ? amount / seconds : 0.0;	/* JSON has no inf */
}

static void sum_up(const struct run *run, struct totals *tot)
{
	unsigned int t, k;

	for (t = 0; t < run->opt->threads; t++) {
		const struct worker *w = &run->workers[t];

		for (k = 0; k < PAGE_KINDS; k++)
			tot->kind_pages[k] += w->kind_pages[k];
		tot->verified += w->verified;
		tot->corrupted += w->corrupted;
		tot->writes += w->writes;
		lat_merge(&tot->lat, &w->lat);
	}
	for (t = 0; t < run->npasses; t++) {
		tot->pages += run->passes[t].pages;
		tot->elapsed_s += run->passes[t].elapsed_s;
	}
}

static void print_kinds(const char *key, const uint64_t *v64, const unsigned int *v32)
{
	unsigned int k;

	printf("\"%s\":{", key);
	for (k = 0; k < PAGE_KINDS; k++)
		printf("%s\"%s\":%llu", k ? "," : "", page_kind_name(k),
		       (unsigned long long)(v64 ? v64[k] : v32[k]));
	printf("},");
}

static void print_passes(const struct run *run)
{
	unsigned int i;

	printf("\"passes\":[");
	for (i = 0; i < run->npasses; i++) {
		const struct pass_stat *p = &run->passes[i];

		printf("%s{\"pass\":%u,\"elapsed_s\":%.6f,\"pages\":%llu,"
		       "\"pages_per_sec\":%.1f,\"bytes_per_sec\":%.1f}",
		       i ? "," : "", i + 1, p->elapsed_s, (unsigned long long)p->pages,
		       rate(p->pages, p->elapsed_s),
		       rate((double)p->pages * run->page_size, p->elapsed_s));
	}
	printf("],");
}

static void print_latency(const struct lat_hist *lat)
{
	printf("\"latency_us\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,"
	       "\"max\":%.3f,\"samples\":%llu},",
	       lat_quantile(lat, 0.50) / 1e3, lat_quantile(lat, 0.90) / 1e3,
	       lat_quantile(lat, 0.99) / 1e3, lat_quantile(lat, 0.999) / 1e3,
	       lat->max_ns / 1e3, (unsigned long long)lat->samples);
}

void print_report(const struct run *run)
{
	const struct options *opt = run->opt;
	/* static: starts zeroed, and keeps the 30 KiB histogram off the stack */
	static struct totals tot;

	sum_up(run, &tot);
	printf("{\"workload\":\"" PRESSURE_NAME "\",\"version\":%d,", PRESSURE_VERSION);
	printf("\"size_bytes\":%llu,\"pages\":%llu,\"page_size\":%zu,\"threads\":%u,",
	       (unsigned long long)(run->npages * run->page_size),
	       (unsigned long long)run->npages, run->page_size, opt->threads);
	printf("\"pattern\":\"%s\",\"zipf_theta\":%g,\"write_ratio\":%g,",
	       pattern_name(opt->pattern), opt->zipf_theta, opt->write_ratio);
	print_kinds("mix", NULL, opt->mix);
	print_kinds("page_kinds", tot.kind_pages, NULL);
	printf("\"seed\":%llu,\"thp\":%s,", (unsigned long long)opt->seed,
	       opt->thp ? "true" : "false");
	printf("\"fill_elapsed_s\":%.6f,\"elapsed_s\":%.6f,\"bytes_per_sec\":%.1f,"
	       "\"pages_per_sec\":%.1f,", run->fill_elapsed_s, tot.elapsed_s,
	       rate((double)tot.pages * run->page_size, tot.elapsed_s),
	       rate(tot.pages, tot.elapsed_s));
	print_passes(run);
	print_latency(&tot.lat);
	printf("\"verified_pages\":%llu,\"corrupted_pages\":%llu,\"writes\":%llu,",
	       (unsigned long long)tot.verified, (unsigned long long)tot.corrupted,
	       (unsigned long long)tot.writes);
	if (run->final_verify_s >= 0)
		printf("\"final_verify_elapsed_s\":%.6f,", run->final_verify_s);
	else
		printf("\"final_verify_elapsed_s\":null,");
	printf("\"interrupted\":%s}\n", run->interrupted ? "true" : "false");
	fflush(stdout);
}
