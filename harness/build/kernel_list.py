"""`tmemlab kernel list`: what can be named in an experiment, and what is already cached."""

from __future__ import annotations

import json

from rich.table import Table

from harness.build import kbuild, kernels
from harness.paths import cache_root


def entries() -> list[dict]:
    """One dict per kernel an experiment can name: spec, state (available / cached /
    buildable / built / stale build), release, detail."""
    out = []
    distro_cache = cache_root() / "kernels" / "distro"
    for name, distro in kernels.DISTRO_KERNELS.items():
        cloud = "cloud" in distro.metapackage
        cached = [p.name.rsplit("-", 1)[0].replace("_", " ")
                  for p in distro_cache.glob("linux-image-*")
                  if p.is_dir() and ("-cloud-amd64_" in p.name) == cloud]
        out.append({"spec": f"distro:{name}", "state": "cached" if cached else "available",
                    "release": ", ".join(cached) or None, "detail": distro.description})
    built = {}
    for meta_path in (cache_root() / "kernels" / "config").glob("*/meta.json"):
        meta = json.loads(meta_path.read_text())
        label = kbuild.build_label(meta["name"], meta.get("series", kbuild.DEFAULT_SERIES))
        built.setdefault(label, []).append((meta_path.parent.name, meta))
    for series in kbuild.SERIES:
        try:
            version = kbuild.source_version(series)
        except Exception:  # no apt lists yet: still list what exists
            version = None
        for path in sorted(kbuild.CONFIGS.glob("*.config")):
            if path.stem != "base":
                out.append(_config_entry(path.stem, series, version, built))
    return out


def _config_entry(name: str, series: str, version: str | None, built: dict) -> dict:
    label = kbuild.build_label(name, series)
    found = built.get(label, [])
    key = kbuild.build_key(name, version, series)[0] if version else None
    current = [e for e in found if key and e[0].endswith(key)]
    state = "built" if current else ("stale build" if found else "buildable")
    if (other := kbuild.foreign_series(name, series)) and not current:
        state = f"needs the {other} patches"
    detail = (f"key {key}" if key else "") + (
        f", config sha256 {current[0][1]['config_hash'][:12]}" if current else "")
    return {"spec": f"config:{label}", "state": state,
            "release": current[0][1]["release"] if current else None, "detail": detail}


def table(rows: list[dict] | None = None) -> Table:
    out = Table(title="tmemlab kernels")
    for column in ("spec", "state", "release", "detail"):
        out.add_column(column)
    for row in entries() if rows is None else rows:
        out.add_row(row["spec"], row["state"], row["release"] or "-", row["detail"])
    return out
