"""Typed errors. Each ``__str__`` is the one line the user sees (harness/cli.py prints it)."""

from __future__ import annotations


class TmemlabError(Exception):
    """Base of every error the CLI reports as one line instead of a traceback."""

    exit_code = 1


class ExperimentConfigError(TmemlabError):
    """``FILE:LINE: FIELD: reason`` (``FILE: FIELD: reason`` when no line is known)."""

    exit_code = 2

    def __init__(self, file: str, field: str, reason: str, line: int | None = None):
        super().__init__(file, field, reason, line)
        self.file, self.field, self.reason, self.line = file, field, reason, line

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.reason}"


class PreflightError(TmemlabError):
    """A host set-up that would spoil or stall the run, found before anything starts."""

    exit_code = 2


class UsageError(TmemlabError):
    exit_code = 2


class CommandError(TmemlabError):
    def __init__(self, argv: list[str], returncode: int, output: str):
        super().__init__(argv, returncode, output)
        self.argv, self.returncode, self.output = argv, returncode, output

    def __str__(self) -> str:
        tail = self.output.strip().splitlines()[-1:] or [""]
        return f"{self.argv[0]} exited {self.returncode}: {tail[0]}"


# 125: "cannot test this commit" for `git bisect run` (git-bisect(1)): a kernel or image
# that could not be fetched or built says nothing about the change under test. A kernel
# that builds but does not boot is a failed run (1): that may well be the change.
EXIT_CANNOT_TEST = 125


class KernelFetchError(TmemlabError):
    exit_code = EXIT_CANNOT_TEST


class KernelBuildError(TmemlabError):
    exit_code = EXIT_CANNOT_TEST


class KernelSpecError(KernelBuildError):
    """A kernel named wrongly (no such config, a tree: that is not a kernel tree): the
    user's mistake, not the commit's."""

    exit_code = 2


class ImageBuildError(TmemlabError):
    exit_code = EXIT_CANNOT_TEST


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
