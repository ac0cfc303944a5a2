/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pressure.h - state shared by the pieces of the pressure workload.
 *
 *   pressure.c  threads, fill, access passes, main()
 *   args.c      command line
 *   inject.c    the corruption test hook
 *   report.c    the JSON result
 *   page.c      page contents and verification
 *   pattern.c   access patterns
 *   latency.c   latency histogram
 */
#ifndef TMEMLAB_PRESSURE_H
#define TMEMLAB_PRESSURE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "latency.h"
#include "page.h"
#include "pattern.h"

#define PRESSURE_NAME		"pressure"
#define PRESSURE_VERSION	1

/* Exit statuses, part of the harness contract. */
#define EXIT_RUNTIME	1	/* mmap failed, threads could not start... */
#define EXIT_USAGE	2	/* bad command line */
#define EXIT_CORRUPT	3	/* at least one page failed verification */

struct options {
	uint64_t size_bytes;	/* from --size, or ... */
	double size_pct;	/* ... --size-pct-of-ram when > 0 */
	unsigned int mix[PAGE_KINDS];
	enum access_pattern pattern;
	double zipf_theta;
	unsigned int passes;	/* 0: until --duration */
	double duration_s;	/* 0: no time limit */
	unsigned int threads;
	double write_ratio;
	uint64_t seed;
	bool progress;
	bool thp;
	bool final_verify;
};

struct pass_stat {
	double elapsed_s;
	uint64_t pages;
};

struct worker {
	struct run *run;
	pthread_t thread;
	unsigned int id;
	uint64_t first;		/* this thread's slice of the working set */
	uint64_t count;
	struct access_gen access;
	uint64_t rng;		/* write decisions */
	uint64_t pass_pages;	/* pages touched in the current pass */
	uint64_t kind_pages[PAGE_KINDS];
	uint64_t verified;
	uint64_t corrupted;
	uint64_t writes;
	struct lat_hist lat;
};

struct run {
	const struct options *opt;
	struct page_ctx page;
	unsigned char *mem;	/* the working set */
	uint8_t *gen;		/* current generation of each page */
	uint64_t npages;
	size_t page_size;

	struct worker *workers;
	pthread_barrier_t barrier;
	atomic_bool stop;	/* deadline or signal: end the current pass */
	bool more_passes;	/* decided by worker 0 between barriers */
	double deadline;	/* CLOCK_MONOTONIC seconds, 0 for none */
	atomic_uint reports;	/* corruptions printed so far */

	struct pass_stat *passes;
	unsigned int npasses;
	unsigned int passes_cap;

	double fill_elapsed_s;
	double final_verify_s;	/* < 0 when not run */
	bool interrupted;	/* stopped by SIGINT or SIGTERM */
	int error;		/* errno of a failure inside a worker */
};

/* args.c */
int parse_args(int argc, char **argv, struct options *opt);

/* inject.c */
int inject_from_env(struct run *run);

/* report.c */
void print_report(const struct run *run);

#endif /* TMEMLAB_PRESSURE_H */
