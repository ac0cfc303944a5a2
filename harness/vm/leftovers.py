"""What a dead tmemlab leaves behind, and how the next one reclaims it — safely.

A running harness claims its scratch folder with an owner record (its pid and the
process's identity: boot id + start time, so a reused pid is never mistaken for the
owner) and records the processes it starts there (the host backend). A folder whose
owner is gone is reclaimed: its recorded processes are killed (same identity only),
then the folder is removed. Half-built cache entries (``.<name>.tmp-<pid>``) belong to a
builder that holds the entry's flock; once nobody holds it, the entry is stale: any mount
under it (mmdebstrap's /proc, /sys, /dev/pts, /dev/shm binds) is lazily unmounted
before the tree is removed. A tree is never removed while something is mounted in it:
removing a bind-mounted /dev/shm would empty the host's.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from harness import proc
from harness.paths import cache_root, scratch_root
from harness.vm import preflight

log = logging.getLogger("tmemlab.leftovers")
OWNER = "owner.json"
PID_SUFFIX = ".pid.json"
# An ownerless folder this young may be one a live harness has just made.
GRACE_S = 60
# Image build trees of the layout before owner records (mkdtemp next to the entries).
LEGACY_ROOTFS = "tmemlab-rootfs-*"


# ---------------------------------------------------------------- process identity

def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "?"


def identity(pid: int) -> str | None:
    """'<boot id>:<start time in ticks>' of a running process; None if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in ("Z", "X"):
        return None
    return f"{_boot_id()}:{fields[19]}"


def start_ticks(pid: int) -> str | None:
    ident = identity(pid)
    return ident.rsplit(":", 1)[1] if ident else None


def alive(record: dict) -> bool:
    """True while the process a record names still runs (same pid, same identity)."""
    pid = record.get("pid")
    return isinstance(pid, int) and pid > 0 and identity(pid) == record.get("id")


def record_process(path: Path, pid: int, what: str) -> None:
    """Write ``path`` (…/<what>.pid.json) naming a process started for this run."""
    path.write_text(json.dumps({"pid": pid, "id": identity(pid), "what": what}) + "\n")


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _kill_and_wait(pids: list[int], timeout: float = 5.0) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(identity(p) for p in pids):
        time.sleep(0.05)


# ---------------------------------------------------------------- scratch folders

def claim(folder: Path) -> Path:
    """Mark ``folder`` as this process's: an owner record, and the reaper removes it
    should this process die without doing so itself."""
    from harness.vm import reaper

    folder.mkdir(parents=True, exist_ok=True)
    record_process(folder / OWNER, os.getpid(), "harness")
    reaper.watch_dir(folder)
    return folder


def release(folder: Path) -> None:
    """Remove a claimed folder (this process is done with it)."""
    from harness.vm import reaper

    shutil.rmtree(folder, ignore_errors=True)
    reaper.unwatch_dir(folder)


def run_scratch() -> Path:
    """This process's scratch folder for an experiment: <scratch root>/<pid>."""
    return claim(scratch_root() / str(os.getpid()))


@contextlib.contextmanager
def scratch_folder() -> Iterator[Path]:
    """A claimed scratch folder for a one-off boot, removed on the way out."""
    folder = claim(Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=scratch_root())))
    try:
        yield folder
    finally:
        release(folder)


def _users(folder: Path) -> list[int]:
    """Processes that have ``folder`` (or something under it) as cwd, root, an open file
    or in their command line."""
    prefix = str(folder.resolve())
    needle = prefix.encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        if identity(pid) is None:
            continue
        links = []
        for name in ("cwd", "root"):
            with contextlib.suppress(OSError):
                links.append(os.readlink(f"/proc/{pid}/{name}"))
        with contextlib.suppress(OSError):
            for fd in os.scandir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    links.append(os.readlink(fd.path))
        hit = any(p == prefix or p.startswith(prefix + "/") for p in links)
        cmd = _cmdline(pid)
        if hit or needle + b"/" in cmd or needle in cmd.split(b"\0"):
            found.append(pid)
    return found


def _program(pid: int) -> str:
    return os.path.basename(_cmdline(pid).split(b"\0", 1)[0].decode(errors="replace"))


def _orphan_of_ours(pid: int) -> bool:
    """A QEMU or host backend process: what a harness starts in its scratch folder."""
    cmd = _cmdline(pid)
    return b"qemu-system" in cmd.split(b"\0", 1)[0] or b"host_backend" in cmd


def scratch_owner_alive(folder: Path, now: float | None = None) -> bool:
    """True when ``folder`` may belong to a live harness (when in doubt: True)."""
    owner = _read(folder / OWNER)
    if owner is not None:
        return alive(owner)
    # No owner record (older tmemlab, or one that has just made the folder).
    try:
        mtime = folder.stat().st_mtime
    except OSError:
        return False
    if (now or time.time()) - mtime < GRACE_S:
        return True
    name = folder.name.split("-", 1)[0]
    if name.isdigit() and identity(int(name)) is not None:
        # That pid runs; it is the owner only if it started before the folder changed.
        return started_at(int(name)) <= mtime
    return bool(_users(folder))


