"""Guest kernels built from Debian's linux-source-<series> (6.1 or 6.12), kernel_configs/
fragments and the project's patch series for that source. Steps: fetch (source .deb) →
patch (pristine tree per series) → check the fragments apply to it → configure (tinyconfig
+ kvm_guest.config + fragments, olddefconfig, verify) → build (bzImage, through ccache when
installed) → install (cache entry). Each cached by a hash of its inputs.

A config is named ``NAME`` (series 6.1, the one the tmem patches exist for) or
``NAME@SERIES``; ``kernel_configs/SERIES/NAME.config``, when present, adds what that
series needs on top of ``NAME.config`` (6.12's zram picks its compressor backends)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from harness import proc, ui
from harness.build import cache, kconfig
from harness.errors import CommandError, KernelBuildError, KernelSpecError
from harness.paths import PROJECT_ROOT, cache_dir, cache_root, hash_inputs

CONFIGS = PROJECT_ROOT / "kernel_configs"
PATCHES = CONFIGS / "patches"      # PATCHES/<series>/*.patch, applied in name order
# Debian 12 carries both: linux-source-6.1 (bookworm) and the 6.12 LTS (bookworm-security).
SERIES = ("6.1", "6.12")
DEFAULT_SERIES = "6.1"
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


def split_spec(spec: str) -> tuple[str, str]:
    """``NAME`` → (NAME, "6.1"); ``NAME@6.12`` → (NAME, "6.12").

    Raises KernelSpecError for a series Debian 12 has no linux-source for."""
    name, sep, series = spec.rpartition("@")
    if not sep:
        return spec, DEFAULT_SERIES
    if series not in SERIES:
        raise KernelSpecError(f"config:{spec}: no source series {series!r} (known: "
                              f"{', '.join(SERIES)}; Debian 12's linux-source-6.1 and "
                              "linux-source-6.12)")
    return name, series


def source_package(series: str = DEFAULT_SERIES) -> str:
    return f"linux-source-{series}"


def fragments_for(name: str, series: str = DEFAULT_SERIES) -> list[tuple[str, str]]:
    """[(fragment file name, text)] for a named config: base first, then the named one,
    then kernel_configs/SERIES/NAME.config when that series has one."""
    named = fragment_path(name)
    out = [("base.config", (CONFIGS / "base.config").read_text())]
    if named.name != "base.config":
        out.append((named.name, named.read_text()))
    extra = CONFIGS / series / named.name
    if extra.is_file():
        out.append((f"{series}/{named.name}", extra.read_text()))
    return out


def patch_series(series: str = DEFAULT_SERIES) -> list[Path]:
    return sorted((PATCHES / series).glob("*.patch"))


def series_hash(series: str = DEFAULT_SERIES) -> str:
    return hash_inputs([(p.name, p.read_bytes()) for p in patch_series(series)])[:16]


def source_version(series: str = DEFAULT_SERIES) -> str:
    package = source_package(series)
    try:
        shown = proc.output(["apt-cache", "show", "--no-all-versions", package])
    except CommandError as err:
        raise KernelBuildError(f"apt-cache show {package} failed (run 'make setup'): "
                               f"{err}") from err
    match = re.search(r"^Version: (\S+)", shown, re.M)
    if not match:
        raise KernelBuildError(f"no Version for {package} in apt-cache")
    return match.group(1)


def compiler_version() -> str:
    return proc.output(["gcc", "--version"]).splitlines()[0]


def _fetch_and_patch(version: str, series: str, out: Path) -> None:
    """Pristine linux-source tree with the series' patches applied, in ``out/src``."""
    log = out / "source.log"
    package = source_package(series)
    with ui.step(f"fetch {package} {version}"):
        proc.run(["apt-get", "download", f"{package}={version}"], cwd=out, log_file=log)
    deb = next(out.glob("*.deb"))
    with ui.step("unpack kernel source"):
        proc.run(["dpkg-deb", "-x", deb, out / "deb"], log_file=log)
        tarball = next((out / "deb" / "usr" / "src").glob("linux-source-*.tar.xz"))
        proc.run(["tar", "-xf", tarball, "-C", out], log_file=log)
        (out / tarball.name.removesuffix(".tar.xz")).rename(out / "src")
        shutil.rmtree(out / "deb")
        deb.unlink()
    for patch in patch_series(series):
        with ui.step(f"apply {patch.name}"):
            try:
                proc.run(["patch", "-p1", "--forward", "--batch", "-i", patch],
                         cwd=out / "src", log_file=log)
            except CommandError as err:
                raise KernelBuildError(f"patch {patch.name} does not apply to "
                                       f"{package} {version}; log: {log}") from err


