// SPDX-License-Identifier: GPL-2.0
/*
 * page.c - generate and verify pages of the pressure working set.
 *
 * Generation and verification are written for TCG guests, where each
 * instruction costs tens of host cycles: random bodies come from a
 * counter-based generator, text is assembled eight bytes at a time, and
 * text and random pages are verified by checksum rather than by
 * regenerating the expected body.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "page.h"
#include "prng.h"

/* Domain tags, so that kind, template and content hashes are unrelated. */
#define TAG_KIND	0x4b494e44ULL	/* "KIND" */
#define TAG_DUP		0x44555020ULL	/* "DUP " */
#define TAG_TEMPLATE	0x54504c54ULL	/* "TPLT" */
#define TAG_TEXT	0x54455854ULL	/* "TEXT" */

static const char *const kind_names[PAGE_KINDS] = {
	[PAGE_ZERO]	= "zero",
	[PAGE_DUP]	= "dup",
	[PAGE_TEXT]	= "text",
	[PAGE_RANDOM]	= "random",
};

const char *page_kind_name(enum page_kind kind)
{
	return kind < PAGE_KINDS ? kind_names[kind] : "?";
}

bool page_has_header(enum page_kind kind)
{
	return kind == PAGE_TEXT || kind == PAGE_RANDOM;
}

/* ---------------------------------------------------------------------
 * Content generators
 */

/*
 * Text is built from a word list in two layers. Each seed makes a table
 * of short phrases from the words (page_ctx_init()); a page body is then
 * three parts phrases to one part single words, all picked at random.
 * LZ compressors without an entropy stage (lzo, lz4) live on repeats of
 * four bytes or more, which the phrases provide; the loose words keep
 * the matches short. Measured on 4 KiB pages: lz4 ~3.2x, zstd and
 * deflate ~5x, in the range of real anonymous memory.
 *
 * Words are at most 7 letters, so a word and its separator fit one
 * unaligned 8-byte store; phrases fit a 64-byte store.
 */
static const char *const words[64] = {
	"the", "of", "and", "to", "in", "is", "that", "for",
	"it", "as", "was", "with", "be", "by", "on", "not",
	"he", "this", "are", "or", "his", "from", "at", "which",
	"but", "have", "an", "had", "they", "you", "were", "their",
	"one", "all", "we", "can", "her", "has", "there", "been",
	"if", "more", "when", "will", "would", "who", "so", "no",
	"memory", "page", "swap", "kernel", "cache", "zswap", "pool", "guest",
	"lru", "reclaim", "fault", "anon", "store", "load", "evict", "dirty",
};

struct text_word {
	uint64_t bytes;		/* the word and a space, zero padded */
	unsigned int len;	/* including the space */
};

static struct text_word text_words[64];

static void text_words_init(void)
{
	unsigned int i;

	for (i = 0; i < 64; i++) {
		char buf[8] = { 0 };
		size_t n = strlen(words[i]);

		memcpy(buf, words[i], n);
		buf[n] = ' ';
		memcpy(&text_words[i].bytes, buf, 8);
		text_words[i].len = n + 1;
	}
}

/* Phrases of 21 to 56 bytes; one word in eight ends a line. */
static void text_phrases_init(struct page_ctx *ctx)
{
	uint64_t state = hash3(ctx->seed, 0, TAG_TEXT);
	unsigned int p;

	for (p = 0; p < PAGE_TEXT_PHRASES; p++) {
		unsigned char *out = ctx->phrases[p];
		unsigned int len = 0;

		for (;;) {
			uint64_t r = splitmix64_next(&state);
			const char *w = words[r & 63];
			size_t n = strlen(w);

			if (len + n + 1 > PAGE_TEXT_PHRASE_MAX ||
			    (len > 20 && ((r >> 8) & 3) == 0))
				break;
			memcpy(out + len, w, n);
			out[len + n] = ((r >> 16) & 7) ? ' ' : '\n';
			len += n + 1;
		}
		ctx->phrase_len[p] = len;
	}
}

static void fill_random(unsigned char *buf, size_t len, uint64_t key)
{
	uint64_t *w = (uint64_t *)buf;
	uint64_t state = key;
	size_t i;

	for (i = 0; i < len / 8; i++)
		w[i] = splitmix64_next(&state);
}

static void fill_text(const struct page_ctx *ctx, unsigned char *buf, size_t len,
		      uint64_t key)
{
	uint64_t state = key, bits = 0;
	unsigned int nbits = 0;
	size_t pos = 0;

	/* Stores are up to 64 bytes wide: stop while a whole one still fits. */
	while (pos + PAGE_TEXT_SLOT <= len) {
		if (nbits < 8) {
			bits = splitmix64_next(&state);
			nbits = 64;
		}
		if (bits & 3) {
			unsigned int p = (bits >> 2) & (PAGE_TEXT_PHRASES - 1);

			memcpy(buf + pos, ctx->phrases[p], PAGE_TEXT_SLOT);
			pos += ctx->phrase_len[p];
		} else {
			const struct text_word *tw = &text_words[(bits >> 2) & 63];

			memcpy(buf + pos, &tw->bytes, 8);
			pos += tw->len;
		}
		bits >>= 8;
		nbits -= 8;
	}
	memset(buf + pos, ' ', len - pos);
}

/* ---------------------------------------------------------------------
 * Context
 */

