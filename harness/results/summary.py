"""End-of-experiment summary: one row per run, in the terminal and as summary.md."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from harness.vm import health

COLUMNS = (
    # header, how to get the value from a run record, format
    ("run", lambda r: r["run_id"], "{}"),
    ("status", lambda r: r["status"], "{}"),
    ("boot s", lambda r: r.get("boot_seconds"), "{:.1f}"),
    ("MB/s", lambda r: _mb(r.get("result", {}).get("bytes_per_sec")), "{:.1f}"),
    ("pages/s", lambda r: r.get("result", {}).get("pages_per_sec"), "{:.0f}"),
    ("p99 µs", lambda r: r.get("result", {}).get("latency_us", {}).get("p99"), "{:.0f}"),
    ("pswpout", lambda r: r.get("deltas", {}).get("pswpout"), "{}"),
    ("pswpin", lambda r: r.get("deltas", {}).get("pswpin"), "{}"),
    ("zswpout", lambda r: r.get("deltas", {}).get("zswpout"), "{}"),
    ("majflt", lambda r: r.get("deltas", {}).get("pgmajfault"), "{}"),
    ("corrupted", lambda r: r.get("result", {}).get("corrupted_pages"), "{}"),
    ("kernel warn", lambda r: _kernel_warnings(r), "{}"),
)

MAX_WARNINGS_LISTED = 10   # per run in summary.md; the run JSON has them all


def _kernel_warnings(record: dict) -> int | None:
    """Kernel warnings and emulation stalls (docs/KERNEL_HEALTH.md) of one run."""
    log = record.get("kernel_log")
    if log is None:
        return None
    return sum(len(log.get(cls, [])) + log.get("truncated", {}).get(cls, 0)
               for cls in (health.WARNING, health.STALL))


def _mb(value):
    return value / 1e6 if isinstance(value, (int, float)) else None


def _cells(record: dict) -> list[str]:
    out = []
    for _header, get, fmt in COLUMNS:
        try:
            value = get(record)
        except (AttributeError, TypeError):
            value = None
        out.append("-" if value is None else fmt.format(value))
    return out


def rich_table(records: list[dict], title: str) -> Table:
    table = Table(title=title)
    for header, _get, _fmt in COLUMNS:
        table.add_column(header, justify="left" if header in ("run", "status") else "right")
    for record in records:
        cells = _cells(record)
        style = None if record["status"] == "passed" else "red"
        table.add_row(*cells, style=style)
    return table


def markdown(records: list[dict], title: str) -> str:
    lines = [f"# {title}", "", "| " + " | ".join(h for h, _g, _f in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in records]
    failed = [r for r in records if r["status"] != "passed"]
    if failed:
        lines += ["", "## Failed runs", ""]
        lines += [f"- `{r['run_id']}`: {r['failure']['reason']}" for r in failed]
    warned = [r for r in records if health.warnings(r.get("kernel_log") or {})]
    if warned:
        lines += ["", "## Kernel warnings", ""]
        for r in warned:
            found = health.warnings(r["kernel_log"])
            lines.append(f"- `{r['run_id']}`:")
            lines += [f"  - `{w}`" for w in found[:MAX_WARNINGS_LISTED]]
            if len(found) > MAX_WARNINGS_LISTED:
                lines.append(f"  - … {len(found) - MAX_WARNINGS_LISTED} more in the run JSON")
    return "\n".join(lines) + "\n"


def write(records: list[dict], title: str, path: Path) -> None:
    path.write_text(markdown(records, title))
