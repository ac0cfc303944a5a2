"""Read results folders (docs/RESULTS.md) into plain records. No statistics here."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.report.compare.errors import ResultsDirError

RUNS_DIR = "runs"
SERIES_DIR = "series"
VERSIONS_FILE = "versions.json"
EXPERIMENT_FILE = "experiment.yaml"


@dataclass(frozen=True)
class RunRecord:
    """One ``runs/<run_id>.json`` object, with the folder it came from."""

    run_id: str
    label: str
    iteration: int
    status: str
    data: dict[str, Any]
    source: Path

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def failure(self) -> dict[str, Any] | None:
        return self.data.get("failure")


@dataclass
class ResultsDir:
    """A loaded results folder: identity, resolved experiment and runs in file order."""

    path: Path
    versions: dict[str, Any]
    experiment: dict[str, Any]
    runs: list[RunRecord] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    def labels(self) -> list[str]:
        """Distinct labels in first-seen order (runs are sorted by label then iteration)."""
        return list(dict.fromkeys(r.label for r in self.runs))


def _read_json(path: Path, results: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsDirError(results, f"cannot read {path.name}: {exc}") from exc
    if not isinstance(data, dict):
        raise ResultsDirError(results, f"{path.name} is not a JSON object")
    return data


def parse_run(data: dict[str, Any], source: Path) -> RunRecord:
    """Turn one run object into a record; the label falls back to the run_id minus ``-i<n>``."""
    run_id = str(data.get("run_id") or "")
    if not run_id:
        raise ResultsDirError(source, "a run has no run_id")
    label = str(data.get("label") or run_id.rsplit("-i", 1)[0])
    return RunRecord(
        run_id=run_id,
        label=label,
        iteration=int(data.get("iteration") or 1),
        status=str(data.get("status") or "failed"),
        data=data,
        source=source,
    )


def _read_experiment(path: Path, results: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ResultsDirError(results, f"cannot read {path.name}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def load_results_dir(path: Path | str) -> ResultsDir:
    """Load one results folder; raise ResultsDirError when it is missing or has no runs."""
    path = Path(path)
    if not path.is_dir():
        raise ResultsDirError(path, "no such results directory")
    runs_dir = path / RUNS_DIR
    files = sorted(runs_dir.glob("*.json")) if runs_dir.is_dir() else []
    if not files:
        raise ResultsDirError(path, f"no runs found (expected {RUNS_DIR}/*.json)")
    runs = [parse_run(_read_json(f, path), path) for f in files]
    versions_file = path / VERSIONS_FILE
    versions = _read_json(versions_file, path) if versions_file.is_file() else {}
    experiment = _read_experiment(path / EXPERIMENT_FILE, path)
    order = experiment_label_order(experiment)
    runs.sort(key=lambda r: (order.get(r.label, len(order)), r.label, r.iteration))
    return ResultsDir(path=path, versions=versions, experiment=experiment, runs=runs)


def experiment_label_order(experiment: dict[str, Any]) -> dict[str, int]:
    """Column order as the experiment lists its kernels (then workloads): the first kernel
    is the reference, as the user wrote it, not whichever label sorts first."""
    kernels = [k.get("label") for k in experiment.get("kernels", []) if isinstance(k, dict)]
    workloads = [w.get("label") for w in experiment.get("workloads", [])
                 if isinstance(w, dict)]
    labels = [f"{k}+{w}" for k in kernels for w in workloads]
    return {label: i for i, label in enumerate(labels)}


def parse_series(text: str) -> dict[str, list[float]]:
    """Parse a ``series/<run_id>.csv`` text into columns; blank or bad cells become NaN."""
    reader = csv.DictReader(text.splitlines())
    columns: dict[str, list[float]] = {name: [] for name in reader.fieldnames or []}
    for row in reader:
        for name, values in columns.items():
            try:
                values.append(float(row.get(name) or "nan"))
            except ValueError:
                values.append(float("nan"))
    return columns


def read_series(results: Path, run_id: str) -> dict[str, list[float]]:
    """Read one run's time series; an absent file is an empty series, not an error."""
    path = results / SERIES_DIR / f"{run_id}.csv"
    try:
        return parse_series(path.read_text())
    except OSError:
        return {}


CONSOLE_DIR = "console"
CONSOLE_TAIL_LINES = 40


def tail_lines(text: str, lines: int = CONSOLE_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def console_tail(run: RunRecord, lines: int = CONSOLE_TAIL_LINES) -> str:
    """A run's console tail: the one in its failure record, else the end of its console log."""
    tail = (run.failure or {}).get("console_tail")
    if tail:
        return tail_lines(str(tail), lines)
    try:
        text = (run.source / CONSOLE_DIR / f"{run.run_id}.log").read_text(errors="replace")
    except OSError:
        return ""
    return tail_lines(text, lines)


def split_by_host(d: ResultsDir) -> ResultsDir:
    """The same folder with each run's label suffixed ``@HOST`` (the host in its own
    record, else the folder's), so that each host gets its own columns: merged shards
    of several machines compared host by host instead of pooled."""
    from dataclasses import replace

    default = (d.versions.get("host") or {}).get("hostname") or "?"
    runs = [replace(r, label=f"{r.label}@{(r.data.get('host') or {}).get('hostname') or default}")
            for r in d.runs]
    return ResultsDir(path=d.path, versions=d.versions, experiment=d.experiment, runs=runs)
