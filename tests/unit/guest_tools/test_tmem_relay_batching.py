"""tmem-relay batching (--pack): request frames packed into PUT_BATCH/GET_BATCH, the real
backend's batch replies split back into one reply per request, with each request's id.

The backend is the real one (``host_backend serve`` as a process on a unix socket); the relay
is the real binary, through its --pack test hook, which runs the same pack/split code as the
pump. Batch ids are deterministic per run, so a second --pack of the same requests splits
the replies that the backend gave to the first.
"""

import subprocess
import sys

import pytest

from host_backend import protocol as p
from host_backend.client import TmemClient
from host_backend.control import ControlClient


def page(n: int) -> bytes:
    return (n.to_bytes(4, "little") * 1024)


def request(op: int, rid: int, pool: int, offset: int, payload: bytes = b"") -> bytes:
    return p.encode(op, request_id=rid, pool_id=pool, index=offset >> 4,
                    oid=(offset & 0xF, 0, 0), payload=payload)


def frames(data: bytes) -> list[tuple[p.Header, bytes]]:
    out, pos = [], 0
    while pos < len(data):
        hdr = p.decode_header(data[pos:pos + p.HEADER_SIZE])
        end = pos + p.HEADER_SIZE + hdr.length
        out.append((hdr, data[pos + p.HEADER_SIZE:end]))
        pos = end
    return out


def pack(tools, data: bytes, batch: int) -> bytes:
    return subprocess.run([str(tools / "tmem-relay"), "--pack", "--batch", str(batch)],
                          input=data, capture_output=True, check=True, timeout=10).stdout


@pytest.fixture
def backend(tmp_path):
    ctl = tmp_path / "ctl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "host_backend", "serve", "--guest", f"vm={tmp_path}/vm.sock",
         "--control", str(ctl), "--log-level", "warning"])
    try:
        ControlClient(str(ctl)).connect(wait=20).close()
        yield tmp_path / "vm.sock"
    finally:
        proc.kill()
        proc.wait(10)


def roundtrip(client: TmemClient, packed: bytes) -> bytes:
    """Send the packed frames as the relay would; the backend's replies, in order."""
    client.send_raw(packed)
    out = b""
    for _ in frames(packed):
        hdr, payload = client.recv_reply()
        out += p.HEADER.pack(*hdr) + payload
    return out


def test_puts_and_gets_pack_into_batches_and_replies_split_per_request(tools, backend):
    with TmemClient(str(backend)) as c:
        c.hello("vm", reset=True)
        pool = c.new_pool(persistent=True)
        puts = b"".join(request(p.Op.PUT, 100 + i, pool, i, page(i)) for i in range(10))
        gets = b"".join(request(p.Op.GET, 200 + n, pool, off) for n, off in enumerate((3, 9, 4000)))
        flush = request(p.Op.FLUSH_PAGE, 1 << 62 | 7, pool, 5)
        stream = puts + flush + gets

        packed = pack(tools, stream, batch=4)
        sent = frames(packed)
        # 10 PUTs at batch 4 → 4+4+2, the FLUSH as is, 3 GETs → one GET_BATCH
        assert [(h.op, h.index) for h, _ in sent] == [
            (p.Op.PUT_BATCH, 4), (p.Op.PUT_BATCH, 4), (p.Op.PUT_BATCH, 2),
            (p.Op.FLUSH_PAGE, 0), (p.Op.GET_BATCH, 3)]
        assert len(packed) < len(stream)

        replies = roundtrip(c, packed)
        split = frames(pack(tools, stream + replies, batch=4)[len(packed):])
    by_id = {h.request_id: (h, body) for h, body in split}
    assert sorted(by_id) == sorted([100 + i for i in range(10)] + [1 << 62 | 7, 200, 201, 202])
    for i in range(10):
        h, body = by_id[100 + i]
        assert (h.op, h.status, h.flags, body) == (p.Op.PUT, p.Status.OK, p.FLAG_REPLY, b"")
    assert by_id[200][0].op == p.Op.GET and by_id[200][1] == page(3)
    assert by_id[201][1] == page(9)
    assert by_id[202][0].status == p.Status.NOT_FOUND and by_id[202][1] == b""
    assert by_id[1 << 62 | 7][0].op == p.Op.FLUSH_PAGE


def test_batch_one_sends_every_frame_as_it_came(tools):
    stream = b"".join(request(p.Op.PUT, i, 1, i, page(i)) for i in range(5))
    assert pack(tools, stream, batch=1) == stream


def test_a_refused_batch_answers_every_request_with_its_status(tools):
    stream = b"".join(request(p.Op.PUT, 10 + i, 1, i, page(i)) for i in range(3))
    packed = frames(pack(tools, stream, batch=8))
    assert len(packed) == 1
    batch_id = packed[0][0].request_id
    refused = p.encode(p.Op.PUT_BATCH, request_id=batch_id, pool_id=1,
                       status=p.Status.BAD_POOL, flags=p.FLAG_REPLY)
    out = frames(pack(tools, stream + refused, batch=8))[1:]
    assert [(h.request_id, h.op, h.status) for h, _ in out] == [
        (10 + i, p.Op.PUT, p.Status.BAD_POOL) for i in range(3)]


def test_a_batch_reply_matching_nothing_is_dropped(tools):
    stray = p.encode(p.Op.PUT_BATCH, request_id=3 << 62 | 99, pool_id=1,
                     flags=p.FLAG_REPLY, payload=p.BATCH_REPLY.pack(0, 0))
    plain = p.encode(p.Op.PUT, request_id=5, flags=p.FLAG_REPLY)
    out = pack(tools, stray + plain, batch=8)
    assert [h.request_id for h, _ in frames(out)] == [5]
