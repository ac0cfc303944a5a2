// SPDX-License-Identifier: GPL-2.0
/*
 * args.c - command line of the pressure workload.
 *
 * Every rejection is one line on stderr and exit status 2, so the harness
 * can tell a bad experiment file from a failing guest.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pressure.h"

static const char usage[] =
"usage: pressure (--size SIZE | --size-pct-of-ram PCT) [options]\n"
"\n"
"Fill an anonymous working set with verifiable pages, then touch it in\n"
"passes, verifying every page read. Prints one JSON object on stdout.\n"
"\n"
"  --size SIZE             working set, bytes with optional K/M/G/T suffix\n"
"  --size-pct-of-ram PCT   working set as a percentage of MemTotal\n"
"  --mix SPEC              page kinds in percent, summing to 100\n"
"                          (default zero=10,dup=10,text=50,random=30)\n"
"  --pattern P             seq | random | zipf (default seq)\n"
"  --zipf-theta T          Zipf exponent, >= 0 (default 0.99)\n"
"  --passes N              passes over the working set (default 1)\n"
"  --duration SECONDS      stop after this long; with --passes, whichever\n"
"                          comes first\n"
"  --threads T             worker threads, each owning a slice (default 1)\n"
"  --write-ratio R         fraction of touches that rewrite the page with a\n"
"                          new generation, 0..1 (default 0.2)\n"
"  --seed N                content and access seed (default 1)\n"
"  --final-verify          verify every page once more after the passes\n"
"  --thp                   allow transparent huge pages (default: 4K only)\n"
"  --progress              one line per pass on stderr\n"
"  --help                  this text\n"
"\n"
"Exit status: 0 ok, 1 runtime error, 2 bad arguments, 3 corrupted pages.\n";

enum {
	OPT_SIZE = 256, OPT_SIZE_PCT, OPT_MIX, OPT_PATTERN, OPT_ZIPF_THETA,
	OPT_PASSES, OPT_DURATION, OPT_THREADS, OPT_WRITE_RATIO, OPT_SEED,
	OPT_FINAL_VERIFY, OPT_THP, OPT_PROGRESS, OPT_HELP,
};

static const struct option long_options[] = {
	{ "size",		required_argument,	NULL, OPT_SIZE },
	{ "size-pct-of-ram",	required_argument,	NULL, OPT_SIZE_PCT },
	{ "mix",		required_argument,	NULL, OPT_MIX },
	{ "pattern",		required_argument,	NULL, OPT_PATTERN },
	{ "zipf-theta",		required_argument,	NULL, OPT_ZIPF_THETA },
	{ "passes",		required_argument,	NULL, OPT_PASSES },
	{ "duration",		required_argument,	NULL, OPT_DURATION },
	{ "threads",		required_argument,	NULL, OPT_THREADS },
	{ "write-ratio",	required_argument,	NULL, OPT_WRITE_RATIO },
	{ "seed",		required_argument,	NULL, OPT_SEED },
	{ "final-verify",	no_argument,		NULL, OPT_FINAL_VERIFY },
	{ "thp",		no_argument,		NULL, OPT_THP },
	{ "progress",		no_argument,		NULL, OPT_PROGRESS },
	{ "help",		no_argument,		NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static int bad(const char *opt, const char *arg, const char *expected)
{
	fprintf(stderr, PRESSURE_NAME ": invalid %s '%s' (expected %s)\n",
		opt, arg, expected);
	return -1;
}

static int parse_size(const char *arg, uint64_t *out)
{
	static const char suffixes[] = "kmgt";
	unsigned long long v;
	const char *s;
	char *end;

	if (*arg < '0' || *arg > '9')
		return -1;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno)
		return -1;
	if (*end) {
		s = strchr(suffixes, end[0] | 0x20);
		if (!s || end[1])
			return -1;
		for (; s >= suffixes; s--) {
			if (v > UINT64_MAX / 1024)
				return -1;
			v *= 1024;
		}
	}
	*out = v;
	return 0;
}

static int parse_double(const char *arg, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !isfinite(v) || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int parse_uint(const char *arg, unsigned long long lo, unsigned long long hi,
		      unsigned long long *out)
{
	unsigned long long v;
	char *end;

	if (*arg < '0' || *arg > '9')
		return -1;
	errno = 0;
	v = strtoull(arg, &end, 0);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* "zero=10,dup=20,text=40,random=30"; kinds left out get 0. */
