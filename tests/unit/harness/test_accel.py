"""The KVM probe's verdict on console text captured from the real probe guest (Debian 6.1
under TCG: busybox poweroff -f, reboot -f, and an init that exits): only a clean
power-off counts."""

from pathlib import Path

import pytest

from harness.vm import accel

DATA = Path(__file__).resolve().parents[2] / "data" / "accel"


def console(name: str) -> str:
    return (DATA / name).read_text()


def test_clean_power_off_works():
    works, why = accel.probe_verdict(console("poweroff.log"), ended=True, seconds=1.9)
    assert works and "powered off cleanly" in why


@pytest.mark.parametrize("name, needle", [
    # captured under TCG with init = busybox true / reboot -f (tests/e2e/test_accel_probe_e2e.py)
    ("panic.log", "Kernel panic - not syncing: Attempted to kill init!"),  # panic=-1 reboots
    ("reset.log", "reset instead of powering off"),
])
def test_a_domain_that_ended_otherwise_is_not_kvm_working(name, needle):
    works, why = accel.probe_verdict(console(name), ended=True, seconds=1.9)
    assert not works and needle in why


def test_ended_with_a_silent_console_is_not_kvm_working():
    """A firmware reset loop or a triple fault ends the domain before Linux prints."""
    works, why = accel.probe_verdict("", ended=True, seconds=0.4)
    assert not works and "without a clean power-off" in why


def test_still_running_at_the_deadline():
    works, why = accel.probe_verdict("SeaBIOS (version 1.16.2-debian-1.16.2-1)\n"
                                     "Booting from ROM..\n", ended=False, seconds=20)
    assert not works and "did not power off within 20 s" in why


def test_panic_after_power_down_text_still_fails():
    text = console("poweroff.log") + "[    1.5] Kernel panic - not syncing: Fatal exception\n"
    assert not accel.probe_verdict(text, ended=True, seconds=2)[0]
