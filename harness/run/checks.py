"""Per-run consistency checks between what the guest says and what the host saw.

Each check applies only when its counters exist in the run (a zswap run has no backend),
and is recorded in the run JSON under ``checks`` as {name: {"ok", "detail"}}. A failed
check fails the run: counters that disagree mean a page went somewhere nobody counted.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.run.workloads import WORKLOADS


def _corruption(run: dict) -> tuple[bool, str] | None:
    corrupted = run.get("result", {}).get("corrupted_pages")
    if corrupted is None:
        return None
    return corrupted == 0, f"corrupted_pages={corrupted}"


def _tmem_guest(d: dict) -> bool:
    """The guest runs tmemlab's frontswap backend (its debugfs counters exist) and a host
    backend served it. A zswap guest in the same experiment also has frontswap counters
    and a (silent) backend socket: none of the tmem checks apply to it."""
    return "tmem_succ_stores" in d and "backend_good_puts" in d and "succ_stores" in d


def _stores_reached_tmem(run: dict) -> tuple[bool, str] | None:
    d = run.get("deltas", {})
    if not _tmem_guest(d):
        return None
    if run.get("backend", {}).get("options", {}).get("max_pages") == 0 or _allowed_unused(run):
        return None  # quota 0: refusing every put is the point
    return d["succ_stores"] > 0, f"frontswap succ_stores={d['succ_stores']}"


def _backend_restarted(run: dict) -> bool:
    """A killed backend loses the counts of its last second (between the last sample and
    the kill): exact agreement cannot be checked across it; corruption still is."""
    return any(e.get("event") == "backend_kill" for e in run.get("faults", []))


def _slack(run: dict, name: str) -> int:
    """How much a guest counter grew between the last guest row and the closing read that
    follows the backend's final sample (runner.closing_counters): events in that gap are
    in the backend's counts but not in the guest's deltas."""
    closing = run.get("closing", {}).get(name)
    return max(0, closing - run["deltas"].get(name, 0)) if closing is not None else 0


def _async(d: dict) -> bool:
    """tmem.mode=async: a store returns before the host's reply (mm/tmem.c window)."""
    return d.get("tmem_async_stores", 0) > 0


def _stores_match_good_puts(run: dict) -> tuple[bool, str] | None:
    """Every store the guest counts as done was accepted by the backend; the backend may
    have accepted a few more whose reply came after the guest's store timeout.

    Async mode promises a page before the host answers, so frontswap's succ_stores counts
    promises: each one is acknowledged (tmem succ_stores), cancelled by an invalidate
    before its ack (put_cancelled), or still in a window slot at the end (at most
    tmem.window). The backend accepted every acknowledged PUT, plus cancelled ones that
    were already on their way."""
    d = run.get("deltas", {})
    if not _tmem_guest(d) or _backend_restarted(run):
        return None
    if _async(d):
        promised, acked = d["succ_stores"], d["tmem_succ_stores"]
        cancelled = d.get("tmem_put_cancelled", 0)
        window = run.get("summary", {}).get("tmem_inflight_max_max", 0)
        pending = promised - acked - cancelled
        extra = d["backend_good_puts"] - acked
        ok = 0 <= pending <= window and 0 <= extra <= cancelled + pending + _slack(
            run, "succ_stores")
        return ok, (f"frontswap succ_stores={promised} = acked {acked} + cancelled "
                    f"{cancelled} + in flight {pending} (window high-water {window}); "
                    f"backend good_puts={d['backend_good_puts']}")
    extra = d["backend_good_puts"] - d["succ_stores"]
    timeouts = d.get("tmem_reject_timeout", 0)
    slack = _slack(run, "succ_stores")
    return 0 <= extra <= timeouts + slack, (
        f"backend good_puts={d['backend_good_puts']} succ_stores={d['succ_stores']} "
        f"store timeouts={timeouts} stores after the last sample={slack}")


