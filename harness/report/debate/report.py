"""DEBATE.md, debate.html, debate.json and plots/*.png from findings (formatting only: every
verdict and number comes from harness/report/debate/verdicts.py).

The report leads with the verdict table and the conditions the verdicts hold under (accel,
measured CPU slowdown, dilation, sizes), then one section per claim: the claim, the reply,
what was measured, a table, the plots, the verdict line.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

from matplotlib.figure import Figure

from harness.report.compare import stats
from harness.report.compare.loader import ResultsDir
from harness.report.debate.arms import Arm
from harness.report.debate.verdicts import Finding, host_utilization

DPI = 90


def conditions(dirs: list[ResultsDir], arms: list[Arm]) -> list[str]:
    """What every verdict holds under, from the records: accel, the guest's measured CPU
    slowdown, which disk arms were dilated, guest size, workload, iterations, host."""
    out = []
    accels = sorted({a.accel for a in arms})
    factors = [r.data["dilation"]["factor"] for a in arms for r in a.passed
               if isinstance(r.data.get("dilation"), dict)]
    slow = (f"the guest CPU measured {stats.amean(factors):.3g}× slower than the host's "
            f"(4 KiB memcpy and lz4, min {min(factors):.3g}, max {max(factors):.3g}, "
            f"{len(factors)} runs)") if factors else "guest CPU slowdown not measured"
    out.append(f"accelerator: {', '.join(accels)}; {slow}")
    if "tcg" in accels:
        out.append("TCG: guest CPU work is slowed while undilated disk limits run in real "
                   "time, so undilated arms favour disk swap; dilated arms divide the disk "
                   "limits by the measured slowdown and keep hardware's CPU-to-disk cost "
                   "ratio. Under KVM the slowdown is about 1 and both kinds of arm agree.")
    dil = [a for a in arms if a.dilated]
    if dil:
        def divisor(a: Arm) -> float:
            return stats.amean([float(r.data["guest"]["swap_iotune_scale"]["divisor"])
                                for r in a.passed] or [a.divisor])
        out.append("dilated arms (swap disk limits ÷ the run's measured slowdown): "
                   + ", ".join(f"{a.name} ÷{divisor(a):.3g}" for a in dil))
    guests = sorted({(a.first.get("guest", {}).get("memory_mib"),
                      a.first.get("guest", {}).get("vcpus")) for a in arms}, key=str)
    out.append("guest: " + "; ".join(f"{m} MiB, {v} vCPU" for m, v in guests))
    loads = sorted({json.dumps(a.first.get("workload", {}).get("params", {}), sort_keys=True)
                    for a in arms})
    out.append("workload: " + "; ".join(loads))
    runs = [len(a.passed) for a in arms]
    out.append(f"iterations per arm: {min(runs)}–{max(runs)} passed"
               if runs and min(runs) != max(runs) else f"iterations per arm: {runs[0]} passed"
               if runs else "no runs")
    hosts = sorted({str(d.versions.get("host", {}).get("cpu_model") or
                        d.versions.get("host", {}).get("hostname") or "?") for d in dirs})
    out.append("host: " + ", ".join(hosts) + "; results: " + ", ".join(d.name for d in dirs))
    return out


# --- plots --------------------------------------------------------------------------------

def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def _bars(arms: list[Arm], values, title: str, unit: str, log: bool = False) -> bytes | None:
    data = [(a.name, values(a)) for a in arms]
    data = [(n, v) for n, v in data if v]
    if not data:
        return None
    fig = Figure(figsize=(max(6, 0.8 * len(data) + 2), 4))
    ax = fig.add_subplot()
    for i, (_name, vals) in enumerate(data):
        ax.bar(i, stats.amean(vals), color="#4878a8", alpha=0.8)
        ax.plot([i] * len(vals), vals, "k.", markersize=4)
    ax.set_xticks(range(len(data)), [n for n, _ in data], rotation=30, ha="right")
    ax.set_ylabel(unit)
    ax.set_title(title)
    if log:
        ax.set_yscale("log")
    return _png(fig)


def plots(arms: list[Arm]) -> dict[str, bytes]:
    out = {}
    thr = _bars(arms, lambda a: a.values("pages_per_sec"), "Workload throughput per arm",
                "pages/s")
    if thr:
        out["throughput"] = thr

    def latency(a: Arm) -> list[float]:
        if a.technique == "tmem":
            return a.values("tmem_rtt_avg_us")
        return [v * 1000 for v in a.values("swap_disk_read_avg_ms")]
    lat = _bars(arms, latency, "Per-page cost: tmem round trip vs swap disk read per request",
                "µs (log)", log=True)
    if lat:
        out["latency"] = lat
    pts = [(a.name, stats.amean(u), a.mean("pages_per_sec")) for a in arms
           if (u := host_utilization(a)) and a.mean("pages_per_sec")]
    if pts:
        fig = Figure(figsize=(6.5, 4.5))
        ax = fig.add_subplot()
        for name, x, y in pts:
            ax.plot(x, y, "o")
            ax.annotate(name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel("host CPU cores busy (QEMU + backend)")
        ax.set_ylabel("pages/s")
        ax.set_title("CPU against throughput")
        out["cpu_throughput"] = _png(fig)
    return out


# --- renderers ----------------------------------------------------------------------------

def _md_table(header: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> list[str]:
    if not header:
        return []
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines + [""]


def render_md(title: str, conds: list[str], found: list[Finding], pngs: dict[str, bytes],
              wall_s: float | None) -> str:
    out = [f"# {title}", ""]
    out += ["| claim | verdict | why (from the numbers) |", "|---|---|---|"]
    out += [f"| {f.title} | **{f.verdict}** | {f.reason} |" for f in found]
    out += ["", "## Conditions", ""] + [f"- {c}" for c in conds]
    if wall_s is not None:
        out.append(f"- wall time: {wall_s:.0f} s")
    out.append("")
    out += [f"![{name}](plots/{name}.png)" for name in pngs] + [""]
    for f in found:
        out += [f"## {f.title}", "", f"- **Claim:** {f.objection}", f"- **Reply:** {f.reply}",
                f"- **Measured:** {f.measured}", ""]
        out += _md_table(f.header, f.rows)
        out += [f"![{p}](plots/{p}.png)" for p in f.plots if p in pngs]
        out += ["", f.line, ""]
    return "\n".join(out)


e = html.escape
CSS = """body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 70em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; vertical-align: top; }
th { background: #f0f0f0; } img { max-width: 100%; border: 1px solid #ddd; }
.supported { color: #11772d; } .refuted { color: #b00020; } .depends { color: #8a5a00; }
.verdict { font-weight: bold; }"""


def _html_table(header, rows) -> str:
    if not header:
        return ""
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(name: str, pngs: dict[str, bytes]) -> str:
    data = base64.b64encode(pngs[name]).decode()
    return f'<figure><img alt="{e(name)}" src="data:image/png;base64,{data}"></figure>'


def render_html(title: str, conds: list[str], found: list[Finding], pngs: dict[str, bytes],
                wall_s: float | None) -> str:
    cls = lambda v: v.replace(" ", "-")  # noqa: E731
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
             f"<style>{CSS}</style></head><body><h1>{e(title)}</h1>",
             _html_table(("claim", "verdict", "why (from the numbers)"), ()).replace(
                 "</table>", "".join(
                     f"<tr><td>{e(f.title)}</td><td class='verdict {cls(f.verdict)}'>"
                     f"{e(f.verdict)}</td><td>{e(f.reason)}</td></tr>" for f in found)
                 + "</table>"),
             "<h2>Conditions</h2><ul>" + "".join(f"<li>{e(c)}</li>" for c in conds)
             + (f"<li>wall time: {wall_s:.0f} s</li>" if wall_s is not None else "") + "</ul>",
             "".join(_img(n, pngs) for n in pngs)]
    for f in found:
        parts.append(f"<h2 id='{e(f.key)}'>{e(f.title)}</h2><ul>"
                     f"<li><b>Claim:</b> {e(f.objection)}</li><li><b>Reply:</b> {e(f.reply)}"
                     f"</li><li><b>Measured:</b> {e(f.measured)}</li></ul>"
                     + _html_table(f.header, f.rows)
                     + f"<p class='verdict {cls(f.verdict)}'>{e(f.line)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def to_json(conds: list[str], found: list[Finding], wall_s: float | None) -> dict:
    return {"conditions": conds, "wall_s": wall_s,
            "findings": [{"key": f.key, "title": f.title, "verdict": f.verdict,
                          "reason": f.reason, "claim": f.objection, "reply": f.reply,
                          "measured": f.measured, "header": list(f.header),
                          "rows": [list(r) for r in f.rows], "numbers": f.numbers}
                         for f in found]}


def write(out: Path, dirs: list[ResultsDir], arms: list[Arm], found: list[Finding],
          wall_s: float | None = None) -> Path:
    """Write the report files into ``out``; returns the DEBATE.md path."""
    out.mkdir(parents=True, exist_ok=True)
    conds = conditions(dirs, arms)
    pngs = plots(arms)
    (out / "plots").mkdir(exist_ok=True)
    for name, data in pngs.items():
        (out / "plots" / f"{name}.png").write_bytes(data)
    title = "The 2011 frontswap objections, measured"
    (out / "DEBATE.md").write_text(render_md(title, conds, found, pngs, wall_s))
    (out / "debate.html").write_text(render_html(title, conds, found, pngs, wall_s))
    (out / "debate.json").write_text(json.dumps(to_json(conds, found, wall_s), indent=1,
                                                default=str) + "\n")
    return out / "DEBATE.md"
