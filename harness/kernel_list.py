"""`tmemlab kernel list`: what can be named in an experiment, and what is already cached."""

from __future__ import annotations

import json

from rich.table import Table

from harness import kbuild, kernels
from harness.paths import cache_root


def table() -> Table:
    out = Table(title="tmemlab kernels")
    for column in ("spec", "state", "release", "detail"):
        out.add_column(column)
    distro_cache = cache_root() / "kernels" / "distro"
    for name, distro in kernels.DISTRO_KERNELS.items():
        cloud = "cloud" in distro.metapackage
        cached = [p.name.rsplit("-", 1)[0].replace("_", " ")
                  for p in distro_cache.glob("linux-image-*")
                  if p.is_dir() and ("-cloud-amd64_" in p.name) == cloud]
        out.add_row(f"distro:{name}", "cached" if cached else "available",
                    ", ".join(cached) or "-", distro.description)
    built = {}
    for meta_path in (cache_root() / "kernels" / "config").glob("*/meta.json"):
        meta = json.loads(meta_path.read_text())
        built.setdefault(meta["name"], []).append((meta_path.parent.name, meta))
    for path in sorted(kbuild.CONFIGS.glob("*.config")):
        if path.stem == "base":
            continue
        entries = built.get(path.stem, [])
        try:
            key, _ = kbuild.build_key(path.stem, kbuild.source_version())
        except Exception:  # no apt lists yet: still list what exists
            key = None
        current = [e for e in entries if key and e[0].endswith(key)]
        state = "built" if current else ("stale build" if entries else "buildable")
        detail = (f"key {key}" if key else "") + (
            f", config sha256 {current[0][1]['config_hash'][:12]}" if current else "")
        release = current[0][1]["release"] if current else "-"
        out.add_row(f"config:{path.stem}", state, release, detail)
    return out
