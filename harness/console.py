"""Reading a guest's serial console log: tails for error reports, and kernel failures."""

from __future__ import annotations

import re
from pathlib import Path

# A run whose console shows one of these is a failed run, whatever the workload said.
KERNEL_FAILURES = re.compile(
    r"Kernel panic|\bBUG: |\bOops\b|general protection fault|Unable to handle kernel",
)


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def kernel_failure(path: Path) -> str | None:
    """The first console line reporting a panic/oops/BUG, or None."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    match = KERNEL_FAILURES.search(text)
    if not match:
        return None
    start = text.rfind("\n", 0, match.start()) + 1
    end = text.find("\n", match.end())
    return text[start:end if end != -1 else None].strip()


OOM_KILL = re.compile(r"Out of memory: Killed process \d+ \(([^)]+)\)")


def oom_kills(path: Path) -> list[str]:
    """Names of processes the guest's OOM killer killed, in order."""
    try:
        return OOM_KILL.findall(path.read_text(errors="replace"))
    except OSError:
        return []
