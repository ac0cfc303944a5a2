"""A group run's own record, from its members' records and series (harness/run/group.py).

Throughput aggregates as the sum of the guests' own rates (the consolidation benchmarks'
convention: SPECvirt, VMmark sum per-VM scores); fairness is Jain's index over the
guests' rates (R. Jain, D. Chiu, W. Hawe, "A Quantitative Measure of Fairness...",
DEC-TR-301, 1984: (Σx)² / (n·Σx²), 1 when all are equal, 1/n when one gets everything).
Jain over raw rates is meaningful when the guests run the same work; the overcommit
report also gives it over each guest's rate relative to the same guest running alone.

The group's series puts every guest's samples on one clock (host wall time, one row per
second): each guest's share of the host pool (backend stored bytes and pages), each
QEMU's RSS, the backend's RSS and their sum, the host memory the group held.
"""

from __future__ import annotations

import math
import time

# Member columns copied into the group series, renamed g<i>_<name>.
MEMBER_COLUMNS = ("backend_stored_pages", "backend_stored_bytes", "qemu_rss_bytes")


def jain(values: list[float]) -> float | None:
    """Jain's fairness index of ``values`` (≥ 0); None when empty or all zero."""
    total, squares = sum(values), sum(v * v for v in values)
    if not values or squares == 0:
        return None
    return total * total / (len(values) * squares)


def merged_series(member_rows: list[list[dict]], start_wall: float) -> list[dict]:
    """One row per second since ``start_wall``: each guest's latest sample at that time
    (a guest not yet sampled has no columns), the backend's RSS and the sums."""
    ends = [rows[-1]["wall"] for rows in member_rows if rows]
    if not ends:
        return []
    out, cursor = [], [0] * len(member_rows)
    latest: list[dict | None] = [None] * len(member_rows)
    for second in range(int(math.ceil(max(ends) - start_wall)) + 1):
        now = start_wall + second
        row: dict[str, float] = {"t": float(second)}
        backend_rss = None
        for i, rows in enumerate(member_rows):
            while cursor[i] < len(rows) and rows[cursor[i]]["wall"] <= now:
                latest[i] = rows[cursor[i]]
                cursor[i] += 1
            if latest[i] is None:
                continue
            for name in MEMBER_COLUMNS:
                if name in latest[i]:
                    row[f"g{i}_{name}"] = latest[i][name]
            if "backend_rss_bytes" in latest[i]:
                backend_rss = max(backend_rss or 0, latest[i]["backend_rss_bytes"])
        if backend_rss is not None:
            row["backend_rss_bytes"] = backend_rss
        pooled = [v for k, v in row.items() if k.endswith("_backend_stored_bytes")]
        if pooled:
            row["pool_stored_bytes"] = sum(pooled)
        qemu = [v for k, v in row.items() if k.endswith("_qemu_rss_bytes")]
        if qemu:
            row["host_rss_bytes"] = sum(qemu) + (backend_rss or 0)
        out.append(row)
    return out


def work_rate(result: dict) -> float | None:
    """Pages the pressure workload touched in all (first touch, passes, final verify)
    per second of those phases; None for another workload or an incomplete result."""
    try:
        pages = result["pages"] + sum(p["pages"] for p in result.get("passes", []))
        seconds = result["fill_elapsed_s"] + result["elapsed_s"]
        if result.get("final_verify_elapsed_s"):
            pages += result["pages"]
            seconds += result["final_verify_elapsed_s"]
    except (KeyError, TypeError):
        return None
    return round(pages / seconds, 1) if seconds > 0 else None


def _max(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if key in r]
    return max(values) if values else None


