"""One guest connection: frames in, store calls, replies out.

Every request is answered (a per-request `try` turns any exception into an INTERNAL reply);
only a stream that cannot be resynchronised (bad magic, a length over the limit) is closed,
and only that connection. All frames that arrive in one read are handled before one write,
and the store commits durable changes before that write.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
from time import perf_counter_ns

from . import protocol as p
from .protocol import (
    BATCH_REPLY,
    H_FLAGS,
    H_INDEX,
    H_OP,
    H_POOL,
    H_STATUS,
    H_VERSION,
    HEADER,
    MAGIC,
    Op,
    Status,
)
from .stats import HIST_BUCKETS
from .store import BadPageSize, StoreError, TooManyPools, UnknownPool

log = logging.getLogger("host_backend")

OK = int(Status.OK)
NOT_FOUND = int(Status.NOT_FOUND)
BAD_POOL = int(Status.BAD_POOL)
BAD_REQUEST = int(Status.BAD_REQUEST)
_pack_header = HEADER.pack
_pack_breply = BATCH_REPLY.pack
_OP_NAMES = {int(op): op.name.lower() for op in Op}

# Pause reading a guest that sends faster than it reads its replies.
WRITE_HIGH_WATER = 8 * 1024 * 1024


class ConnState(enum.Enum):
    AWAIT_HELLO = "await_hello"
    READY = "ready"
    CLOSED = "closed"


class GuestConnection(asyncio.BufferedProtocol):
    def __init__(self, backend, guest_name: str):
        self.backend = backend
        self.store = backend.store
        self.guest = self.store.guest(guest_name)
        self.hist = backend.latency_for(guest_name)
        self.state = ConnState.AWAIT_HELLO
        self.version = p.VERSION
        self.rx = p.FrameBuffer()
        self.transport = None
        self._handlers = {
            Op.PUT: self._put, Op.GET: self._get, Op.FLUSH_PAGE: self._flush_page,
            Op.PUT_BATCH: self._put_batch, Op.GET_BATCH: self._get_batch,
            Op.FLUSH_BATCH: self._flush_batch, Op.FLUSH_OBJECT: self._flush_object,
            Op.NEW_POOL: self._new_pool, Op.DESTROY_POOL: self._destroy_pool,
            Op.STATS: self._stats, Op.HELLO: self._hello,
        }
        self._handlers = {int(k): v for k, v in self._handlers.items()}
        self._op_hist = {op: self.hist.bucket_list(name) for op, name in _OP_NAMES.items()}

    # --- asyncio callbacks ---------------------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self.backend.connections.add(self)

    def connection_lost(self, exc) -> None:
        self.state = ConnState.CLOSED
        self.backend.connections.discard(self)

    def pause_writing(self) -> None:
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.rx.writable()

    def buffer_updated(self, nbytes: int) -> None:
        rx = self.rx
        frames = rx.written(nbytes)
        if not frames:
            if rx.error is not None and self.state is not ConnState.CLOSED:
                self._fatal(rx.error)
            return
        out = []
        handlers = self._handlers
        op_hist = self._op_hist
        ready = self.state is ConnState.READY
        for hdr, payload in frames:
            t0 = perf_counter_ns()
            op = hdr[H_OP]
            handler = handlers.get(op)
            if handler is None:
                out.append(p.encode_reply(hdr, Status.UNSUPPORTED))
                continue
            if hdr[H_FLAGS] or hdr[H_STATUS]:
                out.append(p.encode_reply(hdr, BAD_REQUEST))
                continue
            if not ready and op != Op.HELLO:
                out.append(p.encode_reply(hdr, Status.NOT_READY))
                continue
            if hdr[H_VERSION] != self.version and op != Op.HELLO:
                out.append(p.encode_reply(hdr, Status.BAD_VERSION))
                continue
            try:
                out.append(handler(hdr, payload))
            except p.BadPayload as exc:
                log.info("guest %s: %s", self.guest.name, exc)
                out.append(p.encode_reply(hdr, BAD_REQUEST))
            except Exception:
                log.exception("guest %s: op %d failed", self.guest.name, op)
                out.append(p.encode_reply(hdr, Status.INTERNAL))
            ready = self.state is ConnState.READY
            bucket = (perf_counter_ns() - t0).bit_length()  # stats.record(), inlined
            op_hist[op][bucket if bucket < HIST_BUCKETS else HIST_BUCKETS - 1] += 1
        if self.store.durable is not None:
            self.store.commit()
        if out:
            self.transport.write(b"".join(out) if len(out) > 1 else out[0])
        del frames  # payload views into rx must go before its next writable()
        if rx.error is not None and self.state is not ConnState.CLOSED:
            self._fatal(rx.error)

    def _fatal(self, exc: p.ProtocolError) -> None:
        """A stream we cannot resynchronise: say so in one frame (op 0), then close."""
        log.warning("guest %s: closing connection: %s", self.guest.name, exc)
        self.transport.write(_pack_header(MAGIC, self.version, 0, p.FLAG_REPLY, 0, 0, 0,
                                          0, 0, 0, 0, int(Status.BAD_REQUEST)))
        self.state = ConnState.CLOSED
        self.transport.close()

    # --- control ops ----------------------------------------------------------------------

    def _hello(self, hdr, payload) -> bytes:
        lo, hi, flags, name = p.parse_hello(payload)
        if flags & ~p.HELLO_RESET:
            return p.encode_reply(hdr, Status.UNSUPPORTED)
        version = min(hi, p.VERSION)
        if version < max(lo, p.MIN_VERSION):
            # Tell the client what we speak, in the same layout as a successful reply.
            return p.encode_reply(hdr, Status.BAD_VERSION, p.HELLO_REPLY.pack(
                p.VERSION, p.MIN_VERSION, p.MAX_BATCH, p.MAX_PAYLOAD, self.store.epoch))
        if flags & p.HELLO_RESET:
            self.store.reset_guest(self.guest)
        self.version = version
        self.guest.client_name = name
        self.state = ConnState.READY
        log.info("guest %s: HELLO from %r, version %d", self.guest.name, name, version)
        return p.encode_reply(hdr, OK, p.HELLO_REPLY.pack(
            version, p.MIN_VERSION, p.MAX_BATCH, p.MAX_PAYLOAD, self.store.epoch))

    def _new_pool(self, hdr, payload) -> bytes:
        flags, shift = p.parse_new_pool(payload)
        if flags & ~p.POOL_PERSISTENT:
            return p.encode_reply(hdr, Status.UNSUPPORTED)  # shared pools: see PROTOCOL.md
        try:
            pool_id = self.store.new_pool(self.guest, bool(flags & p.POOL_PERSISTENT), shift)
        except BadPageSize:
            return p.encode_reply(hdr, Status.BAD_PAGE_SIZE)
        except TooManyPools:
            return p.encode_reply(hdr, Status.TOO_MANY_POOLS)
        return p.encode_reply(hdr[:H_POOL] + (pool_id,) + hdr[H_POOL + 1:], OK)

    def _destroy_pool(self, hdr, payload) -> bytes:
        try:
            self.store.destroy_pool(self.guest, hdr[H_POOL])
        except UnknownPool:
            return p.encode_reply(hdr, BAD_POOL)
        return p.encode_reply(hdr, OK)

    def _stats(self, hdr, payload) -> bytes:
        body = {"guest": self.guest.name, **self.guest.as_dict(),
                "latency": self.hist.as_dict()}
        return p.encode_reply(hdr, OK, json.dumps(body).encode())

    # --- page ops (the hot path) -------------------------------------------------------------

    def _put(self, hdr, payload) -> bytes:
        o1, o2 = hdr[8], hdr[9]
        oid = hdr[7] if not (o1 or o2) else (hdr[7], o1, o2)
        status = self.store.put(self.guest, hdr[H_POOL], oid, hdr[H_INDEX], payload)
        return _pack_header(MAGIC, hdr[1], hdr[2], 1, hdr[4], hdr[5], hdr[6], hdr[7], o1, o2,
                            0, status)

    def _get(self, hdr, payload) -> bytes:
        if payload:
            raise p.BadPayload("GET carries no payload")
        o1, o2 = hdr[8], hdr[9]
        oid = hdr[7] if not (o1 or o2) else (hdr[7], o1, o2)
        try:
            data = self.store.get(self.guest, hdr[H_POOL], oid, hdr[H_INDEX])
        except StoreError:
            data, status = b"", BAD_POOL
        else:
            if data is None:
                data, status = b"", NOT_FOUND
            else:
                status = OK
        return _pack_header(MAGIC, hdr[1], hdr[2], 1, hdr[4], hdr[5], hdr[6], hdr[7], o1, o2,
                            len(data), status) + data

    def _flush_page(self, hdr, payload) -> bytes:
        if payload:
            raise p.BadPayload("FLUSH_PAGE carries no payload")
        o1, o2 = hdr[8], hdr[9]
        oid = hdr[7] if not (o1 or o2) else (hdr[7], o1, o2)
        status = self.store.flush_page(self.guest, hdr[H_POOL], oid, hdr[H_INDEX])
        return _pack_header(MAGIC, hdr[1], hdr[2], 1, hdr[4], hdr[5], hdr[6], hdr[7], o1, o2,
                            0, status)

    def _flush_object(self, hdr, payload) -> bytes:
        if payload:
            raise p.BadPayload("FLUSH_OBJECT carries no payload")
        o1, o2 = hdr[8], hdr[9]
        oid = hdr[7] if not (o1 or o2) else (hdr[7], o1, o2)
        return p.encode_reply(hdr, self.store.flush_object(self.guest, hdr[H_POOL], oid))

    def _put_batch(self, hdr, payload) -> bytes:
        put, guest, pool_id = self.store.put, self.guest, hdr[H_POOL]
        entries = p.parse_batch(payload, hdr[H_INDEX], with_data=True)
        out = [_pack_breply(put(guest, pool_id, oid, index, data), 0)
               for oid, index, data in entries]
        return p.encode_reply(hdr, OK, b"".join(out))

    def _get_batch(self, hdr, payload) -> bytes:
        get, guest, pool_id = self.store.get, self.guest, hdr[H_POOL]
        if pool_id not in guest.pools:
            return p.encode_reply(hdr, BAD_POOL)
        out = []
        for oid, index, _ in p.parse_batch(payload, hdr[H_INDEX], with_data=False):
            data = get(guest, pool_id, oid, index)
            if data is None:
                out.append(_pack_breply(NOT_FOUND, 0))
            else:
                out.append(_pack_breply(OK, len(data)))
                out.append(data)
        return p.encode_reply(hdr, OK, b"".join(out))

    def _flush_batch(self, hdr, payload) -> bytes:
        flush, guest, pool_id = self.store.flush_page, self.guest, hdr[H_POOL]
        entries = p.parse_batch(payload, hdr[H_INDEX], with_data=False)
        out = [_pack_breply(flush(guest, pool_id, oid, index), 0)
               for oid, index, _ in entries]
        return p.encode_reply(hdr, OK, b"".join(out))
