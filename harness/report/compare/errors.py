"""Errors raised by the comparison side; each ``__str__`` is the one line a user sees."""

from __future__ import annotations

from pathlib import Path


class CompareError(Exception):
    """Base class for every error the compare package raises on purpose."""


class ResultsDirError(CompareError):
    """A results folder is missing, unreadable or holds no runs."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = Path(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"
