"""Text → numbers for everything tmemlab reads from /proc, debugfs and the sampler.

Reading lives elsewhere (monitors.py); these functions only parse, so they are tested on
captured files under tests/data/.
"""

from __future__ import annotations

USER_HZ = 100  # /proc/stat ticks; fixed at 100 on x86 regardless of CONFIG_HZ

CPU_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")

# Counters that only grow: per-run deltas are end − start. Everything else is a gauge.
ZSWAP_GAUGES = {"stored_pages", "pool_total_size", "same_filled_pages",
                "tmem_stored_pages", "tmem_session",
                # tmem's async window (mm/tmem.c) and the relay's batch limit
                "tmem_inflight", "tmem_inflight_max", "tmem_buffer_bytes", "relay_batch_max"}
RELAY_STATS = "/run/tmem-relay.stats"

# /sys/block/zram<id>/mm_stat and io_stat columns, in order
# (Documentation/admin-guide/blockdev/zram.rst; drivers/block/zram/zram_drv.c
# mm_stat_show, io_stat_show: the same nine and four columns on 6.1 and 6.12, where
# io_stat's invalid_io is no longer counted and always prints 0).
ZRAM_MM_STAT = ("orig_data_size", "compr_data_size", "mem_used_total", "mem_limit",
                "mem_used_max", "same_pages", "pages_compacted", "huge_pages",
                "huge_pages_since")
ZRAM_IO_STAT = ("failed_reads", "failed_writes", "invalid_io", "notify_free")
ZRAM_GAUGES = {f"zram_{n}" for n in ZRAM_MM_STAT if n not in ("pages_compacted",
                                                              "huge_pages_since")}
# Per-size THP counters (6.10+): hugepages-<size>/stats/<name>, one directory per size
# (mm/huge_memory.c DEFINE_MTHP_STAT_ATTR); nr_anon* are counts of folios now.
MTHP_DIR = "/sys/kernel/mm/transparent_hugepage"


def parse_keyvalue(text: str) -> dict[str, int]:
    """/proc/vmstat style: "name value" per line."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo → {"MemFree_kb": ..., "HugePages_Total": ...} (kB keys get _kb)."""
    out = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if not parts or not parts[0].isdigit():
            continue
        out[name + ("_kb" if parts[1:2] == ["kB"] else "")] = int(parts[0])
    return out


