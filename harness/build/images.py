"""Guest root image and per-kernel initramfs, both cached by a hash of their inputs.

Root image: mmdebstrap (host apt configuration, so no mirror is ever named here) of
bookworm minbase plus guest_images/recipe/packages.txt, the project's static guest tools,
busybox init, and a per-image ed25519 key; packed into ext4 with ``mkfs.ext4 -d``
(no loop mounts). Steps: fetch (mmdebstrap) → configure (files, keys) → build (tools) →
install (mkfs).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness import proc, ui
from harness.build import cache
from harness.build.kernels import Kernel
from harness.errors import CommandError, ImageBuildError
from harness.paths import GUEST_IMAGES, cache_dir, hash_inputs, hash_tree
from harness.vm import leftovers

SUITE = "bookworm"
IMAGE_SIZE = "1G"
BUSYBOX = Path("/bin/busybox")
RECIPE = GUEST_IMAGES / "recipe"
TOOLS = GUEST_IMAGES / "tools"
INITRAMFS = GUEST_IMAGES / "initramfs"


@dataclass
class Image:
    hash: str
    root: Path          # ext4 raw image (read-only base; runs use an overlay)
    key: Path           # ssh private key for root
    host_key: str       # the guest's ssh host key, "ssh-ed25519 AAAA..."
    tools: Path         # the static guest tools, also run on the host (harness/run/dilation.py)
    extra: tuple[str, ...] = ()   # an experiment's `packages:` beyond the recipe's

    def identity(self) -> dict:
        out = {"hash": self.hash, "recipe": f"{SUITE}-minbase", "root": str(self.root)}
        if self.extra:
            out["packages"] = list(self.extra)
        return out


def packages(extra: tuple[str, ...] = ()) -> list[str]:
    """The recipe's packages (guest_images/recipe/packages.txt), then ``extra`` not in it."""
    lines = (RECIPE / "packages.txt").read_text().splitlines()
    base = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    return base + [p for p in extra if p not in base]


def image_hash(extra: tuple[str, ...] = ()) -> str:
    """Everything that changes the image: recipe files, tool sources, busybox, suite, and
    an experiment's extra packages (sorted: their order in the file changes nothing). With
    no extra packages the key is the recipe's alone, so every such experiment shares one
    image, and each package set gets its own, built once."""
    items = hash_tree(RECIPE) + hash_tree(TOOLS)
    items.append(("busybox", BUSYBOX.read_bytes() if BUSYBOX.exists() else b""))
    items.append(("suite", SUITE.encode() + IMAGE_SIZE.encode()))
    if extra:
        items.append(("packages", " ".join(sorted(set(extra))).encode()))
    return hash_inputs(items)[:16]


def unknown_packages(names: list[str]) -> list[str]:
    """Those of ``names`` the host's apt cannot install (mmdebstrap uses the host's apt
    configuration, so what apt-cache knows here is what the image build can fetch).
    ``apt-cache show`` exits 100 for a name with no candidate, virtual-only included."""
    missing = []
    for name in names:
        try:
            proc.run(["apt-cache", "show", "--no-all-versions", "--", name])
        except CommandError:
            missing.append(name)
    return missing


def _mmdebstrap(tree: Path, log: Path, extra: tuple[str, ...]) -> None:
    with ui.step(f"mmdebstrap {SUITE} minbase + {', '.join(packages(extra))}"):
        proc.run(["mmdebstrap", "--variant=minbase", "--mode=root", "--quiet",
                  f"--include={','.join(packages(extra))}",
                  "--dpkgopt=path-exclude=/usr/share/{doc,man,locale,info}/*",
                  SUITE, tree], log_file=log)


def _build_tools(entry: Path, tree: Path, log: Path) -> None:
    """Into the image's /usr/local/bin, and a copy in the cache entry: the same static
    binaries run on the host when a run compares host and guest (harness/run/dilation.py)."""
    with ui.step("build static guest tools"), tempfile.TemporaryDirectory() as out:
        proc.run(["make", "-C", TOOLS, f"O={out}", "all"], log_file=log)
        (entry / "tools").mkdir(exist_ok=True)
        for tool in Path(out).iterdir():
            if tool.is_file() and os.access(tool, os.X_OK):
                shutil.copy2(tool, tree / "usr" / "local" / "bin" / tool.name)
                shutil.copy2(tool, entry / "tools" / tool.name)


def _write_key(entry: Path, tree: Path) -> None:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH)
    (entry / "id_ed25519").write_bytes(private)
    os.chmod(entry / "id_ed25519", 0o600)
    ssh = tree / "root" / ".ssh"
    ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
    (ssh / "authorized_keys").write_bytes(public + b" tmemlab\n")
    os.chmod(ssh / "authorized_keys", 0o600)


