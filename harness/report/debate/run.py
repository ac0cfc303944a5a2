"""Run the debate experiments into one folder and write the report beside them."""

from __future__ import annotations

import time
from pathlib import Path

from harness import ui
from harness.errors import UsageError
from harness.paths import PROJECT_ROOT
from harness.report.compare.errors import CompareError

EXPERIMENTS = PROJECT_ROOT / "experiments" / "debate"


def experiment_files(quick: bool, folder: Path = EXPERIMENTS) -> list[Path]:
    """experiments/debate/*.yaml, or experiments/debate/quick/*.yaml for --quick."""
    where = folder / "quick" if quick else folder
    files = sorted(where.glob("*.yaml"))
    if not files:
        raise UsageError(f"{where}: no experiment files (*.yaml)")
    return files


def report(result_dirs: list[Path], out: Path, wall_s: float | None = None) -> Path:
    """Load the results folders, compute the findings, write the report into ``out``."""
    from harness.report.debate import arms, verdicts
    from harness.report.debate import report as render

    try:
        dirs, found_arms = arms.load(result_dirs)
    except CompareError as err:
        raise UsageError(str(err)) from err
    if not found_arms:
        raise UsageError("no runs in " + ", ".join(map(str, result_dirs)))
    found = verdicts.findings(found_arms)
    path = render.write(out, dirs, found_arms, found, wall_s)
    for f in found:
        ui.console.print(f"[bold]{f.title}[/]: {f.line}", highlight=False)
    return path


def run_all(files: list[Path], results_root: Path, accel: str | None,
            libvirt_uri: str | None) -> tuple[Path, bool]:
    """Every experiment into results/debate-<stamp>/, then the report there. Returns the
    report path and whether every run passed. All files are checked before any guest boots."""
    from harness.cli import _compare
    from harness.experiment import experiment
    from harness.run import runner

    exps = [experiment.load(f) for f in files]
    out = results_root / time.strftime("debate-%Y%m%d-%H%M%S")
    start = time.monotonic()
    ok, folders = True, []
    for exp in exps:
        ui.info(f"debate: {exp.name} ({len(exp.runs())} runs)")
        results, records = runner.run_experiment(exp, out, accel, libvirt_uri)
        _compare(results.path)
        folders.append(results.path)
        ok &= all(r["status"] == "passed" for r in records)
    return report(folders, out, round(time.monotonic() - start, 1)), ok
