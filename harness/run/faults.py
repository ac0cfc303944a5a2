"""Fault injection during a run's workload: things that go wrong in production, on a
timer, recorded with their times. Actions are data, looked up by name.

Host actions act on the tmem backend: ``backend_kill`` (SIGKILL, optionally restarted),
``backend_restart``, ``backend_stall`` (SIGSTOP for ``duration_s``, then SIGCONT). Guest
actions run over the run's SSH session: ``relay_kill`` SIGKILLs the tmem relay's worker
(guest_images/tools/tmem-relay.c: its mlocked parent forks a new one), and ``lkdtm``.
``lkdtm`` writes an LKDTM crash type to /sys/kernel/debug/provoke-crash/DIRECT (the
kernel's own fault injector, drivers/misc/lkdtm): with ``module:`` a host-built module
that provides that file is copied into the guest and loaded first, for kernels built
without CONFIG_LKDTM (Debian's)."""

from __future__ import annotations

import re
import shlex
import threading
import time
from dataclasses import dataclass
from pathlib import Path

LKDTM_DIRECT = "/sys/kernel/debug/provoke-crash/DIRECT"
LKDTM_TYPE = re.compile(r"^[A-Z][A-Z0-9_]*$")
GUEST_TIMEOUT_S = 60
RELAY_PID_FILE = "/run/tmem-relay.pid"
RELAY_RESTART_S = 20


@dataclass(frozen=True)
class Action:
    target: str                   # "backend" or "guest"
    fields: tuple[str, ...] = ()  # optional fields besides at_s and action
    required: tuple[str, ...] = ()


ACTIONS = {
    "backend_kill": Action("backend", ("restart_after_s",)),
    "backend_restart": Action("backend"),
    "backend_stall": Action("backend", ("duration_s",), required=("duration_s",)),
    "relay_kill": Action("guest"),
    "lkdtm": Action("guest", ("type", "module"), required=("type",)),
}


def _field_problem(key: str, value) -> str | None:
    if key in ("at_s", "restart_after_s", "duration_s"):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            return "expected seconds >= 0"
    elif key == "type":
        if not isinstance(value, str) or not LKDTM_TYPE.match(value):
            return "expected an LKDTM crash type like WARNING, BUG, SOFTLOCKUP"
    elif key == "module":
        if not isinstance(value, str) or not value.endswith(".ko"):
            return "expected the path of a kernel module (.ko) on the host"
    return None


def validate(faults) -> str | None:
    if not isinstance(faults, list):
        return "expected a list of {at_s, action, ...}"
    for i, fault in enumerate(faults):
        if not isinstance(fault, dict) or fault.get("action") not in ACTIONS:
            return f"[{i}]: action must be one of {', '.join(ACTIONS)}"
        action = ACTIONS[fault["action"]]
        for key, value in fault.items():
            if key not in ("at_s", "action", *action.fields):
                return f"[{i}].{key}: unknown field for {fault['action']}"
            problem = _field_problem(key, value)
            if problem:
                return f"[{i}].{key}: {problem}"
        for key in action.required:
            if key not in fault:
                return f"[{i}].{key}: required for {fault['action']}"
    return None


def lkdtm_script(crash_type: str, module_path: str | None) -> str:
    """Guest shell: make DIRECT available, then fire ``crash_type`` in the background
    (a lockup or a BUG never returns to the writer; the session must not wait on it)."""
    load = f"insmod {shlex.quote(module_path)} 2>&1 || " if module_path else ""
    return "\n".join([
        "grep -q ' /sys/kernel/debug debugfs ' /proc/mounts || "
        "mount -t debugfs debugfs /sys/kernel/debug",
        f"[ -e {LKDTM_DIRECT} ] || {load}modprobe lkdtm 2>&1 || true",
        f"[ -e {LKDTM_DIRECT} ] || {{ echo 'no {LKDTM_DIRECT}: the kernel has no LKDTM "
        "(give module: PATH)'; exit 1; }",
        f"nohup sh -c 'echo {crash_type} > {LKDTM_DIRECT}' >/dev/null 2>&1 &",
    ])


