"""``tmemlab merge OUT DIR...``: the results folders of one experiment's shards (``run
--shard K/N`` on several machines, or ``--resume`` leftovers) become one folder that
compare reads as one experiment, iterations from every shard pooled into one sample.
One folder is accepted too (a pipeline with one shard stays the same pipeline).

Refused (UsageError, exit 2, nothing written): folders of different experiments (their
resolved experiment.yaml differ), an OUT that exists, and a run id passed in two folders
(the same iteration measured twice: which one is the sample?). A run that failed in one
folder and passed in another keeps the passed one. Every record keeps where it ran
(``host``; records older than host provenance get their folder's versions.json host) and
gains ``merged_from`` (the folder's name)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.errors import UsageError
from harness.experiment.selection import records

SUBDIRS = ("series", "console")


@dataclass
class Source:
    path: Path
    experiment: dict
    versions: dict
    records: list[dict]


def _load(path: Path) -> Source:
    if not (path / "runs").is_dir() or not (path / "experiment.yaml").is_file():
        raise UsageError(f"{path}: not a tmemlab results folder (no runs/ or experiment.yaml)")
    try:
        experiment = yaml.safe_load((path / "experiment.yaml").read_text())
        versions_file = path / "versions.json"
        versions = json.loads(versions_file.read_text()) if versions_file.is_file() else {}
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise UsageError(f"{path}: unreadable: {err}") from None
    return Source(path, experiment, versions, records(path))


def _host(source: Source, record: dict) -> dict:
    if "host" in record:
        return record["host"]
    old = source.versions
    return {**old.get("host", {}), "accel": old.get("accel"), "qemu": old.get("qemu"),
            "libvirt": old.get("libvirt")}


def plan(sources: list[Source]) -> dict[str, tuple[Source, dict]]:
    """run_id → (folder, record) kept in the merge; UsageError on a conflict."""
    first = sources[0]
    for other in sources[1:]:
        if other.experiment != first.experiment:
            keys = [k for k in dict.fromkeys([*first.experiment, *other.experiment])
                    if first.experiment.get(k) != other.experiment.get(k)]
            raise UsageError(f"{other.path}: a different experiment than {first.path} "
                             f"({', '.join(keys)} differ): merge shards of one experiment")
    kept: dict[str, tuple[Source, dict]] = {}
    for source in sources:
        for record in source.records:
            run_id = record["run_id"]
            if run_id not in kept:
                kept[run_id] = (source, record)
                continue
            had_source, had = kept[run_id]
            if had["status"] == "passed" and record["status"] == "passed":
                raise UsageError(f"{run_id}: passed in both {had_source.path} and "
                                 f"{source.path}; merge one of them")
            if record["status"] == "passed":
                kept[run_id] = (source, record)
    return kept


def _files_of(source: Source, run_id: str) -> list[Path]:
    """The series and console files of one run (console: .log, .dmesg, extra logs)."""
    out = []
    for sub in SUBDIRS:
        folder = source.path / sub
        if folder.is_dir():
            out += [p for p in folder.iterdir()
                    if p.is_file() and (p.stem == run_id or p.name.startswith(run_id + "."))]
    return out


def merge(out: Path, dirs: list[Path]) -> list[dict]:
    """Write the merged folder ``out``; returns its records. See the module docstring."""
    if out.exists():
        raise UsageError(f"{out}: exists; merge writes a new folder")
    if not dirs:
        raise UsageError("merge: name the results folders to merge")
    sources = [_load(d) for d in dirs]
    kept = plan(sources)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    for sub in ("runs", *SUBDIRS):
        (tmp / sub).mkdir(parents=True)
    shutil.copyfile(sources[0].path / "experiment.yaml", tmp / "experiment.yaml")
    merged = []
    for run_id, (source, record) in sorted(kept.items()):
        record = {**record, "host": _host(source, record), "merged_from": source.path.name}
        (tmp / "runs" / f"{run_id}.json").write_text(json.dumps(record, indent=2) + "\n")
        for path in _files_of(source, run_id):
            shutil.copyfile(path, tmp / path.parent.name / path.name)
        merged.append(record)
    for source in sources:
        log = source.path / "backend.log"
        if log.is_file():
            shutil.copyfile(log, tmp / f"backend-{source.path.name}.log")
    # The first folder's identity stays where compare and show read it; every folder's
    # is kept under "merged", and each record carries its own host.
    versions = {**sources[0].versions,
                "merged": [{"folder": str(s.path), "runs": sum(
                    1 for src, _ in kept.values() if src is s), **s.versions}
                    for s in sources]}
    (tmp / "versions.json").write_text(json.dumps(versions, indent=2, default=str) + "\n")
    tmp.rename(out)  # all or nothing: a merge cut short leaves only the .partial folder
    return merged
