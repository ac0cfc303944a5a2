"""Where tmemlab keeps things: one cache root, overridable with $TMEMLAB_CACHE; the
scratch area for running guests, overridable with $TMEMLAB_SCRATCH."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
GUEST_IMAGES = PROJECT_ROOT / "guest_images"
EXPERIMENTS = PROJECT_ROOT / "experiments"


def cache_root() -> Path:
    env = os.environ.get("TMEMLAB_CACHE")
    root = Path(env) if env else Path.home() / ".cache" / "tmemlab"
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_dir(*parts: str) -> Path:
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def scratch_root() -> Path:
    """Where runs keep their swap disks, overlays and sockets: $TMEMLAB_SCRATCH, else
    <cache>/scratch. Separate from the cache so that a test (or a user) can put the
    scratch area on another filesystem while images and kernels stay cached."""
    env = os.environ.get("TMEMLAB_SCRATCH")
    path = Path(env) if env else cache_root() / "scratch"
    path.mkdir(parents=True, exist_ok=True)
    return path


def hash_inputs(items: list[tuple[str, bytes]]) -> str:
    """Content hash of named inputs: the names matter too, so renaming a file rebuilds."""
    h = hashlib.sha256()
    for name, data in sorted(items):
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def hash_tree(root: Path, exclude: tuple[str, ...] = ("build",)) -> list[tuple[str, bytes]]:
    """(relative path, content) of every file under root, for hash_inputs."""
    items = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not any(part in exclude for part in rel.parts):
            items.append((f"{root.name}/{rel}", path.read_bytes()))
    return items
