"""Codec round trips, exact byte offsets (the C relay is written from PROTOCOL.md), and a
fuzz test of the frame parser."""

import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host_backend import protocol as p

u64 = st.integers(0, 2**64 - 1)
u32 = st.integers(0, 2**32 - 1)


def test_header_byte_offsets_match_protocol_md():
    raw = p.encode(p.Op.GET, request_id=0x1122334455667788, pool_id=7, oid=(1, 2, 3),
                   index=0xAABBCCDD, payload=b"xyz", status=-5, flags=0x0102, version=9)
    assert p.HEADER_SIZE == 56
    assert raw[0:4] == b"TMEM"
    assert raw[4] == 9 and raw[5] == p.Op.GET
    assert struct.unpack_from("<H", raw, 6)[0] == 0x0102
    assert struct.unpack_from("<Q", raw, 8)[0] == 0x1122334455667788
    assert struct.unpack_from("<I", raw, 16)[0] == 7
    assert struct.unpack_from("<I", raw, 20)[0] == 0xAABBCCDD
    assert struct.unpack_from("<QQQ", raw, 24) == (1, 2, 3)
    assert struct.unpack_from("<I", raw, 48)[0] == 3
    assert struct.unpack_from("<i", raw, 52)[0] == -5
    assert raw[56:] == b"xyz"


@given(op=st.integers(0, 255), req=u64, pool=u32, oid=st.tuples(u64, u64, u64), index=u32,
       payload=st.binary(max_size=300), status=st.integers(-2**31, 2**31 - 1))
def test_encode_decode_round_trip(op, req, pool, oid, index, payload, status):
    raw = p.encode(op, req, pool, oid, index, payload, status)
    hdr = p.decode_header(raw)
    assert (hdr.op, hdr.request_id, hdr.pool_id, (hdr.oid0, hdr.oid1, hdr.oid2), hdr.index,
            hdr.length, hdr.status) == (op, req, pool, oid, index, len(payload), status)
    frames = p.FrameDecoder().feed(raw)
    assert len(frames) == 1 and bytes(frames[0][1]) == payload


def test_reply_echoes_request_fields():
    req = p.decode_header(p.encode(p.Op.PUT, 42, 3, (9, 8, 7), 5, b"a"))
    rep = p.decode_header(p.encode_reply(tuple(req), p.Status.NO_SPACE))
    assert rep.flags == p.FLAG_REPLY and rep.request_id == 42 and rep.status == p.Status.NO_SPACE
    assert (rep.pool_id, rep.oid0, rep.oid1, rep.oid2, rep.index, rep.length) == (3, 9, 8, 7, 5, 0)


@given(payloads=st.lists(st.binary(max_size=200), min_size=1, max_size=6),
       cuts=st.lists(st.integers(0, 2000), max_size=8))
def test_decoder_is_independent_of_how_the_stream_is_split(payloads, cuts):
    stream = b"".join(p.encode(p.Op.PUT, i, payload=d) for i, d in enumerate(payloads))
    bounds = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    dec = p.FrameDecoder()
    got = []
    for a, b in itertools.pairwise(bounds):
        got += [(h[p.H_REQ], bytes(d)) for h, d in dec.feed(stream[a:b])]
    assert got == list(enumerate(payloads))
    assert dec.buffered == 0 and dec.error is None


def test_bad_magic_sets_error_after_earlier_frames():
    good = p.encode(p.Op.GET, 1)
    dec = p.FrameDecoder()
    frames = dec.feed(good + b"XXXX" + good[4:])
    assert len(frames) == 1
    assert isinstance(dec.error, p.BadMagic)
    assert dec.feed(good) == []  # nothing after a broken stream


def test_length_over_limit_is_refused_before_waiting_for_it():
    dec = p.FrameDecoder()
    hdr = p.HEADER.pack(p.MAGIC, 1, p.Op.PUT, 0, 1, 0, 0, 0, 0, 0, 0xFFFFFFFF, 0)
    assert dec.feed(hdr) == []
    assert isinstance(dec.error, p.FrameTooLarge)
    assert dec.buffered == 0


def test_partial_frame_buffers_only_what_arrived():
    dec = p.FrameDecoder()
    hdr = p.HEADER.pack(p.MAGIC, 1, p.Op.PUT, 0, 1, 0, 0, 0, 0, 0, p.MAX_PAYLOAD, 0)
    assert dec.feed(hdr + b"abc") == []
    assert dec.buffered == p.HEADER_SIZE + 3 and dec.error is None


