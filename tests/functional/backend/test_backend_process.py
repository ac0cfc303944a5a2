"""The backend as a process: `--durable` restart after SIGKILL, signals, CLI subcommands."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from host_backend import cli
from host_backend.client import TmemClient
from host_backend.control import ControlClient
from host_backend.protocol import Status

pytestmark = pytest.mark.functional


def page(n: int) -> bytes:
    return (n.to_bytes(8, "little") + b"durable page " * 320)[:4096]


def serve(tmp_path, compression: str) -> subprocess.Popen:
    ctl = tmp_path / "ctl"
    if ctl.exists():
        ctl.unlink()
    proc = subprocess.Popen(
        [sys.executable, "-m", "host_backend", "serve", "--guest", f"vm={tmp_path}/vm.sock",
         "--control", str(ctl), "--durable", str(tmp_path / "db"),
         "--compression", compression, "--log-level", "warning"])
    try:
        ControlClient(str(ctl)).connect(wait=20).close()
    except Exception:
        proc.kill()
        raise
    return proc


def test_kill_9_and_restart_loses_nothing(tmp_path):
    proc = serve(tmp_path, "zstd")
    try:
        with TmemClient(str(tmp_path / "vm.sock")) as c:
            c.hello("vm")
            epoch = c.epoch
            per = c.new_pool(persistent=True)
            eph = c.new_pool(persistent=False)
            big = c.new_pool(persistent=True, page_shift=4)
            for i in range(200):
                assert c.put(per, (i % 7, 0, 0), i, page(i)) == Status.OK
            assert c.put_batch(per, [(99, i, page(1000 + i)) for i in range(64)]) == [0] * 64
            assert c.put(per, 5, 0, bytes(4096)) == Status.OK  # same-filled
            assert c.put(big, 1, 0, page(1) * 16) == Status.OK
            assert c.put(eph, 1, 0, page(1)) == Status.OK
            assert c.flush_page(per, (3, 0, 0), 3)  # gone before the crash: stays gone
            assert c.flush_object(per, (1, 0, 0))
            assert c.put(per, (2, 0, 0), 2, page(-2 % 256)) == Status.OK  # a replace
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

        proc = serve(tmp_path, "none")  # another codec: old pages carry their own
        with TmemClient(str(tmp_path / "vm.sock")) as c:
            c.hello("vm")
            assert c.epoch == epoch  # the guest can tell its pages survived
            for i in range(200):
                want = None if i % 7 in (1,) or i == 3 else page(i)
                if i == 2:
                    want = page(-2 % 256)
                assert c.get(per, (i % 7, 0, 0), i) == want, i
            assert c.get_batch(per, [(99, i) for i in range(64)]) == \
                [page(1000 + i) for i in range(64)]
            assert c.get(per, 5, 0) == bytes(4096)
            assert c.get(big, 1, 0) == page(1) * 16
            assert c.get(eph, 1, 0) is None  # ephemeral pools come back empty
            assert c.new_pool() == 3  # pool ids are not reused after a restart
            stats = c.stats()
            assert stats["stored_pages"] == 200 - 29 - 1 + 64 + 2
    finally:
        proc.kill()
        proc.wait(10)


def test_sigterm_stops_cleanly_and_removes_sockets(tmp_path):
    proc = serve(tmp_path, "lz4")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert not os.path.exists(tmp_path / "vm.sock") and not os.path.exists(tmp_path / "ctl")


@pytest.mark.parametrize("attempt", range(3))
def test_sigterm_the_moment_a_socket_exists_still_stops_cleanly(tmp_path, attempt):
    # The harness may signal as soon as the backend's socket appears: the handler must
    # already be there (it once came after start(), and CI caught a -15 exit).
    ctl = tmp_path / "ctl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "host_backend", "serve", "--guest", f"vm={tmp_path}/vm.sock",
         "--control", str(ctl), "--compression", "lz4", "--log-level", "warning"])
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "vm.sock").exists():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.0002)
        # Freeze it mid-start (the guest socket is made before the control socket), so
        # the SIGTERM lands there whatever the machine's load, not a moment later.
        proc.send_signal(signal.SIGSTOP)
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGCONT)
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait(10)
    assert not os.path.exists(tmp_path / "vm.sock") and not ctl.exists()


def test_shutdown_over_the_control_socket(tmp_path):
    proc = serve(tmp_path, "none")
    ControlClient(str(tmp_path / "ctl")).connect().call("shutdown")
    deadline = time.monotonic() + 10
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.returncode == 0


@pytest.mark.parametrize("make", ["missing_dir", "regular_file"])
def test_serve_refuses_bad_socket_paths_in_one_line(tmp_path, make):
    path = tmp_path / "nodir" / "a.sock"
    if make == "regular_file":
        path = tmp_path / "a.sock"
        path.write_text("not a socket")
    res = subprocess.run([sys.executable, "-m", "host_backend", "serve", "--guest",
                          f"a={path}"], capture_output=True, text=True, timeout=30,
                         check=False)
    assert res.returncode == 1
    assert res.stderr.startswith("tmemlab backend: ") and res.stderr.count("\n") == 1
    assert "Traceback" not in res.stderr


def test_cli_socket_dir_add_guest_and_stats(tmp_path, capsys):
    ctl = tmp_path / "ctl"
    proc = subprocess.Popen([sys.executable, "-m", "host_backend", "serve", "--socket-dir",
                             str(tmp_path), "--guests", "a,b", "--control", str(ctl),
                             "--max-pages", "100", "--log-level", "warning"])
    try:
        ControlClient(str(ctl)).connect(wait=20).close()
        assert (tmp_path / "a.sock").exists() and (tmp_path / "b.sock").exists()
        assert cli.main(["add-guest", "--control", str(ctl), "c", str(tmp_path / "c.sock"),
                         "--max-bytes", "1M"]) == 0
        with TmemClient(str(tmp_path / "c.sock")) as c:
            c.hello("c")
            assert c.put(c.new_pool(), 1, 0, page(1)) == Status.OK
        capsys.readouterr()
        assert cli.main(["stats", "--control", str(ctl)]) == 0
        stats = json.loads(capsys.readouterr().out)
        assert stats["guests"]["a"]["max_pages"] == 100
        assert stats["guests"]["c"]["max_bytes"] == 1 << 20
        assert stats["guests"]["c"]["stored_pages"] == 1
        assert cli.main(["shutdown", "--control", str(ctl)]) == 0
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait(10)
