"""Guest-side fault actions (LKDTM) and their validation."""

import subprocess

import pytest

from harness.run import faults


@pytest.mark.parametrize("value, problem", [
    ([{"at_s": 3, "action": "lkdtm", "type": "WARNING"}], None),
    ([{"at_s": 3, "action": "lkdtm", "type": "SOFTLOCKUP", "module": "/x/lkdtm_lite.ko"}],
     None),
    ([{"at_s": 3, "action": "lkdtm"}], "[0].type: required for lkdtm"),
    ([{"action": "lkdtm", "type": "warning"}], "[0].type: expected an LKDTM crash type"),
    ([{"action": "lkdtm", "type": "BUG", "module": "lkdtm.o"}], "[0].module: expected"),
    ([{"action": "lkdtm", "type": "BUG", "restart_after_s": 1}],
     "[0].restart_after_s: unknown field for lkdtm"),
    ([{"action": "backend_kill", "type": "BUG"}], "[0].type: unknown field for backend_kill"),
])
def test_lkdtm_validation(value, problem):
    got = faults.validate(value)
    assert got == problem if problem is None else got.startswith(problem)


class FakeGuest:
    def __init__(self, status=0):
        self.status, self.puts, self.scripts = status, [], []

    def put(self, data, path):
        self.puts.append((data, path))

    def run(self, script, timeout):
        self.scripts.append(script)
        return self.status, "", "no /sys/kernel/debug/provoke-crash/DIRECT" if \
            self.status else ""


def test_lkdtm_copies_the_module_and_fires_in_the_background(tmp_path):
    ko = tmp_path / "lkdtm_lite.ko"
    ko.write_bytes(b"\x7fELF")
    guest = FakeGuest()
    inj = faults.FaultInjector([{"at_s": 0.01, "action": "lkdtm", "type": "BUG",
                                 "module": str(ko)}], None, guest)
    inj.start()
    inj.join(timeout=5)
    assert guest.puts == [(b"\x7fELF", "/tmp/lkdtm_lite.ko")]
    assert "insmod /tmp/lkdtm_lite.ko" in guest.scripts[0]
    assert guest.scripts[0].rstrip().endswith(
        "nohup sh -c 'echo BUG > /sys/kernel/debug/provoke-crash/DIRECT' >/dev/null 2>&1 &")
    assert [e["event"] for e in inj.events] == ["lkdtm BUG"]


def test_a_fault_that_cannot_be_done_is_recorded():
    inj = faults.FaultInjector([{"action": "lkdtm", "type": "WARNING"},
                                {"action": "backend_kill"}], None, FakeGuest(status=1))
    inj.start()
    inj.join(timeout=5)
    events = [e["event"] for e in inj.events]
    assert events[0].startswith("lkdtm failed: exit 1: no /sys/kernel/debug/provoke-crash")
    assert events[1] == "backend_kill failed: no tmem backend in this experiment"


def test_lkdtm_script_is_valid_shell():
    script = faults.lkdtm_script("WARNING", "/tmp/m.ko")
    assert subprocess.run(["sh", "-n", "-c", script]).returncode == 0
