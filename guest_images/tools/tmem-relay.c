// SPDX-License-Identifier: GPL-2.0
/*
 * tmem-relay.c - pump tmem frames between /dev/tmem and a virtio-serial port.
 *
 *   tmem-relay [--device PATH] [--port PATH | --port-name NAME]
 *              [--sysfs DIR] [--ready-file PATH] [--pid-file PATH]
 *              [--retry-ms MS] [--no-supervise]
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
 * swap-out) and allocates nothing after start-up.
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
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#define NAME		"tmem-relay"

/* Wire format and ioctls: a copy of include/uapi/linux/tmem.h (patch 0002). */
#define TMEM_MAGIC		0x4D454D54u
#define TMEM_HDR_SIZE		56
#define TMEM_HDR_LENGTH		48	/* offset of the u32 payload length */
#define TMEM_IOC_MAGIC		0xB9
#define TMEM_IOC_PORT_UP	_IO(TMEM_IOC_MAGIC, 1)
#define TMEM_IOC_PORT_DOWN	_IO(TMEM_IOC_MAGIC, 2)

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER	57
#endif

#define BUF_SIZE	(256 * 1024)	/* each direction */
#define MAX_FRAME	(64 * 1024)	/* replies: a page or a HELLO reply */
#define PORT_WRITE_MAX	(32 * 1024)	/* virtio_console caps a write */

static const char *device_path = "/dev/tmem";
static const char *port_path;
static const char *port_name = "org.tmemlab.tmem.0";
static const char *sysfs_dir = "/sys/class/virtio-ports";
static const char *ready_file;
static const char *pid_file;
static unsigned int retry_ms = 200;

static unsigned char txbuf[BUF_SIZE];	/* kernel -> port */
static size_t tx_len, tx_off;
static unsigned char rxbuf[BUF_SIZE];	/* port -> kernel */
static size_t rx_len;

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
}

/* Hand whole reply frames to the kernel. Returns false on an unusable fd. */
static bool deliver(int tmem)
{
	size_t whole;
	bool bad;

	whole = whole_frames(rxbuf, rx_len, &bad);
	while (whole) {
		ssize_t n = write(tmem, rxbuf, whole);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EINVAL)
			return false;
		if (n <= 0) {
			/* The kernel refused the first frame: skip it. */
			n = frame_size(rxbuf, whole);
			say("kernel refused a reply frame (%ld bytes); skipped", (long)n);
		}
		memmove(rxbuf, rxbuf + n, rx_len - n);
		rx_len -= n;
		whole -= n;
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
		n = write(port, txbuf + tx_off, chunk);
		if (n < 0 && errno == EINTR)
			continue;
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
		if (poll(pfd, 2, -1) < 0) {
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
				tx_len = n;
				tx_off = 0;
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

static void __attribute__((noreturn)) worker(void)
{
	int tmem;

	harden();
	tmem = open_retrying("tmem device", locate_device);
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

static const char usage[] =
	"usage: " NAME " [--device PATH] [--port PATH | --port-name NAME] [--sysfs DIR]\n"
	"                  [--ready-file PATH] [--pid-file PATH] [--retry-ms MS] [--no-supervise]\n"
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
		{ "find-port", no_argument, NULL, 'f' },
		{ "parse", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool find_only = false, parse_only = false, supervised = true;
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
