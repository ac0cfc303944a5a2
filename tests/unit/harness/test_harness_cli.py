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


def test_help_lists_every_command_and_the_exit_codes():
    proc = tmemlab("--help")
    assert proc.returncode == 0
    for command in ("run", "merge", "compare", "show", "backend", "kernel", "boot",
                    "cleanup", "completion"):
        assert f"\n    {command} " in proc.stdout, command
    assert "125  a kernel or image could not be fetched or built" in proc.stdout
    proc = tmemlab("compare", "--help")
    assert proc.returncode == 0 and "--fail-on-regression" in proc.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_knows_subcommands_and_their_options(shell):
    proc = tmemlab("completion", shell)
    assert proc.returncode == 0, proc.stderr
    for word in ("merge", "--shard", "--resume", "--fail-on-regression", "--by-host"):
        assert word in proc.stdout, word
    if shell == "bash":
        check = subprocess.run(["bash", "-n"], input=proc.stdout, text=True)
        assert check.returncode == 0


def test_a_kernel_that_does_not_build_is_125_a_wrong_name_is_2(tmp_path):
    tree = tmp_path / "linux"
    tree.mkdir()
    (tree / "Makefile").write_text("%:\n\t@echo broken; false\n")
    (tree / "Kconfig").write_text("")
    env = {**__import__("os").environ, "TMEMLAB_CACHE": str(tmp_path / "cache")}
    run = [sys.executable, "-m", "harness", "kernel", "build"]
    proc = subprocess.run([*run, f"tree:{tree}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 125, proc.stderr
    assert "build failed" in proc.stderr
    proc = subprocess.run([*run, f"tree:{tmp_path / 'empty'}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2 and "is not a kernel source tree" in proc.stderr


@pytest.mark.parametrize("uri, remote", [
    ("qemu+ssh://kvm1.example/system", True), ("qemu+tcp://10.0.0.5/system", True),
    ("qemu:///system", False), ("qemu+ssh://localhost/system", False),
    ("qemu:///embed?root=/tmp/x", False)])
def test_a_remote_libvirt_host_is_refused_before_anything_starts(uri, remote):
    from harness.errors import UsageError
    from harness.vm.vm import check_local_uri
    if remote:
        with pytest.raises(UsageError, match="remote libvirt host"):
            check_local_uri(uri)
    else:
        check_local_uri(uri)
