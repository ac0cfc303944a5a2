"""harness.run.backend.HostBackend drives a real backend subprocess over real unix sockets."""

import pytest

from harness.run.backend import HostBackend
from host_backend.client import TmemClient
from host_backend.protocol import Status

pytestmark = pytest.mark.functional

PAGE = bytes(range(256)) * 16


def test_guest_pages_survive_kill_and_restart_when_durable(tmp_path):
    hb = HostBackend({"durable": True, "compression": "lz4"}, tmp_path / "b")
    hb.start()
    try:
        sock = tmp_path / "g.sock"
        hb.add_guest("g1", sock)
        with TmemClient(str(sock)) as client:
            client.hello("g1", reset=True)
            pool = client.new_pool()
            client.put(pool, (1, 0, 0), 7, PAGE)
        row = hb.sample("g1")
        assert row["backend_good_puts"] == 1 and row["backend_stored_pages"] == 1
        hb.kill()
        assert not hb.alive() and hb.sample("g1") == {}
        hb.start()  # same guests, same socket paths
        with TmemClient(str(sock)) as client:
            client.hello("g1")
            assert client.get(pool, (1, 0, 0), 7) == PAGE
    finally:
        hb.stop()
    assert not hb.alive()


def test_quota_zero_refuses_every_put(tmp_path):
    hb = HostBackend({"max_pages": 0}, tmp_path / "b")
    hb.start()
    try:
        hb.add_guest("g1", tmp_path / "g.sock")
        with TmemClient(str(tmp_path / "g.sock")) as client:
            client.hello("g1", reset=True)
            pool = client.new_pool()
            assert client.put(pool, (1, 0, 0), 0, PAGE) == Status.NO_SPACE
        assert hb.sample("g1")["backend_rejects_quota_pages"] == 1
    finally:
        hb.stop()
