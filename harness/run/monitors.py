"""1 s samplers: the guest's own counters (via the mlocked tmemlab-sample tool streaming
over SSH) joined with host-side numbers for the same instant (QEMU CPU/RSS, swap-disk
block stats, and any extra source such as the tmem backend's stats).

An extra source is another process that may stall (a SIGSTOPped backend): each is polled
on its own thread (``Poller``), and a guest row takes the result that was fresh
(``EXTRA_MAX_AGE_S``) *when the guest took the row*. A row without one has none of that
source's columns, and the run's summary counts those rows (``<source>_samples_missed``).

When the guest took a row is not when it arrived: a guest blocked on its swap device
(an async tmem frontend waiting on a dead backend) keeps sampling — the sampler is
mlocked — while sshd cannot send, and the rows arrive in a burst later. Each row's host
time is its guest timestamp plus the smallest (arrival - guest time) seen so far, the
delay of the promptest row; joining by arrival would stamp a burst of rows taken while
the backend was down with the restarted backend's numbers."""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import psutil

from harness.run import parsers

GUEST_FILES = ("/proc/vmstat", "/proc/meminfo", "/proc/pressure/memory", "/proc/stat",
               "/sys/kernel/debug/zswap", "/sys/kernel/debug/frontswap",
               "/sys/kernel/debug/tmem", "/sys/block/vdb/stat", "/sys/block/zram0/stat",
               "/sys/block/zram0/mm_stat", "/sys/block/zram0/io_stat",
               parsers.RELAY_STATS,
               # a shell glob, expanded by the guest's shell: one stats directory per THP
               # size on 6.10+ kernels; on others it stays a path that cannot be read
               f"{parsers.MTHP_DIR}/hugepages-*/stats")
SAMPLER = "/usr/local/bin/tmemlab-sample"


def sampler_command(interval_ms: int = 1000) -> str:
    return f"exec {SAMPLER} --interval-ms {interval_ms} " + " ".join(GUEST_FILES)


def is_gauge(name: str) -> bool:
    """Gauges are summarised by max/end; everything else is a counter (end − start)."""
    return (name.endswith("_kb") or name.startswith("nr_") or "_avg" in name
            or name in parsers.ZSWAP_GAUGES or name.endswith("_rss_bytes")
            or name.startswith("HugePages_") or name.startswith("backend_stored")
            or name in parsers.ZRAM_GAUGES or (name.startswith("mthp_") and "_nr_" in name)
            or name == "backend_compression_ratio" or name.endswith(("_p50_us", "_p99_us"))
            or name.endswith("_fds") or name == "scratch_bytes"
            or name in ("t", "wall"))


EXTRA_INTERVAL_S = 1.0
EXTRA_MAX_AGE_S = 2.0
# A call answered within this is the source's state when it was asked; a slower answer
# is its state when it came (see Poller.record). Well under the 1 s row spacing, well
# over a busy backend's usual stats answer (milliseconds).
PROMPT_S = 0.1
POLL_HISTORY = 1024   # results kept per source: a delayed burst of rows can look back


class Poller(threading.Thread):
    """Calls ``source`` every ``interval`` seconds on its own thread and keeps its recent
    results with the time each call started. However long a call blocks, only this thread
    waits; ``latest`` and ``at`` never block. ``source`` must bound its own calls (a timeout) and be
    safe to call from two threads (Monitor.stop calls it once more)."""

    def __init__(self, name: str, source: Callable[[], dict], interval: float):
        super().__init__(name=f"poll-{name}", daemon=True)
        self.source, self.interval = source, interval
        # (as of, started, result) per call, monotonic s, oldest first; appended by this
        # thread only
        self._history: deque[tuple[float, float, dict]] = deque(maxlen=POLL_HISTORY)
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                value = self.source() or {}
            except Exception:  # a source hiccup costs its sample, not the run
                value = {}
            self.record(started, time.monotonic(), value)
            self._stopping.wait(max(0.0, started + self.interval - time.monotonic()))

    def record(self, started: float, finished: float, value: dict) -> None:
        """Keeps one call's result (monotonic s). A prompt answer (within PROMPT_S) holds
        from when the call started; a slow one only from when it came: a SIGSTOPped
        backend answers the call in flight the moment it is continued, with its numbers of
        then, which must not fill the rows taken while it was stopped (a row 0.02 s before
        SIGCONT took a call made 0.97 s before it: tests/functional/harness/
        test_backend_stall.py failed in CI). Its age still counts from ``started``."""
        as_of = started if finished - started <= PROMPT_S else finished
        self._history.append((as_of, started, value))  # one tuple: read whole by at()

    def latest(self, max_age: float) -> dict | None:
        """The latest non-empty result asked for at most ``max_age`` s ago, else None."""
        return self.at(time.monotonic(), max_age)

    def at(self, when: float, max_age: float) -> dict | None:
        """The result of the last call that holds at ``when`` (monotonic; ``record``), if
        that call succeeded and started at most ``max_age`` s before; else None (the
        source was down, stalled, or not asked in time)."""
        for as_of, started, value in reversed(list(self._history)):
            if as_of <= when:
                return value if value and when - started <= max_age else None
        return None

    def stop(self) -> None:
        self._stopping.set()


