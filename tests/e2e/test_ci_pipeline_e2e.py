"""ci/gitlab-ci.yml run for real by gitlab-ci-local (shell executor): the build stage
prepares, two measure jobs each run their shard of a two-run experiment under the
machine's accelerator, and the report stage merges the shards and gates on the
comparison. Needs `make setup` (it installs gitlab-ci-local under .tools/)."""

import json
import os
import shutil
import subprocess
import sys

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
    argv = [str(GITLAB_CI_LOCAL), "--cwd", str(project)]
    for key, value in variables.items():
        argv += ["--variable", f"{key}={value}"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=1500)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    for job in ("build", "measure [1/2]", "measure [2/2]", "report"):
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
