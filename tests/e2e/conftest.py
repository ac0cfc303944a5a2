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


class _Background:
    """`tmemlab kernel build tmem` started with the session, niced: on a cold cache it
    builds while the image is made and the first (disk-only) guests run, instead of
    inside the first tmem test (cold `make test`: 47.6 min with it in sequence). At
    nice 19 it takes the CPU the guests leave, so their timings stay theirs."""

    def __init__(self, log: Path):
        self.log = open(log, "w+")
        self.child = subprocess.Popen(
            ["nice", "-n", "19", sys.executable, "-m", "harness", "kernel", "build", "tmem"],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        self.rc = None

    def wait(self) -> None:
        if self.rc is None:
            try:
                self.rc = self.child.wait(timeout=3000)
            except subprocess.TimeoutExpired:
                self.child.terminate()   # SIGTERM: the harness cleans up after itself
                self.rc = self.child.wait(60)
        self.log.seek(0)
        assert self.rc == 0, f"tmemlab kernel build tmem: {self.rc}\n{self.log.read()[-3000:]}"

    def close(self) -> None:
        if self.child.poll() is None:
            self.child.terminate()
            self.child.wait(60)
        self.log.close()


@pytest.fixture(scope="session", autouse=True)
def guest_prerequisites(request, tmp_path_factory):
    """Build the image and fetch kernels once, outside any single test's timeout; the
    tmem kernel, if a collected test needs it, in the background meanwhile."""
    tmem = (_Background(tmp_path_factory.mktemp("prerequisites") / "kernel-build-tmem.log")
            if any(item.get_closest_marker("tmem_kernel") for item in request.session.items)
            else None)
    try:
        for cmd in (("image", "build"), ("kernel", "fetch", "distro:debian-6.1")):
            proc = tmemlab(*cmd)
            assert proc.returncode == 0, proc.stderr
        yield tmem
    finally:
        if tmem is not None:
            tmem.close()


@pytest.fixture(autouse=True)
def tmem_kernel_ready(request, guest_prerequisites):
    """A test marked ``tmem_kernel`` (it boots config:tmem guests) starts once the
    background build is done: a `kernel build tmem` of its own is then a cache hit, and
    its timings are its own."""
    if guest_prerequisites is not None and request.node.get_closest_marker("tmem_kernel"):
        guest_prerequisites.wait()