int page_ctx_init(struct page_ctx *ctx, size_t page_size, uint64_t seed,
		  const unsigned int mix[PAGE_KINDS])
{
	unsigned int kind, pct = 0, t;

	/* The header and the 32-byte checksum stripes need this much. */
	if (page_size < 256 || page_size % 64)
		return -EINVAL;

	memset(ctx, 0, sizeof(*ctx));
	ctx->page_size = page_size;
	ctx->seed = seed;

	for (kind = 0; kind < PAGE_KINDS; kind++) {
		unsigned int end = pct + mix[kind];

		if (end > 100)
			return -EINVAL;
		for (; pct < end; pct++)
			ctx->kind_of_pct[pct] = kind;
	}
	if (pct != 100)
		return -EINVAL;

	ctx->templates = aligned_alloc(64, PAGE_DUP_TEMPLATES * page_size);
	if (!ctx->templates)
		return -ENOMEM;
	for (t = 0; t < PAGE_DUP_TEMPLATES; t++)
		fill_random(ctx->templates + t * page_size, page_size,
			    hash3(seed, t, TAG_TEMPLATE));

	text_words_init();
	text_phrases_init(ctx);
	return 0;
}

void page_ctx_destroy(struct page_ctx *ctx)
{
	free(ctx->templates);
	ctx->templates = NULL;
}

enum page_kind page_kind_of(const struct page_ctx *ctx, uint64_t index)
{
	return ctx->kind_of_pct[u64_below(hash3(ctx->seed, index, TAG_KIND), 100)];
}

static const unsigned char *dup_template(const struct page_ctx *ctx,
					 uint64_t index, uint8_t gen)
{
	/*
	 * The template depends on the generation too, so that a stale dup
	 * page is caught three times out of four instead of never.
	 */
	uint64_t t = u64_below(hash3(ctx->seed ^ TAG_DUP, index, gen),
			       PAGE_DUP_TEMPLATES);

	return ctx->templates + t * ctx->page_size;
}

/* ---------------------------------------------------------------------
 * Fill and verify
 */

void page_fill(const struct page_ctx *ctx, void *page, uint64_t index, uint8_t gen)
{
	enum page_kind kind = page_kind_of(ctx, index);
	struct page_hdr *hdr = page;
	unsigned char *body = (unsigned char *)page + sizeof(*hdr);
	size_t body_len = ctx->page_size - sizeof(*hdr);
	uint64_t key = hash3(ctx->seed, index, gen);

	switch (kind) {
	case PAGE_ZERO:
		/* Written, not skipped: the page must be faulted in. */
		memset(page, 0, ctx->page_size);
		return;
	case PAGE_DUP:
		memcpy(page, dup_template(ctx, index, gen), ctx->page_size);
		return;
	case PAGE_TEXT:
		fill_text(ctx, body, body_len, key);
		break;
	default:
		fill_random(body, body_len, key);
		break;
	}
	hdr->magic = PAGE_MAGIC + kind;
	hdr->gen = gen;
	hdr->index = index;
	hdr->seed = ctx->seed;
	hdr->csum = body_checksum(body, body_len, key);
}

static bool verify_plain(const struct page_ctx *ctx, const void *page,
			 const unsigned char *want, struct page_mismatch *why)
{
	const uint64_t *w = page;
	size_t i, words = ctx->page_size / 8;

	if (want) {
		if (!memcmp(page, want, ctx->page_size))
			return true;
		for (i = 0; i < words && w[i] == ((const uint64_t *)want)[i]; i++)
			;
	} else {
		/* OR-reduce first: the common, clean case has no early exits. */
		uint64_t acc = 0;

		for (i = 0; i < words; i++)
			acc |= w[i];
		if (!acc)
			return true;
		for (i = 0; !w[i]; i++)
			;
	}
	if (i == words)
		return true;
	why->what = want ? "dup content" : "zero content";
	why->offset = i * 8;
	why->expected = want ? ((const uint64_t *)want)[i] : 0;
	why->got = w[i];
	return false;
}

static bool mismatch(struct page_mismatch *why, const char *what, size_t offset,
		     uint64_t expected, uint64_t got)
{
	why->what = what;
	why->offset = offset;
	why->expected = expected;
	why->got = got;
	return false;
}

bool page_verify(const struct page_ctx *ctx, const void *page, uint64_t index,
		 uint8_t gen, struct page_mismatch *why)
{
	enum page_kind kind = page_kind_of(ctx, index);
	const struct page_hdr *hdr = page;
	const unsigned char *body = (const unsigned char *)page + sizeof(*hdr);
	size_t body_len = ctx->page_size - sizeof(*hdr);
	uint64_t csum;

	if (kind == PAGE_ZERO)
		return verify_plain(ctx, page, NULL, why);
	if (kind == PAGE_DUP)
		return verify_plain(ctx, page, dup_template(ctx, index, gen), why);

	if (hdr->magic != PAGE_MAGIC + kind)
		return mismatch(why, "magic", 0, PAGE_MAGIC + kind, hdr->magic);
	if (hdr->index != index)
		return mismatch(why, "index", 8, index, hdr->index);
	if (hdr->seed != ctx->seed)
		return mismatch(why, "seed", 16, ctx->seed, hdr->seed);
	if (hdr->gen != gen)
		return mismatch(why, "generation", 4, gen, hdr->gen);
	csum = body_checksum(body, body_len, hash3(ctx->seed, index, gen));
	if (hdr->csum != csum)
		return mismatch(why, "checksum", 24, csum, hdr->csum);
	return true;
}
