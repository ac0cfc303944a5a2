// SPDX-License-Identifier: GPL-2.0
/*
 * pools.c - tmemlab-pools: pages of 4 KiB ... 2 MiB through the host tmem
 * backend, end to end from inside a guest, verified byte for byte.
 *
 *   tmemlab-pools [--port NAME|PATH] [--sizes 4K,16K,...] [--bytes N[KMG]]
 *                 [--batch N] [--seed N]
 *   tmemlab-pools [--port NAME|PATH] --probe N
 *
 * frontswap's API moves one 4 KiB page per call. The wire protocol
 * (host_backend/PROTOCOL.md) and the backend take pools of any page size
 * from 4 KiB (page_shift 0) to 2 MiB (page_shift 9). This tool opens its
 * own virtio-serial port (default name org.tmemlab.pools.0), which the
 * harness wires to the same backend as the guest's frontswap channel but in
 * a namespace of its own, and for each size, unbatched and then batched:
 *
 *   NEW_POOL (persistent) -> PUT every page -> GET every page and compare it
 *   with what was put -> FLUSH every page -> GET one: must be NOT_FOUND ->
 *   DESTROY_POOL
 *
 * Unbatched, one request is in flight at a time, so each op's latency is a
 * round trip: guest -> virtio-serial -> QEMU -> socket -> backend and back.
 * Batched, PUT_BATCH/GET_BATCH/FLUSH_BATCH carry up to --batch pages
 * (default 32), fewer where the backend's max_payload (4 MiB + 32 KiB)
 * allows fewer; latency is then per batch.
 *
 * Prints one JSON object: per (size, mode) the pages, bytes/s and pages/s,
 * and latency percentiles in microseconds per op, and the corrupted pages.
 * Exit status: 0 ok, 1 runtime error (port, protocol), 2 bad arguments,
 * 3 a page came back different (the JSON is still printed).
 *
 * --probe N is the isolation check between guests: without creating a pool,
 * GET pages 0..N-1 of object 0 in pool ids 0..PROBE_POOLS-1, the ids and
 * offsets another guest's frontswap pages have in *its* namespace (frontswap:
 * pool 0, object = swap type 0, index = swap offset). Every GET must miss
 * (BAD_POOL or NOT_FOUND); a page returned is a page of another namespace:
 * it is counted as corrupted and the exit status is 3.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "latency.h"
#include "prng.h"

#define NAME		"tmemlab-pools"
#define MAGIC		0x4D454D54u
#define HDR		56
#define ENTRY		32
#define RENTRY		8
#define MAX_PAYLOAD	((4u << 20) + (32u << 10))
#define MAX_SIZES	10

enum { OP_HELLO = 1, OP_NEW_POOL, OP_DESTROY_POOL, OP_PUT, OP_GET, OP_FLUSH_PAGE,
       OP_FLUSH_OBJECT, OP_STATS, OP_PUT_BATCH, OP_GET_BATCH, OP_FLUSH_BATCH };
enum { ST_OK = 0, ST_NOT_FOUND = 1, ST_BAD_POOL = 3 };
#define PROBE_POOLS	32

static int port = -1;
static uint64_t next_id = 1;
static uint8_t version = 1;
static unsigned char *tx, *rx;	/* one frame each way, MAX_PAYLOAD + HDR */

static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }	/* x86: LE */
static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, NAME ": %s: %s\n", what, errno ? strerror(errno) : "protocol error");
	exit(1);
}

/* /dev/vportNpM whose sysfs name is @name (the relay finds its port the same way). */
static bool find_port(const char *name, char *out, size_t outlen)
{
	const char *dirname = "/sys/class/virtio-ports";
	char path[512], got[128];
	struct dirent *de;
	bool found = false;
	DIR *dir = opendir(dirname);

	if (!dir)
		return false;
	while (!found && (de = readdir(dir))) {
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/name", dirname, de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(got, sizeof(got), f)) {
			got[strcspn(got, "\n")] = '\0';
			if (strcmp(got, name) == 0) {
				snprintf(out, outlen, "/dev/%s", de->d_name);
				found = true;
			}
		}
		fclose(f);
	}
	closedir(dir);
	return found;
}

/*
 * The guest's port is a character device; a unix socket (the backend's own, on
 * the host) is connected instead, so the tests can run this tool against a
 * real backend without a guest.
 */
