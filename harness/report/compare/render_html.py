"""One self-contained HTML report: the headline, then the plots, then the full table, failed
runs and provenance; plots are base64 <img>. Formatting only."""

from __future__ import annotations

import base64
import html

from harness.report.compare import fmt
from harness.report.compare.headline import Headline, build_headline
from harness.report.compare.render_md import correction_line, legend, runs_line
from harness.report.compare.table import Cell, ComparisonTable, Row

CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; vertical-align: top; }
th { background: #f0f0f0; } td.num { text-align: right; white-space: nowrap; }
.better { color: #11772d; font-weight: bold; } .worse { color: #b00020; font-weight: bold; }
.dim { color: #777; font-size: 0.85em; } .warning { background: #fff4ce; padding: 0.5em; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
img { max-width: 100%; border: 1px solid #ddd; }
pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; }
"""

PLOT_CAPTIONS = {
    "throughput": "Throughput per config (mean ± stddev, dots are iterations)",
    "phases": "Pressure phases per config: fill (first touch, stores), passes, final verify",
    "swap_rates": "Swap-in/out rates over time (first iteration of each config)",
    "psi": "Memory pressure (PSI) over time",
    "backend_stored": "Backend / zswap stored pages over time",
}

e = html.escape


def _cell(cell: Cell, is_reference: bool) -> str:
    parts = [e(fmt.mean_sd(cell))]
    s = cell.summary
    if s is not None and s.n > 1:
        parts.append(f'<span class="dim">CoV {e(fmt.pct(s.cov_pct, signed=False))} '
                     f'[{e(fmt.num(s.min))}, {e(fmt.num(s.max))}]</span>')
    if not is_reference:
        g = fmt.gain(cell)
        if g:
            parts.append(f'<span class="{cell.verdict or "dim"}">{e(g)}</span>')
        p = fmt.p_values(cell)
        if p:
            parts.append(f'<span class="dim">{e(p)}</span>')
    return '<td class="num">' + "<br>".join(parts) + "</td>"


def _head(table: ComparisonTable, first: str) -> list[str]:
    head = [f"<th>{e(first)}</th><th>unit</th>"]
    for i, col in enumerate(table.columns):
        ref = table.references[i]
        sub = "reference" if ref is None else f"vs {table.columns[ref].key}"
        head.append(f'<th>{e(col.key)}<br><span class="dim">{e(sub)}</span></th>')
    runs = "".join(f'<td class="num">{e(r)}</td>' for r in runs_line(table))
    return ["<tr>" + "".join(head) + "</tr>", f"<tr><td>runs</td><td></td>{runs}</tr>"]


def _row(table: ComparisonTable, title: str, row: Row) -> str:
    cells = "".join(_cell(c, table.references[j] is None) for j, c in enumerate(row.cells))
    return (f"<tr><td>{e(title)} {row.metric.direction.arrow}</td><td>{e(row.metric.unit)}</td>"
            f"{cells}</tr>")


def _verdict_class(text: str) -> str:
    return "worse" if "worse" in text else "better" if "better" in text else ""


def headline_html(table: ComparisonTable, head: Headline) -> str:
    rows = _head(table, "primary metric")
    verdicts = "".join(f'<td class="num {_verdict_class(v.text)}">{e(v.text)}</td>'
                       for v in head.verdicts)
    rows.insert(1, f"<tr><td><b>verdict</b></td><td></td>{verdicts}</tr>")
    rows += [_row(table, hr.title, hr.row) for hr in head.rows]
    gm = "".join(f'<td class="num"><b>{e(fmt.geomean(g))}</b></td>' for g in table.geomean)
    rows.append(f"<tr><td><b>{e(fmt.GEOMEAN_TITLE)} ↑</b></td><td></td>{gm}</tr>")
    out = ['<table id="headline">' + "\n".join(rows) + "</table>",
           f'<p id="correction">{e(correction_line(table).replace("`", ""))}</p>']
    if head.conditions:
        cond = "".join(f"<tr><th>{e(what)}</th>"
                       + "".join(f"<td>{e(v)}</td>" for v in values) + "</tr>"
                       for what, values in head.conditions)
        keys = "".join(f"<th>{e(c.key)}</th>" for c in table.columns)
        out.append(f'<table id="conditions"><tr><th>condition</th>{keys}</tr>{cond}</table>')
    return "\n".join(out)


def comparison_html(table: ComparisonTable) -> str:
    rows = _head(table, "metric")
    rows += [_row(table, row.metric.label, row) for row in table.rows]
    return '<table id="comparison">' + "\n".join(rows) + "</table>"


def _plots_html(plots: dict[str, bytes]) -> str:
    out = []
    for name, png in plots.items():
        data = base64.b64encode(png).decode("ascii")
        cap = PLOT_CAPTIONS.get(name, name)
        out.append(f'<figure><img class="plot" id="plot-{e(name)}" alt="{e(cap)}" '
                   f'src="data:image/png;base64,{data}"><figcaption>{e(cap)}</figcaption>'
                   f"</figure>")
    return "\n".join(out)


def _identity_html(identity: dict[str, list[tuple[str, str]]]) -> str:
    out = []
    for name, lines in identity.items():
        rows = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in lines)
        out.append(f"<h3>{e(name)}</h3><table>{rows}</table>")
    return "\n".join(out)


def _failures_html(table: ComparisonTable) -> str:
    out = []
    for col in table.columns:
        for run in col.runs:
            if run.passed:
                continue
            f = run.failure or {}
            out.append(f"<h4>{e(run.run_id)}: {e(str(f.get('reason', run.status)))}</h4>"
                       f"<pre>{e(str(f.get('console_tail') or ''))}</pre>")
    return "<h2>Failed runs</h2>" + "\n".join(out) if out else ""


def render_html(table: ComparisonTable, plots: dict[str, bytes],
                identity: dict[str, list[tuple[str, str]]],
                title: str = "tmemlab comparison") -> str:
    warnings = "".join(f'<p class="warning">warning: {e(w)}</p>' for w in table.warnings)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>{CSS}</style></head><body>
<h1>{e(title)}</h1>
{warnings}
<h2>Headline</h2>
{headline_html(table, build_headline(table))}
<h2>Plots</h2>
{_plots_html(plots) or '<p>No data to plot.</p>'}
<h2>All metrics</h2>
{comparison_html(table)}
<p class="dim">{e(legend(table).replace("`", ""))}</p>
{_failures_html(table)}
<h2>Provenance</h2>
{_identity_html(identity)}
</body></html>
"""
