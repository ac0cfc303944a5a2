"""Nothing of a dead harness survives (issue 14), with real processes and no guest: the
host backend dies with its harness, scratch folders go, a dead builder's tree is unmounted
and removed, and signals end the harness in bounded time whatever it inherited."""

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.vm import leftovers

pytestmark = pytest.mark.functional
ROOT = Path(__file__).resolve().parents[3]


def gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if leftovers.identity(pid) is None:
            return True
        time.sleep(0.05)
    return False


def stand_in(tmp_path, body: str, **popen) -> subprocess.Popen:
    """A stand-in harness running ``body`` with TMEMLAB_SCRATCH under tmp_path; it prints
    one JSON line of facts, then sleeps until killed."""
    env = {**os.environ, "TMEMLAB_SCRATCH": str(tmp_path / "scratch"),
           "TMEMLAB_CACHE": str(tmp_path / "cache")}
    script = "import json, os, sys, threading, time\n" + textwrap.dedent(body) + \
        "\nprint(json.dumps(facts), flush=True)\ntime.sleep(600)\n"
    return subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True, **popen)


BACKEND = """
from harness.vm import leftovers
from harness.run.backend import HostBackend
scratch = leftovers.run_scratch()
backend = HostBackend({}, scratch / "backend")
def start():
    backend.start()
if os.environ.get("FROM_THREAD"):
    t = threading.Thread(target=start); t.start(); t.join()
else:
    start()
facts = {"backend": backend._proc.pid, "scratch": str(scratch)}
"""


def reaper_of(pid: int) -> int:
    out = subprocess.run(["pgrep", "-P", str(pid), "-f", "harness.vm.reaper"],
                         capture_output=True, text=True).stdout.split()
    return int(out[0])


@pytest.mark.parametrize("thread", [False, True], ids=["main-thread", "fault-thread"])
def test_backend_and_scratch_die_with_a_sigkilled_harness(tmp_path, thread):
    env = {"FROM_THREAD": "1"} if thread else {}
    os.environ.update(env)
    try:
        harness = stand_in(tmp_path, BACKEND)
    finally:
        os.environ.pop("FROM_THREAD", None)
    facts = json.loads(harness.stdout.readline())
    backend, scratch = facts["backend"], Path(facts["scratch"])
    try:
        # Started from a thread that has ended: PDEATHSIG must not have fired.
        time.sleep(0.5)
        assert leftovers.identity(backend), "backend died with the thread that started it"
        assert (scratch / "backend" / f"backend{leftovers.PID_SUFFIX}").exists()
        start = time.monotonic()
        harness.kill()
        harness.wait()
        assert gone(backend, 5), "the backend outlived its harness"
        deadline = time.monotonic() + 5
        while scratch.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not scratch.exists(), "the scratch folder outlived its harness"
        print(f"backend and scratch gone {time.monotonic() - start:.2f} s after SIGKILL")
    finally:
        if harness.poll() is None:
            harness.kill()
        if leftovers.identity(backend):
            os.kill(backend, signal.SIGKILL)


def test_pdeathsig_ends_the_backend_when_the_reaper_died_too_and_reclaim_takes_scratch(
        tmp_path):
    harness = stand_in(tmp_path, BACKEND)
    facts = json.loads(harness.stdout.readline())
    backend, scratch = facts["backend"], Path(facts["scratch"])
    try:
        os.kill(reaper_of(harness.pid), signal.SIGKILL)  # the last line of defence, gone
        time.sleep(0.2)
        harness.kill()
        harness.wait()
        assert gone(backend, 5), "PR_SET_PDEATHSIG did not end the backend"
        assert scratch.exists()  # nobody left to remove it: the next tmemlab does
        done = leftovers.reclaim_scratch(tmp_path / "scratch")
        assert not scratch.exists(), done
        assert any("removed scratch" in line for line in done)
    finally:
        if harness.poll() is None:
            harness.kill()
        if leftovers.identity(backend):
            os.kill(backend, signal.SIGKILL)


def test_reclaim_kills_a_dead_run_s_backend_and_spares_a_live_run_s(tmp_path):
    root = tmp_path / "scratch"
    dead_owner = subprocess.Popen(["true"])
    dead_owner.wait()
    live_owner = subprocess.Popen(["sleep", "600"])
    dead_backend = subprocess.Popen(["sleep", "601"])
    live_backend = subprocess.Popen(["sleep", "602"])
    try:
        for name, own, back in (("dead", dead_owner, dead_backend),
                                ("live", live_owner, live_backend)):
            folder = root / name / "backend"
            folder.mkdir(parents=True)
            (root / name / leftovers.OWNER).write_text(json.dumps(
                {"pid": own.pid, "id": f"{leftovers._boot_id()}:0", "what": "harness"}))
            leftovers.record_process(folder / f"backend{leftovers.PID_SUFFIX}", back.pid,
                                     "tmem backend")
        leftovers.record_process(root / "live" / leftovers.OWNER, live_owner.pid, "harness")
        done = leftovers.reclaim_scratch(root)
        assert dead_backend.wait(timeout=5) == -signal.SIGKILL
        assert not (root / "dead").exists()
        assert live_backend.poll() is None and (root / "live").exists()
        assert any(f"killed tmem backend {dead_backend.pid}" in line for line in done), done
    finally:
        for p in (live_owner, dead_backend, live_backend):
            p.kill()


