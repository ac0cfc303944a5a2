import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def tmemlab(*args):
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("text, needle", [
    ("kernels: [{kernel: distro:debian-6.1}]\nworkloads: [{name: pressure, "
     "params: {pattern: spiral}}]\n", "workloads[0].params: pattern='spiral'"),
    ("kernels: [{kernel: distro:debian-6.1}\n", "invalid YAML"),
])
def test_bad_experiment_is_one_line_exit_2(tmp_path, text, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    proc = tmemlab("run", str(path))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and needle in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_experiment_file(tmp_path):
    proc = tmemlab("run", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 2 and "cannot read" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_dry_run_lists_runs():
    proc = tmemlab("run", "experiments/smoke.yaml", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "zswap-lz4+pressure-i1" in proc.stderr and "cloud+pressure-i1" in proc.stderr
