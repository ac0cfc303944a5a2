"""Guest kernels built from Debian's linux-source-6.1, kernel_configs/ fragments and the
project's patch series. Steps: fetch (source .deb) → patch (pristine tree per series) →
configure (tinyconfig + kvm_guest.config + fragments, olddefconfig, verify) → build
(bzImage) → install (cache entry). Each cached by a hash of its inputs."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from harness import cache, kconfig, proc, ui
from harness.errors import CommandError, KernelBuildError, KernelSpecError
from harness.paths import PROJECT_ROOT, cache_dir, hash_inputs

CONFIGS = PROJECT_ROOT / "kernel_configs"
PATCHES = CONFIGS / "patches" / "6.1"   # the patch series for linux-source-6.1
SOURCE_PACKAGE = "linux-source-6.1"
STARTING_POINT = "kernel/configs/kvm_guest.config"   # over tinyconfig


def fragment_path(name: str) -> Path:
    """kernel_configs/NAME.config, or a path to a fragment file."""
    path = Path(name)
    if path.suffix == ".config" and path.exists():
        return path
    path = CONFIGS / f"{name}.config"
    if not path.exists():
        known = sorted(p.stem for p in CONFIGS.glob("*.config") if p.stem != "base")
        raise KernelSpecError(f"no kernel config {name!r} (known: {', '.join(known)})")
    return path


def fragments_for(name: str) -> list[tuple[str, str]]:
    """[(fragment file name, text)] for a named config: base first, then the named one."""
    named = fragment_path(name)
    out = [("base.config", (CONFIGS / "base.config").read_text())]
    if named.name != "base.config":
        out.append((named.name, named.read_text()))
    return out


def patch_series() -> list[Path]:
    return sorted(PATCHES.glob("*.patch"))


def series_hash() -> str:
    return hash_inputs([(p.name, p.read_bytes()) for p in patch_series()])[:16]


def source_version() -> str:
    try:
        shown = proc.output(["apt-cache", "show", "--no-all-versions", SOURCE_PACKAGE])
    except CommandError as err:
        raise KernelBuildError(f"apt-cache show {SOURCE_PACKAGE} failed (run 'make setup'): "
                               f"{err}") from err
    match = re.search(r"^Version: (\S+)", shown, re.M)
    if not match:
        raise KernelBuildError(f"no Version for {SOURCE_PACKAGE} in apt-cache")
    return match.group(1)


def compiler_version() -> str:
    return proc.output(["gcc", "--version"]).splitlines()[0]


def _fetch_and_patch(version: str, out: Path) -> None:
    """Pristine linux-source tree with the patch series applied, in ``out/src``."""
    log = out / "source.log"
    with ui.step(f"fetch {SOURCE_PACKAGE} {version}"):
        proc.run(["apt-get", "download", f"{SOURCE_PACKAGE}={version}"], cwd=out,
                 log_file=log)
    deb = next(out.glob("*.deb"))
    with ui.step("unpack kernel source"):
        proc.run(["dpkg-deb", "-x", deb, out / "deb"], log_file=log)
        tarball = next((out / "deb" / "usr" / "src").glob("linux-source-*.tar.xz"))
        proc.run(["tar", "-xf", tarball, "-C", out], log_file=log)
        (out / tarball.name.removesuffix(".tar.xz")).rename(out / "src")
        shutil.rmtree(out / "deb")
        deb.unlink()
    for patch in patch_series():
        with ui.step(f"apply {patch.name}"):
            try:
                proc.run(["patch", "-p1", "--forward", "--batch", "-i", patch],
                         cwd=out / "src", log_file=log)
            except CommandError as err:
                raise KernelBuildError(f"patch {patch.name} does not apply to "
                                       f"{SOURCE_PACKAGE} {version}; log: {log}") from err


def source_tree(version: str) -> Path:
    entry = cache_dir("kernel-src") / f"{SOURCE_PACKAGE}_{version}-p{series_hash()}"
    cache.ensure_entry(entry, lambda out: _fetch_and_patch(version, out))
    return entry / "src"


def configure(src: Path, build: Path, fragments: list[tuple[str, str]], log: Path) -> str:
    """Write and verify build/.config; returns its text."""
    build.mkdir(parents=True, exist_ok=True)
    frag_dir = Path(tempfile.mkdtemp(prefix="frag-", dir=build))
    files = []
    for name, text in fragments:
        (frag_dir / name).write_text(text)
        files.append(frag_dir / name)
    with ui.step(f"configure tinyconfig + kvm_guest + {' + '.join(n for n, _ in fragments)}"):
        proc.run(["make", "-C", src, f"O={build}", "tinyconfig"], log_file=log)
        proc.run([src / "scripts/kconfig/merge_config.sh", "-m", "-O", build,
                  build / ".config", src / STARTING_POINT, *files], cwd=src, log_file=log)
        proc.run(["make", "-C", src, f"O={build}", "olddefconfig"], log_file=log)
    shutil.rmtree(frag_dir)
    final = (build / ".config").read_text()
    misses = kconfig.verify(fragments, final)
    if misses:
        raise KernelBuildError("; ".join(m.describe(src) for m in misses))
    return final


def compile_kernel(src: Path, build: Path, log: Path) -> Path:
    jobs = str(os.cpu_count() or 1)
    with ui.step(f"make -j{jobs} bzImage") as detail:
        proc.stream(["make", "-C", src, f"O={build}", f"-j{jobs}", "bzImage"],
                    lambda line: detail(line.strip()) if line.startswith("  ") else None,
                    log_file=log)
    return build / "arch" / "x86" / "boot" / "bzImage"


def build_key(name: str, version: str) -> tuple[str, list[tuple[str, str]]]:
    fragments = fragments_for(name)
    items = [("source", f"{SOURCE_PACKAGE} {version}".encode()),
             ("patches", series_hash().encode()), ("compiler", compiler_version().encode())]
    items += [(f"fragment/{n}", t.encode()) for n, t in fragments]
    return hash_inputs(items)[:16], fragments


def build_config(name: str) -> tuple[Path, bool]:
    """Cache entry (bzImage, config, build.log, meta.json) for a named config."""
    version = source_version()
    key, fragments = build_key(name, version)
    label = Path(name).stem

    # The log lives outside the entry: a failed build's entry vanishes, its log must not.
    log = cache_dir("logs") / f"kernel-{label}-{key}.log"

    def build(out: Path) -> None:
        log.write_text("")
        meta = {"name": label, "source": f"{SOURCE_PACKAGE} {version}",
                "patch_series": series_hash(), "patches": [p.name for p in patch_series()]}
        _build_into(source_tree(version), out / "build", out, fragments, log, meta)
        shutil.copy(log, out / "build.log")
        shutil.rmtree(out / "build")

    entry = cache_dir("kernels", "config") / f"{label}-{key}"
    return cache.ensure_entry(entry, build)


def _build_into(src: Path, obj: Path, out: Path, fragments: list[tuple[str, str]],
                log: Path, meta: dict) -> None:
    """configure + compile ``src`` in ``obj``; bzImage, config and meta.json into ``out``."""
    try:
        final = configure(src, obj, fragments, log)
        image = compile_kernel(src, obj, log)
    except CommandError as err:
        raise KernelBuildError(f"kernel {meta['name']} ({meta['source']}) build failed "
                               f"({err}); log: {log}") from err
    shutil.copy(image, out / "bzImage")
    (out / "config").write_text(final)
    meta.update(fragments=[n for n, _ in fragments], compiler=compiler_version(),
                config_hash=hashlib.sha256(final.encode()).hexdigest(),
                release=proc.output(["make", "-s", "-C", src, f"O={obj}",
                                     "kernelrelease"]).strip())
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


def build_tree(tree: Path, name: str) -> Path:
    """Out-of-tree, incremental build of a developer's own kernel tree (virtme-ng style):
    the build directory persists in the cache, so an unchanged tree rebuilds in seconds."""
    tree = tree.resolve()
    if not (tree / "Makefile").exists() or not (tree / "Kconfig").exists():
        raise KernelSpecError(f"tree:{tree} is not a kernel source tree (no Makefile/Kconfig)")
    key = hashlib.sha256(str(tree).encode()).hexdigest()[:12]
    build = cache_dir("kernels", "tree", f"{tree.name}-{key}-{Path(name).stem}")
    log = build / "build.log"
    log.write_text("")
    _build_into(tree, build / "obj", build, fragments_for(name), log,
                {"name": Path(name).stem, "source": f"tree:{tree}"})
    return build
