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
