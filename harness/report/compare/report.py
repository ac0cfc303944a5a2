"""Put the pieces together: load folders, build the table, write every output file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from harness.report.compare import stats
from harness.report.compare.errors import CompareError
from harness.report.compare.junit import render_junit
from harness.report.compare.ktap import render_ktap
from harness.report.compare.loader import (
    ResultsDir,
    RunRecord,
    console_tail,
    load_results_dir,
    split_by_host,
)
from harness.report.compare.plots import all_plots
from harness.report.compare.provenance import show_lines, warnings_for
from harness.report.compare.render_data import render_csv, render_json
from harness.report.compare.render_html import render_html
from harness.report.compare.render_md import render_markdown
from harness.report.compare.render_text import print_table
from harness.report.compare.table import (
    ComparisonTable,
    build_columns,
    build_table,
    match_references,
)

COMPARE_SUBDIR = "compare"
KTAP_FILE = "results.ktap"
JUNIT_FILE = "junit.xml"


@dataclass(frozen=True)
class CompareOptions:
    alpha: float = stats.DEFAULT_ALPHA
    labels: tuple[str, ...] | None = None  # pick and order columns
    plots: bool = True
    reference: str | None = None  # label (or column key) every other column is compared with
    by_host: bool = False  # one column per label and host (merged shards of several machines)


def compare_dirs(dirs: list[ResultsDir], opts: CompareOptions = CompareOptions(),
                 baseline: ResultsDir | None = None) -> ComparisonTable:
    """Build the table; with ``baseline`` it is the first folder and the reference of others."""
    all_dirs = ([baseline] if baseline else []) + dirs
    if opts.by_host:
        all_dirs = [split_by_host(d) for d in all_dirs]
    labels = list(opts.labels) if opts.labels else None
    if labels:
        known = {lab for d in all_dirs for lab in d.labels()}
        missing = [lab for lab in labels if lab not in known]
        if missing:
            raise CompareError(f"no runs with label(s): {', '.join(missing)}")
    columns = build_columns(all_dirs, labels)
    if opts.reference is not None:
        if baseline is not None:
            raise CompareError("--reference picks a column of one folder; with --baseline the "
                               "baseline folder is the reference")
        found = [c for c in columns if opts.reference in (c.label, c.key)]
        if len(found) != 1:
            known = ", ".join(c.key for c in columns)
            raise CompareError(f"--reference {opts.reference}: "
                               f"{'ambiguous' if found else 'no such column'} (columns: {known})")
        columns.remove(found[0])
        columns.insert(0, found[0])
    refs = match_references(columns, 0 if baseline else None)
    return build_table(columns, opts.alpha, refs, warnings_for(all_dirs, columns))


def failed_tails(runs: list[RunRecord]) -> dict[str, str]:
    return {r.run_id: console_tail(r) for r in runs if not r.passed}


def write_ci_outputs(runs: list[RunRecord], out_dir: Path, name: str) -> list[Path]:
    """results.ktap and junit.xml for ``runs``."""
    tails = failed_tails(runs)
    out_dir.mkdir(parents=True, exist_ok=True)
    ktap, junit = out_dir / KTAP_FILE, out_dir / JUNIT_FILE
    ktap.write_text(render_ktap(runs, tails, name))
    junit.write_text(render_junit(runs, tails, name))
    return [ktap, junit]


def write_outputs(table: ComparisonTable, dirs: list[ResultsDir], out_dir: Path,
                  plots: bool = True) -> list[Path]:
    """Markdown, CSV, JSON, PNGs and the HTML report into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    title = "tmemlab comparison: " + ", ".join(d.name for d in dirs)
    pngs = all_plots(table) if plots else {}
    files = {
        "comparison.md": render_markdown(table, title, tuple(pngs)),
        "comparison.csv": render_csv(table),
        "comparison.json": render_json(table),
    }
    written = []
    for name, text in files.items():
        (out_dir / name).write_text(text)
        written.append(out_dir / name)
    for name, png in pngs.items():
        (out_dir / f"{name}.png").write_bytes(png)
        written.append(out_dir / f"{name}.png")
    identity = {d.name: show_lines(d) for d in dirs}
    (out_dir / "report.html").write_text(render_html(table, pngs, identity, title))
    written.append(out_dir / "report.html")
    return written


def report_experiment(results_dir: Path, console: Console) -> None:
    """End of an experiment: outputs under RESULTS_DIR/compare/, KTAP and JUnit in RESULTS_DIR,
    and the rich table on ``console``. Raises CompareError for an unusable folder."""
    results = load_results_dir(results_dir)
    table = compare_dirs([results])
    write_outputs(table, [results], results.path / COMPARE_SUBDIR)
    write_ci_outputs(results.runs, results.path, results.name)
    print_table(table, console)
