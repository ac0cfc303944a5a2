"""A stalled extra source (the backend's stats) never delays the guest's rows: it is
polled on its own thread, rows take its latest fresh result or go without its columns,
and the run summary counts those rows (issue 14)."""

import threading
import time

from harness.run import monitors


class FakeChannel:
    """The sampler stream: one record every ``period`` seconds, ``count`` of them."""

    def __init__(self, count: int, period: float):
        self.count, self.period = count, period
        self.sent = 0
        self.next_at = time.monotonic()
        self.closed = False

    def recv_ready(self) -> bool:
        return self.sent < self.count and time.monotonic() >= self.next_at

    def recv(self, _n: int) -> bytes:
        self.sent += 1
        self.next_at += self.period
        return (f"=== {100 + self.sent * self.period:.3f}\n--- /proc/vmstat\n"
                f"pswpout {self.sent}\n=== end\n").encode()

    def exit_status_ready(self) -> bool:
        return self.sent >= self.count

    def close(self) -> None:
        self.closed = True


def run_monitor(source, count=30, period=0.1, **kw) -> monitors.Monitor:
    mon = monitors.Monitor(FakeChannel(count, period), None, None, {"backend": source},
                           extra_interval=0.1, extra_max_age=0.3, **kw)
    mon.start()
    mon.join(timeout=30)
    mon.stop()
    return mon


def test_a_blocked_source_costs_its_columns_not_the_rows():
    stalled = threading.Event()
    counter = iter(range(10**6))

    def source():
        if stalled.is_set():
            time.sleep(1.0)   # a stopped backend: the call blocks until its timeout
            return {}
        return {"backend_good_puts": next(counter)}

    threading.Timer(1.0, stalled.set).start()
    started = time.monotonic()
    mon = run_monitor(source, count=30, period=0.1)
    assert len(mon.rows) == 30
    assert time.monotonic() - started < 4.5  # 3 s of records, never 1 s per row
    gaps = [b["wall"] - a["wall"] for a, b in zip(mon.rows, mon.rows[1:])]
    assert max(gaps) < 0.5
    with_backend = ["backend_good_puts" in r for r in mon.rows]
    assert with_backend[2] and not any(with_backend[16:])
    assert mon.missed["backend"] == with_backend.count(False) >= 14
    deltas, summary = monitors.summarize(mon.rows, mon.missed)
    assert summary["backend_samples_missed"] == mon.missed["backend"]
    assert summary["samples"] == 30
    assert "backend_good_puts" in deltas  # absent from the last rows, still counted


def test_summarize_counts_backend_counters_missing_from_the_first_and_last_rows():
    rows = [{"t": 0, "pswpout": 0},
            {"t": 1, "pswpout": 5, "backend_good_puts": 10, "backend_stored_pages": 10},
            {"t": 2, "pswpout": 9, "backend_good_puts": 30, "backend_stored_pages": 25},
            {"t": 3, "pswpout": 12}]
    deltas, summary = monitors.summarize(rows, {"backend": 2})
    assert deltas == {"pswpout": 12, "backend_good_puts": 20}
    assert summary["backend_stored_pages_end"] == 25
    assert summary["backend_samples_missed"] == 2 and summary["samples"] == 4
    assert monitors.summarize([], {"backend": 3}) == ({}, {"backend_samples_missed": 3})


def test_poller_latest_is_fresh_or_none():
    poller = monitors.Poller("x", lambda: {"a": 1}, interval=0.05)
    assert poller.latest(1.0) is None
    poller.start()
    time.sleep(0.2)
    assert poller.latest(1.0) == {"a": 1}
    poller.stop()
    poller.join(1)
    time.sleep(0.15)
    assert poller.latest(0.1) is None


def test_a_slow_answer_holds_from_when_it_came_not_from_when_it_was_asked():
    # A backend SIGSTOPped at 1.5 and continued at 4.98: the call asked at 4.0 waits for
    # it and answers at 5.0 with its numbers of 5.0; rows taken before then must not
    # carry them. A prompt answer holds from when it was asked.
    poller = monitors.Poller("x", dict, interval=1.0)
    poller.record(1.0, 1.002, {"v": 1})
    poller.record(2.0, 3.0, {})             # timed out
    poller.record(3.0, 4.0, {})
    poller.record(4.0, 5.0, {"v": 5})       # slow: answered when continued
    poller.record(6.0, 6.05, {"v": 6})      # prompt (within PROMPT_S)
    assert poller.at(1.001, 2.0) == {"v": 1}   # a prompt answer, from when asked
    assert poller.at(2.9, 2.0) == {"v": 1}
    assert poller.at(3.1, 2.0) is None
    assert poller.at(4.99, 2.0) is None        # was: the 5.0 numbers, 0.99 s early
    assert poller.at(5.0, 2.0) == {"v": 5}
    assert poller.at(5.5, 1.0) is None         # age counts from when it was asked
    assert poller.at(6.01, 2.0) == {"v": 6}
    assert poller.at(0.5, 2.0) is None         # before any call


