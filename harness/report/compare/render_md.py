"""Markdown rendering: the headline, then the plots, then the full table (formatting only)."""

from __future__ import annotations

from collections.abc import Sequence

from harness.report.compare import fmt
from harness.report.compare.headline import Headline, build_headline
from harness.report.compare.metrics import HISTOGRAM_RESOLUTION_PCT
from harness.report.compare.table import Cell, ComparisonTable


def _esc(text: str) -> str:
    return text.replace("|", "\\|")


def correction_line(table: ComparisonTable) -> str:
    """Which test, which correction, over how many metrics: said once in every renderer."""
    return (f"Primary metrics only: Welch's t-test (on logs: ratio of geometric means), "
            f"{table.correction}, α={table.alpha:g}; "
            f"`*` = significant after the correction. Counters are descriptive: change shown, "
            f"never tested.")


def legend(table: ComparisonTable) -> str:
    text = (f"Cells: mean ±stddev over passed iterations (harmonic mean for rates), then the "
            f"difference against the reference column, positive = better. "
            f"{correction_line(table)} Tested cells give the raw p and the Holm-adjusted p; "
            f"latency percentiles are histogram buckets: a change within one bucket "
            f"(±{HISTOGRAM_RESOLUTION_PCT:g} %) is never significant. "
            f"↑ higher is better, ↓ lower is better, · neutral.")
    if table.single_iteration:
        text += " Single iteration: no stddev and no significance test."
    return text


def cell_text(cell: Cell, is_reference: bool, spread: bool = True) -> str:
    """One cell as plain text: mean ±sd (CoV), change, and p values when tested."""
    text = fmt.mean_sd(cell)
    if spread and cell.summary is not None and cell.summary.cov_pct is not None:
        text += f" (CoV {fmt.pct(cell.summary.cov_pct, signed=False)})"
    if is_reference:
        return text
    g = fmt.gain(cell)
    if g:
        text += f" {g}"
    p = fmt.p_values(cell)
    if p:
        text += f" ({p})"
    return text


def runs_line(table: ComparisonTable) -> list[str]:
    return [f"{len(c.passed)} passed" + (f", {c.n_failed} failed" if c.n_failed else "")
            for c in table.columns]


def _header(table: ComparisonTable, first: str) -> list[str]:
    cols = table.columns
    return ["| " + first + " | unit | dir | " + " | ".join(_esc(c.key) for c in cols) + " |",
            "|---|---|---|" + "---|" * len(cols)]


def headline_markdown(table: ComparisonTable, head: Headline) -> list[str]:
    refs = table.references
    out = ["## Headline", "", correction_line(table), ""]
    out += _header(table, "primary metric")
    out.append("| verdict | | | " + " | ".join(_esc(v.text) for v in head.verdicts) + " |")
    out.append("| runs | | | " + " | ".join(runs_line(table)) + " |")
    for hr in head.rows:
        m = hr.row.metric
        cells = [_esc(cell_text(c, refs[j] is None)) for j, c in enumerate(hr.row.cells)]
        out.append(f"| {_esc(hr.title)} | {_esc(m.unit)} | {m.direction.arrow} | "
                   + " | ".join(cells) + " |")
    gm = [_esc(fmt.geomean(g)) for g in table.geomean]
    out.append(f"| {fmt.GEOMEAN_TITLE} | | ↑ | " + " | ".join(gm) + " |")
    if head.conditions:
        out += ["", "| condition | " + " | ".join(_esc(c.key) for c in table.columns) + " |",
                "|---|" + "---|" * len(table.columns)]
        out += [f"| {_esc(what)} | " + " | ".join(_esc(v) for v in values) + " |"
                for what, values in head.conditions]
    return out + [""]


def full_markdown(table: ComparisonTable) -> list[str]:
    refs = table.references
    out = ["## All metrics", ""] + _header(table, "metric")
    out.append("| runs | | | " + " | ".join(runs_line(table)) + " |")
    for row in table.rows:
        m = row.metric
        cells = [_esc(cell_text(c, refs[j] is None)) for j, c in enumerate(row.cells)]
        out.append(f"| {_esc(m.label)} | {_esc(m.unit)} | {m.direction.arrow} | "
                   + " | ".join(cells) + " |")
    return out


def render_markdown(table: ComparisonTable, title: str = "tmemlab comparison",
                    plots: Sequence[str] = ()) -> str:
    """``plots``: names of PNG files written next to the Markdown (``<name>.png``)."""
    out = [f"# {title}", ""]
    for w in table.warnings:
        out.append(f"> **warning:** {_esc(w)}")
    if table.warnings:
        out.append("")
    out += headline_markdown(table, build_headline(table))
    if plots:
        out += ["## Plots", ""] + [f"![{name}]({name}.png)" for name in plots] + [""]
    out += full_markdown(table)
    out += ["", legend(table), ""]
    return "\n".join(out)
