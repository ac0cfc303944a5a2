"""`tmemlab soak-report DIR`: what a soak (experiments/soak.yaml, README "Soak") is judged
by, from its results folder: pages verified and corrupted, each fault with its time, the
backend rows missed, and whether host memory, file descriptors and scratch space stayed
bounded over the hours; ``soak.png`` plots them with the faults marked.

Bounded is a comparison in one run: the maximum over the run's last quarter against the
maximum over its first quarter. A leak grows with time, so its last quarter is higher; a
process that is killed and restarted (the backend) starts over each time, so its first
quarter already holds its usual peak. Counts (file descriptors) may not grow at all; sizes
(RSS, scratch bytes) by at most GROWTH_ALLOWED.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from harness.report.compare.loader import read_series

MIB = 1 << 20
GROWTH_ALLOWED = 0.10      # sizes: last-quarter max ≤ first-quarter max × 1.10
COUNTS = ("backend_fds", "harness_fds")
SIZES = ("backend_rss_bytes", "scratch_bytes")
# Shown with the same rule but not part of the verdict: QEMU's memory is the hypervisor's
# (under TCG it also holds the translation cache), not something tmemlab allocates. The
# first 2 h soak (2026-12-05) saw it step from 523 to 590 MB (+12.8 %) for a 256 MiB guest.
WATCHED = ("qemu_rss_bytes",)


@dataclass(frozen=True)
class Growth:
    """One series' first- and last-quarter maxima and the verdict drawn from them."""
    name: str
    first_max: float
    last_max: float
    overall_max: float
    bounded: bool

    @property
    def rule(self) -> str:
        return "no growth" if self.name in COUNTS else f"≤ +{GROWTH_ALLOWED:.0%}"


def growth(name: str, t: list[float], values: list[float]) -> Growth | None:
    """None when the series is absent or shorter than 8 samples (nothing to compare).
    Missing cells (NaN: a row taken while the backend was down) are left out."""
    pairs = [(x, v) for x, v in zip(t, values) if math.isfinite(v)]
    if len(pairs) < 8:
        return None
    start, end = pairs[0][0], pairs[-1][0]
    quarter = (end - start) / 4
    first = max(v for x, v in pairs if x <= start + quarter)
    last = max(v for x, v in pairs if x >= end - quarter)
    allowed = first if name in COUNTS else first * (1 + GROWTH_ALLOWED)
    return Growth(name, first, last, max(v for _x, v in pairs), last <= allowed)


def load(results: Path) -> tuple[dict, dict[str, list]]:
    """The soak's one run record and its series. Raises ValueError naming what is missing."""
    runs = sorted((results / "runs").glob("*.json"))
    if len(runs) != 1:
        raise ValueError(f"{results}: expected one run in runs/, found {len(runs)}")
    record = json.loads(runs[0].read_text())
    return record, read_series(results, record["run_id"])


def figures(record: dict, series: dict[str, list]) -> dict:
    """Everything the report prints, as data (soak.json)."""
    result = record.get("result") or {}
    t = series.get("t", [])
    grown = [g for g in (growth(n, t, series.get(n, [])) for n in COUNTS + SIZES + WATCHED)
             if g]
    faults: dict[str, int] = {}
    for event in record.get("faults", []):
        faults[event["event"]] = faults.get(event["event"], 0) + 1
    backend = record.get("backend", {})
    stored_max = max((v for v in series.get("backend_stored_bytes", []) if math.isfinite(v)),
                     default=None)
    return {
        "run_id": record["run_id"], "status": record["status"],
        "failure": (record.get("failure") or {}).get("reason"),
        "hours": round((t[-1] - t[0]) / 3600, 2) if t else None,
        "verified_pages": result.get("verified_pages"),
        "corrupted_pages": result.get("corrupted_pages"),
        "faults": faults, "fault_events": record.get("faults", []),
        "samples": record.get("summary", {}).get("samples"),
        "backend_samples_missed": record.get("summary", {}).get("backend_samples_missed"),
        "backend_stored_bytes_max": stored_max,
        "backend_cap_bytes": (backend.get("options") or {}).get("cap"),
        "growth": [g.__dict__ | {"rule": g.rule, "judged": g.name not in WATCHED}
                   for g in grown],
        "bounded": all(g.bounded for g in grown if g.name not in WATCHED)
        and any(g.name not in WATCHED for g in grown),
    }


def passed(report: dict) -> bool:
    """The soak holds: its run passed, no page was corrupted, nothing grew."""
    return report["status"] == "passed" and report["corrupted_pages"] == 0 \
        and report["bounded"]


def plot(series: dict[str, list], events: list[dict], out: Path) -> Path | None:
    """Host memory (MiB), descriptors and scratch over the run; faults as vertical lines."""
    from matplotlib.figure import Figure

    t = series.get("t", [])
    if not t:
        return None
    fig = Figure(figsize=(10, 8))
    mem, fds, scratch = fig.subplots(3, 1, sharex=True)
    hours = [x / 3600 for x in t]
    for name, label in (("backend_rss_bytes", "backend RSS"), ("qemu_rss_bytes", "QEMU RSS"),
                        ("backend_stored_bytes", "backend stored")):
        if series.get(name):
            mem.plot(hours, [v / MIB for v in series[name]], label=label, linewidth=0.8)
    mem.set_ylabel("MiB")
    for name in COUNTS:
        if series.get(name):
            fds.plot(hours, series[name], label=name, linewidth=0.8)
    fds.set_ylabel("open descriptors")
    if series.get("scratch_bytes"):
        scratch.plot(hours, [v / MIB for v in series["scratch_bytes"]],
                     label="scratch (allocated)", linewidth=0.8)
    scratch.set_ylabel("MiB")
    scratch.set_xlabel("hours since the workload started")
    for axis in (mem, scratch):   # from 0: a growth is seen at its true proportion
        axis.set_ylim(bottom=0)
    colours = {"backend_kill": "red", "backend_stall": "orange", "relay_kill": "purple"}
    for axis in (mem, fds, scratch):
        for event in events:
            if event["event"] in colours:
                axis.axvline(event["t"] / 3600, color=colours[event["event"]], alpha=0.3,
                             linewidth=0.8)
        axis.legend(loc="upper left", fontsize=8)
    mem.set_title("soak: host memory, descriptors and scratch (red: backend kill, orange: "
                  "stall, purple: relay kill)", fontsize=9)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    return out


def write(results: Path) -> tuple[dict, Path | None]:
    """soak.json and soak.png in ``results``; (report, png path or None)."""
    record, series = load(results)
    report = figures(record, series)
    (results / "soak.json").write_text(json.dumps(report, indent=2) + "\n")
    png = plot(series, record.get("faults", []), results / "soak.png")
    return report, png
