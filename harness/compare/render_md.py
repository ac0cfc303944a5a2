"""Markdown rendering of the comparison table (formatting only)."""

from __future__ import annotations

from harness.compare import fmt
from harness.compare.table import ComparisonTable


def _esc(text: str) -> str:
    return text.replace("|", "\\|")


def legend(table: ComparisonTable) -> str:
    text = (f"Cells: mean ±stddev over passed iterations (harmonic mean for rates), then the "
            f"difference against the reference column, positive = better; `*` = significant "
            f"(Welch's t-test, α={table.alpha:g}). ↑ higher is better, ↓ lower is better, "
            f"· neutral.")
    if table.single_iteration:
        text += " Single iteration: no stddev and no significance test."
    return text


def _cell(table: ComparisonTable, row_idx: int, col_idx: int) -> str:
    cell = table.rows[row_idx].cells[col_idx]
    text = fmt.mean_sd(cell)
    if cell.summary is not None and cell.summary.cov_pct is not None:
        text += f" (CoV {fmt.pct(cell.summary.cov_pct, signed=False)})"
    g = fmt.gain(cell)
    if g:
        text += f" {g}"
    return _esc(text)


def render_markdown(table: ComparisonTable, title: str = "tmemlab comparison") -> str:
    cols = table.columns
    out = [f"# {title}", ""]
    for w in table.warnings:
        out.append(f"> **warning:** {_esc(w)}")
    if table.warnings:
        out.append("")
    out.append("| metric | unit | dir | " + " | ".join(_esc(c.key) for c in cols) + " |")
    out.append("|---|---|---|" + "---|" * len(cols))
    runs = [f"{len(c.passed)} passed" + (f", {c.n_failed} failed" if c.n_failed else "")
            for c in cols]
    out.append("| runs | | | " + " | ".join(runs) + " |")
    for i, row in enumerate(table.rows):
        m = row.metric
        cells = [_cell(table, i, j) for j in range(len(cols))]
        out.append(f"| {_esc(m.label)} | {_esc(m.unit)} | {m.direction.arrow} | "
                   + " | ".join(cells) + " |")
    gm = [fmt.ratio(v) for v in table.geomean]
    out.append("| geomean ratio | | ↑ | " + " | ".join(gm) + " |")
    out += ["", legend(table), ""]
    return "\n".join(out)