static int parse_mix(const char *arg, unsigned int mix[PAGE_KINDS])
{
	bool seen[PAGE_KINDS] = { false };
	unsigned int sum = 0;
	char buf[256], *item, *save;

	if (strlen(arg) >= sizeof(buf))
		return -1;
	strcpy(buf, arg);
	memset(mix, 0, PAGE_KINDS * sizeof(*mix));
	for (item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		unsigned long long pct;
		int kind;

		if (!eq)
			return -1;
		*eq = '\0';
		for (kind = 0; kind < PAGE_KINDS; kind++)
			if (!strcmp(item, page_kind_name(kind)))
				break;
		if (kind == PAGE_KINDS || seen[kind] || parse_uint(eq + 1, 0, 100, &pct))
			return -1;
		seen[kind] = true;
		mix[kind] = pct;
		sum += pct;
	}
	return sum == 100 ? 0 : -1;
}

static void set_defaults(struct options *opt)
{
	static const unsigned int default_mix[PAGE_KINDS] = {
		[PAGE_ZERO] = 10, [PAGE_DUP] = 10, [PAGE_TEXT] = 50, [PAGE_RANDOM] = 30,
	};

	memset(opt, 0, sizeof(*opt));
	memcpy(opt->mix, default_mix, sizeof(default_mix));
	opt->pattern = PATTERN_SEQ;
	opt->zipf_theta = 0.99;
	opt->threads = 1;
	opt->write_ratio = 0.2;
	opt->seed = 1;
}

/* One option; returns 0 or -1 after printing why. */
static int parse_one(int c, const char *arg, struct options *opt)
{
	unsigned long long u;
	int p;

	switch (c) {
	case OPT_SIZE:
		if (parse_size(arg, &opt->size_bytes) || !opt->size_bytes)
			return bad("--size", arg, "a positive size like 512M");
		opt->size_pct = 0;
		return 0;
	case OPT_SIZE_PCT:
		if (parse_double(arg, 1e-6, 1e6, &opt->size_pct) || opt->size_pct <= 0)
			return bad("--size-pct-of-ram", arg, "a positive percentage");
		opt->size_bytes = 0;
		return 0;
	case OPT_MIX:
		if (parse_mix(arg, opt->mix))
			return bad("--mix", arg, "zero=N,dup=N,text=N,random=N summing to 100");
		return 0;
	case OPT_PATTERN:
		p = pattern_from_name(arg);
		if (p < 0)
			return bad("--pattern", arg, "seq, random or zipf");
		opt->pattern = p;
		return 0;
	case OPT_ZIPF_THETA:
		if (parse_double(arg, 0, 100, &opt->zipf_theta))
			return bad("--zipf-theta", arg, "a number from 0 to 100");
		return 0;
	case OPT_PASSES:
		if (parse_uint(arg, 1, 1000000, &u))
			return bad("--passes", arg, "an integer from 1 to 1000000");
		opt->passes = u;
		return 0;
	case OPT_DURATION:
		if (parse_double(arg, 0, 1e9, &opt->duration_s) || opt->duration_s <= 0)
			return bad("--duration", arg, "a positive number of seconds");
		return 0;
	case OPT_THREADS:
		if (parse_uint(arg, 1, 1024, &u))
			return bad("--threads", arg, "an integer from 1 to 1024");
		opt->threads = u;
		return 0;
	case OPT_WRITE_RATIO:
		if (parse_double(arg, 0, 1, &opt->write_ratio))
			return bad("--write-ratio", arg, "a number from 0 to 1");
		return 0;
	case OPT_SEED:
		if (parse_uint(arg, 0, UINT64_MAX, &u))
			return bad("--seed", arg, "an unsigned 64-bit integer");
		opt->seed = u;
		return 0;
	case OPT_FINAL_VERIFY:
		opt->final_verify = true;
		return 0;
	case OPT_THP:
		opt->thp = true;
		return 0;
	case OPT_PROGRESS:
		opt->progress = true;
		return 0;
	}
	return -1;
}

/*
 * Returns 0 to run, 1 when --help was printed, -1 after a one-line
 * complaint on stderr.
 */
int parse_args(int argc, char **argv, struct options *opt)
{
	int c;

	set_defaults(opt);
	opterr = 0;	/* getopt's own messages are not one line per error */
	while ((c = getopt_long(argc, argv, ":", long_options, NULL)) != -1) {
		if (c == OPT_HELP) {
			fputs(usage, stdout);
			return 1;
		}
		if (c == '?' || c == ':') {
			fprintf(stderr, PRESSURE_NAME ": %s '%s' (see --help)\n",
				c == ':' ? "missing value for" : "unrecognized option",
				argv[optind - 1]);
			return -1;
		}
		if (parse_one(c, optarg, opt))
			return -1;
	}
	if (optind < argc) {
		fprintf(stderr, PRESSURE_NAME ": unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (!opt->size_bytes && opt->size_pct <= 0) {
		fprintf(stderr, PRESSURE_NAME ": one of --size or --size-pct-of-ram is required\n");
		return -1;
	}
	if (!opt->passes && opt->duration_s <= 0)
		opt->passes = 1;
	return 0;
}
