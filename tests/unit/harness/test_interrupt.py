"""An interrupt that surfaces as another error still ends tmemlab as interrupted (130):
libvirt-python turns a KeyboardInterrupt raised inside its error callback into
SystemError, and a libvirt call cut short by the signal fails with a VMError."""

import pytest

from harness import cli, interrupt
from harness.errors import VMError


@pytest.fixture
def interrupted(monkeypatch):
    monkeypatch.setattr(interrupt, "install", lambda: None)
    monkeypatch.setattr(interrupt, "_first", type("E", (), {"is_set": lambda self: True})())


def failing(err):
    def forward(*_args):
        raise err
    return forward


@pytest.mark.parametrize("err", [SystemError("returned a result with an exception set"),
                                 VMError("cannot start: interrupted system call")])
def test_error_after_the_signal_is_an_interrupt(interrupted, monkeypatch, err):
    monkeypatch.setattr(cli, "_forward", failing(err))
    assert cli.main(["backend"]) == cli.EXIT_INTERRUPTED


def test_error_without_a_signal_is_an_error(monkeypatch):
    monkeypatch.setattr(interrupt, "install", lambda: None)
    monkeypatch.setattr(cli, "_forward", failing(SystemError("boom")))
    with pytest.raises(SystemError):
        cli.main(["backend"])
    monkeypatch.setattr(cli, "_forward", failing(VMError("no domain")))
    assert cli.main(["backend"]) == VMError("x").exit_code
