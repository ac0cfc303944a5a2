"""tmemlab-pools against a real backend process over its unix socket (the guest's port
is a virtio-serial character device; the tool connects to a socket path the same way)."""

import json
import subprocess
import sys

import pytest

from host_backend.control import ControlClient

pytestmark = pytest.mark.functional   # a real backend process


@pytest.fixture
def backend(tmp_path):
    ctl = tmp_path / "ctl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "host_backend", "serve", "--guest", f"p={tmp_path}/p.sock",
         "--control", str(ctl), "--compression", "lz4", "--log-level", "warning"])
    try:
        ControlClient(str(ctl)).connect(wait=20).close()
        yield tmp_path / "p.sock", ControlClient(str(ctl)).connect(wait=5)
    finally:
        proc.kill()
        proc.wait()


def test_every_size_round_trips_verified_and_flushes(tools, backend):
    sock, ctl = backend
    out = subprocess.run([tools / "tmemlab-pools", "--port", str(sock), "--bytes", "2M",
                          "--sizes", "4K,64K,2M", "--batch", "8"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["corrupted_pages"] == 0
    got = {(r["page_size"], r["batched"]): r for r in data["sizes"]}
    assert set(got) == {(s, b) for s in (4096, 65536, 2 << 20) for b in (False, True)}
    assert got[(4096, False)]["pages"] == 512 and got[(2 << 20, True)]["pages"] == 4
    assert got[(4096, True)]["batch"] == 8
    assert got[(2 << 20, True)]["batch"] == 2   # max_payload holds two 2 MiB pages
    for r in data["sizes"]:
        assert r["gone_after_flush"] and r["put"]["pages"] == r["get"]["pages"] == r["pages"]
        assert r["get"]["lat_us"]["p50"] > 0
    # what the backend counted: every page put, found and flushed; nothing left behind
    stats = ctl.stats()["guests"]["p"]
    total = sum(r["pages"] for r in data["sizes"])
    assert stats["good_puts"] == stats["found_gets"] == total
    assert stats["stored_pages"] == 0


def test_bad_arguments_and_a_missing_port(tools, tmp_path):
    for argv in (["--sizes", "3K"], ["--sizes", "4M"], ["--batch", "0"], ["--bytes", "x"]):
        out = subprocess.run([tools / "tmemlab-pools", *argv], capture_output=True, text=True)
        assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, argv
    out = subprocess.run([tools / "tmemlab-pools", "--port", "org.nosuch.0"],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "no virtio-serial port named org.nosuch.0" in out.stderr


def _store_frontswap_pages(sock, count: int) -> None:
    """What a guest's relay does: HELLO, a persistent pool (id 0), pages of object 0."""
    from host_backend import protocol as p
    from host_backend.bench import Conn

    conn = Conn(str(sock))
    conn.sock.sendall(p.encode(p.Op.HELLO, 1, payload=p.hello_payload("a", flags=1)))
    assert conn.reply() == p.Status.OK
    conn.sock.sendall(p.encode(p.Op.NEW_POOL, 2, payload=p.new_pool_payload(True)))
    assert conn.reply() == p.Status.OK
    for i in range(count):
        conn.sock.sendall(p.encode(p.Op.PUT, 3 + i, pool_id=0, index=i,
                                   payload=bytes([i % 251 + 1]) * 4096))
        assert conn.reply() == p.Status.OK
    conn.sock.close()


def test_probe_gets_nothing_from_another_guests_namespace(tools, tmp_path):
    """Guest a holds frontswap pages (pool 0, object 0, indices 0..63); a probe sending
    exactly those ids on guest b's socket gets nothing, on a's own it finds them all (so
    the probe can see a page when one is there)."""
    ctl = tmp_path / "ctl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "host_backend", "serve", "--guest", f"a={tmp_path}/a.sock",
         "--guest", f"b={tmp_path}/b.sock", "--control", str(ctl), "--log-level", "warning"])
    try:
        ControlClient(str(ctl)).connect(wait=20).close()
        _store_frontswap_pages(tmp_path / "a.sock", 64)

        def probe(name):
            out = subprocess.run([tools / "tmemlab-pools", "--port", str(tmp_path / name),
                                  "--probe", "64"], capture_output=True, text=True, timeout=120)
            return out.returncode, json.loads(out.stdout)["probe"]

        status, other = probe("b.sock")
        assert status == 0 and other["gets"] == 32 * 64
        assert other["found"] == 0 and other["bad_pool"] == 32 * 64
        status, own = probe("a.sock")
        assert status == 3 and own["found"] == 64 and own["not_found"] == 0
        stats = ControlClient(str(ctl)).connect(wait=5).stats()["guests"]
        assert stats["a"]["stored_pages"] == 64 and stats["b"]["stored_pages"] == 0
    finally:
        proc.kill()
        proc.wait()
