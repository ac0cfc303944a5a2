"""Last line of defence against what a dead harness would leave running or on disk.

libvirt's embedded driver lives inside the harness process, and QEMU is daemonised: if the
harness dies (even by SIGKILL) its guests would keep running; so would the host backend
(a subprocess in its own session) and its scratch folder would stay. The harness starts
this reaper once, as a child in its own session, and writes lines to its stdin:

  +PID         a QEMU process (killed only if it still is QEMU)
  +PID TICKS   any process, killed only if its start time (/proc/PID/stat field 22)
               is still TICKS: a reused pid is left alone
  -PID         forget it
  +dir PATH    remove PATH (after the processes are gone);  -dir PATH  forget it
  +root PATH   an embedded libvirt root the harness holds: any QEMU whose command line
               names a file under it is the harness's (a domain, or the capabilities
               probe of a fresh root)
  =exit        the harness exits normally (no need to wait for a QEMU being started)

When stdin reaches EOF — the harness exited, however it exited — every process still
registered is killed, so is any QEMU whose domain is named after the harness's pid (one
libvirt was starting when the harness died), and every folder still registered is removed.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

EXIT = "=exit"  # the harness is exiting normally


def is_qemu(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"qemu-system" in f.read().split(b"\0", 1)[0]
    except OSError:
        return False


def _ticks(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _still_ours(pid: int, ticks: str | None) -> bool:
    return is_qemu(pid) if ticks is None else _ticks(pid) == ticks


@dataclass
class Registrations:
    pids: dict[int, str | None] = field(default_factory=dict)  # pid → start ticks or None
    dirs: list[str] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)
    clean_exit: bool = False


def parse(lines) -> Registrations:
    """The registrations still standing after ``lines``."""
    reg = Registrations()
    for line in lines:
        line = line.rstrip("\n")
        if line == EXIT:
            reg.clean_exit = True
            continue
        op, rest = line[:1], line[1:]
        kind, _, path = rest.partition(" ")
        if kind in ("dir", "root"):
            paths = reg.dirs if kind == "dir" else reg.roots
            if op == "+" and path not in paths:
                paths.append(path)
            elif op == "-" and path in paths:
                paths.remove(path)
            continue
        parts = rest.split()
        if not parts or not parts[0].isdigit():
            continue
        if op == "+":
            reg.pids[int(parts[0])] = parts[1] if len(parts) > 1 else None
        elif op == "-":
            reg.pids.pop(int(parts[0]), None)
    return reg


def named_qemus(harness_pid: int, roots: list[str] = ()) -> list[int]:
    """QEMU processes of the domains a harness names after its pid (tmemlab-PID-…,
    tmemlab-kvm-probe-PID), or that name a file under one of its libvirt ``roots``:
    also those libvirt was starting and the harness had not registered yet."""
    needles = [f"guest=tmemlab-{harness_pid}-".encode(),
               f"guest=tmemlab-kvm-probe-{harness_pid},".encode()]
    needles += [f"{root.rstrip('/')}/".encode() for root in roots]
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and is_qemu(int(entry.name)):
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if any(n in cmd for n in needles) and _ticks(int(entry.name)):
                found.append(int(entry.name))
    return found


def _kill(victims: list[int]) -> None:
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_ticks(p) for p in victims):
        time.sleep(0.05)


def reap(reg: Registrations, harness_pid: int | None = None) -> None:
    _kill([pid for pid, ticks in reg.pids.items() if _still_ours(pid, ticks)])
    if harness_pid is not None:
        _kill(named_qemus(harness_pid, reg.roots))
        if not reg.clean_exit:
            time.sleep(0.5)  # a QEMU libvirt was forking as the harness died
            _kill(named_qemus(harness_pid, reg.roots))
    if reg.dirs:
        from harness.vm.leftovers import remove_tree
        for path in reg.dirs:
            remove_tree(Path(path))


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the harness, not us
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    harness_pid = os.getppid()
    reap(parse(sys.stdin), harness_pid=harness_pid)
    return 0


# ---------------------------------------------------------------- the harness side

_reaper: subprocess.Popen | None = None
_lock = threading.Lock()


def _send(line: str) -> None:
    """Write one registration line to this process's reaper, starting it if needed."""
    global _reaper
    with _lock:
        if _reaper is None or _reaper.poll() is not None:
            _reaper = subprocess.Popen([sys.executable, "-m", "harness.vm.reaper"],
                                       stdin=subprocess.PIPE, text=True,
                                       start_new_session=True)
            atexit.register(_close)
        try:
            _reaper.stdin.write(line + "\n")
            _reaper.stdin.flush()
        except OSError:  # the reaper died (it never should): a new one for what comes
            _reaper = None


def _close() -> None:
    """At a normal exit: let the reaper do its last round now, not after we are gone."""
    if _reaper is not None and _reaper.poll() is None:
        with contextlib.suppress(OSError):
            _reaper.stdin.write(EXIT + "\n")
            _reaper.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            _reaper.wait(timeout=10)


def watch(pid: int, any_process: bool = False) -> None:
    """Kill ``pid`` should this process die: a QEMU, or (``any_process``) whatever runs
    under that pid with its current start time."""
    ticks = _ticks(pid) if any_process else None
    if any_process and ticks is None:
        return  # already gone
    _send(f"+{pid} {ticks}" if ticks else f"+{pid}")


def unwatch(pid: int) -> None:
    if _reaper is not None:
        _send(f"-{pid}")


def watch_dir(path: Path) -> None:
    _send(f"+dir {path}")


def unwatch_dir(path: Path) -> None:
    if _reaper is not None:
        _send(f"-dir {path}")


def watch_root(path: Path) -> None:
    """QEMUs naming files under this libvirt root die with this process."""
    _send(f"+root {path}")


def unwatch_root(path: Path) -> None:
    if _reaper is not None:
        _send(f"-root {path}")


if __name__ == "__main__":
    sys.exit(main())
