"""The metric table: where each number lives in a run object and which way is better.

Differences are data (STYLE 3): adding a metric is adding a row here. Keys that the table does not
name but that appear as numbers in ``result``, ``deltas`` or ``summary`` are still compared, with a
direction taken from ``SUFFIX_RULES`` or none (neutral: shown, never called better or worse).

``PRIMARY`` names, per workload, the few metrics that are tested for significance, get verdicts,
enter the headline, the geomean and the regression gate. Everything else (vmstat and debugfs
counters, CPU seconds, PSI...) is descriptive: its value and change are shown, never judged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Direction(Enum):
    HIGHER = "higher"   # higher is better
    LOWER = "lower"     # lower is better
    NEUTRAL = "neutral"  # informational: no better/worse, no significance gate

    @property
    def arrow(self) -> str:
        return {"higher": "↑", "lower": "↓", "neutral": "·"}[self.value]


@dataclass(frozen=True)
class Metric:
    name: str                 # stable key used in CSV/JSON output
    path: tuple[str, ...]     # where it lives in runs/<run_id>.json
    unit: str
    direction: Direction
    group: str
    title: str = ""
    rate: bool = False        # a rate: summarise with the harmonic mean
    parts: tuple[tuple[str, ...], ...] = ()  # derived: the sum of these paths (``path`` unused)
    resolution_pct: float = 0.0  # a change this small is below what the instrument resolves

    @property
    def label(self) -> str:
        return self.title or self.name


H, L, N = Direction.HIGHER, Direction.LOWER, Direction.NEUTRAL


def _m(name, path, unit, direction, group, title="", rate=False) -> Metric:
    return Metric(name, tuple(path.split(".")), unit, direction, group, title, rate)


HISTOGRAM_RESOLUTION_PCT = 3.5  # one bucket (2 x 1.6 %) and rounding


def _hist(name, path, title) -> Metric:
    return Metric(name, tuple(path.split(".")), "us", L, "latency", title,
                  resolution_pct=HISTOGRAM_RESOLUTION_PCT)


def _sum(name, parts, unit, direction, group, title) -> Metric:
    paths = tuple(tuple(p.split(".")) for p in parts)
    return Metric(name, ("derived", name), unit, direction, group, title, parts=paths)


METRICS: tuple[Metric, ...] = (
    # workload
    _m("bytes_per_sec", "result.bytes_per_sec", "B/s", H, "workload", "throughput", rate=True),
    _m("pages_per_sec", "result.pages_per_sec", "pages/s", H, "workload", "throughput", rate=True),
    _m("bogo_ops_per_sec", "result.bogo_ops_per_sec", "bogo ops/s", H, "workload",
       "bogo ops/s", rate=True),
    _m("elapsed_s", "result.elapsed_s", "s", L, "workload", "elapsed"),
    # pressure phases: the store-heavy first touch, the passes (elapsed_s), the final sweep
    _m("fill_elapsed_s", "result.fill_elapsed_s", "s", L, "workload", "fill (first touch)"),
    _m("final_verify_elapsed_s", "result.final_verify_elapsed_s", "s", L, "workload",
       "final verify"),
    _sum("total_elapsed_s", ("result.fill_elapsed_s", "result.elapsed_s",
                             "result.final_verify_elapsed_s"), "s", L, "workload",
         "total (fill+passes+verify)"),
    _m("workload_wall_s", "workload_wall_s", "s", L, "workload", "workload wall (host)"),
    # percentiles of the pressure tool's log-linear histogram (bucket midpoints, ±1.6 %): two
    # runs with the same true value can land one bucket apart, so never call that a finding
    _hist("lat_p50_us", "result.latency_us.p50", "latency p50"),
    _hist("lat_p90_us", "result.latency_us.p90", "latency p90"),
    _hist("lat_p99_us", "result.latency_us.p99", "latency p99"),
    _hist("lat_p999_us", "result.latency_us.p999", "latency p99.9"),
    _m("lat_max_us", "result.latency_us.max", "us", L, "latency", "latency max"),
    _m("corrupted_pages", "result.corrupted_pages", "pages", L, "workload", "corrupted pages"),
    # group runs (harness/results/group_aggregate.py): pages_per_sec above is their guests' sum
    _m("jain_fairness_index", "result.jain_fairness_index", "", H, "workload",
       "Jain's fairness (guests)"),
    _m("makespan_s", "result.makespan_s", "s", L, "workload", "group makespan"),
    _m("work_pages_per_sec", "result.work_pages_per_sec", "pages/s", H, "workload",
       "whole-workload rate (guests' sum)", rate=True),
    _m("work_jain_fairness_index", "result.work_jain_fairness_index", "", H, "workload",
       "Jain's fairness (whole workload)"),
    _m("boot_seconds", "boot_seconds", "s", L, "guest", "boot time"),
    # swap and faults
    _m("pswpin", "deltas.pswpin", "pages", L, "swap", "swap ins (disk)"),
    _m("pswpout", "deltas.pswpout", "pages", L, "swap", "swap outs (disk)"),
    _m("pgmajfault", "deltas.pgmajfault", "faults", L, "swap", "major faults"),
    _m("zswpin", "deltas.zswpin", "pages", N, "swap", "zswap ins"),
    _m("zswpout", "deltas.zswpout", "pages", N, "swap", "zswap outs"),
    _m("swap_disk_read_bytes", "deltas.swap_disk_read_bytes", "B", L, "swap", "swap disk read"),
    _m("swap_disk_write_bytes", "deltas.swap_disk_write_bytes", "B", L, "swap",
       "swap disk write"),
    # CPU
    _m("cpu_user_s", "deltas.cpu_user_s", "s", L, "cpu", "CPU user"),
    _m("cpu_system_s", "deltas.cpu_system_s", "s", L, "cpu", "CPU sys"),
    _m("cpu_iowait_s", "deltas.cpu_iowait_s", "s", L, "cpu", "CPU iowait"),
    _m("cpu_steal_s", "deltas.cpu_steal_s", "s", L, "cpu", "CPU steal"),
    _m("qemu_cpu_s", "deltas.qemu_cpu_s", "s", L, "host", "QEMU CPU"),
    # pressure and host memory
    _m("psi_some_avg10_max", "summary.psi_some_avg10_max", "%", L, "psi", "PSI some avg10 max"),
    _m("psi_full_avg10_max", "summary.psi_full_avg10_max", "%", L, "psi", "PSI full avg10 max"),
    _m("qemu_rss_max_bytes", "summary.qemu_rss_bytes_max", "B", L, "host", "QEMU RSS max"),
    # zswap debugfs
    # (stored_pages, pool_total_size, same_filled_pages are gauges: summarised as max/end)
    _m("zswap_stored_pages", "summary.stored_pages_max", "pages", N, "zswap",
       "zswap stored (max)"),
    _m("zswap_stored_pages_end", "summary.stored_pages_end", "pages", N, "zswap",
       "zswap stored (end)"),
    _m("zswap_pool_total_size", "summary.pool_total_size_max", "B", N, "zswap",
       "zswap pool size (max)"),
    _m("zswap_same_filled_pages", "summary.same_filled_pages_max", "pages", N, "zswap",
       "zswap same-filled (max)"),
    _m("zswap_written_back_pages", "deltas.written_back_pages", "pages", L, "zswap",
       "zswap written back"),
    _m("zswap_duplicate_entry", "deltas.duplicate_entry", "entries", N, "zswap",
       "zswap duplicates"),
    _m("zswap_pool_limit_hit", "deltas.pool_limit_hit", "hits", L, "zswap", "zswap pool limit"),
    # frontswap debugfs (tmem backend)
    _m("frontswap_succ_stores", "deltas.succ_stores", "pages", N, "frontswap",
       "frontswap stores"),
    _m("frontswap_failed_stores", "deltas.failed_stores", "pages", L, "frontswap",
       "frontswap failed stores"),
    _m("frontswap_loads", "deltas.loads", "pages", N, "frontswap", "frontswap loads"),
    _m("frontswap_invalidates", "deltas.invalidates", "pages", N, "frontswap",
       "frontswap invalidates"),
    # per-request latency: the guest's swap disk vs the tmem round trip
    _m("swap_disk_read_avg_ms", "summary.swap_disk_read_avg_ms", "ms", L, "latency",
       "swap disk read avg"),
    _m("swap_disk_write_avg_ms", "summary.swap_disk_write_avg_ms", "ms", L, "latency",
       "swap disk write avg"),
    _m("tmem_rtt_avg_us", "summary.tmem_rtt_avg_us", "us", L, "latency",
       "tmem round trip avg"),
    _m("tmem_rtt_p50_us", "summary.tmem_rtt_p50_us", "us", L, "latency",
       "tmem round trip p50 (≤)"),
    _m("tmem_rtt_p99_us", "summary.tmem_rtt_p99_us", "us", L, "latency",
       "tmem round trip p99 (≤)"),
    # the same trip seen from the relay: port out to reply in, a batch counting once
    _m("relay_port_rtt_avg_us", "summary.relay_port_rtt_avg_us", "us", L, "latency",
       "relay port round trip avg"),
    _m("relay_port_rtt_p99_us", "summary.relay_port_rtt_p99_us", "us", L, "latency",
       "relay port round trip p99 (≤)"),
    # host tmem backend (per guest)
    _m("backend_good_puts", "deltas.backend_good_puts", "pages", N, "backend",
       "backend good puts"),
    _m("backend_found_gets", "deltas.backend_found_gets", "pages", N, "backend",
       "backend found gets"),
    _m("backend_stored_pages_max", "summary.backend_stored_pages_max", "pages", N, "backend",
       "backend stored (max)"),
    _m("backend_stored_bytes_max", "summary.backend_stored_bytes_max", "B", N, "backend",
       "backend stored bytes (max)"),
    _m("backend_put_p99_us", "summary.backend_put_p99_us_end", "us", L, "backend",
       "backend put p99"),
    _m("backend_cpu_s", "deltas.backend_cpu_s", "s", L, "host", "backend CPU"),
    # cost per page moved by swap (monitors.per_swapped_page)
    _m("guest_sys_us_per_swapped_page", "summary.guest_sys_us_per_swapped_page", "us", L,
       "cpu", "guest sys per swapped page"),
    _m("host_cpu_us_per_swapped_page", "summary.host_cpu_us_per_swapped_page", "us", L,
       "host", "host CPU per swapped page"),
    # tmem frontend shape (mm/tmem.c modes, the relay's batches)
    _m("tmem_frames_per_page", "summary.tmem_frames_per_page", "frames", L, "tmem",
       "frames per page"),
    _m("tmem_frames_per_put_page", "summary.tmem_frames_per_put_page", "frames", L, "tmem",
       "frames per stored page"),
    _m("tmem_frames_per_get_page", "summary.tmem_frames_per_get_page", "frames", L, "tmem",
       "frames per loaded page"),
    _m("tmem_inflight_max", "summary.tmem_inflight_max_max", "pages", N, "tmem",
       "async PUTs in flight (max)"),
    _m("tmem_buffer_bytes", "summary.tmem_buffer_bytes_max", "B", N, "tmem",
       "frontend buffers (guest memory)"),
    _m("tmem_window_waits", "deltas.tmem_window_waits", "stores", L, "tmem",
       "stores that waited for the window"),
    _m("tmem_slot_hits", "deltas.tmem_slot_hits", "loads", N, "tmem",
       "loads served from a window slot"),
    _m("tmem_prefetch_hits", "deltas.tmem_prefetch_hits", "loads", N, "tmem",
       "loads served by prefetch"),
    _m("tmem_prefetch_waste", "deltas.tmem_prefetch_waste", "pages", L, "tmem",
       "prefetched, never used"),
    # TCG time dilation (harness/run/dilation.py): guest ns ÷ host ns per page, same binary
    _m("dilation_factor", "dilation.factor", "x", N, "dilation", "guest CPU slowdown"),
    _m("dilation_memcpy", "dilation.memcpy", "x", N, "dilation", "guest slowdown, 4 KiB memcpy"),
    _m("dilation_lz4", "dilation.lz4", "x", N, "dilation", "guest slowdown, 4 KiB lz4"),
    _m("host_memcpy_4k_ns", "dilation.host.memcpy.ns_per_page", "ns", L, "dilation",
       "host 4 KiB memcpy"),
    _m("guest_memcpy_4k_ns", "dilation.guest.memcpy.ns_per_page", "ns", L, "dilation",
       "guest 4 KiB memcpy"),
    _m("swap_iotune_divisor", "guest.swap_iotune_scale.divisor", "x", N, "dilation",
       "swap disk limits divided by"),
)

BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}

# (prefix, suffix, unit, direction, rate) for keys the table does not name; first match wins.
SUFFIX_RULES: tuple[tuple[str, str, str, Direction, bool], ...] = (
    ("reject_", "", "pages", L, False),
    ("", "_per_sec", "1/s", H, True),
    ("", "_per_s", "1/s", H, True),
    ("", "_bytes", "B", N, False),
    ("", "_s", "s", N, False),
)

DISCOVER_SECTIONS = ("result", "deltas", "summary")


@dataclass(frozen=True)
class Primary:
    metric: str   # a name in METRICS
    title: str    # what the metric means for this workload


# The primary metrics of each workload (run record: workload.name). Throughput and elapsed
# time are one measurement for a fixed amount of work, listed both as mmtests does; Holm's
# correction holds the family-wise error whatever the dependence between them.
PRIMARY: dict[str, tuple[Primary, ...]] = {
    "pressure": (
        Primary("fill_elapsed_s", "fill: first touch, stores"),
        Primary("elapsed_s", "passes: elapsed"),
        Primary("pages_per_sec", "passes: throughput"),
        Primary("final_verify_elapsed_s", "final verify"),
        Primary("total_elapsed_s", "total: fill + passes + verify"),
        Primary("lat_p50_us", "latency p50"),
        Primary("lat_p90_us", "latency p90"),
        Primary("lat_p99_us", "latency p99"),
        Primary("lat_p999_us", "latency p99.9"),
    ),
    "stress-ng": (
        Primary("bogo_ops_per_sec", "throughput: bogo ops/s"),
        Primary("elapsed_s", "elapsed"),
    ),
    "kernel-build": (Primary("elapsed_s", "build: make's wall time in the guest"),),
}


def _recorded_rule(rule: Any) -> bool:
    return isinstance(rule, dict) and rule.get("better") in ("higher", "lower") and \
        isinstance(rule.get("name"), str)


def command_rule(data: dict[str, Any]) -> dict[str, Any] | None:
    """The ``result.metric`` a command workload's rule recorded: name, unit, better."""
    rule = (data.get("result") or {}).get("metric") if isinstance(data, dict) else None
    return rule if _recorded_rule(rule) else None


