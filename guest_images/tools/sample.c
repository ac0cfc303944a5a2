// SPDX-License-Identifier: GPL-2.0
/*
 * sample.c - tmemlab-sample: print counter files at a fixed interval.
 *
 *   tmemlab-sample [--interval-ms MS] [--count N] FILE|DIR...
 *
 * It runs beside the pressure workload and has to keep sampling while the
 * guest swaps hard, so it locks itself in memory, allocates nothing once
 * started, keeps its files open and re-reads each with pread() from offset
 * 0: proc seq_files, sysfs and debugfs attributes regenerate their content
 * on every read from 0. A directory argument (e.g. /sys/kernel/debug/zswap)
 * stands for the regular files in it, listed once at startup.
 *
 * Each interval prints one record, flushed as a whole:
 *
 *   === <CLOCK_MONOTONIC seconds> <CLOCK_REALTIME seconds>
 *   --- <path>
 *   <content, always newline-terminated>
 *   --- <path that cannot be read>
 *   !!! <strerror text>
 *   === end
 *
 * SIGTERM, SIGINT and a closed stdout end it with status 0.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NAME		"tmemlab-sample"
#define MAX_SOURCES	1024
#define PATH_POOL	(128 * 1024)
#define OUT_BUF		(256 * 1024)

struct source {
	const char *path;
	int fd;			/* -1 until open() succeeds */
	int nonseekable;	/* debugfs attributes refuse pread(): reopen + read() */
};

static struct source sources[MAX_SOURCES];
static unsigned int nsources;
static char path_pool[PATH_POOL];
static size_t path_used;
static char out[OUT_BUF];
static size_t out_len;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void die(int status, const char *fmt, const char *arg)
{
	fprintf(stderr, NAME ": ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(status);
}

/* ---------------------------------------------------------------------
 * Sources
 */

static void add_source(const char *dir, const char *name)
{
	size_t len = strlen(dir) + 1 + (name ? strlen(name) : 0) + 1;
	char *p = path_pool + path_used;

	if (nsources == MAX_SOURCES || len > PATH_POOL - path_used)
		die(2, "too many files (%s)", dir);
	if (name)
		snprintf(p, len, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
	else
		strcpy(p, dir);
	path_used += strlen(p) + 1;
	sources[nsources].path = p;
	sources[nsources].fd = -1;
	nsources++;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct source *)a)->path, ((const struct source *)b)->path);
}

static bool is_regular(int dfd, const struct dirent *de)
{
	struct stat st;

	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_REG;
	return !fstatat(dfd, de->d_name, &st, 0) && S_ISREG(st.st_mode);
}

/*
 * A directory becomes its regular files, sorted so records list them in a
 * stable order. One that cannot be listed stays a single source, whose
 * reads then report the error in every record.
 */
static void add_arg(const char *arg)
{
	unsigned int first = nsources;
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (stat(arg, &st) || !S_ISDIR(st.st_mode) || !(d = opendir(arg))) {
		add_source(arg, NULL);
		return;
	}
	while ((de = readdir(d)))
		if (is_regular(dirfd(d), de))
			add_source(arg, de->d_name);
	closedir(d);
	qsort(sources + first, nsources - first, sizeof(*sources), by_path);
}

/* ---------------------------------------------------------------------
 * Output, into one static buffer
 */

