"""A backend process that exits at once fails HostBackend.start() at once, with its own
last log line, instead of after the whole 20 s wait for its control socket (issue 9)."""

import time

import pytest

from harness.run.backend import BackendFailure, HostBackend

pytestmark = pytest.mark.functional


def test_backend_that_exits_at_once_fails_fast(tmp_path):
    work = tmp_path / "b"
    work.mkdir()
    (work / "durable").write_text("a file where the LMDB directory should be\n")
    backend = HostBackend({"durable": True}, work)
    start = time.monotonic()
    with pytest.raises(BackendFailure) as info:
        backend.start()
    took = time.monotonic() - start
    assert took < 10, f"{took:.1f} s"
    assert "exited with status" in str(info.value) and "\n" not in str(info.value)
    assert not backend.alive()