def command_rules(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every metric a command workload's result rules recorded, by name (the primary's
    alone for records made before rules could be a list)."""
    result = data.get("result") if isinstance(data, dict) else None
    rules = (result or {}).get("metrics") or [command_rule(data)]
    return {r["name"]: r for r in rules if _recorded_rule(r)}


def primary_for(workload: str | None,
                runs: tuple[dict[str, Any], ...] = ()) -> tuple[Primary, ...]:
    """The primary metrics of a workload; none for a workload the table does not know.
    A ``command`` workload's is the metric its result rule names (with that rule's
    direction, see discover), else its wall time on the host."""
    if workload == "command":
        rule = next((r for r in map(command_rule, runs) if r), None)
        if rule:
            return (Primary(rule["name"], f"{rule['name']} (the command's result)"),)
        return (Primary("workload_wall_s", "the command's wall time"),)
    return PRIMARY.get(workload or "", ())


def lookup(data: dict[str, Any], path: tuple[str, ...]) -> float | None:
    """The finite number at ``path`` in a run object, or None when absent or not a number."""
    node: Any = data
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    if isinstance(node, bool) or not isinstance(node, int | float):
        return None
    value = float(node)
    return value if math.isfinite(value) else None


def _part(data: dict[str, Any], path: tuple[str, ...]) -> float | None:
    """A phase's time; JSON null (a phase that did not run, e.g. no final verify) counts 0."""
    node: Any = data
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict) and path[-1] in node and node[path[-1]] is None:
        return 0.0
    return lookup(data, path)


