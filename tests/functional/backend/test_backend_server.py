"""A real backend on temp unix sockets: sessions, bad input, concurrency, isolation, control."""

import json
import os
import socket
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host_backend import protocol as p
from host_backend.client import Closed, TmemClient
from host_backend.control import ControlClient, ControlError
from host_backend.protocol import Op, Status
from host_backend.server import BackendConfig, Controller, GuestSpec

pytestmark = pytest.mark.functional


def page(n: int) -> bytes:
    return (n.to_bytes(8, "little") + b"server test page " * 250)[:4096]


@pytest.fixture
def backend(tmp_path):
    cfg = BackendConfig(compression="lz4", control_path=str(tmp_path / "ctl"),
                        guests=[GuestSpec("a", str(tmp_path / "a.sock")),
                                GuestSpec("b", str(tmp_path / "b.sock"), max_pages=4)])
    with Controller(cfg) as ctl:
        ctl.dir = tmp_path
        yield ctl


def connect(backend, name="a", hello=True) -> TmemClient:
    client = TmemClient(str(backend.dir / f"{name}.sock"))
    if hello:
        client.hello(f"test-{name}")
    return client


def test_session_round_trip_unbatched_and_batched(backend):
    with connect(backend) as c:
        pool = c.new_pool(persistent=True)
        assert c.put(pool, 1, 0, page(0)) == Status.OK
        assert c.get(pool, 1, 0) == page(0)
        assert c.put_batch(pool, [(2, i, page(i)) for i in range(50)]) == [0] * 50
        got = c.get_batch(pool, [(2, i) for i in range(52)])
        assert got[:50] == [page(i) for i in range(50)] and got[50:] == [None, None]
        assert c.flush_batch(pool, [(2, i) for i in (0, 0)]) == [Status.OK, Status.NOT_FOUND]
        assert c.flush_object(pool, 2) and not c.flush_object(pool, 2)
        stats = c.stats()
        assert stats["guest"] == "a" and stats["good_puts"] == 51
        assert stats["latency"]["put"]["count"] == 1
        c.destroy_pool(pool)
        hdr, _ = c.request(Op.GET, pool, (1, 0, 0), 0)
        assert hdr.status == Status.BAD_POOL


def test_ops_before_hello_get_not_ready(backend):
    with connect(backend, hello=False) as c:
        hdr, _ = c.request(Op.NEW_POOL, payload=p.new_pool_payload(True))
        assert hdr.status == Status.NOT_READY and hdr.flags == p.FLAG_REPLY
        assert c.hello() == p.VERSION


def test_version_negotiation(backend):
    with connect(backend, hello=False) as c:
        hdr, body = c.request(Op.HELLO, payload=p.hello_payload("x", 7, 9))
        assert hdr.status == Status.BAD_VERSION
        version, min_version, *_ = p.HELLO_REPLY.unpack(body)
        assert (version, min_version) == (p.VERSION, p.MIN_VERSION)
        assert c.hello(lo=1, hi=5) == 1  # the server picks the highest both speak
        hdr, _ = c.request(Op.STATS, version=2)
        assert hdr.status == Status.BAD_VERSION  # frames must carry the negotiated version


def test_unknown_op_bad_flags_and_bad_payloads_get_error_replies(backend):
    with connect(backend) as c:
        pool = c.new_pool()
        assert c.request(99, payload=b"junk")[0].status == Status.UNSUPPORTED
        c.send_raw(p.encode(Op.STATS, 5, flags=0x8000))
        assert c.recv_reply()[0].status == Status.BAD_REQUEST
        assert c.request(Op.PUT, pool, (1, 0, 0), 0, b"short")[0].status == Status.BAD_REQUEST
        assert c.request(Op.GET, pool, (1, 0, 0), 0, b"x")[0].status == Status.BAD_REQUEST
        assert c.request(Op.PUT_BATCH, pool, index=3, payload=b"\0" * 40)[0].status == \
            Status.BAD_REQUEST
        assert c.request(Op.NEW_POOL, payload=p.new_pool_payload(True, 10))[0].status == \
            Status.BAD_PAGE_SIZE
        assert c.request(Op.NEW_POOL, payload=p.NEW_POOL_REQ.pack(p.POOL_SHARED, 0))[0] \
            .status == Status.UNSUPPORTED
        assert c.request(Op.HELLO, payload=b"\0")[0].status == Status.BAD_REQUEST
        assert c.get(pool, 1, 0) is None  # the connection lives on


@pytest.mark.parametrize("garbage", [
    b"GARBAGE!" * 10,
    p.HEADER.pack(p.MAGIC, 1, Op.PUT, 0, 1, 0, 0, 0, 0, 0, 0xFFFFFFF0, 0),
])
def test_unrecoverable_streams_close_that_connection_only(backend, garbage):
    with connect(backend) as other, connect(backend) as bad:
        pool = other.new_pool()
        other.put(pool, 1, 0, page(1))
        bad.send_raw(garbage)
        hdr, _ = bad.recv_reply()  # one error frame, op 0, then the close
        assert hdr.op == 0 and hdr.status == Status.BAD_REQUEST
        with pytest.raises((Closed, ConnectionError)):
            bad.recv_reply()
        assert other.get(pool, 1, 0) == page(1)


