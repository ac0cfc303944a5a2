"""A real backend process, SIGSTOPped while the monitor samples (issue 14): the guest's
rows keep their 1 s-class rhythm, the rows during the stall have no backend columns and
are counted as missed, and the backend's columns come back after SIGCONT."""

import os
import signal
import threading
import time

import pytest

from harness.run import monitors
from harness.run.backend import SAMPLE_TIMEOUT_S, HostBackend
from host_backend.client import TmemClient

pytestmark = pytest.mark.functional

PERIOD = 0.25     # guest records every 0.25 s (4x the real rate: a shorter test)
RECORDS = 44      # 11 s of records
STOP_AT, CONT_AT = 2.0, 7.0


class FakeChannel:
    """The guest sampler's SSH stream: one record every PERIOD seconds."""

    def __init__(self):
        self.sent = 0
        self.next_at = time.monotonic()
        self.closed = False

    def recv_ready(self) -> bool:
        return self.sent < RECORDS and time.monotonic() >= self.next_at

    def recv(self, _n: int) -> bytes:
        self.sent += 1
        self.next_at += PERIOD
        return (f"=== {self.sent * PERIOD:.3f}\n--- /proc/vmstat\npswpout {self.sent}\n"
                "=== end\n").encode()

    def exit_status_ready(self) -> bool:
        return self.sent >= RECORDS

    def close(self) -> None:
        self.closed = True


def test_a_stopped_backend_never_delays_guest_samples(tmp_path):
    hb = HostBackend({}, tmp_path / "b")
    hb.start()
    pid = hb._proc.pid
    try:
        hb.add_guest("g1", tmp_path / "g1.sock", swap_mib=16)
        with TmemClient(str(tmp_path / "g1.sock")) as client:
            client.hello("g1", reset=True)
            client.put(client.new_pool(), (1, 0, 0), 0, bytes(range(256)) * 16)
        mon = monitors.Monitor(FakeChannel(), None, None,
                               {"backend": lambda: hb.sample("g1")})  # real defaults
        # when the signals really went: on a busy host a Timer fires late, and the
        # window asserted below is measured from these, not from STOP_AT and CONT_AT
        sent: dict[str, float] = {}

        def send(sig: signal.Signals) -> None:
            if sig == signal.SIGCONT:
                sent[sig.name] = time.time()      # rows before this are in the stall
            os.kill(pid, sig)
            if sig == signal.SIGSTOP:
                sent[sig.name] = time.time()      # answers after this come after SIGCONT

        threading.Timer(STOP_AT, send, (signal.SIGSTOP,)).start()
        cont = threading.Timer(CONT_AT, send, (signal.SIGCONT,))
        cont.start()
        started = time.monotonic()
        mon.start()
        mon.join(timeout=60)
        mon.stop()
        elapsed = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
        hb.stop()
    rows = mon.rows
    walls = [r["wall"] - rows[0]["wall"] for r in rows]
    with_backend = ["backend_good_puts" in r for r in rows]
    # rows taken more than EXTRA_MAX_AGE_S after the backend stopped and before it was
    # continued: no call answered for them (a call in flight at SIGCONT answers after it)
    during = [has for r, has in zip(rows, with_backend)
              if sent["SIGSTOP"] + monitors.EXTRA_MAX_AGE_S + 0.1 < r["wall"] < sent["SIGCONT"]]
    print(f"\nrows {len(rows)} in {elapsed:.1f} s, stalled {CONT_AT - STOP_AT:.0f} s; "
          f"backend columns missing in {mon.missed['backend']} rows "
          f"({len(during)} rows fully inside the stall)")
    assert len(rows) == RECORDS and elapsed < RECORDS * PERIOD + 3
    assert max(b - a for a, b in zip(walls, walls[1:])) < PERIOD + 0.5
    assert all(with_backend[1:int(STOP_AT / PERIOD) - 1])         # before: sampled
    assert during and not any(during)                             # during: missing
    assert all(with_backend[-int(2 / PERIOD):])                   # after SIGCONT: back
    assert mon.missed["backend"] == with_backend.count(False)
    _, summary = monitors.summarize(rows, mon.missed)
    assert summary["backend_samples_missed"] == mon.missed["backend"] >= len(during)
    assert SAMPLE_TIMEOUT_S <= 1.0
