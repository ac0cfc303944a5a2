"""libvirt plumbing: one connection per harness run, domains that never outlive it.

Default URI ``qemu:///embed?root=<cache>/libvirt`` runs libvirt's QEMU driver inside this
process (no daemon); it needs an event loop thread. Every domain this harness creates is
registered with the reaper (harness/vm/reaper.py) and destroyed in ``close()``; on start-up
any ``tmemlab-`` domain left by a dead run is destroyed first.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import signal
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from harness.errors import UsageError, VMError
from harness.paths import cache_dir, cache_root
from harness.vm import reaper

# libvirt logs warnings (e.g. "tainted: custom-argv", DAC relabel notes) to stderr; keep
# them in a file. Read once when the library initialises, so set before the import.
os.environ.setdefault("LIBVIRT_LOG_OUTPUTS", f"3:file:{cache_dir('libvirt')}/libvirt-client.log")
import libvirt  # noqa: E402

log = logging.getLogger("tmemlab.vm")
DOMAIN_PREFIX = "tmemlab-"
_event_loop_started = False

# The embedded driver reads <root>/etc/qemu.conf. stdio_handler=file: no virtlogd daemon.
# QEMU runs as the invoking user: the cache lives under $HOME (0700 for root), which
# Debian's default libvirt-qemu user could not even traverse.
# remember_owner=0: no trusted.libvirt.security.* XATTRs on our files. With them, two
# embedded drivers sharing the cache (a second tmemlab uses a private root) find each
# other's timestamps and warn "Invalid XATTR timestamp"; that warning is logged in the
# forked child that relabels files inside QEMU's mount namespace, and libvirt's virFork
# resets a child's logging to stderr, so LIBVIRT_LOG_OUTPUTS cannot keep it out of our
# output. QEMU runs as our own user, so there is no owner to remember anyway.
EMBED_QEMU_CONF = ('stdio_handler = "file"\nuser = "+{uid}"\ngroup = "+{gid}"\n'
                   'remember_owner = 0\n')


def default_uri() -> str:
    return f"qemu:///embed?root={cache_dir('libvirt')}"


def _start_event_loop() -> None:
    global _event_loop_started
    if _event_loop_started:
        return
    libvirt.virEventRegisterDefaultImpl()

    def loop() -> None:
        while True:
            libvirt.virEventRunDefaultImpl()

    threading.Thread(target=loop, name="libvirt-events", daemon=True).start()
    _event_loop_started = True


def _silence_libvirt_stderr() -> None:
    # libvirt prints every error to stderr by default; we report them ourselves.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


def qemu_pid(name: str) -> int | None:
    """PID of the QEMU process running domain ``name`` (works for embed and system URIs)."""
    needle = f"guest={name},".encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                if needle in f.read():
                    return int(entry.name)
        except OSError:
            continue
    return None


def _open(uri: str):
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError as err:
        raise VMError(f"cannot open libvirt {uri}: {err.get_error_message()}") from err


def _open_embed(root: Path):
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "qemu.conf").write_text(
        EMBED_QEMU_CONF.format(uid=os.getuid(), gid=os.getgid()))
    return _open(f"qemu:///embed?root={root}")


def _root_in_use(root: Path) -> bool:
    """True when another process's embedded driver holds ``root`` (its pid-file lock)."""
    pidfile = root / "run" / "qemu" / "driver.pid"
    try:
        fd = os.open(pidfile, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def _reap_private_roots() -> None:
    """Kill QEMUs of private roots whose tmemlab died, then remove those roots. (Only one
    embedded driver may live in a process, so this goes by pid files, not libvirt.)"""
    from harness.vm.leftovers import started_at

    for root in cache_dir("libvirt.d").iterdir():
        if root.name.isdigit() and _alive(int(root.name)):
            try:
                changed = root.stat().st_mtime
            except OSError:
                continue
            if started_at(int(root.name)) <= changed or _root_in_use(root):
                continue  # its tmemlab runs (a pid reused since would have started later)
        for pidfile in (root / "run" / "qemu").glob("*.pid"):
            try:
                pid = int(pidfile.read_text().strip())
            except (OSError, ValueError):
                continue
            if pidfile.name != "driver.pid" and reaper.is_qemu(pid):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def check_local_uri(uri: str) -> None:
    """UsageError for a libvirt URI naming another machine (qemu+ssh://host/system): the
    domain XML names files on this machine (kernel, initramfs, image overlay, swap disk)
    and unix sockets here (tmem backend, console, guest SSH), and the samplers read
    QEMU's /proc entries here; none exist on the remote host. Run tmemlab on each KVM
    host instead (README: CI on bare-metal runners)."""
    host = urlsplit(uri).hostname
    if host and host not in ("localhost", "127.0.0.1", "::1"):
        raise UsageError(f"libvirt URI {uri}: a remote libvirt host ({host}) is not "
                         "supported: guests need this machine's files, sockets and /proc; "
                         "run tmemlab on that host (e.g. a CI runner there, run --shard)")


class Hypervisor:
    """A libvirt connection plus the bookkeeping that guarantees cleanup."""

    def __init__(self, uri: str | None = None):
        if uri:
            check_local_uri(uri)
        _start_event_loop()
        _silence_libvirt_stderr()
        self._private_root: Path | None = None
        self._root: Path | None = None
        if uri:
            self.uri, self.conn = uri, _open(uri)
        else:
            _reap_private_roots()
            root = cache_dir("libvirt")
            # Look and open under one lock: two tmemlab starting together would both find
            # the shared root free, and the loser's failed open leaves its process unable
            # to open any root ("qemu state driver is not active").
            with open(cache_root() / "libvirt.lock", "w") as choosing:
                fcntl.flock(choosing, fcntl.LOCK_EX)
                if _root_in_use(root):
                    # Another tmemlab holds the shared root (an embedded driver locks it,
                    # and a process may host only one): use a private root, removed at
                    # close or, if we die, by the next start-up.
                    root = self._private_root = cache_dir("libvirt.d") / str(os.getpid())
                    reaper.watch_dir(root)
                    reaper.watch_root(root)  # ours alone: before any QEMU it may start
                self.uri, self.conn = f"qemu:///embed?root={root}", _open_embed(root)
            # The shared root only once we hold it: another tmemlab's QEMUs name it too.
            reaper.watch_root(root)
            self._root = root
        self._domains: dict[str, int | None] = {}
        self.destroy_leftovers()

    def versions(self) -> dict:
        lib = self.conn.getLibVersion()
        hv = self.conn.getVersion()

        def fmt(v: int) -> str:
            return f"{v // 1000000}.{v // 1000 % 1000}.{v % 1000}"
        return {"libvirt": fmt(lib), "qemu": fmt(hv), "libvirt_uri": self.uri}

    def destroy_leftovers(self) -> list[str]:
        """Destroy domains a previous, dead tmemlab run left behind."""
        gone = []
        for dom in self.conn.listAllDomains():
            if dom.name().startswith(DOMAIN_PREFIX) and dom.name() not in self._domains:
                pid = qemu_pid(dom.name())
                self._destroy_domain(dom, pid)
                gone.append(dom.name())
        if gone:
            log.warning("destroyed leftover domains: %s", ", ".join(gone))
        return gone

    def start(self, xml: str, name: str) -> libvirt.virDomain:
        try:
            dom = self.conn.createXML(xml, 0)
        except libvirt.libvirtError as err:
            raise VMError(f"cannot start {name}: {err.get_error_message()}") from err
        pid = qemu_pid(name)
        self._domains[name] = pid
        if pid:
            reaper.watch(pid)
        return dom

    def pid(self, name: str) -> int | None:
        return self._domains.get(name)

    def destroy(self, name: str) -> None:
        pid = self._domains.pop(name, None)
        try:
            dom = self.conn.lookupByName(name)
        except libvirt.libvirtError:
            dom = None
        self._destroy_domain(dom, pid)
        if pid:
            reaper.unwatch(pid)

    @staticmethod
    def _destroy_domain(dom, pid: int | None) -> None:
        if dom is not None:
            try:
                dom.destroy()
            except libvirt.libvirtError:
                pass  # already gone
        if pid:  # belt and braces: the process itself must be gone before we return
            for _ in range(50):
                if not _alive(pid):
                    return
                time.sleep(0.1)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        for name in list(self._domains):
            self.destroy(name)
        try:
            self.conn.close()
        except libvirt.libvirtError:
            pass
        if self._root is not None:
            reaper.unwatch_root(self._root)
        if self._private_root is not None:
            shutil.rmtree(self._private_root, ignore_errors=True)
            reaper.unwatch_dir(self._private_root)

    def __enter__(self) -> Hypervisor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
