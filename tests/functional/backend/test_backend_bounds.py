"""Default bounds against a real backend process on real unix sockets (issue 14): a guest
added by the runner cannot store more pages than its swap disk has slots, the host cap
refuses with NO_SPACE whoever fills it, and the default cap is in effect and printed."""

import subprocess
import sys

import pytest

from harness.run.backend import HostBackend
from host_backend import options
from host_backend.client import TmemClient
from host_backend.control import ControlClient
from host_backend.protocol import Status

pytestmark = pytest.mark.functional


def page(n: int) -> bytes:
    return (n.to_bytes(8, "little") + b"bounded page" * 342)[:4096]


def fill(sock, name: str, count: int, start: int = 0) -> list[int]:
    with TmemClient(str(sock)) as client:
        client.hello(name, reset=True)
        pool = client.new_pool(persistent=True)
        statuses = [client.put(pool, (i & 0xF, 0, 0), i >> 4, page(start + i))
                    for i in range(count)]
        statuses += client.put_batch(pool, [((i & 0xF, 0, 0), i >> 4, page(start + i))
                                            for i in range(count, count + 8)])
    return statuses


def test_a_guest_cannot_exceed_its_swap_size_by_default(tmp_path):
    hb = HostBackend({}, tmp_path / "b")   # no cap, no max_pages: the defaults
    hb.start()
    try:
        hb.add_guest("g1", tmp_path / "g1.sock", swap_mib=1)   # 1 MiB swap: 256 slots
        statuses = fill(tmp_path / "g1.sock", "g1", 256)
        assert statuses[:256] == [Status.OK] * 256
        assert statuses[256:] == [Status.NO_SPACE] * 8   # the batch, all past the quota
        row = hb.sample("g1")
        assert row["backend_stored_pages"] == 256
        assert row["backend_rejects_quota_pages"] == 8
        stats = hb.guest_stats("g1")
        assert stats["max_pages"] == 256
    finally:
        hb.stop()
    log = (tmp_path / "b" / "backend.log").read_text()
    cap = options.default_cap()
    assert f"host cap {options.human(cap)} ({cap} bytes" in log
    assert hb.bounds() == (f"host cap {options.human(cap)} (default: 20% of host RAM), "
                           "guest quota: its swap size in pages")


def test_serve_without_cap_prints_and_enforces_the_default(tmp_path):
    ctl = tmp_path / "ctl"
    proc = subprocess.Popen([sys.executable, "-m", "host_backend", "serve", "--control",
                             str(ctl)], stderr=subprocess.PIPE, text=True)
    try:
        with ControlClient(str(ctl)).connect(wait=20) as client:
            assert client.stats()["cap_bytes"] == options.default_cap()
            client.call("shutdown")
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
        proc.wait()
    cap = options.default_cap()
    assert (f"host cap {options.human(cap)} ({cap} bytes, default: 20% of host RAM "
            f"{options.human(options.host_ram_bytes())}; --cap to change)") in err


def test_the_default_cap_is_in_effect_in_the_process(tmp_path):
    hb = HostBackend({"max_pages": 0}, tmp_path / "b")
    hb.start()
    try:
        hb.add_guest("g1", tmp_path / "g1.sock", swap_mib=1024)
        assert hb._control.stats()["cap_bytes"] == options.default_cap()
        assert hb.guest_stats("g1")["max_pages"] == 0   # explicit 0 beats the swap quota
        assert fill(tmp_path / "g1.sock", "g1", 1) == [Status.NO_SPACE] * 9
    finally:
        hb.stop()


def test_the_host_cap_gives_no_space_across_guests(tmp_path):
    per_page = 4096 + 160   # a raw persistent page and its charged overhead
    hb = HostBackend({"cap": 100 * per_page}, tmp_path / "b")
    hb.start()
    try:
        for name in ("g1", "g2"):
            hb.add_guest(name, tmp_path / f"{name}.sock", swap_mib=1)  # quota 256 each
        assert fill(tmp_path / "g1.sock", "g1", 60)[:60] == [Status.OK] * 60
        # g1's batch took 8 more: 68 stored; g2 gets the 32 left, then NO_SPACE.
        statuses = fill(tmp_path / "g2.sock", "g2", 40, start=1000)
        assert statuses[:32] == [Status.OK] * 32
        assert set(statuses[32:]) == {Status.NO_SPACE}
        assert hb.sample("g2")["backend_rejects_host_cap"] == len(statuses) - 32
        assert "backend_rejects_quota_pages" not in hb.sample("g2") or \
            hb.sample("g2")["backend_rejects_quota_pages"] == 0
        assert hb._control.stats()["stored_bytes"] <= 100 * per_page
    finally:
        hb.stop()
