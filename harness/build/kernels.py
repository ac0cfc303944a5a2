"""Guest kernels: resolve an experiment's kernel spec to a bootable, recorded kernel.

Kinds are data (KERNEL_KINDS); each resolver returns a Kernel. ``distro:`` kernels are
Debian packages fetched with ``apt-get download`` of one exact package into the cache.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness import proc
from harness.build import cache
from harness.errors import CommandError, KernelFetchError
from harness.paths import GUEST_IMAGES, cache_dir


@dataclass(frozen=True)
class DistroKernel:
    metapackage: str
    description: str


DISTRO_KERNELS = {
    "debian-6.1": DistroKernel("linux-image-amd64", "Debian 6.1, FRONTSWAP=y ZSWAP=y"),
    "debian-6.1-cloud": DistroKernel("linux-image-cloud-amd64",
                                     "Debian 6.1 cloud flavour, no FRONTSWAP/ZSWAP"),
    # Debian 12's security archive carries the 6.12 LTS: frontswap left Linux in 6.6
    # (zswap is called directly), zbud and z3fold are gone, zsmalloc is zswap's pool.
    "debian-6.12": DistroKernel("linux-image-6.12-amd64",
                                "Debian 6.12 LTS (bookworm-security), ZSWAP=y, no frontswap"),
    "debian-6.12-cloud": DistroKernel("linux-image-6.12-cloud-amd64",
                                      "Debian 6.12 LTS cloud flavour"),
}


@dataclass
class Kernel:
    spec: str
    kind: str
    release: str                 # uname -r
    vmlinuz: Path
    config: Path
    modules: Path | None         # directory holding lib/modules/<release>, or None if monolithic
    package: str = ""
    version: str = ""
    config_hash: str = ""
    extra: dict = field(default_factory=dict)

    def identity(self) -> dict:
        """What results record about this kernel."""
        data = asdict(self)
        for key in ("vmlinuz", "config", "modules"):
            data[key] = str(data[key]) if data[key] else None
        return data

    def has_option(self, name: str) -> str | None:
        """Value of CONFIG_<name> in this kernel's config ("y", "m", ...) or None."""
        match = re.search(rf"^CONFIG_{name}=(.*)$", self.config.read_text(), re.M)
        return match.group(1) if match else None


def parse_depends(apt_show: str) -> tuple[str, str]:
    """('linux-image-6.1.0-56-amd64', '6.1.192-2') from the metapackage's apt-cache show."""
    match = re.search(r"^Depends:.*?(linux-image-[0-9][^ ,]*) \(= ([^)]+)\)", apt_show, re.M)
    if not match:
        raise KernelFetchError("cannot find the kernel package in the metapackage's Depends")
    return match.group(1), match.group(2)


def resolve_package(metapackage: str) -> tuple[str, str]:
    """The exact image package (and version) the distro metapackage points at today."""
    try:
        shown = proc.output(["apt-cache", "show", "--no-all-versions", metapackage])
    except CommandError as err:
        raise KernelFetchError(f"apt-cache show {metapackage} failed (run 'make setup', "
                               f"which runs apt-get update): {err}") from err
    return parse_depends(shown)


def _module_closure(modules_dep: str, wanted: list[str]) -> list[str]:
    """Relative .ko paths for ``wanted`` module names plus their dependencies, deps first."""
    deps: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}
    for line in modules_dep.splitlines():
        if ":" not in line:
            continue
        path, rest = line.split(":", 1)
        deps[path] = rest.split()
        by_name[Path(path).name.split(".ko")[0].replace("-", "_")] = path
    ordered: list[str] = []

    def visit(path: str) -> None:
        if path in ordered:
            return
        for dep in deps.get(path, []):
            visit(dep)
        ordered.append(path)

    for name in wanted:
        path = by_name.get(name.replace("-", "_"))
        if path:  # built in (or absent) in this flavour: nothing to load
            visit(path)
    return ordered


def read_module_lists() -> tuple[list[str], list[str]]:
    load, ship = [], []
    for line in (GUEST_IMAGES / "initramfs" / "modules.txt").read_text().splitlines():
        key, _, names = line.partition(":")
        if key.strip() == "load":
            load = names.split()
        elif key.strip() == "ship":
            ship = names.split()
    return load, ship