def started_at(pid: int) -> float:
    """Wall-clock start of ``pid`` (inf if gone): boot time + start ticks."""
    ticks = start_ticks(pid)
    if ticks is None:
        return float("inf")
    with open("/proc/stat") as f:
        btime = next(int(ln.split()[1]) for ln in f if ln.startswith("btime "))
    return btime + int(ticks) / os.sysconf("SC_CLK_TCK")


def reclaim_scratch(root: Path | None = None) -> list[str]:
    """Kill the recorded processes of dead harnesses and remove their scratch folders.
    Returns one line per thing reclaimed."""
    root = root or scratch_root()
    done: list[str] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if scratch_owner_alive(folder):
            continue
        killed = []
        for rec_path in folder.rglob(f"*{PID_SUFFIX}"):
            rec = _read(rec_path)
            if rec is not None and alive(rec):
                killed.append(rec["pid"])
                done.append(f"killed {rec.get('what', 'process')} {rec['pid']} "
                            f"of a dead run ({folder.name})")
        _kill_and_wait(killed)
        users = _users(folder)
        orphans = [p for p in users if _orphan_of_ours(p)]
        for pid in orphans:
            done.append(f"killed orphan {_program(pid)} {pid} "
                        f"({folder.name})")
        _kill_and_wait(orphans)
        others = [p for p in users if p not in orphans]
        if others:
            log.warning("scratch %s of a dead run still in use by pid %s: left",
                        folder, others)
            continue
        size = _du(folder)
        if remove_tree(folder):
            done.append(f"removed scratch {folder} ({size >> 20} MiB)")
    return done


def _du(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return total


# ---------------------------------------------------------------- mounts and build trees

def parse_mountinfo(text: str) -> list[str]:
    """Mount points listed in a /proc/<pid>/mountinfo text (preflight's parser)."""
    return [m.mount_point for m in preflight.parse_mountinfo(text)]


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path``, deepest first."""
    prefix = str(path.resolve())
    try:
        text = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return []
    found = {m for m in parse_mountinfo(text) if m == prefix or m.startswith(prefix + "/")}
    return sorted(found, key=lambda m: (m.count("/"), m), reverse=True)


def remove_tree(path: Path) -> bool:
    """Unmount (lazily) whatever is mounted under ``path``, then remove it. Returns False,
    removing nothing, if a mount stays (then removing would reach into the host's
    /proc, /sys or /dev)."""
    if not path.exists():
        return True
    for point in mounts_under(path):
        proc.run(["umount", "-l", point], check=False)
    left = mounts_under(path)
    if left:
        log.warning("cannot unmount %s: %s left in place", ", ".join(left), path)
        return False
    shutil.rmtree(path, ignore_errors=True)
    return not path.exists()


@contextlib.contextmanager
def _unless_locked(lock: Path) -> Iterator[bool]:
    """Hold ``lock`` (a cache entry's builder lock) if nobody does; yields whether held."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _entry_locks(root: Path) -> list[Path]:
    return sorted(list(root.glob("*/*.lock")) + list(root.glob("*/*/*.lock")))


def end_users(tree: Path) -> list[str]:
    """Builder children orphaned by a dead harness (mmdebstrap, make): they write into a
    tree nobody will use."""
    users = _users(tree)
    lines = [f"killed orphan builder {_program(p)} {p}" for p in users]
    _kill_and_wait(users)
    return lines


def reclaim_builds(root: Path | None = None) -> list[str]:
    """Unmount and remove half-built cache entries whose builder is gone."""
    root = root or cache_root()
    done: list[str] = []
    for lock in _entry_locks(root):
        name = lock.name[:-len(".lock")]
        stale = list(lock.parent.glob(f".{name}.tmp-*"))
        if not stale:
            continue
        with _unless_locked(lock) as held:
            if not held:
                continue  # a live builder is at work
            for tree in stale:
                done += _remove_half_built(tree)
    done += _reclaim_legacy_rootfs(root / "images")
    return done


def _reclaim_legacy_rootfs(images: Path) -> list[str]:
    """Root trees of the old layout name no entry: stale when no image build runs."""
    trees = list(images.glob(LEGACY_ROOTFS)) if images.is_dir() else []
    if not trees:
        return []
    with contextlib.ExitStack() as stack:
        for lock in images.glob("*.lock"):
            if not stack.enter_context(_unless_locked(lock)):
                return []
        return [line for tree in trees for line in _remove_half_built(tree)]


def _remove_half_built(tree: Path) -> list[str]:
    """End what still uses a half-built image tree, detach its mounts, remove it."""
    done = end_users(tree)
    mounts = len(mounts_under(tree))
    if remove_tree(tree):
        extra = f", {mounts} mount(s) detached" if mounts else ""
        done.append(f"removed half-built {tree}{extra}")
    return done


def reclaim() -> list[str]:
    """Everything a dead tmemlab left: backends, scratch folders, half-built entries."""
    return reclaim_scratch() + reclaim_builds()
