"""PNG plots with matplotlib's object API (Agg canvas, no pyplot global state): bytes out, so
the PNG files and the HTML report share them."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from enum import Enum

from matplotlib.figure import Figure

from harness.report.compare import stats
from harness.report.compare.loader import read_series
from harness.report.compare.table import Column, ComparisonTable

THROUGHPUT_METRICS = ("pages_per_sec", "bytes_per_sec", "bogo_ops_per_sec")
# pressure phases, stacked: the store-heavy first touch must not hide behind the passes
PHASE_METRICS = (("fill_elapsed_s", "fill (first touch)"), ("elapsed_s", "passes"),
                 ("final_verify_elapsed_s", "final verify"))
DPI = 90


class Kind(Enum):
    COUNTER = "counter"  # monotonic: plotted as a per-second rate
    GAUGE = "gauge"      # plotted as sampled


@dataclass(frozen=True)
class SeriesPlot:
    name: str                                 # file stem: <name>.png
    title: str
    unit: str
    columns: tuple[tuple[str, Kind], ...]     # series CSV columns, one subplot each


SERIES_PLOTS: tuple[SeriesPlot, ...] = (
    SeriesPlot("swap_rates", "Swap-in/out rate", "pages/s",
               (("pswpin", Kind.COUNTER), ("pswpout", Kind.COUNTER),
                ("zswpin", Kind.COUNTER), ("zswpout", Kind.COUNTER))),
    SeriesPlot("psi", "Memory pressure (PSI avg10)", "%",
               (("psi_some_avg10", Kind.GAUGE), ("psi_full_avg10", Kind.GAUGE))),
    SeriesPlot("backend_stored", "Backend stored pages", "pages",
               (("backend_stored_pages", Kind.GAUGE), ("stored_pages", Kind.GAUGE))),
)

Series = dict[str, list[float]]


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def throughput_plot(table: ComparisonTable) -> bytes | None:
    """Bar per column: mean with a stddev error bar, iterations as dots."""
    row = next((table.row(n) for n in THROUGHPUT_METRICS if table.row(n)), None)
    if row is None or all(c.summary is None for c in row.cells):
        return None
    keys = [c.key for c in table.columns]
    means = [c.summary.mean if c.summary else 0.0 for c in row.cells]
    errs = [c.summary.stddev or 0.0 if c.summary else 0.0 for c in row.cells]
    fig = Figure(figsize=(max(4.0, 1.6 * len(keys)), 3.6))
    ax = fig.subplots()
    ax.bar(range(len(keys)), means, yerr=errs, capsize=6, color="#4c72b0", alpha=0.8)
    for i, cell in enumerate(row.cells):
        ax.plot([i] * len(cell.values), cell.values, "k.", markersize=5)
    ax.set_xticks(range(len(keys)), keys, rotation=20, ha="right")
    ax.set_ylabel(f"{row.metric.label} ({row.metric.unit})")
    ax.set_title(f"{row.metric.label} per config (mean ± stddev)")
    return _png(fig)


def phases_plot(table: ComparisonTable) -> bytes | None:
    """Stacked bar per column: mean time of each pressure phase (fill, passes, final verify)."""
    if table.row("fill_elapsed_s") is None:
        return None
    keys = [c.key for c in table.columns]
    fig = Figure(figsize=(max(4.0, 1.6 * len(keys)), 3.6))
    ax = fig.subplots()
    bottom = [0.0] * len(keys)
    for name, title in PHASE_METRICS:
        row = table.row(name)
        if row is None:
            continue
        means = [c.summary.mean if c.summary else 0.0 for c in row.cells]
        ax.bar(range(len(keys)), means, bottom=bottom, label=title, alpha=0.85)
        bottom = [b + m for b, m in zip(bottom, means)]
    ax.set_xticks(range(len(keys)), keys, rotation=20, ha="right")
    ax.set_ylabel("s")
    ax.set_title("pressure phases (mean time)")
    ax.legend(fontsize=8)
    return _png(fig)


def load_series(columns: tuple[Column, ...] | list[Column]) -> dict[str, Series]:
    """The time series of each column's first passed run (first run when none passed)."""
    out: dict[str, Series] = {}
    for col in columns:
        runs = col.passed or col.runs
        if runs:
            out[col.key] = read_series(runs[0].source, runs[0].run_id)
    return out


def _xy(series: Series, name: str, kind: Kind) -> tuple[list[float], list[float]] | None:
    values, t = series.get(name), series.get("t")
    if not values or not t or all(math.isnan(v) for v in values):
        return None
    if kind is Kind.COUNTER:
        return stats.counter_rates(t, values)
    return list(t), list(values)


def series_plot(spec: SeriesPlot, series: dict[str, Series]) -> bytes | None:
    """One subplot per series column present in any run, one line per config."""
    present = [(n, k) for n, k in spec.columns
               if any(_xy(s, n, k) is not None for s in series.values())]
    if not present:
        return None
    fig = Figure(figsize=(7.0, 2.4 * len(present)))
    axes = fig.subplots(len(present), 1, sharex=True, squeeze=False)
    for ax, (name, kind) in zip(axes[:, 0], present):
        for key, s in series.items():
            xy = _xy(s, name, kind)
            if xy is not None:
                ax.plot(xy[0], xy[1], label=key, linewidth=1.2)
        suffix = " rate" if kind is Kind.COUNTER else ""
        ax.set_ylabel(f"{name}{suffix}\n({spec.unit})", fontsize=8)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    axes[0, 0].set_title(spec.title)
    axes[-1, 0].set_xlabel("time since workload start (s)")
    return _png(fig)


def all_plots(table: ComparisonTable) -> dict[str, bytes]:
    """name -> PNG bytes for every plot that has data."""
    plots: dict[str, bytes] = {}
    tp = throughput_plot(table)
    if tp is not None:
        plots["throughput"] = tp
    phases = phases_plot(table)
    if phases is not None:
        plots["phases"] = phases
    series = load_series(table.columns)
    for spec in SERIES_PLOTS:
        png = series_plot(spec, series)
        if png is not None:
            plots[spec.name] = png
    return plots
