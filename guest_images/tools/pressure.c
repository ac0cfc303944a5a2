// SPDX-License-Identifier: GPL-2.0
/*
 * pressure.c - a verifying memory-pressure workload for tmemlab guests.
 *
 * The working set is an anonymous mapping meant to be larger than the
 * guest's RAM, so that most touches fault a page back in from swap, zswap
 * or a frontswap backend. Every page read is verified: the bugs worth
 * finding in those layers hand back the wrong page, an old copy of the
 * right one, or zeros, and a benchmark that only timed the accesses would
 * report them as fast.
 *
 * The run has three phases, each a set of threads started and joined:
 * fill, access passes, and an optional final verification. Each thread
 * owns a disjoint slice of pages and the matching bytes of the generation
 * array, so the hot path takes no locks and no atomics; threads meet only
 * at a barrier at the end of each pass, where worker 0 does the
 * bookkeeping.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "pressure.h"
#include "prng.h"

#define TAG_ACCESS	0x41434345ULL	/* "ACCE" */
#define TAG_WRITE	0x57524954ULL	/* "WRIT" */

/* One touch in 64 is timed: without a vDSO clocksource, each read is a syscall. */
#define SAMPLE_MASK	63
/* Accesses between checks of the deadline and of signals. */
#define STOP_CHECK_EVERY 256
/* Corruptions described on stderr; the rest are only counted. */
#define MAX_REPORTS	10

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static unsigned char *page_addr(const struct run *run, uint64_t index)
{
	return run->mem + index * run->page_size;
}

/* ---------------------------------------------------------------------
 * Touching one page
 */

static void report_corruption(struct run *run, uint64_t index,
			      const struct page_mismatch *why)
{
	unsigned int n = atomic_fetch_add(&run->reports, 1);

	if (n < MAX_REPORTS)
		fprintf(stderr, PRESSURE_NAME ": corrupted page %llu (%s, generation %u): "
			"%s at offset %zu: expected 0x%016llx got 0x%016llx\n",
			(unsigned long long)index,
			page_kind_name(page_kind_of(&run->page, index)),
			run->gen[index], why->what, why->offset,
			(unsigned long long)why->expected, (unsigned long long)why->got);
	else if (n == MAX_REPORTS)
		fprintf(stderr, PRESSURE_NAME ": more corrupted pages, not printed\n");
}

static void verify_page(struct worker *w, uint64_t index)
{
	struct run *run = w->run;
	struct page_mismatch why;

	w->verified++;
	if (page_verify(&run->page, page_addr(run, index), index, run->gen[index], &why))
		return;
	w->corrupted++;
	report_corruption(run, index, &why);
	/* Put the expected content back, so one corruption counts once. */
	page_fill(&run->page, page_addr(run, index), index, run->gen[index]);
}

static void touch(struct worker *w, uint64_t index)
{
	struct run *run = w->run;
	/* One draw decides both timing and writing, to keep the loop cheap. */
	uint64_t r = xorshift64s_next(&w->rng);
	/*
	 * Timed touches are picked at random, not every Nth: with seq and
	 * swap readahead, every Nth page would always be the one that
	 * faults and the others would never be timed.
	 */
	bool timed = (r & SAMPLE_MASK) == 0;
	uint64_t t0 = timed ? now_ns() : 0;

	verify_page(w, index);
	if (u64_to_unit(r) < run->opt->write_ratio) {
		run->gen[index]++;
		page_fill(&run->page, page_addr(run, index), index, run->gen[index]);
		w->writes++;
	}
	if (timed)
		lat_record(&w->lat, now_ns() - t0);
}

/* ---------------------------------------------------------------------
 * Phases
 */

static bool should_stop(struct run *run)
{
	if (got_signal)
		atomic_store(&run->stop, true);
	if (atomic_load_explicit(&run->stop, memory_order_relaxed))
		return true;
	if (run->deadline > 0 && now_s() >= run->deadline) {
		atomic_store(&run->stop, true);
		return true;
	}
	return false;
}

static void *fill_slice(void *arg)
{
	struct worker *w = arg;
	struct run *run = w->run;
	uint64_t i;

	/* A signal here skips the rest: the passes will not start anyway. */
	for (i = w->first; i < w->first + w->count && !got_signal; i++) {
		page_fill(&run->page, page_addr(run, i), i, 0);
		w->kind_pages[page_kind_of(&run->page, i)]++;
	}
	return NULL;
}

