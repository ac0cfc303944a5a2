"""Typed errors. Each ``__str__`` is the one line the user sees (harness/cli.py prints it)."""

from __future__ import annotations


class TmemlabError(Exception):
    """Base of every error the CLI reports as one line instead of a traceback."""

    exit_code = 1


class ExperimentConfigError(TmemlabError):
    exit_code = 2

    def __init__(self, file: str, field: str, reason: str):
        super().__init__(file, field, reason)
        self.file, self.field, self.reason = file, field, reason

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}"


class UsageError(TmemlabError):
    exit_code = 2


class CommandError(TmemlabError):
    def __init__(self, argv: list[str], returncode: int, output: str):
        super().__init__(argv, returncode, output)
        self.argv, self.returncode, self.output = argv, returncode, output

    def __str__(self) -> str:
        tail = self.output.strip().splitlines()[-1:] or [""]
        return f"{self.argv[0]} exited {self.returncode}: {tail[0]}"


class KernelFetchError(TmemlabError):
    pass


class KernelBuildError(TmemlabError):
    pass


class ImageBuildError(TmemlabError):
    pass


class VMError(TmemlabError):
    pass


class GuestBootError(VMError):
    def __init__(self, name: str, reason: str, console_tail: str = ""):
        super().__init__(name, reason, console_tail)
        self.name, self.reason, self.console_tail = name, reason, console_tail

    def __str__(self) -> str:
        return f"guest {self.name}: {self.reason}"


class WorkloadError(TmemlabError):
    pass
