"""A harness that is interrupted (SIGINT, SIGTERM, SIGHUP) or killed outright leaves
nothing behind: no QEMU, no host backend, no scratch folder, no mount (issue 14).

Signals are sent at several moments: the KVM probe, the first domain start of a fresh
libvirt root, the boot (SSH wait), the workload, the comparison, and an image build. The
harness is started with default signal dispositions, or with SIGINT ignored as a shell's
background job starts it: it must not depend on what it inherits. Exit within 10 s.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from harness.paths import cache_root, scratch_root
from harness.vm.leftovers import mounts_under
from tests.e2e.conftest import ROOT, live_pids, qemu_pids, tmemlab

pytestmark = pytest.mark.e2e
EXIT_WITHIN_S = 10

EXPERIMENT = """
name: cleanup
guest: {{memory_mib: 192, accel: auto}}
swap: {{size_mib: 256}}
kernels: [{{kernel: "{kernel}"}}]
workloads: [{{name: pressure, params: {{size_pct_of_ram: 150, duration: {duration}}}}}]
"""


def start(tmp_path, kernel="distro:debian-6.1", duration=600, env=None,
          ignore_sigint=False, argv=None) -> subprocess.Popen:
    exp = tmp_path / "cleanup.yaml"
    exp.write_text(EXPERIMENT.format(kernel=kernel, duration=duration))

    def dispositions():
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        if ignore_sigint:
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    argv = argv or ["run", str(exp), "--results", str(tmp_path / "results")]
    return subprocess.Popen([sys.executable, "-m", "harness", *argv], cwd=ROOT,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, preexec_fn=dispositions)


def wait_for(what: str, test, proc, timeout=180, every=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = test()
        if found:
            return found
        assert proc.poll() is None, f"exited before {what}: " + \
            proc.stdout.read().decode(errors="replace")[-3000:]
        time.sleep(every)
    raise AssertionError(f"never reached: {what}")


def ssh_session_up(pid: int) -> bool:
    """The harness holds an established TCP connection to 127.0.0.1 (its guest's SSH)."""
    inodes = set()
    try:
        for fd in os.scandir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(fd.path)
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
        with open(f"/proc/{pid}/net/tcp") as f:
            rows = [line.split() for line in f.readlines()[1:]]
    except OSError:
        return False
    return any(r[3] == "01" and r[9] in inodes and r[2].startswith("0100007F:") for r in rows)


def stable(test, seconds: float):
    """A test that holds for ``seconds`` in a row (slirp accepts, then drops, SSH
    connections while the guest boots)."""
    since = [None]

    def check():
        if not test():
            since[0] = None
            return False
        since[0] = since[0] or time.monotonic()
        return time.monotonic() - since[0] >= seconds
    return check


def processes_mentioning(text: str) -> list[int]:
    return live_pids(lambda cmd: text.encode() in cmd)


def interrupt(proc, sig) -> float:
    """Send ``sig``; the seconds until the harness exited (at most EXIT_WITHIN_S)."""
    start = time.monotonic()
    proc.send_signal(sig)
    try:
        proc.wait(timeout=EXIT_WITHIN_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"still running {EXIT_WITHIN_S} s after {sig.name}") from None
    return time.monotonic() - start


def assert_nothing_left(pid: int, scratch: Path, extra: str | None = None,
                        timeout: float = 10) -> None:
    """No QEMU of the harness, no backend, no scratch folder (the reaper may need a
    moment after a SIGKILL)."""
    def leftovers():
        left = qemu_pids(f"guest=tmemlab-{pid}-") + qemu_pids(f"guest=tmemlab-kvm-probe-{pid},")
        left += [p for p in processes_mentioning(f"{scratch}/") if p != pid]
        if extra:
            left += processes_mentioning(extra)
        return left
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (leftovers() or scratch.exists()):
        time.sleep(0.2)
    assert leftovers() == []
    assert not scratch.exists(), sorted(p.name for p in scratch.rglob("*"))[:20]


def report(moment: str, sig, seconds: float, status: int | None = None) -> None:
    line = {"moment": moment, "signal": sig.name, "exit_s": round(seconds, 2),
            "status": status}
    print(json.dumps(line))
    with open(Path(os.environ.get("TMEMLAB_SIGNAL_TIMES", "/dev/null")), "a") as f:
        f.write(json.dumps(line) + "\n")


@pytest.fixture
def private_cache():
    """A private cache sharing the user's image and kernels but nothing else: the KVM
    probe runs again, and the libvirt root is fresh (its first use probes QEMU's
    capabilities). A short path: libvirt's probe socket must fit AF_UNIX's 108 bytes."""
    cache = Path(tempfile.mkdtemp(prefix="tl-", dir="/tmp"))
    for name in ("images", "kernels", "initramfs", "kernel-src"):
        if (cache_root() / name).exists():
            (cache / name).symlink_to(cache_root() / name)
    yield cache
    shutil.rmtree(cache, ignore_errors=True)


@pytest.mark.parametrize("moment, sig", [("capabilities probe", signal.SIGINT),
                                         ("kvm probe", signal.SIGTERM)])
def test_signal_during_first_libvirt_use_and_kvm_probe(private_cache, tmp_path, moment, sig):
    proc = start(tmp_path, env={"TMEMLAB_CACHE": str(private_cache)})
    try:
        if moment == "kvm probe":
            wait_for(moment, lambda: qemu_pids(f"guest=tmemlab-kvm-probe-{proc.pid},"), proc)
        else:  # the first process naming the fresh root: QEMU probed for capabilities
            wait_for(moment, lambda: processes_mentioning(str(private_cache)), proc,
                     every=0.01)
        took = interrupt(proc, sig)
        report(moment, sig, took)
        assert proc.returncode == 130, proc.stdout.read().decode(errors="replace")[-3000:]
        assert_nothing_left(proc.pid, private_cache / "scratch" / str(proc.pid),
                            extra=str(private_cache))
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("sig, ignore_sigint", [(signal.SIGINT, True), (signal.SIGHUP, False)])
def test_signal_during_domain_start(tmp_path, sig, ignore_sigint):
    proc = start(tmp_path, ignore_sigint=ignore_sigint)
    try:
        wait_for("a QEMU", lambda: qemu_pids(f"guest=tmemlab-{proc.pid}-"), proc, every=0.02)
        took = interrupt(proc, sig)
        report("domain start", sig, took)
        assert proc.returncode == 130
        assert_nothing_left(proc.pid, scratch_root() / str(proc.pid))
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("sig, exit_code", [(signal.SIGTERM, 130), (signal.SIGINT, 130),
                                            (signal.SIGKILL, -9)])
def test_signal_leaves_no_qemu(tmp_path, sig, exit_code):
    """During the boot (the SSH wait); SIGINT as a background job inherits it."""
    proc = start(tmp_path, ignore_sigint=True)
    try:
        wait_for("a QEMU", lambda: qemu_pids(f"guest=tmemlab-{proc.pid}-"), proc)
        time.sleep(2)  # mid-boot
        took = interrupt(proc, sig)
        report("boot (ssh wait)", sig, took)
        assert proc.returncode == exit_code
        assert_nothing_left(proc.pid, scratch_root() / str(proc.pid))
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_workload(tmp_path, sig):
    proc = start(tmp_path)
    try:
        wait_for("the guest's SSH session", stable(lambda: ssh_session_up(proc.pid), 2), proc,
                 every=0.2)
        time.sleep(4)  # settings checked, the workload (600 s) under way
        took = interrupt(proc, sig)
        report("workload", sig, took)
        assert proc.returncode == 130
        assert_nothing_left(proc.pid, scratch_root() / str(proc.pid))
    finally:
        if proc.poll() is None:
            proc.kill()


def test_signal_during_compare(tmp_path):
    proc = start(tmp_path, duration=2)
    try:
        wait_for("the summary", lambda: list((tmp_path / "results").glob("*/summary.md")),
                 proc, timeout=300, every=0.01)
        took = interrupt(proc, signal.SIGINT)
        report("compare", signal.SIGINT, took, proc.returncode)
        # Interrupted, or (when the comparison was quicker than the signal) finished.
        assert proc.returncode in (130, 0, 1), proc.stdout.read().decode()[-2000:]
        assert_nothing_left(proc.pid, scratch_root() / str(proc.pid))
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.tmem_kernel
@pytest.mark.parametrize("kill_reaper", [False, True], ids=["harness", "harness+reaper"])
def test_sigkill_during_tmem_run_leaves_no_backend_or_scratch(tmp_path, kill_reaper):
    """The backend serves the guest from before the domain starts; SIGKILL then. With the
    reaper killed too, PR_SET_PDEATHSIG still ends the backend and `tmemlab cleanup`
    reclaims the rest."""
    built = tmemlab("kernel", "build", "tmem", timeout=3000)
    assert built.returncode == 0, built.stderr[-3000:]
    proc = start(tmp_path, kernel="config:tmem")
    scratch = scratch_root() / str(proc.pid)
    try:
        wait_for("a QEMU", lambda: qemu_pids(f"guest=tmemlab-{proc.pid}-"), proc)
        assert processes_mentioning(f"{scratch}/backend/control.sock"), "no backend"
        if kill_reaper:
            reaper = subprocess.run(["pgrep", "-P", str(proc.pid), "-f", "harness.vm.reaper"],
                                    capture_output=True, text=True).stdout.split()
            os.kill(int(reaper[0]), signal.SIGKILL)
        proc.kill()
        proc.wait()
        if kill_reaper:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and \
                    processes_mentioning(f"{scratch}/backend/control.sock"):
                time.sleep(0.1)
            assert processes_mentioning(f"{scratch}/backend/control.sock") == []
            assert scratch.exists()
            cleanup = tmemlab("cleanup", timeout=120)
            assert cleanup.returncode == 0, cleanup.stderr
            assert f"removed scratch {scratch}" in cleanup.stderr + cleanup.stdout
        assert_nothing_left(proc.pid, scratch)
    finally:
        if proc.poll() is None:
            proc.kill()


def rootfs_mounted(cache: Path) -> list[str]:
    return [m for m in mounts_under(cache / "images") if "rootfs" in m]


@pytest.mark.skipif(os.geteuid() != 0, reason="mmdebstrap --mode=root needs root")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_signal_during_image_build_leaves_no_mount_or_tree(tmp_path, sig):
    """A cold image build interrupted while mmdebstrap has /proc, /sys, /dev bound into
    its tree. After SIGKILL (nothing can clean up), `tmemlab cleanup` must."""
    cache = tmp_path / "cold"
    env = {"TMEMLAB_CACHE": str(cache)}
    proc = start(tmp_path, env=env, argv=["image", "build"])
    try:
        wait_for("mmdebstrap's mounts", lambda: rootfs_mounted(cache), proc, timeout=300,
                 every=0.1)
        if sig == signal.SIGKILL:
            proc.kill()
            proc.wait()
            cleanup = subprocess.run([sys.executable, "-m", "harness", "cleanup"], cwd=ROOT,
                                     env={**os.environ, **env}, capture_output=True,
                                     text=True, timeout=120)
            assert cleanup.returncode == 0, cleanup.stderr
            print(cleanup.stderr)
            assert "removed half-built" in cleanup.stderr + cleanup.stdout, cleanup.stderr
        else:
            took = interrupt(proc, sig)
            report("image build", sig, took)
            assert proc.returncode == 130
        assert mounts_under(cache) == []
        assert list((cache / "images").glob(".*.tmp-*")) == []
        assert processes_mentioning(str(cache)) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        for point in mounts_under(cache):
            subprocess.run(["umount", "-l", point])
