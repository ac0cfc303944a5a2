"""The one way tmemlab runs a subprocess: an argv list, logged, never through a shell."""

from __future__ import annotations

import logging
import shlex
import subprocess
from pathlib import Path

from harness.errors import CommandError

log = logging.getLogger("tmemlab.proc")


def run(argv: list[str | Path], *, cwd: Path | None = None, env: dict | None = None,
        timeout: float | None = None, input: bytes | None = None,
        check: bool = True, log_file: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``argv``; on failure raise CommandError carrying the output tail.

    With ``log_file`` the combined output is appended there instead of captured, so long
    builds keep a full log a person can read.
    """
    args = [str(a) for a in argv]
    log.debug("run: %s", shlex.join(args))
    if log_file is not None:
        with open(log_file, "ab") as out:
            out.write(f"$ {shlex.join(args)}\n".encode())
            out.flush()
            proc = subprocess.run(args, cwd=cwd, env=env, timeout=timeout, input=input,
                                  stdout=out, stderr=subprocess.STDOUT)
        if check and proc.returncode != 0:
            tail = Path(log_file).read_text(errors="replace")[-2000:]
            raise CommandError(args, proc.returncode, tail)
        return proc
    proc = subprocess.run(args, cwd=cwd, env=env, timeout=timeout, input=input,
                          capture_output=True)
    if check and proc.returncode != 0:
        raise CommandError(args, proc.returncode,
                           (proc.stderr or proc.stdout).decode(errors="replace"))
    return proc


def output(argv: list[str | Path], **kwargs) -> str:
    return run(argv, **kwargs).stdout.decode(errors="replace")


def stream(argv: list[str | Path], on_line, *, cwd: Path | None = None,
           env: dict | None = None, log_file: Path) -> None:
    """Run ``argv`` appending its output to ``log_file`` and passing each line to
    ``on_line`` (for progress); raise CommandError with the log tail on failure."""
    args = [str(a) for a in argv]
    log.debug("run: %s", shlex.join(args))
    with open(log_file, "ab") as out:
        out.write(f"$ {shlex.join(args)}\n".encode())
        with subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT) as child:
            for raw in child.stdout:
                out.write(raw)
                on_line(raw.decode(errors="replace").rstrip())
        if child.returncode != 0:
            out.flush()
            tail = Path(log_file).read_text(errors="replace")[-2000:]
            raise CommandError(args, child.returncode, tail)
