"""Reading a guest's serial console log: tails for error reports, OOM kills, and kernel
failures (the patterns and their classes live in harness.vm.health)."""

from __future__ import annotations

import re
from pathlib import Path

from harness.vm import health


def read(path: Path) -> str:
    """The log's text, or "" when there is none (a guest that never started)."""
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(read(path).splitlines()[-lines:])


def kernel_failure(path: Path, accel: str = "tcg") -> str | None:
    """The first console line that health classifies fatal, or None."""
    fatal = health.assess({"console": read(path)}, accel)[health.FATAL]
    return fatal[0]["line"] if fatal else None


OOM_KILL = re.compile(r"Out of memory: Killed process \d+ \(([^)]+)\)")


def oom_kills(path: Path) -> list[str]:
    """Names of processes the guest's OOM killer killed, in order."""
    return OOM_KILL.findall(read(path))
