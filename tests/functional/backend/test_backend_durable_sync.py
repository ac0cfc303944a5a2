"""What `--durable` promises, checked at the system-call level on a real backend process:
without `--durable-sync` no acknowledged page waits for the disk (kill -9 safe, not power
loss: test_backend_process.py holds the kill -9 half); with it, every reply that
acknowledges a change follows an fdatasync of that change (power-loss safe)."""

import re
import shutil
import subprocess
import sys

import pytest

from host_backend.client import TmemClient
from host_backend.control import ControlClient
from host_backend.protocol import Status

pytestmark = [pytest.mark.functional,
              pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")]

PUTS = 20
SYNC = re.compile(r"\b(fdatasync|fsync|msync)\(")
REPLY = re.compile(r"\bsendto\(.*\) = 56$")   # a 56-byte frame: a NEW_POOL or PUT reply


def events(tmp_path, sync: bool) -> tuple[list[str], dict]:
    """The backend's sync and reply syscalls, in order, over NEW_POOL + PUTS puts."""
    ctl, trace = tmp_path / "ctl", tmp_path / "strace.log"
    argv = ["strace", "-f", "-qq", "-o", str(trace), "-e", "trace=fdatasync,fsync,msync,sendto",
            sys.executable, "-m", "host_backend", "serve", "--guest", f"vm={tmp_path}/vm.sock",
            "--control", str(ctl), "--durable", str(tmp_path / "db"), "--log-level", "warning"]
    proc = subprocess.Popen(argv + (["--durable-sync"] if sync else []))
    try:
        with ControlClient(str(ctl)).connect(wait=30) as control:
            with TmemClient(str(tmp_path / "vm.sock")) as client:
                client.hello("vm")
                pool = client.new_pool(persistent=True)
                for i in range(PUTS):
                    page = (i.to_bytes(4, "little") + b"sync" * 1023)
                    assert client.put(pool, (i, 0, 0), 0, page) == Status.OK
            stats = control.stats()
            control.call("shutdown")
        proc.wait(30)
    finally:
        proc.kill()
        proc.wait()
    out = []
    for line in trace.read_text().splitlines():
        if SYNC.search(line):
            out.append("sync")
        elif REPLY.search(line):
            out.append("reply")
    return out, stats


def test_durable_sync_flushes_before_every_acknowledgement(tmp_path):
    seq, stats = events(tmp_path, sync=True)
    assert stats["durable"] and stats["durable_sync"]
    replies = [i for i, e in enumerate(seq) if e == "reply"]
    assert len(replies) == 1 + PUTS
    # each acknowledgement follows a flush of its own change: a sync before the first
    # reply and between every two replies (one change per commit here: unbatched puts)
    assert "sync" in seq[:replies[0]]
    assert all("sync" in seq[a + 1:b] for a, b in zip(replies, replies[1:]))


def test_durable_without_sync_never_waits_for_the_disk(tmp_path):
    seq, stats = events(tmp_path, sync=False)
    assert stats["durable"] and not stats["durable_sync"]
    replies = [i for i, e in enumerate(seq) if e == "reply"]
    assert len(replies) == 1 + PUTS
    assert "sync" not in seq[:replies[-1]]   # nothing flushed while pages were acknowledged
