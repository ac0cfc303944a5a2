"""`tmemlab show`: the identity of results folders as aligned text."""

from __future__ import annotations

from harness.compare.loader import ResultsDir
from harness.compare.provenance import show_lines


def render_show(d: ResultsDir) -> str:
    lines = show_lines(d)
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in lines) + "\n"
