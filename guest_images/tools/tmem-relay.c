// SPDX-License-Identifier: GPL-2.0
/*
 * tmem-relay.c - pump tmem frames between /dev/tmem and a virtio-serial port.
 *
 *   tmem-relay [--device PATH] [--port PATH | --port-name NAME]
 *              [--sysfs DIR] [--ready-file PATH] [--pid-file PATH]
 *              [--retry-ms MS] [--batch N] [--stats-file PATH]
 *              [--no-supervise]
 *   tmem-relay --find-port [--port-name NAME] [--sysfs DIR]
 *   tmem-relay --parse < stream
 *
 * Linux 6.1's virtio_console has no in-kernel API, so the tmem frontswap
 * backend (mm/tmem.c) exposes /dev/tmem instead: read() yields whole request
 * frames, write() takes whole reply frames (host_backend/PROTOCOL.md layout:
 * a 56-byte header, then `length` payload bytes). This relay copies frames
 * in both directions and tells the kernel, with an ioctl, when the port's
 * host side (QEMU's chardev socket to the backend) comes and goes: the kernel
 * then says HELLO again and re-sends its loads.
 *
 * It runs in the swap-out path's critical loop, so it locks itself in memory
 * (mlockall), marks itself an I/O flusher (PR_SET_IO_FLUSHER: its own
 * allocations, including virtio_console's buffers, never recurse into
 * swap-out), asks /dev/tmem for the memory reserves (TMEM_IOC_MEMALLOC:
 * those NOIO allocations could otherwise loop in reclaim that cannot swap
 * while every store waits on them) and allocates nothing after start-up.
 *
 * The guest has no udev: the port is found by scanning
 * /sys/class/virtio-ports/<vportNpM>/name for --port-name (default
 * org.tmemlab.tmem.0) and opening /dev/<vportNpM>. A missing device or port
 * is retried every --retry-ms; the relay never exits on its own.
 *
 * While no relay runs, every load of a page held by the host waits, so
 * whatever restarts a dead relay must not need such a page itself: a shell
 * loop would (its pages get swapped out, and it would wait for the relay it
 * is meant to start). So the relay supervises itself: an mlocked parent
 * forks the worker that does the pumping (its pid in --pid-file) and forks
 * a new one, after --retry-ms, whenever it dies.
 *
 * Batching (--batch N, default: the kernel's tmem.batch parameter): runs of
 * consecutive PUT (or GET) frames of one pool that one read() of /dev/tmem
 * returns are packed into one PUT_BATCH (GET_BATCH) frame of up to N entries,
 * and the batch reply is split back into one reply frame per request, with
 * the request's own request_id, before the kernel sees it. The kernel's
 * matching and every correctness rule are unchanged; only the frames on the
 * port (and the backend's per-frame work) shrink. Counters (frames each way,
 * batches, entries, a log2 histogram of batch sizes) go to --stats-file
 * (default /run/tmem-relay.stats), rewritten at most once a second.
 *
 * --find-port prints the port's device path (status 1 if absent); --parse
 * reads a byte stream and prints one line per frame, "op status length id"
 * (test hooks for the framing).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#define NAME		"tmem-relay"

/* Wire format and ioctls: a copy of include/uapi/linux/tmem.h (patch 0002). */
#define TMEM_MAGIC		0x4D454D54u
#define TMEM_HDR_SIZE		56
#define TMEM_HDR_LENGTH		48	/* offset of the u32 payload length */
#define TMEM_HDR_ID		8	/* u64 request_id */
#define TMEM_HDR_POOL		16	/* u32 pool_id */
#define TMEM_HDR_INDEX		20	/* u32 index (batch ops: entry count) */
#define TMEM_HDR_OID		24	/* u64 oid[3] */
#define TMEM_HDR_STATUS		52	/* i32 status */
#define TMEM_FLAG_REPLY		0x0001
#define TMEM_OP_PUT		4
#define TMEM_OP_GET		5
#define TMEM_OP_PUT_BATCH	9
#define TMEM_OP_GET_BATCH	10
#define TMEM_ENTRY_SIZE		32	/* struct tmem_batch_entry */
#define TMEM_REPLY_ENTRY_SIZE	8	/* struct tmem_batch_reply */
#define TMEM_BAD_REQUEST	4
#define TMEM_MAX_BATCH		1024	/* the backend's max_batch */
/* request_id kinds (top two bits): the kernel uses 0..2, batches are ours. */
#define RELAY_ID_KIND		(3ULL << 62)
#define TMEM_IOC_MAGIC		0xB9
#define TMEM_IOC_PORT_UP	_IO(TMEM_IOC_MAGIC, 1)
#define TMEM_IOC_PORT_DOWN	_IO(TMEM_IOC_MAGIC, 2)
#define TMEM_IOC_MEMALLOC	_IO(TMEM_IOC_MAGIC, 3)

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER	57
#endif