@pytest.mark.skipif(os.geteuid() != 0, reason="bind mounts need root")
def test_dead_builder_s_tree_is_unmounted_then_removed_and_the_host_side_survives(tmp_path):
    cache = tmp_path / "cache"
    images = cache / "images"
    images.mkdir(parents=True)
    lock = images / "abc.lock"
    lock.write_text("")
    tree = images / ".abc.tmp-999999999" / "rootfs"
    (tree / "dev" / "shm").mkdir(parents=True)
    host = tmp_path / "host-shm"  # stands in for the host's /dev/shm
    host.mkdir()
    (host / "sentinel").write_text("the host's, not the build's")
    subprocess.run(["mount", "--bind", host, tree / "dev" / "shm"], check=True)
    orphan = subprocess.Popen(["sleep", "600"], cwd=tree)  # an orphaned dpkg, say
    try:
        with open(lock) as held:  # a live builder: nothing may be touched
            fcntl.flock(held, fcntl.LOCK_EX)
            assert leftovers.reclaim_builds(cache) == []
            assert leftovers.mounts_under(tree) and orphan.poll() is None
        done = leftovers.reclaim_builds(cache)
        assert orphan.wait(timeout=5) == -signal.SIGKILL
        assert leftovers.mounts_under(tmp_path) == []
        assert not tree.parent.exists(), done
        assert (host / "sentinel").exists(), "removal reached through the bind mount"
        assert any("1 mount(s) detached" in line for line in done), done
    finally:
        orphan.kill()
        for point in leftovers.mounts_under(tmp_path):
            subprocess.run(["umount", "-l", point])


INTERRUPTIBLE = """
import signal, sys, time
from harness import interrupt
interrupt.install(grace=float(sys.argv[1]))
try:
    print("ready", flush=True)
    time.sleep(60)
except KeyboardInterrupt:
    try:
        time.sleep(float(sys.argv[2]))  # the cleanup
        print("cleaned", flush=True)
    finally:
        sys.exit(130)
"""


def interruptible(grace: float, cleanup_s: float, ignore_sigint: bool) -> subprocess.Popen:
    def preexec():
        if ignore_sigint:  # as a shell's background job starts it
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    return subprocess.Popen([sys.executable, "-c", INTERRUPTIBLE, str(grace), str(cleanup_s)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, preexec_fn=preexec)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_interrupts_even_when_sigint_was_inherited_ignored(sig):
    child = interruptible(grace=5, cleanup_s=0, ignore_sigint=True)
    assert child.stdout.readline().strip() == "ready"
    start = time.monotonic()
    child.send_signal(sig)
    assert child.wait(timeout=10) == 130
    assert "cleaned" in child.stdout.read()
    assert time.monotonic() - start < 2


def test_second_signal_does_not_cut_cleanup_short():
    child = interruptible(grace=5, cleanup_s=1, ignore_sigint=False)
    assert child.stdout.readline().strip() == "ready"
    child.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    child.send_signal(signal.SIGINT)
    assert child.wait(timeout=10) == 130
    assert "cleaned" in child.stdout.read()


def test_cleanup_that_hangs_is_cut_at_the_grace_deadline():
    child = interruptible(grace=1, cleanup_s=60, ignore_sigint=False)
    assert child.stdout.readline().strip() == "ready"
    start = time.monotonic()
    child.send_signal(signal.SIGINT)
    assert child.wait(timeout=10) == 130
    took = time.monotonic() - start
    assert 0.9 < took < 3, f"{took:.1f} s"
    assert "exiting now" in child.stdout.read()



def test_reaper_kills_qemus_under_a_registered_root_and_only_those(tmp_path):
    """A QEMU libvirt started (a capabilities probe, a domain being created) but the
    harness never registered dies with the harness when it names a file under the
    harness's libvirt root."""
    exe = tmp_path / "qemu-system-x86_64"
    shutil.copy(shutil.which("tail"), exe)
    root = tmp_path / "libvirt"
    files = [root / "lib" / "qemu" / "capabilities.monitor.sock", tmp_path / "libvirt2" / "x"]
    for f in files:
        f.parent.mkdir(parents=True)
        f.write_text("")
    ours, other = (subprocess.Popen([str(exe), "-f", str(f)], start_new_session=True,
                                    stdout=subprocess.DEVNULL) for f in files)
    try:
        reaper = subprocess.Popen([sys.executable, "-m", "harness.vm.reaper"], cwd=ROOT,
                                  stdin=subprocess.PIPE, text=True)
        reaper.communicate(f"+root {root}\n", timeout=20)
        assert ours.wait(timeout=5) == -signal.SIGKILL
        assert other.poll() is None
    finally:
        ours.kill()
        other.kill()
