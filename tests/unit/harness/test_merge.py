"""tmemlab merge: shards of one experiment become one folder compare reads as one sample;
mixing experiments or measuring one iteration twice is refused."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.report.compare.loader import load_results_dir
from harness.report.compare.report import CompareOptions, compare_dirs
from harness.results import merge
from tests.unit.compare.resultsgen import VERSIONS, make_run, write_results

ROOT = Path(__file__).resolve().parents[3]


def shard(root, name, host, runs, experiment="name: matrix\niterations: 3\n"):
    d = write_results(root, name, runs, versions={**VERSIONS, "host": {
        **VERSIONS["host"], "hostname": host}})
    (d / "experiment.yaml").write_text(experiment)
    for run in runs:
        (d / "console" / f"{run['run_id']}.log").write_text(f"console of {run['run_id']}\n")
    (d / "backend.log").write_text(f"backend on {host}\n")
    return d


def with_host(run, host):
    return {**run, "host": {"hostname": host, "accel": "kvm"}}


@pytest.fixture
def shards(tmp_path):
    a = shard(tmp_path, "m-a", "runner-a", [
        with_host(make_run("tmem+p", 1, 100.0), "runner-a"),
        with_host(make_run("zswap+p", 2, 80.0), "runner-a"),
        with_host(make_run("tmem+p", 3, 104.0, status="failed"), "runner-a")])
    b = shard(tmp_path, "m-b", "runner-b", [
        make_run("zswap+p", 1, 82.0),            # an older record: host from versions.json
        make_run("tmem+p", 2, 98.0),
        with_host(make_run("tmem+p", 3, 101.0), "runner-b")])
    return a, b


def test_merge_pools_iterations_and_keeps_provenance(tmp_path, shards):
    out = tmp_path / "merged"
    records = merge.merge(out, list(shards))
    assert sorted(r["run_id"] for r in records) == ["tmem+p-i1", "tmem+p-i2", "tmem+p-i3",
                                                    "zswap+p-i1", "zswap+p-i2"]
    i3 = json.loads((out / "runs" / "tmem+p-i3.json").read_text())
    assert i3["status"] == "passed" and i3["merged_from"] == "m-b"   # passed beats failed
    old = json.loads((out / "runs" / "zswap+p-i1.json").read_text())
    assert old["host"]["hostname"] == "runner-b" and old["host"]["accel"] == "tcg"
    assert (out / "console" / "tmem+p-i3.log").read_text() == "console of tmem+p-i3\n"
    assert (out / "series" / "tmem+p-i2.csv").is_file()
    assert (out / "backend-m-a.log").is_file() and (out / "backend-m-b.log").is_file()
    versions = json.loads((out / "versions.json").read_text())
    assert [m["runs"] for m in versions["merged"]] == [2, 3]
    assert not (tmp_path / "merged.partial").exists()

    table = compare_dirs([load_results_dir(out)])
    assert [len(c.runs) for c in table.columns] == [3, 2]
    assert any("tmem+p: MIXES HOSTS: runner-a (1 runs), runner-b (2 runs)" in w
               for w in table.warnings), table.warnings
    split = compare_dirs([load_results_dir(out)], CompareOptions(by_host=True, plots=False))
    assert [c.key for c in split.columns] == ["tmem+p@runner-a", "tmem+p@runner-b",
                                             "zswap+p@runner-b", "zswap+p@runner-a"]
    assert not any("MIXES HOSTS" in w for w in split.warnings)


def test_merge_refuses_different_experiments(tmp_path, shards):
    other = shard(tmp_path, "m-c", "runner-c", [make_run("tmem+p", 4, 99.0)],
                  experiment="name: matrix\niterations: 4\n")
    with pytest.raises(UsageError, match=r"m-c: a different experiment .* \(iterations "
                                         r"differ\)"):
        merge.merge(tmp_path / "out", [shards[0], other])
    assert not (tmp_path / "out").exists()


def test_merge_refuses_one_iteration_passed_twice(tmp_path, shards):
    again = shard(tmp_path, "m-a2", "runner-c", [make_run("zswap+p", 2, 81.0)])
    with pytest.raises(UsageError, match=r"zswap\+p-i2: passed in both .*m-a and .*m-a2"):
        merge.merge(tmp_path / "out", [shards[0], again])


def test_merge_refuses_an_existing_out_and_a_non_folder(tmp_path, shards):
    with pytest.raises(UsageError, match="exists"):
        merge.merge(shards[1], list(shards))
    with pytest.raises(UsageError, match="not a tmemlab results folder"):
        merge.merge(tmp_path / "out", [shards[0], tmp_path])


def test_cli_merge_json_and_one_line_errors(tmp_path, shards):
    run = [sys.executable, "-m", "harness", "merge"]
    proc = subprocess.run([*run, str(tmp_path / "out"), *map(str, shards), "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    data = json.loads(proc.stdout)
    assert proc.returncode == 0 == data["exit_code"], proc.stderr  # i3's pass is kept
    assert (tmp_path / "out" / "summary.md").is_file()
    assert (tmp_path / "out" / "compare" / "comparison.json").is_file()
    assert {r["host"] for r in data["runs"]} == {"runner-a", "runner-b"}
    proc = subprocess.run([*run, str(tmp_path / "out2"), str(tmp_path / "nothing")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "not a tmemlab results folder" in proc.stderr