#define RELAY_NICE	(-10)		/* see harden() */
#define BUF_SIZE	(512 * 1024)	/* each direction */
#define MAX_FRAME	BUF_SIZE	/* replies: up to a GET_BATCH of pages */
#define GET_BATCH_MAX	64		/* found pages must fit MAX_FRAME */
#define PENDING_BATCHES	256		/* batches awaiting their reply */
#define PENDING_IDS	8192		/* request ids inside them */
#define HIST_BUCKETS	11		/* batch sizes 1, 2, 4 .. 1024 */
#define RTT_BUCKETS	27		/* port round trips 1 us .. 2^26 us */
#define SENT_RING	16384		/* frames on the port awaiting a reply */
/*
 * virtio_console's write() kmallocs a buffer of the write's size (capped at
 * 32 KiB) with GFP_KERNEL. 32 KiB is an order-3 page allocation, which under
 * the memory pressure this relay exists for (and with PR_SET_IO_FLUSHER's
 * NOIO) can spend seconds in reclaim and compaction while every swap-in
 * waits. 8 KiB comes from the kmalloc-8k slab, which falls back to order-1.
 */
#define PORT_WRITE_MAX	(8 * 1024)

static const char *device_path = "/dev/tmem";
static const char *port_path;
static const char *port_name = "org.tmemlab.tmem.0";
static const char *sysfs_dir = "/sys/class/virtio-ports";
static const char *ready_file;
static const char *pid_file;
static unsigned int retry_ms = 200;
static unsigned int batch_max;		/* 0: the kernel's tmem.batch */
static const char *batch_param = "/sys/module/tmem/parameters/batch";
static const char *stats_file = "/run/tmem-relay.stats";

static unsigned char txbuf[BUF_SIZE];	/* kernel -> port */
static unsigned char *tx = txbuf;	/* what goes out: txbuf or packbuf */
static size_t tx_len, tx_off;
static unsigned char rxbuf[BUF_SIZE];	/* port -> kernel */
static size_t rx_len;
static unsigned char packbuf[BUF_SIZE];	/* txbuf with batches packed */
/* A GET_BATCH reply splits into frames 48 bytes longer per entry. */
static unsigned char kbuf[2 * BUF_SIZE];

/* Batches sent, in order (the backend replies in request order). */
struct pending {
	uint64_t id;		/* the batch frame's request_id */
	uint8_t op;		/* PUT or GET: the op of the requests inside */
	uint32_t n;		/* entries */
	uint32_t first;		/* their request ids: ids[first .. first+n) */
};
static struct pending pending[PENDING_BATCHES];
static unsigned int pend_head, pend_count;
static uint64_t ids[PENDING_IDS];
static unsigned int ids_head, ids_count;
static uint64_t batch_seq;

/* Counters for --stats-file. */
static struct {
	uint64_t frames_in, frames_out, replies_in, replies_out;
	uint64_t put_batches, get_batches, batched_requests, stale_batch_replies;
	uint64_t hist[HIST_BUCKETS];
	/* relay -> port -> backend -> port -> relay, per frame (a batch is one) */
	uint64_t port_rtt_total_us, port_rtt_count, port_rtt_hist[RTT_BUCKETS];
} st;

/*
 * When each frame went to the port: the backend answers every frame once,
 * in order, so the n-th reply closes the n-th frame's round trip.
 */
static uint64_t sent_at[SENT_RING];
static unsigned int sent_head, sent_count;
static bool st_dirty;
static time_t st_written;

/*
 * Logging: one line on stderr per event (the guest's rc points it at the
 * console), never per frame.
 */
static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	fputs(NAME ": ", stderr);
	fwrite(line, 1, n, stderr);
	fflush(stderr);
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * Framing (pure)
 */
static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const unsigned char *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/*
 * Size of the frame at the start of buf: 0 while incomplete, -1 if the
 * stream is out of step (bad magic, or a frame too large to buffer).
 */
static long frame_size(const unsigned char *buf, size_t len)
{
	uint32_t payload;

	if (len < 4)
		return 0;
	if (get_le32(buf) != TMEM_MAGIC)
		return -1;
	if (len < TMEM_HDR_SIZE)
		return 0;
	payload = get_le32(buf + TMEM_HDR_LENGTH);
	if (payload > MAX_FRAME - TMEM_HDR_SIZE)
		return -1;
	if (len < TMEM_HDR_SIZE + payload)
		return 0;
	return TMEM_HDR_SIZE + payload;
}