static void flush_out(void)
{
	size_t done = 0;

	while (done < out_len) {
		ssize_t n = write(STDOUT_FILENO, out + done, out_len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			exit(errno == EPIPE ? 0 : 1);	/* reader went away: done */
		done += n;
	}
	out_len = 0;
}

static void put(const char *s)
{
	size_t len = strlen(s);

	if (len > OUT_BUF - out_len)
		flush_out();
	memcpy(out + out_len, s, len);
	out_len += len;
}

static void put_error(int err)
{
	put("!!! ");
	put(strerror(err));
	put("\n");
}

/* The content of @src, read straight into the output buffer. */
static void put_source(struct source *src)
{
	off_t off = 0;
	char last = '\n';
	ssize_t n;

	put("--- ");
	put(src->path);
	put("\n");
	if (src->fd < 0)
		src->fd = open(src->path, O_RDONLY | O_CLOEXEC);
	if (src->fd < 0) {
		put_error(errno);
		return;
	}
	for (;;) {
		if (out_len == OUT_BUF)
			flush_out();
		if (src->nonseekable)
			n = read(src->fd, out + out_len, OUT_BUF - out_len);
		else
			n = pread(src->fd, out + out_len, OUT_BUF - out_len, off);
		if (n < 0 && errno == EINTR)
			continue;
		/*
		 * debugfs attributes (zswap, frontswap counters) are opened
		 * nonseekable, so pread() fails with ESPIPE: from then on read
		 * such a file sequentially from a fresh open every interval.
		 */
		if (n < 0 && errno == ESPIPE && off == 0 && !src->nonseekable) {
			src->nonseekable = 1;
			continue;
		}
		if (n <= 0)
			break;
		out_len += n;
		off += n;
		last = out[out_len - 1];
	}
	/* Keep the next "---" or "===" at the start of a line. */
	if (last != '\n')
		put("\n");
	if (n < 0)
		put_error(errno);
	if (src->nonseekable) {
		close(src->fd);
		src->fd = -1;
	}
}

static void put_record(void)
{
	struct timespec mono, real;
	char line[96];
	unsigned int i;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	snprintf(line, sizeof(line), "=== %lld.%06ld %lld.%06ld\n",
		 (long long)mono.tv_sec, mono.tv_nsec / 1000,
		 (long long)real.tv_sec, real.tv_nsec / 1000);
	put(line);
	for (i = 0; i < nsources; i++)
		put_source(&sources[i]);
	put("=== end\n");
	flush_out();
}

/* ---------------------------------------------------------------------
 * Command line and main loop
 */

static const char usage[] =
"usage: tmemlab-sample [--interval-ms MS] [--count N] FILE|DIR...\n"
"\n"
"Every MS milliseconds (default 1000) print a record with the content of\n"
"each FILE, and of each regular file in each DIR; stop after N records\n"
"(default: until SIGTERM or SIGINT).\n";

static unsigned long long parse_count(const char *opt, const char *arg, unsigned long long min)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (*arg < '0' || *arg > '9' || *end || errno || v < min || v > 86400000ULL * 365)
		die(2, "invalid %s (expected a whole number)", opt);
	return v;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: wake the sleep */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* A closed pipe shows up as EPIPE from write() and ends us there. */
	signal(SIGPIPE, SIG_IGN);
}

/* Sleep until @deadline (CLOCK_MONOTONIC); false if a signal said stop. */
static bool sleep_until(const struct timespec *deadline)
{
	while (!stop) {
		int err = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, deadline, NULL);

		if (!err)
			return !stop;
		if (err != EINTR)
			return false;
	}
	return false;
}

/*
 * Ticks are kept on a fixed grid from the start, so records do not drift;
 * when a record takes longer than the interval (the guest is thrashing),
 * the missed ticks are skipped rather than made up in a burst.
 */
static void advance(struct timespec *tick, unsigned long long interval_ns)
{
	unsigned long long t, now_ns;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	now_ns = now.tv_sec * 1000000000ULL + now.tv_nsec;
	t = tick->tv_sec * 1000000000ULL + tick->tv_nsec + interval_ns;
	if (t <= now_ns)
		t += (now_ns - t) / interval_ns * interval_ns + interval_ns;
	tick->tv_sec = t / 1000000000ULL;
	tick->tv_nsec = t % 1000000000ULL;
}

int main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "interval-ms",	required_argument,	NULL, 'i' },
		{ "count",		required_argument,	NULL, 'c' },
		{ "help",		no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long interval_ms = 1000, count = 0, n;
	struct timespec tick;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:", long_options, NULL)) != -1) {
		switch (c) {
		case 'i':
			interval_ms = parse_count("--interval-ms", optarg, 1);
			break;
		case 'c':
			count = parse_count("--count", optarg, 1);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case ':':
			die(2, "missing value for '%s'", argv[optind - 1]);
			break;
		default:
			die(2, "unrecognized option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind == argc)
		die(2, "%s", "no FILE given (see --help)");
	for (; optind < argc; optind++)
		add_arg(argv[optind]);

	/* Page faults on our own text or buffers would stall the samples. */
	if (mlockall(MCL_CURRENT | MCL_FUTURE))
		fprintf(stderr, NAME ": warning: mlockall: %s\n", strerror(errno));
	install_signals();

	clock_gettime(CLOCK_MONOTONIC, &tick);
	for (n = 0; !count || n < count; n++) {
		if (n && !sleep_until(&tick))
			break;
		put_record();
		advance(&tick, interval_ms * 1000000ULL);
	}
	return 0;
}