def relay_kill_script(pid_file: str = RELAY_PID_FILE,
                      restart_s: int = RELAY_RESTART_S) -> str:
    """Guest shell: SIGKILL the relay's worker, then wait up to ``restart_s`` for its
    parent to fork a new one (a new live pid in ``pid_file``); prints ``OLD NEW``."""
    return "\n".join([
        f"[ -s {pid_file} ] || {{ echo 'no {pid_file}: no tmem relay'; exit 1; }}",
        f"old=$(cat {pid_file}); kill -KILL \"$old\" || exit 1",
        f"i=0; while [ $i -lt {restart_s * 10} ]; do",
        f"  new=$(cat {pid_file} 2>/dev/null)",
        "  [ -n \"$new\" ] && [ \"$new\" != \"$old\" ] && kill -0 \"$new\" 2>/dev/null && "
        "{ echo \"$old $new\"; exit 0; }",
        "  sleep 0.1; i=$((i + 1))",
        "done",
        f"echo \"worker $old killed, no new one within {restart_s} s\"; exit 1",
    ])


class FaultInjector(threading.Thread):
    """Runs ``faults`` against the backend and the guest, relative to start();
    ``events`` logs them. A fault that cannot be done is logged, never raised."""

    def __init__(self, faults: list[dict], backend, guest=None):
        super().__init__(name="faults", daemon=True)
        self.faults = sorted(faults, key=lambda f: f.get("at_s", 0))
        self.backend = backend
        self.guest = guest
        self.events: list[dict] = []
        self._cancel = threading.Event()
        self._t0 = 0.0

    def _log(self, what: str) -> None:
        self.events.append({"t": round(time.monotonic() - self._t0, 2), "event": what})

    def _backend(self, fault: dict) -> None:
        if self.backend is None:
            raise RuntimeError("no tmem backend in this experiment")
        if fault["action"] == "backend_restart":
            self.backend.start()
            self._log("backend_restart")
            return
        if fault["action"] == "backend_stall":
            self._log("backend_stall")
            self.backend.stall(fault["duration_s"], self._cancel)
            self._log("backend_resume")
            return
        self.backend.kill()
        self._log("backend_kill")
        if "restart_after_s" in fault:
            if self._cancel.wait(fault["restart_after_s"]):
                return
            self.backend.start()
            self._log("backend_restart")

    def _lkdtm(self, fault: dict) -> None:
        if self.guest is None:
            raise RuntimeError("no guest session")
        remote = None
        if fault.get("module"):
            local = Path(fault["module"])
            remote = f"/tmp/{local.name}"
            self.guest.put(local.read_bytes(), remote)
        status, out, err = self.guest.run(lkdtm_script(fault["type"], remote),
                                          timeout=GUEST_TIMEOUT_S)
        if status != 0:
            raise RuntimeError(f"exit {status}: {(out + err).strip()[-200:]}")
        self._log(f"lkdtm {fault['type']}")

    def _relay_kill(self) -> None:
        if self.guest is None:
            raise RuntimeError("no guest session")
        status, out, err = self.guest.run(relay_kill_script(),
                                          timeout=GUEST_TIMEOUT_S + RELAY_RESTART_S)
        if status != 0:
            raise RuntimeError(f"exit {status}: {(out + err).strip()[-200:]}")
        old, new = out.split()[-2:]
        self._log("relay_kill")
        self.events[-1].update(worker=int(old), restarted_as=int(new))

    def _do(self, fault: dict) -> None:
        if fault["action"] == "relay_kill":
            self._relay_kill()
        elif ACTIONS[fault["action"]].target == "guest":
            self._lkdtm(fault)
        else:
            self._backend(fault)

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
