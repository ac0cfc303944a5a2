"""ci/gitlab-ci.yml run for real by gitlab-ci-local (shell executor): the build stage
prepares, two measure jobs each run their shard of a two-run experiment under the
machine's accelerator, and the report stage merges the shards and gates on the
comparison. Needs `make setup` (it installs gitlab-ci-local under .tools/)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e

GITLAB_CI_LOCAL = ROOT / ".tools" / "node_modules" / ".bin" / "gitlab-ci-local"
TINY = """
name: citiny
guest: {memory_mib: 160, accel: auto, boot_timeout_s: 150}
swap: {size_mib: 256}
kernels: [{name: zswap, kernel: "distro:debian-6.1", cmdline: zswap.enabled=1}]
workloads: [{name: pressure, params: {size_pct_of_ram: 120, passes: 1, pattern: seq}}]
iterations: 2
"""


def test_gitlab_pipeline_shards_merges_and_gates(tmp_path):
    assert GITLAB_CI_LOCAL.exists(), "gitlab-ci-local missing: run make setup"
    project = tmp_path / "project"
    project.mkdir()
    shutil.copyfile(ROOT / "ci" / "gitlab-ci.yml", project / ".gitlab-ci.yml")
    (project / "tiny.yaml").write_text(TINY)
    git = ["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "pipeline"], check=True)
    cache = os.environ.get("TMEMLAB_CACHE") or str(ROOT.home() / ".cache" / "tmemlab")
    tmemlab = f"{sys.executable} -m harness"
    variables = {"TMEMLAB": tmemlab, "TMEMLAB_SETUP": "true", "TMEMLAB_CACHE": cache,
                 "TMEMLAB_EXPERIMENT": "tiny.yaml", "PYTHONPATH": str(ROOT)}
    # gitlab-ci-local takes only a relative --cwd: run it from the project instead
    argv = [str(GITLAB_CI_LOCAL)]
    for key, value in variables.items():
        argv += ["--variable", f"{key}={value}"]
    proc = subprocess.run(argv, cwd=project, capture_output=True, text=True, timeout=1500)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    for job in ("build", "measure: [1/2]", "measure: [2/2]", "report"):  # parallel: names
        assert job in out, job

    shards = [json.loads((project / f"shard-{k}.json").read_text()) for k in (1, 2)]
    assert [[r["run_id"] for r in s["runs"]] for s in shards] == [["zswap+pressure-i1"],
                                                                 ["zswap+pressure-i2"]]
    merged = json.loads((project / "merged.json").read_text())
    assert merged["exit_code"] == 0
    assert sorted(r["run_id"] for r in merged["runs"]) == ["zswap+pressure-i1",
                                                           "zswap+pressure-i2"]
    compare = project / "merged" / "compare"
    assert (compare / "junit.xml").is_file() and (compare / "report.html").is_file()
    column = json.loads((compare / "comparison.json").read_text())["columns"][0]
    assert column["passed"] == 2

    # --resume: shard 1's folder lacks i2 (shard 2 ran it); resuming that folder runs i2
    # alone into it and leaves the passed i1 untouched.
    folder = project / shards[0]["results"]
    kept = (folder / "runs" / "zswap+pressure-i1.json").read_bytes()
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "--resume", str(folder),
                           "--json"], cwd=project, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "TMEMLAB_CACHE": cache,
                                            "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    resumed = json.loads(proc.stdout)
    assert Path(resumed["results"]).resolve() == folder.resolve()
    assert sorted(r["run_id"] for r in resumed["runs"]) == ["zswap+pressure-i1",
                                                            "zswap+pressure-i2"]
    assert (folder / "runs" / "zswap+pressure-i1.json").read_bytes() == kept
    assert "resuming" in proc.stderr and "1 runs recorded as passed" in proc.stderr
