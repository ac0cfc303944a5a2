"""A blocking guest-side client, as the C relay would speak it (tests, smoke checks, bench).

Each call sends one frame and reads its reply; `send_raw`/`recv_reply` let tests pipeline
or send hand-made bytes.
"""

from __future__ import annotations

import json
import socket
from typing import Self

from . import protocol as p
from .protocol import HEADER_SIZE, Op, Status


class ClientError(Exception):
    def __init__(self, op: str, status: int):
        try:
            name = Status(status).name
        except ValueError:
            name = str(status)
        super().__init__(f"{op} failed: {name}")
        self.op = op
        self.status = status


class Closed(Exception):
    """The server closed the connection."""


class TmemClient:
    def __init__(self, path: str, timeout: float = 10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self._req = 0
        self._buf = bytearray()
        self.epoch = None

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- framing --------------------------------------------------------------------

    def next_id(self) -> int:
        self._req += 1
        return self._req

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _recv_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                raise Closed()
            self._buf += chunk
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def recv_reply(self) -> tuple[p.Header, bytes]:
        hdr = p.decode_header(self._recv_exact(HEADER_SIZE))
        return hdr, self._recv_exact(hdr.length) if hdr.length else b""

    def request(self, op: int, pool_id: int = 0, oid=(0, 0, 0), index: int = 0,
                payload: bytes = b"", version: int = p.VERSION) -> tuple[p.Header, bytes]:
        req = self.next_id()
        self.send_raw(p.encode(op, req, pool_id, oid, index, payload, version=version))
        hdr, body = self.recv_reply()
        if hdr.request_id != req:
            raise AssertionError(f"reply for request {hdr.request_id}, expected {req}")
        return hdr, body

    def _check(self, op: str, hdr: p.Header, ok=(Status.OK,)) -> int:
        if hdr.status not in ok:
            raise ClientError(op, hdr.status)
        return hdr.status

    # --- operations -------------------------------------------------------------------

    def hello(self, name: str = "client", reset: bool = False, lo: int = p.MIN_VERSION,
              hi: int = p.VERSION) -> int:
        flags = p.HELLO_RESET if reset else 0
        hdr, body = self.request(Op.HELLO, payload=p.hello_payload(name, lo, hi, flags))
        self._check("HELLO", hdr)
        version, _, _, _, self.epoch = p.HELLO_REPLY.unpack(body)
        return version

    def new_pool(self, persistent: bool = True, page_shift: int = 0) -> int:
        hdr, _ = self.request(Op.NEW_POOL, payload=p.new_pool_payload(persistent, page_shift))
        self._check("NEW_POOL", hdr)
        return hdr.pool_id

    def destroy_pool(self, pool_id: int) -> None:
        self._check("DESTROY_POOL", self.request(Op.DESTROY_POOL, pool_id)[0])

    def put(self, pool_id: int, oid, index: int, data: bytes) -> int:
        """Status: OK, or NO_SPACE (the guest would write the page to disk)."""
        hdr, _ = self.request(Op.PUT, pool_id, _oid(oid), index, data)
        return self._check("PUT", hdr, (Status.OK, Status.NO_SPACE))

    def get(self, pool_id: int, oid, index: int) -> bytes | None:
        hdr, body = self.request(Op.GET, pool_id, _oid(oid), index)
        self._check("GET", hdr, (Status.OK, Status.NOT_FOUND))
        return body if hdr.status == Status.OK else None

    def flush_page(self, pool_id: int, oid, index: int) -> bool:
        hdr, _ = self.request(Op.FLUSH_PAGE, pool_id, _oid(oid), index)
        return self._check("FLUSH_PAGE", hdr, (Status.OK, Status.NOT_FOUND)) == Status.OK

    def flush_object(self, pool_id: int, oid) -> bool:
        hdr, _ = self.request(Op.FLUSH_OBJECT, pool_id, _oid(oid))
        return self._check("FLUSH_OBJECT", hdr, (Status.OK, Status.NOT_FOUND)) == Status.OK

    def stats(self) -> dict:
        hdr, body = self.request(Op.STATS)
        self._check("STATS", hdr)
        return json.loads(body)

    def put_batch(self, pool_id: int, pages) -> list[int]:
        """pages: [(oid, index, data)] -> a status per page."""
        entries = [(_oid(o), i, d) for o, i, d in pages]
        hdr, body = self.request(Op.PUT_BATCH, pool_id, index=len(entries),
                                 payload=p.batch_payload(entries))
        self._check("PUT_BATCH", hdr)
        return [s for s, _ in p.parse_batch_reply(body, len(entries))]

    def get_batch(self, pool_id: int, keys) -> list[bytes | None]:
        entries = [(_oid(o), i, b"") for o, i in keys]
        hdr, body = self.request(Op.GET_BATCH, pool_id, index=len(entries),
                                 payload=p.batch_payload(entries))
        self._check("GET_BATCH", hdr)
        return [d if s == Status.OK else None for s, d in p.parse_batch_reply(body, len(keys))]

    def flush_batch(self, pool_id: int, keys) -> list[int]:
        entries = [(_oid(o), i, b"") for o, i in keys]
        hdr, body = self.request(Op.FLUSH_BATCH, pool_id, index=len(entries),
                                 payload=p.batch_payload(entries))
        self._check("FLUSH_BATCH", hdr)
        return [s for s, _ in p.parse_batch_reply(body, len(keys))]


def _oid(oid) -> tuple[int, int, int]:
    if isinstance(oid, int):
        return (oid, 0, 0)
    return tuple(oid) + (0,) * (3 - len(oid))
