"""Last line of defence against orphaned QEMU processes.

libvirt's embedded driver lives inside the harness process, and QEMU is daemonised: if the
harness dies (even by SIGKILL) its guests would keep running. The harness starts this
reaper as a child in its own session and writes "+PID" / "-PID" lines to its stdin. When
stdin reaches EOF — the harness exited, however it exited — every PID still registered
that is still a QEMU process is killed.
"""

from __future__ import annotations

import os
import signal
import sys


def is_qemu(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"qemu-system" in f.read().split(b"\0", 1)[0]
    except OSError:
        return False


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the harness, not us
    alive: set[int] = set()
    for line in sys.stdin:
        line = line.strip()
        if line[:1] == "+":
            alive.add(int(line[1:]))
        elif line[:1] == "-":
            alive.discard(int(line[1:]))
    for pid in alive:
        if is_qemu(pid):
            os.kill(pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