def _member(ctx, record: dict, rows: list[dict]) -> dict:
    result = record.get("result") or {}
    guest_stats = (record.get("backend") or {}).get("guest") or {}
    return {
        "run_id": record["run_id"], "index": ctx.member.index, "status": record["status"],
        "memory_mib": record["guest"]["memory_mib"], "weight": ctx.member.weight,
        "quota_mib": ctx.member.quota_mib, "quota_pages": guest_stats.get("max_pages"),
        "start_delay_s": ctx.member.start_delay_s,
        "after_previous": ctx.member.after_previous,
        "workload_started_wall": record.get("workload_started_wall"),
        "workload_wall_s": record.get("workload_wall_s"),
        "pages_per_sec": result.get("pages_per_sec"),
        "work_pages_per_sec": work_rate(result),
        "corrupted_pages": result.get("corrupted_pages"),
        "backend_stored_pages_max": _max(rows, "backend_stored_pages"),
        "backend_stored_bytes_max": _max(rows, "backend_stored_bytes"),
        "backend_refusals": sum((guest_stats.get("rejects") or {}).values()),
        "backend_rejects": guest_stats.get("rejects") or {},
        "qemu_rss_max_bytes": _max(rows, "qemu_rss_bytes"),
    }


# Counters of the one backend process, which every member's series samples whole: the
# group's is their largest, never their sum.
SHARED_COUNTERS = ("backend_cpu_s",)


def _summed_deltas(records: list[dict]) -> dict:
    out: dict[str, float] = {}
    for record in records:
        for key, value in (record.get("deltas") or {}).items():
            if isinstance(value, (int, float)):
                out[key] = max(out.get(key, 0), value) if key in SHARED_COUNTERS \
                    else out.get(key, 0) + value
    return out


def group_record(ctxs: list, records: list[dict], started_wall: float) -> tuple[dict, list]:
    """(the group's run record, its merged series rows). Call before the members'
    records are written (their ``series_rows`` are read here)."""
    run = ctxs[0].run
    member_rows = [r.get("series_rows") or [] for r in records]
    members = [_member(ctx, r, rows) for ctx, r, rows in zip(ctxs, records, member_rows)]
    series = merged_series(member_rows, started_wall)
    rates = [m["pages_per_sec"] for m in members]
    complete = all(isinstance(v, (int, float)) for v in rates)
    work = [m["work_pages_per_sec"] for m in members]
    work_complete = all(isinstance(v, (int, float)) for v in work)
    corrupted = [m["corrupted_pages"] for m in members]
    starts = [(m["workload_started_wall"], m["workload_wall_s"]) for m in members
              if m["workload_started_wall"] is not None and m["workload_wall_s"] is not None]
    failed = [r for r in records if r["status"] != "passed"]
    backend = next((r["backend"] for r in records if r.get("backend")), {})
    result = {
        "pages_per_sec": round(sum(rates), 1) if complete else None,
        "jain_fairness_index": round(jain(rates), 4) if complete and jain(rates) else None,
        # the whole workload (first touch + passes + final verify), summed over guests
        "work_pages_per_sec": round(sum(work), 1) if work_complete else None,
        "work_jain_fairness_index": round(jain(work), 4) if work_complete and jain(work)
        else None,
        "corrupted_pages": sum(corrupted) if all(c is not None for c in corrupted) else None,
        "makespan_s": round(max(s + w for s, w in starts) - min(s for s, _ in starts), 2)
        if starts else None,
    }
    first = records[0]
    return {
        "run_id": run.run_id, "label": run.label, "iteration": run.iteration,
        "kind": "group",
        "status": "failed" if failed else "passed",
        "failure": failed[0]["failure"] if failed else None,
        "kernel": first["kernel"],
        "workload": {**first["workload"], "params": run.workload.params},
        "guest": {**first["guest"], "guests": len(records),
                  "memory_mib_total": sum(m["memory_mib"] for m in members)},
        **({"host": first["host"]} if "host" in first else {}),
        "group": {
            "guests": len(records), "members": members,
            "host": {
                "backend_cap_bytes": (backend.get("options") or {}).get("cap"),
                "backend_rss_max_bytes": _max(series, "backend_rss_bytes"),
                "host_rss_max_bytes": _max(series, "host_rss_bytes"),
                "pool_stored_bytes_max": _max(series, "pool_stored_bytes"),
            },
            "started_wall": round(started_wall, 3),   # the series' t = 0
            "wall_s": round(time.time() - started_wall, 1),
        },
        "result": result,
        "deltas": _summed_deltas(records),
    }, series