static int open_port(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (stat(path, &st) || !S_ISSOCK(st.st_mode))
		return open(path, O_RDWR | O_CLOEXEC);
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

static void write_all(const unsigned char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(port, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write to port");
		buf += n;
		len -= n;
	}
}

static void read_all(unsigned char *buf, size_t len)
{
	while (len) {
		ssize_t n = read(port, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = 0;
			die("read from port");
		}
		buf += n;
		len -= n;
	}
}

/* Header into tx; the payload (length bytes) is already at tx + HDR. */
static void header(uint8_t op, uint32_t pool, uint32_t index, uint64_t oid, uint32_t length)
{
	memset(tx, 0, HDR);
	put32(tx, MAGIC);
	tx[4] = version;
	tx[5] = op;
	put64(tx + 8, next_id++);
	put32(tx + 16, pool);
	put32(tx + 20, index);
	put64(tx + 24, oid);
	put32(tx + 48, length);
}

/* Send tx, wait for its reply into rx. Returns the status; *len gets the payload size. */
static int32_t call(uint32_t *len)
{
	uint64_t id;
	uint32_t n;

	memcpy(&id, tx + 8, 8);
	write_all(tx, HDR + get32(tx + 48));
	read_all(rx, HDR);
	n = get32(rx + 48);
	if (get32(rx) != MAGIC || n > MAX_PAYLOAD || memcmp(rx + 8, &id, 8))
		die("reply out of step");
	read_all(rx + HDR, n);
	if (len)
		*len = n;
	return (int32_t)get32(rx + 52);
}

/* Page @index of a pool of @size bytes: a function of (seed, size, index). */
static void fill(unsigned char *page, size_t size, uint64_t seed, uint64_t index)
{
	uint64_t x = mix64(seed ^ mix64(size * GOLDEN64 + index));

	for (size_t i = 0; i < size; i += 8) {
		x += GOLDEN64;
		uint64_t w = mix64(x);

		memcpy(page + i, &w, 8);
	}
}

struct op_stats {
	struct lat_hist lat;	/* per request: one page, or one batch */
	uint64_t pages, ns;
};

struct result {
	size_t size;
	bool batched;
	unsigned int batch;	/* pages per batch frame used */
	uint64_t pages, corrupted;
	bool gone_after_flush;
	struct op_stats put, get, flush;
};

static void timed(struct op_stats *s, uint64_t t0, uint64_t pages)
{
	uint64_t dt = now_ns() - t0;

	lat_record(&s->lat, dt);
	s->ns += dt;
	s->pages += pages;
}

static void expect(int32_t status, int32_t want, const char *what)
{
	if (status != want) {
		fprintf(stderr, NAME ": %s: status %d, expected %d\n", what, status, want);
		exit(1);
	}
}

/*
 * Batch entry header k of a request for pages first.. (oid 1): @size bytes of
 * page follow each entry of a PUT_BATCH, nothing for GET/FLUSH (size 0).
 * Returns where the next entry goes.
 */
static unsigned char *entry(unsigned char *p, uint64_t index, uint32_t size)
{
	memset(p, 0, ENTRY);
	put64(p, 1);
	put32(p + 24, index);
	put32(p + 28, size);
	return p + ENTRY + size;
}

static void run_pool(struct result *r, uint64_t seed, unsigned char *page)
{
	unsigned int shift = __builtin_ctzll(r->size) - 12, b = r->batch;
	uint32_t pool, len;

	put32(tx + HDR, 1);	/* PERSISTENT */
	put32(tx + HDR + 4, shift);
	header(OP_NEW_POOL, 0, 0, 0, 8);
	expect(call(NULL), ST_OK, "NEW_POOL");
	pool = get32(rx + 16);

	for (uint64_t i = 0; i < r->pages; i += b) {	/* PUT */
		unsigned int n = r->pages - i < b ? r->pages - i : b;
		uint64_t t0;

		if (!r->batched) {
			fill(tx + HDR, r->size, seed, i);
			header(OP_PUT, pool, i, 1, r->size);
			t0 = now_ns();
			expect(call(NULL), ST_OK, "PUT");
		} else {
			unsigned char *p = tx + HDR;

			for (unsigned int k = 0; k < n; k++) {
				fill(p + ENTRY, r->size, seed, i + k);
				p = entry(p, i + k, r->size);
			}
			header(OP_PUT_BATCH, pool, n, 0, p - (tx + HDR));
			t0 = now_ns();
			expect(call(NULL), ST_OK, "PUT_BATCH");
			for (unsigned int k = 0; k < n; k++)
				expect((int32_t)get32(rx + HDR + k * RENTRY), ST_OK, "PUT_BATCH entry");
		}
		timed(&r->put, t0, n);
	}
	for (uint64_t i = 0; i < r->pages; i += b) {	/* GET, verified */
		unsigned int n = r->pages - i < b ? r->pages - i : b;
		uint64_t t0;

		if (!r->batched) {
			header(OP_GET, pool, i, 1, 0);
			t0 = now_ns();
			expect(call(&len), ST_OK, "GET");
			timed(&r->get, t0, 1);
			fill(page, r->size, seed, i);
			r->corrupted += len != r->size || memcmp(rx + HDR, page, r->size);
		} else {
			unsigned char *p = tx + HDR, *q;

			for (unsigned int k = 0; k < n; k++)
				p = entry(p, i + k, 0);
			header(OP_GET_BATCH, pool, n, 0, n * ENTRY);
			t0 = now_ns();
			expect(call(&len), ST_OK, "GET_BATCH");
			timed(&r->get, t0, n);
			q = rx + HDR;
			for (unsigned int k = 0; k < n; k++) {
				uint32_t got = get32(q + 4);

				expect((int32_t)get32(q), ST_OK, "GET_BATCH entry");
				fill(page, r->size, seed, i + k);
				r->corrupted += got != r->size || memcmp(q + RENTRY, page, r->size);
				q += RENTRY + got;
			}
		}
	}
	for (uint64_t i = 0; i < r->pages; i += b) {	/* FLUSH */
		unsigned int n = r->pages - i < b ? r->pages - i : b;
		uint64_t t0;

		if (!r->batched) {
			header(OP_FLUSH_PAGE, pool, i, 1, 0);
			t0 = now_ns();
			expect(call(NULL), ST_OK, "FLUSH_PAGE");
		} else {
			unsigned char *p = tx + HDR;

			for (unsigned int k = 0; k < n; k++)
				p = entry(p, i + k, 0);
			header(OP_FLUSH_BATCH, pool, n, 0, n * ENTRY);
			t0 = now_ns();
			expect(call(NULL), ST_OK, "FLUSH_BATCH");
		}
		timed(&r->flush, t0, n);
	}
	header(OP_GET, pool, 0, 1, 0);
	r->gone_after_flush = call(NULL) == ST_NOT_FOUND;
	header(OP_DESTROY_POOL, pool, 0, 0, 0);
	expect(call(NULL), ST_OK, "DESTROY_POOL");
}

static void print_op(const char *name, const struct op_stats *s, size_t size, bool last)
{
	double secs = s->ns / 1e9;

	printf("\"%s\": {\"pages\": %llu, \"pages_per_sec\": %.1f, \"bytes_per_sec\": %.0f, "
	       "\"lat_us\": {\"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, \"max\": %.1f}}%s",
	       name, (unsigned long long)s->pages, secs > 0 ? s->pages / secs : 0,
	       secs > 0 ? s->pages * (double)size / secs : 0,
	       lat_quantile(&s->lat, 0.5) / 1e3, lat_quantile(&s->lat, 0.9) / 1e3,
	       lat_quantile(&s->lat, 0.99) / 1e3, s->lat.max_ns / 1e3, last ? "" : ", ");
}

static long long parse_size(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	switch (*end) {
	case 'K': v <<= 10; end++; break;
	case 'M': v <<= 20; end++; break;
	case 'G': v <<= 30; end++; break;
	}
	return *end || v <= 0 ? -1 : v;
}

/* --probe: see the top of the file. Prints its JSON; returns the exit status. */
static int probe(long long n)
{
	unsigned long long gets = 0, found = 0, not_found = 0, bad_pool = 0, other = 0;
	uint64_t t0 = now_ns();

	for (uint32_t pool = 0; pool < PROBE_POOLS; pool++) {
		for (long long i = 0; i < n; i++) {
			int32_t st;

			header(OP_GET, pool, (uint32_t)i, 0, 0);
			st = call(NULL);
			gets++;
			if (st == ST_OK)
				found++;
			else if (st == ST_NOT_FOUND)
				not_found++;
			else if (st == ST_BAD_POOL)
				bad_pool++;
			else
				other++;
		}
	}
	printf("{\"probe\": {\"pool_ids\": %d, \"indices\": %lld, \"gets\": %llu, "
	       "\"found\": %llu, \"not_found\": %llu, \"bad_pool\": %llu, \"other\": %llu, "
	       "\"elapsed_s\": %.3f}, \"corrupted_pages\": %llu}\n", PROBE_POOLS, n, gets, found,
	       not_found, bad_pool, other, (now_ns() - t0) / 1e9, found);
	return found ? 3 : 0;
}

static int usage(const char *why)
{
	fprintf(stderr, NAME ": %s (usage: " NAME " [--port NAME|PATH] [--sizes 4K,...,2M] "
		"[--bytes N] [--batch N] [--seed N] | --probe N)\n", why);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"port", required_argument, NULL, 'p'}, {"sizes", required_argument, NULL, 's'},
		{"bytes", required_argument, NULL, 'b'}, {"batch", required_argument, NULL, 'n'},
		{"seed", required_argument, NULL, 'e'}, {"probe", required_argument, NULL, 'r'},
		{NULL, 0, NULL, 0},
	};
	const char *port_arg = "org.tmemlab.pools.0";
	char sizes_arg[256] = "4K,16K,64K,256K,2M", path[300], *tok, *save;
	long long bytes = 8 << 20, batch = 32, probe_n = 0;
	unsigned long long seed = 1, corrupted = 0;
	size_t sizes[MAX_SIZES];
	unsigned int nsizes = 0, nres = 0;
	struct result *res;
	unsigned char *page;
	uint32_t len;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p': port_arg = optarg; break;
		case 's': snprintf(sizes_arg, sizeof(sizes_arg), "%s", optarg); break;
		case 'b':
			bytes = parse_size(optarg);
			if (bytes < 0)
				return usage("--bytes: expected a size like 8M");
			break;
		case 'n':
			batch = strtoll(optarg, NULL, 10);
			if (batch < 1 || batch > 1024)
				return usage("--batch: expected 1..1024");
			break;
		case 'e': seed = strtoull(optarg, NULL, 10); break;
		case 'r':
			probe_n = strtoll(optarg, NULL, 10);
			if (probe_n < 1 || probe_n > (1 << 20))
				return usage("--probe: expected 1..1048576 indices");
			break;
		default: return usage("unknown option");
		}
	}
	if (optind != argc)
		return usage("unexpected argument");
	for (tok = strtok_r(sizes_arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		long long s = parse_size(tok);

		if (s < 4096 || s > (2 << 20) || (s & (s - 1)) || nsizes == MAX_SIZES)
			return usage("--sizes: powers of two from 4K to 2M, at most 10");
		sizes[nsizes++] = s;
	}

	if (strchr(port_arg, '/'))
		snprintf(path, sizeof(path), "%s", port_arg);
	else if (!find_port(port_arg, path, sizeof(path))) {
		fprintf(stderr, NAME ": no virtio-serial port named %s\n", port_arg);
		return 1;
	}
	port = open_port(path);
	tx = malloc(HDR + MAX_PAYLOAD);
	rx = malloc(HDR + MAX_PAYLOAD);
	page = malloc(2 << 20);
	res = calloc(2 * nsizes, sizeof(*res));
	if (port < 0 || !tx || !rx || !page || !res)
		die(path);

	/*
	 * HELLO: version 1, RESET (nothing of an earlier run of this tool survives);
	 * a probe does not reset: it must see whatever its namespace holds.
	 */
	put32(tx + HDR, 1 | (1u << 16));
	put32(tx + HDR + 4, probe_n ? 0 : 1);
	memcpy(tx + HDR + 8, NAME, strlen(NAME));
	header(OP_HELLO, 0, 0, 0, 8 + strlen(NAME));
	expect(call(&len), ST_OK, "HELLO");
	version = rx[HDR];
	if (probe_n)
		return probe(probe_n);

	for (unsigned int i = 0; i < nsizes; i++) {
		for (int batched = 0; batched < 2; batched++) {
			struct result *r = &res[nres++];
			long long fit = MAX_PAYLOAD / (ENTRY + sizes[i]);

			r->size = sizes[i];
			r->batched = batched;
			r->batch = batched ? (batch < fit ? batch : fit) : 1;
			r->pages = bytes / sizes[i] < 4 ? 4 : bytes / sizes[i];
			run_pool(r, seed, page);
			corrupted += r->corrupted;
		}
	}

	printf("{\"sizes\": [");
	for (unsigned int i = 0; i < nres; i++) {
		struct result *r = &res[i];

		printf("%s{\"page_size\": %zu, \"batched\": %s, \"batch\": %u, \"pages\": %llu, "
		       "\"corrupted\": %llu, \"gone_after_flush\": %s, ", i ? ", " : "",
		       r->size, r->batched ? "true" : "false", r->batch,
		       (unsigned long long)r->pages, (unsigned long long)r->corrupted,
		       r->gone_after_flush ? "true" : "false");
		print_op("put", &r->put, r->size, false);
		print_op("get", &r->get, r->size, false);
		print_op("flush", &r->flush, r->size, true);
		printf("}");
	}
	printf("], \"corrupted_pages\": %llu}\n", corrupted);
	return corrupted ? 3 : 0;
}