def host_qemu(pid: int | None) -> dict[str, float]:
    if not pid:
        return {}
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
    except OSError:
        return {}
    return parsers.qemu_proc_stat(stat, status, os.sysconf("SC_CLK_TCK"))


def host_harness(scratch: Path) -> dict[str, int]:
    """The harness's own open file descriptors and the allocated bytes (st_blocks, not
    apparent size: swap images are sparse) under its scratch folder: what a long run
    must not grow without bound (experiments/soak.yaml)."""
    total = 0
    for root, _dirs, files in os.walk(scratch):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:  # removed while walking
                pass
    return {"harness_fds": psutil.Process().num_fds(), "scratch_bytes": total}


def swap_disk_stats(dom) -> dict[str, float]:
    try:
        rd_req, rd_bytes, wr_req, wr_bytes, _errs = dom.blockStats("vdb")
    except Exception:  # no swap disk (zram run) or domain gone
        return {}
    return {"swap_disk_read_reqs": rd_req, "swap_disk_read_bytes": rd_bytes,
            "swap_disk_write_reqs": wr_req, "swap_disk_write_bytes": wr_bytes}


class Monitor(threading.Thread):
    """Reads the sampler stream until stopped; ``rows`` is the joined time series."""

    def __init__(self, channel, dom, qemu_pid: int | None,
                 extra: dict[str, Callable[[], dict]] | None = None,
                 extra_interval: float = EXTRA_INTERVAL_S,
                 extra_max_age: float = EXTRA_MAX_AGE_S):
        super().__init__(name="monitor", daemon=True)
        self.channel, self.dom, self.qemu_pid = channel, dom, qemu_pid
        self.pollers = {name: Poller(name, source, extra_interval)
                        for name, source in (extra or {}).items()}
        self.extra_max_age = extra_max_age
        self.missed = dict.fromkeys(self.pollers, 0)  # rows without that source's columns
        self.rows: list[dict] = []
        self._stopping = threading.Event()
        self._t0: float | None = None
        self._offset: float | None = None  # min(arrival - guest time): see the docstring

    def run(self) -> None:
        for poller in self.pollers.values():
            poller.start()
        try:
            self._read()
        finally:
            for poller in self.pollers.values():
                poller.stop()

    def _read(self) -> None:
        buf = ""
        while not self._stopping.is_set():
            if self.channel.recv_ready():
                data = self.channel.recv(1 << 16)
                if not data:
                    break
                buf += data.decode(errors="replace")
                buf = self._consume(buf)
            elif self.channel.exit_status_ready() or self.channel.closed:
                break
            else:
                time.sleep(0.05)

    def _consume(self, buf: str) -> str:
        while "=== end\n" in buf:
            record_text, buf = buf.split("=== end\n", 1)
            for record in parsers.parse_sampler(record_text + "=== end\n"):
                self._add(record)
        return buf

    def _add(self, record: dict) -> None:
        if self._t0 is None:
            self._t0 = record["t"]
        arrived = time.monotonic()
        delay = arrived - record["t"]
        self._offset = delay if self._offset is None else min(self._offset, delay)
        taken = record["t"] + self._offset             # host monotonic time of the sample
        row: dict[str, float] = {"t": round(record["t"] - self._t0, 3),
                                 "wall": time.time() - (arrived - taken)}
        row.update(parsers.parse_guest_record(record["files"]))
        # QEMU's and the disk's numbers are read now: for a late row, later than its guest
        # counters (they are cumulative and the guest was not running meanwhile).
        row.update(host_qemu(self.qemu_pid))
        row.update(swap_disk_stats(self.dom))
        for name, poller in self.pollers.items():
            value = poller.at(taken, self.extra_max_age)
            if value is None:
                self.missed[name] += 1
            else:
                row.update(value)
        self.rows.append(row)

    def stop(self) -> None:
        self._stopping.set()
        try:
            self.channel.close()
        except Exception:
            pass
        self.join(timeout=5)
        for name, poller in self.pollers.items():
            poller.stop()
            self._final_sample(name, poller)
            if poller.is_alive():  # a call in flight ends within the source's own timeout
                poller.join(timeout=2)

    def _final_sample(self, name: str, poller: Poller) -> None:
        """One more call after the last guest row, into that row: the run's closing
        backend counters are then read after the guest's, as the agreement checks need
        (backend good_puts >= guest succ_stores), not up to EXTRA_MAX_AGE_S before them.
        Costs at most the source's own timeout, once, after the workload."""
        if not self.rows:
            return
        try:
            value = poller.source()
        except Exception:
            return
        if value:
            last = self.rows[-1]
            if not any(key in last for key in value):
                self.missed[name] -= 1  # that row has the source's columns after all
            last.update(value)