def source_tree(version: str, series: str = DEFAULT_SERIES) -> Path:
    entry = (cache_dir("kernel-src")
             / f"{source_package(series)}_{version}-p{series_hash(series)}")
    cache.ensure_entry(entry, lambda out: _fetch_and_patch(version, series, out))
    return entry / "src"


def check_applies(fragments: list[tuple[str, str]], src: Path, series: str,
                  label: str) -> None:
    """Fail, before anything is configured, when a fragment asks for a symbol that the
    series' tree does not define (frontswap left Linux in 6.6; the tmem patches exist for
    6.1 only): olddefconfig would drop it without a word, and the verify step after it
    could only say "unset". Raises KernelSpecError, one line naming every such symbol."""
    defined = kconfig.defined_symbols(src)
    missing = kconfig.undefined_requests(fragments, defined)
    if not missing:
        return
    by_fragment: dict[str, list[str]] = {}
    for fragment, symbol in missing:
        by_fragment.setdefault(fragment, []).append(
            f"CONFIG_{symbol} ({_why_undefined(symbol, defined, series)})")
    raise KernelSpecError(f"config:{label}: " + "; ".join(
        f"{fragment} does not apply to {source_package(series)}: {', '.join(symbols)}"
        for fragment, symbols in by_fragment.items()))


def patch_symbols(series: str) -> set[str]:
    """Kconfig symbols the project's patches for ``series`` add (``+config NAME``)."""
    adds = re.compile(r"^\+\s*(?:menu)?config\s+([A-Za-z0-9_]+)\s*$", re.M)
    return {m for p in patch_series(series) for m in adds.findall(p.read_text(errors="replace"))}


def foreign_series(name: str, series: str) -> str | None:
    """The other series whose patches define a symbol config ``name`` asks for, if any:
    such a config cannot apply to ``series`` (known without its source tree)."""
    wanted = {s for _f, t in fragments_for(name, series)
              for s, v in kconfig.parse(t).items() if v != "n"}
    return next((other for other in SERIES
                 if other != series and wanted & (patch_symbols(other) - patch_symbols(series))),
                None)


def _why_undefined(symbol: str, defined: set[str], series: str) -> str:
    if f"{symbol}_DEPRECATED" in defined:
        return f"renamed CONFIG_{symbol}_DEPRECATED in this series"
    for other in SERIES:
        if other != series and symbol in patch_symbols(other):
            return f"defined by kernel_configs/patches/{other}/, which is for {other} only"
    return "no such symbol in this tree's Kconfig"


def _ccache() -> tuple[list[str], dict | None]:
    """make arguments and environment that send the compiler through ccache, when it is
    installed: configs of one source tree share most objects, so a second config compiles
    a fraction of the first. Objects are keyed by content under one base directory (the
    cache root), so builds in different temporary folders hit each other's objects."""
    ccache = shutil.which("ccache")
    if ccache is None:
        return [], None
    env = dict(os.environ, CCACHE_DIR=str(cache_dir("ccache")),
               CCACHE_BASEDIR=str(cache_root()), CCACHE_MAXSIZE="4G")
    return [f"CC={ccache} gcc"], env


def ccache_counts(env: dict | None) -> dict[str, int]:
    """{hits, misses} so far in the project's ccache (``ccache --print-stats``: one
    "counter<TAB>value" per line); {} without ccache."""
    if env is None:
        return {}
    stats = dict(line.split("\t", 1) for line in
                 proc.output(["ccache", "--print-stats"], env=env).splitlines()
                 if "\t" in line)
    count = lambda *names: sum(int(stats.get(n, 0)) for n in names)  # noqa: E731
    return {"hits": count("direct_cache_hit", "preprocessed_cache_hit"),
            "misses": count("cache_miss")}


