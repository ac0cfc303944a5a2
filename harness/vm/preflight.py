"""Pre-flight: host set-up mistakes found before anything boots (exit 2, one line).

- The scratch filesystem must hold a run's swap disk and root overlay: QEMU pauses a
  guest whose disk write hits ENOSPC, and the run then stalls (see watchdog.py).
- A swap disk on a RAM-backed filesystem (tmpfs, ramfs) is host memory, not a disk:
  ``swap.cache: none`` cannot make it one. Refused unless ``swap.allow_ram_backed``.

Reading (/proc/self/mountinfo, statvfs) is separate from deciding, so the decisions are
tested on captured text and numbers.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import PreflightError

RAM_FILESYSTEMS = ("tmpfs", "ramfs")
# Bound on one run's qcow2 root overlay: the guest writes little to its root (logs, ssh
# state, the workload's binaries' atime-free reads write nothing); 256 MiB is ample and
# well under the 1 GiB image it overlays.
OVERLAY_BOUND_MIB = 256
MOUNTINFO = Path("/proc/self/mountinfo")


@dataclass(frozen=True)
class Mount:
    mount_point: str
    fstype: str
    source: str


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo octal."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[Mount]:
    """Mounts from /proc/self/mountinfo text (proc(5)): field 5 is the mount point; the
    filesystem type and source follow the ' - ' separator."""
    mounts = []
    for line in text.splitlines():
        head, sep, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if not sep or len(fields) < 5 or len(rest) < 2:
            continue
        mounts.append(Mount(_unescape(fields[4]), rest[0], _unescape(rest[1])))
    return mounts


def mount_of(path: Path, mounts: list[Mount]) -> Mount:
    """The mount holding ``path`` (the last of the longest matching mount points, as a
    later mount over the same point hides the earlier one)."""
    target = os.path.realpath(path)
    best = None
    for mount in mounts:
        point = mount.mount_point.rstrip("/") or "/"
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best.mount_point.rstrip("/") or "/")):
            best = mount
    return best or Mount("/", "unknown", "unknown")


@dataclass(frozen=True)
class Scratch:
    """What pre-flight found about the scratch area; recorded in versions.json."""
    path: str
    mount_point: str
    fstype: str
    free_bytes: int
    needed_bytes: int = 0
    swap_disk_bytes: int = 0
    ram_backed: bool = False
    allow_ram_backed: bool = False

    def to_json(self) -> dict:
        return asdict(self)


def read_scratch(path: Path) -> Scratch:
    """The filesystem facts of ``path`` (its nearest existing ancestor)."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    st = os.statvfs(probe)
    mount = mount_of(probe, parse_mountinfo(MOUNTINFO.read_text()))
    return Scratch(str(path), mount.mount_point, mount.fstype, st.f_bavail * st.f_frsize)


def swap_disk_mib(exp) -> int:
    """The largest swap disk any run of ``exp`` creates (runs go one at a time)."""
    sizes = [exp.swap["size_mib"] if k.swap_mib is None else k.swap_mib for k in exp.kernels]
    return max(sizes, default=0)


def decide(exp, found: Scratch) -> Scratch:
    """``found`` completed with what ``exp`` needs; PreflightError when it cannot run."""
    # A group run's guests are up at once, each with its own swap disk and overlay.
    guests = max((run.group.guests if run.group else 1 for run in exp.runs()), default=1)
    swap = guests * swap_disk_mib(exp) << 20
    needed = swap + guests * (OVERLAY_BOUND_MIB << 20)
    ram = found.fstype in RAM_FILESYSTEMS
    allow = bool(exp.swap.get("allow_ram_backed"))
    done = Scratch(found.path, found.mount_point, found.fstype, found.free_bytes, needed, swap,
                   ram, allow)
    if swap and ram and not allow:
        raise PreflightError(
            f"scratch {found.path} is on {found.fstype} ({found.mount_point}): a swap disk "
            "there is host RAM, which defeats swap.cache: none; point TMEMLAB_SCRATCH at a "
            "disk, or set swap.allow_ram_backed: true to measure it anyway")
    if found.free_bytes < needed:
        raise PreflightError(
            f"scratch {found.path}: needs {needed} bytes (swap disk {swap >> 20} MiB + root "
            f"overlay bound {OVERLAY_BOUND_MIB} MiB), {found.free_bytes} bytes free on "
            f"{found.mount_point} ({found.fstype})")
    return done


def check(exp, scratch: Path) -> Scratch:
    """Read the scratch area's facts and decide; the run starts only if this returns."""
    return decide(exp, read_scratch(scratch))
