"""Number formatting shared by the renderers (formatting only, no statistics)."""

from __future__ import annotations

import math

from harness.report.compare.table import Cell, Geomean

_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def num(value: float | None) -> str:
    """Three significant digits with a k/M/G/T suffix for large magnitudes."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    mag = abs(value)
    for scale, prefix in _PREFIXES:
        if mag >= scale:
            return f"{value / scale:.3g}{prefix}"
    if mag == 0:
        return "0"
    if mag >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def pct(value: float | None, signed: bool = True) -> str:
    if value is None:
        return "-"
    return f"{value:+.2f}%" if signed else f"{value:.2f}%"


def mean_sd(cell: Cell) -> str:
    s = cell.summary
    if s is None:
        return "-"
    if s.stddev is None:
        return f"{num(s.mean)} (n=1)"
    return f"{num(s.mean)} ±{num(s.stddev)}"


def gain(cell: Cell) -> str:
    """'+2.10%*' — the star marks significance after the correction (primary metrics only);
    a primary metric that could not be tested says so instead of showing a percentage."""
    if cell.note:  # only a primary metric says why; a descriptive one shows no change
        return cell.note if cell.primary else ""
    if cell.gain_pct is None:
        return ""
    return pct(cell.gain_pct) + ("*" if cell.significant else "")


def p_values(cell: Cell) -> str:
    """'p=0.04, Holm 0.36' for a tested cell, else ''."""
    if cell.p_value is None:
        return ""
    adj = "-" if cell.p_adjusted is None else f"{cell.p_adjusted:.3g}"
    return f"p={cell.p_value:.3g}, Holm {adj}"


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


GEOMEAN_TITLE = "geomean ratio (primary, not tested)"


def geomean(g: Geomean) -> str:
    """'0.8123 (9 primary)', or '- (why)' when it cannot be computed honestly."""
    if g.reason == "reference":
        return "1.0000"
    if g.value is None:
        return f"- ({g.reason})"
    return f"{g.value:.4f} ({g.metrics} primary)"