def configure(src: Path, build: Path, fragments: list[tuple[str, str]], log: Path) -> str:
    """Write and verify build/.config; returns its text."""
    build.mkdir(parents=True, exist_ok=True)
    frag_dir = Path(tempfile.mkdtemp(prefix="frag-", dir=build))
    files = []
    for name, text in fragments:
        (frag_dir / name.replace("/", "-")).write_text(text)
        files.append(frag_dir / name.replace("/", "-"))
    cc, env = _ccache()   # the same CC as the build: Kconfig records the compiler
    with ui.step(f"configure tinyconfig + kvm_guest + {' + '.join(n for n, _ in fragments)}"):
        proc.run(["make", "-C", src, f"O={build}", *cc, "tinyconfig"], env=env, log_file=log)
        proc.run([src / "scripts/kconfig/merge_config.sh", "-m", "-O", build,
                  build / ".config", src / STARTING_POINT, *files], cwd=src, log_file=log)
        proc.run(["make", "-C", src, f"O={build}", *cc, "olddefconfig"], env=env,
                 log_file=log)
    shutil.rmtree(frag_dir)
    final = (build / ".config").read_text()
    misses = kconfig.verify(fragments, final)
    if misses:
        raise KernelBuildError("; ".join(m.describe(src) for m in misses))
    return final


def compile_kernel(src: Path, build: Path, log: Path) -> tuple[Path, dict]:
    """bzImage path and {seconds, ccache: {hits, misses} of this build}."""
    jobs = str(os.cpu_count() or 1)
    cc, env = _ccache()
    before = ccache_counts(env)
    started = time.monotonic()
    with ui.step(f"make -j{jobs} bzImage" + (" (ccache)" if cc else "")) as detail:
        proc.stream(["make", "-C", src, f"O={build}", *cc, f"-j{jobs}", "bzImage"],
                    lambda line: detail(line.strip()) if line.startswith("  ") else None,
                    env=env, log_file=log)
    after = ccache_counts(env)
    stats = {"compile_s": round(time.monotonic() - started, 1), "jobs": int(jobs),
             "ccache": {k: after[k] - before[k] for k in after} if cc else None}
    return build / "arch" / "x86" / "boot" / "bzImage", stats


def build_key(name: str, version: str, series: str = DEFAULT_SERIES
              ) -> tuple[str, list[tuple[str, str]]]:
    fragments = fragments_for(name, series)
    items = [("source", f"{source_package(series)} {version}".encode()),
             ("patches", series_hash(series).encode()),
             ("compiler", compiler_version().encode())]
    items += [(f"fragment/{n}", t.encode()) for n, t in fragments]
    return hash_inputs(items)[:16], fragments


def build_label(name: str, series: str) -> str:
    """Cache and log name: NAME for the default series (as before series existed), else
    NAME@SERIES."""
    stem = Path(name).stem
    return stem if series == DEFAULT_SERIES else f"{stem}@{series}"


def build_config(spec: str) -> tuple[Path, bool]:
    """Cache entry (bzImage, config, build.log, meta.json) for ``NAME`` or
    ``NAME@SERIES``; (entry, True when built now)."""
    name, series = split_spec(spec)
    version = source_version(series)
    key, fragments = build_key(name, version, series)
    label = build_label(name, series)

    # The log lives outside the entry: a failed build's entry vanishes, its log must not.
    log = cache_dir("logs") / f"kernel-{label}-{key}.log"

    def build(out: Path) -> None:
        log.write_text("")
        meta = {"name": Path(name).stem, "series": series,
                "source": f"{source_package(series)} {version}",
                "patch_series": series_hash(series),
                "patches": [p.name for p in patch_series(series)]}
        src = source_tree(version, series)
        check_applies(fragments, src, series, label)
        _build_into(src, out / "build", out, fragments, log, meta)
        shutil.copy(log, out / "build.log")
        shutil.rmtree(out / "build")

    entry = cache_dir("kernels", "config") / f"{label}-{key}"
    return cache.ensure_entry(entry, build)


def _build_into(src: Path, obj: Path, out: Path, fragments: list[tuple[str, str]],
                log: Path, meta: dict) -> None:
    """configure + compile ``src`` in ``obj``; bzImage, config and meta.json into ``out``."""
    try:
        final = configure(src, obj, fragments, log)
        image, stats = compile_kernel(src, obj, log)
    except CommandError as err:
        raise KernelBuildError(f"kernel {meta['name']} ({meta['source']}) build failed "
                               f"({err}); log: {log}") from err
    shutil.copy(image, out / "bzImage")
    (out / "config").write_text(final)
    meta.update(fragments=[n for n, _ in fragments], compiler=compiler_version(),
                config_hash=hashlib.sha256(final.encode()).hexdigest(),
                release=proc.output(["make", "-s", "-C", src, f"O={obj}",
                                     "kernelrelease"]).strip(), build=stats)
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