def test_the_last_row_gets_a_backend_sample_taken_after_it():
    calls = []

    def source():
        calls.append(time.monotonic())
        return {"backend_good_puts": len(calls)}

    mon = run_monitor(source, count=5, period=0.1)
    last = mon.rows[-1]
    assert last["backend_good_puts"] == len(calls)   # the final call's value
    assert calls[-1] > time.monotonic() - 5 and mon.missed["backend"] <= 1


def test_a_final_sample_fills_a_last_row_that_missed_it():
    mon = monitors.Monitor(FakeChannel(0, 0.1), None, None, {"backend": lambda: {"backend_x": 1}})
    mon.rows = [{"t": 0, "wall": 0}]
    mon.missed["backend"] = 1
    mon._final_sample("backend", mon.pollers["backend"])
    assert mon.rows[-1]["backend_x"] == 1 and mon.missed["backend"] == 0


def test_host_harness_counts_allocated_bytes_not_apparent_size(tmp_path):
    sparse = tmp_path / "swap.img"
    with open(sparse, "wb") as f:
        f.truncate(1 << 30)            # 1 GiB apparent, nothing allocated
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data").write_bytes(b"x" * 65536)
    got = monitors.host_harness(tmp_path)
    assert 65536 <= got["scratch_bytes"] < 1 << 20
    assert got["harness_fds"] > 0
    assert monitors.is_gauge("harness_fds") and monitors.is_gauge("scratch_bytes")
    assert monitors.is_gauge("backend_fds")


class BurstChannel(FakeChannel):
    """Records taken every ``period`` s on time, but those taken in [hold_from, hold_to)
    after the start arrive only at hold_to: a guest blocked on its swap device whose
    mlocked sampler keeps sampling while sshd cannot send."""

    def __init__(self, count, period, hold_from, hold_to):
        super().__init__(count, period)
        self.start = time.monotonic()
        self.hold_from, self.hold_to = hold_from, hold_to

    def recv_ready(self) -> bool:
        if not super().recv_ready():
            return False
        taken = self.sent * self.period
        now = time.monotonic() - self.start
        return not (self.hold_from <= taken < self.hold_to) or now >= self.hold_to

    def recv(self, _n: int) -> bytes:
        self.sent += 1
        self.next_at += self.period
        return (f"=== {self.start + self.sent * self.period:.3f}\n--- /proc/vmstat\n"
                f"pswpout {self.sent}\n=== end\n").encode()


def test_rows_that_arrive_late_take_the_backend_as_it_was_when_they_were_taken():
    # The backend is down from 1.0 s to 2.0 s; the guest's rows of 0.8-2.0 s arrive at
    # 2.5 s, when the backend answers again. Joined by arrival they would all carry the
    # restarted backend's numbers; joined by when they were taken, the outage shows.
    start = time.monotonic()

    def source():
        up = not (1.0 <= time.monotonic() - start < 2.0)
        return {"backend_good_puts": 1} if up else {}

    channel = BurstChannel(30, 0.1, 0.8, 2.5)
    mon = monitors.Monitor(channel, None, None, {"backend": source},
                           extra_interval=0.05, extra_max_age=0.15)
    mon.start()
    mon.join(timeout=30)
    mon.stop()
    assert len(mon.rows) == 30
    taken = {round(r["t"], 1): "backend_good_puts" in r for r in mon.rows}
    assert all(has for t, has in taken.items() if t <= 0.8)
    down = [has for t, has in taken.items() if 1.2 <= t <= 1.9]
    assert down and not any(down)                            # arrived late, still missed
    assert all(has for t, has in taken.items() if t >= 2.3)
    assert mon.missed["backend"] == list(taken.values()).count(False)
    walls = [r["wall"] for r in mon.rows]
    assert max(b - a for a, b in zip(walls, walls[1:])) < 0.3   # stamped when taken
