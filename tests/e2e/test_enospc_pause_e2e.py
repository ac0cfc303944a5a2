"""A guest that QEMU pauses on ENOSPC fails its run within seconds, naming the error and
the file (issue 9: the run used to sit until "workload timeout after 150 s").

The scratch area is a small loop-mounted ext4 ($TMEMLAB_SCRATCH; images and kernels stay
in the shared cache). Pre-flight passes on it; once the guest is swapping, the test fills
the filesystem, the swap file cannot grow, QEMU pauses the guest, and the watchdog ends
the run long before the workload's 600 s timeout."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, qemu_pids

pytestmark = pytest.mark.e2e

EXPERIMENT = """
name: enospc
guest: {memory_mib: 192, accel: tcg, boot_timeout_s: 150}
swap: {size_mib: 384}
kernels: [{name: disk, kernel: distro:debian-6.1, cmdline: zswap.enabled=0}]
workloads:
  - {name: pressure, params: {size_pct_of_ram: 180, passes: 3}, timeout_s: 600}
"""
SWAPPING_BYTES = 8 << 20   # swap file blocks allocated: the guest is swapping


@pytest.fixture
def small_scratch(tmp_path):
    if os.geteuid() != 0 or not shutil.which("mkfs.ext4"):
        pytest.skip("needs root and mkfs.ext4 for a loop-mounted scratch filesystem")
    image = tmp_path / "scratch.img"
    with open(image, "wb") as f:
        f.truncate(1 << 30)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True)
    mnt = Path(tempfile.mkdtemp(prefix="tl-enospc-", dir="/tmp"))  # short: AF_UNIX paths
    subprocess.run(["mount", "-o", "loop", str(image), str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
        mnt.rmdir()


def fill(mnt: Path) -> None:
    """Take every free block of the filesystem."""
    with open(mnt / "filler", "wb") as f:
        free = os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize
        try:
            os.posix_fallocate(f.fileno(), 0, free)
        except OSError:
            pass
        chunk = b"\0" * (1 << 20)
        while True:
            try:
                f.write(chunk)
                f.flush()
            except OSError:
                break
    assert os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize < 1 << 20


def wait_until_swapping(mnt: Path, child: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert child.poll() is None, child.communicate()[1][-3000:]
        for swap in mnt.glob("*/r*/swap.raw"):
            try:
                if swap.stat().st_blocks * 512 >= SWAPPING_BYTES:
                    return
            except FileNotFoundError:
                pass
        time.sleep(0.2)
    pytest.fail("the guest never started swapping")


def test_enospc_pause_fails_the_run_within_seconds(tmp_path, small_scratch):
    exp = tmp_path / "enospc.yaml"
    exp.write_text(EXPERIMENT)
    env = {**os.environ, "TMEMLAB_SCRATCH": str(small_scratch)}
    child = subprocess.Popen([sys.executable, "-m", "harness", "run", str(exp), "--results",
                              str(tmp_path / "results")], cwd=ROOT, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until_swapping(small_scratch, child, timeout=600)
        fill(small_scratch)
        filled = time.monotonic()
        _out, err = child.communicate(timeout=300)
        after_fill = time.monotonic() - filled
    finally:
        if child.poll() is None:
            child.terminate()
            child.communicate(timeout=60)
    assert child.returncode == 1, err[-3000:]
    (results,) = (tmp_path / "results").iterdir()
    (record_path,) = (results / "runs").glob("*.json")
    record = json.loads(record_path.read_text())
    reason = record["failure"]["reason"]
    assert "guest paused by QEMU on an I/O error" in reason, reason
    assert "no space left on device" in reason and str(small_scratch) in reason, reason
    assert "workload timeout" not in reason
    assert after_fill < 60, f"{after_fill:.0f} s from the full disk to the end of the run"
    versions = json.loads((results / "versions.json").read_text())
    assert versions["scratch"]["fstype"] == "ext4"
    assert versions["scratch"]["path"] == str(small_scratch)
    assert not qemu_pids(f"tmemlab-{child.pid}-")
