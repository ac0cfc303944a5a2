"""End-to-end tests boot real guests under QEMU through libvirt (TCG where KVM is
unusable). They share the user's cache ($TMEMLAB_CACHE), so the image and kernels are
built or fetched once per machine."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def tmemlab(*args: str, timeout: float = 1500) -> subprocess.CompletedProcess:
    """Run the CLI; the result also carries ``pid``, which names its domains
    (tmemlab-<pid>-...), so a test can look for its own QEMUs only."""
    argv = [sys.executable, "-m", "harness", *args]
    with subprocess.Popen(argv, cwd=ROOT, text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as child:
        try:
            out, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.terminate()  # SIGTERM: the harness destroys its domains
            out, err = child.communicate(timeout=60)
            raise
    done = subprocess.CompletedProcess(argv, child.returncode, out, err)
    done.pid = child.pid
    return done


def live_pids(match) -> list[int]:
    """PIDs of live (not zombie) processes other than this one whose raw command line
    (NUL-separated bytes) satisfies ``match``."""
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    cmd = f.read()
                with open(f"/proc/{entry.name}/stat") as f:
                    zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
            except OSError:
                continue
            if match(cmd) and not zombie:
                pids.append(int(entry.name))
    return pids


def qemu_pids(marker: str) -> list[int]:
    """PIDs of QEMU processes whose command line contains ``marker``."""
    return live_pids(lambda cmd: cmd.startswith(b"/usr/bin/qemu-system")
                     and marker.encode() in cmd)


@pytest.fixture(scope="session", autouse=True)
def guest_prerequisites():
    """Build the image and fetch kernels once, outside any single test's timeout."""
    for cmd in (("image", "build"), ("kernel", "fetch", "distro:debian-6.1")):
        proc = tmemlab(*cmd)
        assert proc.returncode == 0, proc.stderr
