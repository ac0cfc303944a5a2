"""End-to-end tests boot real guests under QEMU through libvirt (TCG where KVM is
unusable). They share the user's cache ($TMEMLAB_CACHE), so the image and kernels are
built or fetched once per machine."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def tmemlab(*args: str, timeout: float = 1500, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=timeout, **kwargs)


def qemu_pids(marker: str) -> list[int]:
    """PIDs of QEMU processes whose command line contains ``marker``."""
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    cmd = f.read()
                with open(f"/proc/{entry.name}/stat") as f:
                    zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
            except OSError:
                continue
            if cmd.startswith(b"/usr/bin/qemu-system") and marker.encode() in cmd \
                    and not zombie:
                pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="session", autouse=True)
def guest_prerequisites():
    """Build the image and fetch kernels once, outside any single test's timeout."""
    for cmd in (("image", "build"), ("kernel", "fetch", "distro:debian-6.1")):
        proc = tmemlab(*cmd)
        assert proc.returncode == 0, proc.stderr
