"""A workload killed by a signal: Guest.run's shell trailer, and what the failure says."""

import shutil
import subprocess

import pytest

from harness.run import workloads
from harness.vm import guest


@pytest.mark.parametrize("shell", [s for s in ("sh", "bash", "dash") if shutil.which(s)])
@pytest.mark.parametrize("command, signo, status", [
    ("sh -c 'kill -BUS $$'", 7, 135),
    ("sh -c 'kill -KILL $$'", 9, 137),
    ("exit 3", None, 3),
    ("true", None, 0),
])
def test_trailer_reports_the_signal(shell, command, signo, status):
    """The trailer runs under the guest's login shell exactly as here."""
    done = subprocess.run([shell, "-c", f"{command}\n{guest._SIGNAL_TRAILER}"],
                          capture_output=True, text=True, timeout=10)
    assert done.returncode == status
    stderr, got = guest.split_signal("some stderr\n" + done.stderr)
    assert got == signo
    # the shell may add its own "Bus error"/"Killed" line; the marker is gone
    assert stderr.startswith("some stderr\n") and guest.SIGNAL_MARK not in stderr


def test_split_signal_only_takes_the_last_line():
    text = "tmemlab-exit-signal:7 in the middle\nreal error\n"
    assert guest.split_signal(text) == (text, None)


def test_pressure_killed_by_sigbus_is_data_loss():
    result, failure = workloads.WORKLOADS["pressure"].parse(-7, "", "")
    assert failure == ("pressure killed by SIGBUS (data loss: a swapped page could not be "
                       "read back)")
    assert result == {"signal": "SIGBUS"}


def test_pressure_killed_by_sigkill_names_the_signal():
    _result, failure = workloads.WORKLOADS["pressure"].parse(-9, "partial", "")
    assert failure.startswith("pressure killed by SIGKILL")


def test_pressure_unknown_status_is_still_reported_as_before():
    _result, failure = workloads.WORKLOADS["pressure"].parse(-1, "", "boom")
    assert failure == "pressure printed no JSON result (exit -1): boom"


class StuckChannel:
    """sshd never answers the exec request (its session is queued on a locked-up CPU)."""

    def __init__(self):
        import threading
        self.closed = threading.Event()

    def settimeout(self, _t):
        pass

    def exec_command(self, _command):
        import paramiko
        self.closed.wait(10)
        raise paramiko.SSHException("Channel closed.")

    def close(self):
        self.closed.set()


def test_a_session_the_guest_never_starts_times_out():
    from types import SimpleNamespace
    chan = StuckChannel()
    g = guest.Guest.__new__(guest.Guest)
    g.client = SimpleNamespace(get_transport=lambda: SimpleNamespace(
        open_session=lambda timeout: chan))
    with pytest.raises(TimeoutError, match="no session in the guest within 0 s"):
        g.run("dmesg", timeout=0.2)
    assert chan.closed.is_set()
