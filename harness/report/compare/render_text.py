"""Rich terminal rendering: the headline first, then the curated table (formatting only)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.report.compare import fmt
from harness.report.compare.headline import NO_DIFFERENCE, REFERENCE, Headline, build_headline
from harness.report.compare.metrics import METRICS
from harness.report.compare.render_md import correction_line, legend, runs_line
from harness.report.compare.table import Cell, ComparisonTable, Row

VERDICT_STYLE = {"better": "bold green", "worse": "bold red", "": "dim"}


def _cell_text(cell: Cell, is_reference: bool) -> Text:
    text = Text(fmt.mean_sd(cell))
    s = cell.summary
    if s is not None and s.n > 1:
        cov = fmt.pct(s.cov_pct, signed=False)
        text.append(f"\nCoV {cov} [{fmt.num(s.min)}, {fmt.num(s.max)}]", style="dim")
    if not is_reference:
        g = fmt.gain(cell)
        if g:
            text.append("\n" + g, style=VERDICT_STYLE[cell.verdict])
        p = fmt.p_values(cell)
        if p:
            text.append("\n" + p, style="dim")
    return text


def _columns(t: Table, table: ComparisonTable, first: str) -> None:
    t.add_column(first)
    t.add_column("unit", style="dim")
    for i, col in enumerate(table.columns):
        ref = table.references[i]
        sub = "reference" if ref is None else f"vs {table.columns[ref].key}"
        t.add_column(f"{col.key}\n[dim]{sub}[/dim]", justify="right")


def _row(t: Table, table: ComparisonTable, title: str, row: Row) -> None:
    cells = [_cell_text(c, table.references[j] is None) for j, c in enumerate(row.cells)]
    t.add_row(f"{title} {row.metric.direction.arrow}", row.metric.unit, *cells)


def _verdict_text(text: str) -> Text:
    if text in (REFERENCE, NO_DIFFERENCE):
        return Text(text, style="dim" if text == REFERENCE else "")
    style = "bold red" if "worse" in text else "bold green" if "better" in text else "yellow"
    return Text(text, style=style)


def build_headline_table(table: ComparisonTable, head: Headline) -> Table:
    caption = correction_line(table).replace("`", "")
    for what, values in head.conditions:
        caption += f"\n{what}: " + " | ".join(values)
    t = Table(title="headline: primary metrics", caption=caption, show_lines=True)
    _columns(t, table, "primary metric")
    t.add_row(Text("verdict", style="bold"), "", *[_verdict_text(v.text) for v in head.verdicts])
    t.add_row("runs", "", *runs_line(table))
    for hr in head.rows:
        _row(t, table, hr.title, hr.row)
    t.add_row(Text(f"{fmt.GEOMEAN_TITLE} ↑", style="bold"), "",
              *[Text(fmt.geomean(g), style="bold") for g in table.geomean])
    return t


def build_rich_table(table: ComparisonTable) -> Table:
    t = Table(title="tmemlab comparison: all metrics", caption=legend(table).replace("`", ""),
              show_lines=True)
    _columns(t, table, "metric")
    t.add_row("runs", "", *runs_line(table))
    shown = {m.path for m in METRICS}  # the terminal shows the curated table only
    for row in table.rows:
        if row.metric.path in shown:
            _row(t, table, row.metric.label, row)
    hidden = sum(1 for row in table.rows if row.metric.path not in shown)
    if hidden:
        t.caption = (t.caption or "") + f"\n{hidden} more counters (every vmstat delta...) " \
            "are in compare/comparison.md, .csv and .json."
    return t


def print_table(table: ComparisonTable, console: Console) -> None:
    for w in table.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
    console.print(build_headline_table(table, build_headline(table)))
    console.print(build_rich_table(table))
