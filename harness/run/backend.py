"""The host tmem backend as the runner uses it: one subprocess per experiment
(``python -m host_backend serve``), one unix socket per guest added through its control
socket, stats flattened into ``backend_*`` monitor columns.

A subprocess, not an in-process server: the harness's own threads (libvirt events,
monitors) must not stall the per-page path, and fault tests kill -9 it and restart it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from harness.errors import TmemlabError
from harness.vm import leftovers, reaper
from host_backend import options as backend_options
from host_backend.control import ControlClient, ControlError

OPTIONS = tuple(backend_options.BackendOptions.model_fields)
COMPRESSIONS = backend_options.COMPRESSIONS
# Per-guest counters copied into each monitor sample (kernel-style names, backend_ prefix).
COUNTERS = ("puts", "good_puts", "gets", "found_gets", "flushes", "found_flushes",
            "flush_objects", "evictions", "same_filled", "dedup_hits", "compress_poor")
GAUGES = ("stored_pages", "stored_bytes", "compression_ratio")
# Ops whose frames carry pages or flushes (host_backend.protocol.Op names, lower case).
DATA_OPS = ("put", "get", "flush_page", "put_batch", "get_batch", "flush_batch")
START_TIMEOUT_S = 20
# A clean shutdown that takes longer is cut short: an interrupted harness has 10 s in all.
STOP_TIMEOUT_S = 3
# A monitor sample of the backend's stats waits at most this long (its own connection,
# on the monitor's polling thread): a stalled backend costs backend columns, never rows.
SAMPLE_TIMEOUT_S = 1.0


class BackendFailure(TmemlabError):
    pass


# Run by the backend's child before it becomes the backend: PR_SET_PDEATHSIG, so the
# kernel kills it the moment the harness dies; exit if the harness is already gone.
_PDEATHSIG = ("import ctypes, os, signal, sys\n"
              "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)\n"
              "if os.getppid() != int(sys.argv[1]):\n    sys.exit(1)\n"
              "os.execv(sys.argv[2], sys.argv[2:])\n")


def _die_with_parent(argv: list[str]) -> list[str]:
    """``argv`` behind the PR_SET_PDEATHSIG step. Only from the main thread: the signal
    fires when the *thread* that forked exits, and a fault injector's thread that
    restarts the backend ends long before the harness (the reaper covers that case)."""
    if threading.current_thread() is not threading.main_thread():
        return argv
    return [sys.executable, "-c", _PDEATHSIG, str(os.getpid()), *argv]


def validate(options: dict) -> str | None:
    """None if ``options`` is a valid experiment ``backend:`` mapping, else the reason.
    The rules are host_backend/options.py's, the same the backend's own flags obey."""
    try:
        backend_options.check(options)
    except backend_options.OptionsError as err:
        return f"{err.field}: {err.reason}"
    return None


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return lines[-1] if lines else "(empty log)"


def flatten(guest: dict) -> dict[str, float]:
    """One guest's stats → {backend_<counter>: value} monitor columns."""
    row = {f"backend_{k}": guest.get(k, 0) for k in COUNTERS + GAUGES}
    for reason, count in guest.get("rejects", {}).items():
        row[f"backend_rejects_{reason}"] = count
    latency = guest.get("latency", {})
    for op in DATA_OPS:
        # Frames of each op the backend served (0 before the first: a counter from the
        # start); batching shows as few *_batch frames for many pages.
        lat = latency.get(op)
        row[f"backend_frames_{op}"] = lat["count"] if lat else 0
        if lat and op in ("put", "get", "put_batch", "get_batch"):
            row[f"backend_{op}_p50_us"] = lat["p50_us"]
            row[f"backend_{op}_p99_us"] = lat["p99_us"]
    return row


