"""Sans-I/O codec for the tmem wire protocol (see PROTOCOL.md for the byte layout).

Nothing here touches a socket: `FrameDecoder` turns received bytes into frames and the
`encode_*` helpers turn requests and replies into bytes, so the server, the Python client,
the benchmark and the fuzz tests all share one parser.
"""

from __future__ import annotations

import enum
import struct
from typing import NamedTuple

MAGIC = 0x4D454D54  # b"TMEM" read as a little-endian u32
VERSION = 1
MIN_VERSION = 1

FLAG_REPLY = 0x0001

HEADER = struct.Struct("<IBBHQIIQQQIi")
HEADER_SIZE = HEADER.size  # 56
assert HEADER_SIZE == 56

# Batch entries: request entry header, reply entry header.
BATCH_ENTRY = struct.Struct("<QQQII")  # oid[3], index, length (data follows for PUT)
BATCH_ENTRY_SIZE = BATCH_ENTRY.size  # 32
BATCH_REPLY = struct.Struct("<iI")  # status, length (data follows for a found GET)
BATCH_REPLY_SIZE = BATCH_REPLY.size  # 8

HELLO_REQ = struct.Struct("<HHI")  # min_version, max_version, flags; then guest name
HELLO_REPLY = struct.Struct("<HHIIQ")  # version, min_version, max_batch, max_payload, epoch
HELLO_RESET = 0x0001  # drop every pool this guest holds (a guest boot)
NEW_POOL_REQ = struct.Struct("<II")  # flags, page_shift (log2(page size) - 12)
POOL_PERSISTENT = 0x0001
POOL_SHARED = 0x0002  # accepted by Xen; refused here (it would break isolation)

# Limits. Named so the doc, the server and the tests agree on one number.
MIN_PAGE_SHIFT = 0  # 4 KiB
MAX_PAGE_SHIFT = 9  # 2 MiB
MAX_PAGE_SIZE = 4096 << MAX_PAGE_SHIFT
MAX_BATCH = 1024
MAX_PAYLOAD = 4 * 1024 * 1024 + MAX_BATCH * BATCH_ENTRY_SIZE
MAX_NAME = 64


class Op(enum.IntEnum):
    HELLO = 1
    NEW_POOL = 2
    DESTROY_POOL = 3
    PUT = 4
    GET = 5
    FLUSH_PAGE = 6
    FLUSH_OBJECT = 7
    STATS = 8
    PUT_BATCH = 9
    GET_BATCH = 10
    FLUSH_BATCH = 11


class Status(enum.IntEnum):
    OK = 0
    NOT_FOUND = 1  # get/flush miss; a normal outcome
    NO_SPACE = 2  # quota or host cap: the guest writes the page to its own disk
    BAD_POOL = 3
    BAD_REQUEST = 4  # a field or payload that does not fit the op
    UNSUPPORTED = 5  # unknown opcode or flag
    BAD_VERSION = 6
    NOT_READY = 7  # an op before HELLO
    TOO_MANY_POOLS = 8
    BAD_PAGE_SIZE = 9
    INTERNAL = 10  # the server caught an exception; the connection lives on


class Header(NamedTuple):
    magic: int
    version: int
    op: int
    flags: int
    request_id: int
    pool_id: int
    index: int
    oid0: int
    oid1: int
    oid2: int
    length: int
    status: int


# Tuple positions, for the hot path that indexes the raw struct tuple.
H_VERSION, H_OP, H_FLAGS, H_REQ, H_POOL, H_INDEX = 1, 2, 3, 4, 5, 6
H_LENGTH, H_STATUS = 10, 11


class ProtocolError(Exception):
    """A frame that cannot be parsed; the stream cannot be trusted past it."""


class BadMagic(ProtocolError):
    def __init__(self, magic: int):
        super().__init__(f"bad magic 0x{magic:08x} (expected 0x{MAGIC:08x})")
        self.magic = magic


class FrameTooLarge(ProtocolError):
    def __init__(self, length: int, limit: int):
        super().__init__(f"payload length {length} exceeds limit {limit}")
        self.length = length
        self.limit = limit


class BadPayload(ProtocolError):
    """A payload whose inner structure does not match its op (a recoverable error)."""


