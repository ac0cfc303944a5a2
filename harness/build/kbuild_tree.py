"""The kernel-build workload's inputs, made on the host once and cached: a read-only ext4
disk holding a Linux source tree and its build folder prepared up to ``make prepare``, and
the sha256 of every object a host build of the same targets produced.

The guest mounts the disk at TREE_ROOT, unpacks the prepared build folder to BUILD_DIR and
builds the targets; every object it produced must match the host's byte for byte. Objects
name their source path (the assembler's ``.file``), so host and guest build at the same
absolute paths: the host builds in TREE_ROOT/BUILD_DIR too, one builder at a time
(a lock), on a hard-linked copy of the cached source tree.

The compiler must be the same: the guest image's gcc comes from the same Debian release as
the host's, and the reference records ``gcc --version`` so the guest can refuse to compare
against another compiler's objects (harness/run/workloads.py KernelBuild).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

from harness import proc, ui
from harness.build import cache, kbuild
from harness.errors import CommandError, KernelBuildError
from harness.paths import cache_dir, hash_inputs
from harness.vm.leftovers import remove_tree

TREE_ROOT = "/var/tmp/tmemlab-kbuild"        # the disk's mount point in the guest
BUILD_DIR = "/var/tmp/tmemlab-kbuild-out"    # O= on host and guest
PREPARED = "prepared.tar"                     # BUILD_DIR after `make CONFIG && make prepare`
REFERENCE = "reference.sha256"                # sha256sum -c format, paths under BUILD_DIR
COMPILER = "compiler.txt"                     # the host's `gcc --version` first line
LABEL = "tmemlab-kbuild"                      # the disk's ext4 label: mount LABEL=...
META = "tree.json"
IMAGE = "tree.img"                            # the disk, in the cache entry
CONFIGS = ("tinyconfig", "allnoconfig", "defconfig")   # the config targets it accepts


def tree_key(series: str, version: str, config: str, targets: tuple[str, ...]) -> str:
    return hash_inputs([("source", f"{kbuild.source_package(series)} {version}".encode()),
                        ("patches", kbuild.series_hash(series).encode()),
                        ("compiler", kbuild.compiler_version().encode()),
                        ("config", config.encode()),
                        ("targets", " ".join(targets).encode())])[:16]


def prepare(series: str, config: str, targets: tuple[str, ...]) -> tuple[Path, dict]:
    """(cache entry, its tree.json) for a source series, a config target and make targets.
    The entry holds ``tree.img`` (the disk) and ``tree.json`` (source, compiler, objects,
    host build seconds). Raises KernelBuildError when the host build fails."""
    version = kbuild.source_version(series)
    key = tree_key(series, version, config, targets)
    entry = cache_dir("kbuild-trees") / f"{kbuild.build_label(config, series)}-{key}"
    log = cache_dir("logs") / f"kbuild-tree-{key}.log"

    def build(out: Path) -> None:
        log.write_text("")
        src = kbuild.source_tree(version, series)
        with cache.locked(Path(TREE_ROOT)):   # one builder at a time: /var/tmp/tmemlab-kbuild.lock
            try:
                meta = _reference_build(src, config, targets, log)
                meta.update(source=f"{kbuild.source_package(series)} {version}",
                            patches=[p.name for p in kbuild.patch_series(series)],
                            series=series, config=config, targets=list(targets))
                _make_disk(out / IMAGE, log)
                (out / META).write_text(json.dumps(meta, indent=2) + "\n")
            finally:
                remove_tree(Path(TREE_ROOT))
                remove_tree(Path(BUILD_DIR))

    try:
        path, _built = cache.ensure_entry(entry, build)
    except CommandError as err:
        raise KernelBuildError(f"kernel-build tree ({config}, {' '.join(targets)}) could "
                               f"not be prepared ({err}); log: {log}") from err
    return path, json.loads((path / META).read_text())


def _reference_build(src: Path, config: str, targets: tuple[str, ...], log: Path) -> dict:
    root, out = Path(TREE_ROOT), Path(BUILD_DIR)
    remove_tree(root)
    remove_tree(out)
    root.mkdir(parents=True)
    with ui.step("copy the source tree (hard links)"):
        # cp -al: instant on one filesystem; a plain copy where the cache lives elsewhere
        if subprocess.run(["cp", "-al", src, root / "src"], capture_output=True).returncode:
            remove_tree(root / "src")
            proc.run(["cp", "-a", src, root / "src"], log_file=log)
    make = ["make", "-C", root / "src", f"O={out}"]
    with ui.step(f"make {config} prepare (host)"):
        proc.run([*make, config], log_file=log)
        proc.run([*make, f"-j{os.cpu_count() or 1}", "prepare"], log_file=log)
    before = set(_objects(out))
    with ui.step("tar the prepared build folder"):
        proc.run(["tar", "-cf", root / PREPARED, "-C", out, "."], log_file=log)
    with ui.step(f"make {' '.join(targets)} (host reference)") as detail:
        started = time.monotonic()
        proc.stream([*make, f"-j{os.cpu_count() or 1}", *targets],
                    lambda line: detail(line.strip()) if line.startswith("  ") else None,
                    log_file=log)
        host_s = time.monotonic() - started
    objects = {p: _sha256(out / p) for p in _objects(out) if p not in before}
    if not objects:
        raise KernelBuildError(f"make {' '.join(targets)} produced no object; log: {log}")
    (root / REFERENCE).write_text("".join(f"{h}  {p}\n" for p, h in sorted(objects.items())))
    (root / COMPILER).write_text(kbuild.compiler_version() + "\n")
    return {"objects": len(objects), "host_build_s": round(host_s, 1),
            "compiler": kbuild.compiler_version(),
            "objects_sha256": hashlib.sha256((root / REFERENCE).read_bytes()).hexdigest()}


def _make_disk(image: Path, log: Path) -> None:
    """ext4 image of TREE_ROOT (src/, prepared.tar, reference.sha256), 25 % headroom."""
    used = int(proc.output(["du", "-sb", TREE_ROOT]).split()[0])
    size_mib = used * 5 // 4 // (1 << 20) + 64
    with ui.step(f"mkfs.ext4 -d the tree ({size_mib} MiB)"):
        proc.run(["mkfs.ext4", "-q", "-F", "-L", LABEL, "-d", TREE_ROOT,
                  image, f"{size_mib}M"], log_file=log)


def _objects(build: Path) -> list[str]:
    return sorted(str(p.relative_to(build)) for p in build.rglob("*.o") if p.is_file())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
