"""Regression gate for CI: significant regressions beyond a percentage. Pure.

Only primary metrics can regress, and "significant" means after Holm's correction over the
primary metrics of that comparison (table.py), so an A/A comparison passes by construction
at the family-wise rate alpha, whichever column is the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.report.compare import fmt
from harness.report.compare.table import ComparisonTable


@dataclass(frozen=True)
class Regression:
    column: str
    reference: str
    metric: str
    gain_pct: float
    p_value: float | None       # raw Welch p
    p_adjusted: float | None = None  # Holm-adjusted: what the gate decided on
    family: int = 0              # primary metrics in the comparison's family

    def __str__(self) -> str:
        p = "" if self.p_value is None else f", p={self.p_value:.3g}"
        if self.p_adjusted is not None:
            p += f", Holm-adjusted p={self.p_adjusted:.3g} over {self.family} primary metrics"
        return (f"{self.column} vs {self.reference}: {self.metric} "
                f"{fmt.pct(self.gain_pct)} (worse{p})")


def find_regressions(table: ComparisonTable, threshold_pct: float) -> list[Regression]:
    """Primary cells significantly worse (adjusted p) than their reference by more than
    ``threshold_pct``."""
    found = []
    for row in table.rows:
        for i, cell in enumerate(row.cells):
            ref = table.references[i]
            if ref is None or not cell.primary or cell.verdict != "worse" \
                    or cell.gain_pct is None:
                continue
            if -cell.gain_pct > threshold_pct:
                family = table.families[i].size if table.families[i] else 0
                found.append(Regression(table.columns[i].key, table.columns[ref].key,
                                        row.metric.name, cell.gain_pct, cell.p_value,
                                        cell.p_adjusted, family))
    return found


@dataclass(frozen=True)
class GateFailure:
    """A problem no statistics can excuse: failed runs or corrupted pages in a compared column."""

    column: str
    reason: str

    def __str__(self) -> str:
        return f"{self.column}: {self.reason}"


def hard_failures(table: ComparisonTable) -> list[GateFailure]:
    """Failed runs and any corrupted page, for every column compared against a reference."""
    found = []
    corrupted = table.row("corrupted_pages")
    for i, col in enumerate(table.columns):
        if table.references[i] is None:
            continue
        if col.n_failed:
            found.append(GateFailure(col.key, f"{col.n_failed} of {len(col.runs)} runs failed"))
        cell = corrupted.cells[i] if corrupted else None
        if cell is not None and cell.summary is not None and cell.summary.max > 0:
            found.append(GateFailure(col.key, f"corrupted pages: {fmt.num(cell.summary.max)}"))
    return found
