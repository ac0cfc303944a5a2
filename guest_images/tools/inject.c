// SPDX-License-Identifier: GPL-2.0
/*
 * inject.c - test hook: corrupt pages after the fill, to prove that
 * verification catches each kind of damage the swap path can do.
 *
 *   TMEMLAB_PRESSURE_INJECT_CORRUPTION=N   corrupt N distinct pages
 *   TMEMLAB_PRESSURE_INJECT_MODE=MODE      flip (default), copy, stale, zero
 *
 * Only pages on which the damage is always detectable are chosen (a
 * zero page cannot be zeroed, a stale dup page may match by chance), so
 * a run that reads every page must report exactly N corrupted pages.
 * Unset, the hook costs one getenv().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pressure.h"

#define ENV_COUNT	"TMEMLAB_PRESSURE_INJECT_CORRUPTION"
#define ENV_MODE	"TMEMLAB_PRESSURE_INJECT_MODE"

struct inject_mode {
	const char *name;
	bool (*eligible)(enum page_kind kind);
	void (*corrupt)(struct run *run, uint64_t index);
};

static bool any_kind(enum page_kind kind)
{
	(void)kind;
	return true;
}

static bool not_zero(enum page_kind kind)
{
	return kind != PAGE_ZERO;
}

static unsigned char *addr(struct run *run, uint64_t index)
{
	return run->mem + index * run->page_size;
}

/* One bit, in the second half of the page so it lands in a body. */
static void flip_bit(struct run *run, uint64_t index)
{
	size_t off = run->page_size / 2 + (index * 8) % (run->page_size / 4);

	addr(run, index)[off] ^= 1u << (index % 8);
}

/* The neighbour's content: a misdirected swap-in. */
static void copy_other(struct run *run, uint64_t index)
{
	uint64_t src = (index + 1) % run->npages;

	memcpy(addr(run, index), addr(run, src), run->page_size);
}

/* The expected generation moves on but the page does not: a lost write. */
static void roll_back(struct run *run, uint64_t index)
{
	run->gen[index]++;
}

static void zero_page(struct run *run, uint64_t index)
{
	memset(addr(run, index), 0, run->page_size);
}

static const struct inject_mode modes[] = {
	{ "flip",	any_kind,	 flip_bit },
	{ "copy",	page_has_header, copy_other },
	{ "stale",	page_has_header, roll_back },
	{ "zero",	not_zero,	 zero_page },
};

static const struct inject_mode *find_mode(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(name, modes[i].name))
			return &modes[i];
	return NULL;
}

/*
 * Target i starts at i * npages / n, spreading the damage over the
 * working set (and over the threads' slices), then moves forward to the
 * first eligible page past the previous target.
 */
static int inject(struct run *run, const struct inject_mode *mode, uint64_t n)
{
	uint64_t i, index, next = 0;

	for (i = 0; i < n; i++) {
		index = run->npages * i / n;
		if (index < next)
			index = next;
		while (index < run->npages &&
		       !mode->eligible(page_kind_of(&run->page, index)))
			index++;
		if (index >= run->npages)
			return -1;
		mode->corrupt(run, index);
		next = index + 1;
	}
	return 0;
}

int inject_from_env(struct run *run)
{
	const char *count = getenv(ENV_COUNT), *name = getenv(ENV_MODE);
	const struct inject_mode *mode;
	unsigned long long n;
	char *end;

	if (!count || !*count)
		return 0;
	n = strtoull(count, &end, 10);
	mode = find_mode(name && *name ? name : "flip");
	if (*end || !mode || (mode->corrupt == copy_other && run->npages < 2)) {
		fprintf(stderr, PRESSURE_NAME ": bad %s=%s / %s=%s\n", ENV_COUNT, count,
			ENV_MODE, name ? name : "");
		return -1;
	}
	if (inject(run, mode, n)) {
		fprintf(stderr, PRESSURE_NAME ": cannot find %llu pages to %s\n", n, mode->name);
		return -1;
	}
	fprintf(stderr, PRESSURE_NAME ": test hook: corrupted %llu pages (%s)\n", n, mode->name);
	return 0;
}