def _configure(entry: Path, tree: Path) -> None:
    with ui.step("configure guest (busybox init, rc, sshd, key)"):
        shutil.copy2(BUSYBOX, tree / "bin" / "busybox")
        init = tree / "sbin" / "init"
        if init.exists() or init.is_symlink():
            init.unlink()
        init.symlink_to("/bin/busybox")
        shutil.copy2(RECIPE / "inittab", tree / "etc" / "inittab")
        (tree / "etc" / "tmemlab").mkdir(exist_ok=True)
        shutil.copy2(RECIPE / "rc", tree / "etc" / "tmemlab" / "rc")
        # the kernel-build workload's guest half (harness/run/workloads.py KernelBuild)
        shutil.copy2(RECIPE / "tmemlab-kbuild", tree / "usr" / "local" / "bin" / "tmemlab-kbuild")
        (tree / "lib" / "modules").mkdir(parents=True, exist_ok=True)
        (tree / "etc" / "ssh" / "sshd_config.d" / "tmemlab.conf").write_text(
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\nUseDNS no\n")
        (tree / "etc" / "fstab").write_text("# root and swap are set up by /etc/tmemlab/rc\n")
        _write_key(entry, tree)
        shutil.copy2(tree / "etc" / "ssh" / "ssh_host_ed25519_key.pub",
                     entry / "ssh_host_ed25519_key.pub")
        for junk in ("var/cache/apt", "var/lib/apt/lists"):
            shutil.rmtree(tree / junk, ignore_errors=True)


def _build_image(entry: Path, extra: tuple[str, ...] = ()) -> None:
    log = entry / "build.log"
    # Inside the entry's private build folder: if this builder dies, the folder (with any
    # bind mounts mmdebstrap left in the tree) is known to be stale (harness/vm/leftovers.py).
    tree = entry / "rootfs"
    tree.mkdir()
    try:
        _mmdebstrap(tree, log, extra)
        _build_tools(entry, tree, log)
        _configure(entry, tree)
        with ui.step(f"mkfs.ext4 -d ({IMAGE_SIZE} sparse)"):
            proc.run(["mkfs.ext4", "-q", "-F", "-L", "tmemlab-root", "-d", tree,
                      entry / "root.raw", IMAGE_SIZE], log_file=log)
    except CommandError as err:
        raise ImageBuildError(f"guest image build failed ({err}); log: {log}") from err
    finally:
        # Never shutil.rmtree here: an interrupted mmdebstrap leaves /proc, /sys, /dev/pts
        # and /dev/shm bound into the tree, and removing through them empties the host's;
        # its apt/dpkg children may still run in the tree.
        leftovers.end_users(tree)
        if not leftovers.remove_tree(tree):
            raise ImageBuildError(f"cannot unmount what mmdebstrap mounted under {tree}")


def build_image(extra: tuple[str, ...] = ()) -> tuple[Image, bool]:
    """(image, built now) for the current recipe plus ``extra`` Debian packages; cached
    by image_hash, built if missing. Raises ImageBuildError (exit 125) if it cannot be."""
    extra = tuple(sorted(set(extra)))
    digest = image_hash(extra)
    entry, built = cache.ensure_entry(cache_dir("images") / digest,
                                      lambda e: _build_image(e, extra))
    host_key = (entry / "ssh_host_ed25519_key.pub").read_text().split()
    return Image(hash=digest, root=entry / "root.raw", key=entry / "id_ed25519",
                 host_key=" ".join(host_key[:2]), tools=entry / "tools", extra=extra), built


def _stage_initramfs(kernel: Kernel, stage: Path) -> None:
    for d in ("bin", "proc", "sys", "dev", "newroot"):
        (stage / d).mkdir()
    shutil.copy2(BUSYBOX, stage / "bin" / "busybox")
    shutil.copy2(INITRAMFS / "init", stage / "init")
    if kernel.modules is not None:
        shutil.copytree(kernel.modules / "lib", stage / "lib", symlinks=True)
        shutil.copy2(kernel.extra["modules_load"], stage / "modules.load")


def build_initramfs(kernel: Kernel) -> Path:
    """cpio.gz for ``kernel``, cached by the initramfs recipe and the kernel identity."""
    items = hash_tree(INITRAMFS)
    items += [("busybox", BUSYBOX.read_bytes()),
              ("kernel", f"{kernel.package} {kernel.version} {kernel.config_hash}".encode())]
    if kernel.modules is not None:
        items.append(("modules.load", Path(kernel.extra["modules_load"]).read_bytes()))
    digest = hash_inputs(items)[:16]

    def build(entry: Path) -> None:
        stage = entry / "stage"
        stage.mkdir()
        _stage_initramfs(kernel, stage)
        names = sorted(str(p.relative_to(stage)) for p in stage.rglob("*"))
        cpio = proc.run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"], cwd=stage,
                        input=("\n".join(["."] + names) + "\n").encode()).stdout
        (entry / "initramfs.cpio.gz").write_bytes(_gzip(cpio))
        shutil.rmtree(stage)

    entry, _ = cache.ensure_entry(cache_dir("initramfs") / digest, build)
    return entry / "initramfs.cpio.gz"


def _gzip(data: bytes) -> bytes:
    import gzip
    return gzip.compress(data, compresslevel=6, mtime=0)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