def parse_psi(text: str, prefix: str = "psi") -> dict[str, float]:
    """/proc/pressure/memory → psi_some_avg10, psi_some_total_us, psi_full_...."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        kind, *fields = line.split()
        for field in fields:
            key, _, value = field.partition("=")
            name = f"{prefix}_{kind}_{key}" + ("_us" if key == "total" else "")
            out[name] = float(value) if "." in value else int(value)
    return out


def parse_cpu(text: str) -> dict[str, float]:
    """Aggregate "cpu" line of /proc/stat → cpu_user_s, cpu_system_s, cpu_iowait_s, ..."""
    for line in text.splitlines():
        if line.startswith("cpu "):
            ticks = [int(x) for x in line.split()[1:]]
            return {f"cpu_{name}_s": t / USER_HZ for name, t in zip(CPU_FIELDS, ticks)}
    return {}


BLOCK_STAT_FIELDS = ("read_ios", "read_merges", "read_sectors", "read_ticks_ms",
                     "write_ios", "write_merges", "write_sectors", "write_ticks_ms",
                     "in_flight", "io_ticks_ms", "time_in_queue_ms")


def parse_block_stat(text: str, prefix: str) -> dict[str, int]:
    """/sys/block/<dev>/stat (Documentation/block/stat.rst) → {prefix_read_ios: ...}."""
    values = text.split()
    return {f"{prefix}_{name}": int(v) for name, v in zip(BLOCK_STAT_FIELDS, values)
            if name != "in_flight"}


def parse_swaps(text: str) -> list[dict]:
    """/proc/swaps → [{"device", "type", "size_kb", "used_kb", "priority"}]."""
    out = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 5:
            out.append({"device": parts[0], "type": parts[1], "size_kb": int(parts[2]),
                        "used_kb": int(parts[3]), "priority": int(parts[4])})
    return out


def parse_sampler(text: str) -> list[dict]:
    """Records of guest_images/tools/sample.c: [{"t": mono, "files": {path: text}}]."""
    records, current, path, lines = [], None, None, []

    def flush_file() -> None:
        if current is not None and path is not None:
            current["files"][path] = "\n".join(lines) + ("\n" if lines else "")

    for line in text.splitlines():
        if line.startswith("=== "):
            flush_file()
            path, lines = None, []
            if line == "=== end":
                if current is not None:
                    records.append(current)
                current = None
            else:
                stamp = line.split()
                current = {"t": float(stamp[1]), "files": {}}
        elif line.startswith("--- ") and current is not None:
            flush_file()
            path, lines = line[4:], []
        elif line.startswith("!!! ") and path is not None:
            path = None  # unreadable file: absent from the record
        elif path is not None:
            lines.append(line)
    return records


def debugfs_counters(files: dict[str, str], directory: str, key_prefix: str = ""
                     ) -> dict[str, int]:
    """{counter: value} for files under one debugfs directory (zswap, frontswap, ...)."""
    out = {}
    prefix = directory.rstrip("/") + "/"
    for path, text in files.items():
        if path.startswith(prefix) and "/" not in path[len(prefix):]:
            value = text.strip()
            if value.lstrip("-").isdigit():
                out[key_prefix + path[len(prefix):]] = int(value)
    return out


def parse_columns(text: str, names: tuple[str, ...], prefix: str) -> dict[str, int]:
    """One line of whitespace-separated numbers (zram's mm_stat, io_stat) → {prefix +
    name: value}; a kernel that prints fewer columns leaves the rest absent."""
    values = text.split()
    return {prefix + name: int(value) for name, value in zip(names, values)
            if value.isdigit()}


def mthp_counters(files: dict[str, str]) -> dict[str, int]:
    """{mthp_<size>_<name>: value} for every hugepages-<size>/stats/<name> file, e.g.
    mthp_64kB_swpout, mthp_2048kB_swpout_fallback; none on kernels without them."""
    out = {}
    prefix = MTHP_DIR + "/hugepages-"
    for path, text in files.items():
        if path.startswith(prefix):
            size, _, rest = path[len(prefix):].partition("/stats/")
            value = text.strip()
            if rest and "/" not in rest and value.isdigit():
                out[f"mthp_{size}_{rest}"] = int(value)
    return out


def parse_hist(text: str, prefix: str) -> dict[str, int]:
    """A "<upper bound> <count>" per line histogram (tmem's rtt_hist_us) → cumulative-free
    bucket counters {prefix_le_<upper>: count}, summed over runs like any counter."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            out[f"{prefix}_le_{parts[0]}"] = int(parts[1])
    return out


def parse_relay_stats(text: str) -> dict[str, int]:
    """tmem-relay's --stats-file ("name value" lines; "<name>_hist <upper> <count>" for its
    log2 histograms: batch sizes, port round trips in µs) → {relay_name: value,
    relay_<name>_le_<upper>: count}."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            out[f"relay_{parts[0]}"] = int(parts[1])
        elif len(parts) == 3 and parts[0].endswith("_hist") and parts[1].isdigit() \
                and parts[2].isdigit():
            out[f"relay_{parts[0].removesuffix('_hist')}_le_{parts[1]}"] = int(parts[2])
    return out


def parse_guest_record(files: dict[str, str]) -> dict[str, float]:
    """One sampler record → a flat {counter: value} row, keys under their kernel names."""
    row: dict[str, float] = {}
    row.update(parse_keyvalue(files.get("/proc/vmstat", "")))
    row.update(parse_meminfo(files.get("/proc/meminfo", "")))
    row.update(parse_psi(files.get("/proc/pressure/memory", "")))
    row.update(parse_cpu(files.get("/proc/stat", "")))
    row.update(debugfs_counters(files, "/sys/kernel/debug/zswap"))
    row.update(debugfs_counters(files, "/sys/kernel/debug/frontswap"))
    # tmem's counters share names with frontswap's (succ_stores, loads...): prefix them.
    row.update(debugfs_counters(files, "/sys/kernel/debug/tmem", "tmem_"))
    row.update(parse_hist(files.get("/sys/kernel/debug/tmem/rtt_hist_us", ""), "tmem_rtt"))
    row.update(parse_relay_stats(files.get(RELAY_STATS, "")))
    for dev in ("vdb", "zram0"):  # the swap disk, and zram's swap writes and reads
        if f"/sys/block/{dev}/stat" in files:
            row.update(parse_block_stat(files[f"/sys/block/{dev}/stat"], f"guest_{dev}"))
    if "/sys/block/zram0/mm_stat" in files:
        row.update(parse_columns(files["/sys/block/zram0/mm_stat"], ZRAM_MM_STAT, "zram_"))
    if "/sys/block/zram0/io_stat" in files:
        row.update(parse_columns(files["/sys/block/zram0/io_stat"], ZRAM_IO_STAT, "zram_"))
    row.update(mthp_counters(files))
    return row


def qemu_proc_stat(stat_text: str, status_text: str, clk_tck: int) -> dict[str, float]:
    """Host QEMU process: cumulative CPU seconds and current RSS."""
    fields = stat_text.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    rss_kb = 0
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    return {"qemu_cpu_user_s": utime / clk_tck, "qemu_cpu_system_s": stime / clk_tck,
            "qemu_cpu_s": (utime + stime) / clk_tck, "qemu_rss_bytes": rss_kb * 1024}