/* Bytes at the start of buf that make up whole frames; *bad on a bad one. */
static size_t whole_frames(const unsigned char *buf, size_t len, bool *bad)
{
	size_t pos = 0;
	long n;

	*bad = false;
	while ((n = frame_size(buf + pos, len - pos)) > 0)
		pos += n;
	if (n < 0)
		*bad = true;
	return pos;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static void put_le64(unsigned char *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

/*
 * Batching (pure but for the pending queue and counters)
 */
static void count_batch(unsigned int n)
{
	unsigned int b = 0;

	while (b + 1 < HIST_BUCKETS && (1u << b) < n)
		b++;
	st.hist[b]++;
	st_dirty = true;
}

static bool pending_room(unsigned int n)
{
	return pend_count < PENDING_BATCHES && ids_count + n <= PENDING_IDS;
}

/* Remember a batch sent; its requests' ids are at frames[0..n). */
static void pending_push(uint64_t id, uint8_t op, const unsigned char **frames,
			 unsigned int n)
{
	struct pending *pb = &pending[(pend_head + pend_count) % PENDING_BATCHES];
	unsigned int i;

	pb->id = id;
	pb->op = op;
	pb->n = n;
	pb->first = (ids_head + ids_count) % PENDING_IDS;
	for (i = 0; i < n; i++)
		ids[(pb->first + i) % PENDING_IDS] = get_le64(frames[i] + TMEM_HDR_ID);
	ids_count += n;
	pend_count++;
}

static void pending_clear(void)
{
	pend_head = pend_count = ids_head = ids_count = 0;
	sent_head = sent_count = 0;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void note_sent(void)
{
	st.frames_out++;
	if (sent_count < SENT_RING)
		sent_at[(sent_head + sent_count++) % SENT_RING] = now_us();
}

static void note_reply(void)
{
	uint64_t us;
	unsigned int b = 0;

	if (!sent_count)
		return;
	us = now_us() - sent_at[sent_head];
	sent_head = (sent_head + 1) % SENT_RING;
	sent_count--;
	while (b + 1 < RTT_BUCKETS && (1ull << b) < us)
		b++;
	st.port_rtt_hist[b]++;
	st.port_rtt_total_us += us;
	st.port_rtt_count++;
}

/* Can this frame join a batch: a PUT or GET request of the batch's kind? */
static bool batchable(const unsigned char *f)
{
	return f[5] == TMEM_OP_PUT || f[5] == TMEM_OP_GET;
}

static bool same_batch(const unsigned char *a, const unsigned char *b)
{
	return a[5] == b[5] && a[4] == b[4] &&
	       get_le32(a + TMEM_HDR_POOL) == get_le32(b + TMEM_HDR_POOL);
}

/* Write the batch frames[0..n) as one PUT_BATCH/GET_BATCH; returns bytes. */
static size_t emit_batch(unsigned char *out, const unsigned char **frames,
			 unsigned int n)
{
	const unsigned char *f0 = frames[0];
	uint8_t op = f0[5];
	size_t pos = TMEM_HDR_SIZE;
	uint64_t id = RELAY_ID_KIND | (++batch_seq & ~(3ULL << 62));
	unsigned int i;

	memcpy(out, f0, TMEM_HDR_SIZE);
	out[5] = op == TMEM_OP_PUT ? TMEM_OP_PUT_BATCH : TMEM_OP_GET_BATCH;
	put_le64(out + TMEM_HDR_ID, id);
	put_le32(out + TMEM_HDR_INDEX, n);
	memset(out + TMEM_HDR_OID, 0, 24);
	for (i = 0; i < n; i++) {
		const unsigned char *f = frames[i];
		uint32_t len = op == TMEM_OP_PUT ? get_le32(f + TMEM_HDR_LENGTH) : 0;

		memcpy(out + pos, f + TMEM_HDR_OID, 24);
		memcpy(out + pos + 24, f + TMEM_HDR_INDEX, 4);
		put_le32(out + pos + 28, len);
		memcpy(out + pos + TMEM_ENTRY_SIZE, f + TMEM_HDR_SIZE, len);
		pos += TMEM_ENTRY_SIZE + len;
	}
	put_le32(out + TMEM_HDR_LENGTH, pos - TMEM_HDR_SIZE);
	pending_push(id, op, frames, n);
	if (op == TMEM_OP_PUT)
		st.put_batches++;
	else
		st.get_batches++;
	st.batched_requests += n;
	count_batch(n);
	return pos;
}

/*
 * Pack whole request frames in[0..len) into out: runs of up to max PUTs or
 * GETs of one pool become one batch frame; everything else is copied as is,
 * in order. A run of one stays a plain frame. Returns the bytes in out
 * (never more than len: an entry header is smaller than a frame header).
 */
static size_t pack_batches(const unsigned char *in, size_t len,
			   unsigned char *out, unsigned int max)
{
	static const unsigned char *run[TMEM_MAX_BATCH];
	size_t pos = 0, opos = 0;
	unsigned int n = 0;

	for (;;) {
		const unsigned char *f = pos < len ? in + pos : NULL;
		long size = f ? frame_size(f, len - pos) : 0;
		unsigned int cap = max;

		if (size <= 0)
			f = NULL;
		if (n && run[0][5] == TMEM_OP_GET && cap > GET_BATCH_MAX)
			cap = GET_BATCH_MAX;
		/* Close the run at a frame that cannot join it, or when full. */
		if (n && (!f || !batchable(f) || !same_batch(run[0], f) || n == cap ||
			  !pending_room(n + 1))) {
			if (n == 1 || !pending_room(n)) {
				unsigned int i;

				for (i = 0; i < n; i++) {
					size_t fs = TMEM_HDR_SIZE +
						get_le32(run[i] + TMEM_HDR_LENGTH);

					memcpy(out + opos, run[i], fs);
					opos += fs;
					note_sent();
				}
			} else {
				note_sent();
				opos += emit_batch(out + opos, run, n);
			}
			n = 0;
		}
		if (!f)
			break;
		st.frames_in++;
		if (max > 1 && batchable(f)) {
			run[n++] = f;
		} else {
			memcpy(out + opos, f, size);
			opos += size;
			note_sent();
		}
		pos += size;
	}
	return opos;
}

/* Unbatched: the frames go out as read; only counted (no copy). */
static size_t count_frames(const unsigned char *in, size_t len)
{
	size_t pos = 0;
	long size;

	while (pos < len && (size = frame_size(in + pos, len - pos)) > 0) {
		st.frames_in++;
		note_sent();
		pos += size;
	}
	return len;
}

/*
 * One reply frame to the kernel: if it answers one of our batches, split it
 * into one reply per request in the batch, written to out. Returns the
 * bytes written, 0 to drop the frame (a batch reply matching nothing).
 */
static size_t split_reply(const unsigned char *f, size_t size, unsigned char *out)
{
	uint64_t id = get_le64(f + TMEM_HDR_ID);
	int32_t status = (int32_t)get_le32(f + TMEM_HDR_STATUS);
	const unsigned char *e = f + TMEM_HDR_SIZE, *end = f + size;
	struct pending *pb;
	size_t opos = 0;
	unsigned int i;

	st.replies_in++;
	note_reply();
	if ((id & (3ULL << 62)) != RELAY_ID_KIND || f[5] == 0) {
		memcpy(out, f, size);
		st.replies_out++;
		return size;
	}
	/* Replies come in request order: drop batches whose reply never came. */
	while (pend_count && pending[pend_head].id != id) {
		ids_head = (ids_head + pending[pend_head].n) % PENDING_IDS;
		ids_count -= pending[pend_head].n;
		pend_head = (pend_head + 1) % PENDING_BATCHES;
		pend_count--;
	}
	if (!pend_count) {
		st.stale_batch_replies++;
		return 0;
	}
	pb = &pending[pend_head];
	for (i = 0; i < pb->n; i++) {
		unsigned char *h = out + opos;
		int32_t es = status;
		uint32_t len = 0;

		if (status == 0) {
			if (e + TMEM_REPLY_ENTRY_SIZE > end) {
				es = TMEM_BAD_REQUEST;
			} else {
				es = (int32_t)get_le32(e);
				len = get_le32(e + 4);
				e += TMEM_REPLY_ENTRY_SIZE;
				if (len > (size_t)(end - e)) {
					es = TMEM_BAD_REQUEST;
					len = 0;
					e = end;
				}
			}
		}
		memcpy(h, f, TMEM_HDR_SIZE);
		h[5] = pb->op;
		put_le64(h + TMEM_HDR_ID, ids[(pb->first + i) % PENDING_IDS]);
		put_le32(h + TMEM_HDR_INDEX, 0);
		put_le32(h + TMEM_HDR_LENGTH, len);
		put_le32(h + TMEM_HDR_STATUS, (uint32_t)es);
		memcpy(h + TMEM_HDR_SIZE, e, len);
		e += len;
		opos += TMEM_HDR_SIZE + len;
		st.replies_out++;
	}
	ids_head = (ids_head + pb->n) % PENDING_IDS;
	ids_count -= pb->n;
	pend_head = (pend_head + 1) % PENDING_BATCHES;
	pend_count--;
	return opos;
}

/* Offset of the next possible header (the magic) after position 0, or len. */
static size_t resync_offset(const unsigned char *buf, size_t len)
{
	size_t i;

	for (i = 1; i + 4 <= len; i++)
		if (get_le32(buf + i) == TMEM_MAGIC)
			return i;
	return len > 3 ? len - 3 : 0;
}

/*
 * Finding the port (no udev in the guest)
 */
static bool find_port(char *out, size_t outlen)
{
	char path[512], name[128];
	struct dirent *de;
	bool found = false;
	DIR *dir;

	if (port_path) {
		snprintf(out, outlen, "%s", port_path);
		return access(out, F_OK) == 0;
	}
	dir = opendir(sysfs_dir);
	if (!dir)
		return false;
	while (!found && (de = readdir(dir))) {
		ssize_t n;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/name", sysfs_dir, de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, name, sizeof(name) - 1);
		close(fd);
		if (n <= 0)
			continue;
		name[n] = '\0';
		name[strcspn(name, "\n")] = '\0';
		if (strcmp(name, port_name) == 0) {
			snprintf(out, outlen, "/dev/%s", de->d_name);
			found = true;
		}
	}
	closedir(dir);
	return found;
}

static int open_retrying(const char *what, bool (*locate)(char *, size_t))
{
	char path[512];
	bool told = false;
	int fd;

	for (;;) {
		if (locate(path, sizeof(path))) {
			fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
			if (fd >= 0) {
				say("opened %s %s", what, path);
				return fd;
			}
			if (!told)
				say("cannot open %s %s: %s; retrying", what, path,
				    strerror(errno));
		} else if (!told) {
			say("no %s yet; retrying every %u ms", what, retry_ms);
		}
		told = true;
		sleep_ms(retry_ms);
	}
}

static bool locate_device(char *out, size_t outlen)
{
	snprintf(out, outlen, "%s", device_path);
	return access(out, F_OK) == 0;
}

/*
 * The pump
 */
static void port_state(int tmem, bool up)
{
	if (ioctl(tmem, up ? TMEM_IOC_PORT_UP : TMEM_IOC_PORT_DOWN) < 0)
		say("ioctl PORT_%s: %s", up ? "UP" : "DOWN", strerror(errno));
	else
		say("backend %s", up ? "connected: session starts" : "gone: stores fail, loads wait");
}

/* True while the port's host side is gone (virtio_console: POLLHUP). */
static bool port_hung_up(int port)
{
	struct pollfd p = { .fd = port, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

/* Throw away whatever the old connection left in the port and our buffers. */
static void drain(int port)
{
	static unsigned char junk[4096];

	while (read(port, junk, sizeof(junk)) > 0)
		;
	tx_len = tx_off = rx_len = 0;
	pending_clear();	/* the kernel re-sends or fails what was in flight */
}

/* "<name> <upper> <count>" per bucket of a log2 histogram, fixed width. */
static size_t put_hist(char *text, size_t len, size_t size, const char *name,
		       const uint64_t *counts, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n && len < size; i++)
		len += snprintf(text + len, size - len, "%s %9llu %20llu\n", name,
				1ull << i, (unsigned long long)counts[i]);
	return len;
}

/*
 * --stats-file: "name value" lines. Samplers keep the file open and pread()
 * it (tmemlab-sample), so it is rewritten in place, never replaced: every
 * number has a fixed width, so the text has a fixed length.
 *
 * The file lives on tmpfs (/run), whose pages swap like anonymous memory:
 * a write that had to swap its page back in would wait for a GET that only
 * this relay can deliver. So the file is a shared mapping, locked in memory
 * (mlock; mlockall's MCL_FUTURE too) and written with memcpy, never write().
 */
static void write_stats(bool force)
{
	static unsigned char *map;
	static size_t map_len;
	char text[4096];
	time_t now = time(NULL);
	size_t len;

	if (!stats_file || !st_dirty || (!force && now == st_written))
		return;
	len = snprintf(text, sizeof(text),
		       "batch_max %20u\nframes_in %20llu\nframes_out %20llu\n"
		       "replies_in %20llu\nreplies_out %20llu\nput_batches %20llu\n"
		       "get_batches %20llu\nbatched_requests %20llu\n"
		       "stale_batch_replies %20llu\n", batch_max,
		       (unsigned long long)st.frames_in,
		       (unsigned long long)st.frames_out,
		       (unsigned long long)st.replies_in,
		       (unsigned long long)st.replies_out,
		       (unsigned long long)st.put_batches,
		       (unsigned long long)st.get_batches,
		       (unsigned long long)st.batched_requests,
		       (unsigned long long)st.stale_batch_replies);
	len = put_hist(text, len, sizeof(text), "batch_hist", st.hist, HIST_BUCKETS);
	if (len < sizeof(text))
		len += snprintf(text + len, sizeof(text) - len,
				"port_rtt_total_us %20llu\nport_rtt_count %20llu\n",
				(unsigned long long)st.port_rtt_total_us,
				(unsigned long long)st.port_rtt_count);
	len = put_hist(text, len, sizeof(text), "port_rtt_hist", st.port_rtt_hist,
		       RTT_BUCKETS);
	if (len >= sizeof(text))
		return;		/* cannot happen: text has room for every line */
	if (!map) {
		/* O_TRUNC drops a page a dead worker left (it may be swapped out). */
		int fd = open(stats_file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		void *m;

		if (fd < 0)
			return;
		m = ftruncate(fd, len) ? MAP_FAILED :
			mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		if (m == MAP_FAILED)
			return;
		if (mlock(m, len))
			say("mlock %s: %s (continuing)", stats_file, strerror(errno));
		map = m;
		map_len = len;
	}
	memcpy(map, text, len < map_len ? len : map_len);
	st_written = now;
	st_dirty = false;
}

/*
 * Hand whole reply frames to the kernel, batch replies split into one per
 * request. Returns false on an unusable fd.
 */
static bool deliver(int tmem)
{
	size_t whole, pos = 0, klen = 0, koff = 0;
	bool bad;

	whole = whole_frames(rxbuf, rx_len, &bad);
	while (pos < whole) {
		long size = frame_size(rxbuf + pos, whole - pos);

		klen += split_reply(rxbuf + pos, size, kbuf + klen);
		pos += size;
	}
	memmove(rxbuf, rxbuf + whole, rx_len - whole);
	rx_len -= whole;
	st_dirty = true;
	while (koff < klen) {
		ssize_t n = write(tmem, kbuf + koff, klen - koff);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EINVAL)
			return false;
		if (n <= 0) {
			/* The kernel refused the first frame: skip it. */
			n = frame_size(kbuf + koff, klen - koff);
			say("kernel refused a reply frame (%ld bytes); skipped", (long)n);
		}
		koff += n;
	}
	if (bad) {
		size_t skip = resync_offset(rxbuf, rx_len);

		say("reply stream out of step (%02x%02x%02x%02x...): skipping %zu bytes, new session",
		    rxbuf[0], rxbuf[1], rxbuf[2], rxbuf[3], skip);
		memmove(rxbuf, rxbuf + skip, rx_len - skip);
		rx_len -= skip;
		/* In-flight requests may have lost their replies: start over. */
		port_state(tmem, false);
		port_state(tmem, true);
	}
	return true;
}

static void flush_tx(int port)
{
	while (tx_off < tx_len) {
		size_t chunk = tx_len - tx_off;
		ssize_t n;

		if (chunk > PORT_WRITE_MAX)
			chunk = PORT_WRITE_MAX;
		n = write(port, tx + tx_off, chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOMEM) {
			/* Reserves exhausted: the port still polls writable. */
			sleep_ms(1);
			return;
		}
		if (n <= 0)
			return;		/* EAGAIN, or a hang-up poll reports */
		tx_off += n;
	}
	tx_len = tx_off = 0;
}

/* Runs until the port fails for good (unplugged): returns to reopen it. */
static void pump(int tmem, int port)
{
	bool up = false;

	for (;;) {
		struct pollfd pfd[2];

		if (!up) {
			if (port_hung_up(port)) {
				drain(port);
				sleep_ms(retry_ms);
				continue;
			}
			drain(port);
			up = true;
			port_state(tmem, true);
		}

		pfd[0].fd = tmem;
		pfd[0].events = tx_off < tx_len ? 0 : POLLIN;
		pfd[1].fd = port;
		pfd[1].events = POLLIN | (tx_off < tx_len ? POLLOUT : 0);
		write_stats(false);
		if (poll(pfd, 2, st_dirty ? 1000 : -1) < 0) {
			if (errno == EINTR)
				continue;
			say("poll: %s", strerror(errno));
			sleep_ms(retry_ms);
			continue;
		}

		if (pfd[1].revents & POLLIN) {
			ssize_t n = read(port, rxbuf + rx_len, sizeof(rxbuf) - rx_len);

			if (n > 0) {
				rx_len += n;
				if (!deliver(tmem)) {
					say("write to %s: %s", device_path, strerror(errno));
					return;
				}
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				pfd[1].revents |= POLLHUP;
			}
		}
		if (pfd[1].revents & (POLLHUP | POLLERR)) {
			up = false;
			port_state(tmem, false);
			drain(port);
			if (pfd[1].revents & POLLNVAL)
				return;
			continue;
		}
		if (pfd[1].revents & POLLNVAL)
			return;

		if (pfd[0].revents & POLLIN) {
			ssize_t n = read(tmem, txbuf, sizeof(txbuf));

			if (n > 0) {
				if (batch_max > 1) {
					tx_len = pack_batches(txbuf, n, packbuf,
							      batch_max);
					tx = packbuf;
				} else {
					tx_len = count_frames(txbuf, n);
					tx = txbuf;
				}
				tx_off = 0;
				st_dirty = true;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				say("read %s: %s", device_path, strerror(errno));
				sleep_ms(retry_ms);
			}
		}
		if (tx_off < tx_len)
			flush_tx(port);
	}
}

static void harden(void)
{
	if (mlockall(MCL_CURRENT | MCL_FUTURE))
		say("mlockall: %s (continuing unlocked)", strerror(errno));
	/*
	 * Every swap-out and swap-in waits on this process. At nice 0 it gets
	 * 1/N of a CPU that N faulting tasks keep busy: with write-behind stores
	 * (they do not sleep on the host), a queue of PUTs then drains so slowly
	 * that loads behind it wait seconds.
	 */
	errno = 0;
	if (setpriority(PRIO_PROCESS, 0, RELAY_NICE) && errno)
		say("setpriority %d: %s (continuing)", RELAY_NICE, strerror(errno));
	if (prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0))
		say("PR_SET_IO_FLUSHER: %s (continuing)", strerror(errno));
}

static void write_file(const char *path, const char *text)
{
	int fd;

	if (!path)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, text, strlen(text)) < 0)
		say("write %s: %s", path, strerror(errno));
	close(fd);
}

/* --batch, else the kernel's tmem.batch, else 1; at most the backend's. */
static void choose_batch(void)
{
	char text[32] = "";
	ssize_t n;
	int fd;

	if (!batch_max) {
		fd = open(batch_param, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			n = read(fd, text, sizeof(text) - 1);
			close(fd);
			if (n > 0)
				text[n] = '\0';
		}
		batch_max = (unsigned int)strtoul(text, NULL, 10);
	}
	if (batch_max < 1)
		batch_max = 1;
	if (batch_max > TMEM_MAX_BATCH)
		batch_max = TMEM_MAX_BATCH;
	say("batching up to %u requests per frame", batch_max);
}

static void __attribute__((noreturn)) worker(void)
{
	int tmem;

	harden();
	tmem = open_retrying("tmem device", locate_device);
	/* Per task (PF_MEMALLOC): the worker, not the supervising parent. */
	if (ioctl(tmem, TMEM_IOC_MEMALLOC) < 0)
		say("ioctl MEMALLOC: %s (continuing without the reserves)",
		    strerror(errno));
	else
		say("may use the memory reserves");
	choose_batch();
	for (;;) {
		int port = open_retrying("port", find_port);

		write_file(ready_file, "");
		pump(tmem, port);
		close(port);
		sleep_ms(retry_ms);
	}
}

/* The mlocked parent: restart the worker whenever it dies. */
static void __attribute__((noreturn)) supervise(void)
{
	char pid_text[32];

	harden();
	for (;;) {
		int status;
		pid_t pid = fork();

		if (pid == 0)
			worker();
		if (pid < 0) {
			say("fork: %s; retrying", strerror(errno));
			sleep_ms(retry_ms);
			continue;
		}
		snprintf(pid_text, sizeof(pid_text), "%d\n", (int)pid);
		write_file(pid_file, pid_text);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (WIFSIGNALED(status))
			say("worker %d killed by signal %d: restarting", (int)pid,
			    WTERMSIG(status));
		else
			say("worker %d exited (%d): restarting", (int)pid,
			    WEXITSTATUS(status));
		sleep_ms(retry_ms);
	}
}

/*
 * Test hook: one line per frame of a byte stream on stdin.
 */
static int parse_stdin(void)
{
	size_t len = 0, whole, pos;
	bool bad;
	ssize_t n;

	while ((n = read(0, rxbuf + len, sizeof(rxbuf) - len)) > 0)
		len += n;
	whole = whole_frames(rxbuf, len, &bad);
	for (pos = 0; pos < whole; pos += frame_size(rxbuf + pos, whole - pos)) {
		const unsigned char *h = rxbuf + pos;

		printf("op=%u status=%d length=%u id=%llu\n", h[5],
		       (int32_t)get_le32(h + 52), get_le32(h + TMEM_HDR_LENGTH),
		       (unsigned long long)get_le64(h + 8));
	}
	if (bad)
		printf("bad at %zu resync %zu\n", whole,
		       whole + resync_offset(rxbuf + whole, len - whole));
	else if (whole < len)
		printf("partial %zu\n", len - whole);
	return 0;
}

/*
 * Test hook: --pack [--batch N] reads request frames, then reply frames
 * (REPLY flag) on stdin; writes the requests packed as the port would get
 * them, then the replies split as the kernel would get them. Batch ids are
 * deterministic, so replies a backend gave to an earlier --pack of the same
 * requests split correctly.
 */
static int pack_stdin(void)
{
	static unsigned char in[BUF_SIZE];
	size_t len = 0, whole, pos = 0, req_end, out_len;
	bool bad;
	ssize_t n;

	if (!batch_max)
		batch_max = 1;
	while ((n = read(0, in + len, sizeof(in) - len)) > 0)
		len += n;
	whole = whole_frames(in, len, &bad);
	/* Requests first (flags 0), then replies (flag REPLY). */
	while (pos < whole && !(get_le32(in + pos + 4) >> 16 & TMEM_FLAG_REPLY))
		pos += frame_size(in + pos, whole - pos);
	req_end = pos;
	out_len = pack_batches(in, req_end, packbuf, batch_max);
	if (fwrite(packbuf, 1, out_len, stdout) != out_len)
		return 1;
	out_len = 0;
	while (pos < whole) {
		long size = frame_size(in + pos, whole - pos);

		out_len += split_reply(in + pos, size, kbuf + out_len);
		pos += size;
	}
	if (fwrite(kbuf, 1, out_len, stdout) != out_len)
		return 1;
	return bad ? 1 : 0;
}

static const char usage[] =
	"usage: " NAME " [--device PATH] [--port PATH | --port-name NAME] [--sysfs DIR]\n"
	"                  [--ready-file PATH] [--pid-file PATH] [--retry-ms MS] [--batch N]\n"
	"                  [--stats-file PATH] [--no-supervise]\n"
	"       " NAME " --pack [--batch N] < requests-then-replies\n"
	"       " NAME " --find-port [--port-name NAME] [--sysfs DIR]\n"
	"       " NAME " --parse < stream\n";

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "port", required_argument, NULL, 'p' },
		{ "port-name", required_argument, NULL, 'n' },
		{ "sysfs", required_argument, NULL, 's' },
		{ "ready-file", required_argument, NULL, 'r' },
		{ "pid-file", required_argument, NULL, 'i' },
		{ "no-supervise", no_argument, NULL, 'S' },
		{ "retry-ms", required_argument, NULL, 't' },
		{ "batch", required_argument, NULL, 'b' },
		{ "stats-file", required_argument, NULL, 'x' },
		{ "pack", no_argument, NULL, 'K' },
		{ "find-port", no_argument, NULL, 'f' },
		{ "parse", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool find_only = false, parse_only = false, pack_only = false, supervised = true;
	char path[512];
	int opt;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'd': device_path = optarg; break;
		case 'p': port_path = optarg; break;
		case 'n': port_name = optarg; break;
		case 's': sysfs_dir = optarg; break;
		case 'r': ready_file = optarg; break;
		case 'i': pid_file = optarg; break;
		case 'S': supervised = false; break;
		case 't':
			retry_ms = (unsigned int)strtoul(optarg, NULL, 10);
			if (retry_ms < 1 || retry_ms > 60000) {
				fprintf(stderr, NAME ": --retry-ms: 1..60000\n");
				return 2;
			}
			break;
		case 'b':
			batch_max = (unsigned int)strtoul(optarg, NULL, 10);
			if (batch_max < 1 || batch_max > TMEM_MAX_BATCH) {
				fprintf(stderr, NAME ": --batch: 1..%u\n", TMEM_MAX_BATCH);
				return 2;
			}
			break;
		case 'x': stats_file = optarg; break;
		case 'K': pack_only = true; break;
		case 'f': find_only = true; break;
		case 'P': parse_only = true; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	if (parse_only)
		return parse_stdin();
	if (pack_only)
		return pack_stdin();
	if (find_only) {
		if (!find_port(path, sizeof(path)))
			return 1;
		puts(path);
		return 0;
	}

	if (supervised)
		supervise();
	worker();
}