static void *verify_slice(void *arg)
{
	struct worker *w = arg;
	uint64_t i;

	for (i = w->first; i < w->first + w->count && !got_signal; i++)
		verify_page(w, i);
	return NULL;
}

/* One pass: as many touches as the slice has pages, unless stopped. */
static void run_pass(struct worker *w)
{
	struct run *run = w->run;
	uint64_t i;

	for (i = 0; i < w->count; i++) {
		if (i % STOP_CHECK_EVERY == 0 && should_stop(run))
			break;
		touch(w, w->first + access_next(&w->access));
	}
	w->pass_pages = i;
}

static int record_pass(struct run *run, const struct pass_stat *ps)
{
	if (run->npasses == run->passes_cap) {
		unsigned int cap = run->passes_cap ? 2 * run->passes_cap : 16;
		struct pass_stat *p = realloc(run->passes, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		run->passes = p;
		run->passes_cap = cap;
	}
	run->passes[run->npasses++] = *ps;
	return 0;
}

/* Worker 0, between barriers: record the pass and decide on the next. */
static void end_pass(struct run *run, double t0)
{
	const struct options *opt = run->opt;
	struct pass_stat ps = { .elapsed_s = now_s() - t0 };
	uint64_t corrupted = 0;
	unsigned int t;

	for (t = 0; t < opt->threads; t++) {
		ps.pages += run->workers[t].pass_pages;
		corrupted += run->workers[t].corrupted;
	}
	if (run->deadline > 0 && now_s() >= run->deadline)
		atomic_store(&run->stop, true);

	/* A pass cut short before its first touch is not a pass. */
	if (ps.pages && record_pass(run, &ps)) {
		run->error = ENOMEM;
		run->more_passes = false;
		return;
	}
	if (ps.pages && opt->progress)
		fprintf(stderr, PRESSURE_NAME ": pass %u: %llu pages in %.3f s, "
			"%.0f pages/s, %llu corrupted so far\n", run->npasses,
			(unsigned long long)ps.pages, ps.elapsed_s,
			ps.elapsed_s > 0 ? ps.pages / ps.elapsed_s : 0.0,
			(unsigned long long)corrupted);
	run->more_passes = !atomic_load(&run->stop) &&
			   (!opt->passes || run->npasses < opt->passes);
}

static void *access_slice(void *arg)
{
	struct worker *w = arg;
	struct run *run = w->run;
	double t0 = now_s();

	for (;;) {
		run_pass(w);
		pthread_barrier_wait(&run->barrier);
		if (w->id == 0)
			end_pass(run, t0);
		pthread_barrier_wait(&run->barrier);
		if (!run->more_passes)
			return NULL;
		if (w->id == 0)
			t0 = now_s();
	}
}

/* Run @fn on every worker in its own thread and wait for all of them. */
static int run_workers(struct run *run, void *(*fn)(void *))
{
	unsigned int t;
	int err;

	for (t = 0; t < run->opt->threads; t++) {
		err = pthread_create(&run->workers[t].thread, NULL, fn, &run->workers[t]);
		if (err) {
			/* Workers may be waiting in a barrier for this one. */
			fprintf(stderr, PRESSURE_NAME ": cannot start thread: %s\n",
				strerror(err));
			exit(EXIT_RUNTIME);
		}
	}
	for (t = 0; t < run->opt->threads; t++)
		pthread_join(run->workers[t].thread, NULL);
	return run->error;
}

/* ---------------------------------------------------------------------
 * Setup
 */

/* MemTotal from /proc/meminfo, in bytes; 0 if unreadable. */
static uint64_t mem_total_bytes(void)
{
	unsigned long long kib = 0;
	char line[256];
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return (uint64_t)kib * 1024;
}

/* Pages in the working set, from --size or --size-pct-of-ram. */
static int size_working_set(const struct options *opt, size_t ps, uint64_t *npages)
{
	uint64_t size = opt->size_bytes;

	if (opt->size_pct > 0) {
		uint64_t total = mem_total_bytes();

		if (!total) {
			fprintf(stderr, PRESSURE_NAME ": cannot read MemTotal from /proc/meminfo\n");
			return EXIT_RUNTIME;
		}
		size = (uint64_t)((double)total * opt->size_pct / 100);
	}
	*npages = size / ps;
	if (*npages < opt->threads) {
		fprintf(stderr, PRESSURE_NAME ": working set of %llu bytes is smaller than "
			"one %zu-byte page per thread\n", (unsigned long long)size, ps);
		return EXIT_USAGE;
	}
	return 0;
}

static int map_working_set(struct run *run)
{
	size_t len = run->npages * run->page_size;

	/*
	 * MAP_NORESERVE: the set is meant to exceed RAM, and under the
	 * default heuristic overcommit a large reservation could be refused
	 * even though swap will hold it. Not mlocked, of course: getting it
	 * swapped out is the point.
	 */
	run->mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (run->mem == MAP_FAILED) {
		fprintf(stderr, PRESSURE_NAME ": cannot map %zu bytes: %s\n", len,
			strerror(errno));
		return EXIT_RUNTIME;
	}
	/*
	 * Huge pages would be swapped (and split) in 2 MiB units, which is
	 * not what a 4K swap path measurement wants. A kernel without THP
	 * rejects the advice, which is then moot, so only --thp complains.
	 */
	if (madvise(run->mem, len, run->opt->thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) &&
	    run->opt->thp)
		fprintf(stderr, PRESSURE_NAME ": warning: madvise(MADV_HUGEPAGE): %s\n",
			strerror(errno));
	return 0;
}

/* Give each worker its slice and its own seeded streams. */
static void init_workers(struct run *run)
{
	const struct options *opt = run->opt;
	unsigned int t;

	for (t = 0; t < opt->threads; t++) {
		struct worker *w = &run->workers[t];
		uint64_t next = run->npages * (t + 1) / opt->threads;

		w->run = run;
		w->id = t;
		w->first = run->npages * t / opt->threads;
		w->count = next - w->first;
		w->rng = hash3(opt->seed, t, TAG_WRITE) | 1;
		access_init(&w->access, opt->pattern, w->count, opt->zipf_theta,
			    hash3(opt->seed, t, TAG_ACCESS));
	}
}

/* Turn the options into a sized, mapped, empty working set. */
static int setup(struct run *run, const struct options *opt)
{
	int err;

	memset(run, 0, sizeof(*run));
	run->opt = opt;
	run->page_size = sysconf(_SC_PAGESIZE);
	run->final_verify_s = -1;

	err = size_working_set(opt, run->page_size, &run->npages);
	if (err)
		return err;
	err = page_ctx_init(&run->page, run->page_size, opt->seed, opt->mix);
	if (err) {
		fprintf(stderr, PRESSURE_NAME ": cannot set up pages: %s\n", strerror(-err));
		return EXIT_RUNTIME;
	}
	err = map_working_set(run);
	if (err)
		return err;

	/* Our own state: one byte per page, hot enough to stay resident. */
	run->gen = calloc(run->npages, 1);
	run->workers = calloc(opt->threads, sizeof(*run->workers));
	if (!run->gen || !run->workers) {
		fprintf(stderr, PRESSURE_NAME ": out of memory for bookkeeping\n");
		return EXIT_RUNTIME;
	}
	init_workers(run);
	pthread_barrier_init(&run->barrier, NULL, opt->threads);
	return 0;
}

static void install_signals(void)
{
	struct sigaction sa;

	/* No SA_RESTART needed: nothing blocks; the passes poll the flag. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static int run_phases(struct run *run)
{
	const struct options *opt = run->opt;
	double t0 = now_s();
	int err;

	run_workers(run, fill_slice);
	run->fill_elapsed_s = now_s() - t0;
	if (opt->progress)
		fprintf(stderr, PRESSURE_NAME ": filled %llu pages in %.3f s\n",
			(unsigned long long)run->npages, run->fill_elapsed_s);

	if (inject_from_env(run))
		return EXIT_USAGE;

	if (opt->duration_s > 0)
		run->deadline = now_s() + opt->duration_s;
	err = run_workers(run, access_slice);
	if (err) {
		fprintf(stderr, PRESSURE_NAME ": %s\n", strerror(err));
		return EXIT_RUNTIME;
	}

	if (opt->final_verify && !got_signal) {
		t0 = now_s();
		run_workers(run, verify_slice);
		run->final_verify_s = now_s() - t0;
	}
	run->interrupted = got_signal;
	return 0;
}

int main(int argc, char **argv)
{
	struct options opt;
	struct run run;
	unsigned int t;
	int rc;

	rc = parse_args(argc, argv, &opt);
	if (rc)
		return rc > 0 ? 0 : EXIT_USAGE;

	rc = setup(&run, &opt);
	if (rc)
		return rc;
	install_signals();
	rc = run_phases(&run);
	if (rc)
		return rc;

	print_report(&run);
	for (t = 0; t < opt.threads; t++)
		if (run.workers[t].corrupted)
			return EXIT_CORRUPT;
	return 0;
}