@settings(max_examples=300)
@given(st.lists(st.one_of(st.binary(max_size=120),
                          st.builds(lambda op, n, d: p.encode(op, 1, payload=d)[:n],
                                    st.integers(0, 20), st.integers(0, 200),
                                    st.binary(max_size=64))),
                max_size=10))
def test_fuzz_decoder_never_raises_and_never_overbuffers(chunks):
    dec = p.FrameDecoder()
    fed = 0
    for chunk in chunks:
        fed += len(chunk)
        for hdr, payload in dec.feed(chunk):
            assert hdr[0] == p.MAGIC and len(payload) == hdr[p.H_LENGTH]
        assert dec.buffered <= fed
        if dec.error is not None:
            assert isinstance(dec.error, p.ProtocolError)


@given(st.lists(st.tuples(st.tuples(u64, u64, u64), u32, st.binary(max_size=64)), max_size=8))
def test_batch_round_trip(entries):
    raw = p.batch_payload(entries)
    parsed = p.parse_batch(memoryview(raw), len(entries), with_data=True)
    want = [(p.oid_key(*o), i, d) for o, i, d in entries]
    assert [(o, i, bytes(d)) for o, i, d in parsed] == want


@pytest.mark.parametrize("raw,count,with_data", [
    (b"\0" * 31, 1, False),  # truncated entry
    (p.batch_payload([((1, 0, 0), 0, b"")]) + b"x", 1, False),  # trailing bytes
    (p.batch_payload([((1, 0, 0), 0, b"data")]), 1, False),  # data on a GET/FLUSH entry
    (p.BATCH_ENTRY.pack(1, 0, 0, 0, 4096), 1, True),  # data runs past the payload
    (b"", p.MAX_BATCH + 1, False),  # too many entries
])
def test_bad_batches_are_rejected_whole(raw, count, with_data):
    with pytest.raises(p.BadPayload):
        p.parse_batch(memoryview(raw), count, with_data)


def test_hello_and_new_pool_payloads():
    assert p.parse_hello(p.hello_payload("vm1", 1, 3, p.HELLO_RESET)) == (1, 3, 1, "vm1")
    with pytest.raises(p.BadPayload):
        p.parse_hello(b"\0" * 3)
    with pytest.raises(p.BadPayload):
        p.parse_hello(p.HELLO_REQ.pack(1, 1, 0) + b"\xff\xfe")
    assert p.parse_new_pool(p.new_pool_payload(True, 9)) == (p.POOL_PERSISTENT, 9)
    with pytest.raises(p.BadPayload):
        p.parse_new_pool(b"\0" * 4)


def test_batch_reply_parse():
    body = p.BATCH_REPLY.pack(0, 3) + b"abc" + p.BATCH_REPLY.pack(1, 0)
    assert p.parse_batch_reply(body, 2) == [(0, b"abc"), (1, b"")]


def _fill(fb: p.FrameBuffer, data: bytes, step: int) -> list:
    """Receive `data` into `fb` as a transport would, at most `step` bytes a read."""
    got = []
    pos = 0
    while pos < len(data):
        view = fb.writable()
        k = min(len(view), step, len(data) - pos)
        view[:k] = data[pos:pos + k]
        pos += k
        got += [(h[p.H_REQ], bytes(d)) for h, d in fb.written(k)]
    return got


@settings(max_examples=100)
@given(sizes=st.lists(st.integers(0, 70000), min_size=1, max_size=6),
       step=st.integers(1, 100000))
def test_frame_buffer_splits_like_the_decoder_and_stays_bounded(sizes, step):
    payloads = [bytes([i]) * n for i, n in enumerate(sizes)]
    stream = b"".join(p.encode(p.Op.PUT, i, payload=d) for i, d in enumerate(payloads))
    fb = p.FrameBuffer(size=4096)
    assert _fill(fb, stream, step) == list(enumerate(payloads))
    assert fb.buffered == 0 and fb.error is None
    biggest = p.HEADER_SIZE + max(sizes)
    assert fb.capacity <= max(4096, 2 * (biggest + fb.MIN_READ))
    fb.writable()
    assert fb.capacity <= 4 * 4096  # shrinks back once the big frames are gone


def test_frame_buffer_refuses_a_huge_length_without_growing():
    fb = p.FrameBuffer(size=65536)
    hdr = p.HEADER.pack(p.MAGIC, 1, p.Op.PUT, 0, 1, 0, 0, 0, 0, 0, 0xFFFFFFF0, 0)
    assert _fill(fb, hdr + b"x" * 200000, 1000) == []
    assert isinstance(fb.error, p.FrameTooLarge) and fb.capacity == 65536
