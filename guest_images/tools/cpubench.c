// SPDX-License-Identifier: GPL-2.0
/*
 * cpubench.c - tmemlab-cpubench: the per-page CPU work of a swap path, timed.
 *
 *   tmemlab-cpubench [--seconds S] [--pages N] [--seed N]
 *
 * Two kernels over a set of N 4 KiB pages (default 256, 1 MiB: cache
 * resident on host and guest alike), each run for S seconds (default 1):
 *
 *   memcpy  copy a page into a second buffer (what every copy on the
 *           tmem path costs: frontend slot, relay buffer, backend store);
 *   lz4     LZ4_compress_default() of a page (what zswap and the backend's
 *           compression cost), on pressure's default page mix.
 *
 * The same static binary runs inside the guest and on the host in one run
 * (harness/run/dilation.py); the ratio of the two is the guest's CPU slowdown
 * (TCG: 10-50x, KVM: about 1), the "time dilation" factor that scales the
 * disk limits so a TCG run keeps real hardware's CPU-to-disk cost ratio.
 *
 * Prints one JSON object:
 *   {"page_size": 4096, "pages": N, "seconds": S,
 *    "memcpy": {"ops": K, "ns_per_page": X},
 *    "lz4": {"ops": K, "ns_per_page": X, "ratio": R}}
 *
 * Exit status: 0 ok, 1 runtime error, 2 bad arguments (one line on stderr).
 */
#include <getopt.h>
#include <lz4.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "page.h"

#define NAME		"tmemlab-cpubench"
#define PAGE		4096
/* Clock reads are amortized over a batch: under TCG one costs microseconds. */
#define BATCH		64

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Keeps the compiler from dropping work whose result is otherwise unused. */
static volatile uint64_t sink;

struct timing {
	uint64_t ops;
	double seconds;
	uint64_t out_bytes;
};

static void bench_memcpy(unsigned char *src, unsigned char *dst, size_t pages,
			 double seconds, struct timing *t)
{
	double start = now_s(), end = start + seconds, now;
	uint64_t ops = 0;

	do {
		for (int i = 0; i < BATCH; i++, ops++) {
			size_t k = ops % pages;

			memcpy(dst + k * PAGE, src + k * PAGE, PAGE);
		}
		sink += dst[(ops % pages) * PAGE];
		now = now_s();
	} while (now < end);
	t->ops = ops;
	t->seconds = now - start;
}

static void bench_lz4(unsigned char *src, char *out, size_t pages, double seconds,
		      struct timing *t)
{
	int bound = LZ4_compressBound(PAGE);
	double start = now_s(), end = start + seconds, now;
	uint64_t ops = 0, bytes = 0;

	do {
		for (int i = 0; i < BATCH; i++, ops++) {
			size_t k = ops % pages;

			bytes += LZ4_compress_default((const char *)src + k * PAGE, out,
						      PAGE, bound);
		}
		now = now_s();
	} while (now < end);
	t->ops = ops;
	t->seconds = now - start;
	t->out_bytes = bytes;
}

static int usage(const char *why)
{
	fprintf(stderr, NAME ": %s (usage: " NAME " [--seconds S] [--pages N] [--seed N])\n",
		why);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"seconds", required_argument, NULL, 's'},
		{"pages", required_argument, NULL, 'p'},
		{"seed", required_argument, NULL, 'e'},
		{NULL, 0, NULL, 0},
	};
	/* pressure's default mix: what the swap path compresses in the experiments */
	const unsigned int mix[PAGE_KINDS] = {10, 10, 50, 30};
	double seconds = 1.0;
	long pages = 256;
	unsigned long long seed = 1;
	struct page_ctx ctx;
	struct timing cp, lz;
	unsigned char *src, *dst;
	char *out;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end = NULL;

		switch (c) {
		case 's':
			seconds = strtod(optarg, &end);
			if (*end || !(seconds > 0 && seconds <= 600))
				return usage("--seconds: expected 0 < S <= 600");
			break;
		case 'p':
			pages = strtol(optarg, &end, 10);
			if (*end || pages < 1 || pages > 65536)
				return usage("--pages: expected 1..65536");
			break;
		case 'e':
			seed = strtoull(optarg, &end, 10);
			if (*end)
				return usage("--seed: expected an integer");
			break;
		default:
			return usage("unknown option");
		}
	}
	if (optind != argc)
		return usage("unexpected argument");

	src = malloc((size_t)pages * PAGE);
	dst = malloc((size_t)pages * PAGE);
	out = malloc(LZ4_compressBound(PAGE));
	if (!src || !dst || !out || page_ctx_init(&ctx, PAGE, seed, mix)) {
		perror(NAME ": malloc");
		return 1;
	}
	for (long i = 0; i < pages; i++)
		page_fill(&ctx, src + i * PAGE, i, 1);
	memset(dst, 0, (size_t)pages * PAGE);

	bench_memcpy(src, dst, pages, seconds, &cp);
	bench_lz4(src, out, pages, seconds, &lz);

	printf("{\"page_size\": %d, \"pages\": %ld, \"seconds\": %g, "
	       "\"memcpy\": {\"ops\": %llu, \"ns_per_page\": %.3f}, "
	       "\"lz4\": {\"ops\": %llu, \"ns_per_page\": %.3f, \"ratio\": %.4f}}\n",
	       PAGE, pages, seconds,
	       (unsigned long long)cp.ops, cp.seconds * 1e9 / cp.ops,
	       (unsigned long long)lz.ops, lz.seconds * 1e9 / lz.ops,
	       lz.out_bytes ? (double)lz.ops * PAGE / lz.out_bytes : 0.0);
	page_ctx_destroy(&ctx);
	free(src);
	free(dst);
	free(out);
	return 0;
}
