"""The soak's fault actions: a backend stall (SIGSTOP, then SIGCONT) on a real process,
and the guest relay-worker kill script run by a real shell against a supervising loop
that forks a new worker as tmem-relay's parent does."""

import subprocess
import threading
import time

import psutil
import pytest

from harness.run import faults
from harness.run.backend import HostBackend


@pytest.mark.parametrize("value, problem", [
    ([{"at_s": 3, "action": "backend_stall", "duration_s": 30}], None),
    ([{"at_s": 3, "action": "backend_stall"}], "[0].duration_s: required for backend_stall"),
    ([{"action": "backend_stall", "duration_s": -1}],
     "[0].duration_s: expected seconds >= 0"),
    ([{"at_s": 3, "action": "relay_kill"}], None),
    ([{"action": "relay_kill", "duration_s": 3}], "[0].duration_s: unknown field for relay_kill"),
])
def test_validation(value, problem):
    assert faults.validate(value) == problem


def test_stall_stops_the_backend_for_its_duration_then_resumes(tmp_path):
    backend = HostBackend({}, tmp_path)
    backend._proc = subprocess.Popen(["sleep", "30"])
    try:
        states = []
        threading.Timer(0.3, lambda: states.append(
            psutil.Process(backend._proc.pid).status())).start()
        started = time.monotonic()
        backend.stall(0.6, threading.Event())
        assert time.monotonic() - started >= 0.6
        assert states == [psutil.STATUS_STOPPED]
        assert psutil.Process(backend._proc.pid).status() != psutil.STATUS_STOPPED
    finally:
        backend._proc.kill()
        backend._proc.wait()


def test_injector_logs_stall_and_resume():
    class Stalling:
        def stall(self, seconds, cancel):
            self.seconds = seconds

    fake = Stalling()
    inj = faults.FaultInjector([{"at_s": 0.01, "action": "backend_stall",
                                 "duration_s": 7}], fake)
    inj.start()
    inj.join(timeout=5)
    assert fake.seconds == 7
    assert [e["event"] for e in inj.events] == ["backend_stall", "backend_resume"]


SUPERVISOR = """
while :; do sleep 60 & echo $! > {pid_file}; wait $!; sleep 0.2; done
"""


def test_relay_kill_script_kills_the_worker_and_sees_its_successor(tmp_path):
    pid_file = tmp_path / "relay.pid"
    parent = subprocess.Popen(["sh", "-c", SUPERVISOR.format(pid_file=pid_file)])
    try:
        while not pid_file.exists() or not pid_file.read_text().strip():
            time.sleep(0.05)
        worker = int(pid_file.read_text())
        out = subprocess.run(["sh", "-c", faults.relay_kill_script(str(pid_file), 5)],
                             capture_output=True, text=True, timeout=10)
        assert out.returncode == 0, out
        old, new = map(int, out.stdout.split())
        assert old == worker and new != worker and psutil.pid_exists(new)
        assert not psutil.pid_exists(worker) or \
            psutil.Process(worker).status() == psutil.STATUS_ZOMBIE
    finally:
        for proc in [*psutil.Process(parent.pid).children(recursive=True), parent]:
            proc.kill()
        parent.wait()


def test_relay_kill_script_fails_when_no_worker_comes_back(tmp_path):
    pid_file = tmp_path / "relay.pid"
    lone = subprocess.Popen(["sleep", "60"])
    pid_file.write_text(f"{lone.pid}\n")
    out = subprocess.run(["sh", "-c", faults.relay_kill_script(str(pid_file), 1)],
                         capture_output=True, text=True, timeout=10)
    lone.wait()
    assert out.returncode == 1
    assert out.stdout.strip() == f"worker {lone.pid} killed, no new one within 1 s"


def test_relay_kill_is_recorded_with_both_pids():
    class Guest:
        def run(self, script, timeout):
            return 0, "812 977\n", ""

    inj = faults.FaultInjector([{"at_s": 0, "action": "relay_kill"}], None, Guest())
    inj.start()
    inj.join(timeout=5)
    (event,) = inj.events
    assert event["event"] == "relay_kill" and event["worker"] == 812 and \
        event["restarted_as"] == 977
