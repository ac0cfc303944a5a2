"""tmemlab shell: a real guest, the system's OpenSSH client on it, everything destroyed
when the shell ends or tmemlab is interrupted while the shell is open."""

import re
import signal
import subprocess
import sys
import time

import pytest

from harness.paths import scratch_root
from tests.e2e.conftest import ROOT
from tests.e2e.test_cleanup_e2e import assert_nothing_left, interrupt, report

pytestmark = pytest.mark.e2e

SHELL = [sys.executable, "-m", "harness", "shell", "distro:debian-6.1", "--memory", "160",
         "--swap", "64"]


def test_commands_on_stdin_run_in_the_guest_and_its_status_comes_back(tmp_path):
    started = time.monotonic()
    proc = subprocess.run(SHELL, cwd=ROOT, input="echo answer=$((6*7)); grep -c vdb "
                          "/proc/swaps; exit 3\n", capture_output=True, text=True,
                          timeout=600)
    took = time.monotonic() - started
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "answer=42" in proc.stdout and "\n1\n" in proc.stdout, proc.stdout
    up = re.search(r"up ([0-9.]+) s after start", proc.stderr)
    assert up, proc.stderr
    print(f"\nshell: prompt {float(up[1]):.1f} s after start, {took:.1f} s in all")


def test_sigterm_while_the_shell_is_open_destroys_everything(tmp_path):
    proc = subprocess.Popen(SHELL, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        proc.stdin.write(b"echo ready\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 300
        line = b""
        while b"ready" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert b"ready" in line
        took = interrupt(proc, signal.SIGTERM)   # the ssh client is still open
        report("shell", signal.SIGTERM, took)
        assert proc.returncode == 130
        assert_nothing_left(proc.pid, scratch_root() / str(proc.pid), extra="root@127.0.0.1")
    finally:
        if proc.poll() is None:
            proc.kill()