class HostBackend:
    def __init__(self, options: dict, workdir: Path):
        # Through the one BackendOptions model: sizes in bytes, a bad value refused here;
        # the default host cap filled in, so the run record shows the bound in effect.
        self.options = backend_options.with_defaults(options)
        self._default_cap = options.get("cap") is None
        self.workdir = workdir
        self.control_path = workdir / "control.sock"
        self.log = workdir / "backend.log"
        self.pid_file = workdir / f"backend{leftovers.PID_SUFFIX}"
        self.durable_dir = workdir / "durable" if options.get("durable") else None
        self._proc: subprocess.Popen | None = None
        self._control: ControlClient | None = None
        self._guests: dict[str, Path] = {}
        self._quotas: dict[str, int | None] = {}   # per guest: max_pages in effect
        self._weights: dict[str, int] = {}         # per guest: eviction weight in effect

    def argv(self) -> list[str]:
        argv = [sys.executable, "-m", "host_backend", "serve",
                "--control", str(self.control_path),
                "--compression", self.options.get("compression", "none")]
        if self.options.get("cap") is not None:  # always, after with_defaults; 0 refuses all
            argv += ["--cap", str(self.options["cap"])]
        if self.options.get("dedup"):
            argv.append("--dedup")
        if self.durable_dir is not None:
            argv += ["--durable", str(self.durable_dir)]
            if self.options.get("durable_sync"):
                argv.append("--durable-sync")
        return argv

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self._proc = subprocess.Popen(_die_with_parent(self.argv()), stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        # Dies with the harness, however it dies: the reaper kills it (its own session
        # would otherwise keep it running under PID 1), and the next tmemlab finds it by
        # its record if even the reaper was killed.
        reaper.watch(self._proc.pid, any_process=True)
        leftovers.record_process(self.pid_file, self._proc.pid, "tmem backend")
        try:
            self._control = self._connect(START_TIMEOUT_S)
        except ControlError as err:
            self.stop()
            raise BackendFailure(f"tmem backend did not start: {err}; log: {self.log}") \
                from err
        for name, path in self._guests.items():  # after a restart: same guests, same paths
            self._add(name, path)

    def _connect(self, timeout: float) -> ControlClient:
        """The control socket, retried while the backend starts; a backend that exits
        fails at once with its own last words, not after the whole timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return ControlClient(str(self.control_path)).connect(wait=0.2)
            except ControlError:
                status = self._proc.poll()
                if status is not None:
                    raise ControlError(f"backend exited with status {status}: "
                                       f"{_last_line(self.log)}") from None
                if time.monotonic() >= deadline:
                    raise

    def _add(self, name: str, path: Path) -> None:
        self._control.add_guest(name, str(path), max_pages=self._quotas.get(name),
                                max_bytes=self.options.get("max_bytes"),
                                weight=self._weights.get(name, self.options.get("weight", 100)))

    def bounds(self) -> str:
        """The limits in effect, in words, for the user (printed when the backend starts)."""
        cap = self.options["cap"]
        origin = (f" (default: {backend_options.DEFAULT_CAP_PERCENT}% of host RAM)"
                  if self._default_cap else "")
        quota = self.options.get("max_pages")
        quota_text = "its swap size in pages" if quota is None else f"{quota} pages"
        return f"host cap {backend_options.human(cap)}{origin}, guest quota: {quota_text}"

    def quota_pages(self, swap_mib: int | None) -> int | None:
        """A guest's page quota: the experiment's ``max_pages`` when it gives one (0
        refuses every page), else one page per slot of the guest's swap disk."""
        explicit = self.options.get("max_pages")
        return explicit if explicit is not None else backend_options.swap_quota_pages(swap_mib)

    def add_guest(self, name: str, path: Path, swap_mib: int | None = None,
                  max_pages: int | None = None, weight: int | None = None) -> None:
        """Serve a guest on ``path``. Its page quota: ``max_pages`` (a group member's own),
        else quota_pages(swap_mib); its weight: ``weight``, else the experiment's."""
        self._quotas[name] = self.quota_pages(swap_mib) if max_pages is None else max_pages
        if weight is not None:
            self._weights[name] = weight
        try:
            self._add(name, path)
        except ControlError as err:
            raise BackendFailure(f"tmem backend refused guest {name}: {err}") from err
        self._guests[name] = path

    def remove_guest(self, name: str) -> None:
        self._guests.pop(name, None)
        self._quotas.pop(name, None)
        self._weights.pop(name, None)
        try:
            self._control.call("remove_guest", name=name, drop=True)
        except (ControlError, AttributeError):
            pass  # backend gone: nothing left to remove

    def guest_stats(self, name: str) -> dict:
        """Full stats of one guest (for the run record)."""
        return self._control.stats().get("guests", {}).get(name, {})

    def sample(self, name: str) -> dict[str, float]:
        """Monitor columns for one guest; empty while the backend is away or does not
        answer within SAMPLE_TIMEOUT_S (stopped, stalled). A connection of its own per
        sample: the monitor's thread never shares a socket with the runner's calls, and
        a timed-out request leaves nothing half-read behind."""
        try:
            with ControlClient(str(self.control_path), timeout=SAMPLE_TIMEOUT_S) as ctl:
                guest = ctl.stats().get("guests", {}).get(name)
        except (ControlError, OSError, ValueError):
            return {}
        if guest is None:
            return {}
        return {**flatten(guest), **self.process_columns()}

    def process_columns(self) -> dict[str, float]:
        """The backend process's CPU seconds (user + system) and RSS. The whole process:
        per guest only while it serves one guest at a time, as the runner does."""
        try:
            proc = psutil.Process(self._proc.pid) if self._proc is not None else None
            if proc is None:
                return {}
            with proc.oneshot():
                times, rss, fds = proc.cpu_times(), proc.memory_info().rss, proc.num_fds()
        except psutil.Error:
            return {}
        return {"backend_cpu_s": round(times.user + times.system, 3),
                "backend_rss_bytes": rss, "backend_fds": fds}

    def kill(self) -> None:
        """SIGKILL, as a fault test does: no clean shutdown, sockets left behind."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._forget()
        if self._control is not None:
            self._control.close()

    def stop(self) -> None:
        """Clean shutdown, bounded: a stalled backend is killed after a few seconds."""
        if self._control is not None:
            self._control.close()
            if self.alive():
                try:  # a connection of its own: the short timeout bounds a stalled backend
                    with ControlClient(str(self.control_path), timeout=STOP_TIMEOUT_S) as ctl:
                        ctl.call("shutdown")
                except (ControlError, OSError, ValueError):
                    pass
        if self._proc is not None:
            if self._proc.poll() is None:
                try:
                    self._proc.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._forget()

    def stall(self, seconds: float, cancel: threading.Event) -> None:
        """SIGSTOP for ``seconds`` (or until ``cancel``), then SIGCONT: a backend that is
        alive but does not answer (swapped out, descheduled, stopped in a debugger)."""
        if not self.alive():
            raise RuntimeError("backend not running")
        self._proc.send_signal(signal.SIGSTOP)
        try:
            cancel.wait(seconds)
        finally:
            if self.alive():
                self._proc.send_signal(signal.SIGCONT)

    def _forget(self) -> None:
        """The backend process is gone: drop its reaper registration and record."""
        reaper.unwatch(self._proc.pid)
        self.pid_file.unlink(missing_ok=True)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def wait_for_connection(self, name: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.guest_stats(name).get("client_name"):
                return True
            time.sleep(0.2)
        return False