def value(data: dict[str, Any], metric: Metric) -> float | None:
    """The metric's number in a run object: looked up, or for a derived metric the sum of
    its parts (None when any part is absent or not a number)."""
    if not metric.parts:
        return lookup(data, metric.path)
    found = [_part(data, p) for p in metric.parts]
    if any(v is None for v in found) or all(lookup(data, p) is None for p in metric.parts):
        return None
    return math.fsum(v for v in found if v is not None)


def _discovered(section: str, key: str) -> Metric:
    for prefix, suffix, unit, direction, rate in SUFFIX_RULES:
        if key.startswith(prefix) and key.endswith(suffix):
            return Metric(key, (section, key), unit, direction, section, key, rate)
    return Metric(key, (section, key), "", N, section, key)


def discover(runs: list[dict[str, Any]]) -> list[Metric]:
    """Metrics for numeric keys in the runs that the table does not already cover."""
    known = {m.path for m in METRICS}
    names = {m.name for m in METRICS}
    found: dict[tuple[str, ...], Metric] = {}
    for data in runs:
        for section in DISCOVER_SECTIONS:
            values = data.get(section)
            if not isinstance(values, dict):
                continue
            for key in values:
                path = (section, key)
                if path in known or path in found or lookup(data, path) is None:
                    continue
                rule = command_rules(data).get(key) if section == "result" else None
                if rule:  # the user's rule says which way is better
                    metric = Metric(key, path, rule.get("unit", ""),
                                    H if rule["better"] == "higher" else L, "workload", key)
                else:
                    metric = _discovered(section, key)
                if metric.name in names:
                    metric = Metric(f"{section}.{key}", *_fields_after_name(metric))
                found[path] = metric
                names.add(metric.name)
    return sorted(found.values(), key=lambda m: (m.group, m.name))


def _fields_after_name(m: Metric) -> tuple:
    return (m.path, m.unit, m.direction, m.group, m.title, m.rate)


def metrics_for(runs: list[dict[str, Any]]) -> list[Metric]:
    """Table metrics present in at least one run, then discovered ones."""
    present = [m for m in METRICS if any(value(r, m) is not None for r in runs)]
    return present + discover(runs)
