"""``tmemlab shell KERNEL``: a guest to poke at. Boots it as ``tmemlab boot`` does (with
the tmem backend when the kernel needs it), then hands the terminal to the system's
OpenSSH client on the guest's forwarded port, with the image's own key and host key (no
prompt, no entry in ~/.ssh/known_hosts). Everything is destroyed when the shell exits,
and on SIGINT/SIGTERM/SIGHUP of the harness (harness/interrupt.py) or its SIGKILL (the
reaper). Without a terminal on stdin the commands are read from it (``ssh -T``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from harness import ui
from harness.errors import UsageError

# The client's own exit status for a connection error (ssh(1)): not the remote shell's.
SSH_CONNECTION_ERROR = 255


def ssh_argv(port: int, key: Path, known_hosts: Path, tty: bool,
             command: list[str] | None = None) -> list[str]:
    """OpenSSH client argv for root on the guest's 127.0.0.1:``port`` forward."""
    return ["ssh", "-i", str(key), "-p", str(port),
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
            "-o", "ServerAliveInterval=15", "-t" if tty else "-T", "root@127.0.0.1",
            *(command or [])]


def known_hosts_line(port: int, host_key: str) -> str:
    """``[127.0.0.1]:PORT ssh-ed25519 AAAA...``: ssh's form for a host on another port."""
    kind, blob = host_key.split()[:2]
    return f"[127.0.0.1]:{port} {kind} {blob}\n"


def open_shell(ctx, started: float, command: list[str] | None = None) -> int:
    """Run the client against the booted guest of ``ctx`` (harness.run.runner.RunContext);
    returns its exit status (the remote shell's, or 255 for a connection error)."""
    if shutil.which("ssh") is None:
        raise UsageError("tmemlab shell needs the OpenSSH client (apt-get install "
                         "openssh-client)")
    port = ctx.guest.port
    known = ctx.work / "known_hosts"
    known.write_text(known_hosts_line(port, ctx.prep.image.host_key))
    key = ctx.work / "id_ed25519"  # ssh refuses a private key others can read
    shutil.copyfile(ctx.prep.image.key, key)
    os.chmod(key, 0o600)
    tty = sys.stdin.isatty() and command is None
    ui.info(f"guest {ctx.name} up {time.monotonic() - started:.1f} s after start; "
            f"{'exit the shell' if tty else 'end of input'} destroys it")
    child = subprocess.Popen(ssh_argv(port, key, known, tty, command))
    try:
        return child.wait()
    finally:  # an interrupt of the harness: the client goes with the guest
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