def _extract_distro(package: str, version: str, out: Path) -> None:
    """Download one exact .deb, keep vmlinuz, config and the modules tmemlab needs."""
    with tempfile.TemporaryDirectory(prefix="tmemlab-deb-") as tmp:
        tmpdir = Path(tmp)
        proc.run(["apt-get", "download", f"{package}={version}"], cwd=tmpdir)
        deb = next(tmpdir.glob("*.deb"))
        tree = tmpdir / "tree"
        proc.run(["dpkg-deb", "-x", deb, tree])
        release = package.removeprefix("linux-image-")
        shutil.copy(tree / "boot" / f"vmlinuz-{release}", out / "vmlinuz")
        shutil.copy(tree / "boot" / f"config-{release}", out / "config")
        src = tree / "lib" / "modules" / release
        proc.run(["depmod", "-b", tree, release])
        load, ship = read_module_lists()
        closure = _module_closure((src / "modules.dep").read_text(), load + ship)
        dst = out / "modules" / "lib" / "modules" / release
        for rel in closure:
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src / rel, dst / rel)
        for meta in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
            if (src / meta).exists():
                shutil.copy(src / meta, dst / meta)
        proc.run(["depmod", "-b", out / "modules", release])
        load_paths = _module_closure((dst / "modules.dep").read_text(), load)
        (out / "modules.load").write_text("".join(p + "\n" for p in load_paths))
        (out / "package").write_text(f"{package} {version} {release}\n")


def resolve_distro(name: str) -> Kernel:
    distro = DISTRO_KERNELS.get(name)
    if distro is None:
        raise KernelFetchError(f"unknown distro kernel {name!r} "
                               f"(known: {', '.join(sorted(DISTRO_KERNELS))})")
    package, version = resolve_package(distro.metapackage)
    # The module selection is part of the key: changing modules.txt re-extracts.
    modules_txt = (GUEST_IMAGES / "initramfs" / "modules.txt").read_bytes()
    entry = cache_dir("kernels", "distro") / \
        f"{package}_{version}-{hashlib.sha256(modules_txt).hexdigest()[:8]}"
    _entry, built = cache.ensure_entry(entry, lambda out: _extract_distro(package, version, out))
    release = package.removeprefix("linux-image-")
    config = entry / "config"
    return Kernel(spec=f"distro:{name}", kind="distro", release=release,
                  vmlinuz=entry / "vmlinuz", config=config, modules=entry / "modules",
                  package=package, version=version,
                  config_hash=hashlib.sha256(config.read_bytes()).hexdigest(),
                  extra={"modules_load": str(entry / "modules.load"), "built": built})


def _from_build(spec: str, kind: str, entry: Path) -> Kernel:
    meta = json.loads((entry / "meta.json").read_text())
    source, _, version = meta["source"].partition(" ")
    return Kernel(spec=spec, kind=kind, release=meta["release"], vmlinuz=entry / "bzImage",
                  config=entry / "config", modules=None, package=source, version=version,
                  config_hash=meta["config_hash"],
                  extra={k: meta[k] for k in ("fragments", "patch_series", "patches",
                                              "compiler", "name") if k in meta})


def resolve_config(name: str, _config: str | None) -> Kernel:
    from harness.build import kbuild
    entry, built = kbuild.build_config(name)
    kernel = _from_build(f"config:{name}", "config", entry)
    kernel.extra["built"] = built
    return kernel


def resolve_tree(path: str, config: str | None) -> Kernel:
    from harness.build import kbuild
    entry = kbuild.build_tree(Path(path), config or "baseline")
    return _from_build(f"tree:{path}", "tree", entry)


def resolve_image(path: str, config: str | None) -> Kernel:
    """A prebuilt bzImage; its config is taken from beside it (.config, config, or
    NAME.config) and, when the experiment names a config, verified against it."""
    from harness.build import kbuild, kconfig
    image = Path(path).resolve()
    if not image.is_file():
        raise KernelFetchError(f"image:{path}: no such file")
    candidates = [image.parent / ".config", image.parent / "config",
                  image.with_name(image.name + ".config")]
    found = next((c for c in candidates if c.is_file()), None)
    if config and found is None:
        raise KernelFetchError(f"image:{path}: config {config!r} requested but no .config "
                               "beside the image to verify it against")
    config_hash = ""
    if found is not None:
        text = found.read_text()
        config_hash = hashlib.sha256(text.encode()).hexdigest()
        if config:
            misses = kconfig.verify(kbuild.fragments_for(config), text)
            if misses:
                raise KernelFetchError("; ".join(m.describe() for m in misses))
    return Kernel(spec=f"image:{path}", kind="image", release="unknown", vmlinuz=image,
                  config=found or Path("/dev/null"), modules=None, package="image",
                  version=hashlib.sha256(image.read_bytes()).hexdigest()[:16],
                  config_hash=config_hash, extra={"fragments": [config] if config else []})


KERNEL_KINDS = {"distro": lambda name, _config: resolve_distro(name),
                "config": resolve_config, "tree": resolve_tree, "image": resolve_image}


def resolve(spec: str, config: str | None = None) -> Kernel:
    """``distro:NAME``, ``config:NAME``, ``tree:PATH`` or ``image:PATH``; ``config`` names
    the fragment set for tree:/image: kernels."""
    kind, sep, name = spec.partition(":")
    resolver = KERNEL_KINDS.get(kind)
    if not sep or resolver is None:
        raise KernelFetchError(f"kernel {spec!r}: expected one of "
                               f"{', '.join(k + ':NAME' for k in KERNEL_KINDS)}")
    return resolver(name, config)
