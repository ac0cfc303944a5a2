"""The backend process: one listening unix socket per guest, a control socket, one store.

QEMU's virtio-serial chardev connects to a guest's socket as a client and reconnects, so
the backend may be restarted under a running guest; with `durable_dir` its persistent pages
survive that.

Two ways to run it:
- in-process (tests, the harness): `Controller(BackendConfig(...))` runs a `Backend` on its
  own event loop thread; `start()`, `add_guest()`, `stats()`, `stop()`;
- as a process: `python -m host_backend serve ...` (see cli.py), driven through the control
  socket with `control.ControlClient`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import threading
import time
from dataclasses import dataclass, field
from typing import Self

from .connection import GuestConnection
from .durable import DurableStore
from .options import human
from .stats import LatencyHistogram
from .store import PageStore, StoreError

log = logging.getLogger("host_backend")


class BackendError(Exception):
    """Something the backend was asked to do that it cannot (one line for the user)."""


@dataclass
class GuestSpec:
    name: str
    path: str
    max_pages: int | None = None
    max_bytes: int | None = None
    weight: int = 100


@dataclass
class BackendConfig:
    compression: str = "none"
    cap_bytes: int | None = None
    dedup: bool = False
    durable_dir: str | None = None
    control_path: str | None = None
    guests: list[GuestSpec] = field(default_factory=list)
    durable_sync: bool = False   # fdatasync each commit: acknowledged pages survive power loss


def _unlink_stale_socket(path: str) -> None:
    """Remove a socket file left by an earlier run; refuse to remove anything else."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise BackendError(f"{path} exists and is not a socket")
    os.unlink(path)


class Backend:
    def __init__(self, config: BackendConfig):
        self.config = config
        durable = (DurableStore(config.durable_dir, sync=config.durable_sync)
                   if config.durable_dir else None)
        self.store = PageStore(config.compression, config.cap_bytes, config.dedup, durable)
        self.connections: set[GuestConnection] = set()
        self.listeners: dict[str, tuple[asyncio.AbstractServer, str]] = {}
        self.latency: dict[str, LatencyHistogram] = {}
        self.started = time.time()
        self._control = None
        # Made here, not in start(): a stop requested while start() runs (SIGTERM as soon
        # as the first socket exists) must not be lost. Events bind no loop until awaited.
        self._stopped = asyncio.Event()

    def latency_for(self, name: str) -> LatencyHistogram:
        hist = self.latency.get(name)
        if hist is None:
            hist = self.latency[name] = LatencyHistogram()
        return hist

    async def start(self) -> None:
        for spec in self.config.guests:
            await self.add_guest(spec)
        if self.config.control_path:
            from .control import ControlConnection

            _unlink_stale_socket(self.config.control_path)
            self._control = await asyncio.get_running_loop().create_unix_server(
                lambda: ControlConnection(self), self.config.control_path)
        cap = self.config.cap_bytes
        log.info("backend up: compression=%s dedup=%s cap=%s durable=%s%s",
                 self.config.compression, self.config.dedup,
                 "none" if cap is None else f"{cap} ({human(cap)})", self.config.durable_dir,
                 " (fdatasync per commit)" if self.config.durable_sync else "")

    async def add_guest(self, spec: GuestSpec) -> None:
        if spec.name in self.listeners:
            raise BackendError(f"guest {spec.name!r} already has a socket")
        try:
            self.store.add_guest(spec.name, spec.max_pages, spec.max_bytes, spec.weight)
        except StoreError as exc:
            raise BackendError(str(exc)) from exc
        _unlink_stale_socket(spec.path)
        name = spec.name
        try:
            server = await asyncio.get_running_loop().create_unix_server(
                lambda: GuestConnection(self, name), spec.path)
        except OSError as exc:
            raise BackendError(f"cannot listen on {spec.path}: {exc.strerror}") from exc
        self.listeners[name] = (server, spec.path)
        log.info("guest %s: listening on %s", name, spec.path)

    async def remove_guest(self, name: str, drop: bool = True) -> None:
        entry = self.listeners.pop(name, None)
        if entry is None:
            raise BackendError(f"no guest socket named {name!r}")
        server, path = entry
        server.close()
        for conn in [c for c in self.connections if c.guest.name == name]:
            conn.transport.close()
        await server.wait_closed()
        _unlink_quietly(path)
        if drop:
            self.store.remove_guest(name)
            self.store.commit()
            self.latency.pop(name, None)

    def stats(self) -> dict:
        out = self.store.stats()
        out["uptime_s"] = round(time.time() - self.started, 3)
        out["connections"] = len(self.connections)
        for name, guest in out["guests"].items():
            guest["socket"] = self.listeners[name][1] if name in self.listeners else None
            guest["latency"] = self.latency_for(name).as_dict()
        return out

    def request_stop(self) -> None:
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def close(self) -> None:
        for name in list(self.listeners):
            await self.remove_guest(name, drop=False)
        for conn in list(self.connections):
            conn.transport.close()
        if self._control is not None:
            self._control.close()
            await self._control.wait_closed()
            _unlink_quietly(self.config.control_path)
        if self.store.durable is not None:
            self.store.durable.close()


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class Controller:
    """Runs a Backend on a private event loop thread, for tests and the in-process harness.

        with Controller(BackendConfig(guests=[GuestSpec("a", "/tmp/a.sock")])) as ctl:
            ctl.add_guest(GuestSpec("b", "/tmp/b.sock", max_pages=1000))
            print(ctl.stats()["guests"]["b"]["stored_pages"])
    """

    def __init__(self, config: BackendConfig):
        self.config = config
        self.backend: Backend | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 10.0) -> Controller:
        self._thread = threading.Thread(target=self._run, name="tmem-backend", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise BackendError("backend did not start in time")
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start() or logged; the thread just ends
            if not self._ready.is_set():
                self._error = exc
                self._ready.set()
            else:
                log.exception("backend thread failed")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.backend = Backend(self.config)
        try:
            await self.backend.start()
            self._ready.set()
            await self.backend.wait_stopped()
        finally:
            await self.backend.close()

    def _call(self, coro_or_fn, timeout: float = 10.0):
        if asyncio.iscoroutine(coro_or_fn):
            fut = asyncio.run_coroutine_threadsafe(coro_or_fn, self._loop)
        else:
            async def wrap():
                return coro_or_fn()
            fut = asyncio.run_coroutine_threadsafe(wrap(), self._loop)
        return fut.result(timeout)

    def add_guest(self, spec: GuestSpec) -> None:
        self._call(self.backend.add_guest(spec))

    def remove_guest(self, name: str, drop: bool = True) -> None:
        self._call(self.backend.remove_guest(name, drop))

    def stats(self) -> dict:
        return self._call(self.backend.stats)

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self.backend.request_stop)
        self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
