"""One self-contained HTML report: tables, plots as base64 <img>, provenance. Formatting only."""

from __future__ import annotations

import base64
import html

from harness.compare import fmt
from harness.compare.render_md import legend
from harness.compare.table import Cell, ComparisonTable

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
    if not is_reference and cell.gain_pct is not None:
        p = "" if cell.p_value is None else f' title="p={cell.p_value:.3g}"'
        parts.append(f'<span class="{cell.verdict or "dim"}"{p}>{e(fmt.gain(cell))}</span>')
    return '<td class="num">' + "<br>".join(parts) + "</td>"


def comparison_html(table: ComparisonTable) -> str:
    head = ["<th>metric</th><th>unit</th>"]
    for i, col in enumerate(table.columns):
        ref = table.references[i]
        sub = "reference" if ref is None else f"vs {table.columns[ref].key}"
        head.append(f'<th>{e(col.key)}<br><span class="dim">{e(sub)}</span></th>')
    rows = ["<tr>" + "".join(head) + "</tr>"]
    runs = "".join(f'<td class="num">{len(c.passed)} passed'
                   + (f", {c.n_failed} failed" if c.n_failed else "") + "</td>"
                   for c in table.columns)
    rows.append(f"<tr><td>runs</td><td></td>{runs}</tr>")
    for row in table.rows:
        m = row.metric
        cells = "".join(_cell(c, table.references[j] is None) for j, c in enumerate(row.cells))
        rows.append(f"<tr><td>{e(m.label)} {m.direction.arrow}</td><td>{e(m.unit)}</td>"
                    f"{cells}</tr>")
    gm = "".join(f'<td class="num"><b>{fmt.ratio(v)}</b></td>' for v in table.geomean)
    rows.append(f"<tr><td><b>geomean ratio ↑</b></td><td></td>{gm}</tr>")
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
<h2>Comparison</h2>
{comparison_html(table)}
<p class="dim">{e(legend(table).replace("`", ""))}</p>
<h2>Plots</h2>
{_plots_html(plots) or '<p>No data to plot.</p>'}
{_failures_html(table)}
<h2>Provenance</h2>
{_identity_html(identity)}
</body></html>
"""
