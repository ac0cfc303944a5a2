"""`tmemlab run` refuses set-up mistakes with exit 2 and one line, before a results folder,
a scratch directory, a backend or a guest exists (issue 9: "set-up mistakes found before
booting"). Nothing here boots: every case ends before the hypervisor is opened."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
GOOD_KERNEL = "distro:debian-6.1-cloud"


def tmemlab(tmp_path, *args, scratch=None):
    env = {**os.environ, "TMEMLAB_SCRATCH": str(scratch or tmp_path / "scratch")}
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def experiment(tmp_path, kernel=GOOD_KERNEL, swap="{size_mib: 64}", backend="{}"):
    path = tmp_path / "exp.yaml"
    path.write_text(f"name: setup\nswap: {swap}\nbackend: {backend}\n"
                    f"kernels:\n  - kernel: {kernel}\nworkloads: [{{name: pressure}}]\n")
    return path


def refused(tmp_path, proc, *needles):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    results = tmp_path / "results"
    assert not results.exists() or not any(results.iterdir()), "results folder created"
    scratch = tmp_path / "scratch"
    assert not scratch.exists() or not any(scratch.iterdir()), "scratch left behind"


@pytest.mark.parametrize("kernel, needle", [
    ("distro:debian-99", "unknown distro kernel 'debian-99'"),
    ("config:nosuch", "no kernel config 'nosuch'"),
])
@pytest.mark.parametrize("dry", [True, False])
def test_unknown_kernel_is_refused_naming_file_line_and_field(tmp_path, kernel, needle, dry):
    path = experiment(tmp_path, kernel=kernel)
    args = ["run", str(path), "--results", str(tmp_path / "results")]
    proc = tmemlab(tmp_path, *args, *(["--dry-run"] if dry else []))
    refused(tmp_path, proc, f"{path}:5: kernels[0].kernel: ", needle)


def test_backend_cap_5x_is_refused_before_any_backend(tmp_path):
    path = experiment(tmp_path, backend='{cap: "5x"}')
    proc = tmemlab(tmp_path, "run", str(path), "--results", str(tmp_path / "results"))
    refused(tmp_path, proc, f"{path}:3: backend.cap: bad size '5x'")


def test_non_utf8_experiment_is_one_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: café\n".encode("latin-1"))
    proc = tmemlab(tmp_path, "run", str(path), "--results", str(tmp_path / "results"))
    refused(tmp_path, proc, f"{path}:1: (file): not UTF-8")


@pytest.mark.parametrize("dry", [True, False])
def test_swap_disk_in_ram_is_refused(tmp_path, dry):
    shm = Path("/dev/shm")
    if not shm.is_dir():
        pytest.skip("no /dev/shm tmpfs here")
    scratch = shm / f"tmemlab-test-{os.getpid()}"
    path = experiment(tmp_path)
    try:
        proc = tmemlab(tmp_path, "run", str(path), "--results", str(tmp_path / "results"),
                       *(["--dry-run"] if dry else []), scratch=scratch)
        refused(tmp_path, proc, "is on tmpfs", "allow_ram_backed")
        assert not any(scratch.iterdir())
    finally:
        subprocess.run(["rm", "-rf", str(scratch)], check=False)


def test_scratch_too_small_for_the_swap_disk(tmp_path):
    path = experiment(tmp_path, swap=f"{{size_mib: {1 << 22}}}")   # a 4 TiB swap disk
    proc = tmemlab(tmp_path, "run", str(path), "--results", str(tmp_path / "results"))
    refused(tmp_path, proc, f"scratch {tmp_path / 'scratch'}: needs ", "bytes free on")


def test_dry_run_reports_the_scratch_filesystem(tmp_path):
    proc = tmemlab(tmp_path, "run", str(experiment(tmp_path)), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert f"scratch {tmp_path / 'scratch'}: " in proc.stderr and "MiB free" in proc.stderr