def split_frames(buf, pos: int, end: int, max_payload: int):
    """Split buf[pos:end] into complete frames: (frames, new pos, bytes needed, error).

    `frames` holds (header tuple, payload memoryview into buf). `needed` is the size of the
    first incomplete frame (a header until its header is complete). A length is checked
    against `max_payload` as soon as its header is complete, and never used to allocate.
    """
    frames = []
    mv = memoryview(buf)
    unpack = HEADER.unpack_from
    need = HEADER_SIZE
    while end - pos >= HEADER_SIZE:
        hdr = unpack(buf, pos)
        if hdr[0] != MAGIC:
            return frames, pos, need, BadMagic(hdr[0])
        length = hdr[H_LENGTH]
        if length > max_payload:
            return frames, pos, need, FrameTooLarge(length, max_payload)
        start = pos + HEADER_SIZE
        stop = start + length
        if stop > end:
            need = stop - pos
            break
        frames.append((hdr, mv[start:stop]))
        pos = stop
    return frames, pos, need, None


class FrameDecoder:
    """Splits a byte stream fed as bytes objects into frames (clients and tests).

    It buffers only bytes that actually arrived. A stream that cannot be resynchronised
    sets `error` (frames before the bad one are still returned) and every later `feed`
    returns nothing.
    """

    __slots__ = ("_buf", "_need", "error", "max_payload")

    def __init__(self, max_payload: int = MAX_PAYLOAD):
        self._buf = bytearray()
        self._need = HEADER_SIZE
        self.max_payload = max_payload
        self.error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[tuple[tuple, memoryview]]:
        if self.error is not None:
            return []
        buf = self._buf
        if buf:
            buf += data
            if len(buf) < self._need:
                return []
            data = bytes(buf)
            buf.clear()
        frames, pos, self._need, self.error = split_frames(data, 0, len(data),
                                                           self.max_payload)
        if pos < len(data) and self.error is None:
            buf += memoryview(data)[pos:]
        return frames


class FrameBuffer:
    """The server's receive buffer: the transport reads straight into it (no bytes object
    per read) and frames are split in place.

    Protocol: `writable()` gives the memoryview to receive into, `written(n)` says n bytes
    arrived and returns the complete frames, whose payloads are views into the buffer:
    use (or copy) them before the next `writable()`. The buffer grows only by doubling
    when received data fills it, so its size stays within twice what actually arrived
    (and within one maximal frame), whatever a length field claims; once empty, a buffer
    grown past 4x its base size shrinks back.
    """

    __slots__ = ("_buf", "_end", "_start", "base_size", "error", "limit", "max_payload",
                 "need")

    MIN_READ = 16 * 1024

    def __init__(self, size: int = 256 * 1024, max_payload: int = MAX_PAYLOAD):
        self._buf = bytearray(size)
        self._start = 0
        self._end = 0
        self.base_size = size
        self.max_payload = max_payload
        self.limit = max(size, HEADER_SIZE + max_payload + self.MIN_READ)
        self.need = HEADER_SIZE
        self.error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        return self._end - self._start

    @property
    def capacity(self) -> int:
        return len(self._buf)

    def writable(self) -> memoryview:
        start, end, buf = self._start, self._end, self._buf
        if self.error is not None:
            start = end = 0  # a broken stream: whatever else arrives is dropped
        if start == end and len(buf) > 4 * self.base_size:
            # Huge frames (2 MiB pages) have gone: shrink back. Moderately grown buffers
            # stay, or every batch frame a bit over base_size would reallocate.
            buf = self._buf = bytearray(self.base_size)
            start = end = 0
        elif len(buf) - end < self.MIN_READ:
            pending = end - start
            if len(buf) - pending < self.MIN_READ and len(buf) < self.limit:
                grown = bytearray(min(self.limit, 2 * len(buf)))
                grown[:pending] = buf[start:end]
                buf = self._buf = grown
            elif start:
                buf[:pending] = buf[start:end]
            start, end = 0, pending
        self._start, self._end = start, end
        return memoryview(buf)[end:]

    def written(self, n: int) -> list[tuple[tuple, memoryview]]:
        self._end += n
        if self.error is not None or self._end - self._start < self.need:
            return []
        frames, self._start, self.need, self.error = split_frames(
            self._buf, self._start, self._end, self.max_payload)
        if self._start == self._end:
            self._start = self._end = 0
        return frames


def encode(
    op: int,
    request_id: int = 0,
    pool_id: int = 0,
    oid: tuple[int, int, int] = (0, 0, 0),
    index: int = 0,
    payload: bytes = b"",
    status: int = 0,
    flags: int = 0,
    version: int = VERSION,
) -> bytes:
    return (
        HEADER.pack(
            MAGIC, version, op, flags, request_id, pool_id, index,
            oid[0], oid[1], oid[2], len(payload), status,
        )
        + payload
    )


