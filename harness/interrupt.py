"""SIGINT, SIGTERM and SIGHUP end tmemlab within a bounded time, whatever it is doing.

The handlers are installed explicitly, whatever disposition tmemlab inherited: a process
started with SIGINT ignored (a shell's background job) would otherwise get no
KeyboardInterrupt at all. The first signal raises KeyboardInterrupt in the main thread, so
``finally`` blocks destroy domains and stop the backend; later signals are noted and
ignored, so they cannot cut that cleanup short.

Python runs a signal handler only when the main thread next executes bytecode, which a
call blocked in C (libvirt starting a domain, a read) can delay. So the signal also wakes
a deadline thread through ``signal.set_wakeup_fd``, which the C-level handler writes at
once: if the process still runs ``grace`` seconds later, it exits hard. Whatever its
cleanup did not reach, the reaper (harness/vm/reaper.py) ends: QEMU, the backend, scratch.
"""

from __future__ import annotations

import os
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE_S = 6.0
EXIT_CODE = 130

_first = threading.Event()
_installed = False


def _handler(signum, _frame) -> None:
    if _first.is_set():
        return  # cleanup is under way: let it finish
    _first.set()
    raise KeyboardInterrupt


def _deadline(fd: int, grace: float, exit_code: int) -> None:
    """Wait for one of SIGNALS (its number, written by the C-level handler), then give
    the cleanup ``grace`` seconds."""
    wanted = {int(s) for s in SIGNALS}
    while True:
        try:
            data = os.read(fd, 64)
        except InterruptedError:
            continue
        except OSError:
            return
        if not data:
            return
        if wanted & set(data):
            break
    threading.Event().wait(grace)
    os.write(2, f"tmemlab: still cleaning up {grace:.0f} s after the signal; exiting now "
                "(the reaper ends what is left)\n".encode())
    os._exit(exit_code)


def install(grace: float = GRACE_S, exit_code: int = EXIT_CODE) -> None:
    """Install the handlers and the deadline thread (main thread only, once)."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    _installed = True
    read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    os.set_blocking(read_fd, True)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    for sig in SIGNALS:
        signal.signal(sig, _handler)
    threading.Thread(target=_deadline, args=(read_fd, grace, exit_code),
                     name="interrupt-deadline", daemon=True).start()


def interrupted() -> bool:
    return _first.is_set()
