// SPDX-License-Identifier: GPL-2.0
/*
 * pagegen.c - test helper, not installed in the guest: write pages of one
 * kind to stdout, so the unit tests can check what compressors make of
 * them without reaching into a running pressure process.
 *
 *   pagegen KIND COUNT [SEED]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "page.h"

int main(int argc, char **argv)
{
	unsigned int mix[PAGE_KINDS] = { 0 };
	unsigned long count, index, written = 0;
	struct page_ctx ctx;
	size_t ps = sysconf(_SC_PAGESIZE);
	unsigned char *page;
	int kind;

	if (argc < 3) {
		fprintf(stderr, "usage: pagegen KIND COUNT [SEED]\n");
		return 2;
	}
	for (kind = 0; kind < PAGE_KINDS; kind++)
		if (!strcmp(argv[1], page_kind_name(kind)))
			break;
	if (kind == PAGE_KINDS) {
		fprintf(stderr, "pagegen: unknown kind '%s'\n", argv[1]);
		return 2;
	}
	count = strtoul(argv[2], NULL, 0);
	mix[kind] = 100;	/* every index is of this kind */
	if (page_ctx_init(&ctx, ps, argc > 3 ? strtoull(argv[3], NULL, 0) : 1, mix) ||
	    !(page = aligned_alloc(64, ps)))
		return 1;

	for (index = 0; written < count; index++) {
		page_fill(&ctx, page, index, 0);
		if (fwrite(page, ps, 1, stdout) != 1)
			return 1;
		written++;
	}
	return 0;
}
