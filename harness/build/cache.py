"""Cache entries that appear whole or not at all.

A builder writes into a private temporary directory; only a successful build is renamed
into place, so a failed or interrupted build leaves no half entry. An flock per entry
makes concurrent builders of the same key wait for each other instead of colliding.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from harness.vm.leftovers import remove_tree


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``PATH.lock`` (created if missing) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_entry(path: Path, build: Callable[[Path], None]) -> tuple[Path, bool]:
    """Return (path, built_now); call ``build(tmpdir)`` only when the entry is missing."""
    if path.is_dir():
        return path, False
    with locked(path):
        if path.is_dir():  # another builder finished while we waited
            return path, False
        # Named by the builder; a dead builder's is reclaimed once nobody holds the lock
        # (harness/vm/leftovers.py), its mounts detached first.
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        remove_tree(tmp)
        tmp.mkdir(parents=True)
        try:
            build(tmp)
            os.rename(tmp, path)
        finally:
            remove_tree(tmp)
    return path, True
