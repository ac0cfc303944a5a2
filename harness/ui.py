"""Progress for long steps. Builders call ``step(...)``; only this module draws."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from rich.console import Console

console = Console(stderr=True)
if not console.is_terminal:  # logs and CI: wide enough for the summary tables
    console.width = 160


@contextlib.contextmanager
def step(what: str) -> Iterator[Callable[[str], None]]:
    """Spinner with elapsed time while ``what`` runs, then a one-line outcome. Yields a
    function that shows a detail line (e.g. the file being compiled)."""
    start = time.monotonic()
    ok = False
    try:
        with console.status(f"[bold]{what}[/]…", spinner="dots") as status:
            def detail(text: str) -> None:
                status.update(f"[bold]{what}[/] [dim]{time.monotonic() - start:.0f} s "
                              f"{text[:80]}[/]")
            yield detail
        ok = True
    finally:
        took = time.monotonic() - start
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        console.print(f"{mark} {what} [dim]({took:.1f} s)[/]")


def warn(message: str) -> None:
    console.print(f"[bold yellow]WARNING:[/] {message}")


def info(message: str) -> None:
    console.print(message)
