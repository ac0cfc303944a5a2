"""--shard, --only, --list and --resume's checks (harness/experiment/selection.py, tmemlab run)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.errors import UsageError
from harness.experiment import experiment, selection

ROOT = Path(__file__).resolve().parents[3]
MATRIX = """
name: matrix
kernels:
  - {name: a, kernel: distro:debian-6.1}
  - {name: b, kernel: distro:debian-6.1, cmdline: zswap.enabled=1}
  - {name: c, kernel: distro:debian-6.1-cloud}
workloads:
  - {name: pressure, params: {size: 64M}}
  - {name: pressure, label: big, params: {size: 96M}}
iterations: 3
"""


@pytest.fixture
def exp(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text(MATRIX)
    return experiment.load(path)


def tmemlab(*args):
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("n", [1, 2, 4, 5, 18, 25])
def test_shards_are_disjoint_cover_everything_and_balanced(exp, n):
    runs = exp.runs()
    parts = [selection.shard(runs, k, n) for k in range(1, n + 1)]
    ids = [r.run_id for part in parts for r in part]
    assert sorted(ids) == sorted(r.run_id for r in runs) and len(set(ids)) == len(ids)
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1


def test_shard_is_stable_across_loads(exp, tmp_path):
    again = experiment.load(exp.path)
    assert [r.run_id for r in selection.shard(exp.runs(), 2, 4)] == \
        [r.run_id for r in selection.shard(again.runs(), 2, 4)]


@pytest.mark.parametrize("text, ok", [("1/1", True), ("3/4", True), ("0/4", False),
                                      ("5/4", False), ("2", False), ("a/b", False)])
def test_parse_shard(text, ok):
    if ok:
        assert selection.parse_shard(text) == tuple(map(int, text.split("/")))
    else:
        with pytest.raises(UsageError, match="--shard"):
            selection.parse_shard(text)


def test_only_matches_ids_and_labels(exp):
    assert [r.run_id for r in selection.only(exp.runs(), ["b+big"])] == \
        ["b+big-i1", "b+big-i2", "b+big-i3"]
    assert [r.run_id for r in selection.only(exp.runs(), ["*-i2,a+pressure-i1"])][:2] == \
        ["a+pressure-i1", "a+pressure-i2"]
    assert len(selection.only(exp.runs(), ["*-i2"])) == 6
    with pytest.raises(UsageError, match="--only d\\*: matches no run"):
        selection.only(exp.runs(), ["a*", "d*"])


def test_pending_skips_passed_only(exp):
    status = {"a+pressure-i1": "passed", "a+big-i1": "failed"}
    ids = [r.run_id for r in selection.pending(exp.runs(), status)]
    assert "a+pressure-i1" not in ids and "a+big-i1" in ids and len(ids) == 17


def results_folder(tmp_path, exp, records):
    folder = tmp_path / "results"
    (folder / "runs").mkdir(parents=True)
    (folder / "experiment.yaml").write_text(yaml.safe_dump(exp.resolved(), sort_keys=False))
    (folder / "versions.json").write_text(json.dumps({"experiment_file": str(exp.path)}))
    for record in records:
        (folder / "runs" / f"{record['run_id']}.json").write_text(json.dumps(record))
    (folder / "runs" / "torn.json").write_text("{")   # a record cut short: absent
    return folder


def test_resume_accepts_the_same_experiment_and_reads_statuses(exp, tmp_path):
    folder = results_folder(tmp_path, exp, [{"run_id": "a+big-i1", "status": "passed"}])
    exp.path.write_text("# a comment changes nothing\n" + MATRIX)
    selection.check_resumable(experiment.load(exp.path), folder)
    assert selection.recorded_status(folder) == {"a+big-i1": "passed"}
    assert selection.source_of(folder) == exp.path


def test_resume_refuses_a_changed_experiment(exp, tmp_path):
    folder = results_folder(tmp_path, exp, [])
    exp.path.write_text(MATRIX.replace("size: 96M", "size: 80M"))
    with pytest.raises(UsageError, match=r"changed since the folder was made \(workloads "
                                         r"differ\)"):
        selection.check_resumable(experiment.load(exp.path), folder)
    with pytest.raises(UsageError, match="not a tmemlab results folder"):
        selection.check_resumable(exp, tmp_path)


def test_cli_list_prints_ids_on_stdout(exp):
    proc = tmemlab("run", str(exp.path), "--list", "--shard", "1/6")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["a+pressure-i1", "a+pressure-i2", "a+pressure-i3"]
    proc = tmemlab("run", str(exp.path), "--list", "--json", "--only", "c+big-i3")
    assert json.loads(proc.stdout) == [{"run_id": "c+big-i3", "label": "c+big",
                                        "iteration": 3, "kernel": "distro:debian-6.1-cloud",
                                        "workload": "pressure", "guests": 1}]


def test_cli_resume_of_a_changed_experiment_is_one_line_exit_2(exp, tmp_path):
    folder = results_folder(tmp_path, exp, [])
    exp.path.write_text(MATRIX.replace("iterations: 3", "iterations: 4"))
    proc = tmemlab("run", "--resume", str(folder), "--dry-run")
    assert proc.returncode == 2 and "(iterations differ)" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_resume_with_nothing_left(exp, tmp_path):
    folder = results_folder(tmp_path, exp, [{"run_id": r.run_id, "status": "passed"}
                                            for r in exp.runs()])
    proc = tmemlab("run", str(exp.path), "--resume", str(folder))
    assert proc.returncode == 2 and "nothing to resume" in proc.stderr, proc.stderr
