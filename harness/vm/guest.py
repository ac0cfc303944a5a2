"""SSH to a guest over its 127.0.0.1 port forward, with the image's own keys both ways."""

from __future__ import annotations

import base64
import logging
import re
import shlex
import socket
import threading
import time
from pathlib import Path

import paramiko

from harness.errors import GuestBootError

# While sshd is still starting, paramiko logs each refused banner with a traceback.
logging.getLogger("paramiko").setLevel(logging.CRITICAL)

SIGNAL_MARK = "tmemlab-exit-signal:"
# After the command: a shell status of 128+N means "killed by signal N".
_SIGNAL_TRAILER = (f'__rc=$?; [ "$__rc" -gt 128 ] && [ "$__rc" -lt 193 ] && '
                   f'echo "{SIGNAL_MARK}$((__rc - 128))" >&2; exit "$__rc"')
_SIGNAL_LINE = re.compile(rf"^{SIGNAL_MARK}(\d+)\n?\Z", re.M)


def split_signal(stderr: str) -> tuple[str, int | None]:
    """(stderr without the trailer's line, the signal number or None)."""
    match = _SIGNAL_LINE.search(stderr)
    if not match:
        return stderr, None
    return stderr[:match.start()], int(match.group(1))


class Guest:
    def __init__(self, name: str, port: int, key: Path, host_key: str):
        self.name, self.port = name, port
        self._key = paramiko.Ed25519Key.from_private_key_file(str(key))
        kind, blob = host_key.split()[:2]
        self._host_key = paramiko.Ed25519Key(data=base64.b64decode(blob))
        self.client: paramiko.SSHClient | None = None

    def connect(self, deadline: float, alive=lambda: True) -> float:
        """Retry until sshd answers; returns when connected. ``alive()`` False aborts."""
        last = "no attempt"
        while time.monotonic() < deadline:
            if not alive():
                raise GuestBootError(self.name, "guest stopped before SSH came up")
            client = paramiko.SSHClient()
            client.get_host_keys().add(f"[127.0.0.1]:{self.port}", "ssh-ed25519",
                                       self._host_key)
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
            try:
                client.connect("127.0.0.1", port=self.port, username="root", pkey=self._key,
                               timeout=5, banner_timeout=10, auth_timeout=10,
                               allow_agent=False, look_for_keys=False)
                self.client = client
                return time.monotonic()
            except (OSError, paramiko.SSHException, EOFError) as err:
                last = str(err) or type(err).__name__
                client.close()
                time.sleep(0.5)
        raise GuestBootError(self.name, f"SSH not reachable before the boot timeout ({last})")

    def _session(self, command: str, timeout: float) -> paramiko.Channel:
        """A channel running ``command``. Opening it waits for the guest's sshd to start a
        session, which a guest with a locked-up CPU may never do: bounded by ``timeout``
        (paramiko's own wait for the exec reply has none, so a timer closes the channel)."""
        assert self.client is not None
        chan = self.client.get_transport().open_session(timeout=timeout)
        chan.settimeout(timeout)
        fired = threading.Event()

        def expire() -> None:
            fired.set()
            chan.close()

        timer = threading.Timer(timeout, expire)
        timer.start()
        try:
            chan.exec_command(command)
        except paramiko.SSHException as exc:
            if fired.is_set():
                raise TimeoutError(f"no session in the guest within {timeout:.0f} s") from exc
            raise
        finally:
            timer.cancel()
        return chan

    def run(self, command: str, timeout: float) -> tuple[int, str, str]:
        """(exit status, stdout, stderr); raises TimeoutError when it takes too long.

        A command killed by a signal gives ``-signo``, as Python's subprocess does (sshd
        reports the signal in an ``exit-signal`` request that paramiko drops, leaving -1):
        the command runs under a shell trailer that reports ``128 + signo`` on stderr."""
        chan = self._session(f"{command}\n{_SIGNAL_TRAILER}", timeout)
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + timeout
        while True:
            if chan.recv_ready():
                out += chan.recv(65536)
            elif chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
            elif chan.exit_status_ready() and not chan.recv_ready() \
                    and not chan.recv_stderr_ready():
                break
            elif time.monotonic() > deadline:
                chan.close()
                raise TimeoutError(f"{command!r} ran past {timeout:.0f} s")
            else:
                time.sleep(0.05)
        status = chan.recv_exit_status()
        chan.close()
        stderr, signo = split_signal(err.decode(errors="replace"))
        return (-signo if signo else status), out.decode(errors="replace"), stderr

    def put(self, data: bytes, path: str, timeout: float = 60) -> None:
        """Write ``data`` to ``path`` in the guest (through ``cat``, no sftp needed)."""
        chan = self._session(f"cat > {shlex.quote(path)}", timeout)
        deadline = time.monotonic() + timeout
        chan.sendall(data)
        chan.shutdown_write()
        while not chan.exit_status_ready():
            if time.monotonic() > deadline:
                chan.close()
                raise TimeoutError(f"writing {path} in the guest ran past {timeout:.0f} s")
            time.sleep(0.05)
        status = chan.recv_exit_status()
        chan.close()
        if status != 0:
            raise OSError(f"writing {path} in the guest failed (exit {status})")

    def dmesg(self, timeout: float = 15) -> str:
        """The guest's whole kernel log ring buffer, as ``dmesg`` prints it."""
        status, out, err = self.run("dmesg", timeout=timeout)
        if status != 0:
            raise OSError(f"dmesg exited {status}: {err.strip()[-200:]}")
        return out

    def stream(self, command: str) -> paramiko.Channel:
        """Start a long-running command; the caller reads its stdout line by line."""
        assert self.client is not None
        chan = self.client.get_transport().open_session()
        chan.exec_command(command)
        return chan

    def alive(self) -> bool:
        return bool(self.client and self.client.get_transport()
                    and self.client.get_transport().is_active())

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


def free_port() -> int:
    """A free 127.0.0.1 TCP port for one guest's SSH forward."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