# Guest counters read once more after the run's final backend sample (Monitor.stop): the
# backend's closing counts were read after the last guest row and before these, so the
# checks can bracket them (checks.py) instead of assuming nothing happened in between.
CLOSING_FILES = {"loads": "/sys/kernel/debug/frontswap/loads",
                 "succ_stores": "/sys/kernel/debug/frontswap/succ_stores"}


def closing_script() -> str:
    return "cat " + " ".join(CLOSING_FILES.values())


def parse_closing(text: str, rows: list[dict]) -> dict[str, int]:
    """``closing_script`` output → {counter: growth since the first row}; {} when the
    guest has no such counters (no frontswap) or the read failed."""
    values = text.split()
    if not rows or len(values) != len(CLOSING_FILES) or not all(v.isdigit() for v in values):
        return {}
    first = rows[0]
    if not all(name in first for name in CLOSING_FILES):
        return {}
    return {name: int(v) - int(first[name]) for name, v in zip(CLOSING_FILES, values)}


def summarize(rows: list[dict], missed: dict[str, int] | None = None) -> tuple[dict, dict]:
    """(deltas of counters, {gauge}_max / {gauge}_end) over a run's rows; ``missed``
    (Monitor.missed) adds ``<source>_samples_missed``. A backend counter absent from the
    first row (a missed sample) counts from the first row that has it."""
    missed_counts = {f"{name}_samples_missed": n for name, n in (missed or {}).items()}
    if not rows:
        return {}, missed_counts
    first, last = rows[0], rows[-1]
    deltas, summary = {}, {}
    # A backend column may be missing from the last rows too (stalled or killed at the end).
    backend = [k for r in rows for k in r if k.startswith("backend_") and k not in last]
    for name in [*last, *dict.fromkeys(backend)]:
        if is_gauge(name):
            if name in ("t", "wall"):
                continue
            values = [r[name] for r in rows if name in r]
            summary[f"{name}_max"] = max(values)
            summary[f"{name}_end"] = values[-1]
        elif name in first or name.startswith("backend_"):
            delta = increase([r[name] for r in rows if name in r])
            deltas[name] = round(delta, 6) if isinstance(delta, float) else delta
    summary["samples"] = len(rows)
    summary.update(missed_counts)
    summary["duration_s"] = last["t"] - first["t"]
    summary.update(derived(deltas))
    return deltas, summary


