"""Which runs of an experiment one ``tmemlab run`` does: ``--shard K/N`` (a stable split
for N CI runners), ``--only PATTERN`` (run ids or labels, shell globs) and ``--resume DIR``
(skip what an earlier invocation already recorded as passed).

The split is by position in ``Experiment.runs()`` (round robin), so the shards of one
experiment file are disjoint, cover every run, and differ in size by at most one; the
iterations of one configuration land on different shards, which balances them when
configurations differ in cost."""

from __future__ import annotations

import json
import re
from fnmatch import fnmatchcase
from pathlib import Path

import yaml

from harness.errors import UsageError
from harness.experiment.experiment import Experiment, Run

SHARD = re.compile(r"^([1-9][0-9]*)/([1-9][0-9]*)$")


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` → (K, N), 1 <= K <= N; UsageError otherwise."""
    match = SHARD.match(text.strip())
    if not match or int(match[1]) > int(match[2]):
        raise UsageError(f"--shard {text}: expected K/N with 1 <= K <= N (e.g. 2/4)")
    return int(match[1]), int(match[2])


def shard(runs: list[Run], k: int, n: int) -> list[Run]:
    """Shard ``k`` of ``n`` (1-based): every n-th run starting at the k-th."""
    return [run for i, run in enumerate(runs) if i % n == k - 1]


def only(runs: list[Run], patterns: list[str]) -> list[Run]:
    """The runs whose id (``LABEL-iN``) or label matches one of ``patterns`` (globs,
    comma-separated or repeated). A pattern that matches no run is a UsageError: a typo
    must not turn into an empty, passing invocation."""
    wanted = [p for text in patterns for p in text.split(",") if p]
    for pattern in wanted:
        if not any(fnmatchcase(r.run_id, pattern) or fnmatchcase(r.label, pattern)
                   for r in runs):
            ids = ", ".join(r.run_id for r in runs[:6]) + (", ..." if len(runs) > 6 else "")
            raise UsageError(f"--only {pattern}: matches no run (run ids: {ids})")
    return [r for r in runs if any(fnmatchcase(r.run_id, p) or fnmatchcase(r.label, p)
                                   for p in wanted)]


def records(results: Path) -> list[dict]:
    """Every readable run record in ``results/runs`` (a group's guests and its group
    record alike), by file name; unreadable ones count as absent."""
    out = []
    for path in sorted((results / "runs").glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and "run_id" in record and "status" in record:
            out.append(record)
    return out


def recorded_status(results: Path) -> dict[str, str]:
    """``run_id`` → status of every run record in ``results/runs``."""
    return {r["run_id"]: r["status"] for r in records(results)}


def _normal(data) -> object:
    """What YAML and JSON both keep: tuples become lists, keys strings."""
    return json.loads(json.dumps(data, default=str))


def check_resumable(exp: Experiment, results: Path) -> None:
    """UsageError unless ``results`` was made by this experiment as it is now: the folder's
    experiment.yaml (the resolved experiment, every default filled in) must equal this
    one's. Comments and formatting may change; any setting may not."""
    saved = results / "experiment.yaml"
    if not (results / "runs").is_dir() or not saved.is_file():
        raise UsageError(f"--resume {results}: not a tmemlab results folder "
                         "(no runs/ or experiment.yaml)")
    try:
        then = _normal(yaml.safe_load(saved.read_text()))
    except (OSError, yaml.YAMLError) as err:
        raise UsageError(f"{saved}: unreadable: {err}") from None
    now = _normal(exp.resolved())
    if then != now:
        keys = [k for k in dict.fromkeys([*now, *(then or {})])
                if (then or {}).get(k) != now.get(k)]
        raise UsageError(f"--resume {results}: {exp.path} changed since the folder was made "
                         f"({', '.join(keys)} differ); start a new results folder")


def pending(runs: list[Run], status: dict[str, str]) -> list[Run]:
    """The runs not yet recorded as passed (failed ones and missing ones)."""
    return [r for r in runs if status.get(r.run_id) != "passed"]


def source_of(results: Path) -> Path:
    """The experiment file a results folder was made from (versions.json), for
    ``tmemlab run --resume DIR`` without naming it again."""
    try:
        versions = json.loads((results / "versions.json").read_text())
        return Path(versions["experiment_file"])
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError(f"--resume {results}: the folder does not record its experiment "
                         "file; name it: tmemlab run EXPERIMENT --resume DIR") from None
