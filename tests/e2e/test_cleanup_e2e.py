"""A harness that is interrupted (SIGTERM, Ctrl-C) or killed outright leaves no QEMU."""

import signal
import subprocess
import sys
import time

import pytest

from tests.e2e.conftest import ROOT, qemu_pids

pytestmark = pytest.mark.e2e

EXPERIMENT = """
name: cleanup
guest: {memory_mib: 192, accel: auto}
swap: {size_mib: 256}
kernels: [{kernel: distro:debian-6.1}]
workloads: [{name: pressure, params: {size_pct_of_ram: 150, duration: 600}}]
"""


def start(tmp_path):
    exp = tmp_path / "cleanup.yaml"
    exp.write_text(EXPERIMENT)
    return subprocess.Popen([sys.executable, "-m", "harness", "run", str(exp),
                             "--results", str(tmp_path / "results")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wait_for_qemu(proc, timeout=120) -> list[int]:
    marker = f"guest=tmemlab-{proc.pid}-"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = qemu_pids(marker)
        if pids:
            return pids
        assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
        time.sleep(0.5)
    raise AssertionError("the harness never started a guest")


def wait_until_gone(marker: str, timeout=30) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and qemu_pids(marker):
        time.sleep(0.2)
    return qemu_pids(marker)


@pytest.mark.parametrize("sig, exit_code", [(signal.SIGTERM, 130), (signal.SIGINT, 130),
                                            (signal.SIGKILL, -9)])
def test_signal_leaves_no_qemu(tmp_path, sig, exit_code):
    proc = start(tmp_path)
    try:
        wait_for_qemu(proc)
        time.sleep(2)  # mid-boot or mid-workload
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == exit_code
        assert wait_until_gone(f"guest=tmemlab-{proc.pid}-") == []
    finally:
        if proc.poll() is None:
            proc.kill()
