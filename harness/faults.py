"""Fault injection during a run's workload: things that go wrong in production, on a
timer, recorded with their times. Actions are data, looked up by name."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

ACTIONS = ("backend_kill", "backend_restart")


def validate(faults) -> str | None:
    if not isinstance(faults, list):
        return "expected a list of {at_s, action[, restart_after_s]}"
    for i, fault in enumerate(faults):
        if not isinstance(fault, dict) or fault.get("action") not in ACTIONS:
            return f"[{i}]: action must be one of {', '.join(ACTIONS)}"
        for key in fault:
            if key not in ("at_s", "action", "restart_after_s"):
                return f"[{i}].{key}: unknown field"
        for key in ("at_s", "restart_after_s"):
            value = fault.get(key, 0)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                return f"[{i}].{key}: expected seconds >= 0"
    return None


class FaultInjector(threading.Thread):
    """Runs ``faults`` against the backend, relative to start(); ``events`` logs them."""

    def __init__(self, faults: list[dict], backend):
        super().__init__(name="faults", daemon=True)
        self.faults = sorted(faults, key=lambda f: f.get("at_s", 0))
        self.backend = backend
        self.events: list[dict] = []
        self._cancel = threading.Event()
        self._t0 = 0.0

    def _log(self, what: str) -> None:
        self.events.append({"t": round(time.monotonic() - self._t0, 2), "event": what})

    def _do(self, fault: dict) -> None:
        actions: dict[str, Callable[[], None]] = {
            "backend_kill": self.backend.kill, "backend_restart": self.backend.start}
        actions[fault["action"]]()
        self._log(fault["action"])
        if fault["action"] == "backend_kill" and "restart_after_s" in fault:
            if self._cancel.wait(fault["restart_after_s"]):
                return
            self.backend.start()
            self._log("backend_restart")

    def run(self) -> None:
        self._t0 = time.monotonic()
        for fault in self.faults:
            delay = self._t0 + fault.get("at_s", 0) - time.monotonic()
            if delay > 0 and self._cancel.wait(delay):
                return
            try:
                self._do(fault)
            except Exception as exc:  # recorded, never raised into the run
                self._log(f"{fault['action']} failed: {exc}")

    def cancel(self) -> None:
        self._cancel.set()
        self.join(timeout=60)
