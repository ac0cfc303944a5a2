"""Results folders: see docs/RESULTS.md. Written as the experiment goes, so an interrupted
experiment still leaves every finished run on disk."""

from __future__ import annotations

import csv
import json
import os
import platform
import shutil
import socket
import time
from pathlib import Path

import yaml

from harness import proc
from harness.errors import CommandError
from harness.paths import PROJECT_ROOT


def host_identity() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines()
                   if ln.startswith("MemTotal:"))
    except (OSError, StopIteration):
        mem = 0
    return {"hostname": socket.gethostname(), "cpu_model": cpu, "nproc": os.cpu_count(),
            "mem_total_kib": mem, "kernel": platform.release()}


def _first_line(path: str) -> str | None:
    try:
        return Path(path).read_text().strip().splitlines()[0]
    except (OSError, IndexError):
        return None


def _bracketed(text: str | None) -> str | None:
    """``always [madvise] never`` → ``madvise`` (sysfs choice files)."""
    if text and "[" in text:
        return text[text.index("[") + 1:text.index("]")]
    return text


def host_settings() -> dict:
    """Host memory settings that change what a guest measures: THP (backs guest RAM),
    KSM (merges guest pages), host swap and zswap (QEMU's RSS may itself be swapped).
    A setting the host does not have is None."""
    swap_kib = None
    try:
        swap_kib = next(int(ln.split()[1]) for ln in
                        Path("/proc/meminfo").read_text().splitlines()
                        if ln.startswith("SwapTotal:"))
    except (OSError, StopIteration):
        pass
    thp = "/sys/kernel/mm/transparent_hugepage"
    return {"thp_enabled": _bracketed(_first_line(f"{thp}/enabled")),
            "thp_defrag": _bracketed(_first_line(f"{thp}/defrag")),
            "ksm_run": _first_line("/sys/kernel/mm/ksm/run"),
            "swap_total_kib": swap_kib,
            "swappiness": _first_line("/proc/sys/vm/swappiness"),
            "zswap_enabled": _first_line("/sys/module/zswap/parameters/enabled")}


def project_commit() -> str:
    try:
        commit = proc.output(["git", "-C", PROJECT_ROOT, "rev-parse", "HEAD"]).strip()
        dirty = proc.output(["git", "-C", PROJECT_ROOT, "status", "--porcelain",
                             "--untracked-files=no"]).strip()
    except (CommandError, OSError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


class ResultsDir:
    def __init__(self, root: Path, experiment_name: str, existing: Path | None = None):
        """A new ``root/<name>-<stamp>`` folder, or ``existing`` (``run --resume``):
        its records of runs done again are replaced, the others kept."""
        if existing is not None:
            self.path = existing
            return
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.path = root / f"{experiment_name}-{stamp}"
        suffix = 1
        while self.path.exists():
            suffix += 1
            self.path = root / f"{experiment_name}-{stamp}-{suffix}"
        for sub in ("runs", "series", "console"):
            (self.path / sub).mkdir(parents=True)

    def write_experiment(self, resolved: dict) -> None:
        (self.path / "experiment.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False))

    def write_versions(self, versions: dict) -> None:
        _write_json(self.path / "versions.json", versions)

    def write_run(self, record: dict) -> Path:
        path = self.path / "runs" / f"{record['run_id']}.json"
        _write_json(path, record)
        return path

    def write_series(self, run_id: str, rows: list[dict]) -> None:
        if not rows:
            return
        columns = list(rows[0])
        for row in rows[1:]:
            columns += [c for c in row if c not in columns]
        with open(self.path / "series" / f"{run_id}.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)

    def save_console(self, run_id: str, log: Path) -> Path:
        dest = self.path / "console" / f"{run_id}.log"
        if log.exists():
            shutil.copyfile(log, dest)
        else:
            dest.write_text("(no console output)\n")
        return dest

    def save_dmesg(self, run_id: str, text: str) -> Path:
        """The guest's full kernel log (``dmesg``), beside the console log."""
        dest = self.path / "console" / f"{run_id}.dmesg"
        dest.write_text(text)
        return dest


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)