def encode_reply(hdr: tuple, status: int, payload: bytes = b"") -> bytes:
    """A reply echoes the request's header fields, with the REPLY flag and a status."""
    return HEADER.pack(
        MAGIC, hdr[H_VERSION], hdr[H_OP], FLAG_REPLY, hdr[H_REQ], hdr[H_POOL], hdr[H_INDEX],
        hdr[7], hdr[8], hdr[9], len(payload), status,
    ) + payload


def decode_header(data: bytes) -> Header:
    """Decode one header (tests and clients; the server uses FrameDecoder)."""
    if len(data) < HEADER_SIZE:
        raise ProtocolError(f"truncated header: {len(data)} bytes")
    hdr = Header._make(HEADER.unpack_from(data))
    if hdr.magic != MAGIC:
        raise BadMagic(hdr.magic)
    return hdr


# --- payload builders and parsers -------------------------------------------------------


def hello_payload(name: str, min_version: int = MIN_VERSION, max_version: int = VERSION,
                  flags: int = 0) -> bytes:
    raw = name.encode()
    if len(raw) > MAX_NAME:
        raise ValueError(f"guest name longer than {MAX_NAME} bytes")
    return HELLO_REQ.pack(min_version, max_version, flags) + raw


def parse_hello(payload) -> tuple[int, int, int, str]:
    if len(payload) < HELLO_REQ.size or len(payload) > HELLO_REQ.size + MAX_NAME:
        raise BadPayload(f"HELLO payload of {len(payload)} bytes")
    lo, hi, flags = HELLO_REQ.unpack_from(payload)
    try:
        name = bytes(payload[HELLO_REQ.size:]).decode()
    except UnicodeDecodeError as exc:
        raise BadPayload("HELLO name is not UTF-8") from exc
    return lo, hi, flags, name


def new_pool_payload(persistent: bool, page_shift: int = 0) -> bytes:
    return NEW_POOL_REQ.pack(POOL_PERSISTENT if persistent else 0, page_shift)


def parse_new_pool(payload) -> tuple[int, int]:
    if len(payload) != NEW_POOL_REQ.size:
        raise BadPayload(f"NEW_POOL payload of {len(payload)} bytes")
    return NEW_POOL_REQ.unpack_from(payload)


def batch_payload(entries) -> bytes:
    """entries: iterable of (oid tuple, index, data bytes or b'')."""
    parts = []
    for oid, index, data in entries:
        parts.append(BATCH_ENTRY.pack(oid[0], oid[1], oid[2], index, len(data)))
        if data:
            parts.append(data)
    return b"".join(parts)


def oid_key(o0: int, o1: int = 0, o2: int = 0):
    """The store's object key: the first word alone in the common (frontswap) case where
    the other two are zero, which keeps the per-page path free of tuple building."""
    return o0 if not (o1 or o2) else (o0, o1, o2)


def parse_batch(payload: memoryview, count: int, with_data: bool) -> list:
    """[(oid key, index, data memoryview)] for the entries of a batch request.

    Everything is checked before anything is returned, so a bad batch changes nothing.
    """
    if count > MAX_BATCH:
        raise BadPayload(f"batch of {count} entries exceeds {MAX_BATCH}")
    entries = []
    pos = 0
    n = len(payload)
    unpack = BATCH_ENTRY.unpack_from
    for _ in range(count):
        if n - pos < BATCH_ENTRY_SIZE:
            raise BadPayload("truncated batch entry")
        o0, o1, o2, index, length = unpack(payload, pos)
        start = pos + BATCH_ENTRY_SIZE
        if length and not with_data:
            raise BadPayload("batch entry carries data where none is allowed")
        if start + length > n:
            raise BadPayload("batch entry data runs past the payload")
        entries.append((o0 if not (o1 or o2) else (o0, o1, o2), index,
                        payload[start:start + length]))
        pos = start + length
    if pos != n:
        raise BadPayload(f"{n - pos} trailing bytes after {count} batch entries")
    return entries


def parse_batch_reply(payload, count: int) -> list[tuple[int, bytes]]:
    """Client side: [(status, data)] for each entry of a batch reply."""
    out = []
    pos = 0
    for _ in range(count):
        status, length = BATCH_REPLY.unpack_from(payload, pos)
        pos += BATCH_REPLY_SIZE
        out.append((status, bytes(payload[pos:pos + length])))
        pos += length
    if pos != len(payload):
        raise BadPayload("batch reply length mismatch")
    return out
