"""Rich terminal rendering of the comparison table (formatting only)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.compare import fmt
from harness.compare.metrics import METRICS
from harness.compare.render_md import legend
from harness.compare.table import Cell, ComparisonTable

VERDICT_STYLE = {"better": "bold green", "worse": "bold red", "": "dim"}


def _cell_text(cell: Cell, is_reference: bool) -> Text:
    text = Text(fmt.mean_sd(cell))
    s = cell.summary
    if s is not None and s.n > 1:
        cov = fmt.pct(s.cov_pct, signed=False)
        text.append(f"\nCoV {cov} [{fmt.num(s.min)}, {fmt.num(s.max)}]", style="dim")
    if not is_reference and cell.gain_pct is not None:
        text.append("\n" + fmt.gain(cell), style=VERDICT_STYLE[cell.verdict])
    return text


def build_rich_table(table: ComparisonTable) -> Table:
    t = Table(title="tmemlab comparison", caption=legend(table), show_lines=True)
    t.add_column("metric")
    t.add_column("unit", style="dim")
    for i, col in enumerate(table.columns):
        ref = table.references[i]
        sub = "reference" if ref is None else f"vs {table.columns[ref].key}"
        t.add_column(f"{col.key}\n[dim]{sub}[/dim]", justify="right")
    runs = [f"{len(c.passed)} passed" + (f", {c.n_failed} failed" if c.n_failed else "")
            for c in table.columns]
    t.add_row("runs", "", *runs)
    shown = {m.path for m in METRICS}  # the terminal shows the curated table only
    for row in table.rows:
        m = row.metric
        if m.path not in shown:
            continue
        cells = [_cell_text(c, table.references[j] is None) for j, c in enumerate(row.cells)]
        t.add_row(f"{m.label} {m.direction.arrow}", m.unit, *cells)
    t.add_row(Text("geomean ratio ↑", style="bold"), "",
              *[Text(fmt.ratio(v), style="bold") for v in table.geomean])
    hidden = sum(1 for row in table.rows if row.metric.path not in shown)
    if hidden:
        t.caption = (t.caption or "") + f"\n{hidden} more counters (every vmstat delta...) " \
            "are in compare/comparison.md, .csv and .json."
    return t


def print_table(table: ComparisonTable, console: Console) -> None:
    for w in table.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
    console.print(build_rich_table(table))
