"""Kernel health: the guest's kernel log (serial console and ``dmesg``) scanned for
failure reports, each classified fatal / warning / stall, recorded per run.

The pattern table is data, modelled on LKP's dmesg classification (lkp-tests
``etc/oops-pattern`` and ``lib/dmesg.rb``) plus the swap-specific messages of Linux 6.1
(mm/page_io.c, mm/swapfile.c, mm/zswap.c, drivers/block/zram/zram_drv.c) and of the
project's tmem frontend (kernel_configs/patches/6.1/0002, ``pr_fmt`` "tmem: "). The first
pattern that matches a line names it, so specific patterns come before general ones.
docs/KERNEL_HEALTH.md lists them with the reasons for each class.

Stalls (soft/hard lockup, RCU stall, hung task, workqueue lockup) depend on the
accelerator: under KVM each one is fatal; under TCG a vCPU thread that the host did not
schedule for a while looks exactly like a lockup, so a stall reported once is recorded as
an emulation stall (listed, not fatal), and one that persists is fatal: the same stall
(same kind and CPU or task) reported again at least ``REPEAT_GAP_S`` later, or a soft
lockup stuck for ``PERSISTENT_STUCK_S`` or more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FATAL, WARNING, STALL = "fatal", "warning", "stall"
CLASSES = (FATAL, WARNING, STALL)

PERSISTENT_STUCK_S = 60   # a soft lockup this long is no scheduling hiccup, TCG or not
REPEAT_GAP_S = 2.0        # a second report of the same stall this much later: it persists
MAX_LISTED = 40           # per class in the run record; counts keep the full numbers


@dataclass(frozen=True)
class Pattern:
    name: str
    cls: str
    regex: re.Pattern
    why: str

    def key(self, match: re.Match) -> str:
        """What identifies one stall (kind plus CPU or task) for the repeat rule."""
        group = match.groupdict().get("who")
        return f"{self.name}:{group}" if group else self.name


def _p(name: str, cls: str, regex: str, why: str) -> Pattern:
    return Pattern(name, cls, re.compile(regex), why)


PATTERNS: tuple[Pattern, ...] = (
    # The tmem frontend (mm/tmem.c, pr_fmt "tmem: "): data loss first.
    _p("tmem_store_lost", FATAL, r"tmem: host backend lost its store",
       "the host dropped pages the guest swapped out (frontend panics)"),
    _p("tmem_load_timeout", FATAL, r"tmem: swap type \d+ offset \d+: no page from the host",
       "a swapped-out page never came back from the host (frontend panics)"),
    _p("tmem_init_failed", FATAL, r"\btmem: init failed",
       "the frontend did not start: the run's technique is not in effect"),
    # Swap I/O and swap-entry errors (mm/page_io.c, mm/swapfile.c): a page is lost.
    _p("swap_read_error", FATAL, r"Read-error on swap-device",
       "a swapped-out page could not be read back (the task gets SIGBUS)"),
    _p("swap_write_error", FATAL, r"Write-error on swap-device",
       "a page could not be written to swap"),
    _p("swap_bad_entry", FATAL, r"(?:Bad|Unused) swap (?:file|offset) entry",
       "a page table points at a swap slot that does not exist: swap metadata corrupted"),
    # Compressed swap (drivers/block/zram/zram_drv.c; mm/zswap.c of 6.1 BUG()s instead,
    # which 'kernel_bug' names; newer kernels print the zswap line).
    _p("zram_decompress_failed", FATAL, r"\bzram: Decompression failed",
       "zram could not decompress a stored page (read error: data loss)"),
    _p("zram_compress_failed", FATAL, r"\bzram: Compression failed",
       "zram could not compress a page (write error)"),
    _p("zswap_decompress_failed", FATAL, r"Decompression error from zswap",
       "zswap could not decompress a stored page (data loss)"),
    # Stalls (before the generic 'BUG: ': the soft lockup line starts "watchdog: BUG:").
    _p("soft_lockup", STALL, r"BUG: soft lockup - CPU#(?P<who>\d+) stuck for (?P<secs>\d+)s!",
       "a CPU ran kernel code without scheduling for 2 x watchdog_thresh"),
    _p("hard_lockup", STALL, r"Watchdog detected hard LOCKUP on cpu (?P<who>\d+)",
       "a CPU took no timer interrupt for watchdog_thresh (NMI watchdog)"),
    _p("rcu_stall", STALL, r"INFO: rcu_\w+ (?:self-)?detected (?:expedited )?stalls?",
       "an RCU grace period did not end within rcu_cpu_stall_timeout"),
    _p("rcu_kthread_starved", STALL, r"rcu_\w+ kthread (?:timer wakeup didn't happen|starved)",
       "the RCU grace-period kthread did not run (part of an RCU stall report)"),
    _p("hung_task", STALL, r"INFO: task (?P<who>\S+) blocked for more than \d+ seconds",
       "a task sat in uninterruptible sleep for hung_task_timeout_secs"),
    _p("workqueue_lockup", STALL, r"BUG: workqueue lockup - pool",
       "a workqueue pool made no progress for 30 s"),
    # Oops and BUG family: the kernel killed a task in the middle of kernel code.
    _p("kernel_panic", FATAL, r"Kernel panic - not syncing",
       "the kernel stopped"),
    _p("kernel_bug", FATAL, r"[Kk]ernel BUG at ",
       "a BUG()/BUG_ON() fired (zswap 6.1 does this on a decompression error)"),
    _p("bad_page", FATAL, r"BUG: Bad page (?:state|map|cache)",
       "a freed or mapped page has inconsistent state: memory corruption"),
    _p("kasan", FATAL, r"BUG: KASAN: ", "KASAN found an invalid memory access"),
    _p("kfence", FATAL, r"BUG: KFENCE: ", "KFENCE found an invalid memory access"),
    _p("out_of_memory_deadlock", FATAL, r"Out of memory and no killable processes",
       "the OOM killer found nothing to kill"),
    _p("bug", FATAL, r"\bBUG: ",
       "a kernel BUG report (NULL dereference, bad page table, sleeping in atomic, ...)"),
    _p("invalid_opcode", FATAL, r"invalid opcode: [0-9a-f]{4}",
       "x86 oops header of a BUG() (ud2) or a jump into garbage"),
    _p("general_protection_fault", FATAL, r"general protection fault",
       "x86 #GP in kernel mode (often a corrupted pointer)"),
    _p("double_fault", FATAL, r"PANIC: double fault", "x86 double fault"),
    _p("oops", FATAL, r"\bOops\b", "a kernel oops"),
    _p("unable_to_handle", FATAL, r"Unable to handle kernel", "arm64/ppc kernel fault"),
    _p("oops_header", FATAL, r"^[A-Za-z][\w ,-]*: [0-9a-f]{4} \[#\d+\]",
       "any other oops header ('stack segment: 0000 [#1]', 'divide error: 0000 [#1]')"),
    _p("list_corruption", FATAL, r"list_(?:add|del) corruption",
       "a kernel linked list was corrupted"),
    # Warnings: recorded and listed; the run goes on.
    _p("warn", WARNING, r"WARNING: CPU: \d+ PID: \d+ at ",
       "a WARN()/WARN_ON() fired: a kernel invariant broke, the kernel carried on"),
    _p("warning", WARNING, r"^WARNING: ",
       "other kernel WARNING reports (lockdep, suspicious RCU usage, ...)"),
    _p("page_allocation_failure", WARNING, r"page allocation failure: order:\d+",
       "an allocation failed (expected now and then under swap pressure)"),
    _p("oom_kill", WARNING, r"Out of memory: Killed process \d+ \((?P<who>[^)]+)\)",
       "the OOM killer killed a process (whether that fails the run is the checks' call)"),
    _p("refcount", WARNING, r"refcount_t: ", "a reference count saturated or underflowed"),
    _p("ubsan", WARNING, r"UBSAN: ", "undefined behaviour detected"),
    _p("zswap_setting", WARNING, r"zswap: (?:compressor|zpool) \S+ not available",
       "zswap fell back to a default compressor or zpool"),
    _p("clocksource_unstable", WARNING, r"clocksource: .*[Mm]arking clocksource \S+ as unstable",
       "the guest's clock source was judged unstable (timing is less trustworthy)"),
    _p("tmem_hello_refused", WARNING, r"tmem: backend refused HELLO",
       "no tmem session: stores fail, pages go to the swap disk"),
    _p("tmem_pool_refused", WARNING, r"tmem: NEW_POOL for swap type \d+ refused",
       "no tmem pool for a swap area: its stores go to disk"),
    _p("tmem_put_error", WARNING, r"tmem: PUT type \d+ offset \d+: status",
       "the host answered a PUT with an unexpected status; the page went to disk"),
    _p("tmem_get_retry", WARNING, r"tmem: GET type \d+ offset \d+.*retrying",
       "a load had to be retried"),
    _p("tmem_session_lost", WARNING, r"tmem: backend has no session for us",
       "the backend forgot the guest's session: HELLO again"),
    _p("tmem_new_epoch", WARNING, r"tmem: backend epoch \d+ -> \d+",
       "the backend restarted while the guest held no pages"),
    _p("tmem_stream_rejected", WARNING, r"tmem: backend rejected the stream",
       "the backend rejected the message stream"),
    _p("tmem_backend_gone", WARNING,
       r"tmem: (?:relay reports the backend gone|relay closed /dev/tmem)",
       "the host side went away: stores fail, loads wait"),
)

_TIMESTAMP = re.compile(r"^\[\s*(\d+\.\d+)\](?:\[\s*[TC]\d+\])?\s?")


def _strip(line: str) -> tuple[float | None, str]:
    """(printk time or None, the message) of one log line."""
    line = line.rstrip("\r\n").replace("\r", "")
    match = _TIMESTAMP.match(line)
    if not match:
        return None, line.strip()
    return float(match.group(1)), line[match.end():].strip()


def classify_line(text: str) -> tuple[Pattern, re.Match] | None:
    """The first pattern (in table order) that matches one message, or None."""
    for pattern in PATTERNS:
        match = pattern.regex.search(text)
        if match:
            return pattern, match
    return None


@dataclass
class Match:
    line: str
    time: float | None
    pattern: Pattern
    match: re.Match
    sources: list[str]
    order: int

    def to_json(self, cls: str, why: str = "") -> dict:
        out = {"line": self.line, "time": self.time, "pattern": self.pattern.name,
               "class": cls, "source": "+".join(self.sources)}
        if why:
            out["why"] = why
        return out


def find(logs: dict[str, str]) -> list[Match]:
    """Every matching line of ``logs`` ({source: text}); a line present in two sources
    (same printk time and message) is one match with both sources. Ordered by printk
    time, lines without one after those with it, in the order read."""
    found: dict[tuple, Match] = {}
    order = 0
    for source, text in logs.items():
        for raw in text.splitlines():
            when, line = _strip(raw)
            hit = classify_line(line) if line else None
            if hit is None:
                continue
            key = (when, line) if when is not None else (source, order)
            if key in found:
                if source not in found[key].sources:
                    found[key].sources.append(source)
                continue
            found[key] = Match(line, when, hit[0], hit[1], [source], order)
            order += 1
    return sorted(found.values(),
                  key=lambda m: (m.time is None, m.time or 0.0, m.order))


def _stall_verdicts(stalls: list[Match], accel: str) -> dict[int, str]:
    """{order: why} for the stalls that are fatal under ``accel``."""
    if accel != "tcg":
        return {m.order: f"{m.pattern.name} under {accel or 'KVM'}" for m in stalls}
    fatal: dict[int, str] = {}
    by_key: dict[str, list[Match]] = {}
    for m in stalls:
        by_key.setdefault(m.pattern.key(m.match), []).append(m)
        secs = m.match.groupdict().get("secs")
        if secs is not None and int(secs) >= PERSISTENT_STUCK_S:
            fatal[m.order] = f"persistent: stuck for {secs} s (>= {PERSISTENT_STUCK_S} s)"
    for key, reports in by_key.items():
        first = reports[0]
        for i, later in enumerate(reports[1:], start=1):
            gap = (later.time - first.time) if None not in (later.time, first.time) else None
            if gap is None or gap >= REPEAT_GAP_S:
                # this report and every later one: the stall persisted
                for m in reports[i:]:
                    fatal.setdefault(m.order,
                                     f"persistent: {key} reported {len(reports)} times")
                break
    return fatal


def assess(logs: dict[str, str], accel: str) -> dict:
    """The run record's ``kernel_log``: matches by class, counts per pattern, and the
    first fatal line. ``accel`` is "tcg" or "kvm" (see the module docstring)."""
    matches = find(logs)
    stalls = [m for m in matches if m.pattern.cls == STALL]
    fatal_stalls = _stall_verdicts(stalls, accel)
    out: dict = {cls: [] for cls in CLASSES}
    counts: dict[str, int] = {}
    for m in matches:
        counts[m.pattern.name] = counts.get(m.pattern.name, 0) + 1
        cls, why = m.pattern.cls, ""
        if m.order in fatal_stalls:
            cls, why = FATAL, fatal_stalls[m.order]
        out[cls].append(m.to_json(cls, why))
    out["counts"] = counts
    out["truncated"] = {cls: len(out[cls]) - MAX_LISTED for cls in CLASSES
                        if len(out[cls]) > MAX_LISTED}
    for cls in CLASSES:
        out[cls] = out[cls][:MAX_LISTED]
    out["sources"] = sorted(logs)
    return out


# zswap initialises before any module can load, so a modular compressor or zpool asked for
# on the command line is first refused ("compressor lz4 not available, using default lzo")
# and then set by the guest rc through sysfs. Once harness/run/effective.py has read the
# setting back in effect, that boot-time line is history, not a warning.
SETTLED_BY_SETTING = {"zswap_setting": re.compile(r"zswap: (compressor|zpool) ")}


def settle(kernel_log: dict, settings: dict) -> dict:
    """``kernel_log`` with warnings that a setting read back in effect answers moved to
    ``settled`` (each with its ``why``); ``settings`` is the run record's ``settings``."""
    keep, settled = [], list(kernel_log.get("settled", []))
    for entry in kernel_log.get(WARNING, []):
        regex = SETTLED_BY_SETTING.get(entry.get("pattern", ""))
        match = regex.search(entry.get("line", "")) if regex else None
        name = f"zswap.{match[1]}" if match else None
        if name and settings.get(name, {}).get("ok"):
            effective = settings[name].get("effective")
            settled.append({**entry, "why": f"{name} read back in effect: {effective}"})
        else:
            keep.append(entry)
    return {**kernel_log, WARNING: keep, "settled": settled}


def failure(kernel_log: dict) -> str | None:
    """The run's failure reason from its ``kernel_log``: the first fatal line."""
    if not kernel_log.get(FATAL):
        return None
    first = kernel_log[FATAL][0]
    where = first["source"].replace("+", " and ")
    reason = f"kernel failure on {where}: {first['line']}"
    if first.get("why"):
        reason += f" ({first['why']})"
    return reason


def warnings(kernel_log: dict) -> list[str]:
    """One line per warning and non-fatal stall, for summaries."""
    return [f"{m['pattern']}: {m['line']}"
            for cls in (WARNING, STALL) for m in kernel_log.get(cls, [])]
