/* SPDX-License-Identifier: GPL-2.0 */
/*
 * page.h - content of the pressure working set, and its verification.
 *
 * A page's kind is a function of (seed, index); its content is a function
 * of (seed, index, generation). The caller keeps only the generation of
 * each page (one byte), which is enough to recompute or check everything.
 */
#ifndef TMEMLAB_PAGE_H
#define TMEMLAB_PAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum page_kind {
	PAGE_ZERO,	/* all zero bytes: zswap's same-filled path */
	PAGE_DUP,	/* one of a few shared templates: dedup candidates */
	PAGE_TEXT,	/* word salad, roughly 3-4x compressible */
	PAGE_RANDOM,	/* incompressible */
	PAGE_KINDS,
};

/* Distinct dup templates; a page picks one from (seed, index, generation). */
#define PAGE_DUP_TEMPLATES	4

/*
 * Header at the start of text and random pages. Each field is checked
 * against its expected value, then the checksum binds the body to them:
 * a page holding another page's data fails on @index, a stale page on
 * @gen, a zeroed page on @magic, and a flipped bit on whichever field or
 * body word it hit.
 */
struct page_hdr {
	uint32_t magic;		/* PAGE_MAGIC + kind */
	uint32_t gen;
	uint64_t index;
	uint64_t seed;
	uint64_t csum;		/* body_checksum() of the rest of the page */
};

#define PAGE_MAGIC	0x746d6c00u	/* "tml\0" */

/* Text pages: a per-seed table of phrases, see page.c. */
#define PAGE_TEXT_PHRASES	32
#define PAGE_TEXT_SLOT		64
#define PAGE_TEXT_PHRASE_MAX	56

struct page_ctx {
	size_t page_size;
	uint64_t seed;
	uint8_t kind_of_pct[100];	/* percentile -> enum page_kind */
	unsigned char *templates;	/* PAGE_DUP_TEMPLATES pages */
	unsigned char phrases[PAGE_TEXT_PHRASES][PAGE_TEXT_SLOT];	/* zero padded */
	unsigned int phrase_len[PAGE_TEXT_PHRASES];
};

/* Why page_verify() rejected a page, for the corruption report. */
struct page_mismatch {
	const char *what;	/* "magic", "index", "generation", ... */
	size_t offset;		/* byte offset in the page */
	uint64_t expected;
	uint64_t got;
};

const char *page_kind_name(enum page_kind kind);
int page_ctx_init(struct page_ctx *ctx, size_t page_size, uint64_t seed,
		  const unsigned int mix[PAGE_KINDS]);
void page_ctx_destroy(struct page_ctx *ctx);
enum page_kind page_kind_of(const struct page_ctx *ctx, uint64_t index);
bool page_has_header(enum page_kind kind);
void page_fill(const struct page_ctx *ctx, void *page, uint64_t index, uint8_t gen);
bool page_verify(const struct page_ctx *ctx, const void *page, uint64_t index,
		 uint8_t gen, struct page_mismatch *why);

#endif /* TMEMLAB_PAGE_H */