def test_truncated_frame_then_disconnect_leaves_the_server_fine(backend):
    with connect(backend) as c:
        c.send_raw(p.encode(Op.PUT, 1, 0, (1, 0, 0), 0, page(0))[:100])
    with connect(backend) as c:
        assert c.stats()["guest"] == "a"


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(junk=st.lists(st.binary(min_size=1, max_size=200), min_size=1, max_size=5),
       prefix_hello=st.booleans())
def test_fuzz_random_bytes_never_hurt_the_server(backend, junk, prefix_hello):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(str(backend.dir / "a.sock"))
    if prefix_hello:
        sock.sendall(p.encode(Op.HELLO, payload=p.hello_payload("fuzz")))
    try:
        for chunk in junk:
            sock.sendall(chunk)
    except OSError:
        pass  # the server may close a garbage stream
    sock.close()
    with connect(backend) as c:
        assert c.stats()["guest"] == "a"


def test_pipelined_frames_are_answered_in_order(backend):
    with connect(backend) as c:
        pool = c.new_pool()
        frames = [p.encode(Op.PUT, 100 + i, pool, (1, 0, 0), i, page(i)) for i in range(30)]
        frames += [p.encode(Op.GET, 200 + i, pool, (1, 0, 0), i) for i in range(30)]
        c.send_raw(b"".join(frames))
        replies = [c.recv_reply() for _ in range(60)]
        assert [h.request_id for h, _ in replies] == [100 + i for i in range(30)] + \
            [200 + i for i in range(30)]
        assert [b for _, b in replies[30:]] == [page(i) for i in range(30)]


def test_several_concurrent_clients(backend):
    errors = []

    def worker(n: int):
        try:
            with connect(backend, "a") as c:
                pool = c.new_pool(persistent=n % 2 == 0)
                for i in range(100):
                    assert c.put(pool, n, i, page(n * 1000 + i)) == Status.OK
                for i in range(100):
                    assert c.get(pool, n, i) == page(n * 1000 + i)
                c.destroy_pool(pool)
        except Exception as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert backend.stats()["guests"]["a"]["stored_pages"] == 0


def test_guests_are_isolated(backend):
    with connect(backend, "a") as a, connect(backend, "b") as b:
        pa = a.new_pool()
        a.put(pa, 1, 0, page(7))
        a.put(pa, 1, 1, page(8))
        pb = b.new_pool()
        assert pa == pb == 0  # pool ids are per guest: the same number, a different pool
        assert b.get(pb, 1, 0) is None
        assert not b.flush_object(pb, 1)
        assert b.request(Op.GET, 5, (1, 0, 0), 0)[0].status == Status.BAD_POOL
        assert b.request(Op.DESTROY_POOL, 5)[0].status == Status.BAD_POOL
        sb = b.stats()
        assert sb["guest"] == "b" and sb["stored_pages"] == 0 and "test-a" not in json.dumps(sb)
        assert b.hello(reset=True)  # b's reset drops b's pools only
        assert a.get(pa, 1, 0) == page(7)
        # b's quota (4 pages) is b's alone.
        pb = b.new_pool()
        assert [b.put(pb, 1, i, page(i)) for i in range(5)] == [0, 0, 0, 0, Status.NO_SPACE]
        assert a.put(pa, 1, 2, page(9)) == Status.OK


def test_reconnect_keeps_the_guests_pages(backend):
    with connect(backend) as c:
        pool = c.new_pool()
        c.put(pool, 1, 0, page(3))
    with connect(backend) as c:  # as QEMU reconnecting after the relay restarted
        assert c.get(pool, 1, 0) == page(3)


def test_control_socket_adds_guests_and_reports_stats(backend):
    with ControlClient(str(backend.dir / "ctl")).connect() as ctl:
        ctl.add_guest("c", str(backend.dir / "c.sock"), max_pages=2, weight=10)
        with connect(backend, "c") as c:
            pool = c.new_pool()
            assert c.put(pool, 1, 0, page(0)) == Status.OK
        stats = ctl.stats()
        guest = stats["guests"]["c"]
        assert guest["stored_pages"] == 1 and guest["max_pages"] == 2
        assert guest["latency"]["put"]["count"] == 1 and guest["socket"].endswith("c.sock")
        assert stats["compression"] == "lz4"
        ctl.call("set_guest", name="c", max_pages=0)
        ctl.call("reset_guest", name="c")
        assert ctl.stats()["guests"]["c"]["stored_pages"] == 0
        with pytest.raises(ControlError, match="already"):
            ctl.add_guest("c", str(backend.dir / "c2.sock"))
        with pytest.raises(ControlError, match="unknown cmd"):
            ctl.call("nope")
        ctl.call("remove_guest", name="c")
        assert not os.path.exists(backend.dir / "c.sock")
        assert "c" not in ctl.stats()["guests"]


@pytest.mark.parametrize("shift", [0, 1, 5, 9])
def test_page_sizes_over_the_socket(backend, shift):
    size = 4096 << shift
    data = os.urandom(size // 2) + bytes(size // 4) + b"\x5a" * (size // 4)
    with connect(backend) as c:
        pool = c.new_pool(persistent=False, page_shift=shift)
        assert c.put(pool, 1, 0, data) == Status.OK
        assert c.put_batch(pool, [(2, 0, data)]) == [Status.OK]
        assert c.get(pool, 1, 0) == data and c.get_batch(pool, [(2, 0)]) == [data]
        assert c.get(pool, 1, 0) is None  # ephemeral: exclusive