def _loads_match_found_gets(run: dict) -> tuple[bool, str] | None:
    """Every page the guest loaded was found by the backend; retried loads may add GETs.
    Async mode serves loads of pages still in a window slot without asking (slot_hits);
    tmem.prefetch sends GETs ahead of loads (prefetch_issued), and a load served by one
    (prefetch_hits) sends none of its own."""
    d = run.get("deltas", {})
    if not _tmem_guest(d) or "backend_found_gets" not in d or _backend_restarted(run):
        return None
    hits = d.get("tmem_slot_hits", 0)
    pf_hits, pf_sent = d.get("tmem_prefetch_hits", 0), d.get("tmem_prefetch_issued", 0)
    extra = d["backend_found_gets"] - (d["loads"] - hits - pf_hits)
    retries = d.get("tmem_load_retries", 0)
    slack = _slack(run, "loads")
    detail = (f"backend found_gets={d['backend_found_gets']} frontswap loads={d['loads']} "
              f"slot hits={hits} load retries={retries} loads after the last sample={slack}")
    if pf_sent:
        detail += f" prefetch hits={pf_hits} prefetch GETs={pf_sent}"
    return 0 <= extra <= retries + pf_sent + slack, detail


def _allowed_unused(run: dict) -> bool:
    """The experiment says this run's technique may store nothing (kernels[].allow_unused),
    or the run's workload does not drive the guest into swap (tmem-pools talks to the
    backend over a port of its own: a group member probing its namespace swaps nothing)."""
    workload = WORKLOADS.get(run.get("workload", {}).get("name"))
    return bool(run.get("kernel", {}).get("allow_unused")) \
        or not getattr(workload, "drives_swap", True)


def _zswap_used(run: dict) -> tuple[bool, str] | None:
    """zswap enabled in the guest (read back, not assumed) must have stored pages: a
    "zswap" column of plain disk-swap numbers is a mislabelled column."""
    params = run.get("guest", {}).get("params", {})
    d = run.get("deltas", {})
    if params.get("zswap.enabled") != "Y" or "zswpout" not in d or _allowed_unused(run):
        return None
    return d["zswpout"] > 0, f"zswap enabled, zswpout={d['zswpout']}"


def _zram_used(run: dict) -> tuple[bool, str] | None:
    """A zram swap area must have taken writes (its block-layer write I/Os)."""
    swaps = run.get("guest", {}).get("swaps", [])
    d = run.get("deltas", {})
    if not any(s.get("device") == "/dev/zram0" for s in swaps) or _allowed_unused(run):
        return None
    writes = d.get("guest_zram0_write_ios")
    if writes is None:
        return False, "zram0 swaps, but its /sys/block/zram0/stat was never sampled"
    return writes > 0, f"zram0 write I/Os={writes}"


def _no_oom_kills(run: dict) -> tuple[bool, str] | None:
    """The guest's OOM killer killing anything means the workload did not do what it
    claims (a killed worker, or a guest too small for the experiment)."""
    d = run.get("deltas", {})
    if "oom_kill" not in d:
        return None
    killed = run.get("oom_killed") or []
    names = f" ({', '.join(killed)})" if killed else ""
    return d["oom_kill"] == 0, f"oom_kill={d['oom_kill']}{names}"


CHECKS: dict[str, Callable[[dict], tuple[bool, str] | None]] = {
    "no_corrupted_pages": _corruption,
    "no_oom_kills": _no_oom_kills,
    "zswap_stored_pages": _zswap_used,
    "zram_took_writes": _zram_used,
    "stores_reached_tmem": _stores_reached_tmem,
    "stores_match_backend_good_puts": _stores_match_good_puts,
    "loads_match_backend_found_gets": _loads_match_found_gets,
}


def evaluate(run: dict) -> dict[str, dict]:
    out = {}
    for name, check in CHECKS.items():
        verdict = check(run)
        if verdict is not None:
            out[name] = {"ok": verdict[0], "detail": verdict[1]}
    return out


def failures(results: dict[str, dict]) -> list[str]:
    return [f"{name}: {r['detail']}" for name, r in results.items() if not r["ok"]]
