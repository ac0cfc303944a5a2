"""The reaper kills registered QEMU processes when the harness dies, however it dies."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.functional


def fake_qemu(tmp_path):
    """A long-running process whose argv[0] looks like QEMU (a copy of sleep)."""
    exe = tmp_path / "qemu-system-x86_64"
    shutil.copy(shutil.which("sleep"), exe)
    return subprocess.Popen([str(exe), "600"], start_new_session=True)


def wait_gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.1)
    return False


def test_reaper_kills_registered_qemu_when_its_parent_is_sigkilled(tmp_path):
    qemu = fake_qemu(tmp_path)
    other = subprocess.Popen(["sleep", "600"])  # not QEMU: must survive
    # A stand-in harness: starts the reaper like vm.Hypervisor does, registers, then hangs.
    script = (
        "import subprocess, sys, time\n"
        "r = subprocess.Popen([sys.executable, '-m', 'harness.vm.reaper'], "
        "stdin=subprocess.PIPE, text=True, start_new_session=True)\n"
        f"r.stdin.write('+{qemu.pid}\\n+{other.pid}\\n'); r.stdin.flush()\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n")
    harness = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                               text=True)
    try:
        assert harness.stdout.readline().strip() == "ready"
        os.kill(harness.pid, signal.SIGKILL)
        harness.wait()
        assert wait_gone(qemu.pid), "reaper left the QEMU process running"
        qemu.wait(timeout=5)
        assert other.poll() is None, "reaper killed a process that is not QEMU"
    finally:
        for p in (qemu, other, harness):
            if p.poll() is None:
                p.kill()


def test_unregistered_pid_is_left_alone(tmp_path):
    qemu = fake_qemu(tmp_path)
    try:
        reaper = subprocess.Popen([sys.executable, "-m", "harness.vm.reaper"],
                                  stdin=subprocess.PIPE, text=True)
        reaper.communicate(f"+{qemu.pid}\n-{qemu.pid}\n", timeout=10)
        time.sleep(0.2)
        assert qemu.poll() is None
    finally:
        qemu.kill()
