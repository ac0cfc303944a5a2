"""The control socket: JSON lines in, one JSON line out per request.

Requests (`{"cmd": NAME, ...}`), answered `{"ok": true, ...}` or `{"ok": false, "error": ...}`:
  ping                                            -> {"ok": true, "epoch": N}
  stats                                           -> {"ok": true, "stats": {...}}
  add_guest    name, path[, max_pages, max_bytes, weight]
  set_guest    name[, max_pages, max_bytes, weight]  (quota and weight changes, live)
  reset_guest  name                               drop all its pools (a guest reboot)
  remove_guest name[, drop=true]                  close its socket (and drop its pages)
  shutdown                                        stop the backend cleanly
Stats are counters summed on demand, so sampling once a second costs little.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from typing import Self

from .server import BackendError, GuestSpec
from .store import StoreError

log = logging.getLogger("host_backend")
MAX_LINE = 64 * 1024


class ControlError(Exception):
    """A control request the backend refused, or a control socket that does not answer."""


def _opt_int(req: dict, key: str):
    value = req.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                              or value < 0):
        raise ControlError(f"{key} must be a non-negative integer")
    return value


def _spec(req: dict, path_required: bool) -> GuestSpec:
    name = req.get("name")
    path = req.get("path")
    if not isinstance(name, str):
        raise ControlError("name (string) is required")
    if path_required and not isinstance(path, str):
        raise ControlError("path (string) is required")
    weight = _opt_int(req, "weight")
    return GuestSpec(name, path or "", _opt_int(req, "max_pages"), _opt_int(req, "max_bytes"),
                     100 if weight is None else weight)


async def _ping(backend, req):
    return {"epoch": backend.store.epoch}


async def _stats(backend, req):
    return {"stats": backend.stats()}


async def _add_guest(backend, req):
    await backend.add_guest(_spec(req, path_required=True))
    return {}


async def _set_guest(backend, req):
    spec = _spec(req, path_required=False)
    backend.store.guest(spec.name)  # must exist
    backend.store.add_guest(spec.name, spec.max_pages, spec.max_bytes, spec.weight)
    return {}


async def _reset_guest(backend, req):
    backend.store.reset_guest(backend.store.guest(str(req.get("name"))))
    backend.store.commit()
    return {}


async def _remove_guest(backend, req):
    await backend.remove_guest(str(req.get("name")), bool(req.get("drop", True)))
    return {}


async def _shutdown(backend, req):
    asyncio.get_running_loop().call_soon(backend.request_stop)
    return {}


COMMANDS = {
    "ping": _ping, "stats": _stats, "add_guest": _add_guest, "set_guest": _set_guest,
    "reset_guest": _reset_guest, "remove_guest": _remove_guest, "shutdown": _shutdown,
}


class ControlConnection(asyncio.Protocol):
    def __init__(self, backend):
        self.backend = backend
        self.buf = bytearray()
        self.transport = None
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.task = asyncio.get_running_loop().create_task(self._serve())

    def connection_lost(self, exc) -> None:
        self.queue.put_nowait(None)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            nl = self.buf.find(b"\n")
            if nl < 0:
                break
            line = bytes(self.buf[:nl])
            del self.buf[:nl + 1]
            self.queue.put_nowait(line)
        if len(self.buf) > MAX_LINE:
            self.transport.write(b'{"ok": false, "error": "request line too long"}\n')
            self.transport.close()

    async def _serve(self) -> None:
        # One request at a time, in order, so replies line up with requests.
        while (line := await self.queue.get()) is not None:
            reply = await self.handle(line)
            if not self.transport.is_closing():
                self.transport.write(json.dumps(reply).encode() + b"\n")

    async def handle(self, line: bytes) -> dict:
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise ControlError("request must be a JSON object")
            cmd = COMMANDS.get(req.get("cmd"))
            if cmd is None:
                raise ControlError(f"unknown cmd {req.get('cmd')!r} "
                                   f"(one of {', '.join(COMMANDS)})")
            return {"ok": True, **await cmd(self.backend, req)}
        except (ValueError, ControlError, BackendError, StoreError) as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:
            log.exception("control request failed")
            return {"ok": False, "error": f"internal error: {exc}"}


class ControlClient:
    """Blocking client for the control socket (the harness's monitor samples stats with it)."""

    def __init__(self, path: str, timeout: float = 10.0):
        self.path = path
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._rfile = None

    def connect(self, wait: float = 0.0) -> ControlClient:
        """Connect, retrying for up to `wait` seconds while the backend starts."""
        deadline = time.monotonic() + wait
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.path)
                break
            except OSError as exc:
                sock.close()
                if time.monotonic() >= deadline:
                    raise ControlError(f"control socket {self.path}: {exc.strerror}") from exc
                time.sleep(0.05)
        self._sock = sock
        self._rfile = sock.makefile("rb")
        return self

    def call(self, cmd: str, **args) -> dict:
        if self._sock is None:
            self.connect()
        try:
            self._sock.sendall(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
            line = self._rfile.readline()
        except OSError as exc:
            self.close()
            raise ControlError(f"control socket {self.path}: {exc}") from exc
        if not line:
            self.close()
            raise ControlError(f"control socket {self.path}: closed")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise ControlError(reply.get("error", "request failed"))
        return reply

    def stats(self) -> dict:
        return self.call("stats")["stats"]

    def add_guest(self, name: str, path: str, max_pages=None, max_bytes=None,
                  weight: int = 100) -> None:
        self.call("add_guest", name=name, path=path, max_pages=max_pages, max_bytes=max_bytes,
                  weight=weight)

    def close(self) -> None:
        if self._sock is not None:
            self._rfile.close()
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Self:
        return self if self._sock is not None else self.connect()

    def __exit__(self, *exc) -> None:
        self.close()