def increase(values: list[float]) -> float:
    """How much a counter grew, across restarts of its source: a drop means the source
    started again from zero (a restarted backend), so its new value is all growth."""
    total = 0
    for prev, cur in zip(values, values[1:]):
        total += cur - prev if cur >= prev else cur
    return total


def derived(deltas: dict) -> dict[str, float]:
    """Per-request averages worth comparing side by side: the guest's own view of swap
    disk latency (block layer ticks / completed I/Os) and the tmem round trip."""
    out = {}
    for op in ("read", "write"):
        ios = deltas.get(f"guest_vdb_{op}_ios", 0)
        if ios:
            out[f"swap_disk_{op}_avg_ms"] = round(deltas[f"guest_vdb_{op}_ticks_ms"] / ios, 4)
    if deltas.get("tmem_rtt_count"):
        out["tmem_rtt_avg_us"] = round(deltas["tmem_rtt_total_us"] / deltas["tmem_rtt_count"],
                                       2)
    out.update(hist_percentiles(deltas, "tmem_rtt", "tmem_rtt"))
    # The relay's view: frame to the port until its reply (virtio-serial, QEMU, backend).
    if deltas.get("relay_port_rtt_count"):
        out["relay_port_rtt_avg_us"] = round(
            deltas["relay_port_rtt_total_us"] / deltas["relay_port_rtt_count"], 2)
    out.update(hist_percentiles(deltas, "relay_port_rtt", "relay_port_rtt"))
    # Data frames on the port per page moved: 1.0 unbatched, 1/batch when fully batched.
    frames = {op: deltas.get(f"backend_frames_{op}", 0)
              + deltas.get(f"backend_frames_{op}_batch", 0) for op in ("put", "get")}
    pages = {"put": deltas.get("backend_puts", 0), "get": deltas.get("backend_gets", 0)}
    for op in ("put", "get"):
        if pages[op]:
            out[f"tmem_frames_per_{op}_page"] = round(frames[op] / pages[op], 4)
    if pages["put"] + pages["get"]:
        out["tmem_frames_per_page"] = round(sum(frames.values()) / sum(pages.values()), 4)
    out.update(per_swapped_page(deltas))
    return out


def host_cpu_s(deltas: dict) -> float | None:
    """Host CPU seconds of a run: QEMU (vCPUs and device emulation) plus the tmem backend;
    None without QEMU's counter."""
    if "qemu_cpu_s" not in deltas:
        return None
    return deltas["qemu_cpu_s"] + deltas.get("backend_cpu_s", 0)


def per_swapped_page(deltas: dict) -> dict[str, float]:
    """CPU per page moved by swap, whichever way it went: disk I/O (pswpin/pswpout, zram
    included) plus frontswap's stores and loads (zswap and tmem alike; frontswap pages are
    not counted in pswp*, mm/page_io.c swap_writepage/swap_readpage in 6.1). Guest system
    time, and host CPU = QEMU (vCPUs + device emulation) + the tmem backend process."""
    swapped = sum(deltas.get(k, 0) for k in ("pswpin", "pswpout", "succ_stores", "loads"))
    if not swapped:
        return {}
    out = {"swapped_pages": swapped}
    if "cpu_system_s" in deltas:
        out["guest_sys_us_per_swapped_page"] = round(deltas["cpu_system_s"] * 1e6 / swapped, 3)
    host = host_cpu_s(deltas)
    if host is not None:
        out["host_cpu_us_per_swapped_page"] = round(host * 1e6 / swapped, 3)
    return out


def hist_percentiles(deltas: dict, prefix: str, out_prefix: str) -> dict[str, float]:
    """p50/p90/p99 (as the bucket's upper bound, in the histogram's unit) of the
    ``<prefix>_le_<upper>`` bucket deltas of one run."""
    buckets = sorted((int(k.rsplit("_", 1)[1]), v) for k, v in deltas.items()
                     if k.startswith(f"{prefix}_le_"))
    total = sum(v for _, v in buckets)
    out: dict[str, float] = {}
    if not total:
        return out
    for pct in (50, 90, 99):
        seen = 0
        for upper, count in buckets:
            seen += count
            if seen * 100 >= pct * total:
                out[f"{out_prefix}_p{pct}_us"] = upper
                break
    return out
