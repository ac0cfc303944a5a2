"""SSH to a guest over its 127.0.0.1 port forward, with the image's own keys both ways."""

from __future__ import annotations

import base64
import logging
import socket
import time
from pathlib import Path

import paramiko

from harness.errors import GuestBootError

# While sshd is still starting, paramiko logs each refused banner with a traceback.
logging.getLogger("paramiko").setLevel(logging.CRITICAL)


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

    def run(self, command: str, timeout: float) -> tuple[int, str, str]:
        """(exit status, stdout, stderr); raises socket.timeout when it takes too long."""
        assert self.client is not None
        chan = self.client.get_transport().open_session()
        chan.settimeout(timeout)
        chan.exec_command(command)
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
        return status, out.decode(errors="replace"), err.decode(errors="replace")

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
